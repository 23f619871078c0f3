/*
 * tind_internal.h -- the one declared internal interface of the tools
 * (tools/tind, tind-stress, tind-bench, tind-microbench). A tool includes
 * "tind.h", this header, and files of its own folder, nothing else of src/
 * (scripts/check_tool_includes.sh enforces it in every test run). Tests and
 * fuzz targets are unit tests of the modules and may include module headers.
 *
 * Nothing here is installed or part of the public ABI: the functions are
 * linkable from the internal static library (tind_internal, CMakeLists.txt)
 * only; the installed libtind.a and libtind.so keep them local. Every
 * declaration may change with any release.
 *
 * Thread-safety: as each function says; the re-exported module headers
 * state their own.
 */
#ifndef TIND_INTERNAL_H
#define TIND_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tind.h"

/* ---- status and the file-system layer (fault injection, in-memory file
 * systems, reading a database's files as they are on disk). Re-exports
 * io/fs.h, which brings util/status.h (tind_err, err_set, err_clear), and
 * io/fs_crypt.h (the encrypting wrapper: reading an encrypted database's
 * files, tind --key-file, tind-stress --encrypt). */
#include "io/fs.h"
#include "io/fs_crypt.h"

/* ---- utilities the tools share with the engine. Re-exports util/coding.h
 * (fixed-width and varint codecs), util/hash.h (the checksums of every file),
 * util/buf.h (growable byte buffer) and util/rand.h (trng, the engine's
 * xoshiro256** generator: tind-bench and tind-stress draw from it so their
 * runs replay from a seed). */
#include "util/buf.h"
#include "util/coding.h"
#include "util/hash.h"
#include "util/rand.h"

/* ---- codecs of the on-disk files, for `tind dump`, `tind verify`, the
 * corruption campaign and the microbenchmarks (docs/FORMAT.md). Re-exports
 * format/entry.h (internal keys), format/block.h (data and index blocks),
 * format/blockio.h (reading a block by handle), format/bloom.h (filters),
 * format/container.h (the table container), format/filename.h (the names of
 * the folder's files: fname_table, fname_journal, fname_parse),
 * format/table.h (table reader), format/zdict.h (a table's zstd dictionary, to
 * decode its data blocks), blob/blob.h (blob files and pointers: key-value
 * separation), journal/journal.h (journal header and records),
 * journal/batch_entry.h (a record's operations) and version/manifest.h (the
 * version file, with version/version.h). */
#include "blob/blob.h"
#include "format/block.h"
#include "format/blockio.h"
#include "format/bloom.h"
#include "format/container.h"
#include "format/entry.h"
#include "format/filename.h"
#include "format/rangetomb.h"
#include "format/table.h"
#include "format/zdict.h"
#include "journal/batch_entry.h"
#include "journal/journal.h"
#include "version/manifest.h"

/* ---- the memtable (memtable/memtable.h), for tools/microbench/mtseekprof.c:
 * a skip list searched and filled directly, without a database around it. */
#include "memtable/memtable.h"

/* The newest FORMAT file version this build reads (the FORMAT file, docs/FORMAT.md). */
uint32_t tind_internal_format_version(void);

/* ---- options hooks (defined in db/options.c). An injected file system is
 * used instead of the real one and is not owned: it must outlive the
 * database. no_background opens without worker and syncer threads: flushes
 * and compactions then run only in tind_flush / tind_compact or
 * tind_internal_background_step. */
void tind_options_set_fs(tind_options *o, fs *fs);
void tind_options_set_no_background(tind_options *o, int on);

/* ---- background work */

/* on = 1: pauses background work and returns once no flush or compaction is
 * running; until the matching on = 0, no job starts (a worker's, or one that
 * tind_flush / tind_compact would run in the caller's thread), so no table
 * or version file changes under a reader of the folder. Pauses nest (each
 * on = 1 needs its on = 0). Writers go on until the memtables fill, then
 * stall until resumed. The pausing thread must not call tind_flush or
 * tind_compact before it resumes (they would wait for itself). Any thread.
 * Returns TIND_OK, or TIND_EINVAL for a NULL db or an on = 0 without a pause. */
int tind_internal_pause_background(tind_db *db, int on);

/* Runs one unit of pending background work (a flush, else a compaction) in
 * the calling thread: 1 = did one, 0 = nothing to do (or paused, poisoned,
 * closing), < 0 = the job failed; the failure is then the db's last error
 * (tind_errmsg), as when a worker fails. For no_background databases. */
int tind_internal_background_step(tind_db *db);

/* ---- test hooks: state the model checks of tind-stress compare against. */

/* 1 when a failed journal or version write turned the database read-only
 * (every write then fails with TIND_EPOISONED until reopened), else 0. */
int tind_internal_is_poisoned(tind_db *db);

/* The last sequence number assigned to a write (a batch of n operations
 * takes n consecutive ones). Exact when no write is in flight. */
uint64_t tind_internal_last_seqno(tind_db *db);

/* The keyspace's flushed seqno: every write up to it is in its tables (the
 * journals before it may go). 0 for a NULL ks. */
uint64_t tind_internal_ks_flushed_seqno(tind_keyspace *ks);

/* The keyspace's built-in merge operator (enum tind_merge_builtin;
 * TIND_MERGE_NONE for none, a user operator or a NULL ks): the shell's
 * `merge` reads a counter's operand as a decimal number. */
int tind_internal_ks_merge_builtin(tind_keyspace *ks);

#endif
