/*
 * test_get_into.c -- tind_get_into (issue 15): the value into the caller's
 * buffer, on every read path, checked against tind_get.
 *
 *   paths          memtable, table (after flush), compacted table; values
 *                  in blob files; merge operands (in the memtable and over a
 *                  flushed base); range deletions; snapshots; a
 *                  transaction's own writes; missing keys; empty values
 *   short buffer   cap 0 (size only, buf may be NULL), 1, vlen - 1, vlen:
 *                  the first cap bytes are written and nothing past them,
 *                  *vlen is the whole size
 *   arguments      vlen NULL, buf NULL with cap > 0: TIND_EINVAL
 *   corruption     a table with damaged data blocks, cold cache: every read
 *                  returns the value or TIND_ECORRUPT, never wrong bytes, and
 *                  leaves the buffer untouched on failure
 *   tind_multi_get keys in any order, duplicates, absent and bad keys, blobs,
 *                  a snapshot, every path of the tree at once: each status and
 *                  value as tind_get's; NULL arrays; over the damaged table:
 *                  TIND_ECORRUPT returned, the readable keys still right
 *
 *   concurrent     readers (tind_get_into, tind_multi_get) while the main
 *                  thread overwrites, flushes and compacts (tables opened,
 *                  partition directories built and dropped under them): every
 *                  value read is one that was written for its key.
 *                  TSAN-LABEL: runs under make test-tsan.
 *
 * Each check compares with tind_get at the same read options, so the two
 * calls cannot drift apart.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define CANARY 0xA5

/* tind_get_into(ks, key, ro) agrees with tind_get for caps 0, 1, n-1, n, n+7:
 * same status, same size, the first min(cap, n) bytes, no byte past cap. */
static void same_as_get(tind_keyspace *ks, const char *key, const tind_read_options *ro)
{
    size_t klen = strlen(key);
    void *want = NULL;
    size_t wn = 0;
    int wrc = tind_get(ks, key, klen, ro, &want, &wn);
    size_t caps[5] = {0, 1, wn ? wn - 1 : 0, wn, wn + 7};
    uint8_t *buf = malloc(wn + 16);
    CHECK(buf != NULL);
    for (int i = 0; i < 5; i++) {
        size_t cap = caps[i];
        memset(buf, CANARY, wn + 16);
        size_t got = 12345;
        int rc = tind_get_into(ks, key, klen, ro, cap ? buf : NULL, cap, &got);
        CHECK_RC(rc, wrc);
        if (rc != TIND_OK) {
            CHECK_EQ(got, 0);
            for (size_t j = 0; j < wn + 16; j++)
                CHECK_EQ(buf[j], CANARY);
            continue;
        }
        CHECK_EQ(got, wn);
        size_t c = cap < wn ? cap : wn;
        CHECK_MEM(buf, c, want, c);
        for (size_t j = c; j < wn + 16; j++)
            CHECK_EQ(buf[j], CANARY);
    }
    free(buf);
    tind_free(want);
}

static void put_s(tind_keyspace *ks, const char *k, const char *v)
{
    CHECK_OK(tind_put(ks, k, strlen(k), v, strlen(v)));
}

static void expect_value(tind_keyspace *ks, const char *k, const tind_read_options *ro, const void *v, size_t n)
{
    uint8_t buf[4096];
    size_t got;
    CHECK_OK(tind_get_into(ks, k, strlen(k), ro, buf, sizeof buf, &got));
    CHECK_MEM(buf, got, v, n);
    same_as_get(ks, k, ro);
}

static void expect_absent(tind_keyspace *ks, const char *k, const tind_read_options *ro)
{
    uint8_t buf[8];
    size_t got = 7;
    CHECK_RC(tind_get_into(ks, k, strlen(k), ro, buf, sizeof buf, &got), TIND_NOT_FOUND);
    CHECK_EQ(got, 0);
    same_as_get(ks, k, ro);
}

static tind_db *open_db(const char *dir)
{
    tind_db *db;
    CHECK_OK(tind_open(dir, NULL, &db));
    return db;
}

/* Closes db and removes its folder. */
static void finish(tind_db *db, char *dir)
{
    CHECK_OK(tind_close(db));
    check_rmtree(dir);
    free(dir);
}

/* A fresh database in a new folder with one keyspace "k" (default options). */
static tind_db *open_fresh(const char *tag, char **dir, tind_keyspace **ks)
{
    *dir = check_tmpdir(tag);
    tind_db *db = open_db(*dir);
    CHECK_OK(tind_keyspace_open(db, "k", NULL, ks));
    return db;
}

