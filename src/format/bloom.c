/*
 * bloom.c -- Bloom filters over 64-bit key hashes: cache-line blocked
 * (version 2, written) and standard (version 1, read).
 *
 * Filter bytes (FROZEN; docs/FORMAT.md "Bloom filter"):
 *   bit array [num_bits / 8 bytes] | u32 num_bits | u8 probes | u8 version
 * Bit j lives in byte j / 8 at bit position j % 8 (least significant first).
 * k = round(bits_per_key * ln 2) clamped to 1..30 in both versions.
 *
 * Version 2 (blocked): the array is num_bits / 512 lines of 64 bytes; a key
 * sets and tests its k bits in one line, so that a probe costs one cache
 * line instead of k (a point read's filter probe took about 7 first-level
 * cache misses, issue 15), for a false-positive rate a little above the
 * standard filter's: 0.96% against 0.82% at 10 bits per key, 1.29x at 12,
 * but 2.9x at 20 (lines hold unequal loads, and more bits per key cannot
 * even them out). So a builder writes version 2 up to
 * BLOOM_BLOCKED_MAX_BITS_PER_KEY and version 1 above, where the user asked
 * for a rate only the standard filter gives:
 *   x    = bloom_remix(key_hash)
 *   line = ((x >> 32) * (num_bits / 512)) >> 32
 *   z    = bloom_remix(x); probe i tests bit line * 512 + ((z >> 9 * (i % 7)) & 511),
 *          z = bloom_remix(z) after every 7th probe
 * num_bits = max(512, ceil(count * bits_per_key)) rounded up to a multiple of
 * 512, capped at BLOOM_MAX_BITS2.
 *
 * Version 1 (standard; tables written before version 2): num_bits =
 * max(64, ceil(count * bits_per_key)) rounded up to a multiple of 8, capped
 * at BLOOM_MAX_BITS; Kirsch-Mitzenmacher double hashing over the whole array:
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
#define BLOOM_V1_MIN_BITS 64u
#define BLOOM_MAX_BITS UINT32_C(0xFFFFFFF8)  /* largest multiple of 8 in a u32 */
#define BLOOM_LINE_BITS 512u                 /* version 2: one 64-byte cache line */
#define BLOOM_MAX_BITS2 UINT32_C(0xFFFFFE00) /* largest multiple of 512 in a u32 */
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
    b->version = b->bits_per_key <= BLOOM_BLOCKED_MAX_BITS_PER_KEY ? 2 : 1;
}

