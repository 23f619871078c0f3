/*
 * fdcache.c -- the open-file cache: read-only fs_files keyed by table id,
 * refcounted, with an LRU of unheld files closed when more than `limit` are
 * open.
 *
 * Entry states (an entry is a struct fdc_handle; handles are entries)
 *   in_table && refs == 0   on the LRU list: may be closed when over the limit
 *   in_table && refs >  0   held: never closed
 *   !in_table && refs > 0   detached (evicted while held, or opened while an
 *                           eviction ran): closed when the last holder releases
 * Invariants (under mu)
 *   open = number of entries whose file is open (in the table or detached);
 *   after any get, release or evict, open <= limit unless the LRU is empty.
 *   A file is closed exactly once, never under mu, never while held.
 *
 * Opening a file is slow (a system call) so it runs without the mutex: a miss
 * unlocks, opens, relocks and looks again. If another thread inserted the
 * same id meanwhile, the newcomer joins that entry and closes its duplicate.
 * If any fdc_evict() ran meanwhile (`evict_epoch` moved), the new file may
 * belong to a table being deleted, so it is handed out detached: usable by
 * this caller, closed at its release, never cached.
 *
 * Running out of descriptors (EMFILE: the process limit, which the host's
 * own files share) is not an error while unheld files are open: the open
 * closes the older half of them and tries again, and fails with TIND_EMFILE
 * only when nothing unheld is left to close. A read never fails because the
 * cache kept files the process needed.
 *
 * Thread-safety: every call is safe from any thread; one mutex guards the
 * table, the LRU list, `open` and `evict_epoch`. fs_open/fs_close run outside it.
 */
#include "cache/fdcache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define FDC_DEFAULT_LIMIT 512
#define FDC_INITIAL_BUCKETS 64

struct fdc_handle {
    uint64_t id;
    fs_file *file;
    uint32_t refs;
    bool in_table;
    struct fdc_handle *chain;     /* next in the bucket; next on a close list */
    struct fdc_handle *prev;      /* LRU links (circular) when unheld in the table */
    struct fdc_handle *next;
};

struct fd_cache {
    fs *fs;
    size_t limit;
    pthread_mutex_t mu;           /* guards everything below */
    fdc_handle **buckets;
    size_t nbuckets;              /* a power of two */
    size_t count;                 /* entries in the table */
    size_t open;                  /* files open: table entries plus detached ones */
    uint64_t evict_epoch;         /* bumped by every fdc_evict */
    fdc_handle lru;               /* head; lru.next is the oldest unheld file */
};

