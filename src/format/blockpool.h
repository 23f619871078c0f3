/*
 * blockpool.h -- data blocks encoded (compressed and checksummed, blockio.h)
 * on helper threads, handed back in the order they were given.
 *
 * A table writer (table_writer.c) whose tbl_options ask for encode threads
 * gives its finished data blocks to the pool instead of encoding them
 * itself; the pool's threads run blockio_encode, and the writer takes the
 * encoded blocks back oldest first to append them to the file and index
 * them. Blocks travel in batches (a slot: up to BPOOL_BATCH blocks or
 * BPOOL_BATCH_BYTES raw bytes), so that one hand-over, and at most one
 * wake-up each way, serves many 4 KiB blocks. The ring holds a fixed
 * number of slots, so the raw bytes in flight are bounded.
 *
 * The producer (one thread: the writer's owner) moves a slot through
 *   bpool_claim -> bpool_slot_add ... -> bpool_submit
 *   ... bpool_oldest -> read each block's stored bytes -> bpool_release
 * and touches a slot only between claim and submit and between oldest and
 * release; a pool thread touches it only in between (encoding raw into
 * stored). The pool never reads a block's key, seqno or flags: they are
 * the producer's note of what the block is.
 */
#ifndef TIND_FORMAT_BLOCKPOOL_H
#define TIND_FORMAT_BLOCKPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define BPOOL_MAX_THREADS 8
#define BPOOL_BATCH 32                    /* blocks in a slot, at most */
#define BPOOL_BATCH_BYTES (128u << 10)    /* a slot is full past these raw bytes */

typedef struct bpool_slot {
    size_t count;                         /* blocks */
    tbuf raw;                             /* the blocks back to back */
    size_t raw_end[BPOOL_BATCH];
    tbuf stored;                          /* each encoded (blockio_encode), back to back */
    size_t stored_end[BPOOL_BATCH];
    int rc;                               /* the first encoding failure */
    tbuf keys;                            /* the producer's own notes (the pool ignores them) */
    size_t key_end[BPOOL_BATCH];
    uint64_t seqno[BPOOL_BATCH];
    int flags[BPOOL_BATCH];
    int done;                             /* guarded by the pool's mutex */
} bpool_slot;

typedef struct bpool bpool;

/* A pool of `threads` encoders (1..BPOOL_MAX_THREADS) compressing with
 * `compression` at `level`. TIND_OK, or TIND_ENOMEM / TIND_EIO when memory
 * or a thread could not be had (the caller then encodes on its own). */
int bpool_new(int threads, int compression, int level, bpool **out);
/* Stops the threads (a batch being encoded is finished first) and frees
 * the pool and its slots. NULL is ignored. */
void bpool_free(bpool *p);

/* The next slot to fill (emptied), or NULL when every slot is given out
 * and not yet released. */
bpool_slot *bpool_claim(bpool *p);
/* Adds a raw block (and the producer's note of it) to a claimed slot. */
int bpool_slot_add(bpool_slot *s, const uint8_t *raw, size_t n, const uint8_t *key, size_t klen, uint64_t seqno,
                   int flags);
/* 1 when the slot takes no more blocks. */
int bpool_slot_full(const bpool_slot *s);
/* Hands the claimed slot to the threads. */
void bpool_submit(bpool *p);
/* Slots submitted and not yet released. */
size_t bpool_pending(bpool *p);
/* The oldest submitted slot once encoded (waiting for it when wait), NULL
 * when none is pending or (without wait) it is still being encoded. */
bpool_slot *bpool_oldest(bpool *p, int wait);
/* Gives the oldest slot back to the ring. */
void bpool_release(bpool *p);

#endif
