/*
 * test_iter_refresh.c -- tind_iter_refresh: a cursor re-targeted to the
 * newest state.
 *
 *   model: random puts, removes, range deletions, flushes and compactions
 *          (tiny memtables and tables, so the keyspace's view changes under
 *          the iterator) against a plain array; one iterator lives through
 *          it all, is refreshed now and then, and between refreshes must
 *          show exactly the state of its last refresh (forward, backward,
 *          seeks), after one exactly the newest; background threads on and
 *          off.
 *   bounds: a range and a prefix iterator keep their bounds across
 *          refreshes, also when the refresh rebuilds their sources.
 *   txn:   a refresh sees a committed transaction's writes; an iterator
 *          that reads a snapshot or a transaction refuses (TIND_EINVAL) and
 *          keeps its state.
 *   empty_memtable: a cursor built while the memtable was empty sees the
 *          writes made into it after a refresh.
 *   api:   NULL, unpositioned after a refresh, close refused while it lives.
 *   race:  a reader refreshing one iterator while a writer appends keys
 *          in order with flushes and compactions running: every refresh
 *          shows a prefix of the writes, never shorter than the last one
 *          (TSAN-LABEL: runs under ThreadSanitizer); background threads on
 *          and off (off: a maintainer thread steps the background jobs).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "check.h"
#include "io/fs.h"
#include "tind_internal.h"
#include "util/rand.h"

#define MKEYS 160

static void mkey(char *k, int i) { snprintf(k, 16, "k%04d", i); }

/* The model: value of key i ("" = absent). */
typedef struct model {
    char val[MKEYS][24];
} model;

/* The iterator shows exactly m: forward, backward, and seeks. */
static void check_iter(tind_iter *it, const model *m, trng *r)
{
    int i = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
        while (i < MKEYS && !m->val[i][0])
            i++;
        CHECK(i < MKEYS);
        char k[16];
        mkey(k, i);
        size_t kn, vn;
        const void *kp = tind_iter_key(it, &kn);
        CHECK_MEM(kp, kn, k, strlen(k));
        const void *vp = tind_iter_value(it, &vn);
        CHECK_MEM(vp, vn, m->val[i], strlen(m->val[i]));
        i++;
    }
    CHECK_OK(tind_iter_status(it));
    while (i < MKEYS && !m->val[i][0])
        i++;
    CHECK_EQ(i, MKEYS);
    i = MKEYS - 1;
    for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it)) {
        while (i >= 0 && !m->val[i][0])
            i--;
        CHECK(i >= 0);
        char k[16];
        mkey(k, i);
        size_t kn;
        const void *kp = tind_iter_key(it, &kn);
        CHECK_MEM(kp, kn, k, strlen(k));
        i--;
    }
    CHECK_OK(tind_iter_status(it));
    while (i >= 0 && !m->val[i][0])
        i--;
    CHECK_EQ(i, -1);
    for (int s = 0; s < 8; s++) {
        int t = (int)trng_below(r, MKEYS);
        char k[16];
        mkey(k, t);
        tind_iter_seek(it, k, strlen(k));
        int j = t;
        while (j < MKEYS && !m->val[j][0])
            j++;
        if (j == MKEYS) {
            CHECK(!tind_iter_valid(it));
        } else {
            char want[16];
            mkey(want, j);
            size_t kn;
            const void *kp = tind_iter_key(it, &kn);
            CHECK(tind_iter_valid(it));
            CHECK_MEM(kp, kn, want, strlen(want));
            /* a step back from a seek (off the start when j is the first
             * key), then forward again */
            int before = j - 1;
            while (before >= 0 && !m->val[before][0])
                before--;
            tind_iter_prev(it);
            CHECK_EQ(tind_iter_valid(it), before >= 0);
            if (before >= 0) {
                tind_iter_next(it);
                CHECK(tind_iter_valid(it));
                kp = tind_iter_key(it, &kn);
                CHECK_MEM(kp, kn, want, strlen(want));
            }
        }
        tind_iter_seek_for_prev(it, k, strlen(k));
        j = t;
        while (j >= 0 && !m->val[j][0])
            j--;
        if (j < 0) {
            CHECK(!tind_iter_valid(it));
        } else {
            char want[16];
            mkey(want, j);
            size_t kn;
            const void *kp = tind_iter_key(it, &kn);
            CHECK(tind_iter_valid(it));
            CHECK_MEM(kp, kn, want, strlen(want));
        }
    }
}

