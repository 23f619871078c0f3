/*
 * bg.c -- background work: the worker pool, flushes, compactions, the
 * periodic journal syncer, and the manual tind_flush / tind_compact.
 *
 * Workers sleep on bg_cv and, when woken, run one job at a time:
 *   1. a flush of the oldest sealed memtable of some keyspace (flushes first:
 *      they free memory and unblock writers);
 *   2. a compaction of some keyspace the picker says needs one.
 * At most one flush and one compaction run per keyspace at a time.
 *
 * Installing a result (install_mu held, mu not held while writing):
 *   write the new tables and fsync them, fsync the tables folder, build the
 *   new version (copy-on-write), write the version file atomically, then
 *   swap ks->current and the view under mu and mark the tables that left
 *   obsolete (their files go when the last reader lets go). A crash before
 *   the version file is renamed leaves orphan tables, which open deletes.
 *   A failed table write leaves the database as it was (the job retries
 *   later); a failed version file write poisons the database.
 *
 * Closing: db_stop_workers sets `closing`, wakes everyone; a running
 * compaction notices within ~1000 entries and abandons its output.
 *
 * Waiting: every thread that waits for background progress (tind_flush,
 * tind_compact, a stalled writer) checks db_wait_stop on each wake-up, so
 * that it returns on done, keyspace deleted, close begun, a failed job or
 * poison alike; a wait that can never finish is a bug. A manual compaction
 * is always "needed" until a step has run its pick, so an empty keyspace or a
 * picker with nothing to do (FIFO) ends it at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compaction/picker.h"
#include "db/db.h"
#include "util/killpoint.h"

/* ------------------------------------------------------------------ writing tables */

static void table_options_for(const tind_keyspace *ks, int level, tbl_options *o)
{
    tbl_options_default(o);
    const struct tind_ks_options *k = &ks->opts;
    if (level >= KS_MAX_LEVELS)
        level = KS_MAX_LEVELS - 1;
    o->block_size = k->block_size;
    o->restart_interval = k->restart_interval;
    o->hash_ratio = k->hash_ratio;
    o->compression = k->compression[level];
    o->compression_level = k->zstd_level[level];
    o->bloom_bits_per_key = k->bloom_bits[level];
    o->partition_index = o->partition_filter = level >= k->partition_from_level;
}

