/*
 * aes_gcm.c -- AES-256-GCM for the encrypted pages (io/aes_gcm.h).
 *
 * The native path: AES-256 with AES-NI intrinsics (the key expansion with
 * AESKEYGENASSIST, 14 rounds of AESENC), given to OpenSSL's GCM mode
 * (CRYPTO_gcm128_*) as its block function and as a CTR32 stream function
 * that runs four blocks at a time (independent AESENC chains overlap in the
 * pipeline). OpenSSL keeps the GHASH table in the GCM128_CONTEXT and picks
 * PCLMULQDQ (or AVX) GHASH by its own CPU detection. The functions compiled
 * with target("aes,sse4.1") only run after native_ok() said the CPU has
 * them.
 *
 * Invariants
 *   1. Both paths compute AES-256-GCM with a 96-bit IV: the same ciphertext
 *      and tag for the same key, IV, AAD and plaintext (the cross-check
 *      test); the choice is per context and never reaches the disk.
 *   2. The key schedule lives in the context (the GCM128_CONTEXT points at
 *      it) and is wiped with OPENSSL_cleanse when the context is freed;
 *      CRYPTO_gcm128_release wipes the GHASH key.
 *   3. A tag is checked with CRYPTO_gcm128_finish (constant time) or
 *      EVP_DecryptFinal_ex; a failed check is -1 and nothing else.
 */
#include "io/aes_gcm.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/modes.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define AES_GCM_NATIVE 1
#include <immintrin.h>
#define NATIVE_TARGET __attribute__((target("aes,sse4.1")))
#else
#define AES_GCM_NATIVE 0
#endif

#define AES256_ROUNDS 14

struct aes_gcm {
#if AES_GCM_NATIVE
    __m128i rk[AES256_ROUNDS + 1];     /* native: the key schedule (first: 16-byte aligned) */
#endif
    GCM128_CONTEXT *gcm;               /* native */
    EVP_CIPHER_CTX *evp;               /* EVP */
};

static atomic_int prefer_evp;

void aes_gcm_prefer_evp(int on) { atomic_store(&prefer_evp, on != 0); }

/* ------------------------------------------------------------------- EVP */

/* AES-256-GCM fetched once: a context made with the legacy EVP_aes_256_gcm()
 * fetches the implementation again at every init with a cipher. Kept for
 * the life of the process (libcrypto's own store holds it anyway). */
static EVP_CIPHER *gcm_cipher;
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;

static void gcm_fetch(void) { gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL); }

static EVP_CIPHER_CTX *evp_new(const uint8_t key[AES_GCM_KEY])
{
    pthread_once(&gcm_once, gcm_fetch);
    const EVP_CIPHER *cipher = gcm_cipher ? gcm_cipher : EVP_aes_256_gcm();
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return NULL;
    if (EVP_CipherInit_ex2(ctx, cipher, key, NULL, 1, NULL) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* EVP_CipherInit_ex2 with the IV alone and the tag as an OSSL_PARAM: the
 * provider calls without the legacy ctrl translation (3% cheaper). */
static int evp_seal(EVP_CIPHER_CTX *ctx, const uint8_t *iv, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                    size_t len, uint8_t *out, uint8_t *tag)
{
    OSSL_PARAM get[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, AES_GCM_TAG),
                         OSSL_PARAM_construct_end()};
    int l = 0;
    if (len > INT32_MAX || aad_len > INT32_MAX || EVP_CipherInit_ex2(ctx, NULL, NULL, iv, 1, NULL) != 1)
        return -1;
    if (aad_len && EVP_EncryptUpdate(ctx, NULL, &l, aad, (int)aad_len) != 1)
        return -1;
    if (len && EVP_EncryptUpdate(ctx, out, &l, in, (int)len) != 1)
        return -1;
    if (EVP_EncryptFinal_ex(ctx, out + len, &l) != 1 || EVP_CIPHER_CTX_get_params(ctx, get) != 1)
        return -1;
    return 0;
}

static int evp_open(EVP_CIPHER_CTX *ctx, const uint8_t *iv, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                    size_t len, uint8_t *out, const uint8_t *tag)
{
    uint8_t t[AES_GCM_TAG];
    memcpy(t, tag, sizeof t);
    OSSL_PARAM set[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, t, sizeof t),
                         OSSL_PARAM_construct_end()};
    int l = 0;
    if (len > INT32_MAX || aad_len > INT32_MAX || EVP_CipherInit_ex2(ctx, NULL, NULL, iv, 0, NULL) != 1)
        return -1;
    if (aad_len && EVP_DecryptUpdate(ctx, NULL, &l, aad, (int)aad_len) != 1)
        return -1;
    if (len && EVP_DecryptUpdate(ctx, out, &l, in, (int)len) != 1)
        return -1;
    if (EVP_CIPHER_CTX_set_params(ctx, set) != 1)
        return -1;
    return EVP_DecryptFinal_ex(ctx, out + len, &l) == 1 ? 0 : -1;
}

/* ---------------------------------------------------------------- native */

