/*
 * commands.c -- the shell's command table, the dispatcher, option parsing
 * and the data commands: keyspaces, create, drop, put, get, del, scan,
 * count, batch / commit / abort, stats, compact, flush, set, echo, help,
 * quit. verify, dump, export and import live in files of their own.
 *
 * Writes go through the public API only. Between `batch` and `commit`, put
 * and del are queued in one tind_batch (reads still see the committed state)
 * and applied atomically by `commit`.
 */
#include "shell.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tind_internal.h"

volatile sig_atomic_t sh_interrupted;

/* ------------------------------------------------------------------ helpers */

int sh_error(tsh *sh, const char *fmt, ...)
{
    va_list ap;
    fflush(sh->out);
    if (sh->line > 0)
        fprintf(sh->err, "line %ld: ", sh->line);
    fputs("error: ", sh->err);
    va_start(ap, fmt);
    vfprintf(sh->err, fmt, ap);
    va_end(ap);
    fputc('\n', sh->err);
    fflush(sh->err);
    return SH_FAIL;
}

void sh_show_bytes(tsh *sh, FILE *f, const void *p, size_t n, int hex, int full)
{
    sh_print(f, p, n, hex || sh->hex, !(full || sh->full));
}

/* One line, no trailing newline, for messages built by the library. */
static const char *one_line(const char *msg, char *buf, size_t n)
{
    snprintf(buf, n, "%s", msg && *msg ? msg : "unknown error");
    for (char *c = buf; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    return buf;
}

static int db_error(tsh *sh, const char *what, int rc)
{
    char buf[TIND_ERRMSG_MAX + 64];
    const char *msg = tind_errmsg(sh->db);
    if (!msg[0])
        msg = tind_strerror(rc);
    return sh_error(sh, "%s: %s", what, one_line(msg, buf, sizeof buf));
}

fs *sh_new_fs(tsh *sh)
{
    fs *px = fs_posix_new();
    fs *c = px && sh->has_key ? fs_crypt_new(px, 1, sh->key) : px;
    if (!c) {
        fs_destroy(px);
        sh_error(sh, "out of memory");
        return NULL;
    }
    char *kp = fname_join(sh->path, FNAME_ENCRYPTION);
    uint8_t *data = NULL;
    size_t len = 0;
    tind_err err;
    err_clear(&err);
    int rc = kp ? fs_read_all(px, kp, &data, &len, &err) : TIND_ENOMEM;
    if (rc == TIND_OK && sh->has_key)
        rc = fs_crypt_keyfile_check(c, data, len, kp, &err);
    else if (rc == TIND_OK)
        rc = err_set(&err, TIND_EINVAL, "'%s' is encrypted: give its key with --key-file F (or $TIND_KEY_FILE)",
                     sh->path);
    else if (rc == TIND_ENOENT && fs_exists(px, sh->path, NULL) != TIND_OK)
        rc = TIND_OK;    /* no folder: the command says so */
    else if (rc == TIND_ENOENT)
        rc = sh->has_key ? err_set(&err, TIND_EINVAL, "'%s' is not encrypted: run without --key-file", sh->path)
                         : TIND_OK;
    free(data);
    free(kp);
    if (rc) {
        fs_destroy(c);
        sh_error(sh, "%s", err.msg[0] ? err.msg : tind_strerror(rc));
        return NULL;
    }
    return c;
}

int sh_read_key_file(const char *path, uint8_t key[32], char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_len, "key file '%s': %s", path, strerror(errno));
        return -1;
    }
    uint8_t buf[200];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int rc = -1;
    if (n == 32) {
        memcpy(key, buf, 32);
        rc = 0;
    } else {
        size_t a = 0, b = n;
        while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\n' || buf[a] == '\r'))
            a++;
        while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\n' || buf[b - 1] == '\r'))
            b--;
        if (b - a == 64) {
            rc = 0;
            for (size_t i = 0; i < 64 && rc == 0; i++) {
                int c = buf[a + i], v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                if (v < 0)
                    rc = -1;
                else if (i % 2)
                    key[i / 2] = (uint8_t)(key[i / 2] | v);
                else
                    key[i / 2] = (uint8_t)(v << 4);
            }
        }
    }
    memset(buf, 0, sizeof buf);
    if (rc)
        snprintf(why, why_len, "key file '%s': want 32 raw bytes or 64 hex digits (%zu bytes found)", path, n);
    return rc;
}

int sh_open_db(tsh *sh)
{
    if (sh->db)
        return SH_OK;
    tind_db *db = NULL;
    tind_options *o = tind_options_new();
    if (!o)
        return sh_error(sh, "out of memory");
    tind_options_set_create_if_missing(o, sh->create);
    tind_options_set_read_only(o, sh->read_only);
    if (sh->has_key)
        tind_options_set_encryption_key(o, sh->key, sizeof sh->key);
    /* keep every journal there is: the shell must not delete journals the
     * application retains for its change feed (changes --from reads them) */
    tind_options_set_changes_retention(o, UINT64_MAX);
    int rc = tind_open(sh->path, o, &db);
    tind_options_free(o);
    if (rc == TIND_OK) {
        sh->db = db;
        return SH_OK;
    }
    sh->open_failed = 1;
    char buf[TIND_ERRMSG_MAX + 64];
    const char *msg = one_line(tind_errmsg(NULL), buf, sizeof buf);
    fflush(sh->out);
    fprintf(sh->err, "tind: cannot open '%s': %s", sh->path, msg);
    if (rc == TIND_EBUSY)
        fprintf(sh->err, " (close the other program using it first)\n");
    else if (rc == TIND_ECORRUPT)
        fprintf(sh->err, " (run 'tind %s verify' to list every damaged file)\n", sh->path);
    else if (rc == TIND_EVERSION)
        fprintf(sh->err, " (written by a newer version of tind: use that version)\n");
    else if (rc == TIND_ENOENT && !sh->create && !sh->read_only)
        fprintf(sh->err, " (to make a new database: tind --create PATH, or tind PATH create KS)\n");
    else
        fputc('\n', sh->err);
    fflush(sh->err);
    return SH_FAIL;
}

int sh_parse_opts(tsh *sh, sh_words *args, size_t from, sh_opt *opts, size_t nopts,
                  const sh_word **pos, size_t *npos, size_t max_pos)
{
    int done = 0;
    *npos = 0;
    for (size_t i = from; i < args->count; i++) {
        const sh_word *w = &args->v[i];
        const char *s = sh_str(w);
        if (!done && !w->literal && s[0] == '-' && s[1] == '-') {
            if (!s[2]) {
                done = 1;
                continue;
            }
            size_t k = 0;
            while (k < nopts && strcmp(opts[k].name, s + 2) != 0)
                k++;
            if (k == nopts) {
                sh_error(sh, "%s: unknown option %s", sh_str(&args->v[0]), s);
                return SH_USAGE;
            }
            opts[k].seen = 1;
            if (opts[k].takes_value) {
                if (i + 1 >= args->count) {
                    sh_error(sh, "%s: option %s needs a value", sh_str(&args->v[0]), s);
                    return SH_USAGE;
                }
                opts[k].value = &args->v[++i];
            }
            continue;
        }
        if (*npos >= max_pos) {
            sh_error(sh, "%s: too many arguments", sh_str(&args->v[0]));
            return SH_USAGE;
        }
        pos[(*npos)++] = w;
    }
    return SH_OK;
}

int sh_parse_u64(tsh *sh, const sh_word *w, const char *what, uint64_t *out)
{
    const char *s = sh_str(w);
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (!*s || *s == '-' || errno || !end)
        return sh_error(sh, "%s: '%s' is not a number", what, s);
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1024 * 1024, end++;
    else if (*end == 'g' || *end == 'G')
        mul = 1024 * 1024 * 1024, end++;
    if (*end)
        return sh_error(sh, "%s: '%s' is not a number", what, s);
    if (v > UINT64_MAX / mul)
        return sh_error(sh, "%s: '%s' is too large", what, s);
    *out = (uint64_t)v * mul;
    return SH_OK;
}

/* The handle of an existing keyspace (the API would create a missing one). */
static int get_keyspace(tsh *sh, const sh_word *name, tind_keyspace **ks)
{
    if (memchr(name->bytes.data ? name->bytes.data : (const uint8_t *)"", 0, name->bytes.len))
        return sh_error(sh, "a keyspace name cannot hold a NUL byte");
    if (tind_keyspace_exists(sh->db, sh_str(name)) != TIND_OK) {
        fflush(sh->out);
        if (sh->line > 0)
            fprintf(sh->err, "line %ld: ", sh->line);
        fprintf(sh->err, "error: no keyspace ");
        sh_print(sh->err, name->bytes.data, name->bytes.len, 0, 1);
        fprintf(sh->err, " (create it with: create NAME)\n");
        return SH_FAIL;
    }
    int rc = tind_keyspace_open(sh->db, sh_str(name), NULL, ks);
    if (rc)
        return db_error(sh, "open keyspace", rc);
    return SH_OK;
}

/* ---- output modes ---- */

/* The bytes as one field of the output mode's records, appended to line: a
 * JSON string or a CSV field. */
