/*
 * test_txn.c -- transactions through the public API: read-your-own-writes in
 * every read call and iterator (checked against a model over random
 * operations, with flushes and compactions under the snapshot), isolation
 * (no dirty, no non-repeatable reads), the classic anomalies in optimistic
 * mode (lost update, write skew -- two doctors on call --, a phantom through
 * a range read), untracked reads, single-writer waiting and TIND_EBUSY,
 * read-only transactions, tind_close refusing while a transaction lives,
 * deleted keyspaces, and the argument errors. Background threads on and off.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"
#include "tind_internal.h"
#include "util/rand.h"

static tind_read_options *ro_txn(tind_txn *t)
{
    tind_read_options *ro = tind_read_options_new();
    CHECK(ro);
    tind_read_options_set_txn(ro, t);
    return ro;
}

/* val NULL: expect absent, through get, contains and value_size */
static void expect_ro(tind_keyspace *ks, const tind_read_options *ro, const char *key, const char *val)
{
    void *v = NULL;
    size_t n = 0;
    int rc = tind_get(ks, key, strlen(key), ro, &v, &n);
    if (val) {
        CHECK_OK(rc);
        CHECK_MEM(v, n, val, strlen(val));
        CHECK_OK(tind_contains(ks, key, strlen(key), ro));
        uint64_t sz;
        CHECK_OK(tind_value_size(ks, key, strlen(key), ro, &sz));
        CHECK_EQ(sz, strlen(val));
    } else {
        CHECK_RC(rc, TIND_NOT_FOUND);
        CHECK_RC(tind_contains(ks, key, strlen(key), ro), TIND_NOT_FOUND);
        uint64_t sz;
        CHECK_RC(tind_value_size(ks, key, strlen(key), ro, &sz), TIND_NOT_FOUND);
    }
    free(v);
}

static int get_int(tind_keyspace *ks, const tind_read_options *ro, const char *key)
{
    void *v;
    size_t n;
    int rc = tind_get(ks, key, strlen(key), ro, &v, &n);
    if (rc == TIND_NOT_FOUND)
        return 0;
    CHECK_OK(rc);
    char buf[32];
    CHECK(n < sizeof buf);
    memcpy(buf, v, n);
    buf[n] = 0;
    free(v);
    return atoi(buf);
}

static void put_int(tind_txn *t, tind_keyspace *ks, const char *key, int x)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d", x);
    CHECK_OK(tind_txn_put(t, ks, key, strlen(key), buf, (size_t)n));
}

/* ------------------------------------------------------------------ RYOW, model */

#define NKEYS 40

typedef struct model {
    char *base[NKEYS];    /* committed, as of the transaction's snapshot */
    char *mine[NKEYS];    /* the transaction's write: a value, or "" + del flag */
    int del[NKEYS];       /* the transaction removed it */
    int wrote[NKEYS];
    int later[NKEYS];     /* written by others after the snapshot */
} model;

static const char *model_get(const model *m, int i)
{
    if (m->wrote[i])
        return m->del[i] ? NULL : m->mine[i];
    return m->base[i];
}

static void key_name(int i, char *out) { snprintf(out, 16, "k%02d", i); }

/* The iterator stands on the idx-th of the expected keys (with the model's
 * value), or is not valid when idx is outside [0, n). */
static void expect_at(tind_iter *it, const model *m, const int *keys, int n, int idx)
{
    if (idx < 0 || idx >= n) {
        CHECK(!tind_iter_valid(it));
        return;
    }
    CHECK(tind_iter_valid(it));
    char k[16];
    key_name(keys[idx], k);
    size_t kn, vn;
    const void *kp = tind_iter_key(it, &kn);
    CHECK_MEM(kp, kn, k, 3);
    const void *vp = tind_iter_value(it, &vn);
    const char *want = model_get(m, keys[idx]);
    CHECK_MEM(vp, vn, want, strlen(want));
}

/* The iterator over [lo, hi) through ro agrees with the model, forward,
 * backward, by seek and seek_for_prev, and switching directions. */
