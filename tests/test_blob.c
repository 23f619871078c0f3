/*
 * test_blob.c -- key-value separation (issue 11): blob files, pointers,
 * lazy values, garbage collection, damage. TSAN-LABEL: the GC run with
 * background threads also runs under ThreadSanitizer.
 *
 *   file_roundtrip      blob writer/reader: every codec, pointers checked,
 *                       a wrong pointer or a flipped byte is TIND_ECORRUPT,
 *                       blob_check_bytes and blob_walk agree
 *   separated_reads     large values go to blob files at flush, small ones
 *                       stay; get / contains / value_size / first / last /
 *                       iterators both ways return the right bytes; reopen
 *   lazy_walk           a key walk with value sizes, contains and value_size
 *                       load no blob (the keyspace's blob_reads stays 0);
 *                       tind_iter_value loads one each
 *   blob_cache          by default values read from blob files are cached
 *                       nowhere (neither the block cache nor a blob cache:
 *                       every read reads the file); with
 *                       tind_options_set_blob_cache_size they are cached
 *                       apart from the block cache, a second read hits,
 *                       an iterator with fill_cache 0 leaves no entry,
 *                       the charge stays within the capacity, and
 *                       tind_db_stats_get reports it in memory_bytes
 *   snapshots           a snapshot keeps reading overwritten blob values
 *                       through flushes, compactions and GC
 *   gc_bounded          N rounds overwriting every key: the blob bytes on
 *                       disk stay <= live bytes / (1 - ratio) + one round's,
 *                       with background threads off (stepped) and on
 *   damaged             a flipped byte in a blob file: get fails with
 *                       TIND_ECORRUPT naming the file and offset; a missing
 *                       blob file: open fails with TIND_ECORRUPT
 *   crash               power loss after SYNC writes of large values:
 *                       every synced value is back
 *   options             invalid blob options are TIND_EINVAL; separation
 *                       off keeps values in the tables
 *   versions_and_version_file  blob references checked, unreferenced blob
 *                       files dropped, garbage summed and clamped, the
 *                       version file round-trips it byte for byte
 *   gc_files_greedy     the GC ratio bounds the keyspace's counted garbage,
 *                       the files with the most garbage per byte cover the
 *                       excess (fails on the per-file rule); the age cutoff
 *                       adds the oldest files with garbage
 *   stored_options      keyspace options version 1 and prefix-only version 2 read
 *                       with separation off; version 2 round-trips
 */
#include <string.h>

#include "blob/blob.h"
#include "check.h"
#include "compaction/blobsep.h"
#include "db/db.h"
#include "format/compress.h"
#include "io/fs.h"
#include "tind_internal.h"

static int open_on(fs *f, int background, tind_db **db)
{
    tind_options *o = tind_options_new();
    tind_options_set_fs(o, f);
    tind_options_set_no_background(o, !background);
    tind_options_set_cache_size(o, 1 << 20);
    int rc = tind_open("/db", o, db);
    tind_options_free(o);
    return rc;
}

static tind_keyspace *open_ks(tind_db *db, uint64_t threshold, double gc_ratio)
{
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 256 << 10);
    tind_ks_options_set_table_size(ko, 64 << 10);
    tind_ks_options_set_blob_separation(ko, 1, threshold);
    tind_ks_options_set_blob_file_size(ko, 256 << 10);
    tind_ks_options_set_blob_gc(ko, gc_ratio, 0);
    /* raw blobs: the byte bounds below count record sizes exactly */
    tind_ks_options_set_blob_compression(ko, TIND_COMPRESSION_NONE, 0);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "b", ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

/* Value of key i in round r: n bytes, recognisable. */
static size_t make_value(uint8_t *buf, int i, int r, size_t n)
{
    for (size_t j = 0; j < n; j++)
        buf[j] = (uint8_t)(i * 31 + r * 7 + j * 13 + (j >> 8));
    return n;
}

static size_t value_len(int i) { return i % 3 == 0 ? 40 : 1000 + (size_t)(i % 7) * 500; }

static void put_all(tind_keyspace *ks, int n, int round)
{
    uint8_t v[5000];
    char k[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "key%05d", i);
        size_t vn = make_value(v, i, round, value_len(i));
        CHECK_OK(tind_put(ks, k, strlen(k), v, vn));
    }
}

static void check_all(tind_keyspace *ks, int n, int round, const tind_read_options *ro)
{
    uint8_t want[5000];
    char k[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "key%05d", i);
        size_t wn = make_value(want, i, round, value_len(i));
        void *v;
        size_t vn;
        CHECK_OK(tind_get(ks, k, strlen(k), ro, &v, &vn));
        CHECK_MEM(v, vn, want, wn);
        tind_free(v);
        uint64_t size;
        CHECK_OK(tind_value_size(ks, k, strlen(k), ro, &size));
        CHECK_EQ(size, wn);
    }
}

