/*
 * test_compaction_policy.c -- the leveled picker's shapes (issue 15, write
 * amplification): the dynamic base level, trivial moves out of L0, and the
 * engine keeping every key through them, background threads on and off.
 *
 * The picker cases build versions by hand (version_apply) and ask
 * pick_compaction directly; the engine cases write through the public API on
 * the in-memory file system with tiny memtables and tables, so the tree
 * takes several shapes in a few thousand keys.
 *
 * TSAN-LABEL: the engine cases run the background workers.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "compaction/picker.h"
#include "db/db.h"
#include "format/compress.h"
#include "io/fs.h"
#include "util/rand.h"

/* ------------------------------------------------------------------ picker */

static ver_table *mk(uint64_t number, const char *lo, const char *hi, uint64_t seq, uint64_t size)
{
    ver_table *t = ver_table_new(number, size, 10, 0, seq, seq, 1700000000, (const uint8_t *)lo, strlen(lo),
                                 (const uint8_t *)hi, strlen(hi));
    CHECK(t != NULL);
    return t;
}

/* base + t at level; the caller's version ref on base is dropped. */
static version *add(version *base, int level, ver_table *t)
{
    ver_edit e;
    ver_edit_init(&e);
    CHECK_OK(ver_edit_add(&e, level, t));
    version *v = NULL;
    tind_err err;
    err_clear(&err);
    int rc = version_apply(base, &e, &v, &err);
    if (rc)
        fprintf(stderr, "version_apply: %s\n", err.msg);
    CHECK_OK(rc);
    ver_edit_free(&e);
    ver_table_unref(t);
    version_unref(base);
    return v;
}

static void policy_options(cmp_options *o, int l0_threshold)
{
    struct tind_ks_options ko;
    ks_options_default(&ko);
    ko.l0_threshold = l0_threshold;
    ko.table_size = 1000;  /* base_bytes = table_size * l0_threshold */
    ko.level_ratio = 10;
    ks_options_to_compaction(&ko, o);
}

/* Asks the picker about v and checks the kind of pick, its input count
 * (0: any) and, for a move, the table that moves (0: any). */
static void expect_pick(const version *v, const cmp_options *o, int kind, size_t count, uint64_t moved)
{
    compaction_pick p;
    CHECK_OK(pick_compaction(v, o, 0, 0, &p));
    CHECK_EQ(p.kind, kind);
    if (count)
        CHECK_EQ(p.count, count);
    if (moved) {
        CHECK_EQ(p.levels[0], 0);
        CHECK_EQ(p.inputs[0]->number, moved);
    }
    compaction_pick_free(&p);
}

/* The base level is the last level while it is small, and moves up one
 * level for each factor of the ratio the last level grows past base_bytes. */
TEST(base_level_moves_up)
{
    cmp_options o;
    policy_options(&o, 4); /* base_bytes 4000 */
    version *v = version_new_empty(1, 7);
    CHECK(v != NULL);
    CHECK_EQ(pick_base_level(v, &o), 6);
    v = add(v, 6, mk(10, "a", "b", 1, 3000));
    CHECK_EQ(pick_base_level(v, &o), 6);
    v = add(v, 6, mk(11, "c", "d", 2, 3000)); /* 6000 > 4000 */
    CHECK_EQ(pick_base_level(v, &o), 5);
    v = add(v, 6, mk(12, "e", "f", 3, 60000)); /* 66000: two factors of 10 past */
    CHECK_EQ(pick_base_level(v, &o), 4);
    /* a level above that still holds data keeps the base there */
    v = add(v, 2, mk(13, "x", "y", 4, 10));
    CHECK_EQ(pick_base_level(v, &o), 2);
    version_unref(v);
}

/* L0 tables that overlap nothing go down one by one, unchanged, oldest first;
 * below the threshold nothing is picked. */
