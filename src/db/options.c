/*
 * options.c -- option setters, defaults, and the stored keyspace options.
 * Setters clamp nothing silently: values are checked when the options are
 * used (tind_open / tind_keyspace_open return TIND_EINVAL with a message).
 */
#include "db/options.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "format/compress.h"
#include "format/zdict.h"
#include "util/coding.h"

void options_default(struct tind_options *o)
{
    memset(o, 0, sizeof *o);
    o->create_if_missing = 1;
    o->cache_size = 64u << 20;
    /* issue 15: RocksDB's memtables (64 MiB, two of them): a quarter the
     * flushes and L0 merges of 16 MiB ones, which rewrote a small last level
     * four times as often (micro/fillrandom 2M keys w-amp 3.8 -> 2.9) */
    o->write_buffer_size = 128u << 20;
    o->journal_file_size = 64u << 20;
    o->max_journal_size = 512u << 20;
    o->journal_compression_threshold = 4096;
    o->background_threads = 2;
    o->sync_interval_ms = 0;
    o->max_open_files = 0;        /* derived from RLIMIT_NOFILE at open */
    o->default_durability = TIND_PERSIST_BUFFER;
}

void ks_options_default(struct tind_ks_options *o)
{
    memset(o, 0, sizeof *o);
    o->memtable_size = 64u << 20;   /* issue 15: see write_buffer_size */
    o->compaction = TIND_COMPACTION_LEVELED;
    o->l0_threshold = 4;
    o->table_size = 64u << 20;
    o->level_ratio = 10;
    o->levels = KS_MAX_LEVELS;
    o->block_size = 4096;
    o->restart_interval = 4;   /* issue 15 (read path): tbl_options_default's */
    o->hash_ratio = 0.4;
    for (int i = 0; i < KS_MAX_LEVELS; i++) {
        o->compression[i] = COMPRESSION_LZ4;
        o->zstd_level[i] = 3;
        o->bloom_bits[i] = 10;
    }
    o->partition_from_level = 2;   /* deep levels page small index and filter partitions */
    o->expect_point_read_hits = 0;
    o->blob_separation = KS_BLOB_DEFAULT_SEPARATION;
    o->blob_threshold = KS_BLOB_DEFAULT_THRESHOLD;
    o->blob_file_size = 64u << 20;         /* as tables: GC works in pieces of this size */
    o->blob_compression = COMPRESSION_LZ4; /* as tables */
    o->blob_zstd_level = 3;
    o->blob_gc_ratio = 0.25;
    o->blob_gc_age_cutoff = 0;
    o->prefix_kind = PFX_NONE;
    o->prefix_whole_keys = 1;
}

size_t options_max_open_files(const struct tind_options *o)
{
    if (o->max_open_files > 0)
        return (size_t)o->max_open_files;
    /* Half of the soft limit goes to the host; of tind's half, a reserve
     * stays free for the files tind opens outside the cache (the journal
     * and its successor, the version file and its temporary, LOCK, FORMAT,
     * folders being synced, one table per background writer). */
    struct rlimit rl;
    uint64_t soft = UINT64_MAX;   /* no limit known: the cap decides */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        soft = (uint64_t)rl.rlim_cur;
    uint64_t n = soft / 2 > OPTIONS_FD_RESERVE ? soft / 2 - OPTIONS_FD_RESERVE : 0;
    if (n < OPTIONS_MAX_OPEN_FILES_MIN)
        n = OPTIONS_MAX_OPEN_FILES_MIN;
    if (n > OPTIONS_MAX_OPEN_FILES_CAP)
        n = OPTIONS_MAX_OPEN_FILES_CAP;
    return (size_t)n;
}

TIND_API tind_options *tind_options_new(void)
{
    tind_options *o = malloc(sizeof *o);
    if (o)
        options_default(o);
    return o;
}
TIND_API void tind_options_free(tind_options *o)
{
    if (o)
        options_wipe_key(o);
    free(o);
}
TIND_API void tind_options_set_create_if_missing(tind_options *o, int on) { if (o) o->create_if_missing = on; }
TIND_API void tind_options_set_cache_size(tind_options *o, size_t bytes) { if (o) o->cache_size = bytes; }
TIND_API void tind_options_set_blob_cache_size(tind_options *o, size_t bytes) { if (o) o->blob_cache_size = bytes; }
TIND_API void tind_options_set_write_buffer_size(tind_options *o, size_t bytes) { if (o) o->write_buffer_size = bytes; }
TIND_API void tind_options_set_journal_file_size(tind_options *o, uint64_t bytes) { if (o) o->journal_file_size = bytes; }
TIND_API void tind_options_set_max_journal_size(tind_options *o, uint64_t bytes) { if (o) o->max_journal_size = bytes; }
TIND_API void tind_options_set_journal_compression_threshold(tind_options *o, uint32_t bytes)
{ if (o) o->journal_compression_threshold = bytes; }
TIND_API void tind_options_set_background_threads(tind_options *o, int n) { if (o) o->background_threads = n; }
TIND_API void tind_options_set_sync_interval_ms(tind_options *o, uint32_t ms) { if (o) o->sync_interval_ms = ms; }
TIND_API void tind_options_set_max_open_files(tind_options *o, int n) { if (o) o->max_open_files = n; }
TIND_API void tind_options_set_default_durability(tind_options *o, int mode) { if (o) o->default_durability = mode; }
TIND_API void tind_options_set_read_only(tind_options *o, int on) { if (o) o->read_only = on != 0; }
void tind_options_set_fs(tind_options *o, fs *fs) { if (o) o->fs = fs; }

