/*
 * kill_work.c -- the workload of the kill campaign (kill.h): keys, values,
 * batches as a pure function of (seed, life, id), the model they build, and
 * the keyspace options. The child writes it (kill_child.c); the parent
 * regenerates it to check a recovered database (kill.c).
 *
 * Thread-safety: pure functions and constant tables.
 */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "kill.h"
#include "tind_internal.h"

const char *const kill_ks_names[KILL_KS] = {"leveled", "tiered", "zstd-partitioned"};

uint64_t kill_mix3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = a ^ 0x5851f42d4c957f2dull;
    uint64_t h = trng_splitmix(&x);
    x = h ^ b;
    h = trng_splitmix(&x);
    x = h ^ c;
    return trng_splitmix(&x);
}

/* Key bytes of index idx; monotonic in idx, so key order = index order
 * (the marker, "!marker", sorts before every "k..." key). */
size_t kill_key_bytes(uint32_t idx, uint8_t *out)
{
    if (idx == KILL_MARKER) {
        memcpy(out, "!marker", 7);
        return 7;
    }
    int n = snprintf((char *)out, KILL_KEY_MAX, "k%06u", (unsigned)idx);
    if (idx % 11 == 3) { /* some longer keys */
        size_t tail = 8 + idx % 40;
        out[n++] = '/';
        memset(out + n, 'a' + (int)(idx % 26), tail);
        n += (int)tail;
    }
    return (size_t)n;
}

int kill_key_parse(const uint8_t *k, size_t n, uint32_t *idx)
{
    uint8_t buf[KILL_KEY_MAX];
    if (n == 7 && memcmp(k, "!marker", 7) == 0) {
        *idx = KILL_MARKER;
        return 0;
    }
    if (n < 7 || k[0] != 'k')
        return -1;
    uint32_t v;
    if (stress_digits(k + 1, 6, &v) != 0)
        return -1;
    if (v >= KILL_UNIVERSE || kill_key_bytes(v, buf) != n || memcmp(buf, k, n) != 0)
        return -1;
    *idx = v;
    return 0;
}

/* A value: u64 batch id | u32 position in the batch | u32 life | filler
 * (a compressible pattern) | u64 checksum (stress_seal). */
void kill_value_bytes(uint64_t seed, uint32_t life, uint64_t id, uint32_t pos, const uint8_t *key, size_t klen,
                      uint32_t vlen, uint8_t *out)
{
    enc_u64(out, id);
    enc_u32(out + 8, pos);
    enc_u32(out + 12, life);
    uint64_t pat = kill_mix3(seed, life, id * 1024 + pos);
    for (uint32_t i = 16; i < vlen - 8; i++)
        out[i] = (uint8_t)('a' + ((pat >> ((i % 8) * 8)) & 15));
    stress_seal(out, vlen, key, klen);
}

int kill_value_decode(const uint8_t *key, size_t klen, const uint8_t *v, size_t vlen, uint64_t *id, uint32_t *pos,
                      uint32_t *life)
{
    if (vlen < KILL_VAL_MIN || vlen > KILL_VAL_MAX)
        return -1;
    if (!stress_sealed(v, vlen, key, klen))
        return -1;
    *id = dec_u64(v);
    *pos = dec_u32(v + 8);
    *life = dec_u32(v + 12);
    return 0;
}

