/*
 * ingest.h -- bulk ingestion (tind_ingest): key-value pairs written straight
 * into tables, bypassing the journal and the memtables, installed by one
 * version edit.
 *
 * The steps (ingest.c has the invariants):
 *   1. a fresh sequence number S is reserved with a marker record in the
 *      journal (a put into a keyspace id no keyspace has: replay skips it),
 *      so journals keep meeting exactly and recovery's last seqno covers S;
 *   2. the input, sorted (checked) or unsorted (sorted in runs of at most
 *      memory_limit bytes, spilled to temporary tables and merged; the last
 *      value of a key wins), is written as tables of the keyspace's last
 *      level, every entry at seqno S;
 *   3. install (background work paused, write_mu and install_mu held): the
 *      memtables must hold no key of the ingested range (they are flushed
 *      first; writers that write into it meanwhile make it retry, then
 *      TIND_EBUSY), no snapshot taken since step 1 may be live (it would see
 *      the data appear: waits up to 100 ms, then TIND_EBUSY; snap_mu is held
 *      from that check through the install), then the tables go to the deepest level
 *      whose tables and those of every level above do not overlap the
 *      range (L0 when L0 overlaps, or for tiered and FIFO keyspaces), with
 *      one version edit after the marker is synced.
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
