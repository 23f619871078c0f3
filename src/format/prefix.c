/*
 * prefix.c -- prefix extractors (prefix.h).
 */
#include "format/prefix.h"

#include <stdio.h>
#include <string.h>

#include "util/hash.h"

/* Prefix hashes use their own seed, so a prefix and a whole key with the
 * same bytes set different filter bits. */
#define PFX_HASH_SEED 0x7072656669786673ull   /* "prefixfs" */

void pfx_init(pfx_extractor *x)
{
    memset(x, 0, sizeof *x);
    x->kind = PFX_NONE;
    x->whole_keys = 1;
}

const pfx_callback *pfx_callback_of(const pfx_extractor *x)
{
    if (x->kind != PFX_CALLBACK || !x->slot)
        return NULL;
    return atomic_load_explicit(x->slot, memory_order_acquire);
}

int pfx_active(const pfx_extractor *x)
{
    if (x->kind == PFX_CALLBACK)
        return pfx_callback_of(x) != NULL;
    return x->kind == PFX_FIXED || x->kind == PFX_SEPARATOR;
}

int pfx_extract(const pfx_extractor *x, const pfx_callback *cb, const uint8_t *key, size_t klen, size_t *plen)
{
    switch (x->kind) {
    case PFX_FIXED:
        if (klen < x->len || x->len == 0)
            return 0;
        *plen = x->len;
        return 1;
    case PFX_SEPARATOR: {
        const uint8_t *s = klen ? memchr(key, x->sep, klen) : NULL;
        if (!s)
            return 0;
        *plen = (size_t)(s - key) + 1;
        return 1;
    }
    case PFX_CALLBACK: {
        if (!cb || !cb->fn || klen == 0)
            return 0;
        size_t n = cb->fn(cb->ctx, key, klen);
        if (n == 0 || n > klen)
            return 0;
        *plen = n;
        return 1;
    }
    default:
        return 0;
    }
}

void pfx_name(const pfx_extractor *x, char *buf, size_t n)
{
    switch (x->kind) {
    case PFX_FIXED:
        snprintf(buf, n, "fixed:%u", (unsigned)x->len);
        break;
    case PFX_SEPARATOR:
        snprintf(buf, n, "separator:0x%02x", (unsigned)x->sep);
        break;
    case PFX_CALLBACK:
        snprintf(buf, n, "user:%s", x->name);
        break;
    default:
        if (n)
            buf[0] = 0;
    }
}

uint64_t pfx_hash(const uint8_t *prefix, size_t n) { return hash64_seed(prefix, n, PFX_HASH_SEED); }

int pfx_scan_prefix(const pfx_extractor *x, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen,
                    int has_hi, size_t *qlen)
{
    size_t n;
    const pfx_callback *cb = pfx_callback_of(x);
    if (!lo || lolen == 0 || !pfx_extract(x, cb, lo, lolen, &n))
        return 0;
    /* Keys starting with q = lo[0..n) are exactly [q, succ(q)), succ(q) being
     * q with its last byte below 0xFF incremented (and cut after it); the
     * range [lo, hi) lies inside when hi <= succ(q). With q all 0xFF every
     * key >= q starts with q. */
    size_t s = n;
    while (s > 0 && lo[s - 1] == 0xFF)
        s--;
    if (s == 0) {
        *qlen = n;
        return 1;
    }
    if (!has_hi || !hi)
        return 0;
    /* hi <= succ(q), compared in place */
    size_t m = hilen < s - 1 ? hilen : s - 1;
    int c = m ? memcmp(hi, lo, m) : 0;
    if (c > 0)
        return 0;
    if (c == 0 && hilen >= s) {
        unsigned b = hi[s - 1], t = (unsigned)lo[s - 1] + 1;
        if (b > t || (b == t && hilen > s))
            return 0;
    }
    *qlen = n;
    return 1;
}
