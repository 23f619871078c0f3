/*
 * jobs.c -- background work: the worker pool, flushes, compactions, the
 * periodic journal syncer, the manual tind_flush / tind_compact, and
 * tind_wait_idle (waits until no flush or compaction is pending or running).
 *
 * Workers sleep on bg_cv and, when woken, run one job at a time:
 *   1. a flush of the oldest sealed memtable of some keyspace (flushes first:
 *      they free memory and unblock writers);
 *   2. a compaction of some keyspace the picker says needs one.
 * At most one flush and one compaction run per keyspace at a time.
 *
 * A job writes its new tables and fsyncs them and the tables folder, then
 * installs the result (db/install.c). A crash before the version file is
 * renamed leaves orphan tables, which open deletes. A failed table write
 * leaves the database as it was (the job retries later); a failed version
 * file write poisons the database.
 *
 * What a flush or a compaction writes is compaction/compact.c's business
 * (the entry stream, cutting output tables); this file picks the job, hands
 * it the db's callbacks (cmp_env) and installs the result.
 *
 * Closing: db_stop_workers sets `closing`, wakes everyone; a running
 * compaction notices within ~1000 entries and abandons its output.
 *
 * Waiting: every thread that waits for background progress (tind_flush,
 * tind_compact, a stalled writer) checks db_wait_stop on each wake-up, so
 * that it returns on done, keyspace deleted, close begun, a failed job or
 * poison alike; a wait that can never finish is a bug. A manual compaction
 * is always "needed" until a step has run its pick, so an empty keyspace or a
 * picker with nothing to do (FIFO) ends it at once. Without workers the
 * waiter runs the keyspace's jobs itself; when one is already running in
 * another thread (that thread's own tind_flush / tind_compact /
 * tind_wait_idle) or the keyspace is being deleted, it waits on done_cv and
 * steps again (or returns TIND_ENOENT once the keyspace is gone).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#include <pthread.h>
#endif

#include "compaction/compact.h"
#include "db/jobs.h"
#include "db/merge.h"
#include "format/rangetomb.h"
#include "iter/adapters.h"
#include "util/hugemem.h"
#include "util/killpoint.h"

/* ------------------------------------------------------------------ compaction glue */

/* The db side of compaction/compact.h's callbacks. */
static uint64_t env_new_file_number(void *ctx)
{
    tind_db *db = ctx;
    mu_lock(&db->mu);
    uint64_t number = db_new_file_number(db);
    mu_unlock(&db->mu);
    return number;
}

static uint64_t env_new_table_id(void *ctx, uint64_t number) { return db_new_table_id(ctx, number); }

static void env_table_path(void *ctx, uint64_t number, char *buf, size_t n) { db_table_path(ctx, number, buf, n); }

static int env_table_reader(void *ctx, ver_table *t, int level, tbl **out, tind_err *err)
{
    return db_table_reader(ctx, t, level, out, err);
}

static int env_closing(void *ctx)
{
    tind_db *db = ctx;
    mu_lock(&db->mu);
    int closing = db->closing;
    mu_unlock(&db->mu);
    return closing;
}

static void env_blob_path(void *ctx, uint64_t number, char *buf, size_t n) { db_blob_path(ctx, number, buf, n); }

static int env_blob_reader(void *ctx, ver_blob *b, blob_reader **out, tind_err *err)
{
    return db_blob_reader(ctx, b, out, err);
}

/* The key-value separation of a flush (v = NULL) or of a compaction over v
 * (compaction/blobsep.h). */
static int ks_blob_job(tind_keyspace *ks, const version *v, blob_job *j)
{
    int rc = blob_job_init(j, &ks->cmp_opts.blob, ks->db->fs, v);
    j->ctx = ks->db;
    j->new_file_number = env_new_file_number;
    j->blob_path = env_blob_path;
    j->blob_reader = env_blob_reader;
    j->blob_on_free = db_blob_on_free;
    j->blob_on_free_ctx = ks->db;
    return rc;
}

