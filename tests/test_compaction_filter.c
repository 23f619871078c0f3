/*
 * test_compaction_filter.c -- compaction filters (issue 13): keep, remove
 * and replace; what a filter is shown (level, seqno; values only, never
 * what a live snapshot sees); a removal does not resurrect older versions;
 * a failing callback fails the job with a clear status; the built-in TTL
 * filter and periodic compaction, which removes expired data without new
 * writes. Background threads off and on.
 * TSAN-LABEL: also run under ThreadSanitizer (make test-tsan).
 */
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"
#include "tind_internal.h"

static int background;

static tind_db *open_mem(fs *mem)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, mem);
    tind_options_set_no_background(o, !background);
    tind_db *db;
    CHECK_OK(tind_open("/db", o, &db));
    tind_options_free(o);
    return db;
}

/* Approximate key count: exact once compaction has folded every version. */
static void expect_len(tind_keyspace *ks, uint64_t want)
{
    uint64_t n;
    CHECK_OK(tind_approximate_len(ks, &n));
    CHECK_EQ(n, want);
}

static void close_mem(tind_db *db, fs *mem)
{
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

typedef struct seen {
    _Atomic int calls;
    _Atomic int bad_level;
    _Atomic int fail;
    _Atomic int saw_snapshotted;   /* shown a value with the protected prefix */
} seen;

/* "drop*" -> remove, "rep*" -> replaced by "R", "snap*" must never be shown
 * while the test holds a snapshot over them, everything else kept. */
static int filter(void *ctx, int level, const void *key, size_t klen, const void *val, size_t vlen, uint64_t seqno,
                  void **new_val, size_t *new_vlen)
{
    (void)val, (void)vlen, (void)seqno;
    seen *s = ctx;
    atomic_fetch_add(&s->calls, 1);
    if (level < 0 || level > 6)
        atomic_store(&s->bad_level, 1);
    if (atomic_load(&s->fail))
        return 42;
    if (klen >= 4 && !memcmp(key, "snap", 4))
        atomic_fetch_add(&s->saw_snapshotted, 1);
    if (klen >= 4 && !memcmp(key, "drop", 4))
        return TIND_FILTER_REMOVE;
    if (klen >= 4 && !memcmp(key, "snap", 4))
        return TIND_FILTER_REMOVE;
    if (klen >= 3 && !memcmp(key, "rep", 3)) {
        *new_val = malloc(1);
        memcpy(*new_val, "R", 1);
        *new_vlen = 1;
        return TIND_FILTER_REPLACE;
    }
    return TIND_FILTER_KEEP;
}

static tind_keyspace *filtered_ks(tind_db *db, const char *name, seen *s)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 4096);
    tind_ks_options_set_table_size(ko, 4096);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_compaction_filter(ko, filter, s);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, name, ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

static void expect(tind_keyspace *ks, const tind_read_options *ro, const char *key, const char *want)
{
    void *v = NULL;
    size_t n = 0;
    int rc = tind_get(ks, key, strlen(key), ro, &v, &n);
    if (!want) {
        CHECK_RC(rc, TIND_NOT_FOUND);
        return;
    }
    CHECK_OK(rc);
    CHECK_MEM(v, n, want, strlen(want));
    free(v);
}

TEST(keep_remove_replace)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    seen s = {0, 0, 0, 0};
    tind_keyspace *ks = filtered_ks(db, "f", &s);
    /* an old version of drop1 deep down must not come back */
    CHECK_OK(tind_put(ks, "drop1", 5, "old", 3));
    CHECK_OK(tind_compact(ks));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    expect(ks, NULL, "drop1", NULL);
    CHECK_OK(tind_put(ks, "drop1", 5, "new", 3));
    CHECK_OK(tind_put(ks, "keep1", 5, "k", 1));
    CHECK_OK(tind_put(ks, "rep1", 4, "long value", 10));
    expect(ks, NULL, "drop1", "new"); /* reads see what is written until compaction */
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    expect(ks, NULL, "drop1", NULL);
    expect(ks, NULL, "keep1", "k");
    expect(ks, NULL, "rep1", "R");
    CHECK(atomic_load(&s.calls) > 0);
    CHECK_EQ(atomic_load(&s.bad_level), 0);
    expect_len(ks, 2);
    close_mem(db, mem);
}

TEST(snapshots_are_never_filtered)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    seen s = {0, 0, 0, 0};
    tind_keyspace *ks = filtered_ks(db, "f", &s);
    char key[16];
    for (int i = 0; i < 50; i++) {
        int kn = snprintf(key, sizeof key, "snap%02d", i);
        CHECK_OK(tind_put(ks, key, (size_t)kn, "v", 1));
    }
    tind_snapshot *snap;
    CHECK_OK(tind_snapshot_new(db, &snap));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_snapshot(ro, snap);
    CHECK_OK(tind_put(ks, "other", 5, "o", 1));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    CHECK_EQ(atomic_load(&s.saw_snapshotted), 0);
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "snap%02d", i);
        expect(ks, ro, key, "v");
        expect(ks, NULL, key, "v");
    }
    tind_read_options_free(ro);
    tind_snapshot_free(snap);
    /* once the snapshot is gone, the next compaction filters them */
    CHECK_OK(tind_compact(ks));
    CHECK_EQ(atomic_load(&s.saw_snapshotted), 50);
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "snap%02d", i);
        expect(ks, NULL, key, NULL);
    }
    expect(ks, NULL, "other", "o");
    close_mem(db, mem);
}

