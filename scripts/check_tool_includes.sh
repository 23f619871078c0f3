#!/bin/sh
# check_tool_includes.sh -- the tools use the public API and the one declared
# internal header, nothing else of the engine: every #include "..." of a .c
# or .h under tools/ names tind.h, tind_internal.h, or a file of the tool's
# own folder; and no #include <...> reaches a header of src/ through the
# include path. Tests and fuzz targets are unit tests of the modules and are
# not checked.
#
#   usage: sh scripts/check_tool_includes.sh [SOURCE_DIR]     (ctest: check_tool_includes)
#
# Exit 0 when every include is allowed, 1 with one line per offending include.
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
bad=0
files=0
for f in $(find "$root/tools" -name '*.[ch]' | sort); do
    files=$((files + 1))
    dir=$(dirname "$f")
    rel=${f#"$root"/}
    # "file:line:name:quote" for every include line (leading blanks and
    # blanks after '#' allowed)
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "$f" |
    sed 's/^\([0-9]*\):[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"]\)\([^">]*\).*/\1 \2 \3/' >"${TMPDIR:-/tmp}/cti.$$"
    while read -r line quote name; do
        case "$quote" in
        '"')
            case "$name" in
            tind.h | tind_internal.h) continue ;;
            */*) ;;                               # a path: never the tool's own file
            *) [ -f "$dir/$name" ] && continue ;;
            esac
            echo "$rel:$line: #include \"$name\": a tool includes only tind.h, tind_internal.h or a file of its own folder"
            bad=1
            ;;
        '<')
            if [ -f "$root/src/$name" ] || { [ -f "$root/include/$name" ] && [ "$name" != tind.h ]; }; then
                echo "$rel:$line: #include <$name> reaches the engine's sources: use tind_internal.h"
                bad=1
            fi
            ;;
        esac
    done <"${TMPDIR:-/tmp}/cti.$$"
    rm -f "${TMPDIR:-/tmp}/cti.$$"
done
if [ $bad -ne 0 ]; then
    echo "FAIL: tools include engine-internal headers (see src/tind_internal.h for what tools may use)"
    exit 1
fi
echo "ok: $files files under tools/ include only tind.h, tind_internal.h and their own folder's files"
