/*
 * changes.c -- the change feed (tind_changes_since): the committed batches
 * of every keyspace, in seqno order, read back from the journals.
 *
 * The journals hold every batch as one record (first seqno, count, the
 * encoded operations), oldest first, each journal's header naming the first
 * seqno it holds, and consecutive journals meeting exactly. A cursor is a
 * position in them: the journal it reads (an open file), the offset of the
 * next record, and `next`, the first seqno it has not delivered.
 *
 * What a cursor may read (the invariant that makes reading the journal
 * being written safe without any lock of the write path):
 *   1. it delivers only batches whose seqnos are <= visible_seqno, and
 *      reads the file only up to the records <= journals.written_seqno,
 *      loaded with acquire before reading: the journal stores it (release)
 *      after the records' one write call, so every record up to the one
 *      holding seqno `next` <= written is wholly in the file when it is
 *      read: a record there that fails its checksum is damage
 *      (TIND_ECORRUPT), never a write in progress. Visible batches of
 *      TIND_PERSIST_NONE writes may still wait in the journal's user-space
 *      buffer (written < next <= visible): step pushes them to the file
 *      first (db_push_journal, under write_mu);
 *   2. reading the cursor's journal to its end while next <= written means
 *      `next` lives in a later journal: that journal was listed (jset_start)
 *      before the batch was written, and its header gives its first seqno,
 *      which must be <= next (a gap is TIND_ECORRUPT).
 * Journals no longer needed for recovery are deleted after flushes unless
 * retained (tind_options_set_changes_retention, journal/journal_set.c) or
 * pinned: a live cursor registers the journal it reads (jset_reader_move),
 * and the journals from the oldest registered one on stay while they add up
 * to at most max_journal_size. A cursor whose seqno is older than the
 * oldest journal fails with TIND_ENOENT saying so. An open journal file
 * stays readable after its deletion (POSIX), so a cursor finishes the
 * journal it is in.
 *
 * Thread-safety: a cursor is used by one thread at a time; it reads the
 * journal list under its leaf lock and the keyspace names under mu.
 * Cursors are counted in db->live_changes: tind_close refuses while any
 * lives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/journals.h"

struct tind_changes {
    tind_db *db;
    uint64_t next;                /* first seqno not delivered yet */
    /* the journal being read */
    fs_file *file;
    uint64_t number;
    uint64_t pinned;              /* the journal registered as this reader's (0 = none) */
    uint64_t off;                 /* next record's offset */
    uint8_t header[JRN_FILE_HEADER_SIZE];
    tbuf record;                  /* file header + one record, for jrn_replay_buffer */
    tbuf ahead;                   /* read-ahead: journal bytes from ahead_off on */
    uint64_t ahead_off;
    uint64_t ahead_visible;       /* visible_seqno loaded before `ahead` was read */
    /* the current batch */
    int valid;
    uint64_t seqno;
    tbuf payload;
    tind_change_op *ops;
    size_t count;
    size_t ops_cap;
};

/* ------------------------------------------------------------------ journals */

static void close_journal(tind_changes *c)
{
    if (c->file)
        fs_close(c->file, NULL);
    c->file = NULL;
    if (c->pinned)
        jset_reader_move(&c->db->journals, c->pinned, 0);
    c->pinned = 0;
}

/* Opens journal `number` and reads its header: *start is its first seqno.
 * TIND_ENOENT when the file is gone (deleted, or not created yet). */
