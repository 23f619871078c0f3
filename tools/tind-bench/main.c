/*
 * main.c -- tind-bench: the BENCH.md workloads on tind and its peers, side by
 * side, in one run, with the ratio of each peer to tind.
 *
 *   tind-bench [--profile quick|full] [--engines tind,rocksdb,...]
 *              [--workloads ycsb-a,ycsb-b-sync,blobs-4k,medium,feed,micro,queue,bulkload]
 *              [--keys N] [--value-size B] [--ops N | --seconds S] [--threads T]
 *              [--cache-mb M] [--seed S] [--distribution uniform|zipfian|latest]
 *              [--dir DIR] [--keep] [--json FILE] [--settle-ms MS]
 *              [--no-drop-cache] [--quiet] [--list] [--self-check]
 *              [--feed-absent F] [--tind-prefix] [--warmup S] [--load-batch N]
 *              [--disk-bw-mb M] [--estimate]
 *   (--workloads takes groups too: core, extra)
 *
 * Method. For every (workload, engine) pair -- workload-major, so the engines
 * of one workload run close together in time -- the harness forks a child
 * that owns the engine for the whole pair, so peak RSS and I/O counters
 * (/proc/self/io write_bytes) are the engine's alone:
 *
 *   1. load:   open with eventual durability, insert the preload (a seeded
 *              permutation of the keys, split over the threads), settle
 *              (the backend flushes and waits for its compactions, then the
 *              harness waits until the process writes nothing and uses < 5%
 *              CPU for --settle-ms), close. With --keep the loaded folder is
 *              cached under DIR/preload/<engine>-<dataset> and copied on later
 *              runs instead of being loaded again.
 *   2. cold:   every file of the folder is fdatasync'ed and dropped from the
 *              OS page cache (posix_fadvise DONTNEED), so each engine starts
 *              its run from the disk (--no-drop-cache keeps the page cache).
 *   3. run:    reopen with the workload's durability; warm up (the same mix
 *              for --warmup seconds, not counted); syncfs the folder's file
 *              system and read the disk's sectors written; run the mix
 *              on T threads (T = 1 for a backend that is not thread-safe) for
 *              --ops operations or --seconds; every operation is timed into a
 *              per-thread log-linear histogram per op type; a sampler thread
 *              records the throughput of every second.
 *   4. after:  settle again (its writes count towards write amplification),
 *              syncfs and read the sectors again (device write amplification =
 *              the sectors' bytes / user bytes: every process's writes, so the
 *              machine must be quiet), measure the folder's disk usage
 *              (allocated blocks), close.
 * The load is bracketed the same way (load_device_write_bytes) and, with
 * --load-batch N > 1, puts its items N per backend put_batch call.
 *
 * The micro workload runs fillseq, fillbatch (fillseq in batches of 1,000
 * through put_batch, judged against the disk's sequential write bandwidth
 * measured at the start of the run with an O_DIRECT write) and fillrandom
 * on fresh folders (each fill is measured whole, from empty) and then
 * readrandom, seekscan (seek + 100 next; a tenth of --ops) and overwrite on
 * the fillrandom folder, each after its warm-up, one result each.
 *
 * Figures per result: throughput (ops/s); p50/p99/p99.9/max latency per op
 * type; throughput per second; write amplification = write_bytes of the
 * process during (phase + settle) / key+value bytes the user wrote in it;
 * disk bytes and space amplification = disk / live logical bytes (keys +
 * values of the live items); peak RSS of the row's own phase; load time.
 *
 * Peak RSS is per result, not per process: the child writes "5" to
 * /proc/self/clear_refs when it starts, after it sends each result and after
 * a micro fill closes the previous fill's database, which resets the kernel's
 * high-water mark (VmHWM) to the current RSS, and reads VmHWM from
 * /proc/self/status when it sends the next; a warm-up resets it again when it
 * ends. So a result's peak covers its own steady state -- a measured run phase
 * and its settle (plus what the load or fill left resident and still holds
 * when the warm-up ends), not the fill's peak nor the warm-up's; a fill row
 * (no warm-up) and a run without --warmup its whole phase, load included.
 * Where the reset or VmHWM is not available the row carries ru_maxrss (the
 * peak since the child began) and says so (rss_scope "process", an asterisk
 * in the table).
 *
 * Output: one JSON object per line per result (--json FILE, appended):
 *   {"tool":"tind-bench","time":...,"profile":...,"tind_version":"0.2.0",
 *    "commit":"git describe when tind-bench was built"|"unknown",
 *    "host":{"name":uname nodename,"machine":uname machine,"nproc":online CPUs},
 *    "engine":...,"workload":...,
 *    "ok":true|false,"error":null|"...","params":{"keys","key_size",
 *    "value_size","threads","cache_mb","distribution","durability","blob_values",
 *    "seed","ops","seconds","feed_users","feed_posts_per_user"},
 *    "throughput":ops/s,"ops":N,"seconds":S,
 *    "latency_us":{"<op>":{"count","mean","p50","p99","p999","max"},...},
 *    "timeline":[ops/s of second 1, 2, ...],"timeline_drift" (mean ops/s of
 *    the last third over the first; 1 = flat),"timeline_cv",
 *    "load_seconds","load_settle_seconds","load_ops","load_throughput",
 *    "load_cached","load_write_amp","write_bytes","user_bytes","write_amp",
 *    "device_write_bytes","device_write_amp","load_device_write_bytes",
 *    "load_device_write_amp" (null without a block device),"user_mb_s",
 *    "disk_fraction" (user_mb_s / the disk's sequential MB/s),
 *    "disk_bytes","live_bytes","space_amp","peak_rss_kb","rss_scope" ("steady",
 *    "phase" or "process", above),"misses","scanned",
 *    "aborts","abort_rate"}  (aborts: txn-* attempts that conflicted and were
 *    retried; abort_rate = aborts / attempts, null when none ran)
 * (write_amp is null when the phase wrote nothing), and a readable table on
 * stdout with each peer's throughput over tind's, then tind over the best
 * peer per workload.
 *
 * Exit status: 0 when every result ran, found every key it had to find and
 * visited the entries it had to visit (misses = 0); 1 otherwise; 2 on usage.
 *
 * Thread-safety: the parent is single-threaded; a child runs the worker
 * threads of workloads.c and one sampler (this file), which only reads their
 * atomic counters.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "tind.h"
#include "histogram.h"
#include "workloads.h"

/* git describe of the tree this binary was built from (tind_bench_commit.c,
 * written at build time by commit.cmake). */
extern const char tind_bench_commit[];

#define BM_MAX_TIMELINE 3600
#define BM_MAX_ROWS 512
#define BM_ERRLEN 512

/* ======================================================================
 * Results
 * ====================================================================== */
typedef struct bm_op {
    char name[16];
    uint64_t count;
    double mean_us, p50_us, p99_us, p999_us, max_us;
} bm_op;

/* One result, written by the child to the parent through a pipe (plain data). */
typedef struct bm_row {
    char engine[16];
    char workload[32];
    int ok;
    char error[BM_ERRLEN];
    /* params */
    uint64_t keys;
    size_t value_size;
    int threads;
    size_t cache_bytes;
    int dist;
    int sync_writes;
    int blob_values;
    uint64_t seed;
    uint64_t ops_target;
    double seconds_target;
    uint64_t feed_users, feed_posts_per_user;
    /* load */
    double load_seconds, load_settle_seconds;
    uint64_t load_ops, load_user_bytes, load_write_bytes;
    int load_cached;
    /* measured phase */
    double seconds;
    uint64_t ops, user_bytes, write_bytes, misses, scanned;
    uint64_t aborts;            /* txn-*: attempts that conflicted and were retried */
    int n_ops;
    bm_op op[BW_MAX_OPTYPES];
    uint32_t n_timeline;
    float timeline[BM_MAX_TIMELINE];
    uint64_t disk_bytes, live_bytes;
    long peak_rss_kb;
    int rss_phase;              /* 2: peak_rss_kb is this row's steady state's (VmHWM reset after
                                 * the warm-up); 1: its phase's; 0: the process's (ru_maxrss) */
    /* steady state and the device (issue 15) */
    double warmup_seconds;      /* the uncounted warm-up before the measured phase */
    uint64_t dev_write_bytes;   /* device sectors written (x 512) over phase + settle, syncfs-bracketed; */
    uint64_t load_dev_write_bytes; /* UINT64_MAX = unknown */
} bm_row;

/* Settings from the command line. */
typedef struct bm_flags {
    int profile;
    char engines[256];
    char workloads[1024];
    uint64_t keys;              /* 0 = the workload's default */
    size_t value_size;
    uint64_t ops;
    double seconds;
    int threads;
    size_t cache_mb;
    uint64_t seed;
    int dist;                   /* -1 = the workload's default */
    char dir[512];
    int keep;
    char json[1024];
    int settle_ms;
    int drop_cache;
    int quiet;
    int encrypt;                /* --encrypt: tind's database encrypted at rest (tind only) */
    double feed_absent;         /* feed: fraction of reads of users that do not exist */
    int tind_prefix;            /* tind: a prefix extractor (separator '#') on the keyspace */
    double warmup;              /* --warmup: seconds before each measured run phase (< 0: by profile) */
    int estimate;               /* --estimate: print the plan and its duration, run nothing */
    int preload_only;           /* --preload-only (with --keep): load and cache the preloads, measure nothing */
    long disk_bw_mb;            /* --disk-bw-mb: MiB of the O_DIRECT bandwidth probe (< 0: by profile) */
    long load_batch;            /* --load-batch: puts per batch in the preloads (< 0: by profile; 0/1: one by one) */
    /* found by the parent before the run */
    char dev_stat[512];         /* /sys/.../stat of the disk holding --dir ("" = unknown) */
    char dev_name[64];
    double disk_mbps;           /* the probe's sequential write MB/s (0 = not measured) */
} bm_flags;

/* ======================================================================
 * Small helpers: time, /proc, folders
 * ====================================================================== */
static double bm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double bm_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bm_sleep(double s)
{
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Bytes this process caused to be sent to storage (/proc/self/io); 0 when unknown. */
static uint64_t bm_write_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return 0;
    char line[128];
    uint64_t v = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %" SCNu64, &v) == 1)
            break;
    fclose(f);
    return v;
}

/* ---- peak RSS of one phase ----
 * ru_maxrss is the peak since the process started, so a child that runs
 * several phases (micro: the fills, then the reads on the fillrandom folder)
 * would stamp the fills' peak on every later row. Instead the child resets
 * the kernel's high-water mark (VmHWM) to the current RSS before each phase
 * (writing "5" to /proc/self/clear_refs, Linux >= 4.0) and reads VmHWM when
 * it sends the row. Where either is not possible the row falls back to
 * ru_maxrss and says so (bm_row.rss_phase = 0). */
static int bm_rss_phase; /* the child's: 1 = VmHWM was reset when the current phase began, 2 = after its warm-up */

static void bm_rss_reset_as(int scope)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    bm_rss_phase = fd >= 0 && write(fd, "5", 1) == 1 ? scope : 0;
    if (fd >= 0)
        close(fd);
}

static void bm_rss_reset(void) { bm_rss_reset_as(1); }

/* VmHWM from /proc/self/status in kB; -1 when unknown. */
static long bm_vmhwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[128];
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* The current phase's peak RSS in kB; *phase = bm_rss_phase's scope, 0 when
 * it is the process's since it started (the fallback). */
static long bm_peak_rss_kb(int *phase)
{
    long kb = bm_rss_phase ? bm_vmhwm_kb() : -1;
    *phase = kb >= 0 ? bm_rss_phase : 0;
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return kb;
}

/* ---- the device holding the bench folder (write amplification from the disk) ---- */
static int bm_exists(const char *p);

/* The block device of dir: st_dev -> /sys/dev/block/MAJ:MIN, a partition
 * -> its parent disk; fills the disk's stat path and name. -1 when dir is
 * on no block device (tmpfs, overlay...). */
static int bm_dev_find(const char *dir, char *stat_path, size_t sn, char *name, size_t nn)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return -1;
    char link[128], real[PATH_MAX], probe[PATH_MAX + 32];
    snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
    if (!realpath(link, real))
        return -1;
    snprintf(probe, sizeof probe, "%s/partition", real);
    if (bm_exists(probe)) {
        char *slash = strrchr(real, '/');
        if (!slash)
            return -1;
        *slash = 0;
    }
    snprintf(probe, sizeof probe, "%s/stat", real);
    size_t pl = strlen(probe);
    if (!bm_exists(probe) || pl >= sn)
        return -1;
    memcpy(stat_path, probe, pl + 1);
    const char *base = strrchr(real, '/');
    base = base ? base + 1 : real;
    size_t bl = strlen(base);
    if (bl >= nn)
        return -1;
    memcpy(name, base, bl + 1);
    return 0;
}

