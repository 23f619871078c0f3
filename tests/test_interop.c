/*
 * test_interop.c -- features where they meet. Range deletions (issue 13)
 * with: transactions (tind_txn_remove_range refused; a transaction's own
 * writes inside a range deleted before its snapshot; a range deletion
 * committed after its snapshot conflicts with what it read or writes, and
 * only then), prefix filters (a table with a range tombstone section is
 * never skipped by a prefix scan), zstd dictionaries (one table format 3
 * carrying a dictionary and a range tombstone section), checkpoints (they
 * keep the deletions). The change feed's range deletions are in
 * test_changes (range_deletions_replicated). Background threads on and off
 * (TSAN-LABEL).
 */
#include "check.h"
#include "db/db.h"
#include "format/prefix.h"
#include "format/rangetomb.h"
#include "format/table.h"
#include "io/fs.h"
#include "tind_internal.h"

static tind_db *open_mem(fs *mem, const char *path, int background)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, mem);
    tind_options_set_no_background(o, !background);
    tind_db *db;
    int rc = tind_open(path, o, &db);
    if (rc)
        fprintf(stderr, "open: %s\n", tind_errmsg(NULL));
    CHECK_OK(rc);
    tind_options_free(o);
    return db;
}

static tind_keyspace *ks_plain(tind_db *db, const char *name)
{
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, name, NULL, &ks));
    return ks;
}

static void put_s(tind_keyspace *ks, const char *k, const char *v)
{
    CHECK_OK(tind_put(ks, k, strlen(k), v, strlen(v)));
}

static int has(tind_keyspace *ks, const tind_read_options *ro, const char *k)
{
    int rc = tind_contains(ks, k, strlen(k), ro);
    CHECK(rc == TIND_OK || rc == TIND_NOT_FOUND);
    return rc == TIND_OK;
}

/* The keys a full scan through ro sees, joined by ',' into buf. */
static const char *scan(tind_keyspace *ks, const tind_read_options *ro, int backward, char *buf, size_t len)
{
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
    buf[0] = 0;
    if (backward)
        tind_iter_last(it);
    else
        tind_iter_first(it);
    while (tind_iter_valid(it)) {
        size_t n;
        const char *k = tind_iter_key(it, &n);
        size_t at = strlen(buf);
        snprintf(buf + at, len - at, "%s%.*s", at ? "," : "", (int)n, k);
        if (backward)
            tind_iter_prev(it);
        else
            tind_iter_next(it);
    }
    CHECK_OK(tind_iter_status(it));
    tind_iter_free(it);
    return buf;
}

/* ------------------------------------------------- range deletions x txn */

TEST(rangedel_txn_refused)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem, "/db", 0);
    tind_keyspace *ks = ks_plain(db, "a");
    put_s(ks, "k1", "v");
    tind_txn *t;
    CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
    CHECK_RC(tind_txn_remove_range(t, ks, "k0", 2, "k9", 2), TIND_ENOTSUP);
    CHECK(strstr(tind_errmsg(db), "range deletion") != NULL);
    CHECK_RC(tind_txn_remove_range(NULL, ks, "k0", 2, "k9", 2), TIND_EINVAL);
    /* nothing written, the transaction still works */
    CHECK_OK(tind_txn_put(t, ks, "k2", 2, "w", 1));
    CHECK_OK(tind_txn_commit(t));
    CHECK(has(ks, NULL, "k1"));
    CHECK(has(ks, NULL, "k2"));
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* Keys deleted by a range before the snapshot stay hidden in a transaction;
 * its own writes in the range are visible (get, both scan directions) and
 * commit. */
