/*
 * write.c -- write batches and the write path.
 *
 * A write (a batch, or a single put/remove as a batch of one):
 *   0. backpressure, before anything: wait while the keyspaces it touches
 *      have too many sealed memtables or L0 tables; sleep briefly (slow
 *      down) when they are close to it (a flush needs write_mu to sync the
 *      journal, so nobody may stall while holding it);
 *   1. queue (group commit, db/wgroup.h): the writer at the head of the
 *      queue leads, takes write_mu and collects the group -- itself and the
 *      batches queued behind it (up to 1 MiB; a transaction or an exact
 *      seqno only ever leads);
 *   2. per batch, in queue order: assign sequence numbers first ..
 *      first+count-1 and assemble its journal record (one record per batch:
 *      the change feed and replay see whole batches);
 *   3. write every record of the group with ONE write call (a crash leaves
 *      whole records and a torn tail that replay drops);
 *   4. insert every entry into its keyspace's active memtable;
 *   5. publish visible_seqno = the group's last seqno (all become visible at
 *      once, never before they are in the journal);
 *   6. sync the journal once when any batch's durability asks for it (the
 *      strongest asked);
 *   7. seal memtables that are full, rotate the journal past its size, and
 *      seal what pins the oldest journals past the total journal limit;
 *   8. wake the followers with their status; the next queued writer leads.
 * A failed journal write or sync, or a memtable insert that fails after the
 * record is in the journal, fails every batch of the group and poisons the database (TIND_EPOISONED from then
 * on): retrying an fsync after a failure is unsafe, and the memtables would
 * no longer match the journal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/conflicts.h"
#include "db/write.h"
#include "util/killpoint.h"
#include "util/coding.h"

struct tind_batch {
    tind_db *db;
    tbuf payload;
    uint32_t count;
    int durability;
    uint64_t user_bytes;
    tind_keyspace **touched;     /* distinct keyspaces of the batch */
    size_t touched_count;
    size_t touched_cap;
    uint64_t at_seqno;           /* tind_batch_commit_at: the first seqno it must get; 0 = any */
};

int db_check_kv(const void *key, size_t klen, const void *val, size_t vlen, int has_value, tind_err *err)
{
    int rc = db_check_key(key, klen, err);
    if (rc)
        return rc;
    if (has_value && vlen > TIND_MAX_VALUE_SIZE)
        return err_set(err, TIND_ETOOBIG, "value of %zu bytes is over the limit of %u", vlen, TIND_MAX_VALUE_SIZE);
    if (has_value && vlen && !val)
        return err_set(err, TIND_EINVAL, "value pointer is NULL with a length of %zu", vlen);
    return TIND_OK;
}

/* Bytes encode_entry() writes for one operation. */
static size_t entry_size(uint32_t ks_id, size_t klen, size_t vlen, int has_value)
{
    size_t n = 1 + varint_len(ks_id) + varint_len(klen) + klen;
    return has_value ? n + varint_len(vlen) + vlen : n;
}

/* A batch is one journal record: its encoded operations (`used` bytes so far
 * plus `add` more) must fit the record's 32-bit length (or the lower test
 * limit), checked before anything is written -- the journal refusing an
 * oversized record would poison the database for a mere input error. */
static int check_record_room(const tind_db *db, size_t used, size_t add, tind_err *err)
{
    uint64_t max = db->opts.max_record_bytes ? db->opts.max_record_bytes : JRN_MAX_PAYLOAD;
    if (max > JRN_MAX_PAYLOAD)
        max = JRN_MAX_PAYLOAD;
    if ((uint64_t)used + add > max)
        return err_set(err, TIND_ETOOBIG,
                       "batch of %zu + %zu bytes is over the limit of %llu bytes of encoded operations", used, add,
                       (unsigned long long)max);
    return TIND_OK;
}

