/*
 * concurrent.c -- the concurrent campaign of tind-stress (TESTING.md item 7;
 * run it under ThreadSanitizer: TSAN-LABEL).
 *
 * T threads (--threads, default 4) share one database of two keyspaces
 * ("leveled", "tiered") with small memtables and tables, so background
 * flushes and compactions run all the time. Thread t owns the keys
 * "t<t>/k<i>" (i < RANGE) of both keyspaces and the key "t<t>/~progress" of
 * keyspace 0; it alone writes them, so it knows exactly what they hold:
 *   - puts, removes, range deletions of its own keys, and batches (2-20
 *     operations across both keyspaces plus the progress key; durability
 *     none / buffer / SYNC_DATA); one batch in three is a transaction
 *     (optimistic or single writer) that reads each key through itself
 *     before writing it (its own earlier writes included) and must commit:
 *     no thread writes another's keys, so a conflict is a violation;
 *   - point reads (get, contains, value_size) and range iterators in both
 *     directions over its own keys: must equal its model exactly;
 *   - snapshots, up to three held at once for many operations while flushes
 *     and compactions run: reads and iterators at a snapshot must equal the
 *     copy of the model taken with it, every time they are repeated;
 *   - reads and prefix scans of other threads' keys: every key parses, keys
 *     come in strict order, every value carries a valid checksum of its key
 *     and names its owner and key; the progress key of thread u read by a
 *     reader is >= what u had committed before the read began, <= what u had
 *     started when it ended, and never goes backwards for that reader (also
 *     at a snapshot, bounded by the progress around the snapshot's creation);
 *   - tind_first/tind_last well-formedness, manual flushes, rare manual
 *     compactions;
 *   - issue 13: half of the removes are single deletes (reads never depend
 *     on their contract); every thread merges +1 into CCOUNTERS shared keys
 *     of a keyspace "counter" (the built-in counter operator): a read of a
 *     counter is >= the merges done before it began and <= those started
 *     when it ended, and after a reopen it equals the merges done.
 * The run is cut into phases; between phases every thread stops, the
 * database is closed and reopened, and every thread's keys are checked
 * against its model (point reads and iteration), and every progress key
 * against the last committed batch.
 *
 * Values: u32 thread | u32 key index | u64 version (the thread's write
 * counter) | filler | u64 checksum (common.h: stress_seal).
 *
 * --mixed (issue 10's 8-thread campaign) adds, in the same run:
 *   - scratch keyspaces "scratch0".."scratch3" that any thread creates
 *     (tind_keyspace_open), writes and reads back, scans, flushes, compacts
 *     and deletes while the others use them: a read-back of one's own write
 *     on a handle gives exactly that value or TIND_ENOENT (the keyspace was
 *     deleted meanwhile; a handle never sees a later keyspace of that name),
 *     every scanned entry is well-formed, and a call on a deleted keyspace's
 *     handle fails with TIND_ENOENT, never anything else;
 *   - tind_keyspace_list (sorted, holds the two main keyspaces);
 *   - whole-database close and reopen in the middle of the phase, by one
 *     worker at a time. The handoff: every worker holds a shared gate (a
 *     writer-preferring rwlock) around each operation; a worker that wins the
 *     close request waits until every other worker has parked (released its
 *     snapshots and batch, outside the gate), takes the gate exclusively,
 *     closes once with its own batch still live (must be TIND_EBUSY, the
 *     database still usable), frees it, closes (must be TIND_OK), reopens, checks
 *     every thread's keys against its model (acknowledged writes survive a
 *     clean close) and lets the others go on with the new handles.
 *
 * Determinism: each thread's choices come from (seed, thread, phase); the
 * interleaving does not. On failure the seed and the first violation are
 * printed and the folder is kept.
 * Thread-safety: the shared struct holds atomics and the failure message
 * (under fail_mu); everything else belongs to one thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "stress.h"
#include "tind.h"
#include "tind_internal.h"

#define CKS 2
#define RANGE 300
#define SNAP_HOLD 3
#define CVAL_MIN 24
#define CVAL_MAX 3200
#define CKEY_MAX 64
#define SCRATCH 4             /* --mixed: scratch keyspaces */
#define CCOUNTERS 8           /* shared counters of keyspace "counter" */

static const char *const cks_names[CKS] = {"leveled", "tiered"};

typedef struct ccell {
    uint64_t ver;
    uint32_t vlen;
    uint8_t present;
} ccell;

typedef struct csnap {
    tind_snapshot *snap;
    ccell copy[CKS][RANGE];
    uint64_t *lo, *hi;        /* per thread: progress committed before / started after creation */
    uint64_t *seen;           /* per thread: progress read at it (UINT64_MAX = not yet) */
    int uses;
} csnap;

struct cshared;

typedef struct cthread {
    struct cshared *sh;
    int id;
    pthread_t th;
    trng r;
    ccell exp[CKS][RANGE];
    uint64_t ver;             /* writes committed by this thread */
    uint64_t *last_seen;      /* per thread: the largest progress this thread read */
    csnap snaps[SNAP_HOLD];
    int nsnaps;
    tind_batch *batch;
    tind_keyspace *scratch_ks[SCRATCH]; /* --mixed: the last handle of each (maybe of a deleted keyspace) */
    tind_read_options *ro;
    uint8_t val[CVAL_MAX];
} cthread;

typedef struct cshared {
    tind_db *db;
    tind_keyspace *ks[CKS];
    tind_keyspace *counter_ks;    /* issue 13: the shared counters */
    _Atomic uint64_t merges_started[CCOUNTERS], merges_done[CCOUNTERS];
    int threads;
    uint64_t seed;
    int phase;
    double end;
    _Atomic uint64_t *committed;  /* per thread: version of its last committed batch (the progress key) */
    _Atomic uint64_t *started;    /* per thread: version of the batch it is committing */
    _Atomic int stop;
    _Atomic int done;             /* the campaign is over: the watchdog leaves */
    pthread_mutex_t fail_mu;
    char fail[1200];
    _Atomic uint64_t merges, counter_reads;
    _Atomic uint64_t txns; /* of batches: committed as transactions */
    _Atomic uint64_t ops, puts, removes, batches, gets, iters, iter_items, snaps, snap_checks, foreign, flushes,
        compactions;
    /* --mixed */
    int mixed;
    int bg;                 /* background threads */
    char path[4200];
    pthread_rwlock_t gate;        /* shared around each operation, exclusive to close and reopen */
    _Atomic int close_req;        /* a worker is closing: the others park */
    _Atomic int parked;           /* workers parked or finished (holding no handle) */
    _Atomic uint64_t ks_creates, ks_deletes, ks_enoent, scratch_ops, closes, lists;
} cshared;

