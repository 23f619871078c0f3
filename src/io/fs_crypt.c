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
 *   2. A page once written is never written again (append): every write
 *      seals the bytes it adds as new pages -- the first in the rest of the
 *      last page's slot when at least FS_CRYPT_MIN_ROOM bytes remain
 *      (next_place), else in the next slot; the others full. No byte is
 *      encrypted twice, and a torn or short write can only damage the pages
 *      it was writing, never bytes an earlier write stored (synced or
 *      only acknowledged). Only truncate (cutting a torn tail at open) and
 *      overwrite (not used by tind) seal a page again, in place.
 *   3. A slot holds at most FS_CRYPT_PAYLOAD plaintext bytes and begins
 *      with a page, so the page of logical offset x is in slot
 *      x / FS_CRYPT_PAYLOAD or a later one: a read starts there and, when
 *      the slot's first page claims start s with x - s >= FS_CRYPT_PAYLOAD
 *      (short pages before it), jumps (x - s) / FS_CRYPT_PAYLOAD slots on.
 *      Pages carry their logical start and length, authenticated with
 *      their place (slot, in-slot offset), and a read checks that each
 *      page starts where the previous ended.
 *   4. A write reaches the inner file before it returns (nothing is held
 *      back), so a process crash loses nothing the plaintext fs would keep.
 *
 * Thread-safety: see fs_crypt.h. `keys` never change after the fs is
 * shared (fs_crypt_add_key is called before use); a file's `dec` context is
 * guarded by `dec_mu`; everything else of a file belongs to its writer.
 */
#include "io/fs_crypt.h"

#include "io/aes_gcm.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sched.h>
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

/* A file open for writing through this fs, by path: reads of the file by
 * other handles (the change feed, a checkpoint's copy of the journal being
 * written) take `lock` shared while the writer's writes take it
 * exclusively -- a read never sees a page half written (the inner fs need
 * not make a write atomic for readers). Readers opened while the writer is open
 * share the entry (refs); it goes with the last handle. */
typedef struct crypt_live {
    struct crypt_live *next;
    char *path;
    int refs;
    pthread_rwlock_t lock;
} crypt_live;

typedef struct crypt_fs {
    fs base;
    fs *inner;
    int own_inner;
    pthread_mutex_t live_mu;             /* guards live and the entries' refs */
    crypt_live *live;
    int key_count;
    crypt_key keys[FS_CRYPT_MAX_KEYS];   /* keys[0] writes new files */
} crypt_fs;

