/*
 * state.h -- the bottom of the db/ line: the engine's structures (the
 * database, its keyspaces, the views readers take, snapshots) and what every
 * file above needs of them: errors and poisoning, views, backpressure
 * levels, snapshots, file numbers, waking the workers.
 *
 * The db/ files form a line; each includes only the headers below it:
 *     options -> state -> journals -> install -> jobs -> iters -> write
 *             -> read -> dbiter -> db (open, close, recovery, keyspaces)
 * (scripts/check_layers.sh enforces it; db/db.h gathers them all for db.c,
 * the tools and the tests).
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
#ifndef TIND_DB_STATE_H
#define TIND_DB_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cache/cache.h"
#include "cache/fdcache.h"
#include "db/options.h"
#include "format/table.h"
#include "io/fs.h"
#include "journal/journal.h"
#include "journal/journal_set.h"
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
    cmp_options cmp_opts;         /* what compaction needs of opts (fixed at creation) */
    int dropped;                  /* (mu) deleted: calls fail with TIND_ENOENT */
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
    jset journals;                /* the journals: the writer's side under write_mu, the
                                   * list under its own leaf lock */
    _Atomic uint64_t last_seqno;
    _Atomic uint64_t visible_seqno;
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
    int closing;
    int running_jobs;
    _Atomic int poisoned;
    int bg_error;                 /* (mu) last background job failure, 0 once one succeeds */
    char bg_error_msg[TIND_ERRMSG_MAX];
    char poison_msg[TIND_ERRMSG_MAX];

    pthread_mutex_t snap_mu;
    db_snapshot_list snapshots;

    pthread_t *workers;
    int worker_count;
    pthread_t syncer;
    int syncer_running;

    pthread_mutex_t err_mu;
    char last_error[TIND_ERRMSG_MAX];

    void (*tables_on_free)(ver_table *t, void *ctx);   /* = db_table_on_free */
    _Atomic int pause_background;  /* tests: workers take no jobs while set */
    _Atomic int active_calls;      /* writers inside db_write (close waits for them) */
    _Atomic uint64_t stalls;
    _Atomic uint64_t slowdowns;
};

/* ---- state.c ---- */
/* Records a failed call's message as the db's last error; returns rc. */
int db_fail(tind_db *db, int rc, const tind_err *err);
/* Turns the database read-only after a failed journal / version write. */
void db_poison(tind_db *db, const tind_err *why);
int db_check_writable(tind_db *db, tind_err *err);
int ks_check(tind_keyspace *ks);   /* TIND_EINVAL / TIND_ENOENT */
uint64_t db_new_file_number(tind_db *db);             /* (mu) */
tind_keyspace *db_keyspace_by_id(tind_db *db, uint32_t id);   /* (mu or write_mu) */
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
void db_schedule(tind_db *db);                /* (mu) wake the workers */

#endif
