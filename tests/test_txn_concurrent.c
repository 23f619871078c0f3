/*
 * test_txn_concurrent.c -- transactions from many threads at once.
 *
 * bank: accounts in two keyspaces; transfer threads move money between
 * random accounts in optimistic transactions (one thread as the single
 * writer), retrying on TIND_ECONFLICT; auditors check at read-only
 * transactions and at snapshots that the total never changes, and an
 * auditor that writes (it records the total it saw, after a full scan) must
 * conflict whenever a transfer landed after its snapshot; tiny memtables, so
 * flushes and compactions run under the transactions' snapshots.
 *
 * history: threads run random read-modify-write transactions over a few
 * keys (each write names its transaction), reading by point reads or by an
 * iterator (a seek and a few steps: every key of the span it walked counts
 * as read, the absent ones as read absent, so phantoms are in the graph);
 * the committed ones are recorded and their dependency graph (write-read,
 * write-write, read-write anti-dependency edges) must have no cycle: the
 * history is serializable.
 *
 * Both with background threads on and off (off: a maintainer thread steps
 * the background jobs). TSAN-LABEL: runs under ThreadSanitizer.
 */
#include <pthread.h>
#include <unistd.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"
#include "tind_internal.h"
#include "util/rand.h"

#define ACCOUNTS 24
#define START 1000
#define TRANSFER_THREADS 4

typedef struct bank {
    tind_db *db;
    tind_keyspace *ks[2];
    int threads;               /* background workers */
    int rounds;
    _Atomic int stop;
    _Atomic long commits, conflicts, audits, audit_conflicts;
    pthread_barrier_t go;      /* transfer threads and the auditor start together */
} bank;

static tind_db *open_db(fs *mem, int background)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, mem);
    tind_options_set_no_background(o, !background);
    tind_db *db;
    CHECK_OK(tind_open("/db", o, &db));
    tind_options_free(o);
    return db;
}

static void acct_key(int i, char *k) { snprintf(k, 16, "acct%03d", i); }

static long read_long(tind_keyspace *ks, const tind_read_options *ro, const char *key)
{
    void *v;
    size_t n;
    int rc = tind_get(ks, key, strlen(key), ro, &v, &n);
    CHECK_OK(rc);
    char buf[32];
    CHECK(n < sizeof buf);
    memcpy(buf, v, n);
    buf[n] = 0;
    free(v);
    return atol(buf);
}

static void put_long(tind_txn *t, tind_keyspace *ks, const char *key, long x)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld", x);
    CHECK_OK(tind_txn_put(t, ks, key, strlen(key), buf, (size_t)n));
}

typedef struct targ {
    void *ctx;                 /* bank or history */
    int id;
} targ;

static void *transfer(void *p)
{
    targ *a = p;
    bank *b = a->ctx;
    trng r;
    trng_seed(&r, check_seed * 131 + (uint64_t)a->id);
    tind_read_options *ro = tind_read_options_new();
    pthread_barrier_wait(&b->go);
    for (int i = 0; i < b->rounds; i++) {
        int from = (int)trng_below(&r, ACCOUNTS), to = (int)trng_below(&r, ACCOUNTS);
        int ksf = (int)trng_below(&r, 2), kst = (int)trng_below(&r, 2);
        long amount = 1 + (long)trng_below(&r, 50);
        for (;;) {
            tind_txn *t;
            CHECK_OK(tind_txn_begin(b->db, a->id == 0 ? TIND_TXN_SINGLE_WRITER : TIND_TXN_OPTIMISTIC, &t));
            tind_read_options_set_txn(ro, t);
            char kf[16], kt[16];
            acct_key(from, kf);
            acct_key(to, kt);
            long f = read_long(b->ks[ksf], ro, kf);
            put_long(t, b->ks[ksf], kf, f - amount);
            /* read after our own write when both are the same account */
            long g = read_long(b->ks[kst], ro, kt);
            put_long(t, b->ks[kst], kt, g + amount);
            if (i % 3 == 0)
                tind_txn_set_durability(t, TIND_PERSIST_BUFFER);
            int rc = tind_txn_commit(t);
            if (rc == TIND_OK) {
                atomic_fetch_add(&b->commits, 1);
                break;
            }
            CHECK_RC(rc, TIND_ECONFLICT);
            atomic_fetch_add(&b->conflicts, 1);
        }
    }
    tind_read_options_free(ro);
    return NULL;
}

