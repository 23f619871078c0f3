/*
 * test_wgroup.c -- group commit (db/wgroup.c, db/write.c): writers queued
 * behind a busy write lock are written as one group (one journal write, one
 * sync, consecutive seqnos); a failed sync or journal write fails every
 * batch of the group; a transaction leads its own group, so its validation
 * sees every batch queued before it; and many threads mixing synced and
 * unsynced batches and transactions leave a journal that, after a
 * simulated power loss, recovers a prefix of the commit order holding every
 * acknowledged synced batch. The groups are made deterministic by holding
 * db->write_mu from the test while the writers queue (no timing).
 * TSAN-LABEL: runs under ThreadSanitizer in `make test-tsan`.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "db/db.h"
#include "io/fs.h"
#include "tind_internal.h"
#include "util/rand.h"

static tind_db *open_db(fs *f, int background)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, f);
    tind_options_set_no_background(o, !background);
    tind_options_set_journal_file_size(o, 256 << 10);
    tind_options_set_changes_retention(o, 1u << 30);
    return check_open_with("/db", o);
}

static tind_keyspace *open_ks(tind_db *db)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 64 << 10);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "k", ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

static void wait_queued(tind_db *db, size_t n)
{
    while (wg_queued(&db->wq) < n) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------------------ the journal's pending records */

static int count_record(void *ctx, uint64_t first, uint32_t count, const uint8_t *payload, size_t len)
{
    uint64_t *seen = ctx;
    CHECK_EQ(first, seen[0] + 1); /* consecutive: 1, 2, 3 */
    CHECK_EQ(count, 1);
    CHECK_EQ(len, 1);
    CHECK_EQ(payload[0], 'a' + (int)first);
    seen[0] = first;
    return TIND_OK;
}

TEST(journal_pending_mark_drop)
{
    fs *mem = fs_mem_new();
    CHECK_OK(fs_mkdir(mem, "/j", NULL));
    jrn_writer *w;
    CHECK_OK(jrn_writer_open(mem, "/j", 1, NULL, &w, NULL));
    uint64_t base = jrn_size(w);
    CHECK_OK(jrn_add(w, 1, 1, "b", 1, NULL));
    CHECK_OK(jrn_add(w, 2, 1, "c", 1, NULL));
    uint64_t two = jrn_size(w);
    CHECK_EQ(jrn_pending(w), two - base);
    jrn_mark(w);
    CHECK_OK(jrn_add(w, 3, 1, "x", 1, NULL));
    CHECK_RC(jrn_add(w, 3, 1, "x", 1, NULL), TIND_EINVAL); /* seqnos must grow */
    jrn_drop(w); /* forgets seqno 3 only */
    CHECK_EQ(jrn_size(w), two);
    CHECK_OK(jrn_add(w, 3, 1, "d", 1, NULL)); /* seqno 3 again */
    jrn_drop(w); /* the mark served its drop: seqno 3 stays (a refused group must not take it) */
    CHECK_EQ(jrn_size(w), two + (two - base) / 2);
    CHECK_OK(jrn_write(w, NULL));
    CHECK_EQ(jrn_pending(w), 0);
    jrn_drop(w); /* nothing pending: a no-op */
    CHECK_OK(jrn_close(w, NULL));
    uint64_t seen[1] = {0};
    jrn_replay_result res;
    CHECK_OK(jrn_replay(mem, "/j/00000001.jrn", count_record, seen, 0, &res, NULL));
    CHECK_EQ(res.records, 3);
    CHECK_EQ(seen[0], 3);
    fs_destroy(mem);
}

/* ------------------------------------------------------------------ one group */

typedef struct one_put {
    tind_keyspace *ks;
    int id;
    int durability;
    int rc;
} one_put;

static tind_db *the_db; /* the database the put threads write */

static void *put_thread(void *arg)
{
    one_put *p = arg;
    char key[32];
    int n = snprintf(key, sizeof key, "g%03d", p->id);
    tind_batch *b;
    p->rc = tind_batch_new(the_db, &b);
    if (p->rc)
        return NULL;
    tind_batch_set_durability(b, p->durability);
    p->rc = tind_batch_put(b, p->ks, key, (size_t)n, "v", 1);
    if (!p->rc)
        p->rc = tind_batch_commit(b);
    tind_batch_free(b);
    return NULL;
}

