/*
 * compress.h -- block compression: none, LZ4 (liblz4), zstd (libzstd).
 * Thread-safe (no shared state; zstd contexts are per call or per caller).
 */
#ifndef TIND_FORMAT_COMPRESS_H
#define TIND_FORMAT_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/status.h"

/* Compression codes. DO NOT CHANGE: written in block headers. */
enum compression_type {
    COMPRESSION_NONE = 0,
    COMPRESSION_LZ4  = 1,
    COMPRESSION_ZSTD = 2,
};

/* Appends the compressed form of in[0..n) to out. level is used by zstd
 * (1..19; 0 = default 3); for LZ4 a negative level -a trades ratio for
 * speed as LZ4's acceleration a (others: acceleration 1), as zstd's
 * negative levels do. */
int compress_bytes(int type, int level, const uint8_t *in, size_t n, tbuf *out);
/* Decompresses exactly raw_len bytes into out; TIND_ECORRUPT when the input
 * is malformed or does not decode to exactly raw_len bytes. */
int decompress_bytes(int type, const uint8_t *in, size_t n, uint8_t *out, size_t raw_len, tind_err *err);
/* 0 when n stored bytes of `type` cannot decode to raw_len bytes (LZ4:
 * more than ~255 times expansion; zstd: the frame's recorded content size
 * differs), so a decoder can refuse before allocating raw_len bytes. */
int decompress_size_plausible(int type, const uint8_t *in, size_t n, size_t raw_len);
const char *compression_name(int type);
/* This thread's zstd decompression context (a ZSTD_DCtx *), made on first
 * use and freed when the thread exits; NULL when none can be had. */
void *compress_zstd_dctx(void);

#endif
