/*
 * fs_crypt.c -- AES-256-GCM pages under the fs contract (io/fs_crypt.h has
 * the layout; docs/FORMAT.md "Encrypted files" the bytes; docs/ENCRYPTION.md
 * why the file-system layer and what is protected).
 *
 * Invariants
 *   1. A nonce is never used twice under one file key: the file key is new
 *      with every file (a random salt in its header, also at O_TRUNC), the
 *      nonce holds the slot, and within a handle the write counter grows
 *      with every page sealed; two handles writing one file (a journal
 *      reopened to cut its torn tail) differ by their random word.
 *   2. Bytes a sync covered are never rewritten: after fs_sync (and for
 *      whatever a handle finds when it opens a file) the last page is
 *      `sealed` and the next append starts the next slot. A torn write can
 *      thus only damage pages no sync covered.
 *   3. Every page holds at most FS_CRYPT_PAYLOAD bytes, so the page of
 *      logical offset x is in slot x / FS_CRYPT_PAYLOAD or a later one;
 *      pages carry their logical start and length (authenticated), and a
 *      read checks that each page starts where the previous one ended.
 *   4. A write reaches the inner file before it returns (nothing is held
 *      back), so a process crash loses nothing the plaintext fs would keep.
 *      Appending into an unsealed partial last page rewrites it whole from
 *      the handle's copy of its plaintext (`tail`).
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
    EVP_CIPHER_CTX *enc;                 /* writable handles */
    pthread_mutex_t dec_mu;
    EVP_CIPHER_CTX *dec;                 /* guarded by dec_mu */
    pthread_mutex_t size_mu;             /* guards size_stored and size */
    uint64_t size_stored;                /* readers: the stored size `size` is for (UINT64_MAX: none) */
    uint64_t size;                       /* readers: the verified logical size */
    /* the writer's state (writes are serialized by the caller) */
    uint64_t logical;                    /* the logical size */
    int failed;                          /* a write failed: no more writes */
    int has_tail;                        /* tail_* name the last page */
    int sealed;                          /* a sync covered the last page: never rewrite it */
    uint64_t tail_slot;
    uint64_t tail_start;
    size_t tail_len;
    uint32_t counter;                    /* pages sealed by this handle */
    uint32_t random;                     /* this handle's nonce word */
    uint8_t *wbuf;                       /* stored pages being built (CHUNK_PAGES) */
    uint8_t tail[FS_CRYPT_PAYLOAD];      /* the plaintext of the last page while not sealed */
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

/* Seals `len` plaintext bytes as the page in slot `slot` holding logical
 * bytes [start, start + len) into out (len + FS_CRYPT_OVERHEAD bytes). */
static int gcm_seal(EVP_CIPHER_CTX *ctx, uint64_t slot, uint64_t start, uint32_t counter, uint32_t random,
                    const uint8_t *in, size_t len, uint8_t *out)
{
    enc_u32(out, (uint32_t)slot);
    enc_u32(out + 4, counter);
    enc_u32(out + 8, random);
    enc_u64(out + 12, start);
    enc_u32(out + 20, (uint32_t)len);
    uint8_t aad[8 + 12];
    enc_u64(aad, slot);
    memcpy(aad + 8, out + FS_CRYPT_NONCE, 12);
    uint8_t *ct = out + FS_CRYPT_PAGE_HEAD;
    int l = 0;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, out, 1) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &l, aad, (int)sizeof aad) != 1)
        return TIND_EIO;
    if (len && EVP_EncryptUpdate(ctx, ct, &l, in, (int)len) != 1)
        return TIND_EIO;
    if (EVP_EncryptFinal_ex(ctx, ct + len, &l) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, FS_CRYPT_TAG, ct + len) != 1)
        return TIND_EIO;
    return TIND_OK;
}

/* The unauthenticated start and length a stored page claims (avail bytes
 * at in); -1 when they cannot be a page of slot `slot`. */
static int page_claims(uint64_t slot, const uint8_t *in, size_t avail, uint64_t *start, size_t *len)
{
    if (avail < FS_CRYPT_OVERHEAD || dec_u32(in) != (uint32_t)slot)
        return -1;
    uint32_t n = dec_u32(in + 20);
    if (n > FS_CRYPT_PAYLOAD || FS_CRYPT_OVERHEAD + (size_t)n > avail)
        return -1;
    *start = dec_u64(in + 12);
    *len = n;
    return 0;
}