TEST(l0_sequential_moves)
{
    cmp_options o;
    policy_options(&o, 4);
    version *v = version_new_empty(1, 7);
    /* newest first in L0: seqnos 4 (keys g-h) .. 1 (keys a-b) */
    v = add(v, 0, mk(20, "a", "b", 1, 100));
    v = add(v, 0, mk(21, "c", "d", 2, 100));
    v = add(v, 0, mk(22, "e", "f", 3, 100));
    expect_pick(v, &o, PICK_NONE, 0, 0);
    v = add(v, 0, mk(23, "g", "h", 4, 100));
    expect_pick(v, &o, PICK_MOVE, 1, 20); /* the oldest */
    compaction_pick p;
    CHECK_OK(pick_compaction(v, &o, 0, 0, &p));
    CHECK_EQ(p.out_level, 6);
    compaction_pick_free(&p);
    version_unref(v);
}

/* Overlapping L0 tables are merged with what they overlap in the base. */
TEST(l0_overlap_merges)
{
    cmp_options o;
    policy_options(&o, 2);
    version *v = version_new_empty(1, 7);
    v = add(v, 6, mk(30, "a", "m", 1, 100));
    v = add(v, 6, mk(31, "n", "z", 2, 100));
    v = add(v, 0, mk(32, "b", "c", 3, 100));
    v = add(v, 0, mk(33, "b", "d", 4, 100));
    compaction_pick p;
    CHECK_OK(pick_compaction(v, &o, 0, 0, &p));
    CHECK_EQ(p.kind, PICK_MERGE);
    CHECK_EQ(p.count, 3); /* both L0 tables and 30, not 31 */
    CHECK_EQ(p.out_level, 6);
    for (size_t i = 0; i < p.count; i++)
        CHECK(p.inputs[i]->number != 31);
    compaction_pick_free(&p);
    version_unref(v);
}

/* An L0 table overlapping the base level is merged; an L0 table overlapped
 * by an older L0 table never moves above it; a newer one overlapping it
 * does not keep it from moving. */
TEST(l0_move_rules)
{
    cmp_options o;
    policy_options(&o, 3);
    /* the oldest overlaps the base: the next one moves */
    version *v = version_new_empty(1, 7);
    v = add(v, 6, mk(40, "a", "c", 1, 100));
    v = add(v, 0, mk(41, "b", "b", 2, 100));   /* overlaps 40 */
    v = add(v, 0, mk(42, "k", "l", 3, 100));   /* free */
    v = add(v, 0, mk(43, "x", "y", 4, 100));   /* free */
    expect_pick(v, &o, PICK_MOVE, 1, 42);
    version_unref(v);
    /* older L0 table overlaps the candidate: no move, a merge of L0 */
    v = version_new_empty(1, 7);
    v = add(v, 0, mk(50, "a", "z", 1, 100));
    v = add(v, 0, mk(51, "k", "l", 2, 100));
    v = add(v, 0, mk(52, "m", "n", 3, 100));
    expect_pick(v, &o, PICK_MOVE, 1, 50); /* 50 (the oldest) overlaps no older table */
    v = add(v, 6, mk(53, "0", "1", 0, 100)); /* base not overlapping any of them */
    expect_pick(v, &o, PICK_MOVE, 1, 50);
    v = add(v, 6, mk(54, "y", "y", 0, 100)); /* now 50 overlaps the base; 51, 52 lie over 50 */
    expect_pick(v, &o, PICK_MERGE, 4, 0);
    version_unref(v);
}

/* L0 waits while it is smaller than the base level it would be merged into,
 * up to twice the threshold; a table that can move still moves. */
TEST(l0_deferred_while_small)
{
    cmp_options o;
    policy_options(&o, 2);
    version *v = version_new_empty(1, 7);
    v = add(v, 6, mk(70, "a", "z", 1, 1000));
    v = add(v, 0, mk(71, "b", "c", 2, 100));
    v = add(v, 0, mk(72, "b", "d", 3, 100));
    expect_pick(v, &o, PICK_NONE, 0, 0); /* 200 bytes into 1000: waits */
    v = add(v, 0, mk(73, "c", "e", 4, 100));
    expect_pick(v, &o, PICK_NONE, 0, 0);
    v = add(v, 0, mk(74, "0", "1", 5, 100)); /* overlaps nothing: moves */
    expect_pick(v, &o, PICK_MOVE, 1, 74);
    v = add(v, 0, mk(75, "c", "f", 6, 100)); /* 5 tables, none movable but 74 */
    version *w = add(v, 0, mk(76, "x", "y", 7, 100)); /* 6: 74 still moves first */
    expect_pick(w, &o, PICK_MOVE, 1, 74);
    version_unref(w);
    /* L0 as large as the base: merged at the threshold */
    v = version_new_empty(1, 7);
    v = add(v, 6, mk(80, "a", "z", 1, 150));
    v = add(v, 0, mk(81, "b", "c", 2, 100));
    v = add(v, 0, mk(82, "b", "d", 3, 100));
    expect_pick(v, &o, PICK_MERGE, 3, 0);
    version_unref(v);
    /* at twice the threshold L0 is merged whatever the base holds */
    v = version_new_empty(1, 7);
    v = add(v, 6, mk(90, "a", "z", 1, 1900)); /* below base_bytes: the base stays L6 */
    for (int i = 0; i < 4; i++)
        v = add(v, 0, mk(91 + (uint64_t)i, "b", "c", 2 + (uint64_t)i, 100));
    expect_pick(v, &o, PICK_MERGE, 5, 0);
    version_unref(v);
}