TEST(rangedel_txn_own_writes)
{
    for (int bg = 0; bg < 2; bg++)
        for (int flushed = 0; flushed < 2; flushed++) {
            fs *mem = fs_mem_new();
            tind_db *db = open_mem(mem, "/db", bg);
            tind_keyspace *ks = ks_plain(db, "a");
            put_s(ks, "a", "1");
            put_s(ks, "b", "1");
            put_s(ks, "c", "1");
            put_s(ks, "d", "1");
            if (flushed)
                CHECK_OK(tind_flush(ks));
            CHECK_OK(tind_remove_range(ks, "b", 1, "d", 1));
            if (flushed)
                CHECK_OK(tind_flush(ks));
            tind_txn *t;
            CHECK_OK(tind_txn_begin(db, bg ? TIND_TXN_SINGLE_WRITER : TIND_TXN_OPTIMISTIC, &t));
            tind_read_options *ro = tind_read_options_new();
            tind_read_options_set_txn(ro, t);
            char buf[256];
            CHECK(strcmp(scan(ks, ro, 0, buf, sizeof buf), "a,d") == 0);
            CHECK(!has(ks, ro, "b"));
            CHECK_OK(tind_txn_put(t, ks, "b", 1, "own", 3));
            CHECK(has(ks, ro, "b"));
            void *v = NULL;
            size_t vn = 0;
            CHECK_OK(tind_get(ks, "b", 1, ro, &v, &vn));
            CHECK_MEM(v, vn, "own", 3);
            tind_free(v);
            CHECK(!has(ks, ro, "c"));
            CHECK(strcmp(scan(ks, ro, 0, buf, sizeof buf), "a,b,d") == 0);
            CHECK(strcmp(scan(ks, ro, 1, buf, sizeof buf), "d,b,a") == 0);
            tind_read_options_free(ro);
            CHECK_OK(tind_txn_commit(t));
            CHECK(strcmp(scan(ks, NULL, 0, buf, sizeof buf), "a,b,d") == 0);
            CHECK_OK(tind_close(db));
            fs_destroy(mem);
        }
}

/* A range deletion committed after an optimistic transaction's snapshot
 * conflicts with a key it read or writes inside the range and with a
 * scanned span overlapping it; one elsewhere (another range, another
 * keyspace) does not. */
TEST(rangedel_txn_conflicts)
{
    enum { READ_IN, WRITE_IN, SPAN_IN, READ_OUT, OTHER_KS, OPEN_END, CASES };
    static const int conflicts[CASES] = {1, 1, 1, 0, 0, 1};
    for (int bg = 0; bg < 2; bg++)
        for (int c = 0; c < CASES; c++) {
            fs *mem = fs_mem_new();
            tind_db *db = open_mem(mem, "/db", bg);
            tind_keyspace *ks = ks_plain(db, "a"), *other = ks_plain(db, "b");
            put_s(ks, "k1", "1");
            put_s(ks, "k5", "1");
            put_s(ks, "m1", "1");
            put_s(other, "k5", "1");
            tind_txn *t;
            CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
            tind_read_options *ro = tind_read_options_new();
            tind_read_options_set_txn(ro, t);
            if (c == READ_IN || c == OTHER_KS || c == OPEN_END)
                CHECK(has(ks, ro, "k5"));
            else if (c == READ_OUT)
                CHECK(has(ks, ro, "k1"));
            else if (c == WRITE_IN)
                CHECK_OK(tind_txn_put(t, ks, "k6", 2, "w", 1));
            else {
                tind_iter *it;
                CHECK_OK(tind_iter_range(ks, "k4", 2, "k7", 2, ro, &it));
                int n = 0;
                for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
                    n++;
                CHECK_EQ(n, 1);
                tind_iter_free(it);
            }
            CHECK_OK(tind_txn_put(t, ks, "z", 1, "w", 1)); /* a write outside every range */
            /* someone else deletes a range */
            if (c == OTHER_KS)
                CHECK_OK(tind_remove_range(other, "k0", 2, "k9", 2));
            else if (c == OPEN_END)
                CHECK_OK(tind_remove_range(ks, "k3", 2, NULL, 0));
            else if (c == READ_OUT)
                CHECK_OK(tind_remove_range(ks, "k3", 2, "k8", 2));
            else
                CHECK_OK(tind_remove_range(ks, "k3", 2, "k8", 2));
            tind_read_options_free(ro);
            int rc = tind_txn_commit(t);
            if (conflicts[c]) {
                CHECK_RC(rc, TIND_ECONFLICT);
                CHECK(!has(ks, NULL, "z"));
            } else {
                CHECK_OK(rc);
                CHECK(has(ks, NULL, "z"));
            }
            CHECK(!has(c == OTHER_KS ? other : ks, NULL, "k5"));
            CHECK_OK(tind_close(db));
            fs_destroy(mem);
        }
}

