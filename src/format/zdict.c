/*
 * zdict.c -- zstd dictionaries for data blocks (zdict.h).
 *
 * Entries held back are kept as records in one buffer:
 *   varint klen | key | varint seqno | u8 type | varint vlen | value
 * The training samples are the data blocks those entries make (the block
 * format of block.h with the table's block size and restart interval, no
 * hash index: close enough to the real blocks for training).
 */
#include "format/zdict.h"

#include <stdlib.h>
#include <string.h>

#include <zdict.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "format/block.h"
#include "format/blockio.h"
#include "format/compress.h"
#include "util/coding.h"

/* Samples: about 100 times the dictionary (zstd's advice), 64 KiB .. 16 MiB. */
#define ZDW_BUDGET_FACTOR 100
#define ZDW_BUDGET_MIN (64u << 10)
#define ZDW_BUDGET_MAX (16u << 20)

struct zdict_writer {
    size_t dict_bytes;
    int level;
    uint64_t budget;
    tbuf held;                /* entry records */
    uint64_t held_raw;        /* key and value bytes held */
    tbuf dict;                /* the trained dictionary */
    uint32_t dict_id;
    ZSTD_CDict *cdict;
    ZSTD_CCtx *cctx;
    tbuf scratch;
};

int zdw_new(size_t dict_bytes, int level, zdict_writer **out)
{
    zdict_writer *z = calloc(1, sizeof *z);
    if (!z)
        return TIND_ENOMEM;
    z->dict_bytes = dict_bytes;
    z->level = level ? level : 3;
    uint64_t b = (uint64_t)dict_bytes * ZDW_BUDGET_FACTOR;
    z->budget = b < ZDW_BUDGET_MIN ? ZDW_BUDGET_MIN : b > ZDW_BUDGET_MAX ? ZDW_BUDGET_MAX : b;
    *out = z;
    return TIND_OK;
}

void zdw_free(zdict_writer *z)
{
    if (!z)
        return;
    tbuf_free(&z->held);
    tbuf_free(&z->dict);
    tbuf_free(&z->scratch);
    ZSTD_freeCDict(z->cdict);
    ZSTD_freeCCtx(z->cctx);
    free(z);
}

int zdw_hold(zdict_writer *z, const uint8_t *key, size_t klen, uint64_t seqno, uint8_t type,
             const uint8_t *val, size_t vlen)
{
    int rc = tbuf_append_varint(&z->held, klen);
    rc |= tbuf_append(&z->held, key, klen);
    rc |= tbuf_append_varint(&z->held, seqno);
    rc |= tbuf_append_u8(&z->held, type);
    rc |= tbuf_append_varint(&z->held, vlen);
    rc |= tbuf_append(&z->held, val, vlen);
    if (rc)
        return TIND_ENOMEM;
    z->held_raw += klen + vlen;
    return TIND_OK;
}

int zdw_full(const zdict_writer *z) { return z->held_raw >= z->budget; }
uint64_t zdw_held_bytes(const zdict_writer *z) { return z->held.len; }
int zdw_ready(const zdict_writer *z) { return z->cdict != NULL; }

int zdw_next_held(const zdict_writer *z, size_t *pos, const uint8_t **key, size_t *klen, uint64_t *seqno,
                  uint8_t *type, const uint8_t **val, size_t *vlen)
{
    const uint8_t *p = z->held.data + *pos, *end = z->held.data + z->held.len;
    uint64_t kl, vl;
    if (*pos >= z->held.len)
        return 0;
    /* written by zdw_hold: well formed */
    p = dec_varint64(p, end, &kl);
    *key = p;
    *klen = (size_t)kl;
    p = dec_varint64(p + kl, end, seqno);
    *type = *p++;
    p = dec_varint64(p, end, &vl);
    *val = p;
    *vlen = (size_t)vl;
    *pos = (size_t)(p + vl - z->held.data);
    return 1;
}

void zdw_drop_held(zdict_writer *z)
{
    tbuf_free(&z->held);
    z->held_raw = 0;
}

int zdw_train(zdict_writer *z, uint32_t block_size, uint32_t restart_interval)
{
    blk_builder b;
    tbuf samples = TBUF_INIT;
    size_t *sizes = NULL, count = 0, cap = 0;
    size_t pos = 0;
    const uint8_t *k, *v;
    size_t kl, vl;
    uint64_t seq;
    uint8_t type;
    int rc = TIND_OK;

    blk_builder_init(&b, restart_interval, 0);
    for (;;) {
        int more = zdw_next_held(z, &pos, &k, &kl, &seq, &type, &v, &vl);
        if (more && (rc = blk_builder_add(&b, k, kl, seq, type, v, vl)) != TIND_OK)
            break;
        if (blk_builder_count(&b) && (!more || blk_builder_estimate(&b) >= block_size)) {
            const uint8_t *raw;
            size_t n;
            if ((rc = blk_builder_finish(&b, &raw, &n)) != TIND_OK)
                break;
            if (count == cap) {
                size_t nc = cap ? cap * 2 : 64;
                size_t *ns = realloc(sizes, nc * sizeof *ns);
                if (!ns) {
                    rc = TIND_ENOMEM;
                    break;
                }
                sizes = ns;
                cap = nc;
            }
            if (tbuf_append(&samples, raw, n)) {
                rc = TIND_ENOMEM;
                break;
            }
            sizes[count++] = n;
            blk_builder_reset(&b);
        }
        if (!more)
            break;
    }
    blk_builder_free(&b);
    /* ZDICT wants several samples; with fewer the table goes without */
    if (rc == TIND_OK && count >= 8 && !tbuf_reserve(&z->dict, z->dict_bytes)) {
        size_t got = ZDICT_trainFromBuffer(z->dict.data, z->dict_bytes, samples.data, sizes, (unsigned)count);
        if (!ZDICT_isError(got) && got > 0) {
            z->dict.len = got;
            z->dict_id = ZDICT_getDictID(z->dict.data, got);
            z->cdict = z->dict_id ? ZSTD_createCDict(z->dict.data, got, z->level) : NULL;
            z->cctx = z->cdict ? ZSTD_createCCtx() : NULL;
            if (z->cdict && !z->cctx) {
                ZSTD_freeCDict(z->cdict);
                z->cdict = NULL;
                rc = TIND_ENOMEM;
            }
        }
    }
    tbuf_free(&samples);
    free(sizes);
    return rc;
}

