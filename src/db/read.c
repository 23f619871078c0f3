/*
 * read.c -- point reads and keyspace figures.
 *
 * A point read fixes its sequence number first (the snapshot's, or the
 * latest visible), then takes the keyspace's view, so that everything up to
 * that seqno is in the view's memtables or tables. It then looks, newest
 * first: the active memtable, sealed memtables (newest first), L0 tables
 * (newest first), then at most one table per deeper level. The first entry
 * found for the key decides: a value is returned, a tombstone means absent.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db/install.h"
#include "db/merge.h"
#include "db/rangedel.h"
#include "db/txn.h"

typedef struct lookup {
    uint8_t type;
    tbuf value;          /* the value when found in a table */
    const uint8_t *mval; /* the value when found in a memtable (view held) */
    size_t mlen;
    int in_table;
    uint64_t seq;        /* the entry's seqno */
    memtable *mt;        /* the memtable it was found in */
    int no_fill;         /* the read options' fill_cache off: blocks and blobs missed stay out */
} lookup;

/* TIND_OK (found an entry: value or tombstone, see lk->type), TIND_NOT_FOUND
 * (no entry), or an error. The view must be held while lk->mval is used. */
static int view_lookup(tind_keyspace *ks, ks_view *view, const uint8_t *key, size_t klen, uint64_t seq,
                       lookup *lk, tind_err *err)
{
    uint64_t *found_seq = &lk->seq;
    lk->in_table = 0;
    lk->mt = view->active;
    int rc = mt_get(view->active, key, klen, seq, &lk->type, found_seq, &lk->mval, &lk->mlen);
    if (rc != TIND_NOT_FOUND)
        return rc;
    for (size_t i = 0; i < view->sealed_count; i++) {
        lk->mt = view->sealed[i];
        rc = mt_get(view->sealed[i], key, klen, seq, &lk->type, found_seq, &lk->mval, &lk->mlen);
        if (rc != TIND_NOT_FOUND)
            return rc;
    }
    lk->mt = NULL;
    version *v = view->v;
    int last_level = -1;
    for (int l = v->level_count - 1; l >= 0; l--)
        if (v->levels[l].count) {
            last_level = l;
            break;
        }
    for (int l = 0; l < v->level_count; l++) {
        ver_level *lv = &v->levels[l];
        if (!lv->count)
            continue;
        int flags = (ks->opts.expect_point_read_hits && l == last_level ? 0 : TBL_GET_FILTER) |
                    (lk->no_fill ? TBL_GET_NO_FILL : 0);
        size_t from = 0, to = lv->count;
        if (l > 0) {
            int idx = version_find_level_table(v, l, key, klen);
            if (idx < 0)
                continue;
            from = (size_t)idx;
            to = from + 1;
        }
        for (size_t i = from; i < to; i++) {
            ver_table *t = lv->tables[i];
            if (key_cmp(key, klen, t->smallest, t->smallest_len) < 0 ||
                key_cmp(key, klen, t->largest, t->largest_len) > 0)
                continue;
            if (t->min_seqno > seq)
                continue; /* everything in it is newer than the read */
            tbl *r;
            rc = db_table_reader(ks->db, t, l, &r, err);
            if (rc)
                return rc;
            /* tbl_get searches with this buffer as its key buffer and copies
             * the value into it: room for both up front saves a realloc */
            if (!lk->value.cap && tbuf_reserve(&lk->value, 256))
                return err_set(err, TIND_ENOMEM, "out of memory for a read buffer");
            rc = tbl_get(r, key, klen, seq, flags, &lk->type, found_seq, &lk->value, err);
            if (rc != TIND_NOT_FOUND) {
                lk->in_table = 1;
                return rc;
            }
        }
    }
    return TIND_NOT_FOUND;
}

/* Merge operands at read time (db/merge.c): the next older entry of the key
 * is the view's newest entry below the last one found. Within a memtable an
 * iterator walks on from it (a hot key's operands cost one step each, not a
 * search from the top). */
