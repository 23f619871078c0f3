/*
 * fuzz_zdict.c -- libFuzzer target for the zstd dictionary section decoder
 * (format/zdict.c) and decoding with a loaded dictionary.
 *
 * Input: u16 LE dictionary length L | L dictionary bytes | a zstd payload.
 * zdict_load (with the id the bytes claim, and with a wrong one) must
 * return TIND_OK or TIND_ECORRUPT; when it loads, zdict_decompress of the
 * payload (raw length from the frame header, at most 64 KiB) must return
 * TIND_OK or TIND_ECORRUPT, never crash or overrun.
 * Replayed over fuzz/corpus/zdict/ by the normal test run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "format/compress.h"
#include "format/zdict.h"
#include "util/coding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t dn = dec_u16(data);
    if (dn > size - 2)
        dn = size - 2;
    /* exact-size copies so that any overrun is caught */
    uint8_t *dict = malloc(dn ? dn : 1);
    size_t pn = size - 2 - dn;
    uint8_t *payload = malloc(pn ? pn : 1);
    if (!dict || !payload)
        abort();
    memcpy(dict, data + 2, dn);
    memcpy(payload, data + 2 + dn, pn);
    uint32_t id = dn >= 8 ? dec_u32(dict + 4) : 1;
    zdict *z = NULL;
    int rc = zdict_load(dict, dn, id + 1, &z, "fuzz", NULL);
    if (rc != TIND_ECORRUPT)
        abort();   /* a wrong id is never accepted */
    rc = zdict_load(dict, dn, id, &z, "fuzz", NULL);
    if (rc != TIND_OK && rc != TIND_ECORRUPT)
        abort();
    if (rc == TIND_OK) {
        unsigned long long claimed = ZSTD_getFrameContentSize(payload, pn);
        size_t raw_len = claimed <= (1u << 16) ? (size_t)claimed : 100;
        uint8_t *out = malloc(raw_len ? raw_len : 1);
        if (!out)
            abort();
        for (int type = 0; type <= 3; type++) {
            rc = zdict_decompress(z, type, payload, pn, out, raw_len, NULL);
            if (rc != TIND_OK && rc != TIND_ECORRUPT)
                abort();
        }
        free(out);
        zdict_free(z);
    }
    free(dict);
    free(payload);
    return 0;
}
