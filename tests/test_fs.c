/*
 * test_fs.c -- the file-system layer: one contract suite run against the
 * POSIX fs (in a temporary folder), the in-memory fs and the fault wrapper
 * around the in-memory fs with nothing armed; then what only the in-memory
 * fs does (crash modes, stale handles) and what only the fault wrapper does
 * (nth call once / forever, path filters, short writes and reads, bit flips,
 * counters); and a concurrent append-while-reading test.
 *
 * TSAN-LABEL: concurrent_append_read runs threads over one mem file.
 */
#include "check.h"
#include "io/fs.h"
#include "io/fs_crypt.h"
#include "util/rand.h"

#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    CHECK(p != NULL);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void fill(uint8_t *b, size_t n, uint64_t salt)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)((i + salt) * 131u + (i >> 8));
}

static void put_file(fs *f, const char *path, const void *data, size_t n)
{
    fs_file *h = NULL;
    CHECK_OK(fs_open(f, path, FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &h, NULL));
    CHECK_OK(fs_write(h, data, n, 0, NULL));
    CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
    CHECK_OK(fs_close(h, NULL));
}

static void expect_file(fs *f, const char *path, const void *data, size_t n)
{
    uint8_t *got = NULL;
    size_t len = 0;
    CHECK_OK(fs_read_all(f, path, &got, &len, NULL));
    CHECK_MEM(got, len, data, n);
    free(got);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ===================================================== the contract suite */

/* contract_basic's extensions that succeeded (FS_ALLOC_EXTEND) */
static int extend_supported;

static void contract_basic(fs *f, const char *root)
{
    tind_err err;
    char *a = join(root, "a.dat");
    fs_file *h = NULL;

    /* missing file without CREATE; the message names the path */
    err_clear(&err);
    CHECK_RC(fs_open(f, a, FS_O_READ, &h, &err), TIND_ENOENT);
    CHECK(strstr(err.msg, "a.dat") != NULL);

    uint8_t buf[3000], back[3000];
    fill(buf, sizeof buf, 1);
    CHECK_OK(fs_open(f, a, FS_O_WRITE | FS_O_CREATE, &h, NULL));
    CHECK_OK(fs_write(h, buf, 1000, 0, NULL));
    CHECK_OK(fs_write(h, buf + 1000, 2000, 1000, NULL));
    uint64_t size = 0;
    CHECK_OK(fs_size(h, &size, NULL));
    CHECK_EQ(size, 3000);
    size_t got = 0;
    CHECK_OK(fs_read(h, back, sizeof back, 0, &got, NULL));
    CHECK_MEM(back, got, buf, sizeof buf);
    /* a read past the end stops at the end, with TIND_OK */
    CHECK_OK(fs_read(h, back, 100, 2950, &got, NULL));
    CHECK_EQ(got, 50);
    CHECK_MEM(back, got, buf + 2950, 50);
    CHECK_OK(fs_read(h, back, 100, 5000, &got, NULL));
    CHECK_EQ(got, 0);
    /* overwrite in the middle */
    uint8_t x[10];
    memset(x, 0xEE, sizeof x);
    CHECK_OK(fs_write(h, x, sizeof x, 500, NULL));
    memcpy(buf + 500, x, sizeof x);
    CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
    CHECK_OK(fs_sync(h, FS_SYNC_ALL, NULL));
    CHECK_OK(fs_allocate(h, 0, 1 << 16, FS_ALLOC_HINT, NULL));
    CHECK_OK(fs_size(h, &size, NULL));
    CHECK_EQ(size, 3000);           /* allocate keeps the size */
    /* an extension: the size grows, the new bytes read as zeros, the old
     * ones stay; or TIND_ENOTSUP with nothing changed */
    int xrc = fs_allocate(h, 2000, 6000, FS_ALLOC_EXTEND, NULL);
    CHECK(xrc == TIND_OK || xrc == TIND_ENOTSUP);
    CHECK_OK(fs_size(h, &size, NULL));
    CHECK_EQ(size, xrc == TIND_OK ? 8000 : 3000);
    if (xrc == TIND_OK) {
        uint8_t ext[8000], zeros[5000] = {0};
        CHECK_OK(fs_read(h, ext, sizeof ext, 0, &got, NULL));
        CHECK_EQ(got, 8000);
        CHECK_MEM(ext, 3000, buf, 3000);
        CHECK_MEM(ext + 3000, 5000, zeros, 5000);
        /* a write inside keeps the size; an extension below the end is a no-op */
        CHECK_OK(fs_write(h, x, sizeof x, 4000, NULL));
        CHECK_OK(fs_allocate(h, 0, 100, FS_ALLOC_EXTEND, NULL));
        CHECK_OK(fs_size(h, &size, NULL));
        CHECK_EQ(size, 8000);
        CHECK_OK(fs_truncate(h, 3000, NULL));
    }
    extend_supported += xrc == TIND_OK;
    CHECK_OK(fs_close(h, NULL));
    expect_file(f, a, buf, sizeof buf);

    /* CREATE|EXCL on an existing file */
    CHECK_RC(fs_open(f, a, FS_O_WRITE | FS_O_CREATE | FS_O_EXCL, &h, NULL), TIND_EEXIST);

    /* a read-only handle cannot write */
    CHECK_OK(fs_open(f, a, FS_O_READ, &h, NULL));
    err_clear(&err);
    CHECK(fs_write(h, x, 1, 0, &err) != TIND_OK);
    CHECK(strstr(err.msg, "a.dat") != NULL);
    CHECK_OK(fs_close(h, NULL));

    /* truncate shorter, then longer: the extension reads as zeros */
    CHECK_OK(fs_open(f, a, FS_O_WRITE, &h, NULL));
    CHECK_OK(fs_truncate(h, 100, NULL));
    CHECK_OK(fs_size(h, &size, NULL));
    CHECK_EQ(size, 100);
    CHECK_OK(fs_truncate(h, 200, NULL));
    CHECK_OK(fs_read(h, back, 200, 0, &got, NULL));
    CHECK_EQ(got, 200);
    CHECK_MEM(back, 100, buf, 100);
    for (int i = 100; i < 200; i++)
        CHECK_EQ(back[i], 0);
    /* a write past the end leaves a zero-filled gap */
    CHECK_OK(fs_write(h, x, 4, 300, NULL));
    CHECK_OK(fs_read(h, back, 400, 0, &got, NULL));
    CHECK_EQ(got, 304);
    for (int i = 200; i < 300; i++)
        CHECK_EQ(back[i], 0);
    CHECK_MEM(back + 300, 4, x, 4);
    CHECK_OK(fs_close(h, NULL));

    /* TRUNC empties */
    CHECK_OK(fs_open(f, a, FS_O_WRITE | FS_O_TRUNC, &h, NULL));
    CHECK_OK(fs_size(h, &size, NULL));
    CHECK_EQ(size, 0);
    CHECK_OK(fs_close(h, NULL));

    CHECK_OK(fs_unlink(f, a, NULL));
    CHECK_RC(fs_unlink(f, a, NULL), TIND_ENOENT);
    free(a);
}

static void contract_names(fs *f, const char *root)
{
    char *d = join(root, "dir");
    char *a = join(d, "a");
    char *b = join(d, "b");
    char *c = join(d, "c");
    char *sub = join(d, "sub");
    int is_dir = -1;

    CHECK_RC(fs_exists(f, d, &is_dir), TIND_ENOENT);
    CHECK_OK(fs_mkdir(f, d, NULL));
    CHECK_RC(fs_mkdir(f, d, NULL), TIND_EEXIST);
    CHECK_OK(fs_exists(f, d, &is_dir));
    CHECK_EQ(is_dir, 1);
    CHECK_OK(fs_mkdir(f, sub, NULL));

    put_file(f, a, "alpha", 5);
    put_file(f, b, "bravo!", 6);
    CHECK_OK(fs_exists(f, a, &is_dir));
    CHECK_EQ(is_dir, 0);
    CHECK_OK(fs_exists(f, a, NULL));
    CHECK_OK(fs_sync_dir(f, d, NULL));

    /* list: every name, no "." or ".." */
    char **names = NULL;
    size_t count = 0;
    CHECK_OK(fs_list(f, d, &names, &count, NULL));
    CHECK_EQ(count, 3);
    qsort(names, count, sizeof *names, cmp_str);
    CHECK(strcmp(names[0], "a") == 0);
    CHECK(strcmp(names[1], "b") == 0);
    CHECK(strcmp(names[2], "sub") == 0);
    fs_list_free(names, count);
    char *missing = join(root, "nope");
    CHECK_RC(fs_list(f, missing, &names, &count, NULL), TIND_ENOENT);
    free(missing);

    /* rename over an existing file replaces it atomically */
    CHECK_OK(fs_rename(f, a, b, NULL));
    CHECK_RC(fs_exists(f, a, NULL), TIND_ENOENT);
    expect_file(f, b, "alpha", 5);
    CHECK_RC(fs_rename(f, a, c, NULL), TIND_ENOENT);

    /* hard link: two names, one file; survives unlink of the first */
    CHECK_OK(fs_link(f, b, c, NULL));
    CHECK_RC(fs_link(f, b, c, NULL), TIND_EEXIST);
    fs_file *h = NULL;
    CHECK_OK(fs_open(f, c, FS_O_WRITE, &h, NULL));
    CHECK_OK(fs_write(h, "A", 1, 0, NULL));
    CHECK_OK(fs_close(h, NULL));
    expect_file(f, b, "Alpha", 5);
    CHECK_OK(fs_unlink(f, b, NULL));
    expect_file(f, c, "Alpha", 5);

    /* an unlinked file stays readable through an open handle */
    CHECK_OK(fs_open(f, c, FS_O_READ, &h, NULL));
    CHECK_OK(fs_unlink(f, c, NULL));
    CHECK_RC(fs_exists(f, c, NULL), TIND_ENOENT);
    char back[8];
    size_t got = 0;
    CHECK_OK(fs_read(h, back, sizeof back, 0, &got, NULL));
    CHECK_MEM(back, got, "Alpha", 5);
    CHECK_OK(fs_close(h, NULL));

    /* rmdir: only empty folders */
    put_file(f, a, "x", 1);
    CHECK(fs_rmdir(f, d, NULL) != TIND_OK);
    CHECK_OK(fs_unlink(f, a, NULL));
    CHECK_OK(fs_rmdir(f, sub, NULL));
    CHECK_OK(fs_rmdir(f, d, NULL));
    CHECK_RC(fs_exists(f, d, NULL), TIND_ENOENT);

    free(d);
    free(a);
    free(b);
    free(c);
    free(sub);
}

static void contract_lock(fs *f, const char *root)
{
    char *l = join(root, "LOCK");
    fs_lock *l1 = NULL, *l2 = NULL;
    tind_err err;
    CHECK_OK(fs_lock_file(f, l, &l1, NULL));
    CHECK_OK(fs_exists(f, l, NULL));      /* created */
    err_clear(&err);
    CHECK_RC(fs_lock_file(f, l, &l2, &err), TIND_EBUSY);
    CHECK(strstr(err.msg, "is locked by another process or handle") != NULL);
    CHECK(strstr(err.msg, "LOCK") != NULL);
    CHECK_OK(fs_unlock(l1, NULL));
    CHECK_OK(fs_lock_file(f, l, &l2, NULL));
    CHECK_OK(fs_unlock(l2, NULL));
    /* shared locks: many at once, none beside an exclusive one, never a creation */
    fs_lock *s1 = NULL, *s2 = NULL;
    char *missing = join(root, "LOCK-missing");
    CHECK_RC(fs_lock_file_shared(f, missing, &s1, NULL), TIND_ENOENT);
    CHECK_RC(fs_exists(f, missing, NULL), TIND_ENOENT);
    CHECK_OK(fs_lock_file_shared(f, l, &s1, NULL));
    CHECK_OK(fs_lock_file_shared(f, l, &s2, NULL));
    CHECK_RC(fs_lock_file(f, l, &l1, NULL), TIND_EBUSY);
    CHECK_OK(fs_unlock(s1, NULL));
    CHECK_RC(fs_lock_file(f, l, &l1, NULL), TIND_EBUSY);
    CHECK_OK(fs_unlock(s2, NULL));
    CHECK_OK(fs_lock_file(f, l, &l1, NULL));
    CHECK_RC(fs_lock_file_shared(f, l, &s1, NULL), TIND_EBUSY);
    CHECK_OK(fs_unlock(l1, NULL));
    free(missing);
    free(l);
}

static void contract_helpers(fs *f, const char *root)
{
    tind_err err;
    char *p = join(root, "h.dat");
    uint8_t buf[100], back[100];
    fill(buf, sizeof buf, 7);
    put_file(f, p, buf, sizeof buf);

    /* fs_read_exact: a short read is corruption */
    fs_file *h = NULL;
    CHECK_OK(fs_open(f, p, FS_O_READ, &h, NULL));
    CHECK_OK(fs_read_exact(h, back, 100, 0, NULL));
    CHECK_MEM(back, 100, buf, 100);
    err_clear(&err);
    CHECK_RC(fs_read_exact(h, back, 20, 90, &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "truncated") != NULL);
    CHECK(strstr(err.msg, "h.dat") != NULL);
    CHECK_OK(fs_read_exact(h, back, 0, 100, NULL));
    CHECK_OK(fs_close(h, NULL));

    /* fs_read_all of an empty and a missing file */
    uint8_t *data = NULL;
    size_t len = 99;
    put_file(f, p, "", 0);
    CHECK_OK(fs_read_all(f, p, &data, &len, NULL));
    CHECK_EQ(len, 0);
    free(data);
    char *missing = join(root, "missing");
    CHECK_RC(fs_read_all(f, missing, &data, &len, NULL), TIND_ENOENT);
    CHECK(data == NULL);
    free(missing);

    /* fs_write_atomic: creates, replaces, leaves no .tmp behind */
    CHECK_OK(fs_write_atomic(f, root, "CURRENT", "one", 3, NULL));
    char *cur = join(root, "CURRENT");
    char *tmp = join(root, "CURRENT.tmp");
    expect_file(f, cur, "one", 3);
    CHECK_OK(fs_write_atomic(f, root, "CURRENT", "second", 6, NULL));
    expect_file(f, cur, "second", 6);
    CHECK_RC(fs_exists(f, tmp, NULL), TIND_ENOENT);
    /* into a missing folder: fails, nothing left behind */
    char *nodir = join(root, "nodir");
    CHECK(fs_write_atomic(f, nodir, "X", "x", 1, NULL) != TIND_OK);
    CHECK_OK(fs_unlink(f, cur, NULL));
    CHECK_OK(fs_unlink(f, p, NULL));
    free(nodir);
    free(cur);
    free(tmp);
    free(p);
}

static void contract_writer(fs *f, const char *root)
{
    char *p = join(root, "w.dat");
    trng rng;
    trng_seed(&rng, check_seed);
    size_t total_cap = 1 << 20;
    uint8_t *expect = malloc(total_cap);
    uint8_t *src = malloc(40000);
    CHECK(expect && src);
    fill(src, 40000, 3);

    for (int round = 0; round < 2; round++) {
        fs_file *h = NULL;
        CHECK_OK(fs_open(f, p, FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &h, NULL));
        /* a header written before the writer starts */
        CHECK_OK(fs_write(h, "HDR!", 4, 0, NULL));
        memcpy(expect, "HDR!", 4);
        size_t len = 4;
        fs_writer w;
        CHECK_OK(fs_writer_init(&w, h, 4, round == 0 ? 4096 : 0));
        CHECK_EQ(w.buf_cap, round == 0 ? 4096 : 64 * 1024);
        for (int i = 0; i < 200; i++) {
            /* mostly small appends, sometimes larger than the buffer */
            size_t n = trng_below(&rng, 8) == 0 ? (size_t)trng_below(&rng, 40000)
                                                 : (size_t)trng_below(&rng, 300);
            size_t from = (size_t)trng_below(&rng, 40000 - n + 1);
            if (len + n > total_cap)
                break;
            CHECK_OK(fs_writer_append(&w, src + from, n, NULL));
            memcpy(expect + len, src + from, n);
            len += n;
            CHECK_EQ(w.offset, len);
            CHECK_EQ(w.flushed + w.buf_len, len);
            CHECK(w.buf_len <= w.buf_cap);
            if (i == 100)
                CHECK_OK(fs_writer_sync(&w, FS_SYNC_DATA, NULL));
        }
        /* before the flush the file may lag; after it, it is all there */
        CHECK_OK(fs_writer_flush(&w, NULL));
        CHECK_EQ(w.buf_len, 0);
        CHECK_EQ(w.flushed, len);
        uint64_t size = 0;
        CHECK_OK(fs_size(h, &size, NULL));
        CHECK_EQ(size, len);
        CHECK_OK(fs_writer_sync(&w, FS_SYNC_ALL, NULL));
        fs_writer_free(&w);
        CHECK_OK(fs_close(h, NULL));
        expect_file(f, p, expect, len);
    }
    CHECK_OK(fs_unlink(f, p, NULL));
    free(expect);
    free(src);
    free(p);
}

static void contract_suite(fs *f, const char *root)
{
    contract_basic(f, root);
    contract_names(f, root);
    contract_lock(f, root);
    contract_helpers(f, root);
    contract_writer(f, root);
    /* everything above cleaned up after itself */
    char **names = NULL;
    size_t count = 0;
    CHECK_OK(fs_list(f, root, &names, &count, NULL));
    CHECK_EQ(count, 1);     /* LOCK */
    CHECK(strcmp(names[0], "LOCK") == 0);
    fs_list_free(names, count);
}

TEST(contract_posix)
{
    char *dir = check_tmpdir("fs");
    fs *f = fs_posix_new();
    CHECK(f != NULL);
    CHECK(strcmp(f->name, "posix") == 0);
    contract_suite(f, dir);
    fs_destroy(f);
    check_rmtree(dir);
    free(dir);
}

TEST(contract_mem)
{
    fs *f = fs_mem_new();
    CHECK(f != NULL);
    CHECK(strcmp(f->name, "mem") == 0);
    CHECK_OK(fs_mkdir(f, "/t", NULL));
    extend_supported = 0;
    contract_suite(f, "/t");
    CHECK(extend_supported > 0);      /* fs_mem extends */
    /* relative and absolute spellings name the same node */
    put_file(f, "t/./x", "1", 1);
    expect_file(f, "/t/x", "1", 1);
    expect_file(f, "//t/sub/../x", "1", 1);
    CHECK_RC(fs_open(f, "/missing/x", FS_O_WRITE | FS_O_CREATE, &(fs_file *){NULL}, NULL),
             TIND_ENOENT);
    fs_destroy(f);
}

TEST(contract_fault_over_mem)
{
    fs *f = fs_fault_new(fs_mem_new(), 1);
    CHECK(f != NULL);
    CHECK(strcmp(f->name, "fault") == 0);
    CHECK_OK(fs_mkdir(f, "/t", NULL));
    contract_suite(f, "/t");
    CHECK(fs_fault_calls(f, FS_CALL_WRITE) > 0);
    CHECK(fs_fault_calls(f, FS_CALL_OPEN) > 0);
    CHECK_EQ(fs_fault_injected(f), 0);
    fs_destroy(f);
}

/* The encrypting wrapper keeps the contract in logical bytes. */
TEST(contract_crypt_over_mem)
{
    static const uint8_t key[FS_CRYPT_KEY_BYTES] = {1, 2, 3};
    fs *f = fs_crypt_new(fs_mem_new(), 1, key);
    CHECK(f != NULL);
    CHECK(strcmp(f->name, "crypt") == 0);
    CHECK_OK(fs_mkdir(f, "/t", NULL));
    extend_supported = 0;
    contract_suite(f, "/t");
    CHECK_EQ(extend_supported, 0);    /* zeros are not ciphertext: never extends */
    fs_destroy(f);
}

/* The lock also holds against another process. */
TEST(posix_lock_other_process)
{
    char *dir = check_tmpdir("fslock");
    char *l = join(dir, "LOCK");
    fs *f = fs_posix_new();
    fs_lock *lk = NULL;
    CHECK_OK(fs_lock_file(f, l, &lk, NULL));
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fs *g = fs_posix_new();
        fs_lock *other = NULL;
        int rc = g ? fs_lock_file(g, l, &other, NULL) : TIND_ENOMEM;
        _exit(rc == TIND_EBUSY ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_OK(fs_unlock(lk, NULL));
    /* released: now the child gets it */
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fs *g = fs_posix_new();
        fs_lock *other = NULL;
        int rc = g ? fs_lock_file(g, l, &other, NULL) : TIND_ENOMEM;
        _exit(rc == TIND_OK ? 0 : 1);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fs_destroy(f);
    free(l);
    check_rmtree(dir);
    free(dir);
}

/* ========================================================= mem: crashes */

static size_t file_len(fs *f, const char *path)
{
    uint8_t *d = NULL;
    size_t n = 0;
    CHECK_OK(fs_read_all(f, path, &d, &n, NULL));
    free(d);
    return n;
}

TEST(mem_crash_drop_unsynced)
{
    fs *f = fs_mem_new();
    uint8_t a[1000], b[1000];
    fill(a, sizeof a, 1);
    fill(b, sizeof b, 2);
    fs_file *h = NULL;
    CHECK_OK(fs_open(f, "/f", FS_O_WRITE | FS_O_CREATE, &h, NULL));
    CHECK_OK(fs_sync_dir(f, "/", NULL));
    CHECK_OK(fs_write(h, a, 600, 0, NULL));
    CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
    CHECK_OK(fs_write(h, a + 600, 400, 600, NULL));   /* appended, unsynced */
    CHECK_OK(fs_write(h, b, 10, 100, NULL));          /* overwritten, unsynced */
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_UNSYNCED, 1));
    expect_file(f, "/f", a, 600);
    fs_close(h, NULL);

    /* FS_SYNC_ALL persists data too; a never-synced file comes back empty */
    CHECK_OK(fs_open(f, "/f", FS_O_WRITE, &h, NULL));
    CHECK_OK(fs_write(h, b, 1000, 0, NULL));
    CHECK_OK(fs_sync(h, FS_SYNC_ALL, NULL));
    CHECK_OK(fs_close(h, NULL));
    CHECK_OK(fs_open(f, "/g", FS_O_WRITE | FS_O_CREATE, &h, NULL));
    CHECK_OK(fs_write(h, a, 1000, 0, NULL));
    CHECK_OK(fs_close(h, NULL));
    /* a synced truncate persists; an unsynced one is undone */
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_UNSYNCED, 2));
    expect_file(f, "/f", b, 1000);
    CHECK_EQ(file_len(f, "/g"), 0);
    CHECK_OK(fs_open(f, "/f", FS_O_WRITE, &h, NULL));
    CHECK_OK(fs_truncate(h, 10, NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_UNSYNCED, 3));
    fs_close(h, NULL);
    expect_file(f, "/f", b, 1000);
    CHECK_OK(fs_open(f, "/f", FS_O_WRITE, &h, NULL));
    CHECK_OK(fs_truncate(h, 10, NULL));
    CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
    CHECK_OK(fs_write(h, a, 50, 10, NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_UNSYNCED, 4));
    fs_close(h, NULL);
    expect_file(f, "/f", b, 10);

    /* an unsynced shrink then regrow is not an extension of the synced bytes:
     * KEEP_PREFIX reverts it instead of keeping the zeros */
    CHECK_OK(fs_open(f, "/k", FS_O_WRITE | FS_O_CREATE, &h, NULL));
    CHECK_OK(fs_write(h, b, 1000, 0, NULL));
    CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
    CHECK_OK(fs_truncate(h, 10, NULL));
    CHECK_OK(fs_truncate(h, 2000, NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_KEEP_PREFIX, 7));
    fs_close(h, NULL);
    expect_file(f, "/k", b, 1000);

    /* without a data mode, unsynced bytes survive (only handles go stale) */
    CHECK_OK(fs_open(f, "/f", FS_O_WRITE, &h, NULL));
    CHECK_OK(fs_write(h, a, 100, 0, NULL));
    CHECK_OK(fs_close(h, NULL));
    CHECK_OK(fs_mem_crash(f, 0, 5));
    expect_file(f, "/f", a, 100);
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_UNSYNCED, 6));   /* and are now durable */
    expect_file(f, "/f", a, 100);
    fs_destroy(f);
}

