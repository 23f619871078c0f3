/*
 * test_zdict.c -- zstd dictionaries (issue 14): tables of small values
 * written with a trained dictionary round-trip through every table read
 * path (iteration both ways, seeks, point reads, verify; with and without a
 * block cache), are format 3 with a "dict" section, and are smaller than
 * plain zstd; a table too small to train on goes without; every single-byte
 * flip of the dictionary section and every truncation is TIND_ECORRUPT;
 * the dictionary decoder refuses garbage and a wrong id; and through the
 * engine, a keyspace with dictionaries on its levels answers every public
 * read (get, contains, value_size, first, last, cursors both ways, seek,
 * prefix) like a model, before and after compaction and reopen, with
 * background threads on and off.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "db/db.h"
#include "format/blockio.h"
#include "format/compress.h"
#include "format/container.h"
#include "format/table.h"
#include "format/zdict.h"
#include "io/fs.h"
#include "util/coding.h"
#include "util/rand.h"

/* Small, similar values: what dictionaries are for. */
static size_t make_value(char *buf, size_t n, unsigned i)
{
    static const char *cities[] = {"Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Tbilisi", "Quito", "Hanoi"};
    return (size_t)snprintf(buf, n, "{\"id\":%u,\"city\":\"%s\",\"status\":\"%s\",\"score\":%u}", i,
                            cities[(i * 7) % 8], (i % 3) ? "active" : "suspended", (i * 2654435761u) % 1000);
}

static void make_key(char *buf, size_t n, unsigned i) { snprintf(buf, n, "user:%08u", i); }

static uint64_t write_table(fs *f, const char *path, unsigned count, int compression, uint32_t dict_bytes,
                            int partitioned, tbl_meta *meta)
{
    tbl_options o;
    tbl_options_default(&o);
    o.compression = compression;
    o.zstd_dict_bytes = dict_bytes;
    o.bloom_bits_per_key = 16; /* standard filters: the format is 2, or 3 with a dictionary (blocked ones make 4) */
    o.partition_index = o.partition_filter = partitioned;
    o.encode_threads = partitioned ? 2 : 0;   /* ignored with a dictionary: encoded in line */
    o.file_number = 9;
    o.table_id = 9;
    tbl_writer *w;
    tind_err err;
    CHECK_OK(tbl_writer_open(f, path, &o, &w, &err));
    char k[32], v[128];
    for (unsigned i = 0; i < count; i++) {
        make_key(k, sizeof k, i);
        size_t vn = make_value(v, sizeof v, i);
        CHECK_OK(tbl_writer_add(w, (const uint8_t *)k, strlen(k), 100 + i, ENTRY_VALUE, (const uint8_t *)v, vn,
                                &err));
    }
    CHECK_OK(tbl_writer_finish(w, 0, meta, &err));
    return meta->file_size;
}

static int read_all(tbl *t, unsigned count)
{
    tind_err err;
    tbl_iter *it;
    char k[32], v[128];
    int corrupt = 0;
    CHECK_OK(tbl_iter_new(t, &it));
    unsigned i = 0;
    for (tbl_iter_first(it); tbl_iter_valid(it); tbl_iter_next(it), i++) {
        size_t kn, vn;
        const uint8_t *kp = tbl_iter_key(it, &kn);
        const uint8_t *vp = tbl_iter_value(it, &vn);
        make_key(k, sizeof k, i);
        size_t want = make_value(v, sizeof v, i);
        CHECK(i < count);
        CHECK_MEM(kp, kn, k, strlen(k));
        CHECK_MEM(vp, vn, v, want);
    }
    int rc = tbl_iter_status(it, &err);
    if (rc) {
        CHECK_RC(rc, TIND_ECORRUPT);
        corrupt = 1;
    } else {
        CHECK_EQ(i, count);
    }
    for (tbl_iter_last(it); tbl_iter_valid(it); tbl_iter_prev(it)) {
        size_t kn;
        const uint8_t *kp = tbl_iter_key(it, &kn);
        CHECK(i > 0);
        make_key(k, sizeof k, --i);
        CHECK_MEM(kp, kn, k, strlen(k));
    }
    rc = tbl_iter_status(it, &err);
    if (rc) {
        CHECK_RC(rc, TIND_ECORRUPT);
        corrupt = 1;
    }
    for (unsigned j = 0; j < count; j += count / 50 + 1) {
        make_key(k, sizeof k, j);
        tbl_iter_seek(it, (const uint8_t *)k, strlen(k), SEQNO_MAX);
        if (tbl_iter_valid(it)) {
            size_t kn;
            const uint8_t *kp = tbl_iter_key(it, &kn);
            CHECK_MEM(kp, kn, k, strlen(k));
        } else {
            CHECK_RC(tbl_iter_status(it, &err), TIND_ECORRUPT);
            corrupt = 1;
        }
        uint8_t type;
        uint64_t seq;
        tbuf val = TBUF_INIT;
        rc = tbl_get(t, (const uint8_t *)k, strlen(k), SEQNO_MAX, 1, &type, &seq, &val, &err);
        if (rc == TIND_OK) {
            size_t want = make_value(v, sizeof v, j);
            CHECK_MEM(val.data, val.len, v, want);
            CHECK_EQ(seq, 100 + j);
        } else {
            CHECK_RC(rc, TIND_ECORRUPT);
            corrupt = 1;
        }
        tbuf_free(&val);
    }
    tbl_iter_free(it);
    rc = tbl_verify(t, &err);
    if (rc) {
        CHECK_RC(rc, TIND_ECORRUPT);
        corrupt = 1;
    }
    return corrupt;
}

