/*
 * fuzz_index.c -- libFuzzer target for table index blocks: the input is taken
 * as a raw (decoded) index block in the block.h format, as found in a table's
 * "index" section (whole index, partition or top-level block).
 *
 * It is parsed (blk_parse), iterated forward and backward, and the value of
 * every entry is decoded as a block handle (blk_handle_decode must consume
 * exactly the value or fail); a few seeks and seek_for_prevs use keys seen
 * during iteration. Every step must end in TIND_OK or TIND_ECORRUPT: no
 * crash, no out-of-bounds read, no leak. The input is copied into a buffer of
 * exactly its size so that overruns are caught by ASan.
 * Replayed over fuzz/corpus/index/ by the normal test run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/block.h"
#include "format/blockio.h"
#include "format/entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_value(const blk_iter *it)
{
    blk_handle h;
    const uint8_t *end = it->value + it->value_len;
    const uint8_t *p = blk_handle_decode(it->value, end, &h);
    if (p && (p < it->value || p > end))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    blk b;
    tind_err err;
    int rc = blk_parse(&b, copy, size, &err);
    if (rc != TIND_OK) {
        if (rc != TIND_ECORRUPT)
            abort();
        free(copy);
        return 0;
    }
    blk_iter it;
    tbuf seen[3] = {TBUF_INIT, TBUF_INIT, TBUF_INIT};
    uint64_t seqs[3] = {0, 0, 0};
    size_t nseen = 0, count = 0;
    blk_iter_init(&it, &b);
    for (blk_iter_first(&it); it.valid; blk_iter_next(&it), count++) {
        decode_value(&it);
        if (nseen < 3 && count % 5 == 0) {
            tbuf_set(&seen[nseen], it.key.data, it.key.len);
            seqs[nseen++] = it.seqno;
        }
    }
    if (it.status != TIND_OK && it.status != TIND_ECORRUPT)
        abort();
    blk_iter_free(&it);
    blk_iter_init(&it, &b);
    for (blk_iter_last(&it); it.valid; blk_iter_prev(&it))
        decode_value(&it);
    if (it.status != TIND_OK && it.status != TIND_ECORRUPT)
        abort();
    for (size_t i = 0; i < nseen; i++) {
        blk_iter_free(&it);
        blk_iter_init(&it, &b);
        blk_iter_seek(&it, seen[i].data, seen[i].len, seqs[i]);
        if (it.valid)
            decode_value(&it);
        blk_iter_free(&it);
        blk_iter_init(&it, &b);
        blk_iter_seek_for_prev(&it, seen[i].data, seen[i].len, SEQNO_MAX);
        if (it.valid) {
            decode_value(&it);
            blk_iter_prev(&it);
        }
        blk_iter_free(&it);
        blk_iter_init(&it, &b);
        (void)blk_iter_seek_point(&it, seen[i].data, seen[i].len, seqs[i]);
        if (it.valid)
            decode_value(&it);
        tbuf_free(&seen[i]);
    }
    blk_iter_free(&it);
    free(copy);
    return 0;
}