/* The total through a transaction's (or snapshot's) iterators and gets. */
static long total(bank *b, const tind_read_options *ro)
{
    long sum = 0, sum2 = 0;
    int n = 0;
    for (int k = 0; k < 2; k++) {
        tind_iter *it;
        CHECK_OK(tind_iter_prefix(b->ks[k], "acct", 4, ro, &it));
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
            size_t vn;
            const char *v = tind_iter_value(it, &vn);
            char buf[32];
            CHECK(vn < sizeof buf);
            memcpy(buf, v, vn);
            buf[vn] = 0;
            sum += atol(buf);
            n++;
        }
        CHECK_OK(tind_iter_status(it));
        tind_iter_free(it);
        for (int i = 0; i < ACCOUNTS; i++) {
            char key[16];
            acct_key(i, key);
            sum2 += read_long(b->ks[k], ro, key);
        }
    }
    CHECK_EQ(n, 2 * ACCOUNTS);
    CHECK_EQ(sum, sum2);
    return sum;
}

static void *auditor(void *p)
{
    bank *b = p;
    tind_read_options *ro = tind_read_options_new();
    int i = 0;
    pthread_barrier_wait(&b->go);
    while (!atomic_load(&b->stop) || i < 30) {
        if (i % 3 == 0) {
            tind_snapshot *s;
            CHECK_OK(tind_snapshot_new(b->db, &s));
            tind_read_options_set_snapshot(ro, s);
            CHECK_EQ(total(b, ro), 2L * ACCOUNTS * START);
            tind_snapshot_free(s);
        } else {
            /* a writing auditor: it scanned every account, so it may commit
             * only if no transfer landed after its snapshot */
            tind_txn *t;
            CHECK_OK(tind_txn_begin(b->db, i % 3 == 1 ? TIND_TXN_READ_ONLY : TIND_TXN_OPTIMISTIC, &t));
            tind_read_options_set_txn(ro, t);
            CHECK_EQ(total(b, ro), 2L * ACCOUNTS * START);
            uint64_t snap = tind_txn_seqno(t);
            int writes = i % 3 == 2;
            if (writes)
                put_long(t, b->ks[0], "audit", (long)snap);
            int rc = tind_txn_commit(t);
            if (rc == TIND_ECONFLICT) {
                CHECK(writes);
                atomic_fetch_add(&b->audit_conflicts, 1);
            } else {
                CHECK_OK(rc);
                atomic_fetch_add(&b->audits, 1);
            }
        }
        i++;
    }
    tind_read_options_free(ro);
    return NULL;
}

static void *maintainer(void *p)
{
    bank *b = p;
    while (!atomic_load(&b->stop)) {
        if (tind_internal_background_step(b->db) <= 0)
            usleep(200);
    }
    return NULL;
}

static void run_bank(int threads)
{
    fs *mem = fs_mem_new();
    bank b;
    memset(&b, 0, sizeof b);
    b.db = open_db(mem, threads);
    b.ks[0] = check_small_ks(b.db, "checking", 2048);
    b.ks[1] = check_small_ks(b.db, "savings", 2048);
    b.rounds = (int)(300 * check_scale());
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < ACCOUNTS; i++) {
            char key[16], val[16];
            acct_key(i, key);
            int n = snprintf(val, sizeof val, "%d", START);
            CHECK_OK(tind_put(b.ks[k], key, strlen(key), val, (size_t)n));
        }
    pthread_barrier_init(&b.go, NULL, TRANSFER_THREADS + 1);
    pthread_t th[TRANSFER_THREADS], aud, maint;
    targ args[TRANSFER_THREADS];
    for (int i = 0; i < TRANSFER_THREADS; i++) {
        args[i] = (targ){&b, i};
        CHECK(pthread_create(&th[i], NULL, transfer, &args[i]) == 0);
    }
    CHECK(pthread_create(&aud, NULL, auditor, &b) == 0);
    if (!threads)
        CHECK(pthread_create(&maint, NULL, maintainer, &b) == 0);
    for (int i = 0; i < TRANSFER_THREADS; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    atomic_store(&b.stop, 1);
    CHECK(pthread_join(aud, NULL) == 0);
    if (!threads)
        CHECK(pthread_join(maint, NULL) == 0);
    CHECK_EQ(atomic_load(&b.commits), (long)TRANSFER_THREADS * b.rounds);
    CHECK_EQ(total(&b, NULL), 2L * ACCOUNTS * START);
    fprintf(stderr, "    %ld transfers, %ld conflicts retried, %ld audits, %ld audit conflicts\n",
            atomic_load(&b.commits), atomic_load(&b.conflicts), atomic_load(&b.audits),
            atomic_load(&b.audit_conflicts));
    CHECK_OK(tind_close(b.db));
    fs_destroy(mem);
    pthread_barrier_destroy(&b.go);
}

