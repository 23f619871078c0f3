/*
 * table_writer.c -- writes a table file sequentially (table.h).
 *
 * The "data" section is opened at offset 0 when the writer starts, and data
 * blocks are appended to the fs_writer as they fill: a block is cut as soon
 * as the builder's estimate reaches block_size after an add (so a single huge
 * entry makes one big block). Everything else is built in memory while the
 * data streams out and written by tbl_writer_finish:
 *   - the index: one index entry per data block, (last user key of the
 *     block, its seqno) -> blk_handle. With partition_index the entries go
 *     to partitions cut when a partition's estimate reaches partition_size,
 *     always right after a data block, and the stored partitions are kept in
 *     memory (their offsets are relative until the data section ends);
 *   - the filter: hash64 of every distinct user key (consecutive duplicates
 *     skipped) goes to one Bloom builder; with partition_filter the builder
 *     is finished at every index partition cut, and the first key of the next
 *     partition is always added even when it equals the previous key, so a
 *     key whose versions straddle two partitions is in both filters;
 *   - with an active prefix extractor (prefix.h), the prefix of every key
 *     in its domain goes to the same builder (pfx_hash), once per run of
 *     keys sharing it and again at the start of a filter partition, so a
 *     prefix is in the filter of every partition holding a key with it;
 *     with prefix.whole_keys = 0 the keys themselves are left out (and the
 *     table is format 3);
 *   - the statistics for the metadata block.
 * Invariant: the entries in the finished data blocks, the index entries and
 * the filter hashes always describe the same prefix of the input, except
 * for the blocks still with the encode threads (below).
 *
 * Index partitions are cut by an estimate kept as data blocks are cut (the
 * last key's length and TBL_INDEX_ENTRY_OVERHEAD per block, against
 * partition_size), so the cut, and the filter partition's, is decided when
 * a block is finished and before its handle is known.
 *
 * Encode threads (tbl_options.encode_threads, blockpool.h): a finished data
 * block is copied to the pool, whose threads compress and checksum it; the
 * writer's thread takes the encoded blocks back oldest first, appends them
 * and adds their index entries (and cuts an index partition where the block
 * was marked), all on its own thread: the file, the index and the filter
 * are never shared. Without threads the same steps run at once, in line.
 *
 * Failure: the first I/O or allocation failure is remembered in `status`;
 * later adds and finish return it, and the caller abandons (or finishes,
 * which then deletes the partial file). An out-of-order or invalid entry is
 * rejected with TIND_EINVAL before any state changes, so the writer stays
 * usable.
 *
 * Thread-safety: a writer is owned by one thread.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/block.h"
#include "format/blockio.h"
#include "format/blockpool.h"
#include "format/bloom.h"
#include "format/compress.h"
#include "format/container.h"
#include "format/rangetomb.h"
#include "format/table_int.h"
#include "format/zdict.h"
#include "util/hash.h"

/* An index partition (and its filter partition), cut when its last data
 * block was finished; its index part is stored once that block is taken
 * back from the encode threads. Offsets are relative to the start of the
 * stored partitions in memory. */
typedef struct tbl_wpart {
    size_t key_offset;        /* of its last user key in part_keys */
    size_t key_len;
    uint64_t seqno;
    uint64_t index_offset, index_size;
    uint64_t filter_offset, filter_size;
} tbl_wpart;

struct tbl_writer {
    fs *fsys;
    char *path;
    fs_file *file;
    int created;              /* we created path: abandon deletes it */
    fs_writer out;
    int out_ready;
    ctr_writer ctr;
    tbl_options o;
    int status;               /* first fatal failure, or TIND_OK */

    blk_builder data;         /* the data block being filled */
    tbuf stored;              /* scratch: one stored (blockio) block */
    tbuf handle;              /* scratch: an encoded handle */

    blk_builder index;        /* the whole index, or the current partition */
    tbuf index_parts;         /* stored index partitions, back to back */
    tbuf filter_parts;        /* stored filter partitions, back to back */
    tbuf part_keys;           /* last user keys of the partitions */
    tbl_wpart *parts;
    size_t part_count, part_cap;
    size_t index_cuts;        /* parts whose index part is stored */
    uint64_t part_estimate;   /* index bytes of the partition being filled (estimate) */

    bpool *pool;              /* encode threads, or NULL */
    bpool_slot *slot;         /* the batch being filled, or NULL */
    uint64_t inflight_raw;    /* raw bytes of the blocks with the pool */

    int has_filter;
    bloom_builder bloom;
    int filter_fresh;         /* the next key starts a filter partition */
    const pfx_callback *pfx_cb; /* the extractor's callback, read once at open */
    int pfx_on;               /* prefixes go to the filter */
    tbuf last_prefix;         /* the last prefix added */
    int have_prefix;
    int range_deletes;        /* a range tombstone was added: its range may cover
                               * prefixes the filter lacks, so no scan may skip
                               * the table (the prefix name is made unusable) */
    zdict_writer *zd;         /* zstd dictionary (zdict.h), or NULL */
    int dict_holding;         /* entries are held back to train it */

