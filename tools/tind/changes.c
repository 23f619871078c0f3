/*
 * changes.c -- the shell's `changes --from N [--follow]`: the database's
 * change feed (tind_changes_since), one committed batch after another.
 *
 * Text: a line "batch SEQNO (N operations)", then one line per operation,
 * "  put KS KEY = VALUE" or "  del KS KEY". JSON: one object per batch,
 * {"seqno":S,"ops":[{"op":"put","keyspace":...,"key":...,"value":...}]}.
 * CSV: one record per operation, seqno,op,keyspace,key,value (the batch is
 * the records sharing a seqno). --follow waits for new batches until Ctrl-C.
 */
#include <inttypes.h>
#include <string.h>

#include "shell.h"

static const char *op_name(int type)
{
    return type == TIND_CHANGE_PUT              ? "put"
           : type == TIND_CHANGE_REMOVE         ? "del"
           : type == TIND_CHANGE_MERGE          ? "merge"
           : type == TIND_CHANGE_SINGLE_REMOVE  ? "single-del"
           : type == TIND_CHANGE_REMOVE_RANGE   ? "delrange"
                                                : "other";
}

/* The keyspace's name, or "#ID" once it is deleted. */
static const char *ks_label(const tind_change_op *op, char *buf, size_t len)
{
    if (op->keyspace)
        return op->keyspace;
    snprintf(buf, len, "#%" PRIu32, op->keyspace_id);
    return buf;
}

static int print_machine(tsh *sh, tind_changes *c)
{
    int json = sh->format == SH_FMT_JSON;
    tbuf line = TBUF_INIT;
    int rc = TIND_OK;
    char num[64];
    uint64_t seqno = tind_changes_seqno(c);
    size_t n = tind_changes_count(c);
    if (json) {
        snprintf(num, sizeof num, "{\"seqno\":%" PRIu64 ",\"ops\":[", seqno);
        rc = tbuf_append(&line, num, strlen(num));
    }
    for (size_t i = 0; i < n && !rc; i++) {
        const tind_change_op *op = tind_changes_op(c, i);
        char kbuf[32];
        const char *ks = ks_label(op, kbuf, sizeof kbuf);
        if (json) {
            snprintf(num, sizeof num, "%s{\"op\":\"%s\",\"keyspace\":", i ? "," : "", op_name(op->type));
            rc = tbuf_append(&line, num, strlen(num));
            rc = rc ? rc : sh_json_string(&line, (const uint8_t *)ks, strlen(ks));
            rc = rc ? rc : tbuf_append(&line, ",\"key\":", 7);
            rc = rc ? rc : sh_json_string(&line, op->key, op->klen);
            if (op->type == TIND_CHANGE_PUT || op->type == TIND_CHANGE_MERGE) {
                rc = rc ? rc : tbuf_append(&line, ",\"value\":", 9);
                rc = rc ? rc : sh_json_string(&line, op->value, op->vlen);
            } else if (op->type == TIND_CHANGE_REMOVE_RANGE) { /* "" = no end */
                rc = rc ? rc : tbuf_append(&line, ",\"end\":", 7);
                rc = rc ? rc : sh_json_string(&line, op->value, op->vlen);
            }
            rc = rc ? rc : tbuf_append(&line, "}", 1);
        } else {
            snprintf(num, sizeof num, "%" PRIu64 ",%s,", seqno, op_name(op->type));
            rc = tbuf_append(&line, num, strlen(num));
            rc = rc ? rc : sh_csv_field(&line, (const uint8_t *)ks, strlen(ks));
            rc = rc ? rc : tbuf_append(&line, ",", 1);
            rc = rc ? rc : sh_csv_field(&line, op->key, op->klen);
            rc = rc ? rc : tbuf_append(&line, ",", 1);
            if (op->type == TIND_CHANGE_PUT || op->type == TIND_CHANGE_MERGE || op->type == TIND_CHANGE_REMOVE_RANGE)
                rc = rc ? rc : sh_csv_field(&line, op->value, op->vlen); /* a range: its end */
            rc = rc ? rc : tbuf_append(&line, "\r\n", 2);
        }
    }
    if (json && !rc)
        rc = tbuf_append(&line, "]}\n", 3);
    if (!rc)
        fwrite(line.data, 1, line.len, sh->out);
    tbuf_free(&line);
    return rc ? sh_error(sh, "out of memory") : SH_OK;
}

static void print_text(tsh *sh, tind_changes *c)
{
    size_t n = tind_changes_count(c);
    fprintf(sh->out, "batch %" PRIu64 " (%zu operation%s)\n", tind_changes_seqno(c), n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        const tind_change_op *op = tind_changes_op(c, i);
        char kbuf[32];
        fprintf(sh->out, "  %s %s ", op_name(op->type), ks_label(op, kbuf, sizeof kbuf));
        sh_show_bytes(sh, sh->out, op->key, op->klen, sh->hex, 1);
        if (op->type == TIND_CHANGE_PUT || op->type == TIND_CHANGE_MERGE) {
            fputs(" = ", sh->out);
            sh_show_bytes(sh, sh->out, op->value, op->vlen, sh->hex, sh->full);
        } else if (op->type == TIND_CHANGE_REMOVE_RANGE) {
            fputs(" .. ", sh->out);
            if (op->vlen)
                sh_show_bytes(sh, sh->out, op->value, op->vlen, sh->hex, 1);
            else
                fputs("(end)", sh->out);
        }
        fputc('\n', sh->out);
    }
}

int sh_cmd_changes(tsh *sh, sh_words *args)
{
    sh_opt opts[] = {{"from", 1, 0, NULL}, {"follow", 0, 0, NULL}};
    const sh_word *pos[1];
    size_t npos;
    int rc = sh_parse_opts(sh, args, 1, opts, 2, pos, &npos, 0);
    if (rc)
        return rc;
    uint64_t from = 1;
    if (opts[0].seen && (rc = sh_parse_u64(sh, opts[0].value, "--from", &from)))
        return rc;
    tind_changes *c = NULL;
    int st = tind_changes_since(sh->db, from, &c);
    if (st)
        return sh_error(sh, "changes: %s", tind_errmsg(sh->db)[0] ? tind_errmsg(sh->db) : tind_strerror(st));
    if (sh->format == SH_FMT_CSV)
        fputs("seqno,op,keyspace,key,value\r\n", sh->out);
    uint64_t batches = 0;
    rc = SH_OK;
    for (;;) {
        if (sh_interrupted) {
            if (!opts[1].seen)
                rc = sh_error(sh, "interrupted after %" PRIu64 " batches", batches);
            break;
        }
        st = tind_changes_next(c, opts[1].seen ? 200 : 0);
        if (st == TIND_NOT_FOUND) {
            if (!opts[1].seen)
                break;
            continue;
        }
        if (st) {
            rc = sh_error(sh, "changes: %s", tind_errmsg(sh->db)[0] ? tind_errmsg(sh->db) : tind_strerror(st));
            break;
        }
        if (sh->format == SH_FMT_TEXT)
            print_text(sh, c);
        else if ((rc = print_machine(sh, c)))
            break;
        batches++;
        if (opts[1].seen)
            fflush(sh->out);
    }
    tind_changes_free(c);
    if (rc == SH_OK && sh->interactive && sh->format == SH_FMT_TEXT)
        fprintf(sh->out, "(%" PRIu64 " batch%s)\n", batches, batches == 1 ? "" : "es");
    return rc;
}
