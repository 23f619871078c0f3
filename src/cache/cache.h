/*
 * cache.h -- the block cache: a sharded LRU (second chance) of decoded blocks keyed by
 * (owner id, offset), with a byte capacity.
 *
 * Entries are refcounted: an entry with a live handle is never freed, and an
 * entry is evicted only when nobody holds it. "Pinning" a block (filters and
 * indexes of the top levels) is holding its handle for as long as it must
 * stay; its bytes count as pinned usage. Owner ids come from cache_new_id()
 * so that two tables never share keys.
 *
 * Thread-safety: all calls are safe from any thread (one spinlock per shard).
 */
#ifndef TIND_CACHE_CACHE_H
#define TIND_CACHE_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cache cache;
typedef struct cache_handle cache_handle;
typedef void (*cache_deleter)(void *value, void *ctx);

/* capacity in bytes; shard_bits < 0 = automatic. NULL when out of memory. */
cache *cache_new(size_t capacity, int shard_bits);
/* All handles must have been released. */
void cache_free(cache *c);

uint64_t cache_new_id(cache *c);
/* A held handle, or NULL on a miss (counted). */
cache_handle *cache_lookup(cache *c, uint64_t id, uint64_t offset);
/* Inserts (replacing an older entry of the same key) and returns a held
 * handle. charge = bytes the entry costs. On allocation failure returns NULL
 * after calling deleter(value, ctx). */
cache_handle *cache_insert(cache *c, uint64_t id, uint64_t offset, void *value, size_t charge,
                           cache_deleter deleter, void *ctx);
/* cache_insert with a word the owner keeps beside the value, in the cache
 * line a lookup reads anyway (cache_aux): what a reader wants to know of
 * the value before it loads it. */
cache_handle *cache_insert_aux(cache *c, uint64_t id, uint64_t offset, void *value, size_t charge,
                               cache_deleter deleter, void *ctx, uint64_t aux);
void *cache_value(const cache_handle *h);
uint64_t cache_aux(const cache_handle *h);   /* 0 when inserted by cache_insert */
void cache_release(cache *c, cache_handle *h);
/* Drops every unheld entry of an owner id (a deleted table). */
void cache_erase_id(cache *c, uint64_t id);

/* Pins an owner takes on its own, beyond those it must hold (a table's
 * index partitions, held once read: table_reader.c), share one budget of
 * CACHE_PIN_SHARE-th of the capacity, so that they never crowd data blocks
 * out. cache_pin_grant returns 1 and counts the bytes when they fit, else 0;
 * cache_pin_return gives granted bytes back. */
#define CACHE_PIN_SHARE 8
int cache_pin_grant(cache *c, size_t bytes);
void cache_pin_return(cache *c, size_t bytes);

typedef struct cache_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t inserts;
    uint64_t evictions;
    size_t usage;        /* bytes charged, held or not */
    size_t pinned;       /* bytes of entries currently held */
    size_t capacity;
    size_t entries;      /* entries in the table (held or not) */
    size_t pin_granted;  /* bytes of cache_pin_grant not yet returned */
} cache_stats;
void cache_get_stats(cache *c, cache_stats *out);
void cache_set_capacity(cache *c, size_t capacity);

#endif
