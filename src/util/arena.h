/*
 * arena.h -- a bump allocator for memtables and other short-lived batches.
 *
 * Memory is carved from blocks and freed all at once by arena_destroy(). The
 * first block is small (ARENA_FIRST_BLOCK) and each next one doubles up to
 * block_size (default 64 KiB), so an arena that holds little costs little
 * (an idle memtable: one small block); requests over a quarter of block_size
 * get their own block.
 *
 * Blocks of ARENA_MMAP_MIN bytes or more are mapped with mmap and unmapped by
 * arena_destroy, so a destroyed memtable's memory goes back to the system at
 * once. Left to malloc, it stayed in the arena of the thread that allocated
 * it (glibc: one per thread), where threads of other arenas never reuse it:
 * a database loaded by one thread and read and written by others kept the
 * load's memtables (about 75 MB, issue 15) as free malloc memory for good.
 * A block that fills whole 2 MiB pages (a memtable's full-size blocks)
 * comes from hm_map (util/hugemem.h): 2 MiB-aligned and advised for huge
 * pages, so that a search's random walk over a 64 MiB memtable is not also
 * a TLB miss at every node. An arena given a pool (arena_set_pool) takes
 * those chunks from it and gives them back to it (hugemem.h, hm_pool).
 * Allocation is for one
 * thread at a time (the memtable's writer); arena_usage() may be read by any
 * thread (relaxed atomic). Returned memory stays valid until arena_destroy().
 */
#ifndef TIND_UTIL_ARENA_H
#define TIND_UTIL_ARENA_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct arena_block arena_block;
struct hm_pool;

#define ARENA_FIRST_BLOCK 1024
#define ARENA_MMAP_MIN (256u * 1024)   /* blocks this large (with header) are mmapped */

typedef struct arena {
    char *ptr;              /* next free byte of the current block */
    size_t remaining;       /* bytes left in the current block */
    size_t block_size;      /* the largest block */
    size_t next_block;      /* size of the next block: grows to block_size */
    arena_block *blocks;    /* all blocks, newest first */
    struct hm_pool *pool;   /* where whole-chunk blocks come from and go; NULL = the system */
    _Atomic size_t usage;   /* bytes handed out (with alignment and block headers); a
                             * block's unused tail is not counted, so a small memtable
                             * is not "full" as soon as its first block exists */
} arena;

void arena_init(arena *a, size_t block_size);   /* 0 = 64 KiB */
/* Whole-chunk blocks from and back to pool (a reference is taken; NULL =
 * none). Before the first such block only. */
void arena_set_pool(arena *a, struct hm_pool *pool);
/* Bytes of the mmapped blocks (tests). */
size_t arena_mapped(const arena *a);
void arena_destroy(arena *a);
/* NULL when out of memory. arena_alloc is 8-byte aligned. */
void *arena_alloc(arena *a, size_t n);
static inline size_t arena_usage(const arena *a) { return atomic_load_explicit(&a->usage, memory_order_relaxed); }

#endif
