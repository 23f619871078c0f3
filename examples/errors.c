/*
 * errors.c -- error handling done right: every status checked, the
 * detailed message read with tind_errmsg(), TIND_NOT_FOUND told apart from
 * failures, a locked folder, a read-only open, the close contract with live
 * handles (TIND_EBUSY), and damaged files reported as TIND_ECORRUPT -- never
 * as wrong data.
 *
 *   ./build/errors [FOLDER]          (default ./errors-db; it and FOLDER-format
 *                                     must not exist: the example damages them)
 *
 * The rules (include/tind.h): 0 is TIND_OK; TIND_NOT_FOUND (-1) is an
 * answer, not a failure; every other negative status is an error that
 * tind_strerror() names and tind_errmsg(db) details for the calling thread
 * ("... table 'x/tables/00000005.tbl' ...: checksum mismatch"). Failures
 * of tind_open and tind_close are detailed by tind_errmsg(NULL). A mistake
 * at the API (an empty key, a key over the limit) returns a status and
 * leaves the database writable. Exits 1 when a status is not the expected
 * one, so running it is a test (ctest example_errors).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tind.h"

/* Runs a call and checks its status is the expected one; prints what the
 * engine said about it (the errmsg of db: NULL for open and close). */
#define EXPECT(call, expected, db)                                                             \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != (expected)) {                                                               \
            fprintf(stderr, "errors: %s returned %s, expected %s (%s)\n", #call,               \
                    tind_strerror(rc_), tind_strerror(expected), tind_errmsg(db));             \
            return 1;                                                                          \
        }                                                                                      \
        if (rc_ != TIND_OK)                                                                    \
            printf("  %-58s -> %s: %s\n", #call, tind_strerror(rc_), tind_errmsg(db));         \
    } while (0)

#define CHECK(cond, what)                                                                      \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "errors: %s\n", what);                                             \
            return 1;                                                                          \
        }                                                                                      \
    } while (0)

#define KEYS 5000

static int value_of(int i, char *val, size_t size)
{
    return snprintf(val, size, "value of key %06d, padded to be a bit longer than the key", i);
}

/* XORs up to 16 bytes at a quarter of the file: inside the data blocks of
 * a table holding more data than index and filter. 0, or -1 with errno. */
static int damage_file(const char *file)
{
    int fd = open(file, O_RDWR);
    if (fd < 0)
        return -1;
    struct stat st;
    unsigned char bytes[16];
    int rc = -1;
    if (fstat(fd, &st) == 0 && st.st_size >= 4) {
        off_t at = st.st_size / 4;
        size_t n = st.st_size - at < (off_t)sizeof bytes ? (size_t)(st.st_size - at) : sizeof bytes;
        if (pread(fd, bytes, n, at) == (ssize_t)n) {
            for (size_t i = 0; i < n; i++)
                bytes[i] ^= 0x5a;
            if (pwrite(fd, bytes, n, at) == (ssize_t)n)
                rc = 0;
        }
    }
    close(fd);
    return rc;
}

/* Damages every table file of the database in folder (the example's own
 * test of corruption: never do this to a database you care about). */
