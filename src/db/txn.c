/*
 * txn.c -- transactions: begin, writes into the private write set, commit
 * (validation + one batch through the write path), rollback; the read paths
 * (read.c, dbiter.c) reach a transaction through its read options (txn.h).
 *
 * Modes (tind.h, "Transactions"):
 *   optimistic     any number at once; commit validates.
 *   single writer  at most one open at a time (begin waits on txn_cv, or
 *                  fails with TIND_EBUSY given TIND_TXN_NOWAIT); it validates
 *                  like an optimistic one, so it never conflicts with another
 *                  single-writer transaction, only with other writers.
 *   read only      a snapshot with the transaction's face: no writes, no
 *                  tracking, commit = rollback.
 *
 * Serializability (backward validation, as in optimistic concurrency
 * control): a transaction T with snapshot S commits only if no write with a
 * seqno in (S, commit] touched a key T read (point reads, absent keys
 * included), a range T's iterators covered (phantoms), or a key T writes.
 * The check runs under write_mu right before T's batch takes its seqnos
 * (db_batch_commit_checked), so everything T read is unchanged at the moment
 * T's writes become visible: the committed transactions are equivalent to
 * running them one by one in commit order, which rules out lost updates,
 * write skew and phantoms. Read-only transactions (and transactions that
 * wrote nothing) read one consistent snapshot and need no check. The writes
 * after S come from the conflict log (conflicts.h); when it no longer covers
 * S (a very long transaction beside 64 MiB of written keys), T conflicts.
 *
 * Deleting a keyspace: a transaction that wrote to it fails at commit with
 * TIND_ENOENT (nothing applied); one that only read it conflicts
 * (TIND_ECONFLICT), since its reads are no longer current.
 *
 * Locks: begin and end take write_mu briefly (the snapshot and the conflict
 * log's tracking must agree, conflicts.h invariant 2), and mu for the
 * single-writer slot (order write_mu -> mu is never needed: they are taken
 * one after the other, never nested).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/conflicts.h"
#include "db/txn.h"
#include "util/coding.h"

typedef struct txn_ws {
    tind_keyspace *ks;
    memtable *mt;
} txn_ws;

/* An iterator's bounds and the span of them it covered (txn.h): shared by
 * the transaction's read set and the iterator (refs), so either may go
 * first. Changed only by the iterator's moves, read by the commit: the
 * transaction and its iterators are used by one thread at a time. */
struct txn_cover {
    _Atomic int refs;
    tind_keyspace *ks;
    tbuf lo, hi;             /* the iterator's bounds */
    int has_lo, has_hi;
    int empty;               /* covered nothing yet */
    tbuf min, max;           /* the smallest and largest key covered */
    int to_lo, to_hi;        /* ran off that end: covers through the bound */
};

struct tind_txn {
    tind_db *db;
    uint64_t seqno;          /* the snapshot */
    int flags;
    int durability;
    int tracked;             /* in the conflict log (write_mu) */
    int writer;              /* holds the single-writer slot (mu) */
    txn_ws *ws;              /* the write set, one memtable per keyspace */
    size_t nws, ws_cap;
    uint64_t ops;            /* write-set entries so far */
    tbuf points;             /* point reads: ks pointer | u32 klen | key, repeated */
    txn_cover **ranges;      /* what its iterators covered */
    size_t nranges, range_cap;
};

/* ------------------------------------------------------------------ messages */

/* key as text for a message: printable bytes as they are, others as \xHH,
 * at most 48 bytes shown. */
