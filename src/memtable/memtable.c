/*
 * memtable.c -- an arena skip list with lock-free readers and one writer.
 *
 * Node layout (one arena allocation per entry):
 *
 *     seqno u64 | klen u32 | vlen u32 | type u8 | height u8 | pad | tag u32
 *     prev          (_Atomic pointer: the node before it at level 0)
 *     hnext         (the next older node of its point-read slot's chain)
 *     next[height]  (_Atomic pointers: the tower)
 *     key bytes (klen) | value bytes (vlen)
 *
 * Publication protocol (see memtable.h): the writer fills a node (fields,
 * key, value, and its own next[] with relaxed stores, since nobody can see
 * it yet), then links it bottom-up with a release store into each
 * predecessor's next[i]. Readers load next[] with acquire, so the node's
 * fields are visible before its address is. Level 0 is the list itself; a
 * node briefly reachable at level 0 but not yet at higher levels is harmless
 * (upper levels are only shortcuts). max_height is a relaxed hint: a reader
 * that sees the new height before the head's upper links finds NULL there
 * and simply drops a level.
 *
 * Backward steps follow prev (a skip list alone would search from the head
 * for every step back: a reverse scan over a large memtable was a fifth of
 * tind-bench's feed). The writer sets a new node's prev before linking it,
 * then, after the level-0 link, points its successor's prev at it (release).
 * A reader stepping back from that successor before the second store goes
 * to the node's predecessor instead, skipping the new node; the node is
 * then newer than every seqno the reader may see (an entry is in its list
 * before its seqno is published), and a step back never skips an older one.
 *
 * Appends: the writer keeps the last node of each level (tail[]). An entry
 * above the last one in internal order (a fill in key order; not a newer
 * version of the last key, which sorts before it) takes tail[] as its
 * predecessors without a search: one comparison instead of a walk down the
 * list. Its links are made exactly as a searched insert's, so readers see
 * no difference.
 *
 * Point reads (mt_get) of a filtered memtable go through a hash table, not
 * the list: a slot per key hash holds the filter's bits and a chain of the
 * nodes hashed there, newest add first (a descent of the list from mt_get was
 * 28% of tind-bench's medium run). The chain is a stack: the writer sets a
 * node's hnext to the slot's chain head and then stores the node as the head
 * with release, before the node's level-0 link. A chain never changes below
 * its head, so a reader's acquire load of the head gives it a fixed list
 * holding every node whose add happens-before the load (every entry whose
 * seqno the reader can see: an entry is in its memtable before its seqno is
 * published); nodes pushed later are concurrent adds, which a read may miss
 * (memtable.h).
 *
 * The first node of the key with seqno <= snapshot in a chain is the answer
 * only if the chain's seqnos never increase from the head, true when seqnos
 * are added in increasing order (one engine writer). Recovery, transactions
 * and tests add them in other orders, so the writer marks a slot's chain
 * unordered (MT_CHAIN_UNORDERED, the head pointer's low bit: nodes are 8-byte
 * aligned) when it pushes a node older than the head; the mark stays. Mark
 * and head are one word, so a reader gets a chain and whether it is ordered
 * in one load: an out-of-order node pushed after that load is not in its
 * chain (a concurrent add, as above), and one pushed before it is in its
 * chain and marked it. A marked chain, or one longer than MT_CHAIN_STEPS,
 * sends the read to the list's search (find_ge), which is always right.
 *
 * Counters (count, tombstones, min/max seqno) are written by the writer only,
 * as relaxed load + store (no read-modify-write needed with one writer), and
 * read relaxed by anyone.
 */
#include "memtable/memtable.h"
#include "util/hash.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "format/entry.h"
#include "format/rangetomb.h"
#include "util/arena.h"
#include "util/hugemem.h"
#include "util/mutex.h"
#include "util/rand.h"

/* The arena's largest block: one 2 MiB huge page (the block header fits in
 * the 64 bytes left), returned to the system when the memtable is freed
 * (util/arena.h); the first blocks are small, so an idle memtable costs
 * little. */
#define MT_ARENA_BLOCK ((2u << 20) - 64)

