/*
 * tind.h -- the one public header of tind, an embeddable log-structured
 * (LSM-tree) key-value storage engine.
 *
 * Conventions
 *   - Every handle is opaque.
 *   - Every fallible call returns an int status: TIND_OK (0) or a negative
 *     TIND_E... code (TIND_NOT_FOUND is a status, not a failure).
 *     tind_strerror() names a status; handles keep a detailed last-error text
 *     naming the file and the cause (tind_errmsg()).
 *   - Ownership of every returned pointer is stated where it is returned.
 *   - Argument errors never crash and never poison the database: a NULL
 *     handle, out-pointer or key with a non-zero length, an unknown enum value
 *     or a size over a limit returns TIND_EINVAL / TIND_ETOOBIG and changes
 *     nothing. Void calls given a NULL handle do nothing; *_free(NULL) is a
 *     no-op; getters given NULL return 0 / NULL. A key or bound given as a
 *     non-NULL pointer with length 0 is the empty key; NULL with length 0 is
 *     the same as "" where a key is optional (bounds: see tind_iter_range).
 *
 * Thread safety (one place for every handle type)
 *   - tind_db: every call may be made from any number of threads at once,
 *     except tind_close(), which must not race a call that begins after it
 *     (see tind_close).
 *   - tind_keyspace: shared like its database; any number of threads may
 *     read and write through the same handle at once.
 *   - tind_snapshot: immutable; any number of threads may read through it
 *     at once. tind_snapshot_free() must not race its other uses.
 *   - tind_batch, tind_iter and tind_txn: one thread at a time. Different
 *     batches, iterators and transactions of the same database may be used in
 *     different threads at once; one may move between threads when the caller
 *     orders the hand-over (a mutex, a join). An iterator made through a
 *     transaction is not moved while that transaction commits.
 *   - tind_options, tind_ks_options, tind_read_options: plain settings.
 *     Setters need one thread at a time; calls that only read them (tind_open,
 *     tind_keyspace_open, reads given ro) may share one from many threads
 *     while nobody changes it. They may be freed once the call that took them
 *     returns, except that a read options' snapshot or transaction must
 *     outlive its reads.
 *   - Free functions (tind_strerror, tind_version, tind_free, tind_errmsg)
 *     may be called from any thread; tind_errmsg's text is per thread.
 */
#ifndef TIND_H
#define TIND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TIND_BUILDING)
#define TIND_API __attribute__((visibility("default")))
#else
#define TIND_API
#endif

/* TIND_VERSION_MAJOR, _MINOR, _PATCH and TIND_VERSION_STRING ("0.2.0"): the
 * version this header belongs to, generated from CMakeLists.txt's
 * project(VERSION) into tind_version.h (installed beside this header). */
#include "tind_version.h"

/* Status codes. Values are part of the ABI: never renumber. */
enum tind_status {
    TIND_OK          = 0,
    TIND_NOT_FOUND   = -1,  /* key (or keyspace) absent: not a failure */
    TIND_EINVAL      = -2,  /* bad argument: NULL handle, empty key, bad option */
    TIND_ENOMEM      = -3,  /* out of memory */
    TIND_EIO         = -4,  /* I/O error from the operating system */
    TIND_ECORRUPT    = -5,  /* a file failed a checksum or a structural check */
    TIND_ENOSPC      = -6,  /* no space left on the device */
    TIND_EBUSY       = -7,  /* database folder locked by another open; or tind_close while
                               iterators, snapshots, batches or transactions of the database
                               are live; or a single-writer transaction with TIND_TXN_NOWAIT */
    TIND_EPOISONED   = -8,  /* an earlier journal/version write or fsync failed: read-only until reopen */
    TIND_EVERSION    = -9,  /* file written by a newer tind (format version unknown) */
    TIND_EEXIST      = -10, /* already exists */
    TIND_ETOOBIG     = -11, /* key or value beyond the documented limits */
    TIND_ECLOSED     = -12, /* the database is closing or closed */
    TIND_ENOTSUP     = -13, /* not supported by this build or option set */
    TIND_ECONFLICT   = -14, /* transaction conflict: nothing applied, retry (tind_txn_commit) */
    TIND_ENOENT      = -15, /* file, folder or keyspace does not exist */
    TIND_EMFILE      = -16, /* too many open files */
};

/* The version of the library linked in, "MAJOR.MINOR.PATCH" (static, never
 * NULL); equals TIND_VERSION_STRING of the header it was built with. */
TIND_API const char *tind_version(void);

/* A static, never-NULL English name for a status code. */
TIND_API const char *tind_strerror(int status);

/* Limits (SPEC section 1), checked before anything is written: a call over
 * a limit returns TIND_ETOOBIG and the database stays writable.
 * A value is at most 4 GiB - 1 MiB: a batch is one journal record, whose
 * length field is 32 bits (docs/FORMAT.md), and a table block holding one
 * entry must stay under its 32-bit block length; 1 MiB leaves room for the
 * largest key and the entry headers in both. A batch's operations, encoded,
 * take at most TIND_MAX_BATCH_BYTES: each takes its key, its value and at
 * most 14 bytes of header, so any single put fits. Memory: a put of V bytes
 * holds about 3 V beyond the caller's buffer during the call (the encoded
 * batch, the journal record, the memtable entry). */
#define TIND_MAX_KEY_SIZE   65535u
#define TIND_MAX_VALUE_SIZE 0xFFF00000u   /* 4,293,918,720 = 4 GiB - 1 MiB */
#define TIND_MAX_BATCH_BYTES 0xFFFFFFFFu
#define TIND_MAX_KEYSPACE_NAME 255u


/* ======================================================================
 * Handles
 * ====================================================================== */
typedef struct tind_db tind_db;                 /* an open database folder */
typedef struct tind_keyspace tind_keyspace;     /* a named keyspace (column family) */
typedef struct tind_options tind_options;       /* database options */
typedef struct tind_ks_options tind_ks_options; /* keyspace options */
typedef struct tind_read_options tind_read_options;
typedef struct tind_batch tind_batch;           /* an atomic cross-keyspace write batch */
typedef struct tind_snapshot tind_snapshot;     /* a fixed point in the write history */
typedef struct tind_iter tind_iter;             /* a cursor over a keyspace */

/* Durability of a write or of tind_persist(). Values are part of the ABI.
 * Whatever the mode, a write is visible to readers when its call returns,
 * and after any crash the database holds the history up to some batch
 * boundary (no batch half applied, no holes). A write that fails with an
 * I/O error (TIND_EIO, TIND_ENOSPC, ...: its journal write or sync failed;
 * the database is then poisoned) may or may not be there after a reopen,
 * whole or not at all; one refused before the journal (TIND_EPOISONED,
 * TIND_EINVAL, TIND_ETOOBIG, ...) is not.
 *   NONE       the write's journal record may wait in tind's user-space
 *              journal buffer (64 KiB; one write(2) per buffer instead of
 *              one per write): a process crash or kill may lose the newest
 *              NONE writes (a suffix of the history). The buffer goes to the
 *              OS when it fills, with the next BUFFER or synced write, at
 *              tind_persist(BUFFER or stronger), at a journal rotation, a
 *              flush, a checkpoint, when the change feed reaches those
 *              writes, and at tind_close. tind_persist(NONE) does nothing.
 *              When a journal write fails (a full disk, EIO), the NONE
 *              writes waiting in the buffer fail with it unless the write
 *              tind_close tries once more succeeds (the database is
 *              poisoned: they are still readable until it closes).
 *   BUFFER     (the default) the record, and every record before it, is
 *              handed to the OS before the call returns: survives a process
 *              crash, not a power loss.
 *   SYNC_DATA  the journal is fdatasync'd before the call returns: survives
 *              a power loss. Concurrent writers share syncs (group commit).
 *              A commit with nothing to write (an empty batch, a
 *              transaction without writes) syncs too: every earlier write
 *              survives a power loss once it returns.
 *   SYNC_ALL   fsync instead of fdatasync: data and metadata. */
enum tind_persist_mode {
    TIND_PERSIST_NONE      = -1, /* may wait in tind's user-space journal buffer */
    TIND_PERSIST_BUFFER    = 0,  /* handed to the OS (survives a process crash) */
    TIND_PERSIST_SYNC_DATA = 1,  /* fdatasync: survives power loss */
    TIND_PERSIST_SYNC_ALL  = 2,  /* fsync: data and metadata survive power loss */
};

/* Compression codes, per keyspace and level. Values are part of the ABI. */
enum tind_compression {
    TIND_COMPRESSION_NONE = 0,
    TIND_COMPRESSION_LZ4  = 1,
    TIND_COMPRESSION_ZSTD = 2,
};

/* Compaction strategies. */
enum tind_compaction {
    TIND_COMPACTION_LEVELED = 0,  /* default */
    TIND_COMPACTION_TIERED  = 1,  /* size-tiered */
    TIND_COMPACTION_FIFO    = 2,  /* drop oldest tables past a size limit or TTL */
};

/* ======================================================================
 * Errors
 * ====================================================================== */

/* The calling thread's detailed message for its last failed call on db or on
 * a handle made from it ("table 17 'db/tables/00000017.tbl': block at offset
 * 40960: checksum mismatch"): per thread AND per database, so failures in
 * other threads, or on other databases, never replace it. db = NULL gives the
 * message of this thread's last failed tind_open() or tind_close(). "" when
 * this thread has no failure on db (a thread keeps the messages of the last 8
 * databases it failed on; an older one reads as ""). The text is copied into a
 * per-thread buffer that stays valid until this thread's next tind_errmsg()
 * call. Never NULL. Calls given a NULL handle have no database to record a
 * message on: their status is all there is. */
TIND_API const char *tind_errmsg(tind_db *db);

/* ======================================================================
 * Database options (NULL anywhere an options pointer is taken = defaults;
 * a setter given NULL options does nothing). Values are checked by the call
 * that uses the options (TIND_EINVAL naming the option).
 * ====================================================================== */
TIND_API tind_options *tind_options_new(void);      /* NULL on OOM */
TIND_API void tind_options_free(tind_options *o);
/* Create the folder when missing (default 1). */
TIND_API void tind_options_set_create_if_missing(tind_options *o, int on);
/* Block cache capacity in bytes, shared by every keyspace (default 64 MiB). */
TIND_API void tind_options_set_cache_size(tind_options *o, size_t bytes);
/* A cache of values read from blob files (key-value separation), shared by
 * every keyspace, apart from the block cache (default 0: no blob cache, each
 * read of a separated value reads its record from the file, which the OS's
 * page cache keeps, as RocksDB's BlobDB without a blob cache). Values are
 * charged their length plus their bookkeeping. docs/ARCHITECTURE.md, "Memory". */
