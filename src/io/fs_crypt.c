/*
 * fs_crypt.c -- AES-256-GCM pages under the fs contract (io/fs_crypt.h has
 * the layout; docs/FORMAT.md "Encrypted files" the bytes; docs/ENCRYPTION.md
 * why the file-system layer and what is protected).
 *
 * Invariants
 *   1. A nonce is never used twice under one file key: the file key is new
 *      with every file (a random salt in its header, also at O_TRUNC), the
 *      nonce holds the page index, and within a handle the write counter
 *      grows with every page written; two handles writing one file (a
 *      journal reopened to cut its torn tail) differ by their random word.
 *   2. Logical offset x lives in page x / FS_CRYPT_PAYLOAD, stored at
 *      FS_CRYPT_HEADER + page * FS_CRYPT_PAGE: reads are random-access.
 *      Only the last page may be partial; the stored size alone gives the
 *      logical size (fs_crypt_logical_size).
 *   3. A write reaches the inner file before it returns (nothing is held
 *      back), so a process crash loses nothing the plaintext fs would keep.
 *      Appending into a partial last page rewrites that page whole; the
 *      handle keeps its plaintext (`tail`) so appends never read it back.
 *
 * Thread-safety: see fs_crypt.h. `keys` never change after the fs is
 * shared (fs_crypt_add_key is called before use); a file's `dec` context is
 * guarded by `dec_mu`; everything else of a file belongs to its writer.
 */
#include "io/fs_crypt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/coding.h"
#include "util/hash.h"

#define HEADER_MAGIC "tindcryp"
#define KEYFILE_MAGIC "tindencr"
#define CRYPT_VERSION 1u
#define CIPHER_AES256GCM_4K 1u
#define HEADER_USED 48u              /* bytes of the header that mean something */
#define SALT_BYTES 16u

typedef struct crypt_key {
    uint8_t key[FS_CRYPT_KEY_BYTES];
    uint8_t id[FS_CRYPT_KEY_ID];
} crypt_key;

typedef struct crypt_fs {
    fs base;
    fs *inner;
    int own_inner;
    int key_count;
    crypt_key keys[FS_CRYPT_MAX_KEYS];   /* keys[0] writes new files */
} crypt_fs;

typedef struct crypt_file {
    fs_file base;
    fs_file *inner;
    int writable;
    _Atomic int have_header;             /* salt and file key known */
    uint8_t file_key[FS_CRYPT_KEY_BYTES];
    _Atomic uint64_t stored;             /* stored size last seen */
    uint64_t logical;                    /* writable handles: the logical size */
    uint32_t counter;                    /* writes: pages written by this handle */
    uint32_t random;                     /* writes: this handle's nonce word */
    EVP_CIPHER_CTX *enc;                 /* writable handles */
    pthread_mutex_t dec_mu;
    EVP_CIPHER_CTX *dec;                 /* guarded by dec_mu */
    uint64_t tail_page;                  /* the partial last page this handle wrote */
    size_t tail_len;                     /* 0 = no tail kept */
    uint8_t *wbuf;                       /* writes: stored pages being built */
    size_t wbuf_cap;
    uint8_t tail[FS_CRYPT_PAYLOAD];
} crypt_file;

typedef struct crypt_lock {
    fs_lock base;
    fs_lock *inner;
} crypt_lock;

static const fs_ops crypt_ops;

/* ------------------------------------------------------------ primitives */

static int hmac_sha256(const uint8_t key[FS_CRYPT_KEY_BYTES], const void *a, size_t alen, const void *b,
                       size_t blen, uint8_t out[32])
{
    uint8_t msg[64];
    if (alen + blen > sizeof msg)
        return TIND_EINVAL;
    memcpy(msg, a, alen);
    if (blen)
        memcpy(msg + alen, b, blen);
    unsigned int len = 0;
    int ok = HMAC(EVP_sha256(), key, FS_CRYPT_KEY_BYTES, msg, alen + blen, out, &len) != NULL && len == 32;
    OPENSSL_cleanse(msg, sizeof msg);
    return ok ? TIND_OK : TIND_EIO;
}

int fs_crypt_key_id(const uint8_t key[FS_CRYPT_KEY_BYTES], uint8_t id[FS_CRYPT_KEY_ID])
{
    static const char label[] = "tind key check v1";
    uint8_t check[32];
    int rc = hmac_sha256(key, label, sizeof label - 1, NULL, 0, check);
    memcpy(id, check, FS_CRYPT_KEY_ID);
    return rc;
}

static int derive_file_key(const uint8_t master[FS_CRYPT_KEY_BYTES], const uint8_t salt[SALT_BYTES],
                           uint8_t out[FS_CRYPT_KEY_BYTES])
{
    static const char label[] = "tind file key v1";
    return hmac_sha256(master, label, sizeof label - 1, salt, SALT_BYTES, out);
}

