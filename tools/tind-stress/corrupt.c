/*
 * corrupt.c -- the `corrupt` campaign of tind-stress (TESTING.md item 5):
 * flip bits in and truncate every kind of file of a database, damage whole
 * files, then open it and read everything.
 *
 * A pristine database is built once on the in-memory file system (no
 * background threads, so it is the same for a seed): three keyspaces with
 * different table formats (leveled with LZ4 and a hash index; tiered with
 * zstd and partitioned index and filter; no compression, no filter, restart
 * interval 1), tables on several levels, journals holding records not yet
 * flushed (several journal files), the version file, FORMAT and LOCK. Its
 * files are kept in memory. Each iteration writes them into a fresh mem fs,
 * damages ONE file -- the kinds take turns: journal, table, VERSIONS,
 * FORMAT, LOCK -- by flipping one random bit (60%) or truncating it at a
 * random length (40%; an empty file gets random bytes instead), opens the
 * database and reads everything: a get of every key of every keyspace and a
 * full iteration forward and backward.
 *
 * What is allowed (anything else is a violation; "silent wrong reads" must
 * be 0):
 *   - tind_open fails with TIND_ECORRUPT or TIND_EVERSION; or
 *   - it opens, every keyspace is there, and every read returns exactly the
 *     expected data or fails with TIND_ECORRUPT (an iteration may end early
 *     with TIND_ECORRUPT after returning a correct prefix). Read errors are
 *     only allowed when a table was damaged.
 * The expected data is the pristine state, except after damage to a
 * journal, where the journal's replay rules (journal.h) fix exactly what is
 * lost: damage in a journal that is not the newest, or in the newest one's
 * header, or in a record followed by a record carrying the synced-before
 * flag, must make the open fail; otherwise (a torn tail) the history is cut
 * before the first damaged record: every batch from that record on is lost
 * from the keyspaces that had not flushed it, and nothing else. A cut that
 * drops batches which had been synced is allowed by those rules (a damaged
 * tail is indistinguishable from a torn write) and is counted as
 * `synced_tail_dropped`.
 *
 * Whole files (half of the iterations, and every "other" one): a file of
 * the kind whose turn it is is deleted, emptied, swapped with another of
 * its kind, copied under an unused number (a table, a journal) or as a
 * leftover ".tmp", or replaced by its older copy (the folder is captured
 * mid-history: an older VERSIONS, a journal's shorter prefix, a table
 * compacted away since in place of a live one); "other" adds a stray file
 * (VERSIONS.tmp, notes.txt, misspelt journal and table names). Expected:
 *   - the open fails with TIND_ECORRUPT where the damage must be reported
 *     (VERSIONS or FORMAT gone or empty, a table the version file names
 *     deleted, a kept journal swapped or duplicated: its header names
 *     another number; a kept journal that is not the newest deleted or
 *     cut to an older prefix while it held an operation no table held:
 *     the clean close's mark proves it had been synced);
 *   - it opens and reads exactly where nothing is lost (LOCK, strays, an
 *     orphan table, journals below the version file's oldest_journal);
 *   - either, with exact reads (a table damaged: TIND_ECORRUPT reads) for
 *     the rest: a table swapped, emptied or replaced by an older one (its
 *     identity, docs/FORMAT.md); a kept journal deleted whose operations
 *     were all flushed; an older VERSIONS;
 *   - the newest journal deleted, emptied or cut to an older prefix: the
 *     open may succeed with the history cut at its first lost record; synced
 *     batches lost that way are counted as `synced_lost_by_design`, the
 *     limitation docs/RELIABILITY.md describes (no file left names them).
 *
 * Verify agrees: whenever the open fails or a read fails with
 * TIND_ECORRUPT, the checks `tind verify` makes, through the same library
 * calls (cr_verify), must find at least one problem in the damaged folder;
 * otherwise it is a violation (`verify_missed`).
 *
 * Single-threaded; reproducible from the seed.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "stress.h"
#include "tind_internal.h"

#define CR_NKS 3
#define CR_UNIVERSE 120
#define CR_DB "/db"
#define CR_TABLES CR_DB "/" FNAME_TABLES_DIR
#define CR_JOURNALS CR_DB "/" FNAME_JOURNALS_DIR

/* Keys "key0000".."key0119"; one remove in six operations. */
static const stress_model cr_model = {
    .nks = CR_NKS, .universe = CR_UNIVERSE, .tomb_one_in = 6, .key_prefix = "key", .key_digits = 4,
    .value_salt = 0x5eed, .value_min = 8, .value_span = 120, .big_one_in = 31, .big_min = 900, .big_span = 3000,
};

static const stress_db_sizes cr_sizes = {
    .cache = 64 * 1024, .write_buffer = 1 << 20, .journal_file = 4096, .max_journal = 1 << 20,
    .journal_compression = 400,
};

enum cr_kind { K_JOURNAL, K_TABLE, K_BLOB, K_VERSIONS, K_FORMAT, K_LOCK, K_OTHER, K_COUNT };
static const char *const cr_kind_names[K_COUNT] = {"journal", "table", "blob", "versions", "format", "lock", "other"};

/* Whole-file damage. */
enum cr_whole { W_DELETE, W_EMPTY, W_SWAP, W_DUPLICATE, W_OLDER, W_STRAY, W_COUNT };
static const char *const cr_whole_names[W_COUNT] = {"delete", "empty", "swap", "duplicate", "older", "stray"};
/* What opening and reading must give after it. */
enum cr_expect {
    X_FAIL,   /* the open fails with TIND_ECORRUPT */
    X_EXACT,  /* it opens and every read is exact */
    X_ANY,    /* either; reads exact or (a table damaged) TIND_ECORRUPT */
    X_CUT,    /* either; opened, the state is the history cut at `cut`: a
                 loss no file left can show (counted as a limitation) */
};

/* The kind of an engine-written file by its name; -1 for any other name
 * (temporaries, strays). */
static int cr_kind_of(const char *path)
{
    const char *base = strrchr(path, '/');
    switch (fname_parse(base ? base + 1 : path, NULL)) {
    case FNAME_KIND_JOURNAL: return K_JOURNAL;
    case FNAME_KIND_TABLE: return K_TABLE;
    case FNAME_KIND_BLOB: return K_BLOB;
    case FNAME_KIND_VERSIONS: return K_VERSIONS;
    case FNAME_KIND_FORMAT: return K_FORMAT;
    case FNAME_KIND_LOCK: return K_LOCK;
    default: return -1;
    }
}

/* ------------------------------------------------------------------ the history */

/* Operation j of a batch has the seqno first_seqno + j. */
typedef struct cr_batch {
    int nops;
    stress_op ops[STRESS_MAXOPS];
    uint64_t first_seqno;
    int synced;             /* a successful sync covered it */
} cr_batch;

/* A journal record of the pristine image. */
typedef struct cr_record {
    size_t start, end;      /* byte range in the file */
    uint64_t first_seqno;
    int synced_before;
    int mark;               /* a mark (journal.h): no entries, a witness only */
} cr_record;

typedef struct cr_journal {
    long entry;             /* index in the image */
    uint64_t number;
    cr_record *recs;
    size_t nrecs;
    uint64_t *page_start;   /* --encrypt: each stored page's logical start, length and */
    size_t *page_len;       /* stored offset */
    size_t *page_at;
    size_t npages;
} cr_journal;