typedef struct mt_node mt_node;
struct mt_node {
    uint64_t seqno;
    uint32_t klen;
    uint32_t vlen;
    uint8_t type;
    uint8_t height;
    uint32_t tag;                /* the key hash's high half (filtered memtables) */
    _Atomic(mt_node *) prev;     /* level 0's predecessor (head for the first node) */
    mt_node *hnext;              /* the chain's next node: set before the node is
                                  * pushed, then never changed (filtered memtables) */
    _Atomic(mt_node *) next[];   /* height links; key and value follow */
};

/* A point-read slot (16 bytes): the filter's bits of the keys hashed here
 * (4 per key, filter_mask) and the chain of their nodes. */
typedef struct mt_slot {
    _Atomic uint64_t bits;
    _Atomic uintptr_t chain;     /* the newest node | MT_CHAIN_UNORDERED; 0 = empty */
} mt_slot;

#define MT_CHAIN_UNORDERED ((uintptr_t)1)   /* a node was pushed above a newer one */
/* Chain nodes a point read looks at before it searches the list instead: a
 * descent of a quarter-million-node list compares about as many nodes. */
#define MT_CHAIN_STEPS 16

struct memtable {
    arena arena;                 /* nodes; writer allocates, freed at refs == 0 */
    mt_node *head;               /* sentinel of height MT_MAX_HEIGHT, no key */
    _Atomic int max_height;      /* highest tower in use (>= 1); relaxed hint */
    _Atomic int refs;
    trng rng;                    /* tower heights; writer only */
    mt_node *tail[MT_MAX_HEIGHT];/* writer only: the last node of each level (head when none) */
    uint64_t id;
    _Atomic uint64_t count;
    _Atomic uint64_t tombstones;
    _Atomic uint64_t min_seqno;
    _Atomic uint64_t max_seqno;
    /* Optional point-read filter and chains (slots, see above). The writer
     * sets a key's bits and pushes its node before the node is linked, so a
     * reader that can see the node (its seqno is visible) sees both. The
     * slots are allocated by the first add, before any node exists, and
     * published with release: an idle memtable costs no filter memory, every
     * node is in a chain, and a reader that finds no slots yet searches the
     * list (which holds nothing it could see without also seeing the slots). */
    _Atomic(mt_slot *) filter;
    size_t filter_slots;          /* wanted size, a power of two; 0 = no filter */
    int filter_tried;             /* writer only: the allocation is tried once */
    /* Range tombstones, kept apart from the list (mt_range_tombstones):
     * made by the first one and published with release. */
    _Atomic(struct mt_rdel *) rdel;
    /* mt_retire: the counter this memtable's memory is in until it is freed */
    _Atomic uint64_t *held;
    size_t held_bytes;
};

/* A memtable's range tombstones: a plain memtable of (start, seqno, end) and
 * the fragmented list built from it, cached with the count it was built at
 * (the list only grows, so a cache of the current count is complete). */
typedef struct mt_rdel {
    memtable *list;
    tind_mutex mu;
    rt_list *cache;               /* guarded by mu */
    uint64_t cache_count;         /* guarded by mu */
} mt_rdel;

struct mt_iter {
    memtable *m;
    const mt_node *node;         /* NULL = not valid */
};

/* ---------------------------------------------------------------- nodes */

static inline const uint8_t *node_key(const mt_node *n)
{
    return (const uint8_t *)(n->next + n->height);
}

static inline const uint8_t *node_value(const mt_node *n) { return node_key(n) + n->klen; }

static inline mt_node *node_next(const mt_node *n, int level)
{
    /* n->next is _Atomic; loading through a const node is a read only. */
    return atomic_load_explicit((_Atomic(mt_node *) *)&n->next[level], memory_order_acquire);
}

/* Internal order of node n against the target (key, seqno): <0, 0, >0. */
static inline int node_cmp(const mt_node *n, const uint8_t *key, size_t klen, uint64_t seqno)
{
    return ikey_cmp(node_key(n), n->klen, n->seqno, key, klen, seqno);
}

/*
 * A search's next comparison, fetched ahead. At node x on level > 0 the search
 * compares x's successor there, and either moves to it or goes down and
 * compares x's successor one level below (when that is another node): a
 * miss either way, the second only after the first returned. Fetching the
 * node below (its header and the line after, where its key starts past a
 * tower) while the comparison above waits overlaps the two. Measured in
 * one process, rounds alternated (tools/microbench/mtseekprof.c: 300k
 * feed-shaped keys, 100 B values): seek and seek_for_prev ~10% faster; the
 * node below's first line alone ~4%; the successor's second line fetched
 * ahead as well, nothing more.
 */