static int open_journal(tind_changes *c, uint64_t number, uint64_t *start, tind_err *err)
{
    tind_db *db = c->db;
    char path[4200];
    jrn_path(db->journals.dir, number, path, sizeof path);
    fs_file *f = NULL;
    int rc = fs_open(db->fs, path, FS_O_READ, &f, err);
    if (rc)
        return rc;
    size_t got = 0;
    rc = fs_read(f, c->header, sizeof c->header, 0, &got, err);
    jrn_replay_result res;
    memset(&res, 0, sizeof res);
    if (rc == TIND_OK && got == sizeof c->header)
        rc = jrn_replay_buffer(c->header, sizeof c->header, NULL, NULL, &res, err);
    if (rc == TIND_OK && (got < sizeof c->header || !res.has_header)) {
        /* no header yet (a journal being created), unless records follow */
        uint64_t size = 0;
        rc = fs_size(f, &size, err);
        if (rc == TIND_OK && size > JRN_FILE_HEADER_SIZE)
            rc = err_set(err, TIND_ECORRUPT, "journal '%s': its header is damaged", path);
        else if (rc == TIND_OK)
            rc = err_set(err, TIND_ENOENT, "journal '%s' has no header yet", path);
    }
    if (rc == TIND_OK && res.number != number)
        rc = err_set(err, TIND_ECORRUPT, "journal '%s': its header names journal %llu", path,
                     (unsigned long long)res.number);
    if (rc) {
        fs_close(f, NULL);
        return rc;
    }
    if (c->file)
        fs_close(c->file, NULL);
    c->file = f;
    c->number = number;
    c->ahead.len = 0;   /* another file */
    /* pin the new journal before the old one is let go */
    c->pinned = jset_reader_move(&db->journals, c->pinned, number) ? number : 0;
    c->off = JRN_FILE_HEADER_SIZE;
    *start = res.start_seqno;
    return TIND_OK;
}

/* Positions the cursor in the newest journal that starts at or before
 * c->next. TIND_ENOENT when every journal starts after it (the changes
 * were deleted). */
static int locate(tind_changes *c, tind_err *err)
{
    jset_journal *list = NULL;
    size_t count = 0;
    int rc = jset_list_copy(&c->db->journals, &list, &count);
    if (rc)
        return err_set(err, rc, "change feed: out of memory");
    uint64_t oldest = 0;
    rc = TIND_ENOENT;
    for (size_t i = count; i-- > 0;) {
        uint64_t start = 0;
        tind_err e;
        err_clear(&e);
        int orc = open_journal(c, list[i].number, &start, &e);
        if (orc == TIND_ENOENT)
            continue;   /* deleted meanwhile, or the newest not made yet */
        if (orc) {
            rc = orc;
            *err = e;
            break;
        }
        oldest = start;
        if (start <= c->next) {
            rc = TIND_OK;
            break;
        }
    }
    if (rc == TIND_ENOENT) {
        close_journal(c);
        if (oldest)
            err_set(err, rc,
                    "change feed: seqno %llu is no longer kept: the oldest journal starts at seqno %llu "
                    "(tind_options_set_changes_retention keeps more)",
                    (unsigned long long)c->next, (unsigned long long)oldest);
        else
            err_set(err, rc, "change feed: no journal holds seqno %llu", (unsigned long long)c->next);
    }
    free(list);
    return rc;
}

/* Moves to the journal after the cursor's. 0 when there is none yet. */
static int next_journal(tind_changes *c, int *moved, tind_err *err)
{
    jset_journal *list = NULL;
    size_t count = 0;
    *moved = 0;
    int rc = jset_list_copy(&c->db->journals, &list, &count);
    if (rc)
        return err_set(err, rc, "change feed: out of memory");
    uint64_t number = 0;
    int listed = 0;   /* the journal being read is still there (journals go oldest first) */
    for (size_t i = 0; i < count && !number; i++) {
        listed |= list[i].number == c->number;
        if (list[i].number > c->number)
            number = list[i].number;
    }
    free(list);
    if (!number)
        return TIND_OK;
    uint64_t start = 0, from = c->number;
    rc = open_journal(c, number, &start, err);
    if (rc == TIND_OK && start > c->next && !listed)
        rc = err_set(err, TIND_ENOENT,
                     "change feed: seqno %llu is no longer kept: the journals after journal %llu were deleted while "
                     "it was read (tind_options_set_changes_retention keeps more)",
                     (unsigned long long)c->next, (unsigned long long)from);
    else if (rc == TIND_OK && start > c->next)
        rc = err_set(err, TIND_ECORRUPT,
                     "change feed: journal %llu starts at seqno %llu, but the journals before it end at %llu",
                     (unsigned long long)number, (unsigned long long)start, (unsigned long long)(c->next - 1));
    if (rc)
        return rc;
    *moved = 1;
    return TIND_OK;
}