TIND_API void tind_options_set_blob_cache_size(tind_options *o, size_t bytes);
/* Database-wide limit on memtable memory; past it the largest memtable is
 * flushed, and writers to a keyspace whose sealed memtables (waiting for
 * their flush) hold the write buffer less one memtable stall until a flush
 * frees one (default 128 MiB: an active and a sealed memtable of the
 * default size; docs/ARCHITECTURE.md, "Memory"). */
TIND_API void tind_options_set_write_buffer_size(tind_options *o, size_t bytes);
/* A journal file is sealed and a new one started past this size (default 64 MiB). */
TIND_API void tind_options_set_journal_file_size(tind_options *o, uint64_t bytes);
/* Total journal size that forces flushes of the keyspaces holding the oldest
 * journal (default 512 MiB). */
TIND_API void tind_options_set_max_journal_size(tind_options *o, uint64_t bytes);
/* Journal records at least this large are LZ4-compressed (0 = never; default
 * 4096). A record is one write: a put, or a whole batch or transaction, so a
 * batch of small values that adds up to the threshold is compressed too; the
 * compressed form is kept when it saves at least 1/8. */
TIND_API void tind_options_set_journal_compression_threshold(tind_options *o, uint32_t bytes);
/* Background worker threads for flushes and compactions (default 2). */
TIND_API void tind_options_set_background_threads(tind_options *o, int n);
/* Sync the journal in the background every ms milliseconds (0 = never, default). */
TIND_API void tind_options_set_sync_interval_ms(tind_options *o, uint32_t ms);
/* Open table files kept by the file-descriptor cache. n <= 0 (the default)
 * derives it at tind_open from the process's RLIMIT_NOFILE soft limit: half
 * of it, minus 16 kept for the files tind opens outside the cache (journals,
 * the version file, LOCK, folders being synced, tables being written), at
 * least 8 and at most 512 (a soft limit of 1024 gives 496; 64 gives 16). The
 * other half stays with the application. When the process runs out of
 * descriptors anyway, a read closes unheld cached files and retries; it
 * fails with TIND_EMFILE (never poisoning) only when every cached file is in
 * use. */
TIND_API void tind_options_set_max_open_files(tind_options *o, int n);
/* The durability of tind_put/tind_remove and of batches that choose none
 * (default TIND_PERSIST_BUFFER: each write reaches the OS, no sync; before
 * issue 15 the default was NONE, which behaved as BUFFER does now). */
TIND_API void tind_options_set_default_durability(tind_options *o, int mode);
/* Read-only open (default 0): tind_open writes nothing at all -- no recovery
 * writes (the journal is replayed into memory only; a torn tail is ignored,
 * not cut), no new journal, no FORMAT or version file, no folder syncs, no
 * deletions, no background work. Reads, iterators and snapshots work; every
 * write call (put, remove, batch commit, keyspace delete, flush, compact,
 * persist) returns TIND_ENOTSUP ("database '...' is opened read-only"), and
 * opening a keyspace that does not exist is TIND_ENOENT. A missing folder,
 * or one without a FORMAT file, is TIND_ENOENT (never created).
 * Locking: read-only opens share the folder's lock, so any number of them
 * coexist and a writable open meanwhile fails with TIND_EBUSY. When a writer
 * already holds the lock, the read-only open proceeds without it: it sees
 * the database as of its open (later writes are not visible), and a file the
 * writer deletes meanwhile (a compacted table) makes the reads that need it
 * fail with an error naming the file -- never wrong data. A journal or table
 * the writer deletes while the open reads the files (its flush or compaction
 * finished) makes the open start again from the new version file, up to 20
 * tries, before it fails with TIND_ENOENT. */
TIND_API void tind_options_set_read_only(tind_options *o, int on);

/* ----------------------------------------------------------------------
 * Encryption at rest (docs/ENCRYPTION.md). With a key, every file of the
 * database -- tables, journals, the version file, FORMAT -- is stored as
 * AES-256-GCM pages: a changed byte reads as TIND_ECORRUPT naming the file
 * and offset, never as data. File names, sizes, the LOCK file and the
 * ENCRYPTION key-check file are not encrypted. A new database made with a
 * key is encrypted for its life (re-keying: docs/ENCRYPTION.md).
 * At tind_open: the wrong key is TIND_EINVAL ("wrong encryption key ...");
 * a key for a database made without one, or no key for an encrypted
 * database, is TIND_EINVAL saying which (key rotation: tind_rekey below). Keys are copied; tind wipes its
 * copies when they are no longer needed (the options' copy at
 * tind_options_free). Thread-safety: as every options call.
 * ---------------------------------------------------------------------- */
/* The 256-bit key (len must be 32: else TIND_EINVAL and o is unchanged).
 * key NULL removes a key set before. Replaces a key callback. */
TIND_API int tind_options_set_encryption_key(tind_options *o, const void *key, size_t len);
/* A key callback instead of a stored key: tind_open calls fn(ctx, key) once,
 * in its own thread, before reading any file; fn fills the 32 bytes and
 * returns TIND_OK, or a status that tind_open then returns. fn NULL removes
 * it. Replaces a key set before. */
typedef int (*tind_key_fn)(void *ctx, uint8_t key[32]);
TIND_API void tind_options_set_encryption_key_fn(tind_options *o, tind_key_fn fn, void *ctx);

/* ---- key rotation (re-keying) ----
 * Re-encrypts the closed database at path under new_key (len must be 32):
 * opts holds the database's present key (tind_options_set_encryption_key or
 * _fn) and, optionally, its file system; its other fields are not used.
 * Every encrypted file (FORMAT, VERSIONS, journals, tables, blob files) is
 * copied under the new key and renamed over the old one, one file at a
 * time; the ENCRYPTION key check names the new key. Afterwards tind_open
 * takes the new key only (the old key is "wrong encryption key").
 * Interrupted (crash, error), the database opens with neither key
 * (TIND_EINVAL, "re-keying was interrupted") until tind_rekey is called
 * again with the same two keys, which finishes the work; calling it again
 * after it succeeded returns TIND_OK at once. The disk needs room for the
 * largest file once more. Tables hard-linked into a checkpoint stay, there,
 * under the old key.
 * Returns TIND_OK; TIND_EINVAL (wrong len, no key in opts, the new key equal
 * to the old one, neither key matches the database, a plaintext database);
 * TIND_EBUSY (the database is open: close it first); TIND_ENOENT (no such
 * folder); TIND_ECORRUPT (a file under a third key or without a valid
 * encryption header: named in tind_errmsg(NULL)); TIND_EIO, TIND_ENOSPC.
 * Thread-safety: any thread; one call per database at a time (the LOCK file
 * serializes it with tind_open). */
TIND_API int tind_rekey(const char *path, const tind_options *opts, const void *new_key, size_t len);

/* ======================================================================
 * Database
 * ====================================================================== */

/* Opens (creating when allowed) the database folder at path. On success *db
 * is a handle that must be given to tind_close(). Fails with TIND_EBUSY when
 * the folder is open elsewhere (this or another process), TIND_EVERSION when
 * written by a newer tind, TIND_ECORRUPT when its files fail their checks:
 * among them a table the version file names that is missing, and a journal
 * it still needs (one holding writes no table holds) that is missing or
 * empty; nothing is deleted or changed before those checks pass. A table
 * file that is not the one the version file names (another table copied,
 * swapped or restored under its number; see docs/FORMAT.md "Table
 * identity") is TIND_ECORRUPT when first read (tables open lazily).
 * Only a missing or empty folder is created into a database: an existing
 * folder without the database's FORMAT file that holds other files is
 * TIND_EINVAL ("'path' is not a tind database (it holds other files, such as
 * 'x')") and nothing in it is changed. Recovery (journal replay, torn-tail
 * truncation) happens here (not with tind_options_set_read_only). */
TIND_API int tind_open(const char *path, const tind_options *opts, tind_db **db);

/* Closes db. Iterators, snapshots, batches and transactions made from db
 * must be freed (ended) first: while any is live, close refuses with
 * TIND_EBUSY ("tind_close: 2 iterators, 1 snapshot still open", from
 * tind_errmsg(db)) and db stays open and fully usable; free them and call
 * close again.
 * Otherwise close marks db closing (calls made from now on fail with
 * TIND_ECLOSED; tind_flush, tind_compact and stalled writers waiting in
 * another thread return TIND_ECLOSED), waits for the calls already inside
 * the engine to return, stops background work (waiting for the running job,
 * dropping queued ones), persists the journal with SYNC_ALL, releases the lock
 * and frees db and its keyspace handles. It then returns the first error met
 * while persisting, TIND_EPOISONED when db was poisoned (the promised sync
 * cannot be made), but always frees; the message of that error is read with
 * tind_errmsg(NULL), as for tind_open.
 * Once tind_close has returned anything but TIND_EBUSY, calling anything on
 * db or on a handle made from it is undefined, as in LMDB and RocksDB; a call
 * racing close is safe only if it began before close did. A second close
 * racing the first returns TIND_ECLOSED. */
TIND_API int tind_close(tind_db *db);

/* Makes every write that has returned durable according to mode (see
 * tind_persist_mode): NONE does nothing, BUFFER hands the journal buffer to
 * the OS, SYNC_* also syncs the journal. TIND_EINVAL for another mode. */
TIND_API int tind_persist(tind_db *db, int mode);

/* ======================================================================
 * Keyspaces
 * ====================================================================== */