static int mode_field(const tsh *sh, tbuf *line, const void *p, size_t n)
{
    return sh->format == SH_FMT_JSON ? sh_json_string(line, p, n) : sh_csv_field(line, p, n);
}

/* One field of a JSON or CSV record appended to line: the bytes (or their
 * hex digits under --hex), never abbreviated. */
static int machine_field(tsh *sh, tbuf *line, const void *p, size_t n, int hex)
{
    tbuf h = TBUF_INIT;
    if ((hex || sh->hex) && n) {
        if (sh_show(&h, p, n, 1, 0)) {
            tbuf_free(&h);
            return TIND_ENOMEM;
        }
        p = h.data;
        n = h.len;
    }
    int rc = mode_field(sh, line, p, n);
    tbuf_free(&h);
    return rc;
}

/* The CSV header of a listing of entries (JSON and text have none). */
static void print_entry_header(tsh *sh, int with_value)
{
    if (sh->format == SH_FMT_CSV)
        fputs(with_value ? "key,value\r\n" : "key\r\n", sh->out);
}

/* One entry: "KEY = VALUE" as scan prints it, a JSON object on one line
 * ({"key": ..., "value": ...}) or a CSV record; v NULL: the key alone. */
static int print_entry(tsh *sh, const void *k, size_t klen, const void *v, size_t vlen, int hex, int full)
{
    if (sh->format == SH_FMT_TEXT) {
        sh_show_bytes(sh, sh->out, k, klen, hex, 1);
        if (v) {
            fputs(" = ", sh->out);
            sh_show_bytes(sh, sh->out, v, vlen, hex, full);
        }
        fputc('\n', sh->out);
        return SH_OK;
    }
    int json = sh->format == SH_FMT_JSON;
    tbuf line = TBUF_INIT;
    int rc = tbuf_append(&line, json ? "{\"key\":" : "", json ? 7 : 0);
    rc = rc ? rc : machine_field(sh, &line, k, klen, hex);
    if (v && !rc) {
        rc = tbuf_append(&line, json ? ",\"value\":" : ",", json ? 9 : 1);
        rc = rc ? rc : machine_field(sh, &line, v, vlen, hex);
    }
    rc = rc ? rc : tbuf_append(&line, json ? "}\n" : "\r\n", 2);
    if (!rc)
        fwrite(line.data, 1, line.len, sh->out);
    tbuf_free(&line);
    return rc ? sh_error(sh, "out of memory") : SH_OK;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *human_bytes(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%" PRIu64 " B", n);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

/* ------------------------------------------------------------------ commands */

static int cmd_keyspaces(tsh *sh, sh_words *args)
{
    if (args->count != 1)
        return SH_USAGE;
    char **names = NULL;
    size_t count = 0;
    int rc = tind_keyspace_list(sh->db, &names, &count);
    if (rc)
        return db_error(sh, "keyspaces", rc);
    for (size_t i = 0; i < count; i++) {
        sh_print(sh->out, (const uint8_t *)names[i], strlen(names[i]), 0, 0);
        fputc('\n', sh->out);
    }
    if (sh->interactive && count == 0)
        fprintf(sh->out, "(no keyspaces; create one with: create NAME)\n");
    tind_free(names);
    return SH_OK;
}

static int parse_compression(const char *s, int *out)
{
    if (!strcmp(s, "none"))
        *out = TIND_COMPRESSION_NONE;
    else if (!strcmp(s, "lz4"))
        *out = TIND_COMPRESSION_LZ4;
    else if (!strcmp(s, "zstd"))
        *out = TIND_COMPRESSION_ZSTD;
    else
        return -1;
    return 0;
}

/* TYPE or TYPE:ZSTDLEVEL (zstd level 0..22) of --compression and friends. */
static int parse_codec(const char *s, int *type, int *zstd_level)
{
    char name[8];
    const char *colon = strchr(s, ':');
    size_t n = colon ? (size_t)(colon - s) : strlen(s);
    if (n >= sizeof name)
        return -1;
    memcpy(name, s, n);
    name[n] = 0;
    *zstd_level = 0;
    if (parse_compression(name, type))
        return -1;
    if (colon) {
        char *end = NULL;
        long l = strtol(colon + 1, &end, 10);
        if (*type != TIND_COMPRESSION_ZSTD || end == colon + 1 || *end || l < 0 || l > 22)
            return -1;
        *zstd_level = (int)l;
    }
    return 0;
}

/* A level 0..6 followed by `sep`; the rest in *rest. -1 when not one. */
static int parse_level_prefix(const char *s, char sep, const char **rest)
{
    if (s[0] < '0' || s[0] > '6' || s[1] != sep)
        return -1;
    *rest = s + 2;
    return s[0] - '0';
}

/* create's options beyond the first twelve, in create's order: prefix
 * extractor, zstd dictionaries, compression per level, the TTL filter,
 * periodic compaction, FIFO limits, partitioning, blob files, level ratio,
 * expect-hits. */
static int create_more_opts(tsh *sh, const sh_opt *m, tind_ks_options *o)
{
    uint64_t v;
    int rc = SH_OK;
    if (m[0].seen && m[1].seen)
        return sh_error(sh, "--prefix-fixed and --prefix-sep: one prefix extractor");
    if (m[0].seen && !(rc = sh_parse_u64(sh, m[0].value, "--prefix-fixed", &v))) {
        if (v == 0 || v > 65535)
            return sh_error(sh, "--prefix-fixed: a length of 1..65535 bytes");
        tind_ks_options_set_prefix_fixed(o, (size_t)v);
    }
    if (!rc && m[1].seen) {
        /* one byte (escapes as in keys: '\x23'), or a number 0..255 with --prefix-sep 0x23 / 35 */
        const tbuf *b = &m[1].value->bytes;
        char *end = NULL;
        long c = b->len > 1 ? strtol(sh_str(m[1].value), &end, 0) : -1;
        if (b->len == 1)
            tind_ks_options_set_prefix_separator(o, (unsigned char)b->data[0]);
        else if (end && !*end && c >= 0 && c <= 255)
            tind_ks_options_set_prefix_separator(o, (int)c);
        else
            return sh_error(sh, "--prefix-sep: one byte, or its number 0..255 (0x23)");
    }
    if (!rc && m[2].seen) {
        if (!m[0].seen && !m[1].seen)
            return sh_error(sh, "--prefix-only needs --prefix-fixed or --prefix-sep");
        tind_ks_options_set_prefix_whole_keys(o, 0);
    }
    if (!rc && m[3].seen) {
        /* [LEVEL:]BYTES: a zstd dictionary of BYTES on LEVEL (every level) */
        const char *s = sh_str(m[3].value), *bytes = s;
        int level = strchr(s, ':') ? parse_level_prefix(s, ':', &bytes) : -1;
        char *end = NULL;
        unsigned long long n = strtoull(bytes, &end, 10);
        if ((strchr(s, ':') && level < 0) || end == bytes || *end || (n != 0 && (n < 1024 || n > (1u << 20))))
            return sh_error(sh, "--zstd-dict: [LEVEL:]BYTES, LEVEL 0..6, BYTES 0 or 1024..1048576");
        tind_ks_options_set_zstd_dict(o, level, (uint32_t)n);
    }
    if (!rc && m[4].seen) {
        /* L=TYPE[:ZSTDLEVEL],... (after --compression, which sets every level) */
        char list[256];
        snprintf(list, sizeof list, "%s", sh_str(m[4].value));
        char *save = NULL;
        for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
            const char *codec;
            int level = parse_level_prefix(item, '=', &codec), type, zl;
            if (level < 0 || parse_codec(codec, &type, &zl))
                return sh_error(sh, "--level-compression: LEVEL=none|lz4|zstd[:ZSTDLEVEL],... (LEVEL 0..6): '%s'",
                                item);
            tind_ks_options_set_compression(o, level, type, zl);
        }
    }
    if (!rc && m[5].seen)
        tind_ks_options_set_value_ttl(o, 1);
    if (!rc && m[6].seen && !(rc = sh_parse_u64(sh, m[6].value, "--periodic-compaction", &v)))
        tind_ks_options_set_periodic_compaction(o, v);
    if (!rc && (m[7].seen || m[8].seen)) {
        uint64_t max = 0, ttl = 0;
        if (m[7].seen)
            rc = sh_parse_u64(sh, m[7].value, "--fifo-max", &max);
        if (!rc && m[8].seen)
            rc = sh_parse_u64(sh, m[8].value, "--fifo-ttl", &ttl);
        if (!rc)
            tind_ks_options_set_fifo(o, max, ttl);
    }
    if (!rc && m[9].seen) {
        if (!strcmp(sh_str(m[9].value), "never"))
            tind_ks_options_set_partitioning(o, -1);
        else if (!(rc = sh_parse_u64(sh, m[9].value, "--partitioning", &v)))
            tind_ks_options_set_partitioning(o, v > 6 ? 6 : (int)v);
    }
    if (!rc && m[10].seen && !(rc = sh_parse_u64(sh, m[10].value, "--blob-file-size", &v)))
        tind_ks_options_set_blob_file_size(o, v);
    if (!rc && m[11].seen) {
        int type, zl;
        if (parse_codec(sh_str(m[11].value), &type, &zl))
            return sh_error(sh, "--blob-compression: none, lz4 or zstd[:LEVEL]");
        tind_ks_options_set_blob_compression(o, type, zl);
    }
    if (!rc && m[12].seen) {
        /* RATIO[:AGE_CUTOFF] */
        char *end = NULL;
        const char *s = sh_str(m[12].value);
        double ratio = strtod(s, &end), age = 0;
        if (end && *end == ':') {
            const char *a = end + 1;
            age = strtod(a, &end);
            if (end == a)
                end = NULL;
        }
        if (!end || *end || end == s)
            return sh_error(sh, "--blob-gc: RATIO[:AGE_CUTOFF], e.g. 0.25 or 0.25:0.5");
        tind_ks_options_set_blob_gc(o, ratio, age);
    }
    if (!rc && m[13].seen && !(rc = sh_parse_u64(sh, m[13].value, "--level-ratio", &v)))
        tind_ks_options_set_level_ratio(o, v > 1000 ? 1000 : (int)v);
    if (!rc && m[14].seen)
        tind_ks_options_set_expect_point_read_hits(o, 1);
    return rc;
}

static int cmd_create(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {
        {"memtable-size", 1, 0, NULL}, {"table-size", 1, 0, NULL},   {"block-size", 1, 0, NULL},
        {"compression", 1, 0, NULL},   {"bloom-bits", 1, 0, NULL},   {"compaction", 1, 0, NULL},
        {"l0-threshold", 1, 0, NULL},  {"levels", 1, 0, NULL},       {"if-not-exists", 0, 0, NULL},
        {"blob-threshold", 1, 0, NULL},
        {"merge", 1, 0, NULL},         {"merge-separator", 1, 0, NULL},
        /* 12.. : create_more_opts (below) */
        {"prefix-fixed", 1, 0, NULL},  {"prefix-sep", 1, 0, NULL},   {"prefix-only", 0, 0, NULL},
        {"zstd-dict", 1, 0, NULL},     {"level-compression", 1, 0, NULL}, {"ttl", 0, 0, NULL},
        {"periodic-compaction", 1, 0, NULL}, {"fifo-max", 1, 0, NULL}, {"fifo-ttl", 1, 0, NULL},
        {"partitioning", 1, 0, NULL},  {"blob-file-size", 1, 0, NULL}, {"blob-compression", 1, 0, NULL},
        {"blob-gc", 1, 0, NULL},       {"level-ratio", 1, 0, NULL},  {"expect-hits", 0, 0, NULL},
    };
    const sh_word *pos[1];
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, sizeof opts / sizeof opts[0], pos, &npos, 1);
    if (rc)
        return rc;
    if (npos != 1)
        return SH_USAGE;
    const char *name = sh_str(pos[0]);
    if (memchr(pos[0]->bytes.data, 0, pos[0]->bytes.len) || pos[0]->bytes.len == 0 ||
        pos[0]->bytes.len > TIND_MAX_KEYSPACE_NAME)
        return sh_error(sh, "a keyspace name is 1..255 bytes without NUL");
    if (tind_keyspace_exists(sh->db, name) == TIND_OK)
        /* --if-not-exists: the keyspace keeps its options, whatever this line asks */
        return opts[8].seen ? SH_OK : sh_error(sh, "keyspace '%s' already exists", name);
    tind_ks_options *o = tind_ks_options_new();
    if (!o)
        return sh_error(sh, "out of memory");
    uint64_t v;
    rc = SH_OK;
    if (!rc && opts[0].seen && !(rc = sh_parse_u64(sh, opts[0].value, "--memtable-size", &v)))
        tind_ks_options_set_memtable_size(o, (size_t)v);
    if (!rc && opts[1].seen && !(rc = sh_parse_u64(sh, opts[1].value, "--table-size", &v)))
        tind_ks_options_set_table_size(o, v);
    if (!rc && opts[2].seen && !(rc = sh_parse_u64(sh, opts[2].value, "--block-size", &v))) {
        if (v == 0 || v > UINT32_MAX)
            rc = sh_error(sh, "--block-size: out of range");
        else
            tind_ks_options_set_block_size(o, (uint32_t)v);
    }
    if (!rc && opts[3].seen) {
        int c, zl;
        if (parse_codec(sh_str(opts[3].value), &c, &zl))
            rc = sh_error(sh, "--compression: none, lz4 or zstd[:LEVEL]");
        else
            tind_ks_options_set_compression(o, -1, c, zl);
    }
    if (!rc && opts[4].seen) {
        char *end = NULL;
        double bits = strtod(sh_str(opts[4].value), &end);
        if (!end || *end || bits < 0 || bits > 100)
            rc = sh_error(sh, "--bloom-bits: a number of bits per key (0 = no filter)");
        else
            tind_ks_options_set_bloom_bits(o, -1, bits);
    }
    if (!rc && opts[5].seen) {
        const char *s = sh_str(opts[5].value);
        if (!strcmp(s, "leveled"))
            tind_ks_options_set_compaction(o, TIND_COMPACTION_LEVELED);
        else if (!strcmp(s, "tiered"))
            tind_ks_options_set_compaction(o, TIND_COMPACTION_TIERED);
        else if (!strcmp(s, "fifo"))
            tind_ks_options_set_compaction(o, TIND_COMPACTION_FIFO);
        else
            rc = sh_error(sh, "--compaction: leveled, tiered or fifo");
    }
    if (!rc && opts[6].seen && !(rc = sh_parse_u64(sh, opts[6].value, "--l0-threshold", &v)))
        tind_ks_options_set_l0_threshold(o, v > 1000 ? 1000 : (int)v);
    if (!rc && opts[7].seen && !(rc = sh_parse_u64(sh, opts[7].value, "--levels", &v)))
        tind_ks_options_set_levels(o, v > 100 ? 100 : (int)v);
    if (!rc && opts[9].seen) {
        /* key-value separation: values of >= N bytes go to blob files; off = none */
        if (!strcmp(sh_str(opts[9].value), "off"))
            tind_ks_options_set_blob_separation(o, 0, 4096);
        else if (!(rc = sh_parse_u64(sh, opts[9].value, "--blob-threshold", &v)))
            tind_ks_options_set_blob_separation(o, 1, v);
    }
    if (!rc && opts[10].seen) {
        const char *m = sh_str(opts[10].value);
        const tbuf *sep = opts[11].seen ? &opts[11].value->bytes : NULL;
        if (!strcmp(m, "counter") && !sep)
            tind_ks_options_set_merge_builtin(o, TIND_MERGE_COUNTER, NULL, 0);
        else if (!strcmp(m, "append"))
            tind_ks_options_set_merge_builtin(o, TIND_MERGE_APPEND, sep ? sep->data : NULL, sep ? sep->len : 0);
        else
            rc = sh_error(sh, "--merge: counter or append (--merge-separator only with append)");
    } else if (!rc && opts[11].seen) {
        rc = sh_error(sh, "--merge-separator needs --merge append");
    }
    if (!rc)
        rc = create_more_opts(sh, opts + 12, o);
    if (!rc) {
        tind_keyspace *ks;
        int st = tind_keyspace_open(sh->db, name, o, &ks);
        if (st)
            rc = db_error(sh, "create", st);
    }
    tind_ks_options_free(o);
    return rc;
}

