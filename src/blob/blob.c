/*
 * blob.c -- blob file writer, reader and checks (blob/blob.h; bytes in
 * docs/FORMAT.md "Blob files").
 *
 * The writer appends records to the "blobs" section as they come (one
 * sequential stream, buffered by an fs_writer), then the "blobmeta"
 * section and the container's ToC and trailer. The reader opens the
 * container once, keeps its sections' bounds and the metadata, and reads a
 * record with one pread of header + payload + checksum, which must match
 * the pointer in every field before the payload is believed.
 */
#include "blob/blob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/compress.h"
#include "format/container.h"
#include "util/coding.h"
#include "util/hash.h"

/* ------------------------------------------------------------------ pointers */

size_t blob_ptr_encode(const blob_ptr *p, uint8_t *buf)
{
    uint8_t *q = buf;
    q = enc_varint64(q, p->file);
    q = enc_varint64(q, p->offset);
    q = enc_varint64(q, p->size);
    q = enc_varint64(q, p->raw_size);
    return (size_t)(q - buf);
}

int blob_ptr_decode(const uint8_t *p, size_t n, blob_ptr *out)
{
    const uint8_t *end = p + n;
    if (!p)
        return TIND_ECORRUPT;
    if (!(p = dec_varint64(p, end, &out->file)) || !(p = dec_varint64(p, end, &out->offset)) ||
        !(p = dec_varint64(p, end, &out->size)) || !(p = dec_varint64(p, end, &out->raw_size)) || p != end)
        return TIND_ECORRUPT;
    if (out->size > UINT32_MAX || out->raw_size > UINT32_MAX)
        return TIND_ECORRUPT;
    return TIND_OK;
}

/* The checksum of a record: seeded with the file number, over its offset,
 * its header and its payload. */
uint64_t blob_record_sum(uint64_t number, uint64_t offset, const uint8_t *header, const uint8_t *payload,
                           size_t n)
{
    hash64_stream s;
    uint8_t off[8];
    enc_u64(off, offset);
    hash64_begin(&s);
    hash64_update(&s, off, 8);
    hash64_update(&s, header, BLOB_RECORD_HEADER);
    if (n)
        hash64_update(&s, payload, n);
    return hash64_end(&s) ^ (number * UINT64_C(0x9E3779B97F4A7C15));
}

/* ------------------------------------------------------------------ writer */

struct blob_writer {
    fs *fsys;
    char *path;
    fs_file *file;
    fs_writer out;
    ctr_writer ctr;
    int compression, level;
    blob_file_meta m;
    uint64_t section_start;
    tbuf scratch;
};

int blob_writer_open(fs *fsys, const char *path, uint64_t number, int compression, int level, blob_writer **out,
                     tind_err *err)
{
    *out = NULL;
    blob_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return err_set(err, TIND_ENOMEM, "blob file '%s': out of memory", path);
    }
    w->fsys = fsys;
    w->compression = compression;
    w->level = level;
    w->m.number = number;
    w->m.compression = (uint32_t)compression;
    w->m.created_unix = (uint64_t)time(NULL);
    int rc = fs_open(fsys, path, FS_O_WRITE | FS_O_CREATE | FS_O_EXCL, &w->file, err);
    if (rc) {
        free(w->path);
        free(w);
        return rc;
    }
    rc = fs_writer_init(&w->out, w->file, 0, 0);
    if (rc) {
        err_set(err, rc, "blob file '%s': out of memory", path);
        blob_writer_abandon(w);
        return rc;
    }
    ctr_writer_init(&w->ctr, &w->out, BLOB_FORMAT_VERSION);
    rc = ctr_section_begin(&w->ctr, BLOB_SECTION_RECORDS, err);
    if (rc) {
        blob_writer_abandon(w);
        return rc;
    }
    w->section_start = w->out.offset;
    *out = w;
    return TIND_OK;
}

