/*
 * kill_child.c -- the writer child of the kill campaign (kill.c): "tind-stress
 * __kill-child --db D --pipe FD --seed S --life L --next-id N [--bg T]
 * [--sync-ms MS] [--rec-log LOG --grave G] [--writers W --wnext N0,N1,...]".
 *
 * It opens the database D (through the recording file system of recfs.h when
 * --rec-log is given: a power-loss life) and commits the batches of the
 * workload (kill.h) of life L from id N on, forever, reporting each step to
 * the parent over the pipe FD, one line per write(2) (atomic below
 * PIPE_BUF):
 *     R               tind_open starts           O <us>   it returned
 *     K               the keyspaces are open
 *     B <id> <n>      before committing batch id (n operations)
 *     A <id> <rc>     after the commit returned rc
 *     S <id>          a sync commit, a persist or a clean close returned:
 *                     every batch <= id is synced
 *     W <t> <seq> <s> writer thread t's write seq returned (s = 1: a
 *                     SYNC_DATA commit; kill.h, --writers)
 *     E <text>        an unexpected error (the child then exits with status 3)
 * After every batch whose id is a multiple of 16 it reads its marker back
 * (read your own write). It never returns normally: the parent SIGKILLs it,
 * or, in a kill-point build, it kills itself at a named kill point
 * (TIND_KILL_AT / TIND_KILL_ODDS).
 *
 * With --bg 0 (no background threads) the child runs the flushes and
 * compactions itself: a tind_flush every 32 batches, a tind_compact every
 * 256, and each writer thread a tind_flush of its keyspace every 128 writes
 * (so inline jobs race one another).
 *
 * Thread-safety: the engine's threads run inside; the main thread and the
 * writer threads write to the pipe, one write(2) per line. A writer holds
 * db_lock (read) around each call; the main thread takes it (write) to
 * close and reopen the database.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "kill.h"
#include "recfs.h"
#include "stress.h"
#include "tind.h"
#include "tind_internal.h"

static int child_pipe = -1;

static void child_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void child_msg(const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* one write of less than PIPE_BUF bytes: atomic */
    if (write(child_pipe, line, (size_t)n) != n)
        _exit(5);
}

static void child_fail(const char *what, int rc, tind_db *db)
{
    child_msg("E %s: %s (%s)", what, tind_strerror(rc), tind_errmsg(db));
    fprintf(stderr, "tind-stress child: %s: %s (%s)\n", what, tind_strerror(rc), tind_errmsg(db));
    _exit(3);
}

/* Opens the database and the keyspaces, reporting R, O and K. */
static tind_keyspace *counter_ks; /* KILL_COUNTER_KS */
static int nwriters;
static tind_keyspace *writers_ks; /* KILL_WRITERS_KS (--writers) */
static tind_db *writers_db;
static pthread_rwlock_t db_lock;

static tind_db *child_open(const char *dbpath, const tind_options *o, tind_keyspace **ks)
{
    child_msg("R");
    double t0 = stress_now();
    tind_db *db = NULL;
    int rc = tind_open(dbpath, o, &db);
    if (rc)
        child_fail("open", rc, NULL);
    child_msg("O %.0f", (stress_now() - t0) * 1e6);
    for (int k = 0; k < KILL_KS; k++) {
        tind_ks_options *ko = tind_ks_options_new();
        kill_ks_options(ko, k);
        rc = tind_keyspace_open(db, kill_ks_names[k], ko, &ks[k]);
        tind_ks_options_free(ko);
        if (rc)
            child_fail("keyspace open", rc, db);
    }
    tind_ks_options *ko = tind_ks_options_new();
    kill_ks_options(ko, 0);
    tind_ks_options_set_merge_builtin(ko, TIND_MERGE_COUNTER, NULL, 0);
    rc = tind_keyspace_open(db, KILL_COUNTER_KS, ko, &counter_ks);
    tind_ks_options_free(ko);
    if (rc)
        child_fail("keyspace open", rc, db);
    if (nwriters > 0) {
        ko = tind_ks_options_new();
        kill_ks_options(ko, 0);
        rc = tind_keyspace_open(db, KILL_WRITERS_KS, ko, &writers_ks);
        tind_ks_options_free(ko);
        if (rc)
            child_fail("keyspace open", rc, db);
        writers_db = db;
    }
    child_msg("K");
    return db;
}

typedef struct kwriter {
    uint32_t t, life;
    uint64_t seed, next;
    int inline_work;
} kwriter;

/* Writer thread t (--writers): puts its keys one by one, forever, and
 * reports each write once it is acknowledged. */