static uint8_t *get_file(fs *f, const char *path, size_t *n)
{
    fs_file *file;
    uint64_t size;
    CHECK_OK(fs_open(f, path, FS_O_READ, &file, NULL));
    CHECK_OK(fs_size(file, &size, NULL));
    uint8_t *d = malloc(size ? size : 1);
    size_t got;
    CHECK_OK(fs_read(file, d, size, 0, &got, NULL));
    CHECK_EQ(got, size);
    CHECK_OK(fs_close(file, NULL));
    *n = size;
    return d;
}

static void put_file(fs *f, const char *path, const uint8_t *data, size_t n)
{
    fs_file *file;
    CHECK_OK(fs_open(f, path, FS_O_WRITE | FS_O_CREATE | FS_O_TRUNC, &file, NULL));
    if (n)
        CHECK_OK(fs_write(file, data, n, 0, NULL));
    CHECK_OK(fs_close(file, NULL));
}

TEST(table_round_trip)
{
    fs *f = fs_mem_new();
    const unsigned count = 20000;
    tbl_meta m;
    uint64_t lz4 = write_table(f, "/lz4.tbl", count, COMPRESSION_LZ4, 0, 0, &m);
    CHECK_EQ(m.format_version, 2);
    tbl_meta_free(&m);
    uint64_t zstd = write_table(f, "/zstd.tbl", count, COMPRESSION_ZSTD, 0, 0, &m);
    CHECK_EQ(m.format_version, 2);
    tbl_meta_free(&m);
    for (int part = 0; part <= 1; part++) {
        char path[32];
        snprintf(path, sizeof path, "/dict%d.tbl", part);
        uint64_t dict = write_table(f, path, count, COMPRESSION_ZSTD, 4096, part, &m);
        CHECK_EQ(m.format_version, 3);
        tbl_meta_free(&m);
        fprintf(stderr, "    %u entries of ~60 B: lz4 %llu B, zstd %llu B, zstd+4 KiB dictionary %llu B (%s)\n",
                count, (unsigned long long)lz4, (unsigned long long)zstd, (unsigned long long)dict,
                part ? "partitioned" : "whole");
        CHECK(dict < zstd);
        for (int cached = 0; cached <= 1; cached++) {
            cache *bc = cached ? cache_new(1 << 20, -1) : NULL;
            tbl_open_options oo = {bc, NULL, 9, 0};
            tbl *t;
            tind_err err;
            CHECK_OK(tbl_open(f, path, &oo, &t, &err));
            CHECK_EQ(read_all(t, count), 0);
            CHECK_EQ(read_all(t, count), 0);   /* again: from the cache */
            tbl_unref(t);
            cache_free(bc);
        }
    }
    /* too small to train on: no dictionary, format 2 */
    write_table(f, "/small.tbl", 20, COMPRESSION_ZSTD, 4096, 0, &m);
    CHECK_EQ(m.format_version, 2);
    tbl_meta_free(&m);
    /* a dictionary asked for under LZ4: ignored */
    write_table(f, "/lz4d.tbl", count, COMPRESSION_LZ4, 4096, 0, &m);
    CHECK_EQ(m.format_version, 2);
    tbl_meta_free(&m);
    fs_destroy(f);
}

