/*
 * blobsep.h -- key-value separation in the entry stream: what a flush or a
 * compaction does with large values and blob pointers, and the garbage
 * collection policy.
 *
 * A blob_job rides along one cmp_write_tables call (cmp_env.blobs):
 *   - an ENTRY_VALUE of >= threshold bytes (separation on) is appended to
 *     the job's current blob file and written as an ENTRY_BLOB pointer;
 *   - an ENTRY_BLOB pointer into a file being collected (blob_gc_relocate)
 *     is read, appended to the job's blob file and re-pointed; the old
 *     record becomes garbage of its file;
 *   - an ENTRY_BLOB pointer the stream drops (a newer version shadows it, a
 *     range tombstone covers it, a single delete cancels it, a filter
 *     removes or replaces it, merge operands over it are merged) becomes
 *     garbage of its file;
 *   - a filter or a merge that needs the value a pointer points to loads
 *     it (blob_job_load);
 *   - each output table records the blob files it points into.
 * The job's result is a ver_edit holding only blob changes (new files,
 * garbage), which the db folds into the version edit it installs. Blob
 * files are synced before the tables' folder, so before any version names
 * them; a failed job abandons them (their files are deleted).
 *
 * GC: once the counted garbage of the version's blob files passes gc_ratio
 * of their bytes, the files with the highest garbage ratios (none below
 * gc_ratio) are collected until the excess is covered (blob_gc_files):
 * every compaction relocates the blobs of such files that it meets, and
 * when nothing else needs compacting the picker's hint (blob_gc_pick)
 * rewrites, in place, one table that points into such a file. Each such
 * rewrite removes that table's references, so the file leaves the version
 * once every table pointing into it has been rewritten or compacted.
 *
 * Thread-safety: a job belongs to the thread running the flush or
 * compaction; blob_gc_* are pure functions over a held version.
 */
#ifndef TIND_COMPACTION_BLOBSEP_H
#define TIND_COMPACTION_BLOBSEP_H

#include <stddef.h>
#include <stdint.h>

#include "blob/blob.h"
#include "compaction/options.h"
#include "compaction/picker.h"
#include "io/fs.h"
#include "util/buf.h"
#include "util/status.h"
#include "version/version.h"

typedef struct blob_job {
    /* set by the owner (blob_job_init) */
    const cmp_blob_options *o;
    fs *fs;
    const version *v;             /* the version the inputs come from (held by the owner) */
    void *ctx;
    uint64_t (*new_file_number)(void *ctx);
    void (*blob_path)(void *ctx, uint64_t number, char *buf, size_t n);
    /* the reader of a blob file of v (owned by the ver_blob) */
    int (*blob_reader)(void *ctx, ver_blob *b, blob_reader **out, tind_err *err);
    ver_blob_free_fn blob_on_free;
    void *blob_on_free_ctx;
    /* state */
    uint64_t *relocate;           /* file numbers being collected, ascending */
    size_t relocate_count;
    blob_writer *w;
    uint64_t w_number;
    ver_edit result;              /* new blob files and garbage */
    uint64_t *refs;               /* blob files the current output table points into */
    size_t ref_count, ref_cap;
    uint8_t ptr[BLOB_POINTER_MAX];
    tbuf value;
    /* figures */
    uint64_t separated, relocated, relocated_bytes, blob_bytes_written;
    uint64_t loaded;              /* blobs read for a filter or a merge (blob_job_load) */
} blob_job;

/* Sets up a job over version v (NULL: a flush, nothing to relocate).
 * TIND_ENOMEM. The callbacks are filled by the caller afterwards. */
int blob_job_init(blob_job *j, const cmp_blob_options *o, fs *fs, const version *v);
/* Transforms one output entry in place (see above); *val may then point
 * into the job, valid until the next call. */
int blob_job_entry(blob_job *j, uint8_t *type, const uint8_t **val, size_t *vlen, tind_err *err);
/* The value an ENTRY_BLOB pointer points to, for a compaction filter or as
 * the base of merge operands: checked, decompressed, in the job (*val valid
 * until the next load or entry). TIND_ECORRUPT naming the file and offset;
 * a flush (no version) has no blob pointers to load. */
int blob_job_load(blob_job *j, const uint8_t *ptr, size_t n, const uint8_t **val, size_t *vlen, tind_err *err);
/* Whether j (may be NULL) can load blobs: a compaction's job (a flush's has
 * no version, and meets no pointers). */
static inline int blob_job_can_load(const blob_job *j) { return j && j->v; }
/* A pointer the stream dropped. */
void blob_job_dropped(blob_job *j, const uint8_t *val, size_t vlen);
/* The current output table is finished: it gets the references seen since
 * the last call. TIND_ENOMEM. */
int blob_job_table_done(blob_job *j, ver_table *t);
/* Finishes (syncs) the current blob file. */
int blob_job_finish(blob_job *j, tind_err *err);
/* A failed job: the blob files written are abandoned (deleted). */
void blob_job_discard(blob_job *j);
void blob_job_free(blob_job *j);

/* The blob files of v to collect (ascending numbers, malloc'd, may be
 * NULL with *n = 0): the greedy choice above, and with age = 1 also the
 * oldest gc_age_cutoff fraction of the files that hold garbage. */
int blob_gc_files(const version *v, const cmp_blob_options *o, int age, uint64_t **numbers, size_t *n);
/* The picker's hint: a PICK_MERGE of one table pointing into a file to
 * collect, rewritten at its own level (not busy). PICK_NONE when there is
 * none (or for FIFO keyspaces). */
int blob_gc_pick(const version *v, const cmp_options *o, compaction_pick *out);
/* The same among the files numbered <= max_number only. */
int blob_gc_pick_upto(const version *v, const cmp_options *o, uint64_t max_number, compaction_pick *out);

/* tind_compact's promise (a full compaction leaves no blob file to collect):
 * a full compaction counts the garbage it makes only as it goes, too late to
 * move that pass's survivors, so once it is done the caller records the
 * horizon (the highest blob file number of the version then, 0 = none) and
 * waits while blob_gc_owed: a file <= horizon is still to collect and a
 * table (not busy) points into it (each such wait's rewrite moves live
 * blobs out of those files, which gain none, so the waits are finite).
 * Files written later never join, so the wait ends under any write load: each GC rewrite removes a table's
 * pointers into those files, and no new table points into them. */
int blob_gc_owed(const version *v, const cmp_options *o, uint64_t horizon);
uint64_t blob_gc_horizon(const version *v);

#endif