void ks_cmp_env(tind_keyspace *ks, cmp_env *env)
{
    tind_db *db = ks->db;
    memset(env, 0, sizeof *env);
    env->ctx = db;
    env->fs = db->fs;
    env->tables_dir = db->tables_dir;
    env->new_file_number = env_new_file_number;
    env->new_table_id = env_new_table_id;
    env->table_path = env_table_path;
    env->table_reader = env_table_reader;
    env->closing = env_closing;
    env->table_on_free = db->tables_on_free;
    env->table_on_free_ctx = db;
    env->merge = ks_merge_op(ks);
    env->filter = ks_filter(ks);
    env->single_delete_violations = &ks->single_delete_violations;
    env->merge_failures = &ks->merge_failures;
}

/* ------------------------------------------------------------------ sealing */

static _Atomic uint64_t memtable_ids = UINT64_C(1) << 40;

int ks_seal_memtable(tind_keyspace *ks, tind_err *err)
{
    tind_db *db = ks->db;
    if (mt_empty(ks->active))
        return TIND_OK;
    memtable *fresh = mt_new_filtered(atomic_fetch_add_explicit(&memtable_ids, 1, memory_order_relaxed) + 1, ks_memtable_filter_bytes(&ks->opts), db->mt_pool);
    if (!fresh)
        return err_set(err, TIND_ENOMEM, "keyspace '%s': out of memory for a memtable", ks->name);
    mu_lock(&db->mu);
    if (ks->sealed_count == ks->sealed_cap) {
        size_t cap = ks->sealed_cap ? ks->sealed_cap * 2 : 4;
        memtable **p = realloc(ks->sealed, cap * sizeof *p);
        if (!p) {
            mu_unlock(&db->mu);
            mt_unref(fresh);
            return err_set(err, TIND_ENOMEM, "keyspace '%s': out of memory", ks->name);
        }
        ks->sealed = p;
        ks->sealed_cap = cap;
    }
    ks->sealed[ks->sealed_count++] = ks->active;
    ks->active = fresh;
    int rc = ks_rebuild_view(ks);
    db_schedule(db);
    mu_unlock(&db->mu);
    if (rc)
        return err_set(err, rc, "keyspace '%s': out of memory", ks->name);
    /* A new journal with each sealed memtable (as RocksDB switches its WAL):
     * once the memtables in the old one are flushed, it can be deleted,
     * instead of waiting for the journal to reach its size limit. */
    if (jset_writing(&db->journals) && db->journals.cur_max_seqno != 0)
        return db_rotate_journal(db, err);
    return TIND_OK;
}

/* ------------------------------------------------------------------ flush */

/* (mu) Every job starts under mu after this: while tind_internal_pause_background
 * holds a pause, none starts (the pauser waits for running_jobs to reach 0).
 * Returns nonzero when still paused (the database is closing): no job then. */
static int wait_while_paused(tind_db *db) REQUIRES(db->mu)
{
    while (atomic_load(&db->pause_background) && !db->closing)
        cv_wait(&db->done_cv, &db->mu);
    return atomic_load(&db->pause_background);
}

