/*
 * test_interop_blob.c -- key-value separation meets the other features (the
 * rest of the interop tests are in test_interop.c): each test shows a combination of
 * two features works (or is refused clearly).
 *
 *   txn_reads_blobs     key-value separation x transactions: point reads,
 *                       value sizes and iterators through a transaction load
 *                       separated values from blob files (never the pointer
 *                       bytes), its own writes win over them, and a commit
 *                       of large values separates them at the next flush
 *   checkpoint_blobs    key-value separation x checkpoints: the copy holds
 *                       the blob files VERSIONS names (hard-linked); it opens
 *                       alone (the database removed) and reads every value
 *   backup_blobs        key-value separation x incremental backups: blob
 *                       files are stored once in shared/ and shared by the
 *                       next backup, verify checks their records (a damaged
 *                       one is TIND_ECORRUPT), a restore opens and reads
 *                       every value
 *   merge_over_blobs    key-value separation x merge operator: operands over
 *                       a separated base value merge with the value (loaded
 *                       from its blob file), never the pointer bytes, by
 *                       get, iterators both ways and after compaction
 *   changes_blobs       key-value separation x change feed: the feed reads
 *                       journals, where values are inline: a separated
 *                       value comes out whole after its flush
 *   rangedel_blobs      key-value separation x range deletions: a range
 *                       tombstone deletes separated values for get, value
 *                       size, contains and iterators; compaction counts the
 *                       blobs of the pointers it drops as garbage, also
 *                       those of a wholly covered table (blob bytes minus
 *                       garbage equal the live records exactly, also
 *                       after a reopen)
 *   crypt_blobs         key-value separation x encryption at rest: blob
 *                       files are written and read through the encrypting
 *                       file system (no plaintext value in any file), the
 *                       database reopens and reads every separated value
 *   ingest_blobs        key-value separation x bulk ingestion: ingested
 *                       values at or above the threshold stay inline in the
 *                       ingested tables (no blob file), read right, and the
 *                       next compaction separates them
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db/backup.h"
#include "io/fs.h"
#include "tind_internal.h"

#define KEYS 120

static tind_db *open_db(fs *f, const char *path)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, f);
    tind_options_set_no_background(o, 1);
    tind_options_set_changes_retention(o, 1 << 20);
    tind_db *db = NULL;
    int rc = tind_open(path, o, &db);
    if (rc)
        fprintf(stderr, "open %s: %s\n", path, tind_errmsg(NULL));
    CHECK_OK(rc);
    tind_options_free(o);
    return db;
}

/* A keyspace separating values of >= 64 bytes into small blob files. */
static tind_keyspace *blob_ks(tind_db *db)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 64 << 10);
    tind_ks_options_set_blob_separation(ko, 1, 64);
    tind_ks_options_set_blob_file_size(ko, 16 << 10);
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, "blobs", ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

static int key_of(char *buf, int i) { return snprintf(buf, 32, "key-%05d", i); }

/* The number of a key of key_of: its bytes are not NUL-terminated (atoi on
 * them read on into whatever followed, another key's digits under TSan's
 * allocator). */
static int key_number(const char *key, size_t klen)
{
    char buf[32];
    size_t n = klen < sizeof buf - 1 ? klen : sizeof buf - 1;
    memcpy(buf, key, n);
    buf[n] = 0;
    return n > 4 ? atoi(buf + 4) : -1;
}

/* Value of key i in round r: 20 bytes (inline) or 100..2000 (separated). */
static size_t value_of(uint8_t *buf, int i, int r)
{
    size_t n = i % 4 == 0 ? 20 : 100 + (size_t)(i * 37 % 1900);
    for (size_t j = 0; j < n; j++)
        buf[j] = (uint8_t)('a' + (i * 7 + r * 3 + (int)j) % 26);
    return n;
}

static void put_all(tind_keyspace *ks, int round)
{
    uint8_t v[2048];
    char k[32];
    for (int i = 0; i < KEYS; i++) {
        int kn = key_of(k, i);
        size_t vn = value_of(v, i, round);
        CHECK_OK(tind_put(ks, k, (size_t)kn, v, vn));
    }
}

