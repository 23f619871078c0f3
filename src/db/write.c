/*
 * write.c -- write batches and the write path.
 *
 * A write (a batch, or a single put/remove as a batch of one) runs under
 * write_mu:
 *   0. backpressure, before write_mu: wait while the keyspaces it touches
 *      have too many sealed memtables or L0 tables; sleep briefly (slow
 *      down) when they are close to it (a flush needs write_mu to sync the
 *      journal, so nobody may stall while holding it);
 *   1. take write_mu;
 *   2. assign sequence numbers first .. first+count-1;
 *   3. append ONE journal record (one write call: the whole batch is in the
 *      journal or, after a crash, torn and dropped);
 *   4. insert every entry into its keyspace's active memtable;
 *   5. publish visible_seqno = the batch's last seqno (the batch becomes
 *      visible at once);
 *   6. sync the journal when the batch's durability asks for it;
 *   7. seal memtables that are full, rotate the journal past its size, and
 *      seal what pins the oldest journals past the total journal limit.
 * A failed journal write or sync, or a memtable insert that fails after the
 * record is in the journal, poisons the database (TIND_EPOISONED from then
 * on): retrying an fsync after a failure is unsafe, and the memtables would
 * no longer match the journal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
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
};

const uint8_t *batch_entry_decode(const uint8_t *p, const uint8_t *end, batch_entry *e)
{
    uint64_t id, klen, vlen = 0;
    if (p >= end)
        return NULL;
    e->type = *p++;
    if (e->type != ENTRY_VALUE && e->type != ENTRY_TOMBSTONE)
        return NULL;
    if (!(p = dec_varint64(p, end, &id)) || id > UINT32_MAX)
        return NULL;
    if (!(p = dec_varint64(p, end, &klen)) || klen < 1 || klen > TIND_MAX_KEY_SIZE || klen > (uint64_t)(end - p))
        return NULL;
    e->ks_id = (uint32_t)id;
    e->key = p;
    e->klen = (size_t)klen;
    p += klen;
    if (e->type == ENTRY_VALUE) {
        if (!(p = dec_varint64(p, end, &vlen)) || vlen > TIND_MAX_VALUE_SIZE || vlen > (uint64_t)(end - p))
            return NULL;
    }
    e->val = p;
    e->vlen = (size_t)vlen;
    return p + vlen;
}

static int check_kv(const void *key, size_t klen, const void *val, size_t vlen, int has_value, tind_err *err)
{
    if (!key || klen == 0)
        return err_set(err, TIND_EINVAL, "key must be 1..65535 bytes (got an empty key)");
    if (klen > TIND_MAX_KEY_SIZE)
        return err_set(err, TIND_ETOOBIG, "key of %zu bytes is over the limit of 65535", klen);
    if (has_value && vlen > TIND_MAX_VALUE_SIZE)
        return err_set(err, TIND_ETOOBIG, "value of %zu bytes is over the limit of 4294967295", vlen);
    if (has_value && vlen && !val)
        return err_set(err, TIND_EINVAL, "value pointer is NULL with a length of %zu", vlen);
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
    if (type == ENTRY_VALUE) {
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

static uint64_t memtable_ids = UINT64_C(1) << 40;

int ks_seal_memtable(tind_keyspace *ks, tind_err *err)
{
    tind_db *db = ks->db;
    if (mt_empty(ks->active))
        return TIND_OK;
    memtable *fresh = mt_new_filtered(__atomic_add_fetch(&memtable_ids, 1, __ATOMIC_RELAXED), ks_memtable_filter_bytes(&ks->opts));
    if (!fresh)
        return err_set(err, TIND_ENOMEM, "keyspace '%s': out of memory for a memtable", ks->name);
    pthread_mutex_lock(&db->mu);
    if (ks->sealed_count == ks->sealed_cap) {
        size_t cap = ks->sealed_cap ? ks->sealed_cap * 2 : 4;
        memtable **p = realloc(ks->sealed, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&db->mu);
            mt_unref(fresh);
            return err_set(err, TIND_ENOMEM, "keyspace '%s': out of memory", ks->name);
        }
        ks->sealed = p;
        ks->sealed_cap = cap;
    }
    ks->sealed[ks->sealed_count++] = ks->active;
    ks->active = fresh;
    int rc = ks_rebuild_view(ks);
    db_schedule(db);
    pthread_mutex_unlock(&db->mu);
    if (rc)
        return err_set(err, rc, "keyspace '%s': out of memory", ks->name);
    /* A new journal with each sealed memtable (as RocksDB switches its WAL):
     * once the memtables in the old one are flushed, it can be deleted,
     * instead of waiting for the journal to reach its size limit. */
    if (db->journal && db->cur_journal_max_seqno != 0)
        return db_rotate_journal(db, err);
    return TIND_OK;
}

