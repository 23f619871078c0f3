/*
 * merge.c -- the merging iterator: n child iterators presented as one, in
 * internal order, both directions (LevelDB's MergingIterator design).
 *
 * Invariant: when moving forward every valid child is positioned at its first
 * entry > the current entry (and current = the smallest child); when moving
 * backward every valid child is at its last entry < current (current = the
 * largest). Switching direction re-seeks the other children around the
 * current key. Children are few (memtables, L0 tables, one per level), so the
 * smallest/largest is found by a linear scan.
 */
#include <stdlib.h>

#include "db/iiter.h"
#include "format/entry.h"
#include "util/buf.h"

typedef struct merge_iter {
    iiter base;
    iiter **children;
    size_t count;
    iiter *current;
    int forward;
    tbuf key_copy;   /* the current key while re-seeking children on a direction change */
} merge_iter;

static int child_cmp(iiter *a, iiter *b)
{
    size_t an, bn;
    const uint8_t *ak = ii_key(a, &an), *bk = ii_key(b, &bn);
    return ikey_cmp(ak, an, ii_seqno(a), bk, bn, ii_seqno(b));
}

static void find_smallest(merge_iter *m)
{
    iiter *best = NULL;
    for (size_t i = 0; i < m->count; i++) {
        iiter *c = m->children[i];
        if (ii_valid(c) && (!best || child_cmp(c, best) < 0))
            best = c;
    }
    m->current = best;
}

static void find_largest(merge_iter *m)
{
    iiter *best = NULL;
    for (size_t i = m->count; i-- > 0;) {
        iiter *c = m->children[i];
        if (ii_valid(c) && (!best || child_cmp(c, best) > 0))
            best = c;
    }
    m->current = best;
}

static void m_first(iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->count; i++)
        ii_first(m->children[i]);
    m->forward = 1;
    find_smallest(m);
}

static void m_last(iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->count; i++)
        ii_last(m->children[i]);
    m->forward = 0;
    find_largest(m);
}

static void m_seek(iiter *it, const uint8_t *k, size_t n, uint64_t s)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->count; i++)
        ii_seek(m->children[i], k, n, s);
    m->forward = 1;
    find_smallest(m);
}

static void m_seek_for_prev(iiter *it, const uint8_t *k, size_t n, uint64_t s)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->count; i++)
        ii_seek_for_prev(m->children[i], k, n, s);
    m->forward = 0;
    find_largest(m);
}

static void m_next(iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (!m->current)
        return;
    if (!m->forward) {
        /* Children other than current sit before the current entry: move each
         * to its first entry after it. Entries are unique across children. */
        size_t n;
        const uint8_t *k = ii_key(m->current, &n);
        uint64_t s = ii_seqno(m->current);
        if (tbuf_set(&m->key_copy, k, n) != 0) {
            m->current = NULL;
            return;
        }
        for (size_t i = 0; i < m->count; i++) {
            iiter *c = m->children[i];
            if (c == m->current)
                continue;
            ii_seek(c, m->key_copy.data, m->key_copy.len, s);
            if (ii_valid(c)) {
                size_t cn;
                const uint8_t *ck = ii_key(c, &cn);
                if (ikey_cmp(ck, cn, ii_seqno(c), m->key_copy.data, m->key_copy.len, s) == 0)
                    ii_next(c);
            }
        }
        m->forward = 1;
    }
    ii_next(m->current);
    find_smallest(m);
}

static void m_prev(iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (!m->current)
        return;
    if (m->forward) {
        size_t n;
        const uint8_t *k = ii_key(m->current, &n);
        uint64_t s = ii_seqno(m->current);
        if (tbuf_set(&m->key_copy, k, n) != 0) {
            m->current = NULL;
            return;
        }
        for (size_t i = 0; i < m->count; i++) {
            iiter *c = m->children[i];
            if (c == m->current)
                continue;
            ii_seek_for_prev(c, m->key_copy.data, m->key_copy.len, s);
            if (ii_valid(c)) {
                size_t cn;
                const uint8_t *ck = ii_key(c, &cn);
                if (ikey_cmp(ck, cn, ii_seqno(c), m->key_copy.data, m->key_copy.len, s) == 0)
                    ii_prev(c);
            }
        }
        m->forward = 0;
    }
    ii_prev(m->current);
    find_largest(m);
}

static int m_valid(const iiter *it)
{
    const merge_iter *m = (const merge_iter *)it;
    if (!m->current)
        return 0;
    /* A child that failed ends the merge: never skip a corrupt source. */
    for (size_t i = 0; i < m->count; i++)
        if (ii_status(m->children[i], NULL) != 0)
            return 0;
    return 1;
}

static const uint8_t *m_key(const iiter *it, size_t *len) { return ii_key(((const merge_iter *)it)->current, len); }
static uint64_t m_seqno(const iiter *it) { return ii_seqno(((const merge_iter *)it)->current); }
static uint8_t m_type(const iiter *it) { return ii_type(((const merge_iter *)it)->current); }
static const uint8_t *m_value(const iiter *it, size_t *len) { return ii_value(((const merge_iter *)it)->current, len); }

static int m_status(const iiter *it, tind_err *err)
{
    const merge_iter *m = (const merge_iter *)it;
    for (size_t i = 0; i < m->count; i++) {
        int rc = ii_status(m->children[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

static void m_free(iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->count; i++)
        ii_free(m->children[i]);
    free(m->children);
    tbuf_free(&m->key_copy);
    free(m);
}

static const iiter_ops merge_ops = {
    m_first, m_last, m_seek, m_seek_for_prev, m_next, m_prev, m_valid,
    m_key, m_seqno, m_type, m_value, m_status, m_free,
};

int ii_merge_new(iiter **children, size_t n, iiter **out)
{
    merge_iter *m = calloc(1, sizeof *m);
    if (!m) {
        for (size_t i = 0; i < n; i++)
            ii_free(children[i]);
        free(children);
        return TIND_ENOMEM;
    }
    m->base.ops = &merge_ops;
    m->children = children;
    m->count = n;
    m->forward = 1;
    *out = &m->base;
    return TIND_OK;
}
