/*
 * version.c -- refcounted tables and immutable versions of one keyspace's
 * LSM tree; copy-on-write edits (see version.h for the invariants).
 *
 * version_apply builds the new version level by level: a level the edit does
 * not touch is copied (its table pointers ref'd); a touched level is rebuilt
 * from the base's tables minus the removals plus the additions, sorted (L0
 * newest first, other levels by smallest key), then checked for overlap.
 * Every table number in the result is checked for uniqueness. Nothing is
 * shared between versions but the (refcounted) tables, so releasing versions
 * in any order frees each table exactly once, when its last holder goes.
 *
 * Thread-safety: see version.h. Reference counts use acq_rel on the decrement
 * so that whatever the releasing threads wrote before letting go (the
 * engine's `obsolete`, `reader`) is visible to the thread that frees.
 */
#include "version/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/entry.h"

/* ------------------------------------------------------------------ tables */

static uint8_t *ver_copy_key(const uint8_t *k, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    if (p && n)
        memcpy(p, k, n);
    return p;
}

ver_table *ver_table_new(uint64_t number, uint64_t size, uint64_t entries, uint64_t tombstones,
                         uint64_t min_seqno, uint64_t max_seqno, uint64_t created_unix,
                         const uint8_t *smallest, size_t smallest_len,
                         const uint8_t *largest, size_t largest_len)
{
    ver_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->smallest = ver_copy_key(smallest, smallest_len);
    t->largest = ver_copy_key(largest, largest_len);
    if (!t->smallest || !t->largest || mu_init(&t->reader_mu) != 0) {
        free(t->smallest);
        free(t->largest);
        free(t);
        return NULL;
    }
    atomic_init(&t->refs, 1);
    t->number = number;
    t->size = size;
    t->entries = entries;
    t->tombstones = tombstones;
    t->min_seqno = min_seqno;
    t->max_seqno = max_seqno;
    t->created_unix = created_unix;
    t->smallest_len = smallest_len;
    t->largest_len = largest_len;
    t->reader = NULL;
    atomic_init(&t->reader_atomic, NULL);
    atomic_init(&t->being_compacted, 0);
    atomic_init(&t->obsolete, 0);
    return t;
}

ver_table *ver_table_from_meta(uint64_t number, const tbl_meta *m)
{
    ver_table *t = ver_table_new(number, m->file_size, m->entry_count, m->tombstone_count, m->min_seqno,
                                 m->max_seqno, m->created_unix, m->smallest_key.data, m->smallest_key.len,
                                 m->largest_key.data, m->largest_key.len);
    if (t)
        t->table_id = m->table_id;
    return t;
}

/* Appends "; <what> differs (file X, version file Y)" for a number that differs. */
static void ver_id_differs(char *buf, size_t n, size_t *len, const char *what, uint64_t file, uint64_t want)
{
    if (file == want || *len >= n)
        return;
    int hex = strcmp(what, "table id") == 0;
    int w = snprintf(buf + *len, n - *len, hex ? "%s%s %016llx, version file %016llx" : "%s%s %llu, version file %llu",
                     *len ? "; " : "", what, (unsigned long long)file, (unsigned long long)want);
    if (w > 0)
        *len += (size_t)w;
}

int ver_table_check_identity(const ver_table *t, const tbl_meta *m, const char *path, tind_err *err)
{
    char d[400];
    size_t len = 0;
    d[0] = 0;
    /* identities exist from table format 2 on: a format 1 table, and the
     * version file's id 0 for a table from before them, are checked by what
     * they have */
    if (m->format_version >= 2)
        ver_id_differs(d, sizeof d, &len, "file number", m->file_number, t->number);
    if (t->table_id != 0) {
        if (m->format_version < 2)
            ver_id_differs(d, sizeof d, &len, "table id (the file has none: format 1)", 0, t->table_id);
        else
            ver_id_differs(d, sizeof d, &len, "table id", m->table_id, t->table_id);
    }
    ver_id_differs(d, sizeof d, &len, "file size", m->file_size, t->size);
    ver_id_differs(d, sizeof d, &len, "min seqno", m->min_seqno, t->min_seqno);
    ver_id_differs(d, sizeof d, &len, "max seqno", m->max_seqno, t->max_seqno);
    ver_id_differs(d, sizeof d, &len, "entries", m->entry_count, t->entries);
    ver_id_differs(d, sizeof d, &len, "tombstones", m->tombstone_count, t->tombstones);
    if ((key_cmp(m->smallest_key.data, m->smallest_key.len, t->smallest, t->smallest_len) != 0 ||
         key_cmp(m->largest_key.data, m->largest_key.len, t->largest, t->largest_len) != 0) &&
        len < sizeof d) {
        int w = snprintf(d + len, sizeof d - len, "%skey range differs", len ? "; " : "");
        if (w > 0)
            len += (size_t)w;
    }
    if (!len)
        return TIND_OK;
    return err_set(err, TIND_ECORRUPT, "table '%s' is not the table %llu the version file names: %s", path,
                   (unsigned long long)t->number, d);
}

