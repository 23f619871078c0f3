/*
 * dbiter.c -- the user's cursor (tind_iter): turns the merged internal
 * stream (every version of every key) into the keys a reader at one
 * sequence number sees: the newest visible version of each key, tombstoned
 * keys hidden, within [lo, hi). LevelDB's DBIter design:
 *
 *   forward:  the internal iterator sits ON the entry that gives the current
 *             key and value;
 *   backward: the internal iterator sits just BEFORE all entries of the
 *             current key; key and value are copies (saved_key/saved_value).
 *
 * The iterator holds the keyspace view it was made from, so memtables and
 * tables it reads stay alive; it is used by one thread.
 */
#include <stdlib.h>
#include <string.h>

#include "db/iters.h"
#include "db/rangedel.h"
#include "db/merge.h"
#include "db/txn.h"

struct tind_iter {
    tind_keyspace *ks;
    ks_view *view;
    iiter *in;
    uint64_t seq;
    tbuf lo, hi;
    int has_lo, has_hi;
    int in_txn;              /* merges a transaction's write set (txn.h) */
    int fixed;               /* reads a snapshot or a transaction: tind_iter_refresh refuses */
    int with_active;         /* the view's active memtable is in `in` (view_iter_new_scan) */
    txn_cover *cover;        /* what it covered, for the transaction's commit (NULL: untracked) */
    int forward;
    int valid;
    tbuf saved_key;
    tbuf saved_value;
    uint8_t saved_type;           /* ENTRY_VALUE or ENTRY_BLOB (saved_value is then a pointer) */
    int fill_cache;
    tbuf blob_value;              /* the current blob, loaded by tind_iter_value */
    int status;
    tind_err err;
    rd_view rdel;                 /* range tombstones (db/rangedel.h) */
    /* merge operands (db/merge.c): forward, a merged key's key and value
     * are copies (merged = 1; the inner cursor has gone past its operands) */
    merge_list ops;
    tbuf merged_key;
    tbuf merged_value;
    int merged;
};

static int below_lo(tind_iter *it, const uint8_t *k, size_t n)
{
    return it->has_lo && key_cmp(k, n, it->lo.data, it->lo.len) < 0;
}

static int at_or_above_hi(tind_iter *it, const uint8_t *k, size_t n)
{
    return it->has_hi && key_cmp(k, n, it->hi.data, it->hi.len) >= 0;
}

/* An entry at or below the read's seqno, or a transaction's own write. */
static int visible(const tind_iter *it, uint64_t seq)
{
    return seq <= it->seq || seq >= TXN_SEQNO_BASE;
}

static void cover_grow(tind_iter *it, int backward)
{
    if (it->valid) {
        size_t n;
        const void *k = tind_iter_key(it, &n);
        txn_cover_key(it->cover, k, n);
    } else if (backward) {
        txn_cover_to_lo(it->cover);
    } else {
        txn_cover_to_hi(it->cover);
    }
}

/* After a move: the span a transaction's iterator covered grows by the key
 * it stands on, or through the bound it ran off (backward: the lower). In
 * line: an iterator outside a transaction (the usual one) has nothing to do. */
static inline void cover_moved(tind_iter *it, int backward)
{
    if (it->cover && !it->status)
        cover_grow(it, backward);
}

static void set_error(tind_iter *it, int rc)
{
    it->status = rc;
    it->valid = 0;
}

/* A seek to a NULL key with a length: the iterator fails with TIND_EINVAL
 * (a void call has no other way to say it). */
static int seek_key_bad(tind_iter *it, const void *key, size_t klen)
{
    if (key || !klen)
        return 0;
    err_set(&it->err, TIND_EINVAL, "seek to a NULL key with length %zu", klen);
    set_error(it, TIND_EINVAL);
    return 1;
}

static int check_inner(tind_iter *it)
{
    if (!ii_valid(it->in)) {
        int rc = ii_status(it->in, &it->err);
        if (rc) {
            set_error(it, rc);
            return 0;
        }
    }
    return 1;
}

static uint8_t entry_type_covered(tind_iter *it, const uint8_t *k, size_t n, uint8_t type)
{
    int rc = rd_covered(&it->rdel, k, n, ii_seqno(it->in), &it->err);
    if (rc < 0)
        set_error(it, rc);
    return rc ? ENTRY_TOMBSTONE : type;
}

