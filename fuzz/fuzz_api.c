/*
 * fuzz_api.c -- libFuzzer target for the whole engine through its public
 * API: the input bytes are decoded into a short sequence of operations (put,
 * remove, single delete (with or without its contract: reads never depend
 * on it), merge (keyspace c counts: its values are 8 bytes and a merge adds
 * to them), batch with a durability, get, iteration both ways, seek, snapshot
 * and reads at it, flush, compaction, background steps, persist, keyspace
 * delete and re-create, clean reopen, simulated power loss via fs_mem_crash,
 * and injected I/O faults via fs_fault_arm), run against tind on
 * fs_fault_new(fs_mem_new()) with background threads off or on, and checked
 * against a small model.
 *
 * Input: operation bytes, then one mode byte (the last): its low bit turns
 * the background threads on (2 workers flush and compact behind the model;
 * "background" then steps the job queue racing them). TIND_FUZZ_THREADS=0 or
 * 1 overrides the mode byte: the test run replays every corpus input both
 * ways. With threads on the interleaving is not part of the input: the model
 * allows only what holds whatever the workers did (they never change what a
 * read returns), and a close first pauses the workers and waits for their
 * running job so that the poisoned flag it reads is final.
 *
 * The model: the state verified at the last (re)open (`base`) plus the
 * batches since (`hist`), each OK, NO (refused before the journal: poisoned,
 * deleted keyspace) or MAYBE (failed after it may have reached the journal).
 *   - With no MAYBE batch pending, every successful read must match the model
 *     exactly (snapshot reads match the state the snapshot was taken at); a
 *     read may fail only while a fault has been armed since the last reopen.
 *   - At a reopen (clean, or after a simulated power loss) the faults stay
 *     armed for tind_open, which may fail, and are then disarmed; the
 *     database must open, and its state must be base + hist[0, cut) for some
 *     cut (MAYBE batches either way): cut = all of hist after a clean close or
 *     a failed one without power loss, cut >= every batch acknowledged durable
 *     (a SYNC batch, a persist, a close that synced) after a power loss. A
 *     keyspace delete that returned OK is durable whatever the cut.
 *   - Nothing may crash, trip a sanitizer or leak.
 * A violated property prints what differs and traps (__builtin_trap).
 * Limits keep each input fast: at most 48 operations and 5 reopens.
 * Seeds: fuzz/corpus/api/. Also built as replay_api (the corpus is replayed
 * by the normal test run).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "tind_internal.h"
#include "io/fs.h"
#include "tind.h"
#include "util/coding.h"

#define FA_NKS 3          /* "a" leveled, "b" tiered, "c" can be deleted and re-created */
#define FA_KEYS 16
#define FA_MAX_OPS 48
#define FA_MAX_REOPENS 5
#define FA_MAX_HIST 256
#define FA_MAX_VLEN 600
#define FA_MAX_SNAPS 2

enum { FA_OK = 0, FA_MAYBE = 1, FA_NO = 2 };

typedef struct fa_op {
    uint8_t ks, key, tomb;  /* tomb: 0 put, 1 remove, 2 single delete, 3 merge (keyspace c), 4 a range deletion [key, key + vlen) */
    uint16_t vlen;
} fa_op;

typedef struct fa_entry {
    uint32_t id;        /* global batch number: the value bytes derive from it */
    int drop;           /* a delete of keyspace c instead of a batch */
    int nops;
    fa_op ops[4];
    int status;
} fa_entry;

typedef struct fa_cell {
    int32_t id;         /* -1 = absent */
    uint16_t vlen;
    uint8_t merged;     /* keyspace c: the value is the counter sum */
    uint64_t sum;
} fa_cell;

typedef struct fa_world {
    int trace;              /* TIND_FUZZ_TRACE set: print each operation and its status */
    int threads;            /* background workers on (the mode byte) */
    const uint8_t *in;
    size_t len, pos;
    fs *mem, *ff;
    tind_db *db;
    tind_keyspace *ks[FA_NKS];
    fa_cell base[FA_NKS][FA_KEYS];
    fa_entry hist[FA_MAX_HIST];
    size_t nh;
    size_t synced;          /* hist[0, synced) acknowledged durable */
    size_t reached;         /* hist[0, reached) acknowledged as handed to the OS (BUFFER or
                               stronger): kept by a close that fails */
    int close_failed;       /* the last tind_close returned an error */
    uint32_t next_id;
    int armed;              /* a fault was armed since the last reopen */
    tind_snapshot *snaps[FA_MAX_SNAPS];
    fa_cell snap_state[FA_MAX_SNAPS][FA_NKS][FA_KEYS];
    int snap_known[FA_MAX_SNAPS];
    int nsnaps;
    int reopens;
} fa_world;

static const char *const fa_names[FA_NKS] = {"a", "b", "c"};

static void fa_fail(const char *what, int a, int b)
{
    fprintf(stderr, "fuzz_api: %s (%d, %d)\n", what, a, b);
    __builtin_trap();
}

static uint8_t fa_byte(fa_world *w)
{
    return w->pos < w->len ? w->in[w->pos++] : 0;
}

