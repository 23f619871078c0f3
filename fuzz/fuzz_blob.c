/*
 * fuzz_blob.c -- libFuzzer target for the blob file decoder (blob/blob.c):
 * the container, the metadata section, the record walk, pointer decoding
 * and blob_read through a reader on an in-memory file system.
 *
 * Any input must give TIND_OK, TIND_ECORRUPT or TIND_EVERSION, never a crash
 * or an out-of-bounds read. Each input runs twice: as given, and with every
 * checksum recomputed (container ToC and trailer, metadata, and each record
 * found by walking the record headers), so that mutations also reach the
 * checks behind the checksums. The first 32 bytes, read as a blob pointer,
 * are also decoded and, when they decode, read through the reader (which
 * must refuse a pointer outside the records or not at a record).
 * Replayed over fuzz/corpus/blob/ by the normal test run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob.h"
#include "format/container.h"
#include "io/fs.h"
#include "util/coding.h"
#include "util/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ok_status(int rc)
{
    if (rc != TIND_OK && rc != TIND_ECORRUPT && rc != TIND_EVERSION)
        abort();
}

static void fix_checksums(uint8_t *d, size_t n)
{
    ctr_toc *toc = malloc(sizeof *toc);
    if (!toc || n < CTR_TRAILER_SIZE) {
        free(toc);
        return;
    }
    uint8_t *t = d + n - CTR_TRAILER_SIZE;
    uint64_t off = dec_u64(t), len = dec_u64(t + 8);
    if (off <= n && len <= n - off) {
        hash128 h = hash128_of(d + off, (size_t)len);
        enc_u64(t + 16, h.low);
        enc_u64(t + 24, h.high);
    }
    enc_u64(t + 40, hash64(t, 40));
    enc_u64(t + 48, CTR_MAGIC);
    if (ctr_parse_toc(d, n, UINT32_MAX, toc, "fuzz", NULL) == TIND_OK) {
        const ctr_section *ms = ctr_find(toc, BLOB_SECTION_META);
        const ctr_section *rs = ctr_find(toc, BLOB_SECTION_RECORDS);
        uint64_t number = 0;
        if (ms && ms->length >= 8 && ms->offset <= n && ms->length <= n - ms->offset) {
            uint8_t *m = d + ms->offset;
            enc_u64(m + ms->length - 8, hash64(m, (size_t)ms->length - 8));
            if (!dec_varint64(m, m + ms->length - 8, &number))
                number = 0;
        }
        if (rs && rs->offset <= n && rs->length <= n - rs->offset) {
            uint64_t o = rs->offset, end = rs->offset + rs->length;
            while (end - o >= BLOB_RECORD_OVERHEAD) {
                uint64_t s = dec_u32(d + o);
                if (s > end - o - BLOB_RECORD_OVERHEAD)
                    break;
                uint8_t *h = d + o;
                enc_u64(h + BLOB_RECORD_HEADER + s, blob_record_sum(number, o, h, h + BLOB_RECORD_HEADER, (size_t)s));
                o += s + BLOB_RECORD_OVERHEAD;
            }
        }
    }
    free(toc);
}

static void run(const uint8_t *data, size_t size)
{
    tind_err err;
    ok_status(blob_check_bytes(data, size, 0, &err));
    fs *f = fs_mem_new();
    if (!f)
        return;
    fs_file *w;
    if (fs_open(f, "/x.blob", FS_O_WRITE | FS_O_CREATE, &w, NULL) == TIND_OK) {
        if (size)
            fs_write(w, data, size, 0, NULL);
        fs_close(w, NULL);
        blob_reader *r;
        int rc = blob_reader_open(f, "/x.blob", 0, NULL, NULL, &r, &err);
        ok_status(rc);
        if (rc == TIND_OK) {
            ok_status(blob_walk(r, NULL, NULL, &err));
            blob_ptr p;
            if (blob_ptr_decode(data, size < 32 ? size : 32, &p) == TIND_OK) {
                tbuf out = TBUF_INIT;
                if (p.size < (1u << 24))
                    ok_status(blob_read(r, &p, 0, &out, &err));
                tbuf_free(&out);
            }
            for (size_t cut = 1; cut <= 4 && cut <= size; cut++) {
                blob_ptr q;
                ok_status(blob_ptr_decode(data, size - cut, &q));
            }
            blob_reader_free(r);
        }
    }
    fs_destroy(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    uint8_t *copy = calloc(size ? size : 1, 1);    /* exact size: overruns are caught */
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    run(copy, size);
    fix_checksums(copy, size);
    run(copy, size);
    free(copy);
    return 0;
}
