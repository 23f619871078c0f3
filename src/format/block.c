/*
 * block.c -- data block builder and reader (block.h; byte layout in
 * docs/FORMAT.md, "Data block").
 *
 *   entries | restart offsets | hash buckets | footer (14 bytes)
 *   footer = u32 restart_count | u32 bucket_count | u8 flags | u8 format (1)
 *            | u32 trailer checksum
 * The trailer checksum (low 32 bits of xxh3-64 over the trailer up to the
 * checksum itself) is there because a damaged restart offset that still
 * passes the structural checks could make prev() re-scan from the middle of
 * an entry and return phantom entries; with it, any damage to the trailer is
 * rejected by blk_parse. Damage to the entries is the stored block's
 * checksum's job (blockio.c); the reader only guarantees it stays in bounds.
 *
 * Invariants a parsed block satisfies (checked by blk_parse, in O(restarts)):
 *   - restart_count == 0 exactly when the block has no entries;
 *   - restart offsets are strictly increasing, the first is 0, all are below
 *     entries_end, and each names a byte 0x00 (a restart entry's shared = 0);
 *   - offsets are u32 exactly when the block is larger than 64 KiB;
 *   - a hash index is present exactly when bucket_count > 0, and then
 *     restart_count <= 253 and bucket_count <= 65535.
 * Entries themselves are decoded lazily by iterators; every decode is bounded
 * by entries_end and any malformation sets the iterator's status to
 * TIND_ECORRUPT. Keys are rebuilt into the iterator's own tbuf (grown
 * geometrically, so iteration does not allocate per entry); values point into
 * the block. Binary search compares restart keys in place.
 *
 * Thread-safety: a builder belongs to one thread. A blk is read-only after
 * blk_parse; any number of iterators (one per thread) may read it at once.
 */
#include "format/block.h"

#include <stdlib.h>
#include <string.h>

#include "util/coding.h"
#include "util/hash.h"

/* On-disk constants. DO NOT CHANGE: written in every block (FROZEN). */
#define BLK_FOOTER_SIZE     14
#define BLK_FORMAT          1      /* last footer byte */
#define BLK_FLAG_WIDE       0x01   /* restart offsets are u32 */
#define BLK_FLAG_HASH       0x02   /* a hash index precedes the footer */
#define BLK_HASH_FREE       255    /* no user key hashes to this bucket */
#define BLK_HASH_CONFLICT   254    /* keys of several restart intervals do */
#define BLK_HASH_MAX_RESTARTS 253  /* more restart points: no hash index */
#define BLK_HASH_MAX_BUCKETS  65535
#define BLK_NARROW_LIMIT    65536  /* blocks up to this size use u16 offsets */

/* ---- builder ------------------------------------------------------------ */

/* Buckets the hash index gets if the block is finished now (0 = none): kept
 * in b->buckets as entries come (blk_builder_estimate runs per entry). */
static uint32_t builder_bucket_count(const blk_builder *b)
{
    if (!(b->hash_ratio > 0) || b->restart_count > BLK_HASH_MAX_RESTARTS)
        return 0;
    double d = (double)b->hash_count / b->hash_ratio;
    if (!(d >= 1))
        return 1;
    if (d > BLK_HASH_MAX_BUCKETS)
        return BLK_HASH_MAX_BUCKETS;
    return (uint32_t)d;
}

void blk_builder_init(blk_builder *b, uint32_t restart_interval, double hash_ratio)
{
    memset(b, 0, sizeof *b);
    b->restart_interval = restart_interval ? restart_interval : 1;
    b->hash_ratio = hash_ratio > 0 ? hash_ratio : 0;   /* NaN and negatives: no index */
    b->buckets = builder_bucket_count(b);
}

void blk_builder_reset(blk_builder *b)
{
    tbuf_reset(&b->buf);
    tbuf_reset(&b->last_key);
    b->restart_count = 0;
    b->since_restart = 0;
    b->count = 0;
    b->hash_count = 0;
    b->last_seqno = 0;
    b->finished = 0;
    b->buckets = builder_bucket_count(b);
}

