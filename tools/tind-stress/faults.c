/*
 * faults.c -- the `faults` campaign of tind-stress (TESTING.md item 4):
 * SQLite-style I/O error loops over tind.
 *
 * A scripted workload (create a database, create keyspaces, write batches,
 * some synced, flush, compact, read, persist, close and reopen = recovery,
 * more writes with journal rotation, create and delete a keyspace, flush,
 * compact, close) runs on the in-memory file system wrapped in the
 * fault-injecting one, with no background threads so that it makes exactly
 * the same file-system calls every time. For every call kind (open, read,
 * write, sync, size, truncate, ...) and every effect (EIO, ENOSPC, a short
 * write, EMFILE on open; a failed sync is "fsync failure"), once and forever,
 * the Nth call of that kind is failed for N = 1, 2, 3, ... until the whole
 * workload runs without reaching an Nth call. After each injection:
 *   1. the fault surfaces: some call returns an error, unless it hit a call
 *      whose failure is harmless (unlinking an obsolete file, ...); a failed
 *      write or sync of a journal, table, version or format file is never
 *      swallowed;
 *   2. a failed journal write/sync or version-file write poisons the
 *      database: the next write returns TIND_EPOISONED; a failed table or
 *      read call does not;
 *   3. after the fault is disarmed and the database closed (and, every other
 *      run, a simulated power loss that drops unsynced data and directory
 *      entries), the database reopens and holds exactly the state of some
 *      prefix of the batches: every batch acknowledged before a successful
 *      sync is there, no batch is partial, nothing unacknowledged appears
 *      except the batch whose commit failed (all or nothing);
 *   4. no file or lock is left open (a counting wrapper sits on top of the
 *      fault wrapper), and under ASan/LSan no memory leaks (checked with
 *      __lsan_do_recoverable_leak_check when the runtime is present).
 * A second sweep fails the Nth call of tind_open itself on a database left
 * by a simulated power loss (torn journal tail, orphans): the open must fail
 * cleanly or recover, and a clean reopen must then recover the same state.
 * It runs first (it is small). With a time budget (--seconds > 0) the main
 * sweep goes in strided passes (every 8th N of each sweep, then every 4th,
 * ...), so that a short run reaches every kind and phase; `complete=0` in
 * the figures says the budget ran out. --seconds 0 runs everything.
 *
 * Every run is reproducible: TIND_FAULT_ONLY="<kind>,<effect>,<nth>,<forever>"
 * replays one injection verbosely (kind and effect by name, e.g.
 * "sync,EIO,3,0"). Single-threaded; all state hangs off a campaign struct.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "stress.h"
#include "tind_internal.h"

/* Present when linked with the LeakSanitizer runtime (ASan builds). */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

#define FT_NKS 2
#define FT_UNIVERSE 48
#define FT_DB "/db"

/* Keys "k000".."k047"; one remove in five operations. */
static const stress_model ft_model = {
    .nks = FT_NKS, .universe = FT_UNIVERSE, .tomb_one_in = 5, .key_prefix = "k", .key_digits = 3,
    .value_salt = 0, .value_min = 12, .value_span = 90, .big_one_in = 29, .big_min = 1200, .big_span = 2500,
};

/* Small write buffer and journal: the script flushes and rotates often. */
static const stress_db_sizes ft_sizes = {
    .cache = 128 * 1024, .write_buffer = 16 * 1024, .journal_file = 4096, .max_journal = 12 * 1024,
    .journal_compression = 300,
};

/* ------------------------------------------------------------------ phases and call sites */

enum ft_phase {
    PH_CREATE, PH_KEYSPACES, PH_WRITE1, PH_FLUSH, PH_WRITE2, PH_COMPACT, PH_READ, PH_PERSIST,
    PH_CLOSE1, PH_REOPEN, PH_WRITE3, PH_KS_DELETE, PH_FLUSH2, PH_CLOSE, PH_RECOVERY, PH_VERIFY,
    PH_COUNT
};
static const char *const ft_phase_names[PH_COUNT] = {
    "create", "keyspaces", "write", "flush", "write2", "compact", "read", "persist",
    "close", "reopen", "write3", "ks-delete", "flush2", "close2", "recovery", "verify",
};

enum ft_class {
    CL_JOURNAL, CL_TABLE, CL_VERSIONS, CL_FORMAT, CL_LOCK, CL_DIR, CL_OTHER, CL_COUNT
};
static const char *const ft_class_names[CL_COUNT] = {
    "journal", "table", "versions", "format", "lock", "dir", "other",
};

/* The class of a path the engine touches; fs_write_atomic's temporary
 * ("VERSIONS.tmp") counts as the file it replaces. */
static int ft_classify(const char *path)
{
    if (!path)
        return CL_OTHER;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    fname_kind kind = fname_parse(base, NULL);
    char replaced[256];
    size_t len = strlen(base);
    if (kind == FNAME_KIND_TEMP && len < sizeof replaced) {
        memcpy(replaced, base, len - strlen(FNAME_TEMP_SUFFIX));
        replaced[len - strlen(FNAME_TEMP_SUFFIX)] = 0;
        kind = fname_parse(replaced, NULL);
    }
    switch (kind) {
    case FNAME_KIND_JOURNAL: return CL_JOURNAL;
    case FNAME_KIND_TABLE: return CL_TABLE;
    case FNAME_KIND_BLOB: return CL_TABLE; /* blob files: written and read as tables are */
    case FNAME_KIND_VERSIONS: return CL_VERSIONS;
    case FNAME_KIND_FORMAT: return CL_FORMAT;
    case FNAME_KIND_LOCK: return CL_LOCK;
    default: break;
    }
    if (!*base || strcmp(base, FNAME_JOURNALS_DIR) == 0 || strcmp(base, FNAME_TABLES_DIR) == 0 ||
        strcmp(path, FT_DB) == 0)
        return CL_DIR;
    return CL_OTHER;
}

typedef struct ft_sites {
    uint64_t seen[FS_CALL_KINDS][CL_COUNT][PH_COUNT];     /* calls in the fault-free baseline */
    uint64_t injected[FS_CALL_KINDS][CL_COUNT][PH_COUNT]; /* first injections that landed there */
} ft_sites;

/* ------------------------------------------------------------------ a counting wrapper */

/* Sits on top of the fault fs: counts files and locks open in it (a failed
 * open opens nothing; a close always closes, even when it fails) and notes
 * which calls the fault fs failed on purpose, with their path and phase. */
typedef struct cfs {
    fs base;
    fs *inner;                /* the fault fs */
    long open_files;
    long open_locks;
    int phase;
    int api_seq;              /* the driver's API call counter, at each call */
    ft_sites *sites;          /* NULL = do not record */
    int record_seen;
    /* the first injected call since the fs was made */
    int injections;
    int first_kind, first_class, first_phase, first_api_seq, first_rc;
    char first_path[160];
} cfs;

typedef struct cfs_file {
    fs_file base;
    fs_file *inner;
} cfs_file;

typedef struct cfs_lock {
    fs_lock base;
    fs_lock *inner;
} cfs_lock;

