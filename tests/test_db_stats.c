/*
 * test_db_stats.c -- tind_db_stats_get (issue 15): every field moves when
 * what it counts moves, the memory total adds up, bad arguments are
 * refused, and the call runs beside writers, readers and background work
 * (TSAN-LABEL: also run under make test-tsan).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"
#include "tind_internal.h"

static tind_db *open_db(fs *mem, int background, size_t cache, size_t write_buffer)
{
    tind_options *o = tind_options_new();
    tind_options_set_cache_size(o, cache);
    tind_options_set_write_buffer_size(o, write_buffer);
    tind_db *db = check_open_mem_opts(mem, background, o);
    tind_options_free(o);
    return db;
}

static tind_keyspace *open_ks(tind_db *db, const char *name, size_t memtable, int blobs)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, memtable);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_blob_separation(ko, blobs, 1024);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, name, ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

static void put_keys(tind_keyspace *ks, int from, int n, size_t vlen)
{
    static char val[8192];
    memset(val, 'v', sizeof val);
    for (int i = from; i < from + n; i++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "key%08d", i);
        CHECK_OK(tind_put(ks, key, (size_t)kl, val, vlen));
    }
}

/* AddressSanitizer builds malloc every block (util/hugemem.h) */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifndef TEST_ASAN
#define TEST_ASAN 0
#endif

static tind_db_stats stats(tind_db *db)
{
    tind_db_stats s;
    memset(&s, 0xAB, sizeof s);
    CHECK_OK(tind_db_stats_get(db, &s));
    CHECK_EQ(s.memory_bytes, s.cache_usage + s.blob_cache_usage + s.memtable_bytes + s.memtable_filter_bytes + s.table_reader_bytes +
                                 s.journal_buffer_bytes + s.memtable_spare_bytes + s.memtable_held_bytes);
    CHECK(s.active_memtable_bytes <= s.memtable_bytes);
    CHECK_EQ(s.memtable_bytes, s.active_memtable_bytes + s.pending_flush_bytes);
    CHECK(s.cache_pinned <= s.cache_usage);
    CHECK(s.pending_compactions <= s.keyspaces);
    CHECK(s.block_memory_free <= s.block_memory_mapped);
    CHECK(s.block_memory_mapped % (2u << 20) == 0); /* whole chunks */
    return s;
}