void blk_builder_free(blk_builder *b)
{
    tbuf_free(&b->buf);
    tbuf_free(&b->last_key);
    free(b->restarts);
    free(b->key_hashes);
    memset(b, 0, sizeof *b);
}

static size_t builder_finished_size(const blk_builder *b, uint32_t buckets, unsigned *width)
{
    size_t fixed = b->buf.len + buckets + BLK_FOOTER_SIZE;
    size_t narrow = fixed + (size_t)b->restart_count * 2;
    *width = narrow <= BLK_NARROW_LIMIT ? 2 : 4;
    return fixed + (size_t)b->restart_count * *width;
}

size_t blk_builder_estimate(const blk_builder *b)
{
    if (b->finished)
        return b->buf.len;
    unsigned width;
    return builder_finished_size(b, b->buckets, &width);
}

int blk_builder_add(blk_builder *b, const uint8_t *key, size_t klen, uint64_t seqno,
                    uint8_t type, const uint8_t *val, size_t vlen)
{
    if (b->finished || type > ENTRY_TYPE_MAX || (klen && !key) || (vlen && !val))
        return TIND_EINVAL;
    int new_user_key = 1;
    if (b->count) {
        int c = key_cmp(key, klen, b->last_key.data, b->last_key.len);
        if (c < 0 || (c == 0 && seqno >= b->last_seqno))
            return TIND_EINVAL;   /* not strictly after the previous entry */
        new_user_key = c != 0;
    }
    /* Every entry offset must fit the u32 restart array. */
    if (klen > UINT32_MAX || b->buf.len > UINT32_MAX)
        return TIND_ETOOBIG;

    int restart = b->count == 0 || b->since_restart >= b->restart_interval;
    size_t shared = restart ? 0 : key_common_prefix(b->last_key.data, b->last_key.len, key, klen);
    size_t unshared = klen - shared;
    uint8_t head[VARINT32_MAX_LEN * 2 + VARINT64_MAX_LEN * 2 + 1];
    uint8_t *p = enc_varint32(head, (uint32_t)shared);
    p = enc_varint32(p, (uint32_t)unshared);
    p = enc_varint64(p, (uint64_t)vlen);
    *p++ = type;
    p = enc_varint64(p, seqno);
    size_t hlen = (size_t)(p - head);
    if (vlen > SIZE_MAX / 2 - hlen - unshared)
        return TIND_ETOOBIG;
    uint32_t restart_after = b->restart_count + (restart ? 1 : 0);
    int record_hash = b->hash_ratio > 0 && new_user_key && restart_after <= BLK_HASH_MAX_RESTARTS;

    /* Reserve everything first so that a failure leaves the builder as it was. */
    if (tbuf_reserve(&b->buf, hlen + unshared + vlen))
        return TIND_ENOMEM;
    if (restart && b->restart_count == b->restart_cap) {
        uint32_t cap = b->restart_cap ? b->restart_cap * 2 : 16;
        uint32_t *r = realloc(b->restarts, (size_t)cap * sizeof *r);
        if (!r)
            return TIND_ENOMEM;
        b->restarts = r;
        b->restart_cap = cap;
    }
    if (record_hash && b->hash_count == b->hash_cap) {
        uint32_t cap = b->hash_cap ? b->hash_cap * 2 : 32;
        uint64_t *h = realloc(b->key_hashes, (size_t)cap * sizeof *h);
        if (!h)
            return TIND_ENOMEM;
        b->key_hashes = h;
        b->hash_cap = cap;
    }
    if (klen > b->last_key.cap && tbuf_reserve(&b->last_key, klen - b->last_key.len))
        return TIND_ENOMEM;

    if (restart) {
        b->restarts[b->restart_count++] = (uint32_t)b->buf.len;
        b->since_restart = 0;
    }
    uint8_t *dst = b->buf.data + b->buf.len;
    memcpy(dst, head, hlen);
    if (unshared)
        memcpy(dst + hlen, key + shared, unshared);
    if (vlen)
        memcpy(dst + hlen + unshared, val, vlen);
    b->buf.len += hlen + unshared + vlen;
    if (record_hash) {
        /* The top 56 bits of the hash pick the bucket; the low byte holds
         * the restart interval where this user key first appears. */
        uint64_t h = hash64(key, klen);
        b->key_hashes[b->hash_count++] = (h & ~(uint64_t)0xff) | (b->restart_count - 1);
    }
    if (klen)
        memcpy(b->last_key.data, key, klen);
    b->last_key.len = klen;
    b->last_seqno = seqno;
    b->count++;
    b->since_restart++;
    if (restart || record_hash)
        b->buckets = builder_bucket_count(b);
    return TIND_OK;
}

