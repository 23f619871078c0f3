/*
 * adapters.h -- the internal iterator (iter/iiter.h) over a memtable and over
 * one table. Used by the read path (a view's merge) and by compaction (its
 * inputs). An adapter is used by one thread, like any iiter.
 */
#ifndef TIND_ITER_ADAPTERS_H
#define TIND_ITER_ADAPTERS_H

#include "format/table.h"
#include "iter/iiter.h"
#include "memtable/memtable.h"

/* Every entry of m (m stays alive while the iterator holds its cursor);
 * NULL when out of memory. */
iiter *mt_iiter_new(memtable *m);
/* Every entry of table t; fill_cache 0 keeps the data blocks it misses out
 * of the block cache (compaction, a scan that asked it). */
int tbl_iiter_new(tbl *t, int fill_cache, iiter **out);

#endif
