/*
 * bloom.h -- Bloom filters over 64-bit key hashes (xxh3 of the user key).
 *
 * Filter bytes: bit array (num_bits = 8 * nbytes) | u32 num_bits | u8 probes
 * | u8 version (docs/FORMAT.md). Probe i tests bit (h1 + i*h2) mod num_bits,
 * with h1/h2 the halves of a remix of the 64-bit hash (Kirsch-Mitzenmacher).
 * A builder is owned by one thread; probing is read-only and thread-safe.
 */
#ifndef TIND_FORMAT_BLOOM_H
#define TIND_FORMAT_BLOOM_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/status.h"

typedef struct bloom_builder {
    uint64_t *hashes;
    size_t count;
    size_t cap;
    double bits_per_key;
} bloom_builder;

/* Bits per key for a target false-positive rate (e.g. 0.01 -> ~9.6). */
double bloom_bits_for_fpr(double fpr);
void bloom_builder_init(bloom_builder *b, double bits_per_key);
int bloom_builder_add(bloom_builder *b, uint64_t key_hash);  /* duplicates allowed */
static inline size_t bloom_builder_count(const bloom_builder *b) { return b->count; }
/* Appends the filter for the hashes added since the last finish and clears them. */
int bloom_builder_finish(bloom_builder *b, tbuf *out);
void bloom_builder_free(bloom_builder *b);

/* Validates the footer of filter bytes (TIND_ECORRUPT otherwise). */
int bloom_check(const uint8_t *filter, size_t len, tind_err *err);
/* 1 = may contain, 0 = certainly absent. Filter must have passed bloom_check. */
int bloom_may_contain(const uint8_t *filter, size_t len, uint64_t key_hash);

#endif