/* Reopens the database on f (threads off) and checks round `round` of n keys. */
static void reopen_and_check(fs *f, double gc_ratio, int n, int round)
{
    tind_db *db;
    CHECK_OK(open_on(f, 0, &db));
    tind_keyspace *ks = open_ks(db, 512, gc_ratio);
    check_all(ks, n, round, NULL);
    CHECK_OK(tind_close(db));
}

static void drain(tind_db *db)
{
    int rc;
    while ((rc = tind_internal_background_step(db)) > 0)
        ;
    CHECK_EQ(rc, 0);
}

TEST(file_roundtrip)
{
    fs *f = fs_mem_new();
    CHECK_OK(fs_mkdir(f, "/d", NULL));
    static const int codecs[3] = {COMPRESSION_NONE, COMPRESSION_LZ4, COMPRESSION_ZSTD};
    for (int c = 0; c < 3; c++) {
        char path[64];
        snprintf(path, sizeof path, "/d/%08d.blob", c + 5);
        blob_writer *w;
        CHECK_OK(blob_writer_open(f, path, (uint64_t)c + 5, codecs[c], 0, &w, NULL));
        blob_ptr ptrs[50];
        uint8_t v[3000];
        for (int i = 0; i < 50; i++) {
            size_t n = (size_t)(i * 61) % 3000;
            make_value(v, i, c, n);
            if (i % 2)
                memset(v, 'a', n); /* compressible */
            CHECK_OK(blob_writer_add(w, v, n, &ptrs[i], NULL));
            uint8_t enc[BLOB_POINTER_MAX];
            blob_ptr back;
            size_t en = blob_ptr_encode(&ptrs[i], enc);
            CHECK_OK(blob_ptr_decode(enc, en, &back));
            CHECK(memcmp(&back, &ptrs[i], sizeof back) == 0);
            CHECK_RC(blob_ptr_decode(enc, en - 1, &back), TIND_ECORRUPT);
        }
        blob_file_meta m;
        CHECK_OK(blob_writer_finish(w, FS_SYNC_DATA, &m, NULL));
        CHECK_EQ(m.count, 50);
        blob_reader *r;
        CHECK_RC(blob_reader_open(f, path, (uint64_t)c + 6, NULL, NULL, &r, NULL), TIND_ECORRUPT);
        cache *bc = cache_new(1 << 20, 0);
        CHECK_OK(blob_reader_open(f, path, (uint64_t)c + 5, NULL, bc, &r, NULL));
        tbuf out = TBUF_INIT;
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < 50; i++) {
                size_t n = (size_t)(i * 61) % 3000;
                make_value(v, i, c, n);
                if (i % 2)
                    memset(v, 'a', n);
                CHECK_OK(blob_read(r, &ptrs[i], 1, &out, NULL));
                CHECK_MEM(out.data, out.len, v, n);
            }
        CHECK_EQ(blob_reader_disk_reads(r), 50); /* the second pass hit the cache */
        blob_ptr bad = ptrs[3];
        bad.offset = ptrs[4].offset;
        tind_err err;
        CHECK_RC(blob_read(r, &bad, 0, &out, &err), TIND_ECORRUPT);
        CHECK(strstr(err.msg, path) != NULL);
        bad = ptrs[3];
        bad.file = 99;
        CHECK_RC(blob_read(r, &bad, 0, &out, NULL), TIND_ECORRUPT);
        CHECK_OK(blob_walk(r, NULL, NULL, NULL));
        blob_reader_free(r);
        cache_free(bc);

        uint8_t *bytes;
        size_t len;
        CHECK_OK(fs_read_all(f, path, &bytes, &len, NULL));
        CHECK_OK(blob_check_bytes(bytes, len, (uint64_t)c + 5, NULL));
        bytes[ptrs[10].offset + 12] ^= 0x20; /* a payload byte of record 10 */
        CHECK_RC(blob_check_bytes(bytes, len, (uint64_t)c + 5, NULL), TIND_ECORRUPT);
        fs_file *fw;
        CHECK_OK(fs_open(f, path, FS_O_WRITE, &fw, NULL));
        CHECK_OK(fs_write(fw, bytes + ptrs[10].offset + 12, 1, ptrs[10].offset + 12, NULL));
        fs_close(fw, NULL);
        free(bytes);
        CHECK_OK(blob_reader_open(f, path, (uint64_t)c + 5, NULL, NULL, &r, NULL));
        CHECK_RC(blob_read(r, &ptrs[10], 0, &out, &err), TIND_ECORRUPT);
        CHECK(strstr(err.msg, "offset") != NULL);
        CHECK_OK(blob_read(r, &ptrs[11], 0, &out, NULL));
        CHECK_RC(blob_walk(r, NULL, NULL, NULL), TIND_ECORRUPT);
        blob_reader_free(r);
        tbuf_free(&out);
    }
    fs_destroy(f);
}

