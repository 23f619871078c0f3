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
 * keys read by point reads (present or absent) and the ranges iterators were
 * made over (their whole bounds: conservative, and covers phantoms).
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
/* The write set memtable of ks in ro->txn (NULL when it wrote nothing
 * there), and records the range [lo, hi) (has_* = 0: unbounded) unless
 * untracked. TIND_EINVAL as above, TIND_ENOMEM. */
int txn_read_range(const tind_read_options *ro, tind_keyspace *ks, const uint8_t *lo, size_t lolen, int has_lo,
                   const uint8_t *hi, size_t hilen, int has_hi, memtable **ws, tind_err *err);

#endif
