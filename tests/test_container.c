/*
 * test_container.c -- the sectioned table container (src/format/container.c).
 *
 * Checks: sections written through a real fs (POSIX and in-memory) read back
 * with ctr_read_toc and ctr_parse_toc; every single-bit flip of the TOC and of
 * the trailer is TIND_ECORRUPT (the version field too: the trailer checksum
 * covers it); a newer version with a valid checksum is TIND_EVERSION with the
 * documented message; every truncation is TIND_ECORRUPT; hand-built files with
 * valid checksums but bad structure (overlaps, order, bounds, names, counts,
 * stray bytes, reserved field) are TIND_ECORRUPT; writer misuse is
 * TIND_EINVAL; ctr_find; the largest TOC (64 sections, 255-byte names).
 */
#include "check.h"
#include "format/container.h"
#include "io/fs.h"
#include "util/buf.h"
#include "util/coding.h"
#include "util/hash.h"
#include "util/rand.h"

#define VERSION 1

typedef struct sec_spec {
    const char *name;
    size_t len;
} sec_spec;

static const sec_spec three[] = {{"data", 5000}, {"index", 300}, {"meta", 77}};

/* Fills a section's bytes deterministically from its name. */
static void sec_bytes(const char *name, uint8_t *p, size_t len)
{
    uint64_t h = hash64(name, strlen(name)) ^ check_seed;
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)trng_splitmix(&h);
}

/* Writes a container at path: `lead` stray bytes first (outside any section),
 * then the sections, `gap` stray bytes between sections. Returns the size. */
static uint64_t write_container(fs *fsys, const char *path, const sec_spec *secs, size_t n,
                                size_t lead, size_t gap, uint32_t version)
{
    fs_file *f;
    tind_err err;
    CHECK_OK(fs_open(fsys, path, FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &f, &err));
    fs_writer out;
    CHECK_OK(fs_writer_init(&out, f, 0, 1024));   /* small buffer: exercise flushes */
    ctr_writer w;
    ctr_writer_init(&w, &out, version);
    uint8_t junk[64];
    memset(junk, 0xEE, sizeof junk);
    CHECK(lead <= sizeof junk && gap <= sizeof junk);
    CHECK_OK(fs_writer_append(&out, junk, lead, &err));
    for (size_t i = 0; i < n; i++) {
        CHECK_OK(ctr_section_begin(&w, secs[i].name, &err));
        uint8_t *b = malloc(secs[i].len + 1);
        CHECK(b != NULL);
        sec_bytes(secs[i].name, b, secs[i].len);
        /* in two pieces, as a real writer would */
        CHECK_OK(fs_writer_append(&out, b, secs[i].len / 3, &err));
        CHECK_OK(fs_writer_append(&out, b + secs[i].len / 3, secs[i].len - secs[i].len / 3, &err));
        free(b);
        CHECK_OK(ctr_section_end(&w, &err));
        CHECK_OK(fs_writer_append(&out, junk, gap, &err));
    }
    CHECK_OK(ctr_finish(&w, &err));
    uint64_t size = out.offset;
    CHECK_OK(fs_writer_sync(&out, FS_SYNC_DATA, &err));
    fs_writer_free(&out);
    CHECK_OK(fs_close(f, &err));
    return size;
}

static void expect_sections(fs *fsys, const char *path, const ctr_toc *toc, const sec_spec *secs,
                            size_t n)
{
    CHECK_EQ(toc->count, n);
    fs_file *f;
    CHECK_OK(fs_open(fsys, path, FS_O_READ, &f, NULL));
    for (size_t i = 0; i < n; i++) {
        const ctr_section *s = ctr_find(toc, secs[i].name);
        CHECK(s != NULL);
        CHECK(s == &toc->sections[i]);
        CHECK_EQ(s->length, secs[i].len);
        uint8_t *want = malloc(secs[i].len + 1), *got = malloc(secs[i].len + 1);
        CHECK(want && got);
        sec_bytes(secs[i].name, want, secs[i].len);
        CHECK_OK(fs_read_exact(f, got, secs[i].len, s->offset, NULL));
        CHECK_MEM(got, secs[i].len, want, secs[i].len);
        free(want);
        free(got);
    }
    CHECK_OK(fs_close(f, NULL));
}

