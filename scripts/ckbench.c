/*
 * ckbench.c -- the issue-14 figures of docs/BENCHMARKS.md ("Checkpoints, backups and
 * bulk load"): bulk load of N x 16 B / 100 B pairs (sorted, then unsorted), and for
 * a ~480 MB database: checkpoint by hard links and by copies, full and incremental
 * backup, verify. Not built by CMake (a measurement, not a test); build it against a
 * build tree:
 *   cc -O2 -Iinclude -Ibuild/include -o ckbench scripts/ckbench.c -Lbuild -ltind -Wl,-rpath,$PWD/build
 *   ./ckbench DIR 2000000 load
 *   ./ckbench DIR 4300000 big DIR/ck_link /dev/shm/ckcopy DIR/backups
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include "tind.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static double cpu(void) { struct rusage u; getrusage(RUSAGE_SELF, &u); return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6; }
typedef struct { unsigned long i, n; int sorted, random_vals; char k[24]; unsigned char v[100]; unsigned long long x; } gen;
static int next(void *c, const void **k, size_t *kl, const void **v, size_t *vl)
{
    gen *g = c;
    if (g->i >= g->n) return 0;
    unsigned long j = g->sorted ? g->i : (g->i * 2654435761ul) % g->n; /* a permutation when n is odd-coprime */
    snprintf(g->k, sizeof g->k, "%016lu", j);
    if (g->random_vals) for (int b = 0; b < 100; b += 8) { g->x = g->x * 6364136223846793005ull + 1442695040888963407ull; memcpy(g->v + b, &g->x, b + 8 <= 100 ? 8 : 4); }
    else { memset(g->v, 'a' + (int)(j % 26), 100); }
    *k = g->k; *kl = 16; *v = g->v; *vl = 100; g->i++;
    return 1;
}
#define CK(x) do { int _r = (x); if (_r) { fprintf(stderr, "%s: %s: %s\n", #x, tind_strerror(_r), tind_errmsg(db)); exit(1); } } while (0)
int main(int argc, char **argv)
{
    const char *dir = argv[1]; unsigned long n = strtoul(argv[2], 0, 10); const char *mode = argv[3];
    char p[512]; snprintf(p, sizeof p, "%s/db", dir);
    tind_db *db = NULL; tind_keyspace *ks = NULL;
    CK(tind_open(p, NULL, &db)); CK(tind_keyspace_open(db, "bench", NULL, &ks));
    if (!strcmp(mode, "load")) {
        for (int sorted = 1; sorted >= 0; sorted--) {
            char name[16]; snprintf(name, sizeof name, "ks%d", sorted);
            tind_keyspace *k2; CK(tind_keyspace_open(db, name, NULL, &k2));
            gen g = {0}; g.n = n; g.sorted = sorted; g.random_vals = 1;
            double t0 = now(), c0 = cpu(); uint64_t cnt = 0;
            CK(tind_ingest(k2, next, &g, sorted ? TIND_INGEST_SORTED : 0, 0, NULL, NULL, &cnt));
            double t = now() - t0, c = cpu() - c0;
            printf("ingest %s: %lu pairs, %.1f MB in %.2f s wall (%.1f MB/s), %.2f s CPU (%.1f MB/s of CPU)\n",
                   sorted ? "sorted" : "unsorted", (unsigned long)cnt, n * 116 / 1e6, t, n * 116 / 1e6 / t, c, n * 116 / 1e6 / c);
        }
    } else if (!strcmp(mode, "big")) {
        gen g = {0}; g.n = n; g.sorted = 1; g.random_vals = 1;
        double t0 = now();
        CK(tind_ingest(ks, next, &g, TIND_INGEST_SORTED, 0, NULL, NULL, NULL));
        uint64_t bytes; CK(tind_disk_space(ks, &bytes));
        printf("database: %.1f MB of tables, loaded in %.2f s\n", bytes / 1e6, now() - t0);
        for (int i = 0; i < 1000; i++) { char k[32]; int kl = snprintf(k, sizeof k, "w%06d", i); CK(tind_put(ks, k, kl, "v", 1)); }
        const char *targets[2] = {argv[4], argv[5]};
        for (int i = 0; i < 2; i++) {
            double t = now(); CK(tind_checkpoint(db, targets[i]));
            printf("checkpoint to %s: %.3f s\n", targets[i], now() - t);
        }
        char bk[512]; snprintf(bk, sizeof bk, "%s", argv[6]);
        double t = now(); CK(tind_backup_create(db, bk, NULL, NULL, NULL)); printf("backup create (full): %.3f s\n", now() - t);
        for (int i = 0; i < 1000; i++) { char k[32]; int kl = snprintf(k, sizeof k, "x%06d", i); CK(tind_put(ks, k, kl, "v", 1)); }
        CK(tind_flush(ks));
        t = now(); CK(tind_backup_create(db, bk, NULL, NULL, NULL)); printf("backup create (incremental, 1 new table): %.3f s\n", now() - t);
        t = now(); if (tind_backup_verify(bk, 0, NULL, NULL)) { printf("verify failed %s\n", tind_errmsg(NULL)); exit(1); } printf("backup verify (both): %.3f s\n", now() - t);
        tind_backup_info *l; size_t c; tind_backup_list(bk, &l, &c);
        for (size_t i = 0; i < c; i++) printf("backup %lu: %lu files, %.1f MB, %.1f MB shared\n", (unsigned long)l[i].id, (unsigned long)l[i].files, l[i].bytes / 1e6, l[i].shared_bytes / 1e6);
        tind_free(l);
    }
    CK(tind_close(db));
    return 0;
}
