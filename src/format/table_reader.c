/*
 * table_reader.c -- opens, reads, iterates and verifies table files
 * (table.h; layout in docs/FORMAT.md, "Table file").
 *
 * Blocks. Every block is read through tbl_block_get(): the block cache is
 * looked up first (key: this open table's cache id and the block's offset),
 * a miss reads the stored block through the fd cache (or the table's own
 * file), checks its checksum (blockio), parses it (blk_parse for index and
 * data blocks, bloom_check for filters) and inserts the decoded block. A
 * tbl_bref holds one block: a cache handle, a pinned block of the table, or
 * (without a cache) a private copy freed on release. Offsets are unique in a
 * file, and a cached block records its kind and stored size, so a handle that
 * disagrees with a cached block is reported as corruption, never served.
 *
 * Pinning. With pin_index_and_filter (or without a block cache) the top-level
 * index and the top-level filter block (the whole filter, or the filter
 * index of a partitioned filter) are read at open and held for the table's
 * life (as held cache handles when there is a cache, so they count as pinned
 * usage). Otherwise they are looked up in the cache on each use.
 * With a partition directory and a cache, an index partition a point read
 * loaded stays held by the table (part_pins) while the cache's pin budget
 * allows (cache_pin_grant: an eighth of the capacity), so that later point
 * reads look up only the data block (half of the cache lookups a read made,
 * each a hash chain walk of cache misses: issue 15). Filter partitions a
 * point read probed through the directory are held the same way, from the
 * same budget (part_pins[i] holds both of partition i, in one cache line).
 *
 * Index. The index (or, when partitioned, each partition) has one entry per
 * data block: (last user key, its seqno) -> handle. The first index entry
 * >= (key, seqno) names the only data block that can hold the first entry
 * >= (key, seqno); the top-level block of a partitioned index maps the last
 * internal key of each partition to the partition the same way.
 *
 * Every decoding step is bounded: a handle must lie inside its section, a
 * malformed block or entry gives TIND_ECORRUPT with "table <id> '<path>':
 * block at offset N: <cause>", never a crash or wrong data.
 *
 * Thread-safety: a tbl is immutable after tbl_open but for part_pins (each
 * set once, by compare-and-swap, and read with acquire); its refcount is atomic;
 * tbl_get, tbl_may_contain, tbl_verify and iterators (one per thread) may run
 * concurrently: they share only the (thread-safe) caches and file.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/block.h"
#include "format/blockio.h"
#include "format/bloom.h"
#include "format/compress.h"
#include "format/container.h"
#include "format/pdir.h"
#include "format/rangetomb.h"
#include "format/table_int.h"
#include "format/zdict.h"
#include "util/hash.h"
#include "util/hugemem.h"

enum { TBL_KIND_BLOCK = 1, TBL_KIND_FILTER = 2 };

/* A decoded block, as cached. */
typedef struct tbl_block {
    blk b;                    /* parsed view of raw (TBL_KIND_BLOCK) */
    uint8_t *raw;
    size_t raw_len;
    uint64_t stored_size;     /* the handle size it was read with */
    uint8_t kind;
    pdir *dir;                /* an index block naming data blocks: its entries decoded, or NULL */
} tbl_block;

/* The index partition (PIN_INDEX) and the filter partition (PIN_FILTER)
 * of one partition, as the table holds them once read (part_pins): h[k],
 * set once by compare-and-swap, owns the hold; blk[k], published after it
 * (release), is what readers load, and what a point read needs of the block
 * is copied beside it before: the index partition's directory, the filter's
 * geometry. A read then goes from this one cache line straight to the
 * directory's words and the filter's line, without the dependent loads of
 * the cache entries, the blocks' headers and the filter's footer (issue 15). */
enum { PIN_INDEX = 0, PIN_FILTER = 1 };
#define PIN_OF(kind) ((kind) == TBL_KIND_FILTER ? PIN_FILTER : PIN_INDEX)
typedef struct tbl_pin {
    _Alignas(64) _Atomic(cache_handle *) h[2];
    _Atomic(tbl_block *) blk[2];
    const pdir *dir;          /* blk[PIN_INDEX]->dir */
    bloom_view filter;        /* blk[PIN_FILTER]'s footer, read */
} tbl_pin;

/* A held block. */
typedef struct tbl_bref {
    tbl_block *blk;
    cache_handle *h;          /* a held cache entry, or NULL */
    int owned;                /* blk is a private copy: free on release */
} tbl_bref;

typedef struct tbl_range {
    uint64_t offset, length;
} tbl_range;

struct tbl {
    atomic_int refs;
    fs *fsys;
    char *path;
    char *what;               /* "table <id> '<path>'" for messages */
    uint64_t file_id;
    fs_file *file;            /* our own file when there is no fd cache */
    fd_cache *fds;
    cache *bc;
    uint64_t cache_id;
    tbl_meta meta;
    int index_partitioned;
    uint64_t index_partition_count;
    int filter_partitioned;
    int has_filter;
    int filter_keys;          /* the filter holds whole keys (not prefixes only) */
    char *prefix_name;        /* the extractor whose prefixes the filter holds, or NULL */
    zdict *zd;                /* the data blocks' zstd dictionary, or NULL */
    blk_handle index_handle;  /* the top-level index block */
    blk_handle filter_handle; /* whole filter or top-level filter index */
    tbl_range data, index, filter;
    tbl_bref index_pin;       /* blk == NULL when not pinned */
    tbl_bref filter_pin;
    rt_list *rdel;            /* the "rangedel" section (format >= 3), or NULL */
    tbl_meta stored;          /* with rdel: the stored key and seqno range (meta's is widened) */
    pdir *dir;                /* partitioned index: its top level decoded (pdir.h), or NULL */
    cache_handle *dir_charge; /* dir's bytes, held in the block cache as pinned usage */
    tbl_pin *part_pins;       /* with dir and a cache: partition i's pins, or NULL */
};

/* ------------------------------------------------------------------ errors */

