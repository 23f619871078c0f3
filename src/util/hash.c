/* hash.c -- xxh3 through libxxhash. */
#include "util/hash.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

_Static_assert(sizeof(XXH3_state_t) <= sizeof(((hash64_stream *)0)->state), "hash64_stream too small");

uint64_t hash64(const void *data, size_t len) { return XXH3_64bits(data, len); }
uint64_t hash64_seed(const void *data, size_t len, uint64_t seed) { return XXH3_64bits_withSeed(data, len, seed); }

hash128 hash128_of(const void *data, size_t len)
{
    XXH128_hash_t h = XXH3_128bits(data, len);
    hash128 r = {h.low64, h.high64};
    return r;
}

void hash64_begin(hash64_stream *s) { XXH3_64bits_reset((XXH3_state_t *)s->state); }
void hash64_update(hash64_stream *s, const void *data, size_t len) { XXH3_64bits_update((XXH3_state_t *)s->state, data, len); }
uint64_t hash64_end(hash64_stream *s) { return XXH3_64bits_digest((XXH3_state_t *)s->state); }
