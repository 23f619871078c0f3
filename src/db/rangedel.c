/*
 * rangedel.c -- which range tombstones of a view cover an entry
 * (db/rangedel.h): the point read's check and the cursor's.
 */
#include "db/rangedel.h"

#include <stdlib.h>
#include <string.h>

static int in_table(const ver_table *t, const uint8_t *key, size_t klen)
{
    return key_cmp(key, klen, t->smallest, t->smallest_len) >= 0 &&
           key_cmp(key, klen, t->largest, t->largest_len) <= 0;
}

/* The tombstones of table t (NULL when none); opens its reader. */
static int table_list(tind_db *db, ver_table *t, int level, const rt_list **out, tind_err *err)
{
    tbl *r;
    int rc = db_table_reader(db, t, level, &r, err);
    *out = rc ? NULL : tbl_range_tombstones(r);
    return rc;
}

/* 1 when every table of the level is open and holds no range tombstone
 * (a table not opened yet may hold some). */
static int level_known_clean(const ver_level *level)
{
    for (size_t i = 0; i < level->count; i++) {
        const tbl *rd = atomic_load_explicit(&level->tables[i]->reader_atomic, memory_order_acquire);
        if (!rd || tbl_range_tombstones(rd))
            return 0;
    }
    return 1;
}

/* Sets the bits of the levels of v now known clean; returns them all. */
static unsigned rd_learn(version *v, unsigned skip)
{
    unsigned add = 0;
    for (int lv = 0; lv < v->level_count; lv++)
        if (!(skip & (1u << lv)) && level_known_clean(&v->levels[lv]))
            add |= 1u << lv;
    if (add)
        atomic_fetch_or_explicit(&v->no_range_tombstones, add, memory_order_release);
    return skip | add;
}

enum { RD_LEARN_EVERY = 64 };
static _Thread_local unsigned rd_learn_tick;

int rd_get_covered(tind_keyspace *ks, ks_view *view, const uint8_t *key, size_t klen, uint64_t snapshot,
                   uint64_t found, tind_err *err)
{
    /* only a source holding a seqno above `found` can hold a tombstone
     * that deletes the entry */
    for (size_t i = 0; i <= view->sealed_count; i++) {
        memtable *m = i == 0 ? view->active : view->sealed[i - 1];
        if (mt_max_seqno(m) <= found)
            continue;
        rt_list *l;
        if (mt_range_tombstones(m, &l))
            return err_set(err, TIND_ENOMEM, "out of memory for range tombstones");
        uint64_t t = rt_list_cover(l, key, klen, snapshot);
        rt_list_unref(l);
        if (t > found)
            return 1;
    }
    version *v = view->v;
    /* levels known to hold no range tombstone (empty ones included) cost no
     * search: a point read's cost (issue 15). The bits are learnt here too,
     * one try in RD_LEARN_EVERY reads of a thread (a level whose tables are
     * not all open yet, or that holds a tombstone, costs a walk per try) */
    unsigned skip = atomic_load_explicit(&v->no_range_tombstones, memory_order_acquire);
    unsigned all = v->level_count >= 32 ? ~0u : (1u << v->level_count) - 1;
    if ((skip & all) != all && ++rd_learn_tick % RD_LEARN_EVERY == 0)
        skip = rd_learn(v, skip);
    if ((skip & all) == all)
        return 0;
    for (int lv = 0; lv < v->level_count; lv++) {
        ver_level *level = &v->levels[lv];
        size_t from = 0, to = level->count;
        if (!to || (skip & (1u << lv)))
            continue;
        if (lv > 0) {
            int idx = version_find_level_table(v, lv, key, klen);
            if (idx < 0)
                continue;
            from = (size_t)idx;
            to = from + 1;
        }
        for (size_t i = from; i < to; i++) {
            ver_table *t = level->tables[i];
            if (t->max_seqno <= found || t->min_seqno > snapshot || !in_table(t, key, klen))
                continue;
            const rt_list *l;
            int rc = table_list(ks->db, t, lv, &l, err);
            if (rc)
                return rc;
            if (rt_list_cover(l, key, klen, snapshot) > found)
                return 1;
        }
    }
    return 0;
}

/* key lies after table gap - 1 and before table gap of the level */
static int gap_holds(const ver_level *level, size_t gap, const uint8_t *key, size_t klen)
{
    if (gap > 0) {
        const ver_table *p = level->tables[gap - 1];
        if (key_cmp(key, klen, p->largest, p->largest_len) <= 0)
            return 0;
    }
    if (gap < level->count) {
        const ver_table *n = level->tables[gap];
        if (key_cmp(key, klen, n->smallest, n->smallest_len) >= 0)
            return 0;
    }
    return 1;
}

