/*
 * stream_ops.c -- what the compaction stream (compact.c) does with merge
 * operands, single deletes and compaction filters (issue 13). The rules,
 * per user key and stripe (the entries the same snapshots see; newest
 * first):
 *
 *   merge   The newest entry of a stripe is an operand: the stripe's
 *           operands are collected down to a value or a deletion (the base)
 *           in the same stripe. With a base, or with none when the key ends
 *           and nothing older lies below (bottommost), they are full-merged
 *           into one value at the newest operand's seqno (every snapshot
 *           that sees it sees them all). Otherwise two or more are combined
 *           by the partial merge into one operand; when there is none (or it
 *           declines) the operands are kept as they are and the stripe's
 *           entries below them pass too ("chain": the base is needed). A
 *           failing callback keeps everything as it was and is counted
 *           (env->merge_failures): nothing is dropped. Operands never get
 *           the bottom's seqno 0, so they stay ordered above their base.
 *   single  A single delete meeting a put in its stripe: when a deletion
 *   delete  lies under the put, or nothing does (bottommost), both vanish;
 *           otherwise something older may lie under the put (a value in a
 *           table below, or one whose deletion a newer put shadowed and
 *           the stream dropped), so the put goes and the single delete
 *           becomes a remove. A single delete meeting a remove, a single
 *           delete or a merge breaks the contract (counted in
 *           env->single_delete_violations) and becomes a remove. Alone in
 *           its stripe it stays (until it meets its put or the bottom).
 *           So reads never change, whatever the contract: a single delete
 *           reads as a remove everywhere.
 *   filter  A value in the newest stripe (no snapshot sees it) is shown to
 *           the filters: kept, replaced, or turned into a remove (so that
 *           older versions do not resurface).
 */
#include <stdint.h>
#include <time.h>

#include "compaction/cmp_rangedel.h"
#include "compaction/compact.h"
#include "format/entry.h"

int cmp_ops_wants(const cmp_stream *s, size_t stripe, uint8_t type)
{
    if (type == ENTRY_MERGE || type == ENTRY_SINGLE_DELETE || s->chain)
        return 1;
    /* separated values too, loaded for the filter (a flush has none) */
    return (type == ENTRY_VALUE || (type == ENTRY_BLOB && s->env && blob_job_can_load(s->env->blobs))) && stripe == s->snapshot_count &&
           s->env && cmp_filter_active(s->env->filter);
}

