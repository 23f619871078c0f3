/*
 * cache.c -- the block cache: a sharded, refcounted cache (LevelDB's cache.cc
 * design, with deleters run outside the locks), evicting in LRU order with a
 * second chance (CLOCK on a list): a hit only marks its entry, it moves no
 * list links.
 *
 * Layout
 *   - (id, offset) is mixed into a 64-bit hash; its top `shard_bits` bits pick
 *     one of 2^shard_bits shards, its low bits a bucket of that shard's
 *     chained hash table (power-of-two buckets, doubled when the entry count
 *     passes half the bucket count, so that a hit walks 1.25 entries on
 *     average; a failed growth just leaves longer chains).
 *   - The total capacity is split exactly between shards (the remainder goes
 *     one byte each to the first shards), so the per-shard limits sum to the
 *     capacity.
 *
 * Entry states (an entry is a struct cache_handle; handles are entries)
 *   in_table && refs == 0   on the shard's list: evictable
 *   in_table && refs >  0   on the shard's list, or parked on its held list
 *                           (eviction met it held): never evicted
 *   !in_table && refs > 0   detached (replaced or erased while held): on no
 *                           list, freed when its last holder releases it
 *   !in_table && refs == 0  being freed (never observable)
 * The list runs from the oldest insert or second chance to the newest. A
 * lookup sets the entry's `hot` bit and nothing else (moving it to the newest
 * end on every lookup and release, as LevelDB does, wrote the links of two
 * unrelated entries each time: cache misses on every block of a point read,
 * issue 15). Eviction looks at the oldest end: a hot entry goes to the
 * newest end (its bit cleared), a held one to the held list (back to
 * the newest end at its last release: a pinned block costs eviction nothing
 * after the first meeting), a cold unheld one is evicted.
 * Invariants (per shard, under its lock)
 *   usage  = sum of charges of live entries (in the table or still held)
 *   pinned = sum of charges of entries with refs > 0
 *   After any insert, release or capacity change, usage <= capacity unless
 *   every entry left in the table is held (only held bytes are over the limit).
 *   Each entry's deleter runs exactly once, after the entry left the table
 *   and its last handle was released, and never under a shard lock (so a
 *   deleter may call back into the cache).
 *
 * Thread-safety: every call is safe from any thread. Each shard has one
 * lock guarding its table, lists, usage, pinned and capacity; no call holds
 * two shard locks at once. The shard lock is a spinlock (test and
 * test-and-set; after a few hundred spins it yields the processor): every
 * critical section is a few pointer moves, and a point read takes three
 * lookups and three releases, where a pthread mutex's lock and unlock cost
 * ~130 instructions a pair more (issue 15); a lookup and a release touch
 * the shard and the entry only. Nothing blocks or allocates
 * under it but a bucket-table growth and cache_erase_id's walk, which are
 * rare; deleters run outside it. capacity_mu serializes cache_set_capacity and
 * is taken before a shard lock, never after. Hit/miss/insert/eviction counters are relaxed
 * atomics; the id counter is an atomic.
 */
#include "cache/cache.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX_SHARD_BITS 12
#define CACHE_AUTO_MAX_SHARD_BITS 4
#define CACHE_MIN_SHARD_BYTES ((size_t)512 << 10)
#define CACHE_INITIAL_BUCKETS 16
#define CACHE_LINE 64

/* What a lookup reads and writes comes first, in one cache line (entries
 * are allocated 64-byte aligned): a hit costs that line only. */
_Static_assert(sizeof(uint64_t) * 6 + sizeof(uint32_t) + 3 <= 64, "a lookup's fields fit one cache line");
struct cache_handle {
    uint64_t hash;
    uint64_t id;
    uint64_t offset;
    struct cache_handle *chain;   /* next in the hash bucket; next on a free list */
    void *value;
    uint64_t aux;                 /* cache_insert_aux's word */
    uint32_t refs;                /* handles handed out and not yet released */
    bool in_table;
    bool hot;                     /* looked up since eviction last passed it */
    bool parked;                  /* on the held list */
    size_t charge;
    cache_deleter deleter;
    void *ctx;
    struct cache_handle *prev;    /* list links (circular) */
    struct cache_handle *next;
};

typedef struct cache_shard {
    _Alignas(64) atomic_bool mu;        /* the spinlock: guards everything below but the atomics */
    cache_handle **buckets;
    size_t nbuckets;                    /* a power of two */
    size_t count;                       /* entries in the table */
    cache_handle lru;                   /* head: entries in the table not parked; lru.next is the oldest */
    cache_handle held;                  /* head: held entries eviction met */
    size_t capacity;
    size_t usage;
    size_t pinned;
    _Atomic uint64_t hits;
    _Atomic uint64_t misses;
    _Atomic uint64_t inserts;
    _Atomic uint64_t evictions;
} cache_shard;

