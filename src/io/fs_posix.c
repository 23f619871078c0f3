/*
 * fs_posix.c -- the real file system: a thin layer over POSIX calls.
 *
 * Every descriptor is opened with O_CLOEXEC. Reads and writes use
 * pread/pwrite loops that retry on EINTR and continue after partial
 * transfers, so fs_write() either writes all bytes or fails and fs_read()
 * returns fewer bytes only at end of file. Errors become statuses through
 * err_errno(), whose message names the call and the path.
 *
 * Locks are flock(LOCK_EX | LOCK_NB), or LOCK_SH for a shared lock (on a
 * descriptor opened read-only, without O_CREAT), on a descriptor of their own. flock
 * locks belong to the open file description, so a second fs_lock() of the
 * same path conflicts both with other processes and within this process;
 * closing the descriptor releases the lock.
 *
 * Thread-safety: no shared mutable state beyond the descriptors; the kernel
 * serializes what needs serializing. Concurrent reads of one file are safe.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "io/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

typedef struct posix_file {
    fs_file base;
    int fd;
} posix_file;

typedef struct posix_lock {
    fs_lock base;
    int fd;
    char *path;
} posix_lock;

static const fs_ops posix_ops;

static int posix_open(fs *fsys, const char *path, int flags, fs_file **out, tind_err *err)
{
    *out = NULL;
    int oflags = O_CLOEXEC | ((flags & FS_O_WRITE) ? O_RDWR : O_RDONLY);
    if (flags & FS_O_CREATE)
        oflags |= O_CREAT;
    if ((flags & FS_O_CREATE) && (flags & FS_O_EXCL))
        oflags |= O_EXCL;
    if (flags & FS_O_TRUNC)
        oflags |= O_TRUNC;
    posix_file *f = calloc(1, sizeof *f);
    char *copy = strdup(path);
    if (!f || !copy) {
        free(f);
        free(copy);
        return err_set(err, TIND_ENOMEM, "open '%s': out of memory", path);
    }
    int fd;
    do {
        fd = open(path, oflags, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int e = errno;
        free(f);
        free(copy);
        return err_errno(err, e, "open", path);
    }
    f->base.owner = fsys;
    f->base.path = copy;
    f->fd = fd;
    *out = &f->base;
    return TIND_OK;
}

static int posix_close(fs_file *file, tind_err *err)
{
    posix_file *f = (posix_file *)file;
    int rc = TIND_OK;
    /* POSIX leaves the descriptor state unspecified after EINTR; on Linux it
     * is closed, so never retry (a retry could close someone else's fd). */
    if (close(f->fd) != 0 && errno != EINTR)
        rc = err_errno(err, errno, "close", f->base.path);
    free(f->base.path);
    free(f);
    return rc;
}

static int posix_read(fs_file *file, void *buf, size_t n, uint64_t off, size_t *got, tind_err *err)
{
    posix_file *f = (posix_file *)file;
    size_t done = 0;
    *got = 0;
    while (done < n) {
        ssize_t r = pread(f->fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            return err_set(err, err_from_errno(e), "read '%s' at offset %llu: %s", f->base.path,
                           (unsigned long long)(off + done), strerror(e));
        }
        if (r == 0)
            break;    /* end of file */
        done += (size_t)r;
    }
    *got = done;
    return TIND_OK;
}