static inline void prefetch_below(const mt_node *x, int level, const mt_node *next)
{
    const mt_node *down = node_next(x, level - 1);
    if (down && down != next) {
        __builtin_prefetch(down);
        __builtin_prefetch((const char *)down + 64);
    }
}

static inline int cur_height(const memtable *m)
{
    return atomic_load_explicit(&((memtable *)m)->max_height, memory_order_relaxed);
}

/* 1 + the number of leading successes of a 1-in-MT_BRANCHING trial. */
static int random_height(memtable *m)
{
    uint64_t r = trng_next(&m->rng);
    int h = 1;
    while (h < MT_MAX_HEIGHT && (r & (MT_BRANCHING - 1)) == 0) {
        h++;
        r >>= 2;
    }
    return h;
}

/* The first node >= target, or NULL. When prev is given, prev[i] receives
 * the last node < target at each level i below the current height. */
static mt_node *find_ge(const memtable *m, const uint8_t *key, size_t klen, uint64_t seqno,
                        mt_node **prev)
{
    mt_node *x = m->head;
    int level = cur_height(m) - 1;
    const mt_node *known_ge = NULL;   /* already compared >= target at a higher level */
    for (;;) {
        mt_node *next = node_next(x, level);
        if (level)
            prefetch_below(x, level, next);
        if (next && next != known_ge && node_cmp(next, key, klen, seqno) < 0) {
            x = next;
            continue;
        }
        if (prev)
            prev[level] = x;
        if (level == 0)
            return next;
        known_ge = next;
        level--;
    }
}

/* The last node < target (inclusive = 0) or <= target (inclusive = 1); the
 * head when there is none. */
static const mt_node *find_before(const memtable *m, const uint8_t *key, size_t klen,
                                  uint64_t seqno, int inclusive)
{
    const mt_node *x = m->head;
    int level = cur_height(m) - 1;
    const mt_node *known_after = NULL;
    for (;;) {
        const mt_node *next = node_next(x, level);
        if (level)
            prefetch_below(x, level, next);
        if (next && next != known_after && node_cmp(next, key, klen, seqno) < inclusive) {
            x = next;
            continue;
        }
        if (level == 0)
            return x;
        known_after = next;
        level--;
    }
}

static const mt_node *find_last(const memtable *m)
{
    const mt_node *x = m->head;
    int level = cur_height(m) - 1;
    for (;;) {
        const mt_node *next = node_next(x, level);
        if (next) {
            x = next;
            continue;
        }
        if (level == 0)
            return x;
        level--;
    }
}

/* ---------------------------------------------------------------- lifetime */

static inline uint64_t filter_mask(uint64_t h)
{
    uint64_t g = h * 0x9e3779b97f4a7c15ull;
    return (UINT64_C(1) << (g >> 58)) | (UINT64_C(1) << ((g >> 52) & 63)) | (UINT64_C(1) << ((g >> 46) & 63)) |
           (UINT64_C(1) << ((g >> 40) & 63));
}

memtable *mt_new_filtered(uint64_t id, size_t filter_bytes, hm_pool *pool)
{
    memtable *m = mt_new(id);
    if (m && filter_bytes >= 1024) {
        /* a power of two: a slot is the hash's low bits, not a division */
        m->filter_slots = 1;
        while (m->filter_slots * 2 <= filter_bytes / sizeof(mt_slot))
            m->filter_slots *= 2;
    }
    if (m)
        arena_set_pool(&m->arena, pool);
    return m;
}

