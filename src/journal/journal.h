/*
 * journal.h -- tind's journal (write-ahead log): one journal for all
 * keyspaces, a sequence of numbered files "<dir>/<number as %08llu>.jrn".
 * The engine rotates to a new file by size; a record is one atomic write
 * batch and never spans two files.
 *
 * The journal does not look inside a batch: a record carries an opaque
 * payload plus the batch's first sequence number and entry count (the batch
 * uses seqnos first_seqno .. first_seqno + count - 1).
 *
 * On-disk format (FROZEN; byte-exact in docs/FORMAT.md, section "Journal").
 * All integers little-endian; checksums are xxh3-64 (util/hash.h).
 *
 *   File header, 36 bytes, at offset 0:
 *     0  u8[8]  magic "TINDJRN\x01"
 *     8  u32    format version = 5 (2, 3 and 4 are read too)
 *    12  u64    journal number (equals the number in the file name)
 *    20  u64    start seqno: the engine's last seqno + 1 when the file was
 *               made, i.e. the first seqno its first record will carry (the
 *               journal before it ends at start - 1; recovery checks this)
 *    28  u64    xxh3-64 of bytes [0, 28)
 *
 *   Then records back to back, each a 33-byte header and the payload:
 *     0  u32    marker 0x314E524A (the bytes "JRN1")
 *     4  u32    stored payload length (bytes that follow the header)
 *     8  u8     flags: bit 0 = payload is LZ4-compressed (LZ4 block format);
 *               bit 1 = "synced before": every byte before this record had
 *               been made durable (a successful fsync/fdatasync) when the
 *               record was written;
 *               bit 2 = "prior journals synced" (version 4): every older
 *               journal the database still kept had been made durable when
 *               the record was written (the proof recovery needs to call a
 *               torn older journal corruption);
 *               bit 3 = "mark" (version 5): a record of no entries (count 0,
 *               both lengths 0, no payload) that only carries the two flags
 *               above as a witness; its first seqno is the seqno the next
 *               record would carry. Other bits are 0
 *     9  u32    raw payload length (decompressed; equals the stored length
 *               when not compressed)
 *    13  u64    first seqno
 *    21  u32    entry count (>= 1)
 *    25  u64    xxh3-64 of header bytes [0, 25) followed by the stored payload
 *    33  ...    stored payload
 *
 * Compression: with compress_threshold T > 0, a payload of at least T bytes
 * is LZ4-compressed, and the compressed form is kept only when it saves at
 * least 1/8 (compressed <= len - len/8); otherwise it is stored raw. The
 * journal compresses with LZ4's acceleration JRN_LZ4_ACCELERATION: a
 * journal lives until its memtables are flushed, so the writer's CPU counts
 * more than the last percent of ratio (4 KiB pieces: tind-bench's values 2.4
 * -> 1.5 us at the same ratio, 0.557; tind's docs 10.3 -> 8.1 us, ratio
 * 0.689 -> 0.726; libc.so 8.6 -> 6.3 us, 0.704 -> 0.736; lz4 1.9.4).
 *
 * Replay rules (see jrn_replay_buffer):
 *   - a file shorter than its 36-byte header, or exactly 36 bytes with a
 *     header that fails its checks, is a torn creation: it holds no records;
 *   - a longer file whose header fails its checks is TIND_ECORRUPT (a bad
 *     version with a valid checksum is TIND_EVERSION);
 *   - the first record that is incomplete, lacks its marker or fails its
 *     checksum ends replay; nothing after it is ever replayed. It is
 *     corruption (TIND_ECORRUPT, "record at offset N: checksum mismatch,
 *     followed by valid records") when a later offset of the file holds a
 *     record that verifies (marker, lengths inside the file, checksum, a
 *     first seqno above the last replayed one) AND carries the synced-before
 *     flag: that record proves the damaged bytes had been synced, so the
 *     damage is not a crash artefact. Otherwise it is a torn tail: replay
 *     succeeds and reports the valid length. Why the witness flag: after a
 *     power loss the unsynced end of a file may hold garbage followed by
 *     intact later records (a torn sector or page, pages written back out of
 *     order), which must not stop the database from opening; and unsynced
 *     records carry no durability promise, so dropping them is allowed.
 *     Limit: damage in records that a final sync covered but no later
 *     record witnesses (e.g. after a clean close) is also taken as torn;
 *   - a record that verifies but breaks a rule (unknown flag, raw length
 *     disagreeing with the payload, count 0 without the mark flag, a mark
 *     with entries or bytes, seqnos not increasing, LZ4 data that does not
 *     decode) is TIND_ECORRUPT: it was written whole;
 *   - a mark is not handed to the callback and is not counted as a record;
 *     its seqno is at least the previous record's last + 1, and a record
 *     after it starts at or after its seqno. It serves as a witness like
 *     any record.
 *
 * Marks (version 5) witness syncs that no record would: a clean close syncs
 * every journal, then appends a mark carrying both flags and syncs it, so
 * that damage to any journal, the newest one's records included, is
 * reported as corruption instead of taken for a power loss's torn tail
 * (before version 5 a close's sync was witnessed by nothing: a sealed
 * journal deleted or cut after a clean close lost its batches silently). A
 * journal made while every older one was durable (jrn_options.prior_synced)
 * starts with a mark carrying the prior-synced flag, written after the
 * header's sync and not synced itself.
 *
 * Preallocated space: a writer may extend its file with zeros ahead of the
 * records (jrn_options.preallocate). Zeros lack the marker: they replay as
 * a torn tail, cut like one. The writer cuts them when the journal is
 * sealed or closed, and a sealed journal counts as unsynced until a
 * FS_SYNC_ALL has made the cut durable, so that zeros brought back by a
 * power loss are a torn tail no later record contradicts (the rules below
 * then apply unchanged).
 *
 * Sealed journals (version 4): the engine no longer syncs a journal when it
 * seals it, so after a power loss an older journal may end in a torn tail
 * too. Recovery (journal_set.c) replays up to such a tail and drops the
 * later journals, unless one of them holds a record with the prior-synced
 * flag: that record proves the older journal had been synced, so its damage
 * is corruption. A version 2 or 3 journal was always synced when sealed: a
 * torn tail in one that is not the newest is corruption.
 *
 * Thread-safety: a jrn_writer is used by one thread at a time. The replay
 * functions share no state and may run concurrently on different inputs.
 */
