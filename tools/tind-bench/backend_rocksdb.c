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
 * compression, blob garbage collection on, as tind's separation: LZ4, GC);
 * TIND_BENCH_ROCKSDB_BLOB_DEFAULTS=1 keeps BlobDB's defaults beside
 * enable_blob_files (min_blob_size 0, no compression, no GC).
 * Durability: eventual = WriteOptions.sync = false (the WAL write reaches the
 * OS on every put, no sync); synced = sync = true (fdatasync of the WAL
 * before the put returns).
 *
 * Transactions (txn-* workloads only, two more engine names): rocksdb-otxn
 * is an OptimisticTransactionDB (set_snapshot on: validation against the
 * state at begin), rocksdb-txn a pessimistic TransactionDB (deadlock
 * detection on, the default lock timeout, locks taken in key order); both
 * read with GetForUpdate (tracked or locked), write both keys and commit; a
 * Busy / TimedOut / TryAgain status is a conflict and is retried. Loads go
 * through the base db (optimistic) or TransactionDB::Put (pessimistic).
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
    rocksdb_t *db;                    /* plain, or the optimistic db's base db */
    rocksdb_optimistictransactiondb_t *otxn; /* rocksdb-otxn */
    rocksdb_optimistictransaction_options_t *otxn_opts;
    rocksdb_transactiondb_t *ptxn;    /* rocksdb-txn (pessimistic): db is NULL */
    rocksdb_transactiondb_options_t *ptxn_db_opts;
    rocksdb_transaction_options_t *ptxn_opts;
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
    if (h->otxn) {
        if (h->db)
            rocksdb_optimistictransactiondb_close_base_db(h->db);
        rocksdb_optimistictransactiondb_close(h->otxn);
    } else if (h->ptxn) {
        rocksdb_transactiondb_close(h->ptxn);
    } else if (h->db) {
        rocksdb_close(h->db);
    }
    if (h->otxn_opts)
        rocksdb_optimistictransaction_options_destroy(h->otxn_opts);
    if (h->ptxn_db_opts)
        rocksdb_transactiondb_options_destroy(h->ptxn_db_opts);
    if (h->ptxn_opts)
        rocksdb_transaction_options_destroy(h->ptxn_opts);
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

/* mode: 0 plain, 1 OptimisticTransactionDB, 2 TransactionDB (pessimistic) */
static int br_open_mode(void **out, const bench_config *cfg, int mode, char *err, size_t errlen)
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
        /* TIND_BENCH_ROCKSDB_BLOB_DEFAULTS=1: BlobDB's own defaults beside
         * enable_blob_files (min_blob_size 0, no blob compression, no GC) */
        const char *defaults = getenv("TIND_BENCH_ROCKSDB_BLOB_DEFAULTS");
        if (!defaults || strcmp(defaults, "1") != 0) {
            rocksdb_options_set_min_blob_size(h->opts, 512);
            rocksdb_options_set_blob_compression_type(h->opts, rocksdb_lz4_compression);
            rocksdb_options_set_enable_blob_gc(h->opts, 1);
        }
    }
    if (cfg->counter_merge) /* its built-in UInt64AddOperator: 8-byte little-endian */
        rocksdb_options_set_uint64add_merge_operator(h->opts);
    h->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(h->wopts, cfg->sync_writes ? 1 : 0);
    h->ropts = rocksdb_readoptions_create();
    char *rerr = NULL;
    if (mode == 1) {
        h->otxn = rocksdb_optimistictransactiondb_open(h->opts, cfg->dir, &rerr);
        if (!rerr)
            h->db = rocksdb_optimistictransactiondb_get_base_db(h->otxn);
        h->otxn_opts = rocksdb_optimistictransaction_options_create();
        /* validate against the state at begin, as tind's snapshot */
        rocksdb_optimistictransaction_options_set_set_snapshot(h->otxn_opts, 1);
    } else if (mode == 2) {
        h->ptxn_db_opts = rocksdb_transactiondb_options_create();
        h->ptxn = rocksdb_transactiondb_open(h->opts, h->ptxn_db_opts, cfg->dir, &rerr);
        h->ptxn_opts = rocksdb_transaction_options_create();
        rocksdb_transaction_options_set_deadlock_detect(h->ptxn_opts, 1);
    } else {
        h->db = rocksdb_open(h->opts, cfg->dir, &rerr);
    }
    if (rerr) {
        h->db = NULL;
        h->otxn = NULL;
        h->ptxn = NULL;
        br_destroy(h);
        return br_fail(err, errlen, "open", rerr);
    }
    *out = h;
    return 0;
}

static int br_open(void **out, const bench_config *cfg, char *err, size_t errlen)
{
    return br_open_mode(out, cfg, 0, err, errlen);
}

