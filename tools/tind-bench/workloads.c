/*
 * workloads.c -- generators, the workload table and the per-thread
 * operation loops of tind-bench (see workloads.h for the invariants).
 *
 * A loop times every operation with CLOCK_MONOTONIC (about 20 ns through the
 * vDSO) and records it in the thread's histogram for that op type; it
 * publishes its progress in `done` (relaxed) so the harness can sample
 * throughput every second without locks.
 */
#include "workloads.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- rng ---- */
static uint64_t bw_below(bw_rng *r, uint64_t n) { return n ? trng_below(r, n) : 0; }

/* ---- permutation: a 4-round Feistel network on 2*half_bits bits, cycle-walked into [0, n) ---- */
void bw_perm_init(bw_perm *p, uint64_t n, uint64_t seed)
{
    unsigned bits = 2;
    while (bits < 64 && ((uint64_t)1 << bits) < n)
        bits++;
    p->n = n;
    p->half_bits = (bits + 1) / 2;
    uint64_t x = seed ^ 0x5045524d5045524dull;
    for (int i = 0; i < 4; i++)
        p->keys[i] = trng_splitmix(&x);
}

static uint64_t bw_perm_round(uint64_t v, uint64_t key)
{
    uint64_t z = v ^ key;
    z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdull;
    z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53ull;
    return z ^ (z >> 33);
}

uint64_t bw_perm_at(const bw_perm *p, uint64_t i)
{
    uint64_t mask = ((uint64_t)1 << p->half_bits) - 1;
    uint64_t x = i;
    do {
        uint64_t l = x >> p->half_bits, r = x & mask;
        for (int k = 0; k < 4; k++) {
            uint64_t nl = r;
            r = l ^ (bw_perm_round(r, p->keys[k]) & mask);
            l = nl;
        }
        x = (l << p->half_bits) | r;
    } while (x >= p->n);
    return x;
}

/* ---- Zipfian (YCSB's ZipfianGenerator and ScrambledZipfianGenerator) ---- */
void bw_zipf_init(bw_zipf *z, uint64_t items, double theta, double zetan)
{
    if (items < 2)
        items = 2;
    if (zetan <= 0) {
        zetan = 0;
        for (uint64_t i = 1; i <= items; i++)
            zetan += 1.0 / pow((double)i, theta);
    }
    double zeta2 = 1.0 + pow(0.5, theta);
    z->items = items;
    z->theta = theta;
    z->zetan = zetan;
    z->alpha = 1.0 / (1.0 - theta);
    z->eta = (1.0 - pow(2.0 / (double)items, 1.0 - theta)) / (1.0 - zeta2 / zetan);
    z->half_pow_theta = pow(0.5, theta);
}

uint64_t bw_zipf_next(const bw_zipf *z, bw_rng *r)
{
    double u = trng_double(r);
    double uz = u * z->zetan;
    if (uz < 1.0)
        return 0;
    if (uz < 1.0 + z->half_pow_theta)
        return 1;
    uint64_t v = (uint64_t)((double)z->items * pow(z->eta * u - z->eta + 1.0, z->alpha));
    return v >= z->items ? z->items - 1 : v;
}

uint64_t bw_fnv64(uint64_t v)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (int i = 0; i < 8; i++) {
        h ^= v & 0xff;
        h *= 1099511628211ull;
        v >>= 8;
    }
    /* Java's Math.abs on a long, as YCSB does */
    int64_t s = (int64_t)h;
    return s < 0 ? (uint64_t)0 - h : h;
}

const char *bw_dist_name(int dist)
{
    switch (dist) {
    case BW_UNIFORM: return "uniform";
    case BW_ZIPFIAN: return "zipfian";
    case BW_LATEST: return "latest";
    }
    return "?";
}

int bw_dist_parse(const char *s)
{
    for (int d = BW_UNIFORM; d <= BW_LATEST; d++)
        if (strcmp(s, bw_dist_name(d)) == 0)
            return d;
    return -1;
}

