/*
 * db.c -- the top of the db/ line (db/state.h): opening, recovering and
 * closing a database; creating, listing and deleting keyspaces. Everything
 * below is reached through db/db.h: views, snapshots and errors (state.c),
 * the journals (journals.c over journal/journal_set.c), the version file and
 * table readers (install.c), background work (jobs.c).
 *
 * Folder layout (docs/FORMAT.md; the names are format/filename.h's):
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
 *   4. replay every journal in number order (jset_replay) into fresh
 *      memtables, skipping entries of deleted keyspaces and entries a keyspace already flushed
 *      (seqno <= flushed_seqno); a torn tail is truncated only in the last
 *      journal (earlier journals were synced before the next one was created,
 *      so damage there is corruption);
 *   5. start a new journal; the replayed journals stay until every keyspace
 *      has flushed past them.
 *
 * A read-only open (opts.read_only) writes nothing at all: LOCK is taken
 * shared (and skipped when a writer holds it: the open then sees the files
 * as they are at open), no folder or file is created, step 3 is skipped,
 * step 4 replays into memtables only (a torn tail is ignored, not cut, and
 * nothing is synced or deleted), step 5 is skipped (no journal: every write
 * call meets db_check_writable's TIND_ENOTSUP), and no worker starts.
 */
#include "db/db.h"
#include "util/killpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "format/filename.h"
#include "io/fs_crypt.h"
#include "util/coding.h"
#include "util/hash.h"
#include "util/hugemem.h"

#define FORMAT_MAGIC "TINDFMT1"
#define FORMAT_FILE_SIZE 20

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

static void ks_free(tind_keyspace *ks)
{
    if (!ks)
        return;
    if (ks->view)
        ks_view_release(ks->view);
    if (ks->active)
        mt_retire(ks->active, &ks->db->memtables_held);
    for (size_t i = 0; i < ks->sealed_count; i++)
        mt_retire(ks->sealed[i], &ks->db->memtables_held);
    free(ks->sealed);
    if (ks->current)
        version_unref(ks->current);
    mu_destroy(&ks->view_mu);
    ks_ops_free(ks);
    free(ks->name);
    free(ks);
}

