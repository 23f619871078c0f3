/*
 * test_regress_pause.c -- tind_internal_pause_background (src/tind_internal.h),
 * the pause `tind verify` reads an open database's files under.
 *
 * Before it, verify set db->pause_background and waited for running_jobs by
 * hand: only the workers' job picker looked at the flag, so a flush or
 * compaction that tind_flush / tind_compact ran in a caller's thread (a
 * database without background threads), or that a worker had picked just
 * before the flag was set, still wrote tables and the version file under
 * verify. Now every job starts under mu only while no pause is held.
 *
 * TSAN-LABEL: threads flush while others pause and resume.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "tind_internal.h"

typedef struct flusher {
    tind_keyspace *ks;
    pthread_t th;
    _Atomic int done;
    int rc;
} flusher;

static void *flush_main(void *arg)
{
    flusher *f = arg;
    f->rc = tind_flush(f->ks);
    atomic_store(&f->done, 1);
    return NULL;
}

static void flusher_start(flusher *f, tind_keyspace *ks)
{
    f->ks = ks;
    atomic_store(&f->done, 0);
    f->rc = -1;
    CHECK_EQ(pthread_create(&f->th, NULL, flush_main, f), 0);
}

/* Joins the flusher, failing (not hanging) when it does not finish in 20 s. */
static void flusher_join(flusher *f)
{
    for (int i = 0; i < 2000 && !atomic_load(&f->done); i++)
        usleep(10 * 1000);
    if (!atomic_load(&f->done))
        check_fail(__FILE__, __LINE__, "tind_flush did not return within 20 s of the resume");
    pthread_join(f->th, NULL);
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

static void open_db(fs *mem, int threads, tind_db **db, tind_keyspace **ks)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, mem);
    if (threads)
        tind_options_set_background_threads(o, threads);
    else
        tind_options_set_no_background(o, 1);
    CHECK_OK(tind_open("/db", o, db));
    tind_options_free(o);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 16 * 1024);
    tind_ks_options_set_table_size(ko, 16 * 1024);
    tind_ks_options_set_l0_threshold(ko, 2);
    CHECK_OK(tind_keyspace_open(*db, "a", ko, ks));
    tind_ks_options_free(ko);
}

/* n keys of ~40 bytes; 100 fill well under half of open_db's 16 KiB
 * memtable (nodes of about 80 bytes), so no flush starts on its own. */
static void put_some(tind_keyspace *ks, int from, int n)
{
    char k[32], v[64];
    for (int i = from; i < from + n; i++) {
        int kn = snprintf(k, sizeof k, "key%08d", i);
        int vn = snprintf(v, sizeof v, "value %d of the pause test", i);
        CHECK_OK(tind_put(ks, k, (size_t)kn, v, (size_t)vn));
    }
}

/* A flush while paused waits for the resume: in the caller's thread
 * (threads = 0) and through the workers (threads = 2). */
static void holds_flush(int threads)
{
    fs *mem = fs_mem_new();
    tind_db *db;
    tind_keyspace *ks;
    open_db(mem, threads, &db, &ks);
    put_some(ks, 0, 100);
    CHECK_EQ(table_count(ks), 0);
    CHECK_OK(tind_internal_pause_background(db, 1));
    flusher f;
    flusher_start(&f, ks);
    usleep(300 * 1000);
    CHECK(!atomic_load(&f.done));
    CHECK_EQ(table_count(ks), 0);
    CHECK_OK(tind_internal_pause_background(db, 0));
    flusher_join(&f);
    CHECK_OK(f.rc);
    CHECK(table_count(ks) > 0);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(pause_holds_inline_flush) { holds_flush(0); }
TEST(pause_holds_worker_flush) { holds_flush(2); }

TEST(pause_nests_and_checks_its_arguments)
{
    fs *mem = fs_mem_new();
    tind_db *db;
    tind_keyspace *ks;
    open_db(mem, 1, &db, &ks);
    CHECK_RC(tind_internal_pause_background(NULL, 1), TIND_EINVAL);
    CHECK_RC(tind_internal_pause_background(db, 0), TIND_EINVAL); /* no pause held */
    put_some(ks, 0, 100);
    CHECK_EQ(table_count(ks), 0);
    CHECK_OK(tind_internal_pause_background(db, 1));
    CHECK_OK(tind_internal_pause_background(db, 1));
    flusher f;
    flusher_start(&f, ks);
    CHECK_OK(tind_internal_pause_background(db, 0)); /* one pause still held */
    usleep(200 * 1000);
    CHECK(!atomic_load(&f.done));
    CHECK_EQ(table_count(ks), 0);
    CHECK_OK(tind_internal_pause_background(db, 0));
    flusher_join(&f);
    CHECK_OK(f.rc);
    CHECK_RC(tind_internal_pause_background(db, 0), TIND_EINVAL);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

typedef struct churn {
    tind_keyspace *ks;
    _Atomic int stop;
} churn;

static void *churn_main(void *arg)
{
    churn *c = arg;
    char k[32], v[200];
    memset(v, 'v', sizeof v);
    for (int i = 0; !atomic_load(&c->stop); i++) {
        int kn = snprintf(k, sizeof k, "churn%08d", i % 5000);
        if (tind_put(c->ks, k, (size_t)kn, v, sizeof v))
            break;
    }
    return NULL;
}

/* Writers keep memtables filling (flushes and compactions all the time);
 * while a pause is held the table set must not change at all. */
TEST(no_table_changes_while_paused)
{
    fs *mem = fs_mem_new();
    tind_db *db;
    tind_keyspace *ks;
    open_db(mem, 2, &db, &ks);
    churn c = {ks, 0};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, churn_main, &c), 0);
    int rounds = (int)(150 * check_scale());
    if (rounds < 20)
        rounds = 20;
    uint64_t total_before = 0, total_after = 0;
    for (int r = 0; r < rounds; r++) {
        CHECK_OK(tind_internal_pause_background(db, 1));
        tind_ks_stats a, b;
        CHECK_OK(tind_ks_stats_get(ks, &a));
        usleep(2000);
        CHECK_OK(tind_ks_stats_get(ks, &b));
        CHECK_EQ(a.flushes, b.flushes);
        CHECK_EQ(a.compactions, b.compactions);
        CHECK_OK(tind_internal_pause_background(db, 0));
        total_before += a.flushes;
        usleep(3000);
    }
    tind_ks_stats end;
    CHECK_OK(tind_ks_stats_get(ks, &end));
    total_after = end.flushes;
    atomic_store(&c.stop, 1);
    pthread_join(th, NULL);
    fprintf(stderr, "    %d pauses, %" PRIu64 " flushes in all\n", rounds, total_after);
    CHECK(total_after > 0 || total_before > 0);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

int main(void)
{
    check_seed_init(1);
    RUN(pause_holds_inline_flush);
    RUN(pause_holds_worker_flush);
    RUN(pause_nests_and_checks_its_arguments);
    RUN(no_table_changes_while_paused);
    return 0;
}
