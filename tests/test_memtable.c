/*
 * test_memtable.c -- the memtable skip list against a brute-force sorted
 * array, plus a concurrent test (one writer, three lock-free readers).
 *
 * TSAN-LABEL: this file runs under ThreadSanitizer in `make test-tsan`
 * (the `concurrent` test checks the release/acquire publication protocol).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "format/entry.h"
#include "memtable/memtable.h"
#include "util/rand.h"

/* ------------------------------------------------------------------ reference */

typedef struct ref_entry {
    uint8_t *key;
    size_t klen;
    uint64_t seqno;
    uint8_t type;
    uint8_t *val;
    size_t vlen;
} ref_entry;

typedef struct ref_list {
    ref_entry *e;
    size_t n, cap;
} ref_list;

static int ref_cmp(const ref_entry *e, const uint8_t *key, size_t klen, uint64_t seqno)
{
    return ikey_cmp(e->key, e->klen, e->seqno, key, klen, seqno);
}

/* First index whose entry is >= target (strict = 0) or > target (strict = 1). */
static size_t ref_bound(const ref_list *r, const uint8_t *key, size_t klen, uint64_t seqno, int strict)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ref_cmp(&r->e[mid], key, klen, seqno);
        if (c < 0 || (strict && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void *xdup(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    CHECK(d != NULL);
    if (n)
        memcpy(d, p, n);
    return d;
}

static void ref_insert(ref_list *r, const uint8_t *key, size_t klen, uint64_t seqno, uint8_t type,
                       const uint8_t *val, size_t vlen)
{
    size_t i = ref_bound(r, key, klen, seqno, 0);
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 256;
        r->e = realloc(r->e, r->cap * sizeof *r->e);
        CHECK(r->e != NULL);
    }
    memmove(r->e + i + 1, r->e + i, (r->n - i) * sizeof *r->e);
    r->e[i] = (ref_entry){xdup(key, klen), klen, seqno, type, xdup(val, vlen), vlen};
    r->n++;
}

static void ref_free(ref_list *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->e[i].key);
        free(r->e[i].val);
    }
    free(r->e);
    memset(r, 0, sizeof *r);
}

/* The iterator stands where the reference index i says (i == n: invalid). */
static void check_at(const mt_iter *it, const ref_list *r, size_t i)
{
    if (i >= r->n) {
        CHECK(!mt_iter_valid(it));
        return;
    }
    CHECK(mt_iter_valid(it));
    const ref_entry *e = &r->e[i];
    size_t klen, vlen;
    const uint8_t *k = mt_iter_key(it, &klen);
    CHECK_MEM(k, klen, e->key, e->klen);
    CHECK(mt_iter_seqno(it) == e->seqno);
    CHECK_EQ(mt_iter_type(it), e->type);
    const uint8_t *v = mt_iter_value(it, &vlen);
    CHECK_MEM(v, vlen, e->val, e->vlen);
}

static void check_full_scan(memtable *m, const ref_list *r)
{
    mt_iter *it = mt_iter_new(m);
    CHECK(it != NULL);
    mt_iter_first(it);
    for (size_t i = 0; i < r->n; i++) {
        check_at(it, r, i);
        mt_iter_next(it);
    }
    CHECK(!mt_iter_valid(it));
    mt_iter_last(it);
    for (size_t i = r->n; i-- > 0;) {
        check_at(it, r, i);
        mt_iter_prev(it);
    }
    CHECK(!mt_iter_valid(it));
    mt_iter_free(it);
}

static void check_counters(memtable *m, const ref_list *r)
{
    uint64_t tomb = 0, lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < r->n; i++) {
        uint8_t t = r->e[i].type;
        tomb += t == ENTRY_TOMBSTONE || t == ENTRY_SINGLE_DELETE || t == ENTRY_RANGE_TOMBSTONE;
        if (r->e[i].seqno < lo)
            lo = r->e[i].seqno;
        if (r->e[i].seqno > hi)
            hi = r->e[i].seqno;
    }
    CHECK_EQ(mt_count(m), r->n);
    CHECK_EQ(mt_empty(m), r->n == 0);
    CHECK_EQ(mt_tombstones(m), tomb);
    CHECK(mt_min_seqno(m) == lo);
    CHECK(mt_max_seqno(m) == hi);
}

/* A key from a small alphabet with bytes 0x00 and 0xff, 0..5 bytes long, so
 * that prefixes, empty keys and many versions per key are common. */
static size_t random_key(trng *g, uint8_t *k)
{
    static const uint8_t alphabet[] = {0x00, 'a', 'b', 'c', 0xff};
    size_t n = trng_below(g, 20) == 0 ? 0 : 1 + trng_below(g, 5);
    for (size_t i = 0; i < n; i++)
        k[i] = alphabet[trng_below(g, sizeof alphabet)];
    return n;
}

static uint64_t random_seqno(trng *g)
{
    switch (trng_below(g, 10)) {
    case 0: return trng_below(g, 4);                 /* 0..3 */
    case 1: return SEQNO_MAX - trng_below(g, 4);
    default: return 1 + trng_below(g, 3000);
    }
}

