/*
 * test_version.c -- versions (src/version/version.c) and the version file
 * (src/version/manifest.c).
 *
 * Versions: edits that add, remove and move tables; L0 newest-first and
 * L1+ sorted, non-overlapping; copy-on-write sharing; reference counts
 * checked against a model while versions are released out of order;
 * find_level_table and overlapping() against brute force.
 * Version file: round trips, an independent raw encoder written from the
 * documented format (so the doc and the code agree byte for byte), every
 * byte flip and every truncation -> TIND_ECORRUPT, newer version ->
 * TIND_EVERSION, semantic rejects with valid checksums, and write/read
 * through the in-memory file system.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"
#include "format/entry.h"
#include "io/fs.h"
#include "util/buf.h"
#include "util/coding.h"
#include "util/hash.h"
#include "util/rand.h"
#include "version/manifest.h"
#include "version/version.h"

/* ------------------------------------------------------------------ helpers */

#define MAX_TABLES 4096

/* Counts on_free calls per table number. */
typedef struct tracker {
    int freed[MAX_TABLES];
    int obsolete_seen[MAX_TABLES];
} tracker;

static void track_free(ver_table *t, void *ctx)
{
    tracker *tr = ctx;
    CHECK(t->number < MAX_TABLES);
    CHECK_EQ(atomic_load(&t->refs), 0);
    tr->freed[t->number]++;
    tr->obsolete_seen[t->number] = atomic_load(&t->obsolete);
}

static ver_table *mk(tracker *tr, uint64_t number, const char *lo, const char *hi, uint64_t minseq,
                     uint64_t maxseq, uint64_t size)
{
    ver_table *t = ver_table_new(number, size, 10, 1, minseq, maxseq, 1700000000 + number,
                                 (const uint8_t *)lo, strlen(lo), (const uint8_t *)hi, strlen(hi));
    CHECK(t != NULL);
    if (tr) {
        t->on_free = track_free;
        t->on_free_ctx = tr;
    }
    return t;
}

/* Applies a one-op edit; the edit's refs are dropped; the caller's t ref is kept. */
static int apply1(const version *base, int remove_level, ver_table *rm, int add_level, ver_table *add,
                  version **out, tind_err *err)
{
    ver_edit e;
    ver_edit_init(&e);
    if (rm)
        CHECK_OK(ver_edit_remove(&e, remove_level, rm));
    if (add)
        CHECK_OK(ver_edit_add(&e, add_level, add));
    int rc = version_apply(base, &e, out, err);
    ver_edit_free(&e);
    return rc;
}

/* Checks invariants 1-6 of version.h. */
static void check_invariants(const version *v)
{
    CHECK(v->level_count >= 1 && v->level_count <= VER_MAX_LEVELS);
    for (int l = v->level_count; l < VER_MAX_LEVELS; l++)
        CHECK_EQ(v->levels[l].count, 0);
    for (int l = 0; l < v->level_count; l++) {
        const ver_level *lv = &v->levels[l];
        uint64_t bytes = 0;
        for (size_t i = 0; i < lv->count; i++) {
            const ver_table *t = lv->tables[i];
            bytes += t->size;
            CHECK(key_cmp(t->smallest, t->smallest_len, t->largest, t->largest_len) <= 0);
            CHECK(t->min_seqno <= t->max_seqno);
            if (i + 1 < lv->count) {
                const ver_table *u = lv->tables[i + 1];
                if (l == 0)
                    CHECK(t->max_seqno > u->max_seqno || (t->max_seqno == u->max_seqno && t->number > u->number));
                else
                    CHECK(key_cmp(t->largest, t->largest_len, u->smallest, u->smallest_len) < 0);
            }
        }
        CHECK_EQ(lv->bytes, bytes);
        CHECK_EQ(version_level_bytes(v, l), bytes);
    }
}

