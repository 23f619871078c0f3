/*
 * test_backup.c -- incremental backups (src/db/backup.c).
 *
 *   incremental   backups share unchanged tables (counted in shared/), list
 *                 reports them, every backup verifies, and each restores,
 *                 after the source is destroyed, exactly the data it was
 *                 taken with (then opens, reads and compacts)
 *   corruption    a flipped byte in a shared table, a private journal or
 *                 VERSIONS, a truncated or missing file: verify names it
 *                 and restore refuses, leaving nothing; a damaged
 *                 description is refused by list
 *   prune         keep N: the older descriptions, private folders and the
 *                 shared files nobody else holds go; the rest verifies
 *   crashes       a create failed at each write or power lost before it
 *                 finished leaves the earlier backups intact, and the next
 *                 create and prune clean up; power lost after create returns
 *                 keeps the backup whole
 *   public_api    the tind_backup_* calls on the real file system, their
 *                 argument errors and tind_errmsg(NULL)
 *   verify_reads_shared_once
 *                 verify of every backup reads a file several backups
 *                 share once (its progress total: the distinct bytes)
 *   online        backups taken while a writer thread writes (background
 *                 work on): each restores a prefix of the writes at least as
 *                 long as what was acknowledged before its call
 *
 * TSAN-LABEL: online copies files while a writer and the workers run.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "check.h"
#include "db/backup.h"
#include "db/db.h"
#include "io/fs.h"

static tind_db *open_at(fs *fsys, const char *path)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, fsys);
    tind_options_set_no_background(o, 1);
    tind_options_set_journal_file_size(o, 16384);
    tind_db *db = NULL;
    int rc = tind_open(path, o, &db);
    if (rc)
        fprintf(stderr, "open %s: %s\n", path, tind_errmsg(NULL));
    CHECK_OK(rc);
    tind_options_free(o);
    return db;
}

static tind_keyspace *small_ks(tind_db *db, const char *name)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 16384);
    tind_ks_options_set_table_size(ko, 16384);
    tind_ks_options_set_block_size(ko, 1024);
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, name, ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

/* Key i's value in generation g (a later generation overwrites). */
static int kv(char *k, char *v, long i, int g)
{
    snprintf(k, 32, "key%06ld", i);
    return snprintf(v, 64, "val-%d-%ld-%020ld", g, i, i * 7);
}

/* Writes keys [from, to) in generation g, then flushes. */
static void fill(tind_keyspace *ks, long from, long to, int g)
{
    char k[32], v[64];
    for (long i = from; i < to; i++) {
        int vn = kv(k, v, i, g);
        CHECK_OK(tind_put(ks, k, strlen(k), v, (size_t)vn));
    }
    CHECK_OK(tind_flush(ks));
}

/* The expected state: keys [0, n), key i at generation gen[i]. */
static void expect_state(fs *fsys, const char *path, long n, const int *gen)
{
    tind_db *db = open_at(fsys, path);
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, "data", NULL, &ks));
    for (int pass = 0; pass < 2; pass++) {
        tind_iter *it = NULL;
        CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
        long i = 0;
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), i++) {
            char k[32], v[64];
            int vn = kv(k, v, i, gen[i]);
            size_t kl = 0, vl = 0;
            const void *kp = tind_iter_key(it, &kl);
            const void *vp = tind_iter_value(it, &vl);
            CHECK(i < n);
            CHECK_MEM(kp, kl, k, strlen(k));
            CHECK_MEM(vp, vl, v, (size_t)vn);
        }
        CHECK_OK(tind_iter_status(it));
        tind_iter_free(it);
        CHECK_EQ(i, n);
        /* the restored database works on: compaction keeps the data */
        if (pass == 0)
            CHECK_OK(tind_compact(ks));
    }
    CHECK_OK(tind_close(db));
}

static size_t count_files(fs *fsys, const char *dir)
{
    char **names = NULL;
    size_t n = 0;
    CHECK_OK(fs_list(fsys, dir, &names, &n, NULL));
    fs_list_free(names, n);
    return n;
}

