/*
 * fuzz_filter.c -- libFuzzer target for Bloom filter bytes (format/bloom.c).
 *
 * Mode byte 0 (even): the rest of the input is treated as filter bytes read
 * from disk: bloom_check must return OK or TIND_ECORRUPT, and probing must stay
 * inside the buffer whether or not the check passed (ASan proves it).
 * Mode byte 0 (odd): the rest is a list of 64-bit hashes; a filter built over
 * them (bits per key from the mode byte) must pass bloom_check and report
 * every one of them (no false negatives).
 * Replayed over fuzz/corpus/filter/ by the normal test run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/bloom.h"
#include "util/buf.h"
#include "util/coding.h"
#include "util/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_filter_bytes(const uint8_t *data, size_t size)
{
    /* an exact-size copy so that any overrun is caught */
    uint8_t *f = malloc(size ? size : 1);
    if (!f)
        return;
    if (size)
        memcpy(f, data, size);
    tind_err err;
    int rc = bloom_check(f, size, &err);
    if (rc != TIND_OK && rc != TIND_ECORRUPT)
        abort();
    uint64_t h = hash64(data, size);
    for (int i = 0; i < 64; i++) {
        int v = bloom_may_contain(f, size, h);
        if (v != 0 && v != 1)
            abort();
        if (rc != TIND_OK && size < 6 && v != 1)
            abort();
        h = h * UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)i;
    }
    free(f);
}

static void fuzz_build(uint8_t mode, const uint8_t *data, size_t size)
{
    double bits_per_key = (double)(mode >> 1) / 4.0;    /* 0 .. 31.75 */
    size_t n = size / 8;
    if (n > 4096)
        n = 4096;
    bloom_builder b;
    bloom_builder_init(&b, bits_per_key);
    for (size_t i = 0; i < n; i++)
        if (bloom_builder_add(&b, dec_u64(data + 8 * i)) != TIND_OK)
            goto out;
    tbuf f = TBUF_INIT;
    if (bloom_builder_finish(&b, &f) == TIND_OK) {
        if (bloom_check(f.data, f.len, NULL) != TIND_OK)
            abort();
        for (size_t i = 0; i < n; i++)
            if (bloom_may_contain(f.data, f.len, dec_u64(data + 8 * i)) != 1)
                abort();
    }
    tbuf_free(&f);
out:
    bloom_builder_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fuzz_build(data[0], data + 1, size - 1);
    else
        fuzz_filter_bytes(data + 1, size - 1);
    return 0;
}
