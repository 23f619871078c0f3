/*
 * test_prefix.c -- prefix filters (issue 14): the extractors and the scan
 * rule (format/prefix.c), tables whose filters hold prefixes (whole and
 * partitioned, with and without whole keys: the measured false-positive
 * rate, no false negatives, format versions), and the engine: prefix and
 * bounded scans skip tables whose filter lacks the prefix (counted in
 * tind_ks_stats), and return exactly what a full scan does, with
 * background threads on and off; the extractor stored with the keyspace
 * (reopen with another one refused; a callback re-attached by name).
 * TSAN-LABEL: the scans run beside background flushes and compactions.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "db/db.h"
#include "format/prefix.h"
#include "format/table.h"
#include "io/fs.h"
#include "util/hash.h"
#include "util/rand.h"

/* Under ThreadSanitizer (about 15x slower) the engine cases run smaller:
 * what TSan is for there is the threads test and the background runs. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

/* ------------------------------------------------------------ extractors */

static size_t upto_slash(void *ctx, const void *key, size_t klen)
{
    (void)ctx;
    const uint8_t *s = memchr(key, '/', klen);
    return s ? (size_t)(s - (const uint8_t *)key) + 1 : 0;
}

static size_t upto_dash(void *ctx, const void *key, size_t klen)
{
    (void)ctx;
    const uint8_t *s = memchr(key, '-', klen);
    return s ? (size_t)(s - (const uint8_t *)key) + 1 : 0;
}

static int scan_q(const pfx_extractor *x, const char *lo, const char *hi, size_t *q)
{
    return pfx_scan_prefix(x, (const uint8_t *)lo, strlen(lo), (const uint8_t *)hi, hi ? strlen(hi) : 0,
                           hi != NULL, q);
}

TEST(extractors)
{
    pfx_extractor x;
    size_t n = 0;
    char name[80];

    pfx_init(&x);
    CHECK(!pfx_active(&x));
    CHECK(!pfx_extract(&x, NULL, (const uint8_t *)"abc", 3, &n));

    x.kind = PFX_FIXED;
    x.len = 4;
    CHECK(pfx_active(&x));
    CHECK(!pfx_extract(&x, NULL, (const uint8_t *)"abc", 3, &n));
    CHECK(pfx_extract(&x, NULL, (const uint8_t *)"abcd", 4, &n) && n == 4);
    CHECK(pfx_extract(&x, NULL, (const uint8_t *)"abcdef", 6, &n) && n == 4);
    pfx_name(&x, name, sizeof name);
    CHECK(strcmp(name, "fixed:4") == 0);
    /* scans: bounds inside one prefix */
    CHECK(scan_q(&x, "abcd", "abce", &n) && n == 4);
    CHECK(scan_q(&x, "abcdxy", "abcdxz", &n) && n == 4);
    CHECK(scan_q(&x, "abcd", "abcd\x01", &n));
    CHECK(!scan_q(&x, "abcd", "abcf", &n));       /* crosses into abce */
    CHECK(!scan_q(&x, "abcd", "abce\x01", &n));   /* just past succ */
    CHECK(!scan_q(&x, "abcd", NULL, &n));          /* unbounded */
    CHECK(!scan_q(&x, "abc", "abd", &n));          /* shorter than the prefix */
    CHECK(!scan_q(&x, "ab\xff\xff", NULL, &n));
    CHECK(scan_q(&x, "\xff\xff\xff\xff", NULL, &n) && n == 4); /* every key above starts with it */
    CHECK(scan_q(&x, "ab\xff\xff", "ac", &n) && n == 4);
    CHECK(!scan_q(&x, "ab\xfe\xff", "ac", &n));
    CHECK(scan_q(&x, "ab\xfe\xff", "ab\xff", &n));

    pfx_init(&x);
    x.kind = PFX_SEPARATOR;
    x.sep = ':';
    CHECK(!pfx_extract(&x, NULL, (const uint8_t *)"user42", 6, &n));
    CHECK(pfx_extract(&x, NULL, (const uint8_t *)"user42:post:7", 13, &n) && n == 7);
    CHECK(pfx_extract(&x, NULL, (const uint8_t *)":", 1, &n) && n == 1);
    pfx_name(&x, name, sizeof name);
    CHECK(strcmp(name, "separator:0x3a") == 0);
    CHECK(scan_q(&x, "user42:", "user42;", &n) && n == 7);
    CHECK(scan_q(&x, "user42:post", "user42:posu", &n) && n == 7);
    CHECK(!scan_q(&x, "user42", "user43", &n));

    pfx_init(&x);
    pfx_slot slot;
    atomic_init(&slot, NULL);
    x.kind = PFX_CALLBACK;
    strcpy(x.name, "slash");
    x.slot = &slot;
    CHECK(!pfx_active(&x));   /* no callback yet */
    CHECK(!scan_q(&x, "a/", "a0", &n));
    pfx_callback cb = {upto_slash, NULL};
    atomic_store(&slot, &cb);
    CHECK(pfx_active(&x));
    CHECK(pfx_extract(&x, &cb, (const uint8_t *)"dir/file", 8, &n) && n == 4);
    CHECK(!pfx_extract(&x, &cb, (const uint8_t *)"file", 4, &n));
    CHECK(scan_q(&x, "dir/", "dir0", &n) && n == 4);
    pfx_name(&x, name, sizeof name);
    CHECK(strcmp(name, "user:slash") == 0);
    /* prefix hashes differ from whole-key hashes of the same bytes */
    CHECK(pfx_hash((const uint8_t *)"dir/", 4) != hash64("dir/", 4));
}