static void cfs_note(cfs *c, int kind, const char *path, uint64_t injected_before, int rc)
{
    int cls = ft_classify(path);
    if (c->sites && c->record_seen && c->phase != PH_VERIFY)
        c->sites->seen[kind][cls][c->phase]++;
    if (fs_fault_injected(c->inner) == injected_before)
        return;
    if (c->injections++ == 0) {
        c->first_kind = kind;
        c->first_class = cls;
        c->first_phase = c->phase;
        c->first_api_seq = c->api_seq;
        c->first_rc = rc;
        snprintf(c->first_path, sizeof c->first_path, "%s", path ? path : "");
        if (c->sites)
            c->sites->injected[kind][cls][c->phase]++;
    }
}

#define CFS_INNER(c) (((cfs *)(c))->inner)

static int cfs_open(fs *fsys, const char *path, int flags, fs_file **out, tind_err *err)
{
    cfs *c = (cfs *)fsys;
    *out = NULL;
    cfs_file *f = calloc(1, sizeof *f);
    char *copy = strdup(path);
    if (!f || !copy) {
        free(f);
        free(copy);
        return err_set(err, TIND_ENOMEM, "open '%s': out of memory", path);
    }
    uint64_t before = fs_fault_injected(c->inner);
    int rc = fs_open(c->inner, path, flags, &f->inner, err);
    cfs_note(c, FS_CALL_OPEN, path, before, rc);
    if (rc) {
        free(f);
        free(copy);
        return rc;
    }
    f->base.owner = fsys;
    f->base.path = copy;
    c->open_files++;
    *out = &f->base;
    return TIND_OK;
}

static int cfs_close(fs_file *file, tind_err *err)
{
    cfs_file *f = (cfs_file *)file;
    cfs *c = (cfs *)file->owner;
    uint64_t before = fs_fault_injected(c->inner);
    int rc = fs_close(f->inner, err);
    cfs_note(c, FS_CALL_CLOSE, file->path, before, rc);
    c->open_files--;
    free(file->path);
    free(f);
    return rc;
}

#define CFS_FILE_CALL(kind, call)                                              \
    cfs_file *f = (cfs_file *)file;                                            \
    cfs *c = (cfs *)file->owner;                                               \
    uint64_t before = fs_fault_injected(c->inner);                             \
    int rc = call;                                                             \
    cfs_note(c, kind, file->path, before, rc);                                 \
    return rc

static int cfs_read(fs_file *file, void *buf, size_t n, uint64_t off, size_t *got, tind_err *err)
{
    CFS_FILE_CALL(FS_CALL_READ, fs_read(f->inner, buf, n, off, got, err));
}
static int cfs_write(fs_file *file, const void *buf, size_t n, uint64_t off, tind_err *err)
{
    CFS_FILE_CALL(FS_CALL_WRITE, fs_write(f->inner, buf, n, off, err));
}
static int cfs_sync(fs_file *file, int mode, tind_err *err)
{
    CFS_FILE_CALL(FS_CALL_SYNC, fs_sync(f->inner, mode, err));
}
static int cfs_size(fs_file *file, uint64_t *size, tind_err *err)
{
    CFS_FILE_CALL(FS_CALL_SIZE, fs_size(f->inner, size, err));
}
static int cfs_truncate(fs_file *file, uint64_t size, tind_err *err)
{
    CFS_FILE_CALL(FS_CALL_TRUNCATE, fs_truncate(f->inner, size, err));
}
static int cfs_allocate(fs_file *file, uint64_t off, uint64_t len, int mode, tind_err *err)
{
    CFS_FILE_CALL(FS_CALL_ALLOCATE, fs_allocate(f->inner, off, len, mode, err));
}

#define CFS_PATH_CALL(kind, path, call)                                        \
    cfs *c = (cfs *)fsys;                                                      \
    uint64_t before = fs_fault_injected(c->inner);                             \
    int rc = call;                                                             \
    cfs_note(c, kind, path, before, rc);                                       \
    return rc

static int cfs_rename(fs *fsys, const char *from, const char *to, tind_err *err)
{
    CFS_PATH_CALL(FS_CALL_RENAME, to, fs_rename(CFS_INNER(fsys), from, to, err));
}
static int cfs_link(fs *fsys, const char *from, const char *to, tind_err *err)
{
    CFS_PATH_CALL(FS_CALL_LINK, to, fs_link(CFS_INNER(fsys), from, to, err));
}
static int cfs_unlink(fs *fsys, const char *path, tind_err *err)
{
    CFS_PATH_CALL(FS_CALL_UNLINK, path, fs_unlink(CFS_INNER(fsys), path, err));
}
static int cfs_mkdir(fs *fsys, const char *path, tind_err *err)
{
    CFS_PATH_CALL(FS_CALL_MKDIR, path, fs_mkdir(CFS_INNER(fsys), path, err));
}
static int cfs_rmdir(fs *fsys, const char *path, tind_err *err)
{
    CFS_PATH_CALL(FS_CALL_RMDIR, path, fs_rmdir(CFS_INNER(fsys), path, err));
}
static int cfs_sync_dir(fs *fsys, const char *path, tind_err *err)
{
    CFS_PATH_CALL(FS_CALL_SYNC_DIR, path, fs_sync_dir(CFS_INNER(fsys), path, err));
}
static int cfs_list(fs *fsys, const char *dir, char ***names, size_t *count, tind_err *err)
{
    CFS_PATH_CALL(FS_CALL_LIST, dir, fs_list(CFS_INNER(fsys), dir, names, count, err));
}
static int cfs_exists(fs *fsys, const char *path, int *is_dir)
{
    return fs_exists(CFS_INNER(fsys), path, is_dir);
}

static int cfs_lock_file(fs *fsys, const char *path, int mode, fs_lock **out, tind_err *err)
{
    cfs *c = (cfs *)fsys;
    *out = NULL;
    cfs_lock *l = calloc(1, sizeof *l);
    if (!l)
        return err_set(err, TIND_ENOMEM, "lock '%s': out of memory", path);
    uint64_t before = fs_fault_injected(c->inner);
    int rc = c->inner->ops->lock(c->inner, path, mode, &l->inner, err);
    cfs_note(c, FS_CALL_LOCK, path, before, rc);
    if (rc) {
        free(l);
        return rc;
    }
    l->base.owner = fsys;
    c->open_locks++;
    *out = &l->base;
    return TIND_OK;
}

static int cfs_unlock(fs_lock *lock, tind_err *err)
{
    cfs_lock *l = (cfs_lock *)lock;
    cfs *c = (cfs *)lock->owner;
    int rc = fs_unlock(l->inner, err);
    c->open_locks--;
    free(l);
    return rc;
}

static void cfs_destroy(fs *fsys) { free(fsys); }

static const fs_ops cfs_ops = {
    .open = cfs_open, .close = cfs_close, .read = cfs_read, .write = cfs_write, .sync = cfs_sync,
    .size = cfs_size, .truncate = cfs_truncate, .allocate = cfs_allocate, .rename = cfs_rename,
    .link = cfs_link, .unlink = cfs_unlink, .mkdir = cfs_mkdir, .rmdir = cfs_rmdir,
    .sync_dir = cfs_sync_dir, .list = cfs_list, .exists = cfs_exists, .lock = cfs_lock_file,
    .unlock = cfs_unlock, .destroy = cfs_destroy,
};

