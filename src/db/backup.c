/*
 * backup.c -- incremental backups (db/backup.h), and the tind_backup_* calls.
 *
 * Description file meta/ID (text, one item per line, '\n' ends each):
 *
 *   tind backup 1
 *   id ID
 *   created UNIX_SECONDS
 *   seqno SEQNO
 *   file KIND STORED RESTORE SIZE HASH      one line per file
 *   end HASH
 *
 * KIND is format, versions, journal, table or blob; STORED the file's path in
 * the backup folder (shared/... or private/ID/...), RESTORE its path in a
 * restored database (FORMAT, VERSIONS, journals/N.jrn, tables/N.tbl,
 * tables/N.blob); SIZE
 * decimal; HASH the xxh3-64 of the file (16 lowercase hex digits). The last
 * line's HASH is the xxh3-64 of every byte before it. A description that
 * fails any check is TIND_ECORRUPT naming it.
 *
 * Crash safety: files are copied under a temporary name or into
 * private/ID/, synced, and their folders synced before meta/ID is written
 * (fs_write_atomic). Until then the backup does not exist; create and prune
 * remove the leftovers (private folders and shared files no description
 * names). Prune deletes descriptions first (synced), then the files.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blob/blob.h"
#include "db/backup.h"
#include "format/filename.h"
#include "format/table.h"
#include "io/fs_crypt.h"
#include "journal/journal.h"
#include "util/hash.h"
#include "util/killpoint.h"

#define BK_LOCK "LOCK"
#define BK_META "meta"
#define BK_SHARED "shared"
#define BK_PRIVATE "private"
#define BK_HEADER "tind backup 1"
#define BK_PATH_MAX 4096

/* indexed by ckpt_kind */
static const char *const bk_kind_names[] = {"format", "versions", "journal", "table", "blob", "encryption"};
#define BK_KINDS ((int)(sizeof bk_kind_names / sizeof bk_kind_names[0]))

typedef struct bk_file {
    int kind;                     /* ckpt_kind */
    char *stored;
    char *restore;
    uint64_t size;
    uint64_t hash;
} bk_file;

typedef struct bk_meta {
    uint64_t id, created, seqno;
    bk_file *files;
    size_t count, cap;
} bk_meta;

typedef struct bk_set {
    bk_meta *metas;               /* ascending id */
    size_t count, cap;
} bk_set;

/* ------------------------------------------------------------------ helpers */

static char *bk_pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *bk_pathf(const char *fmt, ...)
{
    char buf[BK_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= sizeof buf ? NULL : strdup(buf);
}

static void meta_free(bk_meta *m)
{
    for (size_t i = 0; i < m->count; i++) {
        free(m->files[i].stored);
        free(m->files[i].restore);
    }
    free(m->files);
    memset(m, 0, sizeof *m);
}

static void set_free(bk_set *s)
{
    for (size_t i = 0; i < s->count; i++)
        meta_free(&s->metas[i]);
    free(s->metas);
    memset(s, 0, sizeof *s);
}

static int meta_add(bk_meta *m, int kind, const char *stored, const char *restore, uint64_t size, uint64_t hash)
{
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        bk_file *n = realloc(m->files, cap * sizeof *n);
        if (!n)
            return TIND_ENOMEM;
        m->files = n;
        m->cap = cap;
    }
    bk_file *f = &m->files[m->count];
    f->kind = kind;
    f->stored = strdup(stored);
    f->restore = strdup(restore);
    f->size = size;
    f->hash = hash;
    if (!f->stored || !f->restore) {
        free(f->stored);
        free(f->restore);
        return TIND_ENOMEM;
    }
    m->count++;
    return TIND_OK;
}

/* The stored file named `stored` in any description of s (NULL: none). */
static const bk_file *set_find(const bk_set *s, const char *stored, size_t skip_meta)
{
    for (size_t i = 0; i < s->count; i++)
        for (size_t j = 0; i != skip_meta && j < s->metas[i].count; j++)
            if (!strcmp(s->metas[i].files[j].stored, stored))
                return &s->metas[i].files[j];
    return NULL;
}

/* Removes a folder of the backup folder and everything under it. */
static int bk_rmtree(fs *fsys, const char *path, tind_err *err)
{
    char **names = NULL;
    size_t count = 0;
    int rc = fs_list(fsys, path, &names, &count, err);
    if (rc == TIND_ENOENT) {
        err_clear(err);
        return TIND_OK;
    }
    for (size_t i = 0; rc == TIND_OK && i < count; i++) {
        char *p = fname_join(path, names[i]);
        int is_dir = 0;
        if (!p)
            rc = err_set(err, TIND_ENOMEM, "out of memory");
        else if (fs_exists(fsys, p, &is_dir) == TIND_OK)
            rc = is_dir ? bk_rmtree(fsys, p, err) : fs_unlink(fsys, p, err);
        free(p);
    }
    fs_list_free(names, count);
    return rc ? rc : fs_rmdir(fsys, path, err);
}

static int mkdir_ok(fs *fsys, const char *path, tind_err *err)
{
    int rc = fs_mkdir(fsys, path, err);
    if (rc == TIND_EEXIST) {
        err_clear(err);
        rc = TIND_OK;
    }
    return rc;
}

/* ------------------------------------------------------------------ descriptions */

