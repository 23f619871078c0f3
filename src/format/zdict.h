/*
 * zdict.h -- zstd dictionaries for a table's data blocks (docs/FORMAT.md
 * "Dictionary section").
 *
 * Writing (zdict_writer, owned by the table writer's thread): the first
 * entries of a table are held back (up to a sample budget of about 100 times
 * the dictionary size); the data blocks they would make are the training
 * samples for ZDICT_trainFromBuffer; the entries are then written as usual,
 * every data block compressed with the dictionary (ZSTD_CDict). When
 * training fails (too few or too uniform samples) the table is written
 * without a dictionary.
 *
 * Reading (zdict): the dictionary section's bytes, checked and loaded once
 * per table reader into a ZSTD_DDict (immutable, shared by every thread
 * reading the table); zdict_decompress decodes a block's payload with it.
 */
#ifndef TIND_FORMAT_ZDICT_H
#define TIND_FORMAT_ZDICT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/status.h"

/* Dictionary sizes the options accept (0 = no dictionary). */
#define ZDICT_MIN_BYTES 1024u
#define ZDICT_MAX_BYTES (1u << 20)

/* ---- writing ---- */
typedef struct zdict_writer zdict_writer;

/* dict_bytes: the dictionary's target size; level: zstd level (0 = 3). */
int zdw_new(size_t dict_bytes, int level, zdict_writer **out);
void zdw_free(zdict_writer *z);
/* Holds an entry back (copied). */
int zdw_hold(zdict_writer *z, const uint8_t *key, size_t klen, uint64_t seqno, uint8_t type,
             const uint8_t *val, size_t vlen);
/* 1 once the entries held back reach the sample budget. */
int zdw_full(const zdict_writer *z);
/* Bytes held back (for size estimates). */
uint64_t zdw_held_bytes(const zdict_writer *z);
/* Trains the dictionary from data blocks built (block_size, restart
 * interval) over the entries held back. TIND_OK also when training gives
 * nothing usable (zdw_ready() is then 0); TIND_ENOMEM. */
int zdw_train(zdict_writer *z, uint32_t block_size, uint32_t restart_interval);
int zdw_ready(const zdict_writer *z);
/* The entries held back, in order: *pos starts at 0; 0 at the end. */
int zdw_next_held(const zdict_writer *z, size_t *pos, const uint8_t **key, size_t *klen, uint64_t *seqno,
                  uint8_t *type, const uint8_t **val, size_t *vlen);
/* Frees the entries held back (after they were written). */
void zdw_drop_held(zdict_writer *z);
/* Appends the stored block of raw[0..n): zstd with the dictionary when it
 * saves 1/8, else raw (blockio's rule). */
int zdw_encode(zdict_writer *z, tbuf *out, const uint8_t *raw, size_t n);
/* The trained dictionary's bytes and id (zdw_ready() only). */
const uint8_t *zdw_dict(const zdict_writer *z, size_t *n);
uint32_t zdw_dict_id(const zdict_writer *z);

/* ---- reading ---- */
typedef struct zdict zdict;

/* Checks that bytes[0..n) are a zstd dictionary with id want_id and loads
 * it; TIND_ECORRUPT (message names `what`) otherwise, TIND_ENOMEM. */
int zdict_load(const uint8_t *bytes, size_t n, uint32_t want_id, zdict **out, const char *what, tind_err *err);
void zdict_free(zdict *d);
/* Bytes the loaded dictionary holds (0 for NULL). */
size_t zdict_memory(const zdict *d);
/* For tools reading a table without its metadata: the stored dict block
 * (blockio header and payload, n bytes) checked and loaded, with the id
 * the dictionary itself carries. */
int zdict_from_stored(const uint8_t *stored, size_t n, zdict **out, const char *what, tind_err *err);
/* The loaded dictionary's id. */
uint32_t zdict_id(const zdict *d);
/* A blockio decompressor (blockio_read_with): zstd payloads are decoded
 * with the dictionary (ctx: a zdict), the other codes as usual. */
int zdict_decompress(void *ctx, int type, const uint8_t *in, size_t n, uint8_t *out, size_t raw_len,
                     tind_err *err);

#endif
