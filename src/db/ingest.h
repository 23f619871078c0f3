/*
 * ingest.h -- bulk ingestion (tind_ingest): key-value pairs written straight
 * into tables, bypassing the journal and the memtables, installed by one
 * version edit.
 *
 * The steps (ingest.c has the invariants):
 *   0. the keyspace's memtables are flushed (what was written before the
 *      call goes to tables);
 *   1. a fresh sequence number S is reserved with a marker record in the
 *      journal (a put into a keyspace id no keyspace has: replay skips it),
 *      so journals keep meeting exactly and recovery's last seqno covers S;
 *      a snapshot at S is held until the install (compaction then keeps the
 *      seqnos of writes made meanwhile);
 *   2. the input, sorted (checked) or unsorted (sorted in runs of at most
 *      memory_limit bytes, spilled to temporary tables and merged; the last
 *      value of a key wins), is written as tables of the keyspace's last
 *      level, every entry at seqno S;
 *   3. install (background work paused, write_mu and install_mu held): the
 *      level is the deepest whose tables and those of every level above do
 *      not overlap the range (L0 when L0 overlaps, and always for tiered and
 *      FIFO keyspaces); reads take the first hit from the top, so every
 *      version of a key of the range above that place (memtables, L0 tables
 *      sorting first) must be newer than S and every one below older: the
 *      memtables and the tables made since step 1 are scanned over the range,
 *      and a version of an ingested key on the wrong side is TIND_EBUSY; a snapshot taken since
 *      step 1 (it would see the data appear) waits up to 100 ms, then
 *      TIND_EBUSY (snap_mu is held from that check through the install);
 *      the marker is synced, then one version edit (ks_install).
 * A crash before the version file names the tables leaves them as orphans,
 * which the next open deletes: the ingestion is all or nothing.
 */
#ifndef TIND_DB_INGEST_H
#define TIND_DB_INGEST_H

#include "db/jobs.h"

typedef struct ingest_options {
    int sorted;                   /* the input is in strictly increasing key order */
    size_t memory_limit;          /* bytes of input held before a run is spilled */
    tind_progress_fn progress;
    void *progress_ctx;
} ingest_options;

int ks_ingest(tind_keyspace *ks, tind_ingest_next_fn next, void *ctx, const ingest_options *o, uint64_t *count,
              tind_err *err);

#endif
