/*
 * test_rangedel.c -- range deletions (issue 13): tind_remove_range,
 * tind_batch_remove_range, tind_keyspace_clear.
 *
 *   fragmenter_vs_brute_force   format/rangetomb: random tombstones (some
 *                               unbounded, overlapping, nested) fragmented;
 *                               the cover query equals a brute force over
 *                               every key of a small alphabet and every
 *                               snapshot; the list invariants hold
 *   codec_round_trip_and_damage the section codec round-trips, and every
 *                               truncation and bit flip decodes to OK (then
 *                               valid) or TIND_ECORRUPT, never a crash
 *   memtable_side_list          range tombstones stay out of the skip list,
 *                               count in the counters, and the fragmented
 *                               cache follows new tombstones
 *   api_arguments               empty range = no-op (also in a batch),
 *                               inverted = TIND_EINVAL, NULL with a length,
 *                               over-long bounds; nothing is written
 *   edges_*                     each edge case in four placements (all in
 *                               memtables; data in tables, tombstone in the
 *                               memtable; both in L0; after full compactions)
 *                               checked against a model at the latest state
 *                               and at every live snapshot: gets, full scans
 *                               both ways, seeks, seek_for_prev, runs of
 *                               next/prev from every start
 *   whole_tables_dropped        a tombstone over a whole level: compaction
 *                               leaves no table and does not read the covered
 *                               tables' data blocks (block cache misses)
 *   clear_crash                 tind_keyspace_clear is all or nothing across
 *                               simulated power losses
 *   model_*                     a randomized model check (puts, removes,
 *                               range deletions with bounds on, between and
 *                               around keys, batches, snapshots, flushes,
 *                               compactions, background steps, reopens,
 *                               power losses), background threads off and on
 * TSAN-LABEL: the threads-on model pass runs under ThreadSanitizer too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db/db.h"
#include "format/rangetomb.h"
#include "io/fs.h"
#include "memtable/memtable.h"
#include "tind_internal.h"
#include "util/rand.h"

/* ------------------------------------------------------------------ fragmenter */

typedef struct raw_tomb {
    uint8_t s[3], e[3];
    size_t sn, en;        /* en 0 = unbounded */
    uint64_t seq;
} raw_tomb;

static size_t rand_key(trng *r, uint8_t *k)
{
    static const uint8_t alpha[] = {0, 'a', 'b', 'c', 0xFF};
    size_t n = 1 + trng_below(r, 3);
    for (size_t i = 0; i < n; i++)
        k[i] = alpha[trng_below(r, sizeof alpha)];
    return n;
}

/* every key of 1..3 bytes over the alphabet, in any order */
static size_t all_keys(uint8_t (*out)[3], size_t *lens)
{
    static const uint8_t alpha[] = {0, 'a', 'b', 'c', 0xFF};
    size_t n = 0;
    for (size_t a = 0; a < 5; a++) {
        out[n][0] = alpha[a];
        lens[n++] = 1;
        for (size_t b = 0; b < 5; b++) {
            out[n][0] = alpha[a];
            out[n][1] = alpha[b];
            lens[n++] = 2;
            for (size_t c = 0; c < 5; c++) {
                out[n][0] = alpha[a];
                out[n][1] = alpha[b];
                out[n][2] = alpha[c];
                lens[n++] = 3;
            }
        }
    }
    return n;
}

static void check_list_invariants(const rt_list *l)
{
    size_t total = 0;
    for (size_t i = 0; i < l->count; i++) {
        const rt_frag *f = &l->frags[i];
        CHECK(f->start_len >= 1 && f->nseq >= 1);
        if (f->end_len)
            CHECK(key_cmp(f->start, f->start_len, f->end, f->end_len) < 0);
        else
            CHECK(i + 1 == l->count);
        if (i)
            CHECK(key_cmp(l->frags[i - 1].end, l->frags[i - 1].end_len, f->start, f->start_len) <= 0);
        for (size_t j = 1; j < f->nseq; j++)
            CHECK(f->seqs[j] < f->seqs[j - 1]);
        total += f->nseq;
    }
    CHECK_EQ(total, l->tombstones);
}