static int cmd_drop(tsh *sh, sh_words *args)
{
    if (args->count != 2)
        return SH_USAGE;
    tind_keyspace *ks;
    int rc = get_keyspace(sh, &args->v[1], &ks);
    if (rc)
        return rc;
    if (sh->batch && tind_batch_count(sh->batch))
        return sh_error(sh, "a batch is open: commit or abort it before dropping a keyspace");
    int st = tind_keyspace_delete(sh->db, sh_str(&args->v[1]));
    if (st)
        return db_error(sh, "drop", st);
    return SH_OK;
}

static int cmd_put(tsh *sh, sh_words *args)
{
    const sh_word *pos[3];
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, NULL, 0, pos, &npos, 3);
    if (rc)
        return rc;
    if (npos != 3)
        return SH_USAGE;
    tind_keyspace *ks;
    if ((rc = get_keyspace(sh, pos[0], &ks)))
        return rc;
    const tbuf *k = &pos[1]->bytes, *v = &pos[2]->bytes;
    const uint8_t *vp = v->data ? v->data : (const uint8_t *)"";
    int st = sh->txn     ? tind_txn_put(sh->txn, ks, k->data, k->len, vp, v->len)
             : sh->batch ? tind_batch_put(sh->batch, ks, k->data, k->len, vp, v->len)
                         : tind_put(ks, k->data, k->len, vp, v->len);
    if (st)
        return db_error(sh, "put", st);
    return SH_OK;
}

static int cmd_del(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {{"single", 0, 0, NULL}};
    const sh_word *pos[2];
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, 1, pos, &npos, 2);
    if (rc)
        return rc;
    if (npos != 2)
        return SH_USAGE;
    tind_keyspace *ks;
    if ((rc = get_keyspace(sh, pos[0], &ks)))
        return rc;
    const tbuf *k = &pos[1]->bytes;
    int st;
    if (opts[0].seen) /* a single delete (include/tind.h: tind_single_remove) */
        st = sh->txn     ? tind_txn_single_remove(sh->txn, ks, k->data, k->len)
             : sh->batch ? tind_batch_single_remove(sh->batch, ks, k->data, k->len)
                         : tind_single_remove(ks, k->data, k->len);
    else
        st = sh->txn     ? tind_txn_remove(sh->txn, ks, k->data, k->len)
             : sh->batch ? tind_batch_remove(sh->batch, ks, k->data, k->len)
                         : tind_remove(ks, k->data, k->len);
    if (st)
        return db_error(sh, "del", st);
    return SH_OK;
}

