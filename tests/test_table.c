/*
 * test_table.c -- the sorted table file (src/format/table*.c).
 *
 * Every randomized check compares the table against a brute-force model: a
 * sorted array of entries (user key, seqno, type, value) in internal order.
 *   matrix           round trips over compression x hash index x partitioning
 *                    x restart interval x block size, rotating block cache /
 *                    fd cache / pinning: full iteration both ways, random
 *                    seek / seek_for_prev and tbl_get at random snapshots,
 *                    tbl_verify, metadata.
 *   encode_threads   data blocks encoded on threads: the same bytes as in line.
 *   big_values       multi-MB values and 64 KiB keys.
 *   straddle         keys with hundreds of versions across blocks and
 *                    partitions: every version found through the filters.
 *   bloom            false-positive rate through tbl_may_contain.
 *   corruption_sweep every byte of small tables flipped in turn: open fails
 *                    with TIND_ECORRUPT, or every read returns the original
 *                    data or TIND_ECORRUPT, and at least one read fails.
 *   truncation, newer_version, writer_validation, empty_table,
 *   write_faults, read_faults, posix_and_messages, concurrent_readers.
 * TSAN-LABEL: concurrent_readers runs several threads on one table.
 */
#include <pthread.h>

#include "check.h"
#include "cache/cache.h"
#include "cache/fdcache.h"
#include "format/compress.h"
#include "format/entry.h"
#include "format/table.h"
#include "io/fs.h"
#include "util/hash.h"
#include "util/rand.h"

/* ------------------------------------------------------------------ model */

typedef struct ent {
    const uint8_t *key;
    size_t klen;
    uint64_t seqno;
    uint8_t type;
    const uint8_t *val;
    size_t vlen;
} ent;

typedef struct model {
    ent *e;
    size_t n;
    uint8_t **keys;           /* owned distinct user keys */
    size_t *key_lens;
    size_t nkeys;
} model;

/* Values point into one shared pool: part random, part repetitive text. */
#define POOL_SIZE (6u << 20)
static uint8_t *pool;

static void pool_init(void)
{
    if (pool)
        return;
    pool = malloc(POOL_SIZE);
    trng r;
    trng_seed(&r, 12345);
    static const char text[] = "the quick brown fox jumps over the lazy dog; tind tables ";
    for (size_t i = 0; i < POOL_SIZE; i++) {
        if ((i >> 12) % 3 == 0)
            pool[i] = (uint8_t)trng_next(&r);
        else
            pool[i] = (uint8_t)text[(i * 7 + (i >> 12)) % (sizeof text - 1)];
    }
}

typedef struct gen_opts {
    size_t nkeys;
    int max_versions;
    int big_keys;             /* keys of 1000..65535 bytes (one of 65535) */
    size_t max_vlen;
    size_t huge_values;       /* values of 2..5 MB */
} gen_opts;

static int cmp_keyptr(const void *a, const void *b, size_t an, size_t bn)
{
    return key_cmp(a, an, b, bn);
}

typedef struct kref {
    uint8_t *k;
    size_t n;
} kref;

static int kref_cmp(const void *a, const void *b)
{
    const kref *x = a, *y = b;
    return cmp_keyptr(x->k, y->k, x->n, y->n);
}

static int u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void random_key(trng *r, uint8_t *buf, size_t *len)
{
    static const char *prefixes[] = {"", "user:", "item/0000", "a", "zz\xff", "k\x00"};
    const char *p = prefixes[trng_below(r, 6)];
    size_t pl = (p[0] == 'k') ? 2 : strlen(p);
    memcpy(buf, p, pl);
    size_t n = pl + trng_below(r, 14);
    int binary = trng_below(r, 4) == 0;
    for (size_t i = pl; i < n; i++)
        buf[i] = binary ? (uint8_t)trng_next(r) : (uint8_t)('a' + trng_below(r, 6));
    if (n == 0)
        buf[n++] = (uint8_t)trng_next(r);
    *len = n;
}

static void model_gen(model *m, trng *r, const gen_opts *g)
{
    pool_init();
    memset(m, 0, sizeof *m);
    size_t total = g->nkeys + (size_t)g->big_keys;
    kref *ks = calloc(total, sizeof *ks);
    uint8_t tmp[64];
    for (size_t i = 0; i < g->nkeys; i++) {
        random_key(r, tmp, &ks[i].n);
        ks[i].k = malloc(ks[i].n);
        memcpy(ks[i].k, tmp, ks[i].n);
    }
    for (int i = 0; i < g->big_keys; i++) {
        size_t n = i == 0 ? TIND_MAX_KEY_SIZE : 1000 + trng_below(r, TIND_MAX_KEY_SIZE - 1000);
        kref *k = &ks[g->nkeys + (size_t)i];
        k->k = malloc(n);
        k->n = n;
        memset(k->k, 'a' + (int)trng_below(r, 6), n);
        k->k[n - 1] = (uint8_t)trng_next(r);
        k->k[n / 2] = (uint8_t)trng_next(r);
    }
    qsort(ks, total, sizeof *ks, kref_cmp);
    m->keys = calloc(total, sizeof *m->keys);
    m->key_lens = calloc(total, sizeof *m->key_lens);
    for (size_t i = 0; i < total; i++) {
        if (m->nkeys && kref_cmp(&ks[i], &(kref){m->keys[m->nkeys - 1], m->key_lens[m->nkeys - 1]}) == 0) {
            free(ks[i].k);
            continue;
        }
        m->keys[m->nkeys] = ks[i].k;
        m->key_lens[m->nkeys++] = ks[i].n;
    }
    free(ks);
    size_t cap = m->nkeys * 2 + 16;
    m->e = malloc(cap * sizeof *m->e);
    for (size_t k = 0; k < m->nkeys; k++) {
        uint64_t pick = trng_below(r, 100);
        int versions = pick < 60 ? 1 : pick < 85 ? 2 + (int)trng_below(r, 2)
                                                 : 1 + (int)trng_below(r, (uint64_t)g->max_versions);
        if (versions > g->max_versions)
            versions = g->max_versions;
        uint64_t seqs[64];
        int nv = 0;
        while (nv < versions) {
            uint64_t s;
            uint64_t c = trng_below(r, 50);
            s = c == 0 ? 0 : c == 1 ? SEQNO_MAX : 1 + trng_below(r, 1u << 20);
            int dup = 0;
            for (int j = 0; j < nv; j++)
                dup |= seqs[j] == s;
            if (!dup)
                seqs[nv++] = s;
        }
        qsort(seqs, (size_t)nv, sizeof seqs[0], u64_desc);
        for (int v = 0; v < nv; v++) {
            if (m->n == cap) {
                cap *= 2;
                m->e = realloc(m->e, cap * sizeof *m->e);
            }
            ent *e = &m->e[m->n++];
            e->key = m->keys[k];
            e->klen = m->key_lens[k];
            e->seqno = seqs[v];
            uint64_t t = trng_below(r, 100);
            e->type = t < 85 ? ENTRY_VALUE : t < 97 ? ENTRY_TOMBSTONE : t < 99 ? ENTRY_MERGE : ENTRY_SINGLE_DELETE;
            size_t vlen = 0;
            if (e->type == ENTRY_VALUE || e->type == ENTRY_MERGE) {
                uint64_t s = trng_below(r, 100);
                vlen = s < 20 ? 0 : s < 90 ? trng_below(r, 40) : trng_below(r, g->max_vlen + 1);
            }
            e->vlen = vlen;
            e->val = pool + trng_below(r, POOL_SIZE - vlen + 1);
        }
    }
    for (size_t h = 0; h < g->huge_values && m->n; h++) {
        ent *e = &m->e[trng_below(r, m->n)];
        e->type = ENTRY_VALUE;
        e->vlen = (2u << 20) + trng_below(r, 3u << 20);
        e->val = pool + trng_below(r, POOL_SIZE - e->vlen + 1);
    }
}

