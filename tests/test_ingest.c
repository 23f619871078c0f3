/*
 * test_ingest.c -- bulk ingestion (src/db/ingest.c).
 *
 *   sorted_fresh      sorted keys into an empty keyspace: the last level,
 *                     every read path, reopen
 *   shadows_older     values already in memtables, L0 and deeper levels (and
 *                     tombstones) are replaced by the ingested ones, other
 *                     keys untouched; through compaction and reopen; with
 *                     background work off and on
 *   snapshots         a snapshot or cursor from before the call does not see
 *                     the data; a snapshot taken during the call makes it fail
 *                     with TIND_EBUSY, ingesting nothing
 *   unsorted_spill    random keys with duplicates, sorted in small spilled
 *                     runs: the last value of each key wins, the spill files
 *                     are gone afterwards
 *   bad_input         unsorted input promised sorted, an empty key, a failing
 *                     callback: the error, nothing ingested
 *   pipeline          sorted input over several of the pipeline's chunks
 *                     (background work on: tables written on the call's
 *                     own thread): every pair; a failing callback, a key out
 *                     of order or a failed write late in the input ingests
 *                     nothing
 *   crash_atomic      a write or sync failed at each step, then power lost:
 *                     the reopened database holds all the pairs or none, and
 *                     everything synced before; power lost right after the
 *                     call returns: all of them
 *   tiered            a tiered keyspace takes the tables in level 0
 *   writes_during     a put into the range during the call wins over the
 *                     ingested value (in a memtable, in L0); once compaction
 *                     took it below, the call fails with TIND_EBUSY
 *   concurrent        writers (other keys) and readers run through repeated
 *                     ingestions with background work on: each reader's
 *                     snapshot sees an ingestion whole or not at all
 *
 * TSAN-LABEL: concurrent runs threads beside ingestions.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "db/db.h"
#include "db/ingest.h"
#include "io/fs.h"
#include "tind_internal.h"
#include "util/rand.h"

static tind_db *the_db;   /* the last opened: for messages */

static tind_db *open_at(fs *fsys, int background)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, fsys);
    tind_options_set_no_background(o, !background);
    tind_options_set_journal_file_size(o, 32768);
    tind_db *db = NULL;
    int rc = tind_open("/db", o, &db);
    the_db = db;
    if (rc)
        fprintf(stderr, "open: %s\n", tind_errmsg(NULL));
    CHECK_OK(rc);
    tind_options_free(o);
    return db;
}

static tind_keyspace *small_ks(tind_db *db, const char *name, int strategy)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 16384);
    tind_ks_options_set_table_size(ko, 16384);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_block_size(ko, 1024);
    tind_ks_options_set_compaction(ko, strategy);
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, name, ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

/* ---- inputs ---- */

#define PAD_LEN 700

typedef struct gen {
    long i, n, step;
    long *order;                  /* unsorted: the key indexes in input order */
    int tag;                      /* part of every value */
    char key[32], val[64];
    long fail_at;                 /* return fail_rc at this entry (0 = never) */
    int fail_rc;
    long unsorted_at;             /* sorted input that goes back here (0 = never) */
    tind_db *snap_db;             /* take a snapshot half way */
    tind_snapshot *snap;
    tind_keyspace *put_ks;        /* at entry put_at: put put_key, then flush (put_then >= 1) */
    long put_at, put_key;         /* and compact (put_then >= 2) */
    int put_then;
    int pad;                      /* values padded to PAD_LEN bytes (pad_val) */
    char big[PAD_LEN + 1];
} gen;

static int val_of(char *v, long k, int tag) { return snprintf(v, 64, "ingested-%d-%ld", tag, k); }

/* val_of padded with dots to PAD_LEN bytes; v holds PAD_LEN + 1. */
static int pad_val(char *v, long k, int tag)
{
    int n = val_of(v, k, tag);
    memset(v + n, '.', PAD_LEN - (size_t)n);
    v[PAD_LEN] = 0;
    return PAD_LEN;
}
static int key_of(char *key, long k) { return snprintf(key, 32, "key%07ld", k); }

static int gen_next(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    gen *g = ctx;
    if (g->i >= g->n)
        return 0;
    if (g->fail_at && g->i == g->fail_at)
        return g->fail_rc;
    if (g->snap_db && g->i == g->n / 2)
        CHECK_OK(tind_snapshot_new(g->snap_db, &g->snap));
    if (g->put_ks && g->i == g->put_at) {
        char pk[32];
        int pn = key_of(pk, g->put_key);
        CHECK_OK(tind_put(g->put_ks, pk, (size_t)pn, "concurrent", 10));
        if (g->put_then >= 1)
            CHECK_OK(tind_flush(g->put_ks));
        if (g->put_then >= 2)
            CHECK_OK(tind_compact(g->put_ks));
    }
    long k = g->order ? g->order[g->i] : g->i * g->step;
    if (g->unsorted_at && g->i == g->unsorted_at)
        k = 0;
    *klen = (size_t)key_of(g->key, k);
    *vlen = (size_t)val_of(g->val, k, g->tag < 0 ? (int)g->i : g->tag); /* tag < 0: the input position */
    *key = g->key;
    *val = g->val;
    if (g->pad) {
        *vlen = (size_t)pad_val(g->big, k, g->tag);
        *val = g->big;
    }
    g->i++;
    return 1;
}