static cfs *cfs_new(fs *inner)
{
    cfs *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base.ops = &cfs_ops;
    c->base.name = "counting";
    c->inner = inner;
    return c;
}

/* ------------------------------------------------------------------ the model */

enum { B_OK = 0, B_MAYBE = 1, B_NO = 2 };

typedef struct ft_batch {
    int nops;
    stress_op ops[STRESS_MAXOPS];
    int status;
} ft_batch;

/* ------------------------------------------------------------------ the campaign */

typedef struct campaign {
    const stress_opts *o;
    uint64_t seed;
    ft_sites sites;
    uint64_t runs, injections, recovery_injections;
    uint64_t surfaced, absorbed, poison_checked, no_poison_checked, open_failed_cleanly;
    uint64_t crashes_simulated, reopen_checks, retried_opens;
    uint64_t violations, lost, partial, fd_leaks, swallowed, bad_poison, wrong_reads, unopenable;
    uint64_t nondeterministic_recovery;
    uint64_t leaks;
    int leak_checked;
    int verbose;
    stress_shown shown;
    /* recovery sweep */
    stress_image crashed;
    ft_batch *crashed_batches;
    size_t crashed_nb, crashed_synced;
    int crashed_ks_ok[FT_NKS];
    int baseline_obs[FT_NKS][FT_UNIVERSE];
} campaign;

typedef struct fault_spec {
    int kind;
    int effect;
    int errnum;
    const char *effect_name;
    uint64_t nth;
    int forever;
} fault_spec;

typedef struct run {
    campaign *cp;
    const fault_spec *fault;   /* NULL: the fault-free baseline */
    fs *mem, *ff;
    cfs *cf;
    tind_db *db;
    tind_keyspace *ks[FT_NKS];
    int ks_ok[FT_NKS];         /* created (and acknowledged) */
    ft_batch *b;
    size_t nb, cap;
    size_t synced;             /* batches [0, synced) were acknowledged durable */
    trng r;
    int errors;                /* API calls that failed */
    int first_error_rc;
    char first_error_call[48];
    char first_error_msg[256];
    int violated;
} run;

static void violation(run *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void violation(run *R, const char *fmt, ...)
{
    campaign *cp = R->cp;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    R->violated = 1;
    cp->violations++;
    char where[100] = "baseline";
    if (R->fault)
        snprintf(where, sizeof where, "TIND_FAULT_ONLY=%s,%s,%" PRIu64 ",%d", fs_call_kind_name(R->fault->kind),
                 R->fault->effect_name, R->fault->nth, R->fault->forever);
    stress_shown_add(&cp->shown, "%s: %s", where, msg);
    if (cp->verbose)
        fprintf(stderr, "VIOLATION %s: %s\n", where, msg);
}

static void set_phase(run *R, int phase)
{
    if (R->cf)
        R->cf->phase = phase;
}

/* Notes the result of an API call; returns rc. */
static int api(run *R, const char *what, int rc)
{
    if (R->cf)
        R->cf->api_seq++;
    if (rc == TIND_OK || rc == TIND_NOT_FOUND)
        return rc;
    if (R->errors++ == 0) {
        R->first_error_rc = rc;
        snprintf(R->first_error_call, sizeof R->first_error_call, "%s", what);
        snprintf(R->first_error_msg, sizeof R->first_error_msg, "%s", tind_errmsg(R->db));
    }
    if (R->cp->verbose)
        fprintf(stderr, "  %s -> %s: %s\n", what, tind_strerror(rc), R->db ? tind_errmsg(R->db) : tind_errmsg(NULL));
    return rc;
}

static int ft_open(run *R, fs *f, tind_db **db) { return stress_db_open(f, FT_DB, &ft_sizes, db); }

static const char *const ft_ks_names[FT_NKS] = {"leveled", "tiered"};

static int ft_ks_open(tind_db *db, int k, tind_keyspace **ks)
{
    tind_ks_options *ko = tind_ks_options_new();
    if (!ko)
        return TIND_ENOMEM;
    if (k == 0) {
        /* key-value separation (issue 11): values of >= 40 bytes go to blob files */
        tind_ks_options_set_blob_separation(ko, 1, 40);
        tind_ks_options_set_blob_file_size(ko, 8192);
        tind_ks_options_set_blob_gc(ko, 0.25, 0);
        tind_ks_options_set_memtable_size(ko, 2048);
        tind_ks_options_set_table_size(ko, 2048);
        tind_ks_options_set_l0_threshold(ko, 2);
        tind_ks_options_set_levels(ko, 4);
        tind_ks_options_set_level_ratio(ko, 3);
        tind_ks_options_set_block_size(ko, 512);
    } else {
        tind_ks_options_set_memtable_size(ko, 4096);
        tind_ks_options_set_compaction(ko, TIND_COMPACTION_TIERED);
        tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_ZSTD, 1);
        tind_ks_options_set_partitioning(ko, 1);
        tind_ks_options_set_block_size(ko, 1024);
        tind_ks_options_set_l0_threshold(ko, 2);
    }
    int rc = tind_keyspace_open(db, ft_ks_names[k], ko, ks);
    tind_ks_options_free(ko);
    return rc;
}

static ft_batch *new_batch(run *R)
{
    if (R->nb == R->cap) {
        size_t cap = R->cap ? R->cap * 2 : 256;
        ft_batch *p = realloc(R->b, cap * sizeof *p);
        if (!p)
            return NULL;
        R->b = p;
        R->cap = cap;
    }
    ft_batch *b = &R->b[R->nb++];
    memset(b, 0, sizeof *b);
    return b;
}

/* One random batch of 1..4 operations; durability from the caller. The
 * random choices do not depend on the database's state, so every run makes
 * the same choices up to the injected fault. */
static void do_batch(run *R, int durability)
{
    stress_op ops[STRESS_MAXOPS];
    int nops = stress_draw_ops(&ft_model, &R->r, ops);
    if (!R->db)
        return;
    for (int i = 0; i < nops; i++)
        if (!R->ks[ops[i].ks])
            return; /* its keyspace failed to open: skip */
    tind_batch *tb;
    if (api(R, "batch_new", tind_batch_new(R->db, &tb)))
        return;
    tind_batch_set_durability(tb, durability);
    int rc = stress_batch_add(&ft_model, tb, R->ks, ops, nops, (uint32_t)R->nb);
    if (api(R, "batch_put", rc)) {
        tind_batch_free(tb);
        return;
    }
    ft_batch *b = new_batch(R);
    if (!b) {
        tind_batch_free(tb);
        return;
    }
    b->nops = nops;
    memcpy(b->ops, ops, sizeof ops);
    rc = api(R, "batch_commit", tind_batch_commit(tb));
    tind_batch_free(tb);
    if (rc == TIND_OK) {
        b->status = B_OK;
        if (durability >= TIND_PERSIST_SYNC_DATA)
            R->synced = R->nb;
    } else if (rc == TIND_EPOISONED || rc == TIND_ENOENT || rc == TIND_ECLOSED) {
        b->status = B_NO;     /* refused before the journal */
    } else {
        b->status = B_MAYBE;  /* the record may be in the journal */
    }
}