void kill_gen_batch(uint64_t seed, uint32_t life, uint64_t id, kbatch *b)
{
    trng r;
    trng_seed(&r, kill_mix3(seed, life, id));
    b->id = id;
    uint32_t n = 1 + (uint32_t)trng_below(&r, 12);
    if (trng_below(&r, 40) == 0)
        n = 40 + (uint32_t)trng_below(&r, KILL_MAX_OPS - 40 + 1);
    b->single = trng_below(&r, 12) == 0;
    if (b->single)
        n = 0;
    for (uint32_t i = 0; i < n; i++) {
        kop *o = &b->ops[i];
        o->ks = (uint8_t)trng_below(&r, KILL_KS);
        o->key = (uint32_t)(trng_below(&r, 2) ? trng_below(&r, 100) : trng_below(&r, KILL_UNIVERSE));
        o->tomb = trng_below(&r, 4) == 0;
        if (o->tomb && (o->key & 1))
            o->tomb = 2; /* a single delete (issue 13): whatever the key's history, it reads as a remove */
        o->vlen = o->tomb ? 0
                  : trng_below(&r, 30) == 0 ? 1000 + (uint32_t)trng_below(&r, 5000)
                                            : KILL_VAL_MIN + (uint32_t)trng_below(&r, 160);
        if (o->tomb && trng_below(&r, 16) == 0) {
            o->tomb = 3; /* a range deletion of keys [key, key + vlen) */
            o->vlen = 1 + (uint32_t)trng_below(&r, 50);
        }
    }
    b->ops[n] = (kop){0, 0, KILL_MARKER, KILL_VAL_MIN + (uint32_t)trng_below(&r, 40)};
    b->n = n + 1;
    uint64_t d = trng_below(&r, 100);
    b->durability = d < 50 ? TIND_PERSIST_NONE
                    : d < 62 ? TIND_PERSIST_BUFFER
                    : d < 85 ? TIND_PERSIST_SYNC_DATA
                             : TIND_PERSIST_SYNC_ALL;
    if (b->single)
        b->durability = TIND_PERSIST_NONE; /* tind_put: the database default */
    b->persist = trng_below(&r, 25) == 0 ? (trng_below(&r, 2) ? TIND_PERSIST_SYNC_DATA : TIND_PERSIST_SYNC_ALL) : 0;
    b->reopen = trng_below(&r, 400) == 0;
    /* from its own hash, so the batches above stay what they were */
    uint64_t t = kill_mix3(seed ^ 0x74786e, life, id) % 8;
    b->txn = b->single ? 0 : t < 1 ? 2 : t < 2 ? 1 : 0;
    for (uint32_t i = 0; i < b->n; i++)
        if (b->ops[i].tomb == 3)
            b->txn = 0; /* transactions refuse range deletions (TIND_ENOTSUP) */
    /* an ingestion (its own hash again): puts of distinct keys into keyspace
     * 0 (the first operation on a key kept), the marker last; synced */
    b->ingest = !b->single && !b->txn && kill_mix3(seed ^ 0x696e67, life, id) % 24 == 0;
    if (b->ingest) {
        uint32_t m = 0;
        for (uint32_t i = 0; i + 1 < b->n; i++) {
            kop o = b->ops[i];
            int dup = 0;
            for (uint32_t j = 0; j < m && !dup; j++)
                dup = b->ops[j].key == o.key;
            if (dup)
                continue;
            if (o.tomb)
                o.vlen = KILL_VAL_MIN + o.key % 160;
            o.ks = 0;
            o.tomb = 0;
            b->ops[m++] = o;
        }
        b->ops[m] = b->ops[b->n - 1];
        b->n = m + 1;
        b->durability = TIND_PERSIST_SYNC_ALL;
        b->persist = 0;
    }
}

void kill_state_apply(kstate *s, const kbatch *b, uint32_t life)
{
    if (!b->single && !b->txn && !b->ingest) /* transactions and ingestions carry no merge operand */
        s->merges++;
    for (uint32_t i = 0; i < b->n; i++) {
        const kop *o = &b->ops[i];
        if (o->tomb == 3) {
            for (uint32_t k = o->key; k < o->key + o->vlen && k < KILL_UNIVERSE; k++)
                s->cell[o->ks][k] = (kcell){b->id, i, life, 0, 0};
            continue;
        }
        s->cell[o->ks][o->key] = (kcell){b->id, i, life, o->vlen, (uint8_t)!o->tomb};
    }
}

void kill_ks_options(tind_ks_options *ko, int k)
{
    /* tiny: with ~2 KiB batches over three keyspaces, a memtable is sealed
     * (and a flush and a new journal started) every ~8 batches somewhere */
    tind_ks_options_set_memtable_size(ko, 16 * 1024);
    tind_ks_options_set_table_size(ko, 16 * 1024);
    tind_ks_options_set_l0_threshold(ko, 2);
    tind_ks_options_set_levels(ko, 4);
    tind_ks_options_set_level_ratio(ko, 4);
    tind_ks_options_set_block_size(ko, 1024);
    /* key-value separation (issue 11): the large values (1000..6000 bytes)
     * of "leveled" and most values of "tiered" go to blob files, small
     * files and an eager GC so that relocation runs under the kills */
    if (k < 2) {
        tind_ks_options_set_blob_separation(ko, 1, k == 0 ? 1000 : 100);
        tind_ks_options_set_blob_file_size(ko, 32 * 1024);
        tind_ks_options_set_blob_gc(ko, 0.25, k == 1 ? 0.25 : 0);
    }
    if (k == 1)
        tind_ks_options_set_compaction(ko, TIND_COMPACTION_TIERED);
    if (k == 2) {
        tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_ZSTD, 3);
        tind_ks_options_set_partitioning(ko, 1);
        tind_ks_options_set_bloom_bits(ko, 2, 0);
    }
}

size_t kill_writer_key(uint32_t t, uint64_t seq, uint8_t *out)
{
    char buf[KILL_WKEY_MAX];
    int n = snprintf(buf, sizeof buf, "w%02u-%03u", t, (unsigned)(seq % KILL_WSLOTS));
    memcpy(out, buf, (size_t)n);
    return (size_t)n;
}

uint32_t kill_writer_vlen(uint64_t seed, uint32_t life, uint32_t t, uint64_t seq)
{
    uint64_t h = kill_mix3(seed ^ 0x77717, life, ((uint64_t)t << 48) ^ seq);
    /* one in four large (separated into blob files), else small */
    return h % 4 == 0 ? 1000 + (uint32_t)((h >> 8) % 5000) : KILL_VAL_MIN + (uint32_t)((h >> 8) % 400);
}

int kill_writer_durability(uint64_t seed, uint32_t life, uint32_t t, uint64_t seq)
{
    uint64_t h = kill_mix3(seed ^ 0xd0ab1e, life, ((uint64_t)t << 48) ^ seq);
    return h % 8 == 0 ? TIND_PERSIST_SYNC_DATA : TIND_PERSIST_BUFFER;
}