static _Atomic uint64_t memtable_ids;

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
    ks_options_to_compaction(o, &ks->cmp_opts);
    /* a compaction's cut output tables are synced behind it on a thread of
     * their own (compact.c), unless the database keeps to its callers' threads */
    ks->cmp_opts.sync_behind = !db->opts.no_background && db->opts.background_threads > 0;
    ks_prefix_init(ks);
    ks_ops_init(ks);
    mu_init(&ks->view_mu);
    ks->active = mt_new_filtered(atomic_fetch_add_explicit(&memtable_ids, 1, memory_order_relaxed) + 1, ks_memtable_filter_bytes(o),
                                  db->mt_pool);
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

    mu_lock(&db->mu);
    tind_keyspace *ks = find_keyspace(db, name);
    mu_unlock(&db->mu);
    if (ks) {
        if (opts && ((rc = ks_prefix_reopen(ks, &o, &err)) != TIND_OK || (rc = ks_ops_attach(ks, &o, &err)) != TIND_OK))
            return db_fail(db, rc, &err);
        *out = ks;
        return TIND_OK;
    }
    if (db->opts.read_only) {
        err_set(&err, TIND_ENOENT, "keyspace '%s' does not exist (database '%s' is opened read-only)", name, db->path);
        return db_fail(db, TIND_ENOENT, &err);
    }
    mu_lock(&db->write_mu);
    mu_lock(&db->install_mu);
    rc = db_check_writable(db, &err);
    /* the new keyspace starts at the current seqno, which the version file
     * records: the journal must hold everything up to it durably first */
    if (rc == TIND_OK && jset_writing(&db->journals) &&
        db->journals.synced_seqno < atomic_load(&db->last_seqno))
        rc = db_sync_journal_locked(db, FS_SYNC_DATA, &err);
    mu_lock(&db->mu);
    ks = find_keyspace(db, name);
    if (ks || rc) {
        mu_unlock(&db->mu);
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
    mu_unlock(&db->mu);
    if (rc == TIND_OK) {
        rc = db_write_manifest_adding(db, NULL, NULL, 0, NULL, ks, &err);
        mu_lock(&db->mu);
        if (rc) {
            ks_free(ks);
            ks = NULL;
        } else {
            keyspace_list_add(db, ks); /* reserved above: cannot fail */
        }
        mu_unlock(&db->mu);
        if (rc && rc != TIND_ENOMEM)
            db_poison(db, &err);
    }
done:
    mu_unlock(&db->install_mu);
    mu_unlock(&db->write_mu);
    if (rc == TIND_OK && opts)
        rc = ks_ops_attach(ks, &o, &err); /* made meanwhile by another opener */
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
    mu_lock(&db->mu);
    tind_keyspace *ks = find_keyspace(db, name);
    mu_unlock(&db->mu);
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
    mu_lock(&db->mu);
    size_t n = db->keyspace_count, bytes = (n + 1) * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(db->keyspaces[i]->name) + 1;
    char **arr = malloc(bytes);
    if (!arr) {
        mu_unlock(&db->mu);
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
    mu_unlock(&db->mu);
    db_leave(db);
    qsort(arr, n, sizeof *arr, cmp_str);
    *names = arr;
    *count = n;
    return TIND_OK;
}

TIND_API const char *tind_keyspace_name(const tind_keyspace *ks) { return ks ? ks->name : NULL; }

TIND_API int tind_keyspace_options(tind_keyspace *ks, tind_ks_options **out)
{
    int rc = ks_enter_out(ks, out);
    if (rc)
        return rc;
    /* ks->opts is fixed once the keyspace is open (no heap parts: a copy);
     * the callbacks in force live in the run-time slots a later open fills */
    struct tind_ks_options o = ks->opts;
    const merge_op *m = ks_merge_op(ks);
    if (m)
        o.merge = *m;
    const cmp_filter *f = ks_filter(ks);
    if (f) {
        o.filter.fn = f->fn;
        o.filter.ctx = f->ctx;
    }
    const pfx_callback *cb = atomic_load_explicit(&ks->prefix_slot, memory_order_acquire);
    if (cb) {
        o.prefix_fn = cb->fn;
        o.prefix_ctx = cb->ctx;
    }
    *out = malloc(sizeof **out);
    if (*out)
        **out = o;
    db_leave(ks->db);
    return *out ? TIND_OK : TIND_ENOMEM;
}

/* Marks every table of v obsolete: its file goes when the last view lets go. */
static void version_mark_all_obsolete(version *v)
{
    for (int l = 0; l < v->level_count; l++)
        for (size_t i = 0; i < v->levels[l].count; i++)
            v->levels[l].tables[i]->obsolete = 1;
    for (size_t b = 0; b < v->blob_count; b++)
        v->blobs[b].file->obsolete = 1;
}

static int keyspace_delete(tind_db *db, const char *name)
{
    tind_err err;
    err_clear(&err);
    if (!db)
        return TIND_EINVAL;
    int rc = check_name(name, &err);
    if (rc == TIND_OK && db->opts.read_only)
        rc = db_check_writable(db, &err);
    if (rc)
        return db_fail(db, rc, &err);
    /* stop new background jobs on it and wait for the running ones (they
     * may need write_mu to sync the journal, so wait before taking it) */
    mu_lock(&db->mu);
    tind_keyspace *ks = find_keyspace(db, name);
    if (!ks) {
        mu_unlock(&db->mu);
        err_set(&err, TIND_NOT_FOUND, "keyspace '%s' does not exist", name);
        return db_fail(db, TIND_NOT_FOUND, &err);
    }
    ks->dropping = 1;
    while (ks->flush_running || ks->compaction_running)
        cv_wait(&db->done_cv, &db->mu);
    mu_unlock(&db->mu);

    mu_lock(&db->write_mu);
    mu_lock(&db->install_mu);
    rc = db_check_writable(db, &err);
    /* the delete is durable once it returns: so is everything written
     * before it (a power loss never keeps the delete and loses them) */
    if (rc == TIND_OK && jset_writing(&db->journals) &&
        db->journals.synced_seqno < atomic_load(&db->last_seqno))
        rc = db_sync_journal_locked(db, FS_SYNC_DATA, &err);
    mu_lock(&db->mu);
    if (rc) {
        ks->dropping = 0;
        ks = NULL;
    } else if (find_keyspace(db, name) != ks) {
        rc = err_set(&err, TIND_NOT_FOUND, "keyspace '%s' does not exist", name);
        ks = NULL;
    }
    if (ks)
        keyspace_list_remove(db, ks);
    mu_unlock(&db->mu);
    if (ks) {
        rc = db_write_manifest(db, NULL, NULL, 0, NULL, &err);
        mu_lock(&db->mu);
        if (rc) {
            keyspace_list_add(db, ks);
            ks->dropping = 0;
            mu_unlock(&db->mu);
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
            jset_delete_obsolete(&db->journals);
            mu_unlock(&db->mu);
        }
    }
    mu_unlock(&db->install_mu);
    mu_unlock(&db->write_mu);
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
    return fs_write_atomic(db->fs, db->path, FNAME_FORMAT, b, sizeof b, err);
}

static int check_format_file(tind_db *db, tind_err *err)
{
    char *path = fname_join(db->path, FNAME_FORMAT);
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

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Every table the version file names has a file: TIND_ECORRUPT naming the
 * first one missing (its contents are checked when it is opened). */
static int check_tables_present(tind_db *db, tind_err *err)
{
    char **names = NULL;
    size_t count = 0, n = 0;
    int rc = fs_list(db->fs, db->tables_dir, &names, &count, err);
    if (rc)
        return rc;
    uint64_t *present = malloc((count ? count : 1) * sizeof *present);
    if (!present) {
        fs_list_free(names, count);
        return err_set(err, TIND_ENOMEM, "out of memory");
    }
    uint64_t *blobs = malloc((count ? count : 1) * sizeof *blobs);
    size_t nblobs = 0;
    if (!blobs) {
        free(present);
        fs_list_free(names, count);
        return err_set(err, TIND_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        fname_kind kind = fname_parse(names[i], &present[n]);
        if (kind == FNAME_KIND_TABLE)
            n++;
        else if (kind == FNAME_KIND_BLOB)
            blobs[nblobs++] = present[n];
    }
    fs_list_free(names, count);
    qsort(present, n, sizeof *present, cmp_u64);
    qsort(blobs, nblobs, sizeof *blobs, cmp_u64);
    for (size_t k = 0; k < db->keyspace_count && rc == TIND_OK; k++) {
        version *v = db->keyspaces[k]->current;
        for (size_t b = 0; b < v->blob_count && rc == TIND_OK; b++) {
            uint64_t number = v->blobs[b].file->number;
            if (!bsearch(&number, blobs, nblobs, sizeof *blobs, cmp_u64)) {
                char path[4096];
                db_blob_path(db, number, path, sizeof path);
                rc = err_set(err, TIND_ECORRUPT, "blob file '%s' named by the version file (keyspace '%s') is missing",
                             path, db->keyspaces[k]->name);
            }
        }
        for (int l = 0; l < v->level_count && rc == TIND_OK; l++)
            for (size_t t = 0; t < v->levels[l].count && rc == TIND_OK; t++) {
                uint64_t number = v->levels[l].tables[t]->number;
                if (!bsearch(&number, present, n, sizeof *present, cmp_u64)) {
                    char path[4096];
                    db_table_path(db, number, path, sizeof path);
                    rc = err_set(err, TIND_ECORRUPT,
                                 "table '%s' named by the version file (keyspace '%s', level %d) is missing", path,
                                 db->keyspaces[k]->name, l);
                }
            }
    }
    free(present);
    free(blobs);
    return rc;
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
        fname_kind kind = fname_parse(names[i], &n);
        if (kind == FNAME_KIND_BLOB) {
            if (n >= db->next_file_number)
                db->next_file_number = n + 1;
            for (size_t k = 0; k < db->keyspace_count && !referenced; k++)
                referenced = version_find_blob(db->keyspaces[k]->current, n) != NULL;
        }
        if (kind == FNAME_KIND_TABLE) {
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
            char *p = fname_join(db->tables_dir, names[i]);
            if (p)
                fs_unlink(db->fs, p, NULL);
            free(p);
        }
    }
    fs_list_free(names, count);
    return TIND_OK;
}

/* A replayed journal record: its entries go to the active memtables of their
 * keyspaces, except entries of deleted keyspaces and entries a keyspace
 * already flushed. */
static int replay_record(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload, size_t len)
{
    tind_db *db = ctx;
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
    return TIND_OK;
}

static int replay_journals(tind_db *db, tind_err *err)
{
    uint64_t max_seqno = 0;
    int rc = jset_replay(&db->journals, replay_record, db, db->journal_seqno, db->journal_next_seqno,
                         &db->next_file_number, &max_seqno, err);
    if (rc == TIND_OK && max_seqno > atomic_load(&db->last_seqno))
        atomic_store(&db->last_seqno, max_seqno);
    return rc;
}

static int load_state(tind_db *db, mf_state *st, tind_err *err)
{
    db->next_file_number = st->next_file_number;
    db->next_keyspace_id = st->next_keyspace_id;
    jset_set_keep(&db->journals, st->oldest_journal);
    db->journal_seqno = st->journal_seqno;
    db->journal_next_seqno = st->next_seqno;
    /* a format 1 version file has no database id: one is made now and
     * written with the next version file */
    db->db_id = st->db_id ? st->db_id : db_unique64(st->next_file_number, st->last_seqno);
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
                db_table_attach(db, vt);
                if (vt->max_seqno > atomic_load(&db->last_seqno))
                    atomic_store(&db->last_seqno, vt->max_seqno);
            }
        for (size_t b = 0; b < ks->current->blob_count; b++) {
            ks->current->blobs[b].file->on_free = db_blob_on_free;
            ks->current->blobs[b].file->on_free_ctx = db;
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
    jset_free(&db->journals);
    free(db->snapshots.seqnos);
    cf_free(db->conflicts);
    tbuf_free(&db->write_scratch);
    if (db->fds)
        fdc_free(db->fds);
    if (db->block_cache)
        cache_free(db->block_cache);
    if (db->blob_cache)
        cache_free(db->blob_cache);
    hm_pool_unref(db->mt_pool);
    if (db->lock)
        fs_unlock(db->lock, NULL);
    if (db->own_fs)
        fs_destroy(db->fs);
    options_wipe_key(&db->opts);
    mu_destroy(&db->write_mu);
    wg_destroy(&db->wq);
    mu_destroy(&db->install_mu);
    mu_destroy(&db->mu);
    mu_destroy(&db->snap_mu);
    cv_destroy(&db->bg_cv);
    cv_destroy(&db->stall_cv);
    cv_destroy(&db->done_cv);
    cv_destroy(&db->txn_cv);
    free(db->path);
    free(db->tables_dir);
    free(db);
}

/* Whether the journals or tables folder holds a journal or a table file
 * (when in doubt, yes). */
static int has_data_files(tind_db *db)
{
    static const char *const dirs[] = {FNAME_JOURNALS_DIR, FNAME_TABLES_DIR};
    for (size_t d = 0; d < 2; d++) {
        char *dir = fname_join(db->path, dirs[d]);
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
            found = n > 4 && (strcmp(names[i] + n - 4, FNAME_JOURNAL_SUFFIX) == 0 ||
                              strcmp(names[i] + n - 4, FNAME_TABLE_SUFFIX) == 0);
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
    char *jdir = fname_join(db->path, FNAME_JOURNALS_DIR);
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

/* An existing folder without a FORMAT file becomes a database only when it
 * holds nothing but what an interrupted creation leaves (LOCK, the empty
 * journals/ and tables/ folders, FORMAT.tmp): a mistyped path to a folder of
 * other files is refused before anything (even LOCK) is made in it. A
 * database that lost its FORMAT file (VERSIONS, journals or tables left) is
 * damage, not a new database. A read-only open needs the FORMAT file. */
static int check_database_folder(tind_db *db, tind_err *err)
{
    static const char *const creation_leftovers[] = {FNAME_LOCK, FNAME_JOURNALS_DIR, FNAME_TABLES_DIR,
                                                     FNAME_FORMAT FNAME_TEMP_SUFFIX, FNAME_VERSIONS,
                                                     FNAME_ENCRYPTION, FNAME_ENCRYPTION FNAME_TEMP_SUFFIX};
    char *fmt_path = fname_join(db->path, FNAME_FORMAT);
    if (!fmt_path)
        return TIND_ENOMEM;
    int fmt_exists = fs_exists(db->fs, fmt_path, NULL) == TIND_OK;
    free(fmt_path);
    if (fmt_exists)
        return TIND_OK;
    if (db->opts.read_only)
        return err_set(err, TIND_ENOENT, "'%s' is not a tind database (no FORMAT file)", db->path);
    char **names = NULL;
    size_t count = 0;
    int rc = fs_list(db->fs, db->path, &names, &count, err);
    for (size_t i = 0; rc == TIND_OK && i < count; i++) {
        int leftover = 0;
        for (size_t k = 0; k < sizeof creation_leftovers / sizeof *creation_leftovers; k++)
            leftover |= strcmp(names[i], creation_leftovers[k]) == 0;
        if (!leftover)
            rc = err_set(err, TIND_EINVAL, "'%s' is not a tind database (it holds other files, such as '%s')",
                         db->path, names[i]);
    }
    fs_list_free(names, count);
    if (rc == TIND_OK && has_data_files(db))
        rc = err_set(err, TIND_ECORRUPT, "database '%s': the FORMAT file is missing but journals or tables exist",
                     db->path);
    return rc;
}

/* Encryption at rest (io/fs_crypt.h, docs/ENCRYPTION.md): the plaintext
 * ENCRYPTION file says the folder is encrypted and holds the key's check
 * value. A wrong key, a key for a plain database or no key for an encrypted
 * one is refused here, under the lock and before any other file is read; a
 * new encrypted database gets the file before its FORMAT file. */
static int check_encryption(tind_db *db, int fmt_exists, tind_err *err)
{
    int encrypted = fs_is_crypt(db->fs);
    char *path = fname_join(db->path, FNAME_ENCRYPTION);
    if (!path)
        return TIND_ENOMEM;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = fs_read_all(encrypted ? fs_crypt_inner(db->fs) : db->fs, path, &data, &len, err);
    if (rc == TIND_OK && encrypted) {
        rc = fs_crypt_keyfile_check(db->fs, data, len, path, err);
    } else if (rc == TIND_OK) {
        rc = err_set(err, TIND_EINVAL, "database '%s' is encrypted: open it with its key (tind_options_set_encryption_key)",
                     db->path);
    } else if (rc == TIND_ENOENT) {
        err_clear(err);
        rc = TIND_OK;
        if (encrypted && fmt_exists)
            rc = err_set(err, TIND_EINVAL, "database '%s' is not encrypted: open it without an encryption key", db->path);
        else if (encrypted && !db->opts.read_only)
            rc = fs_crypt_keyfile_write(db->fs, db->path, FNAME_ENCRYPTION, err);
    }
    free(data);
    free(path);
    return rc;
}

/* With a key (or a key callback), the database's fs becomes an encrypting
 * wrapper around it; the options' copy of the key is wiped. */
static int use_encryption(tind_db *db, tind_err *err)
{
    uint8_t key[FS_CRYPT_KEY_BYTES];
    int rc = TIND_OK;
    if (db->opts.key_fn) {
        rc = db->opts.key_fn(db->opts.key_ctx, key);
        if (rc)
            rc = err_set(err, rc < 0 ? rc : TIND_EINVAL, "open '%s': the encryption key callback failed (%d)", db->path, rc);
    } else {
        memcpy(key, db->opts.key, sizeof key);
    }
    options_wipe_key(&db->opts);
    fs *c = rc ? NULL : fs_crypt_new(db->fs, db->own_fs, key);
    volatile uint8_t *k = key;
    for (size_t i = 0; i < sizeof key; i++)
        k[i] = 0;
    if (rc)
        return rc;
    if (!c)
        return err_set(err, TIND_ENOMEM, "open '%s': no encrypting file system (out of memory or libcrypto failed)",
                       db->path);
    db->fs = c;
    db->own_fs = 1;
    return TIND_OK;
}

static int open_db(tind_db *db, tind_err *err)
{
    int is_dir = 0;
    int rc = fs_exists(db->fs, db->path, &is_dir);
    if (rc == TIND_ENOENT) {
        if (!db->opts.create_if_missing || db->opts.read_only)
            return err_set(err, TIND_ENOENT, "database folder '%s' does not exist", db->path);
        rc = fs_mkdir(db->fs, db->path, err);
        if (rc && rc != TIND_EEXIST)
            return rc;
        /* its entry in the parent folder is synced with the creation below */
    } else if (rc == TIND_OK && !is_dir) {
        return err_set(err, TIND_EINVAL, "'%s' is not a folder", db->path);
    } else if (rc == TIND_OK && (rc = check_database_folder(db, err)) != TIND_OK) {
        return rc;
    }
    char *lock_path = fname_join(db->path, FNAME_LOCK);
    if (!lock_path)
        return TIND_ENOMEM;
    if (db->opts.read_only) {
        rc = fs_lock_file_shared(db->fs, lock_path, &db->lock, err);
        /* a live writer holds LOCK (or there is none to share): go on
         * without it; the open sees the files as they are now, and a file
         * the writer deletes later fails its read with an error naming it */
        if (rc == TIND_EBUSY || rc == TIND_ENOENT) {
            db->beside_writer = rc == TIND_EBUSY;
            err_clear(err);
            rc = TIND_OK;
        }
    } else {
        rc = fs_lock_file(db->fs, lock_path, &db->lock, err);
    }
    free(lock_path);
    if (rc) {
        if (rc == TIND_EBUSY)
            err_set(err, TIND_EBUSY, "database '%s' is already open (locked by this or another process)", db->path);
        return rc;
    }

    char *fmt_path = fname_join(db->path, FNAME_FORMAT);
    char *ver_path = fname_join(db->path, FNAME_VERSIONS);
    if (!fmt_path || !ver_path) {
        free(fmt_path);
        free(ver_path);
        return TIND_ENOMEM;
    }
    int fmt_exists = fs_exists(db->fs, fmt_path, NULL) == TIND_OK;
    int ver_exists = fs_exists(db->fs, ver_path, NULL) == TIND_OK;
    free(fmt_path);
    free(ver_path);
    rc = check_encryption(db, fmt_exists, err);
    if (rc)
        return rc;
    char *jdir = fname_join(db->path, FNAME_JOURNALS_DIR);
    if (!jdir)
        return TIND_ENOMEM;
    /* FORMAT without VERSIONS and without any journal or table is a creation
     * that failed (or lost power) between the two: the first VERSIONS is
     * written before any journal or table exists and is only ever replaced
     * atomically, so nothing can be lost by finishing the creation. */
    int creating = !fmt_exists || (!ver_exists && !has_data_files(db));
    if (creating && db->opts.read_only) {
        free(jdir);
        return err_set(err, TIND_ENOENT,
                       "database '%s': its creation was not finished (FORMAT without VERSIONS); a writable open "
                       "finishes it",
                       db->path);
    }
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
            db->db_id = db_unique64(0, 0);
            /* nothing else runs yet: the lock only keeps the installer's contract */
            mu_lock(&db->install_mu);
            rc = db_write_manifest(db, NULL, NULL, 0, NULL, err);
            mu_unlock(&db->install_mu);
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
        /* everything the version file names must be there before anything
         * is deleted: a missing table or journal (e.g. an older VERSIONS
         * restored) is reported while the newer files still exist. A
         * read-only open inspects a damaged database: a missing table fails
         * only the reads that need it. */
        rc = db->opts.read_only ? TIND_OK : check_tables_present(db, err);
        if (rc == TIND_OK)
            rc = replay_journals(db, err);
        if (rc == TIND_OK && !db->opts.read_only)
            rc = remove_orphans(db, err);
        if (rc == TIND_OK && !db->opts.read_only)
            rc = sync_recovered_dirs(db, err);
        if (rc)
            return rc;
    }
    atomic_store(&db->visible_seqno, atomic_load(&db->last_seqno));
    /* nothing else runs yet: write_mu only keeps the writer's contract */
    mu_lock(&db->write_mu);
    rc = db->opts.read_only ? TIND_OK : db_new_journal(db, err);
    if (rc == TIND_OK) {
        mu_lock(&db->mu);
        for (size_t i = 0; i < db->keyspace_count && !rc; i++)
            rc = ks_rebuild_view(db->keyspaces[i]);
        mu_unlock(&db->mu);
    }
    /* replayed data goes to tables soon, so the old journals can go */
    for (size_t i = 0; i < db->keyspace_count && !rc && !db->opts.read_only; i++)
        rc = ks_seal_memtable(db->keyspaces[i], err);
    mu_unlock(&db->write_mu);
    return rc;
}

/* One try of tind_open; *beside_writer: it was read-only beside a writer. */
static int open_attempt(const char *path, const tind_options *opts, tind_db **out, int *beside_writer)
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
    if (db->opts.read_only)
        db->opts.no_background = 1; /* no flush, compaction or journal syncer */
    mu_init(&db->write_mu);
    wg_init(&db->wq);
    mu_init(&db->install_mu);
    mu_init(&db->mu);
    mu_init(&db->snap_mu);
    db_errors_init(db);
    cv_init(&db->bg_cv);
    cv_init(&db->stall_cv);
    cv_init(&db->done_cv);
    cv_init(&db->txn_cv);
    int rc = TIND_OK;
    if (db->opts.background_threads < 0 || db->opts.background_threads > 64)
        rc = err_set(&err, TIND_EINVAL, "background_threads %d not in 0..64", db->opts.background_threads);
    else if (db->opts.default_durability < TIND_PERSIST_NONE || db->opts.default_durability > TIND_PERSIST_SYNC_ALL)
        rc = err_set(&err, TIND_EINVAL, "default durability %d is unknown", db->opts.default_durability);
    else if (db->opts.write_buffer_size < 4096 || db->opts.journal_file_size < 4096)
        rc = err_set(&err, TIND_EINVAL, "write_buffer_size and journal_file_size must be at least 4096");
    db->path = strdup(path);
    db->tables_dir = db->path ? fname_join(path, FNAME_TABLES_DIR) : NULL;
    int jrc = jset_init(&db->journals, NULL, path, db->opts.journal_compression_threshold);
    db->journals.preallocate = jset_preallocate_for(db->opts.journal_file_size);
    if (!rc && (!db->path || !db->tables_dir || jrc))
        rc = TIND_ENOMEM;
    if (!rc) {
        db->fs = db->opts.fs;
        if (!db->fs) {
            db->fs = fs_posix_new();
            db->own_fs = 1;
        }
        if (db->fs && (db->opts.has_key || db->opts.key_fn))
            rc = use_encryption(db, &err);
        db->journals.fs = db->fs;
        db->journals.read_only = db->opts.read_only;
        db->journals.retain_bytes = db->opts.changes_retention;
        db->journals.pin_limit = db->opts.max_journal_size;
        db->block_cache = cache_new(db->opts.cache_size, -1);
        db->mt_pool = hm_pool_new(db->opts.write_buffer_size / 2);
        if (db->opts.blob_cache_size)
            db->blob_cache = cache_new(db->opts.blob_cache_size, -1);
        db->fds = db->fs ? fdc_new(db->fs, options_max_open_files(&db->opts)) : NULL;
        if (!rc && (!db->fs || !db->block_cache || !db->mt_pool || (db->opts.blob_cache_size && !db->blob_cache) ||
                    !db->fds))
            rc = TIND_ENOMEM;
    }
    if (!rc)
        rc = open_db(db, &err);
    if (!rc)
        rc = db_start_workers(db);
    if (rc) {
        if (!err.msg[0])
            err_set(&err, rc, "open '%s': %s", path, tind_strerror(rc));
        jset_close(&db->journals, 0, NULL);
        *beside_writer = db->beside_writer;
        db_free(db);
        return db_fail(NULL, rc, &err);
    }
    /* recovered memtables may already be over their limits */
    mu_lock(&db->mu);
    db_schedule(db);
    mu_unlock(&db->mu);
    *out = db;
    return TIND_OK;
}

enum { OPEN_BESIDE_WRITER_TRIES = 20 };

/* A read-only open beside a live writer reads the version file, then the
 * journals (and tables) it names; the writer may delete one in between (a
 * flush or compaction finished; test_read_only saw the journal of a
 * recovery go). A file gone is then a reason to start again from the new
 * version file, which no longer needs it, not a failure. */
TIND_API int tind_open(const char *path, const tind_options *opts, tind_db **out)
{
    for (int attempt = 1;; attempt++) {
        int beside_writer = 0;
        int rc = open_attempt(path, opts, out, &beside_writer);
        if (rc != TIND_ENOENT || !beside_writer || attempt == OPEN_BESIDE_WRITER_TRIES)
            return rc;
        struct timespec pause = {0, 1000000L * attempt}; /* the writer's install to finish */
        nanosleep(&pause, NULL);
    }
}

/* TIND_EBUSY naming what is still live ("tind_close: 2 iterators, 1 snapshot
 * still open") while handles made from db exist, else TIND_OK. */
static int close_check_handles(tind_db *db, tind_err *err)
{
    static const char *const one[5] = {"iterator", "snapshot", "batch", "transaction", "change feed"};
    static const char *const many[5] = {"iterators", "snapshots", "batches", "transactions", "change feeds"};
    long live[5] = {atomic_load(&db->live_iterators), atomic_load(&db->live_snapshots),
                    atomic_load(&db->live_batches), atomic_load(&db->live_txns), atomic_load(&db->live_changes)};
    char list[240] = "";
    size_t len = 0;
    for (int i = 0; i < 5; i++)
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
    mu_lock(&db->mu);
    cv_broadcast(&db->stall_cv);
    cv_broadcast(&db->done_cv);
    mu_unlock(&db->mu);
    close_drain(db);
    /* a call that entered before close began may have made a handle */
    rc = close_check_handles(db, &err);
    if (rc) {
        atomic_store(&db->close_begun, 0);
        return db_fail(db, rc, &err);
    }
    db_stop_workers(db);
    mu_lock(&db->write_mu);
    /* a poisoned database cannot make the promised sync: say so (a
     * read-only one has nothing to sync and writes nothing) */
    rc = db->opts.read_only ? TIND_OK : db_check_writable(db, &err);
    int rc2 = jset_close(&db->journals, rc == TIND_OK, rc ? NULL : &err);
    if (!rc)
        rc = rc2;
    mu_unlock(&db->write_mu);
    /* calls begun since the first drain saw close_begun and are leaving:
     * let them out before the memory goes */
    close_drain(db);
    db_free(db);
    /* the handle is gone: the message goes where tind_errmsg(NULL) finds it */
    if (rc)
        db_fail(NULL, rc, &err);
    return rc;
}
