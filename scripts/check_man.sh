#!/bin/sh
# check_man.sh -- the manual pages render without a warning and cover the API:
#   - man/tind.1 and every man/man3/*.3 render with no output on standard
#     error from `man --warnings -l` (man-db) nor from `groff -man -ww -z`;
#   - every function declared TIND_API in include/tind.h has a page,
#     man/man3/NAME.3, either its group's page or a one-line alias
#     `.so man3/GROUP.3` whose target exists and names the function in its
#     NAME or SYNOPSIS section (so `man NAME` shows where it is described);
#   - every page that is not an alias has a NAME section; an alias points at
#     a page, not at another alias.
#
#   usage: sh scripts/check_man.sh [SOURCE_DIR]     (ctest: check_man)
#
# Exit 0 when every check passes, 1 with one line per problem. man and groff
# come from the Debian packages man-db and groff-base (scripts/deps.sh test).
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
fail=0
problem() { echo "check_man: $*"; fail=1; }

for tool in man groff; do
    command -v "$tool" >/dev/null 2>&1 ||
        { echo "check_man: '$tool' not found (scripts/deps.sh test installs man-db and groff-base)"; exit 1; }
done

# .so requests are resolved from the folder above man3/, as man does.
cd "$root/man" || { echo "check_man: no folder $root/man"; exit 1; }
pages=$(ls man3/*.3 2>/dev/null)
[ -n "$pages" ] || problem "no page in $root/man/man3"

# --- rendering -------------------------------------------------------------
# MANROFFSEQ='' stops preprocessors named in a page's first line from being
# run; MAN_DISABLE_SECCOMP avoids man-db's sandbox, which some containers
# refuse. Any line on standard error is a problem.
for f in tind.1 $pages; do
    out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 MAN_DISABLE_SECCOMP=1 \
          man --warnings -E UTF-8 -l "$f" 2>&1 >/dev/null)
    [ -z "$out" ] || problem "$f: man --warnings: $out"
    out=$(groff -man -ww -z "$f" 2>&1)
    [ -z "$out" ] || problem "$f: groff -ww: $out"
done

# --- coverage --------------------------------------------------------------
# section NAME|SYNOPSIS FILE: the text of that section of FILE
section() {
    awk -v s="$1" '/^\.SH/ { on = ($2 == s); next } on' "$2"
}
# target FILE: the page FILE resolves to (itself, or the target of its .so)
target() {
    so=$(sed -n '1s/^\.so[[:space:]]*//p' "$1")
    if [ -n "$so" ]; then echo "$so"; else echo "$1"; fi
}

functions=$(grep '^TIND_API' "$root/include/tind.h" | grep -o 'tind_[a-z0-9_]*(' | tr -d '(' | sort -u)
[ -n "$functions" ] || problem "no TIND_API function found in $root/include/tind.h"
missing=""
for fn in $functions; do
    page=man3/$fn.3
    if [ ! -f "$page" ]; then
        missing="$missing $fn"
        continue
    fi
    t=$(target "$page")
    if [ ! -f "$t" ]; then
        problem "$page: .so target '$t' does not exist"
        continue
    fi
    # a whole word of NAME or SYNOPSIS (the synopsis spells it "fn(")
    { section NAME "$t"; section SYNOPSIS "$t"; } | grep -q "\\(^\\|[^a-z0-9_]\\)$fn\\([^a-z0-9_]\\|$\\)" ||
        problem "$t (page of $fn) does not name $fn in its NAME or SYNOPSIS"
done
[ -z "$missing" ] || problem "functions of include/tind.h without a page or alias in man/man3:$missing"

# a page has a NAME section; an alias points at a page, not at an alias
for f in $pages; do
    t=$(target "$f")
    if [ "$t" = "$f" ]; then
        section NAME "$f" | grep -q 'tind' || problem "$f: no NAME section naming tind"
    elif [ -f "$t" ] && [ "$(target "$t")" != "$t" ]; then
        problem "$f: alias of an alias ($t)"
    fi
done

n=$(echo "$functions" | wc -l)
[ "$fail" = 0 ] && echo "check_man: $(echo "$pages" | wc -l) pages render cleanly; all $n functions have a page"
exit "$fail"
