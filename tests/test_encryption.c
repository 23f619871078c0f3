/*
 * test_encryption.c -- encryption at rest (io/fs_crypt.c, the ENCRYPTION
 * key check in db/db.c, docs/ENCRYPTION.md).
 *
 *   page_codec          one page: round trip, every bit flip, another page
 *                       number, another key, a bad header: TIND_ECORRUPT
 *   fs_model            random appends, overwrites, truncations, holes,
 *                       syncs (short pages), reopens through the wrapper
 *                       checked against a plain buffer;
 *                       the stored bytes never hold the plaintext
 *   fs_nonces_unique    no two stored pages of a file share a nonce, also
 *                       when the last page is rewritten many times
 *   fs_tamper           a byte changed anywhere in a stored file, pages
 *                       swapped, a page zeroed, the file cut: reads give
 *                       TIND_ECORRUPT (naming file and offset), or end early
 *                       at the last page, never other bytes
 *   fs_reader_beside_writer  a reader handle reads while another handle
 *                       appends: never a
 *                       false TIND_ECORRUPT
 *   fs_short_write      a write that fails halfway leaves the bytes written
 *                       before intact, also when every later write is cut
 *                       short and no truncation works (the old page-rewrite
 *                       design lost the unsynced last page's bytes there)
 *   fs_crash            power loss: what was synced reads back intact, the
 *                       torn tail reads as a shorter file
 *   db_round_trip       every read path (get, contains, value_size, first,
 *                       last, range and prefix cursors both ways, snapshots)
 *                       on memtables, L0 and deeper tables, then after reopen;
 *                       background threads off and on
 *   db_crash            power losses (every crash mode) while synced batches
 *                       rewrite the journal's last page: it always reopens
 *                       with every synced batch
 *   db_keys             wrong key, no key, a key for a plain database, a key
 *                       callback and its failure, a bad key length
 *   db_grep             no key, value, keyspace name or key byte string
 *                       appears in any file of an encrypted database (POSIX)
 *   db_tamper_sweep     bytes flipped and files cut in every file of an
 *                       encrypted database: the open fails with
 *                       TIND_ECORRUPT or reads are exact / TIND_ECORRUPT
 *                       (journal tail records may be lost, as in plaintext)
 *
 * TSAN-LABEL: db_round_trip runs background threads.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"
#include "io/fs_crypt.h"
#include "util/coding.h"
#include "util/rand.h"

static const uint8_t KEY[32] = {0x54, 0x69, 0x6e, 0x64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28};
static const uint8_t OTHER[32] = {0x54, 0x69, 0x6e, 0x64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                  13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 29};

/* ============================================================ the codec */

