/*
 * install.h -- tables and versions of the db: table paths and readers, the
 * hook that closes and deletes a table when the last version lets go of
 * it, writing the version file, and installing a keyspace's next version
 * (install_mu held across the version file write; mu only around the swap).
 */
#ifndef TIND_DB_INSTALL_H
#define TIND_DB_INSTALL_H

#include "blob/blob.h"
#include "db/journals.h"

void db_table_path(tind_db *db, uint64_t number, char *buf, size_t n);
/* The reader of a table of a version, opened on first use. Tables first
 * opened at L0 or L1 keep their index and filter pinned in memory; deeper
 * ones page them through the block cache. */
int db_table_reader(tind_db *db, ver_table *t, int level, tbl **out, tind_err *err);
/* Called when the last version lets go of a table: closes its reader and,
 * when the table left the tree, deletes its file. */
void db_table_on_free(ver_table *t, void *ctx);
/* Gives a table recovered from the version file the db's on_free hook. */
void db_table_attach(tind_db *db, ver_table *t);
/* Writes the version file from the current state with `ks` taking version
 * v and flushed_seqno (ks may be NULL). install_mu held, mu not held. */
int db_write_manifest(tind_db *db, tind_keyspace *ks, version *v, uint64_t flushed_seqno,
                      const memtable *leaving, tind_err *err) REQUIRES(db->install_mu) EXCLUDES(db->mu);
/* db_write_manifest, with `adding` (a keyspace being created, not yet in
 * db->keyspaces, or NULL) recorded after the listed ones. */
int db_write_manifest_adding(tind_db *db, tind_keyspace *ks, version *v, uint64_t flushed_seqno,
                             const memtable *leaving, tind_keyspace *adding, tind_err *err)
    REQUIRES(db->install_mu) EXCLUDES(db->mu);
/* Builds and installs ks's next version: removes `removed` (levels given),
 * adds `added` at add_level; a flush also raises the flushed seqno and
 * drops `flushed` from the sealed list. install_mu held. Consumes the refs
 * of added. A failed version file write poisons. */
int ks_install(tind_keyspace *ks, ver_table **removed, const int *removed_levels, size_t nremoved,
               ver_table **added, size_t nadded, int add_level, uint64_t flushed_seqno, memtable *flushed,
               tind_err *err) REQUIRES(ks->db->install_mu) EXCLUDES(ks->db->mu);

/* ---- blob files (key-value separation) ---- */
void db_blob_path(tind_db *db, uint64_t number, char *buf, size_t n);
/* The reader of a blob file of a version, opened (and checked to be that
 * file) on first use; a missing file is TIND_ECORRUPT. */
int db_blob_reader(tind_db *db, ver_blob *b, blob_reader **out, tind_err *err);
/* Closes a blob file's reader at its last reference and deletes the file
 * when it left the tree. */
void db_blob_on_free(ver_blob *b, void *ctx);
/* Loads the value an ENTRY_BLOB pointer (val, vlen) of version v points
 * to into out; counts a blob read of ks. TIND_ECORRUPT names the file and
 * offset. */
int ks_blob_load(tind_keyspace *ks, const version *v, const uint8_t *val, size_t vlen, int fill_cache, tbuf *out,
                 tind_err *err);
/* ks_install, also applying `blobs` (new blob files and garbage; may be
 * NULL); blob files that leave the tree are marked obsolete. */
int ks_install_blobs(tind_keyspace *ks, ver_table **removed, const int *removed_levels, size_t nremoved,
                     ver_table **added, size_t nadded, int add_level, uint64_t flushed_seqno, memtable *flushed,
                     const ver_edit *blobs, tind_err *err) REQUIRES(ks->db->install_mu) EXCLUDES(ks->db->mu);

#endif