void options_wipe_key(struct tind_options *o)
{
    volatile uint8_t *k = o->key;
    for (size_t i = 0; i < sizeof o->key; i++)
        k[i] = 0;
    o->has_key = 0;
}

TIND_API int tind_options_set_encryption_key(tind_options *o, const void *key, size_t len)
{
    if (!o || (key && len != sizeof o->key))
        return TIND_EINVAL;
    options_wipe_key(o);
    o->key_fn = NULL;
    o->key_ctx = NULL;
    if (key) {
        memcpy(o->key, key, sizeof o->key);
        o->has_key = 1;
    }
    return TIND_OK;
}

TIND_API void tind_options_set_encryption_key_fn(tind_options *o, tind_key_fn fn, void *ctx)
{
    if (!o)
        return;
    options_wipe_key(o);
    o->key_fn = fn;
    o->key_ctx = fn ? ctx : NULL;
}
void tind_options_set_no_background(tind_options *o, int on) { if (o) o->no_background = on; }
void tind_options_set_max_record_bytes(tind_options *o, uint64_t bytes) { if (o) o->max_record_bytes = bytes; }

TIND_API tind_ks_options *tind_ks_options_new(void)
{
    tind_ks_options *o = malloc(sizeof *o);
    if (o)
        ks_options_default(o);
    return o;
}
TIND_API void tind_ks_options_free(tind_ks_options *o) { free(o); }
TIND_API void tind_ks_options_set_memtable_size(tind_ks_options *o, size_t bytes) { if (o) o->memtable_size = bytes; }
TIND_API void tind_ks_options_set_compaction(tind_ks_options *o, int strategy) { if (o) o->compaction = strategy; }
TIND_API void tind_ks_options_set_l0_threshold(tind_ks_options *o, int tables) { if (o) o->l0_threshold = tables; }
TIND_API void tind_ks_options_set_table_size(tind_ks_options *o, uint64_t bytes) { if (o) o->table_size = bytes; }
TIND_API void tind_ks_options_set_level_ratio(tind_ks_options *o, int ratio) { if (o) o->level_ratio = ratio; }
TIND_API void tind_ks_options_set_levels(tind_ks_options *o, int levels) { if (o) o->levels = levels; }
TIND_API void tind_ks_options_set_block_size(tind_ks_options *o, uint32_t bytes) { if (o) o->block_size = bytes; }
TIND_API void tind_ks_options_set_restart_interval(tind_ks_options *o, uint32_t n) { if (o) o->restart_interval = n; }
TIND_API void tind_ks_options_set_hash_ratio(tind_ks_options *o, double ratio) { if (o) o->hash_ratio = ratio; }
/* A level a setter cannot store: remembered so that the options fail
 * ks_options_validate (setters return nothing to report it with). */
static int ks_options_level_ok(tind_ks_options *o, int level)
{
    if (level >= -1 && level < KS_MAX_LEVELS)
        return 1;
    if (!o->bad_level_set) {
        o->bad_level_set = 1;
        o->bad_level = level;
    }
    return 0;
}

TIND_API void tind_ks_options_set_compression(tind_ks_options *o, int level, int type, int zstd_level)
{
    if (!o || !ks_options_level_ok(o, level))
        return;
    for (int i = 0; i < KS_MAX_LEVELS; i++)
        if (level < 0 || level == i) {
            o->compression[i] = type;
            o->zstd_level[i] = zstd_level;
        }
}
TIND_API void tind_ks_options_set_bloom_bits(tind_ks_options *o, int level, double bits)
{
    if (!o || !ks_options_level_ok(o, level))
        return;
    for (int i = 0; i < KS_MAX_LEVELS; i++)
        if (level < 0 || level == i)
            o->bloom_bits[i] = bits;
}
TIND_API void tind_ks_options_set_partitioning(tind_ks_options *o, int from_level)
{ if (o) o->partition_from_level = from_level < 0 ? KS_MAX_LEVELS : from_level; }
TIND_API void tind_ks_options_set_expect_point_read_hits(tind_ks_options *o, int on) { if (o) o->expect_point_read_hits = on; }
TIND_API void tind_ks_options_set_fifo(tind_ks_options *o, uint64_t max_bytes, uint64_t ttl_seconds)
{
    if (!o)
        return;
    o->fifo_max_bytes = max_bytes;
    o->fifo_ttl_seconds = ttl_seconds;
}

