/*
 * test_merge.c -- merge operators and single deletes (issue 13): every read
 * path (get, contains, value_size, first, last, iterators both ways, seeks,
 * direction changes) over operands in memtables, L0 and deeper levels;
 * snapshots across compaction; partial and full merges; failing callbacks
 * (a clear status, nothing dropped); reopen without the operator and with
 * another one; the built-ins restored at reopen; single delete and its
 * contract (violations counted, reads unchanged). Each engine test runs with
 * background threads off (driven by hand) and on.
 * TSAN-LABEL: also run under ThreadSanitizer (make test-tsan).
 */
#include <pthread.h>
#include <unistd.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"
#include "tind_internal.h"
#include "util/coding.h"

static int background;

static tind_db *open_mem(fs *mem)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, mem);
    tind_options_set_no_background(o, !background);
    tind_db *db;
    int rc = tind_open("/db", o, &db);
    if (rc)
        fprintf(stderr, "open: %s\n", tind_errmsg(NULL));
    CHECK_OK(rc);
    tind_options_free(o);
    return db;
}

/* Approximate key count: exact once compaction has folded every version. */
static void expect_len(tind_keyspace *ks, uint64_t want)
{
    uint64_t n;
    CHECK_OK(tind_approximate_len(ks, &n));
    CHECK_EQ(n, want);
}

static void close_mem(tind_db *db, fs *mem)
{
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

static tind_ks_options *small_opts(void)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 4096);
    tind_ks_options_set_table_size(ko, 4096);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_block_size(ko, 512);
    return ko;
}

static tind_keyspace *counter_ks(tind_db *db, const char *name)
{
    tind_ks_options *ko = small_opts();
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_COUNTER, NULL, 0);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, name, ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

static void add(tind_keyspace *ks, const char *key, uint64_t n)
{
    uint8_t b[8];
    enc_u64(b, n);
    CHECK_OK(tind_merge(ks, key, strlen(key), b, 8));
}

static void put_u64(tind_keyspace *ks, const char *key, uint64_t n)
{
    uint8_t b[8];
    enc_u64(b, n);
    CHECK_OK(tind_put(ks, key, strlen(key), b, 8));
}

/* The counter read every way there is: get, contains, value_size, and an
 * iterator positioned on it from both sides. want = UINT64_MAX: absent. */
static void expect_count(tind_keyspace *ks, const tind_read_options *ro, const char *key, uint64_t want)
{
    size_t kn = strlen(key);
    void *v = NULL;
    size_t n = 0;
    int rc = tind_get(ks, key, kn, ro, &v, &n);
    if (want == UINT64_MAX) {
        CHECK_RC(rc, TIND_NOT_FOUND);
        CHECK_RC(tind_contains(ks, key, kn, ro), TIND_NOT_FOUND);
    } else {
        if (rc)
            fprintf(stderr, "get %s: %s\n", key, tind_errmsg(ks->db));
        CHECK_OK(rc);
        CHECK_EQ(n, 8);
        CHECK_EQ(dec_u64(v), want);
        CHECK_OK(tind_contains(ks, key, kn, ro));
        uint64_t sz = 0;
        CHECK_OK(tind_value_size(ks, key, kn, ro, &sz));
        CHECK_EQ(sz, 8);
    }
    free(v);
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
    /* forward seek */
    tind_iter_seek(it, key, kn);
    size_t got;
    const void *k = tind_iter_key(it, &got);
    if (want == UINT64_MAX) {
        CHECK(!k || got != kn || memcmp(k, key, kn) != 0);
    } else {
        CHECK(k);
        CHECK_MEM(k, got, key, kn);
        CHECK_EQ(tind_iter_value_size(it), 8);
        const void *val = tind_iter_value(it, &n);
        CHECK_EQ(n, 8);
        CHECK_EQ(dec_u64(val), want);
    }
    /* backward */
    tind_iter_seek_for_prev(it, key, kn);
    k = tind_iter_key(it, &got);
    if (want == UINT64_MAX) {
        CHECK(!k || got != kn || memcmp(k, key, kn) != 0);
    } else {
        CHECK(k);
        CHECK_MEM(k, got, key, kn);
        const void *val = tind_iter_value(it, &n);
        CHECK_EQ(n, 8);
        CHECK_EQ(dec_u64(val), want);
    }
    CHECK_OK(tind_iter_status(it));
    tind_iter_free(it);
}

/* The whole keyspace forward and backward, and with direction changes at
 * every key, equals want[0..n) (keys "k00".., counts; UINT64_MAX = absent). */