/* Every key holds its value of `round`, by get, value size and iterator. */
static void check_all(tind_keyspace *ks, int round, const tind_read_options *ro)
{
    uint8_t want[2048];
    char k[32];
    for (int i = 0; i < KEYS; i++) {
        int kn = key_of(k, i);
        size_t wn = value_of(want, i, round);
        void *v = NULL;
        size_t vn = 0;
        CHECK_OK(tind_get(ks, k, (size_t)kn, ro, &v, &vn));
        CHECK_MEM(v, vn, want, wn);
        tind_free(v);
        uint64_t sz = 0;
        CHECK_OK(tind_value_size(ks, k, (size_t)kn, ro, &sz));
        CHECK_EQ(sz, wn);
    }
    tind_iter *it = NULL;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
    int i = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), i++) {
        size_t wn = value_of(want, i, round), vn = 0;
        CHECK_EQ(tind_iter_value_size(it), wn);
        const void *v = tind_iter_value(it, &vn);
        CHECK_MEM(v, vn, want, wn);
    }
    CHECK_OK(tind_iter_status(it));
    tind_iter_free(it);
    CHECK_EQ(i, KEYS);
}

static size_t count_blob_files(fs *f, const char *dir)
{
    char **names = NULL;
    size_t n = 0, blobs = 0;
    CHECK_OK(fs_list(f, dir, &names, &n, NULL));
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        blobs += l > 5 && !strcmp(names[i] + l - 5, ".blob");
    }
    fs_list_free(names, n);
    return blobs;
}

/* A database at path with separated values in blob files (flushed and
 * compacted: round 1 over round 0) and round 1 checked. */
static tind_db *db_with_blobs(fs *f, const char *path, tind_keyspace **ks)
{
    tind_db *db = open_db(f, path);
    *ks = blob_ks(db);
    put_all(*ks, 0);
    CHECK_OK(tind_flush(*ks));
    put_all(*ks, 1);
    CHECK_OK(tind_flush(*ks));
    CHECK_OK(tind_compact(*ks));
    char tables[256];
    snprintf(tables, sizeof tables, "%s/tables", path);
    CHECK(count_blob_files(f, tables) >= 2);
    check_all(*ks, 1, NULL);
    return db;
}

TEST(txn_reads_blobs)
{
    fs *f = fs_mem_new();
    tind_keyspace *ks = NULL;
    tind_db *db = db_with_blobs(f, "/db", &ks);
    tind_ks_stats st0, st1;
    CHECK_OK(tind_ks_stats_get(ks, &st0));
    tind_txn *txn = NULL;
    CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &txn));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_txn(ro, txn);
    check_all(ks, 1, ro); /* separated values through the transaction */
    CHECK_OK(tind_ks_stats_get(ks, &st1));
    CHECK(st1.blob_reads > st0.blob_reads);
    /* a write after the snapshot is not seen; the transaction's own are */
    char k[32];
    uint8_t big[3000];
    memset(big, 'z', sizeof big);
    int kn = key_of(k, 1);
    CHECK_OK(tind_put(ks, k, (size_t)kn, "outside", 7));
    kn = key_of(k, 2);
    CHECK_OK(tind_txn_put(txn, ks, k, (size_t)kn, big, sizeof big));
    kn = key_of(k, 3);
    CHECK_OK(tind_txn_remove(txn, ks, k, (size_t)kn));
    uint8_t want[2048];
    void *v = NULL;
    size_t vn = 0;
    kn = key_of(k, 1);
    CHECK_OK(tind_get(ks, k, (size_t)kn, ro, &v, &vn));
    size_t wn = value_of(want, 1, 1);
    CHECK_MEM(v, vn, want, wn);
    tind_free(v);
    kn = key_of(k, 2);
    CHECK_OK(tind_get(ks, k, (size_t)kn, ro, &v, &vn));
    CHECK_MEM(v, vn, big, sizeof big);
    tind_free(v);
    kn = key_of(k, 3);
    CHECK_RC(tind_contains(ks, k, (size_t)kn, ro), TIND_NOT_FOUND);
    /* the iterator merges the write set over the separated values */
    tind_iter *it = NULL;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
    int n = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), n++) {
        size_t kl = 0, vl = 0;
        const char *key = tind_iter_key(it, &kl);
        const void *val = tind_iter_value(it, &vl);
        int i = key_number(key, kl);
        CHECK(i != 3);
        if (i == 2)
            CHECK_MEM(val, vl, big, sizeof big);
        else {
            wn = value_of(want, i, 1);
            CHECK_MEM(val, vl, want, wn);
        }
    }
    CHECK_OK(tind_iter_status(it));
    tind_iter_free(it);
    CHECK_EQ(n, KEYS - 1);
    /* key 1 was read and written meanwhile: the commit conflicts */
    CHECK_RC(tind_txn_commit(txn), TIND_ECONFLICT);
    /* a transaction that commits a large value: separated at the flush */
    CHECK_OK(tind_txn_begin(db, TIND_TXN_OPTIMISTIC, &txn));
    kn = key_of(k, 2);
    CHECK_OK(tind_txn_put(txn, ks, k, (size_t)kn, big, sizeof big));
    CHECK_OK(tind_txn_commit(txn));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_ks_stats_get(ks, &st0));
    CHECK_OK(tind_get(ks, k, (size_t)kn, NULL, &v, &vn));
    CHECK_MEM(v, vn, big, sizeof big);
    tind_free(v);
    CHECK_OK(tind_ks_stats_get(ks, &st1));
    CHECK_EQ(st1.blob_reads, st0.blob_reads + 1);
    tind_read_options_free(ro);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

