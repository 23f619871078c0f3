/*
 * test_read_only.c -- tind_options_set_read_only: a read-only open after a
 * crash serves the journal's unflushed writes and leaves every file of the
 * folder byte-identical (a torn journal tail is ignored, not cut); two
 * read-only opens coexist and keep a writer out; a read-only open beside a
 * live writer proceeds and sees the state as of its open; every write call is
 * refused with TIND_ENOTSUP; a damaged table fails only the reads that touch
 * it. Also: tind_open (create_if_missing) refuses a folder of other files and
 * changes nothing in it (issue 10 bug 16).
 *
 * The databases are real folders: a forked child writes and exits without
 * closing, as a crash would leave them.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "db/options.h"
#include "io/fs.h"

#define KEYS 200   /* k000..k099 flushed to a table, k100..k199 only in the journal */

/* FNV-1a over every path, size and byte under dir (sorted walk): equal
 * hashes mean no file was created, deleted, renamed or changed. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(struct dirent *const *)a)->d_name, (*(struct dirent *const *)b)->d_name);
}

static uint64_t hash_tree(const char *dir, uint64_t h)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, NULL);
    CHECK(n >= 0);
    qsort(ents, (size_t)n, sizeof *ents, cmp_name);
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        if (strcmp(name, ".") && strcmp(name, "..")) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, name);
            h = fnv(h, name, strlen(name) + 1);
            struct stat st;
            CHECK(stat(path, &st) == 0);
            if (S_ISDIR(st.st_mode)) {
                h = hash_tree(path, h);
            } else {
                FILE *f = fopen(path, "rb");
                CHECK(f != NULL);
                unsigned char buf[4096];
                size_t got;
                while ((got = fread(buf, 1, sizeof buf, f)) > 0)
                    h = fnv(h, buf, got);
                fclose(f);
                h = fnv(h, &st.st_size, sizeof st.st_size);
            }
        }
        free(ents[i]);
    }
    free(ents);
    return h;
}

static uint64_t folder_hash(const char *dir) { return hash_tree(dir, 14695981039346656037ull); }

static tind_db *open_db(const char *dir, int read_only, int want)
{
    tind_options *o = tind_options_new();
    tind_options_set_read_only(o, read_only);
    tind_db *db = NULL;
    int rc = tind_open(dir, o, &db);
    tind_options_free(o);
    if (rc != want)
        fprintf(stderr, "open: %s\n", tind_errmsg(NULL));
    CHECK_RC(rc, want);
    return db;
}

static void key_of(int i, char *buf) { snprintf(buf, 16, "k%03d", i % 1000); }

/* A child writes k000..k099 to keyspace a and flushes them, writes
 * k100..k199 (journal only), the same keys to keyspace b (flushed: one
 * table), syncs the journal and exits without closing: a crash. */
static void make_crashed_db(const char *dir)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        tind_db *db = NULL;
        tind_keyspace *a = NULL, *b = NULL;
        tind_options *o = tind_options_new();
        tind_options_set_background_threads(o, 0);
        int rc = tind_open(dir, o, &db);
        tind_options_free(o);
        if (!rc)
            rc = tind_keyspace_open(db, "a", NULL, &a);
        if (!rc)
            rc = tind_keyspace_open(db, "b", NULL, &b);
        char key[16];
        for (int i = 0; !rc && i < KEYS; i++) {
            key_of(i, key);
            rc = tind_put(a, key, strlen(key), key, strlen(key));
            if (!rc)
                rc = tind_put(b, key, strlen(key), "bee", 3);
            if (!rc && i == KEYS / 2 - 1)
                rc = tind_flush(a);
        }
        if (!rc)
            rc = tind_flush(b);
        if (!rc)
            rc = tind_persist(db, TIND_PERSIST_SYNC_DATA);
        if (rc)
            fprintf(stderr, "child: %s\n", tind_errmsg(db));
        _exit(rc ? 1 : 0);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static char *crashed_db_dir(void)
{
    char *dir = check_tmpdir("ro");
    make_crashed_db(dir);
    return dir;
}

static void remove_dir(char *dir)
{
    check_rmtree(dir);
    free(dir);
}

/* The path of the newest (newest = 1) or oldest file of dir/sub with the
 * given suffix. */
