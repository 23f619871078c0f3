/*
 * db.c -- opening, recovering and closing a database; keyspaces; views;
 * snapshots; the version file; errors and poisoning.
 *
 * Folder layout (docs/FORMAT.md):
 *   LOCK            advisory lock held while open
 *   FORMAT          magic + database format version (written once, atomically)
 *   VERSIONS        the version file: every keyspace and its tables (atomic rename)
 *   journals/N.jrn  journal files, N ascending
 *   tables/N.tbl    table files; N is unique in the database
 *
 * Recovery (tind_open), in order:
 *   1. take LOCK (TIND_EBUSY when held), check FORMAT (TIND_EVERSION when newer);
 *   2. read VERSIONS: keyspaces, their options, versions and flushed seqnos;
 *   3. delete orphans: tables no version names, temporary files;
 *   4. replay every journal in number order into fresh memtables, skipping
 *      entries of deleted keyspaces and entries a keyspace already flushed
 *      (seqno <= flushed_seqno); a torn tail is truncated only in the last
 *      journal (earlier journals were synced before the next one was created,
 *      so damage there is corruption);
 *   5. start a new journal; the replayed journals stay until every keyspace
 *      has flushed past them.
 */
#include "db/db.h"
#include "util/killpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/coding.h"
#include "util/hash.h"

#define FORMAT_FILE "FORMAT"
#define FORMAT_MAGIC "TINDFMT1"
#define FORMAT_FILE_SIZE 20

static _Thread_local char tls_errmsg[TIND_ERRMSG_MAX];
static _Thread_local char tls_open_error[TIND_ERRMSG_MAX];

/* ------------------------------------------------------------------ errors */

int db_fail(tind_db *db, int rc, const tind_err *err)
{
    if (rc == TIND_OK || rc == TIND_NOT_FOUND)
        return rc;
    const char *msg = err && err->msg[0] ? err->msg : tind_strerror(rc);
    if (db) {
        pthread_mutex_lock(&db->err_mu);
        snprintf(db->last_error, sizeof db->last_error, "%s", msg);
        pthread_mutex_unlock(&db->err_mu);
    } else {
        snprintf(tls_open_error, sizeof tls_open_error, "%s", msg);
    }
    return rc;
}

TIND_API const char *tind_errmsg(tind_db *db)
{
    if (!db) {
        snprintf(tls_errmsg, sizeof tls_errmsg, "%s", tls_open_error);
        return tls_errmsg;
    }
    pthread_mutex_lock(&db->err_mu);
    snprintf(tls_errmsg, sizeof tls_errmsg, "%s", db->last_error);
    pthread_mutex_unlock(&db->err_mu);
    return tls_errmsg;
}

void db_poison(tind_db *db, const tind_err *why)
{
    pthread_mutex_lock(&db->mu);
    if (!atomic_load(&db->poisoned)) {
        snprintf(db->poison_msg, sizeof db->poison_msg, "%s", why && why->msg[0] ? why->msg : "write failed");
        atomic_store(&db->poisoned, 1);
    }
    pthread_cond_broadcast(&db->stall_cv);
    pthread_cond_broadcast(&db->done_cv);
    pthread_mutex_unlock(&db->mu);
}

int db_check_writable(tind_db *db, tind_err *err)
{
    if (atomic_load(&db->poisoned)) {
        pthread_mutex_lock(&db->mu);
        err_set(err, TIND_EPOISONED, "database '%s' is poisoned (read-only until reopened) after: %s", db->path,
                db->poison_msg);
        pthread_mutex_unlock(&db->mu);
        return TIND_EPOISONED;
    }
    return TIND_OK;
}

int db_enter(tind_db *db)
{
    atomic_fetch_add(&db->active_calls, 1);
    if (!atomic_load(&db->close_begun))
        return TIND_OK;
    tind_err err;
    err_set(&err, TIND_ECLOSED, "database '%s' is closing", db->path);
    db_fail(db, TIND_ECLOSED, &err);
    atomic_fetch_sub(&db->active_calls, 1);
    return TIND_ECLOSED;
}

void db_leave(tind_db *db) { atomic_fetch_sub(&db->active_calls, 1); }

int ks_enter(tind_keyspace *ks)
{
    int rc = ks_check(ks);
    return rc ? rc : db_enter(ks->db);
}

int ks_check(tind_keyspace *ks)
{
    if (!ks)
        return TIND_EINVAL;
    if (atomic_load_explicit(&ks->dropped, memory_order_acquire))
        return TIND_ENOENT;
    return TIND_OK;
}

/* ------------------------------------------------------------------ paths */

void db_table_path(tind_db *db, uint64_t number, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%08llu.tbl", db->tables_dir, (unsigned long long)number);
}

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

uint64_t db_new_file_number(tind_db *db) { return db->next_file_number++; }

/* ------------------------------------------------------------------ views */

int ks_rebuild_view(tind_keyspace *ks)
{
    ks_view *v = calloc(1, sizeof *v);
    if (!v)
        return TIND_ENOMEM;
    v->sealed = ks->sealed_count ? malloc(ks->sealed_count * sizeof *v->sealed) : NULL;
    if (ks->sealed_count && !v->sealed) {
        free(v);
        return TIND_ENOMEM;
    }
    atomic_init(&v->refs, 1);
    v->active = ks->active;
    mt_ref(v->active);
    for (size_t i = 0; i < ks->sealed_count; i++) {
        v->sealed[i] = ks->sealed[ks->sealed_count - 1 - i];
        mt_ref(v->sealed[i]);
    }
    v->sealed_count = ks->sealed_count;
    v->v = ks->current;
    version_ref(v->v);
    pthread_mutex_lock(&ks->view_mu);
    ks_view *old = ks->view;
    ks->view = v;
    pthread_mutex_unlock(&ks->view_mu);
    atomic_store(&ks->pressure, ks_pressure(ks));
    if (old)
        ks_view_release(old);
    return TIND_OK;
}

ks_view *ks_view_acquire(tind_keyspace *ks)
{
    pthread_mutex_lock(&ks->view_mu);
    ks_view *v = ks->view;
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&ks->view_mu);
    return v;
}

void ks_view_release(ks_view *v)
{
    if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    mt_unref(v->active);
    for (size_t i = 0; i < v->sealed_count; i++)
        mt_unref(v->sealed[i]);
    free(v->sealed);
    version_unref(v->v);
    free(v);
}

