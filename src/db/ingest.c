/*
 * ingest.c -- bulk ingestion (db/ingest.h) and tind_ingest.
 *
 * Invariants the install keeps (why each step is there):
 *   - Shadowing: every ingested entry carries the fresh seqno S, above every
 *     entry already written, and the tables go above every table that may
 *     hold a key of their range (reads take the first hit going down the
 *     levels), so the ingested values win over older ones everywhere.
 *   - L0 order: level-0 tables must not interleave their seqno ranges on a
 *     key (a point read takes the first L0 hit). A memtable holding a key of
 *     the range with a seqno below S would flush into a table that sorts
 *     above ours by its max seqno: so no memtable may hold a key of the
 *     range at install (write_mu held: no writer adds one meanwhile).
 *   - Snapshots: a snapshot at a seqno >= S (taken after the reservation)
 *     would see the data appear at install: refused (TIND_EBUSY).
 *   - Journal chain: S is given out with a journal record (the marker), so
 *     the journal that holds seqno S-1 ... S+1 has no hole; the marker is
 *     synced before the version file names a table at seqno S, so recovery
 *     never finds a table above the journal's end.
 *   - No compaction runs across the install (background work paused):
 *     a compaction picked before it could otherwise write an output that
 *     overlaps the ingested tables in their level.
 *   - Atomicity: one version edit (ks_install); tables written before it are
 *     orphans after a crash (deleted at the next open); spill runs are
 *     orphans too, and deleted when the call ends.
 *
 * Threads (background threads on): with sorted input the caller's thread
 * runs the input callback and the checks and copies the entries into
 * chunks of INGEST_CHUNK bytes, and a thread of the call's own writes the
 * tables from the chunks (the table writer: blocks, filter, index, I/O);
 * sorted or not, every table written (spilled runs too) has its data blocks
 * compressed and checksummed by background_threads encode threads of its
 * own (tbl_options.encode_threads, format/blockpool.h), LZ4 being most of a
 * load's work; and each table but the last is synced on a thread of its
 * own while the next is written (cmp_options.sync_behind). The callback and
 * the progress callback stay on the caller's thread. With background
 * threads off, everything runs on the caller's.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/ingest.h"
#include "format/blockpool.h"
#include "iter/adapters.h"
#include "util/arena.h"
#include "util/coding.h"
#include "util/killpoint.h"

#define INGEST_DEFAULT_MEMORY (64u << 20)
#define INGEST_PROGRESS_STEP (1u << 20)
#define INGEST_SNAPSHOT_WAITS 100   /* 1 ms each */
#define INGEST_CHUNK (1u << 20)     /* the pipeline's hand-over unit (bytes of entries) */
#define INGEST_CHUNKS 4             /* chunks in flight: the reader fills while the writer drains */

/* ------------------------------------------------------------------ the marker */

/* Reserves seqno S with a marker record: a put of "ingest" into keyspace id
 * `id`, fresh from next_keyspace_id (no keyspace has it; a keyspace made
 * later with it after a crash has flushed_seqno >= S, so replay skips the
 * marker there too). */
/* It also takes a snapshot at S (*pin), held until the install: compaction
 * keeps the seqnos of every version newer than a snapshot, so a write into
 * the range made during the ingestion never has its seqno zeroed at the
 * bottom level, and the install can tell it from older data. */
static int reserve_seqno(tind_db *db, uint64_t *seqno, tind_snapshot **pin, tind_err *err) EXCLUDES(db->write_mu)
{
    mu_lock(&db->write_mu);
    int rc = db_check_writable(db, err);
    if (rc == TIND_OK && !jset_writing(&db->journals))
        rc = err_set(err, TIND_EPOISONED, "database '%s' has no journal (an earlier rotation failed)", db->path);
    if (rc == TIND_OK) {
        mu_lock(&db->mu);
        uint32_t id = db->next_keyspace_id++;
        mu_unlock(&db->mu);
        uint8_t payload[32], *p = payload;
        *p++ = ENTRY_VALUE;
        p = enc_varint32(p, id);
        p = enc_varint32(p, 6);
        memcpy(p, "ingest", 6);
        p += 6;
        p = enc_varint32(p, 0);
        uint64_t first = atomic_load(&db->last_seqno) + 1, grown = 0;
        rc = jset_append(&db->journals, first, 1, payload, (size_t)(p - payload), &grown, err);
        if (rc) {
            if (jset_failed(&db->journals))
                db_poison(db, err);
        } else {
            db->bytes_since_check += grown;
            atomic_store(&db->last_seqno, first);
            atomic_store_explicit(&db->visible_seqno, first, memory_order_release);
            *seqno = first;
            /* write_mu held: visible_seqno stays S, the snapshot's seqno */
            rc = tind_snapshot_new(db, pin);
            if (rc)
                err_set(err, rc, "ingestion: out of memory");
        }
    }
    mu_unlock(&db->write_mu);
    return rc;
}

/* ------------------------------------------------------------------ sources */

/* Every source is a forward-only iiter; the other moves are not used by
 * cmp_write_tables and end the iteration. */
static void ii_unsupported(iiter *i);
static void ii_unsupported_seek(iiter *i, const uint8_t *k, size_t n, uint64_t s)
{
    (void)k, (void)n, (void)s;
    ii_unsupported(i);
}

/* The input stream: the caller's entries (sorted mode, checked strictly
 * increasing), or the merge of the runs (duplicates: the first of a key,
 * the last one added, wins); every entry at seqno S. */
typedef struct src_ii {
    iiter base;
    uint64_t seqno;               /* S */
    /* the caller's entries (sorted mode) */
    tind_ingest_next_fn next;
    void *ctx;
    /* or the pipeline's chunks (pipe_*) */
    struct pipe *pipe;
    /* or the runs' merge */
    iiter *inner;
    int valid;
    const uint8_t *key, *val;
    size_t klen, vlen;
    ientry e;                     /* as an iiter: base.cur (src_moved) */
    tbuf prev;                    /* the previous key (order check, duplicates) */
    int have_prev;
    uint64_t entries, bytes, reported;
    const ingest_options *o;
    int status;
    tind_err err;
} src_ii;