static void expect_scan(tind_keyspace *ks, const tind_read_options *ro, const uint64_t *want, int n)
{
    char key[16];
    int present[64], np = 0;
    for (int i = 0; i < n; i++)
        if (want[i] != UINT64_MAX)
            present[np++] = i;
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
    int j = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), j++) {
        CHECK(j < np);
        size_t kn, vn;
        const void *k = tind_iter_key(it, &kn);
        const void *v = tind_iter_value(it, &vn);
        int len = snprintf(key, sizeof key, "k%02d", present[j]);
        CHECK_MEM(k, kn, key, (size_t)len);
        CHECK_EQ(vn, 8);
        CHECK_EQ(dec_u64(v), want[present[j]]);
        /* a step back and forth again lands on the same key */
        if (j > 0) {
            tind_iter_prev(it);
            CHECK(tind_iter_valid(it));
            k = tind_iter_key(it, &kn);
            len = snprintf(key, sizeof key, "k%02d", present[j - 1]);
            CHECK_MEM(k, kn, key, (size_t)len);
            v = tind_iter_value(it, &vn);
            CHECK_EQ(dec_u64(v), want[present[j - 1]]);
            tind_iter_next(it);
            CHECK(tind_iter_valid(it));
            k = tind_iter_key(it, &kn);
            len = snprintf(key, sizeof key, "k%02d", present[j]);
            CHECK_MEM(k, kn, key, (size_t)len);
        }
    }
    CHECK_OK(tind_iter_status(it));
    CHECK_EQ(j, np);
    j = np - 1;
    for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it), j--) {
        CHECK(j >= 0);
        size_t kn, vn;
        const void *k = tind_iter_key(it, &kn);
        const void *v = tind_iter_value(it, &vn);
        int len = snprintf(key, sizeof key, "k%02d", present[j]);
        CHECK_MEM(k, kn, key, (size_t)len);
        CHECK_EQ(dec_u64(v), want[present[j]]);
        if (j < np - 1) {
            tind_iter_next(it);
            CHECK(tind_iter_valid(it));
            k = tind_iter_key(it, &kn);
            len = snprintf(key, sizeof key, "k%02d", present[j + 1]);
            CHECK_MEM(k, kn, key, (size_t)len);
            tind_iter_prev(it);
        }
    }
    CHECK_OK(tind_iter_status(it));
    CHECK_EQ(j, -1);
    tind_iter_free(it);
    void *fk = NULL, *fv = NULL;
    size_t fkn, fvn;
    int rc = tind_first(ks, ro, &fk, &fkn, &fv, &fvn);
    if (np) {
        CHECK_OK(rc);
        CHECK_EQ(dec_u64(fv), want[present[0]]);
        free(fk);
        free(fv);
        CHECK_OK(tind_last(ks, ro, &fk, &fkn, &fv, &fvn));
        CHECK_EQ(dec_u64(fv), want[present[np - 1]]);
        free(fk);
        free(fv);
    } else {
        CHECK_RC(rc, TIND_NOT_FOUND);
    }
}

static void settle(tind_keyspace *ks)
{
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
}

TEST(counter_every_read_path)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = counter_ks(db, "c");
    enum { N = 24 };
    uint64_t want[N];
    char key[16];
    for (int i = 0; i < N; i++)
        want[i] = UINT64_MAX;
    /* rounds of writes, each followed by a different stage: memtable only,
     * flushed to L0, compacted down */
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof key, "k%02d", i);
            switch ((i + round) % 6) {
            case 0:
            case 1:
            case 2:
                add(ks, key, (uint64_t)i + 1);
                want[i] = (want[i] == UINT64_MAX ? 0 : want[i]) + (uint64_t)i + 1;
                break;
            case 3:
                put_u64(ks, key, 1000);
                want[i] = 1000;
                break;
            case 4:
                if (i % 2) {
                    CHECK_OK(tind_remove(ks, key, strlen(key)));
                    want[i] = UINT64_MAX;
                }
                break;
            default:
                break;
            }
        }
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof key, "k%02d", i);
            expect_count(ks, NULL, key, want[i]);
        }
        expect_scan(ks, NULL, want, N);
        if (round % 3 == 1)
            CHECK_OK(tind_flush(ks));
        if (round % 3 == 2)
            settle(ks);
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof key, "k%02d", i);
            expect_count(ks, NULL, key, want[i]);
        }
        expect_scan(ks, NULL, want, N);
    }
    /* the built-in needs no callbacks: it comes back with the keyspace */
    CHECK_OK(tind_close(db));
    db = open_mem(mem);
    CHECK_OK(tind_keyspace_open(db, "c", NULL, &ks));
    expect_scan(ks, NULL, want, N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%02d", i);
        add(ks, key, 5);
        want[i] = (want[i] == UINT64_MAX ? 0 : want[i]) + 5;
    }
    settle(ks);
    expect_scan(ks, NULL, want, N);
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK_EQ(st.merge_failures, 0);
    close_mem(db, mem);
}

TEST(append_with_separator_and_batches)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_ks_options *ko = small_opts();
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_APPEND, ", ", 2);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "log", ko, &ks));
    tind_ks_options_free(ko);
    CHECK_OK(tind_merge(ks, "a", 1, "x", 1));
    CHECK_OK(tind_merge(ks, "a", 1, "y", 1));
    tind_batch *b;
    CHECK_OK(tind_batch_new(db, &b));
    CHECK_OK(tind_batch_merge(b, ks, "a", 1, "z", 1));
    CHECK_OK(tind_batch_put(b, ks, "b", 1, "base", 4));
    CHECK_OK(tind_batch_merge(b, ks, "b", 1, "more", 4));
    CHECK_OK(tind_batch_merge(b, ks, "c", 1, "", 0));
    CHECK_RC(tind_batch_merge(b, ks, "", 0, "x", 1), TIND_EINVAL);
    CHECK_RC(tind_batch_merge(b, ks, "c", 1, NULL, 3), TIND_EINVAL);
    CHECK_EQ(tind_batch_count(b), 4);
    CHECK_OK(tind_batch_commit(b));
    tind_batch_free(b);
    for (int stage = 0; stage < 3; stage++) {
        void *v;
        size_t n;
        CHECK_OK(tind_get(ks, "a", 1, NULL, &v, &n));
        CHECK_MEM(v, n, "x, y, z", 7);
        free(v);
        CHECK_OK(tind_get(ks, "b", 1, NULL, &v, &n));
        CHECK_MEM(v, n, "base, more", 10);
        free(v);
        CHECK_OK(tind_get(ks, "c", 1, NULL, &v, &n));
        CHECK_EQ(n, 0);
        free(v);
        if (stage == 0)
            CHECK_OK(tind_flush(ks));
        if (stage == 1) {
            CHECK_OK(tind_close(db));
            db = open_mem(mem);
            CHECK_OK(tind_keyspace_open(db, "log", NULL, &ks));
            CHECK_OK(tind_compact(ks));
        }
    }
    /* a separator over 16 bytes and an unknown kind are refused */
    ko = tind_ks_options_new();
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_APPEND, "0123456789abcdefg", 17);
    CHECK_RC(tind_keyspace_open(db, "bad", ko, &ks), TIND_EINVAL);
    tind_ks_options_set_merge_builtin(ko, 77, NULL, 0);
    CHECK_RC(tind_keyspace_open(db, "bad", ko, &ks), TIND_EINVAL);
    tind_ks_options_set_merge_operator(ko, "tind.mine", NULL, NULL, NULL);
    CHECK_RC(tind_keyspace_open(db, "bad", ko, &ks), TIND_EINVAL);
    tind_ks_options_set_merge_operator(ko, "mine", NULL, NULL, NULL);
    CHECK_RC(tind_keyspace_open(db, "bad", ko, &ks), TIND_EINVAL);
    tind_ks_options_free(ko);
    close_mem(db, mem);
}