static int ft_close(run *R, const char *what)
{
    if (!R->db)
        return TIND_OK;
    int poisoned = tind_internal_is_poisoned(R->db);
    tind_db *db = R->db;
    R->db = NULL; /* api() must not ask a freed handle for its message */
    int rc = api(R, what, tind_close(db));
    for (int k = 0; k < FT_NKS; k++)
        R->ks[k] = NULL;
    if (rc == TIND_OK && !poisoned)
        R->synced = R->nb; /* close syncs the journal */
    return rc;
}

/* Opens the database (again); with a once-fault, a failed open is retried. */
static void reopen(run *R, int phase)
{
    set_phase(R, phase);
    int rc = api(R, "open", ft_open(R, &R->cf->base, &R->db));
    if (rc && R->fault && !R->fault->forever) {
        R->cp->retried_opens++;
        rc = api(R, "open (retry)", ft_open(R, &R->cf->base, &R->db));
    }
    if (rc) {
        R->db = NULL;
        return;
    }
    /* keyspaces that exist come back as they were; opening them writes
     * nothing, a missing one would be created (and is then empty) */
    for (int k = 0; k < FT_NKS; k++) {
        R->ks[k] = NULL;
        if (!R->ks_ok[k] && tind_keyspace_exists(R->db, ft_ks_names[k]) != TIND_OK)
            continue;
        if (api(R, "keyspace_open", ft_ks_open(R->db, k, &R->ks[k])))
            R->ks[k] = NULL;
    }
}

static void background(run *R, int max_steps)
{
    for (int i = 0; i < max_steps && R->db; i++) {
        int rc = tind_internal_background_step(R->db);
        if (rc < 0) {
            api(R, "background_step", rc);
            break;
        }
        if (rc == 0)
            break;
    }
}

/* Model state after the batches [0, cut) with the MAYBE ones chosen by mask. */
static void model_state(const ft_batch *b, size_t cut, uint64_t mask, int st[FT_NKS][FT_UNIVERSE])
{
    for (int k = 0; k < FT_NKS; k++)
        for (int i = 0; i < FT_UNIVERSE; i++)
            st[k][i] = -1;
    int mi = 0;
    for (size_t i = 0; i < cut; i++) {
        if (b[i].status == B_NO)
            continue;
        if (b[i].status == B_MAYBE && !((mask >> (mi++ & 63)) & 1))
            continue;
        for (int j = 0; j < b[i].nops; j++)
            stress_op_apply(&ft_model, &b[i].ops[j], st[b[i].ops[j].ks], (int)i);
    }
}

/* Reads a keyspace whole (forward and backward iteration and point gets,
 * which must agree) into obs: the batch that wrote each key, -1 absent.
 * Returns 0, or -1 after recording a violation. */
static int observe(run *R, tind_db *db, tind_keyspace *ks, int k, int obs[FT_UNIVERSE])
{
    static uint8_t expect[STRESS_VALUE_CAP];
    for (int i = 0; i < FT_UNIVERSE; i++)
        obs[i] = -1;
    if (!ks)
        return 0;
    tind_iter *it;
    int rc = tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it);
    if (rc) {
        violation(R, "iterator on '%s' after reopen: %s", ft_ks_names[k], tind_errmsg(db));
        return -1;
    }
    int count = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
        size_t kn, vn;
        const char *key = tind_iter_key(it, &kn);
        const uint8_t *val = tind_iter_value(it, &vn);
        if (!val)
            break; /* a blob that could not be loaded: the status below says why */
        int id = stress_key_id(&ft_model, key, kn);
        if (id < 0 || vn < 7 || val[4] != k || dec_u16(val + 5) != id) {
            violation(R, "'%s': key '%.*s' holds a value no batch wrote (%zu bytes, written for keyspace %d key %d)",
                      ft_ks_names[k], (int)kn, key, vn, vn >= 7 ? val[4] : -1, vn >= 7 ? dec_u16(val + 5) : -1);
            tind_iter_free(it);
            return -1;
        }
        uint32_t batch = dec_u32(val);
        size_t en = stress_value(&ft_model, batch, k, id, expect, sizeof expect);
        if (batch >= R->nb || en != vn || memcmp(expect, val, vn) != 0) {
            violation(R, "'%s': key %d: value of batch %u is damaged (len %zu)", ft_ks_names[k], id, batch, vn);
            tind_iter_free(it);
            return -1;
        }
        obs[id] = (int)batch;
        count++;
    }
    rc = tind_iter_status(it);
    if (rc) {
        violation(R, "'%s': iteration failed after reopen: %s: %s", ft_ks_names[k], tind_strerror(rc),
                  tind_errmsg(db));
        tind_iter_free(it);
        return -1;
    }
    int back = 0;
    for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it))
        back++;
    tind_iter_free(it);
    if (back != count) {
        violation(R, "'%s': forward iteration saw %d keys, backward %d", ft_ks_names[k], count, back);
        return -1;
    }
    for (int i = 0; i < FT_UNIVERSE; i++) {
        char key[16];
        size_t kn = stress_key(&ft_model, i, key);
        void *v = NULL;
        size_t vn = 0;
        rc = tind_get(ks, key, kn, NULL, &v, &vn);
        int got = rc == TIND_OK && vn >= 4 ? (int)dec_u32(v) : -1;
        tind_free(v);
        if ((rc != TIND_OK && rc != TIND_NOT_FOUND) || got != obs[i]) {
            violation(R, "'%s': get of key %d gives %s/%d, iteration %d", ft_ks_names[k], i, tind_strerror(rc), got,
                      obs[i]);
            return -1;
        }
    }
    return 0;
}

/* Is obs the state of some prefix [0, cut) with cut >= lo, choosing each
 * MAYBE batch freely? Returns the cut, or -1 (and tells how it differs). */
static long find_cut(run *R, const ft_batch *b, size_t nb, size_t lo, int obs[FT_NKS][FT_UNIVERSE], char *why,
                     size_t whylen)
{
    static int st[FT_NKS][FT_UNIVERSE];
    size_t best_diff = SIZE_MAX;
    why[0] = 0;
    for (size_t cut = lo; cut <= nb; cut++) {
        int maybes = 0;
        for (size_t i = 0; i < cut; i++)
            maybes += b[i].status == B_MAYBE;
        if (maybes > 10)
            maybes = 10; /* never expected: at most a few commits can fail ambiguously */
        for (uint64_t mask = 0; mask < (UINT64_C(1) << maybes); mask++) {
            model_state(b, cut, mask, st);
            size_t diff = 0;
            int dk = 0, di = 0;
            for (int k = 0; k < FT_NKS; k++)
                for (int i = 0; i < FT_UNIVERSE; i++)
                    if (st[k][i] != obs[k][i]) {
                        if (!diff) {
                            dk = k;
                            di = i;
                        }
                        diff++;
                    }
            if (diff == 0)
                return (long)cut;
            if (diff < best_diff) {
                best_diff = diff;
                snprintf(why, whylen,
                         "closest prefix %zu/%zu (synced %zu) differs in %zu keys, e.g. '%s' key %d: want batch "
                         "%d, got %d",
                         cut, nb, lo, diff, ft_ks_names[dk], di, st[dk][di], obs[dk][di]);
            }
        }
    }
    (void)R;
    return -1;
}

