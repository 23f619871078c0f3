/*
 * checkpoint.c -- consistent copies of an open database (db/checkpoint.h)
 * and tind_checkpoint.
 *
 * tind_checkpoint(db, DIR):
 *   1. DIR must not exist; DIR.tmp is claimed (ckpt_claim_temp: made, its
 *      LOCK held until the end); one left by an interrupted checkpoint is
 *      removed when it holds only a copy's files (else TIND_EEXIST), one
 *      whose LOCK another writer holds is refused (TIND_EBUSY);
 *   2. the plan pins the files (write_mu for the journal's length, then
 *      install_mu for VERSIONS and the tables; each held for microseconds
 *      plus the read of VERSIONS and FORMAT);
 *   3. DIR.tmp/{journals,tables}: tables, blob files and sealed journals
 *      hard-linked (a table or blob file never changes; a sealed journal
 *      never does either), copied
 *      when the link fails (another file system: EXDEV; EPERM; or the file
 *      was deleted since the pin: journals are read from their pin); the
 *      journal being written copied up to its length at the pin;
 *   4. FORMAT and VERSIONS written (fs_write_atomic: synced), every copied
 *      file synced, the three folders synced;
 *   5. DIR.tmp renamed to DIR and DIR's parent synced: DIR appears whole or
 *      not at all, and once the call returns it survives a power loss.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/checkpoint.h"
#include "format/filename.h"
#include "io/fs_crypt.h"
#include "util/hash.h"
#include "util/killpoint.h"

#define CKPT_COPY_CHUNK (1u << 20)

/* ------------------------------------------------------------------ the plan */

static int plan_add(ckpt_plan *p, int kind, uint64_t number, uint64_t size, const char *src, const char *rel,
                    ckpt_file **out)
{
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        ckpt_file *n = realloc(p->files, cap * sizeof *n);
        if (!n)
            return TIND_ENOMEM;
        p->files = n;
        p->cap = cap;
    }
    ckpt_file *f = &p->files[p->count];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->number = number;
    f->size = size;
    f->src = src ? strdup(src) : NULL;
    f->rel = strdup(rel);
    if ((src && !f->src) || !f->rel) {
        free(f->src);
        free(f->rel);
        return TIND_ENOMEM;
    }
    p->count++;
    p->bytes += size;
    *out = f;
    return TIND_OK;
}

/* A whole small file of the folder (FORMAT, VERSIONS; ENCRYPTION from the
 * inner fs: it is stored in plaintext), read now. */
static int plan_add_bytes(ckpt_plan *p, int kind, const char *name, uint8_t **keep, tind_err *err)
{
    tind_db *db = p->db;
    char *path = fname_join(db->path, name);
    if (!path)
        return err_set(err, TIND_ENOMEM, "checkpoint: out of memory");
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = fs_read_all(kind == CKPT_ENCRYPTION ? fs_crypt_inner(db->fs) : db->fs, path, &data, &len, err);
    free(path);
    ckpt_file *f = NULL;
    if (rc == TIND_OK && (rc = plan_add(p, kind, 0, len, NULL, name, &f)) != TIND_OK)
        err_set(err, rc, "checkpoint: out of memory");
    if (rc == TIND_OK) {
        f->data = data;
        if (keep)
            *keep = data;
    } else {
        free(data);
    }
    return rc;
}

/* The journals from `keep` through `writing` (the one being written at the
 * pin, whose length was writing_size then), under install_mu: no journal is
 * released meanwhile. */