static EVP_CIPHER_CTX *gcm_ctx(const uint8_t key[FS_CRYPT_KEY_BYTES], int encrypt)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return NULL;
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL, encrypt) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Seals `len` plaintext bytes as page `page` into out (len + OVERHEAD). */
static int gcm_seal(EVP_CIPHER_CTX *ctx, uint64_t page, uint32_t counter, uint32_t random, const uint8_t *in,
                    size_t len, uint8_t *out)
{
    uint8_t aad[8];
    enc_u64(aad, page);
    enc_u32(out, (uint32_t)page);
    enc_u32(out + 4, counter);
    enc_u32(out + 8, random);
    int l = 0;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, out, 1) != 1 || EVP_EncryptUpdate(ctx, NULL, &l, aad, 8) != 1)
        return TIND_EIO;
    if (len && EVP_EncryptUpdate(ctx, out + FS_CRYPT_NONCE, &l, in, (int)len) != 1)
        return TIND_EIO;
    if (EVP_EncryptFinal_ex(ctx, out + FS_CRYPT_NONCE + len, &l) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, FS_CRYPT_TAG, out + FS_CRYPT_NONCE + len) != 1)
        return TIND_EIO;
    return TIND_OK;
}

/* Opens stored page `page` (len bytes) into out; 0 on success, -1 when it
 * fails authentication (or names another page). */
static int gcm_open(EVP_CIPHER_CTX *ctx, uint64_t page, const uint8_t *in, size_t len, uint8_t *out)
{
    if (len < FS_CRYPT_OVERHEAD || len > FS_CRYPT_PAGE || dec_u32(in) != (uint32_t)page)
        return -1;
    size_t ct = len - FS_CRYPT_OVERHEAD;
    uint8_t aad[8];
    enc_u64(aad, page);
    uint8_t tag[FS_CRYPT_TAG];
    memcpy(tag, in + FS_CRYPT_NONCE + ct, FS_CRYPT_TAG);
    int l = 0;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, in, 0) != 1 || EVP_DecryptUpdate(ctx, NULL, &l, aad, 8) != 1)
        return -1;
    if (ct && EVP_DecryptUpdate(ctx, out, &l, in + FS_CRYPT_NONCE, (int)ct) != 1)
        return -1;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, FS_CRYPT_TAG, tag) != 1)
        return -1;
    return EVP_DecryptFinal_ex(ctx, out + ct, &l) == 1 ? 0 : -1;
}

uint64_t fs_crypt_logical_size(uint64_t stored)
{
    if (stored <= FS_CRYPT_HEADER)
        return 0;
    uint64_t body = stored - FS_CRYPT_HEADER;
    uint64_t rest = body % FS_CRYPT_PAGE;
    return body / FS_CRYPT_PAGE * FS_CRYPT_PAYLOAD + (rest > FS_CRYPT_OVERHEAD ? rest - FS_CRYPT_OVERHEAD : 0);
}

static uint64_t page_offset(uint64_t page) { return FS_CRYPT_HEADER + page * FS_CRYPT_PAGE; }

/* ---------------------------------------------------------------- headers */

int fs_crypt_encode_header(const uint8_t key[FS_CRYPT_KEY_BYTES], const uint8_t salt[16],
                           uint8_t header[FS_CRYPT_HEADER])
{
    memset(header, 0, FS_CRYPT_HEADER);
    memcpy(header, HEADER_MAGIC, 8);
    enc_u32(header + 8, CRYPT_VERSION);
    enc_u32(header + 12, FS_CRYPT_PAGE);
    memcpy(header + 16, salt, SALT_BYTES);
    int rc = fs_crypt_key_id(key, header + 32);
    enc_u64(header + 40, hash64(header, 40));
    return rc;
}

/* Checks a header's fixed part; TIND_ECORRUPT / TIND_EVERSION naming path. */
static int header_check(const uint8_t *h, size_t len, const char *path, tind_err *err)
{
    if (len < HEADER_USED || memcmp(h, HEADER_MAGIC, 8) != 0)
        return err_set(err, TIND_ECORRUPT, "'%s': not an encrypted tind file (no encryption header)", path);
    if (dec_u64(h + 40) != hash64(h, 40))
        return err_set(err, TIND_ECORRUPT, "'%s': encryption header at offset 0: checksum mismatch", path);
    if (dec_u32(h + 8) != CRYPT_VERSION)
        return err_set(err, TIND_EVERSION, "'%s': encryption format version %u is unknown (this tind reads %u)",
                       path, dec_u32(h + 8), CRYPT_VERSION);
    if (dec_u32(h + 12) != FS_CRYPT_PAGE)
        return err_set(err, TIND_ECORRUPT, "'%s': encryption header: page size %u (expected %u)", path,
                       dec_u32(h + 12), FS_CRYPT_PAGE);
    return TIND_OK;
}

static const crypt_key *key_for(const crypt_fs *cf, const uint8_t *id)
{
    for (int i = 0; i < cf->key_count; i++)
        if (memcmp(cf->keys[i].id, id, FS_CRYPT_KEY_ID) == 0)
            return &cf->keys[i];
    return NULL;
}

/* Reads and checks the header of a file whose stored size is at least
 * FS_CRYPT_HEADER; derives its file key. */