static void check_iter(tind_keyspace *ks, const tind_read_options *ro, const model *m, int lo, int hi, trng *r)
{
    char klo[16], khi[16];
    key_name(lo, klo);
    key_name(hi, khi);
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, klo, 3, hi < NKEYS ? khi : NULL, hi < NKEYS ? 3 : 0, ro, &it));
    int keys[NKEYS] = {0}, n = 0;
    for (int i = lo; i < hi && i < NKEYS; i++)
        if (model_get(m, i))
            keys[n++] = i;
    int j = 0;
    for (tind_iter_first(it); j < n; tind_iter_next(it), j++)
        expect_at(it, m, keys, n, j);
    expect_at(it, m, keys, n, n);
    CHECK_OK(tind_iter_status(it));
    j = n - 1;
    for (tind_iter_last(it); j >= 0; tind_iter_prev(it), j--)
        expect_at(it, m, keys, n, j);
    expect_at(it, m, keys, n, -1);
    for (int probe = 0; probe < 6; probe++) {
        int target = (int)trng_below(r, NKEYS);
        char k[16];
        key_name(target, k);
        /* seek: the first key >= target; then one step back and forth */
        int want = n;
        for (int i = n - 1; i >= 0 && keys[i] >= target; i--)
            want = i;
        tind_iter_seek(it, k, 3);
        expect_at(it, m, keys, n, want);
        if (want < n) {
            tind_iter_prev(it);
            expect_at(it, m, keys, n, want - 1);
            if (want > 0) {
                tind_iter_next(it);
                expect_at(it, m, keys, n, want);
            }
        }
        /* seek_for_prev: the last key <= target; then one step forward */
        want = -1;
        for (int i = 0; i < n && keys[i] <= target; i++)
            want = i;
        tind_iter_seek_for_prev(it, k, 3);
        expect_at(it, m, keys, n, want);
        if (want >= 0) {
            tind_iter_next(it);
            expect_at(it, m, keys, n, want + 1);
        }
    }
    tind_iter_free(it);
}

/* tind_first / tind_last's answer (rc, key, value) is the model's key idx
 * (-1: none). */
static void expect_end(const model *m, int idx, int rc, void *k, size_t kn, void *v, size_t vn)
{
    if (idx < 0) {
        CHECK_RC(rc, TIND_NOT_FOUND);
        return;
    }
    CHECK_OK(rc);
    char want[16];
    key_name(idx, want);
    CHECK_MEM(k, kn, want, 3);
    CHECK_MEM(v, vn, model_get(m, idx), strlen(model_get(m, idx)));
    free(k);
    free(v);
}

static void check_first_last(tind_keyspace *ks, const tind_read_options *ro, const model *m)
{
    int first = -1, last = -1;
    for (int i = 0; i < NKEYS; i++)
        if (model_get(m, i)) {
            if (first < 0)
                first = i;
            last = i;
        }
    void *k = NULL, *v = NULL;
    size_t kn = 0, vn = 0;
    int rc = tind_first(ks, ro, &k, &kn, &v, &vn);
    expect_end(m, first, rc, k, kn, v, vn);
    rc = tind_last(ks, ro, &k, &kn, &v, &vn);
    expect_end(m, last, rc, k, kn, v, vn);
}

static void ryow_model(int background)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, background);
    tind_keyspace *ks = check_small_ks(db, "m", 4096);
    tind_keyspace *other = check_small_ks(db, "other", 4096);
    trng r;
    trng_seed(&r, check_seed + (uint64_t)background);
    model m;
    memset(&m, 0, sizeof m);
    for (int round = 0; round < 30; round++) {
        /* committed writes before the transaction */
        for (int i = 0; i < 30; i++) {
            int k = (int)trng_below(&r, NKEYS);
            char key[16], val[48];
            key_name(k, key);
            free(m.base[k]);
            m.base[k] = NULL;
            if (trng_below(&r, 4) == 0) {
                CHECK_OK(tind_remove(ks, key, 3));
            } else {
                snprintf(val, sizeof val, "base-%d-%d-%llu", round, i, (unsigned long long)trng_below(&r, 1000));
                CHECK_OK(tind_put(ks, key, 3, val, strlen(val)));
                m.base[k] = strdup(val);
            }
        }
        tind_txn *t;
        CHECK_OK(tind_txn_begin(db, round % 3 == 1 ? TIND_TXN_SINGLE_WRITER : TIND_TXN_OPTIMISTIC, &t));
        tind_read_options *ro = ro_txn(t);
        memset(m.wrote, 0, sizeof m.wrote);
        memset(m.later, 0, sizeof m.later);
        for (int step = 0; step < 40; step++) {
            int op = (int)trng_below(&r, 10);
            int k = (int)trng_below(&r, NKEYS);
            char key[16], val[48];
            key_name(k, key);
            if (op < 4) {
                snprintf(val, sizeof val, "txn-%d-%d", round, step);
                CHECK_OK(tind_txn_put(t, ks, key, 3, val, strlen(val)));
                free(m.mine[k]);
                m.mine[k] = strdup(val);
                m.del[k] = 0;
                m.wrote[k] = 1;
            } else if (op < 6) {
                CHECK_OK(tind_txn_remove(t, ks, key, 3));
                m.del[k] = 1;
                m.wrote[k] = 1;
            } else if (op == 6) {
                /* writes by others after the snapshot: invisible inside */
                snprintf(val, sizeof val, "later-%d", step);
                CHECK_OK(tind_put(ks, key, 3, val, strlen(val)));
                CHECK_OK(tind_put(other, key, 3, val, strlen(val)));
                m.later[k] = 1;
            } else if (op == 7 && !background) {
                CHECK_OK(tind_flush(ks));
                while (tind_internal_background_step(db) > 0) {
                }
            } else if (op == 8) {
                int lo = (int)trng_below(&r, NKEYS), hi = lo + (int)trng_below(&r, NKEYS - lo + 1);
                check_iter(ks, ro, &m, lo, hi, &r);
            } else {
                check_first_last(ks, ro, &m);
            }
            char probe[16];
            int pk = (int)trng_below(&r, NKEYS);
            key_name(pk, probe);
            expect_ro(ks, ro, probe, model_get(&m, pk));
        }
        check_iter(ks, ro, &m, 0, NKEYS, &r);
        /* the transaction's writes are invisible outside it */
        for (int i = 0; i < NKEYS; i++) {
            char key[16];
            key_name(i, key);
            if (m.wrote[i] && !m.base[i] && !m.del[i] && !m.later[i])
                CHECK_RC(tind_contains(ks, key, 3, NULL), TIND_NOT_FOUND);
        }
        tind_read_options_free(ro);
        /* the later puts conflict with whatever it read: roll back, and
         * re-read the base (the later puts changed it) */
        tind_txn_rollback(t);
        for (int i = 0; i < NKEYS; i++) {
            char key[16];
            key_name(i, key);
            void *v;
            size_t n;
            free(m.base[i]);
            m.base[i] = NULL;
            if (tind_get(ks, key, 3, NULL, &v, &n) == TIND_OK) {
                m.base[i] = calloc(1, n + 1);
                memcpy(m.base[i], v, n);
                free(v);
            }
        }
    }
    for (int i = 0; i < NKEYS; i++) {
        free(m.base[i]);
        free(m.mine[i]);
    }
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(ryow_model_threads_on) { ryow_model(1); }
TEST(ryow_model_threads_off) { ryow_model(0); }