TEST(failing_filter)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    seen s = {0, 0, 0, 0};
    tind_keyspace *ks = filtered_ks(db, "f", &s);
    CHECK_OK(tind_put(ks, "a", 1, "1", 1));
    atomic_store(&s.fail, 1);
    int rc = tind_flush(ks);
    CHECK_RC(rc, TIND_ECORRUPT);
    CHECK(strstr(tind_errmsg(db), "compaction filter returned 42"));
    expect(ks, NULL, "a", "1"); /* still in the memtable: nothing lost */
    atomic_store(&s.fail, 0);
    /* with threads on, a worker's retry may have called the filter before
     * the reset: tind_flush reports a job failing while it waits (tind.h),
     * so one more failure may come; every attempt started after the reset
     * succeeds (seen under TSan, 1 run in many) */
    rc = tind_flush(ks);
    if (rc == TIND_ECORRUPT && strstr(tind_errmsg(db), "compaction filter returned 42"))
        rc = tind_flush(ks);
    CHECK_OK(rc);
    expect(ks, NULL, "a", "1");
    close_mem(db, mem);
}

static void put_ttl(tind_keyspace *ks, const char *key, uint64_t expiry, const char *rest)
{
    uint8_t v[64];
    for (int i = 0; i < 8; i++)
        v[i] = (uint8_t)(expiry >> (56 - 8 * i));
    size_t n = strlen(rest);
    memcpy(v + 8, rest, n);
    CHECK_OK(tind_put(ks, key, strlen(key), v, 8 + n));
}

TEST(ttl_filter)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_value_ttl(ko, 1);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "ttl", ko, &ks));
    tind_ks_options_free(ko);
    uint64_t now = (uint64_t)time(NULL);
    put_ttl(ks, "expired", 1, "x");
    put_ttl(ks, "just_expired", now - 1, "x");
    put_ttl(ks, "future", now + 100000, "f");
    put_ttl(ks, "never", 0, "n");
    CHECK_OK(tind_put(ks, "short", 5, "abc", 3));
    CHECK_OK(tind_close(db));
    /* the TTL filter is stored with the keyspace */
    db = open_mem(mem);
    CHECK_OK(tind_keyspace_open(db, "ttl", NULL, &ks));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    expect(ks, NULL, "expired", NULL);
    expect(ks, NULL, "just_expired", NULL);
    CHECK_OK(tind_contains(ks, "future", 6, NULL));
    CHECK_OK(tind_contains(ks, "never", 5, NULL));
    expect(ks, NULL, "short", "abc");
    close_mem(db, mem);
}

static void periodic_expiry(int compaction)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_compaction(ko, compaction);
    tind_ks_options_set_value_ttl(ko, 1);
    tind_ks_options_set_periodic_compaction(ko, 1);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "ttl", ko, &ks));
    tind_ks_options_free(ko);
    uint64_t now = (uint64_t)time(NULL);
    put_ttl(ks, "soon", now + 2, "s");
    put_ttl(ks, "later", now + 100000, "l");
    CHECK_OK(tind_flush(ks)); /* one L0 table: nothing else would compact it */
    if ((uint64_t)time(NULL) < now + 2) /* a loaded machine may have passed it */
        CHECK_OK(tind_contains(ks, "soon", 4, NULL));
    /* no writes from here: periodic compaction must find the table */
    int gone = 0;
    for (int tries = 0; tries < 600 && !gone; tries++) { /* 30 s: loaded CI */
        if (!background)
            while (tind_internal_background_step(db) > 0)
                ;
        gone = tind_contains(ks, "soon", 4, NULL) == TIND_NOT_FOUND;
        if (!gone)
            usleep(50 * 1000);
    }
    CHECK(gone);
    CHECK_OK(tind_contains(ks, "later", 5, NULL));
    close_mem(db, mem);
}

TEST(periodic_compaction_expires_idle_data)
{
    periodic_expiry(TIND_COMPACTION_LEVELED);
    periodic_expiry(TIND_COMPACTION_TIERED);
}

TEST(filter_attached_at_reopen)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    seen s = {0, 0, 0, 0};
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "f", NULL, &ks));
    CHECK_OK(tind_put(ks, "drop2", 5, "x", 1));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    expect(ks, NULL, "drop2", "x");
    /* a filter given by a later open of the keyspace is attached */
    CHECK(filtered_ks(db, "f", &s) == ks);
    CHECK_OK(tind_compact(ks));
    expect(ks, NULL, "drop2", NULL);
    close_mem(db, mem);
}

int main(void)
{
    check_seed_init(13);
    for (background = 0; background < 2; background++) {
        fprintf(stderr, "background threads %s\n", background ? "on" : "off");
        RUN(keep_remove_replace);
        RUN(snapshots_are_never_filtered);
        RUN(failing_filter);
        RUN(ttl_filter);
        RUN(periodic_compaction_expires_idle_data);
        RUN(filter_attached_at_reopen);
    }
    return 0;
}
