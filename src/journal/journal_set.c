/*
 * journal_set.c -- the journals of a database folder (journal/journal_set.h).
 */
#include "journal/journal_set.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/filename.h"

int jset_init(jset *s, fs *fs, const char *db_path, uint32_t compress_threshold)
{
    memset(s, 0, sizeof *s);
    s->fs = fs;
    s->compress_threshold = compress_threshold;
    mu_init(&s->mu);
    s->dir = fname_join(db_path, FNAME_JOURNALS_DIR);
    return s->dir ? TIND_OK : TIND_ENOMEM;
}

void jset_free(jset *s)
{
    free(s->readers);
    free(s->list);
    free(s->dir);
    mu_destroy(&s->mu);
}

static int list_add(jset *s, uint64_t number) REQUIRES(s->mu)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        jset_journal *p = realloc(s->list, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        s->list = p;
        s->cap = cap;
    }
    jset_journal *j = &s->list[s->count++];
    j->number = number;
    j->max_seqno = 0;
    j->size = 0;
    return TIND_OK;
}

/* ------------------------------------------------------------------ recovery */

/* A journal below the keep number that stays for the change feed: listed
 * with its size, never replayed (every record of it is in tables). One that
 * cannot be opened is left to the caller's usual treatment (deletion): the
 * database needs none of them. */
static int list_add_retained(jset *s, uint64_t number)
{
    char path[4096];
    jrn_path(s->dir, number, path, sizeof path);
    fs_file *f = NULL;
    uint64_t size = 0;
    int rc = fs_open(s->fs, path, FS_O_READ, &f, NULL);
    if (rc == TIND_OK) {
        rc = fs_size(f, &size, NULL);
        fs_close(f, NULL);
    }
    if (rc)
        return rc;
    mu_lock(&s->mu);
    rc = list_add(s, number);
    if (rc == TIND_OK)
        s->list[s->count - 1].size = size;
    mu_unlock(&s->mu);
    return rc;
}

typedef struct replay_ctx {
    jrn_replay_fn fn;
    void *ctx;
    uint64_t journal_max;         /* largest seqno of the journal being replayed */
    uint64_t max_seqno;
} replay_ctx;

static int replay_record(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload, size_t len)
{
    replay_ctx *r = ctx;
    int rc = r->fn(r->ctx, first_seqno, count, payload, len);
    if (rc)
        return rc;
    if (count) {
        uint64_t last = first_seqno + count - 1;
        if (last > r->max_seqno)
            r->max_seqno = last;
        if (last > r->journal_max)
            r->journal_max = last;
    }
    return TIND_OK;
}