/* ------------------------------------------------------------------ snapshots */

uint64_t db_read_seqno(tind_db *db, const tind_read_options *ro)
{
    if (ro && ro->snapshot)
        return ro->snapshot->seqno;
    return atomic_load_explicit(&db->visible_seqno, memory_order_acquire);
}

TIND_API int tind_snapshot_new(tind_db *db, tind_snapshot **out)
{
    if (!db || !out)
        return TIND_EINVAL;
    int rc = db_enter(db);
    if (rc)
        return rc;
    tind_snapshot *s = malloc(sizeof *s);
    if (!s) {
        db_leave(db);
        return TIND_ENOMEM;
    }
    s->db = db;
    pthread_mutex_lock(&db->snap_mu);
    /* read the seqno under snap_mu so compaction never misses a snapshot
     * that is being taken while it reads the list */
    s->seqno = atomic_load_explicit(&db->visible_seqno, memory_order_acquire);
    db_snapshot_list *l = &db->snapshots;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        uint64_t *p = realloc(l->seqnos, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&db->snap_mu);
            free(s);
            db_leave(db);
            return TIND_ENOMEM;
        }
        l->seqnos = p;
        l->cap = cap;
    }
    /* seqnos only grow, so appending keeps the list sorted */
    l->seqnos[l->count++] = s->seqno;
    pthread_mutex_unlock(&db->snap_mu);
    atomic_fetch_add(&db->live_snapshots, 1);
    db_leave(db);
    *out = s;
    return TIND_OK;
}

TIND_API void tind_snapshot_free(tind_snapshot *s)
{
    if (!s)
        return;
    tind_db *db = s->db;
    pthread_mutex_lock(&db->snap_mu);
    db_snapshot_list *l = &db->snapshots;
    for (size_t i = 0; i < l->count; i++)
        if (l->seqnos[i] == s->seqno) {
            memmove(l->seqnos + i, l->seqnos + i + 1, (l->count - i - 1) * sizeof *l->seqnos);
            l->count--;
            break;
        }
    pthread_mutex_unlock(&db->snap_mu);
    atomic_fetch_sub(&db->live_snapshots, 1);
    free(s);
}

TIND_API uint64_t tind_snapshot_seqno(const tind_snapshot *s) { return s ? s->seqno : 0; }

uint64_t db_oldest_snapshot(tind_db *db)
{
    pthread_mutex_lock(&db->snap_mu);
    uint64_t s = db->snapshots.count ? db->snapshots.seqnos[0]
                                     : atomic_load_explicit(&db->visible_seqno, memory_order_acquire);
    pthread_mutex_unlock(&db->snap_mu);
    return s;
}

int db_snapshot_seqnos(tind_db *db, uint64_t **out, size_t *count)
{
    pthread_mutex_lock(&db->snap_mu);
    size_t n = db->snapshots.count;
    uint64_t *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        pthread_mutex_unlock(&db->snap_mu);
        return TIND_ENOMEM;
    }
    if (n)
        memcpy(p, db->snapshots.seqnos, n * sizeof *p);
    pthread_mutex_unlock(&db->snap_mu);
    *out = p;
    *count = n;
    return TIND_OK;
}

TIND_API tind_read_options *tind_read_options_new(void)
{
    tind_read_options *ro = calloc(1, sizeof *ro);
    if (ro)
        ro->fill_cache = 1;
    return ro;
}
TIND_API void tind_read_options_free(tind_read_options *ro) { free(ro); }
TIND_API void tind_read_options_set_snapshot(tind_read_options *ro, const tind_snapshot *s) { ro->snapshot = s; }
TIND_API void tind_read_options_set_fill_cache(tind_read_options *ro, int on) { ro->fill_cache = on; }
TIND_API void tind_free(void *p) { free(p); }

/* ------------------------------------------------------------------ tables */

void db_table_on_free(ver_table *t, void *ctx)
{
    tind_db *db = ctx;
    if (t->reader)
        tbl_unref(t->reader);
    t->reader = NULL;
    if (t->obsolete) {
        char path[4096];
        db_table_path(db, t->number, path, sizeof path);
        fdc_evict(db->fds, t->number);
        fs_unlink(db->fs, path, NULL);
    }
}

static void table_attach(tind_db *db, ver_table *t)
{
    t->on_free = db_table_on_free;
    t->on_free_ctx = db;
}

int db_table_reader(tind_db *db, ver_table *t, int level, tbl **out, tind_err *err)
{
    tbl *r = atomic_load_explicit(&t->reader_atomic, memory_order_acquire);
    if (r) {
        *out = r;
        return TIND_OK;
    }
    pthread_mutex_lock(&t->reader_mu);
    r = atomic_load_explicit(&t->reader_atomic, memory_order_acquire);
    if (!r) {
        char path[4096];
        db_table_path(db, t->number, path, sizeof path);
        tbl_open_options o = {db->block_cache, db->fds, t->number, level <= 1};
        int rc = tbl_open(db->fs, path, &o, &r, err);
        if (rc) {
            pthread_mutex_unlock(&t->reader_mu);
            return rc;
        }
        t->reader = r;
        atomic_store_explicit(&t->reader_atomic, r, memory_order_release);
    }
    pthread_mutex_unlock(&t->reader_mu);
    *out = r;
    return TIND_OK;
}

/* ------------------------------------------------------------------ version file */

/* db_write_manifest, with `adding` (a keyspace being created, not yet in
 * db->keyspaces, or NULL) recorded after the listed ones. */