/* Opens the database fault-free and checks it against the batches. Returns
 * 0 when it matches; fills obs (may be NULL). */
static int verify(run *R, const ft_batch *b, size_t nb, size_t lo, const int *ks_ok,
                  int obs_out[FT_NKS][FT_UNIVERSE])
{
    campaign *cp = R->cp;
    static int obs[FT_NKS][FT_UNIVERSE];
    tind_db *db = NULL;
    set_phase(R, PH_VERIFY);
    int rc = ft_open(R, &R->cf->base, &db);
    if (rc) {
        cp->unopenable++;
        violation(R, "the database does not reopen after the fault: %s: %s", tind_strerror(rc), tind_errmsg(NULL));
        return -1;
    }
    cp->reopen_checks++;
    int bad = 0;
    for (int k = 0; k < FT_NKS && !bad; k++) {
        tind_keyspace *ks = NULL;
        if (tind_keyspace_exists(db, ft_ks_names[k]) == TIND_OK) {
            rc = ft_ks_open(db, k, &ks);
            if (rc) {
                violation(R, "keyspace '%s' exists but does not open: %s", ft_ks_names[k], tind_errmsg(db));
                bad = 1;
                break;
            }
        } else if (ks_ok[k]) {
            cp->lost++;
            violation(R, "keyspace '%s' was created (acknowledged) but is gone after reopen", ft_ks_names[k]);
            bad = 1;
            break;
        }
        if (observe(R, db, ks, k, obs[k]))
            bad = 1;
    }
    if (!bad) {
        char why[300];
        long cut = find_cut(R, b, nb, lo, obs, why, sizeof why);
        if (cut < 0) {
            cp->lost++;
            violation(R, "recovered state is no prefix of the acknowledged batches: %s", why);
            bad = 1;
        }
    }
    if (!bad) {
        /* the reopened database takes writes */
        tind_keyspace *ks;
        rc = tind_keyspace_open(db, "after", NULL, &ks);
        if (!rc)
            rc = tind_put(ks, "x", 1, "y", 1);
        if (rc) {
            violation(R, "reopened database refuses writes: %s", tind_errmsg(db));
            bad = 1;
        }
    }
    if (obs_out && !bad)
        memcpy(obs_out, obs, sizeof obs);
    rc = tind_close(db);
    if (rc && !bad) {
        violation(R, "close after verification: %s", tind_errmsg(NULL));
        bad = 1;
    }
    return bad ? -1 : 0;
}

/* The poison rules for the first injected call, when it happened inside a
 * call that left the database open. */
static int must_poison(const cfs *c)
{
    int k = c->first_kind, cl = c->first_class;
    if (cl == CL_JOURNAL && (k == FS_CALL_WRITE || k == FS_CALL_SYNC))
        return 1;
    if (cl == CL_VERSIONS && (k == FS_CALL_OPEN || k == FS_CALL_WRITE || k == FS_CALL_SYNC || k == FS_CALL_RENAME))
        return 1;
    return 0;
}

static int must_not_poison(const cfs *c)
{
    return c->first_class == CL_TABLE || c->first_kind == FS_CALL_READ;
}

/* Right after the first failed API call: does the database poison as it
 * must (and only then)? The probe is an ordinary batch, tracked as such. */
static void poison_probe(run *R)
{
    cfs *c = R->cf;
    if (!R->db || !R->fault || c->injections == 0 || R->errors != 1)
        return;
    if (c->first_api_seq != c->api_seq - 1)
        return; /* the injection did not happen in the failed call (api() counted it) */
    int need = must_poison(c), forbid = !R->fault->forever && must_not_poison(c);
    if (!need && !forbid)
        return;
    int poisoned_before = tind_internal_is_poisoned(R->db);
    int persist_rc = tind_persist(R->db, TIND_PERSIST_BUFFER);
    if (need) {
        R->cp->poison_checked++;
        if (!poisoned_before || persist_rc != TIND_EPOISONED)
            violation(R, "a failed %s of %s ('%s') did not poison the database (persist: %s)",
                      fs_call_kind_name(c->first_kind), ft_class_names[c->first_class], c->first_path,
                      tind_strerror(persist_rc));
    } else {
        R->cp->no_poison_checked++;
        if (poisoned_before) {
            R->cp->bad_poison++;
            violation(R, "a failed %s of %s ('%s') poisoned the database", fs_call_kind_name(c->first_kind),
                      ft_class_names[c->first_class], c->first_path);
        }
    }
}

/* Wraps an API call so that the first failure gets its poison probe. */
#define CALL(R, what, expr)                                                    \
    do {                                                                       \
        int _errs = (R)->errors;                                               \
        if (api((R), (what), (expr)) != TIND_OK && _errs == 0)                 \
            poison_probe(R);                                                   \
    } while (0)

static void write_phase(run *R, int phase, int n, int sync_every)
{
    set_phase(R, phase);
    for (int i = 0; i < n; i++) {
        int dur = (i % sync_every == sync_every - 1) ? TIND_PERSIST_SYNC_DATA : TIND_PERSIST_BUFFER;
        int errs = R->errors;
        do_batch(R, dur);
        if (R->errors && !errs)
            poison_probe(R);
    }
}

static void read_phase(run *R)
{
    set_phase(R, PH_READ);
    if (!R->db)
        return;
    for (int k = 0; k < FT_NKS; k++) {
        if (!R->ks[k])
            continue;
        for (int i = 0; i < FT_UNIVERSE; i += 5) {
            char key[16];
            size_t kn = stress_key(&ft_model, i, key);
            void *v = NULL;
            size_t vn = 0;
            int errs = R->errors;
            api(R, "get", tind_get(R->ks[k], key, kn, NULL, &v, &vn));
            tind_free(v);
            if (R->errors && !errs)
                poison_probe(R);
        }
        tind_iter *it;
        int errs = R->errors;
        if (api(R, "iter", tind_iter_range(R->ks[k], NULL, 0, NULL, 0, NULL, &it)) == TIND_OK) {
            for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it))
                ;
            api(R, "iter_prev", tind_iter_status(it));
            tind_iter_free(it);
        }
        if (R->errors && !errs)
            poison_probe(R);
    }
}

/* The scripted workload, phases in order; `stop_before` ends it early
 * (PH_COUNT = the whole script). */