#define GROUP 8

/* Runs GROUP writers (durability by index) queued behind the test holding
 * write_mu; `arm` is called with write_mu held just before it is released. */
static void run_group(tind_db *db, tind_keyspace *ks, one_put *p, int (*durability_of)(int),
                      void (*arm)(void *), void *arm_ctx)
{
    pthread_t th[GROUP];
    the_db = db;
    mu_lock(&db->write_mu);
    for (int i = 0; i < GROUP; i++) {
        p[i] = (one_put){ks, i, durability_of(i), -1};
        CHECK(pthread_create(&th[i], NULL, put_thread, &p[i]) == 0);
    }
    wait_queued(db, GROUP);
    if (arm)
        arm(arm_ctx);
    mu_unlock(&db->write_mu);
    for (int i = 0; i < GROUP; i++)
        pthread_join(th[i], NULL);
}

static int half_sync(int i) { return i & 1 ? TIND_PERSIST_SYNC_DATA : TIND_PERSIST_NONE; }

TEST(one_group_one_sync)
{
    fs *mem = fs_mem_new();
    fs *ff = fs_fault_new(mem, 0);
    tind_db *db = open_db(ff, 0);
    tind_keyspace *ks = open_ks(db);
    uint64_t s0, s1;
    CHECK_OK(tind_last_seqno(db, &s0));
    uint64_t syncs = fs_fault_calls(ff, FS_CALL_SYNC);
    uint64_t groups = atomic_load(&db->wq.groups);
    one_put p[GROUP];
    run_group(db, ks, p, half_sync, NULL, NULL);
    for (int i = 0; i < GROUP; i++)
        CHECK_OK(p[i].rc);
    CHECK_EQ(fs_fault_calls(ff, FS_CALL_SYNC) - syncs, 1);     /* one fdatasync for the 4 synced batches */
    CHECK_EQ(atomic_load(&db->wq.groups) - groups, 1);
    CHECK_OK(tind_last_seqno(db, &s1));
    CHECK_EQ(s1 - s0, GROUP);
    /* every batch of the group is a record of its own, in seqno order */
    tind_changes *c;
    CHECK_OK(tind_changes_since(db, s0 + 1, &c));
    for (int i = 0; i < GROUP; i++) {
        CHECK_OK(tind_changes_next(c, 0));
        CHECK_EQ(tind_changes_seqno(c), s0 + 1 + (uint64_t)i);
        CHECK_EQ(tind_changes_count(c), 1);
    }
    CHECK_RC(tind_changes_next(c, 0), TIND_NOT_FOUND);
    tind_changes_free(c);
    /* the synced group survives a power loss */
    CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, 1));
    tind_close(db);
    db = open_db(ff, 0);
    ks = open_ks(db);
    for (int i = 0; i < GROUP; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "g%03d", i);
        CHECK_OK(tind_contains(ks, key, (size_t)n, NULL));
    }
    CHECK_OK(tind_close(db));
    fs_destroy(ff);
    fs_destroy(mem);
}

/* A writer that comes while another is queued queues behind it, even when
 * the write lock is free at that moment: the shortcut of an uncontended
 * write (trylock, no queue) taken after each of one thread's writes kept a
 * queued leader from the lock for 1,800 writes (tind-bench's queue
 * workload read its key as missing). The queued writer here is the test:
 * it joins, leads, and holds its turn while a put comes. */