/* Parses args into exactly want positional words (the first a keyspace
 * name, opened into *ks) and opts. */
static int ks_args(tsh *sh, sh_words *args, sh_opt *opts, size_t nopts, const sh_word **pos, size_t want,
                   tind_keyspace **ks)
{
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, nopts, pos, &npos, want);
    if (rc)
        return rc;
    if (npos != want)
        return SH_USAGE;
    return get_keyspace(sh, pos[0], ks);
}

/* delrange KS LO HI: tind_remove_range over [LO, HI); "" is an open bound. */
static int cmd_delrange(tsh *sh, sh_words *args)
{
    const sh_word *pos[3];
    tind_keyspace *ks;
    int rc = ks_args(sh, args, NULL, 0, pos, 3, &ks);
    if (rc)
        return rc;
    const tbuf *lo = &pos[1]->bytes, *hi = &pos[2]->bytes;
    int st = sh->txn     ? tind_txn_remove_range(sh->txn, ks, lo->data, lo->len, hi->data, hi->len) /* refused */
             : sh->batch ? tind_batch_remove_range(sh->batch, ks, lo->data, lo->len, hi->data, hi->len)
                         : tind_remove_range(ks, lo->data, lo->len, hi->data, hi->len);
    if (st)
        return db_error(sh, "delrange", st);
    return SH_OK;
}

static int cmd_clear(tsh *sh, sh_words *args)
{
    const sh_word *pos[1];
    tind_keyspace *ks;
    int rc = ks_args(sh, args, NULL, 0, pos, 1, &ks);
    if (rc)
        return rc;
    int st = tind_keyspace_clear(ks);
    if (st)
        return db_error(sh, "clear", st);
    return SH_OK;
}

/* merge KS KEY OPERAND: a counter keyspace takes a decimal number (a
 * negative one subtracts: 64-bit two's complement), others the bytes. */
static int cmd_merge(tsh *sh, sh_words *args)
{
    const sh_word *pos[3];
    tind_keyspace *ks;
    int rc = ks_args(sh, args, NULL, 0, pos, 3, &ks);
    if (rc)
        return rc;
    const tbuf *k = &pos[1]->bytes, *v = &pos[2]->bytes;
    const uint8_t *op = v->data ? v->data : (const uint8_t *)"";
    size_t oplen = v->len;
    uint8_t num[8];
    if (tind_internal_ks_merge_builtin(ks) == TIND_MERGE_COUNTER) {
        const char *s = sh_str(pos[2]);
        char *end = NULL;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (!*s || !end || *end || errno)
            return sh_error(sh, "merge: keyspace '%s' counts: OPERAND is a decimal number", sh_str(pos[0]));
        uint64_t u = (uint64_t)n;
        for (int i = 0; i < 8; i++)
            num[i] = (uint8_t)(u >> (8 * i));
        op = num;
        oplen = 8;
    }
    int st = sh->txn     ? tind_txn_merge(sh->txn, ks, k->data, k->len, op, oplen)
             : sh->batch ? tind_batch_merge(sh->batch, ks, k->data, k->len, op, oplen)
                       : tind_merge(ks, k->data, k->len, op, oplen);
    if (st)
        return db_error(sh, "merge", st);
    return SH_OK;
}

/* "not found: KEY" on stderr (get, mget). */
static void report_not_found(tsh *sh, const tbuf *key)
{
    fflush(sh->out);
    if (sh->line > 0)
        fprintf(sh->err, "line %ld: ", sh->line);
    fputs("not found: ", sh->err);
    sh_print(sh->err, key->data, key->len, sh->hex, 1);
    fputc('\n', sh->err);
}

static int cmd_get(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {{"hex", 0, 0, NULL}, {"full", 0, 0, NULL}, {"raw", 0, 0, NULL}};
    const sh_word *pos[2];
    tind_keyspace *ks;
    int rc = ks_args(sh, args, opts, 3, pos, 2, &ks);
    if (rc)
        return rc;
    void *val = NULL;
    size_t vlen = 0;
    int st = tind_get(ks, pos[1]->bytes.data, pos[1]->bytes.len, sh->ro, &val, &vlen);
    if (st == TIND_NOT_FOUND) {
        report_not_found(sh, &pos[1]->bytes);
        return SH_FAIL;
    }
    if (st)
        return db_error(sh, "get", st);
    if (opts[2].seen) {
        fwrite(val, 1, vlen, sh->out);
    } else if (sh->format != SH_FMT_TEXT) {
        print_entry_header(sh, 1);
        rc = print_entry(sh, pos[1]->bytes.data, pos[1]->bytes.len, val, vlen, opts[0].seen, 1);
    } else {
        sh_show_bytes(sh, sh->out, val, vlen, opts[0].seen, opts[1].seen);
        fputc('\n', sh->out);
    }
    tind_free(val);
    return rc;
}

/* ---- exists / first / last / mget ---- */

/* Exit status 0 when present, 1 when absent (scripts test it), "yes" / "no" on stdout. */
static int cmd_exists(tsh *sh, sh_words *args)
{
    const sh_word *pos[2];
    tind_keyspace *ks;
    int rc = ks_args(sh, args, NULL, 0, pos, 2, &ks);
    if (rc)
        return rc;
    int st = tind_contains(ks, pos[1]->bytes.data, pos[1]->bytes.len, sh->ro);
    if (st != TIND_OK && st != TIND_NOT_FOUND)
        return db_error(sh, "exists", st);
    fputs(st == TIND_OK ? "yes\n" : "no\n", sh->out);
    return st == TIND_OK ? SH_OK : SH_FAIL;
}

/* The smallest (last = 0) or largest key and its value; fails on an empty keyspace. */
static int first_or_last(tsh *sh, sh_words *args, int last)
{
    sh_opt opts[] = {{"hex", 0, 0, NULL}, {"full", 0, 0, NULL}};
    const sh_word *pos[1];
    tind_keyspace *ks;
    int rc = ks_args(sh, args, opts, 2, pos, 1, &ks);
    if (rc)
        return rc;
    void *k = NULL, *v = NULL;
    size_t klen = 0, vlen = 0;
    int st = last ? tind_last(ks, sh->ro, &k, &klen, &v, &vlen) : tind_first(ks, sh->ro, &k, &klen, &v, &vlen);
    if (st == TIND_NOT_FOUND)
        return sh_error(sh, "keyspace %s is empty", sh_str(pos[0]));
    if (st)
        return db_error(sh, last ? "last" : "first", st);
    print_entry_header(sh, 1);
    rc = print_entry(sh, k, klen, v, vlen, opts[0].seen, opts[1].seen);
    tind_free(k);
    tind_free(v);
    return rc;
}

static int cmd_first(tsh *sh, sh_words *args) { return first_or_last(sh, args, 0); }
static int cmd_last(tsh *sh, sh_words *args) { return first_or_last(sh, args, 1); }

/* KEY = VALUE for each key found, in the order given; each missing key is
 * named on stderr and makes the command fail after the others are printed. */
static int cmd_mget(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {{"hex", 0, 0, NULL}, {"full", 0, 0, NULL}};
    const sh_word **pos = malloc(args->count * sizeof *pos);
    if (!pos)
        return sh_error(sh, "out of memory");
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, 2, pos, &npos, args->count);
    if (rc == SH_OK && npos < 2)
        rc = SH_USAGE;
    tind_keyspace *ks = NULL;
    if (rc == SH_OK)
        rc = get_keyspace(sh, pos[0], &ks);
    int missing = 0;
    if (rc == SH_OK)
        print_entry_header(sh, 1);
    for (size_t i = 1; rc == SH_OK && i < npos; i++) {
        const tbuf *key = &pos[i]->bytes;
        void *v = NULL;
        size_t vlen = 0;
        int st = tind_get(ks, key->data, key->len, sh->ro, &v, &vlen);
        if (st == TIND_NOT_FOUND) {
            report_not_found(sh, key);
            missing = 1;
            continue;
        }
        if (st) {
            rc = db_error(sh, "mget", st);
            break;
        }
        rc = print_entry(sh, key->data, key->len, v, vlen, opts[0].seen, opts[1].seen);
        tind_free(v);
    }
    free(pos);
    return rc == SH_OK && missing ? SH_FAIL : rc;
}

/* ---- scan / count ---- */

typedef struct range {
    tbuf lo, hi;
    int has_lo, has_hi;
    int empty;                    /* the bounds leave nothing */
} range;

