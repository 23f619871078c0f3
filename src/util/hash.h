/*
 * hash.h -- the xxh3 wrapper (libxxhash). Checksums of blocks, records and
 * tables, Bloom filter hashes and the hash index all come from here, so the
 * choice of hash is made once. Thread-safe.
 */
#ifndef TIND_UTIL_HASH_H
#define TIND_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct hash128 {
    uint64_t low;
    uint64_t high;
} hash128;

uint64_t hash64(const void *data, size_t len);
uint64_t hash64_seed(const void *data, size_t len, uint64_t seed);
hash128 hash128_of(const void *data, size_t len);

/* Streaming xxh3-64 over several pieces (no allocation). */
typedef struct hash64_stream { unsigned char state[640] __attribute__((aligned(64))); } hash64_stream;
void hash64_begin(hash64_stream *s);
void hash64_update(hash64_stream *s, const void *data, size_t len);
uint64_t hash64_end(hash64_stream *s);

#endif
