/*
 * backend_sqlite.c -- SQLite 3 (Debian libsqlite3-dev, sqlite3.h) in
 * tind-bench: the ubiquitous embedded database.
 *
 * Settings: one file cfg->dir/kv.sqlite with the table
 * `CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID` (a B-tree on
 * the key that holds the value: one lookup per get), journal_mode=WAL, 4 KiB
 * pages, the default WAL auto-checkpoint (1000 pages), no mmap (reads go
 * through pread(2), SQLite's default), prepared statements for every
 * operation. Each connection has its own page cache, so cfg->cache_bytes is
 * split between the connections the run's threads use: cache_size =
 * -(cache_bytes / 1024 / threads) KiB each. SQLite has no compression and no
 * key-value separation (blob_values is ignored; rows larger than a page spill
 * into overflow pages, which WITHOUT ROWID tables handle less well than rowid
 * tables -- the schema is the one BENCH.md fixes).
 * Durability: eventual = synchronous=NORMAL (each commit appends its pages to
 * the WAL with write(2), no sync; checkpoints sync: survives a process crash,
 * not a power cut -- tind's TIND_PERSIST_NONE, RocksDB's sync=false); synced
 * = synchronous=FULL (the WAL is synced at every commit before it returns:
 * tind's TIND_PERSIST_SYNC_DATA). Each put is its own transaction
 * (autocommit).
 * settle: PRAGMA wal_checkpoint(TRUNCATE) -- copies the WAL into the database
 * file, syncs it and empties the WAL.
 *
 * Scans follow backend.h: forward `k >= start ORDER BY k`, reverse
 * `k < start ORDER BY k DESC` (start = "" visits nothing in reverse), both
 * with LIMIT, stopping at the first key without the prefix; SQLite compares
 * BLOBs with memcmp and then length, the same order as the other engines.
 * The first and last byte of each value are read.
 *
 * Thread-safety: thread_safe = 1. Connections are opened with
 * SQLITE_OPEN_NOMUTEX (one thread at a time each) and kept in a small
 * lock-free pool: every call takes a connection from the pool (opening one if
 * the pool is empty) and gives it back, so concurrent readers use separate
 * connections and read the WAL snapshot in parallel. SQLite allows one writer
 * at a time; instead of letting writers collide on SQLITE_BUSY and sleep in
 * SQLite's busy handler, puts are serialized by write_lock (a 10 s
 * busy_timeout stays as a backstop).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "backend.h"

typedef struct bs_conn {
    sqlite3 *db;
    sqlite3_stmt *put, *get, *fwd, *rev;
} bs_conn;

typedef struct bs_handle {
    char *path;
    int sync_writes;
    long cache_kib;             /* page cache of each connection */
    pthread_mutex_t write_lock; /* held by every put and by settle: one writer at a time */
    size_t nslots;
    _Atomic(bs_conn *) *slots;  /* idle connections; NULL = empty slot */
} bs_handle;

static void bs_conn_close(bs_conn *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->put);
    sqlite3_finalize(c->get);
    sqlite3_finalize(c->fwd);
    sqlite3_finalize(c->rev);
    sqlite3_close(c->db);
    free(c);
}

static int bs_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        bench_err_set(err, errlen, "sqlite %s: %s", sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int bs_prepare(bs_conn *c, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
        bench_err_set(err, errlen, "sqlite prepare %s: %s", sql, sqlite3_errmsg(c->db));
        return -1;
    }
    return 0;
}

/* Opens a connection with the run's settings; create = first connection. */
static bs_conn *bs_conn_open(bs_handle *h, int create, char *err, size_t errlen)
{
    bs_conn *c = calloc(1, sizeof *c);
    if (!c) {
        bench_err_set(err, errlen, "sqlite open: out of memory");
        return NULL;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(h->path, &c->db, flags, NULL) != SQLITE_OK) {
        bench_err_set(err, errlen, "sqlite open %s: %s", h->path, c->db ? sqlite3_errmsg(c->db) : "out of memory");
        bs_conn_close(c);
        return NULL;
    }
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s; PRAGMA cache_size=-%ld;", h->sync_writes ? "FULL" : "NORMAL",
             h->cache_kib);
    sqlite3_busy_timeout(c->db, 10000);
    if ((create && bs_exec(c->db, "PRAGMA journal_mode=WAL", err, errlen)) || bs_exec(c->db, sql, err, errlen) ||
        (create && bs_exec(c->db, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID", err,
                           errlen)) ||
        bs_prepare(c, "INSERT OR REPLACE INTO kv(k, v) VALUES (?1, ?2)", &c->put, err, errlen) ||
        bs_prepare(c, "SELECT v FROM kv WHERE k = ?1", &c->get, err, errlen) ||
        bs_prepare(c, "SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2", &c->fwd, err, errlen) ||
        bs_prepare(c, "SELECT k, v FROM kv WHERE k < ?1 ORDER BY k DESC LIMIT ?2", &c->rev, err, errlen)) {
        bs_conn_close(c);
        return NULL;
    }
    return c;
}

