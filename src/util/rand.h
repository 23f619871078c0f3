/*
 * rand.h -- a small, fast, seedable PRNG (xoshiro256**-style splitmix seed).
 * Used for skip list heights, tests and stress campaigns; never for secrets.
 * A trng is owned by one thread at a time.
 */
#ifndef TIND_UTIL_RAND_H
#define TIND_UTIL_RAND_H

#include <stdint.h>

typedef struct trng {
    uint64_t s[4];
} trng;

static inline uint64_t trng_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void trng_seed(trng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = trng_splitmix(&seed);
}

static inline uint64_t trng_next(trng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, n); n > 0. */
static inline uint64_t trng_below(trng *r, uint64_t n) { return trng_next(r) % n; }

/* Uniform in [0, 1), 53 bits. */
static inline double trng_double(trng *r) { return (double)(trng_next(r) >> 11) * 0x1.0p-53; }

#endif