/* ------------------------------------------------------------------ tests */

TEST(empty)
{
    memtable *m = mt_new(7);
    CHECK(m != NULL);
    CHECK_EQ(mt_id(m), 7);
    CHECK(mt_empty(m));
    CHECK_EQ(mt_count(m), 0);
    CHECK(mt_min_seqno(m) == UINT64_MAX);
    CHECK_EQ(mt_max_seqno(m), 0);
    CHECK(mt_memory(m) > 0);
    CHECK_RC(mt_get(m, (const uint8_t *)"a", 1, SEQNO_MAX, NULL, NULL, NULL, NULL), TIND_NOT_FOUND);
    CHECK_RC(mt_get(m, NULL, 0, UINT64_MAX, NULL, NULL, NULL, NULL), TIND_NOT_FOUND);
    mt_iter *it = mt_iter_new(m);
    CHECK(it != NULL);
    CHECK(!mt_iter_valid(it));
    mt_iter_first(it); CHECK(!mt_iter_valid(it));
    mt_iter_last(it); CHECK(!mt_iter_valid(it));
    mt_iter_seek(it, (const uint8_t *)"a", 1, 5); CHECK(!mt_iter_valid(it));
    mt_iter_seek_for_prev(it, (const uint8_t *)"a", 1, 5); CHECK(!mt_iter_valid(it));
    mt_iter_free(it);
    mt_iter_free(NULL);
    mt_unref(m);
    mt_unref(NULL);
}

TEST(basic)
{
    memtable *m = mt_new(1);
    CHECK(m != NULL);
    const uint8_t *k = (const uint8_t *)"key";
    CHECK_OK(mt_add(m, 10, ENTRY_VALUE, k, 3, (const uint8_t *)"v10", 3));
    CHECK_OK(mt_add(m, 20, ENTRY_TOMBSTONE, k, 3, NULL, 0));
    CHECK_OK(mt_add(m, 30, ENTRY_VALUE, k, 3, (const uint8_t *)"", 0));   /* empty value */
    CHECK_OK(mt_add(m, 5, ENTRY_VALUE, (const uint8_t *)"ke", 2, (const uint8_t *)"p", 1));
    CHECK_OK(mt_add(m, 6, ENTRY_VALUE, (const uint8_t *)"key\0", 4, (const uint8_t *)"q", 1));

    /* duplicates and bad types are refused and change nothing */
    CHECK_RC(mt_add(m, 20, ENTRY_VALUE, k, 3, (const uint8_t *)"x", 1), TIND_EEXIST);
    CHECK_RC(mt_add(m, 40, ENTRY_TYPE_MAX + 1, k, 3, NULL, 0), TIND_EINVAL);
    CHECK_EQ(mt_count(m), 5);
    CHECK_EQ(mt_tombstones(m), 1);
    CHECK_EQ(mt_min_seqno(m), 5);
    CHECK_EQ(mt_max_seqno(m), 30);

    uint8_t type;
    uint64_t seq;
    const uint8_t *v;
    size_t vlen;
    CHECK_RC(mt_get(m, k, 3, 9, &type, &seq, &v, &vlen), TIND_NOT_FOUND);
    CHECK_OK(mt_get(m, k, 3, 10, &type, &seq, &v, &vlen));
    CHECK_EQ(seq, 10); CHECK_EQ(type, ENTRY_VALUE); CHECK_MEM(v, vlen, "v10", 3);
    CHECK_OK(mt_get(m, k, 3, 29, &type, &seq, &v, &vlen));
    CHECK_EQ(seq, 20); CHECK_EQ(type, ENTRY_TOMBSTONE); CHECK_EQ(vlen, 0);
    CHECK_OK(mt_get(m, k, 3, UINT64_MAX, &type, &seq, &v, &vlen));
    CHECK_EQ(seq, 30); CHECK_EQ(type, ENTRY_VALUE); CHECK_EQ(vlen, 0); CHECK(v != NULL);
    CHECK_RC(mt_get(m, (const uint8_t *)"k", 1, UINT64_MAX, &type, &seq, &v, &vlen), TIND_NOT_FOUND);
    CHECK_RC(mt_get(m, (const uint8_t *)"kez", 3, UINT64_MAX, &type, &seq, &v, &vlen), TIND_NOT_FOUND);

    /* order: "ke"@5, "key"@30, @20, @10, "key\0"@6 */
    static const uint64_t order[] = {5, 30, 20, 10, 6};
    mt_iter *it = mt_iter_new(m);
    mt_iter_first(it);
    for (int i = 0; i < 5; i++, mt_iter_next(it)) {
        CHECK(mt_iter_valid(it));
        CHECK_EQ(mt_iter_seqno(it), order[i]);
    }
    CHECK(!mt_iter_valid(it));
    mt_iter_seek(it, k, 3, 25);
    CHECK(mt_iter_valid(it)); CHECK_EQ(mt_iter_seqno(it), 20);
    mt_iter_seek_for_prev(it, k, 3, 25);
    CHECK(mt_iter_valid(it)); CHECK_EQ(mt_iter_seqno(it), 30);
    mt_iter_prev(it);
    CHECK(mt_iter_valid(it)); CHECK_EQ(mt_iter_seqno(it), 5);
    mt_iter_prev(it);
    CHECK(!mt_iter_valid(it));
    mt_iter_seek_for_prev(it, (const uint8_t *)"a", 1, 0);
    CHECK(!mt_iter_valid(it));
    mt_iter_seek(it, (const uint8_t *)"z", 1, 0);
    CHECK(!mt_iter_valid(it));
    mt_iter_free(it);
    mt_unref(m);
}

