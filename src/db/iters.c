/*
 * iters.c -- the internal iterator over a level of non-overlapping tables
 * (opened one at a time, as the cursor reaches them, through the db's table
 * readers); and view_iter_new(), the merge of everything a view holds. The
 * memtable and table adapters are in iter/adapters.c.
 *
 * Each iterator holds a reference on what it reads (memtable, table, version)
 * so that it stays valid however long the iterator lives.
 */
#include <stdlib.h>
#include <string.h>

#include "db/iters.h"

/* ------------------------------------------------------------------ level */

/* The tables of one level >= 1: sorted, non-overlapping. The cursor is in
 * table `index` (or none). */
typedef struct level_ii {
    iiter base;
    tind_db *db;
    version *v;
    ver_level *level;
    ver_level own;           /* a scan's subset of the level (level points here) */
    int level_no;
    int fill_cache;
    size_t index;
    tbl_iter *cur;           /* NULL when not positioned */
    int status;
    tind_err err;
} level_ii;

static int li_open(level_ii *l, size_t index)
{
    if (l->cur && l->index == index)
        return 1;
    if (index >= l->level->count) {
        tbl_iter_free(l->cur);
        l->cur = NULL;
        return 0;
    }
    tbl *t;
    int rc = db_table_reader(l->db, l->level->tables[index], l->level_no, &t, &l->err);
    if (rc == TIND_OK && l->cur)
        tbl_iter_retarget(l->cur, t); /* another table, the same buffers */
    else if (rc == TIND_OK && (rc = tbl_iter_new(t, &l->cur)) == TIND_OK)
        tbl_iter_set_fill_cache(l->cur, l->fill_cache);
    if (rc) {
        tbl_iter_free(l->cur);
        l->cur = NULL;
        l->status = rc;
        return 0;
    }
    l->index = index;
    return 1;
}

static int li_check(level_ii *l)
{
    if (l->cur && !tbl_iter_valid(l->cur)) {
        int rc = tbl_iter_status(l->cur, &l->err);
        if (rc) {
            l->status = rc;
            return 0;
        }
    }
    return 1;
}

/* Moves forward past exhausted tables. */
static void li_skip_forward(level_ii *l)
{
    while (l->cur && !tbl_iter_valid(l->cur) && li_check(l)) {
        if (!li_open(l, l->index + 1))
            return;
        tbl_iter_first(l->cur);
    }
}

static void li_skip_backward(level_ii *l)
{
    while (l->cur && !tbl_iter_valid(l->cur) && li_check(l)) {
        if (l->index == 0 || !li_open(l, l->index - 1)) {
            if (l->cur) {
                tbl_iter_free(l->cur);
                l->cur = NULL;
            }
            return;
        }
        tbl_iter_last(l->cur);
    }
}

/* Publishes the current table's entry (iiter.cur) after a move. */
static void li_moved(level_ii *l)
{
    l->base.cur = l->status == TIND_OK && l->cur ? tbl_iter_entry(l->cur) : NULL;
}

static void li_first(iiter *i)
{
    level_ii *l = (level_ii *)i;
    if (li_open(l, 0)) {
        tbl_iter_first(l->cur);
        li_skip_forward(l);
    }
    li_moved(l);
}

static void li_last(iiter *i)
{
    level_ii *l = (level_ii *)i;
    if (l->level->count && li_open(l, l->level->count - 1)) {
        tbl_iter_last(l->cur);
        li_skip_backward(l);
    }
    li_moved(l);
}