void bloom_builder_set_version(bloom_builder *b, int version)
{
    b->version = version == 1 ? 1 : 2;
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

/* The bit count for count keys, a multiple of `unit` (8 or 512) in [min, max]. */
static uint32_t bloom_bit_count(size_t count, double bits_per_key, uint32_t unit, uint32_t min, uint32_t max)
{
    double want = ceil((double)count * bits_per_key);
    if (!(want >= min))
        return min;
    if (want >= (double)max)
        return max;
    uint32_t bits = (uint32_t)want;
    return (bits + unit - 1) / unit * unit;      /* cannot overflow: bits < max */
}

/* Version 2: the line of remixed hash x in a bit array of `lines` lines. */
static inline const uint8_t *bloom_line(const uint8_t *bits, uint32_t lines, uint64_t x)
{
    return bits + (size_t)(((x >> 32) * (uint64_t)lines) >> 32) * (BLOOM_LINE_BITS / 8);
}

/* Version 2: probe i's bit within the line; *z starts as bloom_remix(x) and
 * is remixed before every 7th probe (seven 9-bit fields per word). */
static inline uint32_t bloom_line_bit(uint64_t *z, uint32_t i)
{
    if (i && i % 7 == 0)
        *z = bloom_remix(*z);
    return (uint32_t)(*z >> (9 * (i % 7))) & (BLOOM_LINE_BITS - 1);
}

/* Version 1: probe 0's bit of remixed hash x, and the stride to the next. */
static inline uint32_t bloom_v1_first(uint64_t x, uint32_t num_bits, uint32_t *delta)
{
    *delta = (uint32_t)((x >> 32) | 1) % num_bits;
    return (uint32_t)x % num_bits;
}

static inline uint32_t bloom_v1_next(uint32_t pos, uint32_t delta, uint32_t num_bits)
{
    return pos >= num_bits - delta ? pos - (num_bits - delta) : pos + delta;
}

static void bloom_set_v2(uint8_t *bits, uint32_t lines, uint32_t probes, uint64_t hash)
{
    uint64_t x = bloom_remix(hash);
    uint8_t *line = (uint8_t *)bloom_line(bits, lines, x);
    uint64_t z = bloom_remix(x);
    for (uint32_t i = 0; i < probes; i++) {
        uint32_t bit = bloom_line_bit(&z, i);
        line[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    }
}

static void bloom_set_v1(uint8_t *bits, uint32_t num_bits, uint32_t probes, uint64_t hash)
{
    uint32_t delta, pos = bloom_v1_first(bloom_remix(hash), num_bits, &delta);
    for (uint32_t i = 0; i < probes; i++) {
        bits[pos >> 3] |= (uint8_t)(1u << (pos & 7));
        pos = bloom_v1_next(pos, delta, num_bits);
    }
}

int bloom_builder_finish(bloom_builder *b, tbuf *out)
{
    int v2 = b->version != 1;
    uint32_t num_bits = v2 ? bloom_bit_count(b->count, b->bits_per_key, BLOOM_LINE_BITS, BLOOM_LINE_BITS,
                                             BLOOM_MAX_BITS2)
                           : bloom_bit_count(b->count, b->bits_per_key, 8, BLOOM_V1_MIN_BITS, BLOOM_MAX_BITS);
    uint32_t probes = bloom_probe_count(b->bits_per_key);
    size_t nbytes = num_bits / 8;
    if (tbuf_reserve(out, nbytes + BLOOM_FOOTER_SIZE) != TIND_OK)
        return TIND_ENOMEM;
    uint8_t *bits = out->data + out->len;
    memset(bits, 0, nbytes);
    for (size_t n = 0; n < b->count; n++) {
        if (v2)
            bloom_set_v2(bits, num_bits / BLOOM_LINE_BITS, probes, b->hashes[n]);
        else
            bloom_set_v1(bits, num_bits, probes, b->hashes[n]);
    }
    uint8_t *foot = bits + nbytes;
    enc_u32(foot, num_bits);
    foot[4] = (uint8_t)probes;
    foot[5] = (uint8_t)(v2 ? 2 : 1);
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

/* The footer's geometry when it is usable: 1, else 0. */
static int bloom_footer(const uint8_t *filter, size_t len, uint32_t *num_bits, uint32_t *probes, uint32_t *version)
{
    if (len < BLOOM_FOOTER_SIZE)
        return 0;
    const uint8_t *foot = filter + len - BLOOM_FOOTER_SIZE;
    *num_bits = dec_u32(foot);
    *probes = foot[4];
    *version = foot[5];
    uint32_t unit = *version == 2 ? BLOOM_LINE_BITS : 8;
    return (*version == 1 || *version == 2) && *probes >= 1 && *probes <= BLOOM_MAX_PROBES &&
           *num_bits >= (*version == 2 ? BLOOM_LINE_BITS : BLOOM_V1_MIN_BITS) && *num_bits % unit == 0 &&
           *num_bits / 8 == len - BLOOM_FOOTER_SIZE;
}

int bloom_check(const uint8_t *filter, size_t len, tind_err *err)
{
    uint32_t num_bits, probes, version;
    if (bloom_footer(filter, len, &num_bits, &probes, &version))
        return TIND_OK;
    if (len < BLOOM_FOOTER_SIZE)
        return err_set(err, TIND_ECORRUPT, "bloom filter: %zu bytes, shorter than its %d-byte footer",
                       len, BLOOM_FOOTER_SIZE);
    if (version != 1 && version != 2)
        return err_set(err, TIND_ECORRUPT, "bloom filter: unknown filter version %u", (unsigned)version);
    if (probes < 1 || probes > BLOOM_MAX_PROBES)
        return err_set(err, TIND_ECORRUPT, "bloom filter: bad probe count %u (1..%d)", (unsigned)probes,
                       BLOOM_MAX_PROBES);
    return err_set(err, TIND_ECORRUPT,
                   "bloom filter: footer says %u bits but the bit array holds %zu bytes (version %u: a multiple "
                   "of %u bits, at least %u)",
                   (unsigned)num_bits, len - BLOOM_FOOTER_SIZE, (unsigned)version, version == 2 ? BLOOM_LINE_BITS : 8,
                   version == 2 ? BLOOM_LINE_BITS : BLOOM_V1_MIN_BITS);
}

void bloom_view_init(bloom_view *v, const uint8_t *filter, size_t len)
{
    uint32_t num_bits, probes, version;
    memset(v, 0, sizeof *v);
    /* Unchecked garbage must not make us read past the bit array. */
    if (!bloom_footer(filter, len, &num_bits, &probes, &version))
        return;
    v->bits = filter;
    v->num_bits = num_bits;
    v->probes = (uint8_t)probes;
    v->version = (uint8_t)version;
}

void bloom_view_prefetch(const bloom_view *v, uint64_t key_hash)
{
    if (v->probes && v->version == 2)
        __builtin_prefetch(bloom_line(v->bits, v->num_bits / BLOOM_LINE_BITS, bloom_remix(key_hash)));
}

int bloom_view_may_contain(const bloom_view *v, uint64_t key_hash)
{
    if (!v->probes)
        return 1;
    uint64_t x = bloom_remix(key_hash);
    if (v->version == 2) {
        const uint8_t *line = bloom_line(v->bits, v->num_bits / BLOOM_LINE_BITS, x);
        uint64_t z = bloom_remix(x);
        for (uint32_t i = 0; i < v->probes; i++) {
            uint32_t bit = bloom_line_bit(&z, i);
            if (!(line[bit >> 3] & (1u << (bit & 7))))
                return 0;
        }
        return 1;
    }
    uint32_t delta, pos = bloom_v1_first(x, v->num_bits, &delta);
    for (uint32_t i = 0; i < v->probes; i++) {
        if (!(v->bits[pos >> 3] & (1u << (pos & 7))))
            return 0;
        pos = bloom_v1_next(pos, delta, v->num_bits);
    }
    return 1;
}

int bloom_may_contain(const uint8_t *filter, size_t len, uint64_t key_hash)
{
    bloom_view v;
    bloom_view_init(&v, filter, len);
    return bloom_view_may_contain(&v, key_hash);
}
