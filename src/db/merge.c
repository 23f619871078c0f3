/*
 * merge.c -- a keyspace's merge operator and compaction filter in force,
 * and merging at read time, with the merge cache of point reads
 * (db/merge.h).
 */
#include "db/merge.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

/* The merge cache: direct-mapped by key hash, a slot per key; slots are
 * guarded by striped locks (a lookup copies the slot out, a store copies a
 * value in: at most MCACHE_VAL_MAX bytes under a lock). */
#define MCACHE_SLOTS 1024u
#define MCACHE_LOCKS 16u
#define MCACHE_KEY_MAX 48u
#define MCACHE_VAL_MAX 64u

typedef struct mcache_slot {
    uint64_t seqno; /* of the newest entry the value includes; 0 = empty */
    uint8_t klen, vlen;
    uint8_t key[MCACHE_KEY_MAX];
    uint8_t val[MCACHE_VAL_MAX];
} mcache_slot;

struct merge_cache {
    tind_mutex mu[MCACHE_LOCKS];
    mcache_slot slot[MCACHE_SLOTS];
};

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

/* ------------------------------------------------------------------ the merge cache */

static struct merge_cache *mcache_of(tind_keyspace *ks)
{
    struct merge_cache *c = atomic_load_explicit(&ks->merge_cache, memory_order_acquire);
    if (c)
        return c;
    struct merge_cache *fresh = calloc(1, sizeof *fresh);
    if (!fresh)
        return NULL; /* no cache: reads walk the chain */
    for (unsigned i = 0; i < MCACHE_LOCKS; i++)
        mu_init(&fresh->mu[i]);
    if (atomic_compare_exchange_strong_explicit(&ks->merge_cache, &c, fresh, memory_order_acq_rel,
                                                memory_order_acquire))
        return fresh;
    for (unsigned i = 0; i < MCACHE_LOCKS; i++)
        mu_destroy(&fresh->mu[i]);
    free(fresh);
    return c; /* another reader made it first */
}

void ks_ops_free(tind_keyspace *ks)
{
    struct merge_cache *c = atomic_load_explicit(&ks->merge_cache, memory_order_acquire);
    if (!c)
        return;
    for (unsigned i = 0; i < MCACHE_LOCKS; i++)
        mu_destroy(&c->mu[i]);
    free(c);
    atomic_store_explicit(&ks->merge_cache, NULL, memory_order_relaxed);
}

static size_t mcache_index(const uint8_t *key, size_t klen) { return (size_t)(hash64(key, klen) & (MCACHE_SLOTS - 1)); }

/* Copies key's slot into *hit: 1 when it holds key, else 0. */
static int mcache_get(struct merge_cache *c, size_t i, const uint8_t *key, size_t klen, mcache_slot *hit)
{
    tind_mutex *mu = &c->mu[i % MCACHE_LOCKS];
    mu_lock(mu);
    const mcache_slot *s = &c->slot[i];
    int found = s->seqno && s->klen == klen && memcmp(s->key, key, klen) == 0;
    if (found) {
        hit->seqno = s->seqno;
        hit->vlen = s->vlen;
        memcpy(hit->val, s->val, s->vlen);
    }
    mu_unlock(mu);
    return found;
}

/* Keeps key's value as of seqno (a newer one of the same key stays). */
static void mcache_put(struct merge_cache *c, size_t i, const uint8_t *key, size_t klen, uint64_t seqno,
                       const tbuf *val)
{
    if (klen > MCACHE_KEY_MAX || val->len > MCACHE_VAL_MAX || !seqno)
        return;
    tind_mutex *mu = &c->mu[i % MCACHE_LOCKS];
    mu_lock(mu);
    mcache_slot *s = &c->slot[i];
    int same = s->seqno && s->klen == klen && memcmp(s->key, key, klen) == 0;
    if (!same || s->seqno < seqno) {
        s->seqno = seqno;
        s->klen = (uint8_t)klen;
        memcpy(s->key, key, klen);
        s->vlen = (uint8_t)val->len;
        if (val->len)
            memcpy(s->val, val->data, val->len);
    }
    mu_unlock(mu);
}

/* ------------------------------------------------------------------ reading */

/* The walk of ks_merge_read: with hit (not NULL), the entry at hit->seqno
 * is the cached value's (db/merge.h): the walk stops there with it as the
 * base. */
static int merge_walk(tind_keyspace *ks, const uint8_t *key, size_t klen, merge_list *ops, ks_older_fn next,
                      void *ctx, const mcache_slot *hit, tbuf *out, tind_err *err)
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
        /* only the operand the value was cached at: a value at that seqno
         * is a later fold of it that a compaction filter may have replaced
         * (and is itself the base, at no cost) */
        if (hit && seqno == hit->seqno && type == ENTRY_MERGE)
            return ks_merge_values(ks, key, klen, hit->val, hit->vlen, 1, ops, 1, out, err);
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

int ks_merge_read(tind_keyspace *ks, const uint8_t *key, size_t klen, merge_list *ops, ks_older_fn next, void *ctx,
                  tbuf *out, tind_err *err)
{
    return merge_walk(ks, key, klen, ops, next, ctx, NULL, out, err);
}

int ks_merge_read_cached(tind_keyspace *ks, const uint8_t *key, size_t klen, uint64_t top, merge_list *ops,
                         ks_older_fn next, void *ctx, tbuf *out, tind_err *err)
{
    struct merge_cache *c = klen <= MCACHE_KEY_MAX && merge_op_usable(ks_merge_op(ks)) ? mcache_of(ks) : NULL;
    if (!c)
        return merge_walk(ks, key, klen, ops, next, ctx, NULL, out, err);
    size_t i = mcache_index(key, klen);
    mcache_slot hit;
    int have = mcache_get(c, i, key, klen, &hit);
    if (have && hit.seqno == top) { /* nothing written to the key since */
        tbuf_reset(out);
        return tbuf_append(out, hit.val, hit.vlen) ? err_set(err, TIND_ENOMEM, "out of memory") : TIND_OK;
    }
    int rc = merge_walk(ks, key, klen, ops, next, ctx, have && hit.seqno < top ? &hit : NULL, out, err);
    if (rc == TIND_OK)
        mcache_put(c, i, key, klen, top, out);
    return rc;
}