typedef struct older_ctx {
    tind_keyspace *ks;
    ks_view *view;
    const uint8_t *key;
    size_t klen;
    lookup *lk;
    mt_iter *it;         /* on the last entry found in memtable it_mt */
    memtable *it_mt;
    uint64_t snap;       /* the read's snapshot, for range tombstones */
    tbuf blob;           /* a separated base value, loaded */
    int any_rt;          /* -1 unknown; 0: no range tombstone the read sees covers the key */
} older_ctx;

/* An older entry under a range tombstone is read as a tombstone: the
 * operands above it merge with no base. Whether any tombstone covers the
 * key at all is asked once (found = 0): when none does, no entry of the
 * walk needs the question. */
static int older_covered(older_ctx *c, uint8_t *type, uint64_t seqno, tind_err *err)
{
    if (*type == ENTRY_TOMBSTONE || *type == ENTRY_SINGLE_DELETE)
        return TIND_OK;
    if (c->any_rt < 0) {
        int any = rd_get_covered(c->ks, c->view, c->key, c->klen, c->snap, 0, err);
        if (any < 0)
            return any;
        c->any_rt = any;
    }
    if (!c->any_rt)
        return TIND_OK;
    int rc = rd_get_covered(c->ks, c->view, c->key, c->klen, c->snap, seqno, err);
    if (rc > 0)
        *type = ENTRY_TOMBSTONE;
    return rc < 0 ? rc : TIND_OK;
}

static int older_entry(void *ctx, uint8_t *type, uint64_t *seqno, const uint8_t **val, size_t *vlen, tind_err *err)
{
    older_ctx *c = ctx;
    lookup *lk = c->lk;
    if (lk->seq == 0)
        return TIND_NOT_FOUND;
    if (lk->mt) {
        if (c->it_mt != lk->mt) {
            mt_iter_free(c->it);
            c->it_mt = lk->mt;
            if (!(c->it = mt_iter_new(lk->mt)))
                return err_set(err, TIND_ENOMEM, "out of memory for a memtable iterator");
            mt_iter_seek(c->it, c->key, c->klen, lk->seq);
        }
        if (mt_iter_valid(c->it))
            mt_iter_next(c->it);
        size_t kn = 0;
        const uint8_t *k = mt_iter_valid(c->it) ? mt_iter_key(c->it, &kn) : NULL;
        if (k && key_cmp(k, kn, c->key, c->klen) == 0) {
            *type = lk->type = mt_iter_type(c->it);
            *seqno = lk->seq = mt_iter_seqno(c->it);
            *val = lk->mval = mt_iter_value(c->it, &lk->mlen);
            *vlen = lk->mlen;
            return older_covered(c, type, *seqno, err);
        }
    }
    int rc = view_lookup(c->ks, c->view, c->key, c->klen, lk->seq - 1, lk, err);
    if (rc)
        return rc;
    *type = lk->type;
    *seqno = lk->seq;
    *val = lk->in_table ? lk->value.data : lk->mval;
    *vlen = lk->in_table ? lk->value.len : lk->mlen;
    rc = older_covered(c, type, *seqno, err);
    if (rc == TIND_OK && *type == ENTRY_BLOB) {
        /* a separated base value: merged as the value, never the pointer */
        rc = ks_blob_load(c->ks, c->view->v, *val, *vlen, !lk->no_fill, &c->blob, err);
        if (rc)
            return rc;
        *type = ENTRY_VALUE;
        *val = c->blob.data ? c->blob.data : (const uint8_t *)"";
        *vlen = c->blob.len;
    }
    return rc;
}