static void cfail(cshared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cfail(cshared *sh, const char *fmt, ...)
{
    pthread_mutex_lock(&sh->fail_mu);
    if (!sh->fail[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->fail, sizeof sh->fail, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&sh->fail_mu);
    atomic_store(&sh->stop, 1);
}

#define CPROGRESS UINT32_MAX   /* the key index of the progress key */

static size_t ckey(int t, uint32_t idx, uint8_t *out)
{
    if (idx == CPROGRESS)
        return (size_t)snprintf((char *)out, CKEY_MAX, "t%03d/~progress", t);
    int n = snprintf((char *)out, CKEY_MAX, "t%03d/k%05u", t, (unsigned)idx);
    if (idx % 7 == 2) {
        size_t tail = 1 + idx % 30;
        out[n++] = '/';
        memset(out + n, 'x', tail);
        n += (int)tail;
    }
    return (size_t)n;
}

/* Parses a key of any thread: 0 and (t, idx), or -1. */
static int ckey_parse(const uint8_t *k, size_t n, int threads, int *t, uint32_t *idx)
{
    uint8_t buf[CKEY_MAX];
    if (n < 6 || k[0] != 't' || k[4] != '/')
        return -1;
    uint32_t v;
    if (stress_digits(k + 1, 3, &v) != 0 || v >= (uint32_t)threads)
        return -1;
    *t = (int)v;
    if (n == 14 && memcmp(k + 5, "~progress", 9) == 0) {
        *idx = CPROGRESS;
        return 0;
    }
    if (n < 11 || k[5] != 'k')
        return -1;
    uint32_t x;
    if (stress_digits(k + 6, 5, &x) != 0)
        return -1;
    if (x >= RANGE || ckey((int)v, x, buf) != n || memcmp(buf, k, n) != 0)
        return -1;
    *idx = x;
    return 0;
}

static void cvalue(uint64_t seed, int t, uint32_t idx, uint64_t ver, const uint8_t *key, size_t klen, uint32_t vlen,
                   uint8_t *out)
{
    enc_u32(out, (uint32_t)t);
    enc_u32(out + 4, idx);
    enc_u64(out + 8, ver);
    uint64_t x = seed ^ ((uint64_t)t << 48) ^ ((uint64_t)idx << 32) ^ ver;
    uint64_t pat = trng_splitmix(&x);
    for (uint32_t i = 16; i < vlen - 8; i++)
        out[i] = (uint8_t)('A' + ((pat >> ((i % 8) * 8)) & 31));
    stress_seal(out, vlen, key, klen);
}

static int cvalue_check(const uint8_t *key, size_t klen, const uint8_t *v, size_t vlen, int t, uint32_t idx,
                        uint64_t *ver)
{
    if (vlen < CVAL_MIN || vlen > CVAL_MAX || !stress_sealed(v, vlen, key, klen))
        return -1;
    if ((int)dec_u32(v) != t || dec_u32(v + 4) != idx)
        return -1;
    *ver = dec_u64(v + 8);
    return 0;
}

/* The model's value of (ks, idx) against what was read; 0 when equal. */
static int ccheck_own(cthread *c, const ccell *want, int k, uint32_t idx, int present, const uint8_t *v,
                      size_t vlen, const char *how)
{
    uint8_t key[CKEY_MAX];
    size_t kn = ckey(c->id, idx, key);
    if (present == want->present) {
        if (!present)
            return 0;
        if (vlen == want->vlen) {
            static _Thread_local uint8_t buf[CVAL_MAX];
            cvalue(c->sh->seed, c->id, idx, want->ver, key, kn, want->vlen, buf);
            if (memcmp(buf, v, vlen) == 0)
                return 0;
        }
    }
    uint64_t got = 0;
    int ok = present ? cvalue_check(key, kn, v, vlen, c->id, idx, &got) : 0;
    cfail(c->sh, "thread %d, %s, keyspace '%s' key '%.*s': want %s (version %" PRIu64 ", %u bytes), read %s%s "
          "(version %" PRIu64 ", %zu bytes)", c->id, how, cks_names[k], (int)kn, (const char *)key,
          want->present ? "present" : "absent", want->ver, want->vlen, present ? "present" : "absent",
          present && ok != 0 ? " with a bad checksum" : "", got, vlen);
    return 1;
}

/* ---- writes ---- */

static uint32_t pick_vlen(trng *r)
{
    return trng_below(r, 40) == 0 ? 1000 + (uint32_t)trng_below(r, 2000) : CVAL_MIN + (uint32_t)trng_below(r, 120);
}

static void op_put_remove(cthread *c, int remove)
{
    cshared *sh = c->sh;
    int k = (int)trng_below(&c->r, CKS);
    uint32_t idx = (uint32_t)trng_below(&c->r, RANGE);
    uint8_t key[CKEY_MAX];
    size_t kn = ckey(c->id, idx, key);
    uint64_t ver = c->ver + 1;
    int rc;
    uint32_t vlen = 0;
    uint32_t span = 0; /* a range deletion of the thread's keys [idx, idx + span) */
    if (remove && trng_below(&c->r, 8) == 0)
        span = 1 + (uint32_t)trng_below(&c->r, 20);
    if (span) {
        uint8_t hi[CKEY_MAX];
        uint32_t end = idx + span < RANGE ? idx + span : RANGE;
        rc = tind_remove_range(sh->ks[k], key, kn, hi, ckey(c->id, end, hi));
    } else if (remove) {
        /* half single deletes: whatever the key's history, they read as removes */
        rc = trng_below(&c->r, 2) ? tind_single_remove(sh->ks[k], key, kn) : tind_remove(sh->ks[k], key, kn);
    } else {
        vlen = pick_vlen(&c->r);
        cvalue(sh->seed, c->id, idx, ver, key, kn, vlen, c->val);
        rc = tind_put(sh->ks[k], key, kn, c->val, vlen);
    }
    if (rc) {
        cfail(sh, "thread %d: %s: %s (%s)", c->id, remove ? "remove" : "put", tind_strerror(rc),
              tind_errmsg(sh->db));
        return;
    }
    c->ver = ver;
    c->exp[k][idx] = (ccell){ver, vlen, (uint8_t)!remove};
    for (uint32_t j = idx + 1; j < idx + span && j < RANGE; j++)
        c->exp[k][j] = (ccell){ver, 0, 0};
    atomic_fetch_add_explicit(remove ? &sh->removes : &sh->puts, 1, memory_order_relaxed);
}

typedef struct cop {
    int k;
    uint32_t idx;
    ccell cell;
} cop;

/* In a transaction (one batch in three): reads (k, idx) through it, tracked,
 * and checks it against the model with the transaction's own earlier writes
 * (ops[0..i)) over it: read-your-own-writes. */
static int txn_read_own(cthread *c, const tind_read_options *ro, const cop *ops, int i, int k, uint32_t idx)
{
    const ccell *want = &c->exp[k][idx];
    for (int j = 0; j < i; j++)
        if (ops[j].k == k && ops[j].idx == idx)
            want = &ops[j].cell;
    uint8_t key[CKEY_MAX];
    size_t kn = ckey(c->id, idx, key);
    void *v = NULL;
    size_t vn = 0;
    int rc = tind_get(c->sh->ks[k], key, kn, ro, &v, &vn);
    if (rc == TIND_OK || rc == TIND_NOT_FOUND) {
        ccheck_own(c, want, k, idx, rc == TIND_OK, v, vn, "read in a transaction");
        rc = TIND_OK;
    }
    tind_free(v);
    return rc;
}

/* A batch of 2-20 operations plus the progress key; one in three goes
 * through a transaction (optimistic or single writer) that reads each key
 * before writing it. The keys are the thread's own, which nobody else
 * writes: the commit must never conflict. */
static void op_batch(cthread *c)
{
    cshared *sh = c->sh;
    uint64_t ver = c->ver + 1;
    int n = 2 + (int)trng_below(&c->r, 19);
    uint8_t key[CKEY_MAX];
    cop ops[21];
    int rc = TIND_OK;
    tind_txn *t = NULL;
    tind_read_options *ro = NULL;
    if (ver % 3 == 0) {
        rc = tind_txn_begin(sh->db, ver % 2 ? TIND_TXN_OPTIMISTIC : TIND_TXN_SINGLE_WRITER, &t);
        if (!rc && !(ro = tind_read_options_new()))
            rc = TIND_ENOMEM;
        if (!rc)
            tind_read_options_set_txn(ro, t);
    }
    for (int i = 0; i < n && !rc; i++) {
        int k = (int)trng_below(&c->r, CKS);
        uint32_t idx = (uint32_t)trng_below(&c->r, RANGE);
        size_t kn = ckey(c->id, idx, key);
        ops[i].k = k;
        ops[i].idx = idx;
        if (t && (rc = txn_read_own(c, ro, ops, i, k, idx)))
            break;
        if (trng_below(&c->r, 4) == 0) {
            rc = t ? tind_txn_remove(t, sh->ks[k], key, kn) : tind_batch_remove(c->batch, sh->ks[k], key, kn);
            ops[i].cell = (ccell){ver, 0, 0};
        } else {
            uint32_t vlen = pick_vlen(&c->r);
            cvalue(sh->seed, c->id, idx, ver, key, kn, vlen, c->val);
            rc = t ? tind_txn_put(t, sh->ks[k], key, kn, c->val, vlen)
                   : tind_batch_put(c->batch, sh->ks[k], key, kn, c->val, vlen);
            ops[i].cell = (ccell){ver, vlen, 1};
        }
    }
    size_t kn = ckey(c->id, CPROGRESS, key);
    cvalue(sh->seed, c->id, CPROGRESS, ver, key, kn, CVAL_MIN, c->val);
    if (!rc)
        rc = t ? tind_txn_put(t, sh->ks[0], key, kn, c->val, CVAL_MIN)
               : tind_batch_put(c->batch, sh->ks[0], key, kn, c->val, CVAL_MIN);
    uint64_t d = trng_below(&c->r, 10);
    int durability = d < 7 ? TIND_PERSIST_NONE : d < 8 ? TIND_PERSIST_BUFFER : TIND_PERSIST_SYNC_DATA;
    tind_batch_set_durability(c->batch, durability);
    atomic_store(&sh->started[c->id], ver);
    if (t) {
        tind_txn_set_durability(t, durability);
        if (!rc)
            rc = tind_txn_commit(t);
        else
            tind_txn_rollback(t);
        tind_read_options_free(ro);
        if (!rc)
            atomic_fetch_add_explicit(&sh->txns, 1, memory_order_relaxed);
    } else if (!rc) {
        rc = tind_batch_commit(c->batch);
    }
    if (rc) {
        cfail(sh, "thread %d: %s: %s (%s)", c->id, t ? "transaction" : "batch", tind_strerror(rc),
              tind_errmsg(sh->db));
        return;
    }
    atomic_store(&sh->committed[c->id], ver);
    c->ver = ver;
    for (int i = 0; i < n; i++)
        c->exp[ops[i].k][ops[i].idx] = ops[i].cell;
    atomic_fetch_add_explicit(&sh->batches, 1, memory_order_relaxed);
}

/* ---- shared counters (issue 13) ---- */

static void counter_key(int i, char *out) { snprintf(out, 8, "n%d", i); }

/* Reads counter i: TIND_OK with *v, or cfail. */
static int counter_read(cshared *sh, int i, uint64_t *v, const char *how)
{
    char key[8];
    counter_key(i, key);
    void *val = NULL;
    size_t n = 0;
    int rc = tind_get(sh->counter_ks, key, strlen(key), NULL, &val, &n);
    *v = 0;
    if (rc == TIND_OK && n == 8) {
        for (int b = 0; b < 8; b++)
            *v |= (uint64_t)((uint8_t *)val)[b] << (8 * b);
    } else if (rc == TIND_OK) {
        cfail(sh, "%s: counter %d holds %zu bytes, not 8", how, i, n);
        rc = TIND_ECORRUPT;
    } else if (rc != TIND_NOT_FOUND) {
        cfail(sh, "%s: counter %d: %s (%s)", how, i, tind_strerror(rc), tind_errmsg(sh->db));
    } else {
        rc = TIND_OK; /* never merged yet: 0 */
    }
    tind_free(val);
    return rc;
}

static void op_counter(cthread *c)
{
    cshared *sh = c->sh;
    int i = (int)trng_below(&c->r, CCOUNTERS);
    if (trng_below(&c->r, 3)) {
        char key[8];
        counter_key(i, key);
        static const uint8_t one[8] = {1};
        atomic_fetch_add(&sh->merges_started[i], 1);
        int rc = tind_merge(sh->counter_ks, key, strlen(key), one, 8);
        if (rc) {
            cfail(sh, "thread %d: merge: %s (%s)", c->id, tind_strerror(rc), tind_errmsg(sh->db));
            return;
        }
        atomic_fetch_add(&sh->merges_done[i], 1);
        atomic_fetch_add_explicit(&sh->merges, 1, memory_order_relaxed);
        return;
    }
    uint64_t lo = atomic_load(&sh->merges_done[i]), v;
    if (counter_read(sh, i, &v, "counter read"))
        return;
    uint64_t hi = atomic_load(&sh->merges_started[i]);
    if (v < lo || v > hi)
        cfail(sh, "thread %d: counter %d reads %" PRIu64 ", outside the merges done before (%" PRIu64
              ") and started after (%" PRIu64 ")", c->id, i, v, lo, hi);
    atomic_fetch_add_explicit(&sh->counter_reads, 1, memory_order_relaxed);
}

/* ---- reads of one's own keys ---- */

static void own_get(cthread *c, const ccell (*model)[RANGE], const tind_read_options *ro, const char *how)
{
    cshared *sh = c->sh;
    int k = (int)trng_below(&c->r, CKS);
    uint32_t idx = (uint32_t)trng_below(&c->r, RANGE);
    uint8_t key[CKEY_MAX];
    size_t kn = ckey(c->id, idx, key);
    void *v = NULL;
    size_t vn = 0;
    int rc;
    switch (trng_below(&c->r, 4)) {
    case 0:
        rc = tind_contains(sh->ks[k], key, kn, ro);
        if (rc != TIND_OK && rc != TIND_NOT_FOUND)
            break;
        if ((rc == TIND_OK) != model[k][idx].present) {
            cfail(sh, "thread %d, %s: contains '%.*s' in '%s' says %s", c->id, how, (int)kn, (const char *)key,
                  cks_names[k], rc == TIND_OK ? "present" : "absent");
            return;
        }
        rc = TIND_OK;
        break;
    case 1: {
        uint64_t size = 0;
        rc = tind_value_size(sh->ks[k], key, kn, ro, &size);
        if (rc != TIND_OK && rc != TIND_NOT_FOUND)
            break;
        if ((rc == TIND_OK) != model[k][idx].present || (rc == TIND_OK && size != model[k][idx].vlen)) {
            cfail(sh, "thread %d, %s: value_size '%.*s' in '%s': %s %" PRIu64 ", want %u", c->id, how, (int)kn,
                  (const char *)key, cks_names[k], tind_strerror(rc), size, model[k][idx].vlen);
            return;
        }
        rc = TIND_OK;
        break;
    }
    default:
        rc = tind_get(sh->ks[k], key, kn, ro, &v, &vn);
        if (rc == TIND_OK || rc == TIND_NOT_FOUND) {
            ccheck_own(c, &model[k][idx], k, idx, rc == TIND_OK, v, vn, how);
            rc = TIND_OK;
        }
        tind_free(v);
        break;
    }
    if (rc)
        cfail(sh, "thread %d, %s: read: %s (%s)", c->id, how, tind_strerror(rc), tind_errmsg(sh->db));
    atomic_fetch_add_explicit(&sh->gets, 1, memory_order_relaxed);
}

/* Iterates [a, b) of one's own keys of keyspace k in either direction and
 * compares with the model. */
static void own_iter(cthread *c, const ccell (*model)[RANGE], const tind_read_options *ro, int k, uint32_t a,
                     uint32_t b, int backward, const char *how)
{
    cshared *sh = c->sh;
    uint8_t lo[CKEY_MAX], hi[CKEY_MAX];
    size_t lon = ckey(c->id, a, lo), hin = ckey(c->id, b, hi);
    tind_iter *it;
    int rc = tind_iter_range(sh->ks[k], lo, lon, hi, hin, ro, &it);
    if (rc) {
        cfail(sh, "thread %d, %s: iterator: %s (%s)", c->id, how, tind_strerror(rc), tind_errmsg(sh->db));
        return;
    }
    /* the expected keys in visiting order */
    uint32_t want = backward ? b : a;
    uint64_t items = 0;
    for (backward ? tind_iter_last(it) : tind_iter_first(it); tind_iter_valid(it);
         backward ? tind_iter_prev(it) : tind_iter_next(it)) {
        size_t kn, vn;
        const uint8_t *key = tind_iter_key(it, &kn);
        const uint8_t *v = tind_iter_value(it, &vn);
        int t;
        uint32_t idx;
        items++;
        if (ckey_parse(key, kn, sh->threads, &t, &idx) != 0 || t != c->id || idx < a || idx >= b) {
            cfail(sh, "thread %d, %s: iterator over [%u, %u) of '%s' returned key '%.*s'", c->id, how, a, b,
                  cks_names[k], (int)(kn < 60 ? kn : 60), (const char *)key);
            break;
        }
        /* every key skipped on the way must be absent in the model */
        int order_ok = backward ? idx < want : idx >= want;
        if (!order_ok) {
            cfail(sh, "thread %d, %s: iterator over '%s' out of order at '%.*s'", c->id, how, cks_names[k],
                  (int)kn, (const char *)key);
            break;
        }
        if (backward) {
            for (uint32_t j = want; j-- > idx + 1;)
                if (ccheck_own(c, &model[k][j], k, j, 0, NULL, 0, how))
                    goto out;
            want = idx;
        } else {
            for (uint32_t j = want; j < idx; j++)
                if (ccheck_own(c, &model[k][j], k, j, 0, NULL, 0, how))
                    goto out;
            want = idx + 1;
        }
        if (ccheck_own(c, &model[k][idx], k, idx, 1, v, vn, how))
            goto out;
    }
    rc = tind_iter_status(it);
    if (rc) {
        cfail(sh, "thread %d, %s: iterator ended with %s (%s)", c->id, how, tind_strerror(rc), tind_errmsg(sh->db));
        goto out;
    }
    if (backward) {
        for (uint32_t j = want; j-- > a;)
            if (ccheck_own(c, &model[k][j], k, j, 0, NULL, 0, how))
                goto out;
    } else {
        for (uint32_t j = want; j < b; j++)
            if (ccheck_own(c, &model[k][j], k, j, 0, NULL, 0, how))
                goto out;
    }
out:
    tind_iter_free(it);
    atomic_fetch_add_explicit(&sh->iters, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->iter_items, items, memory_order_relaxed);
}

static void own_iter_random(cthread *c, const ccell (*model)[RANGE], const tind_read_options *ro, const char *how)
{
    int k = (int)trng_below(&c->r, CKS);
    uint32_t a = (uint32_t)trng_below(&c->r, RANGE), b = (uint32_t)trng_below(&c->r, RANGE + 1);
    if (trng_below(&c->r, 4) == 0) {
        a = 0;
        b = RANGE;
    }
    if (a > b) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    own_iter(c, model, ro, k, a, b, (int)trng_below(&c->r, 2), how);
}

/* ---- reads of other threads' keys ---- */

/* A progress value v of thread u read now (or at a snapshot): lo <= v <= hi. */
static int check_progress(cthread *c, int u, const uint8_t *v, size_t vn, int present, uint64_t lo, uint64_t hi,
                          uint64_t *out, const char *how)
{
    cshared *sh = c->sh;
    uint8_t key[CKEY_MAX];
    size_t kn = ckey(u, CPROGRESS, key);
    uint64_t ver = 0;
    if (present && cvalue_check(key, kn, v, vn, u, CPROGRESS, &ver) != 0) {
        cfail(sh, "thread %d, %s: progress key of thread %d has a bad value (%zu bytes)", c->id, how, u, vn);
        return -1;
    }
    if (ver < lo || ver > hi) {
        cfail(sh, "thread %d, %s: progress of thread %d reads %" PRIu64 ", but it had committed %" PRIu64
              " before the read and started no more than %" PRIu64 " after it", c->id, how, u, ver, lo, hi);
        return -1;
    }
    *out = ver;
    return 0;
}

static void foreign_read(cthread *c)
{
    cshared *sh = c->sh;
    if (sh->threads < 2)
        return;
    int u = (int)trng_below(&c->r, (uint64_t)sh->threads - 1);
    if (u >= c->id)
        u++;
    uint8_t key[CKEY_MAX];
    void *v = NULL;
    size_t vn = 0;
    /* progress: bounded and monotonic for this reader */
    size_t kn = ckey(u, CPROGRESS, key);
    uint64_t lo = atomic_load(&sh->committed[u]);
    int rc = tind_get(sh->ks[0], key, kn, NULL, &v, &vn);
    uint64_t hi = atomic_load(&sh->started[u]);
    if (rc != TIND_OK && rc != TIND_NOT_FOUND) {
        cfail(sh, "thread %d: get progress of %d: %s (%s)", c->id, u, tind_strerror(rc), tind_errmsg(sh->db));
        return;
    }
    uint64_t ver;
    if (check_progress(c, u, v, vn, rc == TIND_OK, lo, hi, &ver, "live read") == 0) {
        if (ver < c->last_seen[u])
            cfail(sh, "thread %d: progress of thread %d went back from %" PRIu64 " to %" PRIu64, c->id, u,
                  c->last_seen[u], ver);
        c->last_seen[u] = ver;
    }
    tind_free(v);
    v = NULL;
    /* a data key: well-formed when present */
    int k = (int)trng_below(&c->r, CKS);
    uint32_t idx = (uint32_t)trng_below(&c->r, RANGE);
    kn = ckey(u, idx, key);
    rc = tind_get(sh->ks[k], key, kn, NULL, &v, &vn);
    if (rc == TIND_OK && cvalue_check(key, kn, v, vn, u, idx, &ver) != 0)
        cfail(sh, "thread %d: key '%.*s' of thread %d has a bad value (%zu bytes)", c->id, (int)kn,
              (const char *)key, u, vn);
    else if (rc != TIND_OK && rc != TIND_NOT_FOUND)
        cfail(sh, "thread %d: get: %s (%s)", c->id, tind_strerror(rc), tind_errmsg(sh->db));
    tind_free(v);
    atomic_fetch_add_explicit(&sh->foreign, 1, memory_order_relaxed);
}

/* Walks it in a random direction (at most limit entries) checking every
 * entry: a key of thread u (of any thread when u < 0; the progress key only
 * where progress_ok), strictly ordered, a valid value. Counts the walk; the
 * iterator's status is the caller's. */
static void scan_check(cthread *c, tind_iter *it, int u, int progress_ok, const char *where, uint64_t limit)
{
    cshared *sh = c->sh;
    int backward = (int)trng_below(&c->r, 2);
    uint8_t prev[CKEY_MAX];
    size_t prevn = 0;
    uint64_t items = 0;
    for (backward ? tind_iter_last(it) : tind_iter_first(it); tind_iter_valid(it) && items < limit;
         backward ? tind_iter_prev(it) : tind_iter_next(it)) {
        size_t kn, vn;
        const uint8_t *key = tind_iter_key(it, &kn);
        const uint8_t *v = tind_iter_value(it, &vn);
        int t;
        uint32_t idx;
        uint64_t ver;
        items++;
        if (ckey_parse(key, kn, sh->threads, &t, &idx) != 0 || (u >= 0 && t != u) ||
            (idx == CPROGRESS && !progress_ok)) {
            cfail(sh, "thread %d: %s returned key '%.*s'", c->id, where, (int)(kn < 60 ? kn : 60),
                  (const char *)key);
            break;
        }
        if (prevn) {
            size_t m = prevn < kn ? prevn : kn;
            int cmp = memcmp(prev, key, m);
            if (cmp == 0)
                cmp = prevn < kn ? -1 : prevn > kn ? 1 : 0;
            if (backward ? cmp <= 0 : cmp >= 0) {
                cfail(sh, "thread %d: %s out of order at '%.*s'", c->id, where, (int)kn, (const char *)key);
                break;
            }
        }
        memcpy(prev, key, kn);
        prevn = kn;
        if (cvalue_check(key, kn, v, vn, t, idx, &ver) != 0) {
            cfail(sh, "thread %d: %s: key '%.*s' has a bad value (%zu bytes)", c->id, where, (int)kn,
                  (const char *)key, vn);
            break;
        }
    }
    atomic_fetch_add_explicit(&sh->iters, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->iter_items, items, memory_order_relaxed);
}

/* A prefix scan of thread u's keys (u may be any thread): well-formed. */
static void foreign_scan(cthread *c, int u, int k, const tind_read_options *ro)
{
    cshared *sh = c->sh;
    char prefix[16], where[64];
    int pn = snprintf(prefix, sizeof prefix, "t%03d/", u);
    tind_iter *it;
    int rc = tind_iter_prefix(sh->ks[k], prefix, (size_t)pn, ro, &it);
    if (rc) {
        cfail(sh, "thread %d: prefix iterator: %s (%s)", c->id, tind_strerror(rc), tind_errmsg(sh->db));
        return;
    }
    snprintf(where, sizeof where, "scan of thread %d's keys in '%s'", u, cks_names[k]);
    scan_check(c, it, u, k == 0, where, 2000);
    rc = tind_iter_status(it);
    if (rc)
        cfail(sh, "thread %d: scan ended with %s (%s)", c->id, tind_strerror(rc), tind_errmsg(sh->db));
    tind_iter_free(it);
}

static void first_last(cthread *c)
{
    cshared *sh = c->sh;
    int k = (int)trng_below(&c->r, CKS), last = (int)trng_below(&c->r, 2);
    void *key = NULL, *v = NULL;
    size_t kn = 0, vn = 0;
    int rc = last ? tind_last(sh->ks[k], NULL, &key, &kn, &v, &vn) : tind_first(sh->ks[k], NULL, &key, &kn, &v, &vn);
    int t;
    uint32_t idx;
    uint64_t ver;
    if (rc == TIND_OK) {
        if (ckey_parse(key, kn, sh->threads, &t, &idx) != 0 || cvalue_check(key, kn, v, vn, t, idx, &ver) != 0)
            cfail(sh, "thread %d: tind_%s of '%s' gave a malformed entry", c->id, last ? "last" : "first",
                  cks_names[k]);
    } else if (rc != TIND_NOT_FOUND) {
        cfail(sh, "thread %d: tind_%s: %s (%s)", c->id, last ? "last" : "first", tind_strerror(rc),
              tind_errmsg(sh->db));
    }
    tind_free(key);
    tind_free(v);
    atomic_fetch_add_explicit(&sh->gets, 1, memory_order_relaxed);
}

/* ---- snapshots ---- */

static void snap_take(cthread *c)
{
    cshared *sh = c->sh;
    csnap *s = &c->snaps[c->nsnaps];
    for (int u = 0; u < sh->threads; u++)
        s->lo[u] = atomic_load(&sh->committed[u]);
    int rc = tind_snapshot_new(sh->db, &s->snap);
    if (rc) {
        cfail(sh, "thread %d: snapshot: %s (%s)", c->id, tind_strerror(rc), tind_errmsg(sh->db));
        return;
    }
    for (int u = 0; u < sh->threads; u++) {
        s->hi[u] = atomic_load(&sh->started[u]);
        s->seen[u] = UINT64_MAX;
    }
    memcpy(s->copy, c->exp, sizeof s->copy);
    s->uses = 0;
    c->nsnaps++;
    atomic_fetch_add_explicit(&sh->snaps, 1, memory_order_relaxed);
}

static void snap_check(cthread *c, csnap *s)
{
    cshared *sh = c->sh;
    tind_read_options_set_snapshot(c->ro, s->snap);
    const ccell(*model)[RANGE] = (const ccell(*)[RANGE])s->copy;
    for (int i = 0; i < 4; i++)
        own_get(c, model, c->ro, "read at a snapshot");
    own_iter_random(c, model, c->ro, "iteration at a snapshot");
    if (sh->threads > 1) {
        int u = (int)trng_below(&c->r, (uint64_t)sh->threads);
        if (u != c->id) {
            uint8_t key[CKEY_MAX];
            size_t kn = ckey(u, CPROGRESS, key);
            void *v = NULL;
            size_t vn = 0;
            int rc = tind_get(sh->ks[0], key, kn, c->ro, &v, &vn);
            uint64_t ver;
            if (rc != TIND_OK && rc != TIND_NOT_FOUND)
                cfail(sh, "thread %d: get at a snapshot: %s", c->id, tind_strerror(rc));
            else if (check_progress(c, u, v, vn, rc == TIND_OK, s->lo[u], s->hi[u], &ver, "read at a snapshot") == 0) {
                if (s->seen[u] != UINT64_MAX && s->seen[u] != ver)
                    cfail(sh, "thread %d: the snapshot's progress of thread %d changed from %" PRIu64 " to %" PRIu64,
                          c->id, u, s->seen[u], ver);
                s->seen[u] = ver;
            }
            tind_free(v);
        }
        if (trng_below(&c->r, 4) == 0)
            foreign_scan(c, (int)trng_below(&c->r, (uint64_t)sh->threads), (int)trng_below(&c->r, CKS), c->ro);
    }
    tind_read_options_set_snapshot(c->ro, NULL);
    s->uses++;
    atomic_fetch_add_explicit(&sh->snap_checks, 1, memory_order_relaxed);
}

static void snap_release(cthread *c, int i)
{
    tind_snapshot_free(c->snaps[i].snap);
    c->snaps[i].snap = NULL;
    csnap tmp = c->snaps[i];
    c->snaps[i] = c->snaps[c->nsnaps - 1];
    c->snaps[c->nsnaps - 1] = tmp;
    c->nsnaps--;
}

/* ---- --mixed: scratch keyspaces, close and reopen ---- */

static void csleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void scratch_name(int j, char *out) { snprintf(out, 16, "scratch%d", j); }

static int scratch_open(cthread *c, int j, tind_keyspace **ks)
{
    cshared *sh = c->sh;
    char name[16];
    scratch_name(j, name);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 16 * 1024);
    tind_ks_options_set_table_size(ko, 16 * 1024);
    tind_ks_options_set_l0_threshold(ko, 2);
    if (j & 1)
        tind_ks_options_set_compaction(ko, TIND_COMPACTION_TIERED);
    /* a third of the time the handle kept from before: its keyspace may have
     * been deleted (and re-created) since */
    if (c->scratch_ks[j] && trng_below(&c->r, 3) == 0) {
        tind_ks_options_free(ko);
        *ks = c->scratch_ks[j];
        return TIND_OK;
    }
    int existed = tind_keyspace_exists(sh->db, name) == TIND_OK;
    int rc = tind_keyspace_open(sh->db, name, ko, ks);
    tind_ks_options_free(ko);
    if (rc)
        cfail(sh, "thread %d: open keyspace '%s': %s (%s)", c->id, name, tind_strerror(rc), tind_errmsg(sh->db));
    else if (!existed)
        atomic_fetch_add_explicit(&sh->ks_creates, 1, memory_order_relaxed);
    c->scratch_ks[j] = rc ? NULL : *ks;
    return rc;
}

/* A call on a scratch keyspace: OK, or TIND_ENOENT once it was deleted. */
static int scratch_rc(cthread *c, int rc, const char *what)
{
    if (rc == TIND_ENOENT) {
        atomic_fetch_add_explicit(&c->sh->ks_enoent, 1, memory_order_relaxed);
        return 1;
    }
    if (rc != TIND_OK) {
        cfail(c->sh, "thread %d: %s on a scratch keyspace: %s (%s)", c->id, what, tind_strerror(rc),
              tind_errmsg(c->sh->db));
        return 1;
    }
    return 0;
}

static void scratch_op(cthread *c)
{
    cshared *sh = c->sh;
    int j = (int)trng_below(&c->r, SCRATCH);
    uint64_t what = trng_below(&c->r, 100);
    tind_keyspace *ks;
    atomic_fetch_add_explicit(&sh->scratch_ops, 1, memory_order_relaxed);
    if (what < 15) {
        char name[16];
        scratch_name(j, name);
        int rc = tind_keyspace_delete(sh->db, name);
        if (rc == TIND_OK)
            atomic_fetch_add_explicit(&sh->ks_deletes, 1, memory_order_relaxed);
        else if (rc != TIND_NOT_FOUND)
            cfail(sh, "thread %d: delete keyspace '%s': %s (%s)", c->id, name, tind_strerror(rc),
                  tind_errmsg(sh->db));
        return;
    }
    if (what < 20) {
        char **names;
        size_t n;
        int rc = tind_keyspace_list(sh->db, &names, &n);
        if (rc) {
            cfail(sh, "thread %d: keyspace list: %s", c->id, tind_strerror(rc));
            return;
        }
        int main_seen = 0;
        for (size_t i = 0; i < n; i++) {
            if (i && strcmp(names[i - 1], names[i]) >= 0)
                cfail(sh, "thread %d: keyspace list not sorted at '%s'", c->id, names[i]);
            main_seen += !strcmp(names[i], cks_names[0]) || !strcmp(names[i], cks_names[1]);
        }
        if (main_seen != CKS)
            cfail(sh, "thread %d: keyspace list lacks a main keyspace (%zu names)", c->id, n);
        tind_free(names);
        atomic_fetch_add_explicit(&sh->lists, 1, memory_order_relaxed);
        return;
    }
    if (scratch_open(c, j, &ks))
        return;
    if (what < 65) {
        /* write one's own key and read it back on the same handle */
        uint32_t idx = (uint32_t)trng_below(&c->r, RANGE);
        uint8_t key[CKEY_MAX];
        size_t kn = ckey(c->id, idx, key);
        uint32_t vlen = pick_vlen(&c->r);
        uint64_t ver = ++c->ver;
        cvalue(sh->seed, c->id, idx, ver, key, kn, vlen, c->val);
        if (scratch_rc(c, tind_put(ks, key, kn, c->val, vlen), "put"))
            return;
        void *v = NULL;
        size_t vn = 0;
        int rc = tind_get(ks, key, kn, NULL, &v, &vn);
        uint64_t got = 0;
        if (rc == TIND_OK && (cvalue_check(key, kn, v, vn, c->id, idx, &got) != 0 || got != ver || vn != vlen))
            cfail(sh, "thread %d: scratch%d: read back '%.*s': version %" PRIu64 " (%zu bytes), wrote %" PRIu64
                  " (%u bytes)", c->id, j, (int)kn, (const char *)key, got, vn, ver, vlen);
        else if (rc == TIND_NOT_FOUND)
            cfail(sh, "thread %d: scratch%d: own write '%.*s' not found on the same handle", c->id, j, (int)kn,
                  (const char *)key);
        else if (rc != TIND_OK)
            scratch_rc(c, rc, "get");
        tind_free(v);
    } else if (what < 90) {
        /* a scan: every entry well-formed (any thread's key) */
        tind_iter *it;
        char where[32];
        if (scratch_rc(c, tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it), "iterator"))
            return;
        snprintf(where, sizeof where, "scan of scratch%d", j);
        scan_check(c, it, -1, 0, where, 500);
        int rc = tind_iter_status(it);
        if (rc)
            scratch_rc(c, rc, "scan");
        tind_iter_free(it);
    } else if (what < 97) {
        scratch_rc(c, tind_flush(ks), "flush");
    } else {
        scratch_rc(c, tind_compact(ks), "compact");
    }
}

