/*
 * state.h -- the bottom of the db/ line: the engine's structures (the
 * database, its keyspaces, the views readers take, snapshots) and what every
 * file above needs of them: errors and poisoning, views, backpressure
 * levels, snapshots, file numbers, waking the workers.
 *
 * The db/ files form a line; each includes only the headers below it:
 *     options -> wgroup -> state -> ksprefix -> merge -> conflicts -> journals -> install
 *             -> jobs -> iters -> write -> txn -> read -> stats -> dbiter -> changes (the
 *             change feed) -> checkpoint -> backup -> ingest -> rekey -> db (open, close,
 *             recovery, keyspaces)
 *             -> internal (src/tind_internal.h for the tools)
 * (scripts/check_layers.sh enforces it; db/db.h gathers them all for db.c,
 * internal.c and the tests).
 *
 * Locks and their order (take left before right, never the reverse):
 *     write_mu  ->  install_mu  ->  mu  ->  ks->view_mu, snap_mu
 *   write_mu    serializes the write path: sequence number assignment, the
 *               journal writer, inserts into active memtables, memtable and
 *               journal rotation. Held by the leader of a write group (on
 *               behalf of every batch of the group), tind_persist and the
 *               few others listed in docs/ARCHITECTURE.md.
 *   wq.mu       the queue of writers (db/wgroup.h): a leaf, taken under
 *               write_mu by a leader collecting its group, alone otherwise.
 *   install_mu  serializes version installs (flush, compaction, keyspace
 *               create/delete): build the new state, write the version file,
 *               install. Held across the version file write; mu is not.
 *   mu          guards every field marked GUARDED_BY(mu): keyspace list,
 *               current versions, sealed memtable lists, file numbers, the
 *               job flags, poison state.
 *   view_mu     guards ks->view (readers take a ref under it, briefly).
 *   snap_mu     guards the snapshot list.
 *   db->journals.mu guards the journal list (journal/journal_set.h; a leaf,
 *               taken under mu or write_mu or alone).
 * Lock discipline is annotated (util/mutex.h): functions that need a lock
 * say REQUIRES(...), those that take one EXCLUDES(...), and clang builds
 * check it (-Wthread-safety); GUARDED_BY marks what each lock guards.
 * Background workers wait on bg_cv (with mu); stalled writers wait on
 * stall_cv (with mu).
 *
 * Sequence numbers: last_seqno is the last one assigned (write_mu);
 * visible_seqno is the last one readers may see, published (release) after a
 * batch is fully in the memtables, so a batch becomes visible at once.
 */
#ifndef TIND_DB_STATE_H
#define TIND_DB_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cache/cache.h"
#include "cache/fdcache.h"
#include "db/options.h"
#include "db/wgroup.h"
#include "format/table.h"
#include "io/fs.h"
#include "journal/journal.h"
#include "journal/journal_set.h"
#include "memtable/memtable.h"
#include "tind.h"
#include "util/buf.h"
#include "util/mutex.h"
#include "util/status.h"
#include "version/manifest.h"
#include "version/version.h"

#define DB_FORMAT_VERSION 1
#define DB_MAX_SEALED 8           /* sealed memtables per keyspace before writers stall */
/* Spare memtable chunks (mt_pool) that no memtable took or returned for
 * this long are unmapped by an idle worker (util/hugemem.h, hm_pool_trim). */
#define DB_SPARE_IDLE_NS (UINT64_C(5) * 1000000000u)
/* Spare memtable chunks faulted in ahead of the writers while they fill
 * memtables (hm_pool_stock_start), within the write buffer's size. */
#define DB_STOCK_CHUNKS 4

/* What a read sees of one keyspace: immutable, refcounted. */
typedef struct ks_view {
    _Atomic int refs;
    memtable *active;
    memtable **sealed;            /* newest first */
    size_t sealed_count;
    version *v;
} ks_view;

struct tind_keyspace {
    /* fixed at creation */
    struct {
        tind_db *db;
        uint32_t id;
        char *name;
        struct tind_ks_options opts;
        cmp_options cmp_opts;     /* what compaction needs of opts */
    };

