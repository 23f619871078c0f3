/*
 * test_aes_gcm.c -- the AES-256-GCM of the encrypted pages (io/aes_gcm.c):
 * the native path (AES-NI under CRYPTO_gcm128) against OpenSSL's EVP.
 *
 *   known_vectors       AES-256-GCM vectors of the GCM specification (test
 *                       cases 13, 14, 15 and 16), both paths
 *   cross_check         random keys, IVs, AAD lengths 0..100 and lengths
 *                       0..70,000 (every length 0..300 and the page sizes):
 *                       the native output and tag equal EVP's; each path
 *                       opens what the other sealed; a changed tag, a
 *                       changed ciphertext byte, a changed AAD byte or
 *                       another IV fails authentication on both paths
 *   pages_identical     fs_crypt_encode_page gives the same bytes on both
 *                       paths, and fs_crypt_decode_page opens them on both
 *   db_across_paths     a database written through EVP (the code before the
 *                       native path) opens and reads back exactly through
 *                       the native path, and the reverse; background
 *                       threads off and on
 *
 * Without AES-NI (or off x86-64) the native checks are skipped, said so on
 * stderr; EVP is then checked against the vectors alone.
 *
 * TSAN-LABEL: db_across_paths runs background threads.
 */
#include <string.h>

#include "check.h"
#include "io/aes_gcm.h"
#include "io/fs.h"
#include "io/fs_crypt.h"
#include "util/rand.h"

static aes_gcm *make(const uint8_t *key, int evp)
{
    aes_gcm_prefer_evp(evp);
    aes_gcm *g = aes_gcm_new(key);
    aes_gcm_prefer_evp(0);
    CHECK(g != NULL);
    if (evp)
        CHECK(!aes_gcm_is_native(g));
    return g;
}

static int have_native(void)
{
    static const uint8_t zero[AES_GCM_KEY];
    aes_gcm *g = aes_gcm_new(zero);
    CHECK(g != NULL);
    int native = aes_gcm_is_native(g);
    aes_gcm_free(g);
    return native;
}

static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = 0;
    for (; s[0] && s[1]; s += 2) {
        unsigned v;
        CHECK(sscanf(s, "%2x", &v) == 1);
        out[n++] = (uint8_t)v;
    }
    return n;
}

TEST(known_vectors)
{
    static const struct {
        const char *key, *iv, *pt, *aad, *ct, *tag;
    } v[] = {
        {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "",
         "", "530f8afbc74536b9a963b4f1c4cb738b"},
        {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
         "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18",
         "d0d1c8a799996bf0265b98b5d48ab919"},
        {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525"
         "b16aedf5aa0de657ba637b391aafd255",
         "",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838"
         "c5f61e6393ba7a0abcc9f662898015ad",
         "b094dac5d93471bdec1a502270e3cc6c"},
        {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525"
         "b16aedf5aa0de657ba637b39",
         "feedfacedeadbeeffeedfacedeadbeefabaddad2",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838"
         "c5f61e6393ba7a0abcc9f662",
         "76fc6ece0f4e1768cddf8853bb2d551b"},
    };
    int native = have_native();
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t key[32], iv[12], pt[64], aad[20], ct[64], tag[16], out[64], got[16];
        CHECK_EQ(unhex(v[i].key, key), 32);
        CHECK_EQ(unhex(v[i].iv, iv), 12);
        size_t n = unhex(v[i].pt, pt), an = unhex(v[i].aad, aad);
        CHECK_EQ(unhex(v[i].ct, ct), n);
        CHECK_EQ(unhex(v[i].tag, tag), 16);
        for (int evp = native ? 0 : 1; evp < 2; evp++) {
            aes_gcm *g = make(key, evp);
            CHECK_OK(aes_gcm_seal(g, iv, aad, an, pt, n, out, got));
            CHECK_MEM(out, n, ct, n);
            CHECK_MEM(got, 16, tag, 16);
            CHECK_OK(aes_gcm_open(g, iv, aad, an, ct, n, out, tag));
            CHECK_MEM(out, n, pt, n);
            tag[15] ^= 1;
            CHECK(aes_gcm_open(g, iv, aad, an, ct, n, out, tag) != 0);
            tag[15] ^= 1;
            aes_gcm_free(g);
        }
    }
}

static void random_bytes(trng *r, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)trng_next(r);
}