#ifndef TIND_JOURNAL_JOURNAL_H
#define TIND_JOURNAL_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "format/filename.h"
#include "io/fs.h"
#include "util/status.h"

/* FROZEN: these values are written to disk. */
#define JRN_FILE_MAGIC "TINDJRN\x01"
#define JRN_FILE_MAGIC_LEN 8
#define JRN_FORMAT_VERSION 5u   /* 5: marks; 4: sealed unsynced, the prior-synced flag; 3: range tombstones */
#define JRN_FORMAT_VERSION_MIN 2u
#define JRN_FORMAT_VERSION_UNSYNCED 4u   /* from this version on a sealed journal may be unsynced */
#define JRN_FORMAT_VERSION_MARK 5u       /* from this version on a record may be a mark */
#define JRN_FILE_HEADER_SIZE 36u
#define JRN_RECORD_MARKER 0x314E524Au    /* bytes 'J' 'R' 'N' '1' */
#define JRN_RECORD_HEADER_SIZE 33u
#define JRN_FLAG_LZ4 0x01u               /* DO NOT CHANGE */
#define JRN_LZ4_ACCELERATION 2           /* see "Compression" above; any value decodes alike */
#define JRN_FLAG_SYNCED_BEFORE 0x02u     /* DO NOT CHANGE */
#define JRN_FLAG_PRIOR_SYNCED 0x04u      /* DO NOT CHANGE; version 4 and later */
#define JRN_FLAG_MARK 0x08u              /* DO NOT CHANGE; version 5 and later */
#define JRN_FILE_SUFFIX FNAME_JOURNAL_SUFFIX

