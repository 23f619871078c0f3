/*
 * test_db_model.c -- the model-based randomized test (TESTING.md item 2).
 *
 * Random put / remove / batch (every fifth one, when its keys are distinct,
 * committed as a transaction that reads each write back first) / get /
 * iterate both ways / seek / snapshot /
 * flush / compaction / background steps / persist / clean reopen / simulated
 * power loss then reopen, across several keyspaces with tiny memtables and
 * tables (so flushes and compactions happen constantly), checked against a
 * plain in-memory model that keeps every version of every key.
 *
 * After a simulated crash the recovered database must equal the model cut at
 * some batch boundary s with synced <= s <= last written: nothing
 * acknowledged as synced is lost, no batch is half applied, no holes.
 *
 * Two passes. Threads off: the database runs on the in-memory file system
 * with no background threads; background work happens at the "bg" op, so a
 * seed replays exactly. Threads on (the default configuration, 2 workers):
 * flushes and compactions run in the background while the model checks; the
 * model must stay exact (background work never changes what a read returns),
 * "bg" also steps the job queue from the test thread, racing the workers, and
 * a simulated power loss first pauses the workers and waits for their
 * running jobs (a process that lost power writes nothing more). The
 * interleaving of that pass does not replay from the seed; the op sequence does.
 * On failure: the seed (TIND_SEED=..., TIND_THREADS=0/1 picks the pass) and
 * the last operations are printed.
 * TIND_TEST_SCALE scales the number of operations (default: 1,000,000 with
 * threads off and 150,000 with threads on). One more seed of each pass runs
 * on an encrypted database (TIND_ENCRYPT=1: every seed, with TIND_SEED too).
 */
#include <stdarg.h>

#include "check.h"
#include "db/db.h"
#include "tind_internal.h"
#include "io/fs.h"
#include "util/rand.h"

#define NKS 3
#define UNIVERSE 400
#define MAX_SNAPS 6

/* ------------------------------------------------------------------ model */

typedef struct mver {
    uint64_t seq;
    int tomb;         /* 1 remove, 2 single delete (reads the same) */
    int merge;        /* an append operand (issue 13) */
    uint8_t *val;
    size_t vlen;
} mver;

typedef struct mkey {
    uint8_t key[64];
    size_t klen;
    mver *v;          /* oldest first */
    size_t nv, cap;
} mkey;

typedef struct mks {
    mkey keys[UNIVERSE];   /* index = key id; sorted because ids map monotonically */
} mks;

static mks model[NKS];
static uint64_t model_seq, model_synced;
static uint64_t stat_crashes, stat_reopens, stat_iters, stat_gets, stat_writes, stat_bg, stat_txns;
static uint64_t stat_prefix_skips;   /* tables prefix filters let cursors skip */
static uint64_t *boundaries;   /* batch end seqnos since the last crash/reopen */
static size_t nboundaries, capboundaries;

/* key id -> bytes; monotonic in id so the model's order is memcmp order */
static size_t key_of(int id, uint8_t *out)
{
    /* two-level prefixes: "a"/"b"/... groups so prefix scans find something */
    int n = snprintf((char *)out, 64, "%c%03d", 'a' + id / 100, id % 100);
    if (id % 7 == 3) {     /* some longer keys sharing the prefix of another */
        memcpy(out + n, "\x00\xff-long-tail", 12);
        n += 12;
    }
    return (size_t)n;
}

static void model_init(void)
{
    for (int k = 0; k < NKS; k++)
        for (int i = 0; i < UNIVERSE; i++) {
            mkey *m = &model[k].keys[i];
            for (size_t j = 0; j < m->nv; j++)
                free(m->v[j].val);
            free(m->v);
            memset(m, 0, sizeof *m);
            m->klen = key_of(i, m->key);
        }
    model_seq = model_synced = 0;
    nboundaries = 0;
}

static void model_apply(int ks, int id, int tomb, int merge, const uint8_t *val, size_t vlen, uint64_t seq)
{
    mkey *m = &model[ks].keys[id];
    if (m->nv == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 4;
        m->v = realloc(m->v, m->cap * sizeof *m->v);
    }
    mver *v = &m->v[m->nv++];
    v->seq = seq;
    v->tomb = tomb;
    v->merge = merge;
    v->vlen = vlen;
    v->val = malloc(vlen ? vlen : 1);
    if (vlen)
        memcpy(v->val, val, vlen);
}

/* Every keyspace has the built-in append operator, with these separators. */
static const char *merge_sep[NKS] = {"", ",", "|"};
static uint8_t *merged_buf;
static size_t merged_cap;

