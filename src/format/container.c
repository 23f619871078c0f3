/*
 * container.c -- the sectioned file container (writer and reader).
 *
 * File layout (FROZEN; docs/FORMAT.md "Table container"):
 *   section bytes ... | TOC | trailer (56 bytes)
 * TOC: u32 count, then per section: u8 name_len (1..255), name bytes (no NUL),
 *      u64 offset, u64 length. All integers little-endian.
 * Trailer (the same layout for every format version):
 *    0 u64 toc_offset       8 u64 toc_length
 *   16 u64 toc xxh3-128 low 24 u64 toc xxh3-128 high
 *   32 u32 format_version   36 u32 reserved (0)
 *   40 u64 xxh3-64 of trailer bytes [0, 40)
 *   48 u64 magic "TINDTBL\x01"
 *
 * Reader invariants (anything else is TIND_ECORRUPT, never a crash):
 *   1. file_size >= 56, the magic matches, the trailer checksum matches;
 *   2. then format_version <= max_version (else TIND_EVERSION) and reserved == 0;
 *   3. the TOC ends exactly where the trailer begins: toc_offset + toc_length
 *      == file_size - 56, and its xxh3-128 matches;
 *   4. the TOC decodes to exactly toc_length bytes, count <= CTR_MAX_SECTIONS,
 *      names non-empty, NUL-free and unique;
 *   5. every section lies in [0, toc_offset), and sections are in increasing
 *      file order without overlap (gaps between them are allowed).
 * The trailer is checked before the version so that a flipped version byte
 * reads as corruption, not as a file from the future.
 *
 * Thread-safety: a writer belongs to one thread; a ctr_toc is immutable once
 * read and can be shared; parsing is pure.
 */
#include "format/container.h"

#include <stdlib.h>
#include <string.h>

#include "util/coding.h"
#include "util/hash.h"

/* The largest TOC a valid file can have. */
#define CTR_TOC_MAX (4u + CTR_MAX_SECTIONS * (1u + CTR_NAME_MAX + 16u))
#define CTR_TRAILER_SUMMED 40   /* trailer bytes covered by the trailer checksum */

static const char *ctr_what(const char *what) { return what ? what : "container"; }

/* ------------------------------------------------------------------ writer */

void ctr_writer_init(ctr_writer *w, fs_writer *out, uint32_t version)
{
    w->out = out;
    w->toc.version = version;
    w->toc.count = 0;
    w->open_section = -1;
}

int ctr_section_begin(ctr_writer *w, const char *name, tind_err *err)
{
    if (w->open_section >= 0)
        return err_set(err, TIND_EINVAL, "container: section '%s' begun while '%s' is open", name,
                       w->toc.sections[w->open_section].name);
    size_t n = strlen(name);
    if (n == 0 || n > CTR_NAME_MAX)
        return err_set(err, TIND_EINVAL, "container: section name of %zu bytes (1..%d)", n,
                       CTR_NAME_MAX);
    if (w->toc.count >= CTR_MAX_SECTIONS)
        return err_set(err, TIND_EINVAL, "container: more than %d sections", CTR_MAX_SECTIONS);
    if (ctr_find(&w->toc, name))
        return err_set(err, TIND_EINVAL, "container: section '%s' written twice", name);
    ctr_section *s = &w->toc.sections[w->toc.count];
    memcpy(s->name, name, n + 1);
    s->offset = w->out->offset;
    s->length = 0;
    w->open_section = (int)w->toc.count++;
    return TIND_OK;
}

int ctr_section_end(ctr_writer *w, tind_err *err)
{
    if (w->open_section < 0)
        return err_set(err, TIND_EINVAL, "container: section end without a section begun");
    ctr_section *s = &w->toc.sections[w->open_section];
    s->length = w->out->offset - s->offset;
    w->open_section = -1;
    return TIND_OK;
}

