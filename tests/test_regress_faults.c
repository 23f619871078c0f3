/*
 * test_regress_faults.c -- regression tests for bugs found by the fault,
 * corruption and API-fuzz campaigns of tind-stress (tools/tind-stress,
 * fuzz/fuzz_api.c). Each test failed before its fix.
 *
 *   creation_interrupted   a failed call while tind_open creates a new
 *                          database, after FORMAT is written but before the
 *                          first VERSIONS is, left a folder that never opened
 *                          again ("the VERSIONS file is missing").
 *   creation_retried_syncs_parent
 *                          when the sync of the parent folder failed during
 *                          creation, the retried open found the folder present
 *                          and never synced its entry: a power loss then took
 *                          the whole database, acknowledged-synced batches too.
 *   reopen_makes_recovery_durable
 *                          a keyspace delete whose version-file folder sync
 *                          failed (poisoning) left the rename in the page
 *                          cache; the next open served the deleted state but
 *                          never synced the folder, so a power loss after it
 *                          brought the keyspace and its data back (fuzz_api,
 *                          fuzz/corpus/api/regress-reopen-undone-rename).
 *   journal_cut_to_header  the oldest journal recovery keeps, cut to its bare
 *                          header (a synced file that lost all its records),
 *                          replayed as empty: nothing after it showed a gap,
 *                          and its SYNC_ALL batches were silently gone
 *                          (tind-stress corrupt, 8 in 777,275 corruptions).
 *                          Journal headers now carry their start seqno.
 *   seqnos_never_go_back   with that check, a database whose oldest journal
 *                          held only writes to a keyspace since deleted did
 *                          not reopen twice: recovery took its last seqno from
 *                          tables and records alone, started the next journal
 *                          below the previous one's start, and the following
 *                          open saw a gap (fuzz_api, corpus input
 *                          regress-seqno-after-deleted-keyspace). Recovery now
 *                          also counts each journal header's start.
 *   empty_sync_commit      a commit with nothing to write (an empty batch,
 *                          a transaction that only read) and durability
 *                          SYNC_DATA returned without syncing, so earlier
 *                          unsynced writes were lost by a power loss after
 *                          it (test_db_model, seed 777 with TIND_TEST_SCALE=16:
 *                          a range deletion over an empty range left the
 *                          batch empty). It syncs now, as tind.h says.
 *   flush_after_failed_rotation
 *                          a rotation whose new journal failed to be made
 *                          (poisoning) left the sealed journal last in the
 *                          list; the flush of its memtable skipped the journal
 *                          sync (its seqnos all in tables) although the keep
 *                          number could not pass the last journal. A power
 *                          loss took the journal's record but not the table:
 *                          recovery started the next journal after the
 *                          table's seqno, and the open after that refused the
 *                          database ("journal ... ends at seqno N where records
 *                          are missing, but journal ... holds a record written
 *                          after it was synced"; fuzz_api with ingestion,
 *                          corpus input fa3ac561). The flush syncs (and so
 *                          fails, poisoned) unless a later journal exists.
 *   ingest_version_write_fails
 *                          an ingestion whose version file write failed after
 *                          its rename (the folder sync) deleted its tables,
 *                          while the version file in the page cache named
 *                          them: the next open refused the database ("table
 *                          ... named by the version file ... is missing";
 *                          fuzz_api with ingestion, threads off). A failed
 *                          install that poisons now leaves the tables to the
 *                          next open.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"
#include "journal/journal.h"

static int open_on(fs *f, tind_db **db)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, f);
    tind_options_set_no_background(o, 1);
    int rc = tind_open("/db", o, db);
    tind_options_free(o);
    return rc;
}

/* "k" holds "v" */
static void expect_k(tind_keyspace *ks)
{
    void *v;
    size_t n;
    CHECK_OK(tind_get(ks, "k", 1, NULL, &v, &n));
    CHECK_MEM(v, n, "v", 1);
    tind_free(v);
}

/* k = "v" in a batch of its own with that durability */
static void put_durable(tind_keyspace *ks, tind_db *db, const char *k, int durability)
{
    tind_batch *b;
    CHECK_OK(tind_batch_new(db, &b));
    CHECK_OK(tind_batch_put(b, ks, k, strlen(k), "v", 1));
    tind_batch_set_durability(b, durability);
    CHECK_OK(tind_batch_commit(b));
    tind_batch_free(b);
}