static int encode_entry(tbuf *out, uint8_t type, uint32_t ks_id, const void *key, size_t klen, const void *val,
                        size_t vlen)
{
    if (tbuf_reserve(out, 1 + 3 * VARINT64_MAX_LEN + klen + vlen))
        return TIND_ENOMEM;
    uint8_t *p = out->data + out->len;
    *p++ = type;
    p = enc_varint64(p, ks_id);
    p = enc_varint64(p, klen);
    memcpy(p, key, klen);
    p += klen;
    if (batch_entry_has_value(type)) {
        p = enc_varint64(p, vlen);
        if (vlen)
            memcpy(p, val, vlen);
        p += vlen;
    }
    out->len = (size_t)(p - out->data);
    return TIND_OK;
}

/* ------------------------------------------------------------------ rotation */

static uint64_t memtables_bytes(tind_keyspace *ks)
{
    uint64_t n = mt_memory(ks->active);
    for (size_t i = 0; i < ks->sealed_count; i++)
        n += mt_memory(ks->sealed[i]);
    return n;
}

/* After a write: seal full memtables, rotate the journal, enforce the write
 * buffer and the journal size limit. write_mu held. */
static int after_write(tind_db *db, tind_batch *b, tind_err *err) REQUIRES(db->write_mu)
{
    int rc = TIND_OK;
    for (size_t i = 0; i < b->touched_count && !rc; i++) {
        tind_keyspace *ks = b->touched[i];
        if (mt_memory(ks->active) >= ks->opts.memtable_size)
            rc = ks_seal_memtable(ks, err);
    }
    if (rc)
        return rc;

    if (jset_size(&db->journals) >= db->opts.journal_file_size) {
        rc = db_rotate_journal(db, err);
        if (rc)
            return rc;
    }

    /* database-wide write buffer and journal limit, checked every 64 KiB of
     * journal (walking every keyspace on each write would cost more) */
    if (db->bytes_since_check < 64 * 1024)
        return TIND_OK;
    db->bytes_since_check = 0;
    mu_lock(&db->mu);
    uint64_t total = 0;
    tind_keyspace *largest = NULL;
    uint64_t largest_bytes = 0;
    for (size_t i = 0; i < db->keyspace_count; i++) {
        tind_keyspace *ks = db->keyspaces[i];
        total += memtables_bytes(ks);
        uint64_t a = mt_memory(ks->active);
        if (!mt_empty(ks->active) && a > largest_bytes) {
            largest = ks;
            largest_bytes = a;
        }
    }
    uint64_t journal_bytes = jset_total_bytes(&db->journals);
    tind_keyspace *pinning[64];
    size_t npin = 0;
    uint64_t oldest_max;
    if (journal_bytes > db->opts.max_journal_size && jset_oldest_sealed_max(&db->journals, &oldest_max)) {
        for (size_t i = 0; i < db->keyspace_count && npin < 64; i++) {
            tind_keyspace *ks = db->keyspaces[i];
            if (!mt_empty(ks->active) && mt_min_seqno(ks->active) <= oldest_max)
                pinning[npin++] = ks;
        }
    }
    mu_unlock(&db->mu);
    if (largest && total > db->opts.write_buffer_size && largest_bytes >= 64 * 1024)
        rc = ks_seal_memtable(largest, err);
    for (size_t i = 0; i < npin && !rc; i++)
        rc = ks_seal_memtable(pinning[i], err);
    return rc;
}

/* ------------------------------------------------------------------ backpressure */