static void model_free(model *m)
{
    for (size_t i = 0; i < m->nkeys; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->key_lens);
    free(m->e);
    memset(m, 0, sizeof *m);
}

/* First entry >= (key, seqno). */
static size_t model_lower(const model *m, const uint8_t *key, size_t klen, uint64_t seqno)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ikey_cmp(m->e[mid].key, m->e[mid].klen, m->e[mid].seqno, key, klen, seqno) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First entry > (key, seqno). */
static size_t model_upper(const model *m, const uint8_t *key, size_t klen, uint64_t seqno)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ikey_cmp(m->e[mid].key, m->e[mid].klen, m->e[mid].seqno, key, klen, seqno) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---------------------------------------------------------------- helpers */

static void write_model(fs *f, const char *path, const tbl_options *o, const model *m, tbl_meta *meta)
{
    tbl_writer *w;
    tind_err err;
    CHECK_OK(tbl_writer_open(f, path, o, &w, &err));
    for (size_t i = 0; i < m->n; i++) {
        const ent *e = &m->e[i];
        int rc = tbl_writer_add(w, e->key, e->klen, e->seqno, e->type, e->val, e->vlen, &err);
        if (rc)
            check_fail(__FILE__, __LINE__, "add %zu: %s", i, err.msg);
    }
    CHECK_EQ(tbl_writer_entries(w), m->n);
    CHECK(tbl_writer_estimated_size(w) > 0);
    int rc = tbl_writer_finish(w, FS_SYNC_DATA, meta, &err);
    if (rc)
        check_fail(__FILE__, __LINE__, "finish: %s", err.msg);
}

static int ent_eq_iter(const ent *e, tbl_iter *it)
{
    size_t kn, vn;
    const uint8_t *k = tbl_iter_key(it, &kn);
    const uint8_t *v = tbl_iter_value(it, &vn);
    return kn == e->klen && memcmp(k, e->key, kn) == 0 && tbl_iter_seqno(it) == e->seqno &&
           tbl_iter_type(it) == e->type && vn == e->vlen && (vn == 0 || memcmp(v, e->val, vn) == 0);
}

#define CHECK_AT(it, m, i) do { \
    CHECK(tbl_iter_valid(it)); \
    if (!ent_eq_iter(&(m)->e[i], it)) check_fail(__FILE__, __LINE__, "iterator differs at entry %zu", (size_t)(i)); \
} while (0)

static void check_meta(const tbl_meta *mt, const model *m)
{
    uint64_t tomb = 0, kb = 0, vb = 0, mn = UINT64_MAX, mx = 0;
    for (size_t i = 0; i < m->n; i++) {
        tomb += m->e[i].type == ENTRY_TOMBSTONE || m->e[i].type == ENTRY_SINGLE_DELETE;
        kb += m->e[i].klen;
        vb += m->e[i].vlen;
        mn = m->e[i].seqno < mn ? m->e[i].seqno : mn;
        mx = m->e[i].seqno > mx ? m->e[i].seqno : mx;
    }
    CHECK_EQ(mt->entry_count, m->n);
    CHECK_EQ(mt->tombstone_count, tomb);
    CHECK_EQ(mt->raw_key_bytes, kb);
    CHECK_EQ(mt->raw_value_bytes, vb);
    if (m->n) {
        CHECK(mt->min_seqno == mn);
        CHECK(mt->max_seqno == mx);
        CHECK_MEM(mt->smallest_key.data, mt->smallest_key.len, m->e[0].key, m->e[0].klen);
        CHECK_MEM(mt->largest_key.data, mt->largest_key.len, m->e[m->n - 1].key, m->e[m->n - 1].klen);
        CHECK(mt->data_block_count > 0);
    }
    CHECK(mt->data_bytes > 0);
    CHECK(mt->index_bytes > 0);
    CHECK(mt->file_size > mt->data_bytes + mt->index_bytes + mt->filter_bytes);
}

static void check_full_scan(tbl *t, const model *m)
{
    tbl_iter *it;
    CHECK_OK(tbl_iter_new(t, &it));
    size_t i = 0;
    for (tbl_iter_first(it); tbl_iter_valid(it); tbl_iter_next(it), i++) {
        CHECK(i < m->n);
        CHECK_AT(it, m, i);
    }
    CHECK_OK(tbl_iter_status(it, NULL));
    CHECK_EQ(i, m->n);
    i = m->n;
    for (tbl_iter_last(it); tbl_iter_valid(it); tbl_iter_prev(it)) {
        CHECK(i > 0);
        i--;
        CHECK_AT(it, m, i);
    }
    CHECK_OK(tbl_iter_status(it, NULL));
    CHECK_EQ(i, 0);
    tbl_iter_free(it);
}

/* A query key: an existing key, a neighbour of one, or a random one. */
static void query_key(trng *r, const model *m, uint8_t *buf, size_t *len, size_t *src)
{
    uint64_t c = trng_below(r, 10);
    *src = SIZE_MAX;
    if (m->nkeys && c < 6) {
        size_t k = trng_below(r, m->nkeys);
        *src = k;
        memcpy(buf, m->keys[k], m->key_lens[k]);
        *len = m->key_lens[k];
    } else if (m->nkeys && c < 8) {
        size_t k = trng_below(r, m->nkeys);
        size_t n = m->key_lens[k];
        memcpy(buf, m->keys[k], n);
        if (c == 6 && n < TIND_MAX_KEY_SIZE)
            buf[n++] = (uint8_t)trng_below(r, 3);          /* just after */
        else
            buf[n - 1] = (uint8_t)(buf[n - 1] + (trng_below(r, 2) ? 1 : -1)); /* a neighbour */
        *len = n;
    } else {
        random_key(r, buf, len);
    }
}

static uint64_t query_snapshot(trng *r, const model *m, size_t src)
{
    uint64_t c = trng_below(r, 6);
    if (c == 0)
        return SEQNO_MAX;
    if (c == 1)
        return 0;
    if (c <= 3 && src != SIZE_MAX) {
        size_t i = model_lower(m, m->keys[src], m->key_lens[src], SEQNO_MAX);
        size_t j = i;
        while (j < m->n && m->e[j].key == m->keys[src])
            j++;
        uint64_t s = m->e[i + trng_below(r, j - i)].seqno;
        if (c == 3 && s > 0)
            s--;
        return s;
    }
    return trng_below(r, (1u << 20) + 2);
}