TEST(snapshots_across_compaction)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = counter_ks(db, "c");
    tind_snapshot *snaps[4];
    tind_read_options *ro[4];
    uint64_t at[4];
    uint64_t total = 0;
    for (int s = 0; s < 4; s++) {
        for (int i = 0; i < 10; i++) {
            add(ks, "k", 1);
            total++;
        }
        if (s == 1) {
            put_u64(ks, "k", 100);
            total = 100;
        }
        CHECK_OK(tind_snapshot_new(db, &snaps[s]));
        ro[s] = tind_read_options_new();
        tind_read_options_set_snapshot(ro[s], snaps[s]);
        at[s] = total;
        if (s % 2)
            CHECK_OK(tind_flush(ks));
    }
    for (int i = 0; i < 5; i++) {
        add(ks, "k", 2);
        total += 2;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int s = 0; s < 4; s++)
            expect_count(ks, ro[s], "k", at[s]);
        expect_count(ks, NULL, "k", total);
        settle(ks);
    }
    /* released snapshots let compaction fold everything into one value */
    for (int s = 0; s < 4; s++) {
        tind_read_options_free(ro[s]);
        tind_snapshot_free(snaps[s]);
    }
    settle(ks);
    expect_count(ks, NULL, "k", total);
    expect_len(ks, 1);
    close_mem(db, mem);
}

/* ------------------------------------------------------------------ user operators */

typedef struct calls {
    _Atomic int full, partial;
} calls;

/* A string-concatenating operator that fails on the operand "FAIL" and
 * counts its calls. */
static int cat_full(void *ctx, const void *key, size_t klen, const void *base, size_t blen, int has_base,
                    const void *const *ops, const size_t *lens, size_t count, void **out, size_t *outlen)
{
    (void)key, (void)klen;
    calls *c = ctx;
    atomic_fetch_add(&c->full, 1);
    size_t total = has_base ? blen : 1;
    for (size_t i = 0; i < count; i++) {
        if (lens[i] == 4 && !memcmp(ops[i], "FAIL", 4))
            return TIND_EINVAL;
        total += lens[i];
    }
    char *p = malloc(total);
    if (!p)
        return TIND_ENOMEM;
    size_t n = 0;
    if (has_base) {
        memcpy(p, base, blen);
        n = blen;
    } else {
        p[n++] = '_';
    }
    for (size_t i = 0; i < count; i++) {
        memcpy(p + n, ops[i], lens[i]);
        n += lens[i];
    }
    *out = p;
    *outlen = n;
    return TIND_OK;
}

static int cat_partial(void *ctx, const void *key, size_t klen, const void *const *ops, const size_t *lens,
                       size_t count, void **out, size_t *outlen)
{
    (void)key, (void)klen;
    calls *c = ctx;
    atomic_fetch_add(&c->partial, 1);
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (lens[i] == 4 && !memcmp(ops[i], "FAIL", 4))
            return TIND_ENOTSUP; /* decline: the operands stay */
        total += lens[i];
    }
    char *p = malloc(total ? total : 1);
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        memcpy(p + n, ops[i], lens[i]);
        n += lens[i];
    }
    *out = p;
    *outlen = n;
    return TIND_OK;
}

static tind_keyspace *cat_ks(tind_db *db, const char *name, const char *opname, calls *c, int partial)
{
    tind_ks_options *ko = small_opts();
    tind_ks_options_set_merge_operator(ko, opname, cat_full, partial ? cat_partial : NULL, c);
    tind_keyspace *ks = NULL;
    int rc = tind_keyspace_open(db, name, ko, &ks);
    tind_ks_options_free(ko);
    return rc ? NULL : ks;
}

/* Keyspace "s" with the operator "cat" (the partial merge when partial). */
static tind_keyspace *cat_ks_ok(tind_db *db, calls *c, int partial)
{
    tind_keyspace *ks = cat_ks(db, "s", "cat", c, partial);
    CHECK(ks);
    return ks;
}

static void expect_str(tind_keyspace *ks, const char *key, const char *want)
{
    void *v = NULL;
    size_t n = 0;
    int rc = tind_get(ks, key, strlen(key), NULL, &v, &n);
    if (!want) {
        CHECK_RC(rc, TIND_NOT_FOUND);
        return;
    }
    if (rc)
        fprintf(stderr, "get %s: %s\n", key, tind_errmsg(ks->db));
    CHECK_OK(rc);
    CHECK_MEM(v, n, want, strlen(want));
    free(v);
}

