/*
 * compress.c -- block compression through liblz4 and libzstd.
 *
 * compress_bytes() appends to a tbuf; decompress_bytes() fills a buffer of
 * exactly raw_len bytes and insists that the input decodes to exactly that
 * many bytes, so a stored block whose header and payload disagree is always
 * caught here. Both decoders are the bounds-checked variants
 * (LZ4_decompress_safe, ZSTD_decompress): malformed input gives
 * TIND_ECORRUPT, never a read or write outside the given buffers.
 *
 * Thread-safe. zstd works in a context (hundreds of KiB to set up: per call
 * it cost more than the decoding of a 4 KiB block); each thread keeps one
 * compression and one decompression context in a pthread key, freed when
 * the thread exits. LZ4 likewise keeps one LZ4_stream_t per thread, used
 * two ways. From LZ4_ONESHOT_MIN (1 KiB) on, LZ4_compress_fast_extState
 * over it: it clears the 16 KiB state per call but picks the 16-bit table
 * for inputs below 64 KiB and runs the plain block loop; the streaming call
 * below was 1.7-3.1x slower on every input of 4 KiB and more (lz4 1.9.4,
 * tind-bench values: a 4 KiB value 7.7 -> 2.5 us, a 4 KiB table block 4.1 ->
 * 2.4 us, a 16 KiB one 23.5 -> 9.0 us, a 120 KB batch 113 -> 78 us; equal
 * at 1 KiB). Below it the clearing costs more than the compression (a
 * 116-byte input 0.19 us streaming, 0.36 us one-shot), so small inputs start
 * a new chain with LZ4_resetStream_fast (no clearing: stale hash entries
 * fall below the block's start and are never matched), so every block still
 * decodes on its own. A block's bytes must not depend on what its thread
 * compressed before (a table encoded on helper threads is byte-identical to one encoded by
 * its writer, blockpool.h): a used stream's reset leaves every old entry
 * 64 KiB behind the block, but a cleared stream (new, or cleared by LZ4
 * itself every GiB or so of input) has zero entries, which name position 0
 * of the block and do match (1,315 of 2,000 test blocks came out different
 * after a cleared vs a used stream, lz4 1.9.4). So every block is preceded
 * by a one-byte compression and a second reset: the stream is always a used
 * one (cost not measurable: 51,200 4 KiB blocks in 0.21 s either way).
 * zstd's output does not depend on the context's history. When the key or
 * a context cannot be had, the one-shot calls (a context per call) serve
 * instead; LZ4's one-shot call starts from a cleared state, so below
 * LZ4_ONESHOT_MIN its bytes may differ from the stream's (both decode the
 * same; from it on they are extState's).
 */
#include "format/compress.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <zstd.h>
#include <zstd_errors.h>

#define COMPRESS_ZSTD_DEFAULT_LEVEL 3
#define LZ4_ONESHOT_MIN 1024   /* inputs this large: LZ4_compress_fast_extState (see above) */

typedef struct zstd_ctx {
    ZSTD_CCtx *c;
    ZSTD_DCtx *d;
    LZ4_stream_t *lz4;
} zstd_ctx;

static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;
static pthread_key_t zstd_key;
static int zstd_key_ok;

static void zstd_ctx_free(void *p)
{
    zstd_ctx *z = p;
    ZSTD_freeCCtx(z->c);
    ZSTD_freeDCtx(z->d);
    LZ4_freeStream(z->lz4);
    free(z);
}

static void zstd_key_init(void) { zstd_key_ok = pthread_key_create(&zstd_key, zstd_ctx_free) == 0; }

/* This thread's contexts (either may be NULL: use the one-shot call). */
static zstd_ctx *zstd_thread_ctx(void)
{
    if (pthread_once(&zstd_once, zstd_key_init) != 0 || !zstd_key_ok)
        return NULL;
    zstd_ctx *z = pthread_getspecific(zstd_key);
    if (!z) {
        z = calloc(1, sizeof *z);
        if (!z)
            return NULL;
        if (pthread_setspecific(zstd_key, z) != 0) {
            free(z);
            return NULL;
        }
    }
    return z;
}

void *compress_zstd_dctx(void)
{
    zstd_ctx *z = zstd_thread_ctx();
    if (z && !z->d)
        z->d = ZSTD_createDCtx();
    return z ? z->d : NULL;
}

const char *compression_name(int type)
{
    switch (type) {
    case COMPRESSION_NONE: return "none";
    case COMPRESSION_LZ4:  return "lz4";
    case COMPRESSION_ZSTD: return "zstd";
    default:               return "unknown";
    }
}

