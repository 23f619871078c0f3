/*
 * table.c -- what the table writer and reader share: default options, the
 * tbl_meta destructor and the metadata block (properties) codec.
 *
 * The metadata block is a block.h block (restart interval 1, no hash index)
 * whose entries are (property name, seqno 0, ENTRY_VALUE, value), sorted by
 * name. Value encodings (FROZEN for format version 1):
 *   u64 / u32  LEB128 varint (u32 ones must fit 32 bits)
 *   bytes      the raw bytes (user keys)
 *   handle     blk_handle encoding: varint offset, varint size
 *   f64        8 bytes, little-endian IEEE-754 binary64 bits
 * identity.number and identity.table_id (format 2) are encoded u64; the
 * reader requires them from format 2 on (tbl_open).
 * Unknown names are ignored (a later minor revision may add properties);
 * a required property that is missing, a known property with a malformed
 * value, an entry with seqno != 0 or type != ENTRY_VALUE, or names out of
 * order make the block corrupt.
 *
 * Pure functions; thread-safe.
 */
#include "format/table_int.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "format/block.h"
#include "format/compress.h"
#include "format/rangetomb.h"

void tbl_options_default(tbl_options *o)
{
    memset(o, 0, sizeof *o);
    o->block_size = 4096;
    o->restart_interval = 4;   /* issue 15: point reads scan 2 entries, not 8, past the restart point */
    o->index_restart_interval = 1;
    o->hash_ratio = 0.4;       /* with 8 restart intervals a block, fewer conflicting buckets */
    o->compression = COMPRESSION_LZ4;
    o->compression_level = 0;
    o->bloom_bits_per_key = 10;
    o->partition_index = 0;
    o->partition_filter = 0;
    o->partition_size = 4096;
    pfx_init(&o->prefix);
}

int tbl_extend_range(tbl_meta *m, const rt_list *l)
{
    size_t sn;
    const uint8_t *s = rt_list_smallest(l, &sn);
    if (!m->smallest_key.len || key_cmp(s, sn, m->smallest_key.data, m->smallest_key.len) < 0)
        if (tbuf_set(&m->smallest_key, s, sn))
            return TIND_ENOMEM;
    tbuf hi = TBUF_INIT;
    int rc = rt_list_largest(l, &hi);
    if (!rc && (!m->largest_key.len || key_cmp(hi.data, hi.len, m->largest_key.data, m->largest_key.len) > 0))
        rc = tbuf_set(&m->largest_key, hi.data, hi.len) ? TIND_ENOMEM : TIND_OK;
    tbuf_free(&hi);
    /* the seqno range covers the tombstones too (L0 order, read skips) */
    for (size_t i = 0; i < l->count; i++) {
        const rt_frag *f = &l->frags[i];
        if (f->seqs[0] > m->max_seqno)
            m->max_seqno = f->seqs[0];
        if (m->entry_count == 0 || f->seqs[f->nseq - 1] < m->min_seqno)
            m->min_seqno = f->seqs[f->nseq - 1];
    }
    return rc;
}

void tbl_meta_free(tbl_meta *m)
{
    if (!m)
        return;
    tbuf_free(&m->smallest_key);
    tbuf_free(&m->largest_key);
}

/* ------------------------------------------------------------ properties */

enum tbl_prop_kind { TBL_P_U64, TBL_P_U32, TBL_P_BYTES, TBL_P_HANDLE, TBL_P_F64 };

typedef struct tbl_prop_desc {
    const char *name;
    uint8_t kind;
    uint8_t required;
    uint8_t filter_only;      /* written only when the table has a filter */
    size_t offset;            /* in tbl_props */
} tbl_prop_desc;

#define TP(f) offsetof(tbl_props, f)
#define TM(f) offsetof(tbl_props, meta.f)

