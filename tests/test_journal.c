/*
 * test_journal.c -- the journal: byte-exact format, round trips (small,
 * huge, compressed and not), rotation and listing, torn tails at every cut
 * offset, bit flips (corruption in the middle, torn tail at the end), the
 * replay rules on hand-made records, power-loss simulation on the in-memory
 * file system, fault injection (failed writes and syncs poison the writer),
 * and one round trip on the real file system.
 *
 * Every payload is a pure function of (seed, record index), so replay checks
 * each byte without keeping the data. Randomized from check_seed
 * (TIND_SEED=<n> reproduces a failure).
 */
#include <errno.h>

#include "check.h"
#include "io/fs.h"
#include "journal/journal.h"
#include "journal/journal_set.h"
#include "util/buf.h"
#include "util/coding.h"
#include "util/hash.h"
#include "util/rand.h"

/* CHECK_OK that also prints the error message of the local `err`. */
#define CHECK_OK_MSG(call) do { int _r = (call); if (_r != TIND_OK) \
    check_fail(__FILE__, __LINE__, "%s: %d (%s): %s", #call, _r, tind_strerror(_r), err.msg); } while (0)

/* ------------------------------------------------------------------ payloads */

/* Size of record i: mostly small, some medium, and a few over 1 MiB. */
static size_t gen_len(uint64_t seed, size_t i)
{
    trng r;
    trng_seed(&r, seed ^ (0x9E3779B97F4A7C15ull * (i + 1)));
    if (i % 1000 == 999 || i == 500)
        return (1u << 20) + (size_t)trng_below(&r, 1u << 20);
    uint64_t pick = trng_below(&r, 100);
    if (pick < 80)
        return (size_t)trng_below(&r, 300);
    if (pick < 97)
        return 300 + (size_t)trng_below(&r, 20000);
    return 20000 + (size_t)trng_below(&r, 100000);
}

/* Even records (and record 999 mod 2000) are compressible text; odd ones random. */
static void gen_payload(uint64_t seed, size_t i, uint8_t *out, size_t len)
{
    trng r;
    trng_seed(&r, seed ^ (0xD1B54A32D192ED03ull * (i + 7)));
    if (i % 2 == 0 || i % 2000 == 999) {
        static const char words[] = "key-0042 value-ordered tind journal record batch ";
        for (size_t k = 0; k < len; k++)
            out[k] = (uint8_t)words[(k + i) % (sizeof words - 1)];
        for (size_t k = 0; k < len / 64; k++)
            out[trng_below(&r, len)] = (uint8_t)trng_next(&r);
    } else {
        for (size_t k = 0; k < len; k++)
            out[k] = (uint8_t)trng_next(&r);
    }
}

/* What replay must produce: records first[i], count[i], gen_payload(seed, i). */
typedef struct expect {
    uint64_t seed;
    size_t cap;           /* records written */
    uint64_t *first;
    uint32_t *count;
    size_t *len;
    size_t seen;          /* records the callback has checked */
    uint8_t *scratch;
    size_t scratch_cap;
    int preset_len;       /* append_range takes len[i] as given instead of gen_len() */
} expect;

static void expect_init(expect *e, uint64_t seed, size_t cap)
{
    memset(e, 0, sizeof *e);
    e->seed = seed;
    e->cap = cap;
    e->first = calloc(cap ? cap : 1, sizeof *e->first);
    e->count = calloc(cap ? cap : 1, sizeof *e->count);
    e->len = calloc(cap ? cap : 1, sizeof *e->len);
    CHECK(e->first && e->count && e->len);
}

static void expect_free(expect *e)
{
    free(e->first);
    free(e->count);
    free(e->len);
    free(e->scratch);
}

static uint8_t *scratch(expect *e, size_t len)
{
    if (e->scratch_cap < len || !e->scratch) {
        free(e->scratch);
        e->scratch_cap = len ? len : 1;
        e->scratch = malloc(e->scratch_cap);
        CHECK(e->scratch);
    }
    return e->scratch;
}

static int expect_cb(void *ctx, uint64_t first, uint32_t count, const uint8_t *payload, size_t len)
{
    expect *e = ctx;
    CHECK(e->seen < e->cap);
    CHECK(first == e->first[e->seen]);
    CHECK_EQ(count, e->count[e->seen]);
    CHECK_EQ(len, e->len[e->seen]);
    uint8_t *want = scratch(e, len);
    gen_payload(e->seed, e->seen, want, len);
    CHECK_MEM(payload, len, want, len);
    e->seen++;
    return TIND_OK;
}

/* Appends records [from, to) of e to w; seqnos increase with small gaps.
 * bounds (may be NULL) gets jrn_size() after each record. Returns the raw
 * payload bytes appended. */
static uint64_t append_range(jrn_writer *w, expect *e, size_t from, size_t to, uint64_t *bounds, trng *r)
{
    uint64_t raw = 0;
    for (size_t i = from; i < to; i++) {
        uint64_t prev_last = i ? e->first[i - 1] + e->count[i - 1] - 1 : 0;
        e->first[i] = prev_last + 1 + trng_below(r, 3);
        e->count[i] = 1 + (uint32_t)trng_below(r, 50);
        if (!e->preset_len)
            e->len[i] = gen_len(e->seed, i);
        uint8_t *p = scratch(e, e->len[i]);
        gen_payload(e->seed, i, p, e->len[i]);
        tind_err err;
        CHECK_OK(jrn_append(w, e->first[i], e->count[i], p, e->len[i], &err));
        raw += e->len[i];
        if (bounds)
            bounds[i] = jrn_size(w);
    }
    return raw;
}

static uint64_t file_size(fs *fsys, const char *path)
{
    fs_file *f;
    uint64_t size = 0;
    CHECK_OK(fs_open(fsys, path, FS_O_READ, &f, NULL));
    CHECK_OK(fs_size(f, &size, NULL));
    CHECK_OK(fs_close(f, NULL));
    return size;
}

static void write_file(fs *fsys, const char *path, const uint8_t *data, size_t len)
{
    fs_file *f;
    CHECK_OK(fs_open(fsys, path, FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &f, NULL));
    if (len)
        CHECK_OK(fs_write(f, data, len, 0, NULL));
    CHECK_OK(fs_close(f, NULL));
}

static fs *mem_with_dir(const char *dir)
{
    fs *m = fs_mem_new();
    CHECK(m);
    CHECK_OK(fs_mkdir(m, dir, NULL));
    CHECK_OK(fs_sync_dir(m, "/", NULL));
    return m;
}

/* ------------------------------------------------------------------ hand-made records */

/* The format as the test knows it (independent of journal.c). */
static void put_file_header(tbuf *b, uint32_t version, uint64_t number)
{
    size_t at = b->len;
    CHECK_OK(tbuf_append(b, "TINDJRN\x01", 8));
    CHECK_OK(tbuf_append_u32(b, version));
    CHECK_OK(tbuf_append_u64(b, number));
    CHECK_OK(tbuf_append_u64(b, 1)); /* start seqno */
    CHECK_OK(tbuf_append_u64(b, hash64(b->data + at, 28)));
}

static void put_record(tbuf *b, uint8_t flags, uint32_t raw_len, uint64_t first, uint32_t count, const void *payload,
                       uint32_t stored_len)
{
    size_t at = b->len;
    CHECK_OK(tbuf_append(b, "JRN1", 4));
    CHECK_OK(tbuf_append_u32(b, stored_len));
    CHECK_OK(tbuf_append_u8(b, flags));
    CHECK_OK(tbuf_append_u32(b, raw_len));
    CHECK_OK(tbuf_append_u64(b, first));
    CHECK_OK(tbuf_append_u32(b, count));
    uint8_t *whole = malloc(25 + (size_t)stored_len);
    CHECK(whole);
    memcpy(whole, b->data + at, 25);
    if (stored_len)
        memcpy(whole + 25, payload, stored_len);
    CHECK_OK(tbuf_append_u64(b, hash64(whole, 25 + (size_t)stored_len)));
    free(whole);
    CHECK_OK(tbuf_append(b, payload, stored_len));
}

static int count_cb(void *ctx, uint64_t first, uint32_t count, const uint8_t *payload, size_t len)
{
    (*(uint64_t *)ctx)++;
    return TIND_OK;
}

/* ------------------------------------------------------------------ tests */

TEST(format_bytes)
{
    fs *m = mem_with_dir("/j");
    jrn_options o = {64, 100, 0, 0};
    jrn_writer *w = NULL;
    tind_err err;
    CHECK_OK(jrn_writer_open(m, "/j", 7, &o, &w, &err));
    CHECK_EQ(jrn_number(w), 7);
    CHECK_EQ(jrn_size(w), 36);
    CHECK_OK(jrn_append(w, 100, 3, "hello", 5, &err));        /* below the threshold */
    uint8_t big[1000], rnd[1000];
    memset(big, 'a', sizeof big);
    trng r;
    trng_seed(&r, check_seed);
    for (size_t i = 0; i < sizeof rnd; i++)
        rnd[i] = (uint8_t)trng_next(&r);
    CHECK_OK(jrn_append(w, 103, 1, big, 64, &err));           /* exactly the threshold: compressed */
    CHECK_OK(jrn_append(w, 104, 2, rnd, sizeof rnd, &err));   /* incompressible: raw */
    CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
    CHECK_OK(jrn_append(w, 200, 1, NULL, 0, &err));           /* empty payload, after a sync */
    uint64_t size = jrn_size(w);
    CHECK_OK(jrn_close(w, &err));

    uint8_t *d;
    size_t n;
    CHECK_OK(fs_read_all(m, "/j/00000007.jrn", &d, &n, &err));
    CHECK_EQ(n, size);
    CHECK_MEM(d, 8, "TINDJRN\x01", 8);
    CHECK_EQ(dec_u32(d + 8), JRN_FORMAT_VERSION);
    CHECK_EQ(dec_u64(d + 12), 7);
    CHECK_EQ(dec_u64(d + 20), 100); /* start seqno */
    CHECK(dec_u64(d + 28) == hash64(d, 28));
    /* record 1 at 36: raw "hello" */
    const uint8_t *h = d + 36;
    CHECK_MEM(h, 4, "JRN1", 4);
    CHECK_EQ(dec_u32(h + 4), 5);
    CHECK_EQ(h[8], 2);   /* synced before: the header was synced at creation */
    CHECK_EQ(dec_u32(h + 9), 5);
    CHECK_EQ(dec_u64(h + 13), 100);
    CHECK_EQ(dec_u32(h + 21), 3);
    uint8_t whole[25 + 5];
    memcpy(whole, h, 25);
    memcpy(whole + 25, "hello", 5);
    CHECK(dec_u64(h + 25) == hash64(whole, sizeof whole));
    CHECK_MEM(h + 33, 5, "hello", 5);
    /* record 2: 64 x 'a', LZ4 */
    h += 33 + 5;
    CHECK_EQ(h[8], 1);
    uint32_t stored = dec_u32(h + 4);
    CHECK(stored <= 64 - 8);
    CHECK_EQ(dec_u32(h + 9), 64);
    CHECK_EQ(dec_u64(h + 13), 103);
    /* record 3: random, stored raw despite the threshold */
    h += 33 + stored;
    CHECK_EQ(h[8], 0);
    CHECK_EQ(dec_u32(h + 4), 1000);
    CHECK_EQ(dec_u32(h + 9), 1000);
    CHECK_MEM(h + 33, 1000, rnd, 1000);
    h += 33 + 1000;
    CHECK_EQ(dec_u32(h + 4), 0);
    CHECK_EQ(h[8], 2);
    CHECK_EQ(dec_u64(h + 13), 200);
    CHECK((size_t)(h + 33 - d) == n);
    free(d);

    jrn_replay_result res;
    uint64_t seen = 0;
    CHECK_OK(jrn_replay(m, "/j/00000007.jrn", count_cb, &seen, 1, &res, &err));
    CHECK_EQ(seen, 4);
    CHECK_EQ(res.records, 4);
    CHECK_EQ(res.number, 7);
    CHECK_EQ(res.has_header, 1);
    CHECK_EQ(res.start_seqno, 100);
    CHECK_EQ(res.first_seqno, 100);
    CHECK_EQ(res.last_seqno, 200);
    CHECK_EQ(res.valid_bytes, size);
    CHECK_EQ(res.truncated, 0);
    fs_destroy(m);
}

static void roundtrip_one(uint32_t threshold, size_t records)
{
    fs *m = mem_with_dir("/j");
    trng r;
    trng_seed(&r, check_seed + threshold);
    expect e;
    expect_init(&e, check_seed * 31 + threshold, records);
    jrn_writer *w = NULL;
    jrn_options o = {threshold, 1, 0, 0};
    tind_err err;
    CHECK_OK(jrn_writer_open(m, "/j", 1, &o, &w, &err));
    uint64_t raw = append_range(w, &e, 0, records, NULL, &r);
    CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
    uint64_t size = jrn_size(w);
    uint64_t uncompressed = JRN_FILE_HEADER_SIZE + 33 * (uint64_t)records + raw;
    /* the compressible payloads of 1 KiB and more must shrink by half at least */
    uint64_t compressible = 0;
    for (size_t i = 0; i < records; i++)
        if ((i % 2 == 0 || i % 2000 == 999) && e.len[i] >= 1024 && e.len[i] >= threshold)
            compressible += e.len[i];
    if (threshold == 0)
        CHECK_EQ(size, uncompressed);
    else
        CHECK(compressible > 0 && size < uncompressed - compressible / 2);
    CHECK_OK(jrn_close(w, &err));
    CHECK_EQ(file_size(m, "/j/00000001.jrn"), size);

    jrn_replay_result res;
    CHECK_OK(jrn_replay(m, "/j/00000001.jrn", expect_cb, &e, 1, &res, &err));
    CHECK_EQ(e.seen, records);
    CHECK_EQ(res.records, records);
    CHECK(res.first_seqno == e.first[0]);
    CHECK(res.last_seqno == e.first[records - 1] + e.count[records - 1] - 1);
    CHECK_EQ(res.valid_bytes, size);
    CHECK_EQ(res.tail_bytes, 0);
    CHECK_EQ(res.truncated, 0);
    CHECK_EQ(res.number, 1);
    /* no callback: still verified */
    CHECK_OK(jrn_replay(m, "/j/00000001.jrn", NULL, NULL, 0, &res, &err));
    CHECK_EQ(res.records, records);
    expect_free(&e);
    fs_destroy(m);
}

TEST(roundtrip)
{
    roundtrip_one(4096, 3000);   /* includes records of 1-2 MiB, compressible and random */
    roundtrip_one(0, 600);
    roundtrip_one(1, 300);
}

TEST(rotation_and_list)
{
    fs *m = mem_with_dir("/db");
    CHECK_OK(fs_mkdir(m, "/db/journals", NULL));
    const char *dir = "/db/journals";
    trng r;
    trng_seed(&r, check_seed + 5);
    const size_t total = 1500;
    expect e;
    expect_init(&e, check_seed + 77, total);
    /* the engine's loop: append, rotate past the size limit after a sync */
    const uint64_t limit = 64 * 1024;
    uint64_t numbers[64];
    size_t files = 0;
    uint64_t number = 3;
    jrn_writer *w = NULL;
    jrn_options o = {512, 1, 4096, 0};
    tind_err err;
    CHECK_OK(jrn_writer_open(m, dir, number, &o, &w, &err));
    numbers[files++] = number;
    for (size_t i = 0; i < total; i++) {
        append_range(w, &e, i, i + 1, NULL, &r);
        if (jrn_size(w) >= limit && i + 1 < total) {
            CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
            CHECK_OK(jrn_close(w, &err));
            number += 1 + trng_below(&r, 3);   /* numbers are shared with tables: gaps */
            if (files == 5)
                number = UINT64_C(123456789012);  /* wider than 8 digits */
            CHECK(files < 64);
            CHECK_OK(jrn_writer_open(m, dir, number, &o, &w, &err));
            numbers[files++] = number;
        }
    }
    CHECK_OK(jrn_close(w, &err));
    CHECK(files >= 7);
    /* an existing journal is never reopened for writing */
    CHECK_RC(jrn_writer_open(m, dir, numbers[0], &o, &w, &err), TIND_EEXIST);
    CHECK(w == NULL);

    /* unrelated names are ignored */
    const char *junk[] = {"LOCK", "00000004.jrn.tmp", "abc.jrn", "1.jrn", "000000005.jrn", "0000000x.jrn",
                          "00000009.JRN", ".jrn", "123456789012345678901.jrn", "99999999999999999999.jrn"};
    char path[256];
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, junk[i]);
        write_file(m, path, (const uint8_t *)"x", 1);
    }
    uint64_t *list = NULL;
    size_t count = 0;
    CHECK_OK(jrn_list(m, dir, &list, &count, &err));
    CHECK_EQ(count, files);
    for (size_t i = 0; i < files; i++)
        CHECK(list[i] == numbers[i]);

    /* replay in order reproduces every record */
    for (size_t i = 0; i < count; i++) {
        CHECK_OK(jrn_path(dir, list[i], path, sizeof path));
        jrn_replay_result res;
        CHECK_OK(jrn_replay(m, path, expect_cb, &e, 1, &res, &err));
        CHECK(res.number == list[i]);
        CHECK_EQ(res.truncated, 0);
        CHECK(res.records > 0);
    }
    CHECK_EQ(e.seen, total);
    free(list);

    /* names */
    CHECK_OK(jrn_path("/db/journals", 42, path, sizeof path));
    CHECK(strcmp(path, "/db/journals/00000042.jrn") == 0);
    CHECK_OK(jrn_path("d", UINT64_C(123456789012), path, sizeof path));
    CHECK(strcmp(path, "d/123456789012.jrn") == 0);
    CHECK_RC(jrn_path("/db/journals", 42, path, 10), TIND_EINVAL);
    uint64_t v;
    CHECK(jrn_parse_name("00000042.jrn", &v) && v == 42);
    CHECK(jrn_parse_name("18446744073709551615.jrn", &v) && v == UINT64_MAX);
    CHECK(!jrn_parse_name("18446744073709551616.jrn", &v));
    CHECK(!jrn_parse_name("0000042.jrn", &v));
    CHECK(!jrn_parse_name("00000042.jrnx", &v));
    CHECK(!jrn_parse_name("+0000042.jrn", &v));

    /* an empty or missing folder */
    CHECK_OK(fs_mkdir(m, "/empty", NULL));
    CHECK_OK(jrn_list(m, "/empty", &list, &count, &err));
    CHECK_EQ(count, 0);
    CHECK(list == NULL);
    CHECK(jrn_list(m, "/missing", &list, &count, &err) != TIND_OK);
    CHECK(jrn_replay(m, "/db/journals/00000001.jrn", NULL, NULL, 1, NULL, &err) == TIND_ENOENT);
    expect_free(&e);
    fs_destroy(m);
}

