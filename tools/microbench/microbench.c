/*
 * microbench.c -- tind-microbench: the per-operation cost of the two lookups
 * every point read makes before touching a value.
 *
 *   1. Bloom filter probe (format/bloom.c) at 10 bits/key over 1M keys, for
 *      keys that are present (hits) and absent (misses), probed in random
 *      order; plus a 10k-key filter that fits in cache. The key hashes are
 *      computed before the clock starts: only the probe is timed.
 *   2. Data block seek (format/block.c) in a 4 KiB block of 16-byte keys and
 *      100-byte values, restart interval 16: blk_iter_seek (binary search over
 *      restart points, then a linear scan) against blk_iter_seek_point on the
 *      same entries with a hash index (hash_ratio 0.75), for present and
 *      absent keys.
 *
 *   3. tind_get of present keys (an in-memory database of 20,000 keys,
 *      compacted) with 0, 100, 10,000 and 100,000 range tombstones between the
 *      keys, first in the memtable, then flushed to a table: the probe cost
 *      must not grow with the number of tombstones (one binary search per
 *      source holding some, issue 13).
 *
 * Wall clock (CLOCK_MONOTONIC). Each figure is measured as many short runs
 * (MB_BATCH operations, a few milliseconds each) and reported as the best and
 * the median run: on a shared, loaded machine the best run is the one the
 * scheduler left alone, the median shows the noise. Results are checked (hits
 * must be found, Bloom must have no false negative) so a broken build cannot
 * report a fast number.
 *
 * Usage: tind-microbench [--quick]   (--quick: 10x fewer runs)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tind_internal.h"

#define MB_BATCH 100000        /* operations per timed run */
#define MB_MAX_RUNS 1000
#define MB_KEY_LEN 16
#define MB_VALUE_LEN 100
#define MB_BLOCK_SIZE 4096

static double mb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int mb_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* times[runs]: ns per run of MB_BATCH operations (sorted here). */
static void mb_row(const char *what, double *times, int runs)
{
    qsort(times, (size_t)runs, sizeof *times, mb_cmp_double);
    printf("  %-44s %10" PRIu64 " %9.1f %9.1f\n", what, (uint64_t)runs * MB_BATCH,
           times[0] / MB_BATCH, times[runs / 2] / MB_BATCH);
}

static void mb_die(const char *what)
{
    fprintf(stderr, "tind-microbench: %s\n", what);
    exit(1);
}

/* ---- Bloom ---------------------------------------------------------------- */

static uint64_t mb_key_hash(const char *tag, uint64_t i)
{
    char k[32];
    int n = snprintf(k, sizeof k, "%s%012" PRIu64, tag, i);
    return hash64(k, (size_t)n);
}

static void mb_shuffle(uint64_t *v, size_t n, trng *r)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)trng_below(r, i);
        uint64_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* Times `runs` runs of MB_BATCH probes cycling through `hashes`; fills
 * times[] and returns the number of positive answers over all runs. */
static uint64_t mb_bloom_time(const tbuf *f, const uint64_t *hashes, size_t n, int runs,
                              double *times)
{
    uint64_t pos = 0;
    size_t j = 0;
    for (int run = 0; run < runs; run++) {
        double t0 = mb_now_ns();
        for (uint64_t i = 0; i < MB_BATCH; i++) {
            pos += (uint64_t)bloom_may_contain(f->data, f->len, hashes[j]);
            if (++j == n)
                j = 0;
        }
        times[run] = mb_now_ns() - t0;
    }
    return pos;
}

static void mb_bloom(size_t keys, int runs, trng *r)
{
    uint64_t *hit = malloc(keys * sizeof *hit), *miss = malloc(keys * sizeof *miss);
    if (!hit || !miss)
        mb_die("out of memory");
    bloom_builder b;
    bloom_builder_init(&b, 10);
    for (size_t i = 0; i < keys; i++) {
        hit[i] = mb_key_hash("user", i);
        miss[i] = mb_key_hash("miss", i);
        if (bloom_builder_add(&b, hit[i]) != TIND_OK)
            mb_die("out of memory");
    }
    tbuf f = TBUF_INIT;
    if (bloom_builder_finish(&b, &f) != TIND_OK || bloom_check(f.data, f.len, NULL) != TIND_OK)
        mb_die("building the filter failed");
    bloom_builder_free(&b);
    mb_shuffle(hit, keys, r);
    mb_shuffle(miss, keys, r);

    char what[96];
    double times[MB_MAX_RUNS];
    uint64_t ops = (uint64_t)runs * MB_BATCH;
    if (mb_bloom_time(&f, hit, keys, runs, times) != ops)
        mb_die("bloom: false negative");
    snprintf(what, sizeof what, "bloom probe, %zuk keys, 10 bits/key, hit", keys / 1000);
    mb_row(what, times, runs);
    uint64_t positives = mb_bloom_time(&f, miss, keys, runs, times);
    snprintf(what, sizeof what, "bloom probe, %zuk keys, 10 bits/key, miss", keys / 1000);
    mb_row(what, times, runs);
    printf("  %-44s %10s %8.3f%%   (filter %zu bytes)\n", "  false-positive rate on misses", "",
           100.0 * (double)positives / (double)ops, f.len);
    tbuf_free(&f);
    free(hit);
    free(miss);
}

