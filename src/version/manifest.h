/*
 * manifest.h -- the version file ("VERSIONS"): the whole database's state,
 * persisted atomically as one small file (written to a temporary file,
 * synced, renamed over the old one, directory synced: fs_write_atomic).
 *
 * The state: file-number and sequence-number counters, the oldest journal
 * still needed, and every keyspace with its id, name, stored options, flushed
 * sequence number and version (its tables per level). The byte format is in
 * docs/FORMAT.md ("Version file"); in short:
 *
 *   "TINDVER\x01" | u32 format version | u32 reserved (0) | u64 payload length
 *   | payload (varints) | u64 xxh3-64 of every byte before it
 *
 * Decoding checks the length, the magic and the checksum first, then the
 * format version (TIND_EVERSION when newer than MANIFEST_FORMAT_VERSION),
 * then every field (TIND_ECORRUPT naming the keyspace / table at fault): a
 * decoder never reads outside its input and never returns a state that
 * breaks the version invariants (version.h), has duplicate keyspace ids or
 * names, or names a file number >= next_file_number.
 *
 * Ownership: a state filled by manifest_decode / manifest_read owns all it
 * points to (names, options, one reference on each version): release it with
 * mf_state_free. A state given to manifest_encode / manifest_write is only
 * read; its owner may point it at borrowed memory (the engine does).
 * Thread-safety: pure functions of their arguments; the versions passed to
 * the encoder must be held by the caller.
 */
#ifndef TIND_VERSION_MANIFEST_H
#define TIND_VERSION_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "format/filename.h"
#include "io/fs.h"
#include "util/buf.h"
#include "util/status.h"
#include "version/version.h"

/* The file name inside the database folder. */
#define MANIFEST_FILE_NAME FNAME_VERSIONS
/* FROZEN: the magic of a version file (8 bytes, the last one is a format
 * family byte, not the version). */
#define MANIFEST_MAGIC "TINDVER\x01"
#define MANIFEST_MAGIC_LEN 8
/* The format version this library writes and the newest it reads. */
#define MANIFEST_FORMAT_VERSION 2
/* Header (magic, version, reserved, payload length) and trailer (checksum). */
#define MANIFEST_HEADER_LEN 24
#define MANIFEST_TRAILER_LEN 8

typedef struct mf_keyspace {
    uint32_t id;
    char *name;                   /* 1..255 bytes of UTF-8, NUL-terminated */
    size_t name_len;
    uint8_t *options;             /* opaque to the manifest: stored byte for byte */
    size_t options_len;
    uint64_t flushed_seqno;       /* every entry with seqno <= this is in its tables */
    version *v;                   /* its tables (decoded: one reference owned by the state) */
} mf_keyspace;

typedef struct mf_state {
    uint32_t format_version;      /* decode: the file's; encode: 0 = MANIFEST_FORMAT_VERSION */
    uint64_t next_file_number;    /* every table / journal number in use is below it */
    uint64_t last_seqno;          /* the last sequence number assigned when written */
    uint64_t oldest_journal;      /* journals numbered below it are flushed and may go */
    uint32_t next_keyspace_id;    /* every keyspace id is below it */
    /* format 2 (0 when read from a format 1 file): */
    uint64_t db_id;               /* random, made at creation; part of every table id */
    uint64_t journal_seqno;       /* 0, or the oldest seqno no table held when written:
                                     the kept journals must hold every seqno from it on */
    uint64_t next_seqno;          /* the engine's last seqno + 1 when written: a kept
                                     journal, if any, starts at or before it */
    mf_keyspace *keyspaces;
    size_t keyspace_count;
} mf_state;

/* Appends the encoded file to out. TIND_EINVAL (with a message) when the
 * state cannot be written as a valid file: a bad format version, a name of
 * 0 or more than 255 bytes, a keyspace without a version, a key longer than
 * 65535 bytes; TIND_ENOMEM. On failure out's length is restored. */
int manifest_encode(const mf_state *st, tbuf *out, tind_err *err);

/* Decodes a whole version file into *out (zeroed first; left zeroed on
 * failure, so mf_state_free is always safe). The tables it creates have no
 * on_free hook: the engine attaches its own. TIND_ECORRUPT, TIND_EVERSION,
 * (blob files and table blob references: docs/FORMAT.md "Blob files"),
 * TIND_ENOMEM. */
int manifest_decode(const uint8_t *data, size_t len, mf_state *out, tind_err *err);

/* manifest_encode + fs_write_atomic(fs, dir, "VERSIONS"). */
int manifest_write(fs *fsys, const char *dir, const mf_state *st, tind_err *err);
/* fs_read_all(dir/VERSIONS) + manifest_decode. TIND_ENOENT when there is none. */
int manifest_read(fs *fsys, const char *dir, mf_state *out, tind_err *err);

/* Frees what a decoded state owns and zeroes it. */
void mf_state_free(mf_state *st);

#endif