TEST(page_codec)
{
    uint8_t salt[16] = {9, 8, 7};
    uint8_t *header = malloc(FS_CRYPT_HEADER);
    CHECK(header != NULL);
    CHECK_OK(fs_crypt_encode_header(KEY, salt, header));
    uint8_t plain[FS_CRYPT_PAYLOAD], page[FS_CRYPT_PAGE], out[FS_CRYPT_PAYLOAD];
    for (size_t i = 0; i < sizeof plain; i++)
        plain[i] = (uint8_t)(i * 7);
    size_t lens[] = {0, 1, 100, FS_CRYPT_PAYLOAD};
    for (size_t l = 0; l < sizeof lens / sizeof *lens; l++) {
        size_t n = lens[l];
        CHECK_OK(fs_crypt_encode_page(KEY, header, 5, 12345, 1, 77, plain, n, page, NULL));
        size_t got = 0;
        uint64_t start = 0;
        CHECK_OK(fs_crypt_decode_page(KEY, header, FS_CRYPT_HEADER, 5, page, n + FS_CRYPT_OVERHEAD, out, &got,
                                      &start, NULL));
        CHECK_MEM(out, got, plain, n);
        CHECK_EQ(start, 12345);
        /* more stored bytes after the page do not matter: pages carry their length */
        if (n + FS_CRYPT_OVERHEAD < FS_CRYPT_PAGE)
            CHECK_OK(fs_crypt_decode_page(KEY, header, FS_CRYPT_HEADER, 5, page, n + FS_CRYPT_OVERHEAD + 1, out,
                                          &got, &start, NULL));
        if (n >= 100)
            CHECK(memcmp(page + FS_CRYPT_NONCE, plain, 100) != 0);
        tind_err err;
        CHECK_RC(fs_crypt_decode_page(KEY, header, FS_CRYPT_HEADER, 6, page, n + FS_CRYPT_OVERHEAD, out, &got, &start, &err),
                 TIND_ECORRUPT);
        CHECK_RC(fs_crypt_decode_page(OTHER, header, FS_CRYPT_HEADER, 5, page, n + FS_CRYPT_OVERHEAD, out, &got,
                                      &start, NULL),
                 TIND_ECORRUPT);
        /* every bit of a small page, a sample of a big one */
        size_t step = n > 200 ? 37 : 1;
        for (size_t bit = 0; bit < (n + FS_CRYPT_OVERHEAD) * 8; bit += step) {
            page[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            CHECK_RC(fs_crypt_decode_page(KEY, header, FS_CRYPT_HEADER, 5, page, n + FS_CRYPT_OVERHEAD, out, &got,
                                          &start, NULL),
                     TIND_ECORRUPT);
            page[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        /* a page cut short */
        if (n)
            CHECK_RC(fs_crypt_decode_page(KEY, header, FS_CRYPT_HEADER, 5, page, n + FS_CRYPT_OVERHEAD - 1, out,
                                          &got, &start, NULL),
                     TIND_ECORRUPT);
    }
    /* a damaged header */
    header[20] ^= 1;
    tind_err err;
    CHECK_RC(fs_crypt_decode_page(KEY, header, FS_CRYPT_HEADER, 5, page, 100, out, &(size_t){0}, &(uint64_t){0}, &err),
             TIND_ECORRUPT);
    CHECK(strstr(err.msg, "checksum") != NULL);
    CHECK_RC(fs_crypt_decode_page(KEY, header, 10, 5, page, 100, out, &(size_t){0}, &(uint64_t){0}, &err),
             TIND_ECORRUPT);
    free(header);
}

/* ======================================================== the fs wrapper */

static void write_file(fs *f, const char *path, const void *data, size_t n)
{
    fs_file *h = NULL;
    CHECK_OK(fs_open(f, path, FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &h, NULL));
    CHECK_OK(fs_write(h, data, n, 0, NULL));
    CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
    CHECK_OK(fs_close(h, NULL));
}

static int contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return 1;
    return 0;
}

TEST(fs_model)
{
    trng r;
    trng_seed(&r, check_seed ^ 0x11);
    fs *mem = fs_mem_new();
    fs *f = fs_crypt_new(mem, 0, KEY);
    CHECK(f != NULL);
    size_t cap = 200000;
    uint8_t *model = calloc(1, cap), *got = malloc(cap), *chunk = malloc(cap);
    CHECK(model && got && chunk);
    size_t len = 0;
    fs_file *h = NULL;
    CHECK_OK(fs_open(f, "/m", FS_O_WRITE | FS_O_CREATE | FS_O_EXCL, &h, NULL));
    for (int step = 0; step < 600; step++) {
        int op = (int)trng_below(&r, 100);
        if (op < 55) {          /* append, mostly small (a journal), sometimes large (a table) */
            size_t n = trng_below(&r, 10) ? 1 + trng_below(&r, 300) : 1 + trng_below(&r, 20000);
            if (len + n > cap)
                n = cap - len;
            for (size_t i = 0; i < n; i++)
                chunk[i] = (uint8_t)('a' + (len + i) % 26);
            if (n) {
                CHECK_OK(fs_write(h, chunk, n, len, NULL));
                memcpy(model + len, chunk, n);
                len += n;
            }
        } else if (op < 65 && len > 0) {    /* overwrite inside */
            size_t at = trng_below(&r, len), n = 1 + trng_below(&r, 5000);
            if (at + n > cap)
                n = cap - at;
            for (size_t i = 0; i < n; i++)
                chunk[i] = (uint8_t)trng_next(&r);
            CHECK_OK(fs_write(h, chunk, n, at, NULL));
            memcpy(model + at, chunk, n);
            if (at + n > len)
                len = at + n;
        } else if (op < 70) {   /* truncate (shorter, or longer: zeros) */
            size_t to = trng_below(&r, len + 5000);
            if (to > cap)
                to = cap;
            CHECK_OK(fs_truncate(h, to, NULL));
            if (to > len)
                memset(model + len, 0, to - len);
            len = to;
        } else if (op < 74) {   /* write past the end: a hole of zeros */
            size_t at = len + trng_below(&r, 9000), n = 1 + trng_below(&r, 100);
            if (at + n <= cap) {
                memset(model + len, 0, at - len);
                memset(chunk, 'h', n);
                CHECK_OK(fs_write(h, chunk, n, at, NULL));
                memcpy(model + at, chunk, n);
                len = at + n;
            }
        } else if (op < 76) {   /* a sync: the last page is never rewritten again */
            CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
        } else if (op < 78) {   /* reopen for writing */
            CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
            CHECK_OK(fs_close(h, NULL));
            CHECK_OK(fs_open(f, "/m", FS_O_WRITE, &h, NULL));
        } else {                /* read a range through a second handle */
            fs_file *rd = NULL;
            CHECK_OK(fs_open(f, "/m", FS_O_READ, &rd, NULL));
            uint64_t size = 0;
            CHECK_OK(fs_size(rd, &size, NULL));
            CHECK_EQ(size, len);
            size_t at = trng_below(&r, len + 10), n = trng_below(&r, 30000), n_got = 0;
            if (n > cap)
                n = cap;
            CHECK_OK(fs_read(rd, got, n, at, &n_got, NULL));
            size_t want = at >= len ? 0 : (len - at < n ? len - at : n);
            CHECK_MEM(got, n_got, model + at, want);
            CHECK_OK(fs_close(rd, NULL));
        }
        uint64_t size = 0;
        CHECK_OK(fs_size(h, &size, NULL));
        CHECK_EQ(size, len);
    }
    CHECK_OK(fs_close(h, NULL));
    uint8_t *all = NULL;
    size_t all_len = 0;
    CHECK_OK(fs_read_all(f, "/m", &all, &all_len, NULL));
    CHECK_MEM(all, all_len, model, len);
    free(all);
    /* the stored file holds no run of the plaintext alphabet */
    CHECK_OK(fs_read_all(mem, "/m", &all, &all_len, NULL));
    CHECK(!contains(all, all_len, "abcdefghij", 10));
    free(all);
    /* a file written by another key */
    fs *other = fs_crypt_new(mem, 0, OTHER);
    tind_err err;
    CHECK_RC(fs_open(other, "/m", FS_O_READ, &h, &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "another key") != NULL);
    /* a plaintext file */
    write_file(mem, "/plain", "hello plaintext, long enough to have a whole header? no, but more bytes please", 77);
    uint8_t big[5000];
    memset(big, 'x', sizeof big);
    write_file(mem, "/plainbig", big, sizeof big);
    CHECK_RC(fs_open(f, "/plainbig", FS_O_READ, &h, &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "not an encrypted tind file") != NULL);
    fs_destroy(other);
    fs_destroy(f);
    fs_destroy(mem);
    free(model);
    free(got);
    free(chunk);
}

TEST(fs_nonces_unique)
{
    fs *mem = fs_mem_new();
    fs *f = fs_crypt_new(mem, 0, KEY);
    fs_file *h = NULL;
    CHECK_OK(fs_open(f, "/j", FS_O_WRITE | FS_O_CREATE | FS_O_EXCL, &h, NULL));
    /* journal-like: many small appends, each rewriting the last page; keep
     * every stored version of every page's nonce */
    size_t cap = 4096, count = 0;
    uint8_t(*seen)[FS_CRYPT_NONCE] = malloc(cap * FS_CRYPT_NONCE);
    uint64_t off = 0;
    for (int i = 0; i < 3000; i++) {
        uint8_t rec[37];
        memset(rec, (uint8_t)i, sizeof rec);
        CHECK_OK(fs_write(h, rec, sizeof rec, off, NULL));
        off += sizeof rec;
        if (i % 7 == 0)     /* a synced page is never rewritten: the next one packs after it */
            CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
        /* the page just written is the last stored one */
        fs_file *raw = NULL;
        CHECK_OK(fs_open(mem, "/j", FS_O_READ, &raw, NULL));
        uint64_t stored = 0;
        CHECK_OK(fs_size(raw, &stored, NULL));
        uint64_t slot = (stored - FS_CRYPT_HEADER - 1) / FS_CRYPT_PAGE;
        uint8_t sb[FS_CRYPT_PAGE];
        size_t got = 0, pos = 0, last = 0;
        CHECK_OK(fs_read(raw, sb, sizeof sb, FS_CRYPT_HEADER + slot * FS_CRYPT_PAGE, &got, NULL));
        /* the slot's pages back to back: the last one */
        while (pos + FS_CRYPT_OVERHEAD <= got) {
            last = pos;
            size_t end = pos + FS_CRYPT_OVERHEAD + dec_u32(sb + pos + 20);
            if (end + FS_CRYPT_MIN_ROOM > FS_CRYPT_PAGE)
                break;
            pos = end;
        }
        CHECK(count < cap);
        memcpy(seen[count], sb + last, FS_CRYPT_NONCE);
        count++;
        CHECK_OK(fs_close(raw, NULL));
        if (i == 1500) {        /* a second handle (a journal reopened to cut its tail) */
            CHECK_OK(fs_close(h, NULL));
            CHECK_OK(fs_open(f, "/j", FS_O_WRITE, &h, NULL));
            CHECK_OK(fs_truncate(h, off - 10, NULL));
            off -= 10;
        }
    }
    CHECK_OK(fs_close(h, NULL));
    for (size_t a = 0; a < count; a++)
        for (size_t b = a + 1; b < count; b++)
            CHECK(memcmp(seen[a], seen[b], FS_CRYPT_NONCE) != 0);
    free(seen);
    fs_destroy(f);
    fs_destroy(mem);
}

/* Reads the whole logical file: TIND_OK with a prefix of want, or
 * TIND_ECORRUPT. Never other bytes. Returns the status; *n = bytes read. */
static int read_prefix(fs *f, const char *path, const uint8_t *want, size_t want_len, size_t *n)
{
    fs_file *h = NULL;
    tind_err err;
    *n = 0;
    int rc = fs_open(f, path, FS_O_READ, &h, &err);
    if (rc)
        return rc;
    uint8_t *buf = malloc(want_len + 8192);
    CHECK(buf != NULL);
    size_t got = 0;
    rc = fs_read(h, buf, want_len + 8192, 0, &got, &err);
    if (rc == TIND_OK) {
        CHECK(got <= want_len);
        CHECK(memcmp(buf, want, got) == 0);
        *n = got;
    } else {
        CHECK_RC(rc, TIND_ECORRUPT);
        CHECK(strstr(err.msg, path) != NULL && strstr(err.msg, "offset") != NULL);
    }
    free(buf);
    fs_close(h, NULL);
    return rc;
}

TEST(fs_tamper)
{
    fs *mem = fs_mem_new();
    fs *f = fs_crypt_new(mem, 0, KEY);
    size_t n = 3 * FS_CRYPT_PAYLOAD + 1000;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 13 + 1);
    write_file(f, "/t", data, n);
    uint8_t *stored = NULL;
    size_t slen = 0;
    CHECK_OK(fs_read_all(mem, "/t", &stored, &slen, NULL));
    int corrupt = 0, short_reads = 0;
    for (size_t at = 0; at < slen; at += 11) {
        stored[at] ^= 0x20;
        write_file(mem, "/t", stored, slen);
        size_t got = 0;
        int rc = read_prefix(f, "/t", data, n, &got);
        if (rc == TIND_ECORRUPT)
            corrupt++;
        else if (got < n)
            short_reads++;
        else
            CHECK(at >= 48 && at < FS_CRYPT_HEADER);    /* only the header's unused bytes are free */
        /* a damaged page that is not the last one is an error, never a short read */
        if (at >= FS_CRYPT_HEADER && at < FS_CRYPT_HEADER + 3 * FS_CRYPT_PAGE)
            CHECK_RC(rc, TIND_ECORRUPT);
        if (at >= FS_CRYPT_HEADER + 3 * FS_CRYPT_PAGE)
            CHECK(rc == TIND_OK && got == 3 * FS_CRYPT_PAYLOAD);
        stored[at] ^= 0x20;
    }
    CHECK(corrupt > 0 && short_reads > 0);
    /* cuts: a shorter file, at page granularity, never other bytes */
    for (size_t cut = 0; cut < slen; cut += 97) {
        write_file(mem, "/t", stored, cut);
        size_t got = 0;
        CHECK_OK(read_prefix(f, "/t", data, n, &got));
        CHECK(got <= (cut > FS_CRYPT_HEADER ? (cut - FS_CRYPT_HEADER) / FS_CRYPT_PAGE * FS_CRYPT_PAYLOAD : 0));
    }
    /* two pages swapped */
    uint8_t *sw = malloc(slen);
    memcpy(sw, stored, slen);
    memcpy(sw + FS_CRYPT_HEADER, stored + FS_CRYPT_HEADER + FS_CRYPT_PAGE, FS_CRYPT_PAGE);
    memcpy(sw + FS_CRYPT_HEADER + FS_CRYPT_PAGE, stored + FS_CRYPT_HEADER, FS_CRYPT_PAGE);
    write_file(mem, "/t", sw, slen);
    size_t got = 0;
    CHECK_RC(read_prefix(f, "/t", data, n, &got), TIND_ECORRUPT);
    /* a page of zeros (a hole) is damage too */
    memcpy(sw, stored, slen);
    memset(sw + FS_CRYPT_HEADER + FS_CRYPT_PAGE, 0, FS_CRYPT_PAGE);
    write_file(mem, "/t", sw, slen);
    CHECK_RC(read_prefix(f, "/t", data, n, &got), TIND_ECORRUPT);
    free(sw);
    free(stored);
    free(data);
    fs_destroy(f);
    fs_destroy(mem);
}

/* A reader handle beside a writer of the same file (the change feed and
 * checkpoints read the journal being written): the writer rewrites its
 * unsealed last page longer in place, so a read within the size the reader
 * verified before must not trust the stored size it verified it for. */
TEST(fs_reader_beside_writer)
{
    fs *mem = fs_mem_new();
    fs *c = fs_crypt_new(mem, 1, KEY);
    CHECK(c != NULL);
    fs_file *w = NULL, *r = NULL;
    CHECK_OK(fs_open(c, "/live", FS_O_WRITE | FS_O_CREATE, &w, NULL));
    uint8_t data[3 * FS_CRYPT_PAYLOAD], got[sizeof data];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 13 + 1);
    size_t at = 0;
    CHECK_OK(fs_write(w, data, 100, 0, NULL));
    at = 100;
    CHECK_OK(fs_open(c, "/live", FS_O_READ, &r, NULL));
    for (size_t step = 1; at + step <= sizeof data; step = step * 3 + 7) {
        size_t n = 0;
        /* the reader learns the size now (and the stored size it is for) */
        CHECK_OK(fs_read(r, got, at, 0, &n, NULL));
        CHECK_MEM(got, n, data, at);
        /* the writer grows its last page (rewritten in place), maybe a sync */
        CHECK_OK(fs_write(w, data + at, step, at, NULL));
        at += step;
        if (step % 2)
            CHECK_OK(fs_sync(w, FS_SYNC_DATA, NULL));
        /* a read within the old size, then one of everything */
        CHECK_OK(fs_read(r, got, at - step, 0, &n, NULL));
        CHECK_MEM(got, n, data, at - step);
        CHECK_OK(fs_read(r, got, at, 0, &n, NULL));
        CHECK_MEM(got, n, data, at);
    }
    CHECK_OK(fs_close(r, NULL));
    CHECK_OK(fs_close(w, NULL));
    fs_destroy(c);
}

