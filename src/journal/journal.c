/*
 * journal.c -- the journal writer and the replay decoder (format and rules
 * in journal.h; byte-exact in docs/FORMAT.md).
 *
 * Writer invariants
 *   - written is where the records end: the 36-byte header plus every
 *     record whose fs_write succeeded; size adds the pending records
 *     (jrn_add), which jrn_write writes at offset written in ONE fs_write (a
 *     group of records), never elsewhere, so the file is always header +
 *     whole records + (after a failed write or a crash) a torn tail of the
 *     last group + (with preallocation) zeros up to alloc_end.
 *   - Preallocation (jrn_options.preallocate): before a write that would
 *     pass alloc_end the file is extended with zeros a step ahead
 *     (fs_allocate FS_ALLOC_EXTEND: no bytes written), so that the syncs
 *     of the records inside need no size change (ext4, this machine: an
 *     append + fdatasync 180 us growing the file, 126 us inside extended
 *     space). Best effort: when the file system cannot, or the extension
 *     fails, the writer stops preallocating and the write extends the file
 *     as before. A zero tail replays as a torn tail (no marker), so only the
 *     newest journal may keep one: jrn_trim cuts it (sealing, closing), and
 *     until a FS_SYNC_ALL covers the cut the writer does not count as
 *     synced (jrn_synced), so no later journal's record claims this one
 *     durable (prior-synced) while a power loss could bring the zeros back.
 *   - Once a write or sync fails, `failed` holds that status and the writer
 *     refuses everything but jrn_close: after a failed fsync the kernel may
 *     already have dropped the dirty pages, so retrying could report success
 *     for data that is gone.
 *   - The file header is synced before jrn_writer_open returns, so a journal
 *     holding records always has a durable header: a damaged header in a file
 *     longer than the header is corruption, not a crash artefact.
 *   - synced_size <= size; a record gets the synced-before flag exactly when
 *     synced_size == size as it is built, i.e. when a sync that succeeded
 *     covered every byte before it. Replay trusts the flag as proof that
 *     damage before such a record is not a torn write.
 *
 * Replay is one pass over the file held in memory: verify, decompress, hand
 * to the callback, advance. The first record that does not verify ends the
 * pass; whether it is a torn tail or corruption is decided by scanning the
 * rest of the file for a record that verifies and witnesses that the damaged
 * bytes had been synced (see jrn_scan_witness).
 *
 * Thread-safety: a writer belongs to one thread at a time; replay shares
 * nothing.
 */
#include "journal/journal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/compress.h"
#include "format/filename.h"
#include "util/buf.h"
#include "util/coding.h"
#include "util/hash.h"

/* A reusable record buffer that grew past this is released after the write,
 * so one huge batch does not pin its size for the life of the journal. */
#define JRN_BUF_KEEP (1u << 20)

/* An LZ4 block decodes to at most ~255 times its size; a record claiming a
 * larger raw length is corrupt (and must not make replay allocate it). */
#define JRN_LZ4_MAX_RATIO 255u

/* Offsets inside the file header and the record header (FROZEN). */
enum {
    JRN_FH_VERSION = 8,
    JRN_FH_NUMBER = 12,
    JRN_FH_START_SEQNO = 20,
    JRN_FH_CHECKSUM = 28,

    JRN_RH_MARKER = 0,
    JRN_RH_STORED_LEN = 4,
    JRN_RH_FLAGS = 8,
    JRN_RH_RAW_LEN = 9,
    JRN_RH_FIRST_SEQNO = 13,
    JRN_RH_COUNT = 21,
    JRN_RH_CHECKSUM = 25,
};

_Static_assert(JRN_RH_CHECKSUM + 8 == JRN_RECORD_HEADER_SIZE, "record header layout");
_Static_assert(JRN_FH_CHECKSUM + 8 == JRN_FILE_HEADER_SIZE, "file header layout");

struct jrn_writer {
    fs *fsys;
    fs_file *file;
    char *path;
    uint64_t number;
    uint64_t size;            /* file length: header + whole records (pending ones included) */
    uint64_t written;         /* records in the file: size minus the pending records */
    uint64_t prealloc_step;   /* bytes a preallocation adds; 0 = none (off, or failed) */
    uint64_t alloc_end;       /* the file's length: written, or more when preallocated */
    int cut_pending;          /* jrn_trim cut the file since the last FS_SYNC_ALL */
    uint64_t synced_size;     /* size at the last successful sync */
    int synced_mode;          /* FS_SYNC_DATA or FS_SYNC_ALL: strength of that sync */
    uint64_t start_seqno;     /* the header's: a mark's seqno before any record */
    uint64_t last_seqno;      /* last seqno appended (valid when has_last) */
    int has_last;
    uint32_t compress_threshold;
    int failed;               /* status of the first failed write/sync; 0 = healthy */
    int prior_synced;         /* records built now carry JRN_FLAG_PRIOR_SYNCED */
    tbuf buf;                 /* the pending records (jrn_add), written by jrn_write */
    uint64_t mark_size;       /* size / last_seqno / has_last at jrn_mark (UINT64_MAX: no mark) */
    uint64_t mark_last;
    int mark_has_last;
};

