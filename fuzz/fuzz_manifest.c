/*
 * fuzz_manifest.c -- libFuzzer target for the version file decoder
 * (src/version/manifest.c).
 *
 * Each input is decoded twice: as a whole file (header, checksum and all),
 * and as a payload wrapped in a valid header and checksum, so that mutations
 * reach the payload parser instead of dying at the checksum. Either decode
 * must return OK or an error status, never crash, leak or read outside the
 * input. When a decode succeeds, the state must re-encode, decode again, and
 * re-encode to the same bytes (encode is a function of the decoded state).
 *
 * Seeds in fuzz/corpus/manifest/: valid files (several keyspaces and
 * levels, the empty database), their payloads alone, a newer-version file
 * and a truncated one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/coding.h"
#include "util/hash.h"
#include "version/manifest.h"

static void fm_check_state(const uint8_t *data, size_t size)
{
    mf_state st;
    tind_err err;
    int rc = manifest_decode(data, size, &st, &err);
    if (rc != TIND_OK) {
        if (st.keyspaces || st.keyspace_count)
            __builtin_trap(); /* a failed decode leaves the state empty */
        if (rc != TIND_ECORRUPT && rc != TIND_EVERSION && rc != TIND_ENOTSUP && rc != TIND_ENOMEM)
            __builtin_trap();
        return;
    }
    tbuf a = TBUF_INIT, b = TBUF_INIT;
    if (manifest_encode(&st, &a, &err) != TIND_OK)
        __builtin_trap(); /* whatever decodes must be writable */
    mf_state back;
    if (manifest_decode(a.data, a.len, &back, &err) != TIND_OK)
        __builtin_trap();
    if (manifest_encode(&back, &b, &err) != TIND_OK)
        __builtin_trap();
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        __builtin_trap();
    if (back.keyspace_count != st.keyspace_count || back.next_file_number != st.next_file_number ||
        back.last_seqno != st.last_seqno)
        __builtin_trap();
    for (size_t k = 0; k < st.keyspace_count; k++)
        if (version_table_count(st.keyspaces[k].v) != version_table_count(back.keyspaces[k].v) ||
            st.keyspaces[k].options_len != back.keyspaces[k].options_len)
            __builtin_trap();
    mf_state_free(&back);
    mf_state_free(&st);
    tbuf_free(&a);
    tbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_check_state(data, size);

    /* the same bytes as the payload of a well-formed file */
    size_t n = MANIFEST_HEADER_LEN + size + MANIFEST_TRAILER_LEN;
    uint8_t *file = malloc(n);
    if (!file)
        return 0;
    memcpy(file, MANIFEST_MAGIC, MANIFEST_MAGIC_LEN);
    enc_u32(file + 8, MANIFEST_FORMAT_VERSION);
    enc_u32(file + 12, 0);
    enc_u64(file + 16, (uint64_t)size);
    if (size)
        memcpy(file + MANIFEST_HEADER_LEN, data, size);
    enc_u64(file + n - MANIFEST_TRAILER_LEN, hash64(file, n - MANIFEST_TRAILER_LEN));
    fm_check_state(file, n);
    free(file);
    return 0;
}
