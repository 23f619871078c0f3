/*
 * journal_set.h -- the set of journals of a database folder: which exist
 * (number, largest seqno, size), the one being written, recovery's replay of
 * them in order with the chain check, the keep number below which journals
 * may go, and syncing.
 *
 * The set is the mechanism; its owner (the db) keeps the policy: when to
 * rotate, which memtables still pin a journal, and poisoning after a failed
 * write or sync (a failure here is returned, never retried).
 *
 * Thread-safety:
 *   - the list and the keep number are guarded by the set's own mutex `mu`,
 *     a leaf lock (nothing is locked or called back while it is held): any
 *     thread may ask for the keep number, the sizes, or delete obsolete
 *     journals;
 *   - the writer functions (jset_start, jset_append, jset_sync, jset_seal,
 *     jset_close and the getters of the writer's state) need the owner's
 *     write lock: one writer at a time;
 *   - jset_replay runs before anything else (recovery, single-threaded).
 *
 * Sealing does not sync (format version 4): a sealed journal stays in the
 * page cache, and most are deleted (their memtables flushed) before the
 * kernel writes them back. What keeps the recovered history a prefix:
 *   - every sync of the journal being written (jset_sync, jset_close) first
 *     syncs each older sealed journal from the keep number on that is not
 *     yet synced, so a synced record never follows a lost one;
 *   - from then on the writer's records carry the prior-synced flag;
 *   - recovery replays up to a torn tail (or missing records) in a sealed
 *     journal and drops every later journal, unless one of them holds a
 *     prior-synced record, which proves the damage is not a crash's.
 *
 * Invariants: the list is in number order, oldest first; while a journal is
 * being written it is the last of the list (its largest seqno and size are
 * kept in cur_* until it is sealed). Journals from `keep` on continue each
 * other (their headers' start seqnos meet their predecessors' ends), so only
 * journals below `keep`, which a durable version file no longer needs, are
 * ever deleted.
 */
#ifndef TIND_JOURNAL_JOURNAL_SET_H
#define TIND_JOURNAL_JOURNAL_SET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "io/fs.h"
#include "journal/journal.h"
#include "util/mutex.h"
#include "util/status.h"

typedef struct jset_journal {
    uint64_t number;
    uint64_t max_seqno;           /* largest seqno written to it (0 = none) */
    uint64_t size;
    int unsynced;                 /* sealed with records that were never synced */
} jset_journal;

typedef struct jset {
    fs *fs;
    char *dir;                    /* "<database>/journals" */
    uint32_t compress_threshold;
    uint64_t preallocate;         /* jrn_options.preallocate of new journals (jset_preallocate_for) */
    int read_only;                /* replay writes nothing: no deletion, cut or sync */

    tind_mutex mu;
    jset_journal *list GUARDED_BY(mu); /* oldest first; the last is the one being written */
    size_t count GUARDED_BY(mu);
    size_t cap GUARDED_BY(mu);
    uint64_t keep GUARDED_BY(mu); /* oldest journal the version file says to keep */
    /* change feed retention (db/changes.c): journals below keep stay while
     * their sizes add up to at most this many bytes (oldest go first);
     * 0 = none stay. Set once before jset_replay. */
    uint64_t retain_bytes;
    /* change feed readers (db/changes.c): the journal each live cursor
     * reads, a multiset. Journals from the oldest of them on stay, beyond
     * retain_bytes, while they add up to at most pin_limit bytes (set once
     * before use). */
    uint64_t *readers GUARDED_BY(mu);
    size_t reader_count GUARDED_BY(mu);
    size_t reader_cap GUARDED_BY(mu);
    uint64_t pin_limit;

    /* the journal being written (the owner's write lock) */
    jrn_writer *writer;           /* NULL after a failed rotation, or closed */
    uint64_t cur_max_seqno;       /* its largest seqno so far (0 = none) */
    uint64_t cur_size;
    uint64_t synced_seqno;        /* every record up to this seqno is synced */
    /* every record up to this seqno is in the file (handed to the OS):
     * stored (release) by the writer after each write, loaded (acquire) by
     * readers of the file that take no lock (the change feed) */
    _Atomic uint64_t written_seqno;
} jset;

/* An empty set for the journals of the database at db_path. */
int jset_init(jset *s, fs *fs, const char *db_path, uint32_t compress_threshold);
/* The preallocation step for journals sealed past journal_file_size bytes:
 * 1 MiB, a sixteenth of smaller journals in whole 4 KiB, 0 (none) below
 * 64 KiB. */
uint64_t jset_preallocate_for(uint64_t journal_file_size);
/* Frees the list (the writer must be closed first). */
void jset_free(jset *s);

/* ---- recovery ---- */

/* Replays the journals of the folder in number order into fn(ctx, ...):
 * deletes those below the keep number (released by the version file; their
 * deletion was interrupted), truncates a torn tail of the last one, deletes
 * the last one when it has no intact header (a creation cut short), checks
 * that the kept ones continue each other (jrn_chain_add), and syncs every
 * kept one (a process crash may have left them in the page cache only).
 * A version 4 journal that ends in a torn tail or before the next one
 * starts (a sealed journal that was never synced) ends the history: the
 * later journals are deleted (durably, before the torn tail is cut) and
 * not replayed, unless one of them holds a record with the prior-synced
 * flag (TIND_ECORRUPT). Damage anywhere else is TIND_ECORRUPT naming the
 * journal. With
 * read_only set, replay writes nothing (it deletes, cuts and syncs nothing). Raises
 * *next_file_number past every journal number seen and *max_seqno to the
 * highest seqno any kept journal gave out. need_seqno and start_limit are
 * what the version file says the kept journals must cover (jrn_chain_need;
 * 0 = unknown): a needed journal that is missing is TIND_ECORRUPT. */