/* Random adds, gets, seeks and scans against the sorted-array reference. */
TEST(model)
{
    trng g;
    trng_seed(&g, check_seed);
    int rounds = (int)(4 * check_scale());
    for (int round = 0; round < rounds; round++) {
        memtable *m = mt_new((uint64_t)round);
        CHECK(m != NULL);
        ref_list r = {0};
        uint8_t key[8], val[128];
        size_t last_mem = mt_memory(m);
        for (int op = 0; op < 20000; op++) {
            unsigned pick = (unsigned)trng_below(&g, 100);
            size_t klen = random_key(&g, key);
            uint64_t seq = random_seqno(&g);
            if (pick < 55) {
                uint8_t type = ENTRY_VALUE;
                unsigned t = (unsigned)trng_below(&g, 100);
                if (t < 20)
                    type = ENTRY_TOMBSTONE;
                else if (t < 25)
                    /* types 2..4: range tombstones (5) are kept apart (test_rangedel) */
                    type = (uint8_t)(2 + trng_below(&g, ENTRY_RANGE_TOMBSTONE - 2));
                size_t vlen = type == ENTRY_TOMBSTONE || trng_below(&g, 8) == 0 ? 0
                              : 1 + trng_below(&g, sizeof val - 1);
                for (size_t i = 0; i < vlen; i++)
                    val[i] = (uint8_t)trng_next(&g);
                size_t at = ref_bound(&r, key, klen, seq, 0);
                int dup = at < r.n && ref_cmp(&r.e[at], key, klen, seq) == 0;
                int rc = mt_add(m, seq, type, key, klen, val, vlen);
                if (dup) {
                    CHECK_RC(rc, TIND_EEXIST);
                } else {
                    CHECK_OK(rc);
                    ref_insert(&r, key, klen, seq, type, val, vlen);
                }
                size_t mem = mt_memory(m);
                CHECK(mem >= last_mem);
                last_mem = mem;
            } else if (pick < 75) {
                uint64_t snap = trng_below(&g, 10) == 0 ? UINT64_MAX : seq;
                uint8_t type;
                uint64_t got_seq;
                const uint8_t *v;
                size_t vlen;
                int rc = mt_get(m, key, klen, snap, &type, &got_seq, &v, &vlen);
                size_t at = ref_bound(&r, key, klen, snap, 0);
                if (at < r.n && key_cmp(r.e[at].key, r.e[at].klen, key, klen) == 0) {
                    CHECK_OK(rc);
                    CHECK(got_seq == r.e[at].seqno);
                    CHECK_EQ(type, r.e[at].type);
                    CHECK_MEM(v, vlen, r.e[at].val, r.e[at].vlen);
                } else {
                    CHECK_RC(rc, TIND_NOT_FOUND);
                }
            } else if (pick < 97) {
                int backward = pick >= 86;
                mt_iter *it = mt_iter_new(m);
                CHECK(it != NULL);
                size_t at;
                if (backward) {
                    mt_iter_seek_for_prev(it, key, klen, seq);
                    at = ref_bound(&r, key, klen, seq, 1);
                    at = at ? at - 1 : r.n;
                } else {
                    mt_iter_seek(it, key, klen, seq);
                    at = ref_bound(&r, key, klen, seq, 0);
                }
                check_at(it, &r, at);
                /* walk a few steps in a random mix of directions */
                int steps = (int)trng_below(&g, 24);
                for (int s = 0; s < steps && at < r.n; s++) {
                    if (trng_below(&g, 3) == 0) {
                        mt_iter_prev(it);
                        at = at ? at - 1 : r.n;
                    } else {
                        mt_iter_next(it);
                        at++;
                    }
                    check_at(it, &r, at);
                }
                mt_iter_free(it);
            } else {
                check_counters(m, &r);
            }
            if (op % 5000 == 4999)
                check_full_scan(m, &r);
        }
        check_counters(m, &r);
        check_full_scan(m, &r);
        ref_free(&r);
        mt_unref(m);
    }
}

/* Entries in increasing internal order take the append path (no search):
 * mixed with older versions of the last key (appends too), newer versions
 * and earlier keys (searched inserts) and duplicates of the last entry, the
 * list matches the model and every level stays sorted (seek from the top). */