    tbuf last_key;            /* the last entry added */
    uint64_t last_seqno;
    int have_last;

    tbl_meta m;
    rt_list *rdel;            /* range tombstones for the "rangedel" section */
};

static int tbl_w_add_prefix(tbl_writer *w, const uint8_t *key, size_t klen);
static int tbl_w_hold(tbl_writer *w, const uint8_t *key, size_t klen, uint64_t seqno, uint8_t type,
                      const uint8_t *val, size_t vlen, tind_err *err);
static int tbl_w_dict_start(tbl_writer *w, tind_err *err);

/* Records the first fatal failure; later adds and finish return it. */
static int tbl_w_record(tbl_writer *w, int rc)
{
    if (w->status == TIND_OK)
        w->status = rc;
    return rc;
}

/* Records a failure of a call that does not fill err, and says what failed. */
static int tbl_w_fail(tbl_writer *w, int rc, tind_err *err, const char *what)
{
    tbl_w_record(w, rc);
    return err_set(err, rc, "table '%s': %s: %s", w->path, what, tind_strerror(rc));
}

static int tbl_w_check_options(const tbl_options *o, tind_err *err)
{
    if (o->block_size == 0 || o->restart_interval == 0 || o->index_restart_interval == 0)
        return err_set(err, TIND_EINVAL, "table options: block_size and restart intervals must be > 0");
    if (o->compression < COMPRESSION_NONE || o->compression > COMPRESSION_ZSTD)
        return err_set(err, TIND_EINVAL, "table options: unknown compression %d", o->compression);
    if (!(o->hash_ratio >= 0) || o->hash_ratio > 1e6)
        return err_set(err, TIND_EINVAL, "table options: bad hash_ratio");
    if (!(o->bloom_bits_per_key >= 0) || o->bloom_bits_per_key > 1000)
        return err_set(err, TIND_EINVAL, "table options: bad bloom_bits_per_key");
    if (o->partition_filter && !o->partition_index)
        return err_set(err, TIND_EINVAL, "table options: partition_filter requires partition_index");
    if (o->partition_index && o->partition_size == 0)
        return err_set(err, TIND_EINVAL, "table options: partition_size must be > 0");
    if (o->encode_threads < 0 || o->encode_threads > BPOOL_MAX_THREADS)
        return err_set(err, TIND_EINVAL, "table options: encode_threads %d not in 0..%d", o->encode_threads,
                       BPOOL_MAX_THREADS);
    return TIND_OK;
}

int tbl_writer_open(fs *fsys, const char *path, const tbl_options *o, tbl_writer **out, tind_err *err)
{
    tbl_options def;
    int rc;
    *out = NULL;
    if (!o) {
        tbl_options_default(&def);
        o = &def;
    }
    rc = tbl_w_check_options(o, err);
    if (rc != TIND_OK)
        return rc;
    tbl_writer *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(err, TIND_ENOMEM, "table '%s': out of memory", path);
    w->fsys = fsys;
    w->o = *o;
    w->path = strdup(path);
    if (!w->path) {
        free(w);
        return err_set(err, TIND_ENOMEM, "table '%s': out of memory", path);
    }
    blk_builder_init(&w->data, o->restart_interval, o->hash_ratio);
    blk_builder_init(&w->index, o->index_restart_interval, 0);
    w->has_filter = o->bloom_bits_per_key > 0;
    bloom_builder_init(&w->bloom, o->bloom_bits_per_key > 0 ? o->bloom_bits_per_key : 1);
    w->filter_fresh = 1;
    w->pfx_cb = pfx_callback_of(&o->prefix);
    w->pfx_on = w->has_filter && pfx_active(&o->prefix) &&
                (o->prefix.kind != PFX_CALLBACK || w->pfx_cb != NULL);
    if (o->zstd_dict_bytes && o->compression == COMPRESSION_ZSTD) {
        if (zdw_new(o->zstd_dict_bytes, o->compression_level, &w->zd) != TIND_OK) {
            rc = err_set(err, TIND_ENOMEM, "table '%s': out of memory", path);
            goto fail;
        }
        w->dict_holding = 1;
    }
    /* no threads: the blocks are encoded in line, as they would be anyway */
    if (o->encode_threads > 0 && !w->zd &&
        bpool_new(o->encode_threads, o->compression, o->compression_level, &w->pool) != TIND_OK)
        w->pool = NULL;
    w->m.restart_interval = o->restart_interval;
    w->m.block_size = o->block_size;
    w->m.compression = (uint32_t)o->compression;
    w->m.min_seqno = UINT64_MAX;

    rc = fs_open(fsys, path, FS_O_WRITE | FS_O_CREATE | FS_O_EXCL, &w->file, err);
    if (rc != TIND_OK) {
        w->file = NULL;
        goto fail;
    }
    w->created = 1;
    rc = fs_writer_init(&w->out, w->file, 0, 0);
    if (rc != TIND_OK) {
        err_set(err, rc, "table '%s': out of memory", path);
        goto fail;
    }
    w->out_ready = 1;
    ctr_writer_init(&w->ctr, &w->out, TABLE_FORMAT_VERSION_BASE);
    rc = ctr_section_begin(&w->ctr, TBL_SECTION_DATA, err);
    if (rc != TIND_OK)
        goto fail;
    *out = w;
    return TIND_OK;

fail:
    tbl_writer_abandon(w);
    return rc;
}

