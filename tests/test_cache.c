/*
 * test_cache.c -- the block cache (cache.h) and the open-file cache
 * (fdcache.h): lookups, capacity, pinning, replacement, erase, counters, and
 * multi-threaded runs that check every deleter/close runs exactly once.
 *
 * TSAN-LABEL: the concurrent tests below also run under `make test-tsan`.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "cache/cache.h"
#include "cache/fdcache.h"
#include "check.h"
#include "io/fs.h"
#include "util/rand.h"
#include "util/status.h"

/* ---- block cache helpers ------------------------------------------------ */

/* A value that remembers its key, so a lookup can prove it got the right one. */
typedef struct tval {
    uint64_t id, offset;
    uint64_t magic;
} tval;

#define TVAL_MAGIC 0x5CA1AB1EC0FFEE00ull

typedef struct tcounter {
    atomic_uint_fast64_t deleted;
} tcounter;

static void tval_deleter(void *value, void *ctx)
{
    tval *v = value;
    tcounter *t = ctx;
    if (v->magic != TVAL_MAGIC)
        check_fail(__FILE__, __LINE__, "deleter: value %p deleted twice or corrupt", value);
    v->magic = 0;
    atomic_fetch_add(&t->deleted, 1);
    free(v);
}

static tval *tval_new(uint64_t id, uint64_t offset)
{
    tval *v = malloc(sizeof *v);
    CHECK(v != NULL);
    v->id = id;
    v->offset = offset;
    v->magic = TVAL_MAGIC;
    return v;
}

static cache_handle *put(cache *c, tcounter *t, uint64_t id, uint64_t off, size_t charge)
{
    cache_handle *h = cache_insert(c, id, off, tval_new(id, off), charge, tval_deleter, t);
    CHECK(h != NULL);
    return h;
}

/* 1 if (id, off) is cached (the lookup is released at once). */
static int present(cache *c, uint64_t id, uint64_t off)
{
    cache_handle *h = cache_lookup(c, id, off);
    if (!h)
        return 0;
    tval *v = cache_value(h);
    CHECK(v->magic == TVAL_MAGIC && v->id == id && v->offset == off);
    cache_release(c, h);
    return 1;
}

static cache_stats stats(cache *c)
{
    cache_stats s;
    cache_get_stats(c, &s);
    return s;
}

/* ---- block cache tests ---------------------------------------------------- */

TEST(basic)
{
    tcounter t = {0};
    cache *c = cache_new(1 << 20, -1);
    CHECK(c != NULL);
    CHECK(cache_lookup(c, 1, 0) == NULL);
    cache_handle *h = put(c, &t, 1, 0, 100);
    tval *v = cache_value(h);
    CHECK(v->id == 1 && v->offset == 0);
    cache_release(c, h);
    for (uint64_t off = 1; off < 50; off++)
        cache_release(c, put(c, &t, 1, off * 4096, 100));
    for (uint64_t off = 1; off < 50; off++)
        CHECK(present(c, 1, off * 4096));
    CHECK(!present(c, 2, 4096));       /* same offset, other id */
    CHECK(!present(c, 1, 4097));
    cache_handle *a = cache_lookup(c, 1, 0), *b = cache_lookup(c, 1, 0);
    CHECK(a != NULL && a == b);        /* two holders of one entry */
    CHECK_EQ(stats(c).pinned, 100);
    cache_release(c, a);
    CHECK_EQ(stats(c).pinned, 100);
    cache_release(c, b);
    CHECK_EQ(stats(c).pinned, 0);
    CHECK_EQ(stats(c).usage, 50 * 100);
    CHECK_EQ(atomic_load(&t.deleted), 0);
    cache_free(c);
    CHECK_EQ(atomic_load(&t.deleted), 50);
}

TEST(new_id)
{
    cache *c = cache_new(0, 0);
    CHECK(c != NULL);
    CHECK_EQ(cache_new_id(c), 1);
    CHECK_EQ(cache_new_id(c), 2);
    CHECK_EQ(cache_new_id(c), 3);
    cache_free(c);
}