static int has(const version *v, int level, uint64_t number)
{
    for (size_t i = 0; i < v->levels[level].count; i++)
        if (v->levels[level].tables[i]->number == number)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ tables */

TEST(table_refs)
{
    static tracker tr;
    memset(&tr, 0, sizeof tr);
    ver_table *t = mk(&tr, 5, "a", "z", 1, 9, 100);
    CHECK_EQ(t->number, 5);
    CHECK_MEM(t->smallest, t->smallest_len, "a", 1);
    CHECK_MEM(t->largest, t->largest_len, "z", 1);
    ver_table_ref(t);
    ver_table_ref(t);
    ver_table_unref(t);
    ver_table_unref(t);
    CHECK_EQ(tr.freed[5], 0);
    atomic_store(&t->obsolete, 1);
    CHECK(ver_table_claim(t));
    CHECK(!ver_table_claim(t));
    ver_table_unclaim(t);
    CHECK(ver_table_claim(t));
    ver_table_unref(t);
    CHECK_EQ(tr.freed[5], 1);
    CHECK_EQ(tr.obsolete_seen[5], 1);
    ver_table_unref(NULL);
    version_unref(NULL);

    /* from a table's metadata */
    tbl_meta m;
    memset(&m, 0, sizeof m);
    m.file_size = 4096;
    m.entry_count = 7;
    m.tombstone_count = 2;
    m.min_seqno = 3;
    m.max_seqno = 11;
    m.created_unix = 42;
    CHECK_OK(tbuf_set(&m.smallest_key, "k1", 2));
    CHECK_OK(tbuf_set(&m.largest_key, "k9\0", 3));
    ver_table *u = ver_table_from_meta(77, &m);
    CHECK(u != NULL);
    CHECK_EQ(u->number, 77);
    CHECK_EQ(u->size, 4096);
    CHECK_EQ(u->entries, 7);
    CHECK_EQ(u->tombstones, 2);
    CHECK_EQ(u->min_seqno, 3);
    CHECK_EQ(u->max_seqno, 11);
    CHECK_EQ(u->created_unix, 42);
    CHECK_MEM(u->largest, u->largest_len, "k9\0", 3);
    ver_table_unref(u);
    tbuf_free(&m.smallest_key);
    tbuf_free(&m.largest_key);

    CHECK(version_new_empty(1, 8) == NULL);
    CHECK(version_new_empty(1, -1) == NULL);
    version *v = version_new_empty(3, 0);
    CHECK(v != NULL);
    CHECK_EQ(v->level_count, VER_DEFAULT_LEVELS);
    CHECK_EQ(v->keyspace_id, 3);
    CHECK_EQ(version_table_count(v), 0);
    version_unref(v);
}

/* ------------------------------------------------------------------ edits */

TEST(apply_l0_newest_first)
{
    static tracker tr;
    memset(&tr, 0, sizeof tr);
    version *v = version_new_empty(1, 7);
    uint64_t seqs[] = {30, 10, 50, 20, 40, 50};
    for (int i = 0; i < 6; i++) {
        ver_table *t = mk(&tr, (uint64_t)i + 1, "a", "m", seqs[i] - 5, seqs[i], 100 + (uint64_t)i);
        version *nv;
        CHECK_OK(apply1(v, 0, NULL, 0, t, &nv, NULL));
        /* copy on write: the base is unchanged */
        CHECK_EQ(v->levels[0].count, (size_t)i);
        CHECK_EQ(nv->levels[0].count, (size_t)i + 1);
        check_invariants(nv);
        /* shared, not copied */
        for (size_t j = 0; j < v->levels[0].count; j++)
            CHECK(has(nv, 0, v->levels[0].tables[j]->number));
        ver_table_unref(t);
        version_unref(v);
        v = nv;
    }
    /* 50(#6), 50(#3), 40, 30, 20, 10 */
    uint64_t want[] = {6, 3, 5, 1, 4, 2};
    for (int i = 0; i < 6; i++)
        CHECK_EQ(v->levels[0].tables[i]->number, want[i]);
    CHECK_EQ(version_table_count(v), 6);
    CHECK_EQ(version_total_bytes(v), 100 + 101 + 102 + 103 + 104 + 105);
    for (int i = 1; i <= 6; i++) {
        CHECK_EQ(tr.freed[i], 0);
        CHECK_EQ(atomic_load(&v->levels[0].tables[i - 1]->refs), 1);
    }
    version_unref(v);
    for (int i = 1; i <= 6; i++)
        CHECK_EQ(tr.freed[i], 1);
}

TEST(apply_l1_sorted_and_overlap_rejected)
{
    static tracker tr;
    memset(&tr, 0, sizeof tr);
    version *v = version_new_empty(2, 4);
    const char *ranges[][2] = {{"m", "p"}, {"a", "c"}, {"x", "z"}, {"d", "d"}, {"q", "w"}};
    ver_edit e;
    ver_edit_init(&e);
    for (int i = 0; i < 5; i++) {
        ver_table *t = mk(&tr, 10 + (uint64_t)i, ranges[i][0], ranges[i][1], 1, 2, 10);
        CHECK_OK(ver_edit_add(&e, 1, t));
        ver_table_unref(t);
    }
    ver_edit_set_flushed_seqno(&e, 7);
    version *nv;
    CHECK_OK(version_apply(v, &e, &nv, NULL));
    ver_edit_free(&e);
    version_unref(v);
    v = nv;
    check_invariants(v);
    CHECK_EQ(v->flushed_seqno, 7);
    uint64_t want[] = {11, 13, 10, 14, 12};
    for (int i = 0; i < 5; i++)
        CHECK_EQ(v->levels[1].tables[i]->number, want[i]);

    /* overlaps: inside, across a boundary, touching at one key */
    const char *bad[][2] = {{"b", "b"}, {"c", "e"}, {"p", "q"}, {"0", "a"}, {"w", "x"}, {"a", "z"}, {"d", "d"}};
    for (int i = 0; i < 7; i++) {
        tind_err err;
        err_clear(&err);
        ver_table *t = mk(&tr, 100 + (uint64_t)i, bad[i][0], bad[i][1], 1, 2, 10);
        CHECK_RC(apply1(v, 0, NULL, 1, t, &nv, &err), TIND_EINVAL);
        CHECK(nv == NULL);
        CHECK(strstr(err.msg, "overlaps") != NULL);
        char num[32];
        snprintf(num, sizeof num, "table %d", 100 + i);
        CHECK(strstr(err.msg, num) != NULL);
        /* the rejected table is referenced by nothing: freed on our unref */
        ver_table_unref(t);
        CHECK_EQ(tr.freed[100 + i], 1);
    }
    /* the same tables are fine in L0, and in the gaps of L1 */
    ver_table *t = mk(&tr, 200, "c", "e", 3, 4, 10);
    CHECK_OK(apply1(v, 0, NULL, 0, t, &nv, NULL));
    version_unref(nv);
    ver_table_unref(t);
    t = mk(&tr, 201, "e", "l", 3, 4, 10);
    CHECK_OK(apply1(v, 0, NULL, 1, t, &nv, NULL));
    check_invariants(nv);
    CHECK_EQ(nv->levels[1].tables[2]->number, 201);
    version_unref(nv);
    ver_table_unref(t);
    /* prefixes: "p" < "p\x00" */
    ver_table *u = ver_table_new(202, 1, 1, 0, 1, 1, 0, (const uint8_t *)"p\0", 2, (const uint8_t *)"p\0\xff", 3);
    CHECK_OK(apply1(v, 0, NULL, 1, u, &nv, NULL));
    check_invariants(nv);
    version_unref(nv);
    ver_table_unref(u);

    /* bad tables, bad levels, flushed seqno going back */
    tind_err err;
    t = mk(NULL, 300, "z", "a", 1, 2, 1);
    CHECK_RC(apply1(v, 0, NULL, 0, t, &nv, &err), TIND_EINVAL);
    CHECK(strstr(err.msg, "table 300") != NULL);
    ver_table_unref(t);
    t = mk(NULL, 301, "a", "b", 5, 2, 1);
    CHECK_RC(apply1(v, 0, NULL, 0, t, &nv, &err), TIND_EINVAL);
    ver_table_unref(t);
    t = mk(NULL, 302, "0", "0", 1, 2, 1);
    CHECK_RC(apply1(v, 0, NULL, 4, t, &nv, &err), TIND_EINVAL);
    CHECK_RC(apply1(v, 0, NULL, -1, t, &nv, &err), TIND_EINVAL);
    CHECK_RC(apply1(v, 4, t, 0, NULL, &nv, &err), TIND_EINVAL);
    ver_table_unref(t);
    ver_edit_init(&e);
    ver_edit_set_flushed_seqno(&e, 6);
    CHECK_RC(version_apply(v, &e, &nv, &err), TIND_EINVAL);
    CHECK(strstr(err.msg, "flushed") != NULL);
    ver_edit_set_flushed_seqno(&e, 7);
    CHECK_OK(version_apply(v, &e, &nv, &err));
    ver_edit_free(&e);
    version_unref(nv);
    version_unref(v);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(tr.freed[10 + i], 1);
}

TEST(apply_remove_and_move)
{
    static tracker tr;
    memset(&tr, 0, sizeof tr);
    version *v0 = version_new_empty(1, 3);
    ver_table *a = mk(&tr, 1, "a", "f", 1, 10, 100);
    ver_table *b = mk(&tr, 2, "d", "k", 11, 20, 200);
    ver_table *c = mk(&tr, 3, "m", "p", 1, 5, 300);
    ver_edit e;
    ver_edit_init(&e);
    CHECK_OK(ver_edit_add(&e, 0, a));
    CHECK_OK(ver_edit_add(&e, 0, b));
    CHECK_OK(ver_edit_add(&e, 1, c));
    version *v1;
    CHECK_OK(version_apply(v0, &e, &v1, NULL));
    ver_edit_free(&e);
    CHECK_EQ(atomic_load(&a->refs), 2); /* ours + v1 */
    CHECK_EQ(version_level_bytes(v1, 0), 300);
    CHECK_EQ(version_level_bytes(v1, 1), 300);
    CHECK_EQ(version_level_bytes(v1, 2), 0);
    CHECK_EQ(version_level_bytes(v1, 7), 0);

    /* move a from L0 to L2 (a removal plus an addition of the same table) */
    version *v2;
    CHECK_OK(apply1(v1, 0, a, 2, a, &v2, NULL));
    check_invariants(v2);
    CHECK(!has(v2, 0, 1) && has(v2, 2, 1) && has(v2, 0, 2) && has(v2, 1, 3));
    CHECK(has(v1, 0, 1)); /* v1 unchanged */
    CHECK(v2->levels[2].tables[0] == a); /* the same object */
    CHECK_EQ(atomic_load(&a->refs), 3);
    CHECK_EQ(version_level_bytes(v2, 0), 200);
    CHECK_EQ(version_level_bytes(v2, 2), 100);
    size_t idx = 99;
    CHECK_EQ(version_find_table(v2, 1, &idx), 2);
    CHECK_EQ(idx, 0);
    CHECK_EQ(version_find_table(v2, 99, NULL), -1);

    /* compaction: b (L0) + c (L1) -> d, e (L1) */
    ver_table *d = mk(&tr, 4, "d", "l", 1, 20, 250);
    ver_table *f = mk(&tr, 5, "m", "p", 1, 5, 250);
    ver_edit_init(&e);
    CHECK_OK(ver_edit_remove(&e, 0, b));
    CHECK_OK(ver_edit_remove(&e, 1, c));
    CHECK_OK(ver_edit_add(&e, 1, d));
    CHECK_OK(ver_edit_add(&e, 1, f));
    version *v3;
    CHECK_OK(version_apply(v2, &e, &v3, NULL));
    ver_edit_free(&e);
    check_invariants(v3);
    CHECK_EQ(v3->levels[0].count, 0);
    CHECK_EQ(v3->levels[1].count, 2);
    CHECK_EQ(version_table_count(v3), 3);

    tind_err err;
    version *bad;
    /* removing a table not at that level; twice; adding one already present */
    CHECK_RC(apply1(v3, 0, a, 0, NULL, &bad, &err), TIND_EINVAL);
    CHECK(strstr(err.msg, "table 1") && strstr(err.msg, "not in level 0"));
    ver_edit_init(&e);
    CHECK_OK(ver_edit_remove(&e, 2, a));
    CHECK_OK(ver_edit_remove(&e, 2, a));
    CHECK_RC(version_apply(v3, &e, &bad, &err), TIND_EINVAL);
    CHECK(strstr(err.msg, "twice") != NULL);
    ver_edit_free(&e);
    CHECK_RC(apply1(v3, 0, NULL, 0, a, &bad, &err), TIND_EINVAL);
    CHECK(strstr(err.msg, "table 1") != NULL);
    ver_edit_init(&e);
    ver_table *g = mk(&tr, 6, "x", "y", 1, 1, 1);
    CHECK_OK(ver_edit_add(&e, 0, g));
    CHECK_OK(ver_edit_add(&e, 2, g));
    CHECK_RC(version_apply(v3, &e, &bad, &err), TIND_EINVAL);
    ver_edit_free(&e);
    /* a removal matched by number, with a different object */
    ver_table *a2 = mk(NULL, 1, "a", "f", 1, 10, 100);
    version *v4;
    CHECK_OK(apply1(v3, 2, a2, 0, NULL, &v4, NULL));
    CHECK_EQ(version_table_count(v4), 2);
    ver_table_unref(a2);

    ver_table_unref(a);
    ver_table_unref(b);
    ver_table_unref(c);
    ver_table_unref(d);
    ver_table_unref(f);
    ver_table_unref(g);
    CHECK_EQ(tr.freed[6], 1);
    /* release out of order: a lives in v1..v3; b, c in v1, v2; d, f in v3, v4 */
    version_unref(v2);
    CHECK(!tr.freed[1] && !tr.freed[2] && !tr.freed[3]);
    version_unref(v0);
    version_unref(v3);
    CHECK(!tr.freed[1] && !tr.freed[2] && !tr.freed[3]);
    CHECK(!tr.freed[4] && !tr.freed[5]);
    version_unref(v1);
    CHECK(tr.freed[1] == 1 && tr.freed[2] == 1 && tr.freed[3] == 1);
    CHECK(!tr.freed[4] && !tr.freed[5]);
    version_unref(v4);
    for (int i = 1; i <= 6; i++)
        CHECK_EQ(tr.freed[i], 1);
}

/* A model-checked random walk: tables live in slots (key ranges
 * [slot*100, slot*100+99]) so that any level >= 1 holds at most one table
 * per slot; every version is kept, checked against the model, then all are
 * released in random order and each table must be freed exactly when the
 * last version holding it goes. */
#define RW_SLOTS 12
#define RW_VERSIONS 300

typedef struct rw_model {
    /* per version: level of each table number (-1 = absent) */
    int8_t level[MAX_TABLES];
} rw_model;

static void rw_key(char *buf, int slot, int off) { snprintf(buf, 16, "%04d", slot * 100 + off); }

static int rw_slot_of(const ver_table *t) { return ((t->smallest[0] - '0') * 1000 + (t->smallest[1] - '0') * 100 + (t->smallest[2] - '0') * 10 + (t->smallest[3] - '0')) / 100; }

TEST(refcount_random_walk)
{
    static tracker tr;
    static rw_model models[RW_VERSIONS];
    memset(&tr, 0, sizeof tr);
    trng r;
    trng_seed(&r, check_seed);
    version *vs[RW_VERSIONS];
    vs[0] = version_new_empty(9, 5);
    memset(models[0].level, -1, sizeof models[0].level);
    uint64_t next = 1, seq = 1;
    int rejected = 0;
    for (int n = 1; n < RW_VERSIONS; n++) {
        version *base = vs[n - 1];
        rw_model *m = &models[n];
        *m = models[n - 1];
        ver_edit e;
        ver_edit_init(&e);
        int expect_fail = 0;
        int op = (int)trng_below(&r, 5);
        char lo[16], hi[16];
        if (op == 0 || base->levels[0].count == 0) {
            /* flush: a new L0 table in a random slot */
            int slot = (int)trng_below(&r, RW_SLOTS);
            int a = (int)trng_below(&r, 100), b = (int)trng_below(&r, 100);
            rw_key(lo, slot, a < b ? a : b);
            rw_key(hi, slot, a < b ? b : a);
            ver_table *t = mk(&tr, next, lo, hi, seq, seq + trng_below(&r, 5), 1 + trng_below(&r, 1000));
            seq = t->max_seqno + 1;
            CHECK_OK(ver_edit_add(&e, 0, t));
            m->level[next++] = 0;
            ver_table_unref(t);
        } else if (op == 1) {
            /* drop an L0 table */
            ver_table *t = base->levels[0].tables[trng_below(&r, base->levels[0].count)];
            CHECK_OK(ver_edit_remove(&e, 0, t));
            m->level[t->number] = -1;
        } else if (op == 2 || op == 3) {
            /* move an L0 table down, replacing whatever holds its slot there */
            ver_table *t = base->levels[0].tables[trng_below(&r, base->levels[0].count)];
            int to = 1 + (int)trng_below(&r, 4);
            int slot = rw_slot_of(t);
            for (size_t i = 0; i < base->levels[to].count; i++)
                if (rw_slot_of(base->levels[to].tables[i]) == slot) {
                    CHECK_OK(ver_edit_remove(&e, to, base->levels[to].tables[i]));
                    m->level[base->levels[to].tables[i]->number] = -1;
                }
            CHECK_OK(ver_edit_remove(&e, 0, t));
            CHECK_OK(ver_edit_add(&e, to, t));
            m->level[t->number] = (int8_t)to;
        } else {
            /* an invalid edit: a new table overlapping an occupied slot of L1+ */
            int to = 1 + (int)trng_below(&r, 4);
            if (base->levels[to].count == 0) {
                to = 0;
            } else {
                expect_fail = 1;
            }
            ver_table *occupant = to ? base->levels[to].tables[trng_below(&r, base->levels[to].count)] : NULL;
            int slot = occupant ? rw_slot_of(occupant) : 0;
            rw_key(lo, slot, 0);
            rw_key(hi, slot, 99);
            ver_table *t = mk(&tr, next, lo, hi, seq, seq, 1);
            seq++;
            CHECK_OK(ver_edit_add(&e, to, t));
            if (!expect_fail)
                m->level[next] = 0;
            next++;
            ver_table_unref(t);
        }
        CHECK(next < MAX_TABLES);
        version *nv = NULL;
        tind_err err;
        int rc = version_apply(base, &e, &nv, &err);
        ver_edit_free(&e);
        if (expect_fail) {
            CHECK_RC(rc, TIND_EINVAL);
            CHECK(strstr(err.msg, "overlaps") != NULL);
            rejected++;
            *m = models[n - 1];
            version_ref(base);
            nv = base;
        } else {
            CHECK_OK(rc);
        }
        vs[n] = nv;
        check_invariants(nv);
        for (uint64_t num = 1; num < next; num++) {
            int l = version_find_table(nv, num, NULL);
            if (l != m->level[num])
                check_fail(__FILE__, __LINE__, "version %d: table %" PRIu64 " at level %d, model says %d", n,
                           num, l, m->level[num]);
        }
    }
    CHECK(rejected > 0);
    /* release in random order */
    int order[RW_VERSIONS];
    for (int i = 0; i < RW_VERSIONS; i++)
        order[i] = i;
    for (int i = RW_VERSIONS - 1; i > 0; i--) {
        int j = (int)trng_below(&r, (uint64_t)i + 1);
        int x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    static int alive[RW_VERSIONS];
    for (int i = 0; i < RW_VERSIONS; i++)
        alive[i] = 1;
    for (int k = 0; k < RW_VERSIONS; k++) {
        version_unref(vs[order[k]]);
        alive[order[k]] = 0;
        if (k % 7 != 0 && k != RW_VERSIONS - 1)
            continue;
        for (uint64_t num = 1; num < next; num++) {
            int held = 0;
            for (int i = 0; i < RW_VERSIONS && !held; i++)
                held = alive[i] && models[i].level[num] >= 0;
            if (tr.freed[num] != !held)
                check_fail(__FILE__, __LINE__, "after %d releases: table %" PRIu64 " freed %d times, held=%d", k + 1,
                           num, tr.freed[num], held);
        }
    }
    for (uint64_t num = 1; num < next; num++)
        CHECK_EQ(tr.freed[num], 1);
}

/* ------------------------------------------------------------------ queries */

/* Random distinct sorted keys over a tiny alphabet (many shared prefixes). */
static int rk_cmp(const void *a, const void *b)
{
    const tbuf *x = a, *y = b;
    return key_cmp(x->data, x->len, y->data, y->len);
}

static void random_key(trng *r, tbuf *k)
{
    size_t n = 1 + trng_below(r, 4);
    tbuf_reset(k);
    for (size_t i = 0; i < n; i++)
        CHECK_OK(tbuf_append_u8(k, (uint8_t)("\0abz\xff"[trng_below(r, 5)])));
}

static size_t sorted_keys(trng *r, tbuf *keys, size_t want)
{
    for (size_t i = 0; i < want; i++) {
        keys[i] = (tbuf)TBUF_INIT;
        random_key(r, &keys[i]);
    }
    qsort(keys, want, sizeof *keys, rk_cmp);
    size_t n = 0;
    for (size_t i = 0; i < want; i++) {
        if (n && rk_cmp(&keys[n - 1], &keys[i]) == 0) {
            tbuf_free(&keys[i]);
            continue;
        }
        keys[n++] = keys[i];
    }
    return n;
}

static int overlaps_range(const ver_table *t, const tbuf *lo, const tbuf *hi)
{
    if (lo && key_cmp(t->largest, t->largest_len, lo->data, lo->len) < 0)
        return 0;
    if (hi && key_cmp(t->smallest, t->smallest_len, hi->data, hi->len) > 0)
        return 0;
    return 1;
}

TEST(find_and_overlapping)
{
    trng r;
    trng_seed(&r, check_seed + 1);
    for (int round = 0; round < 40; round++) {
        tbuf keys[200];
        size_t total = sorted_keys(&r, keys, 2 + trng_below(&r, 120));
        size_t n = total & ~(size_t)1;
        /* level 1: pairs (k0,k1), (k2,k3)... with random gaps (drop some pairs) */
        version *v = version_new_empty(1, 3);
        ver_edit e;
        ver_edit_init(&e);
        uint64_t num = 1;
        for (size_t i = 0; i + 1 < n; i += 2) {
            if (trng_below(&r, 4) == 0)
                continue;
            ver_table *t = ver_table_new(num++, 1, 1, 0, 1, 1, 0, keys[i].data, keys[i].len, keys[i + 1].data,
                                         keys[i + 1].len);
            CHECK(t);
            CHECK_OK(ver_edit_add(&e, 1, t));
            ver_table_unref(t);
        }
        /* level 0: random overlapping ranges */
        for (int i = 0; i < 8 && n >= 2; i++) {
            size_t a = trng_below(&r, n), b = trng_below(&r, n);
            if (a > b) {
                size_t x = a;
                a = b;
                b = x;
            }
            ver_table *t = ver_table_new(num++, 1, 1, 0, (uint64_t)i + 1, (uint64_t)i + 1, 0, keys[a].data, keys[a].len,
                                         keys[b].data, keys[b].len);
            CHECK_OK(ver_edit_add(&e, 0, t));
            ver_table_unref(t);
        }
        version *nv;
        CHECK_OK(version_apply(v, &e, &nv, NULL));
        ver_edit_free(&e);
        version_unref(v);
        v = nv;
        check_invariants(v);
        const ver_level *l1 = &v->levels[1];
        const ver_level *l0 = &v->levels[0];
        CHECK_EQ(version_find_level_table(v, 0, (const uint8_t *)"a", 1), -1);
        CHECK_EQ(version_find_level_table(v, 3, (const uint8_t *)"a", 1), -1);
        CHECK_EQ(version_find_level_table(v, 2, (const uint8_t *)"a", 1), -1);
        ver_table_list list = {0};
        CHECK_RC(version_overlapping(v, 3, NULL, 0, NULL, 0, &list), TIND_EINVAL);
        for (int probe = 0; probe < 200; probe++) {
            tbuf k = TBUF_INIT, k2 = TBUF_INIT;
            random_key(&r, &k);
            random_key(&r, &k2);
            /* find_level_table against brute force */
            int want = -1;
            for (size_t i = 0; i < l1->count; i++) {
                const ver_table *t = l1->tables[i];
                if (key_cmp(t->smallest, t->smallest_len, k.data, k.len) <= 0 &&
                    key_cmp(k.data, k.len, t->largest, t->largest_len) <= 0)
                    want = (int)i;
            }
            CHECK_EQ(version_find_level_table(v, 1, k.data, k.len), want);
            /* overlapping on L1 against brute force */
            int bounds = (int)trng_below(&r, 4);
            const tbuf *lo = (bounds & 1) ? &k : NULL, *hi = (bounds & 2) ? &k2 : NULL;
            CHECK_OK(version_overlapping(v, 1, lo ? lo->data : NULL, lo ? lo->len : 0, hi ? hi->data : NULL,
                                         hi ? hi->len : 0, &list));
            size_t j = 0;
            for (size_t i = 0; i < l1->count; i++)
                if (overlaps_range(l1->tables[i], lo, hi)) {
                    CHECK(j < list.count);
                    CHECK(list.tables[j] == l1->tables[i]);
                    j++;
                }
            CHECK_EQ(j, list.count);
            /* overlapping on L0: the fixpoint closure, in level order */
            int in[16] = {0};
            tbuf clo = TBUF_INIT, chi = TBUF_INIT;
            if (lo)
                CHECK_OK(tbuf_set(&clo, lo->data, lo->len));
            if (hi)
                CHECK_OK(tbuf_set(&chi, hi->data, hi->len));
            for (int changed = 1; changed;) {
                changed = 0;
                for (size_t i = 0; i < l0->count; i++) {
                    const ver_table *t = l0->tables[i];
                    if (in[i] || !overlaps_range(t, lo ? &clo : NULL, hi ? &chi : NULL))
                        continue;
                    in[i] = 1;
                    changed = 1;
                    if (lo && key_cmp(t->smallest, t->smallest_len, clo.data, clo.len) < 0)
                        CHECK_OK(tbuf_set(&clo, t->smallest, t->smallest_len));
                    if (hi && key_cmp(t->largest, t->largest_len, chi.data, chi.len) > 0)
                        CHECK_OK(tbuf_set(&chi, t->largest, t->largest_len));
                }
            }
            CHECK_OK(version_overlapping(v, 0, lo ? lo->data : NULL, lo ? lo->len : 0, hi ? hi->data : NULL,
                                         hi ? hi->len : 0, &list));
            j = 0;
            for (size_t i = 0; i < l0->count; i++)
                if (in[i]) {
                    CHECK(j < list.count);
                    CHECK(list.tables[j] == l0->tables[i]);
                    j++;
                }
            CHECK_EQ(j, list.count);
            tbuf_free(&clo);
            tbuf_free(&chi);
            tbuf_free(&k);
            tbuf_free(&k2);
        }
        ver_table_list_free(&list);
        version_unref(v);
        for (size_t i = 0; i < total; i++)
            tbuf_free(&keys[i]);
    }
}


/* ------------------------------------------------------------------ threads */

/* Readers pin the current version (under a mutex, as the engine's view_mu)
 * and walk it while a writer installs new versions and drops old ones: each
 * table must be freed exactly once, after the last reader lets go, and the
 * obsolete flag set by the writer must be seen by whichever thread frees.
 * TSAN-LABEL: run under ThreadSanitizer by `make test-tsan`. */
typedef struct conc {
    pthread_mutex_t mu;
    version *current;
    _Atomic int stop;
    _Atomic uint64_t walks;
} conc;

static void *conc_reader(void *arg)
{
    conc *c = arg;
    uint64_t sum = 0;
    while (!atomic_load(&c->stop)) {
        pthread_mutex_lock(&c->mu);
        version *v = c->current;
        version_ref(v);
        pthread_mutex_unlock(&c->mu);
        for (int l = 0; l < v->level_count; l++)
            for (size_t i = 0; i < v->levels[l].count; i++) {
                ver_table *t = v->levels[l].tables[i];
                sum += t->number + t->smallest[0] + t->largest_len;
                if (ver_table_claim(t))
                    ver_table_unclaim(t);
            }
        sum += (uint64_t)version_find_level_table(v, 1, (const uint8_t *)"0500", 4);
        ver_table_list list = {0};
        CHECK_OK(version_overlapping(v, 0, (const uint8_t *)"0100", 4, (const uint8_t *)"0300", 4, &list));
        sum += list.count;
        ver_table_list_free(&list);
        version_unref(v);
        atomic_fetch_add(&c->walks, 1);
    }
    return (void *)(uintptr_t)sum;
}

TEST(concurrent_readers)
{
    static tracker tr;
    memset(&tr, 0, sizeof tr);
    conc c;
    pthread_mutex_init(&c.mu, NULL);
    c.current = version_new_empty(1, 3);
    atomic_init(&c.stop, 0);
    atomic_init(&c.walks, 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, conc_reader, &c), 0);
    /* the edits start once a reader walks (a loaded machine may start the
     * threads after 3,000 edits are done: CI met it once) */
    for (int waits = 0; waits < 10000 && !atomic_load(&c.walks); waits++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    trng r;
    trng_seed(&r, check_seed + 6);
    uint64_t next = 1, seq = 1;
    int removed[MAX_TABLES] = {0};
    for (int n = 0; n < 3000; n++) {
        version *base = c.current; /* only this thread replaces it */
        ver_edit e;
        ver_edit_init(&e);
        ver_table *victim = NULL;
        if (base->levels[0].count >= 6) {
            victim = base->levels[0].tables[base->levels[0].count - 1]; /* the oldest */
            CHECK_OK(ver_edit_remove(&e, 0, victim));
        }
        char lo[16], hi[16];
        int a = (int)trng_below(&r, 1000);
        snprintf(lo, sizeof lo, "%04d", a);
        snprintf(hi, sizeof hi, "%04d", a + (int)trng_below(&r, 100));
        ver_table *t = mk(&tr, next++, lo, hi, seq, seq, 1);
        seq++;
        CHECK_OK(ver_edit_add(&e, 0, t));
        ver_table_unref(t);
        version *nv;
        CHECK_OK(version_apply(base, &e, &nv, NULL));
        ver_edit_free(&e);
        if (victim) {
            atomic_store(&victim->obsolete, 1); /* before it can be freed: base still holds it */
            removed[victim->number] = 1;
        }
        pthread_mutex_lock(&c.mu);
        c.current = nv;
        pthread_mutex_unlock(&c.mu);
        version_unref(base);
        if (n % 500 == 0)
            sched_yield();
    }
    atomic_store(&c.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&c.walks) > 0);
    for (uint64_t num = 1; num < next; num++)
        CHECK_EQ(tr.freed[num], removed[num]);
    version_unref(c.current);
    for (uint64_t num = 1; num < next; num++) {
        CHECK_EQ(tr.freed[num], 1);
        CHECK_EQ(tr.obsolete_seen[num], removed[num]);
    }
    pthread_mutex_destroy(&c.mu);
}

/* ------------------------------------------------------------------ version file */

/* A state like the engine's: several keyspaces, levels, tables. The names,
 * options and versions are owned by the state (mf_state_free). */
static void build_state(mf_state *st, trng *r, int tables_per_level)
{
    static const char *names[] = {"default", "gr\xc3\xb6\xc3\x9f" "e", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                                  "odd \x01\x7f\t\"'\\/..%s%n \xf0\x9f\x98\x80", NULL};
    memset(st, 0, sizeof *st);
    st->format_version = MANIFEST_FORMAT_VERSION;
    st->next_file_number = 100000;
    st->last_seqno = 5000000;
    st->oldest_journal = 99990;
    st->next_keyspace_id = 40;
    st->db_id = trng_next(r);
    st->journal_seqno = trng_below(r, 2) ? 0 : 1 + trng_below(r, st->last_seqno);
    st->next_seqno = st->last_seqno + 1 + trng_below(r, 1000);
    st->keyspace_count = 5;
    st->keyspaces = calloc(st->keyspace_count, sizeof *st->keyspaces);
    CHECK(st->keyspaces);
    uint64_t num = 1;
    for (size_t k = 0; k < st->keyspace_count; k++) {
        mf_keyspace *m = &st->keyspaces[k];
        m->id = (uint32_t)(k * 7 + 1);
        if (names[k]) {
            m->name = strdup(names[k]);
        } else {
            m->name = malloc(256);
            memset(m->name, 'x', 255);
            m->name[0] = (char)('A' + k);
            m->name[255] = 0;
        }
        m->name_len = strlen(m->name);
        m->options_len = k == 2 ? 0 : 3 + k * 5;
        m->options = malloc(m->options_len + 1);
        for (size_t i = 0; i < m->options_len; i++)
            m->options[i] = (uint8_t)trng_next(r);
        m->flushed_seqno = k == 1 ? 0 : 4000000 + k;
        int levels = k == 3 ? 2 : 7;
        version *v = version_new_empty(m->id, levels);
        ver_edit e;
        ver_edit_init(&e);
        for (int l = 0; l < levels; l++) {
            if (k == 2)
                break; /* an empty keyspace */
            int count = (int)trng_below(r, (uint64_t)tables_per_level + 1);
            for (int i = 0; i < count; i++) {
                uint8_t lo[8], hi[8];
                size_t lon, hin;
                if (l == 0) {
                    lon = 1 + trng_below(r, 7);
                    hin = 1 + trng_below(r, 7);
                    for (size_t b = 0; b < 8; b++) {
                        lo[b] = (uint8_t)trng_next(r);
                        hi[b] = (uint8_t)trng_next(r);
                    }
                    if (key_cmp(lo, lon, hi, hin) > 0) {
                        uint8_t t[8];
                        memcpy(t, lo, 8);
                        memcpy(lo, hi, 8);
                        memcpy(hi, t, 8);
                        size_t x = lon;
                        lon = hin;
                        hin = x;
                    }
                } else {
                    /* disjoint: big-endian (i*2, i*2+1) with a binary suffix */
                    enc_u32(lo, 0);
                    lo[0] = (uint8_t)(i >> 8);
                    lo[1] = (uint8_t)i;
                    lo[2] = 0;
                    lon = 3;
                    memcpy(hi, lo, 3);
                    hi[2] = 0xff;
                    hi[3] = (uint8_t)trng_next(r);
                    hin = 4;
                }
                uint64_t maxs = 1 + trng_below(r, st->last_seqno);
                uint64_t mins = trng_below(r, maxs + 1);
                uint64_t entries = trng_next(r) >> trng_below(r, 64);
                ver_table *t = ver_table_new(num++, trng_next(r) >> trng_below(r, 64), entries,
                                             entries ? trng_below(r, entries) : 0, mins, maxs, trng_next(r), lo, lon, hi,
                                             hin);
                CHECK(t);
                t->table_id = i % 4 == 3 ? 0 : trng_next(r); /* 0: a table from before identities */
                CHECK_OK(ver_edit_add(&e, l, t));
                ver_table_unref(t);
                if (i % 3 == 0)
                    num += trng_below(r, 1000); /* gaps in numbering */
            }
        }
        ver_edit_set_flushed_seqno(&e, m->flushed_seqno);
        CHECK_OK(version_apply(v, &e, &m->v, NULL));
        ver_edit_free(&e);
        version_unref(v);
    }
    CHECK(num < st->next_file_number);
}

static void check_same_table(const ver_table *a, const ver_table *b)
{
    CHECK_EQ(a->number, b->number);
    CHECK_EQ(a->size, b->size);
    CHECK_EQ(a->entries, b->entries);
    CHECK_EQ(a->tombstones, b->tombstones);
    CHECK_EQ(a->min_seqno, b->min_seqno);
    CHECK_EQ(a->max_seqno, b->max_seqno);
    CHECK_EQ(a->created_unix, b->created_unix);
    CHECK_EQ(a->table_id, b->table_id);
    CHECK_MEM(a->smallest, a->smallest_len, b->smallest, b->smallest_len);
    CHECK_MEM(a->largest, a->largest_len, b->largest, b->largest_len);
}

static void check_same_state(const mf_state *a, const mf_state *b)
{
    CHECK_EQ(a->format_version, b->format_version);
    CHECK_EQ(a->next_file_number, b->next_file_number);
    CHECK_EQ(a->last_seqno, b->last_seqno);
    CHECK_EQ(a->oldest_journal, b->oldest_journal);
    CHECK_EQ(a->next_keyspace_id, b->next_keyspace_id);
    CHECK_EQ(a->db_id, b->db_id);
    CHECK_EQ(a->journal_seqno, b->journal_seqno);
    CHECK_EQ(a->next_seqno, b->next_seqno);
    CHECK_EQ(a->keyspace_count, b->keyspace_count);
    for (size_t k = 0; k < a->keyspace_count; k++) {
        const mf_keyspace *x = &a->keyspaces[k], *y = &b->keyspaces[k];
        CHECK_EQ(x->id, y->id);
        CHECK_MEM(x->name, x->name_len, y->name, y->name_len);
        CHECK_EQ(strlen(y->name), y->name_len);
        CHECK_MEM(x->options, x->options_len, y->options, y->options_len);
        CHECK_EQ(x->flushed_seqno, y->flushed_seqno);
        CHECK_EQ(x->v->level_count, y->v->level_count);
        CHECK_EQ(y->v->keyspace_id, y->id);
        CHECK_EQ(y->v->flushed_seqno, y->flushed_seqno);
        CHECK_EQ(atomic_load(&y->v->refs), 1);
        for (int l = 0; l < x->v->level_count; l++) {
            CHECK_EQ(x->v->levels[l].count, y->v->levels[l].count);
            CHECK_EQ(x->v->levels[l].bytes, y->v->levels[l].bytes);
            for (size_t i = 0; i < x->v->levels[l].count; i++) {
                check_same_table(x->v->levels[l].tables[i], y->v->levels[l].tables[i]);
                CHECK(y->v->levels[l].tables[i]->on_free == NULL);
                CHECK_EQ(atomic_load(&y->v->levels[l].tables[i]->refs), 1);
            }
        }
        check_invariants(y->v);
    }
}

TEST(manifest_roundtrip)
{
    trng r;
    trng_seed(&r, check_seed + 2);
    for (int round = 0; round < 20; round++) {
        mf_state st, back;
        build_state(&st, &r, round < 2 ? 0 : 6);
        tbuf b = TBUF_INIT;
        CHECK_OK(tbuf_append(&b, "junk", 4)); /* encode appends */
        CHECK_OK(manifest_encode(&st, &b, NULL));
        tind_err err;
        err_clear(&err);
        int rc = manifest_decode(b.data + 4, b.len - 4, &back, &err);
        if (rc)
            check_fail(__FILE__, __LINE__, "decode: %s", err.msg);
        check_same_state(&st, &back);
        /* encoding the decoded state gives the same bytes */
        tbuf b2 = TBUF_INIT;
        CHECK_OK(manifest_encode(&back, &b2, NULL));
        CHECK_MEM(b.data + 4, b.len - 4, b2.data, b2.len);
        tbuf_free(&b2);
        tbuf_free(&b);
        mf_state_free(&back);
        CHECK(back.keyspaces == NULL && back.keyspace_count == 0);
        mf_state_free(&st);
    }
    /* the empty database */
    mf_state st, back;
    memset(&st, 0, sizeof st);
    st.next_file_number = 1;
    tbuf b = TBUF_INIT;
    CHECK_OK(manifest_encode(&st, &b, NULL));
    CHECK_EQ(b.len, MANIFEST_HEADER_LEN + 5 + 10 + MANIFEST_TRAILER_LEN); /* + db id, journal seqno, next seqno */
    CHECK_OK(manifest_decode(b.data, b.len, &back, NULL));
    CHECK_EQ(back.format_version, MANIFEST_FORMAT_VERSION);
    CHECK_EQ(back.next_file_number, 1);
    CHECK_EQ(back.keyspace_count, 0);
    mf_state_free(&back);
    tbuf_free(&b);
}

TEST(manifest_encode_rejects)
{
    trng r;
    trng_seed(&r, check_seed + 3);
    mf_state st;
    build_state(&st, &r, 3);
    tbuf b = TBUF_INIT;
    CHECK_OK(tbuf_append(&b, "x", 1));
    tind_err err;
#define REJECT(what)                                                         \
    do {                                                                     \
        err_clear(&err);                                                     \
        CHECK_RC(manifest_encode(&st, &b, &err), TIND_EINVAL);               \
        CHECK_EQ(b.len, 1);                                                  \
        CHECK(strstr(err.msg, what) != NULL);                                \
    } while (0)
    mf_keyspace *m = &st.keyspaces[1];
    uint32_t id = m->id;
    m->id = st.keyspaces[0].id;
    REJECT("version of keyspace"); /* its version names another keyspace */
    version *own = m->v;
    m->v = st.keyspaces[0].v;
    REJECT("share id");
    m->v = own;
    m->id = st.next_keyspace_id;
    REJECT("next keyspace id");
    m->id = id;
    char *name = m->name;
    m->name = st.keyspaces[0].name;
    m->name_len = st.keyspaces[0].name_len;
    REJECT("two keyspaces named");
    m->name = "bad\xc3";
    m->name_len = 4;
    REJECT("UTF-8");
    m->name = "a\0b";
    m->name_len = 3;
    REJECT("UTF-8");
    m->name_len = 0;
    REJECT("UTF-8");
    m->name = name;
    m->name_len = strlen(name);
    m->flushed_seqno = st.last_seqno + 1;
    REJECT("flushed seqno");
    m->flushed_seqno = 0;
    uint64_t nfn = st.next_file_number;
    st.next_file_number = 2;
    REJECT("next file number");
    st.next_file_number = nfn;
    uint64_t last = st.last_seqno;
    st.last_seqno = 1;
    REJECT("seqno");
    st.last_seqno = last;
    version *v = m->v;
    m->v = NULL;
    REJECT("no version");
    m->v = v;
    st.format_version = MANIFEST_FORMAT_VERSION + 1;
    REJECT("format version");
    st.format_version = 0; /* = current */
    /* a table number shared by two keyspaces */
    ver_table *t = ver_table_new(st.keyspaces[0].v->levels[0].count ? st.keyspaces[0].v->levels[0].tables[0]->number
                                                                     : 1,
                                 1, 1, 0, 1, 1, 0, (const uint8_t *)"q", 1, (const uint8_t *)"q", 1);
    version *nv;
    CHECK_OK(apply1(st.keyspaces[2].v, 0, NULL, 0, t, &nv, NULL));
    ver_table_unref(t);
    version *old = st.keyspaces[2].v;
    st.keyspaces[2].v = nv;
    if (st.keyspaces[0].v->levels[0].count)
        REJECT("listed twice");
    st.keyspaces[2].v = old;
    version_unref(nv);
#undef REJECT
    CHECK_OK(manifest_encode(&st, &b, &err));
    tbuf_free(&b);
    mf_state_free(&st);
}

/* Decodes and expects rc; the out state must be zeroed on failure. */
static void expect_decode(const uint8_t *p, size_t n, int want, const char *msg_part)
{
    mf_state out;
    memset(&out, 0xAB, sizeof out);
    tind_err err;
    err_clear(&err);
    int rc = manifest_decode(p, n, &out, &err);
    if (rc != want)
        check_fail(__FILE__, __LINE__, "decode of %zu bytes: got %d (%s), want %d: %s", n, rc, tind_strerror(rc), want,
                   err.msg);
    if (rc && msg_part && getenv("TIND_VERBOSE"))
        fprintf(stderr, "    %s\n", err.msg);
    if (rc) {
        CHECK(out.keyspaces == NULL && out.keyspace_count == 0 && out.next_file_number == 0);
        if (msg_part && !strstr(err.msg, msg_part))
            check_fail(__FILE__, __LINE__, "message '%s' lacks '%s'", err.msg, msg_part);
        CHECK(strncmp(err.msg, "version file", 12) == 0);
    }
    mf_state_free(&out);
}

TEST(manifest_flips_and_truncation)
{
    trng r;
    trng_seed(&r, check_seed + 4);
    mf_state st;
    build_state(&st, &r, 2);
    tbuf b = TBUF_INIT;
    CHECK_OK(manifest_encode(&st, &b, NULL));
    mf_state_free(&st);
    uint8_t *copy = malloc(b.len + 16);
    size_t flips = 0;
    for (size_t i = 0; i < b.len; i++) {
        uint8_t xs[4] = {0x01, 0x80, 0xff, (uint8_t)(1 + trng_below(&r, 255))};
        for (int k = 0; k < 4; k++) {
            memcpy(copy, b.data, b.len);
            copy[i] ^= xs[k];
            expect_decode(copy, b.len, TIND_ECORRUPT, NULL);
            flips++;
        }
    }
    /* every truncation, and bytes appended */
    for (size_t n = 0; n < b.len; n++)
        expect_decode(b.data, n, TIND_ECORRUPT, NULL);
    memcpy(copy, b.data, b.len);
    memcpy(copy + b.len, "\0\0\0\0\0\0\0\0", 8);
    expect_decode(copy, b.len + 1, TIND_ECORRUPT, NULL);
    expect_decode(copy, b.len + 8, TIND_ECORRUPT, NULL);
    expect_decode(b.data, b.len, TIND_OK, NULL);
    CHECK(flips >= 4 * 100);
    /* the checksum covers the version field: a newer version with a stale
     * checksum is corruption, with a valid one it is TIND_EVERSION */
    memcpy(copy, b.data, b.len);
    enc_u32(copy + 8, MANIFEST_FORMAT_VERSION + 1);
    expect_decode(copy, b.len, TIND_ECORRUPT, "checksum");
    enc_u64(copy + b.len - 8, hash64(copy, b.len - 8));
    expect_decode(copy, b.len, TIND_EVERSION, "newer");
    enc_u32(copy + 8, 0xffffffffu);
    enc_u64(copy + b.len - 8, hash64(copy, b.len - 8));
    expect_decode(copy, b.len, TIND_EVERSION, NULL);
    enc_u32(copy + 8, 0);
    enc_u64(copy + b.len - 8, hash64(copy, b.len - 8));
    expect_decode(copy, b.len, TIND_ECORRUPT, "format version 0");
    enc_u32(copy + 8, MANIFEST_FORMAT_VERSION);
    enc_u32(copy + 12, 1);
    enc_u64(copy + b.len - 8, hash64(copy, b.len - 8));
    expect_decode(copy, b.len, TIND_ECORRUPT, "reserved");
    memcpy(copy, b.data, b.len);
    copy[0] = 'X';
    expect_decode(copy, b.len, TIND_ECORRUPT, "magic");
    free(copy);
    tbuf_free(&b);
}

/* ---- an independent encoder, written from docs (format-version.md) ---- */

typedef struct raw_tbl {
    uint64_t f[7]; /* number, size, entries, tombstones, min seqno, max seqno, created */
    uint64_t id;   /* format 2: table id (u64 LE) */
    const char *lo, *hi;
    uint64_t blob_refs;
} raw_tbl;

typedef struct raw_ks {
    uint64_t id;
    const char *name;
    size_t name_len;
    uint64_t flushed;
    uint64_t blob_files;
    uint64_t levels;
    raw_tbl tables[4];
    int table_level[4];
    int table_count;
} raw_ks;

typedef struct raw_db {
    uint64_t next_file, last_seqno, oldest_journal, next_ks;
    uint64_t db_id, journal_seqno, next_seqno; /* format 2 */
    uint64_t ks_count; /* as written (may lie) */
    raw_ks ks[3];
    int nks;
    uint32_t version, reserved;
    const char *trailing; /* extra payload bytes */
} raw_db;

static void v(tbuf *b, uint64_t x) { CHECK_OK(tbuf_append_varint(b, x)); }

static void raw_encode(const raw_db *d, tbuf *out)
{
    tbuf p = TBUF_INIT;
    v(&p, d->next_file);
    v(&p, d->last_seqno);
    v(&p, d->oldest_journal);
    v(&p, d->next_ks);
    if (d->version >= 2) {
        CHECK_OK(tbuf_append_u64(&p, d->db_id));
        v(&p, d->journal_seqno);
        v(&p, d->next_seqno);
    }
    v(&p, d->ks_count);
    for (int k = 0; k < d->nks; k++) {
        const raw_ks *ks = &d->ks[k];
        v(&p, ks->id);
        v(&p, ks->name_len);
        CHECK_OK(tbuf_append(&p, ks->name, ks->name_len));
        v(&p, 2);
        CHECK_OK(tbuf_append(&p, "\x01\x00", 2)); /* options */
        v(&p, ks->flushed);
        v(&p, ks->blob_files);
        v(&p, ks->levels);
        for (int l = 0; l < (int)ks->levels; l++) {
            int count = 0;
            for (int i = 0; i < ks->table_count; i++)
                count += ks->table_level[i] == l;
            v(&p, (uint64_t)count);
            for (int i = 0; i < ks->table_count; i++) {
                if (ks->table_level[i] != l)
                    continue;
                const raw_tbl *t = &ks->tables[i];
                for (int f = 0; f < 7; f++)
                    v(&p, t->f[f]);
                if (d->version >= 2)
                    CHECK_OK(tbuf_append_u64(&p, t->id));
                v(&p, strlen(t->lo));
                CHECK_OK(tbuf_append(&p, t->lo, strlen(t->lo)));
                v(&p, strlen(t->hi));
                CHECK_OK(tbuf_append(&p, t->hi, strlen(t->hi)));
                v(&p, t->blob_refs);
            }
        }
    }
    if (d->trailing)
        CHECK_OK(tbuf_append(&p, d->trailing, strlen(d->trailing)));
    tbuf_reset(out);
    CHECK_OK(tbuf_append(out, "TINDVER\x01", 8));
    CHECK_OK(tbuf_append_u32(out, d->version));
    CHECK_OK(tbuf_append_u32(out, d->reserved));
    CHECK_OK(tbuf_append_u64(out, p.len));
    CHECK_OK(tbuf_append(out, p.data, p.len));
    CHECK_OK(tbuf_append_u64(out, hash64(out->data, out->len)));
    tbuf_free(&p);
}

static raw_db raw_good(void)
{
    raw_db d;
    memset(&d, 0, sizeof d);
    d.next_file = 50;
    d.last_seqno = 1000;
    d.oldest_journal = 40;
    d.next_ks = 3;
    d.ks_count = 2;
    d.nks = 2;
    d.version = 2;
    d.db_id = 0x0123456789abcdefull;
    d.journal_seqno = 901;
    d.next_seqno = 1201;
    d.ks[0] = (raw_ks){.id = 0, .name = "default", .name_len = 7, .flushed = 900, .levels = 7, .table_count = 3};
    d.ks[0].tables[0] = (raw_tbl){{7, 4096, 100, 3, 1, 500, 1700000000}, 0xfedcba9876543210ull, "apple", "melon", 0};
    d.ks[0].tables[1] = (raw_tbl){{9, 2048, 50, 0, 501, 900, 1700000100}, 77, "banana", "zebra", 0};
    d.ks[0].tables[2] = (raw_tbl){{3, 8192, 10, 10, 1, 2, 1600000000}, 0, "k", "m", 0};
    d.ks[0].table_level[0] = 0;
    d.ks[0].table_level[1] = 0;
    d.ks[0].table_level[2] = 6;
    d.ks[1] = (raw_ks){.id = 2, .name = "\xce\xbb", .name_len = 2, .flushed = 0, .levels = 2, .table_count = 2};
    d.ks[1].tables[0] = (raw_tbl){{11, 1, 1, 0, 5, 5, 0}, 1, "a", "b", 0};
    d.ks[1].tables[1] = (raw_tbl){{12, 1, 1, 0, 5, 6, 0}, 2, "c", "d", 0};
    d.ks[1].table_level[0] = 1;
    d.ks[1].table_level[1] = 1;
    return d;
}

TEST(manifest_format_and_rejects)
{
    tbuf b = TBUF_INIT;
    raw_db d = raw_good();
    raw_encode(&d, &b);
    /* the raw bytes decode to what they say, and manifest_encode gives the
     * very same bytes (the documented format is the implemented one) */
    mf_state st;
    tind_err err;
    int rc = manifest_decode(b.data, b.len, &st, &err);
    if (rc)
        check_fail(__FILE__, __LINE__, "%s", err.msg);
    CHECK_EQ(st.keyspace_count, 2);
    CHECK_EQ(st.next_file_number, 50);
    CHECK_EQ(st.oldest_journal, 40);
    CHECK_EQ(st.db_id, 0x0123456789abcdefull);
    CHECK_EQ(st.journal_seqno, 901);
    CHECK_EQ(st.next_seqno, 1201);
    CHECK_EQ(st.keyspaces[0].v->levels[0].tables[0]->table_id, 77);
    CHECK_EQ(st.keyspaces[0].v->levels[0].count, 2);
    CHECK_EQ(st.keyspaces[0].v->levels[0].tables[0]->number, 9); /* newest first */
    CHECK_EQ(st.keyspaces[0].v->levels[6].tables[0]->number, 3);
    CHECK_MEM(st.keyspaces[0].options, st.keyspaces[0].options_len, "\x01\x00", 2);
    CHECK_EQ(st.keyspaces[1].v->level_count, 2);
    tbuf b2 = TBUF_INIT;
    CHECK_OK(manifest_encode(&st, &b2, NULL));
    /* L0 is stored newest first: swap the raw order to match */
    raw_tbl t0 = d.ks[0].tables[0];
    d.ks[0].tables[0] = d.ks[0].tables[1];
    d.ks[0].tables[1] = t0;
    raw_encode(&d, &b);
    CHECK_MEM(b.data, b.len, b2.data, b2.len);
    tbuf_free(&b2);
    mf_state_free(&st);

#define BAD(mutation, code, part)    \
    do {                             \
        d = raw_good();              \
        mutation;                    \
        raw_encode(&d, &b);          \
        expect_decode(b.data, b.len, code, part); \
    } while (0)
    BAD((void)0, TIND_OK, NULL);
    BAD(d.ks[1].id = 0, TIND_ECORRUPT, "share id");
    BAD(d.ks[1].id = 3, TIND_ECORRUPT, "next keyspace id");
    BAD((d.ks[1].name = "default", d.ks[1].name_len = 7), TIND_ECORRUPT, "two keyspaces named");
    BAD((d.ks[1].name = "a\0b", d.ks[1].name_len = 3), TIND_ECORRUPT, "UTF-8");
    BAD((d.ks[1].name = "\xff", d.ks[1].name_len = 1), TIND_ECORRUPT, "UTF-8");
    BAD((d.ks[1].name = "", d.ks[1].name_len = 0), TIND_ECORRUPT, "keyspace name");
    BAD(d.ks[1].tables[1].lo = "b", TIND_ECORRUPT, "overlaps");
    BAD(d.ks[0].tables[2].f[0] = 50, TIND_ECORRUPT, "next file number");
    BAD(d.ks[1].tables[1].f[0] = 7, TIND_ECORRUPT, "listed twice");
    BAD(d.ks[1].tables[1].f[0] = 11, TIND_ECORRUPT, "twice");
    BAD(d.ks[0].tables[0].f[5] = 1001, TIND_ECORRUPT, "last seqno");
    BAD(d.ks[0].tables[0].f[4] = 501, TIND_ECORRUPT, "min seqno");
    BAD(d.ks[0].tables[0].f[3] = 101, TIND_ECORRUPT, "tombstones");
    BAD((d.ks[0].tables[0].lo = "z", d.ks[0].tables[0].hi = "a"), TIND_ECORRUPT, "smallest key");
    BAD(d.ks[0].tables[0].lo = "", TIND_ECORRUPT, "smallest key");
    BAD(d.ks[0].flushed = 1001, TIND_ECORRUPT, "flushed seqno");
    BAD(d.oldest_journal = 51, TIND_ECORRUPT, "oldest journal");
    BAD(d.next_ks = 1ull << 32, TIND_ECORRUPT, "next keyspace id");
    BAD(d.ks[0].levels = 0, TIND_ECORRUPT, "levels");
    BAD(d.ks[0].levels = 8, TIND_ECORRUPT, "levels");
    BAD(d.ks_count = 3, TIND_ECORRUPT, "truncated keyspace id");
    BAD(d.ks_count = 1ull << 40, TIND_ECORRUPT, "keyspace count");
    BAD(d.ks_count = 1, TIND_ECORRUPT, "after the last keyspace");
    BAD(d.trailing = "x", TIND_ECORRUPT, "after the last keyspace");
    BAD(d.last_seqno = SEQNO_MAX + 1, TIND_ECORRUPT, "56-bit");
    /* key-value separation: a blob count is followed by its entries, which
     * these raw files do not have (test_blob checks the real ones) */
    BAD(d.ks[0].blob_files = 1, TIND_ECORRUPT, "blob");
    BAD(d.ks[1].tables[0].blob_refs = 2, TIND_ECORRUPT, NULL);
    BAD(d.version = 3, TIND_EVERSION, "newer");
    BAD(d.journal_seqno = SEQNO_MAX + 1, TIND_ECORRUPT, "journal seqno");
    BAD(d.reserved = 7, TIND_ECORRUPT, "reserved");
#undef BAD
    /* format 1 (0.1.x: no database id, journal seqno or table ids) is read
     * with ids 0, and written back as format 1 byte for byte */
    d = raw_good();
    d.version = 1;
    t0 = d.ks[0].tables[0]; /* L0 newest first, as written */
    d.ks[0].tables[0] = d.ks[0].tables[1];
    d.ks[0].tables[1] = t0;
    raw_encode(&d, &b);
    rc = manifest_decode(b.data, b.len, &st, &err);
    if (rc)
        check_fail(__FILE__, __LINE__, "%s", err.msg);
    CHECK_EQ(st.format_version, 1);
    CHECK_EQ(st.db_id, 0);
    CHECK_EQ(st.journal_seqno, 0);
    CHECK_EQ(st.keyspaces[0].v->levels[0].tables[0]->table_id, 0);
    b2 = (tbuf)TBUF_INIT;
    CHECK_OK(manifest_encode(&st, &b2, NULL));
    CHECK_MEM(b.data, b.len, b2.data, b2.len);
    tbuf_free(&b2);
    mf_state_free(&st);
    /* a key of 65535 bytes is fine, 65536 is not */
    char *big = malloc(65537);
    memset(big, 'k', 65536);
    big[65536] = 0;
    d = raw_good();
    d.ks[1].tables[1].hi = big;
    raw_encode(&d, &b);
    expect_decode(b.data, b.len, TIND_ECORRUPT, "largest key");
    big[65535] = 0;
    raw_encode(&d, &b);
    expect_decode(b.data, b.len, TIND_OK, NULL);
    free(big);
    tbuf_free(&b);
}

TEST(manifest_files)
{
    fs *mfs = fs_mem_new();
    CHECK(mfs);
    CHECK_OK(fs_mkdir(mfs, "db", NULL));
    CHECK_OK(fs_sync_dir(mfs, ".", NULL));
    mf_state st, back;
    tind_err err;
    CHECK_RC(manifest_read(mfs, "db", &back, &err), TIND_ENOENT);
    CHECK(back.keyspaces == NULL);
    mf_state_free(&back);
    trng r;
    trng_seed(&r, check_seed + 5);
    build_state(&st, &r, 4);
    CHECK_OK(manifest_write(mfs, "db", &st, &err));
    CHECK_OK(manifest_read(mfs, "db", &back, &err));
    check_same_state(&st, &back);
    mf_state_free(&back);
    /* a second write replaces the first; trailing slash in dir is fine */
    st.last_seqno += 10;
    CHECK_OK(manifest_write(mfs, "db/", &st, &err));
    CHECK_OK(manifest_read(mfs, "db/", &back, &err));
    CHECK_EQ(back.last_seqno, st.last_seqno);
    mf_state_free(&back);
    CHECK_EQ(fs_exists(mfs, "db/VERSIONS.tmp", NULL), TIND_ENOENT);
    /* what a power loss right after the write leaves: the new file */
    CHECK_OK(fs_mem_crash(mfs, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, check_seed));
    CHECK_OK(manifest_read(mfs, "db", &back, &err));
    CHECK_EQ(back.last_seqno, st.last_seqno);
    mf_state_free(&back);
    /* damage on disk: the message names the file */
    fs_file *f;
    CHECK_OK(fs_open(mfs, "db/VERSIONS", FS_O_WRITE, &f, NULL));
    CHECK_OK(fs_write(f, "\x00", 1, 30, NULL));
    CHECK_OK(fs_close(f, NULL));
    err_clear(&err);
    CHECK_RC(manifest_read(mfs, "db", &back, &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "db/VERSIONS") != NULL);
    CHECK(strstr(err.msg, "checksum") != NULL);
    mf_state_free(&st);
    fs_destroy(mfs);
}

/* A large state: encode/decode speed (printed only with TIND_VERBOSE). */
TEST(manifest_large)
{
    mf_state st;
    memset(&st, 0, sizeof st);
    st.next_file_number = 1u << 20;
    st.last_seqno = 1u << 30;
    st.next_keyspace_id = 1;
    st.keyspace_count = 1;
    st.keyspaces = calloc(1, sizeof *st.keyspaces);
    st.keyspaces[0].name = strdup("big");
    st.keyspaces[0].name_len = 3;
    version *v = version_new_empty(0, 7);
    ver_edit e;
    ver_edit_init(&e);
    size_t n = 20000;
    for (size_t i = 0; i < n; i++) {
        char lo[32], hi[32];
        snprintf(lo, sizeof lo, "user%012zu", i * 2);
        snprintf(hi, sizeof hi, "user%012zu", i * 2 + 1);
        ver_table *t = ver_table_new(i + 1, 64 << 20, 500000, 100, 1, 1000 + i, 1700000000, (const uint8_t *)lo,
                                     strlen(lo), (const uint8_t *)hi, strlen(hi));
        CHECK_OK(ver_edit_add(&e, i < 8 ? 0 : 1 + (int)(i % 6), t));
        ver_table_unref(t);
    }
    CHECK_OK(version_apply(v, &e, &st.keyspaces[0].v, NULL));
    ver_edit_free(&e);
    version_unref(v);
    tbuf b = TBUF_INIT;
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_OK(manifest_encode(&st, &b, NULL));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    mf_state back;
    CHECK_OK(manifest_decode(b.data, b.len, &back, NULL));
    clock_gettime(CLOCK_MONOTONIC, &t2);
    CHECK_EQ(version_table_count(back.keyspaces[0].v), n);
    if (getenv("TIND_VERBOSE"))
        fprintf(stderr, "    %zu tables: %zu bytes, encode %.2f ms, decode %.2f ms\n", n, b.len,
                (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
                (double)(t2.tv_sec - t1.tv_sec) * 1e3 + (double)(t2.tv_nsec - t1.tv_nsec) / 1e6);
    /* one more table on top of a big version: what a flush costs */
    ver_table *t = ver_table_new(n + 1, 1, 1, 0, 1, 1, 0, (const uint8_t *)"a", 1, (const uint8_t *)"b", 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_OK(apply1(back.keyspaces[0].v, 0, NULL, 0, t, &v, NULL));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (getenv("TIND_VERBOSE"))
        fprintf(stderr, "    apply on %zu tables: %.3f ms\n", n,
                (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    ver_table_unref(t);
    version_unref(v);
    mf_state_free(&back);
    mf_state_free(&st);
    tbuf_free(&b);
}

int main(void)
{
    check_seed_init(20240611);
    RUN(table_refs);
    RUN(apply_l0_newest_first);
    RUN(apply_l1_sorted_and_overlap_rejected);
    RUN(apply_remove_and_move);
    RUN(refcount_random_walk);
    RUN(find_and_overlapping);
    RUN(concurrent_readers);
    RUN(manifest_roundtrip);
    RUN(manifest_encode_rejects);
    RUN(manifest_flips_and_truncation);
    RUN(manifest_format_and_rejects);
    RUN(manifest_files);
    RUN(manifest_large);
    return 0;
}