/* Builds /f with `synced` synced bytes and `total` bytes in all, then crashes. */
static void crash_scenario(fs *f, const uint8_t *data, size_t synced, size_t total, int modes,
                           uint64_t seed)
{
    fs_file *h = NULL;
    CHECK_OK(fs_open(f, "/f", FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &h, NULL));
    CHECK_OK(fs_sync_dir(f, "/", NULL));
    CHECK_OK(fs_write(h, data, synced, 0, NULL));
    CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
    /* the tail in a few pieces, as a journal would append it */
    size_t at = synced;
    while (at < total) {
        size_t n = total - at < 700 ? total - at : 700;
        CHECK_OK(fs_write(h, data + at, n, at, NULL));
        at += n;
    }
    CHECK_OK(fs_mem_crash(f, modes, seed));
    CHECK_OK(fs_close(h, NULL));
}

TEST(mem_crash_keep_prefix)
{
    fs *f = fs_mem_new();
    enum { SYNCED = 1000, TOTAL = 5000 };
    uint8_t data[TOTAL];
    fill(data, sizeof data, 9);
    int saw_short = 0, saw_long = 0;
    for (uint64_t s = 0; s < 60; s++) {
        uint64_t seed = check_seed + s;
        crash_scenario(f, data, SYNCED, TOTAL, FS_CRASH_KEEP_PREFIX | FS_CRASH_DROP_UNSYNCED, seed);
        uint8_t *got = NULL;
        size_t len = 0;
        CHECK_OK(fs_read_all(f, "/f", &got, &len, NULL));
        /* the synced bytes plus a prefix of the tail: a prefix of everything */
        CHECK(len >= SYNCED && len <= TOTAL);
        CHECK_MEM(got, len, data, len);
        saw_short += len < SYNCED + (TOTAL - SYNCED) / 2;
        saw_long += len >= SYNCED + (TOTAL - SYNCED) / 2;
        free(got);
        /* the same seed gives the same result */
        crash_scenario(f, data, SYNCED, TOTAL, FS_CRASH_KEEP_PREFIX, seed);
        CHECK_EQ(file_len(f, "/f"), len);
    }
    CHECK(saw_short > 0 && saw_long > 0);

    /* an unsynced overwrite inside the synced part is not an extension: revert */
    fs_file *h = NULL;
    CHECK_OK(fs_open(f, "/f", FS_O_WRITE | FS_O_TRUNC, &h, NULL));
    CHECK_OK(fs_write(h, data, 2000, 0, NULL));
    CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
    CHECK_OK(fs_write(h, "zz", 2, 10, NULL));
    CHECK_OK(fs_write(h, data + 2000, 1000, 2000, NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_KEEP_PREFIX, 77));
    fs_close(h, NULL);
    expect_file(f, "/f", data, 2000);
    fs_destroy(f);
}

