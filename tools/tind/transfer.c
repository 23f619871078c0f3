/*
 * transfer.c -- `export` and `import`: a line-oriented text format that is
 * binary-safe, round-trips exactly and carries its own end and checksum.
 *
 * Format (version 2; docs/FORMAT.md "Export files"):
 *   - UTF-8/ASCII text, lines ended by a single LF.
 *   - The first line is exactly "#tind-export 2". Other lines starting with
 *     '#' are comments; empty lines are ignored.
 *   - A line with one field, KS, declares a keyspace (created on import when
 *     missing), so empty keyspaces survive the trip.
 *   - A line with three TAB-separated fields, KS TAB KEY TAB VALUE, is one
 *     entry. VALUE may be empty (the line then ends with the TAB).
 *   - In every field, bytes 0x20..0x7e stand for themselves except '\',
 *     which is written \x5c; every other byte (TAB, LF, CR, NUL, 0x7f and
 *     0x80..0xff) is written \xHH (export writes lowercase; import takes
 *     either case). A '#' as the first byte of a line is written \x23.
 *     Import rejects raw control bytes and any other backslash sequence; it
 *     takes raw bytes >= 0x80 as they are (hand-written UTF-8).
 *   - The last line is the end record
 *       "#end entries N keyspaces K skipped S xxh3 H"
 *     N = entry lines, K = keyspace lines, S = key ranges `export --salvage`
 *     skipped (0 otherwise; each is also described by a comment line
 *     "#skipped ..."), H = xxh3-64 (16 lowercase hex digits) of every byte
 *     between the first line and the end record (all their lines, LFs
 *     included). Nothing follows it.
 *   - export writes, for each keyspace in name order, its declaration then
 *     its entries in key order, all read from one snapshot. With --output F
 *     it writes F.tmp, syncs it and renames it over F, so F is either the
 *     whole export or untouched.
 *
 * import checks the whole file (standard input is first copied to a
 * temporary file) before writing anything: the header, every line, and the
 * end record's counts and checksum, so a file cut anywhere (mid-line, at a
 * line end, before the end record) or altered changes nothing. Then it
 * applies the entries in batches of up to 1000 entries or 4 MiB. `import
 * --unchecked` accepts a file without the header and end record (hand-written
 * files, format 1 exports); every line is still checked first.
 *
 * export --salvage keeps going past read errors (a damaged block or table):
 * when the forward scan of a keyspace fails after key A, a backward scan from
 * the end finds the smallest key B above A that still reads, the keys
 * strictly between A and B are reported as skipped (stderr, a "#skipped"
 * comment, the end record's count) and the scan resumes at B. Limit: keys of
 * intact files inside a skipped range are skipped too, and so are intact
 * blocks between two damaged ones of the same range.
 */
#include "shell.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tind_internal.h"

#define EXPORT_HEADER "#tind-export 2"
#define EXPORT_END "#end "
#define IMPORT_BATCH_ENTRIES 1000
#define IMPORT_BATCH_BYTES (4u << 20)
/* Files at least this large are written by bulk ingestion (or with --ingest). */
#define IMPORT_INGEST_BYTES (32u << 20)

/* ------------------------------------------------------------------ export */

typedef struct exporter {
    tsh *sh;
    FILE *out;
    int salvage;
    hash64_stream hash;           /* every byte after the header line */
    uint64_t entries, keyspaces, skipped;
    tbuf line;
    sh_progress meter;            /* entries exported */
} exporter;

/* Writes line (a whole line, LF included) and adds it to the checksum. */
static int exp_put(exporter *x, const tbuf *line)
{
    hash64_update(&x->hash, line->data, line->len);
    if (line->len && fwrite(line->data, 1, line->len, x->out) != line->len)
        return sh_error(x->sh, "export: write failed: %s", strerror(errno));
    return SH_OK;
}

static int copy_key(tbuf *dst, const tind_iter *it)
{
    size_t klen;
    const void *k = tind_iter_key(it, &klen);
    return tbuf_set(dst, k, klen);
}