static void find_file(const char *dir, const char *sub, const char *suffix, int newest, char *out, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    struct dirent **ents = NULL;
    int count = scandir(path, &ents, NULL, alphasort);
    CHECK(count > 0);
    out[0] = 0;
    for (int i = 0; i < count; i++) {
        size_t len = strlen(ents[i]->d_name), sl = strlen(suffix);
        if (len > sl && strcmp(ents[i]->d_name + len - sl, suffix) == 0 && strlen(path) + len + 2 <= n &&
            (newest || !out[0])) {
            memcpy(out, path, strlen(path));
            out[strlen(path)] = '/';
            memcpy(out + strlen(path) + 1, ents[i]->d_name, len + 1);
        }
        free(ents[i]);
    }
    free(ents);
    CHECK(out[0] != 0);
}

static void newest_file(const char *dir, const char *sub, const char *suffix, char *out, size_t n)
{
    find_file(dir, sub, suffix, 1, out, n);
}

static void oldest_file(const char *dir, const char *sub, const char *suffix, char *out, size_t n)
{
    find_file(dir, sub, suffix, 0, out, n);
}

static void append_bytes(const char *path, const char *bytes, size_t n)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(write(fd, bytes, n) == (ssize_t)n);
    close(fd);
}

static void expect_all_keys(tind_db *db, const char *ks_name)
{
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, ks_name, NULL, &ks));
    char key[16];
    for (int i = 0; i < KEYS; i++) {
        key_of(i, key);
        void *v = NULL;
        size_t vn = 0;
        CHECK_OK(tind_get(ks, key, strlen(key), NULL, &v, &vn));
        CHECK_MEM(v, vn, key, strlen(key));
        tind_free(v);
    }
    tind_snapshot *s = NULL;
    CHECK_OK(tind_snapshot_new(db, &s));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_snapshot(ro, s);
    tind_iter *it = NULL;
    CHECK_OK(tind_iter_prefix(ks, "k", 1, ro, &it));
    int n = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
        n++;
    CHECK_OK(tind_iter_status(it));
    CHECK_EQ(n, KEYS);
    tind_iter_free(it);
    tind_read_options_free(ro);
    tind_snapshot_free(s);
}

TEST(after_crash_sees_journal_and_writes_nothing)
{
    char *dir = crashed_db_dir();
    /* a torn tail: a writable open would cut it, a read-only one must not */
    char jrn[4096];
    newest_file(dir, "journals", ".jrn", jrn, sizeof jrn);
    append_bytes(jrn, "JRN1torn", 8);
    uint64_t before = folder_hash(dir);
    tind_db *db = open_db(dir, 1, TIND_OK);
    expect_all_keys(db, "a");
    CHECK_OK(tind_close(db));
    CHECK_EQ(folder_hash(dir), before);
    /* and the writable open still recovers the same */
    db = open_db(dir, 0, TIND_OK);
    expect_all_keys(db, "a");
    CHECK_OK(tind_close(db));
    remove_dir(dir);
}

TEST(two_read_only_opens_keep_a_writer_out)
{
    char *dir = crashed_db_dir();
    tind_db *r1 = open_db(dir, 1, TIND_OK);
    tind_db *r2 = open_db(dir, 1, TIND_OK);
    expect_all_keys(r1, "a");
    expect_all_keys(r2, "a");
    open_db(dir, 0, TIND_EBUSY);
    CHECK_OK(tind_close(r1));
    open_db(dir, 0, TIND_EBUSY);
    CHECK_OK(tind_close(r2));
    tind_db *w = open_db(dir, 0, TIND_OK);
    CHECK_OK(tind_close(w));
    remove_dir(dir);
}

TEST(beside_a_live_writer_sees_the_state_at_open)
{
    char *dir = crashed_db_dir();
    tind_db *w = open_db(dir, 0, TIND_OK);
    tind_keyspace *wa = NULL;
    CHECK_OK(tind_keyspace_open(w, "a", NULL, &wa));
    CHECK_OK(tind_persist(w, TIND_PERSIST_SYNC_DATA));
    tind_db *r = open_db(dir, 1, TIND_OK);
    CHECK_OK(tind_put(wa, "later", 5, "x", 1));
    expect_all_keys(r, "a");
    tind_keyspace *ra = NULL;
    CHECK_OK(tind_keyspace_open(r, "a", NULL, &ra));
    CHECK_RC(tind_contains(ra, "later", 5, NULL), TIND_NOT_FOUND);
    CHECK_OK(tind_close(r));
    CHECK_OK(tind_close(w));
    remove_dir(dir);
}

/* A table the live writer deletes (compaction) after the read-only open:
 * the read that needs it fails naming the file, or (an already open file)
 * serves its old, still correct bytes -- never a wrong answer. */