static void check_queries(tbl *t, const model *m, trng *r, int queries)
{
    tbl_iter *it;
    uint8_t *key = malloc(TIND_MAX_KEY_SIZE + 1);
    size_t klen, src;
    tbuf value = TBUF_INIT;
    tind_err err;
    CHECK_OK(tbl_iter_new(t, &it));
    for (int q = 0; q < queries; q++) {
        query_key(r, m, key, &klen, &src);
        uint64_t snap = query_snapshot(r, m, src);
        /* seek + a few next */
        size_t i = model_lower(m, key, klen, snap);
        tbl_iter_seek(it, key, klen, snap);
        for (int s = 0; s < 3; s++, i++) {
            if (i >= m->n) {
                CHECK(!tbl_iter_valid(it));
                CHECK_OK(tbl_iter_status(it, NULL));
                break;
            }
            CHECK_AT(it, m, i);
            tbl_iter_next(it);
        }
        /* seek_for_prev + a few prev */
        size_t u = model_upper(m, key, klen, snap);
        tbl_iter_seek_for_prev(it, key, klen, snap);
        for (int s = 0; s < 3; s++) {
            if (u == 0) {
                CHECK(!tbl_iter_valid(it));
                CHECK_OK(tbl_iter_status(it, NULL));
                break;
            }
            u--;
            CHECK_AT(it, m, u);
            tbl_iter_prev(it);
        }
        /* direction changes after a seek */
        i = model_lower(m, key, klen, snap);
        tbl_iter_seek(it, key, klen, snap);
        if (i < m->n && i > 0) {
            tbl_iter_prev(it);
            CHECK_AT(it, m, i - 1);
            tbl_iter_next(it);
            CHECK_AT(it, m, i);
        }
        /* point read, with and without the filter */
        int found = i < m->n && key_cmp(m->e[i].key, m->e[i].klen, key, klen) == 0;
        for (int uf = 0; uf < 2; uf++) {
            uint8_t type = 99;
            uint64_t seq = 0;
            int rc = tbl_get(t, key, klen, snap, uf, &type, &seq, &value, &err);
            if (found) {
                if (rc != TIND_OK)
                    check_fail(__FILE__, __LINE__, "get: %d (%s) for a present key (q %d, filter %d)", rc,
                               rc == TIND_NOT_FOUND ? "" : err.msg, q, uf);
                CHECK_EQ(type, m->e[i].type);
                CHECK(seq == m->e[i].seqno);
                CHECK_MEM(value.data, value.len, m->e[i].val, m->e[i].vlen);
            } else {
                CHECK_RC(rc, TIND_NOT_FOUND);
            }
        }
        if (found)
            CHECK(tbl_may_contain(t, key, klen));
    }
    tbl_iter_free(it);
    tbuf_free(&value);
    free(key);
}

typedef struct open_mode {
    int block_cache;          /* 0 none, 1 large, 2 tiny (evictions) */
    int fd_cache;
    int pin;
} open_mode;

static void check_table(fs *f, const char *path, const model *m, const open_mode *om, uint64_t id, trng *r,
                        int queries)
{
    cache *bc = om->block_cache == 1 ? cache_new(64u << 20, -1)
              : om->block_cache == 2 ? cache_new(16u << 10, 0) : NULL;
    fd_cache *fds = om->fd_cache ? fdc_new(f, 2) : NULL;
    tbl_open_options oo = {bc, fds, id, om->pin};
    tbl *t;
    tind_err err;
    int rc = tbl_open(f, path, &oo, &t, &err);
    if (rc)
        check_fail(__FILE__, __LINE__, "open: %s", err.msg);
    check_meta(tbl_get_meta(t), m);
    check_full_scan(t, m);
    check_queries(t, m, r, queries);
    rc = tbl_verify(t, &err);
    if (rc)
        check_fail(__FILE__, __LINE__, "verify: %s", err.msg);
    /* an iterator keeps the table alive after the last unref */
    tbl_iter *it;
    CHECK_OK(tbl_iter_new(t, &it));
    tbl_unref(t);
    tbl_iter_last(it);
    CHECK_EQ(tbl_iter_valid(it), m->n > 0);
    if (m->n)
        CHECK_AT(it, m, m->n - 1);
    tbl_iter_free(it);
    if (bc) {
        cache_stats st;
        cache_get_stats(bc, &st);
        CHECK_EQ(st.pinned, 0);
        cache_free(bc);
    }
    if (fds)
        fdc_free(fds);
}

/* ------------------------------------------------------------------ tests */

TEST(matrix)
{
    trng r;
    trng_seed(&r, check_seed);
    static const int comps[] = {COMPRESSION_NONE, COMPRESSION_LZ4, COMPRESSION_ZSTD};
    static const uint32_t bsizes[] = {1024, 4096, 65536};
    int idx = 0;
    for (int c = 0; c < 3; c++)
        for (int hash = 0; hash < 2; hash++)
            for (int part = 0; part < 3; part++)
                for (int ri = 0; ri < 2; ri++)
                    for (int bs = 0; bs < 3; bs++, idx++) {
                        tbl_options o;
                        tbl_options_default(&o);
                        o.compression = comps[c];
                        o.compression_level = c == 2 && idx % 2 ? 5 : 0;
                        o.hash_ratio = hash ? 0.75 : 0;
                        o.partition_index = part >= 1;
                        o.partition_filter = part == 2;
                        o.partition_size = idx % 2 ? 256 : 1024;
                        o.restart_interval = ri ? 16 : 1;
                        o.index_restart_interval = idx % 3 == 0 ? 4 : 1;
                        o.block_size = bsizes[bs];
                        o.bloom_bits_per_key = idx % 7 == 0 && part != 2 ? 0 : 10;
                        gen_opts g = {bs == 0 ? 350 : bs == 1 ? 900 : 8000, 5, idx % 4 == 0 ? 3 : 0, 300, 0};
                        model m;
                        model_gen(&m, &r, &g);
                        fs *f = fs_mem_new();
                        tbl_meta meta;
                        write_model(f, "/t.tbl", &o, &m, &meta);
                        check_meta(&meta, &m);
                        CHECK_EQ(meta.compression, (uint64_t)o.compression);
                        CHECK_EQ(meta.block_size, o.block_size);
                        CHECK_EQ(meta.restart_interval, o.restart_interval);
                        CHECK_EQ(meta.filter_bytes > 0, o.bloom_bits_per_key > 0);
                        if (bs == 0)
                            CHECK(meta.data_block_count >= 8);
                        open_mode om = {idx % 3, (idx / 3) % 2, (idx / 6) % 2};
                        check_table(f, "/t.tbl", &m, &om, (uint64_t)idx + 1, &r, bs == 2 ? 150 : 250);
                        /* the same file under the opposite cache mode */
                        open_mode om2 = {(idx + 1) % 3, !om.fd_cache, !om.pin};
                        check_table(f, "/t.tbl", &m, &om2, (uint64_t)idx + 1000, &r, 60);
                        tbl_meta_free(&meta);
                        model_free(&m);
                        fs_destroy(f);
                    }
}

/* Encode threads (blockpool.h) give the same data blocks, index and
 * filter as the writer's own thread: the data sections are byte-identical
 * and the table reads back whole, over codecs, partitioning and sizes. */