/* The smallest key >= lo (lo NULL: unbounded) that a backward scan from the
 * end reaches before a read error; *found = 0 when none does. */
static int exp_resume_point(exporter *x, tind_keyspace *ks, const tbuf *lo, const tind_read_options *ro,
                            tbuf *out, int *found)
{
    tind_iter *it = NULL;
    *found = 0;
    if (tind_iter_range(ks, lo ? lo->data : NULL, lo ? lo->len : 0, NULL, 0, ro, &it))
        return SH_OK;
    for (tind_iter_last(it); tind_iter_valid(it) && !sh_interrupted; tind_iter_prev(it)) {
        if (copy_key(out, it)) {
            tind_iter_free(it);
            return sh_error(x->sh, "out of memory");
        }
        *found = 1;
    }
    tind_iter_free(it);
    return SH_OK;
}

/* Reports the keys strictly between after (NULL: the start) and before
 * (NULL: the end) of keyspace ksname as skipped. */
static int exp_skipped(exporter *x, const tbuf *ksname, const tbuf *after, const tbuf *before, const char *why)
{
    tbuf a = TBUF_INIT, b = TBUF_INIT;
    int rc = SH_OK;
    if ((after && exp_escape(&a, after->data, after->len, 0)) || (before && exp_escape(&b, before->data, before->len, 0)))
        rc = sh_error(x->sh, "out of memory");
    if (rc == SH_OK) {
        x->skipped++;
        fflush(x->sh->out);
        fprintf(x->sh->err, "export --salvage: keyspace %.*s: skipped the keys %s%.*s%s %s%.*s%s: %s\n",
                (int)ksname->len, (const char *)ksname->data, after ? "after '" : "from the start", (int)a.len,
                a.data ? (const char *)a.data : "", after ? "'" : "", before ? "up to '" : "to the end",
                (int)b.len, b.data ? (const char *)b.data : "", before ? "' (exclusive)" : "", why);
        tbuf_reset(&x->line);
        if (tbuf_append(&x->line, "#skipped ", 9) || tbuf_append(&x->line, ksname->data, ksname->len) ||
            tbuf_append(&x->line, after ? "\tafter\t" : "\tstart\t", after ? 7 : 7) ||
            tbuf_append(&x->line, a.data ? a.data : (const uint8_t *)"", a.len) ||
            tbuf_append(&x->line, before ? "\tbefore\t" : "\tend\t", before ? 8 : 5) ||
            tbuf_append(&x->line, b.data ? b.data : (const uint8_t *)"", b.len) || tbuf_append_u8(&x->line, '\n'))
            rc = sh_error(x->sh, "out of memory");
        else
            rc = exp_put(x, &x->line);
    }
    tbuf_free(&a);
    tbuf_free(&b);
    return rc;
}

