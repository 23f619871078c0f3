/*
 * test_rekey.c -- key rotation (tind_rekey, db/rekey.c).
 *
 *   round_trip   a database with tables, a blob file and journal records is
 *                re-keyed: the old key is refused after, the new one reads
 *                every key; every file's header names the new key; no key,
 *                value or keyspace name in any file (grep); a second call is
 *                a no-op; the refusals (open database, wrong key, same key,
 *                plaintext database) name the cause.
 *   interrupted  every rename, write and sync of a re-keying failed in turn
 *                (and a short write): the database opens with neither key
 *                ("re-keying was interrupted") unless the failure came
 *                before any change, and a second tind_rekey finishes it:
 *                every key read back with the new key.
 */
#include <string.h>

#include "check.h"
#include "format/filename.h"
#include "io/fs.h"
#include "io/fs_crypt.h"
#include "tind_internal.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t NEWKEY[32] = "fedcba9876543210fedcba9876543210";
static const uint8_t OTHER[32] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

#define NKEYS 400

static int open_key(fs *f, const char *path, const uint8_t *key, tind_db **db)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, f);
    tind_options_set_no_background(o, 1);
    tind_options_set_create_if_missing(o, 1);
    if (key)
        tind_options_set_encryption_key(o, key, 32);
    int rc = tind_open(path, o, db);
    tind_options_free(o);
    return rc;
}

static int rekey(fs *f, const char *path, const uint8_t *old, const uint8_t *nk)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, f);
    if (old)
        tind_options_set_encryption_key(o, old, 32);
    int rc = tind_rekey(path, o, nk, 32);
    tind_options_free(o);
    return rc;
}

static void kv(int i, char *k, char *v)
{
    snprintf(k, 32, "SECRETKEY-%05d", i);
    snprintf(v, 64, "PLAINVALUE-%05d-%s", i, i % 50 == 0 ? "" : "x");
}

/* NKEYS keys: most in tables (one with a blob), the last ones only in the journal. */
static void fill(fs *f, const char *path)
{
    tind_db *db = NULL;
    CHECK_OK(open_key(f, path, KEY, &db));
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_NONE, 0);
    tind_ks_options_set_blob_separation(ko, 1, 1000);
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, "customer-names", ko, &ks));
    char k[32], v[64];
    for (int i = 0; i < NKEYS; i++) {
        kv(i, k, v);
        CHECK_OK(tind_put(ks, k, strlen(k), v, strlen(v)));
        if (i == NKEYS / 2)
            CHECK_OK(tind_flush(ks));
    }
    char big[2000];
    memset(big, 'B', sizeof big);
    memcpy(big, "PLAINVALUE-blob", 15);
    CHECK_OK(tind_put(ks, "SECRETKEY-blob", 14, big, sizeof big));
    CHECK_OK(tind_flush(ks));
    for (int i = NKEYS; i < NKEYS + 20; i++) {
        kv(i, k, v);
        CHECK_OK(tind_put(ks, k, strlen(k), v, strlen(v)));
    }
    CHECK_OK(tind_persist(db, TIND_PERSIST_SYNC_ALL));
    CHECK_OK(tind_close(db));
    tind_ks_options_free(ko);
}

static void check_all(fs *f, const char *path, const uint8_t *key)
{
    tind_db *db = NULL;
    CHECK_OK(open_key(f, path, key, &db));
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, "customer-names", NULL, &ks));
    char k[32], v[64];
    for (int i = 0; i < NKEYS + 20; i++) {
        kv(i, k, v);
        void *got = NULL;
        size_t n = 0;
        CHECK_OK(tind_get(ks, k, strlen(k), NULL, &got, &n));
        CHECK_MEM(got, n, v, strlen(v));
        tind_free(got);
    }
    void *got = NULL;
    size_t n = 0;
    CHECK_OK(tind_get(ks, "SECRETKEY-blob", 14, NULL, &got, &n));
    CHECK_EQ(n, 2000);
    tind_free(got);
    CHECK_OK(tind_close(db));
}

