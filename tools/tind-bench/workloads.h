/*
 * workloads.h -- the key/value streams and operation loops of tind-bench.
 *
 * Everything here is deterministic from the run's seed and uses O(1) memory
 * whatever the key count: key i is the 16-digit zero-padded decimal of i
 * (the db_bench format); a random load order is a seeded Feistel permutation
 * of [0, n) evaluated on the fly (cycle walking); Zipfian draws are YCSB's
 * scrambled Zipfian (theta 0.99, 10^10 items, FNV-1a-64 scrambling, the
 * precomputed zeta 26.46902820178302); values are slices of one 1 MiB
 * buffer made of 50 random bytes repeated once per 100 bytes, so LZ4
 * compresses them to about half, like db_bench's default.
 *
 * Thread-safety: a bw_data is built once and then only read; each benchmark
 * thread owns its bw_thread (rng, buffers, histograms). The only shared
 * mutable things are bw_thread.done (read by the sampler) and the feed's
 * post-id counter, both atomics.
 */
#ifndef TIND_BENCH_WORKLOADS_H
#define TIND_BENCH_WORKLOADS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "tind_internal.h"
#include "histogram.h"

#define BW_KEY_SIZE 16
#define BW_MAX_OPTYPES 2
#define BW_SCAN_LENGTH 100      /* micro seekscan */
#define BW_FEED_LATEST 20       /* posts read by a feed read */
#define BW_BATCH_SIZE 1000      /* puts per batch of micro/fillbatch */

/* ---- random numbers: the engine's xoshiro256** (util/rand.h) ---- */
typedef trng bw_rng;

/* ---- a bijection of [0, n), O(1) memory ---- */
typedef struct bw_perm {
    uint64_t n;
    unsigned half_bits;
    uint64_t keys[4];
} bw_perm;
void bw_perm_init(bw_perm *p, uint64_t n, uint64_t seed);
uint64_t bw_perm_at(const bw_perm *p, uint64_t i);

/* ---- YCSB Zipfian ---- */
typedef struct bw_zipf {
    uint64_t items;
    double theta, zetan, alpha, eta, half_pow_theta;
} bw_zipf;
/* zetan = 0 computes zeta(items, theta) (O(items)). */
void bw_zipf_init(bw_zipf *z, uint64_t items, double theta, double zetan);
uint64_t bw_zipf_next(const bw_zipf *z, bw_rng *r);          /* [0, items), 0 most popular */
uint64_t bw_fnv64(uint64_t v);

enum bw_dist { BW_UNIFORM = 0, BW_ZIPFIAN = 1, BW_LATEST = 2 };
const char *bw_dist_name(int dist);
int bw_dist_parse(const char *s);                             /* -1 when unknown */

/* ---- workloads ---- */
/* BW_COUNTER_*: 8-byte counters, read_fraction reads, the rest increments by
 * a merge (the engine's uint64-add operator) or by get + put. */
enum bw_kind { BW_MIX, BW_FEED, BW_MICRO, BW_QUEUE, BW_COUNTER_MERGE, BW_COUNTER_RMW, BW_TXN, BW_BULK };
/* BW_TXN: read_fraction 0 = the transactions pick among every key (low
 * contention), > 0 = among the first BW_TXN_HOT_KEYS keys (high). */
#define BW_TXN_HOT_KEYS 16

enum bw_profile { BW_PROFILE_QUICK = 0, BW_PROFILE_FULL = 1 };

typedef struct bw_def {
    const char *name;
    int kind;
    double read_fraction;       /* BW_MIX: reads; BW_FEED: feed reads; BW_TXN: > 0 = hot keys */
    int sync_writes;
    int blob_values;
    int dist;                   /* default key distribution */
    size_t value_size;
    uint64_t keys[2];           /* per profile; BW_FEED: posts preloaded */
    size_t cache_mb[2];         /* per profile */
    const char *about;
} bw_def;

extern const bw_def bw_defs[];                /* terminated by name == NULL */
const bw_def *bw_def_find(const char *name);
/* Client threads a workload runs with unless --threads gives more than 1
 * (0: the --threads setting). ycsb-b-sync-mt: 8. */
int bw_def_threads(const bw_def *d);

/* The settings of one (engine, workload) run, after profile defaults and flags. */
typedef struct bw_params {
    const bw_def *def;
    uint64_t keys;              /* preloaded keys (BW_FEED: preloaded posts) */
    size_t value_size;          /* BW_FEED: post value size */
    size_t profile_value_size;  /* BW_FEED */
    uint64_t feed_users;
    uint64_t feed_posts_per_user;
    size_t cache_bytes;
    int threads;
    uint64_t ops;               /* run-phase operations (0: run for `seconds`) */
    double seconds;
    int dist;
    uint64_t seed;
    int encrypt;                /* --encrypt (tind only): encryption at rest */
    double feed_absent;         /* BW_FEED: fraction of reads of absent users (ids past feed_users) */
} bw_params;