/* Largest payload one record can carry (the length fields are u32). */
#define JRN_MAX_PAYLOAD 0xFFFFFFFFu

typedef struct jrn_writer jrn_writer;

typedef struct jrn_options {
    /* Payloads of at least this many bytes are LZ4-compressed when that
     * saves at least 1/8; 0 = never compress. */
    uint32_t compress_threshold;
    /* Recorded in the file header: the first seqno this journal will hold
     * (the engine's last seqno + 1). Replay reports it; the engine checks
     * that consecutive journals meet there. */
    uint64_t start_seqno;
    /* Extend the file with zeros this many bytes at a time ahead of the
     * records (fs_allocate FS_ALLOC_EXTEND), so that syncing them commits
     * no size change; 0 = never. Best effort (see journal.c). The zeros
     * replay as a torn tail: jrn_trim and jrn_close cut them. */
    uint64_t preallocate;
    /* Every older journal the caller keeps is durable: the records this
     * writer assembles carry the prior-synced flag, and the journal starts
     * with a mark carrying it (written after the header's sync, not synced;
     * see "Marks" above). */
    int prior_synced;
} jrn_options;

/* Creates "<dir>/<number>.jrn" exclusively (TIND_EEXIST when present),
 * writes the file header, syncs the file and then the directory, so the
 * empty journal is durable when this returns. opts may be NULL (no
 * compression). On success *out must be given to jrn_close(); on failure
 * *out is NULL and the half-made file is removed (best effort; a file that
 * stays behind replays as empty). */
int jrn_writer_open(fs *fsys, const char *dir, uint64_t number, const jrn_options *opts, jrn_writer **out,
                    tind_err *err);

/* Appends one record with a single fs_write of header + payload (assembled in
 * a buffer the writer reuses, after the records jrn_add left pending, which
 * the same write carries); the record has reached the OS when this
 * returns. payload is borrowed for the call.
 * count must be >= 1 and first_seqno must be above the last seqno appended
 * through this writer (TIND_EINVAL); len <= JRN_MAX_PAYLOAD (TIND_ETOOBIG).
 * These argument errors and TIND_ENOMEM write nothing and leave the writer
 * usable. A failed write marks the writer failed: this and every later
 * jrn_append/jrn_sync return an error (TIND_EPOISONED after the first). */
int jrn_append(jrn_writer *w, uint64_t first_seqno, uint32_t count, const void *payload, size_t len,
               tind_err *err);

/* Group commit: jrn_add assembles one record (same checks and errors as
 * jrn_append, nothing written; a record that fails is not added, those
 * added before it stay pending) after the pending ones; jrn_write writes
 * every pending record with ONE fs_write (so a crash leaves whole records
 * and at most a torn tail of that write) and has the same failure rule as
 * jrn_append; jrn_mark remembers the current end, and jrn_drop forgets the
 * pending records added after the mark (their seqnos may be given again;
 * those before it stay pending) and the mark: a drop with no mark since the
 * last drop forgets nothing. jrn_sync and jrn_close write pending
 * records first.
 * jrn_size counts pending records; jrn_pending is their bytes. */
int jrn_add(jrn_writer *w, uint64_t first_seqno, uint32_t count, const void *payload, size_t len, tind_err *err);
int jrn_write(jrn_writer *w, tind_err *err);
void jrn_mark(jrn_writer *w);
void jrn_drop(jrn_writer *w);
uint64_t jrn_pending(const jrn_writer *w);

/* Makes every appended record durable: mode FS_SYNC_DATA (fdatasync) or
 * FS_SYNC_ALL (fsync). Skips the call when nothing was appended since a sync
 * of at least that strength. A failed sync marks the writer failed (the
 * kernel may have dropped the dirty pages: an fsync is never retried). */
int jrn_sync(jrn_writer *w, int mode, tind_err *err);

