/*
 * fuzz_container.c -- libFuzzer target for the table container's trailer and
 * table of contents (format/container.c, ctr_parse_toc).
 *
 * Any input must give TIND_OK, TIND_ECORRUPT or TIND_EVERSION, never a crash
 * or an out-of-bounds read. When the parse succeeds, the documented
 * invariants must hold: count <= CTR_MAX_SECTIONS, every section inside the
 * file before the TOC, in increasing non-overlapping order, with a unique
 * non-empty name that ctr_find() returns. On failure the TOC is left empty.
 * Each input is parsed twice: as given, and with its TOC and trailer
 * checksums recomputed (where the recorded TOC range lies inside the file),
 * so that the fuzzer also reaches the structural checks behind the
 * checksums, which it could never forge by mutation alone.
 * Replayed over fuzz/corpus/container/ by the normal test run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/container.h"
#include "util/coding.h"
#include "util/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_parse(const uint8_t *data, size_t size, int fix_checksums)
{
    uint8_t *copy = malloc(size ? size : 1);      /* exact size: overruns are caught */
    ctr_toc *toc = malloc(sizeof *toc);           /* ~17 KiB: keep it off the stack */
    if (!copy || !toc) {
        free(copy);
        free(toc);
        return;
    }
    if (size)
        memcpy(copy, data, size);
    if (fix_checksums) {
        if (size < CTR_TRAILER_SIZE) {
            free(copy);
            free(toc);
            return;
        }
        uint8_t *t = copy + size - CTR_TRAILER_SIZE;
        uint64_t off = dec_u64(t), len = dec_u64(t + 8);
        if (off <= size && len <= size - off) {
            hash128 h = hash128_of(copy + off, (size_t)len);
            enc_u64(t + 16, h.low);
            enc_u64(t + 24, h.high);
        }
        enc_u64(t + 40, hash64(t, 40));
        enc_u64(t + 48, CTR_MAGIC);
    }
    tind_err err;
    int rc = ctr_parse_toc(copy, size, 1, toc, "fuzz", &err);
    if (rc != TIND_OK && rc != TIND_ECORRUPT && rc != TIND_EVERSION)
        abort();
    if (rc == TIND_OK) {
        if (toc->count > CTR_MAX_SECTIONS || size < CTR_TRAILER_SIZE)
            abort();
        uint64_t prev_end = 0, toc_offset = dec_u64(copy + size - CTR_TRAILER_SIZE);
        for (uint32_t i = 0; i < toc->count; i++) {
            const ctr_section *s = &toc->sections[i];
            if (s->name[0] == '\0' || s->offset < prev_end ||
                s->offset + s->length > toc_offset || toc_offset >= size - CTR_TRAILER_SIZE)
                abort();
            if (ctr_find(toc, s->name) != s)
                abort();
            prev_end = s->offset + s->length;
        }
    } else if (toc->count != 0) {
        abort();
    }
    free(copy);
    free(toc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_parse(data, size, 0);
    fuzz_parse(data, size, 1);
    return 0;
}