static int meta_encode(const bk_meta *m, tbuf *out)
{
    char line[3 * BK_PATH_MAX];
    int n = snprintf(line, sizeof line, "%s\nid %llu\ncreated %llu\nseqno %llu\n", BK_HEADER,
                     (unsigned long long)m->id, (unsigned long long)m->created, (unsigned long long)m->seqno);
    int rc = tbuf_append(out, line, (size_t)n);
    for (size_t i = 0; rc == TIND_OK && i < m->count; i++) {
        const bk_file *f = &m->files[i];
        n = snprintf(line, sizeof line, "file %s %s %s %llu %016llx\n", bk_kind_names[f->kind], f->stored,
                     f->restore, (unsigned long long)f->size, (unsigned long long)f->hash);
        rc = tbuf_append(out, line, (size_t)n);
    }
    if (rc == TIND_OK) {
        n = snprintf(line, sizeof line, "end %016llx\n", (unsigned long long)hash64(out->data, out->len));
        rc = tbuf_append(out, line, (size_t)n);
    }
    return rc;
}

static int parse_u64(const char *s, int base, uint64_t *out)
{
    if (!*s)
        return -1;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, base);
    if (*end || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    *out = v;
    return 0;
}

/* A path of the description: only [A-Za-z0-9._/-], no "..", not absolute. */
static int path_ok(const char *p)
{
    if (!*p || *p == '/' || strstr(p, ".."))
        return 0;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '/' || *p == '-'))
            return 0;
    return 1;
}

/* A restore path must be one of a database folder's files, of its kind. */
static int restore_ok(int kind, const char *p)
{
    uint64_t number;
    switch (kind) {
    case CKPT_FORMAT: return !strcmp(p, FNAME_FORMAT);
    case CKPT_ENCRYPTION: return !strcmp(p, FNAME_ENCRYPTION);
    case CKPT_VERSIONS: return !strcmp(p, FNAME_VERSIONS);
    case CKPT_JOURNAL:
        return !strncmp(p, FNAME_JOURNALS_DIR "/", sizeof FNAME_JOURNALS_DIR) &&
               fname_parse(p + sizeof FNAME_JOURNALS_DIR, &number) == FNAME_KIND_JOURNAL;
    case CKPT_TABLE:
        return !strncmp(p, FNAME_TABLES_DIR "/", sizeof FNAME_TABLES_DIR) &&
               fname_parse(p + sizeof FNAME_TABLES_DIR, &number) == FNAME_KIND_TABLE;
    case CKPT_BLOB:
        return !strncmp(p, FNAME_TABLES_DIR "/", sizeof FNAME_TABLES_DIR) &&
               fname_parse(p + sizeof FNAME_TABLES_DIR, &number) == FNAME_KIND_BLOB;
    }
    return 0;
}

static int meta_decode(const char *path, uint64_t id, uint8_t *data, size_t len, bk_meta *m, tind_err *err)
{
    memset(m, 0, sizeof *m);
    /* the last line: "end HASH\n", HASH over every byte before it */
    size_t end_len = 4 + 16 + 1;
    if (len < end_len || data[len - 1] != '\n' || memcmp(data + len - end_len, "end ", 4) != 0 ||
        (len > end_len && data[len - end_len - 1] != '\n'))
        return err_set(err, TIND_ECORRUPT, "backup description '%s': no end line (truncated)", path);
    char hex[17];
    memcpy(hex, data + len - end_len + 4, 16);
    hex[16] = 0;
    uint64_t want = 0;
    if (parse_u64(hex, 16, &want) || want != hash64(data, len - end_len))
        return err_set(err, TIND_ECORRUPT, "backup description '%s': checksum mismatch", path);
    for (size_t i = 0; i < len - end_len; i++)
        if (data[i] == 0)
            return err_set(err, TIND_ECORRUPT, "backup description '%s': NUL byte at offset %zu", path, i);
    data[len - end_len] = 0;   /* the end line is checked: cut it off */
    int rc = TIND_OK;
    int lineno = 0;
    char *save = NULL;
    int have_id = 0;
    for (char *line = strtok_r((char *)data, "\n", &save); rc == TIND_OK && line;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *w[8];
        int nw = 0;
        char *s2 = NULL;
        for (char *t = strtok_r(line, " ", &s2); t && nw < 8; t = strtok_r(NULL, " ", &s2))
            w[nw++] = t;
        uint64_t v = 0;
        if (lineno == 1) {
            if (!(nw == 3 && !strcmp(w[0], "tind") && !strcmp(w[1], "backup") && !strcmp(w[2], "1")))
                rc = err_set(err, TIND_ECORRUPT, "backup description '%s': not a tind backup description "
                                                 "(or a newer one)", path);
        } else if (nw == 2 && !parse_u64(w[1], 10, &v) &&
                   (!strcmp(w[0], "id") || !strcmp(w[0], "created") || !strcmp(w[0], "seqno"))) {
            if (w[0][0] == 'i') {
                m->id = v;
                have_id = 1;
            } else if (w[0][0] == 'c') {
                m->created = v;
            } else {
                m->seqno = v;
            }
        } else if (nw == 6 && !strcmp(w[0], "file")) {
            int kind = -1;
            for (int k = 0; k < BK_KINDS; k++)
                if (!strcmp(w[1], bk_kind_names[k]))
                    kind = k;
            uint64_t size = 0, hash = 0;
            if (kind < 0 || !path_ok(w[2]) || !restore_ok(kind, w[3]) || parse_u64(w[4], 10, &size) ||
                strlen(w[5]) != 16 || parse_u64(w[5], 16, &hash))
                rc = err_set(err, TIND_ECORRUPT, "backup description '%s': line %d: bad file line", path, lineno);
            else if ((rc = meta_add(m, kind, w[2], w[3], size, hash)) != TIND_OK)
                err_set(err, rc, "out of memory");
        } else {
            rc = err_set(err, TIND_ECORRUPT, "backup description '%s': line %d: not understood", path, lineno);
        }
    }
    if (rc == TIND_OK && (!have_id || m->id != id))
        rc = err_set(err, TIND_ECORRUPT, "backup description '%s': its id differs from its name", path);
    if (rc)
        meta_free(m);
    return rc;
}