static int make_room(tind_db *db, tind_batch *b, tind_err *err) EXCLUDES(db->mu, db->write_mu)
{
    int slowed = 0, calm = 1;
    for (size_t i = 0; i < b->touched_count && calm; i++)
        calm = atomic_load_explicit(&b->touched[i]->pressure, memory_order_relaxed) == 0;
    if (calm)
        return TIND_OK; /* the common case takes no lock */
    mu_lock(&db->mu);
    for (;;) {
        int worst = 0;
        for (size_t i = 0; i < b->touched_count; i++) {
            int p = ks_pressure(b->touched[i]);
            if (p > worst)
                worst = p;
        }
        /* a stalled writer reports any background failure (a full disk?)
         * rather than stall forever; the data written so far is safe */
        int stop = db_wait_stop(db, NULL, worst == 2 ? 0 : db->bg_failures, err);
        if (stop) {
            mu_unlock(&db->mu);
            return stop;
        }
        if (worst == 2 && (db->worker_count > 0)) {
            atomic_fetch_add(&db->stalls, 1);
            db_schedule(db);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            cv_timedwait(&db->stall_cv, &db->mu, &ts);
            continue;
        }
        if (worst == 1 && !slowed && db->worker_count > 0) {
            atomic_fetch_add(&db->slowdowns, 1);
            slowed = 1;
            mu_unlock(&db->mu);
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            mu_lock(&db->mu);
            continue;
        }
        break;
    }
    mu_unlock(&db->mu);
    return TIND_OK;
}

/* ------------------------------------------------------------------ the write path */

/* TIND_PERSIST_NONE batches wait in the journal's user-space buffer until
 * it holds this many bytes. */
#define WRITE_BUFFER_BYTES (64u << 10)

/* A batch waiting in the write queue (db/wgroup.h). */
typedef struct pending_write {
    tind_batch *b;
    int durability;
    uint64_t first;              /* its first seqno once in the journal; 0 = not written */
} pending_write;

/* Bytes a group may hold: a small first batch is not held up by much more
 * than itself (LevelDB's rule), a big one takes company up to 1 MiB. */
static size_t group_limit(size_t first_bytes)
{
    return first_bytes <= (128u << 10) ? first_bytes + (128u << 10) : (1u << 20);
}

/* What may fail one batch of a group without touching the others: a
 * deleted keyspace, the leader's check (a transaction's validation), an
 * exact seqno that is not the next one. */
static int batch_writable(tind_db *db, tind_batch *b, db_write_check check, void *check_ctx, uint64_t next,
                          tind_err *err) REQUIRES(db->write_mu)
{
    for (size_t i = 0; i < b->touched_count; i++)
        if (b->touched[i]->dropped)
            return err_set(err, TIND_ENOENT, "keyspace '%s' was deleted", b->touched[i]->name);
    if (check) {
        int rc = check(db, check_ctx, err); /* a transaction's validation (db/txn.c) */
        if (rc)
            return rc;
    }
    if (b->at_seqno && b->at_seqno != next)
        return b->at_seqno < next ? err_set(err, TIND_EEXIST, "seqno %llu is already applied (the last is %llu)",
                                            (unsigned long long)b->at_seqno, (unsigned long long)(next - 1))
                                  : err_set(err, TIND_ECONFLICT,
                                            "seqno %llu leaves a gap: the next seqno is %llu (earlier batches are missing)",
                                            (unsigned long long)b->at_seqno, (unsigned long long)next);
    return TIND_OK;
}

/* The keyspace of a batch's entry: last when it is that one, else the one
 * the batch touched with that id (NULL: none, corruption). */
static tind_keyspace *entry_keyspace(const tind_batch *b, tind_keyspace *last, uint32_t ks_id)
{
    if (last && last->id == ks_id)
        return last;
    for (size_t t = 0; t < b->touched_count; t++)
        if (b->touched[t]->id == ks_id)
            return b->touched[t];
    return NULL;
}

/* Entries apply_batch decodes ahead of the one it adds. */
#define APPLY_AHEAD 2

/* Inserts a written batch into its keyspaces' active memtables. Entries are
 * decoded APPLY_AHEAD ahead, and each one's memtable filter slot fetched
 * while the ones before it are added (mt_prefetch_add). */