/* A write that fails after part of its stored bytes reached the file (a
 * short write) while it rewrote the unsealed last page: the bytes that page
 * held before (written, not synced) are still there, as in a plaintext file
 * (tind-stress faults --encrypt found them lost:
 * TIND_FAULT_ONLY=write,short-write,521,0). Also when the write spans pages,
 * and after a sync (the next page then starts after the synced one). */
TEST(fs_short_write)
{
    uint8_t data[3 * FS_CRYPT_PAYLOAD], got[sizeof data];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 31 + 5);
    size_t firsts[] = {100, 4000, FS_CRYPT_PAYLOAD + 10};
    size_t adds[] = {50, 200, FS_CRYPT_PAYLOAD + 500};
    /* forever: every later write is cut short too and no truncation works
     * (a disk failing for good): the bytes written before stay whole, as
     * no append writes a page again */
    for (int forever = 0; forever < 2; forever++)
    for (int sync = 0; sync < 2; sync++)
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 3; b++) {
                fs *ff = fs_fault_new(fs_mem_new(), 1);
                fs *c = fs_crypt_new(ff, 1, KEY);
                CHECK(c != NULL);
                fs_file *w = NULL, *r = NULL;
                CHECK_OK(fs_open(c, "/j", FS_O_WRITE | FS_O_CREATE, &w, NULL));
                CHECK_OK(fs_write(w, data, firsts[a], 0, NULL));
                if (sync)
                    CHECK_OK(fs_sync(w, FS_SYNC_DATA, NULL));
                fs_fault_arm(ff, FS_CALL_WRITE, 1, FS_FAULT_SHORT_WRITE, 0, forever, NULL);
                if (forever)
                    fs_fault_arm(ff, FS_CALL_TRUNCATE, 1, FS_FAULT_ERRNO, 5 /* EIO */, 1, NULL);
                CHECK(fs_write(w, data + firsts[a], adds[b], firsts[a], NULL) != TIND_OK);
                /* the handle refuses more writes; a reader sees the first bytes whole */
                CHECK(fs_write(w, data, 1, firsts[a], NULL) != TIND_OK);
                fs_fault_disarm(ff);
                CHECK_OK(fs_close(w, NULL));
                CHECK_OK(fs_open(c, "/j", FS_O_READ, &r, NULL));
                uint64_t size = 0;
                CHECK_OK(fs_size(r, &size, NULL));
                CHECK_EQ(size, firsts[a]);
                size_t n = 0;
                CHECK_OK(fs_read(r, got, sizeof got, 0, &n, NULL));
                CHECK_MEM(got, n, data, firsts[a]);
                CHECK_OK(fs_close(r, NULL));
                /* a writer reopening it appends after them */
                CHECK_OK(fs_open(c, "/j", FS_O_WRITE, &w, NULL));
                CHECK_OK(fs_write(w, data + firsts[a], adds[b], firsts[a], NULL));
                CHECK_OK(fs_close(w, NULL));
                uint8_t *all = NULL;
                CHECK_OK(fs_read_all(c, "/j", &all, &n, NULL));
                CHECK_MEM(all, n, data, firsts[a] + adds[b]);
                free(all);
                fs_destroy(c);
            }
}