/* Levels that compress differently never move (a table is rewritten). */
TEST(l0_move_needs_same_compression)
{
    cmp_options o;
    struct tind_ks_options ko;
    ks_options_default(&ko);
    ko.l0_threshold = 1;
    ko.compression[0] = COMPRESSION_NONE;
    ks_options_to_compaction(&ko, &o);
    version *v = version_new_empty(1, 7);
    v = add(v, 0, mk(60, "a", "b", 1, 100));
    expect_pick(v, &o, PICK_MERGE, 1, 0);
    version_unref(v);
}

/* ------------------------------------------------------------------ engine */

#define E_KEYS 6000

static void key_of(char *k, size_t n, unsigned i) { snprintf(k, n, "key:%08u", i); }

static size_t value_of(char *v, size_t n, unsigned i, unsigned ver)
{
    size_t len = 40 + (i * 7 + ver) % 60;
    if (len > n)
        len = n;
    for (size_t j = 0; j < len; j++)
        v[j] = (char)('a' + (i + ver + j) % 26);
    return len;
}

static tind_keyspace *small_keyspace(tind_db *db)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 16 << 10);
    tind_ks_options_set_table_size(ko, 16 << 10);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_level_ratio(ko, 4);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "p", ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

/* Waits until no compaction is due (bg on: the workers; off: steps run
 * inline by tind_flush), then checks every key. */
static void check_all(tind_keyspace *ks, const unsigned *ver, unsigned n)
{
    char k[32], want[128];
    for (unsigned i = 0; i < n; i++) {
        key_of(k, sizeof k, i);
        void *got;
        size_t gl;
        int rc = tind_get(ks, k, strlen(k), NULL, &got, &gl);
        if (!ver[i]) {
            CHECK_RC(rc, TIND_NOT_FOUND);
            continue;
        }
        CHECK_OK(rc);
        size_t wl = value_of(want, sizeof want, i, ver[i]);
        CHECK_MEM(got, gl, want, wl);
        tind_free(got);
    }
}

/* Lets the picker run to the end of what it wants (background: the workers
 * settle; without: compaction steps run here). */