int zdw_encode(zdict_writer *z, tbuf *out, const uint8_t *raw, size_t n)
{
    size_t bound = ZSTD_compressBound(n);
    tbuf_reset(&z->scratch);
    if (ZSTD_isError(bound) || tbuf_reserve(&z->scratch, bound))
        return blockio_encode(out, raw, n, COMPRESSION_NONE, 0);
    size_t got = n ? ZSTD_compress_usingCDict(z->cctx, z->scratch.data, bound, raw, n, z->cdict) : 0;
    if (n == 0 || ZSTD_isError(got))
        return blockio_encode(out, raw, n, COMPRESSION_NONE, 0);
    return blockio_encode_payload(out, raw, n, COMPRESSION_ZSTD, z->scratch.data, got);
}

const uint8_t *zdw_dict(const zdict_writer *z, size_t *n)
{
    *n = z->dict.len;
    return z->dict.data;
}

uint32_t zdw_dict_id(const zdict_writer *z) { return z->dict_id; }

/* ------------------------------------------------------------------ reading */

struct zdict {
    ZSTD_DDict *ddict;
    uint32_t id;
};

int zdict_load(const uint8_t *bytes, size_t n, uint32_t want_id, zdict **out, const char *what, tind_err *err)
{
    *out = NULL;
    unsigned id = n >= 8 ? ZDICT_getDictID(bytes, n) : 0;
    if (id == 0)
        return err_set(err, TIND_ECORRUPT, "%s: dictionary section: not a zstd dictionary (%zu bytes)", what, n);
    if (id != want_id)
        return err_set(err, TIND_ECORRUPT, "%s: dictionary section: dictionary id %u, the metadata says %u", what,
                       id, (unsigned)want_id);
    /* it starts with the dictionary magic (it has an id), so zstd loads it
     * as a full dictionary: its header and entropy tables must parse */
    ZSTD_DDict *dd = ZSTD_createDDict(bytes, n);
    if (!dd)
        return err_set(err, TIND_ECORRUPT, "%s: dictionary section: malformed zstd dictionary (%zu bytes)", what,
                       n);
    zdict *d = malloc(sizeof *d);
    if (!d) {
        ZSTD_freeDDict(dd);
        return err_set(err, TIND_ENOMEM, "%s: dictionary section: out of memory", what);
    }
    d->ddict = dd;
    d->id = id;
    *out = d;
    return TIND_OK;
}

int zdict_from_stored(const uint8_t *stored, size_t n, zdict **out, const char *what, tind_err *err)
{
    uint8_t *raw = NULL;
    size_t rn = 0;
    *out = NULL;
    int rc = blockio_decode(stored, n, &raw, &rn, what, err);
    if (rc == TIND_OK)
        rc = zdict_load(raw, rn, rn >= 8 ? dec_u32(raw + 4) : 0, out, what, err);
    free(raw);
    return rc;
}

uint32_t zdict_id(const zdict *d) { return d->id; }

size_t zdict_memory(const zdict *d)
{
    return d ? sizeof *d + ZSTD_sizeof_DDict(d->ddict) : 0;
}

void zdict_free(zdict *d)
{
    if (!d)
        return;
    ZSTD_freeDDict(d->ddict);
    free(d);
}

int zdict_decompress(void *ctx, int type, const uint8_t *in, size_t n, uint8_t *out, size_t raw_len,
                     tind_err *err)
{
    const zdict *d = ctx;
    if (type != COMPRESSION_ZSTD)
        return decompress_bytes(type, in, n, out, raw_len, err);
    ZSTD_DCtx *dctx = (ZSTD_DCtx *)compress_zstd_dctx();
    uint8_t dummy;
    if (!dctx)
        return err_set(err, TIND_ENOMEM, "zstd: out of memory");
    size_t got = ZSTD_decompress_usingDDict(dctx, raw_len ? out : &dummy, raw_len, in, n, d->ddict);
    if (ZSTD_isError(got)) {
        if (ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation)
            return err_set(err, TIND_ENOMEM, "zstd: out of memory");
        return err_set(err, TIND_ECORRUPT, "zstd payload of %zu bytes is malformed with dictionary %u (%s)", n,
                       (unsigned)d->id, ZSTD_getErrorName(got));
    }
    if (got != raw_len)
        return err_set(err, TIND_ECORRUPT, "zstd payload decodes to %zu bytes, expected %zu", got, raw_len);
    return TIND_OK;
}