uint64_t db_journal_keep_number(tind_db *db, const memtable *leaving)
{
    uint64_t earliest = UINT64_MAX;
    for (size_t i = 0; i < db->keyspace_count; i++) {
        tind_keyspace *ks = db->keyspaces[i];
        uint64_t e = UINT64_MAX;
        for (size_t j = 0; j < ks->sealed_count && e == UINT64_MAX; j++)
            if (ks->sealed[j] != leaving)
                e = mt_min_seqno(ks->sealed[j]);
        if (e == UINT64_MAX && !mt_empty(ks->active))
            e = mt_min_seqno(ks->active);
        if (e < earliest)
            earliest = e;
    }
    if (!db->journal_count)
        return db->keep_journal;
    size_t i = 0;
    /* never past the journal being written (the last one) */
    while (i + 1 < db->journal_count && db->journals[i].max_seqno < earliest)
        i++;
    uint64_t k = db->journals[i].number;
    return k > db->keep_journal ? k : db->keep_journal;
}

void db_delete_obsolete_journals(tind_db *db)
{
    /* only what a durable version file already says may go: journals from
     * keep_journal on are checked for continuity at recovery */
    size_t keep_from = 0;
    while (keep_from + 1 < db->journal_count && db->journals[keep_from].number < db->keep_journal)
        keep_from++;
    if (!keep_from)
        return;
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/journals", db->path);
    for (size_t i = 0; i < keep_from; i++) {
        jrn_path(dir, db->journals[i].number, path, sizeof path);
        fs_unlink(db->fs, path, NULL);
    }
    memmove(db->journals, db->journals + keep_from, (db->journal_count - keep_from) * sizeof *db->journals);
    db->journal_count -= keep_from;
}

/* Seals the journal being written and starts the next one. The old journal
 * is synced before the next one exists, so after a power loss only the
 * newest journal can have a torn tail. A failure poisons. write_mu held. */
int db_rotate_journal(tind_db *db, tind_err *err)
{
    if (!db->journal)
        return err_set(err, TIND_EPOISONED, "database '%s' has no journal", db->path);
    pthread_mutex_lock(&db->mu);
    db->journals[db->journal_count - 1].max_seqno = db->cur_journal_max_seqno;
    db->journals[db->journal_count - 1].size = jrn_size(db->journal);
    pthread_mutex_unlock(&db->mu);
    int rc = jrn_sync(db->journal, FS_SYNC_DATA, err);
    if (rc == TIND_OK) {
        db->synced_seqno = atomic_load(&db->last_seqno);
        rc = jrn_close(db->journal, err);
    } else {
        jrn_close(db->journal, NULL);
    }
    db->journal = NULL;
    if (rc == TIND_OK)
        rc = db_new_journal(db, err);
    if (rc)
        db_poison(db, err);
    return rc;
}

/* After a write: seal full memtables, rotate the journal, enforce the write
 * buffer and the journal size limit. write_mu held. */
static int after_write(tind_db *db, tind_batch *b, tind_err *err)
{
    int rc = TIND_OK;
    for (size_t i = 0; i < b->touched_count && !rc; i++) {
        tind_keyspace *ks = b->touched[i];
        if (mt_memory(ks->active) >= ks->opts.memtable_size)
            rc = ks_seal_memtable(ks, err);
    }
    if (rc)
        return rc;

    if (jrn_size(db->journal) >= db->opts.journal_file_size) {
        rc = db_rotate_journal(db, err);
        if (rc)
            return rc;
    }

    /* database-wide write buffer and journal limit, checked every 64 KiB of
     * journal (walking every keyspace on each write would cost more) */
    if (db->bytes_since_check < 64 * 1024)
        return TIND_OK;
    db->bytes_since_check = 0;
    pthread_mutex_lock(&db->mu);
    uint64_t total = 0, journal_bytes = 0;
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
    for (size_t i = 0; i + 1 < db->journal_count; i++)
        journal_bytes += db->journals[i].size;
    journal_bytes += db->cur_journal_size;
    tind_keyspace *pinning[64];
    size_t npin = 0;
    if (journal_bytes > db->opts.max_journal_size && db->journal_count > 1) {
        uint64_t oldest_max = db->journals[0].max_seqno;
        for (size_t i = 0; i < db->keyspace_count && npin < 64; i++) {
            tind_keyspace *ks = db->keyspaces[i];
            if (!mt_empty(ks->active) && mt_min_seqno(ks->active) <= oldest_max)
                pinning[npin++] = ks;
        }
    }
    pthread_mutex_unlock(&db->mu);
    if (largest && total > db->opts.write_buffer_size && largest_bytes >= 64 * 1024)
        rc = ks_seal_memtable(largest, err);
    for (size_t i = 0; i < npin && !rc; i++)
        rc = ks_seal_memtable(pinning[i], err);
    return rc;
}

