/*
 * table.h -- the immutable sorted table file: data blocks, block index
 * (whole or two-level partitioned), Bloom filter (whole or partitioned per
 * index partition), and a metadata block, inside the sectioned container
 * (container.h). Every stored block goes through blockio (checksummed).
 *
 * Writer: streams entries in strictly increasing internal order to disk
 * sequentially; owned by one thread.
 * Reader: a tbl is immutable after tbl_open and refcounted; any number of
 * threads may call tbl_get and run iterators on it at once. Blocks are read
 * through the block cache (when given) and files through the fd cache (when
 * given; otherwise the table keeps its file open).
 */
#ifndef TIND_FORMAT_TABLE_H
#define TIND_FORMAT_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "cache/fdcache.h"
#include "format/entry.h"
#include "format/prefix.h"
#include "io/fs.h"
#include "util/buf.h"
#include "util/status.h"

/* The newest table format this library reads; it reads 1 (no identity), 2,
 * 3 and 4. It writes 2, or 3 when a table needs it: a range tombstone section
 * (an older reader would serve deleted keys), docs/FORMAT.md "Range
 * tombstone section", a filter of prefixes only (an older reader would take
 * it for a whole-key filter and miss keys), "Prefix filters", or a zstd
 * dictionary (an older reader would fail on every block), "Dictionary
 * section"; or 4 when its filters are blocked (filter version 2, bloom.h: an
 * older reader would call them corrupt), format 3's features allowed. */
#define TABLE_FORMAT_VERSION 4
#define TABLE_FORMAT_VERSION_BASE 2

typedef struct tbl_options {
    uint32_t block_size;          /* target uncompressed data block size; default 4096 */
    uint32_t restart_interval;    /* default 16 */
    uint32_t index_restart_interval; /* default 1 */
    double hash_ratio;            /* data block hash index: keys per bucket; 0 = off (default 0.75) */
    int compression;              /* compress.h code; default COMPRESSION_LZ4 */
    int compression_level;        /* zstd level; 0 = default */
    double bloom_bits_per_key;    /* 0 = no filter; default 10 */
    int partition_index;          /* two-level index; default 0 */
    int partition_filter;         /* one filter per index partition; requires partition_index */
    uint32_t partition_size;      /* target bytes of an index partition; default 4096 */
    /* the table's identity, written in its metadata (docs/FORMAT.md "Table
     * identity"): the engine's file number and unique id; default 0 */
    uint64_t file_number;
    uint64_t table_id;
    /* prefix filters (prefix.h): with an active extractor and a filter, the
     * filter also holds every key's prefix (and, with prefix.whole_keys = 0,
     * only the prefixes); default none */
    pfx_extractor prefix;
    /* zstd dictionary (zdict.h): with compression zstd and dict bytes > 0,
     * a dictionary trained from the table's first data blocks compresses
     * every data block (table format 3); default 0 */
    uint32_t zstd_dict_bytes;
    /* threads (blockpool.h) that compress and checksum the data blocks
     * while the writer's own thread builds the next ones; 0 = the writer's
     * thread encodes each block itself (default). Ignored with a zstd
     * dictionary (its context is the writer's). */
    int encode_threads;
} tbl_options;

void tbl_options_default(tbl_options *o);

/* What a finished table holds (also stored in its metadata block). */
typedef struct tbl_meta {
    uint64_t file_size;
    uint64_t entry_count;
    uint64_t tombstone_count;     /* ENTRY_TOMBSTONE entries (and other deletes) */
    uint64_t data_block_count;
    uint64_t raw_key_bytes;
    uint64_t raw_value_bytes;
    uint64_t data_bytes;          /* stored size of all data blocks */
    uint64_t index_bytes;
    uint64_t filter_bytes;
    uint64_t min_seqno;
    uint64_t max_seqno;
    uint64_t created_unix;        /* seconds */
    uint32_t restart_interval;
    uint32_t block_size;
    uint32_t compression;
    uint32_t format_version;      /* the file's table format (identity from 2 on) */
    uint64_t file_number;         /* identity (format >= 2; 0 in format 1) */
    uint64_t table_id;
    uint64_t range_tombstones;    /* in the "rangedel" section (format 3; 0 = none) */
    tbuf smallest_key;            /* user keys; owned by the meta (tbl_meta_free) */
    tbuf largest_key;
} tbl_meta;

void tbl_meta_free(tbl_meta *m);

typedef struct tbl_writer tbl_writer;

/* Creates path (must not exist) and starts a table. */
int tbl_writer_open(fs *fs, const char *path, const tbl_options *o, tbl_writer **out, tind_err *err);
/* Entries in strictly increasing internal order, else TIND_EINVAL. */
int tbl_writer_add(tbl_writer *w, const uint8_t *key, size_t klen, uint64_t seqno, uint8_t type,
                   const uint8_t *val, size_t vlen, tind_err *err);
uint64_t tbl_writer_entries(const tbl_writer *w);
/* Bytes written so far plus what is buffered: for cutting output tables. */
uint64_t tbl_writer_estimated_size(const tbl_writer *w);
/* Writes index, filter, metadata and container; syncs with sync_mode
 * (FS_SYNC_DATA / FS_SYNC_ALL, 0 = no sync); closes; frees w in all cases.
 * meta (may be NULL) receives the table's metadata. */