typedef struct crypt_file {
    fs_file base;
    fs_file *inner;
    int writable;
    crypt_live *live;                    /* NULL: no writer was open at the open */
    _Atomic int have_header;             /* salt and file key known */
    uint8_t file_key[FS_CRYPT_KEY_BYTES];
    aes_gcm *enc;                        /* writable handles */
    pthread_mutex_t dec_mu;
    aes_gcm *dec;                        /* guarded by dec_mu */
    pthread_mutex_t size_mu;             /* guards size_stored and size */
    uint64_t size_stored;                /* readers: the stored size `size` is for (UINT64_MAX: none) */
    uint64_t size;                       /* readers: the verified logical size */
    /* the writer's state (writes are serialized by the caller) */
    uint64_t logical;                    /* the logical size */
    int failed;                          /* a write failed: no more writes */
    int has_tail;                        /* tail_* name the last page */
    uint64_t tail_slot;
    size_t tail_pos;                     /* in-slot offset of the last page */
    uint64_t tail_start;
    size_t tail_len;
    uint32_t counter;                    /* pages sealed by this handle */
    uint32_t random;                     /* this handle's nonce word */
    uint8_t *wbuf;                       /* stored pages being built (CHUNK_PAGES) */
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

/* The authenticated data of the page at in-slot offset `pos` of slot `slot`:
 * its place, then its start and length (bytes 12..23 of the page). */
static void page_aad(uint8_t aad[24], uint64_t slot, size_t pos, const uint8_t *page)
{
    enc_u64(aad, slot);
    enc_u32(aad + 8, (uint32_t)pos);
    memcpy(aad + 12, page + FS_CRYPT_NONCE, 12);
}

/* Plaintext bytes a page at in-slot offset pos can hold. */
static size_t page_room(size_t pos) { return FS_CRYPT_PAGE - pos - FS_CRYPT_OVERHEAD; }

/* Where the page after the one at (*slot, *pos) holding len bytes goes: the
 * rest of the same slot when at least FS_CRYPT_MIN_ROOM bytes remain, else
 * the next slot. */
static void next_place(uint64_t *slot, size_t *pos, size_t len)
{
    size_t end = *pos + FS_CRYPT_OVERHEAD + len;
    if (end + FS_CRYPT_MIN_ROOM <= FS_CRYPT_PAGE) {
        *pos = end;
    } else {
        (*slot)++;
        *pos = 0;
    }
}

/* Seals `len` plaintext bytes as the page at (slot, pos) holding logical
 * bytes [start, start + len) into out (len + FS_CRYPT_OVERHEAD bytes). */
static int gcm_seal(aes_gcm *ctx, uint64_t slot, size_t pos, uint64_t start, uint32_t counter,
                    uint32_t random, const uint8_t *in, size_t len, uint8_t *out)
{
    enc_u32(out, (uint32_t)slot);
    enc_u32(out + 4, counter);
    enc_u32(out + 8, random);
    enc_u64(out + 12, start);
    enc_u32(out + 20, (uint32_t)len);
    uint8_t aad[24];
    page_aad(aad, slot, pos, out);
    uint8_t *ct = out + FS_CRYPT_PAGE_HEAD;
    return aes_gcm_seal(ctx, out, aad, sizeof aad, in, len, ct, ct + len) == 0 ? TIND_OK : TIND_EIO;
}

/* The unauthenticated start and length the page at (slot, pos) claims
 * (avail bytes at in); -1 when they cannot be such a page. */
static int page_claims(uint64_t slot, size_t pos, const uint8_t *in, size_t avail, uint64_t *start, size_t *len)
{
    if (pos + FS_CRYPT_OVERHEAD > FS_CRYPT_PAGE || avail < FS_CRYPT_OVERHEAD || dec_u32(in) != (uint32_t)slot)
        return -1;
    uint32_t n = dec_u32(in + 20);
    if (n > page_room(pos) || FS_CRYPT_OVERHEAD + (size_t)n > avail)
        return -1;
    *start = dec_u64(in + 12);
    *len = n;
    return 0;
}

/* Opens the page at (slot, pos) (avail bytes at in: the page and maybe
 * more) into out; 0 on success with its start and length, -1 when it fails
 * authentication or cannot be that page. */
static int gcm_open(aes_gcm *ctx, uint64_t slot, size_t pos, const uint8_t *in, size_t avail, uint8_t *out,
                    uint64_t *start, size_t *len)
{
    if (page_claims(slot, pos, in, avail, start, len))
        return -1;
    uint8_t aad[24];
    page_aad(aad, slot, pos, in);
    const uint8_t *ct = in + FS_CRYPT_PAGE_HEAD;
    return aes_gcm_open(ctx, in, aad, sizeof aad, ct, *len, out, ct + *len);
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
    aes_gcm *ctx = aes_gcm_new(fkey);
    OPENSSL_cleanse(fkey, sizeof fkey);
    if (!ctx)
        return err_set(err, TIND_ENOMEM, "page decoder: no cipher context");
    size_t n = 0;
    int bad = gcm_open(ctx, slot, 0, in, len, out, start, &n);
    aes_gcm_free(ctx);
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
    aes_gcm *ctx = aes_gcm_new(fkey);
    OPENSSL_cleanse(fkey, sizeof fkey);
    if (!ctx)
        return err_set(err, TIND_ENOMEM, "page encoder: no cipher context");
    int rc = gcm_seal(ctx, slot, 0, start, counter, random, in, len, out);
    aes_gcm_free(ctx);
    return rc ? err_set(err, rc, "page encoder: libcrypto failed") : TIND_OK;
}
/* -------------------------------------------------------------- key file */

/* Bytes 48..55: the key id of the key a re-keying is moving files away
 * from while it runs (zero when none; tind_rekey). */
static int keyfile_encode(const uint8_t key[FS_CRYPT_KEY_BYTES], const uint8_t *pending,
                          uint8_t out[FS_CRYPT_KEYFILE_SIZE])
{
    static const char label[] = "tind key check v1";
    memset(out, 0, FS_CRYPT_KEYFILE_SIZE);
    memcpy(out, KEYFILE_MAGIC, 8);
    enc_u32(out + 8, CRYPT_VERSION);
    enc_u32(out + 12, CIPHER_AES256GCM_4K);
    int rc = hmac_sha256(key, label, sizeof label - 1, NULL, 0, out + 16);
    if (pending)
        memcpy(out + 48, pending, FS_CRYPT_KEY_ID);
    enc_u64(out + 56, hash64(out, 56));
    return rc;
}

int fs_crypt_keyfile_write_pending(fs *cfs, const char *dir, const char *name, const uint8_t *pending,
                                   tind_err *err)
{
    if (!fs_is_crypt(cfs))
        return err_set(err, TIND_EINVAL, "key file '%s': not an encrypting fs", name);
    crypt_fs *cf = (crypt_fs *)cfs;
    uint8_t data[FS_CRYPT_KEYFILE_SIZE];
    if (keyfile_encode(cf->keys[0].key, pending, data) != TIND_OK)
        return err_set(err, TIND_EIO, "key file '%s': libcrypto failed computing the key check value", name);
    return fs_write_atomic(cf->inner, dir, name, data, sizeof data, err);
}

int fs_crypt_keyfile_write(fs *cfs, const char *dir, const char *name, tind_err *err)
{
    return fs_crypt_keyfile_write_pending(cfs, dir, name, NULL, err);
}

static int keyfile_check(fs *cfs, const uint8_t *data, size_t len, const char *name, tind_err *err);

int fs_crypt_keyfile_check(fs *cfs, const uint8_t *data, size_t len, const char *name, tind_err *err)
{
    int rc = keyfile_check(cfs, data, len, name, err);
    static const uint8_t none[FS_CRYPT_KEY_ID];
    if (rc == TIND_OK && memcmp(data + 48, none, FS_CRYPT_KEY_ID) != 0)
        rc = err_set(err, TIND_EINVAL,
                     "'%s': re-keying was interrupted: files may still use the old key (key id "
                     "%02x%02x%02x%02x...): run tind_rekey again with the old and the new key",
                     name, data[48], data[49], data[50], data[51]);
    return rc;
}

int fs_crypt_keyfile_pending(fs *cfs, const uint8_t *data, size_t len, const char *name, uint8_t *pending,
                             tind_err *err)
{
    int rc = keyfile_check(cfs, data, len, name, err);
    if (rc == TIND_OK)
        memcpy(pending, data + 48, FS_CRYPT_KEY_ID);
    return rc;
}

int fs_crypt_file_key_id(fs *cfs, const char *path, uint8_t id[FS_CRYPT_KEY_ID], tind_err *err)
{
    if (!fs_is_crypt(cfs))
        return err_set(err, TIND_EINVAL, "'%s': not an encrypting fs", path);
    fs *inner = ((crypt_fs *)cfs)->inner;
    fs_file *f = NULL;
    int rc = fs_open(inner, path, FS_O_READ, &f, err);
    if (rc)
        return rc;
    uint8_t h[HEADER_USED];
    size_t got = 0;
    rc = fs_read(f, h, sizeof h, 0, &got, err);
    fs_close(f, NULL);
    if (rc == TIND_OK && got == 0)
        rc = TIND_ENOENT;    /* empty: a creation torn before its header */
    else if (rc == TIND_OK)
        rc = header_check(h, got, path, err);
    if (rc == TIND_OK)
        memcpy(id, h + 32, FS_CRYPT_KEY_ID);
    return rc;
}

static int keyfile_check(fs *cfs, const uint8_t *data, size_t len, const char *name, tind_err *err)
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
    if (keyfile_encode(((crypt_fs *)cfs)->keys[0].key, NULL, mine) != TIND_OK)
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

/* The live entry of path: made when `make` (a writer), else only found. */
static crypt_live *live_get(crypt_fs *cf, const char *path, int make)
{
    pthread_mutex_lock(&cf->live_mu);
    crypt_live *l = cf->live;
    while (l && strcmp(l->path, path) != 0)
        l = l->next;
    if (!l && make && (l = calloc(1, sizeof *l)) != NULL) {
        if (!(l->path = strdup(path)) || pthread_rwlock_init(&l->lock, NULL) != 0) {
            free(l->path);
            free(l);
            l = NULL;
        } else {
            l->next = cf->live;
            cf->live = l;
        }
    }
    if (l)
        l->refs++;
    pthread_mutex_unlock(&cf->live_mu);
    return l;
}

static void live_put(crypt_fs *cf, crypt_live *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&cf->live_mu);
    if (--l->refs == 0) {
        crypt_live **pp = &cf->live;
        while (*pp != l)
            pp = &(*pp)->next;
        *pp = l->next;
        pthread_rwlock_destroy(&l->lock);
        free(l->path);
        free(l);
    }
    pthread_mutex_unlock(&cf->live_mu);
}

