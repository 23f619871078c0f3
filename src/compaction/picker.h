/*
 * picker.h -- which tables a keyspace should compact next, for each
 * strategy. Pure functions over an immutable version: the caller holds the
 * lock that makes `being_compacted` flags stable and marks the inputs.
 *
 * Leveled (RocksDB's dynamic level sizes):
 *   - the base level is the level L0 compacts into: the last level while the
 *     tree is small, moving up one level each time the last level outgrows
 *     base_bytes * ratio^k (base_bytes = table_size * l0_threshold);
 *   - L0 scores count / l0_threshold; level i scores bytes / target(i);
 *     levels above the base have target 0 (anything there moves down);
 *   - the highest score >= 1 wins; from a level >= 1 the table with the least
 *     overlap with the next level (relative to its size) is taken;
 *   - a single input with nothing overlapping below is a trivial move; an
 *     L0 pick first looks for such a table (the oldest L0 table that no
 *     older L0 table and nothing in the base overlaps) and moves it alone.
 * Size-tiered: all tables are sorted runs in L0; a window of >= l0_threshold
 *   consecutive runs of similar size is merged into one run.
 * FIFO: tables past the size limit or the TTL are dropped, oldest first.
 */
#ifndef TIND_COMPACTION_PICKER_H
#define TIND_COMPACTION_PICKER_H

#include <stddef.h>
#include <stdint.h>

#include "compaction/options.h"
#include "version/version.h"

enum pick_kind {
    PICK_NONE = 0,
    PICK_MERGE,      /* merge inputs into new tables at out_level */
    PICK_MOVE,       /* move the one input to out_level unchanged */
    PICK_DROP,       /* delete the inputs (FIFO) */
};

typedef struct compaction_pick {
    int kind;
    int out_level;
    size_t count;
    ver_table **inputs;     /* malloc'd; not ref'd (the caller's version holds them) */
    int *levels;            /* level of each input */
    int bottommost;         /* nothing older can lie under the output's key range */
} compaction_pick;

/* manual = compact everything to the bottom (leveled / tiered). now = unix seconds. */
int pick_compaction(const version *v, const cmp_options *o, int manual, uint64_t now,
                    compaction_pick *out);
void compaction_pick_free(compaction_pick *p);
/* The level L0 compacts into (leveled). */
int pick_base_level(const version *v, const cmp_options *o);
/* An estimate of the bytes compaction must still move (stats): leveled, L0's
 * bytes once it has l0_threshold tables plus each level's bytes over its
 * target; tiered, L0's bytes once it has l0_threshold runs; FIFO, 0.
 * *deferred (may be NULL) receives the part of it that waits by the picker's
 * rule (a leveled L0 smaller than the level below it): no compaction is
 * wanted for it now. */
uint64_t pick_pending_bytes(const version *v, const cmp_options *o, uint64_t *deferred);

#endif