static void merged_append(size_t *n, const uint8_t *p, size_t len)
{
    if (*n + len > merged_cap) {
        merged_cap = (*n + len) * 2;
        merged_buf = realloc(merged_buf, merged_cap);
    }
    if (len)
        memcpy(merged_buf + *n, p, len);
    *n += len;
}

/* The version a read at seq sees; operands are applied over what lies under
 * them (the result valid until the next call). */
static const mver *model_get(int ks, int id, uint64_t seq)
{
    mkey *m = &model[ks].keys[id];
    size_t j = m->nv;
    while (j > 0 && m->v[j - 1].seq > seq)
        j--;
    if (j == 0 || m->v[j - 1].tomb)
        return NULL;
    if (!m->v[j - 1].merge)
        return &m->v[j - 1];
    size_t from = j - 1;   /* oldest operand of the run */
    while (from > 0 && m->v[from - 1].merge)
        from--;
    int base = from > 0 && !m->v[from - 1].tomb;
    size_t n = 0;
    const char *sep = merge_sep[ks];
    if (base)
        merged_append(&n, m->v[from - 1].val, m->v[from - 1].vlen);
    for (size_t i = from; i < j; i++) {
        if (i > from || base)
            merged_append(&n, (const uint8_t *)sep, strlen(sep));
        merged_append(&n, m->v[i].val, m->v[i].vlen);
    }
    static mver out;
    out.seq = m->v[j - 1].seq;
    out.tomb = out.merge = 0;
    out.val = merged_buf ? merged_buf : (uint8_t *)"";
    out.vlen = n;
    return &out;
}

/* The single delete contract holds for a key at the latest state: exactly
 * one put, and no operand, since its last deletion (or ever). */
static int single_delete_ok(int ks, int id)
{
    mkey *m = &model[ks].keys[id];
    int puts = 0;
    for (size_t j = m->nv; j-- > 0;) {
        if (m->v[j].tomb)
            break;
        if (m->v[j].merge)
            return 0;
        puts++;
    }
    return puts == 1;
}

static void model_truncate(uint64_t s)
{
    for (int k = 0; k < NKS; k++)
        for (int i = 0; i < UNIVERSE; i++) {
            mkey *m = &model[k].keys[i];
            while (m->nv && m->v[m->nv - 1].seq > s)
                free(m->v[--m->nv].val);
        }
    model_seq = s;
    if (model_synced > s)
        model_synced = s;
}

static void add_boundary(uint64_t s)
{
    if (nboundaries == capboundaries) {
        capboundaries = capboundaries ? capboundaries * 2 : 1024;
        boundaries = realloc(boundaries, capboundaries * sizeof *boundaries);
    }
    boundaries[nboundaries++] = s;
}

/* ------------------------------------------------------------------ op log */

#define LOG_LINES 64
static char oplog[LOG_LINES][160];
static uint64_t oplog_n;

static void logop(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(oplog[oplog_n % LOG_LINES], sizeof oplog[0], fmt, ap);
    va_end(ap);
    oplog_n++;
}

static int cur_threads; /* the pass of the failing seed */
static int model_encrypt; /* encryption at rest on (TIND_ENCRYPT=1, or the encrypted seeds) */

static void dump_log(void)
{
    fprintf(stderr, "background threads %s (TIND_THREADS=%d)%s; last operations (of %llu):\n",
            cur_threads ? "on" : "off", cur_threads, model_encrypt ? ", encrypted (TIND_ENCRYPT=1)" : "", (unsigned long long)oplog_n);
    uint64_t from = oplog_n > LOG_LINES ? oplog_n - LOG_LINES : 0;
    for (uint64_t i = from; i < oplog_n; i++)
        fprintf(stderr, "  #%llu %s\n", (unsigned long long)i, oplog[i % LOG_LINES]);
}

/* ------------------------------------------------------------------ the run */

typedef struct world {
    fs *mem;
    tind_db *db;
    tind_keyspace *ks[NKS];
    int threads;              /* background workers on */
    tind_snapshot *snaps[MAX_SNAPS];
    uint64_t snap_seq[MAX_SNAPS];
    int nsnaps;
    trng r;
    uint8_t valbuf[9000];
} world;

static const char *ks_names[NKS] = {"leveled", "tiered \xe2\x9c\x93", "zstd-partitioned"};

