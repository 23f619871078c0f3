/*
 * test_regress_api.c -- regression tests for the public API's edges
 * (issue 10, bugs 5, 8, 11 and 12):
 *
 *   value_old_max_no_poison   a value of 2^32-1 bytes (the old documented
 *                             maximum) got TIND_ETOOBIG from the journal AND
 *                             poisoned the database; now every size is
 *                             checked before anything is written
 *   value_limit_plus_one      TIND_MAX_VALUE_SIZE + 1 is refused, by put and
 *                             by batch put, and the database stays writable
 *   key_limits                65,535-byte keys work, 65,536 are refused
 *   batch_record_limit        a batch exactly at the record limit (lowered by
 *                             the internal test option) commits; one byte more
 *                             is refused without changing the batch
 *   huge_value_at_limit       (TIND_TEST_HUGE=1 only: 12.0 GiB of memory, 8 GiB
 *                             of disk, ~3 min) a value of exactly
 *                             TIND_MAX_VALUE_SIZE round-trips through the
 *                             memtable, journal replay, a table and a reopen
 *   errmsg_other_thread       another thread's failure on the same db does not
 *                             replace this thread's message (it did: one
 *                             buffer per db)
 *   errmsg_threads            TSAN-LABEL: 8 threads each provoke errors with a
 *                             thread-specific size and read their own message
 *   errmsg_databases          per database, and a db opened later (maybe at a
 *                             closed one's address) has no stale message
 *   null_arguments            every public function with each NULL argument
 *                             (tind_iter_range / _prefix with a NULL out-
 *                             pointer crashed and leaked; tind_iter_key /
 *                             _value with a NULL length and option setters on
 *                             NULL options crashed)
 *   empty_bounds              hi = "" is an empty range (it was unbounded),
 *                             lo = "" starts at the first key, seeks, prefix ""
 *   null_key_with_length      says "NULL key with length N", not "empty key"
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"
#include "util/coding.h"

static int open_mem(fs *f, uint64_t max_record, tind_db **db)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, f);
    if (max_record)
        tind_options_set_max_record_bytes(o, max_record);
    int rc = tind_open("/db", o, db);
    tind_options_free(o);
    return rc;
}

/* A fresh in-memory database with keyspace "ks" (background threads on). */
static fs *open_ks(uint64_t max_record, tind_db **db, tind_keyspace **ks)
{
    fs *mem = fs_mem_new();
    CHECK(mem);
    CHECK_OK(open_mem(mem, max_record, db));
    CHECK_OK(tind_keyspace_open(*db, "ks", NULL, ks));
    return mem;
}

static void reopen_ks(fs *mem, uint64_t max_record, tind_db **db, tind_keyspace **ks)
{
    CHECK_OK(tind_close(*db));
    CHECK_OK(open_mem(mem, max_record, db));
    CHECK_OK(tind_keyspace_open(*db, "ks", NULL, ks));
}