/* Sorted by name (memcmp order): the builder rejects anything else. FROZEN. */
static const tbl_prop_desc tbl_prop_table[] = {
    {"block_size",             TBL_P_U32,    1, 0, TM(block_size)},
    {"compression",            TBL_P_U32,    1, 0, TM(compression)},
    {"compression.dict_id",    TBL_P_U32,    0, 0, TP(dict_id)},
    {"created_unix",           TBL_P_U64,    1, 0, TM(created_unix)},
    {"data_block_count",       TBL_P_U64,    1, 0, TM(data_block_count)},
    {"data_bytes",             TBL_P_U64,    1, 0, TM(data_bytes)},
    {"entry_count",            TBL_P_U64,    1, 0, TM(entry_count)},
    {"filter.bits_per_key",    TBL_P_F64,    0, 1, TP(bloom_bits_per_key)},
    {"filter.handle",          TBL_P_HANDLE, 0, 1, TP(filter_handle)},
    {"filter.partitioned",     TBL_P_U64,    1, 0, TP(filter_partitioned)},
    {"filter.prefix",          TBL_P_BYTES,  0, 1, TP(filter_prefix)},
    {"filter.prefix_only",     TBL_P_U64,    0, 1, TP(filter_prefix_only)},
    {"filter_bytes",           TBL_P_U64,    1, 0, TM(filter_bytes)},
    {"format.version",         TBL_P_U64,    1, 0, TP(format_version)},
    {"hash_ratio",             TBL_P_F64,    0, 0, TP(hash_ratio)},
    {"identity.number",        TBL_P_U64,    0, 0, TM(file_number)},
    {"identity.table_id",      TBL_P_U64,    0, 0, TM(table_id)},
    {"index.handle",           TBL_P_HANDLE, 1, 0, TP(index_handle)},
    {"index.partition_count",  TBL_P_U64,    1, 0, TP(index_partition_count)},
    {"index.partitioned",      TBL_P_U64,    1, 0, TP(index_partitioned)},
    {"index.restart_interval", TBL_P_U64,    1, 0, TP(index_restart_interval)},
    {"index_bytes",            TBL_P_U64,    1, 0, TM(index_bytes)},
    {"largest_key",            TBL_P_BYTES,  1, 0, TM(largest_key)},
    {"max_seqno",              TBL_P_U64,    1, 0, TM(max_seqno)},
    {"min_seqno",              TBL_P_U64,    1, 0, TM(min_seqno)},
    {"range_tombstones",       TBL_P_U64,    0, 0, TM(range_tombstones)},
    {"raw_key_bytes",          TBL_P_U64,    1, 0, TM(raw_key_bytes)},
    {"raw_value_bytes",        TBL_P_U64,    1, 0, TM(raw_value_bytes)},
    {"restart_interval",       TBL_P_U32,    1, 0, TM(restart_interval)},
    {"smallest_key",           TBL_P_BYTES,  1, 0, TM(smallest_key)},
    {"tombstone_count",        TBL_P_U64,    1, 0, TM(tombstone_count)},
};
#define TBL_PROP_COUNT (sizeof tbl_prop_table / sizeof tbl_prop_table[0])

/* Properties written only when set (non-zero, non-empty). */
static int tbl_prop_optional(const tbl_prop_desc *d)
{
    return d->offset == TP(filter_prefix) || d->offset == TP(filter_prefix_only) || d->offset == TP(dict_id);
}

static int tbl_prop_unset(const tbl_prop_desc *d, const char *field)
{
    if (d->kind == TBL_P_BYTES)
        return ((const tbuf *)(const void *)field)->len == 0;
    if (d->kind == TBL_P_U32) {
        uint32_t y;
        memcpy(&y, field, sizeof y);
        return y == 0;
    }
    uint64_t x;
    memcpy(&x, field, sizeof x);
    return x == 0;
}

int tbl_props_encode(const tbl_props *p, tbuf *out)
{
    blk_builder b;
    tbuf v = TBUF_INIT;
    int rc = TIND_OK;
    blk_builder_init(&b, 1, 0);
    for (size_t i = 0; i < TBL_PROP_COUNT && rc == TIND_OK; i++) {
        const tbl_prop_desc *d = &tbl_prop_table[i];
        const char *field = (const char *)p + d->offset;
        if (d->filter_only && !p->has_filter)
            continue;
        if (tbl_prop_optional(d) && tbl_prop_unset(d, field))
            continue;
        tbuf_reset(&v);
        switch (d->kind) {
        case TBL_P_U64: {
            uint64_t x;
            memcpy(&x, field, sizeof x);
            rc = tbuf_append_varint(&v, x);
            break;
        }
        case TBL_P_U32: {
            uint32_t x;
            memcpy(&x, field, sizeof x);
            rc = tbuf_append_varint(&v, x);
            break;
        }
        case TBL_P_BYTES: {
            const tbuf *t = (const tbuf *)(const void *)field;
            rc = tbuf_append(&v, t->data, t->len);
            break;
        }
        case TBL_P_HANDLE: {
            blk_handle h;
            memcpy(&h, field, sizeof h);
            rc = blk_handle_encode(&v, h);
            break;
        }
        case TBL_P_F64: {
            double x;
            uint64_t bits;
            memcpy(&x, field, sizeof x);
            memcpy(&bits, &x, sizeof bits);
            rc = tbuf_append_u64(&v, bits);
            break;
        }
        }
        if (rc == TIND_OK)
            rc = blk_builder_add(&b, (const uint8_t *)d->name, strlen(d->name), 0, ENTRY_VALUE,
                                 v.data, v.len);
    }
    if (rc == TIND_OK) {
        const uint8_t *data;
        size_t n;
        rc = blk_builder_finish(&b, &data, &n);
        if (rc == TIND_OK)
            rc = tbuf_set(out, data, n);
    }
    tbuf_free(&v);
    blk_builder_free(&b);
    return rc;
}