static void release_handles(cthread *c)
{
    while (c->nsnaps)
        snap_release(c, c->nsnaps - 1);
    tind_batch_free(c->batch);
    c->batch = NULL;
    memset(c->scratch_ks, 0, sizeof c->scratch_ks); /* freed by the close */
}

/* Outside the gate, holding no handle, until the closer is done. */
static void park(cthread *c)
{
    cshared *sh = c->sh;
    release_handles(c);
    atomic_fetch_add(&sh->parked, 1);
    while (atomic_load(&sh->close_req))
        csleep_ms(1);
    atomic_fetch_sub(&sh->parked, 1);
}

static int copen(cshared *sh, const char *path);
static void full_check(cshared *sh, cthread *ts);

/* Called inside the gate (shared). Closes and reopens the database when no
 * other close is under way; the other workers park meanwhile. */
static void close_reopen(cthread *c, cthread *ts)
{
    cshared *sh = c->sh;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&sh->close_req, &expect, 1))
        return;
    /* the closer keeps its batch for the first try: close refuses a live one */
    tind_batch *live = c->batch;
    c->batch = NULL;
    release_handles(c);
    pthread_rwlock_unlock(&sh->gate);
    while (atomic_load(&sh->parked) < sh->threads - 1)
        csleep_ms(1);
    pthread_rwlock_wrlock(&sh->gate);
    int rc = tind_close(sh->db);
    if (rc != TIND_EBUSY)
        cfail(sh, "thread %d: close with a live batch: %s, not TIND_EBUSY", c->id, tind_strerror(rc));
    tind_batch_free(live);
    /* still fully usable after the refusal */
    uint8_t key[CKEY_MAX];
    size_t kn = ckey(c->id, CPROGRESS, key);
    rc = tind_contains(sh->ks[0], key, kn, NULL);
    if (rc != TIND_OK && rc != TIND_NOT_FOUND)
        cfail(sh, "thread %d: a read after close refused: %s", c->id, tind_strerror(rc));
    rc = tind_close(sh->db);
    sh->db = NULL;
    if (rc)
        cfail(sh, "thread %d: close in the middle of a phase: %s (%s)", c->id, tind_strerror(rc),
              tind_errmsg(NULL));
    else if (copen(sh, sh->path) == 0)
        full_check(sh, ts);
    atomic_fetch_add_explicit(&sh->closes, 1, memory_order_relaxed);
    pthread_rwlock_unlock(&sh->gate);
    atomic_store(&sh->close_req, 0);
    pthread_rwlock_rdlock(&sh->gate);
}

