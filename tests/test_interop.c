/*
 * test_interop.c -- where features built apart meet (the lead's merges).
 *
 * Transactions (issue 12) x merge operators and single deletes (issue 13):
 *   - tind_txn_merge and tind_txn_single_remove are refused with
 *     TIND_ENOTSUP (tind.h), tind_errmsg says why, and the transaction is
 *     left as it was: it still reads, writes and commits;
 *   - reads through a transaction of a key holding merge operands (get,
 *     contains, value_size, iterators both ways, seek_for_prev) see the
 *     merged value at its snapshot, over memtables, L0 and deeper levels;
 *     its own put / remove of such a key hides the operands; operands
 *     merged after commit apply over the committed put;
 *   - a merge or a single delete committed by another writer after the
 *     snapshot on a key the transaction read (point read or an iterator's
 *     span) makes the commit fail with TIND_ECONFLICT.
 * Change feed x merge operators: merge operands and single deletes come out
 * of tind_changes_since as TIND_CHANGE_MERGE (with the operand) and
 * TIND_CHANGE_SINGLE_REMOVE.
 * Checkpoints and backups x merge operators: operands, single deletes and
 * the stored operator survive tind_checkpoint and a backup's restore.
 * Range deletions (issue 13) x everything: tind_txn_remove_range refused;
 * a transaction's own writes inside a range deleted before its snapshot; a
 * range deletion committed after its snapshot conflicts with what it read or
 * writes, and only then (the conflict log records the range); a table with a
 * range tombstone section is never skipped by a prefix filter; zstd
 * dictionary tables with range tombstones; checkpoints keep the deletions;
 * merge operands under a range tombstone are deleted and an operand above
 * one merges with no base (memtable, tables, compaction under a snapshot,
 * reopen; get and iterators both ways). The change feed's range deletions
 * are in test_changes (range_deletions_replicated).
 * Encryption at rest (io/fs_crypt.c) with:
 *   crypt_checkpoint     tind_checkpoint of an encrypted database carries its
 *                        ENCRYPTION key check: the copy opens with the same
 *                        key only (wrong key, no key refused), holds every
 *                        write, and no plaintext is in any of its files;
 *                        background threads off and on
 *   crypt_backup         tind_backup_create of an encrypted database: the
 *                        stored files stay encrypted, verify checks their
 *                        checksums without the key (no structure checks:
 *                        they need it) and finds a damaged byte, restore
 *                        gives a database that opens with the key only
 *   crypt_changes_live   the change feed follows a writer on an encrypted
 *                        database (the journal's unsealed last page is
 *                        rewritten while the feed reads it), across flushes
 *                        and a checkpoint taken meanwhile (which copies the
 *                        journal being written); after a reopen the feed
 *                        reads every batch again from the retained journals
 *   crypt_prefix_dict    prefix filters and zstd dictionaries on an
 *                        encrypted database: prefix scans skip tables, every
 *                        key reads back, after reopen too
 *   (the crypt_* tests run once, outside the background loop: each
 *   chooses its own background setting)
 * Each test runs with background threads off and on.
 * TSAN-LABEL: also run under ThreadSanitizer (make test-tsan).
 */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "db/db.h"
#include "format/prefix.h"
#include "format/rangetomb.h"
#include "format/table.h"
#include "io/fs.h"
#include "tind_internal.h"
#include "util/coding.h"

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

static tind_keyspace *counter_ks(tind_db *db, const char *name)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 4096);
    tind_ks_options_set_table_size(ko, 4096);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_COUNTER, NULL, 0);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, name, ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

static void add(tind_keyspace *ks, const char *key, uint64_t n)
{
    uint8_t b[8];
    enc_u64(b, n);
    CHECK_OK(tind_merge(ks, key, strlen(key), b, 8));
}

static void put_u64_txn(tind_txn *t, tind_keyspace *ks, const char *key, uint64_t n)
{
    uint8_t b[8];
    enc_u64(b, n);
    CHECK_OK(tind_txn_put(t, ks, key, strlen(key), b, 8));
}

static void expect_u64(tind_keyspace *ks, const tind_read_options *ro, const char *key, uint64_t want)
{
    void *v = NULL;
    size_t n = 0;
    CHECK_OK(tind_get(ks, key, strlen(key), ro, &v, &n));
    CHECK_EQ(n, 8);
    CHECK_EQ(dec_u64(v), want);
    tind_free(v);
    CHECK_OK(tind_contains(ks, key, strlen(key), ro));
    uint64_t sz = 0;
    CHECK_OK(tind_value_size(ks, key, strlen(key), ro, &sz));
    CHECK_EQ(sz, 8);
}

/* Keys and counters an iterator shows, forward then backward (must agree):
 * "a=N b=M ..." into out. */
