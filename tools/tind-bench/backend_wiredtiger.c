/*
 * backend_wiredtiger.c -- WiredTiger 3.2 (Debian libwiredtiger-dev,
 * wiredtiger.h) in tind-bench: MongoDB's engine, used here as a B-tree.
 *
 * Settings: one row-store table "table:kv" with key_format=u,value_format=u
 * (raw byte strings, compared with memcmp then length) and WiredTiger's
 * default page sizes; cache_size = cfg->cache_bytes (WiredTiger's cache holds
 * uncompressed pages, clean and dirty; at least 1 MB); Snappy block
 * compression through the libwiredtiger_snappy.so extension of the same
 * package (MongoDB's default; tind and RocksDB use LZ4, a codec of the same
 * class) when that file is found, none otherwise; the write-ahead log enabled
 * (commit-level durability, like every other engine here) in 16 MB files
 * (WiredTiger's 100 MB default, preallocated two or three at a time, would
 * add some 300 MB to the disk usage of every run) with a checkpoint every
 * 60 s (MongoDB's default; without checkpoints the log is never archived and
 * the disk usage grows without bound). WiredTiger has no key-value
 * separation: blob_values is ignored.
 * Durability: eventual = transaction_sync=(enabled=true,method=none): each
 * commit write(2)s its log record before it returns, without a sync --
 * survives a process crash, not a power cut, the same guarantee as tind's
 * TIND_PERSIST_NONE and RocksDB's sync=false. (transaction_sync=(enabled=false)
 * would leave records in an in-memory log buffer until a checkpoint or log
 * switch, a weaker guarantee than the other engines give, so it is not used.)
 * synced = transaction_sync=(enabled=true,method=fsync): the log is synced
 * (fdatasync where available) before each commit returns: tind's
 * TIND_PERSIST_SYNC_DATA. Each operation runs in its own implicit
 * transaction (auto-commit), which follows transaction_sync.
 * settle: a checkpoint (WT_SESSION::checkpoint), which writes every dirty page
 * and syncs the files.
 *
 * Scans follow backend.h: forward from the first key >= start, reverse from
 * the last key < start (start = "" visits nothing in reverse), both placed
 * with WT_CURSOR::search_near, stopping at the first key without the prefix;
 * the first and last byte of each value are read. Cursors are reset after
 * each operation so they pin no page between calls.
 *
 * Thread-safety: thread_safe = 1. The WT_CONNECTION is shared; a WT_SESSION
 * (and its cursor on the table) is single-threaded, so each call takes a
 * session from a small lock-free pool (opening one if the pool is empty) and
 * gives it back.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wiredtiger.h>

#include "backend.h"

typedef struct bwt_session {
    WT_SESSION *session;
    WT_CURSOR *cursor; /* on table:kv, reset between calls */
} bwt_session;

typedef struct bwt_handle {
    WT_CONNECTION *conn;
    size_t nslots;
    _Atomic(bwt_session *) *slots; /* idle sessions; NULL = empty slot */
} bwt_handle;

static int bwt_fail(char *err, size_t errlen, const char *what, int rc)
{
    bench_err_set(err, errlen, "wiredtiger %s: %s", what, wiredtiger_strerror(rc));
    return -1;
}

static void bwt_session_close(bwt_session *s)
{
    if (!s)
        return;
    if (s->session)
        s->session->close(s->session, NULL); /* closes its cursor too */
    free(s);
}

static bwt_session *bwt_session_open(bwt_handle *h, char *err, size_t errlen)
{
    bwt_session *s = calloc(1, sizeof *s);
    if (!s) {
        bench_err_set(err, errlen, "wiredtiger session: out of memory");
        return NULL;
    }
    int rc = h->conn->open_session(h->conn, NULL, NULL, &s->session);
    if (rc) {
        free(s);
        bwt_fail(err, errlen, "open_session", rc);
        return NULL;
    }
    rc = s->session->open_cursor(s->session, "table:kv", NULL, NULL, &s->cursor);
    if (rc) {
        bwt_session_close(s);
        bwt_fail(err, errlen, "open_cursor table:kv", rc);
        return NULL;
    }
    return s;
}

static bwt_session *bwt_take(bwt_handle *h, char *err, size_t errlen)
{
    for (size_t i = 0; i < h->nslots; i++) {
        if (!atomic_load_explicit(&h->slots[i], memory_order_relaxed))
            continue;
        bwt_session *s = atomic_exchange_explicit(&h->slots[i], NULL, memory_order_acquire);
        if (s)
            return s;
    }
    return bwt_session_open(h, err, errlen);
}