static size_t fa_value(uint32_t id, int ks, int key, size_t vlen, uint8_t *out)
{
    uint64_t s = ((uint64_t)id << 16) ^ ((uint64_t)ks << 8) ^ (uint64_t)key ^ 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < vlen; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        out[i] = (uint8_t)(s >> 56);
    }
    if (vlen >= 4)
        enc_u32(out, id);
    return vlen;
}

/* The counter operand a merge of batch id adds to key. */
static uint64_t fa_operand(uint32_t id, int key) { return (uint64_t)id * 2654435761u + (uint64_t)key; }

static size_t fa_key(int key, char *out) { return (size_t)snprintf(out, 8, "k%02x", key); }

static int fa_hex(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

/* The key id of key bytes (not NUL-terminated), -1 when not one of ours. */
static int fa_key_id(const char *k, size_t n)
{
    if (n != 3 || k[0] != 'k' || fa_hex(k[1]) < 0 || fa_hex(k[2]) < 0)
        return -1;
    int id = fa_hex(k[1]) * 16 + fa_hex(k[2]);
    return id < FA_KEYS ? id : -1;
}

/* ------------------------------------------------------------------ the model */

static int fa_maybes(const fa_world *w, size_t upto)
{
    int m = 0;
    for (size_t i = 0; i < upto; i++)
        m += w->hist[i].status == FA_MAYBE;
    return m;
}

/* base + hist[0, cut), the i-th MAYBE entry of hist applied when bit i of
 * mask is set; keyspace deletes apply whatever the cut. */
static void fa_state(const fa_world *w, size_t cut, uint64_t mask, fa_cell st[FA_NKS][FA_KEYS])
{
    memcpy(st, w->base, sizeof w->base);
    int mi = 0;
    for (size_t i = 0; i < w->nh; i++) {
        const fa_entry *e = &w->hist[i];
        int apply;
        if (e->status == FA_NO)
            continue;
        /* every MAYBE entry owns a mask bit; a delete is durable once it
         * happened, whatever the cut (it may have happened and failed after) */
        if (e->status == FA_MAYBE)
            apply = ((mask >> (mi++ & 63)) & 1) && (i < cut || e->drop);
        else
            apply = i < cut || e->drop;
        if (!apply)
            continue;
        if (e->drop) {
            for (int k = 0; k < FA_KEYS; k++)
                st[2][k].id = -1, st[2][k].merged = 0;
            continue;
        }
        for (int j = 0; j < e->nops; j++) {
            if (e->ops[j].tomb == 4) { /* a range deletion: a later merge has no base */
                for (int k = e->ops[j].key; k < FA_KEYS && k < e->ops[j].key + e->ops[j].vlen; k++)
                    st[e->ops[j].ks][k].id = -1, st[e->ops[j].ks][k].merged = 0;
                continue;
            }
            fa_cell *c = &st[e->ops[j].ks][e->ops[j].key];
            if (e->ops[j].tomb == 3) {
                /* a counter merge over the sum, the 8-byte value, or nothing */
                uint64_t base = c->merged ? c->sum : 0;
                if (!c->merged && c->id >= 0) {
                    uint8_t b[8];
                    fa_value((uint32_t)c->id, e->ops[j].ks, e->ops[j].key, 8, b);
                    base = dec_u64(b);
                }
                c->sum = base + fa_operand(e->id, e->ops[j].key);
                c->merged = 1;
                c->id = (int32_t)e->id;
                c->vlen = 8;
                continue;
            }
            c->id = e->ops[j].tomb ? -1 : (int32_t)e->id;
            c->vlen = e->ops[j].vlen;
            c->merged = 0;
        }
    }
}

static int fa_certain(const fa_world *w) { return fa_maybes(w, w->nh) == 0; }

/* ------------------------------------------------------------------ open / close */

static int fa_ks_open(fa_world *w, int k)
{
    tind_ks_options *ko = tind_ks_options_new();
    if (!ko)
        return TIND_ENOMEM;
    tind_ks_options_set_memtable_size(ko, 1024);
    tind_ks_options_set_table_size(ko, 1024);
    tind_ks_options_set_block_size(ko, 256);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_levels(ko, 3);
    tind_ks_options_set_level_ratio(ko, 2);
    if (k == 1) {
        /* LZ4 (the default): zstd contexts cost a quarter of the time per
         * input; the table and block fuzzers cover zstd */
        tind_ks_options_set_compaction(ko, TIND_COMPACTION_TIERED);
        tind_ks_options_set_partitioning(ko, 1);
    }
    /* key-value separation on with a small threshold and blob files: flush,
     * compaction and blob GC move pointers all the time (issue 11) */
    tind_ks_options_set_blob_separation(ko, 1, k == 0 ? 8 : 24);
    tind_ks_options_set_blob_file_size(ko, 4096);
    if (k == 0)
        tind_ks_options_set_blob_gc(ko, 0.2, 0.5);
    if (k == 2) {
        tind_ks_options_set_merge_builtin(ko, TIND_MERGE_COUNTER, NULL, 0);
        tind_ks_options_set_restart_interval(ko, 1);
        tind_ks_options_set_bloom_bits(ko, -1, 0);
        tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_NONE, 0);
    }
    int rc = tind_keyspace_open(w->db, fa_names[k], ko, &w->ks[k]);
    tind_ks_options_free(ko);
    if (rc)
        w->ks[k] = NULL;
    return rc;
}