#if AES_GCM_NATIVE

static int cpu_ok;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void cpu_check(void)
{
    __builtin_cpu_init();
    cpu_ok = __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}

static int native_ok(void)
{
    pthread_once(&cpu_once, cpu_check);
    return cpu_ok;
}

/* k ^ k << 32 ^ k << 64 ^ k << 96: the running XOR of a round key's words. */
NATIVE_TARGET static inline __m128i key_mix(__m128i k)
{
    __m128i t = _mm_slli_si128(k, 4);
    k = _mm_xor_si128(k, t);
    t = _mm_slli_si128(t, 4);
    k = _mm_xor_si128(k, t);
    t = _mm_slli_si128(t, 4);
    return _mm_xor_si128(k, t);
}

/* Round keys i and i + 1 of AES-256 from i - 2 and i - 1: the even one
 * takes RotWord(SubWord(last word)) ^ rcon, the odd one SubWord(last word).
 * AESKEYGENASSIST needs rcon as an immediate, hence the macro; round key
 * 14 is an even one alone. */
#define KEY_PAIR(rk, i, rcon)                                                                                    \
    do {                                                                                                         \
        rk[i] = _mm_xor_si128(key_mix(rk[(i)-2]), _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[(i)-1], rcon), \
                                                                    0xff));                                      \
        rk[(i) + 1] = _mm_xor_si128(key_mix(rk[(i)-1]), _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i], 0), 0xaa)); \
    } while (0)

NATIVE_TARGET static void native_expand(__m128i rk[AES256_ROUNDS + 1], const uint8_t key[AES_GCM_KEY])
{
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
    KEY_PAIR(rk, 2, 0x01);
    KEY_PAIR(rk, 4, 0x02);
    KEY_PAIR(rk, 6, 0x04);
    KEY_PAIR(rk, 8, 0x08);
    KEY_PAIR(rk, 10, 0x10);
    KEY_PAIR(rk, 12, 0x20);
    rk[14] = _mm_xor_si128(key_mix(rk[12]), _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[13], 0x40), 0xff));
}

/* The 13 middle rounds of AES-256 on b0..b3 (one round key load serves
 * the four), written out: a loop costs a compare, a jump and an index per
 * round, which a 9-block page would feel. */
#define ROUND4(r)                                                                                                \
    do {                                                                                                         \
        __m128i k_ = rk[r];                                                                                      \
        b0 = _mm_aesenc_si128(b0, k_);                                                                           \
        b1 = _mm_aesenc_si128(b1, k_);                                                                           \
        b2 = _mm_aesenc_si128(b2, k_);                                                                           \
        b3 = _mm_aesenc_si128(b3, k_);                                                                           \
    } while (0)
#define MIDDLE_ROUNDS4()                                                                                         \
    do {                                                                                                         \
        ROUND4(1);                                                                                               \
        ROUND4(2);                                                                                               \
        ROUND4(3);                                                                                               \
        ROUND4(4);                                                                                               \
        ROUND4(5);                                                                                               \
        ROUND4(6);                                                                                               \
        ROUND4(7);                                                                                               \
        ROUND4(8);                                                                                               \
        ROUND4(9);                                                                                               \
        ROUND4(10);                                                                                              \
        ROUND4(11);                                                                                              \
        ROUND4(12);                                                                                              \
        ROUND4(13);                                                                                              \
    } while (0)
#define ROUND1(r) b = _mm_aesenc_si128(b, rk[r])

NATIVE_TARGET static inline __m128i native_block(__m128i b, const __m128i *rk)
{
    b = _mm_xor_si128(b, rk[0]);
    ROUND1(1);
    ROUND1(2);
    ROUND1(3);
    ROUND1(4);
    ROUND1(5);
    ROUND1(6);
    ROUND1(7);
    ROUND1(8);
    ROUND1(9);
    ROUND1(10);
    ROUND1(11);
    ROUND1(12);
    ROUND1(13);
    return _mm_aesenclast_si128(b, rk[AES256_ROUNDS]);
}

/* block128_f: one block (GCM's H, the tag's mask, a last partial block). */
NATIVE_TARGET static void native_encrypt(const unsigned char in[16], unsigned char out[16], const void *key)
{
    __m128i b = native_block(_mm_loadu_si128((const __m128i *)in), key);
    _mm_storeu_si128((__m128i *)out, b);
}

/* ctr128_f: `blocks` blocks of CTR mode from counter block ivec, whose last
 * 32 bits (big-endian) count and wrap on their own (GCM's inc32). The
 * counter block is kept byte-reversed, so inc32 is a 32-bit add in lane 0. */