int blob_writer_add(blob_writer *w, const uint8_t *val, size_t n, blob_ptr *p, tind_err *err)
{
    if (n > UINT32_MAX)
        return err_set(err, TIND_ETOOBIG, "blob file '%s': value of %zu bytes", w->path, n);
    const uint8_t *payload = val;
    size_t stored = n;
    int codec = COMPRESSION_NONE;
    if (w->compression != COMPRESSION_NONE && n > 0) {
        tbuf_reset(&w->scratch);
        int rc = compress_bytes(w->compression, w->level, val, n, &w->scratch);
        if (rc)
            return err_set(err, rc, "blob file '%s': compressing a value of %zu bytes", w->path, n);
        if (w->scratch.len < n) {
            payload = w->scratch.data;
            stored = w->scratch.len;
            codec = w->compression;
        }
    }
    return blob_writer_add_stored(w, codec, payload, stored, n, p, err);
}

int blob_writer_add_stored(blob_writer *w, int codec, const uint8_t *payload, size_t stored, size_t raw,
                           blob_ptr *p, tind_err *err)
{
    if (stored > UINT32_MAX || raw > UINT32_MAX)
        return err_set(err, TIND_ETOOBIG, "blob file '%s': value of %zu bytes", w->path, raw);
    uint8_t head[BLOB_RECORD_HEADER] = {0};
    enc_u32(head, (uint32_t)stored);
    enc_u32(head + 4, (uint32_t)raw);
    head[8] = (uint8_t)codec;
    uint64_t offset = w->out.offset;
    uint8_t sum[8];
    enc_u64(sum, blob_record_sum(w->m.number, offset, head, payload, stored));
    int rc = fs_writer_append(&w->out, head, sizeof head, err);
    if (!rc && stored)
        rc = fs_writer_append(&w->out, payload, stored, err);
    if (!rc)
        rc = fs_writer_append(&w->out, sum, sizeof sum, err);
    if (rc)
        return rc;
    p->file = w->m.number;
    p->offset = offset;
    p->size = stored;
    p->raw_size = raw;
    w->m.count++;
    w->m.bytes += stored + BLOB_RECORD_OVERHEAD;
    w->m.raw_bytes += raw;
    return TIND_OK;
}

uint64_t blob_writer_size(const blob_writer *w) { return w->out.offset; }
uint64_t blob_writer_count(const blob_writer *w) { return w->m.count; }

static int encode_meta(const blob_file_meta *m, tbuf *b)
{
    int rc = tbuf_append_varint(b, m->number);
    rc |= tbuf_append_varint(b, m->count);
    rc |= tbuf_append_varint(b, m->bytes);
    rc |= tbuf_append_varint(b, m->raw_bytes);
    rc |= tbuf_append_varint(b, m->created_unix);
    rc |= tbuf_append_varint(b, m->compression);
    if (!rc)
        rc = tbuf_append_u64(b, hash64(b->data, b->len));
    return rc ? TIND_ENOMEM : TIND_OK;
}

int blob_writer_finish(blob_writer *w, int sync_mode, blob_file_meta *meta, tind_err *err)
{
    tbuf mb = TBUF_INIT;
    int rc = ctr_section_end(&w->ctr, err);
    if (!rc)
        rc = ctr_section_begin(&w->ctr, BLOB_SECTION_META, err);
    if (!rc && encode_meta(&w->m, &mb))
        rc = err_set(err, TIND_ENOMEM, "blob file '%s': out of memory", w->path);
    if (!rc)
        rc = fs_writer_append(&w->out, mb.data, mb.len, err);
    if (!rc)
        rc = ctr_section_end(&w->ctr, err);
    if (!rc)
        rc = ctr_finish(&w->ctr, err);
    if (!rc)
        rc = sync_mode ? fs_writer_sync(&w->out, sync_mode, err) : fs_writer_flush(&w->out, err);
    tbuf_free(&mb);
    if (rc) {
        err_wrap(err, rc, "blob file '%s'", w->path);
        blob_writer_abandon(w);
        return rc;
    }
    w->m.file_size = w->out.offset;
    if (meta)
        *meta = w->m;
    rc = fs_close(w->file, err);
    w->file = NULL;
    fs_writer_free(&w->out);
    tbuf_free(&w->scratch);
    free(w->path);
    free(w);
    return rc;
}

void blob_writer_abandon(blob_writer *w)
{
    if (!w)
        return;
    if (w->file) {
        fs_close(w->file, NULL);
        fs_unlink(w->fsys, w->path, NULL);
    }
    fs_writer_free(&w->out);
    tbuf_free(&w->scratch);
    free(w->path);
    free(w);
}

