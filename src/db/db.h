/*
 * db.h -- the engine's internal structures: the database, its keyspaces,
 * the views readers take, and the entry points shared by db.c (open, close,
 * recovery, keyspaces), write.c (batches, the write path, backpressure),
 * read.c (point reads), dbiter.c (cursors), flush.c and compact.c
 * (background work).
 *
 * Locks and their order (take left before right, never the reverse):
 *     write_mu  ->  install_mu  ->  mu  ->  ks->view_mu, snap_mu
 *   write_mu    serializes the write path: sequence number assignment, the
 *               journal writer, inserts into active memtables, memtable and
 *               journal rotation. Held only by writers and tind_persist.
 *   install_mu  serializes version installs (flush, compaction, keyspace
 *               create/delete): build the new state, write the version file,
 *               install. Held across the version file write; mu is not.
 *   mu          guards every field marked (mu): keyspace list, current
 *               versions, sealed memtable lists, journals list, the job
 *               queue, poison state.
 *   view_mu     guards ks->view (readers take a ref under it, briefly).
 *   snap_mu     guards the snapshot list.
 * Background workers wait on bg_cv (with mu); stalled writers wait on
 * stall_cv (with mu).
 *
 * Sequence numbers: last_seqno is the last one assigned (write_mu);
 * visible_seqno is the last one readers may see, published (release) after a
 * batch is fully in the memtables, so a batch becomes visible at once.
 */
#ifndef TIND_DB_DB_H
#define TIND_DB_DB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cache/cache.h"
#include "cache/fdcache.h"
#include "db/iiter.h"
#include "db/options.h"
#include "format/table.h"
#include "io/fs.h"
#include "journal/journal.h"
#include "memtable/memtable.h"
#include "tind.h"
#include "util/buf.h"
#include "util/status.h"
#include "version/manifest.h"
#include "version/version.h"

#define DB_FORMAT_VERSION 1
#define DB_MAX_SEALED 8           /* sealed memtables per keyspace before writers stall */

/* What a read sees of one keyspace: immutable, refcounted. */
typedef struct ks_view {
    _Atomic int refs;
    memtable *active;
    memtable **sealed;            /* newest first */
    size_t sealed_count;
    version *v;
} ks_view;

struct tind_keyspace {
    tind_db *db;
    uint32_t id;
    char *name;
    struct tind_ks_options opts;
    /* deleted: calls fail with TIND_ENOENT. Set (release) under mu; read
     * without a lock (acquire) by every call's ks_check, so it is atomic. */
    _Atomic int dropped;
    int dropping;                 /* (mu) being deleted: no new background jobs */
    _Atomic int pressure;         /* 0 fine, 1 slow down, 2 stall: set with the view (mu) */

    memtable *active;             /* (write_mu to replace; mu to read for flush) */
    memtable **sealed;            /* (mu) oldest first */
    size_t sealed_count;          /* (mu) */
    size_t sealed_cap;
    version *current;             /* (mu) */
    uint64_t flushed_seqno;       /* (mu) every entry <= this is in tables */
    int flush_running;            /* (mu) */
    int compaction_running;       /* (mu) */
    int manual_compaction;        /* (mu) a full compaction was asked for */
    uint64_t compact_cursor[KS_MAX_LEVELS]; /* (mu) round-robin pick position (table number) */

    pthread_mutex_t view_mu;
    ks_view *view;                /* (view_mu) */

    /* statistics (relaxed atomics) */
    _Atomic uint64_t user_bytes;
    _Atomic uint64_t flush_bytes;
    _Atomic uint64_t compaction_bytes;
    _Atomic uint64_t flushes;
    _Atomic uint64_t compactions;
};

typedef struct db_journal {
    uint64_t number;
    uint64_t max_seqno;           /* largest seqno written to it (0 = none) */
    uint64_t size;
} db_journal;

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
};

struct tind_db {
    fs *fs;
    int own_fs;
    char *path;
    char *tables_dir;
    fs_lock *lock;
    struct tind_options opts;
    cache *block_cache;
    fd_cache *fds;

    pthread_mutex_t write_mu;
    pthread_mutex_t install_mu;
    pthread_mutex_t mu;
    pthread_cond_t bg_cv;         /* work queued / state changed (with mu) */
    pthread_cond_t stall_cv;      /* writers waiting for background progress (with mu) */
    pthread_cond_t done_cv;       /* a background job finished (with mu) */

