/*
 * dump.c -- `dump table FILE` and `dump journal FILE`: a human-readable
 * listing of one file, read directly (the database is not opened).
 *
 * A table: its size and container version, the sections (name, offset,
 * length), the table of contents and trailer, the metadata properties
 * decoded by name (identity.number and identity.table_id: the table's
 * identity, which the version file records), then every stored block of every section in file order
 * with its offset, stored and raw size and compression, and (unless
 * --summary) its entries: data entries as KEY @SEQNO TYPE [= VALUE], index
 * entries as KEY @SEQNO -> block handle, filter blocks as their Bloom
 * parameters. The walk goes block by block from each section's start, so it
 * shows as much of a damaged file as can be read, and stops a section at the
 * first block that does not verify.
 *
 * A journal: the file header fields, then each record (offset, seqnos,
 * entry count, stored / raw payload size, flags) and (unless --summary) its
 * batch entries: put KS KEY = VALUE / del KS KEY. Keyspace ids are shown with
 * their names when the VERSIONS file of the folder above the journal's can
 * be read. Replay rules are jrn_replay_buffer's: it ends at a torn tail or
 * stops with the error at damage.
 *
 * A blob file (dump blob FILE): its number, size and metadata, then each
 * record (offset, stored and raw size, and the value unless --summary).
 *
 * FILE may be a plain number: the database's table, blob file or journal of
 * that number.
 */
#include "shell.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tind_internal.h"

typedef struct dumper {
    tsh *sh;
    int summary;
    int hex;
    int full;
} dumper;

static const char *type_name(uint8_t t)
{
    switch (t) {
    case ENTRY_VALUE: return "put";
    case ENTRY_TOMBSTONE: return "del";
    case ENTRY_BLOB: return "blob";
    case ENTRY_SINGLE_DELETE: return "single-del";
    case ENTRY_MERGE: return "merge";
    case ENTRY_RANGE_TOMBSTONE: return "range-del";
    default: return "type?";
    }
}

/* A table's range tombstone section: one line per fragment, its seqnos. */
static int print_range_tombstones(dumper *d, const uint8_t *raw, size_t n, const char *path)
{
    FILE *o = d->sh->out;
    rt_list *l;
    tind_err err;
    err_clear(&err);
    if (rt_list_decode(raw, n, path, &l, &err)) {
        fprintf(o, "    %s\n", err.msg);
        return 1;
    }
    fprintf(o, "    %zu range tombstone fragments, %zu tombstones\n", l->count, l->tombstones);
    for (size_t i = 0; i < l->count && !d->summary; i++) {
        const rt_frag *f = &l->frags[i];
        fputs("    range-del [", o);
        sh_show_bytes(d->sh, o, f->start, f->start_len, d->hex, 1);
        fputs(", ", o);
        if (f->end_len)
            sh_show_bytes(d->sh, o, f->end, f->end_len, d->hex, 1);
        else
            fputs("(end)", o);
        fputs(") @", o);
        for (size_t j = 0; j < f->nseq; j++)
            fprintf(o, "%s%" PRIu64, j ? "," : "", f->seqs[j]);
        fputc('\n', o);
    }
    rt_list_unref(l);
    return 0;
}

static const char *compression_name(unsigned c)
{
    return c == 0 ? "none" : c == 1 ? "lz4" : c == 2 ? "zstd" : "unknown";
}

/* FILE, or the database's file of that number. Caller frees. */
static char *resolve(tsh *sh, const char *file, int table)
{
    int digits = *file != 0;
    for (const char *c = file; *c; c++)
        if (*c < '0' || *c > '9')
            digits = 0;
    size_t n = strlen(sh->path) + strlen(file) + 64;
    char *p = malloc(n);
    if (!p)
        return NULL;
    if (digits && strlen(file) <= 19) {
        char *dir = fname_join(sh->path, table ? FNAME_TABLES_DIR : FNAME_JOURNALS_DIR);
        uint64_t number = strtoull(file, NULL, 10);
        int rc = !dir ? TIND_ENOMEM : table == 2 ? fname_blob(dir, number, p, n) : table ? fname_table(dir, number, p, n)
                                                                            : fname_journal(dir, number, p, n);
        free(dir);
        if (rc) {
            free(p);
            return NULL;
        }
        return p;
    }
    snprintf(p, n, "%s", file);
    if (access(p, F_OK) != 0 && file[0] != '/') {
        snprintf(p, n, "%s/%s", sh->path, file);
        if (access(p, F_OK) != 0)
            snprintf(p, n, "%s", file);
    }
    return p;
}