/* Sectors written (512 bytes each, whatever the device's sector size) from
 * the disk's stat file, field 7; UINT64_MAX when unknown. */
static uint64_t bm_dev_sectors(const char *stat_path)
{
    if (!stat_path[0])
        return UINT64_MAX;
    FILE *f = fopen(stat_path, "r");
    if (!f)
        return UINT64_MAX;
    uint64_t v[7];
    int n = fscanf(f, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &v[0],
                   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
    fclose(f);
    return n == 7 ? v[6] : UINT64_MAX;
}

/* syncfs on dir's file system, then the disk's sectors written so far: a
 * bracket of device writes (every process's, hence the quiet machine). */
static uint64_t bm_dev_mark(const char *stat_path, const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
    return bm_dev_sectors(stat_path);
}

static uint64_t bm_dev_delta(uint64_t s0, uint64_t s1)
{
    return s0 == UINT64_MAX || s1 == UINT64_MAX || s1 < s0 ? UINT64_MAX : (s1 - s0) * 512u;
}

static int bm_path(char *out, size_t n, const char *a, const char *b)
{
    size_t an = strlen(a), bn = strlen(b);
    if (an + 1 + bn >= n)
        return -1;
    memcpy(out, a, an);
    out[an] = '/';
    memcpy(out + an + 1, b, bn + 1);
    return 0;
}

static int bm_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int bm_mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *s = tmp + 1; *s; s++) {
        if (*s == '/') {
            *s = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *s = '/';
        }
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Visits every entry under dir (depth first, children before the folder
 * itself when post = 1). fn returns nonzero to stop. */
typedef int (*bm_walk_fn)(const char *path, const struct stat *st, void *arg);
static int bm_walk(const char *dir, int post, bm_walk_fn fn, void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[2048];
        if (bm_path(p, sizeof p, dir, e->d_name)) {
            rc = -1;
            break;
        }
        struct stat st;
        if (lstat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (!post)
                rc = fn(p, &st, arg);
            if (rc == 0)
                rc = bm_walk(p, post, fn, arg);
            if (rc == 0 && post)
                rc = fn(p, &st, arg);
        } else {
            rc = fn(p, &st, arg);
        }
    }
    closedir(d);
    return rc;
}

static int bm_du_fn(const char *path, const struct stat *st, void *arg)
{
    *(uint64_t *)arg += (uint64_t)st->st_blocks * 512u;
    return 0;
}

/* Disk usage of a folder: allocated blocks, as du(1) counts them. */
static uint64_t bm_du(const char *dir)
{
    uint64_t total = 0;
    struct stat st;
    if (stat(dir, &st) == 0)
        total += (uint64_t)st.st_blocks * 512u;
    bm_walk(dir, 0, bm_du_fn, &total);
    return total;
}

static int bm_rm_fn(const char *path, const struct stat *st, void *arg)
{
    return (S_ISDIR(st->st_mode) ? rmdir(path) : unlink(path)) != 0 && errno != ENOENT ? -1 : 0;
}

static int bm_rmtree(const char *dir)
{
    if (!bm_exists(dir))
        return 0;
    if (bm_walk(dir, 1, bm_rm_fn, NULL))
        return -1;
    return rmdir(dir) != 0 && errno != ENOENT ? -1 : 0;
}

static int bm_copy_file(const char *src, const char *dst, mode_t mode)
{
    int in = open(src, O_RDONLY), out = -1, rc = -1;
    if (in < 0)
        return -1;
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, mode & 0777);
    if (out < 0)
        goto done;
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n == 0)
            break;
        if (n < 0) {
            /* fall back to read/write */
            char buf[1 << 16];
            ssize_t r;
            while ((r = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t)r) != r)
                    goto done;
            if (r < 0)
                goto done;
            break;
        }
    }
    rc = 0;
done:
    if (out >= 0 && close(out) != 0)
        rc = -1;
    close(in);
    return rc;
}

static int bm_copytree(const char *src, const char *dst)
{
    if (bm_mkdirs(dst))
        return -1;
    DIR *d = opendir(src);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char s[2048], t[2048];
        struct stat st;
        if (bm_path(s, sizeof s, src, e->d_name) || bm_path(t, sizeof t, dst, e->d_name) || lstat(s, &st)) {
            rc = -1;
            break;
        }
        if (S_ISDIR(st.st_mode))
            rc = bm_copytree(s, t);
        else if (S_ISREG(st.st_mode))
            rc = bm_copy_file(s, t, st.st_mode);
    }
    closedir(d);
    return rc;
}

static int bm_drop_fn(const char *path, const struct stat *st, void *arg)
{
    if (!S_ISREG(st->st_mode))
        return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    return 0;
}

/* Writes back and evicts every file of the folder from the OS page cache. */
static void bm_drop_page_cache(const char *dir) { bm_walk(dir, 0, bm_drop_fn, NULL); }

/* The disk's sequential write bandwidth in MB/s (10^6 bytes): mb MiB written
 * to a file in dir in 1 MiB O_DIRECT writes (buffered when the file system
 * refuses O_DIRECT), fdatasync included; 0 on failure. The file is removed. */
static double bm_disk_bandwidth(const char *dir, long mb)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tind-bench-bandwidth.tmp", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0644);
    if (fd < 0)
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 0;
    void *buf = NULL;
    const size_t chunk = (size_t)1 << 20;
    if (posix_memalign(&buf, 4096, chunk) != 0) {
        close(fd);
        unlink(path);
        return 0;
    }
    /* incompressible, in case the device compresses */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < chunk / 8; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy((char *)buf + i * 8, &x, 8);
    }
    double t0 = bm_now();
    long done = 0;
    for (; done < mb; done++) {
        ssize_t w = write(fd, buf, chunk);
        if (w != (ssize_t)chunk)
            break;
    }
    int ok = done == mb && fdatasync(fd) == 0;
    double secs = bm_now() - t0;
    close(fd);
    unlink(path);
    free(buf);
    return ok && secs > 0 ? (double)mb * (double)chunk / 1e6 / secs : 0;
}

/* ======================================================================
 * Phases (in the child)
 * ====================================================================== */
typedef struct bm_ctx {
    const bm_flags *flags;
    const bench_backend *be;
    bw_params params;
    bw_data data;
    char err[BM_ERRLEN];
    int step, steps;            /* this (workload, engine) run is step of steps */
    double run_end;             /* bm_now() when the whole run should end (0: unknown yet) */
    size_t load_batch;          /* puts per batch of the preload running now (--load-batch; 0: one by one) */
} bm_ctx;

/* "tind-bench: [i/N] engine workload phase, ETA M:SS for the whole run" on
 * stderr (unless --quiet). CLOCK_MONOTONIC is shared by the forked child. */
static void bm_say_phase(const bm_ctx *c, const char *workload, const char *phase)
{
    if (c->flags->quiet)
        return;
    char eta[96] = "";
    if (c->run_end > 0) {
        double left = c->run_end - bm_now();
        long sec = left > 0 ? (long)(left + 0.5) : 0;
        snprintf(eta, sizeof eta, ", ETA %ld:%02ld:%02ld for the whole run", sec / 3600, sec / 60 % 60, sec % 60);
    }
    fprintf(stderr, "tind-bench: [%d/%d] %s %s %s%s\n", c->step, c->steps, c->be->name, workload, phase, eta);
}

/* What a phase measured. */
typedef struct bm_phase {
    double seconds;
    uint64_t ops, user_bytes, misses, scanned, items_added, live_bytes_added, aborts;
    int n_ops;
    const char *names[BW_MAX_OPTYPES];
    bench_hist hist[BW_MAX_OPTYPES];
    uint32_t n_timeline;
    float timeline[BM_MAX_TIMELINE];
} bm_phase;

typedef struct bm_worker {
    bw_thread t;
    double finished_at;         /* bm_now() when its loop ended (read after join) */
    atomic_int *finished;
} bm_worker;

static void *bm_worker_main(void *arg)
{
    bm_worker *w = arg;
    bw_thread_main(&w->t);
    w->finished_at = bm_now();
    atomic_fetch_add(w->finished, 1);
    return NULL;
}

/* Runs mode on the handle: a load of `items` items, or a run of `ops`
 * operations (0: for `seconds`). Fills ph; -1 with ctx->err on failure. */
static int bm_phase_run(bm_ctx *c, void *h, int mode, uint64_t items, uint64_t ops, double seconds, bm_phase *ph)
{
    int threads = c->params.threads;
    bm_worker *w = calloc((size_t)threads, sizeof *w);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    atomic_int stop, finished;
    atomic_init(&stop, 0);
    atomic_init(&finished, 0);
    memset(ph, 0, sizeof *ph);
    if (!w || !tid) {
        free(w);
        free(tid);
        snprintf(c->err, sizeof c->err, "out of memory");
        return -1;
    }
    uint64_t total = bw_mode_is_load(mode) ? items : ops;
    uint64_t begin = 0;
    for (int i = 0; i < threads; i++) {
        uint64_t share = total / (uint64_t)threads + ((uint64_t)i < total % (uint64_t)threads ? 1 : 0);
        if (!bw_mode_is_load(mode) && ops == 0)
            share = 0;
        bw_thread_init(&w[i].t, c->be, h, &c->data, mode, i, begin, begin + share, &stop);
        w[i].t.batch = c->load_batch;
        if (!bw_mode_is_load(mode) && ops > 0 && share == 0)
            w[i].t.end = w[i].t.begin + 1; /* at least one op per thread */
        w[i].finished = &finished;
        begin += share;
    }
    double t0 = bm_now();
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&tid[started], NULL, bm_worker_main, &w[started]) != 0)
            break;
    if (started < threads) {
        atomic_store(&stop, 1);
        snprintf(c->err, sizeof c->err, "pthread_create failed");
    }
    /* the sampler: throughput of every whole second */
    uint64_t last_done = 0;
    double next_tick = t0 + 1.0;
    int timed = !bw_mode_is_load(mode) && ops == 0;
    while (atomic_load(&finished) < started) {
        double now = bm_now();
        if (timed && now - t0 >= seconds)
            atomic_store(&stop, 1);
        for (int i = 0; i < started; i++)
            if (w[i].t.failed)
                atomic_store(&stop, 1);
        if (now >= next_tick) {
            uint64_t done = 0;
            for (int i = 0; i < started; i++)
                done += atomic_load_explicit(&w[i].t.done, memory_order_relaxed);
            if (ph->n_timeline < BM_MAX_TIMELINE)
                ph->timeline[ph->n_timeline++] = (float)(done - last_done);
            last_done = done;
            next_tick += 1.0;
        }
        double wait = next_tick - bm_now();
        if (timed && t0 + seconds - bm_now() < wait)
            wait = t0 + seconds - bm_now();
        bm_sleep(wait < 0.002 ? 0.002 : wait > 0.01 ? 0.01 : wait);
    }
    /* the phase ends when its last thread does, not when the sampler notices */
    double t1 = t0;
    for (int i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        if (w[i].finished_at > t1)
            t1 = w[i].finished_at;
    }
    ph->seconds = t1 - t0;
    ph->n_ops = bw_mode_optypes(mode, ph->names);
    for (int k = 0; k < BW_MAX_OPTYPES; k++)
        bh_init(&ph->hist[k]);
    int rc = started < threads ? -1 : 0;
    for (int i = 0; i < started; i++) {
        bw_thread *t = &w[i].t;
        uint64_t done = atomic_load(&t->done);
        ph->ops += done;
        ph->user_bytes += t->user_bytes;
        ph->misses += t->misses;
        ph->scanned += t->scanned;
        ph->aborts += t->aborts;
        ph->items_added += t->items_added;
        ph->live_bytes_added += t->live_bytes_added;
        for (int k = 0; k < BW_MAX_OPTYPES; k++)
            bh_merge(&ph->hist[k], &t->hist[k]);
        if (t->failed && rc == 0) {
            snprintf(c->err, sizeof c->err, "%s", t->err);
            rc = -1;
        }
    }
    /* the last partial second, as a rate, when it is long enough to mean something */
    double tail = t1 - (next_tick - 1.0);
    if (tail >= 0.2 && ph->n_timeline < BM_MAX_TIMELINE)
        ph->timeline[ph->n_timeline++] = (float)((double)(ph->ops - last_done) / tail);
    for (int i = 0; i < threads; i++)
        bw_thread_free(&w[i].t);
    free(w);
    free(tid);
    return rc;
}