/* ------------------------------------------------------------------ metadata */

static int decode_meta(const uint8_t *p, size_t n, uint64_t number, const char *path, blob_file_meta *m,
                       tind_err *err)
{
    if (n < 8 || dec_u64(p + n - 8) != hash64(p, n - 8))
        return err_set(err, TIND_ECORRUPT, "blob file '%s': metadata checksum mismatch", path);
    const uint8_t *end = p + n - 8;
    uint64_t codec;
    memset(m, 0, sizeof *m);
    if (!(p = dec_varint64(p, end, &m->number)) || !(p = dec_varint64(p, end, &m->count)) ||
        !(p = dec_varint64(p, end, &m->bytes)) || !(p = dec_varint64(p, end, &m->raw_bytes)) ||
        !(p = dec_varint64(p, end, &m->created_unix)) || !(p = dec_varint64(p, end, &codec)) || p != end ||
        codec > COMPRESSION_ZSTD)
        return err_set(err, TIND_ECORRUPT, "blob file '%s': malformed metadata", path);
    m->compression = (uint32_t)codec;
    if (number && m->number != number)
        return err_set(err, TIND_ECORRUPT, "blob file '%s': it is blob file %llu, not %llu", path,
                       (unsigned long long)m->number, (unsigned long long)number);
    return TIND_OK;
}

/* ------------------------------------------------------------------ reader */

struct blob_reader {
    fs *fsys;
    char *path;
    fd_cache *fds;
    cache *value_cache;         /* the blob cache; NULL = values not cached */
    uint64_t cache_id;
    fs_file *own;                 /* when there is no fd cache */
    uint64_t records_off, records_len;
    blob_file_meta m;
    _Atomic uint64_t disk_reads;
};

typedef struct cached_value {
    size_t len;
    uint8_t data[];
} cached_value;

static void cached_value_free(void *v, void *ctx)
{
    (void)ctx;
    free(v);
}

static int reader_file(blob_reader *r, fs_file **f, fdc_handle **h, tind_err *err)
{
    *h = NULL;
    if (!r->fds) {
        *f = r->own;
        return TIND_OK;
    }
    int rc = fdc_get(r->fds, r->m.number, r->path, h, err);
    if (rc)
        return rc;
    *f = fdc_file(*h);
    return TIND_OK;
}

int blob_reader_open(fs *fsys, const char *path, uint64_t number, fd_cache *fds, cache *value_cache,
                     blob_reader **out, tind_err *err)
{
    *out = NULL;
    blob_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return err_set(err, TIND_ENOMEM, "blob file '%s': out of memory", path);
    }
    r->fsys = fsys;
    r->fds = fds;
    r->value_cache = value_cache;
    r->m.number = number;
    int rc = TIND_OK;
    fs_file *f = NULL;
    fdc_handle *h = NULL;
    if (!fds)
        rc = fs_open(fsys, path, FS_O_READ, &r->own, err);
    if (!rc)
        rc = reader_file(r, &f, &h, err);
    uint64_t size = 0;
    ctr_toc *toc = NULL;
    uint8_t *mb = NULL;
    if (!rc)
        rc = fs_size(f, &size, err);
    if (!rc && !(toc = malloc(sizeof *toc)))
        rc = err_set(err, TIND_ENOMEM, "out of memory");
    if (!rc)
        rc = ctr_read_toc(f, size, BLOB_FORMAT_VERSION, toc, path, err);
    const ctr_section *rs = rc ? NULL : ctr_find(toc, BLOB_SECTION_RECORDS);
    const ctr_section *ms = rc ? NULL : ctr_find(toc, BLOB_SECTION_META);
    if (!rc && (!rs || !ms || ms->length > (1u << 16)))
        rc = err_set(err, TIND_ECORRUPT, "blob file '%s': not a blob file (sections '%s' and '%s' missing)",
                     path, BLOB_SECTION_RECORDS, BLOB_SECTION_META);
    if (!rc && !(mb = malloc(ms->length ? ms->length : 1)))
        rc = err_set(err, TIND_ENOMEM, "out of memory");
    if (!rc)
        rc = fs_read_exact(f, mb, (size_t)ms->length, ms->offset, err);
    if (!rc)
        rc = decode_meta(mb, (size_t)ms->length, number, path, &r->m, err);
    if (!rc) {
        r->records_off = rs->offset;
        r->records_len = rs->length;
        r->m.file_size = size;
        if (r->m.bytes != rs->length)
            rc = err_set(err, TIND_ECORRUPT, "blob file '%s': metadata says %llu record bytes, the section holds %llu",
                         path, (unsigned long long)r->m.bytes, (unsigned long long)rs->length);
    }
    if (h)
        fdc_release(fds, h);
    free(mb);
    free(toc);
    if (rc) {
        blob_reader_free(r);
        return rc;
    }
    if (value_cache)
        r->cache_id = cache_new_id(value_cache);
    *out = r;
    return TIND_OK;
}