/* First table of lv whose largest key >= key. */
static size_t level_find(const ver_level *lv, const uint8_t *k, size_t n)
{
    size_t lo = 0, hi = lv->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        ver_table *t = lv->tables[mid];
        if (key_cmp(t->largest, t->largest_len, k, n) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t li_find(level_ii *l, const uint8_t *k, size_t n) { return level_find(l->level, k, n); }

static void li_seek(iiter *i, const uint8_t *k, size_t n, uint64_t s)
{
    level_ii *l = (level_ii *)i;
    size_t idx = li_find(l, k, n);
    if (li_open(l, idx)) {
        tbl_iter_seek(l->cur, k, n, s);
        li_skip_forward(l);
    } else if (l->cur) {
        tbl_iter_free(l->cur);
        l->cur = NULL;
    }
    li_moved(l);
}

static void li_seek_for_prev(iiter *i, const uint8_t *k, size_t n, uint64_t s)
{
    level_ii *l = (level_ii *)i;
    size_t idx = li_find(l, k, n);
    if (idx >= l->level->count) {
        li_last(i);
        return;
    }
    if (li_open(l, idx)) {
        tbl_iter_seek_for_prev(l->cur, k, n, s);
        li_skip_backward(l);
    }
    li_moved(l);
}

static void li_next(iiter *i)
{
    level_ii *l = (level_ii *)i;
    if (!l->cur)
        return;
    tbl_iter_next(l->cur);
    li_skip_forward(l);
    li_moved(l);
}

static void li_prev(iiter *i)
{
    level_ii *l = (level_ii *)i;
    if (!l->cur)
        return;
    tbl_iter_prev(l->cur);
    li_skip_backward(l);
    li_moved(l);
}

static int li_status(const iiter *i, tind_err *err)
{
    const level_ii *l = (const level_ii *)i;
    if (l->status) {
        if (err)
            *err = l->err;
        return l->status;
    }
    return l->cur ? tbl_iter_status(l->cur, err) : TIND_OK;
}

static void li_free(iiter *i)
{
    level_ii *l = (level_ii *)i;
    if (l->cur)
        tbl_iter_free(l->cur);
    free(l->own.tables);
    version_unref(l->v);
    free(l);
}

static const iiter_ops level_ii_ops = {
    li_first, li_last, li_seek, li_seek_for_prev, li_next, li_prev, li_status, li_free,
};

int level_iiter_new(tind_db *db, version *v, int level, int fill_cache, iiter **out)
{
    level_ii *l = calloc(1, sizeof *l);
    if (!l)
        return TIND_ENOMEM;
    l->base.ops = &level_ii_ops;
    l->db = db;
    l->v = v;
    version_ref(v);
    l->level = &v->levels[level];
    l->level_no = level;
    l->fill_cache = fill_cache;
    *out = &l->base;
    return TIND_OK;
}

/* ------------------------------------------------------------------ a scan */

/* 1 when the key range of t lies wholly outside [prefix, succ(prefix)):
 * below the prefix, or above every key that starts with it. */
static int scan_outside(const ks_pscan *scan, const ver_table *t)
{
    if (key_cmp(t->largest, t->largest_len, scan->prefix, scan->len) < 0)
        return 1;
    return !(t->smallest_len >= scan->len && memcmp(t->smallest, scan->prefix, scan->len) == 0) &&
           key_cmp(t->smallest, t->smallest_len, scan->prefix, scan->len) > 0;
}

/* 1 when table t (of `level`) may hold keys of the scan's prefix. A table
 * that cannot be opened is kept: the scan reports its error. */
static int scan_keeps(tind_keyspace *ks, const ks_pscan *scan, ver_table *vt, int level)
{
    if (scan_outside(scan, vt)) {
        /* no key of the table can start with the prefix: skipped unopened */
        atomic_fetch_add_explicit(&ks->prefix_checked, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&ks->prefix_skipped, 1, memory_order_relaxed);
        return 0;
    }
    tbl *t;
    tind_err e;
    if (db_table_reader(ks->db, vt, level, &t, &e) != TIND_OK)
        return 1;
    int keep = tbl_may_contain_prefix(t, scan->name, scan->prefix, scan->len);
    if (tbl_prefix_name(t)[0]) {
        atomic_fetch_add_explicit(&ks->prefix_checked, 1, memory_order_relaxed);
        if (!keep)
            atomic_fetch_add_explicit(&ks->prefix_skipped, 1, memory_order_relaxed);
    }
    return keep;
}

/* A level iterator over the tables of `level` that overlap the scan's
 * prefix and may hold it; *out = NULL when there are none. */
static int scan_level_iiter(tind_keyspace *ks, version *v, int level, const ks_pscan *scan, int fill_cache,
                            iiter **out)
{
    ver_level *lv = &v->levels[level];
    *out = NULL;
    size_t first = level_find(lv, scan->prefix, scan->len);
    ver_table **keep = malloc((lv->count - first + 1) * sizeof *keep);
    if (!keep)
        return TIND_ENOMEM;
    size_t n = 0;
    for (size_t i = first; i < lv->count; i++) {
        ver_table *t = lv->tables[i];
        if (scan_outside(scan, t))
            break;   /* past the prefix (level_find skipped the tables below it) */
        if (scan_keeps(ks, scan, t, level))
            keep[n++] = t;
    }
    if (n == 0) {
        free(keep);
        return TIND_OK;
    }
    int rc = level_iiter_new(ks->db, v, level, fill_cache, out);
    if (rc) {
        free(keep);
        return rc;
    }
    level_ii *l = (level_ii *)*out;
    l->own.tables = keep;
    l->own.count = n;
    l->level = &l->own;
    return TIND_OK;
}

/* ------------------------------------------------------------------ a view */

int view_iter_new_scan(tind_keyspace *ks, ks_view *view, int fill_cache, const ks_pscan *scan, int *with_active,
                       iiter **out, tind_err *err)
{
    if (scan && !scan->active)
        scan = NULL;
    version *v = view->v;
    size_t cap = 1 + view->sealed_count + v->levels[0].count + (size_t)v->level_count;
    iiter **children = calloc(cap, sizeof *children);
    if (!children)
        return TIND_ENOMEM;
    size_t n = 0;
    int rc = TIND_OK;
    /* An empty memtable adds nothing a reader at a seqno taken before this
     * call can see: left out, a keyspace at rest is read with no merge at
     * all (ii_merge_new of one child is the child). */
    *with_active = !mt_empty(view->active);
    if (*with_active && !(children[n++] = mt_iiter_new(view->active)))
        rc = TIND_ENOMEM;
    for (size_t i = 0; !rc && i < view->sealed_count; i++)
        if (!mt_empty(view->sealed[i]) && !(children[n++] = mt_iiter_new(view->sealed[i])))
            rc = TIND_ENOMEM;
    for (size_t i = 0; !rc && i < v->levels[0].count; i++) {
        tbl *t;
        if (scan && !scan_keeps(ks, scan, v->levels[0].tables[i], 0))
            continue;
        rc = db_table_reader(ks->db, v->levels[0].tables[i], 0, &t, err);
        if (!rc)
            rc = tbl_iiter_new(t, fill_cache, &children[n]);
        if (!rc)
            n++;
    }
    for (int l = 1; !rc && l < v->level_count; l++) {
        if (!v->levels[l].count)
            continue;
        if (scan)
            rc = scan_level_iiter(ks, v, l, scan, fill_cache, &children[n]);
        else
            rc = level_iiter_new(ks->db, v, l, fill_cache, &children[n]);
        if (!rc && children[n])
            n++;
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            ii_free(children[i]);
        free(children);
        return rc;
    }
    return ii_merge_new(children, n, out);
}