static int write_manifest_adding(tind_db *db, tind_keyspace *ks, version *v, uint64_t flushed_seqno,
                                 const memtable *leaving, tind_keyspace *adding, tind_err *err)
{
    mf_state st;
    memset(&st, 0, sizeof st);
    pthread_mutex_lock(&db->mu);
    st.format_version = DB_FORMAT_VERSION;
    st.next_file_number = db->next_file_number;
    /* a floor for the seqno after recovery: only what is surely in tables
     * (the journal gives the rest) */
    st.last_seqno = flushed_seqno;
    st.oldest_journal = db_journal_keep_number(db, leaving);
    st.next_keyspace_id = db->next_keyspace_id;
    st.keyspace_count = db->keyspace_count + (adding != NULL);
    st.keyspaces = calloc(st.keyspace_count ? st.keyspace_count : 1, sizeof *st.keyspaces);
    tbuf *opts = calloc(st.keyspace_count ? st.keyspace_count : 1, sizeof *opts);
    int rc = (st.keyspaces && opts) ? TIND_OK : TIND_ENOMEM;
    for (size_t i = 0; rc == TIND_OK && i < st.keyspace_count; i++) {
        tind_keyspace *k = i < db->keyspace_count ? db->keyspaces[i] : adding;
        mf_keyspace *m = &st.keyspaces[i];
        m->id = k->id;
        m->name = k->name;
        m->name_len = strlen(k->name);
        rc = ks_options_encode(&k->opts, &opts[i]);
        m->options = opts[i].data;
        m->options_len = opts[i].len;
        m->flushed_seqno = k == ks ? flushed_seqno : k->flushed_seqno;
        if (m->flushed_seqno > st.last_seqno)
            st.last_seqno = m->flushed_seqno;
        m->v = k == ks ? v : k->current;
    }
    pthread_mutex_unlock(&db->mu);
    if (rc == TIND_OK) {
        KILL_POINT("version.write.before");
        rc = manifest_write(db->fs, db->path, &st, err);
        KILL_POINT("version.write.after");
        if (rc == TIND_OK) {
            pthread_mutex_lock(&db->mu);
            if (st.oldest_journal > db->keep_journal)
                db->keep_journal = st.oldest_journal;
            pthread_mutex_unlock(&db->mu);
        }
    } else {
        err_set(err, rc, "version file: out of memory");
    }
    for (size_t i = 0; opts && i < st.keyspace_count; i++)
        tbuf_free(&opts[i]);
    free(opts);
    free(st.keyspaces);
    return rc;
}

int db_write_manifest(tind_db *db, tind_keyspace *ks, version *v, uint64_t flushed_seqno,
                      const memtable *leaving, tind_err *err)
{
    return write_manifest_adding(db, ks, v, flushed_seqno, leaving, NULL, err);
}

/* ------------------------------------------------------------------ keyspaces */