int jset_replay(jset *s, jrn_replay_fn fn, void *ctx, uint64_t need_seqno, uint64_t start_limit,
                uint64_t *next_file_number, uint64_t *max_seqno, tind_err *err)
{
    const char *dir = s->dir;
    uint64_t *numbers = NULL;
    size_t count = 0;
    int rc = jrn_list(s->fs, dir, &numbers, &count, err);
    replay_ctx rctx = {fn, ctx, 0, 0};
    jrn_chain chain = {0, 0, 0, 0};
    jrn_chain_need(&chain, need_seqno, start_limit);
    char prev_path[4096] = "";
    mu_lock(&s->mu);
    uint64_t keep = s->keep;
    mu_unlock(&s->mu);
    for (size_t i = 0; rc == TIND_OK && i < count; i++) {
        if (numbers[i] >= *next_file_number)
            *next_file_number = numbers[i] + 1;
        if (numbers[i] < keep) {
            /* flushed and released by the version file; kept for the
             * change feed (jset_delete_obsolete trims them to retain_bytes)
             * or its deletion was interrupted or undone by a crash */
            if (s->retain_bytes && list_add_retained(s, numbers[i]) == TIND_OK)
                continue;
            if (s->read_only)
                continue;
            char old[4096];
            jrn_path(dir, numbers[i], old, sizeof old);
            fs_unlink(s->fs, old, NULL);
            continue;
        }
        mu_lock(&s->mu);
        rc = list_add(s, numbers[i]);
        mu_unlock(&s->mu);
        if (rc)
            break;
        rctx.journal_max = 0;
        char path[4096];
        jrn_path(dir, numbers[i], path, sizeof path);
        jrn_replay_result res;
        int last = i + 1 == count;
        rc = jrn_replay(s->fs, path, replay_record, &rctx, last && !s->read_only, &res, err);
        if (rc == TIND_OK && !last && res.truncated)
            rc = err_set(err, TIND_ECORRUPT,
                         "journal '%s' ends in a damaged record but later journals exist (it was synced "
                         "before they were created)",
                         path);
        /* No intact header: a creation cut short, which only the newest
         * journal can be (its header is synced before a record or a later
         * journal can exist). It holds nothing: it goes now, and the folder
         * sync after replay makes that durable before a new journal exists,
         * so a journal without a header before others is always damage. */
        if (rc == TIND_OK && !res.has_header) {
            if (!last)
                rc = err_set(err, TIND_ECORRUPT,
                             "journal '%s' has no intact header but later journals exist (it was synced before "
                             "they were created): its records are lost",
                             path);
            else if (s->read_only || (rc = fs_unlink(s->fs, path, err)) == TIND_OK) {
                mu_lock(&s->mu);
                s->count--;
                mu_unlock(&s->mu);
                continue;
            }
        }
        /* Journals the version file keeps continue each other: each header
         * names the seqno its first record carries, and the journal before
         * it ends right below that. Anything else means whole records are
         * missing from the end of the earlier one (a synced file cut at a
         * record boundary or to its header), which replay alone cannot see. */
        if (rc == TIND_OK && res.has_header) {
            rc = jrn_chain_add(&chain, &res, path, prev_path, err);
            snprintf(prev_path, sizeof prev_path, "%s", path);
            /* every seqno below a journal's start was given out before it
             * was made (and is durable, or flushed, or belonged to a deleted
             * keyspace): seqnos never go back, and the next journal must
             * start after this one ends */
            if (rc == TIND_OK && chain.end > rctx.max_seqno)
                rctx.max_seqno = chain.end;
        }
        mu_lock(&s->mu);
        jset_journal *j = &s->list[s->count - 1];
        if (rctx.journal_max > j->max_seqno)
            j->max_seqno = rctx.journal_max;
        if (rc == TIND_OK)
            j->size = res.valid_bytes;
        mu_unlock(&s->mu);
        if (rc == TIND_OK && last && !s->read_only) {
            /* what was replayed may sit only in the page cache (a process
             * crash): make it durable before newer journals exist */
            fs_file *f = NULL;
            rc = fs_open(s->fs, path, FS_O_WRITE, &f, err);
            if (rc == TIND_OK) {
                rc = fs_sync(f, FS_SYNC_DATA, err);
                int rc2 = fs_close(f, rc ? NULL : err);
                if (!rc)
                    rc = rc2;
            }
        }
    }
    /* the oldest needed journal deleted, or all of them */
    if (rc == TIND_OK)
        rc = jrn_chain_finish(&chain, dir, err);
    free(numbers);
    if (rc == TIND_OK && rctx.max_seqno > *max_seqno)
        *max_seqno = rctx.max_seqno;
    return rc;
}

/* ------------------------------------------------------------------ writing */

/* Every record assembled so far is in the file. */
static void mark_written(jset *s)
{
    if (s->cur_max_seqno > atomic_load_explicit(&s->written_seqno, memory_order_relaxed))
        atomic_store_explicit(&s->written_seqno, s->cur_max_seqno, memory_order_release);
}