int blk_builder_finish(blk_builder *b, const uint8_t **data, size_t *len)
{
    if (!b->finished) {
        uint32_t buckets = b->buckets;
        unsigned width;
        size_t total = builder_finished_size(b, buckets, &width);
        if (tbuf_reserve(&b->buf, total - b->buf.len))
            return TIND_ENOMEM;
        uint8_t *p = b->buf.data + b->buf.len;
        for (uint32_t i = 0; i < b->restart_count; i++) {
            if (width == 2)
                enc_u16(p, (uint16_t)b->restarts[i]);
            else
                enc_u32(p, b->restarts[i]);
            p += width;
        }
        if (buckets) {
            memset(p, BLK_HASH_FREE, buckets);
            for (uint32_t i = 0; i < b->hash_count; i++) {
                uint64_t h = b->key_hashes[i];
                uint8_t restart_index = (uint8_t)(h & 0xff);
                uint8_t *slot = p + (h >> 8) % buckets;
                if (*slot == BLK_HASH_FREE)
                    *slot = restart_index;
                else if (*slot != restart_index)
                    *slot = BLK_HASH_CONFLICT;
            }
            p += buckets;
        }
        enc_u32(p, b->restart_count);
        enc_u32(p + 4, buckets);
        p[8] = (uint8_t)((width == 4 ? BLK_FLAG_WIDE : 0) | (buckets ? BLK_FLAG_HASH : 0));
        p[9] = BLK_FORMAT;
        size_t entries_end = b->buf.len;
        enc_u32(p + 10, (uint32_t)hash64(b->buf.data + entries_end, total - entries_end - 4));
        b->buf.len = total;
        b->finished = 1;
    }
    *data = b->buf.data;
    *len = b->buf.len;
    return TIND_OK;
}

/* ---- parsing ------------------------------------------------------------ */

static inline uint32_t restart_at(const blk *b, uint32_t i)
{
    const uint8_t *p = b->restarts + (size_t)i * b->offset_width;
    return b->offset_width == 2 ? dec_u16(p) : dec_u32(p);
}