static const tbl_prop_desc *tbl_prop_find(const uint8_t *name, size_t n)
{
    size_t lo = 0, hi = TBL_PROP_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = tbl_prop_table[mid].name;
        int c = key_cmp((const uint8_t *)m, strlen(m), name, n);
        if (c == 0)
            return &tbl_prop_table[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int tbl_prop_bad(tind_err *err, const char *what, const tbl_prop_desc *d, const char *why)
{
    return err_set(err, TIND_ECORRUPT, "%s: metadata block: property '%s': %s", what, d->name, why);
}

static int tbl_prop_decode_one(const tbl_prop_desc *d, const uint8_t *v, size_t n, tbl_props *p,
                               const char *what, tind_err *err)
{
    char *field = (char *)p + d->offset;
    const uint8_t *end = v + n;
    switch (d->kind) {
    case TBL_P_U64:
    case TBL_P_U32: {
        uint64_t x;
        const uint8_t *q = dec_varint64(v, end, &x);
        if (!q || q != end)
            return tbl_prop_bad(err, what, d, "malformed varint");
        if (d->kind == TBL_P_U64) {
            memcpy(field, &x, sizeof x);
        } else {
            if (x > UINT32_MAX)
                return tbl_prop_bad(err, what, d, "value does not fit 32 bits");
            uint32_t y = (uint32_t)x;
            memcpy(field, &y, sizeof y);
        }
        return TIND_OK;
    }
    case TBL_P_BYTES: {
        tbuf *t = (tbuf *)(void *)field;
        if (tbuf_set(t, v, n))
            return err_set(err, TIND_ENOMEM, "%s: metadata block: out of memory", what);
        return TIND_OK;
    }
    case TBL_P_HANDLE: {
        blk_handle h;
        const uint8_t *q = blk_handle_decode(v, end, &h);
        if (!q || q != end)
            return tbl_prop_bad(err, what, d, "malformed block handle");
        memcpy(field, &h, sizeof h);
        return TIND_OK;
    }
    case TBL_P_F64: {
        if (n != 8)
            return tbl_prop_bad(err, what, d, "not 8 bytes");
        uint64_t bits = dec_u64(v);
        double x;
        memcpy(&x, &bits, sizeof x);
        if (!isfinite(x))
            return tbl_prop_bad(err, what, d, "not a finite number");
        memcpy(field, &x, sizeof x);
        return TIND_OK;
    }
    }
    return tbl_prop_bad(err, what, d, "unknown kind");
}

int tbl_props_decode(const uint8_t *raw, size_t len, tbl_props *p, const char *what, tind_err *err)
{
    blk b;
    blk_iter it;
    tbuf prev = TBUF_INIT;
    uint64_t seen = 0;
    int rc, first = 1;

    memset(p, 0, sizeof *p);
    rc = blk_parse(&b, raw, len, err);
    if (rc != TIND_OK)
        return err_wrap(err, TIND_ECORRUPT, "%s: metadata block", what);
    blk_iter_init(&it, &b);
    for (blk_iter_first(&it); it.valid; blk_iter_next(&it)) {
        if (it.seqno != 0 || it.type != ENTRY_VALUE) {
            rc = err_set(err, TIND_ECORRUPT, "%s: metadata block: entry with seqno %llu type %u",
                         what, (unsigned long long)it.seqno, (unsigned)it.type);
            goto out;
        }
        if (!first && key_cmp(prev.data, prev.len, it.key.data, it.key.len) >= 0) {
            rc = err_set(err, TIND_ECORRUPT, "%s: metadata block: property names out of order", what);
            goto out;
        }
        first = 0;
        if (tbuf_set(&prev, it.key.data, it.key.len)) {
            rc = err_set(err, TIND_ENOMEM, "%s: metadata block: out of memory", what);
            goto out;
        }
        const tbl_prop_desc *d = tbl_prop_find(it.key.data, it.key.len);
        if (!d)
            continue; /* a property this version does not know: ignorable */
        rc = tbl_prop_decode_one(d, it.value, it.value_len, p, what, err);
        if (rc != TIND_OK)
            goto out;
        seen |= UINT64_C(1) << (d - tbl_prop_table);
    }
    if (it.status != TIND_OK) {
        rc = err_set(err, TIND_ECORRUPT, "%s: metadata block: malformed entries", what);
        goto out;
    }
    for (size_t i = 0; i < TBL_PROP_COUNT; i++) {
        if (tbl_prop_table[i].required && !(seen & (UINT64_C(1) << i))) {
            rc = tbl_prop_bad(err, what, &tbl_prop_table[i], "missing");
            goto out;
        }
    }
    p->has_filter = (seen & (UINT64_C(1) << (tbl_prop_find((const uint8_t *)"filter.handle", 13)
                                              - tbl_prop_table))) != 0;
    p->has_identity = (seen & (UINT64_C(1) << (tbl_prop_find((const uint8_t *)"identity.number", 15)
                                                - tbl_prop_table))) != 0 &&
                      (seen & (UINT64_C(1) << (tbl_prop_find((const uint8_t *)"identity.table_id", 17)
                                                - tbl_prop_table))) != 0;
    rc = TIND_OK;
out:
    blk_iter_free(&it);
    tbuf_free(&prev);
    if (rc != TIND_OK) {
        tbl_meta_free(&p->meta);
        tbuf_free(&p->filter_prefix);
    }
    return rc;
}