TEST(separated_reads)
{
    fs *f = fs_mem_new();
    tind_db *db;
    CHECK_OK(open_on(f, 0, &db));
    tind_keyspace *ks = open_ks(db, 512, 0.5);
    put_all(ks, 300, 0);
    check_all(ks, 300, 0, NULL); /* from the memtable */
    CHECK_OK(tind_flush(ks));
    CHECK(check_count_blob_files(f) >= 1);
    check_all(ks, 300, 0, NULL);
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK(st.blob_files >= 1);
    CHECK(st.blob_bytes > 200 * 1000);
    CHECK(st.blob_reads >= 200);
    CHECK_OK(tind_compact(ks));
    check_all(ks, 300, 0, NULL);
    /* iterators, both ways */
    tind_iter *it;
    CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, NULL, &it));
    int i = 0;
    uint8_t want[5000];
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), i++) {
        size_t vn, wn = make_value(want, i, 0, value_len(i));
        const void *v = tind_iter_value(it, &vn);
        CHECK_MEM(v, vn, want, wn);
        CHECK_EQ(tind_iter_value_size(it), wn);
    }
    CHECK_EQ(i, 300);
    for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it)) {
        i--;
        size_t vn, wn = make_value(want, i, 0, value_len(i));
        CHECK_EQ(tind_iter_value_size(it), wn);
        const void *v = tind_iter_value(it, &vn);
        CHECK_MEM(v, vn, want, wn);
    }
    CHECK_EQ(i, 0);
    CHECK_OK(tind_iter_status(it));
    tind_iter_free(it);
    void *k, *v;
    size_t kn, vn;
    CHECK_OK(tind_last(ks, NULL, &k, &kn, &v, &vn));
    size_t wn = make_value(want, 299, 0, value_len(299));
    CHECK_MEM(v, vn, want, wn);
    tind_free(k);
    tind_free(v);
    CHECK_OK(tind_close(db));
    reopen_and_check(f, 0.5, 300, 0);
    fs_destroy(f);
}

TEST(lazy_walk)
{
    fs *f = fs_mem_new();
    tind_db *db;
    CHECK_OK(open_on(f, 0, &db));
    tind_keyspace *ks = open_ks(db, 512, 0.5);
    put_all(ks, 300, 1);
    CHECK_OK(tind_compact(ks));
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK_EQ(st.blob_reads, 0);
    tind_iter *it;
    CHECK_OK(tind_iter_prefix(ks, "key", 3, NULL, &it));
    uint64_t total = 0;
    int n = 0;
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), n++) {
        size_t kn;
        const void *k = tind_iter_key(it, &kn);
        total += tind_iter_value_size(it);
        CHECK_OK(tind_contains(ks, k, kn, NULL));
        uint64_t size;
        CHECK_OK(tind_value_size(ks, k, kn, NULL, &size));
        CHECK_EQ(size, value_len(n));
    }
    for (tind_iter_last(it); tind_iter_valid(it); tind_iter_prev(it))
        total -= tind_iter_value_size(it);
    CHECK_EQ(n, 300);
    CHECK_EQ(total, 0);
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK_EQ(st.blob_reads, 0);
    /* the value itself, on demand */
    tind_iter_seek(it, "key00001", 8);
    size_t vn;
    CHECK(tind_iter_value(it, &vn) != NULL);
    CHECK_EQ(vn, value_len(1));
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK_EQ(st.blob_reads, 1);
    tind_iter_free(it);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

/* The separated values of put_all(ks, 300, r) (value_len >= 1000): 200,
 * their bytes in *bytes. */
static int separated_values(uint64_t *bytes)
{
    int n = 0;
    *bytes = 0;
    for (int i = 0; i < 300; i++)
        if (value_len(i) >= 512) {
            n++;
            *bytes += value_len(i);
        }
    return n;
}

