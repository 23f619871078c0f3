/*
 * blockio.c -- stored blocks: the 17-byte header, the checksum, and the
 * choice between compressed and raw payloads (blockio.h; docs/FORMAT.md,
 * "Stored block").
 *
 *   u8 compression | u32 raw_len | u32 stored_len | u64 checksum | payload
 *   checksum = xxh3-64(header[0..9) ++ payload)
 *
 * Decoding checks, in order: the exact size (17 + stored_len), the checksum,
 * a known compression code, then decompresses to exactly raw_len bytes. A
 * block that fails any check is TIND_ECORRUPT; nothing is decompressed
 * before the checksum has matched.
 *
 * Thread-safe: pure functions; blockio_read only needs fs_read, which is
 * safe to call concurrently on one file.
 */
#include "format/blockio.h"

#include <stdio.h>
#include <stdlib.h>

#include <zstd.h>
#include <string.h>

#include "format/compress.h"
#include "util/coding.h"
#include "util/hash.h"

/* ---- block handles ------------------------------------------------------- */

int blk_handle_encode(tbuf *out, blk_handle h)
{
    uint8_t tmp[2 * VARINT64_MAX_LEN];
    uint8_t *p = enc_varint64(tmp, h.offset);
    p = enc_varint64(p, h.size);
    return tbuf_append(out, tmp, (size_t)(p - tmp));
}

const uint8_t *blk_handle_decode(const uint8_t *p, const uint8_t *end, blk_handle *h)
{
    uint64_t offset, size;
    if (!(p = dec_varint64(p, end, &offset)) || !(p = dec_varint64(p, end, &size)))
        return NULL;
    h->offset = offset;
    h->size = size;
    return p;
}

/* ---- encoding ------------------------------------------------------------ */

static uint64_t block_checksum(const uint8_t *header, const uint8_t *payload, size_t n)
{
    hash64_stream s;
    hash64_begin(&s);
    hash64_update(&s, header, 9);
    hash64_update(&s, payload, n);
    return hash64_end(&s);
}

int blockio_encode(tbuf *out, const uint8_t *raw, size_t n, int type, int level)
{
    if (type < COMPRESSION_NONE || type > COMPRESSION_ZSTD)
        return TIND_EINVAL;
    if (n > UINT32_MAX)
        return TIND_ETOOBIG;
    size_t start = out->len;
    if (tbuf_reserve(out, BLOCK_HEADER_SIZE + n))
        return TIND_ENOMEM;
    out->len += BLOCK_HEADER_SIZE;
    int stored_type = COMPRESSION_NONE;
    if (type != COMPRESSION_NONE && n > 0) {
        int rc = compress_bytes(type, level, raw, n, out);
        size_t got = out->len - start - BLOCK_HEADER_SIZE;
        /* Keep the compressed form only when it saves at least 1/8 of raw. */
        if (rc == TIND_OK && got < n && (uint64_t)(n - got) * 8 >= n) {
            stored_type = type;
        } else {
            out->len = start + BLOCK_HEADER_SIZE;
            if (rc == TIND_ENOMEM) {
                out->len = start;
                return rc;
            }
        }
    }
    if (stored_type == COMPRESSION_NONE && n) {
        memcpy(out->data + out->len, raw, n);   /* room reserved above */
        out->len += n;
    }
    uint8_t *h = out->data + start;
    size_t stored_len = out->len - start - BLOCK_HEADER_SIZE;
    h[0] = (uint8_t)stored_type;
    enc_u32(h + 1, (uint32_t)n);
    enc_u32(h + 5, (uint32_t)stored_len);
    enc_u64(h + 9, block_checksum(h, h + BLOCK_HEADER_SIZE, stored_len));
    return TIND_OK;
}

