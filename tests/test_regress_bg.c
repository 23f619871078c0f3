/*
 * test_regress_bg.c -- regression tests for the waits on background work and
 * for tind_close (issue 10, bugs 1, 2, 3, 10 and 13). Every test runs with
 * background threads on (the default), where these bugs hid; each failed
 * (or hung: the watchdog turns a hang into a failure) before its fix.
 * TSAN-LABEL: the close races run under ThreadSanitizer too.
 *
 *   compact_finishes          tind_compact never returned on a keyspace with no
 *                             tables (never written, or everything deleted and
 *                             compacted away) nor on a FIFO keyspace: a
 *                             manual request the picker had nothing for was
 *                             never cleared. Leveled, size-tiered and FIFO.
 *   flush_keyspace_deleted    tind_flush waited forever for a flush the
 *                             deletion of its keyspace had cancelled; it
 *                             returns TIND_ENOENT.
 *   flush_compact_bg_error    tind_flush / tind_compact waited forever while
 *                             every table write failed (a full disk): they
 *                             return the background error, as writers do.
 *   close_poisoned            tind_close on a poisoned database returned OK
 *                             without the SYNC_ALL it promises; it returns
 *                             TIND_EPOISONED (message via tind_errmsg(NULL))
 *                             and still frees everything.
 *   close_refuses_live_handles
 *                             tind_close freed the database under live
 *                             iterators, snapshots and batches (freeing them
 *                             afterwards was a use-after-free); it refuses
 *                             with TIND_EBUSY and the database stays usable.
 *   close_races_calls         tind_get / tind_flush / tind_put racing
 *                             tind_close used the freed database; calls that
 *                             entered before close began finish first, later
 *                             ones get TIND_ECLOSED.
 *   flush_races_running_job   with background threads off, tind_flush and
 *                             tind_compact returned TIND_EIO ("background
 *                             work made no progress") when another thread's
 *                             tind_flush was running the keyspace's flush
 *                             inline; they wait for it, then do their own
 *                             work. The first flush is held inside its table
 *                             write (a gate in the file system), so the race
 *                             is the same every run; both background modes.
 *                             Also: a tind_compact whose flush came after the
 *                             pick of a manual compaction already running got
 *                             that compaction's end as its own; it gets a
 *                             pass of its own (every table in the last level).
 *   flush_races_keyspace_delete
 *                             the same wait returned TIND_EIO when the
 *                             keyspace was being deleted (a deletion waits
 *                             for the running flush; no job starts on it
 *                             meanwhile): tind_flush returns TIND_ENOENT
 *                             (found by tind-stress concurrent --bg 0).
 *   reads_race_flush          a get or a new iterator read the visible seqno
 *                             before it took the keyspace's view: a flush
 *                             finishing in between had dropped (or folded)
 *                             the versions at or below that seqno in favour
 *                             of a newer one the read could not see, so the
 *                             read found an older version or none (found by
 *                             test_merge's concurrent counter readers under
 *                             TSan). Overwrites and flushes against readers
 *                             that check every value only grows; both
 *                             background modes. The race is narrow: this
 *                             failed about 1 run in 20 before the fix;
 *                             test_merge's merge_cache_concurrent_readers
 *                             failed 6 in 20 under TSan.
 *   poisoned_write_keeps_pending
 *                             a write refused because the database was
 *                             poisoned (here: a flush's version file write
 *                             failed) dropped the journal records of the
 *                             batches before it still waiting in the
 *                             user-space buffer (durability NONE, already
 *                             acknowledged): it undid back to the mark an
 *                             earlier group had left, so close wrote nothing
 *                             and a clean reopen lost them (found by
 *                             replay_api_threads in CI). Both background
 *                             modes.
 *   failed_write_keeps_none   a journal write that failed (once) took the
 *                             acknowledged NONE records written with it:
 *                             close wrote nothing for a failed writer. It
 *                             now tries them once more; with the disk
 *                             failing for good they are lost (documented
 *                             with TIND_PERSIST_NONE).
 *   flushes_race_flushes      CI's tind-stress kill --writers 4 (threads
 *                             off) failed a writer's tind_flush with
 *                             TIND_EIO "background work made no progress":
 *                             between its step finding nothing to start
 *                             (another writer's flush running, or nothing
 *                             sealed) and its look at why, that flush ended
 *                             with another memtable still sealed, or another
 *                             thread sealed one. The wait now looks again
 *                             (WAIT_IDLE_STEPS) before it calls the work
 *                             stuck. The window is microseconds wide: this
 *                             stress (four writers putting and flushing one
 *                             keyspace with small memtables, both modes) did
 *                             not fail in 14 runs on the old code, idle or
 *                             loaded; it stands guard, not proof.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "db/db.h"
#include "util/coding.h"
#include "io/fs.h"
#include "tind_internal.h"

/* A hang is a failure: every test must finish well within this. */
#define WATCHDOG_SECONDS 60

static void watchdog(void) { check_watchdog(WATCHDOG_SECONDS); }

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Background threads on (the default). */
static int open_on(fs *f, tind_db **db)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, f);
    int rc = tind_open("/db", o, db);
    tind_options_free(o);
    return rc;
}