/* ---- the worker ---- */

static void *worker(void *arg)
{
    cthread *c = arg;
    cshared *sh = c->sh;
    trng_seed(&c->r, sh->seed ^ ((uint64_t)c->id << 40) ^ ((uint64_t)sh->phase << 20) ^ 0xc0c0);
    uint64_t n = 0;
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        if ((++n & 63) == 0 && stress_now() >= sh->end)
            break;
        if (sh->mixed) {
            if (atomic_load(&sh->close_req)) {
                park(c);
                continue;
            }
            pthread_rwlock_rdlock(&sh->gate);
            if (atomic_load(&sh->close_req) || !sh->db) {
                pthread_rwlock_unlock(&sh->gate);
                continue;
            }
            if (!c->batch && tind_batch_new(sh->db, &c->batch) != TIND_OK) {
                cfail(sh, "thread %d: batch_new after reopen", c->id);
                pthread_rwlock_unlock(&sh->gate);
                break;
            }
        }
        uint64_t op = trng_below(&c->r, 1000);
        const ccell(*model)[RANGE] = (const ccell(*)[RANGE])c->exp;
        if (sh->mixed && op >= 960 && op < 990) {
            scratch_op(c);
        } else if (sh->mixed && op >= 990 && op < 991 && trng_below(&c->r, 4) == 0) {
            close_reopen(c, c - c->id);
        } else if (op < 220) {
            op_put_remove(c, 0);
        } else if (op < 300) {
            op_put_remove(c, 1);
        } else if (op < 420) {
            op_batch(c);
        } else if (op < 600) {
            own_get(c, model, NULL, "live read");
        } else if (op < 665) {
            own_iter_random(c, model, NULL, "live iteration");
        } else if (op < 680) {
            op_counter(c);
        } else if (op < 760) {
            foreign_read(c);
        } else if (op < 800) {
            foreign_scan(c, (int)trng_below(&c->r, (uint64_t)sh->threads), (int)trng_below(&c->r, CKS), NULL);
        } else if (op < 870) {
            if (c->nsnaps < SNAP_HOLD && trng_below(&c->r, 2) == 0)
                snap_take(c);
            else if (c->nsnaps)
                snap_release(c, (int)trng_below(&c->r, (uint64_t)c->nsnaps));
        } else if (op < 960) {
            if (c->nsnaps)
                snap_check(c, &c->snaps[trng_below(&c->r, (uint64_t)c->nsnaps)]);
        } else if (op < 985) {
            first_last(c);
        } else if (op < 998) {
            int rc = tind_flush(sh->ks[trng_below(&c->r, CKS)]);
            if (rc)
                cfail(sh, "thread %d: flush: %s (%s)", c->id, tind_strerror(rc), tind_errmsg(sh->db));
            atomic_fetch_add_explicit(&sh->flushes, 1, memory_order_relaxed);
        } else if (trng_below(&c->r, 8) == 0) {
            int rc = tind_compact(sh->ks[trng_below(&c->r, CKS)]);
            if (rc)
                cfail(sh, "thread %d: compact: %s (%s)", c->id, tind_strerror(rc), tind_errmsg(sh->db));
            atomic_fetch_add_explicit(&sh->compactions, 1, memory_order_relaxed);
        }
        atomic_fetch_add_explicit(&sh->ops, 1, memory_order_relaxed);
        if (sh->mixed)
            pthread_rwlock_unlock(&sh->gate);
    }
    if (sh->mixed)
        pthread_rwlock_rdlock(&sh->gate);
    while (c->nsnaps) {
        if (!atomic_load(&sh->stop))
            snap_check(c, &c->snaps[c->nsnaps - 1]);
        snap_release(c, c->nsnaps - 1);
    }
    if (sh->mixed) {
        /* finished: counts as parked for a closer still waiting; the phase
         * ends with a close */
        release_handles(c);
        pthread_rwlock_unlock(&sh->gate);
        atomic_fetch_add(&sh->parked, 1);
    }
    return NULL;
}