static void model_run(int background)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, background);
    tind_keyspace *ks = check_small_ks(db, "m", 2048);
    trng r;
    trng_seed(&r, check_seed * 7 + (uint64_t)background);
    static model cur, seen;
    memset(&cur, 0, sizeof cur);
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
    seen = cur;
    int ops = (int)(3000 * check_scale()), refreshes = 0;
    for (int op = 0; op < ops; op++) {
        int what = (int)trng_below(&r, 100);
        int i = (int)trng_below(&r, MKEYS);
        char k[16];
        mkey(k, i);
        if (what < 55) {
            snprintf(cur.val[i], sizeof cur.val[i], "v%d.%d", i, op);
            CHECK_OK(tind_put(ks, k, strlen(k), cur.val[i], strlen(cur.val[i])));
        } else if (what < 70) {
            cur.val[i][0] = 0;
            CHECK_OK(tind_remove(ks, k, strlen(k)));
        } else if (what < 73) {
            int j = i + 1 + (int)trng_below(&r, 12);
            if (j > MKEYS)
                j = MKEYS;
            char hi[16];
            mkey(hi, j);
            for (int x = i; x < j; x++)
                cur.val[x][0] = 0;
            CHECK_OK(tind_remove_range(ks, k, strlen(k), hi, strlen(hi)));
        } else if (what < 76) {
            CHECK_OK(tind_flush(ks));
        } else if (what < 77) {
            CHECK_OK(tind_compact(ks));
        } else if (what < 80 && !background) {
            tind_internal_background_step(db);
        } else if (what < 88) {
            check_iter(it, &seen, &r);    /* still the state of its last refresh */
        } else {
            CHECK_OK(tind_iter_refresh(it));
            CHECK(!tind_iter_valid(it));
            seen = cur;
            refreshes++;
            check_iter(it, &seen, &r);
        }
    }
    CHECK(refreshes > 10);
    CHECK_OK(tind_iter_refresh(it));
    check_iter(it, &cur, &r);
    tind_iter_free(it);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(model_background) { model_run(1); }
TEST(model_no_background) { model_run(0); }

/* Keys of a bounded iterator, concatenated with ',' (forward or backward). */
static void keys_of(tind_iter *it, int backward, char *out, size_t cap)
{
    out[0] = 0;
    size_t n = 0;
    if (backward)
        tind_iter_last(it);
    else
        tind_iter_first(it);
    while (tind_iter_valid(it)) {
        size_t kn;
        const char *k = tind_iter_key(it, &kn);
        CHECK(n + kn + 2 < cap);
        memcpy(out + n, k, kn);
        n += kn;
        out[n++] = ',';
        out[n] = 0;
        if (backward)
            tind_iter_prev(it);
        else
            tind_iter_next(it);
    }
    CHECK_OK(tind_iter_status(it));
}

/* The iterator's keys, as keys_of gives them, are `want`. */
static void check_keys(tind_iter *it, int backward, const char *want)
{
    char got[512];
    keys_of(it, backward, got, sizeof got);
    if (strcmp(got, want) != 0)
        check_fail(__FILE__, __LINE__, "keys %s: \"%s\", want \"%s\"", backward ? "backward" : "forward", got, want);
}

static void put_s(tind_keyspace *ks, const char *k) { CHECK_OK(tind_put(ks, k, strlen(k), "v", 1)); }

static void bounds_run(int background)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, background);
    tind_keyspace *ks = check_small_ks(db, "b", 2048);
    put_s(ks, "a");
    put_s(ks, "b1");
    put_s(ks, "p:1");
    put_s(ks, "q");
    tind_iter *range, *pfx;
    CHECK_OK(tind_iter_range(ks, "b", 1, "p:2", 3, NULL, &range));
    CHECK_OK(tind_iter_prefix(ks, "p:", 2, NULL, &pfx));
    check_keys(range, 0, "b1,p:1,");
    check_keys(pfx, 1, "p:1,");
    put_s(ks, "b0");
    put_s(ks, "p:0");
    put_s(ks, "p:3");
    put_s(ks, "p;");
    put_s(ks, "0");
    /* the same view: refreshed in place */
    CHECK_OK(tind_iter_refresh(range));
    CHECK_OK(tind_iter_refresh(pfx));
    check_keys(range, 0, "b0,b1,p:0,p:1,");
    check_keys(range, 1, "p:1,p:0,b1,b0,");
    check_keys(pfx, 0, "p:0,p:1,p:3,");
    /* a flush and a compaction: refreshed by a rebuild */
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_remove(ks, "p:1", 3));
    put_s(ks, "p:2");
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    check_keys(pfx, 0, "p:0,p:1,p:3,");   /* not refreshed: the old state */
    CHECK_OK(tind_iter_refresh(range));
    CHECK_OK(tind_iter_refresh(pfx));
    check_keys(range, 0, "b0,b1,p:0,");
    check_keys(pfx, 1, "p:3,p:2,p:0,");
    tind_iter_seek(pfx, "p:1", 3);
    CHECK(tind_iter_valid(pfx));
    size_t kn;
    const char *k = tind_iter_key(pfx, &kn);
    CHECK_MEM(k, kn, "p:2", 3);
    tind_iter_free(range);
    tind_iter_free(pfx);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(bounds_background) { bounds_run(1); }