TIND_API tind_ks_options *tind_ks_options_new(void);
TIND_API void tind_ks_options_free(tind_ks_options *o);
/* Memtable size that triggers a flush (default 64 MiB). */
TIND_API void tind_ks_options_set_memtable_size(tind_ks_options *o, size_t bytes);
TIND_API void tind_ks_options_set_compaction(tind_ks_options *o, int strategy);
/* Leveled: L0 table count that triggers compaction into the base level (default 4). */
TIND_API void tind_ks_options_set_l0_threshold(tind_ks_options *o, int tables);
/* Target size of a table written by compaction (default 64 MiB). */
TIND_API void tind_ks_options_set_table_size(tind_ks_options *o, uint64_t bytes);
/* Leveled: size ratio between adjacent levels (default 10). */
TIND_API void tind_ks_options_set_level_ratio(tind_ks_options *o, int ratio);
/* Number of levels, 2..7 (default 7). */
TIND_API void tind_ks_options_set_levels(tind_ks_options *o, int levels);
TIND_API void tind_ks_options_set_block_size(tind_ks_options *o, uint32_t bytes);     /* default 4096 */
TIND_API void tind_ks_options_set_restart_interval(tind_ks_options *o, uint32_t n);   /* default 4 */
/* Data block hash index: keys per bucket (0 = off; default 0.4). */
TIND_API void tind_ks_options_set_hash_ratio(tind_ks_options *o, double ratio);
/* Compression of one level (level = -1: all levels); default LZ4 everywhere.
 * Here and in set_bloom_bits, a level outside -1..6 makes the options invalid:
 * tind_keyspace_open() with them returns TIND_EINVAL. */
TIND_API void tind_ks_options_set_compression(tind_ks_options *o, int level, int type, int zstd_level);
/* Bloom filter bits per key of one level (level = -1: all; 0 = no filter; default 10). */
TIND_API void tind_ks_options_set_bloom_bits(tind_ks_options *o, int level, double bits_per_key);
/* zstd dictionaries: on a level (level = -1: all) whose compression is
 * zstd, each table written there (by compaction, or by a flush for level 0)
 * trains a dictionary of dict_bytes (0 = none, the default; else 1024 ..
 * 1 MiB) from its first data blocks (about 100 times dict_bytes of them,
 * 64 KiB .. 16 MiB, held in memory meanwhile), stores it in the table and
 * compresses every data block with it: smaller tables of small values, the
 * dictionary read once per open table. Such tables are format 3, which tind
 * 0.2 cannot read. A table too small to train on is written without one.
 * A table moves to another level unchanged (a trivial move) only when both
 * levels compress alike (codec, zstd level, dictionary size); otherwise
 * compaction rewrites it in the target level's compression. */
TIND_API void tind_ks_options_set_zstd_dict(tind_ks_options *o, int level, uint32_t dict_bytes);
/* Two-level (partitioned) index and filter for levels >= from_level (default 2: the
 * levels whose index and filter are not pinned page them in small partitions);
 * -1 = never. */
TIND_API void tind_ks_options_set_partitioning(tind_ks_options *o, int from_level);
/* Reads mostly hit existing keys: skip the last level's filter (default 0). */
TIND_API void tind_ks_options_set_expect_point_read_hits(tind_ks_options *o, int on);
/* FIFO: total size limit in bytes and time-to-live in seconds (0 = none). Both act on
 * whole tables, oldest first: a table is dropped once the keyspace is over max_bytes, or
 * once it is more than ttl_seconds old, counted in whole seconds from its flush (so an
 * entry lives at least ttl_seconds after its flush, and is dropped within about a
 * second more once the background workers or tind_compact look; the memtable never
 * expires). The size counts a table's blob files (key-value separation: each
 * flush writes its own, which go with its table). */
TIND_API void tind_ks_options_set_fifo(tind_ks_options *o, uint64_t max_bytes, uint64_t ttl_seconds);

/* ---- key-value separation (blob files) ----
 * Values of at least `threshold` bytes are written, at flush, to blob files
 * (beside the tables) and the tree keeps a small pointer to each, so that
 * compaction moves pointers instead of rewriting large values; reads load
 * the value from its blob file (through the block cache, in its budget).
 * tind_contains, tind_value_size, and an iterator's key and value size never
 * read a blob file; tind_iter_value loads the value when asked. A blob file
 * that is damaged or missing makes the reads that need it fail with
 * TIND_ECORRUPT naming the file and offset.
 * Garbage collection needs no call: compactions count the blobs whose
 * pointers they drop; once the keyspace's counted garbage passes `ratio` of
 * its blob bytes, the files holding the most garbage per byte (never one
 * below `ratio`) are collected until the excess is covered: compactions
 * move their live blobs into new files (and pick work to do so when nothing
 * else needs compacting), and a file is deleted when no version needs it. `age_cutoff` (0..1) also has compactions move the
 * blobs of the oldest fraction of blob files that hold any garbage, when
 * they meet them anyway (RocksDB's blob_garbage_collection_age_cutoff).
 * Defaults: separation on, threshold 4096 bytes (measured from 512 B to
 * 8 KiB: separation cuts write amplification at every size, 25 to 36%;
 * warm gets cost the same; below 2 KiB a walk of keys and values costs
 * more separated, 37% at 512 B, and each cold value needs a read of its
 * own where inline ones share a block; from 4 KiB walks are cheaper
 * separated: docs/ARCHITECTURE.md "Key-value separation"; lower it for a
 * keyspace of point reads and overwrites of 1 to 4 KiB values), blob
 * files of 64 MiB, LZ4 blob compression, GC ratio 0.25 (the garbage
 * compaction has counted keeps the blob files below about 1 / (1 - 0.25) =
 * 1.33 times their live bytes; values shadowed in level-0 tables not yet
 * compacted come on top: random overwrites of 8 KiB incompressible values
 * in 1 MiB blob files measured disk / live bytes 1.54 on average, 1.8 to
 * 2.1 at peak, test_blob_gc; 4 KiB values in tind-blobbench 0.81 and 0.91
 * with LZ4), age cutoff 0.
 * Options are stored with the keyspace and apply at every reopen (blob
 * options given to tind_keyspace_open for an existing keyspace are
 * ignored); a keyspace made by an older tind keeps separation off. Invalid values make tind_keyspace_open() fail with
 * TIND_EINVAL: threshold 1..TIND_MAX_VALUE_SIZE, file size >= 4096,
 * compression a tind_compression code with zstd level 0..22, ratio in
 * (0, 2] (above 1: never collect), age_cutoff in [0, 1]. Setters given NULL
 * options do nothing. */
TIND_API void tind_ks_options_set_blob_separation(tind_ks_options *o, int on, uint64_t threshold);
TIND_API void tind_ks_options_set_blob_file_size(tind_ks_options *o, uint64_t bytes);
TIND_API void tind_ks_options_set_blob_compression(tind_ks_options *o, int type, int zstd_level);
TIND_API void tind_ks_options_set_blob_gc(tind_ks_options *o, double ratio, double age_cutoff);
/* ---- prefix filters ----
 * A prefix extractor maps a key to its prefix; the Bloom filters of the
 * keyspace's tables (every level with bloom bits > 0, whole or partitioned)
 * then hold each key's prefix as well, and tind_iter_prefix(), or
 * tind_iter_range() whose bounds lie inside one prefix (lo starts with a
 * prefix p and hi <= p with its last byte below 0xFF incremented), skip the
 * tables whose filter lacks it (counted in tind_ks_stats.prefix_skipped).
 * A scan whose prefix is shorter than the extractor's, or outside its
 * domain, reads every table as before. At most one extractor per keyspace
 * (the last setter wins; len 0 / NULL fn: none, the default).
 * The extractor is stored with the keyspace when it is created. Opening an
 * existing keyspace with options naming a different extractor is
 * TIND_EINVAL ("keyspace 'k' has prefix extractor 'fixed:4', not 'fixed:8'");
 * options without an extractor leave the stored one in force. A table's
 * prefixes are used only by scans of the extractor that wrote them. */
/* The first len bytes (1..65535); a key shorter than len has no prefix. */
TIND_API void tind_ks_options_set_prefix_fixed(tind_ks_options *o, size_t len);
/* The bytes up to and including the first byte equal to sep (0..255);
 * a key without sep has no prefix. */
TIND_API void tind_ks_options_set_prefix_separator(tind_ks_options *o, int sep);
/* fn(ctx, key, klen) returns the length of key's prefix, 1..klen, or 0
 * when the key has none. It must keep this contract: when fn gives n for a
 * key k, it gives n for every key that starts with k[0..n) (a prefix is
 * decided by its own bytes), and it must always give the same answer for
 * the same key; otherwise scans may miss keys. It is called from any
 * thread, concurrently, while the database is open; it must not call tind.
 * name (1..48 bytes, NUL-terminated, copied) identifies the function: it is
 * stored with the keyspace, and after tind_open the keyspace extracts no
 * prefixes (tables written then carry none; scans skip nothing) until
 * tind_keyspace_open() is given the same name with the function again. */
typedef size_t (*tind_prefix_fn)(void *ctx, const void *key, size_t klen);
TIND_API void tind_ks_options_set_prefix_callback(tind_ks_options *o, const char *name, tind_prefix_fn fn,
                                                  void *ctx);
/* whole_keys = 1 (default): filters hold whole keys and prefixes, serving
 * point reads and scans. 0: prefixes only (smaller filters; point reads of
 * the keyspace no longer use filters; such tables are format 3, which tind
 * 0.2 cannot read). */
TIND_API void tind_ks_options_set_prefix_whole_keys(tind_ks_options *o, int whole_keys);

/* Opens the keyspace called name (1..255 bytes of UTF-8), creating it with
 * opts when it does not exist (the options are stored with it; opts of an
 * existing keyspace are ignored, but for a prefix extractor: see "prefix
 * filters" above). A keyspace with a prefix extractor or a zstd dictionary
 * is stored in a form tind 0.2 refuses (TIND_EVERSION at its tind_open).
 * The handle is owned by db and stays valid
 * until tind_close(db); opening the same name twice gives the same handle,
 * also from threads racing to create it (each gets the keyspace only once it
 * is complete and in the version file). An empty keyspace costs about 3 KiB of
 * memory; its memtable's filter and arena grow with the data it receives. */
TIND_API int tind_keyspace_open(tind_db *db, const char *name, const tind_ks_options *opts,
                                tind_keyspace **ks);
/* TIND_OK when a keyspace of that name exists, else TIND_NOT_FOUND. */
TIND_API int tind_keyspace_exists(tind_db *db, const char *name);
/* The names of every keyspace, sorted. *names is one malloc'd array of
 * NUL-terminated strings: free it with tind_free(*names) (one call). */
TIND_API int tind_keyspace_list(tind_db *db, char ***names, size_t *count);
/* Deletes a keyspace and its data. Durable when it returns, together with
 * every write made before it (the journal is synced first). Its handle stays
 * allocated until tind_close() but every call on it fails with TIND_ENOENT. */
TIND_API int tind_keyspace_delete(tind_db *db, const char *name);
TIND_API const char *tind_keyspace_name(const tind_keyspace *ks);   /* owned by ks */