TEST(fs_crash)
{
    static const int modes[] = {FS_CRASH_DROP_UNSYNCED, FS_CRASH_KEEP_PREFIX,
                                FS_CRASH_DROP_UNSYNCED | FS_CRASH_TEAR_SECTOR,
                                FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR, 0};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++)
        for (uint64_t seed = 1; seed <= 20; seed++) {
            fs *mem = fs_mem_new();
            fs *f = fs_crypt_new(mem, 0, KEY);
            fs_file *h = NULL;
            CHECK_OK(fs_open(f, "/j", FS_O_WRITE | FS_O_CREATE | FS_O_EXCL, &h, NULL));
            uint8_t data[20000];
            for (size_t i = 0; i < sizeof data; i++)
                data[i] = (uint8_t)(i * 3 + seed);
            size_t synced = 0, written = 0;
            trng r;
            trng_seed(&r, seed);
            while (written < sizeof data) {
                size_t n = 1 + trng_below(&r, 700);
                int to_boundary = trng_below(&r, 4) == 0;  /* a sync right at a page's end */
                if (to_boundary)
                    n = FS_CRYPT_PAYLOAD - written % FS_CRYPT_PAYLOAD;
                if (written + n > sizeof data)
                    n = sizeof data - written;
                CHECK_OK(fs_write(h, data + written, n, written, NULL));
                written += n;
                if ((to_boundary || trng_below(&r, 3) == 0) && written < sizeof data * 3 / 4) {
                    CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
                    synced = written;
                }
            }
            CHECK_OK(fs_mem_crash(mem, modes[m], seed));
            fs_close(h, NULL);
            size_t got = 0;
            CHECK_OK(read_prefix(f, "/j", data, sizeof data, &got));
            /* the size agrees: a whole-file read sees the same shorter file */
            uint8_t *all = NULL;
            size_t all_len = 0;
            CHECK_OK(fs_read_all(f, "/j", &all, &all_len, NULL));
            CHECK_MEM(all, all_len, data, got);
            free(all);
            if (modes[m] & (FS_CRASH_DROP_UNSYNCED | FS_CRASH_KEEP_PREFIX))
                CHECK(got >= synced);
            else
                CHECK_EQ(got, sizeof data);
            /* the torn file is written on: cut and appended (a journal's
             * recovery cuts its torn tail) */
            CHECK_OK(fs_open(f, "/j", FS_O_WRITE, &h, NULL));
            CHECK_OK(fs_truncate(h, got, NULL));
            CHECK_OK(fs_write(h, data + got, sizeof data - got, got, NULL));
            CHECK_OK(fs_close(h, NULL));
            CHECK_OK(read_prefix(f, "/j", data, sizeof data, &got));
            CHECK_EQ(got, sizeof data);
            fs_destroy(f);
            fs_destroy(mem);
        }
}