    /* write path (write_mu) */
    jrn_writer *journal;
    _Atomic uint64_t last_seqno;
    _Atomic uint64_t visible_seqno;
    uint64_t synced_seqno;        /* every record up to this seqno is synced (write_mu) */
    uint64_t cur_journal_max_seqno;  /* the journal being written: its stats live here (write_mu) */
    uint64_t cur_journal_size;       /* and reach journals[] when it is sealed */
    uint64_t bytes_since_check;      /* write_mu: journal bytes since the last global limit check */
    tbuf write_scratch;

    /* (mu) */
    tind_keyspace **keyspaces;
    size_t keyspace_count;
    size_t keyspace_cap;
    tind_keyspace **dropped;       /* deleted keyspaces, freed at close */
    size_t dropped_count;
    size_t dropped_cap;
    uint32_t next_keyspace_id;
    uint64_t next_file_number;
    uint64_t db_id;               /* random, made at creation, kept in the version file:
                                   * part of every table id (set before workers start) */
    /* the loaded version file's journal_seqno and next_seqno: what the kept
     * journals must cover (jrn_chain_need); recovery only */
    uint64_t journal_seqno;
    uint64_t journal_next_seqno;
    uint64_t keep_journal;        /* (mu) oldest journal the version file says to keep:
                                   * only journals below it are ever deleted, and
                                   * journals from it on must continue each other */
    db_journal *journals;         /* oldest first; the last is the one being written (its
                                   * max_seqno/size are kept in cur_journal_* until sealed) */
    size_t journal_count;
    size_t journal_cap;
    int closing;                  /* (mu) workers stop; set by close after the calls drain */
    int running_jobs;
    _Atomic int poisoned;
    int bg_error;                 /* (mu) last background job failure, 0 once one succeeds */
    uint64_t bg_failures;         /* (mu) background jobs failed so far (waiters compare) */
    char bg_error_msg[TIND_ERRMSG_MAX];
    char poison_msg[TIND_ERRMSG_MAX];

    pthread_mutex_t snap_mu;
    db_snapshot_list snapshots;

    pthread_t *workers;
    int worker_count;
    pthread_t syncer;
    int syncer_running;

    uint64_t err_id;              /* unique in the process, never reused: keys this db's
                                   * per-thread error messages (db.c, db_fail) */

    void (*tables_on_free)(ver_table *t, void *ctx);   /* = db_table_on_free */
    _Atomic int pause_background;  /* tests: workers take no jobs while set */
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
    _Atomic uint64_t stalls;
    _Atomic uint64_t slowdowns;
};

/* ---- db.c ---- */
/* Records a failed call's message as the db's last error; returns rc. */
int db_fail(tind_db *db, int rc, const tind_err *err);
/* Turns the database read-only after a failed journal / version write. */
void db_poison(tind_db *db, const tind_err *why);
int db_check_writable(tind_db *db, tind_err *err);
/* Enters a public call on db: TIND_ECLOSED (with the message recorded) once
 * tind_close has begun; on TIND_OK the caller must db_leave(db) when done. */
int db_enter(tind_db *db);
void db_leave(tind_db *db);
/* ks_check, then db_enter(ks->db): how a public call on a keyspace starts. */
int ks_enter(tind_keyspace *ks);
uint64_t db_new_file_number(tind_db *db);             /* (mu) */
/* A new table's unique id: xxh3 of the database id, the file number, the
 * time and random bytes; never 0. Thread-safe. */
uint64_t db_new_table_id(tind_db *db, uint64_t number);
void db_table_path(tind_db *db, uint64_t number, char *buf, size_t n);
/* The reader of a table of a version, opened on first use. Tables first
 * opened at L0 or L1 keep their index and filter pinned in memory; deeper
 * ones page them through the block cache. */
int db_table_reader(tind_db *db, ver_table *t, int level, tbl **out, tind_err *err);
/* Called when the last version lets go of a table: closes its reader and,
 * when the table left the tree, deletes its file. */
void db_table_on_free(ver_table *t, void *ctx);
/* Writes the version file from the current state with `ks` taking version
 * v and flushed_seqno (ks may be NULL). install_mu held, mu not held. */
int db_write_manifest(tind_db *db, tind_keyspace *ks, version *v, uint64_t flushed_seqno,
                      const memtable *leaving, tind_err *err);
/* Replaces ks->view from ks->active, ks->sealed and ks->current. (mu) */
int ks_rebuild_view(tind_keyspace *ks);
int ks_pressure(tind_keyspace *ks);   /* (mu) 0 fine, 1 slow down, 2 stall */
ks_view *ks_view_acquire(tind_keyspace *ks);
void ks_view_release(ks_view *v);
/* Seqno a read uses: the snapshot's, or the latest visible. */
uint64_t db_read_seqno(tind_db *db, const tind_read_options *ro);
/* Oldest seqno any live snapshot needs (visible_seqno when there are none). */
uint64_t db_oldest_snapshot(tind_db *db);
/* Snapshot seqnos ascending (malloc'd copy). */
int db_snapshot_seqnos(tind_db *db, uint64_t **out, size_t *count);
int ks_check(tind_keyspace *ks);
/* A user key: 1..TIND_MAX_KEY_SIZE bytes, non-NULL (TIND_EINVAL / TIND_ETOOBIG
 * with a message naming the length). */