void blob_reader_free(blob_reader *r)
{
    if (!r)
        return;
    if (r->own)
        fs_close(r->own, NULL);
    if (r->value_cache && r->cache_id)
        cache_erase_id(r->value_cache, r->cache_id);
    free(r->path);
    free(r);
}

const blob_file_meta *blob_reader_meta(const blob_reader *r) { return &r->m; }
uint64_t blob_reader_disk_reads(const blob_reader *r) { return atomic_load_explicit(&r->disk_reads, memory_order_relaxed); }

/* Checks the record at buf (header + payload + checksum, as read from
 * p->offset) against the pointer: sizes, checksum, a codec that can give
 * the raw size from the stored bytes. */
static int check_record(const char *path, uint64_t number, const blob_ptr *p, const uint8_t *buf, tind_err *err)
{
    uint32_t stored = dec_u32(buf), raw = dec_u32(buf + 4);
    uint8_t codec = buf[8];
    const uint8_t *payload = buf + BLOB_RECORD_HEADER;
    if (stored != p->size || raw != p->raw_size)
        return err_set(err, TIND_ECORRUPT,
                       "blob file '%s': record at offset %llu: sizes %u/%u, the pointer says %llu/%llu", path,
                       (unsigned long long)p->offset, stored, raw, (unsigned long long)p->size,
                       (unsigned long long)p->raw_size);
    if (dec_u64(payload + stored) != blob_record_sum(number, p->offset, buf, payload, stored))
        return err_set(err, TIND_ECORRUPT, "blob file '%s': record at offset %llu: checksum mismatch", path,
                       (unsigned long long)p->offset);
    if (codec > COMPRESSION_ZSTD || !decompress_size_plausible(codec, payload, stored, raw))
        return err_set(err, TIND_ECORRUPT, "blob file '%s': record at offset %llu: codec %u cannot give %u bytes from %u",
                       path, (unsigned long long)p->offset, codec, raw, stored);
    return TIND_OK;
}

/* Checks the record at buf and decodes it into out. */
static int decode_record(const char *path, uint64_t number, const blob_ptr *p, const uint8_t *buf, tbuf *out,
                         tind_err *err)
{
    int rc = check_record(path, number, p, buf, err);
    if (rc)
        return rc;
    uint32_t stored = dec_u32(buf), raw = dec_u32(buf + 4);
    uint8_t codec = buf[8];
    const uint8_t *payload = buf + BLOB_RECORD_HEADER;
    tbuf_reset(out);
    if (tbuf_reserve(out, raw ? raw : 1))
        return err_set(err, TIND_ENOMEM, "out of memory for a value of %u bytes", raw);
    if (codec == COMPRESSION_NONE) {
        if (raw)
            memcpy(out->data, payload, raw);
    } else {
        rc = decompress_bytes(codec, payload, stored, out->data, raw, err);
        if (rc)
            return err_wrap(err, rc, "blob file '%s': record at offset %llu", path, (unsigned long long)p->offset);
    }
    out->len = raw;
    return TIND_OK;
}