static void scan(tind_keyspace *ks, const tind_read_options *ro, char *out, size_t cap)
{
    tind_iter *it;
    CHECK_OK(tind_iter_prefix(ks, NULL, 0, ro, &it));
    char fwd[256] = "", bwd[256] = "";
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
        size_t kn, vn;
        const char *k = tind_iter_key(it, &kn);
        const uint8_t *v = tind_iter_value(it, &vn);
        CHECK_EQ(vn, 8);
        snprintf(fwd + strlen(fwd), sizeof fwd - strlen(fwd), "%.*s=%" PRIu64 " ", (int)kn, k, dec_u64(v));
    }
    CHECK_OK(tind_iter_status(it));
    char items[8][32];
    int m = 0;
    for (tind_iter_last(it); tind_iter_valid(it) && m < 8; tind_iter_prev(it)) {
        size_t kn, vn;
        const char *k = tind_iter_key(it, &kn);
        const uint8_t *v = tind_iter_value(it, &vn);
        snprintf(items[m++], sizeof items[0], "%.*s=%" PRIu64 " ", (int)kn, k, dec_u64(v));
    }
    CHECK_OK(tind_iter_status(it));
    for (int i = m - 1; i >= 0; i--)
        snprintf(bwd + strlen(bwd), sizeof bwd - strlen(bwd), "%s", items[i]);
    if (strcmp(fwd, bwd) != 0)
        fprintf(stderr, "forward '%s' backward '%s'\n", fwd, bwd);
    CHECK(strcmp(fwd, bwd) == 0);
    /* seek_for_prev onto the last key <= "b" */
    tind_iter_seek_for_prev(it, "b", 1);
    if (tind_iter_valid(it)) {
        size_t kn;
        const char *k = tind_iter_key(it, &kn);
        CHECK(kn == 1 && k[0] <= 'b');
    }
    tind_iter_free(it);
    snprintf(out, cap, "%s", fwd);
}

TEST(txn_refuses_merge_and_single_delete)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = counter_ks(db, "c");
    add(ks, "a", 5);
    tind_txn *t;
    CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
    put_u64_txn(t, ks, "b", 7);
    uint8_t one[8];
    enc_u64(one, 1);
    CHECK_RC(tind_txn_merge(t, ks, "a", 1, one, 8), TIND_ENOTSUP);
    CHECK(strstr(tind_errmsg(db), "merge operands") != NULL);
    CHECK_RC(tind_txn_single_remove(t, ks, "b", 1), TIND_ENOTSUP);
    CHECK(strstr(tind_errmsg(db), "single deletes") != NULL);
    CHECK_RC(tind_txn_merge(NULL, ks, "a", 1, one, 8), TIND_EINVAL);
    CHECK_RC(tind_txn_single_remove(NULL, ks, "a", 1), TIND_EINVAL);
    /* the transaction is unchanged and usable */
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_txn(ro, t);
    expect_u64(ks, ro, "a", 5);
    expect_u64(ks, ro, "b", 7);
    CHECK_OK(tind_txn_commit(t));
    expect_u64(ks, NULL, "a", 5);
    expect_u64(ks, NULL, "b", 7);
    /* single writer and read-only transactions refuse alike */
    CHECK_OK(tind_txn_begin(db, TIND_TXN_SINGLE_WRITER, &t));
    CHECK_RC(tind_txn_merge(t, ks, "a", 1, one, 8), TIND_ENOTSUP);
    tind_txn_rollback(t);
    CHECK_OK(tind_txn_begin(db, TIND_TXN_READ_ONLY, &t));
    CHECK_RC(tind_txn_single_remove(t, ks, "a", 1), TIND_ENOTSUP);
    tind_txn_rollback(t);
    expect_u64(ks, NULL, "a", 5);
    tind_read_options_free(ro);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(txn_reads_merged_keys)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = counter_ks(db, "c");
    tind_ks_options *po = tind_ks_options_new();
    tind_keyspace *pad;
    CHECK_OK(tind_keyspace_open(db, "pad", po, &pad));
    tind_ks_options_free(po);
    /* operands spread over a deeper level, L0 and the memtable */
    uint64_t want_a = 0, want_b = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4; i++) {
            add(ks, "a", 1 + (uint64_t)i);
            want_a += 1 + (uint64_t)i;
            add(ks, "b", 10);
            want_b += 10;
        }
        if (round < 2)
            CHECK_OK(tind_flush(ks));
        if (round == 0)
            CHECK_OK(tind_compact(ks));
    }
    add(ks, "d", 3); /* a key the transaction removes */
    tind_txn *t;
    CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_txn(ro, t);
    add(ks, "a", 1000); /* after the snapshot: unseen */
    expect_u64(ks, ro, "a", want_a);
    expect_u64(ks, ro, "b", want_b);
    put_u64_txn(t, ks, "b", 42); /* its own put hides the operands */
    put_u64_txn(t, ks, "c", 9);
    CHECK_OK(tind_txn_remove(t, ks, "d", 1));
    expect_u64(ks, ro, "b", 42);
    CHECK_RC(tind_contains(ks, "d", 1, ro), TIND_NOT_FOUND);
    char got[256], want[256];
    scan(ks, ro, got, sizeof got);
    snprintf(want, sizeof want, "a=%" PRIu64 " b=42 c=9 ", want_a);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "got '%s' want '%s'\n", got, want);
    CHECK(strcmp(got, want) == 0);
    /* writes elsewhere (pad) so the commit does not conflict on "a" */
    CHECK_OK(tind_txn_put(t, pad, "x", 1, "y", 1));
    /* "a" was read and merged since: a conflict */
    CHECK_RC(tind_txn_commit(t), TIND_ECONFLICT);
    want_a += 1000;
    /* again, without the concurrent merge: commits; merges apply over the put */
    CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
    tind_read_options_set_txn(ro, t);
    expect_u64(ks, ro, "a", want_a);
    put_u64_txn(t, ks, "b", 42);
    CHECK_OK(tind_txn_commit(t));
    add(ks, "b", 8);
    expect_u64(ks, NULL, "b", 50);
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    expect_u64(ks, NULL, "b", 50);
    expect_u64(ks, NULL, "a", want_a);
    tind_read_options_free(ro);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(merge_and_single_delete_by_others_conflict)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = counter_ks(db, "c");
    add(ks, "k", 1);
    uint8_t v[8];
    enc_u64(v, 4);
    CHECK_OK(tind_put(ks, "s", 1, v, 8));
    tind_read_options *ro = tind_read_options_new();
    for (int kind = 0; kind < 4; kind++) {
        tind_txn *t;
        CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
        tind_read_options_set_txn(ro, t);
        if (kind < 2) { /* a point read of the key */
            uint64_t sz;
            CHECK_OK(tind_value_size(ks, kind == 0 ? "k" : "s", 1, ro, &sz));
        } else { /* an iterator's span over it */
            tind_iter *it;
            CHECK_OK(tind_iter_range(ks, "a", 1, "z", 1, ro, &it));
            for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
                ;
            CHECK_OK(tind_iter_status(it));
            tind_iter_free(it);
        }
        CHECK_OK(tind_txn_put(t, ks, "other", 5, v, 8));
        if (kind % 2 == 0) {
            add(ks, "k", 1);
        } else {
            CHECK_OK(tind_single_remove(ks, "s", 1));
            CHECK_OK(tind_put(ks, "s", 1, v, 8)); /* back for the next round */
        }
        CHECK_RC(tind_txn_commit(t), TIND_ECONFLICT);
    }
    CHECK_RC(tind_contains(ks, "other", 5, NULL), TIND_NOT_FOUND);
    expect_u64(ks, NULL, "k", 3);
    tind_read_options_free(ro);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* Change feed x merge operators: a merge and a single delete come out of the
 * feed as themselves (the operand as the value), in their batch, in order. */