/* ---------------------------------------------------------------- tables */

#define T_USERS 2000
#define T_PER_USER 10

static void user_key(char *buf, size_t n, unsigned user, unsigned item)
{
    snprintf(buf, n, "u%07u:%04u", user, item);
}

/* Writes users 0, 2, 4, ... (T_USERS of them), T_PER_USER keys each. */
static void write_prefix_table(fs *f, const char *path, int partitioned, int whole_keys)
{
    tbl_options o;
    tbl_options_default(&o);
    o.block_size = 1024;
    o.partition_index = o.partition_filter = partitioned;
    o.partition_size = 512;
    o.prefix.kind = PFX_SEPARATOR;
    o.prefix.sep = ':';
    o.prefix.whole_keys = whole_keys;
    o.file_number = 1;
    o.table_id = 1;
    tbl_writer *w;
    tind_err err;
    CHECK_OK(tbl_writer_open(f, path, &o, &w, &err));
    char k[32];
    for (unsigned u = 0; u < T_USERS; u++)
        for (unsigned i = 0; i < T_PER_USER; i++) {
            user_key(k, sizeof k, 2 * u, i);
            CHECK_OK(tbl_writer_add(w, (const uint8_t *)k, strlen(k), 5, ENTRY_VALUE, (const uint8_t *)"v", 1,
                                    &err));
        }
    tbl_meta m;
    CHECK_OK(tbl_writer_finish(w, 0, &m, &err));
    CHECK_EQ(m.format_version, 4); /* blocked filters (format 4 carries format 3's prefix-only filters too) */
    tbl_meta_free(&m);
}

