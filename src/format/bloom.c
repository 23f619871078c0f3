/*
 * bloom.c -- standard (not blocked) Bloom filters over 64-bit key hashes.
 *
 * Filter bytes (FROZEN, filter version 1; docs/FORMAT.md "Bloom filter"):
 *   bit array [num_bits / 8 bytes] | u32 num_bits | u8 probes | u8 version (1)
 * Bit j lives in byte j / 8 at bit position j % 8 (least significant first).
 * Sizing: k = round(bits_per_key * ln 2) clamped to 1..30; num_bits =
 * max(64, ceil(count * bits_per_key)) rounded up to a multiple of 8 and capped
 * at BLOOM_MAX_BITS. Probing (Kirsch-Mitzenmacher double hashing):
 *   x  = bloom_remix(key_hash)
 *   h1 = x & 0xffffffff, h2 = (x >> 32) | 1
 *   probe i (0 <= i < k) tests bit (h1 + i * h2) mod num_bits
 * Because num_bits is a multiple of 8 and h2 is odd, h2 mod num_bits is never
 * 0, so the k probes never collapse onto one bit.
 *
 * Invariants: a hash added to a builder is always reported by
 * bloom_may_contain() on the finished filter (no false negatives).
 * bloom_may_contain() never reads outside [filter, filter + len), even on bytes
 * that did not pass bloom_check(): an unusable filter answers 1 ("may
 * contain"), which is always safe.
 *
 * Thread-safety: a builder belongs to one thread; probing is read-only.
 */
#include "format/bloom.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/coding.h"

#define BLOOM_FOOTER_SIZE 6
#define BLOOM_VERSION 1            /* FROZEN: filter format version */
#define BLOOM_MIN_BITS 64u
#define BLOOM_MAX_BITS UINT32_C(0xFFFFFFF8)  /* largest multiple of 8 in a u32 */
#define BLOOM_MAX_PROBES 30
#define BLOOM_LN2 0.69314718055994530942

/* FROZEN: the remix that turns a key hash into the two probe hashes. It is a
 * splitmix64-style finalizer over the hash xored with a constant, so that h1
 * and h2 differ from the hash bits the block hash index uses. */