TEST(change_feed_carries_merges_and_single_deletes)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem);
    tind_keyspace *ks = counter_ks(db, "c");
    uint64_t from;
    CHECK_OK(tind_last_seqno(db, &from));
    uint8_t one[8];
    enc_u64(one, 7);
    tind_batch *b;
    CHECK_OK(tind_batch_new(db, &b));
    CHECK_OK(tind_batch_put(b, ks, "p", 1, one, 8));
    CHECK_OK(tind_batch_merge(b, ks, "p", 1, one, 8));
    CHECK_OK(tind_batch_single_remove(b, ks, "q", 1));
    CHECK_OK(tind_batch_commit(b));
    tind_batch_free(b);
    tind_changes *c;
    CHECK_OK(tind_changes_since(db, from + 1, &c));
    CHECK_OK(tind_changes_next(c, 0));
    CHECK_EQ(tind_changes_count(c), 3);
    const tind_change_op *op = tind_changes_op(c, 0);
    CHECK_EQ(op->type, TIND_CHANGE_PUT);
    op = tind_changes_op(c, 1);
    CHECK_EQ(op->type, TIND_CHANGE_MERGE);
    CHECK_MEM(op->value, op->vlen, one, 8);
    CHECK_MEM(op->key, op->klen, "p", 1);
    op = tind_changes_op(c, 2);
    CHECK_EQ(op->type, TIND_CHANGE_SINGLE_REMOVE);
    CHECK(op->value == NULL);
    CHECK_MEM(op->key, op->klen, "q", 1);
    tind_changes_free(c);
    expect_u64(ks, NULL, "p", 14);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* Checkpoints and backups (issue 15) x merge operators: a keyspace with the
 * counter operator (keyspace options version 3), operands and single deletes
 * in tables and in the journal, copied by tind_checkpoint and by a backup
 * (verified, restored): both open with the operator restored and read the
 * same sums. Real folders (the backup code works on paths). */
TEST(checkpoint_and_backup_keep_operands)
{
    if (background)
        return; /* one run is enough: nothing here depends on the workers */
    char *dir = check_tmpdir("interop");
    char dbp[4096], cpp[4096], bkp[4096], rp[4096];
    snprintf(dbp, sizeof dbp, "%s/db", dir);
    snprintf(cpp, sizeof cpp, "%s/checkpoint", dir);
    snprintf(bkp, sizeof bkp, "%s/backups", dir);
    snprintf(rp, sizeof rp, "%s/restored", dir);
    tind_db *db;
    CHECK_OK(tind_open(dbp, NULL, &db));
    tind_keyspace *ks = counter_ks(db, "c");
    uint8_t v[8];
    enc_u64(v, 1);
    for (int i = 0; i < 30; i++) {
        add(ks, "n", 2);
        if (i == 10)
            CHECK_OK(tind_flush(ks));
    }
    CHECK_OK(tind_put(ks, "gone", 4, v, 8));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_single_remove(ks, "gone", 4)); /* in the journal only */
    add(ks, "n", 100);
    CHECK_OK(tind_checkpoint(db, cpp));
    uint64_t id = 0;
    CHECK_OK(tind_backup_create(db, bkp, NULL, NULL, &id));
    CHECK_OK(tind_close(db));
    CHECK_OK(tind_backup_verify(bkp, id, NULL, NULL));
    CHECK_OK(tind_backup_restore(bkp, id, rp, NULL, NULL));
    const char *paths[] = {dbp, cpp, rp};
    for (int p = 0; p < 3; p++) {
        CHECK_OK(tind_open(paths[p], NULL, &db));
        CHECK_OK(tind_keyspace_open(db, "c", NULL, &ks)); /* the stored built-in operator */
        expect_u64(ks, NULL, "n", 160);
        CHECK_RC(tind_contains(ks, "gone", 4, NULL), TIND_NOT_FOUND);
        CHECK_OK(tind_compact(ks));
        expect_u64(ks, NULL, "n", 160);
        CHECK_OK(tind_close(db));
    }
    check_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------ range deletions */

