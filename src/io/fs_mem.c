/*
 * fs_mem.c -- an in-memory file system that remembers what was made durable,
 * so tests can simulate a power loss (fs_mem_crash) at any moment.
 *
 * Model
 *   - A tree of nodes rooted at "/". Paths are split on '/', "" and "."
 *     components are skipped and ".." pops lexically, so "db/x", "/db/x" and
 *     "./db//x" name the same file. Parents are never created implicitly:
 *     like POSIX, opening "a/b" when "a" is missing is TIND_ENOENT.
 *   - A node is a file (an inode) or a directory. Nodes are reference
 *     counted: one reference per entry naming them in any directory map
 *     (current or synced), per open file handle and per lock. Hard links and
 *     unlinked-but-open files fall out of this. Every node is also on the
 *     fs's list of all nodes (creation order), which makes crashes
 *     deterministic and lets destroy free reference cycles.
 *   - A file keeps its current bytes `data[0..len)` and the bytes as of the
 *     last successful sync `synced[0..synced_len)`. `dirty_lo` is the lowest
 *     offset written or truncated since that sync.
 *     Invariant: dirty_lo <= synced_len, dirty_lo <= len, and
 *     data[0..dirty_lo) == synced[0..dirty_lo). So a sync copies only
 *     [dirty_lo, len), and "the current data extends the synced data" is
 *     exactly dirty_lo == synced_len && len > synced_len.
 *   - A directory keeps its current entry map `cur` and the map as of its
 *     last sync_dir `syn`. Creating, renaming, linking, unlinking and mkdir
 *     all change `cur` only. Maps are arrays sorted by name.
 *   - `gen` counts crashes. Handles and locks remember the generation they
 *     were made in; any call on an older one is TIND_EIO (close/unlock still
 *     free it).
 *
 * Thread-safety: one mutex guards everything (nodes, maps, data, gen); every
 * entry point takes it, so concurrent reads, reads during appends by another
 * thread and directory changes are all safe. Reads copy out under the lock.
 */
#include "io/fs.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/rand.h"

#define MEM_SECTOR 512u

typedef struct mem_node mem_node;

typedef struct mem_entry {
    char *name;
    mem_node *node;
} mem_entry;

typedef struct mem_map {
    mem_entry *v;       /* sorted by name (strcmp) */
    size_t n, cap;
} mem_map;

struct mem_node {
    int is_dir;
    int locked;             /* locks of the current generation: -1 = one exclusive, n > 0 = n shared */
    uint64_t refs;
    mem_node *prev, *next;  /* the fs's list of all nodes */
    /* files */
    uint8_t *data;
    size_t len, cap;
    uint8_t *synced;
    size_t synced_len, synced_cap;
    size_t dirty_lo;
    /* directories */
    mem_map cur, syn;
};

typedef struct mem_fs {
    fs base;
    pthread_mutex_t mu;     /* guards everything below and every node */
    mem_node *root;         /* holds one reference of its own */
    mem_node *head, *tail;
    uint64_t gen;
    /* after fs_mem_crash, until the next lock is taken (a new process's
     * open), only the thread that crashed the file system may change it:
     * the crashed process's other threads are dead (fs_mem_crash) */
    int frozen;
    pthread_t crash_thread;
} mem_fs;

typedef struct mem_file {
    fs_file base;
    mem_node *node;
    uint64_t gen;
    int writable;
} mem_file;

typedef struct mem_lock {
    fs_lock base;
    mem_node *node;
    uint64_t gen;
    int shared;
} mem_lock;

static const fs_ops mem_ops;

/* ------------------------------------------------------------------ nodes */

static mem_node *mem_node_new(mem_fs *m, int is_dir)
{
    mem_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->is_dir = is_dir;
    n->prev = m->tail;
    if (m->tail)
        m->tail->next = n;
    else
        m->head = n;
    m->tail = n;
    return n;
}

static void mem_node_free_storage(mem_node *n)
{
    for (size_t i = 0; i < n->cur.n; i++)
        free(n->cur.v[i].name);
    for (size_t i = 0; i < n->syn.n; i++)
        free(n->syn.v[i].name);
    free(n->cur.v);
    free(n->syn.v);
    free(n->data);
    free(n->synced);
    free(n);
}

static void mem_ref(mem_node *n) { n->refs++; }

