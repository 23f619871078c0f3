/*
 * backup.h -- incremental backups in a backup folder (tind_backup_*).
 *
 * Layout (docs/FORMAT.md "Backup folder"):
 *   LOCK                  held by create and prune (exclusive), list, verify
 *                         and restore (shared)
 *   meta/ID               backup ID's description: every file with its size
 *                         and xxh3-64; written last and atomically, so a
 *                         backup exists exactly when its description does
 *   shared/N-TTTT-S.tbl   table N with table id TTTT (16 hex digits) and size
 *                         S bytes, shared by every backup that holds it
 *                         (tables never change, and the table id is unique;
 *                         a table without an id (format 1) is named
 *                         N-hHHHH-S.tbl by its content's xxh3-64 instead)
 *   private/ID/           FORMAT, VERSIONS, journals/N.jrn of backup ID
 *
 * A backup's files come from a checkpoint plan (db/checkpoint.h), so a
 * backup holds exactly what tind_checkpoint would at the same moment.
 *
 * Every function takes the file system of the backup folder (the public
 * calls give the database's for create, the POSIX one otherwise), so tests
 * run them on the in-memory and fault file systems.
 */
#ifndef TIND_DB_BACKUP_H
#define TIND_DB_BACKUP_H

#include "db/checkpoint.h"

int bk_create(tind_db *db, const char *dir, ckpt_progress_fn progress, void *ctx, uint64_t *id, tind_err *err);
int bk_list(fs *fsys, const char *dir, tind_backup_info **list, size_t *count, tind_err *err);
int bk_verify(fs *fsys, const char *dir, uint64_t id, ckpt_progress_fn progress, void *ctx, tind_err *err);
int bk_restore(fs *fsys, const char *dir, uint64_t id, const char *target, ckpt_progress_fn progress, void *ctx,
               tind_err *err);
int bk_prune(fs *fsys, const char *dir, size_t keep, size_t *deleted, tind_err *err);

#endif