static tind_db *rd_open_mem(fs *mem, const char *path, int background)
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

static tind_keyspace *rd_ks(tind_db *db, const char *name)
{
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, name, NULL, &ks));
    return ks;
}

static void rd_put(tind_keyspace *ks, const char *k, const char *v)
{
    CHECK_OK(tind_put(ks, k, strlen(k), v, strlen(v)));
}

static int rd_has(tind_keyspace *ks, const tind_read_options *ro, const char *k)
{
    int rc = tind_contains(ks, k, strlen(k), ro);
    CHECK(rc == TIND_OK || rc == TIND_NOT_FOUND);
    return rc == TIND_OK;
}

/* The keys a full scan through ro sees, joined by ',' into buf. */
static const char *rd_scan(tind_keyspace *ks, const tind_read_options *ro, int backward, char *buf, size_t len)
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
    tind_db *db = rd_open_mem(mem, "/db", 0);
    tind_keyspace *ks = rd_ks(db, "a");
    rd_put(ks, "k1", "v");
    tind_txn *t;
    CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
    CHECK_RC(tind_txn_remove_range(t, ks, "k0", 2, "k9", 2), TIND_ENOTSUP);
    CHECK(strstr(tind_errmsg(db), "range deletion") != NULL);
    CHECK_RC(tind_txn_remove_range(NULL, ks, "k0", 2, "k9", 2), TIND_EINVAL);
    /* nothing written, the transaction still works */
    CHECK_OK(tind_txn_put(t, ks, "k2", 2, "w", 1));
    CHECK_OK(tind_txn_commit(t));
    CHECK(rd_has(ks, NULL, "k1"));
    CHECK(rd_has(ks, NULL, "k2"));
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
            tind_db *db = rd_open_mem(mem, "/db", bg);
            tind_keyspace *ks = rd_ks(db, "a");
            rd_put(ks, "a", "1");
            rd_put(ks, "b", "1");
            rd_put(ks, "c", "1");
            rd_put(ks, "d", "1");
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
            CHECK(strcmp(rd_scan(ks, ro, 0, buf, sizeof buf), "a,d") == 0);
            CHECK(!rd_has(ks, ro, "b"));
            CHECK_OK(tind_txn_put(t, ks, "b", 1, "own", 3));
            CHECK(rd_has(ks, ro, "b"));
            void *v = NULL;
            size_t vn = 0;
            CHECK_OK(tind_get(ks, "b", 1, ro, &v, &vn));
            CHECK_MEM(v, vn, "own", 3);
            tind_free(v);
            CHECK(!rd_has(ks, ro, "c"));
            CHECK(strcmp(rd_scan(ks, ro, 0, buf, sizeof buf), "a,b,d") == 0);
            CHECK(strcmp(rd_scan(ks, ro, 1, buf, sizeof buf), "d,b,a") == 0);
            tind_read_options_free(ro);
            CHECK_OK(tind_txn_commit(t));
            CHECK(strcmp(rd_scan(ks, NULL, 0, buf, sizeof buf), "a,b,d") == 0);
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
            tind_db *db = rd_open_mem(mem, "/db", bg);
            tind_keyspace *ks = rd_ks(db, "a"), *other = rd_ks(db, "b");
            rd_put(ks, "k1", "1");
            rd_put(ks, "k5", "1");
            rd_put(ks, "m1", "1");
            rd_put(other, "k5", "1");
            tind_txn *t;
            CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &t));
            tind_read_options *ro = tind_read_options_new();
            tind_read_options_set_txn(ro, t);
            if (c == READ_IN || c == OTHER_KS || c == OPEN_END)
                CHECK(rd_has(ks, ro, "k5"));
            else if (c == READ_OUT)
                CHECK(rd_has(ks, ro, "k1"));
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
                CHECK(!rd_has(ks, NULL, "z"));
            } else {
                CHECK_OK(rc);
                CHECK(rd_has(ks, NULL, "z"));
            }
            CHECK(!rd_has(c == OTHER_KS ? other : ks, NULL, "k5"));
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
        tind_db *db = rd_open_mem(mem, "/db", bg);
        tind_ks_options *ko = tind_ks_options_new();
        tind_ks_options_set_prefix_separator(ko, ':');
        tind_ks_options_set_prefix_whole_keys(ko, 0);
        tind_ks_options_set_l0_threshold(ko, 8);
        tind_keyspace *ks;
        CHECK_OK(tind_keyspace_open(db, "p", ko, &ks));
        tind_ks_options_free(ko);
        rd_put(ks, "b:1", "v");
        rd_put(ks, "b:2", "v");
        CHECK_OK(tind_flush(ks));
        rd_put(ks, "a:1", "v");
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
        CHECK(!rd_has(ks, NULL, "b:1"));
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
    CHECK_EQ(m.format_version, 4); /* range tombstones and prefixes (3), in a table with blocked filters (4) */
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
    tind_db *db = rd_open_mem(mem, "/db", 0);
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
        rd_put(ks, k, v);
    }
    CHECK_OK(tind_flush(ks));
    tind_snapshot *s;
    CHECK_OK(tind_snapshot_new(db, &s));
    CHECK_OK(tind_remove_range(ks, "key00100", 8, "key01500", 8));
    CHECK_OK(tind_compact(ks));
    for (int pass = 0; pass < 2; pass++) {
        CHECK(rd_has(ks, NULL, "key00099"));
        CHECK(!rd_has(ks, NULL, "key00100"));
        CHECK(!rd_has(ks, NULL, "key01499"));
        CHECK(rd_has(ks, NULL, "key01500"));
        if (s) {
            tind_read_options *ro = tind_read_options_new();
            tind_read_options_set_snapshot(ro, s);
            CHECK(rd_has(ks, ro, "key00700"));
            tind_read_options_free(ro);
            tind_snapshot_free(s);
            s = NULL;
        }
        CHECK_OK(tind_close(db));
        db = rd_open_mem(mem, "/db", 0);
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
        tind_db *db = rd_open_mem(mem, "/db", bg);
        tind_keyspace *ks = rd_ks(db, "a");
        rd_put(ks, "a", "1");
        rd_put(ks, "b", "1");
        rd_put(ks, "c", "1");
        CHECK_OK(tind_flush(ks));
        CHECK_OK(tind_remove_range(ks, "b", 1, "c", 1)); /* in a table */
        CHECK_OK(tind_flush(ks));
        rd_put(ks, "d", "1");
        CHECK_OK(tind_remove_range(ks, "c", 1, "d", 1)); /* in the journal */
        CHECK_OK(tind_checkpoint(db, "/cp"));
        CHECK_OK(tind_close(db));
        tind_db *cp = rd_open_mem(mem, "/cp", bg);
        tind_keyspace *cks = rd_ks(cp, "a");
        char buf[64];
        CHECK(strcmp(rd_scan(cks, NULL, 0, buf, sizeof buf), "a,d") == 0);
        CHECK(strcmp(rd_scan(cks, NULL, 1, buf, sizeof buf), "d,a") == 0);
        CHECK_OK(tind_close(cp));
        fs_destroy(mem);
    }
}