/* ------------------------------------------------------------------ records */

typedef struct got_record {
    tind_changes *c;
    uint64_t first;
    uint32_t count;
} got_record;

static int keep_record(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload, size_t len)
{
    got_record *g = ctx;
    g->first = first_seqno;
    g->count = count;
    tbuf_reset(&g->c->payload);
    return tbuf_append(&g->c->payload, payload, len);
}

/* Journal bytes are read ahead in chunks of this size (one pread serves
 * many small records). */
#define FEED_CHUNK (256u << 10)

/* Points *p at bytes [off, off + n) of the journal being read: 1, or 0 when
 * the file holds fewer bytes. The read-ahead buffer serves them only while
 * c->next <= the visible seqno loaded before the buffer was read: then every
 * record up to the one holding `next` (the only ones read from it) was whole
 * in the file when the buffer was read (rule 1 at the top); otherwise, or
 * when the bytes are not in it, the buffer is read again from off. */
static int journal_bytes(tind_changes *c, uint64_t off, size_t n, const uint8_t **p, tind_err *err)
{
    if (c->next <= c->ahead_visible && off >= c->ahead_off && off + n <= c->ahead_off + c->ahead.len) {
        *p = c->ahead.data + (off - c->ahead_off);
        return 1;
    }
    size_t want = n > FEED_CHUNK ? n : FEED_CHUNK;
    tbuf_reset(&c->ahead);
    if (tbuf_reserve(&c->ahead, want))
        return err_set(err, TIND_ENOMEM, "change feed: out of memory for %zu bytes of journal", want);
    /* the records up to written_seqno are whole in the file (visible ones
     * may still wait in the journal's user-space buffer: step pushes them) */
    c->ahead_visible = atomic_load_explicit(&c->db->journals.written_seqno, memory_order_acquire);
    c->ahead_off = off;
    size_t got = 0;
    int rc = fs_read(c->file, c->ahead.data, want, off, &got, err);
    c->ahead.len = rc ? 0 : got;
    if (rc || got < n)
        return rc;
    *p = c->ahead.data;
    return 1;
}

/* Reads the record at c->off into c->payload: 1 when read, 2 when it was a
 * mark (journal.h: no entries; stepped over), 0 at the end of the journal
 * (nothing, or not a whole record, follows). */
static int read_one(tind_changes *c, got_record *g, tind_err *err)
{
    const uint8_t *head = NULL;
    int rc = journal_bytes(c, c->off, JRN_RECORD_HEADER_SIZE, &head, err);
    if (rc <= 0)
        return rc;
    uint32_t stored = (uint32_t)head[4] | (uint32_t)head[5] << 8 | (uint32_t)head[6] << 16 | (uint32_t)head[7] << 24;
    size_t len = JRN_RECORD_HEADER_SIZE + (size_t)stored;
    if (len > FEED_CHUNK) {
        /* a length past the file's end is no whole record (and a damaged
         * one must not make us allocate up to 4 GiB) */
        uint64_t size = 0;
        rc = fs_size(c->file, &size, err);
        if (rc || c->off + len > size)
            return rc;
    }
    const uint8_t *rec = NULL;
    rc = journal_bytes(c, c->off, len, &rec, err);
    if (rc <= 0)
        return rc;
    /* jrn_replay_buffer checks and decodes a journal: its header, then the record */
    size_t total = JRN_FILE_HEADER_SIZE + len;
    tbuf_reset(&c->record);
    if (tbuf_reserve(&c->record, total))
        return err_set(err, TIND_ENOMEM, "change feed: out of memory for a record of %u bytes", stored);
    memcpy(c->record.data, c->header, JRN_FILE_HEADER_SIZE);
    memcpy(c->record.data + JRN_FILE_HEADER_SIZE, rec, len);
    c->record.len = total;
    jrn_replay_result res;
    memset(&res, 0, sizeof res);
    tind_err e;
    err_clear(&e);
    g->c = c;
    rc = jrn_replay_buffer(c->record.data, total, keep_record, g, &res, &e);
    if (rc == TIND_OK && res.records + res.marks != 1)
        rc = TIND_ECORRUPT;
    if (rc)
        return err_set(err, rc, "change feed: journal %llu, record at offset %llu: %s", (unsigned long long)c->number,
                       (unsigned long long)c->off, e.msg[0] ? e.msg : "checksum mismatch");
    c->off += len;
    return res.marks ? 2 : 1;
}

