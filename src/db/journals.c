/*
 * journals.c -- the db's journal policy over the journal set
 * (db/journals.h): starting and rotating the journal being written (every
 * failure poisons: the memtables would no longer match the journal),
 * syncing it for persist and for a flush, and the keep number.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/journals.h"
#include "util/coding.h"

uint64_t db_oldest_unflushed_seqno(tind_db *db, const memtable *leaving)
{
    uint64_t earliest = UINT64_MAX;
    for (size_t i = 0; i < db->keyspace_count; i++) {
        tind_keyspace *ks = db->keyspaces[i];
        uint64_t e = UINT64_MAX;
        for (size_t j = 0; j < ks->sealed_count && e == UINT64_MAX; j++)
            if (ks->sealed[j] != leaving)
                e = mt_min_seqno(ks->sealed[j]);
        if (e == UINT64_MAX && !mt_empty(ks->active))
            e = mt_min_seqno(ks->active);
        if (e < earliest)
            earliest = e;
    }
    return earliest;
}

uint64_t db_journal_keep_number(tind_db *db, const memtable *leaving)
{
    return jset_keep_number(&db->journals, db_oldest_unflushed_seqno(db, leaving));
}

/* Seals the journal being written and starts the next one. The old journal
 * is not synced (journal format 4): most sealed journals are deleted before
 * the kernel writes them back. The next sync (jset_sync) syncs it first; a
 * power loss before that may tear it, and recovery then drops the later
 * journals (journal/journal_set.h). A failure poisons. write_mu held. */
int db_rotate_journal(tind_db *db, tind_err *err)
{
    if (!jset_writing(&db->journals))
        return err_set(err, TIND_EPOISONED, "database '%s' has no journal", db->path);
    int rc = jset_seal(&db->journals, atomic_load(&db->last_seqno), err);
    if (rc == TIND_OK)
        rc = db_new_journal(db, err);
    if (rc)
        db_poison(db, err);
    return rc;
}

int db_persist(tind_db *db, int mode, tind_err *err)
{
    if (mode < TIND_PERSIST_NONE || mode > TIND_PERSIST_SYNC_ALL)
        return err_set(err, TIND_EINVAL, "persist mode %d is unknown", mode);
    mu_lock(&db->write_mu);
    int rc = db_check_writable(db, err);
    if (rc == TIND_OK && !jset_writing(&db->journals))
        rc = err_set(err, TIND_EPOISONED, "database has no journal");
    /* NONE: nothing to do; BUFFER: the records NONE writes left in the
     * journal's user-space buffer go to the OS; SYNC_*: written and synced */
    if (rc == TIND_OK && mode == TIND_PERSIST_BUFFER)
        rc = db_push_journal_locked(db, err);
    if (rc == TIND_OK && mode >= TIND_PERSIST_SYNC_DATA)
        rc = db_sync_journal_locked(db, mode == TIND_PERSIST_SYNC_ALL ? FS_SYNC_ALL : FS_SYNC_DATA, err);
    mu_unlock(&db->write_mu);
    return rc;
}

int db_sync_journal_locked(tind_db *db, int how, tind_err *err)
{
    int rc = db_check_writable(db, err);
    if (rc == TIND_OK && !jset_writing(&db->journals))
        rc = err_set(err, TIND_EPOISONED, "database has no journal");
    if (rc)
        return rc;
    rc = jset_sync(&db->journals, how, atomic_load(&db->last_seqno), err);
    if (rc)
        db_poison(db, err);
    return rc;
}

int db_push_journal_locked(tind_db *db, tind_err *err)
{
    if (!jset_writing(&db->journals) || !jset_pending(&db->journals))
        return TIND_OK;
    int rc = db_check_writable(db, err);
    if (rc)
        return rc;
    rc = jset_write(&db->journals, NULL, err);
    if (rc)
        db_poison(db, err);
    return rc;
}

int db_push_journal(tind_db *db, tind_err *err)
{
    mu_lock(&db->write_mu);
    int rc = db_push_journal_locked(db, err);
    mu_unlock(&db->write_mu);
    return rc;
}

int db_sync_journal_through(tind_db *db, uint64_t seqno, tind_err *err)
{
    mu_lock(&db->write_mu);
    int rc = db->journals.synced_seqno < seqno ? db_sync_journal_locked(db, FS_SYNC_DATA, err) : TIND_OK;
    mu_unlock(&db->write_mu);
    return rc;
}

int db_sync_journal_for_flush(tind_db *db, const memtable *m, tind_err *err)
{
    /* Only a write that no table will hold (another memtable's) at or
     * below the end of the last batch the table has a part of could leave
     * a hole or half a batch, were its journal record lost while the table
     * survives. A sealed journal ends at a batch boundary, so the end of the
     * one holding the table's largest seqno bounds that batch; while that
     * journal is still being written, sync. Seqnos are given out and
     * inserted under write_mu, so none at or below its end can still come.
     * Without such a write every one up to that end is in tables, and the
     * journals through it may be lost whole: the version file naming the
     * table moves the keep number past them. That needs a later journal
     * (jset_sealed_end finds none after a failed rotation, and the sync,
     * which a poisoned database refuses, fails the flush): a kept journal
     * that lost a flushed tail would end below a table's seqno, and the
     * journal started at recovery would leave records missing after it. */
    uint64_t max = mt_max_seqno(m), end = 0;
    if (jset_sealed_end(&db->journals, max, &end)) {
        mu_lock(&db->mu);
        uint64_t oldest = db_oldest_unflushed_seqno(db, m);
        mu_unlock(&db->mu);
        if (oldest > end)
            return TIND_OK;
    }
    return db_sync_journal_through(db, max, err);
}

int db_sync_sealed_journals_locked(tind_db *db, tind_err *err)
{
    int rc = db_check_writable(db, err);
    if (rc == TIND_OK && (rc = jset_sync_sealed(&db->journals, err)) != TIND_OK)
        db_poison(db, err);
    return rc;
}

/* Starts journal number N (write_mu held or single-threaded). */
int db_new_journal(tind_db *db, tind_err *err)
{
    mu_lock(&db->mu);
    uint64_t number = db_new_file_number(db);
    mu_unlock(&db->mu);
    return jset_start(&db->journals, number, atomic_load(&db->last_seqno) + 1, err);
}