static void file_free(crypt_file *f)
{
    live_put((crypt_fs *)f->base.owner, f->live);
    aes_gcm_free(f->enc);
    aes_gcm_free(f->dec);
    pthread_mutex_destroy(&f->dec_mu);
    pthread_mutex_destroy(&f->size_mu);
    OPENSSL_cleanse(f->file_key, sizeof f->file_key);
    free(f->wbuf);
    free(f->base.path);
    free(f);
}

/* The cipher contexts once the file key is known. */
static int make_contexts(crypt_file *f, tind_err *err)
{
    if (!f->dec && !(f->dec = aes_gcm_new(f->file_key)))
        return crypt_fail(err, TIND_ENOMEM, f, "no cipher context (libcrypto)");
    if (f->writable && !f->enc && !(f->enc = aes_gcm_new(f->file_key)))
        return crypt_fail(err, TIND_ENOMEM, f, "no cipher context (libcrypto)");
    return TIND_OK;
}

/* Opens the page at (slot, pos) with the file's context, or with a context
 * of its own while another reader holds it. -2 when out of memory. */
static int open_page(crypt_file *f, uint64_t slot, size_t pos, const uint8_t *in, size_t avail, uint8_t *out,
                     uint64_t *start, size_t *len)
{
    if (pthread_mutex_trylock(&f->dec_mu) == 0) {
        int bad = gcm_open(f->dec, slot, pos, in, avail, out, start, len);
        pthread_mutex_unlock(&f->dec_mu);
        return bad;
    }
    aes_gcm *ctx = aes_gcm_new(f->file_key);
    if (!ctx)
        return -2;
    int bad = gcm_open(ctx, slot, pos, in, avail, out, start, len);
    aes_gcm_free(ctx);
    return bad;
}