TEST(table_filters)
{
    fs *f = fs_mem_new();
    for (int partitioned = 0; partitioned <= 1; partitioned++)
        for (int whole = 0; whole <= 1; whole++) {
            const char *path = "/t.tbl";
            write_prefix_table(f, path, partitioned, whole);
            tbl *t;
            tbl_open_options oo = {0};
            tind_err err;
            CHECK_OK(tbl_open(f, path, &oo, &t, &err));
            CHECK(strcmp(tbl_prefix_name(t), "separator:0x3a") == 0);
            CHECK_OK(tbl_verify(t, &err));
            char k[32];
            /* no false negatives: every present prefix passes */
            for (unsigned u = 0; u < T_USERS; u++) {
                int n = snprintf(k, sizeof k, "u%07u:", 2 * u);
                CHECK(tbl_may_contain_prefix(t, "separator:0x3a", (const uint8_t *)k, (size_t)n));
            }
            /* absent prefixes: odd users (between present ones) and users above */
            uint64_t fp = 0, probes = 0;
            for (unsigned u = 0; u < 2 * T_USERS + 20000; u++) {
                if (u < 2 * T_USERS && u % 2 == 0)
                    continue;
                int n = snprintf(k, sizeof k, "u%07u:", u);
                fp += (uint64_t)tbl_may_contain_prefix(t, "separator:0x3a", (const uint8_t *)k, (size_t)n);
                probes++;
            }
            double rate = (double)fp / (double)probes;
            fprintf(stderr, "    %s filter, %s: prefix false-positive rate %.3f%% (%llu of %llu)\n",
                    partitioned ? "partitioned" : "whole", whole ? "keys and prefixes" : "prefixes only",
                    100 * rate, (unsigned long long)fp, (unsigned long long)probes);
            /* 10 bits per added hash; theory ~0.8%: more than 3% is a broken filter */
            CHECK(rate < 0.03);
            /* another extractor's name, or none: never skipped */
            CHECK(tbl_may_contain_prefix(t, "fixed:9", (const uint8_t *)"u9999999:", 9));
            CHECK(tbl_may_contain_prefix(t, NULL, (const uint8_t *)"u9999999:", 9));
            /* point reads: found, and with prefixes only the filter is not used for keys */
            uint8_t type;
            uint64_t seq;
            tbuf v = TBUF_INIT;
            user_key(k, sizeof k, 2 * 77, 3);
            CHECK_OK(tbl_get(t, (const uint8_t *)k, strlen(k), SEQNO_MAX, 1, &type, &seq, &v, &err));
            CHECK(tbl_may_contain(t, (const uint8_t *)k, strlen(k)));
            user_key(k, sizeof k, 2 * 77 + 1, 3);
            CHECK_RC(tbl_get(t, (const uint8_t *)k, strlen(k), SEQNO_MAX, 1, &type, &seq, &v, &err),
                     TIND_NOT_FOUND);
            if (!whole)
                CHECK(tbl_may_contain(t, (const uint8_t *)k, strlen(k)));
            tbuf_free(&v);
            tbl_unref(t);
            CHECK_OK(fs_unlink(f, path, NULL));
        }
    /* a range tombstone may cover prefixes the filter lacks: never skipped */
    tbl_options o;
    tbl_options_default(&o);
    o.prefix.kind = PFX_SEPARATOR;
    o.prefix.sep = ':';
    o.prefix.whole_keys = 0;
    o.file_number = o.table_id = 2;
    tbl_writer *w;
    tind_err err;
    CHECK_OK(tbl_writer_open(f, "/r.tbl", &o, &w, &err));
    CHECK_OK(tbl_writer_add(w, (const uint8_t *)"a:1", 3, 9, ENTRY_RANGE_TOMBSTONE, (const uint8_t *)"z:", 2, &err));
    CHECK_OK(tbl_writer_add(w, (const uint8_t *)"b:1", 3, 8, ENTRY_VALUE, (const uint8_t *)"v", 1, &err));
    CHECK_OK(tbl_writer_finish(w, 0, NULL, &err));
    tbl *t;
    tbl_open_options oo = {0};
    CHECK_OK(tbl_open(f, "/r.tbl", &oo, &t, &err));
    CHECK(strcmp(tbl_prefix_name(t), "range-deletes/separator:0x3a") == 0);
    CHECK(tbl_may_contain_prefix(t, "separator:0x3a", (const uint8_t *)"m:", 2));
    CHECK(tbl_may_contain(t, (const uint8_t *)"q:1", 3));   /* prefixes only: no key filter */
    tbl_unref(t);
    fs_destroy(f);
}

/* ---------------------------------------------------------------- engine */

enum { EX_SEPARATOR, EX_FIXED, EX_CALLBACK };

