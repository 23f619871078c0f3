/*
 * fs_util.c -- helpers built on the fs interface, shared by every
 * implementation: reading a whole file, reading an exact range, writing a
 * small file atomically and durably, and the buffered sequential writer.
 *
 * Invariants
 *   - fs_write_atomic() never leaves `dir/name` half-written: the bytes go to
 *     "<name>.tmp" first, are fsynced, then renamed over `name`, and the
 *     directory is synced so the rename itself survives a power loss. On any
 *     failure the temporary file is removed (best effort) and `name` keeps its
 *     old contents.
 *   - An fs_writer's `offset` is always flushed + buf_len: the logical end of
 *     the file as seen by the writer. A failed flush leaves the buffer intact
 *     (nothing is dropped silently); the caller decides whether to give up.
 * Thread-safety: the free functions are as thread-safe as the fs beneath
 * them; an fs_writer belongs to one thread at a time.
 */
#include "io/fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FS_WRITER_DEFAULT_BUF (64u * 1024u)

void fs_list_free(char **names, size_t count)
{
    if (!names)
        return;
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

int fs_read_exact(fs_file *f, void *buf, size_t n, uint64_t off, tind_err *err)
{
    size_t got = 0;
    int rc = fs_read(f, buf, n, off, &got, err);
    if (rc != TIND_OK)
        return rc;
    if (got != n)
        return err_set(err, TIND_ECORRUPT,
                       "'%s': truncated: wanted %zu bytes at offset %llu, file ends after %zu",
                       f->path, n, (unsigned long long)off, got);
    return TIND_OK;
}

int fs_read_all(fs *fsys, const char *path, uint8_t **data, size_t *len, tind_err *err)
{
    *data = NULL;
    *len = 0;
    fs_file *f = NULL;
    int rc = fs_open(fsys, path, FS_O_READ, &f, err);
    if (rc != TIND_OK)
        return rc;
    uint64_t size = 0;
    rc = fs_size(f, &size, err);
    if (rc != TIND_OK)
        goto done;
    if (size > (uint64_t)SIZE_MAX - 1) {
        rc = err_set(err, TIND_ENOMEM, "'%s': file of %llu bytes does not fit in memory", path,
                     (unsigned long long)size);
        goto done;
    }
    uint8_t *buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        rc = err_set(err, TIND_ENOMEM, "'%s': out of memory reading %llu bytes", path,
                     (unsigned long long)size);
        goto done;
    }
    rc = fs_read_exact(f, buf, (size_t)size, 0, err);
    if (rc != TIND_OK) {
        free(buf);
        goto done;
    }
    *data = buf;
    *len = (size_t)size;
done:
    {
        int crc = fs_close(f, rc == TIND_OK ? err : NULL);
        if (rc == TIND_OK && crc != TIND_OK) {
            free(*data);
            *data = NULL;
            *len = 0;
            rc = crc;
        }
    }
    return rc;
}

static char *fsu_join(const char *dir, const char *name, const char *suffix)
{
    size_t dl = strlen(dir), nl = strlen(name), sl = strlen(suffix);
    int slash = dl > 0 && dir[dl - 1] != '/';
    char *p = malloc(dl + (size_t)slash + nl + sl + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    if (slash)
        p[dl] = '/';
    memcpy(p + dl + slash, name, nl);
    memcpy(p + dl + slash + nl, suffix, sl + 1);
    return p;
}

int fs_write_atomic(fs *fsys, const char *dir, const char *name, const void *data, size_t len,
                    tind_err *err)
{
    char *tmp = fsu_join(dir, name, ".tmp");
    char *dst = fsu_join(dir, name, "");
    if (!tmp || !dst) {
        free(tmp);
        free(dst);
        return err_set(err, TIND_ENOMEM, "out of memory writing '%s/%s'", dir, name);
    }
    fs_file *f = NULL;
    int created = 0;
    int rc = fs_open(fsys, tmp, FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &f, err);
    if (rc == TIND_OK) {
        created = 1;
        if (len)
            rc = fs_write(f, data, len, 0, err);
        if (rc == TIND_OK)
            rc = fs_sync(f, FS_SYNC_ALL, err);
        int crc = fs_close(f, rc == TIND_OK ? err : NULL);
        if (rc == TIND_OK)
            rc = crc;
    }
    if (rc == TIND_OK)
        rc = fs_rename(fsys, tmp, dst, err);
    if (rc == TIND_OK) {
        created = 0;    /* the tmp name is gone: nothing to clean up */
        rc = fs_sync_dir(fsys, dir, err);
    }
    if (rc != TIND_OK && created)
        fs_unlink(fsys, tmp, NULL);
    free(tmp);
    free(dst);
    return rc;
}

int fs_writer_init(fs_writer *w, fs_file *f, uint64_t start, size_t buffer_size)
{
    memset(w, 0, sizeof *w);
    if (buffer_size == 0)
        buffer_size = FS_WRITER_DEFAULT_BUF;
    w->buf = malloc(buffer_size);
    if (!w->buf)
        return TIND_ENOMEM;
    w->file = f;
    w->offset = start;
    w->flushed = start;
    w->buf_cap = buffer_size;
    return TIND_OK;
}

int fs_writer_flush(fs_writer *w, tind_err *err)
{
    if (w->buf_len == 0)
        return TIND_OK;
    int rc = fs_write(w->file, w->buf, w->buf_len, w->flushed, err);
    if (rc != TIND_OK)
        return rc;
    w->flushed += w->buf_len;
    w->buf_len = 0;
    return TIND_OK;
}

int fs_writer_append(fs_writer *w, const void *p, size_t n, tind_err *err)
{
    if (n == 0)
        return TIND_OK;
    if (n <= w->buf_cap - w->buf_len) {
        memcpy(w->buf + w->buf_len, p, n);
        w->buf_len += n;
        w->offset += n;
        return TIND_OK;
    }
    int rc = fs_writer_flush(w, err);
    if (rc != TIND_OK)
        return rc;
    if (n >= w->buf_cap) {
        /* a large append goes straight to the file: no copy */
        rc = fs_write(w->file, p, n, w->flushed, err);
        if (rc != TIND_OK)
            return rc;
        w->flushed += n;
    } else {
        memcpy(w->buf, p, n);
        w->buf_len = n;
    }
    w->offset += n;
    return TIND_OK;
}

int fs_writer_sync(fs_writer *w, int mode, tind_err *err)
{
    int rc = fs_writer_flush(w, err);
    if (rc != TIND_OK)
        return rc;
    return fs_sync(w->file, mode, err);
}

void fs_writer_free(fs_writer *w)
{
    if (!w)
        return;
    free(w->buf);
    w->buf = NULL;
    w->buf_len = 0;
    w->buf_cap = 0;
}