memtable *mt_new(uint64_t id)
{
    memtable *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    atomic_init(&m->filter, NULL);
    atomic_init(&m->rdel, NULL);
    m->filter_slots = 0;
    m->filter_tried = 0;
    arena_init(&m->arena, MT_ARENA_BLOCK);
    m->head = arena_alloc(&m->arena, sizeof(mt_node) + MT_MAX_HEIGHT * sizeof(_Atomic(mt_node *)));
    if (!m->head) {
        arena_destroy(&m->arena);
        free(m);
        return NULL;
    }
    m->head->seqno = 0;
    m->head->klen = 0;
    m->head->vlen = 0;
    m->head->type = 0;
    m->head->height = MT_MAX_HEIGHT;
    m->head->tag = 0;
    atomic_init(&m->head->prev, NULL);
    m->head->hnext = NULL;
    for (int i = 0; i < MT_MAX_HEIGHT; i++) {
        atomic_init(&m->head->next[i], NULL);
        m->tail[i] = m->head;
    }
    atomic_init(&m->max_height, 1);
    atomic_init(&m->refs, 1);
    m->held = NULL;
    m->held_bytes = 0;
    trng_seed(&m->rng, id ^ UINT64_C(0x6d656d7461626c65));   /* "memtable" */
    m->id = id;
    atomic_init(&m->count, 0);
    atomic_init(&m->tombstones, 0);
    atomic_init(&m->min_seqno, UINT64_MAX);
    atomic_init(&m->max_seqno, 0);
    return m;
}

void mt_ref(memtable *m) { atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed); }

void mt_retire(memtable *m, _Atomic uint64_t *held)
{
    if (!m)
        return;
    /* the tree's holder is the only one to write these; the unref below
     * (acq_rel) publishes them to whichever holder frees m */
    m->held_bytes = mt_memory(m);
    m->held = held;
    atomic_fetch_add_explicit(held, m->held_bytes, memory_order_relaxed);
    mt_unref(m);
}

void mt_unref(memtable *m)
{
    if (!m)
        return;
    /* acq_rel: every use by other holders happens before the free */
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        if (m->held)
            atomic_fetch_sub_explicit(m->held, m->held_bytes, memory_order_relaxed);
        arena_destroy(&m->arena);
        free((void *)atomic_load_explicit(&m->filter, memory_order_relaxed));
        mt_rdel *r = atomic_load_explicit(&m->rdel, memory_order_relaxed);
        if (r) {
            mt_unref(r->list);
            rt_list_unref(r->cache);
            mu_destroy(&r->mu);
            free(r);
        }
        free(m);
    }
}

/* ---------------------------------------------------------------- writes */

#define RELAXED_ADD(field, n) \
    atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (n), \
                          memory_order_relaxed)

#define RELAXED_OR(field, bits) \
    atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) | (bits), memory_order_relaxed)

static void count_add(memtable *m, uint64_t seqno, uint8_t type);

/* Pushes x on its slot's chain (writer only), marking the chain unordered
 * when x is older than the node it goes above. */
static void chain_push(memtable *m, mt_slot *slot, mt_node *x)
{
    uintptr_t old = atomic_load_explicit(&slot->chain, memory_order_relaxed); /* the writer's own store */
    mt_node *newest = (mt_node *)(old & ~MT_CHAIN_UNORDERED);
    uintptr_t mark = old & MT_CHAIN_UNORDERED;
    /* the newest node's seqno only when x is not the memtable's newest
     * (in order, the usual case): that node is seldom in the cache */
    if (newest && x->seqno < atomic_load_explicit(&m->max_seqno, memory_order_relaxed) &&
        x->seqno < newest->seqno)
        mark = MT_CHAIN_UNORDERED;
    x->hnext = newest;
    /* Publish: x's fields, key, value and hnext happen-before a reader's
     * acquire load of this head or of any later one. */
    atomic_store_explicit(&slot->chain, (uintptr_t)x | mark, memory_order_release);
}

/* [key, val) at seqno into the side list (as a value entry there). */
static int add_range_tombstone(memtable *m, uint64_t seqno, const uint8_t *key, size_t klen, const uint8_t *val,
                               size_t vlen)
{
    mt_rdel *r = atomic_load_explicit(&m->rdel, memory_order_relaxed);
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return TIND_ENOMEM;
        if (!(r->list = mt_new(m->id)) || mu_init(&r->mu)) {
            mt_unref(r->list);
            free(r);
            return TIND_ENOMEM;
        }
        atomic_store_explicit(&m->rdel, r, memory_order_release);
    }
    int rc = mt_add(r->list, seqno, ENTRY_VALUE, key, klen, val, vlen);
    if (rc == TIND_OK)
        count_add(m, seqno, ENTRY_RANGE_TOMBSTONE);
    return rc;
}