TEST(plain_values)
{
    char *dir;
    tind_keyspace *ks;
    tind_db *db = open_fresh("get_into_plain", &dir, &ks);
    char key[32], val[300];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "key%05d", i);
        int n = snprintf(val, sizeof val, "value-%d-", i);
        memset(val + n, 'a' + i % 26, (size_t)(i % 200));
        val[n + i % 200] = 0;
        put_s(ks, key, val);
    }
    CHECK_OK(tind_put(ks, "empty", 5, "", 0));
    for (int round = 0; round < 3; round++) { /* memtable, L0 table, compacted */
        for (int i = 0; i < 500; i += 7) {
            snprintf(key, sizeof key, "key%05d", i);
            same_as_get(ks, key, NULL);
        }
        expect_value(ks, "empty", NULL, "", 0);
        expect_absent(ks, "key99999", NULL);
        expect_absent(ks, "a", NULL);
        if (round == 0)
            CHECK_OK(tind_flush(ks));
        else if (round == 1)
            CHECK_OK(tind_compact(ks));
    }
    /* removes and overwrites over tables */
    CHECK_OK(tind_remove(ks, "key00007", 8));
    put_s(ks, "key00014", "new");
    expect_absent(ks, "key00007", NULL);
    expect_value(ks, "key00014", NULL, "new", 3);
    /* arguments */
    uint8_t b[4];
    size_t n;
    CHECK_RC(tind_get_into(ks, "key00014", 8, NULL, b, sizeof b, NULL), TIND_EINVAL);
    CHECK_RC(tind_get_into(ks, "key00014", 8, NULL, NULL, 4, &n), TIND_EINVAL);
    CHECK_RC(tind_get_into(NULL, "key00014", 8, NULL, b, sizeof b, &n), TIND_EINVAL);
    CHECK_RC(tind_get_into(ks, NULL, 3, NULL, b, sizeof b, &n), TIND_EINVAL);
    CHECK_OK(tind_get_into(ks, "key00014", 8, NULL, NULL, 0, &n));
    CHECK_EQ(n, 3);
    finish(db, dir);
}

TEST(snapshots_and_range_deletes)
{
    char *dir;
    tind_keyspace *ks;
    tind_db *db = open_fresh("get_into_snap", &dir, &ks);
    put_s(ks, "a1", "old-a1");
    put_s(ks, "b1", "old-b1");
    put_s(ks, "c1", "old-c1");
    CHECK_OK(tind_flush(ks));
    tind_snapshot *s;
    CHECK_OK(tind_snapshot_new(db, &s));
    tind_read_options *ro = tind_read_options_new();
    CHECK(ro != NULL);
    tind_read_options_set_snapshot(ro, s);
    put_s(ks, "a1", "new-a1");
    CHECK_OK(tind_remove_range(ks, "b", 1, "c", 1)); /* deletes b1 */
    for (int round = 0; round < 2; round++) {
        expect_value(ks, "a1", NULL, "new-a1", 6);
        expect_value(ks, "a1", ro, "old-a1", 6);
        expect_absent(ks, "b1", NULL);
        expect_value(ks, "b1", ro, "old-b1", 6);
        expect_value(ks, "c1", NULL, "old-c1", 6);
        CHECK_OK(tind_flush(ks));
    }
    tind_read_options_free(ro);
    tind_snapshot_free(s);
    finish(db, dir);
}

TEST(blobs_and_merges)
{
    char *dir = check_tmpdir("get_into_blob");
    tind_db *db = open_db(dir);
    tind_ks_options *o = tind_ks_options_new();
    CHECK(o != NULL);
    tind_ks_options_set_blob_separation(o, 1, 64);
    tind_keyspace *ks, *ctr;
    CHECK_OK(tind_keyspace_open(db, "blobs", o, &ks));
    tind_ks_options_free(o);
    o = tind_ks_options_new();
    CHECK(o != NULL);
    tind_ks_options_set_merge_builtin(o, TIND_MERGE_COUNTER, NULL, 0);
    CHECK_OK(tind_keyspace_open(db, "counters", o, &ctr));
    tind_ks_options_free(o);

    uint8_t big[3000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7 + 3);
    CHECK_OK(tind_put(ks, "big", 3, big, sizeof big));
    put_s(ks, "small", "tiny");
    uint64_t one = 1, ten = 10;
    CHECK_OK(tind_put(ctr, "n", 1, &ten, 8));
    CHECK_OK(tind_merge(ctr, "n", 1, &one, 8));
    for (int round = 0; round < 3; round++) {
        expect_value(ks, "big", NULL, big, sizeof big);
        expect_value(ks, "small", NULL, "tiny", 4);
        uint64_t want = 11 + (uint64_t)round;
        expect_value(ctr, "n", NULL, &want, 8);
        CHECK_OK(tind_flush(ks));
        CHECK_OK(tind_flush(ctr));
        if (round == 1) {
            CHECK_OK(tind_compact(ks));
            CHECK_OK(tind_compact(ctr));
        }
        CHECK_OK(tind_merge(ctr, "n", 1, &one, 8)); /* an operand over a flushed base */
    }
    /* a blob's size without reading it: cap 0 */
    size_t n = 0;
    CHECK_OK(tind_get_into(ks, "big", 3, NULL, NULL, 0, &n));
    CHECK_EQ(n, sizeof big);
    finish(db, dir);
}