static void open_world(world *w)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, w->mem);
    if (w->threads)
        tind_options_set_background_threads(o, 2);
    else
        tind_options_set_no_background(o, 1);
    tind_options_set_cache_size(o, 256 * 1024);
    tind_options_set_write_buffer_size(o, 64 * 1024);
    tind_options_set_journal_file_size(o, 16 * 1024);
    tind_options_set_max_journal_size(o, 64 * 1024);
    tind_options_set_journal_compression_threshold(o, 512);
    if (model_encrypt)
        CHECK_OK(tind_options_set_encryption_key(o, "tind model test: encryption key", 32));
    int rc = tind_open("/db", o, &w->db);
    if (rc)
        fprintf(stderr, "open: %s\n", tind_errmsg(NULL));
    CHECK_OK(rc);
    tind_options_free(o);
    for (int k = 0; k < NKS; k++) {
        tind_ks_options *ko = tind_ks_options_new();
        tind_ks_options_set_memtable_size(ko, 4096);
        tind_ks_options_set_table_size(ko, 4096);
        tind_ks_options_set_l0_threshold(ko, 2);
        tind_ks_options_set_levels(ko, 4);
        tind_ks_options_set_block_size(ko, 512);
        tind_ks_options_set_level_ratio(ko, 3);
        /* key-value separation on with small thresholds and blob files, so
         * that GC and relocation run all the time (issue 11) */
        if (k == 0) {
            tind_ks_options_set_blob_separation(ko, 1, 32);
            tind_ks_options_set_blob_file_size(ko, 4096);
            tind_ks_options_set_blob_gc(ko, 0.25, 0.5);
        }
        if (k == 1) {
            tind_ks_options_set_blob_separation(ko, 1, 48);
            tind_ks_options_set_blob_compression(ko, TIND_COMPRESSION_LZ4, 0);
        }
        tind_ks_options_set_merge_builtin(ko, TIND_MERGE_APPEND, merge_sep[k], strlen(merge_sep[k]));
        if (k == 1) {
            tind_ks_options_set_compaction(ko, TIND_COMPACTION_TIERED);
            tind_ks_options_set_restart_interval(ko, 1);
            tind_ks_options_set_hash_ratio(ko, 0);
        }
        if (k == 2) {
            tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_ZSTD, 3);
            tind_ks_options_set_partitioning(ko, 1);
            tind_ks_options_set_expect_point_read_hits(ko, 1);
            tind_ks_options_set_bloom_bits(ko, 2, 0);
            tind_ks_options_set_prefix_fixed(ko, 4);       /* whole-key scans skip tables */
            tind_ks_options_set_prefix_whole_keys(ko, 0);  /* point reads without filters */
        }
        if (k == 0)
            tind_ks_options_set_prefix_fixed(ko, 2);       /* "a0" scans skip tables */
        CHECK_OK(tind_keyspace_open(w->db, ks_names[k], ko, &w->ks[k]));
        tind_ks_options_free(ko);
    }
}

static void drop_snapshots(world *w)
{
    for (int i = 0; i < w->nsnaps; i++)
        tind_snapshot_free(w->snaps[i]);
    w->nsnaps = 0;
}

static size_t make_value(world *w, int ks, int id, uint64_t seq)
{
    size_t n;
    uint64_t c = trng_below(&w->r, 100);
    n = c < 10 ? 0 : c < 95 ? trng_below(&w->r, 64) : trng_below(&w->r, sizeof w->valbuf);
    for (size_t i = 0; i < n; i++)
        w->valbuf[i] = (uint8_t)(seq * 31 + (uint64_t)id * 7 + (uint64_t)ks + i);
    return n;
}

static void check_get(world *w, int ks, int id, const tind_read_options *ro, uint64_t seq)
{
    stat_gets++;
    uint8_t key[64];
    size_t klen = key_of(id, key);
    void *val = NULL;
    size_t vlen = 0;
    int rc = tind_get(w->ks[ks], key, klen, ro, &val, &vlen);
    const mver *m = model_get(ks, id, seq);
    if (rc != TIND_OK && rc != TIND_NOT_FOUND)
        fprintf(stderr, "get: %s\n", tind_errmsg(w->db));
    if (m) {
        CHECK_OK(rc);
        CHECK_MEM(val, vlen, m->val, m->vlen);
    } else {
        CHECK_RC(rc, TIND_NOT_FOUND);
    }
    /* tind_get_into agrees (issue 15): whole, a short buffer's first bytes, or the size only */
    uint8_t into[sizeof w->valbuf];
    uint64_t pick = (seq + (uint64_t)id) % 3;
    size_t cap = pick == 0 ? sizeof into : pick == 1 ? vlen / 2 : 0, got = 0;
    CHECK_RC(tind_get_into(w->ks[ks], key, klen, ro, into, cap, &got), rc);
    CHECK_EQ(got, rc == TIND_OK ? vlen : 0);
    CHECK_MEM(into, got < cap ? got : cap, val, got < cap ? got : cap);
    free(val);
}

/* Visible (id) list of a keyspace at seq within [lo, hi) (ids; -1 = unbounded). */
static int visible(int ks, uint64_t seq, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen, int *out)
{
    int n = 0;
    for (int i = 0; i < UNIVERSE; i++) {
        mkey *m = &model[ks].keys[i];
        if (lo && key_cmp(m->key, m->klen, lo, lolen) < 0)
            continue;
        if (hi && key_cmp(m->key, m->klen, hi, hilen) >= 0)
            continue;
        if (model_get(ks, i, seq))
            out[n++] = i;
    }
    return n;
}