TEST(user_operator_partial_and_full)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    calls c = {0, 0};
    tind_keyspace *ks = cat_ks_ok(db, &c, 1);
    /* operands in several L0 tables with a value deep below: compactions
     * that do not reach the value combine operands (partial) */
    CHECK_OK(tind_put(ks, "k", 1, "B", 1));
    settle(ks);
    for (int t = 0; t < 3; t++) {
        CHECK_OK(tind_merge(ks, "k", 1, "a", 1));
        CHECK_OK(tind_merge(ks, "k", 1, "b", 1));
        CHECK_OK(tind_merge(ks, "n", 1, "x", 1));
        CHECK_OK(tind_flush(ks));
    }
    expect_str(ks, "k", "Bababab");
    expect_str(ks, "n", "_xxx");
    CHECK_OK(tind_compact(ks));
    expect_str(ks, "k", "Bababab");
    expect_str(ks, "n", "_xxx");
    CHECK(atomic_load(&c.full) > 0);
    /* at the bottom, all folded into one value */
    expect_len(ks, 2);
    close_mem(db, mem);
}

TEST(partial_merge_between_snapshots)
{
    /* a snapshot splits the operands: compaction must not fold across it,
     * and folds (partially) within a stripe */
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    calls c = {0, 0};
    tind_keyspace *ks = cat_ks_ok(db, &c, 1);
    CHECK_OK(tind_put(ks, "k", 1, "B", 1));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_merge(ks, "k", 1, "1", 1));
    CHECK_OK(tind_merge(ks, "k", 1, "2", 1));
    tind_snapshot *s;
    CHECK_OK(tind_snapshot_new(db, &s));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_snapshot(ro, s);
    CHECK_OK(tind_merge(ks, "k", 1, "3", 1));
    CHECK_OK(tind_merge(ks, "k", 1, "4", 1));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    void *v;
    size_t n;
    CHECK_OK(tind_get(ks, "k", 1, ro, &v, &n));
    CHECK_MEM(v, n, "B12", 3);
    free(v);
    expect_str(ks, "k", "B1234");
    /* the stripe above the snapshot has no base: its operands were combined */
    CHECK(atomic_load(&c.partial) > 0);
    tind_read_options_free(ro);
    tind_snapshot_free(s);
    close_mem(db, mem);
}

TEST(failing_callback)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    calls c = {0, 0};
    tind_keyspace *ks = cat_ks_ok(db, &c, 1);
    CHECK_OK(tind_put(ks, "a", 1, "A", 1));
    CHECK_OK(tind_merge(ks, "k", 1, "x", 1));
    CHECK_OK(tind_merge(ks, "k", 1, "FAIL", 4));
    CHECK_OK(tind_merge(ks, "k", 1, "y", 1));
    CHECK_OK(tind_put(ks, "z", 1, "Z", 1));
    for (int stage = 0; stage < 3; stage++) {
        void *v = NULL;
        size_t n;
        CHECK_RC(tind_get(ks, "k", 1, NULL, &v, &n), TIND_ECORRUPT);
        CHECK(strstr(tind_errmsg(db), "merge operator 'cat' failed on key 'k'"));
        CHECK_RC(tind_contains(ks, "k", 1, NULL), TIND_ECORRUPT);
        expect_str(ks, "a", "A");
        expect_str(ks, "z", "Z");
        /* iterators stop there with the status, both ways */
        tind_iter *it;
        CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
        tind_iter_first(it);
        CHECK(tind_iter_valid(it));
        tind_iter_next(it);
        CHECK(!tind_iter_valid(it));
        CHECK_RC(tind_iter_status(it), TIND_ECORRUPT);
        tind_iter_free(it);
        CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
        tind_iter_last(it);
        CHECK(tind_iter_valid(it));
        tind_iter_prev(it);
        CHECK(!tind_iter_valid(it));
        CHECK_RC(tind_iter_status(it), TIND_ECORRUPT);
        tind_iter_free(it);
        CHECK_RC(tind_last(ks, NULL, NULL, NULL, NULL, NULL), TIND_OK);
        /* compaction keeps the operands: nothing is dropped */
        if (stage == 0)
            CHECK_OK(tind_flush(ks));
        if (stage == 1)
            CHECK_OK(tind_compact(ks));
    }
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK(st.merge_failures >= 1);
    /* a put over them ends the trouble */
    CHECK_OK(tind_put(ks, "k", 1, "K", 1));
    CHECK_OK(tind_merge(ks, "k", 1, "k", 1));
    expect_str(ks, "k", "Kk");
    settle(ks);
    expect_str(ks, "k", "Kk");
    close_mem(db, mem);
}

/* ---- the merge cache of point reads (db/merge.h) ---- */

static uint64_t get_count(tind_keyspace *ks, const tind_read_options *ro, const char *key)
{
    void *v = NULL;
    size_t n = 0;
    int rc = tind_get(ks, key, strlen(key), ro, &v, &n);
    if (rc == TIND_NOT_FOUND)
        return UINT64_MAX;
    if (rc)
        fprintf(stderr, "get %s: %s\n", key, tind_errmsg(ks->db));
    CHECK_OK(rc);
    CHECK_EQ(n, 8);
    uint64_t x = dec_u64(v);
    free(v);
    return x;
}

static tind_read_options *snap_ro(tind_db *db, tind_snapshot **s)
{
    CHECK_OK(tind_snapshot_new(db, s));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_snapshot(ro, *s);
    return ro;
}

