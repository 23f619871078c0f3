/*
 * filter.h -- compaction filters (issue 13): the keyspace's user callback
 * and the built-in per-key TTL filter (a value starting with an 8-byte
 * big-endian expiry time in unix seconds, 0 = never), applied by the
 * compaction stream to values no live snapshot can see (compact.c,
 * stream_ops.c). Plain data, fixed once attached; thread-safe when the
 * user's callback is.
 */
#ifndef TIND_COMPACTION_FILTER_H
#define TIND_COMPACTION_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "tind.h"
#include "util/buf.h"
#include "util/status.h"

typedef struct cmp_filter {
    tind_compaction_filter_fn fn; /* NULL = none */
    void *ctx;
    int value_ttl;                /* the built-in TTL filter is on */
} cmp_filter;

static inline int cmp_filter_active(const cmp_filter *f) { return f && (f->fn || f->value_ttl); }

/* The expiry time a TTL-filtered value carries (0 = never; values under 8
 * bytes never expire). */
uint64_t filter_value_expiry(const uint8_t *val, size_t vlen);

/* Runs the filters over one value: *decision is TIND_FILTER_KEEP, _REMOVE or
 * _REPLACE (the new value then in *replacement). The TTL filter goes first;
 * now = unix seconds. TIND_ECORRUPT naming the key when the callback
 * returns something else. */
int cmp_filter_apply(const cmp_filter *f, int level, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen, uint64_t seqno, uint64_t now, int *decision, tbuf *replacement, tind_err *err);

#endif
