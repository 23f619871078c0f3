/*
 * test_regress_identity.c -- regression tests for issue 10's bugs 6 and 7:
 * whole files of a database deleted, emptied, replaced by another file of
 * the same kind, or missing. Each test failed before its fix.
 *
 *   needed_journal_deleted  the oldest journal the version file still needed
 *                           (it held a SYNC_ALL write of a keyspace that had
 *                           not flushed) deleted: open succeeded and the write
 *                           was silently gone. The version file now records
 *                           the oldest seqno no table holds (journal_seqno)
 *                           and recovery requires the kept journals to start
 *                           at or before it.
 *   all_journals_deleted    the same with every journal gone.
 *   table_replaced          a table file overwritten by an older table of the
 *                           same keyspace and key range: reads returned the
 *                           stale values with no error. Tables now carry an
 *                           identity (file number, unique id) that the
 *                           version file records and table opening checks.
 *   table_from_other_db     a table copied from another database under the
 *                           same number (same keys, other values): read as
 *                           if it were this database's.
 *   table_missing           a table the version file names deleted: open
 *                           succeeded; it now fails with TIND_ECORRUPT naming
 *                           the table, before anything is deleted.
 *   identity_fields         ver_table_check_identity names each field that
 *                           differs (what open and tind verify both report).
 *   format1_version_file    a version file of format 1 (tind 0.1.x: no ids,
 *                           no journal seqnos) still opens and reads, and the
 *                           next change writes format 2 with a database id.
 */
#include <string.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"
#include "journal/journal.h"
#include "version/manifest.h"
#include "version/version.h"

static int open_on(fs *f, tind_db **db)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, f);
    tind_options_set_no_background(o, 1);
    int rc = tind_open("/db", o, db);
    tind_options_free(o);
    return rc;
}

static void put(tind_keyspace *ks, tind_db *db, const char *k, const char *v, int durability)
{
    tind_batch *b;
    CHECK_OK(tind_batch_new(db, &b));
    CHECK_OK(tind_batch_put(b, ks, k, strlen(k), v, strlen(v)));
    tind_batch_set_durability(b, durability);
    CHECK_OK(tind_batch_commit(b));
    tind_batch_free(b);
}

/* The names in dir ending in suffix, ascending; returns how many (<= max). */
static size_t list_files(fs *f, const char *dir, const char *suffix, char out[][64], size_t max)
{
    char **names = NULL;
    size_t n = 0, got = 0;
    CHECK_OK(fs_list(f, dir, &names, &n, NULL));
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]), sl = strlen(suffix);
        if (l < sl || strcmp(names[i] + l - sl, suffix) != 0 || got == max)
            continue;
        size_t j = got++;
        while (j > 0 && strcmp(out[j - 1], names[i]) > 0) {
            memcpy(out[j], out[j - 1], 64);
            j--;
        }
        snprintf(out[j], 64, "%s", names[i]);
    }
    fs_list_free(names, n);
    return got;
}

/* Keyspace "b" writes a SYNC_ALL batch, then "a" flushes: the version file
 * keeps the first journal for b's write, and later journals follow it. */
static void build_needed_journal(fs *mem)
{
    tind_db *db;
    tind_keyspace *a, *b;
    CHECK_OK(open_on(mem, &db));
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &a));
    CHECK_OK(tind_keyspace_open(db, "b", NULL, &b));
    put(b, db, "kb", "synced", TIND_PERSIST_SYNC_ALL);
    put(a, db, "ka", "v", TIND_PERSIST_NONE);
    CHECK_OK(tind_flush(a));
    put(b, db, "kb2", "later", TIND_PERSIST_SYNC_ALL);
    CHECK_OK(tind_close(db));
}

/* Opening must fail with TIND_ECORRUPT whose message holds `part`; before
 * the fix it opened, and then the read of "kb" shows the loss. */
