/*
 * test_blob_gc.c -- blob garbage collection reclaims space with no manual
 * step (issue 11). TSAN-LABEL: the background runs also run under
 * ThreadSanitizer.
 *
 *   rangedel_*       600 values of 8 KiB, a range deletion of 90% of
 *                    them: when tind_compact returns, the blob bytes are
 *                    down to the survivors' (disk bytes before/after),
 *                    threads on and off, blob files small or one big one,
 *                    with a reopen between the deletion and the call;
 *                    failed before the fix (a full compaction counted the
 *                    garbage it made too late to move that pass's
 *                    survivors, and tind_compact returned then)
 *   overwrite_*      random overwrites of 8 KiB values, no manual call:
 *                    disk bytes / live bytes stays under a bound
 *   relocate_codecs  GC moves the survivors of a file written with one
 *                    blob compression into a file of another (or the
 *                    same: records copied as stored): every value reads
 *                    back, and the new files' records are in the codec
 *                    the keyspace has now
 */
#include <string.h>

#include "blob/blob.h"
#include "check.h"
#include "db/db.h"
#include "db/install.h"
#include "io/fs.h"
#include "tind_internal.h"

#define VALUE_BYTES 8192

static tind_db *open_db(fs *f, int background) { return check_open_mem(f, background); }

static tind_keyspace *open_ks(tind_db *db, double gc_ratio, uint64_t blob_file_size)
{
    tind_ks_options *ko = tind_ks_options_new();
    /* one flush makes one blob file: with files of 64 MiB the whole data
     * set fits one memtable and one file */
    tind_ks_options_set_memtable_size(ko, blob_file_size > (1 << 20) ? 8 << 20 : 1 << 20);
    tind_ks_options_set_table_size(ko, 64 << 10);
    tind_ks_options_set_blob_separation(ko, 1, 4096);
    tind_ks_options_set_blob_file_size(ko, blob_file_size);
    tind_ks_options_set_blob_gc(ko, gc_ratio, 0);
    tind_ks_options_set_blob_compression(ko, TIND_COMPRESSION_NONE, 0);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "g", ko, &ks));
    tind_ks_options_free(ko);
    return ks;
}

static void key_of(char *k, size_t n, int i) { snprintf(k, n, "key%06d", i); }

static void value_of(uint8_t *v, int i, int round)
{
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + (uint64_t)round * 0xBF58476D1CE4E5B9ull + 1;
    for (size_t j = 0; j < VALUE_BYTES; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[j] = (uint8_t)x;
    }
}

static void put_range(tind_keyspace *ks, int from, int to, int round)
{
    static uint8_t v[VALUE_BYTES];
    char k[32];
    for (int i = from; i < to; i++) {
        key_of(k, sizeof k, i);
        value_of(v, i, round);
        CHECK_OK(tind_put(ks, k, strlen(k), v, sizeof v));
    }
}

static void check_range(tind_keyspace *ks, int from, int to, int round, int present)
{
    static uint8_t want[VALUE_BYTES];
    char k[32];
    for (int i = from; i < to; i++) {
        key_of(k, sizeof k, i);
        void *v;
        size_t vn;
        int rc = tind_get(ks, k, strlen(k), NULL, &v, &vn);
        if (!present) {
            CHECK_RC(rc, TIND_NOT_FOUND);
            continue;
        }
        CHECK_OK(rc);
        value_of(want, i, round);
        CHECK_MEM(v, vn, want, sizeof want);
        tind_free(v);
    }
}

static tind_ks_stats stats(tind_keyspace *ks)
{
    tind_ks_stats st;
    CHECK_OK(tind_ks_stats_get(ks, &st));
    return st;
}

static void show(const char *what, const tind_ks_stats *st)
{
    fprintf(stderr, "    %-22s disk %8llu blob files %3llu bytes %8llu garbage %8llu\n", what,
            (unsigned long long)st->disk_bytes, (unsigned long long)st->blob_files,
            (unsigned long long)st->blob_bytes, (unsigned long long)st->blob_garbage_bytes);
}

/* n keys of 8 KiB, 90% removed by one range deletion, then tind_compact:
 * when it returns, the blob files hold about the survivors only, threads on
 * or off. `reopen`: the database is closed and reopened between the
 * deletion and the compaction (the quick try of the closing note).
 * Blob files of 1 MiB (most die whole) or 64 MiB (one file, 90% garbage:
 * its survivors must move). */