/* lk found an operand: it becomes the merged value (in_table, in lk->value). */
static int merge_lookup(tind_keyspace *ks, ks_view *view, const uint8_t *key, size_t klen, uint64_t snap, lookup *lk,
                        tind_err *err)
{
    merge_list ops;
    memset(&ops, 0, sizeof ops);
    tbuf out = {0};
    int rc = merge_list_add(&ops, lk->in_table ? lk->value.data : lk->mval, lk->in_table ? lk->value.len : lk->mlen,
                            lk->seq);
    if (rc)
        rc = err_set(err, TIND_ENOMEM, "out of memory collecting merge operands");
    older_ctx c = {ks, view, key, klen, lk, NULL, NULL, snap, TBUF_INIT, -1};
    if (rc == TIND_OK) /* with the merge cache: a hot key's walk stops at its last read */
        rc = ks_merge_read_cached(ks, key, klen, lk->seq, &ops, older_entry, &c, &out, err);
    mt_iter_free(c.it);
    tbuf_free(&c.blob);
    merge_list_free(&ops);
    if (rc) {
        tbuf_free(&out);
        return rc;
    }
    tbuf_free(&lk->value);
    lk->value = out;
    lk->in_table = 1;
    lk->type = ENTRY_VALUE;
    return TIND_OK;
}

static int check_key(tind_keyspace *ks, const void *key, size_t klen, tind_err *err)
{
    int rc = ks_check_err(ks, err);
    return rc ? rc : db_check_key(key, klen, err);
}

/* Where a read puts the value: nowhere (its size only), a malloc'd copy
 * (tind_get), or the caller's buffer (tind_get_into: the first cap bytes). */
typedef struct get_dest {
    int want;            /* GET_SIZE, GET_MALLOC or GET_INTO */
    void **val;          /* GET_MALLOC */
    uint8_t *buf;        /* GET_INTO */
    size_t cap;
} get_dest;
enum { GET_SIZE = 0, GET_MALLOC = 1, GET_INTO = 2 };

/* GET_INTO: the first cap bytes of the n-byte value src. */
static void get_copy_into(const get_dest *d, const uint8_t *src, size_t n)
{
    size_t c = n < d->cap ? n : d->cap;
    if (c)
        memcpy(d->buf, src, c);
}

/* A found ENTRY_BLOB: its size from the pointer, its value (malloc'd) from
 * the blob file when wanted. */
static int blob_get(tind_keyspace *ks, ks_view *view, lookup *lk, int want_value, void **val, uint64_t *vlen,
                    tind_err *err)
{
    const uint8_t *ptr = lk->in_table ? lk->value.data : lk->mval;
    size_t plen = lk->in_table ? lk->value.len : lk->mlen;
    blob_ptr p;
    if (blob_ptr_decode(ptr, plen, &p))
        return err_set(err, TIND_ECORRUPT, "keyspace '%s': malformed blob pointer (%zu bytes)", ks->name, plen);
    *vlen = p.raw_size;
    if (!want_value)
        return TIND_OK;
    tbuf out = TBUF_INIT;
    int rc = ks_blob_load(ks, view->v, ptr, plen, !lk->no_fill, &out, err);
    if (rc) {
        tbuf_free(&out);
        return rc;
    }
    if (!out.data && !(out.data = malloc(1)))
        return err_set(err, TIND_ENOMEM, "out of memory");
    *val = out.data;
    return TIND_OK;
}

/* Looks key up (checked by the caller) at seqno seq in view (held by the
 * caller); on TIND_OK, *vlen holds the value's size and dest the value
 * (GET_MALLOC: *dest->val, malloc'd; GET_INTO: its first cap bytes).
 * scratch is the read buffer, kept for the next lookup (multi_get). */