TIND_API void tind_ks_options_set_blob_separation(tind_ks_options *o, int on, uint64_t threshold)
{
    if (o) {
        o->blob_separation = on;
        o->blob_threshold = threshold;
    }
}
TIND_API void tind_ks_options_set_blob_file_size(tind_ks_options *o, uint64_t bytes) { if (o) o->blob_file_size = bytes; }
TIND_API void tind_ks_options_set_blob_compression(tind_ks_options *o, int type, int zstd_level)
{
    if (o) {
        o->blob_compression = type;
        o->blob_zstd_level = zstd_level;
    }
}
TIND_API void tind_ks_options_set_blob_gc(tind_ks_options *o, double ratio, double age_cutoff)
{
    if (o) {
        o->blob_gc_ratio = ratio;
        o->blob_gc_age_cutoff = age_cutoff;
    }
}

static int ks_blob_options_validate(const struct tind_ks_options *o, tind_err *err)
{
    if (o->blob_separation != 0 && o->blob_separation != 1)
        return err_set(err, TIND_EINVAL, "keyspace option blob separation %d is not 0 or 1", o->blob_separation);
    if (o->blob_threshold < 1 || o->blob_threshold > TIND_MAX_VALUE_SIZE)
        return err_set(err, TIND_EINVAL, "keyspace option blob threshold %llu not in 1..%u",
                       (unsigned long long)o->blob_threshold, (unsigned)TIND_MAX_VALUE_SIZE);
    if (o->blob_file_size < 4096)
        return err_set(err, TIND_EINVAL, "keyspace option blob file size below 4096 bytes");
    if (o->blob_compression < COMPRESSION_NONE || o->blob_compression > COMPRESSION_ZSTD)
        return err_set(err, TIND_EINVAL, "keyspace option blob compression %d is unknown", o->blob_compression);
    if (o->blob_zstd_level < 0 || o->blob_zstd_level > 22)
        return err_set(err, TIND_EINVAL, "keyspace option blob zstd level not in 0..22");
    if (!(o->blob_gc_ratio > 0 && o->blob_gc_ratio <= 2))
        return err_set(err, TIND_EINVAL, "keyspace option blob GC ratio not in (0, 2] (above 1: never)");
    if (!(o->blob_gc_age_cutoff >= 0 && o->blob_gc_age_cutoff <= 1))
        return err_set(err, TIND_EINVAL, "keyspace option blob GC age cutoff not in [0, 1]");
    return TIND_OK;
}

static void ks_prefix_clear(tind_ks_options *o)
{
    o->prefix_kind = PFX_NONE;
    o->prefix_len = 0;
    o->prefix_sep = 0;
    o->prefix_name[0] = 0;
    o->prefix_fn = NULL;
    o->prefix_ctx = NULL;
    o->prefix_bad = 0;
}

TIND_API void tind_ks_options_set_prefix_fixed(tind_ks_options *o, size_t len)
{
    if (!o)
        return;
    ks_prefix_clear(o);
    if (len == 0)
        return;
    o->prefix_kind = PFX_FIXED;
    o->prefix_len = len > TIND_MAX_KEY_SIZE ? 0 : (uint32_t)len;
    o->prefix_bad = len > TIND_MAX_KEY_SIZE;
}

TIND_API void tind_ks_options_set_prefix_separator(tind_ks_options *o, int sep)
{
    if (!o)
        return;
    ks_prefix_clear(o);
    o->prefix_kind = PFX_SEPARATOR;
    o->prefix_sep = (uint8_t)sep;
    o->prefix_bad = sep < 0 || sep > 255;
}

TIND_API void tind_ks_options_set_prefix_callback(tind_ks_options *o, const char *name, tind_prefix_fn fn,
                                                  void *ctx)
{
    if (!o)
        return;
    ks_prefix_clear(o);
    if (!fn)
        return;
    size_t n = name ? strlen(name) : 0;
    o->prefix_kind = PFX_CALLBACK;
    o->prefix_fn = fn;
    o->prefix_ctx = ctx;
    if (n < 1 || n > PFX_NAME_MAX)
        o->prefix_bad = 1;
    else
        memcpy(o->prefix_name, name, n + 1);
}

TIND_API void tind_ks_options_set_zstd_dict(tind_ks_options *o, int level, uint32_t dict_bytes)
{
    if (!o || !ks_options_level_ok(o, level))
        return;
    for (int i = 0; i < KS_MAX_LEVELS; i++)
        if (level < 0 || level == i)
            o->zstd_dict_bytes[i] = dict_bytes;
}