/* A connection from the pool, or a new one. */
static bs_conn *bs_take(bs_handle *h, char *err, size_t errlen)
{
    for (size_t i = 0; i < h->nslots; i++) {
        if (!atomic_load_explicit(&h->slots[i], memory_order_relaxed))
            continue;
        bs_conn *c = atomic_exchange_explicit(&h->slots[i], NULL, memory_order_acquire);
        if (c)
            return c;
    }
    return bs_conn_open(h, 0, err, errlen);
}

static void bs_give(bs_handle *h, bs_conn *c)
{
    for (size_t i = 0; i < h->nslots; i++) {
        bs_conn *expect = NULL;
        if (atomic_compare_exchange_strong_explicit(&h->slots[i], &expect, c, memory_order_release,
                                                    memory_order_relaxed))
            return;
    }
    bs_conn_close(c);
}

static void bs_destroy(bs_handle *h)
{
    for (size_t i = 0; h->slots && i < h->nslots; i++)
        bs_conn_close(atomic_exchange(&h->slots[i], NULL));
    free(h->slots);
    free(h->path);
    pthread_mutex_destroy(&h->write_lock);
    free(h);
}

static int bs_open(void **out, const bench_config *cfg, char *err, size_t errlen)
{
    bs_handle *h = calloc(1, sizeof *h);
    size_t threads = cfg->threads > 0 ? (size_t)cfg->threads : 1;
    size_t plen = strlen(cfg->dir) + sizeof "/kv.sqlite";
    if (h) {
        h->nslots = 2 * threads + 4;
        h->slots = calloc(h->nslots, sizeof *h->slots);
        h->path = malloc(plen);
    }
    if (!h || !h->slots || !h->path) {
        if (h) {
            free(h->slots);
            free(h->path);
        }
        free(h);
        bench_err_set(err, errlen, "sqlite open: out of memory");
        return -1;
    }
    for (size_t i = 0; i < h->nslots; i++)
        atomic_init(&h->slots[i], NULL);
    snprintf(h->path, plen, "%s/kv.sqlite", cfg->dir);
    pthread_mutex_init(&h->write_lock, NULL);
    h->sync_writes = cfg->sync_writes;
    h->cache_kib = (long)(cfg->cache_bytes / 1024 / threads);
    if (h->cache_kib < 64)
        h->cache_kib = 64;
    bs_conn *c = bs_conn_open(h, 1, err, errlen);
    if (!c) {
        bs_destroy(h);
        return -1;
    }
    bs_give(h, c);
    *out = h;
    return 0;
}

static int bs_bind_blob(sqlite3_stmt *st, int col, const void *p, size_t n)
{
    if (n == 0)
        return sqlite3_bind_zeroblob(st, col, 0); /* a NULL pointer would bind SQL NULL */
    return sqlite3_bind_blob64(st, col, p, n, SQLITE_STATIC);
}

static int bs_put(void *hp, const void *k, size_t kl, const void *v, size_t vl, char *err, size_t errlen)
{
    bs_handle *h = hp;
    bs_conn *c = bs_take(h, err, errlen);
    if (!c)
        return -1;
    int rc = bs_bind_blob(c->put, 1, k, kl);
    if (rc == SQLITE_OK)
        rc = bs_bind_blob(c->put, 2, v, vl);
    if (rc == SQLITE_OK) {
        pthread_mutex_lock(&h->write_lock);
        rc = sqlite3_step(c->put);
        pthread_mutex_unlock(&h->write_lock);
    }
    int ret = 0;
    if (rc != SQLITE_DONE) {
        bench_err_set(err, errlen, "sqlite put: %s", sqlite3_errmsg(c->db));
        ret = -1;
    }
    sqlite3_reset(c->put);
    sqlite3_clear_bindings(c->put);
    bs_give(h, c);
    return ret;
}