static int tbl_err_at(const tbl *t, tind_err *err, int rc, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int tbl_err_at(const tbl *t, tind_err *err, int rc, uint64_t offset, const char *fmt, ...)
{
    char cause[TIND_ERRMSG_MAX];
    va_list ap;
    if (!err)
        return rc;
    va_start(ap, fmt);
    vsnprintf(cause, sizeof cause, fmt, ap);
    va_end(ap);
    return err_set(err, rc, "%s: block at offset %llu: %s", t->what, (unsigned long long)offset, cause);
}

/* ------------------------------------------------------------------ blocks */

/* A block and its bytes are one allocation, on huge pages (hugemem.h). The
 * bytes start on a cache line when the allocation does (hugemem's chunks:
 * multiples of HM_GRAIN), so that a blocked Bloom filter's line is one
 * line of memory (bloom.c). */
#define TBL_BLOCK_HEAD ((sizeof(tbl_block) + 63) & ~(size_t)63)
static size_t tbl_block_alloc_size(size_t raw_len) { return TBL_BLOCK_HEAD + raw_len; }

static void tbl_block_free(tbl_block *b)
{
    if (b) {
        pdir_free(b->dir);
        hm_free(b, tbl_block_alloc_size(b->raw_len));
    }
}

/* blockio_read_to's room for a block's bytes: behind its tbl_block header. */
static void *tbl_block_room(void *ctx, size_t n)
{
    (void)ctx;
    uint8_t *b = hm_alloc(tbl_block_alloc_size(n));
    return b ? b + TBL_BLOCK_HEAD : NULL;
}

static void tbl_block_room_release(void *ctx, void *p, size_t n)
{
    (void)ctx;
    hm_free((uint8_t *)p - TBL_BLOCK_HEAD, tbl_block_alloc_size(n));
}

static const blockio_out tbl_block_out = {tbl_block_room, tbl_block_room_release, NULL};

/* The memory a block holds: its allocation and its directory. */
static size_t tbl_block_bytes(const tbl_block *b)
{
    return hm_size(tbl_block_alloc_size(b->raw_len)) + (b->dir ? b->dir->memory : 0);
}

static void tbl_block_deleter(void *value, void *ctx)
{
    (void)ctx;
    tbl_block_free(value);
}

static int tbl_in_range(const tbl_range *r, blk_handle h)
{
    return h.size >= BLOCK_HEADER_SIZE && h.offset >= r->offset && h.size <= r->length &&
           h.offset - r->offset <= r->length - h.size;
}

static int tbl_file_acquire(tbl *t, fs_file **f, fdc_handle **fh, tind_err *err)
{
    *fh = NULL;
    *f = NULL;
    if (!t->fds) {
        *f = t->file;
        return TIND_OK;
    }
    int rc = fdc_get(t->fds, t->file_id, t->path, fh, err);
    if (rc != TIND_OK)
        return err_wrap(err, rc, "%s: ", t->what);
    *f = fdc_file(*fh);
    return TIND_OK;
}

static void tbl_file_release(tbl *t, fdc_handle *fh)
{
    if (fh)
        fdc_release(t->fds, fh);
}

/* Reads, checks and parses the block h (which must lie in sec), bypassing
 * the block cache. */
static int tbl_load(tbl *t, blk_handle h, const tbl_range *sec, int kind, tbl_block **out, tind_err *err)
{
    fs_file *f;
    fdc_handle *fh;
    uint8_t *raw = NULL;
    size_t n = 0;
    tind_err e;
    int rc;

    *out = NULL;
    if (!tbl_in_range(sec, h))
        return tbl_err_at(t, err, TIND_ECORRUPT, h.offset,
                          "handle of %llu bytes outside its section [%llu, +%llu)",
                          (unsigned long long)h.size, (unsigned long long)sec->offset,
                          (unsigned long long)sec->length);
    rc = tbl_file_acquire(t, &f, &fh, err);
    if (rc != TIND_OK)
        return rc;
    rc = blockio_read_to(f, h, t->zd ? zdict_decompress : NULL, t->zd, &tbl_block_out, &raw, &n, t->what, err);
    tbl_file_release(t, fh);
    if (rc != TIND_OK)
        return rc;
    tbl_block *b = (tbl_block *)(raw - TBL_BLOCK_HEAD);
    memset(b, 0, sizeof *b);
    b->raw = raw;
    b->raw_len = n;
    b->stored_size = h.size;
    b->kind = (uint8_t)kind;
    err_clear(&e);
    if (kind == TBL_KIND_BLOCK)
        rc = blk_parse(&b->b, raw, n, &e);
    else
        rc = bloom_check(raw, n, &e);
    if (rc != TIND_OK) {
        tbl_block_free(b);
        return tbl_err_at(t, err, TIND_ECORRUPT, h.offset, "%s", e.msg);
    }
    *out = b;
    return TIND_OK;
}

/* Gives an index block whose entries name data blocks (an index partition,
 * or the whole index of an unpartitioned table) its decoded directory
 * (pdir.h), so that a point read finds its data block by one binary search
 * over plain keys instead of decoding entries. Done once, when the block
 * enters the cache (or is pinned): its bytes are part of the block's
 * charge. A block that does not qualify, or no memory, leaves dir NULL and
 * the block-iterator path serves it. */
static void tbl_block_decode_index(const tbl *t, blk_handle h, const tbl_range *sec, tbl_block *b)
{
    if (sec != &t->index || b->kind != TBL_KIND_BLOCK || b->dir ||
        (t->index_partitioned && h.offset == t->index_handle.offset))
        return;
    b->dir = pdir_build(&b->b, NULL);
}

static size_t tbl_block_charge(const tbl_block *b)
{
    return tbl_block_bytes(b) + 64;
}

/* A data block's cache word (cache_insert_aux): where its hash index lies
 * behind the block's header, so that a point read starts loading the hash
 * slot of its key together with the header instead of after it (two
 * dependent cache misses become one, issue 15): bits 0-31 the index's
 * offset from raw, 32-63 its bucket count; 0 without a hash index. */
static uint64_t tbl_block_aux(const tbl_block *b)
{
    if (b->kind != TBL_KIND_BLOCK || !b->b.buckets || (size_t)(b->b.buckets - b->raw) > UINT32_MAX)
        return 0;
    return (uint64_t)(b->b.buckets - b->raw) | (uint64_t)b->b.bucket_count << 32;
}

/* Starts loading the hash slot of key hash kh in the cached data block of
 * handle ch (blk_iter_seek_point_hash reads it next). */
static void tbl_prefetch_slot(const cache_handle *ch, uint64_t kh)
{
    uint64_t aux = cache_aux(ch);
    uint32_t count = (uint32_t)(aux >> 32);
    if (count)
        __builtin_prefetch((const uint8_t *)cache_value(ch) + TBL_BLOCK_HEAD + (uint32_t)aux + (kh >> 8) % count);
}

/* The block h through the block cache (when there is one); with !fill a
 * missed block is a private copy, freed on release. A point read passes its
 * key's hash as kh (else NULL): a hit starts loading the key's hash slot. */
static int tbl_block_get_fill(tbl *t, blk_handle h, const tbl_range *sec, int kind, int fill, const uint64_t *kh,
                              tbl_bref *r, tind_err *err)
{
    tbl_block *b;
    int rc;
    r->blk = NULL;
    r->h = NULL;
    r->owned = 0;
    if (t->bc) {
        if (!tbl_in_range(sec, h))
            return tbl_load(t, h, sec, kind, &b, err); /* reports the bad handle */
        cache_handle *ch = cache_lookup(t->bc, t->cache_id, h.offset);
        if (ch) {
            if (kh)
                tbl_prefetch_slot(ch, *kh);
            b = cache_value(ch);
            if (b->kind != kind || b->stored_size != h.size) {
                cache_release(t->bc, ch);
                return tbl_err_at(t, err, TIND_ECORRUPT, h.offset,
                                  "handle (size %llu) disagrees with the block read there",
                                  (unsigned long long)h.size);
            }
            r->blk = b;
            r->h = ch;
            return TIND_OK;
        }
    }
    rc = tbl_load(t, h, sec, kind, &b, err);
    if (rc != TIND_OK)
        return rc;
    if (t->bc && fill) {
        tbl_block_decode_index(t, h, sec, b);
        cache_handle *ch = cache_insert_aux(t->bc, t->cache_id, h.offset, b, tbl_block_charge(b), tbl_block_deleter,
                                            NULL, tbl_block_aux(b));
        if (!ch)
            return tbl_err_at(t, err, TIND_ENOMEM, h.offset, "out of memory (block cache)");
        r->blk = b;
        r->h = ch;
        return TIND_OK;
    }
    r->blk = b;
    r->owned = 1;
    return TIND_OK;
}

static int tbl_block_get(tbl *t, blk_handle h, const tbl_range *sec, int kind, tbl_bref *r, tind_err *err)
{
    return tbl_block_get_fill(t, h, sec, kind, 1, NULL, r, err);
}

static void tbl_bref_release(tbl *t, tbl_bref *r)
{
    if (r->h)
        cache_release(t->bc, r->h);
    else if (r->owned)
        tbl_block_free(r->blk);
    r->blk = NULL;
    r->h = NULL;
    r->owned = 0;
}

static int tbl_index_top(tbl *t, tbl_bref *r, tind_err *err)
{
    if (t->index_pin.blk) {
        r->blk = t->index_pin.blk;
        r->h = NULL;
        r->owned = 0;
        return TIND_OK;
    }
    return tbl_block_get(t, t->index_handle, &t->index, TBL_KIND_BLOCK, r, err);
}

static int tbl_filter_top(tbl *t, tbl_bref *r, tind_err *err)
{
    if (t->filter_pin.blk) {
        r->blk = t->filter_pin.blk;
        r->h = NULL;
        r->owned = 0;
        return TIND_OK;
    }
    return tbl_block_get(t, t->filter_handle, &t->filter,
                         t->filter_partitioned ? TBL_KIND_BLOCK : TBL_KIND_FILTER, r, err);
}

/* Binds a block iterator to b, keeping its buffers (no allocation). */
static void tbl_rebind(blk_iter *it, const blk *b) { blk_iter_rebind(it, b); }

/* Decodes the handle in an index entry's value (exactly the whole value). */
static int tbl_value_handle(const tbl *t, const blk_iter *it, uint64_t block_offset, blk_handle *h,
                            tind_err *err)
{
    const uint8_t *end = it->value + it->value_len;
    const uint8_t *p = blk_handle_decode(it->value, end, h);
    if (!p || p != end)
        return tbl_err_at(t, err, TIND_ECORRUPT, block_offset, "malformed block handle in an index entry");
    return TIND_OK;
}

/* ------------------------------------------------------------ index cursor */

/* Walks the index entries that name data blocks: the top-level index, or the
 * entries of each partition in turn. Valid while `leaf` is on an entry. */
typedef struct tbl_icur {
    tbl *t;
    tbl_bref top_ref;
    blk_iter top;
    int top_ok;               /* top is bound to top_ref */
    tbl_bref part_ref;
    blk_iter part;
    int part_ok;              /* part is bound to part_ref */
    uint64_t part_offset;
} tbl_icur;

static void icur_init(tbl_icur *c, tbl *t)
{
    memset(c, 0, sizeof *c);
    c->t = t;
}

/* Lets go of the blocks held, keeping the iterators' buffers. */
static void icur_release(tbl_icur *c)
{
    tbl_bref_release(c->t, &c->top_ref);
    tbl_bref_release(c->t, &c->part_ref);
    c->top_ok = c->part_ok = 0;
}

static void icur_free(tbl_icur *c)
{
    icur_release(c);
    blk_iter_free(&c->top);
    blk_iter_free(&c->part);
}

static blk_iter *icur_leaf(tbl_icur *c) { return c->t->index_partitioned ? &c->part : &c->top; }

static int icur_valid(tbl_icur *c)
{
    if (!c->top_ok)
        return 0;
    if (c->t->index_partitioned)
        return c->part_ok && c->part.valid;
    return c->top.valid;
}

/* Makes sure the top-level iterator is bound (the block may come from the cache). */
static int icur_top(tbl_icur *c, tind_err *err)
{
    if (c->top_ok)
        return TIND_OK;
    int rc = tbl_index_top(c->t, &c->top_ref, err);
    if (rc != TIND_OK)
        return rc;
    tbl_rebind(&c->top, &c->top_ref.blk->b);
    c->top_ok = 1;
    return TIND_OK;
}

static int icur_check(tbl_icur *c, tind_err *err)
{
    if (c->top.status != TIND_OK) {
        return tbl_err_at(c->t, err, c->top.status, c->t->index_handle.offset, "malformed index entries");
    }
    if (c->part_ok && c->part.status != TIND_OK) {
        c->part_ok = 0;
        return tbl_err_at(c->t, err, c->part.status, c->part_offset, "malformed index partition entries");
    }
    return TIND_OK;
}

/* 1 when entry i of index block iterator it is its restart point i, so
 * that directory d (of the same block) positions it without a search. */
static int icur_direct(const blk_iter *it, const pdir *d) { return d && it->b->restart_count == d->count; }

/* Seeks an index block iterator; with the block's directory d (or NULL)
 * by a search over its words (pdir.h) instead of decoding entries. */
static void icur_seek_block(blk_iter *it, const pdir *d, const uint8_t *key, size_t klen, uint64_t seqno)
{
    if (icur_direct(it, d))
        blk_iter_at_restart(it, pdir_find(d, key, klen, seqno));
    else
        blk_iter_seek(it, key, klen, seqno);
}

static int tbl_part_get(tbl *t, uint32_t pi, int kind, blk_handle h, tbl_bref *r, tind_err *err);

/* Loads the partition named by the current top entry: as the table holds
 * it when the directory says which one it is (tbl_part_get), else through
 * the cache. */
static int icur_load_part(tbl_icur *c, tind_err *err)
{
    blk_handle h;
    int rc;
    c->part_ok = 0;
    tbl_bref_release(c->t, &c->part_ref);
    rc = tbl_value_handle(c->t, &c->top, c->t->index_handle.offset, &h, err);
    if (rc != TIND_OK)
        return rc;
    if (c->t->part_pins && icur_direct(&c->top, c->t->dir))
        rc = tbl_part_get(c->t, c->top.restart_index, TBL_KIND_BLOCK, h, &c->part_ref, err);
    else
        rc = tbl_block_get(c->t, h, &c->t->index, TBL_KIND_BLOCK, &c->part_ref, err);
    if (rc != TIND_OK)
        return rc;
    tbl_rebind(&c->part, &c->part_ref.blk->b);
    c->part_offset = h.offset;
    c->part_ok = 1;
    return TIND_OK;
}

/* Partitioned: from the current top entry, the first partition entry
 * (forward) or last (backward) of this or a following/preceding partition. */
static int icur_settle(tbl_icur *c, int forward, tind_err *err)
{
    int rc;
    while (c->top.valid) {
        if ((rc = icur_load_part(c, err)) != TIND_OK)
            return rc;
        if (forward)
            blk_iter_first(&c->part);
        else
            blk_iter_last(&c->part);
        if (c->part.valid)
            return TIND_OK;
        if ((rc = icur_check(c, err)) != TIND_OK)
            return rc;
        if (forward)
            blk_iter_next(&c->top);
        else
            blk_iter_prev(&c->top);
    }
    c->part_ok = 0;
    return icur_check(c, err);
}

static int icur_first(tbl_icur *c, tind_err *err)
{
    int rc = icur_top(c, err);
    if (rc != TIND_OK)
        return rc;
    blk_iter_first(&c->top);
    if (!c->t->index_partitioned)
        return icur_check(c, err);
    return icur_settle(c, 1, err);
}

static int icur_last(tbl_icur *c, tind_err *err)
{
    int rc = icur_top(c, err);
    if (rc != TIND_OK)
        return rc;
    blk_iter_last(&c->top);
    if (!c->t->index_partitioned)
        return icur_check(c, err);
    return icur_settle(c, 0, err);
}

static int icur_seek(tbl_icur *c, const uint8_t *key, size_t klen, uint64_t seqno, tind_err *err)
{
    int rc = icur_top(c, err);
    if (rc != TIND_OK)
        return rc;
    icur_seek_block(&c->top, c->t->index_partitioned ? c->t->dir : c->top_ref.blk->dir, key, klen, seqno);
    if (!c->t->index_partitioned)
        return icur_check(c, err);
    if (!c->top.valid) {
        c->part_ok = 0;
        return icur_check(c, err);
    }
    if ((rc = icur_load_part(c, err)) != TIND_OK)
        return rc;
    icur_seek_block(&c->part, c->part_ref.blk->dir, key, klen, seqno);
    if (c->part.valid)
        return TIND_OK;
    if ((rc = icur_check(c, err)) != TIND_OK)
        return rc;
    blk_iter_next(&c->top);
    return icur_settle(c, 1, err);
}

static int icur_next(tbl_icur *c, tind_err *err)
{
    int rc;
    if (!icur_valid(c))
        return TIND_OK;
    if (!c->t->index_partitioned) {
        blk_iter_next(&c->top);
        return icur_check(c, err);
    }
    blk_iter_next(&c->part);
    if (c->part.valid)
        return TIND_OK;
    if ((rc = icur_check(c, err)) != TIND_OK)
        return rc;
    blk_iter_next(&c->top);
    return icur_settle(c, 1, err);
}

static int icur_prev(tbl_icur *c, tind_err *err)
{
    int rc;
    if (!icur_valid(c))
        return TIND_OK;
    if (!c->t->index_partitioned) {
        blk_iter_prev(&c->top);
        return icur_check(c, err);
    }
    blk_iter_prev(&c->part);
    if (c->part.valid)
        return TIND_OK;
    if ((rc = icur_check(c, err)) != TIND_OK)
        return rc;
    blk_iter_prev(&c->top);
    return icur_settle(c, 0, err);
}

/* The data block handle of the current leaf entry. */
static int icur_handle(tbl_icur *c, blk_handle *h, tind_err *err)
{
    uint64_t off = c->t->index_partitioned ? c->part_offset : c->t->index_handle.offset;
    return tbl_value_handle(c->t, icur_leaf(c), off, h, err);
}

/* --------------------------------------------------------------- iterator */

struct tbl_iter {
    tbl *t;
    tbl_icur idx;
    tbl_bref data_ref;
    blk_iter data;
    int data_ok;              /* data is bound to data_ref */
    int no_fill;              /* missed data blocks stay out of the cache */
    uint64_t data_offset;
    int status;
    tind_err err;
    ientry e;                 /* tbl_iter_entry */
};

int tbl_iter_new(tbl *t, tbl_iter **out)
{
    tbl_iter *it = calloc(1, sizeof *it);
    *out = NULL;
    if (!it)
        return TIND_ENOMEM;
    tbl_ref(t);
    it->t = t;
    icur_init(&it->idx, t);
    *out = it;
    return TIND_OK;
}

void tbl_iter_set_fill_cache(tbl_iter *it, int fill) { it->no_fill = !fill; }

void tbl_iter_free(tbl_iter *it)
{
    if (!it)
        return;
    tbl *t = it->t;
    icur_free(&it->idx);
    tbl_bref_release(t, &it->data_ref);
    blk_iter_free(&it->data);
    free(it);
    tbl_unref(t);
}

static void it_fail(tbl_iter *it, int rc)
{
    it->status = rc;
    it->data_ok = 0;
    it->data.valid = 0;
}

static void it_reset(tbl_iter *it)
{
    it->status = TIND_OK;
    it->data_ok = 0;
    it->data.valid = 0;
    err_clear(&it->err);
}

void tbl_iter_retarget(tbl_iter *it, tbl *t)
{
    tbl *old = it->t;
    icur_release(&it->idx);
    tbl_bref_release(old, &it->data_ref);
    it_reset(it);
    tbl_ref(t);
    it->t = t;
    it->idx.t = t;
    tbl_unref(old);
}

/* Loads the data block of the current index entry. 0 on success. A seek
 * passes its key's hash as kh (else NULL): a cached block starts loading
 * the key's hash slot (tbl_block_get_fill). */
static int it_load(tbl_iter *it, const uint64_t *kh)
{
    blk_handle h;
    int rc = icur_handle(&it->idx, &h, &it->err);
    if (rc == TIND_OK) {
        it->data_ok = 0;
        tbl_bref_release(it->t, &it->data_ref);
        rc = tbl_block_get_fill(it->t, h, &it->t->data, TBL_KIND_BLOCK, !it->no_fill, kh, &it->data_ref, &it->err);
    }
    if (rc != TIND_OK) {
        it_fail(it, rc);
        return rc;
    }
    tbl_rebind(&it->data, &it->data_ref.blk->b);
    it->data_offset = h.offset;
    it->data_ok = 1;
    return TIND_OK;
}

static int it_data_check(tbl_iter *it)
{
    if (it->data.status != TIND_OK) {
        tbl_err_at(it->t, &it->err, it->data.status, it->data_offset, "malformed data block entries");
        it_fail(it, it->data.status);
        return it->status;
    }
    return TIND_OK;
}

static int it_index_moved(tbl_iter *it, int rc, const uint64_t *kh)
{
    if (rc != TIND_OK) {
        it_fail(it, rc);
        return rc;
    }
    if (!icur_valid(&it->idx)) {
        it->data_ok = 0;
        it->data.valid = 0;
        return TIND_NOT_FOUND;
    }
    return it_load(it, kh);
}

/* Moves forward over empty blocks until on an entry or at the end. */
static void it_skip_forward(tbl_iter *it)
{
    while (!it->data.valid) {
        if (it_data_check(it) != TIND_OK)
            return;
        if (it_index_moved(it, icur_next(&it->idx, &it->err), NULL) != TIND_OK)
            return;
        blk_iter_first(&it->data);
    }
}

static void it_skip_backward(tbl_iter *it)
{
    while (!it->data.valid) {
        if (it_data_check(it) != TIND_OK)
            return;
        if (it_index_moved(it, icur_prev(&it->idx, &it->err), NULL) != TIND_OK)
            return;
        blk_iter_last(&it->data);
    }
}

void tbl_iter_first(tbl_iter *it)
{
    it_reset(it);
    if (it_index_moved(it, icur_first(&it->idx, &it->err), NULL) != TIND_OK)
        return;
    blk_iter_first(&it->data);
    it_skip_forward(it);
}

void tbl_iter_last(tbl_iter *it)
{
    it_reset(it);
    if (it_index_moved(it, icur_last(&it->idx, &it->err), NULL) != TIND_OK)
        return;
    blk_iter_last(&it->data);
    it_skip_backward(it);
}

/* A seek lands by the data block's hash index, as a point read does, when
 * the key is in the block: its slot names the restart interval where the
 * key first appears, and a scan from there stops on the same entry as the
 * binary search over the restart points would (blk_iter_seek_point_hash).
 * When the slot is free, shared, or names another key (the scan stops on an
 * entry of another user key), the binary search decides. */
void tbl_iter_seek(tbl_iter *it, const uint8_t *key, size_t klen, uint64_t seqno)
{
    uint64_t kh = hash64(key, klen);
    it_reset(it);
    if (it_index_moved(it, icur_seek(&it->idx, key, klen, seqno, &it->err), &kh) != TIND_OK)
        return;
    blk_iter *d = &it->data;
    if (!d->b->buckets || blk_iter_seek_point_hash(d, key, klen, seqno, kh) != TIND_OK || !d->valid ||
        key_cmp(d->key.data, d->key.len, key, klen) != 0)
        blk_iter_seek(d, key, klen, seqno);
    it_skip_forward(it);
}

void tbl_iter_seek_for_prev(tbl_iter *it, const uint8_t *key, size_t klen, uint64_t seqno)
{
    it_reset(it);
    int rc = icur_seek(&it->idx, key, klen, seqno, &it->err);
    if (rc != TIND_OK) {
        it_fail(it, rc);
        return;
    }
    if (!icur_valid(&it->idx)) {
        /* every entry is before the target */
        tbl_iter_last(it);
        return;
    }
    if (it_load(it, NULL) != TIND_OK)
        return;
    /* The first entry >= target is in this block, so the last entry <=
     * target is here or (when the block starts after it) before it. */
    blk_iter_seek_for_prev(&it->data, key, klen, seqno);
    it_skip_backward(it);
}

void tbl_iter_next(tbl_iter *it)
{
    if (!tbl_iter_valid(it))
        return;
    blk_iter_next(&it->data);
    it_skip_forward(it);
}

void tbl_iter_prev(tbl_iter *it)
{
    if (!tbl_iter_valid(it))
        return;
    blk_iter_prev(&it->data);
    it_skip_backward(it);
}

int tbl_iter_valid(const tbl_iter *it) { return it->status == TIND_OK && it->data_ok && it->data.valid; }

const uint8_t *tbl_iter_key(const tbl_iter *it, size_t *len)
{
    *len = it->data.key.len;
    return it->data.key.data;
}

uint64_t tbl_iter_seqno(const tbl_iter *it) { return it->data.seqno; }
uint8_t tbl_iter_type(const tbl_iter *it) { return it->data.type; }

const uint8_t *tbl_iter_value(const tbl_iter *it, size_t *len)
{
    *len = it->data.value_len;
    return it->data.value;
}

const ientry *tbl_iter_entry(tbl_iter *it)
{
    if (!tbl_iter_valid(it))
        return NULL;
    const blk_iter *d = &it->data;
    it->e = (ientry){d->key.data, d->key.len, d->seqno, d->value, d->value_len, d->type};
    return &it->e;
}

int tbl_iter_status(const tbl_iter *it, tind_err *err)
{
    if (it->status != TIND_OK && err)
        *err = it->err;
    return it->status;
}

/* -------------------------------------------------------------- point read */

/* Partition pi of a table with a directory as the table holds it (kind
 * TBL_KIND_BLOCK: index partition, TBL_KIND_FILTER: filter partition), or
 * NULL when it is not held (yet). */
static const tbl_pin *tbl_pinned(const tbl *t, uint32_t pi, int kind)
{
    if (!t->part_pins)
        return NULL;
    const tbl_pin *p = &t->part_pins[pi];
    return atomic_load_explicit(&p->blk[PIN_OF(kind)], memory_order_acquire) ? p : NULL;
}

/* Partition pi (handle h) of a table with a directory: index partition pi
 * (kind TBL_KIND_BLOCK) or filter partition pi (TBL_KIND_FILTER), the
 * table's pin, or through the cache, pinned then when the budget allows. */
static int tbl_part_get(tbl *t, uint32_t pi, int kind, blk_handle h, tbl_bref *r, tind_err *err)
{
    int k = PIN_OF(kind);
    tbl_block *held = t->part_pins ? atomic_load_explicit(&t->part_pins[pi].blk[k], memory_order_acquire) : NULL;
    if (held) {
        *r = (tbl_bref){held, NULL, 0}; /* held by the table: nothing to release */
        return TIND_OK;
    }
    int rc = tbl_block_get(t, h, kind == TBL_KIND_FILTER ? &t->filter : &t->index, kind, r, err);
    if (rc != TIND_OK || !r->h || !t->part_pins)
        return rc;
    /* a second hold of the entry (it may have been replaced: the one found
     * now is checked as any lookup's) becomes the pin */
    cache_handle *pin = cache_lookup(t->bc, t->cache_id, h.offset);
    if (!pin)
        return rc;
    tbl_block *b = cache_value(pin);
    size_t charge = tbl_block_charge(b);
    cache_handle *none = NULL;
    if (b->kind != kind || b->stored_size != h.size || !cache_pin_grant(t->bc, charge)) {
        cache_release(t->bc, pin);
    } else if (!atomic_compare_exchange_strong_explicit(&t->part_pins[pi].h[k], &none, pin, memory_order_acq_rel,
                                                        memory_order_acquire)) {
        cache_pin_return(t->bc, charge); /* another reader pinned it first */
        cache_release(t->bc, pin);
    } else {
        tbl_pin *p = &t->part_pins[pi];
        if (k == PIN_FILTER)
            bloom_view_init(&p->filter, b->raw, b->raw_len);
        else
            p->dir = b->dir;
        atomic_store_explicit(&p->blk[k], b, memory_order_release);
    }
    return rc;
}

/* Probes filter partition fh for hash h: 1 may contain, 0 absent, < 0 error.
 * pi: its position in the directory (held by the table once read, as
 * tbl_part_get holds), or TBL_NO_PART when it was found otherwise. */
#define TBL_NO_PART UINT32_MAX
static int tbl_filter_part_probe(tbl *t, uint32_t pi, blk_handle fh, uint64_t h, tind_err *err)
{
    tbl_bref part;
    int rc = pi == TBL_NO_PART ? tbl_block_get(t, fh, &t->filter, TBL_KIND_FILTER, &part, err)
                               : tbl_part_get(t, pi, TBL_KIND_FILTER, fh, &part, err);
    if (rc != TIND_OK)
        return rc;
    rc = bloom_may_contain(part.blk->raw, part.blk->raw_len, h);
    tbl_bref_release(t, &part);
    return rc;
}

/* Filter probe for hash h of (key, snapshot): 1 = may contain, 0 = absent,
 * < 0 error. The partition probed is the one holding the first entry >=
 * (key, snapshot). For a prefix (key = the prefix, snapshot SEQNO_MAX) that
 * is the partition of the first key >= the prefix: the first key with the
 * prefix when there is one, whose partition's filter then holds it. */
static int tbl_filter_probe_hash(tbl *t, const uint8_t *key, size_t klen, uint64_t snapshot, uint64_t h,
                                 tbuf *scratch, tind_err *err)
{
    tbl_bref top;
    int rc, result;
    rc = tbl_filter_top(t, &top, err);
    if (rc != TIND_OK)
        return rc;
    if (!t->filter_partitioned) {
        result = bloom_may_contain(top.blk->raw, top.blk->raw_len, h);
        tbl_bref_release(t, &top);
        return result;
    }
    /* The partition that holds the first entry >= (key, snapshot). Keys
     * whose versions straddle partitions are in both filters. */
    blk_iter it;
    blk_iter_init(&it, &top.blk->b);
    it.key = *scratch;
    it.key.len = 0;
    blk_iter_seek(&it, key, klen, snapshot);
    if (!it.valid) {
        result = it.status == TIND_OK ? 0
                                      : tbl_err_at(t, err, it.status, t->filter_handle.offset,
                                                   "malformed filter index entries");
    } else {
        blk_handle fh;
        result = tbl_value_handle(t, &it, t->filter_handle.offset, &fh, err);
        if (result == TIND_OK)
            result = tbl_filter_part_probe(t, TBL_NO_PART, fh, h, err);
    }
    *scratch = it.key;
    tbl_bref_release(t, &top);
    return result;
}

static int tbl_filter_probe(tbl *t, const uint8_t *key, size_t klen, uint64_t snapshot, tbuf *scratch,
                            tind_err *err)
{
    return tbl_filter_probe_hash(t, key, klen, snapshot, hash64(key, klen), scratch, err);
}

int tbl_may_contain_prefix(tbl *t, const char *name, const uint8_t *prefix, size_t n)
{
    /* a range tombstone may cover prefixes the filter lacks: never skipped */
    if (t->rdel && t->rdel->tombstones)
        return 1;
    if (!t->has_filter || !t->prefix_name || !name || strcmp(name, t->prefix_name) != 0)
        return 1;
    tbuf scratch = TBUF_INIT;
    int r = tbl_filter_probe_hash(t, prefix, n, SEQNO_MAX, pfx_hash(prefix, n), &scratch, NULL);
    tbuf_free(&scratch);
    return r != 0;
}

const char *tbl_prefix_name(const tbl *t) { return t->prefix_name ? t->prefix_name : ""; }

int tbl_may_contain(tbl *t, const uint8_t *key, size_t klen)
{
    if (!t->has_filter || !t->filter_keys)
        return 1;
    tbuf scratch = TBUF_INIT;
    int r = tbl_filter_probe(t, key, klen, SEQNO_MAX, &scratch, NULL);
    tbuf_free(&scratch);
    return r != 0; /* errors: may contain (the read reports them) */
}

/* The general path: an iterator seek (crosses blocks and partitions). */
static int tbl_get_slow(tbl *t, const uint8_t *key, size_t klen, uint64_t snapshot, int fill, uint8_t *type,
                        uint64_t *seqno, tbuf *value, tind_err *err)
{
    tbl_iter *it;
    int rc = tbl_iter_new(t, &it);
    if (rc != TIND_OK)
        return err_set(err, rc, "%s: out of memory", t->what);
    tbl_iter_set_fill_cache(it, fill);
    tbl_iter_seek(it, key, klen, snapshot);
    if (tbl_iter_valid(it)) {
        size_t n;
        const uint8_t *k = tbl_iter_key(it, &n);
        if (key_cmp(k, n, key, klen) == 0) {
            const uint8_t *v = tbl_iter_value(it, &n);
            *type = tbl_iter_type(it);
            *seqno = tbl_iter_seqno(it);
            rc = tbuf_set(value, v, n) ? err_set(err, TIND_ENOMEM, "%s: out of memory", t->what) : TIND_OK;
        } else {
            rc = TIND_NOT_FOUND;
        }
    } else {
        rc = tbl_iter_status(it, err);
        if (rc == TIND_OK)
            rc = TIND_NOT_FOUND;
    }
    tbl_iter_free(it);
    return rc;
}

/*
 * The fast path allocates nothing when the blocks are cached and `value`
 * has room: the caller's value buffer serves as the key buffer of each block
 * iterator in turn (top index, partition, data block) and receives the value
 * at the end (the value points into the block, never into that buffer).
 * When a step runs off the end of its block without reaching a match (never
 * in a table this writer made, where the index names the exact block), the
 * read falls back to the iterator path.
 */
int tbl_get(tbl *t, const uint8_t *key, size_t klen, uint64_t snapshot, int flags, uint8_t *type,
            uint64_t *seqno, tbuf *value, tind_err *err)
{
    tbl_bref top = {0}, part = {0}, data = {0};
    blk_iter it;
    blk_handle h;
    uint64_t off;
    int rc, slow = 0;
    tbuf scratch = *value;
    const pdir *dir = t->dir;
    /* with the directory, the partition is known before any block is touched */
    uint32_t pi = dir ? pdir_find(dir, key, klen, snapshot) : 0;
    uint64_t kh = hash64(key, klen); /* the filter's and the data block hash index's */

    memset(value, 0, sizeof *value);
    int fill = !(flags & TBL_GET_NO_FILL);
    /* a held filter partition is probed after the index search, its line
     * loading meanwhile: the two misses overlap */
    const tbl_pin *fpin = NULL;
    if ((flags & TBL_GET_FILTER) && t->has_filter && t->filter_keys) {
        if (dir && dir->filter && pi < dir->count && (fpin = tbl_pinned(t, pi, TBL_KIND_FILTER)) != NULL) {
            bloom_view_prefetch(&fpin->filter, kh);
            rc = 1;
        } else if (dir && dir->filter) {
            rc = pi == dir->count ? 0 : tbl_filter_part_probe(t, pi, dir->filter[pi], kh, err);
        } else
            rc = tbl_filter_probe_hash(t, key, klen, snapshot, kh, &scratch, err);
        if (rc <= 0) {
            *value = scratch;
            value->len = 0;
            return rc == 0 ? TIND_NOT_FOUND : rc;
        }
    }
    if (dir) {
        if (pi == dir->count) {
            *value = scratch;
            value->len = 0;
            return TIND_NOT_FOUND; /* past the last key of the table */
        }
        h = dir->index[pi];
        /* a held partition: no call, and its directory read from its pin,
         * not from the block's header */
        const tbl_pin *ipin = tbl_pinned(t, pi, TBL_KIND_BLOCK);
        rc = TIND_OK;
        if (ipin)
            part.blk = atomic_load_explicit(&ipin->blk[PIN_INDEX], memory_order_relaxed);
        else
            rc = tbl_part_get(t, pi, TBL_KIND_BLOCK, h, &part, err);
        blk_iter_init(&it, rc == TIND_OK ? &part.blk->b : NULL);
        it.key = scratch;
        it.key.len = 0;
        if (rc != TIND_OK)
            goto out;
        const pdir *pd = ipin ? ipin->dir : part.blk->dir;
        if (pd) {
            uint32_t di = pdir_find(pd, key, klen, snapshot);
            if (di == pd->count) {
                slow = 1; /* the partition ends before the target */
                goto out;
            }
            h = pd->index[di];
            goto data;
        }
        off = h.offset;
        blk_iter_seek(&it, key, klen, snapshot);
        if (!it.valid && it.status == TIND_OK)
            slow = 1; /* the partition ends before the target */
        goto index_done;
    }
    rc = tbl_index_top(t, &top, err);
    if (rc != TIND_OK) {
        *value = scratch;
        value->len = 0;
        return rc;
    }
    blk_iter_init(&it, &top.blk->b);
    it.key = scratch;
    it.key.len = 0;
    if (!t->index_partitioned && top.blk->dir) {
        uint32_t di = pdir_find(top.blk->dir, key, klen, snapshot);
        if (di == top.blk->dir->count) {
            rc = TIND_NOT_FOUND; /* past the last key of the table */
            goto out;
        }
        h = top.blk->dir->index[di];
        goto data;
    }
    off = t->index_handle.offset;
    blk_iter_seek(&it, key, klen, snapshot);
    if (t->index_partitioned && it.valid) {
        rc = tbl_value_handle(t, &it, off, &h, err);
        if (rc == TIND_OK)
            rc = tbl_block_get(t, h, &t->index, TBL_KIND_BLOCK, &part, err);
        if (rc != TIND_OK)
            goto out;
        tbl_rebind(&it, &part.blk->b);
        off = h.offset;
        blk_iter_seek(&it, key, klen, snapshot);
        if (!it.valid && it.status == TIND_OK)
            slow = 1; /* the partition ends before the target */
    }
index_done:
    if (!it.valid) {
        if (it.status != TIND_OK)
            rc = tbl_err_at(t, err, it.status, off, "malformed index entries");
        else
            rc = slow ? TIND_OK : TIND_NOT_FOUND; /* past the last key of the table */
        goto out;
    }
    rc = tbl_value_handle(t, &it, off, &h, err);
    if (rc != TIND_OK)
        goto out;
data:
    if (fpin && !bloom_view_may_contain(&fpin->filter, kh)) {
        rc = TIND_NOT_FOUND;
        goto out;
    }
    rc = tbl_block_get_fill(t, h, &t->data, TBL_KIND_BLOCK, fill, &kh, &data, err);
    if (rc != TIND_OK)
        goto out;
    tbl_rebind(&it, &data.blk->b);
    rc = blk_iter_seek_point_hash(&it, key, klen, snapshot, kh);
    if (rc == TIND_NOT_FOUND)
        goto out; /* the hash index proves the key absent from the only block that could hold it */
    if (it.status != TIND_OK) {
        rc = tbl_err_at(t, err, it.status, h.offset, "malformed data block entries");
        goto out;
    }
    if (!it.valid) {
        slow = 1; /* the block ends before the target */
        goto out;
    }
    if (key_cmp(it.key.data, it.key.len, key, klen) != 0) {
        rc = TIND_NOT_FOUND;
        goto out;
    }
    *type = it.type;
    *seqno = it.seqno;
    *value = it.key;
    it.key = (tbuf)TBUF_INIT;
    rc = tbuf_set(value, it.value, it.value_len)
             ? tbl_err_at(t, err, TIND_ENOMEM, h.offset, "out of memory for a %zu-byte value", it.value_len)
             : TIND_OK;
out:
    if (!value->data)
        *value = it.key;
    else
        tbuf_free(&it.key);
    value->len = rc == TIND_OK && !slow ? value->len : 0;
    tbl_bref_release(t, &data);
    tbl_bref_release(t, &part);
    tbl_bref_release(t, &top);
    if (slow)
        return tbl_get_slow(t, key, klen, snapshot, fill, type, seqno, value, err);
    return rc;
}

/* -------------------------------------------------------------- open/close */

void tbl_ref(tbl *t) { atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed); }