/* ------------------------------------------------------------------ encoding */

static uint64_t jrn_record_checksum(const uint8_t *header, const uint8_t *payload, size_t stored_len)
{
    hash64_stream s;
    hash64_begin(&s);
    hash64_update(&s, header, JRN_RH_CHECKSUM);
    if (stored_len)
        hash64_update(&s, payload, stored_len);
    return hash64_end(&s);
}

static void jrn_encode_file_header(uint8_t *h, uint64_t number, uint64_t start_seqno)
{
    memcpy(h, JRN_FILE_MAGIC, JRN_FILE_MAGIC_LEN);
    enc_u32(h + JRN_FH_VERSION, JRN_FORMAT_VERSION);
    enc_u64(h + JRN_FH_NUMBER, number);
    enc_u64(h + JRN_FH_START_SEQNO, start_seqno);
    enc_u64(h + JRN_FH_CHECKSUM, hash64(h, JRN_FH_CHECKSUM));
}

/* ------------------------------------------------------------------ names */

int jrn_path(const char *dir, uint64_t number, char *buf, size_t bufsize)
{
    return fname_journal(dir, number, buf, bufsize);
}

int jrn_parse_name(const char *name, uint64_t *number)
{
    return fname_parse(name, number) == FNAME_KIND_JOURNAL;
}

static int jrn_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int jrn_list(fs *fsys, const char *dir, uint64_t **numbers, size_t *count, tind_err *err)
{
    *numbers = NULL;
    *count = 0;
    char **names = NULL;
    size_t n = 0;
    int rc = fs_list(fsys, dir, &names, &n, err);
    if (rc) {
        err_wrap(err, rc, "journal folder '%s'", dir);
        return rc;
    }
    uint64_t *out = n ? malloc(n * sizeof *out) : NULL;
    if (n && !out) {
        fs_list_free(names, n);
        return err_set(err, TIND_ENOMEM, "journal folder '%s': out of memory listing %zu names", dir, n);
    }
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        if (jrn_parse_name(names[i], &v))
            out[found++] = v;
    }
    fs_list_free(names, n);
    if (!found) {
        free(out);
        return TIND_OK;
    }
    qsort(out, found, sizeof *out, jrn_cmp_u64);
    *numbers = out;
    *count = found;
    return TIND_OK;
}

/* ------------------------------------------------------------------ writer */

/* A writer whose creation failed after its file was made: the half-made
 * file goes (best effort; a leftover replays as empty) and w is freed. */
static void jrn_discard(jrn_writer *w)
{
    fs_close(w->file, NULL);
    fs_unlink(w->fsys, w->path, NULL);
    tbuf_free(&w->buf);
    free(w->path);
    free(w);
}

int jrn_writer_open(fs *fsys, const char *dir, uint64_t number, const jrn_options *opts, jrn_writer **out,
                    tind_err *err)
{
    if (!out)
        return err_set(err, TIND_EINVAL, "jrn_writer_open: no output handle");
    *out = NULL;
    if (!fsys || !dir)
        return err_set(err, TIND_EINVAL, "jrn_writer_open: no file system or folder");
    jrn_writer *w = calloc(1, sizeof *w);
    size_t path_size = strlen(dir) + 32;
    char *path = malloc(path_size);
    if (!w || !path) {
        free(w);
        free(path);
        return err_set(err, TIND_ENOMEM, "journal %" PRIu64 ": out of memory", number);
    }
    jrn_path(dir, number, path, path_size);
    w->fsys = fsys;
    w->path = path;
    w->number = number;
    w->mark_size = UINT64_MAX; /* no mark */
    w->compress_threshold = opts ? opts->compress_threshold : 0;
    w->prealloc_step = opts ? opts->preallocate : 0;
    w->start_seqno = opts ? opts->start_seqno : 0;

    int rc = fs_open(fsys, path, FS_O_WRITE | FS_O_CREATE | FS_O_EXCL, &w->file, err);
    if (rc) {
        err_wrap(err, rc, "journal %" PRIu64 ": create", number);
        free(path);
        free(w);
        return rc;
    }
    uint8_t header[JRN_FILE_HEADER_SIZE];
    jrn_encode_file_header(header, number, opts ? opts->start_seqno : 0);
    const char *step = "write header";
    rc = fs_write(w->file, header, sizeof header, 0, err);
    if (!rc) {
        step = "sync header";
        rc = fs_sync(w->file, FS_SYNC_DATA, err);
    }
    if (!rc) {
        step = "sync folder";
        rc = fs_sync_dir(fsys, dir, err);
    }
    if (rc) {
        err_wrap(err, rc, "journal %" PRIu64 ": %s", number, step);
        jrn_discard(w);
        return rc;
    }
    w->size = JRN_FILE_HEADER_SIZE;
    w->written = w->size;
    w->alloc_end = w->size;
    w->synced_size = w->size;
    w->synced_mode = FS_SYNC_DATA;
    if (opts && opts->prior_synced) {
        /* the witness that every older journal was durable, for as long as
         * no record carries it (see "Marks" in journal.h); after the
         * header's sync, so a power loss leaves it a torn tail at worst */
        w->prior_synced = 1;
        rc = jrn_add_mark(w, err);
        if (rc == TIND_OK)
            rc = jrn_write(w, err);
        if (rc) {
            jrn_discard(w);
            return rc;
        }
    }
    *out = w;
    return TIND_OK;
}