/* Describing a keyspace's options (issue 16).
 * tind_keyspace_options: the options ks is open with -- those stored at its
 * creation, with the callbacks (merge operator, compaction filter, prefix
 * extractor) given at this open -- as a new options object: free it with
 * tind_ks_options_free; it can create another keyspace alike. TIND_EINVAL
 * for a NULL out, TIND_ENOENT for a deleted keyspace, TIND_ENOMEM.
 * tind_ks_options_format: o as text, one "name = value" line per option in a
 * fixed order, names as the setters' (memtable_size, compression, ...); a
 * per-level option lists one value per level from level 0 ("lz4 lz4 zstd:3");
 * a callback shows as "callback" (its name where it has one), never its
 * address. *out is NUL-terminated, freed with tind_free. TIND_EINVAL for NULL
 * arguments. Both are safe from any thread; o must not change meanwhile. */
TIND_API int tind_keyspace_options(tind_keyspace *ks, tind_ks_options **out);
TIND_API int tind_ks_options_format(const tind_ks_options *o, char **out);

/* ======================================================================
 * Writes
 * ====================================================================== */

/* Key: 1..TIND_MAX_KEY_SIZE bytes (TIND_EINVAL when empty or NULL with a
 * length, TIND_ETOOBIG when longer); value: 0..TIND_MAX_VALUE_SIZE bytes
 * (TIND_ETOOBIG beyond; TIND_EINVAL when NULL with a length). The write is
 * durable per the database's default durability. */
TIND_API int tind_put(tind_keyspace *ks, const void *key, size_t klen, const void *val, size_t vlen);
TIND_API int tind_remove(tind_keyspace *ks, const void *key, size_t klen);

/* ---- per-call durability (issue 15) ----
 * tind_put_opt / tind_remove_opt are tind_put / tind_remove with the
 * durability of this one write taken from wo (wo NULL, or no durability set
 * on it: the database default). The modes are those of tind_persist_mode:
 * a SYNC_DATA / SYNC_ALL write returns once the journal holding it is
 * fdatasync'd / fsync'd (concurrent writes share that sync: group commit).
 * tind_write_options_new returns NULL when out of memory;
 * tind_write_options_set_durability ignores an unknown mode (wo keeps its
 * setting) and a NULL wo. Statuses: those of tind_put / tind_remove.
 * Thread-safety: a tind_write_options is plain settings; one may be shared
 * by threads that only read it (tind_put_opt does). */
typedef struct tind_write_options tind_write_options;
TIND_API tind_write_options *tind_write_options_new(void);
TIND_API void tind_write_options_free(tind_write_options *wo);
TIND_API void tind_write_options_set_durability(tind_write_options *wo, int mode);
TIND_API int tind_put_opt(tind_keyspace *ks, const void *key, size_t klen, const void *val, size_t vlen,
                          const tind_write_options *wo);
TIND_API int tind_remove_opt(tind_keyspace *ks, const void *key, size_t klen, const tind_write_options *wo);

TIND_API int tind_batch_new(tind_db *db, tind_batch **b);
TIND_API void tind_batch_free(tind_batch *b);
TIND_API int tind_batch_put(tind_batch *b, tind_keyspace *ks, const void *key, size_t klen,
                            const void *val, size_t vlen);
TIND_API int tind_batch_remove(tind_batch *b, tind_keyspace *ks, const void *key, size_t klen);
/* tind_batch_put / _remove check the key and value as tind_put does, and
 * that the batch stays within TIND_MAX_BATCH_BYTES; on an error the batch
 * is unchanged and still usable. */
/* Durability of this batch's commit (default: the database default); an
 * unknown mode is ignored (the batch keeps its durability). */
TIND_API void tind_batch_set_durability(tind_batch *b, int mode);
TIND_API size_t tind_batch_count(const tind_batch *b);
TIND_API void tind_batch_clear(tind_batch *b);
/* Applies every operation atomically (all visible at once, all or none after
 * a crash) and clears the batch, which can be reused. */
TIND_API int tind_batch_commit(tind_batch *b);

/* ---- range deletions and clear (issue 13) ----
 * tind_remove_range deletes every key k of ks with lo <= k < hi (memcmp
 * order, a shorter key before its extensions), as one operation: O(1) to
 * write whatever the number of keys (one journal op holding lo and hi), and
 * durable per the database's default durability, like tind_remove.
 * Bounds: 0..TIND_MAX_KEY_SIZE bytes each (TIND_ETOOBIG beyond; TIND_EINVAL
 * when NULL with a length). A bound of length 0 is open: lo from the first
 * key, hi to the last. lo == hi is an empty range: TIND_OK, nothing written.
 * lo > hi (both given) is TIND_EINVAL, nothing written.
 * Readers: tind_get, cursors in both directions, seeks and snapshots see the
 * deletion exactly as if every key in the range had been removed at that
 * point of the write order (a snapshot taken before it still sees the keys;
 * a key put after it is visible). Space: deleted entries go in compaction,
 * and a table whose whole key range the deletion covers is dropped without
 * being read. Reads cost one binary search per source holding range
 * deletions, not one per deletion.
 * Thread-safety: as tind_remove (any thread, concurrently with anything). */
TIND_API int tind_remove_range(tind_keyspace *ks, const void *lo, size_t lolen, const void *hi,
                               size_t hilen);
/* The same inside a batch (applied atomically with the batch's other
 * operations, after those added before it). Argument checks as above; an
 * empty range adds nothing (tind_batch_count is unchanged). */
TIND_API int tind_batch_remove_range(tind_batch *b, tind_keyspace *ks, const void *lo, size_t lolen,
                                     const void *hi, size_t hilen);
/* Deletes every key of ks: tind_remove_range(ks, NULL, 0, NULL, 0). Journal-
 * safe by construction: it is one journal op, so after a crash the keyspace
 * is either cleared or not, never half; writes made after it survive it.
 * The keyspace (handle, name, options) stays. Its space comes back as
 * compaction reaches the old tables (tind_compact(ks) does it at once: the
 * tables are dropped without being read). */
TIND_API int tind_keyspace_clear(tind_keyspace *ks);

/* ======================================================================
 * Merge operator, single delete and compaction filters
 * ====================================================================== */

/* ---- merge operator ----
 * A keyspace may have a merge operator: tind_merge(ks, key, operand) records
 * an operand, and reads combine the operands of a key with the value under
 * them (RocksDB's merge operator). A read collects the key's operands newest
 * to oldest down to a value, a deletion or the oldest entry, and calls
 * full_merge(base, operands oldest first); compaction does the same when it
 * meets the base (or knows nothing older lies below), and otherwise combines
 * adjacent operands with partial_merge when there is one. get, contains,
 * value_size, first, last and iterators in both directions see merged values.
 * A base value separated into a blob file (key-value separation) is loaded
 * and merged as the value, by reads and by compaction (which writes the
 * merged value, separated again at or above the threshold; the old blob
 * becomes garbage).
 *
 * Callbacks: called from any thread (readers, background workers), possibly
 * at once; they must be pure functions of their arguments (a read and a
 * compaction must get the same answer), must not call into tind, and return
 * TIND_OK with *out set to a buffer made with malloc (tind frees it with
 * free(); *out may be NULL when *outlen is 0), or any other value to fail.
 * A failed full merge fails the read with TIND_ECORRUPT ("merge operator
 * 'name' failed on key ..." in tind_errmsg), as RocksDB's corruption status;
 * compaction then keeps the operands as they are, so nothing is lost.
 * partial_merge may return TIND_ENOTSUP to decline (the operands stay). */
typedef int (*tind_merge_full_fn)(void *ctx, const void *key, size_t klen, const void *base, size_t blen,
                                  int has_base, const void *const *operands, const size_t *operand_lens,
                                  size_t count, void **out, size_t *outlen);
typedef int (*tind_merge_partial_fn)(void *ctx, const void *key, size_t klen, const void *const *operands,
                                     const size_t *operand_lens, size_t count, void **out, size_t *outlen);
#define TIND_MERGE_NAME_MAX 64u   /* bytes of an operator's name */
/* Sets a user merge operator: name (1..64 bytes, not starting with "tind.")
 * is stored with a keyspace created with it; a later tind_keyspace_open of
 * that keyspace with an operator of another name is TIND_EINVAL. full is
 * required; partial may be NULL; ctx is passed to both. The callbacks are not
 * stored: give them on every tind_keyspace_open after tind_open (the first
 * open that gives them attaches them to the keyspace; the operator of a
 * keyspace cannot change while the database is open). Until then, reads of a
 * key holding operands fail with TIND_ENOTSUP, and compaction keeps
 * operands as they are. name NULL removes the operator from the options. */
TIND_API void tind_ks_options_set_merge_operator(tind_ks_options *o, const char *name, tind_merge_full_fn full,
                                                 tind_merge_partial_fn partial, void *ctx);
/* Built-in operators, stored with the keyspace (they need no callbacks and
 * are attached at every open):
 *   TIND_MERGE_COUNTER ("tind.counter"): values and operands are unsigned
 *     64-bit integers, 8 bytes little-endian; the result is base (0 when
 *     none) plus every operand, modulo 2^64. A base or operand of another
 *     length fails the merge (TIND_ECORRUPT).
 *   TIND_MERGE_APPEND ("tind.append"): the base followed by each operand,
 *     oldest first, with sep (0..16 bytes) between each two pieces (none
 *     before the first when there is no base).
 * sep is ignored by the counter; a sep over 16 bytes or an unknown kind
 * makes tind_keyspace_open fail with TIND_EINVAL. */
enum tind_merge_builtin {
    TIND_MERGE_NONE    = 0,
    TIND_MERGE_COUNTER = 1,
    TIND_MERGE_APPEND  = 2,
};
TIND_API void tind_ks_options_set_merge_builtin(tind_ks_options *o, int kind, const void *sep, size_t seplen);
/* Records a merge operand for key (checked as tind_put checks a key and a
 * value). The keyspace need not have an operator to accept operands; reads
 * of the key need one. */
TIND_API int tind_merge(tind_keyspace *ks, const void *key, size_t klen, const void *operand, size_t olen);
TIND_API int tind_batch_merge(tind_batch *b, tind_keyspace *ks, const void *key, size_t klen, const void *operand,
                              size_t olen);

