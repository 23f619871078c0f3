/*
 * backend_lmdb.c -- LMDB 0.9 (Debian liblmdb-dev, lmdb.h) in tind-bench: the
 * memory-mapped copy-on-write B+tree that is the reference for read speed.
 *
 * Settings: one unnamed database in cfg->dir/data.mdb; a map size of 64 GiB
 * (address space only: the file grows as pages are used, so every workload
 * fits); MDB_NORDAHEAD (random reads on a data set larger than RAM should not
 * pull in neighbouring pages, as the other engines read single blocks);
 * MDB_NOTLS so that read transactions are not tied to threads; no
 * MDB_WRITEMAP (dirty pages are written with pwrite(2), LMDB's default).
 * LMDB has no cache of its own: it reads through the OS page cache, so
 * cfg->cache_bytes cannot be applied (noted in docs/BENCHMARKS.md), nor
 * compression (values are stored as they are; values over ~2 KiB go to
 * overflow pages, so a 4 KiB value takes two 4 KiB pages). blob_values is
 * ignored.
 * Durability: eventual = MDB_NOSYNC (each commit writes its pages and meta
 * page to the OS with pwrite(2), no sync: survives a process crash, not a
 * power cut -- tind's TIND_PERSIST_NONE, RocksDB's sync=false); synced = no
 * MDB_NOSYNC (each commit fdatasyncs the data pages, then writes the meta page
 * through an O_DSYNC descriptor, before it returns -- at least tind's
 * TIND_PERSIST_SYNC_DATA).
 * One write transaction per put (LMDB allows one writer at a time: concurrent
 * puts wait on its writer lock). Reads use read-only transactions taken from
 * a small lock-free pool of reset transactions (mdb_txn_reset/renew keeps the
 * reader slot, so a get costs no lock); a scan opens a cursor in one.
 * Transactions (txn-*): one write transaction reads both keys and writes
 * them (serialized by the writer lock: no conflicts, no aborts).
 * settle: mdb_env_sync(force) -- a B+tree has nothing else to bring to a
 * steady state.
 *
 * Scans follow backend.h: forward from the first key >= start, reverse from
 * the last key < start (start = "" visits nothing in reverse), stopping at the
 * first key without the prefix; the first and last byte of each value are
 * read (for an overflow value this faults in its first and last page).
 * LMDB rejects empty keys (MDB_BAD_VALSIZE) and keys over 511 bytes.
 *
 * Thread-safety: thread_safe = 1. The MDB_env is shared; each call uses its
 * own transaction (a write transaction begins and ends in the calling thread,
 * as LMDB requires); the pool hands each read transaction to one caller at a
 * time through atomic exchanges.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "backend.h"

typedef struct bm_handle {
    MDB_env *env;
    MDB_dbi dbi;
    size_t nslots;
    _Atomic(MDB_txn *) *slots; /* reset read transactions ready to renew; NULL = empty slot */
} bm_handle;

static int bm_fail(char *err, size_t errlen, const char *what, int rc)
{
    bench_err_set(err, errlen, "lmdb %s: %s", what, mdb_strerror(rc));
    return -1;
}

/* A read transaction, renewed from the pool or begun afresh. */
static int bm_read_begin(bm_handle *h, MDB_txn **out)
{
    for (size_t i = 0; i < h->nslots; i++) {
        if (!atomic_load_explicit(&h->slots[i], memory_order_relaxed))
            continue;
        MDB_txn *t = atomic_exchange_explicit(&h->slots[i], NULL, memory_order_acquire);
        if (t) {
            int rc = mdb_txn_renew(t);
            if (rc)
                mdb_txn_abort(t);
            else
                *out = t;
            return rc;
        }
    }
    return mdb_txn_begin(h->env, NULL, MDB_RDONLY, out);
}

/* Resets a read transaction and returns it to the pool (aborts it when full). */
static void bm_read_end(bm_handle *h, MDB_txn *t)
{
    mdb_txn_reset(t);
    for (size_t i = 0; i < h->nslots; i++) {
        MDB_txn *expect = NULL;
        if (atomic_compare_exchange_strong_explicit(&h->slots[i], &expect, t, memory_order_release,
                                                    memory_order_relaxed))
            return;
    }
    mdb_txn_abort(t);
}

