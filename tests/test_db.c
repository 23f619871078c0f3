/*
 * test_db.c -- the engine through its public API: keyspaces, writes, reads,
 * cursors, batches, snapshots, limits, persistence across reopen, the folder
 * lock (same process and another process), the format version, recovery after
 * a simulated power loss, poisoning after a failed journal write or sync,
 * statistics, and the journal compression threshold's contract.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"
#include "journal/journal.h"
#include "util/coding.h"
#include "util/hash.h"

static uint64_t journal_file_size = 64u << 20;

static tind_db *open_mem(fs *mem, int background)
{
    tind_options *o = tind_options_new();
    tind_options_set_journal_file_size(o, journal_file_size);
    tind_options_set_fs(o, mem);
    tind_options_set_no_background(o, !background);
    tind_db *db;
    int rc = tind_open("/db", o, &db);
    if (rc)
        fprintf(stderr, "open: %s\n", tind_errmsg(NULL));
    CHECK_OK(rc);
    tind_options_free(o);
    return db;
}

static tind_keyspace *small_ks(tind_db *db, const char *name)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 8192);
    tind_ks_options_set_table_size(ko, 8192);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_block_size(ko, 1024);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, name, ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

static void expect(tind_keyspace *ks, const char *key, const char *val)
{
    void *v = NULL;
    size_t n = 0;
    int rc = tind_get(ks, key, strlen(key), NULL, &v, &n);
    if (val) {
        CHECK_OK(rc);
        CHECK_MEM(v, n, val, strlen(val));
    } else {
        CHECK_RC(rc, TIND_NOT_FOUND);
    }
    free(v);
}

TEST(basic)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem, 1);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "items", NULL, &ks));
    tind_keyspace *again;
    CHECK_OK(tind_keyspace_open(db, "items", NULL, &again));
    CHECK(again == ks);
    CHECK(strcmp(tind_keyspace_name(ks), "items") == 0);
    CHECK_OK(tind_put(ks, "a", 1, "1", 1));
    CHECK_OK(tind_put(ks, "b", 1, "", 0));
    expect(ks, "a", "1");
    expect(ks, "b", "");
    expect(ks, "c", NULL);
    CHECK_OK(tind_contains(ks, "a", 1, NULL));
    CHECK_RC(tind_contains(ks, "zz", 2, NULL), TIND_NOT_FOUND);
    uint64_t sz;
    CHECK_OK(tind_value_size(ks, "a", 1, NULL, &sz));
    CHECK_EQ(sz, 1);
    CHECK_OK(tind_remove(ks, "a", 1));
    expect(ks, "a", NULL);
    CHECK_OK(tind_remove(ks, "never", 5));

    /* limits */
    CHECK_RC(tind_put(ks, "", 0, "x", 1), TIND_EINVAL);
    CHECK_RC(tind_put(ks, NULL, 3, "x", 1), TIND_EINVAL);
    static uint8_t big[70000];
    CHECK_RC(tind_put(ks, big, 65536, "x", 1), TIND_ETOOBIG);
    CHECK(strstr(tind_errmsg(db), "65535") != NULL);
    memset(big, 'k', sizeof big);
    CHECK_OK(tind_put(ks, big, 65535, "max", 3));
    void *v;
    size_t n;
    CHECK_OK(tind_get(ks, big, 65535, NULL, &v, &n));
    CHECK_MEM(v, n, "max", 3);
    free(v);
    CHECK_RC(tind_keyspace_open(db, "", NULL, &ks), TIND_EINVAL);
    CHECK_RC(tind_keyspace_open(db, "\xff\xfe", NULL, &again), TIND_EINVAL);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(keyspaces)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem, 1);
    tind_keyspace *a, *b, *c;
    CHECK_OK(tind_keyspace_open(db, "zeta", NULL, &a));
    CHECK_OK(tind_keyspace_open(db, "alpha \xe2\x9c\x93", NULL, &b));
    CHECK_OK(tind_keyspace_open(db, "mid", NULL, &c));
    CHECK_OK(tind_put(a, "k", 1, "in zeta", 7));
    CHECK_OK(tind_put(b, "k", 1, "in alpha", 8));
    expect(a, "k", "in zeta");
    expect(b, "k", "in alpha");
    expect(c, "k", NULL);
    char **names;
    size_t count;
    CHECK_OK(tind_keyspace_list(db, &names, &count));
    CHECK_EQ(count, 3);
    CHECK(strcmp(names[0], "alpha \xe2\x9c\x93") == 0);
    CHECK(strcmp(names[2], "zeta") == 0);
    tind_free(names);
    CHECK_OK(tind_keyspace_delete(db, "zeta"));
    CHECK_RC(tind_keyspace_exists(db, "zeta"), TIND_NOT_FOUND);
    CHECK_RC(tind_put(a, "k", 1, "x", 1), TIND_ENOENT);
    CHECK_RC(tind_keyspace_delete(db, "zeta"), TIND_NOT_FOUND);
    CHECK_OK(tind_close(db));
    /* after reopen: the deleted keyspace stays gone, the others keep data */
    db = open_mem(mem, 1);
    CHECK_RC(tind_keyspace_exists(db, "zeta"), TIND_NOT_FOUND);
    CHECK_OK(tind_keyspace_exists(db, "mid"));
    CHECK_OK(tind_keyspace_open(db, "alpha \xe2\x9c\x93", NULL, &b));
    expect(b, "k", "in alpha");
    CHECK_OK(tind_keyspace_open(db, "zeta", NULL, &a));
    expect(a, "k", NULL);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(batch_snapshot_iter)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem, 1);
    tind_keyspace *users = small_ks(db, "users"), *posts = small_ks(db, "posts");
    tind_batch *b;
    CHECK_OK(tind_batch_new(db, &b));
    char key[32], val[64];
    for (int u = 0; u < 50; u++)
        for (int p = 0; p < 20; p++) {
            int kn = snprintf(key, sizeof key, "u%03d#p%03d", u, p);
            int vn = snprintf(val, sizeof val, "post %d of user %d", p, u);
            CHECK_OK(tind_batch_put(b, posts, key, (size_t)kn, val, (size_t)vn));
            if (p == 0) {
                kn = snprintf(key, sizeof key, "u%03d", u);
                CHECK_OK(tind_batch_put(b, users, key, (size_t)kn, "profile", 7));
            }
        }
    CHECK_EQ(tind_batch_count(b), 1050);
    CHECK_OK(tind_batch_commit(b));
    CHECK_EQ(tind_batch_count(b), 0);
    tind_snapshot *snap;
    CHECK_OK(tind_snapshot_new(db, &snap));
    /* overwrite and delete after the snapshot */
    CHECK_OK(tind_batch_remove(b, posts, "u007#p005", 9));
    CHECK_OK(tind_batch_put(b, users, "u007", 4, "changed", 7));
    CHECK_OK(tind_batch_commit(b));
    tind_batch_free(b);
    CHECK_OK(tind_flush(posts));
    CHECK_OK(tind_compact(posts));
    expect(users, "u007", "changed");
    expect(posts, "u007#p005", NULL);
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_snapshot(ro, snap);
    void *v;
    size_t n;
    CHECK_OK(tind_get(users, "u007", 4, ro, &v, &n));
    CHECK_MEM(v, n, "profile", 7);
    free(v);
    CHECK_OK(tind_get(posts, "u007#p005", 9, ro, &v, &n));
    free(v);

    /* reverse prefix scan: the latest posts of user 7 */
    tind_iter *it;
    CHECK_OK(tind_iter_prefix(posts, "u007#p", 6, NULL, &it));
    int seen = 0, expect_p = 19;
    for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it)) {
        size_t kn;
        const char *k = tind_iter_key(it, &kn);
        if (expect_p == 5)
            expect_p--;
        snprintf(key, sizeof key, "u007#p%03d", expect_p--);
        CHECK_MEM(k, kn, key, strlen(key));
        seen++;
    }
    CHECK_OK(tind_iter_status(it));
    CHECK_EQ(seen, 19);
    tind_iter_free(it);
    /* the same at the snapshot sees all 20 */
    CHECK_OK(tind_iter_prefix(posts, "u007#", 5, ro, &it));
    seen = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
        seen++;
    CHECK_EQ(seen, 20);
    tind_iter_seek(it, "u007#p010", 9);
    CHECK(tind_iter_valid(it));
    tind_iter_seek_for_prev(it, "u007#p010x", 10);
    size_t kn;
    const char *k = tind_iter_key(it, &kn);
    CHECK_MEM(k, kn, "u007#p010", 9);
    tind_iter_free(it);
    /* range [u010, u012) over users */
    CHECK_OK(tind_iter_range(users, "u010", 4, "u012", 4, NULL, &it));
    seen = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
        seen++;
    CHECK_EQ(seen, 2);
    tind_iter_free(it);
    void *fk, *fv;
    size_t fkn, fvn;
    CHECK_OK(tind_first(users, NULL, &fk, &fkn, &fv, &fvn));
    CHECK_MEM(fk, fkn, "u000", 4);
    free(fk);
    free(fv);
    CHECK_OK(tind_last(posts, NULL, &fk, &fkn, NULL, NULL));
    CHECK_MEM(fk, fkn, "u049#p019", 9);
    free(fk);
    uint64_t len;
    CHECK_OK(tind_approximate_len(posts, &len));
    CHECK(len >= 999);
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(posts, &st));
    CHECK(st.flushes >= 1);
    CHECK(st.disk_bytes > 0);
    tind_read_options_free(ro);
    tind_snapshot_free(snap);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(reopen_posix)
{
    char *dir = check_tmpdir("db");
    char path[4200];
    snprintf(path, sizeof path, "%s/data", dir);
    tind_db *db;
    CHECK_OK(tind_open(path, NULL, &db));
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "items", NULL, &ks));
    char key[32];
    for (int i = 0; i < 5000; i++) {
        int kn = snprintf(key, sizeof key, "key%06d", i);
        CHECK_OK(tind_put(ks, key, (size_t)kn, key, (size_t)kn));
    }
    CHECK_OK(tind_flush(ks));
    for (int i = 5000; i < 6000; i++) {
        int kn = snprintf(key, sizeof key, "key%06d", i);
        CHECK_OK(tind_put(ks, key, (size_t)kn, key, (size_t)kn));
    }
    /* a second open of the same folder fails: same process ... */
    tind_db *db2;
    CHECK_RC(tind_open(path, NULL, &db2), TIND_EBUSY);
    CHECK(strstr(tind_errmsg(NULL), "already open") != NULL);
    /* ... and another process */
    pid_t pid = fork();
    if (pid == 0) {
        tind_db *d;
        _exit(tind_open(path, NULL, &d) == TIND_EBUSY ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_OK(tind_close(db));
    CHECK_OK(tind_open(path, NULL, &db));
    CHECK_OK(tind_keyspace_open(db, "items", NULL, &ks));
    for (int i = 0; i < 6000; i += 7) {
        snprintf(key, sizeof key, "key%06d", i);
        expect(ks, key, key);
    }
    CHECK_OK(tind_close(db));

    /* a newer format is refused with a clear status */
    char fmt[4300];
    snprintf(fmt, sizeof fmt, "%s/FORMAT", path);
    FILE *f = fopen(fmt, "r+b");
    uint8_t b[20];
    CHECK(fread(b, 1, 20, f) == 20);
    enc_u32(b + 8, 99);
    enc_u64(b + 12, hash64(b, 12));
    fseek(f, 0, SEEK_SET);
    fwrite(b, 1, 20, f);
    fclose(f);
    CHECK_RC(tind_open(path, NULL, &db), TIND_EVERSION);
    CHECK(strstr(tind_errmsg(NULL), "newer") != NULL);
    /* and a damaged one as corruption */
    b[0] ^= 1;
    f = fopen(fmt, "wb");
    fwrite(b, 1, 20, f);
    fclose(f);
    CHECK_RC(tind_open(path, NULL, &db), TIND_ECORRUPT);
    tind_options *o = tind_options_new();
    tind_options_set_create_if_missing(o, 0);
    snprintf(path, sizeof path, "%s/missing", dir);
    CHECK_RC(tind_open(path, o, &db), TIND_ENOENT);
    tind_options_free(o);
    check_rmtree(dir);
    free(dir);
}

TEST(crash_recovery)
{
    /* every batch persisted with SYNC_* survives a power loss; nothing is half applied */
    for (int round = 0; round < 20; round++) {
        fs *mem = fs_mem_new();
        tind_db *db = open_mem(mem, 0);
        tind_keyspace *a = small_ks(db, "a"), *b2 = small_ks(db, "b");
        char key[32];
        int synced = -1;
        for (int i = 0; i < 300; i++) {
            tind_batch *b;
            CHECK_OK(tind_batch_new(db, &b));
            int kn = snprintf(key, sizeof key, "k%05d", i);
            CHECK_OK(tind_batch_put(b, a, key, (size_t)kn, key, (size_t)kn));
            CHECK_OK(tind_batch_put(b, b2, key, (size_t)kn, key, (size_t)kn));
            if (i % 37 == round % 37) {
                tind_batch_set_durability(b, TIND_PERSIST_SYNC_ALL);
                synced = i;
            }
            CHECK_OK(tind_batch_commit(b));
            tind_batch_free(b);
            if (i % 50 == 0)
                db_background_step(db, NULL);
        }
        int modes = FS_CRASH_DROP_UNSYNCED | (round & 1 ? FS_CRASH_DROP_DIRENTS : 0);
        if (round % 3 == 1)
            modes = FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR;
        CHECK_OK(fs_mem_crash(mem, modes, (uint64_t)round));
        tind_close(db);
        db = open_mem(mem, 0);
        a = small_ks(db, "a");
        b2 = small_ks(db, "b");
        int last = -1;
        for (int i = 0; i < 300; i++) {
            int kn = snprintf(key, sizeof key, "k%05d", i);
            int ra = tind_contains(a, key, (size_t)kn, NULL), rb = tind_contains(b2, key, (size_t)kn, NULL);
            CHECK_RC(ra, rb); /* both halves of the batch, or neither */
            if (ra == TIND_OK) {
                CHECK_EQ(last, i - 1); /* a prefix: no holes */
                last = i;
            }
        }
        if (last < synced)
            fprintf(stderr, "round %d modes %d: recovered through %d, synced %d\n", round, modes, last, synced);
        CHECK(last >= synced);
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
}

TEST(crash_sealed_journals)
{
    /* many small memtables: each seal starts a journal, and sealing does
     * not sync (journal format 4), so a power loss tears sealed journals
     * too. Two lives a round, each ending in a power loss: what recovers is
     * a prefix of the batches (no holes, both halves of each batch or
     * neither) that holds every batch synced */
    for (int round = 0; round < 24; round++) {
        fs *mem = fs_mem_new();
        int next = 0, prefix = -1;
        for (int life = 0; life < 2; life++) {
            tind_db *db = open_mem(mem, 0);
            tind_keyspace *a = small_ks(db, "a"), *b2 = small_ks(db, "b");
            char key[32], val[200];
            int synced = prefix;
            memset(val, 'v', sizeof val);
            for (int i = next; i < next + 250; i++) {
                tind_batch *b;
                CHECK_OK(tind_batch_new(db, &b));
                int kn = snprintf(key, sizeof key, "k%05d", i);
                size_t vn = (size_t)(i * 7 % (int)sizeof val);
                CHECK_OK(tind_batch_put(b, a, key, (size_t)kn, val, vn));
                if (i % 3)
                    CHECK_OK(tind_batch_put(b, b2, key, (size_t)kn, val, vn));
                if (i % 61 == round % 61) {
                    tind_batch_set_durability(b, TIND_PERSIST_SYNC_DATA);
                    synced = i;
                }
                CHECK_OK(tind_batch_commit(b));
                tind_batch_free(b);
                if (i % (20 + round) == 0)
                    db_background_step(db, NULL);
            }
            next += 250;
            static const int modes_by_round[4] = {
                FS_CRASH_DROP_UNSYNCED, FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR,
                FS_CRASH_KEEP_PREFIX | FS_CRASH_DROP_DIRENTS,
                FS_CRASH_DROP_UNSYNCED | FS_CRASH_TEAR_SECTOR | FS_CRASH_DROP_DIRENTS};
            CHECK_OK(fs_mem_crash(mem, modes_by_round[(round + life) % 4], (uint64_t)(round * 2 + life)));
            tind_close(db);
            db = open_mem(mem, 0);
            a = small_ks(db, "a");
            b2 = small_ks(db, "b");
            int last = -1;
            for (int i = 0; i < next; i++) {
                int kn = snprintf(key, sizeof key, "k%05d", i);
                int ra = tind_contains(a, key, (size_t)kn, NULL);
                if (i % 3)
                    CHECK_RC(tind_contains(b2, key, (size_t)kn, NULL), ra); /* the batch whole or not at all */
                if (ra == TIND_OK) {
                    CHECK_EQ(last, i - 1); /* a prefix: no holes */
                    last = i;
                }
            }
            if (last < synced)
                fprintf(stderr, "round %d life %d: recovered through %d, synced %d\n", round, life, last, synced);
            CHECK(last >= synced);
            CHECK(last >= prefix); /* what one recovery gave is durable */
            CHECK_OK(tind_close(db));
            prefix = last;
            next = last + 1;
        }
        fs_destroy(mem);
    }
}

TEST(format_file_checked)
{
    /* FORMAT: a newer version with a valid checksum is TIND_EVERSION, a
     * damaged file TIND_ECORRUPT; both name the file; nothing is changed */
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem, 0);
    CHECK_OK(tind_close(db));
    uint8_t *good = NULL;
    size_t n = 0;
    CHECK_OK(fs_read_all(mem, "/db/FORMAT", &good, &n, NULL));
    CHECK_EQ(n, 20);
    CHECK_EQ(dec_u32(good + 8), DB_FORMAT_VERSION);
    uint8_t b[20];
    for (int damaged = 0; damaged < 2; damaged++) {
        memcpy(b, good, sizeof b);
        if (damaged) {
            b[3] ^= 1;
        } else {
            enc_u32(b + 8, DB_FORMAT_VERSION + 1);
            enc_u64(b + 12, hash64(b, 12));
        }
        CHECK_OK(fs_write_atomic(mem, "/db", "FORMAT", b, sizeof b, NULL));
        tind_options *o = tind_options_new();
        tind_options_set_fs(o, mem);
        tind_options_set_no_background(o, 1);
        CHECK_RC(tind_open("/db", o, &db), damaged ? TIND_ECORRUPT : TIND_EVERSION);
        tind_options_free(o);
        const char *msg = tind_errmsg(NULL);
        CHECK(strstr(msg, "/db/FORMAT") != NULL);
        CHECK(strstr(msg, damaged ? "damaged" : "newer than this library supports") != NULL);
        uint8_t *now = NULL;
        size_t nn = 0;
        CHECK_OK(fs_read_all(mem, "/db/FORMAT", &now, &nn, NULL));
        CHECK_MEM(now, nn, b, sizeof b); /* left as it was */
        free(now);
    }
    CHECK_OK(fs_write_atomic(mem, "/db", "FORMAT", good, n, NULL));
    db = open_mem(mem, 0);
    CHECK_OK(tind_close(db));
    free(good);
    fs_destroy(mem);
}

TEST(keyspace_ddl_syncs_journal)
{
    /* creating or deleting a keyspace is durable when it returns, and so is
     * everything written before it: a power loss never keeps the change and
     * loses earlier writes */
    for (int del = 0; del < 2; del++) {
        fs *mem = fs_mem_new();
        tind_db *db = open_mem(mem, 0);
        tind_keyspace *a = small_ks(db, "a");
        if (del)
            small_ks(db, "c");
        CHECK_OK(tind_put(a, "before", 6, "v", 1));
        if (del)
            CHECK_OK(tind_keyspace_delete(db, "c"));
        else
            small_ks(db, "c");
        CHECK_OK(tind_put(a, "after", 5, "v", 1));
        CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, 7));
        tind_close(db);
        db = open_mem(mem, 0);
        CHECK_RC(tind_keyspace_exists(db, "c"), del ? TIND_NOT_FOUND : TIND_OK);
        a = small_ks(db, "a");
        CHECK_OK(tind_contains(a, "before", 6, NULL));
        CHECK_RC(tind_contains(a, "after", 5, NULL), TIND_NOT_FOUND);
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
}

