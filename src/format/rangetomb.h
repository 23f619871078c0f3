/*
 * rangetomb.h -- range tombstones: the fragmenter, the cover query and the
 * codec of a table's "rangedel" section.
 *
 * A range tombstone [start, end) at seqno s deletes every entry of a user key
 * k with start <= k < end and seqno < s, for readers whose snapshot is >= s.
 * An empty end means "no end" (unbounded): [start, "") would be empty for
 * every start, so that encoding is free (keys are 1..65535 bytes).
 *
 * A *fragmented list* (rt_list, RocksDB's FragmentedRangeTombstoneList) is
 * what readers use: fragments sorted by start, pairwise disjoint
 * (frag[i].end <= frag[i+1].start), each with the seqnos of every tombstone
 * that covers it, strictly descending. A key lies in at most one fragment,
 * so "the newest tombstone a snapshot sees over key k" is one binary search
 * plus a scan of that fragment's seqnos (rt_list_cover).
 *
 * Thread-safety: a builder belongs to one thread. An rt_list is immutable
 * once built and refcounted (atomic); any number of threads may query it.
 */
#ifndef TIND_FORMAT_RANGETOMB_H
#define TIND_FORMAT_RANGETOMB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/status.h"

typedef struct rt_frag {
    const uint8_t *start;
    size_t start_len;             /* 1..65535 */
    const uint8_t *end;
    size_t end_len;               /* 0 = unbounded (only the last fragment) */
    const uint64_t *seqs;         /* descending, >= 1 of them */
    size_t nseq;
} rt_frag;

typedef struct rt_list {
    _Atomic int refs;
    size_t count;                 /* fragments, >= 1 */
    size_t tombstones;            /* sum of nseq */
    rt_frag *frags;
    uint8_t *keys;                /* the key bytes the fragments point into */
    uint64_t *seqs;
} rt_list;

/* ---- builder: any tombstones in any order -> a fragmented list ---- */
typedef struct rt_raw rt_raw;
typedef struct rt_builder {
    rt_raw *items;
    size_t count, cap;
    tbuf keys;
} rt_builder;

void rt_builder_init(rt_builder *b);
void rt_builder_free(rt_builder *b);
/* Adds [start, end) at seqno (end_len 0 = unbounded). An empty range
 * (end <= start) is ignored. TIND_OK or TIND_ENOMEM. */
int rt_builder_add(rt_builder *b, const uint8_t *start, size_t start_len, const uint8_t *end, size_t end_len,
                   uint64_t seqno);
/* Adds every (fragment, seqno) of l clipped to [lo, hi) (lo NULL: from the
 * start; hi NULL: to the end). */
int rt_builder_add_list(rt_builder *b, const rt_list *l, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                        size_t hilen);
size_t rt_builder_count(const rt_builder *b);
/* Fragments what was added. *out = NULL when nothing was (or every range was
 * empty). keep(ctx, seqno, newer) decides, per fragment from its newest seqno
 * down, which seqnos to keep (newer: the last kept seqno of the fragment, 0
 * when none yet); NULL keeps all. The builder may be reused after reset. */
typedef int (*rt_keep_fn)(void *ctx, uint64_t seqno, uint64_t newer);
int rt_builder_finish(rt_builder *b, rt_keep_fn keep, void *ctx, rt_list **out);
void rt_builder_reset(rt_builder *b);

void rt_list_ref(rt_list *l);
void rt_list_unref(rt_list *l);   /* frees at zero; NULL is ignored */

/* The largest seqno <= snapshot of a tombstone covering key, 0 when none.
 * l may be NULL. */
uint64_t rt_list_cover(const rt_list *l, const uint8_t *key, size_t klen, uint64_t snapshot);
/* The fragment holding key, or -1; *next (may be NULL) receives the index of
 * the first fragment starting after key. */
long rt_list_find(const rt_list *l, const uint8_t *key, size_t klen, size_t *next);
/* The newest seqno <= snapshot of fragment f, 0 when none. */
uint64_t rt_frag_visible(const rt_frag *f, uint64_t snapshot);

/* The largest user key a tombstone of l can cover, as an inclusive bound for
 * a table's key range: end minus its trailing 0 byte when end = x"\0" (keys
 * < x"\0" are keys <= x), else end itself (one key more than covered), and
 * for an unbounded end the largest key (65535 bytes 0xFF). */
int rt_list_largest(const rt_list *l, tbuf *out);
/* The smallest user key of l (its first start). */
const uint8_t *rt_list_smallest(const rt_list *l, size_t *len);

/* The immediate successor of key in key order (key + "\0"), or, for a key of
 * the largest size, the next shorter key above it; 0 when there is none (the
 * largest key). Used to cut tombstones after a table's last key. */
int rt_key_successor(const uint8_t *key, size_t klen, tbuf *out);

/* The section codec: varint fragment count, then per fragment varint
 * start_len, start, varint end_len, end, varint nseq, nseq varint seqnos
 * (descending). decode checks all of docs/FORMAT.md "Range tombstone section"
 * and returns TIND_ECORRUPT (message naming `what`) on any violation. */
int rt_list_encode(const rt_list *l, tbuf *out);
int rt_list_decode(const uint8_t *p, size_t n, const char *what, rt_list **out, tind_err *err);

#endif
