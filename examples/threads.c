/*
 * threads.c -- snapshots and threads: writer threads moving money between
 * accounts with atomic batches while reader threads audit the books, each
 * with its own snapshot and iterators, and background flushes and
 * compactions running underneath (tiny memtables).
 *
 *   ./build/threads [FOLDER]         (default ./threads-db, created when missing)
 *
 * What is shared and what is not (include/tind.h): the database and its
 * keyspace handles are used by every thread at once; a batch, an iterator
 * and a read_options belong to the thread that made them; a snapshot may
 * be read from any thread while it lives. tind_errmsg() is per thread.
 *
 * The invariant checked: every transfer is one batch (debit and credit
 * together), so any consistent view -- a snapshot, or an iterator, which
 * sees one fixed state -- sums to the same total. Each writer owns its own
 * accounts, so its read-modify-write needs no lock. Exits 1 when anything
 * is not as expected (ctest example_threads; TSAN-LABEL: also in
 * make test-tsan).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tind.h"

#define WRITERS 4
#define READERS 2
#define ACCOUNTS_PER_WRITER 16
#define ACCOUNTS (WRITERS * ACCOUNTS_PER_WRITER)
#define TRANSFERS 1500          /* per writer */
#define START_BALANCE 1000

static tind_db *db;
static tind_keyspace *accounts;

typedef struct {
    int id;
    int failed;                 /* set by the thread; read after join */
    long audits;
} worker;

/* Set by main once every writer has returned; readers audit until then. */
static int writers_done;
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;

static int writers_finished(void)
{
    pthread_mutex_lock(&done_mu);
    int d = writers_done;
    pthread_mutex_unlock(&done_mu);
    return d;
}

static int account_key(int n, char *key, size_t size)
{
    return snprintf(key, size, "acct%04d", n);
}

/* Reads an account's balance through ro (NULL = the latest state). */
static int read_balance(int n, const tind_read_options *ro, long *balance)
{
    char key[16], text[32];
    int kn = account_key(n, key, sizeof key);
    void *v;
    size_t vn;
    int rc = tind_get(accounts, key, (size_t)kn, ro, &v, &vn);
    if (rc)
        return rc;
    size_t len = vn < sizeof text - 1 ? vn : sizeof text - 1;
    memcpy(text, v, len);
    text[len] = '\0';
    tind_free(v);
    *balance = strtol(text, NULL, 10);
    return TIND_OK;
}

static int batch_put_balance(tind_batch *b, int n, long balance)
{
    char key[16], val[32];
    int kn = account_key(n, key, sizeof key);
    int vn = snprintf(val, sizeof val, "%ld", balance);
    return tind_batch_put(b, accounts, key, (size_t)kn, val, (size_t)vn);
}

static void *writer_main(void *arg)
{
    worker *w = arg;
    unsigned seed = (unsigned)w->id * 7919u + 1u;
    tind_batch *b;                       /* this thread's own batch, reused */
    if (tind_batch_new(db, &b)) {
        w->failed = 1;
        return NULL;
    }
    int first = w->id * ACCOUNTS_PER_WRITER;
    for (int i = 0; i < TRANSFERS && !w->failed; i++) {
        int from = first + rand_r(&seed) % ACCOUNTS_PER_WRITER;
        int to = first + rand_r(&seed) % ACCOUNTS_PER_WRITER;
        long amount = 1 + rand_r(&seed) % 50, a = 0, c = 0;
        if (from == to)
            continue;
        if (read_balance(from, NULL, &a) || read_balance(to, NULL, &c) ||
            batch_put_balance(b, from, a - amount) || batch_put_balance(b, to, c + amount) ||
            tind_batch_commit(b)) {
            fprintf(stderr, "writer %d: %s\n", w->id, tind_errmsg(db));
            w->failed = 1;
        }
    }
    tind_batch_free(b);
    return NULL;
}

/* Sums every account seen by one iterator (made with ro); the iterator is
 * this thread's own and sees one fixed state, even without a snapshot. */
static int audit_scan(const tind_read_options *ro, long *sum, int *count)
{
    tind_iter *it;
    int rc = tind_iter_prefix(accounts, "acct", 4, ro, &it);
    if (rc)
        return rc;
    *sum = 0;
    *count = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
        size_t vn;
        const char *v = tind_iter_value(it, &vn);
        char text[32];
        size_t len = vn < sizeof text - 1 ? vn : sizeof text - 1;
        memcpy(text, v, len);
        text[len] = '\0';
        *sum += strtol(text, NULL, 10);
        (*count)++;
    }
    rc = tind_iter_status(it);
    tind_iter_free(it);
    return rc;
}