/* The backend's settle, then wait until the process is quiet: no bytes
 * written and under 5% of a CPU for settle_ms (at most 10 minutes). */
static int bm_settle(bm_ctx *c, void *h, double *secs)
{
    double t0 = bm_now();
    char err[BM_ERRLEN] = "";
    if (c->be->settle(h, err, sizeof err) != 0) {
        snprintf(c->err, sizeof c->err, "settle: %.480s", err);
        return -1;
    }
    double window = c->flags->settle_ms / 1000.0;
    uint64_t wb = bm_write_bytes();
    double cpu = bm_cpu_seconds();
    while (bm_now() - t0 < 600) {
        bm_sleep(window);
        uint64_t wb2 = bm_write_bytes();
        double cpu2 = bm_cpu_seconds();
        int quiet = wb2 == wb && cpu2 - cpu < 0.05 * window;
        wb = wb2;
        cpu = cpu2;
        if (quiet)
            break;
    }
    if (secs)
        *secs = bm_now() - t0;
    return 0;
}

static int bm_open(bm_ctx *c, const char *dir, int sync_writes, void **h)
{
    bench_config cfg = {
        .dir = dir,
        .cache_bytes = c->params.cache_bytes,
        .sync_writes = sync_writes,
        .blob_values = c->params.def->blob_values,
        .value_size_hint = c->params.value_size,
        .threads = c->params.threads,
        .encrypt = c->params.encrypt,
        .counter_merge = c->params.def->kind == BW_COUNTER_MERGE,
        .tind_prefix = c->flags->tind_prefix,
    };
    char err[BM_ERRLEN] = "";
    if (bm_mkdirs(dir)) {
        snprintf(c->err, sizeof c->err, "mkdir %.300s: %s", dir, strerror(errno));
        return -1;
    }
    if (c->be->open(h, &cfg, err, sizeof err) != 0) {
        snprintf(c->err, sizeof c->err, "open: %.480s", err);
        return -1;
    }
    return 0;
}

static int bm_close(bm_ctx *c, void *h)
{
    char err[BM_ERRLEN] = "";
    if (c->be->close(h, err, sizeof err) != 0) {
        snprintf(c->err, sizeof c->err, "close: %.480s", err);
        return -1;
    }
    return 0;
}

static void bm_row_init(bm_ctx *c, bm_row *r, const char *workload)
{
    memset(r, 0, sizeof *r);
    snprintf(r->engine, sizeof r->engine, "%s%s", c->be->name, c->params.encrypt ? "-aes" : "");
    snprintf(r->workload, sizeof r->workload, "%s", workload);
    const bw_params *p = &c->params;
    r->keys = p->keys;
    r->value_size = p->value_size;
    r->threads = p->threads;
    r->cache_bytes = p->cache_bytes;
    r->dist = p->dist;
    r->sync_writes = p->def->sync_writes;
    r->blob_values = p->def->blob_values;
    r->seed = p->seed;
    r->ops_target = p->ops;
    r->seconds_target = p->ops ? 0 : p->seconds;
    r->feed_users = p->feed_users;
    r->feed_posts_per_user = p->feed_posts_per_user;
    r->live_bytes = bw_live_bytes_loaded(p);
    r->warmup_seconds = c->flags->warmup;
    r->dev_write_bytes = r->load_dev_write_bytes = UINT64_MAX;
}

static void bm_row_take_phase(bm_row *r, const bm_phase *ph)
{
    r->seconds = ph->seconds;
    r->ops = ph->ops;
    r->user_bytes = ph->user_bytes;
    r->misses += ph->misses; /* a warm-up's misses were added before */
    r->scanned = ph->scanned;
    r->aborts = ph->aborts;
    r->n_ops = ph->n_ops;
    for (int k = 0; k < ph->n_ops; k++) {
        const bench_hist *hh = &ph->hist[k];
        bm_op *o = &r->op[k];
        snprintf(o->name, sizeof o->name, "%s", ph->names[k]);
        o->count = hh->count;
        o->mean_us = bh_mean(hh) / 1000.0;
        o->p50_us = (double)bh_quantile(hh, 0.50) / 1000.0;
        o->p99_us = (double)bh_quantile(hh, 0.99) / 1000.0;
        o->p999_us = (double)bh_quantile(hh, 0.999) / 1000.0;
        o->max_us = hh->count ? (double)hh->max / 1000.0 : 0;
    }
    r->n_timeline = ph->n_timeline;
    memcpy(r->timeline, ph->timeline, sizeof(float) * ph->n_timeline);
}

static void bm_row_fail(bm_row *r, const char *err)
{
    r->ok = 0;
    snprintf(r->error, sizeof r->error, "%s", err);
}

static int bm_send(int fd, bm_row *r)
{
    r->peak_rss_kb = bm_peak_rss_kb(&r->rss_phase);
    const char *p = (const char *)r;
    size_t left = sizeof *r;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        left -= (size_t)n;
    }
    bm_rss_reset(); /* the next row's phase starts here */
    return 0;
}

/* ---- the preload cache (--keep) ---- */
static void bm_dataset_dir(bm_ctx *c, char *out, size_t n)
{
    const bw_params *p = &c->params;
    if (p->def->kind == BW_FEED)
        snprintf(out, n, "%s/preload/%s-feed-u%" PRIu64 "-p%" PRIu64 "-v%zu-s%" PRIu64, c->flags->dir,
                 c->be->name, p->feed_users, p->feed_posts_per_user, p->value_size, p->seed);
    else
        snprintf(out, n, "%s/preload/%s-kv-k%" PRIu64 "-v%zu-s%" PRIu64 "-t%d%s", c->flags->dir, c->be->name,
                 p->keys, p->value_size, p->seed, p->threads, p->def->kind == BW_QUEUE ? "-seq" : "");
    if (p->encrypt && strlen(out) + 4 < n)
        strcat(out, "-aes");
    /* the keyspace's prefix extractor is part of its options: a preload
     * made without one does not open with one */
    if (c->flags->tind_prefix && strlen(out) + 7 < n)
        strcat(out, "-prefix");
}

static int bm_cache_read(const char *dir, bm_row *r)
{
    char path[2048];
    bm_path(path, sizeof path, dir, "tind-bench-preload.txt");
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = fscanf(f, "load_seconds %lf\nload_settle_seconds %lf\nload_ops %" SCNu64 "\nload_user_bytes %" SCNu64
                      "\nload_write_bytes %" SCNu64 "\nload_dev_write_bytes %" SCNu64 "\n",
                   &r->load_seconds, &r->load_settle_seconds, &r->load_ops, &r->load_user_bytes,
                   &r->load_write_bytes, &r->load_dev_write_bytes);
    fclose(f);
    return n == 6 ? 0 : -1;
}

static int bm_cache_write(const char *rundir, const char *dir, const bm_row *r)
{
    char tmp[2048], path[2048];
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    bm_rmtree(tmp);
    bm_rmtree(dir);
    if (bm_copytree(rundir, tmp))
        return -1;
    /* the marker is written last: a folder without it is not a complete preload */
    bm_path(path, sizeof path, tmp, "tind-bench-preload.txt");
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "load_seconds %f\nload_settle_seconds %f\nload_ops %" PRIu64 "\nload_user_bytes %" PRIu64
            "\nload_write_bytes %" PRIu64 "\nload_dev_write_bytes %" PRIu64 "\n",
            r->load_seconds, r->load_settle_seconds, r->load_ops, r->load_user_bytes, r->load_write_bytes,
            r->load_dev_write_bytes);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, dir);
}

/* ---- the workloads ---- */

/* The uncounted warm-up before a measured run phase: the same mode for
 * --warmup seconds; its misses still count (a miss is a bug). The peak RSS
 * starts again after it (steady state: what the load or the fill before
 * left resident counts only while it stays). */
static int bm_warmup(bm_ctx *c, void *h, const char *what, int mode, bm_phase *ph, bm_row *r)
{
    if (c->flags->warmup <= 0)
        return 0;
    bm_say_phase(c, what, "warm-up");
    if (bm_phase_run(c, h, mode, 0, 0, c->flags->warmup, ph))
        return -1;
    r->misses += ph->misses;
    r->live_bytes += ph->live_bytes_added; /* feed: its appends stay live */
    bm_rss_reset_as(2);
    return 0;
}

/* BW_MIX and BW_FEED: load (or copy the cached preload), cold start, warm-up, run. */
static void bm_child_mix(bm_ctx *c, int fd)
{
    bm_phase *php = malloc(sizeof *php);
    bm_row *r = calloc(1, sizeof *r);
    if (!r || !php) {
        free(r);
        free(php);
        return;
    }
    const bw_params *p = &c->params;
    char rundir[1024], cachedir[1024];
    snprintf(rundir, sizeof rundir, "%s/run-%s-%s", c->flags->dir, c->be->name, p->def->name);
    bm_dataset_dir(c, cachedir, sizeof cachedir);
    bm_row_init(c, r, p->def->name);
    void *h = NULL;
    int is_feed = p->def->kind == BW_FEED;
    uint64_t items = is_feed ? p->feed_users + p->feed_users * p->feed_posts_per_user : p->keys;
    bm_rmtree(rundir);

    char marker[2048];
    bm_path(marker, sizeof marker, cachedir, "tind-bench-preload.txt");
    if (c->flags->keep && bm_exists(marker) && bm_cache_read(cachedir, r) == 0) {
        r->load_cached = 1;
        if (c->flags->preload_only) /* cached already */
            goto done_preload;
        if (bm_copytree(cachedir, rundir)) {
            snprintf(c->err, sizeof c->err, "copy %.200s to %.200s failed", cachedir, rundir);
            goto fail;
        }
        char m2[2048];
        bm_path(m2, sizeof m2, rundir, "tind-bench-preload.txt");
        unlink(m2);
    } else {
        if (bm_open(c, rundir, 0, &h))
            goto fail;
        uint64_t wb0 = bm_write_bytes(), dev0 = bm_dev_mark(c->flags->dev_stat, rundir);
        bm_say_phase(c, p->def->name, "load");
        int load = is_feed ? BW_LOAD_FEED : p->def->kind == BW_QUEUE ? BW_LOAD_SEQ : BW_LOAD_RANDOM;
        c->load_batch = (size_t)c->flags->load_batch;
        int lrc = bm_phase_run(c, h, load, items, 0, 0, php);
        c->load_batch = 0;
        if (lrc)
            goto fail;
        r->load_seconds = php->seconds;
        r->load_ops = php->ops;
        r->load_user_bytes = php->user_bytes;
        if (bm_settle(c, h, &r->load_settle_seconds))
            goto fail;
        r->load_write_bytes = bm_write_bytes() - wb0;
        r->load_dev_write_bytes = bm_dev_delta(dev0, bm_dev_mark(c->flags->dev_stat, rundir));
        void *hh = h;
        h = NULL;
        if (bm_close(c, hh))
            goto fail;
        if (c->flags->keep && bm_cache_write(rundir, cachedir, r) != 0) {
            snprintf(c->err, sizeof c->err, "could not cache the preload in %.400s", cachedir);
            if (c->flags->preload_only)
                goto fail;
            fprintf(stderr, "tind-bench: %s\n", c->err);
        }
    }
    if (c->flags->preload_only) { /* --preload-only: the cache is filled, no result */
    done_preload:
        bm_rmtree(rundir);
        free(r);
        free(php);
        return;
    }
    if (c->flags->drop_cache)
        bm_drop_page_cache(rundir);

    if (bm_open(c, rundir, p->def->sync_writes, &h))
        goto fail;
    int run_mode = is_feed                      ? BW_RUN_FEED
                   : p->def->kind == BW_QUEUE ? BW_RUN_QUEUE
                   : p->def->kind == BW_TXN   ? BW_RUN_TXN
                                              : BW_RUN_MIX;
    if (p->def->kind == BW_COUNTER_MERGE || p->def->kind == BW_COUNTER_RMW)
        run_mode = BW_RUN_COUNTER;
    if (bm_warmup(c, h, p->def->name, run_mode, php, r))
        goto fail;
    uint64_t wb1 = bm_write_bytes(), dev1 = bm_dev_mark(c->flags->dev_stat, rundir);
    bm_say_phase(c, p->def->name, "run");
    if (bm_phase_run(c, h, run_mode, 0, p->ops, p->seconds, php))
        goto fail;
    bm_row_take_phase(r, php);
    r->live_bytes += php->live_bytes_added;
    if (bm_settle(c, h, NULL))
        goto fail;
    r->write_bytes = bm_write_bytes() - wb1;
    r->dev_write_bytes = bm_dev_delta(dev1, bm_dev_mark(c->flags->dev_stat, rundir));
    r->disk_bytes = bm_du(rundir);
    void *hh = h;
    h = NULL;
    if (bm_close(c, hh))
        goto fail;
    r->ok = 1;
    bm_send(fd, r);
    bm_rmtree(rundir);
    free(r);
    free(php);
    return;
fail:
    if (h) {
        char e[BM_ERRLEN];
        c->be->close(h, e, sizeof e);
    }
    bm_row_fail(r, c->err);
    bm_send(fd, r);
    bm_rmtree(rundir);
    free(r);
    free(php);
}