TEST(dict_corruption)
{
    fs *f = fs_mem_new();
    const unsigned count = 8000;
    tbl_meta m;
    write_table(f, "/d.tbl", count, COMPRESSION_ZSTD, 2048, 0, &m);
    tbl_meta_free(&m);
    size_t n;
    uint8_t *good = get_file(f, "/d.tbl", &n);
    ctr_toc *toc = malloc(sizeof *toc);
    CHECK_OK(ctr_parse_toc(good, n, TABLE_FORMAT_VERSION, toc, "t", NULL));
    const ctr_section *s = ctr_find(toc, "dict");
    CHECK(s != NULL);
    uint64_t off = s->offset, len = s->length;
    free(toc);
    CHECK(len > 1000);
    uint8_t *bad = malloc(n);
    uint64_t flips = 0;
    static const uint8_t masks[] = {0x01, 0x80};
    for (uint64_t i = off; i < off + len; i++)
        for (size_t j = 0; j < sizeof masks; j++) {
            memcpy(bad, good, n);
            bad[i] ^= masks[j];
            put_file(f, "/d.tbl", bad, n);
            tbl *t;
            tind_err err;
            tbl_open_options oo = {NULL, NULL, 9, 0};
            int rc = tbl_open(f, "/d.tbl", &oo, &t, &err);
            if (rc == TIND_OK) {
                CHECK(read_all(t, count));   /* opened: the reads must say corrupt */
                tbl_unref(t);
            } else {
                CHECK_RC(rc, TIND_ECORRUPT);
                CHECK(strstr(err.msg, "table 9") != NULL);
            }
            flips++;
        }
    /* truncations across the dictionary and everything after it */
    for (uint64_t cut = off; cut < n; cut += 97) {
        put_file(f, "/d.tbl", good, (size_t)cut);
        tbl *t;
        tbl_open_options oo = {NULL, NULL, 9, 0};
        CHECK_RC(tbl_open(f, "/d.tbl", &oo, &t, NULL), TIND_ECORRUPT);
    }
    fprintf(stderr, "    %llu flips of a %llu-byte dictionary section: every one TIND_ECORRUPT\n",
            (unsigned long long)flips, (unsigned long long)len);

    /* the decoder itself: garbage, a wrong id, the right one */
    const uint8_t *dict = good + off + BLOCK_HEADER_SIZE;
    size_t dn = (size_t)len - BLOCK_HEADER_SIZE;
    uint32_t id = dec_u32(dict + 4);
    zdict *z;
    tind_err err;
    CHECK_OK(zdict_load(dict, dn, id, &z, "t", &err));
    zdict_free(z);
    CHECK_RC(zdict_load(dict, dn, id + 1, &z, "t", &err), TIND_ECORRUPT);
    CHECK(strstr(err.msg, "dictionary id") != NULL);
    CHECK_RC(zdict_load((const uint8_t *)"garbage!garbage!", 16, id, &z, "t", &err), TIND_ECORRUPT);
    CHECK_RC(zdict_load(dict, 7, id, &z, "t", &err), TIND_ECORRUPT);
    memcpy(bad, dict, dn);
    memset(bad + 8, 0xFF, 64);   /* entropy tables destroyed */
    CHECK_RC(zdict_load(bad, dn, id, &z, "t", &err), TIND_ECORRUPT);
    free(bad);
    free(good);
    fs_destroy(f);
}

/* ---------------------------------------------------------------- engine */

static tind_db *open_mem(fs *mem, int background)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, mem);
    tind_options_set_no_background(o, !background);
    tind_db *db;
    CHECK_OK(tind_open("/db", o, &db));
    tind_options_free(o);
    return db;
}

/* The model: key i holds version ver[i] (0 = absent). */
#define E_KEYS 3000

