/*
 * rangedel.h -- the read side of range deletions (tind_remove_range): which
 * range tombstones of a keyspace's view cover an entry.
 *
 * An entry (k, s) is deleted for a reader at snapshot r when some tombstone
 * [lo, hi) at seqno t of the view has lo <= k < hi and s < t <= r. The
 * tombstones live in each memtable (mt_range_tombstones, fragmented and
 * cached there) and in each table's "rangedel" section (format/rangetomb.h,
 * read when the table is opened), so a check is one binary search per
 * source that can hold a covering tombstone -- never one step per
 * tombstone.
 *
 * A point read checks only the sources whose max seqno is above the entry it
 * found (nothing else can hold a newer tombstone). A cursor keeps an rd_view:
 * the memtables' and level-0 tables' lists taken once, and per level >= 1
 * the table it last looked in (a scan stays in it for many keys).
 *
 * Thread-safety: an rd_view belongs to its cursor's thread; the lists it
 * holds are immutable and referenced.
 */
#ifndef TIND_DB_RANGEDEL_H
#define TIND_DB_RANGEDEL_H

#include "db/iters.h"
#include "format/rangetomb.h"

typedef struct rd_level {
    ver_table *table;             /* the table last looked in, or NULL */
    const rt_list *list;          /* its tombstones (borrowed from its reader) */
    size_t gap;                   /* no table: the key was before table `gap` and after the one before */
    int in_gap;
} rd_level;

typedef struct rd_view {
    tind_db *db;
    version *v;                   /* borrowed from the cursor's view */
    uint64_t snapshot;
    rt_list **lists;              /* memtables' (referenced) */
    size_t nlists;
    const rt_list **l0;           /* level-0 tables' (borrowed from readers) */
    size_t nl0;
    rd_level levels[VER_MAX_LEVELS];
    unsigned skip;                /* bit l: level l holds no range tombstone */
    int none;                     /* no source may hold one: rd_covered is 0 for every entry */
} rd_view;

int rd_view_init(rd_view *r, tind_keyspace *ks, ks_view *view, uint64_t snapshot, tind_err *err);
void rd_view_free(rd_view *r);
/* 1 when (key, seqno) is deleted by a range tombstone the view's snapshot
 * sees, 0 when not, or a negative status (a table reader failed). */
int rd_covered(rd_view *r, const uint8_t *key, size_t klen, uint64_t seqno, tind_err *err);

/* The point read's check: 1 when the entry (key, found) that a read at
 * `snapshot` found is deleted by a range tombstone of the view, 0 when not,
 * or a negative status. */
int rd_get_covered(tind_keyspace *ks, ks_view *view, const uint8_t *key, size_t klen, uint64_t snapshot,
                   uint64_t found, tind_err *err);

#endif
