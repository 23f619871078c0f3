/*
 * blobbench.c -- tind-blobbench: what key-value separation costs and saves
 * per value size, to choose the default threshold (issue 11). On a real
 * folder (the POSIX file system), one keyspace per (value size, separation
 * on / off), everything scaled down 64x from the defaults (memtable, table
 * and blob files of 1 MiB) so that a few MiB of data reach steady-state
 * compaction:
 *
 *   write    load N keys (16-byte keys, values half random, half zeros: LZ4
 *            halves them), then overwrite 2N random keys; wait until the
 *            workers are idle. Write amplification two ways: tind's own
 *            (flush + compaction bytes, blob files included, per user byte)
 *            and the process's /proc/self/io wchar (every byte written by a
 *            syscall: journal, tables, blob files, version file) per user
 *            byte; space amplification = disk bytes / live key+value bytes.
 *   get      reopen (threads off), read every key once (warms the block
 *            cache, which holds the whole data set), then G random gets in
 *            run_gets(): run under callgrind with --toggle-collect=run_gets
 *            to count instructions per warm get (wall time is noise on a
 *            shared machine); then two walks of every key and value in
 *            run_scan() (--toggle-collect=run_scan: instructions per entry
 *            are the count / 2N).
 *
 *          With --rounds R the overwrite phase writes R x N random keys
 *            (default 2) and samples disk / live bytes every N / 16 writes
 *            past the first round (the mean and peak printed: blob GC's
 *            space side); --gc RATIO[,AGE] sets the blob GC
 *            (tind_ks_options_set_blob_gc), --sep on|off|both which modes
 *            run (default both).
 *
 * Usage: tind-blobbench [--mb M] [--sizes 512,1024,...] [--dir DIR] [--rounds R]
 *                       [--gc RATIO[,AGE]] [--sep on|off|both]
 *        tind-blobbench --get DIR/SIZE-on|off [--gets G]   (one get run)
 * Values are checked on every get, so a broken build cannot report a
 * figure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tind.h"

#define KEY_BYTES 16

static void die(const char *what, int rc, tind_db *db)
{
    fprintf(stderr, "tind-blobbench: %s: %s (%s)\n", what, tind_strerror(rc), tind_errmsg(db));
    exit(1);
}

#define CHECKED(call, what, db) do { int rc_ = (call); if (rc_) die(what, rc_, db); } while (0)

static uint64_t wchar(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    uint64_t v = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "wchar: %" SCNu64, &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static uint64_t rng(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void key_of(char *k, uint64_t i) { snprintf(k, 32, "k%015" PRIu64, i % UINT64_C(1000000000000000)); }

/* Value of key i, version r: the first half random, the rest zeros. */
static void value_of(uint8_t *v, size_t n, uint64_t i, uint64_t r)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull + r * 0xBF58476D1CE4E5B9ull + 1;
    size_t half = n / 2;
    for (size_t j = 0; j < half; j += 8) {
        uint64_t w = rng(&x);
        memcpy(v + j, &w, half - j < 8 ? half - j : 8);
    }
    memset(v + half, 0, n - half);
}

static tind_db *open_db(const char *dir, int background, uint64_t cache)
{
    tind_options *o = tind_options_new();
    tind_options_set_create_if_missing(o, 1);
    tind_options_set_cache_size(o, cache);
    tind_options_set_background_threads(o, background ? 2 : 0);
    tind_db *db = NULL;
    CHECKED(tind_open(dir, o, &db), dir, NULL);
    tind_options_free(o);
    return db;
}

static double gc_ratio = 0.25, gc_age = 0;
static uint64_t rounds = 2;

static tind_keyspace *open_ks(tind_db *db, int separate, size_t size)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 1 << 20);
    tind_ks_options_set_table_size(ko, 1 << 20);
    tind_ks_options_set_blob_separation(ko, separate, separate ? size : 4096);
    tind_ks_options_set_blob_file_size(ko, 1 << 20);
    tind_ks_options_set_blob_gc(ko, gc_ratio, gc_age);
    tind_keyspace *ks = NULL;
    CHECKED(tind_keyspace_open(db, "b", ko, &ks), "keyspace", db);
    tind_ks_options_free(ko);
    return ks;
}

