/*
 * fs.h -- the file-system layer. Every open, read, write, sync, rename,
 * unlink, mkdir, readdir, truncate and lock tind does goes through an `fs`,
 * so that tests can swap the real POSIX implementation for an in-memory one
 * (which remembers what was synced) or wrap either in a fault injector.
 *
 * Implementations: fs_posix_new() (io/fs_posix.c), fs_mem_new() (io/fs_mem.c),
 * fs_fault_new() (io/fs_fault.c).
 *
 * Contracts
 *   - Every call returns TIND_OK or a negative status and, on failure, fills
 *     `err` (may be NULL) with a message naming the path and the cause.
 *   - fs_read() reads up to n bytes at off; *got < n only at end of file.
 *   - fs_write() writes all n bytes at off or fails (a short write is an error).
 *   - fs_sync(f, FS_SYNC_DATA) is fdatasync, FS_SYNC_ALL is fsync.
 *   - fs_sync_dir() makes the directory's entries (creations, renames,
 *     unlinks) durable.
 *   - fs_rename() atomically replaces `to`.
 *   - fs_list() returns names (no "." / ".."), malloc'd; free with fs_list_free().
 *   - fs_lock_file() takes an exclusive advisory lock on a file (created if
 *     missing) that conflicts with other processes and with other locks of
 *     the same fs on the same path; TIND_EBUSY when held.
 *     fs_lock_file_shared() takes a shared lock: it coexists with other
 *     shared locks and conflicts with an exclusive one (TIND_EBUSY both
 *     ways); it never creates the file (TIND_ENOENT when missing), so a
 *     read-only open writes nothing.
 * Thread-safety: an fs and distinct files may be used from many threads;
 * concurrent fs_read() on one file is safe; writes to one file need external
 * serialization.
 */
#ifndef TIND_IO_FS_H
#define TIND_IO_FS_H

#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

typedef struct fs fs;
typedef struct fs_file fs_file;
typedef struct fs_lock fs_lock;

enum fs_open_flags {
    FS_O_READ   = 1,
    FS_O_WRITE  = 2,       /* read-write */
    FS_O_CREATE = 4,
    FS_O_EXCL   = 8,       /* with CREATE: fail with TIND_EEXIST if present */
    FS_O_TRUNC  = 16,
};

enum fs_lock_mode {
    FS_LOCK_EXCLUSIVE = 0,
    FS_LOCK_SHARED    = 1,
};

enum fs_sync_mode {
    FS_SYNC_DATA = 1,      /* fdatasync */
    FS_SYNC_ALL  = 2,      /* fsync */
};

/* fs_allocate's modes. */
enum fs_alloc_mode {
    FS_ALLOC_HINT   = 0,   /* reserve space, the size stays; may do nothing */
    FS_ALLOC_EXTEND = 1,   /* the size becomes at least off + len, the new bytes
                              read as zeros, without writing them (fallocate
                              mode 0): later writes inside need no size change,
                              so fdatasync commits no metadata for them.
                              TIND_ENOTSUP (no message) where the file system
                              cannot, nothing changed */
};

/* The operations an implementation provides. Wrappers below check nothing
 * and just dispatch; implementations must handle every call. */
typedef struct fs_ops {
    int (*open)(fs *fsys, const char *path, int flags, fs_file **out, tind_err *err);
    int (*close)(fs_file *f, tind_err *err);
    int (*read)(fs_file *f, void *buf, size_t n, uint64_t off, size_t *got, tind_err *err);
    int (*write)(fs_file *f, const void *buf, size_t n, uint64_t off, tind_err *err);
    int (*sync)(fs_file *f, int mode, tind_err *err);
    int (*size)(fs_file *f, uint64_t *size, tind_err *err);
    int (*truncate)(fs_file *f, uint64_t size, tind_err *err);
    int (*allocate)(fs_file *f, uint64_t off, uint64_t len, int mode, tind_err *err); /* fs_alloc_mode */
    int (*rename)(fs *fsys, const char *from, const char *to, tind_err *err);
    int (*link)(fs *fsys, const char *from, const char *to, tind_err *err);  /* hard link */
    int (*unlink)(fs *fsys, const char *path, tind_err *err);
    int (*mkdir)(fs *fsys, const char *path, tind_err *err);   /* TIND_EEXIST if present */
    int (*rmdir)(fs *fsys, const char *path, tind_err *err);
    int (*sync_dir)(fs *fsys, const char *path, tind_err *err);
    int (*list)(fs *fsys, const char *dir, char ***names, size_t *count, tind_err *err);
    int (*exists)(fs *fsys, const char *path, int *is_dir); /* TIND_OK / TIND_ENOENT */
    int (*lock)(fs *fsys, const char *path, int mode, fs_lock **out, tind_err *err); /* fs_lock_mode */
    int (*unlock)(fs_lock *lock, tind_err *err);
    void (*destroy)(fs *fsys);
} fs_ops;