/* ---- data block ------------------------------------------------------------- */

/* Key i: "key" + 13 digits of 2*i (so 2*i+1 names a key that falls between). */
static void mb_block_key(uint8_t *k, uint64_t n)
{
    char tmp[MB_KEY_LEN + 1];
    snprintf(tmp, sizeof tmp, "key%013" PRIu64, n);
    memcpy(k, tmp, MB_KEY_LEN);
}

typedef struct mb_block {
    blk_builder builder;
    blk parsed;
    uint32_t entries;
} mb_block;

/* Fills a block until the next entry could overflow 4 KiB or max_entries are in. */
static void mb_block_build(mb_block *mb, double hash_ratio, uint32_t max_entries)
{
    uint8_t key[MB_KEY_LEN], value[MB_VALUE_LEN];
    memset(value, 'v', sizeof value);
    blk_builder_init(&mb->builder, 16, hash_ratio);
    for (uint64_t i = 0; i < max_entries; i++) {
        /* stop before the next entry (at most ~24 bytes of overhead) would overflow 4 KiB */
        if (blk_builder_estimate(&mb->builder) + MB_KEY_LEN + MB_VALUE_LEN + 24 > MB_BLOCK_SIZE)
            break;
        mb_block_key(key, 2 * i);
        if (blk_builder_add(&mb->builder, key, MB_KEY_LEN, 1000 + i, ENTRY_VALUE, value,
                            MB_VALUE_LEN) != TIND_OK)
            mb_die("blk_builder_add failed");
    }
    mb->entries = blk_builder_count(&mb->builder);
    const uint8_t *data;
    size_t len;
    if (blk_builder_finish(&mb->builder, &data, &len) != TIND_OK)
        mb_die("blk_builder_finish failed");
    if (len > MB_BLOCK_SIZE)
        mb_die("block larger than 4 KiB");
    tind_err err;
    if (blk_parse(&mb->parsed, data, len, &err) != TIND_OK)
        mb_die(err.msg);
}

enum { MB_SEEK = 0, MB_SEEK_POINT = 1 };

/* Times `runs` runs of MB_BATCH seeks to the targets; fills times[] and
 * returns how many seeks landed exactly on their target key. */
static uint64_t mb_seek_time(const mb_block *mb, int how, const uint8_t (*targets)[MB_KEY_LEN],
                             size_t n, int runs, double *times)
{
    blk_iter it;
    blk_iter_init(&it, &mb->parsed);
    uint64_t exact = 0;
    size_t j = 0;
    for (int run = 0; run < runs; run++) {
        double t0 = mb_now_ns();
        for (uint64_t i = 0; i < MB_BATCH; i++) {
            const uint8_t *k = targets[j];
            if (how == MB_SEEK)
                blk_iter_seek(&it, k, MB_KEY_LEN, SEQNO_MAX);
            else
                (void)blk_iter_seek_point(&it, k, MB_KEY_LEN, SEQNO_MAX);
            exact += (uint64_t)(it.valid && it.key.len == MB_KEY_LEN &&
                                memcmp(it.key.data, k, MB_KEY_LEN) == 0);
            if (++j == n)
                j = 0;
        }
        times[run] = mb_now_ns() - t0;
        if (it.status != TIND_OK)
            mb_die("block iterator reported corruption");
    }
    blk_iter_free(&it);
    return exact;
}

static void mb_blocks(int runs, trng *r)
{
    mb_block plain, hashed;
    mb_block_build(&hashed, 0.75, UINT32_MAX);     /* the hash index takes some room */
    mb_block_build(&plain, 0, hashed.entries);
    if (plain.entries != hashed.entries)
        mb_die("blocks differ");
    uint32_t n = plain.entries;
    uint8_t (*hit)[MB_KEY_LEN] = malloc(n * sizeof *hit);
    uint8_t (*miss)[MB_KEY_LEN] = malloc(n * sizeof *miss);
    uint32_t *order = malloc(n * sizeof *order);
    if (!hit || !miss || !order)
        mb_die("out of memory");
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)trng_below(r, i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (uint32_t i = 0; i < n; i++) {
        mb_block_key(hit[i], 2 * (uint64_t)order[i]);
        mb_block_key(miss[i], 2 * (uint64_t)order[i] + 1);
    }
    printf("  (block: %u entries, %u restart points, %zu bytes plain, %zu bytes with %u hash buckets)\n",
           n, plain.parsed.restart_count, plain.parsed.size, hashed.parsed.size,
           hashed.parsed.bucket_count);
    double times[MB_MAX_RUNS];
    uint64_t ops = (uint64_t)runs * MB_BATCH;
    const uint8_t (*h)[MB_KEY_LEN] = (const uint8_t (*)[MB_KEY_LEN])hit;
    const uint8_t (*m)[MB_KEY_LEN] = (const uint8_t (*)[MB_KEY_LEN])miss;
    if (mb_seek_time(&plain, MB_SEEK, h, n, runs, times) != ops)
        mb_die("blk_iter_seek missed a present key");
    mb_row("block blk_iter_seek, hit", times, runs);
    if (mb_seek_time(&plain, MB_SEEK, m, n, runs, times) != 0)
        mb_die("blk_iter_seek found an absent key");
    mb_row("block blk_iter_seek, miss", times, runs);
    if (mb_seek_time(&hashed, MB_SEEK_POINT, h, n, runs, times) != ops)
        mb_die("blk_iter_seek_point missed a present key");
    mb_row("block blk_iter_seek_point + hash index, hit", times, runs);
    if (mb_seek_time(&hashed, MB_SEEK_POINT, m, n, runs, times) != 0)
        mb_die("blk_iter_seek_point found an absent key");
    mb_row("block blk_iter_seek_point + hash index, miss", times, runs);
    free(hit);
    free(miss);
    free(order);
    blk_builder_free(&plain.builder);
    blk_builder_free(&hashed.builder);
}

