/*
 * install.c -- tables and versions of the db (db/install.h).
 *
 * Installing a result (install_mu held, mu not held while writing): build
 * the new version (copy-on-write), write the version file atomically, then
 * swap ks->current and the view under mu and mark the tables that left
 * obsolete (their files go when the last reader lets go). A failed version
 * file write poisons the database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/install.h"
#include "format/filename.h"
#include "util/killpoint.h"

/* ------------------------------------------------------------------ paths */

void db_table_path(tind_db *db, uint64_t number, char *buf, size_t n)
{
    fname_table(db->tables_dir, number, buf, n);
}

/* ------------------------------------------------------------------ tables */

void db_table_on_free(ver_table *t, void *ctx)
{
    tind_db *db = ctx;
    if (t->reader)
        tbl_unref(t->reader);
    t->reader = NULL;
    if (t->obsolete) {
        char path[4096];
        db_table_path(db, t->number, path, sizeof path);
        fdc_evict(db->fds, t->number);
        fs_unlink(db->fs, path, NULL);
    }
}

void db_table_attach(tind_db *db, ver_table *t)
{
    t->on_free = db_table_on_free;
    t->on_free_ctx = db;
}

/* Opens table t's file and checks it is the table the version file names
 * (ver_table_check_identity: a table swapped, copied or restored under its
 * number is corruption, never a source of stale data). A missing file is
 * corruption too: the version file names only tables that were synced. */
static int table_open_checked(tind_db *db, ver_table *t, const tbl_open_options *o, tbl **out, tind_err *err)
{
    char path[4096];
    db_table_path(db, t->number, path, sizeof path);
    tbl *r = NULL;
    int rc = tbl_open(db->fs, path, o, &r, err);
    if (rc == TIND_ENOENT)
        rc = err_set(err, TIND_ECORRUPT, "table '%s' named by the version file is missing", path);
    if (rc == TIND_OK) {
        rc = ver_table_check_identity(t, tbl_get_meta(r), path, err);
        if (rc) {
            tbl_unref(r);
            r = NULL;
        }
    }
    *out = r;
    return rc;
}

int db_table_reader(tind_db *db, ver_table *t, int level, tbl **out, tind_err *err)
{
    tbl *r = atomic_load_explicit(&t->reader_atomic, memory_order_acquire);
    if (r) {
        *out = r;
        return TIND_OK;
    }
    mu_lock(&t->reader_mu);
    r = atomic_load_explicit(&t->reader_atomic, memory_order_acquire);
    if (!r) {
        tbl_open_options o = {db->block_cache, db->fds, t->number, level <= 1};
        int rc = table_open_checked(db, t, &o, &r, err);
        if (rc) {
            mu_unlock(&t->reader_mu);
            return rc;
        }
        t->reader = r;
        atomic_store_explicit(&t->reader_atomic, r, memory_order_release);
    }
    mu_unlock(&t->reader_mu);
    *out = r;
    return TIND_OK;
}

/* ------------------------------------------------------------------ blob files */

void db_blob_path(tind_db *db, uint64_t number, char *buf, size_t n)
{
    fname_blob(db->tables_dir, number, buf, n);
}

void db_blob_on_free(ver_blob *b, void *ctx)
{
    tind_db *db = ctx;
    blob_reader_free(b->reader);
    b->reader = NULL;
    if (b->obsolete) {
        char path[4096];
        db_blob_path(db, b->number, path, sizeof path);
        fdc_evict(db->fds, b->number);
        fs_unlink(db->fs, path, NULL);
    }
}

int db_blob_reader(tind_db *db, ver_blob *b, blob_reader **out, tind_err *err)
{
    blob_reader *r = atomic_load_explicit(&b->reader_atomic, memory_order_acquire);
    if (r) {
        *out = r;
        return TIND_OK;
    }
    mu_lock(&b->reader_mu);
    r = atomic_load_explicit(&b->reader_atomic, memory_order_acquire);
    if (!r) {
        char path[4096];
        db_blob_path(db, b->number, path, sizeof path);
        int rc = blob_reader_open(db->fs, path, b->number, db->fds, db->blob_cache, &r, err);
        if (rc == TIND_ENOENT)
            rc = err_set(err, TIND_ECORRUPT, "blob file '%s' named by the version file is missing", path);
        if (rc == TIND_OK) {
            const blob_file_meta *m = blob_reader_meta(r);
            if (m->file_size != b->size || m->count != b->count || m->bytes != b->bytes)
                rc = err_set(err, TIND_ECORRUPT,
                             "blob file '%s' is not the blob file %llu the version file names: "
                             "%llu bytes, %llu blobs of %llu bytes; version file %llu, %llu, %llu",
                             path, (unsigned long long)b->number, (unsigned long long)m->file_size,
                             (unsigned long long)m->count, (unsigned long long)m->bytes, (unsigned long long)b->size,
                             (unsigned long long)b->count, (unsigned long long)b->bytes);
            if (rc) {
                blob_reader_free(r);
                r = NULL;
            }
        }
        if (rc) {
            mu_unlock(&b->reader_mu);
            return rc;
        }
        b->reader = r;
        atomic_store_explicit(&b->reader_atomic, r, memory_order_release);
    }
    mu_unlock(&b->reader_mu);
    *out = r;
    return TIND_OK;
}