/* Index of the stripe (the oldest snapshot that sees seqno), nsnap = none. */
static size_t stripe_of(const uint64_t *snaps, size_t nsnap, uint64_t seqno)
{
    size_t lo = 0, hi = nsnap;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (snaps[mid] < seqno)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int grow_tables(ver_table ***tables, size_t *count, size_t *cap)
{
    if (*count < *cap)
        return TIND_OK;
    size_t nc = *cap ? *cap * 2 : 4;
    ver_table **p = realloc(*tables, nc * sizeof *p);
    if (!p)
        return TIND_ENOMEM;
    *tables = p;
    *cap = nc;
    return TIND_OK;
}

static int finish_table(tind_keyspace *ks, tbl_writer *w, uint64_t number, ver_table ***tables, size_t *count,
                        size_t *cap, uint64_t *bytes, tind_err *err)
{
    tbl_meta meta;
    memset(&meta, 0, sizeof meta);
    int rc = grow_tables(tables, count, cap);
    if (rc) {
        tbl_writer_abandon(w);
        return rc;
    }
    KILL_POINT("table.sync.before");
    rc = tbl_writer_finish(w, FS_SYNC_DATA, &meta, err);
    KILL_POINT("table.sync.after");
    if (rc)
        return rc;
    ver_table *t = ver_table_from_meta(number, &meta);
    tbl_meta_free(&meta);
    if (!t)
        return err_set(err, TIND_ENOMEM, "out of memory");
    t->on_free = ks->db->tables_on_free;
    t->on_free_ctx = ks->db;
    (*tables)[(*count)++] = t;
    *bytes += t->size;
    return TIND_OK;
}

int ks_write_tables(tind_keyspace *ks, iiter *in, int out_level, int bottommost, const uint64_t *snaps,
                    size_t nsnap, ver_table ***tables_out, size_t *count_out, uint64_t *bytes_out, tind_err *err)
{
    tind_db *db = ks->db;
    ver_table **tables = NULL;
    size_t count = 0, cap = 0;
    uint64_t bytes = 0;
    tbl_options to;
    table_options_for(ks, out_level, &to);
    /* L0 tables may overlap: a flush or a tiered merge makes one table */
    int split = out_level > 0;
    tbl_writer *w = NULL;
    uint64_t number = 0;
    tbuf prev = TBUF_INIT;
    int have_prev = 0;
    size_t last_stripe = 0;
    int rc = TIND_OK;
    uint64_t n = 0;

    for (ii_first(in); ii_valid(in); ii_next(in)) {
        if ((++n & 1023) == 0) {
            pthread_mutex_lock(&db->mu);
            int closing = db->closing;
            pthread_mutex_unlock(&db->mu);
            if (closing) {
                rc = err_set(err, TIND_ECLOSED, "compaction abandoned: database is closing");
                break;
            }
        }
        size_t klen, vlen;
        const uint8_t *key = ii_key(in, &klen);
        uint64_t seqno = ii_seqno(in);
        uint8_t type = ii_type(in);
        int new_key = !have_prev || key_cmp(key, klen, prev.data, prev.len) != 0;
        size_t stripe = stripe_of(snaps, nsnap, seqno);
        if (new_key) {
            if (tbuf_set(&prev, key, klen)) {
                rc = TIND_ENOMEM;
                break;
            }
            have_prev = 1;
        } else if (stripe == last_stripe) {
            continue; /* shadowed by a newer version no snapshot separates */
        }
        last_stripe = stripe;
        if (bottommost && stripe == 0) {
            if (type == ENTRY_TOMBSTONE)
                continue; /* nothing older lies below, no snapshot needs it */
            seqno = 0;    /* every reader sees this version: seqno no longer matters */
        }
        if (w && split && new_key && tbl_writer_estimated_size(w) >= ks->opts.table_size) {
            rc = finish_table(ks, w, number, &tables, &count, &cap, &bytes, err);
            w = NULL;
            if (rc)
                break;
            KILL_POINT("compaction.output");
        }
        if (!w) {
            pthread_mutex_lock(&db->mu);
            number = db_new_file_number(db);
            pthread_mutex_unlock(&db->mu);
            char path[4096];
            db_table_path(db, number, path, sizeof path);
            to.file_number = number;
            to.table_id = db_new_table_id(db, number);
            rc = tbl_writer_open(db->fs, path, &to, &w, err);
            if (rc) {
                w = NULL;
                break;
            }
        }
        const uint8_t *val = ii_value(in, &vlen);
        rc = tbl_writer_add(w, key, klen, seqno, type, val, vlen, err);
        if (rc)
            break;
    }
    if (rc == TIND_OK)
        rc = ii_status(in, err);
    if (rc == TIND_OK && w) {
        rc = finish_table(ks, w, number, &tables, &count, &cap, &bytes, err);
        w = NULL;
    }
    if (w)
        tbl_writer_abandon(w);
    tbuf_free(&prev);
    if (rc == TIND_OK && count) {
        rc = fs_sync_dir(db->fs, db->tables_dir, err);
    }
    if (rc) {
        for (size_t i = 0; i < count; i++) {
            tables[i]->obsolete = 1;
            ver_table_unref(tables[i]);
        }
        free(tables);
        return rc;
    }
    *tables_out = tables;
    *count_out = count;
    *bytes_out = bytes;
    return TIND_OK;
}

/* Builds and installs ks's next version: removes `removed` (levels given),
 * adds `added` at add_level. install_mu held. Consumes the refs of added. */
static int install(tind_keyspace *ks, ver_table **removed, const int *removed_levels, size_t nremoved,
                   ver_table **added, size_t nadded, int add_level, uint64_t flushed_seqno, memtable *flushed,
                   tind_err *err)
{
    tind_db *db = ks->db;
    ver_edit edit;
    ver_edit *e = &edit;
    ver_edit_init(e);
    int rc = TIND_OK;
    for (size_t i = 0; !rc && i < nremoved; i++)
        rc = ver_edit_remove(e, removed_levels[i], removed[i]);
    for (size_t i = 0; !rc && i < nadded; i++)
        rc = ver_edit_add(e, add_level, added[i]);
    version *nv = NULL;
    pthread_mutex_lock(&db->mu);
    if (!rc)
        rc = version_apply(ks->current, e, &nv, err);
    uint64_t new_flushed = flushed_seqno > ks->flushed_seqno ? flushed_seqno : ks->flushed_seqno;
    pthread_mutex_unlock(&db->mu);
    if (!rc) {
        KILL_POINT(flushed ? "flush.install.before" : "compaction.install.before");
        rc = db_write_manifest(db, ks, nv, new_flushed, flushed, err);
        if (rc) {
            db_poison(db, err);
        }
    }
    if (rc) {
        if (nv)
            version_unref(nv);
        ver_edit_free(e);
        return rc;
    }
    pthread_mutex_lock(&db->mu);
    version *old = ks->current;
    ks->current = nv;
    ks->flushed_seqno = new_flushed;
    if (flushed) {
        /* the flushed memtable is the oldest sealed one */
        for (size_t i = 0; i < ks->sealed_count; i++)
            if (ks->sealed[i] == flushed) {
                memmove(ks->sealed + i, ks->sealed + i + 1, (ks->sealed_count - i - 1) * sizeof *ks->sealed);
                ks->sealed_count--;
                mt_unref(flushed);
                break;
            }
    }
    /* tables that left and did not come back (a move re-adds) */
    for (size_t i = 0; i < nremoved; i++) {
        int kept = 0;
        for (size_t j = 0; j < nadded; j++)
            kept |= added[j] == removed[i];
        if (!kept)
            removed[i]->obsolete = 1;
    }
    rc = ks_rebuild_view(ks);
    db_delete_obsolete_journals(db);
    pthread_cond_broadcast(&db->stall_cv);
    pthread_mutex_unlock(&db->mu);
    version_unref(old);
    ver_edit_free(e);
    return rc;
}

/* ------------------------------------------------------------------ flush */

/* (mu) Every job starts under mu after this: while tind_internal_pause_background
 * holds a pause, none starts (the pauser waits for running_jobs to reach 0).
 * Returns nonzero when still paused (the database is closing): no job then. */
static int wait_while_paused(tind_db *db)
{
    while (atomic_load(&db->pause_background) && !db->closing)
        pthread_cond_wait(&db->done_cv, &db->mu);
    return atomic_load(&db->pause_background);
}

int ks_flush_one(tind_keyspace *ks, tind_err *err)
{
    tind_db *db = ks->db;
    pthread_mutex_lock(&db->mu);
    if (wait_while_paused(db) || ks->flush_running || !ks->sealed_count || ks->dropped || ks->dropping ||
        atomic_load(&db->poisoned)) {
        pthread_mutex_unlock(&db->mu);
        return 0;
    }
    memtable *m = ks->sealed[0];
    mt_ref(m);
    ks->flush_running = 1;
    int bottommost = version_table_count(ks->current) == 0;
    db->running_jobs++;
    pthread_mutex_unlock(&db->mu);

    uint64_t *snaps = NULL;
    size_t nsnap = 0;
    ver_table **tables = NULL;
    size_t count = 0;
    uint64_t bytes = 0;
    int rc = db_snapshot_seqnos(db, &snaps, &nsnap);
    iiter *it = rc ? NULL : mt_iiter_new(m);
    if (!rc && !it)
        rc = TIND_ENOMEM;
    if (!rc)
        rc = ks_write_tables(ks, it, 0, bottommost, snaps, nsnap, &tables, &count, &bytes, err);
    ii_free(it);
    free(snaps);
    /* the table must never hold data whose journal records could still be
     * lost: that would leave a hole in the recovered history */
    if (!rc)
        rc = db_sync_journal_through(db, mt_max_seqno(m), err);
    if (rc && tables) {
        for (size_t i = 0; i < count; i++) {
            tables[i]->obsolete = 1;
            ver_table_unref(tables[i]);
        }
        free(tables);
        tables = NULL;
        count = 0;
    }
    if (!rc) {
        pthread_mutex_lock(&db->install_mu);
        rc = install(ks, NULL, NULL, 0, tables, count, 0, mt_max_seqno(m), m, err);
        pthread_mutex_unlock(&db->install_mu);
        for (size_t i = 0; i < count; i++)
            ver_table_unref(tables[i]);
        free(tables);
        if (!rc) {
            atomic_fetch_add(&ks->flush_bytes, bytes);
            atomic_fetch_add(&ks->flushes, 1);
        }
    }
    mt_unref(m);
    pthread_mutex_lock(&db->mu);
    ks->flush_running = 0;
    db->running_jobs--;
    pthread_cond_broadcast(&db->done_cv);
    pthread_cond_broadcast(&db->stall_cv);
    db_schedule(db);
    pthread_mutex_unlock(&db->mu);
    return rc ? rc : 1;
}

/* ------------------------------------------------------------------ compaction */

int ks_needs_compaction(tind_keyspace *ks)
{
    if (ks->compaction_running || ks->dropped || ks->dropping)
        return 0;
    /* the step clears the request even when the picker finds nothing */
    if (ks->manual_compaction)
        return 1;
    compaction_pick p;
    if (pick_compaction(ks->current, &ks->opts, ks->manual_compaction, (uint64_t)time(NULL), &p))
        return 0;
    int need = p.kind != PICK_NONE;
    compaction_pick_free(&p);
    return need;
}

int ks_compact_step(tind_keyspace *ks, tind_err *err)
{
    tind_db *db = ks->db;
    pthread_mutex_lock(&db->mu);
    if (wait_while_paused(db) || ks->compaction_running || ks->dropped || ks->dropping ||
        atomic_load(&db->poisoned)) {
        pthread_mutex_unlock(&db->mu);
        return 0;
    }
    compaction_pick p;
    int manual = ks->manual_compaction;
    int rc = pick_compaction(ks->current, &ks->opts, manual, (uint64_t)time(NULL), &p);
    if (rc || p.kind == PICK_NONE) {
        if (manual && !rc) {
            ks->manual_compaction = 0;
            pthread_cond_broadcast(&db->done_cv);
        }
        pthread_mutex_unlock(&db->mu);
        return rc;
    }
    for (size_t i = 0; i < p.count; i++)
        atomic_store(&p.inputs[i]->being_compacted, 1);
    ks->compaction_running = 1;
    db->running_jobs++;
    version *v = ks->current;
    version_ref(v);
    pthread_mutex_unlock(&db->mu);

    ver_table **tables = NULL;
    size_t count = 0;
    uint64_t bytes = 0;
    if (p.kind == PICK_MERGE) {
        uint64_t *snaps = NULL;
        size_t nsnap = 0;
        iiter **children = calloc(p.count, sizeof *children);
        rc = children ? db_snapshot_seqnos(db, &snaps, &nsnap) : TIND_ENOMEM;
        size_t n = 0;
        for (; !rc && n < p.count; n++) {
            tbl *t;
            rc = db_table_reader(db, p.inputs[n], p.levels[n], &t, err);
            if (!rc)
                rc = tbl_iiter_new(t, &children[n]);
        }
        iiter *merged = NULL;
        if (!rc) {
            rc = ii_merge_new(children, p.count, &merged);
            children = NULL;
        } else if (children) {
            for (size_t i = 0; i < p.count; i++)
                ii_free(children[i]);
            free(children);
        }
        if (!rc)
            rc = ks_write_tables(ks, merged, p.out_level, p.bottommost, snaps, nsnap, &tables, &count, &bytes, err);
        ii_free(merged);
        free(snaps);
    } else if (p.kind == PICK_MOVE) {
        tables = malloc(sizeof *tables);
        if (!tables)
            rc = TIND_ENOMEM;
        else {
            tables[0] = p.inputs[0];
            ver_table_ref(tables[0]);
            count = 1;
        }
    }
    if (!rc) {
        pthread_mutex_lock(&db->install_mu);
        rc = install(ks, p.inputs, p.levels, p.count, tables, count, p.out_level, 0, NULL, err);
        pthread_mutex_unlock(&db->install_mu);
    }
    for (size_t i = 0; i < count; i++)
        ver_table_unref(tables[i]);
    free(tables);
    if (!rc && p.kind == PICK_MERGE) {
        atomic_fetch_add(&ks->compaction_bytes, bytes);
        atomic_fetch_add(&ks->compactions, 1);
    }
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; i < p.count; i++)
        atomic_store(&p.inputs[i]->being_compacted, 0);
    ks->compaction_running = 0;
    if (manual && rc == TIND_OK)
        ks->manual_compaction = 0; /* a manual pick takes every table at once */
    db->running_jobs--;
    pthread_cond_broadcast(&db->done_cv);
    db_schedule(db);
    pthread_mutex_unlock(&db->mu);
    version_unref(v);
    compaction_pick_free(&p);
    return rc ? rc : 1;
}

