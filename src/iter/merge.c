/*
 * merge.c -- the merging iterator: n child iterators presented as one, in
 * internal order, both directions (LevelDB's MergingIterator design, with a
 * binary heap instead of a linear scan).
 *
 * Invariant: when moving forward every valid child is positioned at its first
 * entry > the current entry and the heap is a min-heap of the valid children
 * (current = the top); when moving backward every valid child is at its last
 * entry < current and the heap is a max-heap. Switching direction re-seeks
 * the other children around the current key and rebuilds the heap.
 *
 * A child that becomes invalid with an error status ends the merge (valid()
 * is 0 and status() reports it): a corrupt source is never skipped silently.
 */
#include <stdlib.h>

#include "iter/iiter.h"
#include "format/entry.h"
#include "util/buf.h"

/* A valid child and its current entry (the child's iiter.cur, read once
 * per move of the child). */
typedef struct mchild {
    iiter *it;
    const ientry *e;
} mchild;

typedef struct merge_iter {
    iiter base;
    iiter **children;
    size_t count;
    mchild *heap;        /* valid children; heap[0] is the current one */
    size_t heap_len;
    int forward;
    size_t root_best;    /* 1 or 2: the root's children's first (0: not known) */
    int failed;          /* a child ended with an error */
    tbuf key_copy;       /* the current key while re-seeking children on a direction change */
} merge_iter;

/* Publishes the top child's entry (iiter.cur) after a move. */
static inline void m_moved(merge_iter *m)
{
    m->base.cur = m->heap_len && !m->failed ? m->heap[0].e : NULL;
}

/* a comes before b in the heap order of the current direction */
static inline int before(const merge_iter *m, const mchild *a, const mchild *b)
{
    int c = ikey_cmp(a->e->key, a->e->klen, a->e->seqno, b->e->key, b->e->klen, b->e->seqno);
    return m->forward ? c < 0 : c > 0;
}

static inline size_t first_child(const merge_iter *m, size_t i)
{
    size_t l = 2 * i + 1;
    return l + 1 < m->heap_len && before(m, &m->heap[l + 1], &m->heap[l]) ? l + 1 : l;
}

/* Moves heap[i] down from its first child `best`, which comes before it. */
static void sift_below(merge_iter *m, size_t i, size_t best)
{
    mchild *h = m->heap;
    size_t n = m->heap_len;
    mchild x = h[i];
    do {
        h[i] = h[best];
        i = best;
        if (2 * i + 1 >= n)
            break;
        best = first_child(m, i);
    } while (before(m, &h[best], &x));
    h[i] = x;
}

static void sift_down(merge_iter *m, size_t i)
{
    if (2 * i + 1 >= m->heap_len)
        return;
    size_t best = first_child(m, i);
    if (before(m, &m->heap[best], &m->heap[i]))
        sift_below(m, i, best); /* else in place: the common case after a step */
}

/* sift_down(m, 0) after the root alone moved. Which of the root's two
 * children comes first does not change while only the root moves, so it is
 * kept (root_best) from the last step that left the root in place: a step
 * then costs one comparison instead of two. Anything else that rearranges
 * the heap forgets it (build_heap, a child running out). */
static void sift_root(merge_iter *m)
{
    if (m->heap_len < 2)
        return;
    size_t best = m->root_best ? m->root_best : first_child(m, 0);
    if (!before(m, &m->heap[best], &m->heap[0])) {
        m->root_best = best;
        return;
    }
    m->root_best = 0;
    sift_below(m, 0, best);
}

static void note_invalid(merge_iter *m, iiter *c)
{
    if (ii_status(c, NULL) != 0)
        m->failed = 1;
}

static void build_heap(merge_iter *m)
{
    m->heap_len = 0;
    for (size_t i = 0; i < m->count; i++) {
        iiter *c = m->children[i];
        if (ii_valid(c)) {
            mchild *h = &m->heap[m->heap_len++];
            h->it = c;
            h->e = c->cur;
        } else {
            note_invalid(m, c);
        }
    }
    for (size_t i = m->heap_len / 2; i-- > 0;)
        sift_down(m, i);
    m->root_best = 0;
    m_moved(m);
}