/* The common head of every fs; implementations embed it first. */
struct fs {
    const fs_ops *ops;
    const char *name;        /* "posix", "mem", "fault" */
};

/* The common head of every file; implementations embed it first. */
struct fs_file {
    fs *owner;
    char *path;              /* malloc'd copy of the path it was opened with */
};

struct fs_lock {
    fs *owner;
};

static inline int fs_open(fs *fsys, const char *path, int flags, fs_file **out, tind_err *err)
{ return fsys->ops->open(fsys, path, flags, out, err); }
static inline int fs_close(fs_file *f, tind_err *err) { return f->owner->ops->close(f, err); }
static inline int fs_read(fs_file *f, void *buf, size_t n, uint64_t off, size_t *got, tind_err *err)
{ return f->owner->ops->read(f, buf, n, off, got, err); }
static inline int fs_write(fs_file *f, const void *buf, size_t n, uint64_t off, tind_err *err)
{ return f->owner->ops->write(f, buf, n, off, err); }
static inline int fs_sync(fs_file *f, int mode, tind_err *err) { return f->owner->ops->sync(f, mode, err); }
static inline int fs_size(fs_file *f, uint64_t *size, tind_err *err) { return f->owner->ops->size(f, size, err); }
static inline int fs_truncate(fs_file *f, uint64_t size, tind_err *err) { return f->owner->ops->truncate(f, size, err); }
static inline int fs_allocate(fs_file *f, uint64_t off, uint64_t len, int mode, tind_err *err)
{ return f->owner->ops->allocate(f, off, len, mode, err); }
static inline int fs_rename(fs *fsys, const char *from, const char *to, tind_err *err)
{ return fsys->ops->rename(fsys, from, to, err); }
static inline int fs_link(fs *fsys, const char *from, const char *to, tind_err *err)
{ return fsys->ops->link(fsys, from, to, err); }
static inline int fs_unlink(fs *fsys, const char *path, tind_err *err) { return fsys->ops->unlink(fsys, path, err); }
static inline int fs_mkdir(fs *fsys, const char *path, tind_err *err) { return fsys->ops->mkdir(fsys, path, err); }
static inline int fs_rmdir(fs *fsys, const char *path, tind_err *err) { return fsys->ops->rmdir(fsys, path, err); }
static inline int fs_sync_dir(fs *fsys, const char *path, tind_err *err) { return fsys->ops->sync_dir(fsys, path, err); }
static inline int fs_list(fs *fsys, const char *dir, char ***names, size_t *count, tind_err *err)
{ return fsys->ops->list(fsys, dir, names, count, err); }
static inline int fs_exists(fs *fsys, const char *path, int *is_dir) { return fsys->ops->exists(fsys, path, is_dir); }
static inline int fs_lock_file(fs *fsys, const char *path, fs_lock **out, tind_err *err)
{ return fsys->ops->lock(fsys, path, FS_LOCK_EXCLUSIVE, out, err); }
static inline int fs_lock_file_shared(fs *fsys, const char *path, fs_lock **out, tind_err *err)
{ return fsys->ops->lock(fsys, path, FS_LOCK_SHARED, out, err); }
static inline int fs_unlock(fs_lock *l, tind_err *err) { return l->owner->ops->unlock(l, err); }
static inline void fs_destroy(fs *fsys) { if (fsys) fsys->ops->destroy(fsys); }

void fs_list_free(char **names, size_t count);

/* Reads exactly n bytes at off; a short read is TIND_ECORRUPT ("truncated"). */
int fs_read_exact(fs_file *f, void *buf, size_t n, uint64_t off, tind_err *err);
/* Reads a whole file into a malloc'd buffer (caller frees). */
int fs_read_all(fs *fsys, const char *path, uint8_t **data, size_t *len, tind_err *err);
/* Writes a whole file durably and atomically: write tmp, sync, rename over
 * path, sync the directory. */
int fs_write_atomic(fs *fsys, const char *dir, const char *name, const void *data, size_t len, tind_err *err);