static int ingest(tind_keyspace *ks, gen *g, int flags, size_t mem, uint64_t *count)
{
    int rc = tind_ingest(ks, gen_next, g, flags, mem, NULL, NULL, count);
    if (rc && rc != TIND_EBUSY && rc != TIND_EINVAL)
        fprintf(stderr, "ingest: %d\n", rc);
    if (rc && the_db)
        fprintf(stderr, "ingest: %s\n", tind_errmsg(the_db));
    return rc;
}

static void expect_val(tind_keyspace *ks, const tind_read_options *ro, long k, const char *want)
{
    char key[32];
    int kn = key_of(key, k);
    void *v = NULL;
    size_t vn = 0;
    int rc = tind_get(ks, key, (size_t)kn, ro, &v, &vn);
    if (want) {
        if (rc)
            fprintf(stderr, "key %ld: %s\n", k, tind_strerror(rc));
        CHECK_OK(rc);
        CHECK_MEM(v, vn, want, strlen(want));
    } else {
        CHECK_RC(rc, TIND_NOT_FOUND);
    }
    tind_free(v);
}

static uint64_t scan_count(tind_keyspace *ks, const tind_read_options *ro)
{
    tind_iter *it = NULL;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
    uint64_t n = 0;
    for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it))
        n++;
    CHECK_OK(tind_iter_status(it));
    tind_iter_free(it);
    return n;
}

static void put_val(tind_keyspace *ks, long k, const char *v)
{
    char key[32];
    int kn = key_of(key, k);
    CHECK_OK(tind_put(ks, key, (size_t)kn, v, strlen(v)));
}

/* ---- tests ---- */

TEST(sorted_fresh)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_at(mem, 0);
    tind_keyspace *ks = small_ks(db, "a", TIND_COMPACTION_LEVELED);
    gen g = {0};
    g.n = 5000;
    g.step = 1;
    g.tag = 1;
    uint64_t count = 0;
    CHECK_OK(ingest(ks, &g, TIND_INGEST_SORTED, 0, &count));
    CHECK_EQ(count, 5000);
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK(st.tables[st.levels - 1] > 1); /* cut at the table size, in the last level */
    for (uint32_t l = 0; l + 1 < st.levels; l++)
        CHECK_EQ(st.tables[l], 0);
    char v[64];
    for (long k = 0; k < 5000; k += 7) {
        val_of(v, k, 1);
        expect_val(ks, NULL, k, v);
    }
    expect_val(ks, NULL, 5000, NULL);
    CHECK_EQ(scan_count(ks, NULL), 5000);
    /* an empty input ingests nothing */
    gen e = {0};
    CHECK_OK(ingest(ks, &e, TIND_INGEST_SORTED, 0, &count));
    CHECK_EQ(count, 0);
    CHECK_OK(tind_close(db));
    db = open_at(mem, 0);
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &ks));
    CHECK_EQ(scan_count(ks, NULL), 5000);
    val_of(v, 4999, 1);
    expect_val(ks, NULL, 4999, v);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

static void shadows_older_with(int background)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_at(mem, background);
    tind_keyspace *ks = small_ks(db, "a", TIND_COMPACTION_LEVELED);
    /* old values at every depth: compacted tables, L0, the memtable */
    for (long k = 0; k < 3000; k++)
        put_val(ks, k, "old-deep");
    CHECK_OK(tind_compact(ks));
    for (long k = 0; k < 3000; k += 3)
        put_val(ks, k, "old-l0");
    CHECK_OK(tind_flush(ks));
    for (long k = 0; k < 3000; k += 5)
        put_val(ks, k, "old-mem");
    for (long k = 1; k < 3000; k += 11) {
        char key[32];
        int kn = key_of(key, k);
        CHECK_OK(tind_remove(ks, key, (size_t)kn));
    }
    /* ingest every other key of [1000, 2000) */
    gen g = {0};
    g.i = 0;
    g.n = 500;
    g.step = 2;
    long *order = malloc(500 * sizeof *order);
    for (long i = 0; i < 500; i++)
        order[i] = 1000 + 2 * i;
    g.order = order;
    g.tag = 7;
    uint64_t count = 0;
    CHECK_OK(ingest(ks, &g, TIND_INGEST_SORTED, 0, &count));
    CHECK_EQ(count, 500);
    for (int pass = 0; pass < 3; pass++) {
        for (long k = 0; k < 3000; k++) {
            char want[64];
            const char *w = "old-deep";
            if (k % 3 == 0)
                w = "old-l0";
            if (k % 5 == 0)
                w = "old-mem";
            if (k % 11 == 1)
                w = NULL;
            if (k >= 1000 && k < 2000 && k % 2 == 0) {
                val_of(want, k, 7);
                w = want;
            }
            expect_val(ks, NULL, k, w);
        }
        if (pass == 0)
            CHECK_OK(tind_compact(ks));
        if (pass == 1) {
            CHECK_OK(tind_close(db));
            db = open_at(mem, background);
            CHECK_OK(tind_keyspace_open(db, "a", NULL, &ks));
        }
    }
    CHECK_OK(tind_close(db));
    free(order);
    fs_destroy(mem);
}