/* The entry's type, ENTRY_TOMBSTONE when a range tombstone deletes it (in
 * line: with no range tombstone, the usual case, it is a load per step). */
static inline uint8_t entry_type(tind_iter *it, const uint8_t *k, size_t n)
{
    uint8_t type = ii_type(it->in);
    if (it->rdel.none || type == ENTRY_TOMBSTONE || type == ENTRY_SINGLE_DELETE)
        return type;
    return entry_type_covered(it, k, n, type);
}

/* ks_merge_read's next older entry: the inner cursor's next visible entry
 * of the merged key. */
static int iter_older(void *ctx, uint8_t *type, uint64_t *seqno, const uint8_t **val, size_t *vlen, tind_err *err)
{
    tind_iter *it = ctx;
    for (;;) {
        ii_next(it->in);
        if (!ii_valid(it->in)) {
            int rc = ii_status(it->in, err);
            return rc ? rc : TIND_NOT_FOUND;
        }
        size_t n;
        const uint8_t *k = ii_key(it->in, &n);
        if (key_cmp(k, n, it->merged_key.data, it->merged_key.len) != 0)
            return TIND_NOT_FOUND;
        if (!visible(it, ii_seqno(it->in)))
            continue;
        *type = ii_type(it->in);
        *seqno = ii_seqno(it->in);
        *val = ii_value(it->in, vlen);
        if (*type == ENTRY_TOMBSTONE || *type == ENTRY_SINGLE_DELETE)
            return TIND_OK;
        /* under a range tombstone: the operands above merge with no base */
        int rc = rd_covered(&it->rdel, k, n, *seqno, err);
        if (rc > 0)
            *type = ENTRY_TOMBSTONE;
        if (rc < 0)
            return rc;
        if (*type == ENTRY_BLOB) {
            /* a separated base value: merged as the value, never the pointer */
            rc = ks_blob_load(it->ks, it->view->v, *val, *vlen, it->fill_cache, &it->blob_value, err);
            if (rc)
                return rc;
            *type = ENTRY_VALUE;
            *val = it->blob_value.data ? it->blob_value.data : (const uint8_t *)"";
            *vlen = it->blob_value.len;
        }
        return TIND_OK;
    }
}

/* Forward: the inner cursor sits on the newest visible operand of a key:
 * merges it with what lies under it. 0 on success, or the error. */
static int merge_forward(tind_iter *it, const uint8_t *k, size_t n)
{
    merge_list_reset(&it->ops);
    size_t vn;
    const uint8_t *v = ii_value(it->in, &vn);
    if (tbuf_set(&it->merged_key, k, n) || merge_list_add(&it->ops, v, vn, ii_seqno(it->in)))
        return err_set(&it->err, TIND_ENOMEM, "out of memory merging operands");
    int rc = ks_merge_read(it->ks, it->merged_key.data, it->merged_key.len, &it->ops, iter_older, it,
                           &it->merged_value, &it->err);
    merge_list_reset(&it->ops);
    if (rc == TIND_OK)
        it->merged = 1;
    return rc;
}

static void find_next_user_entry(tind_iter *it, int skipping)
{
    it->merged = 0;
    /* it->saved_key holds the key to skip when skipping */
    while (ii_valid(it->in)) {
        size_t n;
        const uint8_t *k = ii_key(it->in, &n);
        if (at_or_above_hi(it, k, n))
            break;
        if (visible(it, ii_seqno(it->in))) {
            uint8_t type = entry_type(it, k, n);
            if (it->status)
                return;
            if (type == ENTRY_MERGE && !(skipping && key_cmp(k, n, it->saved_key.data, it->saved_key.len) <= 0)) {
                int rc = merge_forward(it, k, n);
                if (rc) {
                    set_error(it, rc);
                    return;
                }
                it->valid = 1;
                tbuf_reset(&it->saved_key);
                return;
            }
            if (type == ENTRY_TOMBSTONE || type == ENTRY_SINGLE_DELETE) {
                if (tbuf_set(&it->saved_key, k, n)) {
                    set_error(it, TIND_ENOMEM);
                    return;
                }
                skipping = 1;
            } else if (type == ENTRY_VALUE || type == ENTRY_BLOB) {
                if (!(skipping && key_cmp(k, n, it->saved_key.data, it->saved_key.len) <= 0)) {
                    it->valid = 1;
                    tbuf_reset(&it->saved_key);
                    return;
                }
            }
        }
        ii_next(it->in);
    }
    check_inner(it);
    it->valid = 0;
    tbuf_reset(&it->saved_key);
}