static void tbl_close(tbl *t)
{
    tbl_bref_release(t, &t->index_pin);
    tbl_bref_release(t, &t->filter_pin);
    if (t->dir_charge)
        cache_release(t->bc, t->dir_charge);
    for (uint32_t pi = 0; t->part_pins && pi < t->dir->count; pi++)
        for (int k = PIN_INDEX; k <= PIN_FILTER; k++) {
            cache_handle *h = atomic_load_explicit(&t->part_pins[pi].h[k], memory_order_acquire);
            if (h) {
                cache_pin_return(t->bc, tbl_block_charge(cache_value(h)));
                cache_release(t->bc, h);
            }
        }
    free((void *)t->part_pins);
    pdir_free(t->dir);
    if (t->bc)
        cache_erase_id(t->bc, t->cache_id);
    if (t->file)
        fs_close(t->file, NULL);
    tbl_meta_free(&t->meta);
    tbl_meta_free(&t->stored);
    rt_list_unref(t->rdel);
    free(t->prefix_name);
    zdict_free(t->zd);
    free(t->path);
    free(t->what);
    free(t);
}

void tbl_unref(tbl *t)
{
    if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
        tbl_close(t);
}

const tbl_meta *tbl_get_meta(const tbl *t) { return &t->meta; }

static size_t tbl_bref_owned_bytes(const tbl_bref *r)
{
    return r->blk && !r->h ? tbl_block_bytes(r->blk) : 0;
}