/* Every description of the folder, ascending id. Temporaries (an
 * interrupted write) are ignored. */
static int set_load(fs *fsys, const char *dir, bk_set *s, tind_err *err)
{
    memset(s, 0, sizeof *s);
    char *mdir = fname_join(dir, BK_META);
    if (!mdir)
        return err_set(err, TIND_ENOMEM, "out of memory");
    char **names = NULL;
    size_t count = 0;
    int rc = fs_list(fsys, mdir, &names, &count, err);
    if (rc == TIND_ENOENT)
        rc = err_set(err, TIND_ENOENT, "'%s' is not a backup folder (no %s/)", dir, BK_META);
    for (size_t i = 0; rc == TIND_OK && i < count; i++) {
        uint64_t id = 0;
        if (parse_u64(names[i], 10, &id) || id == 0)
            continue;
        char *path = fname_join(mdir, names[i]);
        uint8_t *data = NULL;
        size_t len = 0;
        rc = path ? fs_read_all(fsys, path, &data, &len, err) : err_set(err, TIND_ENOMEM, "out of memory");
        if (rc == TIND_OK && s->count == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8;
            bk_meta *n = realloc(s->metas, cap * sizeof *n);
            if (n) {
                s->metas = n;
                s->cap = cap;
            } else {
                rc = err_set(err, TIND_ENOMEM, "out of memory");
            }
        }
        if (rc == TIND_OK && (rc = meta_decode(path, id, data, len, &s->metas[s->count], err)) == TIND_OK)
            s->count++;
        free(data);
        free(path);
    }
    fs_list_free(names, count);
    free(mdir);
    /* ascending id (insertion sort: a handful of backups) */
    for (size_t i = 1; rc == TIND_OK && i < s->count; i++)
        for (size_t j = i; j > 0 && s->metas[j - 1].id > s->metas[j].id; j--) {
            bk_meta t = s->metas[j];
            s->metas[j] = s->metas[j - 1];
            s->metas[j - 1] = t;
        }
    if (rc)
        set_free(s);
    return rc;
}

/* Takes the folder's LOCK: exclusive (create, prune) or shared. */
static int bk_lock(fs *fsys, const char *dir, int exclusive, fs_lock **out, tind_err *err)
{
    *out = NULL;
    char *path = fname_join(dir, BK_LOCK);
    if (!path)
        return err_set(err, TIND_ENOMEM, "out of memory");
    int rc = exclusive ? fs_lock_file(fsys, path, out, err) : fs_lock_file_shared(fsys, path, out, err);
    if (rc == TIND_ENOENT && !exclusive) {
        err_clear(err);
        rc = TIND_OK;   /* no LOCK file: no create ever ran, list says so */
    } else if (rc == TIND_EBUSY) {
        err_set(err, TIND_EBUSY, "backup folder '%s' is in use (its LOCK is held)", dir);
    }
    free(path);
    return rc;
}

static void bk_unlock(fs_lock *l)
{
    if (l)
        fs_unlock(l, NULL);
}

/* ------------------------------------------------------------------ create */

typedef struct bk_progress {
    uint64_t done, total;
    ckpt_progress_fn fn;
    void *ctx;
} bk_progress;

/* The size and xxh3-64 of the file at path as stored (read through fsys). */
static int stored_hash(fs *fsys, const char *path, uint64_t *size, uint64_t *hash, tind_err *err)
{
    fs_file *in = NULL;
    int rc = fs_open(fsys, path, FS_O_READ, &in, err);
    if (rc == TIND_OK) {
        rc = fs_size(in, size, err);
        fs_close(in, NULL);
    }
    return rc ? rc : ckpt_copy_path(fsys, path, *size, NULL, hash, NULL, 0, NULL, NULL, err);
}

/* Copies a plan's file to dst; *size and *hash get what the description
 * records. dbfs reads the database: for an encrypted one (docs/ENCRYPTION.md)
 * the copy is written through it, so it is encrypted again with the
 * database's key, and its stored bytes are read back through the folder's
 * fsys for the size and hash: verify and restore check them without the key.
 * The ENCRYPTION file is copied as it is stored (plaintext). */
static int copy_stored(fs *dbfs, fs *fsys, const ckpt_file *f, const char *dst, uint64_t *size, uint64_t *hash,
                       bk_progress *pr, tind_err *err)
{
    fs *via = f->kind == CKPT_ENCRYPTION ? fsys : dbfs;
    *size = f->size;
    int rc = ckpt_copy_file(via, f, dst, hash, &pr->done, pr->total, pr->fn, pr->ctx, err);
    if (rc == TIND_OK && via != fsys)
        rc = stored_hash(fsys, dst, size, hash, err);
    return rc;
}

/* Stores one table or blob file in shared/ (or finds it there); adds it to
 * m. A table is known by (number, table id, size); a blob file, which has no
 * id, by (number, creation time, records, size) as VERSIONS records them. */