/* ------------------------------------------ range deletions x merge operands */

static void rd_expect_absent(tind_keyspace *ks, const tind_read_options *ro, const char *key)
{
    CHECK_RC(tind_contains(ks, key, strlen(key), ro), TIND_NOT_FOUND);
    void *v = NULL;
    size_t n = 0;
    CHECK_RC(tind_get(ks, key, strlen(key), ro, &v, &n), TIND_NOT_FOUND);
}

/* Operands under a covering range tombstone are deleted with their key;
 * an operand above one merges with no base. In the memtable, in tables,
 * through compactions (with a snapshot that still sees the old sums, then
 * without), and after a reopen. */
TEST(rangedel_merge_operands)
{
    for (int where = 0; where < 3; where++) {
        fs *mem = fs_mem_new();
        tind_db *db = open_mem(mem);
        tind_keyspace *ks = counter_ks(db, "c");
        uint8_t b[8];
        enc_u64(b, 100);
        CHECK_OK(tind_put(ks, "a", 1, b, 8));
        add(ks, "a", 1);
        add(ks, "b", 2);
        add(ks, "b", 3);
        add(ks, "d", 4);
        if (where)
            CHECK_OK(tind_flush(ks));
        if (where == 2)
            CHECK_OK(tind_compact(ks));
        tind_snapshot *s;
        CHECK_OK(tind_snapshot_new(db, &s));
        tind_read_options *ro = tind_read_options_new();
        tind_read_options_set_snapshot(ro, s);
        CHECK_OK(tind_remove_range(ks, "a", 1, "c", 1));
        if (where)
            CHECK_OK(tind_flush(ks));
        add(ks, "a", 7); /* above the tombstone: no base */
        char out[256];
        for (int round = 0; round < 4; round++) {
            expect_u64(ks, NULL, "a", 7);
            rd_expect_absent(ks, NULL, "b");
            expect_u64(ks, NULL, "d", 4);
            scan(ks, NULL, out, sizeof out);
            CHECK(strcmp(out, "a=7 d=4 ") == 0);
            if (s) {
                expect_u64(ks, ro, "a", 101);
                expect_u64(ks, ro, "b", 5);
                scan(ks, ro, out, sizeof out);
                CHECK(strcmp(out, "a=101 b=5 d=4 ") == 0);
            }
            if (round == 0) {
                CHECK_OK(tind_compact(ks)); /* the snapshot keeps what it sees */
            } else if (round == 1) {
                tind_read_options_free(ro);
                ro = NULL;
                tind_snapshot_free(s);
                s = NULL;
                CHECK_OK(tind_flush(ks));
                CHECK_OK(tind_compact(ks)); /* now the bottom: one merged value, no tombstone */
            } else if (round == 2) {
                CHECK_OK(tind_close(db));
                db = open_mem(mem);
                ks = counter_ks(db, "c");
            }
        }
        add(ks, "b", 9); /* a new chain after everything */
        expect_u64(ks, NULL, "b", 9);
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
}

/* ============================================================ encryption at rest */

static const uint8_t KEY[32] = {0x49, 0x6e, 0x74, 0x65, 0x72, 0x6f, 0x70, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25};
static const uint8_t OTHER[32] = {0x49, 0x6e, 0x74, 0x65, 0x72, 0x6f, 0x70, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 26};

static int open_db(const char *path, const uint8_t *key, int bg, tind_db **db)
{
    tind_options *o = tind_options_new();
    CHECK(o != NULL);
    if (!bg)
        tind_options_set_no_background(o, 1);
    if (key)
        CHECK_OK(tind_options_set_encryption_key(o, key, 32));
    tind_options_set_changes_retention(o, UINT64_MAX);
    int rc = tind_open(path, o, db);
    tind_options_free(o);
    return rc;
}

static tind_ks_options *small_tables(void)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 16 << 10);
    tind_ks_options_set_table_size(ko, 16 << 10);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_NONE, 0);
    return ko;
}