static void sync_put(tind_keyspace *ks, tind_db *db, const char *k) { put_durable(ks, db, k, TIND_PERSIST_SYNC_ALL); }

TEST(creation_interrupted)
{
    /* fail, in turn, each call of the kinds the version-file write makes
     * during creation; whatever failed, a clean reopen must work */
    static const int kinds[] = {FS_CALL_OPEN, FS_CALL_WRITE, FS_CALL_SYNC, FS_CALL_RENAME, FS_CALL_SYNC_DIR,
                                FS_CALL_CLOSE, FS_CALL_MKDIR};
    int hit_versions = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (uint64_t nth = 1; nth < 12; nth++) {
            fs *mem = fs_mem_new();
            fs *ff = fs_fault_new(mem, 0);
            fs_fault_arm(ff, kinds[k], nth, FS_FAULT_ERRNO, EIO, 0, NULL);
            tind_db *db = NULL;
            int rc = open_on(ff, &db);
            int fired = fs_fault_injected(ff) > 0;
            fs_fault_disarm(ff);
            if (rc == TIND_OK)
                CHECK_OK(tind_close(db));
            if (rc != TIND_OK) {
                CHECK(fired);
                if (fs_exists(mem, "/db/FORMAT", NULL) == TIND_OK && fs_exists(mem, "/db/VERSIONS", NULL) != TIND_OK)
                    hit_versions++;
            }
            rc = open_on(ff, &db);
            if (rc)
                fprintf(stderr, "kind %s nth %llu: %s\n", fs_call_kind_name(kinds[k]), (unsigned long long)nth,
                        tind_errmsg(NULL));
            CHECK_OK(rc);
            tind_keyspace *ks;
            CHECK_OK(tind_keyspace_open(db, "ks", NULL, &ks));
            CHECK_OK(tind_put(ks, "k", 1, "v", 1));
            CHECK_OK(tind_close(db));
            CHECK_OK(open_on(ff, &db));
            CHECK_OK(tind_keyspace_open(db, "ks", NULL, &ks));
            expect_k(ks);
            CHECK_OK(tind_close(db));
            fs_destroy(ff);
            fs_destroy(mem);
        }
    CHECK(hit_versions > 0); /* the window was reached */

    /* a FORMAT without VERSIONS next to data files is still damage */
    fs *mem = fs_mem_new();
    tind_db *db;
    CHECK_OK(open_on(mem, &db));
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "ks", NULL, &ks));
    CHECK_OK(tind_put(ks, "k", 1, "v", 1));
    CHECK_OK(tind_close(db));
    CHECK_OK(fs_unlink(mem, "/db/VERSIONS", NULL));
    CHECK_RC(open_on(mem, &db), TIND_ECORRUPT);
    fs_destroy(mem);
}

TEST(creation_retried_syncs_parent)
{
    for (uint64_t nth = 1; nth <= 3; nth++) {
        fs *mem = fs_mem_new();
        fs *ff = fs_fault_new(mem, 0);
        fs_fault_arm(ff, FS_CALL_SYNC_DIR, nth, FS_FAULT_ERRNO, EIO, 0, NULL);
        tind_db *db = NULL;
        int rc = open_on(ff, &db);
        CHECK(rc != TIND_OK);
        CHECK_OK(open_on(ff, &db)); /* the fault fired once: the retry works */
        tind_keyspace *ks;
        CHECK_OK(tind_keyspace_open(db, "ks", NULL, &ks));
        sync_put(ks, db, "k");
        /* power loss: unsynced data and directory entries go */
        CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, nth));
        tind_close(db);
        CHECK_OK(open_on(ff, &db));
        CHECK_OK(tind_keyspace_exists(db, "ks"));
        CHECK_OK(tind_keyspace_open(db, "ks", NULL, &ks));
        expect_k(ks);
        CHECK_OK(tind_close(db));
        fs_destroy(ff);
        fs_destroy(mem);
    }
}