    /* the tree and its jobs: db->mu */
    struct {
        int dropping GUARDED_BY(db->mu);  /* being deleted: no new background jobs */
        memtable **sealed GUARDED_BY(db->mu); /* oldest first */
        size_t sealed_count GUARDED_BY(db->mu);
        size_t sealed_cap GUARDED_BY(db->mu);
        version *current GUARDED_BY(db->mu);
        uint64_t flushed_seqno GUARDED_BY(db->mu); /* every entry <= this is in tables */
        int flush_running GUARDED_BY(db->mu);
        int compaction_running GUARDED_BY(db->mu);
        int manual_compaction GUARDED_BY(db->mu); /* full compactions asked for, a count: a step clears it
                                                      only when no request came after its pick */
        uint64_t blob_gc_horizon GUARDED_BY(db->mu); /* tind_compact waits on blob GC up to it (blob_gc_owed) */
        uint64_t compact_cursor[KS_MAX_LEVELS] GUARDED_BY(db->mu); /* round-robin pick position */
    };
    /* deleted: calls fail with TIND_ENOENT. Set (release) under mu; read
     * without a lock (acquire) by every call's ks_check, so it is atomic. */
    _Atomic int dropped;
    /* replaced under db->write_mu and db->mu; read under either */
    memtable *active;
    _Atomic int pressure;         /* 0 fine, 1 slow down, 2 stall: set with the view (mu) */

    /* what readers take */
    struct {
        tind_mutex view_mu;
        ks_view *view GUARDED_BY(view_mu);
    };

    /* the merge operator and compaction filter in force (db/merge.c): NULL
     * until attached, then fixed; published (release) under db->mu into
     * the slots, read (acquire) without a lock */
    struct {
        merge_op merge_slot;
        merge_op *_Atomic merge_rt;
        cmp_filter filter_slot[2];
        cmp_filter *_Atomic filter_rt;
        /* merged values of hot keys for point reads (db/merge.c): made
         * on first use, freed with the keyspace */
        struct merge_cache *_Atomic merge_cache;
    };

    /* statistics (relaxed atomics) */
    struct {
        _Atomic uint64_t single_delete_violations;
        _Atomic uint64_t merge_failures;
        _Atomic uint64_t user_bytes;
        _Atomic uint64_t flush_bytes;
        _Atomic uint64_t compaction_bytes;
        _Atomic uint64_t flushes;
        _Atomic uint64_t compactions;
        _Atomic uint64_t blob_reads;      /* values loaded from blob files */
    };

    /* prefix filters (db/ksprefix.c): the callback slot every copy of the
     * keyspace's extractor reads (set once, under mu), and scan counters */
    struct {
        pfx_slot prefix_slot;
        pfx_callback prefix_cb;   /* what prefix_slot points to once set */
        _Atomic uint64_t prefix_checked;
        _Atomic uint64_t prefix_skipped;
    };
};

typedef struct db_snapshot_list {
    uint64_t *seqnos;             /* sorted ascending, duplicates allowed */
    size_t count;
    size_t cap;
} db_snapshot_list;

struct tind_snapshot {
    tind_db *db;
    uint64_t seqno;
};

struct tind_read_options {
    const tind_snapshot *snapshot;
    int fill_cache;
    /* transactions (db/txn.c): reads through txn see its snapshot (txn_seqno)
     * and its own writes, and are tracked for its commit unless untracked */
    struct tind_txn *txn;
    uint64_t txn_seqno;
    int untracked;
};

/* The fields are grouped by what guards them (GUARDED_BY: util/mutex.h). */
struct tind_db {
    /* fixed at open: read without a lock */
    struct {
        fs *fs;
        int own_fs;
        char *path;
        char *tables_dir;
        fs_lock *lock;
        int beside_writer;           /* read-only open without LOCK: a writer holds it */
        struct tind_options opts;
        cache *block_cache;
        cache *blob_cache;        /* values of blob files; NULL = none (blob_cache_size 0) */
        struct hm_pool *mt_pool;  /* spare memtable chunks (util/hugemem.h): at most half
                                   * the write buffer, trimmed when idle (DB_SPARE_IDLE_NS) */
        fd_cache *fds;
        void (*tables_on_free)(ver_table *t, void *ctx);   /* = db_table_on_free */
    };