TEST(blob_cache)
{
    uint64_t vbytes;
    int nsep = separated_values(&vbytes);
    CHECK_EQ(nsep, 200);
    for (int with = 0; with < 2; with++) {
        fs *f = fs_mem_new();
        tind_options *o = tind_options_new();
        tind_options_set_fs(o, f);
        tind_options_set_no_background(o, 1);
        tind_options_set_cache_size(o, 4 << 20);   /* room for every value, were they cached there */
        if (with)
            tind_options_set_blob_cache_size(o, 2 << 20);
        tind_db *db;
        CHECK_OK(tind_open("/db", o, &db));
        tind_options_free(o);
        tind_keyspace *ks = open_ks(db, 512, 0.5);
        put_all(ks, 300, 0);
        CHECK_OK(tind_flush(ks));
        /* an iterator that does not fill the cache leaves no entry */
        tind_read_options *ro = tind_read_options_new();
        tind_read_options_set_fill_cache(ro, 0);
        tind_iter *it;
        CHECK_OK(tind_iter_range(ks, NULL, 0, NULL, 0, ro, &it));
        int n = 0;
        uint8_t want[5000];
        for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it), n++) {
            size_t vn, wn = make_value(want, n, 0, value_len(n));
            const void *v = tind_iter_value(it, &vn);
            CHECK_MEM(v, vn, want, wn);
        }
        CHECK_EQ(n, 300);
        CHECK_OK(tind_iter_status(it));
        tind_iter_free(it);
        /* nor do point reads: no value, no data block (the iterator read the
         * index blocks, which are cached either way) */
        tind_db_stats s;
        CHECK_OK(tind_db_stats_get(db, &s));
        uint64_t before = s.cache_usage;
        check_all(ks, 300, 0, ro);
        CHECK_OK(tind_db_stats_get(db, &s));
        CHECK_EQ(s.cache_usage, before);
        tind_read_options_free(ro);
        CHECK_OK(tind_db_stats_get(db, &s));
        CHECK_EQ(s.blob_cache_entries, 0);
        check_all(ks, 300, 0, NULL);
        check_all(ks, 300, 0, NULL);
        CHECK_OK(tind_db_stats_get(db, &s));
        /* the block cache holds the tables' blocks, never the values */
        CHECK(s.cache_usage < vbytes / 4);
        CHECK_EQ(s.memory_bytes, s.cache_usage + s.blob_cache_usage + s.memtable_bytes + s.memtable_filter_bytes +
                                     s.table_reader_bytes + s.journal_buffer_bytes + s.memtable_spare_bytes +
                                     s.memtable_held_bytes);
        if (!with) {
            CHECK_EQ(s.blob_cache_capacity, 0);
            CHECK_EQ(s.blob_cache_usage, 0);
            CHECK_EQ(s.blob_cache_entries, 0);
            CHECK_EQ(s.blob_cache_hits + s.blob_cache_misses, 0);
        } else {
            CHECK_EQ(s.blob_cache_capacity, 2 << 20);
            CHECK_EQ(s.blob_cache_entries, (uint64_t)nsep);
            CHECK(s.blob_cache_usage >= vbytes && s.blob_cache_usage <= s.blob_cache_capacity);
            CHECK_EQ(s.blob_cache_misses, 3 * (uint64_t)nsep); /* the unfilled walk and gets, the first pass */
            CHECK_EQ(s.blob_cache_hits, (uint64_t)nsep);       /* the second */
        }
        CHECK_OK(tind_close(db));
        fs_destroy(f);
    }
}

