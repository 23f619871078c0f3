/* buf.c -- growable byte buffer. */
#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

#include "tind.h"

int tbuf_reserve(tbuf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return TIND_OK;
    if (extra > SIZE_MAX / 2 - b->len)
        return TIND_ENOMEM;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < extra)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return TIND_ENOMEM;
    b->data = p;
    b->cap = cap;
    return TIND_OK;
}

int tbuf_append(tbuf *b, const void *p, size_t n)
{
    if (n == 0)
        return TIND_OK;
    if (tbuf_reserve(b, n))
        return TIND_ENOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return TIND_OK;
}

int tbuf_append_u8(tbuf *b, uint8_t v) { return tbuf_append(b, &v, 1); }
int tbuf_append_u16(tbuf *b, uint16_t v) { uint8_t t[2]; enc_u16(t, v); return tbuf_append(b, t, 2); }
int tbuf_append_u32(tbuf *b, uint32_t v) { uint8_t t[4]; enc_u32(t, v); return tbuf_append(b, t, 4); }
int tbuf_append_u64(tbuf *b, uint64_t v) { uint8_t t[8]; enc_u64(t, v); return tbuf_append(b, t, 8); }

int tbuf_append_varint(tbuf *b, uint64_t v)
{
    uint8_t t[VARINT64_MAX_LEN];
    return tbuf_append(b, t, (size_t)(enc_varint64(t, v) - t));
}

int tbuf_set_slow(tbuf *b, const void *p, size_t n)
{
    b->len = 0;
    return tbuf_append(b, p, n);
}

void tbuf_free(tbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