typedef struct cr_world {
    const stress_opts *o;
    uint64_t seed;
    int verbose;
    trng r;
    stress_image img;
    cr_batch *b;
    size_t nb, capb;
    uint64_t flushed[CR_NKS];   /* keyspace flushed seqnos of the pristine database */
    cr_journal *journals;       /* ascending number */
    size_t njournals;
    long *files[K_COUNT];        /* image entries of each kind */
    size_t nfiles[K_COUNT];
    int levels_used[CR_NKS];
    uint64_t tables_total;
    stress_image old;           /* the folder earlier in the run (older copies of files) */
    uint64_t oldest_journal;    /* the pristine version file's */
    /* whole-file figures */
    uint64_t whole[W_COUNT], whole_detected, whole_exact, whole_read_errors, by_design_losses;
    /* figures */
    uint64_t tried[K_COUNT], open_failed[K_COUNT], exact[K_COUNT], read_errors[K_COUNT], tail_cut[K_COUNT];
    uint64_t flips, truncations, garbage;
    uint64_t silent_wrong, bad_status, unexpected_open, unexpected_cut, synced_tail_dropped, violations;
    uint64_t verify_runs, verify_missed;
    uint64_t reads;
    stress_shown shown;
    /* the current iteration, for messages */
    int cur_kind;
    char cur_desc[200];
} cr_world;

static void cr_violation(cr_world *w, uint64_t *counter, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void cr_violation(cr_world *w, uint64_t *counter, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (counter)
        (*counter)++;
    w->violations++;
    stress_shown_add(&w->shown, "%.180s: %.210s", w->cur_desc, msg);
    if (w->verbose)
        fprintf(stderr, "VIOLATION %s: %s\n", w->cur_desc, msg);
}

/* ------------------------------------------------------------------ the pristine database */

static const char *const cr_ks_names[CR_NKS] = {"leveled", "tiered", "plain"};

static int cr_open_sized(fs *f, uint64_t journal_file_size, tind_db **db)
{
    stress_db_sizes z = cr_sizes;
    if (journal_file_size)
        z.journal_file = journal_file_size;
    return stress_db_open(f, CR_DB, &z, db);
}

static int cr_open(fs *f, tind_db **db) { return cr_open_sized(f, 0, db); }

static int cr_ks_open(tind_db *db, int k, tind_keyspace **ks)
{
    tind_ks_options *ko = tind_ks_options_new();
    if (!ko)
        return TIND_ENOMEM;
    tind_ks_options_set_levels(ko, 4);
    if (k == 0) {
        /* key-value separation (issue 11): most values go to small blob
         * files, collected eagerly */
        tind_ks_options_set_blob_separation(ko, 1, 64);
        tind_ks_options_set_blob_file_size(ko, 8192);
        tind_ks_options_set_blob_gc(ko, 0.25, 0.25);
        tind_ks_options_set_memtable_size(ko, 3000);
        tind_ks_options_set_table_size(ko, 2048);
        tind_ks_options_set_l0_threshold(ko, 2);
        tind_ks_options_set_level_ratio(ko, 3);
        tind_ks_options_set_block_size(ko, 512);
    } else if (k == 1) {
        tind_ks_options_set_memtable_size(ko, 4096);
        tind_ks_options_set_compaction(ko, TIND_COMPACTION_TIERED);
        tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_ZSTD, 1);
        tind_ks_options_set_partitioning(ko, 1);
        tind_ks_options_set_block_size(ko, 700);
        tind_ks_options_set_l0_threshold(ko, 2);
    } else {
        tind_ks_options_set_memtable_size(ko, 5000);
        tind_ks_options_set_table_size(ko, 4096);
        tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_NONE, 0);
        tind_ks_options_set_bloom_bits(ko, -1, 0);
        tind_ks_options_set_restart_interval(ko, 1);
        tind_ks_options_set_hash_ratio(ko, 0);
        tind_ks_options_set_block_size(ko, 400);
        tind_ks_options_set_l0_threshold(ko, 3);
        tind_ks_options_set_level_ratio(ko, 4);
    }
    int rc = tind_keyspace_open(db, cr_ks_names[k], ko, ks);
    tind_ks_options_free(ko);
    return rc;
}

static int cr_write_batch(cr_world *w, tind_db *db, tind_keyspace **ks, int durability)
{
    if (w->nb == w->capb) {
        size_t cap = w->capb ? w->capb * 2 : 512;
        cr_batch *p = realloc(w->b, cap * sizeof *p);
        if (!p)
            return TIND_ENOMEM;
        w->b = p;
        w->capb = cap;
    }
    cr_batch *b = &w->b[w->nb];
    memset(b, 0, sizeof *b);
    b->nops = stress_draw_ops(&cr_model, &w->r, b->ops);
    tind_batch *tb;
    int rc = tind_batch_new(db, &tb);
    if (rc)
        return rc;
    tind_batch_set_durability(tb, durability);
    rc = stress_batch_add(&cr_model, tb, ks, b->ops, b->nops, (uint32_t)w->nb);
    uint64_t before = tind_internal_last_seqno(db);
    if (!rc)
        rc = tind_batch_commit(tb);
    tind_batch_free(tb);
    if (rc)
        return rc;
    b->first_seqno = before + 1;
    if (tind_internal_last_seqno(db) != before + (uint64_t)b->nops)
        return TIND_EINVAL; /* seqnos are not what the model assumes */
    w->nb++;
    if (durability >= TIND_PERSIST_SYNC_DATA)
        for (size_t i = 0; i < w->nb; i++)
            w->b[i].synced = 1;
    return TIND_OK;
}

static void cr_background(tind_db *db)
{
    for (int i = 0; i < 64; i++)
        if (tind_internal_background_step(db) <= 0)
            break;
}

/* Parses the records of a pristine journal (journal.h's format). */
/* --encrypt: the campaign reads the files it inspects through the
 * decrypting fs (not owned: destroy the result only when it is not mem). */
static fs *cr_view(fs *mem) { return stress_encrypt ? fs_crypt_new(mem, 0, stress_enc_key) : mem; }
static void cr_view_free(fs *view, fs *mem)
{
    if (view != mem)
        fs_destroy(view);
}

/* --encrypt: the pages of a pristine stored journal (their claims), placed
 * as the writer places them (io/fs_crypt.h: a page after a short one
 * shares its slot when FS_CRYPT_MIN_ROOM bytes remain). */
static int cr_parse_pages(cr_journal *j, const uint8_t *d, size_t n)
{
    uint64_t slot = 0;
    size_t pos = 0;
    while (FS_CRYPT_HEADER + slot * FS_CRYPT_PAGE + pos < n) {
        size_t at = FS_CRYPT_HEADER + (size_t)slot * FS_CRYPT_PAGE + pos;
        const uint8_t *p = d + at;
        if (n - at < FS_CRYPT_OVERHEAD || dec_u32(p) != (uint32_t)slot)
            return -1;
        uint64_t *ps = realloc(j->page_start, (j->npages + 1) * sizeof *ps);
        if (ps)
            j->page_start = ps;
        size_t *pl = realloc(j->page_len, (j->npages + 1) * sizeof *pl);
        if (pl)
            j->page_len = pl;
        size_t *pa = realloc(j->page_at, (j->npages + 1) * sizeof *pa);
        if (pa)
            j->page_at = pa;
        if (!ps || !pl || !pa)
            return -1;
        size_t len = dec_u32(p + FS_CRYPT_NONCE + 8);
        j->page_start[j->npages] = dec_u64(p + FS_CRYPT_NONCE);
        j->page_len[j->npages] = len;
        j->page_at[j->npages++] = at;
        size_t end = pos + FS_CRYPT_OVERHEAD + len;
        if (end + FS_CRYPT_MIN_ROOM <= FS_CRYPT_PAGE) {
            pos = end;
        } else {
            slot++;
            pos = 0;
        }
    }
    return 0;
}

static int cr_parse_journal(cr_journal *j, const uint8_t *d, size_t n)
{
    size_t off = JRN_FILE_HEADER_SIZE;
    while (off + JRN_RECORD_HEADER_SIZE <= n) {
        if (dec_u32(d + off) != JRN_RECORD_MARKER)
            return -1;
        uint32_t stored = dec_u32(d + off + 4);
        if (off + JRN_RECORD_HEADER_SIZE + stored > n)
            return -1;
        cr_record *p = realloc(j->recs, (j->nrecs + 1) * sizeof *p);
        if (!p)
            return -1;
        j->recs = p;
        cr_record *r = &j->recs[j->nrecs++];
        r->start = off;
        r->end = off + JRN_RECORD_HEADER_SIZE + stored;
        r->synced_before = (d[off + 8] & JRN_FLAG_SYNCED_BEFORE) != 0;
        r->mark = (d[off + 8] & JRN_FLAG_MARK) != 0;
        r->first_seqno = dec_u64(d + off + 13);
        off = r->end;
    }
    return off == n || n < JRN_FILE_HEADER_SIZE ? 0 : -1;
}

