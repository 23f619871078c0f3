/*
 * iiter.h -- the internal iterator: one interface over memtables, tables,
 * levels of tables and merges of them, yielding entries (user key, seqno,
 * type, value) in internal order (format/entry.h), every version included.
 *
 * Key and value pointers stay valid until the iterator moves. An iterator
 * is used by one thread; an implementation sets `cur` to NULL when made.
 * status() is TIND_OK or the error that made the iterator invalid (err,
 * when given, receives the message).
 */
#ifndef TIND_ITER_IITER_H
#define TIND_ITER_IITER_H

#include <stddef.h>
#include <stdint.h>

#include "format/entry.h"
#include "util/status.h"

typedef struct iiter iiter;

typedef struct iiter_ops {
    void (*first)(iiter *it);
    void (*last)(iiter *it);
    void (*seek)(iiter *it, const uint8_t *key, size_t klen, uint64_t seqno);
    void (*seek_for_prev)(iiter *it, const uint8_t *key, size_t klen, uint64_t seqno);
    void (*next)(iiter *it);
    void (*prev)(iiter *it);
    int (*status)(const iiter *it, tind_err *err);
    void (*free)(iiter *it);
} iiter_ops;

struct iiter {
    const iiter_ops *ops;
    /* The current entry, NULL when the iterator is not on one (at an end,
     * not positioned yet, or failed: status says which). Set by every move
     * of the implementation, so that reading the current entry through a
     * stack of iterators is a load, not a call per layer; what it points to
     * stays valid until the next move. */
    const ientry *cur;
};

static inline void ii_first(iiter *it) { it->ops->first(it); }
static inline void ii_last(iiter *it) { it->ops->last(it); }
static inline void ii_seek(iiter *it, const uint8_t *k, size_t n, uint64_t s) { it->ops->seek(it, k, n, s); }
static inline void ii_seek_for_prev(iiter *it, const uint8_t *k, size_t n, uint64_t s) { it->ops->seek_for_prev(it, k, n, s); }
static inline void ii_next(iiter *it) { it->ops->next(it); }
static inline void ii_prev(iiter *it) { it->ops->prev(it); }
static inline int ii_valid(const iiter *it) { return it->cur != NULL; }
static inline const uint8_t *ii_key(const iiter *it, size_t *len)
{
    *len = it->cur->klen;
    return it->cur->key;
}
static inline uint64_t ii_seqno(const iiter *it) { return it->cur->seqno; }
static inline uint8_t ii_type(const iiter *it) { return it->cur->type; }
static inline const uint8_t *ii_value(const iiter *it, size_t *len)
{
    *len = it->cur->vlen;
    return it->cur->value;
}
static inline int ii_status(const iiter *it, tind_err *err) { return it->ops->status(it, err); }
static inline void ii_free(iiter *it) { if (it) it->ops->free(it); }

/* A merge of n children (takes ownership of them and of the array); of one
 * child, the child itself. */
int ii_merge_new(iiter **children, size_t n, iiter **out);

#endif