/* Writes the pending records, then cuts the file to its records (the
 * preallocated zeros) and stops preallocating. Until a later jrn_sync
 * (which then uses FS_SYNC_ALL) the writer is not synced (jrn_synced): a
 * power loss could bring the zeros back. A failed cut marks the writer
 * failed. */
int jrn_trim(jrn_writer *w, tind_err *err);

/* From now on the records this writer assembles carry the prior-synced
 * flag: the caller has made every older journal it keeps durable. */
void jrn_set_prior_synced(jrn_writer *w);
/* Adds a mark (see "Marks" above) after the pending records, with the flags
 * a record added now would carry; nothing written (jrn_write, jrn_sync).
 * Its seqno is the last appended + 1 (the start seqno when none). Same
 * failure rules as jrn_add. */
int jrn_add_mark(jrn_writer *w, tind_err *err);
/* 1 when every record assembled so far has been written and synced (and
 * no cut by jrn_trim waits for a sync). */
int jrn_synced(const jrn_writer *w);

/* Bytes in the file: header plus every appended record. */
uint64_t jrn_size(const jrn_writer *w);
size_t jrn_buffer_bytes(const jrn_writer *w);   /* the record buffer it keeps (0 for NULL) */
uint64_t jrn_number(const jrn_writer *w);
/* 1 when a write or sync failed (every later append/sync is refused). */
int jrn_failed(const jrn_writer *w);

/* Writes the pending records, cuts the preallocated space (jrn_trim),
 * closes the file (no sync) and frees w (NULL is a no-op). Returns the
 * first failure; w is freed either way. A writer
 * whose write or sync failed tries its pending records once more (the
 * failed group's and the acknowledged NONE records before it: kept when the
 * cause has passed) and still reports the failure. */
int jrn_close(jrn_writer *w, tind_err *err);

/* ---- replay ---- */

/* Called once per record in file order with the (decompressed) payload,
 * which is borrowed for the call. A non-zero return stops replay, which
 * returns that status. */
typedef int (*jrn_replay_fn)(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload,
                             size_t len);

typedef struct jrn_replay_result {
    uint64_t number;        /* journal number from the file header (0 when torn/empty) */
    uint64_t start_seqno;   /* start seqno from the file header (0 when torn/empty) */
    int has_header;         /* 1 when the file header was intact (number and start_seqno are real) */
    uint64_t records;       /* records handed to the callback */
    uint64_t first_seqno;   /* first seqno of the first record (0 when none) */
    uint64_t last_seqno;    /* last seqno of the last record: first + count - 1 (0 when none) */
    uint64_t valid_bytes;   /* length of the intact prefix: header + whole records */
    uint64_t tail_bytes;    /* bytes past valid_bytes that were a torn tail */
    int truncated;          /* 1 when a torn tail was found (tail_bytes > 0); jrn_replay
                               with truncate_torn_tail has then cut the file to valid_bytes */
    uint32_t version;       /* format version from the file header (0 when torn/empty) */
    int prior_synced;       /* 1 when a replayed record or mark carries JRN_FLAG_PRIOR_SYNCED */
    uint64_t marks;         /* marks met (not counted in records) */
} jrn_replay_result;

/* Rule 6 of docs/FORMAT.md: the journals recovery keeps continue each
 * other. Feed it each replayed journal with an intact header (has_header),
 * in number order; `end` is the seqno the journals so far end at (the last
 * record's, or start - 1 for a journal without records). */
typedef struct jrn_chain {
    int started;
    uint64_t end;
    uint64_t need;          /* 0, or the first seqno the kept journals must hold
                               (jrn_chain_need); checked by the first journal */
    uint64_t start_limit;   /* 0, or the latest start the first kept journal may have */
} jrn_chain;