static int plan_journals(ckpt_plan *p, uint64_t keep, uint64_t writing, uint64_t writing_size, tind_err *err)
    REQUIRES(p->db->install_mu)
{
    tind_db *db = p->db;
    jset *s = &db->journals;
    mu_lock(&s->mu);
    size_t n = s->count;
    jset_journal *list = malloc((n ? n : 1) * sizeof *list);
    if (list)
        memcpy(list, s->list, n * sizeof *list);
    mu_unlock(&s->mu);
    if (!list)
        return err_set(err, TIND_ENOMEM, "checkpoint: out of memory");
    int rc = TIND_OK;
    for (size_t i = 0; rc == TIND_OK && i < n; i++) {
        if (list[i].number < keep || list[i].number > writing)
            continue;
        int is_writing = list[i].number == writing;
        char src[4096], rel[64];
        jrn_path(s->dir, list[i].number, src, sizeof src);
        jrn_path(FNAME_JOURNALS_DIR, list[i].number, rel, sizeof rel);
        fs_file *pin = NULL;
        rc = fs_open(db->fs, src, FS_O_READ, &pin, err);
        uint64_t size = writing_size;
        if (rc == TIND_OK && !is_writing)
            rc = fs_size(pin, &size, err);
        ckpt_file *f = NULL;
        if (rc == TIND_OK && (rc = plan_add(p, CKPT_JOURNAL, list[i].number, size, src, rel, &f)) != TIND_OK)
            err_set(err, rc, "checkpoint: out of memory");
        if (rc == TIND_OK) {
            f->pin = pin;
            f->linkable = !is_writing;
        } else if (pin) {
            fs_close(pin, NULL);
        }
    }
    free(list);
    return rc;
}

/* The tables VERSIONS names (decoded from the bytes read at the pin: the
 * copy holds exactly what its version file names). */
static int plan_tables(ckpt_plan *p, const uint8_t *versions, size_t len, uint64_t *keep, tind_err *err)
{
    mf_state st;
    int rc = manifest_decode(versions, len, &st, err);
    if (rc)
        return rc;
    *keep = st.oldest_journal;
    for (size_t k = 0; rc == TIND_OK && k < st.keyspace_count; k++) {
        const version *v = st.keyspaces[k].v;
        for (int l = 0; rc == TIND_OK && l < v->level_count; l++)
            for (size_t i = 0; rc == TIND_OK && i < v->levels[l].count; i++) {
                const ver_table *t = v->levels[l].tables[i];
                char src[4096], rel[64];
                db_table_path(p->db, t->number, src, sizeof src);
                fname_table(FNAME_TABLES_DIR, t->number, rel, sizeof rel);
                ckpt_file *f = NULL;
                rc = plan_add(p, CKPT_TABLE, t->number, t->size, src, rel, &f);
                if (rc)
                    err_set(err, rc, "checkpoint: out of memory");
                else {
                    f->linkable = 1;
                    f->table_id = t->table_id;
                }
            }
    }
    /* blob files (key-value separation): never changed once written */
    for (size_t k = 0; rc == TIND_OK && k < st.keyspace_count; k++) {
        const version *v = st.keyspaces[k].v;
        for (size_t i = 0; rc == TIND_OK && i < v->blob_count; i++) {
            const ver_blob *b = v->blobs[i].file;
            char src[4096], rel[64];
            db_blob_path(p->db, b->number, src, sizeof src);
            fname_blob(FNAME_TABLES_DIR, b->number, rel, sizeof rel);
            ckpt_file *f = NULL;
            rc = plan_add(p, CKPT_BLOB, b->number, b->size, src, rel, &f);
            if (rc)
                err_set(err, rc, "checkpoint: out of memory");
            else {
                f->linkable = 1;
                f->blob_created = b->created_unix;
                f->blob_count = b->count;
            }
        }
    }
    mf_state_free(&st);
    return rc;
}