TEST(queued_writer_keeps_its_turn)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_db(mem, 1);
    tind_keyspace *ks = open_ks(db);
    wg_writer first;
    wg_writer_init(&first, NULL, 0, 1, NULL);
    wg_writer_wait_init(&first);
    CHECK_EQ(wg_join(&db->wq, &first), 1); /* alone: it leads at once */
    CHECK(!wg_idle(&db->wq));
    the_db = db;
    one_put p = {ks, 1, TIND_PERSIST_NONE, -1};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, put_thread, &p) == 0);
    /* the put queues (it must not write: the lock is free but it is not
     * its turn); 10 s to show up (a put that wrote never does) */
    for (int i = 0; i < 50000 && wg_queued(&db->wq) < 2; i++) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ(wg_queued(&db->wq), 2);
    CHECK_RC(tind_contains(ks, "g001", 4, NULL), TIND_NOT_FOUND);
    /* the turn ends with nothing written: the put leads next */
    mu_lock(&db->write_mu);
    wg_writer *last = wg_collect(&db->wq, &first, 0);
    mu_unlock(&db->write_mu);
    CHECK(last == &first);
    wg_finish(&db->wq, &first, last);
    wg_writer_destroy(&first);
    pthread_join(th, NULL);
    CHECK_OK(p.rc);
    CHECK_OK(tind_contains(ks, "g001", 4, NULL));
    CHECK(wg_idle(&db->wq));
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

typedef struct arm_args {
    fs *ff;
    int kind;
} arm_args;

static void arm_fault(void *ctx)
{
    arm_args *a = ctx;
    fs_fault_arm(a->ff, a->kind, 1, FS_FAULT_ERRNO, EIO, 0, "journals");
}

/* A failed sync (or journal write) fails every batch of the group, the
 * unsynced riders too: none is acknowledged; the database is poisoned. */
static void group_failure(int kind)
{
    fs *mem = fs_mem_new();
    fs *ff = fs_fault_new(mem, 0);
    tind_db *db = open_db(ff, 0);
    tind_keyspace *ks = open_ks(db);
    uint64_t s0, s1;
    CHECK_OK(tind_last_seqno(db, &s0));
    one_put p[GROUP];
    arm_args a = {ff, kind};
    run_group(db, ks, p, half_sync, arm_fault, &a);
    for (int i = 0; i < GROUP; i++)
        CHECK(p[i].rc != TIND_OK);
    CHECK_EQ(fs_fault_injected(ff), 1);
    CHECK_RC(tind_put(ks, "after", 5, "v", 1), TIND_EPOISONED);
    CHECK_OK(tind_last_seqno(db, &s1));
    if (kind == FS_CALL_WRITE)
        CHECK_EQ(s1, s0); /* nothing of a group that never reached the journal is visible */
    fs_fault_disarm(ff);
    tind_close(db);
    /* reopened, the database serves whole batches only */
    db = open_db(ff, 0);
    ks = open_ks(db);
    CHECK_OK(tind_put(ks, "after", 5, "v", 1));
    CHECK_OK(tind_close(db));
    fs_destroy(ff);
    fs_destroy(mem);
}

TEST(sync_failure_fails_group) { group_failure(FS_CALL_SYNC); }
TEST(write_failure_fails_group) { group_failure(FS_CALL_WRITE); }

/* ------------------------------------------------------------------ transactions */

typedef struct txn_args {
    tind_txn *txn;
    tind_keyspace *ks;
    int rc;
} txn_args;

static void *commit_thread(void *arg)
{
    txn_args *t = arg;
    t->rc = tind_txn_commit(t->txn);
    return NULL;
}

/* A transaction queued behind a batch that writes a key it read must see
 * that batch applied when it validates (it leads its own group), and the
 * writers queued behind it ride in its group. */
