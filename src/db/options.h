/*
 * options.h -- database and keyspace options: the structs behind the opaque
 * tind_options / tind_ks_options, their documented defaults, and the
 * encoding of keyspace options stored with each keyspace in the version file.
 */
#ifndef TIND_DB_OPTIONS_H
#define TIND_DB_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "compaction/filter.h"
#include "compaction/merge_op.h"
#include "compaction/options.h"
#include "format/prefix.h"
#include "io/fs.h"
#include "tind.h"
#include "util/buf.h"
#include "util/status.h"

#define KS_MAX_LEVELS 7
_Static_assert(KS_MAX_LEVELS == CMP_MAX_LEVELS, "keyspace and compaction level limits differ");

struct tind_options {
    int create_if_missing;
    size_t cache_size;
    size_t blob_cache_size;       /* 0 = values read from blob files are not cached */
    size_t write_buffer_size;
    uint64_t journal_file_size;
    uint64_t max_journal_size;
    uint32_t journal_compression_threshold;
    int background_threads;
    uint32_t sync_interval_ms;
    int max_open_files;
    int default_durability;
    int read_only;                /* tind_options_set_read_only: never writes a byte */
    uint64_t changes_retention;   /* tind_options_set_changes_retention (db/changes.c) */
    fs *fs;                       /* internal: tests swap the file system (not owned) */
    int no_background;            /* internal: tests run flush/compaction by hand */
    uint64_t max_record_bytes;    /* internal: tests lower the journal record (batch) limit;
                                   * 0 = JRN_MAX_PAYLOAD, the real one */
    int has_key;                  /* encryption at rest: key set (tind_options_set_encryption_key) */
    uint8_t key[32];
    tind_key_fn key_fn;           /* or a callback asked at open */
    void *key_ctx;
};

struct tind_ks_options {
    uint64_t memtable_size;
    int compaction;
    int l0_threshold;
    uint64_t table_size;
    int level_ratio;
    int levels;
    uint32_t block_size;
    uint32_t restart_interval;
    double hash_ratio;
    int compression[KS_MAX_LEVELS];
    int zstd_level[KS_MAX_LEVELS];
    double bloom_bits[KS_MAX_LEVELS];
    int partition_from_level;     /* KS_MAX_LEVELS = never */
    int expect_point_read_hits;
    uint64_t fifo_max_bytes;
    uint64_t fifo_ttl_seconds;
    /* key-value separation (stored from options version 2 on) */
    int blob_separation;
    uint64_t blob_threshold;
    uint64_t blob_file_size;
    int blob_compression;
    int blob_zstd_level;
    double blob_gc_ratio;
    double blob_gc_age_cutoff;
    /* issue 13 (db/merge.c): the merge operator (its name and built-in kind
     * are stored; callbacks are not), the compaction filter (the callback is
     * not stored; value_ttl is), periodic compaction (stored) */
    merge_op merge;
    int merge_bad;                /* a setter got what cannot be stored */
    cmp_filter filter;
    uint64_t periodic_seconds;
    /* prefix filters (tind_ks_options_set_prefix_*; stored from options version 2):
     * kind, length or separator, callback name; the function and its ctx are
     * in memory only */
    int prefix_kind;              /* format/prefix.h enum pfx_kind */
    uint32_t prefix_len;
    uint8_t prefix_sep;
    char prefix_name[PFX_NAME_MAX + 1];
    tind_prefix_fn prefix_fn;
    void *prefix_ctx;
    int prefix_whole_keys;        /* default 1 */
    int prefix_bad;               /* in memory only: a setter got a bad value */
    uint32_t zstd_dict_bytes[KS_MAX_LEVELS]; /* zstd dictionary size per level (0 = none; stored from version 2) */
    int bad_level_set;            /* in memory only: a per-level setter got bad_level, out of */
    int bad_level;                /* -1..KS_MAX_LEVELS-1 (ks_options_validate refuses it) */
};

/* Key-value separation defaults (include/tind.h says why). */
#define KS_BLOB_DEFAULT_SEPARATION 1
#define KS_BLOB_DEFAULT_THRESHOLD 4096

void options_default(struct tind_options *o);
/* Bytes of a memtable's point-read filter: 1/64 of its size, 1 KiB..1 MiB. */
static inline size_t ks_memtable_filter_bytes(const struct tind_ks_options *o)
{
    uint64_t b = o->memtable_size / 64;
    return (size_t)(b < 1024 ? 1024 : b > (1u << 20) ? (1u << 20) : b);
}
void ks_options_default(struct tind_ks_options *o);
/* The open-file cache's limit: max_open_files when > 0, else derived from
 * the process's RLIMIT_NOFILE soft limit (include/tind.h states the rule). */
#define OPTIONS_FD_RESERVE 16
#define OPTIONS_MAX_OPEN_FILES_MIN 8
#define OPTIONS_MAX_OPEN_FILES_CAP 512
size_t options_max_open_files(const struct tind_options *o);
/* Internal hooks for tests: an injected file system, no background threads. */
void tind_options_set_fs(tind_options *o, fs *fs);
/* Zeroes the encryption key an options struct holds (has_key = 0). */
void options_wipe_key(struct tind_options *o);
void tind_options_set_no_background(tind_options *o, int on);
/* The most bytes of encoded operations one batch (one journal record) may
 * hold, lowered so that tests can reach the limit without 4 GiB of data. */
void tind_options_set_max_record_bytes(tind_options *o, uint64_t bytes);

/* Stored form of keyspace options (docs/FORMAT.md "Keyspace options"). */
int ks_options_encode(const struct tind_ks_options *o, tbuf *out);
int ks_options_decode(const uint8_t *p, size_t n, struct tind_ks_options *o, tind_err *err);
int ks_options_validate(const struct tind_ks_options *o, tind_err *err);
/* The prefix extractor o describes (no callback slot: the keyspace sets it). */
void ks_options_prefix(const struct tind_ks_options *o, pfx_extractor *out);
/* What compaction needs of o (its picker parameters, per-level table options). */
void ks_options_to_compaction(const struct tind_ks_options *o, cmp_options *out);

#endif