enum { BW_MAX_THREADS = 256 }; /* --threads at most */

/* Shared state of a run: generators and the value buffer (read-only), the
 * counters of the feed and the queue. */
typedef struct bw_data {
    const bw_params *p;
    bw_perm perm;               /* load order of keys (BW_FEED: of users) */
    bw_zipf zipf;               /* scrambled Zipfian over 10^10 items */
    bw_zipf latest;             /* Zipfian over the preloaded count, for BW_LATEST */
    uint8_t *values;
    size_t values_len;
    _Atomic uint64_t next_post; /* BW_FEED: the next post id */
    _Atomic uint64_t queue_head;/* BW_QUEUE: the next key appended */
    _Atomic uint64_t queue_tail;/* BW_QUEUE: keys below it are deleted */
    /* BW_QUEUE: per thread, a lower bound of the key its append in flight
     * puts (UINT64_MAX: none): keys below every bound and the head are in */
    _Atomic uint64_t queue_busy[BW_MAX_THREADS];
} bw_data;

int bw_data_init(bw_data *d, const bw_params *p);
void bw_data_free(bw_data *d);

/* Live logical bytes (keys + values) after the preload, and per written item. */
uint64_t bw_live_bytes_loaded(const bw_params *p);

/* What one thread does in a phase. */
enum bw_mode {
    BW_LOAD_RANDOM,     /* keys perm(i) for i in [begin, end) */
    BW_LOAD_SEQ,        /* keys i in order */
    BW_LOAD_FEED,       /* users' profiles then posts */
    BW_RUN_MIX,         /* reads / updates, read_fraction */
    BW_RUN_FEED,        /* appends / feed reads */
    BW_RUN_READRANDOM,
    BW_RUN_SEEKSCAN,
    BW_RUN_OVERWRITE,
    BW_RUN_QUEUE,       /* append at the head / delete-range the tail; reads */
    BW_RUN_COUNTER,     /* reads / increments (merge or get + put by the kind) */
    BW_RUN_TXN,         /* read-modify-write transactions of two keys (backend txn_rmw) */
    BW_LOAD_BULK_SEQ,   /* keys i in order, one bulk_load call per thread */
    BW_LOAD_BULK_RANDOM,/* keys perm(i), unsorted, one bulk_load call per thread */
    BW_LOAD_SEQ_BATCH,  /* keys i in order, BW_BATCH_SIZE puts per put_batch call (micro/fillbatch) */
};
/* The op types a mode records (names for output); returns the count. */
int bw_mode_optypes(int mode, const char **names);
int bw_mode_is_load(int mode);

typedef struct bw_thread {
    const bench_backend *be;
    void *handle;
    bw_data *data;
    int mode;
    int id;
    uint64_t begin, end;        /* load: index range; run: end - begin = op quota (0 = until stop) */
    const atomic_int *stop;
    bw_rng rng;
    bench_hist hist[BW_MAX_OPTYPES];
    _Atomic uint64_t done;      /* operations completed so far */
    uint64_t user_bytes;        /* keys + values written */
    uint64_t items_added;       /* new live items (feed appends) */
    uint64_t live_bytes_added;
    uint64_t misses;            /* reads of keys that must exist that found nothing / a wrong size */
    uint64_t scanned;           /* entries visited by scans */
    uint64_t aborts;            /* BW_RUN_TXN: attempts that conflicted and were retried */
    size_t batch;               /* a load mode: > 1 = puts per put_batch call (--load-batch) */
    bench_buf buf;
    int failed;
    char err[256];
} bw_thread;

/* Per-thread state; bw_thread_free releases the buffer. */
void bw_thread_init(bw_thread *t, const bench_backend *be, void *handle, bw_data *d, int mode, int id,
                    uint64_t begin, uint64_t end, const atomic_int *stop);
void bw_thread_free(bw_thread *t);
/* The loop; a pthread start routine taking a bw_thread *. Stops at the
 * first backend error (t->failed, t->err). */
void *bw_thread_main(void *arg);

/* Key formats. */
void bw_key(char out[BW_KEY_SIZE], uint64_t i);
size_t bw_feed_profile_key(char *out, uint64_t user);
size_t bw_feed_post_key(char *out, uint64_t user, uint64_t post);

#endif