TEST(txn_leads_its_group)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_db(mem, 0);
    tind_keyspace *ks = open_ks(db);
    CHECK_OK(tind_put(ks, "g000", 4, "old", 3));
    tind_txn *txn;
    CHECK_OK(tind_txn_begin(db, 0, &txn));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_txn(ro, txn);
    void *v;
    size_t vl;
    CHECK_OK(tind_get(ks, "g000", 4, ro, &v, &vl));
    tind_free(v);
    CHECK_OK(tind_txn_put(txn, ks, "t", 1, "x", 1));
    uint64_t groups = atomic_load(&db->wq.groups);

    the_db = db;
    mu_lock(&db->write_mu);
    one_put p[3];
    pthread_t th[3], tt;
    p[0] = (one_put){ks, 0, TIND_PERSIST_SYNC_DATA, -1}; /* writes g000, which txn read */
    CHECK(pthread_create(&th[0], NULL, put_thread, &p[0]) == 0);
    wait_queued(db, 1);
    txn_args ta = {txn, ks, -1};
    CHECK(pthread_create(&tt, NULL, commit_thread, &ta) == 0);
    wait_queued(db, 2);
    for (int i = 1; i < 3; i++) {
        p[i] = (one_put){ks, i, TIND_PERSIST_NONE, -1};
        CHECK(pthread_create(&th[i], NULL, put_thread, &p[i]) == 0);
    }
    wait_queued(db, 4);
    mu_unlock(&db->write_mu);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_OK(p[i].rc);
    }
    pthread_join(tt, NULL);
    CHECK_RC(ta.rc, TIND_ECONFLICT);
    CHECK_EQ(atomic_load(&db->wq.groups) - groups, 2); /* {put}, {txn, put, put} */
    CHECK_RC(tind_contains(ks, "t", 1, NULL), TIND_NOT_FOUND);
    tind_read_options_free(ro);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* ------------------------------------------------------------------ many threads, a power loss */

#define THREADS 4
#define OPS 150

typedef struct op_rec {
    int size;           /* keys written (0: the op failed or was not run) */
    int synced;         /* acknowledged with a sync */
    uint64_t seqno;     /* its batch's first seqno (from the change feed) */
} op_rec;

typedef struct mix_args {
    tind_db *db;
    tind_keyspace *ks;
    int thread;
    uint64_t seed;
    op_rec ops[OPS];
} mix_args;

static int op_key(char *buf, size_t cap, int thread, int op, int j)
{
    return snprintf(buf, cap, "t%d-%04d-%d", thread, op, j);
}

static void *mix_thread(void *arg)
{
    mix_args *m = arg;
    trng r;
    trng_seed(&r, m->seed);
    char key[32];
    for (int i = 0; i < OPS; i++) {
        int kind = (int)(trng_next(&r) % 4);
        int rc, n;
        if (kind == 3) {
            /* a transaction: reads the shared key, writes it and its own */
            tind_txn *t;
            if (tind_txn_begin(m->db, 0, &t))
                continue;
            tind_read_options *ro = tind_read_options_new();
            tind_read_options_set_txn(ro, t);
            void *v = NULL;
            size_t vl;
            rc = tind_get(m->ks, "shared", 6, ro, &v, &vl);
            tind_free(v);
            tind_read_options_free(ro);
            n = op_key(key, sizeof key, m->thread, i, 0);
            tind_txn_put(t, m->ks, key, (size_t)n, "txn", 3);
            tind_txn_put(t, m->ks, "shared", 6, key, (size_t)n);
            tind_txn_set_durability(t, trng_next(&r) & 1 ? TIND_PERSIST_SYNC_DATA : TIND_PERSIST_NONE);
            rc = tind_txn_commit(t);
            if (rc == TIND_OK)
                m->ops[i].size = 2;
            else
                CHECK_RC(rc, TIND_ECONFLICT);
            continue;
        }
        tind_batch *b;
        CHECK_OK(tind_batch_new(m->db, &b));
        int size = kind == 0 ? 1 : 3;
        int sync = kind != 2;
        tind_batch_set_durability(b, sync ? TIND_PERSIST_SYNC_DATA : TIND_PERSIST_NONE);
        for (int j = 0; j < size; j++) {
            n = op_key(key, sizeof key, m->thread, i, j);
            CHECK_OK(tind_batch_put(b, m->ks, key, (size_t)n, "value", 5));
        }
        CHECK_OK(tind_batch_commit(b));
        tind_batch_free(b);
        m->ops[i].size = size;
        m->ops[i].synced = sync;
    }
    return NULL;
}