TEST(transaction_reads_own_writes)
{
    char *dir;
    tind_keyspace *ks;
    tind_db *db = open_fresh("get_into_txn", &dir, &ks);
    put_s(ks, "x", "committed");
    put_s(ks, "y", "gone-soon");
    CHECK_OK(tind_flush(ks));
    tind_txn *t;
    CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
    tind_read_options *ro = tind_read_options_new();
    CHECK(ro != NULL);
    tind_read_options_set_txn(ro, t);
    CHECK_OK(tind_txn_put(t, ks, "x", 1, "mine", 4));
    CHECK_OK(tind_txn_remove(t, ks, "y", 1));
    CHECK_OK(tind_txn_put(t, ks, "z", 1, "", 0));
    expect_value(ks, "x", ro, "mine", 4);
    expect_absent(ks, "y", ro);
    expect_value(ks, "z", ro, "", 0);
    expect_value(ks, "x", NULL, "committed", 9);
    expect_value(ks, "y", NULL, "gone-soon", 9);
    expect_absent(ks, "z", NULL);
    tind_txn_rollback(t);
    tind_read_options_free(ro);
    finish(db, dir);
}

/* tind_multi_get of the n keys agrees with tind_get key by key; returns
 * its status. */
static int multi_same_as_get(tind_keyspace *ks, size_t n, const char *const *k, const tind_read_options *ro)
{
    const void **keys = calloc(n, sizeof *keys);
    size_t *klens = calloc(n, sizeof *klens), *vlens = calloc(n, sizeof *vlens);
    void **vals = calloc(n, sizeof *vals);
    int *st = calloc(n, sizeof *st);
    CHECK(keys && klens && vlens && vals && st);
    for (size_t i = 0; i < n; i++) {
        keys[i] = k[i];
        klens[i] = k[i] ? strlen(k[i]) : 3;
    }
    int rc = tind_multi_get(ks, n, keys, klens, ro, vals, vlens, st);
    int first = TIND_OK;
    for (size_t i = 0; i < n; i++) {
        void *want = NULL;
        size_t wn = 0;
        int wrc = tind_get(ks, keys[i], klens[i], ro, &want, &wn);
        if (wrc == TIND_ECORRUPT && st[i] == TIND_ECORRUPT) {
            CHECK(vals[i] == NULL);
            first = first ? first : wrc;
            continue;
        }
        CHECK_RC(st[i], wrc);
        if (wrc == TIND_OK) {
            CHECK(vals[i] != NULL);
            CHECK_MEM(vals[i], vlens[i], want, wn);
        } else {
            CHECK(vals[i] == NULL);
            CHECK_EQ(vlens[i], 0);
            if (wrc != TIND_NOT_FOUND && !first)
                first = wrc;
        }
        tind_free(want);
        tind_free(vals[i]);
    }
    if (first == TIND_OK)
        CHECK_OK(rc);
    else
        CHECK(rc != TIND_OK && rc != TIND_NOT_FOUND);
    free(keys);
    free(klens);
    free(vlens);
    free(vals);
    free(st);
    return rc;
}