static int store_shared(fs *dbfs, fs *fsys, const char *dir, const bk_set *s, const ckpt_file *f, bk_meta *m,
                        bk_progress *pr, tind_err *err)
{
    int blob = f->kind == CKPT_BLOB;
    const char *ext = blob ? FNAME_BLOB_SUFFIX : FNAME_TABLE_SUFFIX;
    char name[128], stored[160], restore[64];
    if (blob)
        fname_blob(FNAME_TABLES_DIR, f->number, restore, sizeof restore);
    else
        fname_table(FNAME_TABLES_DIR, f->number, restore, sizeof restore);
    if (f->table_id || blob) {
        if (blob)
            snprintf(name, sizeof name, "%llu-c%llu-n%llu-%llu%s", (unsigned long long)f->number,
                     (unsigned long long)f->blob_created, (unsigned long long)f->blob_count,
                     (unsigned long long)f->size, ext);
        else
            snprintf(name, sizeof name, "%llu-%016llx-%llu%s", (unsigned long long)f->number,
                     (unsigned long long)f->table_id, (unsigned long long)f->size, ext);
        snprintf(stored, sizeof stored, BK_SHARED "/%s", name);
        const bk_file *have = set_find(s, stored, (size_t)-1);
        char *path = fname_join(dir, stored);
        int is_dir = 0;
        int present = path && fs_exists(fsys, path, &is_dir) == TIND_OK && !is_dir;
        free(path);
        /* encrypted: the name's size is the table's, the recorded one its stored size */
        if (have && present && (have->size == f->size || dbfs != fsys)) {
            pr->done += f->size;
            if (pr->fn)
                pr->fn(pr->ctx, pr->done, pr->total);
            return meta_add(m, f->kind, stored, restore, have->size, have->hash);
        }
    }
    /* copy under a temporary name, then rename it to its name */
    char *tmp = bk_pathf("%s/" BK_SHARED "/%llu%s.tmp", dir, (unsigned long long)f->number, ext);
    if (!tmp)
        return err_set(err, TIND_ENOMEM, "out of memory");
    fs_unlink(fsys, tmp, NULL);
    uint64_t hash = 0, size = 0;
    int rc = copy_stored(dbfs, fsys, f, tmp, &size, &hash, pr, err);
    if (rc == TIND_OK && !f->table_id && !blob) {
        snprintf(name, sizeof name, "%llu-h%016llx-%llu.tbl", (unsigned long long)f->number,
                 (unsigned long long)hash, (unsigned long long)f->size);
        snprintf(stored, sizeof stored, BK_SHARED "/%s", name);
    }
    char *final = rc == TIND_OK ? fname_join(dir, stored) : NULL;
    if (rc == TIND_OK && !final)
        rc = err_set(err, TIND_ENOMEM, "out of memory");
    if (rc == TIND_OK)
        rc = fs_rename(fsys, tmp, final, err);
    if (rc)
        fs_unlink(fsys, tmp, NULL);
    else if ((rc = meta_add(m, f->kind, stored, restore, size, hash)) != TIND_OK)
        err_set(err, rc, "out of memory");
    free(final);
    free(tmp);
    return rc;
}

static int sync_backup_dirs(fs *fsys, const char *dir, uint64_t id, tind_err *err)
{
    const char *fmts[4] = {"%s/" BK_SHARED, "%s/" BK_PRIVATE "/%llu/" FNAME_JOURNALS_DIR, "%s/" BK_PRIVATE "/%llu",
                           "%s/" BK_PRIVATE};
    int rc = TIND_OK;
    for (int i = 0; rc == TIND_OK && i < 4; i++) {
        char buf[BK_PATH_MAX];
        snprintf(buf, sizeof buf, fmts[i], dir, (unsigned long long)id);
        rc = fs_sync_dir(fsys, buf, err);
    }
    return rc;
}