int ckpt_plan_make(tind_db *db, ckpt_plan *p, tind_err *err)
{
    memset(p, 0, sizeof *p);
    p->db = db;
    mu_lock(&db->write_mu);
    mu_lock(&db->install_mu);
    int rc = db_check_writable(db, err);
    if (rc == TIND_OK && !jset_writing(&db->journals))
        rc = err_set(err, TIND_EPOISONED, "database '%s': no journal is being written", db->path);
    /* records of TIND_PERSIST_NONE writes still in the journal's buffer go
     * to the file first: the copy holds every write that returned */
    if (rc == TIND_OK)
        rc = db_push_journal_locked(db, err);
    /* sealed journals are hard-linked into the copy: durable first */
    if (rc == TIND_OK)
        rc = db_sync_sealed_journals_locked(db, err);
    /* the pin: the journal being written and its length (write_mu: between
     * batches); later journals and records are not part of the copy */
    uint64_t writing_size = rc == TIND_OK ? jset_size(&db->journals) : 0;
    uint64_t writing = 0;
    if (rc == TIND_OK) {
        mu_lock(&db->journals.mu);
        writing = db->journals.count ? db->journals.list[db->journals.count - 1].number : 0;
        mu_unlock(&db->journals.mu);
    }
    p->seqno = atomic_load(&db->last_seqno);
    mu_unlock(&db->write_mu);
    uint8_t *versions = NULL;
    uint64_t keep = 0;
    if (rc == TIND_OK && fs_is_crypt(db->fs))
        rc = plan_add_bytes(p, CKPT_ENCRYPTION, FNAME_ENCRYPTION, NULL, err);
    if (rc == TIND_OK)
        rc = plan_add_bytes(p, CKPT_FORMAT, FNAME_FORMAT, NULL, err);
    if (rc == TIND_OK)
        rc = plan_add_bytes(p, CKPT_VERSIONS, FNAME_VERSIONS, &versions, err);
    if (rc == TIND_OK)
        rc = plan_tables(p, versions, p->files[p->count - 1].size, &keep, err);
    if (rc == TIND_OK)
        rc = plan_journals(p, keep, writing, writing_size, err);
    /* the tables VERSIONS names are the current versions' (install_mu) */
    if (rc == TIND_OK) {
        mu_lock(&db->mu);
        p->pinned = calloc(db->keyspace_count ? db->keyspace_count : 1, sizeof *p->pinned);
        if (!p->pinned)
            rc = err_set(err, TIND_ENOMEM, "checkpoint: out of memory");
        for (size_t i = 0; p->pinned && i < db->keyspace_count; i++) {
            version_ref(db->keyspaces[i]->current);
            p->pinned[p->pinned_count++] = db->keyspaces[i]->current;
        }
        mu_unlock(&db->mu);
    }
    mu_unlock(&db->install_mu);
    if (rc)
        ckpt_plan_free(p);
    return rc;
}