static void bwt_give(bwt_handle *h, bwt_session *s)
{
    s->cursor->reset(s->cursor);
    for (size_t i = 0; i < h->nslots; i++) {
        bwt_session *expect = NULL;
        if (atomic_compare_exchange_strong_explicit(&h->slots[i], &expect, s, memory_order_release,
                                                    memory_order_relaxed))
            return;
    }
    bwt_session_close(s);
}

static void bwt_destroy(bwt_handle *h)
{
    for (size_t i = 0; h->slots && i < h->nslots; i++)
        bwt_session_close(atomic_exchange(&h->slots[i], NULL));
    free(h->slots);
    if (h->conn)
        h->conn->close(h->conn, NULL);
    free(h);
}

/* The Snappy extension shipped with libwiredtiger-dev, or NULL. */
static const char *bwt_snappy_path(void)
{
    static const char *const candidates[] = {
        "/usr/lib/x86_64-linux-gnu/libwiredtiger_snappy.so",
        "/usr/lib/aarch64-linux-gnu/libwiredtiger_snappy.so",
        "/usr/lib/libwiredtiger_snappy.so",
        "/usr/local/lib/libwiredtiger_snappy.so",
    };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (access(candidates[i], R_OK) == 0)
            return candidates[i];
    return NULL;
}

static int bwt_open(void **out, const bench_config *cfg, char *err, size_t errlen)
{
    bwt_handle *h = calloc(1, sizeof *h);
    size_t threads = cfg->threads > 0 ? (size_t)cfg->threads : 1;
    if (h) {
        h->nslots = 2 * threads + 4;
        h->slots = calloc(h->nslots, sizeof *h->slots);
    }
    if (!h || !h->slots) {
        free(h);
        bench_err_set(err, errlen, "wiredtiger open: out of memory");
        return -1;
    }
    for (size_t i = 0; i < h->nslots; i++)
        atomic_init(&h->slots[i], NULL);
    const char *snappy = bwt_snappy_path();
    size_t cache = cfg->cache_bytes < ((size_t)1 << 20) ? (size_t)1 << 20 : cfg->cache_bytes;
    char conf[512], ext[160] = "";
    if (snappy)
        snprintf(ext, sizeof ext, ",extensions=[%s]", snappy);
    snprintf(conf, sizeof conf,
             "create,cache_size=%zuB,session_max=%zu,log=(enabled=true,file_max=16MB),checkpoint=(wait=60),"
             "transaction_sync=(enabled=true,method=%s)%s",
             cache, h->nslots + 32, cfg->sync_writes ? "fsync" : "none", ext);
    int rc = wiredtiger_open(cfg->dir, NULL, conf, &h->conn);
    if (rc) {
        h->conn = NULL;
        bench_err_set(err, errlen, "wiredtiger open %s (%s): %s", cfg->dir, conf, wiredtiger_strerror(rc));
        bwt_destroy(h);
        return -1;
    }
    WT_SESSION *s;
    rc = h->conn->open_session(h->conn, NULL, NULL, &s);
    if (rc == 0) {
        rc = s->create(s, "table:kv",
                       snappy ? "key_format=u,value_format=u,block_compressor=snappy" : "key_format=u,value_format=u");
        s->close(s, NULL);
    }
    if (rc) {
        bwt_fail(err, errlen, "create table:kv", rc);
        bwt_destroy(h);
        return -1;
    }
    *out = h;
    return 0;
}

static int bwt_put(void *hp, const void *k, size_t kl, const void *v, size_t vl, char *err, size_t errlen)
{
    bwt_handle *h = hp;
    bwt_session *s = bwt_take(h, err, errlen);
    if (!s)
        return -1;
    WT_CURSOR *c = s->cursor;
    WT_ITEM key = {.data = k, .size = kl}, val = {.data = v, .size = vl};
    c->set_key(c, &key);
    c->set_value(c, &val);
    int rc = c->insert(c); /* overwrite=true by default: insert or replace */
    bwt_give(h, s);
    return rc ? bwt_fail(err, errlen, "put", rc) : 0;
}

/* The n puts in one explicit transaction of the session (its commit makes
 * the log write with the run's durability, as an auto-commit put does). */
