/*
 * backend_rocksdb.c -- RocksDB (Debian librocksdb-dev, C API rocksdb/c.h) in
 * tind-bench, configured like tind wherever both have the knob.
 *
 * Settings: leveled compaction with level_compaction_dynamic_level_bytes
 * (RocksDB's recommended setting, the same idea as tind's dynamic base
 * level), LZ4 on every level, block-based tables with a full Bloom filter of
 * 10 bits per key, an LRU block cache of cfg->cache_bytes (index and filter
 * blocks held by the table readers, as tind pins them), max_background_jobs
 * = 2 (tind: 2 background threads); memtables, block size and file sizes
 * stay at RocksDB's defaults (64 MiB memtable, 4 KiB blocks).
 * blob_values: BlobDB (enable_blob_files, min_blob_size 512, LZ4 blob
 * compression, blob garbage collection on).
 * Durability: eventual = WriteOptions.sync = false (the WAL write reaches the
 * OS on every put, no sync); synced = sync = true (fdatasync of the WAL
 * before the put returns).
 *
 * Thread-safety: a rocksdb_t may be used by several threads (thread_safe = 1);
 * the read and write option objects are only read after open.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rocksdb/c.h>

#include "backend.h"

typedef struct br_handle {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
} br_handle;

static int br_fail(char *err, size_t errlen, const char *what, char *rerr)
{
    bench_err_set(err, errlen, "rocksdb %s: %s", what, rerr ? rerr : "error");
    rocksdb_free(rerr);
    return -1;
}

static void br_destroy(br_handle *h)
{
    if (h->db)
        rocksdb_close(h->db);
    if (h->wopts)
        rocksdb_writeoptions_destroy(h->wopts);
    if (h->ropts)
        rocksdb_readoptions_destroy(h->ropts);
    if (h->opts)
        rocksdb_options_destroy(h->opts);
    if (h->table)
        rocksdb_block_based_options_destroy(h->table);
    if (h->cache)
        rocksdb_cache_destroy(h->cache);
    free(h);
}

static int br_open(void **out, const bench_config *cfg, char *err, size_t errlen)
{
    br_handle *h = calloc(1, sizeof *h);
    if (!h) {
        bench_err_set(err, errlen, "rocksdb open: out of memory");
        return -1;
    }
    h->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(h->opts, 1);
    rocksdb_options_set_compression(h->opts, rocksdb_lz4_compression);
    rocksdb_options_set_compaction_style(h->opts, rocksdb_level_compaction);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(h->opts, 1);
    rocksdb_options_set_max_background_jobs(h->opts, 2);
    h->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_filter_policy(h->table, rocksdb_filterpolicy_create_bloom_full(10));
    h->cache = rocksdb_cache_create_lru(cfg->cache_bytes);
    rocksdb_block_based_options_set_block_cache(h->table, h->cache);
    rocksdb_options_set_block_based_table_factory(h->opts, h->table);
    if (cfg->blob_values) {
        rocksdb_options_set_enable_blob_files(h->opts, 1);
        rocksdb_options_set_min_blob_size(h->opts, 512);
        rocksdb_options_set_blob_compression_type(h->opts, rocksdb_lz4_compression);
        rocksdb_options_set_enable_blob_gc(h->opts, 1);
    }
    h->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(h->wopts, cfg->sync_writes ? 1 : 0);
    h->ropts = rocksdb_readoptions_create();
    char *rerr = NULL;
    h->db = rocksdb_open(h->opts, cfg->dir, &rerr);
    if (rerr) {
        h->db = NULL;
        br_destroy(h);
        return br_fail(err, errlen, "open", rerr);
    }
    *out = h;
    return 0;
}

static int br_put(void *hp, const void *k, size_t kl, const void *v, size_t vl, char *err, size_t errlen)
{
    br_handle *h = hp;
    char *rerr = NULL;
    rocksdb_put(h->db, h->wopts, k, kl, v, vl, &rerr);
    return rerr ? br_fail(err, errlen, "put", rerr) : 0;
}

/* DeleteRange through a one-operation write batch (this c.h has no
 * default column family handle for rocksdb_delete_range_cf). */
static int br_remove_range(void *hp, const void *lo, size_t ll, const void *hi, size_t hl, char *err,
                           size_t errlen)
{
    br_handle *h = hp;
    char *rerr = NULL;
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_range(b, lo, ll, hi, hl);
    rocksdb_write(h->db, h->wopts, b, &rerr);
    rocksdb_writebatch_destroy(b);
    return rerr ? br_fail(err, errlen, "delete_range", rerr) : 0;
}

