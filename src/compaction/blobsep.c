/*
 * blobsep.c -- key-value separation in flushes and compactions, and the
 * blob garbage-collection policy (compaction/blobsep.h).
 */
#include "compaction/blobsep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/entry.h"
#include "util/killpoint.h"

int blob_job_init(blob_job *j, const cmp_blob_options *o, fs *fs, const version *v)
{
    memset(j, 0, sizeof *j);
    j->o = o;
    j->fs = fs;
    j->v = v;
    ver_edit_init(&j->result);
    if (v)
        return blob_gc_files(v, o, 1, &j->relocate, &j->relocate_count);
    return TIND_OK;
}

/* The first index of sorted a[0..n) whose value is >= x (n when none). */
static size_t lower_bound(const uint64_t *a, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;
    if (n && a[n - 1] < x)
        return n;   /* the common case of add_ref: the newest file */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int relocating(const blob_job *j, uint64_t number)
{
    size_t i = lower_bound(j->relocate, j->relocate_count, number);
    return i < j->relocate_count && j->relocate[i] == number;
}

/* Keeps the table's references sorted and unique as they come: a merge of
 * level-0 tables meets its blob files interleaved, and a list of every
 * pointer's file, sorted at the table's end, cost 1.6% of blobs-writeheavy's
 * CPU in qsort. */
static int add_ref(blob_job *j, uint64_t number)
{
    size_t lo = lower_bound(j->refs, j->ref_count, number);
    if (lo < j->ref_count && j->refs[lo] == number)
        return TIND_OK;
    if (j->ref_count == j->ref_cap) {
        size_t cap = j->ref_cap ? j->ref_cap * 2 : 16;
        uint64_t *p = realloc(j->refs, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        j->refs = p;
        j->ref_cap = cap;
    }
    memmove(j->refs + lo + 1, j->refs + lo, (j->ref_count - lo) * sizeof *j->refs);
    j->refs[lo] = number;
    j->ref_count++;
    return TIND_OK;
}

int blob_job_finish(blob_job *j, tind_err *err)
{
    if (!j->w)
        return TIND_OK;
    blob_file_meta m;
    blob_writer *w = j->w;
    j->w = NULL;
    KILL_POINT("blob.sync.before");
    int rc = blob_writer_finish(w, FS_SYNC_DATA, &m, err);
    if (rc)
        return rc;
    ver_blob *b = ver_blob_new(j->w_number, m.file_size, m.count, m.bytes, m.created_unix);
    if (b) {
        b->on_free = j->blob_on_free;
        b->on_free_ctx = j->blob_on_free_ctx;
    }
    rc = b ? ver_edit_add_blob(&j->result, b) : TIND_ENOMEM;
    if (rc && b)
        b->obsolete = 1;
    ver_blob_unref(b);
    if (rc) {
        if (!b) {
            char path[4096];
            j->blob_path(j->ctx, j->w_number, path, sizeof path);
            fs_unlink(j->fs, path, NULL);
        }
        return err_set(err, TIND_ENOMEM, "out of memory");
    }
    j->blob_bytes_written += m.file_size;
    return TIND_OK;
}

/* Makes sure the job has a blob file to append to: starts one, or cuts the
 * current one past the file size. */
static int open_blob_file(blob_job *j, tind_err *err)
{
    int rc;
    if (j->w && blob_writer_size(j->w) >= j->o->file_size) {
        rc = blob_job_finish(j, err);
        if (rc)
            return rc;
    }
    if (!j->w) {
        char path[4096];
        j->w_number = j->new_file_number(j->ctx);
        j->blob_path(j->ctx, j->w_number, path, sizeof path);
        rc = blob_writer_open(j->fs, path, j->w_number, j->o->compression, j->o->compression_level, &j->w, err);
        if (rc) {
            j->w = NULL;
            return rc;
        }
    }
    return TIND_OK;
}

/* Records the reference to p's file and points *val at p's encoding. */
static int pointed(blob_job *j, const blob_ptr *p, const uint8_t **val, size_t *vlen, tind_err *err)
{
    int rc = add_ref(j, p->file);
    if (rc)
        return err_set(err, rc, "out of memory");
    *vlen = blob_ptr_encode(p, j->ptr);
    *val = j->ptr;
    return TIND_OK;
}

/* Appends a value to the job's blob file and points *val at its pointer. */
static int write_blob(blob_job *j, const uint8_t *data, size_t n, const uint8_t **val, size_t *vlen, tind_err *err)
{
    int rc = open_blob_file(j, err);
    blob_ptr p;
    if (!rc)
        rc = blob_writer_add(j->w, data, n, &p, err);
    return rc ? rc : pointed(j, &p, val, vlen, err);
}

/* The reader of the blob file p points into. */
static int blob_source(blob_job *j, const blob_ptr *p, blob_reader **r, tind_err *err)
{
    const ver_blob_entry *e = j->v ? version_find_blob(j->v, p->file) : NULL;
    if (!e)
        return err_set(err, TIND_ECORRUPT, "blob pointer into blob file %llu, which the version does not hold",
                       (unsigned long long)p->file);
    return j->blob_reader(j->ctx, e->file, r, err);
}

/* Reads the blob p points to into j->value (no block cache fill: a
 * compaction's reads would only evict what readers use). */
static int read_blob(blob_job *j, const blob_ptr *p, tind_err *err)
{
    blob_reader *r;
    int rc = blob_source(j, p, &r, err);
    if (!rc)
        rc = blob_read(r, p, 0, &j->value, err);
    return rc;
}

/* Moves the blob p points to into the job's blob file and points *val at
 * its new pointer. A file written with the job's codec gives its records as
 * stored (checked, not decompressed and compressed again: relocation is
 * most of a blob GC's CPU otherwise); another codec's records are decoded
 * and written as new values, so a changed compression option reaches the
 * relocated values. A zstd level change reaches only new values. */
static int relocate_blob(blob_job *j, const blob_ptr *p, const uint8_t **val, size_t *vlen, tind_err *err)
{
    blob_reader *r;
    int rc = blob_source(j, p, &r, err);
    if (rc)
        return rc;
    if ((int)blob_reader_meta(r)->compression != j->o->compression) {
        rc = blob_read(r, p, 0, &j->value, err);
        return rc ? rc : write_blob(j, j->value.data, j->value.len, val, vlen, err);
    }
    int codec;
    const uint8_t *payload;
    rc = blob_read_stored(r, p, &j->value, &payload, &codec, err);
    if (!rc)
        rc = open_blob_file(j, err);
    blob_ptr q;
    if (!rc)
        rc = blob_writer_add_stored(j->w, codec, payload, (size_t)p->size, (size_t)p->raw_size, &q, err);
    return rc ? rc : pointed(j, &q, val, vlen, err);
}

int blob_job_load(blob_job *j, const uint8_t *ptr, size_t n, const uint8_t **val, size_t *vlen, tind_err *err)
{
    blob_ptr p;
    if (blob_ptr_decode(ptr, n, &p))
        return err_set(err, TIND_ECORRUPT, "blob pointer of %zu bytes is malformed", n);
    int rc = read_blob(j, &p, err);
    if (rc)
        return rc;
    j->loaded++;
    *val = j->value.data ? j->value.data : (const uint8_t *)"";
    *vlen = j->value.len;
    return TIND_OK;
}

int blob_job_entry(blob_job *j, uint8_t *type, const uint8_t **val, size_t *vlen, tind_err *err)
{
    if (*type == ENTRY_VALUE) {
        if (!j->o->separate || *vlen < j->o->threshold)
            return TIND_OK;
        int rc = write_blob(j, *val, *vlen, val, vlen, err);
        if (!rc) {
            *type = ENTRY_BLOB;
            j->separated++;
        }
        return rc;
    }
    if (*type != ENTRY_BLOB)
        return TIND_OK;
    blob_ptr p;
    if (blob_ptr_decode(*val, *vlen, &p))
        return err_set(err, TIND_ECORRUPT, "blob pointer of %zu bytes is malformed", *vlen);
    if (!relocating(j, p.file)) {
        int rc = add_ref(j, p.file);
        return rc ? err_set(err, rc, "out of memory") : TIND_OK;
    }
    int rc = relocate_blob(j, &p, val, vlen, err);
    if (!rc)
        rc = ver_edit_add_garbage(&j->result, p.file, 1, blob_ptr_record_bytes(&p));
    if (rc == TIND_ENOMEM)
        err_set(err, rc, "out of memory");
    if (!rc) {
        j->relocated++;
        j->relocated_bytes += p.raw_size;
    }
    return rc;
}

void blob_job_dropped(blob_job *j, const uint8_t *val, size_t vlen)
{
    blob_ptr p;
    if (blob_ptr_decode(val, vlen, &p) == TIND_OK)
        ver_edit_add_garbage(&j->result, p.file, 1, blob_ptr_record_bytes(&p)); /* a count lost to ENOMEM only delays GC */
}

int blob_job_table_done(blob_job *j, ver_table *t)
{
    int rc = ver_table_set_blob_refs(t, j->refs, j->ref_count);
    j->ref_count = 0;
    return rc;
}

void blob_job_discard(blob_job *j)
{
    blob_writer_abandon(j->w);
    j->w = NULL;
    for (size_t i = 0; i < j->result.blobs_added_count; i++)
        j->result.blobs_added[i]->obsolete = 1;
    ver_edit_free(&j->result);
    ver_edit_init(&j->result);
}

void blob_job_free(blob_job *j)
{
    blob_writer_abandon(j->w);
    ver_edit_free(&j->result);
    free(j->relocate);
    free(j->refs);
    tbuf_free(&j->value);
    memset(j, 0, sizeof *j);
}

/* ------------------------------------------------------------------ policy */

/* A blob file's counted garbage over its bytes (0 for an empty file). */
static double garbage_ratio(const ver_blob_entry *e)
{
    return e->file->bytes ? (double)e->garbage_bytes / (double)e->file->bytes : 0;
}

/* Garbage ratio descending; the older file (lower number) first on a tie. */
static int by_ratio_desc(const void *a, const void *b)
{
    const ver_blob_entry *ea = *(const ver_blob_entry *const *)a, *eb = *(const ver_blob_entry *const *)b;
    double x = garbage_ratio(ea), y = garbage_ratio(eb);
    if (x != y)
        return x < y ? 1 : -1;
    return ea->file->number < eb->file->number ? -1 : ea->file->number > eb->file->number;
}

int blob_gc_files(const version *v, const cmp_blob_options *o, int age, uint64_t **numbers, size_t *n)
{
    *numbers = NULL;
    *n = 0;
    if (!v->blob_count)
        return TIND_OK;
    uint64_t *p = malloc(v->blob_count * sizeof *p);
    const ver_blob_entry **order = malloc(v->blob_count * sizeof *order);
    uint8_t *pick = calloc(v->blob_count, 1);
    if (!p || !order || !pick) {
        free(p);
        free(order);
        free(pick);
        return TIND_ENOMEM;
    }
    /* By ratio, greedily: the excess of the keyspace's counted garbage over
     * gc_ratio of its blob bytes is reclaimed from the files holding the
     * most garbage per byte first, and never from a file below gc_ratio.
     * Relocating a file of garbage ratio g rewrites (1 - g) / g bytes per
     * byte reclaimed; under random overwrites old files pass gc_ratio long
     * before the keyspace does, so waiting for the sum collects them at
     * ratios well above it (tind-blobbench, 4 KiB overwrites: 1.45 -> 0.91
     * bytes written per user byte; ARCHITECTURE.md "Why greedy"),
     * and the space bound, counted garbage <= gc_ratio of the blob bytes,
     * is the same as a per-file rule's. */
    double total = 0, garbage = 0;
    for (size_t i = 0; i < v->blob_count; i++) {
        total += (double)v->blobs[i].file->bytes;
        garbage += (double)v->blobs[i].garbage_bytes;
        order[i] = &v->blobs[i];
    }
    double excess = garbage - o->gc_ratio * total;
    if (excess > 0) {
        qsort(order, v->blob_count, sizeof *order, by_ratio_desc);
        for (size_t i = 0; i < v->blob_count && excess > 0; i++) {
            if (garbage_ratio(order[i]) < o->gc_ratio)
                break;
            pick[order[i] - v->blobs] = 1;
            excess -= (double)order[i]->garbage_bytes;
        }
    }
    /* by age: the oldest files (lowest numbers: blobs[] is ascending) */
    size_t oldest = age && o->gc_age_cutoff > 0 ? (size_t)ceil(o->gc_age_cutoff * (double)v->blob_count) : 0;
    size_t k = 0;
    for (size_t i = 0; i < v->blob_count; i++)
        if (pick[i] || (i < oldest && v->blobs[i].garbage_bytes > 0))
            p[k++] = v->blobs[i].file->number;
    free(order);
    free(pick);
    if (!k) {
        free(p);
        p = NULL;
    }
    *numbers = p;
    *n = k;
    return TIND_OK;
}

static int points_into(const ver_table *t, const uint64_t *numbers, size_t n)
{
    for (size_t i = 0, k = 0; i < t->blob_ref_count && k < n;) {
        if (t->blob_refs[i] == numbers[k])
            return 1;
        if (t->blob_refs[i] < numbers[k])
            i++;
        else
            k++;
    }
    return 0;
}

int blob_gc_pick(const version *v, const cmp_options *o, compaction_pick *out)
{
    return blob_gc_pick_upto(v, o, UINT64_MAX, out);
}

int blob_gc_pick_upto(const version *v, const cmp_options *o, uint64_t max_number, compaction_pick *out)
{
    memset(out, 0, sizeof *out);
    if (o->compaction == TIND_COMPACTION_FIFO || !v->blob_count)
        return TIND_OK;
    uint64_t *numbers;
    size_t n;
    int rc = blob_gc_files(v, &o->blob, 0, &numbers, &n);
    while (!rc && n && numbers[n - 1] > max_number)
        n--; /* ascending: the files past the horizon are at the end */
    if (rc || !n) {
        free(numbers);
        return rc;
    }
    /* the deepest table first: most of the live data sits there */
    for (int l = v->level_count - 1; l >= 0 && out->kind == PICK_NONE; l--)
        for (size_t i = 0; i < v->levels[l].count; i++) {
            ver_table *t = v->levels[l].tables[i];
            if (atomic_load(&t->being_compacted) || !points_into(t, numbers, n))
                continue;
            out->inputs = malloc(sizeof *out->inputs);
            out->levels = malloc(sizeof *out->levels);
            if (!out->inputs || !out->levels) {
                compaction_pick_free(out);
                free(numbers);
                return TIND_ENOMEM;
            }
            out->inputs[0] = t;
            out->levels[0] = l;
            out->count = 1;
            out->kind = PICK_MERGE;
            out->out_level = l;
            out->bottommost = 0; /* older L0 tables may overlap it: keep tombstones and seqnos */
            break;
        }
    free(numbers);
    return TIND_OK;
}

int blob_gc_owed(const version *v, const cmp_options *o, uint64_t horizon)
{
    if (!horizon)
        return 0;
    compaction_pick p;
    if (blob_gc_pick_upto(v, o, horizon, &p))
        return 0; /* out of memory: GC waits for the workers' next look */
    int owed = p.kind != PICK_NONE;
    compaction_pick_free(&p);
    return owed;
}

uint64_t blob_gc_horizon(const version *v) { return v->blob_count ? v->blobs[v->blob_count - 1].file->number : 0; }