/* Opens the page stored in slot `slot` (avail bytes at in: the page and
 * maybe more) into out; 0 on success with its start and length, -1 when it
 * fails authentication or cannot be that slot's page. */
static int gcm_open(EVP_CIPHER_CTX *ctx, uint64_t slot, const uint8_t *in, size_t avail, uint8_t *out,
                    uint64_t *start, size_t *len)
{
    if (page_claims(slot, in, avail, start, len))
        return -1;
    uint8_t aad[8 + 12];
    enc_u64(aad, slot);
    memcpy(aad + 8, in + FS_CRYPT_NONCE, 12);
    uint8_t tag[FS_CRYPT_TAG];
    memcpy(tag, in + FS_CRYPT_PAGE_HEAD + *len, FS_CRYPT_TAG);
    int l = 0;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, in, 0) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &l, aad, (int)sizeof aad) != 1)
        return -1;
    if (*len && EVP_DecryptUpdate(ctx, out, &l, in + FS_CRYPT_PAGE_HEAD, (int)*len) != 1)
        return -1;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, FS_CRYPT_TAG, tag) != 1)
        return -1;
    return EVP_DecryptFinal_ex(ctx, out + *len, &l) == 1 ? 0 : -1;
}

static uint64_t page_offset(uint64_t slot) { return FS_CRYPT_HEADER + slot * FS_CRYPT_PAGE; }

/* The slot of the last (maybe partial) stored page; -1 when none. */
static int64_t last_slot(uint64_t stored)
{
    return stored <= FS_CRYPT_HEADER ? -1 : (int64_t)((stored - FS_CRYPT_HEADER - 1) / FS_CRYPT_PAGE);
}
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
    f->has_tail = 0;
    return TIND_OK;
}

/* ------------------------------------------------------------ the decoder */

int fs_crypt_decode_page(const uint8_t key[FS_CRYPT_KEY_BYTES], const uint8_t *header, size_t header_len,
                         uint64_t slot, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len,
                         uint64_t *start, tind_err *err)
{
    *out_len = 0;
    *start = 0;
    int rc = header_check(header, header_len, "(page decoder)", err);
    if (rc)
        return rc;
    uint8_t id[FS_CRYPT_KEY_ID];
    uint8_t fkey[FS_CRYPT_KEY_BYTES];
    if (fs_crypt_key_id(key, id) != TIND_OK || derive_file_key(key, header + 16, fkey) != TIND_OK)
        return err_set(err, TIND_EIO, "page decoder: libcrypto failed");
    if (memcmp(id, header + 32, FS_CRYPT_KEY_ID) != 0)
        return err_set(err, TIND_ECORRUPT, "page decoder: the header names another key");
    EVP_CIPHER_CTX *ctx = gcm_ctx(fkey, 0);
    OPENSSL_cleanse(fkey, sizeof fkey);
    if (!ctx)
        return err_set(err, TIND_ENOMEM, "page decoder: no cipher context");
    size_t n = 0;
    int bad = gcm_open(ctx, slot, in, len, out, start, &n);
    EVP_CIPHER_CTX_free(ctx);
    if (bad)
        return err_set(err, TIND_ECORRUPT, "page %llu (%zu bytes stored): authentication failed",
                       (unsigned long long)slot, len);
    *out_len = n;
    return TIND_OK;
}

int fs_crypt_encode_page(const uint8_t key[FS_CRYPT_KEY_BYTES], const uint8_t *header, uint64_t slot,
                         uint64_t start, uint32_t counter, uint32_t random, const uint8_t *in, size_t len,
                         uint8_t *out, tind_err *err)
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
    int rc = gcm_seal(ctx, slot, start, counter, random, in, len, out);
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
    pthread_mutex_destroy(&f->size_mu);
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

/* Opens the page of slot `slot` with the file's context, or with a context
 * of its own while another reader holds it. -2 when out of memory. */
static int open_page(crypt_file *f, uint64_t slot, const uint8_t *in, size_t avail, uint8_t *out, uint64_t *start,
                     size_t *len)
{
    if (pthread_mutex_trylock(&f->dec_mu) == 0) {
        int bad = gcm_open(f->dec, slot, in, avail, out, start, len);
        pthread_mutex_unlock(&f->dec_mu);
        return bad;
    }
    EVP_CIPHER_CTX *ctx = gcm_ctx(f->file_key, 0);
    if (!ctx)
        return -2;
    int bad = gcm_open(ctx, slot, in, avail, out, start, len);
    EVP_CIPHER_CTX_free(ctx);
    return bad;
}