/* Exports one keyspace: its declaration, then its entries in key order. */
static int exp_keyspace(exporter *x, const char *name, const tind_read_options *ro)
{
    tsh *sh = x->sh;
    tind_keyspace *ks;
    if (tind_keyspace_open(sh->db, name, NULL, &ks))
        return sh_error(sh, "export: %s", tind_errmsg(sh->db));
    tbuf ksname = TBUF_INIT, last = TBUF_INIT, from = TBUF_INIT;
    int rc = SH_OK, have_from = 0;
    if (exp_escape(&ksname, (const uint8_t *)name, strlen(name), 1))
        rc = sh_error(sh, "out of memory");
    tbuf_reset(&x->line);
    if (rc == SH_OK && (tbuf_append(&x->line, ksname.data, ksname.len) || tbuf_append_u8(&x->line, '\n')))
        rc = sh_error(sh, "out of memory");
    if (rc == SH_OK && (rc = exp_put(x, &x->line)) == SH_OK)
        x->keyspaces++;
    /* one forward scan; under --salvage, one more after each damaged range */
    while (rc == SH_OK) {
        tind_iter *it = NULL;
        int have_last = 0;
        int st = tind_iter_range(ks, have_from ? from.data : NULL, have_from ? from.len : 0, NULL, 0, ro, &it);
        if (st == TIND_OK) {
            for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
                if (sh_interrupted) {
                    rc = sh_error(sh, "export interrupted");
                    break;
                }
                size_t klen, vlen;
                const uint8_t *key = tind_iter_key(it, &klen);
                const uint8_t *val = tind_iter_value(it, &vlen);
                if (!val && tind_iter_status(it) != TIND_OK)
                    break;
                tbuf_reset(&x->line);
                if (tbuf_append(&x->line, ksname.data, ksname.len) || tbuf_append_u8(&x->line, '\t') ||
                    exp_escape(&x->line, key, klen, 0) || tbuf_append_u8(&x->line, '\t') ||
                    exp_escape(&x->line, val, vlen, 0) || tbuf_append_u8(&x->line, '\n') ||
                    (x->salvage && tbuf_set(&last, key, klen))) {
                    rc = sh_error(sh, "out of memory");
                    break;
                }
                if ((rc = exp_put(x, &x->line)) != SH_OK)
                    break;
                have_last = 1;
                x->entries++;
                sh_progress_add(&x->meter, 1);
            }
            st = tind_iter_status(it);
            tind_iter_free(it);
        }
        if (rc != SH_OK || st == TIND_OK)
            break;
        char why[1024];
        snprintf(why, sizeof why, "%s", tind_errmsg(sh->db));
        if (!x->salvage) {
            rc = sh_error(sh, "export: %s (export --salvage skips damaged data)", why);
            break;
        }
        /* the damage lies after `last` (or `from`, which is then lost
         * itself, or the start): find where reading works again */
        const tbuf *after = have_last ? &last : have_from ? &from : NULL;
        tbuf lo = TBUF_INIT, resume = TBUF_INIT;
        int found = 0;
        if (after && (tbuf_set(&lo, after->data, after->len) || tbuf_append_u8(&lo, 0)))
            rc = sh_error(sh, "out of memory");
        if (rc == SH_OK)
            rc = exp_resume_point(x, ks, after ? &lo : NULL, ro, &resume, &found);
        if (rc == SH_OK)
            rc = exp_skipped(x, &ksname, after, found ? &resume : NULL, why);
        if (rc == SH_OK && found) {
            rc = tbuf_set(&from, resume.data, resume.len) ? sh_error(sh, "out of memory") : SH_OK;
            have_from = 1;
        }
        tbuf_free(&lo);
        tbuf_free(&resume);
        if (!found)
            break;
    }
    tbuf_free(&ksname);
    tbuf_free(&last);
    tbuf_free(&from);
    return rc;
}

/* Makes a renamed file's entry durable: fsync of the folder holding path. */
static int sync_parent(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return -1;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        strcpy(dir, ".");
    FILE *d = fopen(dir, "r");
    int rc = d && fsync(fileno(d)) == 0 ? 0 : -1;
    if (d)
        fclose(d);
    free(dir);
    return rc;
}

