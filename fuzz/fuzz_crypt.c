/*
 * fuzz_crypt.c -- libFuzzer target for the encrypted page decoder
 * (io/fs_crypt.c): the reads of a stored file through the encrypting fs and
 * fs_crypt_decode_page on raw pages.
 *
 * The first byte picks the mode:
 *   even  the rest is a stored (encrypted) file as found on disk: it is
 *         opened through a crypt fs over the in-memory fs and read whole, in
 *         slices and as pages through fs_crypt_decode_page. Every call gives
 *         TIND_OK, TIND_ECORRUPT or TIND_EVERSION, never a crash or an
 *         overrun; a read that succeeds returns at most the logical size.
 *   odd   the rest is plaintext: written through the crypt fs in chunks
 *         whose sizes come from the data (with syncs between some, so
 *         pages are left short), cut at a length the data gives,
 *         then read back: it must equal what was written (round trip), and
 *         a bit the data names, flipped in the stored file, must never come
 *         back as other plaintext.
 * Replayed over fuzz/corpus/crypt/ by the normal test run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "io/fs_crypt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t KEY[FS_CRYPT_KEY_BYTES] = {'f', 'u', 'z', 'z', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28};

static int allowed(int rc) { return rc == TIND_OK || rc == TIND_ECORRUPT || rc == TIND_EVERSION; }

static void put_raw(fs *mem, const uint8_t *p, size_t n)
{
    fs_file *h = NULL;
    if (fs_open(mem, "/f", FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &h, NULL) != TIND_OK)
        abort();
    if (n && fs_write(h, p, n, 0, NULL) != TIND_OK)
        abort();
    fs_close(h, NULL);
}

/* Reads the whole file through the crypt fs: the status, *out (malloc'd). */
static int read_whole(fs *cfs, uint8_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    fs_file *h = NULL;
    int rc = fs_open(cfs, "/f", FS_O_READ, &h, NULL);
    if (rc)
        return rc;
    uint64_t size = 0;
    rc = fs_size(h, &size, NULL);
    if (rc == TIND_OK) {
        *out = malloc(size + 1);
        if (!*out)
            abort();
        rc = fs_read(h, *out, (size_t)size + 1, 0, n, NULL);
        if (rc == TIND_OK && *n > size)
            abort();
    }
    fs_close(h, NULL);
    return rc;
}

static void stored_mode(const uint8_t *d, size_t n)
{
    fs *mem = fs_mem_new();
    fs *cfs = fs_crypt_new(mem, 0, KEY);
    if (!mem || !cfs)
        abort();
    put_raw(mem, d, n);
    uint8_t *all = NULL;
    size_t len = 0;
    if (!allowed(read_whole(cfs, &all, &len)))
        abort();
    free(all);
    /* slices */
    fs_file *h = NULL;
    if (fs_open(cfs, "/f", FS_O_READ, &h, NULL) == TIND_OK) {
        uint8_t buf[3 * FS_CRYPT_PAYLOAD];
        for (size_t i = 0; i + 4 <= n && i < 64; i += 4) {
            size_t off = (size_t)(d[i] | d[i + 1] << 8) * 7, want = (size_t)(d[i + 2] | d[i + 3] << 8) % sizeof buf;
            size_t got = 0;
            int rc = fs_read(h, buf, want, off, &got, NULL);
            if (!allowed(rc) || got > want)
                abort();
        }
        fs_close(h, NULL);
    }
    /* pages straight into the decoder */
    if (n > FS_CRYPT_HEADER) {
        uint8_t out[FS_CRYPT_PAYLOAD];
        for (size_t p = 0; FS_CRYPT_HEADER + p * FS_CRYPT_PAGE < n && p < 8; p++) {
            size_t at = FS_CRYPT_HEADER + p * FS_CRYPT_PAGE;
            size_t len2 = n - at < FS_CRYPT_PAGE ? n - at : FS_CRYPT_PAGE;
            uint8_t *page = malloc(len2);      /* exact size: overruns are caught */
            if (!page)
                abort();
            memcpy(page, d + at, len2);
            size_t got = 0;
            uint64_t start = 0;
            int rc = fs_crypt_decode_page(KEY, d, n, p, page, len2, out, &got, &start, NULL);
            if (!allowed(rc) || got > FS_CRYPT_PAYLOAD)
                abort();
            free(page);
        }
    }
    fs_destroy(cfs);
    fs_destroy(mem);
}

static void plain_mode(const uint8_t *d, size_t n)
{
    fs *mem = fs_mem_new();
    fs *cfs = fs_crypt_new(mem, 0, KEY);
    if (!mem || !cfs)
        abort();
    fs_file *h = NULL;
    if (fs_open(cfs, "/f", FS_O_WRITE | FS_O_CREATE | FS_O_EXCL, &h, NULL) != TIND_OK)
        abort();
    size_t off = 0, k = 0;
    while (off < n) {
        size_t chunk = 1 + (size_t)d[k++ % n] * 37;
        if (chunk > n - off)
            chunk = n - off;
        if (fs_write(h, d + off, chunk, off, NULL) != TIND_OK)
            abort();
        off += chunk;
        if (d[(k * 7) % n] % 29 == 0 && fs_sync(h, FS_SYNC_DATA, NULL) != TIND_OK)  /* short pages */
            abort();
    }
    size_t cut = n ? (size_t)d[0] * 97 % (n + 1) : 0;
    if (n && d[n - 1] & 1) {
        if (fs_truncate(h, cut, NULL) != TIND_OK)
            abort();
    } else {
        cut = n;
    }
    fs_close(h, NULL);
    uint8_t *all = NULL;
    size_t len = 0;
    if (read_whole(cfs, &all, &len) != TIND_OK || len != cut || (len && memcmp(all, d, len) != 0))
        abort();
    free(all);
    /* one flipped stored bit: an error, a shorter file, or the same bytes */
    uint8_t *stored = NULL;
    size_t slen = 0;
    if (fs_read_all(mem, "/f", &stored, &slen, NULL) != TIND_OK)
        abort();
    if (slen && n >= 2) {
        size_t bit = ((size_t)d[1] * 131 + (size_t)d[n / 2] * 7) % (slen * 8);
        stored[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        put_raw(mem, stored, slen);
        int rc = read_whole(cfs, &all, &len);
        if (!allowed(rc) || (rc == TIND_OK && (len > cut || (len && memcmp(all, d, len) != 0))))
            abort();
        free(all);
    }
    free(stored);
    fs_destroy(cfs);
    fs_destroy(mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        plain_mode(data + 1, size - 1);
    else
        stored_mode(data + 1, size - 1);
    return 0;
}