TEST(encode_threads)
{
    trng r;
    trng_seed(&r, check_seed + 7);
    static const int comps[] = {COMPRESSION_NONE, COMPRESSION_LZ4, COMPRESSION_ZSTD};
    for (int idx = 0; idx < 18; idx++) {
        tbl_options o;
        tbl_options_default(&o);
        o.compression = comps[idx % 3];
        o.partition_index = (idx / 3) % 3 >= 1;
        o.partition_filter = (idx / 3) % 3 == 2;
        o.partition_size = idx % 2 ? 256 : 1024;
        o.block_size = idx >= 9 ? 512 : 4096;
        gen_opts g = {idx >= 9 ? 3000 : 6000, 5, idx % 4 == 0 ? 3 : 0, 300, 0};
        model m;
        model_gen(&m, &r, &g);
        fs *f = fs_mem_new();
        tbl_meta serial, threaded;
        write_model(f, "/s.tbl", &o, &m, &serial);
        o.encode_threads = 1 + idx % 3;
        write_model(f, "/t.tbl", &o, &m, &threaded);
        CHECK_EQ(threaded.data_block_count, serial.data_block_count);
        CHECK_EQ(threaded.data_bytes, serial.data_bytes);
        CHECK_EQ(threaded.index_bytes, serial.index_bytes);
        CHECK_EQ(threaded.filter_bytes, serial.filter_bytes);
        CHECK_EQ(threaded.file_size, serial.file_size);
        CHECK(serial.data_block_count >= 8);
        uint8_t *a, *b;
        size_t an, bn;
        CHECK_OK(fs_read_all(f, "/s.tbl", &a, &an, NULL));
        CHECK_OK(fs_read_all(f, "/t.tbl", &b, &bn, NULL));
        CHECK_EQ(an, bn);
        CHECK(serial.data_bytes <= an && memcmp(a, b, (size_t)serial.data_bytes) == 0);
        free(a);
        free(b);
        open_mode om = {idx % 3, idx % 2, (idx / 2) % 2};
        check_table(f, "/t.tbl", &m, &om, (uint64_t)idx + 1, &r, 200);
        tbl_meta_free(&serial);
        tbl_meta_free(&threaded);
        model_free(&m);
        fs_destroy(f);
    }
    /* out of range */
    tbl_options o;
    tbl_options_default(&o);
    o.encode_threads = -1;
    tbl_writer *w;
    tind_err err;
    fs *f = fs_mem_new();
    CHECK_RC(tbl_writer_open(f, "/x.tbl", &o, &w, &err), TIND_EINVAL);
    o.encode_threads = 1000;
    CHECK_RC(tbl_writer_open(f, "/x.tbl", &o, &w, &err), TIND_EINVAL);
    fs_destroy(f);
}

TEST(big_values)
{
    trng r;
    trng_seed(&r, check_seed + 1);
    for (int cc = 0; cc < 6; cc++) {
        int c = cc % 3;
        tbl_options o;
        tbl_options_default(&o);
        o.compression = c;
        o.partition_index = c == 2;
        o.partition_filter = c == 2;
        o.partition_size = 512;
        o.encode_threads = cc >= 3 ? 2 : 0;   /* then blocks past the pool's in-flight bound */
        gen_opts g = {300, 3, 3, 2000, 2};
        model m;
        model_gen(&m, &r, &g);
        fs *f = fs_mem_new();
        tbl_meta meta;
        write_model(f, "/big.tbl", &o, &m, &meta);
        CHECK(meta.raw_value_bytes >= (4u << 20));
        open_mode om = {c, c == 1, c != 1};
        check_table(f, "/big.tbl", &m, &om, 7, &r, 200);
        tbl_meta_free(&meta);
        model_free(&m);
        fs_destroy(f);
    }
}

TEST(straddle)
{
    /* A few keys with hundreds of versions: they span several 1 KiB blocks and
     * 128-byte index partitions, so their versions straddle partitions and
     * each straddling key must be in both filters. */
    for (int variant = 0; variant < 4; variant++) {
        model m;
        memset(&m, 0, sizeof m);
        pool_init();
        const size_t nkeys = 6, versions = 300;
        m.keys = calloc(nkeys, sizeof *m.keys);
        m.key_lens = calloc(nkeys, sizeof *m.key_lens);
        m.e = calloc(nkeys * versions, sizeof *m.e);
        for (size_t k = 0; k < nkeys; k++) {
            m.keys[k] = malloc(8);
            memcpy(m.keys[k], "key-000", 7);
            m.keys[k][7] = (uint8_t)('a' + k);
            m.key_lens[k] = 8;
            m.nkeys++;
            for (size_t v = 0; v < versions; v++) {
                ent *e = &m.e[m.n++];
                e->key = m.keys[k];
                e->klen = 8;
                e->seqno = 10 * (versions - v);
                e->type = v % 17 == 3 ? ENTRY_TOMBSTONE : ENTRY_VALUE;
                e->vlen = e->type == ENTRY_VALUE ? 10 + v % 7 : 0;
                e->val = pool + k * 1000 + v;
            }
        }
        tbl_options o;
        tbl_options_default(&o);
        o.block_size = 1024;
        o.partition_index = variant >= 1;
        o.partition_filter = variant >= 2;
        o.partition_size = 128;
        o.hash_ratio = variant == 3 ? 0.75 : 0;
        o.restart_interval = variant == 3 ? 1 : 16;
        fs *f = fs_mem_new();
        tbl_meta meta;
        write_model(f, "/s.tbl", &o, &m, &meta);
        tbl_meta_free(&meta);
        tbl *t;
        tind_err err;
        tbl_open_options oo = {NULL, NULL, 3, 1};
        CHECK_OK(tbl_open(f, "/s.tbl", &oo, &t, &err));
        tbuf val = TBUF_INIT;
        for (size_t k = 0; k < nkeys; k++) {
            for (uint64_t snap = 0; snap <= 10 * versions + 5; snap++) {
                size_t i = model_lower(&m, m.keys[k], 8, snap);
                int found = i < m.n && m.e[i].key == m.keys[k];
                uint8_t type;
                uint64_t seq;
                int rc = tbl_get(t, m.keys[k], 8, snap, 1, &type, &seq, &val, &err);
                if (found) {
                    CHECK_OK(rc);
                    CHECK(seq == m.e[i].seqno);
                    CHECK_EQ(type, m.e[i].type);
                    CHECK_MEM(val.data, val.len, m.e[i].val, m.e[i].vlen);
                } else {
                    CHECK_RC(rc, TIND_NOT_FOUND);
                }
            }
        }
        tbuf_free(&val);
        trng r;
        trng_seed(&r, check_seed + 2);
        check_full_scan(t, &m);
        check_queries(t, &m, &r, 300);
        CHECK_OK(tbl_verify(t, &err));
        tbl_unref(t);
        model_free(&m);
        fs_destroy(f);
    }
}