/* ============================================================ the engine */

static int open_with(fs *f, const char *path, const uint8_t *key, int bg, tind_db **db)
{
    tind_options *o = tind_options_new();
    if (f)
        tind_options_set_fs(o, f);
    if (!bg)
        tind_options_set_no_background(o, 1);
    if (key)
        CHECK_OK(tind_options_set_encryption_key(o, key, 32));
    int rc = tind_open(path, o, db);
    tind_options_free(o);
    return rc;
}

static tind_ks_options *small_tables(int compression)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 16 << 10);
    tind_ks_options_set_table_size(ko, 16 << 10);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_compression(ko, -1, compression, 0);
    return ko;
}

#define NKEYS 1500

static void key_of(int i, char *k) { snprintf(k, 32, "SECRETKEY%06d", i); }
static size_t val_of(int i, int gen, char *v)
{
    return (size_t)snprintf(v, 128, "PLAINVALUE-%d-%06d-%.*s", gen, i, i % 60,
                            "ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp");
}

/* Keys 0..NKEYS-1: even ones at generation 1, odd ones removed after
 * generation 0, i % 7 == 0 rewritten once more in the memtable. */
static void fill_db(tind_db *db, tind_keyspace *ks)
{
    (void)db;
    char k[32], v[128];
    for (int gen = 0; gen < 2; gen++) {
        for (int i = 0; i < NKEYS; i++) {
            key_of(i, k);
            if (gen == 1 && i % 2)
                CHECK_OK(tind_remove(ks, k, strlen(k)));
            else
                CHECK_OK(tind_put(ks, k, strlen(k), v, val_of(i, gen, v)));
        }
        CHECK_OK(tind_flush(ks));
        if (gen == 0)
            CHECK_OK(tind_compact(ks));
    }
    for (int i = 0; i < NKEYS; i += 7) {
        key_of(i, k);
        CHECK_OK(tind_put(ks, k, strlen(k), v, val_of(i, 2, v)));
    }
}

static int expected(int i, char *v, size_t *vn)
{
    if (i % 7 == 0) {
        *vn = val_of(i, 2, v);
        return 1;
    }
    if (i % 2)
        return 0;
    *vn = val_of(i, 1, v);
    return 1;
}

/* Key i read as expected() says (with contains and value_size when
 * `all_calls`), or TIND_ECORRUPT returned when `damaged` allows it. */
static int check_key(tind_keyspace *ks, int i, const tind_read_options *ro, int all_calls, int damaged)
{
    char k[32], v[128];
    key_of(i, k);
    size_t vn = 0;
    int present = expected(i, v, &vn);
    void *got = NULL;
    size_t gn = 0;
    int rc = tind_get(ks, k, strlen(k), ro, &got, &gn);
    if (rc == TIND_ECORRUPT && damaged)
        return rc;
    if (!present) {
        CHECK_RC(rc, TIND_NOT_FOUND);
        return TIND_OK;
    }
    CHECK_OK(rc);
    CHECK_MEM(got, gn, v, vn);
    tind_free(got);
    if (all_calls) {
        CHECK_OK(tind_contains(ks, k, strlen(k), ro));
        uint64_t sz = 0;
        CHECK_OK(tind_value_size(ks, k, strlen(k), ro, &sz));
        CHECK_EQ(sz, vn);
    }
    return TIND_OK;
}

static void check_all_reads(tind_keyspace *ks, const tind_read_options *ro)
{
    char k[32], v[128];
    for (int i = 0; i < NKEYS; i++)
        check_key(ks, i, ro, 1, 0);
    void *fk = NULL, *fv = NULL;
    size_t fkn = 0, fvn = 0;
    CHECK_OK(tind_first(ks, ro, &fk, &fkn, &fv, &fvn));
    key_of(0, k);
    CHECK_MEM(fk, fkn, k, strlen(k));
    tind_free(fk);
    tind_free(fv);
    CHECK_OK(tind_last(ks, ro, &fk, &fkn, &fv, &fvn));
    int last = NKEYS - 1;
    while (!expected(last, v, &(size_t){0}))
        last--;
    key_of(last, k);
    CHECK_MEM(fk, fkn, k, strlen(k));
    tind_free(fk);
    tind_free(fv);
    /* full cursor both ways, and a prefix */
    tind_iter *it = NULL;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
    int i = 0, count = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
        size_t vn = 0;
        while (!expected(i, v, &vn))
            i++;
        key_of(i, k);
        size_t kl = 0, vl = 0;
        const void *kk = tind_iter_key(it, &kl);
        const void *vv = tind_iter_value(it, &vl);
        CHECK_MEM(kk, kl, k, strlen(k));
        CHECK_MEM(vv, vl, v, vn);
        i++;
        count++;
    }
    CHECK_OK(tind_iter_status(it));
    int back = 0;
    for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it))
        back++;
    CHECK_OK(tind_iter_status(it));
    CHECK_EQ(back, count);
    tind_iter_free(it);
    CHECK_OK(tind_iter_prefix(ks, "SECRETKEY0001", 13, ro, &it));
    int pref = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
        pref++;
    CHECK_OK(tind_iter_status(it));
    int want = 0;
    for (int j = 100; j < 200; j++)
        want += expected(j, v, &(size_t){0});
    CHECK_EQ(pref, want);
    tind_iter_free(it);
}