static void find_prev_user_entry(tind_iter *it)
{
    uint8_t value_type = ENTRY_TOMBSTONE;
    int has_base = 0;    /* merge operands lie over a value (saved_value) */
    it->merged = 0;
    merge_list_reset(&it->ops);
    while (ii_valid(it->in)) {
        size_t n;
        const uint8_t *k = ii_key(it->in, &n);
        if (below_lo(it, k, n))
            break;
        if (visible(it, ii_seqno(it->in))) {
            if (value_type != ENTRY_TOMBSTONE && key_cmp(k, n, it->saved_key.data, it->saved_key.len) < 0)
                break; /* a live value of a later key is complete */
            value_type = entry_type(it, k, n);
            if (it->status)
                return;
            if (value_type == ENTRY_SINGLE_DELETE)
                value_type = ENTRY_TOMBSTONE;
            if (value_type != ENTRY_MERGE)
                merge_list_reset(&it->ops);
            if (value_type == ENTRY_TOMBSTONE) {
                tbuf_reset(&it->saved_key);
                tbuf_reset(&it->saved_value);
                has_base = 0;
            } else if (value_type == ENTRY_MERGE) {
                /* oldest first: over the value saved, if any */
                size_t vn;
                const uint8_t *v = ii_value(it->in, &vn);
                if (tbuf_set(&it->saved_key, k, n) || merge_list_add(&it->ops, v, vn, ii_seqno(it->in))) {
                    set_error(it, TIND_ENOMEM);
                    return;
                }
            } else {
                has_base = 1;
                size_t vn;
                const uint8_t *v = ii_value(it->in, &vn);
                it->saved_type = value_type;
                if (tbuf_set(&it->saved_key, k, n) || tbuf_set(&it->saved_value, v, vn)) {
                    set_error(it, TIND_ENOMEM);
                    return;
                }
            }
        }
        ii_prev(it->in);
    }
    if (!check_inner(it))
        return;
    if (value_type == ENTRY_MERGE) {
        tbuf out = {0};
        const tbuf *base = &it->saved_value;
        if (has_base && it->saved_type == ENTRY_BLOB) {
            /* a separated base value: merged as the value, never the pointer */
            int rc = ks_blob_load(it->ks, it->view->v, it->saved_value.data, it->saved_value.len, it->fill_cache,
                                  &it->blob_value, &it->err);
            if (rc) {
                merge_list_reset(&it->ops);
                set_error(it, rc);
                return;
            }
            base = &it->blob_value;
        }
        it->saved_type = ENTRY_VALUE;
        int rc = ks_merge_values(it->ks, it->saved_key.data, it->saved_key.len, base->data, base->len, has_base,
                                 &it->ops, 0, &out, &it->err);
        merge_list_reset(&it->ops);
        if (rc) {
            tbuf_free(&out);
            set_error(it, rc);
            return;
        }
        tbuf_free(&it->saved_value);
        it->saved_value = out;
    }
    if (value_type == ENTRY_TOMBSTONE) {
        it->valid = 0;
        tbuf_reset(&it->saved_key);
        tbuf_reset(&it->saved_value);
        it->forward = 1;
    } else {
        it->valid = 1;
    }
}

TIND_API void tind_iter_first(tind_iter *it)
{
    if (!it || it->status)
        return;
    it->forward = 1;
    tbuf_reset(&it->saved_value);
    if (it->has_lo)
        ii_seek(it->in, it->lo.data, it->lo.len, SEQNO_MAX);
    else
        ii_first(it->in);
    find_next_user_entry(it, 0);
    if (it->cover)
        txn_cover_to_lo(it->cover); /* it looked from the lower bound */
    cover_moved(it, 0);
}

TIND_API void tind_iter_last(tind_iter *it)
{
    if (!it || it->status)
        return;
    it->forward = 0;
    tbuf_reset(&it->saved_value);
    if (it->has_hi && it->hi.len == 0) {
        it->valid = 0;   /* below the empty key: nothing */
        return;
    }
    if (it->has_hi)
        ii_seek_for_prev(it->in, it->hi.data, it->hi.len, SEQNO_MAX);
    else
        ii_last(it->in);
    find_prev_user_entry(it);
    if (it->cover)
        txn_cover_to_hi(it->cover); /* it looked from the upper bound */
    cover_moved(it, 1);
}