enum { SYNC_EACH = -1, SYNC_AT_END = -2 };

/* A small journal of `records` records of up to 300 bytes, except record
 * records-2 (3000 compressible bytes, stored LZ4-compressed) and record 5
 * (2000 compressible bytes). bounds[i] = file size after record i. Synced
 * after every record (SYNC_EACH), after record sync_after only, or only at
 * the end (SYNC_AT_END). */
static void make_small_journal(fs *m, const char *dir, expect *e, uint64_t *bounds, size_t records, int sync_after,
                               trng *r)
{
    e->preset_len = 1;
    for (size_t i = 0; i < records; i++)
        e->len[i] = (size_t)trng_below(r, 301);
    e->len[5] = 2000;
    e->len[records - 2] = 3000;
    jrn_writer *w = NULL;
    jrn_options o = {1024, 1, 0, 0};
    tind_err err;
    CHECK_OK(jrn_writer_open(m, dir, 1, &o, &w, &err));
    for (size_t i = 0; i < records; i++) {
        append_range(w, e, i, i + 1, bounds, r);
        if (sync_after == SYNC_EACH || (size_t)sync_after == i)
            CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
    }
    CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
    CHECK_OK(jrn_close(w, &err));
    /* the big even records were compressed */
    CHECK(bounds[records - 2] - bounds[records - 3] < 33 + 3000 - 3000 / 8);
}