int ks_blob_load(tind_keyspace *ks, const version *v, const uint8_t *val, size_t vlen, int fill_cache, tbuf *out,
                 tind_err *err)
{
    blob_ptr p;
    if (blob_ptr_decode(val, vlen, &p))
        return err_set(err, TIND_ECORRUPT, "keyspace '%s': malformed blob pointer (%zu bytes)", ks->name, vlen);
    const ver_blob_entry *e = version_find_blob(v, p.file);
    if (!e) {
        char path[4096];
        db_blob_path(ks->db, p.file, path, sizeof path);
        return err_set(err, TIND_ECORRUPT, "keyspace '%s': pointer into blob file '%s' (offset %llu), which the version does not hold",
                       ks->name, path, (unsigned long long)p.offset);
    }
    blob_reader *r;
    int rc = db_blob_reader(ks->db, e->file, &r, err);
    if (!rc)
        rc = blob_read(r, &p, fill_cache, out, err);
    atomic_fetch_add_explicit(&ks->blob_reads, 1, memory_order_relaxed);
    return rc;
}

/* ------------------------------------------------------------------ version file */

int db_write_manifest_adding(tind_db *db, tind_keyspace *ks, version *v, uint64_t flushed_seqno,
                             const memtable *leaving, tind_keyspace *adding, tind_err *err)
{
    mf_state st;
    memset(&st, 0, sizeof st);
    mu_lock(&db->mu);
    st.format_version = 0; /* the newest */
    st.db_id = db->db_id;
    uint64_t unflushed = db_oldest_unflushed_seqno(db, leaving);
    st.journal_seqno = unflushed == UINT64_MAX ? 0 : unflushed;
    st.next_seqno = atomic_load(&db->last_seqno) + 1;
    st.next_file_number = db->next_file_number;
    /* a floor for the seqno after recovery: only what is surely in tables
     * (the journal gives the rest) */
    st.last_seqno = flushed_seqno;
    st.oldest_journal = db_journal_keep_number(db, leaving);
    st.next_keyspace_id = db->next_keyspace_id;
    st.keyspace_count = db->keyspace_count + (adding != NULL);
    st.keyspaces = calloc(st.keyspace_count ? st.keyspace_count : 1, sizeof *st.keyspaces);
    tbuf *opts = calloc(st.keyspace_count ? st.keyspace_count : 1, sizeof *opts);
    int rc = (st.keyspaces && opts) ? TIND_OK : TIND_ENOMEM;
    for (size_t i = 0; rc == TIND_OK && i < st.keyspace_count; i++) {
        tind_keyspace *k = i < db->keyspace_count ? db->keyspaces[i] : adding;
        mf_keyspace *m = &st.keyspaces[i];
        m->id = k->id;
        m->name = k->name;
        m->name_len = strlen(k->name);
        rc = ks_options_encode(&k->opts, &opts[i]);
        m->options = opts[i].data;
        m->options_len = opts[i].len;
        m->flushed_seqno = k == ks ? flushed_seqno : k->flushed_seqno;
        if (m->flushed_seqno > st.last_seqno)
            st.last_seqno = m->flushed_seqno;
        m->v = k == ks ? v : k->current;
        /* an ingested table holds seqnos above its keyspace's flushed seqno */
        for (int l = 0; l < m->v->level_count; l++)
            for (size_t t = 0; t < m->v->levels[l].count; t++)
                if (m->v->levels[l].tables[t]->max_seqno > st.last_seqno)
                    st.last_seqno = m->v->levels[l].tables[t]->max_seqno;
    }
    mu_unlock(&db->mu);
    if (rc)
        err_set(err, rc, "version file: out of memory");
    else if ((rc = jset_sync_released(&db->journals, st.oldest_journal, err)) != TIND_OK)
        db_poison(db, err);
    if (rc == TIND_OK) {
        KILL_POINT("version.write.before");
        rc = manifest_write(db->fs, db->path, &st, err);
        KILL_POINT("version.write.after");
        if (rc == TIND_OK) {
            mu_lock(&db->mu);
            jset_raise_keep(&db->journals, st.oldest_journal);
            mu_unlock(&db->mu);
        }
    }
    for (size_t i = 0; opts && i < st.keyspace_count; i++)
        tbuf_free(&opts[i]);
    free(opts);
    free(st.keyspaces);
    return rc;
}