static void remove_tree(fs *f, const char *dir)
{
    char **names = NULL;
    size_t n = 0;
    if (fs_list(f, dir, &names, &n, NULL) != TIND_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        int is_dir = 0;
        if (fs_exists(f, p, &is_dir) == TIND_OK && is_dir)
            remove_tree(f, p);
        else
            fs_unlink(f, p, NULL);
    }
    fs_list_free(names, n);
    fs_rmdir(f, dir, NULL);
}

/* The database at path opens and holds round `round`; blob files present. */
static void check_copy(fs *f, const char *path, int round)
{
    char tables[256];
    snprintf(tables, sizeof tables, "%s/tables", path);
    CHECK(count_blob_files(f, tables) >= 2);
    tind_db *db = open_db(f, path);
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, "blobs", NULL, &ks));
    check_all(ks, round, NULL);
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK(st.blob_files >= 2 && st.blob_reads > 0);
    CHECK_OK(tind_close(db));
}

TEST(checkpoint_blobs)
{
    fs *f = fs_mem_new();
    tind_keyspace *ks = NULL;
    tind_db *db = db_with_blobs(f, "/db", &ks);
    CHECK_OK(tind_checkpoint(db, "/ck"));
    put_all(ks, 2); /* after the checkpoint: not in it */
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_close(db));
    remove_tree(f, "/db"); /* the copy stands alone */
    check_copy(f, "/ck", 1);
    fs_destroy(f);
}

