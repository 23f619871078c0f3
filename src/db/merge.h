/*
 * merge.h -- a keyspace's merge operator and compaction filter in force
 * (issue 13): attached from its options when it is made or recovered (the
 * built-ins, the TTL filter) and by tind_keyspace_open (the user's
 * callbacks, which are not stored); and what reads do with a key's merge
 * operands.
 *
 * Thread-safety: attaching runs under db->mu and publishes into fixed slots
 * of the keyspace once (a release store); readers, iterators and jobs load
 * the pointer (acquire) without a lock. An attached operator or filter never
 * changes while the database is open.
 */
#ifndef TIND_DB_MERGE_H
#define TIND_DB_MERGE_H

#include "db/state.h"

/* Attaches what ks->opts holds that can run (a built-in or a user operator
 * with callbacks; the filters). Before the keyspace is published. */
void ks_ops_init(tind_keyspace *ks);
/* tind_keyspace_open of an existing keyspace with options o: attaches their
 * user callbacks. TIND_EINVAL when o's operator name differs from the stored
 * or attached one. */
int ks_ops_attach(tind_keyspace *ks, const struct tind_ks_options *o, tind_err *err) EXCLUDES(ks->db->mu);
/* The operator in force, or the stored one (not usable: merge_full then
 * says which operator the keyspace wants), or NULL when it has none. */
const merge_op *ks_merge_op(tind_keyspace *ks);
/* The filter in force, or NULL. */
const cmp_filter *ks_filter(tind_keyspace *ks);

/* Full merge with the keyspace's operator (ks_merge_op); TIND_ENOTSUP
 * naming the keyspace and the operator it wants when none can run. */
int ks_merge_values(tind_keyspace *ks, const uint8_t *key, size_t klen, const uint8_t *base, size_t blen,
                    int has_base, const merge_list *ops, int newest_first, tbuf *out, tind_err *err);
/* Resolves a key's merge operands for a read. next(ctx, ...) gives the next
 * older entry of the key (TIND_OK), TIND_NOT_FOUND when there is none, or an
 * error; the caller has put the newest operand in ops (newest first). On
 * TIND_OK the merged value is in out. */
typedef int (*ks_older_fn)(void *ctx, uint8_t *type, uint64_t *seqno, const uint8_t **val, size_t *vlen,
                           tind_err *err);
int ks_merge_read(tind_keyspace *ks, const uint8_t *key, size_t klen, merge_list *ops, ks_older_fn next, void *ctx,
                  tbuf *out, tind_err *err);
/* ks_merge_read for a point read whose newest entry (the operand in ops) has
 * seqno top, with the keyspace's merge cache: a key's merged value is kept
 * (small keys and values, one slot per key hash) with the seqno of the
 * newest entry it includes, X. The value as of X is the same for every
 * reader at or above X whose walk reaches the entry X not deleted (a range
 * tombstone newer than X that deletes it is seen by the walk, next() then
 * gives a deletion): so a read stops at X while X is still that operand
 * and merges the cached value as the base with the operands above it, and
 * a read of top = X merges nothing. A value at X (compaction folded the
 * operand, and a compaction filter may since have replaced the fold) is
 * used as it is stored. A hot key's read then costs the operands written since its last
 * read, not its whole chain. next() must report an entry a range tombstone
 * of the read deletes as a deletion. */
int ks_merge_read_cached(tind_keyspace *ks, const uint8_t *key, size_t klen, uint64_t top, merge_list *ops,
                         ks_older_fn next, void *ctx, tbuf *out, tind_err *err);
/* Frees the merge cache (the keyspace is being freed). */
void ks_ops_free(tind_keyspace *ks);

#endif