size_t tbl_memory(const tbl *t)
{
    size_t n = sizeof *t + 2 * strlen(t->path) + 48;
    n += t->meta.smallest_key.cap + t->meta.largest_key.cap;
    n += t->stored.smallest_key.cap + t->stored.largest_key.cap;
    if (t->prefix_name)
        n += strlen(t->prefix_name) + 1;
    n += zdict_memory(t->zd);
    if (t->rdel) {
        n += sizeof *t->rdel + t->rdel->count * sizeof(rt_frag) + t->rdel->tombstones * sizeof(uint64_t);
        for (size_t i = 0; i < t->rdel->count; i++)   /* the key bytes (at most these) */
            n += t->rdel->frags[i].start_len + t->rdel->frags[i].end_len;
    }
    n += tbl_bref_owned_bytes(&t->index_pin) + tbl_bref_owned_bytes(&t->filter_pin);
    return n;
}

const rt_list *tbl_range_tombstones(const tbl *t) { return t->rdel; }


static int tbl_bad(const tbl *t, tind_err *err, const char *why)
{
    return err_set(err, TIND_ECORRUPT, "%s: metadata: %s", t->what, why);
}

static int tbl_section(tbl *t, const ctr_toc *toc, const char *name, uint64_t file_size, int required,
                       tbl_range *r, tind_err *err)
{
    const ctr_section *s = ctr_find(toc, name);
    r->offset = r->length = 0;
    if (!s) {
        if (required)
            return err_set(err, TIND_ECORRUPT, "%s: no '%s' section", t->what, name);
        return TIND_NOT_FOUND;
    }
    if (s->offset > file_size || s->length > file_size - s->offset)
        return err_set(err, TIND_ECORRUPT, "%s: section '%s' outside the file", t->what, name);
    r->offset = s->offset;
    r->length = s->length;
    return TIND_OK;
}