static void roundtrip_on(fs *fsys, const char *path)
{
    static const size_t leads[] = {0, 8, 0};
    static const size_t gaps[] = {0, 0, 5};
    for (int v = 0; v < 3; v++) {
        uint64_t size = write_container(fsys, path, three, 3, leads[v], gaps[v], VERSION);
        fs_file *f;
        CHECK_OK(fs_open(fsys, path, FS_O_READ, &f, NULL));
        uint64_t fsz;
        CHECK_OK(fs_size(f, &fsz, NULL));
        CHECK_EQ(fsz, size);
        ctr_toc toc;
        tind_err err;
        CHECK_OK(ctr_read_toc(f, size, VERSION, &toc, "t", &err));
        CHECK_EQ(toc.version, VERSION);
        CHECK_EQ(toc.sections[0].offset, leads[v]);
        CHECK_OK(fs_close(f, NULL));
        expect_sections(fsys, path, &toc, three, 3);

        /* the same through the in-memory parser */
        uint8_t *bytes;
        size_t len;
        CHECK_OK(fs_read_all(fsys, path, &bytes, &len, NULL));
        ctr_toc toc2;
        CHECK_OK(ctr_parse_toc(bytes, len, VERSION, &toc2, "t", &err));
        CHECK_EQ(toc2.count, toc.count);
        for (uint32_t i = 0; i < toc.count; i++) {
            CHECK(strcmp(toc.sections[i].name, toc2.sections[i].name) == 0);
            CHECK_EQ(toc.sections[i].offset, toc2.sections[i].offset);
            CHECK_EQ(toc.sections[i].length, toc2.sections[i].length);
        }
        /* the trailer is where the header says, with the magic in ASCII */
        CHECK_MEM(bytes + len - 8, 8, "TINDTBL\x01", 8);
        CHECK_EQ(dec_u64(bytes + len - 56) + dec_u64(bytes + len - 48), len - 56);
        free(bytes);
    }
}

TEST(roundtrip_posix)
{
    char *dir = check_tmpdir("container");
    char path[4200];
    snprintf(path, sizeof path, "%s/c.tbl", dir);
    fs *fsys = fs_posix_new();
    CHECK(fsys != NULL);
    roundtrip_on(fsys, path);
    fs_destroy(fsys);
    check_rmtree(dir);
    free(dir);
}

TEST(roundtrip_mem)
{
    fs *fsys = fs_mem_new();
    CHECK(fsys != NULL);
    roundtrip_on(fsys, "/c.tbl");
    fs_destroy(fsys);
}

TEST(empty_and_zero_length)
{
    fs *fsys = fs_mem_new();
    CHECK(fsys != NULL);
    /* no sections at all: 4-byte TOC + trailer */
    uint64_t size = write_container(fsys, "/e", NULL, 0, 0, 0, VERSION);
    CHECK_EQ(size, 4 + 56);
    uint8_t *bytes;
    size_t len;
    ctr_toc toc;
    CHECK_OK(fs_read_all(fsys, "/e", &bytes, &len, NULL));
    /* golden bytes: pins the documented layout (docs/FORMAT.md) */
    static const uint8_t golden[60] = {
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x65, 0x0b, 0x22, 0x37,
        0xc7, 0x63, 0xe5, 0xdb, 0x73, 0xc3, 0xe0, 0xd7, 0x6e, 0x81, 0x33, 0x2a,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x52, 0xb7, 0x32,
        0xcc, 0x14, 0xcd, 0x5a, 0x54, 0x49, 0x4e, 0x44, 0x54, 0x42, 0x4c, 0x01,
    };
    CHECK_MEM(bytes, len, golden, sizeof golden);
    CHECK_OK(ctr_parse_toc(bytes, len, VERSION, &toc, "e", NULL));
    CHECK_EQ(toc.count, 0);
    CHECK(ctr_find(&toc, "data") == NULL);
    free(bytes);
    /* zero-length sections, including one right before the TOC */
    static const sec_spec z[] = {{"a", 0}, {"b", 10}, {"c", 0}};
    size = write_container(fsys, "/z", z, 3, 0, 0, VERSION);
    CHECK_OK(fs_read_all(fsys, "/z", &bytes, &len, NULL));
    CHECK_OK(ctr_parse_toc(bytes, len, VERSION, &toc, "z", NULL));
    CHECK_EQ(toc.count, 3);
    CHECK_EQ(toc.sections[2].offset, 10);
    CHECK_EQ(toc.sections[2].length, 0);
    free(bytes);
    expect_sections(fsys, "/z", &toc, z, 3);
    fs_destroy(fsys);
}