static tind_keyspace *open_ks(tind_db *db, const char *name, int strategy)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_compaction(ko, strategy);
    if (strategy == TIND_COMPACTION_FIFO)
        tind_ks_options_set_fifo(ko, 1u << 30, 0);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, name, ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

/* A database on the in-memory fs behind a fault injector, with one keyspace;
 * the watchdog armed. */
typedef struct fixture {
    fs *mem, *ff;
    tind_db *db;
    tind_keyspace *ks;
} fixture;

static void fx_open(fixture *fx, const char *ks_name)
{
    watchdog();
    fx->mem = fs_mem_new();
    fx->ff = fs_fault_new(fx->mem, 0);
    CHECK_OK(open_on(fx->ff, &fx->db));
    fx->ks = ks_name ? open_ks(fx->db, ks_name, TIND_COMPACTION_LEVELED) : NULL;
}

/* Closes (expecting close_rc) and frees everything; disarms the watchdog. */
static void fx_close(fixture *fx, int close_rc)
{
    CHECK_RC(tind_close(fx->db), close_rc);
    fs_destroy(fx->ff);
    fs_destroy(fx->mem);
    alarm(0);
}

static void put_keys(tind_keyspace *ks, int from, int to)
{
    for (int i = from; i < to; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%06d", i);
        CHECK_OK(tind_put(ks, k, strlen(k), "value", 5));
    }
}

/* Every step-th key of put_keys(ks, from, to) reads back. */
static void expect_keys(tind_keyspace *ks, int from, int to, int step)
{
    for (int k = from; k < to; k += step) {
        char key[32];
        void *v;
        size_t n;
        snprintf(key, sizeof key, "key%06d", k);
        CHECK_OK(tind_get(ks, key, strlen(key), NULL, &v, &n));
        CHECK_MEM(v, n, "value", 5);
        tind_free(v);
    }
}

static uint64_t table_count(tind_keyspace *ks)
{
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    uint64_t n = 0;
    for (uint32_t l = 0; l < st.levels && l < TIND_STATS_MAX_LEVELS; l++)
        n += st.tables[l];
    return n;
}

TEST(compact_finishes)
{
    static const int strategies[] = {TIND_COMPACTION_LEVELED, TIND_COMPACTION_TIERED, TIND_COMPACTION_FIFO};
    fixture fx;
    fx_open(&fx, NULL);
    tind_db *db = fx.db;
    for (size_t s = 0; s < 3; s++) {
        char name[16];
        snprintf(name, sizeof name, "ks%zu", s);
        tind_keyspace *ks = open_ks(db, name, strategies[s]);
        /* never written */
        CHECK_OK(tind_compact(ks));
        CHECK_OK(tind_compact(ks));
        /* with tables */
        put_keys(ks, 0, 100);
        CHECK_OK(tind_flush(ks));
        put_keys(ks, 50, 150);
        CHECK_OK(tind_compact(ks));
        CHECK(table_count(ks) >= 1);
        /* everything deleted and compacted away (FIFO keeps tombstones) */
        for (int i = 0; i < 150; i++) {
            char k[32];
            snprintf(k, sizeof k, "key%06d", i);
            CHECK_OK(tind_remove(ks, k, strlen(k)));
        }
        CHECK_OK(tind_compact(ks));
        if (strategies[s] != TIND_COMPACTION_FIFO)
            CHECK_EQ(table_count(ks), 0);
        CHECK_OK(tind_compact(ks));
        void *v;
        size_t n;
        CHECK_RC(tind_get(ks, "key000001", 9, NULL, &v, &n), TIND_NOT_FOUND);
    }
    fx_close(&fx, TIND_OK);
}

typedef struct flusher {
    tind_keyspace *ks;
    int compact;            /* tind_compact instead of tind_flush */
    _Atomic int started, done;
    int rc;
} flusher;

static void *flush_thread(void *arg)
{
    flusher *f = arg;
    atomic_store(&f->started, 1);
    f->rc = f->compact ? tind_compact(f->ks) : tind_flush(f->ks);
    atomic_store(&f->done, 1);
    return NULL;
}

TEST(flush_keyspace_deleted)
{
    fixture fx;
    fx_open(&fx, "doomed");
    tind_db *db = fx.db;
    tind_keyspace *ks = fx.ks;
    put_keys(ks, 0, 100);
    /* the flush cannot run: it is still pending when the keyspace goes */
    tind_internal_pause_background(db, 1);
    flusher f = {.ks = ks, .rc = 1};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, flush_thread, &f) == 0);
    while (!atomic_load(&f.started))
        sleep_ms(1);
    sleep_ms(50);
    CHECK_OK(tind_keyspace_delete(db, "doomed"));
    pthread_join(t, NULL);
    CHECK_RC(f.rc, TIND_ENOENT);
    tind_internal_pause_background(db, 0);
    CHECK_RC(tind_flush(ks), TIND_ENOENT);
    CHECK_RC(tind_compact(ks), TIND_ENOENT);
    fx_close(&fx, TIND_OK);
}