typedef struct bm_step {
    const char *name;
    int mode;
} bm_step;

/* BW_MICRO: fillseq, fillrandom, then readrandom, seekscan, overwrite.
 * BW_BULK: bulkload/sorted, bulkload/unsorted (each a fill: a fresh folder). */
static const bm_step bm_micro_steps[] = {
    {"micro/fillseq", BW_LOAD_SEQ},        {"micro/fillbatch", BW_LOAD_SEQ_BATCH},
    {"micro/fillrandom", BW_LOAD_RANDOM},
    {"micro/readrandom", BW_RUN_READRANDOM}, {"micro/seekscan", BW_RUN_SEEKSCAN},
    {"micro/overwrite", BW_RUN_OVERWRITE},
};
static const bm_step bm_bulk_steps[] = {
    {"bulkload/sorted", BW_LOAD_BULK_SEQ},
    {"bulkload/unsorted", BW_LOAD_BULK_RANDOM},
};

/* The steps in order on one engine; the first two fill fresh folders. */
static void bm_child_micro(bm_ctx *c, int fd, const bm_step *steps, size_t nsteps)
{
    bm_phase *php = malloc(sizeof *php);
    bm_row *r = calloc(1, sizeof *r);
    if (!r || !php) {
        free(r);
        free(php);
        return;
    }
    const bw_params *p = &c->params;
    char dir[1024];
    void *h = NULL;
    size_t i = 0;
    for (; i < nsteps; i++) {
        int mode = steps[i].mode;
        bm_row_init(c, r, steps[i].name);
        if (bw_mode_is_load(mode)) {
            /* a fresh folder for each fill */
            if (h) {
                void *hh = h;
                h = NULL;
                if (bm_close(c, hh))
                    goto fail;
                bm_rmtree(dir);
                /* the previous folder's memory (LMDB: its mapped file) is
                 * not this fill's: its peak starts from the closed state */
                bm_rss_reset();
            }
            snprintf(dir, sizeof dir, "%s/run-%s-%s", c->flags->dir, c->be->name, strchr(steps[i].name, '/') + 1);
            bm_rmtree(dir);
            if (bm_open(c, dir, 0, &h))
                goto fail;
        }
        uint64_t ops = p->ops;
        if (mode == BW_RUN_SEEKSCAN && ops)
            ops = ops / 10 ? ops / 10 : 1;
        /* a fill is measured whole, from empty (its load throughput); a run
         * phase after an uncounted warm-up */
        if (!bw_mode_is_load(mode) && bm_warmup(c, h, steps[i].name, mode, php, r))
            goto fail;
        uint64_t wb0 = bm_write_bytes(), dev0 = bm_dev_mark(c->flags->dev_stat, dir);
        bm_say_phase(c, p->def->name, strchr(steps[i].name, '/') ? strchr(steps[i].name, '/') + 1 : steps[i].name);
        if (bm_phase_run(c, h, mode, p->keys, ops, p->seconds, php))
            goto fail;
        bm_row_take_phase(r, php);
        if (bw_mode_is_load(mode)) {
            r->load_seconds = php->seconds;
            r->load_ops = php->ops;
            r->load_user_bytes = php->user_bytes;
        }
        if (bm_settle(c, h, bw_mode_is_load(mode) ? &r->load_settle_seconds : NULL))
            goto fail;
        r->write_bytes = bm_write_bytes() - wb0;
        r->dev_write_bytes = bm_dev_delta(dev0, bm_dev_mark(c->flags->dev_stat, dir));
        if (bw_mode_is_load(mode)) {
            r->load_write_bytes = r->write_bytes;
            r->load_dev_write_bytes = r->dev_write_bytes;
        }
        r->disk_bytes = bm_du(dir);
        r->ok = 1;
        bm_send(fd, r);
    }
    if (h) {
        void *hh = h;
        h = NULL;
        if (bm_close(c, hh))
            goto fail;
    }
    bm_rmtree(dir);
    free(r);
    free(php);
    return;
fail:
    if (h) {
        char e[BM_ERRLEN];
        c->be->close(h, e, sizeof e);
    }
    bm_row_fail(r, c->err);
    bm_send(fd, r);
    /* the remaining steps cannot run */
    for (i++; i < nsteps; i++) {
        bm_row_init(c, r, steps[i].name);
        bm_row_fail(r, "not run: an earlier step failed");
        bm_send(fd, r);
    }
    bm_rmtree(dir);
    free(r);
    free(php);
}

static void bm_child(bm_ctx *c, int fd)
{
    bm_rss_reset(); /* the first row's phase starts here (its key streams included) */
    if (bw_data_init(&c->data, &c->params) != 0) {
        bm_row r;
        memset(&r, 0, sizeof r);
        bm_row_init(c, &r, c->params.def->name);
        bm_row_fail(&r, "out of memory");
        bm_send(fd, &r);
        return;
    }
    if (c->params.def->kind == BW_MICRO)
        bm_child_micro(c, fd, bm_micro_steps, sizeof bm_micro_steps / sizeof bm_micro_steps[0]);
    else if (c->params.def->kind == BW_BULK)
        bm_child_micro(c, fd, bm_bulk_steps, sizeof bm_bulk_steps / sizeof bm_bulk_steps[0]);
    else
        bm_child_mix(c, fd);
    bw_data_free(&c->data);
}

/* ======================================================================
 * Parameters
 * ====================================================================== */
static void bm_params(const bm_flags *f, const bw_def *def, const bench_backend *be, bw_params *p)
{
    memset(p, 0, sizeof *p);
    p->def = def;
    p->keys = f->keys ? f->keys : def->keys[f->profile];
    p->value_size = f->value_size ? f->value_size : def->value_size;
    p->profile_value_size = 200;
    p->cache_bytes = (f->cache_mb ? f->cache_mb : def->cache_mb[f->profile]) << 20;
    p->threads = be->thread_safe ? (bw_def_threads(def) && f->threads <= 1 ? bw_def_threads(def) : f->threads) : 1;
    p->ops = f->ops;
    p->seconds = f->seconds > 0 ? f->seconds : (f->profile == BW_PROFILE_QUICK ? 3 : 30);
    p->dist = f->dist >= 0 ? f->dist : def->dist;
    p->seed = f->seed;
    p->encrypt = f->encrypt && !strcmp(be->name, "tind");
    p->feed_absent = f->feed_absent;
    if (def->kind == BW_FEED) {
        p->feed_posts_per_user = 20;
        p->feed_users = p->keys / p->feed_posts_per_user;
        if (p->feed_users == 0)
            p->feed_users = 1;
    }
}

/* ======================================================================
 * Output
 * ====================================================================== */
static void bm_json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

/* An integer, or null for UINT64_MAX (unknown). */
static void bm_json_u64(FILE *f, uint64_t v)
{
    if (v == UINT64_MAX)
        fputs("null", f);
    else
        fprintf(f, "%" PRIu64, v);
}

static void bm_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static double bm_ratio(double a, double b) { return b > 0 ? a / b : NAN; }

static double bm_throughput(const bm_row *r) { return r->ok && r->seconds > 0 ? (double)r->ops / r->seconds : NAN; }
static double bm_wamp(const bm_row *r) { return r->user_bytes ? (double)r->write_bytes / (double)r->user_bytes : NAN; }
static double bm_load_wamp(const bm_row *r)
{
    return r->load_user_bytes ? (double)r->load_write_bytes / (double)r->load_user_bytes : NAN;
}
static double bm_dev_amp(uint64_t dev, uint64_t user)
{
    return dev != UINT64_MAX && user ? (double)dev / (double)user : NAN;
}
/* The table's write amplification: the device's when known, else the process's. */
static double bm_wamp_best(const bm_row *r)
{
    double d = bm_dev_amp(r->dev_write_bytes, r->user_bytes);
    return isfinite(d) ? d : bm_wamp(r);
}
/* MB/s (10^6 bytes) of keys + values the user wrote in the measured phase. */
static double bm_user_mbps(const bm_row *r)
{
    return r->ok && r->seconds > 0 && r->user_bytes ? (double)r->user_bytes / 1e6 / r->seconds : NAN;
}
/* Whether the measured phase was steady: the mean ops/s of the timeline's
 * last third over its first third (1 = flat; null under 6 whole seconds)
 * and the seconds' coefficient of variation. The last, partial second is left out. */
static double bm_drift(const bm_row *r)
{
    uint32_t n = r->n_timeline > 0 ? r->n_timeline - 1 : 0, k = n / 3;
    if (n < 6)
        return NAN;
    double a = 0, b = 0;
    for (uint32_t i = 0; i < k; i++) {
        a += r->timeline[i];
        b += r->timeline[n - k + i];
    }
    return a > 0 ? b / a : NAN;
}
static double bm_cv(const bm_row *r)
{
    uint32_t n = r->n_timeline > 0 ? r->n_timeline - 1 : 0;
    if (n < 3)
        return NAN;
    double sum = 0, sq = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += r->timeline[i];
    double mean = sum / n;
    for (uint32_t i = 0; i < n; i++)
        sq += (r->timeline[i] - mean) * (r->timeline[i] - mean);
    return mean > 0 ? sqrt(sq / n) / mean : NAN;
}
static double bm_samp(const bm_row *r) { return r->live_bytes ? (double)r->disk_bytes / (double)r->live_bytes : NAN; }

/* The CPU model (/proc/cpuinfo "model name"), "" when unknown. */
static const char *bm_cpu_model(void)
{
    static char model[128];
    if (model[0])
        return model;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon++;
            while (*colon == ' ' || *colon == '\t')
                colon++;
            colon[strcspn(colon, "\n")] = 0;
            snprintf(model, sizeof model, "%s", colon);
            break;
        }
    }
    if (f)
        fclose(f);
    return model;
}

