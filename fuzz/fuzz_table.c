/*
 * fuzz_table.c -- libFuzzer target for the table reader (format/table*.c).
 *
 * The input is written as a file into an in-memory file system and opened
 * with tbl_open, once without caches (index and filter pinned) and once with
 * a small block cache (not pinned). When it opens, the table is iterated in
 * both directions, sought, read with tbl_get (keys seen during iteration and
 * a few fixed ones, with and without the filter) and verified. Every call
 * must return TIND_OK, TIND_NOT_FOUND, TIND_ECORRUPT or TIND_EVERSION; never
 * crash, read out of bounds or leak.
 *
 * Each input runs twice: as given, and with every checksum recomputed (the
 * container trailer and TOC, and each stored block found by walking the
 * sections header by header), so that mutations also reach the decoders
 * behind the checksums (metadata, index, partitions, filters, data blocks).
 * Replayed over fuzz/corpus/table/ by the normal test run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "format/blockio.h"
#include "format/container.h"
#include "format/table.h"
#include "io/fs.h"
#include "util/coding.h"
#include "util/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ok_status(int rc)
{
    if (rc != TIND_OK && rc != TIND_NOT_FOUND && rc != TIND_ECORRUPT && rc != TIND_EVERSION)
        abort();
}

static void fix_checksums(uint8_t *d, size_t n)
{
    if (n < CTR_TRAILER_SIZE)
        return;
    uint8_t *t = d + n - CTR_TRAILER_SIZE;
    uint64_t off = dec_u64(t), len = dec_u64(t + 8);
    if (off <= n && len <= n - off) {
        hash128 h = hash128_of(d + off, (size_t)len);
        enc_u64(t + 16, h.low);
        enc_u64(t + 24, h.high);
    }
    enc_u64(t + 40, hash64(t, 40));
    enc_u64(t + 48, CTR_MAGIC);
    ctr_toc *toc = malloc(sizeof *toc);
    if (!toc)
        return;
    if (ctr_parse_toc(d, n, TABLE_FORMAT_VERSION, toc, "fuzz", NULL) == TIND_OK) {
        for (uint32_t i = 0; i < toc->count; i++) {
            uint64_t p = toc->sections[i].offset, end = p + toc->sections[i].length;
            while (end - p >= BLOCK_HEADER_SIZE) {
                uint64_t stored = dec_u32(d + p + 5);
                if (stored > end - p - BLOCK_HEADER_SIZE)
                    break;
                hash64_stream s;
                hash64_begin(&s);
                hash64_update(&s, d + p, 9);
                hash64_update(&s, d + p + BLOCK_HEADER_SIZE, (size_t)stored);
                enc_u64(d + p + 9, hash64_end(&s));
                p += BLOCK_HEADER_SIZE + stored;
            }
        }
    }
    free(toc);
}

static void read_table(tbl *t)
{
    tbl_iter *it;
    tbuf key = TBUF_INIT, value = TBUF_INIT;
    tbuf keys[4] = {TBUF_INIT, TBUF_INIT, TBUF_INIT, TBUF_INIT};
    uint64_t seqs[4] = {0, 0, 0, 0};
    size_t nkeys = 0, steps = 0;
    tind_err err;
    uint8_t type;
    uint64_t seq;

    if (tbl_iter_new(t, &it) != TIND_OK)
        return;
    for (tbl_iter_first(it); tbl_iter_valid(it) && steps < 200000; tbl_iter_next(it), steps++) {
        size_t n, vn;
        const uint8_t *k = tbl_iter_key(it, &n);
        (void)tbl_iter_value(it, &vn);
        if (nkeys < 4 && steps % 7 == 0) {
            tbuf_set(&keys[nkeys], k, n);
            seqs[nkeys++] = tbl_iter_seqno(it);
        }
    }
    ok_status(tbl_iter_status(it, &err));
    steps = 0;
    for (tbl_iter_last(it); tbl_iter_valid(it) && steps < 200000; tbl_iter_prev(it), steps++)
        (void)tbl_iter_seqno(it);
    ok_status(tbl_iter_status(it, &err));
    for (size_t i = 0; i < nkeys; i++) {
        tbl_iter_seek(it, keys[i].data, keys[i].len, seqs[i]);
        ok_status(tbl_iter_status(it, NULL));
        tbl_iter_seek_for_prev(it, keys[i].data, keys[i].len, seqs[i]);
        if (tbl_iter_valid(it))
            tbl_iter_next(it);
        ok_status(tbl_iter_status(it, NULL));
        for (int uf = 0; uf < 2; uf++) {
            ok_status(tbl_get(t, keys[i].data, keys[i].len, seqs[i], uf, &type, &seq, &value, &err));
            ok_status(tbl_get(t, keys[i].data, keys[i].len, SEQNO_MAX, uf, &type, &seq, &value, &err));
        }
        (void)tbl_may_contain(t, keys[i].data, keys[i].len);
    }
    static const char *fixed[] = {"a", "m", "zzzz", "\xff\xff"};
    for (size_t i = 0; i < 4; i++) {
        tbuf_set(&key, fixed[i], strlen(fixed[i]));
        ok_status(tbl_get(t, key.data, key.len, SEQNO_MAX, 1, &type, &seq, &value, &err));
        tbl_iter_seek_for_prev(it, key.data, key.len, 0);
        ok_status(tbl_iter_status(it, NULL));
    }
    ok_status(tbl_verify(t, &err));
    tbl_iter_free(it);
    for (size_t i = 0; i < 4; i++)
        tbuf_free(&keys[i]);
    tbuf_free(&key);
    tbuf_free(&value);
}

static void run(fs *f, const uint8_t *data, size_t size)
{
    fs_file *file;
    if (fs_open(f, "/f.tbl", FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &file, NULL) != TIND_OK)
        return;
    int rc = size ? fs_write(file, data, size, 0, NULL) : TIND_OK;
    fs_close(file, NULL);
    if (rc != TIND_OK)
        return;
    for (int mode = 0; mode < 2; mode++) {
        cache *bc = mode ? cache_new(64u << 10, 0) : NULL;
        tbl_open_options oo = {bc, NULL, 1, !mode};
        tbl *t;
        tind_err err;
        rc = tbl_open(f, "/f.tbl", &oo, &t, &err);
        ok_status(rc);
        if (rc == TIND_OK) {
            read_table(t);
            tbl_unref(t);
        }
        if (bc)
            cache_free(bc);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fs *f = fs_mem_new();
    if (!f)
        return 0;
    run(f, data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (copy) {
        if (size)
            memcpy(copy, data, size);
        fix_checksums(copy, size);
        run(f, copy, size);
        free(copy);
    }
    fs_destroy(f);
    return 0;
}