TEST(append)
{
    trng g;
    trng_seed(&g, check_seed ^ 0xa99e);
    memtable *m = mt_new(9);
    CHECK(m != NULL);
    ref_list r = {0};
    uint8_t key[16];
    uint64_t next_key = 0;
    int n = (int)(20000 * check_scale()) + 100;
    for (int op = 0; op < n; op++) {
        unsigned pick = (unsigned)trng_below(&g, 16);
        uint64_t kn = next_key, seq = 1000 + trng_below(&g, 1000);
        if (pick == 0 && r.n) {            /* the last entry again: EEXIST */
            const ref_entry *e = &r.e[r.n - 1];
            CHECK_RC(mt_add(m, e->seqno, ENTRY_VALUE, e->key, e->klen, NULL, 0), TIND_EEXIST);
            continue;
        }
        if (pick == 1 && r.n) {            /* an older version of the last key: still an append */
            const ref_entry *e = &r.e[r.n - 1];
            if (e->seqno > 0) {
                memcpy(key, e->key, e->klen);
                size_t klen = e->klen;
                uint64_t s = e->seqno - 1 - trng_below(&g, e->seqno < 4 ? e->seqno : 4);
                CHECK_OK(mt_add(m, s, ENTRY_TOMBSTONE, key, klen, NULL, 0));
                ref_insert(&r, key, klen, s, ENTRY_TOMBSTONE, NULL, 0);
            }
            continue;
        }
        if (pick == 2 && next_key)         /* an earlier key: a searched insert */
            kn = trng_below(&g, next_key);
        else if (pick == 3 && next_key)    /* a newer version of the last key */
            kn = next_key - 1, seq = 5000 + (uint64_t)op;
        else
            next_key++;
        size_t klen = (size_t)snprintf((char *)key, sizeof key, "k%08u", (unsigned)kn);
        size_t at = ref_bound(&r, key, klen, seq, 0);
        int dup = at < r.n && ref_cmp(&r.e[at], key, klen, seq) == 0;
        int rc = mt_add(m, seq, ENTRY_VALUE, key, klen, key, klen);
        if (dup) {
            CHECK_RC(rc, TIND_EEXIST);
        } else {
            CHECK_OK(rc);
            ref_insert(&r, key, klen, seq, ENTRY_VALUE, key, klen);
        }
    }
    check_counters(m, &r);
    check_full_scan(m, &r);
    mt_iter *it = mt_iter_new(m);
    CHECK(it != NULL);
    for (size_t i = 0; i < r.n; i += 1 + trng_below(&g, 50)) {
        mt_iter_seek(it, r.e[i].key, r.e[i].klen, r.e[i].seqno);
        check_at(it, &r, i);
        uint64_t seq;
        CHECK_OK(mt_get(m, r.e[i].key, r.e[i].klen, r.e[i].seqno, NULL, &seq, NULL, NULL));
        CHECK(seq == r.e[i].seqno);
    }
    mt_iter_free(it);
    ref_free(&r);
    mt_unref(m);
}

/* Keys at and past the 64 KiB limit, values of 1 MB. */
TEST(large)
{
    trng g;
    trng_seed(&g, check_seed ^ 0x1a);
    memtable *m = mt_new(2);
    ref_list r = {0};
    size_t kmax = 65536, vmax = 1 << 20;
    uint8_t *key = malloc(kmax), *val = malloc(vmax);
    CHECK(key && val);
    size_t payload = 0;
    for (int i = 0; i < 24; i++) {
        size_t klen = i % 3 == 0 ? kmax : i % 3 == 1 ? TIND_MAX_KEY_SIZE : 1 + trng_below(&g, kmax);
        size_t vlen = i % 4 == 0 ? 0 : i % 4 == 1 ? vmax : trng_below(&g, vmax);
        memset(key, 'k', klen);
        key[klen - 1] = (uint8_t)trng_below(&g, 4);   /* few distinct keys: many versions */
        for (size_t j = 0; j < vlen; j += 8)
            val[j] = (uint8_t)trng_next(&g);
        size_t before = mt_memory(m);
        CHECK_OK(mt_add(m, (uint64_t)i + 1, ENTRY_VALUE, key, klen, val, vlen));
        ref_insert(&r, key, klen, (uint64_t)i + 1, ENTRY_VALUE, val, vlen);
        payload += klen + vlen;
        CHECK(mt_memory(m) >= before);
        CHECK(mt_memory(m) >= payload);
    }
    for (size_t i = 0; i < r.n; i++) {
        const ref_entry *e = &r.e[i];
        uint8_t type;
        uint64_t seq;
        const uint8_t *v;
        size_t vlen;
        CHECK_OK(mt_get(m, e->key, e->klen, e->seqno, &type, &seq, &v, &vlen));
        CHECK(seq == e->seqno);
        CHECK_MEM(v, vlen, e->val, e->vlen);
    }
    check_counters(m, &r);
    check_full_scan(m, &r);
    free(key);
    free(val);
    ref_free(&r);
    mt_unref(m);
}

