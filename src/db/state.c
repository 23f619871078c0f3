/*
 * state.c -- the bottom of the db/ line (db/state.h): errors (each
 * thread's last error per handle, and of tind_open), key checks, poisoning, keyspace handle
 * checks, views (rebuilt under mu, acquired under view_mu), backpressure
 * levels, snapshots and read options, file numbers, waking the workers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/state.h"
#include "util/hash.h"

/*
 * Error messages are kept per thread AND per database: a thread reads the
 * message of ITS last failed call on a db, whatever other threads fail
 * meanwhile. Each thread holds a small table of (db id, message) slots in
 * thread-local storage: nothing to allocate, nothing to free when a thread
 * exits or a db closes. Slots are keyed by an id unique for the life of the
 * process (db->err_id, never reused), not by the handle's address, so a db
 * opened later at the address of a closed one never sees the closed one's
 * message. A thread keeps the messages of the last DB_ERR_SLOTS databases it
 * failed on; an older one is displaced (tind_errmsg then gives "").
 */
#define DB_ERR_SLOTS 8

typedef struct db_err_slot {
    uint64_t db_id;               /* 0 = free */
    uint64_t used;                /* tls_err_clock when last written (oldest is displaced) */
    char msg[TIND_ERRMSG_MAX];
} db_err_slot;

static _Thread_local db_err_slot tls_err_slots[DB_ERR_SLOTS];
static _Thread_local uint64_t tls_err_clock;
static _Thread_local char tls_errmsg[TIND_ERRMSG_MAX];
static _Thread_local char tls_open_error[TIND_ERRMSG_MAX];
/* The one process-wide counter: ids of open databases, for the slots above. */
static _Atomic uint64_t db_err_ids;

/* ------------------------------------------------------------------ errors */

void db_errors_init(tind_db *db) { db->err_id = atomic_fetch_add(&db_err_ids, 1) + 1; }

static db_err_slot *err_slot_find(uint64_t db_id)
{
    for (int i = 0; i < DB_ERR_SLOTS; i++)
        if (tls_err_slots[i].db_id == db_id)
            return &tls_err_slots[i];
    return NULL;
}

int db_fail(tind_db *db, int rc, const tind_err *err)
{
    if (rc == TIND_OK || rc == TIND_NOT_FOUND)
        return rc;
    const char *msg = err && err->msg[0] ? err->msg : tind_strerror(rc);
    if (!db) {
        snprintf(tls_open_error, sizeof tls_open_error, "%s", msg);
        return rc;
    }
    db_err_slot *slot = err_slot_find(db->err_id);
    if (!slot) {
        /* the least recently written slot (free slots have used = 0) */
        slot = &tls_err_slots[0];
        for (int i = 1; i < DB_ERR_SLOTS; i++)
            if (tls_err_slots[i].used < slot->used)
                slot = &tls_err_slots[i];
    }
    slot->db_id = db->err_id;
    slot->used = ++tls_err_clock;
    snprintf(slot->msg, sizeof slot->msg, "%s", msg);
    return rc;
}

TIND_API const char *tind_errmsg(tind_db *db)
{
    const db_err_slot *slot = db ? err_slot_find(db->err_id) : NULL;
    snprintf(tls_errmsg, sizeof tls_errmsg, "%s", !db ? tls_open_error : slot ? slot->msg : "");
    return tls_errmsg;
}

void db_poison(tind_db *db, const tind_err *why)
{
    mu_lock(&db->mu);
    if (!atomic_load(&db->poisoned)) {
        snprintf(db->poison_msg, sizeof db->poison_msg, "%s", why && why->msg[0] ? why->msg : "write failed");
        atomic_store(&db->poisoned, 1);
    }
    cv_broadcast(&db->stall_cv);
    cv_broadcast(&db->done_cv);
    mu_unlock(&db->mu);
}

int db_check_writable(tind_db *db, tind_err *err)
{
    if (db->opts.read_only)
        return err_set(err, TIND_ENOTSUP, "database '%s' is opened read-only", db->path);
    if (atomic_load(&db->poisoned)) {
        mu_lock(&db->mu);
        err_set(err, TIND_EPOISONED, "database '%s' is poisoned (read-only until reopened) after: %s", db->path,
                db->poison_msg);
        mu_unlock(&db->mu);
        return TIND_EPOISONED;
    }
    return TIND_OK;
}

int db_enter(tind_db *db)
{
    atomic_fetch_add(&db->active_calls, 1);
    if (!atomic_load(&db->close_begun))
        return TIND_OK;
    tind_err err;
    err_set(&err, TIND_ECLOSED, "database '%s' is closing", db->path);
    db_fail(db, TIND_ECLOSED, &err);
    atomic_fetch_sub(&db->active_calls, 1);
    return TIND_ECLOSED;
}

void db_leave(tind_db *db) { atomic_fetch_sub(&db->active_calls, 1); }

int ks_enter(tind_keyspace *ks)
{
    int rc = ks_check(ks);
    return rc ? rc : db_enter(ks->db);
}