TIND_API void tind_iter_seek(tind_iter *it, const void *key, size_t klen)
{
    if (!it || it->status || seek_key_bad(it, key, klen))
        return;
    if (!klen || below_lo(it, key, klen)) {
        tind_iter_first(it);
        return;
    }
    it->forward = 1;
    tbuf_reset(&it->saved_value);
    ii_seek(it->in, key, klen, it->in_txn ? SEQNO_MAX : it->seq);
    find_next_user_entry(it, 0);
    if (it->cover)
        txn_cover_key(it->cover, key, klen); /* it looked from the target */
    cover_moved(it, 0);
}

TIND_API void tind_iter_seek_for_prev(tind_iter *it, const void *key, size_t klen)
{
    if (!it || it->status || seek_key_bad(it, key, klen))
        return;
    if (!klen) {
        it->valid = 0;   /* no key is <= the empty key */
        return;
    }
    if (at_or_above_hi(it, key, klen)) {
        tind_iter_last(it);
        return;
    }
    it->forward = 0;
    tbuf_reset(&it->saved_value);
    ii_seek_for_prev(it->in, key, klen, 0);
    find_prev_user_entry(it);
    if (it->cover)
        txn_cover_key(it->cover, key, klen);
    cover_moved(it, 1);
}

static void iter_next(tind_iter *it)
{
    if (!it->forward) {
        /* the inner cursor is before the current key's entries: step into
         * them, then skip past them */
        it->forward = 1;
        if (!ii_valid(it->in)) {
            if (!check_inner(it))
                return;
            ii_first(it->in);
        } else {
            ii_next(it->in);
        }
        if (!ii_valid(it->in)) {
            check_inner(it);
            it->valid = 0;
            tbuf_reset(&it->saved_key);
            return;
        }
        /* saved_key holds the current key: skip it */
    } else if (it->merged) {
        /* the inner cursor is past the merged key's operands already */
        if (tbuf_set(&it->saved_key, it->merged_key.data, it->merged_key.len)) {
            set_error(it, TIND_ENOMEM);
            return;
        }
    } else {
        size_t n;
        const uint8_t *k = ii_key(it->in, &n);
        if (tbuf_set(&it->saved_key, k, n)) {
            set_error(it, TIND_ENOMEM);
            return;
        }
        ii_next(it->in);
    }
    find_next_user_entry(it, 1);
}

static void iter_prev(tind_iter *it)
{
    if (it->forward) {
        size_t n;
        const uint8_t *k = it->merged ? it->merged_key.data : ii_key(it->in, &n);
        if (it->merged)
            n = it->merged_key.len;
        if (tbuf_set(&it->saved_key, k, n)) {
            set_error(it, TIND_ENOMEM);
            return;
        }
        if (it->merged) {
            /* back onto the merged key's oldest entry, then before it */
            it->merged = 0;
            ii_seek_for_prev(it->in, it->saved_key.data, it->saved_key.len, 0);
            if (!ii_valid(it->in)) {
                check_inner(it);
                it->valid = 0;
                return;
            }
        }
        for (;;) {
            ii_prev(it->in);
            if (!ii_valid(it->in)) {
                check_inner(it);
                it->valid = 0;
                tbuf_reset(&it->saved_key);
                tbuf_reset(&it->saved_value);
                return;
            }
            size_t cn;
            const uint8_t *ck = ii_key(it->in, &cn);
            if (key_cmp(ck, cn, it->saved_key.data, it->saved_key.len) < 0)
                break;
        }
        it->forward = 0;
    }
    find_prev_user_entry(it);
}

TIND_API void tind_iter_next(tind_iter *it)
{
    if (!it || !it->valid)
        return;
    iter_next(it);
    cover_moved(it, 0);
}

TIND_API void tind_iter_prev(tind_iter *it)
{
    if (!it || !it->valid)
        return;
    iter_prev(it);
    cover_moved(it, 1);
}

/* tind_iter_valid's test, in line for the accessors (an exported function
 * is a call from inside the library too: it may be interposed). */
static inline int iter_on_key(const tind_iter *it) { return it && it->valid && !it->status; }

TIND_API int tind_iter_valid(const tind_iter *it) { return iter_on_key(it); }

TIND_API const void *tind_iter_key(const tind_iter *it, size_t *klen)
{
    size_t ignored;
    if (!klen)
        klen = &ignored;
    if (!iter_on_key(it))
        return NULL;
    if (it->forward && it->merged) {
        *klen = it->merged_key.len;
        return it->merged_key.data;
    }
    if (it->forward)
        return ii_key(it->in, klen);
    *klen = it->saved_key.len;
    return it->saved_key.data;
}

