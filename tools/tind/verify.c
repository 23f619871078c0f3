/*
 * verify.c -- `verify`: checks every file of a database folder, without
 * needing the database to open.
 *
 *   FORMAT     size, magic, checksum, format version
 *   VERSIONS   manifest_read (magic, checksum, every field, the version
 *              invariants of version.h)
 *   tables     for each table the VERSIONS file names (or, when it cannot be
 *              read, every *.tbl in tables/):
 *                1. physical: the container trailer and table of contents;
 *                   the sections, in order, cover the file up to the table of
 *                   contents with no gap; each section is a run of stored
 *                   blocks and every block's header and checksum verify
 *                   (blockio_read), so any damaged byte is reported with the
 *                   offset of the block that holds it;
 *                2. logical (when 1 found nothing): tbl_open + tbl_verify, i.e.
 *                   entry order across blocks, index and filter agreement,
 *                   counts and key ranges against the metadata;
 *                3. the table's identity against its entry in VERSIONS
 *                   (ver_table_check_identity, the engine's own check when
 *                   it opens a table): file number and table id, size,
 *                   counts, seqno range and key range.
 *              A table VERSIONS names whose file is missing is a problem;
 *              other files of tables/ (orphans, names fname_parse does not
 *              read as a table's, temporaries) are notes, since the next
 *              open deletes them.
 *   journals   each journal in journals/ replayed (jrn_replay, read-only):
 *              headers, record checksums, record rules, and every batch entry
 *              of every record decoded (batch_entry_decode) with nothing left
 *              over; seqnos increase across journals. A torn tail is normal
 *              in the last journal (a crash mid-write; the next open cuts it)
 *              and a problem in any other; so is a journal without an intact
 *              header before others. As at recovery (jrn_chain_*), the kept
 *              journals meet exactly and start at or before the seqno from
 *              which VERSIONS needs them (a needed journal deleted, or all).
 *
 *   blob files for each blob file VERSIONS names (key-value separation): it is
 *              there, its container and metadata verify and match VERSIONS
 *              (number, size, counts), every record's checksum and sizes
 *              verify (blob_walk); then every ENTRY_BLOB pointer of every
 *              table is read through its file (blob_read: the record at its
 *              offset, with the pointer's sizes and a checksum that covers
 *              the offset and file number). A blob file VERSIONS does not
 *              name is a note (an orphan).
 *
 * Each problem is one line "problem: FILE: ... offset N ...". verify fails
 * (SH_FAIL) when there is at least one.
 *
 * Concurrency: when the shell has the database open, background work is
 * paused while files are read (tind_internal_pause_background returns once no
 * flush or compaction runs, and none starts until verify resumes it; the
 * shell's own thread is the only writer), so the VERSIONS file and the
 * tables it names cannot change underneath. Otherwise verify takes the
 * folder's LOCK when it can (shared under --read-only: other read-only opens
 * may coexist), so that no writer opens the database meanwhile; when another
 * process holds it, verify says so and reads anyway.
 */
#include "shell.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tind_internal.h"

/* The FORMAT file, as db.c writes it: "TINDFMT1" | u32 format version |
 * u64 xxh3-64 of the first 12 bytes. */
#define VFY_FORMAT_MAGIC "TINDFMT1"
#define VFY_FORMAT_SIZE 20

typedef struct vfy {
    tsh *sh;
    fs *fs;
    const char *dir;
    int verbose;
    uint64_t problems;
    uint64_t notes;
    uint64_t tables, blocks, entries;
    uint64_t journals, records, journal_entries;
    uint64_t blob_files, blob_records, blob_pointers;
    sh_progress meter;            /* files checked */
} vfy;

