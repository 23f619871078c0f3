/*
 * ksprefix.c -- a keyspace's prefix extractor at run time (ksprefix.h).
 *
 * Every level's table options carry a copy of the extractor (compaction
 * and flush write tables from them); the copies share ks->prefix_slot,
 * through which a callback extractor finds its function. The slot is set
 * at most once: at creation, or by the first tind_keyspace_open after
 * tind_open that hands over the callback with the stored name (under mu;
 * release store, and readers load it with acquire). The callback record it
 * points to lives in the keyspace and never changes once published.
 */
#include "db/ksprefix.h"

#include <string.h>

void ks_prefix_init(tind_keyspace *ks)
{
    for (int l = 0; l < KS_MAX_LEVELS; l++)
        ks->cmp_opts.table[l].prefix.slot = &ks->prefix_slot;
    if (ks->opts.prefix_kind == PFX_CALLBACK && ks->opts.prefix_fn) {
        ks->prefix_cb.fn = ks->opts.prefix_fn;
        ks->prefix_cb.ctx = ks->opts.prefix_ctx;
        atomic_store_explicit(&ks->prefix_slot, &ks->prefix_cb, memory_order_release);
    }
}

int ks_prefix_reopen(tind_keyspace *ks, const struct tind_ks_options *o, tind_err *err)
{
    if (o->prefix_kind == PFX_NONE)
        return TIND_OK;
    pfx_extractor want, have;
    char wname[PFX_NAME_MAX + 32], hname[PFX_NAME_MAX + 32];
    ks_options_prefix(o, &want);
    ks_options_prefix(&ks->opts, &have);
    pfx_name(&want, wname, sizeof wname);
    pfx_name(&have, hname, sizeof hname);
    if (strcmp(wname, hname) != 0)
        return err_set(err, TIND_EINVAL, "keyspace '%s' has prefix extractor '%s', not '%s'", ks->name,
                       hname[0] ? hname : "none", wname);
    if (o->prefix_kind != PFX_CALLBACK)
        return TIND_OK;
    mu_lock(&ks->db->mu);
    if (!atomic_load_explicit(&ks->prefix_slot, memory_order_acquire)) {
        ks->prefix_cb.fn = o->prefix_fn;
        ks->prefix_cb.ctx = o->prefix_ctx;
        atomic_store_explicit(&ks->prefix_slot, &ks->prefix_cb, memory_order_release);
    }
    mu_unlock(&ks->db->mu);
    return TIND_OK;
}

void ks_prefix_scan(tind_keyspace *ks, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen,
                    int has_hi, ks_pscan *out)
{
    const pfx_extractor *x = &ks->cmp_opts.table[0].prefix;
    memset(out, 0, sizeof *out);
    if (!pfx_active(x) || !pfx_scan_prefix(x, lo, lolen, hi, hilen, has_hi, &out->len))
        return;
    out->active = 1;
    out->prefix = lo;
    pfx_name(x, out->name, sizeof out->name);
}