/* The current entry's type and raw value (a blob pointer for ENTRY_BLOB). */
static uint8_t current_raw(const tind_iter *it, const uint8_t **v, size_t *n)
{
    if (it->forward) {
        *v = ii_value(it->in, n);
        return ii_type(it->in);
    }
    *v = it->saved_value.data;
    *n = it->saved_value.len;
    return it->saved_type;
}

TIND_API const void *tind_iter_value(tind_iter *it, size_t *vlen)
{
    size_t ignored;
    if (!vlen)
        vlen = &ignored;
    if (!iter_on_key(it))
        return NULL;
    if (it->forward && it->merged) {
        *vlen = it->merged_value.len;
        return it->merged_value.data ? it->merged_value.data : (const uint8_t *)"";
    }
    const uint8_t *raw;
    size_t rawn;
    if (current_raw(it, &raw, &rawn) == ENTRY_BLOB) {
        /* key-value separation: loaded now, never by a move */
        int rc = ks_blob_load(it->ks, it->view->v, raw, rawn, it->fill_cache, &it->blob_value, &it->err);
        if (rc) {
            set_error(it, rc);
            *vlen = 0;
            return NULL;
        }
        *vlen = it->blob_value.len;
        return it->blob_value.data ? it->blob_value.data : (const uint8_t *)"";
    }
    if (it->forward) {
        const uint8_t *v = ii_value(it->in, vlen);
        return v ? v : (const uint8_t *)"";
    }
    *vlen = it->saved_value.len;
    return it->saved_value.data ? it->saved_value.data : (const uint8_t *)"";
}

TIND_API uint64_t tind_iter_value_size(const tind_iter *it)
{
    if (!iter_on_key(it))
        return 0;
    size_t n;
    if (it->forward && it->merged)
        return it->merged_value.len;
    const uint8_t *raw;
    if (current_raw(it, &raw, &n) == ENTRY_BLOB) {
        blob_ptr p;
        return blob_ptr_decode(raw, n, &p) == TIND_OK ? p.raw_size : 0;
    }
    return n;
}

TIND_API int tind_iter_status(const tind_iter *it)
{
    if (!it)
        return TIND_EINVAL;
    if (it->status && it->ks)
        db_fail(it->ks->db, it->status, &it->err);
    return it->status;
}

TIND_API void tind_iter_free(tind_iter *it)
{
    if (!it)
        return;
    tind_db *db = it->ks->db;
    ii_free(it->in);
    rd_view_free(&it->rdel);
    txn_cover_release(it->cover);
    ks_view_release(it->view);
    tbuf_free(&it->lo);
    tbuf_free(&it->hi);
    tbuf_free(&it->saved_key);
    tbuf_free(&it->saved_value);
    tbuf_free(&it->blob_value);
    merge_list_free(&it->ops);
    tbuf_free(&it->merged_key);
    tbuf_free(&it->merged_value);
    free(it);
    /* last: releasing the view may close tables, so close must wait for it */
    atomic_fetch_sub(&db->live_iterators, 1);
}

/* Checks the out-pointer and a bound of tind_iter_range / _prefix: NULL
 * is no bound, a non-NULL pointer with length 0 is the empty key. */
static int iter_args(tind_iter **out, const void *k, size_t n, const char *what, tind_err *err)
{
    if (!out)
        return err_set(err, TIND_EINVAL, "iterator out-pointer is NULL");
    *out = NULL;
    if (!k && n)
        return err_set(err, TIND_EINVAL, "NULL %s with length %zu", what, n);
    if (n > TIND_MAX_KEY_SIZE)
        return err_set(err, TIND_EINVAL, "%s of %zu bytes is over the key limit of %u", what, n, TIND_MAX_KEY_SIZE);
    return TIND_OK;
}

/* bounds: the cursor's [lo, hi) for prefix scans (ks_prefix_scan); NULL = none */
typedef struct iter_bounds {
    const uint8_t *lo, *hi;
    size_t lolen, hilen;
    int has_hi;
} iter_bounds;

/* What a cursor reads from a view: the merge of its sources (the tables
 * that scan lets it skip left out) and the range tombstones seen at seq.
 * On failure *in is NULL and *rdel freed. */