    /* the locks, in their order (see the top of this file) */
    tind_mutex write_mu;
    tind_mutex install_mu;
    tind_mutex mu;
    tind_cond bg_cv;              /* work queued / state changed (with mu) */
    tind_cond stall_cv;           /* writers waiting for background progress (with mu) */
    tind_cond done_cv;            /* a background job finished (with mu) */

    /* the write path: write_mu */
    struct {
        jset journals;            /* the writer's side under write_mu; the list under
                                   * its own leaf lock (journal/journal_set.h) */
        uint64_t bytes_since_check GUARDED_BY(write_mu); /* journal bytes since the last limit check */
        tbuf write_scratch GUARDED_BY(write_mu);
        wg_queue wq;              /* group commit: writers waiting (db/wgroup.h;
                                   * its lock is a leaf, taken under write_mu) */
    };

    /* sequence numbers: atomics; last_seqno is advanced under write_mu */
    struct {
        _Atomic uint64_t last_seqno;
        _Atomic uint64_t visible_seqno;
    };

    /* keyspaces, file numbers, jobs, failures: mu */
    struct {
        tind_keyspace **keyspaces GUARDED_BY(mu);
        size_t keyspace_count GUARDED_BY(mu);
        size_t keyspace_cap GUARDED_BY(mu);
        tind_keyspace **dropped GUARDED_BY(mu); /* deleted keyspaces, freed at close */
        size_t dropped_count GUARDED_BY(mu);
        size_t dropped_cap GUARDED_BY(mu);
        uint32_t next_keyspace_id GUARDED_BY(mu);
        uint64_t next_file_number GUARDED_BY(mu);
        uint64_t db_id;           /* random, made at creation, kept in the version file:
                                   * part of every table id (set before workers start) */
        /* the loaded version file's journal_seqno and next_seqno: what the kept
         * journals must cover (jrn_chain_need); recovery only */
        uint64_t journal_seqno;
        uint64_t journal_next_seqno;
        int closing GUARDED_BY(mu);   /* workers stop; set by close after the calls drain */
        int running_jobs GUARDED_BY(mu);
        int bg_error GUARDED_BY(mu);  /* last background job failure, 0 once one succeeds */
        uint64_t bg_failures GUARDED_BY(mu); /* background jobs failed so far (waiters compare) */
        char bg_error_msg[TIND_ERRMSG_MAX] GUARDED_BY(mu);
        char poison_msg[TIND_ERRMSG_MAX] GUARDED_BY(mu);
        _Atomic int poisoned;     /* set under mu, read anywhere */
    };

    /* transactions (db/conflicts.c, db/txn.c) */
    struct {
        /* writes committed while optimistic transactions live: NULL while
         * none does (allocated and freed under write_mu) */
        struct conflict_log *conflicts GUARDED_BY(write_mu);
        int txn_writer GUARDED_BY(mu);  /* a single-writer transaction is open */
        tind_cond txn_cv;               /* its end (with mu) */
    };

    /* snapshots: snap_mu */
    struct {
        tind_mutex snap_mu;
        db_snapshot_list snapshots GUARDED_BY(snap_mu);
    };

    /* the threads: started by open, joined by close */
    struct {
        pthread_t *workers;
        int worker_count;
        pthread_t syncer;
        int syncer_running;
    };

    uint64_t err_id;              /* unique in the process, never reused: keys this db's
                                   * per-thread error messages (state.c, db_fail) */

    /* flags and counters: atomics */
    struct {
        _Atomic int pause_background;  /* pausers (db/internal.c): no job starts while > 0 */
        /* Close protocol: a public call increments active_calls, then checks
         * close_begun (db_enter); tind_close sets close_begun, then waits for
         * active_calls to reach 0. Both sides use seq_cst, so either close sees
         * the call or the call sees close: nothing that entered is freed under it. */
        _Atomic int active_calls;      /* public calls inside the engine */
        _Atomic int close_begun;       /* tind_close runs: new calls fail with TIND_ECLOSED */
        /* handles made from db and not yet freed: tind_close refuses while any live */
        _Atomic long live_iterators;
        _Atomic long live_snapshots;
        _Atomic long live_batches;
        _Atomic long live_txns;
        _Atomic long live_changes;     /* change feed cursors (db/changes.c) */
        _Atomic uint64_t stalls;
        _Atomic uint64_t slowdowns;
        /* memory of memtables out of every tree that readers still hold
         * (mt_retire; tind_db_stats.memtable_held_bytes) */
        _Atomic uint64_t memtables_held;
    };
};

