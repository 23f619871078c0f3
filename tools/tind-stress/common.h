/*
 * common.h -- helpers shared by the tind-stress campaigns (common.c).
 *
 *   - a monotonic clock (stress_now) and the scratch folder of the
 *     campaigns that run on the POSIX file system (kill, concurrent):
 *     --dir, or a new folder under $TMPDIR, removed on success;
 *   - the value checksum of the kill and concurrent campaigns: a value's
 *     last 8 bytes are the xxh3 of the bytes before them, seeded with the
 *     hash of its key, so a value read under the wrong key or with a damaged
 *     byte is caught;
 *   - the data model of the in-memory campaigns (faults, corrupt): batches of
 *     1..STRESS_MAXOPS puts and removes over a few keyspaces and a small
 *     universe of keys, values that name the batch, keyspace and key that
 *     wrote them, a database opened on a given file system without
 *     background threads, and an image of a mem fs to rebuild a state in a
 *     fresh one;
 *   - the list of violations a campaign shows at the end.
 * The two in-memory campaigns differ only in the numbers (a stress_model and
 * a stress_db_sizes each); the choices a model makes depend on the trng it
 * is handed and nothing else, so a run is reproducible from its seed.
 *
 * Thread-safety: no shared state; an image, a model or a shown list belongs
 * to its caller, and the functions are reentrant.
 */
#ifndef TIND_STRESS_COMMON_H
#define TIND_STRESS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "stress.h"
#include "tind.h"
#include "tind_internal.h"

/* ---- time and scratch folders ---- */

double stress_now(void); /* CLOCK_MONOTONIC, seconds */

/* The scratch folder of `campaign` (for messages and the mkdtemp name):
 * o->dir (created if missing), or a new tind-stress-<campaign>-XXXXXX under
 * $TMPDIR (or /tmp), *own = 1. Returns 0, or -1 after printing why. */
int stress_scratch_dir(const stress_opts *o, const char *campaign, char *base, size_t cap, int *own);

/* Removes path and everything below it (never following a symbolic link).
 * Returns 0 when it is gone. */
int stress_rmtree(const char *path);

/* Parses n decimal digits; 0, or -1 when one is not a digit. */
int stress_digits(const void *s, size_t n, uint32_t *out);

/* ---- the value checksum (kill, concurrent) ---- */

/* Writes the checksum into the last 8 bytes of v (vlen >= 8). */
void stress_seal(uint8_t *v, size_t vlen, const void *key, size_t klen);
/* 1 when the last 8 bytes of v hold the checksum (vlen >= 8). */
int stress_sealed(const uint8_t *v, size_t vlen, const void *key, size_t klen);

/* ---- the data model of the in-memory campaigns (faults, corrupt) ---- */

#define STRESS_MAXOPS 4
#define STRESS_VALUE_CAP 4096   /* above every value length a model makes */

typedef struct stress_op {
    uint8_t ks;
    uint8_t tomb;               /* 1 a remove, 2 a range deletion of keys [key, key + span) */
    uint8_t span;
    uint16_t key;
} stress_op;

typedef struct stress_model {
    int nks;                    /* keyspaces */
    int universe;               /* keys per keyspace */
    int tomb_one_in;            /* an operation is a remove with odds 1/tomb_one_in */
    const char *key_prefix;     /* key i: the prefix, then i in key_digits decimal digits */
    int key_digits;
    /* value lengths: value_min + h % value_span, or with odds 1/big_one_in
     * big_min + h % big_span, h a hash of (batch, ks, key) ^ value_salt */
    uint64_t value_salt;
    size_t value_min, value_span;
    uint64_t big_one_in;
    size_t big_min, big_span;
} stress_model;

/* Draws the operations of one batch: 1 (2 times in 3) or 1..STRESS_MAXOPS;
 * per operation the keyspace, the key and whether it removes. Returns the
 * count. */
int stress_draw_ops(const stress_model *m, trng *r, stress_op ops[STRESS_MAXOPS]);
/* Applies op to row (the states of op->ks's keys): value, or -1 for the keys
 * it deletes. */
void stress_op_apply(const stress_model *m, const stress_op *op, int *row, int value);

/* Key bytes of key index `key` (at most 15 bytes and a NUL) into out. */
size_t stress_key(const stress_model *m, int key, char out[16]);

/* The index of a key of the model, or -1 when k is no such key. */
int stress_key_id(const stress_model *m, const char *k, size_t n);

/* The value `batch` writes to (ks, key): u32 batch | u8 ks | u16 key |
 * bytes derived from all three, so a read can tell which batch wrote it and
 * whether every byte is right. Returns its length (at most cap). */
size_t stress_value(const stress_model *m, uint32_t batch, int ks, int key, uint8_t *out, size_t cap);

/* Adds the operations to tb, values of batch number `batch`; ks[] are the
 * model's keyspaces. Returns the first failing status. */
int stress_batch_add(const stress_model *m, tind_batch *tb, tind_keyspace *const *ks, const stress_op *ops,
                     int nops, uint32_t batch);

/* The database options of an in-memory campaign. */
typedef struct stress_db_sizes {
    size_t cache;
    size_t write_buffer;
    uint64_t journal_file;
    uint64_t max_journal;
    uint32_t journal_compression;   /* threshold */
} stress_db_sizes;

/* Opens (or creates) the database `path` on f, without background threads. */
int stress_db_open(fs *f, const char *path, const stress_db_sizes *z, tind_db **db);
/* --encrypt: every campaign database is encrypted at rest with this key
 * (stress_db_open, the kill child and parent, concurrent). */
extern int stress_encrypt;
extern const uint8_t stress_enc_key[32];
/* Sets the campaign key on o when --encrypt is on. */
void stress_options_key(tind_options *o);

/* ---- an image of a mem fs: every file and folder, to rebuild it ---- */

typedef struct stress_entry {
    char *path;
    int is_dir;
    uint8_t *data;
    size_t len;
} stress_entry;

typedef struct stress_image {
    stress_entry *v;            /* a folder comes before what it holds */
    size_t n, cap;
} stress_image;

/* Appends everything below dir of mem to img. */
int stress_image_capture(fs *mem, const char *dir, stress_image *img);
void stress_image_free(stress_image *img);

/* A fresh mem fs holding the image, everything synced, with entry `damaged`
 * holding (data, len) instead when damaged >= 0. NULL on failure. */
fs *stress_image_load(const stress_image *img, long damaged, const uint8_t *data, size_t len);
/* The image's entry whose path is `path`, or -1. */
long stress_image_find(const stress_image *img, const char *path);
/* Whole-file damage on a loaded mem fs: path now holds (data, len),
 * created or replaced, synced (folder too). TIND_OK or the fs error. */
int stress_file_put(fs *mem, const char *path, const uint8_t *data, size_t len);

/* ---- the violations a campaign shows ---- */

#define STRESS_SHOWN 25

typedef struct stress_shown {
    char text[STRESS_SHOWN][420];
    size_t n;
} stress_shown;

/* Keeps the text while fewer than STRESS_SHOWN are kept. */
void stress_shown_add(stress_shown *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "VIOLATION <text>" for each one kept, then how many more of `total` there were. */
void stress_shown_print(const stress_shown *s, uint64_t total);

#endif