int sh_cmd_export(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {{"output", 1, 0, NULL}, {"salvage", 0, 0, NULL}};
    size_t max = args->count;
    const sh_word **pos = calloc(max ? max : 1, sizeof *pos);
    if (!pos)
        return sh_error(sh, "out of memory");
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, 2, pos, &npos, max);
    if (rc) {
        free(pos);
        return rc;
    }
    /* the keyspaces: the ones named (which must exist), else all */
    char **all = NULL;
    size_t nall = 0;
    const char **names = NULL;
    size_t nnames = 0;
    if (npos) {
        names = calloc(npos, sizeof *names);
        if (!names) {
            free(pos);
            return sh_error(sh, "out of memory");
        }
        for (size_t i = 0; i < npos; i++) {
            if (tind_keyspace_exists(sh->db, sh_str(pos[i])) != TIND_OK) {
                rc = sh_error(sh, "export: no keyspace '%s'", sh_str(pos[i]));
                free(names);
                free(pos);
                return rc;
            }
            names[nnames++] = sh_str(pos[i]);
        }
    } else {
        int st = tind_keyspace_list(sh->db, &all, &nall);
        if (st) {
            free(pos);
            return sh_error(sh, "export: %s", tind_errmsg(sh->db));
        }
        names = calloc(nall ? nall : 1, sizeof *names);
        if (!names) {
            tind_free(all);
            free(pos);
            return sh_error(sh, "out of memory");
        }
        for (size_t i = 0; i < nall; i++)
            names[nnames++] = all[i];
    }

    exporter x;
    memset(&x, 0, sizeof x);
    x.sh = sh;
    x.out = sh->out;
    x.salvage = opts[1].seen;
    hash64_begin(&x.hash);
    const char *out_path = opts[0].seen ? sh_str(opts[0].value) : NULL;
    char *tmp_path = NULL;
    if (out_path && strcmp(out_path, "-") != 0) {
        /* F.tmp, synced and renamed over F: F is whole or untouched */
        size_t n = strlen(out_path) + 5;
        tmp_path = malloc(n);
        if (!tmp_path) {
            rc = sh_error(sh, "out of memory");
            goto done_names;
        }
        snprintf(tmp_path, n, "%s.tmp", out_path);
        x.out = fopen(tmp_path, "w");
        if (!x.out) {
            rc = sh_error(sh, "export: cannot create '%s': %s", tmp_path, strerror(errno));
            goto done_names;
        }
    }

    tind_snapshot *snap = NULL;
    tind_read_options *ro = tind_read_options_new();
    int st = ro ? tind_snapshot_new(sh->db, &snap) : TIND_ENOMEM;
    if (st) {
        rc = sh_error(sh, "export: %s", ro ? tind_errmsg(sh->db) : "out of memory");
        goto done_out;
    }
    tind_read_options_set_snapshot(ro, snap);
    tind_read_options_set_fill_cache(ro, 0);
    /* not over the entries themselves when they go to the terminal */
    if (!(x.out == sh->out && isatty(fileno(sh->out))))
        sh_progress_begin(&x.meter, sh, "export", 0, 0, "entries");
    if (fprintf(x.out, "%s\n", EXPORT_HEADER) < 0)
        rc = sh_error(sh, "export: write failed: %s", strerror(errno));
    for (size_t k = 0; k < nnames && rc == SH_OK; k++)
        rc = exp_keyspace(&x, names[k], ro);
    if (rc == SH_OK &&
        fprintf(x.out, EXPORT_END "entries %" PRIu64 " keyspaces %" PRIu64 " skipped %" PRIu64 " xxh3 %016" PRIx64 "\n",
                x.entries, x.keyspaces, x.skipped, hash64_end(&x.hash)) < 0)
        rc = sh_error(sh, "export: write failed: %s", strerror(errno));
    if (fflush(x.out) != 0 && rc == SH_OK)
        rc = sh_error(sh, "export: write failed: %s", strerror(errno));
    if (tmp_path && rc == SH_OK && fsync(fileno(x.out)) != 0)
        rc = sh_error(sh, "export: syncing '%s': %s", tmp_path, strerror(errno));
    sh_progress_end(&x.meter);
    if (rc == SH_OK && x.skipped)
        fprintf(sh->err, "export --salvage: %" PRIu64 " damaged key ranges skipped (listed above and in the file)\n",
                x.skipped);
    if (rc == SH_OK && sh->interactive)
        fprintf(sh->out, "(exported %" PRIu64 " entries from %zu keyspaces)\n", x.entries, nnames);
