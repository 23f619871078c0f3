/*
 * test_changes.c -- the change feed (tind_changes_since) and applying at a
 * given seqno (tind_batch_commit_at): ordering and batch boundaries across
 * keyspaces and journals, retention and falling behind, reopen, power loss
 * (the in-memory file system's crash), a follower thread tailing a writer
 * (TSAN-LABEL: also run under ThreadSanitizer), and a replica built from
 * the feed holding the same state at the same seqnos. Background work on
 * and off.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "io/fs.h"
#include "tind_internal.h"
#include "util/rand.h"

/* One operation as written, and the batches in commit order. */
typedef struct wop {
    int type;
    int ks;                       /* 0 = "a", 1 = "b" */
    char key[24];
    char val[40];
} wop;

typedef struct wbatch {
    uint64_t seqno;               /* first seqno, 0 until committed */
    int n;
    wop ops[6];
    int synced;
} wbatch;

typedef struct history {
    wbatch *b;
    size_t count, cap;
} history;

static const char *ks_names[2] = {"a", "b"};

static uint64_t max_journal_size = 0;   /* 0 = the default */
static int only_ks = -1;                /* >= 0: write_batches writes that keyspace only */

static tind_db *open_db(fs *mem, const char *path, int background, uint64_t retention)
{
    tind_options *o = tind_options_new();
    tind_options_set_journal_file_size(o, 4096);
    if (max_journal_size)
        tind_options_set_max_journal_size(o, max_journal_size);
    tind_options_set_changes_retention(o, retention);
    if (mem)
        tind_options_set_fs(o, mem);
    tind_options_set_no_background(o, !background);
    tind_db *db = NULL;
    int rc = tind_open(path, o, &db);
    if (rc)
        fprintf(stderr, "open: %s\n", tind_errmsg(NULL));
    CHECK_OK(rc);
    tind_options_free(o);
    return db;
}

