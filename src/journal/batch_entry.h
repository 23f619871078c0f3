/*
 * batch_entry.h -- the payload of a journal record: a batch's operations,
 * one after another (docs/FORMAT.md "Batch payload"):
 *     u8 type | varint keyspace id | varint key length | key
 *        | varint value length | value        (the value part only for ENTRY_VALUE
 *                                               ENTRY_MERGE and ENTRY_RANGE_TOMBSTONE:
 *                                               batch_entry_has_value)
 * Types: ENTRY_VALUE, ENTRY_TOMBSTONE, ENTRY_SINGLE_DELETE, ENTRY_MERGE,
 * ENTRY_RANGE_TOMBSTONE.
 * The write path encodes it (db/write.c); replay, tind verify and tind dump
 * decode it with batch_entry_decode. Pure functions, no state.
 */
#ifndef TIND_JOURNAL_BATCH_ENTRY_H
#define TIND_JOURNAL_BATCH_ENTRY_H

#include <stddef.h>
#include <stdint.h>

/* One operation; the pointers borrow the decoded payload. */
typedef struct batch_entry {
    uint8_t type;                 /* ENTRY_VALUE, _TOMBSTONE, _SINGLE_DELETE, _MERGE or
                                     _RANGE_TOMBSTONE (format/entry.h; key = start,
                                     value = end, empty = none) */
    uint32_t ks_id;
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
} batch_entry;

/* Whether an operation of this type carries a value (a merge: its operand). */
static inline int batch_entry_has_value(uint8_t type)
{
    return type == 0 /* ENTRY_VALUE */ || type == 4 /* ENTRY_MERGE */ || type == 5 /* ENTRY_RANGE_TOMBSTONE: its end */;
}

/* Decodes one entry of [p, end): the byte after it, or NULL when malformed. */
const uint8_t *batch_entry_decode(const uint8_t *p, const uint8_t *end, batch_entry *e);

#endif