struct cache {
    cache_shard *shards;
    int shard_bits;
    pthread_mutex_t capacity_mu;        /* serializes cache_set_capacity calls */
    _Atomic size_t capacity;
    _Atomic uint64_t next_id;
    _Atomic size_t pin_granted;         /* cache_pin_grant's bytes */
};

/* ---- helpers ------------------------------------------------------------ */

#define CACHE_SPINS_BEFORE_YIELD 200

static void shard_lock_slow(cache_shard *s)
{
    for (;;) {
        for (int i = 0; i < CACHE_SPINS_BEFORE_YIELD; i++) {
            if (!atomic_load_explicit(&s->mu, memory_order_relaxed) &&
                !atomic_exchange_explicit(&s->mu, true, memory_order_acquire))
                return;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        sched_yield();   /* the holder may have been preempted */
    }
}

static inline void shard_lock(cache_shard *s)
{
    if (atomic_exchange_explicit(&s->mu, true, memory_order_acquire))
        shard_lock_slow(s);
}

static inline void shard_unlock(cache_shard *s)
{
    atomic_store_explicit(&s->mu, false, memory_order_release);
}

static inline uint64_t cache_mix(uint64_t id, uint64_t offset)
{
    /* Spread the id over all bits, add the offset, finish with murmur3's fmix64. */
    uint64_t h = id * 0x9E3779B97F4A7C15ull + offset;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return h;
}

static inline cache_shard *cache_shard_of(cache *c, uint64_t hash)
{
    return c->shard_bits ? &c->shards[hash >> (64 - c->shard_bits)] : &c->shards[0];
}

static inline void cache_list_init(cache_handle *head)
{
    head->prev = head->next = head;
}

static inline void cache_list_remove(cache_handle *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

/* Appends at the newest end. */
static inline void cache_list_append(cache_handle *head, cache_handle *e)
{
    e->next = head;
    e->prev = head->prev;
    e->prev->next = e;
    head->prev = e;
}

/* The slot holding the entry of this key, or the empty slot at the end of its chain. */
static cache_handle **cache_slot(cache_shard *s, uint64_t hash, uint64_t id, uint64_t offset)
{
    cache_handle **p = &s->buckets[hash & (s->nbuckets - 1)];
    while (*p && !((*p)->hash == hash && (*p)->id == id && (*p)->offset == offset))
        p = &(*p)->chain;
    return p;
}

static void cache_table_unlink(cache_shard *s, cache_handle *e)
{
    cache_handle **p = &s->buckets[e->hash & (s->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->chain;
    *p = e->chain;
    e->chain = NULL;
    e->in_table = false;
    s->count--;
}

static void cache_table_grow(cache_shard *s)
{
    size_t n = s->nbuckets * 2;
    if (n < s->nbuckets || n > SIZE_MAX / sizeof(cache_handle *))
        return;
    cache_handle **b = calloc(n, sizeof *b);
    if (!b)
        return;                   /* keep the old table: chains just get longer */
    for (size_t i = 0; i < s->nbuckets; i++) {
        cache_handle *e = s->buckets[i];
        while (e) {
            cache_handle *next = e->chain;
            cache_handle **slot = &b[e->hash & (n - 1)];
            e->chain = *slot;
            *slot = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

/* Evicts from the oldest end while over capacity: a held entry is parked,
 * a hot one goes to the newest end with its bit cleared (so the walk ends
 * within two rounds of the list); the victims are pushed onto *dead (linked
 * through `chain`) to be freed after the unlock. */
static void cache_shard_trim(cache_shard *s, cache_handle **dead)
{
    while (s->usage > s->capacity && s->lru.next != &s->lru) {
        cache_handle *e = s->lru.next;
        cache_list_remove(e);
        if (e->refs) {
            e->parked = true;
            cache_list_append(&s->held, e);
            continue;
        }
        if (e->hot) {
            e->hot = false;
            cache_list_append(&s->lru, e);
            continue;
        }
        cache_table_unlink(s, e);
        s->usage -= e->charge;
        atomic_fetch_add_explicit(&s->evictions, 1, memory_order_relaxed);
        e->chain = *dead;
        *dead = e;
    }
}

static void cache_free_list(cache_handle *dead)
{
    while (dead) {
        cache_handle *next = dead->chain;
        if (dead->deleter)
            dead->deleter(dead->value, dead->ctx);
        free(dead);
        dead = next;
    }
}

static void cache_split_capacity(cache *c, size_t capacity)
{
    size_t n = (size_t)1 << c->shard_bits;
    for (size_t i = 0; i < n; i++) {
        cache_shard *s = &c->shards[i];
        cache_handle *dead = NULL;
        shard_lock(s);
        s->capacity = capacity / n + (i < capacity % n ? 1 : 0);
        cache_shard_trim(s, &dead);
        shard_unlock(s);
        cache_free_list(dead);
    }
}

/* ---- API ------------------------------------------------------------------ */

cache *cache_new(size_t capacity, int shard_bits)
{
    if (shard_bits < 0) {
        shard_bits = 0;
        while (shard_bits < CACHE_AUTO_MAX_SHARD_BITS &&
               capacity / CACHE_MIN_SHARD_BYTES >= ((size_t)2 << shard_bits))
            shard_bits++;
    }
    if (shard_bits > CACHE_MAX_SHARD_BITS)
        shard_bits = CACHE_MAX_SHARD_BITS;
    size_t n = (size_t)1 << shard_bits;

    cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->shard_bits = shard_bits;
    if (pthread_mutex_init(&c->capacity_mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->shards = aligned_alloc(_Alignof(cache_shard), n * sizeof(cache_shard));
    if (!c->shards) {
        pthread_mutex_destroy(&c->capacity_mu);
        free(c);
        return NULL;
    }
    size_t made = 0;
    for (; made < n; made++) {
        cache_shard *s = &c->shards[made];
        memset(s, 0, sizeof *s);
        atomic_init(&s->hits, 0);
        atomic_init(&s->misses, 0);
        atomic_init(&s->inserts, 0);
        atomic_init(&s->evictions, 0);
        s->buckets = calloc(CACHE_INITIAL_BUCKETS, sizeof *s->buckets);
        if (!s->buckets)
            break;
        atomic_init(&s->mu, false);
        s->nbuckets = CACHE_INITIAL_BUCKETS;
        cache_list_init(&s->lru);
        cache_list_init(&s->held);
    }
    if (made < n) {
        for (size_t i = 0; i < made; i++)
            free(c->shards[i].buckets);
        free(c->shards);
        pthread_mutex_destroy(&c->capacity_mu);
        free(c);
        return NULL;
    }
    atomic_init(&c->next_id, 1);
    atomic_init(&c->pin_granted, 0);
    atomic_init(&c->capacity, capacity);
    cache_split_capacity(c, capacity);
    return c;
}

void cache_free(cache *c)
{
    if (!c)
        return;
    size_t n = (size_t)1 << c->shard_bits;
    for (size_t i = 0; i < n; i++) {
        cache_shard *s = &c->shards[i];
        /* Every handle should have been released. Held entries (a caller
         * bug) are left alone rather than freed under their holder. */
        cache_handle *dead = NULL;
        while (s->lru.next != &s->lru) {
            cache_handle *e = s->lru.next;
            cache_list_remove(e);
            if (e->refs)
                continue;
            cache_table_unlink(s, e);
            e->chain = dead;
            dead = e;
        }
        cache_free_list(dead);
        free(s->buckets);
    }
    free(c->shards);
    pthread_mutex_destroy(&c->capacity_mu);
    free(c);
}

uint64_t cache_new_id(cache *c)
{
    return atomic_fetch_add_explicit(&c->next_id, 1, memory_order_relaxed);
}

cache_handle *cache_lookup(cache *c, uint64_t id, uint64_t offset)
{
    uint64_t hash = cache_mix(id, offset);
    cache_shard *s = cache_shard_of(c, hash);
    shard_lock(s);
    cache_handle *e = *cache_slot(s, hash, id, offset);
    if (e) {
        if (e->refs++ == 0)
            s->pinned += e->charge;
        e->hot = true;
    }
    shard_unlock(s);
    atomic_fetch_add_explicit(e ? &s->hits : &s->misses, 1, memory_order_relaxed);
    return e;
}

cache_handle *cache_insert(cache *c, uint64_t id, uint64_t offset, void *value, size_t charge,
                           cache_deleter deleter, void *ctx)
{
    return cache_insert_aux(c, id, offset, value, charge, deleter, ctx, 0);
}

cache_handle *cache_insert_aux(cache *c, uint64_t id, uint64_t offset, void *value, size_t charge,
                               cache_deleter deleter, void *ctx, uint64_t aux)
{
    cache_handle *e = aligned_alloc(CACHE_LINE, (sizeof *e + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE);
    if (!e) {
        if (deleter)
            deleter(value, ctx);
        return NULL;
    }
    uint64_t hash = cache_mix(id, offset);
    *e = (cache_handle){
        .id = id, .offset = offset, .hash = hash, .value = value, .charge = charge,
        .deleter = deleter, .ctx = ctx, .refs = 1, .in_table = true, .aux = aux,
    };
    cache_shard *s = cache_shard_of(c, hash);
    cache_handle *dead = NULL;

    shard_lock(s);
    cache_handle **slot = cache_slot(s, hash, id, offset);
    cache_handle *old = *slot;
    if (old) {
        /* Replace in place; the old entry leaves the table now and is freed
         * when its last holder releases it. */
        e->chain = old->chain;
        *slot = e;
        old->chain = NULL;
        old->in_table = false;
        cache_list_remove(old);
        if (old->refs == 0) {
            s->usage -= old->charge;
            old->chain = dead;
            dead = old;
        }
    } else {
        *slot = e;
        if (++s->count > s->nbuckets / 2)
            cache_table_grow(s);
    }
    cache_list_append(&s->lru, e);
    s->usage += charge;
    s->pinned += charge;
    cache_shard_trim(s, &dead);
    shard_unlock(s);

    atomic_fetch_add_explicit(&s->inserts, 1, memory_order_relaxed);
    cache_free_list(dead);
    return e;
}

void *cache_value(const cache_handle *h)
{
    return h->value;
}

uint64_t cache_aux(const cache_handle *h)
{
    return h->aux;
}

void cache_release(cache *c, cache_handle *h)
{
    if (!h)
        return;
    cache_shard *s = cache_shard_of(c, h->hash);
    cache_handle *dead = NULL;
    shard_lock(s);
    if (--h->refs == 0) {
        s->pinned -= h->charge;
        if (h->in_table) {
            if (h->parked) {
                h->parked = false;
                cache_list_remove(h);
                cache_list_append(&s->lru, h);
            }
            if (s->usage > s->capacity)
                cache_shard_trim(s, &dead);   /* an entry inserted over capacity goes now */
        } else {
            s->usage -= h->charge;        /* detached: replaced or erased while held */
            h->chain = dead;
            dead = h;
        }
    }
    shard_unlock(s);
    cache_free_list(dead);
}

void cache_erase_id(cache *c, uint64_t id)
{
    size_t n = (size_t)1 << c->shard_bits;
    for (size_t i = 0; i < n; i++) {
        cache_shard *s = &c->shards[i];
        cache_handle *dead = NULL;
        shard_lock(s);
        for (size_t b = 0; b < s->nbuckets; b++) {
            cache_handle **p = &s->buckets[b];
            while (*p) {
                cache_handle *e = *p;
                if (e->id != id) {
                    p = &e->chain;
                    continue;
                }
                *p = e->chain;
                e->chain = NULL;
                e->in_table = false;
                s->count--;
                cache_list_remove(e);
                if (e->refs == 0) {
                    s->usage -= e->charge;
                    e->chain = dead;
                    dead = e;
                }
            }
        }
        shard_unlock(s);
        cache_free_list(dead);
    }
}

void cache_get_stats(cache *c, cache_stats *out)
{
    *out = (cache_stats){0};
    size_t n = (size_t)1 << c->shard_bits;
    for (size_t i = 0; i < n; i++) {
        cache_shard *s = &c->shards[i];
        out->hits += atomic_load_explicit(&s->hits, memory_order_relaxed);
        out->misses += atomic_load_explicit(&s->misses, memory_order_relaxed);
        out->inserts += atomic_load_explicit(&s->inserts, memory_order_relaxed);
        out->evictions += atomic_load_explicit(&s->evictions, memory_order_relaxed);
        shard_lock(s);
        out->usage += s->usage;
        out->pinned += s->pinned;
        out->entries += s->count;
        shard_unlock(s);
    }
    out->capacity = atomic_load_explicit(&c->capacity, memory_order_relaxed);
    out->pin_granted = atomic_load_explicit(&c->pin_granted, memory_order_relaxed);
}

int cache_pin_grant(cache *c, size_t bytes)
{
    size_t budget = atomic_load_explicit(&c->capacity, memory_order_relaxed) / CACHE_PIN_SHARE;
    size_t cur = atomic_load_explicit(&c->pin_granted, memory_order_relaxed);
    do {
        if (bytes > budget || cur > budget - bytes)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&c->pin_granted, &cur, cur + bytes, memory_order_relaxed,
                                                    memory_order_relaxed));
    return 1;
}

void cache_pin_return(cache *c, size_t bytes)
{
    atomic_fetch_sub_explicit(&c->pin_granted, bytes, memory_order_relaxed);
}

void cache_set_capacity(cache *c, size_t capacity)
{
    /* Serialized so that two concurrent calls cannot leave the shards split
     * from different totals. */
    pthread_mutex_lock(&c->capacity_mu);
    atomic_store_explicit(&c->capacity, capacity, memory_order_relaxed);
    cache_split_capacity(c, capacity);
    pthread_mutex_unlock(&c->capacity_mu);
}