TEST(merge_cache_snapshots_and_range_tombstones)
{
    /* reads stop at the entry the last read merged: snapshots below and
     * above it, and a range tombstone between it and newer operands (the
     * cached value is deleted with what it merged), through seal, flush
     * and compaction */
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = counter_ks(db, "c");
    put_u64(ks, "h", 100);
    for (int i = 0; i < 5; i++)
        add(ks, "h", 1);
    CHECK_EQ(get_count(ks, NULL, "h"), 105); /* cached */
    CHECK_EQ(get_count(ks, NULL, "h"), 105); /* from the cache */
    tind_snapshot *s1;
    tind_read_options *ro1 = snap_ro(db, &s1);
    for (int i = 0; i < 3; i++)
        add(ks, "h", 1);
    CHECK_EQ(get_count(ks, ro1, "h"), 105);
    CHECK_EQ(get_count(ks, NULL, "h"), 108);
    CHECK_EQ(get_count(ks, ro1, "h"), 105); /* below the newer cached value */
    tind_snapshot *s2;
    tind_read_options *ro2 = snap_ro(db, &s2);
    CHECK_OK(tind_remove_range(ks, "g", 1, "i", 1));
    CHECK_EQ(get_count(ks, NULL, "h"), UINT64_MAX);
    add(ks, "h", 1);
    add(ks, "h", 1);
    CHECK_EQ(get_count(ks, NULL, "h"), 2);
    CHECK_EQ(get_count(ks, ro2, "h"), 108);
    CHECK_EQ(get_count(ks, ro1, "h"), 105);
    for (int stage = 0; stage < 3; stage++) {
        if (stage == 0)
            CHECK_OK(tind_flush(ks));
        if (stage == 1)
            CHECK_OK(tind_compact(ks));
        if (stage == 2) {
            tind_read_options_free(ro1);
            tind_snapshot_free(s1);
            tind_read_options_free(ro2);
            tind_snapshot_free(s2);
            settle(ks);
        }
        uint64_t want = 2 + (uint64_t)stage;
        CHECK_EQ(get_count(ks, NULL, "h"), want);
        if (stage < 2) {
            CHECK_EQ(get_count(ks, ro2, "h"), 108);
            CHECK_EQ(get_count(ks, ro1, "h"), 105);
        }
        add(ks, "h", 1);
        CHECK_EQ(get_count(ks, NULL, "h"), want + 1);
        expect_count(ks, NULL, "h", want + 1);
    }
    close_mem(db, mem);
}

TEST(merge_cache_operands_across_seal_flush_compaction)
{
    /* a hot key read between merges while its operands move from the
     * memtable to L0 and down, against a model; a put over them resets it */
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = counter_ks(db, "c");
    enum { KEYS = 6 };
    uint64_t model[KEYS] = {0};
    uint64_t rng = check_seed | 1;
    char key[16];
    for (int round = 0; round < 400; round++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        int k = (int)(rng % KEYS);
        k = k < 3 ? 0 : k; /* key 0 is hot */
        snprintf(key, sizeof key, "k%d", k);
        uint64_t r = (rng >> 20) % 16;
        if (r < 10) {
            add(ks, key, (uint64_t)round + 1);
            model[k] += (uint64_t)round + 1;
        } else if (r < 14) {
            CHECK_EQ(get_count(ks, NULL, key), model[k] ? model[k] : UINT64_MAX);
        } else if (r == 14) {
            put_u64(ks, key, 7);
            model[k] = 7;
        } else if (round % 3 == 0) {
            CHECK_OK(tind_flush(ks));
        } else if (round % 3 == 1) {
            CHECK_OK(tind_compact(ks));
        }
    }
    for (int k = 0; k < KEYS; k++) {
        snprintf(key, sizeof key, "k%d", k);
        CHECK_EQ(get_count(ks, NULL, key), model[k] ? model[k] : UINT64_MAX);
    }
    settle(ks);
    for (int k = 0; k < KEYS; k++) {
        snprintf(key, sizeof key, "k%d", k);
        CHECK_EQ(get_count(ks, NULL, key), model[k] ? model[k] : UINT64_MAX);
    }
    close_mem(db, mem);
}

/* The merge cache keeps a key's merged value with the seqno X of the operand
 * it ends at. A compaction may later fold that operand and what lies below
 * into a value at the same seqno X, and a compaction filter may then replace
 * that value (it is the key's newest value until the next merge; above the
 * bottom level its seqno stays X). A read must take the stored value then,
 * not the cached one: the cache stands only for the operand it was made at.
 * White-box: the walk's older entries come from a scripted next(). */
typedef struct scripted {
    int n, at;
    uint8_t type[4];
    uint64_t seqno[4], val[4];
    uint8_t bytes[4][8];
} scripted;

static int scripted_next(void *ctx, uint8_t *type, uint64_t *seqno, const uint8_t **val, size_t *vlen, tind_err *err)
{
    (void)err;
    scripted *s = ctx;
    if (s->at == s->n)
        return TIND_NOT_FOUND;
    int i = s->at++;
    *type = s->type[i];
    *seqno = s->seqno[i];
    enc_u64(s->bytes[i], s->val[i]);
    *val = s->bytes[i];
    *vlen = 8;
    return TIND_OK;
}

static uint64_t scripted_read(tind_keyspace *ks, uint64_t top, uint64_t operand, scripted *s)
{
    merge_list ops = {0};
    uint8_t b[8];
    enc_u64(b, operand);
    CHECK_OK(merge_list_add(&ops, b, 8, top));
    tbuf out = TBUF_INIT;
    tind_err err;
    err_clear(&err);
    CHECK_OK(ks_merge_read_cached(ks, (const uint8_t *)"k", 1, top, &ops, scripted_next, s, &out, &err));
    CHECK_EQ(out.len, 8);
    uint64_t v = dec_u64(out.data);
    tbuf_free(&out);
    merge_list_free(&ops);
    return v;
}