static int br_get(void *hp, const void *k, size_t kl, bench_buf *out, char *err, size_t errlen)
{
    br_handle *h = hp;
    char *rerr = NULL;
    rocksdb_pinnableslice_t *ps = rocksdb_get_pinned(h->db, h->ropts, k, kl, &rerr);
    if (rerr)
        return br_fail(err, errlen, "get", rerr);
    if (!ps)
        return 1;
    size_t vl;
    const char *v = rocksdb_pinnableslice_value(ps, &vl);
    int rc = bench_buf_set(out, v, vl);
    rocksdb_pinnableslice_destroy(ps);
    if (rc) {
        bench_err_set(err, errlen, "rocksdb get: out of memory");
        return -1;
    }
    return 0;
}

/* The smallest key greater than every key with this prefix; 0 when none (all 0xff). */
static size_t br_prefix_end(const void *prefix, size_t plen, char *out)
{
    memcpy(out, prefix, plen);
    while (plen > 0) {
        unsigned char c = (unsigned char)out[plen - 1];
        if (c != 0xff) {
            out[plen - 1] = (char)(c + 1);
            return plen;
        }
        plen--;
    }
    return 0;
}

static int br_scan(void *hp, const void *start, size_t sl, const void *prefix, size_t plen, int reverse,
                   size_t limit, size_t *visited, char *err, size_t errlen)
{
    br_handle *h = hp;
    rocksdb_readoptions_t *ro = h->ropts;
    char upper[256];
    size_t ulen = 0;
    if (plen) {
        /* bound the iterator to the prefix, as tind's prefix iterator is */
        ro = rocksdb_readoptions_create();
        rocksdb_readoptions_set_iterate_lower_bound(ro, prefix, plen);
        if (plen <= sizeof upper && (ulen = br_prefix_end(prefix, plen, upper)) > 0)
            rocksdb_readoptions_set_iterate_upper_bound(ro, upper, ulen);
    }
    rocksdb_iterator_t *it = rocksdb_create_iterator(h->db, ro);
    size_t n = 0;
    volatile unsigned char sink = 0;
    if (reverse) {
        rocksdb_iter_seek_for_prev(it, start, sl);
        if (rocksdb_iter_valid(it)) {
            size_t kn;
            const char *kp = rocksdb_iter_key(it, &kn);
            if (kn == sl && memcmp(kp, start, sl) == 0)
                rocksdb_iter_prev(it);
        }
    } else {
        rocksdb_iter_seek(it, start, sl);
    }
    while (n < limit && rocksdb_iter_valid(it)) {
        size_t kn, vn;
        const char *kp = rocksdb_iter_key(it, &kn);
        if (plen && (kn < plen || memcmp(kp, prefix, plen) != 0))
            break;
        const char *vp = rocksdb_iter_value(it, &vn);
        if (vn)
            sink ^= (unsigned char)(vp[0] ^ vp[vn - 1]);
        n++;
        if (reverse)
            rocksdb_iter_prev(it);
        else
            rocksdb_iter_next(it);
    }
    (void)sink;
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    rocksdb_iter_destroy(it);
    if (ro != h->ropts)
        rocksdb_readoptions_destroy(ro);
    *visited = n;
    return rerr ? br_fail(err, errlen, "scan", rerr) : 0;
}

static int br_prop_zero(br_handle *h, const char *name)
{
    char *v = rocksdb_property_value(h->db, name);
    int zero = !v || strcmp(v, "0") == 0;
    rocksdb_free(v);
    return zero;
}

static int br_settle(void *hp, char *err, size_t errlen)
{
    br_handle *h = hp;
    char *rerr = NULL;
    rocksdb_flush_wal(h->db, 1, &rerr);
    if (rerr)
        return br_fail(err, errlen, "flush_wal", rerr);
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush(h->db, fo, &rerr);
    rocksdb_flushoptions_destroy(fo);
    if (rerr)
        return br_fail(err, errlen, "flush", rerr);
    /* wait (up to 10 minutes) until no compaction is pending or running */
    for (int i = 0; i < 6000; i++) {
        if (br_prop_zero(h, "rocksdb.compaction-pending") && br_prop_zero(h, "rocksdb.num-running-compactions") &&
            br_prop_zero(h, "rocksdb.num-running-flushes"))
            break;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int br_close(void *hp, char *err, size_t errlen)
{
    br_destroy(hp);
    return 0;
}

const bench_backend bench_backend_rocksdb = {
    .name = "rocksdb",
    .thread_safe = 1,
    .open = br_open,
    .put = br_put,
    .get = br_get,
    .scan = br_scan,
    .settle = br_settle,
    .close = br_close,
    .remove_range = br_remove_range,
};