static int jrn_refuse(const jrn_writer *w, tind_err *err)
{
    return err_set(err, TIND_EPOISONED, "journal '%s': refused: an earlier write or sync failed (%s)", w->path,
                   tind_strerror(w->failed));
}

/* Appends the record (a mark when count is 0) to w->buf, pending: header,
 * then the payload (compressed when that pays), and counts it in w->size.
 * Returns TIND_OK or TIND_ENOMEM (w->buf and w->size are as they were). */
static int jrn_build_record(jrn_writer *w, uint64_t first_seqno, uint32_t count, const uint8_t *payload,
                            size_t len)
{
    tbuf *b = &w->buf;
    size_t base = b->len;
    uint8_t flags = count ? 0 : JRN_FLAG_MARK;
    uint8_t synced_before = w->synced_size == w->size ? JRN_FLAG_SYNCED_BEFORE : 0;
    if (w->prior_synced)
        synced_before |= JRN_FLAG_PRIOR_SYNCED;
    if (tbuf_reserve(b, JRN_RECORD_HEADER_SIZE))
        return TIND_ENOMEM;
    b->len = base + JRN_RECORD_HEADER_SIZE;
    if (w->compress_threshold && len >= w->compress_threshold) {
        /* TIND_ETOOBIG (beyond LZ4's input limit) or TIND_ENOMEM: store raw */
        int rc = compress_bytes(COMPRESSION_LZ4, -JRN_LZ4_ACCELERATION, payload, len, b);
        if (rc == TIND_OK && b->len - base - JRN_RECORD_HEADER_SIZE <= len - len / 8)
            flags = JRN_FLAG_LZ4;
        else
            b->len = base + JRN_RECORD_HEADER_SIZE;
    }
    if (!(flags & JRN_FLAG_LZ4) && len && tbuf_append(b, payload, len)) {
        b->len = base;
        return TIND_ENOMEM;
    }
    uint8_t *h = b->data + base;
    size_t stored = b->len - base - JRN_RECORD_HEADER_SIZE;
    enc_u32(h + JRN_RH_MARKER, JRN_RECORD_MARKER);
    enc_u32(h + JRN_RH_STORED_LEN, (uint32_t)stored);
    h[JRN_RH_FLAGS] = (uint8_t)(flags | synced_before);
    enc_u32(h + JRN_RH_RAW_LEN, (uint32_t)len);
    enc_u64(h + JRN_RH_FIRST_SEQNO, first_seqno);
    enc_u32(h + JRN_RH_COUNT, count);
    enc_u64(h + JRN_RH_CHECKSUM, jrn_record_checksum(h, h + JRN_RECORD_HEADER_SIZE, stored));
    w->size += b->len - base;
    return TIND_OK;
}

int jrn_add(jrn_writer *w, uint64_t first_seqno, uint32_t count, const void *payload, size_t len, tind_err *err)
{
    if (!w)
        return err_set(err, TIND_EINVAL, "jrn_add: no journal");
    if (w->failed)
        return jrn_refuse(w, err);
    if (count == 0)
        return err_set(err, TIND_EINVAL, "journal '%s': record with no entries", w->path);
    if (first_seqno > UINT64_MAX - (count - 1))
        return err_set(err, TIND_EINVAL, "journal '%s': seqnos %" PRIu64 " + %" PRIu32 " overflow", w->path,
                       first_seqno, count);
    if (w->has_last && first_seqno <= w->last_seqno)
        return err_set(err, TIND_EINVAL, "journal '%s': seqno %" PRIu64 " does not follow %" PRIu64, w->path,
                       first_seqno, w->last_seqno);
    if (len > JRN_MAX_PAYLOAD)
        return err_set(err, TIND_ETOOBIG, "journal '%s': record payload of %zu bytes exceeds %u", w->path, len,
                       JRN_MAX_PAYLOAD);
    if (len && !payload)
        return err_set(err, TIND_EINVAL, "journal '%s': no payload", w->path);

    int rc = jrn_build_record(w, first_seqno, count, payload, len);
    if (rc)
        return err_set(err, rc, "journal '%s': out of memory assembling a record of %zu bytes", w->path, len);
    w->last_seqno = first_seqno + (count - 1);
    w->has_last = 1;
    return TIND_OK;
}