static void bm_json_row(FILE *f, const bm_row *r, const char *profile, const bm_flags *fl)
{
    time_t now = time(NULL);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "{\"tool\":\"tind-bench\",\"time\":\"%s\",\"profile\":\"%s\",\"tind_version\":", ts, profile);
    bm_json_str(f, tind_version());
    fputs(",\"commit\":", f);
    bm_json_str(f, tind_bench_commit);
    struct utsname host;
    if (uname(&host) != 0)
        memset(&host, 0, sizeof host);
    fputs(",\"host\":{\"name\":", f);
    bm_json_str(f, host.nodename);
    fputs(",\"machine\":", f);
    bm_json_str(f, host.machine);
    fprintf(f, ",\"nproc\":%ld,\"mem_mb\":%ld,\"cpu\":", sysconf(_SC_NPROCESSORS_ONLN),
            (long)((double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / 1048576.0));
    bm_json_str(f, bm_cpu_model());
    fputs(",\"disk\":", f);
    bm_json_str(f, fl->dev_name);
    fputs(",\"disk_seq_write_mb_s\":", f);
    bm_json_num(f, fl->disk_mbps > 0 ? fl->disk_mbps : NAN);
    fputs("},\"engine\":", f);
    bm_json_str(f, r->engine);
    fputs(",\"engine_version\":", f);
    const bench_backend *be = bench_backend_find(r->engine);
    if (!be && strncmp(r->engine, "tind", 4) == 0) /* tind-aes */
        be = bench_backends[0];
    bm_json_str(f, be ? bench_backend_version(be) : "unknown");
    fputs(",\"workload\":", f);
    bm_json_str(f, r->workload);
    fprintf(f, ",\"ok\":%s,\"error\":", r->ok ? "true" : "false");
    if (r->ok)
        fputs("null", f);
    else
        bm_json_str(f, r->error);
    fprintf(f,
            ",\"params\":{\"keys\":%" PRIu64 ",\"key_size\":%d,\"value_size\":%zu,\"threads\":%d,\"cache_mb\":%zu,"
            "\"distribution\":\"%s\",\"durability\":\"%s\",\"blob_values\":%s,\"seed\":%" PRIu64
            ",\"ops\":%" PRIu64 ",\"seconds\":",
            r->keys, BW_KEY_SIZE, r->value_size, r->threads, r->cache_bytes >> 20, bw_dist_name(r->dist),
            r->sync_writes ? "synced" : "eventual", r->blob_values ? "true" : "false", r->seed, r->ops_target);
    bm_json_num(f, r->seconds_target);
    fputs(",\"warmup\":", f);
    bm_json_num(f, r->warmup_seconds);
    fprintf(f, ",\"settle_ms\":%d,\"load_batch\":%ld,\"feed_users\":%" PRIu64 ",\"feed_posts_per_user\":%" PRIu64 "}",
            fl->settle_ms, fl->load_batch, r->feed_users, r->feed_posts_per_user);
    fputs(",\"throughput\":", f);
    bm_json_num(f, bm_throughput(r));
    fprintf(f, ",\"ops\":%" PRIu64 ",\"seconds\":", r->ops);
    bm_json_num(f, r->seconds);
    fputs(",\"latency_us\":{", f);
    for (int k = 0; k < r->n_ops; k++) {
        const bm_op *o = &r->op[k];
        fprintf(f, "%s\"%s\":{\"count\":%" PRIu64 ",\"mean\":", k ? "," : "", o->name, o->count);
        bm_json_num(f, o->mean_us);
        fputs(",\"p50\":", f);
        bm_json_num(f, o->p50_us);
        fputs(",\"p99\":", f);
        bm_json_num(f, o->p99_us);
        fputs(",\"p999\":", f);
        bm_json_num(f, o->p999_us);
        fputs(",\"max\":", f);
        bm_json_num(f, o->max_us);
        fputc('}', f);
    }
    fputs("},\"timeline\":[", f);
    for (uint32_t i = 0; i < r->n_timeline; i++)
        fprintf(f, "%s%.0f", i ? "," : "", (double)r->timeline[i]);
    fputs("],\"timeline_drift\":", f);
    bm_json_num(f, bm_drift(r));
    fputs(",\"timeline_cv\":", f);
    bm_json_num(f, bm_cv(r));
    fputs(",\"load_seconds\":", f);
    bm_json_num(f, r->load_seconds);
    fputs(",\"load_settle_seconds\":", f);
    bm_json_num(f, r->load_settle_seconds);
    fprintf(f, ",\"load_ops\":%" PRIu64 ",\"load_throughput\":", r->load_ops);
    bm_json_num(f, r->load_seconds > 0 ? (double)r->load_ops / r->load_seconds : NAN);
    fprintf(f, ",\"load_cached\":%s,\"load_write_amp\":", r->load_cached ? "true" : "false");
    bm_json_num(f, bm_load_wamp(r));
    fprintf(f, ",\"write_bytes\":%" PRIu64 ",\"user_bytes\":%" PRIu64 ",\"write_amp\":", r->write_bytes,
            r->user_bytes);
    bm_json_num(f, bm_wamp(r));
    fputs(",\"device_write_bytes\":", f);
    bm_json_u64(f, r->dev_write_bytes);
    fputs(",\"device_write_amp\":", f);
    bm_json_num(f, bm_dev_amp(r->dev_write_bytes, r->user_bytes));
    fputs(",\"load_device_write_bytes\":", f);
    bm_json_u64(f, r->load_dev_write_bytes);
    fputs(",\"load_device_write_amp\":", f);
    bm_json_num(f, bm_dev_amp(r->load_dev_write_bytes, r->load_user_bytes));
    fputs(",\"user_mb_s\":", f);
    bm_json_num(f, bm_user_mbps(r));
    fputs(",\"disk_fraction\":", f);
    bm_json_num(f, fl->disk_mbps > 0 ? bm_user_mbps(r) / fl->disk_mbps : NAN);
    fprintf(f, ",\"disk_bytes\":%" PRIu64 ",\"live_bytes\":%" PRIu64 ",\"space_amp\":", r->disk_bytes,
            r->live_bytes);
    bm_json_num(f, bm_samp(r));
    /* rss_scope: "steady" = the row's measured run (VmHWM reset after its warm-up), "phase" = the row's own
     * phase (reset before it), "process" = ru_maxrss since the child began */
    fprintf(f, ",\"peak_rss_kb\":%ld,\"rss_scope\":\"%s\",\"misses\":%" PRIu64 ",\"scanned\":%" PRIu64,
            r->peak_rss_kb, r->rss_phase == 2 ? "steady" : r->rss_phase ? "phase" : "process", r->misses, r->scanned);
    /* transactions: retried attempts, and their share of all attempts */
    fprintf(f, ",\"aborts\":%" PRIu64 ",\"abort_rate\":", r->aborts);
    bm_json_num(f, r->ops + r->aborts ? (double)r->aborts / (double)(r->ops + r->aborts) : NAN);
    fputs("}\n", f);
    fflush(f);
}

static void bm_fmt(char *out, size_t n, double v, const char *fmt)
{
    if (isfinite(v))
        snprintf(out, n, fmt, v);
    else
        snprintf(out, n, "-");
}

/* 1234567 -> "1.23M" */
static void bm_fmt_rate(char *out, size_t n, double v)
{
    if (!isfinite(v))
        snprintf(out, n, "-");
    else if (v >= 1e6)
        snprintf(out, n, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(out, n, "%.1fk", v / 1e3);
    else
        snprintf(out, n, "%.0f", v);
}

static void bm_fmt_us(char *out, size_t n, double us)
{
    if (us >= 10000)
        snprintf(out, n, "%.0fms", us / 1000);
    else if (us >= 1000)
        snprintf(out, n, "%.1fms", us / 1000);
    else if (us >= 100)
        snprintf(out, n, "%.0f", us);
    else
        snprintf(out, n, "%.1f", us);
}

static const bm_row *bm_find_row(const bm_row *rows, int n, const char *workload, const char *engine)
{
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i].workload, workload) == 0 && strcmp(rows[i].engine, engine) == 0)
            return &rows[i];
    return NULL;
}

static double bm_worst_p99(const bm_row *r)
{
    double m = NAN;
    for (int k = 0; r && k < r->n_ops; k++)
        if (r->op[k].count && (!isfinite(m) || r->op[k].p99_us > m))
            m = r->op[k].p99_us;
    return m;
}

/* Rows in the order of their workload's first appearance, engines in run order. */
static int bm_order(const bm_row *rows, int n, int *order)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = strcmp(rows[j].workload, rows[i].workload) == 0;
        if (seen)
            continue;
        for (int j = i; j < n; j++)
            if (strcmp(rows[j].workload, rows[i].workload) == 0)
                order[k++] = j;
    }
    return k;
}

static void bm_print_table(FILE *out, const bm_row *rows, int n, const bm_flags *fl)
{
    int *order = calloc((size_t)n + 1, sizeof *order);
    if (!order)
        return;
    bm_order(rows, n, order);
    fprintf(out, "\nResults (latency in microseconds unless marked; x tind = peer throughput / tind's, "
                 ">1 means the peer is faster; w-amp: %s)\n",
            fl->dev_stat[0] ? "device sectors written / user bytes, syncfs-bracketed, settle included"
                            : "process write_bytes / user bytes (no block device found)");
    fprintf(out, "(drift X: the last third of the measured phase ran at X times the first third's pace: not steady)\n");
    fprintf(out, "%-17s %-10s %9s %7s  %-26s %-26s %6s %6s %7s %7s\n", "workload", "engine", "ops/s", "x tind",
                 "op1 p50/p99/p99.9", "op2 p50/p99/p99.9", "w-amp", "s-amp", "RSS MB", "load s");
    int rss_process = 0; /* rows whose RSS is the process's peak, not their phase's */
    for (int i = 0; i < n; i++) {
        const bm_row *r = &rows[order[i]];
        int first = i == 0 || strcmp(rows[order[i - 1]].workload, r->workload) != 0;
        if (first && i)
            fputc('\n', out);
        if (!r->ok) {
            fprintf(out, "%-17s %-10s  FAILED: %s\n", first ? r->workload : "", r->engine, r->error);
            continue;
        }
        const bm_row *t = bm_find_row(rows, n, r->workload, "tind");
        char thr[16], ratio[16], lat[2][64], wa[16], sa[16], rss[16], load[16];
        bm_fmt_rate(thr, sizeof thr, bm_throughput(r));
        bm_fmt(ratio, sizeof ratio, t ? bm_ratio(bm_throughput(r), bm_throughput(t)) : NAN, "%.2f");
        for (int k = 0; k < 2; k++) {
            lat[k][0] = 0;
            if (k < r->n_ops && r->op[k].count) {
                char a[16], b[16], c[16];
                bm_fmt_us(a, sizeof a, r->op[k].p50_us);
                bm_fmt_us(b, sizeof b, r->op[k].p99_us);
                bm_fmt_us(c, sizeof c, r->op[k].p999_us);
                snprintf(lat[k], sizeof lat[k], "%s %s/%s/%s", r->op[k].name, a, b, c);
            }
        }
        bm_fmt(wa, sizeof wa, bm_wamp_best(r), "%.2f");
        bm_fmt(sa, sizeof sa, bm_samp(r), "%.2f");
        snprintf(rss, sizeof rss, "%.0f%s", (double)r->peak_rss_kb / 1024.0, r->rss_phase ? "" : "*");
        rss_process += !r->rss_phase;
        bm_fmt(load, sizeof load, r->load_seconds > 0 ? r->load_seconds : NAN, "%.1f");
        if (r->aborts) /* txn-*: the second column shows the abort rate */
            snprintf(lat[1], sizeof lat[1], "aborts %.2f%%", 100.0 * (double)r->aborts / (double)(r->ops + r->aborts));
        /* a phase whose last third ran at another pace than its first is not steady */
        char drift[32] = "";
        double d = bm_drift(r);
        int fill = r->load_ops == r->ops && r->load_seconds == r->seconds; /* a fill grows: no steady state */
        if (isfinite(d) && (d < 0.8 || d > 1.25) && !fill)
            snprintf(drift, sizeof drift, "  drift %.2f", d);
        fprintf(out, "%-17s %-10s %9s %7s  %-26s %-26s %6s %6s %7s %7s%s%s\n", first ? r->workload : "", r->engine,
                thr, ratio, lat[0], lat[1], wa, sa, rss, load, r->misses ? "  MISSES!" : "", drift);
    }
    if (rss_process)
        fprintf(out, "(RSS MB *: the process's peak since the pair's child started (ru_maxrss), which may be an "
                     "earlier phase's: /proc/self/clear_refs or VmHWM was not available)\n");

    fprintf(out, "\ntind against its peers (throughput: tind / peer, >1 means tind is faster; p99, w-amp, RSS: "
                 "tind / rocksdb, <1 means tind is better)\n");
    fprintf(out, "%-17s %10s %-10s %10s %9s %9s %9s %7s %7s\n", "workload", "tind/best", "best peer", "tind/rocks",
                 "p99 t/r", "w-amp t/r", "RSS t/r", "s-amp", "targets");
    for (int i = 0; i < n; i++) {
        const bm_row *r = &rows[order[i]];
        if (strcmp(r->engine, "tind") != 0)
            continue;
        const bm_row *best = NULL, *rocks = bm_find_row(rows, n, r->workload, "rocksdb");
        if (!rocks) /* txn-*: the optimistic flavour (issue 12's target: 1.5x at low contention) */
            rocks = bm_find_row(rows, n, r->workload, "rocksdb-otxn");
        double bt = NAN;
        int beats_all = 1;
        for (int j = 0; j < n; j++) {
            const bm_row *q = &rows[j];
            /* peers only: tind-sw is tind's own single-writer flavour */
            if (strcmp(q->workload, r->workload) != 0 || strncmp(q->engine, "tind", 4) == 0 || !q->ok)
                continue;
            double qt = bm_throughput(q);
            if (!best || qt > bt) {
                best = q;
                bt = qt;
            }
            /* issue 15: reads and scans at least 0.8x LMDB's (a mapped file, no checksum) */
            int read_row = strcmp(r->workload, "micro/readrandom") == 0 || strcmp(r->workload, "micro/seekscan") == 0;
            double need = strcmp(q->engine, "rocksdb") == 0 || strcmp(q->engine, "rocksdb-otxn") == 0 ? 1.5
                          : strcmp(q->engine, "lmdb") == 0 && read_row                                   ? 0.8
                                                                                                         : 1.0;
            if (!(bm_throughput(r) >= need * qt))
                beats_all = 0;
        }
        char a[16], b[16], c[16], d[16], e[16], s[16];
        double tr = rocks ? bm_ratio(bm_throughput(r), bm_throughput(rocks)) : NAN;
        double p99r = rocks && rocks->ok ? bm_ratio(bm_worst_p99(r), bm_worst_p99(rocks)) : NAN;
        double war = rocks && rocks->ok ? bm_ratio(bm_wamp_best(r), bm_wamp_best(rocks)) : NAN;
        double rssr = rocks && rocks->ok ? bm_ratio((double)r->peak_rss_kb, (double)rocks->peak_rss_kb) : NAN;
        bm_fmt(a, sizeof a, best ? bm_ratio(bm_throughput(r), bt) : NAN, "%.2f");
        bm_fmt(b, sizeof b, tr, "%.2f");
        bm_fmt(c, sizeof c, p99r, p99r < 0.1 ? "%.3f" : "%.2f");
        bm_fmt(d, sizeof d, war, "%.2f");
        bm_fmt(e, sizeof e, rssr, "%.2f");
        bm_fmt(s, sizeof s, bm_samp(r), "%.2f");
        char targets[16];
        snprintf(targets, sizeof targets, "%c%c%c%c%c", best ? (beats_all ? 'T' : 't') : '-',
                 isfinite(p99r) ? (p99r <= 1.0 ? 'P' : 'p') : '-', isfinite(war) ? (war <= 0.8 ? 'W' : 'w') : '-',
                 isfinite(bm_samp(r)) ? (bm_samp(r) <= 1.15 ? 'S' : 's') : '-',
                 isfinite(rssr) ? (rssr <= 1.0 ? 'R' : 'r') : '-');
        fprintf(out, "%-17s %10s %-10s %10s %9s %9s %9s %7s %7s\n", r->workload, a, best ? best->engine : "-", b, c, d,
                e, s, targets);
    }
    fprintf(out, "targets (issue 5): upper case = met, lower case = missed: T throughput >= 1.5x rocksdb and >= every "
                 "other peer (0.8x lmdb on micro/readrandom and micro/seekscan), P p99 <= rocksdb, W w-amp <= 0.8x rocksdb, S s-amp <= "
                 "1.15, R RSS <= rocksdb\n");
    /* the bulk loads against the disk (issue 15: fillbatch >= 50%; issue 14:
     * the bulk loader's sorted load >= 50%) */
    int said = 0;
    for (int i = 0; i < n; i++) {
        const bm_row *r = &rows[order[i]];
        if (!r->ok || (strcmp(r->workload, "micro/fillbatch") != 0 && strncmp(r->workload, "bulkload/", 9) != 0))
            continue;
        if (!said++)
            fprintf(out, "\nbulk loads (micro/fillbatch: fillseq in batches of %d; bulkload/*: the engine's bulk "
                         "loader) against the disk's sequential write bandwidth "
                         "(%s: %.0f MB/s, %ld MiB O_DIRECT probe in this run; 0: not measured, see --disk-bw-mb):\n",
                    BW_BATCH_SIZE, fl->dev_name[0] ? fl->dev_name : "?", fl->disk_mbps, fl->disk_bw_mb);
        double mbps = bm_user_mbps(r);
        fprintf(out, "  %-17s %-12s %8.1f MB/s of keys + values", r->workload, r->engine, mbps);
        if (fl->disk_mbps > 0)
            fprintf(out, " = %5.1f%% of the disk", 100.0 * mbps / fl->disk_mbps);
        fputc('\n', out);
    }
    free(order);
}

