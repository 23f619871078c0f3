/*
 * rekey.c -- tind_rekey: key rotation of a closed encrypted database.
 *
 * Encryption is a file-system layer under every format (io/fs_crypt.c), so
 * a file's plaintext does not depend on the key: re-keying copies each
 * encrypted file's plaintext into a new file written under the new key
 * (NAME.rekey.tmp, synced) and renames it over the old one. No table is
 * rewritten by compaction, no format above io/ is touched.
 *
 * Order, so that an interruption (crash, error) at any point leaves a
 * database that tind_rekey finishes when called again with the same keys:
 *   1. ENCRYPTION gets the new key's check value and, in its bytes 48..55,
 *      the old key's id (written atomically): from here tind_open refuses
 *      the folder ("re-keying was interrupted") whatever key it is given.
 *   2. Every FORMAT, VERSIONS, journal, table and blob file whose header
 *      names the old key is copied and renamed (atomic per file); files
 *      already under the new key are skipped; leftover .rekey.tmp files of
 *      an earlier run are deleted first.
 *   3. The folders are synced, then ENCRYPTION is written again without
 *      the old key's id: tind_open with the new key works.
 * A hard-linked table (a checkpoint on the same file system) keeps its old
 * inode, and so its old key, in the checkpoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/options.h"
#include "db/state.h"
#include "format/filename.h"
#include "io/fs_crypt.h"
#include "tind.h"

#define REKEY_SUFFIX ".rekey.tmp"
#define REKEY_CHUNK (1u << 20)

typedef struct rekey_run {
    const char *path;
    fs *inner;
    fs *cfs;                                 /* new key first, the old one added */
    uint8_t new_id[FS_CRYPT_KEY_ID];
    uint8_t old_id[FS_CRYPT_KEY_ID];
    uint8_t *buf;
    uint64_t files;                          /* files re-encrypted */
    int cfs_matched;                         /* ENCRYPTION names the new key */
} rekey_run;

/* Copies file `name` of `dir` (plaintext through cfs) to NAME.rekey.tmp
 * under the new key, syncs it and renames it over name. */
static int rekey_file(rekey_run *r, const char *dir, const char *name, tind_err *err)
{
    char *from = fname_join(dir, name);
    size_t tl = strlen(name) + sizeof REKEY_SUFFIX;
    char *tname = malloc(tl);
    char *to = NULL;
    if (tname) {
        snprintf(tname, tl, "%s%s", name, REKEY_SUFFIX);
        to = fname_join(dir, tname);
    }
    fs_file *in = NULL, *out = NULL;
    int rc = from && to ? TIND_OK : TIND_ENOMEM;
    if (rc == TIND_OK)
        rc = fs_open(r->cfs, from, FS_O_READ, &in, err);
    if (rc == TIND_OK)
        rc = fs_open(r->cfs, to, FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &out, err);
    uint64_t off = 0;
    while (rc == TIND_OK) {
        size_t got = 0;
        rc = fs_read(in, r->buf, REKEY_CHUNK, off, &got, err);
        if (rc || got == 0)
            break;
        rc = fs_write(out, r->buf, got, off, err);
        off += got;
    }
    if (rc == TIND_OK)
        rc = fs_sync(out, FS_SYNC_ALL, err);
    if (out) {
        int crc = fs_close(out, rc ? NULL : err);
        rc = rc ? rc : crc;
    }
    if (in)
        fs_close(in, NULL);
    if (rc == TIND_OK)
        rc = fs_rename(r->inner, to, from, err);
    else if (to)
        fs_unlink(r->inner, to, NULL);
    if (rc == TIND_OK)
        r->files++;
    else if (rc != TIND_ENOMEM)
        err_wrap(err, rc, "re-keying '%s'", from ? from : name);
    free(from);
    free(to);
    free(tname);
    return rc;
}

/* Whether name is a file the encrypting layer wrote (every file of the
 * folder but LOCK, ENCRYPTION and temporaries). */
static int encrypted_kind(const char *name)
{
    size_t n = strlen(name), s = strlen(REKEY_SUFFIX);
    if (n >= s && !strcmp(name + n - s, REKEY_SUFFIX))
        return -1;    /* a leftover of an interrupted run */
    switch (fname_parse(name, NULL)) {
    case FNAME_KIND_FORMAT:
    case FNAME_KIND_VERSIONS:
    case FNAME_KIND_JOURNAL:
    case FNAME_KIND_TABLE:
    case FNAME_KIND_BLOB:
        return 1;
    default:
        return 0;
    }
}