static int apply_batch(tind_db *db, tind_batch *b, uint64_t first, tind_err *err) REQUIRES(db->write_mu)
{
    const uint8_t *p = b->payload.data, *end = p + b->payload.len;
    batch_entry ahead[APPLY_AHEAD] = {0};
    tind_keyspace *ahead_ks[APPLY_AHEAD] = {0}, *ks = NULL; /* NULL: undecodable, corruption */
    for (uint32_t j = 0; j < b->count + APPLY_AHEAD; j++) {
        uint32_t slot = j % APPLY_AHEAD;
        batch_entry e = ahead[slot]; /* entry j - APPLY_AHEAD leaves the ring */
        ks = ahead_ks[slot];
        if (j < b->count) { /* entry j enters it */
            batch_entry *a = &ahead[slot];
            p = p ? batch_entry_decode(p, end, a) : NULL;
            ahead_ks[slot] = p ? entry_keyspace(b, ks, a->ks_id) : NULL;
            if (ahead_ks[slot])
                mt_prefetch_add(ahead_ks[slot]->active, a->key, a->klen);
        }
        if (j < APPLY_AHEAD)
            continue;
        uint32_t i = j - APPLY_AHEAD;
        int rc = ks ? mt_add(ks->active, first + i, e.type, e.key, e.klen, e.val, e.vlen) : TIND_ECORRUPT;
        if (rc)
            return err_set(err, rc, "memtable insert failed after the journal write: %s", tind_strerror(rc));
        if (db->conflicts && e.type == ENTRY_RANGE_TOMBSTONE)
            cf_record_range(db, e.ks_id, e.key, e.klen, e.val, e.vlen, first + i); /* open transactions validate against it */
        else if (db->conflicts)
            cf_record(db, e.ks_id, e.key, e.klen, first + i); /* open transactions validate against it */
    }
    for (size_t t = 0; t < b->touched_count; t++)
        atomic_fetch_add_explicit(&b->touched[t]->user_bytes, b->user_bytes / b->touched_count,
                                  memory_order_relaxed);
    return TIND_OK;
}

/* The leader's work (see the top of this file and db/wgroup.h): under
 * write_mu, the group's batches take consecutive seqnos in queue order, go
 * to the journal as one record each in ONE write, into the memtables, become
 * visible together, and are synced once at the strongest durability any of
 * them asked for. A failure of the journal write, of the sync or of an
 * insert poisons and fails every batch of the group: none is acknowledged.
 * Sets every member's status (and err). */
