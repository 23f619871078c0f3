/*
 * compact.c -- compaction execution (compaction/compact.h): the entry stream,
 * cutting it into output tables, and running a pick.
 *
 * Outputs are written and synced before anything refers to them; a failure
 * marks the partial outputs obsolete, so their files go when the last
 * reference does, and the tree is left as it was (the db retries the job).
 */
#include "compaction/compact.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "format/entry.h"
#include "compaction/cmp_rangedel.h"
#include "format/rangetomb.h"
#include "iter/adapters.h"
#include "util/killpoint.h"

/* ------------------------------------------------------------------ the stream */

/* Index of the stripe (the oldest snapshot that sees seqno), nsnap = none. */
size_t stripe_of_seqno(const uint64_t *snaps, size_t nsnap, uint64_t seqno)
{
    size_t lo = 0, hi = nsnap;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (snaps[mid] < seqno)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t cmp_stripe_of(const uint64_t *snaps, size_t nsnap, uint64_t seqno) { return stripe_of_seqno(snaps, nsnap, seqno); }

void cmp_stream_init(cmp_stream *s, const cmp_env *env, iiter *in, int bottommost, const uint64_t *snapshots,
                     size_t snapshot_count)
{
    memset(s, 0, sizeof *s);
    s->env = env;
    s->in = in;
    s->bottommost = bottommost;
    s->snapshots = snapshots;
    s->snapshot_count = snapshot_count;
    s->rt_frag = -1;
    err_clear(&s->err);
}

int cmp_stream_emit(cmp_stream *s, size_t stripe, const uint8_t *key, size_t klen, uint64_t seqno, uint8_t type,
                    const uint8_t *val, size_t vlen, int new_key)
{
    if (s->bottommost && stripe == 0) {
        if (type == ENTRY_TOMBSTONE || type == ENTRY_SINGLE_DELETE)
            return 0; /* nothing older lies below, no snapshot needs it */
        if (type != ENTRY_MERGE)
            seqno = 0; /* every reader sees this version: seqno no longer matters */
    }
    s->key = key;
    s->klen = klen;
    s->seqno = seqno;
    s->type = type;
    s->val = val;
    s->vlen = vlen;
    /* the first entry of its key that survives (a newer one may have gone
     * to a range tombstone) */
    (void)new_key;
    s->new_key = !s->key_emitted;
    s->key_emitted = 1;
    return 1;
}

/* The next input entry: the one held, or the one after the current. */
static void stream_advance(cmp_stream *s)
{
    if (s->hold)
        s->hold = 0;
    else if (ii_valid(s->in))
        ii_next(s->in);
}

/* The input entry is dropped: a blob pointer's blob becomes garbage. */
static void stream_drop_blob(cmp_stream *s, uint8_t type)
{
    if (type == ENTRY_BLOB && s->env && s->env->blobs) {
        size_t vn;
        const uint8_t *v = ii_value(s->in, &vn);
        blob_job_dropped(s->env->blobs, v, vn);
    }
}

int cmp_stream_next(cmp_stream *s)
{
    iiter *in = s->in;
    if (s->status)
        return 0;
    if (cmp_ops_pop(s))
        return 1;
    if (!s->started) {
        s->started = 1;
        ii_first(in);
    } else {
        stream_advance(s);
    }
    for (; ii_valid(in); stream_advance(s)) {
        if ((++s->input_count & 1023) == 0 && s->env && s->env->closing && s->env->closing(s->env->ctx)) {
            s->status = err_set(&s->err, TIND_ECLOSED, "compaction abandoned: database is closing");
            return 0;
        }
        size_t klen;
        const uint8_t *key = ii_key(in, &klen);
        uint64_t seqno = ii_seqno(in);
        uint8_t type = ii_type(in);
        int new_key = !s->have_prev || key_cmp(key, klen, s->prev.data, s->prev.len) != 0;
        size_t stripe = stripe_of_seqno(s->snapshots, s->snapshot_count, seqno);
        if (new_key) {
            if (tbuf_set(&s->prev, key, klen)) {
                s->status = TIND_ENOMEM;
                return 0;
            }
            s->have_prev = 1;
            s->key_emitted = 0;
            s->chain = 0;
        } else if (stripe == s->last_stripe && !s->chain) {
            stream_drop_blob(s, type);
            continue; /* shadowed by a newer version no snapshot separates */
        } else if (stripe != s->last_stripe) {
            s->chain = 0;
        }
        s->last_stripe = stripe;
        if (s->rt && cmp_rt_covered(s, key, klen, seqno, stripe)) {
            s->dropped_covered++;
            stream_drop_blob(s, type); /* a covered pointer's blob is garbage too */
            continue; /* deleted by a range tombstone, for every reader (merge operands too) */
        }
        const uint8_t *val = NULL;
        size_t vlen = 0;
        int ready = 2;
        if (cmp_ops_wants(s, stripe, type)) {
            ready = cmp_ops_entry(s, stripe, new_key, &type, &val, &vlen);
            if (ready < 0)
                return 0;
            if (ready == 1)
                return 1;
            if (ready == 0)
                continue;
            key = s->prev.data; /* a filter ran: the input's key may have moved */
        } else {
            val = ii_value(in, &vlen);
        }
        if (cmp_stream_emit(s, stripe, key, klen, seqno, type, val, vlen, new_key))
            return 1;
    }
    return 0;
}

int cmp_stream_status(const cmp_stream *s, tind_err *err)
{
    if (s->status) {
        if (err && s->err.msg[0])
            *err = s->err;
        return s->status;
    }
    return ii_status(s->in, err);
}

void cmp_stream_free(cmp_stream *s)
{
    tbuf_free(&s->prev);
    merge_list_free(&s->ops);
    merge_list_free(&s->pending);
    tbuf_free(&s->out);
}

/* ------------------------------------------------------------------ output tables */

static int grow_tables(ver_table ***tables, size_t *count, size_t *cap)
{
    if (*count < *cap)
        return TIND_OK;
    size_t nc = *cap ? *cap * 2 : 4;
    ver_table **p = realloc(*tables, nc * sizeof *p);
    if (!p)
        return TIND_ENOMEM;
    *tables = p;
    *cap = nc;
    return TIND_OK;
}

/* ------------------------------------------------------------------ syncing behind */

/* With cmp_options.sync_behind, a table cut from a stream that goes on is
 * synced (fdatasync, then closed) on a thread of its own while the writer
 * builds the next: the disk writes table k while the CPU makes table k+1.
 * Without it, a bulk load of three tables waited 0.19 s of its 0.88 s in
 * their syncs, the disk idle while the tables were built and the CPU idle
 * while they were synced. At most one sync is in flight (the writer waits
 * for table k's before it hands over table k+1's: the unsynced bytes stay
 * under two tables); the last table is synced in line (nothing follows to
 * overlap). cmp_write_tables waits for the sync in flight before it syncs
 * the folder or returns, so every table it returns is durable, as before.
 * On for tind_ingest and for compactions (ks_alloc) when the database has
 * background threads; tind-bench fillrandom 162k/174k -> 202k/192k ops/s
 * with it, alternated (issue 15). */
typedef struct behind_sync {
    pthread_t thread;
    int running;
    fs_file *file;
    int rc;
    tind_err err;
} behind_sync;

static void *behind_main(void *arg)
{
    behind_sync *b = arg;
    err_clear(&b->err);
    b->rc = fs_sync(b->file, FS_SYNC_DATA, &b->err);
    int rc = fs_close(b->file, b->rc ? NULL : &b->err);
    if (b->rc == TIND_OK)
        b->rc = rc;
    return NULL;
}

/* The finished sync's status (err set on failure). */
static int behind_result(const behind_sync *b, tind_err *err)
{
    KILL_POINT("table.sync.after");
    if (b->rc && err)
        *err = b->err;
    return b->rc;
}

/* Waits for the sync in flight: its status. */
static int behind_wait(behind_sync *b, tind_err *err)
{
    if (!b->running)
        return TIND_OK;
    pthread_join(b->thread, NULL);
    b->running = 0;
    return behind_result(b, err);
}

/* Syncs and closes f behind the writer, or in line when no thread can be
 * had. */
static int behind_start(behind_sync *b, fs_file *f, tind_err *err)
{
    b->file = f;
    if (pthread_create(&b->thread, NULL, behind_main, b) == 0) {
        b->running = 1;
        return TIND_OK;
    }
    behind_main(b);
    return behind_result(b, err);
}

/* Finishes output table w (file `number`) and adds it to *tables; with
 * `behind` (a cut, sync_behind on) its sync goes to b, else it is synced
 * here. */
static int finish_table(const cmp_env *env, tbl_writer *w, uint64_t number, behind_sync *b, int behind,
                        ver_table ***tables, size_t *count, size_t *cap, uint64_t *bytes, tind_err *err)
{
    tbl_meta meta;
    memset(&meta, 0, sizeof meta);
    int rc = grow_tables(tables, count, cap);
    if (rc == TIND_OK)
        rc = behind_wait(b, err);   /* the previous table's, before this one's */
    if (rc) {
        tbl_writer_abandon(w);
        return rc;
    }
    KILL_POINT("table.sync.before");
    fs_file *f = NULL;
    if (behind) {
        rc = tbl_writer_finish_open(w, &meta, &f, err);
    } else {
        rc = tbl_writer_finish(w, FS_SYNC_DATA, &meta, err);
        KILL_POINT("table.sync.after");
    }
    if (rc)
        return rc;
    ver_table *t = ver_table_from_meta(number, &meta);
    tbl_meta_free(&meta);
    if (t && env->blobs && blob_job_table_done(env->blobs, t)) {
        t->obsolete = 1;
        ver_table_unref(t);
        t = NULL;
    }
    if (!t) {
        if (f) {
            fs_close(f, NULL);
            char path[4096];
            env->table_path(env->ctx, number, path, sizeof path);
            fs_unlink(env->fs, path, NULL);
        }
        return err_set(err, TIND_ENOMEM, "out of memory");
    }
    t->on_free = env->table_on_free;
    t->on_free_ctx = env->table_on_free_ctx;
    (*tables)[(*count)++] = t;
    *bytes += t->size;
    /* in the list from here: a failed sync discards it with the rest */
    return f ? behind_start(b, f, err) : TIND_OK;
}

void cmp_tables_discard(ver_table **tables, size_t count)
{
    for (size_t i = 0; i < count; i++)
        tables[i]->obsolete = 1;
    cmp_tables_release(tables, count);
}

void cmp_tables_release(ver_table **tables, size_t count)
{
    for (size_t i = 0; i < count; i++)
        ver_table_unref(tables[i]);
    free(tables);
}

static int open_output(const cmp_env *env, tbl_options *to, tbl_writer **w, uint64_t *number, tind_err *err)
{
    *number = env->new_file_number(env->ctx);
    char path[4096];
    env->table_path(env->ctx, *number, path, sizeof path);
    to->file_number = *number;
    to->table_id = env->new_table_id(env->ctx, *number);
    int rc = tbl_writer_open(env->fs, path, to, w, err);
    if (rc)
        *w = NULL;
    return rc;
}

int cmp_write_tables(const cmp_env *env, const cmp_options *o, iiter *in, int out_level, int bottommost,
                     const uint64_t *snaps, size_t nsnap, ver_table ***tables_out, size_t *count_out,
                     uint64_t *bytes_out, tind_err *err)
{
    return cmp_write_tables_rt(env, o, in, out_level, bottommost, snaps, nsnap, NULL, tables_out, count_out,
                               bytes_out, err);
}

int cmp_write_tables_rt(const cmp_env *env, const cmp_options *o, iiter *in, int out_level, int bottommost,
                        const uint64_t *snaps, size_t nsnap, const rt_list *rt, ver_table ***tables_out,
                        size_t *count_out, uint64_t *bytes_out, tind_err *err)
{
    ver_table **tables = NULL;
    size_t count = 0, cap = 0;
    uint64_t bytes = 0;
    tbl_options to = *cmp_table_options(o, out_level);
    /* L0 tables may overlap: a flush or a tiered merge makes one table */
    int split = out_level > 0;
    tbl_writer *w = NULL;
    uint64_t number = 0;
    int rc = TIND_OK;
    cmp_stream s;
    cmp_stream_init(&s, env, in, bottommost, snaps, nsnap);
    s.rt = rt;
    cmp_rt_keep keep = {snaps, nsnap, bottommost};
    /* with tombstones: where the current output's part of them starts (after
     * the previous output's last key), and the last key it holds */
    tbuf cut = TBUF_INIT, last = TBUF_INIT, next_cut = TBUF_INIT;
    int have_cut = 0;
    s.level = out_level;
    behind_sync behind = {0};
    int sync_behind = o->sync_behind && split;

    while (cmp_stream_next(&s)) {
        /* a cut after a key of the largest size would need a successor
         * shorter than it, which may be the next key itself: not there */
        if (w && split && s.new_key && tbl_writer_estimated_size(w) >= o->table_size &&
            (!rt || last.len < TIND_MAX_KEY_SIZE)) {
            if (rt) {
                rc = rt_key_successor(last.data, last.len, &next_cut) == 1
                         ? cmp_rt_attach(w, rt, have_cut ? &cut : NULL, &next_cut, &keep, err)
                         : err_set(err, TIND_ENOMEM, "out of memory");
                if (rc) {
                    break;
                }
                tbuf_set(&cut, next_cut.data, next_cut.len);
                have_cut = cut.len == next_cut.len;
                if (!have_cut) {
                    rc = err_set(err, TIND_ENOMEM, "out of memory");
                    break;
                }
            }
            rc = finish_table(env, w, number, &behind, sync_behind, &tables, &count, &cap, &bytes, err);
            w = NULL;
            if (rc)
                break;
            KILL_POINT("compaction.output");
        }
        if (!w && (rc = open_output(env, &to, &w, &number, err)) != TIND_OK)
            break;
        uint8_t type = s.type;
        const uint8_t *val = s.val;
        size_t vlen = s.vlen;
        if (env->blobs) {
            rc = blob_job_entry(env->blobs, &type, &val, &vlen, err);
            if (rc)
                break;
        }
        rc = tbl_writer_add(w, s.key, s.klen, s.seqno, type, val, vlen, err);
        if (rc)
            break;
        if (rt && s.new_key && tbuf_set(&last, s.key, s.klen)) {
            rc = err_set(err, TIND_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc == TIND_OK)
        rc = cmp_stream_status(&s, err);
    if (rc == TIND_OK && rt && !w) {
        /* no entry survived: a table of tombstones only, when any remain */
        rt_list *rest;
        rc = cmp_rt_part(rt, have_cut ? &cut : NULL, NULL, &keep, &rest);
        if (rc)
            err_set(err, rc, "out of memory for range tombstones");
        else if (rest)
            rc = open_output(env, &to, &w, &number, err);
        if (!rc && rest)
            rc = tbl_writer_add_range_tombstones(w, rest);
        rt_list_unref(rest);
    } else if (rc == TIND_OK && rt) {
        rc = cmp_rt_attach(w, rt, have_cut ? &cut : NULL, NULL, &keep, err);
    }
    if (rc == TIND_OK && w) {
        rc = finish_table(env, w, number, &behind, 0, &tables, &count, &cap, &bytes, err);
        w = NULL;
    }
    if (w)
        tbl_writer_abandon(w);
    int brc = behind_wait(&behind, rc ? NULL : err);
    if (rc == TIND_OK)
        rc = brc;
    cmp_stream_free(&s);
    tbuf_free(&cut);
    tbuf_free(&last);
    tbuf_free(&next_cut);
    if (rc == TIND_OK && env->blobs)
        rc = blob_job_finish(env->blobs, err); /* synced before the folder, as the tables */
    if (rc == TIND_OK && count) {
        rc = fs_sync_dir(env->fs, env->tables_dir, err);
    }
    if (rc) {
        if (env->blobs)
            blob_job_discard(env->blobs);
        cmp_tables_discard(tables, count);
        return rc;
    }
    *tables_out = tables;
    *count_out = count;
    *bytes_out = bytes;
    return TIND_OK;
}

/* ------------------------------------------------------------------ running a pick */

/* The merge of the pick's inputs, each read through its table's reader, and
 * their range tombstones (*rt, NULL when none). Inputs whose every entry a
 * tombstone deletes are left out of the merge (their tombstones stay). */
static int merge_inputs(const cmp_env *env, const compaction_pick *p, const uint64_t *snaps, size_t nsnap,
                        iiter **out, rt_list **rt, tind_err *err)
{
    *rt = NULL;
    iiter **children = calloc(p->count, sizeof *children);
    tbl **readers = calloc(p->count, sizeof *readers);
    if (!children || !readers) {
        free(children);
        free(readers);
        return TIND_ENOMEM;
    }
    int rc = TIND_OK;
    rt_builder b;
    rt_builder_init(&b);
    for (size_t n = 0; !rc && n < p->count; n++) {
        rc = env->table_reader(env->ctx, p->inputs[n], p->levels[n], &readers[n], err);
        if (!rc && rt_builder_add_list(&b, tbl_range_tombstones(readers[n]), NULL, 0, NULL, 0))
            rc = err_set(err, TIND_ENOMEM, "out of memory for range tombstones");
    }
    if (!rc && rt_builder_count(&b) && rt_builder_finish(&b, NULL, NULL, rt))
        rc = err_set(err, TIND_ENOMEM, "out of memory for range tombstones");
    rt_builder_free(&b);
    size_t nc = 0;
    for (size_t n = 0; !rc && n < p->count; n++) {
        /* a covered table pointing into blob files is read all the same:
         * the stream counts each dropped pointer's blob as garbage
         * (blob_job_dropped), which GC needs while other tables still
         * point into those files */
        if (*rt && tbl_get_meta(readers[n])->entry_count && !(env->blobs && p->inputs[n]->blob_ref_count) &&
            cmp_rt_table_covered(*rt, p->inputs[n], snaps, nsnap))
            continue;
        rc = tbl_iiter_new(readers[n], 0, &children[nc]);   /* inputs die with it */
        if (!rc)
            nc++;
    }
    free(readers);
    if (rc) {
        for (size_t i = 0; i < nc; i++)
            ii_free(children[i]);
        free(children);
        rt_list_unref(*rt);
        *rt = NULL;
        return rc;
    }
    return ii_merge_new(children, nc, out);
}

int cmp_run(const cmp_env *env, const cmp_options *o, const compaction_pick *p, const uint64_t *snaps, size_t nsnap,
            ver_table ***tables, size_t *count, uint64_t *bytes, tind_err *err)
{
    *tables = NULL;
    *count = 0;
    *bytes = 0;
    if (p->kind == PICK_MERGE) {
        iiter *merged = NULL;
        rt_list *rt = NULL;
        int rc = merge_inputs(env, p, snaps, nsnap, &merged, &rt, err);
        if (!rc)
            rc = cmp_write_tables_rt(env, o, merged, p->out_level, p->bottommost, snaps, nsnap, rt, tables, count,
                                     bytes, err);
        ii_free(merged);
        rt_list_unref(rt);
        return rc;
    }
    if (p->kind == PICK_MOVE) {
        ver_table **t = malloc(sizeof *t);
        if (!t)
            return TIND_ENOMEM;
        t[0] = p->inputs[0];
        ver_table_ref(t[0]);
        *tables = t;
        *count = 1;
    }
    return TIND_OK;
}
