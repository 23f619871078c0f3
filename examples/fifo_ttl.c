/*
 * fifo_ttl.c -- FIFO keyspaces: a log capped by size (the oldest tables are
 * dropped whole) and a cache whose entries expire after a time-to-live.
 *
 *   ./build/fifo_ttl [FOLDER]        (default ./fifo-db, created when missing)
 *
 * How FIFO works (include/tind.h, tind_ks_options_set_fifo): every table
 * stays in level 0, and compaction never merges them; it drops the oldest
 * tables while the keyspace is over its size limit, and every table older
 * than the TTL. So both limits act on whole tables, when compaction runs
 * (the background workers look every second; tind_compact runs it now).
 * The age is the table's, counted in whole seconds from the flush that
 * wrote it, not from each write; data still in the memtable never expires;
 * an expired table stays readable until it is dropped; and the size limit
 * counts table bytes on disk. A FIFO keyspace suits data whose keys grow
 * with time (log records, cache entries written once): an update of an old
 * key lives as long as its newest table.
 * Takes about 2 s (it waits out the TTL). Exits 1 when anything is not as
 * expected (ctest example_fifo_ttl).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tind.h"

#define CHECK(cond, what, db)                                                                  \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fifo_ttl: %s failed (%s)\n", what, tind_errmsg(db));              \
            return 1;                                                                          \
        }                                                                                      \
    } while (0)

#define LOG_LIMIT (256u << 10)   /* bytes of tables the log keeps */
#define LOG_RECORDS 20000

/* A FIFO keyspace's options: tiny memtables, so tables are small and the
 * limits drop data at a fine grain. */
static int open_fifo(tind_db *db, const char *name, uint64_t max_bytes, uint64_t ttl_seconds,
                     tind_keyspace **ks)
{
    tind_ks_options *ko = tind_ks_options_new();
    if (!ko)
        return TIND_ENOMEM;
    tind_ks_options_set_compaction(ko, TIND_COMPACTION_FIFO);
    tind_ks_options_set_fifo(ko, max_bytes, ttl_seconds);
    tind_ks_options_set_memtable_size(ko, 32u << 10);
    int rc = tind_keyspace_open(db, name, ko, ks);
    tind_ks_options_free(ko);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "./fifo-db";
    tind_db *db;
    CHECK(tind_open(path, NULL, &db) == TIND_OK, "open", NULL);

    /* ---- a log capped at LOG_LIMIT bytes --------------------------------- */
    tind_keyspace *log;
    CHECK(open_fifo(db, "log", LOG_LIMIT, 0, &log) == TIND_OK, "keyspace_open log", db);
    /* A key that grows with time: the oldest records are in the oldest
     * tables, so what the limit drops is always the oldest records. */
    char key[32], val[128];
    for (int i = 0; i < LOG_RECORDS; i++) {
        int kn = snprintf(key, sizeof key, "rec%08d", i);
        int vn = snprintf(val, sizeof val, "t=%d level=info msg=\"request %d served in %d ms\"", i, i, i % 97);
        CHECK(tind_put(log, key, (size_t)kn, val, (size_t)vn) == TIND_OK, "put", db);
    }
    CHECK(tind_flush(log) == TIND_OK, "flush log", db);
    CHECK(tind_compact(log) == TIND_OK, "compact log", db);   /* applies the limit now */
    tind_ks_stats st;
    CHECK(tind_ks_stats_get(log, &st) == TIND_OK, "stats", db);
    printf("log: %d records written, %llu bytes in %llu tables kept (limit %u)\n", LOG_RECORDS,
           (unsigned long long)st.disk_bytes, (unsigned long long)st.tables[0], LOG_LIMIT);
    CHECK(st.disk_bytes <= LOG_LIMIT && st.disk_bytes > 0, "the log within its limit", db);
    CHECK(st.user_bytes_written > LOG_LIMIT, "more written than kept", db);

    /* What is left is the newest records, with no hole: a suffix. */
    tind_iter *it;
    CHECK(tind_iter_prefix(log, "rec", 3, NULL, &it) == TIND_OK, "iter", db);
    int first = -1, expected = -1, kept = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
        size_t kn;
        const char *k = tind_iter_key(it, &kn);
        int n = 0;
        if (kn != 11 || sscanf(k + 3, "%8d", &n) != 1 || (expected >= 0 && n != expected)) {
            tind_iter_free(it);
            CHECK(0, "the kept records are the newest, in order, with no hole", db);
        }
        if (first < 0)
            first = n;
        expected = n + 1;
        kept++;
    }
    int rc = tind_iter_status(it);
    tind_iter_free(it);
    CHECK(rc == TIND_OK, "scan of the log", db);
    printf("log: records %d..%d kept (%d), the %d oldest dropped\n", first, expected - 1, kept, first);
    CHECK(first > 0 && expected == LOG_RECORDS, "the oldest dropped, the newest kept", db);
    CHECK(tind_contains(log, "rec00000000", 11, NULL) == TIND_NOT_FOUND, "record 0 dropped", db);

    /* ---- a cache with a TTL of 1 second ---------------------------------- */
    tind_keyspace *cache;
    CHECK(open_fifo(db, "cache", 0, 1, &cache) == TIND_OK, "keyspace_open cache", db);
    for (int i = 0; i < 100; i++) {
        int kn = snprintf(key, sizeof key, "session:%04d", i);
        int vn = snprintf(val, sizeof val, "{\"user\":%d,\"cart\":[%d,%d]}", i, i * 3, i * 7);
        CHECK(tind_put(cache, key, (size_t)kn, val, (size_t)vn) == TIND_OK, "put", db);
    }
    /* Checked before the flush: once in a table, an entry may expire as soon
     * as the clock's second turns (ages are whole seconds) and the workers,
     * which look at FIFO limits every second, may drop it at any moment. */
    CHECK(tind_contains(cache, "session:0042", 12, NULL) == TIND_OK, "fresh entry present", db);
    CHECK(tind_flush(cache) == TIND_OK, "flush cache", db);   /* the TTL counts from here */
    printf("cache: 100 sessions flushed, waiting out the 1 s TTL...\n");
    sleep(2);   /* table ages are whole seconds: 2 s is surely past 1 s */
    /* One written now is in the memtable, and in a new table once flushed:
     * it outlives the expired ones. */
    CHECK(tind_put(cache, "session:9999", 12, "{}", 2) == TIND_OK, "put", db);
    CHECK(tind_compact(cache) == TIND_OK, "compact cache", db);   /* drops expired tables */
    CHECK(tind_contains(cache, "session:0042", 12, NULL) == TIND_NOT_FOUND, "expired entry gone", db);
    CHECK(tind_contains(cache, "session:9999", 12, NULL) == TIND_OK, "new entry present", db);
    uint64_t n = 0;
    CHECK(tind_approximate_len(cache, &n) == TIND_OK, "approximate_len", db);
    printf("cache: after the TTL the 100 sessions are gone, the new one is there (~%llu entries)\n",
           (unsigned long long)n);

    CHECK(tind_close(db) == TIND_OK, "close", NULL);
    return 0;
}