static int page_error(crypt_file *f, uint64_t slot, int bad, tind_err *err)
{
    if (bad == -2)
        return crypt_fail(err, TIND_ENOMEM, f, "no cipher context (libcrypto)");
    return err_set(err, TIND_ECORRUPT,
                   "'%s': encrypted page %llu (stored at offset %llu, logical offset about %llu): authentication "
                   "failed (the file was altered or damaged)",
                   f->base.path, (unsigned long long)slot, (unsigned long long)page_offset(slot),
                   (unsigned long long)(slot * FS_CRYPT_PAYLOAD));
}

/* Reads and opens the page of slot `slot`; TIND_ECORRUPT when it fails. */
static int read_page(crypt_file *f, uint64_t slot, uint8_t *out, uint64_t *start, size_t *len, tind_err *err)
{
    uint8_t raw[FS_CRYPT_PAGE];
    size_t got = 0;
    int rc = fs_read(f->inner, raw, sizeof raw, page_offset(slot), &got, err);
    if (rc)
        return rc;
    int bad = open_page(f, slot, raw, got, out, start, len);
    return bad ? page_error(f, slot, bad, err) : TIND_OK;
}

/* The logical size of a file stored in `stored` bytes and its last page
 * (*tail = -1: none). A last page that fails authentication -- a write torn
 * by a power loss, which can reach the page before it when the last one is
 * a fragment -- is left out: the file ends where the last intact page ends,
 * so fs_read_all and the formats above see a shorter file, as after a torn
 * plaintext write. Any other damaged page is reported by the read that
 * reaches it. */
static int verified_size(crypt_file *f, uint64_t stored, uint64_t *size, int64_t *tail, uint64_t *tail_start,
                         size_t *tail_len, tind_err *err)
{
    *size = 0;
    *tail = -1;
    int64_t last = last_slot(stored);
    uint8_t plain[FS_CRYPT_PAYLOAD];
    int rc = TIND_OK;
    for (int64_t s = last; s >= 0 && s >= last - 1; s--) {
        uint64_t start = 0;
        size_t len = 0;
        rc = read_page(f, (uint64_t)s, plain, &start, &len, err);
        if (rc == TIND_OK) {
            *size = start + len;
            *tail = s;
            *tail_start = start;
            *tail_len = len;
            break;
        }
        if (rc != TIND_ECORRUPT || s == last - 1 || s == 0)
            break;
        err_clear(err);
        rc = TIND_OK;
    }
    if (rc == TIND_ECORRUPT && last == 0)
        rc = TIND_OK;    /* a lone torn page: an empty file */
    if (rc == TIND_OK)
        err_clear(err);
    OPENSSL_cleanse(plain, sizeof plain);
    return rc;
}

/* The stored size now; the header once the file has one (a read-only
 * handle opened on a file shorter than its header). */
static int refresh_stored(crypt_file *f, uint64_t *stored, tind_err *err)
{
    int rc = fs_size(f->inner, stored, err);
    if (rc)
        return rc;
    if (!f->have_header && *stored >= FS_CRYPT_HEADER) {
        pthread_mutex_lock(&f->dec_mu);
        rc = f->have_header ? TIND_OK : load_header(f, err);
        if (rc == TIND_OK)
            rc = make_contexts(f, err);
        pthread_mutex_unlock(&f->dec_mu);
    }
    return rc;
}

/* A reader's view: the verified logical size for the stored size now
 * (computed again only when the stored size changed). With `need`, a read
 * that ends within the size already verified asks nothing of the inner fs
 * (tables never change: one fs_size per open file). */
