/*
 * hugemem.c -- size-class free lists over 2 MiB chunks advised for
 * transparent huge pages (hugemem.h).
 */
#include "util/hugemem.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

/* under AddressSanitizer every buffer is malloc'd, so that it sees each
 * block's bounds (ThreadSanitizer checks the lists' locking instead) */
#if defined(__SANITIZE_ADDRESS__)
#define HM_PLAIN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HM_PLAIN 1
#endif
#endif
#ifndef HM_PLAIN
#define HM_PLAIN 0
#endif

#define HM_CLASSES (HM_MAX_CLASS / HM_GRAIN)

typedef struct hm_free_node {
    struct hm_free_node *next;
} hm_free_node;

static struct {
    pthread_mutex_t mu;
    hm_free_node *lists[HM_CLASSES + 1]; /* lists[c]: buffers of c * HM_GRAIN bytes */
    uint8_t *carve;                      /* the current chunk's unused bytes: [carve, carve_end) */
    uint8_t *carve_end;
    size_t mapped, free_bytes, carved;
} hm = {.mu = PTHREAD_MUTEX_INITIALIZER};

static inline size_t hm_class(size_t n) { return (n + HM_GRAIN - 1) / HM_GRAIN; }

size_t hm_size(size_t n)
{
    if (HM_PLAIN || n == 0 || n > HM_MAX_CLASS)
        return n;
    return hm_class(n) * HM_GRAIN;
}

/* bytes rounded up to whole chunks, HM_CHUNK-aligned, advised `advice`
 * (MADV_HUGEPAGE or MADV_NOHUGEPAGE; advice only) before the first touch. */
static void *map_chunks(size_t bytes, int advice)
{
    if (bytes == 0 || bytes > SIZE_MAX - 2 * HM_CHUNK)
        return NULL;
    size_t len = (bytes + HM_CHUNK - 1) & ~(HM_CHUNK - 1);
    size_t span = len + HM_CHUNK;
    uint8_t *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t at = ((uintptr_t)p + HM_CHUNK - 1) & ~(uintptr_t)(HM_CHUNK - 1);
    uint8_t *chunk = (uint8_t *)at;
    if (chunk > p)
        munmap(p, (size_t)(chunk - p));
    uint8_t *end = chunk + len;
    if (end < p + span)
        munmap(end, (size_t)(p + span - end));
    if (advice)
        (void)madvise(chunk, len, advice); /* advice only: the kernel's default if refused */
    return chunk;
}

#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 0
#endif
#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 0
#endif
/* a kernel interface that can ask for small pages (hm_pool_map) */
static const int small_pages_advisable = MADV_NOHUGEPAGE != 0;

void *hm_map(size_t bytes) { return map_chunks(bytes, MADV_HUGEPAGE); }

void hm_fault_in(void *p, size_t bytes)
{
    for (size_t i = 0; p && i < bytes; i += 4096)
        ((volatile uint8_t *)p)[i] = 0;
}

void hm_unmap(void *p, size_t bytes)
{
    if (p)
        munmap(p, (bytes + HM_CHUNK - 1) & ~(HM_CHUNK - 1));
}

/* ---------------------------------------------------------------- pools */

