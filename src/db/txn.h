/*
 * txn.h -- transactions (txn.c): what the read paths above need of them.
 *
 * A transaction reads at its snapshot (the seqno fixed at begin, registered
 * like a tind_snapshot so compaction keeps what it sees) and keeps its own
 * writes in a private write set: one memtable per keyspace it wrote, whose
 * entries carry the sequence numbers TXN_SEQNO_BASE + 1, + 2, ... (above any
 * real seqno), so that the newest write of a key comes first, and a merge of
 * the write set over the snapshot's entries gives read-your-own-writes: a
 * reader treats every seqno >= TXN_SEQNO_BASE as visible (dbiter.c). Any
 * entry type (format/entry.h) can be held; commit turns the newest entry of
 * each key into one batch.
 *
 * The read set (what commit validates, unless the read was untracked): the
 * keys read by point reads (present or absent) and, per iterator made
 * through the transaction, the span of keys it covered: the smallest
 * interval holding every key it stood on and every seek target, stretched
 * to its bound when it ran off an end (txn_cover). A write after the
 * snapshot anywhere in that span conflicts: a key the iterator showed
 * changed, or a key appeared between two it showed (a phantom).
 *
 * Thread-safety: a transaction is used by one thread at a time (tind.h).
 */
#ifndef TIND_DB_TXN_H
#define TIND_DB_TXN_H

#include "db/write.h"

/* Write-set seqnos start above this; real seqnos stay below (2^55 writes). */
#define TXN_SEQNO_BASE (UINT64_C(1) << 55)

/* Looks key up in ro->txn's write set (TIND_OK: *type, *val, *vlen borrowed
 * from it, valid until the transaction's next write; TIND_NOT_FOUND: read the
 * snapshot) and records the point read unless ro says untracked. TIND_EINVAL
 * when ks is of another database or the transaction has ended. */
int txn_read_point(const tind_read_options *ro, tind_keyspace *ks, const uint8_t *key, size_t klen, uint8_t *type,
                   const uint8_t **val, size_t *vlen, tind_err *err);
/* What an iterator of a transaction covered (shared, refcounted, by the
 * transaction's read set and the iterator, which may outlive it). */
typedef struct txn_cover txn_cover;

/* The write set memtable of ks in ro->txn (NULL when it wrote nothing
 * there), and, unless untracked, *cover: a new empty span of an iterator
 * over [lo, hi) (has_* = 0: unbounded) in the read set, which the iterator
 * widens as it moves and releases when freed (*cover NULL when untracked).
 * TIND_EINVAL as above, TIND_ENOMEM. */
int txn_read_range(const tind_read_options *ro, tind_keyspace *ks, const uint8_t *lo, size_t lolen, int has_lo,
                   const uint8_t *hi, size_t hilen, int has_hi, memtable **ws, txn_cover **cover, tind_err *err);
/* Widens the span to hold key k (an entry the iterator stood on, or a seek
 * target); on out of memory it covers the whole range instead. */
void txn_cover_key(txn_cover *c, const uint8_t *k, size_t n);
/* Widens the span down to the iterator's lower bound / up to its upper bound
 * (it ran off that end). */
void txn_cover_to_lo(txn_cover *c);
void txn_cover_to_hi(txn_cover *c);
void txn_cover_release(txn_cover *c);

#endif