/* Memory accounting grows with the data and stays close to it. */
TEST(memory)
{
    memtable *m = mt_new(3);
    size_t start = mt_memory(m), last = start, payload = 0;
    uint8_t key[16], val[100];
    memset(val, 'v', sizeof val);
    for (uint32_t i = 0; i < 100000; i++) {
        int n = snprintf((char *)key, sizeof key, "k%08u", i * 2654435761u);
        CHECK_OK(mt_add(m, i + 1, ENTRY_VALUE, key, (size_t)n, val, sizeof val));
        payload += (size_t)n + sizeof val;
        size_t mem = mt_memory(m);
        CHECK(mem >= last);
        last = mem;
    }
    CHECK(last > start);
    CHECK(last >= payload);
    /* per-node overhead: header, tower (avg 1.33 links) and padding: 43.9
     * bytes here (bound 48) before nodes took a point-read chain link
     * (hnext, 8 bytes in every node): 51.9, bound 56 */
    CHECK(last < payload + 100000 * 56 + 2 * 65536);
    mt_unref(m);
}

/* An iterator keeps its memtable alive after every other reference is gone. */
TEST(refcount)
{
    memtable *m = mt_new(4);
    CHECK_OK(mt_add(m, 1, ENTRY_VALUE, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1));
    CHECK_OK(mt_add(m, 2, ENTRY_VALUE, (const uint8_t *)"b", 1, (const uint8_t *)"2", 1));
    mt_ref(m);
    mt_ref(m);
    mt_unref(m);
    mt_unref(m);
    mt_iter *it = mt_iter_new(m);
    mt_iter *it2 = mt_iter_new(m);
    CHECK(it && it2);
    mt_unref(m);   /* the creator's reference */
    mt_iter_first(it);
    CHECK(mt_iter_valid(it));
    size_t n;
    const uint8_t *k = mt_iter_key(it, &n);
    CHECK_MEM(k, n, "a", 1);
    mt_iter_free(it2);
    mt_iter_next(it);
    const uint8_t *v = mt_iter_value(it, &n);
    CHECK_MEM(v, n, "2", 1);
    mt_iter_next(it);
    CHECK(!mt_iter_valid(it));
    mt_iter_free(it);   /* the last reference: frees (ASan would see a leak or a reuse) */
}

/* ------------------------------------------------------------------ concurrent */

#define CC_KEYS 20000u

typedef struct cc_state {
    memtable *m;
    uint64_t total;
    _Atomic uint64_t published;   /* every seqno <= published is in m */
    _Atomic int done;
    uint64_t seed;
    int sorted;                   /* keys mostly in increasing order (the append path) */
    int unordered;                /* one block of CC_BLOCK seqnos in 8 added newest first */
} cc_state;

#define CC_BLOCK 16

static uint64_t cc_mix(uint64_t x)
{
    return trng_splitmix(&x);
}

/* Seqno s writes key_of(s); each key gets ~total / CC_KEYS versions. Sorted:
 * key s / 2 (two versions each, the newer first in internal order), and one
 * seqno in 8 a random earlier key, so appends and searched inserts mix.
 * Unordered: the four seqnos of s / 4 write one key, so that a block added
 * newest first pushes older versions above newer ones in the key's chain. */
static size_t cc_key(const cc_state *st, uint64_t s, uint8_t *k)
{
    if (st->unordered)
        return (size_t)snprintf((char *)k, 16, "k%u", (unsigned)(cc_mix(st->seed ^ (s / 4)) % CC_KEYS));
    if (st->sorted) {
        uint64_t h = cc_mix(st->seed ^ s);
        return (size_t)snprintf((char *)k, 16, "k%09u", (unsigned)(h % 8 == 0 ? h % (s / 2 + 1) : s / 2));
    }
    return (size_t)snprintf((char *)k, 16, "k%u", (unsigned)(cc_mix(st->seed ^ s) % CC_KEYS));
}

static uint8_t cc_type(uint64_t seed, uint64_t s) { return cc_mix(seed + s) % 8 == 0 ? ENTRY_TOMBSTONE : ENTRY_VALUE; }

/* The value is a function of key and seqno. */
static size_t cc_value(const uint8_t *k, size_t klen, uint64_t s, uint8_t *v)
{
    uint64_t h = s * 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < klen; i++)
        h = (h ^ k[i]) * 0x100000001b3ull;
    size_t n = (size_t)(cc_mix(h) % 48);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint8_t)(h >> (8 * (i % 8))) ^ (uint8_t)i;
    return n;
}

/* One entry seen by a reader is exactly what the writer added for its seqno. */
static void cc_check_entry(const cc_state *st, const uint8_t *k, size_t klen, uint64_t s, uint8_t type,
                           const uint8_t *v, size_t vlen)
{
    uint8_t want_k[16], want_v[64];
    CHECK(s >= 1 && s <= st->total);
    size_t wk = cc_key(st, s, want_k);
    CHECK_MEM(k, klen, want_k, wk);
    uint8_t wt = cc_type(st->seed, s);
    CHECK_EQ(type, wt);
    size_t wv = wt == ENTRY_TOMBSTONE ? 0 : cc_value(k, klen, s, want_v);
    CHECK_MEM(v, vlen, want_v, wv);
}