void ver_table_ref(ver_table *t) { atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed); }

void ver_table_unref(ver_table *t)
{
    if (!t)
        return;
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (t->on_free)
        t->on_free(t, t->on_free_ctx);
    mu_destroy(&t->reader_mu);
    free(t->blob_refs);
    free(t->smallest);
    free(t->largest);
    free(t);
}

/* ------------------------------------------------------------------ versions */

version *version_new_empty(uint32_t keyspace_id, int level_count)
{
    if (level_count == 0)
        level_count = VER_DEFAULT_LEVELS;
    if (level_count < 1 || level_count > VER_MAX_LEVELS)
        return NULL;
    version *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    atomic_init(&v->refs, 1);
    v->keyspace_id = keyspace_id;
    v->level_count = level_count;
    return v;
}

void version_ref(version *v) { atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed); }

static void version_destroy(version *v)
{
    for (int l = 0; l < VER_MAX_LEVELS; l++) {
        for (size_t i = 0; i < v->levels[l].count; i++)
            ver_table_unref(v->levels[l].tables[i]);
        free(v->levels[l].tables);
    }
    version_release_blobs(v);
    free(v);
}

void version_unref(version *v)
{
    if (!v)
        return;
    if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    version_destroy(v);
}

/* ------------------------------------------------------------------ edits */

void ver_edit_init(ver_edit *e) { memset(e, 0, sizeof *e); }

static int ver_edit_push(ver_edit_op **ops, size_t *count, size_t *cap, int level, ver_table *t)
{
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        ver_edit_op *p = realloc(*ops, ncap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        *ops = p;
        *cap = ncap;
    }
    ver_table_ref(t);
    (*ops)[*count].level = level;
    (*ops)[*count].table = t;
    (*count)++;
    return TIND_OK;
}

int ver_edit_remove(ver_edit *e, int level, ver_table *t)
{
    return ver_edit_push(&e->removed, &e->removed_count, &e->removed_cap, level, t);
}

int ver_edit_add(ver_edit *e, int level, ver_table *t)
{
    return ver_edit_push(&e->added, &e->added_count, &e->added_cap, level, t);
}

void ver_edit_set_flushed_seqno(ver_edit *e, uint64_t seqno)
{
    e->has_flushed_seqno = 1;
    e->flushed_seqno = seqno;
}

