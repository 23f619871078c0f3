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

# 1. libtind.a: every defined global symbol is tind_-prefixed.
bad=$(nm -g --defined-only "$a" | awk 'NF == 3 && $3 !~ /^tind_/ { print $3 }')
n=$(nm -g --defined-only "$a" | awk 'NF == 3' | wc -l)
if [ -n "$bad" ]; then
    echo "FAIL: $a defines global symbols without the tind_ prefix:"; echo "$bad" | head -50
    fail=1
elif [ "$n" -eq 0 ]; then
    echo "FAIL: $a defines no global symbol at all"; fail=1
else
    echo "ok: $a: $n global symbols, all tind_"
fi

# 2. libtind.so: the same for the dynamic symbol table.
bad=$(nm -D --defined-only "$so" | awk 'NF == 3 && $3 !~ /^tind_/ { print $3 }')
n=$(nm -D --defined-only "$so" | awk 'NF == 3' | wc -l)
if [ -n "$bad" ]; then
    echo "FAIL: $so exports symbols without the tind_ prefix:"; echo "$bad" | head -50
    fail=1
elif [ "$n" -eq 0 ]; then
    echo "FAIL: $so exports no symbol at all"; fail=1
else
    echo "ok: $so: $n exported symbols, all tind_"
fi

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