/* The number of the newest journal in the folder; 0 when there is none. */
static uint64_t cr_newest_journal(fs *mem)
{
    char **names = NULL;
    size_t count = 0;
    uint64_t newest = 0, number;
    if (fs_list(mem, CR_JOURNALS, &names, &count, NULL) != TIND_OK)
        return 0;
    for (size_t i = 0; i < count; i++)
        if (fname_parse(names[i], &number) == FNAME_KIND_JOURNAL && number > newest)
            newest = number;
    fs_list_free(names, count);
    return newest;
}

static int cr_build(cr_world *w)
{
    fs *mem = fs_mem_new();
    if (!mem)
        return TIND_ENOMEM;
    tind_db *db;
    int rc = cr_open(mem, &db);
    tind_keyspace *ks[CR_NKS];
    for (int k = 0; k < CR_NKS && !rc; k++)
        rc = cr_ks_open(db, k, &ks[k]);
    /* history: rounds of writes, flushes and compactions; then unflushed
     * writes spanning several journal files */
    for (int round = 0; round < 8 && !rc; round++) {
        for (int i = 0; i < 90 && !rc; i++)
            rc = cr_write_batch(w, db, ks, i % 13 == 12 ? TIND_PERSIST_SYNC_DATA : TIND_PERSIST_NONE);
        cr_background(db);
        if (!rc && round % 3 == 2)
            rc = tind_flush(ks[round % CR_NKS]);
        cr_background(db);
    }
    if (!rc)
        rc = stress_image_capture(mem, "/", &w->old); /* files of an earlier moment */
    if (!rc)
        rc = tind_compact(ks[2]);
    for (int i = 0; i < 60 && !rc; i++)
        rc = cr_write_batch(w, db, ks, i % 17 == 16 ? TIND_PERSIST_SYNC_DATA : TIND_PERSIST_NONE);
    cr_background(db);
    /* the newest journal: many records, some after a sync (their
     * synced-before flag makes damage before them detectable) */
    if (!rc)
        rc = tind_close(db);
    db = NULL;
    if (!rc)
        rc = cr_open_sized(mem, 1 << 20, &db);
    for (int k = 0; k < CR_NKS && !rc; k++)
        rc = cr_ks_open(db, k, &ks[k]);
    for (int i = 0; i < 70 && !rc; i++)
        rc = cr_write_batch(w, db, ks, i % 11 == 10 ? TIND_PERSIST_SYNC_ALL : TIND_PERSIST_NONE);
    /* A write that fills a memtable seals it, and sealing starts a new
     * journal (db/jobs.c): when the last one did, the newest journal is
     * empty and there is no tail to damage (seeds 15 and 16). Write on
     * until a batch lands in the journal it found. */
    for (int i = 0; i < 100 && !rc; i++) {
        uint64_t before = cr_newest_journal(mem);
        rc = cr_write_batch(w, db, ks, TIND_PERSIST_NONE);
        if (!rc && before && cr_newest_journal(mem) == before)
            break;
    }
    if (rc) {
        fprintf(stderr, "corrupt: building the database failed: %s: %s\n", tind_strerror(rc), tind_errmsg(db));
        if (db)
            tind_close(db);
        fs_destroy(mem);
        return rc;
    }
    for (int k = 0; k < CR_NKS; k++) {
        w->flushed[k] = tind_internal_ks_flushed_seqno(ks[k]);
        tind_ks_stats st;
        if (tind_ks_stats_get(ks[k], &st) == TIND_OK)
            for (uint32_t l = 0; l < st.levels && l < TIND_STATS_MAX_LEVELS; l++) {
                w->levels_used[k] += st.tables[l] > 0;
                w->tables_total += st.tables[l];
            }
    }
    rc = tind_close(db); /* syncs the journal: every batch is synced */
    for (size_t i = 0; i < w->nb; i++)
        w->b[i].synced = 1;
    if (!rc)
        rc = stress_image_capture(mem, "/", &w->img);
    fs_destroy(mem);
    if (rc)
        return rc;
    fs *plain_mem = stress_image_load(&w->img, -1, NULL, 0);
    fs *plain = plain_mem ? cr_view(plain_mem) : NULL;
    if (!plain) {
        fs_destroy(plain_mem);
        return TIND_ENOMEM;
    }
    for (size_t i = 0; i < w->img.n; i++) {
        if (w->img.v[i].is_dir)
            continue;
        int kind = cr_kind_of(w->img.v[i].path);
        if (kind < 0)
            continue;
        /* the bytes as the engine reads them (decrypted with --encrypt) */
        uint8_t *bytes = NULL;
        size_t nbytes = 0;
        if ((kind == K_VERSIONS || kind == K_JOURNAL) &&
            fs_read_all(plain, w->img.v[i].path, &bytes, &nbytes, NULL) != TIND_OK) {
            fprintf(stderr, "corrupt: cannot read the pristine '%s'\n", w->img.v[i].path);
            rc = TIND_ECORRUPT;
            break;
        }
        if (kind == K_VERSIONS) {
            mf_state st;
            tind_err err;
            if (manifest_decode(bytes, nbytes, &st, &err) != TIND_OK) {
                fprintf(stderr, "corrupt: the pristine version file does not decode: %s\n", err.msg);
                free(bytes);
                rc = TIND_ECORRUPT;
                break;
            }
            w->oldest_journal = st.oldest_journal;
            mf_state_free(&st);
        }
        long *p = realloc(w->files[kind], (w->nfiles[kind] + 1) * sizeof *p);
        if (!p) {
            free(bytes);
            rc = TIND_ENOMEM;
            break;
        }
        w->files[kind] = p;
        p[w->nfiles[kind]++] = (long)i;
        if (kind == K_JOURNAL) {
            cr_journal *j = realloc(w->journals, (w->njournals + 1) * sizeof *j);
            if (!j) {
                free(bytes);
                rc = TIND_ENOMEM;
                break;
            }
            w->journals = j;
            j = &w->journals[w->njournals++];
            memset(j, 0, sizeof *j);
            j->entry = (long)i;
            const char *base = strrchr(w->img.v[i].path, '/') + 1;
            j->number = strtoull(base, NULL, 10);
            if (cr_parse_journal(j, bytes, nbytes) ||
                (stress_encrypt && cr_parse_pages(j, w->img.v[i].data, w->img.v[i].len))) {
                fprintf(stderr, "corrupt: cannot parse the pristine journal '%s'\n", w->img.v[i].path);
                free(bytes);
                rc = TIND_ECORRUPT;
                break;
            }
        }
        free(bytes);
    }
    cr_view_free(plain, plain_mem);
    fs_destroy(plain_mem);
    if (rc)
        return rc;
    /* journals ascending by number (the image lists them by name, which
     * sorts the same, but do not rely on it) */
    for (size_t i = 1; i < w->njournals; i++)
        for (size_t j = i; j > 0 && w->journals[j - 1].number > w->journals[j].number; j--) {
            cr_journal t = w->journals[j];
            w->journals[j] = w->journals[j - 1];
            w->journals[j - 1] = t;
        }
    for (int k = 0; k < K_COUNT; k++)
        if (!w->nfiles[k] && k != K_OTHER) {
            fprintf(stderr, "corrupt: the pristine database has no %s file\n", cr_kind_names[k]);
            return TIND_EINVAL;
        }
    size_t newest_records = 0;
    for (size_t r = 0; w->njournals && r < w->journals[w->njournals - 1].nrecs; r++)
        newest_records += !w->journals[w->njournals - 1].recs[r].mark;
    if (!newest_records) {
        fprintf(stderr, "corrupt: the newest journal holds no records\n");
        return TIND_EINVAL;
    }
    return TIND_OK;
}

