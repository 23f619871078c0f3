/*
 * version.h -- versions: which tables make up one keyspace's LSM tree.
 *
 * A ver_table is one table file as the versions see it: its number, size,
 * counts, sequence number range and key range. It is shared by every version
 * that contains it and refcounted; when the last reference goes, on_free (set
 * by the engine) is called so the engine can close the reader it attached
 * and, when the table is obsolete, delete the file. Then it is freed.
 *
 * A version is the set of tables of one keyspace, per level. It is immutable
 * once built and refcounted: a reader pins one with version_ref and never
 * blocks a writer; flushes and compactions build a new one copy-on-write with
 * version_apply(base, edit) and install it.
 *
 * Invariants of every version built here (version_new_empty, version_apply,
 * manifest_decode):
 *   1. 1 <= level_count <= VER_MAX_LEVELS; levels[l] for l >= level_count are
 *      empty.
 *   2. Level 0 is ordered newest first: max_seqno descending, ties by file
 *      number descending. Its tables may overlap.
 *   3. Every level >= 1 is ordered by smallest key and its tables do not
 *      overlap: tables[i].largest < tables[i+1].smallest (strictly).
 *   4. Every table has smallest <= largest and min_seqno <= max_seqno.
 *   5. A table number appears at most once in a version.
 *   6. levels[l].bytes is the sum of the sizes of the tables of level l.
 *   7. A version holds one reference on each of its tables; a table is freed
 *      (on_free called) exactly when the last version, edit or other holder
 *      lets go, in whatever order versions are released.
 *
 * Thread-safety: ver_table_ref/unref and version_ref/unref are atomic and may
 * be called from any thread. A version's contents are read-only once built,
 * so any number of threads may read it while they hold a reference. A
 * ver_table's fixed fields are read-only after ver_table_new; `reader`,
 * `reader_atomic` and `reader_mu` belong to the engine (reader_mu guards
 * opening the reader once; reader_atomic publishes it); `being_compacted`
 * and `obsolete` are atomics the engine sets. A ver_edit belongs to one
 * thread.
 */
#ifndef TIND_VERSION_VERSION_H
#define TIND_VERSION_VERSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "format/table.h"
#include "util/mutex.h"
#include "util/status.h"

#define VER_MAX_LEVELS 7
#define VER_DEFAULT_LEVELS 7

typedef struct ver_table ver_table;

/* Called once when the last reference to t goes, before t is freed. */
typedef void (*ver_table_free_fn)(ver_table *t, void *ctx);

struct ver_table {
    _Atomic int refs;

    /* what the table is (read-only after ver_table_new) */
    uint64_t number;              /* file number, unique in the database */
    uint64_t size;                /* file size in bytes */
    uint64_t entries;
    uint64_t tombstones;
    uint64_t min_seqno;
    uint64_t max_seqno;
    uint64_t created_unix;        /* seconds */
    uint64_t table_id;            /* the unique id in its metadata; 0 = a table from
                                     before identities (table format 1) */
    uint8_t *smallest;            /* smallest user key (malloc'd copy) */
    size_t smallest_len;
    uint8_t *largest;             /* largest user key (malloc'd copy) */
    size_t largest_len;

    /* the engine's: a lazily opened reader. The engine opens it under
     * reader_mu, stores it in `reader` and publishes it (release) in
     * reader_atomic; lock-free readers load reader_atomic (acquire). */
    void *reader;
    _Atomic(void *) reader_atomic;
    tind_mutex reader_mu;

    /* set by the engine before the table is shared; called at the last unref */
    ver_table_free_fn on_free;
    void *on_free_ctx;

    _Atomic int being_compacted;  /* the compaction picker's claim */
    _Atomic int obsolete;         /* left the latest version: delete the file at the last unref */

    /* the blob files its ENTRY_BLOB pointers point into: ascending, unique,
     * malloc'd (ver_table_set_blob_refs); fixed once the table is shared */
    uint64_t *blob_refs;
    size_t blob_ref_count;
};

/* A new table with one reference (the caller's); keys are copied. NULL when
 * out of memory. The caller guarantees smallest <= largest and
 * min_seqno <= max_seqno (version_apply checks them again). */
ver_table *ver_table_new(uint64_t number, uint64_t size, uint64_t entries, uint64_t tombstones,
                         uint64_t min_seqno, uint64_t max_seqno, uint64_t created_unix,
                         const uint8_t *smallest, size_t smallest_len,
                         const uint8_t *largest, size_t largest_len);