static void count(_Atomic uint64_t *counter)
{
    if (counter)
        atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* The input's entry is of the current key and stripe. */
static int same_stripe(cmp_stream *s, size_t stripe)
{
    if (!ii_valid(s->in))
        return 0;
    size_t klen;
    const uint8_t *key = ii_key(s->in, &klen);
    return key_cmp(key, klen, s->prev.data, s->prev.len) == 0 &&
           stripe_of_seqno(s->snapshots, s->snapshot_count, ii_seqno(s->in)) == stripe;
}

/* The input's entry is of the current key. */
static int same_key(cmp_stream *s)
{
    if (!ii_valid(s->in))
        return 0;
    size_t klen;
    const uint8_t *key = ii_key(s->in, &klen);
    return key_cmp(key, klen, s->prev.data, s->prev.len) == 0;
}

static int fail(cmp_stream *s, int rc)
{
    s->status = rc;
    return -1;
}

int cmp_ops_pop(cmp_stream *s)
{
    merge_list *p = &s->pending;
    while (s->pending_pos < p->count) {
        size_t i = s->pending_pos++;
        if (cmp_stream_emit(s, s->pending_stripe, s->prev.data, s->prev.len, p->seqno[i], p->type[i], merge_list_at(p, i),
                            p->len[i], 0))
            return 1;
    }
    merge_list_reset(p);
    s->pending_pos = 0;
    return 0;
}

/* Emits the collected entries (s->ops) as they are, oldest last. */
static int keep_as_they_are(cmp_stream *s, size_t stripe, int new_key)
{
    merge_list tmp = s->pending;
    s->pending = s->ops;
    s->ops = tmp;
    merge_list_reset(&s->ops);
    s->pending_pos = 0;
    s->pending_stripe = stripe;
    if (s->pending.count &&
        cmp_stream_emit(s, stripe, s->prev.data, s->prev.len, s->pending.seqno[0], s->pending.type[0],
                        merge_list_at(&s->pending, 0), s->pending.len[0], new_key)) {
        s->pending_pos = 1;
        return 1;
    }
    s->pending_pos = s->pending.count ? 1 : 0;
    return cmp_ops_pop(s);
}

static int merge_entry(cmp_stream *s, size_t stripe, int new_key)
{
    iiter *in = s->in;
    const merge_op *op = s->env ? s->env->merge : NULL;
    if (!merge_op_usable(op)) {
        s->chain = 1; /* no operator (yet): keep operands and what lies under them */
        size_t vlen;
        const uint8_t *val = ii_value(in, &vlen);
        return cmp_stream_emit(s, stripe, s->prev.data, s->prev.len, ii_seqno(in), ENTRY_MERGE, val, vlen, new_key);
    }
    merge_list_reset(&s->ops);
    uint64_t top = ii_seqno(in);
    int base = 0;            /* 0 none found, 1 a value, 2 a deletion */
    int foreign = 0;         /* met an entry type merges do not know */
    int under_rt = 0;        /* met an entry a range tombstone deletes */
    int blob_base = 0;       /* the base is a separated value (loaded) */
    const uint8_t *bval = NULL;
    size_t blen = 0;
    for (int first = 1;; first = 0) {
        if (!first && s->rt && cmp_rt_covered(s, s->prev.data, s->prev.len, ii_seqno(in), stripe)) {
            under_rt = 1; /* the operands above have no base; the stream drops this entry */
            break;
        }
        size_t vlen;
        const uint8_t *val = ii_value(in, &vlen);
        uint8_t type = ii_type(in);
        int blob = type == ENTRY_BLOB && blob_job_can_load(s->env->blobs); /* a separated base: loaded below */
        if (type != ENTRY_MERGE && type != ENTRY_VALUE && type != ENTRY_TOMBSTONE && type != ENTRY_SINGLE_DELETE &&
            !blob) {
            foreign = 1; /* not ours to interpret: it and the operands stay */
            break;
        }
        if (merge_list_add_typed(&s->ops, val, vlen, ii_seqno(in), type))
            return fail(s, err_set(&s->err, TIND_ENOMEM, "out of memory collecting merge operands"));
        ii_next(in);
        if (type == ENTRY_VALUE || type == ENTRY_TOMBSTONE || type == ENTRY_SINGLE_DELETE || blob) {
            base = type == ENTRY_TOMBSTONE || type == ENTRY_SINGLE_DELETE ? 2 : 1;
            if (base == 1) {
                bval = merge_list_at(&s->ops, s->ops.count - 1);
                blen = s->ops.len[s->ops.count - 1];
            }
            int lrc = blob ? blob_job_load(s->env->blobs, bval, blen, &bval, &blen, &s->err) : TIND_OK;
            if (lrc)
                return fail(s, lrc);
            blob_base = blob;
            break;
        }
        if (!same_stripe(s, stripe))
            break;
    }
    s->hold = ii_valid(in);
    if (ii_status(in, NULL))
        return fail(s, ii_status(in, &s->err));
    if (foreign) {
        int r = keep_as_they_are(s, stripe, new_key);
        s->chain = 1;
        return r;
    }
    /* the operands alone, newest first */
    merge_list operands = s->ops;
    if (base)
        operands.count--;
    int full = base || under_rt || (s->bottommost && !same_key(s));
    tind_err err;
    err_clear(&err);
    int rc;
    if (full)
        rc = merge_full(op, s->prev.data, s->prev.len, bval, blen, base == 1, &operands, 1, &s->out, &err);
    else
        rc = merge_partial(op, s->prev.data, s->prev.len, &operands, &s->out, &err);
    if (rc == TIND_ENOMEM) {
        s->err = err;
        return fail(s, rc);
    }
    if (rc == TIND_OK) {
        if (blob_base) /* the merged value replaces it: its blob is garbage */
            blob_job_dropped(s->env->blobs, merge_list_at(&s->ops, s->ops.count - 1), s->ops.len[s->ops.count - 1]);
        merge_list_reset(&s->ops);
        return cmp_stream_emit(s, stripe, s->prev.data, s->prev.len, top, full ? ENTRY_VALUE : ENTRY_MERGE,
                               s->out.data, s->out.len, new_key);
    }
    if (rc != TIND_ENOTSUP)
        count(s->env->merge_failures);
    /* kept as they are; when no base was met, what follows in the stripe
     * is a new key or an older stripe: nothing of this stripe is left */
    return keep_as_they_are(s, stripe, new_key);
}

static int single_delete_entry(cmp_stream *s, size_t stripe, int new_key)
{
    iiter *in = s->in;
    uint64_t sd = ii_seqno(in);
    ii_next(in);
    if (ii_status(in, NULL))
        return fail(s, ii_status(in, &s->err));
    s->hold = ii_valid(in);
    if (!same_stripe(s, stripe)) /* alone in its stripe: it waits for its put */
        return cmp_stream_emit(s, stripe, s->prev.data, s->prev.len, sd, ENTRY_SINGLE_DELETE, NULL, 0, new_key);
    if (ii_type(in) == ENTRY_VALUE || ii_type(in) == ENTRY_BLOB) {
        if (ii_type(in) == ENTRY_BLOB && s->env && s->env->blobs) {
            size_t vn;
            const uint8_t *v = ii_value(in, &vn);
            blob_job_dropped(s->env->blobs, v, vn); /* the put (a separated value) goes: garbage */
        }
        ii_next(in);
        if (ii_status(in, NULL))
            return fail(s, ii_status(in, &s->err));
        s->hold = ii_valid(in);
        /* under the put: a deletion, or nothing at all (the bottom) */
        int covered = same_key(s) ? ii_type(in) == ENTRY_TOMBSTONE || ii_type(in) == ENTRY_SINGLE_DELETE
                                  : s->bottommost;
        if (covered) {
            s->last_stripe = SIZE_MAX; /* the pair vanishes; what follows is its stripe's top */
            return 0;
        }
        /* something older may lie under the put (in a table below, or a
         * value whose deletion a newer put shadowed): the put goes, the
         * single delete becomes a remove */
    } else {
        /* over a remove, a single delete or a merge: the contract says a
         * single delete follows one put */
        count(s->env ? s->env->single_delete_violations : NULL);
    }
    return cmp_stream_emit(s, stripe, s->prev.data, s->prev.len, sd, ENTRY_TOMBSTONE, NULL, 0, new_key);
}

int cmp_ops_entry(cmp_stream *s, size_t stripe, int new_key, uint8_t *type, const uint8_t **val, size_t *vlen)
{
    iiter *in = s->in;
    if (s->chain) {
        /* under operands kept as they are: pass until a value or deletion */
        if (*type != ENTRY_MERGE)
            s->chain = 0;
        size_t n;
        const uint8_t *v = ii_value(in, &n);
        return cmp_stream_emit(s, stripe, s->prev.data, s->prev.len, ii_seqno(in), *type, v, n, new_key);
    }
    if (*type == ENTRY_MERGE)
        return merge_entry(s, stripe, new_key);
    if (*type == ENTRY_SINGLE_DELETE)
        return single_delete_entry(s, stripe, new_key);
    /* a value no snapshot sees: the filters (a separated one loaded) */
    *val = ii_value(in, vlen);
    const uint8_t *fval = *val;
    size_t fvlen = *vlen;
    int decision;
    tind_err err;
    err_clear(&err);
    int rc = *type == ENTRY_BLOB ? blob_job_load(s->env->blobs, *val, *vlen, &fval, &fvlen, &err) : TIND_OK;
    if (!rc)
        rc = cmp_filter_apply(s->env->filter, s->level, s->prev.data, s->prev.len, fval, fvlen, ii_seqno(in),
                              (uint64_t)time(NULL), &decision, &s->out, &err);
    if (rc) {
        s->err = err;
        return fail(s, rc);
    }
    if (decision != TIND_FILTER_KEEP && *type == ENTRY_BLOB)
        blob_job_dropped(s->env->blobs, *val, *vlen); /* removed or replaced: its blob is garbage */
    if (decision == TIND_FILTER_REMOVE) {
        *type = ENTRY_TOMBSTONE;
        *val = NULL;
        *vlen = 0;
    } else if (decision == TIND_FILTER_REPLACE) {
        *type = ENTRY_VALUE; /* separated again at or above the threshold */
        *val = s->out.data;
        *vlen = s->out.len;
    }
    return 2;
}