static void check_pos(world *w, tind_iter *it, int ks, uint64_t seq, const int *vis, int n, int idx)
{
    if (idx < 0 || idx >= n) {
        CHECK_OK(tind_iter_status(it));
        CHECK(!tind_iter_valid(it));
        return;
    }
    if (!tind_iter_valid(it))
        fprintf(stderr, "iterator invalid, status %d: %s\n", tind_iter_status(it), tind_errmsg(w->db));
    CHECK(tind_iter_valid(it));
    size_t kn, vn;
    const void *k = tind_iter_key(it, &kn);
    const void *v = tind_iter_value(it, &vn);
    const mkey *m = &model[ks].keys[vis[idx]];
    CHECK_MEM(k, kn, m->key, m->klen);
    const mver *mv = model_get(ks, vis[idx], seq);
    CHECK_MEM(v, vn, mv->val, mv->vlen);
    CHECK_EQ(tind_iter_value_size(it), mv->vlen);
}

static void check_iter(world *w, int ks, const tind_read_options *ro, uint64_t seq)
{
    stat_iters++;
    static int vis[UNIVERSE];
    uint8_t lo[64], hi[64];
    size_t lolen = 0, hilen = 0;
    tind_iter *it;
    int kind = (int)trng_below(&w->r, 3);
    if (kind == 0) {
        CHECK_OK(tind_iter_range(w->ks[ks], NULL, 0, NULL, 0, ro, &it));
    } else if (kind == 1) {
        lolen = key_of((int)trng_below(&w->r, UNIVERSE), lo);
        hilen = key_of((int)trng_below(&w->r, UNIVERSE), hi);
        if (key_cmp(lo, lolen, hi, hilen) > 0) {
            uint8_t t[64];
            size_t tl = lolen;
            memcpy(t, lo, lolen);
            memcpy(lo, hi, hilen);
            lolen = hilen;
            memcpy(hi, t, tl);
            hilen = tl;
        }
        CHECK_OK(tind_iter_range(w->ks[ks], lo, lolen, hi, hilen, ro, &it));
    } else {
        /* prefix "a0", "b1", ... or a whole key (and its long sibling) */
        lolen = key_of((int)trng_below(&w->r, UNIVERSE), lo);
        lolen = trng_below(&w->r, 2) ? 2 : lolen;
        tind_ks_stats st0, st1;
        CHECK_OK(tind_ks_stats_get(w->ks[ks], &st0));
        CHECK_OK(tind_iter_prefix(w->ks[ks], lo, lolen, ro, &it));
        CHECK_OK(tind_ks_stats_get(w->ks[ks], &st1));
        stat_prefix_skips += st1.prefix_skipped - st0.prefix_skipped;
        memcpy(hi, lo, lolen);
        hilen = lolen;
        hi[hilen - 1]++; /* keys here never end in 0xFF */
    }
    int n = visible(ks, seq, lolen ? lo : NULL, lolen, hilen ? hi : NULL, hilen, vis);
    int idx = -1;
    int steps = 1 + (int)trng_below(&w->r, 12);
    for (int s = 0; s < steps; s++) {
        int op = (int)trng_below(&w->r, 8);
        if (op == 0 || s == 0) {
            tind_iter_first(it);
            idx = n ? 0 : -1;
            logop("  iter first -> %d/%d", idx, n);
        } else if (op == 1) {
            tind_iter_last(it);
            idx = n ? n - 1 : -1;
            logop("  iter last -> %d/%d", idx, n);
        } else if (op == 2 || op == 3) {
            uint8_t k[64];
            int id = (int)trng_below(&w->r, UNIVERSE);
            size_t kl = key_of(id, k);
            if (op == 2) {
                tind_iter_seek(it, k, kl);
                idx = -1;
                for (int i = 0; i < n; i++)
                    if (key_cmp(model[ks].keys[vis[i]].key, model[ks].keys[vis[i]].klen, k, kl) >= 0) {
                        idx = i;
                        break;
                    }
            } else {
                tind_iter_seek_for_prev(it, k, kl);
                idx = -1;
                for (int i = n - 1; i >= 0; i--)
                    if (key_cmp(model[ks].keys[vis[i]].key, model[ks].keys[vis[i]].klen, k, kl) <= 0) {
                        idx = i;
                        break;
                    }
            }
            logop("  iter %s key %d -> %d/%d", op == 2 ? "seek" : "seek_for_prev", id, idx, n);
        } else if (op < 6) {
            if (idx < 0)
                continue;
            /* a run of next */
            int run = 1 + (int)trng_below(&w->r, 20);
            for (int j = 0; j < run && idx >= 0; j++) {
                tind_iter_next(it);
                idx = idx + 1 < n ? idx + 1 : -1;
                check_pos(w, it, ks, seq, vis, n, idx);
            }
            logop("  iter next x%d -> %d/%d", run, idx, n);
        } else {
            if (idx < 0)
                continue;
            int run = 1 + (int)trng_below(&w->r, 20);
            for (int j = 0; j < run && idx >= 0; j++) {
                tind_iter_prev(it);
                idx = idx - 1;
                check_pos(w, it, ks, seq, vis, n, idx);
            }
            logop("  iter prev x%d -> %d/%d", run, idx, n);
        }
        check_pos(w, it, ks, seq, vis, n, idx);
    }
    tind_iter_free(it);
}