static int fa_open(fa_world *w)
{
    tind_options *o = tind_options_new();
    if (!o)
        return TIND_ENOMEM;
    tind_options_set_fs(o, w->ff);
    if (w->threads)
        tind_options_set_background_threads(o, 2);
    else
        tind_options_set_no_background(o, 1);
    tind_options_set_cache_size(o, 32 * 1024);
    tind_options_set_write_buffer_size(o, 4096);
    tind_options_set_journal_file_size(o, 4096);
    tind_options_set_max_journal_size(o, 8192);
    tind_options_set_journal_compression_threshold(o, 200);
    int rc = tind_open("/db", o, &w->db);
    tind_options_free(o);
    if (rc)
        w->db = NULL;
    return rc;
}

static void fa_drop_snapshots(fa_world *w)
{
    for (int i = 0; i < w->nsnaps; i++)
        tind_snapshot_free(w->snaps[i]);
    w->nsnaps = 0;
}

static void fa_close(fa_world *w)
{
    if (!w->db)
        return;
    fa_drop_snapshots(w);
    if (w->threads)
        tind_internal_pause_background(w->db, 1); /* the poisoned flag read next is final */
    int poisoned = atomic_load(&w->db->poisoned);
    int rc = tind_close(w->db);
    w->db = NULL;
    for (int k = 0; k < FA_NKS; k++)
        w->ks[k] = NULL;
    w->close_failed = rc != TIND_OK;
    if (w->trace)
        fprintf(stderr, "  close -> %d%s\n", rc, poisoned ? " (poisoned)" : "");
    if (rc == TIND_OK && !poisoned)
        w->synced = w->reached = w->nh;
}

/* Reads keyspace k whole into obs (value bytes in vals), checking that
 * iteration forward, backward and point reads agree. */
static void fa_observe(fa_world *w, int k, fa_cell obs[FA_KEYS], uint8_t vals[FA_KEYS][FA_MAX_VLEN])
{
    for (int i = 0; i < FA_KEYS; i++)
        obs[i].id = -1, obs[i].vlen = 0, obs[i].merged = 0;
    if (!w->ks[k])
        return;
    tind_iter *it;
    int rc = tind_iter_range(w->ks[k], NULL, 0, NULL, 0, NULL, &it);
    if (rc)
        fa_fail("iterator after reopen fails", rc, k);
    int n = 0, last = -1;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
        size_t kn, vn;
        const char *key = tind_iter_key(it, &kn);
        const uint8_t *v = tind_iter_value(it, &vn);
        int id = fa_key_id(key, kn);
        if (id < 0 || id <= last || vn > FA_MAX_VLEN)
            fa_fail("iteration returns an unknown key", (int)kn, k);
        last = id;
        obs[id].id = 0; /* present; which batch is decided by comparing bytes */
        obs[id].vlen = (uint16_t)vn;
        memcpy(vals[id], v, vn);
        n++;
    }
    if (tind_iter_status(it))
        fa_fail("iteration after reopen fails", tind_iter_status(it), k);
    int back = 0;
    for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it))
        back++;
    tind_iter_free(it);
    if (back != n)
        fa_fail("forward and backward iteration disagree", n, back);
    for (int i = 0; i < FA_KEYS; i++) {
        char key[8];
        size_t kn = fa_key(i, key);
        void *v = NULL;
        size_t vn = 0;
        rc = tind_get(w->ks[k], key, kn, NULL, &v, &vn);
        if (rc != TIND_OK && rc != TIND_NOT_FOUND)
            fa_fail("get after reopen fails", rc, i);
        if ((rc == TIND_OK) != (obs[i].id >= 0) || (rc == TIND_OK && (vn != obs[i].vlen || memcmp(v, vals[i], vn))))
            fa_fail("get and iteration disagree", rc, i);
        tind_free(v);
    }
}

static int fa_cell_matches(const fa_cell *want, int k, int key, const fa_cell *got, const uint8_t *bytes)
{
    static uint8_t buf[FA_MAX_VLEN];
    if ((want->id >= 0) != (got->id >= 0))
        return 0;
    if (want->id < 0)
        return 1;
    if (want->vlen != got->vlen)
        return 0;
    if (want->merged) {
        uint8_t sum[8];
        enc_u64(sum, want->sum);
        return memcmp(sum, bytes, 8) == 0;
    }
    fa_value((uint32_t)want->id, k, key, want->vlen, buf);
    return memcmp(buf, bytes, want->vlen) == 0;
}

/* Reopens (faults still armed for the open itself), after an optional
 * power loss, and checks the recovered state; it becomes the new base. */