static void mem_unref(mem_fs *m, mem_node *n)
{
    if (--n->refs > 0)
        return;
    if (n->prev)
        n->prev->next = n->next;
    else
        m->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        m->tail = n->prev;
    /* drop the children after unlinking n, so a cycle cannot reach it again */
    for (size_t i = 0; i < n->cur.n; i++)
        mem_unref(m, n->cur.v[i].node);
    for (size_t i = 0; i < n->syn.n; i++)
        mem_unref(m, n->syn.v[i].node);
    mem_node_free_storage(n);
}

/* ------------------------------------------------------------------- maps */

/* Returns 1 and the index when found, else 0 and the insertion point. */
static int mem_map_find(const mem_map *mp, const char *name, size_t *pos)
{
    size_t lo = 0, hi = mp->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(mp->v[mid].name, name);
        if (c == 0) {
            *pos = mid;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return 0;
}

static mem_node *mem_map_get(const mem_map *mp, const char *name)
{
    size_t pos;
    return mem_map_find(mp, name, &pos) ? mp->v[pos].node : NULL;
}

/* Points `name` at `node` (adding a reference), replacing any old entry.
 * Returns 0 or ENOMEM (then nothing changed). */
static int mem_map_set(mem_fs *m, mem_map *mp, const char *name, mem_node *node)
{
    size_t pos;
    if (mem_map_find(mp, name, &pos)) {
        mem_node *old = mp->v[pos].node;
        mem_ref(node);
        mp->v[pos].node = node;
        mem_unref(m, old);
        return 0;
    }
    if (mp->n == mp->cap) {
        size_t ncap = mp->cap ? mp->cap * 2 : 8;
        mem_entry *nv = realloc(mp->v, ncap * sizeof *nv);
        if (!nv)
            return ENOMEM;
        mp->v = nv;
        mp->cap = ncap;
    }
    char *copy = strdup(name);
    if (!copy)
        return ENOMEM;
    memmove(mp->v + pos + 1, mp->v + pos, (mp->n - pos) * sizeof *mp->v);
    mp->v[pos].name = copy;
    mp->v[pos].node = node;
    mp->n++;
    mem_ref(node);
    return 0;
}

static void mem_map_del(mem_fs *m, mem_map *mp, const char *name)
{
    size_t pos;
    if (!mem_map_find(mp, name, &pos))
        return;
    mem_node *old = mp->v[pos].node;
    free(mp->v[pos].name);
    memmove(mp->v + pos, mp->v + pos + 1, (mp->n - pos - 1) * sizeof *mp->v);
    mp->n--;
    mem_unref(m, old);
}

/* dst := src (deep copy of names, references on nodes). 0 or ENOMEM. */
static int mem_map_assign(mem_fs *m, mem_map *dst, const mem_map *src)
{
    mem_entry *nv = NULL;
    if (src->n) {
        nv = calloc(src->n, sizeof *nv);
        if (!nv)
            return ENOMEM;
        for (size_t i = 0; i < src->n; i++) {
            nv[i].name = strdup(src->v[i].name);
            if (!nv[i].name) {
                for (size_t j = 0; j < i; j++)
                    free(nv[j].name);
                free(nv);
                return ENOMEM;
            }
            nv[i].node = src->v[i].node;
        }
    }
    for (size_t i = 0; i < src->n; i++)
        mem_ref(nv[i].node);
    mem_map old = *dst;
    dst->v = nv;
    dst->n = src->n;
    dst->cap = src->n;
    for (size_t i = 0; i < old.n; i++) {
        free(old.v[i].name);
        mem_unref(m, old.v[i].node);
    }
    free(old.v);
    return 0;
}

/* ------------------------------------------------------------------ paths */

typedef struct mem_path {
    char *buf;          /* copy of the path with '/' replaced by NUL */
    char **comp;        /* normalized components, pointing into buf */
    size_t n;
} mem_path;

static int mem_path_parse(const char *path, mem_path *p)
{
    p->n = 0;
    p->comp = NULL;
    p->buf = strdup(path);
    if (!p->buf)
        return ENOMEM;
    size_t slots = 1;
    for (const char *s = path; *s; s++)
        slots += *s == '/';
    p->comp = malloc(slots * sizeof *p->comp);
    if (!p->comp) {
        free(p->buf);
        p->buf = NULL;
        return ENOMEM;
    }
    char *s = p->buf;
    while (*s) {
        char *start = s;
        while (*s && *s != '/')
            s++;
        if (*s)
            *s++ = 0;
        if (start[0] == 0 || strcmp(start, ".") == 0)
            continue;
        if (strcmp(start, "..") == 0) {
            if (p->n)
                p->n--;
            continue;
        }
        p->comp[p->n++] = start;
    }
    return 0;
}

static void mem_path_free(mem_path *p)
{
    free(p->buf);
    free(p->comp);
}

/* Walks comp[0..upto) from the root through current maps. 0, ENOENT or
 * ENOTDIR. With `avoid`, passing through that node is EINVAL (a directory
 * cannot move below itself). */
static int mem_walk(mem_fs *m, const mem_path *p, size_t upto, const mem_node *avoid,
                    mem_node **out)
{
    mem_node *d = m->root;
    if (d == avoid)
        return EINVAL;
    for (size_t i = 0; i < upto; i++) {
        mem_node *c = mem_map_get(&d->cur, p->comp[i]);
        if (!c)
            return ENOENT;
        if (!c->is_dir)
            return ENOTDIR;
        if (c == avoid)
            return EINVAL;
        d = c;
    }
    *out = d;
    return 0;
}

/* Resolves a path to its parent directory and the node it names (NULL if
 * absent). For the root, *parent is NULL and *node is the root. */
static int mem_resolve(mem_fs *m, const mem_path *p, mem_node **parent, mem_node **node)
{
    if (p->n == 0) {
        *parent = NULL;
        *node = m->root;
        return 0;
    }
    int e = mem_walk(m, p, p->n - 1, NULL, parent);
    if (e)
        return e;
    *node = mem_map_get(&(*parent)->cur, p->comp[p->n - 1]);
    return 0;
}

/* ------------------------------------------------------------------ files */

static int mem_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 256;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    uint8_t *nb = realloc(*buf, ncap);
    if (!nb)
        return ENOMEM;
    *buf = nb;
    *cap = ncap;
    return 0;
}