/* Every encrypted file under dir names the key id `id`; returns how many. */
static int files_under(fs *f, const char *dir, const uint8_t *key)
{
    fs *c = fs_crypt_new(f, 0, key);
    uint8_t want[FS_CRYPT_KEY_ID];
    CHECK_OK(fs_crypt_key_id(key, want));
    int files = 0;
    const char *subs[] = {"", "/journals", "/tables"};
    for (int s = 0; s < 3; s++) {
        char d[512];
        snprintf(d, sizeof d, "%s%s", dir, subs[s]);
        char **names = NULL;
        size_t count = 0;
        CHECK_OK(fs_list(f, d, &names, &count, NULL));
        for (size_t i = 0; i < count; i++) {
            fname_kind kind = fname_parse(names[i], NULL);
            if (kind != FNAME_KIND_FORMAT && kind != FNAME_KIND_VERSIONS && kind != FNAME_KIND_JOURNAL &&
                kind != FNAME_KIND_TABLE && kind != FNAME_KIND_BLOB)
                continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", d, names[i]);
            uint8_t id[FS_CRYPT_KEY_ID];
            int rc = fs_crypt_file_key_id(c, p, id, NULL);
            if (rc == TIND_ENOENT)
                continue;
            CHECK_OK(rc);
            if (memcmp(id, want, sizeof id) != 0)
                check_fail(__FILE__, __LINE__, "'%s' is not under the expected key", p);
            files++;
        }
        fs_list_free(names, count);
    }
    fs_destroy(c);
    return files;
}

TEST(round_trip)
{
    char *dir = check_tmpdir("rekey");
    char path[1024];
    snprintf(path, sizeof path, "%s/db", dir);
    fill(NULL, path);
    fs *px = fs_posix_new();
    CHECK(files_under(px, path, KEY) >= 5);

    /* refusals */
    tind_db *db = NULL;
    CHECK_OK(open_key(NULL, path, KEY, &db));
    CHECK_RC(rekey(NULL, path, KEY, NEWKEY), TIND_EBUSY);
    CHECK(strstr(tind_errmsg(NULL), "is open") != NULL);
    CHECK_OK(tind_close(db));
    CHECK_RC(rekey(NULL, path, OTHER, NEWKEY), TIND_EINVAL);    /* neither is the database's key */
    CHECK(strstr(tind_errmsg(NULL), "wrong encryption key") != NULL);
    CHECK_OK(rekey(NULL, path, NEWKEY, KEY));    /* already under KEY: nothing to do */
    CHECK_RC(rekey(NULL, path, KEY, KEY), TIND_EINVAL);
    CHECK_RC(rekey(NULL, path, NULL, NEWKEY), TIND_EINVAL);
    CHECK_RC(tind_rekey(path, NULL, NEWKEY, 32), TIND_EINVAL);
    {
        tind_options *o = tind_options_new();
        tind_options_set_encryption_key(o, KEY, 32);
        CHECK_RC(tind_rekey(path, o, NEWKEY, 31), TIND_EINVAL);
        tind_options_free(o);
    }
    check_all(NULL, path, KEY);    /* nothing changed */

    CHECK_OK(rekey(NULL, path, KEY, NEWKEY));
    CHECK_RC(open_key(NULL, path, KEY, &db), TIND_EINVAL);
    CHECK(strstr(tind_errmsg(NULL), "wrong encryption key") != NULL);
    check_all(NULL, path, NEWKEY);
    CHECK(files_under(px, path, NEWKEY) >= 5);
    static const char *const needles[] = {"SECRETKEY", "PLAINVALUE", "customer-names"};
    CHECK(check_no_plaintext(path, needles, 3) >= 5);
    /* again: nothing left to do */
    CHECK_OK(rekey(NULL, path, KEY, NEWKEY));
    check_all(NULL, path, NEWKEY);
    /* and back to the first key */
    CHECK_OK(rekey(NULL, path, NEWKEY, KEY));
    check_all(NULL, path, KEY);
    CHECK(files_under(px, path, KEY) >= 5);

    /* a plaintext database */
    char plain[1100];
    snprintf(plain, sizeof plain, "%s/plain", dir);
    CHECK_OK(open_key(NULL, plain, NULL, &db));
    CHECK_OK(tind_close(db));
    CHECK_RC(rekey(NULL, plain, KEY, NEWKEY), TIND_EINVAL);
    CHECK(strstr(tind_errmsg(NULL), "not encrypted") != NULL);
    fs_destroy(px);
    check_rmtree(dir);
    free(dir);
}