int ctr_finish(ctr_writer *w, tind_err *err)
{
    if (w->open_section >= 0)
        return err_set(err, TIND_EINVAL, "container: finish while section '%s' is open",
                       w->toc.sections[w->open_section].name);
    uint8_t *toc = malloc(CTR_TOC_MAX);
    if (!toc)
        return err_set(err, TIND_ENOMEM, "container: out of memory for the table of contents");
    uint8_t *p = toc;
    enc_u32(p, w->toc.count);
    p += 4;
    for (uint32_t i = 0; i < w->toc.count; i++) {
        const ctr_section *s = &w->toc.sections[i];
        size_t n = strlen(s->name);
        *p++ = (uint8_t)n;
        memcpy(p, s->name, n);
        p += n;
        enc_u64(p, s->offset);
        enc_u64(p + 8, s->length);
        p += 16;
    }
    size_t toc_len = (size_t)(p - toc);
    uint64_t toc_offset = w->out->offset;
    hash128 sum = hash128_of(toc, toc_len);

    uint8_t trailer[CTR_TRAILER_SIZE];
    enc_u64(trailer + 0, toc_offset);
    enc_u64(trailer + 8, toc_len);
    enc_u64(trailer + 16, sum.low);
    enc_u64(trailer + 24, sum.high);
    enc_u32(trailer + 32, w->toc.version);
    enc_u32(trailer + 36, 0);
    enc_u64(trailer + 40, hash64(trailer, CTR_TRAILER_SUMMED));
    enc_u64(trailer + 48, CTR_MAGIC);

    int rc = fs_writer_append(w->out, toc, toc_len, err);
    free(toc);
    if (rc == TIND_OK)
        rc = fs_writer_append(w->out, trailer, sizeof trailer, err);
    return rc;
}

/* ------------------------------------------------------------------ reader */

typedef struct ctr_trailer {
    uint64_t toc_offset;
    uint64_t toc_length;
    hash128 toc_sum;
    uint32_t version;
} ctr_trailer;

/* Checks the 56 trailer bytes of a file of file_size bytes (invariants 1-3
 * minus the TOC checksum). */
static int ctr_parse_trailer(const uint8_t *t, uint64_t file_size, uint32_t max_version,
                             ctr_trailer *out, const char *what, tind_err *err)
{
    if (dec_u64(t + 48) != CTR_MAGIC)
        return err_set(err, TIND_ECORRUPT, "%s: bad magic at offset %llu (not a tind table)",
                       what, (unsigned long long)(file_size - CTR_TRAILER_SIZE + 48));
    if (dec_u64(t + 40) != hash64(t, CTR_TRAILER_SUMMED))
        return err_set(err, TIND_ECORRUPT, "%s: trailer at offset %llu: checksum mismatch", what,
                       (unsigned long long)(file_size - CTR_TRAILER_SIZE));
    out->toc_offset = dec_u64(t + 0);
    out->toc_length = dec_u64(t + 8);
    out->toc_sum.low = dec_u64(t + 16);
    out->toc_sum.high = dec_u64(t + 24);
    out->version = dec_u32(t + 32);
    if (out->version > max_version)
        return err_set(err, TIND_EVERSION,
                       "%s: format version %u is newer than this library supports (%u)", what,
                       (unsigned)out->version, (unsigned)max_version);
    if (dec_u32(t + 36) != 0)
        return err_set(err, TIND_ECORRUPT, "%s: trailer: reserved field is %u, not 0", what,
                       (unsigned)dec_u32(t + 36));
    uint64_t toc_end = file_size - CTR_TRAILER_SIZE;
    if (out->toc_length < 4 || out->toc_length > CTR_TOC_MAX || out->toc_offset > toc_end ||
        out->toc_length != toc_end - out->toc_offset)
        return err_set(err, TIND_ECORRUPT,
                       "%s: table of contents [%llu, +%llu) does not end at the trailer (offset %llu)",
                       what, (unsigned long long)out->toc_offset,
                       (unsigned long long)out->toc_length, (unsigned long long)toc_end);
    return TIND_OK;
}