static void fa_reopen(fa_world *w, int crash_modes, uint64_t seed)
{
    fa_close(w);
    if (crash_modes && fs_mem_crash(w->mem, crash_modes, seed) != TIND_OK)
        fa_fail("fs_mem_crash fails", crash_modes, 0);
    uint64_t injected = fs_fault_injected(w->ff);
    int rc = fa_open(w);
    fs_fault_disarm(w->ff);
    /* threads on: a worker started by that open may have met a fault before
     * the disarm (and failed or poisoned): the database stays "armed" */
    int fired_behind = w->threads && rc == TIND_OK && fs_fault_injected(w->ff) != injected;
    if (rc && !w->armed) {
        fprintf(stderr, "fuzz_api: %s\n", tind_errmsg(NULL));
        fa_fail("reopen without faults fails", rc, 0);
    }
    if (rc)
        rc = fa_open(w);
    if (rc) {
        fprintf(stderr, "fuzz_api: %s\n", tind_errmsg(NULL));
        fa_fail("the database does not reopen after its faults were disarmed", rc, 0);
    }
    w->armed = fired_behind;
    w->reopens++;
    for (int k = 0; k < FA_NKS; k++) {
        if (tind_keyspace_exists(w->db, fa_names[k]) != TIND_OK) {
            if (k < 2)
                fa_fail("keyspace a or b is gone after reopen", k, 0);
            continue;
        }
        if (fa_ks_open(w, k))
            fa_fail("an existing keyspace does not open", k, 0);
    }
    static fa_cell obs[FA_NKS][FA_KEYS];
    static uint8_t vals[FA_NKS][FA_KEYS][FA_MAX_VLEN];
    for (int k = 0; k < FA_NKS; k++)
        fa_observe(w, k, obs[k], vals[k]);
    /* a close that failed (its disk failing for good) may have lost the
     * NONE writes still in the journal's user-space buffer (tind.h,
     * TIND_PERSIST_NONE); what reached the OS stays */
    size_t lo = crash_modes ? w->synced : w->close_failed ? w->reached : w->nh;
    static fa_cell st[FA_NKS][FA_KEYS];
    int found = 0;
    int m = fa_maybes(w, w->nh);
    if (m > 12 && w->threads) {
        /* background threads meet armed faults at moments the input does not
         * decide (a loaded machine makes more of them), so an input can pile
         * up more commits of unknown outcome than the 2^m check can try: the
         * input ends here, unchecked from its last check on */
        if (w->trace)
            fprintf(stderr, "fuzz_api: %d ambiguous commits with threads on: the input ends\n", m);
        fa_close(w);
        return;
    }
    if (m > 12)
        fa_fail("too many ambiguous commits", m, 0);
    for (size_t cut = lo; cut <= w->nh && !found; cut++) {
        /* only the MAYBE entries the cut can apply matter: every subset of
         * their mask bits (the others stay clear) */
        uint64_t rel = 0;
        for (size_t i = 0, mi = 0; i < w->nh; i++)
            if (w->hist[i].status == FA_MAYBE)
                rel |= (uint64_t)(i < cut || w->hist[i].drop) << mi++;
        for (uint64_t mask = 0, more = 1; more && !found; mask = (mask - rel) & rel, more = mask != 0) {
            fa_state(w, cut, mask, st);
            int same = 1;
            for (int k = 0; k < FA_NKS && same; k++)
                for (int i = 0; i < FA_KEYS && same; i++)
                    same = fa_cell_matches(&st[k][i], k, i, &obs[k][i], vals[k][i]);
            found = same;
        }
    }
    if (!found) {
        fprintf(stderr, "fuzz_api: recovered state is no prefix of the history (%zu entries, synced %zu, crash %d)\n",
                w->nh, w->synced, crash_modes);
        for (size_t i = 0; i < w->nh; i++) {
            const fa_entry *e = &w->hist[i];
            fprintf(stderr, "  #%zu id %u %s status %d:", i, e->id, e->drop ? "DROP c" : "batch", e->status);
            for (int j = 0; j < e->nops; j++)
                fprintf(stderr, " %s %s/k%02x(%u)",
                        e->ops[j].tomb == 4   ? "delrange"
                        : e->ops[j].tomb == 3 ? "merge"
                        : e->ops[j].tomb == 2 ? "sdel"
                        : e->ops[j].tomb      ? "del"
                                              : "put",
                        fa_names[e->ops[j].ks],
                        e->ops[j].key, e->ops[j].vlen);
            fprintf(stderr, "\n");
        }
        fa_state(w, w->nh, UINT64_MAX, st);
        for (int k = 0; k < FA_NKS; k++)
            for (int i = 0; i < FA_KEYS; i++) {
                uint32_t got = obs[k][i].id >= 0 && obs[k][i].vlen >= 4 ? dec_u32(vals[k][i]) : 0;
                if (obs[k][i].id >= 0 || st[k][i].id >= 0)
                    fprintf(stderr, "  %s/k%02x: recovered %s (id %u, %u bytes), all applied: %d (%u bytes)\n",
                            fa_names[k], i, obs[k][i].id >= 0 ? "present" : "absent", got, obs[k][i].vlen,
                            st[k][i].id, st[k][i].vlen);
            }
        fa_fail("lost or partial batches after reopen", (int)w->nh, (int)w->synced);
    }
    memcpy(w->base, st, sizeof st);
    w->nh = 0;
    w->synced = w->reached = 0;
}

/* ------------------------------------------------------------------ operations */

static fa_entry *fa_new_entry(fa_world *w)
{
    if (w->nh == FA_MAX_HIST)
        return NULL;
    fa_entry *e = &w->hist[w->nh++];
    memset(e, 0, sizeof *e);
    e->id = w->next_id++;
    return e;
}

/* tind_ingest's input: the entry's puts, in key order. */
typedef struct fa_feed {
    const fa_entry *e;
    int next;
    char key[8];
    uint8_t val[FA_MAX_VLEN];
} fa_feed;

