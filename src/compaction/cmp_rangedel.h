/*
 * cmp_rangedel.h -- range tombstones in compaction (issue 13; the stream and
 * the outputs of compaction/compact.c call these). Snapshot stripes as in
 * compact.h: a stripe is the set of entries the same snapshots see.
 *
 *   - an entry is deleted for every reader, and dropped, when a tombstone
 *     newer than it lies in its stripe (cmp_rt_covered);
 *   - an output keeps, per fragment, the newest tombstone of each stripe,
 *     none of the oldest stripe at the bottom (cmp_rt_part / cmp_rt_attach);
 *   - an input table whose whole key range such tombstones cover is left out
 *     of the merge unread (cmp_rt_table_covered), unless it points into
 *     blob files: compact.c then reads it so that each dropped pointer's
 *     blob is counted as garbage (blob_job_dropped), which blob GC needs.
 * Pure functions of their arguments; one thread (the compaction's).
 */
#ifndef TIND_COMPACTION_CMP_RANGEDEL_H
#define TIND_COMPACTION_CMP_RANGEDEL_H

#include "compaction/compact.h"
#include "format/rangetomb.h"

/* The stripe of seqno (compact.c's): the index of the oldest snapshot that
 * sees it, snapshot_count = none. */
size_t cmp_stripe_of(const uint64_t *snaps, size_t nsnap, uint64_t seqno);

/* 1 when a tombstone of s->rt newer than (key, seqno) lies in its stripe.
 * Keys come in order: the fragment of the previous call is tried first. */
int cmp_rt_covered(cmp_stream *s, const uint8_t *key, size_t klen, uint64_t seqno, size_t stripe);

typedef struct cmp_rt_keep {
    const uint64_t *snaps;
    size_t nsnap;
    int bottommost;
} cmp_rt_keep;

/* The tombstones of rt in [lo, hi) (NULL: open) that an output keeps; *out =
 * NULL when none. TIND_OK or TIND_ENOMEM. */
int cmp_rt_part(const rt_list *rt, const tbuf *lo, const tbuf *hi, cmp_rt_keep *keep, rt_list **out);
/* The same, given to the table writer w (err set on failure). */
int cmp_rt_attach(tbl_writer *w, const rt_list *rt, const tbuf *lo, const tbuf *hi, cmp_rt_keep *keep,
                  tind_err *err);
/* 1 when every key of t is deleted for every reader by tombstones of rt. */
int cmp_rt_table_covered(const rt_list *rt, const ver_table *t, const uint64_t *snaps, size_t nsnap);

#endif