static void src_fail(src_ii *s, int rc)
{
    s->valid = 0;
    s->base.cur = NULL;
    if (s->status == TIND_OK)
        s->status = rc;
}

static void src_progress(src_ii *s)
{
    if (s->o->progress && s->bytes - s->reported >= INGEST_PROGRESS_STEP) {
        s->reported = s->bytes;
        s->o->progress(s->o->progress_ctx, s->bytes, 0);
    }
}

/* Pulls the caller's next entry into the current one. */
static void src_pull(src_ii *s)
{
    const void *k = NULL, *v = NULL;
    size_t kl = 0, vl = 0;
    int r = s->next(s->ctx, &k, &kl, &v, &vl);
    if (r <= 0) {
        s->valid = 0;
        if (r < 0)
            src_fail(s, err_set(&s->err, r, "ingestion: the input callback failed (%s) after %llu entries",
                                tind_strerror(r), (unsigned long long)s->entries));
        return;
    }
    int rc = db_check_key(k, kl, &s->err);
    if (rc == TIND_OK && vl > TIND_MAX_VALUE_SIZE)
        rc = err_set(&s->err, TIND_ETOOBIG, "value of %zu bytes", vl);
    if (rc == TIND_OK && !v && vl)
        rc = err_set(&s->err, TIND_EINVAL, "NULL value with length %zu", vl);
    if (rc) {
        err_wrap(&s->err, rc, "ingestion: entry %llu: ", (unsigned long long)s->entries + 1);
        src_fail(s, rc);
        return;
    }
    if (s->have_prev && key_cmp(k, kl, s->prev.data, s->prev.len) <= 0) {
        src_fail(s, err_set(&s->err, TIND_EINVAL,
                            "ingestion: entry %llu: keys are not in strictly increasing order (sorted input "
                            "was promised)",
                            (unsigned long long)s->entries + 1));
        return;
    }
    if (tbuf_set(&s->prev, k, kl)) {
        src_fail(s, err_set(&s->err, TIND_ENOMEM, "ingestion: out of memory"));
        return;
    }
    s->have_prev = 1;
    s->key = k ? k : (const uint8_t *)"";
    s->klen = kl;
    s->val = v ? v : (const uint8_t *)"";
    s->vlen = vl;
    s->valid = 1;
    s->entries++;
    s->bytes += kl + vl;
    src_progress(s);
}

/* Takes the inner merge's entry, skipping older duplicates of the last key. */
static void src_take(src_ii *s)
{
    while (ii_valid(s->inner)) {
        size_t kl = 0, vl = 0;
        const uint8_t *k = ii_key(s->inner, &kl);
        if (s->have_prev && kl == s->prev.len && !memcmp(k, s->prev.data, kl)) {
            ii_next(s->inner);
            continue;
        }
        if (tbuf_set(&s->prev, k, kl)) {
            src_fail(s, err_set(&s->err, TIND_ENOMEM, "ingestion: out of memory"));
            return;
        }
        s->have_prev = 1;
        s->key = k;
        s->klen = kl;
        s->val = ii_value(s->inner, &vl);
        s->vlen = vl;
        s->valid = 1;
        s->entries++;
        return;
    }
    s->valid = 0;
    int rc = ii_status(s->inner, &s->err);
    if (rc)
        src_fail(s, rc);
}

static void pipe_take(src_ii *s);

/* Publishes the current entry (iiter.cur) after a move. */
static void src_moved(src_ii *s)
{
    s->e = (ientry){s->key, s->klen, s->seqno, s->val, s->vlen, ENTRY_VALUE};
    s->base.cur = s->valid ? &s->e : NULL;
}

static void src_first(iiter *i)
{
    src_ii *s = (src_ii *)i;
    if (s->pipe) {
        pipe_take(s);
    } else if (s->inner) {
        ii_first(s->inner);
        src_take(s);
    } else {
        src_pull(s);
    }
    src_moved(s);
}
static void src_next(iiter *i)
{
    src_ii *s = (src_ii *)i;
    if (!s->valid)
        return;
    if (s->pipe) {
        pipe_take(s);
    } else if (s->inner) {
        ii_next(s->inner);
        src_take(s);
    } else {
        src_pull(s);
    }
    src_moved(s);
}
static int src_status(const iiter *i, tind_err *err)
{
    const src_ii *s = (const src_ii *)i;
    if (s->status && err)
        *err = s->err;
    return s->status;
}
static void src_free(iiter *i) { (void)i; } /* owned by ks_ingest */
static void ii_unsupported(iiter *i)
{
    src_ii *s = (src_ii *)i;
    src_fail(s, err_set(&s->err, TIND_EINVAL, "ingestion: the input moves forward only"));
}

static const iiter_ops src_ops = {
    src_first, ii_unsupported, ii_unsupported_seek, ii_unsupported_seek, src_next, ii_unsupported, src_status, src_free,
};

/* ------------------------------------------------------------------ the pipeline (sorted input) */

/* The reader (the caller's thread) fills chunk[fill % INGEST_CHUNKS] with
 * checked entries (u32 klen, u32 vlen, key, value), the writer (the call's
 * thread in cmp_write_tables) drains chunk[take % INGEST_CHUNKS]; `full`
 * hands a chunk over each way. The writer's current entry points into its
 * chunk, which it gives back on moving past the chunk's last entry (the
 * input's entries are borrowed only until the next one, as the callback's). */
typedef struct pipe_chunk {
    tbuf data;
    int full;                     /* guarded by mu: filled, not yet drained */
} pipe_chunk;