static void close_ks(tind_db *db, fs *mem)
{
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

static void expect_value(tind_keyspace *ks, const char *key, size_t klen, const void *want, size_t wlen)
{
    void *v;
    size_t n;
    CHECK_OK(tind_get(ks, key, klen, NULL, &v, &n));
    CHECK_MEM(v, n, want, wlen);
    tind_free(v);
}

/* The database still takes writes (an input error must never poison). */
static void expect_writable(tind_keyspace *ks)
{
    CHECK_OK(tind_put(ks, "alive", 5, "yes", 3));
    expect_value(ks, "alive", 5, "yes", 3);
}

static int msg_has(tind_db *db, const char *needle)
{
    const char *m = tind_errmsg(db);
    if (!strstr(m, needle)) {
        fprintf(stderr, "    message '%s' lacks '%s'\n", m, needle);
        return 0;
    }
    return 1;
}

/* n readable bytes that cost no memory until written: the engine must
 * refuse oversized values before it copies them. */
static void *zero_region(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(p != MAP_FAILED);
    return p;
}

/* ------------------------------------------------------------------ bug 5 */

TEST(value_old_max_no_poison)
{
    tind_db *db;
    tind_keyspace *ks;
    fs *mem = open_ks(0, &db, &ks);
    size_t n = 0xFFFFFFFFu;
    void *big = zero_region(n);
    CHECK_RC(tind_put(ks, "k", 1, big, n), TIND_ETOOBIG);
    expect_writable(ks);
    CHECK_RC(tind_put(ks, "k", 1, big, n), TIND_ETOOBIG);
    CHECK(msg_has(db, "over the limit of 4293918720"));
    munmap(big, n);
    reopen_ks(mem, 0, &db, &ks);
    expect_value(ks, "alive", 5, "yes", 3);
    CHECK_RC(tind_get(ks, "k", 1, NULL, &(void *){NULL}, &(size_t){0}), TIND_NOT_FOUND);
    close_ks(db, mem);
}

TEST(value_limit_plus_one)
{
    tind_db *db;
    tind_keyspace *ks;
    tind_batch *b;
    fs *mem = open_ks(0, &db, &ks);
    size_t n = (size_t)TIND_MAX_VALUE_SIZE + 1;
    void *big = zero_region(n);
    CHECK_RC(tind_put(ks, "k", 1, big, n), TIND_ETOOBIG);
    CHECK(msg_has(db, "value of 4293918721 bytes"));
    expect_writable(ks);
    CHECK_OK(tind_batch_new(db, &b));
    CHECK_OK(tind_batch_put(b, ks, "a", 1, "1", 1));
    CHECK_RC(tind_batch_put(b, ks, "k", 1, big, n), TIND_ETOOBIG);
    CHECK_EQ(tind_batch_count(b), 1);
    CHECK_OK(tind_batch_commit(b));
    expect_value(ks, "a", 1, "1", 1);
    tind_batch_free(b);
    munmap(big, n);
    expect_writable(ks);
    close_ks(db, mem);
}

TEST(key_limits)
{
    tind_db *db;
    tind_keyspace *ks;
    tind_batch *b;
    fs *mem = open_ks(0, &db, &ks);
    char *key = malloc(TIND_MAX_KEY_SIZE + 1);
    CHECK(key);
    memset(key, 'k', TIND_MAX_KEY_SIZE + 1);
    CHECK_OK(tind_put(ks, key, TIND_MAX_KEY_SIZE, "max", 3));
    CHECK_RC(tind_put(ks, key, TIND_MAX_KEY_SIZE + 1, "over", 4), TIND_ETOOBIG);
    CHECK(msg_has(db, "key of 65536 bytes"));
    CHECK_RC(tind_remove(ks, key, TIND_MAX_KEY_SIZE + 1), TIND_ETOOBIG);
    CHECK_RC(tind_get(ks, key, TIND_MAX_KEY_SIZE + 1, NULL, &(void *){NULL}, &(size_t){0}), TIND_ETOOBIG);
    CHECK_OK(tind_batch_new(db, &b));
    CHECK_RC(tind_batch_put(b, ks, key, TIND_MAX_KEY_SIZE + 1, "v", 1), TIND_ETOOBIG);
    CHECK_RC(tind_batch_remove(b, ks, key, TIND_MAX_KEY_SIZE + 1), TIND_ETOOBIG);
    CHECK_EQ(tind_batch_count(b), 0);
    key[0] = 'b';
    CHECK_OK(tind_batch_put(b, ks, key, TIND_MAX_KEY_SIZE, "batch", 5));
    CHECK_OK(tind_batch_commit(b));
    tind_batch_free(b);
    expect_writable(ks);
    CHECK_OK(tind_flush(ks));
    reopen_ks(mem, 0, &db, &ks);
    expect_value(ks, key, TIND_MAX_KEY_SIZE, "batch", 5);
    key[0] = 'k';
    expect_value(ks, key, TIND_MAX_KEY_SIZE, "max", 3);
    free(key);
    close_ks(db, mem);
}

/* Bytes a put of (klen, vlen) takes in a batch (docs/FORMAT.md). */
static size_t op_bytes(uint32_t ks_id, size_t klen, size_t vlen)
{
    return 1 + varint_len(ks_id) + varint_len(klen) + klen + varint_len(vlen) + vlen;
}

TEST(batch_record_limit)
{
    const size_t limit = 100000;
    tind_db *db;
    tind_keyspace *ks;
    tind_batch *b;
    fs *mem = open_ks(limit, &db, &ks);
    char *val = calloc(1, limit + 1);
    CHECK(val);
    memset(val, 'v', limit);
    /* a single put over the record limit */
    CHECK_RC(tind_put(ks, "k", 1, val, limit), TIND_ETOOBIG);
    CHECK(msg_has(db, "over the limit of 100000 bytes"));
    expect_writable(ks);
    /* a batch filled to exactly the limit */
    CHECK_OK(tind_batch_new(db, &b));
    CHECK_OK(tind_batch_put(b, ks, "k1", 2, val, 50000));
    size_t used = op_bytes(ks->id, 2, 50000), last = 0;
    for (size_t v = 0; v < limit; v++)
        if (used + op_bytes(ks->id, 2, v) == limit)
            last = v;
    CHECK(last > 0);
    CHECK_RC(tind_batch_put(b, ks, "k2", 2, val, last + 1), TIND_ETOOBIG);
    CHECK_RC(tind_batch_remove(b, ks, val, last + 10), TIND_ETOOBIG);
    CHECK_EQ(tind_batch_count(b), 1);
    CHECK_OK(tind_batch_put(b, ks, "k2", 2, val, last));
    CHECK_RC(tind_batch_remove(b, ks, "x", 1), TIND_ETOOBIG);
    CHECK_EQ(tind_batch_count(b), 2);
    CHECK_OK(tind_batch_commit(b));
    /* the batch is cleared by the commit and takes the full limit again */
    CHECK_OK(tind_batch_put(b, ks, "k3", 2, val, 1000));
    CHECK_OK(tind_batch_commit(b));
    tind_batch_free(b);
    expect_writable(ks);
    reopen_ks(mem, limit, &db, &ks);
    expect_value(ks, "k1", 2, val, 50000);
    expect_value(ks, "k2", 2, val, last);
    expect_value(ks, "k3", 2, val, 1000);
    free(val);
    close_ks(db, mem);
}

/* The byte at offset i of the huge value: varies within every page. */
static uint8_t huge_byte(size_t i) { return (uint8_t)((i * 131) ^ (i >> 12)); }

static void expect_huge(tind_keyspace *ks, const char *key)
{
    void *got;
    size_t gn;
    CHECK_OK(tind_get(ks, key, TIND_MAX_KEY_SIZE, NULL, &got, &gn));
    CHECK_EQ(gn, TIND_MAX_VALUE_SIZE);
    const uint8_t *g = got;
    for (size_t i = 0; i < gn; i++)
        if (g[i] != huge_byte(i))
            check_fail(__FILE__, __LINE__, "huge value: byte %zu differs", i);
    tind_free(got);
}

TEST(huge_value_at_limit)
{
    const char *on = getenv("TIND_TEST_HUGE");
    if (!on || strcmp(on, "1") != 0) {
        fprintf(stderr, "    skipped (TIND_TEST_HUGE=1 runs it: about 12 GiB of memory, 8 GiB of disk)\n");
        return;
    }
    char *dir = check_tmpdir("huge");
    tind_db *db;
    tind_keyspace *ks;
    /* no background threads: one copy of the value in flight at a time */
    tind_options *o = tind_options_new();
    tind_options_set_no_background(o, 1);
    CHECK_OK(tind_open(dir, o, &db));
    CHECK_OK(tind_keyspace_open(db, "ks", NULL, &ks));
    size_t n = TIND_MAX_VALUE_SIZE;
    uint8_t *val = malloc(n);
    char *key = malloc(TIND_MAX_KEY_SIZE);
    CHECK(val && key);
    for (size_t i = 0; i < n; i++)
        val[i] = huge_byte(i);
    memset(key, 'k', TIND_MAX_KEY_SIZE);
    CHECK_OK(tind_put(ks, key, TIND_MAX_KEY_SIZE, val, n));
    free(val);
    fprintf(stderr, "    put done\n");
    expect_huge(ks, key);                /* from the memtable */
    CHECK_OK(tind_close(db));
    CHECK_OK(tind_open(dir, o, &db));
    CHECK_OK(tind_keyspace_open(db, "ks", NULL, &ks));
    expect_huge(ks, key);                /* replayed from the journal */
    CHECK_OK(tind_flush(ks));
    fprintf(stderr, "    flush done\n");
    expect_huge(ks, key);                /* from a table */
    expect_writable(ks);
    CHECK_OK(tind_close(db));
    CHECK_OK(tind_open(dir, o, &db));
    CHECK_OK(tind_keyspace_open(db, "ks", NULL, &ks));
    expect_huge(ks, key);                /* from the table after a reopen */
    free(key);
    tind_options_free(o);
    CHECK_OK(tind_close(db));
    check_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------------ bug 8 */

/* The message of a failed tind_get with an oversized key names its size. */
static char big_key[TIND_MAX_KEY_SIZE + 20000];

static void fail_with_size(tind_keyspace *ks, size_t n)
{
    void *v;
    size_t vn;
    int rc = tind_get(ks, big_key, n, NULL, &v, &vn);
    if (rc != TIND_ETOOBIG)
        check_fail(__FILE__, __LINE__, "tind_get with a %zu-byte key: %d", n, rc);
}

static int own_message(tind_db *db, size_t n)
{
    char want[96];
    snprintf(want, sizeof want, "key of %zu bytes is over the limit", n);
    return strcmp(tind_errmsg(db), want) == 0 || strstr(tind_errmsg(db), want) != NULL;
}

typedef struct other_arg {
    tind_keyspace *ks;
    size_t size;
} other_arg;

static void *other_thread(void *p)
{
    other_arg *a = p;
    fail_with_size(a->ks, a->size);
    return NULL;
}

TEST(errmsg_other_thread)
{
    tind_db *db;
    tind_keyspace *ks;
    fs *mem = open_ks(0, &db, &ks);
    fail_with_size(ks, 70000);
    other_arg a = {ks, 70001};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, other_thread, &a), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK(own_message(db, 70000));
    close_ks(db, mem);
}

#define ERR_THREADS 8

typedef struct err_arg {
    tind_db *db;
    tind_keyspace *ks;
    int id;
    int iterations;
    int wrong;
} err_arg;

static void *err_thread(void *p)
{
    err_arg *a = p;
    for (int i = 0; i < a->iterations; i++) {
        size_t n = TIND_MAX_KEY_SIZE + 1 + (size_t)a->id * 1000 + (size_t)(i % 1000);
        fail_with_size(a->ks, n);
        if (i & 1)
            sched_yield();   /* let the others fail in between */
        if (!own_message(a->db, n))
            a->wrong++;
    }
    return NULL;
}

TEST(errmsg_threads)
{
    tind_db *db;
    tind_keyspace *ks;
    fs *mem = open_ks(0, &db, &ks);
    err_arg args[ERR_THREADS];
    pthread_t t[ERR_THREADS];
    int iterations = (int)(20000 * check_scale());
    for (int i = 0; i < ERR_THREADS; i++) {
        args[i] = (err_arg){db, ks, i, iterations, 0};
        CHECK_EQ(pthread_create(&t[i], NULL, err_thread, &args[i]), 0);
    }
    int wrong = 0;
    for (int i = 0; i < ERR_THREADS; i++) {
        CHECK_EQ(pthread_join(t[i], NULL), 0);
        wrong += args[i].wrong;
    }
    if (wrong)
        fprintf(stderr, "    %d of %d messages came from another thread\n", wrong, ERR_THREADS * iterations);
    CHECK_EQ(wrong, 0);
    close_ks(db, mem);
}

TEST(errmsg_databases)
{
    tind_db *db1, *db2, *db3;
    tind_keyspace *ks1, *ks2, *ks3;
    fs *m1 = open_ks(0, &db1, &ks1), *m2 = open_ks(0, &db2, &ks2), *m3 = fs_mem_new();
    fail_with_size(ks1, 70010);
    fail_with_size(ks2, 70020);
    CHECK(own_message(db1, 70010));
    CHECK(own_message(db2, 70020));
    /* success leaves the last failure's message */
    CHECK_OK(tind_put(ks1, "k", 1, "v", 1));
    CHECK(own_message(db1, 70010));
    /* close db1; databases opened later never see its message, whatever
     * address they get */
    close_ks(db1, m1);
    for (int i = 0; i < 4; i++) {
        CHECK_OK(open_mem(m3, 0, &db3));
        CHECK_EQ(strcmp(tind_errmsg(db3), ""), 0);
        CHECK_OK(tind_keyspace_open(db3, "ks", NULL, &ks3));
        fail_with_size(ks3, 70030 + (size_t)i);
        CHECK(own_message(db3, 70030 + (size_t)i));
        CHECK_OK(tind_close(db3));
    }
    CHECK(own_message(db2, 70020));
    /* a thread keeps its messages for the last 8 databases it failed on */
    tind_db *many[9];
    fs *mf[9];
    for (int i = 0; i < 9; i++) {
        tind_keyspace *k;
        mf[i] = open_ks(0, &many[i], &k);
        fail_with_size(k, 71000 + (size_t)i);
    }
    CHECK_EQ(strcmp(tind_errmsg(db2), ""), 0);   /* displaced by the 9 newer ones */
    CHECK_EQ(strcmp(tind_errmsg(many[0]), ""), 0);
    for (int i = 1; i < 9; i++)
        CHECK(own_message(many[i], 71000 + (size_t)i));
    for (int i = 0; i < 9; i++)
        close_ks(many[i], mf[i]);
    close_ks(db2, m2);
    fs_destroy(m3);
}

/* ------------------------------------------------------------------ bug 11 */

/* The fixture every case of the table may use. */
static struct {
    tind_db *db;
    tind_keyspace *ks;
    tind_iter *it;      /* valid, on key "a" */
    tind_batch *b;
    tind_snapshot *snap;
    const char *path;
} fx;

typedef struct null_case {
    const char *name;
    int (*call)(void);  /* returns a status; void calls return TIND_OK */
    int want;
} null_case;

#define VOID_CASE(name, stmt) static int name(void) { stmt; return TIND_OK; }
#define RC_CASE(name, expr) static int name(void) { return (expr); }

static void *vp;
static size_t zn;
static uint64_t u64;
static char **names;
static tind_db *dbp;
static tind_keyspace *ksp;
static tind_batch *bp;
static tind_snapshot *sp;
static tind_iter *itp;

RC_CASE(errmsg_null, tind_errmsg(NULL) ? TIND_OK : TIND_EIO)
RC_CASE(strerror_bad, tind_strerror(-12345) ? TIND_OK : TIND_EIO)
VOID_CASE(options_free_null, tind_options_free(NULL))
VOID_CASE(set_create_if_missing, tind_options_set_create_if_missing(NULL, 1))
VOID_CASE(set_cache_size, tind_options_set_cache_size(NULL, 1))
VOID_CASE(set_blob_cache_size, tind_options_set_blob_cache_size(NULL, 1))
VOID_CASE(set_write_buffer_size, tind_options_set_write_buffer_size(NULL, 1))
VOID_CASE(set_journal_file_size, tind_options_set_journal_file_size(NULL, 1))
VOID_CASE(set_max_journal_size, tind_options_set_max_journal_size(NULL, 1))
VOID_CASE(set_journal_compression_threshold, tind_options_set_journal_compression_threshold(NULL, 1))
VOID_CASE(set_background_threads, tind_options_set_background_threads(NULL, 1))
VOID_CASE(set_sync_interval_ms, tind_options_set_sync_interval_ms(NULL, 1))
VOID_CASE(set_max_open_files, tind_options_set_max_open_files(NULL, 1))
VOID_CASE(set_default_durability, tind_options_set_default_durability(NULL, 1))
RC_CASE(open_null_path, tind_open(NULL, NULL, &dbp))
RC_CASE(open_empty_path, tind_open("", NULL, &dbp))
RC_CASE(open_null_out, tind_open(fx.path, NULL, NULL))
RC_CASE(close_null, tind_close(NULL))
RC_CASE(persist_null, tind_persist(NULL, TIND_PERSIST_SYNC_DATA))
RC_CASE(persist_bad_mode, tind_persist(fx.db, 7))
RC_CASE(persist_negative_mode, tind_persist(fx.db, -100))
RC_CASE(persist_none_mode, tind_persist(fx.db, TIND_PERSIST_NONE))
VOID_CASE(ks_options_free_null, tind_ks_options_free(NULL))
VOID_CASE(ks_set_memtable_size, tind_ks_options_set_memtable_size(NULL, 1))
VOID_CASE(ks_set_compaction, tind_ks_options_set_compaction(NULL, 1))
VOID_CASE(ks_set_l0_threshold, tind_ks_options_set_l0_threshold(NULL, 1))
VOID_CASE(ks_set_table_size, tind_ks_options_set_table_size(NULL, 1))
VOID_CASE(ks_set_level_ratio, tind_ks_options_set_level_ratio(NULL, 1))
VOID_CASE(ks_set_levels, tind_ks_options_set_levels(NULL, 1))
VOID_CASE(ks_set_block_size, tind_ks_options_set_block_size(NULL, 1))
VOID_CASE(ks_set_restart_interval, tind_ks_options_set_restart_interval(NULL, 1))
VOID_CASE(ks_set_hash_ratio, tind_ks_options_set_hash_ratio(NULL, 1))
VOID_CASE(ks_set_compression, tind_ks_options_set_compression(NULL, -1, 0, 0))
VOID_CASE(ks_set_bloom_bits, tind_ks_options_set_bloom_bits(NULL, -1, 1))
VOID_CASE(ks_set_partitioning, tind_ks_options_set_partitioning(NULL, 1))
VOID_CASE(ks_set_expect_hits, tind_ks_options_set_expect_point_read_hits(NULL, 1))
VOID_CASE(ks_set_fifo, tind_ks_options_set_fifo(NULL, 1, 1))
RC_CASE(ks_open_null_db, tind_keyspace_open(NULL, "x", NULL, &ksp))
RC_CASE(ks_open_null_name, tind_keyspace_open(fx.db, NULL, NULL, &ksp))
RC_CASE(ks_open_null_out, tind_keyspace_open(fx.db, "x", NULL, NULL))
RC_CASE(ks_exists_null_db, tind_keyspace_exists(NULL, "ks"))
RC_CASE(ks_exists_null_name, tind_keyspace_exists(fx.db, NULL))
RC_CASE(ks_list_null_db, tind_keyspace_list(NULL, &names, &zn))
RC_CASE(ks_list_null_names, tind_keyspace_list(fx.db, NULL, &zn))
RC_CASE(ks_list_null_count, tind_keyspace_list(fx.db, &names, NULL))
RC_CASE(ks_delete_null_db, tind_keyspace_delete(NULL, "ks"))
RC_CASE(ks_delete_null_name, tind_keyspace_delete(fx.db, NULL))
RC_CASE(ks_name_null, tind_keyspace_name(NULL) == NULL ? TIND_OK : TIND_EIO)
RC_CASE(put_null_ks, tind_put(NULL, "k", 1, "v", 1))
RC_CASE(put_null_key, tind_put(fx.ks, NULL, 1, "v", 1))
RC_CASE(put_null_key_0, tind_put(fx.ks, NULL, 0, "v", 1))
RC_CASE(put_null_value, tind_put(fx.ks, "k", 1, NULL, 5))
RC_CASE(remove_null_ks, tind_remove(NULL, "k", 1))
RC_CASE(remove_null_key, tind_remove(fx.ks, NULL, 3))
RC_CASE(batch_new_null_db, tind_batch_new(NULL, &bp))
RC_CASE(batch_new_null_out, tind_batch_new(fx.db, NULL))
VOID_CASE(batch_free_null, tind_batch_free(NULL))
RC_CASE(batch_put_null_batch, tind_batch_put(NULL, fx.ks, "k", 1, "v", 1))
RC_CASE(batch_put_null_ks, tind_batch_put(fx.b, NULL, "k", 1, "v", 1))
RC_CASE(batch_put_null_key, tind_batch_put(fx.b, fx.ks, NULL, 2, "v", 1))
RC_CASE(batch_put_null_value, tind_batch_put(fx.b, fx.ks, "k", 1, NULL, 3))
RC_CASE(batch_remove_null_batch, tind_batch_remove(NULL, fx.ks, "k", 1))
RC_CASE(batch_remove_null_ks, tind_batch_remove(fx.b, NULL, "k", 1))
RC_CASE(batch_remove_null_key, tind_batch_remove(fx.b, fx.ks, NULL, 1))
VOID_CASE(batch_set_durability_null, tind_batch_set_durability(NULL, 0))
VOID_CASE(batch_set_durability_bad, tind_batch_set_durability(fx.b, 99))
RC_CASE(batch_count_null, tind_batch_count(NULL) == 0 ? TIND_OK : TIND_EIO)
VOID_CASE(batch_clear_null, tind_batch_clear(NULL))
RC_CASE(batch_commit_null, tind_batch_commit(NULL))
RC_CASE(snapshot_new_null_db, tind_snapshot_new(NULL, &sp))
RC_CASE(snapshot_new_null_out, tind_snapshot_new(fx.db, NULL))
VOID_CASE(snapshot_free_null, tind_snapshot_free(NULL))
RC_CASE(snapshot_seqno_null, tind_snapshot_seqno(NULL) == 0 ? TIND_OK : TIND_EIO)
VOID_CASE(read_options_free_null, tind_read_options_free(NULL))
VOID_CASE(read_options_snapshot_null, tind_read_options_set_snapshot(NULL, fx.snap))
VOID_CASE(read_options_fill_cache_null, tind_read_options_set_fill_cache(NULL, 0))
RC_CASE(get_null_ks, tind_get(NULL, "a", 1, NULL, &vp, &zn))
RC_CASE(get_null_key, tind_get(fx.ks, NULL, 1, NULL, &vp, &zn))
RC_CASE(get_null_val, tind_get(fx.ks, "a", 1, NULL, NULL, &zn))
RC_CASE(get_null_vlen, tind_get(fx.ks, "a", 1, NULL, &vp, NULL))
RC_CASE(contains_null_ks, tind_contains(NULL, "a", 1, NULL))
RC_CASE(contains_null_key, tind_contains(fx.ks, NULL, 1, NULL))
RC_CASE(value_size_null_ks, tind_value_size(NULL, "a", 1, NULL, &u64))
RC_CASE(value_size_null_key, tind_value_size(fx.ks, NULL, 1, NULL, &u64))
RC_CASE(value_size_null_out, tind_value_size(fx.ks, "a", 1, NULL, NULL))
RC_CASE(first_null_ks, tind_first(NULL, NULL, &vp, &zn, &vp, &zn))
RC_CASE(first_null_outs, tind_first(fx.ks, NULL, NULL, NULL, NULL, NULL))
RC_CASE(last_null_ks, tind_last(NULL, NULL, &vp, &zn, &vp, &zn))
RC_CASE(last_null_outs, tind_last(fx.ks, NULL, NULL, NULL, NULL, NULL))
RC_CASE(approximate_len_null_ks, tind_approximate_len(NULL, &u64))
RC_CASE(approximate_len_null_out, tind_approximate_len(fx.ks, NULL))
RC_CASE(disk_space_null_ks, tind_disk_space(NULL, &u64))
RC_CASE(disk_space_null_out, tind_disk_space(fx.ks, NULL))
VOID_CASE(free_null, tind_free(NULL))
RC_CASE(iter_range_null_ks, tind_iter_range(NULL, NULL, 0, NULL, 0, NULL, &itp))
RC_CASE(iter_range_null_out, tind_iter_range(fx.ks, NULL, 0, NULL, 0, NULL, NULL))
RC_CASE(iter_range_null_lo, tind_iter_range(fx.ks, NULL, 3, NULL, 0, NULL, &itp))
RC_CASE(iter_range_null_hi, tind_iter_range(fx.ks, NULL, 0, NULL, 3, NULL, &itp))
RC_CASE(iter_prefix_null_ks, tind_iter_prefix(NULL, "a", 1, NULL, &itp))
RC_CASE(iter_prefix_null_out, tind_iter_prefix(fx.ks, "a", 1, NULL, NULL))
RC_CASE(iter_prefix_null_prefix, tind_iter_prefix(fx.ks, NULL, 2, NULL, &itp))
VOID_CASE(iter_free_null, tind_iter_free(NULL))
VOID_CASE(iter_first_null, tind_iter_first(NULL))
VOID_CASE(iter_last_null, tind_iter_last(NULL))
VOID_CASE(iter_seek_null, tind_iter_seek(NULL, "a", 1))
VOID_CASE(iter_seek_for_prev_null, tind_iter_seek_for_prev(NULL, "a", 1))
VOID_CASE(iter_next_null, tind_iter_next(NULL))
VOID_CASE(iter_prev_null, tind_iter_prev(NULL))
RC_CASE(iter_valid_null, tind_iter_valid(NULL) == 0 ? TIND_OK : TIND_EIO)
RC_CASE(iter_key_null_it, tind_iter_key(NULL, &zn) == NULL ? TIND_OK : TIND_EIO)
RC_CASE(iter_key_null_both, tind_iter_key(NULL, NULL) == NULL ? TIND_OK : TIND_EIO)
RC_CASE(iter_key_null_len, tind_iter_key(fx.it, NULL) != NULL ? TIND_OK : TIND_EIO)
RC_CASE(iter_value_null_it, tind_iter_value(NULL, &zn) == NULL ? TIND_OK : TIND_EIO)
RC_CASE(iter_value_null_len, tind_iter_value(fx.it, NULL) != NULL ? TIND_OK : TIND_EIO)
RC_CASE(iter_value_size_null, tind_iter_value_size(NULL) == 0 ? TIND_OK : TIND_EIO)
RC_CASE(iter_status_null, tind_iter_status(NULL))
RC_CASE(flush_null, tind_flush(NULL))
RC_CASE(compact_null, tind_compact(NULL))
RC_CASE(ks_stats_null_ks, tind_ks_stats_get(NULL, &(tind_ks_stats){0}))
RC_CASE(ks_stats_null_out, tind_ks_stats_get(fx.ks, NULL))

#define C(name, want) {#name, name, want}
static const null_case null_cases[] = {
    C(errmsg_null, TIND_OK), C(strerror_bad, TIND_OK), C(options_free_null, TIND_OK),
    C(set_create_if_missing, TIND_OK), C(set_cache_size, TIND_OK), C(set_blob_cache_size, TIND_OK),
    C(set_write_buffer_size, TIND_OK),
    C(set_journal_file_size, TIND_OK), C(set_max_journal_size, TIND_OK),
    C(set_journal_compression_threshold, TIND_OK), C(set_background_threads, TIND_OK),
    C(set_sync_interval_ms, TIND_OK), C(set_max_open_files, TIND_OK), C(set_default_durability, TIND_OK),
    C(open_null_path, TIND_EINVAL), C(open_empty_path, TIND_EINVAL), C(open_null_out, TIND_EINVAL),
    C(close_null, TIND_EINVAL), C(persist_null, TIND_EINVAL), C(persist_bad_mode, TIND_EINVAL),
    C(persist_negative_mode, TIND_EINVAL), C(persist_none_mode, TIND_OK),
    C(ks_options_free_null, TIND_OK), C(ks_set_memtable_size, TIND_OK), C(ks_set_compaction, TIND_OK),
    C(ks_set_l0_threshold, TIND_OK), C(ks_set_table_size, TIND_OK), C(ks_set_level_ratio, TIND_OK),
    C(ks_set_levels, TIND_OK), C(ks_set_block_size, TIND_OK), C(ks_set_restart_interval, TIND_OK),
    C(ks_set_hash_ratio, TIND_OK), C(ks_set_compression, TIND_OK), C(ks_set_bloom_bits, TIND_OK),
    C(ks_set_partitioning, TIND_OK), C(ks_set_expect_hits, TIND_OK), C(ks_set_fifo, TIND_OK),
    C(ks_open_null_db, TIND_EINVAL), C(ks_open_null_name, TIND_EINVAL), C(ks_open_null_out, TIND_EINVAL),
    C(ks_exists_null_db, TIND_EINVAL), C(ks_exists_null_name, TIND_EINVAL),
    C(ks_list_null_db, TIND_EINVAL), C(ks_list_null_names, TIND_EINVAL), C(ks_list_null_count, TIND_EINVAL),
    C(ks_delete_null_db, TIND_EINVAL), C(ks_delete_null_name, TIND_EINVAL), C(ks_name_null, TIND_OK),
    C(put_null_ks, TIND_EINVAL), C(put_null_key, TIND_EINVAL), C(put_null_key_0, TIND_EINVAL),
    C(put_null_value, TIND_EINVAL), C(remove_null_ks, TIND_EINVAL), C(remove_null_key, TIND_EINVAL),
    C(batch_new_null_db, TIND_EINVAL), C(batch_new_null_out, TIND_EINVAL), C(batch_free_null, TIND_OK),
    C(batch_put_null_batch, TIND_EINVAL), C(batch_put_null_ks, TIND_EINVAL),
    C(batch_put_null_key, TIND_EINVAL), C(batch_put_null_value, TIND_EINVAL),
    C(batch_remove_null_batch, TIND_EINVAL), C(batch_remove_null_ks, TIND_EINVAL),
    C(batch_remove_null_key, TIND_EINVAL), C(batch_set_durability_null, TIND_OK),
    C(batch_set_durability_bad, TIND_OK), C(batch_count_null, TIND_OK), C(batch_clear_null, TIND_OK),
    C(batch_commit_null, TIND_EINVAL), C(snapshot_new_null_db, TIND_EINVAL),
    C(snapshot_new_null_out, TIND_EINVAL), C(snapshot_free_null, TIND_OK), C(snapshot_seqno_null, TIND_OK),
    C(read_options_free_null, TIND_OK), C(read_options_snapshot_null, TIND_OK),
    C(read_options_fill_cache_null, TIND_OK), C(get_null_ks, TIND_EINVAL), C(get_null_key, TIND_EINVAL),
    C(get_null_val, TIND_EINVAL), C(get_null_vlen, TIND_EINVAL), C(contains_null_ks, TIND_EINVAL),
    C(contains_null_key, TIND_EINVAL), C(value_size_null_ks, TIND_EINVAL),
    C(value_size_null_key, TIND_EINVAL), C(value_size_null_out, TIND_EINVAL),
    C(first_null_ks, TIND_EINVAL), C(first_null_outs, TIND_OK), C(last_null_ks, TIND_EINVAL),
    C(last_null_outs, TIND_OK), C(approximate_len_null_ks, TIND_EINVAL),
    C(approximate_len_null_out, TIND_EINVAL), C(disk_space_null_ks, TIND_EINVAL),
    C(disk_space_null_out, TIND_EINVAL), C(free_null, TIND_OK), C(iter_range_null_ks, TIND_EINVAL),
    C(iter_range_null_out, TIND_EINVAL), C(iter_range_null_lo, TIND_EINVAL),
    C(iter_range_null_hi, TIND_EINVAL), C(iter_prefix_null_ks, TIND_EINVAL),
    C(iter_prefix_null_out, TIND_EINVAL), C(iter_prefix_null_prefix, TIND_EINVAL),
    C(iter_free_null, TIND_OK), C(iter_first_null, TIND_OK), C(iter_last_null, TIND_OK),
    C(iter_seek_null, TIND_OK), C(iter_seek_for_prev_null, TIND_OK), C(iter_next_null, TIND_OK),
    C(iter_prev_null, TIND_OK), C(iter_valid_null, TIND_OK), C(iter_key_null_it, TIND_OK),
    C(iter_key_null_both, TIND_OK), C(iter_key_null_len, TIND_OK), C(iter_value_null_it, TIND_OK),
    C(iter_value_null_len, TIND_OK), C(iter_value_size_null, TIND_OK), C(iter_status_null, TIND_EINVAL),
    C(flush_null, TIND_EINVAL), C(compact_null, TIND_EINVAL), C(ks_stats_null_ks, TIND_EINVAL),
    C(ks_stats_null_out, TIND_EINVAL),
};

/* Options that a setter was given out-of-range values for are refused by
 * the call that uses them. */
static void bad_enum_options(void)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_compression(ko, 99, TIND_COMPRESSION_NONE, 0);
    CHECK_RC(tind_keyspace_open(fx.db, "bad1", ko, &ksp), TIND_EINVAL);
    CHECK(msg_has(fx.db, "level 99"));
    tind_ks_options_free(ko);
    ko = tind_ks_options_new();
    tind_ks_options_set_bloom_bits(ko, -2, 5);
    CHECK_RC(tind_keyspace_open(fx.db, "bad2", ko, &ksp), TIND_EINVAL);
    tind_ks_options_free(ko);
    ko = tind_ks_options_new();
    tind_ks_options_set_compaction(ko, 7);
    CHECK_RC(tind_keyspace_open(fx.db, "bad3", ko, &ksp), TIND_EINVAL);
    tind_ks_options_set_compaction(ko, -1);
    CHECK_RC(tind_keyspace_open(fx.db, "bad3", ko, &ksp), TIND_EINVAL);
    tind_ks_options_free(ko);
    ko = tind_ks_options_new();
    tind_ks_options_set_compression(ko, 0, 77, 0);
    CHECK_RC(tind_keyspace_open(fx.db, "bad4", ko, &ksp), TIND_EINVAL);
    tind_ks_options_free(ko);
    CHECK_RC(tind_keyspace_exists(fx.db, "bad1"), TIND_NOT_FOUND);
    tind_options *o = tind_options_new();
    tind_options_set_default_durability(o, 9);
    CHECK_RC(tind_open(fx.path, o, &dbp), TIND_EINVAL);
    tind_options_set_default_durability(o, TIND_PERSIST_NONE);
    tind_options_set_background_threads(o, -3);
    CHECK_RC(tind_open(fx.path, o, &dbp), TIND_EINVAL);
    tind_options_free(o);
}