static void bm_destroy(bm_handle *h)
{
    for (size_t i = 0; h->slots && i < h->nslots; i++) {
        MDB_txn *t = atomic_exchange(&h->slots[i], NULL);
        if (t)
            mdb_txn_abort(t);
    }
    free(h->slots);
    if (h->env)
        mdb_env_close(h->env);
    free(h);
}

static int bm_open(void **out, const bench_config *cfg, char *err, size_t errlen)
{
    bm_handle *h = calloc(1, sizeof *h);
    size_t threads = cfg->threads > 0 ? (size_t)cfg->threads : 1;
    if (h) {
        h->nslots = 2 * threads + 4;
        h->slots = calloc(h->nslots, sizeof *h->slots);
    }
    if (!h || !h->slots) {
        free(h);
        bench_err_set(err, errlen, "lmdb open: out of memory");
        return -1;
    }
    for (size_t i = 0; i < h->nslots; i++)
        atomic_init(&h->slots[i], NULL);
    const char *step = "env_create";
    int rc = mdb_env_create(&h->env);
    if (rc == 0) {
        step = "set_mapsize";
        rc = mdb_env_set_mapsize(h->env, (size_t)64 << 30);
    }
    if (rc == 0) {
        /* every pooled transaction keeps a reader slot, plus those in use */
        step = "set_maxreaders";
        rc = mdb_env_set_maxreaders(h->env, (unsigned)(h->nslots + threads + 126));
    }
    if (rc == 0) {
        step = "env_open";
        unsigned flags = MDB_NORDAHEAD | MDB_NOTLS | (cfg->sync_writes ? 0 : MDB_NOSYNC);
        rc = mdb_env_open(h->env, cfg->dir, flags, 0644);
    }
    MDB_txn *txn = NULL;
    if (rc == 0) {
        step = "txn_begin";
        rc = mdb_txn_begin(h->env, NULL, 0, &txn);
    }
    if (rc == 0) {
        step = "dbi_open";
        rc = mdb_dbi_open(txn, NULL, 0, &h->dbi);
        if (rc == 0) {
            step = "txn_commit";
            rc = mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
    }
    if (rc) {
        bench_err_set(err, errlen, "lmdb %s (%s): %s", step, cfg->dir, mdb_strerror(rc));
        bm_destroy(h);
        return -1;
    }
    *out = h;
    return 0;
}

/* The n puts in one write transaction (a put is a batch of one). */
static int bm_put_batch(void *hp, size_t n, const void *const *k, const size_t *kl, const void *const *v,
                        const size_t *vl, char *err, size_t errlen)
{
    bm_handle *h = hp;
    MDB_txn *txn;
    int rc = mdb_txn_begin(h->env, NULL, 0, &txn);
    if (rc)
        return bm_fail(err, errlen, "put: txn_begin", rc);
    for (size_t i = 0; i < n; i++) {
        MDB_val key = {kl[i], (void *)k[i]}, val = {vl[i], (void *)v[i]};
        rc = mdb_put(txn, h->dbi, &key, &val, 0);
        if (rc) {
            mdb_txn_abort(txn);
            return bm_fail(err, errlen, "put", rc);
        }
    }
    rc = mdb_txn_commit(txn);
    return rc ? bm_fail(err, errlen, "put: commit", rc) : 0;
}

static int bm_put(void *hp, const void *k, size_t kl, const void *v, size_t vl, char *err, size_t errlen)
{
    return bm_put_batch(hp, 1, &k, &kl, &v, &vl, err, errlen);
}

static int bm_get(void *hp, const void *k, size_t kl, bench_buf *out, char *err, size_t errlen)
{
    bm_handle *h = hp;
    MDB_txn *txn;
    int rc = bm_read_begin(h, &txn);
    if (rc)
        return bm_fail(err, errlen, "get: txn_begin", rc);
    MDB_val key = {kl, (void *)k}, val;
    rc = mdb_get(txn, h->dbi, &key, &val);
    if (rc == 0 && bench_buf_set(out, val.mv_data, val.mv_size)) {
        bm_read_end(h, txn);
        bench_err_set(err, errlen, "lmdb get: out of memory");
        return -1;
    }
    bm_read_end(h, txn);
    if (rc == MDB_NOTFOUND)
        return 1;
    return rc ? bm_fail(err, errlen, "get", rc) : 0;
}

static int bm_scan(void *hp, const void *start, size_t sl, const void *prefix, size_t plen, int reverse,
                   size_t limit, size_t *visited, char *err, size_t errlen)
{
    bm_handle *h = hp;
    *visited = 0;
    if (reverse && sl == 0)
        return 0; /* no key is < "" */
    MDB_txn *txn;
    int rc = bm_read_begin(h, &txn);
    if (rc)
        return bm_fail(err, errlen, "scan: txn_begin", rc);
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, h->dbi, &cur);
    if (rc) {
        bm_read_end(h, txn);
        return bm_fail(err, errlen, "scan: cursor_open", rc);
    }
    MDB_val key = {sl, (void *)start}, val;
    if (sl == 0) {
        rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    } else {
        rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (reverse) {
            /* positioned on the first key >= start; begin one before it */
            if (rc == 0)
                rc = mdb_cursor_get(cur, &key, &val, MDB_PREV);
            else if (rc == MDB_NOTFOUND)
                rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
        }
    }
    size_t n = 0;
    volatile unsigned char sink = 0;
    while (rc == 0 && n < limit) {
        if (plen && (key.mv_size < plen || memcmp(key.mv_data, prefix, plen) != 0))
            break;
        const unsigned char *vp = val.mv_data;
        if (val.mv_size)
            sink ^= (unsigned char)(vp[0] ^ vp[val.mv_size - 1]);
        n++;
        rc = mdb_cursor_get(cur, &key, &val, reverse ? MDB_PREV : MDB_NEXT);
    }
    (void)sink;
    mdb_cursor_close(cur);
    bm_read_end(h, txn);
    *visited = n;
    if (rc && rc != MDB_NOTFOUND)
        return bm_fail(err, errlen, "scan", rc);
    return 0;
}