static int page_error(crypt_file *f, uint64_t slot, size_t pos, int bad, tind_err *err)
{
    if (bad == -2)
        return crypt_fail(err, TIND_ENOMEM, f, "no cipher context (libcrypto)");
    return err_set(err, TIND_ECORRUPT,
                   "'%s': encrypted page at offset %llu (slot %llu, logical offset about %llu): authentication "
                   "failed (the file was altered or damaged)",
                   f->base.path, (unsigned long long)(page_offset(slot) + pos), (unsigned long long)slot,
                   (unsigned long long)(slot * FS_CRYPT_PAYLOAD));
}

/* Reads the stored slot `slot` (up to FS_CRYPT_PAGE bytes) into raw. */
static int read_slot(crypt_file *f, uint64_t slot, uint8_t raw[FS_CRYPT_PAGE], size_t *got, tind_err *err)
{
    return fs_read(f->inner, raw, FS_CRYPT_PAGE, page_offset(slot), got, err);
}

/* Finds and opens the page holding logical byte x (x < the file's size):
 * from the first page of slot x / FS_CRYPT_PAYLOAD on. */
static int find_page(crypt_file *f, uint64_t x, uint8_t *out, uint64_t *slot, size_t *pos, uint64_t *start,
                     size_t *len, tind_err *err)
{
    uint8_t raw[FS_CRYPT_PAGE];
    size_t got = 0;
    uint64_t s = x / FS_CRYPT_PAYLOAD, loaded = UINT64_MAX;
    size_t p = 0;
    for (;;) {
        if (loaded != s) {
            int rc = read_slot(f, s, raw, &got, err);
            if (rc)
                return rc;
            loaded = s;
        }
        uint64_t claim = 0;
        size_t claim_len = 0;
        if (p == 0 && p < got && page_claims(s, 0, raw, got, &claim, &claim_len) == 0 && claim <= x &&
            x - claim >= FS_CRYPT_PAYLOAD) {
            s += (x - claim) / FS_CRYPT_PAYLOAD;    /* short pages before: later slot (read_once) */
            continue;
        }
        int bad = p < got ? open_page(f, s, p, raw + p, got - p, out, start, len) : -1;
        if (bad)
            return page_error(f, s, p, bad, err);
        if (*start + *len > x) {
            *slot = s;
            *pos = p;
            return TIND_OK;
        }
        next_place(&s, &p, *len);
    }
}

