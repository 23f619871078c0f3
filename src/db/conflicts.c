/*
 * conflicts.c -- the conflict log of optimistic transactions (see
 * conflicts.h for its invariants). Everything runs under db->write_mu.
 */
#include <stdlib.h>
#include <string.h>

#include "db/conflicts.h"
#include "format/entry.h"
#include "format/rangetomb.h"

struct conflict_log {
    memtable *gens[CF_GENS_MAX];  /* oldest first; the last takes new writes */
    uint64_t gen_from[CF_GENS_MAX]; /* gens[i]'s writes have seqno >= gen_from[i] */
    size_t count;
    uint64_t covered_from;        /* every write with seqno >= it is logged */
    uint64_t *snaps;              /* snapshots of the tracked transactions */
    size_t nsnaps, snap_cap;
    tbuf scratch;                 /* a log key being built */
};

/* The log key of (ks_id, key): 4-byte big-endian keyspace id + key. */
static int log_key(conflict_log *cl, uint32_t ks_id, const uint8_t *key, size_t klen)
{
    uint8_t id[4] = {(uint8_t)(ks_id >> 24), (uint8_t)(ks_id >> 16), (uint8_t)(ks_id >> 8), (uint8_t)ks_id};
    tbuf_reset(&cl->scratch);
    if (tbuf_append(&cl->scratch, id, 4))
        return TIND_ENOMEM;
    return klen ? tbuf_append(&cl->scratch, key, klen) : TIND_OK;
}

static void drop_oldest(conflict_log *cl)
{
    mt_unref(cl->gens[0]);
    memmove(cl->gens, cl->gens + 1, (cl->count - 1) * sizeof *cl->gens);
    memmove(cl->gen_from, cl->gen_from + 1, (cl->count - 1) * sizeof *cl->gen_from);
    cl->count--;
    if (cl->count && cl->gen_from[0] > cl->covered_from)
        cl->covered_from = cl->gen_from[0];
}

static uint64_t oldest_snap(const conflict_log *cl)
{
    uint64_t m = UINT64_MAX;
    for (size_t i = 0; i < cl->nsnaps; i++)
        if (cl->snaps[i] < m)
            m = cl->snaps[i];
    return m;
}

/* Drops the generations no tracked transaction needs: those followed by a
 * generation that starts at or before the oldest snapshot + 1. */
static void prune(conflict_log *cl)
{
    uint64_t oldest = oldest_snap(cl);
    while (cl->count > 1 && cl->gen_from[1] <= oldest + 1)
        drop_oldest(cl);
}

/* Starts a generation for writes from seqno `from` on. */
static int new_gen(conflict_log *cl, uint64_t from)
{
    prune(cl);
    if (cl->count == CF_GENS_MAX)
        drop_oldest(cl);
    memtable *m = mt_new(0);
    if (!m)
        return TIND_ENOMEM;
    cl->gens[cl->count] = m;
    cl->gen_from[cl->count] = from;
    cl->count++;
    return TIND_OK;
}

void cf_free(conflict_log *cl)
{
    if (!cl)
        return;
    for (size_t i = 0; i < cl->count; i++)
        mt_unref(cl->gens[i]);
    free(cl->snaps);
    tbuf_free(&cl->scratch);
    free(cl);
}

int cf_begin(tind_db *db, uint64_t seqno)
{
    conflict_log *cl = db->conflicts;
    int fresh = !cl;
    if (fresh) {
        cl = calloc(1, sizeof *cl);
        if (!cl || new_gen(cl, seqno + 1)) {
            cf_free(cl);
            return TIND_ENOMEM;
        }
        cl->covered_from = seqno + 1;
    }
    if (cl->nsnaps == cl->snap_cap) {
        size_t cap = cl->snap_cap ? cl->snap_cap * 2 : 8;
        uint64_t *p = realloc(cl->snaps, cap * sizeof *p);
        if (!p) {
            if (fresh)
                cf_free(cl);
            return TIND_ENOMEM;
        }
        cl->snaps = p;
        cl->snap_cap = cap;
    }
    cl->snaps[cl->nsnaps++] = seqno;
    db->conflicts = cl;
    return TIND_OK;
}