TEST(merge_cache_value_at_cached_seqno)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = counter_ks(db, "c");
    /* +1 @5 over +10 @4 over the value 100 @3: 111, cached at 5 */
    scripted a = {2, 0, {ENTRY_MERGE, ENTRY_VALUE}, {4, 3}, {10, 100}, {{0}}};
    CHECK_EQ(scripted_read(ks, 5, 1, &a), 111);
    /* a read of top 5 again is the cached value, without a walk */
    scripted none = {0};
    CHECK_EQ(scripted_read(ks, 5, 1, &none), 111);
    /* compaction folded 5 and below into a value @5, a filter replaced it
     * by 500; then +2 @6: 502, not the cached 111 + 2 */
    scripted b = {1, 0, {ENTRY_VALUE}, {5}, {500}, {{0}}};
    CHECK_EQ(scripted_read(ks, 6, 2, &b), 502);
    /* the operand @6 is cached now: +4 @7 over it stops there */
    scripted c = {2, 0, {ENTRY_MERGE, ENTRY_VALUE}, {6, 5}, {2, 500}, {{0}}};
    CHECK_EQ(scripted_read(ks, 7, 4, &c), 506);
    CHECK_EQ(c.at, 1);
    close_mem(db, mem);
}

TEST(merge_cache_transaction)
{
    /* a transaction reads a hot key at its snapshot, below the values
     * others' reads cached; its put over the operands commits, and merges
     * then count from it */
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = counter_ks(db, "c");
    for (int i = 0; i < 4; i++)
        add(ks, "h", 10);
    CHECK_EQ(get_count(ks, NULL, "h"), 40);
    tind_txn *t;
    CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_txn(ro, t);
    tind_read_options_set_untracked(ro, 1);
    add(ks, "h", 1);
    CHECK_EQ(get_count(ks, NULL, "h"), 41);
    CHECK_EQ(get_count(ks, ro, "h"), 40);
    add(ks, "h", 1);
    CHECK_EQ(get_count(ks, NULL, "h"), 42);
    CHECK_EQ(get_count(ks, ro, "h"), 40);
    uint8_t b[8];
    enc_u64(b, 1000);
    CHECK_OK(tind_txn_put(t, ks, "h", 1, b, 8));
    CHECK_EQ(get_count(ks, ro, "h"), 1000);
    CHECK_RC(tind_txn_commit(t), TIND_ECONFLICT); /* others merged into h since its snapshot */
    CHECK_EQ(get_count(ks, NULL, "h"), 42);
    CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
    tind_read_options_set_txn(ro, t);
    CHECK_EQ(get_count(ks, ro, "h"), 42);
    CHECK_OK(tind_txn_put(t, ks, "h", 1, b, 8));
    CHECK_OK(tind_txn_commit(t));
    tind_read_options_free(ro);
    CHECK_EQ(get_count(ks, NULL, "h"), 1000);
    add(ks, "h", 5);
    CHECK_EQ(get_count(ks, NULL, "h"), 1005);
    settle(ks);
    CHECK_EQ(get_count(ks, NULL, "h"), 1005);
    close_mem(db, mem);
}

TEST(merge_cache_failing_operator)
{
    /* a failed merge is not cached: every read fails until a put covers it */
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    calls c = {0, 0};
    tind_keyspace *ks = cat_ks_ok(db, &c, 1);
    CHECK_OK(tind_merge(ks, "k", 1, "x", 1));
    CHECK_OK(tind_merge(ks, "k", 1, "y", 1));
    expect_str(ks, "k", "_xy");
    CHECK_OK(tind_merge(ks, "k", 1, "z", 1));
    expect_str(ks, "k", "_xyz");
    CHECK_OK(tind_merge(ks, "k", 1, "FAIL", 4));
    for (int i = 0; i < 2; i++) {
        void *v = NULL;
        size_t n;
        CHECK_RC(tind_get(ks, "k", 1, NULL, &v, &n), TIND_ECORRUPT);
        CHECK(strstr(tind_errmsg(db), "merge operator 'cat' failed on key 'k'"));
    }
    CHECK_OK(tind_merge(ks, "k", 1, "w", 1));
    CHECK_RC(tind_contains(ks, "k", 1, NULL), TIND_ECORRUPT);
    CHECK_OK(tind_put(ks, "k", 1, "K", 1));
    CHECK_OK(tind_merge(ks, "k", 1, "k", 1));
    expect_str(ks, "k", "Kk");
    CHECK_OK(tind_merge(ks, "k", 1, "l", 1));
    expect_str(ks, "k", "Kkl");
    settle(ks);
    expect_str(ks, "k", "Kkl");
    close_mem(db, mem);
}

TEST(flush_folds_operands)
{
    /* a flush leaves one operand per key and stripe (a partial merge: the
     * base lies in a table below) */
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_ks_options *ko = small_opts();
    tind_ks_options_set_memtable_size(ko, 1 << 20); /* one flush: the test's */
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_COUNTER, NULL, 0);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "c", ko, &ks));
    tind_ks_options_free(ko);
    put_u64(ks, "a", 1);
    put_u64(ks, "b", 1);
    settle(ks);
    expect_len(ks, 2);
    for (int i = 0; i < 40; i++) {
        add(ks, "a", 1);
        add(ks, "b", 2);
    }
    CHECK_OK(tind_flush(ks));
    expect_len(ks, 4);
    tind_snapshot *s;
    tind_read_options *ro = snap_ro(db, &s);
    for (int i = 0; i < 10; i++)
        add(ks, "a", 1);
    add(ks, "a", 1);
    CHECK_OK(tind_flush(ks));
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    /* unless a compaction ran (background), the newest table holds one
     * operand for "a" */
    if (!background)
        expect_len(ks, 5);
    CHECK_EQ(get_count(ks, ro, "a"), 41);
    CHECK_EQ(get_count(ks, NULL, "a"), 52);
    CHECK_EQ(get_count(ks, NULL, "b"), 81);
    tind_read_options_free(ro);
    tind_snapshot_free(s);
    settle(ks);
    expect_len(ks, 2);
    CHECK_EQ(get_count(ks, NULL, "a"), 52);
    close_mem(db, mem);
}

/* Readers of hot counters while a writer merges and flushes: every read
 * sees a count that never goes down, at most what was written. */