/* ------------------------------------------------------------------ basics */

TEST(commit_applies_atomically)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_keyspace *a = check_small_ks(db, "a", 4096), *b = check_small_ks(db, "b", 4096);
    CHECK_OK(tind_put(a, "gone", 4, "x", 1));
    tind_txn *t;
    CHECK_OK(tind_txn_begin(db, 0, &t));
    CHECK(tind_txn_seqno(t) == tind_internal_last_seqno(db));
    CHECK_OK(tind_txn_put(t, a, "k", 1, "1", 1));
    CHECK_OK(tind_txn_put(t, a, "k", 1, "2", 1)); /* the newest write wins */
    CHECK_OK(tind_txn_put(t, b, "k", 1, "3", 1));
    CHECK_OK(tind_txn_remove(t, a, "gone", 4));
    CHECK_OK(tind_txn_put(t, b, "tmp", 3, "x", 1));
    CHECK_OK(tind_txn_remove(t, b, "tmp", 3)); /* a removed own write */
    uint64_t before = tind_internal_last_seqno(db);
    CHECK_OK(tind_txn_commit(t));
    CHECK_EQ(tind_internal_last_seqno(db), before + 4); /* one batch of the newest writes */
    expect_ro(a, NULL, "k", "2");
    expect_ro(b, NULL, "k", "3");
    expect_ro(a, NULL, "gone", NULL);
    expect_ro(b, NULL, "tmp", NULL);
    /* rollback discards */
    CHECK_OK(tind_txn_begin(db, 0, &t));
    CHECK_OK(tind_txn_put(t, a, "k", 1, "9", 1));
    tind_txn_rollback(t);
    expect_ro(a, NULL, "k", "2");
    /* a transaction survives a reopen of nothing: its commit is durable */
    CHECK_OK(tind_txn_begin(db, 0, &t));
    tind_txn_set_durability(t, TIND_PERSIST_SYNC_ALL);
    CHECK_OK(tind_txn_put(t, a, "durable", 7, "yes", 3));
    CHECK_OK(tind_txn_commit(t));
    CHECK_OK(tind_close(db));
    CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, 1));
    db = check_open_mem(mem, 1);
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &a));
    expect_ro(a, NULL, "durable", "yes");
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(isolation)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_keyspace *ks = check_small_ks(db, "iso", 4096);
    CHECK_OK(tind_put(ks, "x", 1, "0", 1));
    tind_txn *t1, *t2;
    CHECK_OK(tind_txn_begin(db, 0, &t1));
    CHECK_OK(tind_txn_begin(db, 0, &t2));
    tind_read_options *r1 = ro_txn(t1), *r2 = ro_txn(t2);
    CHECK_OK(tind_txn_put(t1, ks, "x", 1, "1", 1));
    CHECK_OK(tind_txn_put(t1, ks, "new", 3, "n", 1));
    /* no dirty reads: t2 and plain readers do not see t1's writes */
    expect_ro(ks, r2, "x", "0");
    expect_ro(ks, r2, "new", NULL);
    expect_ro(ks, NULL, "x", "0");
    expect_ro(ks, r1, "x", "1");
    CHECK_OK(tind_txn_commit(t1));
    /* no non-repeatable reads: t2 still sees its snapshot */
    expect_ro(ks, r2, "x", "0");
    expect_ro(ks, r2, "new", NULL);
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, r2, &it));
    int n = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
        n++;
    CHECK_EQ(n, 1);
    tind_iter_free(it);
    expect_ro(ks, NULL, "x", "1");
    /* t2 read x, which t1 changed: t2 wrote nothing, so it commits (read only) */
    CHECK_OK(tind_txn_commit(t2));
    tind_read_options_free(r1);
    tind_read_options_free(r2);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* Two transactions read a counter and write it + 1: the second commit fails. */
