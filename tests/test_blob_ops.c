/*
 * test_blob_ops.c -- what compaction does with separated values (issue 11)
 * under the features that need a value: compaction filters, the TTL filter
 * and merge operands. Each runs with background threads off (stepped) and
 * on. TSAN-LABEL: the background runs also run under ThreadSanitizer.
 *
 *   filter_*         a user filter sees separated values whole (never the
 *                    pointer; the values reach the last level, separated,
 *                    while a snapshot keeps the filters off them): the keys it removes read as removed, those it
 *                    replaces read the new value (large: separated again;
 *                    small: inline), the rest keep theirs; the blobs of the
 *                    removed and replaced values count as garbage, and GC
 *                    brings the blob bytes down to the live records
 *   ttl_*            the TTL filter removes expired separated values and
 *                    keeps the others; their space comes back
 *   merge_*          operands over a separated base (append and counter)
 *                    are merged by compaction into one value: the key holds
 *                    one entry afterwards, the old base's blob is garbage,
 *                    reads give the merged value before and after reopen;
 *                    a snapshot taken before the operands keeps reading the
 *                    base
 *   random_*         random puts (most separated), removes, append operands
 *                    and snapshots with flushes and compactions between:
 *                    every read, now and through the snapshot, matches a
 *                    plain model; after a reopen too
 *   fifo_*           a FIFO keyspace of separated values stays under its
 *                    size limit counting the blob files (it counted the
 *                    tables only: the blob files grew without bound)
 */
#include <string.h>
#include <unistd.h>

#include "blob/blob.h"
#include "check.h"
#include "io/fs.h"
#include "tind_internal.h"

#define N 200
#define BIG 8192

static tind_db *open_db(fs *f, int background) { return check_open_mem(f, background); }

static void key_of(char *k, int i) { snprintf(k, 32, "key%05d", i); }

/* Value of key i: BIG bytes starting with tag, then bytes of i. */
static void big_value(uint8_t *v, int i, uint8_t tag)
{
    v[0] = tag;
    for (size_t j = 1; j < BIG; j++)
        v[j] = (uint8_t)(i * 7 + j * 31 + (j >> 9));
}

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Separation at 4 KiB, raw blobs (record sizes count exactly), small
 * memtables and blob files. */
static tind_ks_options *blob_options(void)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 512 << 10);
    tind_ks_options_set_blob_separation(ko, 1, 4096);
    tind_ks_options_set_blob_file_size(ko, 256 << 10);
    tind_ks_options_set_blob_compression(ko, TIND_COMPRESSION_NONE, 0);
    return ko;
}

static tind_ks_stats stats(tind_keyspace *ks)
{
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    return st;
}

static void check_get(tind_keyspace *ks, const char *k, const void *want, size_t wn)
{
    void *v = NULL;
    size_t vn = 0;
    int rc = tind_get(ks, k, strlen(k), NULL, &v, &vn);
    if (!want) {
        CHECK_RC(rc, TIND_NOT_FOUND);
        return;
    }
    CHECK_OK(rc);
    CHECK_MEM(v, vn, want, wn);
    tind_free(v);
}

/* Blob bytes - garbage = the live records and each file's container (under
 * 1 KiB), and GC (tind_compact) leaves at most ratio garbage. */
static void check_live(const tind_ks_stats *st, uint64_t live_records)
{
    uint64_t live = st->blob_bytes - st->blob_garbage_bytes;
    if (live < live_records || live > live_records + st->blob_files * 1024)
        check_fail(__FILE__, __LINE__, "blob bytes %llu - garbage %llu in %llu files: want records of %llu",
                   (unsigned long long)st->blob_bytes, (unsigned long long)st->blob_garbage_bytes,
                   (unsigned long long)st->blob_files, (unsigned long long)live_records);
}

static void check_blob_space(tind_keyspace *ks, uint64_t live_records)
{
    tind_ks_stats st = stats(ks);
    check_live(&st, live_records);
    CHECK((double)st.blob_garbage_bytes < 0.25 * (double)st.blob_bytes + 1);
}