static void problem(vfy *v, const char *file, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(vfy *v, const char *file, const char *fmt, ...)
{
    char msg[TIND_ERRMSG_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *c = msg; *c; c++)
        if (*c == '\n')
            *c = ' ';
    /* library messages usually name the file already */
    if (strstr(msg, file))
        fprintf(v->sh->out, "problem: %s\n", msg);
    else
        fprintf(v->sh->out, "problem: %s: %s\n", file, msg);
    v->problems++;
}

static void note(vfy *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(vfy *v, const char *fmt, ...)
{
    va_list ap;
    fputs("note: ", v->sh->out);
    va_start(ap, fmt);
    vfprintf(v->sh->out, fmt, ap);
    va_end(ap);
    fputc('\n', v->sh->out);
    v->notes++;
}

/* ------------------------------------------------------------------ FORMAT */

static void verify_format(vfy *v)
{
    char *path = fname_join(v->dir, FNAME_FORMAT);
    if (!path)
        return;
    uint8_t *data = NULL;
    size_t len = 0;
    tind_err err;
    err_clear(&err);
    int rc = fs_read_all(v->fs, path, &data, &len, &err);
    if (rc == TIND_ENOENT)
        problem(v, path, "missing (every database has one)");
    else if (rc)
        problem(v, path, "%s", err.msg);
    else if (len != VFY_FORMAT_SIZE)
        problem(v, path, "offset 0: %zu bytes, not %d", len, VFY_FORMAT_SIZE);
    else if (memcmp(data, VFY_FORMAT_MAGIC, 8) != 0)
        problem(v, path, "offset 0: bad magic (not a tind database)");
    else if (dec_u64(data + 12) != hash64(data, 12))
        problem(v, path, "offset 12: checksum mismatch");
    else if (dec_u32(data + 8) > tind_internal_format_version())
        problem(v, path, "offset 8: database format %u is newer than this tind reads (%u)", dec_u32(data + 8),
                tind_internal_format_version());
    else if (v->verbose)
        fprintf(v->sh->out, "ok: %s (database format %u)\n", path, dec_u32(data + 8));
    free(data);
    free(path);
}

/* ------------------------------------------------------------------ tables */

typedef struct section_ref {
    const ctr_section *s;
} section_ref;

static int cmp_section(const void *a, const void *b)
{
    const ctr_section *x = ((const section_ref *)a)->s, *y = ((const section_ref *)b)->s;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Walks every stored block of the file; returns 1 when all verified. */
static int table_physical(vfy *v, const char *path, fs_file *f, uint64_t size)
{
    tind_err err;
    err_clear(&err);
    ctr_toc *toc = malloc(sizeof *toc);
    if (!toc) {
        problem(v, path, "out of memory");
        return 0;
    }
    uint64_t before = v->problems;
    int rc = ctr_read_toc(f, size, TABLE_FORMAT_VERSION, toc, path, &err);
    if (rc) {
        problem(v, path, "%s", err.msg);
        free(toc);
        return 0;
    }
    uint8_t trailer[CTR_TRAILER_SIZE];
    rc = fs_read_exact(f, trailer, sizeof trailer, size - CTR_TRAILER_SIZE, &err);
    if (rc) {
        problem(v, path, "%s", err.msg);
        free(toc);
        return 0;
    }
    uint64_t toc_offset = dec_u64(trailer);
    /* a zstd dictionary (format 3) decodes the data blocks; when it cannot
     * be loaded, its own block or the data blocks report the problem */
    zdict *dict = NULL;
    const ctr_section *ds = ctr_find(toc, "dict");
    if (ds && ds->length <= (64u << 20) && ds->offset + ds->length <= size) {
        uint8_t *db = malloc(ds->length ? (size_t)ds->length : 1);
        if (db && fs_read_exact(f, db, (size_t)ds->length, ds->offset, &err) == TIND_OK &&
            zdict_from_stored(db, (size_t)ds->length, &dict, path, &err) != TIND_OK)
            problem(v, path, "%s", err.msg);
        free(db);
    }
    section_ref refs[CTR_MAX_SECTIONS];
    for (uint32_t i = 0; i < toc->count; i++)
        refs[i].s = &toc->sections[i];
    qsort(refs, toc->count, sizeof refs[0], cmp_section);
    uint64_t at = 0;
    for (uint32_t i = 0; i < toc->count; i++) {
        const ctr_section *s = refs[i].s;
        if (s->offset != at)
            problem(v, path, "offset %" PRIu64 ": %" PRIu64 " bytes belong to no section (before section '%s')", at,
                    s->offset - at, s->name);
        uint64_t off = s->offset, end = s->offset + s->length;
        while (off < end) {
            if (end - off < BLOCK_HEADER_SIZE) {
                problem(v, path, "offset %" PRIu64 ": section '%s' ends with %" PRIu64 " bytes, too few for a block",
                        off, s->name, end - off);
                break;
            }
            uint8_t head[BLOCK_HEADER_SIZE];
            rc = fs_read_exact(f, head, sizeof head, off, &err);
            if (rc) {
                problem(v, path, "offset %" PRIu64 ": %s", off, err.msg);
                break;
            }
            uint64_t bsize = BLOCK_HEADER_SIZE + (uint64_t)dec_u32(head + 5);
            if (bsize > end - off) {
                problem(v, path,
                        "block at offset %" PRIu64 ": %" PRIu64 " bytes would run past the end of section '%s' "
                        "(offset %" PRIu64 ")",
                        off, bsize, s->name, end);
                break;
            }
            uint8_t *raw = NULL;
            size_t raw_len = 0;
            char what[4200];
            snprintf(what, sizeof what, "%s: section '%s'", path, s->name);
            rc = dict && !strcmp(s->name, "data")
                     ? blockio_read_with(f, (blk_handle){off, bsize}, zdict_decompress, dict, &raw, &raw_len, what, &err)
                     : blockio_read(f, (blk_handle){off, bsize}, &raw, &raw_len, what, &err);
            if (rc) {
                problem(v, path, "%s", err.msg);
                break;   /* the next block boundary cannot be trusted */
            }
            free(raw);
            v->blocks++;
            off += bsize;
        }
        at = end;
    }
    if (at != toc_offset)
        problem(v, path, "offset %" PRIu64 ": %" PRIu64 " bytes belong to no section (before the table of contents)",
                at, toc_offset - at);
    zdict_free(dict);
    free(toc);
    return v->problems == before;
}

/* A single delete directly over a remove, a single delete or a merge
 * operand of its key breaks its contract (include/tind.h): each key is
 * noted once per table (reads are not affected; compaction turns it into a
 * remove and counts it). */
static void single_delete_contract(vfy *v, const char *path, tbl *t)
{
    tbl_iter *it;
    if (tbl_iter_new(t, &it))
        return;
    uint8_t prev_type = 0xFF;
    tbuf prev = {0};
    uint64_t found = 0;
    for (tbl_iter_first(it); tbl_iter_valid(it) && !sh_interrupted; tbl_iter_next(it)) {
        size_t kn;
        const uint8_t *k = tbl_iter_key(it, &kn);
        uint8_t type = tbl_iter_type(it);
        int same = prev_type != 0xFF && prev.len == kn && memcmp(prev.data, k, kn) == 0;
        if (same && prev_type == ENTRY_SINGLE_DELETE &&
            (type == ENTRY_TOMBSTONE || type == ENTRY_SINGLE_DELETE || type == ENTRY_MERGE)) {
            if (found++ < 10) {
                char shown[200];
                size_t n = 0;
                for (size_t i = 0; i < kn && n + 5 < sizeof shown; i++)
                    n += (size_t)snprintf(shown + n, sizeof shown - n, k[i] >= 32 && k[i] < 127 ? "%c" : "\\x%02x",
                                          k[i]);
                note(v, "%s: key '%s': a single delete directly over a %s (a broken single delete contract)", path,
                     shown, type == ENTRY_MERGE ? "merge operand" : type == ENTRY_TOMBSTONE ? "remove" : "single delete");
            }
            type = 0xFF; /* noted: the next entry starts afresh */
        }
        if (tbuf_set(&prev, k, kn))
            break;
        prev_type = type;
    }
    if (found > 10)
        note(v, "%s: %" PRIu64 " keys with a broken single delete contract in all", path, found);
    tbuf_free(&prev);
    tbl_iter_free(it);
}

static void verify_table(vfy *v, const char *path, uint64_t number, const ver_table *vt, const char *ks, int level)
{
    tind_err err;
    err_clear(&err);
    v->tables++;
    sh_progress_add(&v->meter, 1);
    fs_file *f = NULL;
    int rc = fs_open(v->fs, path, FS_O_READ, &f, &err);
    if (rc == TIND_ENOENT) {
        problem(v, path, "missing: VERSIONS names it (keyspace '%s', level %d)", ks ? ks : "?", level);
        return;
    }
    if (rc) {
        problem(v, path, "%s", err.msg);
        return;
    }
    uint64_t size = 0;
    rc = fs_size(f, &size, &err);
    if (rc) {
        problem(v, path, "%s", err.msg);
        fs_close(f, NULL);
        return;
    }
    uint64_t before = v->problems;
    int sound = table_physical(v, path, f, size);
    fs_close(f, NULL);
    if (!sound)
        return;

    tbl *t = NULL;
    tbl_open_options oo;
    memset(&oo, 0, sizeof oo);
    oo.file_id = number;
    rc = tbl_open(v->fs, path, &oo, &t, &err);
    if (rc) {
        problem(v, path, "%s", err.msg);
        return;
    }
    const tbl_meta *m = tbl_get_meta(t);
    /* the same identity check as the engine's when it opens a table */
    err_clear(&err);
    if (vt && ver_table_check_identity(vt, m, path, &err))
        problem(v, path, "%s", err.msg);
    err_clear(&err);
    rc = tbl_verify(t, &err);
    if (rc)
        problem(v, path, "%s", err.msg[0] ? err.msg : tind_strerror(rc));
    else if (m->tombstone_count)
        single_delete_contract(v, path, t);
    v->entries += m->entry_count;
    if (v->verbose && v->problems == before)
        fprintf(v->sh->out, "ok: %s (keyspace '%s', L%d): %" PRIu64 " bytes, %" PRIu64 " blocks, %" PRIu64
                " entries\n", path, ks ? ks : "?", level, size, m->data_block_count, m->entry_count);
    tbl_unref(t);
}

static int state_has_table(const mf_state *st, uint64_t number)
{
    for (size_t k = 0; k < st->keyspace_count; k++)
        if (version_find_table(st->keyspaces[k].v, number, NULL) >= 0)
            return 1;
    return 0;
}

static int state_has_blob(const mf_state *st, uint64_t number)
{
    for (size_t k = 0; k < st->keyspace_count; k++)
        if (version_find_blob(st->keyspaces[k].v, number))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ blob files */

/* A keyspace's blob files, opened once each for the pointer checks. */
typedef struct blob_set {
    const version *v;
    blob_reader **readers;        /* parallel to v->blobs; NULL = not opened or damaged */
} blob_set;

/* Every blob file of a keyspace: it is there, it is the file VERSIONS names
 * (number, size, counts), and every record verifies (blob_walk). */
static void verify_blob_files(vfy *v, const mf_keyspace *ks, const char *tdir, blob_set *bs)
{
    char path[4200];
    bs->v = ks->v;
    bs->readers = calloc(ks->v->blob_count ? ks->v->blob_count : 1, sizeof *bs->readers);
    if (!bs->readers)
        return;
    for (size_t b = 0; b < ks->v->blob_count && !sh_interrupted; b++) {
        const ver_blob *vb = ks->v->blobs[b].file;
        tind_err err;
        err_clear(&err);
        v->blob_files++;
        sh_progress_add(&v->meter, 1);
        if (fname_blob(tdir, vb->number, path, sizeof path) != TIND_OK)
            continue;
        blob_reader *r = NULL;
        int rc = blob_reader_open(v->fs, path, vb->number, NULL, NULL, &r, &err);
        if (rc == TIND_ENOENT) {
            problem(v, path, "missing: VERSIONS names it (keyspace '%s')", ks->name);
            continue;
        }
        if (rc) {
            problem(v, path, "%s", err.msg);
            continue;
        }
        const blob_file_meta *m = blob_reader_meta(r);
        if (m->file_size != vb->size || m->count != vb->count || m->bytes != vb->bytes)
            problem(v, path,
                    "not the blob file VERSIONS names: %" PRIu64 " bytes, %" PRIu64 " blobs of %" PRIu64
                    " bytes; VERSIONS says %" PRIu64 ", %" PRIu64 ", %" PRIu64,
                    m->file_size, m->count, m->bytes, vb->size, vb->count, vb->bytes);
        else if ((rc = blob_walk(r, NULL, NULL, &err)) != TIND_OK)
            problem(v, path, "%s", err.msg);
        else {
            v->blob_records += m->count;
            bs->readers[b] = r;
            if (v->verbose)
                fprintf(v->sh->out, "ok: %s (keyspace '%s'): %" PRIu64 " blobs, %" PRIu64 " garbage bytes of %" PRIu64
                        "\n", path, ks->name, m->count, ks->v->blobs[b].garbage_bytes, m->bytes);
            continue;
        }
        blob_reader_free(r);
    }
}

/* Every blob pointer of every table of a keyspace reads its value (the
 * record at its offset, its checksum, its sizes) from a sound blob file of
 * the keyspace. */
static void verify_blob_pointers(vfy *v, const mf_keyspace *ks, const char *tdir, blob_set *bs)
{
    char path[4200];
    tbuf val = TBUF_INIT;
    for (int l = 0; l < ks->v->level_count && !sh_interrupted; l++)
        for (size_t i = 0; i < ks->v->levels[l].count && !sh_interrupted; i++) {
            const ver_table *t = ks->v->levels[l].tables[i];
            if (!t->blob_ref_count || fname_table(tdir, t->number, path, sizeof path) != TIND_OK)
                continue;
            tbl *tb = NULL;
            tbl_iter *it = NULL;
            tbl_open_options oo;
            memset(&oo, 0, sizeof oo);
            oo.file_id = t->number;
            if (tbl_open(v->fs, path, &oo, &tb, NULL) != TIND_OK || tbl_iter_new(tb, &it) != TIND_OK) {
                tbl_unref(tb);
                continue; /* verify_table reported it */
            }
            uint64_t bad = 0;
            for (tbl_iter_first(it); tbl_iter_valid(it) && !sh_interrupted; tbl_iter_next(it)) {
                if (tbl_iter_type(it) != ENTRY_BLOB)
                    continue;
                v->blob_pointers++;
                size_t n;
                const uint8_t *pv = tbl_iter_value(it, &n);
                blob_ptr p;
                tind_err err;
                err_clear(&err);
                const ver_blob_entry *e = NULL;
                size_t b = 0;
                if (blob_ptr_decode(pv, n, &p) != TIND_OK)
                    snprintf(err.msg, sizeof err.msg, "malformed blob pointer");
                else if (!(e = version_find_blob(bs->v, p.file)))
                    snprintf(err.msg, sizeof err.msg, "pointer into blob file %" PRIu64 ", which VERSIONS does not list",
                             p.file);
                else if (!bs->readers || !bs->readers[b = (size_t)(e - bs->v->blobs)])
                    continue; /* its file is damaged or missing: reported once */
                else if (blob_read(bs->readers[b], &p, 0, &val, &err) == TIND_OK)
                    continue;
                if (bad++ < 10) {
                    size_t kn;
                    const uint8_t *k = tbl_iter_key(it, &kn);
                    char ks_key[80];
                    size_t o = 0;
                    for (size_t c = 0; c < kn && o + 5 < sizeof ks_key; c++)
                        o += (size_t)snprintf(ks_key + o, sizeof ks_key - o, k[c] >= 0x20 && k[c] < 0x7f ? "%c" : "\\x%02x", k[c]);
                    problem(v, path, "key '%s' @%" PRIu64 ": %s", ks_key, tbl_iter_seqno(it), err.msg);
                }
            }
            tbl_iter_free(it);
            tbl_unref(tb);
        }
    tbuf_free(&val);
}

static void verify_blobs(vfy *v, const mf_state *st)
{
    char *tdir = fname_join(v->dir, FNAME_TABLES_DIR);
    if (!tdir)
        return;
    for (size_t k = 0; k < st->keyspace_count && !sh_interrupted; k++) {
        blob_set bs = {NULL, NULL};
        verify_blob_files(v, &st->keyspaces[k], tdir, &bs);
        verify_blob_pointers(v, &st->keyspaces[k], tdir, &bs);
        for (size_t b = 0; bs.readers && b < st->keyspaces[k].v->blob_count; b++)
            blob_reader_free(bs.readers[b]);
        free(bs.readers);
    }
    free(tdir);
}

static void verify_tables(vfy *v, const mf_state *st)
{
    char *tdir = fname_join(v->dir, FNAME_TABLES_DIR);
    if (!tdir)
        return;
    char path[4200];
    if (st) {
        for (size_t k = 0; k < st->keyspace_count; k++) {
            const mf_keyspace *ks = &st->keyspaces[k];
            for (int l = 0; l < ks->v->level_count; l++)
                for (size_t i = 0; i < ks->v->levels[l].count; i++) {
                    const ver_table *t = ks->v->levels[l].tables[i];
                    if (v->verbose)
                        fprintf(v->sh->out, "table %08" PRIu64 ": id %016" PRIx64 " in VERSIONS\n", t->number,
                                t->table_id);
                    if (fname_table(tdir, t->number, path, sizeof path) != TIND_OK) {
                        problem(v, tdir, "table %08" PRIu64 ": path too long", t->number);
                        continue;
                    }
                    verify_table(v, path, t->number, t, ks->name, l);
                    if (sh_interrupted)
                        goto out;
                }
        }
    }
    /* files the VERSIONS file does not name: orphans (deleted at the next
     * open), or every table when VERSIONS could not be read; and files of
     * no table name (only the canonical spelling is a table: a copy named
     * "1.tbl" is not table 1), which the next open deletes with the orphans */
    char **names = NULL;
    size_t count = 0;
    tind_err err;
    err_clear(&err);
    int rc = fs_list(v->fs, tdir, &names, &count, &err);
    if (rc == TIND_ENOENT) {
        problem(v, tdir, "missing folder");
        goto out;
    }
    if (rc) {
        problem(v, tdir, "%s", err.msg);
        goto out;
    }
    for (size_t i = 0; i < count && !sh_interrupted; i++) {
        uint64_t number;
        fname_kind kind = fname_parse(names[i], &number);
        if (kind == FNAME_KIND_TABLE && st && state_has_table(st, number))
            continue;
        if (kind == FNAME_KIND_BLOB && st && state_has_blob(st, number))
            continue; /* checked by verify_blobs */
        snprintf(path, sizeof path, "%s/%s", tdir, names[i]);
        if (kind == FNAME_KIND_BLOB)
            note(v, "%s: a blob file VERSIONS does not name (an orphan the next open deletes); not checked", path);
        else if (kind == FNAME_KIND_TEMP)
            note(v, "%s: a leftover temporary file (the next open deletes it); not checked", path);
        else if (kind != FNAME_KIND_TABLE)
            note(v, "%s: not a table file name (the next open deletes it); not checked", path);
        else if (st)
            note(v, "%s: not named by VERSIONS (an orphan the next open deletes); not checked", path);
        else
            verify_table(v, path, number, NULL, NULL, -1);
    }
    fs_list_free(names, count);
out:
    free(tdir);
}

/* ------------------------------------------------------------------ journals */

typedef struct jvfy {
    const uint8_t *data;          /* our own copy of the file, for record offsets */
    size_t len;
    size_t off;                   /* offset of the next record */
    uint64_t entries;
    char why[512];
} jvfy;

static int journal_record(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload, size_t len)
{
    jvfy *j = ctx;
    size_t at = jrn_skip_marks(j->data, j->len, j->off);
    if (at + JRN_RECORD_HEADER_SIZE <= j->len)
        j->off = at + JRN_RECORD_HEADER_SIZE + dec_u32(j->data + at + 4);
    const uint8_t *p = payload, *end = payload + len;
    for (uint32_t i = 0; i < count; i++) {
        batch_entry e;
        const uint8_t *next = batch_entry_decode(p, end, &e);
        if (!next) {
            snprintf(j->why, sizeof j->why,
                     "record at offset %zu (seqno %" PRIu64 "): batch entry %" PRIu32 " of %" PRIu32
                     " (payload byte %zu) does not decode",
                     at, first_seqno + i, i + 1, count, (size_t)(p - payload));
            return TIND_ECORRUPT;
        }
        p = next;
    }
    if (p != end) {
        snprintf(j->why, sizeof j->why, "record at offset %zu: %zu stray payload bytes after its %" PRIu32 " entries",
                 at, (size_t)(end - p), count);
        return TIND_ECORRUPT;
    }
    j->entries += count;
    return TIND_OK;
}

static void verify_journals(vfy *v, uint64_t oldest_keep, uint64_t need_seqno, uint64_t next_seqno)
{
    char *jdir = fname_join(v->dir, FNAME_JOURNALS_DIR);
    if (!jdir)
        return;
    uint64_t *numbers = NULL;
    size_t count = 0;
    tind_err err;
    err_clear(&err);
    int rc = jrn_list(v->fs, jdir, &numbers, &count, &err);
    if (rc == TIND_ENOENT) {
        problem(v, jdir, "missing folder");
        free(jdir);
        return;
    }
    if (rc) {
        problem(v, jdir, "%s", err.msg);
        free(jdir);
        return;
    }
    jrn_chain chain = {0, 0, 0, 0};
    jrn_chain_need(&chain, need_seqno, next_seqno);
    char prev_path[4200] = "";
    uint32_t prev_version = 0;
    /* a sealed format 4 journal lost its unsynced end: the next open drops
     * the later journals, unless one proves the loss is damage */
    int ended = 0;
    uint64_t ended_from = 0;
    for (size_t i = 0; i < count && !sh_interrupted; i++) {
        char path[4200];
        jrn_path(jdir, numbers[i], path, sizeof path);
        sh_progress_add(&v->meter, 1);
        if (ended) {
            int found = 0;
            err_clear(&err);
            if (jrn_find_prior_synced(v->fs, path, ended_from, &found, &err))
                problem(v, path, "%s", err.msg);
            else if (found)
                problem(v, path, "holds a record written after the older journals were synced, but an older "
                        "journal lost its end: damage");
            else
                note(v, "%s: follows a journal that lost its unsynced end (a power loss): the next open deletes it",
                     path);
            continue;
        }
        jvfy j;
        memset(&j, 0, sizeof j);
        uint8_t *data = NULL;
        err_clear(&err);
        rc = fs_read_all(v->fs, path, &data, &j.len, &err);
        if (rc) {
            if (rc != TIND_ENOENT || !v->sh->db)   /* our own database may have deleted it meanwhile */
                problem(v, path, "%s", err.msg);
            continue;
        }
        v->journals++;
        j.data = data;
        j.off = JRN_FILE_HEADER_SIZE;
        jrn_replay_result res;
        memset(&res, 0, sizeof res);
        err_clear(&err);
        rc = jrn_replay(v->fs, path, journal_record, &j, 0, &res, &err);
        if (rc) {
            if (j.why[0])
                problem(v, path, "%s", j.why);
            else
                problem(v, path, "%s", err.msg[0] ? err.msg : tind_strerror(rc));
        } else {
            if (res.truncated && i + 1 < count && res.version >= JRN_FORMAT_VERSION_UNSYNCED &&
                numbers[i] >= oldest_keep) {
                note(v, "%s: offset %" PRIu64 ": a torn tail of %" PRIu64 " bytes in a journal sealed unsynced (a "
                     "power loss; the next open cuts it off and deletes the later journals)",
                     path, res.valid_bytes, res.tail_bytes);
                ended = 1;
                ended_from = res.records ? res.last_seqno + 1 : res.start_seqno;
            } else if (res.truncated) {
                if (i + 1 < count)
                    problem(v, path,
                            "offset %" PRIu64 ": %" PRIu64 " damaged bytes end a journal that is not the last "
                            "(it was synced before the next one was made)",
                            res.valid_bytes, res.tail_bytes);
                else
                    note(v, "%s: offset %" PRIu64 ": a torn tail of %" PRIu64 " bytes (an unfinished write; the "
                         "next open cuts it off)", path, res.valid_bytes, res.tail_bytes);
            }
            /* as recovery: a journal without an intact header (empty, or a
             * creation cut short) is normal only as the newest */
            if (!res.has_header && numbers[i] >= oldest_keep && i + 1 < count)
                problem(v, path, "no intact header (%zu bytes) but later journals exist (it was synced before they "
                        "were made): its records are lost", j.len);
            /* the journals recovery keeps meet exactly (older ones are
             * flushed, waiting to be deleted), from the first seqno the
             * version file needs on */
            if (res.has_header && numbers[i] >= oldest_keep && chain.started && res.start_seqno > chain.end + 1 &&
                prev_version >= JRN_FORMAT_VERSION_UNSYNCED) {
                /* the journal before lost its unsynced end at a record boundary */
                ended = 1;
                ended_from = chain.end + 1;
                int found = 0;
                err_clear(&err);
                if (jrn_find_prior_synced(v->fs, path, ended_from, &found, &err))
                    problem(v, path, "%s", err.msg);
                else if (found)
                    problem(v, path, "starts at seqno %" PRIu64 " but journal '%s' ends at %" PRIu64 ": records are "
                            "missing (this one holds a record written after it was synced)",
                            res.start_seqno, prev_path, chain.end);
                else
                    note(v, "%s: starts past the end of '%s', which lost its unsynced end (a power loss): the next "
                         "open deletes it and the later journals", path, prev_path);
            } else if (res.has_header && numbers[i] >= oldest_keep) {
                prev_version = res.version;
                err_clear(&err);
                if (jrn_chain_add(&chain, &res, path, prev_path, &err))
                    problem(v, path, "%s", err.msg);
                snprintf(prev_path, sizeof prev_path, "%s", path);
            }
            v->records += res.records;
            v->journal_entries += j.entries;
            if (v->verbose)
                fprintf(v->sh->out, "ok: %s: %" PRIu64 " records, %" PRIu64 " entries, seqnos %" PRIu64 "..%" PRIu64 "\n",
                        path, res.records, j.entries, res.first_seqno, res.last_seqno);
        }
        free(data);
    }
    err_clear(&err);
    if (!sh_interrupted && jrn_chain_finish(&chain, jdir, &err))
        problem(v, jdir, "%s", err.msg);
    free(numbers);
    free(jdir);
}

/* ------------------------------------------------------------------ the command */

static int verify_folder(vfy *v)
{
    verify_format(v);
    mf_state st;
    memset(&st, 0, sizeof st);
    tind_err err;
    err_clear(&err);
    char *vpath = fname_join(v->dir, FNAME_VERSIONS);
    int rc = manifest_read(v->fs, v->dir, &st, &err);
    int have_state = rc == TIND_OK;
    if (rc == TIND_ENOENT)
        problem(v, vpath ? vpath : FNAME_VERSIONS, "missing: checking every table file found instead");
    else if (rc)
        problem(v, vpath ? vpath : FNAME_VERSIONS, "%s (checking every table file found instead)",
                err.msg[0] ? err.msg : tind_strerror(rc));
    else if (v->verbose) {
        size_t tables = 0;
        for (size_t k = 0; k < st.keyspace_count; k++)
            tables += version_table_count(st.keyspaces[k].v);
        fprintf(v->sh->out,
                "ok: %s: format %" PRIu32 ", database id %016" PRIx64 ", %zu keyspaces, %zu tables, last seqno %" PRIu64
                ", journals needed from seqno %" PRIu64 " (0: none), next seqno %" PRIu64 "\n",
                vpath, st.format_version, st.db_id, st.keyspace_count, tables, st.last_seqno, st.journal_seqno,
                st.next_seqno);
    }
    free(vpath);
    verify_tables(v, have_state ? &st : NULL);
    if (have_state && !sh_interrupted)
        verify_blobs(v, &st);
    /* without a version file every journal is taken as kept */
    uint64_t oldest_keep = have_state ? st.oldest_journal : 0;
    uint64_t need_seqno = have_state ? st.journal_seqno : 0;
    uint64_t next_seqno = have_state ? st.next_seqno : 0;
    mf_state_free(&st);
    if (!sh_interrupted)
        verify_journals(v, oldest_keep, need_seqno, next_seqno);
    return SH_OK;
}

int sh_cmd_verify(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {{"verbose", 0, 0, NULL}};
    const sh_word *pos[1];
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, 1, pos, &npos, 0);
    if (rc)
        return rc;
    vfy v;
    memset(&v, 0, sizeof v);
    v.sh = sh;
    v.dir = sh->path;
    v.verbose = opts[0].seen;
    v.fs = sh_new_fs(sh);
    if (!v.fs)
        return SH_FAIL;
    int is_dir = 0;
    if (fs_exists(v.fs, sh->path, &is_dir) != TIND_OK || !is_dir) {
        fs_destroy(v.fs);
        return sh_error(sh, "verify: '%s' is not a database folder", sh->path);
    }

    char *fp = fname_join(sh->path, FNAME_FORMAT), *vp = fname_join(sh->path, FNAME_VERSIONS);
    int looks_like_db = fp && vp && (fs_exists(v.fs, fp, NULL) == TIND_OK || fs_exists(v.fs, vp, NULL) == TIND_OK);
    free(fp);
    free(vp);
    if (!looks_like_db) {
        fs_destroy(v.fs);
        return sh_error(sh, "verify: '%s' holds no tind database (no FORMAT or VERSIONS file)", sh->path);
    }

    fs_lock *lock = NULL;
    tind_db *db = sh->db;
    if (db) {
        /* our own open database: no background job may change files meanwhile */
        tind_internal_pause_background(db, 1);
    } else {
        char *lp = fname_join(sh->path, FNAME_LOCK);
        tind_err err;
        err_clear(&err);
        /* --read-only: a shared lock, which never creates LOCK */
        int lrc = !lp ? TIND_ENOMEM
                  : sh->read_only ? fs_lock_file_shared(v.fs, lp, &lock, &err)
                                  : fs_lock_file(v.fs, lp, &lock, &err);
        if (lrc == TIND_ENOENT && sh->read_only)
            lock = NULL; /* no LOCK file: nobody holds it */
        else if (lrc == TIND_EBUSY)
            note(&v, "the database is open in another process: files may change while they are read");
        else if (lrc)
            note(&v, "could not take the LOCK (%s): reading anyway", err.msg[0] ? err.msg : tind_strerror(lrc));
        free(lp);
    }

    sh_progress_begin(&v.meter, sh, "verify", 0, 0, "files");
    verify_folder(&v);
    sh_progress_end(&v.meter);

    if (db) {
        tind_internal_pause_background(db, 0);
    }
    if (lock)
        fs_unlock(lock, NULL);
    fs_destroy(v.fs);

    if (v.blob_files)
        fprintf(sh->out, "verify: %" PRIu64 " blob files (%" PRIu64 " blobs), %" PRIu64 " blob pointers checked\n",
                v.blob_files, v.blob_records, v.blob_pointers);
    fprintf(sh->out,
            "verify: %" PRIu64 " tables (%" PRIu64 " blocks, %" PRIu64 " entries), %" PRIu64 " journals (%" PRIu64
            " records, %" PRIu64 " entries): %" PRIu64 " %s\n",
            v.tables, v.blocks, v.entries, v.journals, v.records, v.journal_entries, v.problems,
            v.problems == 1 ? "problem" : "problems");
    if (sh_interrupted)
        return sh_error(sh, "verify interrupted");
    if (v.problems)
        return sh_error(sh, "verify found %" PRIu64 " %s in '%s'", v.problems, v.problems == 1 ? "problem" : "problems",
                        sh->path);
    return SH_OK;
}