NATIVE_TARGET static void native_ctr32(const unsigned char *in, unsigned char *out, size_t blocks, const void *key,
                                       const unsigned char ivec[16])
{
    const __m128i *rk = key;
    const __m128i rev = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m128i one = _mm_set_epi32(0, 0, 0, 1);
    __m128i c = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)ivec), rev);
    for (; blocks >= 4; blocks -= 4, in += 64, out += 64) {
        __m128i b0 = _mm_xor_si128(_mm_shuffle_epi8(c, rev), rk[0]);
        c = _mm_add_epi32(c, one);
        __m128i b1 = _mm_xor_si128(_mm_shuffle_epi8(c, rev), rk[0]);
        c = _mm_add_epi32(c, one);
        __m128i b2 = _mm_xor_si128(_mm_shuffle_epi8(c, rev), rk[0]);
        c = _mm_add_epi32(c, one);
        __m128i b3 = _mm_xor_si128(_mm_shuffle_epi8(c, rev), rk[0]);
        c = _mm_add_epi32(c, one);
        MIDDLE_ROUNDS4();
        b0 = _mm_aesenclast_si128(b0, rk[AES256_ROUNDS]);
        b1 = _mm_aesenclast_si128(b1, rk[AES256_ROUNDS]);
        b2 = _mm_aesenclast_si128(b2, rk[AES256_ROUNDS]);
        b3 = _mm_aesenclast_si128(b3, rk[AES256_ROUNDS]);
        _mm_storeu_si128((__m128i *)out, _mm_xor_si128(b0, _mm_loadu_si128((const __m128i *)in)));
        _mm_storeu_si128((__m128i *)(out + 16), _mm_xor_si128(b1, _mm_loadu_si128((const __m128i *)(in + 16))));
        _mm_storeu_si128((__m128i *)(out + 32), _mm_xor_si128(b2, _mm_loadu_si128((const __m128i *)(in + 32))));
        _mm_storeu_si128((__m128i *)(out + 48), _mm_xor_si128(b3, _mm_loadu_si128((const __m128i *)(in + 48))));
    }
    for (; blocks; blocks--, in += 16, out += 16) {
        __m128i b = native_block(_mm_shuffle_epi8(c, rev), rk);
        c = _mm_add_epi32(c, one);
        _mm_storeu_si128((__m128i *)out, _mm_xor_si128(b, _mm_loadu_si128((const __m128i *)in)));
    }
}

static int native_new(aes_gcm *g, const uint8_t key[AES_GCM_KEY])
{
    if (atomic_load(&prefer_evp) || !native_ok())
        return 0;
    native_expand(g->rk, key);
    g->gcm = CRYPTO_gcm128_new(g->rk, native_encrypt);
    return g->gcm != NULL;
}

static void native_wipe(aes_gcm *g) { OPENSSL_cleanse(g->rk, sizeof g->rk); }

#else

static int native_new(aes_gcm *g, const uint8_t key[AES_GCM_KEY]) { return 0; }
static void native_wipe(aes_gcm *g) {}
#define native_ctr32 NULL

#endif

/* ----------------------------------------------------------------- the API */

aes_gcm *aes_gcm_new(const uint8_t key[AES_GCM_KEY])
{
    aes_gcm *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    if (!native_new(g, key) && !(g->evp = evp_new(key))) {
        aes_gcm_free(g);
        return NULL;
    }
    return g;
}

void aes_gcm_free(aes_gcm *g)
{
    if (!g)
        return;
    if (g->gcm)
        CRYPTO_gcm128_release(g->gcm);
    EVP_CIPHER_CTX_free(g->evp);
    native_wipe(g);
    free(g);
}

int aes_gcm_is_native(const aes_gcm *g) { return g->gcm != NULL; }

int aes_gcm_seal(aes_gcm *g, const uint8_t iv[AES_GCM_IV], const uint8_t *aad, size_t aad_len, const uint8_t *in,
                 size_t len, uint8_t *out, uint8_t tag[AES_GCM_TAG])
{
    if (!g->gcm)
        return evp_seal(g->evp, iv, aad, aad_len, in, len, out, tag);
    CRYPTO_gcm128_setiv(g->gcm, iv, AES_GCM_IV);
    if (aad_len && CRYPTO_gcm128_aad(g->gcm, aad, aad_len) != 0)
        return -1;
    if (len && CRYPTO_gcm128_encrypt_ctr32(g->gcm, in, out, len, native_ctr32) != 0)
        return -1;
    CRYPTO_gcm128_tag(g->gcm, tag, AES_GCM_TAG);
    return 0;
}

int aes_gcm_open(aes_gcm *g, const uint8_t iv[AES_GCM_IV], const uint8_t *aad, size_t aad_len, const uint8_t *in,
                 size_t len, uint8_t *out, const uint8_t tag[AES_GCM_TAG])
{
    if (!g->gcm)
        return evp_open(g->evp, iv, aad, aad_len, in, len, out, tag);
    CRYPTO_gcm128_setiv(g->gcm, iv, AES_GCM_IV);
    if (aad_len && CRYPTO_gcm128_aad(g->gcm, aad, aad_len) != 0)
        return -1;
    if (len && CRYPTO_gcm128_decrypt_ctr32(g->gcm, in, out, len, native_ctr32) != 0)
        return -1;
    return CRYPTO_gcm128_finish(g->gcm, tag, AES_GCM_TAG) == 0 ? 0 : -1;
}