static tind_ks_options *prefix_opts(int ex, int whole_keys, int partition_from)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 16384);
    tind_ks_options_set_table_size(ko, 16384);
    tind_ks_options_set_l0_threshold(ko, 4);
    tind_ks_options_set_block_size(ko, 1024);
    tind_ks_options_set_partitioning(ko, partition_from);
    if (ex == EX_SEPARATOR)
        tind_ks_options_set_prefix_separator(ko, ':');
    else if (ex == EX_FIXED)
        tind_ks_options_set_prefix_fixed(ko, 8);   /* "u%07u" is 8 bytes */
    else
        tind_ks_options_set_prefix_callback(ko, "dash", upto_dash, NULL);
    tind_ks_options_set_prefix_whole_keys(ko, whole_keys);
    return ko;
}

static void ukey(char *buf, size_t n, int ex, unsigned user, unsigned item)
{
    snprintf(buf, n, ex == EX_CALLBACK ? "u%07u-%04u" : "u%07u:%04u", user, item);
}

/* The keys of [lo, hi) by a full scan: counted, hashed in order (*h) and
 * summed the way scan_it sums a backward scan (*sum). */
static void full_scan_range(tind_keyspace *ks, const char *lo, size_t lolen, const char *hi, size_t hilen,
                            uint64_t *count, uint64_t *h, uint64_t *sum)
{
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
    *count = 0;
    *h = 0;
    *sum = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
        size_t n, vn;
        const void *k = tind_iter_key(it, &n);
        const void *v = tind_iter_value(it, &vn);
        int below = memcmp(k, lo, n < lolen ? n : lolen);
        if (below < 0 || (below == 0 && n < lolen))
            continue;
        int above = memcmp(k, hi, n < hilen ? n : hilen);
        if (above > 0 || (above == 0 && n >= hilen))
            continue;
        (*count)++;
        *h = *h * 31 + hash64(k, n) + hash64(v, vn);
        *sum += hash64(k, n) ^ hash64(v, vn);
    }
    CHECK_OK(tind_iter_status(it));
    tind_iter_free(it);
}

static void scan_it(tind_iter *it, int backward, uint64_t *count, uint64_t *h)
{
    *count = 0;
    *h = 0;
    uint64_t sum = 0;
    if (!backward) {
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
            size_t n, vn;
            const void *k = tind_iter_key(it, &n);
            const void *v = tind_iter_value(it, &vn);
            (*count)++;
            *h = *h * 31 + hash64(k, n) + hash64(v, vn);
        }
    } else {
        /* backward: compare as a sum (order reversed) */
        for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it)) {
            size_t n, vn;
            const void *k = tind_iter_key(it, &n);
            const void *v = tind_iter_value(it, &vn);
            (*count)++;
            sum += hash64(k, n) ^ hash64(v, vn);
        }
        *h = sum;
    }
    CHECK_OK(tind_iter_status(it));
}

/* Checks a prefix scan of user u (and a bounded scan inside it) against
 * the full scan; returns the number of keys found. */
static uint64_t check_user(tind_keyspace *ks, int ex, unsigned u)
{
    char p[32], hi[32];
    int pn = snprintf(p, sizeof p, ex == EX_CALLBACK ? "u%07u-" : "u%07u:", u);
    memcpy(hi, p, (size_t)pn);
    hi[pn - 1]++;
    uint64_t want_n, want_h, want_sum, got_n, got_h;
    full_scan_range(ks, p, (size_t)pn, hi, (size_t)pn, &want_n, &want_h, &want_sum);
    tind_iter *it;
    CHECK_OK(tind_iter_prefix(ks, p, (size_t)pn, NULL, &it));
    scan_it(it, 0, &got_n, &got_h);
    CHECK_EQ(got_n, want_n);
    CHECK_EQ(got_h, want_h);
    scan_it(it, 1, &got_n, &got_h);
    CHECK_EQ(got_n, want_n);
    CHECK_EQ(got_h, want_sum);
    tind_iter_free(it);
    /* a bounded scan inside the prefix: items 0002 .. 0006 */
    char lo2[32], hi2[32];
    ukey(lo2, sizeof lo2, ex, u, 2);
    ukey(hi2, sizeof hi2, ex, u, 6);
    full_scan_range(ks, lo2, strlen(lo2), hi2, strlen(hi2), &want_n, &want_h, &want_sum);
    CHECK_OK(tind_iter_range(ks, lo2, strlen(lo2), hi2, strlen(hi2), NULL, &it));
    scan_it(it, 0, &got_n, &got_h);
    CHECK_EQ(got_n, want_n);
    CHECK_EQ(got_h, want_h);
    tind_iter_free(it);
    return want_n;
}