static void rmtree(fs *fsys, const char *path)
{
    char **names = NULL;
    size_t n = 0;
    if (fs_list(fsys, path, &names, &n, NULL))
        return;
    for (size_t i = 0; i < n; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", path, names[i]);
        int is_dir = 0;
        fs_exists(fsys, p, &is_dir);
        if (is_dir)
            rmtree(fsys, p);
        else
            CHECK_OK(fs_unlink(fsys, p, NULL));
    }
    fs_list_free(names, n);
    CHECK_OK(fs_rmdir(fsys, path, NULL));
}

/* The first file of a folder whose name contains `part` (malloc'd path). */
static char *find_file(fs *fsys, const char *dir, const char *part)
{
    char **names = NULL;
    size_t n = 0;
    CHECK_OK(fs_list(fsys, dir, &names, &n, NULL));
    char *found = NULL;
    for (size_t i = 0; i < n && !found; i++)
        if (strstr(names[i], part)) {
            found = malloc(strlen(dir) + strlen(names[i]) + 2);
            sprintf(found, "%s/%s", dir, names[i]);
        }
    fs_list_free(names, n);
    CHECK(found != NULL);
    return found;
}

static void flip_byte(fs *fsys, const char *path, uint64_t off)
{
    fs_file *f = NULL;
    CHECK_OK(fs_open(fsys, path, FS_O_WRITE, &f, NULL));
    uint64_t size = 0;
    CHECK_OK(fs_size(f, &size, NULL));
    off %= size;
    uint8_t b = 0;
    size_t got = 0;
    CHECK_OK(fs_read(f, &b, 1, off, &got, NULL));
    CHECK_EQ(got, 1);
    b ^= 0x10;
    CHECK_OK(fs_write(f, &b, 1, off, NULL));
    CHECK_OK(fs_close(f, NULL));
}

/* ------------------------------------------------------------------ tests */

TEST(incremental)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_at(mem, "/db");
    tind_keyspace *ks = small_ks(db, "data");
    static int gen1[3000], gen2[3000], gen3[3000];
    fill(ks, 0, 2000, 1);
    for (int i = 0; i < 2000; i++)
        gen1[i] = 1;
    uint64_t id = 0;
    CHECK_OK(bk_create(db, "/bk", NULL, NULL, &id, NULL));
    CHECK_EQ(id, 1);
    size_t shared1 = count_files(mem, "/bk/shared");
    CHECK(shared1 >= 2);
    /* new keys in new tables; the old tables stay */
    fill(ks, 2000, 3000, 2);
    char k[32], v[64];
    int vn = kv(k, v, 5, 3);
    CHECK_OK(tind_put(ks, k, strlen(k), v, (size_t)vn)); /* in the journal only */
    memcpy(gen2, gen1, sizeof gen1);
    for (int i = 2000; i < 3000; i++)
        gen2[i] = 2;
    gen2[5] = 3;
    CHECK_OK(bk_create(db, "/bk", NULL, NULL, &id, NULL));
    CHECK_EQ(id, 2);
    size_t shared2 = count_files(mem, "/bk/shared");
    CHECK(shared2 > shared1);
    tind_backup_info *list = NULL;
    size_t count = 0;
    CHECK_OK(bk_list(mem, "/bk", &list, &count, NULL));
    CHECK_EQ(count, 2);
    CHECK_EQ(list[0].id, 1);
    CHECK_EQ(list[1].id, 2);
    CHECK(list[1].seqno > list[0].seqno);
    /* backup 1's tables are all in backup 2: its table bytes are shared */
    CHECK(list[0].shared_bytes > 0 && list[0].shared_bytes < list[0].bytes);
    CHECK(list[1].shared_bytes == list[0].shared_bytes);
    CHECK(list[1].files > list[0].files);
    tind_free(list);
    /* a third backup after a full compaction shares nothing but is whole */
    CHECK_OK(tind_compact(ks));
    memcpy(gen3, gen2, sizeof gen2);
    CHECK_OK(bk_create(db, "/bk", NULL, NULL, &id, NULL));
    CHECK_OK(tind_close(db));
    CHECK_OK(bk_verify(mem, "/bk", 0, NULL, NULL, NULL));
    rmtree(mem, "/db"); /* the source is destroyed */
    CHECK_OK(bk_restore(mem, "/bk", 1, "/r1", NULL, NULL, NULL));
    CHECK_OK(bk_restore(mem, "/bk", 2, "/r2", NULL, NULL, NULL));
    CHECK_OK(bk_restore(mem, "/bk", 0, "/r3", NULL, NULL, NULL)); /* the newest */
    CHECK_RC(bk_restore(mem, "/bk", 0, "/r3", NULL, NULL, NULL), TIND_EEXIST);
    CHECK_RC(bk_restore(mem, "/bk", 9, "/r9", NULL, NULL, NULL), TIND_NOT_FOUND);
    /* power loss after the restores returned: they were synced */
    CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, 5));
    expect_state(mem, "/r1", 2000, gen1);
    expect_state(mem, "/r2", 3000, gen2);
    expect_state(mem, "/r3", 3000, gen3);
    fs_destroy(mem);
}