static int fa_feed_next(void *ctx, const void **k, size_t *kl, const void **v, size_t *vl)
{
    fa_feed *f = ctx;
    if (f->next == f->e->nops)
        return 0;
    const fa_op *op = &f->e->ops[f->next++];
    *k = f->key;
    *kl = fa_key(op->key, f->key);
    *v = f->val;
    *vl = fa_value(f->e->id, op->ks, op->key, op->vlen, f->val);
    return 1;
}

/* The ops as an ingestion into the first op's keyspace: puts of distinct
 * keys (the first op on a key kept), sorted; returns how many. */
static int fa_as_ingestion(fa_op *ops, int nops)
{
    int m = 0;
    for (int i = 0; i < nops; i++) {
        fa_op o = ops[i];
        o.ks = ops[0].ks;
        if (o.tomb)
            o.vlen = (uint16_t)(o.key % 48);
        o.tomb = 0;
        if (o.ks == 2)
            o.vlen = 8; /* counter values */
        int j = m, dup = 0;
        for (int x = 0; x < m; x++)
            dup |= ops[x].key == o.key;
        if (dup)
            continue;
        for (; j > 0 && ops[j - 1].key > o.key; j--)
            ops[j] = ops[j - 1];
        ops[j] = o;
        m++;
    }
    return m;
}

/* hist[0, n) acknowledged durable (and so handed to the OS). */
static void fa_synced(fa_world *w, size_t n)
{
    w->synced = n;
    if (w->reached < n)
        w->reached = n;
}

static void fa_write(fa_world *w, int nops, int durability, int ingest)
{
    fa_op ops[4];
    for (int i = 0; i < nops; i++) {
        uint8_t b = fa_byte(w), v = fa_byte(w);
        ops[i].ks = (uint8_t)(b % FA_NKS);
        ops[i].key = (uint8_t)((b >> 2) % FA_KEYS);
        ops[i].tomb = (b & 0xC0) == 0xC0;
        if (ops[i].tomb && (v & 1))
            ops[i].tomb = 2; /* a single delete, the contract kept or not */
        if (!ops[i].tomb && ops[i].ks == 2 && (v & 0x40))
            ops[i].tomb = 3; /* a merge into keyspace c's counter */
        ops[i].vlen = ops[i].tomb == 1 || ops[i].tomb == 2 ? 0 : (v < 240 ? v % 48 : (uint16_t)(48 + (v - 240) * 36));
        if (ops[i].ks == 2 && (ops[i].tomb == 0 || ops[i].tomb == 3))
            ops[i].vlen = 8; /* counter values */
        if (ops[i].tomb && ops[i].tomb != 3 && (v & 0x0F) == 0x0F) {
            ops[i].tomb = 4; /* a range deletion over 1..8 keys */
            ops[i].vlen = (uint16_t)(1 + (v >> 4) % 8);
        }
    }
    if (ingest)
        nops = fa_as_ingestion(ops, nops);
    for (int i = 0; i < nops; i++)
        if (!w->ks[ops[i].ks])
            return;
    fa_entry *e = fa_new_entry(w);
    if (!e)
        return;
    e->nops = nops;
    memcpy(e->ops, ops, sizeof ops);
    static uint8_t val[FA_MAX_VLEN];
    int rc;
    if (ingest) {
        /* atomic and durable when it returns (the journal synced through
         * its seqno: every batch before it too); TIND_EBUSY ingests nothing */
        static fa_feed feed;
        feed.e = e;
        feed.next = 0;
        rc = tind_ingest(w->ks[ops[0].ks], fa_feed_next, &feed, TIND_INGEST_SORTED, 0, NULL, NULL, NULL);
        durability = TIND_PERSIST_SYNC_ALL;
    } else if (nops == 1 && durability == TIND_PERSIST_NONE) {
        char key[8];
        size_t kn = fa_key(ops[0].key, key);
        char hi[8];
        if (ops[0].tomb == 4)
            rc = tind_remove_range(w->ks[ops[0].ks], key, kn, hi, fa_key(ops[0].key + ops[0].vlen, hi));
        else if (ops[0].tomb == 3) {
            enc_u64(val, fa_operand(e->id, ops[0].key));
            rc = tind_merge(w->ks[ops[0].ks], key, kn, val, 8);
        } else if (ops[0].tomb == 2)
            rc = tind_single_remove(w->ks[ops[0].ks], key, kn);
        else if (ops[0].tomb)
            rc = tind_remove(w->ks[ops[0].ks], key, kn);
        else
            rc = tind_put(w->ks[ops[0].ks], key, kn, val, fa_value(e->id, ops[0].ks, ops[0].key, ops[0].vlen, val));
    } else {
        tind_batch *b;
        rc = tind_batch_new(w->db, &b);
        if (rc) {
            w->nh--;
            return;
        }
        tind_batch_set_durability(b, durability);
        for (int i = 0; i < nops && !rc; i++) {
            char key[8];
            size_t kn = fa_key(ops[i].key, key);
            char hi[8];
            if (ops[i].tomb == 4)
                rc = tind_batch_remove_range(b, w->ks[ops[i].ks], key, kn, hi, fa_key(ops[i].key + ops[i].vlen, hi));
            else if (ops[i].tomb == 3) {
                enc_u64(val, fa_operand(e->id, ops[i].key));
                rc = tind_batch_merge(b, w->ks[ops[i].ks], key, kn, val, 8);
            } else if (ops[i].tomb == 2)
                rc = tind_batch_single_remove(b, w->ks[ops[i].ks], key, kn);
            else if (ops[i].tomb)
                rc = tind_batch_remove(b, w->ks[ops[i].ks], key, kn);
            else
                rc = tind_batch_put(b, w->ks[ops[i].ks], key, kn, val,
                                    fa_value(e->id, ops[i].ks, ops[i].key, ops[i].vlen, val));
        }
        if (rc)
            fa_fail("batch_put fails", rc, 0);
        rc = tind_batch_commit(b);
        tind_batch_free(b);
    }
    if (w->trace)
        fprintf(stderr, "  %s id %u (%d ops, durability %d) -> %d%s%s\n", ingest ? "ingestion" : "batch", e->id,
                nops, durability, rc,
                rc ? ": " : "", rc ? tind_errmsg(w->db) : "");
    if (rc == TIND_OK) {
        e->status = FA_OK;
        if (durability >= TIND_PERSIST_BUFFER)
            w->reached = w->nh;
        if (durability >= TIND_PERSIST_SYNC_DATA)
            w->synced = w->nh;
    } else if (rc == TIND_EPOISONED || rc == TIND_ENOENT || (ingest && rc == TIND_EBUSY)) {
        e->status = FA_NO;
        if (!w->armed)
            fa_fail("a write fails with no fault armed", rc, 0);
    } else {
        /* an ingestion that failed and left the database writable ingested
         * nothing (tind.h): only a failed version file write, which
         * poisons, leaves it unknown */
        e->status = ingest && !tind_internal_is_poisoned(w->db) ? FA_NO : FA_MAYBE;
        if (!w->armed)
            fa_fail("a write fails with no fault armed", rc, 0);
    }
}

