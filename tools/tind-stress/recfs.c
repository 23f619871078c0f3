/*
 * recfs.c -- the recording file system of the kill campaign and the
 * power-loss simulation that replays its log (recfs.h).
 *
 * The log: one line per record, "<type> <fields> #<xxh3 of the text, 16 hex
 * digits>", written with one write(2) to a file opened O_APPEND; a line
 * whose checksum fails ends it (a torn tail). Types:
 *     C path                 create (a file, or the lock file)
 *     T path len             truncate to len (also an open with O_TRUNC)
 *     O path len             first write-open this life of a file made before it
 *     S path len             fs_sync succeeded; [0, len) is durable
 *     D dir                  fs_sync_dir succeeded
 *     W path off len undo    write below the durable length; old bytes in undo
 *     R from to grave|-      rename; the replaced target linked to grave
 *     U path grave           unlink; the victim linked to grave
 *     L from to              link
 *     M dir / X dir          mkdir / rmdir
 *     F                      the operation of the previous record failed
 * Intents (C T R U L M X W) are logged before the operation, under the
 * recorder's mutex held to its end, so only the last one can be unexecuted;
 * S and D after it.
 *
 * The child side (rec_*) keeps, per file it wrote, the durable length; the
 * parent side (sim_*) replays the log forward to learn which names refer to
 * which files and which directory operations a later D covered, then undoes
 * the uncovered ones newest first and cuts every written file back.
 *
 * Thread-safety: rec_fs is called from the engine's threads; its mutex
 * guards the entry table and orders log records with the operations they
 * describe. The simulation is single-threaded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common.h"
#include "recfs.h"
#include "tind_internal.h"

/* ================================================================ the recording layer (child) */

typedef struct rec_entry {
    char *path;               /* current name (a grave name once unlinked or replaced) */
    uint64_t durable;         /* bytes [0, durable) survive a power loss */
    struct rec_entry *next;
} rec_entry;

typedef struct rec_fs {
    fs base;
    fs *inner;
    pthread_mutex_t mu;       /* guards everything below and orders log records */
    int log_fd;
    char *grave;
    uint64_t grave_seq;
    rec_entry *entries;
} rec_fs;

typedef struct rec_file {
    fs_file base;
    fs_file *inner;
    rec_entry *e;             /* NULL for read-only handles */
} rec_file;

static const fs_ops rec_ops;

static void rec_die(const char *what)
{
    fprintf(stderr, "tind-stress child: recording layer: %s: %s\n", what, strerror(errno));
    _exit(4);
}

/* One line "<text> #<xxh3 hex>\n" in one write(2). (mu) */
static void rec_log(rec_fs *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec_log(rec_fs *r, const char *fmt, ...)
{
    char line[8400];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, 8192, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= 8192)
        rec_die("log line too long");
    uint64_t h = hash64(line, (size_t)n);
    n += snprintf(line + n, sizeof line - (size_t)n, " #%016" PRIx64 "\n", h);
    ssize_t w = write(r->log_fd, line, (size_t)n);
    if (w != n)
        rec_die("log write");
}

static rec_entry *rec_find(rec_fs *r, const char *path)
{
    for (rec_entry *e = r->entries; e; e = e->next)
        if (strcmp(e->path, path) == 0)
            return e;
    return NULL;
}

static rec_entry *rec_add(rec_fs *r, const char *path, uint64_t durable)
{
    rec_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->path = strdup(path)))
        rec_die("out of memory");
    e->durable = durable;
    e->next = r->entries;
    r->entries = e;
    return e;
}

static void rec_rename_entry(rec_entry *e, const char *to)
{
    char *p = strdup(to);
    if (!p)
        rec_die("out of memory");
    free(e->path);
    e->path = p;
}

static int rec_exists(rec_fs *r, const char *path) { return fs_exists(r->inner, path, NULL) == TIND_OK; }