/* A folder with two backups of a small database. */
static fs *two_backups(void)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_at(mem, "/db");
    tind_keyspace *ks = small_ks(db, "data");
    fill(ks, 0, 1000, 1);
    CHECK_OK(bk_create(db, "/bk", NULL, NULL, NULL, NULL));
    fill(ks, 1000, 1500, 1);
    char k[32], v[64];
    int vn = kv(k, v, 1500, 1);
    CHECK_OK(tind_put(ks, k, strlen(k), v, (size_t)vn));
    CHECK_OK(bk_create(db, "/bk", NULL, NULL, NULL, NULL));
    CHECK_OK(tind_close(db));
    return mem;
}

static void expect_corrupt(fs *mem, uint64_t id, const char *what)
{
    tind_err err;
    err_clear(&err);
    CHECK_RC(bk_verify(mem, "/bk", id, NULL, NULL, &err), TIND_ECORRUPT);
    if (!strstr(err.msg, what))
        fprintf(stderr, "message: %s (want %s)\n", err.msg, what);
    CHECK(strstr(err.msg, what) != NULL);
    CHECK_RC(bk_restore(mem, "/bk", id, "/r", NULL, NULL, &err), TIND_ECORRUPT);
    int is_dir = 0;
    CHECK_RC(fs_exists(mem, "/r", &is_dir), TIND_ENOENT);
    CHECK_RC(fs_exists(mem, "/r.tmp", &is_dir), TIND_ENOENT);
}

TEST(corruption)
{
    /* a byte of a shared table, at several offsets: both backups hold it */
    for (uint64_t off = 0; off < 4000; off += 997) {
        fs *mem = two_backups();
        char *t = find_file(mem, "/bk/shared", ".tbl");
        flip_byte(mem, t, off);
        expect_corrupt(mem, 1, t);
        expect_corrupt(mem, 0, t);
        free(t);
        fs_destroy(mem);
    }
    /* private files of backup 2; backup 1 still verifies and restores */
    const char *parts[] = {"VERSIONS", "FORMAT"};
    for (int p = 0; p < 3; p++) {
        fs *mem = two_backups();
        char *f = p < 2 ? find_file(mem, "/bk/private/2", parts[p]) : find_file(mem, "/bk/private/2/journals", "jrn");
        flip_byte(mem, f, 20);
        expect_corrupt(mem, 2, f);
        CHECK_OK(bk_verify(mem, "/bk", 1, NULL, NULL, NULL));
        CHECK_OK(bk_restore(mem, "/bk", 1, "/ok", NULL, NULL, NULL));
        free(f);
        fs_destroy(mem);
    }
    /* truncated and missing files */
    for (int p = 0; p < 2; p++) {
        fs *mem = two_backups();
        char *t = find_file(mem, "/bk/shared", ".tbl");
        if (p == 0) {
            fs_file *f = NULL;
            CHECK_OK(fs_open(mem, t, FS_O_WRITE, &f, NULL));
            CHECK_OK(fs_truncate(f, 100, NULL));
            CHECK_OK(fs_close(f, NULL));
            expect_corrupt(mem, 1, "expected");
        } else {
            CHECK_OK(fs_unlink(mem, t, NULL));
            expect_corrupt(mem, 1, "missing");
        }
        free(t);
        fs_destroy(mem);
    }
    /* a damaged description: list, verify and create refuse the folder */
    fs *mem = two_backups();
    flip_byte(mem, "/bk/meta/1", 30);
    tind_backup_info *list = NULL;
    size_t count = 0;
    tind_err err;
    CHECK_RC(bk_list(mem, "/bk", &list, &count, &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "/bk/meta/1") != NULL);
    CHECK_RC(bk_verify(mem, "/bk", 2, NULL, NULL, NULL), TIND_ECORRUPT);
    fs_destroy(mem);
}