TEST(fragmenter_vs_brute_force)
{
    static uint8_t keys[155][3];
    static size_t lens[155];
    size_t nkeys = all_keys(keys, lens);
    trng r;
    trng_seed(&r, 13);
    for (int round = 0; round < 300; round++) {
        raw_tomb t[24];
        size_t n = 1 + trng_below(&r, round < 100 ? 4 : 24);
        rt_builder b;
        rt_builder_init(&b);
        for (size_t i = 0; i < n; i++) {
            t[i].sn = rand_key(&r, t[i].s);
            t[i].en = trng_below(&r, 8) == 0 ? 0 : rand_key(&r, t[i].e);
            t[i].seq = 1 + trng_below(&r, 30);
            CHECK_OK(rt_builder_add(&b, t[i].s, t[i].sn, t[i].e, t[i].en, t[i].seq));
        }
        rt_list *l;
        CHECK_OK(rt_builder_finish(&b, NULL, NULL, &l));
        rt_builder_free(&b);
        if (l)
            check_list_invariants(l);
        for (size_t k = 0; k < nkeys; k++)
            for (uint64_t snap = 0; snap <= 31; snap += 1 + trng_below(&r, 4)) {
                uint64_t want = 0;
                for (size_t i = 0; i < n; i++)
                    if (key_cmp(keys[k], lens[k], t[i].s, t[i].sn) >= 0 &&
                        (!t[i].en || key_cmp(keys[k], lens[k], t[i].e, t[i].en) < 0) && t[i].seq <= snap &&
                        t[i].seq > want)
                        want = t[i].seq;
                CHECK_EQ(rt_list_cover(l, keys[k], lens[k], snap), want);
            }
        /* the inclusive bound covers every covered key */
        if (l) {
            tbuf hi = TBUF_INIT;
            CHECK_OK(rt_list_largest(l, &hi));
            for (size_t k = 0; k < nkeys; k++)
                if (rt_list_cover(l, keys[k], lens[k], SEQNO_MAX))
                    CHECK(key_cmp(keys[k], lens[k], hi.data, hi.len) <= 0);
            tbuf_free(&hi);
        }
        rt_list_unref(l);
    }
}

TEST(codec_round_trip_and_damage)
{
    trng r;
    trng_seed(&r, 7);
    for (int round = 0; round < 40; round++) {
        rt_builder b;
        rt_builder_init(&b);
        size_t n = 1 + trng_below(&r, 10);
        for (size_t i = 0; i < n; i++) {
            uint8_t s[3], e[3];
            size_t sn = rand_key(&r, s), en = trng_below(&r, 6) ? rand_key(&r, e) : 0;
            CHECK_OK(rt_builder_add(&b, s, sn, e, en, 1 + trng_below(&r, 1000)));
        }
        rt_list *l;
        CHECK_OK(rt_builder_finish(&b, NULL, NULL, &l));
        rt_builder_free(&b);
        if (!l)
            continue;
        tbuf enc = TBUF_INIT, enc2 = TBUF_INIT;
        CHECK_OK(rt_list_encode(l, &enc));
        rt_list *d;
        tind_err err;
        CHECK_OK(rt_list_decode(enc.data, enc.len, "t", &d, &err));
        CHECK_OK(rt_list_encode(d, &enc2));
        CHECK_MEM(enc.data, enc.len, enc2.data, enc2.len);
        rt_list_unref(d);
        for (size_t cut = 0; cut < enc.len; cut++) {
            int rc = rt_list_decode(enc.data, cut, "t", &d, &err);
            CHECK(rc == TIND_ECORRUPT || rc == TIND_OK);
            if (rc == TIND_OK) {
                check_list_invariants(d);
                rt_list_unref(d);
            }
        }
        for (size_t i = 0; i < enc.len * 8; i++) {
            enc.data[i / 8] ^= (uint8_t)(1u << (i % 8));
            int rc = rt_list_decode(enc.data, enc.len, "t", &d, &err);
            CHECK(rc == TIND_ECORRUPT || rc == TIND_OK);
            if (rc == TIND_OK) {
                check_list_invariants(d);
                rt_list_unref(d);
            } else {
                CHECK(strstr(err.msg, "range tombstone section") != NULL);
            }
            enc.data[i / 8] ^= (uint8_t)(1u << (i % 8));
        }
        tbuf_free(&enc);
        tbuf_free(&enc2);
        rt_list_unref(l);
    }
    tbuf s = TBUF_INIT;
    CHECK_EQ(rt_key_successor((const uint8_t *)"ab", 2, &s), 1);
    CHECK_MEM(s.data, s.len, "ab\0", 3);
    tbuf_free(&s);
}