TEST(capacity_lru)
{
    tcounter t = {0};
    /* One shard so that LRU order is global and exact. */
    cache *c = cache_new(10 * 1000, 0);
    CHECK(c != NULL);
    for (uint64_t i = 0; i < 10; i++)
        cache_release(c, put(c, &t, 7, i, 1000));
    CHECK_EQ(stats(c).usage, 10000);
    CHECK_EQ(stats(c).evictions, 0);
    CHECK(present(c, 7, 0));           /* 0 becomes the most recently used */
    cache_release(c, put(c, &t, 7, 10, 1000));
    CHECK_EQ(stats(c).evictions, 1);
    CHECK(present(c, 7, 0));
    CHECK(!present(c, 7, 1));          /* the oldest unused one went */
    CHECK_EQ(atomic_load(&t.deleted), 1);
    CHECK(stats(c).usage <= 10000);

    /* Random charges and keys over a sharded cache: usage never passes the
     * capacity once nothing is held, and the deleters balance the inserts. */
    cache_free(c);
    CHECK_EQ(atomic_load(&t.deleted), 11);
    atomic_store(&t.deleted, 0);
    trng r; trng_seed(&r, check_seed);
    size_t cap = 3u << 20;
    c = cache_new(cap, -1);
    CHECK(c != NULL);
    uint64_t inserts = 0;
    for (int i = 0; i < 20000; i++) {
        uint64_t id = 1 + trng_below(&r, 8), off = trng_below(&r, 2000) * 4096;
        if (trng_below(&r, 2)) {
            cache_release(c, put(c, &t, id, off, 1 + trng_below(&r, 16384)));
            inserts++;
        } else {
            present(c, id, off);
        }
        cache_stats s = stats(c);
        CHECK(s.usage <= cap);
        CHECK_EQ(s.pinned, 0);
    }
    cache_stats s = stats(c);
    CHECK_EQ(s.inserts, inserts);
    CHECK(s.evictions > 0);
    CHECK(s.usage > cap / 2);          /* the shards really fill up */
    cache_free(c);
    CHECK_EQ(atomic_load(&t.deleted), inserts);
}

TEST(held_never_evicted)
{
    tcounter t = {0};
    cache *c = cache_new(8 * 1000, 1);
    CHECK(c != NULL);
    cache_handle *held[6];
    for (uint64_t i = 0; i < 6; i++)
        held[i] = put(c, &t, 3, i, 1000);
    CHECK_EQ(stats(c).pinned, 6000);
    for (uint64_t i = 100; i < 400; i++)
        cache_release(c, put(c, &t, 3, i, 1000));
    for (uint64_t i = 0; i < 6; i++) {
        tval *v = cache_value(held[i]);
        CHECK(v->magic == TVAL_MAGIC && v->offset == i);
        CHECK(present(c, 3, i));        /* still findable too */
    }
    cache_stats s = stats(c);
    CHECK_EQ(s.pinned, 6000);
    CHECK(s.usage <= 8000 + 6000);
    CHECK_EQ(atomic_load(&t.deleted) + s.usage / 1000, 306);

    /* An entry bigger than the whole cache is usable while held, gone on release. */
    cache_handle *big = put(c, &t, 4, 0, 100000);
    CHECK(((tval *)cache_value(big))->id == 4);
    CHECK(present(c, 4, 0));
    CHECK(stats(c).usage >= 100000);
    cache_release(c, big);
    CHECK(!present(c, 4, 0));
    CHECK(stats(c).usage <= 8000 + 6000);

    for (int i = 0; i < 6; i++)
        cache_release(c, held[i]);
    s = stats(c);
    CHECK_EQ(s.pinned, 0);
    CHECK(s.usage <= 8000);
    cache_free(c);
    CHECK_EQ(atomic_load(&t.deleted), 307);

    /* Capacity 0: nothing survives its release. */
    atomic_store(&t.deleted, 0);
    c = cache_new(0, -1);
    CHECK(c != NULL);
    cache_handle *h = put(c, &t, 1, 1, 10);
    CHECK(present(c, 1, 1));
    cache_release(c, h);
    CHECK_EQ(atomic_load(&t.deleted), 1);
    CHECK(!present(c, 1, 1));
    CHECK_EQ(stats(c).usage, 0);
    cache_free(c);
}