typedef struct pipe {
    tind_mutex mu;
    tind_cond cv;                 /* a chunk changed hands, eof or stop */
    pipe_chunk chunk[INGEST_CHUNKS];
    int eof;                      /* guarded by mu: the reader published its last chunk */
    int stop;                     /* guarded by mu: the writer ended; the reader stops */
    uint64_t fill;                /* reader only */
    uint64_t take;                /* writer only */
    size_t pos;                   /* writer only: the next entry in chunk[take] */
    int taking;                   /* writer only: it holds chunk[take] */
} pipe;

/* The writer's next entry: from its chunk, or the next chunk (waiting for
 * it); invalid after the reader's last one. */
static void pipe_take(src_ii *s)
{
    pipe *p = s->pipe;
    for (;;) {
        pipe_chunk *c = &p->chunk[p->take % INGEST_CHUNKS];
        if (p->taking) {
            if (p->pos < c->data.len) {
                uint32_t kl, vl;
                memcpy(&kl, c->data.data + p->pos, 4);
                memcpy(&vl, c->data.data + p->pos + 4, 4);
                s->key = c->data.data + p->pos + 8;
                s->klen = kl;
                s->val = s->key + kl;
                s->vlen = vl;
                s->valid = 1;
                p->pos += 8 + (size_t)kl + vl;
                return;
            }
            mu_lock(&p->mu);
            c->full = 0;
            cv_broadcast(&p->cv);
            mu_unlock(&p->mu);
            p->taking = 0;
            p->take++;
            continue;
        }
        mu_lock(&p->mu);
        while (!c->full && !p->eof)
            cv_wait(&p->cv, &p->mu);
        int got = c->full;
        mu_unlock(&p->mu);
        if (!got) {
            s->valid = 0;
            return;
        }
        p->taking = 1;
        p->pos = 0;
    }
}

/* Hands the reader's chunk to the writer. */
static void pipe_publish(pipe *p, pipe_chunk *c)
{
    mu_lock(&p->mu);
    c->full = 1;
    cv_broadcast(&p->cv);
    mu_unlock(&p->mu);
    p->fill++;
}

/* The reader: pulls and checks the caller's entries (src_pull on rd) into
 * chunks until the input ends, fails, or the writer stops. */
static void pipe_read(pipe *p, src_ii *rd)
{
    pipe_chunk *c = NULL;
    for (;;) {
        src_pull(rd);
        if (!rd->valid)
            break;
        if (!c) {
            c = &p->chunk[p->fill % INGEST_CHUNKS];
            mu_lock(&p->mu);
            while (c->full && !p->stop)
                cv_wait(&p->cv, &p->mu);
            int stop = p->stop;
            mu_unlock(&p->mu);
            if (stop) {
                c = NULL;
                break;
            }
            tbuf_reset(&c->data);
        }
        uint32_t hdr[2] = {(uint32_t)rd->klen, (uint32_t)rd->vlen};
        if (tbuf_reserve(&c->data, 8 + rd->klen + rd->vlen)) {
            src_fail(rd, err_set(&rd->err, TIND_ENOMEM, "ingestion: out of memory"));
            break;
        }
        memcpy(c->data.data + c->data.len, hdr, 8);
        memcpy(c->data.data + c->data.len + 8, rd->key, rd->klen);
        memcpy(c->data.data + c->data.len + 8 + rd->klen, rd->val, rd->vlen);
        c->data.len += 8 + rd->klen + rd->vlen;
        if (c->data.len >= INGEST_CHUNK) {
            pipe_publish(p, c);
            c = NULL;
        }
    }
    /* what a failed input gave is written and then discarded (as without
     * the pipeline); a partial chunk goes too */
    if (c)
        pipe_publish(p, c);
    mu_lock(&p->mu);
    p->eof = 1;
    cv_broadcast(&p->cv);
    mu_unlock(&p->mu);
}

/* The writer's thread: cmp_write_tables over the chunks. */
typedef struct pipe_writer {
    pipe *p;
    tind_keyspace *ks;
    const cmp_options *co;
    src_ii *s;
    int level;
    int rc;
    ver_table **tables;
    size_t n;
    uint64_t bytes;
    tind_err err;
} pipe_writer;

static void *pipe_writer_main(void *arg)
{
    pipe_writer *w = arg;
    cmp_env env;
    ks_cmp_env(w->ks, &env);
    err_clear(&w->err);
    w->rc = cmp_write_tables(&env, w->co, &w->s->base, w->level, 0, NULL, 0, &w->tables, &w->n,
                             &w->bytes, &w->err);
    mu_lock(&w->p->mu);
    w->p->stop = 1;
    cv_broadcast(&w->p->cv);
    mu_unlock(&w->p->mu);
    return NULL;
}

static void pipe_free(pipe *p)
{
    for (size_t i = 0; i < INGEST_CHUNKS; i++)
        tbuf_free(&p->chunk[i].data);
    cv_destroy(&p->cv);
    mu_destroy(&p->mu);
}

/* Writes the tables of sorted input on two threads: *rc_out gets
 * cmp_write_tables' status (or the input's failure, the tables then
 * discarded). Returns 0 when the pipeline could not start (nothing read:
 * the caller writes on its own thread). */
static int pipe_write_tables(tind_keyspace *ks, const cmp_options *co, src_ii *rd, int level, ver_table ***tables,
                             size_t *n, uint64_t *bytes, int *rc_out, tind_err *err)
{
    pipe p;
    memset(&p, 0, sizeof p);
    if (mu_init(&p.mu))
        return 0;
    if (cv_init(&p.cv)) {
        mu_destroy(&p.mu);
        return 0;
    }
    src_ii s;
    memset(&s, 0, sizeof s);
    s.base.ops = &src_ops;
    s.seqno = rd->seqno;
    s.o = rd->o;
    s.pipe = &p;
    pipe_writer w = {&p, ks, co, &s, level, TIND_OK, NULL, 0, 0, {0}};
    pthread_t t;
    if (pthread_create(&t, NULL, pipe_writer_main, &w) != 0) {
        pipe_free(&p);
        return 0;
    }
    pipe_read(&p, rd);
    pthread_join(t, NULL);
    pipe_free(&p);
    int rc = w.rc;
    if (rc)
        *err = w.err;
    else if (rd->status) {
        rc = rd->status;
        *err = rd->err;
        cmp_tables_discard(w.tables, w.n);
        w.tables = NULL;
        w.n = 0;
    }
    *tables = w.tables;
    *n = w.n;
    *bytes = w.bytes;
    *rc_out = rc;
    return 1;
}