int ks_flush_one(tind_keyspace *ks, tind_err *err)
{
    tind_db *db = ks->db;
    mu_lock(&db->mu);
    if (wait_while_paused(db) || ks->flush_running || !ks->sealed_count || ks->dropped || ks->dropping ||
        atomic_load(&db->poisoned)) {
        mu_unlock(&db->mu);
        return 0;
    }
    memtable *m = ks->sealed[0];
    mt_ref(m);
    ks->flush_running = 1;
    int bottommost = version_table_count(ks->current) == 0;
    db->running_jobs++;
    mu_unlock(&db->mu);

    uint64_t *snaps = NULL;
    size_t nsnap = 0;
    ver_table **tables = NULL;
    size_t count = 0;
    uint64_t bytes = 0;
    blob_job bj;
    int rc = ks_blob_job(ks, NULL, &bj);
    if (!rc)
        rc = db_snapshot_seqnos(db, &snaps, &nsnap);
    iiter *it = rc ? NULL : mt_iiter_new(m);
    struct rt_list *rt = NULL; /* the memtable's range tombstones go to the table too */
    if (!rc && (!it || mt_range_tombstones(m, &rt)))
        rc = TIND_ENOMEM;
    if (!rc) {
        cmp_env env;
        ks_cmp_env(ks, &env);
        env.blobs = &bj;
        rc = cmp_write_tables_rt(&env, &ks->cmp_opts, it, 0, bottommost, snaps, nsnap, rt, &tables, &count, &bytes,
                                 err);
    }
    rt_list_unref(rt);
    ii_free(it);
    free(snaps);
    /* the table must never hold data whose journal records could still be
     * lost: that would leave a hole in the recovered history */
    if (!rc)
        rc = db_sync_journal_for_flush(db, m, err);
    if (rc) {
        blob_job_discard(&bj);
        if (tables)
            cmp_tables_discard(tables, count);
        tables = NULL;
        count = 0;
    }
    if (!rc) {
        mu_lock(&db->install_mu);
        rc = ks_install_blobs(ks, NULL, NULL, 0, tables, count, 0, mt_max_seqno(m), m, &bj.result, err);
        mu_unlock(&db->install_mu);
        cmp_tables_release(tables, count);
        if (!rc) {
            atomic_fetch_add(&ks->flush_bytes, bytes + bj.blob_bytes_written);
            atomic_fetch_add(&ks->flushes, 1);
        }
    }
    blob_job_free(&bj);
    mt_unref(m);
    mu_lock(&db->mu);
    ks->flush_running = 0;
    db->running_jobs--;
    cv_broadcast(&db->done_cv);
    cv_broadcast(&db->stall_cv);
    db_schedule(db);
    mu_unlock(&db->mu);
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
    if (pick_compaction(ks->current, &ks->cmp_opts, ks->manual_compaction != 0, (uint64_t)time(NULL), &p))
        return 0;
    if (p.kind == PICK_NONE && blob_gc_pick(ks->current, &ks->cmp_opts, &p))
        return 0;
    int need = p.kind != PICK_NONE;
    compaction_pick_free(&p);
    return need;
}

int ks_compact_step(tind_keyspace *ks, tind_err *err)
{
    tind_db *db = ks->db;
    mu_lock(&db->mu);
    if (wait_while_paused(db) || ks->compaction_running || ks->dropped || ks->dropping ||
        atomic_load(&db->poisoned)) {
        mu_unlock(&db->mu);
        return 0;
    }
    compaction_pick p;
    int manual = ks->manual_compaction;
    int rc = pick_compaction(ks->current, &ks->cmp_opts, manual != 0, (uint64_t)time(NULL), &p);
    if (!rc && !manual && p.kind == PICK_NONE)
        rc = blob_gc_pick(ks->current, &ks->cmp_opts, &p); /* blob files to collect */
    if (rc || p.kind == PICK_NONE) {
        if (manual && !rc) {
            ks->manual_compaction = 0;
            ks->blob_gc_horizon = blob_gc_horizon(ks->current);
            cv_broadcast(&db->done_cv);
        }
        mu_unlock(&db->mu);
        return rc;
    }
    for (size_t i = 0; i < p.count; i++)
        atomic_store(&p.inputs[i]->being_compacted, 1);
    ks->compaction_running = 1;
    db->running_jobs++;
    version *v = ks->current;
    version_ref(v);
    mu_unlock(&db->mu);

    ver_table **tables = NULL;
    size_t count = 0;
    uint64_t bytes = 0;
    blob_job bj;
    rc = ks_blob_job(ks, p.kind == PICK_MERGE ? v : NULL, &bj);
    if (!rc && (p.kind == PICK_MERGE || p.kind == PICK_MOVE)) {
        uint64_t *snaps = NULL;
        size_t nsnap = 0;
        rc = p.kind == PICK_MERGE ? db_snapshot_seqnos(db, &snaps, &nsnap) : TIND_OK;
        cmp_env env;
        ks_cmp_env(ks, &env);
        env.blobs = p.kind == PICK_MERGE ? &bj : NULL;
        if (!rc)
            rc = cmp_run(&env, &ks->cmp_opts, &p, snaps, nsnap, &tables, &count, &bytes, err);
        free(snaps);
    }
    if (!rc) {
        mu_lock(&db->install_mu);
        rc = ks_install_blobs(ks, p.inputs, p.levels, p.count, tables, count, p.out_level, 0, NULL, &bj.result, err);
        mu_unlock(&db->install_mu);
    }
    bytes += bj.blob_bytes_written;
    blob_job_free(&bj);
    cmp_tables_release(tables, count);
    if (!rc && p.kind == PICK_MERGE) {
        atomic_fetch_add(&ks->compaction_bytes, bytes);
        atomic_fetch_add(&ks->compactions, 1);
    }
    mu_lock(&db->mu);
    for (size_t i = 0; i < p.count; i++)
        atomic_store(&p.inputs[i]->being_compacted, 0);
    ks->compaction_running = 0;
    if (manual && rc == TIND_OK && ks->manual_compaction == manual) {
        /* a manual pick takes every table at once; a request made since
         * (its tables came after the pick) gets a pass of its own */
        ks->manual_compaction = 0;
        ks->blob_gc_horizon = blob_gc_horizon(ks->current);
    }
    db->running_jobs--;
    cv_broadcast(&db->done_cv);
    db_schedule(db);
    mu_unlock(&db->mu);
    version_unref(v);
    compaction_pick_free(&p);
    return rc ? rc : 1;
}

