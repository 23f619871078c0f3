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

/* An entry as a cursor stands on it (iter/iiter.h, tbl_iter_entry): the key
 * and value point into what the cursor reads, valid until it moves. */
typedef struct ientry {
    const uint8_t *key;
    size_t klen;
    uint64_t seqno;
    const uint8_t *value;
    size_t vlen;
    uint8_t type;
} ientry;

/* Sequence numbers use 56 bits; SEQNO_MAX reads "the newest of everything". */
#define SEQNO_MAX ((UINT64_C(1) << 56) - 1)

/* 8 bytes at p as a number that orders like the bytes (memcmp order). */
static inline uint64_t key_word(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

/* memcmp order, a shorter key before its extensions. Keys are short and
 * compared on every step of every search, so up to 64 common bytes are
 * compared a word at a time in line (the last word overlapping the one
 * before), longer ones by memcmp. */
static inline int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    if (n >= 8 && n <= 64) {
        for (size_t i = 0;; i += 8) {
            if (i + 8 > n)
                i = n - 8;
            uint64_t x = key_word(a + i), y = key_word(b + i);
            if (x != y)
                return x < y ? -1 : 1;
            if (i + 8 == n)
                break;
        }
    } else if (n) {
        int c = memcmp(a, b, n);
        if (c)
            return c;
    }
    return an < bn ? -1 : an > bn;
}

/* Bytes a and b share at their start, compared a word at a time. */
static inline size_t key_common_prefix(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn, i = 0;
    while (i + 8 <= n) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            break;
        i += 8;
    }
    while (i < n && a[i] == b[i])
        i++;
    return i;
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