typedef struct wop {
    int ks, id, tomb, merge; /* tomb 1 remove, 2 single delete, 3 a range deletion [val, hi) (hilen 0: to the end) */
    size_t vlen;
    uint8_t *val;
    uint8_t hi[64];
    size_t hilen;
} wop;

/* The operations of a write committed as a transaction instead of a batch
 * (distinct keys: one entry each, as in the batch): each write read back
 * through the transaction before the commit (read-your-own-writes). */
static int txn_commit_ops(world *w, const wop *ops, int nops, int durable)
{
    tind_txn *t;
    CHECK_OK(tind_txn_begin(w->db, nops % 2 ? TIND_TXN_OPTIMISTIC : TIND_TXN_SINGLE_WRITER, &t));
    if (durable)
        tind_txn_set_durability(t, TIND_PERSIST_SYNC_DATA);
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_txn(ro, t);
    /* first its snapshot, merge operands applied (the keys' merged values) */
    for (int i = 0; i < nops; i++)
        check_get(w, ops[i].ks, ops[i].id, ro, model_seq);
    if (stat_txns % 16 == 0)
        check_iter(w, ops[0].ks, ro, model_seq);
    for (int i = 0; i < nops; i++) {
        uint8_t key[64];
        size_t klen = key_of(ops[i].id, key);
        if (ops[i].tomb)
            CHECK_OK(tind_txn_remove(t, w->ks[ops[i].ks], key, klen));
        else
            CHECK_OK(tind_txn_put(t, w->ks[ops[i].ks], key, klen, ops[i].val, ops[i].vlen));
        void *v = NULL;
        size_t vn = 0;
        int rc = tind_get(w->ks[ops[i].ks], key, klen, ro, &v, &vn);
        if (ops[i].tomb) {
            CHECK_RC(rc, TIND_NOT_FOUND);
        } else {
            CHECK_OK(rc);
            CHECK_MEM(v, vn, ops[i].val, ops[i].vlen);
        }
        free(v);
    }
    tind_read_options_free(ro);
    logop("  committed as a transaction");
    stat_txns++;
    return tind_txn_commit(t); /* nobody else writes: no conflict */
}

