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
 * is synced before the next one exists, so after a power loss only the
 * newest journal can have a torn tail. A failure poisons. write_mu held. */
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

/* Starts journal number N (write_mu held or single-threaded). */
int db_new_journal(tind_db *db, tind_err *err)
{
    mu_lock(&db->mu);
    uint64_t number = db_new_file_number(db);
    mu_unlock(&db->mu);
    return jset_start(&db->journals, number, atomic_load(&db->last_seqno) + 1, err);
}
