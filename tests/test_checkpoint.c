/*
 * test_checkpoint.c -- tind_checkpoint (src/db/checkpoint.c).
 *
 *   campaign_threads   writers run (background work on) while checkpoints are
 *                      taken; each checkpoint opens and holds every write
 *                      acknowledged before the call, as a prefix of each
 *                      writer's history with whole batches; in half the
 *                      rounds the file system loses power right after the
 *                      call returns, before the checkpoint is opened
 *   campaign_single    the same with background work off (flushes and
 *                      compactions stepped by hand between writes)
 *   copies_when_links_fail  every hard link fails: the copy path
 *   faults             each I/O call of a checkpoint failed in turn: an error,
 *                      no folder left, the database unchanged and usable
 *   folders            an existing folder, a leftover DIR.tmp (removed when it
 *                      holds a copy's files only, else refused; refused with
 *                      TIND_EBUSY while another writer holds its LOCK), arguments,
 *                      read-only databases
 *   posix              on the real file system, opened by a fresh process-level open
 *
 * TSAN-LABEL: campaign_threads runs writer threads beside checkpoints.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "check.h"
#include "db/checkpoint.h"
#include "db/db.h"
#include "io/fs.h"

#define WRITERS 3

static tind_db *open_at(fs *fsys, const char *path, int background, int read_only)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, fsys);
    tind_options_set_no_background(o, !background);
    tind_options_set_journal_file_size(o, 16384);
    tind_options_set_read_only(o, read_only);
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
    tind_ks_options_set_memtable_size(ko, 8192);
    tind_ks_options_set_table_size(ko, 8192);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_block_size(ko, 1024);
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, name, ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

static int key_of(char *buf, size_t n, int writer, long i)
{
    return snprintf(buf, n, "w%d-%08ld", writer, i);
}

/* One writer's batch i: its key in keyspaces a and b, value "v<i>" padded. */
static int write_batch(tind_db *db, tind_keyspace *a, tind_keyspace *b, int writer, long i)
{
    char key[32], val[64];
    int kn = key_of(key, sizeof key, writer, i);
    int vn = snprintf(val, sizeof val, "value-%ld-%040ld", i, i);
    tind_batch *bt = NULL;
    int rc = tind_batch_new(db, &bt);
    if (rc)
        return rc;
    rc = tind_batch_put(bt, a, key, (size_t)kn, val, (size_t)vn);
    if (!rc)
        rc = tind_batch_put(bt, b, key, (size_t)kn, val, (size_t)vn);
    if (!rc && i % 13 == 0)
        tind_batch_set_durability(bt, TIND_PERSIST_SYNC_DATA);
    if (!rc)
        rc = tind_batch_commit(bt);
    tind_batch_free(bt);
    return rc;
}

/* The checkpoint at path holds, for each writer, batches 0..n-1 whole with
 * before[w] <= n <= after[w], and nothing else. */
static void check_copy(fs *fsys, const char *path, int writers, const long *before, const long *after)
{
    tind_db *db = open_at(fsys, path, 0, 0);
    tind_keyspace *ka = NULL, *kb = NULL;
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &ka));
    CHECK_OK(tind_keyspace_open(db, "b", NULL, &kb));
    for (int w = 0; w < writers; w++) {
        long n = 0;
        for (;; n++) {
            char key[32];
            int kn = key_of(key, sizeof key, w, n);
            int ra = tind_contains(ka, key, (size_t)kn, NULL);
            int rb = tind_contains(kb, key, (size_t)kn, NULL);
            CHECK(ra == TIND_OK || ra == TIND_NOT_FOUND);
            CHECK_EQ(ra, rb); /* whole batches */
            if (ra == TIND_NOT_FOUND)
                break;
        }
        if (n < before[w] || n > after[w])
            fprintf(stderr, "writer %d: copy holds %ld batches, expected %ld..%ld\n", w, n, before[w], after[w]);
        CHECK(n >= before[w] && n <= after[w]);
        /* nothing beyond the prefix, and the values are right */
        tind_iter *it = NULL;
        char pfx[8];
        int pn = snprintf(pfx, sizeof pfx, "w%d-", w);
        CHECK_OK(tind_iter_prefix(ka, pfx, (size_t)pn, NULL, &it));
        long seen = 0;
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), seen++) {
            size_t vl = 0;
            const char *v = tind_iter_value(it, &vl);
            char want[64];
            int wn = snprintf(want, sizeof want, "value-%ld-%040ld", seen, seen);
            CHECK_MEM(v, vl, want, (size_t)wn);
        }
        CHECK_OK(tind_iter_status(it));
        tind_iter_free(it);
        CHECK_EQ(seen, n);
    }
    CHECK_OK(tind_close(db));
}