TEST(null_arguments)
{
    fs *mem = fs_mem_new();
    fx.path = "/db";
    CHECK_OK(open_mem(mem, 0, &fx.db));
    CHECK_OK(tind_keyspace_open(fx.db, "ks", NULL, &fx.ks));
    CHECK_OK(tind_put(fx.ks, "a", 1, "1", 1));
    CHECK_OK(tind_batch_new(fx.db, &fx.b));
    CHECK_OK(tind_snapshot_new(fx.db, &fx.snap));
    CHECK_OK(tind_iter_range(fx.ks, NULL, 0, NULL, 0, NULL, &fx.it));
    tind_iter_first(fx.it);
    CHECK(tind_iter_valid(fx.it));
    for (size_t i = 0; i < sizeof null_cases / sizeof null_cases[0]; i++) {
        const null_case *c = &null_cases[i];
        itp = (tind_iter *)&itp;   /* must be reset to NULL by a failing constructor */
        int rc = c->call();
        if (rc != c->want)
            check_fail(__FILE__, __LINE__, "%s: got %d (%s), want %d (%s)", c->name, rc, tind_strerror(rc), c->want,
                       tind_strerror(c->want));
        if (strncmp(c->name, "iter_range", 10) == 0 || strncmp(c->name, "iter_prefix", 11) == 0)
            CHECK(itp == NULL || strstr(c->name, "null_out"));
    }
    /* the iterator moved backwards (saved key) also takes a NULL length */
    tind_iter_last(fx.it);
    CHECK(tind_iter_key(fx.it, NULL) != NULL);
    CHECK(tind_iter_value(fx.it, NULL) != NULL);
    bad_enum_options();
    CHECK_EQ(tind_batch_count(fx.b), 0);
    tind_batch_set_durability(fx.b, TIND_PERSIST_SYNC_ALL);
    CHECK_OK(tind_batch_put(fx.b, fx.ks, "b", 1, "2", 1));
    CHECK_OK(tind_batch_commit(fx.b));
    expect_writable(fx.ks);
    tind_iter_free(fx.it);
    tind_snapshot_free(fx.snap);
    tind_batch_free(fx.b);
    CHECK_OK(tind_close(fx.db));
    fs_destroy(mem);
}