static void stats(tind_keyspace *ks, uint64_t *checked, uint64_t *skipped)
{
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    *checked = st.prefix_checked;
    *skipped = st.prefix_skipped;
}

/* Users 0, 2, 4 ... 2*(users-1), written in rounds so that every table
 * holds some of them; some keys overwritten or removed. */
static void fill(tind_keyspace *ks, int ex, unsigned users, unsigned rounds, trng *r)
{
    char k[32], v[32];
    for (unsigned round = 0; round < rounds; round++) {
        for (unsigned u = 0; u < users; u++) {
            if (trng_next(r) % 3 == 0)
                continue;
            for (unsigned i = 0; i < 8; i++) {
                ukey(k, sizeof k, ex, 2 * u, (unsigned)(trng_next(r) % 10));
                if (trng_next(r) % 7 == 0) {
                    CHECK_OK(tind_remove(ks, k, strlen(k)));
                } else {
                    int vn = snprintf(v, sizeof v, "r%u-%llu", round, (unsigned long long)(trng_next(r) % 1000));
                    CHECK_OK(tind_put(ks, k, strlen(k), v, (size_t)vn));
                }
            }
        }
        CHECK_OK(tind_flush(ks));
    }
}

static void engine_case(int background, int ex, int whole_keys, int partition_from)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, background);
    tind_ks_options *ko = prefix_opts(ex, whole_keys, partition_from);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "feed", ko, &ks));
    trng r;
    trng_seed(&r, check_seed + (uint64_t)(ex * 8 + whole_keys * 2 + background));
    const unsigned users = UNDER_TSAN ? 60 : 200;
    fill(ks, ex, users, 6, &r);
    for (int phase = 0; phase < 2; phase++) {
        if (phase == 1)
            CHECK_OK(tind_compact(ks));
        uint64_t c0, s0, c1, s1;
        stats(ks, &c0, &s0);
        uint64_t found = 0;
        for (unsigned u = 0; u < 2 * users + 40; u++)
            found += check_user(ks, ex, u);
        CHECK(found > 0);
        stats(ks, &c1, &s1);
        CHECK(c1 > c0);
        /* most absent users (odd, or above) skip every table they were checked against */
        CHECK(s1 - s0 > (users + 40) / 2);
        fprintf(stderr, "    bg %d ex %d whole %d part %d phase %d: %llu tables checked, %llu skipped\n",
                background, ex, whole_keys, partition_from, phase, (unsigned long long)(c1 - c0),
                (unsigned long long)(s1 - s0));
        /* a range across prefixes checks no filter */
        tind_iter *it;
        CHECK_OK(tind_iter_range(ks, "u0000002:", 9, "u0000004:", 9, NULL, &it));
        tind_iter_free(it);
        uint64_t c2, s2;
        stats(ks, &c2, &s2);
        CHECK_EQ(c2, c1);
    }
    /* point reads still right (with prefixes only the filters are not used for them) */
    char k[32];
    ukey(k, sizeof k, ex, 3, 1);
    void *v;
    size_t vn;
    CHECK_RC(tind_get(ks, k, strlen(k), NULL, &v, &vn), TIND_NOT_FOUND);
    tind_ks_options_free(ko);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

TEST(engine_scans)
{
    for (int background = 0; background <= 1; background++) {
        engine_case(background, EX_SEPARATOR, 1, 2);
        engine_case(background, EX_FIXED, 0, 1);
        engine_case(background, EX_CALLBACK, 1, 7);
    }
}