/* ------------------------------------------------------------------ runs (unsorted input) */

/* One buffered entry: the order it was added in is its seqno inside the
 * runs, so a key's last value sorts first. */
typedef struct run_rec {
    uint64_t order;
    uint32_t klen;
    uint32_t vlen;
    uint8_t bytes[];              /* key, then value */
} run_rec;

/* What the sort moves: the record and the first 8 bytes of its key as a
 * big-endian number, so most comparisons touch no record. */
typedef struct run_ref {
    uint64_t prefix;
    run_rec *rec;
} run_ref;

typedef struct run_ii {
    iiter base;
    run_ref *recs;
    size_t count, pos;
    ientry e;
} run_ii;

static uint64_t key_prefix(const uint8_t *k, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (i < n ? k[i] : 0);
    return v;
}

static int rec_cmp(const void *a, const void *b)
{
    const run_ref *x = a, *y = b;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    int c = key_cmp(x->rec->bytes, x->rec->klen, y->rec->bytes, y->rec->klen);
    if (c)
        return c;
    return x->rec->order < y->rec->order ? 1 : -1;   /* newest first */
}

/* ---- sorting a run
 * A run's refs are sorted by key, a key's newest first. glibc's qsort (a
 * merge sort that moves 16-byte elements with memcpy, through a compare
 * that read both records whenever their first 8 bytes tied: always, for
 * keys sharing a leading part, as "user0000..." keys do) was half of an
 * unsorted load's caller time. Now each ref's prefix is the 8 bytes of its
 * key after those every key of the group shares (the group's lcp), the refs
 * are radix-sorted on it (least significant byte first, a stable pass per
 * byte that varies), and each group of equal prefixes is sorted again the
 * same way from further in, or by comparison when it is small, when its
 * lcp does not advance (a key ends inside the 8 bytes) or past
 * RUN_SORT_DEPTH levels (input made to defeat the radix costs a qsort). */
#define RUN_SORT_SMALL 16
#define RUN_SORT_DEPTH 8

typedef struct run_sorter {
    run_ref *tmp;                 /* as many refs as the run */
    size_t count[8][256];
} run_sorter;

/* Bytes every key of a[0..n) shares; all share the first `from`. */
static size_t refs_lcp(const run_ref *a, size_t n, size_t from)
{
    const run_rec *f = a[0].rec;
    size_t l = f->klen;
    for (size_t i = 1; i < n && l > from; i++) {
        const run_rec *x = a[i].rec;
        size_t m = x->klen < l ? x->klen : l;
        l = from + key_common_prefix(x->bytes + from, m - from, f->bytes + from, m - from);
    }
    return l;
}