static void cc_add(cc_state *st, uint64_t s)
{
    uint8_t k[16], v[64];
    size_t klen = cc_key(st, s, k);
    uint8_t type = cc_type(st->seed, s);
    size_t vlen = type == ENTRY_TOMBSTONE ? 0 : cc_value(k, klen, s, v);
    CHECK_OK(mt_add(st->m, s, type, k, klen, v, vlen));
}

/* Adds seqnos 1..total in order, or (unordered) in blocks of CC_BLOCK, one
 * block in 8 newest first, each published once whole. */
static void *cc_writer(void *arg)
{
    cc_state *st = arg;
    for (uint64_t s = 1; s <= st->total; s++) {
        if (st->unordered && s % CC_BLOCK == 1 && cc_mix(st->seed ^ s) % 8 == 0) {
            uint64_t end = s + CC_BLOCK - 1 < st->total ? s + CC_BLOCK - 1 : st->total;
            for (uint64_t t = end; t >= s; t--)
                cc_add(st, t);
            s = end;
        } else {
            cc_add(st, s);
        }
        atomic_store_explicit(&st->published, s, memory_order_release);
    }
    atomic_store_explicit(&st->done, 1, memory_order_release);
    return NULL;
}

/* A scan forward or backward: entries strictly increasing and each
 * well-formed; a full scan (limit = 0) sees every entry published before it
 * began. A bounded scan starts at a random point and takes limit steps. */
static void cc_scan(cc_state *st, mt_iter *it, int backward, trng *g, int limit)
{
    uint64_t before = atomic_load_explicit(&st->published, memory_order_acquire);
    uint8_t prev_k[16];
    size_t prev_klen = 0;
    uint64_t prev_s = 0, seen_old = 0;
    int first = 1, steps = 0;
    if (limit && before) {
        uint64_t s = 1 + trng_below(g, before);
        prev_klen = cc_key(st, s, prev_k);
        if (backward)
            mt_iter_seek_for_prev(it, prev_k, prev_klen, s);
        else
            mt_iter_seek(it, prev_k, prev_klen, s);
        CHECK(mt_iter_valid(it) && mt_iter_seqno(it) == s);
    } else if (backward) {
        mt_iter_last(it);
    } else {
        mt_iter_first(it);
    }
    for (; mt_iter_valid(it) && (!limit || steps < limit);
         backward ? mt_iter_prev(it) : mt_iter_next(it), steps++) {
        size_t klen, vlen;
        const uint8_t *k = mt_iter_key(it, &klen);
        const uint8_t *v = mt_iter_value(it, &vlen);
        uint64_t s = mt_iter_seqno(it);
        cc_check_entry(st, k, klen, s, mt_iter_type(it), v, vlen);
        if (!first) {
            int c = ikey_cmp(prev_k, prev_klen, prev_s, k, klen, s);
            CHECK(backward ? c > 0 : c < 0);
        }
        first = 0;
        CHECK(klen <= sizeof prev_k);
        memcpy(prev_k, k, klen);
        prev_klen = klen;
        prev_s = s;
        seen_old += s <= before;
    }
    if (!limit)
        CHECK_EQ(seen_old, before);
}

typedef struct cc_reader_arg {
    cc_state *st;
    uint64_t index;
} cc_reader_arg;

static void *cc_reader(void *arg)
{
    cc_state *st = ((cc_reader_arg *)arg)->st;
    trng g;
    trng_seed(&g, st->seed + ((cc_reader_arg *)arg)->index);
    mt_iter *it = mt_iter_new(st->m);
    CHECK(it != NULL);
    uint64_t last_count = 0;
    size_t last_mem = 0;
    for (int round = 0;; round++) {
        int finished = atomic_load_explicit(&st->done, memory_order_acquire);
        uint64_t pub = atomic_load_explicit(&st->published, memory_order_acquire);
        /* counters only grow, and cover what is published */
        uint64_t count = mt_count(st->m);
        size_t mem = mt_memory(st->m);
        CHECK(count >= last_count && count >= pub && mem >= last_mem);
        last_count = count;
        last_mem = mem;
        if (pub) {
            CHECK(mt_min_seqno(st->m) == 1);
            CHECK(mt_max_seqno(st->m) >= pub);
        }
        /* gets: the exact version at its own seqno, and the newest version */
        for (int i = 0; i < 200 && pub; i++) {
            uint64_t s = 1 + trng_below(&g, pub);
            uint8_t k[16];
            size_t klen = cc_key(st, s, k);
            uint8_t type;
            uint64_t got;
            const uint8_t *v;
            size_t vlen;
            CHECK_OK(mt_get(st->m, k, klen, s, &type, &got, &v, &vlen));
            CHECK(got == s);
            cc_check_entry(st, k, klen, got, type, v, vlen);
            CHECK_OK(mt_get(st->m, k, klen, UINT64_MAX, &type, &got, &v, &vlen));
            CHECK(got >= s);
            cc_check_entry(st, k, klen, got, type, v, vlen);
            /* seek lands on the same version; seek_for_prev on the next newer or s */
            mt_iter_seek(it, k, klen, s);
            CHECK(mt_iter_valid(it) && mt_iter_seqno(it) == s);
            mt_iter_seek_for_prev(it, k, klen, s);
            CHECK(mt_iter_valid(it) && mt_iter_seqno(it) == s);
        }
        /* full forward scans; backward ones (a search per step) are bounded */
        if (round % 2 == 0)
            cc_scan(st, it, 0, &g, 0);
        else
            cc_scan(st, it, (round / 2) % 2, &g, 2000);
        if (finished)
            break;
    }
    mt_iter_free(it);
    return NULL;
}