static void script(run *R, int stop_before)
{
    set_phase(R, PH_CREATE);
    if (api(R, "open (create)", ft_open(R, &R->cf->base, &R->db)) != TIND_OK) {
        R->db = NULL;
        if (R->fault && !R->fault->forever) {
            R->cp->retried_opens++;
            if (api(R, "open (create, retry)", ft_open(R, &R->cf->base, &R->db)) != TIND_OK)
                R->db = NULL;
        }
    }
    if (!R->db)
        return;
    set_phase(R, PH_KEYSPACES);
    for (int k = 0; k < FT_NKS; k++) {
        tind_keyspace *ks = NULL;
        int errs = R->errors;
        if (api(R, "keyspace_open", ft_ks_open(R->db, k, &ks)) == TIND_OK) {
            R->ks[k] = ks;
            R->ks_ok[k] = 1;
        } else if (!errs) {
            poison_probe(R);
        }
    }
    write_phase(R, PH_WRITE1, 120, 7);
    set_phase(R, PH_FLUSH);
    if (R->db && R->ks[0])
        CALL(R, "flush", tind_flush(R->ks[0]));
    {
        int errs = R->errors;
        background(R, 12);
        if (R->errors && !errs)
            poison_probe(R);
    }
    write_phase(R, PH_WRITE2, 120, 9);
    set_phase(R, PH_COMPACT);
    if (R->db && R->ks[0])
        CALL(R, "compact", tind_compact(R->ks[0]));
    if (R->db && R->ks[1])
        CALL(R, "flush", tind_flush(R->ks[1]));
    {
        int errs = R->errors;
        background(R, 12);
        if (R->errors && !errs)
            poison_probe(R);
    }
    read_phase(R);
    set_phase(R, PH_PERSIST);
    if (R->db) {
        size_t nb = R->nb;
        int errs = R->errors;
        if (api(R, "persist", tind_persist(R->db, TIND_PERSIST_SYNC_ALL)) == TIND_OK)
            R->synced = nb;
        else if (!errs)
            poison_probe(R);
    }
    set_phase(R, PH_CLOSE1);
    ft_close(R, "close");
    reopen(R, PH_REOPEN);
    if (stop_before == PH_WRITE3)
        return;
    write_phase(R, PH_WRITE3, 150, 11);
    if (stop_before == PH_KS_DELETE)
        return;
    set_phase(R, PH_KS_DELETE);
    if (R->db) {
        tind_keyspace *tmp = NULL;
        int errs = R->errors;
        if (api(R, "keyspace_open tmp", tind_keyspace_open(R->db, "scratch", NULL, &tmp)) == TIND_OK) {
            api(R, "put tmp", tind_put(tmp, "s", 1, "t", 1));
            api(R, "keyspace_delete", tind_keyspace_delete(R->db, "scratch"));
        }
        if (R->errors && !errs)
            poison_probe(R);
    }
    set_phase(R, PH_FLUSH2);
    if (R->db && R->ks[1])
        CALL(R, "flush", tind_flush(R->ks[1]));
    if (R->db && R->ks[1])
        CALL(R, "compact", tind_compact(R->ks[1]));
    if (R->db && R->ks[0])
        CALL(R, "flush", tind_flush(R->ks[0]));
    set_phase(R, PH_CLOSE);
    ft_close(R, "close");
}

static int run_setup(run *R, campaign *cp, const fault_spec *f, fs *mem)
{
    memset(R, 0, sizeof *R);
    R->cp = cp;
    R->fault = f;
    R->mem = mem ? mem : fs_mem_new();
    R->ff = R->mem ? fs_fault_new(R->mem, 0) : NULL;
    R->cf = R->ff ? cfs_new(R->ff) : NULL;
    if (!R->cf) {
        fs_destroy(R->ff);
        fs_destroy(R->mem);
        return TIND_ENOMEM;
    }
    R->cf->sites = &cp->sites;
    R->cf->record_seen = f == NULL;
    trng_seed(&R->r, cp->seed);
    return TIND_OK;
}

static void run_teardown(run *R)
{
    if (R->db)
        tind_close(R->db);
    R->db = NULL;
    fs_destroy(&R->cf->base);
    fs_destroy(R->ff);
    fs_destroy(R->mem);
    free(R->b);
    R->b = NULL;
}

static void check_fds(run *R, const char *when)
{
    if (R->cf->open_files || R->cf->open_locks) {
        R->cp->fd_leaks++;
        violation(R, "%s: %ld files and %ld locks left open", when, R->cf->open_files, R->cf->open_locks);
    }
}

/* One run of the workload with one armed fault (or none). Returns 1 when
 * the fault fired. */
static int run_one(campaign *cp, const fault_spec *f, int crash)
{
    run R;
    if (run_setup(&R, cp, f, NULL))
        return 0;
    cp->runs++;
    if (f)
        fs_fault_arm(R.ff, f->kind, f->nth, f->effect, f->errnum, f->forever, NULL);
    script(&R, PH_COUNT);
    fs_fault_disarm(R.ff);
    int fired = R.cf->injections > 0;
    set_phase(&R, PH_VERIFY);
    ft_close(&R, "close (after the script)");
    check_fds(&R, "after close");
    if (f && fired) {
        cp->injections++;
        if (R.errors) {
            cp->surfaced++;
        } else {
            cp->absorbed++;
            int k = R.cf->first_kind, cl = R.cf->first_class;
            if ((k == FS_CALL_WRITE || k == FS_CALL_SYNC) &&
                (cl == CL_JOURNAL || cl == CL_TABLE || cl == CL_VERSIONS || cl == CL_FORMAT)) {
                cp->swallowed++;
                violation(&R, "a failed %s of %s ('%s', phase %s) was swallowed: every call succeeded",
                          fs_call_kind_name(k), ft_class_names[cl], R.cf->first_path, ft_phase_names[R.cf->first_phase]);
            }
        }
    }
    if (f && !fired) {
        run_teardown(&R);
        return 0;
    }
    if (crash) {
        cp->crashes_simulated++;
        fs_mem_crash(R.mem, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, cp->seed + cp->runs);
    }
    /* nothing acknowledged lost; without a power loss nothing acknowledged at all */
    verify(&R, R.b, R.nb, crash ? R.synced : R.nb, R.ks_ok, NULL);
    if (!crash) {
        /* every OK batch must be there, so the cut is the end: already
         * required by lo = nb (a MAYBE batch may still go either way) */
    }
    check_fds(&R, "after verification");
    if (cp->verbose && f)
        fprintf(stderr, "  run %s,%s,%" PRIu64 ",%d: first injection %s %s '%s' in %s; %d errors (%s: %s)%s\n",
                fs_call_kind_name(f->kind), f->effect_name, f->nth, f->forever, fs_call_kind_name(R.cf->first_kind),
                ft_class_names[R.cf->first_class], R.cf->first_path, ft_phase_names[R.cf->first_phase], R.errors,
                R.first_error_call, tind_strerror(R.first_error_rc), R.violated ? " VIOLATION" : "");
    run_teardown(&R);
    return 1;
}

/* ------------------------------------------------------------------ the recovery sweep */

/* Builds the crashed image: the script through write3, then a power loss
 * that keeps a random prefix of unsynced data and tears the last sector. */
