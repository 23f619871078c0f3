/*
 * compact.c -- compaction execution (compaction/compact.h): the entry stream,
 * cutting it into output tables, and running a pick.
 *
 * Outputs are written and synced before anything refers to them; a failure
 * marks the partial outputs obsolete, so their files go when the last
 * reference does, and the tree is left as it was (the db retries the job).
 */
#include "compaction/compact.h"

#include <stdlib.h>
#include <string.h>

#include "format/entry.h"
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

void cmp_stream_init(cmp_stream *s, const cmp_env *env, iiter *in, int bottommost, const uint64_t *snapshots,
                     size_t snapshot_count)
{
    memset(s, 0, sizeof *s);
    s->env = env;
    s->in = in;
    s->bottommost = bottommost;
    s->snapshots = snapshots;
    s->snapshot_count = snapshot_count;
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
    s->new_key = new_key;
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
            s->chain = 0;
        } else if (stripe == s->last_stripe && !s->chain) {
            continue; /* shadowed by a newer version no snapshot separates */
        } else if (stripe != s->last_stripe) {
            s->chain = 0;
        }
        s->last_stripe = stripe;
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

static int finish_table(const cmp_env *env, tbl_writer *w, uint64_t number, ver_table ***tables, size_t *count,
                        size_t *cap, uint64_t *bytes, tind_err *err)
{
    tbl_meta meta;
    memset(&meta, 0, sizeof meta);
    int rc = grow_tables(tables, count, cap);
    if (rc) {
        tbl_writer_abandon(w);
        return rc;
    }
    KILL_POINT("table.sync.before");
    rc = tbl_writer_finish(w, FS_SYNC_DATA, &meta, err);
    KILL_POINT("table.sync.after");
    if (rc)
        return rc;
    ver_table *t = ver_table_from_meta(number, &meta);
    tbl_meta_free(&meta);
    if (!t)
        return err_set(err, TIND_ENOMEM, "out of memory");
    t->on_free = env->table_on_free;
    t->on_free_ctx = env->table_on_free_ctx;
    (*tables)[(*count)++] = t;
    *bytes += t->size;
    return TIND_OK;
}

void cmp_tables_discard(ver_table **tables, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        tables[i]->obsolete = 1;
        ver_table_unref(tables[i]);
    }
    free(tables);
}

int cmp_write_tables(const cmp_env *env, const cmp_options *o, iiter *in, int out_level, int bottommost,
                     const uint64_t *snaps, size_t nsnap, ver_table ***tables_out, size_t *count_out,
                     uint64_t *bytes_out, tind_err *err)
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
    s.level = out_level;

    while (cmp_stream_next(&s)) {
        if (w && split && s.new_key && tbl_writer_estimated_size(w) >= o->table_size) {
            rc = finish_table(env, w, number, &tables, &count, &cap, &bytes, err);
            w = NULL;
            if (rc)
                break;
            KILL_POINT("compaction.output");
        }
        if (!w) {
            number = env->new_file_number(env->ctx);
            char path[4096];
            env->table_path(env->ctx, number, path, sizeof path);
            to.file_number = number;
            to.table_id = env->new_table_id(env->ctx, number);
            rc = tbl_writer_open(env->fs, path, &to, &w, err);
            if (rc) {
                w = NULL;
                break;
            }
        }
        rc = tbl_writer_add(w, s.key, s.klen, s.seqno, s.type, s.val, s.vlen, err);
        if (rc)
            break;
    }
    if (rc == TIND_OK)
        rc = cmp_stream_status(&s, err);
    if (rc == TIND_OK && w) {
        rc = finish_table(env, w, number, &tables, &count, &cap, &bytes, err);
        w = NULL;
    }
    if (w)
        tbl_writer_abandon(w);
    cmp_stream_free(&s);
    if (rc == TIND_OK && count) {
        rc = fs_sync_dir(env->fs, env->tables_dir, err);
    }
    if (rc) {
        cmp_tables_discard(tables, count);
        return rc;
    }
    *tables_out = tables;
    *count_out = count;
    *bytes_out = bytes;
    return TIND_OK;
}

/* ------------------------------------------------------------------ running a pick */

/* The merge of the pick's inputs, each read through its table's reader. */
static int merge_inputs(const cmp_env *env, const compaction_pick *p, iiter **out, tind_err *err)
{
    iiter **children = calloc(p->count, sizeof *children);
    if (!children)
        return TIND_ENOMEM;
    int rc = TIND_OK;
    for (size_t n = 0; !rc && n < p->count; n++) {
        tbl *t;
        rc = env->table_reader(env->ctx, p->inputs[n], p->levels[n], &t, err);
        if (!rc)
            rc = tbl_iiter_new(t, &children[n]);
    }
    if (rc) {
        for (size_t i = 0; i < p->count; i++)
            ii_free(children[i]);
        free(children);
        return rc;
    }
    return ii_merge_new(children, p->count, out);
}

int cmp_run(const cmp_env *env, const cmp_options *o, const compaction_pick *p, const uint64_t *snaps, size_t nsnap,
            ver_table ***tables, size_t *count, uint64_t *bytes, tind_err *err)
{
    *tables = NULL;
    *count = 0;
    *bytes = 0;
    if (p->kind == PICK_MERGE) {
        iiter *merged = NULL;
        int rc = merge_inputs(env, p, &merged, err);
        if (!rc)
            rc = cmp_write_tables(env, o, merged, p->out_level, p->bottommost, snaps, nsnap, tables, count, bytes,
                                  err);
        ii_free(merged);
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