TEST(snapshots)
{
    fs *f = fs_mem_new();
    tind_db *db;
    CHECK_OK(open_on(f, 0, &db));
    tind_keyspace *ks = open_ks(db, 512, 0.1);
    put_all(ks, 200, 0);
    CHECK_OK(tind_flush(ks));
    tind_snapshot *s;
    CHECK_OK(tind_snapshot_new(db, &s));
    tind_read_options *ro = tind_read_options_new();
    tind_read_options_set_snapshot(ro, s);
    for (int r = 1; r <= 3; r++) {
        put_all(ks, 200, r);
        CHECK_OK(tind_compact(ks));
        drain(db);
        check_all(ks, 200, 0, ro);
        check_all(ks, 200, r, NULL);
    }
    tind_read_options_free(ro);
    tind_snapshot_free(s);
    CHECK_OK(tind_compact(ks));
    drain(db);
    check_all(ks, 200, 3, NULL);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

/* Blob bytes stay bounded under overwrites: the live values' record bytes
 * over (1 - ratio), plus what one round writes before GC can follow. */
static void gc_bounded(int background)
{
    fs *f = fs_mem_new();
    tind_db *db;
    CHECK_OK(open_on(f, background, &db));
    const double ratio = 0.25;
    tind_keyspace *ks = open_ks(db, 512, ratio);
    const int n = 300, rounds = 12;
    uint64_t live = 0;
    for (int i = 0; i < n; i++)
        if (value_len(i) >= 512)
            live += value_len(i) + BLOB_RECORD_OVERHEAD;
    uint64_t peak = 0;
    tind_ks_stats st;
    for (int r = 0; r < rounds; r++) {
        put_all(ks, n, r);
        CHECK_OK(tind_flush(ks));
        if (background) {
            CHECK_OK(tind_compact(ks));
        } else {
            CHECK_OK(tind_compact(ks));
            drain(db);
        }
        CHECK_OK(tind_ks_stats_get(ks, &st));
        if (r >= 2 && st.blob_bytes > peak)
            peak = st.blob_bytes;
    }
    /* let the GC the last compaction asked for finish */
    if (background) {
        for (int t = 0; t < 200; t++) {
            CHECK_OK(tind_ks_stats_get(ks, &st));
            if ((double)st.blob_garbage_bytes < ratio * (double)st.blob_bytes)
                break;
            CHECK_OK(tind_compact(ks));
        }
    } else {
        drain(db);
    }
    CHECK_OK(tind_ks_stats_get(ks, &st));
    uint64_t bound = (uint64_t)((double)live / (1 - ratio)) + live + 4096;
    if (peak > bound || st.blob_bytes > bound)
        fprintf(stderr, "    live %llu peak %llu now %llu garbage %llu bound %llu\n", (unsigned long long)live,
                (unsigned long long)peak, (unsigned long long)st.blob_bytes,
                (unsigned long long)st.blob_garbage_bytes, (unsigned long long)bound);
    CHECK(peak <= bound);
    CHECK(st.blob_bytes <= (uint64_t)((double)live / (1 - ratio)) + 4096);
    if (!background)
        CHECK(check_count_blob_files(f) == st.blob_files); /* files deleted once unreferenced */
    check_all(ks, n, rounds - 1, NULL);
    CHECK_OK(tind_close(db));
    CHECK_OK(open_on(f, 0, &db));
    ks = open_ks(db, 512, ratio);
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK(check_count_blob_files(f) == st.blob_files);
    check_all(ks, n, rounds - 1, NULL);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

TEST(gc_bounded_stepped) { gc_bounded(0); }
TEST(gc_bounded_background) { gc_bounded(1); }

TEST(damaged)
{
    fs *f = fs_mem_new();
    tind_db *db;
    CHECK_OK(open_on(f, 0, &db));
    tind_keyspace *ks = open_ks(db, 512, 0.5);
    put_all(ks, 50, 0);
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_close(db));
    char **names = NULL;
    size_t count = 0;
    char path[128] = "";
    CHECK_OK(fs_list(f, "/db/tables", &names, &count, NULL));
    for (size_t i = 0; i < count; i++) {
        uint64_t num;
        if (fname_parse(names[i], &num) == FNAME_KIND_BLOB)
            snprintf(path, sizeof path, "/db/tables/%s", names[i]);
    }
    fs_list_free(names, count);
    CHECK(path[0]);
    /* flip a byte inside the first record's payload */
    fs_file *fw;
    CHECK_OK(fs_open(f, path, FS_O_READ | FS_O_WRITE, &fw, NULL));
    uint8_t b;
    CHECK_OK(fs_read_exact(fw, &b, 1, 20, NULL));
    b ^= 1;
    CHECK_OK(fs_write(fw, &b, 1, 20, NULL));
    fs_close(fw, NULL);
    CHECK_OK(open_on(f, 0, &db));
    ks = open_ks(db, 512, 0.5);
    int corrupt = 0;
    for (int i = 0; i < 50; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%05d", i);
        void *v;
        size_t vn;
        int rc = tind_get(ks, k, strlen(k), NULL, &v, &vn);
        if (rc == TIND_ECORRUPT) {
            corrupt++;
            CHECK(strstr(tind_errmsg(db), path) != NULL);
            CHECK(strstr(tind_errmsg(db), "offset") != NULL);
        } else {
            CHECK_OK(rc);
            uint8_t want[5000];
            size_t wn = make_value(want, i, 0, value_len(i));
            CHECK_MEM(v, vn, want, wn);
            tind_free(v);
        }
    }
    CHECK_EQ(corrupt, 1);
    CHECK_OK(tind_close(db));
    CHECK_OK(fs_unlink(f, path, NULL));
    CHECK_RC(open_on(f, 0, &db), TIND_ECORRUPT);
    CHECK(strstr(tind_errmsg(NULL), path) != NULL);
    fs_destroy(f);
}

TEST(crash)
{
    for (int mode = 0; mode < 2; mode++) {
        fs *f = fs_mem_new();
        tind_db *db;
        CHECK_OK(open_on(f, mode, &db));
        tind_keyspace *ks = open_ks(db, 512, 0.25);
        for (int r = 0; r < 3; r++) {
            put_all(ks, 150, r);
            if (r < 2)
                CHECK_OK(tind_compact(ks));
        }
        CHECK_OK(tind_persist(db, TIND_PERSIST_SYNC_ALL));
        CHECK_OK(fs_mem_crash(f, FS_CRASH_DROP_UNSYNCED | FS_CRASH_DROP_DIRENTS, check_seed + (uint64_t)mode));
        /* the crashed handle is abandoned: its fs state is gone; leak-free close */
        tind_close(db);
        reopen_and_check(f, 0.25, 150, 2);
        fs_destroy(f);
    }
}

TEST(options)
{
    fs *f = fs_mem_new();
    tind_db *db;
    CHECK_OK(open_on(f, 0, &db));
    tind_ks_options *ko = tind_ks_options_new();
    tind_keyspace *ks;
    tind_ks_options_set_blob_separation(ko, 1, 0);
    CHECK_RC(tind_keyspace_open(db, "x", ko, &ks), TIND_EINVAL);
    tind_ks_options_set_blob_separation(ko, 1, 100);
    tind_ks_options_set_blob_gc(ko, 0, 0);
    CHECK_RC(tind_keyspace_open(db, "x", ko, &ks), TIND_EINVAL);
    tind_ks_options_set_blob_gc(ko, 0.5, 1.5);
    CHECK_RC(tind_keyspace_open(db, "x", ko, &ks), TIND_EINVAL);
    tind_ks_options_set_blob_gc(ko, 0.5, 0.5);
    tind_ks_options_set_blob_compression(ko, 7, 0);
    CHECK_RC(tind_keyspace_open(db, "x", ko, &ks), TIND_EINVAL);
    tind_ks_options_set_blob_compression(ko, TIND_COMPRESSION_ZSTD, 3);
    tind_ks_options_set_blob_file_size(ko, 100);
    CHECK_RC(tind_keyspace_open(db, "x", ko, &ks), TIND_EINVAL);
    tind_ks_options_set_blob_file_size(ko, 1 << 20);
    CHECK_OK(tind_keyspace_open(db, "x", ko, &ks));
    put_all(ks, 100, 0);
    CHECK_OK(tind_flush(ks));
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK_EQ(st.blob_files, 1);
    check_all(ks, 100, 0, NULL);
    /* separation off: no blob file */
    tind_ks_options_set_blob_separation(ko, 0, 100);
    CHECK_OK(tind_keyspace_open(db, "y", ko, &ks));
    put_all(ks, 100, 0);
    CHECK_OK(tind_flush(ks));
    CHECK_OK(tind_ks_stats_get(ks, &st));
    CHECK_EQ(st.blob_files, 0);
    check_all(ks, 100, 0, NULL);
    tind_ks_options_set_blob_separation(NULL, 1, 1); /* ignored */
    tind_ks_options_free(ko);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

/* The version's blob step and the version file's blob entries: a table's
 * references must name blob files of the version; files nothing references
 * leave it; garbage adds up (clamped); encode / decode round-trips them;
 * the decoder refuses garbage beyond a file's bytes. */
TEST(versions_and_version_file)
{
    version *v0 = version_new_empty(3, 4);
    ver_table *t = ver_table_new(10, 1000, 5, 0, 1, 5, 0, (const uint8_t *)"a", 1, (const uint8_t *)"m", 1);
    uint64_t refs[3] = {8, 7, 8};
    CHECK_OK(ver_table_set_blob_refs(t, refs, 3));
    CHECK_EQ(t->blob_ref_count, 2);
    CHECK_EQ(t->blob_refs[0], 7);
    ver_blob *b7 = ver_blob_new(7, 5000, 10, 4000, 1), *b8 = ver_blob_new(8, 3000, 4, 2000, 2),
             *b9 = ver_blob_new(9, 100, 1, 50, 3);
    /* a reference to a blob file the version does not hold */
    ver_edit e;
    ver_edit_init(&e);
    CHECK_OK(ver_edit_add(&e, 0, t));
    CHECK_OK(ver_edit_add_blob(&e, b7));
    version *v1 = NULL;
    tind_err err;
    CHECK_RC(version_apply(v0, &e, &v1, &err), TIND_EINVAL);
    CHECK(strstr(err.msg, "blob file 8") != NULL);
    /* with both, plus one nothing references (dropped), plus garbage */
    CHECK_OK(ver_edit_add_blob(&e, b8));
    CHECK_OK(ver_edit_add_blob(&e, b9));
    CHECK_OK(ver_edit_add_garbage(&e, 7, 3, 1500));
    CHECK_OK(ver_edit_add_garbage(&e, 7, 2, 1000));
    CHECK_OK(ver_edit_add_garbage(&e, 8, 99, 99999)); /* clamped to the file */
    CHECK_OK(version_apply(v0, &e, &v1, NULL));
    ver_edit_free(&e);
    CHECK_EQ(v1->blob_count, 2);
    CHECK(version_find_blob(v1, 9) == NULL);
    CHECK_EQ(version_find_blob(v1, 7)->garbage_bytes, 2500);
    CHECK_EQ(version_find_blob(v1, 7)->garbage_count, 5);
    CHECK_EQ(version_find_blob(v1, 8)->garbage_bytes, 2000);
    CHECK_EQ(version_find_blob(v1, 8)->garbage_count, 4);
    /* the version file keeps all of it */
    mf_state st;
    memset(&st, 0, sizeof st);
    mf_keyspace ks = {3, (char *)"blobby", 6, (uint8_t *)"", 0, 0, v1};
    st.next_file_number = 20;
    st.next_keyspace_id = 4;
    st.next_seqno = 6;
    st.last_seqno = 5;
    st.keyspaces = &ks;
    st.keyspace_count = 1;
    tbuf b = TBUF_INIT;
    CHECK_OK(manifest_encode(&st, &b, NULL));
    mf_state back;
    CHECK_OK(manifest_decode(b.data, b.len, &back, NULL));
    const version *v2 = back.keyspaces[0].v;
    CHECK_EQ(v2->blob_count, 2);
    CHECK_EQ(v2->levels[0].tables[0]->blob_ref_count, 2);
    CHECK_EQ(v2->levels[0].tables[0]->blob_refs[1], 8);
    const ver_blob_entry *x = version_find_blob(v2, 7);
    CHECK(x && x->file->size == 5000 && x->file->count == 10 && x->file->bytes == 4000 &&
          x->file->created_unix == 1 && x->garbage_bytes == 2500 && x->garbage_count == 5);
    tbuf again = TBUF_INIT;
    CHECK_OK(manifest_encode(&back, &again, NULL));
    CHECK_MEM(again.data, again.len, b.data, b.len);
    mf_state_free(&back);
    /* a blob file number at or past next_file_number is refused when written */
    st.next_file_number = 8;
    tbuf_reset(&again);
    CHECK_RC(manifest_encode(&st, &again, &err), TIND_EINVAL);
    tbuf_free(&again);
    tbuf_free(&b);
    ver_table_unref(t);
    ver_blob_unref(b7);
    ver_blob_unref(b8);
    ver_blob_unref(b9);
    version_unref(v1);
    version_unref(v0);
}

/* blob_gc_files' greedy rule over a version of four 1,000-byte blob files
 * with garbage ratios 0.6, 0.3, 0.1, 0 (1,000 garbage bytes of 4,000): the
 * ratio bounds the counted garbage of the whole keyspace, and the excess is
 * taken from the files with the most garbage per byte. The old per-file
 * rule picked every file at or past the ratio (0.25: files 1 and 2). */
static size_t gc_pick(const version *v, double ratio, double age_cutoff, int age, uint64_t *out)
{
    cmp_blob_options o;
    memset(&o, 0, sizeof o);
    o.gc_ratio = ratio;
    o.gc_age_cutoff = age_cutoff;
    uint64_t *numbers = NULL;
    size_t n = 0;
    CHECK_OK(blob_gc_files(v, &o, age, &numbers, &n));
    CHECK(n <= 4);
    for (size_t i = 0; i < n; i++) {
        out[i] = numbers[i];
        if (i)
            CHECK(numbers[i] > numbers[i - 1]); /* ascending */
    }
    free(numbers);
    return n;
}

TEST(gc_files_greedy)
{
    version *v0 = version_new_empty(3, 4);
    ver_table *t = ver_table_new(10, 1000, 5, 0, 1, 5, 0, (const uint8_t *)"a", 1, (const uint8_t *)"m", 1);
    uint64_t refs[4] = {4, 3, 2, 1};
    CHECK_OK(ver_table_set_blob_refs(t, refs, 4));
    ver_edit e;
    ver_edit_init(&e);
    CHECK_OK(ver_edit_add(&e, 0, t));
    ver_blob *b[4];
    const uint64_t garbage[4] = {600, 300, 100, 0};
    for (int i = 0; i < 4; i++) {
        b[i] = ver_blob_new((uint64_t)i + 1, 1100, 10, 1000, 1);
        CHECK_OK(ver_edit_add_blob(&e, b[i]));
        if (garbage[i])
            CHECK_OK(ver_edit_add_garbage(&e, (uint64_t)i + 1, 1, garbage[i]));
    }
    version *v = NULL;
    CHECK_OK(version_apply(v0, &e, &v, NULL));
    ver_edit_free(&e);
    uint64_t got[4];
    /* 0.25 of 4,000 = 1,000: nothing over the bound, nothing collected */
    CHECK_EQ(gc_pick(v, 0.25, 0, 1, got), 0);
    CHECK_EQ(gc_pick(v, 0.3, 0, 1, got), 0);
    /* 0.2: 200 over, file 1 (600 of its own) covers it; file 2 (0.3) waits */
    CHECK_EQ(gc_pick(v, 0.2, 0, 1, got), 1);
    CHECK_EQ(got[0], 1);
    /* 0.1: 600 over, exactly file 1's */
    CHECK_EQ(gc_pick(v, 0.1, 0, 1, got), 1);
    CHECK_EQ(got[0], 1);
    /* 0.05: 800 over: files 1 and 2 (900), not 3 */
    CHECK_EQ(gc_pick(v, 0.05, 0, 1, got), 2);
    CHECK(got[0] == 1 && got[1] == 2);
    /* 0.01: 960 over: files 1, 2, then 3 (0.1, past 0.01) */
    CHECK_EQ(gc_pick(v, 0.01, 0, 1, got), 3);
    /* above 1: never */
    CHECK_EQ(gc_pick(v, 1.5, 0, 1, got), 0);
    /* the age cutoff adds the oldest files that hold garbage, compactions only */
    CHECK_EQ(gc_pick(v, 0.25, 0.5, 1, got), 2);
    CHECK(got[0] == 1 && got[1] == 2);
    CHECK_EQ(gc_pick(v, 0.25, 0.5, 0, got), 0);
    CHECK_EQ(gc_pick(v, 0.25, 1, 1, got), 3); /* file 4 holds no garbage */
    for (int i = 0; i < 4; i++)
        ver_blob_unref(b[i]);
    ver_table_unref(t);
    version_unref(v);
    /* a tie: two files at 0.4, 200 over the bound at 0.3: the older one */
    t = ver_table_new(11, 1000, 5, 0, 1, 5, 0, (const uint8_t *)"a", 1, (const uint8_t *)"m", 1);
    uint64_t refs2[2] = {6, 5};
    CHECK_OK(ver_table_set_blob_refs(t, refs2, 2));
    ver_edit_init(&e);
    CHECK_OK(ver_edit_add(&e, 0, t));
    for (int i = 0; i < 2; i++) {
        b[i] = ver_blob_new((uint64_t)(6 - i), 1100, 10, 1000, 1); /* 6 added first */
        CHECK_OK(ver_edit_add_blob(&e, b[i]));
        CHECK_OK(ver_edit_add_garbage(&e, (uint64_t)(6 - i), 1, 400));
    }
    CHECK_OK(version_apply(v0, &e, &v, NULL));
    ver_edit_free(&e);
    CHECK_EQ(gc_pick(v, 0.3, 0, 1, got), 1);
    CHECK_EQ(got[0], 5);
    for (int i = 0; i < 2; i++)
        ver_blob_unref(b[i]);
    ver_table_unref(t);
    version_unref(v);
    version_unref(v0);
}

/* A keyspace's stored options from before key-value separation (version
 * 1, or version 2 with the prefix fields only) read with separation off;
 * version 2 round-trips every blob option beside the prefix ones. */
TEST(stored_options)
{
    struct tind_ks_options o, back;
    ks_options_default(&o);
    CHECK_EQ(o.blob_separation, 1);
    CHECK_EQ(o.blob_threshold, 4096);
    tind_ks_options_set_blob_separation(&o, 1, 777);
    tind_ks_options_set_blob_gc(&o, 0.4, 0.3);
    tind_ks_options_set_blob_compression(&o, TIND_COMPRESSION_ZSTD, 5);
    tind_ks_options_set_blob_file_size(&o, 12345);
    tbuf b = TBUF_INIT;
    CHECK_OK(ks_options_encode(&o, &b));
    CHECK_OK(ks_options_decode(b.data, b.len, &back, NULL));
    CHECK(back.blob_separation == 1 && back.blob_threshold == 777 && back.blob_gc_ratio == 0.4 &&
          back.blob_gc_age_cutoff == 0.3 && back.blob_compression == TIND_COMPRESSION_ZSTD &&
          back.blob_zstd_level == 5 && back.blob_file_size == 12345);
    /* version 3 from before key-value separation: the same record without
     * the blob fields (5 varints, 2 doubles) reads with separation off */
    size_t blob_fields = 1 + 2 + 2 + 1 + 1 + 16; /* varints 1, 777, 12345, 2, 5; two doubles */
    CHECK_EQ(b.data[0], 3);
    CHECK_OK(ks_options_decode(b.data, b.len - blob_fields, &back, NULL));
    CHECK_EQ(back.blob_separation, 0);
    /* version 1: without the prefix fields (5 varints, 7 dictionary sizes)
     * and the merge fields (5 varints) too */
    size_t prefix_fields = 5 + 7, merge_fields = 5;
    b.data[0] = 1;
    CHECK_OK(ks_options_decode(b.data, b.len - blob_fields - prefix_fields - merge_fields, &back, NULL));
    CHECK_EQ(back.blob_separation, 0);
    CHECK_RC(ks_options_decode(b.data, b.len, &back, NULL), TIND_ECORRUPT); /* v1 with extra bytes */
    /* separation off and nothing else of version 2 or 3: written as version 1 */
    tind_ks_options_set_blob_separation(&o, 0, 777);
    tbuf_reset(&b);
    CHECK_OK(ks_options_encode(&o, &b));
    CHECK_EQ(b.data[0], 1);
    CHECK_OK(ks_options_decode(b.data, b.len, &back, NULL));
    CHECK_EQ(back.blob_separation, 0);
    /* a prefix extractor, a merge operator and separation: all kept */
    tind_ks_options_set_blob_separation(&o, 1, 777);
    tind_ks_options_set_prefix_fixed(&o, 4);
    tind_ks_options_set_merge_builtin(&o, TIND_MERGE_COUNTER, NULL, 0);
    tbuf_reset(&b);
    CHECK_OK(ks_options_encode(&o, &b));
    CHECK_EQ(b.data[0], 3);
    CHECK_OK(ks_options_decode(b.data, b.len, &back, NULL));
    CHECK(back.blob_separation == 1 && back.blob_threshold == 777 && back.prefix_len == 4 &&
          back.merge.builtin == TIND_MERGE_COUNTER);
    b.data[0] = 4;
    CHECK_RC(ks_options_decode(b.data, b.len, &back, NULL), TIND_EVERSION);
    tbuf_free(&b);
}

int main(void)
{
    check_seed_init(11);
    RUN(file_roundtrip);
    RUN(separated_reads);
    RUN(lazy_walk);
    RUN(blob_cache);
    RUN(snapshots);
    RUN(gc_bounded_stepped);
    RUN(gc_bounded_background);
    RUN(damaged);
    RUN(crash);
    RUN(options);
    RUN(versions_and_version_file);
    RUN(gc_files_greedy);
    RUN(stored_options);
    fprintf(stderr, "test_blob: ok\n");
    return 0;
}
