/*
 * blockio.h -- a block as stored in a file: a 17-byte header (compression
 * code, raw length, stored length, xxh3-64 checksum) and the stored payload.
 * The checksum covers the header's first 9 bytes and the payload, and is
 * checked on every read, before decompression.
 *
 * A block handle (offset, size) names a stored block; size includes the header.
 */
#ifndef TIND_FORMAT_BLOCKIO_H
#define TIND_FORMAT_BLOCKIO_H

#include <stddef.h>
#include <stdint.h>

#include "io/fs.h"
#include "util/buf.h"
#include "util/status.h"

#define BLOCK_HEADER_SIZE 17

typedef struct blk_handle {
    uint64_t offset;
    uint64_t size;
} blk_handle;

/* Handle encoding: varint offset, varint size. */
int blk_handle_encode(tbuf *out, blk_handle h);
const uint8_t *blk_handle_decode(const uint8_t *p, const uint8_t *end, blk_handle *h);

/* Appends header + payload for raw[0..n) to out. Compresses with `type`
 * (compress.h) and keeps the result only when it saves at least 1/8;
 * otherwise stores raw (compression code 0). */
int blockio_encode(tbuf *out, const uint8_t *raw, size_t n, int type, int level);

/* Verifies and decodes a stored block (header + payload, exactly n bytes).
 * On success *raw is malloc'd (caller frees) with *raw_len bytes.
 * TIND_ECORRUPT (message names `what` and the cause) otherwise. */
int blockio_decode(const uint8_t *stored, size_t n, uint8_t **raw, size_t *raw_len,
                   const char *what, tind_err *err);

/* Reads the block named by h from f, verifies and decodes it. `what` names
 * the file for messages ("table 17"). */
int blockio_read(fs_file *f, blk_handle h, uint8_t **raw, size_t *raw_len,
                 const char *what, tind_err *err);

/* Codecs beside compress.c's (zstd dictionaries, format/zdict.h). */
typedef int (*blockio_decompress_fn)(void *ctx, int type, const uint8_t *in, size_t n, uint8_t *out,
                                     size_t raw_len, tind_err *err);
/* blockio_read / blockio_decode decoding compressed payloads with fn(ctx, ...) */
int blockio_read_with(fs_file *f, blk_handle h, blockio_decompress_fn fn, void *ctx, uint8_t **raw,
                      size_t *raw_len, const char *what, tind_err *err);
int blockio_decode_with(const uint8_t *stored, size_t n, blockio_decompress_fn fn, void *ctx, uint8_t **raw,
                        size_t *raw_len, const char *what, tind_err *err);
/* Where blockio_read_to puts the raw bytes: alloc(ctx, n) returns room for n
 * bytes (NULL: out of memory); release(ctx, p, n) gives it back when the
 * read fails after all. */
typedef struct blockio_out {
    void *(*alloc)(void *ctx, size_t n);
    void (*release)(void *ctx, void *p, size_t n);
    void *ctx;
} blockio_out;
/* blockio_read_with whose *raw comes from out (decompressed straight into
 * it: no copy for a caller that keeps the bytes in memory of its own). */
int blockio_read_to(fs_file *f, blk_handle h, blockio_decompress_fn fn, void *ctx, const blockio_out *out,
                    uint8_t **raw, size_t *raw_len, const char *what, tind_err *err);
/* blockio_encode with the compressed payload made by the caller (type, plen
 * bytes): kept when it saves 1/8 of n, else raw[0..n) is stored. */
int blockio_encode_payload(tbuf *out, const uint8_t *raw, size_t n, int type, const uint8_t *payload,
                           size_t plen);

#endif