static void do_write(world *w)
{
    int nops = trng_below(&w->r, 4) == 0 ? 1 + (int)trng_below(&w->r, 8) : 1;
    stat_writes++;
    tind_batch *b;
    CHECK_OK(tind_batch_new(w->db, &b));
    int durable = trng_below(&w->r, 50) == 0;
    if (durable)
        tind_batch_set_durability(b, TIND_PERSIST_SYNC_DATA);
    wop ops[8];
    for (int i = 0; i < nops; i++) {
        int ks = (int)trng_below(&w->r, NKS);
        int id = (int)trng_below(&w->r, UNIVERSE);
        int tomb = trng_below(&w->r, 4) == 0;
        /* issue 13: merge operands, and single deletes where the contract
         * holds (single-operation batches: the model has the history) */
        uint64_t kind = trng_below(&w->r, 10);
        int merge = !tomb && kind < 2;
        if (!tomb && kind == 2 && nops == 1 && single_delete_ok(ks, id))
            tomb = 2;
        uint8_t key[64];
        size_t klen = key_of(id, key);
        uint64_t seq = model_seq + 1 + (uint64_t)i;
        if (trng_below(&w->r, 24) == 0) {
            /* a range deletion [key or its 2-byte prefix, a later key or the end) */
            ops[i].hilen = 0;
            if (trng_below(&w->r, 8)) {
                int span = 1 + (int)trng_below(&w->r, trng_below(&w->r, 4) ? 8 : 120);
                ops[i].hilen = key_of(id + span < UNIVERSE ? id + span : UNIVERSE - 1, ops[i].hi);
            }
            if (trng_below(&w->r, 4) == 0)
                klen = 2;
            CHECK_OK(tind_batch_remove_range(b, w->ks[ks], key, klen, ops[i].hilen ? ops[i].hi : NULL,
                                             ops[i].hilen));
            if (ops[i].hilen && key_cmp(key, klen, ops[i].hi, ops[i].hilen) >= 0) {
                nops = i; /* an empty range adds nothing: end the batch here */
                break;
            }
            ops[i].ks = ks;
            ops[i].tomb = 3;
            ops[i].merge = 0;
            ops[i].id = -1;
            memcpy(ops[i].val = malloc(klen), key, klen);
            ops[i].vlen = klen;
            logop("remove_range ks%d key %d%s .. %s seq %llu", ks, id, klen == 2 ? " (prefix)" : "",
                  ops[i].hilen ? (const char *)ops[i].hi : "end", (unsigned long long)seq);
            continue;
        }
        size_t vlen = tomb ? 0 : make_value(w, ks, id, seq);
        if (merge && vlen > 16)
            vlen = 16; /* appended operands stay small */
        if (tomb == 2)
            CHECK_OK(tind_batch_single_remove(b, w->ks[ks], key, klen));
        else if (tomb)
            CHECK_OK(tind_batch_remove(b, w->ks[ks], key, klen));
        else if (merge)
            CHECK_OK(tind_batch_merge(b, w->ks[ks], key, klen, w->valbuf, vlen));
        else
            CHECK_OK(tind_batch_put(b, w->ks[ks], key, klen, w->valbuf, vlen));
        ops[i].ks = ks;
        ops[i].id = id;
        ops[i].tomb = tomb;
        ops[i].merge = merge;
        ops[i].vlen = vlen;
        ops[i].val = malloc(vlen ? vlen : 1);
        memcpy(ops[i].val, w->valbuf, vlen);
        logop("%s ks%d key %d vlen %zu seq %llu%s", tomb == 2 ? "single_remove" : tomb ? "remove" : merge ? "merge" : "put", ks, id, vlen,
              (unsigned long long)seq, durable ? " SYNC" : "");
    }
    int distinct = 1;
    for (int i = 0; i < nops; i++) {
        for (int j = 0; j < i; j++)
            distinct &= ops[i].ks != ops[j].ks || ops[i].id != ops[j].id;
        distinct &= !ops[i].merge && ops[i].tomb < 2; /* transactions carry puts and removes only (tind.h) */
    }
    int rc;
    if (distinct && stat_writes % 5 == 0) {
        rc = txn_commit_ops(w, ops, nops, durable);
    } else {
        rc = tind_batch_commit(b);
    }
    if (rc)
        fprintf(stderr, "commit: %s\n", tind_errmsg(w->db));
    CHECK_OK(rc);
    tind_batch_free(b);
    for (int i = 0; i < nops; i++) {
        if (ops[i].tomb == 3) {
            for (int k = 0; k < UNIVERSE; k++) {
                const mkey *m = &model[ops[i].ks].keys[k];
                if (key_cmp(m->key, m->klen, ops[i].val, ops[i].vlen) >= 0 &&
                    (!ops[i].hilen || key_cmp(m->key, m->klen, ops[i].hi, ops[i].hilen) < 0))
                    model_apply(ops[i].ks, k, 1, 0, NULL, 0, model_seq + 1 + (uint64_t)i);
            }
        } else {
            model_apply(ops[i].ks, ops[i].id, ops[i].tomb, ops[i].merge, ops[i].val, ops[i].vlen,
                        model_seq + 1 + (uint64_t)i);
        }
        free(ops[i].val);
    }
    model_seq += (uint64_t)nops;
    add_boundary(model_seq);
    if (durable)
        model_synced = model_seq;
}

static void check_seq(world *w)
{
    tind_snapshot *s;
    CHECK_OK(tind_snapshot_new(w->db, &s));
    CHECK_EQ(tind_snapshot_seqno(s), model_seq);
    tind_snapshot_free(s);
}