static void rec_grave_name(rec_fs *r, char *buf, size_t n)
{
    snprintf(buf, n, "%s/g%d.%" PRIu64, r->grave, (int)getpid(), ++r->grave_seq);
}

static int rec_open(fs *fsys, const char *path, int flags, fs_file **out, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    *out = NULL;
    rec_file *f = calloc(1, sizeof *f);
    char *copy = strdup(path);
    if (!f || !copy) {
        free(f);
        free(copy);
        return err_set(err, TIND_ENOMEM, "open '%s': out of memory", path);
    }
    pthread_mutex_lock(&r->mu);
    int exists = rec_exists(r, path), writing = (flags & FS_O_WRITE) != 0, logged = 0;
    if ((flags & FS_O_CREATE) && !exists) {
        rec_log(r, "C %s", path);
        logged = 1;
    } else if (exists && writing && (flags & FS_O_TRUNC)) {
        rec_log(r, "T %s 0", path);
        logged = 1;
    }
    int rc = fs_open(r->inner, path, flags, &f->inner, err);
    if (rc) {
        if (logged)
            rec_log(r, "F");
        pthread_mutex_unlock(&r->mu);
        free(f);
        free(copy);
        return rc;
    }
    if (writing) {
        rec_entry *e = rec_find(r, path);
        if (!exists || (flags & FS_O_TRUNC)) {
            if (!e)
                e = rec_add(r, path, 0);
            e->durable = 0;
        } else if (!e) {
            /* a file from before this life: all of it is durable */
            uint64_t size = 0;
            if (fs_size(f->inner, &size, NULL) != TIND_OK)
                rec_die("size");
            e = rec_add(r, path, size);
            rec_log(r, "O %s %" PRIu64, path, size);
        }
        f->e = e;
    }
    pthread_mutex_unlock(&r->mu);
    f->base.owner = fsys;
    f->base.path = copy;
    *out = &f->base;
    return TIND_OK;
}

static int rec_close(fs_file *file, tind_err *err)
{
    rec_file *f = (rec_file *)file;
    int rc = fs_close(f->inner, err);
    free(f->base.path);
    free(f);
    return rc;
}

static int rec_read(fs_file *file, void *buf, size_t n, uint64_t off, size_t *got, tind_err *err)
{
    return fs_read(((rec_file *)file)->inner, buf, n, off, got, err);
}

/* A write below the durable length: save the old bytes first. (mu) */
static int rec_overwrite(rec_fs *r, rec_file *f, const void *buf, size_t n, uint64_t off, tind_err *err)
{
    size_t m = (size_t)(f->e->durable - off < n ? f->e->durable - off : n);
    uint8_t *old = malloc(m ? m : 1);
    size_t got = 0;
    if (!old)
        rec_die("out of memory");
    int rc = fs_read(f->inner, old, m, off, &got, err);
    if (rc) {
        free(old);
        return rc;
    }
    char undo[4200];
    rec_grave_name(r, undo, sizeof undo);
    int fd = open(undo, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, old, got) != (ssize_t)got || close(fd) != 0)
        rec_die("undo file");
    free(old);
    rec_log(r, "W %s %" PRIu64 " %zu %s", f->e->path, off, got, undo);
    return fs_write(f->inner, buf, n, off, err);
}

static int rec_write(fs_file *file, const void *buf, size_t n, uint64_t off, tind_err *err)
{
    rec_file *f = (rec_file *)file;
    rec_fs *r = (rec_fs *)file->owner;
    if (f->e) {
        pthread_mutex_lock(&r->mu);
        if (off < f->e->durable) {
            int rc = rec_overwrite(r, f, buf, n, off, err);
            pthread_mutex_unlock(&r->mu);
            return rc;
        }
        pthread_mutex_unlock(&r->mu);
    }
    return fs_write(f->inner, buf, n, off, err);
}