/* A read's status and bytes against the model cell (when known). */
static void fa_check_read(fa_world *w, int rc, const fa_cell *want, int k, int key, const void *v, size_t vn)
{
    if (rc != TIND_OK && rc != TIND_NOT_FOUND) {
        if (!w->armed)
            fa_fail("a read fails with no fault armed", rc, key);
        return;
    }
    if (!want)
        return;
    fa_cell got = {rc == TIND_OK ? 0 : -1, (uint16_t)vn, 0, 0};
    if (rc == TIND_OK && vn > FA_MAX_VLEN)
        fa_fail("a value longer than any written", (int)vn, key);
    if (!fa_cell_matches(want, k, key, &got, v))
        fa_fail("a read returns the wrong data", k, key);
}

static void fa_get(fa_world *w, int at_snapshot)
{
    uint8_t b = fa_byte(w);
    int k = b % FA_NKS, key = (b >> 2) % FA_KEYS;
    if (!w->ks[k])
        return;
    static fa_cell st[FA_NKS][FA_KEYS];
    const fa_cell *want = NULL;
    tind_read_options *ro = NULL;
    if (at_snapshot && w->nsnaps) {
        int s = (b >> 6) % w->nsnaps;
        ro = tind_read_options_new();
        if (!ro)
            return;
        tind_read_options_set_snapshot(ro, w->snaps[s]);
        if (w->snap_known[s])
            want = &w->snap_state[s][k][key];
    } else if (fa_certain(w)) {
        fa_state(w, w->nh, 0, st);
        want = &st[k][key];
    }
    char kb[8];
    size_t kn = fa_key(key, kb);
    void *v = NULL;
    size_t vn = 0;
    int rc = tind_get(w->ks[k], kb, kn, ro, &v, &vn);
    fa_check_read(w, rc, want, k, key, v, vn);
    tind_free(v);
    tind_read_options_free(ro);
}