/* ---- 3. point reads beside range tombstones ---- */

#define MB_RD_KEYS 20000

static void mb_rd_key(char *k, uint64_t i) { snprintf(k, 16, "k%08" PRIu64, i); }

static void mb_rd_time(tind_keyspace *ks, const uint64_t *order, int runs, double *times)
{
    char k[16];
    for (int run = 0; run < runs; run++) {
        double t0 = mb_now_ns();
        for (size_t i = 0; i < MB_BATCH; i++) {
            mb_rd_key(k, 2 * order[i % MB_RD_KEYS]);
            if (tind_contains(ks, k, 9, NULL) != TIND_OK)
                mb_die("a present key was not found beside range tombstones");
        }
        times[run] = mb_now_ns() - t0;
    }
}

static void mb_rangedel(int runs, trng *r)
{
    static const uint64_t counts[] = {0, 100, 10000, 100000};
    uint64_t *order = malloc(MB_RD_KEYS * sizeof *order);
    double *times = malloc((size_t)runs * sizeof *times);
    if (!order || !times)
        mb_die("out of memory");
    for (uint64_t i = 0; i < MB_RD_KEYS; i++)
        order[i] = i;
    mb_shuffle(order, MB_RD_KEYS, r);
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        fs *mem = fs_mem_new();
        tind_options *o = tind_options_new();
        tind_options_set_fs(o, mem);
        tind_options_set_no_background(o, 1);
        tind_db *db;
        tind_keyspace *ks;
        if (!mem || !o || tind_open("/db", o, &db) || tind_keyspace_open(db, "ks", NULL, &ks))
            mb_die("cannot open an in-memory database");
        tind_options_free(o);
        char k[16], hi[24];
        uint8_t v[MB_VALUE_LEN];
        memset(v, 'v', sizeof v);
        for (uint64_t i = 0; i < MB_RD_KEYS; i++) {
            mb_rd_key(k, 2 * i);
            if (tind_put(ks, k, 9, v, sizeof v))
                mb_die("put");
        }
        if (tind_flush(ks) || tind_compact(ks))
            mb_die("flush");
        /* [odd key, odd key "x"): between the keys, deleting none of them */
        for (uint64_t t = 0; t < counts[c]; t++) {
            uint64_t at = 2 * (t * MB_RD_KEYS / counts[c]) + 1;
            mb_rd_key(k, at);
            int n = snprintf(hi, sizeof hi, "%sx%" PRIu64, k, t);
            if (tind_remove_range(ks, k, 9, hi, (size_t)n))
                mb_die("remove_range");
        }
        char what[64];
        snprintf(what, sizeof what, "get beside %" PRIu64 " range tombstones, memtable", counts[c]);
        mb_rd_time(ks, order, runs, times);
        mb_row(what, times, runs);
        if (counts[c]) {
            if (tind_flush(ks))
                mb_die("flush");
            snprintf(what, sizeof what, "get beside %" PRIu64 " range tombstones, table", counts[c]);
            mb_rd_time(ks, order, runs, times);
            mb_row(what, times, runs);
        }
        if (tind_close(db))
            mb_die("close");
        fs_destroy(mem);
    }
    free(order);
    free(times);
}

int main(int argc, char **argv)
{
    int runs = 100;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            runs = 10;
        } else {
            fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
            return 2;
        }
    }
    trng r;
    trng_seed(&r, 0x6d6963726f);
    double load = -1;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf", &load) != 1)
            load = -1;
        fclose(la);
    }
    printf("tind-microbench: %d runs of %d ops each, CLOCK_MONOTONIC; load average %.2f\n", runs,
           MB_BATCH, load);
    printf("  %-44s %10s %9s %9s\n", "operation", "ops", "best ns", "median ns");
    mb_bloom(1000000, runs, &r);
    mb_bloom(10000, runs, &r);
    mb_blocks(runs, &r);
    mb_rangedel(runs / 10 > 3 ? runs / 10 : 3, &r);
    return 0;
}