TEST(mem_crash_tear_sector)
{
    fs *f = fs_mem_new();
    enum { SYNCED = 1000, TOTAL = 3000 };
    uint8_t data[TOTAL];
    fill(data, sizeof data, 5);
    for (uint64_t s = 0; s < 40; s++) {
        /* TEAR alone: every byte kept, some bytes of the last sector garbled */
        crash_scenario(f, data, SYNCED, TOTAL, FS_CRASH_TEAR_SECTOR, check_seed + s);
        uint8_t *got = NULL;
        size_t len = 0;
        CHECK_OK(fs_read_all(f, "/f", &got, &len, NULL));
        CHECK_EQ(len, TOTAL);
        size_t sector = ((TOTAL - 1) / 512) * 512;
        CHECK_MEM(got, sector, data, sector);
        CHECK(memcmp(got + sector, data + sector, TOTAL - sector) != 0);
        free(got);

        /* with KEEP_PREFIX: the kept length, garbled only past the synced part
         * and only in its last sector */
        crash_scenario(f, data, SYNCED, TOTAL, FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR,
                       check_seed + s);
        CHECK_OK(fs_read_all(f, "/f", &got, &len, NULL));
        CHECK(len >= SYNCED && len <= TOTAL);
        size_t intact = len > SYNCED ? ((len - 1) / 512) * 512 : len;
        if (intact < SYNCED)
            intact = SYNCED;
        CHECK_MEM(got, intact, data, intact);
        if (len > SYNCED)
            CHECK(memcmp(got + intact, data + intact, len - intact) != 0);
        free(got);

        /* with DROP_UNSYNCED nothing past the synced part remains to tear */
        crash_scenario(f, data, SYNCED, TOTAL, FS_CRASH_DROP_UNSYNCED | FS_CRASH_TEAR_SECTOR,
                       check_seed + s);
        expect_file(f, "/f", data, SYNCED);
    }
    fs_destroy(f);
}

