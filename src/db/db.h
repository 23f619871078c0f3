/*
 * db.h -- every db/ header, for db.c (the top of the line: open, close,
 * recovery, keyspaces) and for the tools and tests that reach into the
 * engine. A file inside db/ includes only the headers of the files below
 * it (db/state.h describes the line and the locks).
 */
#ifndef TIND_DB_DB_H
#define TIND_DB_DB_H

#include "db/conflicts.h"
#include "db/iters.h"
#include "db/rangedel.h"
#include "db/jobs.h"
#include "db/journals.h"
#include "db/ksprefix.h"
#include "db/install.h"
#include "db/merge.h"
#include "db/options.h"
#include "db/state.h"
#include "db/txn.h"
#include "db/wgroup.h"
#include "db/write.h"

#endif