/* ---- single delete ----
 * tind_single_remove deletes key as tind_remove does for every read, and is
 * cheaper in compaction: the single delete and the put it cancels both
 * vanish as soon as a compaction sees them together with a deletion (or
 * nothing at all) under the put, instead of a remove travelling to the last
 * level. The contract (RocksDB's SingleDelete): the key was put at most once
 * since it was last removed (or created), and not merged. Unlike RocksDB,
 * tind reads never depend on the contract: where compaction cannot prove
 * that nothing older lies under the put, the pair becomes a remove. A
 * broken contract that compaction can see -- a single delete directly over
 * a remove, another single delete or a merge operand of the same key, with
 * no snapshot between them -- is counted in tind_ks_stats'
 * single_delete_violations, and `tind verify` lists the keys whose tables
 * hold it; a second put is not detectable (it looks like a put whose older
 * remove compaction dropped) and only costs the saving. */
TIND_API int tind_single_remove(tind_keyspace *ks, const void *key, size_t klen);
TIND_API int tind_batch_single_remove(tind_batch *b, tind_keyspace *ks, const void *key, size_t klen);

/* ---- compaction filters ----
 * A callback that sees each value a flush or compaction writes that no live
 * snapshot can see (the newest version of its key, newer than every
 * snapshot; values seen by a snapshot are never filtered, and are filtered
 * once the snapshot is gone and a compaction rewrites them), with the level
 * written to and the entry's seqno (0 once a compaction at the bottom has
 * made it visible to every reader). It returns TIND_FILTER_KEEP,
 * TIND_FILTER_REMOVE (the key reads as removed: a deletion takes its place,
 * so older versions below do not resurface) or TIND_FILTER_REPLACE (*new_val
 * made with malloc, freed by tind with free(), becomes the value). Merge
 * operands, the values compaction makes of them, and deletions are not
 * shown to it. Values separated into blob files (key-value separation) are
 * shown whole: compaction loads each one it shows the filter (a blob read;
 * a damaged blob file fails the job with TIND_ECORRUPT), keeps its pointer
 * when the filter keeps it, and counts its blob as garbage when the filter
 * removes or replaces it. Any other return fails the job with TIND_ECORRUPT naming the
 * key (the background error; the job is retried). Called from background workers (and tind_flush / tind_compact
 * callers), possibly at once; it must not call into tind. Like the merge
 * callbacks it is not stored: give it on every tind_keyspace_open. */
enum tind_filter_decision {
    TIND_FILTER_KEEP    = 0,
    TIND_FILTER_REMOVE  = 1,
    TIND_FILTER_REPLACE = 2,
};
typedef int (*tind_compaction_filter_fn)(void *ctx, int level, const void *key, size_t klen, const void *val,
                                         size_t vlen, uint64_t seqno, void **new_val, size_t *new_vlen);
/* fn NULL removes the filter from the options. */
TIND_API void tind_ks_options_set_compaction_filter(tind_ks_options *o, tind_compaction_filter_fn fn, void *ctx);
/* Built-in per-key TTL filter (on = 1; stored with the keyspace): every value
 * of the keyspace starts with an 8-byte big-endian unsigned expiry time in
 * unix seconds (0 = never expires). Compaction removes a value whose expiry
 * time is <= the current time, under the filter rules above; values shorter
 * than 8 bytes are kept. Separated values are checked too (compaction loads
 * their blob, as for the compaction filter). Reads do not check the time: an expired value is
 * read until a compaction removes it (see set_periodic_compaction). */
TIND_API void tind_ks_options_set_value_ttl(tind_ks_options *o, int on);
/* Leveled and tiered keyspaces: when no other compaction is due, a table
 * older than seconds (from the flush or compaction that wrote it) is
 * compacted (leveled: into the next level, or rewritten in place at the last
 * level; tiered: the oldest such run rewritten alone), so that filters
 * such as the TTL filter act on data that receives no writes (0 = never,
 * the default; stored with the keyspace). Background workers look every
 * second. */
TIND_API void tind_ks_options_set_periodic_compaction(tind_ks_options *o, uint64_t seconds);

/* ======================================================================
 * Reads
 * ====================================================================== */
TIND_API int tind_snapshot_new(tind_db *db, tind_snapshot **s);
TIND_API void tind_snapshot_free(tind_snapshot *s);
TIND_API uint64_t tind_snapshot_seqno(const tind_snapshot *s);

TIND_API tind_read_options *tind_read_options_new(void);
TIND_API void tind_read_options_free(tind_read_options *ro);
/* Reads see the snapshot (NULL = the latest state). The snapshot must outlive
 * the reads and iterators that use it. */
TIND_API void tind_read_options_set_snapshot(tind_read_options *ro, const tind_snapshot *s);
/* Whether data blocks and blob values a read misses are added to the block
 * and blob caches (default 1), for gets and iterators alike (a scan that
 * should not evict the working set); index and filter blocks are cached
 * either way. */
TIND_API void tind_read_options_set_fill_cache(tind_read_options *ro, int on);

/* Copies the value into *val, a malloc'd buffer the caller frees with
 * tind_free() (non-NULL even for an empty value). TIND_NOT_FOUND when absent.
 * ro may be NULL. */
TIND_API int tind_get(tind_keyspace *ks, const void *key, size_t klen, const tind_read_options *ro,
                      void **val, size_t *vlen);
/* TIND_OK when present, TIND_NOT_FOUND when absent. */
TIND_API int tind_contains(tind_keyspace *ks, const void *key, size_t klen, const tind_read_options *ro);
TIND_API int tind_value_size(tind_keyspace *ks, const void *key, size_t klen, const tind_read_options *ro,
                             uint64_t *size);

/* ---- reads into the caller's buffer (issue 15) ----
 * tind_get_into reads like tind_get (snapshots, transactions'
 * read-your-own-writes, merge operands, range deletions, values in blob
 * files) but copies the value into buf instead of a malloc'd buffer: no
 * allocation is handed to the caller. On TIND_OK *vlen is the value's size
 * and buf holds its first min(cap, *vlen) bytes: the value is whole exactly
 * when *vlen <= cap; otherwise call again with a buffer of *vlen bytes
 * (cap = 0, buf may then be NULL, only asks for the size, as
 * tind_value_size). TIND_NOT_FOUND when absent (*vlen = 0); vlen NULL, or
 * buf NULL with cap > 0, is TIND_EINVAL; other failures as tind_get (the
 * message in tind_errmsg). buf is written only on TIND_OK. Thread-safety:
 * as tind_get (any thread, concurrently with writers and other readers;
 * buf belongs to the caller). */
TIND_API int tind_get_into(tind_keyspace *ks, const void *key, size_t klen, const tind_read_options *ro, void *buf,
                           size_t cap, size_t *vlen);

/* ---- batched point reads (issue 15) ----
 * tind_multi_get reads the n keys keys[i] (klens[i] bytes) at one state:
 * every key sees the same snapshot (ro's, or the latest state when the call
 * begins), as one transaction's reads would, with tind_get's rules
 * (transactions, merge operands, range deletions, blob files). The keys are
 * looked up in key order, so neighbours share the blocks the previous one
 * brought in. For each i: statuses[i] is TIND_OK (vals[i] is a malloc'd
 * copy of the value, free it with tind_free, non-NULL even when empty;
 * vlens[i] its size), TIND_NOT_FOUND (vals[i] NULL, vlens[i] 0), or the
 * error of that key (TIND_EINVAL for a bad key, TIND_ECORRUPT...). Returns
 * TIND_OK when every key was found or absent, else the status of the first
 * failed key in key order (its message in tind_errmsg; the other keys are
 * still read); TIND_EINVAL when n > 0 and an array is NULL (nothing
 * written). A key may appear more than once. Thread-safety: as tind_get. */
TIND_API int tind_multi_get(tind_keyspace *ks, size_t n, const void *const *keys, const size_t *klens,
                            const tind_read_options *ro, void **vals, size_t *vlens, int *statuses);
/* The smallest / largest key and its value (malloc'd, free with tind_free);
 * TIND_NOT_FOUND when the keyspace is empty. Any of the out pointers may be NULL. */
TIND_API int tind_first(tind_keyspace *ks, const tind_read_options *ro, void **key, size_t *klen,
                        void **val, size_t *vlen);
TIND_API int tind_last(tind_keyspace *ks, const tind_read_options *ro, void **key, size_t *klen,
                       void **val, size_t *vlen);
/* Approximate number of live keys (counts entries: cheap, may over-count). */
TIND_API int tind_approximate_len(tind_keyspace *ks, uint64_t *n);
/* Bytes the keyspace's tables and blob files take on disk. */
TIND_API int tind_disk_space(tind_keyspace *ks, uint64_t *bytes);
TIND_API void tind_free(void *p);

/* ---- cursors ----
 * An iterator sees one fixed state (its snapshot, or the latest state when it
 * was created) and stays valid while db is open; free it with tind_iter_free().
 * Key and value pointers stay valid until the iterator moves or is freed. */
/* Keys in [lo, hi). A bound given as NULL (length 0) is no bound; a non-NULL
 * bound of length 0 is the empty key, which sorts before every key: lo = ""
 * starts at the first key, hi = "" gives an empty range. A NULL bound with a
 * non-zero length is TIND_EINVAL, as are a bound over TIND_MAX_KEY_SIZE and
 * it = NULL; *it is NULL after any failure. */
TIND_API int tind_iter_range(tind_keyspace *ks, const void *lo, size_t lolen, const void *hi,
                             size_t hilen, const tind_read_options *ro, tind_iter **it);
/* Keys that start with prefix (plen = 0, prefix NULL or not: every key). */
TIND_API int tind_iter_prefix(tind_keyspace *ks, const void *prefix, size_t plen,
                              const tind_read_options *ro, tind_iter **it);
TIND_API void tind_iter_free(tind_iter *it);
TIND_API void tind_iter_first(tind_iter *it);
TIND_API void tind_iter_last(tind_iter *it);
/* First key >= key (within the bounds); klen = 0 (the empty key) is the first
 * key. A NULL key with a non-zero length ends the iteration with
 * tind_iter_status() TIND_EINVAL; so does it for seek_for_prev. */