TEST(replace)
{
    tcounter t = {0};
    cache *c = cache_new(1 << 20, 0);
    CHECK(c != NULL);
    cache_handle *old = put(c, &t, 5, 64, 300);
    tval *ov = cache_value(old);
    cache_handle *neu = put(c, &t, 5, 64, 200);
    CHECK(cache_value(neu) != ov);
    CHECK_EQ(atomic_load(&t.deleted), 0);     /* old still held */
    CHECK_EQ(stats(c).usage, 500);
    CHECK_EQ(stats(c).pinned, 500);
    cache_handle *l = cache_lookup(c, 5, 64);
    CHECK(l == neu);
    cache_release(c, l);
    CHECK(ov->magic == TVAL_MAGIC);
    cache_release(c, old);                     /* last holder of the replaced entry */
    CHECK_EQ(atomic_load(&t.deleted), 1);
    CHECK_EQ(stats(c).usage, 200);
    CHECK_EQ(stats(c).pinned, 200);
    cache_release(c, neu);
    CHECK(present(c, 5, 64));

    /* Replacing an unheld entry frees it at once. */
    cache_release(c, put(c, &t, 5, 64, 100));
    CHECK_EQ(atomic_load(&t.deleted), 2);
    CHECK_EQ(stats(c).usage, 100);
    cache_free(c);
    CHECK_EQ(atomic_load(&t.deleted), 3);
}

TEST(erase_id)
{
    tcounter t = {0};
    cache *c = cache_new(4 << 20, -1);
    CHECK(c != NULL);
    for (uint64_t off = 0; off < 200; off++) {
        cache_release(c, put(c, &t, 1, off, 10));
        cache_release(c, put(c, &t, 2, off, 10));
    }
    cache_handle *held = cache_lookup(c, 1, 7);
    CHECK(held != NULL);
    cache_erase_id(c, 1);
    CHECK_EQ(atomic_load(&t.deleted), 199);
    for (uint64_t off = 0; off < 200; off++) {
        CHECK(!present(c, 1, off));
        CHECK(present(c, 2, off));
    }
    tval *v = cache_value(held);
    CHECK(v->magic == TVAL_MAGIC && v->id == 1 && v->offset == 7);
    CHECK_EQ(stats(c).usage, 2010);
    cache_release(c, held);
    CHECK_EQ(atomic_load(&t.deleted), 200);
    CHECK_EQ(stats(c).usage, 2000);
    cache_erase_id(c, 99);                     /* unknown id: nothing happens */
    CHECK_EQ(stats(c).usage, 2000);
    /* the id can be filled again */
    cache_release(c, put(c, &t, 1, 7, 10));
    CHECK(present(c, 1, 7));
    cache_free(c);
    CHECK_EQ(atomic_load(&t.deleted), 401);
}

/* cache_insert_aux's word comes back with every lookup, replaced with its
 * entry; cache_insert's is 0. */
TEST(aux)
{
    cache *c = cache_new(1 << 20, 2);
    CHECK(c != NULL);
    static int v1, v2, v3;
    cache_release(c, cache_insert(c, 1, 0, &v1, 10, NULL, NULL));
    cache_release(c, cache_insert_aux(c, 1, 64, &v2, 10, NULL, NULL, UINT64_C(0xfedcba9876543210)));
    cache_handle *h = cache_lookup(c, 1, 0);
    CHECK(h != NULL && cache_aux(h) == 0 && cache_value(h) == &v1);
    cache_release(c, h);
    h = cache_lookup(c, 1, 64);
    CHECK(h != NULL && cache_aux(h) == UINT64_C(0xfedcba9876543210) && cache_value(h) == &v2);
    cache_handle *old = h; /* held across a replacement: keeps its own word */
    cache_release(c, cache_insert_aux(c, 1, 64, &v3, 10, NULL, NULL, 7));
    h = cache_lookup(c, 1, 64);
    CHECK(h != NULL && cache_aux(h) == 7 && cache_value(h) == &v3);
    CHECK(cache_aux(old) == UINT64_C(0xfedcba9876543210));
    cache_release(c, old);
    cache_release(c, h);
    cache_free(c);
}