/* Checks and decodes the TOC bytes (invariants 3-5). */
static int ctr_parse_body(const uint8_t *p, size_t len, const ctr_trailer *tr, ctr_toc *toc,
                          const char *what, tind_err *err)
{
    hash128 sum = hash128_of(p, len);
    if (sum.low != tr->toc_sum.low || sum.high != tr->toc_sum.high)
        return err_set(err, TIND_ECORRUPT, "%s: table of contents at offset %llu: checksum mismatch",
                       what, (unsigned long long)tr->toc_offset);
    const uint8_t *end = p + len;
    uint32_t count = dec_u32(p);      /* len >= 4 was checked with the trailer */
    p += 4;
    if (count > CTR_MAX_SECTIONS)
        return err_set(err, TIND_ECORRUPT, "%s: table of contents lists %u sections (at most %d)",
                       what, (unsigned)count, CTR_MAX_SECTIONS);
    uint64_t prev_end = 0;
    for (uint32_t i = 0; i < count; i++) {
        ctr_section *s = &toc->sections[i];
        if (p >= end)
            return err_set(err, TIND_ECORRUPT, "%s: table of contents: section %u truncated", what,
                           (unsigned)i);
        size_t n = *p++;
        if (n == 0 || n + 16 > (size_t)(end - p))
            return err_set(err, TIND_ECORRUPT,
                           "%s: table of contents: section %u: name of %zu bytes %s", what,
                           (unsigned)i, n, n == 0 ? "is empty" : "runs past the end");
        if (memchr(p, 0, n))
            return err_set(err, TIND_ECORRUPT, "%s: table of contents: section %u: NUL in name",
                           what, (unsigned)i);
        memcpy(s->name, p, n);
        s->name[n] = '\0';
        p += n;
        s->offset = dec_u64(p);
        s->length = dec_u64(p + 8);
        p += 16;
        if (s->offset < prev_end || s->offset > tr->toc_offset ||
            s->length > tr->toc_offset - s->offset)
            return err_set(err, TIND_ECORRUPT,
                           "%s: section '%s' [%llu, +%llu) is out of order or outside [%llu, %llu)",
                           what, s->name, (unsigned long long)s->offset,
                           (unsigned long long)s->length, (unsigned long long)prev_end,
                           (unsigned long long)tr->toc_offset);
        prev_end = s->offset + s->length;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(toc->sections[j].name, s->name) == 0)
                return err_set(err, TIND_ECORRUPT, "%s: section '%s' listed twice", what, s->name);
    }
    if (p != end)
        return err_set(err, TIND_ECORRUPT, "%s: table of contents: %zu stray bytes after %u sections",
                       what, (size_t)(end - p), (unsigned)count);
    toc->count = count;
    toc->version = tr->version;
    return TIND_OK;
}

int ctr_parse_toc(const uint8_t *file, size_t size, uint32_t max_version, ctr_toc *toc,
                  const char *what, tind_err *err)
{
    what = ctr_what(what);
    toc->count = 0;
    toc->version = 0;
    if (size < CTR_TRAILER_SIZE)
        return err_set(err, TIND_ECORRUPT, "%s: %zu bytes, too small for the %d-byte trailer",
                       what, size, CTR_TRAILER_SIZE);
    ctr_trailer tr;
    int rc = ctr_parse_trailer(file + size - CTR_TRAILER_SIZE, size, max_version, &tr, what, err);
    if (rc != TIND_OK)
        return rc;
    rc = ctr_parse_body(file + tr.toc_offset, (size_t)tr.toc_length, &tr, toc, what, err);
    if (rc != TIND_OK)
        toc->count = 0;
    return rc;
}

int ctr_read_toc(fs_file *f, uint64_t file_size, uint32_t max_version, ctr_toc *toc,
                 const char *what, tind_err *err)
{
    what = ctr_what(what);
    toc->count = 0;
    toc->version = 0;
    if (file_size < CTR_TRAILER_SIZE)
        return err_set(err, TIND_ECORRUPT, "%s: %llu bytes, too small for the %d-byte trailer",
                       what, (unsigned long long)file_size, CTR_TRAILER_SIZE);
    uint8_t t[CTR_TRAILER_SIZE];
    int rc = fs_read_exact(f, t, sizeof t, file_size - CTR_TRAILER_SIZE, err);
    if (rc != TIND_OK) {
        err_wrap(err, rc, "%s: reading the trailer", what);
        return rc;
    }
    ctr_trailer tr;
    rc = ctr_parse_trailer(t, file_size, max_version, &tr, what, err);
    if (rc != TIND_OK)
        return rc;
    uint8_t *body = malloc((size_t)tr.toc_length);
    if (!body)
        return err_set(err, TIND_ENOMEM, "%s: out of memory for the table of contents", what);
    rc = fs_read_exact(f, body, (size_t)tr.toc_length, tr.toc_offset, err);
    if (rc != TIND_OK)
        err_wrap(err, rc, "%s: reading the table of contents", what);
    else
        rc = ctr_parse_body(body, (size_t)tr.toc_length, &tr, toc, what, err);
    free(body);
    if (rc != TIND_OK)
        toc->count = 0;
    return rc;
}

const ctr_section *ctr_find(const ctr_toc *toc, const char *name)
{
    for (uint32_t i = 0; i < toc->count && i < CTR_MAX_SECTIONS; i++)
        if (strcmp(toc->sections[i].name, name) == 0)
            return &toc->sections[i];
    return NULL;
}