static int tbl_overlap(const tbl_range *a, const tbl_range *b)
{
    if (!a->length || !b->length)
        return 0;
    return a->offset < b->offset + b->length && b->offset < a->offset + a->length;
}

/* Cross-checks the properties against each other and the sections. */
static int tbl_check_props(tbl *t, const tbl_props *p, uint32_t version, const tbl_range *meta_sec,
                           tind_err *err)
{
    const tbl_meta *m = &p->meta;
    if (p->format_version != version)
        return tbl_bad(t, err, "format.version disagrees with the container");
    if (version >= 2 && !p->has_identity)
        return tbl_bad(t, err, "identity.number or identity.table_id missing (required from format 2 on)");
    if (p->index_partitioned > 1 || p->filter_partitioned > 1)
        return tbl_bad(t, err, "bad partitioning flags");
    if (p->filter_partitioned && (!p->index_partitioned || !p->has_filter))
        return tbl_bad(t, err, "partitioned filter without a partitioned index or filter");
    if (p->has_filter != (t->filter.length != 0))
        return tbl_bad(t, err, "filter handle and filter section disagree");
    if (p->filter_prefix_only > 1 || (p->filter_prefix_only && (!p->filter_prefix.len || version < 3)) ||
        p->filter_prefix.len > PFX_NAME_MAX + 32 || (p->filter_prefix.len && memchr(p->filter_prefix.data, 0, p->filter_prefix.len)))
        return tbl_bad(t, err, "bad prefix filter properties");
    if (p->dict_id && (version < 3 || m->compression != COMPRESSION_ZSTD))
        return tbl_bad(t, err, "a zstd dictionary in a table of format < 3 or without zstd");
    if (m->data_bytes != t->data.length || m->index_bytes != t->index.length ||
        m->filter_bytes != t->filter.length)
        return tbl_bad(t, err, "section sizes disagree with the metadata");
    if (tbl_overlap(&t->data, &t->index) || tbl_overlap(&t->data, &t->filter) ||
        tbl_overlap(&t->index, &t->filter) || tbl_overlap(meta_sec, &t->data) ||
        tbl_overlap(meta_sec, &t->index) || tbl_overlap(meta_sec, &t->filter))
        return tbl_bad(t, err, "sections overlap");
    if (m->tombstone_count > m->entry_count || m->data_block_count > m->entry_count ||
        (m->entry_count == 0) != (m->data_block_count == 0))
        return tbl_bad(t, err, "entry, tombstone and block counts disagree");
    if (m->data_block_count > m->data_bytes / BLOCK_HEADER_SIZE)
        return tbl_bad(t, err, "more data blocks than the data section can hold");
    if (m->raw_key_bytes < m->entry_count || m->raw_key_bytes / TIND_MAX_KEY_SIZE > m->entry_count)
        return tbl_bad(t, err, "raw key bytes disagree with the entry count");
    if (m->compression > COMPRESSION_ZSTD || m->restart_interval == 0 || m->block_size == 0 ||
        p->index_restart_interval == 0)
        return tbl_bad(t, err, "bad block options");
    if (m->entry_count) {
        if (m->smallest_key.len == 0 || m->largest_key.len == 0 ||
            m->smallest_key.len > TIND_MAX_KEY_SIZE || m->largest_key.len > TIND_MAX_KEY_SIZE)
            return tbl_bad(t, err, "bad smallest or largest key");
        if (key_cmp(m->smallest_key.data, m->smallest_key.len, m->largest_key.data, m->largest_key.len) > 0)
            return tbl_bad(t, err, "smallest key after largest key");
        if (m->min_seqno > m->max_seqno || m->max_seqno > SEQNO_MAX)
            return tbl_bad(t, err, "bad seqno range");
        if (p->index_partitioned &&
            (p->index_partition_count == 0 || p->index_partition_count > m->data_block_count))
            return tbl_bad(t, err, "bad index partition count");
    } else {
        if (m->smallest_key.len || m->largest_key.len || m->min_seqno || m->max_seqno ||
            m->raw_value_bytes || p->has_filter || p->index_partition_count)
            return tbl_bad(t, err, "an empty table with keys, seqnos, values or filters");
    }
    if (!p->index_partitioned && p->index_partition_count)
        return tbl_bad(t, err, "partition count without partitions");
    /* The top-level block ends its section; unpartitioned, it is the section. */
    if (!tbl_in_range(&t->index, p->index_handle) ||
        p->index_handle.offset + p->index_handle.size != t->index.offset + t->index.length ||
        (!p->index_partitioned && p->index_handle.offset != t->index.offset))
        return tbl_bad(t, err, "index handle does not end the index section");
    if (p->has_filter &&
        (!tbl_in_range(&t->filter, p->filter_handle) ||
         p->filter_handle.offset + p->filter_handle.size != t->filter.offset + t->filter.length ||
         (!p->filter_partitioned && p->filter_handle.offset != t->filter.offset)))
        return tbl_bad(t, err, "filter handle does not end the filter section");
    return TIND_OK;
}