TEST(args)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_db(mem, 0, 1 << 20, 8 << 20);
    tind_db_stats s;
    CHECK_RC(tind_db_stats_get(NULL, &s), TIND_EINVAL);
    CHECK_RC(tind_db_stats_get(db, NULL), TIND_EINVAL);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* Each field moves with what it counts (no background work: every step is
 * the test's). */
TEST(fields_move)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_db(mem, 0, 1 << 20, 8 << 20);
    tind_db_stats s0 = stats(db);
    CHECK_EQ(s0.cache_capacity, 1 << 20);
    CHECK_EQ(s0.write_buffer_size, 8 << 20);
    CHECK_EQ(s0.cache_usage, 0);
    CHECK_EQ(s0.cache_entries, 0);
    CHECK_EQ(s0.pending_flushes, 0);
    CHECK_EQ(s0.table_readers, 0);
    CHECK_EQ(s0.live_iterators, 0);

    /* a keyspace: counted, its memtable grows with writes */
    tind_keyspace *ks = open_ks(db, "a", 256 << 10, 0);
    tind_db_stats s1 = stats(db);
    CHECK_EQ(s1.keyspaces, s0.keyspaces + 1);
    put_keys(ks, 0, 500, 100);
    tind_db_stats s2 = stats(db);
    CHECK(s2.active_memtable_bytes >= s1.active_memtable_bytes + 500 * 100);
    CHECK(s2.memtable_filter_bytes > 0);     /* allocated by the first write */
    CHECK(s2.journal_buffer_bytes > 0);      /* the record buffer of the write path */
    CHECK_EQ(s2.pending_flushes, 0);

    /* past the memtable size: a sealed memtable waits for its flush */
    put_keys(ks, 500, 4000, 100);
    tind_db_stats s3 = stats(db);
    CHECK(s3.pending_flushes >= 1);
    CHECK(s3.pending_flush_bytes >= (256 << 10));
    CHECK(s3.memtable_bytes > s3.active_memtable_bytes);
    CHECK_EQ(s3.running_flushes, 0);

    /* flushed: nothing pending, tables; reading one opens it and fills the cache */
    CHECK_OK(tind_flush(ks));
    tind_db_stats s4 = stats(db);
    CHECK_EQ(s4.pending_flushes, 0);
    CHECK_EQ(s4.pending_flush_bytes, 0);
    CHECK(s4.memtable_bytes < s3.memtable_bytes);
    void *v;
    size_t vl;
    CHECK_OK(tind_get(ks, "key00000007", 11, NULL, &v, &vl));
    tind_free(v);
    tind_db_stats s5 = stats(db);
    CHECK(s5.table_readers >= 1);
    CHECK(s5.table_reader_bytes > 0);
    CHECK(s5.open_files >= 1);
    CHECK(s5.cache_misses > s4.cache_misses);
    CHECK(s5.cache_usage > s4.cache_usage);
    CHECK(s5.cache_entries > s4.cache_entries);
    CHECK(s5.cache_pinned > 0);              /* an L0 table's index and filter stay pinned */
#if !TEST_ASAN
    CHECK(s5.block_memory_mapped > 0);       /* blocks read are on hugemem's chunks */
    CHECK(s5.block_memory_free < s5.block_memory_mapped);
#endif
    CHECK_OK(tind_get(ks, "key00000007", 11, NULL, &v, &vl));
    tind_free(v);
    tind_db_stats s6 = stats(db);
    CHECK(s6.cache_hits > s5.cache_hits);

    /* handles: a cursor (holding its block: pinned grows) and a snapshot */
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
    tind_iter_first(it);
    CHECK(tind_iter_valid(it));
    tind_snapshot *snap;
    CHECK_OK(tind_snapshot_new(db, &snap));
    tind_db_stats s7 = stats(db);
    CHECK_EQ(s7.live_iterators, s6.live_iterators + 1);
    CHECK_EQ(s7.live_snapshots, s6.live_snapshots + 1);
    CHECK(s7.cache_pinned > s6.cache_pinned);
    tind_iter_free(it);
    tind_snapshot_free(snap);
    tind_db_stats s8 = stats(db);
    CHECK_EQ(s8.live_iterators, s6.live_iterators);
    CHECK_EQ(s8.live_snapshots, s6.live_snapshots);
    CHECK(s8.cache_pinned < s7.cache_pinned);   /* the cursor's blocks are let go (its tables' index and filter stay) */

    /* more L0 tables than the threshold (2): compaction is pending, then done */
    for (int round = 0; round < 3; round++) {
        put_keys(ks, round * 1000, 1000, 100);
        CHECK_OK(tind_flush(ks));
    }
    tind_db_stats s9 = stats(db);
    CHECK_EQ(s9.pending_compactions, 1);
    CHECK(s9.pending_compaction_bytes > 0);
    CHECK_EQ(s9.running_compactions, 0);
    CHECK_OK(tind_compact(ks));
    tind_db_stats s10 = stats(db);
    CHECK_EQ(s10.pending_compactions, 0);
    CHECK_EQ(s10.pending_compaction_bytes, 0);

    /* the capacity bounds what is charged once nothing is held */
    put_keys(ks, 0, 20000, 100);
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    for (int i = 0; i < 20000; i += 7) {
        char key[32];
        int kl = snprintf(key, sizeof key, "key%08d", i);
        CHECK_OK(tind_get(ks, key, (size_t)kl, NULL, &v, &vl));
        tind_free(v);
    }
    tind_db_stats s11 = stats(db);
    CHECK(s11.cache_evictions > 0);
    CHECK(s11.cache_usage <= s11.cache_capacity);

    /* separated values: reading one opens its blob file */
    tind_keyspace *kb = open_ks(db, "blobs", 256 << 10, 1);
    put_keys(kb, 0, 10, 4096);
    CHECK_OK(tind_flush(kb));
    CHECK_OK(tind_get(kb, "key00000003", 11, NULL, &v, &vl));
    CHECK_EQ(vl, 4096);
    tind_free(v);
    tind_db_stats s12 = stats(db);
    CHECK(s12.blob_readers >= 1);
    CHECK_EQ(s12.keyspaces, s11.keyspaces + 1);

    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* The write buffer bounds the sealed memtables: a keyspace whose sealed
 * memtables hold the write buffer less one memtable stalls its writers
 * (pressure 2) long before DB_MAX_SEALED of them pile up, and not before:
 * while they hold less, the active memtable fills as they wait for their
 * flush. Background work is off, so nothing flushes and the pressure is
 * read, not waited on. */
static int pressure(tind_keyspace *ks)
{
    mu_lock(&ks->db->mu);
    int p = ks_pressure(ks);
    mu_unlock(&ks->db->mu);
    return p;
}

static uint64_t fill_while_calm(tind_keyspace *ks, tind_db *db)
{
    uint64_t calm_pending = 0;   /* the most sealed bytes seen with no pressure */
    for (int i = 0; pressure(ks) == 0; i += 100) {
        uint64_t p = stats(db).pending_flush_bytes;
        if (p > calm_pending)
            calm_pending = p;
        put_keys(ks, i, 100, 100);
        CHECK(i < 100000);
    }
    return calm_pending;
}

TEST(write_buffer_bounds_sealed)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_db(mem, 0, 1 << 20, 192 << 10);     /* budget: 192 - 64 = 128 KiB sealed */
    tind_keyspace *ks = open_ks(db, "a", 64 << 10, 0);
    uint64_t calm = fill_while_calm(ks, db);
    tind_db_stats s = stats(db);
    CHECK(calm >= (128 << 10));                            /* two sealed (each a little over 64 KiB): no stall */
    CHECK_EQ(s.pending_flushes, 3);                        /* the third one stalls */
    CHECK(s.pending_flushes < DB_MAX_SEALED / 2);          /* the count rules alone would not slow down */
    CHECK_EQ(pressure(ks), 2);
    CHECK(s.memtable_bytes <= (192 << 10) + (64 << 10));   /* the buffer and the last memtable's last batch */
    CHECK_OK(tind_flush(ks));
    CHECK_EQ(pressure(ks), 0);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* The defaults' shape, a write buffer of two memtables: one sealed memtable
 * waiting for its flush leaves the active one free to fill (it stalled every
 * writer for every flush's length when the sealed one, a few bytes over its
 * size, counted as over the budget). */
TEST(write_buffer_two_memtables_overlap)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_db(mem, 0, 1 << 20, 128 << 10);
    tind_keyspace *ks = open_ks(db, "a", 64 << 10, 0);
    uint64_t calm = fill_while_calm(ks, db);
    tind_db_stats s = stats(db);
    CHECK(calm >= (64 << 10));                             /* one sealed, the active filling */
    CHECK_EQ(s.pending_flushes, 2);
    CHECK_EQ(pressure(ks), 2);
    CHECK(s.memtable_bytes <= (128 << 10) + (64 << 10));
    CHECK_OK(tind_flush(ks));
    CHECK_EQ(pressure(ks), 0);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* A flushed memtable's 2 MiB blocks wait in the database's spare pool (at
 * most half the write buffer), counted in memory_bytes, and the next
 * memtables take them back: what the pool and the memtables hold together
 * never passes what the memtables held before. */
TEST(memtable_spare_pool)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_db(mem, 0, 1 << 20, 24u << 20);   /* the pool: at most 12 MiB */
    tind_keyspace *ks = open_ks(db, "a", 10u << 20, 0);  /* ~4 chunks of 2 MiB each */
    tind_db_stats s = stats(db);
    CHECK_EQ(s.memtable_spare_bytes, 0);
    uint64_t peak = 0;
    int key = 0;
    for (int round = 0; round < 4; round++) {
        /* fill about one memtable, then flush it: its chunks go to the pool */
        for (int i = 0; i < 10; i++, key += 256) {
            put_keys(ks, key, 256, 4000);
            s = stats(db);
            if (s.memtable_bytes + s.memtable_spare_bytes > peak)
                peak = s.memtable_bytes + s.memtable_spare_bytes;
        }
        CHECK_OK(tind_flush(ks));
        s = stats(db);
        CHECK(s.memtable_spare_bytes > 0);
        CHECK(s.memtable_spare_bytes <= (12u << 20));
        CHECK_EQ(s.memtable_spare_bytes % (2u << 20), 0);
        CHECK(s.memtable_bytes + s.memtable_spare_bytes <= peak);
    }
    /* writing again takes them back */
    uint64_t spare = s.memtable_spare_bytes;
    put_keys(ks, key, 1024, 4000);
    s = stats(db);
    CHECK(s.memtable_spare_bytes < spare);
    CHECK(s.memtable_bytes + s.memtable_spare_bytes <= peak + (2u << 20));
    CHECK_OK(tind_close(db));
    fs_destroy(mem);

    /* with background workers, a database that stops writing gives its spare
     * back once it has been unused for DB_SPARE_IDLE_NS (5 s) */
    mem = fs_mem_new();
    db = open_db(mem, 1, 1 << 20, 24u << 20);
    ks = open_ks(db, "a", 10u << 20, 0);
    put_keys(ks, 0, 2560, 4000);
    CHECK_OK(tind_flush(ks));
    s = stats(db);
    CHECK(s.memtable_spare_bytes > 0);
    for (int i = 0; i < 300 && s.memtable_spare_bytes; i++) {
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
        s = stats(db);
    }
    CHECK_EQ(s.memtable_spare_bytes, 0);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* Compaction reads its inputs without filling the block cache: compacting
 * one keyspace's megabytes through a 1 MiB cache leaves the blocks another
 * keyspace's readers use where they were. */
static void read_keys(tind_keyspace *ks, int from, int n, int step)
{
    for (int i = from; i < from + n; i += step) {
        char key[32];
        int kl = snprintf(key, sizeof key, "key%08d", i);
        void *v;
        size_t vl;
        CHECK_OK(tind_get(ks, key, (size_t)kl, NULL, &v, &vl));
        tind_free(v);
    }
}

/* An iterator keeps the memtables of its view: the one that was active
 * when it was made goes on filling, and after its flush its memory is
 * counted in memtable_held_bytes (and memory_bytes) until the iterator is
 * refreshed or freed; the iterator still reads it. Background on and off. */
static void held_run(int background)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_db(mem, background, 1 << 20, 64u << 20);
    tind_keyspace *ks = open_ks(db, "a", 8u << 20, 0);
    put_keys(ks, 0, 10, 100);
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
    CHECK_EQ(stats(db).memtable_held_bytes, 0);
    for (int round = 0; round < 2; round++) {
        put_keys(ks, 10, 1000, 1000); /* into the memtable the iterator holds */
        uint64_t active = stats(db).active_memtable_bytes;
        CHECK(active >= 1000u * 1000);
        CHECK_OK(tind_flush(ks));
        tind_db_stats s = stats(db);
        CHECK(s.memtable_held_bytes >= active);
        CHECK(s.memory_bytes >= s.memtable_held_bytes);
        /* it reads what its view holds: the first 10 keys, then (refreshed
         * after round 0's writes, which round 1 rewrites) 1010 */
        int n = 0;
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
            n++;
        CHECK_OK(tind_iter_status(it));
        CHECK_EQ(n, round == 0 ? 10 : 1010);
        if (round == 0) {
            CHECK_OK(tind_iter_refresh(it)); /* a new view: the flushed memtable goes */
            CHECK_EQ(stats(db).memtable_held_bytes, 0);
            n = 0;
            for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
                n++;
            CHECK_EQ(n, 1010);
        }
    }
    tind_iter_free(it);
    CHECK_EQ(stats(db).memtable_held_bytes, 0);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(memtable_held_background_on) { held_run(1); }
TEST(memtable_held_background_off) { held_run(0); }

TEST(compaction_leaves_cache)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_db(mem, 0, 1 << 20, 8 << 20);
    tind_keyspace *hot = open_ks(db, "hot", 256 << 10, 0);
    tind_keyspace *cold = open_ks(db, "cold", 256 << 10, 0);
    put_keys(hot, 0, 2000, 100);
    CHECK_OK(tind_flush(hot));
    CHECK_OK(tind_compact(hot));
    read_keys(hot, 0, 2000, 50);                 /* the hot blocks, cached */
    for (int round = 0; round < 4; round++) {
        put_keys(cold, round * 6000, 6000, 100);
        CHECK_OK(tind_flush(cold));
    }
    tind_db_stats before = stats(db);
    CHECK_OK(tind_compact(cold));                /* reads about 2.5 MB of blocks */
    tind_db_stats mid = stats(db);
    CHECK_EQ(mid.cache_evictions, before.cache_evictions);
    CHECK(mid.cache_usage <= before.cache_usage + (64 << 10));  /* the new tables' pinned index and filter at most */
    read_keys(hot, 0, 2000, 50);
    tind_db_stats after = stats(db);
    CHECK_EQ(after.cache_misses, mid.cache_misses);              /* every hot block still cached */
    CHECK(after.cache_hits - mid.cache_hits >= 40);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* An iterator with fill_cache off (tind_read_options_set_fill_cache: "for
 * gets and iterators alike") leaves the data blocks it misses out of the
 * cache, in level 0 and below, and in a scan of a prefix; with it on, a
 * second scan hits every block. */
static uint64_t scan_misses(tind_db *db, tind_keyspace *ks, int fill, const char *prefix)
{
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_fill_cache(ro, fill);
    tind_db_stats before = stats(db);
    tind_iter *it;
    if (prefix)
        CHECK_OK(tind_iter_prefix(ks, prefix, strlen(prefix), ro, &it));
    else
        CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
    int n = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
        n++;
    CHECK_OK(tind_iter_status(it));
    CHECK_EQ(n, prefix ? 1000 : 3000);
    tind_iter_free(it);
    tind_read_options_free(ro);
    return stats(db).cache_misses - before.cache_misses;
}

TEST(iter_fill_cache)
{
    for (int bg = 0; bg < 2; bg++) {
        fs *mem = fs_mem_new();
        tind_db *db = open_db(mem, bg, 8 << 20, 8 << 20);
        tind_keyspace *ks = open_ks(db, "ks", 4 << 20, 0);
        put_keys(ks, 0, 2000, 100);
        CHECK_OK(tind_flush(ks));
        CHECK_OK(tind_compact(ks));           /* 2000 keys below level 0 */
        put_keys(ks, 2000, 1000, 100);
        CHECK_OK(tind_flush(ks));             /* 1000 in level 0 */
        CHECK_OK(tind_close(db));
        db = open_db(mem, bg, 8 << 20, 8 << 20);
        ks = open_ks(db, "ks", 4 << 20, 0);
        uint64_t first = scan_misses(db, ks, 0, NULL);
        CHECK(first >= 30);                   /* 330 KB of entries: every data block */
        uint64_t again = scan_misses(db, ks, 0, NULL);
        /* missed again, level 0's and level 1's: none was kept (the few
         * index blocks are, either way) */
        CHECK(again <= first && again + 8 >= first);
        CHECK(scan_misses(db, ks, 0, "key00000") >= 10);  /* keys 0-999 */
        CHECK(scan_misses(db, ks, 1, NULL) >= 30);
        CHECK_EQ(scan_misses(db, ks, 1, NULL), 0);        /* filled: every block hits */
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
}

/* The call beside writers, readers and background flushes and compactions:
 * every snapshot of the figures is consistent in itself (stats() checks). */
typedef struct race {
    tind_db *db;
    tind_keyspace *ks;
    atomic_int stop;
} race;

static void *race_writer(void *p)
{
    race *r = p;
    for (int i = 0; i < 6000; i++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "key%08d", (i * 7919) % 5000);
        CHECK_OK(tind_put(r->ks, key, (size_t)kl, "value-value-value-value", 23));
    }
    atomic_store(&r->stop, 1);
    return NULL;
}

static void *race_reader(void *p)
{
    race *r = p;
    int i = 0;
    while (!atomic_load(&r->stop)) {
        char key[32];
        int kl = snprintf(key, sizeof key, "key%08d", (i++ * 31) % 5000);
        void *v;
        size_t vl;
        int rc = tind_get(r->ks, key, (size_t)kl, NULL, &v, &vl);
        CHECK(rc == TIND_OK || rc == TIND_NOT_FOUND);
        if (rc == TIND_OK)
            tind_free(v);
    }
    return NULL;
}

static void race_run(int background)
{
    fs *mem = fs_mem_new();
    race r = {.db = open_db(mem, background, 256 << 10, 1 << 20)};
    r.ks = open_ks(r.db, "a", 32 << 10, 0);
    atomic_init(&r.stop, 0);
    pthread_t w, rd;
    CHECK(pthread_create(&w, NULL, race_writer, &r) == 0);
    CHECK(pthread_create(&rd, NULL, race_reader, &r) == 0);
    uint64_t calls = 0;
    do {
        tind_db_stats s = stats(r.db);
        CHECK_EQ(s.keyspaces, 1);
        calls++;
    } while (!atomic_load(&r.stop));
    CHECK(pthread_join(w, NULL) == 0);
    CHECK(pthread_join(rd, NULL) == 0);
    CHECK(calls > 0);
    CHECK_OK(tind_flush(r.ks));
    tind_db_stats s = stats(r.db);
    CHECK_EQ(s.pending_flushes, 0);
    CHECK_OK(tind_close(r.db));
    fs_destroy(mem);
}

TEST(concurrent_background_on) { race_run(1); }
TEST(concurrent_background_off) { race_run(0); }

int main(void)
{
    RUN(args);
    RUN(fields_move);
    RUN(write_buffer_bounds_sealed);
    RUN(write_buffer_two_memtables_overlap);
    RUN(memtable_spare_pool);
    RUN(memtable_held_background_on);
    RUN(memtable_held_background_off);
    RUN(compaction_leaves_cache);
    RUN(iter_fill_cache);
    RUN(concurrent_background_on);
    RUN(concurrent_background_off);
    return 0;
}