static void refs_insertion_sort(run_ref *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        run_ref x = a[i];
        size_t j = i;
        for (; j > 0 && rec_cmp(&x, &a[j - 1]) < 0; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

static void refs_radix(run_sorter *rs, run_ref *a, size_t n)
{
    memset(rs->count, 0, sizeof rs->count);
    for (size_t i = 0; i < n; i++)
        for (unsigned b = 0; b < 8; b++)
            rs->count[b][(a[i].prefix >> (8 * b)) & 0xff]++;
    run_ref *src = a, *dst = rs->tmp;
    for (unsigned b = 0; b < 8; b++) {
        size_t *c = rs->count[b];
        if (c[(a[0].prefix >> (8 * b)) & 0xff] == n)
            continue;   /* every ref has this byte alike */
        size_t at[256], sum = 0;
        for (unsigned v = 0; v < 256; v++) {
            at[v] = sum;
            sum += c[v];
        }
        for (size_t i = 0; i < n; i++)
            dst[at[(src[i].prefix >> (8 * b)) & 0xff]++] = src[i];
        run_ref *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

/* Sorts a[0..n), whose keys share their first `from` bytes. */
static void refs_sort(run_sorter *rs, run_ref *a, size_t n, size_t from, int depth)
{
    if (n <= RUN_SORT_SMALL) {
        refs_insertion_sort(a, n);
        return;
    }
    size_t lcp = refs_lcp(a, n, from);
    if (depth > 0 && (lcp == from || depth > RUN_SORT_DEPTH)) {
        qsort(a, n, sizeof *a, rec_cmp);   /* the prefixes are those of `from` */
        return;
    }
    for (size_t i = 0; i < n; i++)
        a[i].prefix = lcp < a[i].rec->klen ? key_prefix(a[i].rec->bytes + lcp, a[i].rec->klen - lcp) : 0;
    refs_radix(rs, a, n);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && a[j].prefix == a[i].prefix; j++) {
        }
        if (j - i > 1)
            refs_sort(rs, a + i, j - i, lcp, depth + 1);
    }
}

/* Sorts the run's refs; their prefixes are then those of some lcp, which
 * nothing reads after this. */
static void runs_sort(run_ref *a, size_t n)
{
    if (n <= RUN_SORT_SMALL) {
        refs_insertion_sort(a, n);
        return;
    }
    run_sorter *rs = malloc(sizeof *rs);
    run_ref *tmp = rs ? malloc(n * sizeof *a) : NULL;
    if (tmp) {
        rs->tmp = tmp;
        refs_sort(rs, a, n, 0, 0);
    } else {
        qsort(a, n, sizeof *a, rec_cmp);   /* no scratch: slower, same order */
    }
    free(tmp);
    free(rs);
}

/* Publishes record pos (iiter.cur): the key, then the value, at the
 * record's insertion order as its seqno. */
static void run_at(run_ii *r, size_t pos)
{
    r->pos = pos;
    if (pos >= r->count) {
        r->base.cur = NULL;
        return;
    }
    const run_rec *x = r->recs[pos].rec;
    r->e = (ientry){x->bytes, x->klen, x->order, x->bytes + x->klen, x->vlen, ENTRY_VALUE};
    r->base.cur = &r->e;
}
static void run_first(iiter *i) { run_at((run_ii *)i, 0); }
static void run_next(iiter *i) { run_at((run_ii *)i, ((run_ii *)i)->pos + 1); }
static void run_end(iiter *i) { run_at((run_ii *)i, ((run_ii *)i)->count); }
static void run_end_seek(iiter *i, const uint8_t *k, size_t n, uint64_t s)
{
    (void)k, (void)n, (void)s;
    run_end(i);
}
static int run_status(const iiter *i, tind_err *err)
{
    (void)i, (void)err;
    return TIND_OK;
}
static void run_free(iiter *i) { free(i); }   /* the records belong to the buffer */

static const iiter_ops run_ops = {
    run_first, run_end, run_end_seek, run_end_seek, run_next, run_end, run_status, run_free,
};

/* The unsorted input: a buffer of records and the spilled runs. */
typedef struct runs {
    tind_keyspace *ks;
    arena mem;
    int mem_live;
    run_ref *recs;
    size_t count, cap;
    uint64_t order;
    iiter **spilled;              /* one table iterator per spilled run (until merged) */
    size_t spilled_count, spilled_cap;
    uint64_t *spill_numbers;      /* their files, deleted at the end */
    size_t spill_files;
    int encode_threads;           /* tbl_options.encode_threads of every table written */
} runs;

static void runs_reset_buffer(runs *r)
{
    if (r->mem_live)
        arena_destroy(&r->mem);
    arena_init(&r->mem, 1u << 20);
    r->mem_live = 1;
    r->count = 0;
}

static void runs_free(runs *r)
{
    tind_db *db = r->ks->db;
    for (size_t i = 0; r->spilled && i < r->spilled_count; i++)
        ii_free(r->spilled[i]);
    for (size_t i = 0; i < r->spill_files; i++) {
        char path[4096];
        db_table_path(db, r->spill_numbers[i], path, sizeof path);
        fs_unlink(db->fs, path, NULL);
    }
    free(r->spilled);
    free(r->spill_numbers);
    if (r->mem_live)
        arena_destroy(&r->mem);
    free(r->recs);
}

/* Writes the buffer, sorted, as a temporary table and keeps its iterator. */
static int runs_spill(runs *r, tind_err *err)
{
    tind_db *db = r->ks->db;
    runs_sort(r->recs, r->count);
    if (r->spilled_count == r->spilled_cap) {
        size_t cap = r->spilled_cap ? r->spilled_cap * 2 : 8;
        iiter **a = realloc(r->spilled, cap * sizeof *a);
        if (a)
            r->spilled = a;
        uint64_t *n = a ? realloc(r->spill_numbers, cap * sizeof *n) : NULL;
        if (!a || !n)
            return err_set(err, TIND_ENOMEM, "ingestion: out of memory");
        r->spill_numbers = n;
        r->spilled_cap = cap;
    }
    mu_lock(&db->mu);
    uint64_t number = db_new_file_number(db);
    mu_unlock(&db->mu);
    char path[4096];
    db_table_path(db, number, path, sizeof path);
    tbl_options to;
    tbl_options_default(&to);
    to.block_size = 64u << 10;
    to.bloom_bits_per_key = 0;
    to.hash_ratio = 0;
    to.file_number = number;
    to.encode_threads = r->encode_threads;
    tbl_writer *w = NULL;
    int rc = tbl_writer_open(db->fs, path, &to, &w, err);
    if (rc)
        return rc;
    r->spill_numbers[r->spill_files++] = number;
    for (size_t i = 0; rc == TIND_OK && i < r->count; i++) {
        const run_rec *x = r->recs[i].rec;
        if (i + 8 < r->count)
            __builtin_prefetch(r->recs[i + 8].rec);   /* sorted: the records are scattered */
        rc = tbl_writer_add(w, x->bytes, x->klen, x->order, ENTRY_VALUE, x->bytes + x->klen, x->vlen, err);
    }
    if (rc) {
        tbl_writer_abandon(w);
        r->spill_files--;
        return rc;
    }
    rc = tbl_writer_finish(w, 0, NULL, err);
    tbl_open_options oo = {NULL, NULL, number, 0};
    tbl *t = NULL;
    if (rc == TIND_OK)
        rc = tbl_open(db->fs, path, &oo, &t, err);
    iiter *it = NULL;
    if (rc == TIND_OK) {
        rc = tbl_iiter_new(t, 1, &it);
        tbl_unref(t);   /* the iterator holds its own reference */
    }
    if (rc)
        return rc;   /* the file goes with runs_free */
    r->spilled[r->spilled_count++] = it;
    runs_reset_buffer(r);
    return TIND_OK;
}

static int runs_add(runs *r, const ingest_options *o, const void *k, size_t kl, const void *v, size_t vl,
                    tind_err *err)
{
    /* the refs twice: the sort's scratch (runs_sort) */
    if (arena_usage(&r->mem) + 2 * r->count * sizeof(run_ref) + kl + vl + sizeof(run_rec) > o->memory_limit &&
        r->count) {
        int rc = runs_spill(r, err);
        if (rc)
            return rc;
    }
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4096;
        run_ref *a = realloc(r->recs, cap * sizeof *a);
        if (!a)
            return err_set(err, TIND_ENOMEM, "ingestion: out of memory");
        r->recs = a;
        r->cap = cap;
    }
    run_rec *x = arena_alloc(&r->mem, sizeof *x + kl + vl);
    if (!x)
        return err_set(err, TIND_ENOMEM, "ingestion: out of memory");
    x->order = ++r->order;
    x->klen = (uint32_t)kl;
    x->vlen = (uint32_t)vl;
    memcpy(x->bytes, k, kl);
    if (vl)
        memcpy(x->bytes + kl, v, vl);
    r->recs[r->count].prefix = key_prefix(x->bytes, kl);
    r->recs[r->count++].rec = x;
    return TIND_OK;
}

/* Reads the whole input into runs; *out = the merge of the runs (or the
 * buffer's run when nothing was spilled). */
static int runs_read(runs *r, tind_ingest_next_fn next, void *ctx, const ingest_options *o, iiter **out,
                     uint64_t *bytes_out, tind_err *err)
{
    uint64_t bytes = 0, reported = 0, n = 0;
    int rc = TIND_OK;
    while (rc == TIND_OK) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        int got = next(ctx, &k, &kl, &v, &vl);
        if (got < 0)
            return err_set(err, got, "ingestion: the input callback failed (%s) after %llu entries",
                           tind_strerror(got), (unsigned long long)n);
        if (got == 0)
            break;
        n++;
        rc = db_check_key(k, kl, err);
        if (rc == TIND_OK && vl > TIND_MAX_VALUE_SIZE)
            rc = err_set(err, TIND_ETOOBIG, "value of %zu bytes", vl);
        if (rc == TIND_OK && !v && vl)
            rc = err_set(err, TIND_EINVAL, "NULL value with length %zu", vl);
        if (rc)
            return err_wrap(err, rc, "ingestion: entry %llu: ", (unsigned long long)n);
        rc = runs_add(r, o, k, kl, v, vl, err);
        bytes += kl + vl;
        *bytes_out = bytes;
        if (o->progress && bytes - reported >= INGEST_PROGRESS_STEP) {
            reported = bytes;
            o->progress(o->progress_ctx, bytes, 0);
        }
    }
    if (rc)
        return rc;
    if (r->spilled_count == 0) {
        runs_sort(r->recs, r->count);
        run_ii *it = malloc(sizeof *it);
        if (!it)
            return err_set(err, TIND_ENOMEM, "ingestion: out of memory");
        it->base.ops = &run_ops;
        it->recs = r->recs;
        it->count = r->count;
        run_at(it, 0);
        *out = &it->base;
        return TIND_OK;
    }
    if (r->count && (rc = runs_spill(r, err)) != TIND_OK)
        return rc;
    iiter **children = r->spilled;
    size_t count = r->spilled_count;
    r->spilled = NULL;   /* the merge owns them now, and the array */
    r->spilled_count = 0;
    r->spilled_cap = 0;
    rc = ii_merge_new(children, count, out);
    return rc ? err_set(err, rc, "ingestion: out of memory") : TIND_OK;
}

