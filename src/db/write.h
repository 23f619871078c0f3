/*
 * write.h -- what the write path (write.c) offers the files above it: a
 * batch commit with a check run under write_mu, just before the batch takes
 * its sequence numbers (db/txn.c validates a transaction there, so that two
 * commits can never both pass against each other's writes).
 */
#ifndef TIND_DB_WRITE_H
#define TIND_DB_WRITE_H

#include "db/jobs.h"

/* Checks a key (db_check_key) and, when has_value, a value of an operation. */
int db_check_kv(const void *key, size_t klen, const void *val, size_t vlen, int has_value, tind_err *err);

/* Runs under write_mu after the database and the batch's keyspaces were
 * found writable; a non-zero status (with err filled) applies nothing. */
typedef int (*db_write_check)(tind_db *db, void *ctx, tind_err *err);

/* tind_batch_commit inside a public call (the caller entered db and records
 * the failure), with check run as above; check is NULL-able. On TIND_OK the
 * batch is cleared. */
int db_batch_commit_checked(tind_batch *b, db_write_check check, void *ctx, tind_err *err); /* takes write_mu */
/* A commit with nothing to write (an empty batch, a transaction without
 * writes) still keeps its durability's promise: with SYNC_DATA / SYNC_ALL
 * every earlier write is synced, as tind_persist(durability) does (nothing
 * on a read-only database). */
int db_commit_nothing(tind_db *db, int durability, tind_err *err);

#endif