TEST(counters)
{
    tcounter t = {0};
    cache *c = cache_new(1000, 0);
    CHECK(c != NULL);
    cache_stats s = stats(c);
    CHECK(s.hits == 0 && s.misses == 0 && s.inserts == 0 && s.evictions == 0);
    CHECK_EQ(s.capacity, 1000);
    CHECK(!present(c, 1, 1));                  /* miss 1 */
    cache_release(c, put(c, &t, 1, 1, 400));   /* insert 1 */
    CHECK(present(c, 1, 1));                   /* hit 1 */
    CHECK(present(c, 1, 1));                   /* hit 2 */
    CHECK(!present(c, 1, 2));                  /* miss 2 */
    cache_release(c, put(c, &t, 1, 2, 400));   /* insert 2 */
    /* insert 3 evicts (1,2): (1,1), older, was hit since its insert and gets
     * a second chance (moved to the newest end, its mark cleared) */
    cache_release(c, put(c, &t, 1, 3, 400));
    CHECK(!present(c, 1, 2));                  /* miss 3 */
    CHECK(present(c, 1, 3));                   /* hit 3 */
    s = stats(c);
    CHECK_EQ(s.hits, 3);
    CHECK_EQ(s.misses, 3);
    CHECK_EQ(s.inserts, 3);
    CHECK_EQ(s.evictions, 1);
    CHECK_EQ(s.usage, 800);

    cache_set_capacity(c, 500);                /* evicts (1,1): not hit since its second chance */
    s = stats(c);
    CHECK_EQ(s.capacity, 500);
    CHECK_EQ(s.usage, 400);
    CHECK_EQ(s.evictions, 2);
    CHECK(present(c, 1, 3));
    cache_set_capacity(c, 0);
    CHECK_EQ(stats(c).usage, 0);
    CHECK_EQ(atomic_load(&t.deleted), 3);
    cache_free(c);

    /* The shards split the capacity exactly: filled with 1-byte entries, a
     * 16-shard cache holds exactly its capacity (1003 = 16 * 62 + 11). */
    atomic_store(&t.deleted, 0);
    c = cache_new(1003, 4);
    CHECK(c != NULL);
    for (uint64_t i = 0; i < 20000; i++)
        cache_release(c, put(c, &t, 1, i, 1));
    s = stats(c);
    CHECK_EQ(s.usage, 1003);
    CHECK_EQ(s.evictions, 20000 - 1003);
    cache_free(c);
    CHECK_EQ(atomic_load(&t.deleted), 20000);
}

/* A deleter that re-enters the cache (values that hold other handles):
 * deleters must not run under a shard lock. */
typedef struct reenter_ctx {
    cache *c;
    tcounter *t;
} reenter_ctx;

static void reenter_deleter(void *value, void *ctx)
{
    reenter_ctx *rc = ctx;
    cache_stats s;
    cache_get_stats(rc->c, &s);
    (void)cache_lookup(rc->c, 999, 999);       /* a miss: nothing to release */
    tval_deleter(value, rc->t);
}

TEST(deleter_reentry)
{
    tcounter t = {0};
    cache *c = cache_new(100, 0);
    CHECK(c != NULL);
    reenter_ctx rc = {c, &t};
    for (uint64_t i = 0; i < 10; i++)
        cache_release(c, cache_insert(c, 1, i, tval_new(1, i), 60, reenter_deleter, &rc));
    CHECK_EQ(atomic_load(&t.deleted), 9);
    cache_erase_id(c, 1);
    CHECK_EQ(atomic_load(&t.deleted), 10);
    cache_free(c);
}

/* ---- concurrent block cache --------------------------------------------- */

typedef struct cthread {
    cache *c;
    tcounter *t;
    uint64_t seed;
    double seconds;
    uint64_t inserts, ops;
} cthread;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *cache_worker(void *arg)
{
    cthread *w = arg;
    trng r; trng_seed(&r, w->seed);
    cache_handle *held[8] = {0};
    double end = now_seconds() + w->seconds;
    while (1) {
        if ((w->ops & 255) == 0 && now_seconds() > end)
            break;
        w->ops++;
        uint64_t id = 1 + trng_below(&r, 4), off = trng_below(&r, 256);
        int slot = (int)trng_below(&r, 8);
        if (held[slot]) {
            cache_release(w->c, held[slot]);
            held[slot] = NULL;
        }
        uint64_t op = trng_below(&r, 1000);
        cache_handle *h;
        if (op < 600) {
            h = cache_lookup(w->c, id, off);
        } else if (op < 995) {
            h = cache_insert(w->c, id, off, tval_new(id, off), 64 + trng_below(&r, 512),
                             tval_deleter, w->t);
            CHECK(h != NULL);
            w->inserts++;
        } else if (op < 999) {
            cache_erase_id(w->c, id);
            continue;
        } else {
            cache_set_capacity(w->c, 8192 + trng_below(&r, 32768));
            continue;
        }
        if (h) {
            tval *v = cache_value(h);
            CHECK(v->magic == TVAL_MAGIC && v->id == id && v->offset == off);
            if (trng_below(&r, 4) == 0)
                held[slot] = h;         /* keep it pinned for a while */
            else
                cache_release(w->c, h);
        }
    }
    for (int i = 0; i < 8; i++)
        if (held[i])
            cache_release(w->c, held[i]);
    return NULL;
}

