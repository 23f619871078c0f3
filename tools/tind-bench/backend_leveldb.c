/*
 * backend_leveldb.c -- LevelDB 1.23 (Debian libleveldb-dev, C API
 * leveldb/c.h) in tind-bench, configured like tind wherever both have the
 * knob.
 *
 * Settings: Bloom filter of 10 bits per key (leveldb_filterpolicy_create_bloom),
 * an LRU block cache of cfg->cache_bytes, Snappy block compression (LevelDB's
 * default and its only codec; tind and RocksDB use LZ4, a codec of the same
 * class), 16 MiB memtable (tind's memtable size; LevelDB's default is 4 MiB),
 * 4 KiB blocks and 2 MiB table files (LevelDB's defaults), and max_open_files
 * raised to 10000 (clamped below the process's RLIMIT_NOFILE) so that every
 * table stays open as it does in RocksDB (max_open_files = -1) -- with the
 * default 1000 a data set larger than 2 GB would reopen tables on reads.
 * LevelDB has no key-value separation: blob_values is ignored. It compacts
 * with one background thread (it has no knob for more).
 * Durability: eventual = WriteOptions.sync = false (every put reaches the OS
 * through write(2) of the log, no sync: tind's TIND_PERSIST_NONE, RocksDB's
 * sync=false); synced = sync = true (the log is fsync'd -- LevelDB's
 * PosixWritableFile::Sync uses fdatasync -- before the put returns: tind's
 * TIND_PERSIST_SYNC_DATA).
 * settle: flushes the memtable to a table (which LevelDB writes and syncs
 * together with its MANIFEST) by compacting an empty key range (the C API has
 * no flush: DBImpl::CompactRange always compacts the memtable first, and an
 * empty range selects no table files), then waits until the "leveldb.stats"
 * text (per-level files and compaction counters) stops changing for one
 * second, i.e. until background compaction has gone quiet (at most 10 min).
 *
 * Scans follow backend.h: forward from the first key >= start, reverse from
 * the last key < start (start = "" visits nothing in reverse, as with
 * RocksDB's SeekForPrev), stopping at the first key without the prefix; the
 * first and last byte of each value are read.
 *
 * Thread-safety: a leveldb_t may be used by several threads (thread_safe = 1);
 * the option objects are only read after open.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <leveldb/c.h>

#include "backend.h"

typedef struct bl_handle {
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_filterpolicy_t *filter;
    leveldb_cache_t *cache;
    leveldb_writeoptions_t *wopts;
    leveldb_readoptions_t *ropts;
} bl_handle;

static int bl_fail(char *err, size_t errlen, const char *what, char *lerr)
{
    bench_err_set(err, errlen, "leveldb %s: %s", what, lerr ? lerr : "error");
    leveldb_free(lerr);
    return -1;
}

static void bl_destroy(bl_handle *h)
{
    if (h->db)
        leveldb_close(h->db);
    if (h->wopts)
        leveldb_writeoptions_destroy(h->wopts);
    if (h->ropts)
        leveldb_readoptions_destroy(h->ropts);
    if (h->opts)
        leveldb_options_destroy(h->opts);
    if (h->filter)
        leveldb_filterpolicy_destroy(h->filter);
    if (h->cache)
        leveldb_cache_destroy(h->cache);
    free(h);
}

/* Open tables LevelDB may keep: 10000, less when the fd limit is lower. */
static int bl_max_open_files(void)
{
    int want = 10000;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        long room = (long)rl.rlim_cur - 256;
        if (room < want)
            want = room < 64 ? 64 : (int)room;
    }
    return want;
}

static int bl_open(void **out, const bench_config *cfg, char *err, size_t errlen)
{
    bl_handle *h = calloc(1, sizeof *h);
    if (!h) {
        bench_err_set(err, errlen, "leveldb open: out of memory");
        return -1;
    }
    h->opts = leveldb_options_create();
    h->filter = leveldb_filterpolicy_create_bloom(10);
    h->cache = leveldb_cache_create_lru(cfg->cache_bytes);
    h->wopts = leveldb_writeoptions_create();
    h->ropts = leveldb_readoptions_create();
    if (!h->opts || !h->filter || !h->cache || !h->wopts || !h->ropts) {
        bl_destroy(h);
        bench_err_set(err, errlen, "leveldb open: out of memory");
        return -1;
    }
    leveldb_options_set_create_if_missing(h->opts, 1);
    leveldb_options_set_filter_policy(h->opts, h->filter);
    leveldb_options_set_cache(h->opts, h->cache);
    leveldb_options_set_compression(h->opts, leveldb_snappy_compression);
    leveldb_options_set_write_buffer_size(h->opts, (size_t)16 << 20);
    leveldb_options_set_max_open_files(h->opts, bl_max_open_files());
    leveldb_writeoptions_set_sync(h->wopts, cfg->sync_writes ? 1 : 0);
    char *lerr = NULL;
    h->db = leveldb_open(h->opts, cfg->dir, &lerr);
    if (lerr) {
        h->db = NULL;
        bl_destroy(h);
        return bl_fail(err, errlen, "open", lerr);
    }
    *out = h;
    return 0;
}