/* ------------------------------------------------------------------ installing */

/* Pauses background work (no job runs until resumed), as tind verify's
 * pause does (db/internal.c). */
static void ingest_pause(tind_db *db, int on) EXCLUDES(db->mu)
{
    mu_lock(&db->mu);
    if (on) {
        atomic_fetch_add(&db->pause_background, 1);
        while (db->running_jobs > 0)
            cv_wait(&db->done_cv, &db->mu);
    } else if (atomic_fetch_sub(&db->pause_background, 1) == 1) {
        cv_broadcast(&db->done_cv);
        db_schedule(db);
    }
    mu_unlock(&db->mu);
}

/* The ingested tables (sorted, disjoint) and their range. */
typedef struct ingested {
    tind_db *db;
    ver_table **tables;
    size_t n;
    const uint8_t *lo, *hi;
    size_t lolen, hilen;
    uint64_t seqno;               /* S */
} ingested;

/* 1 when the ingested tables hold key k, 0 when not, < 0 on a read error. */
static int ingested_has(const ingested *g, const uint8_t *k, size_t kl, tind_err *err)
{
    size_t a = 0, b = g->n;   /* the first table whose largest key >= k */
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (key_cmp(g->tables[m]->largest, g->tables[m]->largest_len, k, kl) < 0)
            a = m + 1;
        else
            b = m;
    }
    if (a == g->n || key_cmp(g->tables[a]->smallest, g->tables[a]->smallest_len, k, kl) > 0)
        return 0;
    tbl *r = NULL;
    int rc = db_table_reader(g->db, g->tables[a], 1, &r, err);
    uint8_t type = 0;
    uint64_t seq = 0;
    tbuf val = TBUF_INIT;
    if (rc == TIND_OK)
        rc = tbl_get(r, k, kl, SEQNO_MAX, 1, &type, &seq, &val, err);
    tbuf_free(&val);
    return rc == TIND_NOT_FOUND ? 0 : rc == TIND_OK ? 1 : rc;
}

/* Whether a version in `it` of a key the ingestion writes breaks the order
 * reads rely on: with want_newer, one at a seqno below S (a memtable or an
 * L0 table that reads look at before the ingested tables must hold only
 * newer versions of those keys); without, one above S (a table below them
 * must hold only older ones). Other keys of the range do not matter.
 * Returns 1 on a conflict, 0 if none, < 0 on a read error; frees it. */
static int range_conflict(iiter *it, const ingested *g, int want_newer, tind_err *err)
{
    int hit = 0, rc = TIND_OK;
    for (ii_seek(it, g->lo, g->lolen, SEQNO_MAX); !hit && rc == TIND_OK && ii_valid(it); ii_next(it)) {
        size_t kl = 0;
        const uint8_t *k = ii_key(it, &kl);
        if (key_cmp(k, kl, g->hi, g->hilen) > 0)
            break;
        if (want_newer ? ii_seqno(it) < g->seqno : ii_seqno(it) > g->seqno) {
            rc = ingested_has(g, k, kl, err);
            hit = rc == 1;
            if (hit)
                rc = TIND_OK;
        }
    }
    if (rc == TIND_OK)
        rc = ii_status(it, err);
    ii_free(it);
    return rc ? rc : hit;
}