TEST(multi_get)
{
    char *dir = check_tmpdir("get_into_multi");
    tind_db *db = open_db(dir);
    tind_ks_options *o = tind_ks_options_new();
    CHECK(o != NULL);
    tind_ks_options_set_blob_separation(o, 1, 200);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "k", o, &ks));
    tind_ks_options_free(o);
    char keybuf[64][16], val[400];
    const char *keys[80];
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        snprintf(keybuf[i], sizeof keybuf[i], "m%03d", (i * 37) % 64); /* not in key order */
    for (int i = 0; i < 60; i++) { /* m060..m063 never written */
        snprintf(val, sizeof val, "v%03d", i);
        size_t vl = strlen(val);
        if (i % 5 == 0) { /* a value in a blob file */
            memset(val + vl, 'b', 300);
            vl += 300;
        }
        char k[16];
        snprintf(k, sizeof k, "m%03d", i);
        CHECK_OK(tind_put(ks, k, strlen(k), val, vl));
        if (i == 20)
            CHECK_OK(tind_flush(ks));
        if (i == 40) {
            CHECK_OK(tind_flush(ks));
            CHECK_OK(tind_compact(ks));
        }
    }
    CHECK_OK(tind_remove(ks, "m007", 4));
    CHECK_OK(tind_remove_range(ks, "m010", 4, "m013", 4));
    for (int i = 0; i < 64; i++)
        keys[n++] = keybuf[i];
    keys[n++] = "m005";         /* a duplicate */
    keys[n++] = "absent";
    keys[n++] = "";             /* a bad key: TIND_EINVAL for it alone */
    CHECK_RC(multi_same_as_get(ks, n, keys, NULL), TIND_EINVAL);
    CHECK_OK(multi_same_as_get(ks, n - 1, keys, NULL));
    /* one snapshot for every key */
    tind_snapshot *s;
    CHECK_OK(tind_snapshot_new(db, &s));
    tind_read_options *ro = tind_read_options_new();
    CHECK(ro != NULL);
    tind_read_options_set_snapshot(ro, s);
    CHECK_OK(tind_put(ks, "m001", 4, "later", 5));
    CHECK_OK(tind_remove(ks, "m002", 4));
    CHECK_OK(multi_same_as_get(ks, n - 1, keys, ro));
    CHECK_OK(multi_same_as_get(ks, n - 1, keys, NULL));
    tind_read_options_free(ro);
    tind_snapshot_free(s);
    /* arguments */
    void *v[1];
    size_t kl[1] = {4}, vl[1];
    int st[1];
    const void *kk[1] = {"m001"};
    CHECK_OK(tind_multi_get(ks, 0, NULL, NULL, NULL, NULL, NULL, NULL));
    CHECK_RC(tind_multi_get(ks, 1, NULL, kl, NULL, v, vl, st), TIND_EINVAL);
    CHECK_RC(tind_multi_get(ks, 1, kk, kl, NULL, v, vl, NULL), TIND_EINVAL);
    CHECK_RC(tind_multi_get(NULL, 1, kk, kl, NULL, v, vl, st), TIND_EINVAL);
    CHECK_OK(tind_multi_get(ks, 1, kk, kl, NULL, v, vl, st));
    CHECK_MEM(v[0], vl[0], "later", 5);
    tind_free(v[0]);
    finish(db, dir);
}

/* Flips bytes in the middle of every table file under dir/tables. */
static int damage_tables(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tables", dir);
    DIR *d = opendir(path);
    CHECK(d != NULL);
    int damaged = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char f[4400];
        snprintf(f, sizeof f, "%s/%s", path, e->d_name);
        FILE *fp = fopen(f, "r+b");
        CHECK(fp != NULL);
        fseek(fp, 0, SEEK_END);
        long size = ftell(fp);
        /* the data blocks come first: damage a run of them, well clear of
         * the index, filter and footer at the end */
        for (long off = 64; off < size / 2; off += 997) {
            fseek(fp, off, SEEK_SET);
            int c = fgetc(fp);
            fseek(fp, off, SEEK_SET);
            fputc(c ^ 0x5A, fp);
        }
        fclose(fp);
        damaged++;
    }
    closedir(d);
    return damaged;
}