static int reader_size(crypt_file *f, uint64_t need, uint64_t *size, uint64_t *stored, tind_err *err)
{
    if (need) {
        pthread_mutex_lock(&f->size_mu);
        int known = f->size_stored != UINT64_MAX && need <= f->size;
        *size = f->size;
        *stored = f->size_stored;
        pthread_mutex_unlock(&f->size_mu);
        if (known)
            return TIND_OK;
    }
    int rc = refresh_stored(f, stored, err);
    if (rc)
        return rc;
    if (!f->have_header) {
        *size = 0;
        return TIND_OK;
    }
    pthread_mutex_lock(&f->size_mu);
    if (f->size_stored != *stored) {
        int64_t tail;
        uint64_t ts;
        size_t tl;
        rc = verified_size(f, *stored, &f->size, &tail, &ts, &tl, err);
        f->size_stored = rc ? UINT64_MAX : *stored;
    }
    *size = f->size;
    pthread_mutex_unlock(&f->size_mu);
    return rc;
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
    if (pthread_mutex_init(&f->size_mu, NULL) != 0) {
        pthread_mutex_destroy(&f->dec_mu);
        free(f);
        free(copy);
        return err_set(err, TIND_ENOMEM, "open '%s': out of memory", path);
    }
    f->base.owner = fsys;
    f->base.path = copy;
    f->writable = (flags & FS_O_WRITE) != 0;
    f->size_stored = UINT64_MAX;
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
    if (rc == TIND_OK && stored >= FS_CRYPT_HEADER)
        rc = load_header(f, err);
    else if (rc == TIND_OK && f->writable && stored > 0)
        rc = fs_truncate(f->inner, 0, err);     /* torn before its header was whole */
    if (rc == TIND_OK && f->writable && !f->have_header)
        rc = write_header(f, err);
    /* a read-only file shorter than a header is empty; its header is read
     * once it has one (refresh_stored) */
    if (rc == TIND_OK && f->have_header)
        rc = make_contexts(f, err);
    if (rc == TIND_OK && f->writable && stored > FS_CRYPT_HEADER) {
        /* what is there stays as it is (it may be synced): appends go to a
         * new page; a torn last page is cut first */
        int64_t tail = -1;
        rc = verified_size(f, stored, &f->logical, &tail, &f->tail_start, &f->tail_len, err);
        uint64_t end = tail < 0 ? FS_CRYPT_HEADER : page_offset((uint64_t)tail) + FS_CRYPT_OVERHEAD + f->tail_len;
        if (rc == TIND_OK && stored > end)
            rc = fs_truncate(f->inner, end, err);
        f->has_tail = tail >= 0;
        f->tail_slot = tail >= 0 ? (uint64_t)tail : 0;
        f->sealed = 1;
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

#define STACK_PAGES 4
#define CHUNK_PAGES 64

static int crypt_read(fs_file *file, void *buf, size_t n, uint64_t off, size_t *got, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    *got = 0;
    uint64_t size = 0, stored = 0;
    int rc = reader_size(f, off + n, &size, &stored, err);
    if (rc || n == 0 || off >= size)
        return rc;
    uint64_t end = off + n < size ? off + n : size;
    int64_t last = last_slot(stored);
    /* every page holds at most FS_CRYPT_PAYLOAD bytes, so the page of
     * `off` is this slot or a later one (later after short pages: a page
     * synced while partial is never rewritten) */
    uint64_t slot = off / FS_CRYPT_PAYLOAD;
    if ((int64_t)slot > last)
        slot = (uint64_t)last;
    uint64_t pos = off, expect = UINT64_MAX;
    uint8_t stack[STACK_PAGES * FS_CRYPT_PAGE];
    uint8_t *raw = stack;
    size_t raw_cap = sizeof stack;
    uint8_t plain[FS_CRYPT_PAYLOAD];
    while (rc == TIND_OK && pos < end && (int64_t)slot <= last) {
        /* the slots [pos, end) spans if the pages from here are full; a
         * short page makes the loop go on with the next chunk */
        uint64_t want = expect == UINT64_MAX ? (end - 1) / FS_CRYPT_PAYLOAD - slot + 1
                                             : (end - pos + FS_CRYPT_PAYLOAD - 1) / FS_CRYPT_PAYLOAD + 1;
        uint64_t k = (uint64_t)last - slot + 1;
        if (k > want)
            k = want;
        if (k > CHUNK_PAGES)
            k = CHUNK_PAGES;
        if (k * FS_CRYPT_PAGE > raw_cap) {
            uint8_t *nb = raw == stack ? malloc(CHUNK_PAGES * FS_CRYPT_PAGE) : raw;
            if (!nb) {
                rc = crypt_fail(err, TIND_ENOMEM, f, "read: out of memory");
                break;
            }
            raw = nb;
            raw_cap = CHUNK_PAGES * FS_CRYPT_PAGE;
        }
        uint64_t to = page_offset(slot + k) < stored ? page_offset(slot + k) : stored;
        size_t rgot = 0;
        rc = fs_read(f->inner, raw, (size_t)(to - page_offset(slot)), page_offset(slot), &rgot, err);
        for (uint64_t i = 0; rc == TIND_OK && i < k && pos < end; i++) {
            size_t at = (size_t)i * FS_CRYPT_PAGE;
            size_t avail = at < rgot ? (rgot - at < FS_CRYPT_PAGE ? rgot - at : FS_CRYPT_PAGE) : 0;
            uint64_t start = 0;
            size_t len = 0;
            if (page_claims(slot + i, raw + at, avail, &start, &len) || start > pos ||
                (expect != UINT64_MAX && start != expect)) {
                rc = page_error(f, slot + i, -1, err);
                break;
            }
            expect = start + len;
            if (start + len <= pos)
                continue;    /* a short page before `off` */
            int whole = start == pos && start + len <= end;
            uint8_t *dst = whole ? (uint8_t *)buf + (start - off) : plain;
            int bad = open_page(f, slot + i, raw + at, avail, dst, &start, &len);
            if (bad) {
                rc = page_error(f, slot + i, bad, err);
                break;
            }
            uint64_t stop = end < start + len ? end : start + len;
            if (!whole)
                memcpy((uint8_t *)buf + (pos - off), plain + (pos - start), (size_t)(stop - pos));
            pos = stop;
        }
        slot += k;
    }
    OPENSSL_cleanse(plain, sizeof plain);
    if (raw != stack)
        free(raw);
    *got = (size_t)(pos - off);
    return rc;
}

static int next_nonce(crypt_file *f, tind_err *err)
{
    if (++f->counter == 0 && RAND_bytes((uint8_t *)&f->random, sizeof f->random) != 1)
        return crypt_fail(err, TIND_EIO, f, "no random bytes for the nonces (libcrypto)");
    return TIND_OK;
}

static int seal(crypt_file *f, uint64_t slot, uint64_t start, const uint8_t *plain, size_t len, uint8_t *out,
                tind_err *err)
{
    int rc = next_nonce(f, err);
    if (rc == TIND_OK && gcm_seal(f->enc, slot, start, f->counter, f->random, plain, len, out) != TIND_OK)
        rc = crypt_fail(err, TIND_EIO, f, "encryption failed (libcrypto)");
    return rc;
}

/* Appends n bytes at the logical end. The last page is rewritten only while
 * no sync covered it (`sealed`); otherwise the bytes start a new page. */
static int append(crypt_file *f, const uint8_t *buf, size_t n, tind_err *err)
{
    if (!f->wbuf && !(f->wbuf = malloc(CHUNK_PAGES * FS_CRYPT_PAGE)))
        return crypt_fail(err, TIND_ENOMEM, f, "write: out of memory");
    while (n > 0) {
        uint64_t first = 0;
        size_t total = 0;
        for (int pages = 0; n > 0 && pages < CHUNK_PAGES; pages++) {
            uint64_t slot, start;
            size_t have;
            if (f->has_tail && !f->sealed && f->tail_len < FS_CRYPT_PAYLOAD) {
                slot = f->tail_slot;
                start = f->tail_start;
                have = f->tail_len;
            } else {
                slot = f->has_tail ? f->tail_slot + 1 : 0;
                start = f->logical;
                have = 0;
            }
            size_t take = n < FS_CRYPT_PAYLOAD - have ? n : FS_CRYPT_PAYLOAD - have;
            memcpy(f->tail + have, buf, take);
            if (pages == 0)
                first = slot;
            int rc = seal(f, slot, start, f->tail, have + take, f->wbuf + total, err);
            if (rc)
                return f->failed = rc;
            total += have + take + FS_CRYPT_OVERHEAD;
            f->has_tail = 1;
            f->sealed = 0;
            f->tail_slot = slot;
            f->tail_start = start;
            f->tail_len = have + take;
            f->logical = start + have + take;
            buf += take;
            n -= take;
        }
        int rc = fs_write(f->inner, f->wbuf, total, page_offset(first), err);
        if (rc)
            return f->failed = rc;    /* the pages' state is unknown: this handle writes no more */
    }
    return TIND_OK;
}

/* Rewrites bytes inside the file (never done by tind, which only appends;
 * kept for the fs contract): each page keeps its place and length. */
static int overwrite(crypt_file *f, const uint8_t *buf, size_t n, uint64_t off, tind_err *err)
{
    uint8_t plain[FS_CRYPT_PAYLOAD], sealed_page[FS_CRYPT_PAGE];
    uint64_t pos = off, end = off + n;
    uint64_t slot = off / FS_CRYPT_PAYLOAD;
    int rc = TIND_OK;
    while (rc == TIND_OK && pos < end) {
        uint64_t start = 0;
        size_t len = 0;
        rc = read_page(f, slot, plain, &start, &len, err);
        if (rc == TIND_OK && start + len > pos) {
            uint64_t stop = end < start + len ? end : start + len;
            memcpy(plain + (pos - start), buf + (pos - off), (size_t)(stop - pos));
            rc = seal(f, slot, start, plain, len, sealed_page, err);
            if (rc == TIND_OK)
                rc = fs_write(f->inner, sealed_page, len + FS_CRYPT_OVERHEAD, page_offset(slot), err);
            if (rc == TIND_OK && f->has_tail && slot == f->tail_slot)
                memcpy(f->tail, plain, len);
            pos = stop;
        }
        slot++;
    }
    OPENSSL_cleanse(plain, sizeof plain);
    if (rc)
        f->failed = rc;
    return rc;
}

static int append_zeros(crypt_file *f, uint64_t count, tind_err *err)
{
    static const uint8_t zeros[FS_CRYPT_PAYLOAD];
    while (count > 0) {
        size_t k = count < sizeof zeros ? (size_t)count : sizeof zeros;
        int rc = append(f, zeros, k, err);
        if (rc)
            return rc;
        count -= k;
    }
    return TIND_OK;
}

static int writer_check(crypt_file *f, const char *what, tind_err *err)
{
    if (!f->writable || !f->have_header)
        return err_set(err, TIND_EINVAL, "'%s': %s: file not open for writing", f->base.path, what);
    if (f->failed)
        return err_set(err, TIND_EIO, "'%s': %s: an earlier write through this handle failed", f->base.path, what);
    return TIND_OK;
}

static int crypt_write(fs_file *file, const void *buf, size_t n, uint64_t off, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    int rc = writer_check(f, "write", err);
    if (rc || n == 0)
        return rc;
    /* a write past the end fills the hole with zeros, as on POSIX */
    if (off > f->logical && (rc = append_zeros(f, off - f->logical, err)) != TIND_OK)
        return rc;
    const uint8_t *p = buf;
    if (off < f->logical) {
        size_t inside = f->logical - off < n ? (size_t)(f->logical - off) : n;
        rc = overwrite(f, p, inside, off, err);
        p += inside;
        n -= inside;
    }
    return rc == TIND_OK && n ? append(f, p, n, err) : rc;
}

static int crypt_sync(fs_file *file, int mode, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    int rc = fs_sync(f->inner, mode, err);
    /* what was synced is never rewritten: the next append starts a page */
    if (rc == TIND_OK && f->writable)
        f->sealed = 1;
    return rc;
}

static int crypt_size(fs_file *file, uint64_t *size, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    if (f->writable && f->have_header) {
        *size = f->logical;
        return TIND_OK;
    }
    uint64_t stored = 0;
    return reader_size(f, 0, size, &stored, err);
}

static int crypt_truncate(fs_file *file, uint64_t size, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    int rc = writer_check(f, "truncate", err);
    if (rc || size == f->logical)
        return rc;
    if (size > f->logical)
        return append_zeros(f, size - f->logical, err);
    if (size == 0) {
        rc = fs_truncate(f->inner, FS_CRYPT_HEADER, err);
        if (rc == TIND_OK) {
            f->has_tail = 0;
            f->logical = 0;
        }
        return rc;
    }
    /* the page holding byte size - 1 becomes the last one */
    uint8_t plain[FS_CRYPT_PAYLOAD], sealed_page[FS_CRYPT_PAGE];
    uint64_t slot = (size - 1) / FS_CRYPT_PAYLOAD, start = 0;
    size_t len = 0;
    for (;; slot++) {
        rc = read_page(f, slot, plain, &start, &len, err);
        if (rc || start + len >= size)
            break;
    }
    size_t keep = (size_t)(size - start);
    /* the shorter page first, then the cut: pages carry their length, so
     * a crash between leaves a valid page followed by bytes nobody reads */
    if (rc == TIND_OK && keep < len) {
        rc = seal(f, slot, start, plain, keep, sealed_page, err);
        if (rc == TIND_OK)
            rc = fs_write(f->inner, sealed_page, keep + FS_CRYPT_OVERHEAD, page_offset(slot), err);
    }
    if (rc == TIND_OK)
        rc = fs_truncate(f->inner, page_offset(slot) + FS_CRYPT_OVERHEAD + keep, err);
    OPENSSL_cleanse(plain, sizeof plain);
    if (rc)
        return f->failed = rc;
    f->has_tail = 1;
    f->tail_slot = slot;
    f->tail_start = start;
    f->tail_len = keep;
    f->sealed = 1;
    f->logical = size;
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