int bk_create(tind_db *db, const char *dir, ckpt_progress_fn progress, void *ctx, uint64_t *id_out, tind_err *err)
{
    /* dbfs reads the database and writes the copies; the folder itself
     * (LOCK, descriptions, names) is plaintext, on the fs under an
     * encrypting one */
    fs *dbfs = db->fs;
    fs *fsys = fs_is_crypt(dbfs) ? fs_crypt_inner(dbfs) : dbfs;
    const char *subs[3] = {BK_META, BK_SHARED, BK_PRIVATE};
    int is_dir = 0;
    int fresh = fs_exists(fsys, dir, &is_dir) == TIND_ENOENT;
    int rc = mkdir_ok(fsys, dir, err);
    if (rc == TIND_OK && fresh) {
        char *parent = ckpt_parent_dir(dir);
        rc = parent ? fs_sync_dir(fsys, parent, err) : err_set(err, TIND_ENOMEM, "out of memory");
        free(parent);
    }
    for (int i = 0; rc == TIND_OK && i < 3; i++) {
        char *p = fname_join(dir, subs[i]);
        rc = p ? mkdir_ok(fsys, p, err) : err_set(err, TIND_ENOMEM, "out of memory");
        free(p);
    }
    if (rc == TIND_OK)
        rc = fs_sync_dir(fsys, dir, err);
    fs_lock *lock = NULL;
    if (rc == TIND_OK)
        rc = bk_lock(fsys, dir, 1, &lock, err);
    bk_set s;
    memset(&s, 0, sizeof s);
    if (rc == TIND_OK)
        rc = set_load(fsys, dir, &s, err);
    bk_meta m;
    memset(&m, 0, sizeof m);
    m.id = s.count ? s.metas[s.count - 1].id + 1 : 1;
    m.created = (uint64_t)time(NULL);
    char *priv = bk_pathf("%s/" BK_PRIVATE "/%llu", dir, (unsigned long long)m.id);
    char *pjrn = bk_pathf("%s/" BK_PRIVATE "/%llu/" FNAME_JOURNALS_DIR, dir, (unsigned long long)m.id);
    if (rc == TIND_OK && (!priv || !pjrn))
        rc = err_set(err, TIND_ENOMEM, "out of memory");
    /* a private folder of this id is an interrupted create's */
    if (rc == TIND_OK)
        rc = bk_rmtree(fsys, priv, err);
    if (rc == TIND_OK)
        rc = fs_mkdir(fsys, priv, err);
    if (rc == TIND_OK)
        rc = fs_mkdir(fsys, pjrn, err);
    ckpt_plan p;
    memset(&p, 0, sizeof p);
    int planned = 0;
    if (rc == TIND_OK && (rc = ckpt_plan_make(db, &p, err)) == TIND_OK)
        planned = 1;
    bk_progress pr = {0, planned ? p.bytes : 0, progress, ctx};
    if (planned)
        m.seqno = p.seqno;
    for (size_t i = 0; rc == TIND_OK && i < p.count; i++) {
        const ckpt_file *f = &p.files[i];
        if (f->kind == CKPT_TABLE || f->kind == CKPT_BLOB) {
            rc = store_shared(dbfs, fsys, dir, &s, f, &m, &pr, err);
            continue;
        }
        char stored[BK_PATH_MAX];
        snprintf(stored, sizeof stored, BK_PRIVATE "/%llu/%s", (unsigned long long)m.id, f->rel);
        char *dst = fname_join(dir, stored);
        uint64_t hash = 0, size = 0;
        rc = dst ? copy_stored(dbfs, fsys, f, dst, &size, &hash, &pr, err) : err_set(err, TIND_ENOMEM, "out of memory");
        if (rc == TIND_OK && (rc = meta_add(&m, f->kind, stored, f->rel, size, hash)) != TIND_OK)
            err_set(err, rc, "out of memory");
        free(dst);
    }
    if (planned)
        ckpt_plan_free(&p);
    if (rc == TIND_OK)
        rc = sync_backup_dirs(fsys, dir, m.id, err);
    KILL_POINT("backup.meta.before");
    tbuf enc = TBUF_INIT;
    if (rc == TIND_OK && (rc = meta_encode(&m, &enc)) != TIND_OK)
        err_set(err, rc, "out of memory");
    if (rc == TIND_OK) {
        char *mdir = fname_join(dir, BK_META);
        char name[32];
        snprintf(name, sizeof name, "%llu", (unsigned long long)m.id);
        rc = mdir ? fs_write_atomic(fsys, mdir, name, enc.data, enc.len, err)
                  : err_set(err, TIND_ENOMEM, "out of memory");
        free(mdir);
    }
    tbuf_free(&enc);
    if (rc == TIND_OK && id_out)
        *id_out = m.id;
    /* a failed create leaves shared files the next prune removes, and a
     * private folder the next create of this id (or prune) removes */
    if (rc && priv && lock)
        bk_rmtree(fsys, priv, NULL);
    free(priv);
    free(pjrn);
    meta_free(&m);
    set_free(&s);
    bk_unlock(lock);
    return rc;
}

/* ------------------------------------------------------------------ list */

