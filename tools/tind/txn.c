/*
 * txn.c -- the shell's transactions: `begin [--single-writer] [--read-only]`
 * opens one; while it is open put and del go into it, get, exists, mget,
 * first, last, scan and count read through it (its snapshot and its own
 * writes); `commit` applies it (or reports the conflict: nothing applied),
 * `rollback` (or `abort`) discards it. One transaction at a time, never
 * beside an open batch.
 */
#include <string.h>

#include "shell.h"

static int txn_error(tsh *sh, const char *what, int rc)
{
    const char *msg = tind_errmsg(sh->db);
    return sh_error(sh, "%s: %s", what, msg[0] ? msg : tind_strerror(rc));
}

int sh_cmd_begin(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {{"single-writer", 0, 0, NULL}, {"read-only", 0, 0, NULL}};
    const sh_word *pos[1];
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, 2, pos, &npos, 0);
    if (rc)
        return rc;
    if (!sh->interactive && !sh->stdin_commands)
        return sh_error(sh, "begin needs the interactive shell or a script (tind PATH < script)");
    if (sh->txn)
        return sh_error(sh, "a transaction is already open: commit or rollback it");
    if (sh->batch)
        return sh_error(sh, "a batch is open: commit or abort it before beginning a transaction");
    sh->ro = tind_read_options_new();
    if (!sh->ro)
        return sh_error(sh, "out of memory");
    int flags = (opts[0].seen ? TIND_TXN_SINGLE_WRITER | TIND_TXN_NOWAIT : 0) |
                (opts[1].seen ? TIND_TXN_READ_ONLY : 0);
    int st = tind_txn_begin(sh->db, flags, &sh->txn);
    if (st) {
        tind_read_options_free(sh->ro);
        sh->ro = NULL;
        return txn_error(sh, "begin", st);
    }
    tind_read_options_set_txn(sh->ro, sh->txn);
    if (sh->interactive)
        fprintf(sh->out, "(transaction at seqno %llu)\n", (unsigned long long)tind_txn_seqno(sh->txn));
    return SH_OK;
}

static void txn_close(tsh *sh)
{
    tind_read_options_free(sh->ro);
    sh->ro = NULL;
    sh->txn = NULL;
}

int sh_txn_commit(tsh *sh)
{
    int st = tind_txn_commit(sh->txn);
    txn_close(sh);
    if (st == TIND_ECONFLICT)
        return txn_error(sh, "commit: conflict, nothing was applied (begin again and retry)", st);
    if (st)
        return txn_error(sh, "commit (the transaction was not applied)", st);
    if (sh->interactive)
        fprintf(sh->out, "(committed)\n");
    return SH_OK;
}

void sh_txn_rollback(tsh *sh)
{
    if (!sh->txn)
        return;
    tind_txn_rollback(sh->txn);
    txn_close(sh);
}

int sh_cmd_rollback(tsh *sh, sh_words *args)
{
    if (args->count != 1)
        return SH_USAGE;
    if (!sh->txn)
        return sh_error(sh, "no transaction is open (start one with: begin)");
    sh_txn_rollback(sh);
    if (sh->interactive)
        fprintf(sh->out, "(rolled back)\n");
    return SH_OK;
}