TEST(backup_blobs)
{
    fs *f = fs_mem_new();
    tind_keyspace *ks = NULL;
    tind_db *db = db_with_blobs(f, "/db", &ks);
    tind_err err;
    uint64_t id1 = 0, id2 = 0;
    CHECK_OK(bk_create(db, "/bk", NULL, NULL, &id1, &err));
    CHECK(count_blob_files(f, "/bk/shared") >= 2);
    /* a second backup with nothing new shares every table and blob file */
    CHECK_OK(bk_create(db, "/bk", NULL, NULL, &id2, &err));
    tind_backup_info *list = NULL;
    size_t count = 0;
    CHECK_OK(bk_list(f, "/bk", &list, &count, &err));
    CHECK_EQ(count, 2);
    CHECK(list[1].shared_bytes > 0);
    tind_free(list);
    put_all(ks, 2);
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_close(db));
    CHECK_OK(bk_verify(f, "/bk", 0, NULL, NULL, &err));
    CHECK_OK(bk_restore(f, "/bk", id1, "/restored", NULL, NULL, &err));
    remove_tree(f, "/db");
    check_copy(f, "/restored", 1);
    /* a damaged record in a shared blob file: verify names it, restore refuses */
    char **names = NULL;
    size_t n = 0;
    CHECK_OK(fs_list(f, "/bk/shared", &names, &n, NULL));
    char victim[512] = "";
    for (size_t i = 0; i < n && !victim[0]; i++)
        if (strstr(names[i], ".blob"))
            snprintf(victim, sizeof victim, "/bk/shared/%s", names[i]);
    fs_list_free(names, n);
    CHECK(victim[0] != 0);
    fs_file *vf = NULL;
    CHECK_OK(fs_open(f, victim, FS_O_READ | FS_O_WRITE, &vf, NULL));
    uint8_t b = 0;
    size_t got = 0;
    CHECK_OK(fs_read(vf, &b, 1, 12, &got, NULL));
    b ^= 0x40;
    CHECK_OK(fs_write(vf, &b, 1, 12, NULL));
    CHECK_OK(fs_close(vf, NULL));
    CHECK_RC(bk_verify(f, "/bk", id2, NULL, NULL, &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, ".blob") != NULL);
    CHECK_RC(bk_restore(f, "/bk", id2, "/restored2", NULL, NULL, &err), TIND_ECORRUPT);
    int is_dir = 0;
    CHECK_RC(fs_exists(f, "/restored2", &is_dir), TIND_ENOENT);
    fs_destroy(f);
}

/* The append operator over separated base values. */
static void check_merged(tind_keyspace *ks, int n, int ops)
{
    uint8_t want[4096];
    char k[32];
    for (int i = 0; i < n; i++) {
        int kn = key_of(k, i);
        size_t wn = value_of(want, i, 0);
        for (int j = 0; j < ops; j++)
            wn += (size_t)snprintf((char *)want + wn, 16, ",op%d", j);
        void *v = NULL;
        size_t vn = 0;
        CHECK_OK(tind_get(ks, k, (size_t)kn, NULL, &v, &vn));
        CHECK_MEM(v, vn, want, wn);
        tind_free(v);
    }
    tind_iter *it = NULL;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
    int i = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), i++) {
        size_t wn = value_of(want, i, 0), vn = 0;
        for (int j = 0; j < ops; j++)
            wn += (size_t)snprintf((char *)want + wn, 16, ",op%d", j);
        const void *v = tind_iter_value(it, &vn);
        CHECK_MEM(v, vn, want, wn);
        CHECK_EQ(tind_iter_value_size(it), wn);
    }
    CHECK_EQ(i, n);
    for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it)) {
        i--;
        size_t wn = value_of(want, i, 0), vn = 0;
        for (int j = 0; j < ops; j++)
            wn += (size_t)snprintf((char *)want + wn, 16, ",op%d", j);
        const void *v = tind_iter_value(it, &vn);
        CHECK_MEM(v, vn, want, wn);
    }
    CHECK_EQ(i, 0);
    CHECK_OK(tind_iter_status(it));
    tind_iter_free(it);
}

TEST(merge_over_blobs)
{
    fs *f = fs_mem_new();
    tind_db *db = open_db(f, "/db");
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 64 << 10);
    tind_ks_options_set_blob_separation(ko, 1, 64);
    tind_ks_options_set_blob_file_size(ko, 16 << 10);
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_APPEND, ",", 1);
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, "m", ko, &ks));
    tind_ks_options_free(ko);
    put_all(ks, 0);
    CHECK_OK(tind_flush(ks));
    CHECK(count_blob_files(f, "/db/tables") >= 1);
    char k[32];
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < KEYS; i++) {
            int kn = key_of(k, i);
            char op[16];
            int on = snprintf(op, sizeof op, "op%d", j);
            CHECK_OK(tind_merge(ks, k, (size_t)kn, op, (size_t)on));
        }
    check_merged(ks, KEYS, 2); /* operands in the memtable over blobs */
    CHECK_OK(tind_flush(ks));
    check_merged(ks, KEYS, 2); /* operands in a table over blobs */
    CHECK_OK(tind_compact(ks));
    check_merged(ks, KEYS, 2); /* after compaction */
    CHECK_OK(tind_close(db));
    db = open_db(f, "/db");
    CHECK_OK(tind_keyspace_open(db, "m", NULL, &ks));
    check_merged(ks, KEYS, 2);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

