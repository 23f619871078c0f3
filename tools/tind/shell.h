/*
 * shell.h -- the tind shell's state and the entry points its files share.
 *
 *   main.c      arguments, opening the database, one-command and script modes
 *   repl.c      the interactive mode: libedit line editing, history, completion
 *   commands.c  the command table and the data commands (put, get, scan, ...)
 *   text.c      tokenizer, display and export escaping (text.h)
 *   verify.c    verify: every file of a database folder, checked
 *   dump.c      dump table FILE / dump journal FILE
 *   transfer.c  export / import
 *   progress.c  the progress meter of long commands on a terminal (progress.h)
 *   backup.c    checkpoint DIR, backup create|list|verify|restore|prune
 *
 * A command returns SH_OK, SH_FAIL (it printed why) or SH_USAGE (bad
 * arguments; the dispatcher prints the usage line). The shell is
 * single-threaded; the database's background workers are the only other
 * threads. The one piece of process-wide state is the SIGINT flag
 * (sh_interrupted), which long commands poll.
 */
#ifndef TIND_TOOLS_SHELL_H
#define TIND_TOOLS_SHELL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "progress.h"
#include "text.h"
#include "tind.h"

enum { SH_OK = 0, SH_FAIL = 1, SH_USAGE = 2 };
/* Output modes of get, mget, first, last, scan and stats (tind --json / --csv). */
enum { SH_FMT_TEXT = 0, SH_FMT_JSON, SH_FMT_CSV };
/* scan's default --limit when both ends are a terminal (--all lifts it). */
#define SH_SCAN_TERMINAL_LIMIT 100

typedef struct tsh {
    const char *path;             /* the database folder */
    tind_db *db;                  /* NULL until opened (verify and dump do not need it) */
    tind_batch *batch;            /* non-NULL between `batch` and `commit` / `abort` */
    tind_txn *txn;                /* non-NULL between `begin` and `commit` / `rollback` (txn.c) */
    tind_read_options *ro;        /* what reads pass: the transaction's, or NULL */
    int hex;                      /* show keys and values as hex */
    int full;                     /* never abbreviate values */
    int format;                   /* SH_FMT_*: text for people, or JSON / CSV for programs */
    int timer;                    /* `timer on`: each command's wall time on stderr */
    int interactive;              /* a terminal: prompts, summaries */
    int stdin_commands;           /* commands come from stdin (import - is refused) */
    long line;                    /* script line being run (0 = none) */
    int quit;                     /* `quit` was given */
    int open_failed;              /* opening the database failed (reason printed) */
    int create;                   /* --create: a missing database may be created */
    int read_only;                /* --read-only: tind_options_set_read_only */
    int has_key;                  /* --key-file / $TIND_KEY_FILE: an encrypted database */
    uint8_t key[32];
    FILE *out;
    FILE *err;
} tsh;

extern volatile sig_atomic_t sh_interrupted;

/* ---- commands.c ---- */
typedef int (*sh_cmd_fn)(tsh *sh, sh_words *args);
typedef struct sh_command {
    const char *name;
    int needs_db;                 /* open the database before running it */
    sh_cmd_fn run;
    const char *usage;
    const char *help;
} sh_command;

/* Runs one command (args->v[0] is its name). Opens the database first when
 * the command needs it and it is not open yet. Returns SH_OK / SH_FAIL /
 * SH_USAGE (usage already printed). */
int sh_run(tsh *sh, sh_words *args);
/* Runs one line of input (split + sh_run); blank lines and comments are SH_OK. */
int sh_run_line(tsh *sh, const char *line, size_t len);
const sh_command *sh_find_command(const char *name);
const sh_command *sh_commands(size_t *count);
/* Opens sh->path when not open yet; prints a one-line reason on failure. */
int sh_open_db(tsh *sh);
/* The file system verify and dump read the folder's files through: POSIX,
 * or the decrypting wrapper around it with the shell's key. NULL (reason
 * printed) when out of memory, or when the folder's ENCRYPTION file refuses
 * the key or its absence. Free with fs_destroy. */
struct fs *sh_new_fs(tsh *sh);
/* Reads a key file: 32 raw bytes, or 64 hex digits (whitespace around
 * them ignored). 0 on success, else -1 with the reason in why. */
int sh_read_key_file(const char *path, uint8_t key[32], char *why, size_t why_len);
/* "error: ..." on sh->err (with the script line when there is one); returns SH_FAIL. */
int sh_error(tsh *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints a value or key in the shell's display mode. */
void sh_show_bytes(tsh *sh, FILE *f, const void *p, size_t n, int hex, int full);

/* Option parsing over args->v[from..]: options are unquoted words starting
 * with "--"; "--" ends them. */
typedef struct sh_opt {
    const char *name;             /* without the dashes */
    int takes_value;
    int seen;
    const sh_word *value;
} sh_opt;
/* Moves the positional words into pos (borrowed pointers) and fills opts.
 * SH_USAGE (with a message) on an unknown option or a missing value. */
int sh_parse_opts(tsh *sh, sh_words *args, size_t from, sh_opt *opts, size_t nopts,
                  const sh_word **pos, size_t *npos, size_t max_pos);
int sh_parse_u64(tsh *sh, const sh_word *w, const char *what, uint64_t *out);
/* n bytes in the largest binary unit that fits ("1.5 MiB"), into buf. */
const char *human_bytes(uint64_t n, char *buf, size_t len);

/* ---- verify.c ---- */
int sh_cmd_verify(tsh *sh, sh_words *args);
/* ---- dump.c ---- */
int sh_cmd_dump(tsh *sh, sh_words *args);
/* ---- changes.c ---- */
int sh_cmd_changes(tsh *sh, sh_words *args);
/* ---- transfer.c ---- */
int sh_cmd_export(tsh *sh, sh_words *args);
int sh_cmd_import(tsh *sh, sh_words *args);
/* ---- txn.c ---- */
int sh_cmd_begin(tsh *sh, sh_words *args);
int sh_cmd_rollback(tsh *sh, sh_words *args);
/* Commits sh->txn and closes it (SH_OK / SH_FAIL with the reason printed). */
int sh_txn_commit(tsh *sh);
/* Discards sh->txn, if any. */
void sh_txn_rollback(tsh *sh);
/* ---- backup.c ---- */
int sh_cmd_checkpoint(tsh *sh, sh_words *args);
int sh_cmd_backup(tsh *sh, sh_words *args);
/* ---- repl.c ---- */
/* The interactive loop; returns the exit status. */
int sh_repl(tsh *sh);

#endif