static int posix_write(fs_file *file, const void *buf, size_t n, uint64_t off, tind_err *err)
{
    posix_file *f = (posix_file *)file;
    size_t done = 0;
    while (done < n) {
        ssize_t r = pwrite(f->fd, (const char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            return err_set(err, err_from_errno(e), "write '%s' at offset %llu: %s", f->base.path,
                           (unsigned long long)(off + done), strerror(e));
        }
        if (r == 0)
            return err_set(err, TIND_EIO, "write '%s': no progress at offset %llu", f->base.path,
                           (unsigned long long)(off + done));
        done += (size_t)r;
    }
    return TIND_OK;
}

static int posix_sync(fs_file *file, int mode, tind_err *err)
{
    posix_file *f = (posix_file *)file;
    /* No retry on failure of any kind: after a failed fsync the kernel may
     * already have dropped the dirty pages (see TESTING.md). */
    int r = mode == FS_SYNC_DATA ? fdatasync(f->fd) : fsync(f->fd);
    if (r != 0)
        return err_errno(err, errno, mode == FS_SYNC_DATA ? "fdatasync" : "fsync", f->base.path);
    return TIND_OK;
}

static int posix_size(fs_file *file, uint64_t *size, tind_err *err)
{
    posix_file *f = (posix_file *)file;
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return err_errno(err, errno, "stat", f->base.path);
    *size = (uint64_t)st.st_size;
    return TIND_OK;
}

static int posix_truncate(fs_file *file, uint64_t size, tind_err *err)
{
    posix_file *f = (posix_file *)file;
    int r;
    do {
        r = ftruncate(f->fd, (off_t)size);
    } while (r != 0 && errno == EINTR);
    if (r != 0)
        return err_errno(err, errno, "truncate", f->base.path);
    return TIND_OK;
}

static int posix_allocate(fs_file *file, uint64_t off, uint64_t len, int mode, tind_err *err)
{
#if defined(__linux__) && defined(FALLOC_FL_KEEP_SIZE)
    posix_file *f = (posix_file *)file;
    if (len == 0)
        return TIND_OK;
    int r;
    do {
        r = fallocate(f->fd, mode == FS_ALLOC_EXTEND ? 0 : FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
    } while (r != 0 && errno == EINTR);
    if (r != 0) {
        /* file systems without preallocation: a hint is skipped */
        if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)
            return mode == FS_ALLOC_EXTEND ? TIND_ENOTSUP : TIND_OK;
        return err_errno(err, errno, "fallocate", f->base.path);
    }
    return TIND_OK;
#else
    (void)file, (void)off, (void)len, (void)err;
    return mode == FS_ALLOC_EXTEND ? TIND_ENOTSUP : TIND_OK;
#endif
}

static int posix_rename(fs *fsys, const char *from, const char *to, tind_err *err)
{
    if (rename(from, to) != 0) {
        int e = errno;
        return err_set(err, err_from_errno(e), "rename '%s' to '%s': %s", from, to, strerror(e));
    }
    return TIND_OK;
}

static int posix_link(fs *fsys, const char *from, const char *to, tind_err *err)
{
    if (link(from, to) != 0) {
        int e = errno;
        return err_set(err, err_from_errno(e), "link '%s' to '%s': %s", from, to, strerror(e));
    }
    return TIND_OK;
}

static int posix_unlink(fs *fsys, const char *path, tind_err *err)
{
    if (unlink(path) != 0)
        return err_errno(err, errno, "unlink", path);
    return TIND_OK;
}

static int posix_mkdir(fs *fsys, const char *path, tind_err *err)
{
    if (mkdir(path, 0755) != 0)
        return err_errno(err, errno, "mkdir", path);   /* EEXIST -> TIND_EEXIST */
    return TIND_OK;
}

static int posix_rmdir(fs *fsys, const char *path, tind_err *err)
{
    if (rmdir(path) != 0)
        return err_errno(err, errno, "rmdir", path);
    return TIND_OK;
}

static int posix_sync_dir(fs *fsys, const char *path, tind_err *err)
{
    int fd;
    do {
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return err_errno(err, errno, "open directory", path);
    int rc = TIND_OK;
    /* EINVAL: this file system cannot sync directories; nothing more to do */
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = err_errno(err, errno, "fsync directory", path);
    close(fd);
    return rc;
}

static int posix_list(fs *fsys, const char *dir, char ***names, size_t *count, tind_err *err)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return err_errno(err, errno, "list", dir);
    char **v = NULL;
    size_t n = 0, cap = 0;
    int rc = TIND_OK;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0)
                rc = err_errno(err, errno, "list", dir);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = err_set(err, TIND_ENOMEM, "list '%s': out of memory", dir);
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[n] = strdup(de->d_name);
        if (!v[n]) {
            rc = err_set(err, TIND_ENOMEM, "list '%s': out of memory", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc != TIND_OK) {
        fs_list_free(v, n);
        return rc;
    }
    *names = v;
    *count = n;
    return TIND_OK;
}

static int posix_exists(fs *fsys, const char *path, int *is_dir)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return err_from_errno(errno);
    if (is_dir)
        *is_dir = S_ISDIR(st.st_mode) ? 1 : 0;
    return TIND_OK;
}

static int posix_lock_file(fs *fsys, const char *path, int mode, fs_lock **out, tind_err *err)
{
    *out = NULL;
    posix_lock *l = calloc(1, sizeof *l);
    if (l)
        l->path = strdup(path);
    if (!l || !l->path) {
        free(l);
        return err_set(err, TIND_ENOMEM, "lock '%s': out of memory", path);
    }
    int fd;
    do {
        fd = mode == FS_LOCK_SHARED ? open(path, O_RDONLY | O_CLOEXEC) : open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int e = errno;
        free(l->path);
        free(l);
        return err_errno(err, e, "open lock file", path);
    }
    int r;
    do {
        r = flock(fd, (mode == FS_LOCK_SHARED ? LOCK_SH : LOCK_EX) | LOCK_NB);
    } while (r != 0 && errno == EINTR);
    if (r != 0) {
        int e = errno;
        close(fd);
        free(l->path);
        free(l);
        if (e == EWOULDBLOCK)
            return err_set(err, TIND_EBUSY,
                           "database folder '%s' is locked by another process or handle", path);
        return err_errno(err, e, "lock", path);
    }
    l->base.owner = fsys;
    l->fd = fd;
    *out = &l->base;
    return TIND_OK;
}

static int posix_unlock(fs_lock *lock, tind_err *err)
{
    posix_lock *l = (posix_lock *)lock;
    int rc = TIND_OK;
    if (close(l->fd) != 0 && errno != EINTR)
        rc = err_errno(err, errno, "unlock", l->path);
    free(l->path);
    free(l);
    return rc;
}

static void posix_destroy(fs *fsys)
{
    free(fsys);
}

static const fs_ops posix_ops = {
    .open = posix_open,
    .close = posix_close,
    .read = posix_read,
    .write = posix_write,
    .sync = posix_sync,
    .size = posix_size,
    .truncate = posix_truncate,
    .allocate = posix_allocate,
    .rename = posix_rename,
    .link = posix_link,
    .unlink = posix_unlink,
    .mkdir = posix_mkdir,
    .rmdir = posix_rmdir,
    .sync_dir = posix_sync_dir,
    .list = posix_list,
    .exists = posix_exists,
    .lock = posix_lock_file,
    .unlock = posix_unlock,
    .destroy = posix_destroy,
};

fs *fs_posix_new(void)
{
    fs *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->ops = &posix_ops;
    f->name = "posix";
    return f;
}