TEST(lost_update)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_keyspace *ks = check_small_ks(db, "c", 4096);
    CHECK_OK(tind_put(ks, "counter", 7, "10", 2));
    tind_txn *t1, *t2;
    CHECK_OK(tind_txn_begin(db, 0, &t1));
    CHECK_OK(tind_txn_begin(db, 0, &t2));
    tind_read_options *r1 = ro_txn(t1), *r2 = ro_txn(t2);
    int c1 = get_int(ks, r1, "counter"), c2 = get_int(ks, r2, "counter");
    put_int(t1, ks, "counter", c1 + 1);
    put_int(t2, ks, "counter", c2 + 1);
    CHECK_OK(tind_txn_commit(t1));
    CHECK_RC(tind_txn_commit(t2), TIND_ECONFLICT);
    CHECK(strstr(tind_errmsg(db), "counter") != NULL);
    CHECK_EQ(get_int(ks, NULL, "counter"), 11);
    /* a plain put between read and commit also conflicts */
    CHECK_OK(tind_txn_begin(db, 0, &t1));
    tind_read_options_set_txn(r1, t1);
    c1 = get_int(ks, r1, "counter");
    CHECK_OK(tind_put(ks, "counter", 7, "50", 2));
    put_int(t1, ks, "counter", c1 + 1);
    CHECK_RC(tind_txn_commit(t1), TIND_ECONFLICT);
    CHECK_EQ(get_int(ks, NULL, "counter"), 50);
    /* a blind write of a key written after the snapshot conflicts too */
    CHECK_OK(tind_txn_begin(db, 0, &t1));
    CHECK_OK(tind_put(ks, "blind", 5, "a", 1));
    CHECK_OK(tind_txn_put(t1, ks, "blind", 5, "b", 1));
    CHECK_RC(tind_txn_commit(t1), TIND_ECONFLICT);
    tind_read_options_free(r1);
    tind_read_options_free(r2);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* Two doctors on call; each may go off call if the other stays on. Under
 * snapshot isolation both would leave (write skew); here one commit fails. */
TEST(write_skew)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_keyspace *ks = check_small_ks(db, "doctors", 4096);
    CHECK_OK(tind_put(ks, "alice", 5, "1", 1));
    CHECK_OK(tind_put(ks, "bob", 3, "1", 1));
    tind_txn *t1, *t2;
    CHECK_OK(tind_txn_begin(db, 0, &t1));
    CHECK_OK(tind_txn_begin(db, 0, &t2));
    tind_read_options *r1 = ro_txn(t1), *r2 = ro_txn(t2);
    CHECK_EQ(get_int(ks, r1, "alice") + get_int(ks, r1, "bob"), 2);
    CHECK_EQ(get_int(ks, r2, "alice") + get_int(ks, r2, "bob"), 2);
    put_int(t1, ks, "alice", 0);
    put_int(t2, ks, "bob", 0);
    CHECK_OK(tind_txn_commit(t1));
    CHECK_RC(tind_txn_commit(t2), TIND_ECONFLICT);
    CHECK_EQ(get_int(ks, NULL, "alice") + get_int(ks, NULL, "bob"), 1);
    /* the same with untracked reads is write skew: untracked means unchecked */
    CHECK_OK(tind_put(ks, "alice", 5, "1", 1));
    CHECK_OK(tind_put(ks, "bob", 3, "1", 1));
    CHECK_OK(tind_txn_begin(db, 0, &t1));
    CHECK_OK(tind_txn_begin(db, 0, &t2));
    tind_read_options_set_txn(r1, t1);
    tind_read_options_set_txn(r2, t2);
    tind_read_options_set_untracked(r1, 1);
    tind_read_options_set_untracked(r2, 1);
    CHECK_EQ(get_int(ks, r1, "alice") + get_int(ks, r1, "bob"), 2);
    CHECK_OK(tind_put(ks, "bob", 3, "0", 1));
    put_int(t1, ks, "alice", 0);
    CHECK_OK(tind_txn_commit(t1)); /* bob changed, but the read was untracked */
    CHECK_EQ(get_int(ks, NULL, "alice") + get_int(ks, NULL, "bob"), 0);
    tind_txn_rollback(t2);
    tind_read_options_free(r1);
    tind_read_options_free(r2);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* A transaction counts the orders of a customer with a prefix scan and
 * writes the count; another inserts an order: a phantom. */