static void write_group(tind_db *db, wg_writer *leader, wg_writer *last, db_write_check check, void *check_ctx)
    REQUIRES(db->write_mu)
{
    tind_err gerr;
    err_clear(&gerr);
    int grc = db_check_writable(db, &gerr);
    if (!grc && !jset_writing(&db->journals))
        grc = err_set(&gerr, TIND_EPOISONED, "database '%s' has no journal (an earlier rotation failed)", db->path);
    uint64_t first = atomic_load_explicit(&db->last_seqno, memory_order_relaxed) + 1, next = first;
    uint64_t journal_max = db->journals.cur_max_seqno;
    int marked = !grc;
    if (marked)
        jset_mark(&db->journals); /* a failed jset_add drops this group's records only */
    int durability = TIND_PERSIST_NONE, failed = grc != 0;
    for (wg_writer *m = leader; !grc; m = m->next) {
        pending_write *pw = m->item;
        m->status = batch_writable(db, pw->b, m == leader ? check : NULL, check_ctx, next, m->err);
        failed |= m->status != 0;
        if (!m->status) {
            grc = jset_add(&db->journals, next, pw->b->count, pw->b->payload.data, pw->b->payload.len, &gerr);
            if (grc)
                break;
            pw->first = next;
            next += pw->b->count;
            if (pw->durability > durability)
                durability = pw->durability;
        }
        if (m == last)
            break;
    }
    if (grc) {
        /* nothing of the group was written: an argument error or ENOMEM
         * leaves the journal usable (earlier NONE records stay pending); a
         * writer refusing (an earlier failure) poisons. Only a group that
         * marked drops: the records before its mark (earlier groups' NONE
         * batches, acknowledged) stay pending whatever refused this one */
        if (marked)
            jset_drop(&db->journals, journal_max);
        if (jset_failed(&db->journals))
            db_poison(db, &gerr);
    } else if (next > first) {
        /* a group of NONE batches stays in the journal's user-space buffer
         * until it holds WRITE_BUFFER_BYTES (or a stronger write, a persist,
         * a sync, a rotation, a flush, the change feed or close pushes it):
         * one write call per buffer instead of one per batch */
        if (durability >= TIND_PERSIST_BUFFER || jset_pending(&db->journals) >= WRITE_BUFFER_BYTES) {
            KILL_POINT("journal.append.before");
            uint64_t grown = 0;
            grc = jset_write(&db->journals, &grown, &gerr);
            KILL_POINT("journal.append.after");
            if (grc)
                db_poison(db, &gerr); /* only a failed write fails here */
            else
                db->bytes_since_check += grown;
        }
        for (wg_writer *m = leader; !grc; m = m->next) {
            pending_write *pw = m->item;
            if (pw->first && (grc = apply_batch(db, pw->b, pw->first, &gerr)))
                db_poison(db, &gerr);
            if (m == last)
                break;
        }
        if (!grc) {
            atomic_store_explicit(&db->last_seqno, next - 1, memory_order_relaxed);
            atomic_store_explicit(&db->visible_seqno, next - 1, memory_order_release);
        }
        if (!grc && durability >= TIND_PERSIST_SYNC_DATA) {
            grc = jset_sync(&db->journals, durability == TIND_PERSIST_SYNC_ALL ? FS_SYNC_ALL : FS_SYNC_DATA, next - 1,
                            &gerr);
            if (grc)
                db_poison(db, &gerr);
            else
                KILL_POINT("journal.sync.after");
        }
        for (wg_writer *m = leader; !grc; m = m->next) {
            pending_write *pw = m->item;
            if (pw->first && (grc = after_write(db, pw->b, &gerr)) && grc != TIND_ENOMEM)
                db_poison(db, &gerr);
            if (m == last)
                break;
        }
    }
    for (wg_writer *m = leader;; m = m->next) {
        if (!m->status && grc) {
            m->status = grc;
            if (m->err)
                *m->err = gerr;
        }
        if (m == last)
            break;
    }
    if (failed || grc) {
        mu_lock(&db->mu);
        cv_broadcast(&db->done_cv);
        mu_unlock(&db->mu);
    }
}

int db_commit_nothing(tind_db *db, int durability, tind_err *err)
{
    if (durability < TIND_PERSIST_SYNC_DATA || db->opts.read_only)
        return TIND_OK;
    return db_persist(db, durability, err);
}

/* A write: wait for room; then, when no writer is queued and write_mu is
 * free, write alone (the uncontended case: one lock, no queue); else queue and either lead a group
 * or be written by the leader of one (db/wgroup.h). A batch with a check or
 * an exact seqno never rides in another's group: its check must see every
 * batch before it applied. */
static int db_write(tind_db *db, tind_batch *b, int durability, db_write_check check, void *check_ctx,
                    tind_err *err) EXCLUDES(db->write_mu)
{
    if (b->count == 0)
        return db_commit_nothing(db, durability, err);
    /* wait for room before queueing: a flush needs write_mu to sync the
     * journal, so a writer must never stall while holding it */
    int rc = make_room(db, b, err);
    if (rc)
        return rc;
    pending_write pw = {b, durability, 0};
    wg_writer w;
    wg_writer_init(&w, &pw, b->payload.len, check || b->at_seqno, err);
    if (wg_idle(&db->wq) && mu_trylock(&db->write_mu)) {
        write_group(db, &w, &w, check, check_ctx);
        mu_unlock(&db->write_mu);
        return w.status;
    }
    wg_writer_wait_init(&w);
    if (wg_join(&db->wq, &w)) {
        mu_lock(&db->write_mu);
        wg_writer *last = wg_collect(&db->wq, &w, group_limit(w.bytes));
        write_group(db, &w, last, check, check_ctx);
        mu_unlock(&db->write_mu);
        wg_finish(&db->wq, &w, last);
    }
    wg_writer_destroy(&w);
    return w.status;
}

/* ------------------------------------------------------------------ batches */

