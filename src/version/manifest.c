/*
 * manifest.c -- encoding, decoding, writing and reading the version file
 * (format in manifest.h and docs/FORMAT.md "Version file").
 *
 * Decoding order matters: length, magic, payload length, checksum, and only
 * then the format version, so that a flipped bit anywhere (the version field
 * included) reads as TIND_ECORRUPT, while a well-formed file from a newer
 * tind reads as TIND_EVERSION. After the checksum, the payload is parsed with
 * bounds checks on every read, the versions are built through
 * version_apply_code (ordering and overlap checks), and the whole state goes
 * through mf_validate, the same check the encoder runs, so that tind never
 * writes a file it would refuse to read.
 *
 * Thread-safety: no shared state; see manifest.h.
 */
#include "version/manifest.h"

#include <stdlib.h>
#include <string.h>

#include "format/entry.h"
#include "util/coding.h"
#include "util/hash.h"

#define MF_MAX_NAME 255u
#define MF_MAX_KEY 65535u
/* Smallest encodings, to bound counts by the bytes left before allocating. */
#define MF_MIN_KEYSPACE_BYTES 8u   /* id, name len, 1-byte name, options len, flushed, blobs, levels, 1 level */
#define MF_MIN_TABLE_BYTES 12u     /* 7 varints, 2 key lengths, 2 one-byte keys, blob refs */

/* ------------------------------------------------------------------ validation */

/* UTF-8 by structure (lead bytes and continuation bytes), as the engine
 * checks names on tind_keyspace_open; NUL is refused too (names are C
 * strings). */
