/*
 * kill.c -- the kill campaign of tind-stress (TESTING.md item 3).
 *
 * The parent runs "lives": each life execs a fresh child (tind-stress
 * __kill-child ...) that opens the database in <dir>/db on the POSIX file
 * system and commits random batches across three keyspaces with a mix of
 * durabilities (none, buffer, SYNC_DATA, SYNC_ALL, and now and then a
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
 *      kill, every batch whose commit returned: the journal write reached
 *      the OS before the commit returned);
 *   2. the recovered state equals the model cut after some batch P with
 *      last-S <= P <= last-B: no batch is partially visible, no holes;
 *   3. every keyspace created before opens; forward and backward iteration
 *      and point reads of every key agree with the model; every value
 *      carries a checksum of its key and bytes, and equals, byte for byte,
 *      the value the model says was written.
 * The next child continues with batch P + 1 (the parent passes it), in a
 * new "life" number that is mixed into every generated batch and value, so
 * a record of an earlier life resurrected by recovery is caught.
 *
 * Batches are a pure function of (seed, life, id): the parent regenerates
 * them instead of storing them. Every batch ends with a put of "!marker" in
 * keyspace 0 whose value names the batch, so P is read from the database.
 *
 * Power loss (--power-loss; every other life): the child's file system is
 * POSIX wrapped in a recording layer (rec_fs below) that appends to a side
 * log <dir>/fslog, one checksummed line per write(2) with O_APPEND, so a
 * kill can tear at most the last line:
 *   - before an operation that changes a directory (create, rename, unlink,
 *     link, mkdir, rmdir, truncate, O_TRUNC) it logs an intent record; the
 *     old target of a rename and the victim of an unlink are first
 *     hard-linked into <dir>/grave so they can be brought back;
 *   - after fs_sync succeeds it logs "S path len" where len is the size
 *     measured BEFORE the sync (everything below len is durable);
 *   - after fs_sync_dir succeeds it logs "D dir";
 *   - a write below a file's durable length (never done by tind today)
 *     first saves the old bytes to <dir>/grave and logs an undo record.
 * After the SIGKILL the parent replays the log (sim_* below): directory
 * operations not covered by a later sync of their directory are undone in
 * reverse order (all of them, none, or a random subset), and every file the
 * child wrote is cut back to its durable length, keeping a random prefix of
 * the unsynced tail or also garbling its last sector (never a synced byte).
 * Records that grant durability (S, D) are logged after the fact and intents
 * before it, so every simulated state is one a real power cut could leave.
 *
 * Determinism: batches, plans and crash choices derive from --seed (per
 * life); only the kill instants depend on timing. On failure the seed, the
 * last lives (the kill log) and the folder (kept) are printed.
 *
 * Thread-safety: the parent is single-threaded. In the child, rec_fs is
 * called from the engine's threads; one mutex guards its entry table and
 * orders its log records with the operations they describe.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"
#include "tind.h"
#include "db/options.h"
#include "io/fs.h"
#include "util/coding.h"
#include "util/hash.h"
#include "util/rand.h"

extern char **environ;

/* ================================================================ workload */

#define KS_COUNT 3
#define UNIVERSE 1200            /* keys per keyspace */
#define MARKER UNIVERSE          /* key index of "!marker" (keyspace 0 only) */
#define MAX_OPS 200
#define VAL_MIN 24               /* 16-byte header + 8-byte checksum */
#define VAL_MAX 6100
#define KEY_MAX 64

static const char *const ks_names[KS_COUNT] = {"leveled", "tiered", "zstd-partitioned"};

typedef struct kop {
    uint8_t ks;
    uint8_t tomb;
    uint32_t key;
    uint32_t vlen;
} kop;

typedef struct kbatch {
    uint64_t id;
    int durability;      /* TIND_PERSIST_* of the commit */
    int persist;         /* 0, or the tind_persist mode called after the commit */
    int single;          /* committed with tind_put (the marker alone) */
    int reopen;          /* after it, the child closes and reopens the database */
    uint32_t n;          /* operations, the marker last */
    kop ops[MAX_OPS + 1];
} kbatch;

static uint64_t mix3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = a ^ 0x5851f42d4c957f2dull;
    uint64_t h = trng_splitmix(&x);
    x = h ^ b;
    h = trng_splitmix(&x);
    x = h ^ c;
    return trng_splitmix(&x);
}

/* Key bytes of index idx; monotonic in idx, so key order = index order
 * (the marker, "!marker", sorts before every "k..." key). */
static size_t key_bytes(uint32_t idx, uint8_t *out)
{
    if (idx == MARKER) {
        memcpy(out, "!marker", 7);
        return 7;
    }
    int n = snprintf((char *)out, KEY_MAX, "k%06u", (unsigned)idx);
    if (idx % 11 == 3) { /* some longer keys */
        size_t tail = 8 + idx % 40;
        out[n++] = '/';
        memset(out + n, 'a' + (int)(idx % 26), tail);
        n += (int)tail;
    }
    return (size_t)n;
}

static int key_parse(const uint8_t *k, size_t n, uint32_t *idx)
{
    uint8_t buf[KEY_MAX];
    if (n == 7 && memcmp(k, "!marker", 7) == 0) {
        *idx = MARKER;
        return 0;
    }
    if (n < 7 || k[0] != 'k')
        return -1;
    uint32_t v = 0;
    for (int i = 1; i < 7; i++) {
        if (k[i] < '0' || k[i] > '9')
            return -1;
        v = v * 10 + (uint32_t)(k[i] - '0');
    }
    if (v >= UNIVERSE || key_bytes(v, buf) != n || memcmp(buf, k, n) != 0)
        return -1;
    *idx = v;
    return 0;
}

/* A value: u64 batch id | u32 position in the batch | u32 life | filler
 * (a compressible pattern) | u64 xxh3 of the bytes before it, seeded with
 * the hash of the key. */
static void value_bytes(uint64_t seed, uint32_t life, uint64_t id, uint32_t pos, const uint8_t *key, size_t klen,
                        uint32_t vlen, uint8_t *out)
{
    enc_u64(out, id);
    enc_u32(out + 8, pos);
    enc_u32(out + 12, life);
    uint64_t pat = mix3(seed, life, id * 1024 + pos);
    for (uint32_t i = 16; i < vlen - 8; i++)
        out[i] = (uint8_t)('a' + ((pat >> ((i % 8) * 8)) & 15));
    enc_u64(out + vlen - 8, hash64_seed(out, vlen - 8, hash64(key, klen)));
}

static int value_decode(const uint8_t *key, size_t klen, const uint8_t *v, size_t vlen, uint64_t *id, uint32_t *pos,
                        uint32_t *life)
{
    if (vlen < VAL_MIN || vlen > VAL_MAX)
        return -1;
    if (dec_u64(v + vlen - 8) != hash64_seed(v, vlen - 8, hash64(key, klen)))
        return -1;
    *id = dec_u64(v);
    *pos = dec_u32(v + 8);
    *life = dec_u32(v + 12);
    return 0;
}