typedef struct hot_ctx {
    tind_keyspace *ks;
    _Atomic int done;
    _Atomic uint64_t written[4];
} hot_ctx;

static void *hot_reader(void *arg)
{
    hot_ctx *h = arg;
    uint64_t last[4] = {0};
    while (!atomic_load(&h->done)) {
        for (int k = 0; k < 4; k++) {
            char key[4] = {'h', (char)('0' + k), 0, 0};
            uint64_t floor = atomic_load(&h->written[k]);
            uint64_t x = get_count(h->ks, NULL, key);
            x = x == UINT64_MAX ? 0 : x;
            CHECK(x >= last[k]);
            CHECK(x >= floor);
            last[k] = x;
        }
    }
    return NULL;
}

TEST(merge_cache_concurrent_readers)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    hot_ctx h;
    memset(&h, 0, sizeof h);
    h.ks = counter_ks(db, "c");
    pthread_t r[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&r[i], NULL, hot_reader, &h) == 0);
    for (int i = 0; i < 600; i++) {
        int k = i % 7 < 4 ? 0 : i % 4;
        char key[4] = {'h', (char)('0' + k), 0, 0};
        add(h.ks, key, 1);
        atomic_fetch_add(&h.written[k], 1);
        if (i % 150 == 149)
            CHECK_OK(tind_flush(h.ks));
    }
    atomic_store(&h.done, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    uint64_t total = 0;
    for (int k = 0; k < 4; k++) {
        char key[4] = {'h', (char)('0' + k), 0, 0};
        CHECK_EQ(get_count(h.ks, NULL, key), atomic_load(&h.written[k]));
        total += atomic_load(&h.written[k]);
    }
    CHECK_EQ(total, 600);
    close_mem(db, mem);
}

TEST(reopen_without_and_with_operator)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    calls c = {0, 0};
    tind_keyspace *ks = cat_ks_ok(db, &c, 0);
    CHECK_OK(tind_put(ks, "a", 1, "A", 1));
    CHECK_OK(tind_merge(ks, "k", 1, "x", 1));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_merge(ks, "k", 1, "y", 1));
    CHECK_OK(tind_close(db));

    db = open_mem(mem);
    CHECK_OK(tind_keyspace_open(db, "s", NULL, &ks));
    void *v;
    size_t n;
    CHECK_RC(tind_get(ks, "k", 1, NULL, &v, &n), TIND_ENOTSUP);
    CHECK(strstr(tind_errmsg(db), "'cat'"));
    expect_str(ks, "a", "A");
    /* compaction without the operator keeps the operands */
    settle(ks);
    CHECK_RC(tind_get(ks, "k", 1, NULL, &v, &n), TIND_ENOTSUP);
    /* another operator's name is refused; the right one attaches */
    CHECK(!cat_ks(db, "s", "dog", &c, 0));
    CHECK(strstr(tind_errmsg(db), "has merge operator 'cat', opened with 'dog'"));
    CHECK(cat_ks(db, "s", "cat", &c, 0) == ks);
    expect_str(ks, "k", "_xy");
    settle(ks);
    expect_str(ks, "k", "_xy");
    close_mem(db, mem);
}

/* ------------------------------------------------------------------ single delete */

static tind_keyspace *sd_ks(tind_db *db)
{
    tind_ks_options *ko = small_opts();
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "sd", ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

TEST(single_delete)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = sd_ks(db);
    char key[16];
    /* put then single remove, in every placement: same memtable, across a
     * flush, across a compaction */
    for (int i = 0; i < 30; i++) {
        int kn = snprintf(key, sizeof key, "k%02d", i);
        CHECK_OK(tind_put(ks, key, (size_t)kn, "v", 1));
        if (i % 3 == 1)
            CHECK_OK(tind_flush(ks));
        if (i % 3 == 2)
            settle(ks);
        if (i % 2)
            CHECK_OK(tind_single_remove(ks, key, (size_t)kn));
    }
    tind_batch *b;
    CHECK_OK(tind_batch_new(db, &b));
    CHECK_OK(tind_batch_single_remove(b, ks, "k00", 3));
    CHECK_RC(tind_batch_single_remove(b, ks, "", 0), TIND_EINVAL);
    CHECK_OK(tind_batch_commit(b));
    tind_batch_free(b);
    for (int stage = 0; stage < 3; stage++) {
        for (int i = 0; i < 30; i++) {
            snprintf(key, sizeof key, "k%02d", i);
            expect_str(ks, key, i % 2 || i == 0 ? NULL : "v");
        }
        tind_iter *it;
        CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
        int count = 0;
        for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it))
            count++;
        CHECK_EQ(count, 14);
        tind_iter_free(it);
        if (stage == 0)
            CHECK_OK(tind_flush(ks));
        if (stage == 1)
            settle(ks);
    }
    /* everything cancelled has vanished: 14 values left, no deletions */
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK_EQ(st.approximate_keys, 14);
    CHECK_EQ(st.single_delete_violations, 0);
    close_mem(db, mem);
}

TEST(single_delete_with_snapshot)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = sd_ks(db);
    CHECK_OK(tind_put(ks, "k", 1, "v", 1));
    tind_snapshot *s;
    CHECK_OK(tind_snapshot_new(db, &s));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_snapshot(ro, s);
    CHECK_OK(tind_single_remove(ks, "k", 1));
    settle(ks);
    void *v;
    size_t n;
    CHECK_OK(tind_get(ks, "k", 1, ro, &v, &n));
    CHECK_MEM(v, n, "v", 1);
    free(v);
    expect_str(ks, "k", NULL);
    tind_read_options_free(ro);
    tind_snapshot_free(s);
    settle(ks);
    expect_str(ks, "k", NULL);
    expect_len(ks, 0);
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK_EQ(st.single_delete_violations, 0);
    close_mem(db, mem);
}