static int load_header(crypt_file *f, tind_err *err)
{
    crypt_fs *cf = (crypt_fs *)f->base.owner;
    uint8_t h[HEADER_USED];
    size_t got = 0;
    int rc = fs_read(f->inner, h, sizeof h, 0, &got, err);
    if (rc)
        return rc;
    rc = header_check(h, got, f->base.path, err);
    if (rc)
        return rc;
    const crypt_key *k = key_for(cf, h + 32);
    if (!k)
        return err_set(err, TIND_ECORRUPT,
                       "'%s': encrypted with another key (key id %02x%02x%02x%02x...) than this database's", f->base.path,
                       h[32], h[33], h[34], h[35]);
    if (derive_file_key(k->key, h + 16, f->file_key) != TIND_OK)
        return err_set(err, TIND_EIO, "'%s': deriving the file key failed (libcrypto)", f->base.path);
    f->have_header = 1;
    return TIND_OK;
}

/* A new file key and header for an empty (or truncated-to-empty) file. */
static int write_header(crypt_file *f, tind_err *err)
{
    crypt_fs *cf = (crypt_fs *)f->base.owner;
    uint8_t salt[SALT_BYTES];
    if (RAND_bytes(salt, sizeof salt) != 1)
        return err_set(err, TIND_EIO, "'%s': no random bytes for the file's salt (libcrypto)", f->base.path);
    uint8_t *h = calloc(1, FS_CRYPT_HEADER);
    if (!h)
        return err_set(err, TIND_ENOMEM, "'%s': out of memory", f->base.path);
    int rc = fs_crypt_encode_header(cf->keys[0].key, salt, h);
    if (rc == TIND_OK)
        rc = fs_write(f->inner, h, FS_CRYPT_HEADER, 0, err);
    free(h);
    if (rc)
        return rc;
    if (derive_file_key(cf->keys[0].key, salt, f->file_key) != TIND_OK)
        return err_set(err, TIND_EIO, "'%s': deriving the file key failed (libcrypto)", f->base.path);
    f->have_header = 1;
    f->logical = 0;
    f->tail_len = 0;
    atomic_store(&f->stored, FS_CRYPT_HEADER);
    return TIND_OK;
}

/* ------------------------------------------------------------ the decoder */

int fs_crypt_decode_page(const uint8_t key[FS_CRYPT_KEY_BYTES], const uint8_t *header, size_t header_len,
                         uint64_t page, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len,
                         tind_err *err)
{
    *out_len = 0;
    int rc = header_check(header, header_len, "(page decoder)", err);
    if (rc)
        return rc;
    uint8_t id[FS_CRYPT_KEY_ID];
    uint8_t fkey[FS_CRYPT_KEY_BYTES];
    if (fs_crypt_key_id(key, id) != TIND_OK || derive_file_key(key, header + 16, fkey) != TIND_OK)
        return err_set(err, TIND_EIO, "page decoder: libcrypto failed");
    if (memcmp(id, header + 32, FS_CRYPT_KEY_ID) != 0)
        return err_set(err, TIND_ECORRUPT, "page decoder: the header names another key");
    if (len < FS_CRYPT_OVERHEAD || len > FS_CRYPT_PAGE)
        return err_set(err, TIND_ECORRUPT, "page %llu: %zu bytes stored (%u..%u expected)", (unsigned long long)page,
                       len, FS_CRYPT_OVERHEAD, FS_CRYPT_PAGE);
    EVP_CIPHER_CTX *ctx = gcm_ctx(fkey, 0);
    OPENSSL_cleanse(fkey, sizeof fkey);
    if (!ctx)
        return err_set(err, TIND_ENOMEM, "page decoder: no cipher context");
    int bad = gcm_open(ctx, page, in, len, out);
    EVP_CIPHER_CTX_free(ctx);
    if (bad)
        return err_set(err, TIND_ECORRUPT, "page %llu: authentication failed", (unsigned long long)page);
    *out_len = len - FS_CRYPT_OVERHEAD;
    return TIND_OK;
}

int fs_crypt_encode_page(const uint8_t key[FS_CRYPT_KEY_BYTES], const uint8_t *header, uint64_t page,
                         uint32_t counter, uint32_t random, const uint8_t *in, size_t len, uint8_t *out,
                         tind_err *err)
{
    if (len > FS_CRYPT_PAYLOAD)
        return err_set(err, TIND_EINVAL, "page encoder: %zu bytes is more than a page", len);
    uint8_t fkey[FS_CRYPT_KEY_BYTES];
    if (derive_file_key(key, header + 16, fkey) != TIND_OK)
        return err_set(err, TIND_EIO, "page encoder: libcrypto failed");
    EVP_CIPHER_CTX *ctx = gcm_ctx(fkey, 1);
    OPENSSL_cleanse(fkey, sizeof fkey);
    if (!ctx)
        return err_set(err, TIND_ENOMEM, "page encoder: no cipher context");
    int rc = gcm_seal(ctx, page, counter, random, in, len, out);
    EVP_CIPHER_CTX_free(ctx);
    return rc ? err_set(err, rc, "page encoder: libcrypto failed") : TIND_OK;
}

/* -------------------------------------------------------------- key file */

static int keyfile_encode(const uint8_t key[FS_CRYPT_KEY_BYTES], uint8_t out[FS_CRYPT_KEYFILE_SIZE])
{
    static const char label[] = "tind key check v1";
    memset(out, 0, FS_CRYPT_KEYFILE_SIZE);
    memcpy(out, KEYFILE_MAGIC, 8);
    enc_u32(out + 8, CRYPT_VERSION);
    enc_u32(out + 12, CIPHER_AES256GCM_4K);
    int rc = hmac_sha256(key, label, sizeof label - 1, NULL, 0, out + 16);
    enc_u64(out + 56, hash64(out, 56));
    return rc;
}

