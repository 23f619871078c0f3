/*
 * fuzz_journal.c -- libFuzzer target for the journal decoder: runs
 * jrn_replay_buffer over arbitrary bytes. The decoder must return OK or a
 * corruption/version error (never crash, never read outside the input), and
 * what it reports must be self-consistent:
 *   - every payload handed to the callback is readable in full (each byte is
 *     touched, so ASan sees an out-of-bounds payload);
 *   - seqno ranges handed to the callback increase and do not overlap;
 *   - on OK, valid_bytes + tail_bytes == input size, truncated == (tail > 0),
 *     and replaying the intact prefix alone gives the same records and no tail.
 * A violated property traps (__builtin_trap), which libFuzzer reports.
 * Mutated bytes almost never pass a checksum, so each input is decoded
 * twice: as given, and as a copy whose header and record checksums were
 * recomputed (trusting the stored lengths), which drives the checks behind
 * the checksum (flags, lengths, LZ4 decoding of arbitrary bytes, seqnos).
 * Seeds: fuzz/corpus/journal/. Also built as replay_journal, which runs the
 * target over the corpus in the normal test run.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "journal/journal.h"
#include "util/coding.h"
#include "util/hash.h"

typedef struct fuzz_journal_state {
    uint64_t records;
    uint64_t last_seqno;
    uint64_t digest;
} fuzz_journal_state;

static int fuzz_journal_record(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload, size_t len)
{
    fuzz_journal_state *st = ctx;
    if (count == 0 || (st->records && first_seqno <= st->last_seqno))
        __builtin_trap();
    uint64_t d = st->digest;
    for (size_t i = 0; i < len; i++)
        d = d * 31 + payload[i];
    st->digest = d ^ first_seqno ^ count;
    st->records++;
    st->last_seqno = first_seqno + (count - 1);
    return TIND_OK;
}

/* Rewrites the file header checksum and each record's checksum in place,
 * walking records by their stored lengths while the markers hold. */
static void fuzz_journal_repair(uint8_t *d, size_t size)
{
    if (size < JRN_FILE_HEADER_SIZE)
        return;
    enc_u64(d + JRN_FILE_HEADER_SIZE - 8, hash64(d, JRN_FILE_HEADER_SIZE - 8));
    size_t off = JRN_FILE_HEADER_SIZE;
    while (size - off >= JRN_RECORD_HEADER_SIZE && dec_u32(d + off) == JRN_RECORD_MARKER) {
        uint32_t stored = dec_u32(d + off + 4);
        if (stored > size - off - JRN_RECORD_HEADER_SIZE)
            break;
        hash64_stream s;
        hash64_begin(&s);
        hash64_update(&s, d + off, 25);
        hash64_update(&s, d + off + JRN_RECORD_HEADER_SIZE, stored);
        enc_u64(d + off + 25, hash64_end(&s));
        off += JRN_RECORD_HEADER_SIZE + stored;
    }
}

static void fuzz_journal_one(const uint8_t *data, size_t size)
{
    fuzz_journal_state st = {0, 0, 0};
    jrn_replay_result res;
    tind_err err;
    int rc = jrn_replay_buffer(data, size, fuzz_journal_record, &st, &res, &err);
    if (rc != TIND_OK && rc != TIND_ECORRUPT && rc != TIND_EVERSION && rc != TIND_ENOMEM)
        __builtin_trap();
    if (rc != TIND_OK)
        return;
    if (res.valid_bytes > size || res.valid_bytes + res.tail_bytes != size ||
        res.truncated != (res.tail_bytes > 0) || res.records != st.records)
        __builtin_trap();
    if (res.records && res.last_seqno != st.last_seqno)
        __builtin_trap();
    if (res.truncated) {
        fuzz_journal_state again = {0, 0, 0};
        jrn_replay_result res2;
        rc = jrn_replay_buffer(data, (size_t)res.valid_bytes, fuzz_journal_record, &again, &res2, &err);
        if (rc != TIND_OK || res2.truncated || res2.records != res.records || again.digest != st.digest)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_journal_one(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    fuzz_journal_repair(copy, size);
    fuzz_journal_one(copy, size);
    free(copy);
    return 0;
}