int blockio_encode_payload(tbuf *out, const uint8_t *raw, size_t n, int type, const uint8_t *payload,
                           size_t plen)
{
    if (type < COMPRESSION_NONE || type > COMPRESSION_ZSTD || n > UINT32_MAX)
        return TIND_EINVAL;
    int keep = type != COMPRESSION_NONE && n > 0 && plen < n && (uint64_t)(n - plen) * 8 >= n;
    if (!keep) {
        payload = raw;
        plen = n;
        type = COMPRESSION_NONE;
    }
    size_t start = out->len;
    if (tbuf_reserve(out, BLOCK_HEADER_SIZE + plen))
        return TIND_ENOMEM;
    uint8_t *h = out->data + start;
    if (plen)
        memcpy(h + BLOCK_HEADER_SIZE, payload, plen);
    h[0] = (uint8_t)type;
    enc_u32(h + 1, (uint32_t)n);
    enc_u32(h + 5, (uint32_t)plen);
    enc_u64(h + 9, block_checksum(h, h + BLOCK_HEADER_SIZE, plen));
    out->len = start + BLOCK_HEADER_SIZE + plen;
    return TIND_OK;
}

/* ---- decoding ------------------------------------------------------------ */

typedef struct stored_head {
    int type;
    size_t raw_len;
    size_t stored_len;
} stored_head;

/* Checks size, checksum and compression code. Returns NULL when the block is
 * sound, else the reason. */
static const char *check_stored(const uint8_t *stored, size_t n, stored_head *sh, char *why, size_t why_len)
{
    if (n < BLOCK_HEADER_SIZE) {
        snprintf(why, why_len, "%zu bytes is shorter than the block header", n);
        return why;
    }
    sh->type = stored[0];
    sh->raw_len = dec_u32(stored + 1);
    sh->stored_len = dec_u32(stored + 5);
    if (n - BLOCK_HEADER_SIZE != sh->stored_len) {
        snprintf(why, why_len, "stored length %zu does not match the block size %zu", sh->stored_len, n);
        return why;
    }
    if (block_checksum(stored, stored + BLOCK_HEADER_SIZE, sh->stored_len) != dec_u64(stored + 9))
        return "checksum mismatch";
    if (sh->type > COMPRESSION_ZSTD) {
        snprintf(why, why_len, "unknown compression code %d", sh->type);
        return why;
    }
    if (sh->type == COMPRESSION_NONE && sh->raw_len != sh->stored_len) {
        snprintf(why, why_len, "uncompressed block with raw length %zu and stored length %zu",
                 sh->raw_len, sh->stored_len);
        return why;
    }
    /* LZ4 cannot expand more than 255 times; reject before allocating. */
    if (sh->type == COMPRESSION_LZ4 && sh->raw_len / 255 > sh->stored_len) {
        snprintf(why, why_len, "lz4 block claims %zu raw bytes from %zu", sh->raw_len, sh->stored_len);
        return why;
    }
    /* zstd frames record their content size (ZSTD_compress writes it): it
     * must agree with raw_len before anything of that size is allocated */
    if (sh->type == COMPRESSION_ZSTD) {
        unsigned long long content = ZSTD_getFrameContentSize(stored + BLOCK_HEADER_SIZE, sh->stored_len);
        if (content != (unsigned long long)sh->raw_len) {
            snprintf(why, why_len, "zstd block claims %zu raw bytes but its frame says %llu", sh->raw_len, content);
            return why;
        }
    }
    return NULL;
}

int blockio_decode(const uint8_t *stored, size_t n, uint8_t **raw, size_t *raw_len,
                   const char *what, tind_err *err)
{
    return blockio_decode_with(stored, n, NULL, NULL, raw, raw_len, what, err);
}

int blockio_decode_with(const uint8_t *stored, size_t n, blockio_decompress_fn fn, void *ctx, uint8_t **raw,
                        size_t *raw_len, const char *what, tind_err *err)
{
    stored_head sh;
    char why[128];
    const char *bad = check_stored(stored, n, &sh, why, sizeof why);
    if (bad)
        return err_set(err, TIND_ECORRUPT, "%s: block: %s", what, bad);
    uint8_t *out = malloc(sh.raw_len ? sh.raw_len : 1);
    if (!out)
        return err_set(err, TIND_ENOMEM, "%s: block: out of memory for %zu bytes", what, sh.raw_len);
    int rc = fn ? fn(ctx, sh.type, stored + BLOCK_HEADER_SIZE, sh.stored_len, out, sh.raw_len, err)
                : decompress_bytes(sh.type, stored + BLOCK_HEADER_SIZE, sh.stored_len, out, sh.raw_len, err);
    if (rc) {
        free(out);
        return err_wrap(err, rc, "%s: block", what);
    }
    *raw = out;
    *raw_len = sh.raw_len;
    return TIND_OK;
}