int jset_start(jset *s, uint64_t number, uint64_t start_seqno, tind_err *err)
{
    mu_lock(&s->mu);
    int rc = list_add(s, number);
    mu_unlock(&s->mu);
    jrn_writer *w = NULL;
    jrn_options jo = {s->compress_threshold, start_seqno};
    if (rc == TIND_OK)
        rc = jrn_writer_open(s->fs, s->dir, number, &jo, &w, err);
    s->cur_max_seqno = 0;
    s->cur_size = w ? jrn_size(w) : 0;
    if (start_seqno && start_seqno - 1 > atomic_load_explicit(&s->written_seqno, memory_order_relaxed))
        atomic_store_explicit(&s->written_seqno, start_seqno - 1, memory_order_release); /* the journals before are whole */
    if (rc) {
        mu_lock(&s->mu);
        s->count--;
        mu_unlock(&s->mu);
        return rc;
    }
    s->writer = w;
    return TIND_OK;
}

int jset_append(jset *s, uint64_t first_seqno, uint32_t count, const void *payload, size_t len, uint64_t *grown,
                tind_err *err)
{
    int rc = jrn_append(s->writer, first_seqno, count, payload, len, err);
    if (rc)
        return rc;
    s->cur_max_seqno = first_seqno + count - 1;
    mark_written(s);
    uint64_t size = jrn_size(s->writer);
    *grown = size - s->cur_size;
    s->cur_size = size;
    return TIND_OK;
}

int jset_add(jset *s, uint64_t first_seqno, uint32_t count, const void *payload, size_t len, tind_err *err)
{
    int rc = jrn_add(s->writer, first_seqno, count, payload, len, err);
    if (rc == TIND_OK)
        s->cur_max_seqno = first_seqno + count - 1;
    return rc;
}

int jset_write(jset *s, uint64_t *grown, tind_err *err)
{
    int rc = jrn_write(s->writer, err);
    if (rc)
        return rc;
    mark_written(s);
    uint64_t size = jrn_size(s->writer);
    if (grown)
        *grown = size - s->cur_size;
    s->cur_size = size;
    return TIND_OK;
}

void jset_mark(jset *s) { jrn_mark(s->writer); }

void jset_drop(jset *s, uint64_t max_seqno)
{
    jrn_drop(s->writer);
    s->cur_max_seqno = max_seqno;
}

int jset_sync(jset *s, int how, uint64_t last_seqno, tind_err *err)
{
    int rc = jrn_sync(s->writer, how, err); /* writes pending records first */
    if (rc == TIND_OK) {
        mark_written(s);
        s->synced_seqno = last_seqno;
    }
    return rc;
}

int jset_seal(jset *s, uint64_t last_seqno, tind_err *err)
{
    mu_lock(&s->mu);
    s->list[s->count - 1].max_seqno = s->cur_max_seqno;
    s->list[s->count - 1].size = jrn_size(s->writer);
    mu_unlock(&s->mu);
    int rc = jrn_sync(s->writer, FS_SYNC_DATA, err);
    if (rc == TIND_OK) {
        mark_written(s);
        s->synced_seqno = last_seqno;
        rc = jrn_close(s->writer, err);
    } else {
        jrn_close(s->writer, NULL);
    }
    s->writer = NULL;
    return rc;
}

int jset_close(jset *s, int sync, tind_err *err)
{
    if (!s->writer)
        return TIND_OK;
    int rc = sync ? jrn_sync(s->writer, FS_SYNC_ALL, err) : TIND_OK;
    int rc2 = jrn_close(s->writer, rc ? NULL : err); /* writes pending records */
    if (!rc)
        rc = rc2;
    if (!rc)
        mark_written(s);
    s->writer = NULL;
    return rc;
}

/* ------------------------------------------------------------------ keeping and deleting */

void jset_set_keep(jset *s, uint64_t keep)
{
    mu_lock(&s->mu);
    s->keep = keep;
    mu_unlock(&s->mu);
}

void jset_raise_keep(jset *s, uint64_t keep)
{
    mu_lock(&s->mu);
    if (keep > s->keep)
        s->keep = keep;
    mu_unlock(&s->mu);
}