TIND_API void tind_iter_seek(tind_iter *it, const void *key, size_t klen);
/* Last key <= key (within the bounds); klen = 0: no key (not valid). */
TIND_API void tind_iter_seek_for_prev(tind_iter *it, const void *key, size_t klen);
TIND_API void tind_iter_next(tind_iter *it);
TIND_API void tind_iter_prev(tind_iter *it);
TIND_API int tind_iter_valid(const tind_iter *it);
/* NULL when the iterator is not valid; klen / vlen may be NULL. A value in
 * a blob file (key-value separation) is read by tind_iter_value only, never
 * by a move, tind_iter_key or tind_iter_value_size; when that read fails
 * (a damaged or missing blob file: TIND_ECORRUPT naming file and offset),
 * tind_iter_value returns NULL, the iterator becomes invalid and
 * tind_iter_status returns the error. */
TIND_API const void *tind_iter_key(const tind_iter *it, size_t *klen);
TIND_API const void *tind_iter_value(tind_iter *it, size_t *vlen);
TIND_API uint64_t tind_iter_value_size(const tind_iter *it);
/* TIND_OK, or the error that ended the iteration (message: tind_errmsg). */
TIND_API int tind_iter_status(const tind_iter *it);

/* ---- reusing a cursor ----
 * tind_iter_refresh re-targets it to the keyspace's newest state, as if it
 * were created again with the same bounds (and read options), and leaves it
 * unpositioned (not valid): call tind_iter_first, _last, _seek or
 * _seek_for_prev next. It is cheap while no flush or compaction changed the
 * keyspace's tables since the iterator was made or last refreshed (the
 * merge of its sources is kept; a seek then costs what a seek costs); else
 * its sources are rebuilt from the current state. Key and value pointers the
 * iterator gave are invalid after the call. A refresh also clears an error
 * that ended the iteration (a retry), when the new state can be read.
 * Returns TIND_OK; TIND_EINVAL for it = NULL, or for an iterator that reads
 * a snapshot or a transaction (tind_read_options_set_snapshot / _set_txn:
 * it keeps its state); TIND_ENOENT when the keyspace was deleted,
 * TIND_ECLOSED when the database is closing, TIND_ENOMEM or a read error
 * (then the iterator is unchanged).
 * Same thread rules as every call on the iterator: one thread at a time. */
TIND_API int tind_iter_refresh(tind_iter *it);

/* ======================================================================
 * Transactions
 *
 * A transaction reads one snapshot (fixed at tind_txn_begin) plus its own
 * uncommitted writes, and applies its writes at commit as one atomic batch
 * (one journal record, across keyspaces, durable per its durability).
 * Reads go through the ordinary read calls and iterators: give them read
 * options with tind_read_options_set_txn(ro, txn). tind_get, tind_contains,
 * tind_value_size, tind_first, tind_last and iterators (range, prefix, both
 * directions, seek) then see the snapshot with the transaction's own puts
 * and removes merged over it (read-your-own-writes; an iterator sees the
 * writes made before it was created, and may or may not see later ones).
 *
 * Commit is serializable: it fails with TIND_ECONFLICT, applying nothing,
 * when a write committed after the transaction's snapshot (by another
 * transaction, tind_put, a batch) touched a key it read (present or absent),
 * a key in the span an iterator made through the transaction covered (from
 * the smallest to the largest key it stood on or sought, through a bound it
 * ran off: a key appearing between two it showed is a phantom), or a key it
 * writes. This prevents lost updates, write skew and phantoms; the caller
 * retries with a new transaction. An iterator made through a transaction
 * must not be moved while the transaction commits (one thread at a time). Reads with tind_read_options_set_untracked are not
 * checked. A transaction that wrote nothing always commits.
 *
 * Modes (flags of tind_txn_begin, OR-ed):
 *   TIND_TXN_OPTIMISTIC (0)  any number at once; nobody waits.
 *   TIND_TXN_SINGLE_WRITER   at most one such transaction is open at a time:
 *                            begin waits until the open one commits or rolls
 *                            back (readers and optimistic transactions never
 *                            wait). Two single-writer transactions never
 *                            conflict with each other; with other writers
 *                            they are checked as above.
 *   TIND_TXN_NOWAIT          with SINGLE_WRITER: TIND_EBUSY instead of waiting.
 *   TIND_TXN_READ_ONLY       a snapshot with a transaction's face: writes are
 *                            TIND_EINVAL, nothing is tracked, nothing checked.
 *
 * Keyspaces: a commit whose writes touch a deleted keyspace fails with
 * TIND_ENOENT; one that read a keyspace deleted since its snapshot conflicts.
 * Limits: keys and values as tind_put; the commit's batch as a tind_batch
 * (TIND_ETOOBIG at commit, nothing applied). A very long transaction beside
 * more than about 64 MiB of keys written by others conflicts at commit (the
 * log of recent writes it is checked against has been cut).
 *
 * Thread safety: a transaction is used by one thread at a time (like a
 * batch); different transactions may run in different threads at once.
 * tind_close refuses with TIND_EBUSY while a transaction is open.
 * Iterators made through a transaction stay valid after it ends (they keep
 * showing what they showed).
 * ====================================================================== */
typedef struct tind_txn tind_txn;

enum tind_txn_flags {
    TIND_TXN_OPTIMISTIC    = 0,
    TIND_TXN_SINGLE_WRITER = 1,
    TIND_TXN_NOWAIT        = 2,
    TIND_TXN_READ_ONLY     = 4,
};

/* Begins a transaction on db (flags above; unknown flags are TIND_EINVAL, as
 * READ_ONLY with SINGLE_WRITER). On TIND_OK *txn must be ended by
 * tind_txn_commit or tind_txn_rollback. TIND_EBUSY: SINGLE_WRITER|NOWAIT
 * while another single-writer transaction is open. A database opened
 * read-only allows only TIND_TXN_READ_ONLY (else TIND_ENOTSUP). */
TIND_API int tind_txn_begin(tind_db *db, int flags, tind_txn **txn);
/* Writes into the transaction (invisible to others until commit). Keys and
 * values are checked as tind_put checks them; ks must be of the
 * transaction's database. */
TIND_API int tind_txn_put(tind_txn *txn, tind_keyspace *ks, const void *key, size_t klen, const void *val,
                          size_t vlen);
TIND_API int tind_txn_remove(tind_txn *txn, tind_keyspace *ks, const void *key, size_t klen);
/* Merge operands (tind_merge) and single deletes (tind_single_remove) are
 * not carried by transactions: both are refused with TIND_ENOTSUP
 * (tind_errmsg says so) and leave the transaction as it was, still usable.
 * Write them with tind_merge / tind_single_remove or a batch. Reads through
 * a transaction of a key holding merge operands see the merged value at its
 * snapshot (or the transaction's own put / remove of the key), and a merge
 * or single delete committed by others after the snapshot on a key the
 * transaction read is a conflict like any other write. */
TIND_API int tind_txn_merge(tind_txn *txn, tind_keyspace *ks, const void *key, size_t klen, const void *operand,
                            size_t olen);
TIND_API int tind_txn_single_remove(tind_txn *txn, tind_keyspace *ks, const void *key, size_t klen);
/* A range deletion is not taken by a transaction in this version: always
 * TIND_ENOTSUP (TIND_EINVAL for a NULL txn), nothing written, the
 * transaction stays usable. Commit it outside with tind_remove_range or
 * tind_batch_remove_range. */
TIND_API int tind_txn_remove_range(tind_txn *txn, tind_keyspace *ks, const void *lo, size_t lolen, const void *hi,
                                   size_t hilen);
/* Durability of the commit (default: the database default); an unknown mode is ignored. */
TIND_API void tind_txn_set_durability(tind_txn *txn, int mode);
/* Validates and applies the writes atomically, then ends and frees txn
 * whatever the result (like LMDB's mdb_txn_commit): TIND_OK, TIND_ECONFLICT
 * (nothing applied: retry), or a write error as tind_batch_commit's. */
TIND_API int tind_txn_commit(tind_txn *txn);
/* Discards the writes, ends and frees txn. NULL is a no-op. */
TIND_API void tind_txn_rollback(tind_txn *txn);
/* The sequence number of the transaction's snapshot. */
TIND_API uint64_t tind_txn_seqno(const tind_txn *txn);
/* Reads given ro see txn (its snapshot and its own writes) and are tracked
 * for its commit; txn = NULL: no transaction. Replaces a snapshot set on ro
 * (tind_read_options_set_snapshot replaces a transaction): the last set
 * decides. txn must outlive the reads and iterator creations that use ro. */
TIND_API void tind_read_options_set_txn(tind_read_options *ro, tind_txn *txn);
/* Reads given ro (with a transaction) are not tracked: commit does not check
 * them (default 0). */
TIND_API void tind_read_options_set_untracked(tind_read_options *ro, int on);

/* ======================================================================
 * Change feed and replication (issue 17)
 *
 * Every committed batch has sequence numbers first .. first + count - 1
 * (one per operation), given out in commit order across all keyspaces and
 * kept across reopen. The change feed reads the committed batches back from
 * the journals, in seqno order, each batch whole; a replica applies them
 * with tind_batch_commit_at so that it holds the same state at the same
 * seqnos (docs/REPLICATION.md).
 * ====================================================================== */
typedef struct tind_changes tind_changes;       /* a change feed cursor */

/* Operation kinds of a change. Values are part of the ABI. */
enum tind_change_type {
    TIND_CHANGE_OTHER  = 0,  /* a kind this version cannot describe (key only) */
    TIND_CHANGE_PUT    = 1,
    TIND_CHANGE_REMOVE = 2,
    TIND_CHANGE_MERGE  = 3,  /* a merge operand (tind_merge): value = the operand */
    TIND_CHANGE_SINGLE_REMOVE = 4, /* a single delete (tind_single_remove) */
    /* a range deletion (tind_remove_range, tind_keyspace_clear): key = its
     * start lo (the one byte 00 for an open start), value = its end hi, vlen
     * 0 meaning no end; a replica applies it with
     * tind_batch_remove_range(b, ks, key, klen, value, vlen) */
    TIND_CHANGE_REMOVE_RANGE = 5,
};

/* One operation of a batch; the pointers are owned by the cursor and valid
 * until its next tind_changes_next or tind_changes_free. keyspace is the
 * keyspace's name, NULL when it has been deleted since (keyspace_id still
 * tells the operations of one keyspace apart). value is NULL (vlen 0) for a
 * remove and a single delete; for a merge it is the operand; for a range
 * deletion it is the end (see TIND_CHANGE_REMOVE_RANGE). */
typedef struct tind_change_op {
    int type;                    /* enum tind_change_type */
    const char *keyspace;
    uint32_t keyspace_id;
    const void *key;
    size_t klen;
    const void *value;
    size_t vlen;
} tind_change_op;

