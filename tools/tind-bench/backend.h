/*
 * backend.h -- what tind-bench needs from an engine. One backend per engine
 * (backend_tind.c, backend_rocksdb.c, backend_leveldb.c, backend_lmdb.c,
 * backend_sqlite.c, backend_wiredtiger.c); a peer is compiled in when its
 * Debian package is found (TIND_BENCH_HAVE_<NAME> is defined), and listed in
 * bench_backends[] (backends.c).
 *
 * Every backend is configured for the same durability and cache size from
 * bench_config; each documents its settings in its file header and in
 * docs/BENCHMARKS.md. Calls return 0 on success, 1 for "not found" (get),
 * and -1 on error with a message in err (bench_err_set).
 * A handle is used by the benchmark's threads concurrently when the backend
 * sets `thread_safe`; otherwise the harness runs it with one thread.
 */
#ifndef TIND_BENCH_BACKEND_H
#define TIND_BENCH_BACKEND_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_config {
    const char *dir;            /* an empty folder owned by this backend for the run */
    size_t cache_bytes;         /* block cache / page cache budget */
    int sync_writes;            /* 1 = every write durable before it returns (fsync/fdatasync) */
    int blob_values;            /* large values: key-value separation where the engine has it */
    size_t value_size_hint;
    int threads;
    int encrypt;                /* tind: encryption at rest (--encrypt; other engines ignore it) */
    int counter_merge;          /* values are 8-byte little-endian counters that `merge` adds to:
                                 * set up the engine's uint64-add merge operator */
    int tind_prefix;            /* tind only: a prefix extractor, separator '#' (tind-bench --tind-prefix) */
} bench_config;

typedef struct bench_buf {
    uint8_t *data;              /* owned by the harness; backends grow it with bench_buf_set */
    size_t len;
    size_t cap;
} bench_buf;

int bench_buf_set(bench_buf *b, const void *p, size_t n);

typedef struct bench_backend {
    const char *name;           /* "tind", "tind-inline", "rocksdb", "leveldb", "lmdb", "sqlite", "wiredtiger" */
    int thread_safe;            /* may one handle be used from several threads at once */
    int (*open)(void **h, const bench_config *cfg, char *err, size_t errlen);
    int (*put)(void *h, const void *k, size_t kl, const void *v, size_t vl, char *err, size_t errlen);
    /* value copied into out; 1 = not found */
    int (*get)(void *h, const void *k, size_t kl, bench_buf *out, char *err, size_t errlen);
    /* Visits up to limit keys from start (inclusive) forward, or backward
     * from the last key < start ... for reverse, only those with prefix
     * (plen = 0: no prefix bound); *visited = keys seen. The value of every
     * visited key is read (touched), not just the key. */
    int (*scan)(void *h, const void *start, size_t sl, const void *prefix, size_t plen, int reverse,
                size_t limit, size_t *visited, char *err, size_t errlen);
    /* Make everything written so far durable and bring the engine to a
     * steady state before timing (flush memtables; may be a no-op). */
    int (*settle)(void *h, char *err, size_t errlen);
    /* Merges an 8-byte little-endian addend into k's counter (cfg->counter_merge);
     * NULL when the engine has no merge operator (the counter-merge workload
     * then increments by get + put). */
    int (*merge)(void *h, const void *k, size_t kl, const void *v, size_t vl, char *err, size_t errlen);
    int (*close)(void *h, char *err, size_t errlen);
    /* Deletes every key in [lo, hi) as one operation (a range tombstone);
     * NULL when the engine has none (the queue workload then fails). */
    int (*remove_range)(void *h, const void *lo, size_t ll, const void *hi, size_t hl, char *err, size_t errlen);
    /* A read-modify-write transaction (the txn-* workloads): reads k1 and k2
     * (kl bytes each), writes v (vl bytes) to both, commits. 0 = committed,
     * 2 = conflict (nothing applied; the harness retries), -1 = error.
     * NULL: the engine runs no txn-* workload. */
    int (*txn_rmw)(void *h, const void *k1, const void *k2, size_t kl, const void *v, size_t vl, char *err,
                   size_t errlen);
    /* A transaction flavour of an engine listed beside it (rocksdb-otxn):
     * it runs the txn-* workloads only. */
    int txn_only;
    /* Optional (NULL: the engine has none): loads every pair next gives
     * (1 = a pair, 0 = the end; pointers valid until the next call) with the
     * engine's bulk loader, keys in increasing order when sorted; *count =
     * pairs loaded. The bulkload workload's only call. */
    int (*bulk_load)(void *h, int (*next)(void *ctx, const void **k, size_t *kl, const void **v, size_t *vl),
                     void *ctx, int sorted, uint64_t *count, char *err, size_t errlen);
    /* Optional (NULL: the harness puts one by one): writes the n pairs as one
     * atomic batch (the engine's write batch or one transaction), with the
     * run's durability. micro/fillbatch's call. */
    int (*put_batch)(void *h, size_t n, const void *const *k, const size_t *kl, const void *const *v,
                     const size_t *vl, char *err, size_t errlen);
} bench_backend;

/* The engine's library version ("7.8.3"), or "unknown" (backends.c). */
const char *bench_backend_version(const bench_backend *be);

/* NULL-terminated list of the backends compiled in; tind first. */
extern const bench_backend *const bench_backends[];
const bench_backend *bench_backend_find(const char *name);
void bench_err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