/* ------------------------------------------------------------------ checking */

/* The expected state when the journal history is cut before batch `cut`:
 * an operation survives when its keyspace had flushed it or its batch is
 * before the cut. st = batch number, -1 absent. */
static void cr_state(const cr_world *w, size_t cut, int st[CR_NKS][CR_UNIVERSE])
{
    for (int k = 0; k < CR_NKS; k++)
        for (int i = 0; i < CR_UNIVERSE; i++)
            st[k][i] = -1;
    for (size_t i = 0; i < w->nb; i++)
        for (int j = 0; j < w->b[i].nops; j++) {
            const stress_op *op = &w->b[i].ops[j];
            if (i < cut || w->b[i].first_seqno + (uint64_t)j <= w->flushed[op->ks])
                stress_op_apply(&cr_model, op, st[op->ks], (int)i);
        }
}

/* Batch index of the record whose first seqno is s. */
static long cr_batch_of_seqno(const cr_world *w, uint64_t s)
{
    size_t lo = 0, hi = w->nb;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (w->b[mid].first_seqno < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < w->nb && w->b[lo].first_seqno == s ? (long)lo : -1;
}

enum { EXPECT_FAIL = -2 };

/* What opening must give after journal j was damaged: EXPECT_FAIL, or the
 * cut (batch number) of the history. `flip_at` is the damaged byte, or
 * `trunc_to` the new length (the other is SIZE_MAX). */
static long cr_journal_expect_plain(const cr_world *w, size_t jn, size_t flip_at, size_t trunc_to, size_t len);

/* --encrypt: the same for a journal stored as pages (io/fs_crypt.h): damage
 * to the header's checked bytes fails the file; its other bytes and the
 * unused ends of slots are never read; a damaged page fails the read unless
 * it is in the last slot, where the reader takes it for a torn write (the
 * file then ends where the page starts); a cut ends the file at the end of
 * the last whole page. */
static long cr_journal_expect_encrypted(const cr_world *w, size_t jn, size_t flip_at, size_t trunc_to)
{
    const cr_journal *j = &w->journals[jn];
    size_t logical = j->npages ? (size_t)(j->page_start[j->npages - 1] + j->page_len[j->npages - 1]) : 0;
    if (flip_at != SIZE_MAX) {
        if (flip_at < 48)
            return EXPECT_FAIL;
        size_t i = 0;
        while (i < j->npages && !(flip_at >= j->page_at[i] && flip_at < j->page_at[i] + FS_CRYPT_OVERHEAD + j->page_len[i]))
            i++;
        if (i == j->npages)
            return (long)w->nb;    /* the header's unused bytes, or the unused end of a slot */
        size_t last_slot = (j->page_at[j->npages - 1] - FS_CRYPT_HEADER) / FS_CRYPT_PAGE;
        if ((j->page_at[i] - FS_CRYPT_HEADER) / FS_CRYPT_PAGE != last_slot)
            return EXPECT_FAIL;
        return cr_journal_expect_plain(w, jn, SIZE_MAX, (size_t)j->page_start[i], logical);
    }
    size_t keep = 0;
    for (size_t i = 0; i < j->npages; i++)
        if (j->page_at[i] + FS_CRYPT_OVERHEAD + j->page_len[i] <= trunc_to)
            keep = (size_t)(j->page_start[i] + j->page_len[i]);
    return cr_journal_expect_plain(w, jn, SIZE_MAX, keep, logical);
}

static long cr_journal_expect(const cr_world *w, size_t jn, size_t flip_at, size_t trunc_to)
{
    if (stress_encrypt)
        return cr_journal_expect_encrypted(w, jn, flip_at, trunc_to);
    return cr_journal_expect_plain(w, jn, flip_at, trunc_to, w->img.v[w->journals[jn].entry].len);
}

/* `len`: the journal's (logical) length. */
static long cr_journal_expect_plain(const cr_world *w, size_t jn, size_t flip_at, size_t trunc_to, size_t len)
{
    const cr_journal *j = &w->journals[jn];
    int newest = jn + 1 == w->njournals;
    size_t first_bad; /* index of the first record not replayed */
    if (flip_at != SIZE_MAX) {
        if (!newest)
            return EXPECT_FAIL;
        if (flip_at < JRN_FILE_HEADER_SIZE)
            return len > JRN_FILE_HEADER_SIZE ? EXPECT_FAIL : 0;
        first_bad = 0;
        while (first_bad < j->nrecs && j->recs[first_bad].end <= flip_at)
            first_bad++;
        /* a later intact record that proves the damaged bytes were synced */
        for (size_t r = first_bad + 1; r < j->nrecs; r++)
            if (j->recs[r].synced_before)
                return EXPECT_FAIL;
    } else {
        first_bad = 0;
        while (first_bad < j->nrecs && j->recs[first_bad].end <= trunc_to)
            first_bad++;
    }
    /* marks carry no batch: losing only them loses nothing */
    while (first_bad < j->nrecs && j->recs[first_bad].mark)
        first_bad++;
    if (first_bad >= j->nrecs)
        return (long)w->nb; /* nothing lost */
    if (!newest)
        return EXPECT_FAIL;
    long b = cr_batch_of_seqno(w, j->recs[first_bad].first_seqno);
    return b < 0 ? EXPECT_FAIL : b;
}

/* Reads everything of an opened database and compares with st. Returns the
 * number of read errors (TIND_ECORRUPT) met; wrong data is a violation. */
static uint64_t cr_read_all(cr_world *w, tind_db *db, int st[CR_NKS][CR_UNIVERSE], int allow_errors)
{
    static uint8_t expect[STRESS_VALUE_CAP];
    uint64_t errors = 0;
    for (int k = 0; k < CR_NKS; k++) {
        tind_keyspace *ks = NULL;
        if (tind_keyspace_exists(db, cr_ks_names[k]) != TIND_OK) {
            cr_violation(w, &w->silent_wrong, "keyspace '%s' is gone", cr_ks_names[k]);
            continue;
        }
        int rc = cr_ks_open(db, k, &ks);
        if (rc) {
            cr_violation(w, &w->bad_status, "keyspace '%s' does not open: %s", cr_ks_names[k], tind_errmsg(db));
            continue;
        }
        /* point reads */
        for (int i = 0; i < CR_UNIVERSE; i++) {
            char key[16];
            size_t kn = stress_key(&cr_model, i, key);
            void *v = NULL;
            size_t vn = 0;
            rc = tind_get(ks, key, kn, NULL, &v, &vn);
            w->reads++;
            if (rc == TIND_OK) {
                size_t en =
                    st[k][i] >= 0 ? stress_value(&cr_model, (uint32_t)st[k][i], k, i, expect, sizeof expect) : 0;
                if (st[k][i] < 0 || en != vn || memcmp(v, expect, vn) != 0)
                    cr_violation(w, &w->silent_wrong, "get '%s' %s: wrong value (%zu bytes, want batch %d)",
                                 cr_ks_names[k], key, vn, st[k][i]);
            } else if (rc == TIND_NOT_FOUND) {
                if (st[k][i] >= 0)
                    cr_violation(w, &w->silent_wrong, "get '%s' %s: not found, want batch %d", cr_ks_names[k], key,
                                 st[k][i]);
            } else if (rc == TIND_ECORRUPT && allow_errors) {
                errors++;
            } else {
                cr_violation(w, &w->bad_status, "get '%s' %s: %s: %s", cr_ks_names[k], key, tind_strerror(rc),
                             tind_errmsg(db));
            }
            tind_free(v);
        }
        /* iteration both ways */
        for (int dir = 0; dir < 2; dir++) {
            tind_iter *it;
            rc = tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it);
            if (rc) {
                if (rc == TIND_ECORRUPT && allow_errors)
                    errors++;
                else
                    cr_violation(w, &w->bad_status, "iterator on '%s': %s", cr_ks_names[k], tind_strerror(rc));
                continue;
            }
            int next = dir == 0 ? 0 : CR_UNIVERSE - 1; /* next key id that may appear */
            if (dir == 0)
                tind_iter_first(it);
            else
                tind_iter_last(it);
            int wrong = 0;
            while (tind_iter_valid(it) && !wrong) {
                size_t kn, vn;
                const char *key = tind_iter_key(it, &kn);
                const uint8_t *v = tind_iter_value(it, &vn);
                if (!v)
                    break; /* a blob that could not be loaded: the status below says why */
                int id = stress_key_id(&cr_model, key, kn);
                w->reads++;
                /* every expected key between the last one and this one was skipped? */
                if (id < 0) {
                    cr_violation(w, &w->silent_wrong, "iteration of '%s' returns an unknown key (%zu bytes)",
                                 cr_ks_names[k], kn);
                    wrong = 1;
                    break;
                }
                for (int s = next; dir == 0 ? s < id : s > id; s += dir == 0 ? 1 : -1)
                    if (st[k][s] >= 0) {
                        cr_violation(w, &w->silent_wrong, "%s iteration of '%s' skips key %d (batch %d)",
                                     dir ? "backward" : "forward", cr_ks_names[k], s, st[k][s]);
                        wrong = 1;
                        break;
                    }
                if (wrong)
                    break;
                size_t en =
                    st[k][id] >= 0 ? stress_value(&cr_model, (uint32_t)st[k][id], k, id, expect, sizeof expect) : 0;
                if (st[k][id] < 0 || en != vn || memcmp(v, expect, vn) != 0) {
                    cr_violation(w, &w->silent_wrong, "%s iteration of '%s': key %d: wrong value (want batch %d)",
                                 dir ? "backward" : "forward", cr_ks_names[k], id, st[k][id]);
                    wrong = 1;
                    break;
                }
                next = dir == 0 ? id + 1 : id - 1;
                if (dir == 0)
                    tind_iter_next(it);
                else
                    tind_iter_prev(it);
            }
            rc = tind_iter_status(it);
            if (!wrong && rc == TIND_OK) {
                /* the end: nothing expected may remain */
                for (int s = next; dir == 0 ? s < CR_UNIVERSE : s >= 0; s += dir == 0 ? 1 : -1)
                    if (st[k][s] >= 0) {
                        cr_violation(w, &w->silent_wrong, "%s iteration of '%s' ends before key %d (batch %d)",
                                     dir ? "backward" : "forward", cr_ks_names[k], s, st[k][s]);
                        break;
                    }
            } else if (!wrong) {
                if (rc == TIND_ECORRUPT && allow_errors)
                    errors++;
                else
                    cr_violation(w, &w->bad_status, "%s iteration of '%s': %s: %s", dir ? "backward" : "forward",
                                 cr_ks_names[k], tind_strerror(rc), tind_errmsg(db));
            }
            tind_iter_free(it);
        }
    }
    return errors;
}