/* Journals no longer needed for recovery (their writes are in tables) are
 * kept while their sizes add up to at most bytes, the oldest deleted first,
 * so that a change feed can start that far back, also after a reopen
 * (default 0: only the journals recovery needs are kept). An open with a
 * smaller retention (a shell, a tool with the default) deletes the journals
 * beyond it at once: open the database with the same setting every time. */
TIND_API void tind_options_set_changes_retention(tind_options *o, uint64_t bytes);

/* The seqno of the last committed (visible) operation; 0 for a new
 * database. Any thread. */
TIND_API int tind_last_seqno(tind_db *db, uint64_t *seqno);

/* Opens a cursor on the batches committed from seqno on (0 is taken as 1):
 * each batch holding a seqno >= seqno, oldest first; a batch holding seqno
 * in its middle is given whole. TIND_ENOENT (the message naming the oldest
 * seqno still kept) when seqno was committed but its journal is deleted
 * already: the reader fell behind (see tind_options_set_changes_retention).
 * A live cursor is a registered reader: the journals from the one it reads
 * on are kept, beyond the retention, while they add up to at most the
 * database's max journal size (tind_options_set_max_journal_size); past
 * that the oldest go anyway and tind_changes_next returns TIND_ENOENT. A
 * seqno not committed yet is fine: the cursor waits for it. The cursor is
 * used by one thread at a time; tind_close refuses with TIND_EBUSY while it
 * lives: free it with tind_changes_free. *out is NULL after a failure. */
TIND_API int tind_changes_since(tind_db *db, uint64_t seqno, tind_changes **out);
/* Moves to the next batch: TIND_OK (read it with the calls below),
 * TIND_NOT_FOUND when no further batch is committed within timeout_ms (0:
 * do not wait; -1: wait until one is; the wait polls every millisecond), or
 * an error: TIND_ENOENT (fell behind), TIND_ECORRUPT (a damaged journal;
 * the message names it), TIND_ECLOSED. After TIND_NOT_FOUND the cursor can
 * be asked again. */
TIND_API int tind_changes_next(tind_changes *c, int timeout_ms);
/* The current batch's first seqno and operation count (0 when there is no
 * current batch); its operation i (NULL when i >= count). */
TIND_API uint64_t tind_changes_seqno(const tind_changes *c);
TIND_API size_t tind_changes_count(const tind_changes *c);
TIND_API const tind_change_op *tind_changes_op(const tind_changes *c, size_t i);
TIND_API void tind_changes_free(tind_changes *c);

/* Commits b as tind_batch_commit does, on the condition that its first
 * operation gets seqno: a replica applying its leader's batches in order
 * (from a change feed or a consensus log) gives each the seqno it had on the
 * leader. TIND_EEXIST ("already applied": changes nothing, b is kept) when
 * seqno <= tind_last_seqno, TIND_ECONFLICT (a gap: earlier batches are
 * missing; nothing changes) when seqno > tind_last_seqno + 1, TIND_EINVAL
 * when seqno is 0. An empty batch is TIND_OK and changes nothing. */
TIND_API int tind_batch_commit_at(tind_batch *b, uint64_t seqno);

/* ======================================================================
 * Maintenance and statistics
 * ====================================================================== */
/* Flushes the keyspace's memtables to tables and waits. The wait ends with
 * TIND_ENOENT when the keyspace is deleted meanwhile, TIND_ECLOSED when close
 * begins, TIND_EPOISONED, or the background job's error (TIND_ENOSPC, ...)
 * when the job fails while it waits (the job is retried later; the data stays
 * safe in the journal). */
TIND_API int tind_flush(tind_keyspace *ks);
/* Compacts every table of the keyspace into the last level and waits (a
 * keyspace with nothing to compact returns at once; a FIFO keyspace drops
 * what its limits say and returns). With key-value separation it also waits
 * until GC would collect none of the blob files the compaction left (their
 * live blobs moved, the files deleted), so the space a deletion freed is back
 * when it returns. The wait ends as tind_flush's does. */
TIND_API int tind_compact(tind_keyspace *ks);

/* ---- Waiting for background work (issue 15) ----
 * tind_wait_idle: waits until no flush or compaction (blob garbage collection
 * included) of any keyspace of db is pending or running: sealed memtables
 * flushed, and the compaction picker finds nothing more to do. It does not
 * seal the active memtables (tind_flush does) and does not stop new writes:
 * a writer racing it may make work again right after it returns. A level 0
 * the leveled picker defers (it holds fewer bytes than the level it would
 * merge into and fewer than twice the L0 threshold of tables) is not work:
 * it merges when later flushes grow it, and tind_db_stats's
 * pending_compaction_bytes counts it meanwhile (tind_compact merges it now).
 * timeout_ms < 0 waits without limit; 0 only checks. With the background
 * threads off (tind_options_set_background_threads 0) the caller runs the
 * pending flushes and compactions itself, one at a time, checking the
 * timeout between them.
 * Returns TIND_OK when idle; TIND_EBUSY when work is still pending or running
 * at the timeout; the error of a background job that failed while it waited
 * (TIND_ENOSPC, TIND_EIO...; the job is retried later); TIND_ECLOSED when
 * close begins, TIND_EPOISONED; TIND_EINVAL for a NULL db. The message
 * (tind_errmsg) names the database and the cause.
 * Thread-safety: any number of threads may call it at once, beside writers,
 * readers and tind_flush / tind_compact. */
TIND_API int tind_wait_idle(tind_db *db, int64_t timeout_ms);

#define TIND_STATS_MAX_LEVELS 8
typedef struct tind_ks_stats {
    uint32_t levels;
    uint64_t tables[TIND_STATS_MAX_LEVELS];
    uint64_t level_bytes[TIND_STATS_MAX_LEVELS];
    uint64_t approximate_keys;
    uint64_t disk_bytes;
    uint64_t memtable_bytes;       /* active + sealed */
    uint64_t sealed_memtables;
    uint64_t user_bytes_written;   /* keys + values put by the user */
    uint64_t flush_bytes_written;
    uint64_t compaction_bytes_written;
    uint64_t compactions;
    uint64_t flushes;
    uint64_t cache_hits;           /* database-wide block cache */
    uint64_t cache_misses;
    uint64_t write_stalls;         /* database-wide: writers that waited */
    uint64_t write_slowdowns;
    /* key-value separation: the keyspace's blob files (their bytes are in
     * disk_bytes too), their record bytes no pointer needs any more, and
     * the values loaded from blob files by reads (gets and iterators) */
    uint64_t blob_files;
    uint64_t blob_bytes;
    uint64_t blob_garbage_bytes;
    uint64_t blob_reads;
    uint64_t single_delete_violations; /* broken single delete contracts compaction met */
    uint64_t merge_failures;       /* merge callbacks that failed in compaction (operands kept) */
    /* prefix filters: tables whose filter a prefix scan asked, and those
     * it skipped because the filter lacked the prefix (since open); a level-0
     * table whose key range lies outside the prefix counts in both, skipped
     * without reading its filter */
    uint64_t prefix_checked;
    uint64_t prefix_skipped;
} tind_ks_stats;
TIND_API int tind_ks_stats_get(tind_keyspace *ks, tind_ks_stats *out);

/* ---- database-wide statistics: where the memory goes (issue 15) ----
 * What the database holds in memory, by the accounting tind keeps, and what
 * its background work has pending. Every byte figure is tind's own count of
 * what it took from malloc (payloads plus the bookkeeping it charges), not
 * the process's RSS: malloc's own overhead and fragmentation come on top
 * (docs/ARCHITECTURE.md, "Memory"). The figures are read one after another
 * without a global lock, so under concurrent work they need not add up
 * exactly; each is exact for some moment during the call. */
typedef struct tind_db_stats {
    /* the block cache (data, index and filter blocks of tables, values read
     * from blob files): shared by every keyspace */
    uint64_t cache_capacity;       /* tind_options_set_cache_size */
    uint64_t cache_usage;          /* bytes charged, held or not (pinned included) */
    uint64_t cache_pinned;         /* bytes of entries held now: the index and filter
                                    * blocks pinned by L0/L1 tables, blocks under reads
                                    * and cursors (may pass the capacity) */
    uint64_t cache_entries;        /* inserts - entries gone: blocks cached now */
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t cache_evictions;
    /* the blob cache (tind_options_set_blob_cache_size; all 0 without one):
     * values read from blob files */
    uint64_t blob_cache_capacity;
    uint64_t blob_cache_usage;     /* bytes charged, held or not */
    uint64_t blob_cache_entries;
    uint64_t blob_cache_hits;
    uint64_t blob_cache_misses;
    /* memtables of every keyspace */
    uint64_t write_buffer_size;    /* the limit (tind_options_set_write_buffer_size) */
    uint64_t memtable_bytes;       /* active + sealed, every keyspace */
    uint64_t active_memtable_bytes;
    uint64_t memtable_filter_bytes; /* the active memtables' point-read filters */
    /* flushes: sealed memtables wait for theirs */
    uint64_t pending_flushes;      /* sealed memtables, every keyspace */
    uint64_t pending_flush_bytes;  /* their bytes (part of memtable_bytes) */
    uint64_t running_flushes;
    /* compactions: keyspaces whose tree asks for one now, and an estimate of the
     * bytes that must move down for every level to be within its target (a
     * level 0 the picker defers counts in the bytes, not in the keyspaces:
     * see tind_wait_idle) */
    uint64_t pending_compactions;
    uint64_t pending_compaction_bytes;
    uint64_t running_compactions;
    /* files */
    uint64_t table_readers;        /* open tables of the current trees */
    uint64_t table_reader_bytes;   /* what they hold outside the cache: names, key
                                    * ranges, dictionaries, range tombstones, and the
                                    * index/filter blocks of tables read without a cache */
    uint64_t blob_readers;         /* open blob files of the current trees */
    uint64_t open_files;           /* descriptors held by the open-file cache */
    uint64_t journal_buffer_bytes; /* the write path's record buffer */
    /* handles and keyspaces */
    uint64_t keyspaces;
    uint64_t live_iterators;
    uint64_t live_snapshots;
    uint64_t live_transactions;
    /* cache_usage + blob_cache_usage + memtable_bytes + memtable_filter_bytes
     * + table_reader_bytes + journal_buffer_bytes + memtable_spare_bytes
     * + memtable_held_bytes: what tind accounts for in all */
    uint64_t memory_bytes;
    /* the memory of decoded blocks, for the whole process (shared by every
     * database in it): 2 MiB chunks on transparent huge pages, never given
     * back to the OS; a block the cache evicts leaves its bytes on a free
     * list for the next block of its size (docs/ARCHITECTURE.md, "Block
     * memory"). 0 in an AddressSanitizer build (blocks are malloc'd). */
    uint64_t block_memory_mapped;  /* bytes mapped for blocks */
    uint64_t block_memory_free;    /* of them, on the free lists */
    /* memory freed by flushed memtables and kept for the next ones (at most
     * half the write buffer, given back after 5 s unused; docs/ARCHITECTURE.md,
     * "Memory"): no page of a new memtable is faulted in and zeroed while
     * there is some */
    uint64_t memtable_spare_bytes;
    /* memtables no longer in any keyspace's tree (flushed, or their keyspace
     * dropped) that iterators still hold: an iterator keeps the memtables of
     * the view it was made or last refreshed from, and the one that was
     * active then goes on filling, so an idle iterator can keep a whole
     * memtable mapped after its flush (free or refresh iterators not in use) */
    uint64_t memtable_held_bytes;
} tind_db_stats;
/* Fills *out. TIND_EINVAL when db or out is NULL; TIND_ECLOSED once close has
 * begun. Thread-safe: any thread, any time, beside every other call; it
 * takes the database's locks briefly and blocks no writer for long. */