TEST(changes_blobs)
{
    fs *f = fs_mem_new();
    tind_db *db = open_db(f, "/db");
    tind_keyspace *ks = blob_ks(db);
    put_all(ks, 0);
    CHECK_OK(tind_flush(ks)); /* the values are in blob files now */
    tind_changes *c = NULL;
    CHECK_OK(tind_changes_since(db, 1, &c));
    uint8_t want[2048];
    int seen = 0;
    while (tind_changes_next(c, 0) == TIND_OK)
        for (size_t i = 0; i < tind_changes_count(c); i++, seen++) {
            const tind_change_op *op = tind_changes_op(c, i);
            CHECK_EQ(op->type, TIND_CHANGE_PUT);
            size_t wn = value_of(want, seen, 0);
            CHECK_MEM(op->value, op->vlen, want, wn);
        }
    tind_changes_free(c);
    CHECK_EQ(seen, KEYS);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

/* ============================================================ range deletions */

/* Record bytes of the separated values (>= 64 bytes, stored raw) of the keys
 * i of round 0 that keep(i) accepts: each record is its value plus 17. */
static uint64_t live_record_bytes(int lo, int hi)
{
    uint8_t v[2048];
    uint64_t sum = 0;
    for (int i = 0; i < KEYS; i++) {
        size_t n = value_of(v, i, 0);
        if (n >= 64 && (i < lo || i >= hi))
            sum += n + 17;
    }
    return sum;
}

static void check_deleted(tind_keyspace *ks, int lo, int hi)
{
    uint8_t want[2048];
    char k[32];
    for (int i = 0; i < KEYS; i++) {
        int kn = key_of(k, i);
        size_t wn = value_of(want, i, 0);
        void *v = NULL;
        size_t vn = 0;
        uint64_t sz = 0;
        if (i >= lo && i < hi) {
            CHECK_RC(tind_get(ks, k, (size_t)kn, NULL, &v, &vn), TIND_NOT_FOUND);
            CHECK_RC(tind_value_size(ks, k, (size_t)kn, NULL, &sz), TIND_NOT_FOUND);
            CHECK_RC(tind_contains(ks, k, (size_t)kn, NULL), TIND_NOT_FOUND);
            continue;
        }
        CHECK_OK(tind_get(ks, k, (size_t)kn, NULL, &v, &vn));
        CHECK_MEM(v, vn, want, wn);
        tind_free(v);
    }
    for (int dir = 0; dir < 2; dir++) {
        tind_iter *it = NULL;
        CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
        int seen = 0;
        for (dir ? tind_iter_last(it) : tind_iter_first(it); tind_iter_valid(it);
             dir ? tind_iter_prev(it) : tind_iter_next(it), seen++) {
            size_t kn = 0, vn = 0;
            const char *k2 = tind_iter_key(it, &kn);
            int i = key_number(k2, kn);
            CHECK(i < lo || i >= hi);
            size_t wn = value_of(want, i, 0);
            const void *v = tind_iter_value(it, &vn);
            CHECK_MEM(v, vn, want, wn);
        }
        CHECK_OK(tind_iter_status(it));
        tind_iter_free(it);
        CHECK_EQ(seen, KEYS - (hi - lo));
    }
}

TEST(rangedel_blobs)
{
    for (int bg = 0; bg < 2; bg++) {
        fs *f = fs_mem_new();
        tind_options *o = tind_options_new();
        tind_options_set_fs(o, f);
        if (!bg)
            tind_options_set_no_background(o, 1);
        tind_db *db = NULL;
        CHECK_OK(tind_open("/db", o, &db));
        tind_options_free(o);
        /* small tables all pointing into the same two blob files: some
         * lie wholly under the range tombstone */
        tind_ks_options *ko = tind_ks_options_new();
        tind_ks_options_set_memtable_size(ko, 1 << 20);
        tind_ks_options_set_table_size(ko, 1024);
        tind_ks_options_set_blob_separation(ko, 1, 64);
        tind_ks_options_set_blob_file_size(ko, 1 << 20);
        tind_ks_options_set_blob_compression(ko, TIND_COMPRESSION_NONE, 0);
        tind_ks_options_set_blob_gc(ko, 2.0, 0); /* never collect: the garbage stays counted */
        tind_keyspace *ks = NULL;
        CHECK_OK(tind_keyspace_open(db, "r", ko, &ks));
        uint8_t v[2048];
        char k[32];
        for (int half = 0; half < 2; half++) { /* two overlapping tables */
            for (int i = half; i < KEYS; i += 2) {
                int kn = key_of(k, i);
                size_t vn = value_of(v, i, 0);
                CHECK_OK(tind_put(ks, k, (size_t)kn, v, vn));
            }
            CHECK_OK(tind_flush(ks));
        }
        CHECK_OK(tind_compact(ks)); /* merged into small tables */
        tind_ks_stats st;
        CHECK_OK(tind_ks_stats_get(ks, &st));
        CHECK_EQ(st.blob_files, 2);
        CHECK_EQ(st.blob_garbage_bytes, 0);
        CHECK(st.blob_bytes > live_record_bytes(0, 0));
        uint64_t overhead = st.blob_bytes - live_record_bytes(0, 0); /* the file's metadata */
        uint64_t tables = 0;
        for (int l = 0; l < TIND_STATS_MAX_LEVELS; l++)
            tables += st.tables[l];
        CHECK(tables >= 3);
        int lo = 30, hi = 110;
        char a[32], b[32];
        int an = key_of(a, lo), bn = key_of(b, hi);
        CHECK_OK(tind_remove_range(ks, a, (size_t)an, b, (size_t)bn));
        check_deleted(ks, lo, hi); /* tombstone in the memtable over pointers in tables */
        CHECK_OK(tind_flush(ks));
        check_deleted(ks, lo, hi); /* tombstone in a table */
        CHECK_OK(tind_compact(ks));
        check_deleted(ks, lo, hi);
        CHECK_OK(tind_ks_stats_get(ks, &st));
        CHECK_EQ(st.blob_files, 2);
        /* every dropped pointer's record counted, the wholly covered
         * table's too */
        CHECK_EQ(st.blob_bytes - st.blob_garbage_bytes - overhead, live_record_bytes(lo, hi));
        CHECK_OK(tind_close(db));
        tind_ks_options_free(ko);
        /* and so it stays across a reopen */
        o = tind_options_new();
        tind_options_set_fs(o, f);
        tind_options_set_no_background(o, 1);
        CHECK_OK(tind_open("/db", o, &db));
        tind_options_free(o);
        CHECK_OK(tind_keyspace_open(db, "r", NULL, &ks));
        check_deleted(ks, lo, hi);
        CHECK_OK(tind_ks_stats_get(ks, &st));
        CHECK_EQ(st.blob_bytes - st.blob_garbage_bytes - overhead, live_record_bytes(lo, hi));
        CHECK_OK(tind_close(db));
        fs_destroy(f);
    }
}

/* ============================================================ encryption */

static const uint8_t KEY[32] = {0x62, 0x6c, 0x6f, 0x62, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28};

static tind_db *open_crypt(const char *path)
{
    tind_options *o = tind_options_new();
    tind_options_set_no_background(o, 1);
    CHECK_OK(tind_options_set_encryption_key(o, KEY, 32));
    tind_db *db = NULL;
    CHECK_OK(tind_open(path, o, &db));
    tind_options_free(o);
    return db;
}

/* A value of key i: "PLAINVALUE" repeated to 100..1000 bytes. */
static size_t plain_value(char *buf, int i)
{
    size_t n = 100 + (size_t)(i * 53 % 900);
    for (size_t j = 0; j < n; j++)
        buf[j] = "PLAINVALUE"[(j + (size_t)i) % 10];
    return n;
}

static void check_plain(tind_keyspace *ks)
{
    char k[32], want[1024];
    for (int i = 0; i < KEYS; i++) {
        int kn = snprintf(k, sizeof k, "SECRETKEY%05d", i);
        size_t wn = plain_value(want, i);
        void *v = NULL;
        size_t vn = 0;
        CHECK_OK(tind_get(ks, k, (size_t)kn, NULL, &v, &vn));
        CHECK_MEM(v, vn, want, wn);
        tind_free(v);
    }
}

TEST(crypt_blobs)
{
    char *dir = check_tmpdir("iblob-crypt");
    char path[1024];
    snprintf(path, sizeof path, "%s/db", dir);
    tind_db *db = open_crypt(path);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_blob_separation(ko, 1, 64);
    tind_ks_options_set_blob_file_size(ko, 16 << 10);
    tind_ks_options_set_blob_compression(ko, TIND_COMPRESSION_NONE, 0); /* the values as they are */
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, "c", ko, &ks));
    char k[32], v[1024];
    for (int i = 0; i < KEYS; i++) {
        int kn = snprintf(k, sizeof k, "SECRETKEY%05d", i);
        size_t vn = plain_value(v, i);
        CHECK_OK(tind_put(ks, k, (size_t)kn, v, vn));
    }
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_compact(ks));
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK(st.blob_files >= 2);
    check_plain(ks);
    CHECK_OK(tind_close(db));
    static const char *const needles[] = {"SECRETKEY", "PLAINVALUE", "VALUEPLAIN"};
    CHECK(check_no_plaintext(path, needles, 3) >= 4);
    char tables[1100];
    snprintf(tables, sizeof tables, "%s/tables", path);
    fs *px = fs_posix_new();
    CHECK(count_blob_files(px, tables) >= 2);
    fs_destroy(px);
    db = open_crypt(path);
    CHECK_OK(tind_keyspace_open(db, "c", ko, &ks));
    tind_ks_options_free(ko);
    uint64_t before = 0;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    before = st.blob_reads;
    check_plain(ks); /* the values come from the blob files, decrypted */
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK(st.blob_reads >= before + KEYS);
    CHECK_OK(tind_close(db));
    /* without the key the blob files are not readable either */
    tind_options *o = tind_options_new();
    tind_options_set_no_background(o, 1);
    CHECK_RC(tind_open(path, o, &db), TIND_EINVAL);
    tind_options_free(o);
    check_rmtree(dir);
    free(dir);
}