int jrn_add_mark(jrn_writer *w, tind_err *err)
{
    if (!w)
        return err_set(err, TIND_EINVAL, "jrn_add_mark: no journal");
    if (w->failed)
        return jrn_refuse(w, err);
    uint64_t seqno = w->has_last ? w->last_seqno + 1 : w->start_seqno;
    if (jrn_build_record(w, seqno, 0, NULL, 0))
        return err_set(err, TIND_ENOMEM, "journal '%s': out of memory assembling a mark", w->path);
    return TIND_OK;
}

void jrn_mark(jrn_writer *w)
{
    if (!w)
        return;
    w->mark_size = w->size;
    w->mark_last = w->last_seqno;
    w->mark_has_last = w->has_last;
}

void jrn_drop(jrn_writer *w)
{
    if (!w)
        return;
    uint64_t mark = w->mark_size;
    w->mark_size = UINT64_MAX; /* a mark serves one drop: an older one must never take later records */
    if (mark < w->written || mark >= w->size)
        return; /* no mark among the pending records, or nothing after it */
    w->buf.len -= (size_t)(w->size - mark);
    w->size = mark;
    w->last_seqno = w->mark_last;
    w->has_last = w->mark_has_last;
}

/* Extends the file with zeros past `end`, a step at a time (see the top
 * of this file); any failure only turns preallocation off. */
static void jrn_preallocate(jrn_writer *w, uint64_t end)
{
    if (!w->prealloc_step || end <= w->alloc_end)
        return;
    uint64_t to = (end / w->prealloc_step + 1) * w->prealloc_step;
    if (fs_allocate(w->file, w->alloc_end, to - w->alloc_end, FS_ALLOC_EXTEND, NULL) == TIND_OK)
        w->alloc_end = to;
    else
        w->prealloc_step = 0;
}

int jrn_write(jrn_writer *w, tind_err *err)
{
    if (!w)
        return err_set(err, TIND_EINVAL, "jrn_write: no journal");
    if (w->size == w->written)
        return TIND_OK;
    if (w->failed)
        return jrn_refuse(w, err);
    jrn_preallocate(w, w->size);
    int rc = fs_write(w->file, w->buf.data, w->buf.len, w->written, err);
    if (rc) {
        w->failed = rc;
        err_wrap(err, rc, "journal %" PRIu64 ": append of %zu bytes at offset %" PRIu64, w->number, w->buf.len,
                 w->written);
        return rc;
    }
    w->written = w->size;
    if (w->alloc_end < w->written)
        w->alloc_end = w->written;
    tbuf_reset(&w->buf);
    if (w->buf.cap > JRN_BUF_KEEP)
        tbuf_free(&w->buf);
    return TIND_OK;
}

uint64_t jrn_pending(const jrn_writer *w) { return w ? w->size - w->written : 0; }

int jrn_append(jrn_writer *w, uint64_t first_seqno, uint32_t count, const void *payload, size_t len,
               tind_err *err)
{
    int rc = jrn_add(w, first_seqno, count, payload, len, err);
    if (rc == TIND_OK)
        rc = jrn_write(w, err);
    return rc;
}

int jrn_sync(jrn_writer *w, int mode, tind_err *err)
{
    if (!w)
        return err_set(err, TIND_EINVAL, "jrn_sync: no journal");
    if (mode != FS_SYNC_DATA && mode != FS_SYNC_ALL)
        return err_set(err, TIND_EINVAL, "journal '%s': sync mode %d", w->path, mode);
    if (w->failed)
        return jrn_refuse(w, err);
    int rc = jrn_write(w, err); /* pending records first */
    if (rc)
        return rc;
    if (w->cut_pending)
        mode = FS_SYNC_ALL;   /* the cut's size change, whatever fdatasync does with it */
    else if (w->size == w->synced_size && mode <= w->synced_mode)
        return TIND_OK;
    rc = fs_sync(w->file, mode, err);
    if (rc) {
        w->failed = rc;
        err_wrap(err, rc, "journal %" PRIu64 ": sync", w->number);
        return rc;
    }
    w->synced_size = w->size;
    w->synced_mode = mode;
    w->cut_pending = 0;
    return TIND_OK;
}

