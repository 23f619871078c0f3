/*
 * kill.c -- the kill campaign of tind-stress (TESTING.md item 3).
 *
 * The parent runs "lives": each life execs a fresh child (tind-stress
 * __kill-child ...) that opens the database in <dir>/db on the POSIX file
 * system and commits random batches (one in four as a transaction) across
 * three keyspaces with a mix of durabilities (none, buffer, SYNC_DATA,
 * SYNC_ALL, and now and then a
 * tind_persist, or a clean close and reopen). Over a pipe the child reports
 *     R               tind_open starts           O <us>   it returned
 *     K               the three keyspaces are open
 *     B <id> <n>      before committing batch id (n operations)
 *     A <id> <rc>     after the commit returned rc
 *     S <id>          a sync commit or a persist returned: every batch <= id is synced
 *     E <text>        an unexpected error (the child then exits with status 3)
 * The parent SIGKILLs the child at a random moment (10-500 ms after K,
 * log-uniform; sometimes while tind_open is still recovering), or, in a
 * kill-point build, the child kills itself at a named kill point
 * (TIND_KILL_AT / TIND_KILL_ODDS). Then the parent opens the database itself
 * and checks the invariants:
 *   1. every batch <= the last S id is present (and after a plain process
 *      kill, every batch up to the last one committed with durability
 *      BUFFER or stronger: its journal write reached the OS, with every
 *      record before it, before the commit returned; a NONE commit may
 *      wait in the journal's user-space buffer and be lost);
 *   2. the recovered state equals the model cut after some batch P with
 *      last-S <= P <= last-B: no batch is partially visible, no holes;
 *   3. every keyspace created before opens; forward and backward iteration
 *      and point reads of every key agree with the model; every value
 *      carries a checksum of its key and bytes, and equals, byte for byte,
 *      the value the model says was written;
 *   4. (issue 13) key "c" of keyspace "counter", into which every batch
 *      but single puts and transactions (which carry no merge operand)
 *      merges +1, holds exactly the recovered batches' count; the removes
 *      of odd keys are single deletes (plain removes in transactions);
 *   5. (--writers W) W more threads of the child each put their own keys
 *      (kill.h: keyspace "writers", write seq of thread t under slot
 *      seq % 256) and report each write once acknowledged ("W t seq s"):
 *      every write of every thread acknowledged with BUFFER or stronger
 *      survives a process kill, every one acknowledged as synced survives a
 *      power loss, and each thread's recovered writes are a prefix of its
 *      history (every slot holds the newest write at or below the thread's
 *      recovered seq, byte for byte, of the life that wrote it).
 * Background threads: 1 to 3, or (one life in four) none: the child then
 * calls tind_flush and tind_compact itself (kill_child.c).
 * The next child continues with batch P + 1 (the parent passes it), in a
 * new "life" number that is mixed into every generated batch and value, so
 * a record of an earlier life resurrected by recovery is caught.
 *
 * Batches are a pure function of (seed, life, id): the parent regenerates
 * them instead of storing them. Every batch ends with a put of "!marker" in
 * keyspace 0 whose value names the batch, so P is read from the database.
 *
 * Power loss (--power-loss; every other life): the child's file system is
 * POSIX wrapped in a recording layer (recfs.h) that logs, to <dir>/fslog,
 * directory intents and successful syncs; displaced files go to
 * <dir>/grave. After the SIGKILL the parent replays the log: directory
 * operations not covered by a later sync of their directory are undone (all
 * of them, none, or a random subset), and every file the child wrote is cut
 * back to its durable length, keeping a random prefix of the unsynced tail
 * or also garbling its last sector (never a synced byte).
 *
 * Determinism: batches, plans and crash choices derive from --seed (per
 * life); only the kill instants depend on timing. On failure the seed, the
 * last lives (the kill log) and the folder (kept) are printed.
 *
 * Files: this one is the parent; the child is kill_child.c, the workload
 * both share kill_work.c (kill.h), the recording layer and the simulation
 * recfs.c.
 *
 * Thread-safety: the parent is single-threaded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "kill.h"
#include "recfs.h"
#include "stress.h"
#include "tind.h"
#include "tind_internal.h"

extern char **environ;

#define KILL_LOG 24

typedef struct klife {
    uint32_t life;
    int power, recovery_kill, self_killed, got_K, opens;
    double delay_ms;
    char kill_at[40];
    int kill_point;           /* index in kill_points[], -1 = none */
    unsigned odds;
    uint64_t first_id, last_B, last_A, last_S, P;
    int have_B;
    int bg;                   /* the child's background threads */
    uint64_t w_acked[KILL_MAX_WRITERS], w_synced[KILL_MAX_WRITERS]; /* --writers: newest acknowledged seq */
    char sim[160];
} klife;

typedef struct kfig {
    uint64_t kills, power_kills, killpoint_kills, recovery_kills;
    uint64_t acked, synced_batches, recovered, unsynced_lost;
    uint64_t txn_acked;       /* of acked: committed as transactions */
    uint64_t ingest_acked;    /* of acked: committed by tind_ingest */
    uint64_t lost_synced, lost_acked, partial, holes, bad_checksum, unknown_keys, open_failures, phantom;
    uint64_t undone, kept_unsynced, bytes_dropped, torn, truncated, overwrites;
    uint64_t point_reads, iter_items, child_reopens;
    uint64_t writer_acks, writer_synced_acks, writer_recovered, writer_lost, bg_off_lives;
    double t_child, t_verify;
} kfig;