TEST(torn_tail_every_offset)
{
    fs *m = mem_with_dir("/t");
    trng r;
    trng_seed(&r, check_seed + 11);
    const size_t N = 30;
    expect e;
    expect_init(&e, check_seed + 12, N);
    uint64_t bounds[30];
    make_small_journal(m, "/t", &e, bounds, N, SYNC_EACH, &r);
    uint8_t *orig;
    size_t n;
    tind_err err;
    CHECK_OK(fs_read_all(m, "/t/00000001.jrn", &orig, &n, &err));
    CHECK_EQ(n, bounds[N - 1]);
    const char *path = "/t/00000001.jrn";

    /* every cut within the last two records */
    for (size_t cut = (size_t)bounds[N - 3]; cut <= n; cut++) {
        write_file(m, path, orig, cut);
        size_t whole = 0;
        while (whole < N && bounds[whole] <= cut)
            whole++;
        uint64_t valid = whole ? bounds[whole - 1] : JRN_FILE_HEADER_SIZE;
        e.seen = 0;
        jrn_replay_result res;
        int keep = cut % 7 == 0;   /* sometimes only report */
        CHECK_OK(jrn_replay(m, path, expect_cb, &e, !keep, &res, &err));
        CHECK_EQ(e.seen, whole);
        CHECK_EQ(res.records, whole);
        CHECK_EQ(res.valid_bytes, valid);
        CHECK_EQ(res.truncated, cut != valid);
        CHECK_EQ(res.tail_bytes, cut - valid);
        CHECK_EQ(file_size(m, path), keep ? cut : valid);
        if (!keep) {
            /* idempotent: the second replay finds nothing to cut */
            e.seen = 0;
            CHECK_OK(jrn_replay(m, path, expect_cb, &e, 1, &res, &err));
            CHECK_EQ(e.seen, whole);
            CHECK_EQ(res.truncated, 0);
        }
    }
    /* cuts inside the file header: a torn creation, no records */
    for (size_t cut = 0; cut <= JRN_FILE_HEADER_SIZE; cut++) {
        write_file(m, path, orig, cut);
        jrn_replay_result res;
        uint64_t seen = 0;
        CHECK_OK(jrn_replay(m, path, count_cb, &seen, 1, &res, &err));
        CHECK_EQ(seen, 0);
        CHECK_EQ(res.records, 0);
        CHECK_EQ(res.truncated, cut > 0 && cut < JRN_FILE_HEADER_SIZE);
        CHECK_EQ(file_size(m, path), cut == JRN_FILE_HEADER_SIZE ? JRN_FILE_HEADER_SIZE : 0);
    }
    free(orig);
    expect_free(&e);
    fs_destroy(m);
}

TEST(bit_flips)
{
    fs *m = mem_with_dir("/b");
    trng r;
    trng_seed(&r, check_seed + 21);
    const size_t N = 16;
    expect e;
    expect_init(&e, check_seed + 22, N);
    uint64_t bounds[16];
    make_small_journal(m, "/b", &e, bounds, N, SYNC_EACH, &r);
    uint8_t *orig;
    size_t n;
    tind_err err;
    const char *path = "/b/00000001.jrn";
    CHECK_OK(fs_read_all(m, path, &orig, &n, &err));
    uint8_t *copy = malloc(n);
    CHECK(copy);

    /* a flip anywhere in the file header (with records after it) or in any
     * record but the last: corruption, and the file is left alone */
    size_t corrupt_cases = 0;
    for (size_t rec = 0; rec + 1 < N; rec += (rec < 3 ? 1 : 5)) {
        size_t lo = rec ? (size_t)bounds[rec - 1] : 0;
        size_t hi = (size_t)bounds[rec];
        if (rec == 0)
            lo = 0;   /* also the file header */
        for (size_t off = lo; off < hi; off += (hi - lo > 600 ? 7 : 1)) {
            memcpy(copy, orig, n);
            copy[off] ^= (uint8_t)(1u << (off % 8));
            write_file(m, path, copy, n);
            jrn_replay_result res;
            uint64_t seen = 0;
            err_clear(&err);
            CHECK_RC(jrn_replay(m, path, count_cb, &seen, 1, &res, &err), TIND_ECORRUPT);
            if (off >= JRN_FILE_HEADER_SIZE)
                CHECK(strstr(err.msg, "followed by valid records") != NULL);
            CHECK(strstr(err.msg, path) != NULL);
            CHECK_EQ(file_size(m, path), n);
            CHECK(seen <= rec);
            corrupt_cases++;
        }
    }
    CHECK(corrupt_cases > 100);

    /* a flip anywhere in the last record: a torn tail */
    for (size_t off = (size_t)bounds[N - 2]; off < n; off++) {
        memcpy(copy, orig, n);
        copy[off] ^= (uint8_t)(0x80u >> (off % 8));
        write_file(m, path, copy, n);
        jrn_replay_result res;
        e.seen = 0;
        CHECK_OK(jrn_replay(m, path, expect_cb, &e, 1, &res, &err));
        CHECK_EQ(e.seen, N - 1);
        CHECK_EQ(res.truncated, 1);
        CHECK_EQ(res.valid_bytes, bounds[N - 2]);
        CHECK_EQ(file_size(m, path), bounds[N - 2]);
    }
    free(copy);
    free(orig);
    expect_free(&e);
    fs_destroy(m);

    /* Synced only after record 7: damage up to record 7 is corruption (record
     * 8 witnesses the sync); damage after it is in bytes that were never
     * synced, so it is a torn tail there, whatever intact records follow
     * (as after a power loss that wrote pages out of order). */
    m = mem_with_dir("/b");
    expect_init(&e, check_seed + 23, N);
    make_small_journal(m, "/b", &e, bounds, N, 7, &r);
    CHECK_OK(fs_read_all(m, path, &orig, &n, &err));
    copy = malloc(n);
    CHECK(copy);
    for (size_t rec = 0; rec < N; rec++) {
        size_t lo = rec ? (size_t)bounds[rec - 1] : JRN_FILE_HEADER_SIZE;
        for (size_t k = 0; k < 12; k++) {
            size_t off = lo + (size_t)trng_below(&r, bounds[rec] - lo);
            memcpy(copy, orig, n);
            copy[off] ^= (uint8_t)(1u << trng_below(&r, 8));
            write_file(m, path, copy, n);
            jrn_replay_result res;
            uint64_t seen = 0;
            int rc = jrn_replay(m, path, count_cb, &seen, 1, &res, &err);
            if (rec <= 7) {
                CHECK_RC(rc, TIND_ECORRUPT);
                CHECK_EQ(file_size(m, path), n);
            } else {
                CHECK_OK(rc);
                CHECK_EQ(seen, rec);
                CHECK_EQ(res.valid_bytes, lo);
                CHECK_EQ(file_size(m, path), lo);
            }
        }
    }
    free(copy);
    free(orig);
    expect_free(&e);
    fs_destroy(m);
}

static int replay_bytes(const tbuf *b, uint64_t *seen, jrn_replay_result *res, tind_err *err)
{
    *seen = 0;
    return jrn_replay_buffer(b->data, b->len, count_cb, seen, res, err);
}