int jrn_trim(jrn_writer *w, tind_err *err)
{
    if (!w)
        return err_set(err, TIND_EINVAL, "jrn_trim: no journal");
    int rc = w->failed ? TIND_OK : jrn_write(w, err);
    w->prealloc_step = 0;
    if (rc || w->alloc_end <= w->written)
        return rc;
    rc = fs_truncate(w->file, w->written, w->failed ? NULL : err);
    if (rc) {
        if (w->failed)
            return TIND_OK;   /* already failed: the records' end is a torn tail's start */
        w->failed = rc;
        return err_wrap(err, rc, "journal %" PRIu64 ": cutting the preallocated space at offset %" PRIu64,
                        w->number, w->written);
    }
    w->alloc_end = w->written;
    w->cut_pending = 1;
    return TIND_OK;
}

void jrn_set_prior_synced(jrn_writer *w)
{
    if (w)
        w->prior_synced = 1;
}

int jrn_synced(const jrn_writer *w) { return w && w->synced_size == w->size && !w->cut_pending; }

uint64_t jrn_size(const jrn_writer *w) { return w ? w->size : 0; }
size_t jrn_buffer_bytes(const jrn_writer *w) { return w ? w->buf.cap : 0; }
uint64_t jrn_number(const jrn_writer *w) { return w ? w->number : 0; }
int jrn_failed(const jrn_writer *w) { return w ? w->failed != 0 : 0; }

int jrn_close(jrn_writer *w, tind_err *err)
{
    if (!w)
        return TIND_OK;
    int wrc = TIND_OK;
    if (!w->failed)
        wrc = jrn_trim(w, err); /* pending records, then the preallocated space */
    else if (w->size > w->written)
        /* after a failed write the records still pending are those of the
         * group that failed and of NONE writes before it, acknowledged:
         * one more try keeps them when the cause has passed (space freed);
         * its outcome changes nothing reported (the failure stands) */
        (void)fs_write(w->file, w->buf.data, w->buf.len, w->written, NULL);
    int rc = fs_close(w->file, wrc ? NULL : err);
    if (rc)
        err_wrap(err, rc, "journal %" PRIu64 ": close", w->number);
    if (wrc)
        rc = wrc;
    tbuf_free(&w->buf);
    free(w->path);
    free(w);
    return rc;
}

/* ------------------------------------------------------------------ replay */

/* Why the bytes at an offset are not a record that verifies. */
enum jrn_record_state {
    JRN_REC_OK = 0,
    JRN_REC_SHORT_HEADER,   /* fewer than 33 bytes left */
    JRN_REC_NO_MARKER,
    JRN_REC_PAST_END,       /* the stored length runs past the end of the file */
    JRN_REC_CHECKSUM,
};

static const char *jrn_state_text(int state)
{
    switch (state) {
    case JRN_REC_SHORT_HEADER: return "incomplete record header";
    case JRN_REC_NO_MARKER:    return "no record marker";
    case JRN_REC_PAST_END:     return "payload runs past the end of the file";
    case JRN_REC_CHECKSUM:     return "checksum mismatch";
    default:                   return "ok";
    }
}

typedef struct jrn_record {
    uint32_t stored_len;
    uint8_t flags;
    uint32_t raw_len;
    uint64_t first_seqno;
    uint32_t count;
    const uint8_t *payload;
} jrn_record;

/* Checks the record at off (off <= len) without reading outside data[0, len). */
static int jrn_check_record(const uint8_t *data, size_t len, size_t off, jrn_record *r)
{
    if (len - off < JRN_RECORD_HEADER_SIZE)
        return JRN_REC_SHORT_HEADER;
    const uint8_t *h = data + off;
    if (dec_u32(h + JRN_RH_MARKER) != JRN_RECORD_MARKER)
        return JRN_REC_NO_MARKER;
    r->stored_len = dec_u32(h + JRN_RH_STORED_LEN);
    if (r->stored_len > len - off - JRN_RECORD_HEADER_SIZE)
        return JRN_REC_PAST_END;
    r->flags = h[JRN_RH_FLAGS];
    r->raw_len = dec_u32(h + JRN_RH_RAW_LEN);
    r->first_seqno = dec_u64(h + JRN_RH_FIRST_SEQNO);
    r->count = dec_u32(h + JRN_RH_COUNT);
    r->payload = h + JRN_RECORD_HEADER_SIZE;
    if (jrn_record_checksum(h, r->payload, r->stored_len) != dec_u64(h + JRN_RH_CHECKSUM))
        return JRN_REC_CHECKSUM;
    return JRN_REC_OK;
}