static int bwt_put_batch(void *hp, size_t n, const void *const *k, const size_t *kl, const void *const *v,
                         const size_t *vl, char *err, size_t errlen)
{
    bwt_handle *h = hp;
    bwt_session *s = bwt_take(h, err, errlen);
    if (!s)
        return -1;
    WT_CURSOR *c = s->cursor;
    int rc = s->session->begin_transaction(s->session, NULL);
    for (size_t i = 0; i < n && !rc; i++) {
        WT_ITEM key = {.data = k[i], .size = kl[i]}, val = {.data = v[i], .size = vl[i]};
        c->set_key(c, &key);
        c->set_value(c, &val);
        rc = c->insert(c);
    }
    c->reset(c);
    if (rc)
        s->session->rollback_transaction(s->session, NULL);
    else
        rc = s->session->commit_transaction(s->session, NULL);
    bwt_give(h, s);
    /* a transaction bigger than a small cache's eviction allows is rolled
     * back (WT_ROLLBACK): the batch is then put one auto-commit at a time */
    for (size_t i = 0; rc == WT_ROLLBACK && i < n; i++)
        if (bwt_put(hp, k[i], kl[i], v[i], vl[i], err, errlen))
            return -1;
    return rc && rc != WT_ROLLBACK ? bwt_fail(err, errlen, "batch", rc) : 0;
}

static int bwt_get(void *hp, const void *k, size_t kl, bench_buf *out, char *err, size_t errlen)
{
    bwt_handle *h = hp;
    bwt_session *s = bwt_take(h, err, errlen);
    if (!s)
        return -1;
    WT_CURSOR *c = s->cursor;
    WT_ITEM key = {.data = k, .size = kl}, val;
    c->set_key(c, &key);
    int rc = c->search(c);
    int ret = 0;
    if (rc == 0)
        rc = c->get_value(c, &val);
    if (rc == 0) {
        if (bench_buf_set(out, val.data, val.size)) {
            bench_err_set(err, errlen, "wiredtiger get: out of memory");
            ret = -1;
        }
    } else if (rc == WT_NOTFOUND) {
        ret = 1;
    } else {
        ret = bwt_fail(err, errlen, "get", rc);
    }
    bwt_give(h, s);
    return ret;
}

static int bwt_scan(void *hp, const void *start, size_t sl, const void *prefix, size_t plen, int reverse,
                    size_t limit, size_t *visited, char *err, size_t errlen)
{
    bwt_handle *h = hp;
    *visited = 0;
    if ((reverse && sl == 0) || limit == 0)
        return 0; /* no key is < "" */
    bwt_session *s = bwt_take(h, err, errlen);
    if (!s)
        return -1;
    WT_CURSOR *c = s->cursor;
    int rc;
    if (sl == 0) {
        rc = c->next(c); /* a reset cursor: the first key */
    } else {
        WT_ITEM key = {.data = start, .size = sl};
        int exact = 0;
        c->set_key(c, &key);
        rc = c->search_near(c, &exact);
        /* placed on start, or on a neighbour below (exact < 0) or above (> 0) */
        if (rc == 0 && !reverse && exact < 0)
            rc = c->next(c);
        else if (rc == 0 && reverse && exact >= 0)
            rc = c->prev(c);
    }
    size_t n = 0;
    volatile unsigned char sink = 0;
    while (rc == 0 && n < limit) {
        WT_ITEM key, val;
        if ((rc = c->get_key(c, &key)) != 0)
            break;
        if (plen && (key.size < plen || memcmp(key.data, prefix, plen) != 0))
            break;
        if ((rc = c->get_value(c, &val)) != 0)
            break;
        const unsigned char *vp = val.data;
        if (val.size)
            sink ^= (unsigned char)(vp[0] ^ vp[val.size - 1]);
        n++;
        rc = reverse ? c->prev(c) : c->next(c);
    }
    (void)sink;
    bwt_give(h, s);
    *visited = n;
    if (rc && rc != WT_NOTFOUND)
        return bwt_fail(err, errlen, "scan", rc);
    return 0;
}

static int bwt_settle(void *hp, char *err, size_t errlen)
{
    bwt_handle *h = hp;
    bwt_session *s = bwt_take(h, err, errlen);
    if (!s)
        return -1;
    int rc = s->session->checkpoint(s->session, NULL);
    bwt_give(h, s);
    return rc ? bwt_fail(err, errlen, "settle: checkpoint", rc) : 0;
}

static int bwt_close(void *hp, char *err, size_t errlen)
{
    bwt_destroy(hp);
    return 0;
}

const bench_backend bench_backend_wiredtiger = {
    .name = "wiredtiger",
    .thread_safe = 1,
    .open = bwt_open,
    .put = bwt_put,
    .get = bwt_get,
    .scan = bwt_scan,
    .settle = bwt_settle,
    .put_batch = bwt_put_batch,
    .close = bwt_close,
};