/* Iterates a keyspace (whole, or from a seek) one way and checks it. */
static void fa_iter(fa_world *w)
{
    uint8_t b = fa_byte(w), s = fa_byte(w);
    int k = b % FA_NKS, backward = (b >> 2) & 1, seek = (b >> 3) & 1, snap = (b >> 4) & 1;
    if (!w->ks[k])
        return;
    static fa_cell st[FA_NKS][FA_KEYS];
    const fa_cell(*want)[FA_KEYS] = NULL;
    tind_read_options *ro = NULL;
    if (snap && w->nsnaps) {
        int i = s % w->nsnaps;
        ro = tind_read_options_new();
        if (!ro)
            return;
        tind_read_options_set_snapshot(ro, w->snaps[i]);
        if (w->snap_known[i])
            want = w->snap_state[i];
    } else if (fa_certain(w)) {
        fa_state(w, w->nh, 0, st);
        want = st;
    }
    tind_iter *it;
    int rc = tind_iter_range(w->ks[k], NULL, 0, NULL, 0, ro, &it);
    if (rc) {
        fa_check_read(w, rc, NULL, k, 0, NULL, 0);
        tind_read_options_free(ro);
        return;
    }
    int pos = (s >> 2) % FA_KEYS;
    char kb[8];
    size_t kn = fa_key(pos, kb);
    if (seek && !backward)
        tind_iter_seek(it, kb, kn);
    else if (seek)
        tind_iter_seek_for_prev(it, kb, kn);
    else if (!backward)
        tind_iter_first(it), pos = 0;
    else
        tind_iter_last(it), pos = FA_KEYS - 1;
    int steps = 0;
    while (tind_iter_valid(it) && steps++ < FA_KEYS) {
        size_t n, vn;
        const char *key = tind_iter_key(it, &n);
        const uint8_t *v = tind_iter_value(it, &vn);
        if (!v)
            break; /* a blob that could not be loaded: the status says why (checked below) */
        int id = fa_key_id(key, n);
        if (id < 0)
            fa_fail("iteration returns an unknown key", (int)n, k);
        if (tind_iter_value_size(it) != vn)
            fa_fail("value size disagrees with the value", (int)vn, id);
        if (want) {
            /* every key between the last position and this one is absent */
            for (int p = pos; backward ? p > id : p < id; p += backward ? -1 : 1)
                if (want[k][p].id >= 0)
                    fa_fail("iteration skips a key", k, p);
            if ((backward && id > pos) || (!backward && id < pos))
                fa_fail("iteration goes the wrong way", k, id);
            fa_cell got = {0, (uint16_t)vn, 0, 0};
            if (vn > FA_MAX_VLEN || !fa_cell_matches(&want[k][id], k, id, &got, v))
                fa_fail("iteration returns the wrong data", k, id);
        }
        pos = backward ? id - 1 : id + 1;
        if (backward)
            tind_iter_prev(it);
        else
            tind_iter_next(it);
    }
    rc = tind_iter_status(it);
    if (rc)
        fa_check_read(w, rc, NULL, k, 0, NULL, 0);
    else if (want && steps <= FA_KEYS)
        for (int p = pos; backward ? p >= 0 : p < FA_KEYS; p += backward ? -1 : 1)
            if (want[k][p].id >= 0)
                fa_fail("iteration ends early", k, p);
    tind_iter_free(it);
    tind_read_options_free(ro);
}

