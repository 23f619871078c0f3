/*
 * mtseekprof.c -- memtable search latency on a feed-shaped memtable (issue
 * 15; not built by CMake, like mergeprof.c: a timing loop, not a test).
 *
 * ENTRIES entries of tind-bench feed's post keys ("u%08d#f#%012d", users
 * drawn uniformly from 100,000, 100-byte values) go into one filtered
 * memtable; then ROUNDS rounds, each of OPS seek_for_prev to a random
 * user's "u%08d#f$" (a feed read's reverse scan starts there), OPS seeks to
 * "u%08d#f#", and OPS point gets of absent "u%08d#p" keys; each round prints
 * its mean nanoseconds per call (key formatting included).
 *
 *   gcc -O2 -g -std=c11 -D_GNU_SOURCE -Isrc -Iinclude -Ibuild/include \
 *       tools/microbench/mtseekprof.c build/libtind_internal.a \
 *       -llz4 -lzstd -lxxhash -lcrypto -lpthread -lm -o mtseekprof
 *   ./mtseekprof 300000 500000 6
 *
 * The eighth session's figures (prefetch_below in memtable.c, ~10%) came
 * from rounds in one process switching the variant between rounds (a
 * temporary global in memtable.c), so that the list and its placement in
 * memory were the same for both: runs of separate builds on the shared VM
 * differed by more than the change.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tind_internal.h"

static trng rng; /* util/rand.h, through tind_internal.h */

static uint64_t rnd(void) { return trng_next(&rng); }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static volatile uint64_t sink;

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: mtseekprof ENTRIES OPS ROUNDS\n");
        return 2;
    }
    uint64_t n = strtoull(argv[1], NULL, 10), ops = strtoull(argv[2], NULL, 10);
    trng_seed(&rng, 1);
    int rounds = atoi(argv[3]);
    const uint64_t users = 100000, snapshot = UINT64_MAX >> 8;
    memtable *m = mt_new_filtered(1, 4u << 20, NULL);
    if (!m)
        return 1;
    uint8_t val[100];
    memset(val, 'v', sizeof val);
    char key[64];
    for (uint64_t i = 0; i < n; i++) {
        int kn = snprintf(key, sizeof key, "u%08llu#f#%012llu", (unsigned long long)(rnd() % users),
                          (unsigned long long)i);
        if (mt_add(m, i + 1, ENTRY_VALUE, (const uint8_t *)key, (size_t)kn, val, sizeof val))
            return 1;
    }
    mt_iter *it = mt_iter_new(m);
    if (!it)
        return 1;
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        for (uint64_t i = 0; i < ops; i++) {
            int kn = snprintf(key, sizeof key, "u%08llu#f$", (unsigned long long)(rnd() % users));
            mt_iter_seek_for_prev(it, (const uint8_t *)key, (size_t)kn, snapshot);
            sink += (uint64_t)mt_iter_valid(it);
        }
        double t1 = now();
        for (uint64_t i = 0; i < ops; i++) {
            int kn = snprintf(key, sizeof key, "u%08llu#f#", (unsigned long long)(rnd() % users));
            mt_iter_seek(it, (const uint8_t *)key, (size_t)kn, snapshot);
            sink += (uint64_t)mt_iter_valid(it);
        }
        double t2 = now();
        for (uint64_t i = 0; i < ops; i++) {
            int kn = snprintf(key, sizeof key, "u%08llu#p", (unsigned long long)(rnd() % users));
            uint8_t type;
            uint64_t seqno;
            const uint8_t *v;
            size_t vn;
            sink += (uint64_t)mt_get(m, (const uint8_t *)key, (size_t)kn, snapshot, &type, &seqno, &v, &vn);
        }
        double t3 = now();
        printf("seek_for_prev %.0f ns  seek %.0f ns  get %.0f ns\n", (t1 - t0) / (double)ops * 1e9,
               (t2 - t1) / (double)ops * 1e9, (t3 - t2) / (double)ops * 1e9);
    }
    mt_iter_free(it);
    mt_unref(m);
    return 0;
}