/* The cut that explains a journal-damaged state, for a message (-1: none). */
static long cr_find_cut(cr_world *w, tind_db *db)
{
    static int st[CR_NKS][CR_UNIVERSE];
    static int obs[CR_NKS][CR_UNIVERSE];
    for (int k = 0; k < CR_NKS; k++) {
        tind_keyspace *ks;
        for (int i = 0; i < CR_UNIVERSE; i++)
            obs[k][i] = -1;
        if (cr_ks_open(db, k, &ks))
            return -1;
        for (int i = 0; i < CR_UNIVERSE; i++) {
            char key[16];
            size_t kn = stress_key(&cr_model, i, key);
            void *v = NULL;
            size_t vn = 0;
            if (tind_get(ks, key, kn, NULL, &v, &vn) == TIND_OK && vn >= 4)
                obs[k][i] = (int)dec_u32(v);
            tind_free(v);
        }
    }
    for (size_t c = 0; c <= w->nb; c++) {
        cr_state(w, c, st);
        if (memcmp(st, obs, sizeof st) == 0)
            return (long)c;
    }
    return -1;
}



/* ------------------------------------------------------------------ verify agrees */

/* verify decodes every batch entry of every record */
static int cr_verify_record(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload, size_t len)
{
    (void)ctx;
    (void)first_seqno;
    const uint8_t *p = payload, *end = payload + len;
    for (uint32_t i = 0; i < count && p; i++) {
        batch_entry e;
        p = batch_entry_decode(p, end, &e);
    }
    return p == end ? TIND_OK : TIND_ECORRUPT;
}

/* The checks `tind verify` makes (tools/tind/verify.c), through the same
 * library calls, on the damaged folder: FORMAT, manifest_read, every table
 * the version file names (tbl_open, ver_table_check_identity, tbl_verify),
 * every blob file it names (blob_reader_open, its sizes, blob_walk),
 * every journal (jrn_replay; a torn tail or no header before later
 * journals; jrn_chain_need/add/finish). Returns the number of problems.
 * Where the open or a read failed, verify must find at least one. */
static uint64_t cr_verify_plain(fs *mem);

static uint64_t cr_verify(fs *mem)
{
    fs *view = cr_view(mem);
    if (!view)
        return 1;
    uint64_t problems = cr_verify_plain(view);
    cr_view_free(view, mem);
    return problems;
}

static uint64_t cr_verify_plain(fs *mem)
{
    uint64_t problems = 0;
    tind_err err;
    uint8_t *data = NULL;
    size_t len = 0;
    if (fs_read_all(mem, CR_DB "/" FNAME_FORMAT, &data, &len, &err) != TIND_OK || len != 20 ||
        memcmp(data, "TINDFMT1", 8) != 0 || dec_u64(data + 12) != hash64(data, 12) ||
        dec_u32(data + 8) > tind_internal_format_version())
        problems++;
    free(data);
    mf_state st;
    int have_state = manifest_read(mem, CR_DB, &st, &err) == TIND_OK;
    problems += !have_state;
    for (size_t k = 0; have_state && k < st.keyspace_count; k++) {
        const version *v = st.keyspaces[k].v;
        for (int l = 0; l < v->level_count; l++)
            for (size_t i = 0; i < v->levels[l].count; i++) {
                const ver_table *vt = v->levels[l].tables[i];
                char path[128];
                fname_table(CR_TABLES, vt->number, path, sizeof path);
                tbl *t = NULL;
                tbl_open_options oo;
                memset(&oo, 0, sizeof oo);
                oo.file_id = vt->number;
                if (tbl_open(mem, path, &oo, &t, &err) != TIND_OK) {
                    problems++;
                    continue;
                }
                problems += ver_table_check_identity(vt, tbl_get_meta(t), path, &err) != TIND_OK;
                problems += tbl_verify(t, &err) != TIND_OK;
                tbl_unref(t);
            }
        /* blob files: there, the file VERSIONS names, every record sound */
        for (size_t b = 0; b < v->blob_count; b++) {
            const ver_blob *vb = v->blobs[b].file;
            char path[128];
            fname_blob(CR_TABLES, vb->number, path, sizeof path);
            blob_reader *r = NULL;
            if (blob_reader_open(mem, path, vb->number, NULL, NULL, &r, &err) != TIND_OK) {
                problems++;
                continue;
            }
            const blob_file_meta *m = blob_reader_meta(r);
            problems += m->file_size != vb->size || m->count != vb->count || m->bytes != vb->bytes ||
                        blob_walk(r, NULL, NULL, &err) != TIND_OK;
            blob_reader_free(r);
        }
    }
    uint64_t *numbers = NULL;
    size_t count = 0;
    jrn_chain chain = {0, 0, 0, 0};
    if (have_state)
        jrn_chain_need(&chain, st.journal_seqno, st.next_seqno);
    uint64_t oldest = have_state ? st.oldest_journal : 0;
    if (jrn_list(mem, CR_JOURNALS, &numbers, &count, &err) != TIND_OK)
        problems++;
    for (size_t i = 0; i < count; i++) {
        char path[128];
        jrn_path(CR_JOURNALS, numbers[i], path, sizeof path);
        jrn_replay_result res;
        memset(&res, 0, sizeof res);
        if (jrn_replay(mem, path, cr_verify_record, NULL, 0, &res, &err) != TIND_OK) {
            problems++;
            continue;
        }
        int last = i + 1 == count;
        problems += res.truncated && !last;
        problems += !res.has_header && numbers[i] >= oldest && !last;
        if (res.has_header && numbers[i] >= oldest)
            problems += jrn_chain_add(&chain, &res, path, "", &err) != TIND_OK;
    }
    problems += jrn_chain_finish(&chain, CR_JOURNALS, &err) != TIND_OK;
    free(numbers);
    if (have_state)
        mf_state_free(&st);
    return problems;
}