/* ------------------------------------------------------------------ workers */

/* Finds one job and runs it. mu NOT held. */
int db_background_step(tind_db *db, tind_err *err)
{
    mu_lock(&db->mu);
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
    mu_unlock(&db->mu);
    if (flush)
        return ks_flush_one(flush, err);
    if (compact)
        return ks_compact_step(compact, err);
    return 0;
}

/* After a flush or a compaction: the C heap's free pages go back to the
 * kernel. A job mallocs and frees megabytes (output blocks, the merge's
 * buffers) in its worker's own glibc arena, and glibc keeps what was freed
 * inside a heap, where no other thread's malloc finds it: on micro/overwrite
 * (tind-bench, 2M keys, 256 MiB cache) four arenas held 45 MB resident for
 * 16 MB in use. malloc_trim walks every arena's free chunks (under each
 * arena's lock, briefly) and advises their whole pages away. */
#ifdef __GLIBC__
static pthread_once_t heap_trim_once = PTHREAD_ONCE_INIT;
static void heap_first_trim(void) { malloc_trim(0); }
#endif

static void release_heap(void)
{
#ifdef __GLIBC__
    /* When nothing called glibc's malloc yet (another allocator serves the
     * process: a sanitizer's, jemalloc preloaded), malloc_trim initializes
     * glibc's heap first, and marks it initialized before it is: a second
     * worker's first trim at that moment walked unset bins and crashed (a
     * TSan CI run; a two-thread reproduction crashed 3 times in 1,000
     * processes, 0 with this). The first trim happens once, alone. */
    pthread_once(&heap_trim_once, heap_first_trim);
    malloc_trim(0);
#endif
}

static void *worker_main(void *arg)
{
    tind_db *db = arg;
    tind_err err;
    for (;;) {
        err_clear(&err);
        int rc = db_background_step(db, &err);
        if (rc != 0 && rc != TIND_ECLOSED) {
            mu_lock(&db->mu);
            db->bg_error = rc < 0 ? rc : 0;
            if (rc < 0) {
                snprintf(db->bg_error_msg, sizeof db->bg_error_msg, "%s", err.msg);
                db->bg_failures++;
                /* waiters return the failure rather than wait for a retry */
                cv_broadcast(&db->done_cv);
                cv_broadcast(&db->stall_cv);
            }
            mu_unlock(&db->mu);
        }
        if (rc < 0 && rc != TIND_ECLOSED) {
            db_fail(db, rc, &err);
            /* a failed table write: the job stays pending; back off */
            if (!atomic_load(&db->poisoned)) {
                struct timespec ts = {0, 100 * 1000000};
                nanosleep(&ts, NULL);
            }
        }
        if (rc == 0) /* nothing to do: spare memtable memory unused for a while goes */
            hm_pool_trim(db->mt_pool, DB_SPARE_IDLE_NS);
        if (rc > 0)
            release_heap();
        mu_lock(&db->mu);
        if (db->closing) {
            mu_unlock(&db->mu);
            return NULL;
        }
        if (rc == 0) {
            /* wake at least every second: FIFO TTLs expire without events */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            cv_timedwait(&db->bg_cv, &db->mu, &ts);
        }
        int closing = db->closing;
        mu_unlock(&db->mu);
        if (closing)
            return NULL;
    }
}