TEST(shadows_older)
{
    shadows_older_with(0);
    shadows_older_with(1);
}

TEST(snapshots)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_at(mem, 0);
    tind_keyspace *ks = small_ks(db, "a", TIND_COMPACTION_LEVELED);
    for (long k = 0; k < 100; k++)
        put_val(ks, k, "before");
    tind_snapshot *before = NULL;
    CHECK_OK(tind_snapshot_new(db, &before));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_snapshot(ro, before);
    tind_iter *it = NULL;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
    gen g = {0};
    g.n = 200;
    g.step = 1;
    g.tag = 2;
    CHECK_OK(ingest(ks, &g, TIND_INGEST_SORTED, 0, NULL));
    expect_val(ks, ro, 5, "before");
    expect_val(ks, ro, 150, NULL);
    CHECK_EQ(scan_count(ks, ro), 100);
    uint64_t n = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
        size_t vl = 0;
        const void *v = tind_iter_value(it, &vl);
        CHECK_MEM(v, vl, "before", 6);
        n++;
    }
    CHECK_EQ(n, 100);
    tind_iter_free(it);
    char v[64];
    val_of(v, 5, 2);
    expect_val(ks, NULL, 5, v);
    /* a snapshot taken during the call: refused, nothing changes */
    gen h = {0};
    h.n = 200;
    h.step = 1;
    h.tag = 3;
    h.snap_db = db;
    CHECK_RC(tind_ingest(ks, gen_next, &h, TIND_INGEST_SORTED, 0, NULL, NULL, NULL), TIND_EBUSY);
    CHECK(strstr(tind_errmsg(db), "snapshot") != NULL);
    expect_val(ks, NULL, 5, v);
    tind_snapshot_free(h.snap);
    h.i = 0;
    h.snap_db = NULL;
    CHECK_OK(tind_ingest(ks, gen_next, &h, TIND_INGEST_SORTED, 0, NULL, NULL, NULL));
    val_of(v, 5, 3);
    expect_val(ks, NULL, 5, v);
    tind_read_options_free(ro);
    tind_snapshot_free(before);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

static size_t count_tables(fs *mem)
{
    char **names = NULL;
    size_t n = 0;
    CHECK_OK(fs_list(mem, "/db/tables", &names, &n, NULL));
    fs_list_free(names, n);
    return n;
}

static uint64_t progress_seen;
static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)done, (void)total;
    (*(uint64_t *)ctx)++;
}

