/*
 * mergeprof.c -- the counter-merge read profile (issue 15's counter-merge
 * row; not built by CMake: it includes valgrind's callgrind.h).
 *
 * K counters (16-byte decimal keys, tind.counter operator) are loaded with
 * a put of 0 and flushed; then N operations on Zipfian keys (theta 0.99,
 * scrambled as YCSB's), 90% tind_merge of 1 and 10% tind_get, with
 * callgrind's instrumentation on for the loop; with gets_only = 1 and
 * --collect-atstart=no only the gets are counted ("Collected" / gets =
 * instructions per get), else the merges too. The
 * final line checks the sum of every counter against the merges made.
 *
 *   gcc -O2 -g -Iinclude -Ibuild/include tools/microbench/mergeprof.c -o mergeprof \
 *       build/libtind.a -lzstd -llz4 -lxxhash -lcrypto -lpthread -lm
 *   valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no ./mergeprof /tmp/m 200000 300000 1
 *
 * $MT_MB: the memtable size in MiB (default: tind's).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>

#include "tind.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static void key(char *o, uint64_t i)
{
    for (int k = 15; k >= 0; k--) {
        o[k] = (char)('0' + i % 10);
        i /= 10;
    }
}
static uint64_t rng = 88172645463325252ull;
static uint64_t xr(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double ur(void) { return (double)(xr() >> 11) * (1.0 / 9007199254740992.0); }
static uint64_t fnv(uint64_t v)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (int i = 0; i < 8; i++) {
        h ^= v & 0xff;
        h *= 1099511628211ull;
        v >>= 8;
    }
    return h;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: mergeprof dir K N [gets_only]\n");
        return 2;
    }
    const char *dir = argv[1];
    uint64_t K = strtoull(argv[2], 0, 10), N = strtoull(argv[3], 0, 10);
    int gets_only = argc > 4 && atoi(argv[4]);
    tind_options *o = tind_options_new();
    tind_options_set_create_if_missing(o, 1);
    tind_db *db;
    if (tind_open(dir, o, &db)) {
        fprintf(stderr, "open failed\n");
        return 1;
    }
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_COUNTER, NULL, 0);
    if (getenv("MT_MB"))
        tind_ks_options_set_memtable_size(ko, (size_t)atoi(getenv("MT_MB")) << 20);
    tind_keyspace *ks;
    if (tind_keyspace_open(db, "c", ko, &ks)) {
        fprintf(stderr, "ks open failed\n");
        return 1;
    }
    char k[16];
    uint8_t zero[8] = {0}, one[8] = {1};
    for (uint64_t i = 0; i < K; i++) {
        key(k, i);
        tind_put(ks, k, 16, zero, 8);
    }
    tind_flush(ks);
    /* Zipfian over K (YCSB's constants) */
    double theta = 0.99, zetan = 0;
    for (uint64_t i = 1; i <= K; i++)
        zetan += 1.0 / pow((double)i, theta);
    double zeta2 = 1.0 + pow(0.5, theta), alpha = 1.0 / (1.0 - theta);
    double eta = (1.0 - pow(2.0 / (double)K, 1.0 - theta)) / (1.0 - zeta2 / zetan);
    uint64_t merges = 0, gets = 0, sum_read = 0;
    double tget = 0, tmerge = 0;
    CALLGRIND_START_INSTRUMENTATION;
    for (uint64_t n = 0; n < N; n++) {
        double u = ur(), uz = u * zetan;
        uint64_t v = uz < 1.0 ? 0 : uz < 1.0 + pow(0.5, theta) ? 1 : (uint64_t)((double)K * pow(eta * u - eta + 1.0, alpha));
        v = fnv(v >= K ? K - 1 : v) % K;
        key(k, v);
        if (xr() % 10 == 0) {
            uint8_t buf[8];
            size_t vl = 0;
            double t0 = now();
            if (gets_only)
                CALLGRIND_TOGGLE_COLLECT;
            int rc = tind_get_into(ks, k, 16, NULL, buf, 8, &vl);
            if (gets_only)
                CALLGRIND_TOGGLE_COLLECT;
            tget += now() - t0;
            if (rc || vl != 8) {
                fprintf(stderr, "get failed %d\n", rc);
                return 1;
            }
            gets++;
            for (int b = 0; b < 8; b++)
                sum_read += (uint64_t)buf[b] << (8 * b);
        } else {
            double t0 = now();
            if (tind_merge(ks, k, 16, one, 8)) {
                fprintf(stderr, "merge failed\n");
                return 1;
            }
            tmerge += now() - t0;
            merges++;
        }
    }
    CALLGRIND_STOP_INSTRUMENTATION;
    uint64_t total = 0;
    for (uint64_t i = 0; i < K; i++) {
        uint8_t buf[8];
        size_t vl;
        key(k, i);
        if (tind_get_into(ks, k, 16, NULL, buf, 8, &vl) || vl != 8)
            return 1;
        for (int b = 0; b < 8; b++)
            total += (uint64_t)buf[b] << (8 * b);
    }
    printf("merges %llu gets %llu: %.2f us/get %.2f us/merge (thread CPU); sum %llu %s\n",
           (unsigned long long)merges, (unsigned long long)gets, gets ? tget * 1e6 / (double)gets : 0,
           merges ? tmerge * 1e6 / (double)merges : 0, (unsigned long long)total, total == merges ? "ok" : "WRONG");
    tind_ks_options_free(ko);
    tind_options_free(o);
    tind_close(db);
    return total == merges ? 0 : 1;
}