static void expect_open_corrupt(fs *mem, const char *part)
{
    tind_db *db;
    int rc = open_on(mem, &db);
    if (rc == TIND_OK) {
        tind_keyspace *b;
        CHECK_OK(tind_keyspace_open(db, "b", NULL, &b));
        void *v = NULL;
        size_t n = 0;
        int grc = tind_get(b, "kb", 2, NULL, &v, &n);
        tind_free(v);
        tind_close(db);
        check_fail(__FILE__, __LINE__, "open succeeds (get of the synced write: %s)", tind_strerror(grc));
    }
    CHECK_RC(rc, TIND_ECORRUPT);
    if (!strstr(tind_errmsg(NULL), part))
        check_fail(__FILE__, __LINE__, "message lacks '%s': %s", part, tind_errmsg(NULL));
}

TEST(needed_journal_deleted)
{
    fs *mem = fs_mem_new();
    build_needed_journal(mem);
    char j[8][64];
    size_t n = list_files(mem, "/db/journals", ".jrn", j, 8);
    CHECK(n >= 2);
    char path[128];
    snprintf(path, sizeof path, "/db/journals/%s", j[0]);
    CHECK_OK(fs_unlink(mem, path, NULL));
    expect_open_corrupt(mem, "a journal it needs is missing");
    /* nothing was deleted or changed by the failed open */
    char j2[8][64];
    CHECK_EQ(list_files(mem, "/db/journals", ".jrn", j2, 8), n - 1);
    fs_destroy(mem);
}

TEST(all_journals_deleted)
{
    fs *mem = fs_mem_new();
    build_needed_journal(mem);
    char j[8][64];
    size_t n = list_files(mem, "/db/journals", ".jrn", j, 8);
    for (size_t i = 0; i < n; i++) {
        char path[128];
        snprintf(path, sizeof path, "/db/journals/%s", j[i]);
        CHECK_OK(fs_unlink(mem, path, NULL));
    }
    expect_open_corrupt(mem, "no journal with an intact header is kept");
    fs_destroy(mem);
}

/* Ten keys written with value `val` and flushed, twice (old, then new):
 * two overlapping level-0 tables of the same key range. */
static void build_two_tables(fs *mem, const char *old_val, const char *new_val)
{
    tind_db *db;
    tind_keyspace *ks;
    CHECK_OK(open_on(mem, &db));
    CHECK_OK(tind_keyspace_open(db, "t", NULL, &ks));
    const char *vals[2] = {old_val, new_val};
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 10; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%d", i);
            put(ks, db, k, vals[round], TIND_PERSIST_NONE);
        }
        CHECK_OK(tind_flush(ks));
    }
    CHECK_OK(tind_close(db));
}

static void copy_file(fs *from, const char *from_path, fs *to, const char *dir, const char *name)
{
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_OK(fs_read_all(from, from_path, &data, &len, NULL));
    CHECK_OK(fs_write_atomic(to, dir, name, data, len, NULL));
    free(data);
}

/* Every read of "k0".."k9" must give new_val or TIND_ECORRUPT naming the
 * table; at least one must be TIND_ECORRUPT. */
static void expect_reads_corrupt(fs *mem, const char *new_val, const char *table)
{
    tind_db *db;
    tind_keyspace *ks;
    CHECK_OK(open_on(mem, &db));
    CHECK_OK(tind_keyspace_open(db, "t", NULL, &ks));
    int corrupt = 0;
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        void *v = NULL;
        size_t n = 0;
        int rc = tind_get(ks, k, strlen(k), NULL, &v, &n);
        if (rc == TIND_OK) {
            if (n != strlen(new_val) || memcmp(v, new_val, n) != 0)
                check_fail(__FILE__, __LINE__, "get %s: stale value '%.*s', no error", k, (int)n, (char *)v);
        } else {
            CHECK_RC(rc, TIND_ECORRUPT);
            if (!strstr(tind_errmsg(db), table) || !strstr(tind_errmsg(db), "table id"))
                check_fail(__FILE__, __LINE__, "message lacks the table or the id: %s", tind_errmsg(db));
            corrupt++;
        }
        tind_free(v);
    }
    CHECK(corrupt > 0);
    CHECK_OK(tind_close(db));
}