TEST(beside_a_live_writer_a_deleted_table_is_an_error)
{
    char *dir = crashed_db_dir();
    tind_db *w = open_db(dir, 0, TIND_OK);
    tind_db *r = open_db(dir, 1, TIND_OK);
    tind_keyspace *wa = NULL, *ra = NULL;
    CHECK_OK(tind_keyspace_open(w, "a", NULL, &wa));
    CHECK_OK(tind_keyspace_open(r, "a", NULL, &ra));
    /* the oldest table holds k000..k099; an overlapping write makes
     * compaction rewrite (not move) it, and the file goes when the writer's
     * last reference drops (maybe just after tind_compact returns) */
    char oldest[4096];
    oldest_file(dir, "tables", ".tbl", oldest, sizeof oldest);
    CHECK_OK(tind_put(wa, "k050", 4, "new", 3));
    CHECK_OK(tind_compact(wa));
    for (int i = 0; i < 500 && access(oldest, F_OK) == 0; i++)
        usleep(10000);
    CHECK(access(oldest, F_OK) != 0);
    char key[16];
    int failed = 0;
    for (int i = 0; i < KEYS / 2; i++) {
        key_of(i, key);
        void *v = NULL;
        size_t vn = 0;
        int rc = tind_get(ra, key, strlen(key), NULL, &v, &vn);
        if (rc == TIND_OK) {
            CHECK_MEM(v, vn, key, strlen(key));
            tind_free(v);
        } else {
            CHECK(rc != TIND_NOT_FOUND);
            CHECK(strstr(tind_errmsg(r), ".tbl") != NULL);
            failed++;
        }
    }
    CHECK(failed > 0); /* the flushed table is gone */
    CHECK_OK(tind_close(r));
    CHECK_OK(tind_close(w));
    remove_dir(dir);
}

TEST(every_write_call_is_refused)
{
    char *dir = crashed_db_dir();
    uint64_t before = folder_hash(dir);
    tind_db *db = open_db(dir, 1, TIND_OK);
    tind_keyspace *a = NULL, *nope = NULL;
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &a));
    CHECK_RC(tind_put(a, "x", 1, "y", 1), TIND_ENOTSUP);
    CHECK(strstr(tind_errmsg(db), "read-only") != NULL);
    CHECK_RC(tind_remove(a, "k001", 4), TIND_ENOTSUP);
    tind_batch *b = NULL;
    CHECK_OK(tind_batch_new(db, &b));
    CHECK_OK(tind_batch_put(b, a, "x", 1, "y", 1));
    CHECK_RC(tind_batch_commit(b), TIND_ENOTSUP);
    tind_batch_free(b);
    CHECK_RC(tind_keyspace_open(db, "new", NULL, &nope), TIND_ENOENT);
    CHECK(strstr(tind_errmsg(db), "does not exist") != NULL);
    CHECK_RC(tind_keyspace_delete(db, "b"), TIND_ENOTSUP);
    CHECK_OK(tind_keyspace_exists(db, "b"));
    CHECK_RC(tind_flush(a), TIND_ENOTSUP);
    CHECK_RC(tind_compact(a), TIND_ENOTSUP);
    CHECK_RC(tind_persist(db, TIND_PERSIST_SYNC_DATA), TIND_ENOTSUP);
    CHECK_RC(tind_persist(db, TIND_PERSIST_SYNC_ALL), TIND_ENOTSUP);
    expect_all_keys(db, "a");
    CHECK_OK(tind_close(db));
    CHECK_EQ(folder_hash(dir), before);
    /* a folder that is not a database, or none at all: refused, nothing made */
    char path[4096];
    snprintf(path, sizeof path, "%s/missing", dir);
    open_db(path, 1, TIND_ENOENT);
    CHECK(access(path, F_OK) != 0);
    remove_dir(dir);
}

TEST(damaged_table_fails_only_its_reads)
{
    char *dir = crashed_db_dir();
    /* keyspace b's table is the newest; its first data block starts at 0 */
    char tbl[4096];
    newest_file(dir, "tables", ".tbl", tbl, sizeof tbl);
    int fd = open(tbl, O_RDWR);
    CHECK(fd >= 0);
    unsigned char c;
    CHECK(pread(fd, &c, 1, 16) == 1);
    c ^= 0x40;
    CHECK(pwrite(fd, &c, 1, 16) == 1);
    close(fd);
    uint64_t before = folder_hash(dir);
    tind_db *db = open_db(dir, 1, TIND_OK);
    expect_all_keys(db, "a");
    tind_keyspace *b = NULL;
    CHECK_OK(tind_keyspace_open(db, "b", NULL, &b));
    void *v = NULL;
    size_t vn = 0;
    CHECK_RC(tind_get(b, "k000", 4, NULL, &v, &vn), TIND_ECORRUPT);
    CHECK(strstr(tind_errmsg(db), ".tbl") != NULL);
    CHECK_OK(tind_close(db));
    CHECK_EQ(folder_hash(dir), before);
    remove_dir(dir);
}