/* [from, to) intersected with the keys starting with prefix. */
static int make_range(const sh_opt *prefix, const sh_opt *from, const sh_opt *to, range *r)
{
    memset(r, 0, sizeof *r);
    if (from->seen && from->value->bytes.len) {
        if (tbuf_set(&r->lo, from->value->bytes.data, from->value->bytes.len))
            return TIND_ENOMEM;
        r->has_lo = 1;
    }
    if (to->seen) {
        if (tbuf_set(&r->hi, to->value->bytes.data, to->value->bytes.len))
            return TIND_ENOMEM;
        r->has_hi = 1;
        if (to->value->bytes.len == 0)
            r->empty = 1;             /* nothing is below the empty key */
    }
    if (prefix->seen && prefix->value->bytes.len) {
        const tbuf *p = &prefix->value->bytes;
        if (!r->has_lo || key_cmp(p->data, p->len, r->lo.data, r->lo.len) > 0) {
            if (tbuf_set(&r->lo, p->data, p->len))
                return TIND_ENOMEM;
            r->has_lo = 1;
        }
        /* the successor of the prefix: drop trailing 0xff, add one to the last byte */
        size_t n = p->len;
        while (n > 0 && p->data[n - 1] == 0xff)
            n--;
        if (n > 0) {
            tbuf succ = TBUF_INIT;
            if (tbuf_set(&succ, p->data, n)) {
                tbuf_free(&succ);
                return TIND_ENOMEM;
            }
            succ.data[n - 1]++;
            if (!r->has_hi || key_cmp(succ.data, succ.len, r->hi.data, r->hi.len) < 0) {
                tbuf_free(&r->hi);
                r->hi = succ;
                r->has_hi = 1;
            } else {
                tbuf_free(&succ);
            }
        }
    }
    if (r->has_lo && r->has_hi && key_cmp(r->lo.data, r->lo.len, r->hi.data, r->hi.len) >= 0)
        r->empty = 1;
    return TIND_OK;
}

static void range_free(range *r)
{
    tbuf_free(&r->lo);
    tbuf_free(&r->hi);
}

static int scan_or_count(tsh *sh, sh_words *args, int count_only)
{
    sh_opt opts[] = {
        {"prefix", 1, 0, NULL}, {"from", 1, 0, NULL},      {"to", 1, 0, NULL},  {"reverse", 0, 0, NULL},
        {"limit", 1, 0, NULL},  {"keys-only", 0, 0, NULL}, {"hex", 0, 0, NULL}, {"full", 0, 0, NULL},
        {"all", 0, 0, NULL},
    };
    size_t nopts = count_only ? 3 : sizeof opts / sizeof opts[0];
    const sh_word *pos[1];
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, nopts, pos, &npos, 1);
    if (rc)
        return rc;
    if (npos != 1)
        return SH_USAGE;
    uint64_t limit = UINT64_MAX;
    if (opts[4].seen && (rc = sh_parse_u64(sh, opts[4].value, "--limit", &limit)))
        return rc;
    /* a scan typed at a terminal stops at SH_SCAN_TERMINAL_LIMIT unless told
     * otherwise, so a large keyspace does not scroll away for minutes */
    int capped = !count_only && !opts[4].seen && !opts[8].seen && sh->interactive && sh->format == SH_FMT_TEXT &&
                 isatty(fileno(sh->out));
    if (capped)
        limit = SH_SCAN_TERMINAL_LIMIT;
    tind_keyspace *ks;
    if ((rc = get_keyspace(sh, pos[0], &ks)))
        return rc;
    range r;
    if (make_range(&opts[0], &opts[1], &opts[2], &r)) {
        range_free(&r);
        return sh_error(sh, "out of memory");
    }
    uint64_t n = 0;
    if (r.empty || limit == 0) {
        range_free(&r);
        if (count_only)
            fprintf(sh->out, "0\n");
        else if (sh->format != SH_FMT_TEXT)
            print_entry_header(sh, !opts[5].seen);
        else if (sh->interactive)
            fprintf(sh->out, "(0 entries)\n");
        return SH_OK;
    }
    tind_iter *it = NULL;
    int st = tind_iter_range(ks, r.has_lo ? r.lo.data : NULL, r.lo.len, r.has_hi ? r.hi.data : NULL, r.hi.len,
                             sh->ro, &it);
    range_free(&r);
    if (st)
        return db_error(sh, count_only ? "count" : "scan", st);
    int reverse = opts[3].seen, keys_only = opts[5].seen, hex = opts[6].seen, full = opts[7].seen;
    if (reverse)
        tind_iter_last(it);
    else
        tind_iter_first(it);
    rc = SH_OK;
    if (!count_only)
        print_entry_header(sh, !keys_only);
    sh_progress meter = {0};
    if (count_only)
        sh_progress_begin(&meter, sh, "count", 0, 0, "entries");
    while (tind_iter_valid(it) && n < limit) {
        if (sh_interrupted) {
            rc = sh_error(sh, "interrupted after %" PRIu64 " entries", n);
            break;
        }
        if (!count_only) {
            size_t klen, vlen = 0;
            const void *k = tind_iter_key(it, &klen), *v = NULL;
            if (!keys_only && !(v = tind_iter_value(it, &vlen))) {
                if (tind_iter_status(it) != TIND_OK)
                    break;
                v = "";   /* an empty value */
            }
            if ((rc = print_entry(sh, k, klen, v, vlen, hex, full)))
                break;
        }
        n++;
        sh_progress_add(&meter, 1);
        if (reverse)
            tind_iter_prev(it);
        else
            tind_iter_next(it);
    }
    sh_progress_end(&meter);
    st = tind_iter_status(it);
    capped = capped && rc == SH_OK && !st && tind_iter_valid(it);   /* entries left unshown */
    tind_iter_free(it);
    if (st && rc == SH_OK)
        return db_error(sh, count_only ? "count" : "scan", st);
    if (rc == SH_OK) {
        if (count_only)
            fprintf(sh->out, "%" PRIu64 "\n", n);
        else if (capped)
            fprintf(sh->out, "(first %" PRIu64 " entries shown: --limit N or --all for more)\n", n);
        else if (sh->interactive && sh->format == SH_FMT_TEXT)
            fprintf(sh->out, "(%" PRIu64 " %s)\n", n, n == 1 ? "entry" : "entries");
    }
    return rc;
}

static int cmd_scan(tsh *sh, sh_words *args) { return scan_or_count(sh, args, 0); }
static int cmd_count(tsh *sh, sh_words *args) { return scan_or_count(sh, args, 1); }

/* ---- batches ---- */

/* batch --file F: every line of F (put / del, comments, blank lines) queued
 * in one batch and committed at the end; nothing is applied when a line
 * fails, the file cannot be read, or Ctrl-C stops it. */
static int batch_from_file(tsh *sh, const char *path)
{
    if (sh->batch)
        return sh_error(sh, "a batch is already open (%zu operations): commit or abort it",
                        tind_batch_count(sh->batch));
    if (sh->txn)
        return sh_error(sh, "a transaction is open: commit or rollback it before starting a batch");
    FILE *f = fopen(path, "r");
    if (!f)
        return sh_error(sh, "batch --file %s: %s", path, strerror(errno));
    int st = tind_batch_new(sh->db, &sh->batch);
    if (st) {
        fclose(f);
        return db_error(sh, "batch", st);
    }
    long outer = sh->line;
    int timer = sh->timer;
    sh->timer = 0;   /* the batch is timed as one command */
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = SH_OK;
    while (rc == SH_OK && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        sh_words w = {0};
        char why[160];
        sh->line = lineno;   /* errors name the file's line */
        if (sh_interrupted)  /* each sh_run clears the flag: look before and after */
            rc = sh_error(sh, "interrupted");
        else if (sh_split_line(line, (size_t)n, &w, why, sizeof why)) {
            rc = sh_error(sh, "%s", why);
        } else if (w.count) {
            const char *cmd = sh_str(&w.v[0]);
            if (strcmp(cmd, "put") && strcmp(cmd, "del"))
                rc = sh_error(sh, "'%s': a batch file holds only put and del", cmd);
            else
                rc = sh_run(sh, &w);
        }
        sh_words_free(&w);
        if (rc == SH_OK && sh_interrupted)
            rc = sh_error(sh, "interrupted");
    }
    sh->line = outer;
    sh->timer = timer;
    if (rc == SH_OK && ferror(f))
        rc = sh_error(sh, "batch --file %s: %s", path, strerror(errno));
    free(line);
    fclose(f);
    size_t ops = tind_batch_count(sh->batch);
    if (rc == SH_OK && ops && (st = tind_batch_commit(sh->batch)))
        rc = db_error(sh, "batch --file (nothing was applied)", st);
    else if (rc != SH_OK)
        sh_error(sh, "batch --file %s: stopped at line %ld, nothing was applied", path, lineno);
    tind_batch_free(sh->batch);
    sh->batch = NULL;
    if (rc == SH_OK && sh->interactive)
        fprintf(sh->out, "(committed %zu %s)\n", ops, ops == 1 ? "operation" : "operations");
    return rc == SH_OK ? SH_OK : SH_FAIL;
}

