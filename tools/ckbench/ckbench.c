/*
 * ckbench.c -- tind-ckbench: what checkpoints and backups of a large
 * database cost (issue 14): seconds, bytes copied and hard-linked, bytes
 * the process wrote, on a real folder.
 *
 *   fill         N keys ("k" + 15 digits) with V-byte values (random bytes:
 *                LZ4 leaves them as they are, so the folder is N x V on
 *                disk) ingested sorted into one keyspace (tind_ingest:
 *                the last level, durable when it returns)
 *   checkpoint   tind_checkpoint into DIR/ck (the database's file system:
 *                tables hard-linked), then into OTHER/ck (--other-fs, e.g.
 *                a tmpfs: every file copied) when it has room
 *   backup       tind_backup_create into DIR/backups: the full backup; then
 *                F x N random overwrites, tind_flush, an incremental backup
 *                (the new level-0 table), tind_wait_idle (the compactions
 *                that merge it down), another incremental backup
 *   verify       tind_backup_verify of the full backup, and of every backup
 *   restore      tind_backup_restore of the newest backup into DIR/restored
 *   --bulk       only this, instead of the above: the bulk-load figures
 *                (tind_ingest of the keys sorted, then shuffled, each into
 *                a keyspace of its own), wall and CPU time
 *
 * Before every timed step each file of the folders it reads is synced and
 * dropped from the page cache (posix_fadvise DONTNEED), so a step reads
 * from the disk. "written" is the process's /proc/self/io write_bytes over
 * the step (bytes sent to the block layer; a tmpfs counts none); "copied"
 * and "linked" are the bytes of the files the step made (linked = files
 * with more than one link, i.e. shared with the database), or the backup's
 * progress total for a backup. Every copy is checked: the checkpoints and
 * the restore are opened and a sample of keys read (the overwritten keys
 * must show their new values), so a broken build cannot report a figure.
 *
 * Usage: tind-ckbench [--dir DIR] [--other-fs DIR] [--keys N]
 *                     [--value-size V] [--change F] [--keep]
 *   defaults: --dir ./ckbench-data --keys 100000 --value-size 1024
 *   --change 0.01; 5 GB: --keys 5000000; the docs/BENCHMARKS.md bulk-load
 *   figures: --bulk --keys 2000000 --value-size 100. The folders are
 *   removed at the end unless --keep.
 */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "tind.h"

#define KEY_BYTES 16

static uint64_t n_keys = 100000, value_size = 1024;
static double change = 0.01;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc, tind_db *db)
{
    fprintf(stderr, "tind-ckbench: %s: %s (%s)\n", what, tind_strerror(rc), tind_errmsg(db));
    exit(1);
}

#define CHECKED(call, what, db) do { int rc_ = (call); if (rc_) die(what, rc_, db); } while (0)

static uint64_t write_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    uint64_t v = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %" SCNu64, &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

/* ---- keys and values: value of key i, generation g = (i, g, random bytes of seed (i, g)) */

static void make_key(char *k, uint64_t i) { snprintf(k, 24, "k%015" PRIu64, i); }

static void make_value(unsigned char *v, uint64_t i, uint64_t gen)
{
    uint64_t s = (i * 0x9E3779B97F4A7C15ull) ^ (gen + 1) * 0xD1B54A32D192ED03ull;
    memcpy(v, &i, 8);
    memcpy(v + 8, &gen, 8);
    for (size_t o = 16; o < value_size; o += 8) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        memcpy(v + o, &s, value_size - o < 8 ? value_size - o : 8);
    }
}

/* The j-th overwritten key: distinct for j < N (the multiplier is a prime that does not divide N). */
static uint64_t changed_key(uint64_t j) { return (j * 2654435761ull) % n_keys; }
static uint64_t n_changed(void) { return (uint64_t)(change * (double)n_keys); }

/* Whether key i is overwritten: j = i x (2654435761^-1 mod N) < the count
 * (the inverse by extended Euclid; N <= 2^32 keeps the products in 64 bits). */