/* ---- state.c ---- */
/* Gives a new handle its id for the per-thread error messages. */
void db_errors_init(tind_db *db);
/* Records a failed call's message as the calling thread's last error on db
 * (db NULL: of tind_open); returns rc. */
int db_fail(tind_db *db, int rc, const tind_err *err);
/* Turns the database read-only after a failed journal / version write. */
void db_poison(tind_db *db, const tind_err *why) EXCLUDES(db->mu);
int db_check_writable(tind_db *db, tind_err *err) EXCLUDES(db->mu);
/* Enters a public call on db: TIND_ECLOSED (with the message recorded) once
 * tind_close has begun; on TIND_OK the caller must db_leave(db) when done. */
int db_enter(tind_db *db);
void db_leave(tind_db *db);
/* ks_check, then db_enter(ks->db): how a public call on a keyspace starts. */
int ks_enter(tind_keyspace *ks);
int ks_check(tind_keyspace *ks);   /* TIND_EINVAL / TIND_ENOENT */
/* ks_check with its message in err ("keyspace was deleted" / "keyspace handle is NULL"). */
int ks_check_err(tind_keyspace *ks, tind_err *err);
/* ks_enter for a call that fills *out: a NULL out is TIND_EINVAL before entering. */
int ks_enter_out(tind_keyspace *ks, const void *out);
/* A user key: 1..TIND_MAX_KEY_SIZE bytes, non-NULL (TIND_EINVAL / TIND_ETOOBIG
 * with a message naming the length). */
int db_check_key(const void *key, size_t klen, tind_err *err);
uint64_t db_new_file_number(tind_db *db) REQUIRES(db->mu);
/* 64 bits that differ between calls, databases and machines: the system's
 * random bytes, with both clocks and the caller's values mixed in (should
 * getentropy fail, the clocks alone still tell two tables apart). Never 0:
 * 0 means "no identity" in the version file. */
uint64_t db_unique64(uint64_t a, uint64_t b);
/* A new table's unique id: xxh3 of the database id, the file number, the
 * time and random bytes; never 0. Thread-safe. */
uint64_t db_new_table_id(tind_db *db, uint64_t number);
tind_keyspace *db_keyspace_by_id(tind_db *db, uint32_t id);   /* (mu or write_mu) */
/* Replaces ks->view from ks->active, ks->sealed and ks->current. (mu) */
int ks_rebuild_view(tind_keyspace *ks) REQUIRES(ks->db->mu);
int ks_pressure(tind_keyspace *ks) REQUIRES(ks->db->mu);   /* 0 fine, 1 slow down, 2 stall */
ks_view *ks_view_acquire(tind_keyspace *ks);
void ks_view_release(ks_view *v);
/* Seqno a read uses: the snapshot's, or the latest visible. */
uint64_t db_read_seqno(tind_db *db, const tind_read_options *ro);
/* Adds seqno to / removes it from the snapshot list (a transaction's
 * snapshot). The caller makes sure visible_seqno cannot pass seqno before
 * the add (it holds write_mu). */
int db_snapshot_add(tind_db *db, uint64_t seqno) EXCLUDES(db->snap_mu);
/* A new snapshot of the latest visible seqno (*seqno), read and listed under
 * one hold of snap_mu (tind_snapshot_new, read-only transactions). */
int db_snapshot_take(tind_db *db, uint64_t *seqno) EXCLUDES(db->snap_mu);
void db_snapshot_remove(tind_db *db, uint64_t seqno) EXCLUDES(db->snap_mu);
/* Oldest seqno any live snapshot needs (visible_seqno when there are none). */
uint64_t db_oldest_snapshot(tind_db *db);
/* Snapshot seqnos ascending (malloc'd copy). */
int db_snapshot_seqnos(tind_db *db, uint64_t **out, size_t *count);
void db_schedule(tind_db *db) REQUIRES(db->mu);   /* wake the workers */

#endif
