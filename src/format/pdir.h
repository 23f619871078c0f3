/*
 * pdir.h -- a partitioned table's partition directory, decoded once
 * (issue 15, point reads).
 *
 * A table with a two-level index (and usually a filter partition per index
 * partition) names its partitions in a top-level index block and a
 * top-level filter block: entry i of both is (last internal key of
 * partition i) -> handle of index partition i / filter partition i
 * (docs/FORMAT.md, "Table file"). A point read used to binary-search both
 * top-level blocks, decoding an entry header per step, through the block
 * cache. The directory holds the same entries decoded into arrays at open:
 * the partition of a key is one binary search over plain keys, and the
 * filter partition is the one at the same position.
 *
 * The search compares 8-byte integers first: every key shares the first
 * `skip` bytes (the common prefix of the first and last keys), and pfx[i]
 * holds key i's next 8 bytes, big-endian, zero-padded. That order is
 * monotone with the keys' (pfx[i] < pfx[j] implies key i < key j), so only
 * equal words need the whole internal key: one cache line per step instead
 * of three arrays and a memcmp (tind-bench's keys share 9 of 16 bytes).
 * The words are searched in two steps, each within few cache lines: top[j]
 * holds the last word of group j (PDIR_GROUP = 8 words, one 64-byte line of
 * pfx, which is line-aligned); a binary search over top picks the group, a
 * scan of its line the word. A binary search of 128 words touched about 7
 * lines, one after the other; this touches 2 or 3 (issue 15).
 *
 * It is built only from blocks whose checksums were verified when read, and
 * only when they make sense: the top-level index strictly increasing in
 * internal-key order, every handle well-formed, and the top-level filter
 * block (when partitioned) holding exactly the same keys in the same order.
 * Otherwise pdir_build returns NULL and the reader keeps its block-by-block
 * path, which reports whatever is wrong when a read reaches it.
 *
 * Thread-safety: read-only after pdir_build; any number of readers at once.
 */
#ifndef TIND_FORMAT_PDIR_H
#define TIND_FORMAT_PDIR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "format/block.h"
#include "format/blockio.h"
#include "format/entry.h"

#define PDIR_GROUP 8

typedef struct pdir {
    uint32_t count;            /* partitions */
    uint32_t skip;             /* bytes every key starts with (those of keys[0 .. skip)) */
    uint64_t *pfx;             /* key i's bytes [skip, skip + 8), big-endian, zero-padded; 64-byte aligned */
    uint64_t *top;             /* top[j] = pfx[min(PDIR_GROUP * j + PDIR_GROUP - 1, count - 1)] */
    uint32_t groups;           /* entries of top: ceil(count / PDIR_GROUP) */
    uint8_t *keys;             /* their last user keys, back to back */
    uint32_t *key_end;         /* key i is keys[key_end[i-1] .. key_end[i]) (key_end[-1] = 0) */
    uint64_t *seqnos;          /* the seqno of each last internal key */
    blk_handle *index;         /* index partition i */
    blk_handle *filter;        /* filter partition i, or NULL (no usable partitioned filter) */
    size_t memory;             /* bytes this directory holds */
} pdir;

/* Decodes the top-level index block `index_top` and, when not NULL, the
 * top-level filter block `filter_top` (of a partitioned filter). NULL when
 * out of memory or when the blocks do not qualify (see above); the filter
 * handles alone are left out (filter = NULL) when only the filter block
 * disagrees. */
pdir *pdir_build(const blk *index_top, const blk *filter_top);
void pdir_free(pdir *d);

/* The first partition whose last internal key is >= (key, seqno), or
 * d->count when the key lies past the table's last key. */
/* The bytes [skip, skip + 8) of a key as pdir->pfx holds them. */
static inline uint64_t pdir_word(const uint8_t *key, size_t klen, size_t skip)
{
    uint64_t w = 0;
    size_t n = klen > skip ? klen - skip : 0;
    n = n < 8 ? n : 8;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)key[skip + i] << (56 - 8 * i);
    return w;
}

/* The first i with pfx[i] >= w, or count. */
static inline uint32_t pdir_lower_word(const pdir *d, uint64_t w)
{
    uint32_t lo = 0, hi = d->groups;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d->top[mid] < w)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == d->groups)
        return d->count;
    uint32_t i = lo * PDIR_GROUP; /* top[lo] >= w: the group holds the answer */
    while (d->pfx[i] < w)
        i++;
    return i;
}

static inline uint32_t pdir_find(const pdir *d, const uint8_t *key, size_t klen, uint64_t seqno)
{
    if (d->skip) {
        /* every key starts with keys[0 .. skip): before them all or after them all? */
        size_t n = klen < d->skip ? klen : d->skip;
        int c = n ? memcmp(key, d->keys, n) : 0;
        if (c < 0 || (c == 0 && klen < d->skip))
            return 0;
        if (c > 0)
            return d->count;
    }
    /* keys before lo have smaller words, keys from hi on larger ones: only
     * [lo, hi), where the words equal w, needs the whole internal key */
    uint64_t w = pdir_word(key, klen, d->skip);
    uint32_t lo = pdir_lower_word(d, w);
    if (lo == d->count || d->pfx[lo] != w)
        return lo;
    uint32_t hi = w == UINT64_MAX ? d->count : pdir_lower_word(d, w + 1);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t from = mid ? d->key_end[mid - 1] : 0;
        if (ikey_cmp(d->keys + from, d->key_end[mid] - from, d->seqnos[mid], key, klen, seqno) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

#endif