TIND_API void tind_ks_options_set_prefix_whole_keys(tind_ks_options *o, int whole_keys)
{
    if (o)
        o->prefix_whole_keys = whole_keys != 0;
}

void ks_options_prefix(const struct tind_ks_options *o, pfx_extractor *x)
{
    pfx_init(x);
    x->kind = o->prefix_kind;
    x->len = o->prefix_len;
    x->sep = o->prefix_sep;
    memcpy(x->name, o->prefix_name, sizeof x->name);
    x->whole_keys = o->prefix_whole_keys;
}

TIND_API void tind_ks_options_set_merge_operator(tind_ks_options *o, const char *name, tind_merge_full_fn full,
                                                 tind_merge_partial_fn partial, void *ctx)
{
    if (!o)
        return;
    memset(&o->merge, 0, sizeof o->merge);
    o->merge_bad = 0;
    if (!name)
        return;
    size_t n = strlen(name);
    if (n < 1 || n > TIND_MERGE_NAME_MAX) {
        o->merge_bad = 1;
        return;
    }
    memcpy(o->merge.name, name, n);
    o->merge.full = full;
    o->merge.partial = partial;
    o->merge.ctx = ctx;
}

TIND_API void tind_ks_options_set_merge_builtin(tind_ks_options *o, int kind, const void *sep, size_t seplen)
{
    if (!o)
        return;
    o->merge_bad = 0;
    if (kind == TIND_MERGE_NONE)
        memset(&o->merge, 0, sizeof o->merge);
    else if (merge_op_builtin(&o->merge, kind, sep, seplen))
        o->merge_bad = 1;
}

TIND_API void tind_ks_options_set_compaction_filter(tind_ks_options *o, tind_compaction_filter_fn fn, void *ctx)
{
    if (!o)
        return;
    o->filter.fn = fn;
    o->filter.ctx = fn ? ctx : NULL;
}
TIND_API void tind_ks_options_set_value_ttl(tind_ks_options *o, int on) { if (o) o->filter.value_ttl = on != 0; }
TIND_API void tind_ks_options_set_periodic_compaction(tind_ks_options *o, uint64_t seconds)
{ if (o) o->periodic_seconds = seconds; }

int ks_options_validate(const struct tind_ks_options *o, tind_err *err)
{
    if (o->prefix_bad || o->prefix_kind < PFX_NONE || o->prefix_kind > PFX_CALLBACK ||
        (o->prefix_kind == PFX_FIXED && (o->prefix_len < 1 || o->prefix_len > TIND_MAX_KEY_SIZE)) ||
        (o->prefix_kind == PFX_CALLBACK &&
         (strnlen(o->prefix_name, sizeof o->prefix_name) < 1 || strnlen(o->prefix_name, sizeof o->prefix_name) > PFX_NAME_MAX)))
        return err_set(err, TIND_EINVAL, "keyspace option prefix extractor is invalid (fixed length 1..65535, "
                                         "separator 0..255, callback name 1..%d bytes)", PFX_NAME_MAX);
    if (o->merge_bad)
        return err_set(err, TIND_EINVAL, "keyspace option merge operator: name not 1..%u bytes, unknown built-in "
                       "or separator over %d bytes", TIND_MERGE_NAME_MAX, MERGE_SEP_MAX);
    int mrc = merge_op_validate(&o->merge, err);
    if (mrc)
        return mrc;
    if (o->bad_level_set)
        return err_set(err, TIND_EINVAL, "keyspace option set for level %d, not in -1..%d", o->bad_level,
                       KS_MAX_LEVELS - 1);
    if (o->memtable_size < 1024)
        return err_set(err, TIND_EINVAL, "keyspace option memtable_size %llu is below 1024 bytes",
                       (unsigned long long)o->memtable_size);
    if (o->compaction < TIND_COMPACTION_LEVELED || o->compaction > TIND_COMPACTION_FIFO)
        return err_set(err, TIND_EINVAL, "keyspace option compaction %d is unknown", o->compaction);
    if (o->l0_threshold < 1 || o->l0_threshold > 1000)
        return err_set(err, TIND_EINVAL, "keyspace option l0_threshold %d not in 1..1000", o->l0_threshold);
    if (o->table_size < 1024)
        return err_set(err, TIND_EINVAL, "keyspace option table_size below 1024 bytes");
    if (o->level_ratio < 2 || o->level_ratio > 1000)
        return err_set(err, TIND_EINVAL, "keyspace option level_ratio %d not in 2..1000", o->level_ratio);
    if (o->levels < 2 || o->levels > KS_MAX_LEVELS)
        return err_set(err, TIND_EINVAL, "keyspace option levels %d not in 2..%d", o->levels, KS_MAX_LEVELS);
    if (o->block_size < 256 || o->block_size > (64u << 20))
        return err_set(err, TIND_EINVAL, "keyspace option block_size %u not in 256..64Mi", o->block_size);
    if (o->restart_interval < 1 || o->restart_interval > 1024)
        return err_set(err, TIND_EINVAL, "keyspace option restart_interval %u not in 1..1024", o->restart_interval);
    if (!(o->hash_ratio >= 0 && o->hash_ratio <= 16))
        return err_set(err, TIND_EINVAL, "keyspace option hash_ratio not in 0..16");
    for (int i = 0; i < KS_MAX_LEVELS; i++) {
        if (o->compression[i] < COMPRESSION_NONE || o->compression[i] > COMPRESSION_ZSTD)
            return err_set(err, TIND_EINVAL, "keyspace option compression of level %d is unknown (%d)", i,
                           o->compression[i]);
        if (o->zstd_level[i] < 0 || o->zstd_level[i] > 22)
            return err_set(err, TIND_EINVAL, "keyspace option zstd level of level %d not in 0..22", i);
        if (!(o->bloom_bits[i] >= 0 && o->bloom_bits[i] <= 64))
            return err_set(err, TIND_EINVAL, "keyspace option bloom bits of level %d not in 0..64", i);
        if (o->zstd_dict_bytes[i] && (o->zstd_dict_bytes[i] < ZDICT_MIN_BYTES || o->zstd_dict_bytes[i] > ZDICT_MAX_BYTES))
            return err_set(err, TIND_EINVAL, "keyspace option zstd dictionary size of level %d not 0 or %u..%u", i,
                           ZDICT_MIN_BYTES, ZDICT_MAX_BYTES);
    }
    if (o->partition_from_level < 0 || o->partition_from_level > KS_MAX_LEVELS)
        return err_set(err, TIND_EINVAL, "keyspace option partitioning level out of range");
    return ks_blob_options_validate(o, err);
}

