/*
 * test_db_concurrent.c -- concurrency: 2 writers, 2 readers / iterators, a
 * snapshot taker and a maintainer (manual flushes and compactions) on tiny
 * memtables (flushes and compactions all the time), each checking what it
 * must see; once with background threads on (the default: the workers flush
 * and compact) and once with them off (the maintainer steps the background
 * jobs itself, racing the writers); and closing while writers are stalled
 * and background work is queued returns promptly. TSAN-LABEL: runs under
 * ThreadSanitizer in `make test-tsan`.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"
#include "tind_internal.h"
#include "util/rand.h"

#define WRITERS 2
#define READERS 2

typedef struct shared {
    tind_db *db;
    tind_keyspace *ks[2];
    _Atomic uint64_t progress[WRITERS]; /* keys 0..progress-1 of writer w are written */
    _Atomic int stop;
    _Atomic uint64_t reads, scans, snaps, writes, maint;
    double seconds;
    int threads;                        /* background workers (0: the maintainer steps the jobs) */
} shared;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t key_of(int w, uint64_t i, char *out) { return (size_t)snprintf(out, 32, "w%d-%08llu", w, (unsigned long long)i); }
static size_t val_of(int w, uint64_t i, char *out)
{
    return (size_t)snprintf(out, 96, "value of writer %d key %llu ....................", w, (unsigned long long)i);
}

typedef struct targ {
    shared *s;
    int id;
} targ;

static void *writer(void *arg)
{
    targ *t = arg;
    shared *s = t->s;
    char k[32], v[96];
    tind_batch *b;
    CHECK_OK(tind_batch_new(s->db, &b));
    uint64_t i = 0;
    double end = now() + s->seconds;
    while (now() < end) {
        int n = 1 + (int)(i % 5);
        for (int j = 0; j < n; j++) {
            size_t kn = key_of(t->id, i + (uint64_t)j, k), vn = val_of(t->id, i + (uint64_t)j, v);
            CHECK_OK(tind_batch_put(b, s->ks[0], k, kn, v, vn));
            CHECK_OK(tind_batch_put(b, s->ks[1], k, kn, v, vn));
        }
        int rc = tind_batch_commit(b);
        if (rc)
            fprintf(stderr, "commit: %s\n", tind_errmsg(s->db));
        CHECK_OK(rc);
        i += (uint64_t)n;
        atomic_store(&s->progress[t->id], i);
        atomic_fetch_add(&s->writes, (uint64_t)n);
        /* read your own write */
        size_t kn = key_of(t->id, i - 1, k);
        void *got;
        size_t gn;
        CHECK_OK(tind_get(s->ks[1], k, kn, NULL, &got, &gn));
        free(got);
    }
    tind_batch_free(b);
    return NULL;
}

static void *reader(void *arg)
{
    targ *t = arg;
    shared *s = t->s;
    trng r;
    trng_seed(&r, (uint64_t)t->id + 100);
    char k[32], v[96];
    while (!atomic_load(&s->stop)) {
        int w = (int)trng_below(&r, WRITERS);
        uint64_t p = atomic_load(&s->progress[w]);
        if (trng_below(&r, 10) == 0) {
            /* a prefix scan sees at least every key written before it began */
            tind_iter *it;
            char prefix[8];
            snprintf(prefix, sizeof prefix, "w%d-", w);
            CHECK_OK(tind_iter_prefix(s->ks[trng_below(&r, 2)], prefix, 3, NULL, &it));
            uint64_t n = 0;
            int back = trng_below(&r, 2) == 0;
            if (back) {
                for (tind_iter_last(it); tind_iter_valid(it) && n < 3000; tind_iter_prev(it))
                    n++;
            } else {
                size_t pk = 0;
                char prev[32];
                for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
                    size_t kn;
                    const char *key = tind_iter_key(it, &kn);
                    CHECK(kn < sizeof prev);
                    if (pk)
                        CHECK(key_cmp((const uint8_t *)prev, pk, (const uint8_t *)key, kn) < 0);
                    memcpy(prev, key, kn);
                    pk = kn;
                    n++;
                }
                CHECK(n >= p);
            }
            CHECK_OK(tind_iter_status(it));
            tind_iter_free(it);
            atomic_fetch_add(&s->scans, 1);
        } else if (p > 0) {
            uint64_t i = trng_below(&r, p);
            size_t kn = key_of(w, i, k), vn = val_of(w, i, v);
            void *got;
            size_t gn;
            int rc = tind_get(s->ks[trng_below(&r, 2)], k, kn, NULL, &got, &gn);
            if (rc)
                fprintf(stderr, "get %.*s: %s\n", (int)kn, k, tind_errmsg(s->db));
            CHECK_OK(rc);
            CHECK_MEM(got, gn, v, vn);
            free(got);
            atomic_fetch_add(&s->reads, 1);
        }
    }
    return NULL;
}