int jset_replay(jset *s, jrn_replay_fn fn, void *ctx, uint64_t need_seqno, uint64_t start_limit,
                uint64_t *next_file_number, uint64_t *max_seqno, tind_err *err);

/* ---- writing (the owner's write lock) ---- */

/* Creates journal `number`, whose records start at start_seqno, and makes it
 * the one being written. */
int jset_start(jset *s, uint64_t number, uint64_t start_seqno, tind_err *err);
/* Appends one record (jrn_append); *grown = bytes the journal grew by. */
int jset_append(jset *s, uint64_t first_seqno, uint32_t count, const void *payload, size_t len, uint64_t *grown,
                tind_err *err);
/* Group commit (jrn_add, jrn_write, jrn_drop): jset_add assembles a
 * record without writing it; jset_write writes every pending record with
 * one write (*grown = bytes the journal grew by; grown may be NULL);
 * jset_mark remembers the end of the records assembled so far and
 * jset_drop forgets those assembled after it (max_seqno: the largest seqno
 * the journal held at the mark). jset_pending: bytes of records assembled, not written. */
int jset_add(jset *s, uint64_t first_seqno, uint32_t count, const void *payload, size_t len, tind_err *err);
int jset_write(jset *s, uint64_t *grown, tind_err *err);
void jset_mark(jset *s);
void jset_drop(jset *s, uint64_t max_seqno);
static inline uint64_t jset_pending(const jset *s) { return jrn_pending(s->writer); }
/* Syncs every older sealed journal not synced yet (from the keep number on),
 * then the journal being written (how: FS_SYNC_DATA / FS_SYNC_ALL); then
 * every record through last_seqno is synced. */
int jset_sync(jset *s, int how, uint64_t last_seqno, tind_err *err);
/* Syncs every older sealed journal not synced yet (from the keep number
 * on), as jset_sync does first (e.g. before they are hard-linked into a
 * checkpoint). */
int jset_sync_sealed(jset *s, tind_err *err);
/* With retain_bytes, syncs every sealed journal below `keep` not synced yet:
 * a version file raising the keep number to `keep` releases them from
 * recovery, but the change feed still reads them, and their records are in
 * tables, so a power loss must not cut them (a hole in the feed). Before
 * that version file is written. */
int jset_sync_released(jset *s, uint64_t keep, tind_err *err);
/* Seals the journal being written: records its largest seqno and size,
 * writes its pending records and closes it, without a sync (the next
 * jset_sync or jset_close makes it durable, if it is still kept then). No
 * journal is being written afterwards, whatever the outcome (the next is
 * jset_start's). */
int jset_seal(jset *s, uint64_t last_seqno, tind_err *err);
/* Closes the journal being written, syncing it first (FS_SYNC_ALL, after
 * the older unsynced ones as jset_sync does) when `sync`. */
int jset_close(jset *s, int sync, tind_err *err);
static inline int jset_writing(const jset *s) { return s->writer != NULL; }
static inline uint64_t jset_size(const jset *s) { return jrn_size(s->writer); }
/* 1 when a write or sync of the journal being written failed (jrn_failed). */
static inline int jset_failed(const jset *s) { return jrn_failed(s->writer); }

/* ---- keeping and deleting ---- */

/* Sets the keep number at open (from the version file). */
void jset_set_keep(jset *s, uint64_t keep);
/* Raises the keep number once a version file saying so is durable. */
void jset_raise_keep(jset *s, uint64_t keep);
/* Number of the oldest journal that may hold a seqno >= earliest (the
 * oldest seqno still only in memtables; UINT64_MAX = none), never past the
 * journal being written and never below the keep number. */
uint64_t jset_keep_number(jset *s, uint64_t earliest);
/* Deletes the journals below the keep number (but never the last), except
 * the newest of them whose sizes add up to at most retain_bytes, and those
 * from the oldest reader's journal on while they add up to at most
 * pin_limit. */
void jset_delete_obsolete(jset *s);
/* Bytes of every journal from the keep number on (retained ones do not
 * count: they pin no memtable; the one being written: the owner's write
 * lock). */
uint64_t jset_total_bytes(jset *s);
/* The largest seqno of the oldest journal from the keep number on when
 * there is more than one (1), else 0. */
int jset_oldest_sealed_max(jset *s, uint64_t *max_seqno);
/* The largest seqno of the sealed journal holding `seqno` (a batch
 * boundary at or after it) when a later journal is listed, which the keep
 * number can move to: 1 and *end; else 0 (seqno is in the journal being
 * written, or unknown, or in the last journal listed: a sealed one with no
 * successor after a failed rotation). */
int jset_sealed_end(jset *s, uint64_t seqno, uint64_t *end);
/* A change feed reader moves from journal `from` to journal `to` (0 =
 * none: a new reader, or one leaving). 1 when `to` is recorded, 0 when it
 * is not (0, or out of memory: that reader then pins nothing). */
int jset_reader_move(jset *s, uint64_t from, uint64_t to);
/* A copy of the journal list, oldest first, retained ones included (the
 * last one may be the journal being written: its max_seqno and size are
 * then 0). *out is malloc'd (caller frees; NULL when *count is 0). */
int jset_list_copy(jset *s, jset_journal **out, size_t *count);

#endif