/* ======================================================================
 * --self-check: the generators and the histogram against plain models
 * ====================================================================== */
static int bm_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define BM_CHECK(cond)                                                                  \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "tind-bench self-check: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            fails++;                                                                    \
        }                                                                               \
    } while (0)

static int bm_self_check(void)
{
    int fails = 0;
    bw_rng rng;
    trng_seed(&rng, 7);

    /* histogram quantiles within the bucket precision of the exact ones */
    enum { N = 200000 };
    uint64_t *v = malloc(N * sizeof *v);
    bench_hist *h = malloc(sizeof *h);
    if (!v || !h)
        return 1;
    bh_init(h);
    for (int i = 0; i < N; i++) {
        /* log-uniform over 100 ns .. 100 ms */
        v[i] = (uint64_t)(100.0 * pow(1e6, trng_double(&rng)));
        bh_record(h, v[i]);
    }
    qsort(v, N, sizeof *v, bm_cmp_u64);
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    for (int i = 0; i < 4; i++) {
        double exact = (double)v[(size_t)ceil(qs[i] * N) - 1], got = (double)bh_quantile(h, qs[i]);
        BM_CHECK(fabs(got - exact) <= exact / 100.0 + 1);
    }
    BM_CHECK(h->count == N && h->min == v[0] && h->max == v[N - 1]);
    for (uint64_t x = 1; x < ((uint64_t)1 << 40); x = x * 3 + 1) {
        unsigned b = bh_bucket_of(x);
        BM_CHECK(bh_bucket_low(b) <= x && (b + 1 >= BH_BUCKETS || bh_bucket_low(b + 1) > x));
    }
    free(h);

    /* the permutation is a bijection of [0, n) */
    const uint64_t sizes[] = {1, 2, 3, 1000, 1025, 65536, 100003};
    for (int s = 0; s < 7; s++) {
        uint64_t n = sizes[s];
        bw_perm p;
        bw_perm_init(&p, n, 99);
        for (uint64_t i = 0; i < n; i++)
            v[i] = bw_perm_at(&p, i);
        qsort(v, n, sizeof *v, bm_cmp_u64);
        int ok = 1;
        for (uint64_t i = 0; i < n; i++)
            ok &= v[i] == i;
        BM_CHECK(ok);
    }

    /* scrambled Zipfian over 1000 items: in range, skewed (the hottest item
     * takes 1/zeta = 3.8% of draws at theta 0.99 over 10^10 items) */
    bw_zipf z;
    bw_zipf_init(&z, 10000000000ull, 0.99, 26.46902820178302);
    uint64_t *count = calloc(1000, sizeof *count);
    if (!count)
        return 1;
    for (int i = 0; i < N; i++) {
        uint64_t k = bw_fnv64(bw_zipf_next(&z, &rng)) % 1000;
        BM_CHECK(k < 1000);
        count[k]++;
    }
    qsort(count, 1000, sizeof *count, bm_cmp_u64);
    BM_CHECK(count[999] > N / 40 && count[999] < N / 10);
    BM_CHECK(count[0] < N / 1000);
    /* the unscrambled generator over a small set: 0 is the most popular */
    bw_zipf small;
    bw_zipf_init(&small, 100, 0.99, 0);
    memset(count, 0, 1000 * sizeof *count);
    for (int i = 0; i < N; i++) {
        uint64_t k = bw_zipf_next(&small, &rng);
        BM_CHECK(k < 100);
        count[k]++;
    }
    BM_CHECK(count[0] > count[1] && count[1] > count[10] && count[10] > count[99]);
    free(count);

    char key[BW_KEY_SIZE + 1] = {0}, fk[64];
    bw_key(key, 42);
    BM_CHECK(strcmp(key, "0000000000000042") == 0);
    BM_CHECK(bw_feed_post_key(fk, 12, 345) == 24 && memcmp(fk, "u00000012#f#000000000345", 24) == 0);
    BM_CHECK(bw_feed_profile_key(fk, 12) == 11 && memcmp(fk, "u00000012#p", 11) == 0);
    free(v);
    if (!fails)
        printf("tind-bench self-check: ok\n");
    return fails ? 1 : 0;
}

/* ======================================================================
 * main
 * ====================================================================== */
static void bm_usage(FILE *f)
{
    fprintf(f,
            "usage: tind-bench [options]\n"
            "  --profile quick|full     default sizes (quick: a few minutes in all; full: BENCH.md sizes)\n"
            "  --engines LIST           comma list (default: every engine compiled in); an item\n"
            "                           ENGINE@W1+W2 runs that engine on those workloads only\n"
            "  --workloads LIST         comma list of workloads (--list) and groups: core = micro,ycsb-a,ycsb-b-sync,\n"
            "                           ycsb-b-sync-mt,medium,feed,blobs-4k; extra = queue,counter-merge,\n"
            "                           counter-rmw,txn-low,txn-high,bulkload,writeheavy,blobs-writeheavy (default all)\n"
            "  --keys N                 preloaded keys (feed: posts; 20 posts per user)\n"
            "  --value-size B           value bytes (default per workload)\n"
            "  --ops N | --seconds S    length of each measured phase (default: quick 3 s, full 30 s)\n"
            "  --warmup S               uncounted warm-up before each measured run phase, same mix\n"
            "                           (default: quick 1 s, full 10 s; 0 with --ops)\n"
            "  --load-batch N           preloads (not the micro fills) put in batches of N (default 1000; 1 = one by one)\n"
            "  --disk-bw-mb M           MiB written O_DIRECT to measure the disk's sequential bandwidth (default: quick\n"
            "                           256, full 1024, when micro runs; 0 = skip)\n"
            "  --estimate               print the plan and its estimated duration, run nothing\n"
            "  --preload-only           with --keep: load and cache the preloads of the selected runs, measure\n"
            "                           nothing (fills and bulk loads are skipped), so that a later run copies them\n"
            "  --threads T              client threads (default 1)\n"
            "  --cache-mb M             block cache of every engine (default per workload)\n"
            "  --encrypt                tind's database encrypted at rest (AES-256-GCM), reported\n"
            "                           as engine tind-aes; other engines run as usual\n"
            "  --seed S                 seed of every key and value stream (default 1)\n"
            "  --distribution D         uniform, zipfian or latest (default per workload)\n"
            "  --dir DIR                scratch folder (default ./bench-data)\n"
            "  --keep                   cache preloaded databases in DIR/preload and reuse them\n"
            "  --json FILE              append one JSON line per result to FILE\n"
            "  --settle-ms MS           quiet window that ends a settle (default: quick 300, full 1000)\n"
            "                           (tind's settle also waits for tind_wait_idle)\n"
            "  --no-drop-cache          do not evict the folder from the page cache before a run\n"
            "  --quiet                  no progress on stderr\n"
            "  --list                   print the engines and workloads and exit\n"
            "  --self-check             check the generators and the histogram, then exit\n"
            "  --feed-absent F          feed: fraction F of the reads ask for users that do not exist (default 0)\n"
            "  --tind-prefix            tind: prefix filters on the user part of the key (separator '#')\n");
}

/* Whether name is one of the comma list's items ("all" is not special). */
static int bm_in_list_exact(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = list; *s;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n && strncmp(s, name, n) == 0)
            return 1;
        s += len + (e ? 1 : 0);
    }
    return 0;
}

/* Whether engine be runs workload def: the txn-* workloads need its
 * transactions, and a transaction flavour (rocksdb-otxn) runs only those. */
/* Whether --engines selects engine for workload: 0 no, 1 by default (empty
 * list or "all"), 2 by name. An item "engine@w1+w2" names the engine for
 * those workloads only (e.g. wiredtiger@ycsb-b-sync). */
static int bm_engine_sel(const char *list, const char *engine, const char *workload)
{
    if (!*list || strcmp(list, "all") == 0)
        return 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *at = strchr(t, '@');
        if (at)
            *at++ = 0;
        if (strcmp(t, engine) != 0)
            continue;
        if (!at)
            return 2;
        for (char *s2 = NULL, *w = strtok_r(at, "+", &s2); w; w = strtok_r(NULL, "+", &s2))
            if (strcmp(w, workload) == 0)
                return 2;
    }
    return 0;
}

