/*
 * cryptprof.c -- the encryption overhead driver of docs/ENCRYPTION.md
 * "Overhead" (issue 14; not built by CMake: it includes valgrind's
 * callgrind.h, which tind does not need).
 *
 *   gcc -O2 -g -Iinclude -Ibuild/include tools/microbench/cryptprof.c -o cryptprof \
 *       build/libtind.a -lzstd -llz4 -lxxhash -lcrypto -lpthread -lm
 *   valgrind --tool=callgrind ./cryptprof put /tmp/p 200000 [key]
 *   ./cryptprof load /tmp/g 200000 [key]     (put, flush, compact: the tables the gets read)
 *   valgrind --tool=callgrind --instr-atstart=no ./cryptprof get /tmp/g 200000 [key]
 *
 * put: N tind_put of 16-byte random keys and 100-byte random values,
 * background threads off, then tind_close (count the whole run). get: opens
 * the folder with a 4 MiB block cache and makes N tind_get of random keys of
 * the put phase (the same generator), instrumented alone. load: put, then
 * tind_flush and tind_compact (not measured). `key`: any
 * argument makes the database encrypted (a fixed 32-byte key).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

#include "tind.h"

static uint64_t rng;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = next();
        memcpy(p + i, &r, n - i < 8 ? n - i : 8);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: cryptprof put|load|get DIR N [key]\n");
        return 2;
    }
    int get = strcmp(argv[1], "get") == 0;
    uint64_t n = strtoull(argv[3], NULL, 10);
    tind_options *o = tind_options_new();
    tind_options_set_background_threads(o, 0);
    if (get)
        tind_options_set_cache_size(o, (size_t)4 << 20);
    if (argc > 4) {
        uint8_t key[32];
        memset(key, 0x5a, sizeof key);
        tind_options_set_encryption_key(o, key, sizeof key);
    }
    tind_db *db;
    int rc = tind_open(argv[2], o, &db);
    if (rc) {
        fprintf(stderr, "open: %d\n", rc);
        return 1;
    }
    tind_keyspace *ks;
    rc = tind_keyspace_open(db, "bench", NULL, &ks);
    if (rc) {
        fprintf(stderr, "keyspace: %d %s\n", rc, tind_errmsg(db));
        return 1;
    }
    uint8_t k[16], v[100];
    uint64_t found = 0;
    if (!get) {
        rng = 88172645463325252ull;
        for (uint64_t i = 0; i < n && rc == 0; i++) {
            fill(k, sizeof k);
            fill(v, sizeof v);
            rc = tind_put(ks, k, sizeof k, v, sizeof v);
        }
        if (rc == 0 && strcmp(argv[1], "load") == 0 && (rc = tind_flush(ks)) == 0)
            rc = tind_compact(ks);
    } else {
        uint8_t *keys = malloc(n * sizeof k);
        rng = 88172645463325252ull;
        for (uint64_t i = 0; i < n; i++) {
            fill(keys + i * sizeof k, sizeof k);
            fill(v, sizeof v);
        }
        CALLGRIND_START_INSTRUMENTATION;
        for (uint64_t i = 0; i < n; i++) {
            void *val;
            size_t vl;
            if (tind_get(ks, keys + (next() % n) * sizeof k, sizeof k, NULL, &val, &vl) == 0) {
                found++;
                tind_free(val);
            }
        }
        CALLGRIND_STOP_INSTRUMENTATION;
        free(keys);
    }
    if (rc)
        fprintf(stderr, "put: %d %s\n", rc, tind_errmsg(db));
    tind_close(db);
    tind_options_free(o);
    if (get)
        printf("found %llu of %llu\n", (unsigned long long)found, (unsigned long long)n);
    return rc ? 1 : 0;
}