void cf_end(tind_db *db, uint64_t seqno)
{
    conflict_log *cl = db->conflicts;
    if (!cl)
        return;
    for (size_t i = 0; i < cl->nsnaps; i++)
        if (cl->snaps[i] == seqno) {
            cl->snaps[i] = cl->snaps[--cl->nsnaps];
            break;
        }
    if (cl->nsnaps == 0) {
        cf_free(cl);
        db->conflicts = NULL;
    }
}

void cf_record(tind_db *db, uint32_t ks_id, const uint8_t *key, size_t klen, uint64_t seqno)
{
    conflict_log *cl = db->conflicts;
    if (!cl)
        return;
    int rc = TIND_OK;
    if (!cl->count || mt_memory(cl->gens[cl->count - 1]) >= CF_GEN_BYTES)
        rc = new_gen(cl, seqno);
    if (!rc)
        rc = log_key(cl, ks_id, key, klen);
    if (!rc)
        rc = mt_add(cl->gens[cl->count - 1], seqno, ENTRY_VALUE, cl->scratch.data, cl->scratch.len, NULL, 0);
    if (rc)
        cl->covered_from = seqno + 1; /* this write is not logged: older snapshots conflict */
}

/* The log key just past keyspace ks_id's keys into out (empty = no end). */
static int ks_end_key(uint32_t ks_id, tbuf *out)
{
    tbuf_reset(out);
    if (ks_id == UINT32_MAX)
        return TIND_OK;
    uint32_t n = ks_id + 1;
    uint8_t id[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    return tbuf_append(out, id, 4);
}

void cf_record_range(tind_db *db, uint32_t ks_id, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen,
                     uint64_t seqno)
{
    conflict_log *cl = db->conflicts;
    if (!cl)
        return;
    tbuf start = TBUF_INIT, end = TBUF_INIT;
    int rc = TIND_OK;
    if (!cl->count || mt_memory(cl->gens[cl->count - 1]) >= CF_GEN_BYTES)
        rc = new_gen(cl, seqno);
    if (!rc && !(rc = log_key(cl, ks_id, lo, lolen)))
        rc = tbuf_set(&start, cl->scratch.data, cl->scratch.len) ? TIND_ENOMEM : TIND_OK;
    if (!rc)
        rc = hilen ? log_key(cl, ks_id, hi, hilen) : ks_end_key(ks_id, &end);
    if (!rc && hilen)
        rc = tbuf_set(&end, cl->scratch.data, cl->scratch.len) ? TIND_ENOMEM : TIND_OK;
    if (!rc)
        rc = mt_add(cl->gens[cl->count - 1], seqno, ENTRY_RANGE_TOMBSTONE, start.data, start.len, end.data, end.len);
    if (rc)
        cl->covered_from = seqno + 1; /* not logged: older snapshots conflict */
    tbuf_free(&start);
    tbuf_free(&end);
}

/* The newest range deletion of generation m after snap overlapping the log
 * keys [lo, hi) (hilen 0: no end), or 0; *key_out (may be NULL) then holds
 * the first user key of the overlap. SEQNO_MAX when it cannot tell. */
static uint64_t gen_ranges(memtable *m, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen,
                           uint64_t snap, tbuf *key_out)
{
    rt_list *l = NULL;
    if (mt_range_tombstones(m, &l))
        return SEQNO_MAX;
    if (!l)
        return 0;
    size_t next = 0;
    long f = rt_list_find(l, lo, lolen, &next);
    uint64_t found = 0;
    for (size_t i = f >= 0 ? (size_t)f : next; i < l->count; i++) {
        const rt_frag *fr = &l->frags[i];
        if (hilen && key_cmp(fr->start, fr->start_len, hi, hilen) >= 0)
            break;
        if (fr->seqs[0] > snap) {
            found = fr->seqs[0];
            if (key_out) {
                int before = key_cmp(fr->start, fr->start_len, lo, lolen) < 0;
                const uint8_t *k = before ? lo : fr->start;
                size_t n = before ? lolen : fr->start_len;
                tbuf_set(key_out, k + 4, n - 4);
            }
            break;
        }
    }
    rt_list_unref(l);
    return found;
}

int cf_covers(const conflict_log *cl, uint64_t snap) { return cl && snap + 1 >= cl->covered_from; }

uint64_t cf_point(conflict_log *cl, uint32_t ks_id, const uint8_t *key, size_t klen, uint64_t snap)
{
    if (log_key(cl, ks_id, key, klen))
        return SEQNO_MAX; /* cannot tell: a conflict */
    for (size_t i = cl->count; i-- > 0;) {
        if (mt_max_seqno(cl->gens[i]) <= snap)
            break; /* older generations are older still */
        uint8_t type;
        uint64_t seq;
        const uint8_t *v;
        size_t vn;
        if (mt_get(cl->gens[i], cl->scratch.data, cl->scratch.len, SEQNO_MAX, &type, &seq, &v, &vn) == TIND_OK &&
            seq > snap)
            return seq;
        rt_list *l = NULL;
        if (mt_range_tombstones(cl->gens[i], &l))
            return SEQNO_MAX;
        seq = rt_list_cover(l, cl->scratch.data, cl->scratch.len, SEQNO_MAX);
        rt_list_unref(l);
        if (seq > snap)
            return seq; /* a range deletion over the key */
    }
    return 0;
}

uint64_t cf_range(conflict_log *cl, uint32_t ks_id, const uint8_t *lo, size_t lolen, int has_lo, const uint8_t *hi,
                  size_t hilen, int has_hi, uint64_t snap, tbuf *key_out)
{
    tbuf rlo = TBUF_INIT, rhi = TBUF_INIT; /* the span as log keys, for range deletions */
    int bad = log_key(cl, ks_id, hi, has_hi ? hilen : 0) ||
              (has_hi ? tbuf_set(&rhi, cl->scratch.data, cl->scratch.len) : ks_end_key(ks_id, &rhi));
    if (bad || log_key(cl, ks_id, lo, has_lo ? lolen : 0) || tbuf_set(&rlo, cl->scratch.data, cl->scratch.len)) {
        tbuf_free(&rlo);
        tbuf_free(&rhi);
        return SEQNO_MAX;
    }
    uint64_t ranged = 0;
    for (size_t i = cl->count; i-- > 0;) {
        if (mt_max_seqno(cl->gens[i]) <= snap)
            break;
        if (!(has_hi && hilen == 0)) /* below the empty key: an empty span */
            ranged = gen_ranges(cl->gens[i], rlo.data, rlo.len, rhi.data, rhi.len, snap, key_out);
        if (ranged)
            break;
        mt_iter *it = mt_iter_new(cl->gens[i]);
        if (!it) {
            ranged = SEQNO_MAX;
            break;
        }
        uint64_t found = 0;
        for (mt_iter_seek(it, cl->scratch.data, cl->scratch.len, SEQNO_MAX); mt_iter_valid(it); mt_iter_next(it)) {
            size_t n;
            const uint8_t *k = mt_iter_key(it, &n);
            if (n < 4 || memcmp(k, cl->scratch.data, 4) != 0)
                break; /* past the keyspace */
            if (has_hi && key_cmp(k + 4, n - 4, hi, hilen) >= 0)
                break;
            if (mt_iter_seqno(it) > snap) {
                found = mt_iter_seqno(it);
                if (key_out)
                    tbuf_set(key_out, k + 4, n - 4);
                break;
            }
        }
        mt_iter_free(it);
        if (found) {
            ranged = found;
            break;
        }
    }
    tbuf_free(&rlo);
    tbuf_free(&rhi);
    return ranged;
}