int db_write_manifest(tind_db *db, tind_keyspace *ks, version *v, uint64_t flushed_seqno,
                      const memtable *leaving, tind_err *err)
{
    return db_write_manifest_adding(db, ks, v, flushed_seqno, leaving, NULL, err);
}

/* ------------------------------------------------------------------ installing a version */

int ks_install(tind_keyspace *ks, ver_table **removed, const int *removed_levels, size_t nremoved,
               ver_table **added, size_t nadded, int add_level, uint64_t flushed_seqno, memtable *flushed,
               tind_err *err)
{
    return ks_install_blobs(ks, removed, removed_levels, nremoved, added, nadded, add_level, flushed_seqno, flushed,
                            NULL, err);
}

/* Marks obsolete the blob files of old that nv no longer holds. */
static void mark_blobs_gone(const version *old, const version *nv)
{
    for (size_t i = 0, k = 0; i < old->blob_count; i++) {
        uint64_t n = old->blobs[i].file->number;
        while (k < nv->blob_count && nv->blobs[k].file->number < n)
            k++;
        if (k == nv->blob_count || nv->blobs[k].file->number != n)
            old->blobs[i].file->obsolete = 1;
    }
}

int ks_install_blobs(tind_keyspace *ks, ver_table **removed, const int *removed_levels, size_t nremoved,
                     ver_table **added, size_t nadded, int add_level, uint64_t flushed_seqno, memtable *flushed,
                     const ver_edit *blobs, tind_err *err)
{
    tind_db *db = ks->db;
    ver_edit edit;
    ver_edit *e = &edit;
    ver_edit_init(e);
    int rc = TIND_OK;
    for (size_t i = 0; !rc && i < nremoved; i++)
        rc = ver_edit_remove(e, removed_levels[i], removed[i]);
    for (size_t i = 0; !rc && i < nadded; i++)
        rc = ver_edit_add(e, add_level, added[i]);
    for (size_t i = 0; blobs && !rc && i < blobs->blobs_added_count; i++)
        rc = ver_edit_add_blob(e, blobs->blobs_added[i]);
    for (size_t i = 0; blobs && !rc && i < blobs->garbage_count; i++)
        rc = ver_edit_add_garbage(e, blobs->garbage[i].number, blobs->garbage[i].count, blobs->garbage[i].bytes);
    version *nv = NULL;
    mu_lock(&db->mu);
    if (!rc)
        rc = version_apply(ks->current, e, &nv, err);
    uint64_t new_flushed = flushed_seqno > ks->flushed_seqno ? flushed_seqno : ks->flushed_seqno;
    mu_unlock(&db->mu);
    if (!rc) {
        KILL_POINT(flushed ? "flush.install.before" : "compaction.install.before");
        rc = db_write_manifest(db, ks, nv, new_flushed, flushed, err);
        if (rc) {
            db_poison(db, err);
        }
    }
    if (rc) {
        if (nv)
            version_unref(nv);
        ver_edit_free(e);
        return rc;
    }
    mu_lock(&db->mu);
    version *old = ks->current;
    ks->current = nv;
    ks->flushed_seqno = new_flushed;
    if (flushed) {
        /* the flushed memtable is the oldest sealed one */
        for (size_t i = 0; i < ks->sealed_count; i++)
            if (ks->sealed[i] == flushed) {
                memmove(ks->sealed + i, ks->sealed + i + 1, (ks->sealed_count - i - 1) * sizeof *ks->sealed);
                ks->sealed_count--;
                mt_retire(flushed, &db->memtables_held);
                break;
            }
    }
    /* tables that left and did not come back (a move re-adds) */
    for (size_t i = 0; i < nremoved; i++) {
        int kept = 0;
        for (size_t j = 0; j < nadded; j++)
            kept |= added[j] == removed[i];
        if (!kept)
            removed[i]->obsolete = 1;
    }
    mark_blobs_gone(old, nv);
    /* a new blob file nothing points to (every value shadowed) */
    for (size_t i = 0; blobs && i < blobs->blobs_added_count; i++)
        if (!version_find_blob(nv, blobs->blobs_added[i]->number))
            blobs->blobs_added[i]->obsolete = 1;
    rc = ks_rebuild_view(ks);
    jset_delete_obsolete(&db->journals);
    cv_broadcast(&db->stall_cv);
    mu_unlock(&db->mu);
    version_unref(old);
    ver_edit_free(e);
    return rc;
}