typedef struct kctx {
    const stress_opts *o;
    char base[4096], dbpath[4200], grave[4200], logpath[4200], self[4096];
    int own_base;
    uint64_t seed;
    kstate *state;       /* the model at R0 (verified) */
    kstate *exp;         /* scratch: the model at P */
    uint64_t R0;
    uint32_t life;       /* the life that wrote the batches after R0 */
    int keyspaces_made;
    double open_ms;      /* running mean of the child's open time */
    kfig fig;
    klife log[KILL_LOG];
    uint64_t nlog;
    uint64_t point_armed[24], point_taken[24];   /* per kill_points[] entry */
    /* --writers: per thread, the recovered (verified) seq and which life
     * wrote which seqs (life seg_life[i] from seq seg_start[i] on) */
    uint64_t wR[KILL_MAX_WRITERS];
    uint64_t *seg_start[KILL_MAX_WRITERS];
    uint32_t *seg_life[KILL_MAX_WRITERS];
    size_t nseg[KILL_MAX_WRITERS];
    char fail[1024];
} kctx;

#ifdef TIND_KILL_POINTS
/* The kill points of util/killpoint.h, with how rarely to take them: a point
 * visited per batch needs long odds, one visited per install short ones. */
static const struct {
    const char *name;
    unsigned max_odds;
} kill_points[] = {
    {"journal.append.before", 400}, {"journal.append.after", 400}, {"journal.sync.after", 150},
    {"table.sync.before", 8},       {"table.sync.after", 8},       {"version.write.before", 8},
    {"version.write.after", 8},     {"flush.install.before", 6},   {"compaction.install.before", 3},
    {"compaction.output", 2},       {"recovery.replay", 300},      {"journal.", 600},
    {"table.", 12},                 {"version.", 12},              {"ingest.write.before", 1},
    {"ingest.install.before", 1},   {"ingest.install.after", 1},
};
_Static_assert(sizeof kill_points / sizeof kill_points[0] <= 24, "point_armed[] holds every kill point");
#endif