TEST(memtable_side_list)
{
    memtable *m = mt_new(1);
    CHECK(m != NULL);
    rt_list *l;
    CHECK_OK(mt_range_tombstones(m, &l));
    CHECK(l == NULL);
    CHECK(mt_empty(m));
    CHECK_OK(mt_add(m, 5, ENTRY_RANGE_TOMBSTONE, (const uint8_t *)"b", 1, (const uint8_t *)"d", 1));
    CHECK(!mt_empty(m));
    CHECK_EQ(mt_tombstones(m), 1);
    CHECK_EQ(mt_min_seqno(m), 5);
    CHECK_OK(mt_add(m, 6, ENTRY_VALUE, (const uint8_t *)"c", 1, (const uint8_t *)"v", 1));
    mt_iter *it = mt_iter_new(m);
    int n = 0;
    for (mt_iter_first(it); mt_iter_valid(it); mt_iter_next(it))
        n++;
    mt_iter_free(it);
    CHECK_EQ(n, 1); /* the list holds only the put */
    CHECK_OK(mt_range_tombstones(m, &l));
    CHECK(l != NULL);
    CHECK_EQ(rt_list_cover(l, (const uint8_t *)"c", 1, 10), 5);
    rt_list *again;
    CHECK_OK(mt_range_tombstones(m, &again));
    CHECK(again == l); /* cached */
    rt_list_unref(again);
    CHECK_OK(mt_add(m, 7, ENTRY_RANGE_TOMBSTONE, (const uint8_t *)"a", 1, NULL, 0));
    CHECK_OK(mt_range_tombstones(m, &again));
    CHECK(again != l); /* rebuilt for the new one; the old list stays valid */
    CHECK_EQ(rt_list_cover(again, (const uint8_t *)"z", 1, 10), 7);
    CHECK_EQ(rt_list_cover(l, (const uint8_t *)"z", 1, 10), 0);
    rt_list_unref(again);
    rt_list_unref(l);
    mt_unref(m);
}

/* ------------------------------------------------------------------ the engine and its model */

#define NKEYS 100
#define MAXV 4096

typedef struct mv {
    uint64_t seq;
    int tomb;
    uint32_t val;        /* the value is "v<val>" */
} mv;

static struct {
    mv *v[NKEYS];
    size_t n[NKEYS], cap[NKEYS];
    uint64_t seq;
} M;

static fs *mem;
static tind_db *db;
static tind_keyspace *ks;
static int threads;
static tind_snapshot *snaps[4];
static uint64_t snap_seq[4];
static int nsnaps;
static trng R;

static size_t key_of(int id, char *k) { return (size_t)snprintf(k, 16, "k%03d", id); }

static void model_reset(void)
{
    for (int i = 0; i < NKEYS; i++) {
        free(M.v[i]);
        M.v[i] = NULL;
        M.n[i] = M.cap[i] = 0;
    }
    M.seq = 0;
}

static void model_add(int id, uint64_t seq, int tomb, uint32_t val)
{
    if (M.n[id] == M.cap[id]) {
        M.cap[id] = M.cap[id] ? 2 * M.cap[id] : 8;
        M.v[id] = realloc(M.v[id], M.cap[id] * sizeof *M.v[id]);
    }
    M.v[id][M.n[id]++] = (mv){seq, tomb, val};
}

/* the value of id at seq, or -1 */
static long model_get(int id, uint64_t seq)
{
    for (size_t j = M.n[id]; j-- > 0;)
        if (M.v[id][j].seq <= seq)
            return M.v[id][j].tomb ? -1 : (long)M.v[id][j].val;
    return -1;
}

static void model_truncate(uint64_t seq)
{
    for (int i = 0; i < NKEYS; i++)
        while (M.n[i] && M.v[i][M.n[i] - 1].seq > seq)
            M.n[i]--;
    M.seq = seq;
}

static void open_db(void)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, mem);
    if (threads)
        tind_options_set_background_threads(o, 2);
    else
        tind_options_set_no_background(o, 1);
    tind_options_set_cache_size(o, 1 << 20);
    tind_options_set_write_buffer_size(o, 64 * 1024);
    int rc = tind_open("/db", o, &db);
    if (rc)
        fprintf(stderr, "open: %s\n", tind_errmsg(NULL));
    CHECK_OK(rc);
    tind_options_free(o);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 2048);
    tind_ks_options_set_table_size(ko, 2048);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_levels(ko, 4);
    tind_ks_options_set_block_size(ko, 256);
    tind_ks_options_set_level_ratio(ko, 3);
    CHECK_OK(tind_keyspace_open(db, "ks", ko, &ks));
    tind_ks_options_free(ko);
}

static void drop_snaps(void)
{
    for (int i = 0; i < nsnaps; i++)
        tind_snapshot_free(snaps[i]);
    nsnaps = 0;
}

static void start(int with_threads)
{
    threads = with_threads;
    mem = fs_mem_new();
    model_reset();
    open_db();
}

static void stop(void)
{
    drop_snaps();
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
    model_reset();
}

static void reopen(void)
{
    drop_snaps();
    CHECK_OK(tind_close(db));
    open_db();
    CHECK_EQ(tind_internal_last_seqno(db), M.seq);
}

