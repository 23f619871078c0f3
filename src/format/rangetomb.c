/*
 * rangetomb.c -- range tombstones (format/rangetomb.h): fragmenting, the
 * cover query, the inclusive key bound of a list, and the section codec.
 *
 * Fragmenting is a sweep over the sorted, distinct boundary points (every
 * start and every bounded end): between two neighbouring points the set of
 * covering tombstones is constant, so each such interval with a non-empty
 * set becomes one fragment. Cost O(P log P + sum of the sets), P = points.
 */
#include "format/rangetomb.h"

#include <stdlib.h>
#include <string.h>

#include "format/entry.h"
#include "util/coding.h"

#define RT_MAX_KEY 65535u

struct rt_raw {
    size_t start_off, start_len;
    size_t end_off, end_len;      /* end_len 0 = unbounded */
    uint64_t seqno;
};

/* end order: a bounded end by key, unbounded after everything */
static int end_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    if (!an || !bn)
        return !an && !bn ? 0 : !an ? 1 : -1;
    return key_cmp(a, an, b, bn);
}

void rt_builder_init(rt_builder *b) { memset(b, 0, sizeof *b); }

void rt_builder_reset(rt_builder *b)
{
    b->count = 0;
    tbuf_reset(&b->keys);
}

void rt_builder_free(rt_builder *b)
{
    free(b->items);
    tbuf_free(&b->keys);
    memset(b, 0, sizeof *b);
}

size_t rt_builder_count(const rt_builder *b) { return b->count; }

int rt_builder_add(rt_builder *b, const uint8_t *start, size_t start_len, const uint8_t *end, size_t end_len,
                   uint64_t seqno)
{
    if (!start_len || (end_len && key_cmp(start, start_len, end, end_len) >= 0))
        return TIND_OK;
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        rt_raw *p = realloc(b->items, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        b->items = p;
        b->cap = cap;
    }
    rt_raw *r = &b->items[b->count];
    r->start_off = b->keys.len;
    r->start_len = start_len;
    if (tbuf_append(&b->keys, start, start_len))
        return TIND_ENOMEM;
    r->end_off = b->keys.len;
    r->end_len = end_len;
    if (end_len && tbuf_append(&b->keys, end, end_len))
        return TIND_ENOMEM;
    r->seqno = seqno;
    b->count++;
    return TIND_OK;
}

int rt_builder_add_list(rt_builder *b, const rt_list *l, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                        size_t hilen)
{
    if (!l)
        return TIND_OK;
    for (size_t i = 0; i < l->count; i++) {
        const rt_frag *f = &l->frags[i];
        const uint8_t *s = f->start, *e = f->end;
        size_t sn = f->start_len, en = f->end_len;
        if (lo && key_cmp(s, sn, lo, lolen) < 0) {
            s = lo;
            sn = lolen;
        }
        if (hi && end_cmp(e, en, hi, hilen) > 0) {
            e = hi;
            en = hilen;
        }
        if (en && key_cmp(s, sn, e, en) >= 0)
            continue;
        for (size_t j = 0; j < f->nseq; j++) {
            int rc = rt_builder_add(b, s, sn, e, en, f->seqs[j]);
            if (rc)
                return rc;
        }
    }
    return TIND_OK;
}

/* ------------------------------------------------------------------ fragmenting */

typedef struct rt_point {
    const uint8_t *key;
    size_t len;                   /* 0 = unbounded */
} rt_point;

static int point_cmp(const void *a, const void *b)
{
    const rt_point *x = a, *y = b;
    return end_cmp(x->key, x->len, y->key, y->len);
}

static int seq_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Sort of item indices by start, done by hand (an insertion-merge would need
 * a context pointer qsort lacks; a static would not be thread-safe). */
