/*
 * checkpoint.h -- the files of a consistent copy of an open database, and
 * tind_checkpoint, which writes such a copy to a new folder.
 *
 * A *plan* is the list of files that make up the database at one moment
 * (the *pin*), taken online while writers run:
 *
 *   FORMAT     its bytes, read at the pin
 *   VERSIONS   its bytes, read at the pin (install_mu held: no version file
 *              write, so no table or journal deletion, can happen meanwhile)
 *   tables     every table that VERSIONS names, pinned by a reference on
 *              each keyspace's current version (a table's file is deleted
 *              only at the last reference), so they can be linked or copied
 *              after the locks are released
 *   blob files every blob file VERSIONS names (key-value separation), pinned
 *              and linked or copied as tables (they never change either)
 *   ENCRYPTION an encrypted database's key check file, its stored bytes
 *              (read through the inner fs: it is never encrypted), so a copy
 *              opens with the database's key; every other file is read
 *              through db->fs, so copies written through it are encrypted
 *              (with a new salt each) and links share the stored bytes
 *   journals   every journal from VERSIONS' oldest kept one on: the sealed
 *              ones whole (they never change again), the one being written
 *              up to its length at the pin (write_mu held: a batch is one
 *              record of one write, so that length ends on a batch); each
 *              is pinned by an open handle, so a journal deleted after the
 *              pin can still be read
 *
 * Every write that had returned before the pin is in the copy: it is in a
 * table VERSIONS names or in a kept journal's records up to the pin; writes
 * after the pin are not. The copy recovers exactly as the database would
 * after a crash at the pin (journal replay on its first open).
 *
 * The enumeration of the files is in one place (ckpt_plan_make): a new kind
 * of file is one more loop there and one more ckpt_kind (as blob files).
 *
 * Thread-safety: ckpt_plan_make takes write_mu, install_mu and mu in their
 * order, briefly; the plan then belongs to its caller's thread.
 */
#ifndef TIND_DB_CHECKPOINT_H
#define TIND_DB_CHECKPOINT_H

#include "db/jobs.h"

typedef enum ckpt_kind {
    CKPT_FORMAT = 0,
    CKPT_VERSIONS,
    CKPT_JOURNAL,
    CKPT_TABLE,
    CKPT_BLOB,                    /* a blob file (key-value separation), tables/N.blob */
    CKPT_ENCRYPTION,              /* an encrypted database's key check file (plaintext, io/fs_crypt.h) */
} ckpt_kind;

typedef struct ckpt_file {
    int kind;                     /* ckpt_kind */
    uint64_t number;              /* journals, tables and blob files */
    uint64_t size;                /* bytes that belong to the copy */
    uint64_t table_id;            /* tables: the identity VERSIONS records (0 = none) */
    uint64_t blob_created;        /* blob files: creation time and records VERSIONS records */
    uint64_t blob_count;
    int linkable;                 /* the file never changes again: may be hard-linked */
    char *src;                    /* its path in the database folder (NULL: `data`) */
    char *rel;                    /* its path inside a copy ("tables/00000012.tbl") */
    fs_file *pin;                 /* journals: an open handle to read from */
    uint8_t *data;                /* FORMAT, VERSIONS, ENCRYPTION: the bytes read at the pin */
} ckpt_file;

typedef struct ckpt_plan {
    tind_db *db;
    ckpt_file *files;
    size_t count, cap;
    version **pinned;             /* one reference per keyspace's version */
    size_t pinned_count;
    uint64_t seqno;               /* the last seqno at the pin */
    uint64_t bytes;               /* sum of the files' sizes */
} ckpt_plan;

/* Called after each piece copied or linked: bytes done so far of `total`. */
typedef tind_progress_fn ckpt_progress_fn;

/* Pins the database's files (above). TIND_ENOTSUP on a read-only open,
 * TIND_EPOISONED on a poisoned database, I/O errors naming the file. */
int ckpt_plan_make(tind_db *db, ckpt_plan *p, tind_err *err) EXCLUDES(db->write_mu, db->install_mu, db->mu);
/* Closes the pins and drops the version references. */
void ckpt_plan_free(ckpt_plan *p);

/* Copies the first `size` bytes of a plan's file (from its pin, its data or
 * its path) to dst (created; TIND_EEXIST when present), synced (FS_SYNC_ALL).
 * *hash (may be NULL) gets the xxh3-64 of the bytes copied; *done advances
 * by them (progress is called as it does). On failure dst is removed. */
int ckpt_copy_file(fs *fsys, const ckpt_file *f, const char *dst, uint64_t *hash, uint64_t *done,
                   uint64_t total, ckpt_progress_fn progress, void *ctx, tind_err *err);
/* Copies file src (a path of fsys), which must hold exactly `size` bytes
 * (else TIND_ECORRUPT), to dst the same way; dst NULL: only reads it (for
 * *hash). */
int ckpt_copy_path(fs *fsys, const char *src, uint64_t size, const char *dst, uint64_t *hash, uint64_t *done,
                   uint64_t total, ckpt_progress_fn progress, void *ctx, tind_err *err);

/* Removes a folder holding only a database copy's files (FORMAT, VERSIONS,
 * LOCK, temporaries, journals/ and tables/ with journals, tables and blob
 * files): an interrupted checkpoint. TIND_EEXIST, removing nothing more, when it holds
 * anything else. TIND_OK when it does not exist. */
int ckpt_remove_copy(fs *fsys, const char *dir, tind_err *err);

/* Claims the folder tmp (a checkpoint's or a restore's DIR.tmp) for the
 * caller: creates it and holds an exclusive lock on tmp/LOCK (*lock, for
 * ckpt_release_temp once tmp is renamed or removed). A tmp that exists is
 * another writer's while its LOCK is held (TIND_EBUSY naming it, nothing
 * touched), else an interrupted one's: removed (ckpt_remove_copy's rule)
 * and made anew. */
int ckpt_claim_temp(fs *fsys, const char *tmp, fs_lock **lock, tind_err *err);
void ckpt_release_temp(fs_lock *lock);

/* The folder that holds path ("." when path has no '/'), malloc'd. */
char *ckpt_parent_dir(const char *path);

/* tind_checkpoint on db's file system: the plan, then DIR.tmp with every
 * file linked (tables, blob files, sealed journals) or copied, synced, renamed to dir. */
int ckpt_write(tind_db *db, const char *dir, ckpt_progress_fn progress, void *ctx, tind_err *err);

/* A public call on db about folder dir: db_enter, TIND_EINVAL (named
 * `what`) for a NULL or empty dir, run, the failure recorded on db. */
int ckpt_db_call(tind_db *db, const char *dir, const char *what,
                 int (*run)(tind_db *db, const char *dir, void *arg, tind_err *err), void *arg);

#endif
