/*
 * prefix.h -- prefix extractors and what a table's filter says about a
 * prefix (docs/FORMAT.md "Prefix filters").
 *
 * An extractor maps a user key to its prefix: the first N bytes (fixed),
 * the bytes up to and including the first separator byte (separator), or
 * what a user callback says. A key may be outside the extractor's domain
 * (shorter than N, no separator, the callback returns 0): it has no prefix.
 *
 * The contract every extractor keeps (the callback's documented duty):
 * when key k has prefix k[0..n), every key that starts with k[0..n) has
 * that same prefix. So a scan whose keys all start with some q where
 * extract(q) = q may skip a table whose filter lacks q.
 *
 * An extractor is named ("fixed:8", "separator:0x3a", "user:NAME"); a table
 * stores the name of the extractor its filter's prefixes came from, and a
 * scan uses a table's prefixes only when the names agree.
 *
 * The callback of a "user:" extractor is reached through a slot shared by
 * every copy of the extractor (the keyspace owns it): it is set once, with a
 * release store, when the application hands the callback over, and read
 * with acquire loads, so copies made before it was set see it afterwards.
 * An extractor whose callback is not (yet) known extracts nothing, and a
 * table written meanwhile carries no prefixes. Thread-safe otherwise: an
 * extractor is immutable.
 */
#ifndef TIND_FORMAT_PREFIX_H
#define TIND_FORMAT_PREFIX_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "tind.h"

enum pfx_kind {
    PFX_NONE = 0,
    PFX_FIXED = 1,
    PFX_SEPARATOR = 2,
    PFX_CALLBACK = 3,
};

#define PFX_NAME_MAX 48           /* bytes of a callback's name */

typedef struct pfx_callback {
    tind_prefix_fn fn;
    void *ctx;
} pfx_callback;

typedef _Atomic(const pfx_callback *) pfx_slot;

typedef struct pfx_extractor {
    int kind;                     /* enum pfx_kind */
    uint32_t len;                 /* PFX_FIXED: prefix length, 1..65535 */
    uint8_t sep;                  /* PFX_SEPARATOR */
    char name[PFX_NAME_MAX + 1];  /* PFX_CALLBACK: the application's name, NUL-terminated */
    pfx_slot *slot;               /* PFX_CALLBACK: where the callback is (may be NULL) */
    int whole_keys;               /* the filter also holds whole keys (default 1) */
} pfx_extractor;

void pfx_init(pfx_extractor *x);
/* The callback an extractor reaches now, or NULL. */
const pfx_callback *pfx_callback_of(const pfx_extractor *x);
/* 1 when x can extract prefixes now (a kind, and a callback when it needs one). */
int pfx_active(const pfx_extractor *x);
/* Extracts key's prefix: 1 and *plen (1..klen) when key is in the domain,
 * else 0. cb: pfx_callback_of(x), loaded once by the caller. */
int pfx_extract(const pfx_extractor *x, const pfx_callback *cb, const uint8_t *key, size_t klen, size_t *plen);
/* The canonical name of x into buf ("" for PFX_NONE). */
void pfx_name(const pfx_extractor *x, char *buf, size_t n);
/* The filter hash of a prefix (kept apart from whole-key hashes). */
uint64_t pfx_hash(const uint8_t *prefix, size_t n);
/* A scan over [lo, hi) (hi NULL: unbounded): 1 and *qlen when every key of
 * the range starts with lo[0..*qlen) and that is a prefix of x's domain,
 * so tables whose filter lacks it hold nothing of the scan; else 0. */
int pfx_scan_prefix(const pfx_extractor *x, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen,
                    int has_hi, size_t *qlen);

#endif