static int br_put(void *hp, const void *k, size_t kl, const void *v, size_t vl, char *err, size_t errlen)
{
    br_handle *h = hp;
    char *rerr = NULL;
    if (h->ptxn)
        rocksdb_transactiondb_put(h->ptxn, h->wopts, k, kl, v, vl, &rerr);
    else
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

/* One WriteBatch of the n puts (micro/fillbatch; the plain db only). */
static int br_put_batch(void *hp, size_t n, const void *const *k, const size_t *kl, const void *const *v,
                        const size_t *vl, char *err, size_t errlen)
{
    br_handle *h = hp;
    char *rerr = NULL;
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    for (size_t i = 0; i < n; i++)
        rocksdb_writebatch_put(b, k[i], kl[i], v[i], vl[i]);
    rocksdb_write(h->db, h->wopts, b, &rerr);
    rocksdb_writebatch_destroy(b);
    return rerr ? br_fail(err, errlen, "write batch", rerr) : 0;
}

static int br_merge(void *hp, const void *k, size_t kl, const void *v, size_t vl, char *err, size_t errlen)
{
    br_handle *h = hp;
    char *rerr = NULL;
    rocksdb_merge(h->db, h->wopts, k, kl, v, vl, &rerr);
    return rerr ? br_fail(err, errlen, "merge", rerr) : 0;
}

static int br_get(void *hp, const void *k, size_t kl, bench_buf *out, char *err, size_t errlen)
{
    br_handle *h = hp;
    char *rerr = NULL;
    rocksdb_pinnableslice_t *ps = h->ptxn ? rocksdb_transactiondb_get_pinned(h->ptxn, h->ropts, k, kl, &rerr)
                                          : rocksdb_get_pinned(h->db, h->ropts, k, kl, &rerr);
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
    rocksdb_iterator_t *it = h->ptxn ? rocksdb_transactiondb_create_iterator(h->ptxn, ro)
                                     : rocksdb_create_iterator(h->db, ro);
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
    if (h->ptxn) {
        /* no base db in the C API: flush the memtable, wait for nothing more */
        rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
        rocksdb_flushoptions_set_wait(fo, 1);
        rocksdb_transactiondb_flush(h->ptxn, fo, &rerr);
        rocksdb_flushoptions_destroy(fo);
        return rerr ? br_fail(err, errlen, "flush", rerr) : 0;
    }
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
    .merge = br_merge,
    .close = br_close,
    .remove_range = br_remove_range,
    .put_batch = br_put_batch,
};

/* ---- transactions (the txn-* workloads) ---- */

static int br_open_otxn(void **out, const bench_config *cfg, char *err, size_t errlen)
{
    return br_open_mode(out, cfg, 1, err, errlen);
}

static int br_open_ptxn(void **out, const bench_config *cfg, char *err, size_t errlen)
{
    return br_open_mode(out, cfg, 2, err, errlen);
}

/* A conflict RocksDB reports as a status to retry on: Busy ("Resource
 * busy"), TimedOut (a lock wait), TryAgain, or a detected deadlock. */
static int br_is_conflict(const char *e)
{
    return e && (strncmp(e, "Resource busy", 13) == 0 || strncmp(e, "Operation timed out", 19) == 0 ||
                 strncmp(e, "Operation failed. Try again", 27) == 0 || strstr(e, "Deadlock") != NULL);
}

/* Reads k1 and k2 with GetForUpdate (tracked: RocksDB validates, or locks,
 * only the keys read this way and the keys written), writes both, commits.
 * The pessimistic flavour takes its locks in key order (no deadlock). */
static int br_txn_rmw(void *hp, const void *k1, const void *k2, size_t kl, const void *v, size_t vl, char *err,
                      size_t errlen)
{
    br_handle *h = hp;
    rocksdb_transaction_t *t = h->otxn ? rocksdb_optimistictransaction_begin(h->otxn, h->wopts, h->otxn_opts, NULL)
                                       : rocksdb_transaction_begin(h->ptxn, h->wopts, h->ptxn_opts, NULL);
    if (!t) {
        bench_err_set(err, errlen, "rocksdb txn begin failed");
        return -1;
    }
    const void *keys[2] = {k1, k2};
    if (h->ptxn && memcmp(k1, k2, kl) > 0) {
        keys[0] = k2;
        keys[1] = k1;
    }
    char *rerr = NULL;
    for (int i = 0; i < 2 && !rerr; i++) {
        size_t n;
        char *got = rocksdb_transaction_get_for_update(t, h->ropts, keys[i], kl, &n, 1, &rerr);
        rocksdb_free(got);
        if (!rerr)
            rocksdb_transaction_put(t, keys[i], kl, v, vl, &rerr);
    }
    if (!rerr)
        rocksdb_transaction_commit(t, &rerr);
    else
        rocksdb_transaction_rollback(t, NULL);
    rocksdb_transaction_destroy(t);
    if (rerr && br_is_conflict(rerr)) {
        rocksdb_free(rerr);
        return 2;
    }
    return rerr ? br_fail(err, errlen, "txn", rerr) : 0;
}

/* OptimisticTransactionDB: validation at commit of the keys read with
 * GetForUpdate and written (snapshot isolation plus those reads). */
const bench_backend bench_backend_rocksdb_otxn = {
    .name = "rocksdb-otxn",
    .thread_safe = 1,
    .open = br_open_otxn,
    .put = br_put,
    .get = br_get,
    .scan = br_scan,
    .settle = br_settle,
    .close = br_close,
    .txn_rmw = br_txn_rmw,
    .txn_only = 1,
};

/* TransactionDB: row locks taken by GetForUpdate and writes, held to commit. */
const bench_backend bench_backend_rocksdb_ptxn = {
    .name = "rocksdb-txn",
    .thread_safe = 1,
    .open = br_open_ptxn,
    .put = br_put,
    .get = br_get,
    .scan = br_scan,
    .settle = br_settle,
    .close = br_close,
    .txn_rmw = br_txn_rmw,
    .txn_only = 1,
};
