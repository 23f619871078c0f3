/*
 * test_wait_idle.c -- tind_wait_idle (issue 15): waits until no flush or
 * compaction is pending or running, with background threads on (the workers
 * do the work) and off (the caller does it).
 * TSAN-LABEL: a writer thread races the waits.
 *
 *   burst_then_idle      after a burst of writes through 64 KiB memtables
 *                        (many flushes, L0 compactions), wait_idle returns
 *                        TIND_OK, the stats show no sealed memtable, a
 *                        check-only call (timeout 0) is TIND_OK at once, and
 *                        every key reads back. Background on and off; off, a
 *                        check-only call first reports the pending work.
 *   timeout_busy         with the workers paused and memtables sealed,
 *                        wait_idle(30 ms) returns TIND_EBUSY naming the
 *                        database; unpaused, it returns TIND_OK.
 *   job_error            every table write fails (a full disk): wait_idle
 *                        returns TIND_ENOSPC (background on and off) rather
 *                        than wait forever; after the disk recovers, TIND_OK.
 *   racing_writer        a thread writes while another waits repeatedly:
 *                        every wait ends (TIND_OK), nothing is lost.
 *   deferred_l0_is_idle  a level 0 the picker defers (at its threshold, smaller
 *                        than the level below) is not work: TIND_OK with the
 *                        tables there, pending_compaction_bytes > 0;
 *                        tind_compact merges them.
 *   bad_args             NULL db: TIND_EINVAL.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "io/fs.h"
#include "tind_internal.h"

typedef struct fixture {
    fs *mem, *ff;
    tind_db *db;
    tind_keyspace *ks;
} fixture;

static void fx_open(fixture *fx, int background)
{
    check_watchdog(60);
    fx->mem = fs_mem_new();
    fx->ff = fs_fault_new(fx->mem, 0);
    fx->db = check_open_mem(fx->ff, background);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 64 * 1024);
    CHECK_OK(tind_keyspace_open(fx->db, "ks", ko, &fx->ks));
    tind_ks_options_free(ko);
}

static void fx_close(fixture *fx)
{
    CHECK_OK(tind_close(fx->db));
    fs_destroy(fx->ff);
    fs_destroy(fx->mem);
    check_watchdog(0);
}

static void put_keys(tind_keyspace *ks, int from, int to)
{
    char v[100];
    memset(v, 'v', sizeof v);
    for (int i = from; i < to; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%08d", i);
        CHECK_OK(tind_put(ks, k, strlen(k), v, sizeof v));
    }
}

static void check_keys(tind_keyspace *ks, int from, int to)
{
    for (int i = from; i < to; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%08d", i);
        void *v;
        size_t n;
        CHECK_OK(tind_get(ks, k, strlen(k), NULL, &v, &n));
        CHECK_EQ(n, 100);
        tind_free(v);
    }
}

static tind_ks_stats stats(tind_keyspace *ks)
{
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    return st;
}

TEST(burst_then_idle)
{
    for (int bg = 1; bg >= 0; bg--) {
        fixture fx;
        fx_open(&fx, bg);
        /* twice: the second pass overlaps the first's tables, so merging
         * them is real compaction (sequential tables alone only move down) */
        put_keys(fx.ks, 0, 20000);
        put_keys(fx.ks, 0, 20000);
        if (!bg) {
            /* nobody flushes without workers: the work is pending */
            CHECK(stats(fx.ks).sealed_memtables > 0);
            CHECK_RC(tind_wait_idle(fx.db, 0), TIND_EBUSY);
            CHECK(strstr(tind_errmsg(fx.db), "background work still pending") != NULL);
        }
        CHECK_OK(tind_wait_idle(fx.db, -1));
        tind_ks_stats st = stats(fx.ks);
        CHECK_EQ(st.sealed_memtables, 0);
        CHECK(st.flushes > 0);
        CHECK(st.compactions > 0);
        /* idle means idle: nothing more to do, so a check-only call agrees */
        CHECK_OK(tind_wait_idle(fx.db, 0));
        CHECK_EQ(stats(fx.ks).compactions, st.compactions);
        check_keys(fx.ks, 0, 20000);
        fx_close(&fx);
    }
}

TEST(timeout_busy)
{
    fixture fx;
    fx_open(&fx, 1);
    CHECK_OK(tind_internal_pause_background(fx.db, 1));
    put_keys(fx.ks, 0, 1500); /* ~2 memtables sealed: below the slowdown */
    CHECK(stats(fx.ks).sealed_memtables > 0);
    CHECK_RC(tind_wait_idle(fx.db, 30), TIND_EBUSY);
    CHECK(strstr(tind_errmsg(fx.db), "/db") != NULL);
    CHECK(strstr(tind_errmsg(fx.db), "still pending after 30 ms") != NULL);
    CHECK_OK(tind_internal_pause_background(fx.db, 0));
    CHECK_OK(tind_wait_idle(fx.db, -1));
    CHECK_EQ(stats(fx.ks).sealed_memtables, 0);
    check_keys(fx.ks, 0, 1500);
    fx_close(&fx);
}

