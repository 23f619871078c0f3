/*
 * iters.h -- internal iterators over what a keyspace's view holds: one per
 * level of tables (opening them lazily through the db's table readers) and
 * the merge of a whole view (memtables, L0 tables, levels).
 */
#ifndef TIND_DB_ITERS_H
#define TIND_DB_ITERS_H

#include "db/install.h"
#include "db/ksprefix.h"
#include "iter/adapters.h"
#include "iter/iiter.h"

/* The merge of everything a view holds, for a reader whose seqno was read
 * before the call (its entries are all in place): a memtable that is empty
 * now is left out, and *with_active says whether the active one is in (a
 * refresh that keeps the merge must rebuild it once that memtable fills).
 * scan (ks_prefix_scan; NULL or inactive: none) lets it skip tables: L0
 * tables whose filter lacks the scan's prefix get no child, and a level's
 * child holds only its tables within [prefix, succ(prefix)) whose filter may
 * hold it (none left: no child). */
int view_iter_new_scan(tind_keyspace *ks, ks_view *v, int fill_cache, const ks_pscan *scan, int *with_active,
                       iiter **out, tind_err *err);
/* The tables of a level >= 1, one open at a time (fill_cache: as tbl_iiter_new). */
int level_iiter_new(tind_db *db, version *v, int level, int fill_cache, iiter **out);

#endif