/* ------------------------------------------------------------------ workers */

void db_schedule(tind_db *db) { pthread_cond_broadcast(&db->bg_cv); }

/* Finds one job and runs it. mu NOT held. */
int db_background_step(tind_db *db, tind_err *err)
{
    pthread_mutex_lock(&db->mu);
    tind_keyspace *flush = NULL, *compact = NULL;
    if (!db->closing && !atomic_load(&db->poisoned) && !atomic_load(&db->pause_background)) {
        for (size_t i = 0; i < db->keyspace_count && !flush; i++)
            if (db->keyspaces[i]->sealed_count && !db->keyspaces[i]->flush_running && !db->keyspaces[i]->dropping)
                flush = db->keyspaces[i];
        for (size_t i = 0; i < db->keyspace_count && !flush && !compact; i++)
            if (ks_needs_compaction(db->keyspaces[i]))
                compact = db->keyspaces[i];
    }
    /* keep the keyspace from being freed: deletion waits for running jobs,
     * which the step below marks under mu before releasing it */
    pthread_mutex_unlock(&db->mu);
    if (flush)
        return ks_flush_one(flush, err);
    if (compact)
        return ks_compact_step(compact, err);
    return 0;
}

static void *worker_main(void *arg)
{
    tind_db *db = arg;
    tind_err err;
    for (;;) {
        err_clear(&err);
        int rc = db_background_step(db, &err);
        if (rc != 0 && rc != TIND_ECLOSED) {
            pthread_mutex_lock(&db->mu);
            db->bg_error = rc < 0 ? rc : 0;
            if (rc < 0) {
                snprintf(db->bg_error_msg, sizeof db->bg_error_msg, "%s", err.msg);
                db->bg_failures++;
                /* waiters return the failure rather than wait for a retry */
                pthread_cond_broadcast(&db->done_cv);
                pthread_cond_broadcast(&db->stall_cv);
            }
            pthread_mutex_unlock(&db->mu);
        }
        if (rc < 0 && rc != TIND_ECLOSED) {
            db_fail(db, rc, &err);
            /* a failed table write: the job stays pending; back off */
            if (!atomic_load(&db->poisoned)) {
                struct timespec ts = {0, 100 * 1000000};
                nanosleep(&ts, NULL);
            }
        }
        pthread_mutex_lock(&db->mu);
        if (db->closing) {
            pthread_mutex_unlock(&db->mu);
            return NULL;
        }
        if (rc == 0) {
            /* wake at least every second: FIFO TTLs expire without events */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&db->bg_cv, &db->mu, &ts);
        }
        int closing = db->closing;
        pthread_mutex_unlock(&db->mu);
        if (closing)
            return NULL;
    }
}

