/*
 * backend_tind.c -- tind in tind-bench, through the public API only.
 *
 * Settings: one keyspace "bench" with the defaults (leveled compaction with a
 * dynamic base level, LZ4 on every level, Bloom filters of 10 bits per key,
 * 4 KiB blocks, 64 MiB memtables, 128 MiB database write buffer, 2 background
 * threads); block cache = cfg->cache_bytes. Durability: eventual = the
 * default TIND_PERSIST_BUFFER (each write reaches the OS through write(2), no
 * sync: RocksDB's sync=false; TIND_PERSIST_NONE would keep records in a
 * user-space buffer, a weaker promise than the peers'); synced = TIND_PERSIST_SYNC_DATA (fdatasync
 * before the write returns: RocksDB's sync=true). Key-value separation:
 * "tind" keeps its default (on, values of >= 4 KiB to blob files, GC ratio
 * 0.25), so blobs-4k's values are separated; "tind-inline" is the same
 * engine with separation off (the baseline issue 11 is measured against).
 * counter_merge: the keyspace gets the built-in TIND_MERGE_COUNTER operator
 * (8-byte little-endian uint64 add, as RocksDB's uint64add).
 * With --tind-prefix the keyspace gets a prefix extractor (separator '#',
 * the feed workload's user part "u00000012#"), so a feed scan skips the
 * tables whose filter lacks the user.
 *
 * settle: tind_persist(SYNC_DATA), tind_flush, then tind_wait_idle (every
 * compaction the flushes made due finishes). put_batch: one tind_batch.
 *
 * Scans reuse iterators: a pool of unbounded iterators (as the LMDB backend
 * pools its read transactions), each taken by one scan at a time and
 * re-targeted to the newest state with tind_iter_refresh (cheap while no
 * flush or compaction changed the tables); a prefix scan stops at the first
 * key without the prefix, as LMDB's does. With --tind-prefix a prefix scan
 * makes a prefix iterator instead (tind_iter_prefix), which is what lets it
 * skip tables by their filters. (RocksDB 7.8's C API has no iterator
 * refresh: its backend makes an iterator per scan.) settle frees the idle
 * pool: an idle iterator pins the memtable it last saw (bt_pool_drop).
 *
 * Transactions (txn-*): optimistic, serializable (tind_txn_begin with
 * TIND_TXN_OPTIMISTIC); the two reads are tracked, a conflict is retried.
 * tind-sw, a second engine name for the txn-* workloads only, runs them as
 * single-writer transactions (TIND_TXN_SINGLE_WRITER: one at a time).
 *
 * TIND_BENCH_MEMSTATS=S (a debugging aid, issue 15): a thread prints to
 * stderr every S seconds (and once at close) where the memory goes: the
 * process's VmRSS and VmHWM, tind_db_stats_get's memory figures, and
 * malloc's totals (mallinfo2: bytes in use, free bytes malloc keeps, mmapped
 * chunks), so a peak RSS can be accounted for MB by MB.
 *
 * TIND_BENCH_LEVELS=1 (a debugging aid, issue 15): every settle prints the
 * tree it leaves (tables and MB per level) to stderr: a run phase's reads
 * depend on it (how many levels, partitioned or not).
 *
 * TIND_BENCH_BLOB_CACHE_MB=M gives the database a blob cache of M MiB
 * (tind_options_set_blob_cache_size; tind's default is none).
 *
 * TIND_BENCH_MEMTABLE_MB=M sets the keyspace's memtable size (default 64;
 * 16 measured on 2026-12-06: fills and ycsb-a 21-32% faster, w-amp 30-75%
 * higher, reads 8-16% slower: docs/BENCHMARKS.md).
 *
 * TIND_BENCH_JOURNAL_COMPRESS=B sets the journal compression threshold
 * (tind_options_set_journal_compression_threshold; default 4096). Tried at
 * 64 on 2026-12-06: fillseq's w-amp 1.27 -> 0.96, but fillrandom, overwrite
 * and writeheavy unchanged (their sealed journals are deleted before the
 * kernel writes them back) and every fill 10-20% slower: the default stays.
 *
 * TIND_BENCH_BLOB_GC=RATIO[,AGE] sets "tind"'s blob GC (tind_ks_options_set_blob_gc:
 * garbage ratio that makes compaction relocate a blob file's live values,
 * and the age cutoff; defaults 0.25 and 0) to measure the write / space
 * amplification trade on blobs-writeheavy. Blob options are stored with
 * the keyspace: with --keep a cached preload keeps those it was made with,
 * so run these (and TIND_BENCH_BLOB_THRESHOLD) without --keep.
 *
 * Thread-safety: tind handles may be shared by threads (thread_safe = 1).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "backend.h"
#include "tind.h"

#define BT_ITER_POOL 64

typedef struct bt_handle {
    tind_db *db;
    tind_keyspace *ks;
    int prefix_iters;                       /* --tind-prefix: prefix scans make prefix iterators */
    _Atomic(tind_iter *) pool[BT_ITER_POOL]; /* idle unbounded iterators; NULL = empty slot */
    /* TIND_BENCH_MEMSTATS */
    pthread_t mem_thread;
    int mem_running;
    unsigned mem_period_s;
    pthread_mutex_t mem_mu;
    pthread_cond_t mem_cv;
    int mem_stop;                           /* (mem_mu) */
} bt_handle;