/* Any failure of a maintenance call is fine only under a fault. */
static void fa_maint(fa_world *w, int rc)
{
    if (w->trace)
        fprintf(stderr, "  -> %d\n", rc);
    if (rc != TIND_OK && !w->armed && rc != TIND_ENOENT) {
        fprintf(stderr, "fuzz_api: %s\n", tind_errmsg(w->db));
        fa_fail("a call fails with no fault armed", rc, 0);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libFuzzer's entropic scheduler spends ~85% of the time on this target's
 * tens of thousands of features (libFuzzer 14): without it the same build
 * runs ~10x more inputs per second. Appends -entropic=0 unless the command
 * line chose. (Not called by replay_main.) */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char *args[256];
    static char flag[] = "-entropic=0";
    if (*argc < 1 || *argc >= 255)
        return 0;
    for (int i = 1; i < *argc; i++)
        if (strncmp((*argv)[i], "-entropic", 9) == 0)
            return 0;
    /* flags go before the corpus folders; libFuzzer accepts them anywhere */
    for (int i = 0; i < *argc; i++)
        args[i] = (*argv)[i];
    args[(*argc)++] = flag;
    args[*argc] = NULL;
    *argv = args;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fa_world w; /* large: kept off the stack, reset for each input */
    memset(&w, 0, sizeof w);
    /* the last byte is the mode byte */
    if (size > 0)
        w.threads = data[--size] & 1;
    const char *force = getenv("TIND_FUZZ_THREADS");
    if (force && *force)
        w.threads = atoi(force) != 0;
    w.in = data;
    w.len = size;
    for (int k = 0; k < FA_NKS; k++)
        for (int i = 0; i < FA_KEYS; i++)
            w.base[k][i].id = -1;
    w.mem = fs_mem_new();
    w.ff = w.mem ? fs_fault_new(w.mem, 0) : NULL;
    if (!w.ff) {
        fs_destroy(w.mem);
        return 0;
    }
    int rc = fa_open(&w);
    for (int k = 0; k < FA_NKS && !rc; k++)
        rc = fa_ks_open(&w, k);
    if (rc)
        fa_fail("opening a new database fails", rc, 0);

    static const char *const op_names[20] = {
        "put", "put", "put", "batch", "get", "get", "get@snapshot", "iter", "iter", "snapshot", "flush",
        "compact", "background", "background", "persist", "keyspace c", "reopen", "crash", "fault", "fault",
    };
    int trace = w.trace = getenv("TIND_FUZZ_TRACE") != NULL;
    if (trace)
        fprintf(stderr, "background threads %s\n", w.threads ? "on" : "off");
    for (int op = 0; op < FA_MAX_OPS && w.pos < w.len; op++) {
        uint8_t c = fa_byte(&w);
        if (!w.db)
            break;
        if (trace)
            fprintf(stderr, "op %d: %s (history %zu, synced %zu, armed %d)\n", op, op_names[c % 20], w.nh, w.synced,
                    w.armed);
        switch (c % 20) {
        case 0: case 1: case 2:
            fa_write(&w, 1, TIND_PERSIST_NONE, 0);
            break;
        case 3: {
            uint8_t b = fa_byte(&w);
            /* one in eight: the ops ingested (tind_ingest, sorted) */
            fa_write(&w, 1 + b % 4, (int)((b >> 2) % 4) - 1, (b >> 4) % 8 == 7);
            break;
        }
        case 4: case 5:
            fa_get(&w, 0);
            break;
        case 6:
            fa_get(&w, 1);
            break;
        case 7: case 8:
            fa_iter(&w);
            break;
        case 9:
            if (w.nsnaps < FA_MAX_SNAPS) {
                if (tind_snapshot_new(w.db, &w.snaps[w.nsnaps]) == TIND_OK) {
                    w.snap_known[w.nsnaps] = fa_certain(&w);
                    fa_state(&w, w.nh, 0, w.snap_state[w.nsnaps]);
                    w.nsnaps++;
                }
            } else {
                tind_snapshot_free(w.snaps[--w.nsnaps]);
            }
            break;
        case 10: {
            int k = fa_byte(&w) % FA_NKS;
            if (w.ks[k])
                fa_maint(&w, tind_flush(w.ks[k]));
            break;
        }
        case 11: {
            int k = fa_byte(&w) % FA_NKS;
            if (w.ks[k])
                fa_maint(&w, tind_compact(w.ks[k]));
            break;
        }
        case 12: case 13: {
            int steps = 1 + fa_byte(&w) % 8;
            for (int i = 0; i < steps; i++) {
                tind_err err;
                err_clear(&err);
                rc = db_background_step(w.db, &err);
                if (rc <= 0) {
                    fa_maint(&w, rc);
                    break;
                }
            }
            break;
        }
        case 14: {
            size_t nh = w.nh;
            rc = tind_persist(w.db, fa_byte(&w) & 1 ? TIND_PERSIST_SYNC_ALL : TIND_PERSIST_SYNC_DATA);
            fa_maint(&w, rc);
            if (rc == TIND_OK)
                fa_synced(&w, nh);
            break;
        }
        case 15: {
            /* keyspace c: delete it, or create it when missing */
            if (w.ks[2]) {
                fa_entry *e = fa_new_entry(&w);
                if (!e)
                    break;
                e->drop = 1;
                rc = tind_keyspace_delete(w.db, "c");
                fa_maint(&w, rc);
                e->status = rc == TIND_OK ? FA_OK : FA_MAYBE;
                /* a re-created c is a new keyspace: empty at older snapshots */
                for (int i = 0; i < w.nsnaps; i++) {
                    for (int k = 0; k < FA_KEYS; k++)
                        w.snap_state[i][2][k].id = -1;
                    if (rc != TIND_OK)
                        w.snap_known[i] = 0;
                }
                /* a delete syncs the journal first: everything before it is durable */
                if (rc == TIND_OK) {
                    w.ks[2] = NULL;
                    fa_synced(&w, w.nh);
                } else if (rc == TIND_EPOISONED)
                    e->status = FA_NO;
            } else {
                size_t nh = w.nh;
                rc = fa_ks_open(&w, 2);
                fa_maint(&w, rc);
                /* creating syncs the journal first */
                if (rc == TIND_OK)
                    fa_synced(&w, nh);
            }
            break;
        }
        case 16:
            if (w.reopens < FA_MAX_REOPENS)
                fa_reopen(&w, 0, 0);
            break;
        case 17: {
            uint8_t m = fa_byte(&w);
            static const int modes[4] = {FS_CRASH_DROP_UNSYNCED, FS_CRASH_KEEP_PREFIX,
                                         FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR, FS_CRASH_DROP_UNSYNCED};
            int mode = modes[m & 3] | ((m & 4) ? FS_CRASH_DROP_DIRENTS : 0);
            if (w.reopens < FA_MAX_REOPENS)
                fa_reopen(&w, mode, m);
            break;
        }
        case 18:
        case 19: {
            uint8_t a = fa_byte(&w), b = fa_byte(&w);
            static const int kinds[] = {FS_CALL_OPEN, FS_CALL_READ, FS_CALL_WRITE, FS_CALL_SYNC, FS_CALL_SIZE,
                                        FS_CALL_TRUNCATE, FS_CALL_RENAME, FS_CALL_UNLINK, FS_CALL_SYNC_DIR,
                                        FS_CALL_LIST, FS_CALL_CLOSE, FS_CALL_WRITE};
            int kind = kinds[a % (sizeof kinds / sizeof kinds[0])];
            int effect = (b & 3) == 3 && kind == FS_CALL_WRITE ? FS_FAULT_SHORT_WRITE : FS_FAULT_ERRNO;
            static const int errs[4] = {5 /* EIO */, 28 /* ENOSPC */, 24 /* EMFILE */, 5};
            fs_fault_arm(w.ff, kind, 1 + (uint64_t)((a >> 4) % 8), effect, errs[(b >> 2) & 3], (b >> 4) & 1, NULL);
            if (w.trace)
                fprintf(stderr, "  %s fault on call %d of %s, errno %d%s\n",
                        effect == FS_FAULT_SHORT_WRITE ? "short-write" : "errno", 1 + (a >> 4) % 8,
                        fs_call_kind_name(kind), errs[(b >> 2) & 3], (b >> 4) & 1 ? ", forever" : "");
            w.armed = 1;
            break;
        }
        }
    }
    /* the end: a last reopen checks everything acknowledged */
    if (w.db)
        fa_reopen(&w, 0, 0);
    fa_close(&w);
    fs_destroy(w.ff);
    fs_destroy(w.mem);
    return 0;
}
