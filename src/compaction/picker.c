/*
 * picker.c -- compaction picking for leveled, size-tiered and FIFO
 * keyspaces (see picker.h for the policy).
 */
#include "compaction/picker.h"

#include <stdlib.h>
#include <string.h>

#include "format/entry.h"

static int pick_add(compaction_pick *p, ver_table *t, int level)
{
    ver_table **ti = realloc(p->inputs, (p->count + 1) * sizeof *ti);
    if (!ti)
        return TIND_ENOMEM;
    p->inputs = ti;
    int *li = realloc(p->levels, (p->count + 1) * sizeof *li);
    if (!li)
        return TIND_ENOMEM;
    p->levels = li;
    p->inputs[p->count] = t;
    p->levels[p->count] = level;
    p->count++;
    return TIND_OK;
}

void compaction_pick_free(compaction_pick *p)
{
    free(p->inputs);
    free(p->levels);
    memset(p, 0, sizeof *p);
}

static int busy(ver_table *t) { return atomic_load(&t->being_compacted) != 0; }

static int overlaps(const ver_table *t, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen)
{
    return key_cmp(t->largest, t->largest_len, lo, lolen) >= 0 && key_cmp(t->smallest, t->smallest_len, hi, hilen) <= 0;
}

/* Adds every table of `level` overlapping [lo, hi]; TIND_EBUSY if one is busy. */
static int add_overlapping(compaction_pick *p, const version *v, int level, const uint8_t *lo, size_t lolen,
                           const uint8_t *hi, size_t hilen)
{
    const ver_level *lv = &v->levels[level];
    for (size_t i = 0; i < lv->count; i++) {
        ver_table *t = lv->tables[i];
        if (!overlaps(t, lo, lolen, hi, hilen))
            continue;
        if (busy(t))
            return TIND_EBUSY;
        int rc = pick_add(p, t, level);
        if (rc)
            return rc;
    }
    return TIND_OK;
}

/* Key range of the inputs so far. */
static void pick_range(const compaction_pick *p, const uint8_t **lo, size_t *lolen, const uint8_t **hi,
                       size_t *hilen)
{
    *lo = *hi = NULL;
    *lolen = *hilen = 0;
    for (size_t i = 0; i < p->count; i++) {
        ver_table *t = p->inputs[i];
        if (!*lo || key_cmp(t->smallest, t->smallest_len, *lo, *lolen) < 0) {
            *lo = t->smallest;
            *lolen = t->smallest_len;
        }
        if (!*hi || key_cmp(t->largest, t->largest_len, *hi, *hilen) > 0) {
            *hi = t->largest;
            *hilen = t->largest_len;
        }
    }
}

static int nothing_below(const version *v, int level, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen)
{
    for (int l = level + 1; l < v->level_count; l++)
        for (size_t i = 0; i < v->levels[l].count; i++)
            if (overlaps(v->levels[l].tables[i], lo, lolen, hi, hilen))
                return 0;
    return 1;
}

int pick_base_level(const version *v, const cmp_options *o)
{
    int last = v->level_count - 1;
    uint64_t base_bytes = o->table_size * (uint64_t)o->l0_threshold;
    uint64_t cur = v->levels[last].bytes;
    int base = last;
    while (base > 1 && cur > base_bytes) {
        cur /= (uint64_t)o->level_ratio;
        base--;
    }
    /* never above a level that still holds data from an earlier shape */
    for (int l = 1; l < base; l++)
        if (v->levels[l].count)
            return l;
    return base;
}

static void level_targets(const version *v, const cmp_options *o, int base, uint64_t *target)
{
    int last = v->level_count - 1;
    uint64_t base_bytes = o->table_size * (uint64_t)o->l0_threshold;
    for (int l = 0; l < v->level_count; l++)
        target[l] = 0;
    /* targets grow by the ratio from the base down to the last level */
    uint64_t t = v->levels[last].bytes;
    for (int l = last; l > base; l--)
        t /= (uint64_t)o->level_ratio;
    if (t < base_bytes)
        t = base_bytes;
    for (int l = base; l <= last; l++) {
        target[l] = t;
        t *= (uint64_t)o->level_ratio;
    }
}

static int finish_merge(compaction_pick *p, const version *v, const cmp_options *o, int out_level)
{
    const uint8_t *lo, *hi;
    size_t lolen, hilen;
    pick_range(p, &lo, &lolen, &hi, &hilen);
    p->out_level = out_level;
    p->bottommost = nothing_below(v, out_level, lo, lolen, hi, hilen);
    p->kind = PICK_MERGE;
    /* a trivial move only between levels compressed alike (issue 14): else
     * the table is rewritten in the target level's compression */
    if (p->count == 1 && p->levels[0] != out_level && cmp_same_compression(o, p->levels[0], out_level))
        p->kind = PICK_MOVE;
    return TIND_OK;
}