/* ------------------------------------------------------------------ bug 12 */

/* The keys an iterator walks from first (forward) or last (backward), as one
 * string of one-letter keys. */
static void walk(tind_iter *it, int backward, char *out)
{
    size_t n = 0;
    if (backward)
        tind_iter_last(it);
    else
        tind_iter_first(it);
    for (; tind_iter_valid(it); backward ? tind_iter_prev(it) : tind_iter_next(it)) {
        size_t kn;
        const char *k = tind_iter_key(it, &kn);
        CHECK_EQ(kn, 1);
        out[n++] = k[0];
    }
    out[n] = 0;
    CHECK_OK(tind_iter_status(it));
}

static void expect_range(tind_keyspace *ks, const char *lo, size_t lolen, const char *hi, size_t hilen,
                         const char *want)
{
    tind_iter *it;
    char got[16], rev[16];
    CHECK_OK(tind_iter_range(ks, lo, lolen, hi, hilen, NULL, &it));
    walk(it, 0, got);
    if (strcmp(got, want) != 0)
        check_fail(__FILE__, __LINE__, "[%s%s, %s%s) forward: got '%s', want '%s'", lo ? "'" : "NULL",
                   lo ? lo : "", hi ? hi : "NULL", hi ? "'" : "", got, want);
    walk(it, 1, rev);
    size_t n = strlen(rev);
    for (size_t i = 0; i < n / 2; i++) {
        char t = rev[i];
        rev[i] = rev[n - 1 - i];
        rev[n - 1 - i] = t;
    }
    if (strcmp(rev, want) != 0)
        check_fail(__FILE__, __LINE__, "[%s, %s) backward: got '%s' reversed, want '%s'", lo ? lo : "NULL",
                   hi ? hi : "NULL", rev, want);
    tind_iter_free(it);
}