TEST(bloom)
{
    trng r;
    trng_seed(&r, check_seed + 3);
    /* 0-2: blocked filters (10 bits per key; 2: none), whole and partitioned;
     * 3-4: standard ones (16 bits per key), whole and partitioned; 5-6: as 1
     * and 4 with a block cache, so that point reads go through the filter
     * partitions the table pins (the pinned filter's line, probed after the
     * index search) */
    for (int variant = 0; variant < 7; variant++) {
        const size_t n = 10000;
        model m;
        memset(&m, 0, sizeof m);
        m.keys = calloc(n, sizeof *m.keys);
        m.key_lens = calloc(n, sizeof *m.key_lens);
        m.e = calloc(n, sizeof *m.e);
        for (size_t i = 0; i < n; i++) {
            m.keys[i] = malloc(12);
            snprintf((char *)m.keys[i], 12, "k%010zu", i * 2);
            m.key_lens[i] = 11;
            m.e[i] = (ent){m.keys[i], 11, 5, ENTRY_VALUE, (const uint8_t *)"v", 1};
        }
        m.n = m.nkeys = n;
        tbl_options o;
        tbl_options_default(&o);
        o.partition_index = variant != 0 && variant != 3;
        o.partition_filter = o.partition_index;
        o.bloom_bits_per_key = variant == 2 ? 0 : variant == 3 || variant == 4 || variant == 6 ? 16 : 10;
        fs *f = fs_mem_new();
        tbl_meta meta;
        write_model(f, "/b.tbl", &o, &m, &meta);
        /* blocked filters make format 4; standard ones, or none, format 2 */
        CHECK_EQ(meta.format_version, o.bloom_bits_per_key == 10 ? 4 : 2);
        tbl_meta_free(&meta);
        tbl *t;
        cache *bc = variant >= 5 ? cache_new(64 << 20, 0) : NULL;
        tbl_open_options oo = {bc, NULL, 4, 1};
        CHECK_OK(tbl_open(f, "/b.tbl", &oo, &t, NULL));
        if (bc) { /* gets through the filter: twice, the second time through the pins */
            for (int pass = 0; pass < 2; pass++) {
                size_t found = 0, tried = 2000;
                tbuf v = TBUF_INIT;
                uint8_t type;
                uint64_t seq;
                for (size_t i = 0; i < tried; i++) {
                    char k[16];
                    snprintf(k, sizeof k, "k%010zu", i);
                    int rc = tbl_get(t, (const uint8_t *)k, 11, SEQNO_MAX, TBL_GET_FILTER, &type, &seq, &v, NULL);
                    CHECK(rc == (i % 2 ? TIND_NOT_FOUND : TIND_OK));
                    found += rc == TIND_OK;
                }
                CHECK_EQ(found, tried / 2);
                tbuf_free(&v);
            }
            cache_stats cs;
            cache_get_stats(bc, &cs);
            CHECK(cs.pin_granted > 0); /* partitions held by the table */
        }
        for (size_t i = 0; i < n; i++)
            CHECK(tbl_may_contain(t, m.keys[i], 11));
        size_t fp = 0, probes = 20000;
        for (size_t i = 0; i < probes; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%010zu", i * 2 + 1); /* absent, between present keys */
            fp += (size_t)tbl_may_contain(t, (const uint8_t *)k, 11);
        }
        if (variant == 2)
            CHECK_EQ(fp, probes);
        else if (fp * 100 > probes * 3)
            check_fail(__FILE__, __LINE__, "false-positive rate %zu/%zu above 3%%", fp, probes);
        /* absent keys: get through the filter never finds them */
        tbuf v = TBUF_INIT;
        uint8_t type;
        uint64_t seq;
        CHECK_RC(tbl_get(t, (const uint8_t *)"k0000000001", 11, SEQNO_MAX, 1, &type, &seq, &v, NULL),
                 TIND_NOT_FOUND);
        CHECK_OK(tbl_get(t, (const uint8_t *)"k0000000002", 11, SEQNO_MAX, 1, &type, &seq, &v, NULL));
        CHECK_MEM(v.data, v.len, "v", 1);
        CHECK_RC(tbl_get(t, (const uint8_t *)"k0000000002", 11, 4, 1, &type, &seq, &v, NULL), TIND_NOT_FOUND);
        tbuf_free(&v);
        tbl_unref(t);
        if (bc)
            cache_free(bc);
        model_free(&m);
        fs_destroy(f);
    }
}

TEST(empty_table)
{
    fs *f = fs_mem_new();
    for (int part = 0; part < 2; part++) {
        tbl_options o;
        tbl_options_default(&o);
        o.partition_index = part;
        o.partition_filter = part;
        tbl_writer *w;
        tbl_meta meta;
        const char *path = part ? "/e1.tbl" : "/e0.tbl";
        CHECK_OK(tbl_writer_open(f, path, &o, &w, NULL));
        CHECK_OK(tbl_writer_finish(w, 0, &meta, NULL));
        CHECK_EQ(meta.entry_count, 0);
        CHECK_EQ(meta.data_block_count, 0);
        tbl_meta_free(&meta);
        tbl *t;
        tind_err err;
        int rc = tbl_open(f, path, NULL, &t, &err);
        if (rc)
            check_fail(__FILE__, __LINE__, "open: %s", err.msg);
        model m;
        memset(&m, 0, sizeof m);
        check_full_scan(t, &m);
        trng r;
        trng_seed(&r, 1);
        check_queries(t, &m, &r, 20);
        CHECK_OK(tbl_verify(t, NULL));
        tbl_unref(t);
    }
    fs_destroy(f);
}

TEST(writer_validation)
{
    fs *f = fs_mem_new();
    tbl_writer *w;
    tind_err err;
    tbl_options o;
    tbl_options_default(&o);
    o.partition_filter = 1; /* without partition_index */
    CHECK_RC(tbl_writer_open(f, "/v.tbl", &o, &w, &err), TIND_EINVAL);
    tbl_options_default(&o);
    o.compression = 9;
    CHECK_RC(tbl_writer_open(f, "/v.tbl", &o, &w, &err), TIND_EINVAL);
    tbl_options_default(&o);
    o.block_size = 0;
    CHECK_RC(tbl_writer_open(f, "/v.tbl", &o, &w, &err), TIND_EINVAL);
    CHECK_RC(fs_exists(f, "/v.tbl", NULL), TIND_ENOENT);

    CHECK_OK(tbl_writer_open(f, "/v.tbl", NULL, &w, &err));
    uint8_t *big = calloc(1, TIND_MAX_KEY_SIZE + 1);
    big[0] = 'b';
    CHECK_RC(tbl_writer_add(w, big, 0, 1, ENTRY_VALUE, NULL, 0, &err), TIND_EINVAL);
    CHECK_RC(tbl_writer_add(w, big, TIND_MAX_KEY_SIZE + 1, 1, ENTRY_VALUE, NULL, 0, &err), TIND_EINVAL);
    CHECK_RC(tbl_writer_add(w, (const uint8_t *)"a", 1, SEQNO_MAX + 1, ENTRY_VALUE, NULL, 0, &err), TIND_EINVAL);
    CHECK_RC(tbl_writer_add(w, (const uint8_t *)"a", 1, 1, ENTRY_TYPE_MAX + 1, NULL, 0, &err), TIND_EINVAL);
    CHECK_OK(tbl_writer_add(w, (const uint8_t *)"b", 1, 5, ENTRY_VALUE, (const uint8_t *)"x", 1, &err));
    CHECK_RC(tbl_writer_add(w, (const uint8_t *)"b", 1, 5, ENTRY_VALUE, NULL, 0, &err), TIND_EINVAL);
    CHECK_RC(tbl_writer_add(w, (const uint8_t *)"b", 1, 6, ENTRY_VALUE, NULL, 0, &err), TIND_EINVAL);
    CHECK_RC(tbl_writer_add(w, (const uint8_t *)"a", 1, 1, ENTRY_VALUE, NULL, 0, &err), TIND_EINVAL);
    CHECK(strstr(err.msg, "order") != NULL);
    /* the writer stays usable after rejected entries */
    CHECK_OK(tbl_writer_add(w, (const uint8_t *)"b", 1, 4, ENTRY_TOMBSTONE, NULL, 0, &err));
    CHECK_OK(tbl_writer_add(w, big, TIND_MAX_KEY_SIZE, 0, ENTRY_VALUE, NULL, 0, &err));
    CHECK_EQ(tbl_writer_entries(w), 3);
    tbl_meta meta;
    CHECK_OK(tbl_writer_finish(w, FS_SYNC_ALL, &meta, &err));
    CHECK_EQ(meta.entry_count, 3);
    CHECK_EQ(meta.tombstone_count, 1);
    CHECK_EQ(meta.min_seqno, 0);
    CHECK_EQ(meta.max_seqno, 5);
    CHECK_EQ(meta.largest_key.len, TIND_MAX_KEY_SIZE);
    tbl_meta_free(&meta);
    free(big);

    /* an existing path: EEXIST, and the file survives */
    CHECK_RC(tbl_writer_open(f, "/v.tbl", NULL, &w, &err), TIND_EEXIST);
    tbl *t;
    CHECK_OK(tbl_open(f, "/v.tbl", NULL, &t, &err));
    CHECK_OK(tbl_verify(t, &err));
    tbl_unref(t);

    /* abandon deletes the partial file */
    CHECK_OK(tbl_writer_open(f, "/a.tbl", NULL, &w, &err));
    for (int i = 0; i < 5000; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%08d", i);
        CHECK_OK(tbl_writer_add(w, (const uint8_t *)k, 9, 1, ENTRY_VALUE, (const uint8_t *)k, 9, &err));
    }
    CHECK(tbl_writer_estimated_size(w) > 4096);
    tbl_writer_abandon(w);
    CHECK_RC(fs_exists(f, "/a.tbl", NULL), TIND_ENOENT);
    fs_destroy(f);
}