int fs_crypt_keyfile_write(fs *cfs, const char *dir, const char *name, tind_err *err)
{
    if (!fs_is_crypt(cfs))
        return err_set(err, TIND_EINVAL, "key file '%s': not an encrypting fs", name);
    crypt_fs *cf = (crypt_fs *)cfs;
    uint8_t data[FS_CRYPT_KEYFILE_SIZE];
    if (keyfile_encode(cf->keys[0].key, data) != TIND_OK)
        return err_set(err, TIND_EIO, "key file '%s': libcrypto failed computing the key check value", name);
    return fs_write_atomic(cf->inner, dir, name, data, sizeof data, err);
}

int fs_crypt_keyfile_check(fs *cfs, const uint8_t *data, size_t len, const char *name, tind_err *err)
{
    if (!fs_is_crypt(cfs))
        return err_set(err, TIND_EINVAL, "key file '%s': not an encrypting fs", name);
    if (len != FS_CRYPT_KEYFILE_SIZE || memcmp(data, KEYFILE_MAGIC, 8) != 0 ||
        dec_u64(data + 56) != hash64(data, 56))
        return err_set(err, TIND_ECORRUPT, "'%s': damaged encryption key file (%zu bytes, checksum or magic wrong)",
                       name, len);
    if (dec_u32(data + 8) != CRYPT_VERSION || dec_u32(data + 12) != CIPHER_AES256GCM_4K)
        return err_set(err, TIND_EVERSION, "'%s': encryption version %u cipher %u unknown to this tind", name,
                       dec_u32(data + 8), dec_u32(data + 12));
    uint8_t mine[FS_CRYPT_KEYFILE_SIZE];
    if (keyfile_encode(((crypt_fs *)cfs)->keys[0].key, mine) != TIND_OK)
        return err_set(err, TIND_EIO, "'%s': libcrypto failed computing the key check value", name);
    if (CRYPTO_memcmp(mine + 16, data + 16, 32) != 0)
        return err_set(err, TIND_EINVAL, "wrong encryption key: it does not match the key check value in '%s'", name);
    return TIND_OK;
}

/* ------------------------------------------------------------------ files */

static int crypt_fail(tind_err *err, int code, const crypt_file *f, const char *what)
{
    return err_set(err, code, "'%s': %s", f->base.path, what);
}

static void file_free(crypt_file *f)
{
    EVP_CIPHER_CTX_free(f->enc);
    EVP_CIPHER_CTX_free(f->dec);
    pthread_mutex_destroy(&f->dec_mu);
    OPENSSL_cleanse(f->file_key, sizeof f->file_key);
    OPENSSL_cleanse(f->tail, sizeof f->tail);
    free(f->wbuf);
    free(f->base.path);
    free(f);
}

/* The cipher contexts once the file key is known. */
static int make_contexts(crypt_file *f, tind_err *err)
{
    if (!f->dec && !(f->dec = gcm_ctx(f->file_key, 0)))
        return crypt_fail(err, TIND_ENOMEM, f, "no cipher context (libcrypto)");
    if (f->writable && !f->enc && !(f->enc = gcm_ctx(f->file_key, 1)))
        return crypt_fail(err, TIND_ENOMEM, f, "no cipher context (libcrypto)");
    return TIND_OK;
}

static int open_page(crypt_file *f, uint64_t page, const uint8_t *in, size_t len, uint8_t *out);

/* The logical size of a file stored in `stored` bytes, leaving out a last
 * page that fails authentication (a write torn by a power loss): reads end
 * where it starts, and the size says so, so that fs_read_all and the
 * formats above see a shorter file rather than a read error. */
static int verified_size(crypt_file *f, uint64_t stored, uint64_t *size, tind_err *err)
{
    uint64_t logical = fs_crypt_logical_size(stored);
    *size = logical;
    if (logical == 0 || !f->have_header)
        return TIND_OK;
    uint64_t last = (logical - 1) / FS_CRYPT_PAYLOAD;
    uint64_t from = page_offset(last);
    size_t len = stored - from < FS_CRYPT_PAGE ? (size_t)(stored - from) : FS_CRYPT_PAGE;
    uint8_t raw[FS_CRYPT_PAGE], plain[FS_CRYPT_PAYLOAD];
    size_t got = 0;
    int rc = fs_read(f->inner, raw, len, from, &got, err);
    if (rc)
        return rc;
    int bad = got < FS_CRYPT_OVERHEAD ? -1 : open_page(f, last, raw, got, plain);
    OPENSSL_cleanse(plain, sizeof plain);
    if (bad == -2)
        return crypt_fail(err, TIND_ENOMEM, f, "no cipher context (libcrypto)");
    if (bad)
        *size = last * FS_CRYPT_PAYLOAD;
    return TIND_OK;
}

/* Stored bytes of a file of `logical` bytes. */
static uint64_t stored_size(uint64_t logical)
{
    uint64_t rest = logical % FS_CRYPT_PAYLOAD;
    return page_offset(logical / FS_CRYPT_PAYLOAD) + (rest ? rest + FS_CRYPT_OVERHEAD : 0);
}

