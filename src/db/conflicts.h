/*
 * conflicts.h -- the conflict log: the keys written since the oldest live
 * optimistic transaction's snapshot, with their sequence numbers, so that a
 * committing transaction can ask "did anyone write this key, or a key in
 * this range, after my snapshot?" without reading the tree (db/txn.c).
 *
 * Invariants:
 *   1. The log exists (db->conflicts != NULL) exactly while at least one
 *      tracked transaction lives; it is made by the first cf_begin and freed
 *      by the last cf_end.
 *   2. Every write (batch entry, any keyspace) with seqno >= covered_from is
 *      in the log: the write path records each entry under write_mu while the
 *      log exists (cf_record), and a transaction's snapshot is taken under
 *      write_mu by cf_begin, so no write can slip between the snapshot and
 *      the start of its recording.
 *   3. The log is a list of generations (memtables keyed by a 4-byte
 *      big-endian keyspace id + the user key, value-less), oldest first; a
 *      generation is sealed at CF_GEN_BYTES. A generation whose writes are
 *      all <= the oldest tracked snapshot is dropped; past CF_GENS_MAX
 *      generations the oldest is dropped anyway and covered_from rises: a
 *      transaction whose snapshot the log no longer covers conflicts
 *      conservatively at commit (cf_covers).
 * Thread-safety: everything here runs under db->write_mu.
 */
#ifndef TIND_DB_CONFLICTS_H
#define TIND_DB_CONFLICTS_H

#include "db/state.h"

#define CF_GEN_BYTES (4u << 20)   /* a generation is sealed past this */
#define CF_GENS_MAX 16            /* at most 64 MiB of log */

typedef struct conflict_log conflict_log;

/* Starts tracking a transaction whose snapshot is seqno (db->last_seqno, read
 * under write_mu): makes the log when it is the first. TIND_ENOMEM. */
int cf_begin(tind_db *db, uint64_t seqno) REQUIRES(db->write_mu);
/* Stops tracking the transaction of snapshot seqno; frees the log after the last. */
void cf_end(tind_db *db, uint64_t seqno) REQUIRES(db->write_mu);
/* Records a write (the write path, for every batch entry while the log
 * exists). Never fails: out of memory raises covered_from instead. */
void cf_record(tind_db *db, uint32_t ks_id, const uint8_t *key, size_t klen, uint64_t seqno)
    REQUIRES(db->write_mu);
/* Records a range deletion [lo, hi) (hilen 0: no end) as a range tombstone
 * of the generation (the memtable keeps it apart): cf_point and cf_range see
 * it over every key it covers. Never fails: out of memory raises
 * covered_from instead (older snapshots conflict). */
void cf_record_range(tind_db *db, uint32_t ks_id, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen,
                     uint64_t seqno) REQUIRES(db->write_mu);
/* 1 when every write after snapshot snap is in the log. */
int cf_covers(const conflict_log *cl, uint64_t snap);
/* The seqno of the newest logged write of key after snap, or 0. */
uint64_t cf_point(conflict_log *cl, uint32_t ks_id, const uint8_t *key, size_t klen, uint64_t snap);
/* The seqno of a logged write after snap of a key in [lo, hi) (has_lo /
 * has_hi = 0: unbounded), or 0; *key_out then holds that key. */
uint64_t cf_range(conflict_log *cl, uint32_t ks_id, const uint8_t *lo, size_t lolen, int has_lo, const uint8_t *hi,
                  size_t hilen, int has_hi, uint64_t snap, tbuf *key_out);
/* Frees a log (close, should one be left). */
void cf_free(conflict_log *cl);

#endif