/* Stored form: u8 version (1 or 2), then varints / fixed fields in a fixed
 * order. Doubles are stored as u64 of their IEEE bits. Version 2 appends
 * the prefix extractor and dictionary sizes; version 3 (issue 13) appends,
 * after them, the merge operator, the TTL filter and periodic compaction,
 * then the blob options (key-value separation, issue 11). The lowest
 * version that holds what is set is written (version 3 for separation on,
 * the default), so that keyspaces without them stay readable by older
 * libraries. Versions 1 and 2, and a version 3 record that ends after
 * periodic compaction (written before key-value separation was merged),
 * read with separation off (as they were made). */
#define KS_OPTIONS_VERSION 3

static int ks_options_v3(const struct tind_ks_options *o)
{
    return o->merge.name[0] || o->filter.value_ttl || o->periodic_seconds || o->blob_separation;
}

static int put_double(tbuf *b, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    return tbuf_append_u64(b, bits);
}

/* Stands in for a stored user operator's callback while its options are
 * validated; never attached (db/merge.c attaches the user's). */
static int ks_options_stored_operator(void *ctx, const void *key, size_t klen, const void *base, size_t blen,
                                      int has_base, const void *const *operands, const size_t *operand_lens,
                                      size_t count, void **out, size_t *outlen)
{
    (void)ctx, (void)key, (void)klen, (void)base, (void)blen, (void)has_base, (void)operands, (void)operand_lens;
    (void)count, (void)out, (void)outlen;
    return TIND_ENOTSUP;
}