int blk_parse(blk *b, const uint8_t *data, size_t size, tind_err *err)
{
    memset(b, 0, sizeof *b);
    if (!data || size < BLK_FOOTER_SIZE)
        return err_set(err, TIND_ECORRUPT, "block of %zu bytes is too small for its footer", size);
    const uint8_t *f = data + size - BLK_FOOTER_SIZE;
    uint32_t restart_count = dec_u32(f);
    uint32_t bucket_count = dec_u32(f + 4);
    uint8_t flags = f[8];
    if (f[9] != BLK_FORMAT)
        return err_set(err, TIND_ECORRUPT, "block: unknown block format %u", f[9]);
    if (flags & ~(BLK_FLAG_WIDE | BLK_FLAG_HASH))
        return err_set(err, TIND_ECORRUPT, "block: unknown flags 0x%02x", flags);
    unsigned width = (flags & BLK_FLAG_WIDE) ? 4 : 2;
    if ((width == 4) != (size > BLK_NARROW_LIMIT))
        return err_set(err, TIND_ECORRUPT, "block: %u-byte restart offsets in a block of %zu bytes", width, size);
    if (!(flags & BLK_FLAG_HASH) != (bucket_count == 0))
        return err_set(err, TIND_ECORRUPT, "block: hash index flag disagrees with bucket count %u", bucket_count);
    if (bucket_count > BLK_HASH_MAX_BUCKETS)
        return err_set(err, TIND_ECORRUPT, "block: %u hash buckets (at most %u)", bucket_count,
                       BLK_HASH_MAX_BUCKETS);
    if (bucket_count && restart_count > BLK_HASH_MAX_RESTARTS)
        return err_set(err, TIND_ECORRUPT, "block: hash index with %u restart points (at most %u)",
                       restart_count, BLK_HASH_MAX_RESTARTS);
    uint64_t trailer = (uint64_t)restart_count * width + bucket_count + BLK_FOOTER_SIZE;
    if (trailer > size)
        return err_set(err, TIND_ECORRUPT, "block: %u restart points and %u buckets do not fit in %zu bytes",
                       restart_count, bucket_count, size);
    size_t entries_end = size - (size_t)trailer;
    if ((restart_count == 0) != (entries_end == 0))
        return err_set(err, TIND_ECORRUPT, "block: %u restart points for %zu bytes of entries",
                       restart_count, entries_end);
    if ((uint32_t)hash64(data + entries_end, size - entries_end - 4) != dec_u32(f + 10))
        return err_set(err, TIND_ECORRUPT, "block: trailer checksum mismatch");
    b->data = data;
    b->size = size;
    b->entries_end = entries_end;
    b->restarts = data + entries_end;
    b->restart_count = restart_count;
    b->offset_width = (uint8_t)width;
    b->buckets = bucket_count ? b->restarts + (size_t)restart_count * width : NULL;
    b->bucket_count = bucket_count;
    uint32_t prev = 0;
    for (uint32_t i = 0; i < restart_count; i++) {
        uint32_t off = restart_at(b, i);
        const char *why = NULL;
        if (i == 0 && off != 0)
            why = "the first is not 0";
        else if (i > 0 && off <= prev)
            why = "not increasing";
        else if (off >= entries_end)
            why = "past the entries";
        else if (data[off] != 0)
            why = "not at an entry with shared = 0";
        if (why) {
            memset(b, 0, sizeof *b);
            return err_set(err, TIND_ECORRUPT, "block: restart point %u at offset %u is %s", i, off, why);
        }
        prev = off;
    }
    return TIND_OK;
}

/* ---- iteration ---------------------------------------------------------- */

/* An entry's header, decoded and bounds-checked against entries_end. */
typedef struct entry_head {
    uint32_t shared;
    uint32_t unshared;
    uint64_t value_len;
    uint64_t seqno;
    uint8_t type;
    const uint8_t *suffix;    /* the unshared key bytes, then the value */
} entry_head;

/* Decodes the header of the entry at off; prev_len is the length of the key
 * before it (0 at a restart point). Returns 0, or -1 when malformed. Always
 * in line: it is the inner step of every move, and a call (with the header
 * passed through memory) costs a fifth of it. */
static inline __attribute__((always_inline)) int decode_head(const blk *b, size_t off, size_t prev_len, entry_head *h)
{
    const uint8_t *p = b->data + off;
    const uint8_t *end = b->data + b->entries_end;
    if (end - p >= 4 && ((p[0] | p[1] | p[2]) & 0x80) == 0) {
        h->shared = p[0];
        h->unshared = p[1];
        h->value_len = p[2];
        p += 3;
    } else {
        if (!(p = dec_varint32(p, end, &h->shared)) || !(p = dec_varint32(p, end, &h->unshared)) ||
            !(p = dec_varint64(p, end, &h->value_len)))
            return -1;
    }
    if (p >= end)
        return -1;
    h->type = *p++;
    if (h->type > ENTRY_TYPE_MAX || !(p = dec_varint64(p, end, &h->seqno)))
        return -1;
    size_t avail = (size_t)(end - p);
    if (h->shared > prev_len || h->unshared > avail || h->value_len > avail - h->unshared)
        return -1;
    h->suffix = p;
    return 0;
}

static void iter_fail(blk_iter *it, int status)
{
    it->status = status;
    it->valid = 0;
}

void blk_iter_init(blk_iter *it, const blk *b)
{
    memset(it, 0, sizeof *it);
    it->b = b;
    it->status = TIND_OK;
}