static void mixed_crash(int background)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_db(mem, background);
    tind_keyspace *ks = open_ks(db);
    mix_args *args = calloc(THREADS, sizeof *args);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t].db = db;
        args[t].ks = ks;
        args[t].thread = t;
        args[t].seed = check_seed * 31 + (uint64_t)t;
        CHECK(pthread_create(&th[t], NULL, mix_thread, &args[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);

    /* the journal holds every acknowledged batch whole, once, with
     * consecutive seqnos, each thread's in its order */
    tind_changes *c;
    CHECK_OK(tind_changes_since(db, 1, &c));
    uint64_t expect = 0, last_acked_sync = 0;
    int prev_op[THREADS];
    for (int t = 0; t < THREADS; t++)
        prev_op[t] = -1;
    size_t batches = 0;
    while (tind_changes_next(c, 0) == TIND_OK) {
        uint64_t s = tind_changes_seqno(c);
        size_t n = tind_changes_count(c);
        if (expect)
            CHECK_EQ(s, expect);
        expect = s + n;
        const tind_change_op *op = tind_changes_op(c, 0);
        int t, i, j;
        char key[32];
        CHECK(op->klen < sizeof key);
        memcpy(key, op->key, op->klen);
        key[op->klen] = 0;
        if (op->klen == 6 && !memcmp(op->key, "shared", 6)) {
            CHECK(n == 2);
            op = tind_changes_op(c, 1);
            memcpy(key, op->key, op->klen);
            key[op->klen] = 0;
        }
        CHECK(sscanf(key, "t%d-%d-%d", &t, &i, &j) == 3);
        CHECK(t >= 0 && t < THREADS && i >= 0 && i < OPS);
        op_rec *r = &args[t].ops[i];
        CHECK_EQ((long long)n, r->size); /* acknowledged, whole */
        CHECK(i > prev_op[t]);
        prev_op[t] = i;
        r->seqno = s;
        batches++;
    }
    tind_changes_free(c);
    size_t acked = 0;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < OPS; i++) {
            op_rec *r = &args[t].ops[i];
            if (!r->size)
                continue;
            acked++;
            CHECK(r->seqno != 0); /* every acknowledged batch is in the journal */
            if (r->synced && r->seqno > last_acked_sync)
                last_acked_sync = r->seqno;
        }
    CHECK_EQ(acked, batches);

    /* a power loss: a prefix of the commit order survives, holding every
     * acknowledged synced batch. Background work is paused first: the
     * process goes on past its own simulated power loss, and a flush running
     * across it could lose its table's folder entry and then write a version
     * file naming the table ("table ... is missing" at the reopen, seen once
     * under ASan), which no real power loss can do */
    if (background)
        CHECK_OK(tind_internal_pause_background(db, 1));
    CHECK_OK(fs_mem_crash(mem, FS_CRASH_KEEP_PREFIX | FS_CRASH_DROP_DIRENTS, check_seed));
    tind_close(db);
    db = open_db(mem, 0);
    ks = open_ks(db);
    uint64_t present_max = 0, absent_min = UINT64_MAX;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < OPS; i++) {
            op_rec *r = &args[t].ops[i];
            if (!r->size)
                continue;
            char key[32];
            int n = op_key(key, sizeof key, t, i, 0);
            int rc = tind_contains(ks, key, (size_t)n, NULL);
            if (r->size == 3) { /* whole or absent */
                int n2 = op_key(key, sizeof key, t, i, 2);
                CHECK_RC(tind_contains(ks, key, (size_t)n2, NULL), rc);
            }
            if (rc == TIND_OK && r->seqno > present_max)
                present_max = r->seqno;
            if (rc == TIND_NOT_FOUND && r->seqno < absent_min)
                absent_min = r->seqno;
        }
    CHECK(present_max < absent_min);        /* a prefix */
    CHECK(present_max >= last_acked_sync);  /* synced batches survive */
    CHECK_OK(tind_close(db));
    free(args);
    fs_destroy(mem);
}

TEST(mixed_threads_on) { mixed_crash(1); }
TEST(mixed_threads_off) { mixed_crash(0); }

/* ------------------------------------------------------------------ per-call durability */

