/* arena.c -- bump allocator. */
#include "util/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "util/hugemem.h"

struct arena_block {
    arena_block *next;
    size_t size;
    _Alignas(16) char data[];
};

void arena_init(arena *a, size_t block_size)
{
    a->ptr = NULL;
    a->remaining = 0;
    a->block_size = block_size ? block_size : 64 * 1024;
    a->next_block = a->block_size < ARENA_FIRST_BLOCK ? a->block_size : ARENA_FIRST_BLOCK;
    a->blocks = NULL;
    a->pool = NULL;
    atomic_store_explicit(&a->usage, 0, memory_order_relaxed);
}

void arena_set_pool(arena *a, hm_pool *pool)
{
    if (pool)
        hm_pool_ref(pool);
    hm_pool_unref(a->pool);
    a->pool = pool;
}

/* A block of whole huge pages: its mapped length (whole 4 KiB pages) is a
 * multiple of HM_CHUNK. */
static int block_huge(size_t bytes)
{
    size_t pages = (bytes + 4095) & ~(size_t)4095;
    return bytes >= HM_CHUNK / 2 && pages % HM_CHUNK == 0;
}

/* A block of `bytes` (its header included): on huge pages when it fills
 * whole ones, else mapped when large, else malloc'd. */
static void *block_alloc(arena *a, size_t bytes)
{
    if (bytes < ARENA_MMAP_MIN)
        return malloc(bytes);
    if (block_huge(bytes))
        return hm_pool_map(a->pool, bytes);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void block_free(arena *a, arena_block *b)
{
    size_t bytes = sizeof(arena_block) + b->size;
    if (bytes < ARENA_MMAP_MIN)
        free(b);
    else if (block_huge(bytes))
        hm_pool_unmap(a->pool, b, bytes);
    else
        munmap(b, bytes);
}

size_t arena_mapped(const arena *a)
{
    size_t n = 0;
    for (const arena_block *b = a->blocks; b; b = b->next)
        if (sizeof(arena_block) + b->size >= ARENA_MMAP_MIN)
            n += sizeof(arena_block) + b->size;
    return n;
}

void arena_destroy(arena *a)
{
    arena_block *b = a->blocks;
    while (b) {
        arena_block *next = b->next;
        block_free(a, b);
        b = next;
    }
    hm_pool_unref(a->pool);
    a->pool = NULL;
    a->blocks = NULL;
    a->ptr = NULL;
    a->remaining = 0;
    atomic_store_explicit(&a->usage, 0, memory_order_relaxed);
}

static arena_block *new_block(arena *a, size_t size)
{
    if (size > SIZE_MAX - sizeof(arena_block))
        return NULL;
    arena_block *b = block_alloc(a, sizeof(arena_block) + size);
    if (!b)
        return NULL;
    b->size = size;
    b->next = a->blocks;
    a->blocks = b;
    return b;
}

void *arena_alloc(arena *a, size_t n)
{
    size_t pad = (size_t)(-(uintptr_t)a->ptr & 7);
    if (a->ptr && n <= a->remaining && pad <= a->remaining - n) {
        char *p = a->ptr + pad;
        a->ptr = p + n;
        a->remaining -= n + pad;
        atomic_fetch_add_explicit(&a->usage, n + pad, memory_order_relaxed);
        return p;
    }
    if (n > a->block_size / 4) {
        /* A large request gets its own block; the current block stays usable. */
        arena_block *b = new_block(a, n ? n : 1);
        if (!b)
            return NULL;
        atomic_fetch_add_explicit(&a->usage, sizeof(arena_block) + (n ? n : 1), memory_order_relaxed);
        /* keep the current block at the head for further small allocations */
        if (b->next) {
            arena_block *cur = b->next;
            a->blocks = cur;
            b->next = cur->next;
            cur->next = b;
        }
        return b->data;
    }
    /* n <= block_size / 4 here: a block of at least 4n, at most block_size */
    size_t size = a->next_block;
    while (size < 4 * n && size < a->block_size)
        size *= 2;
    if (size > a->block_size)
        size = a->block_size;
    arena_block *b = new_block(a, size);
    if (!b)
        return NULL;
    a->next_block = size < a->block_size / 2 ? size * 2 : a->block_size;
    a->ptr = b->data + n;
    a->remaining = size - n;
    atomic_fetch_add_explicit(&a->usage, sizeof(arena_block) + n, memory_order_relaxed);
    return b->data;
}