struct hm_pool {
    pthread_mutex_t mu;
    _Atomic int refs;
    size_t cap;                  /* bytes at most on the list */
    size_t bytes;                /* on the list (mu) */
    hm_free_node *spare;         /* chunks, each HM_CHUNK bytes (mu) */
    uint64_t last_use_ns;        /* CLOCK_MONOTONIC of the last take or return (mu) */
    /* the stocker (hm_pool_stock_start), all under mu */
    pthread_cond_t cv;
    pthread_t stocker;
    int stocking;                /* the thread runs */
    int stop;                    /* asked to end */
    int demand;                  /* a chunk was taken since the stock was full */
    size_t stock;                /* chunks it keeps on the list while demand lasts */
    size_t budget;               /* ... while live + spare chunks stay within this many bytes */
    size_t live;                 /* single-chunk mappings handed out and not given back */
    uint64_t stocked;            /* chunks it mapped, since start */
    /* Chunks a taker mapped on small pages (the stock was empty), handed
     * out: returned, they are unmapped rather than kept (mu) */
    void **small;
    size_t small_count, small_cap;
    uint64_t small_mapped;       /* such chunks, since the pool was made */
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Unmaps a list of chunks (outside the pool's lock). */
static void unmap_list(hm_free_node *n)
{
    while (n) {
        hm_free_node *next = n->next;
        hm_unmap(n, HM_CHUNK);
        n = next;
    }
}

hm_pool *hm_pool_new(size_t cap)
{
    hm_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    atomic_init(&p->refs, 1);
    p->cap = cap;
    return p;
}

void hm_pool_ref(hm_pool *p) { atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed); }

void hm_pool_unref(hm_pool *p)
{
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    hm_pool_stock_stop(p);
    unmap_list(p->spare);
    free(p->small);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* A mapping hm_map rounds to one chunk: the only kind a pool keeps. */
static int pool_chunk(const hm_pool *p, size_t bytes) { return p && bytes > 0 && bytes <= HM_CHUNK; }

/* Records chunk c as mapped on small pages (p->mu held); 0, or -1 when
 * out of memory (c then stays untracked: kept when returned, which costs
 * only its pages' size). */
static int small_add(hm_pool *p, void *c)
{
    if (p->small_count == p->small_cap) {
        size_t cap = p->small_cap ? 2 * p->small_cap : 8;
        void **a = realloc(p->small, cap * sizeof *a);
        if (!a)
            return -1;
        p->small = a;
        p->small_cap = cap;
    }
    p->small[p->small_count++] = c;
    p->small_mapped++;
    return 0;
}

/* Forgets chunk c if it is one mapped on small pages (p->mu held): 1 when
 * it was. */
static int small_take(hm_pool *p, const void *c)
{
    for (size_t i = 0; i < p->small_count; i++)
        if (p->small[i] == c) {
            p->small[i] = p->small[--p->small_count];
            return 1;
        }
    return 0;
}

void *hm_pool_map(hm_pool *p, size_t bytes)
{
    if (pool_chunk(p, bytes)) {
        pthread_mutex_lock(&p->mu);
        hm_free_node *n = p->spare;
        if (n) {
            p->spare = n->next;
            p->bytes -= HM_CHUNK;
            p->last_use_ns = mono_ns();
        }
        p->live += HM_CHUNK; /* taken back below if the mapping fails */
        /* the stocker ran dry: small pages (see hugemem.h) */
        int small = !n && p->stocking && small_pages_advisable;
        if (p->stocking && p->bytes < p->stock * HM_CHUNK) {
            p->demand = 1;
            pthread_cond_signal(&p->cv);
        }
        pthread_mutex_unlock(&p->mu);
        if (n)
            return n;
        void *m = map_chunks(bytes, small ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
        pthread_mutex_lock(&p->mu);
        if (!m)
            p->live -= HM_CHUNK;
        else if (small)
            (void)small_add(p, m);
        pthread_mutex_unlock(&p->mu);
        return m;
    }
    return hm_map(bytes);
}

/* Puts chunk n on the spare list (p->mu held). */
static void spare_push(hm_pool *p, hm_free_node *n)
{
    n->next = p->spare;
    p->spare = n;
    p->bytes += HM_CHUNK;
}

void hm_pool_unmap(hm_pool *p, void *ptr, size_t bytes)
{
    if (!ptr)
        return;
    if (pool_chunk(p, bytes)) {
        pthread_mutex_lock(&p->mu);
        p->live -= HM_CHUNK;
        int keep = !small_take(p, ptr) && p->bytes + HM_CHUNK <= p->cap;
        if (keep) {
            spare_push(p, ptr);
            p->last_use_ns = mono_ns();
        }
        pthread_mutex_unlock(&p->mu);
        if (keep)
            return;
    }
    hm_unmap(ptr, bytes);
}

/* ---------------------------------------------------------------- stocking */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   /* Linux 5.14 */
#endif

/* A chunk faulted in (the kernel zeroes it now, in this thread), or NULL
 * when the kernel cannot back it now (the takers then map their own). */
static void *map_populated(void)
{
    uint8_t *c = hm_map(HM_CHUNK);
    if (c && madvise(c, HM_CHUNK, MADV_POPULATE_WRITE) != 0) {
        if (errno != EINVAL) { /* out of memory: no stock rather than the OOM killer */
            hm_unmap(c, HM_CHUNK);
            return NULL;
        }
        /* a kernel before 5.14: a write to each page faults it in */
        hm_fault_in(c, HM_CHUNK);
    }
    return c;
}

static void *stocker_main(void *arg)
{
    hm_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (!p->demand || p->bytes >= p->stock * HM_CHUNK || p->bytes + HM_CHUNK > p->cap ||
            p->live + p->bytes + HM_CHUNK > p->budget) {
            p->demand = 0;
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        hm_free_node *n = map_populated();
        pthread_mutex_lock(&p->mu);
        if (!n) {
            p->demand = 0; /* out of memory: the takers map their own */
            continue;
        }
        if (p->stop || p->bytes + HM_CHUNK > p->cap) {
            pthread_mutex_unlock(&p->mu);
            hm_unmap(n, HM_CHUNK);
            pthread_mutex_lock(&p->mu);
            continue;
        }
        spare_push(p, n); /* not a use: the idle clock runs on */
        p->stocked++;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int hm_pool_stock_start(hm_pool *p, size_t chunks, size_t budget)
{
    if (!p || chunks == 0)
        return 0;
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    if (!p->stocking) {
        p->stock = chunks;
        p->budget = budget;
        p->stop = 0;
        p->demand = 0; /* from the first take on */
        rc = pthread_create(&p->stocker, NULL, stocker_main, p) == 0 ? 0 : -1;
        p->stocking = rc == 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void hm_pool_stock_stop(hm_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    int running = p->stocking;
    p->stop = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (running)
        pthread_join(p->stocker, NULL);
    pthread_mutex_lock(&p->mu);
    p->stocking = 0;
    pthread_mutex_unlock(&p->mu);
}

/* A counter of p read under its lock (0 for NULL). */
static uint64_t pool_counter(hm_pool *p, size_t offset)
{
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    uint64_t n = *(const uint64_t *)((const char *)p + offset);
    pthread_mutex_unlock(&p->mu);
    return n;
}

uint64_t hm_pool_stocked(hm_pool *p) { return pool_counter(p, offsetof(hm_pool, stocked)); }
uint64_t hm_pool_small(hm_pool *p) { return pool_counter(p, offsetof(hm_pool, small_mapped)); }

size_t hm_pool_bytes(hm_pool *p)
{
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    size_t n = p->bytes;
    pthread_mutex_unlock(&p->mu);
    return n;
}

size_t hm_pool_trim(hm_pool *p, uint64_t idle_ns)
{
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    hm_free_node *list = NULL;
    size_t n = 0;
    if (p->spare && mono_ns() - p->last_use_ns >= idle_ns) {
        list = p->spare;
        n = p->bytes;
        p->spare = NULL;
        p->bytes = 0;
    }
    pthread_mutex_unlock(&p->mu);
    unmap_list(list);
    return n;
}

/* ---------------------------------------------------------------- classes */

/* Gives the current chunk's rest to the list of the largest size it holds. */
static void hm_retire_rest(void)
{
    size_t rest = (size_t)(hm.carve_end - hm.carve);
    size_t c = rest / HM_GRAIN;
    if (c > HM_CLASSES)
        c = HM_CLASSES;
    if (c) {
        hm_free_node *node = (hm_free_node *)hm.carve;
        node->next = hm.lists[c];
        hm.lists[c] = node;
        hm.free_bytes += c * HM_GRAIN;
        hm.carved += c * HM_GRAIN;
    }
    hm.carve = hm.carve_end = NULL;
}

void *hm_alloc(size_t n)
{
    if (HM_PLAIN || n == 0 || n > HM_MAX_CLASS)
        return malloc(n ? n : 1);
    size_t c = hm_class(n), bytes = c * HM_GRAIN;
    void *p = NULL;
    pthread_mutex_lock(&hm.mu);
    if (hm.lists[c]) {
        hm_free_node *node = hm.lists[c];
        hm.lists[c] = node->next;
        hm.free_bytes -= bytes;
        p = node;
    } else {
        if ((size_t)(hm.carve_end - hm.carve) < bytes) {
            uint8_t *chunk = hm_map(HM_CHUNK);
            if (chunk) {
                if (hm.carve)
                    hm_retire_rest();
                hm.carve = chunk;
                hm.carve_end = chunk + HM_CHUNK;
                hm.mapped += HM_CHUNK;
            }
        }
        if ((size_t)(hm.carve_end - hm.carve) >= bytes) {
            p = hm.carve;
            hm.carve += bytes;
            hm.carved += bytes;
        }
    }
    pthread_mutex_unlock(&hm.mu);
    return p;
}

void hm_free(void *p, size_t n)
{
    if (!p)
        return;
    if (HM_PLAIN || n == 0 || n > HM_MAX_CLASS) {
        free(p);
        return;
    }
    size_t c = hm_class(n);
    hm_free_node *node = p;
    pthread_mutex_lock(&hm.mu);
    node->next = hm.lists[c];
    hm.lists[c] = node;
    hm.free_bytes += c * HM_GRAIN;
    pthread_mutex_unlock(&hm.mu);
}

void hm_get_stats(hm_stats *out)
{
    pthread_mutex_lock(&hm.mu);
    out->mapped = hm.mapped;
    out->free_bytes = hm.free_bytes;
    out->carved = hm.carved;
    pthread_mutex_unlock(&hm.mu);
}