static int seek_key(tind_iter *it, int for_prev, const char *key, size_t klen)
{
    if (for_prev)
        tind_iter_seek_for_prev(it, key, klen);
    else
        tind_iter_seek(it, key, klen);
    if (!tind_iter_valid(it))
        return 0;
    return *(const char *)tind_iter_key(it, NULL);
}

static void check_bounds(tind_keyspace *ks)
{
    expect_range(ks, NULL, 0, NULL, 0, "abc");
    expect_range(ks, NULL, 0, "", 0, "");
    expect_range(ks, "", 0, NULL, 0, "abc");
    expect_range(ks, "", 0, "", 0, "");
    expect_range(ks, "", 0, "c", 1, "ab");
    expect_range(ks, NULL, 0, "b", 1, "a");
    expect_range(ks, "b", 1, NULL, 0, "bc");
    expect_range(ks, "b", 1, "", 0, "");
    expect_range(ks, "c", 1, "b", 1, "");

    tind_iter *it;
    /* hi = "": no seek finds anything */
    CHECK_OK(tind_iter_range(ks, NULL, 0, "", 0, NULL, &it));
    CHECK_EQ(seek_key(it, 0, "a", 1), 0);
    CHECK_EQ(seek_key(it, 0, "", 0), 0);
    CHECK_EQ(seek_key(it, 1, "z", 1), 0);
    CHECK_EQ(seek_key(it, 1, "a", 1), 0);
    CHECK_OK(tind_iter_status(it));
    tind_iter_free(it);
    /* unbounded: the empty key is before every key */
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
    CHECK_EQ(seek_key(it, 0, "", 0), 'a');
    CHECK_EQ(seek_key(it, 0, NULL, 0), 'a');
    CHECK_EQ(seek_key(it, 0, "bb", 2), 'c');
    CHECK_EQ(seek_key(it, 1, "bb", 2), 'b');
    CHECK_EQ(seek_key(it, 1, "z", 1), 'c');
    CHECK_EQ(seek_key(it, 1, "", 0), 0);
    CHECK_OK(tind_iter_status(it));
    /* a NULL key with a length ends the iteration with TIND_EINVAL */
    CHECK_EQ(seek_key(it, 0, NULL, 2), 0);
    CHECK_RC(tind_iter_status(it), TIND_EINVAL);
    CHECK(msg_has(ks->db, "NULL key with length 2"));
    tind_iter_free(it);
    CHECK_OK(tind_iter_range(ks, "", 0, "c", 1, NULL, &it));
    CHECK_EQ(seek_key(it, 1, NULL, 5), 0);
    CHECK_RC(tind_iter_status(it), TIND_EINVAL);
    tind_iter_free(it);
    /* [b, "") with seeks inside and outside */
    CHECK_OK(tind_iter_range(ks, "b", 1, "c", 1, NULL, &it));
    CHECK_EQ(seek_key(it, 0, "a", 1), 'b');
    CHECK_EQ(seek_key(it, 0, "c", 1), 0);
    CHECK_EQ(seek_key(it, 1, "z", 1), 'b');
    CHECK_EQ(seek_key(it, 1, "a", 1), 0);
    tind_iter_free(it);
    /* prefix "" and NULL: every key */
    char got[16];
    CHECK_OK(tind_iter_prefix(ks, "", 0, NULL, &it));
    walk(it, 0, got);
    CHECK_EQ(strcmp(got, "abc"), 0);
    walk(it, 1, got);
    CHECK_EQ(strcmp(got, "cba"), 0);
    tind_iter_free(it);
    CHECK_OK(tind_iter_prefix(ks, NULL, 0, NULL, &it));
    walk(it, 0, got);
    CHECK_EQ(strcmp(got, "abc"), 0);
    tind_iter_free(it);
    CHECK_OK(tind_iter_prefix(ks, "b", 1, NULL, &it));
    walk(it, 1, got);
    CHECK_EQ(strcmp(got, "b"), 0);
    tind_iter_free(it);
}

