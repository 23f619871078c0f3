/*
 * transactions.c -- transactions: read-your-own-writes, a retry loop around
 * an optimistic read-modify-write, the write skew that serializable commit
 * prevents (two doctors on call), and a single-writer transaction.
 *
 *   ./build/transactions [FOLDER]          (default ./transactions-db)
 *
 * A transaction reads one snapshot plus its own writes, through the ordinary
 * read calls given read options with tind_read_options_set_txn(). Its commit
 * applies every write at once, or fails with TIND_ECONFLICT (nothing applied)
 * when something it read or writes was changed by someone else after its
 * snapshot: begin again and retry. Exits 1 when something is not as
 * described, so running it is a test (ctest example_transactions).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tind.h"

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != TIND_OK) {                                                                      \
            fprintf(stderr, "transactions: %s: %s (%s)\n", #call, tind_strerror(rc_),              \
                    tind_errmsg(db));                                                              \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* The integer stored at key (0 when absent) as the read options see it. */
static long read_long(tind_keyspace *ks, const tind_read_options *ro, const char *key)
{
    void *v;
    size_t n;
    if (tind_get(ks, key, strlen(key), ro, &v, &n) != TIND_OK)
        return 0;
    char buf[32] = "";
    memcpy(buf, v, n < sizeof buf - 1 ? n : sizeof buf - 1);
    tind_free(v);
    return strtol(buf, NULL, 10);
}

static int write_long(tind_txn *t, tind_keyspace *ks, const char *key, long x)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld", x);
    return tind_txn_put(t, ks, key, strlen(key), buf, (size_t)n);
}

/* Adds delta to key in a transaction, retrying on conflicts. */
static int add(tind_db *db, tind_keyspace *ks, const char *key, long delta)
{
    tind_read_options *ro = tind_read_options_new();
    int rc;
    for (;;) {
        tind_txn *t;
        if ((rc = tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t)))
            break;
        tind_read_options_set_txn(ro, t);
        long x = read_long(ks, ro, key);
        if ((rc = write_long(t, ks, key, x + delta))) {
            tind_txn_rollback(t);
            break;
        }
        rc = tind_txn_commit(t); /* ends t whatever the result */
        if (rc != TIND_ECONFLICT)
            break;
    }
    tind_read_options_free(ro);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "./transactions-db";
    tind_db *db = NULL;
    int rc = tind_open(path, NULL, &db);
    if (rc) {
        fprintf(stderr, "transactions: open %s: %s\n", path, tind_errmsg(NULL));
        return 1;
    }
    tind_keyspace *ks;
    CHECK(tind_keyspace_open(db, "example", NULL, &ks));
    tind_read_options *ro = tind_read_options_new();

    /* 1. read-your-own-writes: the transaction sees its writes, nobody else does */
    CHECK(tind_put(ks, "a", 1, "1", 1));
    tind_txn *t;
    CHECK(tind_txn_begin(db, 0, &t));
    tind_read_options_set_txn(ro, t);
    CHECK(tind_txn_put(t, ks, "b", 1, "2", 1));
    CHECK(tind_txn_remove(t, ks, "a", 1));
    int inside = tind_contains(ks, "b", 1, ro) == TIND_OK && tind_contains(ks, "a", 1, ro) == TIND_NOT_FOUND;
    int outside = tind_contains(ks, "b", 1, NULL) == TIND_NOT_FOUND && tind_contains(ks, "a", 1, NULL) == TIND_OK;
    tind_iter *it;
    CHECK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
    printf("inside the transaction:");
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
        size_t kn, vn;
        const char *k = tind_iter_key(it, &kn), *v = tind_iter_value(it, &vn);
        printf(" %.*s=%.*s", (int)kn, k, (int)vn, v);
    }
    printf("\n");
    tind_iter_free(it);
    CHECK(tind_txn_commit(t));
    if (!inside || !outside || tind_contains(ks, "a", 1, NULL) != TIND_NOT_FOUND) {
        fprintf(stderr, "transactions: read-your-own-writes is not as described\n");
        return 1;
    }

    /* 2. a counter incremented by a retry loop */
    for (int i = 0; i < 10; i++)
        CHECK(add(db, ks, "counter", 1));
    printf("counter = %ld\n", read_long(ks, NULL, "counter"));

    /* 3. write skew: Alice and Bob are on call; each may leave if the other
     * stays. Both check in their own transaction, both decide to leave:
     * the second commit conflicts, so one doctor stays on call. */
    CHECK(tind_put(ks, "oncall/alice", 12, "1", 1));
    CHECK(tind_put(ks, "oncall/bob", 10, "1", 1));
    tind_txn *ta, *tb;
    tind_read_options *ra = tind_read_options_new(), *rb = tind_read_options_new();
    CHECK(tind_txn_begin(db, 0, &ta));
    CHECK(tind_txn_begin(db, 0, &tb));
    tind_read_options_set_txn(ra, ta);
    tind_read_options_set_txn(rb, tb);
    long seen_a = read_long(ks, ra, "oncall/alice") + read_long(ks, ra, "oncall/bob");
    long seen_b = read_long(ks, rb, "oncall/alice") + read_long(ks, rb, "oncall/bob");
    if (seen_a >= 2)
        CHECK(write_long(ta, ks, "oncall/alice", 0));
    if (seen_b >= 2)
        CHECK(write_long(tb, ks, "oncall/bob", 0));
    CHECK(tind_txn_commit(ta));
    rc = tind_txn_commit(tb);
    printf("second doctor's commit: %s (%s)\n", tind_strerror(rc), rc ? tind_errmsg(db) : "");
    long on_call = read_long(ks, NULL, "oncall/alice") + read_long(ks, NULL, "oncall/bob");
    printf("doctors on call: %ld\n", on_call);
    tind_read_options_free(ra);
    tind_read_options_free(rb);
    if (rc != TIND_ECONFLICT || on_call != 1) {
        fprintf(stderr, "transactions: write skew was not prevented\n");
        return 1;
    }

    /* 4. a single-writer transaction: another one cannot begin meanwhile
     * (with TIND_TXN_NOWAIT it says so instead of waiting) */
    CHECK(tind_txn_begin(db, TIND_TXN_SINGLE_WRITER, &t));
    tind_txn *t2 = NULL;
    rc = tind_txn_begin(db, TIND_TXN_SINGLE_WRITER | TIND_TXN_NOWAIT, &t2);
    printf("a second single writer: %s (%s)\n", tind_strerror(rc), tind_errmsg(db));
    if (rc != TIND_EBUSY)
        return 1;
    tind_txn_set_durability(t, TIND_PERSIST_SYNC_DATA);
    CHECK(write_long(t, ks, "counter", 100));
    CHECK(tind_txn_commit(t));

    tind_read_options_free(ro);
    rc = tind_close(db);
    if (rc) {
        fprintf(stderr, "transactions: close: %s\n", tind_errmsg(NULL));
        return 1;
    }
    return 0;
}
