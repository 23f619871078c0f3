/*
 * ksprefix.h -- a keyspace's prefix extractor at run time (on the db line
 * right above state): attaching the application's callback, checking the
 * extractor named when an existing keyspace is opened, and what a scan's
 * bounds let it skip (docs/ARCHITECTURE.md "Prefix filters").
 */
#ifndef TIND_DB_KSPREFIX_H
#define TIND_DB_KSPREFIX_H

#include "db/state.h"

/* What a scan may skip: tables whose filter lacks prefix[0..len) among the
 * prefixes of the extractor `name`. active = 0: nothing. */
typedef struct ks_pscan {
    int active;
    const uint8_t *prefix;        /* borrowed from the scan's lower bound */
    size_t len;
    char name[PFX_NAME_MAX + 32];
} ks_pscan;

/* At creation or load (nobody else sees ks yet): points every level's
 * extractor at ks's callback slot and sets the slot from ks->opts when it
 * carries a callback. */
void ks_prefix_init(tind_keyspace *ks);
/* tind_keyspace_open of an existing keyspace with options o: TIND_EINVAL
 * when o names another extractor than the stored one; attaches o's
 * callback when the stored extractor is that callback and has none yet. */
int ks_prefix_reopen(tind_keyspace *ks, const struct tind_ks_options *o, tind_err *err) EXCLUDES(ks->db->mu);
/* The scan over [lo, hi) (has_hi = 0: unbounded). */
void ks_prefix_scan(tind_keyspace *ks, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen,
                    int has_hi, ks_pscan *out);

#endif