TEST(reopen)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 0);
    tind_ks_options *sep = prefix_opts(EX_SEPARATOR, 1, 2);
    tind_ks_options *cb = prefix_opts(EX_CALLBACK, 1, 2);
    tind_ks_options *fixed = prefix_opts(EX_FIXED, 1, 2);
    tind_keyspace *a, *b;
    CHECK_OK(tind_keyspace_open(db, "a", sep, &a));
    CHECK_OK(tind_keyspace_open(db, "b", cb, &b));
    trng r;
    trng_seed(&r, check_seed);
    fill(a, EX_SEPARATOR, 50, 3, &r);
    fill(b, EX_CALLBACK, 50, 3, &r);
    CHECK_OK(tind_close(db));

    db = check_open_mem(mem, 0);
    /* another extractor: refused, naming both */
    CHECK_RC(tind_keyspace_open(db, "a", fixed, &a), TIND_EINVAL);
    CHECK(strstr(tind_errmsg(db), "separator:0x3a") && strstr(tind_errmsg(db), "fixed:8"));
    CHECK_RC(tind_keyspace_open(db, "b", sep, &b), TIND_EINVAL);
    /* no extractor in the options: the stored one stays in force */
    CHECK_OK(tind_keyspace_open(db, "a", NULL, &a));
    uint64_t c0, s0, c1, s1;
    stats(a, &c0, &s0);
    check_user(a, EX_SEPARATOR, 31);
    stats(a, &c1, &s1);
    CHECK(s1 > s0);
    /* the callback is not known yet: nothing skipped, results right */
    CHECK_OK(tind_keyspace_open(db, "b", NULL, &b));
    stats(b, &c0, &s0);
    for (unsigned u = 0; u < 20; u++)
        check_user(b, EX_CALLBACK, u);
    stats(b, &c1, &s1);
    CHECK_EQ(c1, c0);
    /* given by name: attached, and the tables written before are used */
    CHECK_OK(tind_keyspace_open(db, "b", cb, &b));
    for (unsigned u = 0; u < 20; u++)
        check_user(b, EX_CALLBACK, u);
    stats(b, &c1, &s1);
    CHECK(s1 > s0);
    /* a callback under another name is another extractor */
    tind_ks_options *other = tind_ks_options_new();
    tind_ks_options_set_prefix_callback(other, "slash", upto_slash, NULL);
    CHECK_RC(tind_keyspace_open(db, "b", other, &b), TIND_EINVAL);
    tind_ks_options_free(other);
    CHECK_OK(tind_close(db));

    /* bad extractor options */
    db = check_open_mem(mem, 0);
    tind_ks_options *bad = tind_ks_options_new();
    tind_ks_options_set_prefix_fixed(bad, 70000);
    CHECK_RC(tind_keyspace_open(db, "c", bad, &a), TIND_EINVAL);
    tind_ks_options_set_prefix_callback(bad, "", upto_dash, NULL);
    CHECK_RC(tind_keyspace_open(db, "c", bad, &a), TIND_EINVAL);
    tind_ks_options_set_prefix_separator(bad, 256);
    CHECK_RC(tind_keyspace_open(db, "c", bad, &a), TIND_EINVAL);
    tind_ks_options_set_prefix_fixed(bad, 0);   /* none again */
    CHECK_OK(tind_keyspace_open(db, "c", bad, &a));
    tind_ks_options_free(bad);
    CHECK_OK(tind_close(db));

    tind_ks_options_free(sep);
    tind_ks_options_free(cb);
    tind_ks_options_free(fixed);
    fs_destroy(mem);
}

/* Threads: a writer (puts, flushes: background compactions follow), two
 * scanners, and the callback handed over while they run (after a reopen
 * the keyspace has none until tind_keyspace_open gives it). Every scan is
 * checked against what the writer has surely written. */
typedef struct race_ctx {
    tind_db *db;
    tind_keyspace *ks;
    tind_ks_options *cb;
    _Atomic int stop;
    _Atomic unsigned written;     /* users 0 .. written-1 hold all their items */
} race_ctx;