uint64_t tbl_writer_entries(const tbl_writer *w) { return w->m.entry_count; }

uint64_t tbl_writer_estimated_size(const tbl_writer *w)
{
    uint64_t n = w->out.offset;
    n += blk_builder_estimate(&w->data) + w->inflight_raw;
    n += w->index_parts.len + blk_builder_estimate(&w->index);
    n += w->filter_parts.len;
    if (w->dict_holding)
        n += zdw_held_bytes(w->zd);
    if (w->has_filter)
        n += (uint64_t)((double)bloom_builder_count(&w->bloom) * w->o.bloom_bits_per_key / 8);
    return n;
}

/* Raw bytes of data blocks with the encode threads (and in the batch being
 * filled) past which the writer waits for the oldest batch before adding a
 * block: (2 x 2 + 2) batches of 128 KiB fit below it with two threads. */
#define TBL_POOL_INFLIGHT (2u << 20)

/* Index bytes a data block adds besides its last key: the entry's varint
 * lengths, type, seqno and handle, and its restart point. */
#define TBL_INDEX_ENTRY_OVERHEAD 16

/* Cuts a partition after the data block just finished (its last key is
 * last_key): notes the partition's last key and stores the filter
 * partition (the next key starts a fresh one). */
static int tbl_w_cut_filter(tbl_writer *w)
{
    int rc;
    if (w->part_count == w->part_cap) {
        size_t cap = w->part_cap ? w->part_cap * 2 : 16;
        tbl_wpart *p = realloc(w->parts, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        w->parts = p;
        w->part_cap = cap;
    }
    tbl_wpart *p = &w->parts[w->part_count];
    memset(p, 0, sizeof *p);
    p->key_offset = w->part_keys.len;
    p->key_len = w->last_key.len;
    p->seqno = w->last_seqno;
    rc = tbuf_append(&w->part_keys, w->last_key.data, w->last_key.len);
    if (rc)
        return rc;
    if (w->has_filter && w->o.partition_filter) {
        tbuf_reset(&w->stored);
        rc = bloom_builder_finish(&w->bloom, &w->stored);
        if (rc)
            return rc;
        p->filter_offset = w->filter_parts.len;
        rc = blockio_encode(&w->filter_parts, w->stored.data, w->stored.len, COMPRESSION_NONE, 0);
        if (rc)
            return rc;
        p->filter_size = w->filter_parts.len - p->filter_offset;
        w->filter_fresh = 1;
    }
    w->part_count++;
    w->part_estimate = 0;
    return TIND_OK;
}

/* Stores the index part of the oldest partition whose last block is now
 * indexed. */
static int tbl_w_cut_index(tbl_writer *w)
{
    const uint8_t *raw;
    size_t n;
    tbl_wpart *p = &w->parts[w->index_cuts];
    int rc = blk_builder_finish(&w->index, &raw, &n);
    if (rc)
        return rc;
    p->index_offset = w->index_parts.len;
    rc = blockio_encode(&w->index_parts, raw, n, COMPRESSION_NONE, 0);
    if (rc)
        return rc;
    p->index_size = w->index_parts.len - p->index_offset;
    blk_builder_reset(&w->index);
    w->index_cuts++;
    return TIND_OK;
}

/* Appends an encoded data block and indexes it under (key, seqno), its
 * last entry; stores the index partition it ends, if it ends one. */
static int tbl_w_put_data(tbl_writer *w, const uint8_t *stored, size_t n, const uint8_t *key, size_t klen,
                          uint64_t seqno, int cut, tind_err *err)
{
    blk_handle h = {w->out.offset, n};
    int rc = fs_writer_append(&w->out, stored, n, err);
    if (rc)
        return tbl_w_record(w, rc);
    w->m.data_block_count++;
    w->m.data_bytes += n;
    tbuf_reset(&w->handle);
    rc = blk_handle_encode(&w->handle, h);
    if (rc == TIND_OK)
        rc = blk_builder_add(&w->index, key, klen, seqno, ENTRY_VALUE, w->handle.data, w->handle.len);
    if (rc == TIND_OK && cut)
        rc = tbl_w_cut_index(w);
    if (rc)
        return tbl_w_fail(w, rc, err, "building the index");
    return TIND_OK;
}

/* Takes encoded blocks back from the encode threads, oldest first, until
 * at most `keep` are with them (waiting as needed), and then those already
 * encoded; each is appended and indexed. */
static int tbl_w_drain(tbl_writer *w, size_t keep, tind_err *err)
{
    if (!w->pool)
        return TIND_OK;
    for (;;) {
        bpool_slot *s = bpool_oldest(w->pool, bpool_pending(w->pool) > keep);
        if (!s)
            return TIND_OK;
        int rc = s->rc ? tbl_w_fail(w, s->rc, err, "encoding a data block") : TIND_OK;
        for (size_t i = 0, at = 0, kat = 0; rc == TIND_OK && i < s->count;
             at = s->stored_end[i], kat = s->key_end[i], i++)
            rc = tbl_w_put_data(w, s->stored.data + at, s->stored_end[i] - at, s->keys.data + kat,
                                s->key_end[i] - kat, s->seqno[i], s->flags[i], err);
        w->inflight_raw -= s->raw.len;
        bpool_release(w->pool);
        if (rc)
            return rc;
    }
}

/* Hands the batch being filled to the encode threads, and takes back the
 * blocks already encoded. */
static int tbl_w_submit(tbl_writer *w, tind_err *err)
{
    if (!w->slot)
        return TIND_OK;
    bpool_submit(w->pool);
    w->slot = NULL;
    return tbl_w_drain(w, SIZE_MAX, err);
}

/* Finishes the data block being built (if any): decides whether an index
 * partition ends with it, then encodes, appends and indexes it, or gives
 * it to the encode threads. */
static int tbl_w_flush_block(tbl_writer *w, tind_err *err)
{
    const uint8_t *raw;
    size_t n;
    int rc, cut = 0;
    if (blk_builder_count(&w->data) == 0)
        return TIND_OK;
    rc = blk_builder_finish(&w->data, &raw, &n);
    if (rc)
        return tbl_w_fail(w, rc, err, "finishing a data block");
    if (w->o.partition_index) {
        w->part_estimate += w->last_key.len + TBL_INDEX_ENTRY_OVERHEAD;
        cut = w->part_estimate >= w->o.partition_size;
        if (cut && (rc = tbl_w_cut_filter(w)) != TIND_OK)
            return tbl_w_fail(w, rc, err, "building the index");
    }
    if (w->pool) {
        /* Takes the oldest batch back while the raw bytes with the threads
         * would pass TBL_POOL_INFLIGHT (memory stays bounded however large
         * a block is: that, or one batch) or no batch is free to fill
         * (every one is then with the threads: one is pending). */
        for (;;) {
            int over = bpool_pending(w->pool) && w->inflight_raw + n > TBL_POOL_INFLIGHT;
            if (!over && (w->slot || (w->slot = bpool_claim(w->pool))))
                break;
            if ((rc = tbl_w_drain(w, bpool_pending(w->pool) - 1, err)) != TIND_OK)
                return rc;
        }
        if (bpool_slot_add(w->slot, raw, n, w->last_key.data, w->last_key.len, w->last_seqno, cut))
            return tbl_w_fail(w, TIND_ENOMEM, err, "encoding a data block");
        blk_builder_reset(&w->data);
        w->inflight_raw += n;
        return bpool_slot_full(w->slot) ? tbl_w_submit(w, err) : TIND_OK;
    }
    tbuf_reset(&w->stored);
    if (w->zd && zdw_ready(w->zd))
        rc = zdw_encode(w->zd, &w->stored, raw, n);
    else
        rc = blockio_encode(&w->stored, raw, n, w->o.compression, w->o.compression_level);
    if (rc)
        return tbl_w_fail(w, rc, err, "encoding a data block");
    blk_builder_reset(&w->data);
    return tbl_w_put_data(w, w->stored.data, w->stored.len, w->last_key.data, w->last_key.len, w->last_seqno, cut,
                          err);
}

/* Upper bound of a stored block's raw size (the blockio header keeps it in 32 bits). */
#define TBL_MAX_BLOCK ((uint64_t)0xFFFF0000u)

int tbl_writer_add(tbl_writer *w, const uint8_t *key, size_t klen, uint64_t seqno, uint8_t type,
                   const uint8_t *val, size_t vlen, tind_err *err)
{
    int rc, same_key = 0;
    if (w->status != TIND_OK)
        return err_set(err, w->status, "table '%s': writer failed earlier: %s", w->path,
                       tind_strerror(w->status));
    if (klen == 0 || klen > TIND_MAX_KEY_SIZE || !key)
        return err_set(err, TIND_EINVAL, "table '%s': key length %zu not in 1..%u", w->path, klen,
                       TIND_MAX_KEY_SIZE);
    if (seqno > SEQNO_MAX || type > ENTRY_TYPE_MAX)
        return err_set(err, TIND_EINVAL, "table '%s': bad seqno %llu or type %u", w->path,
                       (unsigned long long)seqno, (unsigned)type);
    if ((uint64_t)vlen + klen + 64 > TBL_MAX_BLOCK)
        return err_set(err, TIND_ETOOBIG, "table '%s': entry of %zu bytes too large", w->path, vlen + klen);
    if (vlen && !val)
        return err_set(err, TIND_EINVAL, "table '%s': NULL value", w->path);
    if (w->have_last) {
        int c = key_cmp(w->last_key.data, w->last_key.len, key, klen);
        if (c > 0 || (c == 0 && w->last_seqno <= seqno))
            return err_set(err, TIND_EINVAL, "table '%s': entry out of internal order (seqno %llu)",
                           w->path, (unsigned long long)seqno);
        same_key = c == 0;
    }
    if (w->dict_holding)
        return tbl_w_hold(w, key, klen, seqno, type, val, vlen, err);
    /* A block never grows past what a 32-bit raw length can describe. */
    if (blk_builder_count(&w->data) &&
        blk_builder_estimate(&w->data) + (uint64_t)vlen + klen + 64 > TBL_MAX_BLOCK) {
        rc = tbl_w_flush_block(w, err);
        if (rc)
            return rc;
    }
    rc = blk_builder_add(&w->data, key, klen, seqno, type, val, vlen);
    if (rc)
        return tbl_w_fail(w, rc, err, "adding an entry");
    if (w->has_filter && (!same_key || w->filter_fresh) && (!w->pfx_on || w->o.prefix.whole_keys)) {
        rc = bloom_builder_add(&w->bloom, hash64(key, klen));
        if (rc)
            return tbl_w_fail(w, rc, err, "adding to the filter");
    }
    if (type == ENTRY_RANGE_TOMBSTONE)
        w->range_deletes = 1;
    if (w->pfx_on && (rc = tbl_w_add_prefix(w, key, klen)) != TIND_OK)
        return tbl_w_fail(w, rc, err, "adding to the filter");
    w->filter_fresh = 0;
    if (tbuf_set(&w->last_key, key, klen))
        return tbl_w_fail(w, TIND_ENOMEM, err, "adding an entry");
    w->last_seqno = seqno;
    if (!w->have_last && tbuf_set(&w->m.smallest_key, key, klen))
        return tbl_w_fail(w, TIND_ENOMEM, err, "adding an entry");
    w->have_last = 1;

    w->m.entry_count++;
    if (tbl_type_is_delete(type))
        w->m.tombstone_count++;
    w->m.raw_key_bytes += klen;
    w->m.raw_value_bytes += vlen;
    if (seqno < w->m.min_seqno)
        w->m.min_seqno = seqno;
    if (seqno > w->m.max_seqno)
        w->m.max_seqno = seqno;

    if (blk_builder_estimate(&w->data) >= w->o.block_size)
        return tbl_w_flush_block(w, err);
    return TIND_OK;
}

/* Holds a checked entry back for the dictionary's training; once the
 * samples suffice, trains and writes what was held. */
static int tbl_w_hold(tbl_writer *w, const uint8_t *key, size_t klen, uint64_t seqno, uint8_t type,
                      const uint8_t *val, size_t vlen, tind_err *err)
{
    int rc = zdw_hold(w->zd, key, klen, seqno, type, val, vlen);
    if (rc == TIND_OK && tbuf_set(&w->last_key, key, klen))
        rc = TIND_ENOMEM;
    if (rc)
        return tbl_w_fail(w, rc, err, "holding an entry for the dictionary");
    w->last_seqno = seqno;
    w->have_last = 1;
    return zdw_full(w->zd) ? tbl_w_dict_start(w, err) : TIND_OK;
}

/* Trains the dictionary (a table without one when training gives
 * nothing) and writes the entries held back through the usual path. */
static int tbl_w_dict_start(tbl_writer *w, tind_err *err)
{
    const uint8_t *k, *v;
    size_t kl, vl, pos = 0;
    uint64_t seq;
    uint8_t type;
    w->dict_holding = 0;
    int rc = zdw_train(w->zd, w->o.block_size, w->o.restart_interval);
    if (rc)
        return tbl_w_fail(w, rc, err, "training the zstd dictionary");
    w->have_last = 0;
    while (rc == TIND_OK && zdw_next_held(w->zd, &pos, &k, &kl, &seq, &type, &v, &vl))
        rc = tbl_writer_add(w, k, kl, seq, type, v, vl, err);
    zdw_drop_held(w->zd);
    return rc;
}

/* Adds key's prefix to the filter unless the previous key had it (and the
 * filter partition is not a fresh one). */
static int tbl_w_add_prefix(tbl_writer *w, const uint8_t *key, size_t klen)
{
    size_t n;
    if (!pfx_extract(&w->o.prefix, w->pfx_cb, key, klen, &n))
        return TIND_OK;
    if (w->have_prefix && !w->filter_fresh && key_cmp(w->last_prefix.data, w->last_prefix.len, key, n) == 0)
        return TIND_OK;
    if (tbuf_set(&w->last_prefix, key, n))
        return TIND_ENOMEM;
    w->have_prefix = 1;
    return bloom_builder_add(&w->bloom, pfx_hash(key, n));
}

/* Appends a stored block to the file; *h receives its handle. */
static int tbl_w_put_block(tbl_writer *w, const uint8_t *raw, size_t n, int compression,
                           blk_handle *h, tind_err *err)
{
    tbuf_reset(&w->stored);
    int rc = blockio_encode(&w->stored, raw, n, compression, w->o.compression_level);
    if (rc)
        return tbl_w_fail(w, rc, err, "encoding a block");
    h->offset = w->out.offset;
    h->size = w->stored.len;
    rc = fs_writer_append(&w->out, w->stored.data, w->stored.len, err);
    if (rc)
        return tbl_w_record(w, rc);
    return TIND_OK;
}

/* Writes the top-level block over the stored partitions at base: entries
 * (last key of partition i) -> handle of partition i (index or filter). */
static int tbl_w_put_top(tbl_writer *w, uint64_t base, int filter, blk_handle *top, tind_err *err)
{
    blk_builder b;
    const uint8_t *raw;
    size_t n;
    int rc = TIND_OK;
    blk_builder_init(&b, w->o.index_restart_interval, 0);
    for (size_t i = 0; i < w->part_count && rc == TIND_OK; i++) {
        const tbl_wpart *p = &w->parts[i];
        blk_handle h = filter ? (blk_handle){base + p->filter_offset, p->filter_size}
                              : (blk_handle){base + p->index_offset, p->index_size};
        tbuf_reset(&w->handle);
        rc = blk_handle_encode(&w->handle, h);
        if (rc == TIND_OK)
            rc = blk_builder_add(&b, w->part_keys.data + p->key_offset, p->key_len, p->seqno,
                                 ENTRY_VALUE, w->handle.data, w->handle.len);
    }
    if (rc == TIND_OK)
        rc = blk_builder_finish(&b, &raw, &n);
    if (rc == TIND_OK)
        rc = tbl_w_put_block(w, raw, n, COMPRESSION_NONE, top, err);
    else
        rc = tbl_w_fail(w, rc, err, "building a top-level block");
    blk_builder_free(&b);
    return rc;
}

static int tbl_w_finish_sections(tbl_writer *w, tbl_props *p, tind_err *err)
{
    const uint8_t *raw;
    size_t n;
    uint64_t start;
    int rc;

    if (w->dict_holding && (rc = tbl_w_dict_start(w, err)) != TIND_OK)
        return rc;
    rc = tbl_w_flush_block(w, err);
    if (rc == TIND_OK && w->pool)
        rc = tbl_w_submit(w, err);
    if (rc == TIND_OK)
        rc = tbl_w_drain(w, 0, err);
    if (rc)
        return rc;
    if (w->o.partition_index && blk_builder_count(&w->index) > 0) {
        rc = tbl_w_cut_filter(w);
        if (rc == TIND_OK)
            rc = tbl_w_cut_index(w);
        if (rc)
            return tbl_w_fail(w, rc, err, "building the index");
    }
    if ((rc = ctr_section_end(&w->ctr, err)) != TIND_OK)
        return tbl_w_record(w, rc);

    /* index */
    if ((rc = ctr_section_begin(&w->ctr, TBL_SECTION_INDEX, err)) != TIND_OK)
        return tbl_w_record(w, rc);
    start = w->out.offset;
    if (w->o.partition_index) {
        rc = fs_writer_append(&w->out, w->index_parts.data, w->index_parts.len, err);
        if (rc)
            return tbl_w_record(w, rc);
        rc = tbl_w_put_top(w, start, 0, &p->index_handle, err);
    } else {
        rc = blk_builder_finish(&w->index, &raw, &n);
        if (rc)
            return tbl_w_fail(w, rc, err, "finishing the index");
        rc = tbl_w_put_block(w, raw, n, COMPRESSION_NONE, &p->index_handle, err);
    }
    if (rc)
        return rc;
    w->m.index_bytes = w->out.offset - start;
    if ((rc = ctr_section_end(&w->ctr, err)) != TIND_OK)
        return tbl_w_record(w, rc);

    /* filter (none for an empty table) */
    p->has_filter = w->has_filter && w->m.entry_count > 0;
    if (p->has_filter) {
        if ((rc = ctr_section_begin(&w->ctr, TBL_SECTION_FILTER, err)) != TIND_OK)
            return tbl_w_record(w, rc);
        start = w->out.offset;
        if (w->o.partition_filter) {
            rc = fs_writer_append(&w->out, w->filter_parts.data, w->filter_parts.len, err);
            if (rc)
                return tbl_w_record(w, rc);
            rc = tbl_w_put_top(w, start, 1, &p->filter_handle, err);
        } else {
            tbuf f = TBUF_INIT;
            rc = bloom_builder_finish(&w->bloom, &f);
            if (rc) {
                tbuf_free(&f);
                return tbl_w_fail(w, rc, err, "building the filter");
            }
            rc = tbl_w_put_block(w, f.data, f.len, COMPRESSION_NONE, &p->filter_handle, err);
            tbuf_free(&f);
        }
        if (rc)
            return rc;
        w->m.filter_bytes = w->out.offset - start;
        if ((rc = ctr_section_end(&w->ctr, err)) != TIND_OK)
            return tbl_w_record(w, rc);
    }

    /* range tombstones: one stored block (docs/FORMAT.md "Range tombstone section") */
    if (w->rdel) {
        tbuf rb = TBUF_INIT;
        blk_handle rh;
        if ((rc = rt_list_encode(w->rdel, &rb)) != TIND_OK) {
            tbuf_free(&rb);
            return tbl_w_fail(w, rc, err, "encoding the range tombstones");
        }
        if ((rc = ctr_section_begin(&w->ctr, TBL_SECTION_RANGEDEL, err)) != TIND_OK) {
            tbuf_free(&rb);
            return tbl_w_record(w, rc);
        }
        rc = tbl_w_put_block(w, rb.data, rb.len, COMPRESSION_NONE, &rh, err);
        tbuf_free(&rb);
        if (rc)
            return rc;
        if ((rc = ctr_section_end(&w->ctr, err)) != TIND_OK)
            return tbl_w_record(w, rc);
    }
    /* zstd dictionary: one stored block, compression none */
    if (w->zd && zdw_ready(w->zd)) {
        size_t dn;
        const uint8_t *d = zdw_dict(w->zd, &dn);
        blk_handle dh;
        if ((rc = ctr_section_begin(&w->ctr, TBL_SECTION_DICT, err)) != TIND_OK)
            return tbl_w_record(w, rc);
        if ((rc = tbl_w_put_block(w, d, dn, COMPRESSION_NONE, &dh, err)) != TIND_OK)
            return rc;
        if ((rc = ctr_section_end(&w->ctr, err)) != TIND_OK)
            return tbl_w_record(w, rc);
        p->dict_id = zdw_dict_id(w->zd);
    }

    /* meta */
    w->m.range_tombstones = w->rdel ? w->rdel->tombstones : 0;
    if (w->m.entry_count == 0)
        w->m.min_seqno = 0;
    else if (tbuf_set(&w->m.largest_key, w->last_key.data, w->last_key.len))
        return tbl_w_fail(w, TIND_ENOMEM, err, "building the metadata");
    w->m.created_unix = (uint64_t)time(NULL);
    /* format 3 or 4 only when an older reader would misread the table */
    uint32_t version = TABLE_FORMAT_VERSION_BASE;
    char pname[PFX_NAME_MAX + 32];
    pname[0] = 0;
    if (w->pfx_on && p->has_filter) {
        if (w->range_deletes || w->rdel)
            memcpy(pname, "range-deletes/", 15);    /* never an extractor's name */
        pfx_name(&w->o.prefix, pname + strlen(pname), sizeof pname - strlen(pname));
        p->filter_prefix.data = (uint8_t *)pname;   /* borrowed: encode only reads it */
        p->filter_prefix.len = strlen(pname);
        p->filter_prefix_only = w->o.prefix.whole_keys ? 0 : 1;
        if (p->filter_prefix_only)
            version = 3;
    }
    if (p->dict_id || w->rdel)
        version = 3;
    if (p->has_filter && w->bloom.version == 2)
        version = 4;   /* blocked filters: an older reader would call them corrupt */
    w->ctr.toc.version = version;
    w->m.format_version = version;
    w->m.file_number = w->o.file_number;
    w->m.table_id = w->o.table_id;
    p->meta = w->m;       /* shallow: keys stay owned by w->m */
    p->format_version = version;
    p->index_partitioned = w->o.partition_index ? 1 : 0;
    p->index_partition_count = w->o.partition_index ? w->part_count : 0;
    p->index_restart_interval = w->o.index_restart_interval;
    p->filter_partitioned = p->has_filter && w->o.partition_filter ? 1 : 0;
    p->hash_ratio = w->o.hash_ratio;
    p->bloom_bits_per_key = w->o.bloom_bits_per_key;
    tbuf mb = TBUF_INIT;
    blk_handle mh;
    rc = tbl_props_encode(p, &mb);
    if (rc) {
        tbuf_free(&mb);
        return tbl_w_fail(w, rc, err, "building the metadata");
    }
    if ((rc = ctr_section_begin(&w->ctr, TBL_SECTION_META, err)) != TIND_OK) {
        tbuf_free(&mb);
        return tbl_w_record(w, rc);
    }
    rc = tbl_w_put_block(w, mb.data, mb.len, COMPRESSION_NONE, &mh, err);
    tbuf_free(&mb);
    if (rc)
        return rc;
    if ((rc = ctr_section_end(&w->ctr, err)) != TIND_OK)
        return tbl_w_record(w, rc);
    if ((rc = ctr_finish(&w->ctr, err)) != TIND_OK)
        return tbl_w_record(w, rc);
    /* the stored keys are the entries'; the table's key range (what finish
     * returns, the version file records) also covers its range tombstones */
    if (w->rdel && (rc = tbl_extend_range(&w->m, w->rdel)) != TIND_OK)
        return tbl_w_fail(w, rc, err, "extending the key range");
    return TIND_OK;
}

int tbl_writer_add_range_tombstones(tbl_writer *w, rt_list *l)
{
    if (w->rdel || !l)
        return TIND_EINVAL;
    rt_list_ref(l);
    w->rdel = l;
    return TIND_OK;
}

static void tbl_w_free(tbl_writer *w)
{
    bpool_free(w->pool);   /* its threads first: they read nothing else of w */
    if (w->out_ready)
        fs_writer_free(&w->out);
    blk_builder_free(&w->data);
    blk_builder_free(&w->index);
    bloom_builder_free(&w->bloom);
    tbuf_free(&w->stored);
    tbuf_free(&w->handle);
    tbuf_free(&w->index_parts);
    tbuf_free(&w->filter_parts);
    tbuf_free(&w->last_prefix);
    zdw_free(w->zd);
    tbuf_free(&w->part_keys);
    tbuf_free(&w->last_key);
    free(w->parts);
    tbl_meta_free(&w->m);
    rt_list_unref(w->rdel);
    free(w->path);
    free(w);
}

/* tbl_writer_finish and tbl_writer_finish_open: with `keep` (sync_mode 0)
 * the file passes open to the caller instead of being closed. */
static int writer_finish(tbl_writer *w, int sync_mode, tbl_meta *meta, fs_file **keep, tind_err *err)
{
    tbl_props p;
    int rc;
    memset(&p, 0, sizeof p);
    if (w->status != TIND_OK) {
        rc = err_set(err, w->status, "table '%s': writer failed earlier: %s", w->path,
                     tind_strerror(w->status));
        tbl_writer_abandon(w);
        return rc;
    }
    rc = tbl_w_finish_sections(w, &p, err);
    if (rc == TIND_OK)
        rc = sync_mode ? fs_writer_sync(&w->out, sync_mode, err) : fs_writer_flush(&w->out, err);
    if (rc == TIND_OK) {
        fs_file *f = w->file;
        w->file = NULL;
        if (keep)
            *keep = f;
        else
            rc = fs_close(f, err);
    }
    if (rc != TIND_OK) {
        if (w->status == TIND_OK)
            w->status = rc;
        tbl_writer_abandon(w);
        return rc;
    }
    w->m.file_size = w->out.offset;
    if (meta) {
        *meta = w->m;
        memset(&w->m.smallest_key, 0, sizeof w->m.smallest_key);
        memset(&w->m.largest_key, 0, sizeof w->m.largest_key);
    }
    tbl_w_free(w);
    return TIND_OK;
}

int tbl_writer_finish(tbl_writer *w, int sync_mode, tbl_meta *meta, tind_err *err)
{
    return writer_finish(w, sync_mode, meta, NULL, err);
}

int tbl_writer_finish_open(tbl_writer *w, tbl_meta *meta, fs_file **file, tind_err *err)
{
    *file = NULL;
    return writer_finish(w, 0, meta, file, err);
}

void tbl_writer_abandon(tbl_writer *w)
{
    if (!w)
        return;
    if (w->file)
        fs_close(w->file, NULL);
    w->file = NULL;
    if (w->created)
        fs_unlink(w->fsys, w->path, NULL);
    tbl_w_free(w);
}