TEST(db_round_trip)
{
    for (int bg = 0; bg < 2; bg++) {
        fs *mem = fs_mem_new();
        tind_db *db = NULL;
        CHECK_OK(open_with(mem, "/db", KEY, bg, &db));
        tind_ks_options *ko = small_tables(TIND_COMPRESSION_LZ4);
        tind_keyspace *ks = NULL;
        CHECK_OK(tind_keyspace_open(db, "items", ko, &ks));
        fill_db(db, ks);
        /* a snapshot, then changes it must not see */
        tind_snapshot *snap = NULL;
        CHECK_OK(tind_snapshot_new(db, &snap));
        tind_read_options *ro = tind_read_options_new();
        tind_read_options_set_snapshot(ro, snap);
        CHECK_OK(tind_put(ks, "zzz-after", 9, "x", 1));
        check_all_reads(ks, ro);
        tind_ks_stats st;
        CHECK_OK(tind_ks_stats_get(ks, &st));
        tind_read_options_free(ro);
        tind_snapshot_free(snap);
        CHECK_OK(tind_remove(ks, "zzz-after", 9));
        check_all_reads(ks, NULL);
        CHECK_OK(tind_close(db));
        for (int reopen = 0; reopen < 2; reopen++) {
            CHECK_OK(open_with(mem, "/db", KEY, bg, &db));
            CHECK_OK(tind_keyspace_open(db, "items", ko, &ks));
            check_all_reads(ks, NULL);
            if (reopen == 0) {
                CHECK_OK(tind_flush(ks));
                CHECK_OK(tind_compact(ks));
                check_all_reads(ks, NULL);
            }
            CHECK_OK(tind_close(db));
        }
        /* after a power loss: everything was synced by close */
        CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, 7));
        CHECK_OK(open_with(mem, "/db", KEY, bg, &db));
        CHECK_OK(tind_keyspace_open(db, "items", ko, &ks));
        check_all_reads(ks, NULL);
        CHECK_OK(tind_close(db));
        tind_ks_options_free(ko);
        fs_destroy(mem);
    }
}

/* Power losses while the journal grows (each sync rewrites its partial last
 * page): the database always reopens and holds every synced batch. */
TEST(db_crash)
{
    static const int modes[] = {FS_CRASH_DROP_UNSYNCED, FS_CRASH_KEEP_PREFIX,
                                FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR | FS_CRASH_DROP_DIRENTS,
                                FS_CRASH_DROP_UNSYNCED | FS_CRASH_TEAR_SECTOR, 0};
    int rounds = 0;
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++)
        for (uint64_t seed = 1; seed <= 12; seed++) {
            fs *mem = fs_mem_new();
            tind_db *db = NULL;
            tind_keyspace *ks = NULL;
            int synced = -1, written = 0;
            trng r;
            trng_seed(&r, seed * 31 + m);
            for (int life = 0; life < 3; life++) {
                CHECK_OK(open_with(mem, "/db", KEY, 0, &db));
                tind_ks_options *ko = small_tables(TIND_COMPRESSION_LZ4);
                CHECK_OK(tind_keyspace_open(db, "c", ko, &ks));
                tind_ks_options_free(ko);
                /* everything synced before stays */
                for (int i = 0; i <= synced; i++) {
                    char k[16];
                    snprintf(k, sizeof k, "c%05d", i);
                    void *v = NULL;
                    size_t vn = 0;
                    CHECK_OK(tind_get(ks, k, strlen(k), NULL, &v, &vn));
                    CHECK_MEM(v, vn, k, strlen(k));
                    tind_free(v);
                }
                int n = 20 + (int)trng_below(&r, 200);
                for (int i = 0; i < n; i++, written++) {
                    char k[16];
                    snprintf(k, sizeof k, "c%05d", written);
                    tind_batch *b = NULL;
                    CHECK_OK(tind_batch_new(db, &b));
                    CHECK_OK(tind_batch_put(b, ks, k, strlen(k), k, strlen(k)));
                    int sync = trng_below(&r, 4) == 0;
                    tind_batch_set_durability(b, sync ? TIND_PERSIST_SYNC_DATA : TIND_PERSIST_NONE);
                    CHECK_OK(tind_batch_commit(b));
                    tind_batch_free(b);
                    if (sync)
                        synced = written;
                    if (trng_below(&r, 60) == 0)
                        CHECK_OK(tind_flush(ks));
                }
                /* the power cut: the handles are abandoned (the mem fs makes them stale) */
                CHECK_OK(fs_mem_crash(mem, modes[m], seed * 7 + (uint64_t)life));
                (void)tind_close(db);
                written = synced + 1;   /* what came after may be lost; rewritten next life */
                rounds++;
            }
            fs_destroy(mem);
        }
    CHECK(rounds > 100);
}

static int key_cb(void *ctx, uint8_t key[32])
{
    int *calls = ctx;
    (*calls)++;
    memcpy(key, KEY, 32);
    return TIND_OK;
}

static int failing_cb(void *ctx, uint8_t key[32])
{
    (void)ctx;
    (void)key;
    return TIND_EIO;
}

TEST(db_keys)
{
    fs *mem = fs_mem_new();
    tind_db *db = NULL;
    tind_keyspace *ks = NULL;
    CHECK_OK(open_with(mem, "/db", KEY, 0, &db));
    CHECK_OK(tind_keyspace_open(db, "k", NULL, &ks));
    CHECK_OK(tind_put(ks, "a", 1, "b", 1));
    CHECK_OK(tind_close(db));

    CHECK_RC(open_with(mem, "/db", OTHER, 0, &db), TIND_EINVAL);
    CHECK(strstr(tind_errmsg(NULL), "wrong encryption key") != NULL || 1);
    CHECK_RC(open_with(mem, "/db", NULL, 0, &db), TIND_EINVAL);

    /* the messages (tind_open records them for the calling thread) */
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, mem);
    tind_options_set_no_background(o, 1);
    CHECK_RC(tind_options_set_encryption_key(o, KEY, 31), TIND_EINVAL);
    CHECK_RC(tind_options_set_encryption_key(NULL, KEY, 32), TIND_EINVAL);
    int calls = 0;
    tind_options_set_encryption_key_fn(o, key_cb, &calls);
    CHECK_OK(tind_open("/db", o, &db));
    CHECK_EQ(calls, 1);
    CHECK_OK(tind_keyspace_open(db, "k", NULL, &ks));
    void *v = NULL;
    size_t vn = 0;
    CHECK_OK(tind_get(ks, "a", 1, NULL, &v, &vn));
    CHECK_MEM(v, vn, "b", 1);
    tind_free(v);
    CHECK_OK(tind_close(db));
    tind_options_set_encryption_key_fn(o, failing_cb, NULL);
    CHECK_RC(tind_open("/db", o, &db), TIND_EIO);
    /* read-only with the key works, without it does not */
    CHECK_OK(tind_options_set_encryption_key(o, KEY, 32));
    tind_options_set_read_only(o, 1);
    CHECK_OK(tind_open("/db", o, &db));
    CHECK_OK(tind_close(db));
    CHECK_OK(tind_options_set_encryption_key(o, NULL, 0));
    CHECK_RC(tind_open("/db", o, &db), TIND_EINVAL);
    tind_options_free(o);

    /* a plain database opened with a key */
    CHECK_OK(open_with(mem, "/plain", NULL, 0, &db));
    CHECK_OK(tind_close(db));
    CHECK_RC(open_with(mem, "/plain", KEY, 0, &db), TIND_EINVAL);
    CHECK_OK(open_with(mem, "/plain", NULL, 0, &db));
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* The messages of the refusals, through a POSIX folder so tind_errmsg has a
 * database-less record: tind_open's failures are reported by its status and
 * the message of the last error on this thread (tind_errmsg(NULL)). */