/* A copy of every file of mem under /db (to start each round alike). */
static void copy_tree(fs *from, fs *to, const char *dir)
{
    char **names = NULL;
    size_t count = 0;
    int mk = fs_mkdir(to, dir, NULL);
    CHECK(mk == TIND_OK || mk == TIND_EEXIST);
    CHECK_OK(fs_list(from, dir, &names, &count, NULL));
    for (size_t i = 0; i < count; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        int is_dir = 0;
        CHECK_OK(fs_exists(from, p, &is_dir));
        if (is_dir) {
            copy_tree(from, to, p);
            continue;
        }
        uint8_t *data = NULL;
        size_t len = 0;
        CHECK_OK(fs_read_all(from, p, &data, &len, NULL));
        CHECK_OK(fs_write_atomic(to, dir, names[i], data, len, NULL));
        free(data);
    }
    fs_list_free(names, count);
}

TEST(interrupted)
{
    fs *base = fs_mem_new();
    fill(base, "/db");
    static const int kinds[] = {FS_CALL_RENAME, FS_CALL_WRITE, FS_CALL_SYNC, FS_CALL_SYNC_DIR};
    int rounds = 0, refused = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (int effect = FS_FAULT_ERRNO; effect <= (kinds[k] == FS_CALL_WRITE ? FS_FAULT_SHORT_WRITE : FS_FAULT_ERRNO);
             effect++) {
            for (uint64_t nth = 1;; nth++) {
                fs *mem = fs_mem_new();
                copy_tree(base, mem, "/db");
                fs *ff = fs_fault_new(mem, 0);
                fs_fault_arm(ff, kinds[k], nth, effect, 5 /* EIO */, 0, NULL);
                int rc = rekey(ff, "/db", KEY, NEWKEY);
                int injected = fs_fault_injected(ff) > 0;
                fs_destroy(ff);
                if (!injected) {
                    CHECK_OK(rc);
                    check_all(mem, "/db", NEWKEY);
                    fs_destroy(mem);
                    break;
                }
                rounds++;
                CHECK(rc != TIND_OK);
                tind_db *db = NULL;
                int with_old = open_key(mem, "/db", KEY, &db);
                if (with_old == TIND_OK) {
                    CHECK_OK(tind_close(db));    /* failed before the key file changed */
                } else if (open_key(mem, "/db", NEWKEY, &db) == TIND_OK) {
                    CHECK_OK(tind_close(db));    /* failed after the last rename (syncing the folder) */
                } else {
                    refused++;
                    CHECK_RC(with_old, TIND_EINVAL);
                    CHECK(strstr(tind_errmsg(NULL), "re-keying was interrupted") != NULL);
                }
                CHECK_OK(rekey(mem, "/db", KEY, NEWKEY));
                check_all(mem, "/db", NEWKEY);
                CHECK(files_under(mem, "/db", NEWKEY) >= 5);
                fs_destroy(mem);
            }
        }
    }
    fprintf(stderr, "    %d interrupted re-keyings (%d left the database refusing both keys), all finished\n",
            rounds, refused);
    CHECK(rounds >= 10);
    CHECK(refused >= 5);
    fs_destroy(base);
}

int main(void)
{
    check_seed_init(14);
    RUN(round_trip);
    RUN(interrupted);
    return 0;
}
