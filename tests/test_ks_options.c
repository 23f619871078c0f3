/*
 * test_ks_options.c -- describing a keyspace's options (issue 16):
 * tind_keyspace_options returns what the keyspace is open with (stored at
 * creation, the same after reopen, the callbacks given at this open), the
 * copy creates another keyspace alike, and tind_ks_options_format writes
 * each option once, per-level options per level, callbacks by name only.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"

static int user_merge(void *ctx, const void *key, size_t klen, const void *base, size_t blen, int has_base,
                      const void *const *ops, const size_t *lens, size_t count, void **out, size_t *outlen)
{
    (void)ctx, (void)key, (void)klen, (void)base, (void)blen, (void)has_base, (void)ops, (void)lens, (void)count;
    (void)out, (void)outlen;
    return TIND_ENOTSUP;
}

static int keep_all(void *ctx, int level, const void *key, size_t klen, const void *val, size_t vlen,
                    uint64_t seqno, void **new_val, size_t *new_len)
{
    (void)ctx, (void)level, (void)key, (void)klen, (void)val, (void)vlen, (void)seqno, (void)new_val, (void)new_len;
    return TIND_FILTER_KEEP;
}

static char *format_of(const tind_ks_options *o)
{
    char *text = NULL;
    CHECK_OK(tind_ks_options_format(o, &text));
    CHECK(text != NULL);
    return text;
}

static char *format_of_ks(tind_keyspace *ks)
{
    tind_ks_options *o = NULL;
    CHECK_OK(tind_keyspace_options(ks, &o));
    char *text = format_of(o);
    tind_ks_options_free(o);
    return text;
}

/* The line "name = ..." of text (without the newline), or "" */
static void line_of(const char *text, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    out[0] = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > n + 3 && memcmp(p, name, n) == 0 && memcmp(p + n, " = ", 3) == 0) {
            snprintf(out, cap, "%.*s", (int)(len - n - 3), p + n + 3);
            return;
        }
        p += len + (nl ? 1 : 0);
    }
}

static void expect_line(const char *text, const char *name, const char *want)
{
    char got[256];
    line_of(text, name, got, sizeof got);
    if (strcmp(got, want) != 0)
        check_fail(__FILE__, __LINE__, "option %s: got '%s', want '%s'", name, got, want);
}

static tind_ks_options *tuned(void)
{
    tind_ks_options *o = tind_ks_options_new();
    tind_ks_options_set_memtable_size(o, 1u << 20);
    tind_ks_options_set_levels(o, 4);
    tind_ks_options_set_l0_threshold(o, 6);
    tind_ks_options_set_compression(o, -1, TIND_COMPRESSION_LZ4, 0);
    tind_ks_options_set_compression(o, 3, TIND_COMPRESSION_ZSTD, 9);
    tind_ks_options_set_bloom_bits(o, 0, 0);
    tind_ks_options_set_zstd_dict(o, 3, 4096);
    tind_ks_options_set_blob_separation(o, 1, 8192);
    tind_ks_options_set_blob_gc(o, 0.5, 0.25);
    tind_ks_options_set_prefix_separator(o, '#');
    tind_ks_options_set_periodic_compaction(o, 3600);
    tind_ks_options_set_merge_operator(o, "test.user", user_merge, NULL, NULL);
    tind_ks_options_set_compaction_filter(o, keep_all, NULL);
    tind_ks_options_set_value_ttl(o, 1);
    return o;
}

static void expect_tuned(const char *t)
{
    expect_line(t, "memtable_size", "1048576");
    expect_line(t, "compaction", "leveled");
    expect_line(t, "levels", "4");
    expect_line(t, "l0_threshold", "6");
    expect_line(t, "compression", "lz4 lz4 lz4 zstd:9");
    expect_line(t, "bloom_bits", "0 10 10 10");
    expect_line(t, "zstd_dict", "0 0 0 4096");
    expect_line(t, "blob_separation", "on threshold 8192");
    expect_line(t, "blob_gc", "ratio 0.5 age_cutoff 0.25");
    expect_line(t, "prefix", "separator 0x23");
    expect_line(t, "periodic_compaction", "3600");
    expect_line(t, "merge_operator", "test.user");
    expect_line(t, "value_ttl", "on");
}