int ks_check(tind_keyspace *ks)
{
    if (!ks)
        return TIND_EINVAL;
    if (atomic_load_explicit(&ks->dropped, memory_order_acquire))
        return TIND_ENOENT;
    return TIND_OK;
}

int ks_check_err(tind_keyspace *ks, tind_err *err)
{
    int rc = ks_check(ks);
    return rc ? err_set(err, rc, rc == TIND_ENOENT ? "keyspace was deleted" : "keyspace handle is NULL") : TIND_OK;
}

int ks_enter_out(tind_keyspace *ks, const void *out)
{
    int rc = ks_check(ks);
    if (rc || !out)
        return rc ? rc : TIND_EINVAL;
    return db_enter(ks->db);
}

int db_check_key(const void *key, size_t klen, tind_err *err)
{
    if (!key && klen)
        return err_set(err, TIND_EINVAL, "NULL key with length %zu", klen);
    if (klen == 0)
        return err_set(err, TIND_EINVAL, "key must be 1..%u bytes (got an empty key)", TIND_MAX_KEY_SIZE);
    if (klen > TIND_MAX_KEY_SIZE)
        return err_set(err, TIND_ETOOBIG, "key of %zu bytes is over the limit of %u", klen, TIND_MAX_KEY_SIZE);
    return TIND_OK;
}

uint64_t db_new_file_number(tind_db *db) { return db->next_file_number++; }

uint64_t db_unique64(uint64_t a, uint64_t b)
{
    struct timespec real, mono;
    uint64_t in[7] = {a, b, 0, 0, 0, 0, 0};
    if (getentropy(&in[2], 2 * sizeof in[2]) != 0)
        in[2] = in[3] = 0;
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    in[4] = (uint64_t)real.tv_sec * 1000000000u + (uint64_t)real.tv_nsec;
    in[5] = (uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec;
    in[6] = (uint64_t)(uintptr_t)&real;
    uint64_t h = hash64(in, sizeof in);
    return h ? h : 1;
}

uint64_t db_new_table_id(tind_db *db, uint64_t number) { return db_unique64(db->db_id, number); }

tind_keyspace *db_keyspace_by_id(tind_db *db, uint32_t id)
{
    for (size_t i = 0; i < db->keyspace_count; i++)
        if (db->keyspaces[i]->id == id)
            return db->keyspaces[i];
    return NULL;
}

/* The write buffer bounds memtable memory: sealed memtables waiting for
 * their flush may hold the write buffer less one active memtable (at least
 * one memtable's worth, so a memtable larger than the buffer can still be
 * sealed); past that, writers stall until a flush frees one. A memtable
 * sealed at its size counts as one memtable's worth although its last entry
 * took it over: with the default buffer of two memtables, the active one
 * fills while the sealed one flushes (counted as it is, the sealed one alone
 * was over the budget and every flush stalled the writers for its whole
 * length). Without the bound a keyspace held up to DB_MAX_SEALED + 1
 * memtables. (mu) */
static int ks_sealed_over_budget(tind_keyspace *ks) REQUIRES(ks->db->mu)
{
    if (!ks->sealed_count)
        return 0;
    uint64_t wb = ks->db->opts.write_buffer_size, mt = ks->opts.memtable_size;
    uint64_t budget = wb > 2 * mt ? wb - mt : mt;
    uint64_t sealed = 0;
    for (size_t i = 0; i < ks->sealed_count; i++) {
        uint64_t m = mt_memory(ks->sealed[i]);
        sealed += m < mt ? m : mt;
    }
    return sealed > budget;
}

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
    if (ks->sealed_count >= DB_MAX_SEALED || (int)l0 >= l0_stop || ks_sealed_over_budget(ks))
        return 2;
    if (ks->sealed_count >= DB_MAX_SEALED / 2 || (int)l0 >= l0_slow)
        return 1;
    return 0;
}

void db_schedule(tind_db *db) { cv_broadcast(&db->bg_cv); }

/* ------------------------------------------------------------------ views */

int ks_rebuild_view(tind_keyspace *ks)
{
    ks_view *v = calloc(1, sizeof *v);
    if (!v)
        return TIND_ENOMEM;
    v->sealed = ks->sealed_count ? malloc(ks->sealed_count * sizeof *v->sealed) : NULL;
    if (ks->sealed_count && !v->sealed) {
        free(v);
        return TIND_ENOMEM;
    }
    atomic_init(&v->refs, 1);
    v->active = ks->active;
    mt_ref(v->active);
    for (size_t i = 0; i < ks->sealed_count; i++) {
        v->sealed[i] = ks->sealed[ks->sealed_count - 1 - i];
        mt_ref(v->sealed[i]);
    }
    v->sealed_count = ks->sealed_count;
    v->v = ks->current;
    version_ref(v->v);
    mu_lock(&ks->view_mu);
    ks_view *old = ks->view;
    ks->view = v;
    mu_unlock(&ks->view_mu);
    atomic_store(&ks->pressure, ks_pressure(ks));
    if (old)
        ks_view_release(old);
    return TIND_OK;
}

