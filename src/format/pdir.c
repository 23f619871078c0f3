/*
 * pdir.c -- decodes a partitioned table's top-level index (and filter)
 * blocks into a partition directory (pdir.h).
 */
#include "format/pdir.h"

#include <stdlib.h>
#include <string.h>

void pdir_free(pdir *d)
{
    if (!d)
        return;
    free(d->keys);
    free(d->key_end);
    free(d->pfx);
    free(d->top);
    free(d->seqnos);
    free(d->index);
    free(d->filter);
    free(d);
}

/* Decodes the handle that is exactly the value of the iterator's entry. */
static int pdir_handle(const blk_iter *it, blk_handle *h)
{
    const uint8_t *end = it->value + it->value_len;
    const uint8_t *p = blk_handle_decode(it->value, end, h);
    return p && p == end ? 0 : -1;
}

/* Counts the entries of b; -1 when malformed. */
static long pdir_count(const blk *b, size_t *key_bytes)
{
    blk_iter it;
    long n = 0;
    *key_bytes = 0;
    blk_iter_init(&it, b);
    for (blk_iter_first(&it); it.valid; blk_iter_next(&it)) {
        n++;
        *key_bytes += it.key.len;
    }
    int bad = it.status != TIND_OK;
    blk_iter_free(&it);
    return bad || n > (long)UINT32_MAX - 1 || *key_bytes > UINT32_MAX ? -1 : n;
}

/* Fills d->filter from filter_top when it has exactly d's keys, in order. */
static void pdir_add_filter(pdir *d, const blk *filter_top)
{
    blk_handle *fh = malloc(d->count * sizeof *fh);
    if (!fh)
        return;
    blk_iter it;
    uint32_t i = 0;
    int ok = 1;
    blk_iter_init(&it, filter_top);
    for (blk_iter_first(&it); it.valid && ok; blk_iter_next(&it), i++) {
        uint32_t from = i ? d->key_end[i - 1] : 0;
        ok = i < d->count && it.seqno == d->seqnos[i] &&
             key_cmp(it.key.data, it.key.len, d->keys + from, d->key_end[i] - from) == 0 &&
             pdir_handle(&it, &fh[i]) == 0;
    }
    ok = ok && it.status == TIND_OK && i == d->count;
    blk_iter_free(&it);
    if (!ok) {
        free(fh);
        return;
    }
    d->filter = fh;
    d->memory += d->count * sizeof *fh;
}

/* Sets d->skip, d->pfx and d->top from the keys (pdir.h). */
static int pdir_add_words(pdir *d)
{
    size_t bytes = ((size_t)d->count * sizeof *d->pfx + 63) & ~(size_t)63;
    d->groups = (d->count + PDIR_GROUP - 1) / PDIR_GROUP;
    d->pfx = aligned_alloc(64, bytes);
    d->top = malloc(d->groups * sizeof *d->top);
    if (!d->pfx || !d->top)
        return -1;
    /* sorted keys: what the first and the last share, all share */
    uint32_t first_len = d->key_end[0], last_from = d->count > 1 ? d->key_end[d->count - 2] : 0;
    uint32_t last_len = d->key_end[d->count - 1] - last_from, n = first_len < last_len ? first_len : last_len;
    uint32_t skip = 0;
    while (skip < n && d->keys[skip] == d->keys[last_from + skip])
        skip++;
    d->skip = skip;
    for (uint32_t i = 0; i < d->count; i++) {
        uint32_t from = i ? d->key_end[i - 1] : 0;
        d->pfx[i] = pdir_word(d->keys + from, d->key_end[i] - from, skip);
    }
    for (uint32_t j = 0; j < d->groups; j++) {
        uint32_t last = j * PDIR_GROUP + PDIR_GROUP - 1;
        d->top[j] = d->pfx[last < d->count ? last : d->count - 1];
    }
    d->memory += bytes + d->groups * sizeof *d->top;
    return 0;
}

pdir *pdir_build(const blk *index_top, const blk *filter_top)
{
    size_t key_bytes;
    long n = pdir_count(index_top, &key_bytes);
    if (n <= 0)
        return NULL;
    pdir *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->count = (uint32_t)n;
    d->keys = malloc(key_bytes ? key_bytes : 1);
    d->key_end = malloc(d->count * sizeof *d->key_end);
    d->seqnos = malloc(d->count * sizeof *d->seqnos);
    d->index = malloc(d->count * sizeof *d->index);
    if (!d->keys || !d->key_end || !d->seqnos || !d->index) {
        pdir_free(d);
        return NULL;
    }
    d->memory = sizeof *d + key_bytes + d->count * (sizeof *d->key_end + sizeof *d->seqnos + sizeof *d->index);
    blk_iter it;
    uint32_t i = 0;
    size_t at = 0;
    int ok = 1;
    blk_iter_init(&it, index_top);
    for (blk_iter_first(&it); it.valid && ok; blk_iter_next(&it), i++) {
        /* strictly increasing: the binary search must mean what it finds */
        ok = i < d->count && at + it.key.len <= key_bytes && pdir_handle(&it, &d->index[i]) == 0 &&
             (i == 0 || ikey_cmp(d->keys + (i > 1 ? d->key_end[i - 2] : 0),
                                 d->key_end[i - 1] - (i > 1 ? d->key_end[i - 2] : 0), d->seqnos[i - 1],
                                 it.key.data, it.key.len, it.seqno) < 0);
        if (!ok)
            break;
        if (it.key.len)
            memcpy(d->keys + at, it.key.data, it.key.len);
        at += it.key.len;
        d->key_end[i] = (uint32_t)at;
        d->seqnos[i] = it.seqno;
    }
    ok = ok && it.status == TIND_OK && i == d->count;
    blk_iter_free(&it);
    if (!ok || pdir_add_words(d) != 0) {
        pdir_free(d);
        return NULL;
    }
    if (filter_top)
        pdir_add_filter(d, filter_top);
    return d;
}