/* The same through the fault fs, which counts every call: a read-only open,
 * reads and close of a crashed database make no writing call at all. */
TEST(no_writing_call_reaches_the_file_system)
{
    fs *mem = fs_mem_new();
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, mem);
    tind_options_set_no_background(o, 1);
    tind_db *db = NULL;
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_open("/db", o, &db));
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &ks));
    CHECK_OK(tind_put(ks, "flushed", 7, "1", 1));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_put(ks, "journal", 7, "2", 1));
    CHECK_OK(tind_persist(db, TIND_PERSIST_SYNC_DATA));
    CHECK_OK(tind_put(ks, "torn", 4, "3", 1));
    CHECK_OK(fs_mem_crash(mem, FS_CRASH_KEEP_PREFIX | FS_CRASH_DROP_DIRENTS, 3));
    tind_close(db); /* the crash made its files stale: errors expected */

    fs *counted = fs_fault_new(mem, 0);
    CHECK(counted != NULL);
    tind_options_set_fs(o, counted);
    tind_options_set_read_only(o, 1);
    CHECK_OK(tind_open("/db", o, &db));
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &ks));
    void *v = NULL;
    size_t vn = 0;
    CHECK_OK(tind_get(ks, "flushed", 7, NULL, &v, &vn));
    tind_free(v);
    CHECK_OK(tind_get(ks, "journal", 7, NULL, &v, &vn));
    CHECK_MEM(v, vn, "2", 1);
    tind_free(v);
    CHECK_RC(tind_put(ks, "x", 1, "y", 1), TIND_ENOTSUP);
    CHECK_OK(tind_close(db));
    static const int writing[] = {FS_CALL_WRITE,  FS_CALL_SYNC,  FS_CALL_TRUNCATE, FS_CALL_ALLOCATE, FS_CALL_RENAME,
                                  FS_CALL_LINK,   FS_CALL_UNLINK, FS_CALL_MKDIR,   FS_CALL_RMDIR,    FS_CALL_SYNC_DIR};
    for (size_t i = 0; i < sizeof writing / sizeof *writing; i++) {
        if (fs_fault_calls(counted, writing[i]))
            fprintf(stderr, "%s: %llu calls\n", fs_call_kind_name(writing[i]),
                    (unsigned long long)fs_fault_calls(counted, writing[i]));
        CHECK_EQ(fs_fault_calls(counted, writing[i]), 0);
    }
    CHECK(fs_fault_calls(counted, FS_CALL_READ) > 0);
    fs_destroy(counted);
    fs_destroy(mem);
    tind_options_free(o);
}

/* Issue 10 bug 16: a folder of other files never becomes a database. */
TEST(open_refuses_a_folder_of_other_files)
{
    char *dir = check_tmpdir("ro");
    char path[4096];
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("my notes\n", f);
    fclose(f);
    uint64_t before = folder_hash(dir);
    open_db(dir, 0, TIND_EINVAL);
    CHECK(strstr(tind_errmsg(NULL), "is not a tind database") != NULL);
    CHECK(strstr(tind_errmsg(NULL), "notes.txt") != NULL);
    open_db(dir, 1, TIND_ENOENT);
    CHECK_EQ(folder_hash(dir), before);
    /* an empty folder still becomes one */
    CHECK(unlink(path) == 0);
    tind_db *db = open_db(dir, 0, TIND_OK);
    CHECK_OK(tind_close(db));
    remove_dir(dir);
}

int main(void)
{
    RUN(after_crash_sees_journal_and_writes_nothing);
    RUN(two_read_only_opens_keep_a_writer_out);
    RUN(beside_a_live_writer_sees_the_state_at_open);
    RUN(beside_a_live_writer_a_deleted_table_is_an_error);
    RUN(every_write_call_is_refused);
    RUN(damaged_table_fails_only_its_reads);
    RUN(no_writing_call_reaches_the_file_system);
    RUN(open_refuses_a_folder_of_other_files);
    return 0;
}