static int is_changed(uint64_t i, uint64_t changed)
{
    int64_t r0 = (int64_t)n_keys, r1 = (int64_t)(2654435761ull % n_keys), t0 = 0, t1 = 1;
    while (r1) {
        int64_t q = r0 / r1, r = r0 - q * r1, t = t0 - q * t1;
        r0 = r1, r1 = r, t0 = t1, t1 = t;
    }
    uint64_t inv = (uint64_t)(t0 < 0 ? t0 + (int64_t)n_keys : t0);
    return i * inv % n_keys < changed;
}

/* ---- folders: size, links, page cache, removal */

static uint64_t walk_bytes, walk_linked, walk_files;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type != FTW_F)
        return 0;
    walk_files++;
    walk_bytes += (uint64_t)st->st_size;
    if (st->st_nlink > 1)
        walk_linked += (uint64_t)st->st_size;
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {   /* out of the page cache: the next step reads the disk */
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    return 0;
}

/* Counts dir's files and bytes (walk_*) and drops them from the page cache. */
static void walk(const char *dir)
{
    walk_bytes = walk_linked = walk_files = 0;
    nftw(dir, walk_one, 32, FTW_PHYS);
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *dir) { nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS); }

/* ---- one line per step */

static void report(const char *step, double secs, uint64_t wb0, uint64_t copied, uint64_t linked, uint64_t files)
{
    uint64_t wb = write_bytes() - wb0;
    printf("%-28s %9.2f s %11.1f MB copied %11.1f MB linked %7" PRIu64 " files %11.1f MB written %8.1f MB/s\n",
           step, secs, copied / 1e6, linked / 1e6, files, wb / 1e6, secs > 0 ? copied / 1e6 / secs : 0);
    fflush(stdout);
}

/* ---- checks: open a copy, read a sample; the overwritten keys show generation `gen` */

static void check_key(tind_keyspace *ks, tind_db *db, uint64_t i, uint64_t gen, const char *what)
{
    char k[24];
    unsigned char *want = malloc(value_size);
    void *v;
    size_t vlen;
    make_key(k, i);
    make_value(want, i, gen);
    CHECKED(tind_get(ks, k, KEY_BYTES, NULL, &v, &vlen), what, db);
    if (vlen != value_size || memcmp(v, want, vlen) != 0) {
        fprintf(stderr, "tind-ckbench: %s: key %s holds a wrong value\n", what, k);
        exit(1);
    }
    tind_free(v);
    free(want);
}

static void check_copy(const char *dir, uint64_t changed, const char *what)
{
    tind_db *db;
    tind_keyspace *ks;
    CHECKED(tind_open(dir, NULL, &db), what, NULL);
    CHECKED(tind_keyspace_open(db, "bench", NULL, &ks), what, db);
    for (uint64_t j = 0; j < 1000; j++) {   /* spread over the key space */
        uint64_t i = j * (n_keys / 1000);
        check_key(ks, db, i, is_changed(i, changed) ? 1 : 0, what);
    }
    for (uint64_t j = 0; j < changed && j < 1000; j++)
        check_key(ks, db, changed_key(j), 1, what);
    CHECKED(tind_close(db), what, NULL);
}

/* ---- steps */

typedef struct fill_ctx {
    uint64_t i;
    int shuffled;   /* keys in the order changed_key(0, 1, ...): a permutation */
    char key[24];
    unsigned char *val;
} fill_ctx;

static int fill_next(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    fill_ctx *c = ctx;
    if (c->i == n_keys)
        return 0;
    uint64_t k = c->shuffled ? changed_key(c->i) : c->i;
    make_key(c->key, k);
    make_value(c->val, k, 0);
    c->i++;
    *key = c->key, *klen = KEY_BYTES, *val = c->val, *vlen = value_size;
    return 1;
}

static uint64_t progress_done, progress_total;

static void backup_progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)ctx;
    progress_done = done, progress_total = total;
}

