/*
 * table_int.h -- private to the table module (table.c, table_writer.c,
 * table_reader.c): section names, the metadata properties and their
 * encodings. Nothing outside src/format/table*.c includes this.
 *
 * The file layout is documented byte by byte in docs/FORMAT.md ("Table
 * file"); the summary:
 *   "data"   data blocks, each a blockio block (table compression)
 *   "index"  [index partitions...] top-level index block (blockio, no compression)
 *   "filter" (optional) whole Bloom filter, or [filter partitions...] filter
 *            index block (blockio, no compression)
 *   "meta"   exactly one blockio block (no compression) holding a block.h
 *            block of properties: name -> value, seqno 0, ENTRY_VALUE, sorted
 * all inside the container (container.h) with version TABLE_FORMAT_VERSION.
 */
#ifndef TIND_FORMAT_TABLE_INT_H
#define TIND_FORMAT_TABLE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "format/blockio.h"
#include "format/table.h"

#define TBL_SECTION_DATA   "data"
#define TBL_SECTION_INDEX  "index"
#define TBL_SECTION_FILTER "filter"
#define TBL_SECTION_META   "meta"
#define TBL_SECTION_RANGEDEL "rangedel" /* format >= 3, optional */
#define TBL_SECTION_DICT   "dict"

/* Everything the metadata block holds. meta.file_size is not stored (it would
 * be self-referential): the reader takes it from the file. */
typedef struct tbl_props {
    tbl_meta meta;
    uint64_t format_version;
    uint64_t index_partitioned;       /* 0 / 1 */
    uint64_t index_partition_count;   /* 0 when not partitioned */
    uint64_t index_restart_interval;
    uint64_t filter_partitioned;      /* 0 / 1 */
    double hash_ratio;                /* informational */
    double bloom_bits_per_key;        /* informational; present with a filter */
    blk_handle index_handle;          /* the top-level index block */
    blk_handle filter_handle;         /* whole filter or top-level filter index */
    int has_filter;                   /* filter.handle present */
    int has_identity;                 /* identity.number and identity.table_id present */
    tbuf filter_prefix;               /* the extractor's name when the filter holds
                                       * prefixes (empty: none); decode allocates it */
    uint64_t filter_prefix_only;      /* 1: the filter holds no whole keys (format 3) */
    uint32_t dict_id;                 /* zstd dictionary of the data blocks (format 3); 0 = none */
} tbl_props;

/* Builds the raw (unstored) metadata block for p into out. */
int tbl_props_encode(const tbl_props *p, tbuf *out);
/* Parses a raw metadata block; checks names are known or ignorable, values
 * well formed, required properties present. Keys in p->meta are allocated
 * (tbl_meta_free). `what` names the table in messages. */
int tbl_props_decode(const uint8_t *raw, size_t len, tbl_props *p, const char *what, tind_err *err);

/* Tombstone-like entry types (counted in tombstone_count). */
static inline int tbl_type_is_delete(uint8_t type)
{
    return type == ENTRY_TOMBSTONE || type == ENTRY_SINGLE_DELETE || type == ENTRY_RANGE_TOMBSTONE;
}

#endif