TEST(concurrent)
{
    enum { THREADS = 4 };
    tcounter t = {0};
    cache *c = cache_new(32 << 10, 2);
    CHECK(c != NULL);
    cthread w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (cthread){.c = c, .t = &t, .seed = check_seed + (uint64_t)i * 7919,
                         .seconds = 1.0 * check_scale()};
        CHECK(pthread_create(&th[i], NULL, cache_worker, &w[i]) == 0);
    }
    uint64_t inserts = 0, ops = 0;
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        inserts += w[i].inserts;
        ops += w[i].ops;
    }
    cache_stats s = stats(c);
    CHECK_EQ(s.pinned, 0);
    CHECK(s.usage <= s.capacity);
    CHECK_EQ(s.inserts, inserts);
    CHECK(ops > 1000);
    cache_free(c);
    CHECK_EQ(atomic_load(&t.deleted), inserts);
}

/* ---- fd cache ------------------------------------------------------------- */

/* A counting fs wrapper: how many files were opened and closed. */
typedef struct cnt_fs {
    fs base;
    fs *inner;
    atomic_uint_fast64_t opens, closes;
    /* A one-shot hook run inside the next open, after the inner open: it
     * stands for another thread acting while fdc_get has its mutex released. */
    void (*on_open)(struct cnt_fs *cf);
    fd_cache *hook_cache;
    fdc_handle *hook_handle;
    uint64_t max_live;            /* > 0: opens past this many live files fail with EMFILE */
} cnt_fs;

typedef struct cnt_file {
    fs_file base;
    fs_file *inner;
} cnt_file;

static int cnt_open(fs *fsys, const char *path, int flags, fs_file **out, tind_err *err)
{
    cnt_fs *cf = (cnt_fs *)fsys;
    *out = NULL;
    if (cf->max_live && atomic_load(&cf->opens) - atomic_load(&cf->closes) >= cf->max_live)
        return err_set(err, TIND_EMFILE, "open '%s': Too many open files", path);
    cnt_file *f = calloc(1, sizeof *f);
    if (!f)
        return err_set(err, TIND_ENOMEM, "open '%s': out of memory", path);
    int rc = fs_open(cf->inner, path, flags, &f->inner, err);
    if (rc != TIND_OK) {
        free(f);
        return rc;
    }
    f->base.owner = fsys;
    f->base.path = f->inner->path;
    atomic_fetch_add(&cf->opens, 1);
    *out = &f->base;
    void (*hook)(cnt_fs *) = cf->on_open;  /* only set by single-threaded tests */
    if (hook) {
        cf->on_open = NULL;
        hook(cf);
    }
    return TIND_OK;
}

static int cnt_close(fs_file *file, tind_err *err)
{
    cnt_file *f = (cnt_file *)file;
    cnt_fs *cf = (cnt_fs *)file->owner;
    atomic_fetch_add(&cf->closes, 1);
    int rc = fs_close(f->inner, err);
    free(f);
    return rc;
}

static int cnt_read(fs_file *file, void *buf, size_t n, uint64_t off, size_t *got, tind_err *err)
{
    return fs_read(((cnt_file *)file)->inner, buf, n, off, got, err);
}

static void cnt_destroy(fs *fsys)
{
    cnt_fs *cf = (cnt_fs *)fsys;
    fs_destroy(cf->inner);
    free(cf);
}

static const fs_ops cnt_ops = {
    .open = cnt_open, .close = cnt_close, .read = cnt_read, .destroy = cnt_destroy,
};

