/*
 * fs_fault.c -- a fault-injecting wrapper around any fs.
 *
 * Every call is forwarded to the inner fs. Calls are counted per kind
 * (fs_call_kind) with atomics. One fault may be armed per kind: among the
 * calls of that kind whose path contains the filter (the file's path for
 * file calls; either path for rename/link), the nth from the moment of
 * arming fires, and with `forever` every matching call after it as well.
 * Effects:
 *   FS_FAULT_ERRNO       the call fails without reaching the inner fs, with
 *                        err_from_errno(errnum) (0 means EIO) and the message
 *                        "injected fault: <call> '<path>': <strerror>".
 *                        A failed close still closes the inner file.
 *   FS_FAULT_SHORT_WRITE write: the first half (n/2 bytes) reaches the inner
 *                        file, then the call fails with ENOSPC.
 *   FS_FAULT_SHORT_READ  read: asks the inner file for n/2 bytes and returns
 *                        TIND_OK with *got < n, as if the file ended there.
 *   FS_FAULT_BIT_FLIP    read: the read succeeds and one bit of the returned
 *                        bytes is flipped; the bit is chosen by a PRNG owned
 *                        by this wrapper (fixed seed), so runs are
 *                        reproducible.
 *   FS_FAULT_DELAY       any call sleeps errnum milliseconds, then goes on
 *                        as usual (a race test's wedge; not counted as
 *                        injected).
 * SHORT_WRITE armed on a kind other than WRITE, or SHORT_READ / BIT_FLIP on
 * a kind other than READ, act as FS_FAULT_ERRNO (with ENOSPC for
 * SHORT_WRITE, errnum or EIO otherwise).
 * Calls with no kind (exists, unlock, destroy) are forwarded uncounted.
 *
 * Thread-safety: counters are atomics; the armed faults and the PRNG are
 * guarded by `mu`. Files and locks opened through the wrapper are wrapper
 * objects holding the inner ones; the inner fs gives the rest.
 */
#include "io/fs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/rand.h"

#define FAULT_SEED 0x74696e642d666c74ull   /* "tind-flt" */

typedef struct fault_arm {
    int active;
    int fired;          /* the nth call happened (forever keeps firing) */
    uint64_t nth;
    uint64_t seen;      /* matching calls since arming */
    int effect;
    int errnum;
    int forever;
    char *filter;       /* NULL = every path */
} fault_arm;

typedef struct fault_fs {
    fs base;
    fs *inner;
    int own_inner;
    _Atomic uint64_t calls[FS_CALL_KINDS];
    _Atomic uint64_t injected;
    pthread_mutex_t mu;     /* guards arms[] and rng */
    fault_arm arms[FS_CALL_KINDS];
    trng rng;
} fault_fs;

typedef struct fault_file {
    fs_file base;
    fs_file *inner;
} fault_file;

typedef struct fault_lock {
    fs_lock base;
    fs_lock *inner;
} fault_lock;

static const fs_ops fault_ops;

static const char *const fault_kind_names[FS_CALL_KINDS] = {
    "open", "read", "write", "sync", "size", "truncate", "allocate", "rename", "link",
    "unlink", "mkdir", "rmdir", "sync_dir", "list", "lock", "close",
};

const char *fs_call_kind_name(int kind)
{
    if (kind < 0 || kind >= FS_CALL_KINDS)
        return "unknown";
    return fault_kind_names[kind];
}

static int fault_matches(const fault_arm *a, const char *p1, const char *p2)
{
    if (!a->filter)
        return 1;
    return (p1 && strstr(p1, a->filter)) || (p2 && strstr(p2, a->filter));
}