TEST(mem_crash_drop_dirents)
{
    fs *f = fs_mem_new();
    int is_dir = 0;
    /* a file whose data was synced but whose entry was not disappears */
    put_file(f, "/lost", "x", 1);
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_DIRENTS | FS_CRASH_DROP_UNSYNCED, 1));
    CHECK_RC(fs_exists(f, "/lost", NULL), TIND_ENOENT);
    /* ... and survives when the folder was synced */
    put_file(f, "/kept", "y", 1);
    CHECK_OK(fs_sync_dir(f, "/", NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_DIRENTS | FS_CRASH_DROP_UNSYNCED, 2));
    expect_file(f, "/kept", "y", 1);

    /* mkdir is an entry of the parent */
    CHECK_OK(fs_mkdir(f, "/d", NULL));
    put_file(f, "/d/a", "a", 1);
    CHECK_OK(fs_sync_dir(f, "/d", NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_DIRENTS, 3));
    CHECK_RC(fs_exists(f, "/d", NULL), TIND_ENOENT);
    CHECK_OK(fs_mkdir(f, "/d", NULL));
    CHECK_OK(fs_sync_dir(f, "/", NULL));
    put_file(f, "/d/a", "a", 1);
    CHECK_OK(fs_sync_dir(f, "/d", NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_DIRENTS, 4));
    CHECK_OK(fs_exists(f, "/d", &is_dir));
    CHECK_EQ(is_dir, 1);
    expect_file(f, "/d/a", "a", 1);

    /* a rename not followed by sync_dir reverts; a synced one holds */
    put_file(f, "/d/b", "b", 1);
    CHECK_OK(fs_sync_dir(f, "/d", NULL));
    CHECK_OK(fs_rename(f, "/d/b", "/d/a", NULL));
    expect_file(f, "/d/a", "b", 1);
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_DIRENTS | FS_CRASH_DROP_UNSYNCED, 5));
    expect_file(f, "/d/a", "a", 1);
    expect_file(f, "/d/b", "b", 1);
    CHECK_OK(fs_rename(f, "/d/b", "/d/a", NULL));
    CHECK_OK(fs_sync_dir(f, "/d", NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_DIRENTS | FS_CRASH_DROP_UNSYNCED, 6));
    expect_file(f, "/d/a", "b", 1);
    CHECK_RC(fs_exists(f, "/d/b", NULL), TIND_ENOENT);

    /* an unsynced unlink comes back, pointing at the same bytes */
    CHECK_OK(fs_unlink(f, "/d/a", NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_DIRENTS | FS_CRASH_DROP_UNSYNCED, 7));
    expect_file(f, "/d/a", "b", 1);
    /* an unsynced rmdir too, with its synced contents */
    CHECK_OK(fs_unlink(f, "/d/a", NULL));
    CHECK_OK(fs_rmdir(f, "/d", NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_DIRENTS, 8));
    expect_file(f, "/d/a", "b", 1);

    /* without DROP_DIRENTS, unsynced entries survive and become durable */
    put_file(f, "/d/c", "c", 1);
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_UNSYNCED, 9));
    expect_file(f, "/d/c", "c", 1);
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_DIRENTS, 10));
    expect_file(f, "/d/c", "c", 1);

    /* a hard link not synced disappears; the original stays */
    CHECK_OK(fs_link(f, "/d/c", "/d/c2", NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_DIRENTS, 11));
    CHECK_RC(fs_exists(f, "/d/c2", NULL), TIND_ENOENT);
    expect_file(f, "/d/c", "c", 1);

    /* the fs_write_atomic protocol survives every mode */
    CHECK_OK(fs_write_atomic(f, "/d", "CURRENT", "v1", 2, NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_DIRENTS | FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR, 12));
    expect_file(f, "/d/CURRENT", "v1", 2);
    CHECK_RC(fs_exists(f, "/d/CURRENT.tmp", NULL), TIND_ENOENT);
    fs_destroy(f);
}