static size_t mem_min(size_t a, size_t b) { return a < b ? a : b; }

/* Sets the length, zero-filling any extension. 0 or ENOMEM. */
static int mem_file_resize(mem_node *n, size_t size)
{
    if (size > n->len) {
        if (mem_reserve(&n->data, &n->cap, size))
            return ENOMEM;
        memset(n->data + n->len, 0, size - n->len);
    }
    n->dirty_lo = mem_min(n->dirty_lo, mem_min(size, n->len));
    n->len = size;
    return 0;
}

/* synced := data. 0 or ENOMEM. */
static int mem_file_sync(mem_node *n)
{
    if (mem_reserve(&n->synced, &n->synced_cap, n->len))
        return ENOMEM;
    if (n->len > n->dirty_lo)
        memcpy(n->synced + n->dirty_lo, n->data + n->dirty_lo, n->len - n->dirty_lo);
    n->synced_len = n->len;
    n->dirty_lo = n->len;
    return 0;
}

/* EIO for a change of the tree made by a thread of a crashed process. */
static int mem_dead_errno(mem_fs *m)
{
    return m->frozen && !pthread_equal(pthread_self(), m->crash_thread) ? EIO : 0;
}

/* TIND_EIO for a change made by a thread of a crashed process (mem_fs.frozen). */
static int mem_dead(mem_fs *m, const char *what, const char *path, tind_err *err)
{
    if (!m->frozen || pthread_equal(pthread_self(), m->crash_thread))
        return TIND_OK;
    return err_set(err, TIND_EIO, "%s '%s': the in-memory file system crashed and this thread's process with it",
                   what, path);
}

static int mem_stale(mem_fs *m, mem_file *f, const char *what, tind_err *err)
{
    if (f->gen == m->gen)
        return TIND_OK;
    return err_set(err, TIND_EIO, "%s '%s': stale handle (the in-memory file system crashed since it was opened)",
                   what, f->base.path);
}

