/*
 * merge_counters.c -- read-modify-write without the read: page-view counters
 * with the built-in counter operator, a "max" user operator with a partial
 * merge, a single delete, and a per-key TTL filter.
 *
 *   ./build/merge_counters [FOLDER]        (default ./merge-db, created when missing)
 *
 * tind_merge records an operand; reads add the operands to the value under
 * them, and compaction folds them (include/tind.h, tind_merge(3)). A user
 * operator's callbacks are given again at every tind_keyspace_open after
 * tind_open (only its name is stored); the built-ins come back by
 * themselves. Exits 1 when anything is not as expected (ctest
 * example_merge_counters).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tind.h"

#define CHECK(cond, what, db)                                                                  \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "merge_counters: %s failed (%s)\n", what, tind_errmsg(db));        \
            return 1;                                                                          \
        }                                                                                      \
    } while (0)

static void u64_le(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* "max": the largest 8-byte little-endian number among the base and the
 * operands; it is associative, so it also has a partial merge. */
static int max_of(const void *base, int has_base, const void *const *ops, const size_t *lens, size_t n,
                  void **out, size_t *outlen)
{
    uint64_t m = has_base ? le_u64(base) : 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] != 8)
            return TIND_EINVAL; /* the read says TIND_ECORRUPT */
        uint64_t v = le_u64(ops[i]);
        m = v > m ? v : m;
    }
    uint8_t *p = malloc(8);
    if (!p)
        return TIND_ENOMEM;
    u64_le(p, m);
    *out = p;
    *outlen = 8;
    return TIND_OK;
}

static int max_full(void *ctx, const void *key, size_t klen, const void *base, size_t blen, int has_base,
                    const void *const *ops, const size_t *lens, size_t n, void **out, size_t *outlen)
{
    (void)ctx, (void)key, (void)klen;
    if (has_base && blen != 8)
        return TIND_EINVAL;
    return max_of(base, has_base, ops, lens, n, out, outlen);
}

static int max_partial(void *ctx, const void *key, size_t klen, const void *const *ops, const size_t *lens,
                       size_t n, void **out, size_t *outlen)
{
    (void)ctx, (void)key, (void)klen;
    return max_of(NULL, 0, ops, lens, n, out, outlen);
}

static int open_all(const char *path, tind_db **db, tind_keyspace **views, tind_keyspace **best,
                    tind_keyspace **sessions)
{
    int rc = tind_open(path, NULL, db);
    if (rc)
        return rc;
    tind_ks_options *ko = tind_ks_options_new();
    if (!ko)
        return TIND_ENOMEM;
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_COUNTER, NULL, 0);
    rc = tind_keyspace_open(*db, "views", ko, views);
    tind_ks_options_set_merge_operator(ko, "max", max_full, max_partial, NULL);
    if (!rc)
        rc = tind_keyspace_open(*db, "best", ko, best);
    tind_ks_options_set_merge_operator(ko, NULL, NULL, NULL, NULL);
    tind_ks_options_set_value_ttl(ko, 1);   /* values start with a big-endian expiry time */
    if (!rc)
        rc = tind_keyspace_open(*db, "sessions", ko, sessions);
    tind_ks_options_free(ko);
    return rc;
}

static uint64_t read_u64(tind_keyspace *ks, const char *key, int *rc)
{
    void *v = NULL;
    size_t n = 0;
    *rc = tind_get(ks, key, strlen(key), NULL, &v, &n);
    uint64_t x = *rc == TIND_OK && n == 8 ? le_u64(v) : 0;
    if (*rc == TIND_OK && n != 8)
        *rc = TIND_ECORRUPT;
    tind_free(v);
    return x;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "./merge-db";
    tind_db *db;
    tind_keyspace *views, *best, *sessions;
    CHECK(open_all(path, &db, &views, &best, &sessions) == TIND_OK, "open", db);

    /* ---- counters: 10,000 page views, no read before a write ------------ */
    int rc;
    uint64_t before = read_u64(views, "/page/0", &rc); /* 0 in a new folder */
    CHECK(rc == TIND_OK || rc == TIND_NOT_FOUND, "counter read", db);
    uint8_t one[8];
    u64_le(one, 1);
    for (int i = 0; i < 10000; i++) {
        char page[16];
        snprintf(page, sizeof page, "/page/%d", i % 7);
        CHECK(tind_merge(views, page, strlen(page), one, 8) == TIND_OK, "merge", db);
    }
    uint64_t home = read_u64(views, "/page/0", &rc);
    CHECK(rc == TIND_OK && home == before + 1429, "counter read", db);
    printf("views of /page/0: %llu\n", (unsigned long long)home);

    /* ---- a user operator: the best score per player --------------------- */
    uint64_t scores[] = {40, 95, 12, 70};
    for (size_t i = 0; i < sizeof scores / sizeof scores[0]; i++) {
        uint8_t s[8];
        u64_le(s, scores[i]);
        CHECK(tind_merge(best, "ada", 3, s, 8) == TIND_OK, "merge score", db);
    }
    CHECK(read_u64(best, "ada", &rc) == 95 && rc == TIND_OK, "max read", db);

    /* ---- single delete: a key put once, deleted once -------------------- */
    uint8_t exp[16];
    uint64_t soon = (uint64_t)time(NULL) - 1; /* already expired */
    for (int i = 0; i < 8; i++)
        exp[i] = (uint8_t)(soon >> (56 - 8 * i));
    memcpy(exp + 8, "token-01", 8);
    CHECK(tind_put(sessions, "s1", 2, exp, 16) == TIND_OK, "put session", db);
    CHECK(tind_put(sessions, "s2", 2, exp, 16) == TIND_OK, "put session", db);
    CHECK(tind_single_remove(sessions, "s1", 2) == TIND_OK, "single remove", db);
    CHECK(tind_contains(sessions, "s1", 2, NULL) == TIND_NOT_FOUND, "single remove read", db);
    /* s2 expired but is read until a compaction applies the TTL filter */
    CHECK(tind_contains(sessions, "s2", 2, NULL) == TIND_OK, "expired before compaction", db);

    /* ---- compaction folds operands and drops what expired --------------- */
    CHECK(tind_compact(views) == TIND_OK && tind_compact(best) == TIND_OK, "compact", db);
    CHECK(tind_flush(sessions) == TIND_OK && tind_compact(sessions) == TIND_OK, "compact sessions", db);
    CHECK(tind_contains(sessions, "s2", 2, NULL) == TIND_NOT_FOUND, "TTL filter", db);
    uint64_t keys = 0;
    CHECK(tind_approximate_len(views, &keys) == TIND_OK && keys == 7, "folded counters", db);

    /* ---- reopen: the counter comes back by itself, "max" is given again - */
    CHECK(tind_close(db) == TIND_OK, "close", db);
    CHECK(open_all(path, &db, &views, &best, &sessions) == TIND_OK, "reopen", db);
    CHECK(read_u64(views, "/page/0", &rc) == home && rc == TIND_OK, "counter after reopen", db);
    CHECK(read_u64(best, "ada", &rc) == 95 && rc == TIND_OK, "max after reopen", db);
    printf("best score of ada: 95; sessions expired by compaction: 1\n");
    CHECK(tind_close(db) == TIND_OK, "close", NULL);
    return 0;
}