TEST(replay_rules)
{
    tbuf b = TBUF_INIT;
    uint64_t seen;
    jrn_replay_result res;
    tind_err err;
    const char pay[] = "payload";

    /* baseline: two good records */
    put_file_header(&b, 2, 9);
    put_record(&b, 0, 7, 10, 2, pay, 7);
    put_record(&b, 0, 7, 12, 1, pay, 7);
    CHECK_OK(replay_bytes(&b, &seen, &res, &err));
    CHECK_EQ(seen, 2);
    CHECK_EQ(res.last_seqno, 12);
    CHECK_EQ(res.number, 9);

    /* seqnos must increase: overlapping ranges and repeats are corruption */
    tbuf_reset(&b);
    put_file_header(&b, 2, 9);
    put_record(&b, 0, 7, 10, 2, pay, 7);
    put_record(&b, 0, 7, 11, 1, pay, 7);
    CHECK_RC(replay_bytes(&b, &seen, &res, &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "seqno") != NULL);

    /* count 0, unknown flags, raw length mismatch, garbage LZ4 */
    struct { uint8_t flags; uint32_t raw; uint32_t count; } bad[] = {
        {0, 7, 0}, {4, 7, 1}, {0x81, 7, 1}, {0, 8, 1}, {1, 100, 1}, {1, 100000, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tbuf_reset(&b);
        put_file_header(&b, 2, 9);
        put_record(&b, bad[i].flags, bad[i].raw, 10, bad[i].count, pay, 7);
        CHECK_RC(replay_bytes(&b, &seen, &res, &err), TIND_ECORRUPT);
        CHECK_EQ(seen, 0);
    }
    /* seqno overflow */
    tbuf_reset(&b);
    put_file_header(&b, 2, 9);
    put_record(&b, 0, 7, UINT64_MAX, 2, pay, 7);
    CHECK_RC(replay_bytes(&b, &seen, &res, &err), TIND_ECORRUPT);
    tbuf_reset(&b);
    put_file_header(&b, 2, 9);
    put_record(&b, 0, 7, UINT64_MAX, 1, pay, 7);
    CHECK_OK(replay_bytes(&b, &seen, &res, &err));
    CHECK(res.last_seqno == UINT64_MAX);

    /* a newer format version is TIND_EVERSION; version 0 and the 28-byte
     * header of version 1 are corruption */
    tbuf_reset(&b);
    put_file_header(&b, JRN_FORMAT_VERSION + 1, 9);
    put_record(&b, 0, 7, 10, 1, pay, 7);
    CHECK_RC(replay_bytes(&b, &seen, &res, &err), TIND_EVERSION);
    tbuf_reset(&b);
    put_file_header(&b, 0, 9);
    CHECK_RC(replay_bytes(&b, &seen, &res, &err), TIND_ECORRUPT);
    tbuf_reset(&b);
    put_file_header(&b, 1, 9);
    put_record(&b, 0, 7, 10, 1, pay, 7);
    CHECK_RC(replay_bytes(&b, &seen, &res, &err), TIND_ECORRUPT);

    /* a bad header in a header-only file is a torn creation */
    tbuf_reset(&b);
    put_file_header(&b, 2, 9);
    b.data[3] ^= 1;
    CHECK_OK(replay_bytes(&b, &seen, &res, &err));
    CHECK_EQ(res.truncated, 1);
    CHECK_EQ(res.valid_bytes, 0);
    CHECK_OK(tbuf_append_u8(&b, 0));
    CHECK_RC(replay_bytes(&b, &seen, &res, &err), TIND_ECORRUPT);
    CHECK_OK(jrn_replay_buffer(NULL, 0, NULL, NULL, &res, &err));
    CHECK_EQ(res.truncated, 0);

    /* A torn record whose payload carries an older record (a journal stored
     * as a value), even one flagged synced-before: its seqno is not above the
     * last replayed one, so the tail is torn, not corrupt. A synced-before
     * record with a later seqno after a damaged one is corruption; without
     * the flag it is a torn tail. */
    tbuf inner = TBUF_INIT;
    put_record(&inner, 2, 7, 5, 1, pay, 7);
    tbuf_reset(&b);
    put_file_header(&b, 2, 9);
    put_record(&b, 0, 7, 10, 1, pay, 7);
    size_t torn_at = b.len;
    put_record(&b, 0, (uint32_t)inner.len, 20, 1, inner.data, (uint32_t)inner.len);
    b.data[torn_at + 30] ^= 4;   /* damage its checksum */
    CHECK_OK(replay_bytes(&b, &seen, &res, &err));
    CHECK_EQ(seen, 1);
    CHECK_EQ(res.truncated, 1);
    CHECK_EQ(res.valid_bytes, torn_at);
    tbuf_reset(&inner);
    put_record(&inner, 2, 7, 11, 1, pay, 7);
    tbuf_reset(&b);
    put_file_header(&b, 2, 9);
    put_record(&b, 0, 7, 10, 1, pay, 7);
    put_record(&b, 0, (uint32_t)inner.len, 20, 1, inner.data, (uint32_t)inner.len);
    b.data[torn_at + 30] ^= 4;
    CHECK_RC(replay_bytes(&b, &seen, &res, &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "checksum mismatch, followed by valid records") != NULL);
    tbuf_reset(&inner);
    put_record(&inner, 0, 7, 11, 1, pay, 7);
    tbuf_reset(&b);
    put_file_header(&b, 2, 9);
    put_record(&b, 0, 7, 10, 1, pay, 7);
    put_record(&b, 0, (uint32_t)inner.len, 20, 1, inner.data, (uint32_t)inner.len);
    b.data[torn_at + 30] ^= 4;
    CHECK_OK(replay_bytes(&b, &seen, &res, &err));
    CHECK_EQ(res.valid_bytes, torn_at);
    tbuf_free(&inner);

    /* the witness is searched at every offset, even right after the damage */
    tbuf_reset(&b);
    put_file_header(&b, 2, 9);
    put_record(&b, 2, 1, 10, 1, "a", 1);
    put_record(&b, 2, 1, 11, 1, "b", 1);
    b.data[JRN_FILE_HEADER_SIZE + 27] ^= 1;
    CHECK_RC(replay_bytes(&b, &seen, &res, &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "offset 36:") != NULL);
    CHECK(strstr(err.msg, "offset 70 ") != NULL);

    /* zero-filled tail (a file extended but never written): torn */
    tbuf_reset(&b);
    put_file_header(&b, 2, 9);
    put_record(&b, 0, 7, 10, 1, pay, 7);
    for (int i = 0; i < 4096; i++)
        CHECK_OK(tbuf_append_u8(&b, 0));
    CHECK_OK(replay_bytes(&b, &seen, &res, &err));
    CHECK_EQ(res.tail_bytes, 4096);

    /* reporting only (no truncation) leaves the file alone */
    fs *m = mem_with_dir("/r");
    tbuf_reset(&b);
    put_file_header(&b, 2, 3);
    for (uint64_t s = 1; s <= 5; s++)
        put_record(&b, 0, 7, s, 1, pay, 7);
    CHECK_OK(tbuf_append(&b, "JRN1", 4));   /* a torn tail */
    write_file(m, "/r/00000003.jrn", b.data, b.len);
    uint64_t cnt = 0;
    CHECK_OK(jrn_replay(m, "/r/00000003.jrn", count_cb, &cnt, 0, &res, &err));
    CHECK_EQ(cnt, 5);
    CHECK_EQ(res.truncated, 1);
    CHECK_EQ(file_size(m, "/r/00000003.jrn"), b.len);
    /* the header's number must match the file name */
    write_file(m, "/r/00000004.jrn", b.data, b.len);
    CHECK_RC(jrn_replay(m, "/r/00000004.jrn", count_cb, &cnt, 1, &res, &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "names journal 3") != NULL);
    /* any other name is not checked */
    write_file(m, "/r/copy.bin", b.data, b.len);
    CHECK_OK(jrn_replay(m, "/r/copy.bin", count_cb, &cnt, 1, &res, &err));
    CHECK_EQ(file_size(m, "/r/copy.bin"), b.len - 4);
    fs_destroy(m);
    tbuf_free(&b);
}

static int fail_third(void *ctx, uint64_t first, uint32_t count, const uint8_t *payload, size_t len)
{
    uint64_t *seen = ctx;
    if (*seen == 2)
        return TIND_ENOMEM;
    (*seen)++;
    return TIND_OK;
}

TEST(marks)
{
    /* format 5's marks: no entries, a witness only (journal.h, "Marks") */
    tbuf b = TBUF_INIT;
    uint64_t seen;
    jrn_replay_result res;
    tind_err err;
    const char pay[] = "payload";
    const uint8_t M = JRN_FLAG_MARK, SB = JRN_FLAG_SYNCED_BEFORE, PS = JRN_FLAG_PRIOR_SYNCED;

    /* a mark first, between records and last: never handed to the
     * callback, not counted, its seqno the next record's */
    put_file_header(&b, 5, 9);
    put_record(&b, M | PS, 0, 1, 0, NULL, 0);
    put_record(&b, 0, 7, 1, 2, pay, 7);
    put_record(&b, M | SB, 0, 3, 0, NULL, 0);
    put_record(&b, 0, 7, 3, 1, pay, 7);
    put_record(&b, M | SB | PS, 0, 4, 0, NULL, 0);
    CHECK_OK(replay_bytes(&b, &seen, &res, &err));
    CHECK_EQ(seen, 2);
    CHECK_EQ(res.records, 2);
    CHECK_EQ(res.marks, 3);
    CHECK_EQ(res.first_seqno, 1);
    CHECK_EQ(res.last_seqno, 3);
    CHECK_EQ(res.prior_synced, 1);
    CHECK_EQ(res.valid_bytes, b.len);
    CHECK_EQ(jrn_skip_marks(b.data, b.len, JRN_FILE_HEADER_SIZE), JRN_FILE_HEADER_SIZE + JRN_RECORD_HEADER_SIZE);
    CHECK_EQ(jrn_skip_marks(b.data, b.len, b.len - JRN_RECORD_HEADER_SIZE), b.len);

    /* a mark whose seqno is behind the last record's end, a record behind a
     * mark, a mark with entries or bytes or compressed, a mark in format 4:
     * written whole, so corruption */
    struct { uint32_t version; uint8_t flags; uint64_t seqno; uint32_t count; uint32_t stored; } bad[] = {
        {5, M, 2, 0, 0}, {5, M, 5, 0, 0}, {5, M, 3, 1, 0}, {5, M, 3, 0, 7}, {5, M | JRN_FLAG_LZ4, 3, 0, 0},
        {4, M, 3, 0, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tbuf_reset(&b);
        put_file_header(&b, bad[i].version, 9);
        put_record(&b, 0, 7, 1, 2, pay, 7);
        put_record(&b, bad[i].flags, bad[i].stored, bad[i].seqno, bad[i].count, pay, bad[i].stored);
        if (bad[i].seqno == 5) /* a record after it, below the mark's seqno */
            put_record(&b, 0, 7, 3, 1, pay, 7);
        CHECK_RC(replay_bytes(&b, &seen, &res, &err), TIND_ECORRUPT);
        CHECK(strstr(err.msg, "offset") != NULL);
    }

    /* a mark witnesses like a record: a damaged record before a mark that
     * carries the synced-before flag is corruption, before one without it
     * a torn tail; a damaged mark at the end is a torn tail */
    for (int flag = 0; flag < 2; flag++) {
        tbuf_reset(&b);
        put_file_header(&b, 5, 9);
        put_record(&b, 0, 7, 1, 2, pay, 7);
        size_t at = b.len;
        put_record(&b, 0, 7, 3, 1, pay, 7);
        put_record(&b, flag ? M | SB : M, 0, 4, 0, NULL, 0);
        b.data[at + JRN_RECORD_HEADER_SIZE + 2] ^= 1;
        int rc = replay_bytes(&b, &seen, &res, &err);
        if (flag) {
            CHECK_RC(rc, TIND_ECORRUPT);
            CHECK(strstr(err.msg, "followed by valid records") != NULL);
        } else {
            CHECK_OK(rc);
            CHECK_EQ(seen, 1);
            CHECK_EQ(res.valid_bytes, at);
        }
    }
    tbuf_reset(&b);
    put_file_header(&b, 5, 9);
    put_record(&b, 0, 7, 1, 2, pay, 7);
    size_t whole = b.len;
    put_record(&b, M | SB, 0, 3, 0, NULL, 0);
    b.data[b.len - 1] ^= 1;
    CHECK_OK(replay_bytes(&b, &seen, &res, &err));
    CHECK_EQ(res.valid_bytes, whole);
    CHECK_EQ(res.marks, 0);

    /* the writer: a journal made with prior_synced starts with a mark (seqno
     * = start, prior-synced, synced-before: the header was synced); a mark
     * added after records takes the next seqno; records after a mark go on
     * from there */
    fs *m = mem_with_dir("/j");
    jrn_options o = {0, 50, 0, 1};
    jrn_writer *w = NULL;
    CHECK_OK(jrn_writer_open(m, "/j", 3, &o, &w, &err));
    CHECK_EQ(jrn_size(w), JRN_FILE_HEADER_SIZE + JRN_RECORD_HEADER_SIZE);
    CHECK_EQ(jrn_synced(w), 0);
    CHECK_OK(jrn_append(w, 50, 2, pay, 7, &err));
    CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
    CHECK_OK(jrn_add_mark(w, &err));
    CHECK_OK(jrn_append(w, 52, 1, pay, 7, &err));
    CHECK_OK(jrn_close(w, &err));
    uint8_t *d = NULL;
    size_t n = 0;
    CHECK_OK(fs_read_all(m, "/j/00000003.jrn", &d, &n, NULL));
    const uint8_t *h = d + JRN_FILE_HEADER_SIZE;
    CHECK_EQ(h[8], M | SB | PS);
    CHECK_EQ(dec_u64(h + 13), 50);
    CHECK_EQ(dec_u32(h + 21), 0);
    h += JRN_RECORD_HEADER_SIZE + JRN_RECORD_HEADER_SIZE + 7;
    CHECK_EQ(h[8], M | SB | PS);
    CHECK_EQ(dec_u64(h + 13), 52);
    free(d);
    jrn_replay_result r2;
    CHECK_OK(jrn_replay(m, "/j/00000003.jrn", count_cb, &seen, 0, &r2, &err));
    CHECK_EQ(r2.records, 2);
    CHECK_EQ(r2.marks, 2);
    CHECK_EQ(r2.last_seqno, 52);
    /* without prior_synced no mark is written at the start */
    o.prior_synced = 0;
    CHECK_OK(jrn_writer_open(m, "/j", 4, &o, &w, &err));
    CHECK_EQ(jrn_size(w), JRN_FILE_HEADER_SIZE);
    CHECK_OK(jrn_close(w, &err));
    fs_destroy(m);
    tbuf_free(&b);
}

TEST(callback_status)
{
    fs *m = mem_with_dir("/c");
    jrn_writer *w;
    tind_err err;
    CHECK_OK(jrn_writer_open(m, "/c", 1, NULL, &w, &err));
    for (uint64_t s = 1; s <= 5; s++)
        CHECK_OK(jrn_append(w, s * 10, 1, "x", 1, &err));
    CHECK_OK(jrn_append(w, 60, 1, "torn", 4, &err));
    uint64_t size = jrn_size(w);
    CHECK_OK(jrn_close(w, &err));
    /* tear the last record */
    fs_file *f;
    CHECK_OK(fs_open(m, "/c/00000001.jrn", FS_O_WRITE, &f, &err));
    CHECK_OK(fs_truncate(f, size - 2, &err));
    CHECK_OK(fs_close(f, &err));
    uint64_t seen = 0;
    jrn_replay_result res;
    CHECK_RC(jrn_replay(m, "/c/00000001.jrn", fail_third, &seen, 1, &res, &err), TIND_ENOMEM);
    CHECK_EQ(seen, 2);
    CHECK_EQ(res.records, 2);
    CHECK(strstr(err.msg, "replay stopped") != NULL);
    CHECK_EQ(file_size(m, "/c/00000001.jrn"), size - 2);   /* nothing cut */
    fs_destroy(m);
}

TEST(writer_arguments)
{
    fs *m = mem_with_dir("/w");
    jrn_writer *w;
    tind_err err;
    CHECK_OK(jrn_writer_open(m, "/w", 1, NULL, &w, &err));
    CHECK_RC(jrn_append(w, 10, 0, "x", 1, &err), TIND_EINVAL);
    CHECK_RC(jrn_append(w, UINT64_MAX, 2, "x", 1, &err), TIND_EINVAL);
    CHECK_RC(jrn_append(w, 10, 1, NULL, 1, &err), TIND_EINVAL);
    CHECK_OK(jrn_append(w, 10, 5, "x", 1, &err));
    CHECK_RC(jrn_append(w, 14, 1, "x", 1, &err), TIND_EINVAL);   /* 10..14 taken */
    CHECK_RC(jrn_sync(w, 0, &err), TIND_EINVAL);
    CHECK_EQ(jrn_failed(w), 0);
    CHECK_OK(jrn_append(w, 15, 1, "x", 1, &err));
    CHECK_OK(jrn_sync(w, FS_SYNC_ALL, &err));
    CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));   /* nothing new: no call */
    CHECK_OK(jrn_close(w, &err));
    CHECK_OK(jrn_close(NULL, &err));
    uint64_t seen = 0;
    CHECK_OK(jrn_replay(m, "/w/00000001.jrn", count_cb, &seen, 1, NULL, &err));
    CHECK_EQ(seen, 2);
    /* a folder that does not exist */
    CHECK(jrn_writer_open(m, "/nowhere", 1, NULL, &w, &err) != TIND_OK);
    CHECK(w == NULL);
    fs_destroy(m);
}

