/*
 * bloom.h -- Bloom filters over 64-bit key hashes (xxh3 of the user key).
 *
 * Filter bytes: bit array (num_bits = 8 * nbytes) | u32 num_bits | u8 probes
 * | u8 version (docs/FORMAT.md). Version 2 is blocked: a key's k bits lie in
 * one 64-byte line of the array; version 1 spreads them over the whole array
 * (Kirsch-Mitzenmacher double hashing). A builder writes version 2 up to
 * BLOOM_BLOCKED_MAX_BITS_PER_KEY bits per key, version 1 above (where a
 * blocked filter's false-positive rate falls far behind: bloom.c).
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
    int version;          /* of the filters finish writes: 1 or 2 */
} bloom_builder;

#define BLOOM_BLOCKED_MAX_BITS_PER_KEY 12.0

/* Bits per key for a target false-positive rate (e.g. 0.01 -> ~9.6). */
double bloom_bits_for_fpr(double fpr);
void bloom_builder_init(bloom_builder *b, double bits_per_key);
/* Writes version `version` (1: standard, anything else: 2, blocked) from the
 * next finish on, whatever the bits per key (tests). */
void bloom_builder_set_version(bloom_builder *b, int version);
int bloom_builder_add(bloom_builder *b, uint64_t key_hash);  /* duplicates allowed */
static inline size_t bloom_builder_count(const bloom_builder *b) { return b->count; }
/* Appends the filter for the hashes added since the last finish and clears them. */
int bloom_builder_finish(bloom_builder *b, tbuf *out);
void bloom_builder_free(bloom_builder *b);

/* Validates the footer of filter bytes (TIND_ECORRUPT otherwise). */
int bloom_check(const uint8_t *filter, size_t len, tind_err *err);
/* 1 = may contain, 0 = certainly absent. Filter must have passed bloom_check. */
int bloom_may_contain(const uint8_t *filter, size_t len, uint64_t key_hash);

/* A filter's footer, read once (a filter probed often: a pinned partition).
 * probes == 0: unusable, every key may be contained. */
typedef struct bloom_view {
    const uint8_t *bits;
    uint32_t num_bits;
    uint8_t probes;
    uint8_t version;
} bloom_view;
void bloom_view_init(bloom_view *v, const uint8_t *filter, size_t len);
int bloom_view_may_contain(const bloom_view *v, uint64_t key_hash);
/* Starts loading the memory a probe of key_hash reads (version 2: its line),
 * so that the probe, made later, finds it in the CPU's cache. */
void bloom_view_prefetch(const bloom_view *v, uint64_t key_hash);

#endif
