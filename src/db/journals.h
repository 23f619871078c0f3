/*
 * journals.h -- the db's use of its journal set (journal/journal_set.h):
 * the policy around the mechanism. Starting and rotating the journal being
 * written, syncing it (a failure poisons), the keep number (which memtables
 * still pin a journal), and the record payload format of a batch.
 */
#ifndef TIND_DB_JOURNALS_H
#define TIND_DB_JOURNALS_H

#include "db/state.h"
#include "journal/batch_entry.h"

/* Starts a new journal file and makes it the one being written (write_mu
 * held or single-threaded). */
int db_new_journal(tind_db *db, tind_err *err) REQUIRES(db->write_mu) EXCLUDES(db->mu);
/* Seals the journal being written and starts the next (poisons on failure). write_mu held. */
int db_rotate_journal(tind_db *db, tind_err *err) REQUIRES(db->write_mu) EXCLUDES(db->mu);
int db_persist(tind_db *db, int mode, tind_err *err) EXCLUDES(db->write_mu);
/* Syncs the journal through seqno (a flush calls this before installing its
 * table, so that recovered history never has holes). */
int db_sync_journal_through(tind_db *db, uint64_t seqno, tind_err *err) EXCLUDES(db->write_mu);
/* A flush's journal sync, before it installs the table of memtable m: only
 * when another memtable holds a write at or below m's largest seqno (that
 * write's loss with the table kept would be a hole); else none. */
int db_sync_journal_for_flush(tind_db *db, const memtable *m, tind_err *err) EXCLUDES(db->write_mu, db->mu);
/* Syncs the sealed journals that are not synced yet (a failure poisons). write_mu held. */
int db_sync_sealed_journals_locked(tind_db *db, tind_err *err) REQUIRES(db->write_mu);
/* Hands the records that TIND_PERSIST_NONE writes left in the journal's
 * user-space buffer to the OS (one write; a failure poisons). After it,
 * journals.written_seqno covers every batch committed so far. */
int db_push_journal_locked(tind_db *db, tind_err *err) REQUIRES(db->write_mu);
int db_push_journal(tind_db *db, tind_err *err) EXCLUDES(db->write_mu);
/* Syncs the journal (how: FS_SYNC_DATA or FS_SYNC_ALL) through everything
 * written so far; a failure poisons. write_mu held. */
int db_sync_journal_locked(tind_db *db, int how, tind_err *err) REQUIRES(db->write_mu);
/* Number of the oldest journal still needed, were `leaving` (a memtable being
 * flushed, or NULL) gone. (mu) */
uint64_t db_journal_keep_number(tind_db *db, const memtable *leaving) REQUIRES(db->mu);
/* The oldest seqno in any memtable but `leaving` (no table holds it yet), or
 * UINT64_MAX when there is none. */
uint64_t db_oldest_unflushed_seqno(tind_db *db, const memtable *leaving) REQUIRES(db->mu);

#endif
