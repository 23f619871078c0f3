/*
 * entry.h -- what an entry is: a user key, a sequence number, a value type
 * and a value; and the internal order of entries.
 *
 * Internal order: user key ascending (memcmp, a shorter key before its
 * extensions), then sequence number DESCENDING, so that the newest version of
 * a key comes first and a seek to (key, snapshot) lands on the newest version
 * a snapshot can see.
 */
#ifndef TIND_FORMAT_ENTRY_H
#define TIND_FORMAT_ENTRY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Value types. DO NOT CHANGE THESE VALUES: they are written to tables and to
 * the journal (docs/FORMAT.md). */
enum entry_type {
    ENTRY_VALUE           = 0,
    ENTRY_TOMBSTONE       = 1,
    ENTRY_BLOB            = 2,  /* reserved: value is a blob pointer (key-value separation) */
    ENTRY_SINGLE_DELETE   = 3,  /* reserved */
    ENTRY_MERGE           = 4,  /* reserved: merge operand */
    ENTRY_RANGE_TOMBSTONE = 5,  /* reserved: [key, value) deleted */
    ENTRY_TYPE_MAX        = 5,
};

/* Sequence numbers use 56 bits; SEQNO_MAX reads "the newest of everything". */
#define SEQNO_MAX ((UINT64_C(1) << 56) - 1)

static inline int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

/* Compares (a, aseq) with (b, bseq) in internal order. */
static inline int ikey_cmp(const uint8_t *a, size_t an, uint64_t aseq,
                           const uint8_t *b, size_t bn, uint64_t bseq)
{
    int c = key_cmp(a, an, b, bn);
    if (c)
        return c;
    return aseq > bseq ? -1 : aseq < bseq;
}

#endif