/* ============================================================ bulk ingestion */

typedef struct ingest_src {
    int i;
    char k[32];
    uint8_t v[2048];
} ingest_src;

static int ingest_next(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    ingest_src *s = ctx;
    if (s->i >= KEYS)
        return 0;
    *klen = (size_t)key_of(s->k, s->i);
    *vlen = value_of(s->v, s->i, 1);
    *key = s->k;
    *val = s->v;
    s->i++;
    return 1;
}

TEST(ingest_blobs)
{
    fs *f = fs_mem_new();
    tind_db *db = open_db(f, "/db");
    tind_keyspace *ks = blob_ks(db);
    put_all(ks, 0);
    CHECK_OK(tind_flush(ks)); /* round 0's large values in blob files */
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    uint64_t files0 = st.blob_files, bytes0 = st.blob_bytes;
    CHECK(files0 >= 1);
    ingest_src src = {0};
    uint64_t count = 0;
    CHECK_OK(tind_ingest(ks, ingest_next, &src, TIND_INGEST_SORTED, 0, NULL, NULL, &count));
    CHECK_EQ(count, KEYS);
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK_EQ(st.blob_files, files0); /* round 1 stayed inline: no new blob file */
    CHECK_EQ(st.blob_bytes, bytes0);
    check_all(ks, 1, NULL);
    CHECK_OK(tind_compact(ks)); /* compaction separates them and drops round 0's */
    check_all(ks, 1, NULL);
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK(st.blob_files >= 1);
    CHECK_OK(tind_close(db));
    db = open_db(f, "/db");
    CHECK_OK(tind_keyspace_open(db, "blobs", NULL, &ks));
    check_all(ks, 1, NULL);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

int main(void)
{
    check_seed_init(31);
    RUN(txn_reads_blobs);
    RUN(checkpoint_blobs);
    RUN(backup_blobs);
    RUN(merge_over_blobs);
    RUN(changes_blobs);
    RUN(rangedel_blobs);
    RUN(crypt_blobs);
    RUN(ingest_blobs);
    fprintf(stderr, "test_interop_blob: ok\n");
    return 0;
}