TEST(corrupt_table)
{
    char *dir;
    tind_keyspace *ks;
    tind_db *db = open_fresh("get_into_corrupt", &dir, &ks);
    char key[32], val[128];
    for (int i = 0; i < 4000; i++) {
        snprintf(key, sizeof key, "key%05d", i);
        snprintf(val, sizeof val, "value %05d of a table that will be damaged", i);
        put_s(ks, key, val);
    }
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    CHECK_OK(tind_close(db));
    CHECK(damage_tables(dir) > 0);
    int rc = tind_open(dir, NULL, &db);
    if (rc == TIND_ECORRUPT) { /* caught at open: also fine */
        check_rmtree(dir);
        free(dir);
        return;
    }
    CHECK_OK(rc);
    CHECK_OK(tind_keyspace_open(db, "k", NULL, &ks));
    int corrupt = 0, good = 0;
    for (int i = 0; i < 4000; i++) {
        snprintf(key, sizeof key, "key%05d", i);
        int n = snprintf(val, sizeof val, "value %05d of a table that will be damaged", i);
        uint8_t buf[128];
        memset(buf, CANARY, sizeof buf);
        size_t got = 99;
        rc = tind_get_into(ks, key, strlen(key), NULL, buf, sizeof buf, &got);
        if (rc == TIND_ECORRUPT) {
            corrupt++;
            CHECK_EQ(got, 0);
            for (size_t j = 0; j < sizeof buf; j++)
                CHECK_EQ(buf[j], CANARY);
            CHECK(strstr(tind_errmsg(db), "table") != NULL);
            continue;
        }
        CHECK_OK(rc);
        CHECK_MEM(buf, got, val, (size_t)n);
        good++;
    }
    CHECK(corrupt > 0);
    CHECK(good > 0);
    static char all[4000][16];
    static const char *allp[4000];
    for (int i = 0; i < 4000; i++) {
        snprintf(all[i], sizeof all[i], "key%05d", i);
        allp[i] = all[i];
    }
    CHECK_RC(multi_same_as_get(ks, 4000, allp, NULL), TIND_ECORRUPT);
    finish(db, dir);
}

#define CONC_KEYS 2000

typedef struct conc_reader {
    tind_keyspace *ks;
    atomic_int *stop;
    atomic_long reads;
} conc_reader;

/* Every value of key i is "i:<round>": a read must name its own key. */
static void conc_check(size_t i, const uint8_t *v, size_t n)
{
    char want[16];
    int w = snprintf(want, sizeof want, "%zu:", i);
    CHECK(n > (size_t)w && memcmp(v, want, (size_t)w) == 0);
}

static void *conc_read(void *arg)
{
    conc_reader *r = arg;
    char kb[8][16];
    const void *keys[8];
    size_t klens[8], vlens[8];
    void *vals[8];
    int st[8];
    uint64_t x = 88172645463325252ull;
    while (!atomic_load(r->stop)) {
        for (int j = 0; j < 8; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            klens[j] = (size_t)snprintf(kb[j], sizeof kb[j], "c%05d", (int)(x % CONC_KEYS));
            keys[j] = kb[j];
        }
        uint8_t buf[64];
        size_t n;
        CHECK_OK(tind_get_into(r->ks, keys[0], klens[0], NULL, buf, sizeof buf, &n));
        conc_check((size_t)atoi(kb[0] + 1), buf, n);
        CHECK_OK(tind_multi_get(r->ks, 8, keys, klens, NULL, vals, vlens, st));
        for (int j = 0; j < 8; j++) {
            CHECK_OK(st[j]);
            conc_check((size_t)atoi(kb[j] + 1), vals[j], vlens[j]);
            tind_free(vals[j]);
        }
        atomic_fetch_add(&r->reads, 9);
    }
    return NULL;
}

TEST(concurrent)
{
    char *dir;
    tind_keyspace *ks;
    tind_db *db = open_fresh("get_into_conc", &dir, &ks);
    char k[16], v[32];
    for (int i = 0; i < CONC_KEYS; i++) {
        snprintf(k, sizeof k, "c%05d", i);
        snprintf(v, sizeof v, "%d:0", i);
        put_s(ks, k, v);
    }
    CHECK_OK(tind_flush(ks));
    atomic_int stop;
    atomic_init(&stop, 0);
    conc_reader r[2] = {{ks, &stop, 0}, {ks, &stop, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, conc_read, &r[i]) == 0);
    /* the writes start once both readers read (a loaded machine may start
     * a thread late: the writes could otherwise end before it reads) */
    for (int waits = 0; waits < 10000 && (!atomic_load(&r[0].reads) || !atomic_load(&r[1].reads)); waits++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    for (int round = 1; round <= 6; round++) {
        for (int i = round % 3; i < CONC_KEYS; i += 3) {
            snprintf(k, sizeof k, "c%05d", i);
            snprintf(v, sizeof v, "%d:%d", i, round);
            put_s(ks, k, v);
        }
        CHECK_OK(tind_flush(ks));
        if (round % 2 == 0)
            CHECK_OK(tind_compact(ks));
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK(atomic_load(&r[0].reads) > 0 && atomic_load(&r[1].reads) > 0);
    finish(db, dir);
}

int main(void)
{
    RUN(plain_values);
    RUN(snapshots_and_range_deletes);
    RUN(blobs_and_merges);
    RUN(transaction_reads_own_writes);
    RUN(multi_get);
    RUN(corrupt_table);
    RUN(concurrent);
    return 0;
}