/* The logical size of a file stored in `stored` bytes and its last page
 * (*has = 0: none). The pages of the last slot are opened in turn; the
 * first that fails authentication, and any after it, are a write torn by a
 * power loss: the file ends where the last intact page ends (in the slot
 * before when the last slot's first page fails), so fs_read_all and the
 * formats above see a shorter file, as after a torn plaintext write. Any
 * other damaged page is reported by the read that reaches it. */
static int verified_size(crypt_file *f, uint64_t stored, uint64_t *size, int *has, uint64_t *tail_slot,
                         size_t *tail_pos, uint64_t *tail_start, size_t *tail_len, tind_err *err)
{
    *size = 0;
    *has = 0;
    int64_t last = last_slot(stored);
    uint8_t raw[FS_CRYPT_PAGE], plain[FS_CRYPT_PAYLOAD];
    int rc = TIND_OK;
    for (int64_t s = last; s >= 0 && s >= last - 1 && !*has && rc == TIND_OK; s--) {
        size_t got = 0;
        rc = read_slot(f, (uint64_t)s, raw, &got, err);
        uint64_t slot = (uint64_t)s;
        size_t pos = 0;
        while (rc == TIND_OK && slot == (uint64_t)s && pos < got) {
            uint64_t start = 0;
            size_t len = 0;
            int bad = open_page(f, slot, pos, raw + pos, got - pos, plain, &start, &len);
            if (bad == -2)
                rc = page_error(f, slot, pos, bad, err);
            if (bad)
                break;
            *has = 1;
            *size = start + len;
            *tail_slot = slot;
            *tail_pos = pos;
            *tail_start = start;
            *tail_len = len;
            next_place(&slot, &pos, len);
        }
    }
    /* the last two slots' first pages both fail: damage, not a torn write */
    if (rc == TIND_OK && !*has && last >= 1)
        rc = page_error(f, (uint64_t)last - 1, 0, -1, err);
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
        int has;
        uint64_t ts, tst;
        size_t tp, tl;
        rc = verified_size(f, *stored, &f->size, &has, &ts, &tp, &tst, &tl, err);
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
    /* a writer is registered before the file can exist, so a reader that
     * sees the file finds its entry while the writer is open */
    if (f->writable && !(f->live = live_get(cf, path, 1))) {
        file_free(f);
        return err_set(err, TIND_ENOMEM, "open '%s': out of memory", path);
    }
    int rc = fs_open(cf->inner, path, flags, &f->inner, err);
    if (rc) {
        f->inner = NULL;
        file_free(f);
        return rc;
    }
    if (!f->writable)
        f->live = live_get(cf, path, 0);
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
        rc = verified_size(f, stored, &f->logical, &f->has_tail, &f->tail_slot, &f->tail_pos, &f->tail_start,
                           &f->tail_len, err);
        uint64_t end = f->has_tail ? page_offset(f->tail_slot) + f->tail_pos + FS_CRYPT_OVERHEAD + f->tail_len
                                   : FS_CRYPT_HEADER;
        if (rc == TIND_OK && stored > end)
            rc = fs_truncate(f->inner, end, err);
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

/* One attempt of crypt_read; need_known: a read within the size already
 * verified may use the stored size it was verified for. */
static int read_once(crypt_file *f, void *buf, size_t n, uint64_t off, int need_known, size_t *got, tind_err *err)
{
    *got = 0;
    uint64_t size = 0, stored = 0;
    int rc = reader_size(f, need_known ? off + n : 0, &size, &stored, err);
    if (rc || n == 0 || off >= size)
        return rc;
    uint64_t end = off + n < size ? off + n : size;
    int64_t last = last_slot(stored);
    /* a slot holds at most FS_CRYPT_PAYLOAD bytes (its pages' overheads
     * included), so the page of `off` is in this slot or a later one */
    uint64_t slot = off / FS_CRYPT_PAYLOAD;
    if ((int64_t)slot > last)
        slot = (uint64_t)last;
    size_t pos = 0;
    uint64_t at = off, expect = UINT64_MAX;
    int jumped = 0;
    uint8_t stack[STACK_PAGES * FS_CRYPT_PAGE];
    uint8_t *raw = stack;
    size_t raw_cap = sizeof stack;
    uint8_t plain[FS_CRYPT_PAYLOAD];
    while (rc == TIND_OK && at < end && (int64_t)slot <= last) {
        /* the slots [at, end) spans if pages from here are full; more
         * pages per slot make the loop go on with the next chunk */
        uint64_t want = expect == UINT64_MAX && !jumped ? (end - 1) / FS_CRYPT_PAYLOAD - slot + 1
                                                        : (end - at + FS_CRYPT_PAYLOAD - 1) / FS_CRYPT_PAYLOAD + 1;
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
        uint64_t first = slot;
        uint64_t to = page_offset(first + k) < stored ? page_offset(first + k) : stored;
        size_t rgot = 0;
        rc = fs_read(f->inner, raw, (size_t)(to - page_offset(first)), page_offset(first), &rgot, err);
        while (rc == TIND_OK && at < end && slot < first + k) {
            size_t in_chunk = (size_t)(slot - first) * FS_CRYPT_PAGE + pos;
            size_t avail = in_chunk < rgot ? rgot - in_chunk : 0;
            if (avail > FS_CRYPT_PAGE - pos)
                avail = FS_CRYPT_PAGE - pos;
            uint64_t start = 0;
            size_t len = 0;
            if (page_claims(slot, pos, raw + in_chunk, avail, &start, &len) || start > at ||
                (expect != UINT64_MAX && start != expect)) {
                rc = page_error(f, slot, pos, -1, err);
                break;
            }
            if (pos == 0 && at - start >= FS_CRYPT_PAYLOAD) {
                /* short pages (one per write) put `at` in a later slot:
                 * a slot holds at most FS_CRYPT_PAYLOAD bytes, so at
                 * least (at - start) / FS_CRYPT_PAYLOAD slots on */
                slot += (at - start) / FS_CRYPT_PAYLOAD;
                expect = UINT64_MAX;
                jumped = 1;
                continue;
            }
            expect = start + len;
            if (start + len > at) {
                int whole = start == at && start + len <= end;
                uint8_t *dst = whole ? (uint8_t *)buf + (start - off) : plain;
                int bad = open_page(f, slot, pos, raw + in_chunk, avail, dst, &start, &len);
                if (bad) {
                    rc = page_error(f, slot, pos, bad, err);
                    break;
                }
                uint64_t stop = end < start + len ? end : start + len;
                if (!whole)
                    memcpy((uint8_t *)buf + (at - off), plain + (at - start), (size_t)(stop - at));
                at = stop;
            }
            next_place(&slot, &pos, len);
        }
    }
    /* the verified size says the bytes are there: pages claiming less are damage */
    if (rc == TIND_OK && at < end)
        rc = page_error(f, slot, pos, -1, err);
    /* plain is not wiped: what it holds is in the caller's buffer (and the
     * block cache) now, and wiping 4 KiB cost 5% of an uncached read */
    if (raw != stack)
        free(raw);
    *got = (size_t)(at - off);
    return rc;
}

/* Another handle may be appending to the file meanwhile (the change feed
 * and checkpoints read the journal being written), so a read can be cut at
 * a stored size taken before the file grew, or (a reader opened before the
 * writer, without the live lock) see a page half written. Such a read fails
 * authentication where the file is fine: a reader's failed read is tried
 * again on the stored size of now, a few times, before it is damage. */
#define READ_TRIES 4

static int crypt_read(fs_file *file, void *buf, size_t n, uint64_t off, size_t *got, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    if (f->live && !f->writable)
        pthread_rwlock_rdlock(&f->live->lock);
    /* beside a writer, the stored size is taken again at every read */
    int rc = read_once(f, buf, n, off, !f->live, got, err);
    for (int i = 1; rc == TIND_ECORRUPT && !f->writable && i < READ_TRIES; i++) {
        sched_yield();
        err_clear(err);
        rc = read_once(f, buf, n, off, 0, got, err);
    }
    if (f->live && !f->writable)
        pthread_rwlock_unlock(&f->live->lock);
    return rc;
}

static int next_nonce(crypt_file *f, tind_err *err)
{
    if (++f->counter == 0 && RAND_bytes((uint8_t *)&f->random, sizeof f->random) != 1)
        return crypt_fail(err, TIND_EIO, f, "no random bytes for the nonces (libcrypto)");
    return TIND_OK;
}

static int seal(crypt_file *f, uint64_t slot, size_t pos, uint64_t start, const uint8_t *plain, size_t len,
                uint8_t *out, tind_err *err)
{
    int rc = next_nonce(f, err);
    if (rc == TIND_OK && gcm_seal(f->enc, slot, pos, start, f->counter, f->random, plain, len, out) != TIND_OK)
        rc = crypt_fail(err, TIND_EIO, f, "encryption failed (libcrypto)");
    return rc;
}

/* A write of stored pages failed, maybe after some of its bytes reached the
 * file (a short write). Pages written before are never touched by an
 * append, so cutting the file back to where the write began leaves it as
 * it was; when the cut fails too, what the write left after the old end is
 * a torn last page, which verified_size cuts at the next open. The handle
 * writes no more either way. */
static void append_undo(crypt_file *f, int has_tail, uint64_t slot, size_t pos, uint64_t start, size_t len,
                        uint64_t logical)
{
    uint64_t end = has_tail ? page_offset(slot) + pos + FS_CRYPT_OVERHEAD + len : FS_CRYPT_HEADER;
    fs_truncate(f->inner, end, NULL);
    f->has_tail = has_tail;
    f->tail_slot = slot;
    f->tail_pos = pos;
    f->tail_start = start;
    f->tail_len = len;
    f->logical = logical;
}

/* Appends n bytes at the logical end as new pages: the first in the rest of
 * the last page's slot when FS_CRYPT_MIN_ROOM bytes remain (next_place),
 * the others full. A page once written is never written again (invariant
 * 2): no bytes are encrypted twice, and no write can damage bytes an
 * earlier write stored. */
static int append(crypt_file *f, const uint8_t *buf, size_t n, tind_err *err)
{
    if (!f->wbuf && !(f->wbuf = malloc(CHUNK_PAGES * FS_CRYPT_PAGE)))
        return crypt_fail(err, TIND_ENOMEM, f, "write: out of memory");
    while (n > 0) {
        int old_has = f->has_tail;
        uint64_t old_slot = f->tail_slot, old_start = f->tail_start, old_logical = f->logical;
        size_t old_pos = f->tail_pos, old_len = f->tail_len;
        uint64_t first_slot = 0;
        size_t first_pos = 0, total = 0;
        for (int pages = 0; n > 0 && pages < CHUNK_PAGES; pages++) {
            uint64_t slot = 0;
            size_t pos = 0;
            if (f->has_tail) {
                slot = f->tail_slot;
                pos = f->tail_pos;
                next_place(&slot, &pos, f->tail_len);
            }
            size_t room = page_room(pos);
            size_t take = n < room ? n : room;
            if (pages == 0) {
                first_slot = slot;
                first_pos = pos;
            }
            int rc = seal(f, slot, pos, f->logical, buf, take, f->wbuf + total, err);
            if (rc)
                return f->failed = rc;
            total += take + FS_CRYPT_OVERHEAD;
            f->has_tail = 1;
            f->tail_slot = slot;
            f->tail_pos = pos;
            f->tail_start = f->logical;
            f->tail_len = take;
            f->logical += take;
            buf += take;
            n -= take;
        }
        int rc = fs_write(f->inner, f->wbuf, total, page_offset(first_slot) + first_pos, err);
        if (rc) {
            append_undo(f, old_has, old_slot, old_pos, old_start, old_len, old_logical);
            return f->failed = rc;    /* this handle writes no more */
        }
    }
    return TIND_OK;
}

/* Rewrites bytes inside the file (never done by tind, which only appends;
 * kept for the fs contract): each page keeps its place and length. */
static int overwrite(crypt_file *f, const uint8_t *buf, size_t n, uint64_t off, tind_err *err)
{
    uint8_t plain[FS_CRYPT_PAYLOAD], sealed_page[FS_CRYPT_PAGE];
    uint64_t at = off, end = off + n;
    int rc = TIND_OK;
    while (rc == TIND_OK && at < end) {
        uint64_t slot = 0, start = 0;
        size_t pos = 0, len = 0;
        rc = find_page(f, at, plain, &slot, &pos, &start, &len, err);
        if (rc)
            break;
        uint64_t stop = end < start + len ? end : start + len;
        memcpy(plain + (at - start), buf + (at - off), (size_t)(stop - at));
        rc = seal(f, slot, pos, start, plain, len, sealed_page, err);
        if (rc == TIND_OK)
            rc = fs_write(f->inner, sealed_page, len + FS_CRYPT_OVERHEAD, page_offset(slot) + pos, err);
        at = stop;
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

static int write_locked(crypt_file *f, const void *buf, size_t n, uint64_t off, tind_err *err);

static int crypt_write(fs_file *file, const void *buf, size_t n, uint64_t off, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    int rc = writer_check(f, "write", err);
    if (rc || n == 0)
        return rc;
    pthread_rwlock_wrlock(&f->live->lock);
    rc = write_locked(f, buf, n, off, err);
    pthread_rwlock_unlock(&f->live->lock);
    return rc;
}

static int write_locked(crypt_file *f, const void *buf, size_t n, uint64_t off, tind_err *err)
{
    int rc = TIND_OK;
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
    return fs_sync(f->inner, mode, err);
}

static int crypt_size(fs_file *file, uint64_t *size, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    if (f->writable && f->have_header) {
        *size = f->logical;
        return TIND_OK;
    }
    uint64_t stored = 0;
    if (f->live)
        pthread_rwlock_rdlock(&f->live->lock);
    int rc = reader_size(f, 0, size, &stored, err);
    if (f->live)
        pthread_rwlock_unlock(&f->live->lock);
    return rc;
}

static int truncate_locked(crypt_file *f, uint64_t size, tind_err *err);

static int crypt_truncate(fs_file *file, uint64_t size, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    int rc = writer_check(f, "truncate", err);
    if (rc || size == f->logical)
        return rc;
    pthread_rwlock_wrlock(&f->live->lock);
    rc = truncate_locked(f, size, err);
    pthread_rwlock_unlock(&f->live->lock);
    return rc;
}

static int truncate_locked(crypt_file *f, uint64_t size, tind_err *err)
{
    int rc = TIND_OK;
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
    uint64_t slot = 0, start = 0;
    size_t pos = 0, len = 0;
    rc = find_page(f, size - 1, plain, &slot, &pos, &start, &len, err);
    size_t keep = (size_t)(size - start);
    /* the shorter page first, then the cut: pages carry their length, so
     * a crash between leaves a valid page followed by bytes nobody reads */
    if (rc == TIND_OK && keep < len) {
        rc = seal(f, slot, pos, start, plain, keep, sealed_page, err);
        if (rc == TIND_OK)
            rc = fs_write(f->inner, sealed_page, keep + FS_CRYPT_OVERHEAD, page_offset(slot) + pos, err);
    }
    if (rc == TIND_OK)
        rc = fs_truncate(f->inner, page_offset(slot) + pos + FS_CRYPT_OVERHEAD + keep, err);
    OPENSSL_cleanse(plain, sizeof plain);
    if (rc)
        return f->failed = rc;
    f->has_tail = 1;
    f->tail_slot = slot;
    f->tail_pos = pos;
    f->tail_start = start;
    f->tail_len = keep;
    f->logical = size;
    return TIND_OK;
}

static int crypt_allocate(fs_file *file, uint64_t off, uint64_t len, int mode, tind_err *err)
{
    crypt_file *f = (crypt_file *)file;
    if (mode == FS_ALLOC_EXTEND)
        return TIND_ENOTSUP; /* a page of zeros is no sealed page: it must be written */
    uint64_t first = off / FS_CRYPT_PAYLOAD;
    uint64_t pages = (off + len + FS_CRYPT_PAYLOAD - 1) / FS_CRYPT_PAYLOAD - first;
    return fs_allocate(f->inner, page_offset(first), pages * FS_CRYPT_PAGE, FS_ALLOC_HINT, err);
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
    pthread_mutex_destroy(&cf->live_mu);
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
    if (pthread_mutex_init(&cf->live_mu, NULL) != 0) {
        free(cf);
        return NULL;
    }
    memcpy(cf->keys[0].key, key, FS_CRYPT_KEY_BYTES);
    if (fs_crypt_key_id(key, cf->keys[0].id) != TIND_OK) {
        OPENSSL_cleanse(cf->keys, sizeof cf->keys);
        pthread_mutex_destroy(&cf->live_mu);
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