/* ------------------------------------------------------------------ backpressure */

int ks_pressure(tind_keyspace *ks)
{
    /* 2 = stall, 1 = slow down, 0 = fine. (mu) */
    if (ks->dropped)
        return 0;
    size_t l0 = ks->current->levels[0].count;
    int l0_slow, l0_stop;
    if (ks->opts.compaction == TIND_COMPACTION_LEVELED) {
        l0_slow = ks->opts.l0_threshold * 3;
        l0_stop = ks->opts.l0_threshold * 5;
    } else {
        l0_slow = ks->opts.l0_threshold * 8 + 16;
        l0_stop = ks->opts.l0_threshold * 16 + 32;
    }
    if (ks->opts.compaction == TIND_COMPACTION_FIFO)
        l0_slow = l0_stop = 1 << 30;
    if (ks->sealed_count >= DB_MAX_SEALED || (int)l0 >= l0_stop)
        return 2;
    if (ks->sealed_count >= DB_MAX_SEALED / 2 || (int)l0 >= l0_slow)
        return 1;
    return 0;
}

static int make_room(tind_db *db, tind_batch *b, tind_err *err)
{
    int slowed = 0, calm = 1;
    for (size_t i = 0; i < b->touched_count && calm; i++)
        calm = atomic_load_explicit(&b->touched[i]->pressure, memory_order_relaxed) == 0;
    if (calm)
        return TIND_OK; /* the common case takes no lock */
    pthread_mutex_lock(&db->mu);
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
            pthread_mutex_unlock(&db->mu);
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
            pthread_cond_timedwait(&db->stall_cv, &db->mu, &ts);
            continue;
        }
        if (worst == 1 && !slowed && db->worker_count > 0) {
            atomic_fetch_add(&db->slowdowns, 1);
            slowed = 1;
            pthread_mutex_unlock(&db->mu);
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&db->mu);
            continue;
        }
        break;
    }
    pthread_mutex_unlock(&db->mu);
    return TIND_OK;
}

/* ------------------------------------------------------------------ the write path */

static int db_write(tind_db *db, tind_batch *b, int durability, tind_err *err)
{
    if (b->count == 0)
        return TIND_OK;
    /* wait for room before taking write_mu: a flush needs write_mu to sync
     * the journal, so a writer must never stall while holding it */
    int rc = make_room(db, b, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->write_mu);
    rc = db_check_writable(db, err);
    for (size_t i = 0; !rc && i < b->touched_count; i++)
        if (b->touched[i]->dropped)
            rc = err_set(err, TIND_ENOENT, "keyspace '%s' was deleted", b->touched[i]->name);
    if (!rc && !db->journal)
        rc = err_set(err, TIND_EPOISONED, "database '%s' has no journal (an earlier rotation failed)", db->path);
    if (rc)
        goto out;

    uint64_t first = atomic_load_explicit(&db->last_seqno, memory_order_relaxed) + 1;
    KILL_POINT("journal.append.before");
    rc = jrn_append(db->journal, first, b->count, b->payload.data, b->payload.len, err);
    KILL_POINT("journal.append.after");
    if (rc) {
        db_poison(db, err);
        goto out;
    }
    uint64_t last = first + b->count - 1;
    db->cur_journal_max_seqno = last;
    db->bytes_since_check += jrn_size(db->journal) - db->cur_journal_size;
    db->cur_journal_size = jrn_size(db->journal);

    const uint8_t *p = b->payload.data, *end = p + b->payload.len;
    tind_keyspace *ks = NULL;
    for (uint32_t i = 0; i < b->count; i++) {
        batch_entry e;
        p = batch_entry_decode(p, end, &e);
        if (!ks || ks->id != e.ks_id) {
            ks = NULL;
            for (size_t t = 0; t < b->touched_count; t++)
                if (b->touched[t]->id == e.ks_id)
                    ks = b->touched[t];
        }
        rc = ks ? mt_add(ks->active, first + i, e.type, e.key, e.klen, e.val, e.vlen) : TIND_ECORRUPT;
        if (rc) {
            err_set(err, rc, "memtable insert failed after the journal write: %s", tind_strerror(rc));
            db_poison(db, err);
            goto out;
        }
    }
    atomic_store_explicit(&db->last_seqno, last, memory_order_relaxed);
    atomic_store_explicit(&db->visible_seqno, last, memory_order_release);
    for (size_t t = 0; t < b->touched_count; t++)
        atomic_fetch_add_explicit(&b->touched[t]->user_bytes, b->user_bytes / b->touched_count,
                                  memory_order_relaxed);

    if (durability >= TIND_PERSIST_SYNC_DATA) {
        rc = jrn_sync(db->journal, durability == TIND_PERSIST_SYNC_ALL ? FS_SYNC_ALL : FS_SYNC_DATA, err);
        if (rc) {
            db_poison(db, err);
            goto out;
        }
        db->synced_seqno = last;
        KILL_POINT("journal.sync.after");
    }
    rc = after_write(db, b, err);
    if (rc && rc != TIND_ENOMEM)
        db_poison(db, err);
out:
    pthread_mutex_unlock(&db->write_mu);
    if (rc) {
        pthread_mutex_lock(&db->mu);
        pthread_cond_broadcast(&db->done_cv);
        pthread_mutex_unlock(&db->mu);
    }
    return rc;
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
        rc = check_kv(key, klen, val, vlen, type == ENTRY_VALUE, &err);
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
    rc = db_write(db, b, b->durability, &err);
    if (rc == TIND_OK)
        tind_batch_clear(b);
    rc = db_fail(db, rc, &err);
    /* close waits for active calls: nothing may touch db after this */
    db_leave(db);
    return rc;
}

