/*
 * featbench.c -- tind-featbench: what prefix filters and zstd dictionaries
 * buy, measured in one process on the in-memory file system (no disk, so
 * the figures are CPU and memory-copy costs; issue 14).
 *
 *   prefix   a feed-like keyspace ("u%08u#f#%012u" posts, 20 per user),
 *            written in flushes of users spread over the key space so that
 *            every table holds some of every range (16 L0-then-compacted
 *            tables), then prefix scans ("u%08u#f#", reading every key) of
 *            present users and of absent ones (odd ids: between present
 *            users), with the keyspace's prefix extractor (separator '#') and
 *            without; tables skipped are read from tind_ks_stats.
 *   dict     small values (JSON-like records of ~60 bytes, 16-byte keys),
 *            all compacted into the last level with LZ4, zstd, and zstd
 *            with a 4 KiB / 16 KiB dictionary: bytes on disk and random
 *            point reads per second with a cold block cache (each read
 *            decompresses a block).
 *
 * Each timed figure is the best of several runs (a shared machine: the best
 * run is the one the scheduler left alone) with the median beside it.
 * Results are checked (every present user's posts found, no absent user's),
 * so a broken build cannot report a fast number.
 *
 * Usage: tind-featbench [--quick]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tind_internal.h"

static int quick;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc, tind_db *db)
{
    fprintf(stderr, "tind-featbench: %s: %s (%s)\n", what, tind_strerror(rc), tind_errmsg(db));
    exit(1);
}

#define CHECKED(call, what, db) do { int rc_ = (call); if (rc_) die(what, rc_, db); } while (0)

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static tind_db *open_mem(fs **mem)
{
    *mem = fs_mem_new();
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, *mem);
    tind_options_set_cache_size(o, 8u << 20);
    tind_db *db;
    CHECKED(tind_open("/db", o, &db), "open", NULL);
    tind_options_free(o);
    return db;
}

/* ------------------------------------------------------------------ prefix */

#define P_POSTS 20

static size_t post_key(char *k, unsigned user, unsigned post) { return (size_t)sprintf(k, "u%08u#f#%012u", user, post); }

/* Scans `count` users from `first` (step 2): keys found; *secs the time. */
static uint64_t scan_users(tind_keyspace *ks, unsigned first, unsigned count, double *secs)
{
    char p[32];
    uint64_t found = 0;
    double t0 = now_s();
    for (unsigned i = 0; i < count; i++) {
        int n = sprintf(p, "u%08u#f#", first + 2 * i);
        tind_iter *it;
        CHECKED(tind_iter_prefix(ks, p, (size_t)n, NULL, &it), "iter", NULL);
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
            size_t vn;
            tind_iter_value(it, &vn);
            found++;
        }
        CHECKED(tind_iter_status(it), "scan", NULL);
        tind_iter_free(it);
    }
    *secs = now_s() - t0;
    return found;
}

static void prefix_case(int with_prefix, unsigned users)
{
    fs *mem;
    tind_db *db = open_mem(&mem);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 64u << 20);
    tind_ks_options_set_table_size(ko, 4u << 20);
    tind_ks_options_set_l0_threshold(ko, 100);   /* keep the 16 flushed tables in L0 */
    if (with_prefix)
        tind_ks_options_set_prefix_separator(ko, '#');
    tind_keyspace *ks;
    CHECKED(tind_keyspace_open(db, "feed", ko, &ks), "keyspace", db);
    tind_ks_options_free(ko);
    char k[40], v[100];
    memset(v, 'x', sizeof v);
    /* 16 flushes; flush f holds posts f, f+16, ... of every even user */
    for (unsigned f = 0; f < 16; f++) {
        for (unsigned u = 0; u < users; u++)
            for (unsigned post = f; post < P_POSTS; post += 16) {
                size_t n = post_key(k, 2 * u, post);
                CHECKED(tind_put(ks, k, n, v, sizeof v), "put", db);
            }
        CHECKED(tind_flush(ks), "flush", db);
    }
    int runs = quick ? 3 : 9;
    unsigned probes = quick ? 2000 : 5000;
    double present[16], absent[16];
    tind_ks_stats s0, s1;
    CHECKED(tind_ks_stats_get(ks, &s0), "stats", db);
    for (int r = 0; r < runs; r++) {
        uint64_t got = scan_users(ks, 0, probes, &present[r]);
        if (got != (uint64_t)probes * P_POSTS) {
            fprintf(stderr, "tind-featbench: present users: %" PRIu64 " keys, want %u\n", got, probes * P_POSTS);
            exit(1);
        }
        if (scan_users(ks, 1, probes, &absent[r]) != 0) {
            fprintf(stderr, "tind-featbench: absent users returned keys\n");
            exit(1);
        }
    }
    CHECKED(tind_ks_stats_get(ks, &s1), "stats", db);
    qsort(present, (size_t)runs, sizeof *present, cmp_double);
    qsort(absent, (size_t)runs, sizeof *absent, cmp_double);
    printf("  %-22s %12.1f %12.1f %12.1f %12.1f %10.1f\n", with_prefix ? "prefix filter" : "no prefix filter",
           present[0] / probes * 1e6, present[runs / 2] / probes * 1e6, absent[0] / probes * 1e6,
           absent[runs / 2] / probes * 1e6,
           (double)(s1.prefix_skipped - s0.prefix_skipped) / ((double)runs * 2 * probes));
    CHECKED(tind_close(db), "close", NULL);
    fs_destroy(mem);
}

