/*
 * jobs.h -- background work: sealing memtables (which queues a flush),
 * flushes, compactions (the glue to compaction/), the workers and the
 * periodic syncer, and the waits of tind_flush / tind_compact.
 */
#ifndef TIND_DB_JOBS_H
#define TIND_DB_JOBS_H

#include "db/install.h"

/* Seals ks's active memtable, queues a flush, starts a new journal. write_mu held. */
int ks_seal_memtable(tind_keyspace *ks, tind_err *err);
int db_start_workers(tind_db *db);
void db_stop_workers(tind_db *db);
/* One unit of background work, if any is pending: 1 = did something. */
int db_background_step(tind_db *db, tind_err *err);
int ks_flush_one(tind_keyspace *ks, tind_err *err);
int ks_flush_all(tind_keyspace *ks, tind_err *err);   /* seal + wait until flushed */
int ks_needs_compaction(tind_keyspace *ks);   /* (mu) */
int ks_compact_step(tind_keyspace *ks, tind_err *err);


#endif