/* Counts a call; returns the effect to inject (0 = none) and its errnum. */
static int fault_check(fault_fs *ff, int kind, const char *p1, const char *p2, int *errnum)
{
    atomic_fetch_add(&ff->calls[kind], 1);
    int effect = 0;
    pthread_mutex_lock(&ff->mu);
    fault_arm *a = &ff->arms[kind];
    if (a->active && fault_matches(a, p1, p2)) {
        a->seen++;
        if (a->fired || a->seen >= a->nth) {
            a->fired = 1;
            effect = a->effect;
            *errnum = a->errnum;
            if (!a->forever)
                a->active = 0;
        }
    }
    pthread_mutex_unlock(&ff->mu);
    if (effect == FS_FAULT_DELAY) {
        struct timespec ts = {*errnum / 1000, (long)(*errnum % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return 0;
    }
    if (effect) {
        atomic_fetch_add(&ff->injected, 1);
        /* effects that do not apply to this kind degrade to an errno */
        if (effect == FS_FAULT_SHORT_WRITE && kind != FS_CALL_WRITE) {
            effect = FS_FAULT_ERRNO;
            *errnum = ENOSPC;
        } else if ((effect == FS_FAULT_SHORT_READ || effect == FS_FAULT_BIT_FLIP) &&
                   kind != FS_CALL_READ) {
            effect = FS_FAULT_ERRNO;
        }
        if (effect == FS_FAULT_ERRNO && *errnum == 0)
            *errnum = EIO;
    }
    return effect;
}

static int fault_fail(tind_err *err, int kind, int errnum, const char *path)
{
    return err_set(err, err_from_errno(errnum), "injected fault: %s '%s': %s",
                   fs_call_kind_name(kind), path ? path : "", strerror(errnum));
}

/* ------------------------------------------------------------------ files */

static int fault_open(fs *fsys, const char *path, int flags, fs_file **out, tind_err *err)
{
    fault_fs *ff = (fault_fs *)fsys;
    *out = NULL;
    int errnum = 0;
    if (fault_check(ff, FS_CALL_OPEN, path, NULL, &errnum))
        return fault_fail(err, FS_CALL_OPEN, errnum, path);
    fault_file *f = calloc(1, sizeof *f);
    char *copy = strdup(path);
    if (!f || !copy) {
        free(f);
        free(copy);
        return err_set(err, TIND_ENOMEM, "open '%s': out of memory", path);
    }
    int rc = fs_open(ff->inner, path, flags, &f->inner, err);
    if (rc != TIND_OK) {
        free(f);
        free(copy);
        return rc;
    }
    f->base.owner = fsys;
    f->base.path = copy;
    *out = &f->base;
    return TIND_OK;
}

static int fault_close(fs_file *file, tind_err *err)
{
    fault_file *f = (fault_file *)file;
    fault_fs *ff = (fault_fs *)file->owner;
    int errnum = 0;
    int effect = fault_check(ff, FS_CALL_CLOSE, file->path, NULL, &errnum);
    int rc = fs_close(f->inner, effect ? NULL : err);
    if (effect)
        rc = fault_fail(err, FS_CALL_CLOSE, errnum, file->path);
    free(file->path);
    free(f);
    return rc;
}

static int fault_read(fs_file *file, void *buf, size_t n, uint64_t off, size_t *got, tind_err *err)
{
    fault_file *f = (fault_file *)file;
    fault_fs *ff = (fault_fs *)file->owner;
    int errnum = 0;
    *got = 0;
    int effect = fault_check(ff, FS_CALL_READ, file->path, NULL, &errnum);
    if (effect == FS_FAULT_ERRNO)
        return fault_fail(err, FS_CALL_READ, errnum, file->path);
    if (effect == FS_FAULT_SHORT_READ)
        return fs_read(f->inner, buf, n / 2, off, got, err);
    int rc = fs_read(f->inner, buf, n, off, got, err);
    if (rc == TIND_OK && effect == FS_FAULT_BIT_FLIP && *got > 0) {
        pthread_mutex_lock(&ff->mu);
        uint64_t bit = trng_below(&ff->rng, (uint64_t)*got * 8);
        pthread_mutex_unlock(&ff->mu);
        ((uint8_t *)buf)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    return rc;
}

static int fault_write(fs_file *file, const void *buf, size_t n, uint64_t off, tind_err *err)
{
    fault_file *f = (fault_file *)file;
    fault_fs *ff = (fault_fs *)file->owner;
    int errnum = 0;
    int effect = fault_check(ff, FS_CALL_WRITE, file->path, NULL, &errnum);
    if (effect == FS_FAULT_ERRNO)
        return fault_fail(err, FS_CALL_WRITE, errnum, file->path);
    if (effect == FS_FAULT_SHORT_WRITE) {
        if (n / 2 > 0) {
            int rc = fs_write(f->inner, buf, n / 2, off, err);
            if (rc != TIND_OK)
                return rc;
        }
        return err_set(err, TIND_ENOSPC,
                       "injected fault: write '%s' at offset %llu: short write (%zu of %zu bytes): %s",
                       file->path, (unsigned long long)off, n / 2, n, strerror(ENOSPC));
    }
    return fs_write(f->inner, buf, n, off, err);
}

static int fault_sync(fs_file *file, int mode, tind_err *err)
{
    fault_file *f = (fault_file *)file;
    int errnum = 0;
    if (fault_check((fault_fs *)file->owner, FS_CALL_SYNC, file->path, NULL, &errnum))
        return fault_fail(err, FS_CALL_SYNC, errnum, file->path);
    return fs_sync(f->inner, mode, err);
}

static int fault_size(fs_file *file, uint64_t *size, tind_err *err)
{
    fault_file *f = (fault_file *)file;
    int errnum = 0;
    if (fault_check((fault_fs *)file->owner, FS_CALL_SIZE, file->path, NULL, &errnum))
        return fault_fail(err, FS_CALL_SIZE, errnum, file->path);
    return fs_size(f->inner, size, err);
}

static int fault_truncate(fs_file *file, uint64_t size, tind_err *err)
{
    fault_file *f = (fault_file *)file;
    int errnum = 0;
    if (fault_check((fault_fs *)file->owner, FS_CALL_TRUNCATE, file->path, NULL, &errnum))
        return fault_fail(err, FS_CALL_TRUNCATE, errnum, file->path);
    return fs_truncate(f->inner, size, err);
}

static int fault_allocate(fs_file *file, uint64_t off, uint64_t len, int mode, tind_err *err)
{
    fault_file *f = (fault_file *)file;
    int errnum = 0;
    if (fault_check((fault_fs *)file->owner, FS_CALL_ALLOCATE, file->path, NULL, &errnum))
        return fault_fail(err, FS_CALL_ALLOCATE, errnum, file->path);
    return fs_allocate(f->inner, off, len, mode, err);
}

/* ------------------------------------------------------------ path calls */

static int fault_rename(fs *fsys, const char *from, const char *to, tind_err *err)
{
    fault_fs *ff = (fault_fs *)fsys;
    int errnum = 0;
    if (fault_check(ff, FS_CALL_RENAME, from, to, &errnum))
        return fault_fail(err, FS_CALL_RENAME, errnum, from);
    return fs_rename(ff->inner, from, to, err);
}

static int fault_link(fs *fsys, const char *from, const char *to, tind_err *err)
{
    fault_fs *ff = (fault_fs *)fsys;
    int errnum = 0;
    if (fault_check(ff, FS_CALL_LINK, from, to, &errnum))
        return fault_fail(err, FS_CALL_LINK, errnum, from);
    return fs_link(ff->inner, from, to, err);
}

static int fault_unlink(fs *fsys, const char *path, tind_err *err)
{
    fault_fs *ff = (fault_fs *)fsys;
    int errnum = 0;
    if (fault_check(ff, FS_CALL_UNLINK, path, NULL, &errnum))
        return fault_fail(err, FS_CALL_UNLINK, errnum, path);
    return fs_unlink(ff->inner, path, err);
}

static int fault_mkdir(fs *fsys, const char *path, tind_err *err)
{
    fault_fs *ff = (fault_fs *)fsys;
    int errnum = 0;
    if (fault_check(ff, FS_CALL_MKDIR, path, NULL, &errnum))
        return fault_fail(err, FS_CALL_MKDIR, errnum, path);
    return fs_mkdir(ff->inner, path, err);
}

static int fault_rmdir(fs *fsys, const char *path, tind_err *err)
{
    fault_fs *ff = (fault_fs *)fsys;
    int errnum = 0;
    if (fault_check(ff, FS_CALL_RMDIR, path, NULL, &errnum))
        return fault_fail(err, FS_CALL_RMDIR, errnum, path);
    return fs_rmdir(ff->inner, path, err);
}

static int fault_sync_dir(fs *fsys, const char *path, tind_err *err)
{
    fault_fs *ff = (fault_fs *)fsys;
    int errnum = 0;
    if (fault_check(ff, FS_CALL_SYNC_DIR, path, NULL, &errnum))
        return fault_fail(err, FS_CALL_SYNC_DIR, errnum, path);
    return fs_sync_dir(ff->inner, path, err);
}

static int fault_list(fs *fsys, const char *dir, char ***names, size_t *count, tind_err *err)
{
    fault_fs *ff = (fault_fs *)fsys;
    int errnum = 0;
    *names = NULL;
    *count = 0;
    if (fault_check(ff, FS_CALL_LIST, dir, NULL, &errnum))
        return fault_fail(err, FS_CALL_LIST, errnum, dir);
    return fs_list(ff->inner, dir, names, count, err);
}

static int fault_exists(fs *fsys, const char *path, int *is_dir)
{
    return fs_exists(((fault_fs *)fsys)->inner, path, is_dir);
}

static int fault_lock_file(fs *fsys, const char *path, int mode, fs_lock **out, tind_err *err)
{
    fault_fs *ff = (fault_fs *)fsys;
    int errnum = 0;
    *out = NULL;
    if (fault_check(ff, FS_CALL_LOCK, path, NULL, &errnum))
        return fault_fail(err, FS_CALL_LOCK, errnum, path);
    fault_lock *l = calloc(1, sizeof *l);
    if (!l)
        return err_set(err, TIND_ENOMEM, "lock '%s': out of memory", path);
    int rc = ff->inner->ops->lock(ff->inner, path, mode, &l->inner, err);
    if (rc != TIND_OK) {
        free(l);
        return rc;
    }
    l->base.owner = fsys;
    *out = &l->base;
    return TIND_OK;
}

static int fault_unlock(fs_lock *lock, tind_err *err)
{
    fault_lock *l = (fault_lock *)lock;
    int rc = fs_unlock(l->inner, err);
    free(l);
    return rc;
}

static void fault_destroy(fs *fsys)
{
    fault_fs *ff = (fault_fs *)fsys;
    for (int k = 0; k < FS_CALL_KINDS; k++)
        free(ff->arms[k].filter);
    if (ff->own_inner)
        fs_destroy(ff->inner);
    pthread_mutex_destroy(&ff->mu);
    free(ff);
}

static const fs_ops fault_ops = {
    .open = fault_open,
    .close = fault_close,
    .read = fault_read,
    .write = fault_write,
    .sync = fault_sync,
    .size = fault_size,
    .truncate = fault_truncate,
    .allocate = fault_allocate,
    .rename = fault_rename,
    .link = fault_link,
    .unlink = fault_unlink,
    .mkdir = fault_mkdir,
    .rmdir = fault_rmdir,
    .sync_dir = fault_sync_dir,
    .list = fault_list,
    .exists = fault_exists,
    .lock = fault_lock_file,
    .unlock = fault_unlock,
    .destroy = fault_destroy,
};

/* ----------------------------------------------------------------- public */

fs *fs_fault_new(fs *inner, int own_inner)
{
    if (!inner)
        return NULL;
    fault_fs *ff = calloc(1, sizeof *ff);
    if (!ff)
        return NULL;
    if (pthread_mutex_init(&ff->mu, NULL) != 0) {
        free(ff);
        return NULL;
    }
    ff->base.ops = &fault_ops;
    ff->base.name = "fault";
    ff->inner = inner;
    ff->own_inner = own_inner;
    for (int k = 0; k < FS_CALL_KINDS; k++)
        atomic_init(&ff->calls[k], 0);
    atomic_init(&ff->injected, 0);
    trng_seed(&ff->rng, FAULT_SEED);
    return &ff->base;
}

static fault_fs *fault_of(fs *ffs)
{
    return ffs && ffs->ops == &fault_ops ? (fault_fs *)ffs : NULL;
}

void fs_fault_arm(fs *ffs, int kind, uint64_t nth, int effect, int errnum, int forever,
                  const char *path_filter)
{
    fault_fs *ff = fault_of(ffs);
    if (!ff || kind < 0 || kind >= FS_CALL_KINDS)
        return;
    /* out of memory for the filter copy: arming without the filter would
     * fire on the wrong calls, so nothing is armed */
    char *filter = path_filter ? strdup(path_filter) : NULL;
    if (path_filter && !filter)
        return;
    pthread_mutex_lock(&ff->mu);
    fault_arm *a = &ff->arms[kind];
    free(a->filter);
    a->active = 1;
    a->fired = 0;
    a->nth = nth ? nth : 1;
    a->seen = 0;
    a->effect = effect;
    a->errnum = errnum;
    a->forever = forever;
    a->filter = filter;
    pthread_mutex_unlock(&ff->mu);
}

void fs_fault_disarm(fs *ffs)
{
    fault_fs *ff = fault_of(ffs);
    if (!ff)
        return;
    pthread_mutex_lock(&ff->mu);
    for (int k = 0; k < FS_CALL_KINDS; k++) {
        free(ff->arms[k].filter);
        memset(&ff->arms[k], 0, sizeof ff->arms[k]);
    }
    pthread_mutex_unlock(&ff->mu);
}

uint64_t fs_fault_calls(fs *ffs, int kind)
{
    fault_fs *ff = fault_of(ffs);
    if (!ff || kind < 0 || kind >= FS_CALL_KINDS)
        return 0;
    return atomic_load(&ff->calls[kind]);
}

uint64_t fs_fault_injected(fs *ffs)
{
    fault_fs *ff = fault_of(ffs);
    return ff ? atomic_load(&ff->injected) : 0;
}

void fs_fault_reset_counts(fs *ffs)
{
    fault_fs *ff = fault_of(ffs);
    if (!ff)
        return;
    for (int k = 0; k < FS_CALL_KINDS; k++)
        atomic_store(&ff->calls[k], 0);
    atomic_store(&ff->injected, 0);
}