static tind_keyspace *ks_open(tind_db *db, const char *name)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 8192);
    tind_ks_options_set_table_size(ko, 8192);
    tind_keyspace *ks = NULL;
    CHECK_OK(tind_keyspace_open(db, name, ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

/* Writes `n` random batches (1..6 operations over both keyspaces). */
static void write_batches(tind_db *db, tind_keyspace *ks[2], history *h, int n, trng *r, int sync_every)
{
    for (int i = 0; i < n; i++) {
        if (h->count == h->cap) {
            h->cap = h->cap ? h->cap * 2 : 64;
            h->b = realloc(h->b, h->cap * sizeof *h->b);
            CHECK(h->b);
        }
        wbatch *w = &h->b[h->count];
        memset(w, 0, sizeof *w);
        w->n = 1 + (int)(trng_next(r) % 6);
        tind_batch *b = NULL;
        CHECK_OK(tind_batch_new(db, &b));
        for (int j = 0; j < w->n; j++) {
            wop *op = &w->ops[j];
            op->ks = (int)(trng_next(r) % 2);
            if (only_ks >= 0)
                op->ks = only_ks;
            op->type = trng_next(r) % 5 == 0 ? TIND_CHANGE_REMOVE : TIND_CHANGE_PUT;
            snprintf(op->key, sizeof op->key, "k%03d", (int)(trng_next(r) % 200));
            snprintf(op->val, sizeof op->val, "v%zu.%d.%llu", h->count, j, (unsigned long long)trng_next(r));
            if (op->type == TIND_CHANGE_PUT)
                CHECK_OK(tind_batch_put(b, ks[op->ks], op->key, strlen(op->key), op->val, strlen(op->val)));
            else
                CHECK_OK(tind_batch_remove(b, ks[op->ks], op->key, strlen(op->key)));
        }
        if (sync_every && i % sync_every == sync_every - 1) {
            tind_batch_set_durability(b, TIND_PERSIST_SYNC_DATA);
            w->synced = 1;
        }
        uint64_t before = 0, after = 0;
        CHECK_OK(tind_last_seqno(db, &before));
        CHECK_OK(tind_batch_commit(b));
        CHECK_OK(tind_last_seqno(db, &after));
        CHECK_EQ(after, before + (uint64_t)w->n);
        w->seqno = before + 1;
        tind_batch_free(b);
        h->count++;
    }
}

/* The cursor's current batch equals w. */
static void check_batch(tind_changes *c, const wbatch *w)
{
    CHECK_EQ(tind_changes_seqno(c), w->seqno);
    CHECK_EQ(tind_changes_count(c), w->n);
    for (int j = 0; j < w->n; j++) {
        const tind_change_op *op = tind_changes_op(c, (size_t)j);
        CHECK(op);
        CHECK_EQ(op->type, w->ops[j].type);
        CHECK(op->keyspace && strcmp(op->keyspace, ks_names[w->ops[j].ks]) == 0);
        CHECK_MEM(op->key, op->klen, w->ops[j].key, strlen(w->ops[j].key));
        if (op->type == TIND_CHANGE_PUT)
            CHECK_MEM(op->value, op->vlen, w->ops[j].val, strlen(w->ops[j].val));
        else
            CHECK(op->value == NULL && op->vlen == 0);
    }
    CHECK(tind_changes_op(c, (size_t)w->n) == NULL);
}

/* Reads the feed from `from` and checks it gives exactly the batches of h
 * holding a seqno >= from, then nothing. */
static void check_feed(tind_db *db, const history *h, uint64_t from)
{
    tind_changes *c = NULL;
    int rc = tind_changes_since(db, from, &c);
    if (rc)
        fprintf(stderr, "changes_since %llu: %s\n", (unsigned long long)from, tind_errmsg(db));
    CHECK_OK(rc);
    for (size_t i = 0; i < h->count; i++) {
        const wbatch *w = &h->b[i];
        if (w->seqno + (uint64_t)w->n - 1 < from)
            continue;
        rc = tind_changes_next(c, 0);
        if (rc)
            fprintf(stderr, "batch %zu (seqno %llu): %s\n", i, (unsigned long long)w->seqno, tind_errmsg(db));
        CHECK_OK(rc);
        check_batch(c, w);
    }
    CHECK_RC(tind_changes_next(c, 0), TIND_NOT_FOUND);
    CHECK_RC(tind_changes_next(c, 5), TIND_NOT_FOUND);
    CHECK_EQ(tind_changes_count(c), 0);
    tind_changes_free(c);
}

static void flush_both(tind_keyspace *ks[2])
{
    CHECK_OK(tind_flush(ks[0]));
    CHECK_OK(tind_flush(ks[1]));
}

TEST(order_and_batches)
{
    /* many journals (4 KiB each), flushes in between, all retained: the
     * feed gives every batch whole, in order, from any seqno */
    for (int bg = 0; bg < 2; bg++) {
        fs *mem = fs_mem_new();
        tind_db *db = open_db(mem, "/db", bg, 1u << 30);
        tind_keyspace *ks[2] = {ks_open(db, "a"), ks_open(db, "b")};
        history h = {0};
        trng r;
        trng_seed(&r, check_seed + (uint64_t)bg);
        for (int round = 0; round < 4; round++) {
            write_batches(db, ks, &h, 150, &r, 0);
            flush_both(ks);
        }
        write_batches(db, ks, &h, 50, &r, 0);   /* some only in the journal being written */
        check_feed(db, &h, 0);
        check_feed(db, &h, 1);
        /* a seqno inside a batch gives that batch whole */
        for (int k = 0; k < 20; k++) {
            const wbatch *w = &h.b[trng_next(&r) % h.count];
            check_feed(db, &h, w->seqno + trng_next(&r) % (uint64_t)w->n);
        }
        uint64_t last = 0;
        CHECK_OK(tind_last_seqno(db, &last));
        check_feed(db, &h, last + 1);   /* nothing yet */
        CHECK_OK(tind_close(db));
        free(h.b);
        fs_destroy(mem);
    }
}

TEST(retention_and_falling_behind)
{
    for (int bg = 0; bg < 2; bg++) {
        /* no retention: once flushed past, the journals go and a reader
         * that far behind is told so, naming the oldest seqno kept */
        fs *mem = fs_mem_new();
        tind_db *db = open_db(mem, "/db", bg, 0);
        tind_keyspace *ks[2] = {ks_open(db, "a"), ks_open(db, "b")};
        history h = {0};
        trng r;
        trng_seed(&r, check_seed + 10 + (uint64_t)bg);
        write_batches(db, ks, &h, 300, &r, 0);
        /* a live cursor registers the journal it reads: the journals from it
         * on stay (up to max_journal_size) while flushes pass it */
        tind_changes *early = NULL;
        if (bg) {
            /* the workers may have flushed and deleted the first journals already */
            int rc = tind_changes_since(db, 1, &early);
            CHECK(rc == TIND_OK || rc == TIND_ENOENT);
        } else {
            CHECK_OK(tind_changes_since(db, 1, &early));
        }
        if (early) {
            CHECK_OK(tind_changes_next(early, 0));
            check_batch(early, &h.b[0]);
        }
        flush_both(ks);
        write_batches(db, ks, &h, 300, &r, 0);
        flush_both(ks);
        write_batches(db, ks, &h, 5, &r, 0);
        if (early) {
            size_t k = 1;
            int rc;
            while ((rc = tind_changes_next(early, 0)) == TIND_OK)
                check_batch(early, &h.b[k++]);
            CHECK_RC(rc, TIND_NOT_FOUND);
            CHECK_EQ(k, h.count);
            tind_changes_free(early);
        }
        /* unpinned, the next flush lets them go */
        write_batches(db, ks, &h, 5, &r, 0);
        flush_both(ks);
        write_batches(db, ks, &h, 5, &r, 0);
        tind_changes *c = NULL;
        CHECK_RC(tind_changes_since(db, 1, &c), TIND_ENOENT);
        CHECK(c == NULL);
        CHECK(strstr(tind_errmsg(db), "no longer kept") != NULL);
        /* the recent batches are still there */
        check_feed(db, &h, h.b[h.count - 5].seqno);
        CHECK_OK(tind_close(db));
        free(h.b);
        fs_destroy(mem);

        /* a registered reader past its limit (max_journal_size 16 KiB):
         * the oldest journals go anyway, and it is told it fell behind */
        max_journal_size = 16 * 1024;
        mem = fs_mem_new();
        db = open_db(mem, "/db", bg, 0);
        ks[0] = ks_open(db, "a");
        ks[1] = ks_open(db, "b");
        h.b = NULL;
        h.count = h.cap = 0;
        write_batches(db, ks, &h, 50, &r, 0);
        int erc = tind_changes_since(db, 1, &early);
        CHECK(erc == TIND_OK || (bg && erc == TIND_ENOENT));
        if (early) {
            CHECK_OK(tind_changes_next(early, 0));
            check_batch(early, &h.b[0]);
            for (int round = 0; round < 6; round++) {
                write_batches(db, ks, &h, 100, &r, 0);
                flush_both(ks);
            }
            size_t k = 1;
            while ((erc = tind_changes_next(early, 0)) == TIND_OK)
                check_batch(early, &h.b[k++]);
            CHECK_RC(erc, TIND_ENOENT);
            CHECK(strstr(tind_errmsg(db), "no longer kept") != NULL);
            CHECK(k < h.count);
            tind_changes_free(early);
        }
        CHECK_OK(tind_close(db));
        free(h.b);
        fs_destroy(mem);
        max_journal_size = 0;

        /* a window of 12 KiB: the newest retained journals stay, older go */
        mem = fs_mem_new();
        db = open_db(mem, "/db", bg, 12 * 1024);
        ks[0] = ks_open(db, "a");
        ks[1] = ks_open(db, "b");
        h.b = NULL;
        h.count = h.cap = 0;
        for (int round = 0; round < 6; round++) {
            write_batches(db, ks, &h, 100, &r, 0);
            flush_both(ks);
        }
        CHECK_RC(tind_changes_since(db, 1, &c), TIND_ENOENT);
        /* find the oldest seqno still served: everything from it on is whole */
        size_t lo = 0, hi = h.count - 1;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (tind_changes_since(db, h.b[mid].seqno, &c) == TIND_OK) {
                tind_changes_free(c);
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        CHECK(lo > 0);
        /* roughly the window: 12 KiB of journal holds some hundreds of ops */
        CHECK(h.count - lo >= 50);
        check_feed(db, &h, h.b[lo].seqno);
        CHECK_OK(tind_close(db));
        free(h.b);
        fs_destroy(mem);
    }
}

TEST(reopen)
{
    /* the feed and the seqnos carry on across a reopen; retained journals
     * survive it (posix, so the real file system is covered too) */
    for (int bg = 0; bg < 2; bg++) {
        char *dir = check_tmpdir("changes");
        tind_db *db = open_db(NULL, dir, bg, 1u << 30);
        tind_keyspace *ks[2] = {ks_open(db, "a"), ks_open(db, "b")};
        history h = {0};
        trng r;
        trng_seed(&r, check_seed + 20 + (uint64_t)bg);
        write_batches(db, ks, &h, 200, &r, 0);
        flush_both(ks);
        write_batches(db, ks, &h, 100, &r, 0);
        uint64_t last = 0;
        CHECK_OK(tind_last_seqno(db, &last));
        tind_changes *c = NULL;
        CHECK_OK(tind_changes_since(db, 1, &c));
        CHECK_RC(tind_close(db), TIND_EBUSY);    /* a live cursor holds the db open */
        CHECK(strstr(tind_errmsg(db), "1 change feed") != NULL);
        tind_changes_free(c);
        CHECK_OK(tind_close(db));

        db = open_db(NULL, dir, bg, 1u << 30);
        uint64_t again = 0;
        CHECK_OK(tind_last_seqno(db, &again));
        CHECK_EQ(again, last);
        check_feed(db, &h, 1);
        ks[0] = ks_open(db, "a");
        ks[1] = ks_open(db, "b");
        write_batches(db, ks, &h, 100, &r, 0);
        CHECK_EQ(h.b[300].seqno, last + 1);
        check_feed(db, &h, last + 1);
        check_feed(db, &h, 1);
        CHECK_OK(tind_close(db));
        check_rmtree(dir);
        free(dir);
        free(h.b);
    }
}

TEST(power_loss)
{
    /* after a power loss the feed gives exactly the recovered history: a
     * prefix of the batches written, holding every synced one, each whole */
    for (int round = 0; round < 12; round++) {
        fs *mem = fs_mem_new();
        int bg = round & 1;
        tind_db *db = open_db(mem, "/db", bg, 1u << 30);
        tind_keyspace *ks[2] = {ks_open(db, "a"), ks_open(db, "b")};
        history h = {0};
        trng r;
        trng_seed(&r, check_seed + 30 + (uint64_t)round);
        write_batches(db, ks, &h, 100 + (int)(trng_next(&r) % 200), &r, 17);
        if (round % 3 == 0)
            flush_both(ks);
        write_batches(db, ks, &h, (int)(trng_next(&r) % 100), &r, 23);
        int modes = FS_CRASH_DROP_UNSYNCED | (round & 2 ? FS_CRASH_DROP_DIRENTS : 0);
        if (round % 4 == 3)
            modes = FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR;
        /* no job may write after the power loss: pause, crash, then close
         * the old handle (its files are stale: the close's sync fails) */
        CHECK_OK(tind_internal_pause_background(db, 1));
        CHECK_OK(fs_mem_crash(mem, modes, (uint64_t)round));
        tind_close(db);
        db = open_db(mem, "/db", bg, 1u << 30);
        uint64_t last = 0;
        CHECK_OK(tind_last_seqno(db, &last));
        size_t kept = 0, last_synced = 0;
        for (size_t i = 0; i < h.count; i++) {
            if (h.b[i].seqno + (uint64_t)h.b[i].n - 1 <= last)
                kept = i + 1;
            if (h.b[i].synced)
                last_synced = i + 1;
        }
        CHECK(kept >= last_synced);
        CHECK(kept == h.count || h.b[kept].seqno == last + 1);   /* a batch boundary */
        history prefix = {h.b, kept, h.cap};
        check_feed(db, &prefix, 1);
        CHECK_OK(tind_close(db));
        free(h.b);
        fs_destroy(mem);
    }
}

TEST(power_loss_retained)
{
    /* journals sealed without a sync, then flushed: the version file moves
     * the keep number past them and they stay only for the feed. A power
     * loss must not cut them (their batches are in tables, the feed would
     * find a hole): each is synced before the version file releases it */
    for (int round = 0; round < 4; round++) {
        fs *mem = fs_mem_new();
        tind_db *db = open_db(mem, "/db", round & 1, 1u << 30);
        tind_keyspace *ks[2] = {ks_open(db, "a"), ks_open(db, "b")};
        history h = {0};
        trng r;
        trng_seed(&r, check_seed + 40 + (uint64_t)round);
        only_ks = 0;   /* no other keyspace's write makes a flush sync */
        write_batches(db, ks, &h, 150, &r, 0);
        flush_both(ks);
        write_batches(db, ks, &h, 1, &r, 1);   /* synced: the feed must reach it */
        only_ks = -1;
        CHECK_OK(tind_internal_pause_background(db, 1));
        CHECK_OK(fs_mem_crash(mem, FS_CRASH_DROP_UNSYNCED | (round & 2 ? FS_CRASH_DROP_DIRENTS : 0),
                              (uint64_t)round));
        tind_close(db);
        db = open_db(mem, "/db", round & 1, 1u << 30);
        uint64_t last = 0;
        CHECK_OK(tind_last_seqno(db, &last));
        CHECK_EQ(last, h.b[h.count - 1].seqno + (uint64_t)h.b[h.count - 1].n - 1);
        check_feed(db, &h, 1);
        CHECK_OK(tind_close(db));
        free(h.b);
        fs_destroy(mem);
    }
}

TEST(damaged_journal)
{
    /* a flipped byte in a record of a retained journal: the feed stops there
     * with TIND_ECORRUPT naming the journal, having given every batch before
     * it whole and nothing after it */
    fs *mem = fs_mem_new();
    tind_db *db = open_db(mem, "/db", 0, 1u << 30);
    tind_keyspace *ks[2] = {ks_open(db, "a"), ks_open(db, "b")};
    history h = {0};
    trng r;
    trng_seed(&r, check_seed + 50);
    write_batches(db, ks, &h, 200, &r, 0);
    flush_both(ks);
    write_batches(db, ks, &h, 20, &r, 0);
    CHECK_OK(tind_close(db));
    /* the oldest journal: flip a byte in the middle of its records */
    char **names = NULL;
    size_t count = 0;
    CHECK_OK(fs_list(mem, "/db/journals", &names, &count, NULL));
    CHECK(count >= 2);
    char oldest[64] = "";
    for (size_t i = 0; i < count; i++)
        if (!oldest[0] || strcmp(names[i], oldest) < 0)
            snprintf(oldest, sizeof oldest, "%s", names[i]);
    fs_list_free(names, count);
    char path[128];
    snprintf(path, sizeof path, "/db/journals/%s", oldest);
    fs_file *f = NULL;
    CHECK_OK(fs_open(mem, path, FS_O_WRITE, &f, NULL));
    uint64_t size = 0;
    CHECK_OK(fs_size(f, &size, NULL));
    uint8_t byte = 0;
    size_t got = 0;
    CHECK_OK(fs_read(f, &byte, 1, size / 2, &got, NULL));
    byte ^= 0x20;
    CHECK_OK(fs_write(f, &byte, 1, size / 2, NULL));
    CHECK_OK(fs_sync(f, FS_SYNC_ALL, NULL));
    CHECK_OK(fs_close(f, NULL));

    db = open_db(mem, "/db", 0, 1u << 30);   /* the journal is retained, not replayed: it opens */
    tind_changes *c = NULL;
    CHECK_OK(tind_changes_since(db, 1, &c));
    size_t i = 0;
    int rc;
    while ((rc = tind_changes_next(c, 0)) == TIND_OK) {
        CHECK(i < h.count);
        check_batch(c, &h.b[i]);
        i++;
    }
    CHECK_RC(rc, TIND_ECORRUPT);
    CHECK(strstr(tind_errmsg(db), "journal") != NULL);
    CHECK(i > 0 && i < h.count);
    tind_changes_free(c);
    CHECK_OK(tind_close(db));
    free(h.b);
    fs_destroy(mem);
}

TEST(read_faults)
{
    /* every read of a journal failed in turn (an error, a short read, a
     * flipped bit): the feed gives whole, right batches up to the fault and
     * then a status, never a wrong or partial batch, never a silent skip */
    fs *mem = fs_mem_new();
    fs *ffs = fs_fault_new(mem, 0);
    tind_db *db = open_db(ffs, "/db", 0, 1u << 30);
    tind_keyspace *ks[2] = {ks_open(db, "a"), ks_open(db, "b")};
    history h = {0};
    trng r;
    trng_seed(&r, check_seed + 60);
    write_batches(db, ks, &h, 120, &r, 0);
    flush_both(ks);
    write_batches(db, ks, &h, 40, &r, 0);
    static const int effects[3] = {FS_FAULT_ERRNO, FS_FAULT_SHORT_READ, FS_FAULT_BIT_FLIP};
    int failures = 0, clean = 0;
    for (uint64_t nth = 1; nth < 120; nth++) {
        int effect = effects[nth % 3];
        fs_fault_arm(ffs, FS_CALL_READ, nth, effect, 5 /* EIO */, 0, "journals");
        tind_changes *c = NULL;
        int rc = tind_changes_since(db, 1, &c);
        size_t i = 0;
        while (rc == TIND_OK && (rc = tind_changes_next(c, 0)) == TIND_OK) {
            CHECK(i < h.count);
            check_batch(c, &h.b[i]);
            i++;
        }
        tind_changes_free(c);
        fs_fault_disarm(ffs);
        if (rc == TIND_NOT_FOUND && i == h.count) {
            clean++;   /* the fault hit nothing the feed needed, or came after it */
            continue;
        }
        failures++;
        CHECK(rc == TIND_ECORRUPT || rc == TIND_EIO || rc == TIND_ENOENT);
    }
    CHECK(failures > 10);
    CHECK(clean > 0);
    CHECK_OK(tind_close(db));
    fs_destroy(ffs);
    fs_destroy(mem);
    free(h.b);
}

/* ------------------------------------------------------------------ a replica */

/* Applies every batch of src's feed from `from` to dst with commit_at. */
static uint64_t replicate(tind_db *src, tind_db *dst, uint64_t from)
{
    tind_changes *c = NULL;
    CHECK_OK(tind_changes_since(src, from, &c));
    tind_batch *b = NULL;
    CHECK_OK(tind_batch_new(dst, &b));
    uint64_t applied = 0;
    while (tind_changes_next(c, 0) == TIND_OK) {
        for (size_t i = 0; i < tind_changes_count(c); i++) {
            const tind_change_op *op = tind_changes_op(c, i);
            tind_keyspace *ks = NULL;
            CHECK_OK(tind_keyspace_open(dst, op->keyspace, NULL, &ks));
            if (op->type == TIND_CHANGE_PUT)
                CHECK_OK(tind_batch_put(b, ks, op->key, op->klen, op->value, op->vlen));
            else if (op->type == TIND_CHANGE_REMOVE_RANGE)
                CHECK_OK(tind_batch_remove_range(b, ks, op->key, op->klen, op->value, op->vlen));
            else
                CHECK_OK(tind_batch_remove(b, ks, op->key, op->klen));
        }
        CHECK_OK(tind_batch_commit_at(b, tind_changes_seqno(c)));
        applied++;
    }
    tind_batch_free(b);
    tind_changes_free(c);
    return applied;
}

static void check_same(tind_db *x, tind_db *y)
{
    uint64_t sx = 0, sy = 0;
    CHECK_OK(tind_last_seqno(x, &sx));
    CHECK_OK(tind_last_seqno(y, &sy));
    CHECK_EQ(sx, sy);
    for (int k = 0; k < 2; k++) {
        tind_keyspace *a = NULL, *b = NULL;
        CHECK_OK(tind_keyspace_open(x, ks_names[k], NULL, &a));
        CHECK_OK(tind_keyspace_open(y, ks_names[k], NULL, &b));
        tind_iter *i = NULL, *j = NULL;
        CHECK_OK(tind_iter_prefix(a, NULL, 0, NULL, &i));
        CHECK_OK(tind_iter_prefix(b, NULL, 0, NULL, &j));
        tind_iter_first(i);
        tind_iter_first(j);
        size_t n = 0;
        while (tind_iter_valid(i)) {
            CHECK(tind_iter_valid(j));
            size_t kl, kl2, vl, vl2;
            const void *k1 = tind_iter_key(i, &kl), *k2 = tind_iter_key(j, &kl2);
            CHECK_MEM(k1, kl, k2, kl2);
            const void *v1 = tind_iter_value(i, &vl), *v2 = tind_iter_value(j, &vl2);
            CHECK_MEM(v1, vl, v2, vl2);
            tind_iter_next(i);
            tind_iter_next(j);
            n++;
        }
        CHECK(!tind_iter_valid(j));
        CHECK_OK(tind_iter_status(i));
        CHECK_OK(tind_iter_status(j));
        CHECK(n > 0);
        tind_iter_free(i);
        tind_iter_free(j);
    }
}

TEST(replica_and_commit_at)
{
    for (int bg = 0; bg < 2; bg++) {
        fs *mem = fs_mem_new();
        tind_db *leader = open_db(mem, "/leader", bg, 1u << 30);
        tind_db *follower = open_db(mem, "/follower", bg, 1u << 30);
        tind_keyspace *ks[2] = {ks_open(leader, "a"), ks_open(leader, "b")};
        ks_open(follower, "a");
        ks_open(follower, "b");
        history h = {0};
        trng r;
        trng_seed(&r, check_seed + 40 + (uint64_t)bg);
        write_batches(leader, ks, &h, 200, &r, 0);
        CHECK_EQ(replicate(leader, follower, 1), 200);
        check_same(leader, follower);
        write_batches(leader, ks, &h, 150, &r, 0);
        flush_both(ks);
        uint64_t at = 0;
        CHECK_OK(tind_last_seqno(follower, &at));
        CHECK_EQ(replicate(leader, follower, at + 1), 150);
        check_same(leader, follower);
        /* the follower's own feed is the leader's, batch for batch */
        check_feed(follower, &h, 1);

        /* commit_at's conditions */
        tind_keyspace *fa = NULL;
        CHECK_OK(tind_keyspace_open(follower, "a", NULL, &fa));
        CHECK_OK(tind_last_seqno(follower, &at));
        tind_batch *b = NULL;
        CHECK_OK(tind_batch_new(follower, &b));
        CHECK_OK(tind_batch_put(b, fa, "x", 1, "1", 1));
        CHECK_RC(tind_batch_commit_at(b, at), TIND_EEXIST);        /* applied already */
        CHECK(strstr(tind_errmsg(follower), "already applied") != NULL);
        CHECK_EQ(tind_batch_count(b), 1);                          /* kept */
        CHECK_RC(tind_batch_commit_at(b, at + 2), TIND_ECONFLICT); /* a gap */
        CHECK_RC(tind_batch_commit_at(b, 0), TIND_EINVAL);
        uint64_t same = 0;
        CHECK_OK(tind_last_seqno(follower, &same));
        CHECK_EQ(same, at);
        CHECK_OK(tind_batch_commit_at(b, at + 1));
        CHECK_EQ(tind_batch_count(b), 0);
        CHECK_OK(tind_batch_commit_at(b, at + 7));                 /* empty: nothing to do */
        CHECK_OK(tind_last_seqno(follower, &same));
        CHECK_EQ(same, at + 1);
        tind_batch_free(b);
        CHECK_OK(tind_close(leader));
        CHECK_OK(tind_close(follower));
        free(h.b);
        fs_destroy(mem);
    }
}

/* Range deletions in the feed: one TIND_CHANGE_REMOVE_RANGE op each (key =
 * start, value = end, vlen 0 = no end; a clear is 00 .. no end), and a
 * replica applying them with commit_at holds the same keys at the same
 * seqnos, snapshots included. */
TEST(range_deletions_replicated)
{
    for (int bg = 0; bg < 2; bg++) {
        fs *mem = fs_mem_new();
        tind_db *leader = open_db(mem, "/leader", bg, 1u << 30);
        tind_db *follower = open_db(mem, "/follower", bg, 1u << 30);
        tind_keyspace *ks[2] = {ks_open(leader, "a"), ks_open(leader, "b")};
        ks_open(follower, "a");
        ks_open(follower, "b");
        char k[16];
        for (int i = 0; i < 200; i++) {
            snprintf(k, sizeof k, "k%03d", i);
            CHECK_OK(tind_put(ks[i % 2], k, 4, k, 4));
        }
        flush_both(ks);
        uint64_t first = 0;
        CHECK_OK(tind_last_seqno(leader, &first));
        first++;
        tind_batch *b = NULL;
        CHECK_OK(tind_batch_new(leader, &b));
        CHECK_OK(tind_batch_put(b, ks[0], "k050x", 5, "v", 1));
        CHECK_OK(tind_batch_remove_range(b, ks[0], "k040", 4, "k080", 4)); /* covers k050x of the same batch */
        CHECK_OK(tind_batch_put(b, ks[0], "k060x", 5, "w", 1));            /* after it: stays */
        CHECK_OK(tind_batch_commit(b));
        tind_batch_free(b);
        CHECK_OK(tind_remove_range(ks[1], "k150", 4, NULL, 0));              /* open end */
        CHECK_OK(tind_keyspace_clear(ks[1]));
        CHECK_OK(tind_put(ks[1], "k001", 4, "again", 5));

        tind_changes *c = NULL;
        CHECK_OK(tind_changes_since(leader, first, &c));
        CHECK_OK(tind_changes_next(c, 0));
        CHECK_EQ(tind_changes_count(c), 3);
        const tind_change_op *op = tind_changes_op(c, 1);
        CHECK_EQ(op->type, TIND_CHANGE_REMOVE_RANGE);
        CHECK_MEM(op->key, op->klen, "k040", 4);
        CHECK_MEM(op->value, op->vlen, "k080", 4);
        CHECK_OK(tind_changes_next(c, 0));
        op = tind_changes_op(c, 0);
        CHECK_EQ(op->type, TIND_CHANGE_REMOVE_RANGE);
        CHECK_MEM(op->key, op->klen, "k150", 4);
        CHECK_EQ(op->vlen, 0);
        CHECK_OK(tind_changes_next(c, 0));
        op = tind_changes_op(c, 0);
        CHECK_EQ(op->type, TIND_CHANGE_REMOVE_RANGE);
        CHECK_MEM(op->key, op->klen, "\0", 1);
        CHECK_EQ(op->vlen, 0);
        tind_changes_free(c);

        CHECK_EQ(replicate(leader, follower, 1), 204);
        check_same(leader, follower);
        /* the follower's own feed describes them the same way */
        CHECK_OK(tind_changes_since(follower, first + 3, &c));
        CHECK_OK(tind_changes_next(c, 0));
        CHECK_EQ(tind_changes_op(c, 0)->type, TIND_CHANGE_REMOVE_RANGE);
        tind_changes_free(c);
        tind_keyspace *fa = NULL;
        CHECK_OK(tind_keyspace_open(follower, "a", NULL, &fa));
        CHECK_RC(tind_contains(fa, "k050x", 5, NULL), TIND_NOT_FOUND);
        CHECK_RC(tind_contains(fa, "k060", 4, NULL), TIND_NOT_FOUND);
        void *v = NULL;
        size_t vn = 0;
        CHECK_OK(tind_get(fa, "k060x", 5, NULL, &v, &vn));
        CHECK_MEM(v, vn, "w", 1);
        tind_free(v);
        CHECK_OK(tind_close(leader));
        CHECK_OK(tind_close(follower));
        fs_destroy(mem);
    }
}

TEST(api_misuse)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_db(mem, "/db", 0, 0);
    tind_changes *c = NULL;
    uint64_t s = 0;
    CHECK_RC(tind_changes_since(NULL, 1, &c), TIND_EINVAL);
    CHECK_RC(tind_changes_since(db, 1, NULL), TIND_EINVAL);
    CHECK_RC(tind_changes_next(NULL, 0), TIND_EINVAL);
    CHECK_RC(tind_last_seqno(NULL, &s), TIND_EINVAL);
    CHECK_RC(tind_last_seqno(db, NULL), TIND_EINVAL);
    CHECK_RC(tind_batch_commit_at(NULL, 1), TIND_EINVAL);
    CHECK_EQ(tind_changes_seqno(NULL), 0);
    CHECK_EQ(tind_changes_count(NULL), 0);
    CHECK(tind_changes_op(NULL, 0) == NULL);
    tind_changes_free(NULL);
    tind_options_set_changes_retention(NULL, 1);
    /* an empty database: nothing yet, then the first write */
    CHECK_OK(tind_last_seqno(db, &s));
    CHECK_EQ(s, 0);
    CHECK_OK(tind_changes_since(db, 0, &c));
    CHECK_RC(tind_changes_next(c, 0), TIND_NOT_FOUND);
    CHECK(tind_changes_op(c, 0) == NULL);
    tind_keyspace *ks = ks_open(db, "a");
    CHECK_OK(tind_put(ks, "k", 1, "v", 1));
    CHECK_OK(tind_changes_next(c, 0));
    CHECK_EQ(tind_changes_seqno(c), 1);
    CHECK_EQ(tind_changes_count(c), 1);
    tind_changes_free(c);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

/* ------------------------------------------------------------------ a tailing follower */

typedef struct tail_ctx {
    tind_db *db;
    int batches;
    int seen;
    int failed;
} tail_ctx;

static void *tail_main(void *arg)
{
    tail_ctx *t = arg;
    tind_changes *c = NULL;
    if (tind_changes_since(t->db, 1, &c) != TIND_OK) {
        t->failed = 1;
        return NULL;
    }
    uint64_t expect = 1;
    while (t->seen < t->batches) {
        int rc = tind_changes_next(c, -1);
        if (rc != TIND_OK) {
            t->failed = 2;
            break;
        }
        /* batch i holds i % 4 + 1 puts, key "t<i>.<j>" in "a", value = its seqno */
        size_t n = tind_changes_count(c);
        if (tind_changes_seqno(c) != expect || n != (size_t)(t->seen % 4 + 1)) {
            t->failed = 3;
            break;
        }
        for (size_t j = 0; j < n; j++) {
            const tind_change_op *op = tind_changes_op(c, j);
            char key[32];
            int kn = snprintf(key, sizeof key, "t%d.%zu", t->seen, j);
            if (op->klen != (size_t)kn || memcmp(op->key, key, op->klen) != 0 || strcmp(op->keyspace, "a") != 0)
                t->failed = 4;
        }
        expect += n;
        t->seen++;
    }
    tind_changes_free(c);
    return NULL;
}

TEST(tail_while_writing)
{
    for (int bg = 0; bg < 2; bg++) {
        fs *mem = fs_mem_new();
        /* retention keeps what a slow follower needs even when flushes run */
        tind_db *db = open_db(mem, "/db", bg, 1u << 30);
        tind_keyspace *a = ks_open(db, "a");
        tail_ctx t = {db, 2000, 0, 0};
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, tail_main, &t), 0);
        for (int i = 0; i < t.batches; i++) {
            tind_batch *b = NULL;
            CHECK_OK(tind_batch_new(db, &b));
            for (int j = 0; j <= i % 4; j++) {
                char key[32];
                int kn = snprintf(key, sizeof key, "t%d.%d", i, j);
                CHECK_OK(tind_batch_put(b, a, key, (size_t)kn, "value", 5));
            }
            CHECK_OK(tind_batch_commit(b));
            tind_batch_free(b);
            if (!bg && i % 500 == 499)
                CHECK_OK(tind_flush(a));
        }
        CHECK_EQ(pthread_join(th, NULL), 0);
        CHECK_EQ(t.failed, 0);
        CHECK_EQ(t.seen, t.batches);
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
}

int main(void)
{
    check_seed_init(17);
    RUN(api_misuse);
    RUN(order_and_batches);
    RUN(retention_and_falling_behind);
    RUN(reopen);
    RUN(power_loss);
    RUN(power_loss_retained);
    RUN(damaged_journal);
    RUN(read_faults);
    RUN(replica_and_commit_at);
    RUN(range_deletions_replicated);
    RUN(tail_while_writing);
    return 0;
}
