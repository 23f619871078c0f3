/*
 * jobs.h -- background work: sealing memtables (which queues a flush),
 * flushes, compactions (the glue to compaction/), the workers and the
 * periodic syncer, and the waits of tind_flush / tind_compact.
 */
#ifndef TIND_DB_JOBS_H
#define TIND_DB_JOBS_H

#include "compaction/compact.h"
#include "db/install.h"

/* Seals ks's active memtable, queues a flush, starts a new journal. write_mu held. */
int ks_seal_memtable(tind_keyspace *ks, tind_err *err) REQUIRES(ks->db->write_mu) EXCLUDES(ks->db->mu);
/* Why a thread waiting for background progress (tind_flush, tind_compact,
 * a stalled writer) must stop waiting, whatever it waits for: TIND_ECLOSED
 * when close has begun, the poison status, TIND_ENOENT when ks (NULL: none)
 * was deleted, the background error when a job failed after the waiter had
 * seen `failures_seen` failures (db->bg_failures when it began). TIND_OK:
 * keep waiting. */
int db_wait_stop(tind_db *db, tind_keyspace *ks, uint64_t failures_seen, tind_err *err) REQUIRES(db->mu);
int db_start_workers(tind_db *db);
void db_stop_workers(tind_db *db) EXCLUDES(db->mu);
/* One unit of background work, if any is pending: 1 = did something. */
int db_background_step(tind_db *db, tind_err *err) EXCLUDES(db->mu);
int ks_flush_one(tind_keyspace *ks, tind_err *err) EXCLUDES(ks->db->mu, ks->db->install_mu);
int ks_flush_all(tind_keyspace *ks, tind_err *err) EXCLUDES(ks->db->mu, ks->db->write_mu);   /* seal + wait until flushed */
int ks_needs_compaction(tind_keyspace *ks) REQUIRES(ks->db->mu);
int ks_compact_step(tind_keyspace *ks, tind_err *err) EXCLUDES(ks->db->mu, ks->db->install_mu);
/* What compaction needs of the db to write ks's tables (also bulk ingestion). */
void ks_cmp_env(tind_keyspace *ks, cmp_env *env);


#endif