TEST(phantom)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_keyspace *ks = check_small_ks(db, "orders", 4096);
    CHECK_OK(tind_put(ks, "c1/o1", 5, "x", 1));
    CHECK_OK(tind_put(ks, "c1/o2", 5, "x", 1));
    CHECK_OK(tind_put(ks, "c2/o1", 5, "x", 1));
    for (int variant = 0; variant < 3; variant++) {
        tind_txn *t;
        CHECK_OK(tind_txn_begin(db, 0, &t));
        tind_read_options *ro = ro_txn(t);
        tind_iter *it;
        if (variant == 1)
            CHECK_OK(tind_iter_range(ks, "c1/", 3, "c1/~", 4, ro, &it));
        else
            CHECK_OK(tind_iter_prefix(ks, "c1/", 3, ro, &it));
        int n = 0;
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
            n++;
        tind_iter_free(it);
        CHECK(n >= 2);
        put_int(t, ks, "c1/count", n);
        char k[16];
        snprintf(k, sizeof k, "c1/o%d", 3 + variant);
        if (variant < 2) {
            CHECK_OK(tind_put(ks, k, strlen(k), "x", 1)); /* the phantom */
            CHECK_RC(tind_txn_commit(t), TIND_ECONFLICT);
        } else {
            /* a write outside the range is no conflict */
            CHECK_OK(tind_put(ks, "c2/o9", 5, "x", 1));
            CHECK_OK(tind_txn_commit(t));
        }
        tind_read_options_free(ro);
    }
    /* tind_first through a transaction covers from the start to the first
     * key: a new smallest key conflicts, a key after it does not */
    tind_txn *t;
    CHECK_OK(tind_txn_begin(db, 0, &t));
    tind_read_options *ro = ro_txn(t);
    void *k;
    size_t kn;
    CHECK_OK(tind_first(ks, ro, &k, &kn, NULL, NULL));
    CHECK_MEM(k, kn, "c1/count", 8);
    free(k);
    CHECK_OK(tind_put(ks, "c1/zz", 5, "x", 1));
    put_int(t, ks, "z", 1);
    CHECK_OK(tind_txn_commit(t));
    CHECK_OK(tind_txn_begin(db, 0, &t));
    tind_read_options_set_txn(ro, t);
    CHECK_OK(tind_first(ks, ro, &k, &kn, NULL, NULL));
    free(k);
    CHECK_OK(tind_put(ks, "a", 1, "x", 1));
    put_int(t, ks, "z", 2);
    CHECK_RC(tind_txn_commit(t), TIND_ECONFLICT);
    /* an iterator covers what it walked: from a seek target to where it
     * stopped; a write beyond is no conflict, one inside (between two keys
     * it showed: a phantom) is */
    for (int inside = 0; inside < 2; inside++) {
        CHECK_OK(tind_txn_begin(db, 0, &t));
        tind_read_options_set_txn(ro, t);
        tind_iter *it;
        CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
        tind_iter_seek(it, "c1/o", 4);
        CHECK(tind_iter_valid(it));   /* c1/o1 */
        tind_iter_next(it);           /* c1/o2 */
        CHECK(tind_iter_valid(it));
        size_t n;
        const void *cur = tind_iter_key(it, &n);
        CHECK_MEM(cur, n, "c1/o2", 5);
        tind_iter_free(it);
        if (inside)
            CHECK_OK(tind_put(ks, "c1/o1x", 6, "x", 1));
        else
            CHECK_OK(tind_put(ks, "c1/o2x", 6, "x", 1)); /* after c1/o2: not seen */
        CHECK_OK(tind_put(ks, "b", 1, "x", 1));           /* before the seek target */
        put_int(t, ks, "y", inside);
        CHECK_RC(tind_txn_commit(t), inside ? TIND_ECONFLICT : TIND_OK);
        CHECK_OK(tind_remove(ks, "c1/o1x", 6));
    }
    /* a reverse walk off the start covers down to the lower bound */
    CHECK_OK(tind_txn_begin(db, 0, &t));
    tind_read_options_set_txn(ro, t);
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, "c1/", 3, NULL, 0, ro, &it));
    tind_iter_seek_for_prev(it, "c1/o1", 5);
    while (tind_iter_valid(it))
        tind_iter_prev(it);
    tind_iter_free(it);
    CHECK_OK(tind_put(ks, "c1/", 3, "x", 1));
    put_int(t, ks, "y", 5);
    CHECK_RC(tind_txn_commit(t), TIND_ECONFLICT);
    tind_read_options_free(ro);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* An absent key read is tracked: someone inserting it conflicts. */