static int prepare_crashed(campaign *cp)
{
    run R;
    if (run_setup(&R, cp, NULL, NULL))
        return TIND_ENOMEM;
    R.cf->record_seen = 0;
    script(&R, PH_KS_DELETE);
    if (!R.db || R.errors) {
        fprintf(stderr, "faults: the fault-free script failed: %s: %s\n", R.first_error_call, R.first_error_msg);
        run_teardown(&R);
        return TIND_EIO;
    }
    fs_mem_crash(R.mem, FS_CRASH_KEEP_PREFIX | FS_CRASH_TEAR_SECTOR | FS_CRASH_DROP_DIRENTS, cp->seed ^ 0xc0ffee);
    tind_close(R.db); /* its files are stale: the close fails, and frees */
    R.db = NULL;
    int rc = stress_image_capture(R.mem, "/", &cp->crashed);
    cp->crashed_batches = R.b;
    cp->crashed_nb = R.nb;
    cp->crashed_synced = R.synced;
    memcpy(cp->crashed_ks_ok, R.ks_ok, sizeof R.ks_ok);
    R.b = NULL;
    run_teardown(&R);
    if (rc)
        return rc;
    /* the fault-free recovery of that image, for comparison */
    fs *mem = stress_image_load(&cp->crashed, -1, NULL, 0);
    if (!mem)
        return TIND_ENOMEM;
    if (run_setup(&R, cp, NULL, mem))
        return TIND_ENOMEM;
    R.nb = cp->crashed_nb; /* verify() reads batch numbers against nb */
    set_phase(&R, PH_RECOVERY);
    R.cf->record_seen = 1;
    tind_db *db;
    rc = ft_open(&R, &R.cf->base, &db);
    R.cf->record_seen = 0;
    if (rc == TIND_OK)
        tind_close(db);
    if (rc == TIND_OK)
        rc = verify(&R, cp->crashed_batches, cp->crashed_nb, cp->crashed_synced, cp->crashed_ks_ok,
                    cp->baseline_obs);
    run_teardown(&R);
    return rc ? TIND_EIO : TIND_OK;
}

/* The Nth call of `kind` of tind_open fails on the crashed image. Returns 1
 * when the fault fired. */
static int recovery_one(campaign *cp, const fault_spec *f)
{
    fs *mem = stress_image_load(&cp->crashed, -1, NULL, 0);
    if (!mem)
        return 0;
    run R;
    if (run_setup(&R, cp, f, mem))
        return 0;
    R.nb = cp->crashed_nb;
    cp->runs++;
    set_phase(&R, PH_RECOVERY);
    fs_fault_arm(R.ff, f->kind, f->nth, f->effect, f->errnum, f->forever, NULL);
    tind_db *db = NULL;
    int rc = ft_open(&R, &R.cf->base, &db);
    fs_fault_disarm(R.ff);
    int fired = R.cf->injections > 0;
    if (fired) {
        cp->injections++;
        cp->recovery_injections++;
        if (rc)
            cp->surfaced++, cp->open_failed_cleanly++;
        else
            cp->absorbed++;
    }
    if (rc == TIND_OK) {
        rc = tind_close(db);
        if (rc && fired)
            violation(&R, "close after a recovery that succeeded: %s", tind_errmsg(NULL));
    }
    check_fds(&R, "after a faulted recovery");
    if (fired) {
        set_phase(&R, PH_VERIFY);
        static int obs[FT_NKS][FT_UNIVERSE];
        if (verify(&R, cp->crashed_batches, cp->crashed_nb, cp->crashed_synced, cp->crashed_ks_ok, obs) == 0 &&
            memcmp(obs, cp->baseline_obs, sizeof obs) != 0) {
            cp->nondeterministic_recovery++;
            if (cp->verbose)
                fprintf(stderr, "  recovery after %s,%s,%" PRIu64 ": a different (valid) state than the fault-free one\n",
                        fs_call_kind_name(f->kind), f->effect_name, f->nth);
        }
        check_fds(&R, "after verification");
    }
    run_teardown(&R);
    return fired;
}

/* ------------------------------------------------------------------ the sweep */

typedef struct effect_def {
    int effect;
    int errnum;
    const char *name;
    int only_kind;   /* -1 = any */
} effect_def;

static const effect_def ft_effects[] = {
    {FS_FAULT_ERRNO, EIO, "EIO", -1},
    {FS_FAULT_ERRNO, ENOSPC, "ENOSPC", -1},
    {FS_FAULT_SHORT_WRITE, ENOSPC, "short-write", FS_CALL_WRITE},
    {FS_FAULT_ERRNO, EMFILE, "EMFILE", FS_CALL_OPEN},
};
#define FT_NEFFECTS (sizeof ft_effects / sizeof ft_effects[0])

static int parse_only(const char *spec, fault_spec *f)
{
    char kind[32], eff[32];
    unsigned long long nth;
    int forever;
    if (sscanf(spec, "%31[^,],%31[^,],%llu,%d", kind, eff, &nth, &forever) != 4)
        return -1;
    f->kind = -1;
    for (int k = 0; k < FS_CALL_KINDS; k++)
        if (strcmp(fs_call_kind_name(k), kind) == 0)
            f->kind = k;
    const effect_def *e = NULL;
    for (size_t i = 0; i < FT_NEFFECTS; i++)
        if (strcmp(ft_effects[i].name, eff) == 0)
            e = &ft_effects[i];
    if (f->kind < 0 || !e)
        return -1;
    f->effect = e->effect;
    f->errnum = e->errnum;
    f->effect_name = e->name;
    f->nth = nth;
    f->forever = forever;
    return 0;
}

static void print_sites(campaign *cp, FILE *out, int complete, uint64_t *covered, uint64_t *seen_sites)
{
    *covered = *seen_sites = 0;
    for (int k = 0; k < FS_CALL_KINDS; k++)
        for (int c = 0; c < CL_COUNT; c++)
            for (int p = 0; p < PH_COUNT; p++) {
                uint64_t s = cp->sites.seen[k][c][p], i = cp->sites.injected[k][c][p];
                if (!s && !i)
                    continue;
                *seen_sites += s > 0;
                *covered += i > 0;
                if (out && (cp->verbose || (s && !i && complete)))
                    fprintf(out, "  site %-8s %-8s %-10s calls %4" PRIu64 "  injections %5" PRIu64 "%s\n",
                            fs_call_kind_name(k), ft_class_names[c], ft_phase_names[p], s, i,
                            s && !i ? "  NOT COVERED" : "");
            }
}

