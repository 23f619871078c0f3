/*
 * tuning.c -- database and keyspace options: a small write buffer and block
 * cache, a keyspace tuned level by level (no compression where data is hot,
 * zstd where it is cold, Bloom filters everywhere but the last level, bigger
 * blocks deeper down), and the statistics that show where the data went.
 *
 *   ./build/tuning [FOLDER]          (default ./tuning-db, created when missing)
 *
 * Every call is checked; the program exits 1 when anything is not as
 * expected, so running it is a test (ctest example_tuning).
 */
#include <stdio.h>
#include <string.h>

#include "tind.h"

#define CHECK(cond, what, db)                                                                  \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "tuning: %s failed (%s)\n", what, tind_errmsg(db));                \
            return 1;                                                                          \
        }                                                                                      \
    } while (0)

#define KEYS 20000

static void print_stats(tind_keyspace *ks, const tind_ks_stats *st)
{
    printf("keyspace %s: ~%llu keys, %llu bytes on disk, %llu flushes, %llu compactions\n",
           tind_keyspace_name(ks), (unsigned long long)st->approximate_keys,
           (unsigned long long)st->disk_bytes, (unsigned long long)st->flushes,
           (unsigned long long)st->compactions);
    for (uint32_t l = 0; l < st->levels && l < TIND_STATS_MAX_LEVELS; l++)
        printf("  L%u: %llu tables, %llu bytes\n", l, (unsigned long long)st->tables[l],
               (unsigned long long)st->level_bytes[l]);
    printf("  written: %llu user bytes, %llu by flushes, %llu by compactions; "
           "cache %llu hits / %llu misses; %llu stalls, %llu slowdowns\n",
           (unsigned long long)st->user_bytes_written, (unsigned long long)st->flush_bytes_written,
           (unsigned long long)st->compaction_bytes_written, (unsigned long long)st->cache_hits,
           (unsigned long long)st->cache_misses, (unsigned long long)st->write_stalls,
           (unsigned long long)st->write_slowdowns);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "./tuning-db";

    /* Database options: shared by every keyspace of the folder. NULL would
     * mean all defaults (64 MiB cache, 128 MiB write buffer, 2 workers). */
    tind_options *opts = tind_options_new();
    CHECK(opts != NULL, "tind_options_new", NULL);
    tind_options_set_cache_size(opts, 8u << 20);          /* block cache: 8 MiB */
    tind_options_set_write_buffer_size(opts, 4u << 20);   /* all memtables together */
    tind_options_set_journal_file_size(opts, 1u << 20);   /* seal journals at 1 MiB */
    tind_options_set_background_threads(opts, 2);         /* flush/compaction workers */
    tind_options_set_max_open_files(opts, 64);            /* table descriptors cached */
    tind_options_set_default_durability(opts, TIND_PERSIST_BUFFER);

    tind_db *db;
    int rc = tind_open(path, opts, &db);
    tind_options_free(opts);                              /* open copied what it needs */
    CHECK(rc == TIND_OK, "open", NULL);

    /* Keyspace options: stored with the keyspace when it is created. */
    tind_ks_options *ko = tind_ks_options_new();
    CHECK(ko != NULL, "tind_ks_options_new", db);
    tind_ks_options_set_memtable_size(ko, 128u << 10);    /* tiny: many flushes */
    tind_ks_options_set_compaction(ko, TIND_COMPACTION_LEVELED);
    tind_ks_options_set_l0_threshold(ko, 4);
    tind_ks_options_set_table_size(ko, 256u << 10);
    tind_ks_options_set_level_ratio(ko, 8);
    tind_ks_options_set_levels(ko, 4);                    /* L0..L3 */
    tind_ks_options_set_restart_interval(ko, 16);
    tind_ks_options_set_hash_ratio(ko, 0.75);             /* hash index in data blocks */
    tind_ks_options_set_block_size(ko, 8192);
    /* per level: level = -1 sets all levels, then single levels override */
    tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_LZ4, 0);
    tind_ks_options_set_compression(ko, 0, TIND_COMPRESSION_NONE, 0);  /* hot: no CPU */
    tind_ks_options_set_compression(ko, 3, TIND_COMPRESSION_ZSTD, 3);  /* cold: small */
    tind_ks_options_set_bloom_bits(ko, -1, 10);           /* ~1% false positives */
    tind_ks_options_set_bloom_bits(ko, 3, 0);             /* the last level: none */
    tind_ks_options_set_expect_point_read_hits(ko, 1);
    tind_ks_options_set_partitioning(ko, 2);              /* two-level index from L2 */

    /* A level outside -1..6 makes the options invalid: the open says so and
     * creates nothing. */
    tind_ks_options *bad = tind_ks_options_new();
    CHECK(bad != NULL, "tind_ks_options_new", db);
    tind_ks_options_set_compression(bad, 9, TIND_COMPRESSION_ZSTD, 3);
    tind_keyspace *ks;
    rc = tind_keyspace_open(db, "bad", bad, &ks);
    tind_ks_options_free(bad);
    CHECK(rc == TIND_EINVAL, "open with an invalid level -> TIND_EINVAL", db);
    printf("invalid options refused: %s\n", tind_errmsg(db));
    CHECK(tind_keyspace_exists(db, "bad") == TIND_NOT_FOUND, "no keyspace 'bad'", db);

    rc = tind_keyspace_open(db, "events", ko, &ks);
    tind_ks_options_free(ko);
    CHECK(rc == TIND_OK, "keyspace_open events", db);

    /* Load through batches of 500 (one journal record each). */
    tind_batch *b;
    CHECK(tind_batch_new(db, &b) == TIND_OK, "batch_new", db);
    char key[32], val[128];
    for (int i = 0; i < KEYS; i++) {
        int kn = snprintf(key, sizeof key, "event%08d", i);
        int vn = snprintf(val, sizeof val, "{\"id\":%d,\"kind\":\"click\",\"payload\":\"%0*d\"}", i, 60, i);
        CHECK(tind_batch_put(b, ks, key, (size_t)kn, val, (size_t)vn) == TIND_OK, "batch_put", db);
        if (tind_batch_count(b) == 500)
            CHECK(tind_batch_commit(b) == TIND_OK, "batch_commit", db);
    }
    CHECK(tind_batch_commit(b) == TIND_OK, "batch_commit", db);
    tind_batch_free(b);

    /* Everything to tables, then everything into the last level. */
    CHECK(tind_flush(ks) == TIND_OK, "flush", db);
    tind_ks_stats st;
    CHECK(tind_ks_stats_get(ks, &st) == TIND_OK, "stats", db);
    printf("after loading %d keys and a flush:\n", KEYS);
    print_stats(ks, &st);
    CHECK(st.flushes > 1, "several flushes (128 KiB memtables)", db);
    CHECK(st.user_bytes_written > 0, "user bytes counted", db);

    CHECK(tind_compact(ks) == TIND_OK, "compact", db);
    CHECK(tind_ks_stats_get(ks, &st) == TIND_OK, "stats", db);
    printf("after a full compaction:\n");
    print_stats(ks, &st);
    CHECK(st.levels == 4, "4 levels", db);
    CHECK(st.tables[0] == 0 && st.tables[1] == 0 && st.tables[2] == 0 && st.tables[3] > 0,
          "every table in L3", db);
    uint64_t disk = 0;
    CHECK(tind_disk_space(ks, &disk) == TIND_OK && disk == st.disk_bytes && disk > 0, "disk_space", db);

    /* Reads: every key once (point reads hit the cache or the tables). */
    for (int i = 0; i < KEYS; i += 7) {
        int kn = snprintf(key, sizeof key, "event%08d", i);
        int vn = snprintf(val, sizeof val, "{\"id\":%d,\"kind\":\"click\",\"payload\":\"%0*d\"}", i, 60, i);
        void *v;
        size_t n;
        CHECK(tind_get(ks, key, (size_t)kn, NULL, &v, &n) == TIND_OK, "get", db);
        int same = n == (size_t)vn && memcmp(v, val, n) == 0;
        tind_free(v);
        CHECK(same, "value read back", db);
    }
    /* An absent key is TIND_NOT_FOUND, a status, not an error. */
    CHECK(tind_contains(ks, "event99999999", 13, NULL) == TIND_NOT_FOUND, "contains(absent)", db);
    /* A scan that does not fill the cache (read_options). */
    tind_read_options *ro = tind_read_options_new();
    CHECK(ro != NULL, "read_options_new", db);
    tind_read_options_set_fill_cache(ro, 0);
    tind_iter *it;
    CHECK(tind_iter_prefix(ks, "event", 5, ro, &it) == TIND_OK, "iter_prefix", db);
    int count = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
        count++;
    rc = tind_iter_status(it);
    tind_iter_free(it);
    tind_read_options_free(ro);
    CHECK(rc == TIND_OK && count == KEYS, "scan of every key", db);

    CHECK(tind_ks_stats_get(ks, &st) == TIND_OK, "stats", db);
    printf("after reads and a scan:\n");
    print_stats(ks, &st);
    CHECK(tind_close(db) == TIND_OK, "close", NULL);

    /* The options were stored with the keyspace: a reopen with NULL
     * options (defaults) keeps its four levels. */
    CHECK(tind_open(path, NULL, &db) == TIND_OK, "reopen", NULL);
    CHECK(tind_keyspace_open(db, "events", NULL, &ks) == TIND_OK, "keyspace_open events", db);
    CHECK(tind_ks_stats_get(ks, &st) == TIND_OK && st.levels == 4, "stored options kept", db);
    CHECK(tind_close(db) == TIND_OK, "close", NULL);
    printf("done: the database is in %s\n", path);
    return 0;
}