TEST(crash)
{
    trng r;
    trng_seed(&r, check_seed + 31);
    const int iterations = (int)(2000 * check_scale());
    uint64_t with_unsynced = 0, unsynced_kept = 0, cut = 0;
    for (int it = 0; it < iterations; it++) {
        fs *m = mem_with_dir("/c");
        size_t synced = (size_t)trng_below(&r, 12);
        size_t more = (size_t)trng_below(&r, 12);
        expect e;
        expect_init(&e, check_seed * 1000 + (uint64_t)it, synced + more);
        jrn_writer *w;
        jrn_options o = {(uint32_t)(trng_below(&r, 2) ? 256 : 0), 1, trng_below(&r, 2) ? 4096 : 0, 0};
        tind_err err;
        CHECK_OK(jrn_writer_open(m, "/c", 1, &o, &w, &err));
        append_range(w, &e, 0, synced, NULL, &r);
        CHECK_OK(jrn_sync(w, trng_below(&r, 2) ? FS_SYNC_DATA : FS_SYNC_ALL, &err));
        uint64_t synced_size = jrn_size(w);
        append_range(w, &e, synced, synced + more, NULL, &r);
        int modes = FS_CRASH_DROP_UNSYNCED | FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR;
        if (it % 4 == 1)
            modes = FS_CRASH_DROP_UNSYNCED;
        else if (it % 4 == 2)
            modes = FS_CRASH_DROP_UNSYNCED | FS_CRASH_TEAR_SECTOR | FS_CRASH_DROP_DIRENTS;
        CHECK_OK(fs_mem_crash(m, modes, trng_next(&r)));
        jrn_close(w, NULL);   /* a stale handle: only freed */

        jrn_replay_result res;
        CHECK_OK_MSG(jrn_replay(m, "/c/00000001.jrn", expect_cb, &e, 1, &res, &err));
        CHECK(e.seen >= synced);
        CHECK(e.seen <= synced + more);
        CHECK(res.valid_bytes >= synced_size);
        CHECK_EQ(file_size(m, "/c/00000001.jrn"), res.valid_bytes);
        with_unsynced += more > 0;
        unsynced_kept += e.seen > synced;
        cut += (uint64_t)res.truncated;
        size_t first_pass = e.seen;
        e.seen = 0;
        CHECK_OK_MSG(jrn_replay(m, "/c/00000001.jrn", expect_cb, &e, 1, &res, &err));
        CHECK_EQ(e.seen, first_pass);
        CHECK_EQ(res.truncated, 0);
        /* the journal after the crash is usable: a new one can be started */
        CHECK_OK(jrn_writer_open(m, "/c", 2, NULL, &w, &err));
        CHECK_OK(jrn_close(w, &err));
        expect_free(&e);
        fs_destroy(m);
    }
    /* the simulation really exercised both outcomes */
    CHECK(unsynced_kept > 0);
    CHECK(cut > 0);
    CHECK(with_unsynced > unsynced_kept);

    /* a crash right after creation: the synced header survives */
    fs *m = mem_with_dir("/c");
    jrn_writer *w;
    CHECK_OK(jrn_writer_open(m, "/c", 1, NULL, &w, NULL));
    CHECK_OK(fs_mem_crash(m, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS | FS_CRASH_TEAR_SECTOR, 1));
    jrn_close(w, NULL);
    jrn_replay_result res;
    CHECK_OK(jrn_replay(m, "/c/00000001.jrn", NULL, NULL, 1, &res, NULL));
    CHECK_EQ(res.valid_bytes, JRN_FILE_HEADER_SIZE);
    CHECK_EQ(res.number, 1);
    fs_destroy(m);
}

/* ------------------------------------------------------------------ sealed, unsynced journals */

typedef struct seq_check {
    uint64_t next;    /* the seqno the next record must carry */
} seq_check;

