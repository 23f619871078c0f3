/*
 * filter.c -- compaction filters: the TTL rule and calling the user's
 * callback (compaction/filter.h).
 */
#include "compaction/filter.h"

#include <stdlib.h>

uint64_t filter_value_expiry(const uint8_t *val, size_t vlen)
{
    if (vlen < 8)
        return 0;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | val[i];
    return t;
}

int cmp_filter_apply(const cmp_filter *f, int level, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen, uint64_t seqno, uint64_t now, int *decision, tbuf *replacement, tind_err *err)
{
    *decision = TIND_FILTER_KEEP;
    if (f->value_ttl) {
        uint64_t expiry = filter_value_expiry(val, vlen);
        if (expiry && expiry <= now) {
            *decision = TIND_FILTER_REMOVE;
            return TIND_OK;
        }
    }
    if (!f->fn)
        return TIND_OK;
    void *nv = NULL;
    size_t nlen = 0;
    int d = f->fn(f->ctx, level, key, klen, val, vlen, seqno, &nv, &nlen);
    if (d == TIND_FILTER_KEEP || d == TIND_FILTER_REMOVE) {
        free(nv);
        *decision = d;
        return TIND_OK;
    }
    if (d == TIND_FILTER_REPLACE && (nv || !nlen)) {
        tbuf_reset(replacement);
        int rc = tbuf_append(replacement, nv, nlen);
        free(nv);
        if (rc)
            return err_set(err, TIND_ENOMEM, "out of memory for a filtered value of %zu bytes", nlen);
        *decision = d;
        return TIND_OK;
    }
    free(nv);
    return err_set(err, TIND_ECORRUPT, "compaction filter returned %d (not keep, remove or replace%s) on a key of %zu bytes",
                   d, d == TIND_FILTER_REPLACE ? " with a value" : "", klen);
}