TEST(table_replaced)
{
    fs *mem = fs_mem_new();
    build_two_tables(mem, "old", "new");
    char t[8][64];
    CHECK_EQ(list_files(mem, "/db/tables", ".tbl", t, 8), 2);
    /* the newer table's file now holds the older table */
    char from[128];
    snprintf(from, sizeof from, "/db/tables/%s", t[0]);
    copy_file(mem, from, mem, "/db/tables", t[1]);
    expect_reads_corrupt(mem, "new", t[1]);
    fs_destroy(mem);
}

TEST(table_from_other_db)
{
    fs *mine = fs_mem_new(), *other = fs_mem_new();
    build_two_tables(mine, "old", "new");
    build_two_tables(other, "OLD", "NEW");
    char t[8][64], u[8][64];
    CHECK_EQ(list_files(mine, "/db/tables", ".tbl", t, 8), 2);
    CHECK_EQ(list_files(other, "/db/tables", ".tbl", u, 8), 2);
    CHECK(strcmp(t[1], u[1]) == 0); /* the same number in both */
    char from[128];
    snprintf(from, sizeof from, "/db/tables/%s", u[1]);
    copy_file(other, from, mine, "/db/tables", t[1]);
    expect_reads_corrupt(mine, "new", t[1]);
    fs_destroy(mine);
    fs_destroy(other);
}

TEST(table_missing)
{
    fs *mem = fs_mem_new();
    build_two_tables(mem, "old", "new");
    char t[8][64];
    CHECK_EQ(list_files(mem, "/db/tables", ".tbl", t, 8), 2);
    char path[128];
    snprintf(path, sizeof path, "/db/tables/%s", t[1]);
    CHECK_OK(fs_unlink(mem, path, NULL));
    tind_db *db;
    int rc = open_on(mem, &db);
    if (rc == TIND_OK)
        tind_close(db);
    CHECK_RC(rc, TIND_ECORRUPT);
    CHECK(strstr(tind_errmsg(NULL), t[1]) != NULL);
    CHECK(strstr(tind_errmsg(NULL), "is missing") != NULL);
    /* the other table was not touched */
    char t2[8][64];
    CHECK_EQ(list_files(mem, "/db/tables", ".tbl", t2, 8), 1);
    fs_destroy(mem);
}

TEST(identity_fields)
{
    ver_table *t = ver_table_new(7, 1000, 10, 1, 5, 20, 0, (const uint8_t *)"a", 1, (const uint8_t *)"z", 1);
    CHECK(t);
    t->table_id = 42;
    tbl_meta m;
    memset(&m, 0, sizeof m);
    m.format_version = TABLE_FORMAT_VERSION;
    m.file_number = 7;
    m.table_id = 42;
    m.file_size = 1000;
    m.entry_count = 10;
    m.tombstone_count = 1;
    m.min_seqno = 5;
    m.max_seqno = 20;
    CHECK_OK(tbuf_set(&m.smallest_key, "a", 1));
    CHECK_OK(tbuf_set(&m.largest_key, "z", 1));
    tind_err err;
    CHECK_OK(ver_table_check_identity(t, &m, "/x/7.tbl", &err));
    m.table_id = 43;
    m.file_number = 8;
    m.max_seqno = 21;
    CHECK_OK(tbuf_set(&m.largest_key, "y", 1));
    err_clear(&err);
    CHECK_RC(ver_table_check_identity(t, &m, "/x/7.tbl", &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "/x/7.tbl") && strstr(err.msg, "table id 000000000000002b, version file 000000000000002a") &&
          strstr(err.msg, "file number 8, version file 7") && strstr(err.msg, "max seqno") &&
          strstr(err.msg, "key range"));
    /* a format 1 table (no identity) where the version file expects none:
     * checked by size, counts, seqnos and keys only */
    m.format_version = 1;
    m.table_id = m.file_number = 0;
    m.max_seqno = 20;
    CHECK_OK(tbuf_set(&m.largest_key, "z", 1));
    t->table_id = 0;
    CHECK_OK(ver_table_check_identity(t, &m, "/x/7.tbl", &err));
    m.file_size = 999;
    CHECK_RC(ver_table_check_identity(t, &m, "/x/7.tbl", &err), TIND_ECORRUPT);
    m.file_size = 1000;
    /* a format 2 table where the version file (format 1, read) records no
     * id: the number still counts */
    m.format_version = 2;
    m.file_number = 7;
    m.table_id = 99;
    CHECK_OK(ver_table_check_identity(t, &m, "/x/7.tbl", &err));
    m.file_number = 6;
    CHECK_RC(ver_table_check_identity(t, &m, "/x/7.tbl", &err), TIND_ECORRUPT);
    /* a format 1 table where the version file records an id */
    m.format_version = 1;
    m.file_number = m.table_id = 0;
    t->table_id = 5;
    CHECK_RC(ver_table_check_identity(t, &m, "/x/7.tbl", &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "the file has none") != NULL);
    tbl_meta_free(&m);
    ver_table_unref(t);
}