TEST(db_key_messages)
{
    fs *mem = fs_mem_new();
    tind_db *db = NULL;
    CHECK_OK(open_with(mem, "/db", KEY, 0, &db));
    CHECK_OK(tind_close(db));
    CHECK_RC(open_with(mem, "/db", OTHER, 0, &db), TIND_EINVAL);
    CHECK(strstr(tind_errmsg(NULL), "wrong encryption key") != NULL);
    CHECK_RC(open_with(mem, "/db", NULL, 0, &db), TIND_EINVAL);
    CHECK(strstr(tind_errmsg(NULL), "is encrypted") != NULL);
    CHECK_OK(open_with(mem, "/plain", NULL, 0, &db));
    CHECK_OK(tind_close(db));
    CHECK_RC(open_with(mem, "/plain", KEY, 0, &db), TIND_EINVAL);
    CHECK(strstr(tind_errmsg(NULL), "not encrypted") != NULL);
    fs_destroy(mem);
}

/* ============================================================== grep test */

static void grep_tree(const char *dir, const char *const *needles, size_t nn, int *files)
{
    fs *px = fs_posix_new();
    char **names = NULL;
    size_t count = 0;
    CHECK_OK(fs_list(px, dir, &names, &count, NULL));
    for (size_t i = 0; i < count; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int is_dir = 0;
        /* background work may delete a file meanwhile */
        if (fs_exists(px, path, &is_dir) == TIND_ENOENT)
            continue;
        if (is_dir) {
            grep_tree(path, needles, nn, files);
            continue;
        }
        uint8_t *data = NULL;
        size_t len = 0;
        int rc = fs_read_all(px, path, &data, &len, NULL);
        if (rc == TIND_ENOENT)
            continue;
        CHECK_OK(rc);
        (*files)++;
        for (size_t k = 0; k < nn; k++) {
            size_t m = strlen(needles[k]);
            if (contains(data, len, needles[k], m))
                check_fail(__FILE__, __LINE__, "'%s' holds the plaintext '%s'", path, needles[k]);
        }
        if (contains(data, len, KEY, 32))
            check_fail(__FILE__, __LINE__, "'%s' holds the key", path);
        free(data);
    }
    fs_list_free(names, count);
    fs_destroy(px);
}

TEST(db_grep)
{
    char *dir = check_tmpdir("encgrep");
    char path[1024];
    snprintf(path, sizeof path, "%s/db", dir);
    tind_db *db = NULL;
    CHECK_OK(open_with(NULL, path, KEY, 1, &db));
    /* no compression: the plaintext would be there byte for byte */
    tind_ks_options *ko = small_tables(TIND_COMPRESSION_NONE);
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, "customer-names", ko, &ks));
    fill_db(db, ks);
    /* some only in the journal, synced */
    CHECK_OK(tind_put(ks, "SECRETKEY-journal", 17, "PLAINVALUE-journal", 18));
    CHECK_OK(tind_persist(db, TIND_PERSIST_SYNC_ALL));
    /* the files as they are while open, then after close */
    static const char *const needles[] = {"SECRETKEY", "PLAINVALUE", "customer-names", "pppppppppp"};
    int files = 0;
    grep_tree(path, needles, 4, &files);
    CHECK_OK(tind_close(db));
    files = 0;
    grep_tree(path, needles, 4, &files);
    CHECK(files >= 5);     /* ENCRYPTION, FORMAT, VERSIONS, LOCK, a journal, tables */
    /* and the data is all there */
    CHECK_OK(open_with(NULL, path, KEY, 0, &db));
    CHECK_OK(tind_keyspace_open(db, "customer-names", ko, &ks));
    void *v = NULL;
    size_t vn = 0;
    CHECK_OK(tind_get(ks, "SECRETKEY-journal", 17, NULL, &v, &vn));
    CHECK_MEM(v, vn, "PLAINVALUE-journal", 18);
    tind_free(v);
    CHECK_OK(tind_remove(ks, "SECRETKEY-journal", 17));
    check_all_reads(ks, NULL);
    CHECK_OK(tind_close(db));
    /* the control: the same data in a plain database is found */
    char plain[1024];
    snprintf(plain, sizeof plain, "%s/plain", dir);
    CHECK_OK(open_with(NULL, plain, NULL, 0, &db));
    CHECK_OK(tind_keyspace_open(db, "customer-names", ko, &ks));
    CHECK_OK(tind_put(ks, "SECRETKEY-x", 11, "PLAINVALUE-x", 12));
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_close(db));
    fs *px = fs_posix_new();
    char **names = NULL;
    size_t count = 0;
    char tdir[1100];
    snprintf(tdir, sizeof tdir, "%s/tables", plain);
    CHECK_OK(fs_list(px, tdir, &names, &count, NULL));
    CHECK(count >= 1);
    char tpath[1200];
    snprintf(tpath, sizeof tpath, "%s/%s", tdir, names[0]);
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_OK(fs_read_all(px, tpath, &data, &len, NULL));
    CHECK(contains(data, len, "PLAINVALUE-x", 12));
    free(data);
    fs_list_free(names, count);
    fs_destroy(px);
    tind_ks_options_free(ko);
    check_rmtree(dir);
    free(dir);
}

/* ========================================================= tamper sweep */

typedef struct saved_file {
    char path[256];
    uint8_t *data;
    size_t len;
} saved_file;

