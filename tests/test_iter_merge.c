/*
 * test_iter_merge.c -- the merging iterator (iter/merge.c) against a sorted
 * array of every child's entries: random walks of first, last, seek,
 * seek_for_prev, next and prev over 1 to 7 memtable children, so that the
 * heap is rebuilt, children run out and come back, the direction switches
 * often, and one child often supplies several entries in a row while the
 * others wait.
 */
#include "check.h"
#include "format/entry.h"
#include "iter/adapters.h"
#include "memtable/memtable.h"
#include "util/rand.h"

typedef struct ref_entry {
    uint8_t key[8];
    size_t klen;
    uint64_t seqno;
    size_t child;
} ref_entry;

static int ref_order(const void *a, const void *b)
{
    const ref_entry *x = a, *y = b;
    return ikey_cmp(x->key, x->klen, x->seqno, y->key, y->klen, y->seqno);
}

/* First index whose entry is >= target (strict = 0) or > target (strict = 1). */
static size_t ref_bound(const ref_entry *e, size_t n, const uint8_t *key, size_t klen, uint64_t seqno, int strict)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ikey_cmp(e[mid].key, e[mid].klen, e[mid].seqno, key, klen, seqno);
        if (c < 0 || (strict && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The merge sits on reference entry i (i == n: not valid). */
static void check_on(const iiter *it, const ref_entry *e, size_t n, size_t i)
{
    if (i == n) {
        CHECK(!ii_valid(it));
        CHECK_OK(ii_status(it, NULL));
        return;
    }
    CHECK(ii_valid(it));
    size_t klen, vlen;
    const uint8_t *k = ii_key(it, &klen);
    CHECK(klen == e[i].klen && memcmp(k, e[i].key, klen) == 0);
    CHECK_EQ(ii_seqno(it), e[i].seqno);
    const uint8_t *v = ii_value(it, &vlen);
    CHECK(vlen == 1 && v[0] == (uint8_t)e[i].child);   /* the child that holds it */
}

/* A key of 2..4 letters; runs: child c's keys mostly start with its own letter,
 * so that one child supplies several entries in a row. */
static size_t gen_key(trng *r, size_t child, size_t children, uint8_t *out)
{
    size_t len = 2 + trng_below(r, 3);
    out[0] = (uint8_t)('a' + (trng_below(r, 4) ? child : trng_below(r, children)));
    for (size_t i = 1; i < len; i++)
        out[i] = (uint8_t)('a' + trng_below(r, 3));
    return len;
}

TEST(random_walks)
{
    trng r;
    trng_seed(&r, check_seed);
    for (int round = 0; round < 40; round++) {
        size_t children = 1 + trng_below(&r, 7);
        size_t cap = 400, n = 0;
        ref_entry *e = calloc(cap, sizeof *e);
        iiter **kids = calloc(children, sizeof *kids);
        CHECK(e && kids);
        uint64_t seqno = 1;
        for (size_t c = 0; c < children; c++) {
            memtable *m = mt_new(c + 1);
            CHECK(m);
            size_t count = trng_below(&r, 60);   /* some children empty */
            for (size_t j = 0; j < count && n < cap; j++) {
                ref_entry *x = &e[n];
                x->klen = gen_key(&r, c, children, x->key);
                x->seqno = seqno++;          /* (key, seqno) unique across children */
                x->child = c;
                uint8_t v = (uint8_t)c;
                CHECK_OK(mt_add(m, x->seqno, ENTRY_VALUE, x->key, x->klen, &v, 1));
                n++;
            }
            kids[c] = mt_iiter_new(m);
            CHECK(kids[c]);
            mt_unref(m);   /* the iterator holds its own reference */
        }
        qsort(e, n, sizeof *e, ref_order);
        iiter *it;
        CHECK_OK(ii_merge_new(kids, children, &it));
        size_t pos = n;
        for (int step = 0; step < 4000; step++) {
            uint64_t op = trng_below(&r, 24);
            if (op == 0 || (pos == n && op < 12)) {
                uint8_t key[8];
                size_t klen = gen_key(&r, trng_below(&r, children), children, key);
                uint64_t s = trng_below(&r, 3) ? trng_below(&r, seqno + 1) : SEQNO_MAX;
                if (trng_below(&r, 2)) {
                    ii_seek(it, key, klen, s);
                    pos = ref_bound(e, n, key, klen, s, 0);
                } else {
                    ii_seek_for_prev(it, key, klen, s);
                    size_t up = ref_bound(e, n, key, klen, s, 1);
                    pos = up ? up - 1 : n;
                }
            } else if (op == 1 || pos == n) {
                if (trng_below(&r, 2)) {
                    ii_first(it);
                    pos = 0;
                } else {
                    ii_last(it);
                    pos = n ? n - 1 : 0;
                }
                if (!n)
                    pos = n;
            } else if (op < 12 + (uint64_t)(step / 500 % 2) * 8) {
                ii_next(it);   /* long stretches one way, then the other */
                pos++;
            } else {
                ii_prev(it);
                pos = pos ? pos - 1 : n;
            }
            check_on(it, e, n, pos);
        }
        ii_free(it);
        free(e);
    }
}

int main(void)
{
    check_seed_init(0x6d7267);
    RUN(random_walks);
    return 0;
}