int bk_list(fs *fsys, const char *dir, tind_backup_info **list, size_t *count, tind_err *err)
{
    *list = NULL;
    *count = 0;
    fs_lock *lock = NULL;
    int rc = bk_lock(fsys, dir, 0, &lock, err);
    bk_set s;
    memset(&s, 0, sizeof s);
    if (rc == TIND_OK)
        rc = set_load(fsys, dir, &s, err);
    bk_unlock(lock);
    if (rc)
        return rc;
    tind_backup_info *out = s.count ? calloc(s.count, sizeof *out) : NULL;
    if (s.count && !out) {
        set_free(&s);
        return err_set(err, TIND_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < s.count; i++) {
        const bk_meta *m = &s.metas[i];
        out[i].id = m->id;
        out[i].created_unix = m->created;
        out[i].seqno = m->seqno;
        out[i].files = m->count;
        for (size_t j = 0; j < m->count; j++) {
            out[i].bytes += m->files[j].size;
            if (set_find(&s, m->files[j].stored, i))
                out[i].shared_bytes += m->files[j].size;
        }
    }
    *list = out;
    *count = s.count;
    set_free(&s);
    return TIND_OK;
}

/* ------------------------------------------------------------------ verify */

static int noop_record(void *ctx, uint64_t first_seqno, uint32_t count, const uint8_t *payload, size_t len)
{
    (void)ctx, (void)first_seqno, (void)count, (void)payload, (void)len;
    return TIND_OK;
}

/* Beyond the checksum: the file's own structure, by the checks tind verify
 * and open use (table blocks and order, journal records, version file). */
static int check_structure(fs *fsys, const bk_file *f, const char *path, tind_err *err)
{
    int rc = TIND_OK;
    if (f->kind == CKPT_TABLE) {
        uint64_t number = 0;
        fname_parse(f->restore + sizeof FNAME_TABLES_DIR, &number);
        tbl_open_options o = {NULL, NULL, number, 0};
        tbl *t = NULL;
        rc = tbl_open(fsys, path, &o, &t, err);
        if (rc == TIND_OK) {
            rc = tbl_verify(t, err);
            tbl_unref(t);
        }
    } else if (f->kind == CKPT_BLOB) {
        uint64_t number = 0;
        fname_parse(f->restore + sizeof FNAME_TABLES_DIR, &number);
        blob_reader *b = NULL;
        rc = blob_reader_open(fsys, path, number, NULL, NULL, &b, err);
        if (rc == TIND_OK) {
            rc = blob_walk(b, NULL, NULL, err);
            blob_reader_free(b);
        }
    } else if (f->kind == CKPT_JOURNAL) {
        jrn_replay_result res;
        rc = jrn_replay(fsys, path, noop_record, NULL, 0, &res, err);
    } else if (f->kind == CKPT_VERSIONS) {
        uint8_t *data = NULL;
        size_t len = 0;
        rc = fs_read_all(fsys, path, &data, &len, err);
        mf_state st;
        if (rc == TIND_OK && (rc = manifest_decode(data, len, &st, err)) == TIND_OK)
            mf_state_free(&st);
        free(data);
    }
    return rc;
}

/* 1 when backup m is of an encrypted database (it holds its ENCRYPTION file). */
static int meta_encrypted(const bk_meta *m)
{
    for (size_t j = 0; j < m->count; j++)
        if (m->files[j].kind == CKPT_ENCRYPTION)
            return 1;
    return 0;
}

/* The ids to act on: id, or every backup (id 0), or the newest (newest = 1). */
static int select_metas(const bk_set *s, const char *dir, uint64_t id, int newest, size_t *from, size_t *to,
                        tind_err *err)
{
    *from = 0;
    *to = s->count;
    if (id == 0 && newest && s->count)
        *from = s->count - 1;
    for (size_t i = 0; id && i < s->count; i++)
        if (s->metas[i].id == id) {
            *from = i;
            *to = i + 1;
            return TIND_OK;
        }
    if (id || s->count == 0)
        return err_set(err, TIND_NOT_FOUND, "backup folder '%s' has no backup %llu", dir, (unsigned long long)id);
    return TIND_OK;
}

/* Takes the folder's shared lock and loads its descriptions; the chosen
 * backups are s->metas[*from, *to). */
static int open_shared(fs *fsys, const char *dir, uint64_t id, int newest, fs_lock **lock, bk_set *s, size_t *from,
                       size_t *to, tind_err *err)
{
    memset(s, 0, sizeof *s);
    *from = *to = 0;
    int rc = bk_lock(fsys, dir, 0, lock, err);
    if (rc == TIND_OK)
        rc = set_load(fsys, dir, s, err);
    if (rc == TIND_OK)
        rc = select_metas(s, dir, id, newest, from, to, err);
    return rc;
}

static uint64_t meta_bytes(const bk_meta *m)
{
    uint64_t n = 0;
    for (size_t j = 0; j < m->count; j++)
        n += m->files[j].size;
    return n;
}

/* Reads stored file f of backup m whole (copying it to dst unless NULL),
 * checking its size and checksum (and, when only reading, its structure). */
static int read_checked(fs *fsys, const char *dir, const bk_meta *m, const bk_file *f, const char *dst,
                        uint64_t *done, uint64_t total, ckpt_progress_fn progress, void *ctx, tind_err *err)
{
    char *path = fname_join(dir, f->stored);
    uint64_t hash = 0;
    int rc = path ? ckpt_copy_path(fsys, path, f->size, dst, &hash, done, total, progress, ctx, err)
                  : err_set(err, TIND_ENOMEM, "out of memory");
    if (rc == TIND_ENOENT)
        rc = err_set(err, TIND_ECORRUPT, "'%s' is missing", path);
    if (rc == TIND_OK && hash != f->hash)
        rc = err_set(err, TIND_ECORRUPT, "'%s': checksum mismatch (xxh3 %016llx, %016llx recorded)", path,
                     (unsigned long long)hash, (unsigned long long)f->hash);
    /* an encrypted backup's files are read only with the key, which verify
     * does not take: its checksums are what it checks (the pages' tags are
     * checked when the restored database is read) */
    if (rc == TIND_OK && !dst && !meta_encrypted(m))
        rc = check_structure(fsys, f, path, err);
    if (rc)
        err_wrap(err, rc, "backup %llu: ", (unsigned long long)m->id);
    free(path);
    return rc;
}

/* A file of a backup, for verify's order: by stored name, then what the
 * backup records of it, then the oldest backup first. */
typedef struct bk_ref {
    const bk_meta *m;
    const bk_file *f;
} bk_ref;

static int ref_cmp(const void *a, const void *b)
{
    const bk_ref *x = a, *y = b;
    int c = strcmp(x->f->stored, y->f->stored);
    if (c)
        return c;
    if (x->f->hash != y->f->hash)
        return x->f->hash < y->f->hash ? -1 : 1;
    if (x->f->size != y->f->size)
        return x->f->size < y->f->size ? -1 : 1;
    return x->m->id < y->m->id ? -1 : x->m->id > y->m->id;
}

/* The same stored file, recorded alike (checked once for every backup that holds it). */
static int ref_same(const bk_ref *x, const bk_ref *y)
{
    return !strcmp(x->f->stored, y->f->stored) && x->f->hash == y->f->hash && x->f->size == y->f->size;
}

int bk_verify(fs *fsys, const char *dir, uint64_t id, ckpt_progress_fn progress, void *ctx, tind_err *err)
{
    fs_lock *lock = NULL;
    bk_set s;
    size_t from, to;
    int rc = open_shared(fsys, dir, id, 0, &lock, &s, &from, &to, err);
    /* a file several backups share is read once (a backup that records
     * it differently gets its own read, and the mismatch) */
    size_t n = 0;
    for (size_t i = from; rc == TIND_OK && i < to; i++)
        n += s.metas[i].count;
    bk_ref *refs = rc == TIND_OK && n ? malloc(n * sizeof *refs) : NULL;
    if (n && !refs && rc == TIND_OK)
        rc = err_set(err, TIND_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = from; rc == TIND_OK && i < to; i++)
        for (size_t j = 0; j < s.metas[i].count; j++)
            refs[k++] = (bk_ref){&s.metas[i], &s.metas[i].files[j]};
    if (k)
        qsort(refs, k, sizeof *refs, ref_cmp);
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < k; i++)
        if (i == 0 || !ref_same(&refs[i - 1], &refs[i]))
            total += refs[i].f->size;
    for (size_t i = 0; rc == TIND_OK && i < k; i++)
        if (i == 0 || !ref_same(&refs[i - 1], &refs[i]))
            rc = read_checked(fsys, dir, refs[i].m, refs[i].f, NULL, &done, total, progress, ctx, err);
    free(refs);
    set_free(&s);
    bk_unlock(lock);
    return rc;
}