TEST(prune)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_at(mem, "/db");
    tind_keyspace *ks = small_ks(db, "data");
    static int gen[3000];
    for (int b = 0; b < 4; b++) {
        fill(ks, 0, 600, b);
        if (b == 2)
            CHECK_OK(tind_compact(ks));
        CHECK_OK(bk_create(db, "/bk", NULL, NULL, NULL, NULL));
    }
    for (int i = 0; i < 600; i++)
        gen[i] = 3;
    CHECK_OK(tind_close(db));
    size_t before = count_files(mem, "/bk/shared");
    size_t deleted = 0;
    CHECK_RC(bk_prune(mem, "/bk", 0, &deleted, NULL), TIND_EINVAL);
    CHECK_OK(bk_prune(mem, "/bk", 2, &deleted, NULL));
    CHECK_EQ(deleted, 2);
    tind_backup_info *list = NULL;
    size_t count = 0;
    CHECK_OK(bk_list(mem, "/bk", &list, &count, NULL));
    CHECK_EQ(count, 2);
    CHECK_EQ(list[0].id, 3);
    CHECK_EQ(list[1].id, 4);
    tind_free(list);
    CHECK_EQ(count_files(mem, "/bk/private"), 2);
    size_t after = count_files(mem, "/bk/shared");
    CHECK(after < before);
    CHECK_OK(bk_prune(mem, "/bk", 1, &deleted, NULL));
    CHECK_EQ(deleted, 1);
    CHECK_OK(bk_prune(mem, "/bk", 1, &deleted, NULL));
    CHECK_EQ(deleted, 0);
    /* exactly the tables of backup 4 remain */
    CHECK_OK(bk_list(mem, "/bk", &list, &count, NULL));
    CHECK_EQ(count, 1);
    CHECK_EQ(list[0].shared_bytes, 0);
    tind_free(list);
    CHECK_OK(bk_verify(mem, "/bk", 0, NULL, NULL, NULL));
    rmtree(mem, "/db");
    CHECK_OK(bk_restore(mem, "/bk", 4, "/r", NULL, NULL, NULL));
    expect_state(mem, "/r", 600, gen);
    fs_destroy(mem);
}

