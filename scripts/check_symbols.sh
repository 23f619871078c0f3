#!/bin/sh
# check_symbols.sh -- the installed libraries define no global name outside
# tind's public namespace, and an application with its own cache_new,
# arena_init, fs_posix_new... links against libtind.a and runs the quickstart.
#
#   usage: sh scripts/check_symbols.sh LIBTIND_A LIBTIND_SO WORKDIR CC [CFLAG... --] [LDFLAG...]
#
# ctest runs it as check_symbols with the build's compiler and flags (the
# flags matter in the sanitizer builds: the library's objects need their
# runtime). Exit 0 when every check passes, 1 with the offending names.
set -u
a=$1 so=$2 work=$3 cc=$4
shift 4
cflags=
while [ $# -gt 0 ] && [ "$1" != "--" ]; do cflags="$cflags $1"; shift; done
[ $# -gt 0 ] && shift
ldflags="$*"
here=$(cd "$(dirname "$0")/.." && pwd)
fail=0

# check_names FILE WHAT NM-ARGS...: every symbol `nm NM-ARGS FILE` lists as
# defined is tind_-prefixed, and there is at least one.
check_names() {
    file=$1 what=$2
    shift 2
    names=$(nm "$@" "$file" | awk 'NF == 3 { print $3 }')
    bad=$(printf '%s\n' "$names" | grep -v '^tind_' | grep -v '^$')
    n=$(printf '%s\n' "$names" | grep -c '^tind_')
    if [ -n "$bad" ]; then
        echo "FAIL: $file: $what without the tind_ prefix:"; echo "$bad" | head -50
        fail=1
    elif [ "$n" -eq 0 ]; then
        echo "FAIL: $file: no $what at all"; fail=1
    else
        echo "ok: $file: $n $what, all tind_"
    fi
}

# 1. libtind.a: every defined global symbol; 2. libtind.so: every exported one.
check_names "$a" "global symbols" -g --defined-only
check_names "$so" "exported symbols" -D --defined-only

# 3. An application defining internal names links and runs the quickstart.
rm -rf "$work" && mkdir -p "$work" || exit 1
# shellcheck disable=SC2086
if ! $cc $cflags -I"$here/include" -o "$work/own_names" "$here/tests/link/own_names.c" "$a" $ldflags \
        >"$work/link.log" 2>&1; then
    echo "FAIL: an application defining cache_new, arena_init, fs_posix_new... does not link against $a:"
    grep -E 'multiple definition|error' "$work/link.log" | head -20
    fail=1
elif ! "$work/own_names" "$work/db" >"$work/run.log" 2>&1; then
    echo "FAIL: own_names linked but the quickstart failed:"; tail -20 "$work/run.log"
    fail=1
else
    echo "ok: an application with its own cache_new, arena_init, fs_posix_new, err_set, db_fail," \
         "options_default, jrn_sync, blk_parse links against $a and runs the quickstart"
fi
rm -rf "$work/db"
exit $fail