int rd_view_init(rd_view *r, tind_keyspace *ks, ks_view *view, uint64_t snapshot, tind_err *err)
{
    memset(r, 0, sizeof *r);
    r->db = ks->db;
    r->v = view->v;
    r->snapshot = snapshot;
    /* the arrays are made when a first list turns up: a cursor's refresh
     * over sources with no tombstone (the common case) allocates nothing */
    for (size_t i = 0; i <= view->sealed_count; i++) {
        memtable *m = i == 0 ? view->active : view->sealed[i - 1];
        rt_list *l;
        if (mt_range_tombstones(m, &l))
            return err_set(err, TIND_ENOMEM, "out of memory for range tombstones");
        if (l && !r->lists && !(r->lists = malloc((view->sealed_count + 1) * sizeof *r->lists))) {
            rt_list_unref(l);
            return err_set(err, TIND_ENOMEM, "out of memory for range tombstones");
        }
        if (l)
            r->lists[r->nlists++] = l;
    }
    /* levels >= 1 known to hold none are skipped per entry (a scan's cost);
     * what is learnt is kept in the version for the next cursor */
    r->skip = atomic_load_explicit(&view->v->no_range_tombstones, memory_order_acquire);
    for (int lv = 1; lv < view->v->level_count; lv++)
        if (!(r->skip & (1u << lv)) && level_known_clean(&view->v->levels[lv])) {
            r->skip |= 1u << lv;
            atomic_fetch_or_explicit(&view->v->no_range_tombstones, 1u << lv, memory_order_release);
        }
    ver_level *l0 = &view->v->levels[0];
    for (size_t i = 0; i < l0->count; i++) {
        if (l0->tables[i]->min_seqno > snapshot)
            continue;
        const rt_list *l;
        int rc = table_list(ks->db, l0->tables[i], 0, &l, err);
        if (rc)
            return rc;
        if (l && !r->l0 && !(r->l0 = malloc(l0->count * sizeof *r->l0)))
            return err_set(err, TIND_ENOMEM, "out of memory for range tombstones");
        if (l)
            r->l0[r->nl0++] = l;
    }
    /* a scan's common case: no tombstone anywhere, nothing to check per entry */
    r->none = r->nlists == 0 && r->nl0 == 0;
    for (int lv = 1; r->none && lv < view->v->level_count; lv++)
        if (view->v->levels[lv].count && !(r->skip & (1u << lv)))
            r->none = 0;
    return TIND_OK;
}

void rd_view_free(rd_view *r)
{
    for (size_t i = 0; i < r->nlists; i++)
        rt_list_unref(r->lists[i]);
    free(r->lists);
    free(r->l0);
    memset(r, 0, sizeof *r);
}

int rd_covered(rd_view *r, const uint8_t *key, size_t klen, uint64_t seqno, tind_err *err)
{
    if (r->none)
        return 0;
    for (size_t i = 0; i < r->nlists; i++)
        if (rt_list_cover(r->lists[i], key, klen, r->snapshot) > seqno)
            return 1;
    for (size_t i = 0; i < r->nl0; i++)
        if (rt_list_cover(r->l0[i], key, klen, r->snapshot) > seqno)
            return 1;
    for (int lv = 1; lv < r->v->level_count; lv++) {
        rd_level *c = &r->levels[lv];
        ver_level *level = &r->v->levels[lv];
        if (!level->count || (r->skip & (1u << lv)))
            continue;
        if (c->in_gap && gap_holds(level, c->gap, key, klen))
            continue; /* still between the same two tables: a scan's common case */
        if (!c->table || !in_table(c->table, key, klen)) {
            int idx = version_find_level_table(r->v, lv, key, klen);
            c->table = NULL;
            c->in_gap = idx < 0;
            if (idx < 0) {
                /* the first table whose largest key is >= key: key is before it */
                size_t lo = 0, hi = level->count;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    const ver_table *t = level->tables[mid];
                    if (key_cmp(t->largest, t->largest_len, key, klen) < 0)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                c->gap = lo;
                continue;
            }
            c->table = level->tables[idx];
            int rc = table_list(r->db, c->table, lv, &c->list, err);
            if (rc) {
                c->table = NULL;
                return rc;
            }
        }
        if (c->list && c->table->max_seqno > seqno && rt_list_cover(c->list, key, klen, r->snapshot) > seqno)
            return 1;
    }
    return 0;
}