/* ---- open, full check ---- */

static int copen(cshared *sh, const char *path)
{
    tind_options *o = tind_options_new();
    /* --bg 0: no workers; the threads' manual flushes and compactions do
     * the work, racing one another */
    tind_options_set_background_threads(o, sh->bg);
    tind_options_set_cache_size(o, 1 << 20);
    tind_options_set_write_buffer_size(o, 1 << 20);
    tind_options_set_journal_file_size(o, 64 * 1024);
    tind_options_set_max_journal_size(o, 512 * 1024);
    stress_options_key(o);
    int rc = tind_open(path, o, &sh->db);
    tind_options_free(o);
    if (rc) {
        cfail(sh, "open: %s (%s)", tind_strerror(rc), tind_errmsg(NULL));
        return rc;
    }
    for (int k = 0; k < CKS && !rc; k++) {
        tind_ks_options *ko = tind_ks_options_new();
        tind_ks_options_set_memtable_size(ko, 32 * 1024);
        tind_ks_options_set_table_size(ko, 16 * 1024);
        tind_ks_options_set_l0_threshold(ko, 2);
        tind_ks_options_set_level_ratio(ko, 4);
        tind_ks_options_set_block_size(ko, 1024);
        /* key-value separation (issue 11): the larger values of keyspace 0
         * go to small blob files that GC relocates while readers run */
        if (k == 0) {
            tind_ks_options_set_blob_separation(ko, 1, 100);
            tind_ks_options_set_blob_file_size(ko, 16 * 1024);
            tind_ks_options_set_blob_gc(ko, 0.25, 0.25);
        }
        if (k == 1)
            tind_ks_options_set_compaction(ko, TIND_COMPACTION_TIERED);
        rc = tind_keyspace_open(sh->db, cks_names[k], ko, &sh->ks[k]);
        tind_ks_options_free(ko);
        if (rc)
            cfail(sh, "keyspace open: %s (%s)", tind_strerror(rc), tind_errmsg(sh->db));
    }
    if (!rc) {
        tind_ks_options *ko = tind_ks_options_new();
        tind_ks_options_set_memtable_size(ko, 4 * 1024);
        tind_ks_options_set_table_size(ko, 4 * 1024);
        tind_ks_options_set_l0_threshold(ko, 2);
        tind_ks_options_set_merge_builtin(ko, TIND_MERGE_COUNTER, NULL, 0);
        rc = tind_keyspace_open(sh->db, "counter", ko, &sh->counter_ks);
        tind_ks_options_free(ko);
        if (rc)
            cfail(sh, "keyspace open: %s (%s)", tind_strerror(rc), tind_errmsg(sh->db));
    }
    return rc;
}