int compress_bytes(int type, int level, const uint8_t *in, size_t n, tbuf *out)
{
    switch (type) {
    case COMPRESSION_NONE:
        return tbuf_append(out, in, n);
    case COMPRESSION_LZ4: {
        if (n > (size_t)LZ4_MAX_INPUT_SIZE)
            return TIND_ETOOBIG;
        int bound = LZ4_compressBound((int)n);
        if (tbuf_reserve(out, (size_t)bound))
            return TIND_ENOMEM;
        zstd_ctx *z = zstd_thread_ctx();
        if (z && !z->lz4)
            z->lz4 = LZ4_createStream();
        int got, accel = level < 0 ? (level < -65537 ? 65537 : -level) : 1;
        if (z && z->lz4 && n >= LZ4_ONESHOT_MIN) {
            got = LZ4_compress_fast_extState(z->lz4, (const char *)in, (char *)out->data + out->len, (int)n,
                                             bound, accel);
        } else if (z && z->lz4) {
            char one[16];
            LZ4_resetStream_fast(z->lz4);
            LZ4_compress_fast_continue(z->lz4, "", one, 1, (int)sizeof one, 1);
            LZ4_resetStream_fast(z->lz4);
            got = LZ4_compress_fast_continue(z->lz4, (const char *)in, (char *)out->data + out->len, (int)n, bound,
                                             accel);
        } else {
            got = LZ4_compress_fast((const char *)in, (char *)out->data + out->len, (int)n, bound, accel);
        }
        if (got <= 0)
            return TIND_EIO;   /* cannot happen with a full bound; never leaves partial output */
        out->len += (size_t)got;
        return TIND_OK;
    }
    case COMPRESSION_ZSTD: {
        size_t bound = ZSTD_compressBound(n);
        if (ZSTD_isError(bound))
            return TIND_ETOOBIG;
        if (tbuf_reserve(out, bound))
            return TIND_ENOMEM;
        int lv = level ? level : COMPRESS_ZSTD_DEFAULT_LEVEL;
        zstd_ctx *z = zstd_thread_ctx();
        if (z && !z->c)
            z->c = ZSTD_createCCtx();
        size_t got = z && z->c ? ZSTD_compressCCtx(z->c, out->data + out->len, bound, in, n, lv)
                               : ZSTD_compress(out->data + out->len, bound, in, n, lv);
        if (ZSTD_isError(got))
            return ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation ? TIND_ENOMEM : TIND_EIO;
        out->len += got;
        return TIND_OK;
    }
    default:
        return TIND_EINVAL;
    }
}

int decompress_size_plausible(int type, const uint8_t *in, size_t n, size_t raw_len)
{
    switch (type) {
    case COMPRESSION_NONE:
        return n == raw_len;
    case COMPRESSION_LZ4:
        /* an LZ4 sequence expands at most ~255 times */
        return raw_len / 255 <= n + 16;
    case COMPRESSION_ZSTD: {
        unsigned long long c = ZSTD_getFrameContentSize(in, n);
        return c == ZSTD_CONTENTSIZE_UNKNOWN ? raw_len / 255 <= n + 16 : c == (unsigned long long)raw_len;
    }
    default:
        return 0;
    }
}

int decompress_bytes(int type, const uint8_t *in, size_t n, uint8_t *out, size_t raw_len, tind_err *err)
{
    uint8_t dummy;
    if (raw_len == 0)
        out = &dummy;   /* decoders want a real pointer even for zero bytes */
    switch (type) {
    case COMPRESSION_NONE:
        if (n != raw_len)
            return err_set(err, TIND_ECORRUPT, "uncompressed payload of %zu bytes, expected %zu", n, raw_len);
        if (n)
            memcpy(out, in, n);
        return TIND_OK;
    case COMPRESSION_LZ4: {
        if (n > INT_MAX || raw_len > INT_MAX)
            return err_set(err, TIND_ECORRUPT, "lz4 payload too large (%zu bytes -> %zu)", n, raw_len);
        int got = LZ4_decompress_safe((const char *)in, (char *)out, (int)n, (int)raw_len);
        if (got < 0)
            return err_set(err, TIND_ECORRUPT, "lz4 payload of %zu bytes is malformed", n);
        if ((size_t)got != raw_len)
            return err_set(err, TIND_ECORRUPT, "lz4 payload decodes to %d bytes, expected %zu", got, raw_len);
        return TIND_OK;
    }
    case COMPRESSION_ZSTD: {
        zstd_ctx *z = zstd_thread_ctx();
        if (z && !z->d)
            z->d = ZSTD_createDCtx();
        size_t got = z && z->d ? ZSTD_decompressDCtx(z->d, out, raw_len, in, n) : ZSTD_decompress(out, raw_len, in, n);
        if (ZSTD_isError(got)) {
            if (ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation)
                return err_set(err, TIND_ENOMEM, "zstd: out of memory");
            return err_set(err, TIND_ECORRUPT, "zstd payload of %zu bytes is malformed (%s)", n,
                           ZSTD_getErrorName(got));
        }
        if (got != raw_len)
            return err_set(err, TIND_ECORRUPT, "zstd payload decodes to %zu bytes, expected %zu", got, raw_len);
        return TIND_OK;
    }
    default:
        return err_set(err, TIND_ECORRUPT, "unknown compression code %d", type);
    }
}
