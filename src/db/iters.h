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

int view_iter_new(tind_keyspace *ks, ks_view *v, int fill_cache, iiter **out, tind_err *err);
/* The same for a scan that may skip tables (scan: ks_prefix_scan; NULL or
 * inactive: none): L0 tables whose filter lacks the scan's prefix get no
 * child, and a level's child holds only its tables within [prefix,
 * succ(prefix)) whose filter may hold it (none left: no child). */
int view_iter_new_scan(tind_keyspace *ks, ks_view *v, int fill_cache, const ks_pscan *scan, iiter **out,
                       tind_err *err);
int level_iiter_new(tind_db *db, version *v, int level, iiter **out);

#endif