TEST(mem_crash_stale_handles)
{
    fs *f = fs_mem_new();
    fs_file *h = NULL;
    fs_lock *lk = NULL, *lk2 = NULL;
    tind_err err;
    CHECK_OK(fs_open(f, "/f", FS_O_WRITE | FS_O_CREATE, &h, NULL));
    CHECK_OK(fs_write(h, "abc", 3, 0, NULL));
    CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
    CHECK_OK(fs_sync_dir(f, "/", NULL));
    CHECK_OK(fs_lock_file(f, "/LOCK", &lk, NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_UNSYNCED, 1));

    char b[4];
    size_t got = 0;
    uint64_t size = 0;
    err_clear(&err);
    CHECK_RC(fs_read(h, b, 3, 0, &got, &err), TIND_EIO);
    CHECK(strstr(err.msg, "stale") != NULL);
    CHECK(strstr(err.msg, "/f") != NULL);
    CHECK_RC(fs_write(h, "x", 1, 0, NULL), TIND_EIO);
    CHECK_RC(fs_sync(h, FS_SYNC_ALL, NULL), TIND_EIO);
    CHECK_RC(fs_size(h, &size, NULL), TIND_EIO);
    CHECK_RC(fs_truncate(h, 0, NULL), TIND_EIO);
    CHECK_RC(fs_allocate(h, 0, 10, FS_ALLOC_HINT, NULL), TIND_EIO);
    CHECK_OK(fs_close(h, NULL));
    expect_file(f, "/f", "abc", 3);      /* the stale write did not land */

    /* the crash released the lock; the old handle's unlock frees only */
    CHECK_OK(fs_lock_file(f, "/LOCK", &lk2, NULL));
    CHECK_OK(fs_unlock(lk, NULL));
    CHECK_RC(fs_lock_file(f, "/LOCK", &lk, NULL), TIND_EBUSY);
    CHECK_OK(fs_unlock(lk2, NULL));

    /* a fresh handle works */
    CHECK_OK(fs_open(f, "/f", FS_O_READ, &h, NULL));
    CHECK_OK(fs_read(h, b, 3, 0, &got, NULL));
    CHECK_MEM(b, got, "abc", 3);
    CHECK_OK(fs_close(h, NULL));

    /* an open-but-unlinked file outlives a crash that drops its last name */
    CHECK_OK(fs_open(f, "/g", FS_O_WRITE | FS_O_CREATE, &h, NULL));
    CHECK_OK(fs_unlink(f, "/g", NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_DIRENTS, 2));
    CHECK_RC(fs_write(h, "x", 1, 0, NULL), TIND_EIO);
    CHECK_OK(fs_close(h, NULL));
    CHECK_RC(fs_mem_crash(NULL, 0, 0), TIND_EINVAL);
    fs_destroy(f);
}

/* After a crash the crashed process's other threads are dead: their changes
 * fail with TIND_EIO (a writable open, rename, link, unlink, mkdir, rmdir,
 * folder sync, and writes through a handle opened by the crashing thread),
 * their reads work; the crashing thread goes on; the next lock ends it. */
typedef struct dead_arg {
    fs *f;
    fs_file *h;        /* opened by the crashing thread after the crash */
    int expect;        /* TIND_EIO or TIND_OK */
} dead_arg;