/* The first offset in [from, len) holding a record that verifies, carries
 * `flag` and has a first seqno of at least min_seqno, or SIZE_MAX. With the
 * synced-before flag, such a record was written after a sync that covered
 * every byte before it; with the prior-synced flag, after every older
 * journal had been synced. A genuine later record always meets the seqno bound (seqnos
 * increase through a journal); the bound keeps an older record embedded in
 * a user value from turning a torn tail into a false corruption report. */
static size_t jrn_scan_witness(const uint8_t *data, size_t len, size_t from, uint8_t flag, uint64_t min_seqno)
{
    const uint8_t first_marker_byte = (uint8_t)(JRN_RECORD_MARKER & 0xFF);
    size_t p = from;
    while (p < len && len - p >= JRN_RECORD_HEADER_SIZE) {
        const uint8_t *hit = memchr(data + p, first_marker_byte, len - p - JRN_RECORD_HEADER_SIZE + 1);
        if (!hit)
            break;
        p = (size_t)(hit - data);
        jrn_record r;
        if (jrn_check_record(data, len, p, &r) == JRN_REC_OK && (r.flags & flag) &&
            (r.count > 0 || (r.flags & JRN_FLAG_MARK)) && r.first_seqno >= min_seqno)
            return p;
        p++;
    }
    return SIZE_MAX;
}

/* The replay pass. name is used in messages; when check_number is set, the
 * header's journal number must equal expect_number. */
