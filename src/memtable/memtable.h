/*
 * memtable.h -- the in-memory write buffer of a keyspace: a skip list of
 * entries (user key, seqno, type, value) in internal order (format/entry.h:
 * user key ascending, seqno descending), allocated from an arena and freed
 * all at once when the last reference goes.
 *
 * Invariants
 *   - Entries are never removed or changed once added: a node, its key and
 *     its value stay at the same address, byte for byte, until the memtable
 *     is freed. (key, seqno) pairs are unique (mt_add refuses a duplicate).
 *   - The list is always sorted in internal order; every level of the tower
 *     is a sorted sub-list of the level below.
 *
 * Thread-safety (LevelDB's db/skiplist.h design)
 *   - Writes (mt_add) need external synchronisation: one writer at a time.
 *   - Reads (mt_get, iterators, every counter) need no lock and never block
 *     the writer: a node is fully written before a release store links it in,
 *     and readers follow links with acquire loads, so a reader sees either
 *     nothing of a new entry or all of it. Reads may run while the writer adds.
 *   - mt_ref / mt_unref are atomic; the memtable (with every value pointer it
 *     handed out) lives until the last reference is dropped. An iterator holds
 *     its own reference.
 *   - A read concurrent with an add may or may not see the new entry; what a
 *     caller must not miss it should publish through its own release/acquire
 *     pair (the engine's visible seqno) after mt_add returns.
 */
#ifndef TIND_MEMTABLE_MEMTABLE_H
#define TIND_MEMTABLE_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "tind.h"

typedef struct memtable memtable;

#define MT_MAX_HEIGHT 12   /* levels of the skip list */
#define MT_BRANCHING 4     /* 1 in MT_BRANCHING nodes of level i reaches level i+1 */

/* A new empty memtable with one reference; NULL when out of memory. id is a
 * label for the caller (mt_id) and seeds the tower-height generator. */
memtable *mt_new(uint64_t id);
/* The same with a point-read filter of about filter_bytes (none below 1 KiB):
 * mt_get of an absent key then usually costs one memory access instead of a
 * walk down the skip list. Iterators are unaffected. Its full-size arena
 * blocks come from and go back to pool when not NULL (util/hugemem.h,
 * hm_pool; the memtable holds a reference). */
struct hm_pool;
memtable *mt_new_filtered(uint64_t id, size_t filter_bytes, struct hm_pool *pool);
/* Atomic; any thread. mt_unref frees at zero (NULL is ignored). */
void mt_ref(memtable *m);
void mt_unref(memtable *m);
/* Gives up the tree's reference to m (a flush installed it, or its keyspace
 * went): until its last holder lets it go (an iterator's view, a read in
 * progress), its mt_memory counts in *held, which must outlive every holder
 * (the database's counter: tind_close refuses while iterators live). */
void mt_retire(memtable *m, _Atomic uint64_t *held);

/* Adds an entry: copies key and value into the memtable. Writer only.
 * type is an enum entry_type value (<= ENTRY_TYPE_MAX). klen and vlen are at
 * most UINT32_MAX (the engine enforces the tighter TIND_MAX_KEY_SIZE).
 * Returns TIND_OK, TIND_ENOMEM (nothing added), TIND_EINVAL (bad type),
 * TIND_ETOOBIG (a length beyond 32 bits) or TIND_EEXIST ((key, seqno) already
 * present: nothing added). */
int mt_add(memtable *m, uint64_t seqno, uint8_t type, const uint8_t *key, size_t klen,
           const uint8_t *val, size_t vlen);

/* Brings key's point-read filter slot into the cache for an mt_add to come
 * (a batch's next entry, while this one is added): the slot is a random line
 * of a filter larger than the caches, a miss per add otherwise. Writer only;
 * nothing happens without a filter. */
void mt_prefetch_add(memtable *m, const uint8_t *key, size_t klen);

/* Range tombstones: mt_add of type ENTRY_RANGE_TOMBSTONE (key = start,
 * value = end, empty = unbounded) keeps them apart from the list: mt_get and
 * iterators never see them; the counters (count, tombstones, seqnos, memory)
 * include them. mt_range_tombstones gives them fragmented (format/
 * rangetomb.h), built at most once per count and cached: *out = NULL when
 * there are none, else a list with a reference for the caller. Any thread;
 * TIND_OK or TIND_ENOMEM. */
struct rt_list;
int mt_range_tombstones(memtable *m, struct rt_list **out);

/* The newest entry for key with seqno <= snapshot: TIND_OK, filling *type,
 * *seqno and *val / *vlen (a pointer into the memtable, valid while the caller
 * holds a reference; a tombstone has an empty value), or TIND_NOT_FOUND.
 * Any of type, seqno, val, vlen may be NULL. */
int mt_get(memtable *m, const uint8_t *key, size_t klen, uint64_t snapshot, uint8_t *type,
           uint64_t *seqno, const uint8_t **val, size_t *vlen);

/* Counters, readable from any thread at any time (relaxed: a reader may see
 * a value a few adds old). */
size_t mt_memory(const memtable *m);      /* bytes the arena took from malloc */
size_t mt_filter_memory(const memtable *m); /* bytes of its point-read filter (0 until allocated) */
uint64_t mt_count(const memtable *m);     /* entries added */
uint64_t mt_tombstones(const memtable *m);/* entries of a deletion type (tombstone,
                                             single delete, range tombstone) */
uint64_t mt_min_seqno(const memtable *m); /* UINT64_MAX when empty */
uint64_t mt_max_seqno(const memtable *m); /* 0 when empty */
uint64_t mt_id(const memtable *m);
int mt_empty(const memtable *m);          /* 1 when no entry was added */

/* ---- iterator ----
 * Walks every entry (every version of every key) in internal order. It holds
 * a reference on the memtable, so it may outlive the creator's reference.
 * It sees the entries published before each step (like LevelDB's): entries
 * added during the iteration may or may not appear, in their sorted place.
 * One iterator is for one thread at a time. Key and value pointers stay valid
 * while the iterator (or any other reference) lives.
 * The accessors and next/prev require mt_iter_valid(). */
typedef struct mt_iter mt_iter;

mt_iter *mt_iter_new(memtable *m);   /* not positioned (invalid); NULL on OOM */
void mt_iter_free(mt_iter *it);      /* NULL is ignored */
void mt_iter_first(mt_iter *it);
void mt_iter_last(mt_iter *it);
void mt_iter_next(mt_iter *it);
/* The last entry before the current one (a search from the top, O(log n)). */
void mt_iter_prev(mt_iter *it);
/* The first entry >= (key, seqno) in internal order: with seqno = a snapshot,
 * the newest version of key that the snapshot sees, if any. */
void mt_iter_seek(mt_iter *it, const uint8_t *key, size_t klen, uint64_t seqno);
/* The last entry <= (key, seqno) in internal order. */
void mt_iter_seek_for_prev(mt_iter *it, const uint8_t *key, size_t klen, uint64_t seqno);
int mt_iter_valid(const mt_iter *it);
const uint8_t *mt_iter_key(const mt_iter *it, size_t *len);
uint64_t mt_iter_seqno(const mt_iter *it);
uint8_t mt_iter_type(const mt_iter *it);
const uint8_t *mt_iter_value(const mt_iter *it, size_t *len);

#endif
