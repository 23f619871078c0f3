/*
 * options.h -- what compaction needs of a keyspace's options: the picker's
 * shape parameters and the table options of each output level. The db fills
 * one from the keyspace options (db/options.c, ks_options_to_compaction) when
 * the keyspace is made; it never changes afterwards, so a job reads it
 * without a lock.
 */
#ifndef TIND_COMPACTION_OPTIONS_H
#define TIND_COMPACTION_OPTIONS_H

#include <stdint.h>

#include "format/compress.h"
#include "format/table.h"
#include "version/version.h"

#define CMP_MAX_LEVELS VER_MAX_LEVELS

/* Key-value separation (compaction/blobsep.h), from the keyspace options. */
typedef struct cmp_blob_options {
    int separate;                 /* values of >= threshold bytes go to blob files */
    uint64_t threshold;
    uint64_t file_size;           /* a blob file is cut past it */
    int compression;              /* compress.h code */
    int compression_level;
    double gc_ratio;              /* counted garbage / blob bytes kept below by relocating the
                                     live blobs of the files with the most garbage per byte
                                     (none below it; blobsep.h); > 1 = never */
    double gc_age_cutoff;         /* the oldest fraction of blob files whose blobs a compaction
                                     relocates when it meets them anyway (0 = none) */
} cmp_blob_options;

typedef struct cmp_options {
    int compaction;               /* TIND_COMPACTION_LEVELED / _TIERED / _FIFO */
    int l0_threshold;
    uint64_t table_size;          /* output tables of levels >= 1 are cut past it */
    int level_ratio;
    uint64_t fifo_max_bytes;
    uint64_t fifo_ttl_seconds;
    uint64_t periodic_seconds;    /* leveled: tables older than this are compacted (0 = never) */
    tbl_options table[CMP_MAX_LEVELS]; /* options of the tables written to each level */
    cmp_blob_options blob;
    int sync_behind;              /* a cut output table is synced on a thread of its own while
                                     the next is written (compact.c, "syncing behind") */
} cmp_options;

/* The table options of output level `level` (levels past the last use the last's). */
static inline const tbl_options *cmp_table_options(const cmp_options *o, int level)
{
    return &o->table[level < CMP_MAX_LEVELS ? level : CMP_MAX_LEVELS - 1];
}

/* 1 when levels a and b write data blocks alike (codec, zstd level, zstd
 * dictionary): only then may a table move between them unchanged. */
static inline int cmp_same_compression(const cmp_options *o, int a, int b)
{
    const tbl_options *x = cmp_table_options(o, a), *y = cmp_table_options(o, b);
    if (x->compression != y->compression)
        return 0;
    if (x->compression != COMPRESSION_ZSTD)
        return 1;
    return x->compression_level == y->compression_level && x->zstd_dict_bytes == y->zstd_dict_bytes;
}

#endif
