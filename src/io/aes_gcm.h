/*
 * aes_gcm.h -- AES-256-GCM with a 96-bit nonce and a 128-bit tag, the
 * cipher of the encrypted pages (io/fs_crypt.c). Two implementations of the
 * same function, chosen per context when it is made:
 *
 *   native  our AES-NI block and CTR functions (intrinsics; the key
 *           schedule in the context, wiped when it is freed) under
 *           OpenSSL's GCM mode, CRYPTO_gcm128_* (openssl/modes.h), which
 *           picks its PCLMULQDQ GHASH itself. Used when the CPU has AES-NI,
 *           PCLMULQDQ and SSE4.1 (__builtin_cpu_supports) on x86-64.
 *   EVP     OpenSSL's EVP interface (AES-256-GCM fetched once): every other
 *           CPU, and whenever aes_gcm_prefer_evp(1) was called.
 *
 * Both produce the same bytes (tests/test_aes_gcm.c checks every output and
 * tag against EVP): the choice changes the cost, never the format. Why
 * native: a journal record is one page of ~140 bytes, and the fixed cost of
 * one EVP operation (IV set-up, AAD, final, tag, each through the provider
 * dispatch) is ~3,700 instructions against ~400 of AES and GHASH work
 * (docs/ENCRYPTION.md "Overhead").
 *
 * Thread-safety: a context is used by one thread at a time; distinct
 * contexts are independent.
 */
#ifndef TIND_IO_AES_GCM_H
#define TIND_IO_AES_GCM_H

#include <stddef.h>
#include <stdint.h>

#define AES_GCM_KEY 32u
#define AES_GCM_IV 12u
#define AES_GCM_TAG 16u

typedef struct aes_gcm aes_gcm;

/* A context for key (copied); NULL when out of memory or libcrypto fails. */
aes_gcm *aes_gcm_new(const uint8_t key[AES_GCM_KEY]);
/* Wipes the key schedule and frees. NULL is a no-op. */
void aes_gcm_free(aes_gcm *g);
/* 1 when g runs the native implementation. */
int aes_gcm_is_native(const aes_gcm *g);
/* With on, contexts made from now on use EVP even where native is
 * available (tests, and measuring one against the other). Process-wide. */
void aes_gcm_prefer_evp(int on);

/* Encrypts len bytes of in into out (may be in) with nonce iv, authenticating
 * aad (aad_len bytes) too, and writes the tag. 0, or -1 when libcrypto fails
 * (EVP) or len is beyond GCM's limit. */
int aes_gcm_seal(aes_gcm *g, const uint8_t iv[AES_GCM_IV], const uint8_t *aad, size_t aad_len, const uint8_t *in,
                 size_t len, uint8_t *out, uint8_t tag[AES_GCM_TAG]);
/* Decrypts len bytes of in into out (may be in) and checks tag over aad and
 * the ciphertext: 0, or -1 when authentication fails (out then holds
 * bytes that must not be used). */
int aes_gcm_open(aes_gcm *g, const uint8_t iv[AES_GCM_IV], const uint8_t *aad, size_t aad_len, const uint8_t *in,
                 size_t len, uint8_t *out, const uint8_t tag[AES_GCM_TAG]);

#endif