TEST(crashes)
{
    static int gen[2000];
    for (int i = 0; i < 2000; i++)
        gen[i] = 1;
    /* fail the nth write (then the nth sync) of the second create */
    for (int kind = 0; kind < 2; kind++)
        for (uint64_t nth = 1;; nth++) {
            fs *mem = fs_mem_new();
            fs *ffs = fs_fault_new(mem, 0);
            tind_db *db = open_at(ffs, "/db");
            tind_keyspace *ks = small_ks(db, "data");
            fill(ks, 0, 1000, 1);
            CHECK_OK(bk_create(db, "/bk", NULL, NULL, NULL, NULL));
            fill(ks, 1000, 2000, 1);
            fs_fault_arm(ffs, kind ? FS_CALL_SYNC : FS_CALL_WRITE, nth, FS_FAULT_ERRNO, 5, 0, NULL);
            uint64_t injected = fs_fault_injected(ffs);
            int rc = bk_create(db, "/bk", NULL, NULL, NULL, NULL);
            int hit = fs_fault_injected(ffs) > injected;
            fs_fault_disarm(ffs);
            if (hit) {
                CHECK(rc != TIND_OK);
                /* backup 1 is intact; a power loss now changes nothing */
                CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, nth));
                tind_close(db);
                CHECK_OK(bk_verify(mem, "/bk", 0, NULL, NULL, NULL));
                tind_backup_info *list = NULL;
                size_t count = 0;
                CHECK_OK(bk_list(mem, "/bk", &list, &count, NULL));
                CHECK_EQ(count, 1);
                tind_free(list);
                /* the leftovers go with a prune */
                CHECK_OK(bk_prune(mem, "/bk", 1, NULL, NULL));
                CHECK_EQ(count_files(mem, "/bk/private"), 1);
                /* and the database, reopened, backs up again */
                db = open_at(mem, "/db");
                CHECK_OK(bk_create(db, "/bk", NULL, NULL, NULL, NULL));
            } else {
                CHECK_OK(rc);
                /* power loss right after the create returned */
                CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, nth));
                tind_close(db);
                db = NULL;
            }
            if (db)
                CHECK_OK(tind_close(db));
            CHECK_OK(bk_verify(mem, "/bk", 0, NULL, NULL, NULL));
            rmtree(mem, "/db");
            CHECK_OK(bk_restore(mem, "/bk", 2, "/r", NULL, NULL, NULL));
            expect_state(mem, "/r", 2000, gen);
            fs_destroy(ffs);
            fs_destroy(mem);
            if (!hit)
                break;
        }
}

static uint64_t progress_calls, progress_last, progress_total;
static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    CHECK(ctx == &progress_calls);
    CHECK(done >= progress_last && done <= total);
    progress_calls++;
    progress_last = done;
    progress_total = total;
}

TEST(public_api)
{
    char *dir = check_tmpdir("backup");
    char dbp[4096], bkp[4096], rp[4096];
    snprintf(dbp, sizeof dbp, "%s/db", dir);
    snprintf(bkp, sizeof bkp, "%s/backups", dir);
    snprintf(rp, sizeof rp, "%s/restored", dir);
    tind_db *db = NULL;
    CHECK_OK(tind_open(dbp, NULL, &db));
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, "data", NULL, &ks));
    static int gen[500];
    for (int i = 0; i < 500; i++)
        gen[i] = 1;
    fill(ks, 0, 500, 1);
    uint64_t id = 0;
    CHECK_RC(tind_backup_create(NULL, bkp, NULL, NULL, &id), TIND_EINVAL);
    CHECK_RC(tind_backup_create(db, NULL, NULL, NULL, &id), TIND_EINVAL);
    CHECK_OK(tind_backup_create(db, bkp, on_progress, &progress_calls, &id));
    CHECK(progress_calls > 0 && progress_last == progress_total && progress_total > 0);
    CHECK_EQ(id, 1);
    CHECK_OK(tind_backup_create(db, bkp, NULL, NULL, &id));
    CHECK_EQ(id, 2);
    CHECK_OK(tind_close(db));
    tind_backup_info *list = NULL;
    size_t count = 0;
    CHECK_RC(tind_backup_list(NULL, &list, &count), TIND_EINVAL);
    CHECK_RC(tind_backup_list(bkp, NULL, &count), TIND_EINVAL);
    CHECK_RC(tind_backup_list(dbp, &list, &count), TIND_ENOENT);
    CHECK(strstr(tind_errmsg(NULL), "not a backup folder") != NULL);
    CHECK_OK(tind_backup_list(bkp, &list, &count));
    CHECK_EQ(count, 2);
    tind_free(list);
    progress_calls = progress_last = 0;
    CHECK_OK(tind_backup_verify(bkp, 0, on_progress, &progress_calls));
    CHECK(progress_calls > 0);
    CHECK_RC(tind_backup_verify(bkp, 7, NULL, NULL), TIND_NOT_FOUND);
    CHECK_RC(tind_backup_restore(bkp, 0, NULL, NULL, NULL), TIND_EINVAL);
    CHECK_RC(tind_backup_restore(bkp, 0, dbp, NULL, NULL), TIND_EEXIST);
    check_rmtree(dbp);
    CHECK_OK(tind_backup_restore(bkp, 0, rp, NULL, NULL));
    fs *px = fs_posix_new();
    expect_state(px, rp, 500, gen);
    fs_destroy(px);
    size_t deleted = 0;
    CHECK_RC(tind_backup_prune(bkp, 0, &deleted), TIND_EINVAL);
    CHECK_OK(tind_backup_prune(bkp, 1, &deleted));
    CHECK_EQ(deleted, 1);
    CHECK_OK(tind_backup_verify(bkp, 0, NULL, NULL));
    check_rmtree(dir);
    free(dir);
}