/* The same from a finished table's metadata (tbl_writer_finish). */
ver_table *ver_table_from_meta(uint64_t number, const tbl_meta *meta);
/* Checks that an opened table file is the table t names (its identity,
 * docs/FORMAT.md "Table identity"): file number (format 2 tables), table
 * id (when the version file records one), file size, entry and tombstone counts, seqno range and
 * key range. TIND_OK, or TIND_ECORRUPT naming `path` and every field that
 * differs. Open and verify both call it, so they agree. */
int ver_table_check_identity(const ver_table *t, const tbl_meta *m, const char *path, tind_err *err);
void ver_table_ref(ver_table *t);
/* Drops a reference; at the last one calls on_free (if set) and frees t.
 * NULL is ignored. */
void ver_table_unref(ver_table *t);

/* Claims t for a compaction: 1 when this call set the flag, 0 when it was
 * already set. ver_table_unclaim clears it. */
static inline int ver_table_claim(ver_table *t)
{
    int expected = 0;
    return atomic_compare_exchange_strong(&t->being_compacted, &expected, 1);
}
static inline void ver_table_unclaim(ver_table *t) { atomic_store(&t->being_compacted, 0); }

typedef struct ver_level {
    ver_table **tables;           /* malloc'd; NULL when count == 0 */
    size_t count;
    uint64_t bytes;               /* sum of the tables' sizes */
} ver_level;

/* ---- blob files (key-value separation; version/blobset.c) ----
 *
 * A ver_blob is one blob file as the versions see it, shared and refcounted
 * like a ver_table (on_free closes its reader and, when obsolete, deletes
 * the file). A version holds the blob files its tables point into, each with
 * its garbage: the record bytes (and count) of blobs no table of this
 * version points to any more, as counted by the compactions that dropped or
 * relocated their pointers. Invariants added to the version's:
 *   8. every blob number a table references is a blob file of the version,
 *      and every blob file of the version is referenced by some table (one
 *      that nothing references leaves the version: version_apply drops it);
 *   9. blobs[] is ascending by number, numbers unique;
 *      garbage_bytes <= bytes, garbage_count <= count.
 * A blob file is thus deleted only when no version (and no reader pinning
 * one) holds it, whatever the garbage counts say. */
typedef struct ver_blob ver_blob;
typedef void (*ver_blob_free_fn)(ver_blob *b, void *ctx);

struct ver_blob {
    _Atomic int refs;
    uint64_t number;
    uint64_t size;                /* file size */
    uint64_t count;               /* records */
    uint64_t bytes;               /* record bytes */
    uint64_t created_unix;
    /* the engine's: a lazily opened reader, as ver_table's */
    void *reader;
    _Atomic(void *) reader_atomic;
    tind_mutex reader_mu;
    ver_blob_free_fn on_free;
    void *on_free_ctx;
    _Atomic int obsolete;
};

typedef struct ver_blob_entry {
    ver_blob *file;               /* the version holds a reference */
    uint64_t garbage_count;
    uint64_t garbage_bytes;
} ver_blob_entry;

ver_blob *ver_blob_new(uint64_t number, uint64_t size, uint64_t count, uint64_t bytes, uint64_t created_unix);
void ver_blob_ref(ver_blob *b);
void ver_blob_unref(ver_blob *b);   /* NULL is ignored */
/* Sets t's blob references (copied, sorted, deduplicated). TIND_ENOMEM. */
int ver_table_set_blob_refs(ver_table *t, const uint64_t *numbers, size_t n);

typedef struct version {
    _Atomic int refs;
    uint32_t keyspace_id;
    int level_count;
    uint64_t flushed_seqno;       /* the last edit's flushed_seqno (carried forward) */
    ver_level levels[VER_MAX_LEVELS];
    ver_blob_entry *blobs;        /* ascending by number (invariants 8, 9) */
    size_t blob_count;
    /* the engine's hint (db/rangedel.c): bit l set once every table of
     * level l is known to hold no range tombstone; only ever set */
    _Atomic unsigned no_range_tombstones;
} version;

/* The entry of blob file `number` in v, or NULL. */
const ver_blob_entry *version_find_blob(const version *v, uint64_t number);

/* An empty version with one reference; level_count in 1..VER_MAX_LEVELS
 * (0 = VER_DEFAULT_LEVELS). NULL when out of memory or level_count is bad. */
version *version_new_empty(uint32_t keyspace_id, int level_count);
void version_ref(version *v);
/* Drops a reference; the last one unrefs every table and frees v. NULL is ignored. */
void version_unref(version *v);

/* ---- edits ---- */

