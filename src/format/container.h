/*
 * container.h -- the sectioned file container every table is stored in.
 *
 *   section bytes ... | table of contents | trailer (56 bytes)
 * TOC: u32 section count, then per section: u8 name length, name,
 *      u64 offset, u64 length. Protected by an xxh3-128 checksum in the trailer.
 * Trailer: u64 toc_offset | u64 toc_length | 16 bytes toc checksum (low, high)
 *          | u32 format_version | u32 reserved (0) | u64 xxh3-64 of the
 *          previous 40 bytes | u64 magic "TINDTBL\x01".
 * The trailer layout is frozen for all versions, so an older reader can read
 * the version and refuse a newer file with TIND_EVERSION.
 *
 * The writer appends through an fs_writer; the reader works on a file. A
 * ctr_toc is immutable once read and may be shared between threads.
 */
#ifndef TIND_FORMAT_CONTAINER_H
#define TIND_FORMAT_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "io/fs.h"
#include "util/status.h"

#define CTR_TRAILER_SIZE 56
#define CTR_MAGIC UINT64_C(0x014c4254444e4954) /* "TINDTBL\x01" little-endian */
#define CTR_NAME_MAX 255
#define CTR_MAX_SECTIONS 64

typedef struct ctr_section {
    char name[CTR_NAME_MAX + 1];
    uint64_t offset;
    uint64_t length;
} ctr_section;

typedef struct ctr_toc {
    uint32_t version;
    uint32_t count;
    ctr_section sections[CTR_MAX_SECTIONS];
} ctr_toc;

typedef struct ctr_writer {
    fs_writer *out;
    ctr_toc toc;
    int open_section;         /* index of the section being written, or -1 */
} ctr_writer;

void ctr_writer_init(ctr_writer *w, fs_writer *out, uint32_t version);
/* Starts a named section at the writer's current offset. */
int ctr_section_begin(ctr_writer *w, const char *name, tind_err *err);
int ctr_section_end(ctr_writer *w, tind_err *err);
/* Writes the TOC and the trailer (does not sync). */
int ctr_finish(ctr_writer *w, tind_err *err);

/* Reads and verifies the trailer and TOC of a file of file_size bytes.
 * max_version: the newest format version the caller understands. */
int ctr_read_toc(fs_file *f, uint64_t file_size, uint32_t max_version, ctr_toc *toc,
                 const char *what, tind_err *err);
/* The same over bytes in memory (fuzzing, tools). */
int ctr_parse_toc(const uint8_t *file, size_t size, uint32_t max_version, ctr_toc *toc,
                  const char *what, tind_err *err);
const ctr_section *ctr_find(const ctr_toc *toc, const char *name);

#endif