TEST(bank_threads_on) { run_bank(2); }
TEST(bank_threads_off) { run_bank(0); }

/* ------------------------------------------------------------------ history */

#define HKEYS 8
#define HTHREADS 4
#define HMAX_OPS HKEYS

typedef struct hrec {
    int id;                     /* transaction id (> 0; 0 = the initial state) */
    int nreads;
    int read_key[HMAX_OPS], read_from[HMAX_OPS]; /* key, id of the writer of the version read */
    int nwrites;
    int write_key[HMAX_OPS];
} hrec;

typedef struct history {
    tind_db *db;
    tind_keyspace *ks;
    int rounds;
    _Atomic int stop;
    pthread_mutex_t mu;
    hrec *recs;
    size_t count, cap;
    _Atomic int next_id;
    _Atomic long aborts;
    pthread_barrier_t go;
} history;

static void h_key(int i, char *k) { snprintf(k, 8, "h%d", i); }

static void *h_worker(void *p)
{
    targ *a = p;
    history *h = a->ctx;
    trng r;
    trng_seed(&r, check_seed * 7919 + (uint64_t)a->id);
    tind_read_options *ro = tind_read_options_new();
    pthread_barrier_wait(&h->go);
    for (int i = 0; i < h->rounds; i++) {
        hrec rec;
        memset(&rec, 0, sizeof rec);
        rec.id = atomic_fetch_add(&h->next_id, 1);
        tind_txn *t;
        CHECK_OK(tind_txn_begin(h->db, TIND_TXN_OPTIMISTIC, &t));
        tind_read_options_set_txn(ro, t);
        rec.nreads = 1 + (int)trng_below(&r, 4);
        int by_iterator = trng_below(&r, 3) == 0;
        if (by_iterator) {
            /* an iterator: seek to a random key, a few steps; the span it
             * walked is read (keys h0..h7 sort in index order) */
            int from = (int)trng_below(&r, HKEYS), steps = (int)trng_below(&r, 4);
            int seen[HKEYS];
            for (int q = 0; q < HKEYS; q++)
                seen[q] = -1;
            tind_iter *it;
            CHECK_OK(tind_iter_range(h->ks, NULL, 0, NULL, 0, ro, &it));
            char key[8];
            h_key(from, key);
            int to = HKEYS - 1; /* ran off the end: through the last key */
            tind_iter_seek(it, key, strlen(key));
            for (int st = 0; tind_iter_valid(it); st++) {
                size_t kn, vn;
                const char *k = tind_iter_key(it, &kn);
                const char *v = tind_iter_value(it, &vn);
                CHECK(kn == 2 && k[0] == 'h');
                char buf[16];
                CHECK(vn < sizeof buf);
                memcpy(buf, v, vn);
                buf[vn] = 0;
                seen[k[1] - '0'] = atoi(buf);
                if (st == steps) {
                    to = k[1] - '0';
                    break;
                }
                tind_iter_next(it);
            }
            CHECK_OK(tind_iter_status(it));
            tind_iter_free(it);
            rec.nreads = 0;
            for (int q = from; q <= to; q++) {
                rec.read_key[rec.nreads] = q;
                rec.read_from[rec.nreads++] = seen[q] < 0 ? 0 : seen[q];
            }
        }
        for (int j = 0; j < rec.nreads && !by_iterator; j++) {
            int k;
            int dup;
            do { /* distinct keys */
                k = (int)trng_below(&r, HKEYS);
                dup = 0;
                for (int q = 0; q < j; q++)
                    dup |= rec.read_key[q] == k;
            } while (dup);
            char key[8];
            h_key(k, key);
            void *v;
            size_t n;
            int rc = tind_get(h->ks, key, strlen(key), ro, &v, &n);
            int from = 0;
            if (rc == TIND_OK) {
                char buf[16];
                CHECK(n < sizeof buf);
                memcpy(buf, v, n);
                buf[n] = 0;
                from = atoi(buf);
                free(v);
            } else {
                CHECK_RC(rc, TIND_NOT_FOUND);
            }
            rec.read_key[j] = k;
            rec.read_from[j] = from;
        }
        /* write a subset of what it read (every write follows a read of its
         * key, so each key's versions form a chain) */
        for (int j = 0; j < rec.nreads; j++)
            if (trng_below(&r, 2) == 0 || (j == 0 && i % 4 == 0)) {
                char key[8], val[16];
                h_key(rec.read_key[j], key);
                int n = snprintf(val, sizeof val, "%d", rec.id);
                CHECK_OK(tind_txn_put(t, h->ks, key, strlen(key), val, (size_t)n));
                rec.write_key[rec.nwrites++] = rec.read_key[j];
            }
        int rc = tind_txn_commit(t);
        if (rc == TIND_ECONFLICT) {
            atomic_fetch_add(&h->aborts, 1);
            continue;
        }
        CHECK_OK(rc);
        pthread_mutex_lock(&h->mu);
        if (h->count == h->cap) {
            h->cap = h->cap ? h->cap * 2 : 256;
            h->recs = realloc(h->recs, h->cap * sizeof *h->recs);
            CHECK(h->recs);
        }
        h->recs[h->count++] = rec;
        pthread_mutex_unlock(&h->mu);
    }
    tind_read_options_free(ro);
    return NULL;
}