static int valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n)
            return 0;
        for (size_t j = 1; j < len; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

static tind_keyspace *find_keyspace(tind_db *db, const char *name)
{
    for (size_t i = 0; i < db->keyspace_count; i++)
        if (strcmp(db->keyspaces[i]->name, name) == 0)
            return db->keyspaces[i];
    return NULL;
}

tind_keyspace *db_keyspace_by_id(tind_db *db, uint32_t id)
{
    for (size_t i = 0; i < db->keyspace_count; i++)
        if (db->keyspaces[i]->id == id)
            return db->keyspaces[i];
    return NULL;
}

static void ks_free(tind_keyspace *ks)
{
    if (!ks)
        return;
    if (ks->view)
        ks_view_release(ks->view);
    if (ks->active)
        mt_unref(ks->active);
    for (size_t i = 0; i < ks->sealed_count; i++)
        mt_unref(ks->sealed[i]);
    free(ks->sealed);
    if (ks->current)
        version_unref(ks->current);
    pthread_mutex_destroy(&ks->view_mu);
    free(ks->name);
    free(ks);
}

static uint64_t memtable_ids;

/* A keyspace struct with an empty active memtable; not yet in the list. */
static int ks_alloc(tind_db *db, uint32_t id, const char *name, const struct tind_ks_options *o, version *v,
                    tind_keyspace **out)
{
    tind_keyspace *ks = calloc(1, sizeof *ks);
    if (!ks)
        return TIND_ENOMEM;
    ks->db = db;
    ks->id = id;
    ks->name = strdup(name);
    ks->opts = *o;
    pthread_mutex_init(&ks->view_mu, NULL);
    ks->active = mt_new_filtered(__atomic_add_fetch(&memtable_ids, 1, __ATOMIC_RELAXED), ks_memtable_filter_bytes(o));
    ks->current = v;
    if (!ks->name || !ks->active) {
        ks->current = NULL;
        ks_free(ks);
        return TIND_ENOMEM;
    }
    *out = ks;
    return TIND_OK;
}

/* Room for one more keyspace in the list, so that adding cannot fail. (mu) */
static int keyspace_list_reserve(tind_db *db)
{
    if (db->keyspace_count == db->keyspace_cap) {
        size_t cap = db->keyspace_cap ? db->keyspace_cap * 2 : 8;
        tind_keyspace **p = realloc(db->keyspaces, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        db->keyspaces = p;
        db->keyspace_cap = cap;
    }
    return TIND_OK;
}

static int keyspace_list_add(tind_db *db, tind_keyspace *ks)
{
    int rc = keyspace_list_reserve(db);
    if (rc == TIND_OK)
        db->keyspaces[db->keyspace_count++] = ks;
    return rc;
}

static void keyspace_list_remove(tind_db *db, tind_keyspace *ks)
{
    for (size_t i = 0; i < db->keyspace_count; i++)
        if (db->keyspaces[i] == ks) {
            memmove(db->keyspaces + i, db->keyspaces + i + 1, (db->keyspace_count - i - 1) * sizeof *db->keyspaces);
            db->keyspace_count--;
            return;
        }
}

static int check_name(const char *name, tind_err *err)
{
    if (!name)
        return err_set(err, TIND_EINVAL, "keyspace name is NULL");
    size_t n = strlen(name);
    if (n < 1 || n > TIND_MAX_KEYSPACE_NAME)
        return err_set(err, TIND_EINVAL, "keyspace name must be 1..255 bytes (got %zu)", n);
    if (!valid_utf8((const uint8_t *)name, n))
        return err_set(err, TIND_EINVAL, "keyspace name is not valid UTF-8");
    return TIND_OK;
}

static int keyspace_open(tind_db *db, const char *name, const tind_ks_options *opts, tind_keyspace **out)
{
    tind_err err;
    err_clear(&err);
    if (!db || !out)
        return TIND_EINVAL;
    int rc = check_name(name, &err);
    struct tind_ks_options o;
    if (opts)
        o = *opts;
    else
        ks_options_default(&o);
    if (rc == TIND_OK)
        rc = ks_options_validate(&o, &err);
    if (rc)
        return db_fail(db, rc, &err);

    pthread_mutex_lock(&db->mu);
    tind_keyspace *ks = find_keyspace(db, name);
    pthread_mutex_unlock(&db->mu);
    if (ks) {
        *out = ks;
        return TIND_OK;
    }
    pthread_mutex_lock(&db->write_mu);
    pthread_mutex_lock(&db->install_mu);
    rc = db_check_writable(db, &err);
    /* the new keyspace starts at the current seqno, which the version file
     * records: the journal must hold everything up to it durably first */
    if (rc == TIND_OK && db->journal && db->synced_seqno < atomic_load(&db->last_seqno))
        rc = db_sync_journal_locked(db, FS_SYNC_DATA, &err);
    pthread_mutex_lock(&db->mu);
    ks = find_keyspace(db, name);
    if (ks || rc) {
        pthread_mutex_unlock(&db->mu);
        goto done;
    }
    /* A keyspace joins db->keyspaces only complete (view built) and durable
     * (in the version file): other openers, lookups and the workers find it
     * there without write_mu, and must never see it half built or see it go
     * again. install_mu keeps other version file writes out meanwhile. */
    uint32_t id = db->next_keyspace_id++;
    version *v = version_new_empty(id, o.levels);
    rc = v ? ks_alloc(db, id, name, &o, v, &ks) : TIND_ENOMEM;
    if (rc == TIND_OK) {
        ks->flushed_seqno = atomic_load(&db->last_seqno);
        rc = keyspace_list_reserve(db);
        if (rc == TIND_OK)
            rc = ks_rebuild_view(ks);
        if (rc) {
            ks_free(ks);
            ks = NULL;
        }
    } else if (v) {
        version_unref(v);
    }
    pthread_mutex_unlock(&db->mu);
    if (rc == TIND_OK) {
        rc = write_manifest_adding(db, NULL, NULL, 0, NULL, ks, &err);
        pthread_mutex_lock(&db->mu);
        if (rc) {
            ks_free(ks);
            ks = NULL;
        } else {
            keyspace_list_add(db, ks); /* reserved above: cannot fail */
        }
        pthread_mutex_unlock(&db->mu);
        if (rc && rc != TIND_ENOMEM)
            db_poison(db, &err);
    }
done:
    pthread_mutex_unlock(&db->install_mu);
    pthread_mutex_unlock(&db->write_mu);
    if (rc)
        return db_fail(db, rc, &err);
    *out = ks;
    return TIND_OK;
}

TIND_API int tind_keyspace_open(tind_db *db, const char *name, const tind_ks_options *opts, tind_keyspace **out)
{
    int rc = db ? db_enter(db) : TIND_OK;
    if (rc)
        return rc;
    rc = keyspace_open(db, name, opts, out);
    if (db)
        db_leave(db);
    return rc;
}

TIND_API int tind_keyspace_exists(tind_db *db, const char *name)
{
    if (!db || !name)
        return TIND_EINVAL;
    int rc = db_enter(db);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->mu);
    tind_keyspace *ks = find_keyspace(db, name);
    pthread_mutex_unlock(&db->mu);
    db_leave(db);
    return ks ? TIND_OK : TIND_NOT_FOUND;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

TIND_API int tind_keyspace_list(tind_db *db, char ***names, size_t *count)
{
    if (!db || !names || !count)
        return TIND_EINVAL;
    int rc = db_enter(db);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->mu);
    size_t n = db->keyspace_count, bytes = (n + 1) * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(db->keyspaces[i]->name) + 1;
    char **arr = malloc(bytes);
    if (!arr) {
        pthread_mutex_unlock(&db->mu);
        db_leave(db);
        return TIND_ENOMEM;
    }
    char *p = (char *)(arr + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(db->keyspaces[i]->name) + 1;
        memcpy(p, db->keyspaces[i]->name, len);
        arr[i] = p;
        p += len;
    }
    arr[n] = NULL;
    pthread_mutex_unlock(&db->mu);
    db_leave(db);
    qsort(arr, n, sizeof *arr, cmp_str);
    *names = arr;
    *count = n;
    return TIND_OK;
}

TIND_API const char *tind_keyspace_name(const tind_keyspace *ks) { return ks ? ks->name : NULL; }

/* Marks every table of v obsolete: its file goes when the last view lets go. */
static void version_mark_all_obsolete(version *v)
{
    for (int l = 0; l < v->level_count; l++)
        for (size_t i = 0; i < v->levels[l].count; i++)
            v->levels[l].tables[i]->obsolete = 1;
}

static int keyspace_delete(tind_db *db, const char *name)
{
    tind_err err;
    err_clear(&err);
    if (!db)
        return TIND_EINVAL;
    int rc = check_name(name, &err);
    if (rc)
        return db_fail(db, rc, &err);
    /* stop new background jobs on it and wait for the running ones (they
     * may need write_mu to sync the journal, so wait before taking it) */
    pthread_mutex_lock(&db->mu);
    tind_keyspace *ks = find_keyspace(db, name);
    if (!ks) {
        pthread_mutex_unlock(&db->mu);
        err_set(&err, TIND_NOT_FOUND, "keyspace '%s' does not exist", name);
        return db_fail(db, TIND_NOT_FOUND, &err);
    }
    ks->dropping = 1;
    while (ks->flush_running || ks->compaction_running)
        pthread_cond_wait(&db->done_cv, &db->mu);
    pthread_mutex_unlock(&db->mu);

    pthread_mutex_lock(&db->write_mu);
    pthread_mutex_lock(&db->install_mu);
    rc = db_check_writable(db, &err);
    /* the delete is durable once it returns: so is everything written
     * before it (a power loss never keeps the delete and loses them) */
    if (rc == TIND_OK && db->journal && db->synced_seqno < atomic_load(&db->last_seqno))
        rc = db_sync_journal_locked(db, FS_SYNC_DATA, &err);
    pthread_mutex_lock(&db->mu);
    if (rc) {
        ks->dropping = 0;
        ks = NULL;
    } else if (find_keyspace(db, name) != ks) {
        rc = err_set(&err, TIND_NOT_FOUND, "keyspace '%s' does not exist", name);
        ks = NULL;
    }
    if (ks)
        keyspace_list_remove(db, ks);
    pthread_mutex_unlock(&db->mu);
    if (ks) {
        rc = db_write_manifest(db, NULL, NULL, 0, NULL, &err);
        pthread_mutex_lock(&db->mu);
        if (rc) {
            keyspace_list_add(db, ks);
            ks->dropping = 0;
            pthread_mutex_unlock(&db->mu);
            db_poison(db, &err);
        } else {
            atomic_store_explicit(&ks->dropped, 1, memory_order_release);
            version_mark_all_obsolete(ks->current);
            /* the struct stays until close: handles may still be used (TIND_ENOENT) */
            if (db->dropped_count == db->dropped_cap) {
                size_t cap = db->dropped_cap ? db->dropped_cap * 2 : 4;
                tind_keyspace **p = realloc(db->dropped, cap * sizeof *p);
                if (p) {
                    db->dropped = p;
                    db->dropped_cap = cap;
                }
            }
            if (db->dropped_count < db->dropped_cap)
                db->dropped[db->dropped_count++] = ks;
            db_delete_obsolete_journals(db);
            pthread_mutex_unlock(&db->mu);
        }
    }
    pthread_mutex_unlock(&db->install_mu);
    pthread_mutex_unlock(&db->write_mu);
    return db_fail(db, rc, &err);
}

TIND_API int tind_keyspace_delete(tind_db *db, const char *name)
{
    int rc = db ? db_enter(db) : TIND_OK;
    if (rc)
        return rc;
    rc = keyspace_delete(db, name);
    if (db)
        db_leave(db);
    return rc;
}

/* ------------------------------------------------------------------ open */

static int write_format_file(tind_db *db, tind_err *err)
{
    uint8_t b[FORMAT_FILE_SIZE];
    memcpy(b, FORMAT_MAGIC, 8);
    enc_u32(b + 8, DB_FORMAT_VERSION);
    enc_u64(b + 12, hash64(b, 12));
    return fs_write_atomic(db->fs, db->path, FORMAT_FILE, b, sizeof b, err);
}

static int check_format_file(tind_db *db, tind_err *err)
{
    char *path = path_join(db->path, FORMAT_FILE);
    if (!path)
        return TIND_ENOMEM;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = fs_read_all(db->fs, path, &data, &len, err);
    if (rc == TIND_OK) {
        if (len != FORMAT_FILE_SIZE || memcmp(data, FORMAT_MAGIC, 8) != 0 || dec_u64(data + 12) != hash64(data, 12))
            rc = err_set(err, TIND_ECORRUPT, "'%s': not a tind format file (or damaged)", path);
        else if (dec_u32(data + 8) > DB_FORMAT_VERSION)
            rc = err_set(err, TIND_EVERSION, "'%s': database format %u is newer than this library supports (%u)",
                         path, dec_u32(data + 8), DB_FORMAT_VERSION);
    }
    free(data);
    free(path);
    return rc;
}

static int ensure_dir(tind_db *db, const char *path, tind_err *err)
{
    int rc = fs_mkdir(db->fs, path, err);
    if (rc == TIND_EEXIST) {
        err_clear(err);
        return TIND_OK;
    }
    return rc;
}

static int parse_number(const char *name, const char *suffix, uint64_t *n)
{
    size_t len = strlen(name), sl = strlen(suffix);
    if (len <= sl || strcmp(name + len - sl, suffix) != 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len - sl; i++) {
        if (name[i] < '0' || name[i] > '9' || v > UINT64_MAX / 10)
            return 0;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *n = v;
    return 1;
}

/* Deletes table files no version names (a crash mid-flush or mid-compaction)
 * and leftover temporary files. */
static int remove_orphans(tind_db *db, tind_err *err)
{
    char **names = NULL;
    size_t count = 0;
    int rc = fs_list(db->fs, db->tables_dir, &names, &count, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < count; i++) {
        uint64_t n;
        int referenced = 0;
        if (parse_number(names[i], ".tbl", &n)) {
            if (n >= db->next_file_number)
                db->next_file_number = n + 1;
            for (size_t k = 0; k < db->keyspace_count && !referenced; k++) {
                version *v = db->keyspaces[k]->current;
                for (int l = 0; l < v->level_count && !referenced; l++)
                    for (size_t t = 0; t < v->levels[l].count; t++)
                        if (v->levels[l].tables[t]->number == n) {
                            referenced = 1;
                            break;
                        }
            }
        }
        if (!referenced) {
            char *p = path_join(db->tables_dir, names[i]);
            if (p)
                fs_unlink(db->fs, p, NULL);
            free(p);
        }
    }
    fs_list_free(names, count);
    return TIND_OK;
}

static int journal_list_add(tind_db *db, uint64_t number)
{
    if (db->journal_count == db->journal_cap) {
        size_t cap = db->journal_cap ? db->journal_cap * 2 : 8;
        db_journal *p = realloc(db->journals, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        db->journals = p;
        db->journal_cap = cap;
    }
    db_journal *j = &db->journals[db->journal_count++];
    j->number = number;
    j->max_seqno = 0;
    j->size = 0;
    return TIND_OK;
}

typedef struct replay_ctx {
    tind_db *db;
    db_journal *journal;
    uint64_t max_seqno;
} replay_ctx;

static int replay_record(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload, size_t len)
{
    replay_ctx *r = ctx;
    tind_db *db = r->db;
    const uint8_t *p = payload, *end = payload + len;
    KILL_POINT("recovery.replay");
    for (uint32_t i = 0; i < count; i++) {
        batch_entry e;
        p = batch_entry_decode(p, end, &e);
        if (!p)
            return TIND_ECORRUPT;
        uint64_t seqno = first_seqno + i;
        tind_keyspace *ks = db_keyspace_by_id(db, e.ks_id);
        if (!ks || seqno <= ks->flushed_seqno)
            continue;
        int rc = mt_add(ks->active, seqno, e.type, e.key, e.klen, e.val, e.vlen);
        if (rc)
            return rc;
    }
    if (p != end)
        return TIND_ECORRUPT;
    if (count) {
        uint64_t last = first_seqno + count - 1;
        if (last > r->max_seqno)
            r->max_seqno = last;
        if (last > r->journal->max_seqno)
            r->journal->max_seqno = last;
    }
    return TIND_OK;
}

static int replay_journals(tind_db *db, tind_err *err)
{
    char *dir = path_join(db->path, "journals");
    if (!dir)
        return TIND_ENOMEM;
    uint64_t *numbers = NULL;
    size_t count = 0;
    int rc = jrn_list(db->fs, dir, &numbers, &count, err);
    replay_ctx ctx = {db, NULL, 0};
    jrn_chain chain = {0, 0};
    char prev_path[4096] = "";
    for (size_t i = 0; rc == TIND_OK && i < count; i++) {
        if (numbers[i] >= db->next_file_number)
            db->next_file_number = numbers[i] + 1;
        if (numbers[i] < db->keep_journal) {
            /* flushed and released by the version file; its deletion was
             * interrupted or undone by a crash */
            char old[4096];
            jrn_path(dir, numbers[i], old, sizeof old);
            fs_unlink(db->fs, old, NULL);
            continue;
        }
        rc = journal_list_add(db, numbers[i]);
        if (rc)
            break;
        ctx.journal = &db->journals[db->journal_count - 1];
        char path[4096];
        jrn_path(dir, numbers[i], path, sizeof path);
        jrn_replay_result res;
        int last = i + 1 == count;
        rc = jrn_replay(db->fs, path, replay_record, &ctx, last, &res, err);
        if (rc == TIND_OK && !last && res.truncated)
            rc = err_set(err, TIND_ECORRUPT,
                         "journal '%s' ends in a damaged record but later journals exist (it was synced "
                         "before they were created)",
                         path);
        /* No intact header: a creation cut short, which only the newest
         * journal can be (its header is synced before a record or a later
         * journal can exist). It holds nothing: it goes now, and the folder
         * sync after replay makes that durable before a new journal exists,
         * so a journal without a header before others is always damage. */
        if (rc == TIND_OK && !res.has_header) {
            if (!last)
                rc = err_set(err, TIND_ECORRUPT,
                             "journal '%s' has no intact header but later journals exist (it was synced before "
                             "they were created): its records are lost",
                             path);
            else if ((rc = fs_unlink(db->fs, path, err)) == TIND_OK) {
                pthread_mutex_lock(&db->mu);
                db->journal_count--;
                pthread_mutex_unlock(&db->mu);
                continue;
            }
        }
        /* Journals the version file keeps continue each other: each header
         * names the seqno its first record carries, and the journal before
         * it ends right below that. Anything else means whole records are
         * missing from the end of the earlier one (a synced file cut at a
         * record boundary or to its header), which replay alone cannot see. */
        if (rc == TIND_OK && res.has_header) {
            rc = jrn_chain_add(&chain, &res, path, prev_path, err);
            snprintf(prev_path, sizeof prev_path, "%s", path);
            /* every seqno below a journal's start was given out before it
             * was made (and is durable, or flushed, or belonged to a deleted
             * keyspace): seqnos never go back, and the next journal must
             * start after this one ends */
            if (rc == TIND_OK && chain.end > ctx.max_seqno)
                ctx.max_seqno = chain.end;
        }
        if (rc == TIND_OK)
            ctx.journal->size = res.valid_bytes;
        if (rc == TIND_OK && last) {
            /* what was replayed may sit only in the page cache (a process
             * crash): make it durable before newer journals exist */
            fs_file *f = NULL;
            rc = fs_open(db->fs, path, FS_O_WRITE, &f, err);
            if (rc == TIND_OK) {
                rc = fs_sync(f, FS_SYNC_DATA, err);
                int rc2 = fs_close(f, rc ? NULL : err);
                if (!rc)
                    rc = rc2;
            }
        }
    }
    free(numbers);
    free(dir);
    if (rc == TIND_OK && ctx.max_seqno > atomic_load(&db->last_seqno))
        atomic_store(&db->last_seqno, ctx.max_seqno);
    return rc;
}

/* Starts journal number N (write_mu held or single-threaded). */
int db_new_journal(tind_db *db, tind_err *err)
{
    char *dir = path_join(db->path, "journals");
    if (!dir)
        return TIND_ENOMEM;
    pthread_mutex_lock(&db->mu);
    uint64_t number = db_new_file_number(db);
    int rc = journal_list_add(db, number);
    pthread_mutex_unlock(&db->mu);
    jrn_writer *w = NULL;
    jrn_options jo = {db->opts.journal_compression_threshold, atomic_load(&db->last_seqno) + 1};
    if (rc == TIND_OK)
        rc = jrn_writer_open(db->fs, dir, number, &jo, &w, err);
    db->cur_journal_max_seqno = 0;
    db->cur_journal_size = w ? jrn_size(w) : 0;
    free(dir);
    if (rc) {
        pthread_mutex_lock(&db->mu);
        db->journal_count--;
        pthread_mutex_unlock(&db->mu);
        return rc;
    }
    db->journal = w;
    return TIND_OK;
}

static int load_state(tind_db *db, mf_state *st, tind_err *err)
{
    db->next_file_number = st->next_file_number;
    db->next_keyspace_id = st->next_keyspace_id;
    db->keep_journal = st->oldest_journal;
    atomic_store(&db->last_seqno, st->last_seqno);
    for (size_t i = 0; i < st->keyspace_count; i++) {
        mf_keyspace *m = &st->keyspaces[i];
        struct tind_ks_options o;
        int rc = ks_options_decode(m->options, m->options_len, &o, err);
        if (rc)
            return err_wrap(err, rc, "version file: keyspace '%s'", m->name);
        tind_keyspace *ks;
        rc = ks_alloc(db, m->id, m->name, &o, m->v, &ks);
        if (rc)
            return rc;
        m->v = NULL; /* the keyspace owns it now */
        ks->flushed_seqno = m->flushed_seqno;
        for (int l = 0; l < ks->current->level_count; l++)
            for (size_t t = 0; t < ks->current->levels[l].count; t++) {
                ver_table *vt = ks->current->levels[l].tables[t];
                table_attach(db, vt);
                if (vt->max_seqno > atomic_load(&db->last_seqno))
                    atomic_store(&db->last_seqno, vt->max_seqno);
            }
        rc = keyspace_list_add(db, ks);
        if (rc) {
            ks_free(ks);
            return rc;
        }
    }
    return TIND_OK;
}

static void db_free(tind_db *db)
{
    for (size_t i = 0; i < db->keyspace_count; i++)
        ks_free(db->keyspaces[i]);
    for (size_t i = 0; i < db->dropped_count; i++)
        ks_free(db->dropped[i]);
    free(db->keyspaces);
    free(db->dropped);
    free(db->journals);
    free(db->snapshots.seqnos);
    tbuf_free(&db->write_scratch);
    if (db->fds)
        fdc_free(db->fds);
    if (db->block_cache)
        cache_free(db->block_cache);
    if (db->lock)
        fs_unlock(db->lock, NULL);
    if (db->own_fs)
        fs_destroy(db->fs);
    pthread_mutex_destroy(&db->write_mu);
    pthread_mutex_destroy(&db->install_mu);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->snap_mu);
    pthread_mutex_destroy(&db->err_mu);
    pthread_cond_destroy(&db->bg_cv);
    pthread_cond_destroy(&db->stall_cv);
    pthread_cond_destroy(&db->done_cv);
    free(db->path);
    free(db->tables_dir);
    free(db);
}

/* Whether the journals or tables folder holds a journal or a table file
 * (when in doubt, yes). */
static int has_data_files(tind_db *db)
{
    static const char *const dirs[] = {"journals", "tables"};
    for (size_t d = 0; d < 2; d++) {
        char *dir = path_join(db->path, dirs[d]);
        if (!dir)
            return 1;
        char **names = NULL;
        size_t count = 0;
        int rc = fs_list(db->fs, dir, &names, &count, NULL);
        free(dir);
        if (rc == TIND_ENOENT)
            continue;
        if (rc)
            return 1;
        int found = 0;
        for (size_t i = 0; i < count && !found; i++) {
            size_t n = strlen(names[i]);
            found = n > 4 && (strcmp(names[i] + n - 4, ".jrn") == 0 || strcmp(names[i] + n - 4, ".tbl") == 0);
        }
        fs_list_free(names, count);
        if (found)
            return 1;
    }
    return 0;
}

/* Makes the database folder's own entry durable. */
static int sync_parent_dir(tind_db *db, tind_err *err)
{
    char *parent = strdup(db->path);
    if (!parent)
        return TIND_ENOMEM;
    char *slash = strrchr(parent, '/');
    if (slash == parent)
        parent[1] = 0;
    else if (slash)
        *slash = 0;
    else
        strcpy(parent, ".");
    int rc = fs_sync_dir(db->fs, parent, err);
    free(parent);
    return rc;
}

/* What recovery read must survive the next power loss: a process that
 * failed a folder sync (and poisoned) may have left the version file's
 * rename, a journal's or a table's entry only in the page cache, and the
 * state this open serves would come undone with it. */
static int sync_recovered_dirs(tind_db *db, tind_err *err)
{
    char *jdir = path_join(db->path, "journals");
    if (!jdir)
        return TIND_ENOMEM;
    int rc = fs_sync_dir(db->fs, jdir, err);
    if (rc == TIND_OK)
        rc = fs_sync_dir(db->fs, db->tables_dir, err);
    if (rc == TIND_OK)
        rc = fs_sync_dir(db->fs, db->path, err);
    free(jdir);
    return rc;
}

static int open_db(tind_db *db, tind_err *err)
{
    int is_dir = 0;
    int rc = fs_exists(db->fs, db->path, &is_dir);
    if (rc == TIND_ENOENT) {
        if (!db->opts.create_if_missing)
            return err_set(err, TIND_ENOENT, "database folder '%s' does not exist", db->path);
        rc = fs_mkdir(db->fs, db->path, err);
        if (rc && rc != TIND_EEXIST)
            return rc;
        /* its entry in the parent folder is synced with the creation below */
    } else if (rc == TIND_OK && !is_dir) {
        return err_set(err, TIND_EINVAL, "'%s' is not a folder", db->path);
    }
    char *lock_path = path_join(db->path, "LOCK");
    if (!lock_path)
        return TIND_ENOMEM;
    rc = fs_lock_file(db->fs, lock_path, &db->lock, err);
    free(lock_path);
    if (rc) {
        if (rc == TIND_EBUSY)
            err_set(err, TIND_EBUSY, "database '%s' is already open (locked by this or another process)", db->path);
        return rc;
    }

    char *fmt_path = path_join(db->path, FORMAT_FILE);
    char *ver_path = path_join(db->path, "VERSIONS");
    if (!fmt_path || !ver_path) {
        free(fmt_path);
        free(ver_path);
        return TIND_ENOMEM;
    }
    int fmt_exists = fs_exists(db->fs, fmt_path, NULL) == TIND_OK;
    int ver_exists = fs_exists(db->fs, ver_path, NULL) == TIND_OK;
    free(fmt_path);
    free(ver_path);
    char *jdir = path_join(db->path, "journals");
    if (!jdir)
        return TIND_ENOMEM;
    /* FORMAT without VERSIONS and without any journal or table is a creation
     * that failed (or lost power) between the two: the first VERSIONS is
     * written before any journal or table exists and is only ever replaced
     * atomically, so nothing can be lost by finishing the creation. */
    int creating = !fmt_exists || (!ver_exists && !has_data_files(db));
    if (creating) {
        if (ver_exists) {
            free(jdir);
            return err_set(err, TIND_ECORRUPT, "database '%s': FORMAT file is missing but VERSIONS exists", db->path);
        }
        /* a new database: the folder's entry in its parent (on every attempt:
         * an earlier one may have made the folder and failed before this
         * sync), folders, FORMAT, then an empty version file */
        rc = sync_parent_dir(db, err);
        if (!rc)
            rc = ensure_dir(db, jdir, err);
        if (!rc)
            rc = ensure_dir(db, db->tables_dir, err);
        if (!rc)
            rc = fs_sync_dir(db->fs, db->path, err);
        if (!rc)
            rc = write_format_file(db, err);
        if (!rc) {
            db->next_file_number = 1;
            db->next_keyspace_id = 1;
            rc = db_write_manifest(db, NULL, NULL, 0, NULL, err);
        }
        free(jdir);
        if (rc)
            return rc;
    } else {
        free(jdir);
        rc = check_format_file(db, err);
        if (rc)
            return rc;
        mf_state st;
        memset(&st, 0, sizeof st);
        rc = manifest_read(db->fs, db->path, &st, err);
        if (rc == TIND_ENOENT)
            rc = err_set(err, TIND_ECORRUPT, "database '%s': the VERSIONS file is missing", db->path);
        if (rc == TIND_OK)
            rc = load_state(db, &st, err);
        mf_state_free(&st);
        if (rc)
            return rc;
        rc = remove_orphans(db, err);
        if (rc)
            return rc;
        rc = replay_journals(db, err);
        if (rc == TIND_OK)
            rc = sync_recovered_dirs(db, err);
        if (rc)
            return rc;
    }
    atomic_store(&db->visible_seqno, atomic_load(&db->last_seqno));
    rc = db_new_journal(db, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; i < db->keyspace_count && !rc; i++)
        rc = ks_rebuild_view(db->keyspaces[i]);
    pthread_mutex_unlock(&db->mu);
    /* replayed data goes to tables soon, so the old journals can go */
    for (size_t i = 0; i < db->keyspace_count && !rc; i++)
        rc = ks_seal_memtable(db->keyspaces[i], err);
    return rc;
}

TIND_API int tind_open(const char *path, const tind_options *opts, tind_db **out)
{
    tind_err err;
    err_clear(&err);
    if (!path || !*path || !out)
        return db_fail(NULL, TIND_EINVAL, NULL);
    *out = NULL;
    tind_db *db = calloc(1, sizeof *db);
    if (!db)
        return db_fail(NULL, TIND_ENOMEM, NULL);
    if (opts)
        db->opts = *opts;
    else
        options_default(&db->opts);
    pthread_mutex_init(&db->write_mu, NULL);
    pthread_mutex_init(&db->install_mu, NULL);
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->snap_mu, NULL);
    pthread_mutex_init(&db->err_mu, NULL);
    pthread_cond_init(&db->bg_cv, NULL);
    pthread_cond_init(&db->stall_cv, NULL);
    pthread_cond_init(&db->done_cv, NULL);
    int rc = TIND_OK;
    if (db->opts.background_threads < 0 || db->opts.background_threads > 64)
        rc = err_set(&err, TIND_EINVAL, "background_threads %d not in 0..64", db->opts.background_threads);
    else if (db->opts.default_durability < TIND_PERSIST_NONE || db->opts.default_durability > TIND_PERSIST_SYNC_ALL)
        rc = err_set(&err, TIND_EINVAL, "default durability %d is unknown", db->opts.default_durability);
    else if (db->opts.write_buffer_size < 4096 || db->opts.journal_file_size < 4096)
        rc = err_set(&err, TIND_EINVAL, "write_buffer_size and journal_file_size must be at least 4096");
    db->path = strdup(path);
    db->tables_dir = db->path ? path_join(path, "tables") : NULL;
    if (!rc && (!db->path || !db->tables_dir))
        rc = TIND_ENOMEM;
    if (!rc) {
        db->fs = db->opts.fs;
        if (!db->fs) {
            db->fs = fs_posix_new();
            db->own_fs = 1;
        }
        db->block_cache = cache_new(db->opts.cache_size, -1);
        db->fds = db->fs ? fdc_new(db->fs, options_max_open_files(&db->opts)) : NULL;
        if (!db->fs || !db->block_cache || !db->fds)
            rc = TIND_ENOMEM;
    }
    if (!rc)
        rc = open_db(db, &err);
    if (!rc)
        rc = db_start_workers(db);
    if (rc) {
        if (!err.msg[0])
            err_set(&err, rc, "open '%s': %s", path, tind_strerror(rc));
        if (db->journal)
            jrn_close(db->journal, NULL);
        db_free(db);
        return db_fail(NULL, rc, &err);
    }
    /* recovered memtables may already be over their limits */
    pthread_mutex_lock(&db->mu);
    db_schedule(db);
    pthread_mutex_unlock(&db->mu);
    *out = db;
    return TIND_OK;
}

/* TIND_EBUSY naming what is still live ("tind_close: 2 iterators, 1 snapshot
 * still open") while handles made from db exist, else TIND_OK. */
static int close_check_handles(tind_db *db, tind_err *err)
{
    static const char *const one[3] = {"iterator", "snapshot", "batch"};
    static const char *const many[3] = {"iterators", "snapshots", "batches"};
    long live[3] = {atomic_load(&db->live_iterators), atomic_load(&db->live_snapshots),
                    atomic_load(&db->live_batches)};
    char list[160] = "";
    size_t len = 0;
    for (int i = 0; i < 3; i++)
        if (live[i] && len < sizeof list) {
            int n = snprintf(list + len, sizeof list - len, "%s%ld %s", len ? ", " : "", live[i],
                             live[i] == 1 ? one[i] : many[i]);
            len += n > 0 ? (size_t)n : 0;
        }
    if (!len)
        return TIND_OK;
    return err_set(err, TIND_EBUSY, "tind_close: %s still open", list);
}

/* Waits until no public call is inside the engine (see db_enter). */
static void close_drain(tind_db *db)
{
    while (atomic_load(&db->active_calls) > 0) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

TIND_API int tind_close(tind_db *db)
{
    if (!db)
        return TIND_EINVAL;
    tind_err err;
    err_clear(&err);
    /* the usual mistake (a handle not freed) is refused before anyone is disturbed */
    int rc = close_check_handles(db, &err);
    if (rc)
        return db_fail(db, rc, &err);
    if (atomic_exchange(&db->close_begun, 1))
        return TIND_ECLOSED; /* another thread is closing db */
    /* new calls now fail with TIND_ECLOSED; waiters (flush, compact, stalled
     * writers) wake, see close_begun and leave; then no call is inside */
    pthread_mutex_lock(&db->mu);
    pthread_cond_broadcast(&db->stall_cv);
    pthread_cond_broadcast(&db->done_cv);
    pthread_mutex_unlock(&db->mu);
    close_drain(db);
    /* a call that entered before close began may have made a handle */
    rc = close_check_handles(db, &err);
    if (rc) {
        atomic_store(&db->close_begun, 0);
        return db_fail(db, rc, &err);
    }
    db_stop_workers(db);
    pthread_mutex_lock(&db->write_mu);
    /* a poisoned database cannot make the promised sync: say so */
    rc = db_check_writable(db, &err);
    if (db->journal) {
        if (!rc)
            rc = jrn_sync(db->journal, FS_SYNC_ALL, &err);
        int rc2 = jrn_close(db->journal, rc ? NULL : &err);
        if (!rc)
            rc = rc2;
        db->journal = NULL;
    }
    pthread_mutex_unlock(&db->write_mu);
    /* calls begun since the first drain saw close_begun and are leaving:
     * let them out before the memory goes */
    close_drain(db);
    db_free(db);
    /* the handle is gone: the message goes where tind_errmsg(NULL) finds it */
    if (rc)
        db_fail(NULL, rc, &err);
    return rc;
}
