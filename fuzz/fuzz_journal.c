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
 * Seeds: fuzz/corpus/journal/. Also built as replay_journal, which runs the
 * target over the corpus in the normal test run.
 */
#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_journal_state st = {0, 0, 0};
    jrn_replay_result res;
    tind_err err;
    int rc = jrn_replay_buffer(data, size, fuzz_journal_record, &st, &res, &err);
    if (rc != TIND_OK && rc != TIND_ECORRUPT && rc != TIND_EVERSION && rc != TIND_ENOMEM)
        __builtin_trap();
    if (rc != TIND_OK)
        return 0;
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
    return 0;
}