static int rec_sync(fs_file *file, int mode, tind_err *err)
{
    rec_file *f = (rec_file *)file;
    rec_fs *r = (rec_fs *)file->owner;
    uint64_t size = 0;
    int have_size = fs_size(f->inner, &size, NULL) == TIND_OK; /* before: all of it is durable after */
    int rc = fs_sync(f->inner, mode, err);
    if (rc == TIND_OK && f->e && have_size) {
        pthread_mutex_lock(&r->mu);
        f->e->durable = size;
        rec_log(r, "S %s %" PRIu64, f->e->path, size);
        pthread_mutex_unlock(&r->mu);
    }
    return rc;
}

static int rec_size(fs_file *file, uint64_t *size, tind_err *err) { return fs_size(((rec_file *)file)->inner, size, err); }

static int rec_truncate(fs_file *file, uint64_t size, tind_err *err)
{
    rec_file *f = (rec_file *)file;
    rec_fs *r = (rec_fs *)file->owner;
    pthread_mutex_lock(&r->mu);
    rec_log(r, "T %s %" PRIu64, f->e ? f->e->path : file->path, size);
    if (f->e && f->e->durable > size)
        f->e->durable = size;
    int rc = fs_truncate(f->inner, size, err);
    if (rc)
        rec_log(r, "F");
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* An extension is the file's size: durable once a sync has seen it (its
 * zeros are then what a power loss leaves), like written bytes. */
static int rec_allocate(fs_file *file, uint64_t off, uint64_t len, int mode, tind_err *err)
{
    return fs_allocate(((rec_file *)file)->inner, off, len, mode, err);
}