/* Fails authentication on both contexts. */
static void refused(aes_gcm *a, aes_gcm *b, const uint8_t *iv, const uint8_t *aad, size_t an, const uint8_t *ct,
                    size_t n, uint8_t *out, const uint8_t *tag)
{
    CHECK(aes_gcm_open(a, iv, aad, an, ct, n, out, tag) != 0);
    CHECK(aes_gcm_open(b, iv, aad, an, ct, n, out, tag) != 0);
}

TEST(cross_check)
{
    if (!have_native()) {
        fprintf(stderr, "    no AES-NI/PCLMULQDQ (or not x86-64): native path not built or not used, skipped\n");
        return;
    }
    trng r;
    trng_seed(&r, check_seed ^ 0xae5);
    enum { MAX = 70000 };
    uint8_t *pt = malloc(MAX), *c1 = malloc(MAX), *c2 = malloc(MAX), *back = malloc(MAX);
    CHECK(pt && c1 && c2 && back);
    int rounds = (int)(600 * check_scale()) + 400;
    for (int i = 0; i < rounds; i++) {
        uint8_t key[32], iv[12], aad[100], t1[16], t2[16];
        random_bytes(&r, key, sizeof key);
        random_bytes(&r, iv, sizeof iv);
        size_t an = trng_below(&r, 4) ? trng_below(&r, 101) : 24;
        random_bytes(&r, aad, an);
        size_t n;
        if (i <= 300)
            n = (size_t)i;                                   /* every short length */
        else if (i % 5 == 0)
            n = FS_CRYPT_PAYLOAD - trng_below(&r, 3);        /* a full page */
        else if (i % 5 == 1)
            n = 1 + trng_below(&r, MAX);
        else
            n = trng_below(&r, 5000);
        if (i == 301)
            n = MAX;
        random_bytes(&r, pt, n);
        aes_gcm *nat = make(key, 0), *evp = make(key, 1);
        CHECK(aes_gcm_is_native(nat));
        CHECK_OK(aes_gcm_seal(nat, iv, aad, an, pt, n, c1, t1));
        CHECK_OK(aes_gcm_seal(evp, iv, aad, an, pt, n, c2, t2));
        CHECK_MEM(c1, n, c2, n);
        CHECK_MEM(t1, 16, t2, 16);
        CHECK_OK(aes_gcm_open(evp, iv, aad, an, c1, n, back, t1));
        CHECK_MEM(back, n, pt, n);
        memset(back, 0, n);
        CHECK_OK(aes_gcm_open(nat, iv, aad, an, c2, n, back, t2));
        CHECK_MEM(back, n, pt, n);
        /* in place, as the callers may */
        memcpy(back, pt, n);
        CHECK_OK(aes_gcm_seal(nat, iv, aad, an, back, n, back, t1));
        CHECK_MEM(back, n, c2, n);
        CHECK_OK(aes_gcm_open(nat, iv, aad, an, back, n, back, t1));
        CHECK_MEM(back, n, pt, n);
        /* tampering: the tag, a ciphertext byte, an AAD byte, the IV */
        size_t bit = trng_below(&r, 128);
        t1[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        refused(nat, evp, iv, aad, an, c2, n, back, t1);
        t1[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (n) {
            size_t at = trng_below(&r, n);
            c2[at] ^= 0x80;
            refused(nat, evp, iv, aad, an, c2, n, back, t1);
            c2[at] ^= 0x80;
        }
        if (an) {
            size_t at = trng_below(&r, an);
            aad[at] ^= 1;
            refused(nat, evp, iv, aad, an, c2, n, back, t1);
            aad[at] ^= 1;
        }
        iv[trng_below(&r, sizeof iv)] ^= 4;
        refused(nat, evp, iv, aad, an, c2, n, back, t1);
        aes_gcm_free(nat);
        aes_gcm_free(evp);
    }
    free(pt);
    free(c1);
    free(c2);
    free(back);
}

static const uint8_t KEY[32] = {0x74, 0x69, 0x6e, 0x64, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12,
                                13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28};

TEST(pages_identical)
{
    if (!have_native()) {
        fprintf(stderr, "    no native path: skipped\n");
        return;
    }
    static const uint8_t salt[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    uint8_t header[FS_CRYPT_HEADER];
    CHECK_OK(fs_crypt_encode_header(KEY, salt, header));
    trng r;
    trng_seed(&r, check_seed ^ 0x9a6e);
    uint8_t in[FS_CRYPT_PAYLOAD], a[FS_CRYPT_PAGE], b[FS_CRYPT_PAGE], out[FS_CRYPT_PAYLOAD];
    static const size_t lens[] = {0, 1, 100, 140, 4095 - FS_CRYPT_OVERHEAD, FS_CRYPT_PAYLOAD};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t n = lens[i];
        random_bytes(&r, in, n);
        uint64_t slot = trng_below(&r, 1000), start = trng_next(&r) >> 20;
        uint32_t counter = (uint32_t)trng_next(&r), word = (uint32_t)trng_next(&r);
        aes_gcm_prefer_evp(1);
        CHECK_OK(fs_crypt_encode_page(KEY, header, slot, start, counter, word, in, n, a, NULL));
        aes_gcm_prefer_evp(0);
        CHECK_OK(fs_crypt_encode_page(KEY, header, slot, start, counter, word, in, n, b, NULL));
        CHECK_MEM(a, n + FS_CRYPT_OVERHEAD, b, n + FS_CRYPT_OVERHEAD);
        for (int evp = 0; evp < 2; evp++) {
            size_t got = 0;
            uint64_t s = 0;
            aes_gcm_prefer_evp(evp);
            CHECK_OK(fs_crypt_decode_page(KEY, header, sizeof header, slot, a, n + FS_CRYPT_OVERHEAD, out, &got, &s,
                                          NULL));
            CHECK_MEM(out, got, in, n);
            CHECK_EQ(s, start);
            a[FS_CRYPT_PAGE_HEAD + n] ^= 1;              /* the tag's first byte */
            CHECK_RC(fs_crypt_decode_page(KEY, header, sizeof header, slot, a, n + FS_CRYPT_OVERHEAD, out, &got, &s,
                                          NULL),
                     TIND_ECORRUPT);
            a[FS_CRYPT_PAGE_HEAD + n] ^= 1;
        }
        aes_gcm_prefer_evp(0);
    }
}

#define NKEYS 3000

static void key_of(int i, char *k) { snprintf(k, 32, "key%06d", i); }
static size_t val_of(int i, char *v)
{
    return (size_t)snprintf(v, 200, "value-%06d-%.*s", i, i % 150,
                            "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
                            "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");
}

static tind_db *open_db(fs *mem, int bg)
{
    tind_options *o = tind_options_new();
    CHECK_OK(tind_options_set_encryption_key(o, KEY, sizeof KEY));
    tind_db *db = check_open_mem_opts(mem, bg, o);
    tind_options_free(o);
    return db;
}

/* Keys 0..NKEYS-1: tables for the first two thirds, the rest in the
 * journal only (replayed at the next open). */
static void write_db(fs *mem, int bg)
{
    tind_db *db = open_db(mem, bg);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "k", NULL, &ks));
    char k[32], v[200];
    for (int i = 0; i < NKEYS; i++) {
        key_of(i, k);
        CHECK_OK(tind_put(ks, k, strlen(k), v, val_of(i, v)));
        if (i == NKEYS / 3 || i == 2 * NKEYS / 3)
            CHECK_OK(tind_flush(ks));
    }
    CHECK_OK(tind_close(db));
}