static void rangedel(int background, int reopen, uint64_t file_size)
{
    fs *f = fs_mem_new();
    tind_db *db = open_db(f, background);
    const double ratio = 0.25;
    tind_keyspace *ks = open_ks(db, ratio, file_size);
    const int n = 600, lo = 30, hi = 570;
    put_range(ks, 0, n, 0);
    CHECK_OK(tind_compact(ks));
    tind_ks_stats before = stats(ks);
    show("before", &before);
    CHECK(before.blob_bytes >= (uint64_t)n * VALUE_BYTES);
    char klo[32], khi[32];
    key_of(klo, sizeof klo, lo);
    key_of(khi, sizeof khi, hi);
    CHECK_OK(tind_remove_range(ks, klo, strlen(klo), khi, strlen(khi)));
    if (reopen) {
        CHECK_OK(tind_close(db));
        db = open_db(f, background);
        ks = open_ks(db, ratio, file_size);
    }
    CHECK_OK(tind_compact(ks));
    uint64_t live = (uint64_t)(n - (hi - lo)) * (VALUE_BYTES + BLOB_RECORD_OVERHEAD);
    tind_ks_stats after = stats(ks);
    show("after", &after);
    CHECK(after.blob_bytes <= (uint64_t)((double)live / (1 - ratio)) + 4096);
    CHECK(after.disk_bytes < before.disk_bytes / 4);
    check_range(ks, 0, lo, 0, 1);
    check_range(ks, lo, hi, 0, 0);
    check_range(ks, hi, n, 0, 1);
    CHECK_OK(tind_close(db));
    CHECK_EQ(check_count_blob_files(f), after.blob_files); /* files deleted once unreferenced */
    db = open_db(f, 0);
    ks = open_ks(db, ratio, file_size);
    tind_ks_stats back = stats(ks);
    CHECK_EQ(back.blob_bytes, after.blob_bytes);
    check_range(ks, 0, lo, 0, 1);
    check_range(ks, hi, n, 0, 1);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

TEST(rangedel_stepped) { rangedel(0, 0, 1 << 20); }
TEST(rangedel_stepped_one_file) { rangedel(0, 0, 64 << 20); }
TEST(rangedel_stepped_reopen) { rangedel(0, 1, 64 << 20); }
TEST(rangedel_background) { rangedel(1, 0, 1 << 20); }
TEST(rangedel_background_one_file) { rangedel(1, 0, 64 << 20); }
TEST(rangedel_background_reopen) { rangedel(1, 1, 64 << 20); }

static void drain(tind_db *db)
{
    int rc;
    while ((rc = tind_internal_background_step(db)) > 0)
        ;
    CHECK_EQ(rc, 0);
}

/* Space amplification under overwrites: n keys of 8 KiB overwritten in a
 * random order, `rounds` times over, no tind_compact: the workers (or,
 * stepped, the same steps run inline after every 64 writes) alone keep
 * disk bytes / live bytes under a bound at steady state, sampled every 64
 * writes. Garbage is counted when a compaction meets a shadowed pointer,
 * so beyond the GC ratio's 1 / (1 - ratio) the level-0 tables not yet
 * compacted hold uncounted garbage: the bound allows l0_threshold (4)
 * memtables of it stepped; with threads the writer may run ahead of the
 * workers up to the level-0 stall (5 x l0_threshold tables), and the bound
 * allows that many (the figures printed are the ones to quote). */
static void overwrite(int background)
{
    fs *f = fs_mem_new();
    tind_db *db = open_db(f, background);
    const double ratio = 0.25;
    tind_keyspace *ks = open_ks(db, ratio, 1 << 20);
    const int n = 1024, rounds = 10;
    const uint64_t live = (uint64_t)n * VALUE_BYTES;
    static uint8_t v[VALUE_BYTES];
    int *version = calloc((size_t)n, sizeof *version);
    CHECK(version);
    uint64_t x = check_seed | 1;
    double peak = 0, sum = 0;
    int measured = 0;
    for (int w = 0; w < n * rounds; w++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int i = (int)(x % (uint64_t)n);
        char k[32];
        key_of(k, sizeof k, i);
        value_of(v, i, ++version[i]);
        CHECK_OK(tind_put(ks, k, strlen(k), v, sizeof v));
        if (w % 64 != 63)
            continue;
        if (!background)
            drain(db);
        tind_ks_stats st = stats(ks);
        double amp = (double)st.disk_bytes / (double)live;
        if (w >= 3 * n) { /* steady state: past the first rounds */
            peak = amp > peak ? amp : peak;
            sum += amp;
            measured++;
        }
    }
    tind_ks_stats st = stats(ks);
    double bound = 1 / (1 - ratio) + (background ? 20.0 : 4.0) * (1 << 20) / (double)live + 0.1;
    fprintf(stderr, "    disk / live bytes: mean %.2f peak %.2f (bound %.2f); blob files %llu, garbage %.1f%%\n",
            sum / measured, peak, bound, (unsigned long long)st.blob_files,
            100.0 * (double)st.blob_garbage_bytes / (double)(st.blob_bytes ? st.blob_bytes : 1));
    CHECK(peak <= bound);
    for (int i = 0; i < n; i += 7)
        check_range(ks, i, i + 1, version[i], 1);
    free(version);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

TEST(overwrite_stepped) { overwrite(0); }
TEST(overwrite_background) { overwrite(1); }

/* Compressible values (a few letters): every codec shrinks them. */
static void soft_value_of(uint8_t *v, int i)
{
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + 1;
    for (size_t j = 0; j < VALUE_BYTES; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[j] = (uint8_t)('a' + x % 4);
    }
}

typedef struct codec_tally {
    uint64_t records, compressed;
} codec_tally;

static int tally_record(void *ctx, const blob_ptr *p, const uint8_t *val)
{
    (void)val;
    codec_tally *t = ctx;
    t->records++;
    t->compressed += p->size < p->raw_size;
    return TIND_OK;
}

/* 400 values in blob files of codec `from`, the keyspace switched to `to`
 * (white-box: the option as a reopen with other options would set it),
 * 90% of every file removed, tind_compact: the survivors moved to files
 * of `to`. */
static void relocate(int from, int to)
{
    fs *f = fs_mem_new();
    tind_db *db = open_db(f, 0);
    tind_ks_options *ko = tind_ks_options_new();
    tind_ks_options_set_memtable_size(ko, 1 << 20);
    tind_ks_options_set_table_size(ko, 64 << 10);
    tind_ks_options_set_blob_separation(ko, 1, 4096);
    tind_ks_options_set_blob_file_size(ko, 64 << 20);   /* one file: its survivors must move */
    tind_ks_options_set_blob_gc(ko, 0.25, 0);
    tind_ks_options_set_blob_compression(ko, from, 0);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "g", ko, &ks));
    tind_ks_options_free(ko);
    const int n = 400;
    static uint8_t v[VALUE_BYTES];
    char k[32];
    for (int i = 0; i < n; i++) {
        key_of(k, sizeof k, i);
        soft_value_of(v, i);
        CHECK_OK(tind_put(ks, k, strlen(k), v, sizeof v));
    }
    CHECK_OK(tind_flush(ks));
    ks->cmp_opts.blob.compression = to;
    for (int i = 0; i < n; i++)
        if (i % 10) { /* 90% of every file */
            key_of(k, sizeof k, i);
            CHECK_OK(tind_remove(ks, k, strlen(k)));
        }
    CHECK_OK(tind_compact(ks));
    for (int i = 0; i < n; i++) {
        key_of(k, sizeof k, i);
        void *got;
        size_t gn;
        int rc = tind_get(ks, k, strlen(k), NULL, &got, &gn);
        if (i % 10) {
            CHECK_RC(rc, TIND_NOT_FOUND);
            continue;
        }
        CHECK_OK(rc);
        soft_value_of(v, i);
        CHECK_MEM(got, gn, v, sizeof v);
        tind_free(got);
    }
    codec_tally t = {0, 0};
    mu_lock(&db->mu);
    version *cur = ks->current;
    version_ref(cur);
    mu_unlock(&db->mu);
    CHECK(cur->blob_count >= 1);
    for (size_t b = 0; b < cur->blob_count; b++) {
        char path[4096];
        db_blob_path(db, cur->blobs[b].file->number, path, sizeof path);
        blob_reader *r;
        CHECK_OK(blob_reader_open(f, path, cur->blobs[b].file->number, NULL, NULL, &r, NULL));
        CHECK_EQ((int)blob_reader_meta(r)->compression, to);   /* the old file is gone */
        CHECK_OK(blob_walk(r, tally_record, &t, NULL));
        blob_reader_free(r);
    }
    version_unref(cur);
    CHECK_EQ(t.records, (uint64_t)(n / 10));
    CHECK_EQ(t.compressed, to == TIND_COMPRESSION_NONE ? 0 : t.records);
    CHECK_OK(tind_close(db));
    fs_destroy(f);
}

TEST(relocate_codecs)
{
    const int c[][2] = {{TIND_COMPRESSION_LZ4, TIND_COMPRESSION_LZ4},   {TIND_COMPRESSION_ZSTD, TIND_COMPRESSION_ZSTD},
                        {TIND_COMPRESSION_NONE, TIND_COMPRESSION_NONE}, {TIND_COMPRESSION_NONE, TIND_COMPRESSION_LZ4},
                        {TIND_COMPRESSION_LZ4, TIND_COMPRESSION_ZSTD},  {TIND_COMPRESSION_ZSTD, TIND_COMPRESSION_NONE}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        relocate(c[i][0], c[i][1]);
}

int main(void)
{
    check_seed_init(11);
    RUN(rangedel_stepped);
    RUN(rangedel_stepped_one_file);
    RUN(rangedel_stepped_reopen);
    RUN(rangedel_background);
    RUN(rangedel_background_one_file);
    RUN(rangedel_background_reopen);
    RUN(overwrite_stepped);
    RUN(overwrite_background);
    RUN(relocate_codecs);
    fprintf(stderr, "test_blob_gc: ok\n");
    return 0;
}