/* The entries of restart interval `restart` that a backward move decoded,
 * from the interval's first on, each with its key rebuilt (back to back in
 * `keys`) and its header kept, so that a step back within the interval is
 * a copy of the key and no decoding. Valid for the block the iterator is
 * bound to: a rebind empties it. */
typedef struct prev_entry {
    size_t offset;            /* of the entry */
    size_t next;              /* of the entry after it; its value is [next - value_len, next) */
    size_t value_len;
    size_t key_at, key_len;   /* its key in keys */
    uint64_t seqno;
    uint8_t type;
} prev_entry;

struct blk_prev_cache {
    uint32_t restart;
    uint32_t count;           /* 0: empty */
    uint32_t cap;             /* of e */
    uint32_t pos;             /* the entry the iterator stands on, when it came from here */
    prev_entry *e;
    tbuf keys;
};

void blk_iter_rebind(blk_iter *it, const blk *b)
{
    tbuf key = it->key;
    blk_prev_cache *c = it->prev;
    blk_iter_init(it, b);
    it->key = key;
    it->key.len = 0;
    it->prev = c;
    if (c)
        c->count = 0;
}

void blk_iter_free(blk_iter *it)
{
    tbuf_free(&it->key);
    if (it->prev) {
        tbuf_free(&it->prev->keys);
        free(it->prev->e);
        free(it->prev);
        it->prev = NULL;
    }
    it->valid = 0;
}

/* Keeps restart_index on the interval holding the entry at off (at or after
 * the one it names); restart_next makes the common case one comparison. */
static inline void iter_note_offset(blk_iter *it, size_t off)
{
    if (off < it->restart_next)
        return;
    const blk *b = it->b;
    while (it->restart_index + 1 < b->restart_count && restart_at(b, it->restart_index + 1) <= off)
        it->restart_index++;
    it->restart_next = it->restart_index + 1 < b->restart_count ? restart_at(b, it->restart_index + 1) : SIZE_MAX;
}

/* Positions before restart point i (the next parse reads its entry). */
static inline void iter_at_restart(blk_iter *it, uint32_t i)
{
    it->key.len = 0;
    it->next_offset = restart_at(it->b, i);
    it->restart_index = i;
    it->restart_next = 0;
    it->valid = 0;
}

/* Positions on the entry at off whose header is h (its key already in
 * it->key). */
static inline void iter_on_entry(blk_iter *it, size_t off, const entry_head *h)
{
    it->offset = off;
    it->seqno = h->seqno;
    it->type = h->type;
    it->value = h->suffix + h->unshared;
    it->value_len = (size_t)h->value_len;
    it->next_offset = (size_t)(it->value - it->b->data) + (size_t)h->value_len;
    iter_note_offset(it, off);
    it->valid = 1;
}

/* Decodes the entry at next_offset into the iterator. Returns 1 when
 * positioned on it; 0 at the end of the entries or on error (valid = 0). */
static int iter_parse_next(blk_iter *it)
{
    const blk *b = it->b;
    size_t off = it->next_offset;
    if (off >= b->entries_end) {
        it->valid = 0;
        return 0;
    }
    entry_head h;
    if (decode_head(b, off, it->key.len, &h)) {
        iter_fail(it, TIND_ECORRUPT);
        return 0;
    }
    it->key.len = h.shared;
    if (h.unshared) {
        if (it->key.cap - h.shared < h.unshared && tbuf_reserve(&it->key, h.unshared)) {
            iter_fail(it, TIND_ENOMEM);
            return 0;
        }
        copy_small(it->key.data + h.shared, h.suffix, h.unshared);
        it->key.len += h.unshared;
    }
    iter_on_entry(it, off, &h);
    return 1;
}

/* The full key of restart point i, in place. Returns 0 or -1 (malformed). */
static inline int restart_key(const blk *b, uint32_t i, const uint8_t **key, size_t *klen, uint64_t *seqno)
{
    entry_head h;
    if (decode_head(b, restart_at(b, i), 0, &h))
        return -1;
    *key = h.suffix;
    *klen = h.unshared;
    *seqno = h.seqno;
    return 0;
}