static int jrn_decode(const char *name, const uint8_t *data, size_t len, int check_number, uint64_t expect_number,
                      jrn_replay_fn cb, void *ctx, jrn_replay_result *res, tind_err *err)
{
    memset(res, 0, sizeof *res);
    if (len == 0)
        return TIND_OK;
    if (len < JRN_FILE_HEADER_SIZE) {
        /* the creation itself was torn: the header never became durable */
        res->tail_bytes = len;
        res->truncated = 1;
        return TIND_OK;
    }
    const char *bad = NULL;
    if (memcmp(data, JRN_FILE_MAGIC, JRN_FILE_MAGIC_LEN) != 0)
        bad = "bad magic (not a tind journal)";
    else if (hash64(data, JRN_FH_CHECKSUM) != dec_u64(data + JRN_FH_CHECKSUM))
        bad = "checksum mismatch";
    if (bad) {
        /* The writer syncs the header before the first record can exist, so
         * only a file holding nothing but a header may have a torn one. */
        if (len == JRN_FILE_HEADER_SIZE) {
            res->tail_bytes = len;
            res->truncated = 1;
            return TIND_OK;
        }
        return err_set(err, TIND_ECORRUPT, "journal %s: file header: %s", name, bad);
    }
    uint32_t version = dec_u32(data + JRN_FH_VERSION);
    if (version < JRN_FORMAT_VERSION_MIN || version > JRN_FORMAT_VERSION)
        return err_set(err, version > JRN_FORMAT_VERSION ? TIND_EVERSION : TIND_ECORRUPT,
                       "journal %s: format version %" PRIu32 " (this build reads %u)", name, version,
                       JRN_FORMAT_VERSION);
    res->number = dec_u64(data + JRN_FH_NUMBER);
    res->start_seqno = dec_u64(data + JRN_FH_START_SEQNO);
    res->has_header = 1;
    res->version = version;
    if (check_number && res->number != expect_number)
        return err_set(err, TIND_ECORRUPT, "journal %s: file header names journal %" PRIu64, name, res->number);
    res->valid_bytes = JRN_FILE_HEADER_SIZE;

    int rc = TIND_OK;
    uint8_t *raw = NULL;
    size_t raw_cap = 0;
    size_t off = JRN_FILE_HEADER_SIZE;
    /* the least first seqno the next record or mark may have, once one was
     * met (has_min); full: the last record ended at UINT64_MAX */
    uint64_t next_min = 0;
    int has_min = 0, full = 0;
    while (off < len) {
        jrn_record r;
        int state = jrn_check_record(data, len, off, &r);
        if (state != JRN_REC_OK) {
            size_t later = SIZE_MAX;
            if (!res->records && !res->marks)
                later = jrn_scan_witness(data, len, off + 1, JRN_FLAG_SYNCED_BEFORE, 0);
            else if (has_min && !full)
                later = jrn_scan_witness(data, len, off + 1, JRN_FLAG_SYNCED_BEFORE, next_min);
            if (later != SIZE_MAX) {
                rc = err_set(err, TIND_ECORRUPT,
                             "journal %s: record at offset %zu: %s, followed by valid records "
                             "(the record at offset %zu was written after a sync that covered it)",
                             name, off, jrn_state_text(state), later);
                goto out;
            }
            res->tail_bytes = len - off;
            res->truncated = 1;
            break;
        }
        /* the record verifies, so it was written whole: a broken rule is corruption */
        const char *why = NULL;
        uint8_t known = JRN_FLAG_LZ4 | JRN_FLAG_SYNCED_BEFORE;
        if (version >= JRN_FORMAT_VERSION_UNSYNCED)
            known |= JRN_FLAG_PRIOR_SYNCED;
        if (version >= JRN_FORMAT_VERSION_MARK)
            known |= JRN_FLAG_MARK;
        int mark = (r.flags & JRN_FLAG_MARK) != 0;
        int follows = !has_min || (!full && r.first_seqno >= next_min);
        if (r.flags & ~known)
            why = "unknown flags";
        else if (mark && (r.count || r.stored_len || r.raw_len || (r.flags & JRN_FLAG_LZ4)))
            why = "a mark with entries or bytes";
        else if (mark && !follows)
            why = "mark's seqno does not follow the previous record's";
        else if (mark)
            why = NULL; /* the record rules below are not a mark's */
        else if (!(r.flags & JRN_FLAG_LZ4) && r.raw_len != r.stored_len)
            why = "raw length differs from the stored length of an uncompressed payload";
        else if ((r.flags & JRN_FLAG_LZ4) && (uint64_t)r.raw_len > (uint64_t)r.stored_len * JRN_LZ4_MAX_RATIO + 16)
            why = "raw length beyond what LZ4 can encode in the stored length";
        else if (r.count == 0)
            why = "entry count 0";
        else if (r.first_seqno > UINT64_MAX - (r.count - 1))
            why = "seqnos overflow";
        else if (!follows)
            why = "seqno does not follow the previous record's";
        if (why) {
            rc = err_set(err, TIND_ECORRUPT,
                         "journal %s: record at offset %zu (first seqno %" PRIu64 ", %" PRIu32 " entries): %s", name,
                         off, r.first_seqno, r.count, why);
            goto out;
        }
        if (r.flags & JRN_FLAG_PRIOR_SYNCED)
            res->prior_synced = 1;
        if (mark) {
            res->marks++;
            next_min = r.first_seqno;
            has_min = 1;
            off += JRN_RECORD_HEADER_SIZE;
            res->valid_bytes = off;
            continue;
        }
        const uint8_t *payload = r.payload;
        size_t payload_len = r.stored_len;
        if (r.flags & JRN_FLAG_LZ4) {
            if (raw_cap < r.raw_len || !raw) {
                free(raw);
                raw_cap = r.raw_len ? r.raw_len : 1;
                raw = malloc(raw_cap);
                if (!raw) {
                    rc = err_set(err, TIND_ENOMEM,
                                 "journal %s: record at offset %zu: out of memory (%" PRIu32 " bytes)", name, off,
                                 r.raw_len);
                    goto out;
                }
            }
            rc = decompress_bytes(COMPRESSION_LZ4, r.payload, r.stored_len, raw, r.raw_len, err);
            if (rc) {
                err_wrap(err, rc, "journal %s: record at offset %zu", name, off);
                goto out;
            }
            payload = raw;
            payload_len = r.raw_len;
        }
        if (cb) {
            rc = cb(ctx, r.first_seqno, r.count, payload, payload_len);
            if (rc) {
                err_set(err, rc,
                        "journal %s: record at offset %zu (seqnos %" PRIu64 "..%" PRIu64 "): replay stopped: %s", name,
                        off, r.first_seqno, r.first_seqno + (r.count - 1), tind_strerror(rc));
                goto out;
            }
        }
        if (!res->records)
            res->first_seqno = r.first_seqno;
        res->records++;
        res->last_seqno = r.first_seqno + (r.count - 1);
        full = res->last_seqno == UINT64_MAX;
        next_min = res->last_seqno + 1;
        has_min = 1;
        off += JRN_RECORD_HEADER_SIZE + (size_t)r.stored_len;
        res->valid_bytes = off;
    }
out:
    free(raw);
    return rc;
}

int jrn_replay_buffer(const uint8_t *data, size_t len, jrn_replay_fn cb, void *ctx, jrn_replay_result *result,
                      tind_err *err)
{
    jrn_replay_result local;
    if (!data && len)
        return err_set(err, TIND_EINVAL, "jrn_replay_buffer: no data");
    return jrn_decode("(in memory)", data, len, 0, 0, cb, ctx, result ? result : &local, err);
}

size_t jrn_skip_marks(const uint8_t *data, size_t len, size_t off)
{
    while (off <= len && len - off >= JRN_RECORD_HEADER_SIZE && (data[off + JRN_RH_FLAGS] & JRN_FLAG_MARK) &&
           dec_u32(data + off + JRN_RH_COUNT) == 0)
        off += JRN_RECORD_HEADER_SIZE;
    return off;
}