static void *writer_main(void *arg)
{
    const kwriter *w = arg;
    static _Thread_local uint8_t val[KILL_VAL_MAX];
    uint8_t key[KILL_WKEY_MAX];
    for (uint64_t seq = w->next;; seq++) {
        size_t kn = kill_writer_key(w->t, seq, key);
        uint32_t vlen = kill_writer_vlen(w->seed, w->life, w->t, seq);
        int durability = kill_writer_durability(w->seed, w->life, w->t, seq);
        kill_value_bytes(w->seed, w->life, seq, w->t, key, kn, vlen, val);
        pthread_rwlock_rdlock(&db_lock);
        tind_batch *tb = NULL;
        int rc = tind_batch_new(writers_db, &tb);
        if (!rc)
            rc = tind_batch_put(tb, writers_ks, key, kn, val, vlen);
        if (!rc) {
            tind_batch_set_durability(tb, durability);
            rc = tind_batch_commit(tb);
        }
        if (tb)
            tind_batch_free(tb);
        if (rc)
            child_fail("writer commit", rc, writers_db);
        child_msg("W %u %" PRIu64 " %d", w->t, seq, durability >= TIND_PERSIST_SYNC_DATA);
        if (seq % 128 == w->t % 128 && (w->inline_work || seq % 512 == w->t % 512)) {
            /* another thread's inline job may be running: this waits for it */
            rc = tind_flush(writers_ks);
            if (rc)
                child_fail("writer flush", rc, writers_db);
        }
        pthread_rwlock_unlock(&db_lock);
    }
    return NULL;
}

/* Batch b committed by tind_ingest: its puts (distinct keys of keyspace 0,
 * the marker among them) fed in key order, the marker first ("!marker"
 * sorts before every other key). */
typedef struct kingest {
    const kbatch *b;
    uint64_t seed;
    uint32_t life;
    uint32_t order[KILL_MAX_OPS + 1];
    uint32_t next;
    uint8_t key[KILL_KEY_MAX];
    uint8_t val[KILL_VAL_MAX];
} kingest;

static int ingest_next(void *ctx, const void **k, size_t *kl, const void **v, size_t *vl)
{
    kingest *g = ctx;
    if (g->next == g->b->n)
        return 0;
    uint32_t i = g->order[g->next++];
    const kop *op = &g->b->ops[i];
    size_t kn = kill_key_bytes(op->key, g->key);
    kill_value_bytes(g->seed, g->life, g->b->id, i, g->key, kn, op->vlen, g->val);
    *k = g->key;
    *kl = kn;
    *v = g->val;
    *vl = op->vlen;
    return 1;
}

static int child_ingest(tind_keyspace *ks0, uint64_t seed, uint32_t life, const kbatch *b)
{
    static kingest g;
    g.b = b;
    g.seed = seed;
    g.life = life;
    g.next = 0;
    g.order[0] = b->n - 1; /* the marker */
    for (uint32_t i = 0, m = 1; i + 1 < b->n; i++) {
        uint32_t j = m++;   /* insertion by key index (keys sort in index order) */
        for (; j > 1 && b->ops[g.order[j - 1]].key > b->ops[i].key; j--)
            g.order[j] = g.order[j - 1];
        g.order[j] = i;
    }
    return tind_ingest(ks0, ingest_next, &g, TIND_INGEST_SORTED, 0, NULL, NULL, NULL);
}

/* Batch b committed as a transaction: its operations (the marker last)
 * written into it, the marker read back through it (read-your-own-writes),
 * then the commit with the batch's durability. Nothing else writes, so a
 * conflict is an error. */
static int child_txn(tind_db *db, tind_keyspace **ks, uint64_t seed, uint32_t life, const kbatch *b)
{
    static uint8_t val[KILL_VAL_MAX];
    uint8_t key[KILL_KEY_MAX];
    tind_txn *t;
    int rc = tind_txn_begin(db, b->txn == 2 ? TIND_TXN_SINGLE_WRITER : TIND_TXN_OPTIMISTIC, &t);
    if (rc)
        child_fail("transaction begin", rc, db);
    size_t kn = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        const kop *op = &b->ops[i];
        kn = kill_key_bytes(op->key, key);
        if (op->tomb) {
            rc = tind_txn_remove(t, ks[op->ks], key, kn);
        } else {
            kill_value_bytes(seed, life, b->id, i, key, kn, op->vlen, val);
            rc = tind_txn_put(t, ks[op->ks], key, kn, val, op->vlen);
        }
        if (rc)
            child_fail("transaction write", rc, db);
    }
    tind_read_options *ro = tind_read_options_new();
    if (!ro)
        child_fail("read options", TIND_ENOMEM, db);
    tind_read_options_set_txn(ro, t);
    void *got = NULL;
    size_t gn = 0;
    uint64_t gid;
    uint32_t gpos, glife;
    rc = tind_get(ks[0], key, kn, ro, &got, &gn); /* key: the marker, written last */
    if (rc)
        child_fail("transaction get marker", rc, db);
    if (kill_value_decode(key, kn, got, gn, &gid, &gpos, &glife) != 0 || gid != b->id || glife != life) {
        child_msg("E read-your-own-write: the marker of transaction %" PRIu64 " reads back wrong", b->id);
        _exit(3);
    }
    tind_free(got);
    tind_read_options_free(ro);
    tind_txn_set_durability(t, b->durability);
    return tind_txn_commit(t);
}