/* The open or a read reported damage: verify must too. */
static void cr_verify_agrees(cr_world *w, fs *mem)
{
    w->verify_runs++;
    if (cr_verify(mem) == 0)
        cr_violation(w, &w->verify_missed, "the open or a read failed but verify finds no problem");
}

/* ------------------------------------------------------------------ one corruption */

/* The open succeeded on damage it must report: a violation, with the cut
 * of the history the state shows. Closes db and destroys mem. */
static void cr_opened_silently(cr_world *w, tind_db *db, fs *mem)
{
    long got = cr_find_cut(w, db);
    cr_violation(w, &w->silent_wrong, "open succeeds on damage it must report (history cut at %ld of %zu%s)", got,
                 w->nb, got < 0 ? ": no prefix of the history explains the state" : "");
    tind_close(db);
    fs_destroy(mem);
}

/* 1 when batch b holds an operation no table held. */
static int cr_batch_unflushed(const cr_world *w, size_t b)
{
    for (int j = 0; j < w->b[b].nops; j++)
        if (w->b[b].first_seqno + (uint64_t)j > w->flushed[w->b[b].ops[j].ks])
            return 1;
    return 0;
}

/* 1 when cutting the history at batch `cut` drops a synced operation no
 * table held. */
static int cr_synced_lost(const cr_world *w, size_t cut)
{
    for (size_t i = cut; i < w->nb; i++)
        if (w->b[i].synced && cr_batch_unflushed(w, i))
            return 1;
    return 0;
}

static void cr_whole_file(cr_world *w, int kind);

static void cr_iteration(cr_world *w, int kind)
{
    /* half the damage is to whole files */
    if (kind == K_OTHER || trng_below(&w->r, 2) == 0) {
        cr_whole_file(w, kind);
        return;
    }
    size_t pick = (size_t)trng_below(&w->r, w->nfiles[kind]);
    long entry = w->files[kind][pick];
    const stress_entry *e = &w->img.v[entry];
    size_t len = e->len;
    uint8_t *data = malloc(len + 64);
    if (!data)
        return;
    if (len)
        memcpy(data, e->data, len);
    size_t flip_at = SIZE_MAX, trunc_to = SIZE_MAX;
    if (len == 0) {
        len = 1 + (size_t)trng_below(&w->r, 64);
        for (size_t i = 0; i < len; i++)
            data[i] = (uint8_t)trng_next(&w->r);
        w->garbage++;
        snprintf(w->cur_desc, sizeof w->cur_desc, "seed %" PRIu64 ": %s '%s': %zu random bytes", w->seed,
                 cr_kind_names[kind], e->path, len);
    } else if (trng_below(&w->r, 10) < 6) {
        uint64_t bit = trng_below(&w->r, (uint64_t)len * 8);
        flip_at = (size_t)(bit / 8);
        data[flip_at] ^= (uint8_t)(1u << (bit % 8));
        w->flips++;
        snprintf(w->cur_desc, sizeof w->cur_desc, "seed %" PRIu64 ": %s '%s' (%zu bytes): bit %" PRIu64 " flipped",
                 w->seed, cr_kind_names[kind], e->path, len, bit);
    } else {
        trunc_to = (size_t)trng_below(&w->r, len);
        w->truncations++;
        snprintf(w->cur_desc, sizeof w->cur_desc, "seed %" PRIu64 ": %s '%s' (%zu bytes): truncated to %zu", w->seed,
                 cr_kind_names[kind], e->path, len, trunc_to);
        len = trunc_to;
    }
    w->tried[kind]++;
    w->cur_kind = kind;

    /* what must happen */
    long expect_cut = (long)w->nb;
    int must_open = kind == K_LOCK; /* the lock's bytes mean nothing */
    if (kind == K_JOURNAL && (flip_at != SIZE_MAX || trunc_to != SIZE_MAX)) {
        size_t jn = 0;
        while (jn < w->njournals && w->journals[jn].entry != entry)
            jn++;
        expect_cut = cr_journal_expect(w, jn, flip_at, trunc_to);
        /* a torn tail of the newest journal is what a power loss leaves:
         * it must open; damage to an older one may always be reported */
        must_open = jn + 1 == w->njournals && expect_cut != EXPECT_FAIL;
    }

    fs *mem = stress_image_load(&w->img, entry, data, len);
    free(data);
    if (!mem)
        return;
    tind_db *db = NULL;
    int rc = cr_open(mem, &db);
    if (rc != TIND_OK) {
        if (rc == TIND_ECORRUPT || rc == TIND_EVERSION) {
            w->open_failed[kind]++;
            if (must_open)
                cr_violation(w, &w->unexpected_open, "open fails (%s: %s) where it should recover", tind_strerror(rc),
                             tind_errmsg(NULL));
            else
                cr_verify_agrees(w, mem);
        } else {
            cr_violation(w, &w->bad_status, "open fails with %s: %s", tind_strerror(rc), tind_errmsg(NULL));
        }
        fs_destroy(mem);
        return;
    }
    if (expect_cut == EXPECT_FAIL) {
        cr_opened_silently(w, db, mem);
        return;
    }
    static int st[CR_NKS][CR_UNIVERSE];
    cr_state(w, (size_t)expect_cut, st);
    uint64_t before = w->violations;
    uint64_t errors = cr_read_all(w, db, st, kind == K_TABLE || kind == K_BLOB);
    if (errors)
        cr_verify_agrees(w, mem);
    if (w->violations != before && kind == K_JOURNAL) {
        long got = cr_find_cut(w, db);
        if (got >= 0 && w->verbose)
            fprintf(stderr, "  (the state is the history cut at %ld; expected %ld)\n", got, expect_cut);
        if (got >= 0)
            w->unexpected_cut++;
    }
    if (w->violations == before) {
        if (errors)
            w->read_errors[kind]++;
        else
            w->exact[kind]++;
        if (expect_cut < (long)w->nb) {
            w->tail_cut[kind]++;
            w->synced_tail_dropped += cr_synced_lost(w, (size_t)expect_cut);
        }
    }
    rc = tind_close(db);
    if (rc && w->violations == before)
        cr_violation(w, &w->bad_status, "close fails: %s", tind_strerror(rc));
    fs_destroy(mem);
}

/* ------------------------------------------------------------------ whole files */

/* A file number no journal or table of the image uses, in 1..max+4. */
static uint64_t cr_unused_number(cr_world *w)
{
    uint64_t max = 0;
    for (int k = K_JOURNAL; k <= K_BLOB; k++)
        for (size_t i = 0; i < w->nfiles[k]; i++) {
            const char *base = strrchr(w->img.v[w->files[k][i]].path, '/') + 1;
            uint64_t n = 0;
            fname_parse(base, &n); /* a journal's or table's: cr_kind_of said so */
            if (n > max)
                max = n;
        }
    for (;;) {
        uint64_t u = 1 + trng_below(&w->r, max + 4);
        char p[64];
        int used = 0;
        fname_journal(CR_JOURNALS, u, p, sizeof p);
        used |= stress_image_find(&w->img, p) >= 0;
        fname_table(CR_TABLES, u, p, sizeof p);
        used |= stress_image_find(&w->img, p) >= 0;
        fname_blob(CR_TABLES, u, p, sizeof p);
        used |= stress_image_find(&w->img, p) >= 0;
        if (!used)
            return u;
    }
}