static void *dead_thread(void *p)
{
    dead_arg *a = p;
    fs_file *h = NULL;
    char b[8];
    size_t got = 0;
    CHECK_RC(fs_open(a->f, "/new", FS_O_WRITE | FS_O_CREATE, &h, NULL), a->expect);
    if (h)
        CHECK_OK(fs_close(h, NULL));
    CHECK_RC(fs_write(a->h, "zz", 2, 0, NULL), a->expect);
    CHECK_RC(fs_sync(a->h, FS_SYNC_DATA, NULL), a->expect);
    CHECK_OK(fs_read(a->h, b, 2, 0, &got, NULL));
    CHECK_RC(fs_sync_dir(a->f, "/", NULL), a->expect);
    CHECK_RC(fs_mkdir(a->f, "/d2", NULL), a->expect);
    CHECK_RC(fs_rename(a->f, "/a", "/a2", NULL), a->expect);
    CHECK_RC(fs_link(a->f, a->expect ? "/a" : "/a2", "/a3", NULL), a->expect);
    CHECK_RC(fs_unlink(a->f, a->expect ? "/a" : "/a3", NULL), a->expect);
    CHECK_RC(fs_rmdir(a->f, "/d", NULL), a->expect);
    return NULL;
}

TEST(mem_crash_other_threads_dead)
{
    fs *f = fs_mem_new();
    fs_file *h = NULL;
    fs_lock *lk = NULL;
    CHECK_OK(fs_open(f, "/a", FS_O_WRITE | FS_O_CREATE, &h, NULL));
    CHECK_OK(fs_close(h, NULL));
    CHECK_OK(fs_mkdir(f, "/d", NULL));
    CHECK_OK(fs_sync_dir(f, "/", NULL));
    CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_UNSYNCED, 3));
    /* the crashing thread: its changes land */
    CHECK_OK(fs_open(f, "/mine", FS_O_WRITE | FS_O_CREATE, &h, NULL));
    CHECK_OK(fs_write(h, "ok", 2, 0, NULL));
    dead_arg a = {f, h, TIND_EIO};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, dead_thread, &a) == 0);
    pthread_join(t, NULL);
    expect_file(f, "/mine", "ok", 2);
    CHECK_RC(fs_exists(f, "/new", NULL), TIND_ENOENT);
    CHECK_OK(fs_exists(f, "/a", NULL));
    /* a new open's lock: every thread may change the tree again */
    CHECK_OK(fs_lock_file(f, "/LOCK", &lk, NULL));
    a.expect = TIND_OK;
    CHECK(pthread_create(&t, NULL, dead_thread, &a) == 0);
    pthread_join(t, NULL);
    CHECK_OK(fs_exists(f, "/new", NULL));
    CHECK_OK(fs_close(h, NULL));
    CHECK_OK(fs_unlock(lk, NULL));
    fs_destroy(f);
}

/* Error paths of the mem tree that the POSIX fs also has. */
TEST(mem_errors)
{
    fs *f = fs_mem_new();
    fs_file *h = NULL;
    CHECK_OK(fs_mkdir(f, "/d", NULL));
    put_file(f, "/d/a", "a", 1);
    CHECK(fs_open(f, "/d", FS_O_READ, &h, NULL) != TIND_OK);          /* a folder */
    CHECK(fs_open(f, "/d/a/x", FS_O_READ, &h, NULL) != TIND_OK);      /* not a folder */
    CHECK(fs_unlink(f, "/d", NULL) != TIND_OK);
    CHECK(fs_rmdir(f, "/d/a", NULL) != TIND_OK);
    CHECK(fs_rename(f, "/d", "/d/sub", NULL) != TIND_OK);             /* below itself */
    CHECK(fs_rename(f, "/d/a", "/d", NULL) != TIND_OK);               /* file over folder */
    CHECK(fs_link(f, "/d", "/e", NULL) != TIND_OK);                   /* folders: no links */
    CHECK(fs_sync_dir(f, "/d/a", NULL) != TIND_OK);
    CHECK(fs_rmdir(f, "/", NULL) != TIND_OK);
    CHECK_RC(fs_mkdir(f, "/", NULL), TIND_EEXIST);
    /* renaming a folder moves its contents; renaming onto itself is a no-op */
    CHECK_OK(fs_rename(f, "/d", "/e", NULL));
    expect_file(f, "/e/a", "a", 1);
    CHECK_OK(fs_rename(f, "/e/a", "/e/a", NULL));
    expect_file(f, "/e/a", "a", 1);
    fs_destroy(f);
}

/* ============================================================ fault wrapper */

static int write_at(fs_file *h, uint64_t off, tind_err *err)
{
    return fs_write(h, "0123456789", 10, off, err);
}

TEST(fault_nth_once_and_forever)
{
    fs *f = fs_fault_new(fs_mem_new(), 1);
    fs_file *h = NULL;
    tind_err err;
    CHECK_OK(fs_open(f, "/x", FS_O_WRITE | FS_O_CREATE, &h, NULL));

    fs_fault_arm(f, FS_CALL_WRITE, 3, FS_FAULT_ERRNO, EIO, 0, NULL);
    CHECK_OK(write_at(h, 0, NULL));
    CHECK_OK(write_at(h, 10, NULL));
    err_clear(&err);
    CHECK_RC(write_at(h, 20, &err), TIND_EIO);
    CHECK(strstr(err.msg, "injected fault") != NULL);
    CHECK(strstr(err.msg, "/x") != NULL);
    CHECK_OK(write_at(h, 20, NULL));
    CHECK_OK(write_at(h, 30, NULL));
    CHECK_EQ(fs_fault_injected(f), 1);

    fs_fault_arm(f, FS_CALL_WRITE, 2, FS_FAULT_ERRNO, ENOSPC, 1, NULL);
    CHECK_OK(write_at(h, 40, NULL));
    for (int i = 0; i < 5; i++)
        CHECK_RC(write_at(h, 50, NULL), TIND_ENOSPC);
    CHECK_EQ(fs_fault_injected(f), 6);
    /* the failed writes did not reach the file */
    uint64_t size = 0;
    CHECK_OK(fs_size(h, &size, NULL));
    CHECK_EQ(size, 50);
    fs_fault_disarm(f);
    CHECK_OK(write_at(h, 50, NULL));

    /* errno mapping and a sync failure */
    fs_fault_arm(f, FS_CALL_OPEN, 1, FS_FAULT_ERRNO, EMFILE, 0, NULL);
    fs_file *h2 = NULL;
    CHECK_RC(fs_open(f, "/x", FS_O_READ, &h2, NULL), TIND_EMFILE);
    CHECK(h2 == NULL);
    fs_fault_arm(f, FS_CALL_SYNC, 1, FS_FAULT_ERRNO, EIO, 0, NULL);
    CHECK_RC(fs_sync(h, FS_SYNC_DATA, NULL), TIND_EIO);
    CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
    /* errnum 0 means EIO */
    fs_fault_arm(f, FS_CALL_SIZE, 1, FS_FAULT_ERRNO, 0, 0, NULL);
    CHECK_RC(fs_size(h, &size, NULL), TIND_EIO);
    /* a failed close still closes (ASan would see a leak otherwise) */
    fs_fault_arm(f, FS_CALL_CLOSE, 1, FS_FAULT_ERRNO, EIO, 0, NULL);
    CHECK_RC(fs_close(h, NULL), TIND_EIO);
    /* path calls */
    fs_fault_arm(f, FS_CALL_MKDIR, 1, FS_FAULT_ERRNO, EIO, 0, NULL);
    CHECK_RC(fs_mkdir(f, "/d", NULL), TIND_EIO);
    CHECK_RC(fs_exists(f, "/d", NULL), TIND_ENOENT);
    fs_fault_arm(f, FS_CALL_LOCK, 1, FS_FAULT_ERRNO, EIO, 0, NULL);
    fs_lock *lk = NULL;
    CHECK_RC(fs_lock_file(f, "/LOCK", &lk, NULL), TIND_EIO);
    CHECK_OK(fs_lock_file(f, "/LOCK", &lk, NULL));
    CHECK_OK(fs_unlock(lk, NULL));
    fs_fault_arm(f, FS_CALL_SYNC_DIR, 1, FS_FAULT_SHORT_WRITE, 0, 0, NULL);   /* degrades */
    CHECK_RC(fs_sync_dir(f, "/", NULL), TIND_ENOSPC);
    fs_destroy(f);
}