TEST(unsorted_spill)
{
    for (int background = 0; background < 2; background++) {
        fs *mem = fs_mem_new();
        tind_db *db = open_at(mem, background);
        tind_keyspace *ks = small_ks(db, "a", TIND_COMPACTION_LEVELED);
        for (long k = 0; k < 4000; k += 2)
            put_val(ks, k, "old");
        CHECK_OK(tind_flush(ks));
        trng r;
        trng_seed(&r, check_seed + (uint64_t)background);
        long n = 20000;
        long *order = malloc((size_t)n * sizeof *order);
        for (long i = 0; i < n; i++)
            order[i] = (long)(trng_next(&r) % 6000);
        /* the value of the last occurrence: the tag is the input position */
        gen g = {0};
        g.n = n;
        g.order = order;
        g.tag = -1;
        size_t tables_before = count_tables(mem);
        progress_seen = 0;
        uint64_t count = 0;
        CHECK_OK(tind_ingest(ks, gen_next, &g, 0, 64u << 10, on_progress, &progress_seen, &count));
        CHECK(progress_seen >= 1);
        long distinct = 0;
        long *lastpos = malloc(6000 * sizeof *lastpos);
        for (long k = 0; k < 6000; k++)
            lastpos[k] = -1;
        for (long i = 0; i < n; i++) {
            if (lastpos[order[i]] < 0)
                distinct++;
            lastpos[order[i]] = i;
        }
        CHECK_EQ(count, distinct);
        for (long k = 0; k < 6000; k++) {
            char v[64];
            val_of(v, k, (int)lastpos[k]);
            expect_val(ks, NULL, k, lastpos[k] >= 0 ? v : (k % 2 == 0 && k < 4000 ? "old" : NULL));
        }
        /* spill runs are gone: only the new tables remain */
        tind_ks_stats st;
        CHECK_OK(tind_ks_stats_get(ks, &st));
        uint64_t live = 0;
        for (uint32_t l = 0; l < st.levels; l++)
            live += st.tables[l];
        if (!background)
            CHECK_EQ(count_tables(mem), live);
        CHECK(count_tables(mem) >= tables_before);
        CHECK_OK(tind_compact(ks));
        char last[64];
        val_of(last, order[n - 1], (int)(n - 1));
        expect_val(ks, NULL, order[n - 1], last);
        free(lastpos);
        free(order);
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
}

/* ---- unsorted input of awkward key shapes (the run sort's cases) ---- */

typedef struct shaped {
    uint8_t key[200];
    size_t klen;
    uint32_t val;                 /* the input position: the last one wins */
} shaped;

typedef struct shaped_src {
    shaped *in;
    size_t n, i;
    char v[16];
} shaped_src;

static int shaped_next(void *ctx, const void **k, size_t *kl, const void **v, size_t *vl)
{
    shaped_src *s = ctx;
    if (s->i == s->n)
        return 0;
    shaped *e = &s->in[s->i++];
    *k = e->key;
    *kl = e->klen;
    *vl = (size_t)snprintf(s->v, sizeof s->v, "%u", e->val);
    *v = s->v;
    return 1;
}

static int shaped_cmp(const void *a, const void *b)
{
    const shaped *x = a, *y = b;
    int c = key_cmp(x->key, x->klen, y->key, y->klen);
    return c ? c : (x->val < y->val ? 1 : -1);   /* the last given first */
}

static size_t shaped_add(shaped *in, size_t n, const uint8_t *k, size_t kl)
{
    memcpy(in[n].key, k, kl);
    in[n].klen = kl;
    return n + 1;
}

/* Keys that tie on their leading 8 bytes at every depth (a chain of 20
 * groups, past the sort's depth limit), keys that end inside each other's
 * zero bytes ("z", "z\0", ...), keys sharing a 64-byte part, "\0" and "\0\0",
 * and a key given 40 times: ingested unsorted with runs in memory and
 * spilled, background threads on and off, read back in the model's order
 * with the last value of each key. */
TEST(unsorted_key_shapes)
{
    enum { MAX = 2000 };
    shaped *in = calloc(MAX, sizeof *in);
    uint8_t k[200];
    size_t n = 0;
    for (int d = 0; d < 20; d++)          /* d blocks of 8 'A's, then 'B', then j */
        for (int j = 0; j < 20; j++) {
            memset(k, 'A', (size_t)d * 8);
            k[d * 8] = 'B';
            k[d * 8 + 1] = (uint8_t)j;
            n = shaped_add(in, n, k, (size_t)d * 8 + 2);
        }
    for (int z = 0; z < 24; z++) {        /* "z" + z zero bytes, and + z zeros + 1 */
        memset(k, 0, sizeof k);
        k[0] = 'z';
        n = shaped_add(in, n, k, (size_t)z + 1);
        k[z + 1] = 1;
        n = shaped_add(in, n, k, (size_t)z + 2);
    }
    for (int c = 0; c < 300; c++) {       /* 64 'c's, then 2 bytes */
        memset(k, 'c', 64);
        k[64] = (uint8_t)(c >> 4);
        k[65] = (uint8_t)(c * 7);
        n = shaped_add(in, n, k, 66);
    }
    memset(k, 0, 8);
    n = shaped_add(in, n, k, 1);          /* the smallest keys */
    n = shaped_add(in, n, k, 2);
    for (int r = 0; r < 40; r++)
        n = shaped_add(in, n, (const uint8_t *)"same-key", 8);
    CHECK(n < MAX);
    trng r;
    trng_seed(&r, check_seed);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = trng_next(&r) % (i + 1);
        shaped t = in[i];
        in[i] = in[j];
        in[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        in[i].val = (uint32_t)i;
    shaped *model = malloc(n * sizeof *model);
    memcpy(model, in, n * sizeof *model);
    qsort(model, n, sizeof *model, shaped_cmp);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || key_cmp(model[i].key, model[i].klen, model[distinct - 1].key, model[distinct - 1].klen))
            model[distinct++] = model[i];
    for (int round = 0; round < 4; round++) {
        int background = round & 1;
        size_t limit = round < 2 ? (16u << 20) : (8u << 10);   /* in memory; spilled */
        fs *mem = fs_mem_new();
        tind_db *db = open_at(mem, background);
        tind_keyspace *ks = small_ks(db, "k", TIND_COMPACTION_LEVELED);
        shaped_src src = {in, n, 0, {0}};
        uint64_t count = 0;
        int irc = tind_ingest(ks, shaped_next, &src, 0, limit, NULL, NULL, &count);
        if (irc)
            fprintf(stderr, "ingest: %s\n", tind_errmsg(db));
        CHECK_OK(irc);
        CHECK_EQ(count, distinct);
        tind_iter *it = NULL;
        CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
        size_t i = 0;
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), i++) {
            CHECK(i < distinct);
            size_t kl = 0, vl = 0;
            const void *kp = tind_iter_key(it, &kl), *vp = tind_iter_value(it, &vl);
            CHECK_MEM(kp, kl, model[i].key, model[i].klen);
            char v[16];
            int vn = snprintf(v, sizeof v, "%u", model[i].val);
            CHECK_MEM(vp, vl, v, (size_t)vn);
        }
        CHECK_OK(tind_iter_status(it));
        CHECK_EQ(i, distinct);
        tind_iter_free(it);
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
    free(model);
    free(in);
}