static int ks_get_at(tind_keyspace *ks, ks_view *view, uint64_t seq, const void *key, size_t klen,
                     const tind_read_options *ro, const get_dest *dest, uint64_t *vlen, tbuf *scratch,
                     tind_err *err)
{
    int want_value = dest->want == GET_MALLOC || (dest->want == GET_INTO && dest->cap);
    void *blob_val = NULL;
    void **val = dest->want == GET_MALLOC ? dest->val : &blob_val;
    int rc;
    lookup lk;
    memset(&lk, 0, sizeof lk);
    lk.value = *scratch;
    lk.value.len = 0;
    lk.no_fill = ro && !ro->fill_cache;
    rc = TIND_NOT_FOUND;
    if (ro && ro->txn) /* its own write decides, else the snapshot (txn.h) */
        rc = txn_read_point(ro, ks, key, klen, &lk.type, &lk.mval, &lk.mlen, err);
    int own = rc != TIND_NOT_FOUND; /* newer than every range tombstone of the snapshot */
    if (rc == TIND_NOT_FOUND) {
        rc = view_lookup(ks, view, key, klen, seq, &lk, err);
        if (rc == TIND_OK && (lk.type == ENTRY_VALUE || lk.type == ENTRY_BLOB || lk.type == ENTRY_MERGE)) {
            /* a range tombstone over the newest entry deletes the key */
            int c = rd_get_covered(ks, view, key, klen, seq, lk.seq, err);
            rc = c < 0 ? c : c > 0 ? TIND_NOT_FOUND : TIND_OK;
        }
        if (rc == TIND_OK && lk.type == ENTRY_MERGE)
            rc = merge_lookup(ks, view, key, klen, seq, &lk, err);
    }
    (void)own; /* the transaction's own write: never under a tombstone of its snapshot */
    if (rc == TIND_OK && lk.type == ENTRY_BLOB) {
        /* key-value separation: the size is in the pointer; the value is
         * loaded only when wanted */
        rc = blob_get(ks, view, &lk, want_value, val, vlen, err);
        if (rc == TIND_OK && want_value && dest->want == GET_INTO) {
            get_copy_into(dest, blob_val, (size_t)*vlen);
            free(blob_val);
        }
        *scratch = lk.value;
        return rc;
    }
    if (rc == TIND_OK && lk.type != ENTRY_VALUE)
        rc = TIND_NOT_FOUND;
    if (rc == TIND_OK) {
        const uint8_t *src = lk.in_table ? lk.value.data : lk.mval;
        size_t n = lk.in_table ? lk.value.len : lk.mlen;
        *vlen = n;
        if (dest->want == GET_INTO) {
            get_copy_into(dest, src, n);
        } else if (want_value && lk.in_table && lk.value.data) {
            /* the table copied the value into our buffer: hand it over */
            *val = lk.value.data;
            lk.value.data = NULL;
            lk.value.len = lk.value.cap = 0;
        } else if (want_value) {
            uint8_t *p = malloc(n ? n : 1);
            if (!p)
                rc = err_set(err, TIND_ENOMEM, "out of memory for a value of %zu bytes", n);
            else {
                if (n)
                    memcpy(p, src, n);
                *val = p;
            }
        }
    }
    *scratch = lk.value;
    return rc;
}

/* The read buffer of the reads that hand no buffer to the caller
 * (tind_get_into, tind_value_size, tind_contains): one per thread, kept
 * between reads while at most READ_BUF_KEEP bytes (a malloc and a free per
 * read saved, issue 15), freed when the thread ends. A read nested in
 * another on the same thread (a merge operator's, a deleter's) takes a
 * buffer of its own. */
enum { READ_BUF_KEEP = 4096 };
typedef struct read_buf {
    tbuf b;
    int busy;
} read_buf;
static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;
static int read_buf_ok;

static void read_buf_free(void *p)
{
    read_buf *r = p;
    tbuf_free(&r->b);
    free(r);
}

static void read_buf_init(void) { read_buf_ok = pthread_key_create(&read_buf_key, read_buf_free) == 0; }

/* This thread's buffer, or NULL (in use, or out of memory: use a fresh one). */
static read_buf *read_buf_take(void)
{
    if (pthread_once(&read_buf_once, read_buf_init) != 0 || !read_buf_ok)
        return NULL;
    read_buf *r = pthread_getspecific(read_buf_key);
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return NULL;
        if (pthread_setspecific(read_buf_key, r) != 0) {
            free(r);
            return NULL;
        }
    }
    if (r->busy)
        return NULL;
    r->busy = 1;
    return r;
}