static int mem_open(fs *fsys, const char *path, int flags, fs_file **out, tind_err *err)
{
    mem_fs *m = (mem_fs *)fsys;
    *out = NULL;
    mem_file *f = calloc(1, sizeof *f);
    char *copy = strdup(path);
    mem_path p;
    if (!f || !copy || mem_path_parse(path, &p)) {
        free(f);
        free(copy);
        return err_set(err, TIND_ENOMEM, "open '%s': out of memory", path);
    }
    pthread_mutex_lock(&m->mu);
    if ((flags & (FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC)) && mem_dead(m, "open", path, err)) {
        pthread_mutex_unlock(&m->mu);
        mem_path_free(&p);
        free(f);
        free(copy);
        return TIND_EIO;
    }
    mem_node *parent = NULL, *node = NULL;
    int e = mem_resolve(m, &p, &parent, &node);
    if (!e && node) {
        if ((flags & FS_O_CREATE) && (flags & FS_O_EXCL))
            e = EEXIST;
        else if (node->is_dir)
            e = EISDIR;
        else if ((flags & FS_O_TRUNC) && (flags & FS_O_WRITE))
            e = mem_file_resize(node, 0);
    } else if (!e) {
        if (!(flags & FS_O_CREATE)) {
            e = ENOENT;
        } else {
            node = mem_node_new(m, 0);
            if (!node)
                e = ENOMEM;
            else if ((e = mem_map_set(m, &parent->cur, p.comp[p.n - 1], node)) != 0) {
                mem_ref(node);
                mem_unref(m, node);    /* frees it */
            }
        }
    }
    if (!e) {
        mem_ref(node);
        f->base.owner = fsys;
        f->base.path = copy;
        f->node = node;
        f->gen = m->gen;
        f->writable = (flags & FS_O_WRITE) != 0;
    }
    pthread_mutex_unlock(&m->mu);
    mem_path_free(&p);
    if (e) {
        free(f);
        free(copy);
        return err_errno(err, e, "open", path);
    }
    *out = &f->base;
    return TIND_OK;
}

static int mem_close(fs_file *file, tind_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_fs *m = (mem_fs *)file->owner;
    pthread_mutex_lock(&m->mu);
    mem_unref(m, f->node);
    pthread_mutex_unlock(&m->mu);
    free(f->base.path);
    free(f);
    return TIND_OK;
}