TIND_API int tind_batch_new(tind_db *db, tind_batch **out)
{
    if (!db || !out)
        return TIND_EINVAL;
    int rc = db_enter(db);
    if (rc)
        return rc;
    tind_batch *b = calloc(1, sizeof *b);
    if (b) {
        b->db = db;
        b->durability = db->opts.default_durability;
        atomic_fetch_add(&db->live_batches, 1);
        *out = b;
    }
    db_leave(db);
    return b ? TIND_OK : TIND_ENOMEM;
}

TIND_API void tind_batch_free(tind_batch *b)
{
    if (!b)
        return;
    atomic_fetch_sub(&b->db->live_batches, 1);
    tbuf_free(&b->payload);
    free(b->touched);
    free(b);
}

TIND_API void tind_batch_clear(tind_batch *b)
{
    if (!b)
        return;
    tbuf_reset(&b->payload);
    b->count = 0;
    b->user_bytes = 0;
    b->touched_count = 0;
}

TIND_API size_t tind_batch_count(const tind_batch *b) { return b ? b->count : 0; }

TIND_API void tind_batch_set_durability(tind_batch *b, int mode)
{
    if (b && mode >= TIND_PERSIST_NONE && mode <= TIND_PERSIST_SYNC_ALL)
        b->durability = mode;
}