/* filter_bytes > 0: readers' gets walk the point-read chains. */
static void concurrent(int sorted, size_t filter_bytes, int unordered)
{
    cc_state st;
    st.sorted = sorted;
    st.unordered = unordered;
    st.m = filter_bytes ? mt_new_filtered(5, filter_bytes, NULL) : mt_new(5);
    CHECK(st.m != NULL);
    st.total = 200000;
    atomic_init(&st.published, 0);
    atomic_init(&st.done, 0);
    st.seed = check_seed;
    pthread_t w, r[3];
    cc_reader_arg args[3];
    CHECK(pthread_create(&w, NULL, cc_writer, &st) == 0);
    for (int i = 0; i < 3; i++) {
        args[i] = (cc_reader_arg){&st, (uint64_t)i + 1};
        CHECK(pthread_create(&r[i], NULL, cc_reader, &args[i]) == 0);
    }
    CHECK(pthread_join(w, NULL) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(pthread_join(r[i], NULL) == 0);
    CHECK_EQ(mt_count(st.m), st.total);
    CHECK_EQ(mt_min_seqno(st.m), 1);
    CHECK_EQ(mt_max_seqno(st.m), st.total);
    mt_iter *it = mt_iter_new(st.m);
    cc_scan(&st, it, 0, NULL, 0);
    cc_scan(&st, it, 1, NULL, 0);
    mt_iter_free(it);
    mt_unref(st.m);
}

TEST(concurrent) { concurrent(0, 0, 0); }

/* The same with keys mostly in order: readers of the append path. */
TEST(concurrent_sorted) { concurrent(1, 0, 0); }

/* With the point-read filter: gets walk the chains (an engine-size filter,
 * 1 MiB: chains of ~3 nodes at the end). */
TEST(concurrent_filtered) { concurrent(0, 1u << 20, 0); }

/* The same with blocks added newest first: chains turn unordered (gets then
 * search the list) while readers walk them. */
TEST(concurrent_unordered) { concurrent(0, 1u << 20, 1); }


/* The point-read filter never hides a present key, and turns most absent
 * keys away before the skip list. */
TEST(filter)
{
    memtable *m = mt_new_filtered(9, 16 * 1024, NULL);
    CHECK(m != NULL);
    char k[32];
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(k, sizeof k, "key%07d", i * 2);
        CHECK_OK(mt_add(m, (uint64_t)i + 1, ENTRY_VALUE, (const uint8_t *)k, (size_t)n, (const uint8_t *)k, (size_t)n));
    }
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(k, sizeof k, "key%07d", i * 2);
        const uint8_t *v;
        size_t vn;
        CHECK_OK(mt_get(m, (const uint8_t *)k, (size_t)n, UINT64_MAX, NULL, NULL, &v, &vn));
        CHECK_MEM(v, vn, k, (size_t)n);
    }
    mt_iter *it = mt_iter_new(m);
    int absent_found = 0;
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(k, sizeof k, "key%07d", i * 2 + 1);
        CHECK_RC(mt_get(m, (const uint8_t *)k, (size_t)n, UINT64_MAX, NULL, NULL, NULL, NULL), TIND_NOT_FOUND);
        /* the iterator still finds neighbours of absent keys */
        mt_iter_seek(it, (const uint8_t *)k, (size_t)n, UINT64_MAX);
        absent_found += mt_iter_valid(it);
    }
    CHECK_EQ(absent_found, 9999);
    mt_iter_free(it);
    mt_unref(m);
}

/* ------------------------------------------------------------------ hash_get */

/* Key i of hash_get: even ones are added, odd ones never; key 0 is empty. */
static size_t hg_key(uint32_t i, uint8_t *k)
{
    return i ? (size_t)snprintf((char *)k, 16, "h%u", i * 2654435761u % 100000007u) : 0;
}

/* mt_get of key, at snapshot, is what a seek to (key, snapshot) finds. */
static void hg_check(memtable *m, mt_iter *it, const uint8_t *key, size_t klen, uint64_t snapshot)
{
    uint8_t type;
    uint64_t seq;
    const uint8_t *v;
    size_t vlen, kn, vn;
    int rc = mt_get(m, key, klen, snapshot, &type, &seq, &v, &vlen);
    mt_iter_seek(it, key, klen, snapshot);
    const uint8_t *k = mt_iter_valid(it) ? mt_iter_key(it, &kn) : NULL;
    if (!k || key_cmp(k, kn, key, klen) != 0) {
        CHECK_RC(rc, TIND_NOT_FOUND);
        return;
    }
    CHECK_OK(rc);
    CHECK(seq == mt_iter_seqno(it));
    CHECK_EQ(type, mt_iter_type(it));
    CHECK(v == mt_iter_value(it, &vn) && vlen == vn);   /* the same node */
}