TEST(put_opt_durability)
{
    fs *mem = fs_mem_new();
    fs *ff = fs_fault_new(mem, 0);
    tind_db *db = open_db(ff, 0);
    tind_keyspace *ks = open_ks(db);
    tind_write_options *wo = tind_write_options_new();
    CHECK(wo);
    uint64_t syncs = fs_fault_calls(ff, FS_CALL_SYNC);
    CHECK_OK(tind_put_opt(ks, "a", 1, "1", 1, wo)); /* nothing set: the default (no sync) */
    CHECK_OK(tind_put_opt(ks, "b", 1, "1", 1, NULL));
    CHECK_EQ(fs_fault_calls(ff, FS_CALL_SYNC) - syncs, 0);
    tind_write_options_set_durability(wo, TIND_PERSIST_SYNC_DATA);
    tind_write_options_set_durability(wo, 7); /* ignored */
    tind_write_options_set_durability(NULL, TIND_PERSIST_SYNC_DATA);
    CHECK_OK(tind_put_opt(ks, "c", 1, "1", 1, wo));
    CHECK_EQ(fs_fault_calls(ff, FS_CALL_SYNC) - syncs, 1);
    tind_write_options_set_durability(wo, TIND_PERSIST_SYNC_ALL);
    CHECK_OK(tind_remove_opt(ks, "a", 1, wo));
    CHECK_EQ(fs_fault_calls(ff, FS_CALL_SYNC) - syncs, 2);
    tind_write_options_set_durability(wo, TIND_PERSIST_BUFFER);
    CHECK_OK(tind_put_opt(ks, "d", 1, "1", 1, wo));
    CHECK_EQ(fs_fault_calls(ff, FS_CALL_SYNC) - syncs, 2);
    CHECK_RC(tind_put_opt(ks, "", 0, "1", 1, wo), TIND_EINVAL); /* tind_put's checks */
    CHECK_RC(tind_put_opt(NULL, "k", 1, "1", 1, wo), TIND_EINVAL);
    CHECK_RC(tind_remove_opt(NULL, "k", 1, NULL), TIND_EINVAL);
    CHECK_OK(tind_persist(db, TIND_PERSIST_NONE)); /* a no-op, accepted */
    CHECK_OK(tind_persist(db, TIND_PERSIST_BUFFER));
    CHECK_EQ(fs_fault_calls(ff, FS_CALL_SYNC) - syncs, 2);
    CHECK_RC(tind_persist(db, 3), TIND_EINVAL);
    /* a power loss keeps what the synced remove covered, loses the rest */
    CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, 2));
    tind_close(db);
    db = open_db(ff, 0);
    ks = open_ks(db);
    CHECK_RC(tind_contains(ks, "a", 1, NULL), TIND_NOT_FOUND);
    CHECK_OK(tind_contains(ks, "b", 1, NULL));
    CHECK_OK(tind_contains(ks, "c", 1, NULL));
    CHECK_RC(tind_contains(ks, "d", 1, NULL), TIND_NOT_FOUND);
    tind_write_options_free(wo);
    tind_write_options_free(NULL);
    CHECK_OK(tind_close(db));
    fs_destroy(ff);
    fs_destroy(mem);
}

/* ------------------------------------------------------------------ the modes' promises */

static tind_db *open_posix(const char *dir)
{
    tind_options *o = tind_options_new();
    tind_options_set_no_background(o, 1);
    return check_open_with(dir, o);
}

static void put_n(tind_keyspace *ks, const char *prefix, int n, int mode)
{
    tind_write_options *wo = tind_write_options_new();
    tind_write_options_set_durability(wo, mode);
    for (int i = 0; i < n; i++) {
        char key[32];
        int kn = snprintf(key, sizeof key, "%s%03d", prefix, i);
        CHECK_OK(tind_put_opt(ks, key, (size_t)kn, "value", 5, wo));
    }
    tind_write_options_free(wo);
}

/* How many of prefix000.. are present; they must be a prefix. */
static int count_prefix(tind_keyspace *ks, const char *prefix, int n)
{
    int present = 0;
    for (int i = 0; i < n; i++) {
        char key[32];
        int kn = snprintf(key, sizeof key, "%s%03d", prefix, i);
        int rc = tind_contains(ks, key, (size_t)kn, NULL);
        if (rc == TIND_OK) {
            CHECK_EQ(present, i); /* no holes */
            present++;
        } else {
            CHECK_RC(rc, TIND_NOT_FOUND);
        }
    }
    return present;
}