TEST(largest_toc)
{
    fs *fsys = fs_mem_new();
    CHECK(fsys != NULL);
    static char names[CTR_MAX_SECTIONS][CTR_NAME_MAX + 1];
    sec_spec secs[CTR_MAX_SECTIONS];
    for (int i = 0; i < CTR_MAX_SECTIONS; i++) {
        memset(names[i], 'a' + i % 26, CTR_NAME_MAX);
        snprintf(names[i], sizeof names[i], "%02d", i);
        names[i][2] = 'x';                   /* keep the full 255 bytes */
        names[i][CTR_NAME_MAX] = '\0';
        secs[i].name = names[i];
        secs[i].len = (size_t)i * 3;
    }
    uint64_t size = write_container(fsys, "/big", secs, CTR_MAX_SECTIONS, 0, 0, VERSION);
    CHECK_EQ(size - 56 - 4 - (uint64_t)CTR_MAX_SECTIONS * (1 + 255 + 16),
             3 * (CTR_MAX_SECTIONS - 1) * CTR_MAX_SECTIONS / 2);
    fs_file *f;
    ctr_toc toc;
    CHECK_OK(fs_open(fsys, "/big", FS_O_READ, &f, NULL));
    CHECK_OK(ctr_read_toc(f, size, VERSION, &toc, "big", NULL));
    CHECK_OK(fs_close(f, NULL));
    expect_sections(fsys, "/big", &toc, secs, CTR_MAX_SECTIONS);
    fs_destroy(fsys);
}

TEST(writer_misuse)
{
    fs *fsys = fs_mem_new();
    CHECK(fsys != NULL);
    fs_file *f;
    CHECK_OK(fs_open(fsys, "/m", FS_O_WRITE | FS_O_CREATE, &f, NULL));
    fs_writer out;
    CHECK_OK(fs_writer_init(&out, f, 0, 0));
    ctr_writer w;
    tind_err err;
    ctr_writer_init(&w, &out, VERSION);
    CHECK_RC(ctr_section_end(&w, &err), TIND_EINVAL);
    CHECK_RC(ctr_section_begin(&w, "", &err), TIND_EINVAL);
    char longname[CTR_NAME_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[CTR_NAME_MAX + 1] = '\0';
    CHECK_RC(ctr_section_begin(&w, longname, &err), TIND_EINVAL);
    CHECK_OK(ctr_section_begin(&w, "a", &err));
    CHECK_RC(ctr_section_begin(&w, "b", &err), TIND_EINVAL);   /* nested */
    CHECK_RC(ctr_finish(&w, &err), TIND_EINVAL);               /* open section */
    CHECK_OK(ctr_section_end(&w, &err));
    CHECK_RC(ctr_section_begin(&w, "a", &err), TIND_EINVAL);   /* duplicate */
    CHECK(strstr(err.msg, "'a'") != NULL);
    for (int i = 1; i < CTR_MAX_SECTIONS; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        CHECK_OK(ctr_section_begin(&w, name, &err));
        CHECK_OK(ctr_section_end(&w, &err));
    }
    CHECK_RC(ctr_section_begin(&w, "one-too-many", &err), TIND_EINVAL);
    CHECK_OK(ctr_finish(&w, &err));
    CHECK_OK(fs_writer_flush(&out, &err));
    fs_writer_free(&out);
    CHECK_OK(fs_close(f, NULL));
    uint8_t *bytes;
    size_t len;
    ctr_toc toc;
    CHECK_OK(fs_read_all(fsys, "/m", &bytes, &len, NULL));
    CHECK_OK(ctr_parse_toc(bytes, len, VERSION, &toc, "m", NULL));
    CHECK_EQ(toc.count, CTR_MAX_SECTIONS);
    free(bytes);
    fs_destroy(fsys);
}

/* A three-section file in memory. */
static uint8_t *sample(size_t *len)
{
    fs *fsys = fs_mem_new();
    CHECK(fsys != NULL);
    write_container(fsys, "/s", three, 3, 4, 2, VERSION);
    uint8_t *bytes;
    CHECK_OK(fs_read_all(fsys, "/s", &bytes, len, NULL));
    fs_destroy(fsys);
    return bytes;
}

TEST(every_flip_is_corrupt)
{
    size_t len;
    uint8_t *bytes = sample(&len);
    uint64_t toc_off = dec_u64(bytes + len - 56);
    CHECK(toc_off < len - 56);
    /* the same file on a mem fs, to go through ctr_read_toc as well */
    fs *fsys = fs_mem_new();
    CHECK(fsys != NULL);
    fs_file *f;
    CHECK_OK(fs_open(fsys, "/flip", FS_O_WRITE | FS_O_CREATE, &f, NULL));
    CHECK_OK(fs_write(f, bytes, len, 0, NULL));
    size_t flips = 0;
    for (size_t pos = (size_t)toc_off; pos < len; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            ctr_toc toc;
            tind_err err;
            bytes[pos] ^= (uint8_t)(1u << bit);
            err_clear(&err);
            int rc = ctr_parse_toc(bytes, len, UINT32_MAX, &toc, "flip", &err);
            if (rc != TIND_ECORRUPT)
                check_fail(__FILE__, __LINE__, "flip at %zu bit %d: rc %d", pos, bit, rc);
            CHECK(strncmp(err.msg, "flip: ", 6) == 0);
            CHECK_EQ(toc.count, 0);
            CHECK_OK(fs_write(f, bytes + pos, 1, pos, NULL));
            CHECK_RC(ctr_read_toc(f, len, UINT32_MAX, &toc, "flip", NULL), TIND_ECORRUPT);
            bytes[pos] ^= (uint8_t)(1u << bit);
            CHECK_OK(fs_write(f, bytes + pos, 1, pos, NULL));
            flips++;
        }
    }
    CHECK_EQ(flips, 8 * (len - toc_off));
    ctr_toc toc;
    CHECK_OK(ctr_parse_toc(bytes, len, VERSION, &toc, "flip", NULL));
    CHECK_OK(ctr_read_toc(f, len, VERSION, &toc, "flip", NULL));
    CHECK_OK(fs_close(f, NULL));
    fs_destroy(fsys);
    free(bytes);
}