/* A single put or remove: a batch of one, built on the stack when small. */
static int write_one(tind_keyspace *ks, uint8_t type, const void *key, size_t klen, const void *val, size_t vlen)
{
    tind_err err;
    err_clear(&err);
    int rc = ks_check(ks);
    if (rc)
        return rc;
    tind_db *db = ks->db;
    rc = check_kv(key, klen, val, vlen, type == ENTRY_VALUE, &err);
    if (rc)
        return db_fail(db, rc, &err);
    if ((rc = db_enter(db)))
        return rc;
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
        rc = db_write(db, &b, db->opts.default_durability, &err);
    } else {
        rc = encode_entry(&b.payload, type, ks->id, key, klen, val, vlen);
        if (rc == TIND_OK)
            rc = db_write(db, &b, db->opts.default_durability, &err);
        tbuf_free(&b.payload);
    }
    rc = db_fail(db, rc, &err);
    db_leave(db);
    return rc;
}

TIND_API int tind_put(tind_keyspace *ks, const void *key, size_t klen, const void *val, size_t vlen)
{
    return write_one(ks, ENTRY_VALUE, key, klen, val, vlen);
}

TIND_API int tind_remove(tind_keyspace *ks, const void *key, size_t klen)
{
    return write_one(ks, ENTRY_TOMBSTONE, key, klen, NULL, 0);
}

/* ------------------------------------------------------------------ persist */

int db_persist(tind_db *db, int mode, tind_err *err)
{
    if (mode < TIND_PERSIST_BUFFER || mode > TIND_PERSIST_SYNC_ALL)
        return err_set(err, TIND_EINVAL, "persist mode %d is unknown", mode);
    pthread_mutex_lock(&db->write_mu);
    int rc = db_check_writable(db, err);
    if (rc == TIND_OK && !db->journal)
        rc = err_set(err, TIND_EPOISONED, "database has no journal");
    /* journal records are handed to the OS as they are appended, so BUFFER
     * has nothing left to do */
    if (rc == TIND_OK && mode >= TIND_PERSIST_SYNC_DATA)
        rc = db_sync_journal_locked(db, mode == TIND_PERSIST_SYNC_ALL ? FS_SYNC_ALL : FS_SYNC_DATA, err);
    pthread_mutex_unlock(&db->write_mu);
    return rc;
}

int db_sync_journal_locked(tind_db *db, int how, tind_err *err)
{
    int rc = db_check_writable(db, err);
    if (rc == TIND_OK && !db->journal)
        rc = err_set(err, TIND_EPOISONED, "database has no journal");
    if (rc)
        return rc;
    rc = jrn_sync(db->journal, how, err);
    if (rc)
        db_poison(db, err);
    else
        db->synced_seqno = atomic_load(&db->last_seqno);
    return rc;
}

int db_sync_journal_through(tind_db *db, uint64_t seqno, tind_err *err)
{
    pthread_mutex_lock(&db->write_mu);
    int rc = db->synced_seqno < seqno ? db_sync_journal_locked(db, FS_SYNC_DATA, err) : TIND_OK;
    pthread_mutex_unlock(&db->write_mu);
    return rc;
}

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
