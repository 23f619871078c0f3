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
} mt_ii;

static void mi_first(iiter *i) { mt_iter_first(((mt_ii *)i)->it); }
static void mi_last(iiter *i) { mt_iter_last(((mt_ii *)i)->it); }
static void mi_seek(iiter *i, const uint8_t *k, size_t n, uint64_t s) { mt_iter_seek(((mt_ii *)i)->it, k, n, s); }
static void mi_seek_for_prev(iiter *i, const uint8_t *k, size_t n, uint64_t s)
{
    mt_iter_seek_for_prev(((mt_ii *)i)->it, k, n, s);
}
static void mi_next(iiter *i) { mt_iter_next(((mt_ii *)i)->it); }
static void mi_prev(iiter *i) { mt_iter_prev(((mt_ii *)i)->it); }
static int mi_valid(const iiter *i) { return mt_iter_valid(((const mt_ii *)i)->it); }
static const uint8_t *mi_key(const iiter *i, size_t *n) { return mt_iter_key(((const mt_ii *)i)->it, n); }
static uint64_t mi_seqno(const iiter *i) { return mt_iter_seqno(((const mt_ii *)i)->it); }
static uint8_t mi_type(const iiter *i) { return mt_iter_type(((const mt_ii *)i)->it); }
static const uint8_t *mi_value(const iiter *i, size_t *n) { return mt_iter_value(((const mt_ii *)i)->it, n); }
static int mi_status(const iiter *i, tind_err *err) { return TIND_OK; }
static void mi_free(iiter *i)
{
    mt_iter_free(((mt_ii *)i)->it);
    free(i);
}

static const iiter_ops mt_ii_ops = {
    mi_first, mi_last, mi_seek, mi_seek_for_prev, mi_next, mi_prev, mi_valid,
    mi_key, mi_seqno, mi_type, mi_value, mi_status, mi_free,
};

iiter *mt_iiter_new(memtable *m)
{
    mt_ii *i = malloc(sizeof *i);
    if (!i)
        return NULL;
    i->base.ops = &mt_ii_ops;
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

static void ti_first(iiter *i) { tbl_iter_first(((tbl_ii *)i)->it); }
static void ti_last(iiter *i) { tbl_iter_last(((tbl_ii *)i)->it); }
static void ti_seek(iiter *i, const uint8_t *k, size_t n, uint64_t s) { tbl_iter_seek(((tbl_ii *)i)->it, k, n, s); }
static void ti_seek_for_prev(iiter *i, const uint8_t *k, size_t n, uint64_t s)
{
    tbl_iter_seek_for_prev(((tbl_ii *)i)->it, k, n, s);
}
static void ti_next(iiter *i) { tbl_iter_next(((tbl_ii *)i)->it); }
static void ti_prev(iiter *i) { tbl_iter_prev(((tbl_ii *)i)->it); }
static int ti_valid(const iiter *i) { return tbl_iter_valid(((const tbl_ii *)i)->it); }
static const uint8_t *ti_key(const iiter *i, size_t *n) { return tbl_iter_key(((const tbl_ii *)i)->it, n); }
static uint64_t ti_seqno(const iiter *i) { return tbl_iter_seqno(((const tbl_ii *)i)->it); }
static uint8_t ti_type(const iiter *i) { return tbl_iter_type(((const tbl_ii *)i)->it); }
static const uint8_t *ti_value(const iiter *i, size_t *n) { return tbl_iter_value(((const tbl_ii *)i)->it, n); }
static int ti_status(const iiter *i, tind_err *err) { return tbl_iter_status(((const tbl_ii *)i)->it, err); }
static void ti_free(iiter *i)
{
    tbl_iter_free(((tbl_ii *)i)->it);
    free(i);
}

static const iiter_ops tbl_ii_ops = {
    ti_first, ti_last, ti_seek, ti_seek_for_prev, ti_next, ti_prev, ti_valid,
    ti_key, ti_seqno, ti_type, ti_value, ti_status, ti_free,
};

int tbl_iiter_new_nofill(tbl *t, iiter **out)
{
    int rc = tbl_iiter_new(t, out);
    if (rc == TIND_OK)
        tbl_iter_set_fill_cache(((tbl_ii *)*out)->it, 0);
    return rc;
}

int tbl_iiter_new(tbl *t, iiter **out)
{
    tbl_ii *i = malloc(sizeof *i);
    if (!i)
        return TIND_ENOMEM;
    i->base.ops = &tbl_ii_ops;
    int rc = tbl_iter_new(t, &i->it);
    if (rc) {
        free(i);
        return rc;
    }
    *out = &i->base;
    return TIND_OK;
}