/* The index in w->journals of the journal at image entry `entry`. */
static size_t cr_journal_index(const cr_world *w, long entry)
{
    size_t jn = 0;
    while (jn < w->njournals && w->journals[jn].entry != entry)
        jn++;
    return jn;
}

/* 1 when a record of journal j from index `from` on holds an operation no
 * table held (a mark holds none). */
static int cr_holds_unflushed(const cr_world *w, const cr_journal *j, size_t from)
{
    for (size_t r = from; r < j->nrecs; r++) {
        long b = j->recs[r].mark ? -1 : cr_batch_of_seqno(w, j->recs[r].first_seqno);
        if (b >= 0 && cr_batch_unflushed(w, (size_t)b))
            return 1;
    }
    return 0;
}

/* What deleting journal jn (or cutting it to `keep` bytes, a prefix) must
 * give: journals below the version file's oldest_journal are never read;
 * a kept journal that is not the newest is covered by its successor's
 * start seqno (rule 6 and the version file's seqnos) and by the clean
 * close's mark (journal.h, "Marks"), which proves it had been synced: the
 * open fails when it held an operation no table held, else nothing is
 * lost (or the gap is reported all the same); the newest one's records
 * after the last version file can be lost without a trace
 * (docs/RELIABILITY.md: a limitation by design). Losing only marks loses
 * nothing. */
static int cr_journal_loss(const cr_world *w, size_t jn, size_t keep, long *cut)
{
    const cr_journal *j = &w->journals[jn];
    *cut = (long)w->nb;
    if (j->number < w->oldest_journal)
        return X_EXACT;
    size_t first_lost = 0;
    while (first_lost < j->nrecs && (j->recs[first_lost].end <= keep || j->recs[first_lost].mark))
        first_lost++;
    if (first_lost >= j->nrecs)
        return X_ANY;
    if (jn + 1 < w->njournals)
        return cr_holds_unflushed(w, j, first_lost) ? X_FAIL : X_ANY;
    *cut = cr_batch_of_seqno(w, j->recs[first_lost].first_seqno);
    return *cut < 0 ? X_FAIL : X_CUT;
}

/* One whole file of `kind` deleted, emptied, swapped with another of its
 * kind, copied under an unused number, replaced by its older copy (or, for
 * a table, by an older table compacted away since), or a stray file added;
 * then the database is opened and read as after byte damage. */
static void cr_whole_file(cr_world *w, int kind)
{
    static int st[CR_NKS][CR_UNIVERSE];
    long entry = -1;
    const stress_entry *e = NULL;
    if (kind != K_OTHER) {
        entry = w->files[kind][trng_below(&w->r, w->nfiles[kind])];
        e = &w->img.v[entry];
    }
    int ops[W_COUNT], nops = 0;
    if (kind == K_OTHER) {
        ops[nops++] = W_STRAY;
    } else {
        ops[nops++] = W_DELETE;
        ops[nops++] = W_EMPTY;
        ops[nops++] = W_DUPLICATE;
        if (w->nfiles[kind] > 1)
            ops[nops++] = W_SWAP;
        if (kind == K_JOURNAL || kind == K_TABLE || kind == K_BLOB || kind == K_VERSIONS)
            ops[nops++] = W_OLDER;
    }
    int op = ops[trng_below(&w->r, (uint64_t)nops)];
    fs *mem = stress_image_load(&w->img, -1, NULL, 0);
    if (!mem)
        return;
    int expect = X_EXACT, rc = TIND_OK;
    long cut = (long)w->nb;
    char other[300] = "";
    switch (op) {
    case W_DELETE:
    case W_EMPTY:
        rc = op == W_DELETE ? fs_unlink(mem, e->path, NULL) : stress_file_put(mem, e->path, NULL, 0);
        if (kind == K_JOURNAL)
            expect = cr_journal_loss(w, cr_journal_index(w, entry), 0, &cut);
        else if (kind == K_TABLE || kind == K_BLOB)
            expect = op == W_DELETE ? X_FAIL : X_ANY; /* a missing table fails the open, an empty one its reads */
        else if (kind == K_LOCK)
            expect = X_EXACT;
        else
            expect = X_FAIL;
        break;
    case W_SWAP: {
        long second = entry;
        while (second == entry)
            second = w->files[kind][trng_below(&w->r, w->nfiles[kind])];
        const stress_entry *f = &w->img.v[second];
        snprintf(other, sizeof other, " with '%s'", f->path);
        rc = stress_file_put(mem, e->path, f->data, f->len);
        if (!rc)
            rc = stress_file_put(mem, f->path, e->data, e->len);
        if (kind == K_JOURNAL) {
            /* a journal's header names its number: any kept one read is refused */
            const cr_journal *a = &w->journals[cr_journal_index(w, entry)];
            const cr_journal *b = &w->journals[cr_journal_index(w, second)];
            expect = a->number < w->oldest_journal && b->number < w->oldest_journal ? X_EXACT : X_FAIL;
        } else {
            expect = X_ANY;
        }
        break;
    }
    case W_DUPLICATE: {
        char path[256];
        if (kind == K_JOURNAL || kind == K_TABLE || kind == K_BLOB) {
            uint64_t u = cr_unused_number(w);
            if (kind == K_JOURNAL)
                fname_journal(CR_JOURNALS, u, path, sizeof path);
            else if (kind == K_BLOB)
                fname_blob(CR_TABLES, u, path, sizeof path);
            else
                fname_table(CR_TABLES, u, path, sizeof path);
            /* a table or blob file under a number no version names is an
             * orphan; a journal's header names another number: refused
             * when read */
            expect = kind != K_JOURNAL || u < w->oldest_journal ? X_EXACT : X_FAIL;
        } else {
            snprintf(path, sizeof path, "%s" FNAME_TEMP_SUFFIX, e->path); /* e.g. a leftover VERSIONS.tmp */
            expect = X_EXACT;
        }
        snprintf(other, sizeof other, " as '%.200s'", path);
        rc = stress_file_put(mem, path, e->data, e->len);
        break;
    }
    case W_OLDER: {
        long o = stress_image_find(&w->old, e->path);
        const stress_entry *src = o >= 0 ? &w->old.v[o] : NULL;
        if (kind == K_TABLE || kind == K_BLOB) {
            /* tables and blob files never change: the older copy is one of
             * its kind deleted since (compacted away, collected) */
            src = NULL;
            for (size_t i = 0, n = trng_below(&w->r, w->old.n); i < w->old.n && !src; i++) {
                const stress_entry *c = &w->old.v[(i + n) % w->old.n];
                if (!c->is_dir && cr_kind_of(c->path) == kind && stress_image_find(&w->img, c->path) < 0)
                    src = c;
            }
            expect = X_ANY;
        } else if (kind == K_JOURNAL) {
            /* journals are appended: the older copy is a prefix */
            if (src && (src->len > e->len || memcmp(src->data, e->data, src->len) != 0))
                src = NULL;
            if (src)
                expect = cr_journal_loss(w, cr_journal_index(w, entry), src->len, &cut);
        } else {
            expect = X_ANY; /* an older version file: its tables or journals are gone, or it still fits */
        }
        if (!src) { /* nothing older: the file goes instead */
            op = W_DELETE;
            rc = fs_unlink(mem, e->path, NULL);
            expect = kind == K_JOURNAL ? cr_journal_loss(w, cr_journal_index(w, entry), 0, &cut) : X_FAIL;
            break;
        }
        snprintf(other, sizeof other, " by '%s' (%zu bytes) of earlier", src->path, src->len);
        rc = stress_file_put(mem, e->path, src->data, src->len);
        break;
    }
    case W_STRAY: {
        /* names the engine never writes: not canonical ("1.tbl"), temporaries, other files */
        static const char *const strays[] = {
            CR_DB "/" FNAME_VERSIONS FNAME_TEMP_SUFFIX,
            CR_DB "/notes.txt",
            CR_TABLES "/1" FNAME_TABLE_SUFFIX,
            CR_TABLES "/00000001" FNAME_TABLE_SUFFIX FNAME_TEMP_SUFFIX,
            CR_JOURNALS "/7" FNAME_JOURNAL_SUFFIX,
            CR_JOURNALS "/00000002" FNAME_JOURNAL_SUFFIX FNAME_TEMP_SUFFIX,
        };
        const char *path = strays[trng_below(&w->r, sizeof strays / sizeof strays[0])];
        uint8_t junk[64];
        size_t n = (size_t)trng_below(&w->r, sizeof junk);
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)trng_next(&w->r);
        snprintf(other, sizeof other, " '%s' (%zu bytes)", path, n);
        rc = stress_file_put(mem, path, junk, n);
        expect = X_EXACT;
        break;
    }
    }
    w->tried[kind]++;
    w->whole[op]++;
    w->cur_kind = kind;
    snprintf(w->cur_desc, sizeof w->cur_desc, "seed %" PRIu64 ": %s %s '%.60s'%.100s", w->seed, cr_whole_names[op],
             cr_kind_names[kind], e ? e->path : "", other);
    if (rc) {
        cr_violation(w, &w->bad_status, "the damage itself failed: %s", tind_strerror(rc));
        fs_destroy(mem);
        return;
    }
    tind_db *db = NULL;
    rc = cr_open(mem, &db);
    if (rc != TIND_OK) {
        if (rc != TIND_ECORRUPT && rc != TIND_EVERSION)
            cr_violation(w, &w->bad_status, "open fails with %s: %s", tind_strerror(rc), tind_errmsg(NULL));
        else if (expect == X_EXACT)
            cr_violation(w, &w->unexpected_open, "open fails (%s) where nothing is lost", tind_errmsg(NULL));
        else {
            w->open_failed[kind]++;
            w->whole_detected++;
            cr_verify_agrees(w, mem);
        }
        fs_destroy(mem);
        return;
    }
    if (expect == X_FAIL) {
        cr_opened_silently(w, db, mem);
        return;
    }
    uint64_t before = w->violations;
    cr_state(w, expect == X_CUT ? (size_t)cut : w->nb, st);
    uint64_t errors = cr_read_all(w, db, st, (kind == K_TABLE || kind == K_BLOB) && expect == X_ANY);
    if (errors)
        cr_verify_agrees(w, mem);
    if (w->violations == before) {
        if (errors) {
            w->read_errors[kind]++;
            w->whole_read_errors++;
        } else {
            w->exact[kind]++;
            w->whole_exact++;
        }
        if (expect == X_CUT && cut < (long)w->nb) {
            w->by_design_losses += cr_synced_lost(w, (size_t)cut);
            w->tail_cut[kind]++;
        }
    }
    rc = tind_close(db);
    if (rc && w->violations == before)
        cr_violation(w, &w->bad_status, "close fails: %s", tind_strerror(rc));
    fs_destroy(mem);
}