typedef struct online_writer {
    tind_keyspace *ks;
    _Atomic long acked;
    _Atomic int stop;
} online_writer;

static void *online_main(void *p)
{
    online_writer *w = p;
    char k[32], v[64];
    for (long i = 0; !atomic_load(&w->stop); i++) {
        int vn = kv(k, v, i, 1);
        if (tind_put(w->ks, k, strlen(k), v, (size_t)vn) != TIND_OK)
            break;
        atomic_store(&w->acked, i + 1);
    }
    return NULL;
}

TEST(verify_reads_shared_once)
{
    /* verify of every backup reads a file the backups share once: its
     * progress total is the bytes of the distinct files */
    fs *mem = two_backups();
    tind_backup_info *list = NULL;
    size_t count = 0;
    CHECK_OK(bk_list(mem, "/bk", &list, &count, NULL));
    CHECK_EQ(count, 2);
    CHECK(list[0].shared_bytes > 0);
    uint64_t distinct = list[0].bytes + list[1].bytes - list[0].shared_bytes;
    tind_free(list);
    progress_calls = progress_last = progress_total = 0;
    CHECK_OK(bk_verify(mem, "/bk", 0, on_progress, &progress_calls, NULL));
    CHECK(progress_calls > 0);
    CHECK_EQ(progress_total, distinct);
    CHECK_EQ(progress_last, distinct);
    fs_destroy(mem);
}

TEST(online)
{
    fs *mem = fs_mem_new();
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, mem);
    tind_options_set_journal_file_size(o, 16384);
    tind_db *db = NULL;
    CHECK_OK(tind_open("/db", o, &db));
    tind_options_free(o);
    tind_keyspace *ks = small_ks(db, "data");
    online_writer w;
    w.ks = ks;
    atomic_init(&w.acked, 0);
    atomic_init(&w.stop, 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, online_main, &w) == 0);
    long before[3], after[3];
    for (int b = 0; b < 3; b++) {
        while (atomic_load(&w.acked) < 300 * (b + 1))
            usleep(200);
        before[b] = atomic_load(&w.acked);
        CHECK_OK(bk_create(db, "/bk", NULL, NULL, NULL, NULL));
        after[b] = atomic_load(&w.acked) + 1;
    }
    atomic_store(&w.stop, 1);
    pthread_join(th, NULL);
    CHECK_OK(tind_close(db));
    rmtree(mem, "/db");
    CHECK_OK(bk_verify(mem, "/bk", 0, NULL, NULL, NULL));
    for (int b = 0; b < 3; b++) {
        char target[16];
        snprintf(target, sizeof target, "/r%d", b);
        CHECK_OK(bk_restore(mem, "/bk", (uint64_t)b + 1, target, NULL, NULL, NULL));
        tind_db *r = open_at(mem, target);
        tind_keyspace *rk = NULL;
        CHECK_OK(tind_keyspace_open(r, "data", NULL, &rk));
        long n = 0;
        for (;; n++) {
            char k[32], v[64];
            kv(k, v, n, 1);
            if (tind_contains(rk, k, strlen(k), NULL) != TIND_OK)
                break;
        }
        CHECK(n >= before[b] && n <= after[b]);
        CHECK_OK(tind_close(r));
    }
    fs_destroy(mem);
}

int main(void)
{
    check_seed_init(14);
    RUN(incremental);
    RUN(corruption);
    RUN(prune);
    RUN(crashes);
    RUN(public_api);
    RUN(verify_reads_shared_once);
    RUN(online);
    fprintf(stderr, "test_backup: ok\n");
    return 0;
}