TEST(absent_read_conflicts)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 0);
    tind_keyspace *ks = check_small_ks(db, "a", 4096);
    tind_txn *t;
    CHECK_OK(tind_txn_begin(db, 0, &t));
    tind_read_options *ro = ro_txn(t);
    CHECK_RC(tind_contains(ks, "unique-name", 11, ro), TIND_NOT_FOUND);
    CHECK_OK(tind_put(ks, "unique-name", 11, "other", 5));
    CHECK_OK(tind_txn_put(t, ks, "unique-name", 11, "mine", 4));
    CHECK_RC(tind_txn_commit(t), TIND_ECONFLICT);
    /* a key written by the transaction itself, then read, is no read of the
     * snapshot: nothing else to conflict with */
    CHECK_OK(tind_txn_begin(db, 0, &t));
    tind_read_options_set_txn(ro, t);
    CHECK_OK(tind_txn_put(t, ks, "own", 3, "1", 1));
    expect_ro(ks, ro, "own", "1");
    CHECK_OK(tind_put(ks, "unrelated", 9, "x", 1));
    CHECK_OK(tind_txn_commit(t));
    tind_read_options_free(ro);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* ------------------------------------------------------------------ modes */

typedef struct waiter_arg {
    tind_db *db;
    tind_keyspace *ks;
    _Atomic int began;
} waiter_arg;

static void *single_writer_waiter(void *p)
{
    waiter_arg *a = p;
    tind_txn *t;
    CHECK_OK(tind_txn_begin(a->db, TIND_TXN_SINGLE_WRITER, &t));
    atomic_store(&a->began, 1);
    tind_read_options *ro = ro_txn(t);
    int x = get_int(a->ks, ro, "x");
    put_int(t, a->ks, "x", x + 1);
    CHECK_OK(tind_txn_commit(t));
    tind_read_options_free(ro);
    return NULL;
}

TEST(single_writer)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_keyspace *ks = check_small_ks(db, "sw", 4096);
    tind_txn *t, *t2;
    CHECK_OK(tind_txn_begin(db, TIND_TXN_SINGLE_WRITER, &t));
    CHECK_RC(tind_txn_begin(db, TIND_TXN_SINGLE_WRITER | TIND_TXN_NOWAIT, &t2), TIND_EBUSY);
    CHECK(strstr(tind_errmsg(db), "single-writer") != NULL);
    /* readers and optimistic transactions do not wait */
    CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t2));
    tind_txn_rollback(t2);
    CHECK_OK(tind_txn_begin(db, TIND_TXN_READ_ONLY, &t2));
    tind_txn_rollback(t2);
    waiter_arg a = {db, ks, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, single_writer_waiter, &a) == 0);
    tind_read_options *ro = ro_txn(t);
    int x = get_int(ks, ro, "x");
    put_int(t, ks, "x", x + 1);
    usleep(20000);
    /* not a timed assertion of progress: the waiter cannot have begun */
    CHECK_EQ(atomic_load(&a.began), 0);
    CHECK_OK(tind_txn_commit(t));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_EQ(atomic_load(&a.began), 1);
    /* both increments applied, without conflict: they ran one after the other */
    CHECK_EQ(get_int(ks, NULL, "x"), 2);
    CHECK_OK(tind_txn_begin(db, TIND_TXN_SINGLE_WRITER | TIND_TXN_NOWAIT, &t2));
    /* a single writer is still checked against other writers */
    tind_read_options_set_txn(ro, t2);
    x = get_int(ks, ro, "x");
    CHECK_OK(tind_put(ks, "x", 1, "100", 3));
    put_int(t2, ks, "x", x + 1);
    CHECK_RC(tind_txn_commit(t2), TIND_ECONFLICT);
    tind_read_options_free(ro);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(read_only_and_args)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_keyspace *ks = check_small_ks(db, "ro", 4096);
    CHECK_OK(tind_put(ks, "a", 1, "1", 1));
    tind_txn *t;
    CHECK_RC(tind_txn_begin(NULL, 0, &t), TIND_EINVAL);
    CHECK_RC(tind_txn_begin(db, 0, NULL), TIND_EINVAL);
    CHECK_RC(tind_txn_begin(db, 64, &t), TIND_EINVAL);
    CHECK(t == NULL);
    CHECK_RC(tind_txn_begin(db, TIND_TXN_READ_ONLY | TIND_TXN_SINGLE_WRITER, &t), TIND_EINVAL);
    CHECK_OK(tind_txn_begin(db, TIND_TXN_READ_ONLY, &t));
    tind_read_options *ro = ro_txn(t);
    CHECK_RC(tind_txn_put(t, ks, "b", 1, "2", 1), TIND_EINVAL);
    CHECK_OK(tind_put(ks, "a", 1, "2", 1));
    expect_ro(ks, ro, "a", "1");
    /* a snapshot set after the transaction replaces it, and back */
    tind_snapshot *s;
    CHECK_OK(tind_snapshot_new(db, &s));
    tind_read_options_set_snapshot(ro, s);
    expect_ro(ks, ro, "a", "2");
    tind_read_options_set_txn(ro, t);
    expect_ro(ks, ro, "a", "1");
    tind_snapshot_free(s);
    CHECK_OK(tind_txn_commit(t));
    /* argument errors never crash */
    CHECK_RC(tind_txn_commit(NULL), TIND_EINVAL);
    tind_txn_rollback(NULL);
    CHECK_RC(tind_txn_put(NULL, ks, "a", 1, "", 0), TIND_EINVAL);
    CHECK_OK(tind_txn_begin(db, 0, &t));
    CHECK_RC(tind_txn_put(t, ks, "", 0, "", 0), TIND_EINVAL);
    CHECK_RC(tind_txn_put(t, ks, NULL, 3, "", 0), TIND_EINVAL);
    CHECK_RC(tind_txn_put(t, NULL, "a", 1, "", 0), TIND_EINVAL);
    CHECK_RC(tind_txn_put(t, ks, "a", 1, NULL, 5), TIND_EINVAL);
    CHECK_RC(tind_txn_remove(t, ks, "", 0), TIND_EINVAL);
    {
        static char big[TIND_MAX_KEY_SIZE + 1];
        CHECK_RC(tind_txn_put(t, ks, big, sizeof big, "", 0), TIND_ETOOBIG);
    }
    /* keyspace of another database */
    fs *mem2 = fs_mem_new();
    tind_db *db2 = check_open_mem(mem2, 0);
    tind_keyspace *ks2 = check_small_ks(db2, "x", 4096);
    CHECK_RC(tind_txn_put(t, ks2, "a", 1, "", 0), TIND_EINVAL);
    tind_read_options_set_txn(ro, t);
    void *v;
    size_t vn;
    CHECK_RC(tind_get(ks2, "a", 1, ro, &v, &vn), TIND_EINVAL);
    tind_iter *it;
    CHECK_RC(tind_iter_range(ks2, NULL, 0, NULL, 0, ro, &it), TIND_EINVAL);
    CHECK_OK(tind_close(db2));
    fs_destroy(mem2);
    /* close refuses while a transaction lives */
    CHECK_RC(tind_close(db), TIND_EBUSY);
    CHECK(strstr(tind_errmsg(db), "1 transaction") != NULL);
    CHECK_OK(tind_txn_put(t, ks, "after", 5, "busy", 4));
    CHECK_OK(tind_txn_commit(t));
    expect_ro(ks, NULL, "after", "busy");
    tind_read_options_free(ro);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* An iterator made through a transaction outlives it. */