TEST(format1_version_file)
{
    fs *mem = fs_mem_new();
    build_two_tables(mem, "old", "new");
    /* rewrite VERSIONS as format 1 (what 0.1.x wrote: no ids) */
    mf_state st;
    CHECK_OK(manifest_read(mem, "/db", &st, NULL));
    CHECK(st.db_id != 0);
    st.format_version = 1;
    CHECK_OK(manifest_write(mem, "/db", &st, NULL));
    mf_state_free(&st);
    CHECK_OK(manifest_read(mem, "/db", &st, NULL));
    CHECK_EQ(st.format_version, 1);
    CHECK_EQ(st.db_id, 0);
    mf_state_free(&st);
    tind_db *db;
    tind_keyspace *ks;
    CHECK_OK(open_on(mem, &db));
    CHECK_OK(tind_keyspace_open(db, "t", NULL, &ks));
    void *v = NULL;
    size_t n = 0;
    CHECK_OK(tind_get(ks, "k3", 2, NULL, &v, &n));
    CHECK_MEM(v, n, "new", 3);
    tind_free(v);
    put(ks, db, "k3", "newer", TIND_PERSIST_NONE);
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_close(db));
    CHECK_OK(manifest_read(mem, "/db", &st, NULL));
    CHECK_EQ(st.format_version, MANIFEST_FORMAT_VERSION);
    CHECK(st.db_id != 0);
    mf_state_free(&st);
    CHECK_OK(open_on(mem, &db));
    CHECK_OK(tind_keyspace_open(db, "t", NULL, &ks));
    CHECK_OK(tind_get(ks, "k3", 2, NULL, &v, &n));
    CHECK_MEM(v, n, "newer", 5);
    tind_free(v);
    CHECK_OK(tind_get(ks, "k4", 2, NULL, &v, &n));
    CHECK_MEM(v, n, "new", 3);
    tind_free(v);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* `test_regress_identity NAME` runs one test (to see it fail on old code). */
#define RUN_ONE(name)                                          \
    do {                                                       \
        if (argc < 2 || strcmp(argv[1], #name) == 0)           \
            RUN(name);                                         \
    } while (0)

int main(int argc, char **argv)
{
    check_seed_init(1);
    RUN_ONE(needed_journal_deleted);
    RUN_ONE(all_journals_deleted);
    RUN_ONE(table_replaced);
    RUN_ONE(table_from_other_db);
    RUN_ONE(table_missing);
    RUN_ONE(identity_fields);
    RUN_ONE(format1_version_file);
    return 0;
}