/* ------------------------------------------------------------------ filters */

struct seen {
    _Atomic int calls;
    _Atomic int pointer_bytes; /* calls that saw something else than a whole value */
};

/* tag 'R': remove; 'S': replace by a small value; 'L': replace by a large
 * one ('l' then the rest); anything else: keep. */
static int user_filter(void *ctx, int level, const void *key, size_t klen, const void *val, size_t vlen,
                       uint64_t seqno, void **new_val, size_t *new_vlen)
{
    struct seen *s = ctx;
    (void)level, (void)key, (void)klen, (void)seqno;
    atomic_fetch_add(&s->calls, 1);
    const uint8_t *v = val;
    if (vlen != BIG && !(vlen == 5 && !memcmp(v, "small", 5))) /* a replaced value seen again */
        atomic_fetch_add(&s->pointer_bytes, 1);
    if (vlen && v[0] == 'R')
        return TIND_FILTER_REMOVE;
    if (vlen && v[0] == 'S') {
        *new_val = malloc(5);
        memcpy(*new_val, "small", 5);
        *new_vlen = 5;
        return TIND_FILTER_REPLACE;
    }
    if (vlen && v[0] == 'L') {
        uint8_t *nv = malloc(vlen);
        memcpy(nv, v, vlen);
        nv[0] = 'l';
        *new_val = nv;
        *new_vlen = vlen;
        return TIND_FILTER_REPLACE;
    }
    return TIND_FILTER_KEEP;
}

/* Background work is paused while the values are written (unfiltered_begin);
 * then a snapshot sees them all while they are flushed and compacted: the
 * filters pass them by, and they reach the last level separated (a flush's
 * filter run would otherwise see them inline). */
static void unfiltered_begin(tind_db *db) { CHECK_OK(tind_internal_pause_background(db, 1)); }

static void separate_unfiltered(tind_db *db, tind_keyspace *ks)
{
    tind_snapshot *snap = NULL;
    CHECK_OK(tind_snapshot_new(db, &snap));
    CHECK_OK(tind_internal_pause_background(db, 0));
    CHECK_OK(tind_compact(ks));
    tind_snapshot_free(snap);
    tind_ks_stats st = stats(ks);
    CHECK(st.blob_bytes >= (uint64_t)N * BIG);
}

static const uint8_t TAGS[4] = {'R', 'S', 'L', 'K'};

static void filter_run(int background)
{
    fs *f = fs_mem_new();
    tind_db *db = open_db(f, background);
    struct seen seen = {0, 0};
    tind_ks_options *ko = blob_options();
    tind_ks_options_set_compaction_filter(ko, user_filter, &seen);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "f", ko, &ks));
    static uint8_t v[BIG];
    char k[32];
    unfiltered_begin(db);
    for (int i = 0; i < N; i++) {
        key_of(k, i);
        big_value(v, i, TAGS[i % 4]);
        CHECK_OK(tind_put(ks, k, strlen(k), v, BIG));
    }
    separate_unfiltered(db, ks);
    CHECK_EQ(atomic_load(&seen.calls), 0);
    CHECK_OK(tind_compact(ks));
    CHECK(atomic_load(&seen.calls) >= N);
    CHECK_EQ(atomic_load(&seen.pointer_bytes), 0);
    for (int i = 0; i < N; i++) {
        key_of(k, i);
        big_value(v, i, TAGS[i % 4]);
        if (TAGS[i % 4] == 'R')
            check_get(ks, k, NULL, 0);
        else if (TAGS[i % 4] == 'S')
            check_get(ks, k, "small", 5);
        else if (TAGS[i % 4] == 'L') {
            v[0] = 'l';
            check_get(ks, k, v, BIG);
        } else
            check_get(ks, k, v, BIG);
    }
    /* 'L' and 'K' values are separated; the removed and replaced ones are
     * garbage, which the GC tind_compact waits for has collected */
    check_blob_space(ks, (uint64_t)(N / 2) * (BIG + BLOB_RECORD_OVERHEAD));
    CHECK_OK(tind_close(db));
    db = open_db(f, 0);
    CHECK_OK(tind_keyspace_open(db, "f", ko, &ks));
    tind_ks_options_free(ko);
    check_blob_space(ks, (uint64_t)(N / 2) * (BIG + BLOB_RECORD_OVERHEAD));
    key_of(k, 2);
    big_value(v, 2, 'l');
    check_get(ks, k, v, BIG);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