TEST(reopen_makes_recovery_durable)
{
    fs *mem = fs_mem_new();
    fs *ff = fs_fault_new(mem, 0);
    tind_db *db = NULL;
    CHECK_OK(open_on(ff, &db));
    tind_keyspace *a, *c;
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &a));
    CHECK_OK(tind_keyspace_open(db, "c", NULL, &c));
    CHECK_OK(tind_put(c, "k", 1, "v", 1));
    CHECK_OK(tind_persist(db, TIND_PERSIST_SYNC_ALL));
    /* the delete writes the version file: file sync, rename, then the
     * folder sync, which fails */
    fs_fault_arm(ff, FS_CALL_SYNC_DIR, 1, FS_FAULT_ERRNO, EIO, 0, NULL);
    CHECK(tind_keyspace_delete(db, "c") != TIND_OK);
    fs_fault_disarm(ff);
    tind_close(db);
    CHECK_OK(open_on(ff, &db));
    int deleted = tind_keyspace_exists(db, "c") == TIND_NOT_FOUND;
    CHECK_OK(tind_close(db));
    /* whatever the open served is what a power loss must leave */
    CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, 1));
    CHECK_OK(open_on(ff, &db));
    CHECK_EQ(tind_keyspace_exists(db, "c") == TIND_NOT_FOUND, deleted);
    CHECK(deleted); /* the rename had happened: this test reaches the window */
    CHECK_OK(tind_close(db));
    fs_destroy(ff);
    fs_destroy(mem);
}

/* key k holds "v" */
static void expect_value(tind_keyspace *ks, const char *k)
{
    void *v;
    size_t n;
    CHECK_OK(tind_get(ks, k, strlen(k), NULL, &v, &n));
    CHECK_MEM(v, n, "v", 1);
    tind_free(v);
}


TEST(journal_cut_to_header)
{
    fs *mem = fs_mem_new();
    tind_db *db;
    tind_keyspace *ks;
    CHECK_OK(open_on(mem, &db));
    CHECK_OK(tind_keyspace_open(db, "ks", NULL, &ks));
    sync_put(ks, db, "a");
    CHECK_OK(tind_close(db));
    CHECK_OK(open_on(mem, &db));
    CHECK_OK(tind_keyspace_open(db, "ks", NULL, &ks));
    sync_put(ks, db, "b");
    CHECK_OK(tind_close(db));
    /* the oldest journal holds "a" (never flushed): cut it to its header */
    char **names = NULL;
    size_t n = 0;
    CHECK_OK(fs_list(mem, "/db/journals", &names, &n, NULL));
    CHECK(n >= 2);
    char oldest[64] = "";
    for (size_t i = 0; i < n; i++)
        if (!oldest[0] || strcmp(names[i], oldest) < 0)
            snprintf(oldest, sizeof oldest, "%s", names[i]);
    fs_list_free(names, n);
    char path[128];
    snprintf(path, sizeof path, "/db/journals/%s", oldest);
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_OK(fs_read_all(mem, path, &data, &len, NULL));
    CHECK(len > JRN_FILE_HEADER_SIZE);
    CHECK_OK(fs_write_atomic(mem, "/db/journals", oldest, data, JRN_FILE_HEADER_SIZE, NULL));
    free(data);
    int rc = open_on(mem, &db);
    if (rc == TIND_OK) {
        /* it must not open with "a" gone */
        CHECK_OK(tind_keyspace_open(db, "ks", NULL, &ks));
        void *v;
        size_t vn;
        CHECK_OK(tind_get(ks, "a", 1, NULL, &v, &vn));
        tind_free(v);
        tind_close(db);
    } else {
        CHECK_RC(rc, TIND_ECORRUPT);
        CHECK(strstr(tind_errmsg(NULL), "records are missing") != NULL);
    }
    fs_destroy(mem);
}