static void *syncer_main(void *arg)
{
    tind_db *db = arg;
    mu_lock(&db->mu);
    while (!db->closing) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)db->opts.sync_interval_ms * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        cv_timedwait(&db->bg_cv, &db->mu, &ts);
        if (db->closing)
            break;
        mu_unlock(&db->mu);
        tind_err err;
        err_clear(&err);
        int rc = db_persist(db, TIND_PERSIST_SYNC_DATA, &err);
        if (rc)
            db_fail(db, rc, &err);
        mu_lock(&db->mu);
    }
    mu_unlock(&db->mu);
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
    /* memtable chunks faulted in ahead of the writers (util/hugemem.h) */
    if (n > 0 && !db->opts.read_only)
        (void)hm_pool_stock_start(db->mt_pool, DB_STOCK_CHUNKS, db->opts.write_buffer_size);
    if (db->opts.sync_interval_ms > 0 && !db->opts.no_background) {
        if (pthread_create(&db->syncer, NULL, syncer_main, db) == 0)
            db->syncer_running = 1;
    }
    return TIND_OK;
}

void db_stop_workers(tind_db *db)
{
    mu_lock(&db->mu);
    db->closing = 1;
    cv_broadcast(&db->bg_cv);
    cv_broadcast(&db->stall_cv);
    cv_broadcast(&db->done_cv);
    mu_unlock(&db->mu);
    for (int i = 0; i < db->worker_count; i++)
        pthread_join(db->workers[i], NULL);
    hm_pool_stock_stop(db->mt_pool);
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

/* (mu) Waits on done_cv, which the end of every job broadcasts, for at most
 * ms milliseconds. */
static void wait_done_cv(tind_db *db, long ms) REQUIRES(db->mu)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    cv_timedwait(&db->done_cv, &db->mu, &ts);
}

/* Steps in a row that may find nothing to start while the work is not done
 * (without workers) before wait_until gives up. */
#define WAIT_IDLE_STEPS 64

/* Runs background work inline until `done` holds (no workers), or waits for
 * the workers until it holds or db_wait_stop says why it never will. */
static int wait_until(tind_keyspace *ks, int (*done)(tind_keyspace *), tind_err *err)
{
    tind_db *db = ks->db;
    mu_lock(&db->mu);
    uint64_t failures_seen = db->bg_failures;
    mu_unlock(&db->mu);
    int idle = 0; /* steps in a row that found nothing to start */
    for (;;) {
        mu_lock(&db->mu);
        int finished = done(ks);
        int stop = finished ? TIND_OK : db_wait_stop(db, ks, failures_seen, err);
        if (!finished && !stop && db->worker_count > 0) {
            db_schedule(db);
            wait_done_cv(db, 20);
            finished = done(ks);
            if (!finished)
                stop = db_wait_stop(db, ks, failures_seen, err);
        }
        mu_unlock(&db->mu);
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
            if (rc > 0)
                idle = 0;
            if (rc == 0) {
                /* nothing to start: another thread (a tind_flush, tind_compact
                 * or tind_wait_idle of its own) may be running this
                 * keyspace's job inline, or deleting the keyspace; wait for
                 * it, then step again (or stop: db_wait_stop) */
                mu_lock(&db->mu);
                finished = done(ks);
                int other = ks->flush_running || ks->compaction_running || ks->dropping;
                if (!finished && other) {
                    idle = 0;
                    wait_done_cv(db, 20);
                }
                else if (!finished)
                    stop = db_wait_stop(db, ks, failures_seen, err);
                mu_unlock(&db->mu);
                /* Another thread may have changed what there is to do since
                 * the step looked (sealed a memtable: its tind_flush; or
                 * ended a job that emptied the queue), so look again a few
                 * times; work that stays undone without anyone running it
                 * is a failure, not a reason to wait forever. */
                if (!finished && !other && !stop && ++idle < WAIT_IDLE_STEPS)
                    continue;
                if (!finished && !other)
                    return stop ? stop
                                : err_set(err, TIND_EIO, "keyspace '%s': background work made no progress", ks->name);
            }
        }
    }
}