/* ------------------------------------------------------------------ restore */

int bk_restore(fs *fsys, const char *dir, uint64_t id, const char *target, ckpt_progress_fn progress, void *ctx,
               tind_err *err)
{
    int is_dir = 0;
    if (fs_exists(fsys, target, &is_dir) == TIND_OK)
        return err_set(err, TIND_EEXIST, "restore: '%s' already exists", target);
    fs_lock *lock = NULL;
    bk_set s;
    size_t from, to;
    int rc = open_shared(fsys, dir, id, 1, &lock, &s, &from, &to, err);
    char *tmp = bk_pathf("%s" FNAME_TEMP_SUFFIX, target);
    char *jdir = bk_pathf("%s" FNAME_TEMP_SUFFIX "/" FNAME_JOURNALS_DIR, target);
    char *tdir = bk_pathf("%s" FNAME_TEMP_SUFFIX "/" FNAME_TABLES_DIR, target);
    char *parent = ckpt_parent_dir(target);
    if (rc == TIND_OK && (!tmp || !jdir || !tdir || !parent))
        rc = err_set(err, TIND_ENOMEM, "out of memory");
    int made = 0;
    fs_lock *tmp_lock = NULL;
    if (rc == TIND_OK && (rc = ckpt_claim_temp(fsys, tmp, &tmp_lock, err)) == TIND_OK)
        made = 1;
    if (rc == TIND_OK)
        rc = fs_mkdir(fsys, jdir, err);
    if (rc == TIND_OK)
        rc = fs_mkdir(fsys, tdir, err);
    const bk_meta *m = rc == TIND_OK ? &s.metas[from] : NULL;
    uint64_t total = m ? meta_bytes(m) : 0, done = 0;
    for (size_t j = 0; rc == TIND_OK && j < m->count; j++) {
        char *dst = fname_join(tmp, m->files[j].restore);
        rc = dst ? read_checked(fsys, dir, m, &m->files[j], dst, &done, total, progress, ctx, err)
                 : err_set(err, TIND_ENOMEM, "out of memory");
        free(dst);
    }
    if (rc == TIND_OK)
        rc = fs_sync_dir(fsys, jdir, err);
    if (rc == TIND_OK)
        rc = fs_sync_dir(fsys, tdir, err);
    if (rc == TIND_OK)
        rc = fs_sync_dir(fsys, tmp, err);
    if (rc == TIND_OK)
        rc = fs_rename(fsys, tmp, target, err);
    if (rc == TIND_OK)
        rc = fs_sync_dir(fsys, parent, err);
    else if (made)
        ckpt_remove_copy(fsys, tmp, NULL);
    ckpt_release_temp(tmp_lock);
    free(tmp);
    free(jdir);
    free(tdir);
    free(parent);
    set_free(&s);
    bk_unlock(lock);
    return rc;
}

/* ------------------------------------------------------------------ prune */