static void *syncer_main(void *arg)
{
    tind_db *db = arg;
    pthread_mutex_lock(&db->mu);
    while (!db->closing) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)db->opts.sync_interval_ms * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&db->bg_cv, &db->mu, &ts);
        if (db->closing)
            break;
        pthread_mutex_unlock(&db->mu);
        tind_err err;
        err_clear(&err);
        int rc = db_persist(db, TIND_PERSIST_SYNC_DATA, &err);
        if (rc)
            db_fail(db, rc, &err);
        pthread_mutex_lock(&db->mu);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

int db_start_workers(tind_db *db)
{
    db->tables_on_free = db_table_on_free;
    int n = db->opts.no_background ? 0 : db->opts.background_threads;
    if (n > 0) {
        db->workers = calloc((size_t)n, sizeof *db->workers);
        if (!db->workers)
            return TIND_ENOMEM;
        for (int i = 0; i < n; i++) {
            if (pthread_create(&db->workers[i], NULL, worker_main, db) != 0)
                break;
            db->worker_count++;
        }
        if (db->worker_count == 0)
            return TIND_ENOMEM;
    }
    if (db->opts.sync_interval_ms > 0 && !db->opts.no_background) {
        if (pthread_create(&db->syncer, NULL, syncer_main, db) == 0)
            db->syncer_running = 1;
    }
    return TIND_OK;
}