/* A child writes 50 BUFFER puts, then 50 NONE puts (then, with `persist`,
 * tind_persist(BUFFER)), and is SIGKILLed: every BUFFER put survives, the
 * NONE puts survive as a prefix (all of them after the persist). */
static void kill_after_modes(int persist)
{
    char *dir = check_tmpdir("wgroup-kill");
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        tind_db *db = open_posix(dir);
        tind_keyspace *ks = open_ks(db);
        put_n(ks, "b", 50, TIND_PERSIST_BUFFER);
        put_n(ks, "n", 50, TIND_PERSIST_NONE);
        if (persist && tind_persist(db, TIND_PERSIST_BUFFER))
            _exit(3);
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    tind_db *db = open_posix(dir);
    tind_keyspace *ks = open_ks(db);
    CHECK_EQ(count_prefix(ks, "b", 50), 50);
    int n = count_prefix(ks, "n", 50);
    if (persist)
        CHECK_EQ(n, 50);
    else
        CHECK_EQ(n, 0); /* 50 small records stay in the 64 KiB buffer */
    CHECK_OK(tind_close(db));
    check_rmtree(dir);
    free(dir);
}

TEST(buffer_survives_kill_none_is_prefix) { kill_after_modes(0); }
TEST(persist_buffer_pushes_none) { kill_after_modes(1); }

/* NONE writes waiting in the journal's buffer are visible, reach the change
 * feed (which pushes them to the file) and a checkpoint, and survive a
 * clean close. */
TEST(none_visible_to_feed_and_checkpoint)
{
    char *dir = check_tmpdir("wgroup-none");
    char path[4096], copy[4096];
    snprintf(path, sizeof path, "%s/db", dir);
    snprintf(copy, sizeof copy, "%s/copy", dir);
    tind_db *db = open_posix(path);
    tind_keyspace *ks = open_ks(db);
    uint64_t s0;
    CHECK_OK(tind_last_seqno(db, &s0));
    put_n(ks, "n", 20, TIND_PERSIST_NONE);
    CHECK_OK(tind_contains(ks, "n019", 4, NULL));
    tind_changes *c;
    CHECK_OK(tind_changes_since(db, s0 + 1, &c));
    for (int i = 0; i < 20; i++) {
        CHECK_OK(tind_changes_next(c, 0));
        CHECK_EQ(tind_changes_seqno(c), s0 + 1 + (uint64_t)i);
    }
    CHECK_RC(tind_changes_next(c, 0), TIND_NOT_FOUND);
    put_n(ks, "m", 5, TIND_PERSIST_NONE);
    for (int i = 0; i < 5; i++)
        CHECK_OK(tind_changes_next(c, 0));
    tind_changes_free(c);
    put_n(ks, "k", 5, TIND_PERSIST_NONE);
    CHECK_OK(tind_checkpoint(db, copy));
    put_n(ks, "z", 5, TIND_PERSIST_NONE);
    CHECK_OK(tind_close(db));
    db = open_posix(copy);
    ks = open_ks(db);
    CHECK_EQ(count_prefix(ks, "k", 5), 5);
    CHECK_EQ(count_prefix(ks, "z", 5), 0);
    CHECK_OK(tind_close(db));
    db = open_posix(path);
    ks = open_ks(db);
    CHECK_EQ(count_prefix(ks, "z", 5), 5);
    CHECK_OK(tind_close(db));
    check_rmtree(dir);
    free(dir);
}

int main(void)
{
    check_seed_init(15);
    RUN(journal_pending_mark_drop);
    RUN(one_group_one_sync);
    RUN(queued_writer_keeps_its_turn);
    RUN(sync_failure_fails_group);
    RUN(write_failure_fails_group);
    RUN(txn_leads_its_group);
    RUN(mixed_threads_on);
    RUN(mixed_threads_off);
    RUN(put_opt_durability);
    RUN(buffer_survives_kill_none_is_prefix);
    RUN(persist_buffer_pushes_none);
    RUN(none_visible_to_feed_and_checkpoint);
    return 0;
}