TEST(single_delete_contract_broken)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks;
    tind_ks_options *ko = small_opts();
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_APPEND, NULL, 0);
    CHECK_OK(tind_keyspace_open(db, "sd", ko, &ks));
    tind_ks_options_free(ko);
    /* two puts, then a single delete: reads say absent before and after
     * compaction (compaction cannot tell it from a put whose older
     * deletion it dropped: not counted, still safe) */
    CHECK_OK(tind_put(ks, "a", 1, "1", 1));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_put(ks, "a", 1, "2", 1));
    CHECK_OK(tind_single_remove(ks, "a", 1));
    /* two single deletes over one put (counted) */
    CHECK_OK(tind_put(ks, "b", 1, "1", 1));
    CHECK_OK(tind_single_remove(ks, "b", 1));
    CHECK_OK(tind_single_remove(ks, "b", 1));
    /* a single delete over a remove and over a merge (counted) */
    CHECK_OK(tind_put(ks, "c", 1, "1", 1));
    CHECK_OK(tind_remove(ks, "c", 1));
    CHECK_OK(tind_single_remove(ks, "c", 1));
    CHECK_OK(tind_put(ks, "d", 1, "1", 1));
    CHECK_OK(tind_merge(ks, "d", 1, "2", 1));
    CHECK_OK(tind_single_remove(ks, "d", 1));
    const char *keys[] = {"a", "b", "c", "d"};
    for (int stage = 0; stage < 3; stage++) {
        for (int i = 0; i < 4; i++)
            expect_str(ks, keys[i], NULL);
        if (stage == 0)
            CHECK_OK(tind_flush(ks));
        if (stage == 1)
            settle(ks);
    }
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK(st.single_delete_violations >= 3);
    expect_len(ks, 0);
    close_mem(db, mem);
}

TEST(single_delete_never_resurrects)
{
    /* put, remove, put, single delete -- with a snapshot that made the
     * remove shadowed by the newer put and dropped, and the oldest put
     * sitting in a table below: the old put must stay hidden */
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = sd_ks(db);
    CHECK_OK(tind_put(ks, "k", 1, "old", 3));
    settle(ks);
    tind_snapshot *s1;
    CHECK_OK(tind_snapshot_new(db, &s1));
    CHECK_OK(tind_remove(ks, "k", 1));
    CHECK_OK(tind_put(ks, "k", 1, "new", 3));
    tind_snapshot *s2;
    CHECK_OK(tind_snapshot_new(db, &s2));
    CHECK_OK(tind_single_remove(ks, "k", 1));
    CHECK_OK(tind_flush(ks));
    settle(ks);
    expect_str(ks, "k", NULL);
    tind_snapshot_free(s1);
    tind_snapshot_free(s2);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(tind_put(ks, "other", 5, "x", 1));
        CHECK_OK(tind_flush(ks));
        expect_str(ks, "k", NULL);
    }
    settle(ks);
    expect_str(ks, "k", NULL);
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK_EQ(st.single_delete_violations, 0);
    close_mem(db, mem);
}

TEST(api_errors)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = counter_ks(db, "c");
    CHECK_RC(tind_merge(NULL, "k", 1, "x", 1), TIND_EINVAL);
    CHECK_RC(tind_merge(ks, NULL, 1, "x", 1), TIND_EINVAL);
    CHECK_RC(tind_merge(ks, "k", 1, NULL, 1), TIND_EINVAL);
    CHECK_RC(tind_single_remove(NULL, "k", 1), TIND_EINVAL);
    CHECK_RC(tind_single_remove(ks, "k", 0), TIND_EINVAL);
    CHECK_RC(tind_batch_merge(NULL, ks, "k", 1, "x", 1), TIND_EINVAL);
    CHECK_RC(tind_batch_single_remove(NULL, ks, "k", 1), TIND_EINVAL);
    /* a counter operand of the wrong size: the read fails clearly */
    CHECK_OK(tind_merge(ks, "bad", 3, "xyz", 3));
    void *v;
    size_t n;
    CHECK_RC(tind_get(ks, "bad", 3, NULL, &v, &n), TIND_ECORRUPT);
    CHECK(strstr(tind_errmsg(db), "tind.counter"));
    tind_ks_options_set_merge_operator(NULL, "x", NULL, NULL, NULL);
    tind_ks_options_set_merge_builtin(NULL, TIND_MERGE_COUNTER, NULL, 0);
    tind_ks_options_set_compaction_filter(NULL, NULL, NULL);
    tind_ks_options_set_value_ttl(NULL, 1);
    tind_ks_options_set_periodic_compaction(NULL, 1);
    close_mem(db, mem);
}

int main(void)
{
    check_seed_init(13);
    for (background = 0; background < 2; background++) {
        fprintf(stderr, "background threads %s\n", background ? "on" : "off");
        RUN(counter_every_read_path);
        RUN(append_with_separator_and_batches);
        RUN(snapshots_across_compaction);
        RUN(user_operator_partial_and_full);
        RUN(partial_merge_between_snapshots);
        RUN(failing_callback);
        RUN(merge_cache_snapshots_and_range_tombstones);
        RUN(merge_cache_operands_across_seal_flush_compaction);
        RUN(merge_cache_value_at_cached_seqno);
        RUN(merge_cache_transaction);
        RUN(merge_cache_failing_operator);
        RUN(flush_folds_operands);
        RUN(merge_cache_concurrent_readers);
        RUN(reopen_without_and_with_operator);
        RUN(single_delete);
        RUN(single_delete_with_snapshot);
        RUN(single_delete_contract_broken);
        RUN(single_delete_never_resurrects);
        RUN(api_errors);
    }
    return 0;
}