static int crypt_open(fs *fsys, const char *path, int flags, fs_file **out, tind_err *err)
{
    crypt_fs *cf = (crypt_fs *)fsys;
    *out = NULL;
    crypt_file *f = calloc(1, sizeof *f);
    char *copy = strdup(path);
    if (!f || !copy || pthread_mutex_init(&f->dec_mu, NULL) != 0) {
        free(f);
        free(copy);
        return err_set(err, TIND_ENOMEM, "open '%s': out of memory", path);
    }
    f->base.owner = fsys;
    f->base.path = copy;
    f->writable = (flags & FS_O_WRITE) != 0;
    int rc = fs_open(cf->inner, path, flags, &f->inner, err);
    if (rc) {
        f->inner = NULL;
        file_free(f);
        return rc;
    }
    uint64_t stored = 0;
    rc = fs_size(f->inner, &stored, err);
    if (rc == TIND_OK && f->writable && RAND_bytes((uint8_t *)&f->random, sizeof f->random) != 1)
        rc = crypt_fail(err, TIND_EIO, f, "no random bytes for the nonces (libcrypto)");
    if (rc == TIND_OK) {
        atomic_store(&f->stored, stored);
        if (stored >= FS_CRYPT_HEADER) {
            rc = load_header(f, err);
        } else if (f->writable) {
            /* new, truncated, or torn before its header was whole */
            if (stored > 0)
                rc = fs_truncate(f->inner, 0, err);
            if (rc == TIND_OK)
                rc = write_header(f, err);
        }
        /* a read-only file shorter than a header is empty; its header is
         * read once it has one (crypt_read) */
    }
    if (rc == TIND_OK && f->have_header)
        rc = make_contexts(f, err);
    if (rc == TIND_OK && f->writable) {
        /* a torn last page (or a fragment of one) is cut before anything
         * is appended after it */
        rc = verified_size(f, atomic_load(&f->stored), &f->logical, err);
        uint64_t end = stored_size(f->logical);
        if (rc == TIND_OK && f->have_header && atomic_load(&f->stored) > end) {
            rc = fs_truncate(f->inner, end, err);
            atomic_store(&f->stored, end);
        }
    }
    if (rc) {
        fs_close(f->inner, NULL);
        file_free(f);
        return rc;
    }
    *out = &f->base;
    return TIND_OK;
}