int mt_range_tombstones(memtable *m, rt_list **out)
{
    *out = NULL;
    mt_rdel *r = atomic_load_explicit(&m->rdel, memory_order_acquire);
    if (!r)
        return TIND_OK;
    uint64_t n = mt_count(r->list);
    mu_lock(&r->mu);
    if (r->cache && r->cache_count == n) {
        rt_list_ref(r->cache);
        *out = r->cache;
        mu_unlock(&r->mu);
        return TIND_OK;
    }
    mu_unlock(&r->mu);
    /* build outside the lock: readers of an older cache are not held up */
    rt_builder b;
    rt_builder_init(&b);
    mt_iter *it = mt_iter_new(r->list);
    int rc = it ? TIND_OK : TIND_ENOMEM;
    for (mt_iter_first(it); !rc && mt_iter_valid(it); mt_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = mt_iter_key(it, &kl), *v = mt_iter_value(it, &vl);
        rc = rt_builder_add(&b, k, kl, v, vl, mt_iter_seqno(it));
    }
    mt_iter_free(it);
    rt_list *l = NULL;
    if (!rc)
        rc = rt_builder_finish(&b, NULL, NULL, &l);
    rt_builder_free(&b);
    if (rc || !l)
        return rc;
    mu_lock(&r->mu);
    if (!r->cache || r->cache_count < n) {
        rt_list_unref(r->cache);
        rt_list_ref(l);
        r->cache = l;
        r->cache_count = n;
    }
    mu_unlock(&r->mu);
    *out = l;
    return TIND_OK;
}

void mt_prefetch_add(memtable *m, const uint8_t *key, size_t klen)
{
    mt_slot *slots = atomic_load_explicit(&m->filter, memory_order_relaxed);
    if (slots)
        __builtin_prefetch(&slots[hash64(key, klen) & (m->filter_slots - 1)], 1);
}

int mt_add(memtable *m, uint64_t seqno, uint8_t type, const uint8_t *key, size_t klen,
           const uint8_t *val, size_t vlen)
{
    if (type > ENTRY_TYPE_MAX)
        return TIND_EINVAL;
    if (klen > UINT32_MAX || vlen > UINT32_MAX)
        return TIND_ETOOBIG;
    if (type == ENTRY_RANGE_TOMBSTONE)
        return add_range_tombstone(m, seqno, key, klen, val, vlen);

    mt_slot *slots = atomic_load_explicit(&m->filter, memory_order_relaxed);
    if (!slots && m->filter_slots && !m->filter_tried) {
        /* only before the first node: a filter missing earlier keys would
         * hide them, so a failed allocation means no filter at all */
        m->filter_tried = 1;
        if (!node_next(m->head, 0)) { /* range tombstones are counted, not listed */
            slots = calloc(m->filter_slots, sizeof *slots);
            /* faulted in now: a large calloc is fresh zero pages, and an
             * add's load of an untouched slot would map the shared zero
             * page, its store then fault again (copy on write) and shoot
             * down the TLB of every CPU -- twice per page, on the writer,
             * under write_mu */
            hm_fault_in(slots, m->filter_slots * sizeof *slots);
            atomic_store_explicit(&m->filter, slots, memory_order_release);
        }
    }
    mt_slot *slot = NULL;
    uint64_t h = 0;
    if (slots) { /* fetched while the list is searched */
        h = hash64(key, klen);
        slot = &slots[h & (m->filter_slots - 1)];
        __builtin_prefetch(slot, 1);
    }

    mt_node *prev[MT_MAX_HEIGHT];
    mt_node *last = m->tail[0];
    if (last != m->head && node_cmp(last, key, klen, seqno) < 0) {
        /* above every entry: the tails are the predecessors at every level */
        memcpy(prev, m->tail, sizeof prev);
    } else {
        mt_node *found = find_ge(m, key, klen, seqno, prev);
        if (found && node_cmp(found, key, klen, seqno) == 0)
            return TIND_EEXIST;
    }
    /* The bits before the node exists: out of memory below leaves a false
     * positive, never a false negative. The one writer's load and store,
     * not a locked or: a locked instruction waits for every store before it
     * (this writer's copies into fresh arena memory) to leave the store
     * buffer. */
    if (slot)
        RELAXED_OR(slot->bits, filter_mask(h));

    int height = random_height(m);
    size_t tower = (size_t)height * sizeof(_Atomic(mt_node *));
    size_t head = sizeof(mt_node) + tower;
    if (klen > SIZE_MAX - head || vlen > SIZE_MAX - head - klen)
        return TIND_ETOOBIG;
    mt_node *x = arena_alloc(&m->arena, head + klen + vlen);
    if (!x)
        return TIND_ENOMEM;
    x->seqno = seqno;
    x->klen = (uint32_t)klen;
    x->vlen = (uint32_t)vlen;
    x->type = type;
    x->height = (uint8_t)height;
    x->tag = (uint32_t)(h >> 32);
    uint8_t *kp = (uint8_t *)(x->next + height);
    if (klen)
        memcpy(kp, key, klen);
    if (vlen)
        memcpy(kp + klen, val, vlen);

    int max = cur_height(m);
    if (height > max) {
        for (int i = max; i < height; i++)
            prev[i] = m->head;
        /* Readers seeing the new height early find NULL at the head's new
         * levels and move down: no ordering needed. */
        atomic_store_explicit(&m->max_height, height, memory_order_relaxed);
    }
    atomic_init(&x->prev, prev[0]);
    x->hnext = NULL;
    if (slot)
        chain_push(m, slot, x);   /* x's fields, key and value are written */
    for (int i = 0; i < height; i++) {
        /* x is not reachable yet: its own links need no ordering. */
        atomic_init(&x->next[i], atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed));
        /* Publish: everything written to x above happens-before a reader's
         * acquire load that returns x. */
        atomic_store_explicit(&prev[i]->next[i], x, memory_order_release);
        if (prev[i] == m->tail[i])
            m->tail[i] = x;
    }
    mt_node *succ = atomic_load_explicit(&x->next[0], memory_order_relaxed);
    if (succ)
        atomic_store_explicit(&succ->prev, x, memory_order_release);

    count_add(m, seqno, type);
    return TIND_OK;
}

