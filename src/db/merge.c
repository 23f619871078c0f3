/*
 * merge.c -- a keyspace's merge operator and compaction filter in force,
 * and merging at read time (db/merge.h).
 */
#include "db/merge.h"

#include <string.h>

void ks_ops_init(tind_keyspace *ks)
{
    if (merge_op_usable(&ks->opts.merge)) {
        ks->merge_slot = ks->opts.merge;
        atomic_store_explicit(&ks->merge_rt, &ks->merge_slot, memory_order_release);
    }
    if (cmp_filter_active(&ks->opts.filter)) {
        ks->filter_slot[0] = ks->opts.filter;
        atomic_store_explicit(&ks->filter_rt, &ks->filter_slot[0], memory_order_release);
    }
}

int ks_ops_attach(tind_keyspace *ks, const struct tind_ks_options *o, tind_err *err)
{
    tind_db *db = ks->db;
    int rc = TIND_OK;
    mu_lock(&db->mu);
    merge_op *cur = atomic_load_explicit(&ks->merge_rt, memory_order_acquire);
    const char *want = cur ? cur->name : ks->opts.merge.name;
    if (o->merge.name[0]) {
        if (want[0] && strcmp(want, o->merge.name) != 0) {
            rc = err_set(err, TIND_EINVAL, "keyspace '%s' has merge operator '%s', opened with '%s'", ks->name, want,
                         o->merge.name);
        } else if (!cur && merge_op_usable(&o->merge)) {
            ks->merge_slot = o->merge;
            atomic_store_explicit(&ks->merge_rt, &ks->merge_slot, memory_order_release);
        }
    }
    cmp_filter *f = atomic_load_explicit(&ks->filter_rt, memory_order_acquire);
    if (rc == TIND_OK && o->filter.fn && !(f && f->fn) && f != &ks->filter_slot[1]) {
        ks->filter_slot[1] = o->filter;
        ks->filter_slot[1].value_ttl = ks->opts.filter.value_ttl;
        atomic_store_explicit(&ks->filter_rt, &ks->filter_slot[1], memory_order_release);
    }
    mu_unlock(&db->mu);
    return rc;
}

const merge_op *ks_merge_op(tind_keyspace *ks)
{
    const merge_op *op = atomic_load_explicit(&ks->merge_rt, memory_order_acquire);
    if (op)
        return op;
    return ks->opts.merge.name[0] ? &ks->opts.merge : NULL;
}

const cmp_filter *ks_filter(tind_keyspace *ks) { return atomic_load_explicit(&ks->filter_rt, memory_order_acquire); }

int ks_merge_values(tind_keyspace *ks, const uint8_t *key, size_t klen, const uint8_t *base, size_t blen,
                    int has_base, const merge_list *ops, int newest_first, tbuf *out, tind_err *err)
{
    const merge_op *op = ks_merge_op(ks);
    if (merge_op_usable(op))
        return merge_full(op, key, klen, base, blen, has_base, ops, newest_first, out, err);
    tind_err why;
    err_clear(&why);
    merge_full(op, key, klen, NULL, 0, 0, ops, 1, out, &why);
    return err_set(err, TIND_ENOTSUP, "keyspace '%s': %s", ks->name, why.msg);
}

int ks_merge_read(tind_keyspace *ks, const uint8_t *key, size_t klen, merge_list *ops, ks_older_fn next, void *ctx,
                  tbuf *out, tind_err *err)
{
    if (!merge_op_usable(ks_merge_op(ks)))
        return ks_merge_values(ks, key, klen, NULL, 0, 0, ops, 1, out, err);
    for (;;) {
        uint8_t type;
        uint64_t seqno;
        const uint8_t *val;
        size_t vlen;
        int rc = next(ctx, &type, &seqno, &val, &vlen, err);
        if (rc == TIND_NOT_FOUND)
            break;
        if (rc)
            return rc;
        if (type == ENTRY_MERGE) {
            if (merge_list_add(ops, val, vlen, seqno))
                return err_set(err, TIND_ENOMEM, "out of memory collecting merge operands");
            continue;
        }
        if (type == ENTRY_VALUE)
            return ks_merge_values(ks, key, klen, val, vlen, 1, ops, 1, out, err);
        break; /* a deletion: no base */
    }
    return ks_merge_values(ks, key, klen, NULL, 0, 0, ops, 1, out, err);
}