static void sort_by_start(const rt_builder *b, size_t *idx, size_t *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_by_start(b, idx, tmp, h);
    sort_by_start(b, idx + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        const rt_raw *x = &b->items[idx[i]], *y = &b->items[idx[j]];
        if (key_cmp(b->keys.data + x->start_off, x->start_len, b->keys.data + y->start_off, y->start_len) <= 0)
            tmp[k++] = idx[i++];
        else
            tmp[k++] = idx[j++];
    }
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

typedef struct rt_out {
    tbuf keys;
    rt_frag *frags;               /* key and seq pointers hold offsets until fixed */
    size_t count, cap;
    uint64_t *seqs;
    size_t nseq, seq_cap;
} rt_out;

static int out_frag(rt_out *o, const rt_point *s, const rt_point *e, const uint64_t *seqs, size_t n)
{
    if (o->count == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        rt_frag *p = realloc(o->frags, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        o->frags = p;
        o->cap = cap;
    }
    if (o->nseq + n > o->seq_cap) {
        size_t cap = o->seq_cap ? o->seq_cap * 2 : 32;
        while (cap < o->nseq + n)
            cap *= 2;
        uint64_t *p = realloc(o->seqs, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        o->seqs = p;
        o->seq_cap = cap;
    }
    rt_frag *f = &o->frags[o->count];
    /* a fragment starting where the previous one ended with the same seqnos
     * extends it */
    if (o->count) {
        rt_frag *p = &o->frags[o->count - 1];
        const uint8_t *pend = o->keys.data + (size_t)p->end;
        if (p->nseq == n && p->end_len == s->len && p->end_len && !memcmp(pend, s->key, s->len) &&
            !memcmp(o->seqs + (size_t)p->seqs, seqs, n * sizeof *seqs)) {
            p->end = (const uint8_t *)(uintptr_t)o->keys.len;
            p->end_len = e->len;
            return tbuf_append(&o->keys, e->key, e->len);
        }
    }
    f->start = (const uint8_t *)(uintptr_t)o->keys.len;
    f->start_len = s->len;
    if (tbuf_append(&o->keys, s->key, s->len))
        return TIND_ENOMEM;
    f->end = (const uint8_t *)(uintptr_t)o->keys.len;
    f->end_len = e->len;
    if (e->len && tbuf_append(&o->keys, e->key, e->len))
        return TIND_ENOMEM;
    f->seqs = (const uint64_t *)(uintptr_t)o->nseq;
    f->nseq = n;
    memcpy(o->seqs + o->nseq, seqs, n * sizeof *seqs);
    o->nseq += n;
    o->count++;
    return TIND_OK;
}

int rt_builder_finish(rt_builder *b, rt_keep_fn keep, void *ctx, rt_list **out)
{
    *out = NULL;
    if (!b->count)
        return TIND_OK;
    int rc = TIND_ENOMEM;
    size_t n = b->count;
    rt_point *pts = malloc(2 * n * sizeof *pts);
    size_t *idx = malloc(n * sizeof *idx), *tmp = malloc(n * sizeof *tmp);
    size_t *active = malloc(n * sizeof *active);
    uint64_t *seqs = malloc(n * sizeof *seqs);
    rt_out o;
    memset(&o, 0, sizeof o);
    if (!pts || !idx || !tmp || !active || !seqs)
        goto done;
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        const rt_raw *r = &b->items[i];
        pts[np++] = (rt_point){b->keys.data + r->start_off, r->start_len};
        pts[np++] = (rt_point){r->end_len ? b->keys.data + r->end_off : NULL, r->end_len};
        idx[i] = i;
    }
    qsort(pts, np, sizeof *pts, point_cmp);
    size_t u = 0;
    for (size_t i = 0; i < np; i++)
        if (!u || point_cmp(&pts[u - 1], &pts[i]) != 0)
            pts[u++] = pts[i];
    np = u;
    sort_by_start(b, idx, tmp, n);

    size_t na = 0, next = 0;
    for (size_t p = 0; p + 1 < np; p++) {
        const rt_point *cur = &pts[p];
        /* drop the tombstones that end here, add those that start here */
        size_t k = 0;
        for (size_t a = 0; a < na; a++) {
            const rt_raw *r = &b->items[active[a]];
            if (end_cmp(b->keys.data + r->end_off, r->end_len, cur->key, cur->len) > 0)
                active[k++] = active[a];
        }
        na = k;
        while (next < n) {
            const rt_raw *r = &b->items[idx[next]];
            if (key_cmp(b->keys.data + r->start_off, r->start_len, cur->key, cur->len) != 0)
                break;
            active[na++] = idx[next++];
        }
        if (!na)
            continue;
        for (size_t a = 0; a < na; a++)
            seqs[a] = b->items[active[a]].seqno;
        qsort(seqs, na, sizeof *seqs, seq_desc);
        size_t kept = 0;
        for (size_t a = 0; a < na; a++) {
            if (kept && seqs[a] == seqs[kept - 1])
                continue;
            if (keep && !keep(ctx, seqs[a], kept ? seqs[kept - 1] : 0))
                continue;
            seqs[kept++] = seqs[a];
        }
        if (kept && out_frag(&o, cur, &pts[p + 1], seqs, kept))
            goto done;
    }
    if (!o.count) {
        rc = TIND_OK;
        goto done;
    }
    rt_list *l = calloc(1, sizeof *l);
    if (!l)
        goto done;
    atomic_init(&l->refs, 1);
    l->count = o.count;
    l->frags = o.frags;
    l->keys = o.keys.data;
    l->seqs = o.seqs;
    l->tombstones = o.nseq;
    for (size_t i = 0; i < l->count; i++) {
        rt_frag *f = &l->frags[i];
        f->start = l->keys + (size_t)(uintptr_t)f->start;
        f->end = f->end_len ? l->keys + (size_t)(uintptr_t)f->end : NULL;
        f->seqs = l->seqs + (size_t)(uintptr_t)f->seqs;
    }
    memset(&o, 0, sizeof o);
    *out = l;
    rc = TIND_OK;
done:
    free(pts);
    free(idx);
    free(tmp);
    free(active);
    free(seqs);
    free(o.frags);
    free(o.seqs);
    tbuf_free(&o.keys);
    return rc;
}

/* ------------------------------------------------------------------ lists */

void rt_list_ref(rt_list *l) { atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed); }

void rt_list_unref(rt_list *l)
{
    if (!l || atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(l->frags);
    free(l->keys);
    free(l->seqs);
    free(l);
}

long rt_list_find(const rt_list *l, const uint8_t *key, size_t klen, size_t *next)
{
    size_t lo = 0, hi = l ? l->count : 0;
    /* the first fragment whose start is > key */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key_cmp(l->frags[mid].start, l->frags[mid].start_len, key, klen) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (next)
        *next = lo;
    if (lo == 0)
        return -1;
    const rt_frag *f = &l->frags[lo - 1];
    if (f->end_len && key_cmp(key, klen, f->end, f->end_len) >= 0)
        return -1;
    return (long)(lo - 1);
}

uint64_t rt_frag_visible(const rt_frag *f, uint64_t snapshot)
{
    for (size_t i = 0; i < f->nseq; i++)
        if (f->seqs[i] <= snapshot)
            return f->seqs[i];
    return 0;
}

uint64_t rt_list_cover(const rt_list *l, const uint8_t *key, size_t klen, uint64_t snapshot)
{
    long i = rt_list_find(l, key, klen, NULL);
    return i < 0 ? 0 : rt_frag_visible(&l->frags[i], snapshot);
}

const uint8_t *rt_list_smallest(const rt_list *l, size_t *len)
{
    *len = l->frags[0].start_len;
    return l->frags[0].start;
}

int rt_list_largest(const rt_list *l, tbuf *out)
{
    const rt_frag *f = &l->frags[l->count - 1];
    if (!f->end_len) {
        if (tbuf_reserve(out, RT_MAX_KEY))
            return TIND_ENOMEM;
        memset(out->data, 0xFF, RT_MAX_KEY);
        out->len = RT_MAX_KEY;
        return TIND_OK;
    }
    size_t n = f->end_len;
    if (n > 1 && f->end[n - 1] == 0)
        n--;
    return tbuf_set(out, f->end, n) ? TIND_ENOMEM : TIND_OK;
}

int rt_key_successor(const uint8_t *key, size_t klen, tbuf *out)
{
    if (klen < RT_MAX_KEY) {
        if (tbuf_set(out, key, klen) || tbuf_append_u8(out, 0))
            return TIND_ENOMEM;
        return 1;
    }
    while (klen && key[klen - 1] == 0xFF)
        klen--;
    if (!klen)
        return 0;
    if (tbuf_set(out, key, klen))
        return TIND_ENOMEM;
    out->data[klen - 1]++;
    return 1;
}

/* ------------------------------------------------------------------ codec */

int rt_list_encode(const rt_list *l, tbuf *out)
{
    int rc = tbuf_append_varint(out, l->count);
    for (size_t i = 0; !rc && i < l->count; i++) {
        const rt_frag *f = &l->frags[i];
        rc = tbuf_append_varint(out, f->start_len) || tbuf_append(out, f->start, f->start_len) ||
             tbuf_append_varint(out, f->end_len) || (f->end_len && tbuf_append(out, f->end, f->end_len)) ||
             tbuf_append_varint(out, f->nseq);
        for (size_t j = 0; !rc && j < f->nseq; j++)
            rc = tbuf_append_varint(out, f->seqs[j]);
    }
    return rc ? TIND_ENOMEM : TIND_OK;
}

static int bad(tind_err *err, const char *what, size_t i, const char *why)
{
    return err_set(err, TIND_ECORRUPT, "%s: range tombstone section: fragment %zu: %s", what, i, why);
}

int rt_list_decode(const uint8_t *p, size_t n, const char *what, rt_list **out, tind_err *err)
{
    const uint8_t *end = p + n;
    uint64_t count;
    *out = NULL;
    p = dec_varint64(p, end, &count);
    if (!p || count == 0 || count > n)
        return bad(err, what, 0, "bad fragment count");
    rt_list *l = calloc(1, sizeof *l);
    if (!l)
        return TIND_ENOMEM;
    atomic_init(&l->refs, 1);
    l->frags = calloc((size_t)count, sizeof *l->frags);
    l->keys = malloc(n);
    l->seqs = malloc(n * sizeof *l->seqs); /* each seqno takes >= 1 byte */
    if (!l->frags || !l->keys || !l->seqs) {
        rt_list_unref(l);
        return TIND_ENOMEM;
    }
    l->count = (size_t)count;
    size_t koff = 0;
    int rc = TIND_OK;
    for (size_t i = 0; i < l->count; i++) {
        rt_frag *f = &l->frags[i];
        uint64_t sl, el, ns;
        if (!(p = dec_varint64(p, end, &sl)) || sl == 0 || sl > RT_MAX_KEY || sl > (size_t)(end - p)) {
            rc = bad(err, what, i, "bad start key");
            break;
        }
        memcpy(l->keys + koff, p, (size_t)sl);
        f->start = l->keys + koff;
        f->start_len = (size_t)sl;
        koff += (size_t)sl;
        p += sl;
        if (!(p = dec_varint64(p, end, &el)) || el > RT_MAX_KEY || el > (size_t)(end - p)) {
            rc = bad(err, what, i, "bad end key");
            break;
        }
        memcpy(l->keys + koff, p, (size_t)el);
        f->end = el ? l->keys + koff : NULL;
        f->end_len = (size_t)el;
        koff += (size_t)el;
        p += el;
        if (el && key_cmp(f->start, f->start_len, f->end, f->end_len) >= 0) {
            rc = bad(err, what, i, "start is not before end");
            break;
        }
        if (!el && i + 1 != l->count) {
            rc = bad(err, what, i, "unbounded fragment is not the last");
            break;
        }
        if (i && key_cmp(l->frags[i - 1].end, l->frags[i - 1].end_len, f->start, f->start_len) > 0) {
            rc = bad(err, what, i, "overlaps the fragment before it");
            break;
        }
        if (!(p = dec_varint64(p, end, &ns)) || ns == 0 || ns > (size_t)(end - p)) {
            rc = bad(err, what, i, "bad seqno count");
            break;
        }
        f->seqs = l->seqs + l->tombstones;
        f->nseq = (size_t)ns;
        for (size_t j = 0; j < f->nseq; j++) {
            uint64_t s;
            if (!(p = dec_varint64(p, end, &s)) || s == 0 || s > SEQNO_MAX || (j && s >= f->seqs[j - 1])) {
                rc = bad(err, what, i, "bad seqno (zero, too large or not descending)");
                break;
            }
            l->seqs[l->tombstones++] = s;
        }
        if (rc)
            break;
    }
    if (!rc && p != end)
        rc = bad(err, what, l->count, "trailing bytes");
    if (rc) {
        rt_list_unref(l);
        return rc;
    }
    *out = l;
    return TIND_OK;
}