/* The n puts in one transaction (BEGIN IMMEDIATE ... COMMIT) under the write lock. */
static int bs_put_batch(void *hp, size_t n, const void *const *k, const size_t *kl, const void *const *v,
                        const size_t *vl, char *err, size_t errlen)
{
    bs_handle *h = hp;
    bs_conn *c = bs_take(h, err, errlen);
    if (!c)
        return -1;
    pthread_mutex_lock(&h->write_lock);
    int rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? SQLITE_DONE : SQLITE_ERROR;
    for (size_t i = 0; i < n && rc == SQLITE_DONE; i++) {
        rc = bs_bind_blob(c->put, 1, k[i], kl[i]);
        if (rc == SQLITE_OK)
            rc = bs_bind_blob(c->put, 2, v[i], vl[i]);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(c->put);
        sqlite3_reset(c->put);
        sqlite3_clear_bindings(c->put);
    }
    int ret = 0;
    if (rc != SQLITE_DONE || sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        bench_err_set(err, errlen, "sqlite batch: %s", sqlite3_errmsg(c->db));
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        ret = -1;
    }
    pthread_mutex_unlock(&h->write_lock);
    bs_give(h, c);
    return ret;
}

static int bs_get(void *hp, const void *k, size_t kl, bench_buf *out, char *err, size_t errlen)
{
    bs_handle *h = hp;
    bs_conn *c = bs_take(h, err, errlen);
    if (!c)
        return -1;
    int ret = 0;
    int rc = bs_bind_blob(c->get, 1, k, kl);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(c->get);
    if (rc == SQLITE_ROW) {
        const void *v = sqlite3_column_blob(c->get, 0);
        int vl = sqlite3_column_bytes(c->get, 0);
        if (bench_buf_set(out, v, (size_t)vl)) {
            bench_err_set(err, errlen, "sqlite get: out of memory");
            ret = -1;
        }
    } else if (rc == SQLITE_DONE) {
        ret = 1;
    } else {
        bench_err_set(err, errlen, "sqlite get: %s", sqlite3_errmsg(c->db));
        ret = -1;
    }
    sqlite3_reset(c->get);
    bs_give(h, c);
    return ret;
}

static int bs_scan(void *hp, const void *start, size_t sl, const void *prefix, size_t plen, int reverse,
                   size_t limit, size_t *visited, char *err, size_t errlen)
{
    bs_handle *h = hp;
    *visited = 0;
    if ((reverse && sl == 0) || limit == 0)
        return 0; /* no key is < "" */
    bs_conn *c = bs_take(h, err, errlen);
    if (!c)
        return -1;
    sqlite3_stmt *st = reverse ? c->rev : c->fwd;
    size_t n = 0;
    volatile unsigned char sink = 0;
    int rc = bs_bind_blob(st, 1, start, sl);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, limit > (size_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)limit);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    while (rc == SQLITE_ROW) {
        const unsigned char *kp = sqlite3_column_blob(st, 0);
        size_t kn = (size_t)sqlite3_column_bytes(st, 0);
        if (plen && (kn < plen || memcmp(kp, prefix, plen) != 0)) {
            rc = SQLITE_DONE;
            break;
        }
        const unsigned char *vp = sqlite3_column_blob(st, 1);
        size_t vn = (size_t)sqlite3_column_bytes(st, 1);
        if (vn)
            sink ^= (unsigned char)(vp[0] ^ vp[vn - 1]);
        n++;
        rc = sqlite3_step(st);
    }
    (void)sink;
    int ret = 0;
    if (rc != SQLITE_DONE) {
        bench_err_set(err, errlen, "sqlite scan: %s", sqlite3_errmsg(c->db));
        ret = -1;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    bs_give(h, c);
    *visited = n;
    return ret;
}

static int bs_settle(void *hp, char *err, size_t errlen)
{
    bs_handle *h = hp;
    bs_conn *c = bs_take(h, err, errlen);
    if (!c)
        return -1;
    pthread_mutex_lock(&h->write_lock);
    int busy = 0, rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &busy, NULL);
    pthread_mutex_unlock(&h->write_lock);
    int ret = 0;
    if (rc != SQLITE_OK) {
        bench_err_set(err, errlen, "sqlite settle: wal_checkpoint: %s", sqlite3_errmsg(c->db));
        ret = -1;
    }
    bs_give(h, c);
    return ret;
}

static int bs_close(void *hp, char *err, size_t errlen)
{
    bs_destroy(hp);
    return 0;
}

const bench_backend bench_backend_sqlite = {
    .name = "sqlite",
    .thread_safe = 1,
    .open = bs_open,
    .put = bs_put,
    .get = bs_get,
    .scan = bs_scan,
    .settle = bs_settle,
    .put_batch = bs_put_batch,
    .close = bs_close,
};