int jrn_truncate(fs *fsys, const char *path, uint64_t valid_bytes, tind_err *err)
{
    fs_file *f = NULL;
    int rc = fs_open(fsys, path, FS_O_WRITE, &f, err);
    if (rc)
        return rc;
    rc = fs_truncate(f, valid_bytes, err);
    if (!rc)
        rc = fs_sync(f, FS_SYNC_ALL, err);
    int crc = fs_close(f, rc ? NULL : err);
    return rc ? rc : crc;
}

/* The whole file at path (malloc'd). */
static int jrn_read_file(fs *fsys, const char *path, uint8_t **data, size_t *len, tind_err *err)
{
    int rc = fs_read_all(fsys, path, data, len, err);
    if (rc)
        err_wrap(err, rc, "journal");
    return rc;
}

int jrn_replay(fs *fsys, const char *path, jrn_replay_fn cb, void *ctx, int truncate_torn_tail,
               jrn_replay_result *result, tind_err *err)
{
    jrn_replay_result local;
    jrn_replay_result *res = result ? result : &local;
    memset(res, 0, sizeof *res);
    if (!fsys || !path)
        return err_set(err, TIND_EINVAL, "jrn_replay: no file system or path");
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = jrn_read_file(fsys, path, &data, &len, err);
    if (rc)
        return rc;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    uint64_t expect = 0;
    int check_number = jrn_parse_name(base, &expect);
    rc = jrn_decode(path, data, len, check_number, expect, cb, ctx, res, err);
    free(data);
    if (rc == TIND_OK && truncate_torn_tail && res->truncated) {
        rc = jrn_truncate(fsys, path, res->valid_bytes, err);
        if (rc)
            err_wrap(err, rc, "journal %s: cutting the torn tail at offset %" PRIu64, path, res->valid_bytes);
    }
    return rc;
}

int jrn_find_prior_synced(fs *fsys, const char *path, uint64_t min_seqno, int *found, tind_err *err)
{
    *found = 0;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = jrn_read_file(fsys, path, &data, &len, err);
    if (rc)
        return rc;
    /* a damaged header: the creation was cut short (no record can follow
     * it) or the damage is reported when the journal is replayed */
    if (len > JRN_FILE_HEADER_SIZE && memcmp(data, JRN_FILE_MAGIC, JRN_FILE_MAGIC_LEN) == 0 &&
        hash64(data, JRN_FH_CHECKSUM) == dec_u64(data + JRN_FH_CHECKSUM) &&
        dec_u32(data + JRN_FH_VERSION) >= JRN_FORMAT_VERSION_UNSYNCED)
        *found = jrn_scan_witness(data, len, JRN_FILE_HEADER_SIZE, JRN_FLAG_PRIOR_SYNCED, min_seqno) != SIZE_MAX;
    free(data);
    return TIND_OK;
}

/* ------------------------------------------------------------------ chains */

int jrn_chain_add(jrn_chain *c, const jrn_replay_result *res, const char *name, const char *prev_name,
                  tind_err *err)
{
    if (res->start_seqno == 0)
        return err_set(err, TIND_ECORRUPT, "journal '%s': header start seqno is 0", name);
    if (res->records && res->first_seqno != res->start_seqno)
        return err_set(err, TIND_ECORRUPT, "journal '%s': first record has seqno %" PRIu64 ", its header says %" PRIu64,
                       name, res->first_seqno, res->start_seqno);
    uint64_t limit = c->need ? c->need : c->start_limit;
    if (!c->started && limit && res->start_seqno > limit)
        return err_set(err, TIND_ECORRUPT,
                       "journal '%s' starts at seqno %" PRIu64 " but the version file needs seqnos %" PRIu64
                       "..%" PRIu64 " from the journals it keeps: a journal it needs is missing",
                       name, res->start_seqno, limit, res->start_seqno - 1);
    if (c->started && res->start_seqno != c->end + 1)
        return err_set(err, TIND_ECORRUPT,
                       "journal '%s' starts at seqno %" PRIu64 " but journal '%s' ends at %" PRIu64
                       ": records are missing",
                       name, res->start_seqno, prev_name, c->end);
    c->end = res->records ? res->last_seqno : res->start_seqno - 1;
    c->started = 1;
    return TIND_OK;
}

void jrn_chain_need(jrn_chain *c, uint64_t need, uint64_t start_limit)
{
    c->need = need;
    c->start_limit = start_limit;
}

int jrn_chain_finish(const jrn_chain *c, const char *dir, tind_err *err)
{
    if (c->need && !c->started)
        return err_set(err, TIND_ECORRUPT,
                       "journals in '%s': the version file needs seqnos from %" PRIu64
                       " on but no journal with an intact header is kept: the journals it needs are missing",
                       dir, c->need);
    return TIND_OK;
}
