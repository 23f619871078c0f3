/*
 * iters.h -- internal iterators over what a keyspace's view holds: one per
 * level of tables (opening them lazily through the db's table readers) and
 * the merge of a whole view (memtables, L0 tables, levels).
 */
#ifndef TIND_DB_ITERS_H
#define TIND_DB_ITERS_H

#include "db/install.h"
#include "iter/adapters.h"
#include "iter/iiter.h"

int view_iter_new(tind_keyspace *ks, ks_view *v, int fill_cache, iiter **out, tind_err *err);
int level_iiter_new(tind_db *db, version *v, int level, iiter **out);

#endif