/* A mem fs holding files f0..f(n-1), each containing "file <i>", wrapped to count. */
static cnt_fs *files_new(int n)
{
    fs *mem = fs_mem_new();
    CHECK(mem != NULL);
    for (int i = 0; i < n; i++) {
        char path[32], body[32];
        snprintf(path, sizeof path, "f%d", i);
        int len = snprintf(body, sizeof body, "file %d", i);
        fs_file *f;
        CHECK_OK(fs_open(mem, path, FS_O_WRITE | FS_O_CREATE, &f, NULL));
        CHECK_OK(fs_write(f, body, (size_t)len, 0, NULL));
        CHECK_OK(fs_close(f, NULL));
    }
    cnt_fs *cf = calloc(1, sizeof *cf);
    CHECK(cf != NULL);
    cf->base.ops = &cnt_ops;
    cf->base.name = "count";
    cf->inner = mem;
    return cf;
}

/* Gets file i under id i and checks its contents. */
static fdc_handle *get_file(fd_cache *c, uint64_t id, int i)
{
    char path[32], want[32], got[32];
    snprintf(path, sizeof path, "f%d", i);
    int len = snprintf(want, sizeof want, "file %d", i);
    fdc_handle *h = NULL;
    tind_err err;
    CHECK_OK(fdc_get(c, id, path, &h, &err));
    CHECK(h != NULL);
    size_t n = 0;
    CHECK_OK(fs_read(fdc_file(h), got, sizeof got, 0, &n, NULL));
    CHECK_MEM(got, n, want, (size_t)len);
    return h;
}

static uint64_t cnt_live(cnt_fs *cf)
{
    return atomic_load(&cf->opens) - atomic_load(&cf->closes);
}

TEST(fdc_limit)
{
    cnt_fs *cf = files_new(20);
    fd_cache *c = fdc_new(&cf->base, 4);
    CHECK(c != NULL);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 20; i++) {
            fdc_release(c, get_file(c, (uint64_t)i, i));
            CHECK(fdc_open_count(c) <= 4);
            CHECK_EQ(cnt_live(cf), fdc_open_count(c));
        }
    CHECK_EQ(fdc_open_count(c), 4);
    CHECK_EQ(atomic_load(&cf->opens), 60);       /* LRU of 4 over 20 files: always a miss */
    /* a reused file is not reopened; the LRU keeps the recently used */
    uint64_t opens = atomic_load(&cf->opens);
    for (int k = 0; k < 10; k++) {
        fdc_release(c, get_file(c, 19, 19));
        fdc_release(c, get_file(c, 18, 18));
    }
    CHECK_EQ(atomic_load(&cf->opens), opens);
    fdc_release(c, get_file(c, 0, 0));           /* closes 16 or 17, not 18/19 */
    fdc_release(c, get_file(c, 1, 1));
    CHECK_EQ(atomic_load(&cf->opens), opens + 2);
    fdc_release(c, get_file(c, 19, 19));
    fdc_release(c, get_file(c, 18, 18));
    CHECK_EQ(atomic_load(&cf->opens), opens + 2);

    /* a missing file fails cleanly */
    fdc_handle *h = (fdc_handle *)&h;
    tind_err err;
    err_clear(&err);
    CHECK_RC(fdc_get(c, 100, "nope", &h, &err), TIND_ENOENT);
    CHECK(h == NULL);
    CHECK(strstr(err.msg, "nope") != NULL);
    CHECK_EQ(fdc_open_count(c), 4);

    fdc_free(c);
    CHECK_EQ(cnt_live(cf), 0);
    fs_destroy(&cf->base);

    /* limit 0 means the default (512): nothing closes below it */
    cf = files_new(30);
    c = fdc_new(&cf->base, 0);
    CHECK(c != NULL);
    for (int i = 0; i < 30; i++)
        fdc_release(c, get_file(c, (uint64_t)i, i));
    CHECK_EQ(fdc_open_count(c), 30);
    fdc_free(c);
    CHECK_EQ(cnt_live(cf), 0);
    fs_destroy(&cf->base);
}