static void save_tree(fs *mem, const char *dir, saved_file *out, size_t *n, size_t cap)
{
    char **names = NULL;
    size_t count = 0;
    CHECK_OK(fs_list(mem, dir, &names, &count, NULL));
    for (size_t i = 0; i < count; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int is_dir = 0;
        CHECK_OK(fs_exists(mem, path, &is_dir));
        if (is_dir) {
            save_tree(mem, path, out, n, cap);
            continue;
        }
        CHECK(*n < cap);
        saved_file *s = &out[(*n)++];
        snprintf(s->path, sizeof s->path, "%s", path);
        CHECK_OK(fs_read_all(mem, path, &s->data, &s->len, NULL));
    }
    fs_list_free(names, count);
}

static void put_raw(fs *mem, const char *path, const uint8_t *data, size_t len)
{
    fs_file *h = NULL;
    CHECK_OK(fs_open(mem, path, FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &h, NULL));
    if (len)
        CHECK_OK(fs_write(h, data, len, 0, NULL));
    CHECK_OK(fs_sync(h, FS_SYNC_DATA, NULL));
    CHECK_OK(fs_close(h, NULL));
}

/* Removes the files under dir that are not among the saved ones (a journal
 * an earlier open made, or one it left after dropping later journals). */
static void prune_tree(fs *mem, const char *dir, const saved_file *files, size_t nfiles)
{
    char **names = NULL;
    size_t count = 0;
    CHECK_OK(fs_list(mem, dir, &names, &count, NULL));
    for (size_t i = 0; i < count; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int is_dir = 0;
        CHECK_OK(fs_exists(mem, path, &is_dir));
        if (is_dir) {
            prune_tree(mem, path, files, nfiles);
            continue;
        }
        int saved = 0;
        for (size_t f = 0; f < nfiles && !saved; f++)
            saved = strcmp(files[f].path, path) == 0;
        if (!saved)
            CHECK_OK(fs_unlink(mem, path, NULL));
    }
    fs_list_free(names, count);
}

/* Opens the damaged database and reads every key: the open fails with
 * TIND_ECORRUPT, or each read is exact or TIND_ECORRUPT; keys written only
 * to the journal (j_*) may be missing when a journal was damaged. */
static int judge(fs *mem, int journal_damaged, int *read_errors)
{
    tind_db *db = NULL;
    int rc = open_with(mem, "/db", KEY, 0, &db);
    if (rc) {
        if (rc != TIND_ECORRUPT)
            check_fail(__FILE__, __LINE__, "open: %s: %s", tind_strerror(rc), tind_errmsg(NULL));
        return rc;
    }
    tind_keyspace *ks = NULL;
    rc = tind_keyspace_open(db, "items", NULL, &ks);
    CHECK_OK(rc);
    char k[32];
    for (int i = 0; i < NKEYS; i++)
        *read_errors += check_key(ks, i, NULL, 0, 1) == TIND_ECORRUPT;
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "j_%03d", i);
        void *got = NULL;
        size_t gn = 0;
        rc = tind_get(ks, k, strlen(k), NULL, &got, &gn);
        if (rc == TIND_ECORRUPT) {
            (*read_errors)++;
            continue;
        }
        if (rc == TIND_NOT_FOUND && journal_damaged)
            continue;
        CHECK_OK(rc);
        CHECK_MEM(got, gn, k, strlen(k));
        tind_free(got);
    }
    CHECK_OK(tind_close(db));
    return TIND_OK;
}

TEST(db_tamper_sweep)
{
    fs *mem = fs_mem_new();
    tind_db *db = NULL;
    CHECK_OK(open_with(mem, "/db", KEY, 0, &db));
    tind_ks_options *ko = small_tables(TIND_COMPRESSION_LZ4);
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, "items", ko, &ks));
    fill_db(db, ks);
    CHECK_OK(tind_flush(ks));
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof k, "j_%03d", i);
        CHECK_OK(tind_put(ks, k, strlen(k), k, strlen(k)));
    }
    tind_db *closing = db;
    CHECK_OK(tind_close(closing));
    tind_ks_options_free(ko);
    saved_file files[64];
    size_t nfiles = 0;
    save_tree(mem, "/db", files, &nfiles, 64);
    CHECK(nfiles >= 5);
    int opened = 0, refused = 0, read_errors = 0, damages = 0;
    for (size_t fi = 0; fi < nfiles; fi++) {
        saved_file *s = &files[fi];
        if (strstr(s->path, "LOCK"))
            continue;
        int journal = strstr(s->path, ".jrn") != NULL;
        size_t step = s->len / 24 + 1;
        for (size_t at = 0; at < s->len + step; at += step) {
            for (int kind = 0; kind < 2; kind++) {
                uint8_t *copy = malloc(s->len + 1);
                memcpy(copy, s->data, s->len);
                size_t len = s->len;
                if (kind == 0 && at < s->len)
                    copy[at] ^= (uint8_t)(1u << (at % 8));
                else if (kind == 1 && at < s->len)
                    len = at;
                else {
                    free(copy);
                    continue;
                }
                /* a fresh copy of the pristine folder with this one file damaged */
                prune_tree(mem, "/db", files, nfiles);
                for (size_t g = 0; g < nfiles; g++)
                    put_raw(mem, files[g].path, g == fi ? copy : files[g].data, g == fi ? len : files[g].len);
                free(copy);
                damages++;
                if (judge(mem, journal, &read_errors) == TIND_OK)
                    opened++;
                else
                    refused++;
            }
        }
        put_raw(mem, s->path, s->data, s->len);
    }
    fprintf(stderr, "    %d damages: %d opens refused (TIND_ECORRUPT), %d opened, %d reads TIND_ECORRUPT\n", damages,
            refused, opened, read_errors);
    CHECK(refused > 0 && opened > 0 && read_errors > 0);
    for (size_t fi = 0; fi < nfiles; fi++)
        free(files[fi].data);
    fs_destroy(mem);
}

int main(void)
{
    check_seed = check_seed_init(0xC0FFEE);
    RUN(page_codec);
    RUN(fs_model);
    RUN(fs_nonces_unique);
    RUN(fs_tamper);
    RUN(fs_reader_beside_writer);
    RUN(fs_short_write);
    RUN(fs_crash);
    RUN(db_round_trip);
    RUN(db_crash);
    RUN(db_keys);
    RUN(db_key_messages);
    RUN(db_grep);
    RUN(db_tamper_sweep);
    return 0;
}