static void settle(tind_db *db, tind_keyspace *ks)
{
    CHECK_OK(tind_flush(ks));
    tind_err err;
    for (int i = 0; i < 100000; i++) {
        mu_lock(&db->mu);
        int due = ks_needs_compaction(ks) || ks->compaction_running;
        mu_unlock(&db->mu);
        if (!due)
            return;
        if (db->worker_count == 0) {
            err_clear(&err);
            CHECK(ks_compact_step(ks, &err) >= 0);
        } else {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    CHECK(!"compaction never settled");
}

static int levels_used(tind_keyspace *ks, tind_ks_stats *st)
{
    CHECK_OK(tind_ks_stats_get(ks, st));
    int used = 0;
    for (uint32_t l = 1; l < st->levels; l++)
        used += st->tables[l] != 0;
    return used;
}

/* Sequential keys: every flush goes down by trivial moves, nothing is
 * rewritten; the tree still spreads over levels as it grows. */
static void sequential_case(int background)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, background);
    tind_keyspace *ks = small_keyspace(db);
    static unsigned ver[E_KEYS];
    char k[32], v[128];
    for (unsigned i = 0; i < E_KEYS; i++) {
        key_of(k, sizeof k, i);
        ver[i] = 1;
        size_t vl = value_of(v, sizeof v, i, 1);
        CHECK_OK(tind_put(ks, k, strlen(k), v, vl));
    }
    settle(db, ks);
    tind_ks_stats st;
    levels_used(ks, &st);
    CHECK(st.flushes >= 8);
    CHECK_EQ(st.compaction_bytes_written, 0); /* moves only */
    CHECK(st.tables[0] < 2);                  /* below the threshold */
    CHECK(st.tables[st.levels - 1] > 0);
    check_all(ks, ver, E_KEYS);
    CHECK_OK(tind_close(db));
    db = check_open_mem(mem, background);
    CHECK_OK(tind_keyspace_open(db, "p", NULL, &ks));
    check_all(ks, ver, E_KEYS);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(sequential_fill_moves)
{
    sequential_case(0);
    sequential_case(1);
}

/* Random overwrites and removals: while the keyspace is small its data goes
 * straight to the last level; as it grows, the base level moves up; no key
 * is lost or resurrected on the way, with background threads on and off. */
static void random_case(int background)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, background);
    tind_keyspace *ks = small_keyspace(db);
    static unsigned ver[E_KEYS];
    memset(ver, 0, sizeof ver);
    trng r;
    trng_seed(&r, check_seed + (uint64_t)background);
    char k[32], v[128];
    /* small: a few hundred keys, only L0 and the last level */
    unsigned n = 200;
    for (unsigned j = 0; j < 2 * n; j++) {
        unsigned i = (unsigned)trng_below(&r, n);
        key_of(k, sizeof k, i);
        ver[i]++;
        size_t vl = value_of(v, sizeof v, i, ver[i]);
        CHECK_OK(tind_put(ks, k, strlen(k), v, vl));
    }
    settle(db, ks);
    tind_ks_stats st;
    CHECK_EQ(levels_used(ks, &st), 1);
    CHECK(st.tables[st.levels - 1] > 0);
    check_all(ks, ver, E_KEYS);
    /* grow: the base level moves up, more levels are used */
    n = E_KEYS;
    for (int round = 0; round < 3; round++) {
        for (unsigned j = 0; j < n; j++) {
            unsigned i = (unsigned)trng_below(&r, n);
            key_of(k, sizeof k, i);
            if (ver[i] && trng_below(&r, 10) == 0) {
                CHECK_OK(tind_remove(ks, k, strlen(k)));
                ver[i] = 0;
                continue;
            }
            ver[i] = ver[i] ? ver[i] + 1 : 1 + (unsigned)round * 100;
            size_t vl = value_of(v, sizeof v, i, ver[i]);
            CHECK_OK(tind_put(ks, k, strlen(k), v, vl));
        }
        settle(db, ks);
        check_all(ks, ver, E_KEYS);
    }
    CHECK(levels_used(ks, &st) >= 1);
    CHECK(st.compaction_bytes_written > 0);
    mu_lock(&db->mu);
    int base = pick_base_level(ks->current, &ks->cmp_opts);
    mu_unlock(&db->mu);
    CHECK(base < (int)st.levels - 1);
    /* the levels above the last hold less than the last */
    uint64_t above = 0;
    for (uint32_t l = 1; l + 1 < st.levels; l++)
        above += st.level_bytes[l];
    CHECK(above < st.level_bytes[st.levels - 1]);
    CHECK_OK(tind_close(db));
    db = check_open_mem(mem, background);
    CHECK_OK(tind_keyspace_open(db, "p", NULL, &ks));
    check_all(ks, ver, E_KEYS);
    CHECK_OK(tind_compact(ks));
    check_all(ks, ver, E_KEYS);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(random_fill_shapes)
{
    random_case(0);
    random_case(1);
}

int main(void)
{
    check_seed = check_seed_init(15);
    RUN(base_level_moves_up);
    RUN(l0_sequential_moves);
    RUN(l0_overlap_merges);
    RUN(l0_move_rules);
    RUN(l0_deferred_while_small);
    RUN(l0_move_needs_same_compression);
    RUN(sequential_fill_moves);
    RUN(random_fill_shapes);
    fprintf(stderr, "test_compaction_policy: all passed (seed %" PRIu64 ")\n", check_seed);
    return 0;
}