static void *snapshotter(void *arg)
{
    targ *t = arg;
    shared *s = t->s;
    trng r;
    trng_seed(&r, 7);
    char k[32];
    tind_read_options *ro = tind_read_options_new();
    while (!atomic_load(&s->stop)) {
        uint64_t p = atomic_load(&s->progress[0]);
        tind_snapshot *snap;
        CHECK_OK(tind_snapshot_new(s->db, &snap));
        uint64_t after = atomic_load(&s->progress[0]);
        tind_read_options_set_snapshot(ro, snap);
        usleep(2000);
        /* keys written before the snapshot are in it; keys from well after
         * it are not */
        for (int j = 0; j < 50 && p > 0; j++) {
            uint64_t i = trng_below(&r, p);
            size_t kn = key_of(0, i, k);
            CHECK_OK(tind_contains(s->ks[0], k, kn, ro));
        }
        uint64_t later = atomic_load(&s->progress[0]);
        if (later > after + 10) {
            size_t kn = key_of(0, later - 1, k);
            CHECK_RC(tind_contains(s->ks[0], k, kn, ro), TIND_NOT_FOUND);
        }
        tind_snapshot_free(snap);
        atomic_fetch_add(&s->snaps, 1);
    }
    tind_read_options_free(ro);
    return NULL;
}

/* Manual flushes and compactions while the others run; with no workers it
 * also runs the background jobs (writers never stall then: memtables pile
 * up until it flushes them). */
static void *maintainer(void *arg)
{
    targ *t = arg;
    shared *s = t->s;
    trng r;
    trng_seed(&r, 11);
    while (!atomic_load(&s->stop)) {
        uint64_t c = trng_below(&r, 100);
        int rc = TIND_OK;
        if (s->threads == 0 && c < 90) {
            tind_err err;
            err_clear(&err);
            rc = db_background_step(s->db, &err);
            if (rc < 0)
                fprintf(stderr, "background step: %s\n", err.msg);
            if (rc == 0)
                usleep(500);
            rc = rc > 0 ? TIND_OK : rc;
        } else if (c < 97) {
            rc = tind_flush(s->ks[trng_below(&r, 2)]);
        } else {
            rc = tind_compact(s->ks[trng_below(&r, 2)]);
        }
        if (rc)
            fprintf(stderr, "maintenance: %s\n", tind_errmsg(s->db));
        CHECK_OK(rc);
        atomic_fetch_add(&s->maint, 1);
        if (s->threads)
            usleep(2000);
    }
    return NULL;
}

static void open_small(shared *s, fs *fsys, int threads)
{
    tind_options *o = tind_options_new();
    if (fsys)
        tind_options_set_fs(o, fsys);
    if (threads)
        tind_options_set_background_threads(o, threads);
    else
        tind_options_set_no_background(o, 1);
    tind_options_set_cache_size(o, 1 << 20);
    tind_options_set_journal_file_size(o, 256 * 1024);
    CHECK_OK(tind_open("/db", o, &s->db));
    tind_options_free(o);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 32 * 1024);
    tind_ks_options_set_table_size(ko, 32 * 1024);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_level_ratio(ko, 4);
    CHECK_OK(tind_keyspace_open(s->db, "a", ko, &s->ks[0]));
    tind_ks_options_set_compaction(ko, TIND_COMPACTION_TIERED);
    CHECK_OK(tind_keyspace_open(s->db, "b", ko, &s->ks[1]));
    tind_ks_options_free(ko);
}