void ckpt_plan_free(ckpt_plan *p)
{
    for (size_t i = 0; i < p->count; i++) {
        ckpt_file *f = &p->files[i];
        if (f->pin)
            fs_close(f->pin, NULL);
        free(f->src);
        free(f->rel);
        free(f->data);
    }
    free(p->files);
    for (size_t i = 0; i < p->pinned_count; i++)
        version_unref(p->pinned[i]);
    free(p->pinned);
    memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------------ copying */

/* Copies [0, size) of `in` (or of data) to dst; dst NULL: only reads. */
static int copy_bytes(fs *fsys, fs_file *in, const uint8_t *data, const char *what, uint64_t size,
                      const char *dst, uint64_t *hash, uint64_t *done, uint64_t total, ckpt_progress_fn progress,
                      void *ctx, tind_err *err)
{
    fs_file *out = NULL;
    int rc = dst ? fs_open(fsys, dst, FS_O_WRITE | FS_O_CREATE | FS_O_EXCL, &out, err) : TIND_OK;
    if (rc)
        return rc;
    uint8_t *buf = data ? NULL : malloc(CKPT_COPY_CHUNK);
    hash64_stream *hs = hash ? malloc(sizeof *hs) : NULL;
    if ((!data && !buf) || (hash && !hs))
        rc = err_set(err, TIND_ENOMEM, "copying '%s': out of memory", what);
    if (hs)
        hash64_begin(hs);
    uint64_t off = 0;
    while (rc == TIND_OK && off < size) {
        size_t n = size - off < CKPT_COPY_CHUNK ? (size_t)(size - off) : CKPT_COPY_CHUNK;
        const uint8_t *piece = data ? data + off : buf;
        if (!data)
            rc = fs_read_exact(in, buf, n, off, err);
        if (rc == TIND_OK && out)
            rc = fs_write(out, piece, n, off, err);
        if (rc == TIND_OK) {
            if (hs)
                hash64_update(hs, piece, n);
            off += n;
            if (done)
                *done += n;
            if (progress)
                progress(ctx, done ? *done : off, total);
        }
    }
    if (rc == TIND_OK && out)
        rc = fs_sync(out, FS_SYNC_ALL, err);
    if (out) {
        int crc = fs_close(out, rc == TIND_OK ? err : NULL);
        if (rc == TIND_OK)
            rc = crc;
        if (rc)
            fs_unlink(fsys, dst, NULL);
    }
    if (rc == TIND_OK && hash)
        *hash = hash64_end(hs);
    free(buf);
    free(hs);
    return rc;
}

int ckpt_copy_file(fs *fsys, const ckpt_file *f, const char *dst, uint64_t *hash, uint64_t *done,
                   uint64_t total, ckpt_progress_fn progress, void *ctx, tind_err *err)
{
    if (f->data || f->pin)
        return copy_bytes(fsys, f->pin, f->data, f->src ? f->src : f->rel, f->size, dst, hash, done, total,
                          progress, ctx, err);
    return ckpt_copy_path(fsys, f->src, f->size, dst, hash, done, total, progress, ctx, err);
}

int ckpt_copy_path(fs *fsys, const char *src, uint64_t size, const char *dst, uint64_t *hash, uint64_t *done,
                   uint64_t total, ckpt_progress_fn progress, void *ctx, tind_err *err)
{
    fs_file *in = NULL;
    int rc = fs_open(fsys, src, FS_O_READ, &in, err);
    if (rc)
        return rc;
    uint64_t have = 0;
    rc = fs_size(in, &have, err);
    if (rc == TIND_OK && have != size)
        rc = err_set(err, TIND_ECORRUPT, "'%s' holds %llu bytes, %llu expected", src, (unsigned long long)have,
                     (unsigned long long)size);
    if (rc == TIND_OK)
        rc = copy_bytes(fsys, in, NULL, src, size, dst, hash, done, total, progress, ctx, err);
    fs_close(in, NULL);
    return rc;
}

/* ------------------------------------------------------------------ folders */

char *ckpt_parent_dir(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    while (n > 0 && path[n - 1] != '/')
        n--;
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (n == 0)
        return strdup(".");
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, path, n);
        p[n] = 0;
    }
    return p;
}

/* Removes the files of one folder of a copy; TIND_EEXIST at a name that is
 * not a copy's (checked for every name before anything is removed). */
static int remove_files(fs *fsys, const char *dir, int top, tind_err *err)
{
    char **names = NULL;
    size_t count = 0;
    int rc = fs_list(fsys, dir, &names, &count, err);
    if (rc == TIND_ENOENT) {
        err_clear(err);
        return TIND_OK;
    }
    if (rc)
        return rc;
    for (size_t pass = 0; rc == TIND_OK && pass < 2; pass++)
        for (size_t i = 0; rc == TIND_OK && i < count; i++) {
            uint64_t number;
            fname_kind k = fname_parse(names[i], &number);
            int sub = top && (!strcmp(names[i], FNAME_JOURNALS_DIR) || !strcmp(names[i], FNAME_TABLES_DIR));
            int ok = sub || k == FNAME_KIND_TEMP || (top ? (k == FNAME_KIND_LOCK || k == FNAME_KIND_FORMAT ||
                                                             k == FNAME_KIND_VERSIONS ||
                                                             !strcmp(names[i], FNAME_ENCRYPTION))
                                                          : (k == FNAME_KIND_JOURNAL || k == FNAME_KIND_TABLE ||
                                                             k == FNAME_KIND_BLOB));
            if (pass == 0) {
                if (!ok)
                    rc = err_set(err, TIND_EEXIST, "'%s' holds '%s', which is not a database copy's file: "
                                                   "remove the folder by hand", dir, names[i]);
                continue;
            }
            char *path = fname_join(dir, names[i]);
            if (!path)
                rc = err_set(err, TIND_ENOMEM, "out of memory");
            else if (sub)
                rc = remove_files(fsys, path, 0, err);
            else
                rc = fs_unlink(fsys, path, err);
            free(path);
        }
    fs_list_free(names, count);
    if (rc == TIND_OK)
        rc = fs_rmdir(fsys, dir, err);
    return rc;
}