static void reopen(world *w, int crash)
{
    drop_snapshots(w);
    if (crash) {
        if (w->threads)
            tind_internal_pause_background(w->db, 1); /* a process that lost power writes nothing more */
        int modes = FS_CRASH_DROP_UNSYNCED;
        uint64_t c = trng_below(&w->r, 4);
        if (c == 1)
            modes = FS_CRASH_KEEP_PREFIX;
        else if (c == 2)
            modes = FS_CRASH_KEEP_PREFIX | (getenv("TIND_NO_TEAR") ? 0 : FS_CRASH_TEAR_SECTOR);
        if (trng_below(&w->r, 2))
            modes |= FS_CRASH_DROP_DIRENTS;
        logop("CRASH modes %d (synced %llu, last %llu)", modes, (unsigned long long)model_synced,
              (unsigned long long)model_seq);
        CHECK_OK(fs_mem_crash(w->mem, modes, trng_next(&w->r)));
        stat_crashes++;
        tind_close(w->db); /* fails to sync: the files are stale */
    } else {
        logop("reopen");
        stat_reopens++;
        CHECK_OK(tind_close(w->db));
    }
    w->db = NULL;
    open_world(w);
    tind_snapshot *s;
    CHECK_OK(tind_snapshot_new(w->db, &s));
    uint64_t got = tind_snapshot_seqno(s);
    tind_snapshot_free(s);
    if (crash) {
        logop("  recovered through seq %llu", (unsigned long long)got);
        /* nothing synced lost; nothing beyond what was written; a batch edge */
        CHECK(got >= model_synced);
        CHECK(got <= model_seq);
        int edge = got == model_synced;
        for (size_t i = 0; i < nboundaries && !edge; i++)
            edge = boundaries[i] == got;
        CHECK(edge);
        model_truncate(got);
    } else {
        CHECK_EQ(got, model_seq);
    }
    nboundaries = 0;
    model_synced = model_seq; /* everything recovered is durable again */
}

static void full_check(world *w)
{
    for (int k = 0; k < NKS; k++)
        for (int i = 0; i < UNIVERSE; i++)
            check_get(w, k, i, NULL, model_seq);
    tind_read_options *ro = tind_read_options_new();
    for (int k = 0; k < NKS; k++) {
        static int vis[UNIVERSE];
        int n = visible(k, model_seq, NULL, 0, NULL, 0, vis);
        tind_iter *it;
        CHECK_OK(tind_iter_range(w->ks[k], NULL, 0, NULL, 0, ro, &it));
        int idx = 0;
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
            check_pos(w, it, k, model_seq, vis, n, idx++);
        CHECK_OK(tind_iter_status(it));
        CHECK_EQ(idx, n);
        idx = n - 1;
        for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it))
            check_pos(w, it, k, model_seq, vis, n, idx--);
        CHECK_EQ(idx, -1);
        tind_iter_free(it);
        /* the single deletes kept their contract: compaction saw no breach,
         * and no merge failed */
        tind_ks_stats st;
        CHECK_OK(tind_ks_stats_get(w->ks[k], &st));
        CHECK_EQ(st.single_delete_violations, 0);
        CHECK_EQ(st.merge_failures, 0);
    }
    tind_read_options_free(ro);
}

static uint64_t run_seed(uint64_t seed, uint64_t ops, int threads)
{
    world w;
    memset(&w, 0, sizeof w);
    w.threads = cur_threads = threads;
    trng_seed(&w.r, seed);
    check_seed = seed;
    model_init();
    oplog_n = 0;
    w.mem = fs_mem_new();
    CHECK(w.mem != NULL);
    open_world(&w);
    tind_read_options *ro = tind_read_options_new();
    for (uint64_t op = 0; op < ops; op++) {
        uint64_t c = trng_below(&w.r, 1000);
        if (c < 450) {
            do_write(&w);
        } else if (c < 800) {
            int ks = (int)trng_below(&w.r, NKS), id = (int)trng_below(&w.r, UNIVERSE);
            if (w.nsnaps && trng_below(&w.r, 3) == 0) {
                int s = (int)trng_below(&w.r, (uint64_t)w.nsnaps);
                tind_read_options_set_snapshot(ro, w.snaps[s]);
                logop("get ks%d key %d at snapshot %llu", ks, id, (unsigned long long)w.snap_seq[s]);
                check_get(&w, ks, id, ro, w.snap_seq[s]);
                tind_read_options_set_snapshot(ro, NULL);
            } else {
                logop("get ks%d key %d", ks, id);
                check_get(&w, ks, id, NULL, model_seq);
            }
        } else if (c < 830) {
            int ks = (int)trng_below(&w.r, NKS);
            if (w.nsnaps && trng_below(&w.r, 2) == 0) {
                int s = (int)trng_below(&w.r, (uint64_t)w.nsnaps);
                tind_read_options_set_snapshot(ro, w.snaps[s]);
                logop("iter ks%d at snapshot %llu", ks, (unsigned long long)w.snap_seq[s]);
                check_iter(&w, ks, ro, w.snap_seq[s]);
                tind_read_options_set_snapshot(ro, NULL);
            } else {
                logop("iter ks%d", ks);
                check_iter(&w, ks, NULL, model_seq);
            }
        } else if (c < 850) {
            if (w.nsnaps < MAX_SNAPS) {
                CHECK_OK(tind_snapshot_new(w.db, &w.snaps[w.nsnaps]));
                w.snap_seq[w.nsnaps] = model_seq;
                CHECK_EQ(tind_snapshot_seqno(w.snaps[w.nsnaps]), model_seq);
                logop("snapshot %llu", (unsigned long long)model_seq);
                w.nsnaps++;
            }
        } else if (c < 870) {
            if (w.nsnaps) {
                int s = (int)trng_below(&w.r, (uint64_t)w.nsnaps);
                logop("release snapshot %llu", (unsigned long long)w.snap_seq[s]);
                tind_snapshot_free(w.snaps[s]);
                w.snaps[s] = w.snaps[w.nsnaps - 1];
                w.snap_seq[s] = w.snap_seq[w.nsnaps - 1];
                w.nsnaps--;
            }
        } else if (c < 960) {
            logop("bg step%s", w.threads ? " (racing the workers)" : "");
            stat_bg++;
            tind_err err;
            err_clear(&err);
            int rc = db_background_step(w.db, &err);
            if (rc < 0)
                fprintf(stderr, "bg: %s\n", err.msg);
            CHECK(rc >= 0);
        } else if (c < 970) {
            int ks = (int)trng_below(&w.r, NKS);
            logop("flush ks%d", ks);
            int rc = tind_flush(w.ks[ks]);
            if (rc)
                fprintf(stderr, "flush: %s\n", tind_errmsg(w.db));
            CHECK_OK(rc);
        } else if (c < 975) {
            int ks = (int)trng_below(&w.r, NKS);
            logop("compact ks%d", ks);
            int rc = tind_compact(w.ks[ks]);
            if (rc)
                fprintf(stderr, "compact: %s\n", tind_errmsg(w.db));
            CHECK_OK(rc);
        } else if (c < 985) {
            logop("persist");
            CHECK_OK(tind_persist(w.db, trng_below(&w.r, 2) ? TIND_PERSIST_SYNC_DATA : TIND_PERSIST_SYNC_ALL));
            model_synced = model_seq;
        } else if (c < 990) {
            check_seq(&w);
        } else if (c < 994) {
            reopen(&w, 0);
        } else if (c < 998) {
            reopen(&w, 1);
        } else {
            logop("full check");
            full_check(&w);
        }
    }
    full_check(&w);
    tind_read_options_free(ro);
    drop_snapshots(&w);
    CHECK_OK(tind_close(w.db));
    fs_destroy(w.mem);
    return ops;
}

