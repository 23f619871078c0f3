/*
 * stats.c -- tind_db_stats_get: the database-wide figures (issue 15), in
 * particular where the memory goes: the block and blob caches' charge, the memtables
 * of every keyspace (active, sealed, filters), what open tables hold
 * outside the cache, the write path's record buffer; and what background
 * work is pending or running.
 *
 * Each group is read under the lock that guards it, one after another (the
 * cache under its shard mutexes, the keyspaces' memtables and trees under
 * mu, the record buffer under write_mu): no lock is held across groups, so
 * a writer waits at most for one group's walk. Counters are atomics.
 *
 * Thread-safety: any thread, beside every other call.
 */
#include <stdatomic.h>
#include <string.h>

#include "compaction/picker.h"
#include "db/state.h"
#include "util/hugemem.h"

/* The memtables, background work and open files of every keyspace. (mu) */
static void stats_keyspaces(tind_db *db, tind_db_stats *out) REQUIRES(db->mu)
{
    out->keyspaces = db->keyspace_count;
    for (size_t i = 0; i < db->keyspace_count; i++) {
        tind_keyspace *ks = db->keyspaces[i];
        uint64_t active = mt_memory(ks->active);
        out->active_memtable_bytes += active;
        out->memtable_bytes += active;
        out->memtable_filter_bytes += mt_filter_memory(ks->active);
        for (size_t j = 0; j < ks->sealed_count; j++) {
            uint64_t n = mt_memory(ks->sealed[j]);
            out->memtable_bytes += n;
            out->pending_flush_bytes += n;
            out->memtable_filter_bytes += mt_filter_memory(ks->sealed[j]);
        }
        out->pending_flushes += ks->sealed_count;
        out->running_flushes += ks->flush_running ? 1 : 0;
        out->running_compactions += ks->compaction_running ? 1 : 0;
        const version *v = ks->current;
        uint64_t deferred;
        uint64_t pending = pick_pending_bytes(v, &ks->cmp_opts, &deferred);
        out->pending_compaction_bytes += pending;
        out->pending_compactions += pending > deferred ? 1 : 0;
        for (int l = 0; l < v->level_count; l++)
            for (size_t j = 0; j < v->levels[l].count; j++) {
                const tbl *r = atomic_load_explicit(&v->levels[l].tables[j]->reader_atomic, memory_order_acquire);
                if (r) {
                    out->table_readers++;
                    out->table_reader_bytes += tbl_memory(r);
                }
            }
        for (size_t j = 0; j < v->blob_count; j++)
            if (atomic_load_explicit(&v->blobs[j].file->reader_atomic, memory_order_acquire))
                out->blob_readers++;
    }
}

TIND_API int tind_db_stats_get(tind_db *db, tind_db_stats *out)
{
    if (!db || !out)
        return TIND_EINVAL;
    int rc = db_enter(db);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);

    cache_stats cs;
    cache_get_stats(db->block_cache, &cs);
    out->cache_capacity = cs.capacity;
    out->cache_usage = cs.usage;
    out->cache_pinned = cs.pinned;
    out->cache_entries = cs.entries;
    out->cache_hits = cs.hits;
    out->cache_misses = cs.misses;
    out->cache_evictions = cs.evictions;
    if (db->blob_cache) {
        cache_get_stats(db->blob_cache, &cs);
        out->blob_cache_capacity = cs.capacity;
        out->blob_cache_usage = cs.usage;
        out->blob_cache_entries = cs.entries;
        out->blob_cache_hits = cs.hits;
        out->blob_cache_misses = cs.misses;
    }

    out->write_buffer_size = db->opts.write_buffer_size;
    mu_lock(&db->mu);
    stats_keyspaces(db, out);
    mu_unlock(&db->mu);

    mu_lock(&db->write_mu);
    out->journal_buffer_bytes = db->write_scratch.cap + jrn_buffer_bytes(db->journals.writer);
    mu_unlock(&db->write_mu);

    out->open_files = fdc_open_count(db->fds);
    out->live_iterators = (uint64_t)atomic_load(&db->live_iterators);
    out->live_snapshots = (uint64_t)atomic_load(&db->live_snapshots);
    out->live_transactions = (uint64_t)atomic_load(&db->live_txns);
    out->memtable_spare_bytes = hm_pool_bytes(db->mt_pool);
    out->memtable_held_bytes = atomic_load_explicit(&db->memtables_held, memory_order_relaxed);
    out->memory_bytes = out->cache_usage + out->blob_cache_usage + out->memtable_bytes + out->memtable_filter_bytes +
                        out->table_reader_bytes + out->journal_buffer_bytes + out->memtable_spare_bytes +
                        out->memtable_held_bytes;
    hm_stats hm;
    hm_get_stats(&hm);
    out->block_memory_mapped = hm.mapped;
    out->block_memory_free = hm.free_bytes + (hm.mapped - hm.carved); /* listed, or never carved */
    db_leave(db);
    return TIND_OK;
}
