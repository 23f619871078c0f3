/*
 * transfer.c -- `export` and `import`: a line-oriented text format that is
 * binary-safe and round-trips exactly.
 *
 * Format (version 1):
 *   - UTF-8/ASCII text, lines ended by a single LF.
 *   - The first line written is the comment "#tind-export 1". A line starting
 *     with '#' is a comment; empty lines are ignored.
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
 *   - export writes, for each keyspace in name order, its declaration then
 *     its entries in key order, all read from one snapshot.
 *
 * import applies entries in batches of up to 1000 entries or 4 MiB
 * (tind_batch): it is not one atomic transaction. A regular file is checked
 * whole before anything is written, so a malformed file changes nothing;
 * standard input is checked as it streams.
 */
#include "shell.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EXPORT_HEADER "#tind-export 1"
#define IMPORT_BATCH_ENTRIES 1000
#define IMPORT_BATCH_BYTES (4u << 20)

/* ------------------------------------------------------------------ export */

static int write_all(FILE *f, const tbuf *b)
{
    return b->len && fwrite(b->data, 1, b->len, f) != b->len ? -1 : 0;
}

int sh_cmd_export(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {{"output", 1, 0, NULL}};
    size_t max = args->count;
    const sh_word **pos = calloc(max ? max : 1, sizeof *pos);
    if (!pos)
        return sh_error(sh, "out of memory");
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, 1, pos, &npos, max);
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

    FILE *out = sh->out;
    const char *out_path = opts[0].seen ? sh_str(opts[0].value) : NULL;
    if (out_path && strcmp(out_path, "-") != 0) {
        out = fopen(out_path, "w");
        if (!out) {
            rc = sh_error(sh, "export: cannot create '%s': %s", out_path, strerror(errno));
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
    uint64_t entries = 0;
    tbuf line = TBUF_INIT;
    if (fprintf(out, "%s\n", EXPORT_HEADER) < 0)
        rc = sh_error(sh, "export: write failed: %s", strerror(errno));
    for (size_t k = 0; k < nnames && rc == SH_OK; k++) {
        tind_keyspace *ks;
        if ((st = tind_keyspace_open(sh->db, names[k], NULL, &ks))) {
            rc = sh_error(sh, "export: %s", tind_errmsg(sh->db));
            break;
        }
        tbuf ksname = TBUF_INIT;
        if (exp_escape(&ksname, (const uint8_t *)names[k], strlen(names[k]), 1)) {
            rc = sh_error(sh, "out of memory");
            tbuf_free(&ksname);
            break;
        }
        tbuf_reset(&line);
        if (tbuf_append(&line, ksname.data, ksname.len) || tbuf_append_u8(&line, '\n') || write_all(out, &line)) {
            rc = sh_error(sh, "export: write failed: %s", strerror(errno));
            tbuf_free(&ksname);
            break;
        }
        tind_iter *it = NULL;
        if ((st = tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it))) {
            rc = sh_error(sh, "export: %s", tind_errmsg(sh->db));
            tbuf_free(&ksname);
            break;
        }
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
            tbuf_reset(&line);
            int e = tbuf_append(&line, ksname.data, ksname.len) || tbuf_append_u8(&line, '\t') ||
                    exp_escape(&line, key, klen, 0) || tbuf_append_u8(&line, '\t') ||
                    exp_escape(&line, val, vlen, 0) || tbuf_append_u8(&line, '\n');
            if (e) {
                rc = sh_error(sh, "out of memory");
                break;
            }
            if (write_all(out, &line)) {
                rc = sh_error(sh, "export: write failed: %s", strerror(errno));
                break;
            }
            entries++;
        }
        st = tind_iter_status(it);
        tind_iter_free(it);
        tbuf_free(&ksname);
        if (st && rc == SH_OK)
            rc = sh_error(sh, "export: %s", tind_errmsg(sh->db));
    }
    tbuf_free(&line);
    if (fflush(out) != 0 && rc == SH_OK)
        rc = sh_error(sh, "export: write failed: %s", strerror(errno));
    if (rc == SH_OK && sh->interactive)
        fprintf(sh->out, "(exported %" PRIu64 " entries from %zu keyspaces)\n", entries,
                nnames);
done_out:
    if (snap)
        tind_snapshot_free(snap);
    tind_read_options_free(ro);
    if (out != sh->out && fclose(out) != 0 && rc == SH_OK)
        rc = sh_error(sh, "export: closing '%s': %s", out_path, strerror(errno));
done_names:
    free(names);
    tind_free(all);
    free(pos);
    return rc;
}

/* ------------------------------------------------------------------ import */

typedef struct importer {
    tsh *sh;
    const char *file;
    int apply;                    /* 0: only check the syntax */
    tind_batch *batch;
    size_t batch_bytes;
    uint64_t entries;
    uint64_t keyspaces_created;
    char last_ks[256];
    tind_keyspace *ks;            /* the handle of last_ks */
    tbuf f[3];
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

static int imp_pass(importer *im, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = SH_OK;
    while (rc == SH_OK && (n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (sh_interrupted) {
            rc = sh_error(im->sh, "import interrupted at line %ld", lineno);
            break;
        }
        rc = imp_line(im, line, (size_t)n, lineno);
    }
    if (rc == SH_OK && ferror(in))
        rc = sh_error(im->sh, "import: reading '%s': %s", im->file, strerror(errno));
    free(line);
    return rc;
}

int sh_cmd_import(tsh *sh, sh_words *args)
{
    const sh_word *pos[1];
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, NULL, 0, pos, &npos, 1);
    if (rc)
        return rc;
    if (npos != 1)
        return SH_USAGE;
    if (sh->batch)
        return sh_error(sh, "import: a batch is open: commit or abort it first");
    const char *file = sh_str(pos[0]);
    FILE *in;
    int from_stdin = !strcmp(file, "-");
    if (from_stdin) {
        if (sh->stdin_commands || sh->interactive)
            return sh_error(sh, "import -: standard input carries the commands; name a file");
        in = stdin;
        file = "(standard input)";
    } else {
        in = fopen(file, "r");
        if (!in)
            return sh_error(sh, "import: cannot open '%s': %s", file, strerror(errno));
    }
    importer im;
    memset(&im, 0, sizeof im);
    im.sh = sh;
    im.file = file;
    struct stat stt;
    int seekable = !from_stdin && fstat(fileno(in), &stt) == 0 && S_ISREG(stt.st_mode);
    if (seekable) {
        /* check the whole file before writing anything */
        rc = imp_pass(&im, in);
        if (rc == SH_OK && fseek(in, 0, SEEK_SET) != 0)
            rc = sh_error(sh, "import: rewinding '%s': %s", file, strerror(errno));
    }
    if (rc == SH_OK) {
        im.apply = 1;
        int st = tind_batch_new(sh->db, &im.batch);
        if (st)
            rc = sh_error(sh, "import: %s", tind_errmsg(sh->db));
        else
            rc = imp_pass(&im, in);
        if (rc == SH_OK)
            rc = imp_flush(&im);
        else if (im.batch && im.entries)
            fprintf(sh->err, "import: entries before the failing line were written (up to the last full batch)\n");
        if (im.batch)
            tind_batch_free(im.batch);
    }
    for (int k = 0; k < 3; k++)
        tbuf_free(&im.f[k]);
    if (!from_stdin)
        fclose(in);
    if (rc == SH_OK && sh->interactive)
        fprintf(sh->out, "(imported %" PRIu64 " entries; %" PRIu64 " keyspaces created)\n", im.entries,
                im.keyspaces_created);
    return rc;
}
