/*
 * blobset.c -- the blob files of versions (version.h, "blob files"):
 * refcounted ver_blobs, tables' blob references, the edit's blob changes,
 * and version_apply's blob step.
 *
 * The blob step rebuilds the list every time: the base's entries (garbage
 * carried) and the edit's new files, garbage added, then every table's
 * references looked up (a reference to a file the version does not hold is
 * refused) and the files no table references dropped. So a blob file
 * leaves the latest version exactly when its last pointer leaves the tree,
 * and its file goes with the last version holding it.
 */
#include <stdlib.h>
#include <string.h>

#include "version/version.h"

ver_blob *ver_blob_new(uint64_t number, uint64_t size, uint64_t count, uint64_t bytes, uint64_t created_unix)
{
    ver_blob *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    if (mu_init(&b->reader_mu) != 0) {
        free(b);
        return NULL;
    }
    atomic_init(&b->refs, 1);
    atomic_init(&b->reader_atomic, NULL);
    atomic_init(&b->obsolete, 0);
    b->number = number;
    b->size = size;
    b->count = count;
    b->bytes = bytes;
    b->created_unix = created_unix;
    return b;
}

void ver_blob_ref(ver_blob *b) { atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed); }

void ver_blob_unref(ver_blob *b)
{
    if (!b)
        return;
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (b->on_free)
        b->on_free(b, b->on_free_ctx);
    mu_destroy(&b->reader_mu);
    free(b);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int ver_table_set_blob_refs(ver_table *t, const uint64_t *numbers, size_t n)
{
    uint64_t *p = NULL;
    if (n) {
        p = malloc(n * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        memcpy(p, numbers, n * sizeof *p);
        qsort(p, n, sizeof *p, cmp_u64);
        size_t k = 1;
        for (size_t i = 1; i < n; i++)
            if (p[i] != p[k - 1])
                p[k++] = p[i];
        n = k;
    }
    free(t->blob_refs);
    t->blob_refs = p;
    t->blob_ref_count = n;
    return TIND_OK;
}

static ver_blob_entry *find_entry(ver_blob_entry *e, size_t n, uint64_t number)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e[mid].file->number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && e[lo].file->number == number ? &e[lo] : NULL;
}

const ver_blob_entry *version_find_blob(const version *v, uint64_t number)
{
    return find_entry(v->blobs, v->blob_count, number);
}

int ver_edit_add_blob(ver_edit *e, ver_blob *b)
{
    if (e->blobs_added_count == e->blobs_added_cap) {
        size_t cap = e->blobs_added_cap ? e->blobs_added_cap * 2 : 4;
        ver_blob **p = realloc(e->blobs_added, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        e->blobs_added = p;
        e->blobs_added_cap = cap;
    }
    ver_blob_ref(b);
    e->blobs_added[e->blobs_added_count++] = b;
    return TIND_OK;
}

int ver_edit_add_garbage(ver_edit *e, uint64_t number, uint64_t count, uint64_t bytes)
{
    for (size_t i = 0; i < e->garbage_count; i++)
        if (e->garbage[i].number == number) {
            e->garbage[i].count += count;
            e->garbage[i].bytes += bytes;
            return TIND_OK;
        }
    if (e->garbage_count == e->garbage_cap) {
        size_t cap = e->garbage_cap ? e->garbage_cap * 2 : 8;
        struct ver_blob_garbage *p = realloc(e->garbage, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        e->garbage = p;
        e->garbage_cap = cap;
    }
    e->garbage[e->garbage_count].number = number;
    e->garbage[e->garbage_count].count = count;
    e->garbage[e->garbage_count].bytes = bytes;
    e->garbage_count++;
    return TIND_OK;
}

void ver_edit_free_blobs(ver_edit *e)
{
    for (size_t i = 0; i < e->blobs_added_count; i++)
        ver_blob_unref(e->blobs_added[i]);
    free(e->blobs_added);
    free(e->garbage);
    e->blobs_added = NULL;
    e->garbage = NULL;
    e->blobs_added_count = e->blobs_added_cap = e->garbage_count = e->garbage_cap = 0;
}

void version_release_blobs(version *v)
{
    for (size_t i = 0; i < v->blob_count; i++)
        ver_blob_unref(v->blobs[i].file);
    free(v->blobs);
    v->blobs = NULL;
    v->blob_count = 0;
}

static int cmp_entry(const void *a, const void *b)
{
    uint64_t x = ((const ver_blob_entry *)a)->file->number, y = ((const ver_blob_entry *)b)->file->number;
    return x < y ? -1 : x > y;
}

int version_apply_blobs(const version *base, const ver_edit *edit, version *v, int bad_code, tind_err *err)
{
    size_t n = base->blob_count + edit->blobs_added_count;
    int rc = TIND_OK;
    if (n == 0) {
        /* no blob files: every table must be without references */
        for (int l = 0; l < v->level_count; l++)
            for (size_t i = 0; i < v->levels[l].count; i++)
                if (v->levels[l].tables[i]->blob_ref_count)
                    return err_set(err, bad_code, "keyspace %u: table %llu references blob file %llu, which the version does not hold",
                                   v->keyspace_id, (unsigned long long)v->levels[l].tables[i]->number,
                                   (unsigned long long)v->levels[l].tables[i]->blob_refs[0]);
        return TIND_OK;
    }
    ver_blob_entry *e = malloc(n * sizeof *e);
    uint8_t *used = calloc(n, 1);
    if (!e || !used) {
        free(e);
        free(used);
        return TIND_ENOMEM;
    }
    for (size_t i = 0; i < base->blob_count; i++)
        e[i] = base->blobs[i];
    for (size_t i = 0; i < edit->blobs_added_count; i++) {
        e[base->blob_count + i].file = edit->blobs_added[i];
        e[base->blob_count + i].garbage_count = e[base->blob_count + i].garbage_bytes = 0;
    }
    qsort(e, n, sizeof *e, cmp_entry);
    for (size_t i = 0; i + 1 < n; i++)
        if (e[i].file->number == e[i + 1].file->number) {
            rc = err_set(err, bad_code, "keyspace %u: blob file %llu would appear twice", v->keyspace_id,
                         (unsigned long long)e[i].file->number);
            goto done;
        }
    for (size_t i = 0; i < edit->garbage_count; i++) {
        ver_blob_entry *x = find_entry(e, n, edit->garbage[i].number);
        if (!x)
            continue; /* a file already gone: nothing to count */
        uint64_t c = x->garbage_count + edit->garbage[i].count, b = x->garbage_bytes + edit->garbage[i].bytes;
        x->garbage_count = c < x->file->count ? c : x->file->count;
        x->garbage_bytes = b < x->file->bytes ? b : x->file->bytes;
    }
    for (int l = 0; l < v->level_count; l++)
        for (size_t i = 0; i < v->levels[l].count; i++) {
            const ver_table *t = v->levels[l].tables[i];
            for (size_t r = 0; r < t->blob_ref_count; r++) {
                ver_blob_entry *x = find_entry(e, n, t->blob_refs[r]);
                if (!x) {
                    rc = err_set(err, bad_code,
                                 "keyspace %u: table %llu references blob file %llu, which the version does not hold",
                                 v->keyspace_id, (unsigned long long)t->number, (unsigned long long)t->blob_refs[r]);
                    goto done;
                }
                used[x - e] = 1;
            }
        }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (used[i]) {
            ver_blob_ref(e[i].file);
            e[k++] = e[i];
        }
    if (k == 0) {
        free(e);
        e = NULL;
    }
    v->blobs = e;
    v->blob_count = k;
    e = NULL;
done:
    free(e);
    free(used);
    return rc;
}