/* The dictionary section, present exactly when the metadata names a
 * dictionary: one stored block holding the zstd dictionary. */
static int tbl_open_dict(tbl *t, const ctr_toc *toc, uint64_t size, uint32_t dict_id, tind_err *err)
{
    tbl_range r;
    fs_file *f;
    fdc_handle *fh;
    uint8_t *raw = NULL;
    size_t n = 0;
    int rc = tbl_section(t, toc, TBL_SECTION_DICT, size, 0, &r, err);
    if (rc == TIND_NOT_FOUND)
        return dict_id ? tbl_bad(t, err, "the metadata names a zstd dictionary but there is no dict section")
                       : TIND_OK;
    if (rc != TIND_OK)
        return rc;
    if (!dict_id)
        return tbl_bad(t, err, "a dict section without compression.dict_id");
    if (tbl_overlap(&r, &t->data) || tbl_overlap(&r, &t->index) || tbl_overlap(&r, &t->filter))
        return tbl_bad(t, err, "sections overlap");
    rc = tbl_file_acquire(t, &f, &fh, err);
    if (rc != TIND_OK)
        return rc;
    rc = blockio_read(f, (blk_handle){r.offset, r.length}, &raw, &n, t->what, err);
    tbl_file_release(t, fh);
    if (rc == TIND_OK)
        rc = zdict_load(raw, n, dict_id, &t->zd, t->what, err);
    free(raw);
    return rc;
}

/* Pins or warms one top-level block. */
static int tbl_open_top(tbl *t, blk_handle h, const tbl_range *sec, int kind, int pin, tbl_bref *pinned,
                        tind_err *err)
{
    tbl_bref r;
    int rc = tbl_block_get(t, h, sec, kind, &r, err);
    if (rc != TIND_OK)
        return rc;
    if (pin && r.owned)
        tbl_block_decode_index(t, h, sec, r.blk); /* no cache: held for the table's life */
    if (pin)
        *pinned = r;
    else
        tbl_bref_release(t, &r);
    return TIND_OK;
}

/* The last entry of the top-level index must be the table's largest key. */
static int tbl_open_check_index(tbl *t, tind_err *err)
{
    tbl_bref top;
    blk_iter it;
    int rc = tbl_index_top(t, &top, err);
    if (rc != TIND_OK)
        return rc;
    blk_iter_init(&it, &top.blk->b);
    blk_iter_last(&it);
    if (it.status != TIND_OK)
        rc = tbl_err_at(t, err, TIND_ECORRUPT, t->index_handle.offset, "malformed index entries");
    else if (it.valid != (t->meta.entry_count != 0) ||
             (it.valid && key_cmp(it.key.data, it.key.len, t->meta.largest_key.data, t->meta.largest_key.len)))
        rc = tbl_err_at(t, err, TIND_ECORRUPT, t->index_handle.offset,
                        "last index entry disagrees with the largest key");
    else if (it.valid && (it.seqno > SEQNO_MAX || it.seqno < t->meta.min_seqno))
        rc = tbl_err_at(t, err, TIND_ECORRUPT, t->index_handle.offset,
                        "last index entry has a seqno outside the table's range");
    blk_iter_free(&it);
    tbl_bref_release(t, &top);
    return rc;
}