int campaign_faults(const stress_opts *o)
{
    campaign *cp = calloc(1, sizeof *cp);
    if (!cp)
        return 1;
    cp->o = o;
    cp->seed = o->seed ? o->seed : 1;
    cp->verbose = o->verbose;
    double t0 = stress_now();
    double budget = o->seconds > 0 ? o->seconds : 1e9;
    int complete = 1;

    const char *only = getenv("TIND_FAULT_ONLY");
    if (only) {
        fault_spec f;
        if (parse_only(only, &f)) {
            fprintf(stderr, "faults: TIND_FAULT_ONLY wants <kind>,<effect>,<nth>,<forever>\n");
            free(cp);
            return 1;
        }
        cp->verbose = 1;
        int fired = run_one(cp, &f, 0);
        if (fired)
            run_one(cp, &f, 1);
        fprintf(stderr, "faults: %s fired=%d violations=%" PRIu64 "\n", only, fired, cp->violations);
        int bad = cp->violations != 0;
        free(cp);
        return bad;
    }

    /* the fault-free baseline: records the call sites, must pass itself */
    run_one(cp, NULL, 0);
    run_one(cp, NULL, 1);
    if (cp->violations) {
        fprintf(stderr, "faults: the fault-free baseline fails:\n");
        for (size_t i = 0; i < cp->shown.n; i++)
            fprintf(stderr, "  %s\n", cp->shown.text[i]);
        free(cp);
        return 1;
    }
    uint64_t calls[FS_CALL_KINDS] = {0};
    for (int k = 0; k < FS_CALL_KINDS; k++)
        for (int c = 0; c < CL_COUNT; c++)
            for (int p = 0; p < PH_COUNT; p++)
                calls[k] += cp->sites.seen[k][c][p];
    /* each baseline run counted its calls once; we ran it twice */
    for (int k = 0; k < FS_CALL_KINDS; k++)
        calls[k] /= 2;
    for (int k = 0; k < FS_CALL_KINDS; k++)
        for (int c = 0; c < CL_COUNT; c++)
            for (int p = 0; p < PH_COUNT; p++)
                cp->sites.seen[k][c][p] /= 2;

    /* Faults during recovery from a power loss: small, so it runs first
     * (with at most 30% of a time budget). */
    double recovery_deadline = o->seconds > 0 ? budget * 0.3 : budget;
    if (prepare_crashed(cp) != TIND_OK) {
        fprintf(stderr, "faults: could not prepare the crashed image\n");
        cp->violations++;
    } else {
        uint64_t rcalls[FS_CALL_KINDS] = {0};
        for (int k = 0; k < FS_CALL_KINDS; k++)
            for (int c = 0; c < CL_COUNT; c++)
                rcalls[k] += cp->sites.seen[k][c][PH_RECOVERY];
        int stop = 0;
        for (int kind = 0; kind < FS_CALL_KINDS && !stop; kind++) {
            if (!rcalls[kind])
                continue;
            for (size_t e = 0; e < FT_NEFFECTS && !stop; e++) {
                if (ft_effects[e].only_kind >= 0 && ft_effects[e].only_kind != kind)
                    continue;
                for (int forever = 0; forever < 2 && !stop; forever++)
                    for (uint64_t nth = 1; nth < rcalls[kind] * 4 + 64; nth++) {
                        if (stress_now() - t0 > recovery_deadline) {
                            stop = 1;
                            complete = 0;
                            break;
                        }
                        fault_spec f = {kind, ft_effects[e].effect, ft_effects[e].errnum, ft_effects[e].name, nth,
                                        forever};
                        if (!recovery_one(cp, &f))
                            break;
                    }
            }
        }
    }

    /* The sweep: for each kind, effect and mode, N = 1, 2, ... until the
     * script no longer reaches the Nth call. Under a time budget the first
     * pass takes every 8th N of each sweep and the later passes fill in, so
     * a short run still touches every kind and phase. */
    static const uint64_t strides[] = {8, 4, 2, 1};
    uint64_t pass_runs = 0;
    int out_of_time = 0;
    for (size_t pass = 0; pass < sizeof strides / sizeof strides[0]; pass++) {
        uint64_t stride = strides[pass];
        for (int kind = 0; kind < FS_CALL_KINDS && !out_of_time; kind++) {
            if (!calls[kind])
                continue;
            for (size_t e = 0; e < FT_NEFFECTS && !out_of_time; e++) {
                if (ft_effects[e].only_kind >= 0 && ft_effects[e].only_kind != kind)
                    continue;
                for (int forever = 0; forever < 2 && !out_of_time; forever++) {
                    for (uint64_t nth = 1;; nth++) {
                        /* pass p runs the N that earlier passes skipped */
                        if ((nth - 1) % stride != 0)
                            continue;
                        if (pass > 0 && (nth - 1) % strides[pass - 1] == 0)
                            continue;
                        if (stress_now() - t0 > budget) {
                            out_of_time = 1;
                            complete = 0;
                            break;
                        }
                        fault_spec f = {kind, ft_effects[e].effect, ft_effects[e].errnum, ft_effects[e].name, nth,
                                        forever};
                        pass_runs++;
                        if (!run_one(cp, &f, (int)(pass_runs & 1)))
                            break;
                        if (nth > calls[kind] * 4 + 64)
                            break; /* a script that keeps reaching new calls */
                    }
                }
            }
        }
    }

    if (__lsan_do_recoverable_leak_check) {
        cp->leak_checked = 1;
        cp->leaks = __lsan_do_recoverable_leak_check() ? 1 : 0;
        if (cp->leaks)
            cp->violations++;
    }

    uint64_t covered, seen_sites;
    print_sites(cp, stderr, complete, &covered, &seen_sites);
    stress_shown_print(&cp->shown, cp->violations);
    int kinds = 0;
    for (int k = 0; k < FS_CALL_KINDS; k++)
        kinds += calls[k] > 0;
    printf("figures: campaign=faults seed=%" PRIu64 " complete=%d runs=%" PRIu64 " injections=%" PRIu64
           " recovery_injections=%" PRIu64 " call_kinds=%d call_sites=%" PRIu64 " call_sites_injected=%" PRIu64
           " surfaced=%" PRIu64 " absorbed=%" PRIu64 " poison_checks=%" PRIu64 " no_poison_checks=%" PRIu64
           " power_losses=%" PRIu64 " reopen_checks=%" PRIu64 " crashes=0 leaks=%s lost=%" PRIu64
           " fd_leaks=%" PRIu64 " swallowed=%" PRIu64 " bad_poison=%" PRIu64 " unopenable=%" PRIu64
           " recovery_differs=%" PRIu64 " violations=%" PRIu64 " seconds=%.1f\n",
           cp->seed, complete, cp->runs, cp->injections, cp->recovery_injections, kinds, seen_sites, covered,
           cp->surfaced, cp->absorbed, cp->poison_checked, cp->no_poison_checked, cp->crashes_simulated,
           cp->reopen_checks, cp->leak_checked ? (cp->leaks ? "1" : "0") : "unchecked", cp->lost, cp->fd_leaks,
           cp->swallowed, cp->bad_poison, cp->unopenable, cp->nondeterministic_recovery, cp->violations,
           stress_now() - t0);
    fflush(stdout);
    int bad = cp->violations != 0 || covered < seen_sites;
    if (covered < seen_sites && complete)
        fprintf(stderr, "faults: %" PRIu64 " call sites saw calls but no injection\n", seen_sites - covered);
    if (!complete)
        bad = cp->violations != 0; /* a budget-limited run covers what it can */
    stress_image_free(&cp->crashed);
    free(cp->crashed_batches);
    free(cp);
    return bad;
}