TEST(truncation_is_corrupt)
{
    size_t len;
    uint8_t *bytes = sample(&len);
    fs *fsys = fs_mem_new();
    CHECK(fsys != NULL);
    fs_file *f;
    CHECK_OK(fs_open(fsys, "/t", FS_O_WRITE | FS_O_CREATE, &f, NULL));
    CHECK_OK(fs_write(f, bytes, len, 0, NULL));
    for (size_t cut = 0; cut < len; cut++) {
        ctr_toc toc;
        uint8_t *c = malloc(cut ? cut : 1);
        CHECK(c != NULL);
        memcpy(c, bytes, cut);
        CHECK_RC(ctr_parse_toc(c, cut, VERSION, &toc, "t", NULL), TIND_ECORRUPT);
        free(c);
        /* the file cut short, and a size that claims more than is there */
        CHECK_OK(fs_truncate(f, cut, NULL));
        CHECK_RC(ctr_read_toc(f, cut, VERSION, &toc, "t", NULL), TIND_ECORRUPT);
        CHECK_RC(ctr_read_toc(f, len, VERSION, &toc, "t", NULL), TIND_ECORRUPT);
        CHECK_OK(fs_write(f, bytes + cut, len - cut, cut, NULL));
    }
    /* bytes appended after the trailer also break it */
    uint8_t *longer = malloc(len + 1);
    CHECK(longer != NULL);
    memcpy(longer, bytes, len);
    longer[len] = 0;
    ctr_toc toc;
    CHECK_RC(ctr_parse_toc(longer, len + 1, VERSION, &toc, "t", NULL), TIND_ECORRUPT);
    CHECK_OK(ctr_parse_toc(longer, len, VERSION, &toc, "t", NULL));
    free(longer);
    CHECK_OK(fs_close(f, NULL));
    fs_destroy(fsys);
    free(bytes);
}

TEST(newer_version)
{
    fs *fsys = fs_mem_new();
    CHECK(fsys != NULL);
    uint64_t size = write_container(fsys, "/v", three, 3, 0, 0, 7);
    fs_file *f;
    ctr_toc toc;
    tind_err err;
    CHECK_OK(fs_open(fsys, "/v", FS_O_READ, &f, NULL));
    CHECK_RC(ctr_read_toc(f, size, 6, &toc, "table 17", &err), TIND_EVERSION);
    CHECK(strcmp(err.msg, "table 17: format version 7 is newer than this library supports (6)") == 0);
    CHECK_OK(ctr_read_toc(f, size, 7, &toc, "table 17", &err));
    CHECK_EQ(toc.version, 7);
    CHECK_OK(ctr_read_toc(f, size, 8, &toc, "table 17", &err));
    CHECK_OK(fs_close(f, NULL));
    uint8_t *bytes;
    size_t len;
    CHECK_OK(fs_read_all(fsys, "/v", &bytes, &len, NULL));
    CHECK_RC(ctr_parse_toc(bytes, len, 1, &toc, NULL, &err), TIND_EVERSION);
    CHECK(strstr(err.msg, "format version 7") != NULL);
    /* a newer version is refused even when its TOC is something we cannot
     * parse: the trailer layout is all an old reader relies on */
    uint64_t toc_off = dec_u64(bytes + len - 56);
    bytes[toc_off] ^= 0xFF;
    CHECK_RC(ctr_parse_toc(bytes, len, 1, &toc, NULL, &err), TIND_EVERSION);
    free(bytes);
    fs_destroy(fsys);
}