/* Writes a table with a fault armed on the nth write / sync: the failure
 * reaches the caller, nothing leaks, no partial file stays. */
TEST(write_faults)
{
    fs *mem = fs_mem_new();
    fs *f = fs_fault_new(mem, 1);
    static const int kinds[] = {FS_CALL_WRITE, FS_CALL_SYNC, FS_CALL_CLOSE};
    for (int kk = 0; kk < 6; kk++) {
        for (uint64_t nth = 1;; nth++) {
            tbl_options o;
            tbl_options_default(&o);
            o.block_size = 512;
            o.partition_index = 1;
            o.partition_filter = 1;
            o.encode_threads = kk >= 3 ? 2 : 0;   /* the blocks encoded in line, then on threads */
            tbl_writer *w;
            tind_err err;
            CHECK_OK(tbl_writer_open(f, "/f.tbl", &o, &w, &err));
            fs_fault_arm(f, kinds[kk % 3], nth, FS_FAULT_ERRNO, 5 /* EIO */, 0, NULL);
            int rc = TIND_OK;
            for (int i = 0; i < 30000 && rc == TIND_OK; i++) {
                char k[16];
                snprintf(k, sizeof k, "k%08d", i);
                rc = tbl_writer_add(w, (const uint8_t *)k, 9, 1, ENTRY_VALUE, (const uint8_t *)k, 9, &err);
            }
            int injected = fs_fault_injected(f) > 0;
            if (rc == TIND_OK) {
                rc = tbl_writer_finish(w, FS_SYNC_DATA, NULL, &err);
            } else {
                CHECK(injected);
                tbl_writer_abandon(w);
            }
            injected = fs_fault_injected(f) > 0;
            fs_fault_disarm(f);
            fs_fault_reset_counts(f);
            if (!injected) {
                CHECK_OK(rc);
                tbl *t;
                CHECK_OK(tbl_open(f, "/f.tbl", NULL, &t, &err));
                CHECK_OK(tbl_verify(t, &err));
                tbl_unref(t);
                CHECK_OK(fs_unlink(f, "/f.tbl", NULL));
                break;
            }
            CHECK(rc != TIND_OK);
            CHECK_RC(fs_exists(f, "/f.tbl", NULL), TIND_ENOENT);
            if (kinds[kk % 3] == FS_CALL_WRITE)
                nth += nth / 4; /* the write sweep is long: thin it out */
        }
    }
    fs_destroy(f);
}

/* Reads fail or return flipped bits: the reader reports, never crashes, never
 * returns wrong data. */
TEST(read_faults)
{
    fs *mem = fs_mem_new();
    fs *f = fs_fault_new(mem, 1);
    trng r;
    trng_seed(&r, check_seed + 4);
    gen_opts g = {300, 3, 0, 100, 0};
    model m;
    model_gen(&m, &r, &g);
    tbl_options o;
    tbl_options_default(&o);
    o.block_size = 512;
    o.partition_index = 1;
    o.partition_filter = 1;
    tbl_meta meta;
    write_model(f, "/r.tbl", &o, &m, &meta);
    tbl_meta_free(&meta);
    for (int effect = 0; effect < 3; effect++) {
        for (uint64_t nth = 1; nth < 60; nth++) {
            static const int effects[] = {FS_FAULT_ERRNO, FS_FAULT_SHORT_READ, FS_FAULT_BIT_FLIP};
            tbl *t;
            tind_err err;
            fs_fault_arm(f, FS_CALL_READ, nth, effects[effect], 5, 0, NULL);
            int rc = tbl_open(f, "/r.tbl", NULL, &t, &err);
            if (rc == TIND_OK) {
                tbl_iter *it;
                CHECK_OK(tbl_iter_new(t, &it));
                size_t i = 0;
                for (tbl_iter_first(it); tbl_iter_valid(it); tbl_iter_next(it), i++)
                    CHECK_AT(it, &m, i);
                rc = tbl_iter_status(it, &err);
                if (rc == TIND_OK)
                    CHECK_EQ(i, m.n);
                else
                    CHECK(rc == TIND_EIO || rc == TIND_ECORRUPT);
                tbl_iter_free(it);
                tbl_unref(t);
            } else {
                CHECK(rc == TIND_EIO || rc == TIND_ECORRUPT);
            }
            fs_fault_disarm(f);
        }
    }
    model_free(&m);
    fs_destroy(f);
}

/* Builds the small tables of the corruption sweep. */
static void small_table(fs *f, const char *path, int partitioned, int comp, model *m, trng *r)
{
    gen_opts g = {45, 4, 0, 60, 0};
    model_gen(m, r, &g);
    tbl_options o;
    tbl_options_default(&o);
    o.block_size = 256;
    o.restart_interval = 4;
    o.compression = comp;
    o.partition_index = partitioned;
    o.partition_filter = partitioned;
    o.partition_size = 64;
    tbl_meta meta;
    write_model(f, path, &o, m, &meta);
    CHECK(meta.data_block_count >= 4);
    tbl_meta_free(&meta);
}

static void put_file(fs *f, const char *path, const uint8_t *data, size_t n)
{
    fs_file *file;
    CHECK_OK(fs_open(f, path, FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &file, NULL));
    if (n)
        CHECK_OK(fs_write(file, data, n, 0, NULL));
    CHECK_OK(fs_close(file, NULL));
}

/* Every read of a (possibly corrupt) table: returns 1 when some read
 * reported TIND_ECORRUPT; fails the test on wrong data or another error. */