static const char *key_text(char *buf, size_t cap, const uint8_t *key, size_t klen)
{
    size_t o = 0;
    for (size_t i = 0; i < klen && i < 48 && o + 5 < cap; i++) {
        if (key[i] >= 0x20 && key[i] < 0x7f && key[i] != '\\')
            buf[o++] = (char)key[i];
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", key[i]);
    }
    if (klen > 48 && o + 4 < cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

/* ------------------------------------------------------------------ begin / end */

static void txn_free(tind_txn *t)
{
    for (size_t i = 0; i < t->nws; i++)
        mt_unref(t->ws[i].mt);
    free(t->ws);
    for (size_t i = 0; i < t->nranges; i++)
        txn_cover_release(t->ranges[i]);
    free(t->ranges);
    tbuf_free(&t->points);
    free(t);
}

static void writer_slot_release(tind_db *db) EXCLUDES(db->mu)
{
    mu_lock(&db->mu);
    db->txn_writer = 0;
    cv_broadcast(&db->txn_cv);
    mu_unlock(&db->mu);
}

/* Ends t (tracking, snapshot, writer slot, live count) and frees it. */
static void txn_end(tind_txn *t)
{
    tind_db *db = t->db;
    if (t->tracked) {
        mu_lock(&db->write_mu);
        cf_end(db, t->seqno);
        mu_unlock(&db->write_mu);
    }
    db_snapshot_remove(db, t->seqno);
    if (t->writer)
        writer_slot_release(db);
    txn_free(t);
    atomic_fetch_sub(&db->live_txns, 1);
}

static int writer_slot_take(tind_db *db, int nowait, tind_err *err) EXCLUDES(db->mu)
{
    mu_lock(&db->mu);
    while (db->txn_writer && !nowait)
        cv_wait(&db->txn_cv, &db->mu);
    int busy = db->txn_writer;
    db->txn_writer = 1;
    mu_unlock(&db->mu);
    if (busy)
        return err_set(err, TIND_EBUSY, "tind_txn_begin: another single-writer transaction is open (TIND_TXN_NOWAIT)");
    return TIND_OK;
}

static int txn_begin(tind_db *db, int flags, tind_txn **out, tind_err *err)
{
    if (flags & ~(TIND_TXN_SINGLE_WRITER | TIND_TXN_NOWAIT | TIND_TXN_READ_ONLY))
        return err_set(err, TIND_EINVAL, "tind_txn_begin: unknown flags 0x%x", (unsigned)flags);
    if ((flags & TIND_TXN_READ_ONLY) && (flags & TIND_TXN_SINGLE_WRITER))
        return err_set(err, TIND_EINVAL, "tind_txn_begin: a read-only transaction cannot be the single writer");
    if (db->opts.read_only && !(flags & TIND_TXN_READ_ONLY))
        return err_set(err, TIND_ENOTSUP, "database '%s' is opened read-only: only read-only transactions", db->path);
    tind_txn *t = calloc(1, sizeof *t);
    if (!t)
        return err_set(err, TIND_ENOMEM, "out of memory for a transaction");
    t->db = db;
    t->flags = flags;
    t->durability = db->opts.default_durability;
    int rc = TIND_OK;
    if (flags & TIND_TXN_SINGLE_WRITER) {
        rc = writer_slot_take(db, flags & TIND_TXN_NOWAIT, err);
        if (rc) {
            free(t);
            return rc;
        }
        t->writer = 1;
    }
    if (flags & TIND_TXN_READ_ONLY) {
        /* as tind_snapshot_new: read and listed under one hold of snap_mu */
        rc = db_snapshot_take(db, &t->seqno);
    } else {
        /* the snapshot and the start of tracking under write_mu: every write
         * after the snapshot is in the conflict log (conflicts.h, 2); and
         * visible_seqno (= last_seqno under write_mu) cannot pass the
         * snapshot before it is listed, so no compaction drops what it sees */
        mu_lock(&db->write_mu);
        t->seqno = atomic_load_explicit(&db->last_seqno, memory_order_relaxed);
        rc = cf_begin(db, t->seqno);
        if (!rc) {
            t->tracked = 1;
            rc = db_snapshot_add(db, t->seqno);
            if (rc) {
                cf_end(db, t->seqno);
                t->tracked = 0;
            }
        }
        mu_unlock(&db->write_mu);
    }
    if (rc) {
        if (t->writer)
            writer_slot_release(db);
        free(t);
        return err_set(err, TIND_ENOMEM, "out of memory beginning a transaction");
    }
    atomic_fetch_add(&db->live_txns, 1);
    *out = t;
    return TIND_OK;
}

TIND_API int tind_txn_begin(tind_db *db, int flags, tind_txn **out)
{
    if (!db || !out)
        return TIND_EINVAL;
    *out = NULL;
    int rc = db_enter(db);
    if (rc)
        return rc;
    tind_err err;
    err_clear(&err);
    rc = db_fail(db, txn_begin(db, flags, out, &err), &err);
    db_leave(db);
    return rc;
}

TIND_API void tind_txn_rollback(tind_txn *t)
{
    if (t)
        txn_end(t);
}

TIND_API uint64_t tind_txn_seqno(const tind_txn *t) { return t ? t->seqno : 0; }

TIND_API void tind_txn_set_durability(tind_txn *t, int mode)
{
    if (t && mode >= TIND_PERSIST_NONE && mode <= TIND_PERSIST_SYNC_ALL)
        t->durability = mode;
}

/* ------------------------------------------------------------------ writes */

static memtable *ws_of(const tind_txn *t, const tind_keyspace *ks)
{
    for (size_t i = 0; i < t->nws; i++)
        if (t->ws[i].ks == ks)
            return t->ws[i].mt;
    return NULL;
}

static int txn_write(tind_txn *t, tind_keyspace *ks, uint8_t type, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
    if (!t)
        return TIND_EINVAL;
    tind_db *db = t->db;
    tind_err err;
    err_clear(&err);
    int rc = ks_check_err(ks, &err);
    if (!rc && ks->db != db)
        rc = err_set(&err, TIND_EINVAL, "keyspace '%s' belongs to another database", ks->name);
    if (!rc && (t->flags & TIND_TXN_READ_ONLY))
        rc = err_set(&err, TIND_EINVAL, "write in a read-only transaction");
    if (!rc)
        rc = db_check_kv(key, klen, val, vlen, type == ENTRY_VALUE, &err);
    if (!rc && t->ops >= SEQNO_MAX - TXN_SEQNO_BASE - 1)
        rc = err_set(&err, TIND_ETOOBIG, "too many writes in one transaction");
    memtable *m = rc ? NULL : ws_of(t, ks);
    if (!rc && !m) {
        if (t->nws == t->ws_cap) {
            size_t cap = t->ws_cap ? t->ws_cap * 2 : 4;
            txn_ws *p = realloc(t->ws, cap * sizeof *p);
            if (!p)
                rc = TIND_ENOMEM;
            else {
                t->ws = p;
                t->ws_cap = cap;
            }
        }
        if (!rc && !(m = mt_new(0)))
            rc = TIND_ENOMEM;
        if (!rc)
            t->ws[t->nws++] = (txn_ws){ks, m};
        if (rc)
            err_set(&err, rc, "out of memory for a transaction's write set");
    }
    if (!rc) {
        rc = mt_add(m, TXN_SEQNO_BASE + t->ops + 1, type, key, klen, val, vlen);
        if (rc)
            err_set(&err, rc, "out of memory for a transaction's write set");
        else
            t->ops++;
    }
    return rc ? db_fail(db, rc, &err) : TIND_OK;
}

TIND_API int tind_txn_put(tind_txn *t, tind_keyspace *ks, const void *key, size_t klen, const void *val, size_t vlen)
{
    return txn_write(t, ks, ENTRY_VALUE, key, klen, val, vlen);
}

TIND_API int tind_txn_remove(tind_txn *t, tind_keyspace *ks, const void *key, size_t klen)
{
    return txn_write(t, ks, ENTRY_TOMBSTONE, key, klen, NULL, 0);
}

/* Transactions carry puts and removes only (tind.h): a merge operand or a
 * single delete in the write set would need every pending operand kept and
 * applied over the snapshot by reads, and commit keeps one entry per key. */
static int txn_refuse(tind_txn *t, tind_keyspace *ks, const char *what)
{
    if (!t)
        return TIND_EINVAL;
    tind_err err;
    err_clear(&err);
    int rc = ks_check_err(ks, &err);
    if (!rc)
        rc = err_set(&err, TIND_ENOTSUP, "transactions do not carry %s (keyspace '%s'): write it outside the transaction",
                     what, ks->name);
    return db_fail(t->db, rc, &err);
}

TIND_API int tind_txn_merge(tind_txn *t, tind_keyspace *ks, const void *key, size_t klen, const void *operand,
                            size_t olen)
{
    (void)key, (void)klen, (void)operand, (void)olen;
    return txn_refuse(t, ks, "merge operands");
}

TIND_API int tind_txn_single_remove(tind_txn *t, tind_keyspace *ks, const void *key, size_t klen)
{
    (void)key, (void)klen;
    return txn_refuse(t, ks, "single deletes");
}

/* Refused (tind.h): the write set would have to hide the snapshot's keys
 * under the range on every read. */
TIND_API int tind_txn_remove_range(tind_txn *t, tind_keyspace *ks, const void *lo, size_t lolen, const void *hi,
                                   size_t hilen)
{
    (void)lo, (void)lolen, (void)hi, (void)hilen;
    return txn_refuse(t, ks, "range deletions (commit them with tind_batch_remove_range)");
}

/* ------------------------------------------------------------------ reads */

static int read_txn(const tind_read_options *ro, tind_keyspace *ks, tind_txn **out, tind_err *err)
{
    tind_txn *t = ro->txn;
    if (ks->db != t->db)
        return err_set(err, TIND_EINVAL, "keyspace '%s' is not of the transaction's database", ks->name);
    *out = t;
    return TIND_OK;
}

static int tracks(const tind_read_options *ro, const tind_txn *t)
{
    return t->tracked && !ro->untracked;
}

int txn_read_point(const tind_read_options *ro, tind_keyspace *ks, const uint8_t *key, size_t klen, uint8_t *type,
                   const uint8_t **val, size_t *vlen, tind_err *err)
{
    tind_txn *t = NULL;
    int rc = read_txn(ro, ks, &t, err);
    if (rc)
        return rc;
    memtable *m = ws_of(t, ks);
    if (m) {
        uint64_t seq;
        rc = mt_get(m, key, klen, SEQNO_MAX, type, &seq, val, vlen);
        if (rc != TIND_NOT_FOUND)
            return rc; /* our own write: nothing of the snapshot was read */
    }
    if (tracks(ro, t)) {
        tbuf *p = &t->points;
        if (tbuf_append(p, &ks, sizeof ks) || tbuf_append_u32(p, (uint32_t)klen) || tbuf_append(p, key, klen))
            return err_set(err, TIND_ENOMEM, "out of memory for a transaction's read set");
    }
    return TIND_NOT_FOUND;
}

int txn_read_range(const tind_read_options *ro, tind_keyspace *ks, const uint8_t *lo, size_t lolen, int has_lo,
                   const uint8_t *hi, size_t hilen, int has_hi, memtable **ws, txn_cover **cover, tind_err *err)
{
    tind_txn *t = NULL;
    int rc = read_txn(ro, ks, &t, err);
    if (rc)
        return rc;
    *ws = ws_of(t, ks);
    *cover = NULL;
    if (!tracks(ro, t))
        return TIND_OK;
    if (t->nranges == t->range_cap) {
        size_t cap = t->range_cap ? t->range_cap * 2 : 4;
        txn_cover **p = realloc(t->ranges, cap * sizeof *p);
        if (!p)
            return err_set(err, TIND_ENOMEM, "out of memory for a transaction's read set");
        t->ranges = p;
        t->range_cap = cap;
    }
    txn_cover *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(err, TIND_ENOMEM, "out of memory for a transaction's read set");
    c->ks = ks;
    c->has_lo = has_lo;
    c->has_hi = has_hi;
    c->empty = 1;
    if ((has_lo && tbuf_set(&c->lo, lo, lolen)) || (has_hi && tbuf_set(&c->hi, hi, hilen))) {
        tbuf_free(&c->lo);
        tbuf_free(&c->hi);
        free(c);
        return err_set(err, TIND_ENOMEM, "out of memory for a transaction's read set");
    }
    atomic_init(&c->refs, 2); /* the read set's and the iterator's */
    t->ranges[t->nranges++] = c;
    *cover = c;
    return TIND_OK;
}

void txn_cover_key(txn_cover *c, const uint8_t *k, size_t n)
{
    if (c->empty) {
        if (tbuf_set(&c->min, k, n) || tbuf_set(&c->max, k, n)) {
            c->to_lo = c->to_hi = 1; /* cannot remember it: all of the range */
            return;
        }
        c->empty = 0;
        return;
    }
    if (key_cmp(k, n, c->min.data, c->min.len) < 0 && tbuf_set(&c->min, k, n))
        c->to_lo = 1;
    if (key_cmp(k, n, c->max.data, c->max.len) > 0 && tbuf_set(&c->max, k, n))
        c->to_hi = 1;
}

void txn_cover_to_lo(txn_cover *c) { c->to_lo = 1; }
void txn_cover_to_hi(txn_cover *c) { c->to_hi = 1; }

void txn_cover_release(txn_cover *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    tbuf_free(&c->lo);
    tbuf_free(&c->hi);
    tbuf_free(&c->min);
    tbuf_free(&c->max);
    free(c);
}

/* The span c covered as [lo, hi) for cf_range: through a bound it ran off,
 * else from its smallest key to just after its largest (max + a 0 byte, the
 * next key). 0 when it covered nothing. */
static int cover_span(txn_cover *c, tbuf *hi_buf, const uint8_t **lo, size_t *lolen, int *has_lo, const uint8_t **hi,
                      size_t *hilen, int *has_hi)
{
    if (c->empty && !c->to_lo && !c->to_hi)
        return 0;
    if (c->to_lo || c->empty) {
        *lo = c->lo.data;
        *lolen = c->lo.len;
        *has_lo = c->has_lo;
    } else {
        *lo = c->min.data;
        *lolen = c->min.len;
        *has_lo = 1;
    }
    tbuf_reset(hi_buf);
    if (c->to_hi || c->empty || tbuf_append(hi_buf, c->max.data, c->max.len) || tbuf_append_u8(hi_buf, 0)) {
        *hi = c->hi.data;
        *hilen = c->hi.len;
        *has_hi = c->has_hi;
    } else {
        *hi = hi_buf->data;
        *hilen = hi_buf->len;
        *has_hi = 1;
    }
    return 1;
}

/* ------------------------------------------------------------------ commit */

static int conflict(tind_err *err, const tind_txn *t, const char *what, tind_keyspace *ks, const uint8_t *key,
                    size_t klen, uint64_t seq)
{
    char kt[200];
    return err_set(err, TIND_ECONFLICT,
                   "transaction conflict: %s '%s' of keyspace '%s' was written at seqno %llu, after the "
                   "transaction's snapshot %llu",
                   what, key_text(kt, sizeof kt, key, klen), ks->name, (unsigned long long)seq,
                   (unsigned long long)t->seqno);
}

static int dropped_conflict(tind_err *err, tind_keyspace *ks)
{
    return err_set(err, TIND_ECONFLICT, "transaction conflict: keyspace '%s' it read was deleted", ks->name);
}

/* The validation (conflicts.h, txn.c's header), under write_mu; ends the
 * transaction's tracking whatever it finds. */
static int txn_validate(tind_db *db, void *ctx, tind_err *err) REQUIRES(db->write_mu)
{
    tind_txn *t = ctx;
    conflict_log *cl = db->conflicts;
    int rc = TIND_OK;
    if (!cf_covers(cl, t->seqno))
        rc = err_set(err, TIND_ECONFLICT,
                     "transaction conflict: its snapshot %llu is older than the conflict log keeps (a long "
                     "transaction beside many writes, or a range deletion committed since)",
                     (unsigned long long)t->seqno);
    const uint8_t *p = t->points.data, *end = p + t->points.len;
    while (!rc && p < end) {
        tind_keyspace *ks;
        memcpy(&ks, p, sizeof ks);
        uint32_t klen = dec_u32(p + sizeof ks);
        const uint8_t *key = p + sizeof ks + 4;
        p = key + klen;
        uint64_t s;
        if (atomic_load_explicit(&ks->dropped, memory_order_acquire))
            rc = dropped_conflict(err, ks);
        else if ((s = cf_point(cl, ks->id, key, klen, t->seqno)))
            rc = conflict(err, t, "key it read", ks, key, klen, s);
    }
    tbuf found = TBUF_INIT, hi_buf = TBUF_INIT;
    for (size_t i = 0; !rc && i < t->nranges; i++) {
        txn_cover *r = t->ranges[i];
        const uint8_t *lo, *hi;
        size_t lolen, hilen;
        int has_lo, has_hi;
        uint64_t s;
        if (!cover_span(r, &hi_buf, &lo, &lolen, &has_lo, &hi, &hilen, &has_hi))
            continue; /* the iterator never moved */
        if (atomic_load_explicit(&r->ks->dropped, memory_order_acquire))
            rc = dropped_conflict(err, r->ks);
        else if ((s = cf_range(cl, r->ks->id, lo, lolen, has_lo, hi, hilen, has_hi, t->seqno, &found)))
            rc = conflict(err, t, "key in a range it read", r->ks, found.data, found.len, s);
    }
    tbuf_free(&found);
    tbuf_free(&hi_buf);
    for (size_t i = 0; !rc && i < t->nws; i++) {
        mt_iter *it = mt_iter_new(t->ws[i].mt);
        if (!it) {
            rc = err_set(err, TIND_ENOMEM, "out of memory validating a transaction");
            break;
        }
        for (mt_iter_first(it); !rc && mt_iter_valid(it); mt_iter_next(it)) {
            size_t n;
            const uint8_t *k = mt_iter_key(it, &n);
            uint64_t s = cf_point(cl, t->ws[i].ks->id, k, n, t->seqno);
            if (s)
                rc = conflict(err, t, "key it wrote", t->ws[i].ks, k, n, s);
        }
        mt_iter_free(it);
    }
    cf_end(db, t->seqno);
    t->tracked = 0;
    return rc;
}

/* The write set as one batch: the newest entry of each key. */
static int build_batch(tind_txn *t, tind_batch *b)
{
    int rc = TIND_OK;
    for (size_t i = 0; !rc && i < t->nws; i++) {
        mt_iter *it = mt_iter_new(t->ws[i].mt);
        if (!it)
            return TIND_ENOMEM;
        const uint8_t *prev = NULL;
        size_t prev_len = 0;
        for (mt_iter_first(it); !rc && mt_iter_valid(it); mt_iter_next(it)) {
            size_t n, vn;
            const uint8_t *k = mt_iter_key(it, &n);
            if (prev && key_cmp(k, n, prev, prev_len) == 0)
                continue; /* an older write of the same key */
            prev = k; /* memtable keys stay put while the memtable lives */
            prev_len = n;
            uint8_t type = mt_iter_type(it);
            if (type == ENTRY_VALUE) {
                const uint8_t *v = mt_iter_value(it, &vn);
                rc = tind_batch_put(b, t->ws[i].ks, k, n, v, vn);
            } else if (type == ENTRY_TOMBSTONE) {
                rc = tind_batch_remove(b, t->ws[i].ks, k, n);
            } else {
                rc = TIND_ENOTSUP;
            }
        }
        mt_iter_free(it);
    }
    return rc;
}

static int txn_commit(tind_txn *t, tind_err *err)
{
    tind_db *db = t->db;
    if (t->ops == 0) /* read only: one snapshot, nothing to check */
        return db_commit_nothing(db, t->durability, err);
    tind_batch *b;
    int rc = tind_batch_new(db, &b);
    if (rc)
        return err_set(err, rc, "tind_txn_commit: cannot make its batch: %s", tind_strerror(rc));
    rc = build_batch(t, b);
    if (rc) {
        /* tind_batch_put recorded its message on this thread: keep it */
        snprintf(err->msg, sizeof err->msg, "%s", tind_errmsg(db));
        err->code = rc;
    } else {
        tind_batch_set_durability(b, t->durability);
        rc = db_batch_commit_checked(b, txn_validate, t, err);
    }
    tind_batch_free(b);
    return rc;
}

TIND_API int tind_txn_commit(tind_txn *t)
{
    if (!t)
        return TIND_EINVAL;
    tind_db *db = t->db;
    int rc = db_enter(db);
    if (rc) {
        txn_end(t);
        return rc;
    }
    tind_err err;
    err_clear(&err);
    rc = txn_commit(t, &err);
    txn_end(t);
    rc = db_fail(db, rc, &err);
    db_leave(db);
    return rc;
}

TIND_API void tind_read_options_set_txn(tind_read_options *ro, tind_txn *t)
{
    if (!ro)
        return;
    ro->txn = t;
    ro->txn_seqno = t ? t->seqno : 0;
    if (t)
        ro->snapshot = NULL;
}

TIND_API void tind_read_options_set_untracked(tind_read_options *ro, int on)
{
    if (ro)
        ro->untracked = on != 0;
}