int ckpt_remove_copy(fs *fsys, const char *dir, tind_err *err)
{
    return remove_files(fsys, dir, 1, err);
}

int ckpt_claim_temp(fs *fsys, const char *tmp, fs_lock **lock, tind_err *err)
{
    *lock = NULL;
    char *lockpath = fname_join(tmp, FNAME_LOCK);
    if (!lockpath)
        return err_set(err, TIND_ENOMEM, "out of memory");
    int rc;
    for (int round = 0;; round++) {
        rc = fs_mkdir(fsys, tmp, err);
        if (rc != TIND_EEXIST)
            break;
        err_clear(err);
        if (round == 1) { /* removed, and made again by another writer meanwhile */
            rc = err_set(err, TIND_EBUSY, "'%s' is being written by another checkpoint or restore", tmp);
            break;
        }
        fs_lock *stale = NULL;
        rc = fs_lock_file(fsys, lockpath, &stale, err);
        if (rc == TIND_EBUSY)
            rc = err_set(err, TIND_EBUSY, "'%s' is being written by another checkpoint or restore (its LOCK is held)",
                         tmp);
        if (rc)
            break;
        /* an interrupted writer's: only a copy's files may be there */
        rc = ckpt_remove_copy(fsys, tmp, err);
        fs_unlock(stale, NULL);
        if (rc)
            break;
    }
    if (rc == TIND_OK) {
        rc = fs_lock_file(fsys, lockpath, lock, err);
        if (rc == TIND_EBUSY) /* another writer found it before our lock and took it: it is theirs now */
            rc = err_set(err, TIND_EBUSY, "'%s' was taken by another checkpoint or restore", tmp);
    }
    free(lockpath);
    return rc;
}

void ckpt_release_temp(fs_lock *lock)
{
    if (lock)
        fs_unlock(lock, NULL);
}

/* ------------------------------------------------------------------ tind_checkpoint */

/* journals/ and tables/ in tmp (claimed: ckpt_claim_temp). */
static int make_subdirs(fs *fsys, const char *tmp, tind_err *err)
{
    int rc = TIND_OK;
    const char *subs[2] = {FNAME_JOURNALS_DIR, FNAME_TABLES_DIR};
    for (int i = 0; rc == TIND_OK && i < 2; i++) {
        char *d = fname_join(tmp, subs[i]);
        rc = d ? fs_mkdir(fsys, d, err) : err_set(err, TIND_ENOMEM, "out of memory");
        free(d);
    }
    return rc;
}

static int sync_dirs(fs *fsys, const char *tmp, tind_err *err)
{
    const char *subs[2] = {FNAME_JOURNALS_DIR, FNAME_TABLES_DIR};
    int rc = TIND_OK;
    for (int i = 0; rc == TIND_OK && i < 2; i++) {
        char *d = fname_join(tmp, subs[i]);
        rc = d ? fs_sync_dir(fsys, d, err) : err_set(err, TIND_ENOMEM, "out of memory");
        free(d);
    }
    return rc ? rc : fs_sync_dir(fsys, tmp, err);
}

