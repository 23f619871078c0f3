/*
 * adapters.c -- internal iterator adapters over a memtable and over a table
 * (iter/adapters.h). Each adapter holds the underlying cursor, which holds a
 * reference on what it reads, so it stays valid however long it lives.
 */
#include <stdlib.h>

#include "iter/adapters.h"

/* ------------------------------------------------------------------ memtable */

typedef struct mt_ii {
    iiter base;
    mt_iter *it;
    ientry e;
} mt_ii;

/* Publishes the node the cursor is on (iiter.cur). */
static void mi_moved(mt_ii *i)
{
    if (!mt_iter_valid(i->it)) {
        i->base.cur = NULL;
        return;
    }
    i->e.key = mt_iter_key(i->it, &i->e.klen);
    i->e.value = mt_iter_value(i->it, &i->e.vlen);
    i->e.seqno = mt_iter_seqno(i->it);
    i->e.type = mt_iter_type(i->it);
    i->base.cur = &i->e;
}

#define MT_II(i) ((mt_ii *)(i))
static void mi_first(iiter *i) { mt_iter_first(MT_II(i)->it); mi_moved(MT_II(i)); }
static void mi_last(iiter *i) { mt_iter_last(MT_II(i)->it); mi_moved(MT_II(i)); }
static void mi_seek(iiter *i, const uint8_t *k, size_t n, uint64_t s)
{
    mt_iter_seek(MT_II(i)->it, k, n, s);
    mi_moved(MT_II(i));
}
static void mi_seek_for_prev(iiter *i, const uint8_t *k, size_t n, uint64_t s)
{
    mt_iter_seek_for_prev(MT_II(i)->it, k, n, s);
    mi_moved(MT_II(i));
}
static void mi_next(iiter *i) { mt_iter_next(MT_II(i)->it); mi_moved(MT_II(i)); }
static void mi_prev(iiter *i) { mt_iter_prev(MT_II(i)->it); mi_moved(MT_II(i)); }
static int mi_status(const iiter *i, tind_err *err)
{
    (void)i, (void)err;
    return TIND_OK;
}
static void mi_free(iiter *i)
{
    mt_iter_free(MT_II(i)->it);
    free(i);
}

static const iiter_ops mt_ii_ops = {
    mi_first, mi_last, mi_seek, mi_seek_for_prev, mi_next, mi_prev, mi_status, mi_free,
};

iiter *mt_iiter_new(memtable *m)
{
    mt_ii *i = malloc(sizeof *i);
    if (!i)
        return NULL;
    i->base.ops = &mt_ii_ops;
    i->base.cur = NULL;
    i->it = mt_iter_new(m);
    if (!i->it) {
        free(i);
        return NULL;
    }
    return &i->base;
}

/* ------------------------------------------------------------------ table */

typedef struct tbl_ii {
    iiter base;
    tbl_iter *it;
} tbl_ii;

#define TBL_II(i) ((tbl_ii *)(i))
static void ti_moved(tbl_ii *i) { i->base.cur = tbl_iter_entry(i->it); }
static void ti_first(iiter *i) { tbl_iter_first(TBL_II(i)->it); ti_moved(TBL_II(i)); }
static void ti_last(iiter *i) { tbl_iter_last(TBL_II(i)->it); ti_moved(TBL_II(i)); }
static void ti_seek(iiter *i, const uint8_t *k, size_t n, uint64_t s)
{
    tbl_iter_seek(TBL_II(i)->it, k, n, s);
    ti_moved(TBL_II(i));
}
static void ti_seek_for_prev(iiter *i, const uint8_t *k, size_t n, uint64_t s)
{
    tbl_iter_seek_for_prev(TBL_II(i)->it, k, n, s);
    ti_moved(TBL_II(i));
}
static void ti_next(iiter *i) { tbl_iter_next(TBL_II(i)->it); ti_moved(TBL_II(i)); }
static void ti_prev(iiter *i) { tbl_iter_prev(TBL_II(i)->it); ti_moved(TBL_II(i)); }
static int ti_status(const iiter *i, tind_err *err) { return tbl_iter_status(((const tbl_ii *)i)->it, err); }
static void ti_free(iiter *i)
{
    tbl_iter_free(TBL_II(i)->it);
    free(i);
}

static const iiter_ops tbl_ii_ops = {
    ti_first, ti_last, ti_seek, ti_seek_for_prev, ti_next, ti_prev, ti_status, ti_free,
};

int tbl_iiter_new(tbl *t, int fill_cache, iiter **out)
{
    tbl_ii *i = malloc(sizeof *i);
    if (!i)
        return TIND_ENOMEM;
    i->base.ops = &tbl_ii_ops;
    i->base.cur = NULL;
    int rc = tbl_iter_new(t, &i->it);
    if (rc) {
        free(i);
        return rc;
    }
    tbl_iter_set_fill_cache(i->it, fill_cache);
    *out = &i->base;
    return TIND_OK;
}