static int mf_name_ok(const uint8_t *s, size_t n)
{
    if (n < 1 || n > MF_MAX_NAME)
        return 0;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == 0)
            return 0;
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || len > n - i)
            return 0;
        for (size_t j = 1; j < len; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

static int mf_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int mf_cmp_ks_id(const void *a, const void *b)
{
    const mf_keyspace *x = *(const mf_keyspace *const *)a, *y = *(const mf_keyspace *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int mf_cmp_ks_name(const void *a, const void *b)
{
    const mf_keyspace *x = *(const mf_keyspace *const *)a, *y = *(const mf_keyspace *const *)b;
    return key_cmp((const uint8_t *)x->name, x->name_len, (const uint8_t *)y->name, y->name_len);
}

/* Everything a version file must satisfy beyond what a version already
 * guarantees (version.h invariants): counters, names, unique ids, names and
 * table numbers. Fails with bad_code. */
static int mf_validate(const mf_state *st, int bad_code, tind_err *err)
{
    int rc = TIND_OK;
    const mf_keyspace **byks = NULL;
    uint64_t *numbers = NULL;
    size_t ntables = 0;

    if (st->last_seqno > SEQNO_MAX)
        return err_set(err, bad_code, "last seqno %llu beyond the 56-bit limit",
                       (unsigned long long)st->last_seqno);
    if (st->journal_seqno > SEQNO_MAX || st->next_seqno > SEQNO_MAX + 1)
        return err_set(err, bad_code, "journal seqno %llu or next seqno %llu beyond the 56-bit limit",
                       (unsigned long long)st->journal_seqno, (unsigned long long)st->next_seqno);
    if (st->oldest_journal > st->next_file_number)
        return err_set(err, bad_code, "oldest journal %llu > next file number %llu",
                       (unsigned long long)st->oldest_journal, (unsigned long long)st->next_file_number);
    if (st->keyspace_count && !st->keyspaces)
        return err_set(err, bad_code, "%zu keyspaces but no array", st->keyspace_count);
    for (size_t k = 0; k < st->keyspace_count; k++) {
        const mf_keyspace *m = &st->keyspaces[k];
        if (!m->name || !mf_name_ok((const uint8_t *)m->name, m->name_len))
            return err_set(err, bad_code, "keyspace %u: name is not 1..255 bytes of UTF-8", m->id);
        if (m->options_len && !m->options)
            return err_set(err, bad_code, "keyspace '%s': no options bytes", m->name);
        if (m->id >= st->next_keyspace_id)
            return err_set(err, bad_code, "keyspace '%s': id %u >= next keyspace id %u", m->name,
                           m->id, st->next_keyspace_id);
        if (m->flushed_seqno > st->last_seqno)
            return err_set(err, bad_code, "keyspace '%s': flushed seqno %llu > last seqno %llu",
                           m->name, (unsigned long long)m->flushed_seqno, (unsigned long long)st->last_seqno);
        const version *v = m->v;
        if (!v)
            return err_set(err, bad_code, "keyspace '%s': no version", m->name);
        if (v->keyspace_id != m->id || v->level_count < 1 || v->level_count > VER_MAX_LEVELS)
            return err_set(err, bad_code, "keyspace '%s': version of keyspace %u with %d levels",
                           m->name, v->keyspace_id, v->level_count);
        for (size_t b = 0; b < v->blob_count; b++)
            if (v->blobs[b].file->number >= st->next_file_number)
                return err_set(err, bad_code, "keyspace '%s': blob file %llu >= next file number %llu", m->name,
                               (unsigned long long)v->blobs[b].file->number,
                               (unsigned long long)st->next_file_number);
        for (int l = 0; l < v->level_count; l++)
            for (size_t i = 0; i < v->levels[l].count; i++) {
                const ver_table *t = v->levels[l].tables[i];
                if (t->number >= st->next_file_number)
                    return err_set(err, bad_code,
                                   "keyspace '%s': table %llu >= next file number %llu", m->name,
                                   (unsigned long long)t->number, (unsigned long long)st->next_file_number);
                if (t->max_seqno > st->last_seqno)
                    return err_set(err, bad_code,
                                   "keyspace '%s': table %llu: max seqno %llu > last seqno %llu",
                                   m->name, (unsigned long long)t->number, (unsigned long long)t->max_seqno,
                                   (unsigned long long)st->last_seqno);
                if (t->tombstones > t->entries)
                    return err_set(err, bad_code,
                                   "keyspace '%s': table %llu: %llu tombstones > %llu entries",
                                   m->name, (unsigned long long)t->number, (unsigned long long)t->tombstones,
                                   (unsigned long long)t->entries);
                if (t->smallest_len < 1 || t->smallest_len > MF_MAX_KEY || t->largest_len < 1 ||
                    t->largest_len > MF_MAX_KEY)
                    return err_set(err, bad_code, "keyspace '%s': table %llu: key of bad length",
                                   m->name, (unsigned long long)t->number);
                ntables++;
            }
    }
    if (st->keyspace_count > 1) {
        byks = malloc(st->keyspace_count * sizeof *byks);
        if (!byks)
            return err_set(err, TIND_ENOMEM, "out of memory");
        for (size_t k = 0; k < st->keyspace_count; k++)
            byks[k] = &st->keyspaces[k];
        qsort(byks, st->keyspace_count, sizeof *byks, mf_cmp_ks_id);
        for (size_t k = 0; k + 1 < st->keyspace_count; k++)
            if (byks[k]->id == byks[k + 1]->id) {
                rc = err_set(err, bad_code, "keyspaces '%s' and '%s' share id %u", byks[k]->name,
                             byks[k + 1]->name, byks[k]->id);
                goto done;
            }
        qsort(byks, st->keyspace_count, sizeof *byks, mf_cmp_ks_name);
        for (size_t k = 0; k + 1 < st->keyspace_count; k++)
            if (mf_cmp_ks_name(&byks[k], &byks[k + 1]) == 0) {
                rc = err_set(err, bad_code, "two keyspaces named '%s' (ids %u and %u)",
                             byks[k]->name, byks[k]->id, byks[k + 1]->id);
                goto done;
            }
    }
    if (ntables > 1) {
        numbers = malloc(ntables * sizeof *numbers);
        if (!numbers) {
            rc = err_set(err, TIND_ENOMEM, "out of memory");
            goto done;
        }
        size_t n = 0;
        for (size_t k = 0; k < st->keyspace_count; k++)
            for (int l = 0; l < st->keyspaces[k].v->level_count; l++)
                for (size_t i = 0; i < st->keyspaces[k].v->levels[l].count; i++)
                    numbers[n++] = st->keyspaces[k].v->levels[l].tables[i]->number;
        qsort(numbers, n, sizeof *numbers, mf_cmp_u64);
        for (size_t i = 0; i + 1 < n; i++)
            if (numbers[i] == numbers[i + 1]) {
                rc = err_set(err, bad_code, "table %llu is listed twice",
                             (unsigned long long)numbers[i]);
                goto done;
            }
    }
done:
    free(byks);
    free(numbers);
    return rc;
}

/* ------------------------------------------------------------------ encode */

static int mf_put_bytes(tbuf *b, const void *p, size_t n)
{
    int rc = tbuf_append_varint(b, n);
    return rc ? rc : tbuf_append(b, p, n);
}

int manifest_encode(const mf_state *st, tbuf *out, tind_err *err)
{
    size_t start = out->len;
    uint32_t fv = st->format_version ? st->format_version : MANIFEST_FORMAT_VERSION;
    if (fv > MANIFEST_FORMAT_VERSION)
        return err_set(err, TIND_EINVAL, "version file: cannot write format version %u (this library writes %u)",
                       fv, MANIFEST_FORMAT_VERSION);
    int rc = mf_validate(st, TIND_EINVAL, err);
    if (rc) {
        err_wrap(err, rc, "version file");
        return rc;
    }

    uint8_t head[MANIFEST_HEADER_LEN];
    memcpy(head, MANIFEST_MAGIC, MANIFEST_MAGIC_LEN);
    enc_u32(head + 8, fv);
    enc_u32(head + 12, 0);
    enc_u64(head + 16, 0); /* payload length, patched below */
    rc = tbuf_append(out, head, sizeof head);
    if (!rc)
        rc = tbuf_append_varint(out, st->next_file_number);
    if (!rc)
        rc = tbuf_append_varint(out, st->last_seqno);
    if (!rc)
        rc = tbuf_append_varint(out, st->oldest_journal);
    if (!rc)
        rc = tbuf_append_varint(out, st->next_keyspace_id);
    if (!rc && fv >= 2)
        rc = tbuf_append_u64(out, st->db_id);
    if (!rc && fv >= 2)
        rc = tbuf_append_varint(out, st->journal_seqno);
    if (!rc && fv >= 2)
        rc = tbuf_append_varint(out, st->next_seqno);
    if (!rc)
        rc = tbuf_append_varint(out, st->keyspace_count);
    for (size_t k = 0; !rc && k < st->keyspace_count; k++) {
        const mf_keyspace *m = &st->keyspaces[k];
        const version *v = m->v;
        rc = tbuf_append_varint(out, m->id);
        if (!rc)
            rc = mf_put_bytes(out, m->name, m->name_len);
        if (!rc)
            rc = mf_put_bytes(out, m->options, m->options_len);
        if (!rc)
            rc = tbuf_append_varint(out, m->flushed_seqno);
        if (!rc)
            rc = tbuf_append_varint(out, v->blob_count); /* blob files (key-value separation) */
        for (size_t b = 0; !rc && b < v->blob_count; b++) {
            const ver_blob_entry *be = &v->blobs[b];
            uint8_t tmp[7 * VARINT64_MAX_LEN], *p = tmp;
            p = enc_varint64(p, be->file->number);
            p = enc_varint64(p, be->file->size);
            p = enc_varint64(p, be->file->count);
            p = enc_varint64(p, be->file->bytes);
            p = enc_varint64(p, be->garbage_count);
            p = enc_varint64(p, be->garbage_bytes);
            p = enc_varint64(p, be->file->created_unix);
            rc = tbuf_append(out, tmp, (size_t)(p - tmp));
        }
        if (!rc)
            rc = tbuf_append_varint(out, (uint64_t)v->level_count);
        for (int l = 0; !rc && l < v->level_count; l++) {
            const ver_level *lv = &v->levels[l];
            rc = tbuf_append_varint(out, lv->count);
            for (size_t i = 0; !rc && i < lv->count; i++) {
                const ver_table *t = lv->tables[i];
                uint8_t tmp[7 * VARINT64_MAX_LEN], *p = tmp;
                p = enc_varint64(p, t->number);
                p = enc_varint64(p, t->size);
                p = enc_varint64(p, t->entries);
                p = enc_varint64(p, t->tombstones);
                p = enc_varint64(p, t->min_seqno);
                p = enc_varint64(p, t->max_seqno);
                p = enc_varint64(p, t->created_unix);
                rc = tbuf_append(out, tmp, (size_t)(p - tmp));
                if (!rc && fv >= 2)
                    rc = tbuf_append_u64(out, t->table_id);
                if (!rc)
                    rc = mf_put_bytes(out, t->smallest, t->smallest_len);
                if (!rc)
                    rc = mf_put_bytes(out, t->largest, t->largest_len);
                if (!rc)
                    rc = tbuf_append_varint(out, t->blob_ref_count); /* blob files referenced */
                for (size_t b = 0; !rc && b < t->blob_ref_count; b++)
                    rc = tbuf_append_varint(out, t->blob_refs[b]);
            }
        }
    }
    if (!rc)
        rc = tbuf_reserve(out, MANIFEST_TRAILER_LEN);
    if (rc) {
        out->len = start;
        return err_set(err, rc, "version file: out of memory encoding");
    }
    uint8_t *file = out->data + start;
    size_t flen = out->len - start;
    enc_u64(file + 16, (uint64_t)(flen - MANIFEST_HEADER_LEN));
    uint8_t sum[MANIFEST_TRAILER_LEN];
    enc_u64(sum, hash64(file, flen));
    rc = tbuf_append(out, sum, sizeof sum); /* reserved above: cannot fail */
    if (rc) {
        out->len = start;
        return err_set(err, rc, "version file: out of memory encoding");
    }
    return TIND_OK;
}

/* ------------------------------------------------------------------ decode */

typedef struct mf_reader {
    const uint8_t *base;          /* start of the file: offsets in messages */
    const uint8_t *p;
    const uint8_t *end;
    tind_err *err;
    uint32_t format_version;      /* the file's: format 1 has no ids */
} mf_reader;

static int mf_bad(mf_reader *r, const char *what)
{
    return err_set(r->err, TIND_ECORRUPT, "offset %zu: bad or truncated %s", (size_t)(r->p - r->base),
                   what);
}

static int mf_get(mf_reader *r, uint64_t *v, const char *what)
{
    const uint8_t *q = dec_varint64(r->p, r->end, v);
    if (!q)
        return mf_bad(r, what);
    r->p = q;
    return TIND_OK;
}

static int mf_get_u32(mf_reader *r, uint32_t *v, const char *what)
{
    uint64_t x;
    int rc = mf_get(r, &x, what);
    if (rc)
        return rc;
    if (x > UINT32_MAX)
        return mf_bad(r, what);
    *v = (uint32_t)x;
    return TIND_OK;
}

/* A length-prefixed byte string of min..max bytes; *p points into the input. */
static int mf_get_bytes(mf_reader *r, size_t min, size_t max, const uint8_t **p, size_t *n, const char *what)
{
    uint64_t len;
    const uint8_t *start = r->p;
    *p = NULL;
    *n = 0;
    int rc = mf_get(r, &len, what);
    if (rc)
        return rc;
    if (len < min || len > max || len > (uint64_t)(r->end - r->p)) {
        r->p = start;
        return mf_bad(r, what);
    }
    *p = r->p;
    *n = (size_t)len;
    r->p += len;
    return TIND_OK;
}

static int mf_get_u64_fixed(mf_reader *r, uint64_t *v, const char *what)
{
    if (r->end - r->p < 8)
        return mf_bad(r, what);
    *v = dec_u64(r->p);
    r->p += 8;
    return TIND_OK;
}

static int mf_decode_table(mf_reader *r, ver_table **out)
{
    uint64_t f[7];
    static const char *const names[7] = {"table number", "table size", "entry count", "tombstone count",
                                         "min seqno", "max seqno", "creation time"};
    *out = NULL;
    for (int i = 0; i < 7; i++) {
        int rc = mf_get(r, &f[i], names[i]);
        if (rc)
            return rc;
    }
    uint64_t table_id = 0; /* format 1: a table from before identities */
    if (r->format_version >= 2) {
        int rc = mf_get_u64_fixed(r, &table_id, "table id");
        if (rc)
            return rc;
    }
    const uint8_t *sk, *lk;
    size_t sn, ln;
    int rc = mf_get_bytes(r, 1, MF_MAX_KEY, &sk, &sn, "smallest key");
    if (!rc)
        rc = mf_get_bytes(r, 1, MF_MAX_KEY, &lk, &ln, "largest key");
    uint64_t blobs = 0;
    if (!rc)
        rc = mf_get(r, &blobs, "blob reference count");
    if (rc)
        return rc;
    if (blobs > (uint64_t)(r->end - r->p))
        return mf_bad(r, "blob reference count");
    uint64_t *refs = blobs ? malloc((size_t)blobs * sizeof *refs) : NULL;
    if (blobs && !refs)
        return err_set(r->err, TIND_ENOMEM, "out of memory");
    for (uint64_t i = 0; !rc && i < blobs; i++) {
        rc = mf_get(r, &refs[i], "blob reference");
        if (!rc && i && refs[i] <= refs[i - 1])
            rc = err_set(r->err, TIND_ECORRUPT, "table %llu: blob references not ascending", (unsigned long long)f[0]);
    }
    if (!rc) {
        *out = ver_table_new(f[0], f[1], f[2], f[3], f[4], f[5], f[6], sk, sn, lk, ln);
        if (!*out || ver_table_set_blob_refs(*out, refs, (size_t)blobs)) {
            ver_table_unref(*out);
            *out = NULL;
            rc = err_set(r->err, TIND_ENOMEM, "out of memory");
        }
    }
    free(refs);
    if (rc)
        return rc;
    (*out)->table_id = table_id;
    return TIND_OK;
}

/* One blob file of a keyspace: its file and its garbage, into the edit. */
static int mf_decode_blob(mf_reader *r, ver_edit *e)
{
    uint64_t f[7];
    static const char *const names[7] = {"blob file number", "blob file size", "blob count", "blob bytes",
                                         "blob garbage count", "blob garbage bytes", "blob creation time"};
    for (int i = 0; i < 7; i++) {
        int rc = mf_get(r, &f[i], names[i]);
        if (rc)
            return rc;
    }
    if (f[4] > f[2] || f[5] > f[3] || f[3] > f[1])
        return err_set(r->err, TIND_ECORRUPT, "blob file %llu: garbage %llu/%llu bytes beyond its %llu/%llu (file %llu bytes)",
                       (unsigned long long)f[0], (unsigned long long)f[4], (unsigned long long)f[5],
                       (unsigned long long)f[2], (unsigned long long)f[3], (unsigned long long)f[1]);
    ver_blob *b = ver_blob_new(f[0], f[1], f[2], f[3], f[6]);
    int rc = b ? ver_edit_add_blob(e, b) : TIND_ENOMEM;
    if (!rc && (f[4] || f[5]))
        rc = ver_edit_add_garbage(e, f[0], f[4], f[5]);
    ver_blob_unref(b);
    return rc ? err_set(r->err, rc, "out of memory") : TIND_OK;
}

/* What follows a keyspace's name: options, flushed seqno, blob files,
 * levels and their tables. */
static int mf_decode_keyspace_body(mf_reader *r, mf_keyspace *m)
{
    const uint8_t *opts;
    size_t opts_len;
    uint64_t blobs, levels;
    int rc = mf_get_bytes(r, 0, SIZE_MAX, &opts, &opts_len, "keyspace options");
    if (rc)
        return rc;
    m->options = malloc(opts_len ? opts_len : 1);
    if (!m->options)
        return err_set(r->err, TIND_ENOMEM, "out of memory");
    if (opts_len)
        memcpy(m->options, opts, opts_len);
    m->options_len = opts_len;

    rc = mf_get(r, &m->flushed_seqno, "flushed seqno");
    if (!rc)
        rc = mf_get(r, &blobs, "blob file count");
    if (rc)
        return rc;
    ver_edit e;
    ver_edit_init(&e);
    if (blobs > (uint64_t)(r->end - r->p) / 7)
        return mf_bad(r, "blob file count");
    for (uint64_t i = 0; !rc && i < blobs; i++)
        rc = mf_decode_blob(r, &e);
    if (!rc)
        rc = mf_get(r, &levels, "level count");
    if (!rc && (levels < 1 || levels > VER_MAX_LEVELS))
        rc = err_set(r->err, TIND_ECORRUPT, "%llu levels (1..%d allowed)", (unsigned long long)levels,
                     VER_MAX_LEVELS);
    version *base = rc ? NULL : version_new_empty(m->id, (int)levels);
    if (!rc && !base)
        rc = err_set(r->err, TIND_ENOMEM, "out of memory");
    if (rc) {
        ver_edit_free(&e);
        return rc;
    }
    for (int l = 0; !rc && l < (int)levels; l++) {
        uint64_t count;
        rc = mf_get(r, &count, "table count");
        if (!rc && count > (uint64_t)(r->end - r->p) / MF_MIN_TABLE_BYTES)
            rc = mf_bad(r, "table count");
        for (uint64_t i = 0; !rc && i < count; i++) {
            ver_table *t;
            rc = mf_decode_table(r, &t);
            if (!rc) {
                rc = ver_edit_add(&e, l, t);
                if (rc)
                    err_set(r->err, rc, "out of memory");
                ver_table_unref(t);
            }
        }
        if (rc)
            err_wrap(r->err, rc, "level %d", l);
    }
    if (!rc) {
        ver_edit_set_flushed_seqno(&e, m->flushed_seqno);
        rc = version_apply_code(base, &e, TIND_ECORRUPT, &m->v, r->err);
    }
    ver_edit_free(&e);
    version_unref(base);
    return rc;
}

static int mf_decode_keyspace(mf_reader *r, mf_keyspace *m)
{
    const uint8_t *name;
    size_t name_len;
    int rc = mf_get_u32(r, &m->id, "keyspace id");
    if (!rc)
        rc = mf_get_bytes(r, 1, MF_MAX_NAME, &name, &name_len, "keyspace name");
    if (rc)
        return rc;
    if (!mf_name_ok(name, name_len))
        return err_set(r->err, TIND_ECORRUPT, "keyspace %u: name is not UTF-8 without NUL", m->id);
    m->name = malloc(name_len + 1);
    if (!m->name)
        return err_set(r->err, TIND_ENOMEM, "out of memory");
    memcpy(m->name, name, name_len);
    m->name[name_len] = 0;
    m->name_len = name_len;
    rc = mf_decode_keyspace_body(r, m);
    if (rc)
        err_wrap(r->err, rc, "keyspace '%s' (id %u)", m->name, m->id);
    return rc;
}

int manifest_decode(const uint8_t *data, size_t len, mf_state *out, tind_err *err)
{
    memset(out, 0, sizeof *out);
    if (len < MANIFEST_HEADER_LEN + MANIFEST_TRAILER_LEN)
        return err_set(err, TIND_ECORRUPT, "version file: %zu bytes, less than the %d of an empty one (truncated)",
                       len, MANIFEST_HEADER_LEN + MANIFEST_TRAILER_LEN);
    if (memcmp(data, MANIFEST_MAGIC, MANIFEST_MAGIC_LEN) != 0)
        return err_set(err, TIND_ECORRUPT, "version file: bad magic (not a tind version file)");
    uint64_t payload = dec_u64(data + 16);
    if (payload != (uint64_t)(len - MANIFEST_HEADER_LEN - MANIFEST_TRAILER_LEN))
        return err_set(err, TIND_ECORRUPT,
                       "version file: header says %llu payload bytes, the file holds %zu (truncated or damaged)",
                       (unsigned long long)payload, len - MANIFEST_HEADER_LEN - MANIFEST_TRAILER_LEN);
    uint64_t want = dec_u64(data + len - MANIFEST_TRAILER_LEN);
    uint64_t got = hash64(data, len - MANIFEST_TRAILER_LEN);
    if (want != got)
        return err_set(err, TIND_ECORRUPT, "version file: checksum mismatch (stored %016llx, computed %016llx)",
                       (unsigned long long)want, (unsigned long long)got);
    uint32_t fv = dec_u32(data + 8);
    if (fv > MANIFEST_FORMAT_VERSION)
        return err_set(err, TIND_EVERSION,
                       "version file: format version %u is newer than this library's (%u): upgrade tind", fv,
                       MANIFEST_FORMAT_VERSION);
    if (fv == 0)
        return err_set(err, TIND_ECORRUPT, "version file: format version 0");
    if (dec_u32(data + 12) != 0)
        return err_set(err, TIND_ECORRUPT, "version file: reserved header field is %u, not 0", dec_u32(data + 12));

    mf_reader r = {data, data + MANIFEST_HEADER_LEN, data + len - MANIFEST_TRAILER_LEN, err, fv};
    mf_state st;
    memset(&st, 0, sizeof st);
    st.format_version = fv;
    uint64_t count = 0;
    int rc = mf_get(&r, &st.next_file_number, "next file number");
    if (!rc)
        rc = mf_get(&r, &st.last_seqno, "last seqno");
    if (!rc)
        rc = mf_get(&r, &st.oldest_journal, "oldest journal");
    if (!rc)
        rc = mf_get_u32(&r, &st.next_keyspace_id, "next keyspace id");
    if (!rc && fv >= 2)
        rc = mf_get_u64_fixed(&r, &st.db_id, "database id");
    if (!rc && fv >= 2)
        rc = mf_get(&r, &st.journal_seqno, "journal seqno");
    if (!rc && fv >= 2)
        rc = mf_get(&r, &st.next_seqno, "next seqno");
    if (!rc)
        rc = mf_get(&r, &count, "keyspace count");
    if (!rc && count > (uint64_t)(r.end - r.p) / MF_MIN_KEYSPACE_BYTES)
        rc = mf_bad(&r, "keyspace count");
    if (!rc && count) {
        st.keyspaces = calloc((size_t)count, sizeof *st.keyspaces);
        if (!st.keyspaces)
            rc = err_set(err, TIND_ENOMEM, "out of memory");
    }
    for (size_t k = 0; !rc && k < count; k++) {
        st.keyspace_count = k + 1;
        rc = mf_decode_keyspace(&r, &st.keyspaces[k]);
    }
    if (!rc && r.p != r.end)
        rc = err_set(err, TIND_ECORRUPT, "%zu bytes after the last keyspace",
                     (size_t)(r.end - r.p));
    if (!rc)
        rc = mf_validate(&st, TIND_ECORRUPT, err);
    if (rc) {
        err_wrap(err, rc, "version file");
        mf_state_free(&st);
        return rc;
    }
    *out = st;
    return TIND_OK;
}

/* ------------------------------------------------------------------ files */

int manifest_write(fs *fsys, const char *dir, const mf_state *st, tind_err *err)
{
    tbuf b = TBUF_INIT;
    int rc = manifest_encode(st, &b, err);
    if (rc == TIND_OK)
        rc = fs_write_atomic(fsys, dir, MANIFEST_FILE_NAME, b.data, b.len, err);
    tbuf_free(&b);
    return rc;
}

int manifest_read(fs *fsys, const char *dir, mf_state *out, tind_err *err)
{
    memset(out, 0, sizeof *out);
    size_t dl = strlen(dir);
    size_t nl = sizeof MANIFEST_FILE_NAME; /* with the NUL */
    char *path = malloc(dl + 1 + nl);
    if (!path)
        return err_set(err, TIND_ENOMEM, "version file: out of memory");
    memcpy(path, dir, dl);
    size_t o = dl;
    if (dl && dir[dl - 1] != '/')
        path[o++] = '/';
    memcpy(path + o, MANIFEST_FILE_NAME, nl);
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = fs_read_all(fsys, path, &data, &len, err);
    if (rc == TIND_OK) {
        rc = manifest_decode(data, len, out, err);
        if (rc)
            err_wrap(err, rc, "'%s'", path);
    }
    free(data);
    free(path);
    return rc;
}

void mf_state_free(mf_state *st)
{
    for (size_t k = 0; st->keyspaces && k < st->keyspace_count; k++) {
        free(st->keyspaces[k].name);
        free(st->keyspaces[k].options);
        version_unref(st->keyspaces[k].v);
    }
    free(st->keyspaces);
    memset(st, 0, sizeof *st);
}