TEST(flush_compact_bg_error)
{
    fixture fx;
    fx_open(&fx, "full");
    tind_db *db = fx.db;
    tind_keyspace *ks = fx.ks;
    fs *ff = fx.ff;
    put_keys(ks, 0, 100);
    CHECK_OK(tind_flush(ks));
    put_keys(ks, 100, 200);
    CHECK_OK(tind_flush(ks));

    /* the disk is full for tables, forever: the job fails on every retry */
    fs_fault_arm(ff, FS_CALL_OPEN, 1, FS_FAULT_ERRNO, ENOSPC, 1, ".tbl");
    /* the memtable is empty: this waits for the compaction job alone */
    CHECK_RC(tind_compact(ks), TIND_ENOSPC);
    CHECK(strstr(tind_errmsg(db), "background work failed") != NULL);
    put_keys(ks, 200, 300);
    CHECK_RC(tind_flush(ks), TIND_ENOSPC);
    CHECK(strstr(tind_errmsg(db), "background work failed") != NULL);
    CHECK_RC(tind_compact(ks), TIND_ENOSPC);
    /* nothing poisoned: the journal holds every write */
    CHECK_OK(tind_persist(db, TIND_PERSIST_SYNC_DATA));

    fs_fault_disarm(ff);
    /* a job that opened its table before the disarm may still fail after
     * this flush began, and the flush rightly reports it: a later one ends */
    int rc = TIND_ENOSPC;
    for (int tries = 0; tries < 5 && rc == TIND_ENOSPC; tries++)
        rc = tind_flush(ks);
    CHECK_OK(rc);
    CHECK_OK(tind_compact(ks));
    void *v;
    size_t n;
    CHECK_OK(tind_get(ks, "key000250", 9, NULL, &v, &n));
    CHECK_MEM(v, n, "value", 5);
    tind_free(v);
    fx_close(&fx, TIND_OK);
}

/* A compaction that cuts many tables syncs each but the last on a thread of
 * its own while it writes the next (cmp_options.sync_behind, background
 * threads on): syncs that fail from there on, from the 1st or from a later
 * one, fail the compaction with the file named; nothing of it is installed or left on disk,
 * every key still reads; a compaction after it succeeds and survives a
 * reopen. */
TEST(compact_sync_behind_fails)
{
    watchdog();
    fs *mem = fs_mem_new();
    fs *ff = fs_fault_new(mem, 0);
    tind_db *db;
    CHECK_OK(open_on(ff, &db));
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_table_size(ko, 2 << 10);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "cut", ko, &ks));
    tind_ks_options_free(ko);
    for (int part = 0; part < 3; part++) {
        put_keys(ks, part * 2000, part * 2000 + 2000);
        CHECK_OK(tind_flush(ks));
    }
    CHECK_OK(tind_wait_idle(db, -1));
    const uint64_t nths[] = {1, 4}; /* a sync behind the writer, the first and a later one */
    for (size_t i = 0; i < sizeof nths / sizeof nths[0]; i++) {
        put_keys(ks, 0, 6000); /* every key again: the compaction rewrites the whole range, many tables */
        CHECK_OK(tind_flush(ks));
        CHECK_OK(tind_wait_idle(db, -1));
        /* the nth table sync and every later one fail: a one-shot fault
         * would be retried by the background work, and the call may then
         * rightly succeed */
        uint64_t injected = fs_fault_injected(ff);
        fs_fault_arm(ff, FS_CALL_SYNC, nths[i], FS_FAULT_ERRNO, EIO, 1, ".tbl");
        CHECK_RC(tind_compact(ks), TIND_EIO);
        CHECK(fs_fault_injected(ff) > injected);
        fs_fault_disarm(ff);
        CHECK(strstr(tind_errmsg(db), ".tbl") != NULL);
        /* a retry that began before the disarm may still fail, and the
         * wait rightly reports it: a later wait ends idle */
        int wrc = TIND_EIO;
        for (int tries = 0; tries < 20 && wrc != TIND_OK; tries++) {
            wrc = tind_wait_idle(db, -1);
            if (wrc != TIND_OK)
                sleep_ms(10);
        }
        CHECK_OK(wrc);
        CHECK(table_count(ks) >= 1);
        expect_keys(ks, 0, 6000, 97);
    }
    int rc = TIND_EIO;
    for (int tries = 0; tries < 5 && rc != TIND_OK; tries++)
        rc = tind_compact(ks);
    CHECK_OK(rc);
    CHECK(table_count(ks) >= 8); /* the compaction did cut many tables */
    CHECK_OK(tind_close(db));
    /* no table of the failed compactions is left on disk: every file is in the tree */
    CHECK_OK(open_on(ff, &db));
    ko = tind_ks_options_new();
    tind_ks_options_set_table_size(ko, 2 << 10);
    CHECK_OK(tind_keyspace_open(db, "cut", ko, &ks));
    tind_ks_options_free(ko);
    char **names = NULL;
    size_t nn = 0, files = 0;
    CHECK_OK(fs_list(mem, "/db/tables", &names, &nn, NULL));
    for (size_t j = 0; j < nn; j++)
        files += strstr(names[j], ".tbl") != NULL;
    fs_list_free(names, nn);
    CHECK_EQ(files, table_count(ks));
    expect_keys(ks, 0, 6000, 1);
    CHECK_OK(tind_close(db));
    fs_destroy(ff);
    fs_destroy(mem);
    alarm(0);
}