int ks_options_encode(const struct tind_ks_options *o, tbuf *out)
{
    int v3 = ks_options_v3(o);
    int v2 = v3 || o->prefix_kind != PFX_NONE;
    for (int i = 0; i < KS_MAX_LEVELS; i++)
        v2 |= o->zstd_dict_bytes[i] != 0;
    int rc = tbuf_append_u8(out, v3 ? 3 : v2 ? 2 : 1);
    rc |= tbuf_append_varint(out, o->memtable_size);
    rc |= tbuf_append_varint(out, (uint64_t)o->compaction);
    rc |= tbuf_append_varint(out, (uint64_t)o->l0_threshold);
    rc |= tbuf_append_varint(out, o->table_size);
    rc |= tbuf_append_varint(out, (uint64_t)o->level_ratio);
    rc |= tbuf_append_varint(out, (uint64_t)o->levels);
    rc |= tbuf_append_varint(out, o->block_size);
    rc |= tbuf_append_varint(out, o->restart_interval);
    rc |= put_double(out, o->hash_ratio);
    rc |= tbuf_append_varint(out, KS_MAX_LEVELS);
    for (int i = 0; i < KS_MAX_LEVELS; i++) {
        rc |= tbuf_append_varint(out, (uint64_t)o->compression[i]);
        rc |= tbuf_append_varint(out, (uint64_t)o->zstd_level[i]);
        rc |= put_double(out, o->bloom_bits[i]);
    }
    rc |= tbuf_append_varint(out, (uint64_t)o->partition_from_level);
    rc |= tbuf_append_varint(out, (uint64_t)o->expect_point_read_hits);
    rc |= tbuf_append_varint(out, o->fifo_max_bytes);
    rc |= tbuf_append_varint(out, o->fifo_ttl_seconds);
    if (v2) {
        size_t n = strlen(o->prefix_name);
        rc |= tbuf_append_varint(out, (uint64_t)o->prefix_kind);
        rc |= tbuf_append_varint(out, o->prefix_len);
        rc |= tbuf_append_varint(out, o->prefix_sep);
        rc |= tbuf_append_varint(out, n);
        rc |= tbuf_append(out, o->prefix_name, n);
        rc |= tbuf_append_varint(out, (uint64_t)o->prefix_whole_keys);
        for (int i = 0; i < KS_MAX_LEVELS; i++)
            rc |= tbuf_append_varint(out, o->zstd_dict_bytes[i]);
    }
    if (v3) {
        size_t n = strlen(o->merge.name);
        rc |= tbuf_append_varint(out, n);
        rc |= tbuf_append(out, o->merge.name, n);
        rc |= tbuf_append_varint(out, (uint64_t)o->merge.builtin);
        rc |= tbuf_append_varint(out, o->merge.seplen);
        rc |= tbuf_append(out, o->merge.sep, o->merge.seplen);
        rc |= tbuf_append_varint(out, (uint64_t)o->filter.value_ttl);
        rc |= tbuf_append_varint(out, o->periodic_seconds);
        rc |= tbuf_append_varint(out, (uint64_t)o->blob_separation);
        rc |= tbuf_append_varint(out, o->blob_threshold);
        rc |= tbuf_append_varint(out, o->blob_file_size);
        rc |= tbuf_append_varint(out, (uint64_t)o->blob_compression);
        rc |= tbuf_append_varint(out, (uint64_t)o->blob_zstd_level);
        rc |= put_double(out, o->blob_gc_ratio);
        rc |= put_double(out, o->blob_gc_age_cutoff);
    }
    return rc ? TIND_ENOMEM : TIND_OK;
}

typedef struct reader {
    const uint8_t *p, *end;
    int bad;
} reader;

static uint64_t rd_varint(reader *r)
{
    uint64_t v = 0;
    const uint8_t *q = r->bad ? NULL : dec_varint64(r->p, r->end, &v);
    if (!q) {
        r->bad = 1;
        return 0;
    }
    r->p = q;
    return v;
}

static double rd_double(reader *r)
{
    double d = 0;
    if (r->bad || r->end - r->p < 8) {
        r->bad = 1;
        return 0;
    }
    uint64_t bits = dec_u64(r->p);
    memcpy(&d, &bits, 8);
    r->p += 8;
    return d;
}