TEST(bad_input)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_at(mem, 0);
    tind_keyspace *ks = small_ks(db, "a", TIND_COMPACTION_LEVELED);
    put_val(ks, 1, "kept");
    gen g = {0};
    g.n = 3000;
    g.step = 1;
    g.unsorted_at = 2500;
    CHECK_RC(ingest(ks, &g, TIND_INGEST_SORTED, 0, NULL), TIND_EINVAL);
    CHECK(strstr(tind_errmsg(db), "increasing") != NULL);
    CHECK(strstr(tind_errmsg(db), "2501") != NULL);
    expect_val(ks, NULL, 1, "kept");
    expect_val(ks, NULL, 2, NULL);
    gen f = {0};
    f.n = 3000;
    f.step = 1;
    f.fail_at = 2000;
    f.fail_rc = TIND_EIO;
    CHECK_RC(ingest(ks, &f, TIND_INGEST_SORTED, 0, NULL), TIND_EIO);
    f.i = 0;
    CHECK_RC(ingest(ks, &f, 0, 0, NULL), TIND_EIO);
    expect_val(ks, NULL, 2, NULL);
    CHECK_RC(tind_ingest(ks, NULL, NULL, 0, 0, NULL, NULL, NULL), TIND_EINVAL);
    CHECK_RC(tind_ingest(ks, gen_next, &f, 0x10, 0, NULL, NULL, NULL), TIND_EINVAL);
    CHECK_RC(tind_ingest(NULL, gen_next, &f, 0, 0, NULL, NULL, NULL), TIND_EINVAL);
    /* only the live tables are left (the one the first call's flush made) */
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    uint64_t live = 0;
    for (uint32_t l = 0; l < st.levels; l++)
        live += st.tables[l];
    CHECK_EQ(count_tables(mem), live);
    CHECK_OK(tind_close(db));
    /* the journal's markers of the failed calls replay cleanly */
    db = open_at(mem, 0);
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &ks));
    expect_val(ks, NULL, 1, "kept");
    CHECK_EQ(scan_count(ks, NULL), 1);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(pipeline)
{
    fs *mem = fs_mem_new();
    fs *ffs = fs_fault_new(mem, 0);
    tind_db *db = open_at(ffs, 1);
    tind_keyspace *ks = small_ks(db, "p", TIND_COMPACTION_LEVELED);
    put_val(ks, 1, "kept");
    /* 6000 entries of ~720 bytes: the ring of 1 MiB chunks turns over */
    gen g = {0};
    g.n = 6000;
    g.step = 1;
    g.tag = 7;
    g.pad = 1;
    g.fail_at = 5500;
    g.fail_rc = TIND_EIO;
    CHECK_RC(ingest(ks, &g, TIND_INGEST_SORTED, 0, NULL), TIND_EIO);
    CHECK(strstr(tind_errmsg(db), "5500 entries") != NULL);
    expect_val(ks, NULL, 1, "kept");
    expect_val(ks, NULL, 2, NULL);
    g.i = 0;
    g.fail_at = 0;
    g.unsorted_at = 5900;
    CHECK_RC(ingest(ks, &g, TIND_INGEST_SORTED, 0, NULL), TIND_EINVAL);
    CHECK(strstr(tind_errmsg(db), "5901") != NULL);
    expect_val(ks, NULL, 2, NULL);
    g.i = 0;
    g.unsorted_at = 0;
    uint64_t count = 0;
    CHECK_OK(ingest(ks, &g, TIND_INGEST_SORTED, 0, &count));
    CHECK_EQ(count, 6000);
    char v[PAD_LEN + 1];
    for (long k = 0; k < 6000; k += 7) {
        pad_val(v, k, 7);
        expect_val(ks, NULL, k, v);
    }
    CHECK_EQ(scan_count(ks, NULL), 6000);
    /* the writes fail from the 12th on (of about 25: the values compress well) */
    g.i = 0;
    g.tag = 8;
    fs_fault_arm(ffs, FS_CALL_WRITE, 12, FS_FAULT_ERRNO, 5, 1, NULL);
    int rc = ingest(ks, &g, TIND_INGEST_SORTED, 0, NULL);
    CHECK(fs_fault_injected(ffs) > 0);
    fs_fault_disarm(ffs);
    CHECK(rc != TIND_OK);
    tind_close(db);
    db = open_at(ffs, 1);
    CHECK_OK(tind_keyspace_open(db, "p", NULL, &ks));
    for (long k = 0; k < 6000; k += 11) {
        pad_val(v, k, 7);
        expect_val(ks, NULL, k, v);
    }
    CHECK_EQ(scan_count(ks, NULL), 6000);
    CHECK_OK(tind_close(db));
    fs_destroy(ffs);
    fs_destroy(mem);
}