TEST(fault_path_filter)
{
    fs *inner = fs_mem_new();
    fs *f = fs_fault_new(inner, 0);
    fs_file *h = NULL;
    CHECK_OK(fs_mkdir(f, "/db", NULL));
    fs_fault_arm(f, FS_CALL_OPEN, 2, FS_FAULT_ERRNO, EIO, 0, "journal");
    /* non-matching calls neither fail nor count toward nth */
    for (int i = 0; i < 3; i++) {
        CHECK_OK(fs_open(f, "/db/000001.tbl", FS_O_WRITE | FS_O_CREATE, &h, NULL));
        CHECK_OK(fs_close(h, NULL));
    }
    CHECK_OK(fs_open(f, "/db/journal-1", FS_O_WRITE | FS_O_CREATE, &h, NULL));
    CHECK_OK(fs_close(h, NULL));
    CHECK_RC(fs_open(f, "/db/journal-1", FS_O_WRITE, &h, NULL), TIND_EIO);
    CHECK_OK(fs_open(f, "/db/journal-1", FS_O_WRITE, &h, NULL));
    /* file calls filter on the file's path */
    fs_fault_arm(f, FS_CALL_WRITE, 1, FS_FAULT_ERRNO, EIO, 1, ".tbl");
    CHECK_OK(fs_write(h, "j", 1, 0, NULL));
    fs_file *t = NULL;
    CHECK_OK(fs_open(f, "/db/000001.tbl", FS_O_WRITE, &t, NULL));
    CHECK_RC(fs_write(t, "t", 1, 0, NULL), TIND_EIO);
    CHECK_OK(fs_write(h, "j", 1, 1, NULL));
    CHECK_OK(fs_close(t, NULL));
    CHECK_OK(fs_close(h, NULL));
    /* rename matches either path */
    fs_fault_arm(f, FS_CALL_RENAME, 1, FS_FAULT_ERRNO, EIO, 1, "CURRENT");
    CHECK_OK(fs_rename(f, "/db/000001.tbl", "/db/000002.tbl", NULL));
    CHECK_RC(fs_rename(f, "/db/000002.tbl", "/db/CURRENT", NULL), TIND_EIO);
    CHECK_RC(fs_write_atomic(f, "/db", "CURRENT", "x", 1, NULL), TIND_EIO);
    CHECK_RC(fs_exists(f, "/db/CURRENT.tmp", NULL), TIND_ENOENT);    /* cleaned up */
    CHECK_RC(fs_exists(f, "/db/CURRENT", NULL), TIND_ENOENT);
    fs_destroy(f);      /* does not own inner */
    CHECK_OK(fs_exists(inner, "/db/000002.tbl", NULL));
    fs_destroy(inner);
}

TEST(fault_short_write_read_bitflip)
{
    fs *f = fs_fault_new(fs_mem_new(), 1);
    fs_file *h = NULL;
    uint8_t data[100], back[100];
    fill(data, sizeof data, 11);
    CHECK_OK(fs_open(f, "/x", FS_O_WRITE | FS_O_CREATE, &h, NULL));

    /* short write: a prefix lands, then ENOSPC */
    fs_fault_arm(f, FS_CALL_WRITE, 1, FS_FAULT_SHORT_WRITE, 0, 0, NULL);
    tind_err err;
    err_clear(&err);
    CHECK_RC(fs_write(h, data, 100, 0, &err), TIND_ENOSPC);
    CHECK(strstr(err.msg, "injected fault") != NULL);
    uint64_t size = 0;
    CHECK_OK(fs_size(h, &size, NULL));
    CHECK(size > 0 && size < 100);
    size_t got = 0;
    CHECK_OK(fs_read(h, back, 100, 0, &got, NULL));
    CHECK_EQ(got, size);
    CHECK_MEM(back, got, data, size);
    CHECK_OK(fs_write(h, data, 100, 0, NULL));

    /* short read: fewer bytes, TIND_OK; fs_read_exact turns it into corruption */
    fs_fault_arm(f, FS_CALL_READ, 1, FS_FAULT_SHORT_READ, 0, 0, NULL);
    CHECK_OK(fs_read(h, back, 100, 0, &got, NULL));
    CHECK(got < 100);
    CHECK_MEM(back, got, data, got);
    fs_fault_arm(f, FS_CALL_READ, 1, FS_FAULT_SHORT_READ, 0, 0, NULL);
    CHECK_RC(fs_read_exact(h, back, 100, 0, NULL), TIND_ECORRUPT);

    /* bit flip: exactly one bit differs, the file itself is untouched; the
     * flipped bit moves around */
    int first_byte = -1, moved = 0;
    for (int round = 0; round < 20; round++) {
        fs_fault_arm(f, FS_CALL_READ, 1, FS_FAULT_BIT_FLIP, 0, 0, NULL);
        CHECK_OK(fs_read(h, back, 100, 0, &got, NULL));
        CHECK_EQ(got, 100);
        int bits = 0;
        for (int i = 0; i < 100; i++) {
            bits += __builtin_popcount((unsigned)(back[i] ^ data[i]));
            if (back[i] != data[i]) {
                if (first_byte < 0)
                    first_byte = i;
                moved |= i != first_byte;
            }
        }
        CHECK_EQ(bits, 1);
        CHECK_OK(fs_read(h, back, 100, 0, &got, NULL));
        CHECK_MEM(back, got, data, 100);
    }
    CHECK(moved);
    /* read effects on other kinds degrade to an error */
    fs_fault_arm(f, FS_CALL_TRUNCATE, 1, FS_FAULT_BIT_FLIP, 0, 0, NULL);
    CHECK_RC(fs_truncate(h, 0, NULL), TIND_EIO);
    CHECK_OK(fs_close(h, NULL));
    fs_destroy(f);
}