static int rekey_dir(rekey_run *r, const char *dir, tind_err *err)
{
    char **names = NULL;
    size_t count = 0;
    int rc = fs_list(r->inner, dir, &names, &count, err);
    if (rc == TIND_ENOENT) {
        err_clear(err);
        return TIND_OK;
    }
    for (size_t i = 0; rc == TIND_OK && i < count; i++) {
        int kind = encrypted_kind(names[i]);
        char *p = kind ? fname_join(dir, names[i]) : NULL;
        if (kind && !p) {
            rc = TIND_ENOMEM;
        } else if (kind < 0) {
            fs_unlink(r->inner, p, NULL);
        } else if (kind > 0) {
            uint8_t id[FS_CRYPT_KEY_ID];
            rc = fs_crypt_file_key_id(r->cfs, p, id, err);
            if (rc == TIND_ENOENT) {
                err_clear(err);
                rc = TIND_OK;       /* empty: written by nobody yet, any key reads it */
            } else if (rc == TIND_OK && !memcmp(id, r->old_id, FS_CRYPT_KEY_ID)) {
                rc = rekey_file(r, dir, names[i], err);
            } else if (rc == TIND_OK && memcmp(id, r->new_id, FS_CRYPT_KEY_ID) != 0) {
                rc = err_set(err, TIND_ECORRUPT,
                             "'%s': encrypted with a key that is neither the old nor the new one (key id "
                             "%02x%02x%02x%02x...)",
                             p, id[0], id[1], id[2], id[3]);
            }
        }
        free(p);
    }
    fs_list_free(names, count);
    if (rc == TIND_OK)
        rc = fs_sync_dir(r->inner, dir, err);
    return rc;
}

static int rekey_locked(rekey_run *r, const uint8_t old_key[32], const uint8_t new_key[32], tind_err *err)
{
    char *kpath = fname_join(r->path, FNAME_ENCRYPTION);
    if (!kpath)
        return TIND_ENOMEM;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = fs_read_all(r->inner, kpath, &data, &len, err);
    if (rc == TIND_ENOENT)
        rc = err_set(err, TIND_EINVAL, "database '%s' is not encrypted (no ENCRYPTION file): nothing to re-key",
                     r->path);
    uint8_t pending[FS_CRYPT_KEY_ID] = {0};
    static const uint8_t none[FS_CRYPT_KEY_ID];
    if (rc == TIND_OK) {
        /* the key file is the new key's (a run interrupted after step 1,
         * or one that finished), or the old key's (a new run) */
        rc = fs_crypt_keyfile_pending(r->cfs, data, len, kpath, pending, err);
        r->cfs_matched = rc == TIND_OK;
        if (rc == TIND_EINVAL) {
            fs *old_fs = fs_crypt_new(r->inner, 0, old_key);
            err_clear(err);
            rc = old_fs ? fs_crypt_keyfile_pending(old_fs, data, len, kpath, pending, err) : TIND_ENOMEM;
            if (old_fs)
                fs_destroy(old_fs);
            if (rc == TIND_OK && memcmp(pending, none, sizeof none) != 0)
                rc = err_set(err, TIND_EINVAL, "'%s': another re-keying (to the key given as old) was interrupted: "
                             "finish it first", kpath);
            else if (rc == TIND_EINVAL)
                rc = err_set(err, TIND_EINVAL,
                             "wrong encryption key: neither the database's key (tind_options) nor the new key "
                             "matches the key check value in '%s'", kpath);
        } else if (rc == TIND_OK && memcmp(pending, none, sizeof none) != 0 &&
                   memcmp(pending, r->old_id, sizeof pending) != 0) {
            rc = err_set(err, TIND_EINVAL, "'%s': an interrupted re-keying moves files from another key than the "
                         "one given as old", kpath);
        }
    }
    free(data);
    (void)new_key;
    if (rc == TIND_OK && r->cfs_matched && !memcmp(pending, none, sizeof none)) {
        free(kpath);
        return TIND_OK;    /* done before: every file is under the new key */
    }
    if (rc == TIND_OK)
        rc = fs_crypt_keyfile_write_pending(r->cfs, r->path, FNAME_ENCRYPTION, r->old_id, err);
    const char *dirs[] = {FNAME_JOURNALS_DIR, FNAME_TABLES_DIR};
    for (size_t i = 0; rc == TIND_OK && i < sizeof dirs / sizeof dirs[0]; i++) {
        char *d = fname_join(r->path, dirs[i]);
        rc = d ? rekey_dir(r, d, err) : TIND_ENOMEM;
        free(d);
    }
    /* VERSIONS and FORMAT last: the folder's own files */
    if (rc == TIND_OK)
        rc = rekey_dir(r, r->path, err);
    if (rc == TIND_OK)
        rc = fs_crypt_keyfile_write_pending(r->cfs, r->path, FNAME_ENCRYPTION, NULL, err);
    free(kpath);
    return rc;
}