TIND_API int tind_db_stats_get(tind_db *db, tind_db_stats *out);

/* ======================================================================
 * Checkpoints, backups and bulk ingestion (issue 14)
 * ====================================================================== */
/* Writes a consistent, openable copy of the open database db to the new
 * folder dir, online: writers and background work go on meanwhile (they
 * are held for microseconds while the files are pinned). The copy holds
 * every write that returned before the call (whatever its durability) and
 * none that began after it returned; tind_open on dir recovers it as the
 * database would be after a crash at that moment. Tables and sealed
 * journals are hard-linked when dir is on the database's file system and
 * copied otherwise (so the copy takes little space and time beside the
 * database); the journal being written is copied. Everything is synced and
 * the folder appears atomically: the copy is built in "dir.tmp" and renamed
 * to dir, so after a crash dir is whole or absent (a leftover dir.tmp that
 * holds only a copy's files is removed by the next call; one another
 * checkpoint or restore is building, its dir.tmp/LOCK held, is left alone:
 * TIND_EBUSY). The copy of an
 * encrypted database is encrypted with its key and holds its ENCRYPTION
 * key check: it opens with the same key only.
 * Statuses: TIND_EINVAL (db or dir NULL or empty), TIND_EEXIST (dir exists,
 * or dir.tmp holds other files), TIND_EBUSY (dir.tmp is being built by
 * another call, in this process or another), TIND_ENOTSUP (db opened read-only),
 * TIND_EPOISONED, TIND_ECLOSED, I/O errors naming the file (a partial
 * dir.tmp is removed). Thread-safety: any thread, concurrently with every
 * call but tind_close; two checkpoints may run at once (to different dirs). */
TIND_API int tind_checkpoint(tind_db *db, const char *dir);

/* Progress of a long call (backups, ingestion): called from the calling
 * thread after each piece, with the bytes done so far and the total
 * (total may grow while an ingestion reads its input). */
typedef void (*tind_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* ---- incremental backups (RocksDB's BackupEngine is the model) ----
 * A backup folder holds any number of backups of one database. Tables are
 * immutable, so a table already in the folder (same number, table id and
 * size) is stored once and shared by every backup that holds it (blob
 * files of key-value separation likewise: same number, creation time,
 * records and size); each backup
 * has its own copy of the version file, FORMAT and the journals it needs.
 * Every file is recorded with its size and xxh3-64 checksum. Layout: see
 * docs/FORMAT.md "Backup folder". A backup exists once its description file
 * (meta/ID) is durable: a crash during tind_backup_create leaves the folder's
 * earlier backups as they were, and the next create or prune removes the
 * leftovers.
 * The calls that take no database record their error message as
 * tind_open's: read it with tind_errmsg(NULL).
 * Thread-safety and processes: a create or prune holds the folder's LOCK
 * file exclusively, list, verify and restore share it (TIND_EBUSY when it
 * conflicts); calls on different folders are independent. */
typedef struct tind_backup_info {
    uint64_t id;                  /* 1, 2, ... in creation order */
    uint64_t created_unix;        /* seconds */
    uint64_t seqno;               /* the database's last sequence number in it */
    uint64_t files;
    uint64_t bytes;               /* the size of every file it holds */
    uint64_t shared_bytes;        /* of which held by other backups too */
} tind_backup_info;

/* Backs up the open database db into the backup folder dir (created when
 * missing), online, as tind_checkpoint does: the backup holds every write
 * that returned before the call. Copies only the tables the folder does not
 * hold yet; everything written is synced. progress (may be NULL) sees the
 * bytes copied of the backup's total. *id (may be NULL) gets the new
 * backup's id. Statuses: those of tind_checkpoint, TIND_EBUSY (the folder
 * is in use), TIND_ECORRUPT (a description file of the folder is damaged). */
TIND_API int tind_backup_create(tind_db *db, const char *dir, tind_progress_fn progress, void *ctx,
                                uint64_t *id);
/* The backups of folder dir, oldest first: *list is one malloc'd array of
 * *count entries (NULL when 0), freed with tind_free. TIND_ENOENT when dir
 * is not a backup folder, TIND_ECORRUPT when a description is damaged. */
TIND_API int tind_backup_list(const char *dir, tind_backup_info **list, size_t *count);
/* Checks backup id of dir (0 = every backup; a file several of them share
 * is read once): every file's size and checksum, then each table's blocks (tind verify's table checks), each blob file's records, each
 * journal's records and the version file. A backup of an encrypted database
 * holds its files encrypted (and its ENCRYPTION key check; a restore opens
 * with the same key only): sizes and checksums are of the stored bytes, and
 * verify checks only those (the structure checks would need the key). TIND_OK, TIND_ECORRUPT naming the
 * first bad file (tind_errmsg(NULL)), TIND_NOT_FOUND (no such backup). */
TIND_API int tind_backup_verify(const char *dir, uint64_t id, tind_progress_fn progress, void *ctx);
/* Restores backup id of dir (0 = the newest) into the new database folder
 * target (TIND_EEXIST when it exists), checking every file's checksum as it
 * is copied (TIND_ECORRUPT, nothing left behind). Built in target.tmp,
 * synced, then renamed: target appears whole or not at all (target.tmp as
 * dir.tmp for tind_checkpoint: a leftover removed, one being built
 * TIND_EBUSY). */
TIND_API int tind_backup_restore(const char *dir, uint64_t id, const char *target, tind_progress_fn progress,
                                 void *ctx);
/* Deletes every backup of dir but the newest `keep` (>= 1; TIND_EINVAL
 * otherwise), and the files no remaining backup holds; *deleted (may be
 * NULL) gets the number of backups deleted. */
TIND_API int tind_backup_prune(const char *dir, size_t keep, size_t *deleted);

/* ---- bulk ingestion ----
 * The input callback: on each call, point *key / *val at the next entry
 * (borrowed until the next call) and return 1; return 0 at the end, or a
 * negative TIND_E... status to abort the ingestion with it. */
typedef int (*tind_ingest_next_fn)(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen);
#define TIND_INGEST_SORTED 1  /* the input's keys are strictly increasing (memcmp order) */

/* Loads key-value pairs into ks straight into tables, bypassing the journal
 * and the memtables: atomic (all the pairs become visible at once, or none,
 * also across a crash) and durable when it returns. Each pair behaves as a
 * put made at the start of the call: it replaces older values of its key,
 * and snapshots taken before the call do not see it. With
 * TIND_INGEST_SORTED the input is streamed (memory: a table's buffers, and
 * with background threads on 4 MiB of copied input, as the tables are then
 * written on a thread of the call's own while the callback runs on the
 * caller's, and 2 x threads + 2 batches of about 128 KiB of blocks, raw
 * and compressed, with the encode threads, below) and a key not above its predecessor fails the call (TIND_EINVAL,
 * naming the entry); otherwise the input is sorted in runs of at most memory_limit
 * bytes (0 = 64 MiB) spilled to temporary tables in the database folder and
 * merged, and of the entries with the same key the last one given wins.
 * The tables go to the deepest level whose tables (and those above it) do
 * not overlap the key range of the input: the last level for fresh keys
 * (level 0 when level 0 overlaps, and always for tiered and FIFO keyspaces).
 * The keyspace's memtables are flushed first. The pairs count as written at
 * the start of the call: a write into their key range made while the call
 * runs is newer and keeps winning; where that cannot be kept (compaction
 * moved it below where the tables go, or it came between the flush and the
 * start) the call fails with TIND_EBUSY, ingesting nothing. So it does when
 * a snapshot taken during the call is still live at its end (it would see
 * the pairs appear; the call waits up to 100 ms for it). While the call runs
 * it holds a snapshot of its own. progress (may be NULL) sees the
 * input bytes read (total 0 until the end); *count (may be NULL) gets the
 * number of entries written. Keys and values are checked as tind_put checks
 * them. A failed call ingested nothing, unless its version file write
 * failed: that poisons the database, and, as for a write failing with an
 * I/O error, the pairs may then be there after a reopen (all or none).
 * Key-value separation: ingested values stay in the tables, even
 * those at or above the keyspace's blob threshold (no blob file is
 * written); the compactions that later rewrite them separate them as they
 * separate any large inline value. Threads: with background threads on,
 * the call writes its tables on a thread of its own and has each table's
 * data blocks compressed by as many threads as the database's background
 * threads (it uses every core it is given); with them off, it runs on the
 * caller's thread alone. Thread-safety: as tind_put; concurrent ingestions into one keyspace
 * are serialized at their install. The change feed does not carry the
 * pairs: it shows an ingestion as a one-operation batch at its seqno, a put
 * of "ingest" into a keyspace id no keyspace has (keyspace NULL), so a
 * replica fed by tind_changes_since cannot replay it (replicate the data as
 * batches, or seed the replica from a checkpoint taken after it). */
TIND_API int tind_ingest(tind_keyspace *ks, tind_ingest_next_fn next, void *ctx, int flags, size_t memory_limit,
                         tind_progress_fn progress, void *progress_ctx, uint64_t *count);

#ifdef __cplusplus
}
#endif
#endif /* TIND_H */