TEST(close_poisoned)
{
    fixture fx;
    fx_open(&fx, "a");
    put_keys(fx.ks, 0, 10);
    fs_fault_arm(fx.ff, FS_CALL_SYNC, 1, FS_FAULT_ERRNO, EIO, 1, ".jrn");
    CHECK(tind_persist(fx.db, TIND_PERSIST_SYNC_DATA) != TIND_OK);
    CHECK_RC(tind_persist(fx.db, TIND_PERSIST_SYNC_DATA), TIND_EPOISONED);
    fs_fault_disarm(fx.ff);
    /* close cannot make its SYNC_ALL: it says so, and still frees (ASan) */
    CHECK_RC(tind_close(fx.db), TIND_EPOISONED);
    CHECK(strstr(tind_errmsg(NULL), "poisoned") != NULL);
    /* the folder is free again */
    CHECK_OK(open_on(fx.ff, &fx.db));
    fx_close(&fx, TIND_OK);
}

TEST(close_refuses_live_handles)
{
    fixture fx;
    fx_open(&fx, "a");
    tind_db *db = fx.db;
    tind_keyspace *ks = fx.ks;
    put_keys(ks, 0, 10);
    tind_iter *it1, *it2;
    tind_snapshot *snap;
    tind_batch *b;
    CHECK_OK(tind_iter_prefix(ks, "key", 3, NULL, &it1));
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it2));
    CHECK_OK(tind_snapshot_new(db, &snap));
    CHECK_OK(tind_batch_new(db, &b));

    CHECK_RC(tind_close(db), TIND_EBUSY);
    CHECK(strcmp(tind_errmsg(db), "tind_close: 2 iterators, 1 snapshot, 1 batch still open") == 0);
    /* refused, not half-closed: every handle and call still works */
    tind_iter_first(it1);
    CHECK(tind_iter_valid(it1));
    CHECK_OK(tind_batch_put(b, ks, "b", 1, "1", 1));
    CHECK_OK(tind_batch_commit(b));
    CHECK_OK(tind_put(ks, "c", 1, "2", 1));
    CHECK_OK(tind_flush(ks));
    void *v;
    size_t n;
    CHECK_OK(tind_get(ks, "b", 1, NULL, &v, &n));
    tind_free(v);

    tind_iter_free(it1);
    tind_iter_free(it2);
    CHECK_RC(tind_close(db), TIND_EBUSY);
    CHECK(strcmp(tind_errmsg(db), "tind_close: 1 snapshot, 1 batch still open") == 0);
    tind_snapshot_free(snap);
    CHECK_RC(tind_close(db), TIND_EBUSY);
    CHECK(strcmp(tind_errmsg(db), "tind_close: 1 batch still open") == 0);
    tind_batch_free(b);
    /* first / last make and free an iterator of their own */
    CHECK_OK(tind_first(ks, NULL, NULL, NULL, NULL, NULL));
    fx_close(&fx, TIND_OK);
}

enum { CALL_GET, CALL_FLUSH, CALL_PUT };

typedef struct hammer {
    tind_keyspace *ks;
    int call;            /* CALL_GET: until TIND_ECLOSED; the others: once */
    pthread_t thread;
    _Atomic long calls;
    _Atomic int done;
    int bad_rc;          /* a status other than OK / NOT_FOUND / ECLOSED */
} hammer;

static void *hammer_thread(void *arg)
{
    hammer *h = arg;
    for (;;) {
        int rc;
        if (h->call == CALL_FLUSH) {
            rc = tind_flush(h->ks);
        } else if (h->call == CALL_PUT) {
            rc = tind_put(h->ks, "late", 4, "v", 1);
        } else {
            void *v = NULL;
            size_t n;
            rc = tind_get(h->ks, "key000005", 9, NULL, &v, &n);
            tind_free(v);
        }
        atomic_fetch_add(&h->calls, 1);
        if (rc != TIND_OK && rc != TIND_NOT_FOUND && rc != TIND_ECLOSED && !h->bad_rc)
            h->bad_rc = rc;
        /* once close has begun, a new call would race its free: stop */
        if (rc == TIND_ECLOSED || h->call != CALL_GET)
            break;
    }
    atomic_store(&h->done, 1);
    return NULL;
}

typedef struct closer {
    tind_db *db;
    int rc;
} closer;

static void *close_thread(void *arg)
{
    closer *c = arg;
    c->rc = tind_close(c->db);
    return NULL;
}

/* Readers hammer tind_get while another thread closes. To make the test
 * deterministic, the test holds write_mu: a put and two flushes are then
 * inside the engine, blocked, when close begins, so close must wait for them;
 * write_mu is let go only once every reader has seen TIND_ECLOSED, so no
 * reader can start a call after the free (that is the caller's bug). */
