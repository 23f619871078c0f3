/*
 * blob.h -- blob files (key-value separation): large values written once,
 * sequentially, at flush (or relocated by compaction), and the pointers the
 * tree keeps instead of them. Byte format in docs/FORMAT.md "Blob files".
 *
 *   a blob file = the sectioned container (format/container.h, version 1,
 *   checksummed ToC) with two sections:
 *     "blobs"    records back to back, each
 *                  u32 stored size S | u32 raw size R | u8 codec
 *                  | S payload bytes | u64 checksum: xxh3-64 of u64 LE
 *                  record offset ++ the 9 header bytes ++ the payload, xor
 *                  the file number times 0x9E3779B97F4A7C15
 *     "blobmeta" varint file number, count, record bytes, raw bytes,
 *                created_unix, codec | u64 xxh3-64 of those bytes
 *   a pointer (the value of an ENTRY_BLOB entry) = varint file number,
 *   varint record offset, varint stored size S, varint raw size R.
 *
 * A record's checksum covers its own offset and mixes in the file number,
 * so a pointer into the wrong file or to the wrong offset reads as
 * TIND_ECORRUPT, never as another value.
 *
 * Writer: one thread. Reader: immutable after blob_reader_open; any number
 * of threads may read through it at once. Files go through the fd cache
 * (keyed by the file number, which blob files share with tables) and
 * values through a cache (the database's blob cache, apart from the block
 * cache; keyed by the reader's cache id and the record offset, charged their
 * raw size + 72 bytes of bookkeeping), both optional.
 */
#ifndef TIND_BLOB_BLOB_H
#define TIND_BLOB_BLOB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "cache/fdcache.h"
#include "io/fs.h"
#include "util/buf.h"
#include "util/status.h"

#define BLOB_FORMAT_VERSION 1
#define BLOB_RECORD_HEADER 9
#define BLOB_RECORD_OVERHEAD 17    /* header + checksum */
#define BLOB_POINTER_MAX 40        /* 4 varints */
#define BLOB_SECTION_RECORDS "blobs"
#define BLOB_SECTION_META "blobmeta"

typedef struct blob_ptr {
    uint64_t file;                /* blob file number */
    uint64_t offset;              /* of the record in the file */
    uint64_t size;                /* stored payload bytes */
    uint64_t raw_size;            /* the value's length */
} blob_ptr;

/* Encodes p into buf (BLOB_POINTER_MAX bytes); returns the length. */
size_t blob_ptr_encode(const blob_ptr *p, uint8_t *buf);
/* TIND_OK, or TIND_ECORRUPT when the bytes are not exactly one pointer. */
int blob_ptr_decode(const uint8_t *p, size_t n, blob_ptr *out);
/* Disk bytes of the record p points to. */
static inline uint64_t blob_ptr_record_bytes(const blob_ptr *p) { return p->size + BLOB_RECORD_OVERHEAD; }

typedef struct blob_file_meta {
    uint64_t number;
    uint64_t file_size;
    uint64_t count;               /* records */
    uint64_t bytes;               /* record bytes (headers, payloads, checksums) */
    uint64_t raw_bytes;           /* the values' lengths */
    uint64_t created_unix;
    uint32_t compression;
} blob_file_meta;

typedef struct blob_writer blob_writer;

/* Creates path (must not exist). compression: compress.h code; a value
 * that does not shrink is stored raw. */
int blob_writer_open(fs *fs, const char *path, uint64_t number, int compression, int level,
                     blob_writer **out, tind_err *err);
/* Appends one value; *p receives its pointer. */
int blob_writer_add(blob_writer *w, const uint8_t *val, size_t n, blob_ptr *p, tind_err *err);
/* Appends a record as stored elsewhere (blob_read_stored): codec, the
 * stored payload and the value's raw size, copied without recompressing;
 * the checksum is made anew for this file and offset. */
int blob_writer_add_stored(blob_writer *w, int codec, const uint8_t *payload, size_t stored, size_t raw,
                           blob_ptr *p, tind_err *err);
uint64_t blob_writer_size(const blob_writer *w);
uint64_t blob_writer_count(const blob_writer *w);
/* Writes the metadata and container, syncs (sync_mode, 0 = none), closes,
 * frees w in all cases. meta may be NULL. */
int blob_writer_finish(blob_writer *w, int sync_mode, blob_file_meta *meta, tind_err *err);
/* Closes, deletes the partial file, frees w. NULL is ignored. */
void blob_writer_abandon(blob_writer *w);

typedef struct blob_reader blob_reader;

/* Opens path, checks its container and metadata and that it is blob file
 * `number` (0 = any: tools). fds / value_cache may be NULL. TIND_ECORRUPT
 * names the file. */
int blob_reader_open(fs *fs, const char *path, uint64_t number, fd_cache *fds, cache *value_cache,
                     blob_reader **out, tind_err *err);
void blob_reader_free(blob_reader *r);
const blob_file_meta *blob_reader_meta(const blob_reader *r);
/* The value p points to, checked and decompressed, into out (replacing its
 * contents). TIND_ECORRUPT naming the file and offset on any mismatch. */
int blob_read(blob_reader *r, const blob_ptr *p, int fill_cache, tbuf *out, tind_err *err);
/* The record p points to as stored (checked as blob_read checks it, not
 * decompressed), read into rec: *payload points at its p->size payload
 * bytes there, *codec receives its codec. No cache. */
int blob_read_stored(blob_reader *r, const blob_ptr *p, tbuf *rec, const uint8_t **payload, int *codec,
                     tind_err *err);
/* Reads of record bytes from disk through this reader (cache misses). */
uint64_t blob_reader_disk_reads(const blob_reader *r);

/* Walks every record of the file (tools, verify, fuzzing): checks each
 * checksum, decompresses, and the totals against the metadata. fn (may be
 * NULL) sees each record's pointer. */
typedef int (*blob_walk_fn)(void *ctx, const blob_ptr *p, const uint8_t *val);
int blob_walk(blob_reader *r, blob_walk_fn fn, void *ctx, tind_err *err);

/* A record's checksum: xxh3-64 of offset (u64 LE) ++ header ++ payload,
 * xor the file number times 0x9E3779B97F4A7C15 (docs/FORMAT.md). */
uint64_t blob_record_sum(uint64_t number, uint64_t offset, const uint8_t *header, const uint8_t *payload,
                         size_t n);

/* The same checks over a whole file in memory (fuzzing): TIND_OK,
 * TIND_ECORRUPT or TIND_EVERSION. */
int blob_check_bytes(const uint8_t *file, size_t size, uint64_t number, tind_err *err);

#endif