/* ------------------------------------------- range deletions x prefixes */

/* A table holding a range tombstone section but, in its prefix filter, no
 * prefix of the keys the tombstone covers: the table level check never
 * skips it, and a prefix scan never sees the deleted keys. */
TEST(rangedel_prefix_filter)
{
    for (int bg = 0; bg < 2; bg++) {
        fs *mem = fs_mem_new();
        tind_db *db = open_mem(mem, "/db", bg);
        tind_ks_options *ko = tind_ks_options_new();
        tind_ks_options_set_prefix_separator(ko, ':');
        tind_ks_options_set_prefix_whole_keys(ko, 0);
        tind_ks_options_set_l0_threshold(ko, 8);
        tind_keyspace *ks;
        CHECK_OK(tind_keyspace_open(db, "p", ko, &ks));
        tind_ks_options_free(ko);
        put_s(ks, "b:1", "v");
        put_s(ks, "b:2", "v");
        CHECK_OK(tind_flush(ks));
        put_s(ks, "a:1", "v");
        CHECK_OK(tind_remove_range(ks, "b:", 2, "b;", 2));
        CHECK_OK(tind_flush(ks));
        tind_iter *it;
        CHECK_OK(tind_iter_prefix(ks, "b:", 2, NULL, &it));
        tind_iter_first(it);
        CHECK(!tind_iter_valid(it));
        CHECK_OK(tind_iter_status(it));
        tind_iter_free(it);
        CHECK_OK(tind_iter_prefix(ks, "a:", 2, NULL, &it));
        tind_iter_first(it);
        CHECK(tind_iter_valid(it));
        tind_iter_free(it);
        CHECK(!has(ks, NULL, "b:1"));
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
    /* the table level: a section of range tombstones, prefixes only */
    fs *f = fs_mem_new();
    tbl_options o;
    tbl_options_default(&o);
    o.prefix.kind = PFX_SEPARATOR;
    o.prefix.sep = ':';
    o.prefix.whole_keys = 0;
    o.file_number = o.table_id = 3;
    tbl_writer *w;
    tind_err err;
    CHECK_OK(tbl_writer_open(f, "/s.tbl", &o, &w, &err));
    rt_builder rb;
    rt_builder_init(&rb);
    CHECK_OK(rt_builder_add(&rb, (const uint8_t *)"b:", 2, (const uint8_t *)"b;", 2, 9));
    rt_list *l = NULL;
    CHECK_OK(rt_builder_finish(&rb, NULL, NULL, &l));
    rt_builder_free(&rb);
    CHECK_OK(tbl_writer_add_range_tombstones(w, l));
    rt_list_unref(l); /* the writer holds its own reference */
    CHECK_OK(tbl_writer_add(w, (const uint8_t *)"a:1", 3, 8, ENTRY_VALUE, (const uint8_t *)"v", 1, &err));
    tbl_meta m;
    CHECK_OK(tbl_writer_finish(w, 0, &m, &err));
    CHECK_EQ(m.format_version, 3);
    CHECK_EQ(m.range_tombstones, 1);
    tbl_meta_free(&m);
    tbl *t;
    tbl_open_options oo = {0};
    CHECK_OK(tbl_open(f, "/s.tbl", &oo, &t, &err));
    CHECK(strncmp(tbl_prefix_name(t), "range-deletes/", 14) == 0);
    CHECK(tbl_may_contain_prefix(t, "separator:0x3a", (const uint8_t *)"b:", 2));
    CHECK(tbl_may_contain_prefix(t, tbl_prefix_name(t), (const uint8_t *)"b:", 2));
    tbl_unref(t);
    fs_destroy(f);
}

/* ----------------------------------- range deletions x zstd dictionaries */

/* One table format 3 carries a dictionary and a range tombstone section:
 * after a compaction that keeps the tombstone (a snapshot needs the keys
 * under it) reads are right, and a reopen reads it back. */
TEST(rangedel_dictionary_table)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem, "/db", 0);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_ZSTD, 3);
    tind_ks_options_set_zstd_dict(ko, -1, 1024);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "z", ko, &ks));
    tind_ks_options_free(ko);
    char k[32], v[128];
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "key%05d", i);
        snprintf(v, sizeof v, "{\"user\":%d,\"name\":\"someone number %d\",\"tags\":[\"a\",\"b\"]}", i, i);
        put_s(ks, k, v);
    }
    CHECK_OK(tind_flush(ks));
    tind_snapshot *s;
    CHECK_OK(tind_snapshot_new(db, &s));
    CHECK_OK(tind_remove_range(ks, "key00100", 8, "key01500", 8));
    CHECK_OK(tind_compact(ks));
    for (int pass = 0; pass < 2; pass++) {
        CHECK(has(ks, NULL, "key00099"));
        CHECK(!has(ks, NULL, "key00100"));
        CHECK(!has(ks, NULL, "key01499"));
        CHECK(has(ks, NULL, "key01500"));
        if (s) {
            tind_read_options *ro = tind_read_options_new();
            tind_read_options_set_snapshot(ro, s);
            CHECK(has(ks, ro, "key00700"));
            tind_read_options_free(ro);
            tind_snapshot_free(s);
            s = NULL;
        }
        CHECK_OK(tind_close(db));
        db = open_mem(mem, "/db", 0);
        CHECK_OK(tind_keyspace_open(db, "z", NULL, &ks));
    }
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* ------------------------------------------ range deletions x checkpoints */