ks_view *ks_view_acquire(tind_keyspace *ks)
{
    mu_lock(&ks->view_mu);
    ks_view *v = ks->view;
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    mu_unlock(&ks->view_mu);
    return v;
}

void ks_view_release(ks_view *v)
{
    if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    mt_unref(v->active);
    for (size_t i = 0; i < v->sealed_count; i++)
        mt_unref(v->sealed[i]);
    free(v->sealed);
    version_unref(v->v);
    free(v);
}

/* ------------------------------------------------------------------ snapshots */

uint64_t db_read_seqno(tind_db *db, const tind_read_options *ro)
{
    if (ro && ro->txn)
        return ro->txn_seqno;
    if (ro && ro->snapshot)
        return ro->snapshot->seqno;
    return atomic_load_explicit(&db->visible_seqno, memory_order_acquire);
}

/* Appends seqno to the list (snap_mu held): seqnos only grow, so appending
 * keeps the list sorted. */
static int snapshot_list_add(db_snapshot_list *l, uint64_t seqno)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        uint64_t *p = realloc(l->seqnos, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        l->seqnos = p;
        l->cap = cap;
    }
    l->seqnos[l->count++] = seqno;
    return TIND_OK;
}

int db_snapshot_add(tind_db *db, uint64_t seqno)
{
    mu_lock(&db->snap_mu);
    int rc = snapshot_list_add(&db->snapshots, seqno);
    mu_unlock(&db->snap_mu);
    return rc;
}

int db_snapshot_take(tind_db *db, uint64_t *seqno)
{
    mu_lock(&db->snap_mu);
    /* read the seqno under snap_mu so compaction never misses a snapshot
     * that is being taken while it reads the list */
    *seqno = atomic_load_explicit(&db->visible_seqno, memory_order_acquire);
    int rc = snapshot_list_add(&db->snapshots, *seqno);
    mu_unlock(&db->snap_mu);
    return rc;
}

void db_snapshot_remove(tind_db *db, uint64_t seqno)
{
    mu_lock(&db->snap_mu);
    db_snapshot_list *l = &db->snapshots;
    for (size_t i = 0; i < l->count; i++)
        if (l->seqnos[i] == seqno) {
            memmove(l->seqnos + i, l->seqnos + i + 1, (l->count - i - 1) * sizeof *l->seqnos);
            l->count--;
            break;
        }
    mu_unlock(&db->snap_mu);
}

TIND_API int tind_snapshot_new(tind_db *db, tind_snapshot **out)
{
    if (!db || !out)
        return TIND_EINVAL;
    int rc = db_enter(db);
    if (rc)
        return rc;
    tind_snapshot *s = malloc(sizeof *s);
    if (!s) {
        db_leave(db);
        return TIND_ENOMEM;
    }
    s->db = db;
    if (db_snapshot_take(db, &s->seqno)) {
        free(s);
        db_leave(db);
        return TIND_ENOMEM;
    }
    atomic_fetch_add(&db->live_snapshots, 1);
    db_leave(db);
    *out = s;
    return TIND_OK;
}

TIND_API void tind_snapshot_free(tind_snapshot *s)
{
    if (!s)
        return;
    tind_db *db = s->db;
    db_snapshot_remove(db, s->seqno);
    atomic_fetch_sub(&db->live_snapshots, 1);
    free(s);
}

TIND_API uint64_t tind_snapshot_seqno(const tind_snapshot *s) { return s ? s->seqno : 0; }

uint64_t db_oldest_snapshot(tind_db *db)
{
    mu_lock(&db->snap_mu);
    uint64_t s = db->snapshots.count ? db->snapshots.seqnos[0]
                                     : atomic_load_explicit(&db->visible_seqno, memory_order_acquire);
    mu_unlock(&db->snap_mu);
    return s;
}

int db_snapshot_seqnos(tind_db *db, uint64_t **out, size_t *count)
{
    mu_lock(&db->snap_mu);
    size_t n = db->snapshots.count;
    uint64_t *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        mu_unlock(&db->snap_mu);
        return TIND_ENOMEM;
    }
    if (n)
        memcpy(p, db->snapshots.seqnos, n * sizeof *p);
    mu_unlock(&db->snap_mu);
    *out = p;
    *count = n;
    return TIND_OK;
}

TIND_API tind_read_options *tind_read_options_new(void)
{
    tind_read_options *ro = calloc(1, sizeof *ro);
    if (ro)
        ro->fill_cache = 1;
    return ro;
}
TIND_API void tind_read_options_free(tind_read_options *ro) { free(ro); }
/* A snapshot replaces a transaction set before (and tind_read_options_set_txn
 * a snapshot): the last one set decides what the reads see. */
TIND_API void tind_read_options_set_snapshot(tind_read_options *ro, const tind_snapshot *s)
{
    if (ro) {
        ro->snapshot = s;
        ro->txn = NULL;
    }
}
TIND_API void tind_read_options_set_fill_cache(tind_read_options *ro, int on) { if (ro) ro->fill_cache = on; }
TIND_API void tind_free(void *p) { free(p); }