TEST(poison)
{
    /* a failed journal write, then a failed sync: poisoned until reopen;
     * reopening recovers everything acknowledged before */
    for (int kind = 0; kind < 2; kind++) {
        fs *mem = fs_mem_new();
        fs *ff = fs_fault_new(mem, 0);
        tind_db *db = open_mem(ff, 0);
        tind_keyspace *ks = small_ks(db, "ks");
        for (int i = 0; i < 100; i++) {
            char key[16];
            int kn = snprintf(key, sizeof key, "k%03d", i);
            CHECK_OK(tind_put(ks, key, (size_t)kn, "v", 1));
        }
        CHECK_OK(tind_persist(db, TIND_PERSIST_SYNC_DATA));
        if (kind == 0) {
            fs_fault_arm(ff, FS_CALL_WRITE, 1, FS_FAULT_ERRNO, 5 /* EIO */, 0, ".jrn");
            CHECK_RC(tind_put(ks, "x", 1, "y", 1), TIND_EIO);
        } else {
            CHECK_OK(tind_put(ks, "x", 1, "y", 1));
            fs_fault_arm(ff, FS_CALL_SYNC, 1, FS_FAULT_ERRNO, 5, 0, ".jrn");
            CHECK_RC(tind_persist(db, TIND_PERSIST_SYNC_DATA), TIND_EIO);
        }
        CHECK_RC(tind_put(ks, "z", 1, "y", 1), TIND_EPOISONED);
        CHECK(strstr(tind_errmsg(db), "poisoned") != NULL);
        CHECK_RC(tind_persist(db, TIND_PERSIST_SYNC_DATA), TIND_EPOISONED);
        expect(ks, "k050", "v"); /* reads still work */
        fs_fault_disarm(ff);
        tind_close(db);
        db = open_mem(ff, 0);
        ks = small_ks(db, "ks");
        for (int i = 0; i < 100; i++) {
            char key[16];
            snprintf(key, sizeof key, "k%03d", i);
            expect(ks, key, "v");
        }
        CHECK_OK(tind_put(ks, "after", 5, "ok", 2));
        CHECK_OK(tind_close(db));
        fs_destroy(ff);
        fs_destroy(mem);
    }
}