static void put(int id)
{
    char k[16], v[16];
    M.seq++;
    int n = snprintf(v, sizeof v, "v%llu", (unsigned long long)M.seq);
    CHECK_OK(tind_put(ks, k, key_of(id, k), v, (size_t)n));
    model_add(id, M.seq, 0, (uint32_t)M.seq);
}

static void put_range(int from, int to)
{
    for (int i = from; i < to; i++)
        put(i);
}

static void del(int id)
{
    char k[16];
    M.seq++;
    CHECK_OK(tind_remove(ks, k, key_of(id, k)));
    model_add(id, M.seq, 1, 0);
}

static void model_range(const char *lo, size_t lolen, const char *hi, size_t hilen, uint64_t seq)
{
    for (int i = 0; i < NKEYS; i++) {
        char k[16];
        size_t kl = key_of(i, k);
        if (lolen && key_cmp((const uint8_t *)k, kl, (const uint8_t *)lo, lolen) < 0)
            continue;
        if (hilen && key_cmp((const uint8_t *)k, kl, (const uint8_t *)hi, hilen) >= 0)
            continue;
        model_add(i, seq, 1, 0);
    }
}

/* tind_remove_range(lo, hi) on both; NULL = open */
static void rdel(const char *lo, const char *hi)
{
    size_t lolen = lo ? strlen(lo) : 0, hilen = hi ? strlen(hi) : 0;
    uint64_t before = tind_internal_last_seqno(db);
    CHECK_OK(tind_remove_range(ks, lo, lolen, hi, hilen));
    if (tind_internal_last_seqno(db) == before)
        return; /* an empty range writes nothing */
    M.seq++;
    model_range(lo, lolen, hi, hilen, M.seq);
}

static void take_snapshot(void)
{
    if (nsnaps == 4) {
        tind_snapshot_free(snaps[0]);
        memmove(snaps, snaps + 1, 3 * sizeof *snaps);
        memmove(snap_seq, snap_seq + 1, 3 * sizeof *snap_seq);
        nsnaps--;
    }
    CHECK_OK(tind_snapshot_new(db, &snaps[nsnaps]));
    snap_seq[nsnaps++] = M.seq;
}

static void check_value(const void *v, size_t vn, long want)
{
    char w[24];
    int n = snprintf(w, sizeof w, "v%ld", want);
    CHECK_MEM(v, vn, w, (size_t)n);
}

/* the iterator is at vis[idx] (or invalid when idx is out of range) */
static void check_at(tind_iter *it, const int *vis, int n, int idx, uint64_t seq)
{
    if (idx < 0 || idx >= n) {
        CHECK_OK(tind_iter_status(it));
        CHECK(!tind_iter_valid(it));
        return;
    }
    if (!tind_iter_valid(it))
        fprintf(stderr, "invalid at %d/%d, status %d: %s\n", idx, n, tind_iter_status(it), tind_errmsg(db));
    CHECK(tind_iter_valid(it));
    char k[16];
    size_t kl = key_of(vis[idx], k), kn, vn;
    const void *key = tind_iter_key(it, &kn);
    CHECK_MEM(key, kn, k, kl);
    const void *v = tind_iter_value(it, &vn);
    check_value(v, vn, model_get(vis[idx], seq));
}

/* Everything a reader at seq (ro) sees equals the model: gets, full scans
 * both ways, seeks and seek_for_prev to keys and between keys, runs. */