static int read_everything(tbl *t, const model *m, size_t off)
{
    int corrupt = 0, rc;
    tind_err err;
    tbl_iter *it;
    CHECK_OK(tbl_iter_new(t, &it));
    size_t i = 0;
    for (tbl_iter_first(it); tbl_iter_valid(it); tbl_iter_next(it), i++) {
        if (i >= m->n || !ent_eq_iter(&m->e[i], it))
            check_fail(__FILE__, __LINE__, "flip at %zu: wrong data forward at %zu", off, i);
    }
    rc = tbl_iter_status(it, &err);
    if (rc == TIND_OK && i != m->n)
        check_fail(__FILE__, __LINE__, "flip at %zu: silent short forward scan (%zu of %zu)", off, i, m->n);
    if (rc != TIND_OK) {
        CHECK_RC(rc, TIND_ECORRUPT);
        CHECK(strstr(err.msg, "table 9 '") != NULL);
        corrupt = 1;
    }
    i = m->n;
    for (tbl_iter_last(it); tbl_iter_valid(it); tbl_iter_prev(it)) {
        if (i == 0 || !ent_eq_iter(&m->e[--i], it))
            check_fail(__FILE__, __LINE__, "flip at %zu: wrong data backward at %zu", off, i);
    }
    rc = tbl_iter_status(it, NULL);
    if (rc == TIND_OK && i != 0)
        check_fail(__FILE__, __LINE__, "flip at %zu: silent short backward scan", off);
    if (rc != TIND_OK) {
        CHECK_RC(rc, TIND_ECORRUPT);
        corrupt = 1;
    }
    tbl_iter_free(it);
    tbuf v = TBUF_INIT;
    for (size_t j = 0; j < m->n; j++) {
        const ent *e = &m->e[j];
        for (int uf = 0; uf < 2; uf++) {
            uint8_t type;
            uint64_t seq;
            rc = tbl_get(t, e->key, e->klen, e->seqno, uf, &type, &seq, &v, &err);
            if (rc == TIND_ECORRUPT) {
                corrupt = 1;
                continue;
            }
            if (rc != TIND_OK || seq != e->seqno || type != e->type || v.len != e->vlen ||
                (v.len && memcmp(v.data, e->val, v.len)))
                check_fail(__FILE__, __LINE__, "flip at %zu: get of entry %zu: rc %d", off, j, rc);
        }
    }
    tbuf_free(&v);
    rc = tbl_verify(t, &err);
    if (rc != TIND_OK) {
        CHECK_RC(rc, TIND_ECORRUPT);
        corrupt = 1;
    }
    return corrupt;
}

TEST(corruption_sweep)
{
    trng r;
    trng_seed(&r, check_seed + 5);
    for (int variant = 0; variant < 3; variant++) {
        fs *f = fs_mem_new();
        model m;
        small_table(f, "/orig.tbl", variant >= 1, variant == 2 ? COMPRESSION_LZ4 : COMPRESSION_NONE, &m, &r);
        uint8_t *orig, *copy;
        size_t n;
        CHECK_OK(fs_read_all(f, "/orig.tbl", &orig, &n, NULL));
        copy = malloc(n);
        size_t opened = 0;
        for (size_t off = 0; off < n; off++) {
            memcpy(copy, orig, n);
            copy[off] ^= (uint8_t)(1 + trng_below(&r, 255));
            put_file(f, "/c.tbl", copy, n);
            cache *bc = off % 2 ? cache_new(1u << 20, 0) : NULL;
            tbl_open_options oo = {bc, NULL, 9, (int)(off % 4 < 2)};
            tbl *t;
            tind_err err;
            int rc = tbl_open(f, "/c.tbl", &oo, &t, &err);
            if (rc != TIND_OK) {
                if (rc != TIND_ECORRUPT)
                    check_fail(__FILE__, __LINE__, "flip at %zu: open: %d %s", off, rc, err.msg);
                CHECK(strstr(err.msg, "table 9") != NULL);
            } else {
                opened++;
                if (!read_everything(t, &m, off))
                    check_fail(__FILE__, __LINE__, "flip at %zu of %zu went unnoticed", off, n);
                tbl_unref(t);
            }
            if (bc)
                cache_free(bc);
        }
        CHECK(opened > n / 4); /* most flips land in blocks read after open */
        free(copy);
        free(orig);
        model_free(&m);
        fs_destroy(f);
    }
}

TEST(truncation)
{
    trng r;
    trng_seed(&r, check_seed + 6);
    fs *f = fs_mem_new();
    model m;
    small_table(f, "/orig.tbl", 1, COMPRESSION_NONE, &m, &r);
    uint8_t *orig;
    size_t n;
    CHECK_OK(fs_read_all(f, "/orig.tbl", &orig, &n, NULL));
    size_t lens[] = {0, 1, 17, 55, 56, 57, n / 3, n / 2, n - 57, n - 56, n - 55, n - 8, n - 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        put_file(f, "/t.tbl", orig, lens[i]);
        tbl *t;
        tind_err err;
        CHECK_RC(tbl_open(f, "/t.tbl", NULL, &t, &err), TIND_ECORRUPT);
    }
    /* extra bytes after the trailer are corruption too */
    uint8_t *ext = malloc(n + 10);
    memcpy(ext, orig, n);
    memset(ext + n, 0, 10);
    put_file(f, "/t.tbl", ext, n + 10);
    tbl *t;
    CHECK_RC(tbl_open(f, "/t.tbl", NULL, &t, NULL), TIND_ECORRUPT);
    free(ext);
    free(orig);
    model_free(&m);
    fs_destroy(f);
}

TEST(newer_version)
{
    trng r;
    trng_seed(&r, check_seed + 7);
    fs *f = fs_mem_new();
    model m;
    small_table(f, "/orig.tbl", 0, COMPRESSION_NONE, &m, &r);
    uint8_t *d;
    size_t n;
    CHECK_OK(fs_read_all(f, "/orig.tbl", &d, &n, NULL));
    uint8_t *tr = d + n - 56;
    CHECK_EQ(dec_u32(tr + 32), TABLE_FORMAT_VERSION); /* blocked filters: written as format 4, the newest */
    enc_u32(tr + 32, TABLE_FORMAT_VERSION + 1);
    enc_u64(tr + 40, hash64(tr, 40));
    put_file(f, "/new.tbl", d, n);
    tbl *t;
    tind_err err;
    CHECK_RC(tbl_open(f, "/new.tbl", NULL, &t, &err), TIND_EVERSION);
    /* a flipped version byte without the checksum fix is corruption */
    enc_u32(tr + 32, TABLE_FORMAT_VERSION + 1);
    enc_u64(tr + 40, hash64(tr, 40) ^ 1);
    put_file(f, "/new.tbl", d, n);
    CHECK_RC(tbl_open(f, "/new.tbl", NULL, &t, &err), TIND_ECORRUPT);
    free(d);
    model_free(&m);
    fs_destroy(f);
}