static int seq_cb(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload, size_t len)
{
    seq_check *c = ctx;
    (void)payload;
    (void)len;
    CHECK_EQ(first_seqno, c->next); /* a prefix: no holes */
    c->next = first_seqno + count;
    return TIND_OK;
}

/* Replays the set in "/d/journals"; returns the last seqno replayed. */
static uint64_t replay_set(fs *m, int *rc_out, char *msg, size_t msgsize)
{
    jset s;
    CHECK_OK(jset_init(&s, m, "/d", 0));
    seq_check c = {1};
    uint64_t next = 1, max_seqno = 0;
    tind_err err;
    err_clear(&err);
    int rc = jset_replay(&s, seq_cb, &c, 0, 0, &next, &max_seqno, &err);
    if (msg)
        snprintf(msg, msgsize, "%s", err.msg);
    jset_free(&s);
    if (rc_out)
        *rc_out = rc;
    else if (rc)
        check_fail(__FILE__, __LINE__, "jset_replay: %s: %s", tind_strerror(rc), err.msg);
    return c.next - 1;
}

static int count_journals(fs *m)
{
    uint64_t *numbers = NULL;
    size_t count = 0;
    CHECK_OK(jrn_list(m, "/d/journals", &numbers, &count, NULL));
    free(numbers);
    return (int)count;
}

TEST(sealed_unsynced_crash)
{
    /* Journals sealed without a sync (format 4), synced only by a later
     * jset_sync, which syncs the older ones first. After any power loss the
     * replay is a prefix of the records (no holes), holds every record a
     * sync acknowledged, and a second replay agrees with the first. */
    trng r;
    trng_seed(&r, check_seed + 47);
    const int iterations = (int)(600 * check_scale()) + 20;
    uint64_t torn_dropped = 0, beyond_synced = 0, lost_unsynced = 0;
    for (int it = 0; it < iterations; it++) {
        fs *m = mem_with_dir("/d");
        CHECK_OK(fs_mkdir(m, "/d/journals", NULL));
        CHECK_OK(fs_sync_dir(m, "/d", NULL));
        jset s;
        CHECK_OK(jset_init(&s, m, "/d", trng_below(&r, 2) ? 64 : 0));
        s.preallocate = trng_below(&r, 2) ? 4096 : 0;
        uint64_t seq = 0, synced = 0, number = 1;
        CHECK_OK(jset_start(&s, number++, 1, NULL));
        int journals = 3 + (int)trng_below(&r, 4), sync_pct = (int)trng_below(&r, 30);
        for (int j = 0; j < journals; j++) {
            int records = 1 + (int)trng_below(&r, 8);
            for (int k = 0; k < records; k++) {
                uint8_t payload[300];
                size_t len = (size_t)trng_below(&r, sizeof payload);
                for (size_t b = 0; b < len; b++)
                    payload[b] = (uint8_t)(b % 7 ? trng_next(&r) : 'a');
                uint64_t grown;
                seq++;
                CHECK_OK(jset_append(&s, seq, 1, payload, len, &grown, NULL));
                if ((int)trng_below(&r, 100) < sync_pct) {
                    CHECK_OK(jset_sync(&s, FS_SYNC_DATA, seq, NULL));
                    synced = seq;
                }
            }
            if (j + 1 < journals) {
                CHECK_OK(jset_seal(&s, seq, NULL));
                CHECK_OK(jset_start(&s, number++, seq + 1, NULL));
            }
        }
        int modes = FS_CRASH_DROP_UNSYNCED | FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR;
        if (it % 4 == 1)
            modes = FS_CRASH_DROP_UNSYNCED;
        else if (it % 4 == 2)
            modes = FS_CRASH_KEEP_PREFIX | FS_CRASH_DROP_DIRENTS;
        else if (it % 4 == 3)
            modes = FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR | FS_CRASH_DROP_DIRENTS;
        CHECK_OK(fs_mem_crash(m, modes, trng_next(&r)));
        jset_close(&s, 0, NULL); /* a stale handle: only freed */
        jset_free(&s);
        int before = count_journals(m);
        uint64_t got = replay_set(m, NULL, NULL, 0);
        CHECK(got >= synced);
        CHECK(got <= seq);
        torn_dropped += count_journals(m) < before;
        beyond_synced += got > synced;
        lost_unsynced += got < seq;
        CHECK_EQ(replay_set(m, NULL, NULL, 0), got); /* stable */
        /* the folder takes new journals: they continue the recovered end */
        CHECK_OK(jset_init(&s, m, "/d", 0));
        seq_check c = {1};
        uint64_t next = 1, max_seqno = 0;
        CHECK_OK(jset_replay(&s, seq_cb, &c, 0, 0, &next, &max_seqno, NULL));
        CHECK_EQ(max_seqno, got);
        CHECK_OK(jset_start(&s, next, got + 1, NULL));
        uint64_t grown;
        CHECK_OK(jset_append(&s, got + 1, 1, "x", 1, &grown, NULL));
        CHECK_OK(jset_close(&s, 1, NULL));
        jset_free(&s);
        CHECK_EQ(replay_set(m, NULL, NULL, 0), got + 1);
        fs_destroy(m);
    }
    /* both outcomes were exercised */
    CHECK(torn_dropped > 0);
    CHECK(beyond_synced > 0);
    CHECK(lost_unsynced > 0);
}

/* Three sealed journals (records 1-4, 5-8, 9-12) and a fourth being
 * written (13-14), none synced. */
/* Journals 1-3 sealed (unsynced), 4 open. sync_after 1: a sync, then a
 * record carrying the prior-synced flag; 2: a clean close (its sync and
 * mark); 0: closed as a crash leaves them. */
static void three_sealed(fs *m, jset *s, int sync_after)
{
    CHECK_OK(fs_mkdir(m, "/d/journals", NULL));
    CHECK_OK(jset_init(s, m, "/d", 0));
    uint64_t seq = 0, grown;
    for (uint64_t n = 1; n <= 4; n++) {
        CHECK_OK(jset_start(s, n, seq + 1, NULL));
        for (int k = 0; k < (n == 4 ? 2 : 4); k++) {
            seq++;
            CHECK_OK(jset_append(s, seq, 1, "record-payload", 14, &grown, NULL));
        }
        if (n < 4)
            CHECK_OK(jset_seal(s, seq, NULL));
    }
    if (sync_after == 1) {
        CHECK_OK(jset_sync(s, FS_SYNC_DATA, seq, NULL)); /* journals 1-3 first */
        CHECK_OK(jset_append(s, 15, 1, "proof", 5, &grown, NULL));
    }
    CHECK_OK(jset_close(s, sync_after == 2, NULL));
    jset_free(s);
}

TEST(sealed_torn_middle)
{
    /* the middle of three sealed journals ends in a torn record: replay
     * stops there and the later journals go (the first two of journal 2's
     * records survive); a record written after a sync of the older journals,
     * or a clean close's mark, proves the damage is not a crash's:
     * TIND_ECORRUPT. Damage 3 deletes the middle journal: after a crash
     * that is journal 1 ending early (journals 3 and 4 go), after a sync a
     * hole (before marks a clean close left it unreported, batches lost) */
    for (int sync_after = 0; sync_after < 3; sync_after++)
        for (int damage = 0; damage < 4; damage++) {
            fs *m = mem_with_dir("/d");
            jset s;
            three_sealed(m, &s, sync_after);
            const char *mid = "/d/journals/00000002.jrn";
            uint64_t size = file_size(m, mid);
            uint64_t rec = JRN_RECORD_HEADER_SIZE + 14;
            uint8_t *data = NULL;
            size_t len = 0;
            CHECK_OK(fs_read_all(m, mid, &data, &len, NULL));
            CHECK_EQ(len, size);
            if (damage == 0)
                len = JRN_FILE_HEADER_SIZE + 2 * rec + rec / 2; /* a torn third record */
            else if (damage == 1)
                data[JRN_FILE_HEADER_SIZE + 2 * rec + 40] ^= 0x10; /* garbage in it */
            else if (damage == 2)
                len = JRN_FILE_HEADER_SIZE + 2 * rec; /* whole records lost */
            if (damage == 3)
                CHECK_OK(fs_unlink(m, mid, NULL));
            else
                CHECK_OK(fs_write_atomic(m, "/d/journals", "00000002.jrn", data, len, NULL));
            free(data);
            int rc;
            char msg[512];
            uint64_t got = replay_set(m, &rc, msg, sizeof msg);
            if (sync_after && damage == 3) {
                CHECK_RC(rc, TIND_ECORRUPT);
                CHECK(strstr(msg, "records are missing") != NULL);
                CHECK(strstr(msg, "00000001.jrn") != NULL && strstr(msg, "00000004.jrn") != NULL);
                CHECK_EQ(count_journals(m), 3); /* nothing deleted */
            } else if (sync_after) {
                CHECK_RC(rc, TIND_ECORRUPT);
                CHECK(strstr(msg, damage == 2 ? "records are missing" : "damaged record") != NULL);
                CHECK(strstr(msg, "00000002.jrn") != NULL && strstr(msg, "00000004.jrn") != NULL);
                CHECK_EQ(count_journals(m), 4); /* nothing deleted */
            } else if (damage == 3) {
                CHECK_OK(rc);
                CHECK_EQ(got, 4); /* journal 1's */
                CHECK_EQ(count_journals(m), 1);
            } else {
                CHECK_OK(rc);
                CHECK_EQ(got, 6);
                CHECK_EQ(count_journals(m), 2);
                CHECK_EQ(file_size(m, mid), JRN_FILE_HEADER_SIZE + 2 * rec); /* the torn tail cut */
                CHECK_EQ(replay_set(m, NULL, NULL, 0), 6);
            }
            fs_destroy(m);
        }
}

