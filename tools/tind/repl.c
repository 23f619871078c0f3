/*
 * repl.c -- the interactive mode: libedit (histedit.h) line editing in emacs
 * mode, history kept in ~/.tind_history (saved after every line, at most
 * 1000 entries), and Tab completion of command names, keyspace names (for
 * the commands that take one), dump kinds, set names and file names (dump,
 * import, export --output). ~/.editrc is read as usual for libedit.
 *
 * Ctrl-C at the prompt clears the line; during a command it asks the command
 * to stop (sh_interrupted); Ctrl-D on an empty line leaves.
 */
#include "shell.h"

#include <dirent.h>
#include <errno.h>
#include <histedit.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <wchar.h>

typedef struct repl {
    tsh *sh;
    EditLine *el;
    History *hist;
    char history_path[4096];
    char prompt[64];
} repl;

/* ------------------------------------------------------------------ completion */

typedef struct cand_list {
    char **v;
    size_t count, cap;
} cand_list;

static void cands_free(cand_list *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->v[i]);
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* Adds s (n bytes) when it starts with prefix. */
static void cands_add(cand_list *c, const char *prefix, const char *s, size_t n)
{
    size_t plen = strlen(prefix);
    if (n < plen || memcmp(s, prefix, plen) != 0)
        return;
    for (size_t i = 0; i < c->count; i++)
        if (strlen(c->v[i]) == n && !memcmp(c->v[i], s, n))
            return;
    if (c->count == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        char **v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return;
        c->v = v;
        c->cap = cap;
    }
    char *d = malloc(n + 1);
    if (!d)
        return;
    memcpy(d, s, n);
    d[n] = 0;
    c->v[c->count++] = d;
}

static void complete_keyspaces(tsh *sh, const char *prefix, cand_list *c)
{
    char **names = NULL;
    size_t count = 0;
    if (!sh->db || tind_keyspace_list(sh->db, &names, &count) != TIND_OK)
        return;
    for (size_t i = 0; i < count; i++) {
        tbuf shown = TBUF_INIT;
        if (sh_show(&shown, (const uint8_t *)names[i], strlen(names[i]), 0, 0) == TIND_OK)
            cands_add(c, prefix, (const char *)shown.data, shown.len);
        tbuf_free(&shown);
    }
    tind_free(names);
}

static void complete_files(const char *prefix, cand_list *c)
{
    const char *slash = strrchr(prefix, '/');
    char dir[4096];
    const char *base = prefix;
    if (slash) {
        size_t n = (size_t)(slash - prefix) + 1;
        if (n >= sizeof dir)
            return;
        memcpy(dir, prefix, n);
        dir[n] = 0;
        base = slash + 1;
    } else {
        dir[0] = 0;
    }
    DIR *d = opendir(dir[0] ? dir : ".");
    if (!d)
        return;
    struct dirent *e;
    size_t blen = strlen(base);
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (e->d_name[0] == '.' && base[0] != '.')
            continue;
        if (strncmp(e->d_name, base, blen) != 0)
            continue;
        char full[8192];
        int n = snprintf(full, sizeof full, "%s%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof full - 1)
            continue;
        struct stat st;
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            full[n++] = '/';
            full[n] = 0;
        }
        cands_add(c, prefix, full, (size_t)n);
    }
    closedir(d);
}

