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

uint64_t jset_preallocate_for(uint64_t journal_file_size)
{
    uint64_t step = journal_file_size / 16 / 4096 * 4096;
    return step > ((uint64_t)1 << 20) ? (uint64_t)1 << 20 : step;
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
    j->unsynced = 0;
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
    uint64_t expect;              /* 0, or the seqno the journal's first record must carry */
    int gap;                      /* its first record came after `expect`: records are missing */
    uint64_t gap_first;           /* that record's first seqno */
} replay_ctx;

static int replay_record(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload, size_t len)
{
    replay_ctx *r = ctx;
    if (r->expect) {
        /* the journal before ended early: nothing of this one may be
         * replayed before the caller decides whether it is kept */
        if (first_seqno > r->expect) {
            r->gap = 1;
            r->gap_first = first_seqno;
            return TIND_ECORRUPT;
        }
        r->expect = 0;
    }
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

/* fdatasyncs journal `number` through a handle of its own. */
static int sync_file(jset *s, uint64_t number, tind_err *err)
{
    char path[4200];
    jrn_path(s->dir, number, path, sizeof path);
    fs_file *f = NULL;
    int rc = fs_open(s->fs, path, FS_O_WRITE, &f, err);
    if (rc == TIND_OK) {
        /* fsync, not fdatasync: sealing may have cut the file's preallocated
         * zeros (jrn_trim), a size change this sync makes durable */
        rc = fs_sync(f, FS_SYNC_ALL, err);
        int rc2 = fs_close(f, rc ? NULL : err);
        if (!rc)
            rc = rc2;
    }
    return rc;
}

/* Journal `path` (index i of numbers) ends the history early: a version 4
 * journal that was sealed unsynced. Unless a later journal proves that it
 * had been synced (a prior-synced record from seqno `from` on: TIND_ECORRUPT,
 * `what` says what is wrong), the later journals, numbers[i + 1 ..], are
 * deleted and the folder synced, so that cutting the torn tail (the caller,
 * afterwards) never leaves a journal that starts past the cut one's end. */
static int drop_later(jset *s, const char *path, const uint64_t *numbers, size_t i, size_t count, uint64_t from,
                      const char *what, tind_err *err)
{
    char later[4096];
    for (size_t j = i + 1; j < count; j++) {
        jrn_path(s->dir, numbers[j], later, sizeof later);
        int found = 0;
        int rc = jrn_find_prior_synced(s->fs, later, from, &found, err);
        if (rc)
            return rc;
        if (found)
            return err_set(err, TIND_ECORRUPT,
                           "journal '%s' %s, but journal '%s' holds a record written after it was synced", path,
                           what, later);
    }
    if (s->read_only || i + 1 == count)
        return TIND_OK;
    for (size_t j = i + 1; j < count; j++) {
        jrn_path(s->dir, numbers[j], later, sizeof later);
        int rc = fs_unlink(s->fs, later, err);
        if (rc)
            return err_wrap(err, rc, "journal '%s': deleting it (an older journal lost its tail)", later);
    }
    int rc = fs_sync_dir(s->fs, s->dir, err);
    if (rc)
        err_wrap(err, rc, "journal folder '%s'", s->dir);
    return rc;
}

int jset_replay(jset *s, jrn_replay_fn fn, void *ctx, uint64_t need_seqno, uint64_t start_limit,
                uint64_t *next_file_number, uint64_t *max_seqno, tind_err *err)
{
    const char *dir = s->dir;
    uint64_t *numbers = NULL;
    size_t count = 0;
    int rc = jrn_list(s->fs, dir, &numbers, &count, err);
    replay_ctx rctx = {fn, ctx, 0, 0, 0, 0, 0};
    jrn_chain chain = {0, 0, 0, 0};
    jrn_chain_need(&chain, need_seqno, start_limit);
    char prev_path[4096] = "";
    uint32_t prev_version = 0;
    mu_lock(&s->mu);
    uint64_t keep = s->keep;
    mu_unlock(&s->mu);
    for (size_t i = 0; i < count; i++)
        if (numbers[i] >= *next_file_number)
            *next_file_number = numbers[i] + 1;
    for (size_t i = 0; rc == TIND_OK && i < count; i++) {
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
        rctx.expect = chain.started ? chain.end + 1 : 0;
        rctx.gap = 0;
        char path[4096];
        jrn_path(dir, numbers[i], path, sizeof path);
        jrn_replay_result res;
        int last = i + 1 == count;
        rc = jrn_replay(s->fs, path, replay_record, &rctx, last && !s->read_only, &res, err);
        /* Records missing between the journal before and this one (its
         * first record, or its start, is past that one's end). When that
         * one was sealed unsynced (version 4) it is the end of the history:
         * this journal and the later ones go, nothing of them replayed. */
        if (rctx.gap && res.has_header && res.start_seqno <= chain.end + 1) {
            /* the header meets the journal before; its first record does not */
            rc = err_set(err, TIND_ECORRUPT, "journal '%s': first record has seqno %llu, its header says %llu", path,
                         (unsigned long long)rctx.gap_first, (unsigned long long)res.start_seqno);
            break;
        }
        int gap = rctx.gap || (rc == TIND_OK && chain.started && res.has_header && res.start_seqno > chain.end + 1);
        if (gap && prev_version >= JRN_FORMAT_VERSION_UNSYNCED) {
            char what[160];
            snprintf(what, sizeof what, "ends at seqno %llu where records are missing",
                     (unsigned long long)chain.end);
            rc = drop_later(s, prev_path, numbers, i - 1, count, chain.end + 1, what, err);
            mu_lock(&s->mu);
            s->count--;
            mu_unlock(&s->mu);
            break;
        }
        if (rctx.gap) /* an older format: damage, reported by the chain check */
            rc = TIND_OK;
        /* A torn tail before later journals: the crash came before this
         * journal, sealed unsynced (version 4), was written back. Before
         * version 4 a sealed journal was synced: damage. */
        int torn_sealed = rc == TIND_OK && !last && res.truncated;
        if (torn_sealed && res.version >= JRN_FORMAT_VERSION_UNSYNCED) {
            rc = drop_later(s, path, numbers, i, count, res.records ? res.last_seqno + 1 : res.start_seqno,
                            "ends in a damaged record", err);
            if (rc == TIND_OK && !s->read_only) {
                rc = jrn_truncate(s->fs, path, res.valid_bytes, err);
                if (rc)
                    err_wrap(err, rc, "journal %s: cutting the torn tail at offset %llu", path,
                             (unsigned long long)res.valid_bytes);
            }
            last = 1;
            count = i + 1;
        } else if (torn_sealed) {
            rc = err_set(err, TIND_ECORRUPT,
                         "journal '%s' ends in a damaged record but later journals exist (it was synced "
                         "before they were created)",
                         path);
        }
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
            prev_version = res.version;
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
    }
    /* the oldest needed journal deleted, or all of them */
    if (rc == TIND_OK)
        rc = jrn_chain_finish(&chain, dir, err);
    /* What was replayed may sit only in the page cache (a process crash),
     * in any journal now that sealing does not sync: make every kept one
     * durable before newer journals exist, so that the next journal's
     * records may carry the prior-synced flag from the start. */
    if (rc == TIND_OK && !s->read_only) {
        mu_lock(&s->mu);
        size_t n = s->count;
        uint64_t *kept = malloc((n ? n : 1) * sizeof *kept);
        size_t nk = 0;
        for (size_t i = 0; kept && i < n; i++)
            if (s->list[i].number >= keep)
                kept[nk++] = s->list[i].number;
        mu_unlock(&s->mu);
        if (!kept)
            rc = err_set(err, TIND_ENOMEM, "journals in '%s': out of memory", dir);
        for (size_t i = 0; rc == TIND_OK && i < nk; i++)
            if ((rc = sync_file(s, kept[i], err)) != TIND_OK)
                err_wrap(err, rc, "journal %llu in '%s': sync", (unsigned long long)kept[i], dir);
        free(kept);
    }
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

/* Which sealed journals sync_sealed syncs: below == 0, those from the keep
 * number on (recovery replays them); otherwise those below `below` (kept
 * for the change feed, about to be released by a version file). */
static int sync_wanted(const jset *s, const jset_journal *j, uint64_t below) REQUIRES(s->mu)
{
    return j->unsynced && (below ? j->number < below : j->number >= s->keep);
}

/* 1 when a sealed journal from the keep number on is not synced yet. */
static int any_unsynced(jset *s) REQUIRES(s->mu)
{
    for (size_t i = 0; i < s->count; i++)
        if (sync_wanted(s, &s->list[i], 0))
            return 1;
    return 0;
}

/* Syncs every sealed journal sync_wanted names that is not synced yet,
 * oldest first (one gone meanwhile, deleted as obsolete, needs none). The
 * list's mutex is not held during a sync. */
static int sync_sealed(jset *s, uint64_t below, tind_err *err)
{
    for (;;) {
        uint64_t number = 0;
        mu_lock(&s->mu);
        /* the journal being written is not `unsynced` (jset_seal sets it),
         * so every entry is looked at: s->writer is the writer's, not ours
         * (a version file's writer calls this without the write lock) */
        for (size_t i = 0; i < s->count && !number; i++)
            if (sync_wanted(s, &s->list[i], below))
                number = s->list[i].number;
        mu_unlock(&s->mu);
        if (!number)
            return TIND_OK;
        tind_err local;
        err_clear(&local);
        int rc = sync_file(s, number, &local);
        mu_lock(&s->mu);
        size_t i = 0;
        while (i < s->count && s->list[i].number != number)
            i++;
        /* gone or released meanwhile (jset_delete_obsolete): not needed */
        if (rc == TIND_ENOENT && (i == s->count || (!below && number < s->keep)))
            rc = TIND_OK;
        if (rc == TIND_OK && i < s->count)
            s->list[i].unsynced = 0;
        mu_unlock(&s->mu);
        if (rc) {
            if (err)
                *err = local;
            return err_wrap(err, rc, "journal %llu: sync of the sealed journal", (unsigned long long)number);
        }
    }
}

int jset_sync_sealed(jset *s, tind_err *err) { return sync_sealed(s, 0, err); }

int jset_sync_released(jset *s, uint64_t keep, tind_err *err)
{
    return s->retain_bytes && keep ? sync_sealed(s, keep, err) : TIND_OK;
}

int jset_start(jset *s, uint64_t number, uint64_t start_seqno, tind_err *err)
{
    mu_lock(&s->mu);
    int rc = list_add(s, number);
    int prior_synced = !any_unsynced(s);
    mu_unlock(&s->mu);
    jrn_writer *w = NULL;
    jrn_options jo = {s->compress_threshold, start_seqno, s->preallocate, prior_synced};
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
    /* older first: a synced record never follows one a power loss can take */
    int rc = sync_sealed(s, 0, err);
    if (rc == TIND_OK) {
        jrn_set_prior_synced(s->writer);
        rc = jrn_sync(s->writer, how, err); /* writes pending records first */
    }
    if (rc == TIND_OK) {
        mark_written(s);
        s->synced_seqno = last_seqno;
    }
    return rc;
}

int jset_seal(jset *s, uint64_t last_seqno, tind_err *err)
{
    (void)last_seqno; /* not synced: synced_seqno stays */
    int failed = jrn_failed(s->writer);
    uint64_t number = jrn_number(s->writer);
    /* the pending records, then the preallocated zeros go: a sealed journal
     * ends at its last record (until a sync covers the cut it counts as
     * unsynced: jrn_synced) */
    int trc = jrn_trim(s->writer, err);
    mu_lock(&s->mu);
    s->list[s->count - 1].max_seqno = s->cur_max_seqno;
    s->list[s->count - 1].size = jrn_size(s->writer);
    s->list[s->count - 1].unsynced = !jrn_synced(s->writer);
    mu_unlock(&s->mu);
    int rc = jrn_close(s->writer, trc ? NULL : err);
    if (trc)
        rc = trc;
    if (rc == TIND_OK && failed)
        rc = err_set(err, TIND_EPOISONED, "journal %llu: an earlier write or sync failed",
                     (unsigned long long)number);
    if (rc == TIND_OK)
        mark_written(s);
    s->writer = NULL;
    return rc;
}

int jset_close(jset *s, int sync, tind_err *err)
{
    if (!s->writer)
        return TIND_OK;
    int rc = sync ? sync_sealed(s, 0, err) : TIND_OK;
    if (rc == TIND_OK && sync)
        rc = jrn_trim(s->writer, err); /* the sync below makes the cut durable too */
    if (rc == TIND_OK && sync)
        rc = jrn_sync(s->writer, FS_SYNC_ALL, err);
    /* Nothing would witness that sync: a mark carrying both flags, synced
     * in turn, makes damage to any journal found later corruption instead
     * of a power loss's torn tail (journal.h, "Marks"). */
    if (rc == TIND_OK && sync) {
        jrn_set_prior_synced(s->writer);
        rc = jrn_add_mark(s->writer, err);
        if (rc == TIND_OK)
            rc = jrn_sync(s->writer, FS_SYNC_DATA, err);
    }
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

int jset_sealed_end(jset *s, uint64_t seqno, uint64_t *end)
{
    int found = 0;
    mu_lock(&s->mu);
    /* the one being written has max_seqno 0 until it is sealed; the last
     * one is never passed by the keep number (jset_keep_number), so it
     * counts only when a later one is listed */
    for (size_t i = 0; i + 1 < s->count && !found; i++)
        if (s->list[i].max_seqno >= seqno) {
            *end = s->list[i].max_seqno;
            found = 1;
        }
    mu_unlock(&s->mu);
    return found;
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