int kill_child_main(int argc, char **argv)
{
    const char *dbpath = NULL, *log_path = NULL, *grave = NULL, *wnext_arg = NULL;
    uint64_t seed = 0, next_id = 1;
    uint32_t life = 0;
    int bg = 2, sync_ms = 0;
    for (int i = 0; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--db"))
            dbpath = v;
        else if (!strcmp(k, "--pipe"))
            child_pipe = atoi(v);
        else if (!strcmp(k, "--seed"))
            seed = strtoull(v, NULL, 0);
        else if (!strcmp(k, "--life"))
            life = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(k, "--next-id"))
            next_id = strtoull(v, NULL, 0);
        else if (!strcmp(k, "--rec-log"))
            log_path = v;
        else if (!strcmp(k, "--grave"))
            grave = v;
        else if (!strcmp(k, "--bg"))
            bg = atoi(v);
        else if (!strcmp(k, "--sync-ms"))
            sync_ms = atoi(v);
        else if (!strcmp(k, "--encrypt"))
            stress_encrypt = atoi(v);
        else if (!strcmp(k, "--writers"))
            nwriters = atoi(v);
        else if (!strcmp(k, "--wnext"))
            wnext_arg = v;
    }
    if (nwriters < 0 || nwriters > KILL_MAX_WRITERS) {
        fprintf(stderr, "tind-stress __kill-child: --writers must be in 0..%d\n", KILL_MAX_WRITERS);
        return 2;
    }
    if (!dbpath || child_pipe < 0) {
        fprintf(stderr, "tind-stress __kill-child: missing --db or --pipe\n");
        return 2;
    }
    fs *rec = NULL;
    if (log_path) {
        rec = recfs_new(log_path, grave ? grave : ".");
        if (!rec)
            child_fail("recording file system", TIND_ENOMEM, NULL);
    }
    tind_options *o = tind_options_new();
    if (!o)
        child_fail("options", TIND_ENOMEM, NULL);
    if (rec)
        tind_options_set_fs(o, rec);
    tind_options_set_background_threads(o, bg);
    tind_options_set_sync_interval_ms(o, (uint32_t)sync_ms);
    stress_options_key(o);
    tind_options_set_cache_size(o, 1 << 20);
    tind_options_set_write_buffer_size(o, 256 * 1024);
    tind_options_set_journal_file_size(o, 32 * 1024);
    tind_options_set_max_journal_size(o, 128 * 1024);
    tind_options_set_journal_compression_threshold(o, 1024);

    /* the reopen (write side) must not wait behind a stream of writers */
    pthread_rwlockattr_t la;
    pthread_rwlockattr_init(&la);
    pthread_rwlockattr_setkind_np(&la, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&db_lock, &la);
    pthread_rwlockattr_destroy(&la);

    tind_keyspace *ks[KILL_KS];
    tind_db *db = child_open(dbpath, o, ks);

    static kwriter writers[KILL_MAX_WRITERS];
    const char *wp = wnext_arg ? wnext_arg : "";
    for (int t = 0; t < nwriters; t++) {
        char *end;
        writers[t] = (kwriter){(uint32_t)t, life, seed, strtoull(wp, &end, 10), bg == 0};
        if (writers[t].next == 0)
            writers[t].next = 1;
        wp = *end == ',' ? end + 1 : end;
        pthread_t th;
        if (pthread_create(&th, NULL, writer_main, &writers[t]) != 0)
            child_fail("writer thread", TIND_ENOMEM, db);
        pthread_detach(th);
    }

    static kbatch b;
    static uint8_t val[KILL_VAL_MAX];
    uint8_t key[KILL_KEY_MAX];
    tind_batch *tb;
    int rc = tind_batch_new(db, &tb);
    if (rc)
        child_fail("batch", rc, db);
    for (uint64_t id = next_id;; id++) {
        kill_gen_batch(seed, life, id, &b);
        if (b.ingest) {
            child_msg("B %" PRIu64 " %u", id, b.n);
            rc = child_ingest(ks[0], seed, life, &b);
            child_msg("A %" PRIu64 " %d", id, rc);
            if (rc)
                child_fail("ingest", rc, db);
            child_msg("S %" PRIu64, id);
            continue;
        }
        if (b.txn) {
            child_msg("B %" PRIu64 " %u", id, b.n);
            rc = child_txn(db, ks, seed, life, &b);
            child_msg("A %" PRIu64 " %d", id, rc);
            if (rc)
                child_fail("transaction commit", rc, db);
            if (b.durability >= TIND_PERSIST_SYNC_DATA)
                child_msg("S %" PRIu64, id);
            continue;
        }
        for (uint32_t i = 0; i + 1 < b.n; i++) {
            const kop *op = &b.ops[i];
            size_t kn = kill_key_bytes(op->key, key);
            if (op->tomb == 2) {
                rc = tind_batch_single_remove(tb, ks[op->ks], key, kn);
            } else if (op->tomb == 3) {
                uint8_t hi[KILL_KEY_MAX];
                uint32_t end = op->key + op->vlen; /* past the universe: a key after all of it */
                rc = tind_batch_remove_range(tb, ks[op->ks], key, kn, hi,
                                             kill_key_bytes(end == KILL_MARKER ? end + 1 : end, hi));
            } else if (op->tomb) {
                rc = tind_batch_remove(tb, ks[op->ks], key, kn);
            } else {
                kill_value_bytes(seed, life, id, i, key, kn, op->vlen, val);
                rc = tind_batch_put(tb, ks[op->ks], key, kn, val, op->vlen);
            }
            if (rc)
                child_fail("batch add", rc, db);
        }
        const kop *m = &b.ops[b.n - 1];
        size_t kn = kill_key_bytes(KILL_MARKER, key);
        kill_value_bytes(seed, life, id, b.n - 1, key, kn, m->vlen, val);
        child_msg("B %" PRIu64 " %u", id, b.n);
        if (b.single) {
            rc = tind_put(ks[0], key, kn, val, m->vlen);
        } else {
            rc = tind_batch_put(tb, ks[0], key, kn, val, m->vlen);
            static const uint8_t one[8] = {1};
            if (!rc)
                rc = tind_batch_merge(tb, counter_ks, "c", 1, one, 8);
            if (rc)
                child_fail("batch add", rc, db);
            tind_batch_set_durability(tb, b.durability);
            rc = tind_batch_commit(tb);
        }
        child_msg("A %" PRIu64 " %d", id, rc);
        if (rc)
            child_fail("commit", rc, db);
        if (b.durability >= TIND_PERSIST_SYNC_DATA)
            child_msg("S %" PRIu64, id);
        if (b.persist) {
            rc = tind_persist(db, b.persist);
            if (rc)
                child_fail("persist", rc, db);
            child_msg("S %" PRIu64, id);
        }
        if (id % 16 == 0) {
            /* read your own write */
            void *got = NULL;
            size_t gn = 0;
            uint64_t gid;
            uint32_t gpos, glife;
            rc = tind_get(ks[0], key, kn, NULL, &got, &gn);
            if (rc)
                child_fail("get marker", rc, db);
            if (kill_value_decode(key, kn, got, gn, &gid, &gpos, &glife) != 0 || gid != id || glife != life) {
                child_msg("E read-your-write: marker after batch %" PRIu64 " reads back wrong", id);
                _exit(3);
            }
            tind_free(got);
        }
        if (bg == 0 && id % 32 == 0) {
            /* no background threads: the flushes and compactions are ours */
            rc = id % 256 == 0 ? tind_compact(ks[(id / 256) % KILL_KS]) : tind_flush(ks[(id / 32) % KILL_KS]);
            if (rc)
                child_fail(id % 256 == 0 ? "compact" : "flush", rc, db);
        }
        if (b.reopen) {
            /* a clean close persists every batch with SYNC_ALL */
            tind_batch_free(tb);
            pthread_rwlock_wrlock(&db_lock);
            rc = tind_close(db);
            if (rc)
                child_fail("close", rc, NULL);
            child_msg("S %" PRIu64, id);
            db = child_open(dbpath, o, ks);
            pthread_rwlock_unlock(&db_lock);
            rc = tind_batch_new(db, &tb);
            if (rc)
                child_fail("batch", rc, db);
        }
    }
}