int blockio_read(fs_file *f, blk_handle h, uint8_t **raw, size_t *raw_len,
                 const char *what, tind_err *err)
{
    return blockio_read_with(f, h, NULL, NULL, raw, raw_len, what, err);
}

int blockio_read_with(fs_file *f, blk_handle h, blockio_decompress_fn fn, void *ctx, uint8_t **raw,
                      size_t *raw_len, const char *what, tind_err *err)
{
    return blockio_read_to(f, h, fn, ctx, NULL, raw, raw_len, what, err);
}

int blockio_read_to(fs_file *f, blk_handle h, blockio_decompress_fn fn, void *ctx, const blockio_out *to,
                    uint8_t **raw, size_t *raw_len, const char *what, tind_err *err)
{
    if (h.size < BLOCK_HEADER_SIZE || h.size > SIZE_MAX / 2)
        return err_set(err, TIND_ECORRUPT, "%s: block at offset %llu: bad size %llu", what,
                       (unsigned long long)h.offset, (unsigned long long)h.size);
    size_t n = (size_t)h.size;
    uint8_t *buf = malloc(n);
    if (!buf)
        return err_set(err, TIND_ENOMEM, "%s: block at offset %llu: out of memory for %zu bytes", what,
                       (unsigned long long)h.offset, n);
    size_t got = 0;
    int rc = fs_read(f, buf, n, h.offset, &got, err);
    if (rc) {
        free(buf);
        return err_wrap(err, rc, "%s: block at offset %llu", what, (unsigned long long)h.offset);
    }
    if (got != n) {
        free(buf);
        return err_set(err, TIND_ECORRUPT, "%s: block at offset %llu: truncated (%zu of %zu bytes)", what,
                       (unsigned long long)h.offset, got, n);
    }
    stored_head sh;
    char why[128];
    const char *bad = check_stored(buf, n, &sh, why, sizeof why);
    if (bad) {
        free(buf);
        return err_set(err, TIND_ECORRUPT, "%s: block at offset %llu: %s", what,
                       (unsigned long long)h.offset, bad);
    }
    if (sh.type == COMPRESSION_NONE && !to) {
        /* Reuse the read buffer: slide the payload to its start. */
        memmove(buf, buf + BLOCK_HEADER_SIZE, sh.raw_len);
        *raw = buf;
        *raw_len = sh.raw_len;
        return TIND_OK;
    }
    uint8_t *out = to ? to->alloc(to->ctx, sh.raw_len) : malloc(sh.raw_len ? sh.raw_len : 1);
    if (!out) {
        free(buf);
        return err_set(err, TIND_ENOMEM, "%s: block at offset %llu: out of memory for %zu bytes", what,
                       (unsigned long long)h.offset, sh.raw_len);
    }
    if (sh.type == COMPRESSION_NONE)
        memcpy(out, buf + BLOCK_HEADER_SIZE, sh.raw_len);
    else
        rc = fn ? fn(ctx, sh.type, buf + BLOCK_HEADER_SIZE, sh.stored_len, out, sh.raw_len, err)
                : decompress_bytes(sh.type, buf + BLOCK_HEADER_SIZE, sh.stored_len, out, sh.raw_len, err);
    free(buf);
    if (rc) {
        if (to)
            to->release(to->ctx, out, sh.raw_len);
        else
            free(out);
        return err_wrap(err, rc, "%s: block at offset %llu", what, (unsigned long long)h.offset);
    }
    *raw = out;
    *raw_len = sh.raw_len;
    return TIND_OK;
}