/* Periodic compaction (issue 13; tiered keyspaces: in pick_tiered): the
 * oldest idle table written more than periodic_seconds ago is rewritten --
 * with what overlaps it in the next
 * level, or alone in place at the last level -- so that compaction filters
 * (the TTL filter) reach data that receives no writes. Never a move: the
 * point is to rewrite. */
static int pick_periodic(const version *v, const cmp_options *o, uint64_t now, compaction_pick *p)
{
    int last = v->level_count - 1;
    ver_table *chosen = NULL;
    int chosen_level = 0;
    for (int l = 0; l <= last; l++)
        for (size_t i = 0; i < v->levels[l].count; i++) {
            ver_table *t = v->levels[l].tables[i];
            if (busy(t) || t->created_unix + o->periodic_seconds > now)
                continue;
            if (!chosen || t->created_unix < chosen->created_unix) {
                chosen = t;
                chosen_level = l;
            }
        }
    if (!chosen)
        return TIND_OK;
    int rc;
    if (chosen_level == 0) {
        /* L0 tables overlap: all of them go down together, as an L0 pick */
        for (size_t i = 0; i < v->levels[0].count; i++) {
            if (busy(v->levels[0].tables[i]))
                return TIND_EBUSY;
            if ((rc = pick_add(p, v->levels[0].tables[i], 0)))
                return rc;
        }
    } else if ((rc = pick_add(p, chosen, chosen_level))) {
        return rc;
    }
    int out = chosen_level == last ? last : chosen_level == 0 ? pick_base_level(v, o) : chosen_level + 1;
    if (out != chosen_level) {
        const uint8_t *lo, *hi;
        size_t lolen, hilen;
        pick_range(p, &lo, &lolen, &hi, &hilen);
        if ((rc = add_overlapping(p, v, out, lo, lolen, hi, hilen)))
            return rc;
    }
    rc = finish_merge(p, v, o, out);
    p->kind = PICK_MERGE;
    return rc;
}

/* A trivial move out of L0 (issue 15: fillseq rewrote every sequential
 * flush once): the oldest L0 table that no older L0 table overlaps and
 * nothing in the base level overlaps goes down unchanged. Newer L0 tables
 * may overlap it: they stay above it, and reads meet them first, as before.
 * The levels between L0 and the base are empty (pick_base_level). Nothing
 * picked leaves p empty (the caller merges L0 as usual). */
static int pick_l0_move(const version *v, const cmp_options *o, int base, compaction_pick *p)
{
    const ver_level *l0 = &v->levels[0];
    if (base <= 0 || !cmp_same_compression(o, 0, base))
        return TIND_OK;
    for (size_t i = l0->count; i-- > 0;) {
        ver_table *t = l0->tables[i];
        int free_range = !busy(t);
        for (size_t j = i + 1; j < l0->count && free_range; j++)
            free_range = !overlaps(l0->tables[j], t->smallest, t->smallest_len, t->largest, t->largest_len);
        if (!free_range)
            continue;
        const ver_level *bl = &v->levels[base];
        for (size_t j = 0; j < bl->count && free_range; j++)
            free_range = !overlaps(bl->tables[j], t->smallest, t->smallest_len, t->largest, t->largest_len);
        if (!free_range)
            continue;
        int rc = pick_add(p, t, 0);
        if (rc)
            return rc;
        p->kind = PICK_MOVE;
        p->out_level = base;
        p->bottommost = nothing_below(v, base, t->smallest, t->smallest_len, t->largest, t->largest_len);
        return TIND_OK;
    }
    return TIND_OK;
}

/* Deferring L0 (issue 15): merging L0 (A bytes) into the base level (B)
 * writes about A + B to absorb A. While A < B and L0 holds fewer than twice
 * l0_threshold tables, L0 waits: each merge then absorbs at least what it
 * rewrites (at most 2x per merged byte), at the cost of up to twice the L0
 * tables a point read probes (their filters). It matters while the base is
 * large beside L0: a small tree whose base is its last level, overwritten
 * in place (ycsb, writeheavy), and large memtables. */
static int l0_defer(const version *v, const cmp_options *o, int base)
{
    if (v->levels[0].count >= 2 * (size_t)o->l0_threshold)
        return 0;
    return v->levels[0].bytes < v->levels[base].bytes;
}