TEST(seqnos_never_go_back)
{
    fs *mem = fs_mem_new();
    tind_db *db;
    tind_keyspace *a, *c;
    CHECK_OK(open_on(mem, &db));
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &a));
    CHECK_OK(tind_keyspace_open(db, "c", NULL, &c));
    CHECK_OK(tind_put(c, "k", 1, "v", 1));
    CHECK_OK(tind_close(db));
    /* the journal holding c's write is replayed, then released by the delete */
    CHECK_OK(open_on(mem, &db));
    CHECK_OK(tind_keyspace_delete(db, "c"));
    CHECK_OK(tind_close(db));
    for (int i = 0; i < 3; i++) {
        int rc = open_on(mem, &db);
        if (rc)
            fprintf(stderr, "reopen %d: %s\n", i, tind_errmsg(NULL));
        CHECK_OK(rc);
        CHECK_OK(tind_keyspace_open(db, "a", NULL, &a));
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        CHECK_OK(tind_put(a, key, strlen(key), "v", 1));
        CHECK_OK(tind_close(db));
    }
    fs_destroy(mem);
}

TEST(empty_sync_commit)
{
    for (int txn = 0; txn < 2; txn++) {
        fs *mem = fs_mem_new();
        tind_db *db = NULL;
        CHECK_OK(open_on(mem, &db));
        tind_keyspace *ks;
        CHECK_OK(tind_keyspace_open(db, "a", NULL, &ks));
        tind_batch *b;
        CHECK_OK(tind_batch_new(db, &b));
        tind_batch_set_durability(b, TIND_PERSIST_NONE);
        CHECK_OK(tind_batch_put(b, ks, "k", 1, "v", 1));
        CHECK_OK(tind_batch_commit(b));
        if (txn) {
            tind_txn *t;
            CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
            tind_txn_set_durability(t, TIND_PERSIST_SYNC_DATA);
            CHECK_OK(tind_txn_commit(t));
        } else {
            /* empty: lo == hi adds nothing */
            CHECK_OK(tind_batch_remove_range(b, ks, "b", 1, "b", 1));
            CHECK_EQ(tind_batch_count(b), 0);
            tind_batch_set_durability(b, TIND_PERSIST_SYNC_DATA);
            CHECK_OK(tind_batch_commit(b));
        }
        tind_batch_free(b);
        CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, 7));
        tind_close(db); /* fails to sync: the files are stale */
        CHECK_OK(open_on(mem, &db));
        CHECK_OK(tind_keyspace_open(db, "a", NULL, &ks));
        expect_k(ks);
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
}

/* A compaction filter that holds the first flush that calls it until
 * released (a wedge for flush_after_failed_rotation). */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, released;
} gate;

static int gate_filter(void *ctx, int level, const void *key, size_t klen, const void *val, size_t vlen,
                       uint64_t seqno, void **new_val, size_t *new_vlen)
{
    (void)level, (void)key, (void)klen, (void)val, (void)vlen, (void)seqno, (void)new_val, (void)new_vlen;
    gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    g->entered = 1;
    pthread_cond_broadcast(&g->cv);
    for (int i = 0; i < 100 && !g->released; i++) { /* 10 s at most: never a hang */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return TIND_FILTER_KEEP;
}

TEST(flush_after_failed_rotation)
{
    fs *mem = fs_mem_new();
    fs *ff = fs_fault_new(mem, 0);
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    tind_db *db = NULL;
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, ff);
    tind_options_set_background_threads(o, 1);
    CHECK_OK(tind_open("/db", o, &db));
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_compaction_filter(ko, gate_filter, &g);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "a", ko, &ks));
    sync_put(ks, db, "a");
    put_durable(ks, db, "b", TIND_PERSIST_NONE); /* a power loss may take it */
    /* The flush seals the memtable, the worker takes its flush (and waits
     * in the filter), and the rotation seals the journal, but the next
     * journal's header sync fails: poisoned, and the sealed journal is the
     * last one. The open of the next journal waits 1 s, so that the
     * worker has taken the flush before the database is poisoned (200 ms
     * was once too short under ASan on a loaded machine). */
    fs_fault_arm(ff, FS_CALL_OPEN, 1, FS_FAULT_DELAY, 1000, 0, "journals/");
    fs_fault_arm(ff, FS_CALL_SYNC, 1, FS_FAULT_ERRNO, EIO, 1, "journals/");
    CHECK(tind_flush(ks) != TIND_OK);
    fs_fault_disarm(ff);
    pthread_mutex_lock(&g.mu);
    CHECK(g.entered); /* the test reaches the window */
    g.released = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    /* the flush ends: it must not have named the table in a version file
     * while the journal holding "b" is unsynced and stays kept */
    for (int waits = 0; waits < 5000; waits++) {
        tind_db_stats st;
        CHECK_OK(tind_db_stats_get(db, &st));
        if (!st.running_flushes)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, 3));
    tind_close(db);
    for (int i = 0; i < 2; i++) {
        int rc = tind_open("/db", o, &db);
        if (rc)
            fprintf(stderr, "reopen %d: %s\n", i, tind_errmsg(NULL));
        CHECK_OK(rc);
        CHECK_OK(tind_keyspace_open(db, "a", ko, &ks));
        expect_value(ks, "a");
        sync_put(ks, db, i ? "d" : "c");
        CHECK_OK(tind_close(db));
    }
    CHECK_OK(tind_open("/db", o, &db));
    CHECK_OK(tind_keyspace_open(db, "a", ko, &ks));
    expect_value(ks, "c");
    expect_value(ks, "d");
    CHECK_OK(tind_close(db));
    tind_ks_options_free(ko);
    tind_options_free(o);
    fs_destroy(ff);
    fs_destroy(mem);
}