TEST(bounds_no_background) { bounds_run(0); }

TEST(txn_and_snapshots)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_keyspace *ks = check_small_ks(db, "t", 2048);
    put_s(ks, "a");
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
    tind_txn *t;
    CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
    CHECK_OK(tind_txn_put(t, ks, "b", 1, "v", 1));
    CHECK_OK(tind_txn_remove(t, ks, "a", 1));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_txn(ro, t);
    tind_iter *tit;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &tit));
    CHECK_RC(tind_iter_refresh(tit), TIND_EINVAL);
    check_keys(tit, 0, "b,");      /* its own writes, still */
    tind_iter_free(tit);
    CHECK_OK(tind_txn_commit(t));
    check_keys(it, 0, "a,");
    CHECK_OK(tind_iter_refresh(it));
    check_keys(it, 0, "b,");      /* the commit, after the refresh */
    /* a snapshot's iterator keeps its snapshot */
    tind_snapshot *s;
    CHECK_OK(tind_snapshot_new(db, &s));
    tind_read_options_set_txn(ro, NULL);
    tind_read_options_set_snapshot(ro, s);
    tind_iter *sit;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &sit));
    put_s(ks, "c");
    CHECK_RC(tind_iter_refresh(sit), TIND_EINVAL);
    check_keys(sit, 0, "b,");
    tind_iter_free(sit);
    tind_snapshot_free(s);
    tind_read_options_free(ro);
    CHECK_OK(tind_iter_refresh(it));
    check_keys(it, 1, "c,b,");
    tind_iter_free(it);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* A cursor made or refreshed while the memtable is empty reads without it
 * (view_iter_new_scan leaves it out); a refresh after writes into that
 * same memtable (the keyspace's view unchanged) must bring it back. */
TEST(empty_memtable)
{
    for (int bg = 0; bg < 2; bg++) {
        fs *mem = fs_mem_new();
        tind_db *db = check_open_mem(mem, bg);
        tind_keyspace *ks = check_small_ks(db, "e", 1 << 20);
        tind_iter *it;
        CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));   /* nothing at all */
        check_keys(it, 0, "");
        put_s(ks, "b");
        CHECK_OK(tind_iter_refresh(it));
        check_keys(it, 0, "b,");
        CHECK_OK(tind_flush(ks));             /* b in a table, the memtable empty */
        CHECK_OK(tind_iter_refresh(it));
        check_keys(it, 1, "b,");
        put_s(ks, "a");
        put_s(ks, "c");
        CHECK_OK(tind_remove(ks, "b", 1));
        check_keys(it, 0, "b,");        /* not refreshed: as it was */
        CHECK_OK(tind_iter_refresh(it));
        check_keys(it, 0, "a,c,");
        check_keys(it, 1, "c,a,");
        put_s(ks, "d");                       /* the memtable is in the merge now */
        CHECK_OK(tind_iter_refresh(it));
        check_keys(it, 0, "a,c,d,");
        tind_iter_free(it);
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
}