static int iter_build(tind_iter *it, ks_view *view, const ks_pscan *scan, uint64_t seq, iiter **in, rd_view *rdel,
                      int *with_active, tind_err *err)
{
    int rc = view_iter_new_scan(it->ks, view, it->fill_cache, scan, with_active, in, err);
    if (!rc && (rc = rd_view_init(rdel, it->ks, view, seq, err))) {
        ii_free(*in);
        *in = NULL;
    }
    if (rc)
        rd_view_free(rdel);
    return rc;
}

static int iter_new(tind_keyspace *ks, const tind_read_options *ro, const iter_bounds *b, tind_iter **out,
                    tind_err *err)
{
    int rc = ks_check_err(ks, err);
    if (rc)
        return rc;
    ks_pscan scan = {0};
    if (b)
        ks_prefix_scan(ks, b->lo, b->lolen, b->hi, b->hilen, b->has_hi, &scan);
    if ((rc = db_enter(ks->db)))
        return err_set(err, rc, "the database is closing or closed");
    tind_iter *it = calloc(1, sizeof *it);
    if (!it) {
        db_leave(ks->db);
        return err_set(err, TIND_ENOMEM, "out of memory for an iterator");
    }
    it->ks = ks;
    it->forward = 1;
    it->view = ks_view_acquire(ks); /* before the seqno: see ks_get (read.c) */
    it->seq = db_read_seqno(ks->db, ro);
    it->fixed = ro && (ro->txn || ro->snapshot);
    it->fill_cache = ro ? ro->fill_cache : 1;
    err_clear(&it->err);
    rc = iter_build(it, it->view, &scan, it->seq, &it->in, &it->rdel, &it->with_active, err);
    if (rc) {
        ks_view_release(it->view);
        free(it);
        db_leave(ks->db);
        return rc;
    }
    /* counted before leaving, so that close sees it once the call is out */
    atomic_fetch_add(&ks->db->live_iterators, 1);
    db_leave(ks->db);
    *out = it;
    return TIND_OK;
}

/* With a transaction in ro: its write set merged over the snapshot's
 * entries, and the bounds recorded in its read set (txn.h). */
static int iter_attach_txn(tind_iter *it, const tind_read_options *ro, tind_err *err)
{
    if (!ro || !ro->txn)
        return TIND_OK;
    memtable *ws;
    int rc = txn_read_range(ro, it->ks, it->lo.data, it->lo.len, it->has_lo, it->hi.data, it->hi.len, it->has_hi,
                            &ws, &it->cover, err);
    if (rc || !ws)
        return rc;
    iiter **children = calloc(2, sizeof *children);
    if (!children || !(children[1] = mt_iiter_new(ws))) {
        free(children);
        return err_set(err, TIND_ENOMEM, "out of memory for a transaction's iterator");
    }
    children[0] = it->in;
    it->in = NULL;
    rc = ii_merge_new(children, 2, &it->in);
    if (rc)
        return err_set(err, rc, "out of memory for a transaction's iterator");
    it->in_txn = 1;
    return TIND_OK;
}

static int iter_fail(tind_keyspace *ks, tind_iter *it, int rc, tind_err *err)
{
    if (rc == TIND_ENOMEM)
        err_set(err, rc, "out of memory for iterator bounds");
    tind_iter_free(it);
    return ks ? db_fail(ks->db, rc, err) : rc;
}

TIND_API int tind_iter_range(tind_keyspace *ks, const void *lo, size_t lolen, const void *hi, size_t hilen,
                             const tind_read_options *ro, tind_iter **out)
{
    tind_err err;
    err_clear(&err);
    tind_iter *it = NULL;
    int rc = iter_args(out, lo, lolen, "lower bound", &err);
    if (rc == TIND_OK)
        rc = iter_args(out, hi, hilen, "upper bound", &err);
    iter_bounds b = {lo, hi, lolen, hilen, hi != NULL};
    if (rc == TIND_OK)
        rc = iter_new(ks, ro, &b, &it, &err);
    if (rc)
        return iter_fail(ks, it, rc, &err);
    /* lo = "" is the smallest key: the same as no lower bound */
    if (lolen) {
        it->has_lo = 1;
        rc |= tbuf_set(&it->lo, lo, lolen);
    }
    /* hi = "" (non-NULL, length 0) is a bound that no key is below: empty */
    if (hi) {
        it->has_hi = 1;
        rc |= tbuf_set(&it->hi, hi, hilen);
    }
    if (rc)
        return iter_fail(ks, it, TIND_ENOMEM, &err);
    if ((rc = iter_attach_txn(it, ro, &err)))
        return iter_fail(ks, it, rc, &err);
    *out = it;
    return TIND_OK;
}

