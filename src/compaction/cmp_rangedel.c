/*
 * cmp_rangedel.c -- range tombstones in the compaction stream
 * (compaction/cmp_rangedel.h): which entries they delete for every reader,
 * which of them an output keeps, and which input tables they cover whole.
 */
#include "compaction/cmp_rangedel.h"

#include "format/entry.h"

/* 1 when a range tombstone of the stream deletes (key, seqno) for every
 * reader: a newer tombstone in the same snapshot stripe. */
int cmp_rt_covered(cmp_stream *s, const uint8_t *key, size_t klen, uint64_t seqno, size_t stripe)
{
    const rt_list *l = s->rt;
    long i = s->rt_frag;
    /* keys come in order: the fragment of the previous key often holds this one */
    if (i < 0 || key_cmp(key, klen, l->frags[i].start, l->frags[i].start_len) < 0 ||
        (l->frags[i].end_len && key_cmp(key, klen, l->frags[i].end, l->frags[i].end_len) >= 0))
        i = s->rt_frag = rt_list_find(l, key, klen, NULL);
    if (i < 0)
        return 0;
    const rt_frag *f = &l->frags[i];
    /* the oldest tombstone newer than the entry (seqnos descend) */
    for (size_t j = f->nseq; j-- > 0;)
        if (f->seqs[j] > seqno)
            return cmp_stripe_of(s->snapshots, s->snapshot_count, f->seqs[j]) == stripe;
    return 0;
}

/* Which tombstones of a fragment an output keeps: the newest of each
 * snapshot stripe, none of the oldest stripe at the bottom. */
static int rt_keep(void *ctx, uint64_t seqno, uint64_t newer)
{
    const cmp_rt_keep *k = ctx;
    size_t stripe = cmp_stripe_of(k->snaps, k->nsnap, seqno);
    if (newer && cmp_stripe_of(k->snaps, k->nsnap, newer) == stripe)
        return 0;
    return !(k->bottommost && stripe == 0);
}

/* The tombstones of rt in [lo, hi) (NULL: open) an output keeps; *out = NULL
 * when none. */
int cmp_rt_part(const rt_list *rt, const tbuf *lo, const tbuf *hi, cmp_rt_keep *keep, rt_list **out)
{
    *out = NULL;
    if (!rt)
        return TIND_OK;
    rt_builder b;
    rt_builder_init(&b);
    int rc = rt_builder_add_list(&b, rt, lo ? lo->data : NULL, lo ? lo->len : 0, hi ? hi->data : NULL,
                                 hi ? hi->len : 0);
    if (!rc)
        rc = rt_builder_finish(&b, rt_keep, keep, out);
    rt_builder_free(&b);
    return rc;
}

int cmp_rt_attach(tbl_writer *w, const rt_list *rt, const tbuf *lo, const tbuf *hi, cmp_rt_keep *keep,
                     tind_err *err)
{
    rt_list *part;
    int rc = cmp_rt_part(rt, lo, hi, keep, &part);
    if (!rc && part)
        rc = tbl_writer_add_range_tombstones(w, part);
    rt_list_unref(part);
    return rc ? err_set(err, rc, "out of memory for range tombstones") : TIND_OK;
}

/* 1 when every key of table t (its whole key range) is deleted, for every
 * reader, by tombstones of rt: fragments that meet end to start from
 * t->smallest past t->largest, each holding a tombstone newer than all of
 * t that no snapshot separates from t's oldest entry. Such a table is
 * dropped without reading it. */
int cmp_rt_table_covered(const rt_list *rt, const ver_table *t, const uint64_t *snaps, size_t nsnap)
{
    long i = rt_list_find(rt, t->smallest, t->smallest_len, NULL);
    if (i < 0)
        return 0;
    size_t want = cmp_stripe_of(snaps, nsnap, t->min_seqno);
    for (size_t k = (size_t)i; k < rt->count; k++) {
        const rt_frag *f = &rt->frags[k];
        if (k > (size_t)i) {
            const rt_frag *p = &rt->frags[k - 1];
            if (!p->end_len || key_cmp(p->end, p->end_len, f->start, f->start_len) != 0)
                return 0;
        }
        size_t j = f->nseq;
        while (j > 0 && f->seqs[j - 1] <= t->max_seqno)
            j--;
        if (j == 0 || cmp_stripe_of(snaps, nsnap, f->seqs[j - 1]) != want)
            return 0;
        if (!f->end_len || key_cmp(t->largest, t->largest_len, f->end, f->end_len) < 0)
            return 1;
    }
    return 0;
}