/* ---- the workloads (BENCH.md) ---- */
const bw_def bw_defs[] = {
    {"ycsb-a", BW_MIX, 0.50, 0, 0, BW_UNIFORM, 100, {200000, 2000000}, {64, 256},
     "50% reads / 50% updates, uniform, eventual"},
    {"ycsb-b-sync", BW_MIX, 0.95, 1, 0, BW_ZIPFIAN, 100, {200000, 2000000}, {64, 256},
     "95% reads / 5% updates, Zipfian, every update synced"},
    {"ycsb-b-sync-mt", BW_MIX, 0.95, 1, 0, BW_ZIPFIAN, 100, {200000, 2000000}, {64, 256},
     "ycsb-b-sync with 8 client threads (bw_def_threads): concurrent synced updates share syncs (group commit)"},
    {"blobs-4k", BW_MIX, 0.95, 0, 1, BW_ZIPFIAN, 4096, {25000, 250000}, {64, 256},
     "4 KiB values, 95% Zipfian reads / 5% updates, eventual"},
    {"medium", BW_MIX, 0.95, 0, 0, BW_ZIPFIAN, 200, {250000, 2500000}, {8, 64},
     "16 B / 200 B, data ~8x the cache, 95% Zipfian reads / 5% updates"},
    {"feed", BW_FEED, 0.80, 0, 0, BW_ZIPFIAN, 100, {200000, 2000000}, {64, 256},
     "20% append a post, 80% read profile + 20 latest posts (reverse prefix scan)"},
    {"micro", BW_MICRO, 0, 0, 0, BW_UNIFORM, 100, {200000, 2000000}, {64, 256},
     "fillseq, fillrandom, readrandom, seekscan (seek + 100 next), overwrite"},
    {"queue", BW_QUEUE, 0.50, 0, 0, BW_UNIFORM, 100, {100000, 1000000}, {64, 256},
     "a queue: 50% append at the head (and per 100 appends one delete-range of the 100 oldest), "
     "50% reads of live keys"},
    {"counter-merge", BW_COUNTER_MERGE, 0.10, 0, 0, BW_ZIPFIAN, 8, {200000, 2000000}, {64, 256},
     "8-byte counters, Zipfian: 90% increments by merge (uint64 add operator; get + put without one), 10% reads"},
    {"counter-rmw", BW_COUNTER_RMW, 0.10, 0, 0, BW_ZIPFIAN, 8, {200000, 2000000}, {64, 256},
     "8-byte counters, Zipfian: 90% increments by get + put (read-modify-write), 10% reads"},
    {"txn-low", BW_TXN, 0, 0, 0, BW_UNIFORM, 100, {200000, 2000000}, {64, 256},
     "transactions: read 2 uniform keys, write both, commit (retry on conflict): low contention"},
    {"txn-high", BW_TXN, 1, 0, 0, BW_UNIFORM, 100, {200000, 2000000}, {64, 256},
     "the same over 16 hot keys: high contention (abort rate)"},
    {"bulkload", BW_BULK, 0, 0, 0, BW_UNIFORM, 100, {200000, 2000000}, {64, 256},
     "bulk load of 16 B / 100 B pairs by the engine's bulk loader, sorted then unsorted"},
    /* issue 15, write amplification: the steady-state write-heavy row. The
     * load and its settle are not measured (the run starts on a settled
     * tree); w-amp and s-amp cover the run and its final settle. The issue
     * measures it with --seconds 300. */
    {"writeheavy", BW_MIX, 0.10, 0, 0, BW_UNIFORM, 100, {200000, 2000000}, {64, 256},
     "90% overwrites / 10% reads, uniform, eventual: write amplification in steady state (--seconds 300)"},
    /* issue 11: the same with 4 KiB values and key-value separation on
     * (tind's blob files, RocksDB's BlobDB): steady-state write amplification
     * of separated values under overwrites and GC (--seconds 300) */
    {"blobs-writeheavy", BW_MIX, 0.10, 0, 1, BW_UNIFORM, 4096, {25000, 250000}, {64, 256},
     "4 KiB values, 90% overwrites / 10% reads, uniform, eventual: blob write amplification in steady state (--seconds 300)"},
    {NULL, 0, 0, 0, 0, 0, 0, {0, 0}, {0, 0}, NULL},
};