/* Links (when allowed) or copies every file of the plan into folder tmp. */
static int fill_copy(ckpt_plan *p, const char *tmp, ckpt_progress_fn progress, void *ctx, tind_err *err)
{
    fs *fsys = p->db->fs;
    uint64_t done = 0;
    int rc = TIND_OK;
    for (size_t i = 0; rc == TIND_OK && i < p->count; i++) {
        const ckpt_file *f = &p->files[i];
        if (f->kind == CKPT_FORMAT || f->kind == CKPT_VERSIONS || f->kind == CKPT_ENCRYPTION) {
            rc = fs_write_atomic(f->kind == CKPT_ENCRYPTION ? fs_crypt_inner(fsys) : fsys, tmp, f->rel, f->data,
                                 f->size, err);
            done += f->size;
            continue;
        }
        char *dst = fname_join(tmp, f->rel);
        if (!dst)
            return err_set(err, TIND_ENOMEM, "checkpoint: out of memory");
        if (f->linkable && fs_link(fsys, f->src, dst, NULL) == TIND_OK) {
            done += f->size;
            if (progress)
                progress(ctx, done, p->bytes);
        } else {
            rc = ckpt_copy_file(fsys, f, dst, NULL, &done, p->bytes, progress, ctx, err);
        }
        free(dst);
    }
    return rc;
}

int ckpt_write(tind_db *db, const char *dir, ckpt_progress_fn progress, void *ctx, tind_err *err)
{
    fs *fsys = db->fs;
    int is_dir = 0;
    if (fs_exists(fsys, dir, &is_dir) == TIND_OK)
        return err_set(err, TIND_EEXIST, "checkpoint: '%s' already exists", dir);
    size_t n = strlen(dir);
    char *tmp = malloc(n + sizeof FNAME_TEMP_SUFFIX);
    char *parent = ckpt_parent_dir(dir);
    if (!tmp || !parent) {
        free(tmp);
        free(parent);
        return err_set(err, TIND_ENOMEM, "checkpoint: out of memory");
    }
    memcpy(tmp, dir, n);
    memcpy(tmp + n, FNAME_TEMP_SUFFIX, sizeof FNAME_TEMP_SUFFIX);
    ckpt_plan p;
    fs_lock *lock = NULL;
    int rc = ckpt_claim_temp(fsys, tmp, &lock, err);
    int claimed = rc == TIND_OK;
    if (rc == TIND_OK)
        rc = make_subdirs(fsys, tmp, err);
    int planned = 0;
    if (rc == TIND_OK && (rc = ckpt_plan_make(db, &p, err)) == TIND_OK)
        planned = 1;
    if (rc == TIND_OK)
        rc = fill_copy(&p, tmp, progress, ctx, err);
    if (planned)
        ckpt_plan_free(&p);
    if (rc == TIND_OK)
        rc = sync_dirs(fsys, tmp, err);
    KILL_POINT("checkpoint.rename.before");
    if (rc == TIND_OK)
        rc = fs_rename(fsys, tmp, dir, err);
    if (rc == TIND_OK)
        rc = fs_sync_dir(fsys, parent, err);
    else if (claimed)
        ckpt_remove_copy(fsys, tmp, NULL);
    ckpt_release_temp(lock);
    free(tmp);
    free(parent);
    return rc;
}

int ckpt_db_call(tind_db *db, const char *dir, const char *what,
                 int (*run)(tind_db *db, const char *dir, void *arg, tind_err *err), void *arg)
{
    if (!db)
        return TIND_EINVAL;
    int rc = db_enter(db);
    if (rc)
        return rc;
    tind_err err;
    err_clear(&err);
    if (!dir || !*dir)
        rc = err_set(&err, TIND_EINVAL, "%s: no folder given", what);
    else
        rc = run(db, dir, arg, &err);
    rc = db_fail(db, rc, &err);
    db_leave(db);
    return rc;
}

static int run_checkpoint(tind_db *db, const char *dir, void *arg, tind_err *err)
{
    (void)arg;
    return ckpt_write(db, dir, NULL, NULL, err);
}

TIND_API int tind_checkpoint(tind_db *db, const char *dir)
{
    return ckpt_db_call(db, dir, "tind_checkpoint", run_checkpoint, NULL);
}
