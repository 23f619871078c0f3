/*
 * internal.c -- the engine side of src/tind_internal.h, the tools' one
 * internal interface: the journal payload decoder and FORMAT version under
 * stable names, the background pause, a caller-driven background step, and
 * the read-only probes tind-stress checks its model with. Everything else the
 * header offers is a module header it re-exports.
 *
 * The pause: db->pause_background counts the pausers (changed under mu).
 * While it is non-zero, db_background_step picks no job and ks_flush_one /
 * ks_compact_step, which start every job under mu, wait until it is zero
 * again (or the database closes), so a job either started before the pause
 * -- and the pause waits for running_jobs to reach 0 -- or starts after the
 * resume.
 */
#include "db/db.h"
#include "db/options.h"
#include "tind_internal.h"

uint32_t tind_internal_format_version(void) { return DB_FORMAT_VERSION; }

int tind_internal_pause_background(tind_db *db, int on)
{
    if (!db)
        return TIND_EINVAL;
    mu_lock(&db->mu);
    if (on) {
        atomic_fetch_add(&db->pause_background, 1);
        while (db->running_jobs > 0)
            cv_wait(&db->done_cv, &db->mu);
    } else {
        if (atomic_load(&db->pause_background) <= 0) {
            mu_unlock(&db->mu);
            return TIND_EINVAL;
        }
        /* jobs held at their start wait on done_cv; workers idle on bg_cv */
        if (atomic_fetch_sub(&db->pause_background, 1) == 1) {
            cv_broadcast(&db->done_cv);
            db_schedule(db);
        }
    }
    mu_unlock(&db->mu);
    return TIND_OK;
}

int tind_internal_background_step(tind_db *db)
{
    if (!db)
        return TIND_EINVAL;
    tind_err err;
    err_clear(&err);
    int rc = db_background_step(db, &err);
    if (rc < 0)
        db_fail(db, rc, &err);
    return rc;
}

int tind_internal_is_poisoned(tind_db *db) { return db && atomic_load(&db->poisoned) ? 1 : 0; }

uint64_t tind_internal_last_seqno(tind_db *db) { return db ? atomic_load(&db->last_seqno) : 0; }

int tind_internal_ks_merge_builtin(tind_keyspace *ks)
{
    const merge_op *op = ks ? ks_merge_op(ks) : NULL;
    return op ? op->builtin : TIND_MERGE_NONE;
}

uint64_t tind_internal_ks_flushed_seqno(tind_keyspace *ks)
{
    if (!ks)
        return 0;
    mu_lock(&ks->db->mu);
    uint64_t seqno = ks->flushed_seqno;
    mu_unlock(&ks->db->mu);
    return seqno;
}