TEST(iterator_outlives_txn)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_keyspace *ks = check_small_ks(db, "it", 4096);
    CHECK_OK(tind_put(ks, "a", 1, "1", 1));
    tind_txn *t;
    CHECK_OK(tind_txn_begin(db, 0, &t));
    CHECK_OK(tind_txn_put(t, ks, "b", 1, "2", 1));
    tind_read_options *ro = ro_txn(t);
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
    tind_txn_rollback(t);
    int n = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
        n++;
    CHECK_EQ(n, 2);
    tind_iter_free(it);
    tind_read_options_free(ro);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(deleted_keyspace)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_keyspace *ks = check_small_ks(db, "doomed", 4096), *keep = check_small_ks(db, "keep", 4096);
    CHECK_OK(tind_put(ks, "a", 1, "1", 1));
    /* wrote to it: TIND_ENOENT at commit, nothing applied */
    tind_txn *t;
    CHECK_OK(tind_txn_begin(db, 0, &t));
    CHECK_OK(tind_txn_put(t, ks, "b", 1, "2", 1));
    CHECK_OK(tind_txn_put(t, keep, "b", 1, "2", 1));
    CHECK_OK(tind_keyspace_delete(db, "doomed"));
    CHECK_RC(tind_txn_commit(t), TIND_ENOENT);
    CHECK_RC(tind_contains(keep, "b", 1, NULL), TIND_NOT_FOUND);
    /* read it: a conflict */
    ks = check_small_ks(db, "doomed2", 4096);
    CHECK_OK(tind_txn_begin(db, 0, &t));
    tind_read_options *ro = ro_txn(t);
    CHECK_RC(tind_contains(ks, "a", 1, ro), TIND_NOT_FOUND);
    CHECK_OK(tind_txn_put(t, keep, "c", 1, "3", 1));
    CHECK_OK(tind_keyspace_delete(db, "doomed2"));
    CHECK_RC(tind_txn_commit(t), TIND_ECONFLICT);
    CHECK(strstr(tind_errmsg(db), "deleted") != NULL);
    tind_read_options_free(ro);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* Many writes while a transaction is open: the conflict log rotates its
 * generations and still finds the one write that conflicts. */