done_out:
    tbuf_free(&x.line);
    if (snap)
        tind_snapshot_free(snap);
    tind_read_options_free(ro);
    if (x.out != sh->out) {
        if (fclose(x.out) != 0 && rc == SH_OK)
            rc = sh_error(sh, "export: closing '%s': %s", tmp_path, strerror(errno));
        if (rc == SH_OK && rename(tmp_path, out_path) != 0)
            rc = sh_error(sh, "export: renaming '%s' to '%s': %s", tmp_path, out_path, strerror(errno));
        if (rc == SH_OK && sync_parent(out_path) != 0)
            rc = sh_error(sh, "export: syncing the folder of '%s': %s", out_path, strerror(errno));
        if (rc != SH_OK)
            unlink(tmp_path);
    }
done_names:
    free(tmp_path);
    free(names);
    tind_free(all);
    free(pos);
    return rc;
}

/* ------------------------------------------------------------------ import */

typedef struct importer {
    tsh *sh;
    const char *file;
    int apply;                    /* 0: only check the file */
    int unchecked;                /* --unchecked: no header or end record required */
    hash64_stream hash;           /* check pass: every byte after the header line */
    uint64_t lines_entries, lines_keyspaces;   /* check pass: what the end record must count */
    int seen_end;
    uint64_t end_skipped;
    tind_batch *batch;
    size_t batch_bytes;
    uint64_t entries;
    uint64_t keyspaces_created;
    char last_ks[256];
    tind_keyspace *ks;            /* the handle of last_ks */
    tbuf f[3];
    sh_progress meter;            /* bytes read, over both passes */
    /* the writing pass by bulk ingestion (imp_ingest_pass) */
    int ingesting;
    int pending;                  /* imp_line parsed an entry into f[] */
    int carry;                    /* ... which belongs to the next tind_ingest */
    int failed;                   /* the message is printed */
    int at_eof;
    tind_keyspace *ingest_ks;
    FILE *in;
    char *line;
    size_t line_cap;
    long lineno;
} importer;

static int imp_flush(importer *im)
{
    if (!im->batch || tind_batch_count(im->batch) == 0)
        return SH_OK;
    int st = tind_batch_commit(im->batch);
    im->batch_bytes = 0;
    if (st)
        return sh_error(im->sh, "import: %s", tind_errmsg(im->sh->db));
    return SH_OK;
}

static int imp_keyspace(importer *im, const tbuf *name, long lineno)
{
    if (name->len == 0 || name->len > TIND_MAX_KEYSPACE_NAME || memchr(name->data, 0, name->len))
        return sh_error(im->sh, "import: %s line %ld: a keyspace name is 1..255 bytes without NUL", im->file, lineno);
    char n[256];
    memcpy(n, name->data, name->len);
    n[name->len] = 0;
    if (!im->apply)
        return SH_OK;
    if (im->ks && !strcmp(n, im->last_ks))
        return SH_OK;
    int exists = tind_keyspace_exists(im->sh->db, n) == TIND_OK;
    int st = tind_keyspace_open(im->sh->db, n, NULL, &im->ks);
    if (st) {
        im->ks = NULL;
        return sh_error(im->sh, "import: %s line %ld: keyspace '%s': %s", im->file, lineno, n,
                        tind_errmsg(im->sh->db));
    }
    if (!exists)
        im->keyspaces_created++;
    memcpy(im->last_ks, n, name->len + 1);
    return SH_OK;
}