static int cmd_batch(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {{"file", 1, 0, NULL}};
    const sh_word *pos[1];
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, 1, pos, &npos, 0);
    if (rc)
        return rc;
    if (opts[0].seen)
        return batch_from_file(sh, sh_str(opts[0].value));
    if (!sh->interactive && !sh->stdin_commands)
        return sh_error(sh, "batch needs the interactive shell or a script (tind PATH < script)");
    if (sh->batch)
        return sh_error(sh, "a batch is already open (%zu operations): commit or abort it",
                        tind_batch_count(sh->batch));
    if (sh->txn)
        return sh_error(sh, "a transaction is open: commit or rollback it before starting a batch");
    int st = tind_batch_new(sh->db, &sh->batch);
    if (st)
        return db_error(sh, "batch", st);
    return SH_OK;
}

static int cmd_commit(tsh *sh, sh_words *args)
{
    if (args->count != 1)
        return SH_USAGE;
    if (sh->txn)
        return sh_txn_commit(sh);
    if (!sh->batch)
        return sh_error(sh, "no batch or transaction is open (start one with: batch, begin)");
    size_t n = tind_batch_count(sh->batch);
    int st = n ? tind_batch_commit(sh->batch) : TIND_OK;
    tind_batch_free(sh->batch);
    sh->batch = NULL;
    if (st)
        return db_error(sh, "commit (the batch was not applied)", st);
    if (sh->interactive)
        fprintf(sh->out, "(committed %zu %s)\n", n, n == 1 ? "operation" : "operations");
    return SH_OK;
}

static int cmd_abort(tsh *sh, sh_words *args)
{
    if (args->count != 1)
        return SH_USAGE;
    if (sh->txn)
        return sh_cmd_rollback(sh, args);
    if (!sh->batch)
        return sh_error(sh, "no batch is open");
    size_t n = tind_batch_count(sh->batch);
    tind_batch_free(sh->batch);
    sh->batch = NULL;
    if (sh->interactive)
        fprintf(sh->out, "(discarded %zu %s)\n", n, n == 1 ? "operation" : "operations");
    return SH_OK;
}

/* ---- maintenance ---- */

/* "1 flush", "3 flushes": a count with its noun agreeing. */
static const char *counted(uint64_t n, const char *one, const char *many, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIu64 " %s", n, n == 1 ? one : many);
    return buf;
}

/* For people: sizes in one unit each (B, KiB, ...), only the levels that
 * hold tables, counts with their nouns agreeing. --json / --csv give the
 * exact numbers. */
static int print_stats(tsh *sh, const char *name, const tind_ks_stats *s)
{
    char a[32], b[48];
    fputs("keyspace ", sh->out);
    sh_print(sh->out, (const uint8_t *)name, strlen(name), 0, 0);
    fputc('\n', sh->out);
    uint64_t tables = 0;
    for (uint32_t l = 0; l < s->levels && l < TIND_STATS_MAX_LEVELS; l++) {
        if (!s->tables[l])
            continue;
        if (!tables)
            fprintf(sh->out, "  level  tables  size\n");
        fprintf(sh->out, "  L%-5u %6" PRIu64 "  %s\n", l, s->tables[l], human_bytes(s->level_bytes[l], a, sizeof a));
        tables += s->tables[l];
    }
    uint64_t table_bytes = s->disk_bytes - s->blob_bytes;
    if (tables)
        fprintf(sh->out, "  total  %6" PRIu64 "  %s\n", tables, human_bytes(table_bytes, a, sizeof a));
    else
        fprintf(sh->out, "  tables                  none (%s on disk)\n", human_bytes(table_bytes, a, sizeof a));
    if (s->blob_files) {
        char g[32];
        fprintf(sh->out, "  blob files              %" PRIu64 ", %s, %s garbage (%.1f%%), %s\n", s->blob_files,
                human_bytes(s->blob_bytes, a, sizeof a), human_bytes(s->blob_garbage_bytes, g, sizeof g),
                s->blob_bytes ? 100.0 * (double)s->blob_garbage_bytes / (double)s->blob_bytes : 0.0,
                counted(s->blob_reads, "blob read", "blob reads", b, sizeof b));
    }
    fprintf(sh->out, "  keys (approximate)      %" PRIu64 "\n", s->approximate_keys);
    fprintf(sh->out, "  memtables               %s", human_bytes(s->memtable_bytes, a, sizeof a));
    if (s->sealed_memtables)
        fprintf(sh->out, " (%" PRIu64 " sealed, waiting for a flush)", s->sealed_memtables);
    fputc('\n', sh->out);
    fprintf(sh->out, "  written by the user     %s\n", human_bytes(s->user_bytes_written, a, sizeof a));
    fprintf(sh->out, "  written by flushes      %s in %s\n", human_bytes(s->flush_bytes_written, a, sizeof a),
            counted(s->flushes, "flush", "flushes", b, sizeof b));
    fprintf(sh->out, "  written by compactions  %s in %s\n", human_bytes(s->compaction_bytes_written, a, sizeof a),
            counted(s->compactions, "compaction", "compactions", b, sizeof b));
    if (s->user_bytes_written)
        fprintf(sh->out, "  write amplification     %.2f  ((flush + compaction bytes) / user bytes)\n",
                (double)(s->flush_bytes_written + s->compaction_bytes_written) / (double)s->user_bytes_written);
    else
        fprintf(sh->out, "  write amplification     n/a (nothing written since open)\n");
    return SH_OK;
}

/* stats under --json (one object per keyspace, its levels as an array) or
 * --csv (keyspace,stat,value records; the header comes from cmd_stats). The
 * database-wide counters (cache, stalls) are repeated in every keyspace. */
static int print_stats_machine(tsh *sh, const char *name, const tind_ks_stats *s)
{
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {
        {"disk_bytes", s->disk_bytes},
        {"approximate_keys", s->approximate_keys},
        {"memtable_bytes", s->memtable_bytes},
        {"sealed_memtables", s->sealed_memtables},
        {"user_bytes_written", s->user_bytes_written},
        {"flush_bytes_written", s->flush_bytes_written},
        {"flushes", s->flushes},
        {"compaction_bytes_written", s->compaction_bytes_written},
        {"compactions", s->compactions},
        {"cache_hits", s->cache_hits},
        {"cache_misses", s->cache_misses},
        {"write_stalls", s->write_stalls},
        {"write_slowdowns", s->write_slowdowns},
        {"blob_files", s->blob_files},
        {"blob_bytes", s->blob_bytes},
        {"blob_garbage_bytes", s->blob_garbage_bytes},
        {"blob_reads", s->blob_reads},
        {"prefix_checked", s->prefix_checked},
        {"prefix_skipped", s->prefix_skipped},
    };
    int json = sh->format == SH_FMT_JSON;
    tbuf ks = TBUF_INIT;
    if (mode_field(sh, &ks, name, strlen(name))) {
        tbuf_free(&ks);
        return sh_error(sh, "out of memory");
    }
    uint32_t levels = s->levels < TIND_STATS_MAX_LEVELS ? s->levels : TIND_STATS_MAX_LEVELS;
    if (json) {
        fprintf(sh->out, "{\"keyspace\":%.*s,\"levels\":[", (int)ks.len, (const char *)ks.data);
        for (uint32_t l = 0; l < levels; l++)
            fprintf(sh->out, "%s{\"level\":%u,\"tables\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", l ? "," : "", l,
                    s->tables[l], s->level_bytes[l]);
        fputc(']', sh->out);
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            fprintf(sh->out, ",\"%s\":%" PRIu64, f[i].name, f[i].v);
        fputs("}\n", sh->out);
    } else {
        for (uint32_t l = 0; l < levels; l++)
            fprintf(sh->out, "%.*s,L%u_tables,%" PRIu64 "\r\n%.*s,L%u_bytes,%" PRIu64 "\r\n", (int)ks.len,
                    (const char *)ks.data, l, s->tables[l], (int)ks.len, (const char *)ks.data, l,
                    s->level_bytes[l]);
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            fprintf(sh->out, "%.*s,%s,%" PRIu64 "\r\n", (int)ks.len, (const char *)ks.data, f[i].name, f[i].v);
    }
    tbuf_free(&ks);
    return SH_OK;
}

/* The database's memory by tind's accounting (tind_db_stats_get(3)). */
static void print_db_memory(tsh *sh)
{
    tind_db_stats d;
    char a[32], b[32], c[32], e[32];
    if (tind_db_stats_get(sh->db, &d))
        return;
    fprintf(sh->out, "  memory                  %s accounted: cache %s of %s (%s pinned)\n",
            human_bytes(d.memory_bytes, a, sizeof a), human_bytes(d.cache_usage, b, sizeof b),
            human_bytes(d.cache_capacity, c, sizeof c), human_bytes(d.cache_pinned, e, sizeof e));
    if (d.blob_cache_capacity)   /* only with one (tind_options_set_blob_cache_size) */
        fprintf(sh->out, "  blob cache              %s of %s, %" PRIu64 " values\n",
                human_bytes(d.blob_cache_usage, a, sizeof a), human_bytes(d.blob_cache_capacity, b, sizeof b),
                d.blob_cache_entries);
    if (d.block_memory_mapped) /* the process's, beside the cache's charge */
        fprintf(sh->out, "  block memory            %s mapped, %s of it free for later blocks\n",
                human_bytes(d.block_memory_mapped, a, sizeof a), human_bytes(d.block_memory_free, b, sizeof b));
    fprintf(sh->out, "  memtables               %s of %s write buffer, %" PRIu64 " waiting for a flush, %s spare",
            human_bytes(d.memtable_bytes, a, sizeof a), human_bytes(d.write_buffer_size, b, sizeof b),
            d.pending_flushes, human_bytes(d.memtable_spare_bytes, c, sizeof c));
    if (d.memtable_held_bytes) /* flushed, kept by iterators */
        fprintf(sh->out, ", %s flushed and held by iterators", human_bytes(d.memtable_held_bytes, a, sizeof a));
    fputc('\n', sh->out);
    char t[48], f[48];
    fprintf(sh->out, "  compaction pending      %s; %s (%s outside the cache), %s\n",
            human_bytes(d.pending_compaction_bytes, a, sizeof a),
            counted(d.table_readers, "open table", "open tables", t, sizeof t),
            human_bytes(d.table_reader_bytes, b, sizeof b), counted(d.open_files, "open file", "open files", f, sizeof f));
}