/* After a reopen: every thread's keys equal its model; progress keys equal
 * the last committed batch. */
static void full_check(cshared *sh, cthread *ts)
{
    for (int i = 0; i < CCOUNTERS && !atomic_load(&sh->stop); i++) {
        uint64_t v;
        if (counter_read(sh, i, &v, "check after reopen") == TIND_OK && v != atomic_load(&sh->merges_done[i]))
            cfail(sh, "check after reopen: counter %d reads %" PRIu64 ", %" PRIu64 " merges were done", i, v,
                  (uint64_t)atomic_load(&sh->merges_done[i]));
    }
    for (int t = 0; t < sh->threads && !atomic_load(&sh->stop); t++) {
        cthread *c = &ts[t];
        const ccell(*model)[RANGE] = (const ccell(*)[RANGE])c->exp;
        for (int k = 0; k < CKS; k++) {
            own_iter(c, model, NULL, k, 0, RANGE, 0, "check after reopen (forward)");
            own_iter(c, model, NULL, k, 0, RANGE, 1, "check after reopen (backward)");
            uint8_t key[CKEY_MAX];
            for (uint32_t idx = 0; idx < RANGE; idx++) {
                size_t kn = ckey(t, idx, key);
                void *v = NULL;
                size_t vn = 0;
                int rc = tind_get(sh->ks[k], key, kn, NULL, &v, &vn);
                if (rc == TIND_OK || rc == TIND_NOT_FOUND)
                    ccheck_own(c, &c->exp[k][idx], k, idx, rc == TIND_OK, v, vn, "check after reopen");
                else
                    cfail(sh, "check after reopen: get: %s", tind_strerror(rc));
                tind_free(v);
            }
        }
        uint8_t key[CKEY_MAX];
        size_t kn = ckey(t, CPROGRESS, key);
        void *v = NULL;
        size_t vn = 0;
        int rc = tind_get(sh->ks[0], key, kn, NULL, &v, &vn);
        uint64_t committed = atomic_load(&sh->committed[t]), ver;
        if (rc != TIND_OK && rc != TIND_NOT_FOUND)
            cfail(sh, "check after reopen: get progress: %s", tind_strerror(rc));
        else
            check_progress(c, t, v, vn, rc == TIND_OK, committed, committed, &ver, "check after reopen");
        tind_free(v);
    }
}