typedef struct ingest_input {
    int i, n;
    char key[16];
} ingest_input;

static int ingest_next(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    ingest_input *in = ctx;
    if (in->i == in->n)
        return 0;
    snprintf(in->key, sizeof in->key, "i%03d", in->i++);
    *key = in->key;
    *klen = strlen(in->key);
    *val = "v";
    *vlen = 1;
    return 1;
}

TEST(ingest_version_write_fails)
{
    for (int crash = 0; crash < 2; crash++)
        for (int bg = 0; bg < 2; bg++) {
            fs *mem = fs_mem_new();
            fs *ff = fs_fault_new(mem, 0);
            tind_options *o = tind_options_new();
            tind_options_set_fs(o, ff);
            tind_options_set_no_background(o, !bg);
            tind_db *db = NULL;
            CHECK_OK(tind_open("/db", o, &db));
            tind_keyspace *ks;
            CHECK_OK(tind_keyspace_open(db, "a", NULL, &ks));
            sync_put(ks, db, "a");
            CHECK_OK(tind_flush(ks)); /* the ingestion has nothing to flush */
            /* the ingestion syncs the tables folder, then writes the version
             * file: temporary file, sync, rename, folder sync (which fails) */
            fs_fault_arm(ff, FS_CALL_SYNC_DIR, 2, FS_FAULT_ERRNO, EIO, 1, NULL);
            ingest_input in = {0, 20, ""};
            CHECK(tind_ingest(ks, ingest_next, &in, TIND_INGEST_SORTED, 0, NULL, NULL, NULL) != TIND_OK);
            fs_fault_disarm(ff);
            if (crash)
                CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, 5));
            tind_close(db);
            int rc = tind_open("/db", o, &db);
            if (rc)
                fprintf(stderr, "reopen (crash %d, background %d): %s\n", crash, bg, tind_errmsg(NULL));
            CHECK_OK(rc);
            CHECK_OK(tind_keyspace_open(db, "a", NULL, &ks));
            expect_value(ks, "a");
            /* all of the ingestion or none of it */
            int found = 0;
            for (int i = 0; i < in.n; i++) {
                char k[16];
                snprintf(k, sizeof k, "i%03d", i);
                int grc = tind_contains(ks, k, strlen(k), NULL);
                if (grc != TIND_OK)
                    CHECK_RC(grc, TIND_NOT_FOUND);
                found += grc == TIND_OK;
            }
            CHECK(found == 0 || found == in.n);
            CHECK_OK(tind_close(db));
            tind_options_free(o);
            fs_destroy(ff);
            fs_destroy(mem);
        }
}

int main(void)
{
    check_seed_init(1);
    RUN(creation_interrupted);
    RUN(creation_retried_syncs_parent);
    RUN(reopen_makes_recovery_durable);
    RUN(journal_cut_to_header);
    RUN(seqnos_never_go_back);
    RUN(empty_sync_commit);
    RUN(flush_after_failed_rotation);
    RUN(ingest_version_write_fails);
    return 0;
}