static void check_engine(tind_keyspace *ks, const unsigned *ver)
{
    char k[32], v[160];
    unsigned present = 0, first = E_KEYS, last = 0;
    for (unsigned i = 0; i < E_KEYS; i++) {
        make_key(k, sizeof k, i);
        void *got = NULL;
        size_t gn;
        uint64_t size;
        int rc = tind_get(ks, k, strlen(k), NULL, &got, &gn);
        if (ver[i]) {
            CHECK_OK(rc);
            size_t vn = make_value(v, sizeof v, i * 31 + ver[i]);
            CHECK_MEM(got, gn, v, vn);
            CHECK_OK(tind_contains(ks, k, strlen(k), NULL));
            CHECK_OK(tind_value_size(ks, k, strlen(k), NULL, &size));
            CHECK_EQ(size, vn);
            present++;
            if (first == E_KEYS)
                first = i;
            last = i;
        } else {
            CHECK_RC(rc, TIND_NOT_FOUND);
            CHECK_RC(tind_contains(ks, k, strlen(k), NULL), TIND_NOT_FOUND);
        }
        tind_free(got);
    }
    void *fk, *lk;
    size_t fn, ln;
    CHECK_OK(tind_first(ks, NULL, &fk, &fn, NULL, NULL));
    CHECK_OK(tind_last(ks, NULL, &lk, &ln, NULL, NULL));
    make_key(k, sizeof k, first);
    CHECK_MEM(fk, fn, k, strlen(k));
    make_key(k, sizeof k, last);
    CHECK_MEM(lk, ln, k, strlen(k));
    tind_free(fk);
    tind_free(lk);
    /* cursors: forward, backward, seek, prefix */
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
    unsigned seen = 0, i = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), seen++) {
        while (i < E_KEYS && !ver[i])
            i++;
        size_t kn, vn;
        const void *kp = tind_iter_key(it, &kn);
        const void *vp = tind_iter_value(it, &vn);
        make_key(k, sizeof k, i);
        CHECK_MEM(kp, kn, k, strlen(k));
        size_t wn = make_value(v, sizeof v, i * 31 + ver[i]);
        CHECK_MEM(vp, vn, v, wn);
        i++;
    }
    CHECK_OK(tind_iter_status(it));
    CHECK_EQ(seen, present);
    seen = 0;
    for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it))
        seen++;
    CHECK_OK(tind_iter_status(it));
    CHECK_EQ(seen, present);
    make_key(k, sizeof k, E_KEYS / 2);
    tind_iter_seek(it, k, strlen(k));
    unsigned j = E_KEYS / 2;
    while (j < E_KEYS && !ver[j])
        j++;
    if (j < E_KEYS) {
        CHECK(tind_iter_valid(it));
        size_t kn;
        const void *kp = tind_iter_key(it, &kn);
        make_key(k, sizeof k, j);
        CHECK_MEM(kp, kn, k, strlen(k));
    }
    tind_iter_free(it);
    CHECK_OK(tind_iter_prefix(ks, "user:0000", 9, NULL, &it));
    seen = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it))
        seen++;
    CHECK_OK(tind_iter_status(it));
    unsigned want = 0;
    for (unsigned q = 0; q < E_KEYS && q < 10000; q++)
        want += ver[q] != 0;
    CHECK_EQ(seen, want);
    tind_iter_free(it);
}

static void engine_case(int background)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem, background);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 64 << 10);
    tind_ks_options_set_table_size(ko, 128 << 10);
    tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_ZSTD, 3);
    tind_ks_options_set_zstd_dict(ko, -1, 2048);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "small", ko, &ks));
    static unsigned ver[E_KEYS];
    memset(ver, 0, sizeof ver);
    trng r;
    trng_seed(&r, check_seed + (uint64_t)background);
    char k[32], v[160];
    for (int round = 1; round <= 4; round++) {
        for (unsigned n = 0; n < 2 * E_KEYS; n++) {
            unsigned i = (unsigned)trng_below(&r, E_KEYS);
            make_key(k, sizeof k, i);
            if (trng_below(&r, 10) == 0) {
                CHECK_OK(tind_remove(ks, k, strlen(k)));
                ver[i] = 0;
            } else {
                ver[i] = (unsigned)round;
                size_t vn = make_value(v, sizeof v, i * 31 + ver[i]);
                CHECK_OK(tind_put(ks, k, strlen(k), v, vn));
            }
        }
        CHECK_OK(tind_flush(ks));
        check_engine(ks, ver);
    }
    CHECK_OK(tind_compact(ks));
    check_engine(ks, ver);
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK(st.disk_bytes > 0);
    CHECK_OK(tind_close(db));
    db = open_mem(mem, background);
    CHECK_OK(tind_keyspace_open(db, "small", NULL, &ks));
    check_engine(ks, ver);
    CHECK_OK(tind_close(db));
    tind_ks_options_free(ko);
    fs_destroy(mem);
}

