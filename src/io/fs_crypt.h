/*
 * fs_crypt.h -- encryption at rest as a file-system wrapper: every file
 * opened through it is stored as AES-256-GCM pages (docs/FORMAT.md,
 * "Encrypted files"; docs/ENCRYPTION.md for the threat model).
 *
 * The wrapper keeps the fs contract (fs.h) in logical bytes: offsets and
 * sizes are those of the plaintext, so every layer above (tables, journals,
 * the version file, FORMAT, future blob files) is unchanged. Path calls
 * (rename, link, unlink, mkdir, list, lock...) pass through untouched: file
 * names, folder layout and the LOCK file are not encrypted.
 *
 * Layout of an encrypted file: a 4096-byte header (magic, page size, a random
 * 16-byte salt, the key id), then pages in slots of FS_CRYPT_PAGE bytes,
 * each [nonce 12][logical start u64][length u32][ciphertext of up to
 * FS_CRYPT_PAYLOAD bytes][GCM tag 16]. Each file has its own key,
 * HMAC-SHA256(master key, "tind file key v1" || salt); the slot is in the
 * nonce and, with the start and length, in the authenticated data, so pages
 * cannot move, be reordered or change length. Nonce = slot (u32) || per-
 * handle write counter (u32) || per-handle random (u32).
 *
 * A page once written is never written again: every write seals the bytes
 * it adds as new pages -- the first in the rest of the last page's slot
 * when FS_CRYPT_MIN_ROOM bytes remain, else in the next slot, the others
 * full. No byte is encrypted twice and a torn or short write damages only
 * the pages it was writing. A journal appending small records thus packs
 * one page per record into slots; tables (written in 64 KiB chunks by
 * fs_writer) are full pages but one short page per chunk, and a read finds
 * its page by arithmetic plus a jump over the short pages' overhead.

 * A page that fails authentication is TIND_ECORRUPT naming the file and
 * page -- except at the end of the file, where the last intact page ends
 * the file: that is what a write torn by a power loss looks like, and each
 * format above already decides what a shorter file means (a journal's torn
 * tail, a table's missing footer).
 *
 * Thread-safety: as fs.h. Concurrent reads of one file are safe (each read
 * takes the file's cipher context under a mutex, or makes its own when
 * another reader holds it); writes to one file need external serialization.
 */
#ifndef TIND_IO_FS_CRYPT_H
#define TIND_IO_FS_CRYPT_H

#include <stddef.h>
#include <stdint.h>

#include "io/fs.h"

#define FS_CRYPT_KEY_BYTES 32
#define FS_CRYPT_HEADER 4096u                    /* bytes before page 0 */
#define FS_CRYPT_PAGE 4096u                      /* bytes of one stored page */
#define FS_CRYPT_NONCE 12u
#define FS_CRYPT_PAGE_HEAD 24u                   /* nonce, logical start u64, length u32 */
#define FS_CRYPT_TAG 16u
#define FS_CRYPT_OVERHEAD (FS_CRYPT_PAGE_HEAD + FS_CRYPT_TAG)
#define FS_CRYPT_PAYLOAD (FS_CRYPT_PAGE - FS_CRYPT_OVERHEAD)  /* 4056 plaintext bytes a page */
#define FS_CRYPT_MIN_ROOM 256u                   /* a page after a short one shares its slot if this much is left */
#define FS_CRYPT_KEY_ID 8u                       /* bytes of the key id in headers */
#define FS_CRYPT_MAX_KEYS 4                      /* the current key + old ones (re-keying) */

/* The key file (plaintext, beside LOCK): says the database is encrypted and
 * lets an open tell a wrong key from damage. */
#define FS_CRYPT_KEYFILE_SIZE 64u

/* An encrypting wrapper around inner with `key` as the key new files are
 * written with. NULL when out of memory or libcrypto fails. The wrapper owns
 * inner only with own_inner. Key bytes are copied (and wiped at destroy). */