uint64_t jset_keep_number(jset *s, uint64_t earliest)
{
    mu_lock(&s->mu);
    uint64_t k = s->keep;
    if (s->count) {
        size_t i = 0;
        /* never past the journal being written (the last one) */
        while (i + 1 < s->count && s->list[i].max_seqno < earliest)
            i++;
        if (s->list[i].number > k)
            k = s->list[i].number;
    }
    mu_unlock(&s->mu);
    return k;
}

void jset_delete_obsolete(jset *s)
{
    mu_lock(&s->mu);
    /* only what a durable version file already says may go: journals from
     * keep on are checked for continuity at recovery */
    size_t keep_from = 0;
    uint64_t retained = 0;
    while (keep_from + 1 < s->count && s->list[keep_from].number < s->keep)
        retained += s->list[keep_from++].size;
    /* the newest of them stay for the change feed, up to retain_bytes */
    size_t drop = 0;
    while (drop < keep_from && retained > s->retain_bytes)
        retained -= s->list[drop++].size;
    /* live change feed readers keep what they still need, up to pin_limit */
    uint64_t pin = UINT64_MAX;
    for (size_t i = 0; i < s->reader_count; i++)
        if (s->readers[i] < pin)
            pin = s->readers[i];
    if (drop && pin != UINT64_MAX) {
        size_t from = 0;
        while (from < drop && s->list[from].number < pin)
            from++;
        uint64_t bytes = retained;   /* of list[from .. keep_from) */
        for (size_t i = from; i < drop; i++)
            bytes += s->list[i].size;
        while (from < drop && bytes > s->pin_limit)
            bytes -= s->list[from++].size;
        drop = from;
    }
    if (drop) {
        char path[4200];
        for (size_t i = 0; i < drop; i++) {
            jrn_path(s->dir, s->list[i].number, path, sizeof path);
            fs_unlink(s->fs, path, NULL);
        }
        memmove(s->list, s->list + drop, (s->count - drop) * sizeof *s->list);
        s->count -= drop;
    }
    mu_unlock(&s->mu);
}

uint64_t jset_total_bytes(jset *s)
{
    uint64_t bytes = 0;
    mu_lock(&s->mu);
    for (size_t i = 0; i + 1 < s->count; i++)
        if (s->list[i].number >= s->keep)
            bytes += s->list[i].size;
    mu_unlock(&s->mu);
    return bytes + s->cur_size;
}

int jset_oldest_sealed_max(jset *s, uint64_t *max_seqno)
{
    mu_lock(&s->mu);
    size_t i = 0;
    while (i < s->count && s->list[i].number < s->keep)
        i++;
    int more = i + 1 < s->count;
    if (more)
        *max_seqno = s->list[i].max_seqno;
    mu_unlock(&s->mu);
    return more;
}

int jset_reader_move(jset *s, uint64_t from, uint64_t to)
{
    int added = 0;
    mu_lock(&s->mu);
    for (size_t i = 0; from && i < s->reader_count; i++)
        if (s->readers[i] == from) {
            s->readers[i] = s->readers[--s->reader_count];
            break;
        }
    if (to && s->reader_count == s->reader_cap) {
        size_t cap = s->reader_cap ? s->reader_cap * 2 : 4;
        uint64_t *p = realloc(s->readers, cap * sizeof *p);
        if (p) {
            s->readers = p;
            s->reader_cap = cap;
        }
    }
    if (to && s->reader_count < s->reader_cap) {
        s->readers[s->reader_count++] = to;
        added = 1;
    }
    mu_unlock(&s->mu);
    return added;
}

int jset_list_copy(jset *s, jset_journal **out, size_t *count)
{
    mu_lock(&s->mu);
    *count = s->count;
    *out = NULL;
    int rc = TIND_OK;
    if (s->count) {
        *out = malloc(s->count * sizeof **out);
        if (*out)
            memcpy(*out, s->list, s->count * sizeof **out);
        else
            rc = TIND_ENOMEM;
    }
    mu_unlock(&s->mu);
    return rc;
}