static void count_add(memtable *m, uint64_t seqno, uint8_t type)
{
    RELAXED_ADD(m->count, 1);
    if (type == ENTRY_TOMBSTONE || type == ENTRY_SINGLE_DELETE || type == ENTRY_RANGE_TOMBSTONE)
        RELAXED_ADD(m->tombstones, 1);
    if (seqno < atomic_load_explicit(&m->min_seqno, memory_order_relaxed))
        atomic_store_explicit(&m->min_seqno, seqno, memory_order_relaxed);
    if (seqno > atomic_load_explicit(&m->max_seqno, memory_order_relaxed))
        atomic_store_explicit(&m->max_seqno, seqno, memory_order_relaxed);
}

/* ---------------------------------------------------------------- reads */

/* The newest node of key with seqno <= snapshot from its slot's chain
 * (*out = NULL: none), or 0 when the chain cannot tell (unordered, or longer
 * than MT_CHAIN_STEPS). */
static int chain_find(mt_slot *slot, uint32_t tag, const uint8_t *key, size_t klen, uint64_t snapshot,
                      const mt_node **out)
{
    uintptr_t c = atomic_load_explicit(&slot->chain, memory_order_acquire);
    if (c & MT_CHAIN_UNORDERED)
        return 0;
    /* seqnos never increase along the chain, and (key, seqno) is unique:
     * the first version of key at or below snapshot is the newest one */
    int steps = 0;
    for (const mt_node *n = (const mt_node *)c; n; n = n->hnext) {
        if (n->tag == tag && n->seqno <= snapshot && n->klen == klen &&
            (klen == 0 || memcmp(node_key(n), key, klen) == 0)) {
            *out = n;
            return 1;
        }
        if (++steps == MT_CHAIN_STEPS)
            return 0;
    }
    *out = NULL;
    return 1;
}