static void check_view(const tind_read_options *ro, uint64_t seq, int thorough)
{
    int vis[NKEYS], n = 0, pos[NKEYS + 1];
    for (int i = 0; i < NKEYS; i++) {
        pos[i] = n;   /* index of the first visible key >= i */
        if (model_get(i, seq) >= 0)
            vis[n++] = i;
    }
    pos[NKEYS] = n;
    for (int i = 0; i < NKEYS; i++) {
        if (!thorough && trng_below(&R, 4))
            continue;
        char k[16];
        void *v = NULL;
        size_t vn;
        int rc = tind_get(ks, k, key_of(i, k), ro, &v, &vn);
        long want = model_get(i, seq);
        if (want < 0) {
            if (rc != TIND_NOT_FOUND)
                fprintf(stderr, "get k%03d at %llu: %d, want absent\n", i, (unsigned long long)seq, rc);
            CHECK_RC(rc, TIND_NOT_FOUND);
        } else {
            if (rc)
                fprintf(stderr, "get k%03d at %llu: %d (%s), want v%ld\n", i, (unsigned long long)seq, rc,
                        tind_errmsg(db), want);
            CHECK_OK(rc);
            check_value(v, vn, want);
        }
        tind_free(v);
    }
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
    int idx = 0;
    for (tind_iter_first(it); idx < n; tind_iter_next(it))
        check_at(it, vis, n, idx++, seq);
    check_at(it, vis, n, n, seq);
    idx = n - 1;
    for (tind_iter_last(it); idx >= 0; tind_iter_prev(it))
        check_at(it, vis, n, idx--, seq);
    check_at(it, vis, n, -1, seq);
    /* seeks on and between keys, then a few steps each way */
    for (int t = 0; t < (thorough ? NKEYS : 12); t++) {
        int id = thorough ? t : (int)trng_below(&R, NKEYS);
        char k[16];
        size_t kl = key_of(id, k);
        int between = (int)trng_below(&R, 2);
        if (between)
            k[kl++] = 'm'; /* after id, before id + 1 */
        tind_iter_seek(it, k, kl);
        idx = pos[id + between];
        check_at(it, vis, n, idx, seq);
        int steps = (int)trng_below(&R, 4);
        for (int s = 0; s < steps && idx < n; s++) {
            tind_iter_next(it);
            check_at(it, vis, n, ++idx, seq);
        }
        tind_iter_seek_for_prev(it, k, kl);
        idx = pos[id + 1] - 1;
        if (!between && (idx < 0 || vis[idx] != id))
            idx = pos[id] - 1;
        check_at(it, vis, n, idx, seq);
        steps = (int)trng_below(&R, 4);
        for (int s = 0; s < steps && idx >= 0; s++) {
            tind_iter_prev(it);
            check_at(it, vis, n, --idx, seq);
        }
    }
    tind_iter_free(it);
    /* a bounded cursor whose bounds fall inside deleted ranges */
    int a = (int)trng_below(&R, NKEYS), b = (int)trng_below(&R, NKEYS);
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    char lo[16], hi[16];
    size_t ll = key_of(a, lo), hl = key_of(b, hi);
    CHECK_OK(tind_iter_range(ks, lo, ll, hi, hl, ro, &it));
    int first = pos[a], last = pos[b] - 1;
    idx = first;
    for (tind_iter_first(it); idx <= last; tind_iter_next(it))
        check_at(it, vis, n, idx++, seq);
    CHECK(!tind_iter_valid(it));
    idx = last;
    for (tind_iter_last(it); idx >= first; tind_iter_prev(it))
        check_at(it, vis, n, idx--, seq);
    CHECK(!tind_iter_valid(it));
    CHECK_OK(tind_iter_status(it));
    tind_iter_free(it);
}

static void check_all(int thorough)
{
    check_view(NULL, M.seq, thorough);
    for (int i = 0; i < nsnaps; i++) {
        tind_read_options *ro = tind_read_options_new();
        tind_read_options_set_snapshot(ro, snaps[i]);
        check_view(ro, snap_seq[i], thorough);
        tind_read_options_free(ro);
    }
}

/* Placements: 0 leave everything in memtables; 1 flush; 2 flush and compact. */
static void settle(int how)
{
    if (how >= 1)
        CHECK_OK(tind_flush(ks));
    if (how >= 2)
        CHECK_OK(tind_compact(ks));
}

typedef void (*edge_fn)(int data_at, int tomb_at);

/* Runs an edge case in four placements of data and tombstones, threads off
 * and on, checking thoroughly after each step it marks. */
static void run_edge(edge_fn f)
{
    static const int places[4][2] = {{0, 0}, {2, 0}, {1, 1}, {2, 2}};
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < 4; p++) {
            start(t);
            f(places[p][0], places[p][1]);
            check_all(1);
            reopen();
            check_all(1);
            stop();
        }
}

static void edge_bounds(int data_at, int tomb_at)
{
    put_range(0, NKEYS);
    settle(data_at);
    take_snapshot();
    rdel("k010", "k020");        /* bounds on keys: k010 goes, k020 stays */
    rdel("k030m", "k040m");      /* between keys: k031..k040 */
    rdel("k05", "k06");          /* a prefix: k050..k059 */
    rdel(NULL, "k003");          /* open start */
    rdel("k097", NULL);          /* open end */
    rdel("k070", "k070");        /* empty */
    settle(tomb_at);
    check_all(1);
    put(15);                     /* after the deletion: visible */
    put(35);
    check_all(1);
}

static void edge_nested_overlapping(int data_at, int tomb_at)
{
    put_range(0, NKEYS);
    settle(data_at);
    take_snapshot();
    rdel("k010", "k080");
    settle(tomb_at);
    take_snapshot();
    put_range(20, 30);           /* rewritten inside the deleted range */
    rdel("k025", "k027");        /* nested, newer */
    settle(data_at);
    take_snapshot();
    rdel("k005", "k022");        /* overlapping the start */
    rdel("k075", "k090");        /* overlapping the end */
    rdel("k000", "k100");        /* covering everything */
    put(50);
    settle(tomb_at);
    check_all(1);
    settle(2);
    check_all(1);
}