/* A hang is a failure: when no operation finishes for CWATCHDOG_S seconds the
 * campaign says so (with the seed) and exits 1. */
#define CWATCHDOG_S 60

static void *watchdog(void *arg)
{
    cshared *sh = arg;
    uint64_t last = UINT64_MAX;
    double since = stress_now();
    while (!atomic_load(&sh->done)) {
        csleep_ms(200);
        uint64_t ops = atomic_load(&sh->ops);
        if (ops != last) {
            last = ops;
            since = stress_now();
        } else if (stress_now() - since > CWATCHDOG_S) {
            fprintf(stderr, "FAIL: tind-stress concurrent (seed %" PRIu64 ", phase %d): no operation finished in "
                    "%d s (a hang)\n", sh->seed, sh->phase, CWATCHDOG_S);
            _exit(1);
        }
    }
    return NULL;
}

static void crmtree(const char *path)
{
    if (stress_rmtree(path) != 0)
        fprintf(stderr, "tind-stress: could not remove %s\n", path);
}

int campaign_concurrent(const stress_opts *o)
{
    char base[4096], path[4200];
    int own_base = 0;
    if (stress_scratch_dir(o, "concurrent", base, sizeof base, &own_base) != 0)
        return 2;
    snprintf(path, sizeof path, "%s/db", base);
    crmtree(path);
    cshared *sh = calloc(1, sizeof *sh);
    cthread *ts = calloc((size_t)o->threads, sizeof *ts);
    if (!sh || !ts)
        return 2;
    sh->threads = o->threads;
    sh->seed = o->seed;
    sh->mixed = o->mixed;
    sh->bg = o->bg >= 0 ? o->bg : 2;
    snprintf(sh->path, sizeof sh->path, "%s", path);
    pthread_mutex_init(&sh->fail_mu, NULL);
    pthread_rwlockattr_t ga;
    pthread_rwlockattr_init(&ga);
    /* a closer waiting for the gate must not starve behind readers */
    pthread_rwlockattr_setkind_np(&ga, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&sh->gate, &ga);
    pthread_rwlockattr_destroy(&ga);
    sh->committed = calloc((size_t)o->threads, sizeof *sh->committed);
    sh->started = calloc((size_t)o->threads, sizeof *sh->started);
    for (int t = 0; t < o->threads; t++) {
        ts[t].sh = sh;
        ts[t].id = t;
        ts[t].last_seen = calloc((size_t)o->threads, sizeof(uint64_t));
        for (int s = 0; s < SNAP_HOLD; s++) {
            ts[t].snaps[s].lo = calloc((size_t)o->threads, sizeof(uint64_t));
            ts[t].snaps[s].hi = calloc((size_t)o->threads, sizeof(uint64_t));
            ts[t].snaps[s].seen = calloc((size_t)o->threads, sizeof(uint64_t));
        }
        ts[t].ro = tind_read_options_new();
    }
    printf("tind-stress concurrent%s: seed=%" PRIu64 " seconds=%g threads=%d dir=%s\n", o->mixed ? " --mixed" : "",
           o->seed, o->seconds, o->threads, base);
    fflush(stdout);

    pthread_t dog;
    int dog_running = pthread_create(&dog, NULL, watchdog, sh) == 0;
    double t0 = stress_now();
    double phase_len = o->seconds / 4 > 5 ? o->seconds / 4 : 5;
    if (phase_len > 60)
        phase_len = 60;
    uint64_t bg_flushes = 0, bg_compactions = 0, reopens = 0;
    if (copen(sh, path) == 0) {
        for (int phase = 0; !atomic_load(&sh->stop); phase++) {
            double left = o->seconds - (stress_now() - t0);
            if (phase > 0 && left <= 0)
                break;
            sh->phase = phase;
            sh->end = stress_now() + (left < phase_len ? (left > 0 ? left : 0) : phase_len);
            int started = 0;
            atomic_store(&sh->parked, 0);
            for (int t = 0; t < o->threads; t++) {
                if (tind_batch_new(sh->db, &ts[t].batch) != TIND_OK) {
                    cfail(sh, "could not start thread %d", t);
                    break;
                }
                if (pthread_create(&ts[t].th, NULL, worker, &ts[t]) != 0) {
                    /* a live batch would make the close below refuse */
                    tind_batch_free(ts[t].batch);
                    ts[t].batch = NULL;
                    cfail(sh, "could not start thread %d", t);
                    break;
                }
                started++;
            }
            for (int t = 0; t < started; t++) {
                pthread_join(ts[t].th, NULL);
                tind_batch_free(ts[t].batch);
                ts[t].batch = NULL;
            }
            for (int k = 0; k < CKS; k++) {
                tind_ks_stats st;
                if (tind_ks_stats_get(sh->ks[k], &st) == TIND_OK) {
                    bg_flushes += st.flushes;
                    bg_compactions += st.compactions;
                }
            }
            int rc = tind_close(sh->db);
            sh->db = NULL;
            if (rc && !atomic_load(&sh->stop))
                cfail(sh, "close: %s", tind_strerror(rc));
            if (atomic_load(&sh->stop) || copen(sh, path) != 0)
                break;
            reopens++;
            full_check(sh, ts);
        }
        if (sh->db)
            tind_close(sh->db);
    }
    atomic_store(&sh->done, 1);
    if (dog_running)
        pthread_join(dog, NULL);
    int failed = sh->fail[0] != 0;
    if (failed) {
        fprintf(stderr, "FAIL: tind-stress concurrent (seed %" PRIu64 ", phase %d): %s\n", o->seed, sh->phase,
                sh->fail);
        fprintf(stderr, "reproduce: tind-stress concurrent --seed %" PRIu64 " --threads %d --bg %d --seconds %g   "
                "(the interleaving is not replayed)\nthe database is kept in %s\n", o->seed, o->threads, sh->bg,
                o->seconds, base);
        if (o->mixed)
            fprintf(stderr, "(with --mixed)\n");
    }
    printf("figures: threads=%d ops=%" PRIu64 " puts=%" PRIu64 " removes=%" PRIu64 " batches=%" PRIu64
           " transactions=%" PRIu64
           " point_reads=%" PRIu64 " iterators=%" PRIu64 " iter_items=%" PRIu64 " snapshots=%" PRIu64
           " snapshot_checks=%" PRIu64 " foreign_reads=%" PRIu64 " manual_flushes=%" PRIu64
           " manual_compactions=%" PRIu64 " flushes=%" PRIu64 " compactions=%" PRIu64 " reopens=%" PRIu64
           " mixed=%d scratch_ops=%" PRIu64 " keyspace_creates=%" PRIu64 " keyspace_deletes=%" PRIu64
           " enoent=%" PRIu64 " lists=%" PRIu64 " mid_phase_closes=%" PRIu64 " merges=%" PRIu64
           " counter_reads=%" PRIu64 " bg=%d violations=%d seconds=%.0f seed=%" PRIu64 "\n",
           o->threads, (uint64_t)sh->ops, (uint64_t)sh->puts, (uint64_t)sh->removes, (uint64_t)sh->batches,
           (uint64_t)sh->txns,
           (uint64_t)sh->gets, (uint64_t)sh->iters, (uint64_t)sh->iter_items, (uint64_t)sh->snaps,
           (uint64_t)sh->snap_checks, (uint64_t)sh->foreign, (uint64_t)sh->flushes, (uint64_t)sh->compactions,
           bg_flushes, bg_compactions, reopens, o->mixed, (uint64_t)sh->scratch_ops, (uint64_t)sh->ks_creates,
           (uint64_t)sh->ks_deletes, (uint64_t)sh->ks_enoent, (uint64_t)sh->lists, (uint64_t)sh->closes,
           (uint64_t)sh->merges, (uint64_t)sh->counter_reads, sh->bg, failed,
           stress_now() - t0, o->seed);
    fflush(stdout);
    if (!failed && own_base)
        crmtree(base);
    for (int t = 0; t < o->threads; t++) {
        free(ts[t].last_seen);
        for (int s = 0; s < SNAP_HOLD; s++) {
            free(ts[t].snaps[s].lo);
            free(ts[t].snaps[s].hi);
            free(ts[t].snaps[s].seen);
        }
        tind_read_options_free(ts[t].ro);
    }
    free(sh->committed);
    free(sh->started);
    pthread_mutex_destroy(&sh->fail_mu);
    pthread_rwlock_destroy(&sh->gate);
    free(sh);
    free(ts);
    return failed ? 1 : 0;
}