TEST(close_races_calls)
{
    watchdog();
    char *dir = check_tmpdir("regress_bg_close");
    for (int round = 0; round < 10; round++) {
        tind_db *db;
        CHECK_OK(tind_open(dir, NULL, &db));
        tind_keyspace *ks = open_ks(db, "a", TIND_COMPACTION_LEVELED);
        put_keys(ks, 0, 50);
        if (round % 2)
            CHECK_OK(tind_flush(ks)); /* reads from a table too */
        mu_lock(&db->write_mu);
        enum { N = 5 };
        static const int calls[N] = {CALL_PUT, CALL_FLUSH, CALL_FLUSH, CALL_GET, CALL_GET};
        hammer h[N];
        for (int i = 0; i < N; i++) {
            memset(&h[i], 0, sizeof h[i]);
            h[i].ks = ks;
            h[i].call = calls[i];
            CHECK(pthread_create(&h[i].thread, NULL, hammer_thread, &h[i]) == 0);
            /* the put and the flushes: inside, blocked, before the readers start */
            while (i < 3 && atomic_load(&db->active_calls) < i + 1)
                sleep_ms(1);
        }
        while (atomic_load(&h[3].calls) < 100 || atomic_load(&h[4].calls) < 100)
            sleep_ms(1);
        closer c = {db, 1};
        pthread_t ct;
        CHECK(pthread_create(&ct, NULL, close_thread, &c) == 0);
        while (!atomic_load(&h[3].done) || !atomic_load(&h[4].done))
            sleep_ms(1);
        /* the put and the flushes still hold close back: db is alive */
        CHECK(!atomic_load(&h[0].done) && !atomic_load(&h[1].done) && !atomic_load(&h[2].done));
        mu_unlock(&db->write_mu);
        pthread_join(ct, NULL);
        CHECK_OK(c.rc);
        for (int i = 0; i < N; i++) {
            pthread_join(h[i].thread, NULL);
            CHECK_OK(h[i].bad_rc);
        }
    }
    check_rmtree(dir);
    free(dir);
    alarm(0);
}

/* ---- a file system that holds the next table creation until released */

typedef struct gate_fs {
    fs head;
    fs *inner;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int armed, held, released;
} gate_fs;

#define GATE_INNER(f) (((gate_fs *)(f))->inner)