TEST(format_3_sealed_torn)
{
    /* a journal of format 3 was synced when sealed: a torn tail in one
     * that is not the newest is corruption, proof or not */
    fs *m = mem_with_dir("/d");
    jset s;
    three_sealed(m, &s, 0);
    for (int n = 1; n <= 4; n++) {
        char name[32], path[64];
        snprintf(name, sizeof name, "%08d.jrn", n);
        snprintf(path, sizeof path, "/d/journals/%s", name);
        uint8_t *data = NULL;
        size_t len = 0;
        CHECK_OK(fs_read_all(m, path, &data, &len, NULL));
        enc_u32(data + 8, 3);
        enc_u64(data + 28, hash64(data, 28));
        /* format 3 has no prior-synced flag and no marks: clear the flag
         * (checksums follow) and take the marks out */
        for (size_t off = JRN_FILE_HEADER_SIZE; off + JRN_RECORD_HEADER_SIZE <= len;) {
            uint8_t *h = data + off;
            size_t stored = dec_u32(h + 4);
            if (h[8] & JRN_FLAG_MARK) {
                memmove(h, h + JRN_RECORD_HEADER_SIZE, len - off - JRN_RECORD_HEADER_SIZE);
                len -= JRN_RECORD_HEADER_SIZE;
                continue;
            }
            h[8] &= (uint8_t)~JRN_FLAG_PRIOR_SYNCED;
            hash64_stream hs;
            hash64_begin(&hs);
            hash64_update(&hs, h, 25);
            hash64_update(&hs, h + JRN_RECORD_HEADER_SIZE, stored);
            enc_u64(h + 25, hash64_end(&hs));
            off += JRN_RECORD_HEADER_SIZE + stored;
        }
        if (n == 2)
            len -= 5;
        CHECK_OK(fs_write_atomic(m, "/d/journals", name, data, len, NULL));
        free(data);
    }
    int rc;
    char msg[512];
    replay_set(m, &rc, msg, sizeof msg);
    if (rc != TIND_ECORRUPT || !strstr(msg, "00000002.jrn"))
        check_fail(__FILE__, __LINE__, "replay: %s: %s", tind_strerror(rc), msg);
    CHECK_EQ(count_journals(m), 4);
    fs_destroy(m);
}

/* Appends records 1..n to a fresh writer on fsys. */
static jrn_writer *open_with(fs *fsys, const char *dir, int n)
{
    jrn_writer *w = NULL;
    CHECK_OK(jrn_writer_open(fsys, dir, 1, NULL, &w, NULL));
    for (int i = 1; i <= n; i++)
        CHECK_OK(jrn_append(w, (uint64_t)i, 1, "record", 6, NULL));
    return w;
}

TEST(fault_injection)
{
    tind_err err;
    jrn_replay_result res;
    uint64_t seen;

    /* a failed write (EIO, then a short write that leaves a partial record):
     * the error is returned, everything after is refused */
    for (int effect = 0; effect < 2; effect++) {
        fs *m = mem_with_dir("/f");
        fs *ff = fs_fault_new(m, 0);
        CHECK(ff);
        jrn_writer *w = open_with(ff, "/f", 5);
        char big[4000];
        memset(big, 'q', sizeof big);
        fs_fault_arm(ff, FS_CALL_WRITE, 1, effect ? FS_FAULT_SHORT_WRITE : FS_FAULT_ERRNO, effect ? ENOSPC : EIO, 0,
                     NULL);
        int rc = jrn_append(w, 6, 1, big, sizeof big, &err);
        CHECK_RC(rc, effect ? TIND_ENOSPC : TIND_EIO);
        CHECK(strstr(err.msg, "00000001.jrn") != NULL);
        CHECK_EQ(jrn_failed(w), 1);
        CHECK_RC(jrn_append(w, 7, 1, "x", 1, &err), TIND_EPOISONED);
        CHECK_RC(jrn_sync(w, FS_SYNC_DATA, &err), TIND_EPOISONED);
        CHECK_RC(jrn_append(w, 8, 1, "x", 1, &err), TIND_EPOISONED);
        CHECK_EQ(fs_fault_calls(ff, FS_CALL_SYNC), 1);   /* only the header's: the failed one was never retried */
        CHECK_OK(jrn_close(w, &err));
        /* close tried the failed record once more (the fault has passed):
         * it is whole, over what the short write left */
        seen = 0;
        CHECK_OK(jrn_replay(m, "/f/00000001.jrn", count_cb, &seen, 1, &res, &err));
        CHECK_EQ(seen, 6);
        fs_destroy(ff);
        fs_destroy(m);
    }

    /* the creation mark of a journal made with prior_synced cannot be
     * written: the open fails with the cause and the half-made file goes */
    {
        fs *m = mem_with_dir("/f");
        fs *ff = fs_fault_new(m, 0);
        jrn_options o = {0, 1, 0, 1};
        jrn_writer *w = NULL;
        fs_fault_arm(ff, FS_CALL_WRITE, 2, FS_FAULT_ERRNO, ENOSPC, 0, NULL); /* the header's write is the first */
        CHECK_RC(jrn_writer_open(ff, "/f", 1, &o, &w, &err), TIND_ENOSPC);
        CHECK(w == NULL);
        uint64_t *numbers = NULL;
        size_t count = 1;
        CHECK_OK(jrn_list(m, "/f", &numbers, &count, NULL));
        CHECK_EQ(count, 0);
        free(numbers);
        fs_fault_disarm(ff);
        CHECK_OK(jrn_writer_open(ff, "/f", 1, &o, &w, &err));
        CHECK_OK(jrn_close(w, &err));
        fs_destroy(ff);
        fs_destroy(m);
    }

    /* a failed sync: returned once, then the writer is poisoned and never syncs again */
    {
        fs *m = mem_with_dir("/f");
        fs *ff = fs_fault_new(m, 0);
        jrn_writer *w = open_with(ff, "/f", 3);
        fs_fault_arm(ff, FS_CALL_SYNC, 1, FS_FAULT_ERRNO, EIO, 0, NULL);
        CHECK_RC(jrn_sync(w, FS_SYNC_ALL, &err), TIND_EIO);
        uint64_t syncs = fs_fault_calls(ff, FS_CALL_SYNC);
        CHECK_RC(jrn_sync(w, FS_SYNC_ALL, &err), TIND_EPOISONED);
        CHECK(strstr(err.msg, "earlier write or sync failed") != NULL);
        CHECK_RC(jrn_append(w, 4, 1, "x", 1, &err), TIND_EPOISONED);
        CHECK_EQ(fs_fault_calls(ff, FS_CALL_SYNC), syncs);
        CHECK_OK(jrn_close(w, &err));
        fs_destroy(ff);
        fs_destroy(m);
    }

    /* a sync is skipped only when nothing was appended since one at least as strong */
    {
        fs *m = mem_with_dir("/f");
        fs *ff = fs_fault_new(m, 0);
        jrn_writer *w = open_with(ff, "/f", 0);
        uint64_t base = fs_fault_calls(ff, FS_CALL_SYNC);
        CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));   /* the header's sync covers it */
        CHECK_EQ(fs_fault_calls(ff, FS_CALL_SYNC), base);
        CHECK_OK(jrn_sync(w, FS_SYNC_ALL, &err));    /* stronger: must run */
        CHECK_EQ(fs_fault_calls(ff, FS_CALL_SYNC), base + 1);
        CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
        CHECK_OK(jrn_sync(w, FS_SYNC_ALL, &err));
        CHECK_EQ(fs_fault_calls(ff, FS_CALL_SYNC), base + 1);
        CHECK_OK(jrn_append(w, 1, 1, "x", 1, &err));
        CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
        CHECK_EQ(fs_fault_calls(ff, FS_CALL_SYNC), base + 2);
        CHECK_OK(jrn_close(w, &err));
        fs_destroy(ff);
        fs_destroy(m);
    }

    /* the nth write fails: exactly the records before it replay */
    for (uint64_t nth = 1; nth <= 8; nth++) {
        fs *m = mem_with_dir("/f");
        fs *ff = fs_fault_new(m, 0);
        jrn_writer *w = open_with(ff, "/f", 0);
        fs_fault_arm(ff, FS_CALL_WRITE, nth, FS_FAULT_SHORT_WRITE, ENOSPC, 1, NULL);
        uint64_t ok = 0;
        int rc = TIND_OK;
        for (uint64_t s = 1; s <= 10; s++) {
            rc = jrn_append(w, s, 1, "0123456789abcdef0123456789abcdef", 32, &err);
            if (rc) {
                CHECK_RC(rc, s == ok + 1 ? TIND_ENOSPC : TIND_EPOISONED);
                continue;
            }
            CHECK_EQ(ok + 1, s);
            ok++;
        }
        CHECK_EQ(ok, nth - 1);
        CHECK_OK(jrn_close(w, &err));
        seen = 0;
        CHECK_OK(jrn_replay(m, "/f/00000001.jrn", count_cb, &seen, 1, &res, &err));
        CHECK_EQ(seen, ok);
        CHECK_EQ(file_size(m, "/f/00000001.jrn"), res.valid_bytes);
        fs_destroy(ff);
        fs_destroy(m);
    }

    /* creation fails at each step: no handle, no file left behind */
    const int kinds[] = {FS_CALL_OPEN, FS_CALL_WRITE, FS_CALL_SYNC, FS_CALL_SYNC_DIR};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        fs *m = mem_with_dir("/f");
        fs *ff = fs_fault_new(m, 0);
        fs_fault_arm(ff, kinds[k], 1, FS_FAULT_ERRNO, EIO, 0, NULL);
        jrn_writer *w = (jrn_writer *)(uintptr_t)1;   /* must be reset to NULL */
        CHECK_RC(jrn_writer_open(ff, "/f", 1, NULL, &w, &err), TIND_EIO);
        CHECK(w == NULL);
        CHECK(fs_exists(m, "/f/00000001.jrn", NULL) == TIND_ENOENT);
        CHECK_OK(jrn_writer_open(ff, "/f", 1, NULL, &w, &err));
        CHECK_OK(jrn_close(w, &err));
        fs_destroy(ff);
        fs_destroy(m);
    }

    /* a read error during replay is an error, never a truncation */
    {
        fs *m = mem_with_dir("/f");
        jrn_writer *w = open_with(m, "/f", 4);
        uint64_t size = jrn_size(w);
        CHECK_OK(jrn_close(w, &err));
        fs *ff = fs_fault_new(m, 0);
        fs_fault_arm(ff, FS_CALL_READ, 1, FS_FAULT_ERRNO, EIO, 0, NULL);
        CHECK_RC(jrn_replay(ff, "/f/00000001.jrn", NULL, NULL, 1, &res, &err), TIND_EIO);
        CHECK_EQ(file_size(m, "/f/00000001.jrn"), size);
        /* and a failed truncation of a torn tail is reported */
        fs_fault_disarm(ff);
        fs_file *f;
        CHECK_OK(fs_open(m, "/f/00000001.jrn", FS_O_WRITE, &f, &err));
        CHECK_OK(fs_write(f, "JRN1", 4, size, &err));
        CHECK_OK(fs_close(f, &err));
        fs_fault_arm(ff, FS_CALL_TRUNCATE, 1, FS_FAULT_ERRNO, EIO, 0, NULL);
        CHECK_RC(jrn_replay(ff, "/f/00000001.jrn", NULL, NULL, 1, &res, &err), TIND_EIO);
        fs_fault_disarm(ff);
        CHECK_OK(jrn_replay(ff, "/f/00000001.jrn", NULL, NULL, 1, &res, &err));
        CHECK_EQ(res.records, 4);
        CHECK_EQ(file_size(m, "/f/00000001.jrn"), size);
        fs_destroy(ff);
        fs_destroy(m);
    }
}