int db_check_key(const void *key, size_t klen, tind_err *err);
tind_keyspace *db_keyspace_by_id(tind_db *db, uint32_t id);   /* (mu or write_mu) */   /* TIND_EINVAL / TIND_ENOENT / TIND_ECLOSED */

/* Starts a new journal file and makes it the one being written. */
int db_new_journal(tind_db *db, tind_err *err);

/* ---- write.c ---- */
/* One operation of a batch as stored in a journal record (docs/FORMAT.md):
 * u8 type | varint keyspace id | varint key length | key | varint value
 * length | value (the value part only for ENTRY_VALUE). */
typedef struct batch_entry {
    uint8_t type;
    uint32_t ks_id;
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
} batch_entry;
/* Decodes one entry of [p, end); NULL when malformed. */
const uint8_t *batch_entry_decode(const uint8_t *p, const uint8_t *end, batch_entry *e);

/* Seals the journal being written and starts the next (poisons on failure). write_mu held. */
int db_rotate_journal(tind_db *db, tind_err *err);
/* Seals ks's active memtable, queues a flush, starts a new journal. write_mu held. */
int ks_seal_memtable(tind_keyspace *ks, tind_err *err);
int db_persist(tind_db *db, int mode, tind_err *err);
/* Syncs the journal through seqno (a flush calls this before installing its
 * table, so that recovered history never has holes). */
int db_sync_journal_through(tind_db *db, uint64_t seqno, tind_err *err);
/* Syncs the journal (how: FS_SYNC_DATA or FS_SYNC_ALL) through everything
 * written so far; a failure poisons. write_mu held. */
int db_sync_journal_locked(tind_db *db, int how, tind_err *err);
/* Number of the oldest journal still needed, were `leaving` (a memtable being
 * flushed, or NULL) gone. (mu) */
uint64_t db_journal_keep_number(tind_db *db, const memtable *leaving);
/* The oldest seqno in any memtable but `leaving` (no table holds it yet), or
 * UINT64_MAX when there is none. (mu) */
uint64_t db_oldest_unflushed_seqno(tind_db *db, const memtable *leaving);
/* Deletes journals every keyspace has flushed past. (mu) */
void db_delete_obsolete_journals(tind_db *db);

/* ---- flush.c / compact.c / workers ---- */
void db_schedule(tind_db *db);                /* (mu) wake the workers */
/* Why a thread waiting for background progress (tind_flush, tind_compact,
 * a stalled writer) must stop waiting, whatever it waits for: TIND_ECLOSED
 * when close has begun, the poison status, TIND_ENOENT when ks (NULL: none)
 * was deleted, the background error when a job failed after the waiter had
 * seen `failures_seen` failures (db->bg_failures when it began). TIND_OK:
 * keep waiting. (mu) */
int db_wait_stop(tind_db *db, tind_keyspace *ks, uint64_t failures_seen, tind_err *err);
int db_start_workers(tind_db *db);
void db_stop_workers(tind_db *db);
/* One unit of background work, if any is pending: 1 = did something. */
int db_background_step(tind_db *db, tind_err *err);
int ks_flush_one(tind_keyspace *ks, tind_err *err);
int ks_flush_all(tind_keyspace *ks, tind_err *err);   /* seal + wait until flushed */
int ks_needs_compaction(tind_keyspace *ks);   /* (mu) */
int ks_compact_step(tind_keyspace *ks, tind_err *err);
/* Writes the entries of `in` (internal order) to new tables of ks at
 * out_level, applying the compaction rules; returns the new tables. */
int ks_write_tables(tind_keyspace *ks, iiter *in, int out_level, int bottommost,
                    const uint64_t *snapshots, size_t nsnap, ver_table ***tables, size_t *count,
                    uint64_t *bytes, tind_err *err);

/* ---- iterators over a view (dbiter.c) ---- */
int view_iter_new(tind_keyspace *ks, ks_view *v, int fill_cache, iiter **out, tind_err *err);
iiter *mt_iiter_new(memtable *m);
int tbl_iiter_new(tbl *t, iiter **out);
int level_iiter_new(tind_db *db, version *v, int level, iiter **out);

#endif