TEST(fdc_held)
{
    cnt_fs *cf = files_new(10);
    fd_cache *c = fdc_new(&cf->base, 3);
    CHECK(c != NULL);
    fdc_handle *h[6];
    for (int i = 0; i < 6; i++)
        h[i] = get_file(c, (uint64_t)i, i);
    CHECK_EQ(fdc_open_count(c), 6);              /* held files may pass the limit */
    for (int i = 6; i < 10; i++)
        fdc_release(c, get_file(c, (uint64_t)i, i));
    CHECK_EQ(fdc_open_count(c), 6);              /* the unheld ones closed at once */
    fdc_handle *again = get_file(c, 2, 2);       /* a second holder, same entry */
    CHECK(again == h[2]);
    fdc_release(c, again);
    for (int i = 0; i < 6; i++) {
        char b[8];
        size_t n;
        CHECK_OK(fs_read(fdc_file(h[i]), b, 4, 0, &n, NULL));
        CHECK_MEM(b, n, "file", 4);
        fdc_release(c, h[i]);
    }
    CHECK_EQ(fdc_open_count(c), 3);
    CHECK_EQ(cnt_live(cf), 3);
    fdc_free(c);
    CHECK_EQ(cnt_live(cf), 0);
    fs_destroy(&cf->base);
}

/* The process runs out of descriptors below the cache's limit (issue 10,
 * bug 14): a get closes unheld files and retries; only when every open file
 * is held does it fail, with TIND_EMFILE. */
TEST(fdc_emfile)
{
    cnt_fs *cf = files_new(20);
    cf->max_live = 4;
    fd_cache *c = fdc_new(&cf->base, 100);
    CHECK(c != NULL);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 20; i++) {
            fdc_release(c, get_file(c, (uint64_t)i, i));
            CHECK(cnt_live(cf) <= 4);
            CHECK_EQ(cnt_live(cf), fdc_open_count(c));
        }
    fdc_handle *h[4];
    for (int i = 0; i < 4; i++)
        h[i] = get_file(c, (uint64_t)i, i);
    fdc_handle *none = NULL;
    tind_err err;
    err_clear(&err);
    CHECK_RC(fdc_get(c, 10, "f10", &none, &err), TIND_EMFILE);
    CHECK(none == NULL);
    CHECK(strstr(err.msg, "f10") != NULL);
    fdc_release(c, h[0]);
    fdc_release(c, get_file(c, 10, 10));   /* h[0]'s file makes room */
    for (int i = 1; i < 4; i++)
        fdc_release(c, h[i]);
    fdc_free(c);
    CHECK_EQ(cnt_live(cf), 0);
    fs_destroy(&cf->base);
}

TEST(fdc_evict)
{
    cnt_fs *cf = files_new(4);
    fd_cache *c = fdc_new(&cf->base, 8);
    CHECK(c != NULL);
    fdc_release(c, get_file(c, 1, 1));
    fdc_release(c, get_file(c, 2, 2));
    CHECK_EQ(fdc_open_count(c), 2);
    fdc_evict(c, 1);                             /* unheld: closed now */
    CHECK_EQ(fdc_open_count(c), 1);
    CHECK_EQ(cnt_live(cf), 1);
    fdc_evict(c, 77);                            /* unknown: nothing */
    CHECK_EQ(fdc_open_count(c), 1);

    fdc_handle *h = get_file(c, 2, 2);
    fdc_evict(c, 2);                             /* held: closed at release */
    CHECK_EQ(fdc_open_count(c), 1);
    char b[8];
    size_t n;
    CHECK_OK(fs_read(fdc_file(h), b, 6, 0, &n, NULL));
    CHECK_MEM(b, n, "file 2", 6);
    /* the id is free again: a new get opens a fresh file (here another path) */
    fdc_handle *h2 = get_file(c, 2, 3);
    CHECK(h2 != h);
    CHECK_EQ(fdc_open_count(c), 2);
    fdc_release(c, h);
    CHECK_EQ(fdc_open_count(c), 1);
    CHECK_EQ(cnt_live(cf), 1);
    fdc_release(c, h2);
    fdc_release(c, get_file(c, 2, 3));           /* cached: no reopen */
    CHECK_EQ(atomic_load(&cf->opens), 3);

    /* reopen after evict works */
    fdc_release(c, get_file(c, 1, 1));
    CHECK_EQ(atomic_load(&cf->opens), 4);
    CHECK_EQ(fdc_open_count(c), 2);
    fdc_free(c);
    CHECK_EQ(cnt_live(cf), 0);
    fs_destroy(&cf->base);
}

static void hook_evict(cnt_fs *cf)
{
    fdc_evict(cf->hook_cache, 5);
}