TEST(filter_stepped) { filter_run(0); }
TEST(filter_background) { filter_run(1); }

/* ------------------------------------------------------------------ TTL */

static void put_u64_be(uint8_t *p, uint64_t x)
{
    for (int i = 7; i >= 0; i--, x >>= 8)
        p[i] = (uint8_t)x;
}

static void ttl_run(int background)
{
    fs *f = fs_mem_new();
    tind_db *db = open_db(f, background);
    tind_ks_options *ko = blob_options();
    tind_ks_options_set_value_ttl(ko, 1);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "t", ko, &ks));
    tind_ks_options_free(ko);
    static uint8_t v[BIG];
    char k[32];
    uint64_t now = (uint64_t)time(NULL);
    /* i % 3: 0 expired, 1 never expires, 2 expires in a day */
    unfiltered_begin(db);
    for (int i = 0; i < N; i++) {
        key_of(k, i);
        big_value(v, i, 0);
        put_u64_be(v, i % 3 == 0 ? now - 10 : i % 3 == 1 ? 0 : now + 86400);
        CHECK_OK(tind_put(ks, k, strlen(k), v, BIG));
    }
    separate_unfiltered(db, ks);
    CHECK_OK(tind_compact(ks));
    int kept = 0;
    for (int i = 0; i < N; i++) {
        key_of(k, i);
        big_value(v, i, 0);
        put_u64_be(v, i % 3 == 0 ? now - 10 : i % 3 == 1 ? 0 : now + 86400);
        check_get(ks, k, i % 3 == 0 ? NULL : v, BIG);
        kept += i % 3 != 0;
    }
    /* the expired values' blobs are garbage, collected */
    check_blob_space(ks, (uint64_t)kept * (BIG + BLOB_RECORD_OVERHEAD));
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

TEST(ttl_stepped) { ttl_run(0); }
TEST(ttl_background) { ttl_run(1); }

/* ------------------------------------------------------------------ merges */

static uint64_t entries(tind_keyspace *ks)
{
    uint64_t n;
    CHECK_OK(tind_approximate_len(ks, &n));
    return n;
}

static void append_run(int background)
{
    fs *f = fs_mem_new();
    tind_db *db = open_db(f, background);
    tind_ks_options *ko = blob_options();
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_APPEND, "+", 1);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "m", ko, &ks));
    static uint8_t v[BIG + 64];
    char k[32];
    for (int i = 0; i < N; i++) {
        key_of(k, i);
        big_value(v, i, 'b');
        CHECK_OK(tind_put(ks, k, strlen(k), v, BIG));
    }
    CHECK_OK(tind_compact(ks)); /* the bases in the last level, separated */
    tind_snapshot *snap = NULL;
    CHECK_OK(tind_snapshot_new(db, &snap));
    for (int i = 0; i < N; i++) {
        key_of(k, i);
        CHECK_OK(tind_merge(ks, k, strlen(k), "x", 1));
        CHECK_OK(tind_merge(ks, k, strlen(k), "yz", 2));
    }
    CHECK_OK(tind_flush(ks));
    CHECK(entries(ks) >= 2 * N); /* operands apart from their base (perhaps partially merged) */
    /* the snapshot sees the bases: the operands stay apart while it lives */
    CHECK_OK(tind_compact(ks));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_snapshot(ro, snap);
    key_of(k, 5);
    void *got = NULL;
    size_t gn = 0;
    CHECK_OK(tind_get(ks, k, strlen(k), ro, &got, &gn));
    big_value(v, 5, 'b');
    CHECK_MEM(got, gn, v, BIG);
    tind_free(got);
    tind_read_options_free(ro);
    tind_snapshot_free(snap);
    uint64_t garbage_before = stats(ks).blob_garbage_bytes;
    CHECK_OK(tind_compact(ks));
    CHECK_EQ(entries(ks), N); /* collapsed: one entry per key */
    for (int i = 0; i < N; i++) {
        key_of(k, i);
        big_value(v, i, 'b');
        memcpy(v + BIG, "+x+yz", 5);
        check_get(ks, k, v, BIG + 5);
    }
    tind_ks_stats st = stats(ks);
    /* the merged values are separated (new blobs); the bases are garbage,
     * collected by the GC tind_compact waits for */
    check_live(&st, (uint64_t)N * (BIG + 5 + BLOB_RECORD_OVERHEAD));
    CHECK(st.blob_garbage_bytes <= garbage_before + (uint64_t)N * (BIG + BLOB_RECORD_OVERHEAD));
    CHECK_OK(tind_close(db));
    db = open_db(f, 0);
    CHECK_OK(tind_keyspace_open(db, "m", ko, &ks));
    tind_ks_options_free(ko);
    key_of(k, 7);
    big_value(v, 7, 'b');
    memcpy(v + BIG, "+x+yz", 5);
    check_get(ks, k, v, BIG + 5);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