static void edge_reverse_into_and_out(int data_at, int tomb_at)
{
    put_range(0, NKEYS);
    settle(data_at);
    for (int i = 0; i < NKEYS; i += 10)
        del(i + 5);              /* point deletes inside and outside */
    rdel("k040", "k060");
    rdel("k060", "k061");        /* adjacent */
    rdel(NULL, "k001");
    settle(tomb_at);
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
    tind_iter_seek(it, "k061", 4);
    CHECK(tind_iter_valid(it));
    tind_iter_prev(it);          /* backward across the deleted ranges */
    size_t kn;
    const void *k = tind_iter_key(it, &kn);
    CHECK_MEM(k, kn, "k039", 4);
    tind_iter_next(it);          /* and forward out of them again */
    k = tind_iter_key(it, &kn);
    CHECK_MEM(k, kn, "k061", 4);
    tind_iter_seek_for_prev(it, "k050", 4);
    k = tind_iter_key(it, &kn);
    CHECK_MEM(k, kn, "k039", 4);
    tind_iter_seek(it, "k045", 4);
    k = tind_iter_key(it, &kn);
    CHECK_MEM(k, kn, "k061", 4);
    tind_iter_free(it);
    check_all(1);
}

static void edge_tombstone_only_tables(int data_at, int tomb_at)
{
    (void)tomb_at;
    put_range(0, NKEYS);
    settle(data_at);
    take_snapshot();
    /* memtables of nothing but range tombstones */
    for (int i = 0; i < 10; i++) {
        char lo[16], hi[16];
        key_of(i * 10, lo);
        key_of(i * 10 + 3, hi);
        rdel(lo, hi);
        CHECK_OK(tind_flush(ks));
    }
    check_all(1);
    settle(2);
    check_all(1);
    drop_snaps();
    settle(2);
    check_all(1);
}

TEST(edges_bounds) { run_edge(edge_bounds); }
TEST(edges_nested_overlapping) { run_edge(edge_nested_overlapping); }
TEST(edges_reverse_into_and_out) { run_edge(edge_reverse_into_and_out); }
TEST(edges_tombstone_only_tables) { run_edge(edge_tombstone_only_tables); }

TEST(api_arguments)
{
    start(0);
    put_range(0, 10);
    uint64_t seq = tind_internal_last_seqno(db);
    CHECK_RC(tind_remove_range(ks, "b", 1, "a", 1), TIND_EINVAL);        /* inverted */
    CHECK_RC(tind_remove_range(ks, "k005", 4, "k0049", 5), TIND_EINVAL);
    CHECK_RC(tind_remove_range(ks, NULL, 3, "a", 1), TIND_EINVAL);       /* NULL with a length */
    CHECK_RC(tind_remove_range(ks, "a", 1, NULL, 3), TIND_EINVAL);
    CHECK_RC(tind_remove_range(NULL, "a", 1, "b", 1), TIND_EINVAL);
    static char big[TIND_MAX_KEY_SIZE + 1];
    memset(big, 'k', sizeof big);
    CHECK_RC(tind_remove_range(ks, big, sizeof big, NULL, 0), TIND_ETOOBIG);
    CHECK_RC(tind_remove_range(ks, "k005", 4, "k005", 4), TIND_OK);     /* empty */
    CHECK_RC(tind_remove_range(ks, NULL, 0, "\0", 1), TIND_OK);         /* empty: nothing is below "\0" */
    CHECK_EQ(tind_internal_last_seqno(db), seq);                         /* nothing written */
    CHECK(!tind_internal_is_poisoned(db));
    tind_batch *b;
    CHECK_OK(tind_batch_new(db, &b));
    CHECK_OK(tind_batch_remove_range(b, ks, "k001", 4, "k001", 4));
    CHECK_EQ(tind_batch_count(b), 0);
    CHECK_RC(tind_batch_remove_range(b, ks, "k002", 4, "k001", 4), TIND_EINVAL);
    CHECK_RC(tind_batch_remove_range(NULL, ks, "k001", 4, "k002", 4), TIND_EINVAL);
    CHECK_OK(tind_batch_remove_range(b, ks, big, TIND_MAX_KEY_SIZE, NULL, 0)); /* the largest bound */
    CHECK_OK(tind_batch_put(b, ks, "k009", 4, "new", 3));
    CHECK_EQ(tind_batch_count(b), 2);
    CHECK_OK(tind_batch_commit(b));
    tind_batch_free(b);
    M.seq += 2;
    model_range(big, TIND_MAX_KEY_SIZE, NULL, 0, M.seq - 1);
    char k[16];
    key_of(9, k);
    void *v;
    size_t vn;
    CHECK_OK(tind_get(ks, k, 4, NULL, &v, &vn));
    CHECK_MEM(v, vn, "new", 3);
    tind_free(v);
    /* a range up to the largest bound, flushed and compacted: the table's key
     * range ends at the bound */
    CHECK_OK(tind_remove_range(ks, "k008", 4, big, TIND_MAX_KEY_SIZE));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    CHECK_RC(tind_get(ks, "k008", 4, NULL, &v, &vn), TIND_NOT_FOUND);
    CHECK_OK(tind_get(ks, "k007", 4, NULL, &v, &vn));
    tind_free(v);
    /* clear, then writes after it */
    CHECK_OK(tind_keyspace_clear(ks));
    CHECK_RC(tind_get(ks, "k007", 4, NULL, &v, &vn), TIND_NOT_FOUND);
    CHECK_OK(tind_put(ks, "k007", 4, "x", 1));
    CHECK_OK(tind_get(ks, "k007", 4, NULL, &v, &vn));
    tind_free(v);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
    model_reset();
}