static int imp_line(importer *im, const char *line, size_t n, long lineno)
{
    if (n && line[n - 1] == '\n')
        n--;
    if (n == 0 || line[0] == '#')
        return SH_OK;
    const char *field[3];
    size_t flen[3];
    size_t nf = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || line[i] == '\t') {
            if (nf == 3)
                return sh_error(im->sh, "import: %s line %ld: more than 3 TAB-separated fields", im->file, lineno);
            field[nf] = line + start;
            flen[nf] = i - start;
            nf++;
            start = i + 1;
        }
    }
    if (!im->apply) {
        if (nf == 1)
            im->lines_keyspaces++;
        else if (nf == 3)
            im->lines_entries++;
    }
    if (nf == 2)
        return sh_error(im->sh, "import: %s line %ld: 2 fields; expected KS or KS<TAB>KEY<TAB>VALUE", im->file,
                        lineno);
    for (size_t k = 0; k < nf; k++) {
        size_t bad = 0;
        char why[128];
        tbuf_reset(&im->f[k]);
        int rc = exp_unescape(field[k], flen[k], &im->f[k], &bad, why, sizeof why);
        if (rc == TIND_ENOMEM)
            return sh_error(im->sh, "out of memory");
        if (rc)
            return sh_error(im->sh, "import: %s line %ld, column %zu: %s", im->file, lineno,
                            (size_t)(field[k] - line) + bad + 1, why);
    }
    int rc = imp_keyspace(im, &im->f[0], lineno);
    if (rc || nf == 1)
        return rc;
    if (im->f[1].len == 0 || im->f[1].len > TIND_MAX_KEY_SIZE)
        return sh_error(im->sh, "import: %s line %ld: a key is 1..65535 bytes (this one has %zu)", im->file, lineno,
                        im->f[1].len);
    if (!im->apply)
        return SH_OK;
    if (im->ingesting) {
        im->pending = 1;
        return SH_OK;
    }
    int st = tind_batch_put(im->batch, im->ks, im->f[1].data, im->f[1].len,
                            im->f[2].data ? im->f[2].data : (const uint8_t *)"", im->f[2].len);
    if (st)
        return sh_error(im->sh, "import: %s line %ld: %s", im->file, lineno, tind_strerror(st));
    im->entries++;
    im->batch_bytes += im->f[1].len + im->f[2].len;
    if (tind_batch_count(im->batch) >= IMPORT_BATCH_ENTRIES || im->batch_bytes >= IMPORT_BATCH_BYTES)
        return imp_flush(im);
    return SH_OK;
}

/* The end record against what the check pass counted. */
static int imp_end(importer *im, const char *line, size_t n, long lineno)
{
    uint64_t entries, keyspaces, skipped, sum;
    char hex[17];
    int used = -1;
    char buf[160];
    if (n >= sizeof buf)
        return sh_error(im->sh, "import: %s line %ld: malformed end record", im->file, lineno);
    memcpy(buf, line, n);
    buf[n] = 0;
    if (sscanf(buf, EXPORT_END "entries %" SCNu64 " keyspaces %" SCNu64 " skipped %" SCNu64 " xxh3 %16[0-9a-f]%n",
               &entries, &keyspaces, &skipped, hex, &used) != 4 ||
        used != (int)n || strlen(hex) != 16)
        return sh_error(im->sh, "import: %s line %ld: malformed end record", im->file, lineno);
    sum = strtoull(hex, NULL, 16);
    if (entries != im->lines_entries || keyspaces != im->lines_keyspaces)
        return sh_error(im->sh,
                        "import: %s: the end record counts %" PRIu64 " entries and %" PRIu64 " keyspaces but the file "
                        "holds %" PRIu64 " and %" PRIu64 ": nothing imported",
                        im->file, entries, keyspaces, im->lines_entries, im->lines_keyspaces);
    if (sum != hash64_end(&im->hash))
        return sh_error(im->sh, "import: %s: checksum mismatch (the file was altered): nothing imported", im->file);
    im->seen_end = 1;
    im->end_skipped = skipped;
    return SH_OK;
}