int main(void)
{
    uint64_t base = check_seed_init(0x7a11);
    check_on_fail = dump_log;
    double scale = check_scale();
    uint64_t per_seed = 25000;
    const char *one = getenv("TIND_SEED");
    const char *only = getenv("TIND_THREADS");
    model_encrypt = getenv("TIND_ENCRYPT") && atoi(getenv("TIND_ENCRYPT"));
    for (int threads = 0; threads < 2; threads++) {
        if (only && atoi(only) != threads)
            continue;
        uint64_t total_target = (uint64_t)((threads ? 150000 : 1000000) * scale);
        uint64_t done = 0, seeds = 0;
        stat_writes = stat_txns = stat_gets = stat_iters = stat_bg = stat_reopens = stat_crashes = stat_prefix_skips = 0;
        if (one) {
            fprintf(stderr, "  seed %llu, threads %s ...\n", (unsigned long long)base, threads ? "on" : "off");
            done += run_seed(base, (uint64_t)(per_seed * scale), threads);
            seeds = 1;
        } else {
            for (uint64_t s = base; done < total_target; s++) {
                done += run_seed(s, per_seed, threads);
                seeds++;
            }
        }
        fprintf(stderr, "  model test (background threads %s): %llu operations over %llu seeds: %llu batches "
                "(%llu as transactions), %llu gets, %llu cursors (%llu tables skipped by prefix filters), "
                "%llu background steps, %llu clean reopens, %llu simulated power losses\n",
                threads ? "on" : "off", (unsigned long long)done, (unsigned long long)seeds,
                (unsigned long long)stat_writes, (unsigned long long)stat_txns, (unsigned long long)stat_gets,
                (unsigned long long)stat_iters, (unsigned long long)stat_prefix_skips,
                (unsigned long long)stat_bg, (unsigned long long)stat_reopens, (unsigned long long)stat_crashes);
    }
    /* encryption at rest (io/fs_crypt.c): one more seed of each pass on an
     * encrypted database (TIND_ENCRYPT=1 runs every seed encrypted) */
    for (int threads = 0; threads < 2 && !one && !model_encrypt; threads++) {
        if (only && atoi(only) != threads)
            continue;
        model_encrypt = 1;
        uint64_t seed = base + 1000003;
        fprintf(stderr, "  seed %llu, threads %s, encrypted ...\n", (unsigned long long)seed, threads ? "on" : "off");
        run_seed(seed, per_seed, threads);
        model_encrypt = 0;
    }
    return 0;
}