static inline uint64_t fdc_mix(uint64_t id)
{
    uint64_t h = id * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

static inline void fdc_list_remove(fdc_handle *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

static inline void fdc_list_append(fdc_handle *head, fdc_handle *e)
{
    e->next = head;
    e->prev = head->prev;
    e->prev->next = e;
    head->prev = e;
}

static fdc_handle **fdc_slot(fd_cache *c, uint64_t id)
{
    fdc_handle **p = &c->buckets[fdc_mix(id) & (c->nbuckets - 1)];
    while (*p && (*p)->id != id)
        p = &(*p)->chain;
    return p;
}

static void fdc_grow(fd_cache *c)
{
    size_t n = c->nbuckets * 2;
    if (n < c->nbuckets || n > SIZE_MAX / sizeof(fdc_handle *))
        return;
    fdc_handle **b = calloc(n, sizeof *b);
    if (!b)
        return;                   /* longer chains, still correct */
    for (size_t i = 0; i < c->nbuckets; i++) {
        fdc_handle *e = c->buckets[i];
        while (e) {
            fdc_handle *next = e->chain;
            fdc_handle **slot = &b[fdc_mix(e->id) & (n - 1)];
            e->chain = *slot;
            *slot = e;
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

static void fdc_unlink(fd_cache *c, fdc_handle *e)
{
    fdc_handle **p = fdc_slot(c, e->id);
    *p = e->chain;
    e->chain = NULL;
    e->in_table = false;
    c->count--;
}

/* Closes LRU files while over the limit; victims go onto *dead. */
static void fdc_trim(fd_cache *c, fdc_handle **dead)
{
    while (c->open > c->limit && c->lru.next != &c->lru) {
        fdc_handle *e = c->lru.next;
        fdc_list_remove(e);
        fdc_unlink(c, e);
        c->open--;
        e->chain = *dead;
        *dead = e;
    }
}

static void fdc_close_list(fdc_handle *dead)
{
    while (dead) {
        fdc_handle *next = dead->chain;
        fs_close(dead->file, NULL);   /* read-only: nothing to lose on a close error */
        free(dead);
        dead = next;
    }
}

/* After EMFILE: closes the older half (at least one) of the unheld files.
 * Returns how many it closed; 0 = every open file is held. */
static size_t fdc_shed(fd_cache *c)
{
    fdc_handle *dead = NULL;
    size_t unheld = 0, closed = 0;
    pthread_mutex_lock(&c->mu);
    for (fdc_handle *e = c->lru.next; e != &c->lru; e = e->next)
        unheld++;
    size_t want = unheld > 1 ? unheld / 2 : unheld;
    while (closed < want) {
        fdc_handle *e = c->lru.next;
        fdc_list_remove(e);
        fdc_unlink(c, e);
        c->open--;
        e->chain = dead;
        dead = e;
        closed++;
    }
    pthread_mutex_unlock(&c->mu);
    fdc_close_list(dead);
    return closed;
}

fd_cache *fdc_new(fs *fsys, size_t limit)
{
    fd_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->buckets = calloc(FDC_INITIAL_BUCKETS, sizeof *c->buckets);
    if (!c->buckets || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c->buckets);
        free(c);
        return NULL;
    }
    c->fs = fsys;
    c->limit = limit ? limit : FDC_DEFAULT_LIMIT;
    c->nbuckets = FDC_INITIAL_BUCKETS;
    c->lru.prev = c->lru.next = &c->lru;
    return c;
}

void fdc_free(fd_cache *c)
{
    if (!c)
        return;
    /* All handles were released: every table entry is on the LRU list. */
    fdc_handle *dead = NULL;
    while (c->lru.next != &c->lru) {
        fdc_handle *e = c->lru.next;
        fdc_list_remove(e);
        fdc_unlink(c, e);
        e->chain = dead;
        dead = e;
    }
    fdc_close_list(dead);
    pthread_mutex_destroy(&c->mu);
    free(c->buckets);
    free(c);
}

/* Takes a reference on an entry found in the table (mu held). */
static void fdc_ref(fdc_handle *e)
{
    if (e->refs++ == 0)
        fdc_list_remove(e);
}

int fdc_get(fd_cache *c, uint64_t id, const char *path, fdc_handle **h, tind_err *err)
{
    *h = NULL;
    pthread_mutex_lock(&c->mu);
    fdc_handle *e = *fdc_slot(c, id);
    if (e) {
        fdc_ref(e);
        pthread_mutex_unlock(&c->mu);
        *h = e;
        return TIND_OK;
    }
    uint64_t epoch = c->evict_epoch;
    pthread_mutex_unlock(&c->mu);

    fdc_handle *mine = calloc(1, sizeof *mine);
    if (!mine)
        return err_set(err, TIND_ENOMEM, "open '%s': out of memory", path);
    int rc;
    while ((rc = fs_open(c->fs, path, FS_O_READ, &mine->file, err)) == TIND_EMFILE && fdc_shed(c) > 0)
        err_clear(err);
    if (rc != TIND_OK) {
        free(mine);
        if (rc == TIND_EMFILE)
            err_set(err, TIND_EMFILE,
                    "open '%s': too many open files (the process limit RLIMIT_NOFILE is reached; the %zu "
                    "table files this cache holds open are all in use)",
                    path, fdc_open_count(c));
        return rc;
    }
    mine->id = id;
    mine->refs = 1;

    fdc_handle *dead = NULL;
    pthread_mutex_lock(&c->mu);
    fdc_handle **slot = fdc_slot(c, id);
    if (*slot) {
        /* Another thread opened it meanwhile: share its entry, drop ours. */
        e = *slot;
        fdc_ref(e);
        mine->chain = dead;
        dead = mine;
    } else {
        e = mine;
        c->open++;
        if (c->evict_epoch == epoch) {
            e->in_table = true;
            *slot = e;
            if (++c->count > c->nbuckets)
                fdc_grow(c);
        }
        fdc_trim(c, &dead);
    }
    pthread_mutex_unlock(&c->mu);
    fdc_close_list(dead);
    *h = e;
    return TIND_OK;
}

fs_file *fdc_file(const fdc_handle *h)
{
    return h->file;
}

void fdc_release(fd_cache *c, fdc_handle *h)
{
    if (!h)
        return;
    fdc_handle *dead = NULL;
    pthread_mutex_lock(&c->mu);
    if (--h->refs == 0) {
        if (h->in_table) {
            fdc_list_append(&c->lru, h);
            fdc_trim(c, &dead);
        } else {
            c->open--;
            dead = h;
        }
    }
    pthread_mutex_unlock(&c->mu);
    fdc_close_list(dead);
}

void fdc_evict(fd_cache *c, uint64_t id)
{
    fdc_handle *dead = NULL;
    pthread_mutex_lock(&c->mu);
    c->evict_epoch++;
    fdc_handle *e = *fdc_slot(c, id);
    if (e) {
        fdc_unlink(c, e);
        if (e->refs == 0) {
            fdc_list_remove(e);
            c->open--;
            dead = e;
        }
    }
    pthread_mutex_unlock(&c->mu);
    fdc_close_list(dead);
}

size_t fdc_open_count(fd_cache *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->open;
    pthread_mutex_unlock(&c->mu);
    return n;
}