/* Binary search: the last restart point whose key is < target (or <= when
 * inclusive), or 0 when there is none. Returns 0, or -1 when corrupt. */
static int find_restart(blk_iter *it, const uint8_t *key, size_t klen, uint64_t seqno, int inclusive,
                        uint32_t *out)
{
    const blk *b = it->b;
    uint32_t left = 0, right = b->restart_count - 1;
    while (left < right) {
        uint32_t mid = left + (right - left + 1) / 2;
        const uint8_t *rk;
        size_t rn;
        uint64_t rs;
        if (restart_key(b, mid, &rk, &rn, &rs)) {
            iter_fail(it, TIND_ECORRUPT);
            return -1;
        }
        int c = ikey_cmp(rk, rn, rs, key, klen, seqno);
        if (c < 0 || (inclusive && c == 0))
            left = mid;
        else
            right = mid - 1;
    }
    *out = left;
    return 0;
}

static inline int iter_usable(blk_iter *it)
{
    if (it->status != TIND_OK || it->b->restart_count == 0) {
        it->valid = 0;
        return 0;
    }
    return 1;
}

void blk_iter_first(blk_iter *it)
{
    if (!iter_usable(it))
        return;
    iter_at_restart(it, 0);
    iter_parse_next(it);
}

void blk_iter_at_restart(blk_iter *it, uint32_t i)
{
    if (!iter_usable(it))
        return;
    if (i >= it->b->restart_count) {
        it->valid = 0;
        it->key.len = 0;
        return;
    }
    iter_at_restart(it, i);
    iter_parse_next(it);
}

/* Positions on entry j of the cache (of interval c->restart). */
static void prev_cache_on(blk_iter *it, blk_prev_cache *c, uint32_t j)
{
    const prev_entry *e = &c->e[j];
    it->key.len = 0;
    if (it->key.cap < e->key_len && tbuf_reserve(&it->key, e->key_len)) {
        iter_fail(it, TIND_ENOMEM);
        return;
    }
    if (e->key_len) /* a damaged block can hold an empty key: no buffer to copy to (fuzz_index, UBSan) */
        memcpy(it->key.data, c->keys.data + e->key_at, e->key_len);
    it->key.len = e->key_len;
    it->offset = e->offset;
    it->next_offset = e->next;
    it->seqno = e->seqno;
    it->type = e->type;
    it->value = it->b->data + e->next - e->value_len;
    it->value_len = e->value_len;
    it->restart_index = c->restart;
    it->restart_next = 0;
    it->valid = 1;
    c->pos = j;
}

/* Room for one more entry in c and len more key bytes; 0, or -1 (out of memory). */
static int prev_cache_room(blk_prev_cache *c, size_t len)
{
    if (c->count == c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 8;
        prev_entry *e = cap > c->cap ? realloc(c->e, (size_t)cap * sizeof *e) : NULL;
        if (!e)
            return -1;
        c->e = e;
        c->cap = cap;
    }
    return c->keys.cap - c->keys.len < len && tbuf_reserve(&c->keys, len) ? -1 : 0;
}

/* The iterator's cache, made on first use and emptied for interval r; NULL
 * when out of memory. */
static blk_prev_cache *prev_cache_start(blk_iter *it, uint32_t r)
{
    blk_prev_cache *c = it->prev;
    if (!c) {
        c = it->prev = calloc(1, sizeof *c);
        if (!c)
            return NULL;
    }
    c->restart = r;
    c->count = 0;
    c->pos = 0;
    c->keys.len = 0;
    return c;
}

/*
 * Decodes restart interval r into the cache, from its first entry up to the
 * one before offset `stop` (a backward step's current entry, or the end of
 * the interval), or, with to_key, up to the last entry <= (key, seqno)
 * (key may be NULL when klen is 0); then positions on the last entry decoded (valid = 0 when there is
 * none). Each key is rebuilt once, in the cache, from the one before it. An
 * entry chain that runs past `stop` instead of reaching it is corrupt.
 */