int campaign_corrupt(const stress_opts *o)
{
    cr_world *w = calloc(1, sizeof *w);
    if (!w)
        return 1;
    w->o = o;
    w->seed = o->seed ? o->seed : 1;
    w->verbose = o->verbose;
    trng_seed(&w->r, w->seed);
    double t0 = stress_now();
    int rc = cr_build(w);
    if (rc == TIND_OK) {
        /* the pristine image reads back exactly */
        snprintf(w->cur_desc, sizeof w->cur_desc, "seed %" PRIu64 ": pristine", w->seed);
        fs *mem = stress_image_load(&w->img, -1, NULL, 0);
        tind_db *db = NULL;
        rc = mem ? cr_open(mem, &db) : TIND_ENOMEM;
        if (rc == TIND_OK) {
            static int st[CR_NKS][CR_UNIVERSE];
            cr_state(w, w->nb, st);
            cr_read_all(w, db, st, 0);
            tind_close(db);
        } else {
            fprintf(stderr, "corrupt: the pristine database does not open: %s\n", tind_errmsg(NULL));
        }
        fs_destroy(mem);
        if (w->violations)
            rc = TIND_ECORRUPT;
    }
    if (rc) {
        stress_shown_print(&w->shown, w->shown.n);
        fprintf(stderr, "corrupt: could not build a good pristine database (seed %" PRIu64 ")\n", w->seed);
        stress_image_free(&w->img);
        stress_image_free(&w->old);
        free(w);
        return 1;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < w->img.n; i++)
        bytes += w->img.v[i].len;
    if (w->verbose)
        fprintf(stderr, "corrupt: pristine database: %zu files, %zu bytes, %zu batches, %" PRIu64
                        " tables, levels used %d/%d/%d, %zu journals (newest: %zu records)\n",
                w->img.n, bytes, w->nb, w->tables_total, w->levels_used[0], w->levels_used[1], w->levels_used[2],
                w->njournals, w->journals[w->njournals - 1].nrecs);
    if (w->verbose)
        for (size_t j = 0; j < w->njournals; j++)
            fprintf(stderr, "  journal %llu: %zu records, %zu bytes\n", (unsigned long long)w->journals[j].number, w->journals[j].nrecs, w->img.v[w->journals[j].entry].len);

    double budget = o->seconds > 0 ? o->seconds : 120;
    uint64_t iterations = 0;
    while (stress_now() - t0 < budget) {
        cr_iteration(w, (int)(iterations % K_COUNT));
        iterations++;
    }

    stress_shown_print(&w->shown, w->violations);
    uint64_t total = 0;
    for (int k = 0; k < K_COUNT; k++)
        total += w->tried[k];
    printf("figures: campaign=corrupt seed=%" PRIu64 " corruptions=%" PRIu64 " flips=%" PRIu64 " truncations=%" PRIu64
           " garbage=%" PRIu64,
           w->seed, total, w->flips, w->truncations, w->garbage);
    for (int k = 0; k < K_COUNT; k++)
        printf(" %s=%" PRIu64 "/open_failed:%" PRIu64 "/exact:%" PRIu64 "/read_errors:%" PRIu64 "/tail_cut:%" PRIu64,
               cr_kind_names[k], w->tried[k], w->open_failed[k], w->exact[k], w->read_errors[k], w->tail_cut[k]);
    printf(" whole_files=%" PRIu64, w->whole[0] + w->whole[1] + w->whole[2] + w->whole[3] + w->whole[4] + w->whole[5]);
    for (int k = 0; k < W_COUNT; k++)
        printf(" %s=%" PRIu64, cr_whole_names[k], w->whole[k]);
    printf(" whole_detected=%" PRIu64 " whole_exact=%" PRIu64 " whole_read_errors=%" PRIu64
           " synced_lost_by_design=%" PRIu64,
           w->whole_detected, w->whole_exact, w->whole_read_errors, w->by_design_losses);
    printf(" verify_runs=%" PRIu64 " verify_missed=%" PRIu64, w->verify_runs, w->verify_missed);
    printf(" reads=%" PRIu64 " silent_wrong_reads=%" PRIu64 " bad_status=%" PRIu64 " unexpected_open_failures=%" PRIu64
           " synced_tail_dropped=%" PRIu64 " crashes=0 tables=%" PRIu64 " batches=%zu violations=%" PRIu64
           " seconds=%.1f\n",
           w->reads, w->silent_wrong, w->bad_status, w->unexpected_open, w->synced_tail_dropped, w->tables_total, w->nb,
           w->violations, stress_now() - t0);
    fflush(stdout);
    int bad = w->violations != 0;
    stress_image_free(&w->img);
    stress_image_free(&w->old);
    for (int k = 0; k < K_COUNT; k++)
        free(w->files[k]);
    for (size_t j = 0; j < w->njournals; j++) {
        free(w->journals[j].recs);
        free(w->journals[j].page_start);
        free(w->journals[j].page_len);
        free(w->journals[j].page_at);
    }
    free(w->journals);
    free(w->b);
    free(w);
    return bad;
}