static int bm_settle(void *hp, char *err, size_t errlen)
{
    bm_handle *h = hp;
    int rc = mdb_env_sync(h->env, 1);
    return rc ? bm_fail(err, errlen, "settle: env_sync", rc) : 0;
}

static int bm_close(void *hp, char *err, size_t errlen)
{
    bm_destroy(hp);
    return 0;
}

/* A write transaction: LMDB runs one at a time (its writer lock), so it
 * never conflicts. */
static int bm_txn_rmw(void *hp, const void *k1, const void *k2, size_t kl, const void *v, size_t vl, char *err,
                      size_t errlen)
{
    bm_handle *h = hp;
    MDB_txn *txn;
    int rc = mdb_txn_begin(h->env, NULL, 0, &txn);
    if (rc)
        return bm_fail(err, errlen, "txn: txn_begin", rc);
    const void *keys[2] = {k1, k2};
    volatile unsigned char sink = 0;
    for (int i = 0; i < 2 && !rc; i++) {
        MDB_val key = {kl, (void *)keys[i]}, val;
        rc = mdb_get(txn, h->dbi, &key, &val);
        if (rc == 0 && val.mv_size)
            sink ^= ((const unsigned char *)val.mv_data)[0];
        if (rc == MDB_NOTFOUND)
            rc = 0;
        MDB_val nv = {vl, (void *)v};
        if (!rc)
            rc = mdb_put(txn, h->dbi, &key, &nv, 0);
    }
    (void)sink;
    if (rc) {
        mdb_txn_abort(txn);
        return bm_fail(err, errlen, "txn: get or put", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc ? bm_fail(err, errlen, "txn: commit", rc) : 0;
}

const bench_backend bench_backend_lmdb = {
    .name = "lmdb",
    .thread_safe = 1,
    .open = bm_open,
    .put = bm_put,
    .get = bm_get,
    .scan = bm_scan,
    .settle = bm_settle,
    .put_batch = bm_put_batch,
    .close = bm_close,
    .txn_rmw = bm_txn_rmw,
};