/* Reads the record p points to (header + payload + checksum) into buf. */
static int read_record(blob_reader *r, const blob_ptr *p, uint8_t *buf, tind_err *err)
{
    fs_file *f;
    fdc_handle *h;
    int rc = reader_file(r, &f, &h, err);
    if (!rc) {
        rc = fs_read_exact(f, buf, (size_t)p->size + BLOB_RECORD_OVERHEAD, p->offset, err);
        if (h)
            fdc_release(r->fds, h);
        atomic_fetch_add_explicit(&r->disk_reads, 1, memory_order_relaxed);
    }
    return rc;
}

static int check_pointer(const blob_reader *r, const blob_ptr *p, tind_err *err)
{
    if (p->file != r->m.number || p->offset < r->records_off || p->offset - r->records_off > r->records_len ||
        p->size + BLOB_RECORD_OVERHEAD > r->records_len - (p->offset - r->records_off))
        return err_set(err, TIND_ECORRUPT, "blob file '%s': pointer to offset %llu (%llu bytes) is outside its records",
                       r->path, (unsigned long long)p->offset, (unsigned long long)p->size);
    return TIND_OK;
}

int blob_read_stored(blob_reader *r, const blob_ptr *p, tbuf *rec, const uint8_t **payload, int *codec,
                     tind_err *err)
{
    int rc = check_pointer(r, p, err);
    if (rc)
        return rc;
    size_t n = (size_t)p->size + BLOB_RECORD_OVERHEAD;
    tbuf_reset(rec);
    if (tbuf_reserve(rec, n))
        return err_set(err, TIND_ENOMEM, "out of memory for a blob of %zu bytes", n);
    rc = read_record(r, p, rec->data, err);
    if (!rc)
        rc = check_record(r->path, r->m.number, p, rec->data, err);
    if (rc)
        return rc;
    rec->len = n;
    *codec = rec->data[8];
    *payload = rec->data + BLOB_RECORD_HEADER;
    return TIND_OK;
}

int blob_read(blob_reader *r, const blob_ptr *p, int fill_cache, tbuf *out, tind_err *err)
{
    int rc = check_pointer(r, p, err);
    if (rc)
        return rc;
    if (r->value_cache) {
        cache_handle *h = cache_lookup(r->value_cache, r->cache_id, p->offset);
        const cached_value *cv = h ? cache_value(h) : NULL;
        if (cv && cv->len != p->raw_size) {
            /* the record there is not what the pointer says: read and fail */
            cache_release(r->value_cache, h);
            h = NULL;
        }
        if (h) {
            int rc = tbuf_set(out, cv->data, cv->len) ? err_set(err, TIND_ENOMEM, "out of memory") : TIND_OK;
            cache_release(r->value_cache, h);
            return rc;
        }
    }
    size_t n = (size_t)p->size + BLOB_RECORD_OVERHEAD;
    uint8_t *buf = malloc(n);
    if (!buf)
        return err_set(err, TIND_ENOMEM, "out of memory for a blob of %zu bytes", n);
    rc = read_record(r, p, buf, err);
    if (!rc)
        rc = decode_record(r->path, r->m.number, p, buf, out, err);
    free(buf);
    if (!rc && r->value_cache && fill_cache) {
        cached_value *cv = malloc(sizeof *cv + (out->len ? out->len : 1));
        if (cv) {
            cv->len = out->len;
            memcpy(cv->data, out->data, out->len);
            /* charged as a table block: + 64 for the cache's entry */
            cache_handle *ch = cache_insert(r->value_cache, r->cache_id, p->offset, cv, sizeof *cv + cv->len + 64,
                                            cached_value_free, NULL);
            if (ch)
                cache_release(r->value_cache, ch);
        }
    }
    return rc;
}

/* ------------------------------------------------------------------ walking */

/* Walks the records of one file given a way to read bytes. */
typedef int (*read_fn)(void *src, uint8_t *buf, size_t n, uint64_t off, tind_err *err);