/* What the version file says of the journals it keeps (call before the
 * first jrn_chain_add; 0 = unknown, a format 1 version file):
 *   need         its journal_seqno, the oldest write no table held: the kept
 *                journals hold every seqno from it on, so the first one
 *                with a header starts at or before it, and jrn_chain_finish
 *                fails when there is none (that write had been journaled,
 *                and a journal with a record always has a synced header);
 *   start_limit  its next_seqno: every later write went to the journal
 *                then current or a later one, so the first kept journal
 *                (if any: one may not have been made yet) starts at or
 *                before it. A deleted first journal shows here even when
 *                no write was pending when the version file was written. */
void jrn_chain_need(jrn_chain *c, uint64_t need, uint64_t start_limit);
/* After the last jrn_chain_add: TIND_ECORRUPT when seqnos are needed but no
 * journal with an intact header was kept (`dir` names the folder). */
int jrn_chain_finish(const jrn_chain *c, const char *dir, tind_err *err);

/* Checks that res (of journal `name`) continues the chain (prev_name: the
 * journal before it) and extends it. TIND_OK, or TIND_ECORRUPT with err
 * naming both journals: start seqno 0, a first record that is not at the
 * start, or a start that is not the previous end + 1 ("records are
 * missing"), or a first journal that starts after the needed seqno
 * ("a journal the version file needs is missing"). */
int jrn_chain_add(jrn_chain *c, const jrn_replay_result *res, const char *name, const char *prev_name,
                  tind_err *err);

/* Decodes a journal held in memory (e.g. fuzz input) by the rules above and
 * calls cb for each record. Never reads outside data[0, len). result (may be
 * NULL) is filled on TIND_OK and, as far as replay got, on failure. On a
 * failure the callback may already have seen the records before the damage. */
int jrn_replay_buffer(const uint8_t *data, size_t len, jrn_replay_fn cb, void *ctx, jrn_replay_result *result,
                      tind_err *err);

/* Reads the journal at path whole (memory: one file size) and replays it with
 * jrn_replay_buffer. Also TIND_ECORRUPT when the file name is a journal name
 * whose number differs from the header's. With truncate_torn_tail, a torn
 * tail is cut off (fs_truncate to valid_bytes + fs_sync FS_SYNC_ALL) after
 * every record has been replayed. */
int jrn_replay(fs *fsys, const char *path, jrn_replay_fn cb, void *ctx, int truncate_torn_tail,
               jrn_replay_result *result, tind_err *err);

/* For a replay callback that walks the record headers itself (the callback
 * sees no marks): the offset of the first record at or after `off` that is
 * not a mark; `off` when it is past data[0, len). Reads only the flags
 * byte of each header replay has already verified. */
size_t jrn_skip_marks(const uint8_t *data, size_t len, size_t off);

/* Cuts the journal at path to valid_bytes and syncs it (FS_SYNC_ALL). */
int jrn_truncate(fs *fsys, const char *path, uint64_t valid_bytes, tind_err *err);

/* Whether the journal at path holds a record or mark that verifies, carries the
 * prior-synced flag and has a first seqno of at least min_seqno, anywhere
 * after its header (*found = 1), even past damage; a file without an intact
 * header holds none. Proof that every older journal had been synced. */
int jrn_find_prior_synced(fs *fsys, const char *path, uint64_t min_seqno, int *found, tind_err *err);

/* ---- names ---- */

/* The journal numbers in dir, ascending: names that are exactly
 * jrn_path()'s form ("%08llu.jrn"); other files are ignored. *numbers is
 * malloc'd (caller frees; NULL when *count is 0). */
int jrn_list(fs *fsys, const char *dir, uint64_t **numbers, size_t *count, tind_err *err);

/* Writes "<dir>/<number as %08llu>.jrn" to buf. TIND_EINVAL when it does not
 * fit in bufsize (buf then holds a truncated, NUL-terminated string). */
int jrn_path(const char *dir, uint64_t number, char *buf, size_t bufsize);

/* Parses a base name of jrn_path()'s form; 1 and *number on success. */
int jrn_parse_name(const char *name, uint64_t *number);

#endif
