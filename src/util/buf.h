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
/* Replaces the contents (in line when they fit: iterators call it per step). */
static inline int tbuf_set(tbuf *b, const void *p, size_t n)
{
    if (n > b->cap)
        return tbuf_set_slow(b, p, n);
    if (n)
        memcpy(b->data, p, n);
    b->len = n;
    return 0;
}
static inline void tbuf_reset(tbuf *b) { b->len = 0; }
void tbuf_free(tbuf *b);

#endif
