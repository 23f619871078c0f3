/*
 * test_interop.c -- features that meet: each test shows two features of
 * different branches working together (or refused clearly).
 *
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
 *
 * TSAN-LABEL: crypt_changes_live runs a writer thread beside the feed and
 * background work.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "tind_internal.h"

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
    int files = 0;
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        CHECK(stat(path, &st) == 0);
        if (S_ISDIR(st.st_mode)) {
            files += grep_tree(path);
            continue;
        }
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        char *data = malloc((size_t)st.st_size + 1);
        CHECK(data != NULL);
        size_t len = fread(data, 1, (size_t)st.st_size, f);
        fclose(f);
        for (size_t k = 0; k < sizeof needles / sizeof *needles; k++) {
            size_t m = strlen(needles[k]);
            for (size_t i = 0; i + m <= len; i++)
                if (!memcmp(data + i, needles[k], m))
                    check_fail(__FILE__, __LINE__, "'%s' holds plaintext '%s' at offset %zu", path, needles[k], i);
        }
        free(data);
        files++;
    }
    closedir(d);
    return files;
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
    check_seed = check_seed_init(1);
    RUN(crypt_checkpoint);
    RUN(crypt_backup);
    RUN(crypt_changes_live);
    RUN(crypt_prefix_dict);
    return 0;
}
