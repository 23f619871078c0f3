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

#include "format/table.h"
#include "version/version.h"

#define CMP_MAX_LEVELS VER_MAX_LEVELS

typedef struct cmp_options {
    int compaction;               /* TIND_COMPACTION_LEVELED / _TIERED / _FIFO */
    int l0_threshold;
    uint64_t table_size;          /* output tables of levels >= 1 are cut past it */
    int level_ratio;
    uint64_t fifo_max_bytes;
    uint64_t fifo_ttl_seconds;
    uint64_t periodic_seconds;    /* leveled: tables older than this are compacted (0 = never) */
    tbl_options table[CMP_MAX_LEVELS]; /* options of the tables written to each level */
} cmp_options;

/* The table options of output level `level` (levels past the last use the last's). */
static inline const tbl_options *cmp_table_options(const cmp_options *o, int level)
{
    return &o->table[level < CMP_MAX_LEVELS ? level : CMP_MAX_LEVELS - 1];
}

#endif