static void *h_maintainer(void *p)
{
    history *h = p;
    while (!atomic_load(&h->stop)) {
        if (tind_internal_background_step(h->db) <= 0)
            usleep(200);
    }
    return NULL;
}

/* The dependency graph of the committed transactions must be acyclic. */
static void check_serializable(history *h)
{
    int n = atomic_load(&h->next_id);
    /* index by id (ids of aborted transactions have no record) */
    int *rec_of = malloc((size_t)n * sizeof *rec_of);
    CHECK(rec_of);
    for (int i = 0; i < n; i++)
        rec_of[i] = -1;
    for (size_t i = 0; i < h->count; i++)
        rec_of[h->recs[i].id] = (int)i;
    /* next[key][writer id] = the committed transaction that wrote key after
     * reading writer's version (at most one: two would be a lost update) */
    int *next = malloc((size_t)HKEYS * (size_t)n * sizeof *next);
    CHECK(next);
    for (int i = 0; i < HKEYS * n; i++)
        next[i] = -1;
    for (size_t i = 0; i < h->count; i++) {
        hrec *r = &h->recs[i];
        for (int w = 0; w < r->nwrites; w++) {
            int k = r->write_key[w], prev = -1;
            for (int j = 0; j < r->nreads; j++)
                if (r->read_key[j] == k)
                    prev = r->read_from[j];
            CHECK(prev >= 0);
            if (next[k * n + prev] != -1)
                check_fail(__FILE__, __LINE__, "lost update: transactions %d and %d both overwrote version %d of h%d",
                           next[k * n + prev], r->id, prev, k);
            next[k * n + prev] = r->id;
        }
    }
    /* edges as adjacency lists over record indexes */
    size_t ecap = 64, ecount = 0;
    int(*edges)[2] = malloc(ecap * sizeof *edges);
    CHECK(edges);
#define EDGE(a, b)                                                                                                     \
    do {                                                                                                               \
        if ((a) >= 0 && (b) >= 0 && (a) != (b)) {                                                                      \
            if (ecount == ecap) {                                                                                      \
                ecap *= 2;                                                                                             \
                edges = realloc(edges, ecap * sizeof *edges);                                                          \
                CHECK(edges);                                                                                          \
            }                                                                                                          \
            edges[ecount][0] = (a);                                                                                    \
            edges[ecount][1] = (b);                                                                                    \
            ecount++;                                                                                                  \
        }                                                                                                              \
    } while (0)
    for (size_t i = 0; i < h->count; i++) {
        hrec *r = &h->recs[i];
        for (int j = 0; j < r->nreads; j++) {
            int k = r->read_key[j], from = r->read_from[j];
            if (from > 0) {
                CHECK(rec_of[from] >= 0); /* no dirty read of an aborted transaction */
                EDGE(rec_of[from], (int)i);  /* write -> read */
            }
            int nx = next[k * n + from];
            if (nx >= 0)
                EDGE((int)i, rec_of[nx]);    /* read -> the next write (anti-dependency) */
        }
        for (int w = 0; w < r->nwrites; w++) {
            int k = r->write_key[w];
            for (int j = 0; j < r->nreads; j++)
                if (r->read_key[j] == k && r->read_from[j] > 0)
                    EDGE(rec_of[r->read_from[j]], (int)i); /* write -> write */
        }
    }
#undef EDGE
    /* cycle check: Kahn's topological sort */
    size_t m = h->count;
    int *indeg = calloc(m ? m : 1, sizeof *indeg), *start = calloc(m + 1, sizeof *start);
    int *adj = malloc((ecount ? ecount : 1) * sizeof *adj), *queue = malloc((m ? m : 1) * sizeof *queue);
    CHECK(indeg && start && adj && queue);
    for (size_t e = 0; e < ecount; e++) {
        start[edges[e][0] + 1]++;
        indeg[edges[e][1]]++;
    }
    for (size_t i = 0; i < m; i++)
        start[i + 1] += start[i];
    int *fill = calloc(m ? m : 1, sizeof *fill);
    CHECK(fill);
    for (size_t e = 0; e < ecount; e++) {
        int a = edges[e][0];
        adj[start[a] + fill[a]++] = edges[e][1];
    }
    size_t qh = 0, qt = 0;
    for (size_t i = 0; i < m; i++)
        if (!indeg[i])
            queue[qt++] = (int)i;
    while (qh < qt) {
        int v = queue[qh++];
        for (int e = start[v]; e < start[v + 1]; e++)
            if (--indeg[adj[e]] == 0)
                queue[qt++] = adj[e];
    }
    if (qt != m)
        check_fail(__FILE__, __LINE__, "the history of %zu committed transactions has a dependency cycle (%zu sorted)",
                   m, qt);
    fprintf(stderr, "    %zu committed, %ld aborted, %zu dependency edges, acyclic\n", m, atomic_load(&h->aborts),
            ecount);
    free(indeg);
    free(start);
    free(adj);
    free(queue);
    free(fill);
    free(edges);
    free(next);
    free(rec_of);
}