static int imp_pass(importer *im, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = SH_OK;
    while (rc == SH_OK && (n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        sh_progress_add(&im->meter, (uint64_t)n);
        if (sh_interrupted) {
            rc = sh_error(im->sh, "import interrupted at line %ld", lineno);
            break;
        }
        if (im->seen_end) {
            rc = sh_error(im->sh, "import: %s line %ld: data after the end record: nothing imported", im->file,
                          lineno);
            break;
        }
        size_t len = (size_t)n;
        if (!im->apply && !im->unchecked) {
            if (lineno == 1) {
                if (len != strlen(EXPORT_HEADER) + 1 || memcmp(line, EXPORT_HEADER "\n", len) != 0)
                    rc = sh_error(im->sh,
                                  "import: %s: the first line is not '" EXPORT_HEADER "' (a hand-written file or a "
                                  "format 1 export: import --unchecked)",
                                  im->file);
                continue;
            }
            if (len > strlen(EXPORT_END) && !memcmp(line, EXPORT_END, strlen(EXPORT_END))) {
                if (line[len - 1] != '\n')
                    rc = sh_error(im->sh, "import: %s: the end record is cut: nothing imported", im->file);
                else
                    rc = imp_end(im, line, len - 1, lineno);
                continue;
            }
            hash64_update(&im->hash, line, len);
        }
        rc = imp_line(im, line, len, lineno);
    }
    if (rc == SH_OK && ferror(in))
        rc = sh_error(im->sh, "import: reading '%s': %s", im->file, strerror(errno));
    if (rc == SH_OK && !im->apply && !im->unchecked && !im->seen_end)
        rc = sh_error(im->sh,
                      "import: %s: no end record: the file is incomplete (an export cut short?): nothing imported",
                      im->file);
    free(line);
    return rc;
}

/* The input of one tind_ingest: the file's entry lines while they name its
 * keyspace; an entry of another keyspace is carried to the next call. */
static int imp_ingest_next(void *ctx, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    importer *im = ctx;
    for (;;) {
        if (!im->carry) {
            ssize_t n = getline(&im->line, &im->line_cap, im->in);
            if (n < 0) {
                if (ferror(im->in)) {
                    sh_error(im->sh, "import: reading '%s': %s", im->file, strerror(errno));
                    im->failed = 1;
                    return TIND_EIO;
                }
                im->at_eof = 1;
                return 0;
            }
            im->lineno++;
            sh_progress_add(&im->meter, (uint64_t)n);
            if (sh_interrupted) {
                sh_error(im->sh, "import interrupted at line %ld", im->lineno);
                im->failed = 1;
                return TIND_EINVAL;
            }
            im->pending = 0;
            if (imp_line(im, im->line, (size_t)n, im->lineno) != SH_OK) {
                im->failed = 1;
                return TIND_EINVAL;
            }
            if (!im->pending)
                continue;
            if (im->ks != im->ingest_ks) {
                im->carry = 1;
                return 0;
            }
        }
        im->carry = 0;
        *key = im->f[1].data;
        *klen = im->f[1].len;
        *val = im->f[2].data ? im->f[2].data : (const uint8_t *)"";
        *vlen = im->f[2].len;
        im->entries++;
        return 1;
    }
}

/* The writing pass by bulk ingestion: each run of lines of one keyspace is
 * one tind_ingest (unsorted input: the file's order does not matter and a
 * key's last line wins, as with puts), atomic on its own. */
static int imp_ingest_pass(importer *im, FILE *in)
{
    im->in = in;
    im->ingesting = 1;
    int rc = SH_OK;
    while (rc == SH_OK) {
        const void *k, *v;
        size_t kl, vl;
        im->ingest_ks = NULL;   /* the next entry is carried: its keyspace is known */
        if (!im->carry && imp_ingest_next(im, &k, &kl, &v, &vl) < 0)
            rc = SH_FAIL;
        if (rc || !im->carry)
            break;
        im->ingest_ks = im->ks;
        int st = tind_ingest(im->ks, imp_ingest_next, im, 0, 0, NULL, NULL, NULL);
        if (st && !im->failed)
            rc = sh_error(im->sh, "import: %s", tind_errmsg(im->sh->db));
        else if (st)
            rc = SH_FAIL;
    }
    free(im->line);
    return rc;
}

int sh_cmd_import(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {{"unchecked", 0, 0, NULL}, {"ingest", 0, 0, NULL}};
    const sh_word *pos[1];
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, 2, pos, &npos, 1);
    if (rc)
        return rc;
    if (npos != 1)
        return SH_USAGE;
    if (sh->batch)
        return sh_error(sh, "import: a batch is open: commit or abort it first");
    if (sh->read_only)
        return sh_error(sh, "import: the database is opened read-only (--read-only)");
    const char *file = sh_str(pos[0]);
    FILE *in;
    if (!strcmp(file, "-")) {
        if (sh->stdin_commands || sh->interactive)
            return sh_error(sh, "import -: standard input carries the commands; name a file");
        /* a copy to read twice: the whole input is checked before any write */
        file = "(standard input)";
        in = tmpfile();
        if (!in)
            return sh_error(sh, "import: a temporary file for standard input: %s", strerror(errno));
        char buf[65536];
        size_t got;
        while (rc == SH_OK && (got = fread(buf, 1, sizeof buf, stdin)) > 0)
            if (fwrite(buf, 1, got, in) != got)
                rc = sh_error(sh, "import: copying standard input: %s", strerror(errno));
        if (rc == SH_OK && ferror(stdin))
            rc = sh_error(sh, "import: reading standard input: %s", strerror(errno));
        if (rc == SH_OK && (fflush(in) != 0 || fseek(in, 0, SEEK_SET) != 0))
            rc = sh_error(sh, "import: rewinding the copy of standard input: %s", strerror(errno));
        if (rc) {
            fclose(in);
            return rc;
        }
    } else {
        in = fopen(file, "r");
        if (!in)
            return sh_error(sh, "import: cannot open '%s': %s", file, strerror(errno));
    }
    importer im;
    memset(&im, 0, sizeof im);
    im.sh = sh;
    im.file = file;
    im.unchecked = opts[0].seen;
    hash64_begin(&im.hash);
    struct stat in_st;
    memset(&in_st, 0, sizeof in_st);
    /* the file is read twice: a check pass, then the writing pass */
    sh_progress_begin(&im.meter, sh, "import", fstat(fileno(in), &in_st) == 0 ? 2 * (uint64_t)in_st.st_size : 0, 1,
                      NULL);
    /* check the whole file before writing anything */
    rc = imp_pass(&im, in);
    if (rc == SH_OK && fseek(in, 0, SEEK_SET) != 0)
        rc = sh_error(sh, "import: rewinding '%s': %s", file, strerror(errno));
    if (rc == SH_OK && !sh->db) {
        /* only now, with a file that passed: import may create the database */
        int could_create = sh->create;
        sh->create = 1;
        rc = sh_open_db(sh);
        sh->create = could_create;
    }
    if (rc == SH_OK) {
        im.apply = 1;
        im.seen_end = 0;
        int st = tind_batch_new(sh->db, &im.batch);
        if (st)
            rc = sh_error(sh, "import: %s", tind_errmsg(sh->db));
        else if (opts[1].seen || (uint64_t)in_st.st_size >= IMPORT_INGEST_BYTES)
            rc = imp_ingest_pass(&im, in);
        else
            rc = imp_pass(&im, in);
        if (rc == SH_OK)
            rc = imp_flush(&im);
        else if (im.batch && im.entries && im.ingesting)
            fprintf(sh->err, "import: the keyspaces whose lines ended before the failing line were written (each "
                             "one whole)\n");
        else if (im.batch && im.entries)
            fprintf(sh->err, "import: entries before the failing line were written (up to the last full batch)\n");
        if (im.batch)
            tind_batch_free(im.batch);
    }
    sh_progress_end(&im.meter);
    for (int k = 0; k < 3; k++)
        tbuf_free(&im.f[k]);
    fclose(in);
    if (rc == SH_OK && im.end_skipped)
        fprintf(sh->err, "import: note: the export skipped %" PRIu64 " damaged key ranges (export --salvage)\n",
                im.end_skipped);
    if (rc == SH_OK && sh->interactive)
        fprintf(sh->out, "(imported %" PRIu64 " entries; %" PRIu64 " keyspaces created)\n", im.entries,
                im.keyspaces_created);
    return rc;
}