#define NKEYS 1200

static void key_of(int i, char *k) { snprintf(k, 32, "SECRETKEY%06d", i); }
static size_t val_of(int i, char *v) { return (size_t)snprintf(v, 64, "PLAINVALUE-%06d-qqqqqqqq", i); }

/* Keys 0..n-1; the first half flushed into tables, the rest in the journal. */
static void fill(tind_keyspace *ks, int from, int to)
{
    char k[32], v[64];
    for (int i = from; i < to; i++) {
        key_of(i, k);
        size_t vn = val_of(i, v);
        CHECK_OK(tind_put(ks, k, strlen(k), v, vn));
        if (i == from + (to - from) / 2)
            CHECK_OK(tind_flush(ks));
    }
}

static void check_keys(tind_keyspace *ks, int n)
{
    char k[32], v[64];
    for (int i = 0; i < n; i++) {
        key_of(i, k);
        size_t vn = val_of(i, v);
        void *got = NULL;
        size_t gn = 0;
        CHECK_OK(tind_get(ks, k, strlen(k), NULL, &got, &gn));
        CHECK_MEM(got, gn, v, vn);
        tind_free(got);
    }
    char extra[32];
    key_of(n, extra);
    CHECK_RC(tind_contains(ks, extra, strlen(extra), NULL), TIND_NOT_FOUND);
}

/* Opens path with KEY and checks keys 0..n-1 of keyspace "names"; a wrong
 * key and no key are refused first. */
static void check_copy(const char *path, int n)
{
    tind_db *db = NULL;
    CHECK_RC(open_db(path, NULL, 0, &db), TIND_EINVAL);
    CHECK(strstr(tind_errmsg(NULL), "encrypted") != NULL);
    CHECK_RC(open_db(path, OTHER, 0, &db), TIND_EINVAL);
    CHECK(strstr(tind_errmsg(NULL), "wrong encryption key") != NULL);
    CHECK_OK(open_db(path, KEY, 0, &db));
    tind_keyspace *ks = NULL;
    tind_ks_options *ko = small_tables();
    CHECK_OK(tind_keyspace_open(db, "names", ko, &ks));
    tind_ks_options_free(ko);
    check_keys(ks, n);
    CHECK_OK(tind_close(db));
}

/* No file under dir holds a needle (the plaintext keys and values). */
static int grep_tree(const char *dir)
{
    static const char *const needles[] = {"SECRETKEY", "PLAINVALUE", "qqqqqqqq"};
    return check_no_plaintext(dir, needles, sizeof needles / sizeof *needles);
}

/* ============================================================ checkpoints */

TEST(crypt_checkpoint)
{
    for (int bg = 0; bg < 2; bg++) {
        char *dir = check_tmpdir("icrypt-ckpt");
        char path[1024], copy[1024];
        snprintf(path, sizeof path, "%s/db", dir);
        snprintf(copy, sizeof copy, "%s/copy", dir);
        tind_db *db = NULL;
        CHECK_OK(open_db(path, KEY, bg, &db));
        tind_keyspace *ks = NULL;
        tind_ks_options *ko = small_tables();
        CHECK_OK(tind_keyspace_open(db, "names", ko, &ks));
        tind_ks_options_free(ko);
        fill(ks, 0, NKEYS);
        CHECK_OK(tind_checkpoint(db, copy));
        /* later writes are not in the copy */
        CHECK_OK(tind_put(ks, "SECRETKEY999999", 15, "PLAINVALUE", 10));
        CHECK_OK(tind_close(db));
        CHECK(grep_tree(copy) >= 5);   /* ENCRYPTION, FORMAT, VERSIONS, journals, tables */
        check_copy(copy, NKEYS);
        check_rmtree(dir);
        free(dir);
    }
}

/* ============================================================ backups */

static void flip_byte(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    CHECK(fseek(f, off, SEEK_SET) == 0);
    int c = fgetc(f);
    CHECK(c != EOF);
    CHECK(fseek(f, off, SEEK_SET) == 0);
    fputc(c ^ 0x40, f);
    fclose(f);
}