fs *fs_crypt_new(fs *inner, int own_inner, const uint8_t key[FS_CRYPT_KEY_BYTES]);
/* Adds a key files may have been written with (they are read with the key
 * their header names); new files still use the first key. TIND_EINVAL when
 * cfs is not a crypt fs or FS_CRYPT_MAX_KEYS keys are held. */
int fs_crypt_add_key(fs *cfs, const uint8_t key[FS_CRYPT_KEY_BYTES]);
/* The wrapped fs, or NULL when cfs is not a crypt fs. */
fs *fs_crypt_inner(fs *cfs);
/* 1 when fsys is a crypt fs. */
int fs_is_crypt(const fs *fsys);

/* The key id of a key (the first FS_CRYPT_KEY_ID bytes of its check value). */
int fs_crypt_key_id(const uint8_t key[FS_CRYPT_KEY_BYTES], uint8_t id[FS_CRYPT_KEY_ID]);

/* Writes the key file dir/name through the crypt fs's inner fs, atomically
 * (fs_write_atomic): magic, version, cipher, the 32-byte check value
 * HMAC-SHA256(key, "tind key check v1") of the first key, an xxh3-64 of the
 * rest (FS_CRYPT_KEYFILE_SIZE bytes). */
int fs_crypt_keyfile_write(fs *cfs, const char *dir, const char *name, tind_err *err);
/* Checks the first key of cfs against a key file's bytes: TIND_OK;
 * TIND_EINVAL "wrong encryption key"; TIND_ECORRUPT when the file is
 * damaged; TIND_EVERSION for a newer version. `name` goes into messages. */
int fs_crypt_keyfile_check(fs *cfs, const uint8_t *data, size_t len, const char *name, tind_err *err);

/* Re-keying (tind_rekey, db/rekey.c). The key file's bytes 48..55 name
 * the key a re-keying moves files away from while it runs (zero when
 * none): fs_crypt_keyfile_check refuses such a file (TIND_EINVAL,
 * "re-keying was interrupted"); _pending checks the key as _check does
 * and copies those bytes to pending instead; _write_pending writes the
 * key file of the first key with `pending` (NULL: zero). */
int fs_crypt_keyfile_pending(fs *cfs, const uint8_t *data, size_t len, const char *name, uint8_t *pending,
                             tind_err *err);
int fs_crypt_keyfile_write_pending(fs *cfs, const char *dir, const char *name, const uint8_t *pending,
                                   tind_err *err);
/* The key id the header of the encrypted file at path names (read through
 * the inner fs); TIND_ENOENT for an empty file, TIND_ECORRUPT when it has
 * no valid encryption header. */
int fs_crypt_file_key_id(fs *cfs, const char *path, uint8_t id[FS_CRYPT_KEY_ID], tind_err *err);

/* The page decoder on its own (the fuzz target and tests): opens the page
 * stored at the start of slot `slot` (`in`, len bytes: the page, maybe followed by more)
 * of the file whose header is `header` (header_len bytes; only its start is
 * read) with master key `key`, into out (at least FS_CRYPT_PAYLOAD bytes):
 * *out_len plaintext bytes, the logical offset of the first in *start.
 * TIND_ECORRUPT for a bad header, a bad length or failed authentication. */
int fs_crypt_decode_page(const uint8_t key[FS_CRYPT_KEY_BYTES], const uint8_t *header, size_t header_len,
                         uint64_t slot, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len,
                         uint64_t *start, tind_err *err);
/* Builds a header (for tests and the fuzz target's seeds). */
int fs_crypt_encode_header(const uint8_t key[FS_CRYPT_KEY_BYTES], const uint8_t salt[16],
                           uint8_t header[FS_CRYPT_HEADER]);
/* Seals one page for the start of slot `slot` (tests and seeds) into out
 * (len + FS_CRYPT_OVERHEAD bytes). */
int fs_crypt_encode_page(const uint8_t key[FS_CRYPT_KEY_BYTES], const uint8_t *header, uint64_t slot,
                         uint64_t start, uint32_t counter, uint32_t random, const uint8_t *in, size_t len,
                         uint8_t *out, tind_err *err);

#endif
