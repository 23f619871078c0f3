/*
 * batch_entry.c -- decoding a journal record's payload (journal/batch_entry.h).
 */
#include "journal/batch_entry.h"

#include "format/entry.h"
#include "tind.h"
#include "util/coding.h"

_Static_assert(ENTRY_VALUE == 0 && ENTRY_MERGE == 4 && ENTRY_RANGE_TOMBSTONE == 5,
               "batch_entry_has_value names the types by number");

const uint8_t *batch_entry_decode(const uint8_t *p, const uint8_t *end, batch_entry *e)
{
    uint64_t id, klen, vlen = 0;
    if (p >= end)
        return NULL;
    e->type = *p++;
    if (e->type != ENTRY_VALUE && e->type != ENTRY_TOMBSTONE && e->type != ENTRY_SINGLE_DELETE &&
        e->type != ENTRY_MERGE && e->type != ENTRY_RANGE_TOMBSTONE)
        return NULL;
    if (!(p = dec_varint64(p, end, &id)) || id > UINT32_MAX)
        return NULL;
    if (!(p = dec_varint64(p, end, &klen)) || klen < 1 || klen > TIND_MAX_KEY_SIZE || klen > (uint64_t)(end - p))
        return NULL;
    e->ks_id = (uint32_t)id;
    e->key = p;
    e->klen = (size_t)klen;
    p += klen;
    if (e->type == ENTRY_RANGE_TOMBSTONE) {
        /* [key, value): the end key, empty = unbounded; never an empty range */
        if (!(p = dec_varint64(p, end, &vlen)) || vlen > TIND_MAX_KEY_SIZE || vlen > (uint64_t)(end - p) ||
            (vlen && key_cmp(e->key, e->klen, p, (size_t)vlen) >= 0))
            return NULL;
    } else if (batch_entry_has_value(e->type)) {
        /* the format's bound, not the API's (older versions accepted more) */
        if (!(p = dec_varint64(p, end, &vlen)) || vlen > UINT32_MAX || vlen > (uint64_t)(end - p))
            return NULL;
    }
    e->val = p;
    e->vlen = (size_t)vlen;
    return p + vlen;
}