/* Preallocated space: the file runs ahead of the records in zeros, which
 * replay as a torn tail; trimming and closing cut them; after a trim the
 * writer is unsynced until a sync; a failed extension only stops it. */
TEST(preallocated_space)
{
    tind_err err;
    jrn_replay_result res;
    uint64_t seen;
    fs *m = mem_with_dir("/p");
    jrn_options o = {0, 1, 4096, 0};
    jrn_writer *w;
    CHECK_OK(jrn_writer_open(m, "/p", 1, &o, &w, &err));
    char rec[1000];
    memset(rec, 'r', sizeof rec);
    for (uint64_t s = 1; s <= 10; s++)
        CHECK_OK(jrn_append(w, s, 1, rec, sizeof rec, &err));
    CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
    CHECK(jrn_synced(w));
    uint64_t records = jrn_size(w);
    CHECK_EQ(file_size(m, "/p/00000001.jrn"), (records / 4096 + 1) * 4096);
    /* a power loss now: the synced records, then zeros (a torn tail, cut) */
    CHECK_OK(fs_mem_crash(m, FS_CRASH_DROP_UNSYNCED, 1));
    jrn_close(w, NULL);  /* stale: only freed */
    seen = 0;
    CHECK_OK(jrn_replay(m, "/p/00000001.jrn", count_cb, &seen, 1, &res, &err));
    CHECK_EQ(seen, 10);
    CHECK_EQ(res.valid_bytes, records);
    CHECK_EQ(res.truncated, 1);
    CHECK_EQ(file_size(m, "/p/00000001.jrn"), records);

    /* trim: the file ends at the records, the writer is unsynced until a
     * sync (an fsync), and preallocates no more */
    CHECK_OK(jrn_writer_open(m, "/p", 2, &o, &w, &err));
    for (uint64_t s = 1; s <= 3; s++)
        CHECK_OK(jrn_append(w, s, 1, rec, sizeof rec, &err));
    CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
    CHECK(file_size(m, "/p/00000002.jrn") > jrn_size(w));
    CHECK_OK(jrn_trim(w, &err));
    CHECK_EQ(file_size(m, "/p/00000002.jrn"), jrn_size(w));
    CHECK(!jrn_synced(w));
    CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
    CHECK(jrn_synced(w));
    CHECK_OK(jrn_append(w, 4, 1, rec, sizeof rec, &err));
    CHECK_OK(jrn_write(w, &err));
    CHECK_EQ(file_size(m, "/p/00000002.jrn"), jrn_size(w));
    CHECK_OK(jrn_trim(w, &err));      /* nothing to cut */
    CHECK(!jrn_synced(w));            /* record 4 was never synced */
    CHECK_OK(jrn_close(w, &err));
    seen = 0;
    CHECK_OK(jrn_replay(m, "/p/00000002.jrn", count_cb, &seen, 1, &res, &err));
    CHECK_EQ(seen, 4);
    CHECK_EQ(res.truncated, 0);

    /* close cuts the zeros too */
    CHECK_OK(jrn_writer_open(m, "/p", 3, &o, &w, &err));
    CHECK_OK(jrn_append(w, 1, 1, rec, sizeof rec, &err));
    CHECK_OK(jrn_write(w, &err));
    CHECK(file_size(m, "/p/00000003.jrn") > jrn_size(w));
    uint64_t size3 = jrn_size(w);
    CHECK_OK(jrn_close(w, &err));
    CHECK_EQ(file_size(m, "/p/00000003.jrn"), size3);

    /* a failing extension: the writes go on, the file grows with them */
    fs *ff = fs_fault_new(m, 0);
    CHECK_OK(jrn_writer_open(ff, "/p", 4, &o, &w, &err));
    fs_fault_arm(ff, FS_CALL_ALLOCATE, 1, FS_FAULT_ERRNO, ENOSPC, 1, NULL);
    for (uint64_t s = 1; s <= 6; s++) {
        CHECK_OK(jrn_append(w, s, 1, rec, sizeof rec, &err));
        CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
        CHECK_EQ(file_size(m, "/p/00000004.jrn"), jrn_size(w));
    }
    CHECK_EQ(fs_fault_calls(ff, FS_CALL_ALLOCATE), 1);   /* tried once, then off */
    fs_fault_disarm(ff);
    /* a failing cut poisons the writer, which then keeps its records */
    CHECK_OK(jrn_close(w, &err));
    CHECK_OK(jrn_writer_open(ff, "/p", 5, &o, &w, &err));
    CHECK_OK(jrn_append(w, 1, 1, rec, sizeof rec, &err));
    CHECK_OK(jrn_write(w, &err));
    fs_fault_arm(ff, FS_CALL_TRUNCATE, 1, FS_FAULT_ERRNO, EIO, 0, NULL);
    CHECK_RC(jrn_trim(w, &err), TIND_EIO);
    CHECK(strstr(err.msg, "journal 5") != NULL);
    CHECK(jrn_failed(w));
    CHECK_RC(jrn_append(w, 2, 1, "x", 1, &err), TIND_EPOISONED);
    CHECK_OK(jrn_close(w, &err));
    seen = 0;
    CHECK_OK(jrn_replay(m, "/p/00000005.jrn", count_cb, &seen, 1, &res, &err));
    CHECK_EQ(seen, 1);
    fs_destroy(ff);
    fs_destroy(m);
}

TEST(posix)
{
    char *dir = check_tmpdir("journal");
    fs *p = fs_posix_new();
    CHECK(p);
    trng r;
    trng_seed(&r, check_seed + 41);
    const size_t N = 400;
    expect e;
    expect_init(&e, check_seed + 42, N);
    jrn_writer *w;
    jrn_options o = {1024, 1, 8192, 0};
    tind_err err;
    CHECK_OK(jrn_writer_open(p, dir, 5, &o, &w, &err));
    append_range(w, &e, 0, N, NULL, &r);
    CHECK_OK(jrn_sync(w, FS_SYNC_DATA, &err));
    uint64_t size = jrn_size(w);
    char path[4096];
    CHECK_OK(jrn_path(dir, 5, path, sizeof path));
    /* preallocated (where the file system can): the file runs ahead in whole steps */
    uint64_t ahead = file_size(p, path);
    CHECK(ahead == size || (ahead > size && ahead % 8192 == 0));
    CHECK_OK(jrn_close(w, &err));
    CHECK_RC(jrn_writer_open(p, dir, 5, &o, &w, &err), TIND_EEXIST);
    CHECK_EQ(file_size(p, path), size);
    /* tear the last record */
    fs_file *f;
    CHECK_OK(fs_open(p, path, FS_O_WRITE, &f, &err));
    CHECK_OK(fs_truncate(f, size - 3, &err));
    CHECK_OK(fs_close(f, &err));
    jrn_replay_result res;
    CHECK_OK(jrn_replay(p, path, expect_cb, &e, 1, &res, &err));
    CHECK_EQ(e.seen, N - 1);
    CHECK_EQ(res.truncated, 1);
    CHECK_EQ(file_size(p, path), res.valid_bytes);

    uint64_t *list;
    size_t count;
    CHECK_OK(jrn_list(p, dir, &list, &count, &err));
    CHECK_EQ(count, 1);
    CHECK_EQ(list[0], 5);
    free(list);
    expect_free(&e);
    fs_destroy(p);
    check_rmtree(dir);
    free(dir);
}

int main(void)
{
    check_seed_init(20240611);
    RUN(format_bytes);
    RUN(roundtrip);
    RUN(rotation_and_list);
    RUN(torn_tail_every_offset);
    RUN(bit_flips);
    RUN(replay_rules);
    RUN(marks);
    RUN(callback_status);
    RUN(writer_arguments);
    RUN(crash);
    RUN(sealed_unsynced_crash);
    RUN(sealed_torn_middle);
    RUN(format_3_sealed_torn);
    RUN(fault_injection);
    RUN(preallocated_space);
    RUN(posix);
    return 0;
}