static void gen_batch(uint64_t seed, uint32_t life, uint64_t id, kbatch *b)
{
    trng r;
    trng_seed(&r, mix3(seed, life, id));
    b->id = id;
    uint32_t n = 1 + (uint32_t)trng_below(&r, 12);
    if (trng_below(&r, 40) == 0)
        n = 40 + (uint32_t)trng_below(&r, MAX_OPS - 40 + 1);
    b->single = trng_below(&r, 12) == 0;
    if (b->single)
        n = 0;
    for (uint32_t i = 0; i < n; i++) {
        kop *o = &b->ops[i];
        o->ks = (uint8_t)trng_below(&r, KS_COUNT);
        o->key = (uint32_t)(trng_below(&r, 2) ? trng_below(&r, 100) : trng_below(&r, UNIVERSE));
        o->tomb = trng_below(&r, 4) == 0;
        o->vlen = o->tomb ? 0
                  : trng_below(&r, 30) == 0 ? 1000 + (uint32_t)trng_below(&r, 5000)
                                            : VAL_MIN + (uint32_t)trng_below(&r, 160);
    }
    b->ops[n] = (kop){0, 0, MARKER, VAL_MIN + (uint32_t)trng_below(&r, 40)};
    b->n = n + 1;
    uint64_t d = trng_below(&r, 100);
    b->durability = d < 50 ? TIND_PERSIST_NONE
                    : d < 62 ? TIND_PERSIST_BUFFER
                    : d < 85 ? TIND_PERSIST_SYNC_DATA
                             : TIND_PERSIST_SYNC_ALL;
    if (b->single)
        b->durability = TIND_PERSIST_NONE; /* tind_put: the database default */
    b->persist = trng_below(&r, 25) == 0 ? (trng_below(&r, 2) ? TIND_PERSIST_SYNC_DATA : TIND_PERSIST_SYNC_ALL) : 0;
    b->reopen = trng_below(&r, 400) == 0;
}

/* The model: per keyspace and key, the operation that wrote it last. */
typedef struct kcell {
    uint64_t id;
    uint32_t pos, life, vlen;
    uint8_t present;
} kcell;

typedef struct kstate {
    kcell cell[KS_COUNT][UNIVERSE + 1];
} kstate;

static void state_apply(kstate *s, const kbatch *b, uint32_t life)
{
    for (uint32_t i = 0; i < b->n; i++) {
        const kop *o = &b->ops[i];
        s->cell[o->ks][o->key] = (kcell){b->id, i, life, o->vlen, (uint8_t)!o->tomb};
    }
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_ks_options(tind_ks_options *ko, int k)
{
    /* tiny: with ~2 KiB batches over three keyspaces, a memtable is sealed
     * (and a flush and a new journal started) every ~8 batches somewhere */
    tind_ks_options_set_memtable_size(ko, 16 * 1024);
    tind_ks_options_set_table_size(ko, 16 * 1024);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_levels(ko, 4);
    tind_ks_options_set_level_ratio(ko, 4);
    tind_ks_options_set_block_size(ko, 1024);
    if (k == 1)
        tind_ks_options_set_compaction(ko, TIND_COMPACTION_TIERED);
    if (k == 2) {
        tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_ZSTD, 3);
        tind_ks_options_set_partitioning(ko, 1);
        tind_ks_options_set_bloom_bits(ko, 2, 0);
    }
}

/* ================================================================ rec_fs (child) */

typedef struct rec_entry {
    char *path;               /* current name (a grave name once unlinked or replaced) */
    uint64_t durable;         /* bytes [0, durable) survive a power loss */
    struct rec_entry *next;
} rec_entry;

typedef struct rec_fs {
    fs base;
    fs *inner;
    pthread_mutex_t mu;       /* guards everything below and orders log records */
    int log_fd;
    char *grave;
    uint64_t grave_seq;
    rec_entry *entries;
} rec_fs;

typedef struct rec_file {
    fs_file base;
    fs_file *inner;
    rec_entry *e;             /* NULL for read-only handles */
} rec_file;

static const fs_ops rec_ops;

static void rec_die(const char *what)
{
    fprintf(stderr, "tind-stress child: recording layer: %s: %s\n", what, strerror(errno));
    _exit(4);
}

/* One line "<text> #<xxh3 hex>\n" in one write(2). (mu) */
static void rec_log(rec_fs *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec_log(rec_fs *r, const char *fmt, ...)
{
    char line[8400];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, 8192, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= 8192)
        rec_die("log line too long");
    uint64_t h = hash64(line, (size_t)n);
    n += snprintf(line + n, sizeof line - (size_t)n, " #%016" PRIx64 "\n", h);
    ssize_t w = write(r->log_fd, line, (size_t)n);
    if (w != n)
        rec_die("log write");
}

static rec_entry *rec_find(rec_fs *r, const char *path)
{
    for (rec_entry *e = r->entries; e; e = e->next)
        if (strcmp(e->path, path) == 0)
            return e;
    return NULL;
}

static rec_entry *rec_add(rec_fs *r, const char *path, uint64_t durable)
{
    rec_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->path = strdup(path)))
        rec_die("out of memory");
    e->durable = durable;
    e->next = r->entries;
    r->entries = e;
    return e;
}

static void rec_rename_entry(rec_entry *e, const char *to)
{
    char *p = strdup(to);
    if (!p)
        rec_die("out of memory");
    free(e->path);
    e->path = p;
}

static int rec_exists(rec_fs *r, const char *path) { return fs_exists(r->inner, path, NULL) == TIND_OK; }

static void rec_grave_name(rec_fs *r, char *buf, size_t n)
{
    snprintf(buf, n, "%s/g%d.%" PRIu64, r->grave, (int)getpid(), ++r->grave_seq);
}

static int rec_open(fs *fsys, const char *path, int flags, fs_file **out, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    *out = NULL;
    rec_file *f = calloc(1, sizeof *f);
    char *copy = strdup(path);
    if (!f || !copy) {
        free(f);
        free(copy);
        return err_set(err, TIND_ENOMEM, "open '%s': out of memory", path);
    }
    pthread_mutex_lock(&r->mu);
    int exists = rec_exists(r, path), writing = (flags & FS_O_WRITE) != 0, logged = 0;
    if ((flags & FS_O_CREATE) && !exists) {
        rec_log(r, "C %s", path);
        logged = 1;
    } else if (exists && writing && (flags & FS_O_TRUNC)) {
        rec_log(r, "T %s 0", path);
        logged = 1;
    }
    int rc = fs_open(r->inner, path, flags, &f->inner, err);
    if (rc) {
        if (logged)
            rec_log(r, "F");
        pthread_mutex_unlock(&r->mu);
        free(f);
        free(copy);
        return rc;
    }
    if (writing) {
        rec_entry *e = rec_find(r, path);
        if (!exists || (flags & FS_O_TRUNC)) {
            if (!e)
                e = rec_add(r, path, 0);
            e->durable = 0;
        } else if (!e) {
            /* a file from before this life: all of it is durable */
            uint64_t size = 0;
            if (fs_size(f->inner, &size, NULL) != TIND_OK)
                rec_die("size");
            e = rec_add(r, path, size);
            rec_log(r, "O %s %" PRIu64, path, size);
        }
        f->e = e;
    }
    pthread_mutex_unlock(&r->mu);
    f->base.owner = fsys;
    f->base.path = copy;
    *out = &f->base;
    return TIND_OK;
}