TEST(merge_append_stepped) { append_run(0); }
TEST(merge_append_background) { append_run(1); }

/* The counter's 8-byte values, separated with a threshold of 8: the merged
 * value is separated again. */
TEST(merge_counter)
{
    fs *f = fs_mem_new();
    tind_db *db = open_db(f, 0);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_blob_separation(ko, 1, 8);
    tind_ks_options_set_blob_compression(ko, TIND_COMPRESSION_NONE, 0);
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_COUNTER, NULL, 0);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "c", ko, &ks));
    tind_ks_options_free(ko);
    char k[32];
    uint8_t one[8] = {0, 0, 0, 0, 0, 0, 0, 1}, base[8] = {0, 0, 0, 0, 0, 0, 0, 100};
    uint8_t le_one[8], le_base[8];
    for (int b = 0; b < 8; b++) {
        le_one[b] = one[7 - b];
        le_base[b] = base[7 - b];
    }
    for (int i = 0; i < N; i++) {
        key_of(k, i);
        CHECK_OK(tind_put(ks, k, strlen(k), le_base, 8));
    }
    CHECK_OK(tind_compact(ks));
    CHECK_EQ(stats(ks).blob_garbage_bytes, 0);
    CHECK(stats(ks).blob_bytes >= (uint64_t)N * (8 + BLOB_RECORD_OVERHEAD));
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < N; i++) {
            key_of(k, i);
            CHECK_OK(tind_merge(ks, k, strlen(k), le_one, 8));
        }
    CHECK_OK(tind_compact(ks));
    CHECK_EQ(entries(ks), N);
    tind_ks_stats st = stats(ks);
    check_live(&st, (uint64_t)N * (8 + BLOB_RECORD_OVERHEAD));
    for (int i = 0; i < N; i++) {
        key_of(k, i);
        void *v;
        size_t vn;
        CHECK_OK(tind_get(ks, k, strlen(k), NULL, &v, &vn));
        CHECK_EQ(vn, 8);
        uint64_t x = 0;
        for (int b = 7; b >= 0; b--)
            x = x << 8 | ((uint8_t *)v)[b];
        CHECK_EQ(x, 103);
        tind_free(v);
    }
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

/* ------------------------------------------------------------------ random */

#define RKEYS 48
#define RMAX 12000

typedef struct rstate {
    uint8_t *val[RKEYS];          /* NULL = absent */
    size_t len[RKEYS];
} rstate;

static void rstate_set(rstate *m, int k, const uint8_t *v, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    CHECK(p);
    memcpy(p, v, n);
    free(m->val[k]);
    m->val[k] = p;
    m->len[k] = n;
}

static void rstate_copy(rstate *dst, const rstate *src)
{
    for (int k = 0; k < RKEYS; k++) {
        free(dst->val[k]);
        dst->val[k] = NULL;
        if (src->val[k])
            rstate_set(dst, k, src->val[k], src->len[k]);
    }
}