static void read_buf_give(read_buf *r, tbuf *b)
{
    if (b->cap > READ_BUF_KEEP)
        tbuf_free(b);
    r->b = *b;
    r->busy = 0;
}

static int ks_get(tind_keyspace *ks, const void *key, size_t klen, const tind_read_options *ro,
                  const get_dest *dest, uint64_t *vlen, tind_err *err)
{
    int rc = check_key(ks, key, klen, err);
    if (rc)
        return rc;
    /* the view before the seqno: every entry of the view's tables and sealed
     * memtables is then at or below seq, so no version the read should see
     * was dropped or folded by a flush that finished in between (seqno
     * first, a flush in between could leave only newer versions, invisible) */
    ks_view *view = ks_view_acquire(ks);
    uint64_t seq = db_read_seqno(ks->db, ro);
    /* tind_get hands the buffer over as the value: a fresh one */
    read_buf *rb = dest->want == GET_MALLOC ? NULL : read_buf_take();
    tbuf scratch = rb ? rb->b : (tbuf)TBUF_INIT;
    rc = ks_get_at(ks, view, seq, key, klen, ro, dest, vlen, &scratch, err);
    if (rb)
        read_buf_give(rb, &scratch);
    else
        tbuf_free(&scratch);
    ks_view_release(view);
    return rc;
}

/* ks_get as a public call: close waits for it; a failure is recorded. */
static int ks_get_call(tind_keyspace *ks, const void *key, size_t klen, const tind_read_options *ro,
                       const get_dest *dest, uint64_t *vlen)
{
    int rc = ks_enter(ks);
    if (rc)
        return rc;
    tind_err err;
    err_clear(&err);
    rc = db_fail(ks->db, ks_get(ks, key, klen, ro, dest, vlen, &err), &err);
    db_leave(ks->db);
    return rc;
}

TIND_API int tind_get(tind_keyspace *ks, const void *key, size_t klen, const tind_read_options *ro, void **val,
                      size_t *vlen)
{
    if (!val || !vlen)
        return TIND_EINVAL;
    uint64_t n = 0;
    *val = NULL;
    get_dest d = {GET_MALLOC, val, NULL, 0};
    int rc = ks_get_call(ks, key, klen, ro, &d, &n);
    *vlen = (size_t)n;
    return rc;
}

TIND_API int tind_get_into(tind_keyspace *ks, const void *key, size_t klen, const tind_read_options *ro, void *buf,
                           size_t cap, size_t *vlen)
{
    if (!vlen || (!buf && cap))
        return TIND_EINVAL;
    uint64_t n = 0;
    get_dest d = {GET_INTO, NULL, buf, cap};
    int rc = ks_get_call(ks, key, klen, ro, &d, &n);
    *vlen = rc == TIND_OK ? (size_t)n : 0;
    return rc;
}

/* One key of a tind_multi_get, in the order it is looked up. */
typedef struct multi_key {
    const uint8_t *key;
    size_t klen;
    size_t index;     /* its place in the caller's arrays */
} multi_key;

