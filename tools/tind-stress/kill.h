/*
 * kill.h -- the workload of the kill campaign, shared by its two sides: the
 * child that writes it (kill_child.c) and the parent that kills the child
 * and checks what recovery left against the model (kill.c). Definitions in
 * kill_work.c.
 *
 * About one batch in four is committed as a transaction (tind_txn_*: its
 * operations written into it, the marker read back through it before the
 * commit), so the checks cover transactions: all or nothing after a kill
 * or a power loss, like a batch. About one in 24 of the others is an
 * ingestion (tind_ingest, sorted, with the pipeline and the encode threads
 * when background threads are on): its operations become puts of distinct
 * keys into keyspace 0, the marker among them, and the same checks hold.
 *
 * Batches are a pure function of (seed, life, id), so the parent
 * regenerates them instead of storing them. Every batch ends with a put of
 * the marker key "!marker" in keyspace 0 whose value names the batch, so the
 * recovered prefix is read from the database. Keys sort in index order and
 * the marker before every other key.
 *
 * Values: u64 batch id | u32 position in the batch | u32 life | filler (a
 * compressible pattern) | u64 checksum (common.h: stress_seal).
 *
 * Thread-safety: pure functions and constant tables.
 */
#ifndef TIND_STRESS_KILL_H
#define TIND_STRESS_KILL_H

#include <stddef.h>
#include <stdint.h>

#include "tind.h"

#define KILL_KS 3
#define KILL_UNIVERSE 1200          /* keys per keyspace */
#define KILL_MARKER KILL_UNIVERSE   /* key index of "!marker" (keyspace 0 only) */
#define KILL_MAX_OPS 200
#define KILL_VAL_MIN 24             /* 16-byte header + 8-byte checksum */
#define KILL_VAL_MAX 6100
#define KILL_KEY_MAX 64

extern const char *const kill_ks_names[KILL_KS];

typedef struct kop {
    uint8_t ks;
    uint8_t tomb;        /* 1 remove, 2 single delete (reads the same, contract or not),
                            3 range deletion [key, key + vlen) */
    uint32_t key;
    uint32_t vlen;
} kop;

typedef struct kbatch {
    uint64_t id;
    int durability;      /* TIND_PERSIST_* of the commit */
    int persist;         /* 0, or the tind_persist mode called after the commit */
    int single;          /* committed with tind_put (the marker alone) */
    int reopen;          /* after it, the child closes and reopens the database */
    int txn;             /* committed as a transaction (1 optimistic, 2 single writer), not a batch */
    int ingest;          /* committed by tind_ingest (sorted) into keyspace 0: puts of distinct
                            keys only, durable when it returns (SYNC_ALL); no merge operand */
    uint32_t n;          /* operations, the marker last */
    kop ops[KILL_MAX_OPS + 1];
} kbatch;

/* The model: per keyspace and key, the operation that wrote it last. */
typedef struct kcell {
    uint64_t id;
    uint32_t pos, life, vlen;
    uint8_t present;
} kcell;

typedef struct kstate {
    kcell cell[KILL_KS][KILL_UNIVERSE + 1];
    uint64_t merges;     /* issue 13: key "c" of keyspace KILL_COUNTER_KS, +1 per batch */
} kstate;

/* Issue 13: every batch (not a single put, nor a transaction) also merges +1 into key "c" of
 * this keyspace (the built-in counter operator); after a kill it must hold
 * exactly the number of recovered batches, across lives. */
#define KILL_COUNTER_KS "counter"

/* --writers N: N writer threads in the child besides the batch writer, each
 * putting its own keys into this keyspace (options of keyspace 0: large
 * values separated) with durability BUFFER, or SYNC_DATA one in eight.
 * Writer t's write number seq (1, 2, ... across lives) goes to key
 * "wTT-SSS", SSS = seq % KILL_WSLOTS, with the value kill_value_bytes(seed,
 * life, seq, t, ...) of length kill_writer_vlen(seed, life, t, seq). The
 * child reports each write once its commit returned ("W t seq synced"); the
 * parent checks that every acknowledged write of every thread survives and
 * that each thread's recovered writes are a prefix of its history. */
#define KILL_WRITERS_KS "writers"
#define KILL_MAX_WRITERS 32
#define KILL_WSLOTS 256u
#define KILL_WKEY_MAX 16

size_t kill_writer_key(uint32_t t, uint64_t seq, uint8_t *out);
uint32_t kill_writer_vlen(uint64_t seed, uint32_t life, uint32_t t, uint64_t seq);
int kill_writer_durability(uint64_t seed, uint32_t life, uint32_t t, uint64_t seq);

/* A hash of three numbers: the seed of a batch, a life's plan, ... */
uint64_t kill_mix3(uint64_t a, uint64_t b, uint64_t c);

/* Key bytes of index idx (at most KILL_KEY_MAX); monotonic in idx. */
size_t kill_key_bytes(uint32_t idx, uint8_t *out);
/* The index of a key of the workload: 0, or -1 when k is none. */
int kill_key_parse(const uint8_t *k, size_t n, uint32_t *idx);

/* The value of operation pos of batch id of `life` under key (vlen bytes). */
void kill_value_bytes(uint64_t seed, uint32_t life, uint64_t id, uint32_t pos, const uint8_t *key, size_t klen,
                      uint32_t vlen, uint8_t *out);
/* Checks a value's length and checksum and reads its header: 0, or -1. */
int kill_value_decode(const uint8_t *key, size_t klen, const uint8_t *v, size_t vlen, uint64_t *id, uint32_t *pos,
                      uint32_t *life);

/* Batch id of `life`. */
void kill_gen_batch(uint64_t seed, uint32_t life, uint64_t id, kbatch *b);
/* Applies a batch of `life` to the model. */
void kill_state_apply(kstate *s, const kbatch *b, uint32_t life);

/* The options of keyspace k (kill_ks_names[k]), as the child opens it. */
void kill_ks_options(tind_ks_options *ko, int k);

#endif
