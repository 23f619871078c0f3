/*
 * block.h -- the data block: sorted entries with restart points, prefix
 * truncation, an embedded binary-search index of restart offsets and an
 * optional hash index for point reads. The same format serves index blocks
 * (value = an encoded block handle) and the metadata block.
 *
 * Layout (docs/FORMAT.md, "Data block"):
 *   entries | restart offsets (u16 when the block is <= 64 KiB, else u32)
 *           | hash buckets (optional, 1 byte each) | footer
 * Entry: varint shared | varint unshared | varint value_len | u8 type
 *        | varint seqno | key bytes [unshared] | value bytes
 * Entries are in internal order (entry.h). Every restart_interval-th entry is a
 * restart point and has shared = 0.
 *
 * A builder is owned by one thread. A parsed block (blk) is a read-only view
 * of bytes owned by the caller; any number of iterators may read it at once.
 * Decoding never reads outside [data, data+size): a malformed block yields
 * TIND_ECORRUPT from blk_parse() or from the iterator's status, never a crash.
 */
#ifndef TIND_FORMAT_BLOCK_H
#define TIND_FORMAT_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "format/entry.h"
#include "util/buf.h"
#include "util/status.h"

typedef struct blk_builder {
    tbuf buf;                 /* entries, then the trailer at finish */
    uint32_t *restarts;       /* offsets of restart points */
    uint32_t restart_count;
    uint32_t restart_cap;
    uint32_t restart_interval;
    uint32_t since_restart;   /* entries since the last restart point */
    uint32_t count;           /* entries */
    double hash_ratio;        /* keys per bucket; 0 = no hash index */
    uint64_t *key_hashes;     /* (hash << 8 | restart index) per distinct user key, for the hash index */
    uint32_t hash_count;
    uint32_t hash_cap;
    uint32_t buckets;         /* the hash index's size if finished now (block.c) */
    tbuf last_key;
    uint64_t last_seqno;
    int finished;
} blk_builder;

void blk_builder_init(blk_builder *b, uint32_t restart_interval, double hash_ratio);
/* Entries must arrive in strictly increasing internal order: else TIND_EINVAL. */
int blk_builder_add(blk_builder *b, const uint8_t *key, size_t klen, uint64_t seqno,
                    uint8_t type, const uint8_t *val, size_t vlen);
/* Bytes the block would take if finished now. */
size_t blk_builder_estimate(const blk_builder *b);
static inline uint32_t blk_builder_count(const blk_builder *b) { return b->count; }
/* Appends the trailer; *data stays valid until blk_builder_reset/free. */
int blk_builder_finish(blk_builder *b, const uint8_t **data, size_t *len);
void blk_builder_reset(blk_builder *b);
void blk_builder_free(blk_builder *b);

typedef struct blk {
    const uint8_t *data;
    size_t size;
    size_t entries_end;       /* entries occupy [0, entries_end) */
    const uint8_t *restarts;  /* restart offset array */
    uint32_t restart_count;
    uint8_t offset_width;     /* 2 or 4 */
    const uint8_t *buckets;   /* hash index, or NULL */
    uint32_t bucket_count;
} blk;

/* Checks the footer and the restart array; does not decode entries. */
int blk_parse(blk *b, const uint8_t *data, size_t size, tind_err *err);

/* The entries of one restart interval as a backward move (prev, last,
 * seek_for_prev) decoded them, so that each further step back is a copy
 * instead of a re-scan (block.c). */
typedef struct blk_prev_cache blk_prev_cache;

typedef struct blk_iter {
    const blk *b;
    size_t offset;            /* of the current entry */
    size_t next_offset;       /* of the entry after it */
    uint32_t restart_index;   /* the restart interval holding the current entry */
    size_t restart_next;      /* offset of restart point restart_index + 1 (SIZE_MAX: none; 0: not known) */
    tbuf key;                 /* the current key, reconstructed */
    uint64_t seqno;
    uint8_t type;
    const uint8_t *value;     /* points into the block */
    size_t value_len;
    int valid;
    int status;               /* TIND_OK or TIND_ECORRUPT; once set, valid = 0 */
    blk_prev_cache *prev;     /* made by the first backward move, or NULL */
} blk_iter;

void blk_iter_init(blk_iter *it, const blk *b);
/* Binds an initialized iterator to another block, keeping its buffers (no
 * allocation, nothing to free). */
void blk_iter_rebind(blk_iter *it, const blk *b);
void blk_iter_free(blk_iter *it);
void blk_iter_first(blk_iter *it);
void blk_iter_last(blk_iter *it);
/* On the entry at restart point i; i == restart_count (or more): past the
 * last entry, not valid. In a block whose every entry is a restart point
 * (index blocks: pdir.h), that is entry i. */
void blk_iter_at_restart(blk_iter *it, uint32_t i);
void blk_iter_next(blk_iter *it);
void blk_iter_prev(blk_iter *it);
/* First entry >= (key, seqno) in internal order (binary search on restarts). */
void blk_iter_seek(blk_iter *it, const uint8_t *key, size_t klen, uint64_t seqno);
/* Last entry <= (key, seqno). */
void blk_iter_seek_for_prev(blk_iter *it, const uint8_t *key, size_t klen, uint64_t seqno);
/* Point-read seek: like blk_iter_seek but uses the hash index when present.
 * Returns TIND_NOT_FOUND (iterator invalid) when the hash index proves the
 * user key is absent from the block; otherwise positions like blk_iter_seek. */
int blk_iter_seek_point(blk_iter *it, const uint8_t *key, size_t klen, uint64_t seqno);
/* The same, given hash = hash64(key, klen) (a point read already has it for
 * the Bloom filter). */
int blk_iter_seek_point_hash(blk_iter *it, const uint8_t *key, size_t klen, uint64_t seqno, uint64_t hash);

#endif