TEST(conflict_log_generations)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_keyspace *ks = check_small_ks(db, "log", 4096);
    tind_txn *t, *young;
    CHECK_OK(tind_txn_begin(db, 0, &t));
    tind_read_options *ro = ro_txn(t);
    CHECK_RC(tind_contains(ks, "target", 6, ro), TIND_NOT_FOUND);
    CHECK_OK(tind_put(ks, "target", 6, "x", 1));
    char key[64], val[8] = "v";
    tind_batch *b;
    CHECK_OK(tind_batch_new(db, &b));
    for (int i = 0; i < 60000; i++) {
        snprintf(key, sizeof key, "filler-%08d-.............................................", i);
        CHECK_OK(tind_batch_put(b, ks, key, strlen(key), val, 1));
        if (b && tind_batch_count(b) == 1000)
            CHECK_OK(tind_batch_commit(b));
        if (i == 30000)
            CHECK_OK(tind_txn_begin(db, 0, &young));
    }
    CHECK_OK(tind_batch_commit(b));
    tind_batch_free(b);
    CHECK_OK(tind_txn_put(t, ks, "other", 5, "y", 1));
    CHECK_RC(tind_txn_commit(t), TIND_ECONFLICT);
    /* the young transaction read nothing: its write commits */
    CHECK_OK(tind_txn_put(young, ks, "young", 5, "y", 1));
    CHECK_OK(tind_txn_commit(young));
    tind_read_options_free(ro);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* The conflict log alone (db/conflicts.h): points and ranges after a
 * snapshot, keyspaces kept apart, bounds exclusive above, the log freed with
 * its last transaction. */
TEST(conflict_log_unit)
{
    tind_db *db = calloc(1, sizeof *db);
    CHECK(db);
    mu_init(&db->write_mu);
    mu_lock(&db->write_mu);
    CHECK_OK(cf_begin(db, 10));
    CHECK(db->conflicts);
    CHECK_OK(cf_begin(db, 12));
    const uint8_t *k = (const uint8_t *)"key";
    cf_record(db, 1, k, 3, 11);
    cf_record(db, 1, (const uint8_t *)"kez", 3, 12);
    cf_record(db, 2, (const uint8_t *)"a", 1, 13);
    conflict_log *cl = db->conflicts;
    CHECK(cf_covers(cl, 10) && cf_covers(cl, 12) && !cf_covers(cl, 5));
    CHECK_EQ(cf_point(cl, 1, k, 3, 10), 11);
    CHECK_EQ(cf_point(cl, 1, k, 3, 11), 0);     /* written at or before the snapshot */
    CHECK_EQ(cf_point(cl, 2, k, 3, 10), 0);     /* another keyspace */
    CHECK_EQ(cf_point(cl, 1, (const uint8_t *)"ke", 2, 0), 0);
    tbuf found = TBUF_INIT;
    CHECK_EQ(cf_range(cl, 1, NULL, 0, 0, NULL, 0, 0, 10, &found), 11);
    CHECK_MEM(found.data, found.len, "key", 3);
    CHECK_EQ(cf_range(cl, 1, k, 3, 1, (const uint8_t *)"kez", 3, 1, 11, &found), 0); /* hi exclusive */
    CHECK_EQ(cf_range(cl, 1, k, 3, 1, (const uint8_t *)"kez\0", 4, 1, 11, &found), 12);
    CHECK_EQ(cf_range(cl, 1, NULL, 0, 0, (const uint8_t *)"", 0, 1, 0, &found), 0);  /* empty range */
    CHECK_EQ(cf_range(cl, 0, NULL, 0, 0, NULL, 0, 0, 0, &found), 0);              /* keyspace 0: nothing */
    CHECK_EQ(cf_range(cl, 2, NULL, 0, 0, NULL, 0, 0, 12, &found), 13);
    CHECK_EQ(cf_range(cl, 2, NULL, 0, 0, NULL, 0, 0, 13, &found), 0);
    tbuf_free(&found);
    cf_end(db, 10);
    CHECK(db->conflicts);
    cf_end(db, 12);
    CHECK(db->conflicts == NULL);
    cf_record(db, 1, k, 3, 20); /* no log: nothing to do */
    mu_unlock(&db->write_mu);
    mu_destroy(&db->write_mu);
    free(db);
}

int main(void)
{
    check_seed_init(12);
    RUN(ryow_model_threads_on);
    RUN(ryow_model_threads_off);
    RUN(commit_applies_atomically);
    RUN(isolation);
    RUN(lost_update);
    RUN(write_skew);
    RUN(phantom);
    RUN(absent_read_conflicts);
    RUN(single_writer);
    RUN(read_only_and_args);
    RUN(iterator_outlives_txn);
    RUN(deleted_keyspace);
    RUN(conflict_log_generations);
    RUN(conflict_log_unit);
    return 0;
}
