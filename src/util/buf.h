/*
 * buf.h -- a growable byte buffer.
 *
 * A tbuf owns its memory (malloc). Append functions return TIND_OK or
 * TIND_ENOMEM and leave the buffer unchanged on failure. Not thread-safe.
 */
#ifndef TIND_UTIL_BUF_H
#define TIND_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/coding.h"

typedef struct tbuf {
    uint8_t *data;
    size_t len;
    size_t cap;
} tbuf;

#define TBUF_INIT {NULL, 0, 0}

int tbuf_reserve(tbuf *b, size_t extra);     /* room for len + extra bytes */
int tbuf_append(tbuf *b, const void *p, size_t n);
int tbuf_append_u8(tbuf *b, uint8_t v);
int tbuf_append_u16(tbuf *b, uint16_t v);
int tbuf_append_u32(tbuf *b, uint32_t v);
int tbuf_append_u64(tbuf *b, uint64_t v);
int tbuf_append_varint(tbuf *b, uint64_t v);
int tbuf_set_slow(tbuf *b, const void *p, size_t n);
/* memcpy in line for the few bytes of a key (a call into the C library
 * for each of an iterator's per-step copies otherwise): up to 16 bytes as
 * two overlapping fixed-size moves, more by memcpy. Reads [s, s + n) and
 * writes [d, d + n) only. */
static inline void copy_small(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, sp, 8);
        memcpy(&b, sp + n - 8, 8);
        memcpy(dp, &a, 8);
        memcpy(dp + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, sp, 4);
        memcpy(&b, sp + n - 4, 4);
        memcpy(dp, &a, 4);
        memcpy(dp + n - 4, &b, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            dp[i] = sp[i];
    } else {
        memcpy(dp, sp, n);
    }
}
/* Replaces the contents (in line when they fit: iterators call it per step). */
static inline int tbuf_set(tbuf *b, const void *p, size_t n)
{
    if (n > b->cap)
        return tbuf_set_slow(b, p, n);
    copy_small(b->data, p, n);
    b->len = n;
    return 0;
}
static inline void tbuf_reset(tbuf *b) { b->len = 0; }
void tbuf_free(tbuf *b);

#endif