TIND_API int tind_rekey(const char *path, const tind_options *opts, const void *new_key, size_t len)
{
    tind_err err;
    err_clear(&err);
    if (!path || !*path || !opts || !new_key || len != FS_CRYPT_KEY_BYTES)
        return db_fail(NULL, err_set(&err, TIND_EINVAL, "tind_rekey: a path, the options with the database's "
                                                        "key and a new key of 32 bytes"), &err);
    uint8_t old_key[FS_CRYPT_KEY_BYTES], nkey[FS_CRYPT_KEY_BYTES];
    memcpy(nkey, new_key, sizeof nkey);
    int rc = TIND_OK;
    if (opts->key_fn) {
        rc = opts->key_fn(opts->key_ctx, old_key);
        if (rc)
            rc = err_set(&err, rc < 0 ? rc : TIND_EINVAL, "rekey '%s': the encryption key callback failed (%d)", path,
                         rc);
    } else if (opts->has_key) {
        memcpy(old_key, opts->key, sizeof old_key);
    } else {
        rc = err_set(&err, TIND_EINVAL, "rekey '%s': the options hold no encryption key (the database's key)", path);
    }
    if (rc == TIND_OK && !memcmp(old_key, nkey, sizeof nkey))
        rc = err_set(&err, TIND_EINVAL, "rekey '%s': the new key is the database's key", path);
    rekey_run r = {.path = path};
    int own_inner = 0;
    if (rc == TIND_OK) {
        r.inner = opts->fs;
        if (!r.inner) {
            r.inner = fs_posix_new();
            own_inner = 1;
        }
        r.cfs = r.inner ? fs_crypt_new(r.inner, 0, nkey) : NULL;
        r.buf = malloc(REKEY_CHUNK);
        if (!r.cfs || !r.buf || fs_crypt_add_key(r.cfs, old_key) != TIND_OK ||
            fs_crypt_key_id(nkey, r.new_id) != TIND_OK || fs_crypt_key_id(old_key, r.old_id) != TIND_OK)
            rc = err_set(&err, TIND_ENOMEM, "rekey '%s': out of memory (or libcrypto failed)", path);
    }
    fs_lock *lock = NULL;
    char *lock_path = rc == TIND_OK ? fname_join(path, FNAME_LOCK) : NULL;
    if (rc == TIND_OK && !lock_path)
        rc = TIND_ENOMEM;
    int is_dir = 0;
    if (rc == TIND_OK && (fs_exists(r.inner, path, &is_dir) != TIND_OK || !is_dir))
        rc = err_set(&err, TIND_ENOENT, "rekey: database folder '%s' does not exist", path);
    if (rc == TIND_OK) {
        rc = fs_lock_file(r.inner, lock_path, &lock, &err);
        if (rc == TIND_EBUSY)
            err_wrap(&err, rc, "rekey '%s': the database is open (close it first)", path);
    }
    if (rc == TIND_OK)
        rc = rekey_locked(&r, old_key, nkey, &err);
    if (lock)
        fs_unlock(lock, NULL);
    free(lock_path);
    free(r.buf);
    if (r.cfs)
        fs_destroy(r.cfs);
    if (own_inner && r.inner)
        fs_destroy(r.inner);
    volatile uint8_t *k1 = old_key, *k2 = nkey;
    for (size_t i = 0; i < FS_CRYPT_KEY_BYTES; i++)
        k1[i] = k2[i] = 0;
    return db_fail(NULL, rc, &err);
}