/* ------------------------------------------------------------------ threads */

typedef struct writer_arg {
    tind_db *db;
    tind_keyspace *a, *b;
    int id;
    _Atomic long acked;           /* batches 0..acked-1 have returned */
    _Atomic int stop;
} writer_arg;

static void *writer_main(void *p)
{
    writer_arg *w = p;
    for (long i = 0; !atomic_load(&w->stop); i++) {
        if (write_batch(w->db, w->a, w->b, w->id, i) != TIND_OK)
            break; /* the power went (the file system is stale) */
        atomic_store(&w->acked, i + 1);
    }
    return NULL;
}

TEST(campaign_threads)
{
    int rounds = (int)(12 * check_scale());
    if (rounds < 2)
        rounds = 2; /* one with power loss */
    for (int round = 0; round < rounds; round++) {
        fs *mem = fs_mem_new();
        tind_db *db = open_at(mem, "/db", 1, 0);
        tind_keyspace *a = small_ks(db, "a"), *b = small_ks(db, "b");
        writer_arg args[WRITERS];
        pthread_t th[WRITERS];
        for (int w = 0; w < WRITERS; w++) {
            args[w].db = db;
            args[w].a = a;
            args[w].b = b;
            args[w].id = w;
            atomic_init(&args[w].acked, 0);
            atomic_init(&args[w].stop, 0);
            CHECK(pthread_create(&th[w], NULL, writer_main, &args[w]) == 0);
        }
        int crash = round % 2;
        int shots = crash ? 1 : 3;
        for (int shot = 0; shot < shots; shot++) {
            /* let the writers get going (flushes and compactions with them) */
            long target = 200 + 150 * (long)(round % 4) + 300L * shot;
            while (atomic_load(&args[0].acked) < target)
                usleep(200);
            long before[WRITERS], after[WRITERS];
            for (int w = 0; w < WRITERS; w++)
                before[w] = atomic_load(&args[w].acked);
            char path[32];
            snprintf(path, sizeof path, "/ck%d", shot);
            int rc = tind_checkpoint(db, path);
            if (rc)
                fprintf(stderr, "checkpoint: %s\n", tind_errmsg(db));
            CHECK_OK(rc);
            for (int w = 0; w < WRITERS; w++)
                after[w] = atomic_load(&args[w].acked) + 1; /* one may be in flight */
            if (crash) {
                int modes = round % 4 == 1 ? FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS
                                           : FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR | FS_CRASH_DROP_DIRENTS;
                CHECK_OK(fs_mem_crash(mem, modes, check_seed + (uint64_t)round));
                for (int w = 0; w < WRITERS; w++)
                    atomic_store(&args[w].stop, 1);
                for (int w = 0; w < WRITERS; w++)
                    pthread_join(th[w], NULL);
                tind_close(db); /* fails: its files went stale with the power */
                db = NULL;
            }
            check_copy(mem, path, WRITERS, before, after);
        }
        if (!crash) {
            for (int w = 0; w < WRITERS; w++)
                atomic_store(&args[w].stop, 1);
            for (int w = 0; w < WRITERS; w++)
                pthread_join(th[w], NULL);
            CHECK_OK(tind_close(db));
        }
        fs_destroy(mem);
    }
}

/* ------------------------------------------------------------------ single thread */

TEST(campaign_single)
{
    int rounds = (int)(20 * check_scale());
    for (int round = 0; round < rounds; round++) {
        fs *mem = fs_mem_new();
        tind_db *db = open_at(mem, "/db", 0, 0);
        tind_keyspace *a = small_ks(db, "a"), *b = small_ks(db, "b");
        long n = 0;
        for (int shot = 0; shot < 3; shot++) {
            long stop = n + 100 + 97 * ((round + shot) % 5);
            for (; n < stop; n++) {
                CHECK_OK(write_batch(db, a, b, 0, n));
                if (n % 40 == round % 40)
                    while (db_background_step(db, NULL) > 0)
                        ;
            }
            char path[32];
            snprintf(path, sizeof path, "/ck%d", shot);
            CHECK_OK(tind_checkpoint(db, path));
            /* the database goes on after the checkpoint: not in the copy */
            for (long j = 0; j < 20; j++, n++)
                CHECK_OK(write_batch(db, a, b, 0, n));
            long before[1] = {stop}, after[1] = {stop};
            if (shot == 2 && round % 2) {
                CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, (uint64_t)round));
                tind_close(db);
                db = NULL;
            }
            check_copy(mem, path, 1, before, after);
        }
        if (db)
            CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
}