static void timed_checkpoint(tind_db *db, const char *src, const char *dst, const char *step)
{
    walk(src);
    uint64_t wb0 = write_bytes();
    double t0 = now_s();
    CHECKED(tind_checkpoint(db, dst), step, db);
    double secs = now_s() - t0;
    walk(dst);
    report(step, secs, wb0, walk_bytes - walk_linked, walk_linked, walk_files);
    check_copy(dst, 0, step);
    rm_rf(dst);
}

static void timed_backup(tind_db *db, const char *src, const char *bk, const char *step)
{
    walk(src);
    walk(bk);
    uint64_t wb0 = write_bytes(), id;
    progress_done = progress_total = 0;
    double t0 = now_s();
    CHECKED(tind_backup_create(db, bk, backup_progress, NULL, &id), step, db);
    double secs = now_s() - t0;
    tind_backup_info *list;
    size_t count;
    CHECKED(tind_backup_list(bk, &list, &count), step, NULL);
    const tind_backup_info *b = &list[count - 1];
    report(step, secs, wb0, b->bytes - b->shared_bytes, 0, b->files);
    printf("%-28s backup %" PRIu64 ": %.1f MB in all, %.1f MB shared with other backups; progress %.1f of %.1f MB\n",
           "", b->id, b->bytes / 1e6, b->shared_bytes / 1e6, progress_done / 1e6, progress_total / 1e6);
    tind_free(list);
}

static void timed_verify(const char *bk, uint64_t id, const char *step)
{
    walk(bk);
    double t0 = now_s();
    CHECKED(tind_backup_verify(bk, id, NULL, NULL), step, NULL);
    double secs = now_s() - t0;
    tind_backup_info *list;
    size_t count;
    CHECKED(tind_backup_list(bk, &list, &count), step, NULL);
    uint64_t bytes = 0;   /* the bytes read: verify reads a stored file once per backup that holds it */
    for (size_t i = 0; i < count; i++)
        if (!id || list[i].id == id)
            bytes += list[i].bytes;
    tind_free(list);
    printf("%-28s %9.2f s %11.1f MB checked %42s %8.1f MB/s\n", step, secs, bytes / 1e6, "", bytes / 1e6 / secs);
    fflush(stdout);
}

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* --bulk: tind_ingest of the keys sorted (streamed), then shuffled (sorted
 * in runs), each into a keyspace of its own; wall and CPU time. */
static void bulk(const char *db_dir)
{
    tind_db *db;
    CHECKED(tind_open(db_dir, NULL, &db), "open", NULL);
    double mb = (double)n_keys * (double)(KEY_BYTES + value_size) / 1e6;
    for (int shuffled = 0; shuffled <= 1; shuffled++) {
        tind_keyspace *ks;
        CHECKED(tind_keyspace_open(db, shuffled ? "shuffled" : "sorted", NULL, &ks), "keyspace", db);
        fill_ctx fc = {.shuffled = shuffled, .val = malloc(value_size)};
        uint64_t count;
        double t0 = now_s(), c0 = cpu_s();
        CHECKED(tind_ingest(ks, fill_next, &fc, shuffled ? 0 : TIND_INGEST_SORTED, 0, NULL, NULL, &count), "ingest",
                db);
        double secs = now_s() - t0, cpu = cpu_s() - c0;
        printf("ingest %-8s %" PRIu64 " pairs, %.1f MB in %.2f s wall (%.1f MB/s), %.2f s CPU (%.1f MB/s of CPU)\n",
               shuffled ? "unsorted" : "sorted", count, mb, secs, mb / secs, cpu, mb / cpu);
        free(fc.val);
    }
    CHECKED(tind_close(db), "close", NULL);
}