/* Writes made to the ingested keys while the ingestion ran (seqno above S),
 * or before it but not flushed (below S, in a memtable): where they sit
 * decides whether the ingested tables, placed at `level`, would hide a newer
 * value or let an older one win. 1 = conflict (TIND_EBUSY), 0 = none, < 0 error.
 * Tables with max_seqno < S hold only older versions: safe below us, and an
 * L0 one sorts after ours. Only tables made since the reservation (max >
 * S) and the memtables are scanned, over the range only. */
static int order_conflict(tind_keyspace *ks, const version *v, int level, const ingested *g, tind_err *err)
    REQUIRES(ks->db->write_mu, ks->db->install_mu)
{
    /* write_mu: no memtable gains an entry or is sealed; install_mu: the
     * version and the sealed list stay as they are (mu is not needed, and
     * not held over the reads of tables) */
    iiter *it = mt_iiter_new(ks->active);
    int rc = it ? range_conflict(it, g, 1, err) : TIND_ENOMEM;
    for (size_t i = 0; rc == 0 && i < ks->sealed_count; i++) {
        it = mt_iiter_new(ks->sealed[i]);
        rc = it ? range_conflict(it, g, 1, err) : TIND_ENOMEM;
    }
    for (int l = 0; rc == 0 && l < v->level_count; l++)
        for (size_t i = 0; rc == 0 && i < v->levels[l].count; i++) {
            ver_table *t = v->levels[l].tables[i];
            if (t->max_seqno < g->seqno || key_cmp(t->smallest, t->smallest_len, g->hi, g->hilen) > 0 ||
                key_cmp(t->largest, t->largest_len, g->lo, g->lolen) < 0)
                continue;
            /* above ours: an L0 table when ours go to L0 (it sorts first by
             * its larger max seqno); below ours: every other */
            int above = l == 0 && level == 0;
            tbl *r = NULL;
            rc = db_table_reader(ks->db, t, l, &r, err);
            iiter *ti = NULL;
            if (rc == TIND_OK)
                rc = tbl_iiter_new(r, 1, &ti);
            if (rc == TIND_OK)
                rc = range_conflict(ti, g, above, err);
        }
    return rc;
}

/* The deepest level whose tables, and those of every level above it, stay
 * clear of [lo, hi]; level 0 when level 0 overlaps, and always for tiered
 * and FIFO keyspaces (they keep their runs in level 0). */
static int choose_level(tind_keyspace *ks, const version *v, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                        size_t hilen, int *level)
{
    *level = 0;
    if (ks->opts.compaction != TIND_COMPACTION_LEVELED)
        return TIND_OK;
    ver_table_list l = {NULL, 0, 0};
    for (int i = 0; i < v->level_count; i++) {
        int rc = version_overlapping(v, i, lo, lolen, hi, hilen, &l);
        if (rc) {
            ver_table_list_free(&l);
            return rc;
        }
        if (l.count) {
            *level = i > 0 ? i - 1 : 0;
            ver_table_list_free(&l);
            return TIND_OK;
        }
    }
    ver_table_list_free(&l);
    *level = v->level_count - 1;
    return TIND_OK;
}