static void hook_get_same(cnt_fs *cf)
{
    cf->hook_handle = get_file(cf->hook_cache, 5, 1);
}

/* The two races of a miss, made deterministic by running the "other thread"
 * inside the open of the first one. */
TEST(fdc_open_races)
{
    cnt_fs *cf = files_new(2);
    fd_cache *c = fdc_new(&cf->base, 8);
    CHECK(c != NULL);
    cf->hook_cache = c;

    /* Two gets of one id opening at once end up sharing one entry; the
     * duplicate is closed. */
    cf->on_open = hook_get_same;
    fdc_handle *h = get_file(c, 5, 1);
    CHECK(cf->hook_handle == h);
    CHECK_EQ(atomic_load(&cf->opens), 2);
    CHECK_EQ(cnt_live(cf), 1);
    CHECK_EQ(fdc_open_count(c), 1);
    fdc_release(c, cf->hook_handle);
    fdc_release(c, h);
    CHECK_EQ(fdc_open_count(c), 1);
    fdc_evict(c, 5);
    CHECK_EQ(cnt_live(cf), 0);

    /* An eviction while a get opens its file: the file may belong to a
     * deleted table, so it is handed out but not cached. */
    cf->on_open = hook_evict;
    h = get_file(c, 5, 1);
    CHECK_EQ(fdc_open_count(c), 1);
    fdc_release(c, h);
    CHECK_EQ(fdc_open_count(c), 0);
    CHECK_EQ(cnt_live(cf), 0);
    fdc_release(c, get_file(c, 5, 1));      /* later gets cache again */
    CHECK_EQ(fdc_open_count(c), 1);
    fdc_free(c);
    CHECK_EQ(cnt_live(cf), 0);
    fs_destroy(&cf->base);
}

/* ---- concurrent fd cache ------------------------------------------------ */

typedef struct fthread {
    fd_cache *c;
    uint64_t seed;
    double seconds;
    uint64_t ops;
} fthread;

static void *fdc_worker(void *arg)
{
    fthread *w = arg;
    trng r; trng_seed(&r, w->seed);
    fdc_handle *held[3] = {0};
    double end = now_seconds() + w->seconds;
    while (1) {
        if ((w->ops & 63) == 0 && now_seconds() > end)
            break;
        w->ops++;
        int i = (int)trng_below(&r, 12);
        int slot = (int)trng_below(&r, 3);
        if (held[slot]) {
            fdc_release(w->c, held[slot]);
            held[slot] = NULL;
        }
        if (trng_below(&r, 50) == 0) {
            fdc_evict(w->c, (uint64_t)i);
            continue;
        }
        fdc_handle *h = get_file(w->c, (uint64_t)i, i);
        if (trng_below(&r, 2))
            held[slot] = h;
        else
            fdc_release(w->c, h);
    }
    for (int i = 0; i < 3; i++)
        if (held[i])
            fdc_release(w->c, held[i]);
    return NULL;
}

TEST(fdc_concurrent)
{
    enum { THREADS = 4 };
    cnt_fs *cf = files_new(12);
    fd_cache *c = fdc_new(&cf->base, 4);
    CHECK(c != NULL);
    fthread w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (fthread){.c = c, .seed = check_seed ^ (0xF00Du + (uint64_t)i),
                         .seconds = 0.5 * check_scale()};
        CHECK(pthread_create(&th[i], NULL, fdc_worker, &w[i]) == 0);
    }
    uint64_t ops = 0;
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        ops += w[i].ops;
    }
    CHECK(ops > 100);
    CHECK(fdc_open_count(c) <= 4);
    CHECK_EQ(cnt_live(cf), fdc_open_count(c));
    fdc_free(c);
    CHECK_EQ(cnt_live(cf), 0);
    fs_destroy(&cf->base);
}

int main(void)
{
    check_seed_init(0xCAC4E);
    RUN(basic);
    RUN(new_id);
    RUN(capacity_lru);
    RUN(held_never_evicted);
    RUN(replace);
    RUN(erase_id);
    RUN(aux);
    RUN(counters);
    RUN(deleter_reentry);
    RUN(concurrent);
    RUN(fdc_limit);
    RUN(fdc_held);
    RUN(fdc_evict);
    RUN(fdc_open_races);
    RUN(fdc_concurrent);
    RUN(fdc_emfile);
    return 0;
}
