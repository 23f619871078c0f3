"""The cffi declarations of include/tind.h and the loading of libtind.so.

ABI mode (ffi.cdef + ffi.dlopen): nothing is compiled at install or import
time. cffi releases the GIL around every call into the library, so a Python
thread blocked in tind's I/O never stops the others.

Only the public API of include/tind.h is declared. Key and value pointers are
declared `const char *` where the header says `const void *` (the same ABI):
cffi then passes a bytes object's own buffer without a copy.

The library is found, in order: the path in the TIND_LIBRARY environment
variable; a libtind.so* next to this package; the system loader
(libtind.so.0, then libtind.so).
"""

import glob
import os

from cffi import FFI

CDEF = """
enum tind_status {
    TIND_OK = 0, TIND_NOT_FOUND = -1, TIND_EINVAL = -2, TIND_ENOMEM = -3,
    TIND_EIO = -4, TIND_ECORRUPT = -5, TIND_ENOSPC = -6, TIND_EBUSY = -7,
    TIND_EPOISONED = -8, TIND_EVERSION = -9, TIND_EEXIST = -10,
    TIND_ETOOBIG = -11, TIND_ECLOSED = -12, TIND_ENOTSUP = -13,
    TIND_ECONFLICT = -14, TIND_ENOENT = -15, TIND_EMFILE = -16
};
enum tind_persist_mode {
    TIND_PERSIST_NONE = -1, TIND_PERSIST_BUFFER = 0,
    TIND_PERSIST_SYNC_DATA = 1, TIND_PERSIST_SYNC_ALL = 2
};
enum tind_compression {
    TIND_COMPRESSION_NONE = 0, TIND_COMPRESSION_LZ4 = 1, TIND_COMPRESSION_ZSTD = 2
};
enum tind_compaction {
    TIND_COMPACTION_LEVELED = 0, TIND_COMPACTION_TIERED = 1, TIND_COMPACTION_FIFO = 2
};

typedef struct tind_db tind_db;
typedef struct tind_keyspace tind_keyspace;
typedef struct tind_options tind_options;
typedef struct tind_ks_options tind_ks_options;
typedef struct tind_read_options tind_read_options;
typedef struct tind_write_options tind_write_options;
typedef struct tind_batch tind_batch;
typedef struct tind_snapshot tind_snapshot;
typedef struct tind_iter tind_iter;

const char *tind_version(void);
const char *tind_strerror(int status);
const char *tind_errmsg(tind_db *db);

tind_options *tind_options_new(void);
void tind_options_free(tind_options *o);
void tind_options_set_create_if_missing(tind_options *o, int on);
void tind_options_set_cache_size(tind_options *o, size_t bytes);
void tind_options_set_blob_cache_size(tind_options *o, size_t bytes);
void tind_options_set_write_buffer_size(tind_options *o, size_t bytes);
void tind_options_set_journal_file_size(tind_options *o, uint64_t bytes);
void tind_options_set_max_journal_size(tind_options *o, uint64_t bytes);
void tind_options_set_journal_compression_threshold(tind_options *o, uint32_t bytes);
void tind_options_set_background_threads(tind_options *o, int n);
void tind_options_set_sync_interval_ms(tind_options *o, uint32_t ms);
void tind_options_set_max_open_files(tind_options *o, int n);
void tind_options_set_default_durability(tind_options *o, int mode);
void tind_options_set_read_only(tind_options *o, int on);
int tind_options_set_encryption_key(tind_options *o, const void *key, size_t len);
typedef int (*tind_key_fn)(void *ctx, uint8_t key[32]);
void tind_options_set_encryption_key_fn(tind_options *o, tind_key_fn fn, void *ctx);
int tind_rekey(const char *path, const tind_options *opts, const void *new_key, size_t len);

int tind_open(const char *path, const tind_options *opts, tind_db **db);
int tind_close(tind_db *db);
int tind_persist(tind_db *db, int mode);

tind_ks_options *tind_ks_options_new(void);
void tind_ks_options_free(tind_ks_options *o);
void tind_ks_options_set_memtable_size(tind_ks_options *o, size_t bytes);
void tind_ks_options_set_compaction(tind_ks_options *o, int strategy);
void tind_ks_options_set_l0_threshold(tind_ks_options *o, int tables);
void tind_ks_options_set_table_size(tind_ks_options *o, uint64_t bytes);
void tind_ks_options_set_level_ratio(tind_ks_options *o, int ratio);
void tind_ks_options_set_levels(tind_ks_options *o, int levels);
void tind_ks_options_set_block_size(tind_ks_options *o, uint32_t bytes);
void tind_ks_options_set_restart_interval(tind_ks_options *o, uint32_t n);
void tind_ks_options_set_hash_ratio(tind_ks_options *o, double ratio);
void tind_ks_options_set_compression(tind_ks_options *o, int level, int type, int zstd_level);
void tind_ks_options_set_bloom_bits(tind_ks_options *o, int level, double bits_per_key);
void tind_ks_options_set_partitioning(tind_ks_options *o, int from_level);
void tind_ks_options_set_expect_point_read_hits(tind_ks_options *o, int on);
void tind_ks_options_set_fifo(tind_ks_options *o, uint64_t max_bytes, uint64_t ttl_seconds);
void tind_ks_options_set_blob_separation(tind_ks_options *o, int on, uint64_t threshold);
void tind_ks_options_set_blob_file_size(tind_ks_options *o, uint64_t bytes);
void tind_ks_options_set_blob_compression(tind_ks_options *o, int type, int zstd_level);
void tind_ks_options_set_blob_gc(tind_ks_options *o, double ratio, double age_cutoff);
void tind_ks_options_set_zstd_dict(tind_ks_options *o, int level, uint32_t dict_bytes);
void tind_ks_options_set_prefix_fixed(tind_ks_options *o, size_t len);
void tind_ks_options_set_prefix_separator(tind_ks_options *o, int sep);
typedef size_t (*tind_prefix_fn)(void *ctx, const void *key, size_t klen);
void tind_ks_options_set_prefix_callback(tind_ks_options *o, const char *name, tind_prefix_fn fn, void *ctx);
void tind_ks_options_set_prefix_whole_keys(tind_ks_options *o, int whole_keys);

typedef int (*tind_merge_full_fn)(void *ctx, const void *key, size_t klen, const void *base, size_t blen,
                                  int has_base, const void *const *operands, const size_t *operand_lens,
                                  size_t count, void **out, size_t *outlen);
typedef int (*tind_merge_partial_fn)(void *ctx, const void *key, size_t klen, const void *const *operands,
                                     const size_t *operand_lens, size_t count, void **out, size_t *outlen);
enum tind_merge_builtin { TIND_MERGE_NONE = 0, TIND_MERGE_COUNTER = 1, TIND_MERGE_APPEND = 2 };
enum tind_filter_decision { TIND_FILTER_KEEP = 0, TIND_FILTER_REMOVE = 1, TIND_FILTER_REPLACE = 2 };
typedef int (*tind_compaction_filter_fn)(void *ctx, int level, const void *key, size_t klen, const void *val,
                                         size_t vlen, uint64_t seqno, void **new_val, size_t *new_vlen);
void tind_ks_options_set_merge_operator(tind_ks_options *o, const char *name, tind_merge_full_fn full,
                                        tind_merge_partial_fn partial, void *ctx);
void tind_ks_options_set_merge_builtin(tind_ks_options *o, int kind, const char *sep, size_t seplen);
void tind_ks_options_set_compaction_filter(tind_ks_options *o, tind_compaction_filter_fn fn, void *ctx);
void tind_ks_options_set_value_ttl(tind_ks_options *o, int on);
void tind_ks_options_set_periodic_compaction(tind_ks_options *o, uint64_t seconds);

int tind_keyspace_open(tind_db *db, const char *name, const tind_ks_options *opts,
                       tind_keyspace **ks);
int tind_keyspace_exists(tind_db *db, const char *name);
int tind_keyspace_list(tind_db *db, char ***names, size_t *count);
int tind_keyspace_delete(tind_db *db, const char *name);
const char *tind_keyspace_name(const tind_keyspace *ks);
int tind_keyspace_options(tind_keyspace *ks, tind_ks_options **out);
int tind_ks_options_format(const tind_ks_options *o, char **out);

int tind_put(tind_keyspace *ks, const char *key, size_t klen, const char *val, size_t vlen);
int tind_remove(tind_keyspace *ks, const char *key, size_t klen);
tind_write_options *tind_write_options_new(void);
void tind_write_options_free(tind_write_options *wo);
void tind_write_options_set_durability(tind_write_options *wo, int mode);
int tind_put_opt(tind_keyspace *ks, const char *key, size_t klen, const char *val, size_t vlen,
                 const tind_write_options *wo);
int tind_remove_opt(tind_keyspace *ks, const char *key, size_t klen, const tind_write_options *wo);
int tind_merge(tind_keyspace *ks, const char *key, size_t klen, const char *operand, size_t olen);
int tind_single_remove(tind_keyspace *ks, const char *key, size_t klen);

int tind_batch_new(tind_db *db, tind_batch **b);
void tind_batch_free(tind_batch *b);
int tind_batch_put(tind_batch *b, tind_keyspace *ks, const char *key, size_t klen,
                   const char *val, size_t vlen);
int tind_batch_remove(tind_batch *b, tind_keyspace *ks, const char *key, size_t klen);
int tind_remove_range(tind_keyspace *ks, const char *lo, size_t lolen, const char *hi, size_t hilen);
int tind_batch_remove_range(tind_batch *b, tind_keyspace *ks, const char *lo, size_t lolen, const char *hi,
                            size_t hilen);
int tind_keyspace_clear(tind_keyspace *ks);
int tind_batch_merge(tind_batch *b, tind_keyspace *ks, const char *key, size_t klen,
                     const char *operand, size_t olen);
int tind_batch_single_remove(tind_batch *b, tind_keyspace *ks, const char *key, size_t klen);
void tind_batch_set_durability(tind_batch *b, int mode);
size_t tind_batch_count(const tind_batch *b);
void tind_batch_clear(tind_batch *b);
int tind_batch_commit(tind_batch *b);

int tind_snapshot_new(tind_db *db, tind_snapshot **s);
void tind_snapshot_free(tind_snapshot *s);
uint64_t tind_snapshot_seqno(const tind_snapshot *s);

tind_read_options *tind_read_options_new(void);
void tind_read_options_free(tind_read_options *ro);
void tind_read_options_set_snapshot(tind_read_options *ro, const tind_snapshot *s);
void tind_read_options_set_fill_cache(tind_read_options *ro, int on);

int tind_get(tind_keyspace *ks, const char *key, size_t klen, const tind_read_options *ro,
             void **val, size_t *vlen);
int tind_contains(tind_keyspace *ks, const char *key, size_t klen, const tind_read_options *ro);
int tind_value_size(tind_keyspace *ks, const char *key, size_t klen, const tind_read_options *ro,
                    uint64_t *size);
int tind_get_into(tind_keyspace *ks, const char *key, size_t klen, const tind_read_options *ro,
                  void *buf, size_t cap, size_t *vlen);
int tind_multi_get(tind_keyspace *ks, size_t n, const void *const *keys, const size_t *klens,
                   const tind_read_options *ro, void **vals, size_t *vlens, int *statuses);
int tind_first(tind_keyspace *ks, const tind_read_options *ro, void **key, size_t *klen,
               void **val, size_t *vlen);
int tind_last(tind_keyspace *ks, const tind_read_options *ro, void **key, size_t *klen,
              void **val, size_t *vlen);
int tind_approximate_len(tind_keyspace *ks, uint64_t *n);
int tind_disk_space(tind_keyspace *ks, uint64_t *bytes);
void tind_free(void *p);

int tind_iter_range(tind_keyspace *ks, const char *lo, size_t lolen, const char *hi,
                    size_t hilen, const tind_read_options *ro, tind_iter **it);
int tind_iter_prefix(tind_keyspace *ks, const char *prefix, size_t plen,
                     const tind_read_options *ro, tind_iter **it);
void tind_iter_free(tind_iter *it);
void tind_iter_first(tind_iter *it);
void tind_iter_last(tind_iter *it);
void tind_iter_seek(tind_iter *it, const char *key, size_t klen);
void tind_iter_seek_for_prev(tind_iter *it, const char *key, size_t klen);
void tind_iter_next(tind_iter *it);
void tind_iter_prev(tind_iter *it);
int tind_iter_valid(const tind_iter *it);
const void *tind_iter_key(const tind_iter *it, size_t *klen);
const void *tind_iter_value(tind_iter *it, size_t *vlen);
uint64_t tind_iter_value_size(const tind_iter *it);
int tind_iter_status(const tind_iter *it);
int tind_iter_refresh(tind_iter *it);

typedef struct tind_txn tind_txn;
enum tind_txn_flags {
    TIND_TXN_OPTIMISTIC = 0, TIND_TXN_SINGLE_WRITER = 1, TIND_TXN_NOWAIT = 2,
    TIND_TXN_READ_ONLY = 4
};
int tind_txn_begin(tind_db *db, int flags, tind_txn **txn);
int tind_txn_put(tind_txn *txn, tind_keyspace *ks, const char *key, size_t klen,
                 const char *val, size_t vlen);
int tind_txn_remove(tind_txn *txn, tind_keyspace *ks, const char *key, size_t klen);
int tind_txn_remove_range(tind_txn *txn, tind_keyspace *ks, const char *lo, size_t lolen,
                          const char *hi, size_t hilen);
int tind_txn_merge(tind_txn *txn, tind_keyspace *ks, const char *key, size_t klen, const char *operand,
                   size_t olen);
int tind_txn_single_remove(tind_txn *txn, tind_keyspace *ks, const char *key, size_t klen);
void tind_txn_set_durability(tind_txn *txn, int mode);
int tind_txn_commit(tind_txn *txn);
void tind_txn_rollback(tind_txn *txn);
uint64_t tind_txn_seqno(const tind_txn *txn);
void tind_read_options_set_txn(tind_read_options *ro, tind_txn *txn);
void tind_read_options_set_untracked(tind_read_options *ro, int on);

int tind_flush(tind_keyspace *ks);
int tind_compact(tind_keyspace *ks);
int tind_wait_idle(tind_db *db, int64_t timeout_ms);

typedef struct tind_ks_stats {
    uint32_t levels;
    uint64_t tables[8];
    uint64_t level_bytes[8];
    uint64_t approximate_keys;
    uint64_t disk_bytes;
    uint64_t memtable_bytes;
    uint64_t sealed_memtables;
    uint64_t user_bytes_written;
    uint64_t flush_bytes_written;
    uint64_t compaction_bytes_written;
    uint64_t compactions;
    uint64_t flushes;
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t write_stalls;
    uint64_t write_slowdowns;
    uint64_t blob_files;
    uint64_t blob_bytes;
    uint64_t blob_garbage_bytes;
    uint64_t blob_reads;
    uint64_t single_delete_violations;
    uint64_t merge_failures;
    uint64_t prefix_checked;
    uint64_t prefix_skipped;
} tind_ks_stats;
int tind_ks_stats_get(tind_keyspace *ks, tind_ks_stats *out);

typedef struct tind_db_stats {
    uint64_t cache_capacity;
    uint64_t cache_usage;
    uint64_t cache_pinned;
    uint64_t cache_entries;
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t cache_evictions;
    uint64_t blob_cache_capacity;
    uint64_t blob_cache_usage;
    uint64_t blob_cache_entries;
    uint64_t blob_cache_hits;
    uint64_t blob_cache_misses;
    uint64_t write_buffer_size;
    uint64_t memtable_bytes;
    uint64_t active_memtable_bytes;
    uint64_t memtable_filter_bytes;
    uint64_t pending_flushes;
    uint64_t pending_flush_bytes;
    uint64_t running_flushes;
    uint64_t pending_compactions;
    uint64_t pending_compaction_bytes;
    uint64_t running_compactions;
    uint64_t table_readers;
    uint64_t table_reader_bytes;
    uint64_t blob_readers;
    uint64_t open_files;
    uint64_t journal_buffer_bytes;
    uint64_t keyspaces;
    uint64_t live_iterators;
    uint64_t live_snapshots;
    uint64_t live_transactions;
    uint64_t memory_bytes;
    uint64_t block_memory_mapped;
    uint64_t block_memory_free;
    uint64_t memtable_spare_bytes;
    uint64_t memtable_held_bytes;
} tind_db_stats;
int tind_db_stats_get(tind_db *db, tind_db_stats *out);

typedef struct tind_changes tind_changes;
enum tind_change_type {
    TIND_CHANGE_OTHER = 0, TIND_CHANGE_PUT = 1, TIND_CHANGE_REMOVE = 2, TIND_CHANGE_MERGE = 3,
    TIND_CHANGE_SINGLE_REMOVE = 4, TIND_CHANGE_REMOVE_RANGE = 5
};
typedef struct tind_change_op {
    int type;
    const char *keyspace;
    uint32_t keyspace_id;
    const void *key;
    size_t klen;
    const void *value;
    size_t vlen;
} tind_change_op;
void tind_options_set_changes_retention(tind_options *o, uint64_t bytes);
int tind_last_seqno(tind_db *db, uint64_t *seqno);
int tind_changes_since(tind_db *db, uint64_t seqno, tind_changes **out);
int tind_changes_next(tind_changes *c, int timeout_ms);
uint64_t tind_changes_seqno(const tind_changes *c);
size_t tind_changes_count(const tind_changes *c);
const tind_change_op *tind_changes_op(const tind_changes *c, size_t i);
void tind_changes_free(tind_changes *c);
int tind_batch_commit_at(tind_batch *b, uint64_t seqno);
int tind_checkpoint(tind_db *db, const char *dir);
typedef void (*tind_progress_fn)(void *ctx, uint64_t done, uint64_t total);
typedef struct tind_backup_info {
    uint64_t id;
    uint64_t created_unix;
    uint64_t seqno;
    uint64_t files;
    uint64_t bytes;
    uint64_t shared_bytes;
} tind_backup_info;
int tind_backup_create(tind_db *db, const char *dir, tind_progress_fn progress, void *ctx, uint64_t *id);
int tind_backup_list(const char *dir, tind_backup_info **list, size_t *count);
int tind_backup_verify(const char *dir, uint64_t id, tind_progress_fn progress, void *ctx);
int tind_backup_restore(const char *dir, uint64_t id, const char *target, tind_progress_fn progress,
                        void *ctx);
int tind_backup_prune(const char *dir, size_t keep, size_t *deleted);
typedef int (*tind_ingest_next_fn)(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen);
#define TIND_INGEST_SORTED 1
int tind_ingest(tind_keyspace *ks, tind_ingest_next_fn next, void *ctx, int flags, size_t memory_limit,
                tind_progress_fn progress, void *progress_ctx, uint64_t *count);
"""

ffi = FFI()
ffi.cdef(CDEF)


def _candidates():
    env = os.environ.get("TIND_LIBRARY")
    if env:
        # An explicit choice is the only one tried: a wrong path must fail
        # loudly, not fall back to another copy of the library.
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    local = sorted(glob.glob(os.path.join(here, "libtind.so*")))
    return local + ["libtind.so.0", "libtind.so"]


def _load():
    errors = []
    for name in _candidates():
        try:
            return ffi.dlopen(name)
        except OSError as e:
            errors.append("%s: %s" % (name, e))
    raise ImportError("tind: cannot load libtind.so (set TIND_LIBRARY to its path); tried "
                      + "; ".join(errors))


lib = _load()