/* The partition directory of a partitioned index (pdir.h), charged to the
 * block cache as a held entry (pinned usage, like a pinned block) at an
 * offset no block can have. A table whose top-level blocks do not qualify
 * is read without it. */
static int tbl_open_dir(tbl *t, tind_err *err)
{
    tbl_bref itop, ftop = {0};
    int rc = tbl_index_top(t, &itop, err);
    if (rc != TIND_OK)
        return rc;
    if (t->has_filter && t->filter_partitioned)
        rc = tbl_filter_top(t, &ftop, err);
    if (rc == TIND_OK) {
        t->dir = pdir_build(&itop.blk->b, ftop.blk ? &ftop.blk->b : NULL);
        if (t->dir && t->bc) {
            t->dir_charge = cache_insert(t->bc, t->cache_id, UINT64_MAX, NULL, t->dir->memory, NULL, NULL);
            if (!t->dir_charge) {
                pdir_free(t->dir);
                t->dir = NULL;
            } else {
                /* partition i's index and filter pins in one line; NULL: no pins */
                t->part_pins = aligned_alloc(_Alignof(tbl_pin), t->dir->count * sizeof *t->part_pins);
                if (t->part_pins)
                    memset(t->part_pins, 0, t->dir->count * sizeof *t->part_pins);
            }
        }
    }
    tbl_bref_release(t, &ftop);
    tbl_bref_release(t, &itop);
    return rc;
}

/* Reads the range tombstone section, when there is one, and widens the
 * in-memory key and seqno range to cover it (the stored ones are kept for
 * tbl_verify). */
static int tbl_open_rangedel(tbl *t, const ctr_toc *toc, uint64_t size, tind_err *err)
{
    tbl_range sec;
    if (toc->version < 3)
        return TIND_OK;
    int rc = tbl_section(t, toc, TBL_SECTION_RANGEDEL, size, 0, &sec, err);
    if (rc == TIND_NOT_FOUND)
        return t->meta.range_tombstones ? tbl_bad(t, err, "range_tombstones without a range tombstone section")
                                        : TIND_OK;
    if (rc)
        return rc;
    if (tbl_overlap(&sec, &t->data) || tbl_overlap(&sec, &t->index) || (t->has_filter && tbl_overlap(&sec, &t->filter)))
        return tbl_bad(t, err, "the range tombstone section overlaps another section");
    fs_file *f;
    fdc_handle *fh = NULL;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if ((rc = tbl_file_acquire(t, &f, &fh, err)) != TIND_OK)
        return rc;
    rc = blockio_read(f, (blk_handle){sec.offset, sec.length}, &raw, &raw_len, t->what, err);
    tbl_file_release(t, fh);
    if (rc)
        return rc;
    rc = rt_list_decode(raw, raw_len, t->what, &t->rdel, err);
    free(raw);
    if (rc)
        return rc;
    if (t->rdel->tombstones != t->meta.range_tombstones)
        return tbl_bad(t, err, "range_tombstones disagrees with the range tombstone section");
    t->stored.min_seqno = t->meta.min_seqno;
    t->stored.max_seqno = t->meta.max_seqno;
    if (tbuf_set(&t->stored.smallest_key, t->meta.smallest_key.data, t->meta.smallest_key.len) ||
        tbuf_set(&t->stored.largest_key, t->meta.largest_key.data, t->meta.largest_key.len) ||
        tbl_extend_range(&t->meta, t->rdel))
        return err_set(err, TIND_ENOMEM, "%s: out of memory", t->what);
    return TIND_OK;
}

int tbl_open(fs *fsys, const char *path, const tbl_open_options *o, tbl **out, tind_err *err)
{
    tbl_open_options def;
    ctr_toc *toc = NULL;
    tbl_props props;
    fs_file *f;
    fdc_handle *fh = NULL;
    uint64_t size;
    tbl_range meta_sec;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    int rc;

    *out = NULL;
    memset(&props, 0, sizeof props);
    if (!o) {
        memset(&def, 0, sizeof def);
        o = &def;
    }
    tbl *t = calloc(1, sizeof *t);
    if (!t)
        return err_set(err, TIND_ENOMEM, "table %llu '%s': out of memory", (unsigned long long)o->file_id, path);
    atomic_init(&t->refs, 1);
    t->fsys = fsys;
    t->file_id = o->file_id;
    t->fds = o->fds;
    t->bc = o->block_cache;
    t->path = strdup(path);
    size_t wn = strlen(path) + 48;
    t->what = malloc(wn);
    if (!t->path || !t->what) {
        tbl_close(t);
        return err_set(err, TIND_ENOMEM, "table %llu '%s': out of memory", (unsigned long long)o->file_id, path);
    }
    snprintf(t->what, wn, "table %llu '%s'", (unsigned long long)o->file_id, path);
    if (t->bc)
        t->cache_id = cache_new_id(t->bc);

    if (!t->fds) {
        rc = fs_open(fsys, path, FS_O_READ, &t->file, err);
        if (rc != TIND_OK) {
            t->file = NULL;
            err_wrap(err, rc, "table %llu: ", (unsigned long long)o->file_id);
            goto fail;
        }
    }
    rc = tbl_file_acquire(t, &f, &fh, err);
    if (rc != TIND_OK)
        goto fail;
    rc = fs_size(f, &size, err);
    if (rc == TIND_OK) {
        toc = malloc(sizeof *toc);
        if (!toc)
            rc = err_set(err, TIND_ENOMEM, "%s: out of memory", t->what);
    }
    if (rc == TIND_OK)
        rc = ctr_read_toc(f, size, TABLE_FORMAT_VERSION, toc, t->what, err);
    tbl_file_release(t, fh);
    if (rc != TIND_OK)
        goto fail;
    t->meta.file_size = size;

    if ((rc = tbl_section(t, toc, TBL_SECTION_DATA, size, 1, &t->data, err)) != TIND_OK ||
        (rc = tbl_section(t, toc, TBL_SECTION_INDEX, size, 1, &t->index, err)) != TIND_OK ||
        (rc = tbl_section(t, toc, TBL_SECTION_META, size, 1, &meta_sec, err)) != TIND_OK)
        goto fail;
    rc = tbl_section(t, toc, TBL_SECTION_FILTER, size, 0, &t->filter, err);
    if (rc != TIND_OK && rc != TIND_NOT_FOUND)
        goto fail;

    /* The meta section is exactly one stored block. */
    rc = tbl_file_acquire(t, &f, &fh, err);
    if (rc != TIND_OK)
        goto fail;
    rc = blockio_read(f, (blk_handle){meta_sec.offset, meta_sec.length}, &raw, &raw_len, t->what, err);
    tbl_file_release(t, fh);
    if (rc != TIND_OK)
        goto fail;
    rc = tbl_props_decode(raw, raw_len, &props, t->what, err);
    free(raw);
    if (rc != TIND_OK)
        goto fail;
    rc = tbl_check_props(t, &props, toc->version, &meta_sec, err);
    uint64_t file_size = t->meta.file_size;
    t->meta = props.meta; /* takes the keys */
    t->meta.format_version = toc->version;
    t->meta.file_size = file_size;
    if (rc != TIND_OK) {
        tbuf_free(&props.filter_prefix);
        goto fail;
    }
    t->index_partitioned = (int)props.index_partitioned;
    t->index_partition_count = props.index_partition_count;
    t->filter_partitioned = (int)props.filter_partitioned;
    t->has_filter = props.has_filter;
    t->filter_keys = !props.filter_prefix_only;
    if (props.filter_prefix.len) {
        t->prefix_name = strndup((const char *)props.filter_prefix.data, props.filter_prefix.len);
        if (!t->prefix_name)
            rc = err_set(err, TIND_ENOMEM, "%s: out of memory", t->what);
    }
    tbuf_free(&props.filter_prefix);
    if (rc == TIND_OK)
        rc = tbl_open_dict(t, toc, size, props.dict_id, err);
    if (rc != TIND_OK)
        goto fail;
    t->index_handle = props.index_handle;
    t->filter_handle = props.filter_handle;

    int pin = o->pin_index_and_filter || !t->bc;
    rc = tbl_open_top(t, t->index_handle, &t->index, TBL_KIND_BLOCK, pin, &t->index_pin, err);
    if (rc == TIND_OK && t->has_filter)
        rc = tbl_open_top(t, t->filter_handle, &t->filter,
                          t->filter_partitioned ? TBL_KIND_BLOCK : TBL_KIND_FILTER, pin, &t->filter_pin, err);
    if (rc == TIND_OK)
        rc = tbl_open_check_index(t, err);
    if (rc == TIND_OK && t->index_partitioned)
        rc = tbl_open_dir(t, err);
    if (rc == TIND_OK)
        rc = tbl_open_rangedel(t, toc, size, err);
    if (rc != TIND_OK)
        goto fail;
    free(toc);
    *out = t;
    return TIND_OK;

fail:
    free(toc);
    tbl_close(t);
    return rc;
}

/* ------------------------------------------------------------------ verify */

typedef struct tbl_vstate {
    tbuf prev_key;
    uint64_t prev_seqno;
    int have_prev;
    uint64_t entries, tombstones, blocks, key_bytes, value_bytes, min_seqno, max_seqno;
    uint64_t next_data;       /* where the next data block must start */
} tbl_vstate;