static int crypt_close(fs_file *file, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    int rc = fs_close(f->inner, err);
    file_free(f);
    return rc;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Decrypts page `page` (stored at in, len bytes) with the file's context, or
 * a context of its own while another reader holds it. A stored page of
 * zeros (a hole: a crash persisted later pages first, or fallocate) reads as
 * plaintext zeros, as the hole would in a plaintext file: zeros are no
 * one's data, and every format above already rejects them (checksums). */
static int open_page(crypt_file *f, uint64_t page, const uint8_t *in, size_t len, uint8_t *out)
{
    int bad;
    if (pthread_mutex_trylock(&f->dec_mu) == 0) {
        bad = gcm_open(f->dec, page, in, len, out);
        pthread_mutex_unlock(&f->dec_mu);
    } else {
        EVP_CIPHER_CTX *ctx = gcm_ctx(f->file_key, 0);
        if (!ctx)
            return -2;
        bad = gcm_open(ctx, page, in, len, out);
        EVP_CIPHER_CTX_free(ctx);
    }
    if (bad && len >= FS_CRYPT_OVERHEAD && all_zero(in, len)) {
        memset(out, 0, len - FS_CRYPT_OVERHEAD);
        bad = 0;
    }
    return bad;
}

static int page_error(crypt_file *f, uint64_t page, int bad, tind_err *err)
{
    if (bad == -2)
        return crypt_fail(err, TIND_ENOMEM, f, "no cipher context (libcrypto)");
    return err_set(err, TIND_ECORRUPT,
                   "'%s': encrypted page %llu (offset %llu): authentication failed (the file was altered or damaged)",
                   f->base.path, (unsigned long long)page, (unsigned long long)(page * FS_CRYPT_PAYLOAD));
}

/* The stored size now; the header once the file has one (a read-only
 * handle opened on a file shorter than its header). */
static int refresh_stored(crypt_file *f, uint64_t *stored, tind_err *err)
{
    int rc = fs_size(f->inner, stored, err);
    if (rc)
        return rc;
    atomic_store(&f->stored, *stored);
    if (!f->have_header && *stored >= FS_CRYPT_HEADER) {
        pthread_mutex_lock(&f->dec_mu);
        rc = f->have_header ? TIND_OK : load_header(f, err);
        if (rc == TIND_OK)
            rc = make_contexts(f, err);
        pthread_mutex_unlock(&f->dec_mu);
    }
    return rc;
}

#define STACK_PAGES 4

static int crypt_read(fs_file *file, void *buf, size_t n, uint64_t off, size_t *got, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    *got = 0;
    uint64_t stored = atomic_load(&f->stored);
    if (!f->have_header || off + n > fs_crypt_logical_size(stored)) {
        /* past what this handle saw: the file may have grown */
        int rc = refresh_stored(f, &stored, err);
        if (rc)
            return rc;
    }
    uint64_t size = fs_crypt_logical_size(stored);
    if (n == 0 || off >= size)
        return TIND_OK;
    uint64_t end = off + n < size ? off + n : size;
    uint64_t p0 = off / FS_CRYPT_PAYLOAD, p1 = (end - 1) / FS_CRYPT_PAYLOAD;
    uint64_t sfrom = page_offset(p0);
    uint64_t sto = page_offset(p1 + 1) < stored ? page_offset(p1 + 1) : stored;
    size_t slen = (size_t)(sto - sfrom);
    uint8_t stack[STACK_PAGES * FS_CRYPT_PAGE];
    uint8_t *raw = slen <= sizeof stack ? stack : malloc(slen);
    if (!raw)
        return crypt_fail(err, TIND_ENOMEM, f, "read: out of memory");
    size_t rgot = 0;
    int rc = fs_read(f->inner, raw, slen, sfrom, &rgot, err);
    uint8_t plain[FS_CRYPT_PAYLOAD];
    for (uint64_t p = p0; rc == TIND_OK && p <= p1; p++) {
        size_t at = (size_t)(p - p0) * FS_CRYPT_PAGE;
        size_t plen = at < rgot ? (rgot - at < FS_CRYPT_PAGE ? rgot - at : FS_CRYPT_PAGE) : 0;
        int last = page_offset(p) + plen >= stored;
        uint64_t pstart = p * FS_CRYPT_PAYLOAD;
        uint64_t from = off > pstart ? off : pstart;
        uint64_t to = end < pstart + FS_CRYPT_PAYLOAD ? end : pstart + FS_CRYPT_PAYLOAD;
        int whole = from == pstart && to == pstart + FS_CRYPT_PAYLOAD && plen == FS_CRYPT_PAGE;
        uint8_t *dst = whole ? (uint8_t *)buf + (pstart - off) : plain;
        int bad = plen < FS_CRYPT_OVERHEAD ? -1 : open_page(f, p, raw + at, plen, dst);
        if (bad == 0 && pstart + (plen - FS_CRYPT_OVERHEAD) < to)
            bad = -1;    /* shorter than the size promised: the file shrank */
        if (bad) {
            /* the last page torn by a crash reads as the end of the file */
            if (bad == -1 && last)
                break;
            rc = page_error(f, p, bad, err);
            break;
        }
        if (!whole)
            memcpy((uint8_t *)buf + (from - off), plain + (from - pstart), (size_t)(to - from));
        *got = (size_t)(to - off);
    }
    OPENSSL_cleanse(plain, sizeof plain);
    if (raw != stack)
        free(raw);
    return rc;
}

/* The plaintext of page `page` (a writer's read-modify-write). */
static int read_page(crypt_file *f, uint64_t page, uint8_t *out, size_t *len, tind_err *err)
{
    if (f->tail_len && f->tail_page == page) {
        memcpy(out, f->tail, f->tail_len);
        *len = f->tail_len;
        return TIND_OK;
    }
    uint8_t raw[FS_CRYPT_PAGE];
    size_t got = 0;
    int rc = fs_read(f->inner, raw, sizeof raw, page_offset(page), &got, err);
    if (rc)
        return rc;
    int bad = got < FS_CRYPT_OVERHEAD ? -1 : open_page(f, page, raw, got, out);
    if (bad)
        return page_error(f, page, bad, err);
    *len = got - FS_CRYPT_OVERHEAD;
    return TIND_OK;
}

static int next_nonce(crypt_file *f, tind_err *err)
{
    if (++f->counter == 0 && RAND_bytes((uint8_t *)&f->random, sizeof f->random) != 1)
        return crypt_fail(err, TIND_EIO, f, "no random bytes for the nonces (libcrypto)");
    return TIND_OK;
}

static int write_at(crypt_file *f, const uint8_t *buf, size_t n, uint64_t off, tind_err *err)
{
    uint64_t end = off + n;
    uint64_t p0 = off / FS_CRYPT_PAYLOAD, p1 = (end - 1) / FS_CRYPT_PAYLOAD;
    size_t need = (size_t)(p1 - p0 + 1) * FS_CRYPT_PAGE;
    if (need > f->wbuf_cap) {
        uint8_t *nb = realloc(f->wbuf, need);
        if (!nb)
            return crypt_fail(err, TIND_ENOMEM, f, "write: out of memory");
        f->wbuf = nb;
        f->wbuf_cap = need;
    }
    uint8_t page_buf[FS_CRYPT_PAYLOAD];
    size_t total = 0, last_len = 0;
    int rc = TIND_OK;
    for (uint64_t p = p0; rc == TIND_OK && p <= p1; p++) {
        uint64_t pstart = p * FS_CRYPT_PAYLOAD;
        size_t a = (size_t)((off > pstart ? off : pstart) - pstart);
        size_t b = (size_t)((end < pstart + FS_CRYPT_PAYLOAD ? end : pstart + FS_CRYPT_PAYLOAD) - pstart);
        size_t existing = f->logical > pstart
                              ? (size_t)(f->logical - pstart < FS_CRYPT_PAYLOAD ? f->logical - pstart : FS_CRYPT_PAYLOAD)
                              : 0;
        size_t len = existing > b ? existing : b;
        const uint8_t *plain = buf + (pstart + a - off);
        if (a > 0 || b < existing) {
            size_t old = 0;
            rc = read_page(f, p, page_buf, &old, err);
            if (rc == TIND_OK && old != existing)
                rc = err_set(err, TIND_ECORRUPT, "'%s': encrypted page %llu holds %zu bytes, the file's size says %zu",
                             f->base.path, (unsigned long long)p, old, existing);
            if (rc)
                break;
            memcpy(page_buf + a, buf + (pstart + a - off), b - a);
            plain = page_buf;
        }
        rc = next_nonce(f, err);
        if (rc == TIND_OK && gcm_seal(f->enc, p, f->counter, f->random, plain, len, f->wbuf + total) != TIND_OK)
            rc = crypt_fail(err, TIND_EIO, f, "write: encryption failed (libcrypto)");
        if (rc == TIND_OK && p == p1 && len < FS_CRYPT_PAYLOAD) {
            /* a partial page is the last one: keep its plaintext for the next append */
            memcpy(f->tail, plain, len);
            last_len = len;
        }
        total += p == p1 ? len + FS_CRYPT_OVERHEAD : FS_CRYPT_PAGE;
    }
    OPENSSL_cleanse(page_buf, sizeof page_buf);
    if (rc == TIND_OK)
        rc = fs_write(f->inner, f->wbuf, total, page_offset(p0), err);
    f->tail_len = 0;
    if (rc)
        return rc;
    if (end > f->logical)
        f->logical = end;
    if (last_len && f->logical == p1 * FS_CRYPT_PAYLOAD + last_len) {
        f->tail_page = p1;
        f->tail_len = last_len;
    }
    atomic_store(&f->stored, stored_size(f->logical));
    return TIND_OK;
}

static int crypt_write(fs_file *file, const void *buf, size_t n, uint64_t off, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    if (!f->writable || !f->have_header)
        return crypt_fail(err, TIND_EINVAL, f, "write: file not open for writing");
    /* a write past the end fills the hole with zeros, as on POSIX */
    static const uint8_t zeros[FS_CRYPT_PAYLOAD];
    while (off > f->logical) {
        uint64_t hole = off - f->logical;
        int rc = write_at(f, zeros, hole < sizeof zeros ? (size_t)hole : sizeof zeros, f->logical, err);
        if (rc)
            return rc;
    }
    /* pages of at most 64 at a time keep the stored buffer small */
    const uint8_t *p = buf;
    while (n > 0) {
        size_t chunk = n < 64 * FS_CRYPT_PAYLOAD ? n : 64 * FS_CRYPT_PAYLOAD;
        int rc = write_at(f, p, chunk, off, err);
        if (rc)
            return rc;
        p += chunk;
        off += chunk;
        n -= chunk;
    }
    return TIND_OK;
}

static int crypt_sync(fs_file *file, int mode, tind_err *err)
{
    return fs_sync(((crypt_file *)file)->inner, mode, err);
}

static int crypt_size(fs_file *file, uint64_t *size, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    if (f->writable && f->have_header) {
        *size = f->logical;
        return TIND_OK;
    }
    uint64_t stored = 0;
    int rc = refresh_stored(f, &stored, err);
    if (rc)
        return rc;
    if (!f->have_header) {
        *size = 0;
        return TIND_OK;
    }
    return verified_size(f, stored, size, err);
}

static int crypt_truncate(fs_file *file, uint64_t size, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    if (!f->writable || !f->have_header)
        return crypt_fail(err, TIND_EINVAL, f, "truncate: file not open for writing");
    if (size >= f->logical) {
        static const uint8_t zeros[1];
        /* growing: write the zeros (the hole rule of crypt_write) */
        return size > f->logical ? crypt_write(file, zeros, 0, size, err) : TIND_OK;
    }
    uint64_t page = size / FS_CRYPT_PAYLOAD;
    size_t keep = (size_t)(size % FS_CRYPT_PAYLOAD);
    int rc = TIND_OK;
    if (keep) {
        /* the new last page, rewritten shorter under a fresh nonce */
        uint8_t plain[FS_CRYPT_PAYLOAD];
        size_t old = 0;
        rc = read_page(f, page, plain, &old, err);
        if (rc == TIND_OK && old < keep)
            rc = err_set(err, TIND_ECORRUPT, "'%s': encrypted page %llu holds %zu bytes, fewer than %zu",
                         f->base.path, (unsigned long long)page, old, keep);
        if (rc == TIND_OK)
            rc = next_nonce(f, err);
        uint8_t sealed[FS_CRYPT_PAGE];
        if (rc == TIND_OK && gcm_seal(f->enc, page, f->counter, f->random, plain, keep, sealed) != TIND_OK)
            rc = crypt_fail(err, TIND_EIO, f, "truncate: encryption failed (libcrypto)");
        OPENSSL_cleanse(plain, sizeof plain);
        if (rc == TIND_OK)
            rc = fs_truncate(f->inner, page_offset(page), err);
        if (rc == TIND_OK)
            rc = fs_write(f->inner, sealed, keep + FS_CRYPT_OVERHEAD, page_offset(page), err);
    } else {
        rc = fs_truncate(f->inner, page_offset(page), err);
    }
    f->tail_len = 0;
    if (rc)
        return rc;
    f->logical = size;
    atomic_store(&f->stored, page_offset(page) + (keep ? keep + FS_CRYPT_OVERHEAD : 0));
    return TIND_OK;
}

static int crypt_allocate(fs_file *file, uint64_t off, uint64_t len, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    uint64_t first = off / FS_CRYPT_PAYLOAD;
    uint64_t pages = (off + len + FS_CRYPT_PAYLOAD - 1) / FS_CRYPT_PAYLOAD - first;
    return fs_allocate(f->inner, page_offset(first), pages * FS_CRYPT_PAGE, err);
}

/* ------------------------------------------------------------ path calls */

#define INNER(fsys) (((crypt_fs *)(fsys))->inner)

static int crypt_rename(fs *fsys, const char *from, const char *to, tind_err *err)
{ return fs_rename(INNER(fsys), from, to, err); }
static int crypt_link(fs *fsys, const char *from, const char *to, tind_err *err)
{ return fs_link(INNER(fsys), from, to, err); }
static int crypt_unlink(fs *fsys, const char *path, tind_err *err) { return fs_unlink(INNER(fsys), path, err); }
static int crypt_mkdir(fs *fsys, const char *path, tind_err *err) { return fs_mkdir(INNER(fsys), path, err); }
static int crypt_rmdir(fs *fsys, const char *path, tind_err *err) { return fs_rmdir(INNER(fsys), path, err); }
static int crypt_sync_dir(fs *fsys, const char *path, tind_err *err) { return fs_sync_dir(INNER(fsys), path, err); }
static int crypt_list(fs *fsys, const char *dir, char ***names, size_t *count, tind_err *err)
{ return fs_list(INNER(fsys), dir, names, count, err); }
static int crypt_exists(fs *fsys, const char *path, int *is_dir) { return fs_exists(INNER(fsys), path, is_dir); }

static int crypt_lock_file(fs *fsys, const char *path, int mode, fs_lock **out, tind_err *err)
{
    *out = NULL;
    crypt_lock *l = calloc(1, sizeof *l);
    if (!l)
        return err_set(err, TIND_ENOMEM, "lock '%s': out of memory", path);
    int rc = INNER(fsys)->ops->lock(INNER(fsys), path, mode, &l->inner, err);
    if (rc != TIND_OK) {
        free(l);
        return rc;
    }
    l->base.owner = fsys;
    *out = &l->base;
    return TIND_OK;
}

static int crypt_unlock(fs_lock *lock, tind_err *err)
{
    crypt_lock *l = (crypt_lock *)lock;
    int rc = fs_unlock(l->inner, err);
    free(l);
    return rc;
}

static void crypt_destroy(fs *fsys)
{
    crypt_fs *cf = (crypt_fs *)fsys;
    if (cf->own_inner)
        fs_destroy(cf->inner);
    OPENSSL_cleanse(cf->keys, sizeof cf->keys);
    free(cf);
}

static const fs_ops crypt_ops = {
    .open = crypt_open,
    .close = crypt_close,
    .read = crypt_read,
    .write = crypt_write,
    .sync = crypt_sync,
    .size = crypt_size,
    .truncate = crypt_truncate,
    .allocate = crypt_allocate,
    .rename = crypt_rename,
    .link = crypt_link,
    .unlink = crypt_unlink,
    .mkdir = crypt_mkdir,
    .rmdir = crypt_rmdir,
    .sync_dir = crypt_sync_dir,
    .list = crypt_list,
    .exists = crypt_exists,
    .lock = crypt_lock_file,
    .unlock = crypt_unlock,
    .destroy = crypt_destroy,
};

/* ----------------------------------------------------------------- public */

fs *fs_crypt_new(fs *inner, int own_inner, const uint8_t key[FS_CRYPT_KEY_BYTES])
{
    if (!inner || !key)
        return NULL;
    crypt_fs *cf = calloc(1, sizeof *cf);
    if (!cf)
        return NULL;
    cf->base.ops = &crypt_ops;
    cf->base.name = "crypt";
    cf->inner = inner;
    memcpy(cf->keys[0].key, key, FS_CRYPT_KEY_BYTES);
    if (fs_crypt_key_id(key, cf->keys[0].id) != TIND_OK) {
        OPENSSL_cleanse(cf->keys, sizeof cf->keys);
        free(cf);
        return NULL;
    }
    cf->key_count = 1;
    cf->own_inner = own_inner;
    return &cf->base;
}

int fs_is_crypt(const fs *fsys) { return fsys && fsys->ops == &crypt_ops; }

fs *fs_crypt_inner(fs *cfs) { return fs_is_crypt(cfs) ? ((crypt_fs *)cfs)->inner : NULL; }

int fs_crypt_add_key(fs *cfs, const uint8_t key[FS_CRYPT_KEY_BYTES])
{
    if (!fs_is_crypt(cfs) || !key)
        return TIND_EINVAL;
    crypt_fs *cf = (crypt_fs *)cfs;
    if (cf->key_count >= FS_CRYPT_MAX_KEYS)
        return TIND_EINVAL;
    crypt_key *k = &cf->keys[cf->key_count];
    memcpy(k->key, key, FS_CRYPT_KEY_BYTES);
    if (fs_crypt_key_id(key, k->id) != TIND_OK)
        return TIND_EIO;
    cf->key_count++;
    return TIND_OK;
}