/* Waits until the workers have been idle for a second. */
static void settle(tind_db *db, tind_keyspace *ks)
{
    CHECKED(tind_flush(ks), "flush", db);
    uint64_t last = UINT64_MAX;
    for (int quiet = 0; quiet < 5;) {
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
        tind_ks_stats st;
        CHECKED(tind_ks_stats_get(ks, &st), "stats", db);
        uint64_t now = st.compactions + st.flushes;
        quiet = now == last ? quiet + 1 : 0;
        last = now;
    }
}

static void write_run(const char *dir, size_t size, int separate, uint64_t mb)
{
    uint64_t n = (mb << 20) / size;
    tind_db *db = open_db(dir, 1, 256u << 20);
    tind_keyspace *ks = open_ks(db, separate, size);
    uint8_t *v = malloc(size);
    char k[32];
    uint64_t *ver = calloc(n, sizeof *ver);
    uint64_t w0 = wchar();
    for (uint64_t i = 0; i < n; i++) {
        key_of(k, i);
        value_of(v, size, i, 0);
        CHECKED(tind_put(ks, k, KEY_BYTES, v, size), "put", db);
    }
    settle(db, ks);
    tind_ks_stats a;
    CHECKED(tind_ks_stats_get(ks, &a), "stats", db);
    uint64_t w1 = wchar();
    uint64_t x = 42, every = n / 16 ? n / 16 : 1;
    double live = (double)n * (double)(KEY_BYTES + size), amp_sum = 0, amp_peak = 0;
    uint64_t samples = 0;
    for (uint64_t j = 0; j < rounds * n; j++) {
        uint64_t i = rng(&x) % n;
        key_of(k, i);
        value_of(v, size, i, ++ver[i]);
        CHECKED(tind_put(ks, k, KEY_BYTES, v, size), "put", db);
        if (j >= n && j % every == 0) {
            tind_ks_stats st;
            CHECKED(tind_ks_stats_get(ks, &st), "stats", db);
            double amp = (double)st.disk_bytes / live;
            amp_sum += amp;
            amp_peak = amp > amp_peak ? amp : amp_peak;
            samples++;
        }
    }
    settle(db, ks);
    uint64_t w2 = wchar();
    tind_ks_stats b;
    CHECKED(tind_ks_stats_get(ks, &b), "stats", db);
    double load_user = (double)a.user_bytes_written, over_user = (double)(b.user_bytes_written - a.user_bytes_written);
    double load_tind = (double)(a.flush_bytes_written + a.compaction_bytes_written);
    double over_tind = (double)(b.flush_bytes_written + b.compaction_bytes_written) - load_tind;
    printf("%6zu %-4s %8" PRIu64 "  load: tind %5.2f wchar %5.2f  overwrite: tind %5.2f wchar %5.2f  space %4.2f  "
           "blob files %3" PRIu64 " garbage %4.1f%%  running space mean %4.2f peak %4.2f\n",
           size, separate ? "on" : "off", n, load_tind / load_user, (double)(w1 - w0) / load_user,
           over_tind / over_user, (double)(w2 - w1) / over_user, (double)b.disk_bytes / live, b.blob_files,
           b.blob_bytes ? 100.0 * (double)b.blob_garbage_bytes / (double)b.blob_bytes : 0.0,
           samples ? amp_sum / (double)samples : 0.0, amp_peak);
    fflush(stdout);
    /* the last version of each key, for the get run */
    char path[4200];
    snprintf(path, sizeof path, "%s.versions", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(ver, sizeof *ver, n, f) != n) {
        fprintf(stderr, "tind-blobbench: cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
    free(ver);
    free(v);
    CHECKED(tind_close(db), "close", db);
}

static tind_keyspace *get_ks;
static uint64_t *get_ver, get_n;
static size_t get_size;

static void get_one(uint64_t i, uint8_t *want)
{
    char k[32];
    key_of(k, i);
    void *v;
    size_t vn;
    int rc = tind_get(get_ks, k, KEY_BYTES, NULL, &v, &vn);
    if (rc)
        die("get", rc, NULL);
    value_of(want, get_size, i, get_ver[i]);
    if (vn != get_size || memcmp(v, want, vn)) {
        fprintf(stderr, "tind-blobbench: wrong value for key %" PRIu64 "\n", i);
        exit(1);
    }
    tind_free(v);
}

/* Callgrind counts this function only (--toggle-collect=run_gets): the
 * value check is inside, the same for both modes. */
__attribute__((noinline)) void run_gets(uint64_t gets, uint8_t *want)
{
    uint64_t x = 7;
    for (uint64_t g = 0; g < gets; g++)
        get_one(rng(&x) % get_n, want);
}

/* The same for a walk of every key with its value (--toggle-collect=run_scan). */
__attribute__((noinline)) uint64_t run_scan(void)
{
    tind_iter *it = NULL;
    if (tind_iter_range(get_ks, NULL, 0, NULL, 0, NULL, &it))
        die("iter", TIND_ENOMEM, NULL);
    uint64_t n = 0, sum = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), n++) {
        size_t vn = 0;
        const uint8_t *v = tind_iter_value(it, &vn);
        sum += vn && v ? v[0] : 0;
    }
    if (tind_iter_status(it) || n != get_n) {
        fprintf(stderr, "tind-blobbench: scan saw %" PRIu64 " of %" PRIu64 " keys\n", n, get_n);
        exit(1);
    }
    tind_iter_free(it);
    return sum;
}