TEST(posix_and_messages)
{
    char *dir = check_tmpdir("table");
    char path[4200];
    snprintf(path, sizeof path, "%s/00000042.tbl", dir);
    fs *f = fs_posix_new();
    trng r;
    trng_seed(&r, check_seed + 8);
    gen_opts g = {2000, 3, 1, 200, 0};
    model m;
    model_gen(&m, &r, &g);
    tbl_options o;
    tbl_options_default(&o);
    o.compression = COMPRESSION_ZSTD;
    o.partition_index = 1;
    o.partition_filter = 1;
    tbl_meta meta;
    write_model(f, path, &o, &m, &meta);
    open_mode om = {1, 1, 0};
    check_table(f, path, &m, &om, 42, &r, 300);

    /* corrupt one byte in the middle of the data section: the message names
     * the table, its path and the block offset */
    uint8_t *d;
    size_t n;
    CHECK_OK(fs_read_all(f, path, &d, &n, NULL));
    d[meta.data_bytes / 2] ^= 0x40;
    CHECK_OK(fs_unlink(f, path, NULL));
    put_file(f, path, d, n);
    tbl *t;
    tind_err err;
    CHECK_OK(tbl_open(f, path, NULL, &t, &err));
    CHECK_RC(tbl_verify(t, &err), TIND_ECORRUPT);
    char want[4300];
    snprintf(want, sizeof want, "table 0 '%s': block at offset ", path);
    if (!strstr(err.msg, want))
        check_fail(__FILE__, __LINE__, "message: %s", err.msg);
    CHECK(strstr(err.msg, "checksum") != NULL);
    tbl_iter *it;
    CHECK_OK(tbl_iter_new(t, &it));
    for (tbl_iter_first(it); tbl_iter_valid(it); tbl_iter_next(it))
        ;
    CHECK_RC(tbl_iter_status(it, &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, want) != NULL);
    tbl_iter_free(it);
    tbl_unref(t);
    /* a missing file */
    CHECK_OK(fs_unlink(f, path, NULL));
    CHECK_RC(tbl_open(f, path, NULL, &t, &err), TIND_ENOENT);
    free(d);
    tbl_meta_free(&meta);
    model_free(&m);
    fs_destroy(f);
    check_rmtree(dir);
    free(dir);
}

typedef struct reader_arg {
    tbl *t;
    const model *m;
    uint64_t seed;
    int failures;
} reader_arg;

static void *reader_main(void *p)
{
    reader_arg *a = p;
    trng r;
    trng_seed(&r, a->seed);
    tbuf v = TBUF_INIT;
    tbl_iter *it;
    if (tbl_iter_new(a->t, &it)) {
        a->failures++;
        return NULL;
    }
    for (int q = 0; q < 400; q++) {
        const ent *e = &a->m->e[trng_below(&r, a->m->n)];
        uint8_t type;
        uint64_t seq;
        if (tbl_get(a->t, e->key, e->klen, e->seqno, 1, &type, &seq, &v, NULL) != TIND_OK || seq != e->seqno ||
            v.len != e->vlen || (v.len && memcmp(v.data, e->val, v.len)))
            a->failures++;
        tbl_iter_seek(it, e->key, e->klen, e->seqno);
        if (!tbl_iter_valid(it) || !ent_eq_iter(e, it))
            a->failures++;
        if (q % 100 == 0) {
            size_t i = 0;
            for (tbl_iter_first(it); tbl_iter_valid(it); tbl_iter_next(it))
                i++;
            if (i != a->m->n)
                a->failures++;
        }
    }
    tbl_iter_free(it);
    tbuf_free(&v);
    return NULL;
}

TEST(concurrent_readers)
{
    trng r;
    trng_seed(&r, check_seed + 9);
    gen_opts g = {1500, 3, 0, 100, 0};
    model m;
    model_gen(&m, &r, &g);
    fs *f = fs_mem_new();
    for (int variant = 0; variant < 2; variant++) {
        tbl_options o;
        tbl_options_default(&o);
        o.partition_index = variant;
        o.partition_filter = variant;
        o.partition_size = 512;
        const char *path = variant ? "/c1.tbl" : "/c0.tbl";
        tbl_meta meta;
        write_model(f, path, &o, &m, &meta);
        tbl_meta_free(&meta);
        cache *bc = cache_new(32u << 10, 2); /* small: constant eviction */
        fd_cache *fds = fdc_new(f, 1);
        tbl_open_options oo = {bc, fds, 11, variant};
        tbl *t;
        CHECK_OK(tbl_open(f, path, &oo, &t, NULL));
        pthread_t th[4];
        reader_arg args[4];
        for (int i = 0; i < 4; i++) {
            args[i] = (reader_arg){t, &m, check_seed + 100 + (uint64_t)i, 0};
            tbl_ref(t);
            CHECK(pthread_create(&th[i], NULL, reader_main, &args[i]) == 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            CHECK_EQ(args[i].failures, 0);
            tbl_unref(t);
        }
        tbl_unref(t);
        cache_free(bc);
        fdc_free(fds);
    }
    model_free(&m);
    fs_destroy(f);
}

/* Index partitions a point read loads stay pinned by the table within the
 * cache's pin budget (an eighth of the capacity): a second pass of reads
 * looks up only data blocks; closing the table gives every pin back. */
TEST(partition_pins)
{
    trng r;
    trng_seed(&r, check_seed + 12);
    gen_opts g = {3000, 1, 0, 40, 0};
    model m;
    model_gen(&m, &r, &g);
    fs *f = fs_mem_new();
    tbl_options o;
    tbl_options_default(&o);
    o.partition_index = 1;
    o.partition_size = 256;
    tbl_meta meta;
    write_model(f, "/p.tbl", &o, &m, &meta);
    tbl_meta_free(&meta);
    for (int small = 0; small < 2; small++) {
        size_t cap = small ? 8u << 10 : 4u << 20;
        cache *bc = cache_new(cap, 0);
        tbl_open_options oo = {bc, NULL, 12, 0};
        tbl *t;
        CHECK_OK(tbl_open(f, "/p.tbl", &oo, &t, NULL));
        tbuf value = TBUF_INIT;
        cache_stats before, after;
        for (int pass = 0; pass < 2; pass++) {
            cache_get_stats(bc, &before);
            for (size_t k = 0; k < m.nkeys; k++) {
                uint8_t type;
                uint64_t seq;
                CHECK_OK(tbl_get(t, m.keys[k], m.key_lens[k], SEQNO_MAX, 0, &type, &seq, &value, NULL));
            }
            cache_get_stats(bc, &after);
            CHECK(after.pin_granted <= cap / CACHE_PIN_SHARE);
            CHECK(after.pinned >= after.pin_granted);
        }
        uint64_t lookups = after.hits + after.misses - before.hits - before.misses;
        if (small) {
            CHECK(lookups > m.nkeys); /* few partitions fit the budget */
        } else {
            CHECK(after.pin_granted > 0);
            CHECK_EQ(lookups, m.nkeys); /* every partition pinned: the data block only */
        }
        tbuf_free(&value);
        tbl_unref(t);
        cache_get_stats(bc, &after);
        CHECK_EQ(after.pin_granted, 0);
        CHECK_EQ(after.pinned, 0);
        cache_free(bc);
    }
    model_free(&m);
    fs_destroy(f);
}

int main(void)
{
    check_seed_init(0x7ab1e5eed);
    RUN(writer_validation);
    RUN(empty_table);
    RUN(matrix);
    RUN(encode_threads);
    RUN(big_values);
    RUN(straddle);
    RUN(bloom);
    RUN(corruption_sweep);
    RUN(truncation);
    RUN(newer_version);
    RUN(write_faults);
    RUN(read_faults);
    RUN(posix_and_messages);
    RUN(concurrent_readers);
    RUN(partition_pins);
    free(pool);
    return 0;
}