static int flushed(tind_keyspace *ks) { return ks->sealed_count == 0 && !ks->flush_running; }
static int compacted(tind_keyspace *ks)
{
    return flushed(ks) && !ks->manual_compaction && !ks->compaction_running &&
           !blob_gc_owed(ks->current, &ks->cmp_opts, ks->blob_gc_horizon);
}

int ks_flush_all(tind_keyspace *ks, tind_err *err)
{
    tind_db *db = ks->db;
    mu_lock(&db->write_mu);
    int rc = db_check_writable(db, err);
    if (!rc)
        rc = ks_seal_memtable(ks, err);
    mu_unlock(&db->write_mu);
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
    mu_lock(&ks->db->mu);
    ks->manual_compaction++; /* a compaction already running may have picked before our flush */
    db_schedule(ks->db);
    mu_unlock(&ks->db->mu);
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

/* ------------------------------------------------------------------ wait idle */

/* (mu) No flush or compaction of any live keyspace pending or running. */
static int db_idle(tind_db *db) REQUIRES(db->mu)
{
    if (db->running_jobs)
        return 0;
    for (size_t i = 0; i < db->keyspace_count; i++) {
        tind_keyspace *ks = db->keyspaces[i];
        if (ks->dropped || ks->dropping)
            continue;
        if (ks->sealed_count || ks->flush_running || ks->compaction_running || ks_needs_compaction(ks))
            return 0;
    }
    return 1;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the workers (or, without workers, runs the work) until db_idle,
 * the deadline (TIND_EBUSY) or db_wait_stop's reason. */
static int db_wait_idle(tind_db *db, int64_t timeout_ms, tind_err *err)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
    mu_lock(&db->mu);
    uint64_t failures_seen = db->bg_failures;
    for (;;) {
        if (db_idle(db)) {
            mu_unlock(&db->mu);
            return TIND_OK;
        }
        int rc = db_wait_stop(db, NULL, failures_seen, err);
        int64_t left = deadline == INT64_MAX ? 20 : deadline - mono_ms();
        if (!rc && left <= 0)
            rc = err_set(err, TIND_EBUSY, "database '%s': background work still pending after %lld ms", db->path,
                         (long long)timeout_ms);
        if (rc) {
            mu_unlock(&db->mu);
            return rc;
        }
        int stepped = 0;
        if (db->worker_count == 0) {
            mu_unlock(&db->mu);
            rc = db_background_step(db, err);
            if (rc < 0)
                return rc;
            stepped = rc > 0;
            mu_lock(&db->mu);
        }
        if (!stepped) {
            /* a worker's (or another caller's) job ends with done_cv */
            db_schedule(db);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)(left < 20 ? left : 20) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            cv_timedwait(&db->done_cv, &db->mu, &ts);
        }
    }
}

TIND_API int tind_wait_idle(tind_db *db, int64_t timeout_ms)
{
    if (!db)
        return TIND_EINVAL;
    int rc = db_enter(db);
    if (rc)
        return rc;
    tind_err err;
    err_clear(&err);
    rc = db_fail(db, db_wait_idle(db, timeout_ms, &err), &err);
    db_leave(db);
    return rc;
}