static int gate_open(fs *f, const char *path, int flags, fs_file **out, tind_err *err)
{
    gate_fs *g = (gate_fs *)f;
    pthread_mutex_lock(&g->mu);
    if (g->armed && (flags & FS_O_CREATE) && strstr(path, ".tbl")) {
        g->armed = 0;
        g->held = 1;
        pthread_cond_broadcast(&g->cv);
        while (!g->released)
            pthread_cond_wait(&g->cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return fs_open(g->inner, path, flags, out, err); /* the file's calls go to inner */
}
static int gate_rename(fs *f, const char *a, const char *b, tind_err *err) { return fs_rename(GATE_INNER(f), a, b, err); }
static int gate_link(fs *f, const char *a, const char *b, tind_err *err) { return fs_link(GATE_INNER(f), a, b, err); }
static int gate_unlink(fs *f, const char *p, tind_err *err) { return fs_unlink(GATE_INNER(f), p, err); }
static int gate_mkdir(fs *f, const char *p, tind_err *err) { return fs_mkdir(GATE_INNER(f), p, err); }
static int gate_rmdir(fs *f, const char *p, tind_err *err) { return fs_rmdir(GATE_INNER(f), p, err); }
static int gate_sync_dir(fs *f, const char *p, tind_err *err) { return fs_sync_dir(GATE_INNER(f), p, err); }
static int gate_list(fs *f, const char *d, char ***names, size_t *count, tind_err *err)
{
    return fs_list(GATE_INNER(f), d, names, count, err);
}
static int gate_exists(fs *f, const char *p, int *is_dir) { return fs_exists(GATE_INNER(f), p, is_dir); }
static int gate_lock(fs *f, const char *p, int mode, fs_lock **out, tind_err *err)
{
    return GATE_INNER(f)->ops->lock(GATE_INNER(f), p, mode, out, err);
}
static void gate_destroy(fs *f)
{
    gate_fs *g = (gate_fs *)f;
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

/* File calls (close, read, write, sync...) and unlock dispatch on the
 * file's or lock's owner, the inner fs; these are never called. */
static const fs_ops gate_ops = {
    .open = gate_open, .rename = gate_rename, .link = gate_link, .unlink = gate_unlink, .mkdir = gate_mkdir,
    .rmdir = gate_rmdir, .sync_dir = gate_sync_dir, .list = gate_list, .exists = gate_exists, .lock = gate_lock,
    .destroy = gate_destroy,
};

static gate_fs *gate_new(fs *inner)
{
    gate_fs *g = calloc(1, sizeof *g);
    CHECK(g != NULL);
    g->head.ops = &gate_ops;
    g->head.name = "gate";
    g->inner = inner;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    return g;
}

static void gate_wait_held(gate_fs *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->held)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_release(gate_fs *g)
{
    pthread_mutex_lock(&g->mu);
    g->released = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* A database on a gated mem fs (background threads on or off), keyspace "a". */
typedef struct gated {
    fs *mem;
    gate_fs *g;
    tind_db *db;
    tind_keyspace *ks;
} gated;

static void gated_open(gated *x, int bg)
{
    watchdog();
    x->mem = fs_mem_new();
    x->g = gate_new(x->mem);
    x->db = check_open_mem(&x->g->head, bg);
    x->ks = open_ks(x->db, "a", TIND_COMPACTION_LEVELED);
}

static void gated_close(gated *x)
{
    CHECK_OK(tind_close(x->db));
    fs_destroy(&x->g->head);
    fs_destroy(x->mem);
    alarm(0);
}

/* Starts `first` and holds it at its next table creation (with background
 * threads off its own thread runs the job); writes keys from..to; starts
 * `other` in a thread (and `third` first, when given: it gets 50 ms to
 * block on the held job before `other` starts), checks that `other` waits
 * while the job is held (it used to return TIND_EIO at once), lets the job go
 * and joins every thread. */
static void race(gated *x, flusher *first, int from, int to, void *(*third)(void *), void *third_arg, flusher *other)
{
    pthread_mutex_lock(&x->g->mu);
    x->g->armed = 1;
    pthread_mutex_unlock(&x->g->mu);
    pthread_t t1, t2, t3;
    CHECK(pthread_create(&t1, NULL, flush_thread, first) == 0);
    gate_wait_held(x->g);
    put_keys(x->ks, from, to);
    if (third) {
        CHECK(pthread_create(&t3, NULL, third, third_arg) == 0);
        sleep_ms(50);
    }
    CHECK(pthread_create(&t2, NULL, flush_thread, other) == 0);
    sleep_ms(50);
    CHECK(!atomic_load(&other->done));
    CHECK(!atomic_load(&first->done));
    gate_release(x->g);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    if (third)
        pthread_join(t3, NULL);
}

/* Everything written is in tables; with `bottom`, every table is in the
 * last level. */
static void check_flushed(gated *x, int bottom)
{
    CHECK_EQ(tind_internal_ks_flushed_seqno(x->ks), tind_internal_last_seqno(x->db));
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(x->ks, &st));
    for (uint32_t l = 0; bottom && l + 1 < st.levels && l < TIND_STATS_MAX_LEVELS; l++)
        CHECK_EQ(st.tables[l], 0);
    CHECK(table_count(x->ks) >= 1);
}

TEST(flush_races_running_job)
{
    for (int bg = 0; bg < 2; bg++)
        for (int second = 0; second < 2; second++) { /* the second call: tind_flush, tind_compact */
            gated x;
            gated_open(&x, bg);
            put_keys(x.ks, 0, 100);
            CHECK_OK(tind_flush(x.ks));
            put_keys(x.ks, 100, 200);
            flusher first = {.ks = x.ks}, other = {.ks = x.ks, .compact = second};
            race(&x, &first, 200, 300, NULL, NULL, &other);
            CHECK_OK(first.rc);
            CHECK_OK(other.rc);
            /* the second call did its own work: keys 200..299, written after
             * the first flush began, are in tables too */
            check_flushed(&x, second);
            for (int i = 0; i < 300; i += 7) {
                char k[32];
                snprintf(k, sizeof k, "key%06d", i);
                void *v;
                size_t n;
                CHECK_OK(tind_get(x.ks, k, strlen(k), NULL, &v, &n));
                CHECK_MEM(v, n, "value", 5);
                tind_free(v);
            }
            gated_close(&x);
        }
}

/* Two tind_compact calls at once (threads off: each runs the work itself);
 * the second flushes after the first's manual pick (the first is held at its
 * output table's creation, its inputs the four tables below). Both return
 * with every table in the last level. */
TEST(compact_races_compact)
{
    for (int bg = 0; bg < 2; bg++) {
        gated x;
        gated_open(&x, bg);
        for (int r = 0; r < 4; r++) {
            put_keys(x.ks, r * 100, r * 100 + 150);
            CHECK_OK(tind_flush(x.ks));
        }
        flusher first = {.ks = x.ks, .compact = 1}, other = {.ks = x.ks, .compact = 1};
        race(&x, &first, 1000, 1100, NULL, NULL, &other);
        CHECK_OK(first.rc);
        CHECK_OK(other.rc);
        check_flushed(&x, 1);
        void *v;
        size_t n;
        CHECK_OK(tind_get(x.ks, "key001050", 9, NULL, &v, &n));
        tind_free(v);
        gated_close(&x);
    }
}

typedef struct deleter {
    tind_db *db;
    int rc;
} deleter;

static void *delete_thread(void *arg)
{
    deleter *d = arg;
    d->rc = tind_keyspace_delete(d->db, "a");
    return NULL;
}

/* A flush held; a deletion of its keyspace waiting for it; then a second
 * flush, which must wait and end with TIND_ENOENT. */
TEST(flush_races_keyspace_delete)
{
    for (int bg = 0; bg < 2; bg++) {
        gated x;
        gated_open(&x, bg);
        put_keys(x.ks, 0, 100);
        flusher first = {.ks = x.ks}, other = {.ks = x.ks};
        deleter d = {x.db, 1};
        race(&x, &first, 100, 200, delete_thread, &d, &other);
        CHECK_OK(d.rc);
        CHECK(first.rc == TIND_OK || first.rc == TIND_ENOENT);
        CHECK_RC(other.rc, TIND_ENOENT);
        CHECK_RC(tind_flush(x.ks), TIND_ENOENT);
        gated_close(&x);
    }
}

/* One writer overwrites "k" with a growing counter and flushes often;
 * readers check that every get and every new iterator finds it, never
 * smaller than what they saw before. */
typedef struct race_reads {
    tind_keyspace *ks;
    _Atomic int done;
    _Atomic int bad;
} race_reads;

static uint64_t read_counter(const void *v, size_t n) { return n == 8 ? dec_u64(v) : 0; }

static void *race_reader(void *arg)
{
    race_reads *r = arg;
    uint64_t last = 0;
    for (unsigned round = 0; !atomic_load(&r->done); round++) {
        uint64_t x = 0;
        if (round % 4 == 3) {
            tind_iter *it;
            if (tind_iter_range(r->ks, "k", 1, NULL, 0, NULL, &it) != TIND_OK) {
                atomic_store(&r->bad, 1);
                break;
            }
            tind_iter_first(it);
            size_t n = 0;
            const void *v = tind_iter_valid(it) ? tind_iter_value(it, &n) : NULL;
            x = v ? read_counter(v, n) : 0;
            tind_iter_free(it);
        } else {
            void *v;
            size_t n;
            if (tind_get(r->ks, "k", 1, NULL, &v, &n) == TIND_OK) {
                x = read_counter(v, n);
                tind_free(v);
            }
        }
        if (x == 0 || x < last) {
            atomic_store(&r->bad, 1);
            break;
        }
        last = x;
    }
    return NULL;
}

TEST(reads_race_flush)
{
    for (int bg = 0; bg < 2; bg++) {
        watchdog();
        fs *mem = fs_mem_new();
        tind_options *o = tind_options_new();
        tind_options_set_fs(o, mem);
        tind_options_set_no_background(o, !bg);
        tind_db *db;
        CHECK_OK(tind_open("/db", o, &db));
        tind_options_free(o);
        race_reads r = {.ks = open_ks(db, "r", TIND_COMPACTION_LEVELED)};
        uint8_t b[8];
        enc_u64(b, 1);
        CHECK_OK(tind_put(r.ks, "k", 1, b, 8)); /* the readers start once the key exists */
        pthread_t t[2];
        for (int j = 0; j < 2; j++)
            CHECK(pthread_create(&t[j], NULL, race_reader, &r) == 0);
        for (uint64_t w = 2; w <= 4000 && !atomic_load(&r.bad); w++) {
            enc_u64(b, w);
            CHECK_OK(tind_put(r.ks, "k", 1, b, 8));
            CHECK_OK(tind_put(r.ks, "pad", 3, b, 8));
            if (w % 8 == 0)
                CHECK_OK(tind_flush(r.ks));
        }
        atomic_store(&r.done, 1);
        for (int j = 0; j < 2; j++)
            pthread_join(t[j], NULL);
        CHECK(!atomic_load(&r.bad));
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
        alarm(0);
    }
}

static size_t sealed_memtables(tind_keyspace *ks)
{
    mu_lock(&ks->db->mu);
    size_t n = ks->sealed_count;
    mu_unlock(&ks->db->mu);
    return n;
}

TEST(poisoned_write_keeps_pending)
{
    for (int bg = 0; bg < 2; bg++) {
        watchdog();
        fs *mem = fs_mem_new(), *ff = fs_fault_new(mem, 0);
        tind_options *o = tind_options_new();
        tind_options_set_fs(o, ff);
        tind_options_set_no_background(o, !bg);
        tind_db *db;
        CHECK_OK(tind_open("/db", o, &db));
        tind_ks_options *ko = tind_ks_options_new();
        tind_ks_options_set_memtable_size(ko, 1024);
        tind_keyspace *ks;
        CHECK_OK(tind_keyspace_open(db, "p", ko, &ks));
        if (bg)
            CHECK_OK(tind_internal_pause_background(db, 1));
        /* a sealed memtable waits for its flush (the seal rotated the journal) */
        for (int i = 0; sealed_memtables(ks) == 0; i++) {
            CHECK(i < 1000);
            put_keys(ks, i, i + 1);
        }
        /* acknowledged, its record still in the journal's user-space buffer */
        tind_write_options *wo = tind_write_options_new();
        tind_write_options_set_durability(wo, TIND_PERSIST_NONE);
        CHECK_OK(tind_put_opt(ks, "acked", 5, "kept", 4, wo));
        CHECK(jset_pending(&db->journals) > 0);
        /* the flush's version file write fails: poisoned */
        fs_fault_arm(ff, FS_CALL_WRITE, 1, FS_FAULT_ERRNO, EIO, 1, "VERSIONS");
        fs_fault_arm(ff, FS_CALL_RENAME, 1, FS_FAULT_ERRNO, EIO, 1, "VERSIONS");
        if (bg) {
            CHECK_OK(tind_internal_pause_background(db, 0));
            for (int i = 0; !tind_internal_is_poisoned(db); i++) {
                CHECK(i < 2000);
                sleep_ms(5);
            }
        } else
            CHECK(tind_internal_background_step(db) < 0);
        CHECK(tind_internal_is_poisoned(db));
        /* a refused write must leave the earlier pending record alone */
        CHECK_RC(tind_put_opt(ks, "refused", 7, "x", 1, wo), TIND_EPOISONED);
        tind_write_options_free(wo);
        fs_fault_disarm(ff);
        CHECK_RC(tind_close(db), TIND_EPOISONED); /* no SYNC_ALL; the records are written */
        CHECK_OK(tind_open("/db", o, &db));
        CHECK_OK(tind_keyspace_open(db, "p", ko, &ks));
        void *v;
        size_t n;
        CHECK_OK(tind_get(ks, "acked", 5, NULL, &v, &n));
        CHECK_MEM(v, n, "kept", 4);
        tind_free(v);
        CHECK_RC(tind_get(ks, "refused", 7, NULL, &v, &n), TIND_NOT_FOUND);
        CHECK_OK(tind_close(db));
        tind_ks_options_free(ko);
        tind_options_free(o);
        fs_destroy(ff);
        fs_destroy(mem);
        alarm(0);
    }
}

TEST(failed_write_keeps_none)
{
    for (int forever = 0; forever < 2; forever++) {
        watchdog();
        fs *mem = fs_mem_new(), *ff = fs_fault_new(mem, 0);
        tind_options *o = tind_options_new();
        tind_options_set_fs(o, ff);
        tind_db *db;
        CHECK_OK(tind_open("/db", o, &db));
        tind_keyspace *ks;
        CHECK_OK(tind_keyspace_open(db, "p", NULL, &ks));
        tind_write_options *wo = tind_write_options_new();
        tind_write_options_set_durability(wo, TIND_PERSIST_NONE);
        CHECK_OK(tind_put_opt(ks, "acked", 5, "kept", 4, wo));
        tind_write_options_free(wo);
        /* a BUFFER write takes the pending record with it, and fails */
        fs_fault_arm(ff, FS_CALL_WRITE, 1, FS_FAULT_ERRNO, EIO, forever, ".jrn");
        CHECK_RC(tind_put(ks, "failed", 6, "x", 1), TIND_EIO);
        CHECK(strstr(tind_errmsg(db), "journal") != NULL);
        CHECK(tind_internal_is_poisoned(db));
        /* still readable until closed */
        void *v;
        size_t n;
        CHECK_OK(tind_get(ks, "acked", 5, NULL, &v, &n));
        tind_free(v);
        CHECK_RC(tind_close(db), TIND_EPOISONED);
        fs_fault_disarm(ff);
        CHECK_OK(tind_open("/db", o, &db));
        CHECK_OK(tind_keyspace_open(db, "p", NULL, &ks));
        CHECK_RC(tind_get(ks, "acked", 5, NULL, &v, &n), forever ? TIND_NOT_FOUND : TIND_OK);
        if (!forever) {
            CHECK_MEM(v, n, "kept", 4);
            tind_free(v);
        }
        CHECK_OK(tind_close(db));
        tind_options_free(o);
        fs_destroy(ff);
        fs_destroy(mem);
        alarm(0);
    }
}

/* Writers that each put and flush in a loop (threads off: every flush runs
 * inline, so one call often finds another's flush running). */
typedef struct flush_loop {
    tind_keyspace *ks;
    int id, rounds, failures;
} flush_loop;

static void *flush_loop_thread(void *arg)
{
    flush_loop *f = arg;
    for (int r = 0; r < f->rounds; r++) {
        char k[32];
        for (int i = 0; i < 20; i++) {
            snprintf(k, sizeof k, "w%d-%04d-%02d", f->id, r, i);
            if (tind_put(f->ks, k, strlen(k), "value", 5) != TIND_OK)
                f->failures++;
        }
        int rc = tind_flush(f->ks);
        if (rc != TIND_OK) {
            fprintf(stderr, "writer %d round %d: %s\n", f->id, r, tind_errmsg(NULL));
            f->failures++;
        }
    }
    return NULL;
}

TEST(flushes_race_flushes)
{
    for (int bg = 0; bg < 2; bg++) {
        watchdog();
        fs *mem = fs_mem_new();
        tind_db *db = check_open_mem(mem, bg);
        /* small memtables: the writers' puts seal them too */
        tind_ks_options *ko = tind_ks_options_new();
        tind_ks_options_set_memtable_size(ko, 8192);
        tind_keyspace *ks;
        CHECK_OK(tind_keyspace_open(db, "a", ko, &ks));
        tind_ks_options_free(ko);
        flush_loop w[4];
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
            w[i] = (flush_loop){ks, i, 400, 0};
            CHECK(pthread_create(&t[i], NULL, flush_loop_thread, &w[i]) == 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            CHECK_EQ(w[i].failures, 0);
        }
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
        alarm(0);
    }
}

/* No arguments: every test; else only the tests named. */
static int selected(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return argc < 2;
}
#define RUN_SELECTED(name) do { if (selected(argc, argv, #name)) RUN(name); } while (0)

int main(int argc, char **argv)
{
    check_seed_init(1);
    RUN_SELECTED(compact_finishes);
    RUN_SELECTED(flush_keyspace_deleted);
    RUN_SELECTED(flush_compact_bg_error);
    RUN_SELECTED(compact_sync_behind_fails);
    RUN_SELECTED(close_poisoned);
    RUN_SELECTED(close_refuses_live_handles);
    RUN_SELECTED(close_races_calls);
    RUN_SELECTED(flush_races_running_job);
    RUN_SELECTED(compact_races_compact);
    RUN_SELECTED(flush_races_keyspace_delete);
    RUN_SELECTED(reads_race_flush);
    RUN_SELECTED(poisoned_write_keeps_pending);
    RUN_SELECTED(failed_write_keeps_none);
    RUN_SELECTED(flushes_race_flushes);
    return 0;
}