TEST(rangedel_checkpoint)
{
    for (int bg = 0; bg < 2; bg++) {
        fs *mem = fs_mem_new();
        tind_db *db = open_mem(mem, "/db", bg);
        tind_keyspace *ks = ks_plain(db, "a");
        put_s(ks, "a", "1");
        put_s(ks, "b", "1");
        put_s(ks, "c", "1");
        CHECK_OK(tind_flush(ks));
        CHECK_OK(tind_remove_range(ks, "b", 1, "c", 1)); /* in a table */
        CHECK_OK(tind_flush(ks));
        put_s(ks, "d", "1");
        CHECK_OK(tind_remove_range(ks, "c", 1, "d", 1)); /* in the journal */
        CHECK_OK(tind_checkpoint(db, "/cp"));
        CHECK_OK(tind_close(db));
        tind_db *cp = open_mem(mem, "/cp", bg);
        tind_keyspace *cks = ks_plain(cp, "a");
        char buf[64];
        CHECK(strcmp(scan(cks, NULL, 0, buf, sizeof buf), "a,d") == 0);
        CHECK(strcmp(scan(cks, NULL, 1, buf, sizeof buf), "d,a") == 0);
        CHECK_OK(tind_close(cp));
        fs_destroy(mem);
    }
}

int main(void)
{
    check_seed_init(0x1e7);
    RUN(rangedel_txn_refused);
    RUN(rangedel_txn_own_writes);
    RUN(rangedel_txn_conflicts);
    RUN(rangedel_prefix_filter);
    RUN(rangedel_dictionary_table);
    RUN(rangedel_checkpoint);
    return 0;
}