TEST(empty_bounds)
{
    tind_db *db;
    tind_keyspace *ks;
    fs *mem = open_ks(0, &db, &ks);
    CHECK_OK(tind_put(ks, "a", 1, "1", 1));
    CHECK_OK(tind_put(ks, "b", 1, "2", 1));
    CHECK_OK(tind_put(ks, "c", 1, "3", 1));
    check_bounds(ks);           /* memtable */
    CHECK_OK(tind_flush(ks));
    check_bounds(ks);           /* table */
    close_ks(db, mem);
}

TEST(null_key_with_length)
{
    tind_db *db;
    tind_keyspace *ks;
    tind_batch *b;
    tind_iter *it;
    fs *mem = open_ks(0, &db, &ks);
    CHECK_RC(tind_put(ks, NULL, 5, "v", 1), TIND_EINVAL);
    CHECK(msg_has(db, "NULL key with length 5"));
    CHECK_RC(tind_put(ks, "", 0, "v", 1), TIND_EINVAL);
    CHECK(msg_has(db, "got an empty key"));
    CHECK_RC(tind_get(ks, NULL, 6, NULL, &vp, &zn), TIND_EINVAL);
    CHECK(msg_has(db, "NULL key with length 6"));
    CHECK_RC(tind_contains(ks, NULL, 7, NULL), TIND_EINVAL);
    CHECK(msg_has(db, "NULL key with length 7"));
    CHECK_OK(tind_batch_new(db, &b));
    CHECK_RC(tind_batch_remove(b, ks, NULL, 8), TIND_EINVAL);
    CHECK(msg_has(db, "NULL key with length 8"));
    tind_batch_free(b);
    CHECK_RC(tind_iter_range(ks, NULL, 9, NULL, 0, NULL, &it), TIND_EINVAL);
    CHECK(msg_has(db, "NULL lower bound with length 9"));
    CHECK_RC(tind_iter_range(ks, NULL, 0, NULL, 10, NULL, &it), TIND_EINVAL);
    CHECK(msg_has(db, "NULL upper bound with length 10"));
    CHECK_RC(tind_iter_prefix(ks, NULL, 11, NULL, &it), TIND_EINVAL);
    CHECK(msg_has(db, "NULL prefix with length 11"));
    expect_writable(ks);
    close_ks(db, mem);
}

/* With an argument, runs only the test of that name. */
#define RUN_ONE(name) do { if (!only || strcmp(only, #name) == 0) RUN(name); } while (0)

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    check_seed_init(1);
    RUN_ONE(value_old_max_no_poison);
    RUN_ONE(value_limit_plus_one);
    RUN_ONE(key_limits);
    RUN_ONE(batch_record_limit);
    RUN_ONE(huge_value_at_limit);
    RUN_ONE(errmsg_other_thread);
    RUN_ONE(errmsg_threads);
    RUN_ONE(errmsg_databases);
    RUN_ONE(null_arguments);
    RUN_ONE(empty_bounds);
    RUN_ONE(null_key_with_length);
    return 0;
}