TEST(engine_reads)
{
    engine_case(0);
    engine_case(1);
}

/* The only table of the keyspace: its level, number and compression. */
static void only_table(tind_db *db, tind_keyspace *ks, int *level, uint64_t *number, uint32_t *compression)
{
    mu_lock(&db->mu);
    version *v = ks->current;
    version_ref(v);
    mu_unlock(&db->mu);
    int found = 0;
    for (int l = 0; l < v->level_count; l++)
        for (size_t i = 0; i < v->levels[l].count; i++) {
            ver_table *vt = v->levels[l].tables[i];
            tbl *t;
            tind_err err;
            CHECK_OK(db_table_reader(db, vt, l, &t, &err));
            *level = l;
            *number = vt->number;
            *compression = tbl_get_meta(t)->compression;
            found++;
        }
    CHECK_EQ(found, 1);
    version_unref(v);
}

/* The trivial-move rule: a table moves to another level unchanged only
 * when both levels compress alike; else it is rewritten. */
TEST(move_rule)
{
    for (int alike = 0; alike <= 1; alike++) {
        fs *mem = fs_mem_new();
        tind_db *db = open_mem(mem, 0);
        tind_ks_options *ko = tind_ks_options_new();
        tind_ks_options_set_compression(ko, -1, TIND_COMPRESSION_ZSTD, 3);
        tind_ks_options_set_compression(ko, 0, alike ? TIND_COMPRESSION_ZSTD : TIND_COMPRESSION_LZ4, 3);
        tind_keyspace *ks;
        CHECK_OK(tind_keyspace_open(db, "m", ko, &ks));
        char k[32], v[160];
        for (unsigned i = 0; i < 500; i++) {
            make_key(k, sizeof k, i);
            size_t vn = make_value(v, sizeof v, i);
            CHECK_OK(tind_put(ks, k, strlen(k), v, vn));
        }
        CHECK_OK(tind_flush(ks));
        int level;
        uint64_t before, after;
        uint32_t comp;
        only_table(db, ks, &level, &before, &comp);
        CHECK_EQ(level, 0);
        CHECK_EQ(comp, alike ? TIND_COMPRESSION_ZSTD : TIND_COMPRESSION_LZ4);
        CHECK_OK(tind_compact(ks));
        only_table(db, ks, &level, &after, &comp);
        CHECK(level > 0);
        CHECK_EQ(comp, TIND_COMPRESSION_ZSTD);
        if (alike)
            CHECK_EQ(after, before);   /* moved: the same file */
        else
            CHECK(after != before);    /* rewritten in the target level's compression */
        for (unsigned i = 0; i < 500; i++) {
            make_key(k, sizeof k, i);
            void *got;
            size_t gn;
            CHECK_OK(tind_get(ks, k, strlen(k), NULL, &got, &gn));
            size_t vn = make_value(v, sizeof v, i);
            CHECK_MEM(got, gn, v, vn);
            tind_free(got);
        }
        tind_ks_options_free(ko);
        CHECK_OK(tind_close(db));
        fs_destroy(mem);
    }
}

TEST(options)
{
    fs *mem = fs_mem_new();
    tind_db *db = open_mem(mem, 0);
    tind_ks_options *ko = tind_ks_options_new();
    tind_keyspace *ks;
    tind_ks_options_set_zstd_dict(ko, 3, 100);
    CHECK_RC(tind_keyspace_open(db, "a", ko, &ks), TIND_EINVAL);
    tind_ks_options_set_zstd_dict(ko, 3, (1u << 20) + 1);
    CHECK_RC(tind_keyspace_open(db, "a", ko, &ks), TIND_EINVAL);
    tind_ks_options_set_zstd_dict(ko, 9, 4096);
    CHECK_RC(tind_keyspace_open(db, "a", ko, &ks), TIND_EINVAL);
    tind_ks_options_free(ko);
    CHECK_OK(tind_close(db));
    fs_destroy(mem);
}

int main(void)
{
    check_seed_init(14);
    RUN(table_round_trip);
    RUN(dict_corruption);
    RUN(engine_reads);
    RUN(move_rule);
    RUN(options);
    return 0;
}