static void walk_interval(blk_iter *it, uint32_t r, size_t stop, int to_key, const uint8_t *key, size_t klen,
                          uint64_t seqno)
{
    const blk *b = it->b;
    blk_prev_cache *c = prev_cache_start(it, r);
    if (!c) {
        iter_fail(it, TIND_ENOMEM);
        return;
    }
    size_t off = restart_at(b, r), prev_len = 0;
    while (off < stop) {
        entry_head h;
        if (decode_head(b, off, prev_len, &h)) {
            iter_fail(it, TIND_ECORRUPT);
            return;
        }
        size_t len = (size_t)h.shared + h.unshared;
        if (prev_cache_room(c, len)) {
            iter_fail(it, TIND_ENOMEM);
            return;
        }
        uint8_t *dst = c->keys.data + c->keys.len;
        if (h.shared) /* shared <= prev_len: there is an entry before, at a restart shared is 0 */
            memcpy(dst, c->keys.data + c->e[c->count - 1].key_at, h.shared);
        if (h.unshared)
            memcpy(dst + h.shared, h.suffix, h.unshared);
        if (to_key && ikey_cmp(dst, len, h.seqno, key, klen, seqno) > 0)
            break;
        prev_entry *e = &c->e[c->count++];
        e->offset = off;
        e->next = (size_t)(h.suffix - b->data) + h.unshared + (size_t)h.value_len;
        e->value_len = (size_t)h.value_len;
        e->key_at = c->keys.len;
        e->key_len = len;
        e->seqno = h.seqno;
        e->type = h.type;
        c->keys.len += len;
        prev_len = len;
        off = e->next;
    }
    if (off > stop) {
        iter_fail(it, TIND_ECORRUPT);   /* the entry chain skips over stop */
        return;
    }
    if (!c->count) {
        it->valid = 0;
        it->key.len = 0;
        return;
    }
    prev_cache_on(it, c, c->count - 1);
}

/* The cached entry just before the entry at offset `original`, or -1 when
 * the cache does not hold it. */
static int64_t prev_cached(const blk_prev_cache *c, size_t original)
{
    if (!c || !c->count)
        return -1;
    if (c->pos < c->count && c->e[c->pos].offset == original)
        return (int64_t)c->pos - 1;   /* the common step: from where the cache put it */
    uint32_t lo = 0, hi = c->count;   /* else (it moved forward since): by offset */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->e[mid].next < original)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->count && c->e[lo].next == original ? (int64_t)lo : -1;
}

/* The end of restart interval r: the next restart point, or the end of the entries. */
static size_t interval_end(const blk *b, uint32_t r)
{
    return r + 1 < b->restart_count ? restart_at(b, r + 1) : b->entries_end;
}

void blk_iter_last(blk_iter *it)
{
    if (!iter_usable(it))
        return;
    walk_interval(it, it->b->restart_count - 1, it->b->entries_end, 0, NULL, 0, 0);
}

void blk_iter_next(blk_iter *it)
{
    if (!it->valid)
        return;
    iter_parse_next(it);
}

void blk_iter_prev(blk_iter *it)
{
    if (!it->valid)
        return;
    const blk *b = it->b;
    size_t original = it->offset;
    int64_t j = prev_cached(it->prev, original);
    if (j >= 0) {
        prev_cache_on(it, it->prev, (uint32_t)j);
        return;
    }
    uint32_t r = it->restart_index < b->restart_count ? it->restart_index : b->restart_count - 1;
    while (restart_at(b, r) >= original) {
        if (r == 0) {
            it->valid = 0;   /* original was the first entry */
            return;
        }
        r--;
    }
    walk_interval(it, r, original, 0, NULL, 0, 0);
}

/*
 * Positions on the first entry >= (key, seqno) at or after restart point r,
 * without assembling the keys it passes. m is how many leading bytes the
 * previous entry's key shares with the target, and that key is smaller
 * (checked): an entry sharing more than m bytes with it has the same byte
 * where that key fell below the target, so it is smaller too and only its
 * header is read; an entry sharing s <= m bytes is the target's first s
 * bytes and its own suffix, compared in place. Only the entry it stops on is
 * assembled (from the target's prefix and its suffix).
 */