static void rstate_free(rstate *m)
{
    for (int k = 0; k < RKEYS; k++)
        free(m->val[k]);
    memset(m, 0, sizeof *m);
}

static void rcheck(tind_keyspace *ks, const rstate *m, const tind_read_options *ro)
{
    char k[32];
    for (int i = 0; i < RKEYS; i++) {
        key_of(k, i);
        void *v = NULL;
        size_t vn = 0;
        int rc = tind_get(ks, k, strlen(k), ro, &v, &vn);
        if (!m->val[i]) {
            CHECK_RC(rc, TIND_NOT_FOUND);
            continue;
        }
        CHECK_OK(rc);
        CHECK_MEM(v, vn, m->val[i], m->len[i]);
        tind_free(v);
    }
}

/* Random puts (values of 1 byte to 12 KB, a threshold of 1 KiB: about
 * nine in ten separated), removes and append operands over 48 keys, with
 * a snapshot now and then, flushes and compactions in between: every read,
 * now and through the snapshot, matches a plain model, whatever compaction
 * did with operands over separated bases. */
static void random_run(int background)
{
    fs *f = fs_mem_new();
    tind_db *db = open_db(f, background);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 128 << 10);
    tind_ks_options_set_table_size(ko, 32 << 10);
    tind_ks_options_set_blob_separation(ko, 1, 1024);
    tind_ks_options_set_blob_file_size(ko, 64 << 10);
    tind_ks_options_set_blob_gc(ko, 0.25, 0.25);
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_APPEND, ",", 1);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "r", ko, &ks));
    tind_ks_options_free(ko);
    rstate m, snapm;
    memset(&m, 0, sizeof m);
    memset(&snapm, 0, sizeof snapm);
    tind_snapshot *snap = NULL;
    tind_read_options *ro = tind_read_options_new();
    static uint8_t v[RMAX + 64];
    uint64_t x = check_seed * 2654435761u + (uint64_t)background + 1;
    char k[32];
    const int ops = 3000;
    for (int op = 0; op < ops; op++) {
        int i = (int)(rng_next(&x) % RKEYS), what = (int)(rng_next(&x) % 100);
        key_of(k, i);
        if (what < 40) {
            size_t n = 1 + (size_t)(rng_next(&x) % RMAX);
            for (size_t j = 0; j < n; j++)
                v[j] = (uint8_t)(op + j * 7);
            CHECK_OK(tind_put(ks, k, strlen(k), v, n));
            rstate_set(&m, i, v, n);
        } else if (what < 50) {
            CHECK_OK(tind_remove(ks, k, strlen(k)));
            free(m.val[i]);
            m.val[i] = NULL;
        } else if (what < 90) {
            int on = snprintf((char *)v, 16, "o%d", op);
            CHECK_OK(tind_merge(ks, k, strlen(k), v, (size_t)on));
            if (!m.val[i]) {
                rstate_set(&m, i, v, (size_t)on);
            } else {
                size_t n = m.len[i];
                uint8_t *p = malloc(n + 1 + (size_t)on);
                CHECK(p);
                memcpy(p, m.val[i], n);
                p[n] = ',';
                memcpy(p + n + 1, v, (size_t)on);
                free(m.val[i]);
                m.val[i] = p;
                m.len[i] = n + 1 + (size_t)on;
            }
        } else if (what < 93) {
            if (snap) {
                rcheck(ks, &snapm, ro);
                tind_snapshot_free(snap);
                snap = NULL;
            } else {
                CHECK_OK(tind_snapshot_new(db, &snap));
                tind_read_options_set_snapshot(ro, snap);
                rstate_copy(&snapm, &m);
            }
        } else if (what < 96) {
            CHECK_OK(tind_flush(ks));
        } else if (what < 98) {
            CHECK_OK(tind_compact(ks));
            rcheck(ks, &m, NULL);
        } else if (!background) {
            while (tind_internal_background_step(db) > 0)
                ;
        }
        if (op % 250 == 249) {
            rcheck(ks, &m, NULL);
            if (snap)
                rcheck(ks, &snapm, ro);
        }
    }
    if (snap)
        tind_snapshot_free(snap);
    CHECK_OK(tind_compact(ks));
    rcheck(ks, &m, NULL);
    CHECK_OK(tind_close(db));
    db = open_db(f, 0);
    CHECK_OK(tind_keyspace_open(db, "r", NULL, &ks));
    rcheck(ks, &m, NULL);
    CHECK_OK(tind_close(db));
    tind_read_options_free(ro);
    rstate_free(&m);
    rstate_free(&snapm);
    fs_destroy(f);
}