/* The .tbl files in /db/tables. */
static size_t table_files(fs *fsys)
{
    char **names = NULL;
    size_t n = 0, tables = 0;
    CHECK_OK(fs_list(fsys, "/db/tables", &names, &n, NULL));
    for (size_t i = 0; i < n; i++)
        tables += strstr(names[i], ".tbl") != NULL;
    fs_list_free(names, n);
    return tables;
}

/* Tables but the last are synced on a thread while the next is written
 * (cmp_options.sync_behind): a sync that fails there, or the last one's,
 * fails the call with the file named, leaves no file behind and ingests
 * nothing; a successful call's tables are all durable (a power loss right
 * after it keeps every pair). */
TEST(sync_behind)
{
    fs *mem = fs_mem_new();
    fs *ffs = fs_fault_new(mem, 0);
    tind_db *db = open_at(ffs, 1);
    tind_keyspace *ks = small_ks(db, "s", TIND_COMPACTION_LEVELED);
    put_val(ks, 1, "kept");
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_wait_idle(db, -1));
    size_t before = table_files(mem);
    gen g = {0};
    g.n = 6000;
    g.step = 1;
    g.tag = 3;
    g.pad = 1;
    /* each table holds ~20 pairs: this load makes hundreds; fail the 1st
     * (a sync behind), the 5th, and the load's last sync */
    CHECK_OK(ingest(ks, &g, TIND_INGEST_SORTED, 0, NULL));
    CHECK_OK(tind_wait_idle(db, -1));
    size_t loaded = table_files(mem);
    uint64_t load_tables = loaded - before;   /* one sync each */
    CHECK(load_tables > 100);
    const uint64_t nths[] = {1, 5, 0};
    for (size_t i = 0; i < sizeof nths / sizeof nths[0]; i++) {
        g.i = 0;
        g.tag = 4;
        fs_fault_arm(ffs, FS_CALL_SYNC, nths[i] ? nths[i] : load_tables, FS_FAULT_ERRNO, 5, 0, ".tbl");
        int rc = ingest(ks, &g, TIND_INGEST_SORTED, 0, NULL);
        CHECK_EQ(fs_fault_injected(ffs), i + 1);
        fs_fault_disarm(ffs);
        CHECK_RC(rc, TIND_EIO);
        CHECK(strstr(tind_errmsg(db), "injected fault") != NULL);
        CHECK(strstr(tind_errmsg(db), ".tbl") != NULL);
        CHECK_OK(tind_wait_idle(db, -1));
        CHECK_EQ(table_files(mem), loaded);
        char v[PAD_LEN + 1];
        pad_val(v, 4321, 3);
        expect_val(ks, NULL, 4321, v);
    }
    /* a load that returned is durable whole */
    g.i = 0;
    g.tag = 5;
    CHECK_OK(ingest(ks, &g, TIND_INGEST_SORTED, 0, NULL));
    CHECK_OK(tind_internal_pause_background(db, 1));
    CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, 1));
    tind_close(db);
    db = open_at(mem, 1);
    CHECK_OK(tind_keyspace_open(db, "s", NULL, &ks));
    char v[PAD_LEN + 1];
    for (long k = 0; k < 6000; k += 7) {
        pad_val(v, k, 5);
        expect_val(ks, NULL, k, v);
    }
    CHECK_EQ(scan_count(ks, NULL), 6000);
    CHECK(before > 0);
    CHECK_OK(tind_close(db));
    fs_destroy(ffs);
    fs_destroy(mem);
}

