/*
 * fillprof.c -- the write-path profile of issues 14 and 15 (not built by
 * CMake: it uses valgrind's callgrind.h, which tind does not need).
 *
 * Writes N keys (16-byte decimal, 100-byte values of 50 random printable
 * bytes twice, as tind-bench's) into a fresh tind folder, with callgrind's
 * instrumentation on only for the write phase (and the flush that ends it),
 * and prints the thread CPU time per entry.
 *
 *   gcc -O2 -g -Iinclude -Ibuild/include tools/microbench/fillprof.c -o fillprof \
 *       build/libtind.a -lzstd -llz4 -lxxhash -lcrypto -lpthread -lm
 *   valgrind --tool=callgrind --instr-atstart=no ./fillprof seq /tmp/t 200000
 *   (instructions per entry = "Collected" / N)
 *
 * mode: seq (tind_put in key order), random (tind_put, a permutation),
 * batch (key order, tind_batch of 1000), ingest (tind_ingest, sorted),
 * ingestu (tind_ingest, unsorted input: the permutation). The permutation
 * is i * 2654435761 mod N (a prime: any N not a multiple of it).
 * $BG=0 turns background threads off (flushes run in the writer).
 * Every mode also prints the writing thread's CPU time; batch mode prints
 * the commits' latency (p50, p99, p99.9, max, and how many took over
 * 2 ms): run it outside valgrind, several times alternated with the
 * build it is compared with (a fresh process's memory faults dominate
 * the spread on these VMs).
 */
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
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static void key(char *o, uint64_t i)
{
    for (int k = 15; k >= 0; k--) {
        o[k] = '0' + i % 10;
        i /= 10;
    }
}
static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static uint64_t rng = 88172645463325252ull;
static uint64_t xr(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static void value(char *v)
{
    for (int q = 0; q < 50; q++)
        v[q] = ' ' + xr() % 95;
    memcpy(v + 50, v, 50);
}

struct src { uint64_t i, n; int perm; char k[16], v[100]; };
static int next(void *ctx, const void **k, size_t *kl, const void **v, size_t *vl)
{
    struct src *s = ctx;
    if (s->i == s->n)
        return 0;
    key(s->k, s->perm ? (s->i * 2654435761u) % s->n : s->i);
    value(s->v);
    s->i++;
    *k = s->k, *kl = 16, *v = s->v, *vl = 100;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: fillprof seq|random|batch|ingest|ingestu dir N\n");
        return 2;
    }
    const char *mode = argv[1], *dir = argv[2];
    uint64_t N = strtoull(argv[3], 0, 10);
    tind_options *o = tind_options_new();
    tind_options_set_default_durability(o, TIND_PERSIST_BUFFER);   /* as tind-bench without --sync */
    if (getenv("BG"))
        tind_options_set_background_threads(o, atoi(getenv("BG")));
    tind_db *db;
    int rc = tind_open(dir, o, &db);
    if (rc) {
        printf("open %d\n", rc);
        return 1;
    }
    tind_keyspace *ks;
    rc = tind_keyspace_open(db, "bench", NULL, &ks);
    if (rc) {
        printf("ks %d\n", rc);
        return 1;
    }
    char k[16], v[100];
    double *lat = NULL; /* batch mode: each commit's seconds */
    size_t nlat = 0;
    CALLGRIND_START_INSTRUMENTATION;
    double t0 = now(), c0 = thread_cpu();
    if (!strcmp(mode, "seq") || !strcmp(mode, "random")) {
        int perm = !strcmp(mode, "random");
        for (uint64_t i = 0; i < N && !rc; i++) {
            key(k, perm ? (i * 2654435761u) % N : i);
            value(v);
            rc = tind_put(ks, k, 16, v, 100);
        }
    } else if (!strcmp(mode, "batch")) {
        tind_batch *b = NULL;
        lat = malloc((N / 1000 + 1) * sizeof *lat);
        if (!lat)
            return 1;
        for (uint64_t i = 0; i < N && !rc; i += 1000) {
            rc = tind_batch_new(db, &b);
            for (uint64_t j = i; j < i + 1000 && j < N && !rc; j++) {
                key(k, j);
                value(v);
                rc = tind_batch_put(b, ks, k, 16, v, 100);
            }
            double b0 = now();
            if (!rc)
                rc = tind_batch_commit(b);
            lat[nlat++] = now() - b0;
            tind_batch_free(b);
        }
    } else {
        struct src s = {0, N, !strcmp(mode, "ingestu"), {0}, {0}};
        uint64_t c = 0;
        rc = tind_ingest(ks, next, &s, s.perm ? 0 : TIND_INGEST_SORTED, 0, NULL, NULL, &c);
    }
    if (!rc && strncmp(mode, "ingest", 6))
        rc = tind_flush(ks);
    double t1 = now(), c1 = thread_cpu();
    CALLGRIND_STOP_INSTRUMENTATION;
    printf("%s rc %d: %.0f ns/entry, %.1f MB/s of key+value, writer CPU %.3f s\n", mode, rc, (t1 - t0) * 1e9 / N,
           N * 116.0 / (t1 - t0) / 1e6, c1 - c0);
    if (nlat) {
        size_t slow = 0;
        qsort(lat, nlat, sizeof *lat, dbl_cmp);
        for (size_t i = 0; i < nlat; i++)
            slow += lat[i] > 0.002;
        printf("%zu commits: p50 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us, %zu over 2 ms\n", nlat,
               lat[nlat / 2] * 1e6, lat[nlat * 99 / 100] * 1e6, lat[nlat * 999 / 1000] * 1e6, lat[nlat - 1] * 1e6,
               slow);
    }
    free(lat);
    tind_close(db);
    return rc != 0;
}