/* read_one, stepping over marks. */
static int read_record(tind_changes *c, got_record *g, tind_err *err)
{
    int rc;
    while ((rc = read_one(c, g, err)) == 2)
        ;
    return rc;
}

/* Splits c->payload into c->ops (names looked up under mu). */
static int decode_ops(tind_changes *c, uint32_t count, tind_err *err)
{
    if (count > c->ops_cap) {
        tind_change_op *p = realloc(c->ops, count * sizeof *p);
        if (!p)
            return err_set(err, TIND_ENOMEM, "change feed: out of memory for %u operations", count);
        c->ops = p;
        c->ops_cap = count;
    }
    tind_db *db = c->db;
    const uint8_t *p = c->payload.data, *end = p + c->payload.len;
    mu_lock(&db->mu);
    tind_keyspace *ks = NULL;
    for (uint32_t i = 0; i < count && p; i++) {
        batch_entry e;
        p = batch_entry_decode(p, end, &e);
        if (!p)
            break;
        if (!ks || ks->id != e.ks_id)
            ks = db_keyspace_by_id(db, e.ks_id);
        tind_change_op *op = &c->ops[i];
        op->type = e.type == ENTRY_VALUE             ? TIND_CHANGE_PUT
                   : e.type == ENTRY_TOMBSTONE         ? TIND_CHANGE_REMOVE
                   : e.type == ENTRY_MERGE             ? TIND_CHANGE_MERGE
                   : e.type == ENTRY_SINGLE_DELETE     ? TIND_CHANGE_SINGLE_REMOVE
                   : e.type == ENTRY_RANGE_TOMBSTONE   ? TIND_CHANGE_REMOVE_RANGE
                                                       : TIND_CHANGE_OTHER;
        op->keyspace = ks ? ks->name : NULL;
        op->keyspace_id = e.ks_id;
        op->key = e.key;
        op->klen = e.klen;
        /* a merge: value = the operand; a range deletion: value = its end (vlen 0: no end) */
        int has_value = e.type == ENTRY_VALUE || e.type == ENTRY_MERGE || e.type == ENTRY_RANGE_TOMBSTONE;
        op->value = has_value ? e.val : NULL;
        op->vlen = has_value ? e.vlen : 0;
    }
    mu_unlock(&db->mu);
    if (!p || p != end)
        return err_set(err, TIND_ECORRUPT, "change feed: journal %llu: batch at seqno %llu does not decode",
                       (unsigned long long)c->number, (unsigned long long)c->seqno);
    c->count = count;
    return TIND_OK;
}

/* One step: 1 with the next batch in place, 0 when none is visible yet, or
 * an error. */
static int step(tind_changes *c, tind_err *err)
{
    tind_db *db = c->db;
    uint64_t visible = atomic_load_explicit(&db->visible_seqno, memory_order_acquire);
    if (c->next > visible)
        return 0;
    if (c->next > atomic_load_explicit(&db->journals.written_seqno, memory_order_acquire)) {
        /* committed by TIND_PERSIST_NONE writes whose records still wait in
         * the journal's user-space buffer: hand them to the OS first */
        int rc = db_push_journal(db, err);
        if (rc)
            return rc;
    }
    if (!c->file) {
        int rc = locate(c, err);
        if (rc)
            return rc;
    }
    for (;;) {
        got_record g = {c, 0, 0};
        uint64_t at = c->off;
        int rc = read_record(c, &g, err);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            /* the end of this journal: `next` is in a later one (rule 2) */
            int moved = 0;
            rc = next_journal(c, &moved, err);
            if (rc)
                return rc;
            if (!moved)   /* `next` is committed, so some journal holds it */
                return err_set(err, TIND_ECORRUPT,
                               "change feed: journal %llu ends at offset %llu before committed seqno %llu, and no "
                               "later journal exists",
                               (unsigned long long)c->number, (unsigned long long)c->off,
                               (unsigned long long)c->next);
            continue;
        }
        uint64_t last = g.first + g.count - 1;
        if (last < c->next)
            continue;   /* delivered already, or before the seqno asked for */
        if (g.first > visible) {
            c->off = at;  /* not committed yet (cannot happen by rule 1; kept for safety) */
            return 0;
        }
        c->seqno = g.first;
        rc = decode_ops(c, g.count, err);
        if (rc)
            return rc;
        c->next = last + 1;
        c->valid = 1;
        return 1;
    }
}