TEST(crypt_backup)
{
    char *dir = check_tmpdir("icrypt-backup");
    char path[1024], bdir[1024], target[1024], target2[1024];
    snprintf(path, sizeof path, "%s/db", dir);
    snprintf(bdir, sizeof bdir, "%s/backups", dir);
    snprintf(target, sizeof target, "%s/restored", dir);
    snprintf(target2, sizeof target2, "%s/restored2", dir);
    tind_db *db = NULL;
    /* no background work: the second backup finds the first's tables unchanged */
    CHECK_OK(open_db(path, KEY, 0, &db));
    tind_keyspace *ks = NULL;
    tind_ks_options *ko = small_tables();
    CHECK_OK(tind_keyspace_open(db, "names", ko, &ks));
    tind_ks_options_free(ko);
    fill(ks, 0, NKEYS / 2);
    uint64_t id1 = 0, id2 = 0, same = 0;
    CHECK_OK(tind_backup_create(db, bdir, NULL, NULL, &id1));
    CHECK_OK(tind_backup_create(db, bdir, NULL, NULL, &same));
    fill(ks, NKEYS / 2, NKEYS);
    CHECK_OK(tind_backup_create(db, bdir, NULL, NULL, &id2));
    CHECK_OK(tind_close(db));
    tind_backup_info *list = NULL;
    size_t count = 0;
    CHECK_OK(tind_backup_list(bdir, &list, &count));
    CHECK_EQ(count, 3);
    CHECK(list[1].shared_bytes > 0);   /* the second shares the first's (encrypted) tables */
    tind_free(list);
    /* no key needed: the stored bytes' checksums */
    if (tind_backup_verify(bdir, 0, NULL, NULL) != TIND_OK)
        check_fail(__FILE__, __LINE__, "verify: %s", tind_errmsg(NULL));
    CHECK(grep_tree(bdir) >= 8);
    CHECK_OK(tind_backup_restore(bdir, id1, target, NULL, NULL));
    check_copy(target, NKEYS / 2);
    CHECK_OK(tind_backup_restore(bdir, 0, target2, NULL, NULL));
    check_copy(target2, NKEYS);
    /* a byte of a stored table damaged: verify and restore say so */
    DIR *d = NULL;
    char shared[1100], victim[2048] = "";
    snprintf(shared, sizeof shared, "%s/shared", bdir);
    CHECK((d = opendir(shared)) != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && !victim[0])
        if (strstr(e->d_name, ".tbl"))
            snprintf(victim, sizeof victim, "%s/%s", shared, e->d_name);
    closedir(d);
    CHECK(victim[0]);
    flip_byte(victim, 5000);
    CHECK_RC(tind_backup_verify(bdir, 0, NULL, NULL), TIND_ECORRUPT);
    CHECK(strstr(tind_errmsg(NULL), "checksum mismatch") != NULL);
    /* the table is in one backup or both: a restore of it fails, leaving nothing */
    char target3[1100], target4[1100];
    snprintf(target3, sizeof target3, "%s/restored3", dir);
    snprintf(target4, sizeof target4, "%s/restored4", dir);
    int rc1 = tind_backup_restore(bdir, id1, target3, NULL, NULL);
    int rc2 = tind_backup_restore(bdir, id2, target4, NULL, NULL);
    CHECK(rc1 == TIND_OK || rc1 == TIND_ECORRUPT);
    CHECK(rc2 == TIND_OK || rc2 == TIND_ECORRUPT);
    CHECK(rc1 == TIND_ECORRUPT || rc2 == TIND_ECORRUPT);
    if (rc1 == TIND_OK)
        check_copy(target3, NKEYS / 2);
    if (rc2 == TIND_OK)
        check_copy(target4, NKEYS);
    check_rmtree(dir);
    free(dir);
}

/* ============================================================ change feed */

#define FEED_BATCHES 3000

typedef struct writer_arg {
    tind_db *db;
    tind_keyspace *ks;
} writer_arg;

/* Batch b holds keys "b%06d-0" .. "-(b % 3)". */
static void *writer(void *p)
{
    writer_arg *a = p;
    for (int b = 0; b < FEED_BATCHES; b++) {
        tind_batch *bt = NULL;
        CHECK_OK(tind_batch_new(a->db, &bt));
        for (int j = 0; j <= b % 3; j++) {
            char k[32], v[64];
            snprintf(k, sizeof k, "b%06d-%d", b, j);
            size_t vn = (size_t)snprintf(v, sizeof v, "PLAINVALUE-%d-%d", b, j);
            CHECK_OK(tind_batch_put(bt, a->ks, k, strlen(k), v, vn));
        }
        CHECK_OK(tind_batch_commit(bt));
        tind_batch_free(bt);
        if (b % 700 == 699)
            CHECK_OK(tind_flush(a->ks));
    }
    return NULL;
}

/* Reads batches 0..FEED_BATCHES-1 from the feed, checking each. */
static void follow(tind_db *db, uint64_t first, const char *ckpt)
{
    tind_changes *c = NULL;
    CHECK_OK(tind_changes_since(db, first, &c));
    uint64_t seqno = first;
    for (int b = 0; b < FEED_BATCHES; b++) {
        int rc = tind_changes_next(c, 10000);
        if (rc != TIND_OK)
            check_fail(__FILE__, __LINE__, "batch %d: %d (%s)", b, rc, tind_errmsg(db));
        CHECK_EQ(tind_changes_seqno(c), seqno);
        CHECK_EQ(tind_changes_count(c), (size_t)(b % 3 + 1));
        for (int j = 0; j <= b % 3; j++) {
            const tind_change_op *op = tind_changes_op(c, (size_t)j);
            char k[32], v[64];
            snprintf(k, sizeof k, "b%06d-%d", b, j);
            size_t vn = (size_t)snprintf(v, sizeof v, "PLAINVALUE-%d-%d", b, j);
            CHECK_EQ(op->type, TIND_CHANGE_PUT);
            CHECK_MEM(op->key, op->klen, k, strlen(k));
            CHECK_MEM(op->value, op->vlen, v, vn);
        }
        seqno += (uint64_t)(b % 3 + 1);
        if (ckpt && b == FEED_BATCHES / 2)
            CHECK_OK(tind_checkpoint(db, ckpt));
    }
    CHECK_RC(tind_changes_next(c, 0), TIND_NOT_FOUND);
    tind_changes_free(c);
}