int ks_options_decode(const uint8_t *p, size_t n, struct tind_ks_options *o, tind_err *err)
{
    reader r = {p, p + n, 0};
    ks_options_default(o);
    if (n < 1)
        return err_set(err, TIND_ECORRUPT, "keyspace options: empty");
    if (p[0] > KS_OPTIONS_VERSION)
        return err_set(err, TIND_EVERSION, "keyspace options: version %u is newer than this library (%u)", p[0],
                       KS_OPTIONS_VERSION);
    r.p++;
    o->memtable_size = rd_varint(&r);
    o->compaction = (int)rd_varint(&r);
    o->l0_threshold = (int)rd_varint(&r);
    o->table_size = rd_varint(&r);
    o->level_ratio = (int)rd_varint(&r);
    o->levels = (int)rd_varint(&r);
    o->block_size = (uint32_t)rd_varint(&r);
    o->restart_interval = (uint32_t)rd_varint(&r);
    o->hash_ratio = rd_double(&r);
    uint64_t nl = rd_varint(&r);
    if (nl != KS_MAX_LEVELS)
        r.bad = 1;
    for (int i = 0; i < KS_MAX_LEVELS && !r.bad; i++) {
        o->compression[i] = (int)rd_varint(&r);
        o->zstd_level[i] = (int)rd_varint(&r);
        o->bloom_bits[i] = rd_double(&r);
    }
    o->partition_from_level = (int)rd_varint(&r);
    o->expect_point_read_hits = (int)rd_varint(&r);
    o->fifo_max_bytes = rd_varint(&r);
    o->fifo_ttl_seconds = rd_varint(&r);
    if (p[0] < 3)
        o->blob_separation = 0; /* made before key-value separation */
    if (p[0] >= 2) {
        uint64_t kind = rd_varint(&r), len = rd_varint(&r), sep = rd_varint(&r), nlen = rd_varint(&r);
        if (kind > PFX_CALLBACK || len > TIND_MAX_KEY_SIZE || sep > 255 || nlen > PFX_NAME_MAX ||
            (uint64_t)(r.end - r.p) < nlen)
            r.bad = 1;
        if (!r.bad) {
            o->prefix_kind = (int)kind;
            o->prefix_len = (uint32_t)len;
            o->prefix_sep = (uint8_t)sep;
            memcpy(o->prefix_name, r.p, nlen);
            o->prefix_name[nlen] = 0;
            if (memchr(o->prefix_name, 0, nlen))
                r.bad = 1;
            r.p += nlen;
        }
        uint64_t whole = rd_varint(&r);
        if (whole > 1)
            r.bad = 1;
        o->prefix_whole_keys = (int)whole;
        for (int i = 0; i < KS_MAX_LEVELS; i++) {
            uint64_t d = rd_varint(&r);
            if (d > ZDICT_MAX_BYTES)
                r.bad = 1;
            o->zstd_dict_bytes[i] = (uint32_t)d;
        }
    }
    if (p[0] >= 3) {
        uint64_t n = rd_varint(&r);
        if (n > TIND_MERGE_NAME_MAX || n > (uint64_t)(r.end - r.p))
            r.bad = 1;
        else {
            memcpy(o->merge.name, r.p, (size_t)n);
            r.p += n;
        }
        o->merge.builtin = (int)rd_varint(&r);
        n = rd_varint(&r);
        if (n > MERGE_SEP_MAX || n > (uint64_t)(r.end - r.p))
            r.bad = 1;
        else if (!r.bad) {
            memcpy(o->merge.sep, r.p, (size_t)n);
            o->merge.seplen = (size_t)n;
            r.p += n;
        }
        o->filter.value_ttl = rd_varint(&r) != 0;
        o->periodic_seconds = rd_varint(&r);
        if (r.p == r.end) {
            o->blob_separation = 0; /* a version 3 record from before key-value separation */
        } else {
            o->blob_separation = (int)rd_varint(&r);
            o->blob_threshold = rd_varint(&r);
            o->blob_file_size = rd_varint(&r);
            o->blob_compression = (int)rd_varint(&r);
            o->blob_zstd_level = (int)rd_varint(&r);
            o->blob_gc_ratio = rd_double(&r);
            o->blob_gc_age_cutoff = rd_double(&r);
        }
    }
    if (r.bad || r.p != r.end)
        return err_set(err, TIND_ECORRUPT, "keyspace options: malformed (%zu bytes)", n);
    tind_err why;
    tind_merge_full_fn saved = o->merge.full;
    if (o->merge.builtin == TIND_MERGE_NONE && o->merge.name[0])
        o->merge.full = ks_options_stored_operator; /* validated as present; never called */
    /* a user operator's callbacks come with tind_keyspace_open: the stored
     * name alone must pass */
    int vrc = ks_options_validate(o, &why);
    o->merge.full = saved;
    if (vrc != TIND_OK)
        return err_set(err, TIND_ECORRUPT, "stored keyspace options are invalid: %s", why.msg);
    return TIND_OK;
}

void ks_options_to_compaction(const struct tind_ks_options *k, cmp_options *out)
{
    memset(out, 0, sizeof *out);
    out->compaction = k->compaction;
    out->l0_threshold = k->l0_threshold;
    out->table_size = k->table_size;
    out->level_ratio = k->level_ratio;
    out->fifo_max_bytes = k->fifo_max_bytes;
    out->fifo_ttl_seconds = k->fifo_ttl_seconds;
    out->periodic_seconds = k->periodic_seconds;
    for (int level = 0; level < KS_MAX_LEVELS; level++) {
        tbl_options *o = &out->table[level];
        tbl_options_default(o);
        o->block_size = k->block_size;
        o->restart_interval = k->restart_interval;
        o->hash_ratio = k->hash_ratio;
        o->compression = k->compression[level];
        o->compression_level = k->zstd_level[level];
        o->bloom_bits_per_key = k->bloom_bits[level];
        o->partition_index = o->partition_filter = level >= k->partition_from_level;
        ks_options_prefix(k, &o->prefix);
        o->zstd_dict_bytes = k->zstd_dict_bytes[level];
    }
    out->blob.separate = k->blob_separation;
    out->blob.threshold = k->blob_threshold;
    out->blob.file_size = k->blob_file_size;
    out->blob.compression = k->blob_compression;
    out->blob.compression_level = k->blob_zstd_level;
    out->blob.gc_ratio = k->blob_gc_ratio;
    out->blob.gc_age_cutoff = k->blob_gc_age_cutoff;
}

/* ---- Options as text (tind_ks_options_format) ---- */

