/*
 * compact.h -- compaction execution: the entry stream and the table output.
 *
 * Every entry a flush or a compaction writes passes through one stream
 * (cmp_stream), which applies the rules over the merged input (internal
 * order: user key ascending, seqno descending):
 *   - entries are grouped per user key in *stripes* by the live snapshots
 *     (a stripe = the entries the same snapshots see); only the newest entry
 *     of each stripe survives;
 *   - when nothing older lies under the output's key range (`bottommost`)
 *     and the entry is in the oldest stripe, a tombstone is dropped and a
 *     value's seqno becomes 0 (every reader sees it).
 * SPEC section 5's compaction filter, merge operator and single delete
 * (stream_ops.c) and range tombstones plug into this stream: it is the one
 * place entries pass through.
 *
 * cmp_write_tables cuts the stream into tables: output level 0 makes one
 * table; deeper levels cut at the table size, only between user keys (a
 * level >= 1 never splits a key across tables), with that level's table
 * options. Tables are synced (with cmp_options.sync_behind, each but the
 * last on a thread of its own while the next is written), then the tables
 * folder; every table returned is durable.
 *
 * The layer knows nothing of the db: the db passes a cmp_env of callbacks
 * (file numbers, paths, table readers, the closing flag). Thread-safety: a
 * stream and a cmp_write_tables call belong to one thread; the callbacks
 * must be safe to call from it.
 */
#ifndef TIND_COMPACTION_COMPACT_H
#define TIND_COMPACTION_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "compaction/blobsep.h"
#include <stdatomic.h>

#include "compaction/filter.h"
#include "compaction/merge_op.h"
#include "compaction/options.h"
#include "compaction/picker.h"
#include "format/table.h"
#include "io/fs.h"
#include "iter/iiter.h"
#include "util/buf.h"
#include "util/status.h"
#include "version/version.h"

/* What compaction asks of its owner (the db). */
typedef struct cmp_env {
    void *ctx;                    /* passed to every callback */
    fs *fs;
    const char *tables_dir;       /* synced once new tables are in it */
    /* A fresh file number for an output table. */
    uint64_t (*new_file_number)(void *ctx);
    /* A new table's unique id (recorded in its metadata and the version file). */
    uint64_t (*new_table_id)(void *ctx, uint64_t number);
    /* The path of table `number`. */
    void (*table_path)(void *ctx, uint64_t number, char *buf, size_t n);
    /* The reader of an input table at `level` (owned by the table). */
    int (*table_reader)(void *ctx, ver_table *t, int level, tbl **out, tind_err *err);
    /* Nonzero when the owner is closing: the job is abandoned (polled every
     * 1024 entries). */
    int (*closing)(void *ctx);
    /* Attached to every output table (ver_table.on_free). */
    ver_table_free_fn table_on_free;
    void *table_on_free_ctx;
    /* Key-value separation and blob GC of this job (compaction/blobsep.h);
     * NULL = values stay in the tables and pointers pass unchanged. */
    blob_job *blobs;
    /* Merge operands, single deletes and filters (stream_ops.c): the
     * keyspace's merge operator and filter (NULL: none; an operator that is
     * not usable keeps operands as they are) and where to count what the
     * stream met (NULL: not counted). */
    const merge_op *merge;
    const cmp_filter *filter;
    _Atomic uint64_t *single_delete_violations;
    _Atomic uint64_t *merge_failures;
} cmp_env;

/* The entry stream over `in`. The current entry is in the public fields
 * after cmp_stream_next returns 1; key and value stay valid until the next
 * call. */
typedef struct cmp_stream {
    iiter *in;
    int bottommost;
    const uint64_t *snapshots;    /* ascending */
    size_t snapshot_count;
    /* the current entry */
    const uint8_t *key;
    size_t klen;
    uint64_t seqno;
    uint8_t type;
    const uint8_t *val;
    size_t vlen;
    int new_key;                  /* first surviving entry of its user key */
    /* state */
    const cmp_env *env;           /* its closing() is polled; may be NULL */
    uint64_t input_count;
    int started;
    int have_prev;
    tbuf prev;                    /* user key of the previous input entry */
    size_t last_stripe;
    int key_emitted;              /* an entry of the current user key was returned */
    const struct rt_list *rt;     /* range tombstones of the inputs, or NULL */
    long rt_frag;                 /* fragment of the previous lookup (a cursor), -1 */
    uint64_t dropped_covered;     /* entries dropped for a range tombstone */
    int status;
    tind_err err;
    /* merge operands, single deletes, filters (stream_ops.c) */
    int level;                    /* the output level (filters see it) */
    int hold;                     /* the input sits on an entry not yet taken */
    int chain;                    /* operands kept as they are: the stripe's next entries pass */
    merge_list ops;               /* operands (and base) being combined */
    merge_list pending;           /* entries to emit before reading on */
    size_t pending_pos;
    size_t pending_stripe;
    tbuf out;                     /* a merged or replaced value */
} cmp_stream;