/* Every key (added or not) at snapshots at, just below and just above each
 * of its versions, and at random ones. */
static void hg_check_all(memtable *m, trng *g, uint32_t keys, uint64_t max_seqno)
{
    mt_iter *it = mt_iter_new(m);
    mt_iter *versions = mt_iter_new(m);
    CHECK(it && versions);
    uint8_t key[16];
    for (uint32_t i = 0; i < keys; i++) {
        size_t klen = hg_key(i, key), kn;
        hg_check(m, it, key, klen, SEQNO_MAX);
        hg_check(m, it, key, klen, 0);
        for (int r = 0; r < 4; r++)
            hg_check(m, it, key, klen, trng_below(g, max_seqno + 2));
        for (mt_iter_seek(versions, key, klen, SEQNO_MAX); mt_iter_valid(versions); mt_iter_next(versions)) {
            const uint8_t *k = mt_iter_key(versions, &kn);
            if (key_cmp(k, kn, key, klen) != 0)
                break;
            uint64_t s = mt_iter_seqno(versions);
            hg_check(m, it, key, klen, s);
            hg_check(m, it, key, klen, s - 1);
            hg_check(m, it, key, klen, s + 1);
        }
    }
    mt_iter_free(versions);
    mt_iter_free(it);
}

/* mt_get through the point-read chains agrees with a seek for every key,
 * present or absent, and snapshot: with filters of 1 KiB (64 slots: long
 * chains, most gets give up on the chain and search the list) and 256 KiB
 * (short chains) and without one; seqnos added in increasing order (ordered
 * chains), shuffled (chains marked unordered early), and increasing with one
 * add in 32 swapping seqnos with an earlier one (a few marked chains). */
TEST(hash_get)
{
    trng g;
    trng_seed(&g, check_seed ^ 0x4a54);
    static const size_t filters[] = {0, 1024, 256 * 1024};
    uint32_t keys = (uint32_t)(4000 * check_scale()) + 64;
    for (int f = 0; f < 3; f++) {
        for (int order = 0; order < 3; order++) {
            /* the adds: key index and seqno, versions interleaved at random */
            size_t n = 0, cap = (size_t)keys * 4;
            uint32_t *key_of = malloc(cap * sizeof *key_of);
            uint64_t *seq_of = malloc(cap * sizeof *seq_of);
            CHECK(key_of && seq_of);
            for (uint32_t i = 0; i < keys; i += 2)
                for (uint64_t v = 1 + trng_below(&g, 7); v > 0; v--)
                    key_of[n++] = i;
            for (size_t j = n; j > 1; j--) {
                size_t o = trng_below(&g, j);
                uint32_t t = key_of[j - 1];
                key_of[j - 1] = key_of[o];
                key_of[o] = t;
            }
            /* seqnos 2, 4, ...: a snapshot between two versions is common */
            for (size_t j = 0; j < n; j++)
                seq_of[j] = 2 * (uint64_t)j + 2;
            for (size_t j = 1; j < n; j++) {
                size_t o = order == 0 ? j : order == 1 ? trng_below(&g, j + 1)
                                         : trng_below(&g, 32) == 0 ? j - 1 - trng_below(&g, j < 200 ? j : 200) : j;
                uint64_t t = seq_of[j];
                seq_of[j] = seq_of[o];
                seq_of[o] = t;
            }
            memtable *m = filters[f] ? mt_new_filtered((uint64_t)f, filters[f], NULL) : mt_new((uint64_t)f);
            CHECK(m != NULL);
            uint8_t key[16], val[8];
            for (size_t j = 0; j < n; j++) {
                size_t klen = hg_key(key_of[j], key);
                memcpy(val, &seq_of[j], sizeof val);
                uint8_t type = trng_below(&g, 8) == 0 ? ENTRY_TOMBSTONE : ENTRY_VALUE;
                CHECK_OK(mt_add(m, seq_of[j], type, key, klen, val, type == ENTRY_VALUE ? sizeof val : 0));
                if (j == n / 3 || j == 2 * n / 3)   /* partly filled */
                    hg_check_all(m, &g, keys, 2 * n + 2);
            }
            CHECK_EQ(mt_filter_memory(m), filters[f]);
            hg_check_all(m, &g, keys, 2 * n + 2);
            mt_unref(m);
            free(key_of);
            free(seq_of);
        }
    }
}

int main(void)
{
    check_seed_init(0x6d656d);
    RUN(empty);
    RUN(basic);
    RUN(model);
    RUN(large);
    RUN(memory);
    RUN(refcount);
    RUN(concurrent);
    RUN(concurrent_sorted);
    RUN(concurrent_filtered);
    RUN(concurrent_unordered);
    RUN(append);
    RUN(filter);
    RUN(hash_get);
    return 0;
}