TEST(crash_atomic)
{
    static const int kinds[] = {FS_CALL_WRITE, FS_CALL_SYNC, FS_CALL_RENAME, FS_CALL_SYNC_DIR};
    uint64_t crashes = 0;
    /* background off, then on (the pipeline and the encode threads) */
    for (size_t kind = 0; kind < 2 * sizeof kinds / sizeof kinds[0]; kind++)
        for (uint64_t nth = 1;; nth++) {
            int bg = kind >= sizeof kinds / sizeof kinds[0];
            fs *mem = fs_mem_new();
            fs *ffs = fs_fault_new(mem, 0);
            tind_db *db = open_at(ffs, bg);
            tind_keyspace *ks = small_ks(db, "a", TIND_COMPACTION_LEVELED);
            for (long k = 0; k < 400; k++)
                put_val(ks, k, "old");
            CHECK_OK(tind_persist(db, TIND_PERSIST_SYNC_ALL));
            gen g = {0};
            g.n = 3000;
            g.step = 1;
            g.tag = 4;
            if (bg)
                CHECK_OK(tind_wait_idle(db, -1));
            fs_fault_arm(ffs, kinds[kind % (sizeof kinds / sizeof kinds[0])], nth, FS_FAULT_ERRNO, 5, 0, NULL);
            uint64_t injected = fs_fault_injected(ffs);
            int rc = tind_ingest(ks, gen_next, &g, nth % 2 ? TIND_INGEST_SORTED : 0, 16u << 10, NULL, NULL, NULL);
            int hit = fs_fault_injected(ffs) > injected;
            fs_fault_disarm(ffs);
            CHECK(hit || rc == TIND_OK);
            /* a failure that left the database writable ingested nothing
             * (tind.h): not there now, nor after the power loss */
            int none = rc != TIND_OK && !tind_internal_is_poisoned(db);
            char key[32];
            int kn = key_of(key, 2999);
            if (none)
                CHECK_RC(tind_contains(ks, key, (size_t)kn, NULL), TIND_NOT_FOUND);
            /* a process that lost power writes nothing more: a worker's
             * retried flush may still be running (the call returned its
             * first failure), and its writes after the power loss would
             * land on a disk that forgot what came before (its table's
             * folder entry, then a version file naming it) */
            if (bg)
                CHECK_OK(tind_internal_pause_background(db, 1));
            CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, nth));
            crashes++;
            tind_close(db);
            db = open_at(mem, bg);
            CHECK_OK(tind_keyspace_open(db, "a", NULL, &ks));
            /* all or nothing; the synced writes before it always */
            int present = tind_contains(ks, key, (size_t)kn, NULL) == TIND_OK;
            if (rc == TIND_OK)
                CHECK(present);
            if (none)
                CHECK(!present);
            char v[64];
            for (long k = 0; k < 3000; k += 13) {
                val_of(v, k, 4);
                expect_val(ks, NULL, k, present ? v : (k < 400 ? "old" : NULL));
            }
            CHECK_EQ(scan_count(ks, NULL), present ? 3000 : 400);
            CHECK_OK(tind_close(db));
            fs_destroy(ffs);
            fs_destroy(mem);
            if (!hit)
                break;
        }
    CHECK(crashes > 8);
}

TEST(tiered)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_at(mem, 1);
    tind_keyspace *ks = small_ks(db, "t", TIND_COMPACTION_TIERED);
    for (long k = 0; k < 2000; k++)
        put_val(ks, k, "old");
    CHECK_OK(tind_flush(ks));
    gen g = {0};
    g.n = 2000;
    g.step = 2;
    g.tag = 5;
    CHECK_OK(ingest(ks, &g, TIND_INGEST_SORTED, 0, NULL));
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    for (uint32_t l = 1; l < st.levels; l++)
        CHECK_EQ(st.tables[l], 0);
    for (int pass = 0; pass < 2; pass++) {
        char v[64];
        for (long k = 0; k < 4000; k += 3) {
            val_of(v, k, 5);
            expect_val(ks, NULL, k, k % 2 == 0 ? v : (k < 2000 ? "old" : NULL));
        }
        CHECK_OK(tind_compact(ks));
    }
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(writes_during)
{
    /* a put into the range while the ingestion runs is newer than it: it
     * must win where it sits above the ingested tables (memtable, an L0
     * table), and where compaction took it below them the ingestion must
     * fail rather than hide it */
    for (int then = 0; then < 3; then++)
        for (int sorted = 0; sorted < 2; sorted++) {
            fs *mem = fs_mem_new();
            tind_db *db = open_at(mem, 0);
            tind_keyspace *ks = small_ks(db, "a", TIND_COMPACTION_LEVELED);
            for (long k = 0; k < 1000; k += 2)
                put_val(ks, k, "old");
            gen g = {0};
            g.n = 1000;
            g.step = 1;
            g.tag = 6;
            g.put_ks = ks;
            g.put_at = 500;
            g.put_key = 300;
            g.put_then = then;
            int rc = tind_ingest(ks, gen_next, &g, sorted ? TIND_INGEST_SORTED : 0, 0, NULL, NULL, NULL);
            char v[64];
            expect_val(ks, NULL, 300, "concurrent");
            if (then < 2) {
                CHECK_OK(rc);
                val_of(v, 301, 6);
                expect_val(ks, NULL, 301, v);
                val_of(v, 302, 6);
                expect_val(ks, NULL, 302, v);
            } else {
                CHECK_RC(rc, TIND_EBUSY);
                CHECK(strstr(tind_errmsg(db), "written while it ran") != NULL);
                expect_val(ks, NULL, 301, NULL);
                expect_val(ks, NULL, 302, "old");
            }
            CHECK_OK(tind_compact(ks));
            expect_val(ks, NULL, 300, "concurrent");
            CHECK_OK(tind_close(db));
            fs_destroy(mem);
        }
}