TEST(whole_tables_dropped)
{
    start(0);
    char val[200];
    trng_seed(&R, 5);
    for (int i = 0; i < 400; i++) {
        char k[16];
        for (size_t j = 0; j < sizeof val; j++)
            val[j] = (char)trng_next(&R); /* incompressible */
        snprintf(k, sizeof k, "d%05d", i);
        CHECK_OK(tind_put(ks, k, 6, val, sizeof val));
    }
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    uint64_t tables = 0;
    for (uint32_t l = 0; l < st.levels; l++)
        tables += st.tables[l];
    CHECK(tables >= 10); /* many tables, each of many 256-byte blocks */
    uint64_t before_tables = tables;
    M.seq = 400;
    reopen();            /* a cold block cache */
    CHECK_OK(tind_remove_range(ks, "d", 1, "e", 1));
    CHECK_OK(tind_flush(ks));
    tind_ks_stats before, after;
    CHECK_OK(tind_ks_stats_get(ks, &before));
    CHECK_OK(tind_compact(ks));
    CHECK_OK(tind_ks_stats_get(ks, &after));
    tables = 0;
    for (uint32_t l = 0; l < after.levels; l++)
        tables += after.tables[l];
    CHECK_EQ(tables, 0);       /* the tombstone went at the bottom too */
    CHECK_EQ(after.disk_bytes, 0);
    /* the covered tables' data blocks were never read: the misses are their
     * top-level index and filter blocks (two per table), while their data
     * blocks are over 300 (400 entries of 206 bytes in 256-byte blocks) */
    uint64_t misses = after.cache_misses - before.cache_misses;
    if (misses > 2 * before_tables + 4)
        fprintf(stderr, "cache misses during the compaction: %llu for %llu tables\n", (unsigned long long)misses,
                (unsigned long long)before_tables);
    CHECK(misses <= 2 * before_tables + 4);
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
    tind_iter_first(it);
    CHECK(!tind_iter_valid(it));
    tind_iter_free(it);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(clear_crash)
{
    for (int round = 0; round < 24; round++) {
        start(0);
        put_range(0, NKEYS);
        CHECK_OK(tind_persist(db, TIND_PERSIST_SYNC_DATA));
        if (round & 1)
            CHECK_OK(tind_flush(ks));
        CHECK_OK(tind_keyspace_clear(ks));
        if (round & 2)
            CHECK_OK(tind_flush(ks));
        if (round & 4)
            CHECK_OK(tind_persist(db, TIND_PERSIST_SYNC_DATA));
        tind_internal_pause_background(db, 1);
        int modes = round % 3 == 0 ? FS_CRASH_DROP_UNSYNCED : FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR;
        CHECK_OK(fs_mem_crash(mem, modes, (uint64_t)round));
        tind_close(db); /* the process is gone: what it does is irrelevant */
        open_db();
        tind_iter *it;
        CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
        int n = 0;
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
            n++;
        CHECK_OK(tind_iter_status(it));
        tind_iter_free(it);
        CHECK(n == 0 || n == NKEYS); /* all or nothing */
        if (round & 6)
            CHECK_EQ(n, 0);          /* synced (a flush syncs the journal) */
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
        model_reset();
    }
}

/* ------------------------------------------------------------------ randomized model */

static void random_bound(char *b, size_t *n)
{
    int id = (int)trng_below(&R, NKEYS + 1);
    *n = key_of(id, b);
    uint64_t c = trng_below(&R, 5);
    if (c == 0)
        b[(*n)++] = 'm';           /* between keys */
    else if (c == 1)
        *n = 3;                    /* a prefix: before every key it starts */
}

static void random_op(void)
{
    uint64_t c = trng_below(&R, 100);
    if (c < 40) {
        put((int)trng_below(&R, NKEYS));
    } else if (c < 48) {
        del((int)trng_below(&R, NKEYS));
    } else if (c < 56) {
        char lo[16], hi[16];
        size_t ll, hl;
        random_bound(lo, &ll);
        random_bound(hi, &hl);
        int open_lo = trng_below(&R, 10) == 0, open_hi = trng_below(&R, 10) == 0;
        lo[ll] = hi[hl] = 0;
        if (!open_lo && !open_hi && key_cmp((uint8_t *)lo, ll, (uint8_t *)hi, hl) > 0) {
            CHECK_RC(tind_remove_range(ks, lo, ll, hi, hl), TIND_EINVAL);
            return;
        }
        rdel(open_lo ? NULL : lo, open_hi ? NULL : hi);
    } else if (c < 60) {
        /* a batch mixing puts, deletes and range deletions */
        tind_batch *b;
        CHECK_OK(tind_batch_new(db, &b));
        int n = 1 + (int)trng_below(&R, 5);
        uint64_t seq = M.seq;
        for (int i = 0; i < n; i++) {
            int id = (int)trng_below(&R, NKEYS);
            char k[16];
            size_t kl = key_of(id, k);
            if (trng_below(&R, 3) == 0) {
                char hi[16];
                size_t hl = key_of(id + 1 + (int)trng_below(&R, 10), hi);
                CHECK_OK(tind_batch_remove_range(b, ks, k, kl, hi, hl));
                model_range(k, kl, hi, hl, ++seq);
            } else {
                char v[24];
                int vn = snprintf(v, sizeof v, "v%llu", (unsigned long long)++seq);
                CHECK_OK(tind_batch_put(b, ks, k, kl, v, (size_t)vn));
                model_add(id, seq, 0, (uint32_t)seq);
            }
        }
        CHECK_OK(tind_batch_commit(b));
        tind_batch_free(b);
        M.seq = seq;
    } else if (c < 64) {
        take_snapshot();
    } else if (c < 66) {
        if (nsnaps) {
            int i = (int)trng_below(&R, (uint64_t)nsnaps);
            tind_snapshot_free(snaps[i]);
            memmove(snaps + i, snaps + i + 1, (size_t)(nsnaps - i - 1) * sizeof *snaps);
            memmove(snap_seq + i, snap_seq + i + 1, (size_t)(nsnaps - i - 1) * sizeof *snap_seq);
            nsnaps--;
        }
    } else if (c < 70) {
        CHECK_OK(tind_flush(ks));
    } else if (c < 72) {
        CHECK_OK(tind_compact(ks));
    } else if (c < 80) {
        for (int i = (int)trng_below(&R, 4); i >= 0; i--)
            if (tind_internal_background_step(db) < 0)
                break;
    } else if (c < 81) {
        reopen();
    } else if (c < 82) {
        /* power loss after a sync: the state is the model at some batch
         * boundary between the sync and the last write */
        CHECK_OK(tind_persist(db, TIND_PERSIST_SYNC_DATA));
        uint64_t synced = M.seq;
        for (int i = (int)trng_below(&R, 4); i > 0; i--)
            put((int)trng_below(&R, NKEYS));
        drop_snaps();
        tind_internal_pause_background(db, 1);
        CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED, trng_next(&R)));
        tind_close(db);
        open_db();
        uint64_t got = tind_internal_last_seqno(db);
        CHECK(got >= synced && got <= M.seq);
        model_truncate(got);
    } else {
        check_all(0);
    }
}

static void run_model(int with_threads, uint64_t seed, int ops)
{
    trng_seed(&R, seed);
    start(with_threads);
    for (int i = 0; i < ops; i++)
        random_op();
    check_all(1);
    reopen();
    check_all(1);
    stop();
}

TEST(model_threads_off)
{
    int ops = (int)(4000 * check_scale());
    for (uint64_t seed = 1; seed <= 6; seed++)
        run_model(0, seed, ops);
}

TEST(model_threads_on)
{
    int ops = (int)(2000 * check_scale());
    for (uint64_t seed = 100; seed <= 103; seed++)
        run_model(1, seed, ops);
}

int main(void)
{
    RUN(fragmenter_vs_brute_force);
    RUN(codec_round_trip_and_damage);
    RUN(memtable_side_list);
    RUN(api_arguments);
    RUN(edges_bounds);
    RUN(edges_nested_overlapping);
    RUN(edges_reverse_into_and_out);
    RUN(edges_tombstone_only_tables);
    RUN(whole_tables_dropped);
    RUN(clear_crash);
    RUN(model_threads_off);
    RUN(model_threads_on);
    return 0;
}