/* ------------------------------------------------------------------ tables */

typedef struct table_info {
    int have_meta;
    blk_handle index_handle;
    blk_handle filter_handle;
    int has_filter;
    int filter_partitioned;
    int index_partitioned;
} table_info;

static int is_f64_property(const char *name)
{
    return !strcmp(name, "filter.bits_per_key") || !strcmp(name, "hash_ratio");
}

static void print_property(dumper *d, const uint8_t *name, size_t nlen, const uint8_t *val, size_t vlen,
                           table_info *ti)
{
    char n[128];
    size_t k = nlen < sizeof n - 1 ? nlen : sizeof n - 1;
    memcpy(n, name, k);
    n[k] = 0;
    FILE *o = d->sh->out;
    fprintf(o, "  %-24s ", n);
    size_t nl = strlen(n);
    if (nl > 7 && !strcmp(n + nl - 7, ".handle")) {
        blk_handle h;
        const uint8_t *e = blk_handle_decode(val, val + vlen, &h);
        if (e == val + vlen) {
            fprintf(o, "offset %" PRIu64 ", %" PRIu64 " bytes\n", h.offset, h.size);
            if (!strcmp(n, "index.handle"))
                ti->index_handle = h;
            if (!strcmp(n, "filter.handle")) {
                ti->filter_handle = h;
                ti->has_filter = 1;
            }
            return;
        }
    } else if (is_f64_property(n) && vlen == 8) {
        uint64_t bits = dec_u64(val);
        double x;
        memcpy(&x, &bits, sizeof x);
        fprintf(o, "%g\n", x);
        return;
    } else if (strcmp(n, "smallest_key") != 0 && strcmp(n, "largest_key") != 0) {
        uint64_t x;
        const uint8_t *e = dec_varint64(val, val + vlen, &x);
        if (e == val + vlen) {
            if (!strcmp(n, "compression"))
                fprintf(o, "%" PRIu64 " (%s)\n", x, compression_name((unsigned)x));
            else if (!strcmp(n, "identity.table_id"))
                fprintf(o, "%016" PRIx64 "\n", x); /* as the version file's record and verify show it */
            else if (!strcmp(n, "created_unix")) {
                time_t t = (time_t)x;
                struct tm tm;
                char when[64] = "";
                if (gmtime_r(&t, &tm))
                    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
                fprintf(o, "%" PRIu64 " (%s)\n", x, when);
            } else
                fprintf(o, "%" PRIu64 "\n", x);
            if (!strcmp(n, "filter.partitioned"))
                ti->filter_partitioned = x != 0;
            if (!strcmp(n, "index.partitioned"))
                ti->index_partitioned = x != 0;
            return;
        }
    }
    sh_show_bytes(d->sh, o, val, vlen, d->hex, d->full);
    fputc('\n', o);
}

/* Prints the entries of a raw block.h block; kind: 'd' data, 'i' index, 'm' meta. */
static int print_block_entries(dumper *d, const uint8_t *raw, size_t n, int kind, table_info *ti, const char *what)
{
    blk b;
    tind_err err;
    err_clear(&err);
    int rc = blk_parse(&b, raw, n, &err);
    if (rc) {
        fprintf(d->sh->out, "    (block does not parse: %s)\n", err.msg);
        return rc;
    }
    blk_iter it;
    blk_iter_init(&it, &b);
    uint64_t count = 0;
    for (blk_iter_first(&it); it.valid; blk_iter_next(&it)) {
        count++;
        if (kind == 'm') {
            print_property(d, it.key.data, it.key.len, it.value, it.value_len, ti);
            continue;
        }
        if (d->summary)
            continue;
        FILE *o = d->sh->out;
        fputs("    ", o);
        sh_show_bytes(d->sh, o, it.key.data, it.key.len, d->hex, 1);
        fprintf(o, " @%" PRIu64, it.seqno);
        if (kind == 'i') {
            blk_handle h;
            const uint8_t *e = blk_handle_decode(it.value, it.value + it.value_len, &h);
            if (e == it.value + it.value_len)
                fprintf(o, " -> block at offset %" PRIu64 ", %" PRIu64 " bytes\n", h.offset, h.size);
            else
                fprintf(o, " -> (bad block handle)\n");
        } else {
            fprintf(o, " %s", type_name(it.type));
            if (it.type == ENTRY_VALUE || it.value_len) {
                fputs(" = ", o);
                sh_show_bytes(d->sh, o, it.value, it.value_len, d->hex, d->full);
            }
            fputc('\n', o);
        }
        if (sh_interrupted)
            break;
    }
    rc = it.status;
    if (rc)
        fprintf(d->sh->out, "    (%s: entry %" PRIu64 " does not decode: %s)\n", what, count + 1, tind_strerror(rc));
    if (d->summary && kind != 'm')
        fprintf(d->sh->out, "    %" PRIu64 " entries, %u restart points%s\n", count, b.restart_count,
                b.buckets ? ", hash index" : "");
    blk_iter_free(&it);
    return rc;
}