static int bm_runs(const bw_def *def, const bench_backend *be, const bm_flags *f)
{
    int sel = bm_engine_sel(f->engines, be->name, def->name);
    if (!sel || (f->preload_only && (def->kind == BW_MICRO || def->kind == BW_BULK)))
        return 0;
    /* tind-inline is the key-value separation baseline: the blob rows only,
     * unless named in --engines */
    if (strcmp(be->name, "tind-inline") == 0 && !def->blob_values && sel != 2)
        return 0;
    if (def->kind == BW_QUEUE) /* the queue needs range deletions: tind and RocksDB */
        return be->remove_range != NULL && !be->txn_only;
    if (def->kind == BW_BULK) /* a bulk loader (tind_ingest); the peers' batched load is micro/fillbatch */
        return be->bulk_load != NULL && !be->txn_only;
    return def->kind == BW_TXN ? be->txn_rmw != NULL : !be->txn_only;
}

/* Checks that every name of a comma list is known. */
static int bm_in_list(const char *list, const char *name)
{
    return !*list || strcmp(list, "all") == 0 || bm_in_list_exact(list, name);
}

/* Workload groups: --workloads core,extra,... (each name expands in place). */
static const struct {
    const char *name, *list;
} bm_groups[] = {
    {"core", "micro,ycsb-a,ycsb-b-sync,ycsb-b-sync-mt,medium,feed,blobs-4k"},
    {"extra", "queue,counter-merge,counter-rmw,txn-low,txn-high,bulkload,writeheavy,blobs-writeheavy"},
};

/* Rewrites list with every group name replaced by its workloads; -1 when too long. */
static int bm_expand_groups(char *list, size_t cap)
{
    char out[1024] = "", buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const char *add = t;
        for (size_t g = 0; g < sizeof bm_groups / sizeof bm_groups[0]; g++)
            if (strcmp(t, bm_groups[g].name) == 0)
                add = bm_groups[g].list;
        size_t have = strlen(out);
        if (snprintf(out + have, sizeof out - have, "%s%s", have ? "," : "", add) >= (int)(sizeof out - have))
            return -1;
    }
    if (strlen(out) >= cap)
        return -1;
    snprintf(list, cap, "%s", out);
    return 0;
}

static int bm_check_list(const char *list, int engines)
{
    if (!*list || strcmp(list, "all") == 0)
        return 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        char *at = engines ? strchr(s, '@') : NULL;
        if (at) { /* engine@w1+w2: the workloads must exist */
            *at++ = 0;
            for (char *s2 = NULL, *w = strtok_r(at, "+", &s2); w; w = strtok_r(NULL, "+", &s2))
                if (!bw_def_find(w)) {
                    fprintf(stderr, "tind-bench: unknown workload '%s' after %s@\n", w, s);
                    return -1;
                }
        }
        if (engines ? !bench_backend_find(s) : !bw_def_find(s)) {
            fprintf(stderr, "tind-bench: unknown %s '%s'%s\n", engines ? "engine" : "workload", s,
                    engines ? " (not compiled in? see --list)" : "");
            return -1;
        }
    }
    return 0;
}

static int bm_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    /* 2e6, 2M, 512k */
    if (*end == 'k' || *end == 'K')
        v *= 1e3, end++;
    else if (*end == 'm' || *end == 'M')
        v *= 1e6, end++;
    if (*end)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* ======================================================================
 * --estimate: the run's plan and duration, from load rates of a quiet run
 * of this 2-core VM (docs/bench/quick-2026-11-21b.jsonl, 200k keys) with
 * the B-trees' random inserts halved for the full profile's 10x larger data;
 * nothing is run (docs/BENCHMARKS.md "How to run")
 * ====================================================================== */
typedef struct bm_rate {
    const char *engine;         /* a prefix: "rocksdb" covers rocksdb-otxn */
    double random1, seq1;       /* single puts of 116-byte items per second: random / key order */
    double batch_seq, batch_random; /* items per second in batches of 1,000 */
} bm_rate;
static const bm_rate bm_rates[] = {
    {"tind", 300000, 550000, 700000, 400000},   {"rocksdb", 140000, 250000, 500000, 250000},
    {"leveldb", 200000, 450000, 500000, 250000}, {"lmdb", 70000, 180000, 500000, 150000},
    {"sqlite", 12000, 45000, 150000, 40000},    {"wiredtiger", 20000, 250000, 300000, 30000},
    {NULL, 10000, 30000, 50000, 20000}, /* any other: slow */
};

/* Seconds to put items items of item_bytes each: how 0 = random single puts,
 * 1 = key order, 2 = batches in key order, 3 = batches in random order. */
static double bm_est_load(const char *engine, int how, uint64_t items, size_t item_bytes)
{
    const bm_rate *r = bm_rates;
    while (r->engine && strncmp(engine, r->engine, strlen(r->engine)) != 0)
        r++;
    double rate = how == 0 ? r->random1 : how == 1 ? r->seq1 : how == 2 ? r->batch_seq : r->batch_random;
    if (item_bytes > 116) /* larger items: fewer per second, more bytes per second */
        rate *= sqrt(116.0 / (double)item_bytes);
    return (double)items / rate;
}

/* Seconds an engine's settle takes after a phase of `secs` whose fraction
 * wf of operations write items of item_bytes: the LSMs compact what the
 * phase wrote (~100 MB/s on 2 cores; writes at about their random-load pace),
 * the B-trees only write back their dirty pages (a tenth of it). */
static double bm_est_settle(const char *engine, double wf, double secs, size_t item_bytes)
{
    int lsm = !strncmp(engine, "tind", 4) || !strncmp(engine, "rocksdb", 7) || !strcmp(engine, "leveldb");
    double written = wf * secs * (double)item_bytes / bm_est_load(engine, 0, 1, item_bytes) / 1e6;
    return written / 100.0 * (lsm ? 1.0 : 0.1);
}

static int bm_estimate(const bm_flags *f)
{
    /* the settle of a phase: the backend's flush and compactions of what it
     * wrote (~100 MB/s) and two quiet windows */
    const double settle_fixed = 2.0 * f->settle_ms / 1000.0 + 1.0;
    const double copy_mbps = 300;    /* cached preload copied back, and the page cache dropped */
    char (*seen)[1024] = calloc(BM_MAX_ROWS, sizeof *seen);
    if (!seen)
        return 1;
    int nseen = 0, pairs = 0;
    double total = f->disk_bw_mb > 0 ? (double)f->disk_bw_mb / 150.0 : 0;
    printf("tind-bench --estimate (%s profile, warm-up %.0f s, measured %s, settle window %d ms, preload batches %ld%s):\n",
           f->profile == BW_PROFILE_QUICK ? "quick" : "full", f->warmup,
           f->ops ? "by --ops" : "by seconds", f->settle_ms, f->load_batch, f->keep ? ", --keep" : "");
    printf("%-12s %-12s %8s %8s %8s  %s\n", "workload", "engine", "load s", "run s", "total s", "load");
    for (const bw_def *def = bw_defs; def->name; def++) {
        if (!bm_in_list(f->workloads, def->name))
            continue;
        for (int e = 0; bench_backends[e]; e++) {
            const bench_backend *be = bench_backends[e];
            if (!bm_runs(def, be, f))
                continue;
            bm_ctx c;
            memset(&c, 0, sizeof c);
            c.flags = f;
            c.be = be;
            bm_params(f, def, be, &c.params);
            const bw_params *p = &c.params;
            double secs = p->ops ? (double)p->ops / 50000.0 : p->seconds;
            double phase = f->warmup + secs + settle_fixed + 2; /* + open, drop cache, close */
            size_t item = BW_KEY_SIZE + p->value_size;
            double bytes_mb = (double)bw_live_bytes_loaded(p) / 1e6;
            double load = 0, run = 0;
            const char *how = "";
            if (def->kind == BW_MICRO) {
                load = bm_est_load(be->name, 1, p->keys, item) + bm_est_load(be->name, 2, p->keys, item) +
                       bm_est_load(be->name, 0, p->keys, item) + 3 * (settle_fixed + bytes_mb / 100);
                run = 3 * phase + bm_est_settle(be->name, 1.0, f->warmup + secs, item); /* overwrite */
                how = "fillseq, fillbatch, fillrandom";
            } else if (def->kind == BW_BULK) {
                if (be->bulk_load)
                    load = 2 * (bm_est_load(be->name, 2, p->keys, item) / 2 + settle_fixed + bytes_mb / 100);
                how = be->bulk_load ? "2 bulk loads" : "no bulk loader: fails at once";
            } else {
                uint64_t items = def->kind == BW_FEED ? p->feed_users * (1 + p->feed_posts_per_user) : p->keys;
                char ds[1024];
                bm_dataset_dir(&c, ds, sizeof ds);
                char marker[2048];
                bm_path(marker, sizeof marker, ds, "tind-bench-preload.txt");
                int cached = f->keep && bm_exists(marker);
                for (int i = 0; i < nseen && !cached; i++)
                    cached = strcmp(seen[i], ds) == 0;
                if (cached) {
                    load = f->preload_only ? 0 : bytes_mb / copy_mbps;
                    how = f->preload_only ? "cached already" : "copy of the cached preload";
                } else {
                    int h = f->load_batch > 1 ? (def->kind == BW_QUEUE ? 2 : 3) : (def->kind == BW_QUEUE ? 1 : 0);
                    load = bm_est_load(be->name, h, items, item) + settle_fixed + bytes_mb / 100;
                    if (f->keep) {
                        load += 2 * bytes_mb / copy_mbps; /* cached, then copied back */
                        if (nseen < BM_MAX_ROWS)
                            snprintf(seen[nseen++], sizeof seen[0], "%s", ds);
                    }
                    how = f->load_batch > 1 ? "preload in batches" : "preload";
                }
                /* the mix's writes (synced ones go at the disk's sync pace: few) */
                double wf = def->kind == BW_MIX || def->kind == BW_FEED ? 1 - def->read_fraction : 0.5;
                if (def->sync_writes)
                    wf *= 0.02;
                run = f->preload_only ? 0 : phase + bm_est_settle(be->name, wf, f->warmup + secs, item);
            }
            pairs++;
            total += load + run;
            printf("%-12s %-12s %8.0f %8.0f %8.0f  %s\n", def->name, be->name, load, run, load + run, how);
        }
    }
    long t = (long)(total + 0.5);
    printf("estimated: %ld:%02ld:%02ld for %d workload-engine runs (a quiet 2-core machine; a loaded one is slower)\n",
           t / 3600, t / 60 % 60, t % 60, pairs);
    free(seen);
    return 0;
}