static void read_db(fs *mem, int bg)
{
    tind_db *db = open_db(mem, bg);
    tind_keyspace *ks;
    CHECK_OK(tind_keyspace_open(db, "k", NULL, &ks));
    char k[32], v[200];
    for (int i = 0; i < NKEYS; i++) {
        key_of(i, k);
        void *got;
        size_t n;
        CHECK_OK(tind_get(ks, k, strlen(k), NULL, &got, &n));
        CHECK_MEM(got, n, v, val_of(i, v));
        tind_free(got);
    }
    CHECK_OK(tind_close(db));
}

TEST(db_across_paths)
{
    if (!have_native()) {
        fprintf(stderr, "    no native path: skipped\n");
        return;
    }
    for (int bg = 0; bg < 2; bg++) {
        for (int writer_evp = 0; writer_evp < 2; writer_evp++) {
            fs *mem = fs_mem_new();
            CHECK(mem != NULL);
            aes_gcm_prefer_evp(writer_evp);
            write_db(mem, bg);
            aes_gcm_prefer_evp(!writer_evp);
            read_db(mem, bg);
            aes_gcm_prefer_evp(writer_evp);
            read_db(mem, bg);
            aes_gcm_prefer_evp(0);
            fs_destroy(mem);
        }
    }
}

int main(void)
{
    check_seed = check_seed_init(0xAE5);
    RUN(known_vectors);
    RUN(cross_check);
    RUN(pages_identical);
    RUN(db_across_paths);
    return 0;
}
