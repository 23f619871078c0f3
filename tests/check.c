/* check.c -- test harness support. */
#include "check.h"

#include "tind_internal.h"
#include "format/filename.h"
#include "io/fs.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ftw.h>

uint64_t check_seed;
const char *check_current = "?";
void (*check_on_fail)(void);

void check_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "FAIL %s:%d in %s (seed %" PRIu64 "): ", file, line, check_current, check_seed);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    if (check_on_fail) {
        void (*f)(void) = check_on_fail;
        check_on_fail = NULL;
        f();
    }
    fflush(stderr);
    exit(1);
}

uint64_t check_seed_init(uint64_t fallback)
{
    const char *s = getenv("TIND_SEED");
    check_seed = s ? strtoull(s, NULL, 0) : fallback;
    return check_seed;
}

/* The watchdog: a hang becomes a failure naming the test (async-signal-safe). */
static void watchdog_fired(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL: a call never returned (watchdog) in ";
    ssize_t n = write(2, msg, sizeof msg - 1);
    n = write(2, check_current, strlen(check_current));
    n = write(2, "\n", 1);
    (void)n;
    _exit(1);
}

void check_watchdog(unsigned seconds)
{
    signal(SIGALRM, watchdog_fired);
    alarm(seconds);
}

double check_scale(void)
{
    const char *s = getenv("TIND_TEST_SCALE");
    double v = s ? atof(s) : 1.0;
    return v > 0 ? v : 1.0;
}

char *check_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/tind-%s-XXXXXX", base ? base : "/tmp", tag);
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        exit(1);
    }
    return path;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

void check_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int check_no_plaintext(const char *dir, const char *const *needles, size_t n)
{
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
            files += check_no_plaintext(path, needles, n);
            continue;
        }
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        char *data = malloc((size_t)st.st_size + 1);
        CHECK(data != NULL);
        size_t len = fread(data, 1, (size_t)st.st_size, f);
        fclose(f);
        for (size_t k = 0; k < n; k++) {
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

size_t check_count_blob_files(struct fs *mem)
{
    char **names = NULL;
    size_t n = 0, got = 0;
    CHECK_OK(fs_list(mem, "/db/tables", &names, &n, NULL));
    for (size_t i = 0; i < n; i++) {
        uint64_t num;
        got += fname_parse(names[i], &num) == FNAME_KIND_BLOB;
    }
    fs_list_free(names, n);
    return got;
}

tind_keyspace *check_small_ks(tind_db *db, const char *name, size_t memtable_size)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, memtable_size);
    tind_ks_options_set_table_size(ko, 4096);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_block_size(ko, 512);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, name, ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

static tind_db *open_checked(const char *path, const tind_options *o)
{
    tind_db *db;
    int rc = tind_open(path, o, &db);
    if (rc)
        fprintf(stderr, "open: %s\n", tind_errmsg(NULL));
    CHECK_OK(rc);
    return db;
}

tind_db *check_open_with(const char *path, tind_options *o)
{
    tind_db *db = open_checked(path, o);
    tind_options_free(o);
    return db;
}

tind_db *check_open_mem_opts(struct fs *mem, int background, tind_options *o)
{
    tind_options_set_fs(o, mem);
    tind_options_set_no_background(o, !background);
    return open_checked("/db", o);
}

tind_db *check_open_mem(struct fs *mem, int background)
{
    tind_options *o = tind_options_new();
    tind_db *db = check_open_mem_opts(mem, background, o);
    tind_options_free(o);
    return db;
}