/* Checks one data block against its index entry (ikey = its last key). */
static int tbl_verify_data(tbl *t, tbl_vstate *v, blk_handle h, const blk_iter *ix, const tbl_block *filter,
                           tind_err *err)
{
    tbl_block *b;
    blk_iter it;
    int rc;
    if (h.offset != v->next_data)
        return tbl_err_at(t, err, TIND_ECORRUPT, h.offset, "data block not where the previous one ended (%llu)",
                          (unsigned long long)v->next_data);
    rc = tbl_load(t, h, &t->data, TBL_KIND_BLOCK, &b, err);
    if (rc != TIND_OK)
        return rc;
    v->next_data = h.offset + h.size;
    v->blocks++;
    blk_iter_init(&it, &b->b);
    for (blk_iter_first(&it); it.valid; blk_iter_next(&it)) {
        if (v->have_prev &&
            ikey_cmp(v->prev_key.data, v->prev_key.len, v->prev_seqno, it.key.data, it.key.len, it.seqno) >= 0) {
            rc = tbl_err_at(t, err, TIND_ECORRUPT, h.offset, "entry out of internal order");
            goto out;
        }
        if (it.key.len == 0 || it.key.len > TIND_MAX_KEY_SIZE || it.seqno > SEQNO_MAX) {
            rc = tbl_err_at(t, err, TIND_ECORRUPT, h.offset, "entry with a bad key length or seqno");
            goto out;
        }
        const tbl_meta *pm = t->rdel ? &t->stored : &t->meta;
        if (!v->have_prev && key_cmp(it.key.data, it.key.len, pm->smallest_key.data,
                                     pm->smallest_key.len) != 0) {
            rc = tbl_err_at(t, err, TIND_ECORRUPT, h.offset, "first key differs from the smallest key");
            goto out;
        }
        if (filter && t->filter_keys && !bloom_may_contain(filter->raw, filter->raw_len, hash64(it.key.data, it.key.len))) {
            rc = tbl_err_at(t, err, TIND_ECORRUPT, h.offset, "a key is missing from its filter");
            goto out;
        }
        if (tbuf_set(&v->prev_key, it.key.data, it.key.len)) {
            rc = tbl_err_at(t, err, TIND_ENOMEM, h.offset, "out of memory");
            goto out;
        }
        v->prev_seqno = it.seqno;
        v->have_prev = 1;
        v->entries++;
        v->tombstones += tbl_type_is_delete(it.type);
        v->key_bytes += it.key.len;
        v->value_bytes += it.value_len;
        if (it.seqno < v->min_seqno)
            v->min_seqno = it.seqno;
        if (it.seqno > v->max_seqno)
            v->max_seqno = it.seqno;
    }
    if (it.status != TIND_OK) {
        rc = tbl_err_at(t, err, TIND_ECORRUPT, h.offset, "malformed data block entries");
        goto out;
    }
    if (!v->have_prev || b->b.restart_count == 0 ||
        ikey_cmp(v->prev_key.data, v->prev_key.len, v->prev_seqno, ix->key.data, ix->key.len, ix->seqno) != 0) {
        rc = tbl_err_at(t, err, TIND_ECORRUPT, h.offset, "last entry differs from its index entry");
        goto out;
    }
    rc = TIND_OK;
out:
    blk_iter_free(&it);
    tbl_block_free(b);
    return rc;
}

/* Walks one leaf index block (the whole index or one partition). */
static int tbl_verify_leaf(tbl *t, tbl_vstate *v, const tbl_block *leaf, uint64_t leaf_offset,
                           const tbl_block *filter, tind_err *err)
{
    blk_iter ix;
    blk_handle h;
    int rc = TIND_OK;
    blk_iter_init(&ix, &leaf->b);
    for (blk_iter_first(&ix); ix.valid && rc == TIND_OK; blk_iter_next(&ix)) {
        rc = tbl_value_handle(t, &ix, leaf_offset, &h, err);
        if (rc == TIND_OK)
            rc = tbl_verify_data(t, v, h, &ix, filter, err);
    }
    if (rc == TIND_OK && ix.status != TIND_OK)
        rc = tbl_err_at(t, err, TIND_ECORRUPT, leaf_offset, "malformed index entries");
    blk_iter_free(&ix);
    return rc;
}

int tbl_verify(tbl *t, tind_err *err)
{
    const tbl_meta *pm = t->rdel ? &t->stored : &t->meta; /* the stored ranges */
    tbl_vstate v;
    tbl_block *top = NULL, *ftop = NULL, *part = NULL, *fpart = NULL;
    blk_iter ti, fi;
    int rc;

    memset(&v, 0, sizeof v);
    v.min_seqno = UINT64_MAX;
    v.next_data = t->data.offset;
    blk_iter_init(&ti, NULL);
    blk_iter_init(&fi, NULL);
    rc = tbl_load(t, t->index_handle, &t->index, TBL_KIND_BLOCK, &top, err);
    if (rc == TIND_OK && t->has_filter)
        rc = tbl_load(t, t->filter_handle, &t->filter, t->filter_partitioned ? TBL_KIND_BLOCK : TBL_KIND_FILTER,
                      &ftop, err);
    if (rc != TIND_OK)
        goto out;
    if (!t->index_partitioned) {
        rc = tbl_verify_leaf(t, &v, top, t->index_handle.offset, ftop, err);
    } else {
        uint64_t next_part = t->index.offset, next_fpart = t->filter.offset, parts = 0;
        blk_handle h, fh;
        blk_iter_init(&ti, &top->b);
        if (t->filter_partitioned) {
            blk_iter_init(&fi, &ftop->b);
            blk_iter_first(&fi);
        }
        for (blk_iter_first(&ti); ti.valid && rc == TIND_OK; blk_iter_next(&ti)) {
            const tbl_block *filter = t->filter_partitioned ? NULL : ftop;
            parts++;
            rc = tbl_value_handle(t, &ti, t->index_handle.offset, &h, err);
            if (rc != TIND_OK)
                break;
            if (h.offset != next_part) {
                rc = tbl_err_at(t, err, TIND_ECORRUPT, h.offset, "index partition not where the previous ended");
                break;
            }
            next_part = h.offset + h.size;
            if ((rc = tbl_load(t, h, &t->index, TBL_KIND_BLOCK, &part, err)) != TIND_OK)
                break;
            if (t->filter_partitioned) {
                if (!fi.valid ||
                    ikey_cmp(fi.key.data, fi.key.len, fi.seqno, ti.key.data, ti.key.len, ti.seqno) != 0) {
                    rc = tbl_err_at(t, err, TIND_ECORRUPT, t->filter_handle.offset,
                                    "filter index disagrees with the index");
                    break;
                }
                if ((rc = tbl_value_handle(t, &fi, t->filter_handle.offset, &fh, err)) != TIND_OK)
                    break;
                if (fh.offset != next_fpart) {
                    rc = tbl_err_at(t, err, TIND_ECORRUPT, fh.offset,
                                    "filter partition not where the previous ended");
                    break;
                }
                next_fpart = fh.offset + fh.size;
                if ((rc = tbl_load(t, fh, &t->filter, TBL_KIND_FILTER, &fpart, err)) != TIND_OK)
                    break;
                filter = fpart;
                blk_iter_next(&fi);
            }
            uint64_t before = v.entries;
            rc = tbl_verify_leaf(t, &v, part, h.offset, filter, err);
            if (rc == TIND_OK && (v.entries == before ||
                                  ikey_cmp(v.prev_key.data, v.prev_key.len, v.prev_seqno, ti.key.data,
                                           ti.key.len, ti.seqno) != 0))
                rc = tbl_err_at(t, err, TIND_ECORRUPT, h.offset, "partition's last key differs from its top entry");
            tbl_block_free(part);
            tbl_block_free(fpart);
            part = fpart = NULL;
        }
        if (rc == TIND_OK && (ti.status != TIND_OK || fi.status != TIND_OK))
            rc = tbl_err_at(t, err, TIND_ECORRUPT, t->index_handle.offset, "malformed top-level entries");
        if (rc == TIND_OK && (next_part != t->index_handle.offset || parts != t->index_partition_count))
            rc = tbl_err_at(t, err, TIND_ECORRUPT, t->index_handle.offset,
                            "index partitions do not fill the index section");
        if (rc == TIND_OK && t->filter_partitioned && (fi.valid || next_fpart != t->filter_handle.offset))
            rc = tbl_err_at(t, err, TIND_ECORRUPT, t->filter_handle.offset,
                            "filter partitions disagree with the index partitions");
    }
    if (rc != TIND_OK)
        goto out;
    if (v.next_data != t->data.offset + t->data.length)
        rc = tbl_err_at(t, err, TIND_ECORRUPT, v.next_data, "data blocks do not fill the data section");
    else if (v.entries != t->meta.entry_count || v.tombstones != t->meta.tombstone_count ||
             v.blocks != t->meta.data_block_count || v.key_bytes != t->meta.raw_key_bytes ||
             v.value_bytes != t->meta.raw_value_bytes ||
             (v.entries && (v.min_seqno != pm->min_seqno || v.max_seqno != pm->max_seqno)))
        rc = err_set(err, TIND_ECORRUPT, "%s: counts disagree with the metadata", t->what);
    else if (v.entries && key_cmp(v.prev_key.data, v.prev_key.len, pm->largest_key.data,
                                  pm->largest_key.len) != 0)
        rc = err_set(err, TIND_ECORRUPT, "%s: last key differs from the largest key", t->what);
out:
    blk_iter_free(&ti);
    blk_iter_free(&fi);
    tbl_block_free(top);
    tbl_block_free(ftop);
    tbl_block_free(part);
    tbl_block_free(fpart);
    tbuf_free(&v.prev_key);
    return rc;
}