TIND_API int tind_iter_prefix(tind_keyspace *ks, const void *prefix, size_t plen, const tind_read_options *ro,
                              tind_iter **out)
{
    tind_err err;
    err_clear(&err);
    tind_iter *it = NULL;
    int rc = iter_args(out, prefix, plen, "prefix", &err);
    /* upper bound: the prefix with its last byte below 0xFF incremented */
    tbuf hi = TBUF_INIT;
    size_t n = rc == TIND_OK ? plen : 0;
    const uint8_t *p = prefix;
    while (n > 0 && p[n - 1] == 0xFF)
        n--;
    if (rc == TIND_OK && n > 0) {
        if (tbuf_set(&hi, prefix, n))
            rc = err_set(&err, TIND_ENOMEM, "out of memory for iterator bounds");
        else
            hi.data[n - 1]++;
    }
    iter_bounds b = {prefix, hi.data, plen, hi.len, n > 0};
    if (rc == TIND_OK)
        rc = iter_new(ks, ro, &b, &it, &err);
    if (rc) {
        tbuf_free(&hi);
        return iter_fail(ks, it, rc, &err);
    }
    if (plen) {
        it->has_lo = 1;
        rc |= tbuf_set(&it->lo, prefix, plen);
        if (n > 0) {
            it->has_hi = 1;
            it->hi = hi;        /* takes it */
            hi = (tbuf)TBUF_INIT;
        }
    }
    tbuf_free(&hi);
    if (rc)
        return iter_fail(ks, it, TIND_ENOMEM, &err);
    if ((rc = iter_attach_txn(it, ro, &err)))
        return iter_fail(ks, it, rc, &err);
    *out = it;
    return TIND_OK;
}

/* Re-targets the cursor to the newest state. While the keyspace's view is
 * the one it holds (no seal, flush or compaction since), the merge of its
 * sources stays as it is (the memtables' cursors see new entries; only the
 * read seqno and the memtables' range tombstones change); otherwise, or
 * after an error, or when the active memtable, empty and left out when the
 * merge was built, has entries now, the sources are rebuilt from the
 * current view. */
TIND_API int tind_iter_refresh(tind_iter *it)
{
    if (!it)
        return TIND_EINVAL;
    tind_keyspace *ks = it->ks;
    tind_err err;
    err_clear(&err);
    int rc = ks_check_err(ks, &err);
    if (!rc && it->fixed)
        rc = err_set(&err, TIND_EINVAL, "tind_iter_refresh: the iterator reads a snapshot or a transaction");
    if (rc)
        return db_fail(ks->db, rc, &err);
    if ((rc = db_enter(ks->db)))
        return rc;
    ks_view *view = ks_view_acquire(ks);
    uint64_t seq = db_read_seqno(ks->db, NULL);
    iiter *in = it->in;
    int with_active = it->with_active;
    rd_view rdel;
    memset(&rdel, 0, sizeof rdel);
    if (view != it->view || it->status || (!with_active && !mt_empty(view->active))) {
        ks_pscan scan;
        ks_prefix_scan(ks, it->lo.data, it->lo.len, it->hi.data, it->hi.len, it->has_hi, &scan);
        rc = iter_build(it, view, &scan, seq, &in, &rdel, &with_active, &err);
    } else {
        rc = rd_view_init(&rdel, ks, view, seq, &err);
        if (rc)
            rd_view_free(&rdel);
    }
    if (rc) {
        ks_view_release(view);
        db_leave(ks->db);
        return db_fail(ks->db, rc, &err); /* the iterator is as it was */
    }
    if (in != it->in) {
        ii_free(it->in);
        it->in = in;
    }
    rd_view_free(&it->rdel);
    it->rdel = rdel;
    ks_view_release(it->view); /* the same view: drops the ref just taken */
    it->view = view;
    it->with_active = with_active;
    it->seq = seq;
    it->status = TIND_OK;
    err_clear(&it->err);
    it->valid = 0;
    it->forward = 1;
    it->merged = 0;
    tbuf_reset(&it->saved_key);
    tbuf_reset(&it->saved_value);
    db_leave(ks->db);
    return TIND_OK;
}