/* ---- hand-built files: valid checksums, bad structure ---- */

typedef struct toc_ent {
    const char *name;        /* may contain a NUL when name_len says so */
    size_t name_len;
    uint64_t offset, length;
} toc_ent;

/* body_len section bytes, then a TOC of the given entries (count field
 * `count`, `stray` extra bytes after them), then a trailer whose checksums are
 * valid. toc_offset_delta shifts the recorded TOC offset; reserved is the
 * reserved field. */
static size_t craft(uint8_t *out, size_t body_len, uint32_t count, const toc_ent *e, size_t n,
                    size_t stray, int64_t toc_offset_delta, uint32_t reserved)
{
    size_t p = 0;
    memset(out, 0xAB, body_len);
    p += body_len;
    size_t toc_off = p;
    enc_u32(out + p, count);
    p += 4;
    for (size_t i = 0; i < n; i++) {
        out[p++] = (uint8_t)e[i].name_len;
        memcpy(out + p, e[i].name, e[i].name_len);
        p += e[i].name_len;
        enc_u64(out + p, e[i].offset);
        enc_u64(out + p + 8, e[i].length);
        p += 16;
    }
    memset(out + p, 0, stray);
    p += stray;
    size_t toc_len = p - toc_off;
    hash128 h = hash128_of(out + toc_off, toc_len);
    uint8_t *t = out + p;
    enc_u64(t, (uint64_t)((int64_t)toc_off + toc_offset_delta));
    enc_u64(t + 8, toc_len);
    enc_u64(t + 16, h.low);
    enc_u64(t + 24, h.high);
    enc_u32(t + 32, VERSION);
    enc_u32(t + 36, reserved);
    enc_u64(t + 40, hash64(t, 40));
    enc_u64(t + 48, CTR_MAGIC);
    return p + 56;
}

