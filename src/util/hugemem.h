/*
 * hugemem.h -- memory for decoded blocks, on transparent huge pages.
 *
 * A point read touches a few cache lines of blocks scattered over the whole
 * block cache (hundreds of MB): with 4 KiB pages nearly every one of those
 * touches is also a TLB miss and a page walk. Memory from here comes from
 * 2 MiB-aligned chunks advised MADV_HUGEPAGE before their first touch, so
 * that the kernel backs them with huge pages when it can (THP "always" or
 * "madvise"; under "never" they are ordinary pages and nothing is lost).
 * Measured with tools/microbench/readprof (2M keys of 16 B / 100 B, warm
 * 256 MiB cache): glibc's own huge-page heap (GLIBC_TUNABLES
 * glibc.malloc.hugetlb=1) took a get from 1,800 to 1,240 ns of CPU.
 *
 * Sizes up to HM_MAX_CLASS bytes are rounded up to a multiple of HM_GRAIN
 * and served from one free list per size, refilled by carving chunks; freed
 * memory goes back to its list, never to the OS: the block cache bounds what
 * is live, and blocks come in few sizes (a table's block size, and its
 * index and filter partitions). A shift to other sizes can leave memory on
 * the lists of the old ones: hm_get_stats reports it. Larger sizes, and every
 * size in an AddressSanitizer build (so that it still sees each block's
 * bounds), are malloc'd.
 *
 * Thread-safety: any thread; one mutex guards the lists and the carving
 * (taken once per block read from a file, never on a cache hit).
 */
#ifndef TIND_UTIL_HUGEMEM_H
#define TIND_UTIL_HUGEMEM_H

#include <stddef.h>
#include <stdint.h>

#define HM_GRAIN 256
#define HM_MAX_CLASS ((size_t)64 << 10)
#define HM_CHUNK ((size_t)2 << 20)

/* n bytes (n > 0), aligned to 16, or NULL when out of memory. */
void *hm_alloc(size_t n);
/* p from hm_alloc(n), with the same n; NULL is ignored. */
void hm_free(void *p, size_t n);
/* The bytes hm_alloc(n) takes from its chunk or from malloc. */
size_t hm_size(size_t n);

/* A mapping of `bytes` rounded up to whole HM_CHUNKs, HM_CHUNK-aligned and
 * advised for huge pages before its first touch (zeroed, as any anonymous
 * mapping), or NULL when mmap fails. For memory that is walked at random
 * and freed whole (memtable arenas, util/arena.h); hm_unmap with the same
 * bytes returns it to the system. Not counted in hm_get_stats. */
void *hm_map(size_t bytes);
/* Faults in [p, p + bytes) by a write of 0 to each 4 KiB page: for memory
 * that is zero already (fresh mappings, calloc), so that later loads do not
 * map the shared zero page and fault again at the first store. */
void hm_fault_in(void *p, size_t bytes);
void hm_unmap(void *p, size_t bytes);

/* A pool of spare single-chunk mappings (one database's memtables): a
 * memtable that fills 64 MiB faults in and the kernel zeroes 32 huge pages,
 * which cost a 4 KiB put 0.8 us of its ~13 (8.8% of the writer's CPU on
 * blobs-writeheavy, issue 11). Freed chunks wait here for the next memtable
 * instead. Without a stocker (below) the pool never makes the total mapped
 * exceed what was mapped before (a chunk enters it only when a memtable
 * frees it, and a new chunk is mapped only when it is empty), so it raises
 * no peak; it holds at most cap bytes. hm_pool_trim gives them back once no memtable has taken or
 * returned one for a while (the database's workers call it when idle), so
 * that a database that stops writing does not keep them for a read phase
 * whose cache would otherwise have had that memory. Recycled chunks are
 * not zeroed. Refcounted: every arena that uses it holds a reference, so it
 * outlives the database when a memtable does. Any thread (one mutex). */
typedef struct hm_pool hm_pool;
hm_pool *hm_pool_new(size_t cap);       /* one reference; NULL when out of memory */
void hm_pool_ref(hm_pool *p);
void hm_pool_unref(hm_pool *p);         /* the last one unmaps the spares; NULL ignored */
/* hm_map / hm_unmap through the pool (pool may be NULL: plain hm_map /
 * hm_unmap). Only mappings of one chunk (bytes <= HM_CHUNK) are kept and
 * reused. */
void *hm_pool_map(hm_pool *p, size_t bytes);
void hm_pool_unmap(hm_pool *p, void *ptr, size_t bytes);
size_t hm_pool_bytes(hm_pool *p);       /* spare bytes now; 0 for NULL */
/* Starts a thread that keeps `chunks` spare chunks faulted in ahead of the
 * takers while they take: a fresh chunk's first touch makes the kernel zero
 * 2 MiB, 7 ms on this project's VMs (half the CPU of a bulk load of 16 B /
 * 100 B pairs in one thread), which the stocker pays on another core
 * instead of the writer holding the write lock. It maps only after a take
 * left fewer than `chunks` spares, never past the cap, and only while the
 * single-chunk mappings handed out and not given back plus the spares stay
 * within `budget` bytes (the memtables' own limit): so the peak is the
 * takers' own, a pool nobody takes from stays empty, and hm_pool_trim's
 * idle rule still holds. 0 = started (or already running), -1 = no thread
 * (the takers map their own, as without). */
int hm_pool_stock_start(hm_pool *p, size_t chunks, size_t budget);
/* While the stocker runs, a take that finds no spare maps its chunk on
 * small (4 KiB) pages (MADV_NOHUGEPAGE), faulted in by the taker page by
 * page as it fills it: on these VMs a huge page's first touch stops the
 * taker 5.6-6.3 ms (the host backs it then), 4 KiB pages cost 0.8 ms per
 * chunk spread over 512 faults. Such a chunk is unmapped when returned,
 * never kept, so the spares stay huge pages. Without a stocker a take maps
 * a huge-page chunk, as before. */
uint64_t hm_pool_small(hm_pool *p);     /* chunks mapped on small pages, since made */
/* Ends the stocker (the last hm_pool_unref does it too); NULL ignored. */
void hm_pool_stock_stop(hm_pool *p);
uint64_t hm_pool_stocked(hm_pool *p);   /* chunks the stocker mapped */
/* Unmaps every spare chunk when the pool has not been used (a chunk taken
 * or returned) for idle_ns nanoseconds; returns the bytes unmapped. */
size_t hm_pool_trim(hm_pool *p, uint64_t idle_ns);

typedef struct hm_stats {
    size_t mapped;     /* bytes of chunks mapped (never unmapped) */
    size_t free_bytes; /* bytes on the free lists */
    size_t carved;     /* bytes carved from chunks, free or not */
} hm_stats;
void hm_get_stats(hm_stats *out);

#endif
