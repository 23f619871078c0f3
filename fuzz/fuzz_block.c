/*
 * fuzz_block.c -- libFuzzer target for the data block reader and the stored
 * block decoder (format/block.c, format/blockio.c, format/compress.c).
 *
 * One input is tried four ways:
 *   1. as a data block: blk_parse, then full traversals both ways and seeks
 *      (to keys cut from the input and to keys found in the block);
 *   2. the same bytes with the trailer checksum recomputed, so that the
 *      fuzzer reaches the structural checks and the iterator;
 *   3. as a stored block (blockio_decode), and again with its length field
 *      and checksum fixed up; a decoded payload is walked as a data block;
 *   4. as a compressed payload given straight to decompress_bytes.
 * Nothing may crash, read out of bounds or leak; results are not checked
 * beyond the decoders' own contracts (valid iterators point inside the block).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/block.h"
#include "format/blockio.h"
#include "format/compress.h"
#include "util/coding.h"
#include "util/hash.h"

#define FUZZ_MAX_RAW ((size_t)1 << 20)   /* skip claims of bigger payloads */

static volatile uint8_t fuzz_sink;

static void touch(const blk_iter *it)
{
    uint8_t x = 0;
    for (size_t i = 0; i < it->key.len; i++)
        x ^= it->key.data[i];
    if (it->value_len)
        x ^= it->value[0] ^ it->value[it->value_len - 1];
    fuzz_sink = x;
}

static void seek_all(const blk *b, const uint8_t *key, size_t klen, uint64_t seqno)
{
    blk_iter it;
    blk_iter_init(&it, b);
    blk_iter_seek(&it, key, klen, seqno);
    if (it.valid) {
        touch(&it);
        blk_iter_prev(&it);
        if (it.valid)
            blk_iter_next(&it);
    }
    blk_iter_seek_for_prev(&it, key, klen, seqno);
    if (it.valid) {
        touch(&it);
        blk_iter_next(&it);
    }
    blk_iter_free(&it);
    blk_iter_init(&it, b);
    int rc = blk_iter_seek_point(&it, key, klen, seqno);
    if (rc == TIND_OK && it.valid) {
        touch(&it);
        blk_iter_prev(&it);
    }
    blk_iter_free(&it);
}

static void walk(const uint8_t *data, size_t size, const uint8_t *input, size_t input_len)
{
    blk b;
    if (blk_parse(&b, data, size, NULL) != TIND_OK)
        return;
    blk_iter it;
    blk_iter_init(&it, &b);
    uint8_t found[3][32];
    size_t found_len[3] = {0, 0, 0};
    uint64_t found_seq[3] = {0, 0, 0};
    size_t n = 0;
    for (blk_iter_first(&it); it.valid; blk_iter_next(&it), n++) {
        touch(&it);
        if (n < 3) {
            found_len[n] = it.key.len < 32 ? it.key.len : 32;
            if (found_len[n])
                memcpy(found[n], it.key.data, found_len[n]);
            found_seq[n] = it.seqno;
        }
    }
    for (blk_iter_last(&it); it.valid; blk_iter_prev(&it))
        touch(&it);
    blk_iter_free(&it);

    for (size_t i = 0; i < 3 && i < n; i++) {
        seek_all(&b, found[i], found_len[i], found_seq[i]);
        seek_all(&b, found[i], found_len[i], found_seq[i] + 1);
        if (found_len[i])
            seek_all(&b, found[i], found_len[i] - 1, UINT64_MAX);
    }
    /* keys cut from the input at places the input itself chooses */
    for (size_t q = 0; q + 2 < input_len && q < 24; q += 3) {
        size_t off = input[q] % input_len;
        size_t len = input[q + 1] % 17;
        if (len > input_len - off)
            len = input_len - off;
        seek_all(&b, input + off, len, input[q + 2] < 128 ? input[q + 2] : UINT64_MAX - input[q + 2]);
    }
    seek_all(&b, NULL, 0, 0);
}

/* Recomputes a data block's trailer checksum from its footer fields. */
static void reseal_block(uint8_t *buf, size_t size)
{
    if (size < 14)
        return;
    const uint8_t *f = buf + size - 14;
    uint64_t trailer = (uint64_t)dec_u32(f) * ((f[8] & 1) ? 4 : 2) + dec_u32(f + 4) + 14;
    if (trailer > size)
        return;
    size_t entries_end = size - (size_t)trailer;
    enc_u32(buf + size - 4, (uint32_t)hash64(buf + entries_end, size - 4 - entries_end));
}

static void try_stored(const uint8_t *data, size_t size, const uint8_t *input, size_t input_len)
{
    if (size >= BLOCK_HEADER_SIZE && dec_u32(data + 1) > FUZZ_MAX_RAW)
        return;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (blockio_decode(data, size, &raw, &raw_len, "fuzz", NULL) == TIND_OK) {
        walk(raw, raw_len, input, input_len);
        free(raw);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so that any read past the end is caught. */
    uint8_t *copy = calloc(size ? size : 1, 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);

    walk(copy, size, data, size);
    reseal_block(copy, size);
    walk(copy, size, data, size);

    if (size)
        memcpy(copy, data, size);
    try_stored(copy, size, data, size);
    if (size >= BLOCK_HEADER_SIZE) {
        enc_u32(copy + 5, (uint32_t)(size - BLOCK_HEADER_SIZE));
        hash64_stream s;
        hash64_begin(&s);
        hash64_update(&s, copy, 9);
        hash64_update(&s, copy + BLOCK_HEADER_SIZE, size - BLOCK_HEADER_SIZE);
        enc_u64(copy + 9, hash64_end(&s));
        try_stored(copy, size, data, size);
    }

    if (size >= 3) {
        size_t raw_len = (size_t)data[1] | (size_t)data[2] << 8;
        uint8_t *out = malloc(raw_len ? raw_len : 1);
        if (out) {
            decompress_bytes(data[0] % 3, data + 3, size - 3, out, raw_len, NULL);
            free(out);
        }
    }
    free(copy);
    return 0;
}