int mt_get(memtable *m, const uint8_t *key, size_t klen, uint64_t snapshot, uint8_t *type,
           uint64_t *seqno, const uint8_t **val, size_t *vlen)
{
    const mt_node *n = NULL;
    int known = 0;   /* n is the answer (from the chain) */
    mt_slot *slots = atomic_load_explicit(&m->filter, memory_order_acquire);
    if (slots) {
        uint64_t h = hash64(key, klen), mask = filter_mask(h);
        mt_slot *slot = &slots[h & (m->filter_slots - 1)];
        if ((atomic_load_explicit(&slot->bits, memory_order_relaxed) & mask) != mask)
            return TIND_NOT_FOUND;
        known = chain_find(slot, (uint32_t)(h >> 32), key, klen, snapshot, &n);
    }
    if (!known) {
        /* The first node >= (key, snapshot) is, if it holds key, the newest
         * version with seqno <= snapshot. */
        n = find_ge(m, key, klen, snapshot, NULL);
        if (n && (n->klen != klen || (klen && memcmp(node_key(n), key, klen) != 0)))
            n = NULL;
    }
    if (!n)
        return TIND_NOT_FOUND;
    if (type)
        *type = n->type;
    if (seqno)
        *seqno = n->seqno;
    if (val)
        *val = node_value(n);
    if (vlen)
        *vlen = n->vlen;
    return TIND_OK;
}

size_t mt_memory(const memtable *m)
{
    const mt_rdel *r = atomic_load_explicit(&((memtable *)m)->rdel, memory_order_acquire);
    return arena_usage(&m->arena) + (r ? arena_usage(&r->list->arena) : 0);
}

size_t mt_filter_memory(const memtable *m)
{
    return atomic_load_explicit(&((memtable *)m)->filter, memory_order_acquire) ? m->filter_slots * sizeof(mt_slot)
                                                                                : 0;
}

#define RELAXED_GET(field) atomic_load_explicit((_Atomic uint64_t *)&(field), memory_order_relaxed)

uint64_t mt_count(const memtable *m) { return RELAXED_GET(m->count); }
uint64_t mt_tombstones(const memtable *m) { return RELAXED_GET(m->tombstones); }
uint64_t mt_min_seqno(const memtable *m) { return RELAXED_GET(m->min_seqno); }
uint64_t mt_max_seqno(const memtable *m) { return RELAXED_GET(m->max_seqno); }
uint64_t mt_id(const memtable *m) { return m->id; }
int mt_empty(const memtable *m) { return RELAXED_GET(m->count) == 0; }

/* ---------------------------------------------------------------- iterator */

mt_iter *mt_iter_new(memtable *m)
{
    mt_iter *it = malloc(sizeof *it);
    if (!it)
        return NULL;
    mt_ref(m);
    it->m = m;
    it->node = NULL;
    return it;
}

void mt_iter_free(mt_iter *it)
{
    if (!it)
        return;
    mt_unref(it->m);
    free(it);
}

void mt_iter_first(mt_iter *it) { it->node = node_next(it->m->head, 0); }

void mt_iter_last(mt_iter *it)
{
    const mt_node *x = find_last(it->m);
    it->node = x == it->m->head ? NULL : x;
}

void mt_iter_next(mt_iter *it) { it->node = node_next(it->node, 0); }

void mt_iter_prev(mt_iter *it)
{
    const mt_node *x = atomic_load_explicit((_Atomic(mt_node *) *)&it->node->prev, memory_order_acquire);
    it->node = x == it->m->head ? NULL : x;
}

void mt_iter_seek(mt_iter *it, const uint8_t *key, size_t klen, uint64_t seqno)
{
    it->node = find_ge(it->m, key, klen, seqno, NULL);
}

void mt_iter_seek_for_prev(mt_iter *it, const uint8_t *key, size_t klen, uint64_t seqno)
{
    const mt_node *x = find_before(it->m, key, klen, seqno, 1);
    it->node = x == it->m->head ? NULL : x;
}

int mt_iter_valid(const mt_iter *it) { return it->node != NULL; }

const uint8_t *mt_iter_key(const mt_iter *it, size_t *len)
{
    *len = it->node->klen;
    return node_key(it->node);
}

uint64_t mt_iter_seqno(const mt_iter *it) { return it->node->seqno; }
uint8_t mt_iter_type(const mt_iter *it) { return it->node->type; }

const uint8_t *mt_iter_value(const mt_iter *it, size_t *len)
{
    *len = it->node->vlen;
    return node_value(it->node);
}