TEST(fault_counters)
{
    fs *f = fs_fault_new(fs_mem_new(), 1);
    fs_file *h = NULL;
    CHECK_OK(fs_open(f, "/x", FS_O_WRITE | FS_O_CREATE, &h, NULL));
    for (int i = 0; i < 7; i++)
        CHECK_OK(write_at(h, (uint64_t)i * 10, NULL));
    CHECK_OK(fs_sync(h, FS_SYNC_ALL, NULL));
    CHECK_OK(fs_sync_dir(f, "/", NULL));
    CHECK_OK(fs_close(h, NULL));
    CHECK_EQ(fs_fault_calls(f, FS_CALL_OPEN), 1);
    CHECK_EQ(fs_fault_calls(f, FS_CALL_WRITE), 7);
    CHECK_EQ(fs_fault_calls(f, FS_CALL_SYNC), 1);
    CHECK_EQ(fs_fault_calls(f, FS_CALL_SYNC_DIR), 1);
    CHECK_EQ(fs_fault_calls(f, FS_CALL_CLOSE), 1);
    CHECK_EQ(fs_fault_calls(f, FS_CALL_READ), 0);
    CHECK_EQ(fs_fault_calls(f, FS_CALL_KINDS), 0);
    fs_fault_reset_counts(f);
    CHECK_EQ(fs_fault_calls(f, FS_CALL_WRITE), 0);
    CHECK(strcmp(fs_call_kind_name(FS_CALL_SYNC_DIR), "sync_dir") == 0);
    CHECK(strcmp(fs_call_kind_name(FS_CALL_CLOSE), "close") == 0);
    CHECK(strcmp(fs_call_kind_name(99), "unknown") == 0);
    /* the fs_fault_* calls ignore an fs that is not a fault wrapper */
    fs *m = fs_mem_new();
    fs_fault_arm(m, FS_CALL_OPEN, 1, FS_FAULT_ERRNO, EIO, 1, NULL);
    CHECK_EQ(fs_fault_calls(m, FS_CALL_OPEN), 0);
    CHECK_OK(fs_open(m, "/y", FS_O_WRITE | FS_O_CREATE, &h, NULL));
    CHECK_OK(fs_close(h, NULL));
    fs_destroy(m);
    fs_destroy(f);
}

/* Fault sweep over fs_write_atomic: fail each call in turn; the target holds
 * either the old or the new contents, never anything else, even after a
 * crash that drops what was not synced. */
TEST(fault_sweep_write_atomic)
{
    static const int kinds[] = {FS_CALL_OPEN, FS_CALL_WRITE, FS_CALL_SYNC, FS_CALL_CLOSE,
                                FS_CALL_RENAME, FS_CALL_SYNC_DIR};
    int tried = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        fs *mem = fs_mem_new();
        fs *f = fs_fault_new(mem, 0);
        CHECK_OK(fs_write_atomic(f, "/", "CURRENT", "old", 3, NULL));
        fs_fault_arm(f, kinds[k], 1, FS_FAULT_ERRNO, EIO, 0, NULL);
        int rc = fs_write_atomic(f, "/", "CURRENT", "new!", 4, NULL);
        CHECK(rc != TIND_OK);
        CHECK_EQ(fs_fault_injected(f), 1);
        uint8_t *d = NULL;
        size_t n = 0;
        CHECK_OK(fs_read_all(f, "/CURRENT", &d, &n, NULL));
        CHECK((n == 3 && memcmp(d, "old", 3) == 0) || (n == 4 && memcmp(d, "new!", 4) == 0));
        free(d);
        CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, (uint64_t)k));
        CHECK_OK(fs_read_all(f, "/CURRENT", &d, &n, NULL));
        CHECK((n == 3 && memcmp(d, "old", 3) == 0) || (n == 4 && memcmp(d, "new!", 4) == 0));
        free(d);
        fs_destroy(f);
        fs_destroy(mem);
        tried++;
    }
    CHECK_EQ(tried, 6);
}

/* ============================================================ concurrency */

typedef struct append_ctx {
    fs *f;
    int chunks;
    size_t chunk;
} append_ctx;

static void *appender(void *arg)
{
    append_ctx *c = arg;
    fs_file *h = NULL;
    uint8_t *buf = malloc(c->chunk);
    CHECK(buf != NULL);
    CHECK_OK(fs_open(c->f, "/log", FS_O_WRITE, &h, NULL));
    uint64_t off = 0;
    for (int i = 0; i < c->chunks; i++) {
        for (size_t j = 0; j < c->chunk; j++)
            buf[j] = (uint8_t)((off + j) * 7u);
        CHECK_OK(fs_write(h, buf, c->chunk, off, NULL));
        off += c->chunk;
        if (i % 16 == 0)
            CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
    }
    CHECK_OK(fs_close(h, NULL));
    free(buf);
    return NULL;
}

static void *tailer(void *arg)
{
    append_ctx *c = arg;
    fs_file *h = NULL;
    uint64_t want = (uint64_t)c->chunks * c->chunk;
    uint8_t *buf = malloc(want);
    CHECK(buf != NULL);
    CHECK_OK(fs_open(c->f, "/log", FS_O_READ, &h, NULL));
    uint64_t seen = 0;
    while (seen < want) {
        size_t got = 0;
        CHECK_OK(fs_read(h, buf, (size_t)(want - seen), seen, &got, NULL));
        for (size_t j = 0; j < got; j++)
            CHECK_EQ(buf[j], (uint8_t)((seen + j) * 7u));
        seen += got;
        uint64_t size = 0;
        CHECK_OK(fs_size(h, &size, NULL));
        CHECK(size >= seen);
    }
    CHECK_OK(fs_close(h, NULL));
    free(buf);
    return NULL;
}

TEST(concurrent_append_read)
{
    for (int variant = 0; variant < 2; variant++) {
        fs *mem = fs_mem_new();
        fs *f = variant ? fs_fault_new(mem, 1) : mem;
        fs_file *h = NULL;
        CHECK_OK(fs_open(f, "/log", FS_O_WRITE | FS_O_CREATE, &h, NULL));
        CHECK_OK(fs_close(h, NULL));
        append_ctx c = {f, 400, 333};
        pthread_t w, r1, r2;
        CHECK(pthread_create(&w, NULL, appender, &c) == 0);
        CHECK(pthread_create(&r1, NULL, tailer, &c) == 0);
        CHECK(pthread_create(&r2, NULL, tailer, &c) == 0);
        /* directory traffic from this thread at the same time */
        for (int i = 0; i < 200; i++) {
            char name[32];
            snprintf(name, sizeof name, "/t%d", i % 10);
            put_file(f, name, "z", 1);
            CHECK_OK(fs_sync_dir(f, "/", NULL));
            CHECK_OK(fs_unlink(f, name, NULL));
        }
        pthread_join(w, NULL);
        pthread_join(r1, NULL);
        pthread_join(r2, NULL);
        if (variant)
            CHECK_EQ(fs_fault_calls(f, FS_CALL_WRITE), 400 + 200);
        CHECK_EQ(file_len(f, "/log"), 400 * 333);
        fs_destroy(f);
    }
}

int main(void)
{
    check_seed_init(0x5eed0f5ull);
    RUN(contract_posix);
    RUN(contract_mem);
    RUN(contract_fault_over_mem);
    RUN(contract_crypt_over_mem);
    RUN(posix_lock_other_process);
    RUN(mem_crash_drop_unsynced);
    RUN(mem_crash_keep_prefix);
    RUN(mem_crash_tear_sector);
    RUN(mem_crash_drop_dirents);
    RUN(mem_crash_stale_handles);
    RUN(mem_crash_other_threads_dead);
    RUN(mem_errors);
    RUN(fault_nth_once_and_forever);
    RUN(fault_path_filter);
    RUN(fault_short_write_read_bitflip);
    RUN(fault_counters);
    RUN(fault_sweep_write_atomic);
    RUN(concurrent_append_read);
    return 0;
}