static void get_run(const char *dir, uint64_t gets)
{
    const char *dash = strrchr(dir, '-');
    const char *slash = strrchr(dir, '/');
    get_size = (size_t)strtoull(slash ? slash + 1 : dir, NULL, 10);
    if (!dash || !get_size) {
        fprintf(stderr, "tind-blobbench: --get wants DIR/SIZE-on or DIR/SIZE-off\n");
        exit(2);
    }
    int separate = strcmp(dash, "-on") == 0;
    char path[4200];
    snprintf(path, sizeof path, "%s.versions", dir);
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb)) {
        fprintf(stderr, "tind-blobbench: no %s (run the write phase first)\n", path);
        exit(1);
    }
    get_n = (uint64_t)sb.st_size / sizeof *get_ver;
    get_ver = malloc((size_t)sb.st_size);
    if (fread(get_ver, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size)
        exit(1);
    fclose(f);
    tind_db *db = open_db(dir, 0, 1024u << 20);
    get_ks = open_ks(db, separate, get_size);
    uint8_t *want = malloc(get_size);
    for (uint64_t i = 0; i < get_n; i++) /* warm: every block and blob in the cache */
        get_one(i, want);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_gets(gets, want);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    run_scan(); /* warm for the scan (a cursor reads blocks it does not cache) */
    run_scan();
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%6zu %-4s gets %" PRIu64 "  %.0f ns/get (wall: noise; use callgrind)\n", get_size,
           separate ? "on" : "off", gets, s * 1e9 / (double)gets);
    free(want);
    free(get_ver);
    CHECKED(tind_close(db), "close", db);
}

int main(int argc, char **argv)
{
    uint64_t mb = 16, gets = 20000;
    const char *sizes = "512,1024,2048,4096,8192", *dir = "/tmp/tind-blobbench", *get = NULL, *sep = "both";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc)
            mb = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
            sizes = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--get") && i + 1 < argc)
            get = argv[++i];
        else if (!strcmp(argv[i], "--gets") && i + 1 < argc)
            gets = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--gc") && i + 1 < argc && sscanf(argv[i + 1], "%lf,%lf", &gc_ratio, &gc_age) >= 1)
            i++;
        else if (!strcmp(argv[i], "--sep") && i + 1 < argc)
            sep = argv[++i];
        else {
            fprintf(stderr, "usage: tind-blobbench [--mb M] [--sizes 512,1024,...] [--dir DIR] [--rounds R]\n"
                            "                      [--gc RATIO[,AGE]] [--sep on|off|both]\n"
                            "       tind-blobbench --get DIR/SIZE-on|off [--gets G]\n");
            return 2;
        }
    }
    if (get) {
        get_run(get, gets);
        return 0;
    }
    mkdir(dir, 0755);
    printf("  size sep     keys  write amplification (tind: flush+compaction bytes; wchar: all syscall writes) "
           "per user byte\n");
    for (const char *p = sizes; *p;) {
        size_t size = (size_t)strtoull(p, NULL, 10);
        for (int separate = 1; separate >= 0; separate--) {
            if ((separate && !strcmp(sep, "off")) || (!separate && !strcmp(sep, "on")))
                continue;
            char path[4096], cmd[4200];
            snprintf(path, sizeof path, "%s/%zu-%s", dir, size, separate ? "on" : "off");
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
            if (system(cmd))
                return 1;
            write_run(path, size, separate, mb);
        }
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    return 0;
}