static void kfail(kctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void kfail(kctx *c, const char *fmt, ...)
{
    if (c->fail[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->fail, sizeof c->fail, fmt, ap);
    va_end(ap);
}

/* ---- checking the recovered database against the model ---- */

typedef struct kcheck {
    kctx *c;
    uint64_t P;
    uint32_t life;
    const kstate *exp;
    uint64_t bad;
} kcheck;

/* Compares what the database holds for (k, idx) with the model; 0 if equal. */
static int check_cell(kcheck *ck, int k, uint32_t idx, int present, const uint8_t *v, size_t vlen, const char *how)
{
    kctx *c = ck->c;
    const kcell *want = &ck->exp->cell[k][idx];
    uint8_t key[KILL_KEY_MAX];
    static uint8_t buf[KILL_VAL_MAX];
    size_t kn = kill_key_bytes(idx, key);
    if (present == want->present) {
        if (!present)
            return 0;
        if (vlen == want->vlen) {
            kill_value_bytes(c->seed, want->life, want->id, want->pos, key, kn, want->vlen, buf);
            if (memcmp(buf, v, vlen) == 0)
                return 0;
        }
    }
    ck->bad++;
    uint64_t gid = 0;
    uint32_t gpos = 0, glife = 0;
    const char *kind;
    if (present && kill_value_decode(key, kn, v, vlen, &gid, &gpos, &glife) != 0) {
        c->fig.bad_checksum++;
        kind = "value fails its checksum";
    } else if (present && glife == ck->life && gid > ck->P) {
        c->fig.partial++;
        kind = "a batch after the recovered prefix is partly visible";
    } else {
        c->fig.holes++;
        kind = "an operation of a recovered batch is missing (hole or stale value)";
    }
    kfail(c, "%s: keyspace '%s' key '%.*s': %s: model says %s (batch %" PRIu64 " op %u life %u), database %s "
          "(batch %" PRIu64 " op %u life %u, %zu bytes); recovered prefix P=%" PRIu64,
          how, kill_ks_names[k], (int)kn, (const char *)key, kind, want->present ? "present" : "absent", want->id,
          want->pos, want->life, present ? "has it" : "does not", gid, gpos, glife, vlen, ck->P);
    return 1;
}

static int rank_of(uint32_t idx) { return idx == KILL_MARKER ? 0 : (int)idx + 1; }

static void check_iter(kcheck *ck, tind_keyspace *ks, int k, int backward)
{
    kctx *c = ck->c;
    tind_iter *it;
    int rc = tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it);
    if (rc) {
        ck->bad++;
        kfail(c, "iterator on '%s': %s (%s)", kill_ks_names[k], tind_strerror(rc), tind_errmsg(NULL));
        return;
    }
    static uint8_t seen[KILL_UNIVERSE + 1];
    memset(seen, 0, sizeof seen);
    int last_rank = backward ? 1 << 30 : -1;
    const char *how = backward ? "backward iteration" : "forward iteration";
    for (backward ? tind_iter_last(it) : tind_iter_first(it); tind_iter_valid(it);
         backward ? tind_iter_prev(it) : tind_iter_next(it)) {
        size_t kn, vn;
        const uint8_t *key = tind_iter_key(it, &kn);
        const uint8_t *v = tind_iter_value(it, &vn);
        if (!v)
            break; /* a blob that could not be loaded: the status below says why */
        uint32_t idx;
        c->fig.iter_items++;
        if (kill_key_parse(key, kn, &idx) != 0 || (idx == KILL_MARKER && k != 0)) {
            c->fig.unknown_keys++;
            ck->bad++;
            kfail(c, "%s of '%s': unknown key '%.*s' (%zu bytes)", how, kill_ks_names[k], (int)(kn < 80 ? kn : 80),
                  (const char *)key, kn);
            break;
        }
        int r = rank_of(idx);
        if (backward ? r >= last_rank : r <= last_rank) {
            ck->bad++;
            kfail(c, "%s of '%s': key '%.*s' out of order", how, kill_ks_names[k], (int)kn, (const char *)key);
            break;
        }
        last_rank = r;
        seen[idx] = 1;
        check_cell(ck, k, idx, 1, v, vn, how);
    }
    rc = tind_iter_status(it);
    if (rc) {
        ck->bad++;
        kfail(c, "%s of '%s' ended with %s (%s)", how, kill_ks_names[k], tind_strerror(rc), tind_errmsg(NULL));
    }
    tind_iter_free(it);
    for (uint32_t idx = 0; idx <= KILL_UNIVERSE; idx++)
        if (!seen[idx] && ck->exp->cell[k][idx].present)
            check_cell(ck, k, idx, 0, NULL, 0, how);
}

static void check_points(kcheck *ck, tind_keyspace *ks, int k)
{
    kctx *c = ck->c;
    uint8_t key[KILL_KEY_MAX];
    for (uint32_t idx = 0; idx <= KILL_UNIVERSE; idx++) {
        if (idx == KILL_MARKER && k != 0)
            continue;
        size_t kn = kill_key_bytes(idx, key);
        void *v = NULL;
        size_t vn = 0;
        int rc = tind_get(ks, key, kn, NULL, &v, &vn);
        c->fig.point_reads++;
        if (rc != TIND_OK && rc != TIND_NOT_FOUND) {
            ck->bad++;
            kfail(c, "get '%.*s' from '%s': %s (%s)", (int)kn, (const char *)key, kill_ks_names[k], tind_strerror(rc),
                  tind_errmsg(NULL));
            return;
        }
        check_cell(ck, k, idx, rc == TIND_OK, v, vn, "point read");
        tind_free(v);
    }
}

/* ---- the writer threads (--writers) ---- */

static uint32_t writer_life_of(const kctx *c, uint32_t t, uint64_t seq)
{
    for (size_t i = c->nseg[t]; i-- > 0;)
        if (c->seg_start[t][i] <= seq)
            return c->seg_life[t][i];
    return 0;
}

/* A new life: thread t writes from wR[t] + 1 on. */
static int writers_begin(kctx *c, const klife *L)
{
    for (int t = 0; t < c->o->writers; t++) {
        uint64_t *s = realloc(c->seg_start[t], (c->nseg[t] + 1) * sizeof *s);
        if (s)
            c->seg_start[t] = s;
        uint32_t *l = realloc(c->seg_life[t], (c->nseg[t] + 1) * sizeof *l);
        if (l)
            c->seg_life[t] = l;
        if (!s || !l)
            return -1;
        /* a life that recovered nothing new replaces its predecessor's segment */
        if (c->nseg[t] && c->seg_start[t][c->nseg[t] - 1] == c->wR[t] + 1)
            c->nseg[t]--;
        c->seg_start[t][c->nseg[t]] = c->wR[t] + 1;
        c->seg_life[t][c->nseg[t]++] = L->life;
    }
    return 0;
}

/* Checks keyspace "writers" (invariant 5); on success R[t] is each
 * thread's recovered seq. */
static void check_writers(kctx *c, kcheck *ck, const klife *L, tind_db *db, uint64_t *R)
{
    int W = c->o->writers;
    memset(R, 0, (size_t)W * sizeof *R);
    if (W == 0)
        return;
    static uint64_t slot[KILL_MAX_WRITERS][KILL_WSLOTS];
    memset(slot, 0, sizeof slot);
    static uint8_t want[KILL_VAL_MAX];
    tind_keyspace *wks = NULL;
    int rc = tind_keyspace_exists(db, KILL_WRITERS_KS) == TIND_OK ? tind_keyspace_open(db, KILL_WRITERS_KS, NULL, &wks)
                                                                     : TIND_OK;
    if (rc) {
        ck->bad++;
        kfail(c, "keyspace '%s' does not open: %s (%s)", KILL_WRITERS_KS, tind_strerror(rc), tind_errmsg(db));
        return;
    }
    if (wks) {
        tind_iter *it;
        rc = tind_iter_range(wks, NULL, 0, NULL, 0, NULL, &it);
        if (rc) {
            ck->bad++;
            kfail(c, "iterator on '%s': %s (%s)", KILL_WRITERS_KS, tind_strerror(rc), tind_errmsg(db));
            return;
        }
        for (tind_iter_first(it); tind_iter_valid(it) && !c->fail[0]; tind_iter_next(it)) {
            size_t kn, vn;
            const uint8_t *key = tind_iter_key(it, &kn);
            const uint8_t *v = tind_iter_value(it, &vn);
            if (!v)
                break;
            c->fig.iter_items++;
            char kb[KILL_WKEY_MAX + 1];
            unsigned t = 0, s = 0;
            int used = 0;
            memcpy(kb, key, kn < KILL_WKEY_MAX ? kn : KILL_WKEY_MAX);
            kb[kn < KILL_WKEY_MAX ? kn : KILL_WKEY_MAX] = 0;
            uint64_t seq = 0;
            uint32_t pos = 0, life = 0;
            if (sscanf(kb, "w%2u-%3u%n", &t, &s, &used) != 2 || (size_t)used != kn || t >= (unsigned)W ||
                s >= KILL_WSLOTS) {
                c->fig.unknown_keys++;
                ck->bad++;
                kfail(c, "keyspace '%s': unknown key '%.*s'", KILL_WRITERS_KS, (int)(kn < 40 ? kn : 40),
                      (const char *)key);
                break;
            }
            if (kill_value_decode(key, kn, v, vn, &seq, &pos, &life) != 0 || pos != t || seq % KILL_WSLOTS != s ||
                seq == 0) {
                c->fig.bad_checksum++;
                ck->bad++;
                kfail(c, "keyspace '%s' key '%s': the value fails its checksum or names another key", KILL_WRITERS_KS,
                      kb);
                break;
            }
            uint32_t vlen = kill_writer_vlen(c->seed, life, t, seq);
            if (life != writer_life_of(c, t, seq) || vn != vlen ||
                (kill_value_bytes(c->seed, life, seq, t, key, kn, vlen, want), memcmp(want, v, vn) != 0)) {
                ck->bad++;
                kfail(c, "keyspace '%s' key '%s': write %" PRIu64 " of writer %u holds the bytes of life %u, but life "
                      "%u wrote it", KILL_WRITERS_KS, kb, seq, t, life, writer_life_of(c, t, seq));
                break;
            }
            slot[t][s] = seq;
            if (seq > R[t])
                R[t] = seq;
        }
        rc = tind_iter_status(it);
        tind_iter_free(it);
        if (rc && !c->fail[0]) {
            ck->bad++;
            kfail(c, "iteration of '%s' ended with %s (%s)", KILL_WRITERS_KS, tind_strerror(rc), tind_errmsg(NULL));
        }
    }
    for (int t = 0; t < W && !c->fail[0]; t++) {
        uint64_t need = L->power ? L->w_synced[t] : L->w_acked[t];
        if (R[t] < need || R[t] < c->wR[t]) {
            c->fig.writer_lost++;
            ck->bad++;
            kfail(c, "LOST ACKNOWLEDGED WRITES of writer thread %d: recovered through its write %" PRIu64 ", but write %"
                  PRIu64 " had been acknowledged%s", t, R[t], R[t] < c->wR[t] ? c->wR[t] : need,
                  R[t] < c->wR[t] ? " and recovered before" : L->power ? " as synced" : " (BUFFER or stronger)");
            break;
        }
        /* a prefix: every slot holds the newest write at or below R[t] */
        for (uint64_t s = 0; s < KILL_WSLOTS; s++) {
            uint64_t x = R[t] < s ? 0 : R[t] - (R[t] - s) % KILL_WSLOTS;
            uint8_t key[KILL_WKEY_MAX];
            size_t kn = kill_writer_key((uint32_t)t, s, key);
            void *v = NULL;
            size_t vn = 0;
            rc = wks ? tind_get(wks, key, kn, NULL, &v, &vn) : TIND_NOT_FOUND;
            c->fig.point_reads += wks != NULL;
            uint64_t gseq = 0;
            uint32_t gpos, glife;
            if (rc == TIND_OK && kill_value_decode(key, kn, v, vn, &gseq, &gpos, &glife) != 0)
                gseq = UINT64_MAX;
            tind_free(v);
            if ((rc != TIND_OK && rc != TIND_NOT_FOUND) || slot[t][s] != x || (rc == TIND_OK ? gseq : 0) != x) {
                c->fig.holes++;
                ck->bad++;
                kfail(c, "writer thread %d: key '%.*s' holds write %" PRIu64 " (iteration) / %" PRIu64 " (get: %s), "
                      "but the thread's writes are recovered through %" PRIu64 ": it must hold %" PRIu64
                      " (a hole in its history)", t, (int)kn, (const char *)key, slot[t][s],
                      rc == TIND_OK ? gseq : 0, tind_strerror(rc), R[t], x);
                break;
            }
        }
    }
}

/* Opens the recovered database, finds P, checks every invariant. 0 = fine. */
static int verify(kctx *c, klife *L, trng *rng)
{
    tind_db *db = NULL;
    tind_options *o = tind_options_new();
    stress_options_key(o);
    int rc = tind_open(c->dbpath, o, &db);
    tind_options_free(o);
    if (rc) {
        c->fig.open_failures++;
        kfail(c, "the database does not open after the kill: %s (%s)", tind_strerror(rc), tind_errmsg(NULL));
        return -1;
    }
    tind_keyspace *ks[KILL_KS] = {NULL};
    int missing = 0;
    for (int k = 0; k < KILL_KS; k++) {
        if (tind_keyspace_exists(db, kill_ks_names[k]) != TIND_OK) {
            missing++;
            if (c->keyspaces_made) {
                kfail(c, "keyspace '%s' is gone after the kill", kill_ks_names[k]);
                tind_close(db);
                return -1;
            }
            continue;
        }
        rc = tind_keyspace_open(db, kill_ks_names[k], NULL, &ks[k]);
        if (rc) {
            c->fig.open_failures++;
            kfail(c, "keyspace '%s' does not open: %s (%s)", kill_ks_names[k], tind_strerror(rc), tind_errmsg(db));
            tind_close(db);
            return -1;
        }
    }
    if (!missing)
        c->keyspaces_made = 1;

    /* P: the batch the marker names */
    uint64_t P = 0;
    if (ks[0]) {
        uint8_t key[KILL_KEY_MAX];
        size_t kn = kill_key_bytes(KILL_MARKER, key);
        void *v = NULL;
        size_t vn = 0;
        rc = tind_get(ks[0], key, kn, NULL, &v, &vn);
        uint32_t pos, life;
        if (rc == TIND_OK && kill_value_decode(key, kn, v, vn, &P, &pos, &life) != 0) {
            c->fig.bad_checksum++;
            kfail(c, "the marker's value fails its checksum");
        } else if (rc != TIND_OK && rc != TIND_NOT_FOUND) {
            kfail(c, "get marker: %s (%s)", tind_strerror(rc), tind_errmsg(db));
        } else if (rc == TIND_OK && P > c->R0 && life != c->life) {
            kfail(c, "the marker names batch %" PRIu64 " of life %u, but batches after %" PRIu64
                  " were written by life %u", P, life, c->R0, c->life);
        }
        tind_free(v);
    }
    L->P = P;
    if (!c->fail[0]) {
        uint64_t top = L->have_B ? L->last_B : c->R0;
        if (P < c->R0) {
            c->fig.lost_synced++;
            kfail(c, "recovered through batch %" PRIu64 ", but batch %" PRIu64
                  " had been recovered, checked and closed cleanly before", P, c->R0);
        } else if (P < L->last_S) {
            c->fig.lost_synced++;
            kfail(c, "LOST SYNCED BATCHES: recovered through batch %" PRIu64 ", but batch %" PRIu64
                  " was acknowledged as synced", P, L->last_S);
        } else if (!L->power && P < L->last_A) {
            c->fig.lost_acked++;
            kfail(c, "LOST ACKNOWLEDGED BATCHES after a process kill (no power loss): recovered through batch %"
                  PRIu64 ", but batch %" PRIu64 "'s commit had returned", P, L->last_A);
        } else if (P > top) {
            c->fig.phantom++;
            kfail(c, "recovered through batch %" PRIu64 ", but the child never began a batch after %" PRIu64, P,
                  top);
        }
    }
    if (c->fail[0]) {
        tind_close(db);
        return -1;
    }

    /* the model at P */
    memcpy(c->exp, c->state, sizeof *c->exp);
    static kbatch b;
    for (uint64_t id = c->R0 + 1; id <= P; id++) {
        kill_gen_batch(c->seed, c->life, id, &b);
        kill_state_apply(c->exp, &b, c->life);
    }
    kcheck ck = {c, P, c->life, c->exp, 0};
    for (int k = 0; k < KILL_KS; k++) {
        if (!ks[k]) {
            for (uint32_t idx = 0; idx <= KILL_UNIVERSE; idx++)
                if (c->exp->cell[k][idx].present)
                    check_cell(&ck, k, idx, 0, NULL, 0, "missing keyspace");
            continue;
        }
        check_iter(&ck, ks[k], k, 0);
        if (trng_below(rng, 2) == 0 || k == 0)
            check_iter(&ck, ks[k], k, 1);
        check_points(&ck, ks[k], k);
    }
    /* the counter: one merge per recovered batch, across lives */
    tind_keyspace *cks = NULL;
    uint64_t count = 0;
    rc = tind_keyspace_exists(db, KILL_COUNTER_KS) == TIND_OK ? tind_keyspace_open(db, KILL_COUNTER_KS, NULL, &cks)
                                                                 : TIND_OK;
    if (rc == TIND_OK && cks) {
        void *v = NULL;
        size_t vn = 0;
        rc = tind_get(cks, "c", 1, NULL, &v, &vn);
        if (rc == TIND_OK && vn == 8)
            for (int i = 0; i < 8; i++)
                count |= (uint64_t)((uint8_t *)v)[i] << (8 * i);
        else if (rc == TIND_OK)
            rc = TIND_ECORRUPT;
        if (rc == TIND_NOT_FOUND)
            rc = TIND_OK;
        tind_free(v);
    }
    if (rc) {
        ck.bad++;
        kfail(c, "the counter keyspace: %s (%s)", tind_strerror(rc), tind_errmsg(db));
    } else if (count != c->exp->merges) {
        ck.bad++;
        c->fig.partial++;
        kfail(c, "the counter reads %" PRIu64 " but %" PRIu64 " batches merged into it are recovered (P=%" PRIu64 ")",
              count, c->exp->merges, P);
    }
    uint64_t wr[KILL_MAX_WRITERS];
    if (!c->fail[0])
        check_writers(c, &ck, L, db, wr);
    rc = tind_close(db);
    if (rc && !c->fail[0])
        kfail(c, "close after the check: %s", tind_strerror(rc));
    if (ck.bad || c->fail[0])
        return -1;
    for (int t = 0; t < c->o->writers; t++) {
        c->fig.writer_recovered += wr[t] - c->wR[t];
        c->wR[t] = wr[t];
    }
    memcpy(c->state, c->exp, sizeof *c->state);
    c->fig.recovered += P - c->R0;
    if (L->have_B && L->last_B > P)
        c->fig.unsynced_lost += L->last_B - P;
    c->R0 = P;
    return 0;
}

/* ---- running one life ---- */

static void parse_msg(kctx *c, klife *L, char *line, double *deadline)
{
    uint64_t id = 0;
    int rc = 0;
    switch (line[0]) {
    case 'R':
        if (L->opens++)
            c->fig.child_reopens++;
        if (L->recovery_kill && *deadline > 1e299)
            *deadline = stress_now() + L->delay_ms / 1e3;
        break;
    case 'O':
        c->open_ms = 0.8 * c->open_ms + 0.2 * (strtod(line + 2, NULL) / 1e3);
        break;
    case 'K':
        L->got_K = 1;
        if (!L->recovery_kill && *deadline > 1e299)
            *deadline = stress_now() + L->delay_ms / 1e3;
        break;
    case 'B':
        if (sscanf(line + 2, "%" SCNu64, &id) == 1) {
            L->last_B = id;
            L->have_B = 1;
        }
        break;
    case 'A':
        if (sscanf(line + 2, "%" SCNu64 " %d", &id, &rc) == 2 && rc == 0) {
            c->fig.acked++;
            static kbatch gb;
            kill_gen_batch(c->seed, L->life, id, &gb);
            c->fig.txn_acked += gb.txn != 0;
            c->fig.ingest_acked += gb.ingest != 0;
            /* a TIND_PERSIST_NONE commit may wait in the journal's buffer
             * (a process kill may lose it); BUFFER and stronger reach the
             * OS, with every batch before (a persist or a clean close
             * reports S) */
            if (gb.durability >= TIND_PERSIST_BUFFER)
                L->last_A = id;
        }
        break;
    case 'S':
        if (sscanf(line + 2, "%" SCNu64, &id) == 1 && id > L->last_S) {
            L->last_S = id;
            c->fig.synced_batches++;
        }
        break;
    case 'W': {
        unsigned t;
        int synced;
        if (sscanf(line + 2, "%u %" SCNu64 " %d", &t, &id, &synced) == 3 && t < KILL_MAX_WRITERS) {
            c->fig.writer_acks++;
            if (id > L->w_acked[t])
                L->w_acked[t] = id;
            if (synced && id > L->w_synced[t]) {
                L->w_synced[t] = id;
                c->fig.writer_synced_acks++;
            }
        }
        break;
    }
    case 'E':
        kfail(c, "the child reported an error: %s", line + 2);
        break;
    default:
        break;
    }
}

static int run_life(kctx *c, klife *L)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        kfail(c, "pipe: %s", strerror(errno));
        return -1;
    }
    char a_pipe[16], a_seed[32], a_life[16], a_next[32], a_bg[16], a_sync[16], a_writers[16];
    static char a_wnext[KILL_MAX_WRITERS * 22];
    snprintf(a_pipe, sizeof a_pipe, "%d", fds[1]);
    snprintf(a_seed, sizeof a_seed, "%" PRIu64, c->seed);
    snprintf(a_life, sizeof a_life, "%u", L->life);
    snprintf(a_next, sizeof a_next, "%" PRIu64, L->first_id);
    trng r;
    trng_seed(&r, kill_mix3(c->seed, L->life, 0xb6));
    /* 1 to 3 background threads, or none (the child flushes and compacts) */
    L->bg = (int)trng_below(&r, 4);
    if (c->o->bg >= 0)
        L->bg = c->o->bg;
    c->fig.bg_off_lives += L->bg == 0;
    snprintf(a_bg, sizeof a_bg, "%d", L->bg);
    snprintf(a_writers, sizeof a_writers, "%d", c->o->writers);
    size_t wn = 0;
    a_wnext[0] = 0;
    for (int t = 0; t < c->o->writers; t++)
        wn += (size_t)snprintf(a_wnext + wn, sizeof a_wnext - wn, "%s%" PRIu64, t ? "," : "", c->wR[t] + 1);
    snprintf(a_sync, sizeof a_sync, "%d", trng_below(&r, 4) == 0 ? 5 + (int)trng_below(&r, 30) : 0);
    char *argv[32];
    int n = 0;
    argv[n++] = c->self;
    argv[n++] = "__kill-child";
    argv[n++] = "--db";
    argv[n++] = c->dbpath;
    argv[n++] = "--pipe";
    argv[n++] = a_pipe;
    argv[n++] = "--seed";
    argv[n++] = a_seed;
    argv[n++] = "--life";
    argv[n++] = a_life;
    argv[n++] = "--next-id";
    argv[n++] = a_next;
    argv[n++] = "--bg";
    argv[n++] = a_bg;
    argv[n++] = "--sync-ms";
    argv[n++] = a_sync;
    argv[n++] = "--encrypt";
    argv[n++] = stress_encrypt ? "1" : "0";
    if (c->o->writers) {
        argv[n++] = "--writers";
        argv[n++] = a_writers;
        argv[n++] = "--wnext";
        argv[n++] = a_wnext;
    }
    if (L->power) {
        argv[n++] = "--rec-log";
        argv[n++] = c->logpath;
        argv[n++] = "--grave";
        argv[n++] = c->grave;
    }
    argv[n] = NULL;
    /* the environment, with this life's kill point */
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **envp = calloc(ne + 3, sizeof *envp);
    if (!envp) {
        close(fds[0]);
        close(fds[1]);
        kfail(c, "out of memory");
        return -1;
    }
    char e_at[80], e_odds[40];
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "TIND_KILL_AT=", 13) != 0 && strncmp(environ[i], "TIND_KILL_ODDS=", 15) != 0)
            envp[k++] = environ[i];
    if (L->kill_at[0]) {
        snprintf(e_at, sizeof e_at, "TIND_KILL_AT=%s", L->kill_at);
        snprintf(e_odds, sizeof e_odds, "TIND_KILL_ODDS=%u", L->odds);
        envp[k++] = e_at;
        envp[k++] = e_odds;
    }
    envp[k] = NULL;

    pid_t pid = fork();
    if (pid < 0) {
        free(envp);
        kfail(c, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        fcntl(fds[1], F_SETFD, 0); /* the child keeps the write end across exec */
        execve(c->self, argv, envp);
        _exit(127);
    }
    free(envp);
    close(fds[1]);

    double t_start = stress_now(), deadline = 1e300;
    int killed = 0;
    char buf[8192];
    size_t have = 0;
    for (;;) {
        double t = stress_now();
        if (!killed && t >= deadline) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        if (!killed && !L->got_K && t - t_start > 120) {
            kill(pid, SIGKILL);
            killed = 1;
            kfail(c, "the child did not finish opening the database in 120 s (hang in recovery?)");
        }
        int timeout = 100;
        if (!killed && deadline < 1e299) {
            double ms = (deadline - t) * 1e3;
            timeout = ms < 0 ? 0 : ms > 100 ? 100 : (int)ceil(ms);
        }
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int pr = poll(&pfd, 1, timeout);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        ssize_t got = read(fds[0], buf + have, sizeof buf - 1 - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break; /* the child is gone */
        have += (size_t)got;
        buf[have] = 0;
        char *p = buf, *nl;
        while ((nl = memchr(p, '\n', have - (size_t)(p - buf)))) {
            *nl = 0;
            parse_msg(c, L, p, &deadline);
            p = nl + 1;
        }
        have -= (size_t)(p - buf);
        memmove(buf, p, have);
        if (have == sizeof buf - 1)
            have = 0; /* a runaway line: drop it */
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status)) {
        kfail(c, "the child exited with status %d instead of being killed", WEXITSTATUS(status));
        return -1;
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL) {
        kfail(c, "the child died of signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        return -1;
    }
    L->self_killed = !killed;
    if (L->recovery_kill && !L->got_K)
        c->fig.recovery_kills++;
    if (L->self_killed)
        c->fig.killpoint_kills++;
    return c->fail[0] ? -1 : 0;
}

static void plan_life(kctx *c, klife *L)
{
    trng r;
    trng_seed(&r, kill_mix3(c->seed, L->life, 0x91a));
    L->power = c->o->power_loss && (L->life % 2 == 1); /* odd lives: at least half */
    L->recovery_kill = trng_below(&r, 100) < 12;
    if (L->recovery_kill) {
        double span = c->open_ms * 1.3 + 0.5;
        L->delay_ms = span * (double)trng_below(&r, 1001) / 1000.0;
    } else {
        /* log-uniform in [10, 500] ms */
        L->delay_ms = 10.0 * pow(50.0, (double)trng_below(&r, 100001) / 100000.0);
    }
    L->kill_at[0] = 0;
    L->kill_point = -1;
#ifdef TIND_KILL_POINTS
    if (trng_below(&r, 100) < 40) {
        size_t np = sizeof kill_points / sizeof kill_points[0];
        size_t i = (size_t)trng_below(&r, np);
        snprintf(L->kill_at, sizeof L->kill_at, "%s", kill_points[i].name);
        L->kill_point = (int)i;
        L->odds = 1 + (unsigned)trng_below(&r, kill_points[i].max_odds);
    }
#endif
}

static void print_life(FILE *out, const klife *L)
{
    fprintf(out, "  life %u: %s kill%s, delay %.1f ms, %d background threads%s%s", L->life,
            L->power ? "power-loss" : "process", L->recovery_kill ? " during open" : "", L->delay_ms, L->bg,
            L->kill_at[0] ? ", kill point " : "", L->kill_at);
    if (L->kill_at[0])
        fprintf(out, " 1/%u%s", L->odds, L->self_killed ? " (taken)" : "");
    fprintf(out, "; ids from %" PRIu64 ", last B %" PRIu64 " A %" PRIu64 " S %" PRIu64 " -> recovered P=%" PRIu64
            "%s%s\n", L->first_id, L->last_B, L->last_A, L->last_S, L->P, L->sim[0] ? "; " : "", L->sim);
}

static void dump_kill_log(kctx *c)
{
    fprintf(stderr, "kill log (last %d lives of %" PRIu64 "):\n", KILL_LOG, c->nlog);
    uint64_t from = c->nlog > KILL_LOG ? c->nlog - KILL_LOG : 0;
    for (uint64_t i = from; i < c->nlog; i++)
        print_life(stderr, &c->log[i % KILL_LOG]);
}

static void fresh_dir(const char *path)
{
    stress_rmtree(path);
    mkdir(path, 0755);
}

int campaign_kill(const stress_opts *o)
{
    kctx *c = calloc(1, sizeof *c);
    if (!c)
        return 2;
    c->o = o;
    c->seed = o->seed;
    c->state = calloc(1, sizeof *c->state);
    c->exp = calloc(1, sizeof *c->exp);
    c->open_ms = 5;
    ssize_t sl = readlink("/proc/self/exe", c->self, sizeof c->self - 1);
    if (!c->state || !c->exp || sl <= 0) {
        fprintf(stderr, "tind-stress kill: setup failed\n");
        return 2;
    }
    c->self[sl] = 0;
    /* kill points are for the children: the parent must never take one */
    unsetenv("TIND_KILL_AT");
    unsetenv("TIND_KILL_ODDS");
    if (stress_scratch_dir(o, "kill", c->base, sizeof c->base, &c->own_base) != 0)
        return 2;
    if (strpbrk(c->base, " \t\n")) {
        fprintf(stderr, "tind-stress kill: the folder must not contain white space: '%s'\n", c->base);
        return 2;
    }
    snprintf(c->dbpath, sizeof c->dbpath, "%s/db", c->base);
    snprintf(c->grave, sizeof c->grave, "%s/grave", c->base);
    snprintf(c->logpath, sizeof c->logpath, "%s/fslog", c->base);
    stress_rmtree(c->dbpath);
#ifdef TIND_KILL_POINTS
    const char *kp = "compiled in";
#else
    const char *kp = "not compiled in (cmake -DTIND_KILL_POINTS=ON)";
#endif
    printf("tind-stress kill: seed=%" PRIu64 " seconds=%g power_loss=%d writers=%d encrypt=%d dir=%s kill_points=%s\n",
           c->seed, o->seconds, o->power_loss, o->writers, stress_encrypt, c->base, kp);
    fflush(stdout);

    double t0 = stress_now(), last_report = t0;
    int failed = 0;
    while (stress_now() - t0 < o->seconds) {
        klife *L = &c->log[c->nlog % KILL_LOG];
        memset(L, 0, sizeof *L);
        L->life = ++c->life;
        L->first_id = c->R0 + 1;
        c->nlog++;
        plan_life(c, L);
        if (writers_begin(c, L) != 0) {
            kfail(c, "out of memory");
            failed = 1;
            break;
        }
        if (L->power) {
            fresh_dir(c->grave);
            unlink(c->logpath);
            /* what earlier lives left in the page cache is the durable
             * baseline of this one: make that literally true */
            int dfd = open(c->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                syncfs(dfd);
                close(dfd);
            }
        }
        double tl = stress_now();
        if (run_life(c, L) != 0) {
            failed = 1;
            break;
        }
        c->fig.t_child += stress_now() - tl;
        c->fig.kills++;
        if (L->kill_point >= 0) {
            c->point_armed[L->kill_point]++;
            c->point_taken[L->kill_point] += (uint64_t)L->self_killed;
        }
        trng r;
        trng_seed(&r, kill_mix3(c->seed, L->life, 0x5a7));
        if (L->power) {
            c->fig.power_kills++;
            recfs_loss s;
            if (recfs_power_loss(c->logpath, c->grave, &r, &s) != 0) {
                kfail(c, "power-loss simulation: %s", s.err);
                failed = 1;
                break;
            }
            snprintf(L->sim, sizeof L->sim,
                     "power loss: %zu log records, dir ops %s (%" PRIu64 " undone), tails %s (%" PRIu64
                     " bytes dropped, %" PRIu64 " torn)",
                     s.records, s.dir_mode == 0 ? "dropped" : s.dir_mode == 1 ? "kept" : "at random", s.undone,
                     s.data_mode == 0 ? "dropped" : s.data_mode == 1 ? "cut" : "cut+torn", s.bytes_dropped, s.torn);
            c->fig.undone += s.undone;
            c->fig.kept_unsynced += s.kept_unsynced;
            c->fig.bytes_dropped += s.bytes_dropped;
            c->fig.torn += s.torn;
            c->fig.truncated += s.truncated;
            c->fig.overwrites += s.overwrites;
            fresh_dir(c->grave);
        }
        tl = stress_now();
        if (verify(c, L, &r) != 0) {
            failed = 1;
            break;
        }
        c->fig.t_verify += stress_now() - tl;
        if (o->verbose)
            print_life(stdout, L);
        if (stress_now() - last_report > 30) {
            last_report = stress_now();
            printf("  ... %.0f s: %" PRIu64 " kills (%" PRIu64 " power loss), recovered through batch %" PRIu64
                   "\n", last_report - t0, c->fig.kills, c->fig.power_kills, c->R0);
            fflush(stdout);
        }
    }
    kfig *f = &c->fig;
#ifdef TIND_KILL_POINTS
    printf("kill points (taken/armed):");
    for (size_t i = 0; i < sizeof kill_points / sizeof kill_points[0]; i++)
        printf(" %s=%" PRIu64 "/%" PRIu64, kill_points[i].name, c->point_taken[i], c->point_armed[i]);
    printf("\n");
#endif
    if (failed) {
        fprintf(stderr, "FAIL: tind-stress kill (seed %" PRIu64 ", life %u): %s\n", c->seed, c->life, c->fail);
        dump_kill_log(c);
        fprintf(stderr, "reproduce: tind-stress kill --seed %" PRIu64 "%s%s --writers %d --seconds %g   (kills are timed: "
                "the same seed replays the same batches and plans, not the same instants)\n", c->seed,
                o->power_loss ? " --power-loss" : "", stress_encrypt ? " --encrypt" : "", o->writers, o->seconds);
        fprintf(stderr, "the database is kept in %s\n", c->base);
    }
    if (o->verbose)
        printf("time: children %.1f s, recovery + checks %.1f s\n", f->t_child, f->t_verify);
    printf("figures: kills=%" PRIu64 " power_loss_kills=%" PRIu64 " killpoint_kills=%" PRIu64
           " recovery_kills=%" PRIu64 " batches_acked=%" PRIu64 " txns_acked=%" PRIu64 " ingests_acked=%" PRIu64 " synced_acks=%" PRIu64 " batches_recovered=%" PRIu64
           " unsynced_batches_lost=%" PRIu64 " lost_synced=%" PRIu64 " lost_acked=%" PRIu64 " partial=%" PRIu64
           " holes=%" PRIu64 " bad_checksum=%" PRIu64 " unknown_keys=%" PRIu64 " open_failures=%" PRIu64
           " dirops_undone=%" PRIu64 " dirops_kept_unsynced=%" PRIu64 " files_cut=%" PRIu64 " bytes_dropped=%" PRIu64
           " tails_torn=%" PRIu64 " clean_reopens=%" PRIu64 " point_reads=%" PRIu64 " iter_items=%" PRIu64
           " bg_off_lives=%" PRIu64 " writers=%d writer_acks=%" PRIu64 " writer_synced_acks=%" PRIu64
           " writer_writes_recovered=%" PRIu64 " writer_lost_acked=%" PRIu64 " seconds=%.0f seed=%" PRIu64 "\n",
           f->kills, f->power_kills, f->killpoint_kills, f->recovery_kills, f->acked, f->txn_acked, f->ingest_acked, f->synced_batches,
           f->recovered, f->unsynced_lost, f->lost_synced, f->lost_acked, f->partial, f->holes, f->bad_checksum,
           f->unknown_keys, f->open_failures, f->undone, f->kept_unsynced, f->truncated, f->bytes_dropped, f->torn,
           f->child_reopens, f->point_reads, f->iter_items, f->bg_off_lives, o->writers, f->writer_acks,
           f->writer_synced_acks, f->writer_recovered, f->writer_lost, stress_now() - t0, c->seed);
    fflush(stdout);
    if (!failed && c->own_base)
        stress_rmtree(c->base);
    for (int t = 0; t < KILL_MAX_WRITERS; t++) {
        free(c->seg_start[t]);
        free(c->seg_life[t]);
    }
    free(c->state);
    free(c->exp);
    free(c);
    return failed ? 1 : 0;
}

