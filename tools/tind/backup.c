/*
 * backup.c -- `checkpoint DIR` and `backup create|list|verify|restore|prune`
 * (tind_checkpoint and tind_backup_*), with the progress meter on a
 * terminal for the calls that copy or read files.
 *
 * checkpoint and backup create need the database (opened as for any
 * command); list, verify, restore and prune work on the backup folder alone.
 */
#include "shell.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The library's progress callback feeding the shell's meter. */
static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    sh_progress *m = ctx;
    m->total = total;
    m->done = done;
    if (m->on)
        sh_progress_draw(m);
}

static int lib_error(tsh *sh, const char *what, tind_db *db)
{
    const char *msg = tind_errmsg(db);
    return sh_error(sh, "%s: %s", what, msg[0] ? msg : "failed");
}

int sh_cmd_checkpoint(tsh *sh, sh_words *args)
{
    if (args->count != 2)
        return SH_USAGE;
    const char *dir = sh_str(&args->v[1]);
    int rc = tind_checkpoint(sh->db, dir);
    if (rc)
        return lib_error(sh, "checkpoint", sh->db);
    if (sh->interactive)
        fprintf(sh->out, "(checkpoint written to %s)\n", dir);
    return SH_OK;
}

static int backup_create(tsh *sh, const char *dir)
{
    if (sh_open_db(sh) != SH_OK)
        return SH_FAIL;
    sh_progress m;
    sh_progress_begin(&m, sh, "backup", 0, 1, NULL);
    uint64_t id = 0;
    int rc = tind_backup_create(sh->db, dir, on_progress, &m, &id);
    sh_progress_end(&m);
    if (rc)
        return lib_error(sh, "backup create", sh->db);
    fprintf(sh->out, "backup %" PRIu64 " created in %s\n", id, dir);
    return SH_OK;
}

static int backup_list(tsh *sh, const char *dir)
{
    tind_backup_info *list = NULL;
    size_t count = 0;
    if (tind_backup_list(dir, &list, &count))
        return lib_error(sh, "backup list", NULL);
    if (count == 0)
        fprintf(sh->out, "no backups in %s\n", dir);
    for (size_t i = 0; i < count; i++) {
        char when[32] = "?", size[32], shared[32];
        time_t t = (time_t)list[i].created_unix;
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        human_bytes(list[i].bytes, size, sizeof size);
        human_bytes(list[i].shared_bytes, shared, sizeof shared);
        fprintf(sh->out, "backup %" PRIu64 "  %s UTC  seqno %" PRIu64 "  %" PRIu64 " file%s  %s (%s shared)\n",
                list[i].id, when, list[i].seqno, list[i].files, list[i].files == 1 ? "" : "s", size, shared);
    }
    tind_free(list);
    return SH_OK;
}

static int backup_verify(tsh *sh, const char *dir, uint64_t id)
{
    sh_progress m;
    sh_progress_begin(&m, sh, "verify", 0, 1, NULL);
    int rc = tind_backup_verify(dir, id, on_progress, &m);
    sh_progress_end(&m);
    if (rc)
        return lib_error(sh, "backup verify", NULL);
    if (id)
        fprintf(sh->out, "backup %" PRIu64 " verified: every file's checksum and structure\n", id);
    else
        fprintf(sh->out, "every backup verified: every file's checksum and structure\n");
    return SH_OK;
}

static int backup_restore(tsh *sh, const char *dir, uint64_t id, const char *target)
{
    sh_progress m;
    sh_progress_begin(&m, sh, "restore", 0, 1, NULL);
    int rc = tind_backup_restore(dir, id, target, on_progress, &m);
    sh_progress_end(&m);
    if (rc)
        return lib_error(sh, "backup restore", NULL);
    if (id)
        fprintf(sh->out, "backup %" PRIu64 " restored to %s\n", id, target);
    else
        fprintf(sh->out, "newest backup restored to %s\n", target);
    return SH_OK;
}

int sh_cmd_backup(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {{"keep", 1, 0, NULL}};
    const sh_word *pos[4];
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, 1, pos, &npos, 4);
    if (rc)
        return rc;
    if (npos < 2)
        return SH_USAGE;
    const char *what = sh_str(pos[0]), *dir = sh_str(pos[1]);
    uint64_t id = 0;
    if (!strcmp(what, "create") && npos == 2 && !opts[0].seen)
        return backup_create(sh, dir);
    if (!strcmp(what, "list") && npos == 2 && !opts[0].seen)
        return backup_list(sh, dir);
    if (!strcmp(what, "verify") && npos <= 3 && !opts[0].seen) {
        if (npos == 3 && sh_parse_u64(sh, pos[2], "backup id", &id))
            return SH_FAIL;
        return backup_verify(sh, dir, id);
    }
    if (!strcmp(what, "restore") && (npos == 3 || npos == 4) && !opts[0].seen) {
        if (npos == 4 && sh_parse_u64(sh, pos[2], "backup id", &id))
            return SH_FAIL;
        return backup_restore(sh, dir, id, sh_str(pos[npos - 1]));
    }
    if (!strcmp(what, "prune") && npos == 2 && opts[0].seen) {
        uint64_t keep = 0;
        if (sh_parse_u64(sh, opts[0].value, "--keep", &keep))
            return SH_FAIL;
        size_t deleted = 0;
        if (tind_backup_prune(dir, (size_t)keep, &deleted))
            return lib_error(sh, "backup prune", NULL);
        fprintf(sh->out, "%zu backup%s deleted\n", deleted, deleted == 1 ? "" : "s");
        return SH_OK;
    }
    return SH_USAGE;
}