void db_stop_workers(tind_db *db)
{
    pthread_mutex_lock(&db->mu);
    db->closing = 1;
    pthread_cond_broadcast(&db->bg_cv);
    pthread_cond_broadcast(&db->stall_cv);
    pthread_cond_broadcast(&db->done_cv);
    pthread_mutex_unlock(&db->mu);
    for (int i = 0; i < db->worker_count; i++)
        pthread_join(db->workers[i], NULL);
    free(db->workers);
    db->workers = NULL;
    db->worker_count = 0;
    if (db->syncer_running) {
        pthread_join(db->syncer, NULL);
        db->syncer_running = 0;
    }
}

/* ------------------------------------------------------------------ manual */

int db_wait_stop(tind_db *db, tind_keyspace *ks, uint64_t failures_seen, tind_err *err)
{
    if (db->closing || atomic_load(&db->close_begun))
        return err_set(err, TIND_ECLOSED, "database '%s' is closing", db->path);
    if (atomic_load(&db->poisoned))
        return err_set(err, TIND_EPOISONED, "database '%s' is poisoned (read-only until reopened) after: %s",
                       db->path, db->poison_msg);
    if (ks && ks->dropped)
        return err_set(err, TIND_ENOENT, "keyspace '%s' was deleted", ks->name);
    if (db->bg_error && db->bg_failures > failures_seen)
        return err_set(err, db->bg_error, "background work failed: %s", db->bg_error_msg);
    return TIND_OK;
}