static int rec_close(fs_file *file, tind_err *err)
{
    rec_file *f = (rec_file *)file;
    int rc = fs_close(f->inner, err);
    free(f->base.path);
    free(f);
    return rc;
}

static int rec_read(fs_file *file, void *buf, size_t n, uint64_t off, size_t *got, tind_err *err)
{
    return fs_read(((rec_file *)file)->inner, buf, n, off, got, err);
}

/* A write below the durable length: save the old bytes first. (mu) */
static int rec_overwrite(rec_fs *r, rec_file *f, const void *buf, size_t n, uint64_t off, tind_err *err)
{
    size_t m = (size_t)(f->e->durable - off < n ? f->e->durable - off : n);
    uint8_t *old = malloc(m ? m : 1);
    size_t got = 0;
    if (!old)
        rec_die("out of memory");
    int rc = fs_read(f->inner, old, m, off, &got, err);
    if (rc) {
        free(old);
        return rc;
    }
    char undo[4200];
    rec_grave_name(r, undo, sizeof undo);
    int fd = open(undo, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, old, got) != (ssize_t)got || close(fd) != 0)
        rec_die("undo file");
    free(old);
    rec_log(r, "W %s %" PRIu64 " %zu %s", f->e->path, off, got, undo);
    return fs_write(f->inner, buf, n, off, err);
}

static int rec_write(fs_file *file, const void *buf, size_t n, uint64_t off, tind_err *err)
{
    rec_file *f = (rec_file *)file;
    rec_fs *r = (rec_fs *)file->owner;
    if (f->e) {
        pthread_mutex_lock(&r->mu);
        if (off < f->e->durable) {
            int rc = rec_overwrite(r, f, buf, n, off, err);
            pthread_mutex_unlock(&r->mu);
            return rc;
        }
        pthread_mutex_unlock(&r->mu);
    }
    return fs_write(f->inner, buf, n, off, err);
}

static int rec_sync(fs_file *file, int mode, tind_err *err)
{
    rec_file *f = (rec_file *)file;
    rec_fs *r = (rec_fs *)file->owner;
    uint64_t size = 0;
    int have_size = fs_size(f->inner, &size, NULL) == TIND_OK; /* before: all of it is durable after */
    int rc = fs_sync(f->inner, mode, err);
    if (rc == TIND_OK && f->e && have_size) {
        pthread_mutex_lock(&r->mu);
        f->e->durable = size;
        rec_log(r, "S %s %" PRIu64, f->e->path, size);
        pthread_mutex_unlock(&r->mu);
    }
    return rc;
}

static int rec_size(fs_file *file, uint64_t *size, tind_err *err) { return fs_size(((rec_file *)file)->inner, size, err); }

