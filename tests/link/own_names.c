/*
 * own_names.c -- an application that happens to define functions named like
 * tind's internals (cache_new, arena_init, fs_posix_new, err_set, db_fail,
 * options_default, jrn_sync, blk_parse) and runs examples/quickstart.c against
 * the installed static library. It links only when libtind.a keeps its
 * internal names local (scripts/check_symbols.sh builds and runs it), and it
 * checks at run time that each name still means the application's own
 * function.
 *
 *   usage: own_names FOLDER
 */
#include <stdio.h>

#define main quickstart_main
#include "../../examples/quickstart.c"
#undef main

static int calls;

/* The application's own functions; the signatures are deliberately unlike
 * tind's: only the names meet. */
int cache_new(void) { return ++calls; }
int arena_init(void) { return ++calls; }
int fs_posix_new(void) { return ++calls; }
int err_set(void) { return ++calls; }
int db_fail(void) { return ++calls; }
int options_default(void) { return ++calls; }
int jrn_sync(void) { return ++calls; }
int blk_parse(void) { return ++calls; }

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: own_names FOLDER\n");
        return 2;
    }
    int sum = cache_new() + arena_init() + fs_posix_new() + err_set() + db_fail() + options_default() +
              jrn_sync() + blk_parse();
    if (sum != 36) {
        fprintf(stderr, "own_names: the application's functions were not the ones called\n");
        return 1;
    }
    char *qargv[] = {argv[0], argv[1], "2000", NULL};
    return quickstart_main(3, qargv);
}