static int walk_records(read_fn rd, void *src, const char *path, const blob_file_meta *m, uint64_t off,
                        uint64_t len, blob_walk_fn fn, void *ctx, tind_err *err)
{
    uint64_t end = off + len, count = 0, raw_bytes = 0;
    uint8_t head[BLOB_RECORD_HEADER] = {0};
    uint8_t *buf = NULL;
    tbuf val = TBUF_INIT;
    int rc = TIND_OK;
    while (!rc && off < end) {
        if (end - off < BLOB_RECORD_OVERHEAD) {
            rc = err_set(err, TIND_ECORRUPT, "blob file '%s': record at offset %llu: truncated", path,
                         (unsigned long long)off);
            break;
        }
        rc = rd(src, head, sizeof head, off, err);
        if (rc)
            break;
        blob_ptr p = {m->number, off, dec_u32(head), dec_u32(head + 4)};
        if (p.size > end - off - BLOB_RECORD_OVERHEAD) {
            rc = err_set(err, TIND_ECORRUPT, "blob file '%s': record at offset %llu: size %llu past the section",
                         path, (unsigned long long)off, (unsigned long long)p.size);
            break;
        }
        uint8_t *nb = realloc(buf, (size_t)p.size + BLOB_RECORD_OVERHEAD);
        if (!nb) {
            rc = err_set(err, TIND_ENOMEM, "out of memory");
            break;
        }
        buf = nb;
        rc = rd(src, buf, (size_t)p.size + BLOB_RECORD_OVERHEAD, off, err);
        if (!rc)
            rc = decode_record(path, m->number, &p, buf, &val, err);
        if (!rc && fn)
            rc = fn(ctx, &p, val.data);
        count++;
        raw_bytes += p.raw_size;
        off += p.size + BLOB_RECORD_OVERHEAD;
    }
    if (!rc && (count != m->count || raw_bytes != m->raw_bytes))
        rc = err_set(err, TIND_ECORRUPT, "blob file '%s': %llu records of %llu bytes, the metadata says %llu of %llu",
                     path, (unsigned long long)count, (unsigned long long)raw_bytes, (unsigned long long)m->count,
                     (unsigned long long)m->raw_bytes);
    free(buf);
    tbuf_free(&val);
    return rc;
}

typedef struct file_src {
    blob_reader *r;
} file_src;

static int read_file(void *src, uint8_t *buf, size_t n, uint64_t off, tind_err *err)
{
    blob_reader *r = ((file_src *)src)->r;
    fs_file *f;
    fdc_handle *h;
    int rc = reader_file(r, &f, &h, err);
    if (rc)
        return rc;
    rc = fs_read_exact(f, buf, n, off, err);
    if (h)
        fdc_release(r->fds, h);
    return rc;
}

int blob_walk(blob_reader *r, blob_walk_fn fn, void *ctx, tind_err *err)
{
    file_src s = {r};
    return walk_records(read_file, &s, r->path, &r->m, r->records_off, r->records_len, fn, ctx, err);
}

typedef struct mem_src {
    const uint8_t *data;
    size_t size;
} mem_src;

static int read_mem(void *src, uint8_t *buf, size_t n, uint64_t off, tind_err *err)
{
    mem_src *m = src;
    if (off > m->size || n > m->size - off)
        return err_set(err, TIND_ECORRUPT, "blob bytes: read past the end");
    memcpy(buf, m->data + off, n);
    return TIND_OK;
}

int blob_check_bytes(const uint8_t *file, size_t size, uint64_t number, tind_err *err)
{
    ctr_toc *toc = malloc(sizeof *toc);
    if (!toc)
        return err_set(err, TIND_ENOMEM, "out of memory");
    int rc = ctr_parse_toc(file, size, BLOB_FORMAT_VERSION, toc, "blob file", err);
    const ctr_section *rs = rc ? NULL : ctr_find(toc, BLOB_SECTION_RECORDS);
    const ctr_section *ms = rc ? NULL : ctr_find(toc, BLOB_SECTION_META);
    blob_file_meta m;
    if (!rc && (!rs || !ms || ms->offset > size || ms->length > size - ms->offset || rs->offset > size ||
                rs->length > size - rs->offset))
        rc = err_set(err, TIND_ECORRUPT, "blob file: sections missing or out of bounds");
    if (!rc)
        rc = decode_meta(file + ms->offset, (size_t)ms->length, number, "blob file", &m, err);
    if (!rc) {
        mem_src s = {file, size};
        rc = walk_records(read_mem, &s, "blob file", &m, rs->offset, rs->length, NULL, NULL, err);
    }
    free(toc);
    return rc;
}