static int pick_leveled(const version *v, const cmp_options *o, int manual, uint64_t now, compaction_pick *p)
{
    int last = v->level_count - 1;
    int rc;
    if (manual) {
        for (int l = 0; l <= last; l++)
            for (size_t i = 0; i < v->levels[l].count; i++) {
                if (busy(v->levels[l].tables[i]))
                    return TIND_EBUSY;
                if ((rc = pick_add(p, v->levels[l].tables[i], l)))
                    return rc;
            }
        if (!p->count)
            return TIND_OK;
        rc = finish_merge(p, v, o, last);
        /* a single table already alone at the bottom still gets rewritten
         * (drops tombstones, zeroes seqnos) */
        if (p->count == 1 && p->levels[0] == last)
            p->kind = PICK_MERGE;
        return rc;
    }
    int base = pick_base_level(v, o);
    uint64_t target[CMP_MAX_LEVELS];
    level_targets(v, o, base, target);
    double best = 0;
    int best_level = -1;
    double l0_score = (double)v->levels[0].count / (double)o->l0_threshold;
    if (l0_score >= 1 && l0_defer(v, o, base)) {
        /* not worth a merge yet; a table that moves still goes */
        if ((rc = pick_l0_move(v, o, base, p)) || p->count)
            return rc;
        l0_score = 0;
    }
    if (l0_score >= 1) {
        best = l0_score;
        best_level = 0;
    }
    for (int l = 1; l < last; l++) {
        if (!v->levels[l].count)
            continue;
        double s = target[l] ? (double)v->levels[l].bytes / (double)target[l] : 1e9;
        if (s >= 1 && s > best) {
            best = s;
            best_level = l;
        }
    }
    if (best_level < 0)
        return o->periodic_seconds ? pick_periodic(v, o, now, p) : TIND_OK;
    if (best_level == 0) {
        if ((rc = pick_l0_move(v, o, base, p)) || p->count)
            return rc;
        for (size_t i = 0; i < v->levels[0].count; i++) {
            if (busy(v->levels[0].tables[i]))
                return TIND_EBUSY;
            if ((rc = pick_add(p, v->levels[0].tables[i], 0)))
                return rc;
        }
        const uint8_t *lo, *hi;
        size_t lolen, hilen;
        pick_range(p, &lo, &lolen, &hi, &hilen);
        if ((rc = add_overlapping(p, v, base, lo, lolen, hi, hilen)))
            return rc;
        return finish_merge(p, v, o, base);
    }
    /* the table of best_level with the least overlap below, per byte */
    const ver_level *lv = &v->levels[best_level];
    double best_ratio = -1;
    ver_table *chosen = NULL;
    for (size_t i = 0; i < lv->count; i++) {
        ver_table *t = lv->tables[i];
        if (busy(t))
            continue;
        uint64_t over = 0;
        int blocked = 0;
        const ver_level *nx = &v->levels[best_level + 1];
        for (size_t j = 0; j < nx->count; j++)
            if (overlaps(nx->tables[j], t->smallest, t->smallest_len, t->largest, t->largest_len)) {
                over += nx->tables[j]->size;
                blocked |= busy(nx->tables[j]);
            }
        if (blocked)
            continue;
        double ratio = (double)over / (double)(t->size ? t->size : 1);
        if (!chosen || ratio < best_ratio) {
            chosen = t;
            best_ratio = ratio;
        }
    }
    if (!chosen)
        return TIND_OK;
    if ((rc = pick_add(p, chosen, best_level)))
        return rc;
    if ((rc = add_overlapping(p, v, best_level + 1, chosen->smallest, chosen->smallest_len, chosen->largest,
                              chosen->largest_len)))
        return rc;
    return finish_merge(p, v, o, best_level + 1);
}