static int fmt_add(tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fmt_add(tbuf *b, const char *fmt, ...)
{
    char line[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return TIND_EINVAL;
    return tbuf_append(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static const char *fmt_strategy(int c)
{
    return c == TIND_COMPACTION_LEVELED ? "leveled"
         : c == TIND_COMPACTION_TIERED  ? "tiered"
         : c == TIND_COMPACTION_FIFO    ? "fifo"
                                        : "unknown";
}

/* "lz4", "none" or "zstd:LEVEL" (the zstd level matters only for zstd). */
static int fmt_codec(tbuf *b, const char *lead, int type, int zstd_level)
{
    if (type == COMPRESSION_ZSTD)
        return fmt_add(b, "%szstd:%d", lead, zstd_level);
    return fmt_add(b, "%s%s", lead, compression_name(type));
}

static int fmt_levels(tbuf *b, const struct tind_ks_options *o)
{
    int rc = fmt_add(b, "compression =");
    for (int l = 0; l < o->levels && l < KS_MAX_LEVELS; l++)
        rc |= fmt_codec(b, " ", o->compression[l], o->zstd_level[l]);
    rc |= fmt_add(b, "\nbloom_bits =");
    for (int l = 0; l < o->levels && l < KS_MAX_LEVELS; l++)
        rc |= fmt_add(b, " %g", o->bloom_bits[l]);
    rc |= fmt_add(b, "\nzstd_dict =");
    for (int l = 0; l < o->levels && l < KS_MAX_LEVELS; l++)
        rc |= fmt_add(b, " %" PRIu32, o->zstd_dict_bytes[l]);
    return rc | fmt_add(b, "\n");
}

static int fmt_prefix(tbuf *b, const struct tind_ks_options *o)
{
    int rc;
    switch (o->prefix_kind) {
    case PFX_FIXED:     rc = fmt_add(b, "prefix = fixed %" PRIu32 "\n", o->prefix_len); break;
    case PFX_SEPARATOR: rc = fmt_add(b, "prefix = separator 0x%02x\n", o->prefix_sep); break;
    case PFX_CALLBACK:  rc = fmt_add(b, "prefix = callback %s\n", o->prefix_name); break;
    default:            rc = fmt_add(b, "prefix = none\n"); break;
    }
    return rc | fmt_add(b, "prefix_whole_keys = %s\n", o->prefix_whole_keys ? "on" : "off");
}

TIND_API int tind_ks_options_format(const tind_ks_options *o, char **out)
{
    if (!o || !out)
        return TIND_EINVAL;
    *out = NULL;
    tbuf b = TBUF_INIT;
    int rc = fmt_add(&b, "memtable_size = %" PRIu64 "\ncompaction = %s\n", o->memtable_size, fmt_strategy(o->compaction));
    rc |= fmt_add(&b, "l0_threshold = %d\ntable_size = %" PRIu64 "\nlevel_ratio = %d\nlevels = %d\n", o->l0_threshold,
                  o->table_size, o->level_ratio, o->levels);
    rc |= fmt_add(&b, "block_size = %" PRIu32 "\nrestart_interval = %" PRIu32 "\nhash_ratio = %g\n", o->block_size,
                  o->restart_interval, o->hash_ratio);
    rc |= fmt_levels(&b, o);
    if (o->partition_from_level >= KS_MAX_LEVELS)
        rc |= fmt_add(&b, "partitioning = never\n");
    else
        rc |= fmt_add(&b, "partitioning = from level %d\n", o->partition_from_level);
    rc |= fmt_add(&b, "expect_point_read_hits = %s\n", o->expect_point_read_hits ? "on" : "off");
    rc |= fmt_add(&b, "fifo = max_bytes %" PRIu64 " ttl_seconds %" PRIu64 "\n", o->fifo_max_bytes, o->fifo_ttl_seconds);
    rc |= fmt_add(&b, "blob_separation = %s threshold %" PRIu64 "\nblob_file_size = %" PRIu64 "\n",
                  o->blob_separation ? "on" : "off", o->blob_threshold, o->blob_file_size);
    rc |= fmt_codec(&b, "blob_compression = ", o->blob_compression, o->blob_zstd_level);
    rc |= fmt_add(&b, "\nblob_gc = ratio %g age_cutoff %g\n", o->blob_gc_ratio, o->blob_gc_age_cutoff);
    if (!o->merge.name[0])
        rc |= fmt_add(&b, "merge_operator = none\n");
    else
        rc |= fmt_add(&b, "merge_operator = %s%s\n", o->merge.name, o->merge.builtin ? " (built-in)" : "");
    rc |= fmt_add(&b, "compaction_filter = %s\nvalue_ttl = %s\n", o->filter.fn ? "callback" : "none",
                  o->filter.value_ttl ? "on" : "off");
    rc |= fmt_add(&b, "periodic_compaction = %" PRIu64 "\n", o->periodic_seconds);
    rc |= fmt_prefix(&b, o);
    rc |= tbuf_append_u8(&b, 0);
    if (rc) {
        tbuf_free(&b);
        return TIND_ENOMEM;
    }
    *out = (char *)b.data;   /* malloc'd by tbuf: tind_free releases it */
    return TIND_OK;
}