TEST(copies_when_links_fail)
{
    fs *mem = fs_mem_new();
    fs *ffs = fs_fault_new(mem, 0);
    tind_db *db = open_at(ffs, "/db", 0, 0);
    tind_keyspace *a = small_ks(db, "a"), *b = small_ks(db, "b");
    for (long i = 0; i < 600; i++) {
        CHECK_OK(write_batch(db, a, b, 0, i));
        if (i % 100 == 99)
            CHECK_OK(tind_flush(a));
    }
    CHECK_OK(tind_compact(a));
    fs_fault_arm(ffs, FS_CALL_LINK, 1, FS_FAULT_ERRNO, 18 /* EXDEV */, 1, NULL);
    uint64_t injected = fs_fault_injected(ffs);
    CHECK_OK(tind_checkpoint(db, "/ck"));
    CHECK(fs_fault_injected(ffs) > injected + 2); /* tables and journals were copied */
    fs_fault_disarm(ffs);
    CHECK_OK(tind_close(db));
    /* power loss after the copy: the copied files were synced */
    CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, 3));
    long want[1] = {600};
    check_copy(mem, "/ck", 1, want, want);
    fs_destroy(ffs);
    fs_destroy(mem);
}

TEST(faults)
{
    /* each call of each kind a checkpoint makes, failed in turn */
    static const int kinds[] = {FS_CALL_OPEN, FS_CALL_READ, FS_CALL_WRITE, FS_CALL_SYNC, FS_CALL_RENAME,
                                FS_CALL_MKDIR, FS_CALL_SYNC_DIR, FS_CALL_LIST, FS_CALL_CLOSE, FS_CALL_SIZE};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (uint64_t nth = 1;; nth++) {
            fs *mem = fs_mem_new();
            fs *ffs = fs_fault_new(mem, 0);
            tind_db *db = open_at(ffs, "/db", 0, 0);
            tind_keyspace *a = small_ks(db, "a"), *b = small_ks(db, "b");
            for (long i = 0; i < 300; i++) {
                CHECK_OK(write_batch(db, a, b, 0, i));
                if (i == 150)
                    CHECK_OK(tind_flush(b));
            }
            fs_fault_arm(ffs, kinds[k], nth, FS_FAULT_ERRNO, 5 /* EIO */, 0, NULL);
            uint64_t injected = fs_fault_injected(ffs);
            int rc = tind_checkpoint(db, "/ck");
            int hit = fs_fault_injected(ffs) > injected;
            fs_fault_disarm(ffs);
            int is_dir = 0;
            if (hit && rc != TIND_OK) {
                CHECK(strlen(tind_errmsg(db)) > 0);
                CHECK_RC(fs_exists(mem, "/ck.tmp", &is_dir), TIND_ENOENT);
                /* the database is unharmed and a retry succeeds */
                CHECK_OK(write_batch(db, a, b, 0, 300));
                if (fs_exists(mem, "/ck", &is_dir) == TIND_OK)
                    CHECK_OK(ckpt_remove_copy(mem, "/ck", NULL)); /* renamed, then the parent sync failed */
                CHECK_OK(tind_checkpoint(db, "/ck"));
                long want[1] = {301};
                CHECK_OK(tind_close(db));
                check_copy(mem, "/ck", 1, want, want);
            } else {
                CHECK_OK(rc);
                CHECK_OK(tind_close(db));
                long want[1] = {300};
                check_copy(mem, "/ck", 1, want, want);
            }
            fs_destroy(ffs);
            fs_destroy(mem);
            if (!hit)
                break;
        }
    }
}