static void *reader_main(void *arg)
{
    worker *w = arg;
    const long total = (long)ACCOUNTS * START_BALANCE;
    tind_read_options *ro = tind_read_options_new();
    if (!ro) {
        w->failed = 1;
        return NULL;
    }
    do {
        /* A snapshot: a scan and point reads through it agree, however
         * many transfers commit meanwhile. */
        tind_snapshot *snap;
        long sum = 0, again = 0, plain = 0;
        int count = 0, plain_count = 0;
        if (tind_snapshot_new(db, &snap)) {
            w->failed = 1;
            break;
        }
        tind_read_options_set_snapshot(ro, snap);
        int rc = audit_scan(ro, &sum, &count);
        for (int n = 0; n < ACCOUNTS && !rc; n++) {
            long balance = 0;
            rc = read_balance(n, ro, &balance);
            again += balance;
        }
        tind_read_options_set_snapshot(ro, NULL);
        tind_snapshot_free(snap);
        /* Without a snapshot an iterator still sees one state: its own. */
        if (!rc)
            rc = audit_scan(NULL, &plain, &plain_count);
        if (rc || count != ACCOUNTS || sum != total || again != total || plain_count != ACCOUNTS ||
            plain != total) {
            fprintf(stderr, "reader %d: rc %d (%s), %d accounts summing to %ld then %ld, %d to %ld; expected %ld\n",
                    w->id, rc, tind_errmsg(db), count, sum, again, plain_count, plain, total);
            w->failed = 1;
        }
        w->audits++;
    } while (!w->failed && !writers_finished());
    tind_read_options_free(ro);
    return NULL;
}

#define CHECK(cond, what)                                                                      \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "threads: %s failed (%s)\n", what, tind_errmsg(db));               \
            return 1;                                                                          \
        }                                                                                      \
    } while (0)

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "./threads-db";
    tind_options *opts = tind_options_new();
    if (!opts)
        return 1;
    tind_options_set_background_threads(opts, 2);
    int rc = tind_open(path, opts, &db);
    tind_options_free(opts);
    CHECK(rc == TIND_OK, "open");
    tind_ks_options *ko = tind_ks_options_new();
    CHECK(ko != NULL, "ks_options_new");
    tind_ks_options_set_memtable_size(ko, 32u << 10);   /* flushes all the time */
    rc = tind_keyspace_open(db, "accounts", ko, &accounts);
    tind_ks_options_free(ko);
    CHECK(rc == TIND_OK, "keyspace_open");

    /* Opening balances, in one atomic batch. */
    tind_batch *b;
    CHECK(tind_batch_new(db, &b) == TIND_OK, "batch_new");
    for (int n = 0; n < ACCOUNTS; n++)
        CHECK(batch_put_balance(b, n, START_BALANCE) == TIND_OK, "batch_put");
    CHECK(tind_batch_commit(b) == TIND_OK, "batch_commit");
    tind_batch_free(b);

    /* A snapshot taken now keeps seeing the opening balances whatever the
     * threads do, until it is freed (it must be freed before close). */
    tind_snapshot *opening;
    CHECK(tind_snapshot_new(db, &opening) == TIND_OK, "snapshot_new");

    pthread_t tids[WRITERS + READERS];
    worker workers[WRITERS + READERS];
    memset(workers, 0, sizeof workers);
    for (int i = 0; i < WRITERS + READERS; i++) {
        workers[i].id = i < WRITERS ? i : i - WRITERS;
        CHECK(pthread_create(&tids[i], NULL, i < WRITERS ? writer_main : reader_main, &workers[i]) == 0,
              "pthread_create");
    }
    int failed = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(tids[i], NULL);
        failed |= workers[i].failed;
    }
    pthread_mutex_lock(&done_mu);
    writers_done = 1;
    pthread_mutex_unlock(&done_mu);
    for (int i = WRITERS; i < WRITERS + READERS; i++) {
        pthread_join(tids[i], NULL);
        failed |= workers[i].failed;
        printf("reader %d: %ld consistent audits while the writers ran\n", workers[i].id, workers[i].audits);
    }
    CHECK(!failed, "every thread");

    /* The opening snapshot still sees every account at its opening balance;
     * the latest state has moved on but sums to the same total. */
    tind_read_options *ro = tind_read_options_new();
    CHECK(ro != NULL, "read_options_new");
    tind_read_options_set_snapshot(ro, opening);
    int moved = 0;
    long sum = 0;
    for (int n = 0; n < ACCOUNTS; n++) {
        long then = 0, now = 0;
        CHECK(read_balance(n, ro, &then) == TIND_OK && then == START_BALANCE, "opening balance");
        CHECK(read_balance(n, NULL, &now) == TIND_OK, "latest balance");
        moved += now != then;
        sum += now;
    }
    tind_read_options_free(ro);
    tind_snapshot_free(opening);
    CHECK(sum == (long)ACCOUNTS * START_BALANCE, "the total after every transfer");
    CHECK(moved > 0, "some balances changed");
    tind_ks_stats st;
    CHECK(tind_ks_stats_get(accounts, &st) == TIND_OK, "stats");
    printf("%d writers made %d transfers each; %d of %d balances changed, total %ld kept; "
           "%llu flushes and %llu compactions ran meanwhile\n",
           WRITERS, TRANSFERS, moved, ACCOUNTS, sum, (unsigned long long)st.flushes,
           (unsigned long long)st.compactions);
    rc = tind_close(db);
    if (rc) {
        fprintf(stderr, "threads: close failed (%s)\n", tind_errmsg(NULL));
        return 1;
    }
    return 0;
}