static int rec_truncate(fs_file *file, uint64_t size, tind_err *err)
{
    rec_file *f = (rec_file *)file;
    rec_fs *r = (rec_fs *)file->owner;
    pthread_mutex_lock(&r->mu);
    rec_log(r, "T %s %" PRIu64, f->e ? f->e->path : file->path, size);
    if (f->e && f->e->durable > size)
        f->e->durable = size;
    int rc = fs_truncate(f->inner, size, err);
    if (rc)
        rec_log(r, "F");
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_allocate(fs_file *file, uint64_t off, uint64_t len, tind_err *err)
{
    return fs_allocate(((rec_file *)file)->inner, off, len, err);
}

static int rec_rename(fs *fsys, const char *from, const char *to, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    pthread_mutex_lock(&r->mu);
    char grave[4200] = "-";
    int replaced = rec_exists(r, to);
    if (replaced) {
        rec_grave_name(r, grave, sizeof grave);
        if (link(to, grave) != 0)
            rec_die("link to grave");
    }
    rec_log(r, "R %s %s %s", from, to, grave);
    int rc = fs_rename(r->inner, from, to, err);
    if (rc) {
        rec_log(r, "F");
        if (replaced)
            unlink(grave);
    } else {
        rec_entry *old = rec_find(r, to), *moved = rec_find(r, from);
        if (old)
            rec_rename_entry(old, grave);
        if (moved) {
            rec_rename_entry(moved, to);
        } else {
            struct stat st;
            rec_add(r, to, stat(to, &st) == 0 ? (uint64_t)st.st_size : 0);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_link(fs *fsys, const char *from, const char *to, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    pthread_mutex_lock(&r->mu);
    rec_log(r, "L %s %s", from, to);
    int rc = fs_link(r->inner, from, to, err);
    if (rc) {
        rec_log(r, "F");
    } else {
        rec_entry *src = rec_find(r, from);
        struct stat st;
        rec_add(r, to, src ? src->durable : stat(to, &st) == 0 ? (uint64_t)st.st_size : 0);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_unlink(fs *fsys, const char *path, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    pthread_mutex_lock(&r->mu);
    if (!rec_exists(r, path)) {
        pthread_mutex_unlock(&r->mu);
        return fs_unlink(r->inner, path, err); /* fails as it should */
    }
    char grave[4200];
    rec_grave_name(r, grave, sizeof grave);
    if (link(path, grave) != 0)
        rec_die("link to grave");
    rec_log(r, "U %s %s", path, grave);
    int rc = fs_unlink(r->inner, path, err);
    if (rc) {
        rec_log(r, "F");
        unlink(grave);
    } else {
        rec_entry *e = rec_find(r, path);
        if (e)
            rec_rename_entry(e, grave);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_mkdir(fs *fsys, const char *path, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    pthread_mutex_lock(&r->mu);
    int logged = !rec_exists(r, path);
    if (logged)
        rec_log(r, "M %s", path);
    int rc = fs_mkdir(r->inner, path, err);
    if (rc && logged)
        rec_log(r, "F");
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_rmdir(fs *fsys, const char *path, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    pthread_mutex_lock(&r->mu);
    rec_log(r, "X %s", path);
    int rc = fs_rmdir(r->inner, path, err);
    if (rc)
        rec_log(r, "F");
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_sync_dir(fs *fsys, const char *path, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    int rc = fs_sync_dir(r->inner, path, err);
    if (rc == TIND_OK) {
        pthread_mutex_lock(&r->mu);
        rec_log(r, "D %s", path);
        pthread_mutex_unlock(&r->mu);
    }
    return rc;
}

static int rec_list(fs *fsys, const char *dir, char ***names, size_t *count, tind_err *err)
{
    return fs_list(((rec_fs *)fsys)->inner, dir, names, count, err);
}

static int rec_exists_op(fs *fsys, const char *path, int *is_dir) { return fs_exists(((rec_fs *)fsys)->inner, path, is_dir); }

/* The lock is the inner fs's own object (its owner is inner, so fs_unlock
 * goes straight there); only the creation of the lock file is recorded. */
static int rec_lock(fs *fsys, const char *path, fs_lock **out, tind_err *err)
{
    rec_fs *r = (rec_fs *)fsys;
    pthread_mutex_lock(&r->mu);
    int logged = !rec_exists(r, path);
    if (logged)
        rec_log(r, "C %s", path);
    int rc = fs_lock_file(r->inner, path, out, err);
    if (rc && logged)
        rec_log(r, "F");
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_unlock(fs_lock *lock, tind_err *err) { return fs_unlock(lock, err); }

static void rec_destroy(fs *fsys)
{
    rec_fs *r = (rec_fs *)fsys;
    while (r->entries) {
        rec_entry *e = r->entries;
        r->entries = e->next;
        free(e->path);
        free(e);
    }
    close(r->log_fd);
    fs_destroy(r->inner);
    free(r->grave);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static const fs_ops rec_ops = {
    .open = rec_open,
    .close = rec_close,
    .read = rec_read,
    .write = rec_write,
    .sync = rec_sync,
    .size = rec_size,
    .truncate = rec_truncate,
    .allocate = rec_allocate,
    .rename = rec_rename,
    .link = rec_link,
    .unlink = rec_unlink,
    .mkdir = rec_mkdir,
    .rmdir = rec_rmdir,
    .sync_dir = rec_sync_dir,
    .list = rec_list,
    .exists = rec_exists_op,
    .lock = rec_lock,
    .unlock = rec_unlock,
    .destroy = rec_destroy,
};

static fs *rec_fs_new(const char *log_path, const char *grave)
{
    rec_fs *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->inner = fs_posix_new();
    r->grave = strdup(grave);
    r->log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (!r->inner || !r->grave || r->log_fd < 0) {
        fs_destroy(r->inner);
        free(r->grave);
        if (r->log_fd >= 0)
            close(r->log_fd);
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->base.ops = &rec_ops;
    r->base.name = "recording";
    return &r->base;
}

/* ================================================================ the child */

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
static tind_db *child_open(const char *dbpath, const tind_options *o, tind_keyspace **ks)
{
    child_msg("R");
    double t0 = now_sec();
    tind_db *db = NULL;
    int rc = tind_open(dbpath, o, &db);
    if (rc)
        child_fail("open", rc, NULL);
    child_msg("O %.0f", (now_sec() - t0) * 1e6);
    for (int k = 0; k < KS_COUNT; k++) {
        tind_ks_options *ko = tind_ks_options_new();
        set_ks_options(ko, k);
        rc = tind_keyspace_open(db, ks_names[k], ko, &ks[k]);
        tind_ks_options_free(ko);
        if (rc)
            child_fail("keyspace open", rc, db);
    }
    child_msg("K");
    return db;
}

int kill_child_main(int argc, char **argv)
{
    const char *dbpath = NULL, *log_path = NULL, *grave = NULL;
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
    }
    if (!dbpath || child_pipe < 0) {
        fprintf(stderr, "tind-stress __kill-child: missing --db or --pipe\n");
        return 2;
    }
    fs *rec = NULL;
    if (log_path) {
        rec = rec_fs_new(log_path, grave ? grave : ".");
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
    tind_options_set_cache_size(o, 1 << 20);
    tind_options_set_write_buffer_size(o, 256 * 1024);
    tind_options_set_journal_file_size(o, 32 * 1024);
    tind_options_set_max_journal_size(o, 128 * 1024);
    tind_options_set_journal_compression_threshold(o, 1024);

    tind_keyspace *ks[KS_COUNT];
    tind_db *db = child_open(dbpath, o, ks);

    static kbatch b;
    static uint8_t val[VAL_MAX];
    uint8_t key[KEY_MAX];
    tind_batch *tb;
    int rc = tind_batch_new(db, &tb);
    if (rc)
        child_fail("batch", rc, db);
    for (uint64_t id = next_id;; id++) {
        gen_batch(seed, life, id, &b);
        for (uint32_t i = 0; i + 1 < b.n; i++) {
            const kop *op = &b.ops[i];
            size_t kn = key_bytes(op->key, key);
            if (op->tomb) {
                rc = tind_batch_remove(tb, ks[op->ks], key, kn);
            } else {
                value_bytes(seed, life, id, i, key, kn, op->vlen, val);
                rc = tind_batch_put(tb, ks[op->ks], key, kn, val, op->vlen);
            }
            if (rc)
                child_fail("batch add", rc, db);
        }
        const kop *m = &b.ops[b.n - 1];
        size_t kn = key_bytes(MARKER, key);
        value_bytes(seed, life, id, b.n - 1, key, kn, m->vlen, val);
        child_msg("B %" PRIu64 " %u", id, b.n);
        if (b.single) {
            rc = tind_put(ks[0], key, kn, val, m->vlen);
        } else {
            rc = tind_batch_put(tb, ks[0], key, kn, val, m->vlen);
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
            if (value_decode(key, kn, got, gn, &gid, &gpos, &glife) != 0 || gid != id || glife != life) {
                child_msg("E read-your-write: marker after batch %" PRIu64 " reads back wrong", id);
                _exit(3);
            }
            tind_free(got);
        }
        if (b.reopen) {
            /* a clean close persists every batch with SYNC_ALL */
            tind_batch_free(tb);
            rc = tind_close(db);
            if (rc)
                child_fail("close", rc, NULL);
            child_msg("S %" PRIu64, id);
            db = child_open(dbpath, o, ks);
            rc = tind_batch_new(db, &tb);
            if (rc)
                child_fail("batch", rc, db);
        }
    }
}

/* ================================================================ power-loss simulation (parent) */

typedef struct prec {
    char t;
    char *a, *b, *c;
    uint64_t n1, n2;
} prec;

typedef struct pfile {
    int64_t durable;          /* -1: untouched this life (all of it durable) */
    int done;
} pfile;

typedef struct pname {
    char *path;
    int file;
} pname;

typedef struct pundo {
    int file;
    uint64_t off, len;
    char *undo;
    int pending;
} pundo;

typedef struct pop {
    const prec *r;
    char d1[4200], d2[4200];  /* the folders whose sync makes it durable */
    int s1, s2;
} pop;

typedef struct psim {
    char *buf;
    prec *recs;
    size_t nrec;
    pfile *files;
    size_t nfiles, capfiles;
    pname *names;
    size_t nnames, capnames;
    pundo *writes;
    size_t nwrites, capwrites;
    pop *ops;
    size_t nops, capops;
    char err[512];
    /* results */
    uint64_t undone, kept_unsynced, bytes_dropped, torn, truncated, overwrites;
    int dir_mode, data_mode;
} psim;

#define GROW(arr, n, cap)                                                          \
    do {                                                                           \
        if ((n) == (cap)) {                                                        \
            size_t nc_ = (cap) ? (cap) * 2 : 64;                                   \
            void *p_ = realloc((arr), nc_ * sizeof *(arr));                        \
            if (!p_) {                                                             \
                fprintf(stderr, "tind-stress: out of memory\n");                   \
                exit(2);                                                           \
            }                                                                      \
            (arr) = p_;                                                            \
            (cap) = nc_;                                                           \
        }                                                                          \
    } while (0)

static int path_exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static void dir_of(const char *path, char *out, size_t n)
{
    snprintf(out, n, "%s", path);
    char *s = strrchr(out, '/');
    if (s == out)
        out[1] = 0;
    else if (s)
        *s = 0;
    else
        snprintf(out, n, ".");
}

static int sim_name_find(psim *s, const char *path)
{
    for (size_t i = 0; i < s->nnames; i++)
        if (strcmp(s->names[i].path, path) == 0)
            return (int)i;
    return -1;
}

static int sim_file_new(psim *s, int64_t durable)
{
    GROW(s->files, s->nfiles, s->capfiles);
    s->files[s->nfiles] = (pfile){durable, 0};
    return (int)s->nfiles++;
}

static void sim_name_set(psim *s, char *path, int file)
{
    int i = sim_name_find(s, path);
    if (i >= 0) {
        s->names[i].file = file;
        return;
    }
    GROW(s->names, s->nnames, s->capnames);
    s->names[s->nnames++] = (pname){path, file};
}

static void sim_name_del(psim *s, const char *path)
{
    int i = sim_name_find(s, path);
    if (i >= 0)
        s->names[i] = s->names[--s->nnames];
}

/* The file a name refers to; a name not seen this life is an untouched file. */
static int sim_file_of(psim *s, char *path)
{
    int i = sim_name_find(s, path);
    if (i >= 0)
        return s->names[i].file;
    int f = sim_file_new(s, -1);
    sim_name_set(s, path, f);
    return f;
}

static void sim_free(psim *s)
{
    free(s->buf);
    free(s->recs);
    free(s->files);
    free(s->names);
    free(s->writes);
    free(s->ops);
    memset(s, 0, sizeof *s);
}

/* Reads the log; stops at the first line whose checksum fails (a torn tail). */
static int sim_load(psim *s, const char *log_path)
{
    FILE *f = fopen(log_path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(s->err, sizeof s->err, "open %.400s: %s", log_path, strerror(errno));
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    s->buf = malloc((size_t)len + 1);
    if (!s->buf || fread(s->buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        snprintf(s->err, sizeof s->err, "read %.400s", log_path);
        return -1;
    }
    fclose(f);
    s->buf[len] = 0;
    size_t cap = 0;
    char *p = s->buf, *end = s->buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break; /* torn */
        *nl = 0;
        char *hash = strrchr(p, '#');
        if (!hash || hash == p || hash[-1] != ' ' || strlen(hash + 1) != 16)
            break;
        uint64_t want = strtoull(hash + 1, NULL, 16);
        if (hash64(p, (size_t)(hash - 1 - p)) != want)
            break;
        hash[-1] = 0;
        prec r;
        memset(&r, 0, sizeof r);
        r.t = p[0];
        char *save = NULL, *tok = strtok_r(p, " ", &save);
        (void)tok;
        char *f1 = strtok_r(NULL, " ", &save), *f2 = strtok_r(NULL, " ", &save), *f3 = strtok_r(NULL, " ", &save),
             *f4 = strtok_r(NULL, " ", &save);
        switch (r.t) {
        case 'C': case 'M': case 'X': case 'D':
            r.a = f1;
            break;
        case 'O': case 'T': case 'S':
            r.a = f1;
            r.n1 = f2 ? strtoull(f2, NULL, 10) : 0;
            break;
        case 'W':
            r.a = f1;
            r.n1 = f2 ? strtoull(f2, NULL, 10) : 0;
            r.n2 = f3 ? strtoull(f3, NULL, 10) : 0;
            r.b = f4;
            break;
        case 'R':
            r.a = f1;
            r.b = f2;
            r.c = f3;
            break;
        case 'U': case 'L':
            r.a = f1;
            r.b = f2;
            break;
        case 'F':
            break;
        default:
            snprintf(s->err, sizeof s->err, "log record of unknown type '%c'", r.t);
            return -1;
        }
        if (r.t != 'F' && (!r.a || ((r.t == 'W' || r.t == 'R' || r.t == 'U' || r.t == 'L') && !r.b) ||
                           (r.t == 'R' && !r.c))) {
            snprintf(s->err, sizeof s->err, "malformed log record of type '%c'", r.t);
            return -1;
        }
        if (r.t == 'F') {
            if (s->nrec)
                s->nrec--; /* the previous operation failed: it did not happen */
        } else {
            GROW(s->recs, s->nrec, cap);
            s->recs[s->nrec++] = r;
        }
        p = nl + 1;
    }
    return 0;
}

/* Every intent record but the last was carried out (the child holds its
 * lock from the record to the end of the operation); the last one may not
 * have been, if the kill came in between. Drop it then, judging from what
 * the folder shows. */
static void sim_drop_unexecuted_tail(psim *s)
{
    if (!s->nrec)
        return;
    const prec *r = &s->recs[s->nrec - 1];
    struct stat st;
    int done = 1;
    switch (r->t) {
    case 'T':
        done = lstat(r->a, &st) != 0 || (uint64_t)st.st_size <= r->n1;
        break;
    case 'R':
    case 'U':
    case 'X':
        done = !path_exists(r->a);
        break;
    case 'C':
    case 'M':
        done = path_exists(r->a);
        break;
    case 'L':
        done = path_exists(r->b);
        break;
    default:
        break;
    }
    if (!done)
        s->nrec--;
}

static void sim_forward(psim *s)
{
    for (size_t i = 0; i < s->nrec; i++) {
        prec *r = &s->recs[i];
        int f;
        switch (r->t) {
        case 'C':
            sim_name_set(s, r->a, sim_file_new(s, 0));
            break;
        case 'O':
            if (sim_name_find(s, r->a) < 0)
                sim_name_set(s, r->a, sim_file_new(s, (int64_t)r->n1));
            break;
        case 'T':
            f = sim_file_of(s, r->a);
            if (s->files[f].durable < 0 || s->files[f].durable > (int64_t)r->n1)
                s->files[f].durable = (int64_t)r->n1;
            break;
        case 'S':
            f = sim_file_of(s, r->a);
            s->files[f].durable = (int64_t)r->n1;
            for (size_t w = 0; w < s->nwrites; w++)
                if (s->writes[w].file == f)
                    s->writes[w].pending = 0;
            break;
        case 'W':
            f = sim_file_of(s, r->a);
            GROW(s->writes, s->nwrites, s->capwrites);
            s->writes[s->nwrites++] = (pundo){f, r->n1, r->n2, r->b, 1};
            break;
        case 'R': {
            int moved = sim_file_of(s, r->a);
            if (strcmp(r->c, "-") != 0)
                sim_name_set(s, r->c, sim_file_of(s, r->b));
            sim_name_set(s, r->b, moved);
            sim_name_del(s, r->a);
            break;
        }
        case 'U':
            sim_name_set(s, r->b, sim_file_of(s, r->a));
            sim_name_del(s, r->a);
            break;
        case 'L':
            sim_name_set(s, r->b, sim_file_of(s, r->a));
            break;
        default:
            break;
        }
        if (r->t == 'D') {
            for (size_t k = 0; k < s->nops; k++) {
                if (strcmp(s->ops[k].d1, r->a) == 0)
                    s->ops[k].s1 = 1;
                if (strcmp(s->ops[k].d2, r->a) == 0)
                    s->ops[k].s2 = 1;
            }
        } else if (strchr("CRULMX", r->t)) {
            GROW(s->ops, s->nops, s->capops);
            pop *op = &s->ops[s->nops++];
            op->r = r;
            op->s1 = op->s2 = 0;
            dir_of(r->a, op->d1, sizeof op->d1);
            dir_of((r->t == 'R' || r->t == 'L') ? r->b : r->a, op->d2, sizeof op->d2);
        }
    }
}

static void rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                char sub[4400];
                snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
                rmtree(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int sim_undo(psim *s, const prec *r)
{
    switch (r->t) {
    case 'C':
        if (path_exists(r->a) && unlink(r->a) != 0)
            return -1;
        sim_name_del(s, r->a);
        return 0;
    case 'R':
        if (!path_exists(r->a) && path_exists(r->b)) {
            if (rename(r->b, r->a) != 0)
                return -1;
            int i = sim_name_find(s, r->b);
            if (i >= 0)
                sim_name_set(s, r->a, s->names[i].file);
            sim_name_del(s, r->b);
            if (strcmp(r->c, "-") != 0 && path_exists(r->c)) {
                if (link(r->c, r->b) != 0)
                    return -1;
                int g = sim_name_find(s, r->c);
                if (g >= 0)
                    sim_name_set(s, r->b, s->names[g].file);
            }
        }
        return 0;
    case 'U':
        if (!path_exists(r->a) && path_exists(r->b)) {
            if (link(r->b, r->a) != 0)
                return -1;
            int g = sim_name_find(s, r->b);
            if (g >= 0)
                sim_name_set(s, r->a, s->names[g].file);
        }
        return 0;
    case 'L':
        if (path_exists(r->b) && unlink(r->b) != 0)
            return -1;
        sim_name_del(s, r->b);
        return 0;
    case 'M': {
        rmtree(r->a);
        size_t l = strlen(r->a);
        for (size_t i = 0; i < s->nnames;) {
            if (strncmp(s->names[i].path, r->a, l) == 0 && s->names[i].path[l] == '/')
                s->names[i] = s->names[--s->nnames];
            else
                i++;
        }
        return 0;
    }
    case 'X':
        if (!path_exists(r->a) && mkdir(r->a, 0755) != 0)
            return -1;
        return 0;
    default:
        return 0;
    }
}

/* Cuts one file back to what a power loss could leave of it. */
static int sim_file(psim *s, const char *path, int f, trng *rng)
{
    pfile *pf = &s->files[f];
    pf->done = 1;
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    uint64_t d = (uint64_t)pf->durable;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(s->err, sizeof s->err, "open %.400s: %s", path, strerror(errno));
        return -1;
    }
    /* unsynced overwrites of durable bytes, newest first */
    for (size_t w = s->nwrites; w-- > 0;) {
        pundo *pw = &s->writes[w];
        if (pw->file != f || !pw->pending || pw->off >= d)
            continue;
        uint64_t len = pw->off + pw->len > d ? d - pw->off : pw->len;
        uint8_t *old = malloc(len ? len : 1);
        int ufd = open(pw->undo, O_RDONLY | O_CLOEXEC);
        int ok = old && ufd >= 0 && read(ufd, old, len) == (ssize_t)len &&
                 pwrite(fd, old, len, (off_t)pw->off) == (ssize_t)len;
        if (ufd >= 0)
            close(ufd);
        free(old);
        if (!ok) {
            close(fd);
            snprintf(s->err, sizeof s->err, "undo overwrite of %.400s: %s", path, strerror(errno));
            return -1;
        }
        s->overwrites++;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < d) {
        close(fd);
        snprintf(s->err, sizeof s->err, "%.300s is %" PRIu64 " bytes, shorter than its synced length %" PRIu64
                 " (the recording layer missed an operation)", path, size, d);
        return -1;
    }
    if (size > d) {
        uint64_t keep = d;
        if (s->data_mode != 0)
            keep = d + trng_below(rng, size - d + 1);
        if (ftruncate(fd, (off_t)keep) != 0) {
            close(fd);
            snprintf(s->err, sizeof s->err, "truncate %.400s: %s", path, strerror(errno));
            return -1;
        }
        s->truncated++;
        s->bytes_dropped += size - keep;
        if (s->data_mode == 2 && keep > d) {
            /* garble a run inside the last sector, past the synced length */
            uint64_t start = ((keep - 1) / 512) * 512;
            if (start < d)
                start = d;
            uint64_t a = start + trng_below(rng, keep - start);
            uint64_t b = a + 1 + trng_below(rng, keep - a);
            uint8_t buf[512];
            if (pread(fd, buf, (size_t)(b - a), (off_t)a) == (ssize_t)(b - a)) {
                for (uint64_t i = 0; i < b - a; i++)
                    buf[i] ^= (uint8_t)(1 + trng_below(rng, 255));
                if (pwrite(fd, buf, (size_t)(b - a), (off_t)a) != (ssize_t)(b - a)) {
                    close(fd);
                    snprintf(s->err, sizeof s->err, "tear %.400s: %s", path, strerror(errno));
                    return -1;
                }
                s->torn++;
            }
        }
    }
    close(fd);
    return 0;
}

/* Applies a simulated power loss to the folder from the child's log. */
static int sim_power_loss(psim *s, const char *log_path, const char *grave, trng *rng)
{
    if (sim_load(s, log_path) != 0)
        return -1;
    sim_drop_unexecuted_tail(s);
    sim_forward(s);
    uint64_t m = trng_below(rng, 10);
    s->dir_mode = m < 5 ? 0 : m < 7 ? 1 : 2;       /* drop all / keep all / each at random */
    m = trng_below(rng, 10);
    s->data_mode = m < 4 ? 0 : m < 7 ? 1 : 2;      /* drop tails / keep a prefix / and tear it */
    for (size_t k = s->nops; k-- > 0;) {
        pop *op = &s->ops[k];
        if (op->s1 && op->s2)
            continue;
        int drop = s->dir_mode == 0 || (s->dir_mode == 2 && trng_below(rng, 2) == 0);
        if (!drop) {
            s->kept_unsynced++;
            continue;
        }
        if (sim_undo(s, op->r) != 0) {
            snprintf(s->err, sizeof s->err, "undo '%c %.400s': %s", op->r->t, op->r->a, strerror(errno));
            return -1;
        }
        s->undone++;
    }
    size_t gl = strlen(grave);
    for (size_t i = 0; i < s->nnames; i++) {
        pname *n = &s->names[i];
        if (strncmp(n->path, grave, gl) == 0 && n->path[gl] == '/')
            continue;
        if (s->files[n->file].done || s->files[n->file].durable < 0)
            continue;
        if (sim_file(s, n->path, n->file, rng) != 0)
            return -1;
    }
    return 0;
}

/* ================================================================ the parent */

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
    char sim[160];
} klife;

typedef struct kfig {
    uint64_t kills, power_kills, killpoint_kills, recovery_kills;
    uint64_t acked, synced_batches, recovered, unsynced_lost;
    uint64_t lost_synced, lost_acked, partial, holes, bad_checksum, unknown_keys, open_failures, phantom;
    uint64_t undone, kept_unsynced, bytes_dropped, torn, truncated, overwrites;
    uint64_t point_reads, iter_items, child_reopens;
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
    uint64_t point_armed[16], point_taken[16];
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
    {"table.", 12},                 {"version.", 12},
};
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
    uint8_t key[KEY_MAX];
    static uint8_t buf[VAL_MAX];
    size_t kn = key_bytes(idx, key);
    if (present == want->present) {
        if (!present)
            return 0;
        if (vlen == want->vlen) {
            value_bytes(c->seed, want->life, want->id, want->pos, key, kn, want->vlen, buf);
            if (memcmp(buf, v, vlen) == 0)
                return 0;
        }
    }
    ck->bad++;
    uint64_t gid = 0;
    uint32_t gpos = 0, glife = 0;
    const char *kind;
    if (present && value_decode(key, kn, v, vlen, &gid, &gpos, &glife) != 0) {
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
          how, ks_names[k], (int)kn, (const char *)key, kind, want->present ? "present" : "absent", want->id,
          want->pos, want->life, present ? "has it" : "does not", gid, gpos, glife, vlen, ck->P);
    return 1;
}

static int rank_of(uint32_t idx) { return idx == MARKER ? 0 : (int)idx + 1; }

static void check_iter(kcheck *ck, tind_keyspace *ks, int k, int backward)
{
    kctx *c = ck->c;
    tind_iter *it;
    int rc = tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it);
    if (rc) {
        ck->bad++;
        kfail(c, "iterator on '%s': %s (%s)", ks_names[k], tind_strerror(rc), tind_errmsg(NULL));
        return;
    }
    static uint8_t seen[UNIVERSE + 1];
    memset(seen, 0, sizeof seen);
    int last_rank = backward ? 1 << 30 : -1;
    const char *how = backward ? "backward iteration" : "forward iteration";
    for (backward ? tind_iter_last(it) : tind_iter_first(it); tind_iter_valid(it);
         backward ? tind_iter_prev(it) : tind_iter_next(it)) {
        size_t kn, vn;
        const uint8_t *key = tind_iter_key(it, &kn);
        const uint8_t *v = tind_iter_value(it, &vn);
        uint32_t idx;
        c->fig.iter_items++;
        if (key_parse(key, kn, &idx) != 0 || (idx == MARKER && k != 0)) {
            c->fig.unknown_keys++;
            ck->bad++;
            kfail(c, "%s of '%s': unknown key '%.*s' (%zu bytes)", how, ks_names[k], (int)(kn < 80 ? kn : 80),
                  (const char *)key, kn);
            break;
        }
        int r = rank_of(idx);
        if (backward ? r >= last_rank : r <= last_rank) {
            ck->bad++;
            kfail(c, "%s of '%s': key '%.*s' out of order", how, ks_names[k], (int)kn, (const char *)key);
            break;
        }
        last_rank = r;
        seen[idx] = 1;
        check_cell(ck, k, idx, 1, v, vn, how);
    }
    rc = tind_iter_status(it);
    if (rc) {
        ck->bad++;
        kfail(c, "%s of '%s' ended with %s (%s)", how, ks_names[k], tind_strerror(rc), tind_errmsg(NULL));
    }
    tind_iter_free(it);
    for (uint32_t idx = 0; idx <= UNIVERSE; idx++)
        if (!seen[idx] && ck->exp->cell[k][idx].present)
            check_cell(ck, k, idx, 0, NULL, 0, how);
}

static void check_points(kcheck *ck, tind_keyspace *ks, int k)
{
    kctx *c = ck->c;
    uint8_t key[KEY_MAX];
    for (uint32_t idx = 0; idx <= UNIVERSE; idx++) {
        if (idx == MARKER && k != 0)
            continue;
        size_t kn = key_bytes(idx, key);
        void *v = NULL;
        size_t vn = 0;
        int rc = tind_get(ks, key, kn, NULL, &v, &vn);
        c->fig.point_reads++;
        if (rc != TIND_OK && rc != TIND_NOT_FOUND) {
            ck->bad++;
            kfail(c, "get '%.*s' from '%s': %s (%s)", (int)kn, (const char *)key, ks_names[k], tind_strerror(rc),
                  tind_errmsg(NULL));
            return;
        }
        check_cell(ck, k, idx, rc == TIND_OK, v, vn, "point read");
        tind_free(v);
    }
}

/* Opens the recovered database, finds P, checks every invariant. 0 = fine. */
static int verify(kctx *c, klife *L, trng *rng)
{
    tind_db *db = NULL;
    int rc = tind_open(c->dbpath, NULL, &db);
    if (rc) {
        c->fig.open_failures++;
        kfail(c, "the database does not open after the kill: %s (%s)", tind_strerror(rc), tind_errmsg(NULL));
        return -1;
    }
    tind_keyspace *ks[KS_COUNT] = {NULL};
    int missing = 0;
    for (int k = 0; k < KS_COUNT; k++) {
        if (tind_keyspace_exists(db, ks_names[k]) != TIND_OK) {
            missing++;
            if (c->keyspaces_made) {
                kfail(c, "keyspace '%s' is gone after the kill", ks_names[k]);
                tind_close(db);
                return -1;
            }
            continue;
        }
        rc = tind_keyspace_open(db, ks_names[k], NULL, &ks[k]);
        if (rc) {
            c->fig.open_failures++;
            kfail(c, "keyspace '%s' does not open: %s (%s)", ks_names[k], tind_strerror(rc), tind_errmsg(db));
            tind_close(db);
            return -1;
        }
    }
    if (!missing)
        c->keyspaces_made = 1;

    /* P: the batch the marker names */
    uint64_t P = 0;
    if (ks[0]) {
        uint8_t key[KEY_MAX];
        size_t kn = key_bytes(MARKER, key);
        void *v = NULL;
        size_t vn = 0;
        rc = tind_get(ks[0], key, kn, NULL, &v, &vn);
        uint32_t pos, life;
        if (rc == TIND_OK && value_decode(key, kn, v, vn, &P, &pos, &life) != 0) {
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
        gen_batch(c->seed, c->life, id, &b);
        state_apply(c->exp, &b, c->life);
    }
    kcheck ck = {c, P, c->life, c->exp, 0};
    for (int k = 0; k < KS_COUNT; k++) {
        if (!ks[k]) {
            for (uint32_t idx = 0; idx <= UNIVERSE; idx++)
                if (c->exp->cell[k][idx].present)
                    check_cell(&ck, k, idx, 0, NULL, 0, "missing keyspace");
            continue;
        }
        check_iter(&ck, ks[k], k, 0);
        if (trng_below(rng, 2) == 0 || k == 0)
            check_iter(&ck, ks[k], k, 1);
        check_points(&ck, ks[k], k);
    }
    rc = tind_close(db);
    if (rc && !c->fail[0])
        kfail(c, "close after the check: %s", tind_strerror(rc));
    if (ck.bad || c->fail[0])
        return -1;
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
            *deadline = now_sec() + L->delay_ms / 1e3;
        break;
    case 'O':
        c->open_ms = 0.8 * c->open_ms + 0.2 * (strtod(line + 2, NULL) / 1e3);
        break;
    case 'K':
        L->got_K = 1;
        if (!L->recovery_kill && *deadline > 1e299)
            *deadline = now_sec() + L->delay_ms / 1e3;
        break;
    case 'B':
        if (sscanf(line + 2, "%" SCNu64, &id) == 1) {
            L->last_B = id;
            L->have_B = 1;
        }
        break;
    case 'A':
        if (sscanf(line + 2, "%" SCNu64 " %d", &id, &rc) == 2 && rc == 0) {
            L->last_A = id;
            c->fig.acked++;
        }
        break;
    case 'S':
        if (sscanf(line + 2, "%" SCNu64, &id) == 1 && id > L->last_S) {
            L->last_S = id;
            c->fig.synced_batches++;
        }
        break;
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
    char a_pipe[16], a_seed[32], a_life[16], a_next[32], a_bg[16], a_sync[16];
    snprintf(a_pipe, sizeof a_pipe, "%d", fds[1]);
    snprintf(a_seed, sizeof a_seed, "%" PRIu64, c->seed);
    snprintf(a_life, sizeof a_life, "%u", L->life);
    snprintf(a_next, sizeof a_next, "%" PRIu64, L->first_id);
    trng r;
    trng_seed(&r, mix3(c->seed, L->life, 0xb6));
    snprintf(a_bg, sizeof a_bg, "%d", 1 + (int)trng_below(&r, 3));
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

    double t_start = now_sec(), deadline = 1e300;
    int killed = 0;
    char buf[8192];
    size_t have = 0;
    for (;;) {
        double t = now_sec();
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
    trng_seed(&r, mix3(c->seed, L->life, 0x91a));
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
    fprintf(out, "  life %u: %s kill%s, delay %.1f ms%s%s", L->life, L->power ? "power-loss" : "process",
            L->recovery_kill ? " during open" : "", L->delay_ms, L->kill_at[0] ? ", kill point " : "",
            L->kill_at);
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
    rmtree(path);
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
    if (o->dir) {
        snprintf(c->base, sizeof c->base, "%s", o->dir);
        mkdir(c->base, 0755);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(c->base, sizeof c->base, "%s/tind-stress-kill-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(c->base)) {
            fprintf(stderr, "tind-stress kill: mkdtemp %s: %s\n", c->base, strerror(errno));
            return 2;
        }
        c->own_base = 1;
    }
    if (strpbrk(c->base, " \t\n")) {
        fprintf(stderr, "tind-stress kill: the folder must not contain white space: '%s'\n", c->base);
        return 2;
    }
    snprintf(c->dbpath, sizeof c->dbpath, "%s/db", c->base);
    snprintf(c->grave, sizeof c->grave, "%s/grave", c->base);
    snprintf(c->logpath, sizeof c->logpath, "%s/fslog", c->base);
    rmtree(c->dbpath);
#ifdef TIND_KILL_POINTS
    const char *kp = "compiled in";
#else
    const char *kp = "not compiled in (cmake -DTIND_KILL_POINTS=ON)";
#endif
    printf("tind-stress kill: seed=%" PRIu64 " seconds=%g power_loss=%d dir=%s kill_points=%s\n", c->seed,
           o->seconds, o->power_loss, c->base, kp);
    fflush(stdout);

    double t0 = now_sec(), last_report = t0;
    int failed = 0;
    while (now_sec() - t0 < o->seconds) {
        klife *L = &c->log[c->nlog % KILL_LOG];
        memset(L, 0, sizeof *L);
        L->life = ++c->life;
        L->first_id = c->R0 + 1;
        c->nlog++;
        plan_life(c, L);
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
        double tl = now_sec();
        if (run_life(c, L) != 0) {
            failed = 1;
            break;
        }
        c->fig.t_child += now_sec() - tl;
        c->fig.kills++;
        if (L->kill_point >= 0) {
            c->point_armed[L->kill_point]++;
            c->point_taken[L->kill_point] += (uint64_t)L->self_killed;
        }
        trng r;
        trng_seed(&r, mix3(c->seed, L->life, 0x5a7));
        if (L->power) {
            c->fig.power_kills++;
            psim s;
            memset(&s, 0, sizeof s);
            if (sim_power_loss(&s, c->logpath, c->grave, &r) != 0) {
                kfail(c, "power-loss simulation: %s", s.err);
                sim_free(&s);
                failed = 1;
                break;
            }
            snprintf(L->sim, sizeof L->sim,
                     "power loss: %zu log records, dir ops %s (%" PRIu64 " undone), tails %s (%" PRIu64
                     " bytes dropped, %" PRIu64 " torn)",
                     s.nrec, s.dir_mode == 0 ? "dropped" : s.dir_mode == 1 ? "kept" : "at random", s.undone,
                     s.data_mode == 0 ? "dropped" : s.data_mode == 1 ? "cut" : "cut+torn", s.bytes_dropped, s.torn);
            c->fig.undone += s.undone;
            c->fig.kept_unsynced += s.kept_unsynced;
            c->fig.bytes_dropped += s.bytes_dropped;
            c->fig.torn += s.torn;
            c->fig.truncated += s.truncated;
            c->fig.overwrites += s.overwrites;
            sim_free(&s);
            fresh_dir(c->grave);
        }
        tl = now_sec();
        if (verify(c, L, &r) != 0) {
            failed = 1;
            break;
        }
        c->fig.t_verify += now_sec() - tl;
        if (o->verbose)
            print_life(stdout, L);
        if (now_sec() - last_report > 30) {
            last_report = now_sec();
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
        fprintf(stderr, "reproduce: tind-stress kill --seed %" PRIu64 "%s --seconds %g   (kills are timed: the "
                "same seed replays the same batches and plans, not the same instants)\n", c->seed,
                o->power_loss ? " --power-loss" : "", o->seconds);
        fprintf(stderr, "the database is kept in %s\n", c->base);
    }
    if (o->verbose)
        printf("time: children %.1f s, recovery + checks %.1f s\n", f->t_child, f->t_verify);
    printf("figures: kills=%" PRIu64 " power_loss_kills=%" PRIu64 " killpoint_kills=%" PRIu64
           " recovery_kills=%" PRIu64 " batches_acked=%" PRIu64 " synced_acks=%" PRIu64 " batches_recovered=%" PRIu64
           " unsynced_batches_lost=%" PRIu64 " lost_synced=%" PRIu64 " lost_acked=%" PRIu64 " partial=%" PRIu64
           " holes=%" PRIu64 " bad_checksum=%" PRIu64 " unknown_keys=%" PRIu64 " open_failures=%" PRIu64
           " dirops_undone=%" PRIu64 " dirops_kept_unsynced=%" PRIu64 " files_cut=%" PRIu64 " bytes_dropped=%" PRIu64
           " tails_torn=%" PRIu64 " clean_reopens=%" PRIu64 " point_reads=%" PRIu64 " iter_items=%" PRIu64 " seconds=%.0f seed=%" PRIu64 "\n",
           f->kills, f->power_kills, f->killpoint_kills, f->recovery_kills, f->acked, f->synced_batches,
           f->recovered, f->unsynced_lost, f->lost_synced, f->lost_acked, f->partial, f->holes, f->bad_checksum,
           f->unknown_keys, f->open_failures, f->undone, f->kept_unsynced, f->truncated, f->bytes_dropped, f->torn,
           f->child_reopens, f->point_reads, f->iter_items, now_sec() - t0, c->seed);
    fflush(stdout);
    if (!failed && c->own_base)
        rmtree(c->base);
    free(c->state);
    free(c->exp);
    free(c);
    return failed ? 1 : 0;
}