static int cmp_sec(const void *a, const void *b)
{
    const ctr_section *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int dump_table(dumper *d, const char *path)
{
    fs *fsys = sh_new_fs(d->sh);
    if (!fsys)
        return SH_FAIL;
    uint8_t *data = NULL;
    size_t size = 0;
    tind_err err;
    err_clear(&err);
    int rc = fs_read_all(fsys, path, &data, &size, &err);
    fs_destroy(fsys);
    if (rc)
        return sh_error(d->sh, "dump: %s", err.msg);
    FILE *o = d->sh->out;
    fprintf(o, "table %s: %zu bytes\n", path, size);
    ctr_toc *toc = malloc(sizeof *toc);
    if (!toc) {
        free(data);
        return sh_error(d->sh, "out of memory");
    }
    rc = ctr_parse_toc(data, size, UINT32_MAX, toc, path, &err);
    if (rc) {
        free(toc);
        free(data);
        return sh_error(d->sh, "dump: %s", err.msg);
    }
    const uint8_t *tr = data + size - CTR_TRAILER_SIZE;
    fprintf(o, "container: format version %u%s, table of contents at offset %" PRIu64 " (%" PRIu64
            " bytes), trailer at offset %zu (%d bytes)\n",
            toc->version, toc->version > TABLE_FORMAT_VERSION ? " (newer than this build reads)" : "",
            dec_u64(tr), dec_u64(tr + 8), size - CTR_TRAILER_SIZE, CTR_TRAILER_SIZE);
    fprintf(o, "sections:\n");
    for (uint32_t i = 0; i < toc->count; i++)
        fprintf(o, "  %-8s offset %-10" PRIu64 " length %" PRIu64 "\n", toc->sections[i].name,
                toc->sections[i].offset, toc->sections[i].length);

    table_info ti;
    memset(&ti, 0, sizeof ti);
    int failed = 0;
    const ctr_section *meta = ctr_find(toc, "meta");
    if (meta) {
        uint8_t *raw = NULL;
        size_t raw_len = 0;
        rc = blockio_decode(data + meta->offset, (size_t)meta->length, &raw, &raw_len, "meta", &err);
        if (rc) {
            fprintf(o, "metadata block at offset %" PRIu64 ": %s\n", meta->offset, err.msg);
            failed = 1;
        } else {
            fprintf(o, "metadata (block at offset %" PRIu64 ", %" PRIu64 " bytes):\n", meta->offset, meta->length);
            ti.have_meta = 1;
            if (print_block_entries(d, raw, raw_len, 'm', &ti, "metadata"))
                failed = 1;
            free(raw);
        }
    } else {
        fprintf(o, "no 'meta' section\n");
        failed = 1;
    }

    /* a zstd dictionary (format 3) decodes the data blocks */
    zdict *dict = NULL;
    const ctr_section *ds = ctr_find(toc, "dict");
    if (ds) {
        if (zdict_from_stored(data + ds->offset, (size_t)ds->length, &dict, "dict", &err) == TIND_OK) {
            fprintf(o, "zstd dictionary (block at offset %" PRIu64 ", %" PRIu64 " bytes): id %u\n", ds->offset,
                    ds->length, (unsigned)zdict_id(dict));
        } else {
            fprintf(o, "zstd dictionary at offset %" PRIu64 ": %s\n", ds->offset, err.msg);
            failed = 1;
        }
    }

    /* every block of every section, in file order (the meta block was shown) */
    ctr_section secs[CTR_MAX_SECTIONS];
    memcpy(secs, toc->sections, toc->count * sizeof secs[0]);
    qsort(secs, toc->count, sizeof secs[0], cmp_sec);
    for (uint32_t i = 0; i < toc->count && !sh_interrupted; i++) {
        const ctr_section *s = &secs[i];
        if (!strcmp(s->name, "meta"))
            continue;
        int is_data = !strcmp(s->name, "data"), is_index = !strcmp(s->name, "index"),
            is_filter = !strcmp(s->name, "filter");
        fprintf(o, "section '%s':\n", s->name);
        uint64_t off = s->offset, end = s->offset + s->length, nblock = 0;
        while (off < end && !sh_interrupted) {
            if (end - off < BLOCK_HEADER_SIZE) {
                fprintf(o, "  offset %" PRIu64 ": %" PRIu64 " stray bytes\n", off, end - off);
                failed = 1;
                break;
            }
            const uint8_t *h = data + off;
            uint64_t bsize = BLOCK_HEADER_SIZE + (uint64_t)dec_u32(h + 5);
            if (bsize > end - off) {
                fprintf(o, "  block at offset %" PRIu64 ": %" PRIu64 " bytes run past the section end\n", off, bsize);
                failed = 1;
                break;
            }
            const char *label = is_data ? "data block" : "block";
            if (is_index)
                label = off == ti.index_handle.offset ? "top-level index block" : "index partition";
            if (is_filter)
                label = off == ti.filter_handle.offset && ti.filter_partitioned ? "filter index block"
                        : ti.filter_partitioned                                 ? "filter partition"
                                                                                : "filter block";
            fprintf(o, "  %s %" PRIu64 " at offset %" PRIu64 ": %" PRIu64 " bytes stored (%s), %u raw\n", label,
                    nblock, off, bsize, compression_name(h[0]), dec_u32(h + 1));
            uint8_t *raw = NULL;
            size_t raw_len = 0;
            char what[64];
            snprintf(what, sizeof what, "block at offset %" PRIu64, off);
            rc = dict && is_data ? blockio_decode_with(h, (size_t)bsize, zdict_decompress, dict, &raw, &raw_len, what, &err)
                                 : blockio_decode(h, (size_t)bsize, &raw, &raw_len, what, &err);
            if (rc) {
                fprintf(o, "    %s\n", err.msg);
                failed = 1;
                break;
            }
            if (!strcmp(s->name, "rangedel")) {
                if (print_range_tombstones(d, raw, raw_len, path))
                    failed = 1;
            } else if (is_data || is_index || (is_filter && ti.filter_partitioned && off == ti.filter_handle.offset)) {
                if (print_block_entries(d, raw, raw_len, is_data ? 'd' : 'i', &ti, what))
                    failed = 1;
            } else if (is_filter) {
                if (raw_len >= 6)
                    fprintf(o, "    bloom filter: %u bits, %u probes, version %u\n", dec_u32(raw + raw_len - 6),
                            raw[raw_len - 2], raw[raw_len - 1]);
                else
                    fprintf(o, "    (filter of %zu bytes is too short)\n", raw_len);
            }
            free(raw);
            nblock++;
            off += bsize;
        }
    }
    zdict_free(dict);
    free(toc);
    free(data);
    if (sh_interrupted)
        return sh_error(d->sh, "interrupted");
    if (failed)
        return sh_error(d->sh, "dump: '%s' is damaged (see above)", path);
    return SH_OK;
}

/* ------------------------------------------------------------------ journals */

typedef struct jdump {
    dumper *d;
    const uint8_t *data;
    size_t len;
    size_t off;
    mf_state st;
    int have_state;
    uint64_t entries;
} jdump;

static void print_keyspace(jdump *j, uint32_t id)
{
    FILE *o = j->d->sh->out;
    if (j->have_state)
        for (size_t k = 0; k < j->st.keyspace_count; k++)
            if (j->st.keyspaces[k].id == id) {
                sh_print(o, (const uint8_t *)j->st.keyspaces[k].name, j->st.keyspaces[k].name_len, 0, 0);
                fprintf(o, "#%u", id);
                return;
            }
    fprintf(o, "#%u", id);
}

static int journal_record(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload, size_t len)
{
    jdump *j = ctx;
    FILE *o = j->d->sh->out;
    size_t at = jrn_skip_marks(j->data, j->len, j->off);
    uint32_t stored = 0, raw = 0;
    uint8_t flags = 0;
    if (at + JRN_RECORD_HEADER_SIZE <= j->len) {
        stored = dec_u32(j->data + at + 4);
        flags = j->data[at + 8];
        raw = dec_u32(j->data + at + 9);
        j->off = at + JRN_RECORD_HEADER_SIZE + stored;
    }
    fprintf(o, "record at offset %zu: seqnos %" PRIu64 "..%" PRIu64 " (%" PRIu32 " %s), payload %" PRIu32
            " bytes stored, %" PRIu32 " raw%s%s%s\n",
            at, first_seqno, first_seqno + count - 1, count, count == 1 ? "entry" : "entries", stored, raw,
            flags & JRN_FLAG_LZ4 ? ", lz4" : "", flags & JRN_FLAG_SYNCED_BEFORE ? ", synced-before" : "",
            flags & JRN_FLAG_PRIOR_SYNCED ? ", prior-synced" : "");
    const uint8_t *p = payload, *end = payload + len;
    for (uint32_t i = 0; i < count; i++) {
        batch_entry e;
        const uint8_t *next = batch_entry_decode(p, end, &e);
        if (!next) {
            fprintf(o, "  entry %" PRIu32 " (payload byte %zu) does not decode\n", i + 1, (size_t)(p - payload));
            return TIND_ECORRUPT;
        }
        p = next;
        j->entries++;
        if (j->d->summary)
            continue;
        fprintf(o, "  @%" PRIu64 " %s ", first_seqno + i, type_name(e.type));
        print_keyspace(j, e.ks_id);
        fputc(' ', o);
        sh_show_bytes(j->d->sh, o, e.key, e.klen, j->d->hex, 1);
        if (e.type == ENTRY_RANGE_TOMBSTONE) {
            fputs(" .. ", o); /* [key, end) */
            if (e.vlen)
                sh_show_bytes(j->d->sh, o, e.val, e.vlen, j->d->hex, 1);
            else
                fputs("(end)", o);
        } else if (batch_entry_has_value(e.type)) {
            fputs(" = ", o);
            sh_show_bytes(j->d->sh, o, e.val, e.vlen, j->d->hex, j->d->full);
        }
        fputc('\n', o);
    }
    if (p != end) {
        fprintf(o, "  %zu stray payload bytes after the entries\n", (size_t)(end - p));
        return TIND_ECORRUPT;
    }
    return sh_interrupted ? TIND_ECLOSED : TIND_OK;
}

static int dump_journal(dumper *d, const char *path)
{
    fs *fsys = sh_new_fs(d->sh);
    if (!fsys)
        return SH_FAIL;
    jdump j;
    memset(&j, 0, sizeof j);
    j.d = d;
    uint8_t *data = NULL;
    tind_err err;
    err_clear(&err);
    int rc = fs_read_all(fsys, path, &data, &j.len, &err);
    if (rc) {
        fs_destroy(fsys);
        return sh_error(d->sh, "dump: %s", err.msg);
    }
    j.data = data;
    j.off = JRN_FILE_HEADER_SIZE;
    /* keyspace names from <dir of the journals folder>/VERSIONS, when there is one */
    char *dir = strdup(path);
    if (dir) {
        char *s = strrchr(dir, '/');
        if (s) {
            *s = 0;
            s = strrchr(dir, '/');
            if (s)
                *s = 0;
            else
                strcpy(dir, ".");
        } else {
            strcpy(dir, "..");
        }
        tind_err ignore;
        j.have_state = manifest_read(fsys, dir, &j.st, &ignore) == TIND_OK;
        free(dir);
    }
    fs_destroy(fsys);

    FILE *o = d->sh->out;
    fprintf(o, "journal %s: %zu bytes\n", path, j.len);
    if (j.len >= JRN_FILE_HEADER_SIZE) {
        int magic = memcmp(data, JRN_FILE_MAGIC, JRN_FILE_MAGIC_LEN) == 0;
        /* the layout of docs/FORMAT.md, "Journal file header" */
        int sum = hash64(data, JRN_FILE_HEADER_SIZE - 8) == dec_u64(data + JRN_FILE_HEADER_SIZE - 8);
        fprintf(o,
                "header: magic %s, format version %u, journal number %" PRIu64 ", start seqno %" PRIu64
                ", checksum %s\n",
                magic ? "ok" : "BAD", dec_u32(data + 8), dec_u64(data + 12), dec_u64(data + 20), sum ? "ok" : "BAD");
    } else {
        fprintf(o, "header: only %zu of %u bytes (a creation cut short)\n", j.len, JRN_FILE_HEADER_SIZE);
    }
    jrn_replay_result res;
    memset(&res, 0, sizeof res);
    err_clear(&err);
    rc = jrn_replay_buffer(data, j.len, journal_record, &j, &res, &err);
    fprintf(o, "%" PRIu64 " records, %" PRIu64 " entries", res.records, j.entries);
    if (res.marks)
        fprintf(o, ", %" PRIu64 " mark%s", res.marks, res.marks == 1 ? "" : "s");
    if (res.records)
        fprintf(o, ", seqnos %" PRIu64 "..%" PRIu64, res.first_seqno, res.last_seqno);
    fprintf(o, "; %" PRIu64 " valid bytes", res.valid_bytes);
    if (res.truncated)
        fprintf(o, "; a torn tail of %" PRIu64 " bytes at offset %" PRIu64, res.tail_bytes, res.valid_bytes);
    fputc('\n', o);
    free(data);
    mf_state_free(&j.st);
    if (sh_interrupted)
        return sh_error(d->sh, "interrupted");
    if (rc) {
        /* jrn_replay_buffer names the buffer "(in memory)": name the file instead */
        const char *m = err.msg;
        const char *tag = "journal (in memory): ";
        if (!strncmp(m, tag, strlen(tag)))
            m += strlen(tag);
        return sh_error(d->sh, "dump: %s: %s", path, m[0] ? m : tind_strerror(rc));
    }
    return SH_OK;
}

/* ------------------------------------------------------------------ blob files */

static int blob_record(void *ctx, const blob_ptr *p, const uint8_t *val)
{
    dumper *d = ctx;
    FILE *o = d->sh->out;
    fprintf(o, "  record at offset %" PRIu64 ": %" PRIu64 " bytes stored, %" PRIu64 " raw", p->offset, p->size,
            p->raw_size);
    if (!d->summary) {
        fputs(" = ", o);
        sh_show_bytes(d->sh, o, val, (size_t)p->raw_size, d->hex, d->full);
    }
    fputc('\n', o);
    return sh_interrupted ? TIND_ECLOSED : TIND_OK;
}

/* A blob file: its container, metadata, then every record (offset, sizes
 * and, unless --summary, the value), stopping at the first one that does
 * not verify. */
static int dump_blob(dumper *d, const char *path)
{
    fs *fsys = sh_new_fs(d->sh); /* decrypts with --key-file */
    if (!fsys)
        return SH_FAIL;
    tind_err err;
    err_clear(&err);
    blob_reader *r = NULL;
    int rc = blob_reader_open(fsys, path, 0, NULL, NULL, &r, &err);
    if (rc) {
        fs_destroy(fsys);
        return sh_error(d->sh, "dump: %s", err.msg);
    }
    const blob_file_meta *m = blob_reader_meta(r);
    FILE *o = d->sh->out;
    fprintf(o, "blob file %s: %" PRIu64 " bytes, blob file number %" PRIu64 ", created %" PRIu64 "\n", path,
            m->file_size, m->number, m->created_unix);
    fprintf(o, "  %" PRIu64 " records, %" PRIu64 " record bytes, %" PRIu64 " value bytes, compression %s\n",
            m->count, m->bytes, m->raw_bytes, compression_name(m->compression));
    rc = blob_walk(r, blob_record, d, &err);
    blob_reader_free(r);
    fs_destroy(fsys);
    if (rc == TIND_ECLOSED)
        return SH_OK;
    if (rc)
        return sh_error(d->sh, "dump: %s", err.msg);
    return SH_OK;
}

int sh_cmd_dump(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {{"summary", 0, 0, NULL}, {"hex", 0, 0, NULL}, {"full", 0, 0, NULL}};
    const sh_word *pos[2];
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, 3, pos, &npos, 2);
    if (rc)
        return rc;
    if (npos != 2)
        return SH_USAGE;
    const char *kind = sh_str(pos[0]);
    int table = !strcmp(kind, "table") ? 1 : !strcmp(kind, "blob") ? 2 : 0;
    if (!table && strcmp(kind, "journal") != 0)
        return SH_USAGE;
    dumper d = {sh, opts[0].seen, opts[1].seen, opts[2].seen};
    char *path = resolve(sh, sh_str(pos[1]), table);
    if (!path)
        return sh_error(sh, "out of memory");
    rc = table == 2 ? dump_blob(&d, path) : table ? dump_table(&d, path) : dump_journal(&d, path);
    free(path);
    return rc;
}