TEST(random_stepped) { random_run(0); }
TEST(random_background) { random_run(1); }

/* ------------------------------------------------------------------ FIFO */

/* A FIFO keyspace of separated values: its size limit counts the blob files
 * (it counted the pointer tables only, so the blob files grew without
 * bound); dropped tables' pointers are counted as garbage, and their blob
 * files go with them. */
static void fifo_run(int background)
{
    fs *f = fs_mem_new();
    tind_db *db = open_db(f, background);
    tind_ks_options *ko = tind_ks_options_new();
    const uint64_t max_bytes = 1 << 20;
    tind_ks_options_set_compaction(ko, TIND_COMPACTION_FIFO);
    tind_ks_options_set_fifo(ko, max_bytes, 0);
    tind_ks_options_set_memtable_size(ko, 128 << 10);
    tind_ks_options_set_blob_separation(ko, 1, 4096);
    tind_ks_options_set_blob_compression(ko, TIND_COMPRESSION_NONE, 0);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "q", ko, &ks));
    tind_ks_options_free(ko);
    static uint8_t v[BIG];
    char k[32];
    const int n = 1000; /* 8 MB of values */
    uint64_t peak = 0;
    for (int i = 0; i < n; i++) {
        key_of(k, i);
        big_value(v, i, 'q');
        CHECK_OK(tind_put(ks, k, strlen(k), v, BIG));
        if (i % 16 == 15) {
            if (!background)
                while (tind_internal_background_step(db) > 0)
                    ;
            tind_ks_stats st = stats(ks);
            peak = st.disk_bytes > peak ? st.disk_bytes : peak;
        }
    }
    CHECK_OK(tind_compact(ks));
    tind_ks_stats st = stats(ks);
    fprintf(stderr, "    disk bytes %llu (peak %llu, limit %llu), blob files %llu\n", (unsigned long long)st.disk_bytes,
            (unsigned long long)peak, (unsigned long long)max_bytes, (unsigned long long)st.blob_files);
    CHECK(st.disk_bytes <= max_bytes);
    /* stepped: at most one memtable's flush over; with threads the writer
     * may run ahead of the drops by the level-0 stall (20 flushes) */
    CHECK(peak <= max_bytes + (background ? 21u : 2u) * (128u << 10) + 65536);
    CHECK_EQ(st.blob_garbage_bytes, 0); /* each flush's blob files went with its table */
    /* a dropped file goes when the last view of its version lets go: a
     * background job may still hold one for a moment after tind_compact */
    CHECK_OK(tind_wait_idle(db, 30000));
    for (int tries = 0; tries < 200 && check_count_blob_files(f) != st.blob_files; tries++)
        usleep(10 * 1000);
    CHECK_EQ(check_count_blob_files(f), st.blob_files);
    key_of(k, 0);
    check_get(ks, k, NULL, 0);
    key_of(k, n - 1);
    big_value(v, n - 1, 'q');
    check_get(ks, k, v, BIG);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

TEST(fifo_stepped) { fifo_run(0); }
TEST(fifo_background) { fifo_run(1); }

int main(void)
{
    check_seed_init(11);
    RUN(filter_stepped);
    RUN(filter_background);
    RUN(ttl_stepped);
    RUN(ttl_background);
    RUN(merge_append_stepped);
    RUN(merge_append_background);
    RUN(merge_counter);
    RUN(random_stepped);
    RUN(random_background);
    RUN(fifo_stepped);
    RUN(fifo_background);
    fprintf(stderr, "test_blob_ops: ok\n");
    return 0;
}
