/*
 * main.c -- the `tind` program: arguments, and the three ways to run it.
 *
 *   tind [OPTIONS] PATH                    interactive shell (stdin a terminal)
 *   tind [OPTIONS] PATH < script           script: one command per line, no prompt
 *   tind [OPTIONS] PATH COMMAND [ARG...]   one command, then exit
 *
 * Exit status: 0 when every command succeeded; 1 when one failed (or the
 * database could not be opened); 2 for a usage error on the command line;
 * 130 after Ctrl-C stopped a script or a command.
 *
 * The database is opened when the first command that needs it runs (at
 * start in interactive mode), so `verify` and `dump` work on a folder that
 * does not open. It is closed (journal synced) at exit. Only `create` and
 * `import` (as the command that opens it) or --create make a new database:
 * a mistyped PATH is an error, never a new empty database. --read-only opens
 * it with tind_options_set_read_only (nothing is written; write commands
 * fail).
 */
#include "shell.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tind [--hex] [--full] [--json | --csv] [--bail] [--create | --read-only]\n"
            "            [--key-file F] PATH\n"
            "            [COMMAND [ARG...]]\n"
            "  PATH                     the database folder; only `create KS`, `import FILE`\n"
            "                           or --create make a new one (a missing or empty folder)\n"
            "  no COMMAND               interactive shell on a terminal; otherwise commands\n"
            "                           are read from standard input, one per line\n"
            "  --hex                    show keys and values as hex\n"
            "  --full                   never abbreviate long values\n"
            "  --json                   get, mget, first, last, scan and stats print one JSON\n"
            "                           object per line; byte b of a key or value is the code\n"
            "                           point U+00bb (\\u00HH unless printable ASCII)\n"
            "  --csv                    the same as RFC 4180 CSV with a header line; fields\n"
            "                           hold the bytes exactly (use --hex for binary data)\n"
            "  --bail                   stop a script at the first failed command\n"
            "  --create                 create the database when PATH does not hold one\n"
            "  --read-only              open without writing anything (inspect a damaged or\n"
            "                           live database): stats, scan, get, count, export,\n"
            "                           verify, dump; write commands fail\n"
            "  --key-file F             the key of an encrypted database: 32 raw bytes or 64\n"
            "                           hex digits in file F (default: $TIND_KEY_FILE)\n"
            "  --help, --version\n"
            "Commands: tind PATH help; the manual: man tind.\n");
}

static void on_sigint(int sig)
{
    (void)sig;
    if (sh_interrupted) {
        /* a second Ctrl-C while a command still runs: leave now */
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
        return;
    }
    sh_interrupted = 1;
}

static int run_script(tsh *sh, FILE *in, int bail)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int status = 0;
    while ((n = getline(&line, &cap, in)) >= 0) {
        sh->line++;
        int rc = sh_run_line(sh, line, (size_t)n);
        if (rc != SH_OK) {
            status = 1;
            if (bail || sh->open_failed)   /* nothing can run without the database */
                break;
        }
        if (sh_interrupted) {
            status = 130;
            break;
        }
        if (sh->quit)
            break;
    }
    free(line);
    if (ferror(in)) {
        sh_error(sh, "reading the script: %s", strerror(errno));
        status = 1;
    }
    return status;
}

int main(int argc, char **argv)
{
    tsh sh;
    memset(&sh, 0, sizeof sh);
    sh.out = stdout;
    sh.err = stderr;
    int bail = 0;
    const char *key_file = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (!strcmp(argv[i], "--hex"))
            sh.hex = 1;
        else if (!strcmp(argv[i], "--full"))
            sh.full = 1;
        else if (!strcmp(argv[i], "--json"))
            sh.format = SH_FMT_JSON;
        else if (!strcmp(argv[i], "--csv"))
            sh.format = SH_FMT_CSV;
        else if (!strcmp(argv[i], "--bail"))
            bail = 1;
        else if (!strcmp(argv[i], "--create"))
            sh.create = 1;
        else if (!strcmp(argv[i], "--read-only"))
            sh.read_only = 1;
        else if (!strcmp(argv[i], "--key-file") && i + 1 < argc)
            key_file = argv[++i];
        else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("tind %s\n", tind_version());
            return 0;
        } else if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else {
            fprintf(stderr, "tind: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc || (sh.create && sh.read_only)) {
        if (i < argc)
            fprintf(stderr, "tind: --create and --read-only exclude each other\n");
        usage(stderr);
        return 2;
    }
    sh.path = argv[i++];
    if (!key_file)
        key_file = getenv("TIND_KEY_FILE");
    if (key_file && *key_file) {
        char why[300];
        if (sh_read_key_file(key_file, sh.key, why, sizeof why)) {
            fprintf(stderr, "tind: %s\n", why);
            return 2;
        }
        sh.has_key = 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);   /* no SA_RESTART: a blocked read returns EINTR */

    int status = 0;
    if (i < argc) {
        /* one command from argv */
        sh_words w = {0};
        char why[160];
        for (; i < argc; i++)
            if (sh_parse_arg(argv[i], &w, why, sizeof why)) {
                fprintf(stderr, "tind: argument %d: %s\n", i, why);
                sh_words_free(&w);
                return 2;
            }
        int rc = sh_run(&sh, &w);
        sh_words_free(&w);
        status = rc == SH_OK ? 0 : rc == SH_USAGE ? 2 : 1;
        if (sh_interrupted && status)
            status = 130;
    } else if (isatty(STDIN_FILENO)) {
        sh.interactive = 1;
        if (sh_open_db(&sh) != SH_OK)
            return 1;
        status = sh_repl(&sh);
    } else {
        sh.stdin_commands = 1;
        status = run_script(&sh, stdin, bail);
    }
    sh.line = 0;
    if (sh.txn) {
        sh_txn_rollback(&sh);
        sh_error(&sh, "a transaction was never committed: rolled back");
        if (!status)
            status = 1;
    }
    if (sh.batch) {
        size_t n = tind_batch_count(sh.batch);
        tind_batch_free(sh.batch);
        sh.batch = NULL;
        if (n) {
            sh_error(&sh, "a batch of %zu operations was never committed: discarded", n);
            if (!status)
                status = 1;
        }
    }
    if (sh.db) {
        int rc = tind_close(sh.db);
        if (rc) {
            fflush(stdout);
            fprintf(stderr, "tind: closing '%s': %s\n", sh.path, tind_strerror(rc));
            if (!status)
                status = 1;
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tind: writing the output: %s\n", strerror(errno));
        if (!status)
            status = 1;
    }
    return status;
}
