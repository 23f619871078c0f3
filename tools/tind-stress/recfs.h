/*
 * recfs.h -- the recording file system of the kill campaign and the power
 * loss it lets the parent simulate (recfs.c).
 *
 * In a power-loss life the child's file system is POSIX wrapped in a
 * recording layer (recfs_new) that appends to a side log, one checksummed
 * line per write(2) with O_APPEND, so a kill can tear at most the last line:
 *   - before an operation that changes a directory (create, rename, unlink,
 *     link, mkdir, rmdir, truncate, O_TRUNC) it logs an intent record; the
 *     old target of a rename and the victim of an unlink are first
 *     hard-linked into the grave folder so they can be brought back;
 *   - after fs_sync succeeds it logs "S path len" where len is the size
 *     measured BEFORE the sync (everything below len is durable);
 *   - after fs_sync_dir succeeds it logs "D dir";
 *   - a write below a file's durable length (never done by tind today)
 *     first saves the old bytes to the grave folder and logs an undo record.
 * After the SIGKILL the parent replays the log (recfs_power_loss):
 * directory operations not covered by a later sync of their directory are
 * undone in reverse order (all of them, none, or a random subset), and every
 * file the child wrote is cut back to its durable length, keeping a random
 * prefix of the unsynced tail or also garbling its last sector (never a
 * synced byte). Records that grant durability (S, D) are logged after the
 * fact and intents before it, so every simulated state is one a real power
 * cut could leave.
 *
 * Paths in the log are the paths the engine used (absolute, no white
 * space). Thread-safety: the recording fs may be called from any thread
 * (one mutex); recfs_power_loss is single-threaded.
 */
#ifndef TIND_STRESS_RECFS_H
#define TIND_STRESS_RECFS_H

#include <stddef.h>
#include <stdint.h>

#include "tind_internal.h"

/* POSIX, recording to the log log_path (appended to); displaced files go
 * to the folder `grave`, which must exist. NULL on failure. A failure to
 * log later ends the process (exit status 4): an unrecorded operation would
 * make the simulation wrong. */
fs *recfs_new(const char *log_path, const char *grave);

/* What a simulated power loss did. */
typedef struct recfs_loss {
    size_t records;           /* log records replayed */
    int dir_mode;             /* unsynced directory operations: 0 dropped, 1 kept, 2 each at random */
    int data_mode;            /* unsynced tails: 0 dropped, 1 a prefix kept, 2 kept and torn */
    uint64_t undone, kept_unsynced, bytes_dropped, torn, truncated, overwrites;
    char err[512];            /* why it failed */
} recfs_loss;

/* Applies to the folder the power loss the log of a killed child allows,
 * the choices drawn from rng. A missing log is a life that changed nothing.
 * Returns 0, or -1 with out->err set. */
int recfs_power_loss(const char *log_path, const char *grave, trng *rng, recfs_loss *out);

#endif