/* Fails each journal and version-file write and fsync in turn (the Nth call
 * of the kind on that file kind, for N = 1, 2, ... until the workload runs
 * clean): the failing call (or a later one) reports it, the database is
 * poisoned where it must be, and a reopen recovers every batch acknowledged
 * as synced before the failure, with no batch half applied. */
TEST(faults_in_turn)
{
    struct { int kind; const char *filter; int poisons; } cases[] = {
        {FS_CALL_WRITE, ".jrn", 1}, {FS_CALL_SYNC, ".jrn", 1}, {FS_CALL_OPEN, ".jrn", 1},
        {FS_CALL_WRITE, "VERSIONS", 1}, {FS_CALL_SYNC, "VERSIONS", 1}, {FS_CALL_RENAME, "VERSIONS", 1},
        {FS_CALL_SYNC_DIR, "/db/journals", 1},
        /* a failed table write is reported and retried later: no poison */
        {FS_CALL_WRITE, ".tbl", 0}, {FS_CALL_SYNC, ".tbl", 0}, {FS_CALL_SYNC_DIR, "/db/tables", 0},
    };
    int injected = 0;
    journal_file_size = 4096; /* rotations happen in the workload too */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (uint64_t nth = 1;; nth++) {
            fs *mem = fs_mem_new();
            fs *ff = fs_fault_new(mem, 0);
            tind_db *db = open_mem(ff, 0);
            tind_keyspace *a = small_ks(db, "a"), *b2 = small_ks(db, "b");
            fs_fault_reset_counts(ff);
            fs_fault_arm(ff, cases[c].kind, nth, FS_FAULT_ERRNO, 5 /* EIO */, 0, cases[c].filter);
            int synced = -1, failed_at = -1, poisoned = 0;
            char key[32];
            for (int i = 0; i < 120 && failed_at < 0; i++) {
                tind_batch *b;
                CHECK_OK(tind_batch_new(db, &b));
                int kn = snprintf(key, sizeof key, "k%05d", i);
                CHECK_OK(tind_batch_put(b, a, key, (size_t)kn, key, (size_t)kn));
                CHECK_OK(tind_batch_put(b, b2, key, (size_t)kn, key, (size_t)kn));
                if (i % 10 == 9)
                    tind_batch_set_durability(b, TIND_PERSIST_SYNC_DATA);
                int rc = tind_batch_commit(b);
                tind_batch_free(b);
                if (rc == TIND_OK && i % 10 == 9)
                    synced = i;
                if (rc == TIND_OK && i % 25 == 24)
                    rc = tind_flush(i % 50 == 24 ? a : b2);
                if (rc == TIND_OK && i % 40 == 39)
                    rc = tind_compact(a);
                if (rc != TIND_OK) {
                    failed_at = i;
                    poisoned = tind_put(a, "p", 1, "q", 1) == TIND_EPOISONED;
                }
            }
            int hit = fs_fault_injected(ff) > 0;
            fs_fault_disarm(ff);
            if (!hit) {
                tind_close(db);
                fs_destroy(ff);
                fs_destroy(mem);
                CHECK(nth > 1); /* the workload must reach each kind at least once */
                break;
            }
            injected++;
            /* the failure surfaced, and journal / version failures poison */
            if (failed_at < 0 || poisoned != cases[c].poisons)
                fprintf(stderr, "case %zu nth %llu: failed_at %d poisoned %d: %s\n", c, (unsigned long long)nth,
                        failed_at, poisoned, tind_errmsg(db));
            CHECK(failed_at >= 0);
            CHECK_EQ(poisoned, cases[c].poisons);
            tind_close(db);
            db = open_mem(ff, 0);
            a = small_ks(db, "a");
            b2 = small_ks(db, "b");
            int last = -1;
            for (int i = 0; i < 120; i++) {
                int kn = snprintf(key, sizeof key, "k%05d", i);
                int ra = tind_contains(a, key, (size_t)kn, NULL), rb = tind_contains(b2, key, (size_t)kn, NULL);
                CHECK_RC(ra, rb);
                if (ra == TIND_OK) {
                    CHECK_EQ(last, i - 1);
                    last = i;
                }
            }
            CHECK(last >= synced);
            CHECK_OK(tind_put(a, "after", 5, "ok", 2));
            CHECK_OK(tind_close(db));
            fs_destroy(ff);
            fs_destroy(mem);
        }
    }
    journal_file_size = 64u << 20;
    fprintf(stderr, "    %d faults injected\n", injected);
    CHECK(injected > 20);
}