static int mem_read(fs_file *file, void *buf, size_t n, uint64_t off, size_t *got, tind_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_fs *m = (mem_fs *)file->owner;
    *got = 0;
    pthread_mutex_lock(&m->mu);
    int rc = mem_stale(m, f, "read", err);
    if (rc == TIND_OK && off < f->node->len) {
        size_t take = mem_min(n, f->node->len - (size_t)off);
        memcpy(buf, f->node->data + off, take);
        *got = take;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* 0, EBADF (f not open for writing) or EFBIG (off + n past size_t): the
 * checks of every call that may grow or cut a file. */
static int mem_writable_range(const mem_file *f, uint64_t off, uint64_t n)
{
    if (!f->writable)
        return EBADF;
    return off > SIZE_MAX - n ? EFBIG : 0;
}

static int mem_write(fs_file *file, const void *buf, size_t n, uint64_t off, tind_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_fs *m = (mem_fs *)file->owner;
    pthread_mutex_lock(&m->mu);
    int rc = mem_stale(m, f, "write", err);
    if (rc == TIND_OK)
        rc = mem_dead(m, "write", file->path, err);
    if (rc == TIND_OK) {
        mem_node *node = f->node;
        int e = mem_writable_range(f, off, n);
        if (!e && n > 0 && (e = mem_file_resize(node, off + n > node->len ? (size_t)off + n : node->len)) == 0) {
            memcpy(node->data + off, buf, n);
            node->dirty_lo = mem_min(node->dirty_lo, (size_t)off);
        }
        if (e)
            rc = err_set(err, err_from_errno(e), "write '%s' at offset %llu: %s", file->path,
                         (unsigned long long)off, strerror(e));
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_sync(fs_file *file, int mode, tind_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_fs *m = (mem_fs *)file->owner;
    pthread_mutex_lock(&m->mu);
    int rc = mem_stale(m, f, "sync", err);
    if (rc == TIND_OK)
        rc = mem_dead(m, "sync", file->path, err);
    if (rc == TIND_OK && mem_file_sync(f->node))   /* DATA and ALL both persist the bytes */
        rc = err_errno(err, ENOMEM, "sync", file->path);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_size(fs_file *file, uint64_t *size, tind_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_fs *m = (mem_fs *)file->owner;
    pthread_mutex_lock(&m->mu);
    int rc = mem_stale(m, f, "stat", err);
    if (rc == TIND_OK)
        *size = f->node->len;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_truncate(fs_file *file, uint64_t size, tind_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_fs *m = (mem_fs *)file->owner;
    pthread_mutex_lock(&m->mu);
    int rc = mem_stale(m, f, "truncate", err);
    if (rc == TIND_OK)
        rc = mem_dead(m, "truncate", file->path, err);
    if (rc == TIND_OK) {
        int e = mem_writable_range(f, size, 0);
        if (!e)
            e = mem_file_resize(f->node, (size_t)size);
        if (e)
            rc = err_errno(err, e, "truncate", file->path);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* A hint does nothing; an extension zero-fills, an unsynced change like a
 * write's (a crash may keep any prefix of it). */
static int mem_allocate(fs_file *file, uint64_t off, uint64_t len, int mode, tind_err *err)
{
    mem_file *f = (mem_file *)file;
    mem_fs *m = (mem_fs *)file->owner;
    pthread_mutex_lock(&m->mu);
    int rc = mem_stale(m, f, "allocate", err);
    if (rc == TIND_OK)
        rc = mem_dead(m, "allocate", file->path, err);
    if (rc == TIND_OK && mode == FS_ALLOC_EXTEND) {
        mem_node *node = f->node;
        int e = mem_writable_range(f, off, len);
        if (!e && off + len > node->len)
            e = mem_file_resize(node, (size_t)(off + len));
        if (e)
            rc = err_set(err, err_from_errno(e), "allocate '%s' to %llu bytes: %s", file->path,
                         (unsigned long long)(off + len), strerror(e));
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ------------------------------------------------------------ directories */

static int mem_rename(fs *fsys, const char *from, const char *to, tind_err *err)
{
    mem_fs *m = (mem_fs *)fsys;
    mem_path pf, pt;
    if (mem_path_parse(from, &pf))
        return err_set(err, TIND_ENOMEM, "rename '%s': out of memory", from);
    if (mem_path_parse(to, &pt)) {
        mem_path_free(&pf);
        return err_set(err, TIND_ENOMEM, "rename '%s': out of memory", from);
    }
    pthread_mutex_lock(&m->mu);
    mem_node *fparent = NULL, *src = NULL, *tparent = NULL, *dst = NULL;
    int e = mem_dead_errno(m);
    if (!e)
        e = mem_resolve(m, &pf, &fparent, &src);
    if (!e && !src)
        e = ENOENT;
    if (!e && (pf.n == 0 || pt.n == 0))
        e = EBUSY;    /* the root cannot move or be replaced */
    if (!e)
        e = mem_walk(m, &pt, pt.n - 1, src->is_dir ? src : NULL, &tparent);
    if (!e) {
        dst = mem_map_get(&tparent->cur, pt.comp[pt.n - 1]);
        if (dst == src) {
            /* same entry, or two links to one inode: POSIX does nothing */
        } else if (dst && src->is_dir && !dst->is_dir) {
            e = ENOTDIR;
        } else if (dst && !src->is_dir && dst->is_dir) {
            e = EISDIR;
        } else if (dst && dst->is_dir && dst->cur.n) {
            e = ENOTEMPTY;
        } else {
            mem_ref(src);
            mem_ref(fparent);
            mem_ref(tparent);
            e = mem_map_set(m, &tparent->cur, pt.comp[pt.n - 1], src);
            if (!e)
                mem_map_del(m, &fparent->cur, pf.comp[pf.n - 1]);
            mem_unref(m, tparent);
            mem_unref(m, fparent);
            mem_unref(m, src);
        }
    }
    pthread_mutex_unlock(&m->mu);
    mem_path_free(&pf);
    mem_path_free(&pt);
    if (e)
        return err_set(err, err_from_errno(e), "rename '%s' to '%s': %s", from, to, strerror(e));
    return TIND_OK;
}

static int mem_link(fs *fsys, const char *from, const char *to, tind_err *err)
{
    mem_fs *m = (mem_fs *)fsys;
    mem_path pf, pt;
    if (mem_path_parse(from, &pf))
        return err_set(err, TIND_ENOMEM, "link '%s': out of memory", from);
    if (mem_path_parse(to, &pt)) {
        mem_path_free(&pf);
        return err_set(err, TIND_ENOMEM, "link '%s': out of memory", from);
    }
    pthread_mutex_lock(&m->mu);
    mem_node *fparent = NULL, *src = NULL, *tparent = NULL, *dst = NULL;
    int e = mem_dead_errno(m);
    if (!e)
        e = mem_resolve(m, &pf, &fparent, &src);
    if (!e && !src)
        e = ENOENT;
    if (!e && src->is_dir)
        e = EPERM;
    if (!e)
        e = mem_resolve(m, &pt, &tparent, &dst);
    if (!e && dst)
        e = EEXIST;
    if (!e)
        e = mem_map_set(m, &tparent->cur, pt.comp[pt.n - 1], src);
    pthread_mutex_unlock(&m->mu);
    mem_path_free(&pf);
    mem_path_free(&pt);
    if (e)
        return err_set(err, err_from_errno(e), "link '%s' to '%s': %s", from, to, strerror(e));
    return TIND_OK;
}

/* unlink (dir = 0) or rmdir (dir = 1) */
static int mem_remove(fs *fsys, const char *path, int dir, tind_err *err)
{
    mem_fs *m = (mem_fs *)fsys;
    const char *what = dir ? "rmdir" : "unlink";
    mem_path p;
    if (mem_path_parse(path, &p))
        return err_set(err, TIND_ENOMEM, "%s '%s': out of memory", what, path);
    pthread_mutex_lock(&m->mu);
    mem_node *parent = NULL, *node = NULL;
    int e = mem_dead_errno(m);
    if (!e)
        e = mem_resolve(m, &p, &parent, &node);
    if (!e && !node)
        e = ENOENT;
    if (!e && !parent)
        e = EBUSY;
    if (!e && !dir && node->is_dir)
        e = EISDIR;
    if (!e && dir && !node->is_dir)
        e = ENOTDIR;
    if (!e && dir && node->cur.n)
        e = ENOTEMPTY;
    if (!e) {
        mem_ref(parent);
        mem_map_del(m, &parent->cur, p.comp[p.n - 1]);
        mem_unref(m, parent);
    }
    pthread_mutex_unlock(&m->mu);
    mem_path_free(&p);
    return e ? err_errno(err, e, what, path) : TIND_OK;
}

static int mem_unlink(fs *fsys, const char *path, tind_err *err)
{
    return mem_remove(fsys, path, 0, err);
}

static int mem_rmdir(fs *fsys, const char *path, tind_err *err)
{
    return mem_remove(fsys, path, 1, err);
}

static int mem_mkdir(fs *fsys, const char *path, tind_err *err)
{
    mem_fs *m = (mem_fs *)fsys;
    mem_path p;
    if (mem_path_parse(path, &p))
        return err_set(err, TIND_ENOMEM, "mkdir '%s': out of memory", path);
    pthread_mutex_lock(&m->mu);
    mem_node *parent = NULL, *node = NULL;
    int e = mem_dead_errno(m);
    if (!e)
        e = mem_resolve(m, &p, &parent, &node);
    if (!e && node)
        e = EEXIST;
    if (!e) {
        node = mem_node_new(m, 1);
        if (!node)
            e = ENOMEM;
        else if ((e = mem_map_set(m, &parent->cur, p.comp[p.n - 1], node)) != 0) {
            mem_ref(node);
            mem_unref(m, node);
        }
    }
    pthread_mutex_unlock(&m->mu);
    mem_path_free(&p);
    return e ? err_errno(err, e, "mkdir", path) : TIND_OK;
}

/* Resolves an existing directory under the lock. */
static int mem_find_dir(mem_fs *m, const mem_path *p, mem_node **dir)
{
    mem_node *parent = NULL, *node = NULL;
    int e = mem_resolve(m, p, &parent, &node);
    if (!e && !node)
        e = ENOENT;
    if (!e && !node->is_dir)
        e = ENOTDIR;
    if (!e)
        *dir = node;
    return e;
}

static int mem_sync_dir(fs *fsys, const char *path, tind_err *err)
{
    mem_fs *m = (mem_fs *)fsys;
    mem_path p;
    if (mem_path_parse(path, &p))
        return err_set(err, TIND_ENOMEM, "fsync directory '%s': out of memory", path);
    pthread_mutex_lock(&m->mu);
    mem_node *d = NULL;
    int e = mem_dead_errno(m);
    if (!e)
        e = mem_find_dir(m, &p, &d);
    if (!e) {
        mem_ref(d);
        e = mem_map_assign(m, &d->syn, &d->cur);
        mem_unref(m, d);
    }
    pthread_mutex_unlock(&m->mu);
    mem_path_free(&p);
    return e ? err_errno(err, e, "fsync directory", path) : TIND_OK;
}

static int mem_list(fs *fsys, const char *dir, char ***names, size_t *count, tind_err *err)
{
    mem_fs *m = (mem_fs *)fsys;
    *names = NULL;
    *count = 0;
    mem_path p;
    if (mem_path_parse(dir, &p))
        return err_set(err, TIND_ENOMEM, "list '%s': out of memory", dir);
    pthread_mutex_lock(&m->mu);
    mem_node *d = NULL;
    char **v = NULL;
    size_t n = 0;
    int e = mem_find_dir(m, &p, &d);
    if (!e) {
        v = malloc((d->cur.n ? d->cur.n : 1) * sizeof *v);
        if (!v)
            e = ENOMEM;
        for (size_t i = 0; !e && i < d->cur.n; i++) {
            v[i] = strdup(d->cur.v[i].name);
            if (!v[i])
                e = ENOMEM;
            else
                n++;
        }
    }
    pthread_mutex_unlock(&m->mu);
    mem_path_free(&p);
    if (e) {
        fs_list_free(v, n);
        return err_errno(err, e, "list", dir);
    }
    *names = v;
    *count = n;
    return TIND_OK;
}

static int mem_exists(fs *fsys, const char *path, int *is_dir)
{
    mem_fs *m = (mem_fs *)fsys;
    mem_path p;
    if (mem_path_parse(path, &p))
        return TIND_ENOMEM;
    pthread_mutex_lock(&m->mu);
    mem_node *parent = NULL, *node = NULL;
    int e = mem_resolve(m, &p, &parent, &node);
    if (!e && !node)
        e = ENOENT;
    if (!e && is_dir)
        *is_dir = node->is_dir;
    pthread_mutex_unlock(&m->mu);
    mem_path_free(&p);
    return e ? err_from_errno(e) : TIND_OK;
}

/* ------------------------------------------------------------------ locks */

static int mem_lock_file(fs *fsys, const char *path, int mode, fs_lock **out, tind_err *err)
{
    mem_fs *m = (mem_fs *)fsys;
    *out = NULL;
    mem_lock *l = calloc(1, sizeof *l);
    mem_path p;
    if (!l || mem_path_parse(path, &p)) {
        free(l);
        return err_set(err, TIND_ENOMEM, "lock '%s': out of memory", path);
    }
    pthread_mutex_lock(&m->mu);
    mem_node *parent = NULL, *node = NULL;
    int busy = 0;
    int e = mem_resolve(m, &p, &parent, &node);
    if (!e && !node && mode == FS_LOCK_SHARED)
        e = ENOENT; /* a shared lock never creates the file */
    if (!e && !node) {
        node = mem_node_new(m, 0);
        if (!node)
            e = ENOMEM;
        else if ((e = mem_map_set(m, &parent->cur, p.comp[p.n - 1], node)) != 0) {
            mem_ref(node);
            mem_unref(m, node);
        }
    }
    if (!e && node->is_dir)
        e = EISDIR;
    if (!e && (mode == FS_LOCK_SHARED ? node->locked < 0 : node->locked != 0))
        busy = 1;
    if (!e && !busy) {
        m->frozen = 0; /* a new process's open: the crashed one is gone */
        node->locked = mode == FS_LOCK_SHARED ? node->locked + 1 : -1;
        l->shared = mode == FS_LOCK_SHARED;
        mem_ref(node);
        l->base.owner = fsys;
        l->node = node;
        l->gen = m->gen;
    }
    pthread_mutex_unlock(&m->mu);
    mem_path_free(&p);
    if (e || busy) {
        free(l);
        if (busy)
            return err_set(err, TIND_EBUSY,
                           "database folder '%s' is locked by another process or handle", path);
        return err_errno(err, e, "lock", path);
    }
    *out = &l->base;
    return TIND_OK;
}

static int mem_unlock(fs_lock *lock, tind_err *err)
{
    mem_lock *l = (mem_lock *)lock;
    mem_fs *m = (mem_fs *)lock->owner;
    pthread_mutex_lock(&m->mu);
    if (l->gen == m->gen)       /* a stale lock was already released by the crash */
        l->node->locked = l->shared ? l->node->locked - 1 : 0;
    mem_unref(m, l->node);
    pthread_mutex_unlock(&m->mu);
    free(l);
    return TIND_OK;
}

/* ------------------------------------------------------------------ crash */

/* Decides what of one file survives the power loss. */
static int mem_crash_file(mem_node *n, int modes, trng *rng)
{
    int extends = n->dirty_lo == n->synced_len && n->len > n->synced_len;
    int revert = 0;
    size_t keep = n->len;
    if (modes & FS_CRASH_KEEP_PREFIX) {
        if (extends)
            keep = n->synced_len + (size_t)trng_below(rng, (uint64_t)(n->len - n->synced_len) + 1);
        else
            revert = 1;
    } else if (modes & FS_CRASH_DROP_UNSYNCED) {
        revert = 1;
    }
    if (revert) {
        if (mem_reserve(&n->data, &n->cap, n->synced_len))
            return ENOMEM;
        if (n->synced_len > n->dirty_lo)
            memcpy(n->data + n->dirty_lo, n->synced + n->dirty_lo, n->synced_len - n->dirty_lo);
        n->len = n->synced_len;
    } else {
        n->len = keep;
    }
    n->dirty_lo = mem_min(n->dirty_lo, n->len);
    if ((modes & FS_CRASH_TEAR_SECTOR) && n->len > n->synced_len) {
        /* garble a run of bytes inside the last sector, past the synced length */
        size_t start = ((n->len - 1) / MEM_SECTOR) * MEM_SECTOR;
        if (start < n->synced_len)
            start = n->synced_len;
        size_t span = n->len - start;
        size_t a = start + (size_t)trng_below(rng, span);
        size_t b = a + 1 + (size_t)trng_below(rng, n->len - a);
        for (size_t i = a; i < b; i++)
            n->data[i] ^= (uint8_t)(1 + trng_below(rng, 255));
    }
    return mem_file_sync(n);
}

int fs_mem_crash(fs *memfs, int modes, uint64_t seed)
{
    if (!memfs || memfs->ops != &mem_ops)
        return TIND_EINVAL;
    mem_fs *m = (mem_fs *)memfs;
    trng rng;
    trng_seed(&rng, seed);
    int e = 0;
    pthread_mutex_lock(&m->mu);
    m->gen++;
    m->frozen = 1;
    m->crash_thread = pthread_self();
    size_t count = 0;
    for (mem_node *n = m->head; n; n = n->next)
        count++;
    mem_node **all = malloc((count ? count : 1) * sizeof *all);
    if (!all) {
        pthread_mutex_unlock(&m->mu);
        return TIND_ENOMEM;
    }
    /* pin every node: map changes below may drop the last outside reference */
    size_t i = 0;
    for (mem_node *n = m->head; n; n = n->next) {
        mem_ref(n);
        all[i++] = n;
    }
    for (i = 0; i < count && !e; i++) {
        mem_node *n = all[i];
        n->locked = 0;
        if (!n->is_dir)
            e = mem_crash_file(n, modes, &rng);
        else if (modes & FS_CRASH_DROP_DIRENTS)
            e = mem_map_assign(m, &n->cur, &n->syn);
        else
            e = mem_map_assign(m, &n->syn, &n->cur);
    }
    for (i = 0; i < count; i++)
        mem_unref(m, all[i]);
    free(all);
    pthread_mutex_unlock(&m->mu);
    return e ? TIND_ENOMEM : TIND_OK;
}

/* ------------------------------------------------------------- lifecycle */

static void mem_destroy(fs *fsys)
{
    mem_fs *m = (mem_fs *)fsys;
    /* free through the list, not the counts: cycles and open handles too */
    mem_node *n = m->head;
    while (n) {
        mem_node *next = n->next;
        mem_node_free_storage(n);
        n = next;
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static const fs_ops mem_ops = {
    .open = mem_open,
    .close = mem_close,
    .read = mem_read,
    .write = mem_write,
    .sync = mem_sync,
    .size = mem_size,
    .truncate = mem_truncate,
    .allocate = mem_allocate,
    .rename = mem_rename,
    .link = mem_link,
    .unlink = mem_unlink,
    .mkdir = mem_mkdir,
    .rmdir = mem_rmdir,
    .sync_dir = mem_sync_dir,
    .list = mem_list,
    .exists = mem_exists,
    .lock = mem_lock_file,
    .unlock = mem_unlock,
    .destroy = mem_destroy,
};

fs *fs_mem_new(void)
{
    mem_fs *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    m->base.ops = &mem_ops;
    m->base.name = "mem";
    m->root = mem_node_new(m, 1);
    if (!m->root) {
        pthread_mutex_destroy(&m->mu);
        free(m);
        return NULL;
    }
    mem_ref(m->root);
    return &m->base;
}