static int batch_touch(tind_batch *b, tind_keyspace *ks)
{
    for (size_t i = 0; i < b->touched_count; i++)
        if (b->touched[i] == ks)
            return TIND_OK;
    if (b->touched_count == b->touched_cap) {
        size_t cap = b->touched_cap ? b->touched_cap * 2 : 4;
        tind_keyspace **p = realloc(b->touched, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        b->touched = p;
        b->touched_cap = cap;
    }
    b->touched[b->touched_count++] = ks;
    return TIND_OK;
}

static int batch_add(tind_batch *b, tind_keyspace *ks, uint8_t type, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
    tind_err err;
    err_clear(&err);
    if (!b)
        return TIND_EINVAL;
    int rc = ks_check(ks);
    if (rc == TIND_OK && ks->db != b->db)
        rc = err_set(&err, TIND_EINVAL, "keyspace '%s' belongs to another database", ks->name);
    if (rc == TIND_OK)
        rc = db_check_kv(key, klen, val, vlen, batch_entry_has_value(type), &err);
    if (rc == TIND_OK)
        rc = check_record_room(b->db, b->payload.len, entry_size(ks->id, klen, vlen, batch_entry_has_value(type)), &err);
    if (rc == TIND_OK && b->count == UINT32_MAX)
        rc = err_set(&err, TIND_ETOOBIG, "a batch holds at most 4294967295 operations");
    if (rc == TIND_OK)
        rc = batch_touch(b, ks);
    if (rc == TIND_OK)
        rc = encode_entry(&b->payload, type, ks->id, key, klen, val, vlen);
    if (rc)
        return db_fail(b->db, rc, &err);
    b->count++;
    b->user_bytes += klen + vlen;
    return TIND_OK;
}

TIND_API int tind_batch_put(tind_batch *b, tind_keyspace *ks, const void *key, size_t klen, const void *val,
                            size_t vlen)
{
    return batch_add(b, ks, ENTRY_VALUE, key, klen, val, vlen);
}

TIND_API int tind_batch_remove(tind_batch *b, tind_keyspace *ks, const void *key, size_t klen)
{
    return batch_add(b, ks, ENTRY_TOMBSTONE, key, klen, NULL, 0);
}

TIND_API int tind_batch_merge(tind_batch *b, tind_keyspace *ks, const void *key, size_t klen, const void *operand,
                              size_t olen)
{
    return batch_add(b, ks, ENTRY_MERGE, key, klen, operand, olen);
}

TIND_API int tind_batch_single_remove(tind_batch *b, tind_keyspace *ks, const void *key, size_t klen)
{
    return batch_add(b, ks, ENTRY_SINGLE_DELETE, key, klen, NULL, 0);
}

/* Change feed and replication (include/tind.h): a commit that must get
 * first seqno `seqno`, checked under write_mu by db_write. */
TIND_API int tind_batch_commit_at(tind_batch *b, uint64_t seqno)
{
    if (!b)
        return TIND_EINVAL;
    if (!seqno) {
        tind_err err;
        err_set(&err, TIND_EINVAL, "tind_batch_commit_at: seqno 0 is never given out");
        return db_fail(b->db, TIND_EINVAL, &err);
    }
    b->at_seqno = seqno;
    int rc = tind_batch_commit(b);
    b->at_seqno = 0;
    return rc;
}

TIND_API int tind_batch_commit(tind_batch *b)
{
    if (!b)
        return TIND_EINVAL;
    tind_err err;
    err_clear(&err);
    tind_db *db = b->db;
    int rc = db_enter(db);
    if (rc)
        return rc;
    rc = db_write(db, b, b->durability, NULL, NULL, &err);
    if (rc == TIND_OK)
        tind_batch_clear(b);
    rc = db_fail(db, rc, &err);
    /* close waits for active calls: nothing may touch db after this */
    db_leave(db);
    return rc;
}

int db_batch_commit_checked(tind_batch *b, db_write_check check, void *ctx, tind_err *err)
{
    int rc = db_write(b->db, b, b->durability, check, ctx, err);
    if (rc == TIND_OK)
        tind_batch_clear(b);
    return rc;
}

struct tind_write_options {
    int has_durability;          /* 0: the database default */
    int durability;
};

/* A single put or remove: a batch of one, built on the stack when small. */
static int write_one(tind_keyspace *ks, uint8_t type, const void *key, size_t klen, const void *val, size_t vlen,
                     const tind_write_options *wo)
{
    tind_err err;
    err_clear(&err);
    int rc = ks_check(ks);
    if (rc)
        return rc;
    tind_db *db = ks->db;
    rc = db_check_kv(key, klen, val, vlen, batch_entry_has_value(type), &err);
    if (rc == TIND_OK)
        rc = check_record_room(db, 0, entry_size(ks->id, klen, vlen, batch_entry_has_value(type)), &err);
    if (rc)
        return db_fail(db, rc, &err);
    if ((rc = db_enter(db)))
        return rc;
    int durability = wo && wo->has_durability ? wo->durability : db->opts.default_durability;
    uint8_t stack[512];
    tind_keyspace *touched[1] = {ks};
    tind_batch b;
    memset(&b, 0, sizeof b);
    b.db = db;
    b.count = 1;
    b.user_bytes = klen + vlen;
    b.touched = touched;
    b.touched_count = 1;
    size_t need = 1 + 3 * VARINT64_MAX_LEN + klen + vlen;
    if (need <= sizeof stack) {
        b.payload.data = stack;
        b.payload.cap = sizeof stack;
        encode_entry(&b.payload, type, ks->id, key, klen, val, vlen);
        rc = db_write(db, &b, durability, NULL, NULL, &err);
    } else {
        rc = encode_entry(&b.payload, type, ks->id, key, klen, val, vlen);
        if (rc == TIND_OK)
            rc = db_write(db, &b, durability, NULL, NULL, &err);
        tbuf_free(&b.payload);
    }
    rc = db_fail(db, rc, &err);
    db_leave(db);
    return rc;
}

TIND_API int tind_put(tind_keyspace *ks, const void *key, size_t klen, const void *val, size_t vlen)
{
    return write_one(ks, ENTRY_VALUE, key, klen, val, vlen, NULL);
}

TIND_API int tind_remove(tind_keyspace *ks, const void *key, size_t klen)
{
    return write_one(ks, ENTRY_TOMBSTONE, key, klen, NULL, 0, NULL);
}

/* ------------------------------------------------------------------ per-call durability */

TIND_API tind_write_options *tind_write_options_new(void) { return calloc(1, sizeof(tind_write_options)); }

TIND_API void tind_write_options_free(tind_write_options *wo) { free(wo); }

TIND_API void tind_write_options_set_durability(tind_write_options *wo, int mode)
{
    if (wo && mode >= TIND_PERSIST_NONE && mode <= TIND_PERSIST_SYNC_ALL) {
        wo->durability = mode;
        wo->has_durability = 1;
    }
}

TIND_API int tind_put_opt(tind_keyspace *ks, const void *key, size_t klen, const void *val, size_t vlen,
                          const tind_write_options *wo)
{
    return write_one(ks, ENTRY_VALUE, key, klen, val, vlen, wo);
}

TIND_API int tind_remove_opt(tind_keyspace *ks, const void *key, size_t klen, const tind_write_options *wo)
{
    return write_one(ks, ENTRY_TOMBSTONE, key, klen, NULL, 0, wo);
}

/* ------------------------------------------------------------------ range deletions */

/* [lo, hi) as the journal stores it (docs/FORMAT.md "Batch payload"): a
 * bound of length 0 is open (lo: from "\0", the smallest key; hi: stored
 * empty, unbounded). 1 = an empty range (lo == hi: nothing to write). */
static int range_args(const void **lo, size_t *lolen, const void *hi, size_t hilen, tind_err *err)
{
    static const uint8_t smallest[1] = {0};
    if ((!*lo && *lolen) || (!hi && hilen))
        return err_set(err, TIND_EINVAL, "range bound pointer is NULL with a length");
    if (*lolen > TIND_MAX_KEY_SIZE || hilen > TIND_MAX_KEY_SIZE)
        return err_set(err, TIND_ETOOBIG, "range bound over the key limit of %u bytes", TIND_MAX_KEY_SIZE);
    if (!*lolen) {
        *lo = smallest;
        *lolen = 1;
    }
    int c = hilen ? key_cmp(*lo, *lolen, hi, hilen) : -1;
    if (c > 0)
        return err_set(err, TIND_EINVAL, "inverted range: the start is after the end");
    return c == 0;
}

TIND_API int tind_remove_range(tind_keyspace *ks, const void *lo, size_t lolen, const void *hi, size_t hilen)
{
    tind_err err;
    err_clear(&err);
    int rc = ks_check(ks);
    if (rc)
        return rc;
    rc = range_args(&lo, &lolen, hi, hilen, &err);
    if (rc < 0)
        return db_fail(ks->db, rc, &err);
    return rc ? TIND_OK : write_one(ks, ENTRY_RANGE_TOMBSTONE, lo, lolen, hi, hilen, NULL);
}

TIND_API int tind_batch_remove_range(tind_batch *b, tind_keyspace *ks, const void *lo, size_t lolen, const void *hi,
                                     size_t hilen)
{
    tind_err err;
    err_clear(&err);
    if (!b)
        return TIND_EINVAL;
    int rc = range_args(&lo, &lolen, hi, hilen, &err);
    if (rc < 0)
        return db_fail(b->db, rc, &err);
    return rc ? TIND_OK : batch_add(b, ks, ENTRY_RANGE_TOMBSTONE, lo, lolen, hi, hilen);
}

TIND_API int tind_keyspace_clear(tind_keyspace *ks)
{
    return tind_remove_range(ks, NULL, 0, NULL, 0);
}

TIND_API int tind_merge(tind_keyspace *ks, const void *key, size_t klen, const void *operand, size_t olen)
{
    return write_one(ks, ENTRY_MERGE, key, klen, operand, olen, NULL);
}

TIND_API int tind_single_remove(tind_keyspace *ks, const void *key, size_t klen)
{
    return write_one(ks, ENTRY_SINGLE_DELETE, key, klen, NULL, 0, NULL);
}

/* ------------------------------------------------------------------ persist */

TIND_API int tind_persist(tind_db *db, int mode)
{
    if (!db)
        return TIND_EINVAL;
    int rc = db_enter(db);
    if (rc)
        return rc;
    tind_err err;
    err_clear(&err);
    rc = db_fail(db, db_persist(db, mode, &err), &err);
    db_leave(db);
    return rc;
}