static void run_history(int threads)
{
    fs *mem = fs_mem_new();
    history h;
    memset(&h, 0, sizeof h);
    pthread_mutex_init(&h.mu, NULL);
    h.db = open_db(mem, threads);
    h.ks = check_small_ks(h.db, "h", 2048);
    h.rounds = (int)(400 * check_scale());
    atomic_store(&h.next_id, 1);
    pthread_barrier_init(&h.go, NULL, HTHREADS);
    pthread_t th[HTHREADS], maint;
    targ args[HTHREADS];
    for (int i = 0; i < HTHREADS; i++) {
        args[i] = (targ){&h, i};
        CHECK(pthread_create(&th[i], NULL, h_worker, &args[i]) == 0);
    }
    if (!threads)
        CHECK(pthread_create(&maint, NULL, h_maintainer, &h) == 0);
    for (int i = 0; i < HTHREADS; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    atomic_store(&h.stop, 1);
    if (!threads)
        CHECK(pthread_join(maint, NULL) == 0);
    check_serializable(&h);
    /* the final state is the last version of each chain */
    CHECK_OK(tind_close(h.db));
    fs_destroy(mem);
    free(h.recs);
    pthread_mutex_destroy(&h.mu);
    pthread_barrier_destroy(&h.go);
}

TEST(history_threads_on) { run_history(2); }
TEST(history_threads_off) { run_history(0); }

int main(void)
{
    check_seed_init(12);
    RUN(bank_threads_on);
    RUN(bank_threads_off);
    RUN(history_threads_on);
    RUN(history_threads_off);
    return 0;
}