TEST(job_error)
{
    for (int bg = 1; bg >= 0; bg--) {
        fixture fx;
        fx_open(&fx, bg);
        fs_fault_arm(fx.ff, FS_CALL_OPEN, 1, FS_FAULT_ERRNO, ENOSPC, 1, ".tbl");
        put_keys(fx.ks, 0, 1500);
        CHECK_RC(tind_wait_idle(fx.db, -1), TIND_ENOSPC);
        fs_fault_disarm(fx.ff);
        /* a job that opened its table before the disarm may still fail
         * after the next wait began, and the wait rightly reports it */
        int rc = TIND_ENOSPC;
        for (int i = 0; i < 50 && rc == TIND_ENOSPC; i++)
            rc = tind_wait_idle(fx.db, -1);
        CHECK_OK(rc);
        CHECK_EQ(stats(fx.ks).sealed_memtables, 0);
        check_keys(fx.ks, 0, 1500);
        fx_close(&fx);
    }
}

typedef struct writer {
    tind_keyspace *ks;
    _Atomic int done;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    put_keys(w->ks, 0, 10000);
    atomic_store(&w->done, 1);
    return NULL;
}

TEST(racing_writer)
{
    fixture fx;
    fx_open(&fx, 1);
    writer w = {.ks = fx.ks};
    atomic_init(&w.done, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, writer_main, &w) == 0);
    int waits = 0;
    while (!atomic_load(&w.done)) {
        CHECK_OK(tind_wait_idle(fx.db, -1));
        waits++;
    }
    pthread_join(t, NULL);
    CHECK(waits > 0);
    CHECK_OK(tind_wait_idle(fx.db, -1));
    CHECK_EQ(stats(fx.ks).sealed_memtables, 0);
    check_keys(fx.ks, 0, 10000);
    fx_close(&fx);
}

/* The header's promise about a deferred level 0: with L0 at its threshold
 * but smaller than the level below, the picker waits, wait_idle returns
 * TIND_OK with the tables still there, pending_compaction_bytes counts
 * them, and tind_compact merges them. */
TEST(deferred_l0_is_idle)
{
    for (int bg = 1; bg >= 0; bg--) {
        fixture fx;
        fx_open(&fx, bg);
        tind_ks_options *ko = tind_ks_options_new();
        tind_ks_options_set_memtable_size(ko, 64 * 1024);
        tind_ks_options_set_l0_threshold(ko, 2);
        tind_keyspace *ks;
        CHECK_OK(tind_keyspace_open(fx.db, "deferred", ko, &ks));
        tind_ks_options_free(ko);
        put_keys(ks, 0, 3000);
        CHECK_OK(tind_compact(ks));
        CHECK_EQ(stats(ks).tables[0], 0);
        for (int i = 0; i < 2; i++) { /* two small L0 tables over the base's keys */
            put_keys(ks, i * 100, i * 100 + 100);
            CHECK_OK(tind_flush(ks));
        }
        CHECK_OK(tind_wait_idle(fx.db, -1));
        tind_ks_stats st = stats(ks);
        CHECK_EQ(st.tables[0], 2);
        CHECK(st.level_bytes[0] < st.disk_bytes / 2);
        tind_db_stats ds;
        CHECK_OK(tind_db_stats_get(fx.db, &ds));
        CHECK_EQ(ds.pending_compactions, 0);
        CHECK(ds.pending_compaction_bytes > 0);
        CHECK_OK(tind_wait_idle(fx.db, 0));
        CHECK_OK(tind_compact(ks));
        CHECK_EQ(stats(ks).tables[0], 0);
        CHECK_OK(tind_db_stats_get(fx.db, &ds));
        CHECK_EQ(ds.pending_compaction_bytes, 0);
        check_keys(ks, 0, 3000);
        fx_close(&fx);
    }
}

TEST(bad_args) { CHECK_RC(tind_wait_idle(NULL, 0), TIND_EINVAL); }

int main(void)
{
    check_seed_init(1);
    RUN(bad_args);
    RUN(burst_then_idle);
    RUN(timeout_busy);
    RUN(job_error);
    RUN(racing_writer);
    RUN(deferred_l0_is_idle);
    return 0;
}
