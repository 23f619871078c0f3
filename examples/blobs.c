/*
 * blobs.c -- large values with key-value separation: a photo store whose
 * pictures (16-64 KiB) live in blob files while the tree holds small
 * pointers, so that compaction moves pointers, not pictures.
 *
 *   ./build/blobs [FOLDER]        (default ./blobs-db, created when missing)
 *
 * Shows: the keyspace options (separation on at 4 KiB, the default, with
 * zstd for the blobs), a listing of names and sizes that never reads a blob
 * (tind_iter_value_size; the keyspace's blob_reads stays 0), reading a
 * picture back, overwriting half of them (the old copies become garbage,
 * counted per blob file), and compaction collecting that garbage with no
 * manual step beyond asking it to run. Exits 1 when anything is not as
 * expected (ctest example_blobs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tind.h"

#define PHOTOS 200

#define CHECK(cond, what, db)                                                           \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "blobs: %s failed (%s)\n", what, tind_errmsg(db));          \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

/* A picture's bytes: a generation number and the name, then noise that
 * compresses a little, as real images do. */
static size_t photo(unsigned i, unsigned gen, uint8_t *buf)
{
    size_t len = 16384 + (size_t)(i * 2654435761u % 49152u);
    uint32_t x = i * 7919u + gen * 104729u + 1;
    for (size_t j = 0; j < len; j++) {
        x = x * 1103515245u + 12345u;
        buf[j] = (uint8_t)((j & 3) ? x >> 24 : 0);
    }
    buf[0] = (uint8_t)gen;
    buf[1] = (uint8_t)i;
    buf[2] = (uint8_t)(i >> 8);
    return len;
}

static void name_of(unsigned i, char *out, size_t cap) { snprintf(out, cap, "photo/%05u.jpg", i); }

static int store(tind_keyspace *ks, unsigned from, unsigned step, unsigned gen, uint8_t *buf)
{
    char name[32];
    for (unsigned i = from; i < PHOTOS; i += step) {
        name_of(i, name, sizeof name);
        int rc = tind_put(ks, name, strlen(name), buf, photo(i, gen, buf));
        if (rc)
            return rc;
    }
    return TIND_OK;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "./blobs-db";
    uint8_t *buf = malloc(65536), *want = malloc(65536);
    tind_db *db = NULL;
    tind_keyspace *ks;
    tind_ks_stats st;
    if (!buf || !want)
        return 1;
    CHECK(tind_open(path, NULL, &db) == TIND_OK, "open", NULL);
    tind_ks_options *ko = tind_ks_options_new();
    CHECK(ko != NULL, "options", db);
    tind_ks_options_set_blob_separation(ko, 1, 4096);               /* the default, spelled out */
    tind_ks_options_set_blob_compression(ko, TIND_COMPRESSION_ZSTD, 3);
    tind_ks_options_set_blob_gc(ko, 0.25, 0);                       /* rewrite a file 25% garbage */
    CHECK(tind_keyspace_open(db, "photos", ko, &ks) == TIND_OK, "keyspace", db);
    tind_ks_options_free(ko);
    CHECK(tind_keyspace_clear(ks) == TIND_OK, "clear an earlier run", db);

    CHECK(store(ks, 0, 1, 1, buf) == TIND_OK, "store", db);
    CHECK(tind_flush(ks) == TIND_OK, "flush", db);     /* values go to blob files at flush */
    CHECK(tind_ks_stats_get(ks, &st) == TIND_OK, "stats", db);
    printf("%d photos: %llu blob file(s), %llu blob bytes, tables %llu bytes\n", PHOTOS,
           (unsigned long long)st.blob_files, (unsigned long long)st.blob_bytes,
           (unsigned long long)(st.disk_bytes - st.blob_bytes));
    CHECK(st.blob_files >= 1 && st.disk_bytes - st.blob_bytes < st.blob_bytes / 10, "pictures in blob files", db);
    uint64_t reads0 = st.blob_reads;

    /* a listing: names and sizes come from the tree alone */
    tind_iter *it;
    uint64_t total = 0, listed = 0;
    CHECK(tind_iter_prefix(ks, "photo/", 6, NULL, &it) == TIND_OK, "iterator", db);
    for (tind_iter_first(it); tind_iter_valid(it); tind_iter_next(it)) {
        total += tind_iter_value_size(it);
        listed++;
    }
    CHECK(tind_iter_status(it) == TIND_OK, "listing", db);
    tind_iter_free(it);
    CHECK(tind_ks_stats_get(ks, &st) == TIND_OK, "stats", db);
    printf("listed %llu photos, %llu bytes, loading %llu blobs\n", (unsigned long long)listed,
           (unsigned long long)total, (unsigned long long)(st.blob_reads - reads0));
    CHECK(listed == PHOTOS && st.blob_reads == reads0, "a listing that reads no blob", db);

    /* one picture, read back whole */
    char name[32];
    void *v;
    size_t vlen;
    name_of(42, name, sizeof name);
    CHECK(tind_get(ks, name, strlen(name), NULL, &v, &vlen) == TIND_OK, "get", db);
    size_t wlen = photo(42, 1, want);
    CHECK(vlen == wlen && memcmp(v, want, vlen) == 0, "the picture read back", db);
    tind_free(v);

    /* new versions of every other picture: the old copies become garbage */
    CHECK(store(ks, 0, 2, 2, buf) == TIND_OK, "overwrite", db);
    CHECK(tind_flush(ks) == TIND_OK, "flush", db);
    /* compaction counts the garbage its dropped pointers leave and rewrites
     * the files past 25% before tind_compact returns (background workers do
     * the same by themselves) */
    CHECK(tind_compact(ks) == TIND_OK, "compact", db);
    CHECK(tind_ks_stats_get(ks, &st) == TIND_OK, "stats", db);
    printf("after overwriting half and compacting: %llu blob file(s), %llu bytes, %llu of them garbage\n",
           (unsigned long long)st.blob_files, (unsigned long long)st.blob_bytes,
           (unsigned long long)st.blob_garbage_bytes);
    CHECK(st.blob_garbage_bytes <= st.blob_bytes / 4, "garbage bounded by the GC ratio", db);
    CHECK(tind_close(db) == TIND_OK, "close", db);

    /* everything there after a reopen, each picture at its newest version */
    CHECK(tind_open(path, NULL, &db) == TIND_OK, "reopen", NULL);
    CHECK(tind_keyspace_open(db, "photos", NULL, &ks) == TIND_OK, "keyspace", db);
    for (unsigned i = 0; i < PHOTOS; i++) {
        name_of(i, name, sizeof name);
        CHECK(tind_get(ks, name, strlen(name), NULL, &v, &vlen) == TIND_OK, "get after reopen", db);
        wlen = photo(i, i % 2 == 0 ? 2 : 1, want);
        CHECK(vlen == wlen && memcmp(v, want, vlen) == 0, "newest picture after reopen", db);
        tind_free(v);
    }
    printf("all %d photos read back after reopen\n", PHOTOS);
    CHECK(tind_close(db) == TIND_OK, "close", db);
    free(buf);
    free(want);
    return 0;
}