typedef struct conc_arg {
    tind_db *db;
    tind_keyspace *ks;
    int id;
    _Atomic int *stop;
    long ops;
} conc_arg;

static void *conc_writer(void *p)
{
    conc_arg *a = p;
    char key[32];
    for (long i = 0; !atomic_load(a->stop); i++) {
        int kn = snprintf(key, sizeof key, "w%d-%06ld", a->id, i % 5000);
        CHECK_OK(tind_put(a->ks, key, (size_t)kn, "x", 1));
        a->ops++;
    }
    return NULL;
}

/* Keys 0 and 999 of one ingestion are read through one snapshot: both of
 * the same ingestion (same tag), never one old and one new. */
static void *conc_reader(void *p)
{
    conc_arg *a = p;
    while (!atomic_load(a->stop)) {
        tind_snapshot *s = NULL;
        CHECK_OK(tind_snapshot_new(a->db, &s));
        tind_read_options *ro = tind_read_options_new();
        tind_read_options_set_snapshot(ro, s);
        char key[32], got[2][64];
        size_t gl[2] = {0, 0};
        for (int j = 0; j < 2; j++) {
            int kn = key_of(key, j ? 999 : 0);
            void *v = NULL;
            size_t vn = 0;
            int rc = tind_get(a->ks, key, (size_t)kn, ro, &v, &vn);
            CHECK(rc == TIND_OK || rc == TIND_NOT_FOUND);
            if (rc == TIND_OK) {
                CHECK(vn < 64);
                memcpy(got[j], v, vn);
                got[j][vn] = 0;
                gl[j] = vn;
            }
            tind_free(v);
        }
        CHECK_EQ(gl[0] != 0, gl[1] != 0);
        if (gl[0]) {
            /* "ingested-TAG-0" and "ingested-TAG-999": the same TAG */
            const char *t0 = strchr(got[0], '-'), *t1 = strchr(got[1], '-');
            CHECK(t0 && t1 && atoi(t0 + 1) == atoi(t1 + 1));
        }
        tind_read_options_free(ro);
        tind_snapshot_free(s);
        a->ops++;
    }
    return NULL;
}

TEST(concurrent)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_at(mem, 1);
    tind_keyspace *ks = small_ks(db, "a", TIND_COMPACTION_LEVELED);
    _Atomic int stop = 0;
    conc_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i].db = db;
        args[i].ks = ks;
        args[i].id = i;
        args[i].stop = &stop;
        args[i].ops = 0;
        CHECK(pthread_create(&th[i], NULL, i < 2 ? conc_writer : conc_reader, &args[i]) == 0);
    }
    int rounds = (int)(10 * check_scale()), ok = 0;
    if (rounds < 4)
        rounds = 4;
    for (int r = 0; r < rounds; r++) {
        gen g = {0};
        g.n = 1000;
        g.step = 1;
        g.tag = r + 1;
        int rc = tind_ingest(ks, gen_next, &g, r % 2 ? TIND_INGEST_SORTED : 0, 32u << 10, NULL, NULL, NULL);
        /* the reader's snapshots may be live at the end: EBUSY, retried */
        CHECK(rc == TIND_OK || rc == TIND_EBUSY);
        ok += rc == TIND_OK;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    CHECK(ok > 0);
    CHECK(args[2].ops > 0);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

int main(void)
{
    check_seed_init(14);
    RUN(sorted_fresh);
    RUN(shadows_older);
    RUN(snapshots);
    RUN(unsorted_spill);
    RUN(unsorted_key_shapes);
    RUN(bad_input);
    RUN(pipeline);
    RUN(sync_behind);
    RUN(crash_atomic);
    RUN(tiered);
    RUN(writes_during);
    RUN(concurrent);
    fprintf(stderr, "test_ingest: ok\n");
    return 0;
}