static void iter_scan_to(blk_iter *it, uint32_t r, const uint8_t *key, size_t klen, uint64_t seqno)
{
    const blk *b = it->b;
    size_t off = restart_at(b, r), prev_len = 0, m = 0;
    entry_head h;
    it->valid = 0;
    for (;;) {
        if (off >= b->entries_end) {
            it->key.len = 0;   /* past the end: nothing to step back from */
            return;
        }
        if (decode_head(b, off, prev_len, &h)) {
            iter_fail(it, TIND_ECORRUPT);
            return;
        }
        if (h.shared <= m) {
            const uint8_t *rest = key ? key + h.shared : key;
            size_t rest_len = klen - h.shared;
            size_t n = key_common_prefix(h.suffix, h.unshared, rest, rest_len);
            int c;
            if (n < h.unshared && n < rest_len)
                c = h.suffix[n] < rest[n] ? -1 : 1;
            else if (h.unshared != rest_len)
                c = h.unshared < rest_len ? -1 : 1;
            else
                c = h.seqno > seqno ? -1 : h.seqno < seqno;
            if (c >= 0)
                break;
            m = h.shared + n;
        }
        prev_len = (size_t)h.shared + h.unshared;
        off = (size_t)(h.suffix - b->data) + h.unshared + (size_t)h.value_len;
    }
    size_t len = (size_t)h.shared + h.unshared;
    it->key.len = 0;
    if (it->key.cap < len && tbuf_reserve(&it->key, len)) {
        iter_fail(it, TIND_ENOMEM);
        return;
    }
    if (h.shared)
        memcpy(it->key.data, key, h.shared);
    if (h.unshared)
        memcpy(it->key.data + h.shared, h.suffix, h.unshared);
    it->key.len = len;
    it->restart_index = r;
    it->restart_next = 0;
    iter_on_entry(it, off, &h);
}

void blk_iter_seek(blk_iter *it, const uint8_t *key, size_t klen, uint64_t seqno)
{
    uint32_t r;
    if (!iter_usable(it) || find_restart(it, key, klen, seqno, 0, &r))
        return;
    iter_scan_to(it, r, key, klen, seqno);
}

/* The last restart point whose key is <= target holds the last entry <=
 * target (the next restart point's key is after it); its interval is
 * decoded up to there, kept for the backward steps that follow. */
void blk_iter_seek_for_prev(blk_iter *it, const uint8_t *key, size_t klen, uint64_t seqno)
{
    uint32_t r;
    if (!iter_usable(it) || find_restart(it, key, klen, seqno, 1, &r))
        return;
    walk_interval(it, r, interval_end(it->b, r), 1, key, klen, seqno);
}

int blk_iter_seek_point(blk_iter *it, const uint8_t *key, size_t klen, uint64_t seqno)
{
    return blk_iter_seek_point_hash(it, key, klen, seqno, it->b->buckets ? hash64(key, klen) : 0);
}

int blk_iter_seek_point_hash(blk_iter *it, const uint8_t *key, size_t klen, uint64_t seqno, uint64_t hash)
{
    const blk *b = it->b;
    if (!b->buckets) {
        blk_iter_seek(it, key, klen, seqno);
        return it->status;
    }
    if (!iter_usable(it))
        return it->status;
    uint8_t slot = b->buckets[(hash >> 8) % b->bucket_count];
    if (slot == BLK_HASH_FREE) {
        it->valid = 0;
        return TIND_NOT_FOUND;
    }
    if (slot == BLK_HASH_CONFLICT) {
        blk_iter_seek(it, key, klen, seqno);
        return it->status;
    }
    if (slot >= b->restart_count) {
        iter_fail(it, TIND_ECORRUPT);
        return it->status;
    }
    /* The user key first appears in restart interval `slot`; everything
     * before that restart point is smaller, so a forward scan from there
     * finds the same entry as a full seek (it may run into later intervals
     * when the key has many versions). */
    iter_scan_to(it, slot, key, klen, seqno);
    return it->status;
}