static int takes_keyspace_first(const char *cmd)
{
    static const char *const names[] = {"drop",  "put",  "get",   "del",   "scan",  "count", "stats",
                                        "flush", "compact", "exists", "mget", "first", "last", "merge"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(cmd, names[i]))
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static unsigned char complete_fn(EditLine *el, int ch)
{
    (void)ch;
    repl *r = NULL;
    el_get(el, EL_CLIENTDATA, &r);
    const LineInfo *li = el_line(el);
    size_t len = (size_t)(li->cursor - li->buffer);

    /* words before the cursor (plain blank splitting is enough here) */
    char first[64] = "", prev[64] = "";
    int index = 0;
    size_t start = len;   /* the word being completed; empty after a blank */
    for (size_t i = 0; i < len;) {
        while (i < len && (li->buffer[i] == ' ' || li->buffer[i] == '\t'))
            i++;
        if (i >= len)
            break;
        size_t ws = i;
        while (i < len && li->buffer[i] != ' ' && li->buffer[i] != '\t')
            i++;
        if (i < len) {   /* a finished word */
            size_t n = i - ws < sizeof prev - 1 ? i - ws : sizeof prev - 1;
            memcpy(prev, li->buffer + ws, n);
            prev[n] = 0;
            if (index == 0)
                memcpy(first, prev, n + 1);
            index++;
        } else {
            start = ws;
        }
    }
    char word[1024];
    size_t wlen = len - start;
    if (wlen >= sizeof word)
        return CC_ERROR;
    memcpy(word, li->buffer + start, wlen);
    word[wlen] = 0;

    cand_list c = {0};
    int files = 0;
    if (index == 0 || (index == 1 && !strcmp(first, "help"))) {
        size_t n;
        const sh_command *cmds = sh_commands(&n);
        for (size_t i = 0; i < n; i++)
            cands_add(&c, word, cmds[i].name, strlen(cmds[i].name));
    } else if (!strcmp(first, "dump") && index == 1) {
        cands_add(&c, word, "table", 5);
        cands_add(&c, word, "journal", 7);
    } else if (!strcmp(first, "set") && index == 1) {
        cands_add(&c, word, "hex", 3);
        cands_add(&c, word, "full", 4);
        cands_add(&c, word, "format", 6);
    } else if (!strcmp(first, "set") && index == 2 && !strcmp(prev, "format")) {
        cands_add(&c, word, "text", 4);
        cands_add(&c, word, "json", 4);
        cands_add(&c, word, "csv", 3);
    } else if (!strcmp(first, "timer") && index == 1) {
        cands_add(&c, word, "on", 2);
        cands_add(&c, word, "off", 3);
    } else if (!strcmp(first, "set") && index == 2) {
        cands_add(&c, word, "on", 2);
        cands_add(&c, word, "off", 3);
    } else if ((!strcmp(first, "dump") && index >= 2) || (!strcmp(first, "import") && index == 1) ||
               (!strcmp(first, "export") && !strcmp(prev, "--output"))) {
        complete_files(word, &c);
        files = 1;
    } else if ((takes_keyspace_first(first) && index == 1) || !strcmp(first, "export")) {
        complete_keyspaces(r->sh, word, &c);
    }

    unsigned char ret = CC_ERROR;
    if (c.count == 1) {
        const char *s = c.v[0];
        size_t n = strlen(s);
        char rest[2048];
        int dir = files && n && s[n - 1] == '/';
        snprintf(rest, sizeof rest, "%s%s", s + wlen, dir ? "" : " ");
        el_insertstr(el, rest);
        ret = CC_REFRESH;
    } else if (c.count > 1) {
        /* extend to the longest common prefix; list the choices when stuck */
        size_t common = strlen(c.v[0]);
        for (size_t i = 1; i < c.count; i++) {
            size_t k = 0;
            while (k < common && c.v[i][k] && c.v[i][k] == c.v[0][k])
                k++;
            common = k;
        }
        if (common > wlen) {
            char rest[2048];
            size_t n = common - wlen < sizeof rest - 1 ? common - wlen : sizeof rest - 1;
            memcpy(rest, c.v[0] + wlen, n);
            rest[n] = 0;
            el_insertstr(el, rest);
            ret = CC_REFRESH;
        } else {
            qsort(c.v, c.count, sizeof *c.v, cmp_str);
            size_t width = 0;
            for (size_t i = 0; i < c.count; i++)
                if (strlen(c.v[i]) > width)
                    width = strlen(c.v[i]);
            size_t cols = 78 / (width + 2);
            if (cols == 0)
                cols = 1;
            fputc('\n', stdout);
            for (size_t i = 0; i < c.count; i++)
                fprintf(stdout, "%-*s%s", (int)(width + 2), c.v[i],
                        (i + 1) % cols == 0 || i + 1 == c.count ? "\n" : "");
            fflush(stdout);
            ret = CC_REDISPLAY;
        }
    }
    cands_free(&c);
    return ret;
}

/* ------------------------------------------------------------------ the loop */

static char *prompt_fn(EditLine *el)
{
    repl *r = NULL;
    el_get(el, EL_CLIENTDATA, &r);
    if (r->sh->batch)
        snprintf(r->prompt, sizeof r->prompt, "tind(batch %zu)> ", tind_batch_count(r->sh->batch));
    else if (r->sh->txn)
        snprintf(r->prompt, sizeof r->prompt, "tind(txn)> ");
    else
        snprintf(r->prompt, sizeof r->prompt, "tind> ");
    return r->prompt;
}

int sh_repl(tsh *sh)
{
    repl r;
    memset(&r, 0, sizeof r);
    r.sh = sh;
    HistEvent ev;
    r.hist = history_init();
    if (r.hist) {
        history(r.hist, &ev, H_SETSIZE, 1000);
        history(r.hist, &ev, H_SETUNIQUE, 1);
        const char *home = getenv("HOME");
        if (home && *home) {
            snprintf(r.history_path, sizeof r.history_path, "%s/.tind_history", home);
            history(r.hist, &ev, H_LOAD, r.history_path);
        }
    }
    r.el = el_init("tind", stdin, stdout, stderr);
    if (!r.el) {
        if (r.hist)
            history_end(r.hist);
        return sh_error(sh, "cannot start line editing (libedit)");
    }
    el_set(r.el, EL_CLIENTDATA, &r);
    el_set(r.el, EL_EDITOR, "emacs");
    el_set(r.el, EL_PROMPT, prompt_fn);
    if (r.hist)
        el_set(r.el, EL_HIST, history, r.hist);
    /* the wide form: el_set(EL_ADDFN) copies the two strings and never frees them */
    el_wset(r.el, EL_ADDFN, L"tind-complete", L"complete a command, keyspace or file name", complete_fn);
    el_set(r.el, EL_BIND, "^I", "tind-complete", NULL);
    el_source(r.el, NULL);

    fprintf(stdout, "tind %s on '%s': help lists the commands; quit or Ctrl-D leaves.\n", tind_version(), sh->path);
    fflush(stdout);
    for (;;) {
        int count = 0;
        sh_interrupted = 0;
        errno = 0;
        const char *line = el_gets(r.el, &count);
        if (!line || count <= 0) {
            if (sh_interrupted || errno == EINTR) {
                /* Ctrl-C at the prompt: drop the line, prompt again */
                fputc('\n', stdout);
                fflush(stdout);
                el_reset(r.el);
                continue;
            }
            fputc('\n', stdout);   /* Ctrl-D */
            break;
        }
        size_t n = (size_t)count;
        int blank = 1;
        for (size_t i = 0; i < n; i++)
            if (line[i] != ' ' && line[i] != '\t' && line[i] != '\n' && line[i] != '\r')
                blank = 0;
        if (!blank && r.hist) {
            char *entry = strndup(line, n);
            if (entry) {
                size_t k = strlen(entry);
                while (k && (entry[k - 1] == '\n' || entry[k - 1] == '\r'))
                    entry[--k] = 0;
                history(r.hist, &ev, H_ENTER, entry);
                free(entry);
            }
            if (r.history_path[0])
                history(r.hist, &ev, H_SAVE, r.history_path);
        }
        sh_run_line(sh, line, n);
        if (sh->quit)
            break;
    }
    el_end(r.el);
    if (r.hist)
        history_end(r.hist);
    return 0;
}