static int pick_tiered(const version *v, const cmp_options *o, int manual, uint64_t now, compaction_pick *p)
{
    const ver_level *l0 = &v->levels[0];
    size_t n = l0->count;
    int rc;
    for (size_t i = 0; i < n; i++)
        if (busy(l0->tables[i]))
            return TIND_EBUSY;
    size_t from = 0, to = 0;
    if (manual) {
        if (n == 0)
            return TIND_OK;
        to = n;
    } else {
        /* runs are newest first; find a window of similar sizes */
        size_t width = (size_t)o->l0_threshold;
        for (size_t i = 0; i < n && !to; i++) {
            uint64_t lo_size = l0->tables[i]->size, hi_size = lo_size;
            size_t j = i + 1;
            while (j < n) {
                uint64_t s = l0->tables[j]->size;
                uint64_t nlo = s < lo_size ? s : lo_size, nhi = s > hi_size ? s : hi_size;
                if (nhi > 4 * (nlo ? nlo : 1) && nhi > 2 * 1024 * 1024)
                    break;
                lo_size = nlo;
                hi_size = nhi;
                j++;
            }
            if (j - i >= width) {
                from = i;
                to = j;
            }
        }
        /* too many runs anyway: merge the newest ones */
        if (!to && n >= 4 * (size_t)o->l0_threshold) {
            from = 0;
            to = (size_t)o->l0_threshold * 2;
        }
        /* periodic compaction: the oldest run written more than
         * periodic_seconds ago is rewritten alone (filters reach it) */
        for (size_t i = n; !to && o->periodic_seconds && i-- > 0;)
            if (l0->tables[i]->created_unix + o->periodic_seconds <= now) {
                from = i;
                to = i + 1;
            }
        if (!to)
            return TIND_OK;
    }
    for (size_t i = from; i < to; i++)
        if ((rc = pick_add(p, l0->tables[i], 0)))
            return rc;
    p->kind = PICK_MERGE;
    p->out_level = 0;
    p->bottommost = to == n;
    for (int l = 1; l < v->level_count && p->bottommost; l++)
        if (v->levels[l].count)
            p->bottommost = 0;
    return TIND_OK;
}

/* A FIFO table's bytes on disk: its own and those of the blob files it
 * points into (key-value separation; a FIFO keyspace's tables are flushes,
 * each with blob files of its own, which go with it). */
static uint64_t fifo_table_bytes(const version *v, const ver_table *t)
{
    uint64_t bytes = t->size;
    for (size_t i = 0; i < t->blob_ref_count; i++) {
        const ver_blob_entry *e = version_find_blob(v, t->blob_refs[i]);
        bytes += e ? e->file->size : 0;
    }
    return bytes;
}

static int pick_fifo(const version *v, const cmp_options *o, uint64_t now, compaction_pick *p)
{
    const ver_level *l0 = &v->levels[0];
    uint64_t total = 0;
    for (size_t i = 0; i < l0->count; i++)
        total += fifo_table_bytes(v, l0->tables[i]);
    /* oldest last in L0 */
    for (size_t i = l0->count; i-- > 0;) {
        ver_table *t = l0->tables[i];
        /* ages are whole seconds (created_unix, now): strictly past the TTL,
         * so that a table lives at least ttl seconds after its flush even
         * when the flush ended just before a second turned */
        int expired = o->fifo_ttl_seconds && t->created_unix + o->fifo_ttl_seconds < now;
        int over = o->fifo_max_bytes && total > o->fifo_max_bytes;
        if (!expired && !over)
            break;
        if (busy(t))
            return TIND_EBUSY;
        int rc = pick_add(p, t, 0);
        if (rc)
            return rc;
        total -= fifo_table_bytes(v, t);
    }
    if (p->count)
        p->kind = PICK_DROP;
    return TIND_OK;
}

int pick_compaction(const version *v, const cmp_options *o, int manual, uint64_t now,
                    compaction_pick *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    switch (o->compaction) {
    case TIND_COMPACTION_TIERED:
        rc = pick_tiered(v, o, manual, now, out);
        break;
    case TIND_COMPACTION_FIFO:
        rc = pick_fifo(v, o, now, out);
        break;
    default:
        rc = pick_leveled(v, o, manual, now, out);
        break;
    }
    if (rc || out->kind == PICK_NONE) {
        compaction_pick_free(out);
        return rc == TIND_EBUSY ? TIND_OK : rc;
    }
    return TIND_OK;
}

uint64_t pick_pending_bytes(const version *v, const cmp_options *o, uint64_t *deferred)
{
    if (deferred)
        *deferred = 0;
    if (o->compaction == TIND_COMPACTION_FIFO || v->level_count < 1)
        return 0;
    uint64_t n = (int)v->levels[0].count >= o->l0_threshold ? v->levels[0].bytes : 0;
    if (o->compaction != TIND_COMPACTION_LEVELED)
        return n;
    int base = pick_base_level(v, o);
    if (n && deferred && l0_defer(v, o, base))
        *deferred = n;
    uint64_t target[CMP_MAX_LEVELS];
    level_targets(v, o, base, target);
    for (int l = 1; l < v->level_count - 1; l++)
        if (v->levels[l].bytes > target[l])
            n += v->levels[l].bytes - target[l];
    return n;
}