/* A buffered sequential writer over a file (tables, journals, version files).
 * `offset` is the logical end (written + buffered). Not thread-safe. */
typedef struct fs_writer {
    fs_file *file;
    uint64_t offset;        /* logical size: bytes appended so far, incl. start */
    uint64_t flushed;       /* bytes handed to fs_write */
    uint8_t *buf;
    size_t buf_len;
    size_t buf_cap;
} fs_writer;

/* start = the file offset at which appending begins. buffer_size 0 = 64 KiB. */
int fs_writer_init(fs_writer *w, fs_file *f, uint64_t start, size_t buffer_size);
int fs_writer_append(fs_writer *w, const void *p, size_t n, tind_err *err);
int fs_writer_flush(fs_writer *w, tind_err *err);              /* hand the buffer to the file */
int fs_writer_sync(fs_writer *w, int mode, tind_err *err);     /* flush + fs_sync */
void fs_writer_free(fs_writer *w);                             /* frees the buffer only */

/* ---- implementations ---- */

/* The real file system (POSIX). Returns NULL when out of memory. */
fs *fs_posix_new(void);

/* An in-memory file system that remembers, per file, which bytes were synced
 * and, per directory, which entries were synced. */
fs *fs_mem_new(void);

enum fs_crash_mode {
    FS_CRASH_DROP_UNSYNCED = 1,   /* files revert to their synced contents */
    FS_CRASH_KEEP_PREFIX   = 2,   /* keep a random prefix of the unsynced tail */
    FS_CRASH_TEAR_SECTOR   = 4,   /* garble the last 512-byte sector written */
    FS_CRASH_DROP_DIRENTS  = 8,   /* undo unsynced creations/renames/unlinks */
};
/* Simulates a power loss on a mem fs: `modes` is an OR of fs_crash_mode;
 * random choices come from seed. Open files become stale: every later call on
 * them fails with TIND_EIO. Locks are released. The crashed process's other
 * threads are dead: until the next lock is taken (a new process's open),
 * every change (a write, sync, truncate, writable open, rename, link,
 * unlink, mkdir, rmdir, folder sync) from a thread other than the caller
 * fails with TIND_EIO, so that background work in flight cannot write past
 * the power loss (a version file naming a table whose folder entry the crash
 * took); the calling thread goes on, as a test's own steps do. */
int fs_mem_crash(fs *memfs, int modes, uint64_t seed);

/* A wrapper that forwards to `inner` and injects faults. The wrapper does not
 * own inner unless own_inner is set. */
fs *fs_fault_new(fs *inner, int own_inner);

enum fs_call_kind {
    FS_CALL_OPEN = 0, FS_CALL_READ, FS_CALL_WRITE, FS_CALL_SYNC, FS_CALL_SIZE,
    FS_CALL_TRUNCATE, FS_CALL_ALLOCATE, FS_CALL_RENAME, FS_CALL_LINK, FS_CALL_UNLINK,
    FS_CALL_MKDIR, FS_CALL_RMDIR, FS_CALL_SYNC_DIR, FS_CALL_LIST, FS_CALL_LOCK,
    FS_CALL_CLOSE,
    FS_CALL_KINDS
};

enum fs_fault_effect {
    FS_FAULT_ERRNO = 1,        /* fail with the given errno (EIO, ENOSPC, EMFILE, ...) */
    FS_FAULT_SHORT_WRITE,      /* write: a prefix reaches the file, then fails with ENOSPC */
    FS_FAULT_SHORT_READ,       /* read: returns fewer bytes than asked, as if at EOF */
    FS_FAULT_BIT_FLIP,         /* read: one random bit of the result is flipped */
    FS_FAULT_DELAY,            /* any call: sleeps errnum milliseconds, then runs as usual
                                  (not a fault: fs_fault_injected does not count it) */
};

/* Arms a fault: the nth call of `kind` from now (1 = the next one) gets the
 * effect; with `forever`, every call after it too. Only calls whose path
 * contains `path_filter` count (NULL = all). One armed fault per kind. */
void fs_fault_arm(fs *ffs, int kind, uint64_t nth, int effect, int errnum, int forever,
                  const char *path_filter);
void fs_fault_disarm(fs *ffs);                  /* all kinds */
uint64_t fs_fault_calls(fs *ffs, int kind);     /* calls seen so far */
uint64_t fs_fault_injected(fs *ffs);            /* faults injected so far */
void fs_fault_reset_counts(fs *ffs);
const char *fs_call_kind_name(int kind);

#endif