static int bl_put(void *hp, const void *k, size_t kl, const void *v, size_t vl, char *err, size_t errlen)
{
    bl_handle *h = hp;
    char *lerr = NULL;
    leveldb_put(h->db, h->wopts, k, kl, v, vl, &lerr);
    return lerr ? bl_fail(err, errlen, "put", lerr) : 0;
}

/* One WriteBatch of the n puts (micro/fillbatch). */
static int bl_put_batch(void *hp, size_t n, const void *const *k, const size_t *kl, const void *const *v,
                        const size_t *vl, char *err, size_t errlen)
{
    bl_handle *h = hp;
    char *lerr = NULL;
    leveldb_writebatch_t *b = leveldb_writebatch_create();
    for (size_t i = 0; i < n; i++)
        leveldb_writebatch_put(b, k[i], kl[i], v[i], vl[i]);
    leveldb_write(h->db, h->wopts, b, &lerr);
    leveldb_writebatch_destroy(b);
    return lerr ? bl_fail(err, errlen, "write batch", lerr) : 0;
}

static int bl_get(void *hp, const void *k, size_t kl, bench_buf *out, char *err, size_t errlen)
{
    bl_handle *h = hp;
    char *lerr = NULL;
    size_t vl = 0;
    char *v = leveldb_get(h->db, h->ropts, k, kl, &vl, &lerr);
    if (lerr)
        return bl_fail(err, errlen, "get", lerr);
    if (!v)
        return 1;
    int rc = bench_buf_set(out, v, vl);
    leveldb_free(v);
    if (rc) {
        bench_err_set(err, errlen, "leveldb get: out of memory");
        return -1;
    }
    return 0;
}

static int bl_scan(void *hp, const void *start, size_t sl, const void *prefix, size_t plen, int reverse,
                   size_t limit, size_t *visited, char *err, size_t errlen)
{
    bl_handle *h = hp;
    leveldb_iterator_t *it = leveldb_create_iterator(h->db, h->ropts);
    size_t n = 0;
    volatile unsigned char sink = 0;
    leveldb_iter_seek(it, start, sl);
    if (reverse) {
        /* the first key >= start is one past where we begin */
        if (leveldb_iter_valid(it))
            leveldb_iter_prev(it);
        else if (sl > 0)
            leveldb_iter_seek_to_last(it);
    }
    while (n < limit && leveldb_iter_valid(it)) {
        size_t kn, vn;
        const char *kp = leveldb_iter_key(it, &kn);
        if (plen && (kn < plen || memcmp(kp, prefix, plen) != 0))
            break;
        const char *vp = leveldb_iter_value(it, &vn);
        if (vn)
            sink ^= (unsigned char)(vp[0] ^ vp[vn - 1]);
        n++;
        if (reverse)
            leveldb_iter_prev(it);
        else
            leveldb_iter_next(it);
    }
    (void)sink;
    char *lerr = NULL;
    leveldb_iter_get_error(it, &lerr);
    leveldb_iter_destroy(it);
    *visited = n;
    return lerr ? bl_fail(err, errlen, "scan", lerr) : 0;
}

static int bl_settle(void *hp, char *err, size_t errlen)
{
    bl_handle *h = hp;
    /* An empty range: flushes the memtable, compacts no table. */
    leveldb_compact_range(h->db, "", 0, "", 0);
    char *prev = NULL;
    int stable_polls = 0;
    for (int i = 0; i < 6000 && stable_polls < 10; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        char *now = leveldb_property_value(h->db, "leveldb.stats");
        if (prev && now && strcmp(prev, now) == 0)
            stable_polls++;
        else
            stable_polls = 0;
        leveldb_free(prev);
        prev = now;
    }
    leveldb_free(prev);
    return 0;
}

static int bl_close(void *hp, char *err, size_t errlen)
{
    bl_destroy(hp);
    return 0;
}

const bench_backend bench_backend_leveldb = {
    .name = "leveldb",
    .thread_safe = 1,
    .open = bl_open,
    .put = bl_put,
    .get = bl_get,
    .scan = bl_scan,
    .settle = bl_settle,
    .put_batch = bl_put_batch,
    .close = bl_close,
};