static int cmd_stats(tsh *sh, sh_words *args)
{
    if (args->count > 2)
        return SH_USAGE;
    char **names = NULL;
    size_t count = 0;
    int st;
    tind_ks_stats s, last;
    memset(&last, 0, sizeof last);
    int any = 0;
    int (*show)(tsh *, const char *, const tind_ks_stats *) =
        sh->format == SH_FMT_TEXT ? print_stats : print_stats_machine;
    if (sh->format == SH_FMT_CSV)
        fputs("keyspace,stat,value\r\n", sh->out);
    if (args->count == 2) {
        tind_keyspace *ks;
        int rc = get_keyspace(sh, &args->v[1], &ks);
        if (rc)
            return rc;
        if ((st = tind_ks_stats_get(ks, &s)))
            return db_error(sh, "stats", st);
        show(sh, sh_str(&args->v[1]), &s);
        last = s;
        any = 1;
    } else {
        if ((st = tind_keyspace_list(sh->db, &names, &count)))
            return db_error(sh, "stats", st);
        for (size_t i = 0; i < count; i++) {
            tind_keyspace *ks;
            if ((st = tind_keyspace_open(sh->db, names[i], NULL, &ks)) || (st = tind_ks_stats_get(ks, &s))) {
                tind_free(names);
                return db_error(sh, "stats", st);
            }
            show(sh, names[i], &s);
            last = s;
            any = 1;
        }
        tind_free(names);
    }
    if (sh->format != SH_FMT_TEXT)
        return SH_OK;
    if (!any) {
        fprintf(sh->out, "no keyspaces\n");
        return SH_OK;
    }
    uint64_t lookups = last.cache_hits + last.cache_misses;
    char h[48], m[48];
    fprintf(sh->out, "database\n");
    fprintf(sh->out, "  block cache             %s, %s", counted(last.cache_hits, "hit", "hits", h, sizeof h),
            counted(last.cache_misses, "miss", "misses", m, sizeof m));
    if (lookups)
        fprintf(sh->out, " (hit rate %.1f%%)", 100.0 * (double)last.cache_hits / (double)lookups);
    fputc('\n', sh->out);
    fprintf(sh->out, "  writers delayed         %s", counted(last.write_stalls, "stall", "stalls", h, sizeof h));
    fprintf(sh->out, ", %s\n", counted(last.write_slowdowns, "slowdown", "slowdowns", m, sizeof m));
    print_db_memory(sh);
    return SH_OK;
}

/* options KS: the keyspace's options in force, as tind_ks_options_format
 * writes them ("name = value" lines); --json gives one object of strings,
 * --csv "keyspace,option,value" records. */
static int print_option_line(tsh *sh, const tbuf *ks, const char *line, size_t n)
{
    const char *eq = memchr(line, '=', n);
    if (sh->format == SH_FMT_TEXT || !eq || eq == line || (size_t)(eq - line) + 2 > n) {
        fprintf(sh->out, "%.*s\n", (int)n, line);
        return SH_OK;
    }
    size_t nlen = (size_t)(eq - line) - 1, voff = (size_t)(eq - line) + 2;
    tbuf v = TBUF_INIT;
    int json = sh->format == SH_FMT_JSON;
    int rc = mode_field(sh, &v, line + voff, n - voff);
    if (rc == 0 && json)
        fprintf(sh->out, ",\"%.*s\":%.*s", (int)nlen, line, (int)v.len, (const char *)v.data);
    else if (rc == 0)
        fprintf(sh->out, "%.*s,%.*s,%.*s\r\n", (int)ks->len, (const char *)ks->data, (int)nlen, line, (int)v.len,
                (const char *)v.data);
    tbuf_free(&v);
    return rc ? sh_error(sh, "out of memory") : SH_OK;
}

static int cmd_options(tsh *sh, sh_words *args)
{
    if (args->count != 2)
        return SH_USAGE;
    tind_keyspace *ks;
    int rc = get_keyspace(sh, &args->v[1], &ks);
    if (rc)
        return rc;
    tind_ks_options *o = NULL;
    char *text = NULL;
    int st = tind_keyspace_options(ks, &o);
    if (st == TIND_OK)
        st = tind_ks_options_format(o, &text);
    tind_ks_options_free(o);
    if (st)
        return db_error(sh, "options", st);
    int json = sh->format == SH_FMT_JSON;
    const char *name = sh_str(&args->v[1]);
    tbuf kn = TBUF_INIT;
    if (mode_field(sh, &kn, name, strlen(name))) {
        tbuf_free(&kn);
        tind_free(text);
        return sh_error(sh, "out of memory");
    }
    if (json)
        fprintf(sh->out, "{\"keyspace\":%.*s", (int)kn.len, (const char *)kn.data);
    else if (sh->format == SH_FMT_CSV)
        fputs("keyspace,option,value\r\n", sh->out);
    rc = SH_OK;
    for (const char *p = text; *p && rc == SH_OK;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        rc = print_option_line(sh, &kn, p, n);
        p += n + (nl ? 1 : 0);
    }
    if (json)
        fputs("}\n", sh->out);
    tbuf_free(&kn);
    tind_free(text);
    return rc;
}

static int run_compact(void *ks) { return tind_compact(ks); }

static int cmd_flush_or_compact(tsh *sh, sh_words *args, int compact)
{
    if (args->count != 2)
        return SH_USAGE;
    tind_keyspace *ks;
    int rc = get_keyspace(sh, &args->v[1], &ks);
    if (rc)
        return rc;
    double t0 = now_seconds();
    int st = compact ? sh_progress_wait(sh, "compact", run_compact, ks) : tind_flush(ks);
    if (st)
        return db_error(sh, compact ? "compact" : "flush", st);
    if (sh->interactive)
        fprintf(sh->out, "(%s in %.3f s)\n", compact ? "compacted" : "flushed", now_seconds() - t0);
    return SH_OK;
}

static int cmd_flush(tsh *sh, sh_words *args) { return cmd_flush_or_compact(sh, args, 0); }
static int cmd_compact(tsh *sh, sh_words *args) { return cmd_flush_or_compact(sh, args, 1); }

/* ---- shell commands ---- */

static int cmd_set(tsh *sh, sh_words *args)
{
    static const char *const formats[] = {"text", "json", "csv"};   /* indexed by SH_FMT_* */
    if (args->count == 1) {
        fprintf(sh->out, "hex %s\nfull %s\nformat %s\n", sh->hex ? "on" : "off", sh->full ? "on" : "off",
                formats[sh->format]);
        return SH_OK;
    }
    if (args->count != 3)
        return SH_USAGE;
    const char *what = sh_str(&args->v[1]), *how = sh_str(&args->v[2]);
    if (!strcmp(what, "format")) {
        for (int f = 0; f < 3; f++)
            if (!strcmp(how, formats[f])) {
                sh->format = f;
                return SH_OK;
            }
        return SH_USAGE;
    }
    int on;
    if (!strcmp(how, "on"))
        on = 1;
    else if (!strcmp(how, "off"))
        on = 0;
    else
        return SH_USAGE;
    if (!strcmp(what, "hex"))
        sh->hex = on;
    else if (!strcmp(what, "full"))
        sh->full = on;
    else
        return SH_USAGE;
    return SH_OK;
}

static int cmd_timer(tsh *sh, sh_words *args)
{
    if (args->count == 1) {
        fprintf(sh->out, "timer %s\n", sh->timer ? "on" : "off");
        return SH_OK;
    }
    const char *how = sh_str(&args->v[1]);
    if (args->count != 2 || (strcmp(how, "on") && strcmp(how, "off")))
        return SH_USAGE;
    sh->timer = !strcmp(how, "on");
    return SH_OK;
}

static int cmd_echo(tsh *sh, sh_words *args)
{
    for (size_t i = 1; i < args->count; i++) {
        if (i > 1)
            fputc(' ', sh->out);
        fwrite(args->v[i].bytes.data, 1, args->v[i].bytes.len, sh->out);
    }
    fputc('\n', sh->out);
    fflush(sh->out);
    return SH_OK;
}

static int cmd_quit(tsh *sh, sh_words *args)
{
    if (args->count != 1)
        return SH_USAGE;
    sh->quit = 1;
    return SH_OK;
}

static int cmd_help(tsh *sh, sh_words *args);