typedef struct ver_edit_op {
    int level;
    ver_table *table;             /* the edit holds a reference */
} ver_edit_op;

/* What a flush or compaction changes: tables removed from and added to
 * levels (a move is a removal plus an addition of the same table), and
 * optionally the keyspace's new flushed_seqno. */
typedef struct ver_edit {
    ver_edit_op *removed;
    size_t removed_count, removed_cap;
    ver_edit_op *added;
    size_t added_count, added_cap;
    int has_flushed_seqno;
    uint64_t flushed_seqno;
    /* blob files: new ones (the edit holds a reference) and garbage found */
    ver_blob **blobs_added;
    size_t blobs_added_count, blobs_added_cap;
    struct ver_blob_garbage {
        uint64_t number, count, bytes;
    } *garbage;
    size_t garbage_count, garbage_cap;
} ver_edit;

void ver_edit_init(ver_edit *e);
/* Both take a reference of their own on t (the caller keeps its own).
 * TIND_OK or TIND_ENOMEM (the edit is unchanged then). A removal is matched
 * by table number. */
int ver_edit_remove(ver_edit *e, int level, ver_table *t);
int ver_edit_add(ver_edit *e, int level, ver_table *t);
void ver_edit_set_flushed_seqno(ver_edit *e, uint64_t seqno);
/* A new blob file (takes a reference of its own), and garbage found in
 * blob file `number` (added to the base's; clamped to the file's size).
 * TIND_OK or TIND_ENOMEM. */
int ver_edit_add_blob(ver_edit *e, ver_blob *b);
int ver_edit_add_garbage(ver_edit *e, uint64_t number, uint64_t count, uint64_t bytes);
/* Drops the edit's references and frees its arrays; e may be reused after
 * ver_edit_init. */
void ver_edit_free(ver_edit *e);

/* Builds *out = base + edit (one reference, the caller's), sharing (and
 * ref'ing) the unchanged tables; base is not changed. Fails, leaving *out
 * NULL, with TIND_EINVAL and a message naming the tables when: a level is out
 * of range; a removed table is not at that level (or is removed twice); an
 * added table's number is already in the result; a table has
 * smallest > largest or min_seqno > max_seqno; a level >= 1 would hold
 * overlapping tables; flushed_seqno would go backwards. TIND_ENOMEM when out
 * of memory. */
int version_apply(const version *base, const ver_edit *edit, version **out, tind_err *err);
/* The same, failing with bad_code instead of TIND_EINVAL (manifest_decode
 * builds versions with it and TIND_ECORRUPT). */
int version_apply_code(const version *base, const ver_edit *edit, int bad_code, version **out,
                       tind_err *err);
/* version_apply's blob step (blobset.c): v's blob files from base's and the
 * edit's, garbage added, unreferenced files dropped, references checked. */
int version_apply_blobs(const version *base, const ver_edit *edit, version *v, int bad_code, tind_err *err);
void version_release_blobs(version *v);
void ver_edit_free_blobs(ver_edit *e);

/* ---- queries (v must be held by the caller) ---- */

/* Level >= 1: the index of the only table of the level whose range may hold
 * key (the first with largest >= key, if its smallest <= key), else -1.
 * -1 also for level 0 or a level out of range. */
int version_find_level_table(const version *v, int level, const uint8_t *key, size_t klen);

/* A list of borrowed table pointers (valid while the version is held). */
typedef struct ver_table_list {
    ver_table **tables;
    size_t count;
    size_t cap;
} ver_table_list;

void ver_table_list_free(ver_table_list *l);   /* frees the array, not the tables */

/* Replaces out's contents with the tables of `level` whose key range
 * intersects [lo, hi] (both inclusive; lo = NULL: unbounded below, hi = NULL:
 * unbounded above), in level order. For level 0 the range grows to cover
 * every table picked until no more overlap (LevelDB's rule), so the result
 * is closed under overlap: no L0 table left out overlaps one picked, which a
 * compaction of L0 needs to keep newer versions above older ones.
 * TIND_OK, TIND_EINVAL (level out of range) or TIND_ENOMEM. */
int version_overlapping(const version *v, int level, const uint8_t *lo, size_t lolen,
                        const uint8_t *hi, size_t hilen, ver_table_list *out);

/* The level (0..level_count-1) holding the table numbered `number`, or -1. */
int version_find_table(const version *v, uint64_t number, size_t *index);

uint64_t version_level_bytes(const version *v, int level);   /* 0 when out of range */
size_t version_table_count(const version *v);                 /* all levels */
uint64_t version_total_bytes(const version *v);               /* all levels */

#endif