int main(int argc, char **argv)
{
    bm_flags f;
    memset(&f, 0, sizeof f);
    f.profile = BW_PROFILE_QUICK;
    f.threads = 1;
    f.seed = 1;
    f.dist = -1;
    f.settle_ms = 0; /* 0: by profile */
    f.drop_cache = 1;
    f.warmup = -1;
    f.disk_bw_mb = -1;
    f.load_batch = -1;
    snprintf(f.dir, sizeof f.dir, "./bench-data");
    enum { O_PROFILE = 256, O_ENGINES, O_WORKLOADS, O_KEYS, O_VSIZE, O_OPS, O_SECONDS, O_THREADS, O_CACHE, O_SEED,
           O_DIST, O_DIR, O_KEEP, O_JSON, O_SETTLE, O_NODROP, O_QUIET, O_LIST, O_HELP, O_SELF, O_ABSENT,
           O_TPREFIX, O_ENCRYPT, O_WARMUP, O_ESTIMATE, O_DISKBW, O_LOADBATCH, O_PRELOAD };
    static const struct option opts[] = {
        {"profile", required_argument, 0, O_PROFILE},     {"engines", required_argument, 0, O_ENGINES},
        {"workloads", required_argument, 0, O_WORKLOADS}, {"keys", required_argument, 0, O_KEYS},
        {"value-size", required_argument, 0, O_VSIZE},    {"ops", required_argument, 0, O_OPS},
        {"seconds", required_argument, 0, O_SECONDS},     {"threads", required_argument, 0, O_THREADS},
        {"cache-mb", required_argument, 0, O_CACHE},      {"seed", required_argument, 0, O_SEED},
        {"distribution", required_argument, 0, O_DIST},   {"dir", required_argument, 0, O_DIR},
        {"keep", no_argument, 0, O_KEEP},                 {"json", required_argument, 0, O_JSON},
        {"settle-ms", required_argument, 0, O_SETTLE},    {"no-drop-cache", no_argument, 0, O_NODROP},
        {"quiet", no_argument, 0, O_QUIET},               {"list", no_argument, 0, O_LIST},
        {"help", no_argument, 0, O_HELP},                 {"self-check", no_argument, 0, O_SELF},
        {"encrypt", no_argument, 0, O_ENCRYPT},
        {"feed-absent", required_argument, 0, O_ABSENT},  {"tind-prefix", no_argument, 0, O_TPREFIX},
        {"warmup", required_argument, 0, O_WARMUP},       {"estimate", no_argument, 0, O_ESTIMATE},
        {"disk-bw-mb", required_argument, 0, O_DISKBW},   {"load-batch", required_argument, 0, O_LOADBATCH},
        {"preload-only", no_argument, 0, O_PRELOAD},
        {0, 0, 0, 0},
    };
    int ch;
    uint64_t u;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case O_PROFILE:
            if (strcmp(optarg, "quick") == 0)
                f.profile = BW_PROFILE_QUICK;
            else if (strcmp(optarg, "full") == 0)
                f.profile = BW_PROFILE_FULL;
            else
                goto usage;
            break;
        case O_ENGINES: snprintf(f.engines, sizeof f.engines, "%s", optarg); break;
        case O_WORKLOADS: snprintf(f.workloads, sizeof f.workloads, "%s", optarg); break;
        case O_KEYS:
            if (bm_parse_u64(optarg, &f.keys) || f.keys == 0)
                goto usage;
            break;
        case O_VSIZE:
            if (bm_parse_u64(optarg, &u) || u == 0 || u > (64u << 20))
                goto usage;
            f.value_size = (size_t)u;
            break;
        case O_OPS:
            if (bm_parse_u64(optarg, &f.ops) || f.ops == 0)
                goto usage;
            break;
        case O_SECONDS:
            f.seconds = atof(optarg);
            if (f.seconds <= 0)
                goto usage;
            break;
        case O_THREADS:
            f.threads = atoi(optarg);
            if (f.threads < 1 || f.threads > BW_MAX_THREADS)
                goto usage;
            break;
        case O_CACHE:
            if (bm_parse_u64(optarg, &u) || u == 0)
                goto usage;
            f.cache_mb = (size_t)u;
            break;
        case O_SEED:
            if (bm_parse_u64(optarg, &f.seed))
                goto usage;
            break;
        case O_DIST:
            if ((f.dist = bw_dist_parse(optarg)) < 0)
                goto usage;
            break;
        case O_DIR: snprintf(f.dir, sizeof f.dir, "%s", optarg); break;
        case O_KEEP: f.keep = 1; break;
        case O_ENCRYPT: f.encrypt = 1; break;
        case O_JSON: snprintf(f.json, sizeof f.json, "%s", optarg); break;
        case O_SETTLE:
            f.settle_ms = atoi(optarg);
            if (f.settle_ms < 1)
                goto usage;
            break;
        case O_NODROP: f.drop_cache = 0; break;
        case O_QUIET: f.quiet = 1; break;
        case O_ABSENT:
            f.feed_absent = atof(optarg);
            if (!(f.feed_absent >= 0 && f.feed_absent <= 1))
                goto usage;
            break;
        case O_TPREFIX: f.tind_prefix = 1; break;
        case O_WARMUP: {
            char *end;
            f.warmup = strtod(optarg, &end);
            if (*end || !(f.warmup >= 0 && f.warmup <= 3600))
                goto usage;
            break;
        }
        case O_ESTIMATE: f.estimate = 1; break;
        case O_PRELOAD: f.preload_only = 1; break;
        case O_DISKBW:
            f.disk_bw_mb = atol(optarg);
            if (f.disk_bw_mb < 0 || f.disk_bw_mb > (1L << 20))
                goto usage;
            break;
        case O_LOADBATCH:
            f.load_batch = atol(optarg);
            if (f.load_batch < 0 || f.load_batch > BW_BATCH_SIZE)
                goto usage;
            break;
        case O_LIST:
            printf("engines:");
            for (int i = 0; bench_backends[i]; i++)
                printf(" %s%s", bench_backends[i]->name, bench_backends[i]->thread_safe ? "" : "(1 thread)");
            printf("\nworkloads:\n");
            for (const bw_def *d = bw_defs; d->name; d++)
                printf("  %-12s %s\n", d->name, d->about);
            return 0;
        case O_HELP: bm_usage(stdout); return 0;
        case O_SELF: return bm_self_check();
        default: goto usage;
        }
    }
    if (optind != argc)
        goto usage;
    if (f.settle_ms == 0)
        f.settle_ms = f.profile == BW_PROFILE_QUICK ? 300 : 1000;
    /* steady state: a warm-up before every measured run phase; a run of
     * --ops (tests, exact counts) has none unless asked */
    if (f.warmup < 0)
        f.warmup = f.ops ? 0 : f.profile == BW_PROFILE_QUICK ? 1 : 10;
    if (f.load_batch < 0)
        f.load_batch = BW_BATCH_SIZE;
    if (f.preload_only && !f.keep) {
        fprintf(stderr, "tind-bench: --preload-only needs --keep (it fills the preload cache)\n");
        return 2;
    }
    if (bm_expand_groups(f.workloads, sizeof f.workloads)) {
        fprintf(stderr, "tind-bench: --workloads: the list is too long\n");
        return 2;
    }
    if (bm_check_list(f.engines, 1) || bm_check_list(f.workloads, 0))
        return 2;
    /* the disk's bandwidth is what micro/fillbatch and bulkload are judged against */
    if (f.disk_bw_mb < 0)
        f.disk_bw_mb = f.ops || f.preload_only ||
                               !(bm_in_list(f.workloads, "micro") || bm_in_list(f.workloads, "bulkload"))
                           ? 0
                       : f.profile == BW_PROFILE_QUICK                          ? 256
                                                                                : 1024;
    if (f.estimate)
        return bm_estimate(&f);
    if (bm_mkdirs(f.dir)) {
        fprintf(stderr, "tind-bench: cannot create %s: %s\n", f.dir, strerror(errno));
        return 2;
    }
    FILE *json = NULL;
    if (f.json[0]) {
        json = strcmp(f.json, "-") == 0 ? stdout : fopen(f.json, "a");
        if (!json) {
            fprintf(stderr, "tind-bench: cannot open %s: %s\n", f.json, strerror(errno));
            return 2;
        }
    }
    const char *profile = f.profile == BW_PROFILE_QUICK ? "quick" : "full";
    if (bm_dev_find(f.dir, f.dev_stat, sizeof f.dev_stat, f.dev_name, sizeof f.dev_name) != 0)
        f.dev_stat[0] = f.dev_name[0] = 0;
    if (!f.quiet)
        fprintf(stderr, "tind-bench: %s holds %s: %s\n", f.dev_name[0] ? f.dev_name : "no block device", f.dir,
                f.dev_name[0] ? "write amplification from its sectors written (every process's: keep the machine quiet)"
                              : "write amplification from /proc/self/io write_bytes only");
    if (f.disk_bw_mb > 0) {
        f.disk_mbps = bm_disk_bandwidth(f.dir, f.disk_bw_mb);
        if (!f.quiet)
            fprintf(stderr, "tind-bench: sequential write bandwidth of %s: %.0f MB/s (%ld MiB, O_DIRECT, fdatasync)\n",
                    f.dev_name[0] ? f.dev_name : f.dir, f.disk_mbps, f.disk_bw_mb);
    }
    bm_row *rows = calloc(BM_MAX_ROWS, sizeof *rows);
    if (!rows)
        return 1;
    int nrows = 0, bad = 0;
    int step = 0, steps = 0;
    for (const bw_def *def = bw_defs; def->name; def++)
        for (int e = 0; bench_backends[e]; e++)
            steps += bm_in_list(f.workloads, def->name) &&
                     bm_runs(def, bench_backends[e], &f);
    double run_start = bm_now();

    for (const bw_def *def = bw_defs; def->name; def++) {
        if (!bm_in_list(f.workloads, def->name))
            continue;
        for (int e = 0; bench_backends[e]; e++) {
            const bench_backend *be = bench_backends[e];
            if (!bm_runs(def, be, &f))
                continue;
            bm_ctx *c = calloc(1, sizeof *c);
            if (!c)
                return 1;
            c->flags = &f;
            c->be = be;
            c->step = ++step;
            c->steps = steps;
            /* the runs done so far at their mean pace */
            if (step > 1)
                c->run_end = run_start + (bm_now() - run_start) / (step - 1) * steps;
            bm_params(&f, def, be, &c->params);
            if (!f.quiet)
                fprintf(stderr, "tind-bench: %-12s %-10s keys %" PRIu64 ", value %zu B, cache %zu MiB, %d thread%s, %s\n",
                        def->name, be->name, c->params.keys, c->params.value_size, c->params.cache_bytes >> 20,
                        c->params.threads, c->params.threads > 1 ? "s" : "", bw_dist_name(c->params.dist));
            int pfd[2];
            if (pipe(pfd) != 0) {
                perror("pipe");
                return 1;
            }
            fflush(NULL);
            pid_t pid = fork();
            if (pid < 0) {
                perror("fork");
                return 1;
            }
            if (pid == 0) {
                close(pfd[0]);
                signal(SIGPIPE, SIG_IGN);
                bm_child(c, pfd[1]);
                close(pfd[1]);
                _exit(0);
            }
            close(pfd[1]);
            int got = 0;
            for (;;) {
                bm_row *r = nrows < BM_MAX_ROWS ? &rows[nrows] : &rows[BM_MAX_ROWS - 1];
                size_t have = 0;
                while (have < sizeof *r) {
                    ssize_t n = read(pfd[0], (char *)r + have, sizeof *r - have);
                    if (n < 0 && errno == EINTR)
                        continue;
                    if (n <= 0)
                        break;
                    have += (size_t)n;
                }
                if (have < sizeof *r)
                    break;
                got++;
                if (!r->ok || r->misses)
                    bad = 1;
                if (json)
                    bm_json_row(json, r, profile, &f);
                if (!f.quiet) {
                    if (r->ok)
                        fprintf(stderr, "tind-bench:   %-17s %-10s %12.0f ops/s in %.1f s%s\n", r->workload, r->engine,
                                bm_throughput(r), r->seconds, r->misses ? " (MISSES)" : "");
                    else
                        fprintf(stderr, "tind-bench:   %-17s %-10s FAILED: %s\n", r->workload, r->engine, r->error);
                }
                if (nrows < BM_MAX_ROWS)
                    nrows++;
            }
            close(pfd[0]);
            int status = 0;
            waitpid(pid, &status, 0);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || (got == 0 && !f.preload_only)) {
                bad = 1;
                if (nrows < BM_MAX_ROWS) {
                    bm_row *r = &rows[nrows++];
                    memset(r, 0, sizeof *r);
                    snprintf(r->engine, sizeof r->engine, "%s", be->name);
                    snprintf(r->workload, sizeof r->workload, "%s", def->name);
                    r->dev_write_bytes = r->load_dev_write_bytes = UINT64_MAX; /* unknown */
                    if (WIFSIGNALED(status))
                        snprintf(r->error, sizeof r->error, "the child died of signal %d (%s)", WTERMSIG(status),
                                 strsignal(WTERMSIG(status)));
                    else
                        snprintf(r->error, sizeof r->error, "the child exited with status %d after %d results",
                                 WEXITSTATUS(status), got);
                    if (json)
                        bm_json_row(json, r, profile, &f);
                    fprintf(stderr, "tind-bench:   %-17s %-10s FAILED: %s\n", r->workload, r->engine, r->error);
                }
            }
            free(c);
        }
    }
    if (!f.preload_only)
        bm_print_table(stdout, rows, nrows, &f);
    else if (!f.quiet)
        fprintf(stderr, "tind-bench: preloads cached in %s/preload\n", f.dir);
    if (json && json != stdout)
        fclose(json);
    /* last, where a log cut to its ends still shows them */
    for (int i = 0; i < nrows; i++)
        if (!rows[i].ok || rows[i].misses)
            fprintf(stderr, "tind-bench: FAILED %s on %s: %s\n", rows[i].engine, rows[i].workload,
                    !rows[i].ok ? rows[i].error : "reads of keys that must exist found none or a wrong size");
    free(rows);
    return bad ? 1 : 0;
usage:
    bm_usage(stderr);
    return 2;
}