static const sh_command commands[] = {
    {"keyspaces", 1, cmd_keyspaces, "keyspaces", "list the keyspaces"},
    {"create", 1, cmd_create,
     "create KS [--memtable-size N] [--table-size N] [--block-size N] [--compression none|lz4|zstd[:ZL]] "
     "[--bloom-bits B] [--compaction leveled|tiered|fifo] [--l0-threshold N] [--levels N] [--blob-threshold N|off] [--if-not-exists] "
     "[--merge counter|append [--merge-separator S]] [--prefix-fixed N | --prefix-sep C [--prefix-only]] "
     "[--zstd-dict [LEVEL:]BYTES] [--level-compression L=TYPE[:ZL],...] [--ttl] [--periodic-compaction SECONDS] "
     "[--fifo-max N] [--fifo-ttl SECONDS] [--partitioning LEVEL|never] [--blob-file-size N] "
     "[--blob-compression TYPE[:ZL]] [--blob-gc RATIO[:AGE]] [--level-ratio N] [--expect-hits]",
     "create a keyspace (sizes take k/m/g suffixes); --if-not-exists: an existing one is no error; "
     "--merge: its built-in merge operator; --prefix-fixed / --prefix-sep: a prefix extractor for "
     "prefix filters (--prefix-only: filters hold prefixes only); --zstd-dict: zstd dictionaries of BYTES "
     "on LEVEL (every level) whose compression is zstd; --level-compression: one level's compression "
     "(after --compression, which sets every level); --ttl: the built-in TTL filter (values start with an "
     "8-byte big-endian expiry time)"},
    {"drop", 1, cmd_drop, "drop KS", "delete a keyspace and all its data"},
    {"put", 1, cmd_put, "put KS KEY VALUE", "write KEY = VALUE (queued while a batch is open)"},
    {"get", 1, cmd_get, "get KS KEY [--hex] [--full] [--raw]",
     "print the value of KEY (--raw: its bytes exactly); fails when absent"},
    {"del", 1, cmd_del, "del KS KEY [--single]",
     "delete KEY (queued while a batch is open); --single: a single delete (KEY was put once since its last delete)"},
    {"merge", 1, cmd_merge, "merge KS KEY OPERAND",
     "merge OPERAND into KEY with the keyspace's operator (a counter takes a decimal number; "
     "queued while a batch is open)"},
    {"delrange", 1, cmd_delrange, "delrange KS LO HI",
     "delete every key in [LO, HI) in one operation; \"\" is an open bound (queued while a batch is open)"},
    {"clear", 1, cmd_clear, "clear KS", "delete every key of KS in one crash-safe operation"},
    {"exists", 1, cmd_exists, "exists KS KEY", "print yes (exit 0) or no (exit 1)"},
    {"mget", 1, cmd_mget, "mget KS KEY... [--hex] [--full]",
     "print KEY = VALUE for each key; a missing key is named on stderr and fails the command"},
    {"first", 1, cmd_first, "first KS [--hex] [--full]", "print the smallest key as KEY = VALUE"},
    {"last", 1, cmd_last, "last KS [--hex] [--full]", "print the largest key as KEY = VALUE"},
    {"scan", 1, cmd_scan,
     "scan KS [--prefix P] [--from K] [--to K] [--reverse] [--limit N | --all] [--keys-only] [--hex] [--full]",
     "list entries as KEY = VALUE; --from inclusive, --to exclusive; at a terminal 100 unless --limit or --all"},
    {"count", 1, cmd_count, "count KS [--prefix P] [--from K] [--to K]", "count the entries of a range exactly"},
    {"batch", 1, cmd_batch, "batch [--file F]",
     "start a batch: put and del are queued until commit; --file F: F's put and del lines, applied at once or not at all"},
    {"begin", 1, sh_cmd_begin, "begin [--single-writer] [--read-only]",
     "begin a transaction: put and del go into it, reads see its snapshot and its own writes, until commit or rollback"},
    {"commit", 1, cmd_commit, "commit", "apply the open batch atomically, or commit the open transaction"},
    {"rollback", 1, sh_cmd_rollback, "rollback", "discard the open transaction"},
    {"abort", 1, cmd_abort, "abort", "discard the open batch (or transaction)"},
    {"stats", 1, cmd_stats, "stats [KS]",
     "levels, tables, sizes, write amplification, block cache"},
    {"changes", 1, sh_cmd_changes, "changes [--from SEQNO] [--follow]",
     "print the committed batches from SEQNO on (default 1); --follow waits for more until Ctrl-C"},
    {"options", 1, cmd_options, "options KS", "print the options KS is open with, one \"name = value\" per line"},
    {"flush", 1, cmd_flush, "flush KS", "write the keyspace's memtables to tables and wait"},
    {"compact", 1, cmd_compact, "compact KS", "compact every table into the last level and wait"},
    {"verify", 0, sh_cmd_verify, "verify [--verbose]",
     "check every block of every file; list each problem with file and offset"},
    {"dump", 0, sh_cmd_dump, "dump table|blob|journal FILE [--summary] [--hex] [--full]",
     "list a table's blocks and entries, a blob file's records, or a journal's records (FILE: path or number)"},
    {"export", 1, sh_cmd_export, "export [--output FILE] [--salvage] [KS...]",
     "write keyspaces (default: all) as KS<TAB>KEY<TAB>VALUE lines and an end record; --salvage skips damage"},
    {"import", 0, sh_cmd_import, "import [--unchecked] [--ingest] FILE",
     "load an export file (- = standard input); checked whole first: its end record and checksum; "
     "files of 32 MiB or more (or --ingest) load by bulk ingestion"},
    {"checkpoint", 1, sh_cmd_checkpoint, "checkpoint DIR",
     "write a consistent copy of the database to the new folder DIR (tables hard-linked when possible)"},
    {"backup", 0, sh_cmd_backup,
     "backup create DIR | list DIR | verify DIR [ID] | restore DIR [ID] TARGET | prune DIR --keep N",
     "incremental backups in folder DIR: create one, list them, check every file, restore one "
     "(default: the newest) to TARGET, delete all but the newest N"},
    {"set", 0, cmd_set, "set [hex|full on|off] [format text|json|csv]",
     "show or change display settings (format: as tind --json / --csv)"},
    {"timer", 0, cmd_timer, "timer [on|off]", "print each command's wall time (on standard error)"},
    {"echo", 0, cmd_echo, "echo [WORD...]", "print the words"},
    {"help", 0, cmd_help, "help [COMMAND]", "list the commands, or describe one"},
    {"quit", 0, cmd_quit, "quit", "leave the shell (also: exit, Ctrl-D)"},
    {"exit", 0, cmd_quit, "exit", "leave the shell"},
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

const sh_command *sh_commands(size_t *count)
{
    *count = COMMAND_COUNT;
    return commands;
}

const sh_command *sh_find_command(const char *name)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static int cmd_help(tsh *sh, sh_words *args)
{
    if (args->count > 2)
        return SH_USAGE;
    if (args->count == 2) {
        const sh_command *c = sh_find_command(sh_str(&args->v[1]));
        if (!c)
            return sh_error(sh, "no command '%s' (try: help)", sh_str(&args->v[1]));
        fprintf(sh->out, "usage: %s\n  %s\n", c->usage, c->help);
        return SH_OK;
    }
    fprintf(sh->out, "commands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(commands[i].name, "exit") != 0)
            fprintf(sh->out, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(sh->out,
            "keys and values: printable text as is; any byte as \\xHH; \\\\ \\\" \\' \\t \\n \\r \\0 and \"\\ \";\n"
            "\"double quotes\" keep escapes, 'single quotes' are literal. help COMMAND shows its options.\n");
    return SH_OK;
}

/* ------------------------------------------------------------------ dispatch */

int sh_run(tsh *sh, sh_words *args)
{
    if (args->count == 0)
        return SH_OK;
    const char *name = sh_str(&args->v[0]);
    const sh_command *c = sh_find_command(name);
    if (!c) {
        sh_error(sh, "unknown command '%s' (try: help)", name);
        return SH_USAGE;
    }
    /* only the commands that make something may make the database too
     * (import opens it itself, once the file has passed its checks) */
    if (c->needs_db && !sh->db && !strcmp(c->name, "create") && !sh->read_only)
        sh->create = 1;
    if (c->needs_db && sh_open_db(sh) != SH_OK)
        return SH_FAIL;
    sh_interrupted = 0;
    double t0 = sh->timer ? now_seconds() : 0;
    int rc = c->run(sh, args);
    if (rc == SH_USAGE) {
        fflush(sh->out);
        if (sh->line > 0)
            fprintf(sh->err, "line %ld: ", sh->line);
        fprintf(sh->err, "usage: %s\n", c->usage);
    }
    fflush(sh->out);
    if (sh->timer && c->run != cmd_timer)   /* like sqlite3's .timer, after every command */
        fprintf(sh->err, "time: %.3f s\n", now_seconds() - t0);
    return rc;
}

int sh_run_line(tsh *sh, const char *line, size_t len)
{
    sh_words w = {0};
    char why[160];
    int rc = sh_split_line(line, len, &w, why, sizeof why);
    if (rc) {
        sh_words_free(&w);
        return sh_error(sh, "%s", why);
    }
    rc = sh_run(sh, &w);
    sh_words_free(&w);
    return rc;
}