/* Bytes of the journal files in /db/journals after writing `batch` values of vlen
 * compressible bytes in one batch (or one put when batch == 1), with the
 * journal compression threshold t. */
static uint64_t journal_bytes_after(uint32_t t, int batch, size_t vlen)
{
    fs *mem = fs_mem_new();
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, mem);
    tind_options_set_no_background(o, 1);
    tind_options_set_journal_compression_threshold(o, t);
    tind_db *db;
    CHECK_OK(tind_open("/db", o, &db));
    tind_options_free(o);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &ks));
    char *val = malloc(vlen);
    CHECK(val != NULL);
    for (size_t i = 0; i < vlen; i++)
        val[i] = (char)('a' + (i / 7) % 5);
    tind_batch *b;
    CHECK_OK(tind_batch_new(db, &b));
    for (int i = 0; i < batch; i++) {
        char key[16];
        int kn = snprintf(key, sizeof key, "k%05d", i);
        CHECK_OK(tind_batch_put(b, ks, key, (size_t)kn, val, vlen));
    }
    CHECK_OK(tind_batch_commit(b));
    tind_batch_free(b);
    free(val);
    /* count before a close could flush the memtable and drop the journal */
    CHECK_OK(tind_persist(db, TIND_PERSIST_SYNC_ALL));
    char **names;
    size_t n;
    CHECK_OK(fs_list(mem, "/db/journals", &names, &n, NULL));
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if (len > 4 && strcmp(names[i] + len - 4, ".jrn") == 0) {
            char path[64];
            snprintf(path, sizeof path, "/db/journals/%s", names[i]);
            uint8_t *d;
            size_t dn;
            CHECK_OK(fs_read_all(mem, path, &d, &dn, NULL));
            /* the records' bytes: the journal being written runs ahead in
             * preallocated zeros */
            jrn_replay_result res;
            CHECK_OK(jrn_replay_buffer(d, dn, NULL, NULL, &res, NULL));
            CHECK(dn - res.valid_bytes < ((uint64_t)1 << 20));
            total += res.valid_bytes;
            free(d);
        }
    }
    fs_list_free(names, n);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
    return total;
}