static void *race_writer(void *p)
{
    race_ctx *c = p;
    char k[32];
    for (unsigned u = 100; u < 400; u++) {
        for (unsigned i = 0; i < 10; i++) {
            ukey(k, sizeof k, EX_CALLBACK, 2 * u, i);
            CHECK_OK(tind_put(c->ks, k, strlen(k), "v", 1));
        }
        atomic_store(&c->written, u + 1);
        if (u % 50 == 0)
            CHECK_OK(tind_flush(c->ks));
    }
    atomic_store(&c->stop, 1);
    return NULL;
}

static void *race_scanner(void *p)
{
    race_ctx *c = p;
    trng r;
    trng_seed(&r, (uint64_t)(uintptr_t)p ^ check_seed);
    while (!atomic_load(&c->stop)) {
        unsigned w = atomic_load(&c->written);
        unsigned u = (unsigned)trng_below(&r, w + 20);
        char pfx[32];
        int n = snprintf(pfx, sizeof pfx, "u%07u-", 2 * u + (unsigned)trng_below(&r, 2));
        tind_iter *it;
        CHECK_OK(tind_iter_prefix(c->ks, pfx, (size_t)n, NULL, &it));
        unsigned got = 0;
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
            got++;
        CHECK_OK(tind_iter_status(it));
        tind_iter_free(it);
        if (pfx[n - 2] % 2 == 1)   /* odd users are never written */
            CHECK_EQ(got, 0);
        else if (u < w)
            CHECK_EQ(got, 10);
    }
    return NULL;
}

TEST(threads)
{
    fs *mem = fs_mem_new();
    tind_db *db = check_open_mem(mem, 1);
    tind_ks_options *cb = prefix_opts(EX_CALLBACK, 1, 2);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "r", cb, &ks));
    char k[32];
    for (unsigned u = 0; u < 100; u++)
        for (unsigned i = 0; i < 10; i++) {
            ukey(k, sizeof k, EX_CALLBACK, 2 * u, i);
            CHECK_OK(tind_put(ks, k, strlen(k), "v", 1));
        }
    CHECK_OK(tind_close(db));
    db = check_open_mem(mem, 1);
    race_ctx c = {.db = db, .cb = cb};
    atomic_init(&c.stop, 0);
    atomic_init(&c.written, 100);
    CHECK_OK(tind_keyspace_open(db, "r", NULL, &c.ks));   /* no callback yet */
    pthread_t w, s1, s2;
    CHECK(pthread_create(&w, NULL, race_writer, &c) == 0);
    CHECK(pthread_create(&s1, NULL, race_scanner, &c) == 0);
    CHECK(pthread_create(&s2, NULL, race_scanner, &c) == 0);
    tind_keyspace *again;
    CHECK_OK(tind_keyspace_open(db, "r", cb, &again));   /* hands the callback over meanwhile */
    CHECK(again == c.ks);
    pthread_join(w, NULL);
    pthread_join(s1, NULL);
    pthread_join(s2, NULL);
    CHECK_OK(tind_flush(c.ks));
    CHECK_OK(tind_compact(c.ks));
    for (unsigned u = 0; u < 440; u++)
        check_user(c.ks, EX_CALLBACK, u);
    uint64_t checked, skipped;
    stats(c.ks, &checked, &skipped);
    CHECK(skipped > 0);
    CHECK_OK(tind_close(db));
    tind_ks_options_free(cb);
    fs_destroy(mem);
}

static int selected(int argc, char **argv, const char *name)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}
#define RUN_SELECTED(name) do { if (selected(argc, argv, #name)) RUN(name); } while (0)

int main(int argc, char **argv)
{
    check_seed_init(14);
    RUN_SELECTED(extractors);
    RUN_SELECTED(table_filters);
    RUN_SELECTED(engine_scans);
    RUN_SELECTED(reopen);
    RUN_SELECTED(threads);
    return 0;
}