int bk_prune(fs *fsys, const char *dir, size_t keep, size_t *deleted, tind_err *err)
{
    if (deleted)
        *deleted = 0;
    if (keep < 1)
        return err_set(err, TIND_EINVAL, "prune: keep at least 1 backup");
    fs_lock *lock = NULL;
    int rc = bk_lock(fsys, dir, 1, &lock, err);
    bk_set s;
    memset(&s, 0, sizeof s);
    if (rc == TIND_OK)
        rc = set_load(fsys, dir, &s, err);
    char *mdir = fname_join(dir, BK_META);
    char *pdir = fname_join(dir, BK_PRIVATE);
    char *sdir = fname_join(dir, BK_SHARED);
    if (rc == TIND_OK && (!mdir || !pdir || !sdir))
        rc = err_set(err, TIND_ENOMEM, "out of memory");
    /* 1. the descriptions of the oldest: from now on those backups are gone */
    size_t drop = rc == TIND_OK && s.count > keep ? s.count - keep : 0;
    for (size_t i = 0; rc == TIND_OK && i < drop; i++) {
        char *p = bk_pathf("%s/%llu", mdir, (unsigned long long)s.metas[i].id);
        rc = p ? fs_unlink(fsys, p, err) : err_set(err, TIND_ENOMEM, "out of memory");
        free(p);
    }
    if (rc == TIND_OK && drop)
        rc = fs_sync_dir(fsys, mdir, err);
    if (rc == TIND_OK && deleted)
        *deleted = drop;
    /* 2. private folders no remaining description names */
    char **names = NULL;
    size_t count = 0;
    if (rc == TIND_OK)
        rc = fs_list(fsys, pdir, &names, &count, err);
    for (size_t i = 0; rc == TIND_OK && i < count; i++) {
        uint64_t id = 0;
        int kept = 0;
        if (!parse_u64(names[i], 10, &id))
            for (size_t j = drop; j < s.count; j++)
                kept |= s.metas[j].id == id;
        if (kept)
            continue;
        char *p = fname_join(pdir, names[i]);
        rc = p ? bk_rmtree(fsys, p, err) : err_set(err, TIND_ENOMEM, "out of memory");
        free(p);
    }
    fs_list_free(names, count);
    names = NULL;
    count = 0;
    /* 3. shared files no remaining description names (and temporaries) */
    if (rc == TIND_OK)
        rc = fs_list(fsys, sdir, &names, &count, err);
    for (size_t i = 0; rc == TIND_OK && i < count; i++) {
        char stored[BK_PATH_MAX];
        snprintf(stored, sizeof stored, BK_SHARED "/%s", names[i]);
        int kept = 0;
        for (size_t j = drop; !kept && j < s.count; j++)
            for (size_t k = 0; !kept && k < s.metas[j].count; k++)
                kept = !strcmp(s.metas[j].files[k].stored, stored);
        if (kept)
            continue;
        char *p = fname_join(sdir, names[i]);
        rc = p ? fs_unlink(fsys, p, err) : err_set(err, TIND_ENOMEM, "out of memory");
        free(p);
    }
    fs_list_free(names, count);
    if (rc == TIND_OK)
        rc = fs_sync_dir(fsys, pdir, err);
    if (rc == TIND_OK)
        rc = fs_sync_dir(fsys, sdir, err);
    free(mdir);
    free(pdir);
    free(sdir);
    set_free(&s);
    bk_unlock(lock);
    return rc;
}

/* ------------------------------------------------------------------ the public calls */

typedef struct bk_create_args {
    tind_progress_fn progress;
    void *ctx;
    uint64_t *id;
} bk_create_args;

static int run_create(tind_db *db, const char *dir, void *arg, tind_err *err)
{
    bk_create_args *a = arg;
    return bk_create(db, dir, a->progress, a->ctx, a->id, err);
}

TIND_API int tind_backup_create(tind_db *db, const char *dir, tind_progress_fn progress, void *ctx, uint64_t *id)
{
    bk_create_args a = {progress, ctx, id};
    return ckpt_db_call(db, dir, "tind_backup_create", run_create, &a);
}

/* The calls without a database: the POSIX file system, messages as tind_open's. */
static int no_db_call(const char *dir, const char *what, fs **out, tind_err *err)
{
    err_clear(err);
    if (!dir || !*dir)
        return err_set(err, TIND_EINVAL, "%s: no folder given", what);
    *out = fs_posix_new();
    return *out ? TIND_OK : err_set(err, TIND_ENOMEM, "out of memory");
}

TIND_API int tind_backup_list(const char *dir, tind_backup_info **list, size_t *count)
{
    tind_err err;
    fs *fsys = NULL;
    int rc = no_db_call(dir, "tind_backup_list", &fsys, &err);
    if (rc == TIND_OK && (!list || !count))
        rc = err_set(&err, TIND_EINVAL, "tind_backup_list: NULL out-pointer");
    if (rc == TIND_OK)
        rc = bk_list(fsys, dir, list, count, &err);
    fs_destroy(fsys);
    return db_fail(NULL, rc, &err);
}

TIND_API int tind_backup_verify(const char *dir, uint64_t id, tind_progress_fn progress, void *ctx)
{
    tind_err err;
    fs *fsys = NULL;
    int rc = no_db_call(dir, "tind_backup_verify", &fsys, &err);
    if (rc == TIND_OK)
        rc = bk_verify(fsys, dir, id, progress, ctx, &err);
    fs_destroy(fsys);
    return db_fail(NULL, rc, &err);
}

TIND_API int tind_backup_restore(const char *dir, uint64_t id, const char *target, tind_progress_fn progress,
                                 void *ctx)
{
    tind_err err;
    fs *fsys = NULL;
    int rc = no_db_call(dir, "tind_backup_restore", &fsys, &err);
    if (rc == TIND_OK && (!target || !*target))
        rc = err_set(&err, TIND_EINVAL, "tind_backup_restore: no target folder given");
    if (rc == TIND_OK)
        rc = bk_restore(fsys, dir, id, target, progress, ctx, &err);
    fs_destroy(fsys);
    return db_fail(NULL, rc, &err);
}

TIND_API int tind_backup_prune(const char *dir, size_t keep, size_t *deleted)
{
    tind_err err;
    fs *fsys = NULL;
    int rc = no_db_call(dir, "tind_backup_prune", &fsys, &err);
    if (rc == TIND_OK)
        rc = bk_prune(fsys, dir, keep, deleted, &err);
    fs_destroy(fsys);
    return db_fail(NULL, rc, &err);
}