/* tind_options_set_journal_compression_threshold's contract: a write record
 * (one put, or one whole batch) of at least the threshold is LZ4-compressed
 * in the journal, a smaller one is not, and 0 compresses nothing. */
TEST(journal_compression_threshold)
{
    /* one 8 KiB value: compressed at 4096, not at 0 or 16384 */
    uint64_t big = journal_bytes_after(4096, 1, 8192), raw = journal_bytes_after(0, 1, 8192);
    CHECK(raw > 8192);
    CHECK(big + 4096 < raw);
    CHECK_EQ(journal_bytes_after(16384, 1, 8192), raw);
    /* 100 values of 100 bytes in one batch: the record (10 KB) is compressed */
    uint64_t many = journal_bytes_after(4096, 100, 100), many_raw = journal_bytes_after(0, 100, 100);
    CHECK(many_raw > 10000);
    CHECK(many + many_raw / 4 < many_raw);
    /* one 1000-byte value: below 4096, stored raw */
    CHECK_EQ(journal_bytes_after(4096, 1, 1000), journal_bytes_after(0, 1, 1000));
}

int main(void)
{
    check_seed_init(1);
    RUN(basic);
    RUN(keyspaces);
    RUN(batch_snapshot_iter);
    RUN(reopen_posix);
    RUN(crash_recovery);
    RUN(crash_sealed_journals);
    RUN(format_file_checked);
    RUN(keyspace_ddl_syncs_journal);
    RUN(poison);
    RUN(faults_in_turn);
    RUN(journal_compression_threshold);
    return 0;
}