int bw_def_threads(const bw_def *d)
{
    return d && strcmp(d->name, "ycsb-b-sync-mt") == 0 ? 8 : 0;
}

const bw_def *bw_def_find(const char *name)
{
    for (const bw_def *d = bw_defs; d->name; d++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

/* ---- keys ---- */
void bw_key(char out[BW_KEY_SIZE], uint64_t i)
{
    for (int k = BW_KEY_SIZE - 1; k >= 0; k--) {
        out[k] = (char)('0' + i % 10);
        i /= 10;
    }
}

static size_t bw_user_prefix(char *out, uint64_t user)
{
    out[0] = 'u';
    for (int k = 8; k >= 1; k--) {
        out[k] = (char)('0' + user % 10);
        user /= 10;
    }
    return 9;
}

size_t bw_feed_profile_key(char *out, uint64_t user)
{
    size_t n = bw_user_prefix(out, user);
    memcpy(out + n, "#p", 2);
    return n + 2;
}

size_t bw_feed_post_key(char *out, uint64_t user, uint64_t post)
{
    size_t n = bw_user_prefix(out, user);
    memcpy(out + n, "#f#", 3);
    n += 3;
    for (int k = 11; k >= 0; k--) {
        out[n + (size_t)k] = (char)('0' + post % 10);
        post /= 10;
    }
    return n + 12;
}

#define BW_PROFILE_KEY_SIZE 11
#define BW_POST_KEY_SIZE 24

uint64_t bw_live_bytes_loaded(const bw_params *p)
{
    if (p->def->kind == BW_FEED)
        return p->feed_users * (BW_PROFILE_KEY_SIZE + p->profile_value_size) +
               p->feed_users * p->feed_posts_per_user * (BW_POST_KEY_SIZE + p->value_size);
    return p->keys * (BW_KEY_SIZE + p->value_size);
}

/* ---- shared data ---- */
int bw_data_init(bw_data *d, const bw_params *p)
{
    memset(d, 0, sizeof *d);
    d->p = p;
    uint64_t n = p->def->kind == BW_FEED ? p->feed_users : p->keys;
    if (n == 0)
        n = 1;
    bw_perm_init(&d->perm, n, p->seed);
    bw_zipf_init(&d->zipf, 10000000000ull, 0.99, 26.46902820178302);
    if (p->dist == BW_LATEST)
        bw_zipf_init(&d->latest, n, 0.99, 0);
    size_t maxv = p->value_size > p->profile_value_size ? p->value_size : p->profile_value_size;
    d->values_len = (size_t)1 << 20;
    if (d->values_len < 4 * maxv)
        d->values_len = 4 * maxv;
    d->values = malloc(d->values_len);
    if (!d->values)
        return -1;
    bw_rng r;
    trng_seed(&r, p->seed ^ 0x56414c5545ull);
    for (size_t off = 0; off < d->values_len; off += 100) {
        uint8_t chunk[50];
        for (int i = 0; i < 50; i++)
            chunk[i] = (uint8_t)(' ' + trng_next(&r) % 95);
        for (size_t i = 0; i < 100 && off + i < d->values_len; i++)
            d->values[off + i] = chunk[i % 50];
    }
    atomic_init(&d->next_post, p->feed_users * p->feed_posts_per_user);
    atomic_init(&d->queue_head, p->keys);
    atomic_init(&d->queue_tail, 0);
    for (int i = 0; i < BW_MAX_THREADS; i++)
        atomic_init(&d->queue_busy[i], UINT64_MAX);
    return 0;
}

void bw_data_free(bw_data *d)
{
    free(d->values);
    d->values = NULL;
}

static const uint8_t *bw_value(bw_thread *t, size_t len)
{
    bw_data *d = t->data;
    return d->values + bw_below(&t->rng, d->values_len - len);
}

/* A key index (or user index) of the run distribution over [0, n). */
static uint64_t bw_pick(bw_thread *t, uint64_t n)
{
    bw_data *d = t->data;
    switch (d->p->dist) {
    case BW_ZIPFIAN:
        return bw_fnv64(bw_zipf_next(&d->zipf, &t->rng)) % n;
    case BW_LATEST: {
        /* the most recently loaded items are the most popular */
        uint64_t back = bw_zipf_next(&d->latest, &t->rng);
        if (back >= n)
            back = n - 1;
        return bw_perm_at(&d->perm, n - 1 - back);
    }
    default:
        return bw_below(&t->rng, n);
    }
}

/* ---- thread loops ---- */
int bw_mode_is_load(int mode) { return mode <= BW_LOAD_FEED || mode >= BW_LOAD_BULK_SEQ; }

int bw_mode_optypes(int mode, const char **names)
{
    switch (mode) {
    case BW_LOAD_RANDOM:
    case BW_LOAD_SEQ:
    case BW_LOAD_FEED:
        names[0] = "put";
        return 1;
    case BW_RUN_MIX:
        names[0] = "read";
        names[1] = "update";
        return 2;
    case BW_RUN_COUNTER:
        names[0] = "read";
        names[1] = "increment";
        return 2;
    case BW_RUN_FEED:
        names[0] = "read";
        names[1] = "append";
        return 2;
    case BW_RUN_READRANDOM:
        names[0] = "read";
        return 1;
    case BW_RUN_SEEKSCAN:
        names[0] = "seekscan";
        return 1;
    case BW_RUN_OVERWRITE:
        names[0] = "put";
        return 1;
    case BW_RUN_QUEUE:
        names[0] = "read";
        names[1] = "append";
        return 2;
    case BW_RUN_TXN:
        names[0] = "txn";       /* a committed transaction, retries included */
        return 1;
    case BW_LOAD_BULK_SEQ:
    case BW_LOAD_BULK_RANDOM:
        names[0] = "bulk";
        return 1;
    case BW_LOAD_SEQ_BATCH:
        names[0] = "batch";     /* one put_batch of BW_BATCH_SIZE puts */
        return 1;
    }
    return 0;
}

void bw_thread_init(bw_thread *t, const bench_backend *be, void *handle, bw_data *d, int mode, int id,
                    uint64_t begin, uint64_t end, const atomic_int *stop)
{
    memset(t, 0, sizeof *t);
    t->be = be;
    t->handle = handle;
    t->data = d;
    t->mode = mode;
    t->id = id;
    t->begin = begin;
    t->end = end;
    t->stop = stop;
    /* the same stream for every engine: seed, mode and thread number only */
    trng_seed(&t->rng, d->p->seed * 1000003u + (uint64_t)mode * 101u + (uint64_t)id);
    for (int i = 0; i < BW_MAX_OPTYPES; i++)
        bh_init(&t->hist[i]);
    atomic_init(&t->done, 0);
}

void bw_thread_free(bw_thread *t)
{
    free(t->buf.data);
    t->buf.data = NULL;
}

static uint64_t bw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bw_put(bw_thread *t, const char *k, size_t kl, size_t vl)
{
    const uint8_t *v = bw_value(t, vl);
    t->user_bytes += kl + vl;
    return t->be->put(t->handle, k, kl, v, vl, t->err, sizeof t->err);
}

/* A read of a key that must exist with a value of size vl. */
static int bw_get(bw_thread *t, const char *k, size_t kl, size_t vl)
{
    int rc = t->be->get(t->handle, k, kl, &t->buf, t->err, sizeof t->err);
    if (rc < 0)
        return rc;
    if (rc == 1 || t->buf.len != vl)
        t->misses++;
    return 0;
}

/* The key and value size of load item j of mode (BW_LOAD_SEQ_BATCH: key j). */
static size_t bw_load_key(bw_thread *t, int mode, uint64_t j, char *key, size_t *vl)
{
    const bw_params *p = t->data->p;
    *vl = p->value_size;
    switch (mode) {
    case BW_LOAD_SEQ:
    case BW_LOAD_SEQ_BATCH:
        bw_key(key, j);
        return BW_KEY_SIZE;
    case BW_LOAD_RANDOM:
        bw_key(key, bw_perm_at(&t->data->perm, j));
        return BW_KEY_SIZE;
    default: /* BW_LOAD_FEED */
        if (j < p->feed_users) {
            *vl = p->profile_value_size;
            return bw_feed_profile_key(key, bw_perm_at(&t->data->perm, j));
        }
        return bw_feed_post_key(key, (j - p->feed_users) % p->feed_users, j - p->feed_users);
    }
}

/* One load item j: returns the backend status. */
static int bw_load_one(bw_thread *t, uint64_t j)
{
    char key[32];
    size_t vl;
    size_t kl = bw_load_key(t, t->mode, j, key, &vl);
    return bw_put(t, key, kl, vl);
}

/* BW_QUEUE: keys below the result were appended (their puts returned):
 * the head, or the lowest key an append in flight may put. An appender
 * publishes its bound before it takes a key and clears it when the put
 * returns (sequentially consistent: a head read after the take sees the
 * bound); a thread preempted between taking and putting its key, for
 * thousands of the other threads' operations on a loaded machine, holds
 * the bound down meanwhile. */
static uint64_t bw_queue_done(const bw_thread *t)
{
    bw_data *d = t->data;
    uint64_t done = atomic_load(&d->queue_head);
    for (int i = 0; i < d->p->threads && i < BW_MAX_THREADS; i++) {
        uint64_t b = atomic_load(&d->queue_busy[i]);
        if (b < done)
            done = b;
    }
    return done;
}

/* BW_RUN_QUEUE: the preload is keys [0, keys) in order, a queue of that
 * length; an append puts key `head` and, every 100th, deletes the 100
 * oldest keys with one range deletion (the queue keeps its length); a read
 * gets a random key of the live window (one a concurrent trim may just have
 * deleted counts as a miss only when it was far from the tail, one not yet
 * appended never). */
static int bw_queue_one(bw_thread *t, int *type)
{
    const bw_params *p = t->data->p;
    char key[32], hi[32];
    if (trng_double(&t->rng) < p->def->read_fraction) {
        *type = 0;
        uint64_t tail = atomic_load(&t->data->queue_tail);
        uint64_t done = bw_queue_done(t);
        uint64_t span = done > tail + 200 ? done - tail - 200 : 1;
        uint64_t id = tail + 100 + trng_below(&t->rng, span); /* clear of a trim in flight */
        bw_key(key, id);
        uint64_t misses = t->misses;
        int rc = bw_get(t, key, BW_KEY_SIZE, p->value_size);
        /* two trims by the other threads since tail was read can take id:
         * a trim moves the tail before it deletes, so that is seen here */
        if (!rc && t->misses != misses && (id >= done || id < atomic_load(&t->data->queue_tail)))
            t->misses = misses;
        return rc;
    }
    *type = 1;
    if (!t->be->remove_range) {
        snprintf(t->err, sizeof t->err, "%s has no range deletion", t->be->name);
        return -1;
    }
    _Atomic uint64_t *busy = &t->data->queue_busy[t->id % BW_MAX_THREADS];
    atomic_store(busy, atomic_load(&t->data->queue_head));
    uint64_t at = atomic_fetch_add(&t->data->queue_head, 1);
    bw_key(key, at);
    int rc = bw_put(t, key, BW_KEY_SIZE, p->value_size);
    atomic_store(busy, UINT64_MAX);
    if (rc || (at + 1) % 100)
        return rc;
    uint64_t tail = atomic_fetch_add_explicit(&t->data->queue_tail, 100, memory_order_relaxed);
    bw_key(key, tail);
    bw_key(hi, tail + 100);
    return t->be->remove_range(t->handle, key, BW_KEY_SIZE, hi, BW_KEY_SIZE, t->err, sizeof t->err);
}

/* One run operation; *type = the op type recorded. */
static int bw_run_one(bw_thread *t, int *type)
{
    const bw_params *p = t->data->p;
    char key[32], start[32];
    size_t visited = 0;
    int rc;
    switch (t->mode) {
    case BW_RUN_MIX:
        bw_key(key, bw_pick(t, p->keys));
        if (trng_double(&t->rng) < p->def->read_fraction) {
            *type = 0;
            return bw_get(t, key, BW_KEY_SIZE, p->value_size);
        }
        *type = 1;
        return bw_put(t, key, BW_KEY_SIZE, p->value_size);
    case BW_RUN_FEED: {
        uint64_t user = bw_pick(t, p->feed_users);
        if (trng_double(&t->rng) < p->def->read_fraction) {
            *type = 0;
            /* an absent user (--feed-absent): an id past every user; finding
             * nothing is then right, not a miss */
            int absent = p->feed_absent > 0 && trng_double(&t->rng) < p->feed_absent;
            uint64_t reader = absent ? p->feed_users + user : user;
            size_t n = bw_feed_profile_key(key, reader);
            if (absent)
                rc = t->be->get(t->handle, key, n, &t->buf, t->err, sizeof t->err) < 0 ? -1 : 0;
            else
                rc = bw_get(t, key, n, p->profile_value_size);
            if (rc < 0)
                return rc;
            /* the latest posts: backwards from "<user>#f$" ('$' follows '#') within "<user>#f#" */
            n = bw_feed_post_key(key, reader, 0) - 12;
            memcpy(start, key, n);
            start[n - 1] = '$';
            rc = t->be->scan(t->handle, start, n, key, n, 1, BW_FEED_LATEST, &visited, t->err, sizeof t->err);
            t->scanned += visited;
            uint64_t want = p->feed_posts_per_user < BW_FEED_LATEST ? p->feed_posts_per_user : BW_FEED_LATEST;
            if (rc == 0 && !absent && visited < want)
                t->misses++;
            return rc;
        }
        *type = 1;
        uint64_t post = atomic_fetch_add_explicit(&t->data->next_post, 1, memory_order_relaxed);
        size_t n = bw_feed_post_key(key, user, post);
        t->items_added++;
        t->live_bytes_added += n + p->value_size;
        return bw_put(t, key, n, p->value_size);
    }
    case BW_RUN_COUNTER: {
        bw_key(key, bw_pick(t, p->keys));
        if (trng_double(&t->rng) < p->def->read_fraction) {
            *type = 0;
            return bw_get(t, key, BW_KEY_SIZE, 8);
        }
        *type = 1;
        uint8_t one[8] = {1};
        t->user_bytes += BW_KEY_SIZE + 8;
        if (p->def->kind == BW_COUNTER_MERGE && t->be->merge)
            return t->be->merge(t->handle, key, BW_KEY_SIZE, one, 8, t->err, sizeof t->err);
        /* read-modify-write, also for engines without a merge operator (not
         * atomic across threads: a benchmark, not a counter) */
        rc = t->be->get(t->handle, key, BW_KEY_SIZE, &t->buf, t->err, sizeof t->err);
        if (rc < 0)
            return rc;
        uint64_t n = 0;
        if (rc == 0 && t->buf.len == 8)
            for (int b = 0; b < 8; b++)
                n |= (uint64_t)t->buf.data[b] << (8 * b);
        else
            t->misses++;
        n++;
        for (int b = 0; b < 8; b++)
            one[b] = (uint8_t)(n >> (8 * b));
        return t->be->put(t->handle, key, BW_KEY_SIZE, one, 8, t->err, sizeof t->err);
    }
    case BW_RUN_READRANDOM:
        *type = 0;
        bw_key(key, bw_pick(t, p->keys));
        return bw_get(t, key, BW_KEY_SIZE, p->value_size);
    case BW_RUN_SEEKSCAN:
        *type = 0;
        bw_key(key, bw_pick(t, p->keys));
        rc = t->be->scan(t->handle, key, BW_KEY_SIZE, NULL, 0, 0, BW_SCAN_LENGTH, &visited, t->err,
                         sizeof t->err);
        t->scanned += visited;
        if (rc == 0 && visited == 0)
            t->misses++;
        return rc;
    case BW_RUN_QUEUE:
        return bw_queue_one(t, type);
    case BW_RUN_TXN: {
        /* txn-high (read_fraction 1) picks among BW_TXN_HOT_KEYS keys */
        uint64_t n = p->def->read_fraction > 0 && p->keys > BW_TXN_HOT_KEYS ? BW_TXN_HOT_KEYS : p->keys;
        char k2[32];
        *type = 0;
        bw_key(key, bw_pick(t, n));
        bw_key(k2, bw_pick(t, n));
        for (;;) {
            const uint8_t *v = bw_value(t, p->value_size);
            rc = t->be->txn_rmw(t->handle, key, k2, BW_KEY_SIZE, v, p->value_size, t->err, sizeof t->err);
            if (rc != 2)
                break;
            t->aborts++;
            if (atomic_load_explicit(t->stop, memory_order_relaxed))
                return 0;
        }
        if (rc == 0)
            t->user_bytes += 2 * (BW_KEY_SIZE + p->value_size);
        return rc;
    }
    default: /* BW_RUN_OVERWRITE */
        *type = 0;
        bw_key(key, bw_pick(t, p->keys));
        return bw_put(t, key, BW_KEY_SIZE, p->value_size);
    }
}

/* The pairs of a bulk load: keys [begin, end), in order or permuted. */
typedef struct bw_bulk_src {
    bw_thread *t;
    uint64_t j;
    char key[BW_KEY_SIZE];
} bw_bulk_src;

static int bw_bulk_next(void *ctx, const void **k, size_t *kl, const void **v, size_t *vl)
{
    bw_bulk_src *s = ctx;
    bw_thread *t = s->t;
    if (s->j >= t->end || atomic_load_explicit(t->stop, memory_order_relaxed))
        return 0;
    bw_key(s->key, t->mode == BW_LOAD_BULK_SEQ ? s->j : bw_perm_at(&t->data->perm, s->j));
    s->j++;
    size_t n = t->data->p->value_size;
    *k = s->key;
    *kl = BW_KEY_SIZE;
    *v = bw_value(t, n);
    *vl = n;
    t->user_bytes += BW_KEY_SIZE + n;
    atomic_store_explicit(&t->done, s->j - t->begin, memory_order_relaxed);
    return 1;
}

/* One bulk_load call over the thread's range; its time is the one sample. */
static void bw_bulk(bw_thread *t)
{
    if (!t->be->bulk_load) {
        snprintf(t->err, sizeof t->err, "%s has no bulk loader in tind-bench", t->be->name);
        t->failed = 1;
        return;
    }
    bw_bulk_src s = {t, t->begin, {0}};
    uint64_t count = 0, t0 = bw_now_ns();
    if (t->be->bulk_load(t->handle, bw_bulk_next, &s, t->mode == BW_LOAD_BULK_SEQ, &count, t->err,
                         sizeof t->err) < 0) {
        t->failed = 1;
        return;
    }
    bh_record(&t->hist[0], bw_now_ns() - t0);
    atomic_store_explicit(&t->done, count, memory_order_relaxed);
}

/* A load in batches: items [begin, end) of the thread's mode, `per` puts per
 * call of the backend's put_batch (puts one by one when it has none); one
 * latency sample per batch, `done` counts puts. micro/fillbatch (BW_BATCH_SIZE
 * in key order) and the preloads under --load-batch. */
static void bw_batches(bw_thread *t, size_t per)
{
    static _Thread_local char keys[BW_BATCH_SIZE][32];
    const void *kp[BW_BATCH_SIZE], *vp[BW_BATCH_SIZE];
    size_t kl[BW_BATCH_SIZE], vl[BW_BATCH_SIZE];
    if (per > BW_BATCH_SIZE)
        per = BW_BATCH_SIZE;
    for (uint64_t j = t->begin; j < t->end;) {
        if (atomic_load_explicit(t->stop, memory_order_relaxed))
            break;
        size_t m = 0;
        for (; m < per && j < t->end; m++, j++) {
            kl[m] = bw_load_key(t, t->mode, j, keys[m], &vl[m]);
            kp[m] = keys[m];
            vp[m] = bw_value(t, vl[m]);
            t->user_bytes += kl[m] + vl[m];
        }
        uint64_t t0 = bw_now_ns();
        int rc = 0;
        if (t->be->put_batch)
            rc = t->be->put_batch(t->handle, m, kp, kl, vp, vl, t->err, sizeof t->err);
        else
            for (size_t i = 0; i < m && rc >= 0; i++)
                rc = t->be->put(t->handle, kp[i], kl[i], vp[i], vl[i], t->err, sizeof t->err);
        if (rc < 0) {
            t->failed = 1;
            return;
        }
        bh_record(&t->hist[0], bw_now_ns() - t0);
        atomic_store_explicit(&t->done, j - t->begin, memory_order_relaxed);
    }
}

void *bw_thread_main(void *arg)
{
    bw_thread *t = arg;
    uint64_t done = 0;
    if (t->mode == BW_LOAD_SEQ_BATCH || (t->batch > 1 && bw_mode_is_load(t->mode))) {
        bw_batches(t, t->mode == BW_LOAD_SEQ_BATCH ? BW_BATCH_SIZE : t->batch);
        return NULL;
    }
    if (t->mode == BW_LOAD_BULK_SEQ || t->mode == BW_LOAD_BULK_RANDOM) {
        bw_bulk(t);
        return NULL;
    }
    if (bw_mode_is_load(t->mode)) {
        for (uint64_t j = t->begin; j < t->end; j++) {
            /* another thread failed: the load is void, stop early */
            if ((j & 1023) == 0 && atomic_load_explicit(t->stop, memory_order_relaxed))
                break;
            uint64_t t0 = bw_now_ns();
            int rc = bw_load_one(t, j);
            uint64_t t1 = bw_now_ns();
            if (rc < 0) {
                t->failed = 1;
                break;
            }
            bh_record(&t->hist[0], t1 - t0);
            atomic_store_explicit(&t->done, ++done, memory_order_relaxed);
        }
        return NULL;
    }
    uint64_t quota = t->end - t->begin;
    while (quota == 0 || done < quota) {
        if (atomic_load_explicit(t->stop, memory_order_relaxed))
            break;
        int type = 0;
        uint64_t t0 = bw_now_ns();
        int rc = bw_run_one(t, &type);
        uint64_t t1 = bw_now_ns();
        if (rc < 0) {
            t->failed = 1;
            break;
        }
        bh_record(&t->hist[type], t1 - t0);
        atomic_store_explicit(&t->done, ++done, memory_order_relaxed);
    }
    return NULL;
}