void ver_edit_free(ver_edit *e)
{
    for (size_t i = 0; i < e->removed_count; i++)
        ver_table_unref(e->removed[i].table);
    for (size_t i = 0; i < e->added_count; i++)
        ver_table_unref(e->added[i].table);
    free(e->removed);
    free(e->added);
    ver_edit_free_blobs(e);
    memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------------ apply */

/* A key for a message: printable ASCII as is, other bytes as \xHH, at most
 * ~24 bytes of it. */
static const char *ver_key_str(const uint8_t *k, size_t n, char *buf, size_t cap)
{
    size_t o = 0;
    size_t i;
    for (i = 0; i < n && o + 8 < cap && i < 24; i++) {
        if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\'' && k[i] != '\\')
            buf[o++] = (char)k[i];
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", k[i]);
    }
    if (i < n && o + 4 <= cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

static int ver_cmp_l0(const void *a, const void *b)
{
    const ver_table *x = *(ver_table *const *)a, *y = *(ver_table *const *)b;
    if (x->max_seqno != y->max_seqno)
        return x->max_seqno > y->max_seqno ? -1 : 1;
    if (x->number != y->number)
        return x->number > y->number ? -1 : 1;
    return 0;
}

static int ver_cmp_smallest(const void *a, const void *b)
{
    const ver_table *x = *(ver_table *const *)a, *y = *(ver_table *const *)b;
    int c = key_cmp(x->smallest, x->smallest_len, y->smallest, y->smallest_len);
    if (c)
        return c;
    c = key_cmp(x->largest, x->largest_len, y->largest, y->largest_len);
    if (c)
        return c;
    return x->number < y->number ? -1 : x->number > y->number;
}

static int ver_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int ver_check_table(const ver_table *t, int level, int bad_code, tind_err *err)
{
    if (key_cmp(t->smallest, t->smallest_len, t->largest, t->largest_len) > 0) {
        char a[128], b[128];
        return err_set(err, bad_code, "table %llu (level %d): smallest key '%s' > largest key '%s'",
                       (unsigned long long)t->number, level, ver_key_str(t->smallest, t->smallest_len, a, sizeof a),
                       ver_key_str(t->largest, t->largest_len, b, sizeof b));
    }
    if (t->min_seqno > t->max_seqno)
        return err_set(err, bad_code, "table %llu (level %d): min seqno %llu > max seqno %llu",
                       (unsigned long long)t->number, level, (unsigned long long)t->min_seqno,
                       (unsigned long long)t->max_seqno);
    return TIND_OK;
}

/* Checks a sorted level >= 1 for overlap between neighbours. */
static int ver_check_level(const ver_level *lv, int level, int bad_code, tind_err *err)
{
    for (size_t i = 0; i + 1 < lv->count; i++) {
        const ver_table *x = lv->tables[i], *y = lv->tables[i + 1];
        if (key_cmp(x->largest, x->largest_len, y->smallest, y->smallest_len) >= 0) {
            char a[128], b[128], c[128], d[128];
            return err_set(err, bad_code,
                           "level %d: table %llu ['%s'..'%s'] overlaps table %llu ['%s'..'%s']", level,
                           (unsigned long long)x->number, ver_key_str(x->smallest, x->smallest_len, a, sizeof a),
                           ver_key_str(x->largest, x->largest_len, b, sizeof b), (unsigned long long)y->number,
                           ver_key_str(y->smallest, y->smallest_len, c, sizeof c),
                           ver_key_str(y->largest, y->largest_len, d, sizeof d));
        }
    }
    return TIND_OK;
}

int version_apply_code(const version *base, const ver_edit *edit, int bad_code, version **out,
                       tind_err *err)
{
    *out = NULL;
    int lc = base->level_count;
    int rc = TIND_OK;
    size_t touched[VER_MAX_LEVELS] = {0};     /* additions + removals per level */
    uint8_t *removed[VER_MAX_LEVELS] = {0};   /* per base table: removed by the edit */
    uint64_t *numbers = NULL;
    version *v = NULL;

    if (edit->has_flushed_seqno && edit->flushed_seqno < base->flushed_seqno)
        return err_set(err, bad_code, "keyspace %u: flushed seqno would go back from %llu to %llu",
                       base->keyspace_id, (unsigned long long)base->flushed_seqno,
                       (unsigned long long)edit->flushed_seqno);
    for (size_t i = 0; i < edit->removed_count; i++) {
        int l = edit->removed[i].level;
        if (l < 0 || l >= lc)
            return err_set(err, bad_code, "keyspace %u: removal of table %llu from level %d: only %d levels",
                           base->keyspace_id, (unsigned long long)edit->removed[i].table->number, l, lc);
        touched[l]++;
    }
    for (size_t i = 0; i < edit->added_count; i++) {
        int l = edit->added[i].level;
        if (l < 0 || l >= lc)
            return err_set(err, bad_code, "keyspace %u: addition of table %llu to level %d: only %d levels",
                           base->keyspace_id, (unsigned long long)edit->added[i].table->number, l, lc);
        rc = ver_check_table(edit->added[i].table, l, bad_code, err);
        if (rc)
            return rc;
        touched[l]++;
    }

    /* mark removals */
    for (size_t i = 0; i < edit->removed_count; i++) {
        int l = edit->removed[i].level;
        const ver_level *bl = &base->levels[l];
        if (!removed[l] && bl->count) {
            removed[l] = calloc(bl->count, 1);
            if (!removed[l]) {
                rc = TIND_ENOMEM;
                goto done;
            }
        }
        uint64_t num = edit->removed[i].table->number;
        size_t j = 0;
        while (j < bl->count && bl->tables[j]->number != num)
            j++;
        if (j == bl->count) {
            rc = err_set(err, bad_code, "keyspace %u: removed table %llu is not in level %d", base->keyspace_id,
                         (unsigned long long)num, l);
            goto done;
        }
        if (removed[l][j]) {
            rc = err_set(err, bad_code, "keyspace %u: table %llu removed twice from level %d", base->keyspace_id,
                         (unsigned long long)num, l);
            goto done;
        }
        removed[l][j] = 1;
    }

    v = calloc(1, sizeof *v);
    if (!v) {
        rc = TIND_ENOMEM;
        goto done;
    }
    atomic_init(&v->refs, 1);
    v->keyspace_id = base->keyspace_id;
    v->level_count = lc;
    v->flushed_seqno = edit->has_flushed_seqno ? edit->flushed_seqno : base->flushed_seqno;

    size_t total = 0;
    for (int l = 0; l < lc; l++) {
        const ver_level *bl = &base->levels[l];
        ver_level *nl = &v->levels[l];
        size_t cap = bl->count;
        for (size_t i = 0; i < edit->added_count; i++)
            cap += edit->added[i].level == l;
        if (cap == 0)
            continue;
        nl->tables = malloc(cap * sizeof *nl->tables);
        if (!nl->tables) {
            rc = TIND_ENOMEM;
            goto done;
        }
        for (size_t i = 0; i < bl->count; i++) {
            if (removed[l] && removed[l][i])
                continue;
            ver_table_ref(bl->tables[i]);
            nl->tables[nl->count++] = bl->tables[i];
            nl->bytes += bl->tables[i]->size;
        }
        for (size_t i = 0; i < edit->added_count; i++) {
            if (edit->added[i].level != l)
                continue;
            ver_table_ref(edit->added[i].table);
            nl->tables[nl->count++] = edit->added[i].table;
            nl->bytes += edit->added[i].table->size;
        }
        total += nl->count;
        if (!touched[l] || nl->count < 2)
            continue;
        qsort(nl->tables, nl->count, sizeof *nl->tables, l == 0 ? ver_cmp_l0 : ver_cmp_smallest);
        if (l > 0) {
            rc = ver_check_level(nl, l, bad_code, err);
            if (rc)
                goto done;
        }
    }

    /* every table number at most once (only additions can break it) */
    if (edit->added_count && total > 1) {
        numbers = malloc(total * sizeof *numbers);
        if (!numbers) {
            rc = TIND_ENOMEM;
            goto done;
        }
        size_t n = 0;
        for (int l = 0; l < lc; l++)
            for (size_t i = 0; i < v->levels[l].count; i++)
                numbers[n++] = v->levels[l].tables[i]->number;
        qsort(numbers, n, sizeof *numbers, ver_cmp_u64);
        for (size_t i = 0; i + 1 < n; i++)
            if (numbers[i] == numbers[i + 1]) {
                size_t idx;
                int l1 = version_find_table(base, numbers[i], &idx);
                rc = err_set(err, bad_code, "keyspace %u: table %llu would appear twice (%s)", base->keyspace_id,
                             (unsigned long long)numbers[i],
                             l1 >= 0 ? "added while already in the version" : "added twice");
                goto done;
            }
    }

    rc = version_apply_blobs(base, edit, v, bad_code, err);

done:
    for (int l = 0; l < VER_MAX_LEVELS; l++)
        free(removed[l]);
    free(numbers);
    if (rc) {
        if (rc == TIND_ENOMEM)
            err_set(err, rc, "keyspace %u: out of memory building a version", base->keyspace_id);
        if (v)
            version_destroy(v);
        return rc;
    }
    *out = v;
    return TIND_OK;
}

int version_apply(const version *base, const ver_edit *edit, version **out, tind_err *err)
{
    return version_apply_code(base, edit, TIND_EINVAL, out, err);
}

/* ------------------------------------------------------------------ queries */

/* The first index of level lv whose largest key >= key (count when none). */
static size_t ver_lower_bound(const ver_level *lv, const uint8_t *key, size_t klen)
{
    size_t lo = 0, hi = lv->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ver_table *t = lv->tables[mid];
        if (key_cmp(t->largest, t->largest_len, key, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int version_find_level_table(const version *v, int level, const uint8_t *key, size_t klen)
{
    if (level < 1 || level >= v->level_count)
        return -1;
    const ver_level *lv = &v->levels[level];
    size_t i = ver_lower_bound(lv, key, klen);
    if (i == lv->count)
        return -1;
    const ver_table *t = lv->tables[i];
    if (key_cmp(t->smallest, t->smallest_len, key, klen) > 0)
        return -1;
    return (int)i;
}

void ver_table_list_free(ver_table_list *l)
{
    free(l->tables);
    l->tables = NULL;
    l->count = l->cap = 0;
}

static int ver_list_push(ver_table_list *l, ver_table *t)
{
    if (l->count == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 8;
        ver_table **p = realloc(l->tables, ncap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        l->tables = p;
        l->cap = ncap;
    }
    l->tables[l->count++] = t;
    return TIND_OK;
}

int version_overlapping(const version *v, int level, const uint8_t *lo, size_t lolen,
                        const uint8_t *hi, size_t hilen, ver_table_list *out)
{
    out->count = 0;
    if (level < 0 || level >= v->level_count)
        return TIND_EINVAL;
    const ver_level *lv = &v->levels[level];
    if (level > 0) {
        size_t i = lo ? ver_lower_bound(lv, lo, lolen) : 0;
        for (; i < lv->count; i++) {
            ver_table *t = lv->tables[i];
            if (hi && key_cmp(t->smallest, t->smallest_len, hi, hilen) > 0)
                break;
            if (ver_list_push(out, t))
                return TIND_ENOMEM;
        }
        return TIND_OK;
    }
    /* level 0: pick every overlapping table; when one reaches past the
     * range, widen the range and start over (the bounds only grow, so this
     * ends after at most count rounds) */
    for (;;) {
        int widened = 0;
        out->count = 0;
        for (size_t i = 0; i < lv->count && !widened; i++) {
            ver_table *t = lv->tables[i];
            if (hi && key_cmp(t->smallest, t->smallest_len, hi, hilen) > 0)
                continue;
            if (lo && key_cmp(t->largest, t->largest_len, lo, lolen) < 0)
                continue;
            if (ver_list_push(out, t))
                return TIND_ENOMEM;
            if (lo && key_cmp(t->smallest, t->smallest_len, lo, lolen) < 0) {
                lo = t->smallest;
                lolen = t->smallest_len;
                widened = 1;
            }
            if (hi && key_cmp(t->largest, t->largest_len, hi, hilen) > 0) {
                hi = t->largest;
                hilen = t->largest_len;
                widened = 1;
            }
        }
        if (!widened)
            return TIND_OK;
    }
}

int version_find_table(const version *v, uint64_t number, size_t *index)
{
    for (int l = 0; l < v->level_count; l++)
        for (size_t i = 0; i < v->levels[l].count; i++)
            if (v->levels[l].tables[i]->number == number) {
                if (index)
                    *index = i;
                return l;
            }
    return -1;
}

uint64_t version_level_bytes(const version *v, int level)
{
    if (level < 0 || level >= v->level_count)
        return 0;
    return v->levels[level].bytes;
}

size_t version_table_count(const version *v)
{
    size_t n = 0;
    for (int l = 0; l < v->level_count; l++)
        n += v->levels[l].count;
    return n;
}

uint64_t version_total_bytes(const version *v)
{
    uint64_t n = 0;
    for (int l = 0; l < v->level_count; l++)
        n += v->levels[l].bytes;
    return n;
}