static int multi_key_cmp(const void *a, const void *b)
{
    const multi_key *x = a, *y = b;
    int c = key_cmp(x->key, x->klen, y->key, y->klen);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Every key at one seqno in one view, in key order (neighbouring keys then
 * meet the blocks the previous one brought into the caches), with one read
 * buffer for all. */
TIND_API int tind_multi_get(tind_keyspace *ks, size_t n, const void *const *keys, const size_t *klens,
                            const tind_read_options *ro, void **vals, size_t *vlens, int *statuses)
{
    if (n && (!keys || !klens || !vals || !vlens || !statuses))
        return TIND_EINVAL;
    for (size_t i = 0; i < n; i++) {
        vals[i] = NULL;
        vlens[i] = 0;
        statuses[i] = TIND_EINVAL;
    }
    int rc = ks_enter(ks);
    if (rc)
        return rc;
    tind_err err, first;
    err_clear(&first);
    int result = TIND_OK;
    multi_key *order = n ? malloc(n * sizeof *order) : NULL;
    if (n && !order) {
        result = err_set(&first, TIND_ENOMEM, "out of memory ordering %zu keys", n);
        for (size_t i = 0; i < n; i++)
            statuses[i] = TIND_ENOMEM;
        db_fail(ks->db, result, &first);
        db_leave(ks->db);
        return result;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (multi_key){keys[i], klens[i], i};
    /* NULL keys sort as they are: check_key reports them */
    int sortable = 1;
    for (size_t i = 0; i < n && sortable; i++)
        sortable = order[i].key || !order[i].klen;
    if (sortable && n > 1)
        qsort(order, n, sizeof *order, multi_key_cmp);
    ks_view *view = ks_view_acquire(ks); /* before the seqno: see ks_get */
    uint64_t seq = db_read_seqno(ks->db, ro);
    tbuf scratch = TBUF_INIT;
    for (size_t j = 0; j < n; j++) {
        size_t i = order[j].index;
        uint64_t vlen = 0;
        get_dest d = {GET_MALLOC, &vals[i], NULL, 0};
        err_clear(&err);
        rc = check_key(ks, order[j].key, order[j].klen, &err);
        if (rc == TIND_OK)
            rc = ks_get_at(ks, view, seq, order[j].key, order[j].klen, ro, &d, &vlen, &scratch, &err);
        statuses[i] = rc;
        vlens[i] = rc == TIND_OK ? (size_t)vlen : 0;
        if (rc != TIND_OK && rc != TIND_NOT_FOUND && result == TIND_OK) {
            result = rc;
            first = err;
        }
    }
    tbuf_free(&scratch);
    ks_view_release(view);
    free(order);
    db_fail(ks->db, result, &first);
    db_leave(ks->db);
    return result;
}

TIND_API int tind_contains(tind_keyspace *ks, const void *key, size_t klen, const tind_read_options *ro)
{
    uint64_t n;
    get_dest d = {GET_SIZE, NULL, NULL, 0};
    return ks_get_call(ks, key, klen, ro, &d, &n);
}

TIND_API int tind_value_size(tind_keyspace *ks, const void *key, size_t klen, const tind_read_options *ro,
                             uint64_t *size)
{
    if (!size)
        return TIND_EINVAL;
    get_dest d = {GET_SIZE, NULL, NULL, 0};
    return ks_get_call(ks, key, klen, ro, &d, size);
}

static int first_or_last(tind_keyspace *ks, const tind_read_options *ro, int last, void **key, size_t *klen,
                         void **val, size_t *vlen)
{
    tind_iter *it;
    int rc = tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it);
    if (rc)
        return rc;
    if (last)
        tind_iter_last(it);
    else
        tind_iter_first(it);
    if (!tind_iter_valid(it)) {
        rc = tind_iter_status(it);
        tind_iter_free(it);
        return rc ? rc : TIND_NOT_FOUND;
    }
    size_t kn, vn;
    const void *k = tind_iter_key(it, &kn);
    const void *v = tind_iter_value(it, &vn);
    void *kc = NULL, *vc = NULL;
    if (key && !(kc = malloc(kn)))
        rc = TIND_ENOMEM;
    if (!rc && val && !(vc = malloc(vn ? vn : 1)))
        rc = TIND_ENOMEM;
    if (!rc && v == NULL && val)
        rc = tind_iter_status(it);
    if (rc) {
        free(kc);
        free(vc);
        tind_iter_free(it);
        return rc;
    }
    if (kc) {
        memcpy(kc, k, kn);
        *key = kc;
    }
    if (klen)
        *klen = kn;
    if (vc) {
        if (vn)
            memcpy(vc, v, vn);
        *val = vc;
    }
    if (vlen)
        *vlen = vn;
    tind_iter_free(it);
    return TIND_OK;
}

TIND_API int tind_first(tind_keyspace *ks, const tind_read_options *ro, void **key, size_t *klen, void **val,
                        size_t *vlen)
{
    return first_or_last(ks, ro, 0, key, klen, val, vlen);
}

TIND_API int tind_last(tind_keyspace *ks, const tind_read_options *ro, void **key, size_t *klen, void **val,
                       size_t *vlen)
{
    return first_or_last(ks, ro, 1, key, klen, val, vlen);
}

TIND_API int tind_approximate_len(tind_keyspace *ks, uint64_t *n)
{
    int rc = ks_enter_out(ks, n);
    if (rc)
        return rc;
    ks_view *view = ks_view_acquire(ks);
    uint64_t total = mt_count(view->active);
    for (size_t i = 0; i < view->sealed_count; i++)
        total += mt_count(view->sealed[i]);
    for (int l = 0; l < view->v->level_count; l++)
        for (size_t i = 0; i < view->v->levels[l].count; i++) {
            ver_table *t = view->v->levels[l].tables[i];
            total += t->entries > t->tombstones ? t->entries - t->tombstones : 0;
        }
    ks_view_release(view);
    db_leave(ks->db);
    *n = total;
    return TIND_OK;
}

TIND_API int tind_disk_space(tind_keyspace *ks, uint64_t *bytes)
{
    int rc = ks_enter_out(ks, bytes);
    if (rc)
        return rc;
    ks_view *view = ks_view_acquire(ks);
    uint64_t total = 0;
    for (int l = 0; l < view->v->level_count; l++)
        total += view->v->levels[l].bytes;
    for (size_t i = 0; i < view->v->blob_count; i++)
        total += view->v->blobs[i].file->size;
    ks_view_release(view);
    db_leave(ks->db);
    *bytes = total;
    return TIND_OK;
}

TIND_API int tind_ks_stats_get(tind_keyspace *ks, tind_ks_stats *out)
{
    int rc = ks_enter_out(ks, out);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    ks_view *view = ks_view_acquire(ks);
    version *v = view->v;
    out->levels = (uint32_t)v->level_count;
    for (int l = 0; l < v->level_count && l < TIND_STATS_MAX_LEVELS; l++) {
        out->tables[l] = v->levels[l].count;
        out->level_bytes[l] = v->levels[l].bytes;
        out->disk_bytes += v->levels[l].bytes;
    }
    for (size_t i = 0; i < v->blob_count; i++) {
        out->blob_files++;
        out->blob_bytes += v->blobs[i].file->size;
        out->blob_garbage_bytes += v->blobs[i].garbage_bytes;
    }
    out->disk_bytes += out->blob_bytes;
    out->blob_reads = atomic_load(&ks->blob_reads);
    out->memtable_bytes = mt_memory(view->active);
    for (size_t i = 0; i < view->sealed_count; i++)
        out->memtable_bytes += mt_memory(view->sealed[i]);
    out->sealed_memtables = view->sealed_count;
    ks_view_release(view);
    tind_approximate_len(ks, &out->approximate_keys);
    out->user_bytes_written = atomic_load(&ks->user_bytes);
    out->flush_bytes_written = atomic_load(&ks->flush_bytes);
    out->compaction_bytes_written = atomic_load(&ks->compaction_bytes);
    out->flushes = atomic_load(&ks->flushes);
    out->compactions = atomic_load(&ks->compactions);
    cache_stats cs;
    cache_get_stats(ks->db->block_cache, &cs);
    out->cache_hits = cs.hits;
    out->cache_misses = cs.misses;
    out->write_stalls = atomic_load(&ks->db->stalls);
    out->write_slowdowns = atomic_load(&ks->db->slowdowns);
    out->single_delete_violations = atomic_load(&ks->single_delete_violations);
    out->merge_failures = atomic_load(&ks->merge_failures);
    out->prefix_checked = atomic_load_explicit(&ks->prefix_checked, memory_order_relaxed);
    out->prefix_skipped = atomic_load_explicit(&ks->prefix_skipped, memory_order_relaxed);
    db_leave(ks->db);
    return TIND_OK;
}