int main(int argc, char **argv)
{
    const char *dir = "./ckbench-data", *other = NULL;
    int keep = 0, bulk_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--other-fs") && i + 1 < argc)
            other = argv[++i];
        else if (!strcmp(argv[i], "--keys") && i + 1 < argc)
            n_keys = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--value-size") && i + 1 < argc)
            value_size = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--change") && i + 1 < argc)
            change = atof(argv[++i]);
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else if (!strcmp(argv[i], "--bulk"))
            bulk_only = 1;
        else {
            fprintf(stderr, "usage: tind-ckbench [--dir DIR] [--other-fs DIR] [--keys N] [--value-size V] "
                            "[--change F] [--keep] [--bulk]\n");
            return 2;
        }
    }
    if (n_keys < 1000 || n_keys > (1ull << 32) || value_size < 16 || change < 0 || change > 1) {
        fprintf(stderr, "tind-ckbench: --keys in [1000, 2^32], --value-size >= 16, "
                        "--change in [0, 1]\n");
        return 2;
    }
    char db_dir[4096], ck[4096], ck_other[4096], bk[4096], restored[4096];
    snprintf(db_dir, sizeof db_dir, "%s/db", dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(bk, sizeof bk, "%s/backups", dir);
    snprintf(restored, sizeof restored, "%s/restored", dir);
    /* the process id in the name: two runs sharing --other-fs must not meet
     * (a checkpoint removes a leftover DIR.tmp that holds only a copy's files) */
    snprintf(ck_other, sizeof ck_other, "%s/ckbench-%ld", other ? other : "", (long)getpid());
    rm_rf(dir);
    mkdir(dir, 0755);
    if (bulk_only) {
        bulk(db_dir);
        if (!keep)
            rm_rf(dir);
        return 0;
    }
    printf("tind-ckbench %s: %" PRIu64 " keys x %" PRIu64 " B values in %s, %.2f%% overwritten between backups\n",
           tind_version(), n_keys, value_size, dir, change * 100);

    /* fill */
    tind_db *db;
    tind_keyspace *ks;
    CHECKED(tind_open(db_dir, NULL, &db), "open", NULL);
    CHECKED(tind_keyspace_open(db, "bench", NULL, &ks), "keyspace", db);
    fill_ctx fc = {.val = malloc(value_size)};
    uint64_t wb0 = write_bytes(), count;
    double t0 = now_s();
    CHECKED(tind_ingest(ks, fill_next, &fc, TIND_INGEST_SORTED, 0, NULL, NULL, &count), "ingest", db);
    double secs = now_s() - t0;
    walk(db_dir);
    report("fill (tind_ingest, sorted)", secs, wb0, walk_bytes, 0, walk_files);
    uint64_t db_bytes = walk_bytes;

    /* checkpoints */
    timed_checkpoint(db, db_dir, ck, "checkpoint (same fs)");
    struct statvfs sv;
    if (other && statvfs(other, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize > db_bytes + db_bytes / 5)
        timed_checkpoint(db, db_dir, ck_other, "checkpoint (other fs)");
    else if (other)
        printf("checkpoint (other fs): skipped, %s has less room than %.1f MB\n", other, db_bytes * 1.2 / 1e6);

    /* backups: full, incremental after the overwrites (flushed), after their compactions */
    timed_backup(db, db_dir, bk, "backup create (full)");
    for (uint64_t j = 0; j < n_changed(); j++) {
        char k[24];
        make_key(k, changed_key(j));
        make_value(fc.val, changed_key(j), 1);
        CHECKED(tind_put(ks, k, KEY_BYTES, fc.val, value_size), "put", db);
    }
    CHECKED(tind_flush(ks), "flush", db);
    timed_backup(db, db_dir, bk, "backup create (incremental)");
    CHECKED(tind_wait_idle(db, 3600 * 1000), "wait idle", db);
    timed_backup(db, db_dir, bk, "backup (after compactions)");
    CHECKED(tind_close(db), "close", NULL);
    free(fc.val);

    timed_verify(bk, 1, "backup verify (full)");
    timed_verify(bk, 0, "backup verify (every backup)");

    walk(bk);
    wb0 = write_bytes();
    t0 = now_s();
    CHECKED(tind_backup_restore(bk, 0, restored, NULL, NULL), "restore", NULL);
    secs = now_s() - t0;
    walk(restored);
    report("backup restore (newest)", secs, wb0, walk_bytes, walk_linked, walk_files);
    check_copy(restored, n_changed(), "restore");

    if (!keep)
        rm_rf(dir);
    return 0;
}