/* The top child moved: restore the heap. */
static void top_moved(merge_iter *m)
{
    mchild *top = &m->heap[0];
    if (!ii_valid(top->it)) {
        note_invalid(m, top->it);
        m->heap[0] = m->heap[--m->heap_len];
        m->root_best = 0; /* the last child left its place, maybe 1 or 2 */
    } else {
        top->e = top->it->cur;
    }
    sift_root(m);
    m_moved(m);
}

static void m_first(iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->count; i++)
        ii_first(m->children[i]);
    m->forward = 1;
    build_heap(m);
}

static void m_last(iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->count; i++)
        ii_last(m->children[i]);
    m->forward = 0;
    build_heap(m);
}

static void m_seek(iiter *it, const uint8_t *k, size_t n, uint64_t s)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->count; i++)
        ii_seek(m->children[i], k, n, s);
    m->forward = 1;
    build_heap(m);
}

static void m_seek_for_prev(iiter *it, const uint8_t *k, size_t n, uint64_t s)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->count; i++)
        ii_seek_for_prev(m->children[i], k, n, s);
    m->forward = 0;
    build_heap(m);
}

/* Re-positions every child but the current one on the other side of the
 * current entry (entries are unique across children). */
static int switch_direction(merge_iter *m, int forward)
{
    iiter *cur = m->heap[0].it;
    uint64_t s = m->heap[0].e->seqno;
    if (tbuf_set(&m->key_copy, m->heap[0].e->key, m->heap[0].e->klen) != 0) {
        m->failed = 1;
        m_moved(m);
        return 0;
    }
    for (size_t i = 0; i < m->count; i++) {
        iiter *c = m->children[i];
        if (c == cur)
            continue;
        if (forward)
            ii_seek(c, m->key_copy.data, m->key_copy.len, s);
        else
            ii_seek_for_prev(c, m->key_copy.data, m->key_copy.len, s);
        if (ii_valid(c)) {
            size_t cn;
            const uint8_t *ck = ii_key(c, &cn);
            if (ikey_cmp(ck, cn, ii_seqno(c), m->key_copy.data, m->key_copy.len, s) == 0) {
                if (forward)
                    ii_next(c);
                else
                    ii_prev(c);
            }
        }
    }
    m->forward = forward;
    /* cur stays where it is; it is moved by the caller */
    build_heap(m);
    /* put cur back on top: it is the extreme of the new order until it moves */
    for (size_t i = 0; i < m->heap_len; i++)
        if (m->heap[i].it == cur) {
            mchild c = m->heap[i];
            m->heap[i] = m->heap[0];
            m->heap[0] = c;
            break;
        }
    return 1;
}

static void m_next(iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (!m->heap_len || m->failed)
        return;
    if (!m->forward && !switch_direction(m, 1))
        return;
    ii_next(m->heap[0].it);
    top_moved(m);
}

static void m_prev(iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (!m->heap_len || m->failed)
        return;
    if (m->forward && !switch_direction(m, 0))
        return;
    ii_prev(m->heap[0].it);
    top_moved(m);
}

static int m_status(const iiter *it, tind_err *err)
{
    const merge_iter *m = (const merge_iter *)it;
    for (size_t i = 0; i < m->count; i++) {
        int rc = ii_status(m->children[i], err);
        if (rc)
            return rc;
    }
    if (m->failed)
        return err_set(err, TIND_ENOMEM, "merging iterator: out of memory");
    return 0;
}

static void m_free(iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->count; i++)
        ii_free(m->children[i]);
    free(m->children);
    free(m->heap);
    tbuf_free(&m->key_copy);
    free(m);
}

static const iiter_ops merge_ops = {
    m_first, m_last, m_seek, m_seek_for_prev, m_next, m_prev, m_status, m_free,
};

int ii_merge_new(iiter **children, size_t n, iiter **out)
{
    if (n == 1) {
        /* a merge of one source is that source: no layer to pass through */
        *out = children[0];
        free(children);
        return TIND_OK;
    }
    merge_iter *m = calloc(1, sizeof *m);
    mchild *heap = malloc((n ? n : 1) * sizeof *heap);
    if (!m || !heap) {
        for (size_t i = 0; i < n; i++)
            ii_free(children[i]);
        free(children);
        free(m);
        free(heap);
        return TIND_ENOMEM;
    }
    m->base.ops = &merge_ops;
    m->children = children;
    m->count = n;
    m->heap = heap;
    m->forward = 1;
    *out = &m->base;
    return TIND_OK;
}