/* -------------------------------------------------------------------- dict */

static size_t small_value(char *buf, unsigned i)
{
    static const char *cities[] = {"Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Tbilisi", "Quito", "Hanoi"};
    return (size_t)sprintf(buf, "{\"id\":%u,\"city\":\"%s\",\"status\":\"%s\",\"score\":%u}", i,
                           cities[(i * 7) % 8], (i % 3) ? "active" : "suspended", (i * 2654435761u) % 1000);
}

static void dict_case(const char *name, int compression, uint32_t dict_bytes, unsigned keys)
{
    fs *mem;
    tind_db *db = open_mem(&mem);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_compression(ko, -1, compression, 3);
    tind_ks_options_set_zstd_dict(ko, -1, dict_bytes);
    tind_keyspace *ks;
    CHECKED(tind_keyspace_open(db, "small", ko, &ks), "keyspace", db);
    tind_ks_options_free(ko);
    char k[32], v[128];
    for (unsigned i = 0; i < keys; i++) {
        unsigned id = (unsigned)(((uint64_t)i * 2654435761u) % keys);
        int kn = sprintf(k, "key:%012u", id);
        size_t vn = small_value(v, id);
        CHECKED(tind_put(ks, k, (size_t)kn, v, vn), "put", db);
    }
    CHECKED(tind_compact(ks), "compact", db);
    uint64_t disk;
    CHECKED(tind_disk_space(ks, &disk), "disk space", db);
    int runs = quick ? 3 : 7;
    unsigned reads = quick ? 20000 : 100000;
    double t[16];
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_fill_cache(ro, 0);   /* every read decodes its block */
    uint64_t x = 88172645463325252ull;
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        for (unsigned i = 0; i < reads; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            unsigned id = (unsigned)(x % keys);
            int kn = sprintf(k, "key:%012u", id);
            void *got;
            size_t gn;
            CHECKED(tind_get(ks, k, (size_t)kn, ro, &got, &gn), "get", db);
            size_t vn = small_value(v, id);
            if (gn != vn || memcmp(got, v, vn) != 0) {
                fprintf(stderr, "tind-featbench: wrong value for %s\n", k);
                exit(1);
            }
            tind_free(got);
        }
        t[r] = now_s() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    tind_read_options_free(ro);
    printf("  %-22s %12" PRIu64 " %10.3f %12.0f %12.0f\n", name, disk,
           (double)disk / ((double)keys * (16 + 60)), reads / t[0], reads / t[runs / 2]);
    CHECKED(tind_close(db), "close", NULL);
    fs_destroy(mem);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else {
            fprintf(stderr, "usage: tind-featbench [--quick]\n");
            return 2;
        }
    }
    unsigned users = quick ? 5000 : 20000;
    printf("prefix scans, %u users x %d posts in 16 L0 tables (us per scan: best, median)\n", users, P_POSTS);
    printf("  %-22s %12s %12s %12s %12s %10s\n", "", "present", "(median)", "absent", "(median)", "skips/scan");
    prefix_case(0, users);
    prefix_case(1, users);
    unsigned keys = quick ? 100000 : 400000;
    printf("small values: %u keys of 16 B + ~60 B, one compacted level; point reads bypassing the block cache\n",
           keys);
    printf("  %-22s %12s %10s %12s %12s\n", "", "disk bytes", "disk/raw", "reads/s", "(median)");
    dict_case("lz4", TIND_COMPRESSION_LZ4, 0, keys);
    dict_case("zstd", TIND_COMPRESSION_ZSTD, 0, keys);
    dict_case("zstd + 4 KiB dict", TIND_COMPRESSION_ZSTD, 4096, keys);
    dict_case("zstd + 16 KiB dict", TIND_COMPRESSION_ZSTD, 16384, keys);
    return 0;
}