static void run_stress(int threads)
{
    shared s;
    memset(&s, 0, sizeof s);
    s.seconds = 3 * check_scale();
    s.threads = threads;
    fs *mem = fs_mem_new();
    open_small(&s, mem, threads);
    pthread_t th[WRITERS + READERS + 2];
    targ args[WRITERS + READERS + 2];
    for (int i = 0; i < WRITERS; i++) {
        args[i] = (targ){&s, i};
        pthread_create(&th[i], NULL, writer, &args[i]);
    }
    for (int i = 0; i < READERS; i++) {
        args[WRITERS + i] = (targ){&s, i};
        pthread_create(&th[WRITERS + i], NULL, reader, &args[WRITERS + i]);
    }
    args[WRITERS + READERS] = (targ){&s, 0};
    pthread_create(&th[WRITERS + READERS], NULL, snapshotter, &args[WRITERS + READERS]);
    args[WRITERS + READERS + 1] = (targ){&s, 0};
    pthread_create(&th[WRITERS + READERS + 1], NULL, maintainer, &args[WRITERS + READERS + 1]);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&s.stop, 1);
    for (int i = WRITERS; i < WRITERS + READERS + 2; i++)
        pthread_join(th[i], NULL);
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(s.ks[0], &st));
    fprintf(stderr, "    background threads %d: %llu writes, %llu reads, %llu scans, %llu snapshots, %llu maintenance "
            "calls; %llu flushes, %llu compactions\n", threads, (unsigned long long)s.writes,
            (unsigned long long)s.reads, (unsigned long long)s.scans, (unsigned long long)s.snaps,
            (unsigned long long)s.maint, (unsigned long long)st.flushes, (unsigned long long)st.compactions);
    CHECK(st.flushes > 0);
    CHECK_OK(tind_close(s.db));
    /* reopen and check every key */
    open_small(&s, mem, threads);
    char k[32], v[96];
    for (int w = 0; w < WRITERS; w++)
        for (uint64_t i = 0; i < s.progress[w]; i++) {
            size_t kn = key_of(w, i, k), vn = val_of(w, i, v);
            void *got;
            size_t gn;
            CHECK_OK(tind_get(s.ks[0], k, kn, NULL, &got, &gn));
            CHECK_MEM(got, gn, v, vn);
            free(got);
        }
    CHECK_OK(tind_close(s.db));
    fs_destroy(mem);
}

TEST(stress_threads_on) { run_stress(2); }
TEST(stress_threads_off) { run_stress(0); }

static void *stalled_writer(void *arg)
{
    shared *s = arg;
    char k[32], v[96];
    for (uint64_t i = 0;; i++) {
        size_t kn = key_of(0, i, k), vn = val_of(0, i, v);
        int rc = tind_put(s->ks[0], k, kn, v, vn);
        if (rc) {
            CHECK_RC(rc, TIND_ECLOSED);
            return NULL;
        }
    }
}

TEST(close_while_stalled)
{
    shared s;
    memset(&s, 0, sizeof s);
    fs *mem = fs_mem_new();
    open_small(&s, mem, 1);
    tind_internal_pause_background(s.db, 1); /* nothing flushes: writers must stall */
    pthread_t th[2];
    pthread_create(&th[0], NULL, stalled_writer, &s);
    pthread_create(&th[1], NULL, stalled_writer, &s);
    while (atomic_load(&s.db->stalls) < 2)
        usleep(1000);
    double t0 = now();
    CHECK_OK(tind_close(s.db));
    double took = now() - t0;
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    fprintf(stderr, "    close with stalled writers took %.3f s\n", took);
    CHECK(took < 10); /* a hang, not a performance bound */
    fs_destroy(mem);
}

int main(void)
{
    check_seed_init(1);
    RUN(stress_threads_on);
    RUN(stress_threads_off);
    RUN(close_while_stalled);
    return 0;
}