int tbl_writer_finish(tbl_writer *w, int sync_mode, tbl_meta *meta, tind_err *err);
/* The same without the sync and the close: every byte has reached the file,
 * which passes open to the caller in *file (NULL on failure), to fs_sync
 * and fs_close it; until that sync returns the table is not durable. The
 * path stays the caller's to unlink should the sync fail. */
int tbl_writer_finish_open(tbl_writer *w, tbl_meta *meta, fs_file **file, tind_err *err);
/* Closes, deletes the partial file, frees w. */
void tbl_writer_abandon(tbl_writer *w);

/* ---- range tombstones (format 3, format/rangetomb.h) ----
 * The writer stores l (it takes a reference; at most once per table, before
 * finish) in the table's "rangedel" section. The metadata's stored smallest
 * and largest keys stay those of the entries; the tbl_meta that finish
 * returns and that tbl_get_meta gives has them widened to cover the
 * tombstones too (tbl_extend_range), which is the key range the version
 * file records. A table may hold tombstones and no entries. */
struct rt_list;
int tbl_writer_add_range_tombstones(tbl_writer *w, struct rt_list *l);
/* The table's range tombstones (borrowed, live while t is), or NULL. */
typedef struct tbl tbl;
const struct rt_list *tbl_range_tombstones(const tbl *t);
/* Widens m's key range to cover l. TIND_OK or TIND_ENOMEM. */
int tbl_extend_range(tbl_meta *m, const struct rt_list *l);

typedef struct tbl tbl;

typedef struct tbl_open_options {
    cache *block_cache;           /* may be NULL: blocks are read per use */
    fd_cache *fds;                /* may be NULL: the table keeps its file open */
    uint64_t file_id;             /* key in the fd cache; names the table in messages */
    int pin_index_and_filter;     /* hold top-level index and filter blocks in memory */
} tbl_open_options;

/* Opens and verifies the container, metadata, and top-level index. */
int tbl_open(fs *fs, const char *path, const tbl_open_options *o, tbl **out, tind_err *err);
void tbl_ref(tbl *t);
void tbl_unref(tbl *t);           /* closes at zero */
const tbl_meta *tbl_get_meta(const tbl *t);
/* Bytes the open table holds outside the block cache (its struct, names, key
 * range, dictionary, range tombstones, and index/filter blocks it owns when
 * it has no cache). An estimate of malloc'd payloads, without malloc's own
 * overhead. */
size_t tbl_memory(const tbl *t);

/* tbl_get's flags */
#define TBL_GET_FILTER 1  /* probe the Bloom filter (off: expect_point_read_hits) */
#define TBL_GET_NO_FILL 2 /* a data block missed stays out of the cache (fill_cache off) */

/* Newest entry for key with seqno <= snapshot. TIND_OK: *type, *seqno and the
 * value copied into `value`. TIND_NOT_FOUND: no such entry in this table.
 * flags: TBL_GET_*. */
int tbl_get(tbl *t, const uint8_t *key, size_t klen, uint64_t snapshot, int flags,
            uint8_t *type, uint64_t *seqno, tbuf *value, tind_err *err);
/* 1 when the filter says key may be present (or there is no filter). */
int tbl_may_contain(tbl *t, const uint8_t *key, size_t klen);
/* Prefix filters: 0 when the table's filter holds the prefixes of the
 * extractor named `name` (pfx_name) and lacks prefix[0..n), so that no key
 * of the table starts with it; 1 otherwise (no such filter, another
 * extractor, or a read error, which the scan itself will meet). */
int tbl_may_contain_prefix(tbl *t, const char *name, const uint8_t *prefix, size_t n);
/* The name of the extractor whose prefixes the filter holds ("" = none). */
const char *tbl_prefix_name(const tbl *t);

/* Iterator over all entries (every version) in internal order. Holds a ref on t. */
typedef struct tbl_iter tbl_iter;
int tbl_iter_new(tbl *t, tbl_iter **out);
/* Data blocks the iterator reads on a cache miss are not inserted into the
 * block cache (compaction: its inputs are deleted after it, and their blocks
 * would only push out what readers use); a cached block is still used. */
void tbl_iter_set_fill_cache(tbl_iter *it, int fill);
/* Makes the iterator one of table t (unpositioned), keeping its buffers and
 * its fill setting: a level's cursor crossing to another table allocates
 * nothing. */
void tbl_iter_retarget(tbl_iter *it, tbl *t);
void tbl_iter_free(tbl_iter *it);
void tbl_iter_first(tbl_iter *it);
void tbl_iter_last(tbl_iter *it);
void tbl_iter_seek(tbl_iter *it, const uint8_t *key, size_t klen, uint64_t seqno);
void tbl_iter_seek_for_prev(tbl_iter *it, const uint8_t *key, size_t klen, uint64_t seqno);
void tbl_iter_next(tbl_iter *it);
void tbl_iter_prev(tbl_iter *it);
int tbl_iter_valid(const tbl_iter *it);
const uint8_t *tbl_iter_key(const tbl_iter *it, size_t *len);
uint64_t tbl_iter_seqno(const tbl_iter *it);
uint8_t tbl_iter_type(const tbl_iter *it);
const uint8_t *tbl_iter_value(const tbl_iter *it, size_t *len);
/* The current entry (refreshed by the call), or NULL when not valid. */
const ientry *tbl_iter_entry(tbl_iter *it);
/* TIND_OK, or the error (with message) that made the iterator invalid. */
int tbl_iter_status(const tbl_iter *it, tind_err *err);

/* Reads and checks every block (tools, verify): checksums and ordering. */
int tbl_verify(tbl *t, tind_err *err);

#endif