TEST(defaults)
{
    tind_ks_options *o = tind_ks_options_new();
    char *t = format_of(o);
    expect_line(t, "memtable_size", "67108864");   /* the default tind.h states: 64 MiB */
    expect_line(t, "levels", "7");
    expect_line(t, "compression", "lz4 lz4 lz4 lz4 lz4 lz4 lz4");
    expect_line(t, "blob_separation", "on threshold 4096");
    expect_line(t, "merge_operator", "none");
    expect_line(t, "compaction_filter", "none");
    expect_line(t, "prefix", "none");
    /* every line is "name = value", each name once */
    size_t lines = 0;
    for (const char *p = t; *p; p = strchr(p, '\n') + 1) {
        CHECK(strchr(p, '\n') != NULL);
        CHECK(strstr(p, " = ") != NULL && strstr(p, " = ") < strchr(p, '\n'));
        lines++;
    }
    CHECK(lines >= 20);
    tind_free(t);
    CHECK_RC(tind_ks_options_format(NULL, &t), TIND_EINVAL);
    CHECK_RC(tind_ks_options_format(o, NULL), TIND_EINVAL);
    tind_ks_options_free(o);
}

TEST(in_force)
{
    for (int background = 0; background <= 1; background++) {
        fs *mem = fs_mem_new();
        tind_db *db = check_open_mem(mem, background);
        tind_ks_options *o = tuned();
        tind_keyspace *ks, *twin;
        CHECK_OK(tind_keyspace_open(db, "tuned", o, &ks));
        char *t = format_of_ks(ks);
        expect_tuned(t);
        expect_line(t, "compaction_filter", "callback");
        /* the same text as the options it was created with */
        char *given = format_of(o);
        CHECK_EQ(strcmp(t, given), 0);
        tind_free(given);
        tind_free(t);
        /* the copy creates another keyspace alike */
        tind_ks_options *copy = NULL;
        CHECK_OK(tind_keyspace_options(ks, &copy));
        CHECK_OK(tind_keyspace_open(db, "twin", copy, &twin));
        tind_ks_options_free(copy);
        t = format_of_ks(twin);
        expect_tuned(t);
        tind_free(t);
        CHECK_OK(tind_close(db));

        /* reopened without options: the stored ones; callbacks are not
         * stored, so the user operator shows by name and the filter as
         * none until an open hands them over */
        db = check_open_mem(mem, background);
        CHECK_OK(tind_keyspace_open(db, "tuned", NULL, &ks));
        t = format_of_ks(ks);
        expect_tuned(t);
        expect_line(t, "compaction_filter", "none");
        tind_free(t);
        CHECK_OK(tind_keyspace_open(db, "twin", o, &twin));
        t = format_of_ks(twin);
        expect_tuned(t);
        expect_line(t, "compaction_filter", "callback");
        tind_ks_options *now = NULL;
        CHECK_OK(tind_keyspace_options(twin, &now));
        CHECK(now != NULL);
        tind_ks_options_free(now);
        tind_free(t);

        /* bad arguments and a deleted keyspace */
        CHECK_RC(tind_keyspace_options(NULL, &now), TIND_EINVAL);
        CHECK_RC(tind_keyspace_options(ks, NULL), TIND_EINVAL);
        CHECK_OK(tind_keyspace_delete(db, "tuned"));
        CHECK_RC(tind_keyspace_options(ks, &now), TIND_ENOENT);
        tind_ks_options_free(o);
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
}

int main(void)
{
    check_seed_init(16);
    RUN(defaults);
    RUN(in_force);
    return 0;
}
