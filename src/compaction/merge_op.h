/*
 * merge_op.h -- merge operators (issue 13): what a keyspace's operator is,
 * the built-in ones (counter, append), an owned list of operands, and the
 * one place the user's callbacks are called (full and partial merge), so
 * that reads and compaction fail the same way when a callback fails.
 *
 * A merge_op is plain data, fixed once attached to a keyspace; calling it is
 * thread-safe when the user's callbacks are (include/tind.h says they must
 * be). An operand list belongs to one thread.
 */
#ifndef TIND_COMPACTION_MERGE_OP_H
#define TIND_COMPACTION_MERGE_OP_H

#include <stddef.h>
#include <stdint.h>

#include "tind.h"
#include "util/buf.h"
#include "util/status.h"

#define MERGE_SEP_MAX 16

typedef struct merge_op {
    char name[TIND_MERGE_NAME_MAX + 1]; /* "" = no operator */
    int builtin;                        /* enum tind_merge_builtin */
    uint8_t sep[MERGE_SEP_MAX];         /* append's separator */
    size_t seplen;
    tind_merge_full_fn full;            /* user operators only */
    tind_merge_partial_fn partial;
    void *ctx;
} merge_op;

/* Whether op can merge now: a built-in, or a user operator with its callback. */
int merge_op_usable(const merge_op *op);
/* Fills op with built-in `kind` (its name "tind.counter" / "tind.append"). */
int merge_op_builtin(merge_op *op, int kind, const void *sep, size_t seplen);
/* TIND_EINVAL with a message when op is malformed (name, separator, kind). */
int merge_op_validate(const merge_op *op, tind_err *err);

/* Operands (or entries), kept in the order added: copies in one buffer
 * (merge_list_at: valid until the next add). */
typedef struct merge_list {
    tbuf bytes;
    size_t *off;
    size_t *len;
    uint64_t *seqno;
    uint8_t *type;                /* ENTRY_MERGE unless added typed */
    size_t count, cap;
} merge_list;

static inline const uint8_t *merge_list_at(const merge_list *l, size_t i)
{
    return l->bytes.data ? l->bytes.data + l->off[i] : (const uint8_t *)"";
}

int merge_list_add(merge_list *l, const uint8_t *p, size_t n, uint64_t seqno);
int merge_list_add_typed(merge_list *l, const uint8_t *p, size_t n, uint64_t seqno, uint8_t type);
void merge_list_reset(merge_list *l);
void merge_list_free(merge_list *l);

/* Full merge of ops (order: newest_first says how they were added) over base
 * (has_base = 0: none) into out. TIND_ECORRUPT naming the key and the
 * operator when the callback fails; TIND_ENOTSUP when op is not usable. */
int merge_full(const merge_op *op, const uint8_t *key, size_t klen, const uint8_t *base, size_t blen, int has_base,
               const merge_list *ops, int newest_first, tbuf *out, tind_err *err);
/* Partial merge of ops (newest first) into one operand in out: TIND_OK,
 * TIND_ENOTSUP (no partial merge, or it declined), or TIND_ECORRUPT. */
int merge_partial(const merge_op *op, const uint8_t *key, size_t klen, const merge_list *ops, tbuf *out,
                  tind_err *err);

#endif