/* ------------------------------------------------------------------ the API */

TIND_API void tind_options_set_changes_retention(tind_options *o, uint64_t bytes)
{
    if (o)
        o->changes_retention = bytes;
}

TIND_API int tind_last_seqno(tind_db *db, uint64_t *seqno)
{
    if (!db || !seqno)
        return TIND_EINVAL;
    int rc = db_enter(db);
    if (rc)
        return rc;
    *seqno = atomic_load_explicit(&db->visible_seqno, memory_order_acquire);
    db_leave(db);
    return TIND_OK;
}

TIND_API int tind_changes_since(tind_db *db, uint64_t seqno, tind_changes **out)
{
    if (!db || !out)
        return TIND_EINVAL;
    *out = NULL;
    int rc = db_enter(db);
    if (rc)
        return rc;
    tind_err err;
    err_clear(&err);
    tind_changes *c = calloc(1, sizeof *c);
    if (!c) {
        rc = db_fail(db, err_set(&err, TIND_ENOMEM, "change feed: out of memory"), &err);
        db_leave(db);
        return rc;
    }
    c->db = db;
    c->next = seqno ? seqno : 1;
    /* a seqno already written must still be in a journal: say so now */
    if (c->next <= atomic_load_explicit(&db->visible_seqno, memory_order_acquire))
        rc = locate(c, &err);
    if (rc) {
        close_journal(c);
        free(c);
        rc = db_fail(db, rc, &err);
    } else {
        atomic_fetch_add(&db->live_changes, 1);
        *out = c;
    }
    db_leave(db);
    return rc;
}

TIND_API int tind_changes_next(tind_changes *c, int timeout_ms)
{
    if (!c)
        return TIND_EINVAL;
    tind_db *db = c->db;
    int rc = db_enter(db);
    if (rc)
        return rc;
    tind_err err;
    err_clear(&err);
    c->valid = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        rc = step(c, &err);
        if (rc)
            break;
        if (timeout_ms == 0) {
            rc = TIND_NOT_FOUND;
            break;
        }
        if (atomic_load(&db->close_begun)) {
            rc = err_set(&err, TIND_ECLOSED, "change feed: the database is closing");
            break;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t waited = (int64_t)(now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (timeout_ms > 0 && waited >= timeout_ms) {
            rc = TIND_NOT_FOUND;
            break;
        }
        /* polled: the write path stays free of any hook for readers */
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (rc == 1)
        rc = TIND_OK;
    rc = rc == TIND_NOT_FOUND ? rc : db_fail(db, rc, &err);
    db_leave(db);
    return rc;
}

TIND_API uint64_t tind_changes_seqno(const tind_changes *c) { return c && c->valid ? c->seqno : 0; }

TIND_API size_t tind_changes_count(const tind_changes *c) { return c && c->valid ? c->count : 0; }

TIND_API const tind_change_op *tind_changes_op(const tind_changes *c, size_t i)
{
    return c && c->valid && i < c->count ? &c->ops[i] : NULL;
}

TIND_API void tind_changes_free(tind_changes *c)
{
    if (!c)
        return;
    atomic_fetch_sub(&c->db->live_changes, 1);
    close_journal(c);
    tbuf_free(&c->record);
    tbuf_free(&c->ahead);
    tbuf_free(&c->payload);
    free(c->ops);
    free(c);
}
