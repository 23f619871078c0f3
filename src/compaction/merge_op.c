/*
 * merge_op.c -- merge operators: the built-in counter and append, operand
 * lists, and calling full / partial merges (compaction/merge_op.h).
 */
#include "compaction/merge_op.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/entry.h"
#include "util/coding.h"

int merge_op_usable(const merge_op *op)
{
    return op && op->name[0] && (op->builtin != TIND_MERGE_NONE || op->full);
}

int merge_op_builtin(merge_op *op, int kind, const void *sep, size_t seplen)
{
    memset(op, 0, sizeof *op);
    op->builtin = kind;
    if (kind == TIND_MERGE_COUNTER)
        snprintf(op->name, sizeof op->name, "tind.counter");
    else if (kind == TIND_MERGE_APPEND)
        snprintf(op->name, sizeof op->name, "tind.append");
    else
        return TIND_EINVAL;
    if (kind == TIND_MERGE_APPEND) {
        if (seplen > MERGE_SEP_MAX || (seplen && !sep))
            return TIND_EINVAL;
        if (seplen)
            memcpy(op->sep, sep, seplen);
        op->seplen = seplen;
    }
    return TIND_OK;
}

int merge_op_validate(const merge_op *op, tind_err *err)
{
    if (!op->name[0])
        return TIND_OK;
    if (op->builtin == TIND_MERGE_NONE) {
        if (!strncmp(op->name, "tind.", 5))
            return err_set(err, TIND_EINVAL, "merge operator name '%s': names starting with 'tind.' are built-ins",
                           op->name);
        if (!op->full)
            return err_set(err, TIND_EINVAL, "merge operator '%s' has no full merge callback", op->name);
    } else if (op->builtin != TIND_MERGE_COUNTER && op->builtin != TIND_MERGE_APPEND) {
        return err_set(err, TIND_EINVAL, "built-in merge operator %d is unknown", op->builtin);
    }
    if (op->seplen > MERGE_SEP_MAX)
        return err_set(err, TIND_EINVAL, "append separator of %zu bytes is over %d", op->seplen, MERGE_SEP_MAX);
    return TIND_OK;
}

/* ------------------------------------------------------------------ operand lists */

int merge_list_add(merge_list *l, const uint8_t *p, size_t n, uint64_t seqno)
{
    return merge_list_add_typed(l, p, n, seqno, ENTRY_MERGE);
}

/* Grows the four arrays, kept in one allocation (off is its start): a read
 * of a short chain makes one for them, not four. */
static int merge_list_grow(merge_list *l)
{
    size_t cap = l->cap ? l->cap * 2 : 8;
    uint8_t *blk = malloc(cap * (2 * sizeof(size_t) + sizeof(uint64_t) + 1));
    if (!blk)
        return TIND_ENOMEM;
    size_t *off = (size_t *)(void *)blk;
    size_t *len = off + cap;
    uint64_t *seqno = (uint64_t *)(void *)(len + cap);
    uint8_t *type = (uint8_t *)(seqno + cap);
    if (l->count) {
        memcpy(off, l->off, l->count * sizeof *off);
        memcpy(len, l->len, l->count * sizeof *len);
        memcpy(seqno, l->seqno, l->count * sizeof *seqno);
        memcpy(type, l->type, l->count);
    }
    free(l->off);
    l->off = off;
    l->len = len;
    l->seqno = seqno;
    l->type = type;
    l->cap = cap;
    return TIND_OK;
}

int merge_list_add_typed(merge_list *l, const uint8_t *p, size_t n, uint64_t seqno, uint8_t type)
{
    if (l->count == l->cap && merge_list_grow(l))
        return TIND_ENOMEM;
    size_t at = l->bytes.len;
    if (tbuf_append(&l->bytes, p, n))
        return TIND_ENOMEM;
    l->off[l->count] = at;
    l->len[l->count] = n;
    l->seqno[l->count] = seqno;
    l->type[l->count] = type;
    l->count++;
    return TIND_OK;
}

void merge_list_reset(merge_list *l)
{
    tbuf_reset(&l->bytes);
    l->count = 0;
}

void merge_list_free(merge_list *l)
{
    merge_list_reset(l);
    tbuf_free(&l->bytes);
    free(l->off); /* the four arrays' one allocation */
    memset(l, 0, sizeof *l);
}

/* ------------------------------------------------------------------ built-ins */

static int counter_merge(const uint8_t *base, size_t blen, int has_base, const void *const *ops, const size_t *lens,
                         size_t n, tbuf *out, const char **why)
{
    uint64_t sum = 0;
    if (has_base) {
        if (blen != 8) {
            *why = "the value under the operands is not 8 bytes";
            return TIND_ECORRUPT;
        }
        sum = dec_u64(base);
    }
    for (size_t i = 0; i < n; i++) {
        if (lens[i] != 8) {
            *why = "an operand is not 8 bytes";
            return TIND_ECORRUPT;
        }
        sum += dec_u64(ops[i]);
    }
    tbuf_reset(out);
    return tbuf_append_u64(out, sum) ? TIND_ENOMEM : TIND_OK;
}

static int append_merge(const merge_op *op, const uint8_t *base, size_t blen, int has_base, const void *const *ops,
                        const size_t *lens, size_t n, tbuf *out)
{
    tbuf_reset(out);
    int rc = 0;
    if (has_base)
        rc |= tbuf_append(out, base, blen);
    for (size_t i = 0; i < n; i++) {
        if (i || has_base)
            rc |= tbuf_append(out, op->sep, op->seplen);
        rc |= tbuf_append(out, ops[i], lens[i]);
    }
    return rc ? TIND_ENOMEM : TIND_OK;
}