TEST(api)
{
    CHECK_RC(tind_iter_refresh(NULL), TIND_EINVAL);
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_keyspace *ks = check_small_ks(db, "a", 2048);
    put_s(ks, "x");
    tind_iter *it;
    CHECK_OK(tind_iter_prefix(ks, "x", 1, NULL, &it));
    tind_iter_first(it);
    CHECK(tind_iter_valid(it));
    CHECK_OK(tind_iter_refresh(it));
    CHECK(!tind_iter_valid(it));
    CHECK(tind_iter_key(it, NULL) == NULL);
    tind_iter_next(it);                  /* unpositioned: a no-op */
    CHECK(!tind_iter_valid(it));
    CHECK_OK(tind_iter_status(it));
    CHECK_RC(tind_close(db), TIND_EBUSY); /* a refreshed iterator still counts */
    tind_iter_free(it);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* ------------------------------------------------------------------ race */

#define RACE_KEYS 3000

typedef struct race {
    tind_db *db;
    tind_keyspace *ks;
    int background;
    atomic_int written;          /* keys [0, written) are acknowledged */
    atomic_int rounds;           /* the reader's refreshes so far */
    atomic_int stop;
} race;

static void rkey(char *k, int i) { snprintf(k, 16, "r%06d", i); }

static void *race_writer(void *p)
{
    race *x = p;
    for (int i = 0; i < RACE_KEYS; i++) {
        char k[16];
        rkey(k, i);
        /* the reader refreshes at least once per 100 keys written */
        while (atomic_load(&x->rounds) < i / 100)
            sched_yield();
        CHECK_OK(tind_put(x->ks, k, strlen(k), k, strlen(k)));
        atomic_store(&x->written, i + 1);
        /* without workers the maintainer flushes (a tind_flush racing its
         * steps can find nothing to do and fail: "made no progress") */
        if (x->background && i % 500 == 499) {
            int rc = tind_flush(x->ks);
            if (rc)
                fprintf(stderr, "flush: %s\n", tind_errmsg(x->db));
            CHECK_OK(rc);
        }
    }
    atomic_store(&x->stop, 1);
    return NULL;
}

static void *race_maintainer(void *p)
{
    race *x = p;
    while (!atomic_load(&x->stop))
        tind_internal_background_step(x->db);
    return NULL;
}

static void race_run(int background)
{
    fs *mem = fs_mem_new();
    race x;
    memset(&x, 0, sizeof x);
    x.db = check_open_mem(mem, background);
    x.ks = check_small_ks(x.db, "r", 2048);
    x.background = background;
    pthread_t w, m;
    tind_iter *it;
    CHECK_OK(tind_iter_range(x.ks, NULL, 0, NULL, 0, NULL, &it));
    CHECK(pthread_create(&w, NULL, race_writer, &x) == 0);
    if (!background)
        CHECK(pthread_create(&m, NULL, race_maintainer, &x) == 0);
    int last = 0, rounds = 0;
    for (;;) {
        int done = atomic_load(&x.stop);
        int before = atomic_load(&x.written);
        CHECK_OK(tind_iter_refresh(it));
        int n = 0;
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), n++) {
            char k[16];
            rkey(k, n);
            size_t kn, vn;
            const void *kp = tind_iter_key(it, &kn);
            CHECK_MEM(kp, kn, k, strlen(k));
            const void *vp = tind_iter_value(it, &vn);
            CHECK_MEM(vp, vn, k, strlen(k));
        }
        CHECK_OK(tind_iter_status(it));
        CHECK(n >= before);               /* every acknowledged write */
        CHECK(n >= last);                 /* never back in time */
        if (n > 0) {
            tind_iter_last(it);           /* and backward: the same newest key */
            char k[16];
            rkey(k, n - 1);
            size_t kn;
            const void *kp = tind_iter_key(it, &kn);
            CHECK(tind_iter_valid(it));
            CHECK_MEM(kp, kn, k, strlen(k));
        }
        last = n;
        rounds++;
        atomic_store(&x.rounds, rounds);
        if (done)
            break;
    }
    CHECK_EQ(last, RACE_KEYS);
    CHECK(rounds > RACE_KEYS / 100);
    pthread_join(w, NULL);
    if (!background)
        pthread_join(m, NULL);
    tind_iter_free(it);
    CHECK_OK(tind_close(x.db));
    fs_destroy(mem);
}

TEST(race_background) { race_run(1); }
TEST(race_no_background) { race_run(0); }

int main(void)
{
    check_seed_init(20261203);
    RUN(api);
    RUN(empty_memtable);
    RUN(bounds_background);
    RUN(bounds_no_background);
    RUN(txn_and_snapshots);
    RUN(model_background);
    RUN(model_no_background);
    RUN(race_background);
    RUN(race_no_background);
    fprintf(stderr, "ok\n");
    return 0;
}