static inline uint64_t bloom_remix(uint64_t h)
{
    uint64_t x = h ^ UINT64_C(0x6a09e667f3bcc909);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

double bloom_bits_for_fpr(double fpr)
{
    if (!(fpr > 0))                /* 0, negative or NaN: a generous finite answer */
        return 64.0;
    if (fpr >= 1)
        return 0.0;
    return -log(fpr) / (BLOOM_LN2 * BLOOM_LN2);
}

void bloom_builder_init(bloom_builder *b, double bits_per_key)
{
    memset(b, 0, sizeof *b);
    b->bits_per_key = bits_per_key > 0 ? bits_per_key : 0;   /* NaN -> 0 too */
}

int bloom_builder_add(bloom_builder *b, uint64_t key_hash)
{
    /* Keys arrive sorted, so repeats of one key are adjacent: dropping them
     * keeps the filter no larger than the distinct keys need. */
    if (b->count > 0 && b->hashes[b->count - 1] == key_hash)
        return TIND_OK;
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        if (cap > SIZE_MAX / sizeof *b->hashes)
            return TIND_ENOMEM;
        uint64_t *p = realloc(b->hashes, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        b->hashes = p;
        b->cap = cap;
    }
    b->hashes[b->count++] = key_hash;
    return TIND_OK;
}

static uint32_t bloom_probe_count(double bits_per_key)
{
    double k = floor(bits_per_key * BLOOM_LN2 + 0.5);
    if (!(k >= 1))
        return 1;
    if (k > BLOOM_MAX_PROBES)
        return BLOOM_MAX_PROBES;
    return (uint32_t)k;
}

static uint32_t bloom_bit_count(size_t count, double bits_per_key)
{
    double want = ceil((double)count * bits_per_key);
    if (!(want >= BLOOM_MIN_BITS))
        return BLOOM_MIN_BITS;
    if (want >= (double)BLOOM_MAX_BITS)
        return BLOOM_MAX_BITS;
    uint32_t bits = (uint32_t)want;
    return (bits + 7u) & ~7u;      /* cannot overflow: bits < BLOOM_MAX_BITS */
}

int bloom_builder_finish(bloom_builder *b, tbuf *out)
{
    uint32_t num_bits = bloom_bit_count(b->count, b->bits_per_key);
    uint32_t probes = bloom_probe_count(b->bits_per_key);
    size_t nbytes = num_bits / 8;
    if (tbuf_reserve(out, nbytes + BLOOM_FOOTER_SIZE) != TIND_OK)
        return TIND_ENOMEM;
    uint8_t *bits = out->data + out->len;
    memset(bits, 0, nbytes);
    for (size_t n = 0; n < b->count; n++) {
        uint64_t x = bloom_remix(b->hashes[n]);
        uint32_t pos = (uint32_t)x % num_bits;
        uint32_t delta = (uint32_t)((x >> 32) | 1) % num_bits;
        for (uint32_t i = 0; i < probes; i++) {
            bits[pos >> 3] |= (uint8_t)(1u << (pos & 7));
            pos = (pos >= num_bits - delta) ? pos - (num_bits - delta) : pos + delta;
        }
    }
    uint8_t *foot = bits + nbytes;
    enc_u32(foot, num_bits);
    foot[4] = (uint8_t)probes;
    foot[5] = BLOOM_VERSION;
    out->len += nbytes + BLOOM_FOOTER_SIZE;
    b->count = 0;
    return TIND_OK;
}

void bloom_builder_free(bloom_builder *b)
{
    free(b->hashes);
    b->hashes = NULL;
    b->count = 0;
    b->cap = 0;
}

int bloom_check(const uint8_t *filter, size_t len, tind_err *err)
{
    if (len < BLOOM_FOOTER_SIZE)
        return err_set(err, TIND_ECORRUPT, "bloom filter: %zu bytes, shorter than its %d-byte footer",
                       len, BLOOM_FOOTER_SIZE);
    const uint8_t *foot = filter + len - BLOOM_FOOTER_SIZE;
    uint32_t num_bits = dec_u32(foot);
    unsigned probes = foot[4], version = foot[5];
    if (version != BLOOM_VERSION)
        return err_set(err, TIND_ECORRUPT, "bloom filter: unknown filter version %u", version);
    if (probes < 1 || probes > BLOOM_MAX_PROBES)
        return err_set(err, TIND_ECORRUPT, "bloom filter: bad probe count %u (1..%d)", probes,
                       BLOOM_MAX_PROBES);
    size_t nbytes = len - BLOOM_FOOTER_SIZE;
    if (num_bits < BLOOM_MIN_BITS || num_bits % 8 != 0 || num_bits / 8 != nbytes)
        return err_set(err, TIND_ECORRUPT,
                       "bloom filter: footer says %u bits but the bit array holds %zu bytes",
                       (unsigned)num_bits, nbytes);
    return TIND_OK;
}

int bloom_may_contain(const uint8_t *filter, size_t len, uint64_t key_hash)
{
    if (len < BLOOM_FOOTER_SIZE)
        return 1;
    const uint8_t *foot = filter + len - BLOOM_FOOTER_SIZE;
    uint32_t num_bits = dec_u32(foot);
    uint32_t probes = foot[4];
    /* Unchecked garbage must not make us read past the bit array. */
    if (num_bits == 0 || num_bits / 8 > len - BLOOM_FOOTER_SIZE || num_bits % 8 != 0)
        return 1;
    uint64_t x = bloom_remix(key_hash);
    uint32_t pos = (uint32_t)x % num_bits;
    uint32_t delta = (uint32_t)((x >> 32) | 1) % num_bits;
    for (uint32_t i = 0; i < probes; i++) {
        if (!(filter[pos >> 3] & (1u << (pos & 7))))
            return 0;
        pos = (pos >= num_bits - delta) ? pos - (num_bits - delta) : pos + delta;
    }
    return 1;
}