/* ------------------------------------------------------------------ calling */

/* The operands oldest first, as the callbacks take them: in the caller's
 * arrays (MERGE_STACK_OPS of each) when they fit, else in malloc'd ones
 * (ordered_free). A read of a short chain then allocates nothing here. */
#define MERGE_STACK_OPS 16
static int ordered(const merge_list *ops, int newest_first, const void **sp, size_t *sl, const void ***p,
                   size_t **lens)
{
    size_t n = ops->count;
    if (n <= MERGE_STACK_OPS) {
        *p = sp;
        *lens = sl;
    } else {
        *p = malloc(n * sizeof **p);
        *lens = malloc(n * sizeof **lens);
        if (!*p || !*lens) {
            free(*p);
            free(*lens);
            return TIND_ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = newest_first ? n - 1 - i : i;
        (*p)[i] = merge_list_at(ops, j);
        (*lens)[i] = ops->len[j];
    }
    return TIND_OK;
}

static void ordered_free(const void **p, size_t *lens, const void **sp)
{
    if (p != sp) {
        free(p);
        free(lens);
    }
}

static int take_result(int cb_rc, void *res, size_t reslen, tbuf *out)
{
    if (cb_rc != TIND_OK) {
        free(res);
        return cb_rc;
    }
    tbuf_reset(out);
    int rc = reslen && !res ? TIND_EINVAL : (tbuf_append(out, res, reslen) ? TIND_ENOMEM : TIND_OK);
    free(res);
    return rc;
}

static int merge_failed(const merge_op *op, const uint8_t *key, size_t klen, const char *kind, const char *why,
                        tind_err *err)
{
    char shown[64];
    size_t n = klen < 24 ? klen : 24;
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < sizeof shown; i++)
        k += (size_t)snprintf(shown + k, sizeof shown - k, key[i] >= 32 && key[i] < 127 ? "%c" : "\\x%02x", key[i]);
    return err_set(err, TIND_ECORRUPT, "merge operator '%s' failed on key '%s%s' (%s merge%s%s)", op->name, shown,
                   klen > n ? "..." : "", kind, why ? ": " : "", why ? why : "");
}

int merge_full(const merge_op *op, const uint8_t *key, size_t klen, const uint8_t *base, size_t blen, int has_base,
               const merge_list *ops, int newest_first, tbuf *out, tind_err *err)
{
    if (!merge_op_usable(op))
        return err_set(err, TIND_ENOTSUP, "key holds merge operands but the keyspace has no merge operator%s%s%s",
                       op && op->name[0] ? " (open it with operator '" : "", op && op->name[0] ? op->name : "",
                       op && op->name[0] ? "')" : "");
    const void *sp[MERGE_STACK_OPS], **p;
    size_t sl[MERGE_STACK_OPS], *lens;
    if (ordered(ops, newest_first, sp, sl, &p, &lens))
        return err_set(err, TIND_ENOMEM, "out of memory merging %zu operands", ops->count);
    const char *why = NULL;
    int rc;
    if (op->builtin == TIND_MERGE_COUNTER) {
        rc = counter_merge(base, blen, has_base, p, lens, ops->count, out, &why);
    } else if (op->builtin == TIND_MERGE_APPEND) {
        rc = append_merge(op, base, blen, has_base, p, lens, ops->count, out);
    } else {
        void *res = NULL;
        size_t reslen = 0;
        int cb = op->full(op->ctx, key, klen, has_base ? base : NULL, has_base ? blen : 0, has_base, p, lens,
                          ops->count, &res, &reslen);
        rc = take_result(cb, res, reslen, out);
        if (rc != TIND_OK && rc != TIND_ENOMEM)
            rc = TIND_ECORRUPT;
    }
    ordered_free(p, lens, sp);
    if (rc == TIND_ENOMEM)
        return err_set(err, rc, "out of memory merging %zu operands", ops->count);
    if (rc)
        return merge_failed(op, key, klen, "full", why, err);
    return TIND_OK;
}

int merge_partial(const merge_op *op, const uint8_t *key, size_t klen, const merge_list *ops, tbuf *out,
                  tind_err *err)
{
    if (!merge_op_usable(op) || ops->count < 2)
        return TIND_ENOTSUP;
    if (op->builtin == TIND_MERGE_NONE && !op->partial)
        return TIND_ENOTSUP;
    const void *sp[MERGE_STACK_OPS], **p;
    size_t sl[MERGE_STACK_OPS], *lens;
    if (ordered(ops, 1, sp, sl, &p, &lens))
        return err_set(err, TIND_ENOMEM, "out of memory merging %zu operands", ops->count);
    const char *why = NULL;
    int rc;
    if (op->builtin == TIND_MERGE_COUNTER) {
        rc = counter_merge(NULL, 0, 0, p, lens, ops->count, out, &why);
    } else if (op->builtin == TIND_MERGE_APPEND) {
        rc = append_merge(op, NULL, 0, 0, p, lens, ops->count, out);
    } else {
        void *res = NULL;
        size_t reslen = 0;
        int cb = op->partial(op->ctx, key, klen, p, lens, ops->count, &res, &reslen);
        rc = take_result(cb, res, reslen, out);
        if (rc != TIND_OK && rc != TIND_ENOMEM && rc != TIND_ENOTSUP)
            rc = TIND_ECORRUPT;
    }
    ordered_free(p, lens, sp);
    if (rc == TIND_ENOMEM)
        return err_set(err, rc, "out of memory merging %zu operands", ops->count);
    if (rc == TIND_ECORRUPT)
        return merge_failed(op, key, klen, "partial", why, err);
    return rc;
}