static int ingest_install(tind_keyspace *ks, ver_table **tables, size_t n, uint64_t seqno, int *level_out,
                          tind_err *err)
{
    tind_db *db = ks->db;
    const uint8_t *lo = tables[0]->smallest, *hi = tables[n - 1]->largest;
    size_t lolen = tables[0]->smallest_len, hilen = tables[n - 1]->largest_len;
    /* the marker is durable before a version file names seqno S */
    int rc = db_sync_journal_through(db, seqno, err);
    for (int waits = 0; rc == TIND_OK; waits++) {
        ingest_pause(db, 1);
        mu_lock(&db->write_mu);
        mu_lock(&db->install_mu);
        rc = db_check_writable(db, err);
        int level = 0, snapshot = 0;
        mu_lock(&db->mu);
        if (rc == TIND_OK && atomic_load(&ks->dropped))
            rc = err_set(err, TIND_ENOENT, "keyspace '%s' was deleted", ks->name);
        if (rc == TIND_OK)
            rc = choose_level(ks, ks->current, lo, lolen, hi, hilen, &level);
        mu_unlock(&db->mu);
        if (rc == TIND_OK) {
            ingested g = {db, tables, n, lo, hi, lolen, hilen, seqno};
            rc = order_conflict(ks, ks->current, level, &g, err);
            if (rc == 1)
                rc = err_set(err, TIND_EBUSY,
                             "ingestion into '%s': keys of the ingested range were written while it ran (the "
                             "ingested values would hide newer ones or lose to older ones); nothing ingested",
                             ks->name);
        }
        if (rc == TIND_OK) {
            /* A snapshot taken since the marker (seqno >= S) would see the
             * data appear. snap_mu stays held through the install, so no
             * snapshot is taken between this check and the new view: the
             * one place snap_mu is held while mu is taken (inside
             * ks_install). Deadlock-free because no thread takes snap_mu
             * while holding mu (snap_mu's holders in state.c take nothing). */
            mu_lock(&db->snap_mu);
            /* the list is sorted; the ingestion's own snapshot is one at S */
            size_t newer = 0;
            for (size_t i = db->snapshots.count; i > 0 && db->snapshots.seqnos[i - 1] >= seqno; i--)
                newer++;
            snapshot = newer > 1;
            if (!snapshot) {
                KILL_POINT("ingest.install.before");
                rc = ks_install(ks, NULL, NULL, 0, tables, n, level, 0, NULL, err);
                KILL_POINT("ingest.install.after");
                *level_out = level;
            }
            mu_unlock(&db->snap_mu);
        }
        mu_unlock(&db->install_mu);
        mu_unlock(&db->write_mu);
        ingest_pause(db, 0);
        if (rc || !snapshot)
            return rc;
        /* short-lived snapshots: wait a little for a moment without one */
        if (waits + 1 >= INGEST_SNAPSHOT_WAITS)
            return err_set(err, TIND_EBUSY,
                           "ingestion into '%s': a snapshot taken during the ingestion is still live (it would "
                           "see the ingested data appear); free it and retry",
                           ks->name);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return rc;
}

/* ------------------------------------------------------------------ ks_ingest */

int ks_ingest(tind_keyspace *ks, tind_ingest_next_fn next, void *ctx, const ingest_options *o, uint64_t *count,
              tind_err *err)
{
    tind_db *db = ks->db;
    ingest_options opts = *o;
    if (!opts.memory_limit)
        opts.memory_limit = INGEST_DEFAULT_MEMORY;
    src_ii s;
    memset(&s, 0, sizeof s);
    s.base.ops = &src_ops;
    s.o = &opts;
    /* with background threads off the call keeps to the caller's thread;
     * with them, the sorted input is read and written on two threads (the
     * pipeline) and as many threads encode the tables' data blocks
     * (blockpool.h: compression is most of a load's work) */
    int threads = db->opts.no_background ? 0 : db->opts.background_threads;
    runs r;
    memset(&r, 0, sizeof r);
    r.ks = ks;
    r.encode_threads = threads < BPOOL_MAX_THREADS ? threads : BPOOL_MAX_THREADS;
    runs_reset_buffer(&r);
    uint64_t seqno = 0;
    /* What was written before the call goes to tables first: at the install
     * no memtable may hold a version of the range older than S (reads look
     * at memtables first). A write into the range in between fails the
     * install (TIND_EBUSY); writes elsewhere do not matter. */
    int rc = TIND_OK;
    mu_lock(&db->mu);
    int unflushed = ks->sealed_count > 0 || mt_count(ks->active) > 0;
    mu_unlock(&db->mu);
    if (unflushed)
        rc = ks_flush_all(ks, err);
    tind_snapshot *pin = NULL;
    if (rc == TIND_OK)
        rc = reserve_seqno(db, &seqno, &pin, err);
    s.seqno = seqno;
    iiter *merged = NULL;
    if (rc == TIND_OK) {
        if (opts.sorted) {
            s.next = next;
            s.ctx = ctx;
        } else {
            rc = runs_read(&r, next, ctx, &opts, &merged, &s.bytes, err);
            s.inner = merged;
        }
    }
    ver_table **tables = NULL;
    size_t n = 0;
    uint64_t bytes = 0;
    if (rc == TIND_OK) {
        cmp_env env;
        ks_cmp_env(ks, &env);
        int last = ks->opts.compaction == TIND_COMPACTION_LEVELED ? ks->opts.levels - 1 : 0;
        KILL_POINT("ingest.write.before");
        cmp_options *co = malloc(sizeof *co);
        if (!co)
            rc = err_set(err, TIND_ENOMEM, "ingestion: out of memory");
        if (co) {
            *co = ks->cmp_opts; /* sync_behind with background threads (ks_alloc) */
            for (int l = 0; l < CMP_MAX_LEVELS; l++)
                co->table[l].encode_threads = r.encode_threads;
        }
        int piped = co && opts.sorted && threads > 0 &&
                    pipe_write_tables(ks, co, &s, last > 0 ? last : 1, &tables, &n, &bytes, &rc, err);
        if (co && !piped)   /* (piped: s.status is already in rc) */
            rc = cmp_write_tables(&env, co, &s.base, last > 0 ? last : 1, 0, NULL, 0, &tables, &n, &bytes, err);
        free(co);
        if (rc == TIND_OK && s.status) {
            rc = s.status;
            *err = s.err;
            cmp_tables_discard(tables, n);
            tables = NULL;
            n = 0;
        }
    }
    ii_free(merged);
    runs_free(&r);
    tbuf_free(&s.prev);
    int level = 0;
    if (rc == TIND_OK && n) {
        rc = ingest_install(ks, tables, n, seqno, &level, err);
        /* A failed version file write poisons, and its rename may have
         * happened: the file may name the tables, which then stay (the next
         * open keeps them, or deletes them as orphans). Any other failure
         * left them unnamed. */
        if (rc && !atomic_load(&db->poisoned))
            cmp_tables_discard(tables, n);
        else
            cmp_tables_release(tables, n);
        if (rc == TIND_OK)
            atomic_fetch_add(&ks->user_bytes, s.bytes);
    }
    tind_snapshot_free(pin);
    if (rc == TIND_OK) {
        if (count)
            *count = s.entries;
        if (opts.progress)
            opts.progress(opts.progress_ctx, s.bytes, s.bytes);
    }
    return rc;
}

TIND_API int tind_ingest(tind_keyspace *ks, tind_ingest_next_fn next, void *ctx, int flags, size_t memory_limit,
                         tind_progress_fn progress, void *progress_ctx, uint64_t *count)
{
    int rc = ks_enter(ks);
    if (rc)
        return rc;
    tind_err err;
    err_clear(&err);
    if (!next)
        rc = err_set(&err, TIND_EINVAL, "tind_ingest: no input callback");
    else if (flags & ~TIND_INGEST_SORTED)
        rc = err_set(&err, TIND_EINVAL, "tind_ingest: unknown flags 0x%x", (unsigned)flags);
    if (rc == TIND_OK) {
        ingest_options o = {flags & TIND_INGEST_SORTED, memory_limit, progress, progress_ctx};
        rc = ks_ingest(ks, next, ctx, &o, count, &err);
    }
    rc = db_fail(ks->db, rc, &err);
    db_leave(ks->db);
    return rc;
}