/* "VmRSS:" or "VmHWM:" of /proc/self/status in KiB; 0 where there is none. */
static long bt_proc_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    long kb = 0;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) {
            kb = strtol(line + n, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* One line of TIND_BENCH_MEMSTATS, in MB. */
static void bt_mem_print(bt_handle *h, const char *when)
{
    tind_db_stats s;
    if (tind_db_stats_get(h->db, &s))
        return;
    const double mb = 1048576.0;
    fprintf(stderr,
            "memstats %s: rss %.1f hwm %.1f | tind %.1f = cache %.1f (pinned %.1f, %llu entries) + blob cache %.1f "
            "+ memtables %.1f "
            "(sealed %.1f) + filters %.1f + tables %.1f (%llu) + journal %.1f + spare %.1f + held %.1f | block memory %.1f "
            "(free %.1f) | blob readers %llu, files %llu, iterators %llu",
            when, bt_proc_status_kb("VmRSS:") / 1024.0, bt_proc_status_kb("VmHWM:") / 1024.0,
            s.memory_bytes / mb, s.cache_usage / mb, s.cache_pinned / mb, (unsigned long long)s.cache_entries,
            s.blob_cache_usage / mb,            s.memtable_bytes / mb, s.pending_flush_bytes / mb, s.memtable_filter_bytes / mb,
            s.table_reader_bytes / mb, (unsigned long long)s.table_readers, s.journal_buffer_bytes / mb,
            s.memtable_spare_bytes / mb, s.memtable_held_bytes / mb, s.block_memory_mapped / mb, s.block_memory_free / mb,
            (unsigned long long)s.blob_readers, (unsigned long long)s.open_files,
            (unsigned long long)s.live_iterators);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 mi = mallinfo2();
    fprintf(stderr, " | malloc in use %.1f, free %.1f (top %.1f), mmapped %.1f (%zu)", mi.uordblks / mb,
            mi.fordblks / mb, mi.keepcost / mb, mi.hblkhd / mb, mi.hblks);
#endif
    fputc('\n', stderr);
}

static void *bt_mem_main(void *arg)
{
    bt_handle *h = arg;
    pthread_mutex_lock(&h->mem_mu);
    while (!h->mem_stop) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += (time_t)h->mem_period_s;
        while (!h->mem_stop && pthread_cond_timedwait(&h->mem_cv, &h->mem_mu, &t) == 0) {
        }
        if (h->mem_stop)
            break;
        pthread_mutex_unlock(&h->mem_mu);
        bt_mem_print(h, "every");
        pthread_mutex_lock(&h->mem_mu);
    }
    pthread_mutex_unlock(&h->mem_mu);
    return NULL;
}

static void bt_mem_start(bt_handle *h)
{
    const char *e = getenv("TIND_BENCH_MEMSTATS");
    if (!e || atoi(e) <= 0)
        return;
    h->mem_period_s = (unsigned)atoi(e);
    pthread_mutex_init(&h->mem_mu, NULL);
    pthread_cond_init(&h->mem_cv, NULL);
    h->mem_running = pthread_create(&h->mem_thread, NULL, bt_mem_main, h) == 0;
}

static void bt_mem_stop(bt_handle *h)
{
    if (!h->mem_running)
        return;
    pthread_mutex_lock(&h->mem_mu);
    h->mem_stop = 1;
    pthread_cond_signal(&h->mem_cv);
    pthread_mutex_unlock(&h->mem_mu);
    pthread_join(h->mem_thread, NULL);
    bt_mem_print(h, "close");
    pthread_cond_destroy(&h->mem_cv);
    pthread_mutex_destroy(&h->mem_mu);
}

/* An unbounded iterator at the newest state: one from the pool, refreshed,
 * or a new one. */
static int bt_iter_take(bt_handle *h, tind_iter **out)
{
    for (int i = 0; i < BT_ITER_POOL; i++) {
        if (!atomic_load_explicit(&h->pool[i], memory_order_relaxed))
            continue;
        tind_iter *it = atomic_exchange_explicit(&h->pool[i], NULL, memory_order_acquire);
        if (!it)
            continue;
        if (tind_iter_refresh(it) == TIND_OK) {
            *out = it;
            return TIND_OK;
        }
        tind_iter_free(it);
        break;
    }
    return tind_iter_range(h->ks, NULL, 0, NULL, 0, NULL, out);
}

/* Back to the pool (freed when the pool is full). */
static void bt_iter_give(bt_handle *h, tind_iter *it)
{
    for (int i = 0; i < BT_ITER_POOL; i++) {
        tind_iter *empty = NULL;
        if (atomic_compare_exchange_strong_explicit(&h->pool[i], &empty, it, memory_order_release,
                                                    memory_order_relaxed))
            return;
    }
    tind_iter_free(it);
}

static int bt_fail(char *err, size_t errlen, const char *what, int rc, tind_db *db)
{
    bench_err_set(err, errlen, "tind %s: %s (%s)", what, tind_strerror(rc), tind_errmsg(db));
    return -1;
}

static int bt_open_with(void **out, const bench_config *cfg, int inline_values, char *err, size_t errlen)
{
    bt_handle *h = calloc(1, sizeof *h);
    tind_options *o = tind_options_new();
    if (!h || !o) {
        free(h);
        tind_options_free(o);
        bench_err_set(err, errlen, "tind open: out of memory");
        return -1;
    }
    tind_options_set_cache_size(o, cfg->cache_bytes);
    /* TIND_BENCH_BLOB_CACHE_MB=M: a blob cache of M MiB (default none) */
    const char *bc = getenv("TIND_BENCH_BLOB_CACHE_MB");
    if (bc)
        tind_options_set_blob_cache_size(o, (size_t)strtoull(bc, NULL, 10) << 20);
    /* TIND_BENCH_JOURNAL_COMPRESS=B: the journal compression threshold (default tind's) */
    const char *jc = getenv("TIND_BENCH_JOURNAL_COMPRESS");
    if (jc)
        tind_options_set_journal_compression_threshold(o, (uint32_t)strtoul(jc, NULL, 10));
    tind_options_set_default_durability(o, cfg->sync_writes ? TIND_PERSIST_SYNC_DATA : TIND_PERSIST_BUFFER);
    if (cfg->encrypt)
        tind_options_set_encryption_key(o, "tind-bench: encryption key 0123", 32);
    int rc = tind_open(cfg->dir, o, &h->db);
    tind_options_free(o);
    if (rc) {
        free(h);
        return bt_fail(err, errlen, "open", rc, NULL);
    }
    tind_ks_options *ko = tind_ks_options_new();
    if (!ko) {
        tind_close(h->db);
        free(h);
        return bt_fail(err, errlen, "keyspace options", TIND_ENOMEM, NULL);
    }
    /* TIND_BENCH_MEMTABLE_MB=M: memtables of M MiB (default tind's 64) */
    const char *mt = getenv("TIND_BENCH_MEMTABLE_MB");
    if (mt)
        tind_ks_options_set_memtable_size(ko, (size_t)strtoull(mt, NULL, 10) << 20);
    /* TIND_BENCH_BLOB_THRESHOLD=N: "tind" separates values of >= N bytes
     * (how the default threshold was chosen: docs/ARCHITECTURE.md) */
    const char *th = getenv("TIND_BENCH_BLOB_THRESHOLD");
    if (th && !inline_values)
        tind_ks_options_set_blob_separation(ko, 1, strtoull(th, NULL, 10));
    const char *gc = getenv("TIND_BENCH_BLOB_GC");
    if (gc && !inline_values) {
        char *end = NULL;
        double ratio = strtod(gc, &end);
        double age = end && *end == ',' ? strtod(end + 1, NULL) : 0;
        tind_ks_options_set_blob_gc(ko, ratio, age);
    }
    if (inline_values)
        tind_ks_options_set_blob_separation(ko, 0, 4096);
    if (cfg->counter_merge)
        tind_ks_options_set_merge_builtin(ko, TIND_MERGE_COUNTER, NULL, 0);
    if (cfg->tind_prefix)
        tind_ks_options_set_prefix_separator(ko, '#');   /* "u00000012#": a feed user */
    h->prefix_iters = cfg->tind_prefix;
    rc = tind_keyspace_open(h->db, "bench", ko, &h->ks);
    tind_ks_options_free(ko);
    if (rc) {
        bt_fail(err, errlen, "keyspace open", rc, h->db);
        tind_close(h->db);
        free(h);
        return -1;
    }
    bt_mem_start(h);
    *out = h;
    return 0;
}

static int bt_open(void **out, const bench_config *cfg, char *err, size_t errlen)
{
    return bt_open_with(out, cfg, 0, err, errlen);
}

static int bt_open_inline(void **out, const bench_config *cfg, char *err, size_t errlen)
{
    return bt_open_with(out, cfg, 1, err, errlen);
}

static int bt_put(void *hp, const void *k, size_t kl, const void *v, size_t vl, char *err, size_t errlen)
{
    bt_handle *h = hp;
    int rc = tind_put(h->ks, k, kl, v, vl);
    return rc ? bt_fail(err, errlen, "put", rc, h->db) : 0;
}

/* One tind_batch of the n puts (the database's default durability). */
static int bt_put_batch(void *hp, size_t n, const void *const *k, const size_t *kl, const void *const *v,
                        const size_t *vl, char *err, size_t errlen)
{
    bt_handle *h = hp;
    tind_batch *b = NULL;
    int rc = tind_batch_new(h->db, &b);
    for (size_t i = 0; i < n && !rc; i++)
        rc = tind_batch_put(b, h->ks, k[i], kl[i], v[i], vl[i]);
    if (!rc)
        rc = tind_batch_commit(b);
    if (b)
        tind_batch_free(b);
    return rc ? bt_fail(err, errlen, "batch", rc, h->db) : 0;
}

static int bt_remove_range(void *hp, const void *lo, size_t ll, const void *hi, size_t hl, char *err,
                           size_t errlen)
{
    bt_handle *h = hp;
    int rc = tind_remove_range(h->ks, lo, ll, hi, hl);
    return rc ? bt_fail(err, errlen, "remove_range", rc, h->db) : 0;
}

static int bt_merge(void *hp, const void *k, size_t kl, const void *v, size_t vl, char *err, size_t errlen)
{
    bt_handle *h = hp;
    int rc = tind_merge(h->ks, k, kl, v, vl);
    return rc ? bt_fail(err, errlen, "merge", rc, h->db) : 0;
}

/* tind_get_into straight into the harness's buffer (no allocation per
 * read); a value larger than the buffer grows it and reads again. */
static int bt_get(void *hp, const void *k, size_t kl, bench_buf *out, char *err, size_t errlen)
{
    bt_handle *h = hp;
    size_t vl;
    int rc = tind_get_into(h->ks, k, kl, NULL, out->data, out->cap, &vl);
    while (rc == TIND_OK && vl > out->cap) {
        uint8_t *d = realloc(out->data, vl);
        if (!d) {
            bench_err_set(err, errlen, "tind get: out of memory");
            return -1;
        }
        out->data = d;
        out->cap = vl;
        rc = tind_get_into(h->ks, k, kl, NULL, out->data, out->cap, &vl);
    }
    if (rc == TIND_NOT_FOUND)
        return 1;
    if (rc)
        return bt_fail(err, errlen, "get", rc, h->db);
    out->len = vl;
    return 0;
}

static int bt_scan(void *hp, const void *start, size_t sl, const void *prefix, size_t plen, int reverse,
                   size_t limit, size_t *visited, char *err, size_t errlen)
{
    bt_handle *h = hp;
    tind_iter *it;
    int pooled = !(plen && h->prefix_iters);
    int rc = pooled ? bt_iter_take(h, &it) : tind_iter_prefix(h->ks, prefix, plen, NULL, &it);
    if (rc)
        return bt_fail(err, errlen, "iterator", rc, h->db);
    size_t n = 0;
    volatile uint8_t sink = 0;
    if (reverse) {
        tind_iter_seek_for_prev(it, start, sl);
        if (tind_iter_valid(it)) {
            size_t kn;
            const void *kp = tind_iter_key(it, &kn);
            if (kn == sl && memcmp(kp, start, sl) == 0)
                tind_iter_prev(it);
        }
    } else {
        tind_iter_seek(it, start, sl);
    }
    while (n < limit && tind_iter_valid(it)) {
        if (pooled && plen) {
            size_t kn;
            const void *kp = tind_iter_key(it, &kn);
            if (kn < plen || memcmp(kp, prefix, plen) != 0)
                break;
        }
        size_t vn;
        const uint8_t *vp = tind_iter_value(it, &vn);
        if (vn)
            sink ^= vp[0] ^ vp[vn - 1];
        n++;
        if (reverse)
            tind_iter_prev(it);
        else
            tind_iter_next(it);
    }
    (void)sink;
    rc = tind_iter_status(it);
    if (pooled && rc == TIND_OK)
        bt_iter_give(h, it);
    else
        tind_iter_free(it);
    *visited = n;
    return rc ? bt_fail(err, errlen, "scan", rc, h->db) : 0;
}

/* Frees the pool's idle iterators. An iterator holds the view it was last
 * refreshed to, and with it the memtable that was active then: writes keep
 * filling that memtable, and its memory (up to a whole memtable) stays
 * mapped after its flush until the iterator moves on or is freed. An idle
 * pool left by a scan phase pinned 60-75 MB through the write phase after
 * it (micro: seekscan, then overwrite). */
static void bt_pool_drop(bt_handle *h)
{
    for (int i = 0; i < BT_ITER_POOL; i++)
        tind_iter_free(atomic_exchange(&h->pool[i], NULL));
}

static int bt_settle(void *hp, char *err, size_t errlen)
{
    bt_handle *h = hp;
    bt_pool_drop(h); /* a phase's end: the next phase may not scan */
    int rc = tind_persist(h->db, TIND_PERSIST_SYNC_DATA);
    if (rc == 0)
        rc = tind_flush(h->ks);
    if (rc == 0) /* and every compaction the flushes made due (10 minutes at most) */
        rc = tind_wait_idle(h->db, 600000);
    tind_ks_stats ks;
    if (rc == 0 && getenv("TIND_BENCH_LEVELS") && tind_ks_stats_get(h->ks, &ks) == 0) {
        fprintf(stderr, "levels after settle:");   /* the tree a run phase reads */
        for (uint32_t l = 0; l < ks.levels && l < TIND_STATS_MAX_LEVELS; l++)
            if (ks.tables[l])
                fprintf(stderr, " L%u %llu tables %.1f MB", l, (unsigned long long)ks.tables[l],
                        ks.level_bytes[l] / 1048576.0);
        fputc('\n', stderr);
    }
    return rc ? bt_fail(err, errlen, "settle", rc, h->db) : 0;
}

static int bt_close(void *hp, char *err, size_t errlen)
{
    bt_handle *h = hp;
    bt_mem_stop(h);
    bt_pool_drop(h);
    int rc = tind_close(h->db);
    free(h);
    return rc ? bt_fail(err, errlen, "close", rc, NULL) : 0;
}

/* An optimistic (serializable) transaction: both reads tracked, both keys
 * written, TIND_ECONFLICT reported as 2 (retry). */
static int bt_txn(void *hp, int flags, const void *k1, const void *k2, size_t kl, const void *v, size_t vl,
                  char *err, size_t errlen)
{
    bt_handle *h = hp;
    tind_txn *t;
    int rc = tind_txn_begin(h->db, flags, &t);
    if (rc)
        return bt_fail(err, errlen, "txn begin", rc, h->db);
    tind_read_options *ro = tind_read_options_new();
    if (!ro) {
        tind_txn_rollback(t);
        bench_err_set(err, errlen, "tind txn: out of memory");
        return -1;
    }
    tind_read_options_set_txn(ro, t);
    const void *keys[2] = {k1, k2};
    for (int i = 0; i < 2 && !rc; i++) {
        void *got = NULL;
        size_t n;
        rc = tind_get(h->ks, keys[i], kl, ro, &got, &n); /* the value, as a read-modify-write reads it */
        tind_free(got);
        if (rc == TIND_NOT_FOUND)
            rc = TIND_OK;
        if (!rc)
            rc = tind_txn_put(t, h->ks, keys[i], kl, v, vl);
    }
    tind_read_options_free(ro);
    if (rc) {
        tind_txn_rollback(t);
        return bt_fail(err, errlen, "txn read or put", rc, h->db);
    }
    rc = tind_txn_commit(t);
    if (rc == TIND_ECONFLICT)
        return 2;
    return rc ? bt_fail(err, errlen, "txn commit", rc, h->db) : 0;
}

static int bt_txn_rmw(void *hp, const void *k1, const void *k2, size_t kl, const void *v, size_t vl, char *err,
                      size_t errlen)
{
    return bt_txn(hp, TIND_TXN_OPTIMISTIC, k1, k2, kl, v, vl, err, errlen);
}

static int bt_txn_rmw_sw(void *hp, const void *k1, const void *k2, size_t kl, const void *v, size_t vl, char *err,
                         size_t errlen)
{
    return bt_txn(hp, TIND_TXN_SINGLE_WRITER, k1, k2, kl, v, vl, err, errlen);
}

/* tind_ingest: sorted input is streamed, unsorted input sorted in runs of
 * 64 MiB (the default) spilled to temporary tables. */
static int bt_bulk_load(void *hp, int (*next)(void *ctx, const void **k, size_t *kl, const void **v, size_t *vl),
                        void *ctx, int sorted, uint64_t *count, char *err, size_t errlen)
{
    bt_handle *h = hp;
    int rc = tind_ingest(h->ks, next, ctx, sorted ? TIND_INGEST_SORTED : 0, 0, NULL, NULL, count);
    return rc ? bt_fail(err, errlen, "ingest", rc, h->db) : 0;
}

const bench_backend bench_backend_tind = {
    .name = "tind",
    .thread_safe = 1,
    .open = bt_open,
    .put = bt_put,
    .get = bt_get,
    .scan = bt_scan,
    .settle = bt_settle,
    .merge = bt_merge,
    .close = bt_close,
    .bulk_load = bt_bulk_load,
    .remove_range = bt_remove_range,
    .txn_rmw = bt_txn_rmw,
    .put_batch = bt_put_batch,
};

/* The single-writer flavour (txn-* workloads only): one write transaction at
 * a time, as LMDB; it never conflicts with another (only plain writes could
 * make it conflict, and the workload has none). */
const bench_backend bench_backend_tind_sw = {
    .name = "tind-sw",
    .thread_safe = 1,
    .open = bt_open,
    .put = bt_put,
    .get = bt_get,
    .scan = bt_scan,
    .settle = bt_settle,
    .close = bt_close,
    .txn_rmw = bt_txn_rmw_sw,
    .txn_only = 1,
};

/* tind with key-value separation off: every value inline in the tables. */
const bench_backend bench_backend_tind_inline = {
    .name = "tind-inline",
    .thread_safe = 1,
    .open = bt_open_inline,
    .put = bt_put,
    .get = bt_get,
    .scan = bt_scan,
    .settle = bt_settle,
    .close = bt_close,
    .put_batch = bt_put_batch,
};
