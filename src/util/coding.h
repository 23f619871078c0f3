/*
 * coding.h -- fixed-width little-endian and varint encodings.
 *
 * Every integer tind writes to disk goes through here: fixed-width values
 * are little-endian; varints are LEB128 (7 bits a byte, low group first,
 * at most 5 bytes for 32 bits and 10 for 64). Decoders take an end pointer
 * and return NULL on truncated or over-long input: they never read past end.
 * Pure functions; thread-safe.
 */
#ifndef TIND_UTIL_CODING_H
#define TIND_UTIL_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define VARINT32_MAX_LEN 5
#define VARINT64_MAX_LEN 10

static inline void enc_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void enc_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void enc_u64(uint8_t *p, uint64_t v) { enc_u32(p, (uint32_t)v); enc_u32(p + 4, (uint32_t)(v >> 32)); }
static inline uint16_t dec_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t dec_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t dec_u64(const uint8_t *p) { return (uint64_t)dec_u32(p) | ((uint64_t)dec_u32(p + 4) << 32); }

/* Writes v at p (room for VARINT64_MAX_LEN bytes); returns the byte after it. */
static inline uint8_t *enc_varint64(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}
static inline uint8_t *enc_varint32(uint8_t *p, uint32_t v) { return enc_varint64(p, v); }

static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Decodes a varint from [p, end); returns the byte after it or NULL. */
const uint8_t *dec_varint64_slow(const uint8_t *p, const uint8_t *end, uint64_t *v);
static inline const uint8_t *dec_varint64(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    if (p < end && *p < 0x80) {
        *v = *p;
        return p + 1;
    }
    /* two to four bytes (sequence numbers below 2^28) without a call */
    if (end - p >= 4) {
        uint64_t x = p[0] & 0x7f;
        if (p[1] < 0x80) {
            *v = x | (uint64_t)p[1] << 7;
            return p + 2;
        }
        x |= (uint64_t)(p[1] & 0x7f) << 7;
        if (p[2] < 0x80) {
            *v = x | (uint64_t)p[2] << 14;
            return p + 3;
        }
        x |= (uint64_t)(p[2] & 0x7f) << 14;
        if (p[3] < 0x80) {
            *v = x | (uint64_t)p[3] << 21;
            return p + 4;
        }
    }
    return dec_varint64_slow(p, end, v);
}
static inline const uint8_t *dec_varint32(const uint8_t *p, const uint8_t *end, uint32_t *v)
{
    uint64_t x;
    if (p < end && *p < 0x80) {
        *v = *p;
        return p + 1;
    }
    p = dec_varint64_slow(p, end, &x);
    if (!p || x > UINT32_MAX)
        return NULL;
    *v = (uint32_t)x;
    return p;
}

#endif