static int damage_tables(const char *folder)
{
    char dir[4096], file[4096 + 256];
    snprintf(dir, sizeof dir, "%s/tables", folder);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int damaged = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".tbl") != 0)
            continue;
        snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
        if (damage_file(file) == 0)
            damaged++;
    }
    closedir(d);
    return damaged > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "./errors-db";
    tind_db *db, *other;
    tind_keyspace *ks;

    char format_db[4096], format_file[4200];
    snprintf(format_db, sizeof format_db, "%s-format", path);
    snprintf(format_file, sizeof format_file, "%s/FORMAT", format_db);
    struct stat st;
    if (stat(path, &st) == 0 || stat(format_db, &st) == 0) {
        fprintf(stderr, "errors: '%s' or '%s' exists; this example damages its databases, "
                        "give it new folders\n", path, format_db);
        return 1;
    }

    /* ---- 1. Opening: a read-only open never creates a folder ------------ */
    printf("opening:\n");
    tind_options *ro_opts = tind_options_new();
    CHECK(ro_opts != NULL, "out of memory");
    tind_options_set_read_only(ro_opts, 1);
    EXPECT(tind_open(path, ro_opts, &db), TIND_ENOENT, NULL);
    EXPECT(tind_open(path, NULL, &db), TIND_OK, NULL);
    EXPECT(tind_keyspace_open(db, "items", NULL, &ks), TIND_OK, db);

    /* ---- 2. Argument errors and NOT_FOUND -------------------------------- */
    printf("argument errors (the database stays writable):\n");
    EXPECT(tind_put(ks, "", 0, "v", 1), TIND_EINVAL, db);          /* keys are 1..65535 bytes */
    static char big_key[TIND_MAX_KEY_SIZE + 1];
    memset(big_key, 'k', sizeof big_key);
    EXPECT(tind_put(ks, big_key, sizeof big_key, "v", 1), TIND_ETOOBIG, db);
    EXPECT(tind_put(ks, big_key, TIND_MAX_KEY_SIZE, "v", 1), TIND_OK, db);  /* at the limit */
    EXPECT(tind_keyspace_open(db, "", NULL, &ks), TIND_EINVAL, db);        /* names: 1..255 bytes */

    char key[32], val[128];
    for (int i = 0; i < KEYS; i++) {
        int kn = snprintf(key, sizeof key, "key%06d", i);
        int vn = value_of(i, val, sizeof val);
        EXPECT(tind_put(ks, key, (size_t)kn, val, (size_t)vn), TIND_OK, db);
    }
    /* NOT_FOUND is an answer: test for it before treating rc as an error. */
    void *v;
    size_t vn;
    int rc = tind_get(ks, "absent", 6, NULL, &v, &vn);
    if (rc == TIND_NOT_FOUND) {
        printf("  tind_get(\"absent\") -> not found (no error: nothing to free, nothing in errmsg)\n");
    } else if (rc == TIND_OK) {
        tind_free(v);
        CHECK(0, "a key never written was found");
    } else {
        fprintf(stderr, "errors: get: %s (%s)\n", tind_strerror(rc), tind_errmsg(db));
        return 1;
    }
    EXPECT(tind_flush(ks), TIND_OK, db);   /* the data now lives in a table file */

    /* ---- 3. A locked folder ---------------------------------------------- */
    printf("locking (one writable open per folder, in any process):\n");
    EXPECT(tind_open(path, NULL, &other), TIND_EBUSY, NULL);

    /* ---- 4. The close contract ------------------------------------------- */
    printf("close with live handles:\n");
    tind_iter *it;
    tind_snapshot *snap;
    EXPECT(tind_iter_prefix(ks, "key", 3, NULL, &it), TIND_OK, db);
    EXPECT(tind_snapshot_new(db, &snap), TIND_OK, db);
    EXPECT(tind_close(db), TIND_EBUSY, db);   /* refused: db stays open and usable */
    EXPECT(tind_contains(ks, "key000001", 9, NULL), TIND_OK, db);
    tind_iter_free(it);
    tind_snapshot_free(snap);
    EXPECT(tind_close(db), TIND_OK, NULL);    /* persists the journal, frees db and ks */

    /* ---- 5. Read-only opens ---------------------------------------------- */
    printf("read-only:\n");
    EXPECT(tind_open(path, ro_opts, &db), TIND_OK, NULL);
    EXPECT(tind_open(path, NULL, &other), TIND_EBUSY, NULL);   /* readers share the lock */
    EXPECT(tind_keyspace_open(db, "items", NULL, &ks), TIND_OK, db);
    tind_keyspace *missing;
    EXPECT(tind_keyspace_open(db, "missing", NULL, &missing), TIND_ENOENT, db);
    EXPECT(tind_put(ks, "key", 3, "v", 1), TIND_ENOTSUP, db);
    EXPECT(tind_get(ks, "key000042", 9, NULL, &v, &vn), TIND_OK, db);   /* reads work */
    tind_free(v);
    EXPECT(tind_close(db), TIND_OK, NULL);
    tind_options_free(ro_opts);

    /* ---- 6. A damaged table: TIND_ECORRUPT, never wrong data ------------- */
    printf("a damaged table file:\n");
    CHECK(damage_tables(path) == 0, "could not damage the table files");
    EXPECT(tind_open(path, NULL, &db), TIND_OK, NULL);   /* tables open lazily */
    EXPECT(tind_keyspace_open(db, "items", NULL, &ks), TIND_OK, db);
    EXPECT(tind_iter_prefix(ks, "key", 3, NULL, &it), TIND_OK, db);
    int seen = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
        seen++;
    /* A loop that ends is not a scan that finished: ask the iterator why. */
    EXPECT(tind_iter_status(it), TIND_ECORRUPT, db);
    tind_iter_free(it);
    printf("  the scan stopped after %d of %d keys\n", seen, KEYS);
    int corrupt = 0;
    for (int i = 0; i < KEYS; i++) {
        int kn = snprintf(key, sizeof key, "key%06d", i);
        int want = value_of(i, val, sizeof val);
        rc = tind_get(ks, key, (size_t)kn, NULL, &v, &vn);
        if (rc == TIND_ECORRUPT) {
            corrupt++;
            continue;
        }
        CHECK(rc == TIND_OK, "a get of the damaged table failed with another status");
        int same = vn == (size_t)want && memcmp(v, val, vn) == 0;
        tind_free(v);
        CHECK(same, "a damaged table returned a wrong value");
    }
    printf("  %d gets: %d TIND_ECORRUPT, the others the right value\n", KEYS, corrupt);
    CHECK(corrupt > 0, "no get saw the damage");
    EXPECT(tind_close(db), TIND_OK, NULL);

    /* ---- 7. A damaged FORMAT file: the open refuses -------------------- */
    printf("a damaged FORMAT file:\n");
    EXPECT(tind_open(format_db, NULL, &db), TIND_OK, NULL);
    EXPECT(tind_close(db), TIND_OK, NULL);
    CHECK(damage_file(format_file) == 0, "could not damage FORMAT");
    EXPECT(tind_open(format_db, NULL, &db), TIND_ECORRUPT, NULL);
    printf("done\n");
    return 0;
}