/* Runs background work inline until `done` holds (no workers), or waits for
 * the workers until it holds or db_wait_stop says why it never will. */
static int wait_until(tind_keyspace *ks, int (*done)(tind_keyspace *), tind_err *err)
{
    tind_db *db = ks->db;
    pthread_mutex_lock(&db->mu);
    uint64_t failures_seen = db->bg_failures;
    pthread_mutex_unlock(&db->mu);
    for (;;) {
        pthread_mutex_lock(&db->mu);
        int finished = done(ks);
        int stop = finished ? TIND_OK : db_wait_stop(db, ks, failures_seen, err);
        if (!finished && !stop && db->worker_count > 0) {
            db_schedule(db);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&db->done_cv, &db->mu, &ts);
            finished = done(ks);
            if (!finished)
                stop = db_wait_stop(db, ks, failures_seen, err);
        }
        pthread_mutex_unlock(&db->mu);
        if (finished)
            return TIND_OK;
        if (stop)
            return stop;
        if (db->worker_count == 0) {
            int rc = ks_flush_one(ks, err);
            if (rc == 0)
                rc = ks_compact_step(ks, err);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                pthread_mutex_lock(&db->mu);
                finished = done(ks);
                pthread_mutex_unlock(&db->mu);
                if (!finished)
                    return err_set(err, TIND_EIO, "keyspace '%s': background work made no progress", ks->name);
            }
        }
    }
}

static int flushed(tind_keyspace *ks) { return ks->sealed_count == 0 && !ks->flush_running; }
static int compacted(tind_keyspace *ks) { return flushed(ks) && !ks->manual_compaction && !ks->compaction_running; }

int ks_flush_all(tind_keyspace *ks, tind_err *err)
{
    tind_db *db = ks->db;
    pthread_mutex_lock(&db->write_mu);
    int rc = db_check_writable(db, err);
    if (!rc)
        rc = ks_seal_memtable(ks, err);
    pthread_mutex_unlock(&db->write_mu);
    if (rc)
        return rc;
    return wait_until(ks, flushed, err);
}

/* Flushes, then asks for a full compaction and waits for it. */
static int ks_compact_all(tind_keyspace *ks, tind_err *err)
{
    int rc = ks_flush_all(ks, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&ks->db->mu);
    ks->manual_compaction = 1;
    db_schedule(ks->db);
    pthread_mutex_unlock(&ks->db->mu);
    return wait_until(ks, compacted, err);
}

/* Runs work(ks) as a public call: close waits for it; a failure is recorded. */
static int maintenance_call(tind_keyspace *ks, int (*work)(tind_keyspace *, tind_err *))
{
    int rc = ks_enter(ks);
    if (rc)
        return rc;
    tind_err err;
    err_clear(&err);
    rc = db_fail(ks->db, work(ks, &err), &err);
    db_leave(ks->db);
    return rc;
}

TIND_API int tind_flush(tind_keyspace *ks) { return maintenance_call(ks, ks_flush_all); }

TIND_API int tind_compact(tind_keyspace *ks) { return maintenance_call(ks, ks_compact_all); }