void cmp_stream_init(cmp_stream *s, const cmp_env *env, iiter *in, int bottommost, const uint64_t *snapshots,
                     size_t snapshot_count);
/* Moves to the next surviving entry: 1 = there is one, 0 = the end or an
 * error (cmp_stream_status). */
int cmp_stream_next(cmp_stream *s);
int cmp_stream_status(const cmp_stream *s, tind_err *err);
/* The stripe of seqno: the index of the oldest snapshot that sees it
 * (snapshot_count: none does). */
size_t stripe_of_seqno(const uint64_t *snapshots, size_t snapshot_count, uint64_t seqno);
/* Makes (key, seqno, type, value) the current entry under the bottom rule
 * (dropped deletions, zeroed seqnos): 1 = emitted, 0 = dropped. */
int cmp_stream_emit(cmp_stream *s, size_t stripe, const uint8_t *key, size_t klen, uint64_t seqno, uint8_t type,
                    const uint8_t *val, size_t vlen, int new_key);
/* stream_ops.c: an entry the plain rules do not cover -- a merge operand, a
 * single delete, a value a filter sees, or one under operands kept as they
 * are. Returns 1 (an entry is current), 0 (consumed, read on) or -1 (error
 * in s->status), or 2 (the plain rules apply to the entry, possibly changed
 * by a filter: in *type / *val / *vlen). */
int cmp_ops_wants(const cmp_stream *s, size_t stripe, uint8_t type);
int cmp_ops_entry(cmp_stream *s, size_t stripe, int new_key, uint8_t *type, const uint8_t **val, size_t *vlen);
/* Emits the next entry waiting in s->pending: 1, or 0 when none is left. */
int cmp_ops_pop(cmp_stream *s);
void cmp_stream_free(cmp_stream *s);

/* Writes the stream over `in` to new tables at out_level (see above);
 * returns them (each with one reference for the caller), their count and
 * total size. On failure nothing is returned and the partial outputs are
 * marked obsolete (their files go with them). */
int cmp_write_tables(const cmp_env *env, const cmp_options *o, iiter *in, int out_level, int bottommost,
                     const uint64_t *snapshots, size_t snapshot_count, ver_table ***tables, size_t *count,
                     uint64_t *bytes, tind_err *err);

/* The same with the range tombstones of the input (flush: the memtable's;
 * NULL: none). The stream drops every entry a tombstone of rt deletes for
 * every reader (a newer tombstone in the same snapshot stripe); the outputs
 * carry the tombstones (format/rangetomb.h), each table those of its part
 * of the key space: a cut after key k gives [.., k"\0") to the table
 * holding k and the rest to the next, so the tables' widened key ranges
 * never overlap. In each fragment only the newest tombstone of a stripe is
 * kept, and at the bottom those of the oldest stripe go. A stream with
 * tombstones and no surviving entry still makes a table (tombstones only). */
struct rt_list;
int cmp_write_tables_rt(const cmp_env *env, const cmp_options *o, iiter *in, int out_level, int bottommost,
                        const uint64_t *snapshots, size_t snapshot_count, const struct rt_list *rt,
                        ver_table ***tables, size_t *count, uint64_t *bytes, tind_err *err);

/* Runs a pick of kind PICK_MERGE (merges its inputs through the stream into
 * new tables) or PICK_MOVE (the input itself, one more reference, is the
 * output); PICK_DROP has no outputs. */
int cmp_run(const cmp_env *env, const cmp_options *o, const compaction_pick *p, const uint64_t *snapshots,
            size_t snapshot_count, ver_table ***tables, size_t *count, uint64_t *bytes, tind_err *err);

/* Releases outputs that will not be installed (their files go). */
void cmp_tables_discard(ver_table **tables, size_t count);
/* Releases the caller's references to outputs and the array; their files
 * stay (installed, or perhaps named by a version file whose write failed:
 * the next open keeps or deletes them). */
void cmp_tables_release(ver_table **tables, size_t count);

#endif