TEST(folders)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_at(mem, "/db", 0, 0);
    tind_keyspace *a = small_ks(db, "a"), *b = small_ks(db, "b");
    for (long i = 0; i < 50; i++)
        CHECK_OK(write_batch(db, a, b, 0, i));
    CHECK_RC(tind_checkpoint(NULL, "/ck"), TIND_EINVAL);
    CHECK_RC(tind_checkpoint(db, NULL), TIND_EINVAL);
    CHECK_RC(tind_checkpoint(db, ""), TIND_EINVAL);
    /* an existing folder is refused, whatever it holds */
    CHECK_OK(fs_mkdir(mem, "/there", NULL));
    CHECK_RC(tind_checkpoint(db, "/there"), TIND_EEXIST);
    CHECK(strstr(tind_errmsg(db), "/there") != NULL);
    /* the database itself */
    CHECK_RC(tind_checkpoint(db, "/db"), TIND_EEXIST);
    /* a leftover of an interrupted checkpoint is replaced */
    CHECK_OK(fs_mkdir(mem, "/ck.tmp", NULL));
    CHECK_OK(fs_mkdir(mem, "/ck.tmp/tables", NULL));
    CHECK_OK(fs_write_atomic(mem, "/ck.tmp/tables", "00000009.tbl", "x", 1, NULL));
    CHECK_OK(fs_write_atomic(mem, "/ck.tmp", "VERSIONS", "x", 1, NULL));
    CHECK_OK(tind_checkpoint(db, "/ck"));
    long want[1] = {50};
    check_copy(mem, "/ck", 1, want, want);
    /* nor one another checkpoint or restore is writing (its LOCK held):
     * refused, nothing of it touched */
    CHECK_OK(fs_mkdir(mem, "/ck5.tmp", NULL));
    CHECK_OK(fs_write_atomic(mem, "/ck5.tmp", "VERSIONS", "x", 1, NULL));
    fs_lock *held;
    CHECK_OK(fs_lock_file(mem, "/ck5.tmp/LOCK", &held, NULL));
    CHECK_RC(tind_checkpoint(db, "/ck5"), TIND_EBUSY);
    CHECK(strstr(tind_errmsg(db), "/ck5.tmp") != NULL);
    int was_dir = 0;
    CHECK_OK(fs_exists(mem, "/ck5.tmp/VERSIONS", &was_dir));
    CHECK_RC(fs_exists(mem, "/ck5", &was_dir), TIND_ENOENT);
    CHECK_OK(fs_unlock(held, NULL));
    /* once that writer is gone (its lock released), its leftover is replaced */
    CHECK_OK(tind_checkpoint(db, "/ck5"));
    check_copy(mem, "/ck5", 1, want, want);
    /* ... but not a folder with anything else in it */
    CHECK_OK(fs_mkdir(mem, "/ck2.tmp", NULL));
    CHECK_OK(fs_write_atomic(mem, "/ck2.tmp", "precious.txt", "x", 1, NULL));
    CHECK_RC(tind_checkpoint(db, "/ck2"), TIND_EEXIST);
    CHECK(strstr(tind_errmsg(db), "precious.txt") != NULL);
    int is_dir = 0;
    CHECK_OK(fs_exists(mem, "/ck2.tmp/precious.txt", &is_dir));
    /* a checkpoint of a checkpoint, and the copy is a database of its own */
    tind_db *copy = open_at(mem, "/ck", 0, 0);
    tind_keyspace *ca = NULL;
    CHECK_OK(tind_keyspace_open(copy, "a", NULL, &ca));
    CHECK_OK(tind_put(ca, "only-in-copy", 12, "1", 1));
    CHECK_OK(tind_checkpoint(copy, "/ck3"));
    CHECK_OK(tind_close(copy));
    CHECK_RC(tind_contains(a, "only-in-copy", 12, NULL), TIND_NOT_FOUND);
    CHECK_OK(tind_close(db));
    /* a read-only open cannot pin the journal: refused */
    db = open_at(mem, "/db", 0, 1);
    CHECK_RC(tind_checkpoint(db, "/ck4"), TIND_ENOTSUP);
    CHECK_OK(tind_close(db));
    db = open_at(mem, "/ck3", 0, 0);
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &ca));
    CHECK_OK(tind_contains(ca, "only-in-copy", 12, NULL));
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(posix)
{
    char *dir = check_tmpdir("ckpt");
    char dbp[4096], ckp[4096];
    snprintf(dbp, sizeof dbp, "%s/db", dir);
    snprintf(ckp, sizeof ckp, "%s/copy", dir);
    tind_db *db = NULL;
    CHECK_OK(tind_open(dbp, NULL, &db));
    tind_keyspace *a = NULL, *b = NULL;
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &a));
    CHECK_OK(tind_keyspace_open(db, "b", NULL, &b));
    for (long i = 0; i < 2000; i++) {
        CHECK_OK(write_batch(db, a, b, 0, i));
        if (i == 1000)
            CHECK_OK(tind_flush(a));
    }
    CHECK_OK(tind_checkpoint(db, ckp));
    CHECK_OK(tind_close(db));
    check_rmtree(dbp); /* the copy stands alone (hard links keep the tables) */
    fs *px = fs_posix_new();
    long want[1] = {2000};
    check_copy(px, ckp, 1, want, want);
    fs_destroy(px);
    check_rmtree(dir);
    free(dir);
}

int main(void)
{
    check_seed_init(14);
    RUN(folders);
    RUN(campaign_single);
    RUN(copies_when_links_fail);
    RUN(faults);
    RUN(posix);
    RUN(campaign_threads);
    fprintf(stderr, "test_checkpoint: ok\n");
    return 0;
}