static int rec_rename(fs *fsys, const char *from, const char *to, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    pthread_mutex_lock(&r->mu);
    char grave[4200] = "-";
    int replaced = rec_exists(r, to);
    if (replaced) {
        rec_grave_name(r, grave, sizeof grave);
        if (link(to, grave) != 0)
            rec_die("link to grave");
    }
    rec_log(r, "R %s %s %s", from, to, grave);
    int rc = fs_rename(r->inner, from, to, err);
    if (rc) {
        rec_log(r, "F");
        if (replaced)
            unlink(grave);
    } else {
        rec_entry *old = rec_find(r, to), *moved = rec_find(r, from);
        if (old)
            rec_rename_entry(old, grave);
        if (moved) {
            rec_rename_entry(moved, to);
        } else {
            struct stat st;
            rec_add(r, to, stat(to, &st) == 0 ? (uint64_t)st.st_size : 0);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_link(fs *fsys, const char *from, const char *to, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    pthread_mutex_lock(&r->mu);
    rec_log(r, "L %s %s", from, to);
    int rc = fs_link(r->inner, from, to, err);
    if (rc) {
        rec_log(r, "F");
    } else {
        rec_entry *src = rec_find(r, from);
        struct stat st;
        rec_add(r, to, src ? src->durable : stat(to, &st) == 0 ? (uint64_t)st.st_size : 0);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_unlink(fs *fsys, const char *path, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    pthread_mutex_lock(&r->mu);
    if (!rec_exists(r, path)) {
        pthread_mutex_unlock(&r->mu);
        return fs_unlink(r->inner, path, err); /* fails as it should */
    }
    char grave[4200];
    rec_grave_name(r, grave, sizeof grave);
    if (link(path, grave) != 0)
        rec_die("link to grave");
    rec_log(r, "U %s %s", path, grave);
    int rc = fs_unlink(r->inner, path, err);
    if (rc) {
        rec_log(r, "F");
        unlink(grave);
    } else {
        rec_entry *e = rec_find(r, path);
        if (e)
            rec_rename_entry(e, grave);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_mkdir(fs *fsys, const char *path, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    pthread_mutex_lock(&r->mu);
    int logged = !rec_exists(r, path);
    if (logged)
        rec_log(r, "M %s", path);
    int rc = fs_mkdir(r->inner, path, err);
    if (rc && logged)
        rec_log(r, "F");
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_rmdir(fs *fsys, const char *path, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    pthread_mutex_lock(&r->mu);
    rec_log(r, "X %s", path);
    int rc = fs_rmdir(r->inner, path, err);
    if (rc)
        rec_log(r, "F");
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_sync_dir(fs *fsys, const char *path, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    int rc = fs_sync_dir(r->inner, path, err);
    if (rc == TIND_OK) {
        pthread_mutex_lock(&r->mu);
        rec_log(r, "D %s", path);
        pthread_mutex_unlock(&r->mu);
    }
    return rc;
}

static int rec_list(fs *fsys, const char *dir, char ***names, size_t *count, tind_err *err)
{
    return fs_list(((rec_fs *)fsys)->inner, dir, names, count, err);
}

static int rec_exists_op(fs *fsys, const char *path, int *is_dir) { return fs_exists(((rec_fs *)fsys)->inner, path, is_dir); }

/* The lock is the inner fs's own object (its owner is inner, so fs_unlock
 * goes straight there); only the creation of the lock file is recorded. */
static int rec_lock(fs *fsys, const char *path, int mode, fs_lock **out, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    pthread_mutex_lock(&r->mu);
    int logged = mode == FS_LOCK_EXCLUSIVE && !rec_exists(r, path);
    if (logged)
        rec_log(r, "C %s", path);
    int rc = r->inner->ops->lock(r->inner, path, mode, out, err);
    if (rc && logged)
        rec_log(r, "F");
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_unlock(fs_lock *lock, tind_err *err) { return fs_unlock(lock, err); }

static void rec_destroy(fs *fsys)
{
    rec_fs *r = (rec_fs *)fsys;
    while (r->entries) {
        rec_entry *e = r->entries;
        r->entries = e->next;
        free(e->path);
        free(e);
    }
    close(r->log_fd);
    fs_destroy(r->inner);
    free(r->grave);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static const fs_ops rec_ops = {
    .open = rec_open,
    .close = rec_close,
    .read = rec_read,
    .write = rec_write,
    .sync = rec_sync,
    .size = rec_size,
    .truncate = rec_truncate,
    .allocate = rec_allocate,
    .rename = rec_rename,
    .link = rec_link,
    .unlink = rec_unlink,
    .mkdir = rec_mkdir,
    .rmdir = rec_rmdir,
    .sync_dir = rec_sync_dir,
    .list = rec_list,
    .exists = rec_exists_op,
    .lock = rec_lock,
    .unlock = rec_unlock,
    .destroy = rec_destroy,
};

fs *recfs_new(const char *log_path, const char *grave)
{
    rec_fs *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->inner = fs_posix_new();
    r->grave = strdup(grave);
    r->log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (!r->inner || !r->grave || r->log_fd < 0) {
        fs_destroy(r->inner);
        free(r->grave);
        if (r->log_fd >= 0)
            close(r->log_fd);
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->base.ops = &rec_ops;
    r->base.name = "recording";
    return &r->base;
}

/* ================================================================ the power-loss simulation (parent) */

typedef struct prec {
    char t;
    char *a, *b, *c;
    uint64_t n1, n2;
} prec;

typedef struct pfile {
    int64_t durable;          /* -1: untouched this life (all of it durable) */
    int done;
} pfile;

typedef struct pname {
    char *path;
    int file;
} pname;

typedef struct pundo {
    int file;
    uint64_t off, len;
    char *undo;
    int pending;
} pundo;

typedef struct pop {
    const prec *r;
    char d1[4200], d2[4200];  /* the folders whose sync makes it durable */
    int s1, s2;
} pop;

typedef struct psim {
    char *buf;
    prec *recs;
    size_t nrec;
    pfile *files;
    size_t nfiles, capfiles;
    pname *names;
    size_t nnames, capnames;
    pundo *writes;
    size_t nwrites, capwrites;
    pop *ops;
    size_t nops, capops;
    char err[512];
    /* results */
    uint64_t undone, kept_unsynced, bytes_dropped, torn, truncated, overwrites;
    int dir_mode, data_mode;
} psim;

#define GROW(arr, n, cap)                                                          \
    do {                                                                           \
        if ((n) == (cap)) {                                                        \
            size_t nc_ = (cap) ? (cap) * 2 : 64;                                   \
            void *p_ = realloc((arr), nc_ * sizeof *(arr));                        \
            if (!p_) {                                                             \
                fprintf(stderr, "tind-stress: out of memory\n");                   \
                exit(2);                                                           \
            }                                                                      \
            (arr) = p_;                                                            \
            (cap) = nc_;                                                           \
        }                                                                          \
    } while (0)

static int path_exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static void dir_of(const char *path, char *out, size_t n)
{
    snprintf(out, n, "%s", path);
    char *s = strrchr(out, '/');
    if (s == out)
        out[1] = 0;
    else if (s)
        *s = 0;
    else
        snprintf(out, n, ".");
}

static int sim_name_find(psim *s, const char *path)
{
    for (size_t i = 0; i < s->nnames; i++)
        if (strcmp(s->names[i].path, path) == 0)
            return (int)i;
    return -1;
}

static int sim_file_new(psim *s, int64_t durable)
{
    GROW(s->files, s->nfiles, s->capfiles);
    s->files[s->nfiles] = (pfile){durable, 0};
    return (int)s->nfiles++;
}

static void sim_name_set(psim *s, char *path, int file)
{
    int i = sim_name_find(s, path);
    if (i >= 0) {
        s->names[i].file = file;
        return;
    }
    GROW(s->names, s->nnames, s->capnames);
    s->names[s->nnames++] = (pname){path, file};
}

static void sim_name_del(psim *s, const char *path)
{
    int i = sim_name_find(s, path);
    if (i >= 0)
        s->names[i] = s->names[--s->nnames];
}

/* The file a name refers to; a name not seen this life is an untouched file. */
static int sim_file_of(psim *s, char *path)
{
    int i = sim_name_find(s, path);
    if (i >= 0)
        return s->names[i].file;
    int f = sim_file_new(s, -1);
    sim_name_set(s, path, f);
    return f;
}

static void sim_free(psim *s)
{
    free(s->buf);
    free(s->recs);
    free(s->files);
    free(s->names);
    free(s->writes);
    free(s->ops);
    memset(s, 0, sizeof *s);
}

/* Reads the log; stops at the first line whose checksum fails (a torn tail). */
static int sim_load(psim *s, const char *log_path)
{
    FILE *f = fopen(log_path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(s->err, sizeof s->err, "open %.400s: %s", log_path, strerror(errno));
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    s->buf = malloc((size_t)len + 1);
    if (!s->buf || fread(s->buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        snprintf(s->err, sizeof s->err, "read %.400s", log_path);
        return -1;
    }
    fclose(f);
    s->buf[len] = 0;
    size_t cap = 0;
    char *p = s->buf, *end = s->buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break; /* torn */
        *nl = 0;
        char *hash = strrchr(p, '#');
        if (!hash || hash == p || hash[-1] != ' ' || strlen(hash + 1) != 16)
            break;
        uint64_t want = strtoull(hash + 1, NULL, 16);
        if (hash64(p, (size_t)(hash - 1 - p)) != want)
            break;
        hash[-1] = 0;
        prec r;
        memset(&r, 0, sizeof r);
        r.t = p[0];
        char *save = NULL, *tok = strtok_r(p, " ", &save);
        (void)tok;
        char *f1 = strtok_r(NULL, " ", &save), *f2 = strtok_r(NULL, " ", &save), *f3 = strtok_r(NULL, " ", &save),
             *f4 = strtok_r(NULL, " ", &save);
        switch (r.t) {
        case 'C': case 'M': case 'X': case 'D':
            r.a = f1;
            break;
        case 'O': case 'T': case 'S':
            r.a = f1;
            r.n1 = f2 ? strtoull(f2, NULL, 10) : 0;
            break;
        case 'W':
            r.a = f1;
            r.n1 = f2 ? strtoull(f2, NULL, 10) : 0;
            r.n2 = f3 ? strtoull(f3, NULL, 10) : 0;
            r.b = f4;
            break;
        case 'R':
            r.a = f1;
            r.b = f2;
            r.c = f3;
            break;
        case 'U': case 'L':
            r.a = f1;
            r.b = f2;
            break;
        case 'F':
            break;
        default:
            snprintf(s->err, sizeof s->err, "log record of unknown type '%c'", r.t);
            return -1;
        }
        if (r.t != 'F' && (!r.a || ((r.t == 'W' || r.t == 'R' || r.t == 'U' || r.t == 'L') && !r.b) ||
                           (r.t == 'R' && !r.c))) {
            snprintf(s->err, sizeof s->err, "malformed log record of type '%c'", r.t);
            return -1;
        }
        if (r.t == 'F') {
            if (s->nrec)
                s->nrec--; /* the previous operation failed: it did not happen */
        } else {
            GROW(s->recs, s->nrec, cap);
            s->recs[s->nrec++] = r;
        }
        p = nl + 1;
    }
    return 0;
}

/* Every intent record but the last was carried out (the child holds its
 * lock from the record to the end of the operation); the last one may not
 * have been, if the kill came in between. Drop it then, judging from what
 * the folder shows. */
static void sim_drop_unexecuted_tail(psim *s)
{
    if (!s->nrec)
        return;
    const prec *r = &s->recs[s->nrec - 1];
    struct stat st;
    int done = 1;
    switch (r->t) {
    case 'T':
        done = lstat(r->a, &st) != 0 || (uint64_t)st.st_size <= r->n1;
        break;
    case 'R':
    case 'U':
    case 'X':
        done = !path_exists(r->a);
        break;
    case 'C':
    case 'M':
        done = path_exists(r->a);
        break;
    case 'L':
        done = path_exists(r->b);
        break;
    default:
        break;
    }
    if (!done)
        s->nrec--;
}

static void sim_forward(psim *s)
{
    for (size_t i = 0; i < s->nrec; i++) {
        prec *r = &s->recs[i];
        int f;
        switch (r->t) {
        case 'C':
            sim_name_set(s, r->a, sim_file_new(s, 0));
            break;
        case 'O':
            if (sim_name_find(s, r->a) < 0)
                sim_name_set(s, r->a, sim_file_new(s, (int64_t)r->n1));
            break;
        case 'T':
            f = sim_file_of(s, r->a);
            if (s->files[f].durable < 0 || s->files[f].durable > (int64_t)r->n1)
                s->files[f].durable = (int64_t)r->n1;
            break;
        case 'S':
            f = sim_file_of(s, r->a);
            s->files[f].durable = (int64_t)r->n1;
            for (size_t w = 0; w < s->nwrites; w++)
                if (s->writes[w].file == f)
                    s->writes[w].pending = 0;
            break;
        case 'W':
            f = sim_file_of(s, r->a);
            GROW(s->writes, s->nwrites, s->capwrites);
            s->writes[s->nwrites++] = (pundo){f, r->n1, r->n2, r->b, 1};
            break;
        case 'R': {
            int moved = sim_file_of(s, r->a);
            if (strcmp(r->c, "-") != 0)
                sim_name_set(s, r->c, sim_file_of(s, r->b));
            sim_name_set(s, r->b, moved);
            sim_name_del(s, r->a);
            break;
        }
        case 'U':
            sim_name_set(s, r->b, sim_file_of(s, r->a));
            sim_name_del(s, r->a);
            break;
        case 'L':
            sim_name_set(s, r->b, sim_file_of(s, r->a));
            break;
        default:
            break;
        }
        if (r->t == 'D') {
            for (size_t k = 0; k < s->nops; k++) {
                if (strcmp(s->ops[k].d1, r->a) == 0)
                    s->ops[k].s1 = 1;
                if (strcmp(s->ops[k].d2, r->a) == 0)
                    s->ops[k].s2 = 1;
            }
        } else if (strchr("CRULMX", r->t)) {
            GROW(s->ops, s->nops, s->capops);
            pop *op = &s->ops[s->nops++];
            op->r = r;
            op->s1 = op->s2 = 0;
            dir_of(r->a, op->d1, sizeof op->d1);
            dir_of((r->t == 'R' || r->t == 'L') ? r->b : r->a, op->d2, sizeof op->d2);
        }
    }
}

static int sim_undo(psim *s, const prec *r)
{
    switch (r->t) {
    case 'C':
        if (path_exists(r->a) && unlink(r->a) != 0)
            return -1;
        sim_name_del(s, r->a);
        return 0;
    case 'R':
        if (!path_exists(r->a) && path_exists(r->b)) {
            if (rename(r->b, r->a) != 0)
                return -1;
            int i = sim_name_find(s, r->b);
            if (i >= 0)
                sim_name_set(s, r->a, s->names[i].file);
            sim_name_del(s, r->b);
            if (strcmp(r->c, "-") != 0 && path_exists(r->c)) {
                if (link(r->c, r->b) != 0)
                    return -1;
                int g = sim_name_find(s, r->c);
                if (g >= 0)
                    sim_name_set(s, r->b, s->names[g].file);
            }
        }
        return 0;
    case 'U':
        if (!path_exists(r->a) && path_exists(r->b)) {
            if (link(r->b, r->a) != 0)
                return -1;
            int g = sim_name_find(s, r->b);
            if (g >= 0)
                sim_name_set(s, r->a, s->names[g].file);
        }
        return 0;
    case 'L':
        if (path_exists(r->b) && unlink(r->b) != 0)
            return -1;
        sim_name_del(s, r->b);
        return 0;
    case 'M': {
        stress_rmtree(r->a);
        size_t l = strlen(r->a);
        for (size_t i = 0; i < s->nnames;) {
            if (strncmp(s->names[i].path, r->a, l) == 0 && s->names[i].path[l] == '/')
                s->names[i] = s->names[--s->nnames];
            else
                i++;
        }
        return 0;
    }
    case 'X':
        if (!path_exists(r->a) && mkdir(r->a, 0755) != 0)
            return -1;
        return 0;
    default:
        return 0;
    }
}

/* Cuts one file back to what a power loss could leave of it. */
static int sim_file(psim *s, const char *path, int f, trng *rng)
{
    pfile *pf = &s->files[f];
    pf->done = 1;
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    uint64_t d = (uint64_t)pf->durable;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(s->err, sizeof s->err, "open %.400s: %s", path, strerror(errno));
        return -1;
    }
    /* unsynced overwrites of durable bytes, newest first */
    for (size_t w = s->nwrites; w-- > 0;) {
        pundo *pw = &s->writes[w];
        if (pw->file != f || !pw->pending || pw->off >= d)
            continue;
        uint64_t len = pw->off + pw->len > d ? d - pw->off : pw->len;
        uint8_t *old = malloc(len ? len : 1);
        int ufd = open(pw->undo, O_RDONLY | O_CLOEXEC);
        int ok = old && ufd >= 0 && read(ufd, old, len) == (ssize_t)len &&
                 pwrite(fd, old, len, (off_t)pw->off) == (ssize_t)len;
        if (ufd >= 0)
            close(ufd);
        free(old);
        if (!ok) {
            close(fd);
            snprintf(s->err, sizeof s->err, "undo overwrite of %.400s: %s", path, strerror(errno));
            return -1;
        }
        s->overwrites++;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < d) {
        close(fd);
        snprintf(s->err, sizeof s->err, "%.300s is %" PRIu64 " bytes, shorter than its synced length %" PRIu64
                 " (the recording layer missed an operation)", path, size, d);
        return -1;
    }
    if (size > d) {
        uint64_t keep = d;
        if (s->data_mode != 0)
            keep = d + trng_below(rng, size - d + 1);
        if (ftruncate(fd, (off_t)keep) != 0) {
            close(fd);
            snprintf(s->err, sizeof s->err, "truncate %.400s: %s", path, strerror(errno));
            return -1;
        }
        s->truncated++;
        s->bytes_dropped += size - keep;
        if (s->data_mode == 2 && keep > d) {
            /* garble a run inside the last sector, past the synced length */
            uint64_t start = ((keep - 1) / 512) * 512;
            if (start < d)
                start = d;
            uint64_t a = start + trng_below(rng, keep - start);
            uint64_t b = a + 1 + trng_below(rng, keep - a);
            uint8_t buf[512];
            if (pread(fd, buf, (size_t)(b - a), (off_t)a) == (ssize_t)(b - a)) {
                for (uint64_t i = 0; i < b - a; i++)
                    buf[i] ^= (uint8_t)(1 + trng_below(rng, 255));
                if (pwrite(fd, buf, (size_t)(b - a), (off_t)a) != (ssize_t)(b - a)) {
                    close(fd);
                    snprintf(s->err, sizeof s->err, "tear %.400s: %s", path, strerror(errno));
                    return -1;
                }
                s->torn++;
            }
        }
    }
    close(fd);
    return 0;
}

/* Applies a simulated power loss to the folder from the child's log. */
static int sim_power_loss(psim *s, const char *log_path, const char *grave, trng *rng)
{
    if (sim_load(s, log_path) != 0)
        return -1;
    sim_drop_unexecuted_tail(s);
    sim_forward(s);
    uint64_t m = trng_below(rng, 10);
    s->dir_mode = m < 5 ? 0 : m < 7 ? 1 : 2;       /* drop all / keep all / each at random */
    m = trng_below(rng, 10);
    s->data_mode = m < 4 ? 0 : m < 7 ? 1 : 2;      /* drop tails / keep a prefix / and tear it */
    for (size_t k = s->nops; k-- > 0;) {
        pop *op = &s->ops[k];
        if (op->s1 && op->s2)
            continue;
        int drop = s->dir_mode == 0 || (s->dir_mode == 2 && trng_below(rng, 2) == 0);
        if (!drop) {
            s->kept_unsynced++;
            continue;
        }
        if (sim_undo(s, op->r) != 0) {
            snprintf(s->err, sizeof s->err, "undo '%c %.400s': %s", op->r->t, op->r->a, strerror(errno));
            return -1;
        }
        s->undone++;
    }
    size_t gl = strlen(grave);
    for (size_t i = 0; i < s->nnames; i++) {
        pname *n = &s->names[i];
        if (strncmp(n->path, grave, gl) == 0 && n->path[gl] == '/')
            continue;
        if (s->files[n->file].done || s->files[n->file].durable < 0)
            continue;
        if (sim_file(s, n->path, n->file, rng) != 0)
            return -1;
    }
    return 0;
}

int recfs_power_loss(const char *log_path, const char *grave, trng *rng, recfs_loss *out)
{
    psim s;
    memset(&s, 0, sizeof s);
    int rc = sim_power_loss(&s, log_path, grave, rng);
    memset(out, 0, sizeof *out);
    out->records = s.nrec;
    out->dir_mode = s.dir_mode;
    out->data_mode = s.data_mode;
    out->undone = s.undone;
    out->kept_unsynced = s.kept_unsynced;
    out->bytes_dropped = s.bytes_dropped;
    out->torn = s.torn;
    out->truncated = s.truncated;
    out->overwrites = s.overwrites;
    snprintf(out->err, sizeof out->err, "%s", s.err);
    sim_free(&s);
    return rc;
}