TEST(crypt_changes_live)
{
    char *dir = check_tmpdir("icrypt-feed");
    char path[1024], copy[1024];
    snprintf(path, sizeof path, "%s/db", dir);
    snprintf(copy, sizeof copy, "%s/copy", dir);
    tind_db *db = NULL;
    CHECK_OK(open_db(path, KEY, 1, &db));
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, "feed", NULL, &ks));
    uint64_t first = 0;
    CHECK_OK(tind_last_seqno(db, &first));
    first++;
    writer_arg a = {db, ks};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, writer, &a) == 0);
    follow(db, first, copy);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_OK(tind_close(db));
    /* the checkpoint taken while the writer wrote opens with the key and
     * holds a prefix of the batches: whole ones, in order */
    CHECK_OK(open_db(copy, KEY, 0, &db));
    CHECK_OK(tind_keyspace_open(db, "feed", NULL, &ks));
    int present = 0;
    for (int b = 0; b < FEED_BATCHES; b++) {
        char k[32];
        snprintf(k, sizeof k, "b%06d-%d", b, b % 3);
        int rc = tind_contains(ks, k, strlen(k), NULL);
        CHECK(rc == TIND_OK || rc == TIND_NOT_FOUND);
        if (rc == TIND_OK) {
            CHECK_EQ(present, b);
            present++;
            snprintf(k, sizeof k, "b%06d-0", b);
            CHECK_OK(tind_contains(ks, k, strlen(k), NULL));
        }
    }
    CHECK(present >= FEED_BATCHES / 2);
    CHECK_OK(tind_close(db));
    /* after a reopen, the retained (encrypted) journals give every batch again */
    CHECK_OK(open_db(path, KEY, 0, &db));
    follow(db, first, NULL);
    CHECK_OK(tind_close(db));
    check_rmtree(dir);
    free(dir);
}

/* ============================================================ prefix filters, dictionaries */

TEST(crypt_prefix_dict)
{
    char *dir = check_tmpdir("icrypt-prefix");
    char path[1024];
    snprintf(path, sizeof path, "%s/db", dir);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 64 << 10);
    tind_ks_options_set_table_size(ko, 64 << 10);
    tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_ZSTD, 3);
    tind_ks_options_set_zstd_dict(ko, -1, 2048);
    tind_ks_options_set_prefix_fixed(ko, 5);
    for (int round = 0; round < 2; round++) {
        tind_db *db = NULL;
        CHECK_OK(open_db(path, KEY, round, &db));
        tind_keyspace *ks = NULL;
        CHECK_OK(tind_keyspace_open(db, "users", ko, &ks));
        if (round == 0) {
            /* user u0000..u0039 in tables of their own (one flush per 10 users) */
            for (int u = 0; u < 40; u++) {
                for (int i = 0; i < 150; i++) {
                    char k[32], v[96];
                    snprintf(k, sizeof k, "u%04d:%05d", u, i);
                    size_t vn = (size_t)snprintf(v, sizeof v, "{\"user\":%d,\"item\":%d,\"state\":\"active\"}", u, i);
                    CHECK_OK(tind_put(ks, k, strlen(k), v, vn));
                }
                if (u % 10 == 9)
                    CHECK_OK(tind_flush(ks));
            }
        }
        for (int u = 0; u < 40; u += 7) {
            char p[16];
            snprintf(p, sizeof p, "u%04d", u);
            tind_iter *it = NULL;
            CHECK_OK(tind_iter_prefix(ks, p, 5, NULL, &it));
            int n = 0;
            for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
                size_t kn = 0, vn = 0;
                const char *k = tind_iter_key(it, &kn);
                const char *v = tind_iter_value(it, &vn);
                char want[96];
                size_t wn = (size_t)snprintf(want, sizeof want, "{\"user\":%d,\"item\":%d,\"state\":\"active\"}", u, n);
                CHECK(kn == 11 && !memcmp(k, p, 5));
                CHECK_MEM(v, vn, want, wn);
                n++;
            }
            CHECK_OK(tind_iter_status(it));
            tind_iter_free(it);
            CHECK_EQ(n, 150);
        }
        tind_ks_stats st;
        CHECK_OK(tind_ks_stats_get(ks, &st));
        CHECK(st.prefix_skipped > 0);
        void *v = NULL;
        size_t vn = 0;
        CHECK_OK(tind_get(ks, "u0033:00149", 11, NULL, &v, &vn));
        const char *want = "{\"user\":33,\"item\":149,\"state\":\"active\"}";
        CHECK_MEM(v, vn, want, strlen(want));
        tind_free(v);
        CHECK_OK(tind_close(db));
    }
    tind_ks_options_free(ko);
    check_rmtree(dir);
    free(dir);
}

int main(void)
{
    check_seed_init(14);
    for (background = 0; background < 2; background++) {
        fprintf(stderr, "background threads %s\n", background ? "on" : "off");
        RUN(txn_refuses_merge_and_single_delete);
        RUN(txn_reads_merged_keys);
        RUN(merge_and_single_delete_by_others_conflict);
        RUN(change_feed_carries_merges_and_single_deletes);
        RUN(checkpoint_and_backup_keep_operands);
        RUN(rangedel_merge_operands);
    }
    RUN(rangedel_txn_refused);
    RUN(rangedel_txn_own_writes);
    RUN(rangedel_txn_conflicts);
    RUN(rangedel_prefix_filter);
    RUN(rangedel_dictionary_table);
    RUN(rangedel_checkpoint);
    RUN(crypt_checkpoint);
    RUN(crypt_backup);
    RUN(crypt_changes_live);
    RUN(crypt_prefix_dict);
    return 0;
}