TEST(crafted)
{
    static uint8_t buf[64 * 1024];
    ctr_toc toc;
    tind_err err;
    size_t len;
    /* sanity: a good crafted file parses */
    const toc_ent good[] = {{"a", 1, 0, 10}, {"b", 1, 10, 0}, {"c", 1, 20, 80}};
    len = craft(buf, 100, 3, good, 3, 0, 0, 0);
    CHECK_OK(ctr_parse_toc(buf, len, VERSION, &toc, "x", &err));
    CHECK_EQ(toc.count, 3);
    CHECK_EQ(ctr_find(&toc, "c")->offset, 20);
    CHECK(ctr_find(&toc, "d") == NULL);
    CHECK(ctr_find(&toc, "") == NULL);

    struct {
        const char *why;
        toc_ent e[3];
        size_t n;
        uint32_t count;
        size_t stray;
        int64_t delta;
        uint32_t reserved;
    } bad[] = {
        {"overlap", {{"a", 1, 0, 11}, {"b", 1, 10, 5}}, 2, 2, 0, 0, 0},
        {"out of order", {{"a", 1, 50, 10}, {"b", 1, 0, 10}}, 2, 2, 0, 0, 0},
        {"past toc", {{"a", 1, 0, 101}}, 1, 1, 0, 0, 0},
        {"offset past toc", {{"a", 1, 101, 0}}, 1, 1, 0, 0, 0},
        {"length wraps", {{"a", 1, 10, UINT64_MAX - 5}}, 1, 1, 0, 0, 0},
        {"duplicate", {{"a", 1, 0, 10}, {"a", 1, 10, 10}}, 2, 2, 0, 0, 0},
        {"empty name", {{"", 0, 0, 10}}, 1, 1, 0, 0, 0},
        {"nul in name", {{"a\0b", 3, 0, 10}}, 1, 1, 0, 0, 0},
        {"count too big", {{"a", 1, 0, 10}}, 1, CTR_MAX_SECTIONS + 1, 0, 0, 0},
        {"count > entries", {{"a", 1, 0, 10}}, 1, 2, 0, 0, 0},
        {"count < entries", {{"a", 1, 0, 10}, {"b", 1, 10, 10}}, 2, 1, 0, 0, 0},
        {"stray bytes", {{"a", 1, 0, 10}}, 1, 1, 3, 0, 0},
        {"toc not at trailer", {{"a", 1, 0, 10}}, 1, 1, 0, -1, 0},
        {"toc offset shifted", {{"a", 1, 0, 10}}, 1, 1, 0, 1, 0},
        {"reserved", {{"a", 1, 0, 10}}, 1, 1, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        len = craft(buf, 100, bad[i].count, bad[i].e, bad[i].n, bad[i].stray, bad[i].delta,
                    bad[i].reserved);
        err_clear(&err);
        int rc = ctr_parse_toc(buf, len, VERSION, &toc, "x", &err);
        if (rc != TIND_ECORRUPT)
            check_fail(__FILE__, __LINE__, "crafted '%s': rc %d", bad[i].why, rc);
        CHECK(err.msg[0] != '\0');
        CHECK_EQ(toc.count, 0);
    }
    /* a huge toc_length with valid trailer checksum must not allocate or read wildly */
    len = craft(buf, 100, 1, good, 1, 0, 0, 0);
    uint8_t *t = buf + len - 56;
    enc_u64(t, 0);
    enc_u64(t + 8, UINT64_MAX);
    enc_u64(t + 40, hash64(t, 40));
    CHECK_RC(ctr_parse_toc(buf, len, VERSION, &toc, "x", NULL), TIND_ECORRUPT);
    enc_u64(t, UINT64_MAX - 3);
    enc_u64(t + 8, 4);
    enc_u64(t + 40, hash64(t, 40));
    CHECK_RC(ctr_parse_toc(buf, len, VERSION, &toc, "x", NULL), TIND_ECORRUPT);
    /* a TOC shorter than its count field */
    len = craft(buf, 100, 0, good, 0, 0, 0, 0);
    t = buf + len - 56;
    enc_u64(t, 101);
    enc_u64(t + 8, 3);
    enc_u64(t + 40, hash64(t, 40));
    CHECK_RC(ctr_parse_toc(buf, len, VERSION, &toc, "x", NULL), TIND_ECORRUPT);
    /* wrong magic */
    len = craft(buf, 100, 1, good, 1, 0, 0, 0);
    buf[len - 1] = 0x02;
    CHECK_RC(ctr_parse_toc(buf, len, VERSION, &toc, "x", &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "magic") != NULL);
}

TEST(random_garbage)
{
    trng r;
    trng_seed(&r, check_seed);
    size_t len;
    uint8_t *good = sample(&len);
    uint64_t toc_off = dec_u64(good + len - 56);
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = (size_t)trng_below(&r, 200);
        uint8_t *g = malloc(n ? n : 1);
        CHECK(g != NULL);
        for (size_t i = 0; i < n; i++)
            g[i] = (uint8_t)trng_next(&r);
        if (n >= 8 && (iter & 1))
            enc_u64(g + n - 8, CTR_MAGIC);
        ctr_toc toc;
        CHECK_RC(ctr_parse_toc(g, n, UINT32_MAX, &toc, NULL, NULL), TIND_ECORRUPT);
        free(g);
        /* several random byte changes in the tail of a good file */
        uint8_t *c = malloc(len);
        CHECK(c != NULL);
        memcpy(c, good, len);
        int k = 1 + (int)trng_below(&r, 4);
        for (int j = 0; j < k; j++) {
            size_t pos = len - 1 - (size_t)trng_below(&r, len - toc_off);
            c[pos] = (uint8_t)(c[pos] ^ (1 + trng_below(&r, 255)));
        }
        CHECK_RC(ctr_parse_toc(c, len, UINT32_MAX, &toc, NULL, NULL), TIND_ECORRUPT);
        free(c);
    }
    free(good);
}

int main(void)
{
    check_seed_init(0xc0a7);
    RUN(roundtrip_posix);
    RUN(roundtrip_mem);
    RUN(empty_and_zero_length);
    RUN(largest_toc);
    RUN(writer_misuse);
    RUN(every_flip_is_corrupt);
    RUN(truncation_is_corrupt);
    RUN(newer_version);
    RUN(crafted);
    RUN(random_garbage);
    return 0;
}
