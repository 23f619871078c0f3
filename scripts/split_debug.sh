#!/bin/sh
# Strips an installed tind and keeps its debug info apart (make install-strip).
# Usage: scripts/split_debug.sh ROOT LIBDIR BINDIR
#   ROOT is $DESTDIR$PREFIX; LIBDIR and BINDIR are relative to it (lib, bin).
# For libtind.so.* and bin/tind: the debug sections go to
# ROOT/lib/debug/.build-id/xx/yyyy.debug (the layout gdb searches under
# its debug-file-directory), the installed file is stripped of them and of
# its local symbols, and points at its debug file by a .gnu_debuglink.
# libtind.a loses its debug sections only (its symbols are its interface).
set -e
root=$1 libdir=$2 bindir=$3
[ -n "$root" ] && [ -n "$libdir" ] && [ -n "$bindir" ] || {
    echo "usage: split_debug.sh ROOT LIBDIR BINDIR" >&2; exit 2; }
OBJCOPY=${OBJCOPY:-objcopy}
STRIP=${STRIP:-strip}

split() {
    f=$1
    id=$(readelf -n "$f" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p')
    if [ -z "$id" ]; then
        echo "split_debug.sh: $f has no GNU build-id note" >&2; exit 1
    fi
    dir=$root/lib/debug/.build-id/$(echo "$id" | cut -c1-2)
    dbg=$dir/$(echo "$id" | cut -c3-).debug
    mkdir -p "$dir"
    $OBJCOPY --only-keep-debug "$f" "$dbg"
    chmod 644 "$dbg"
    $STRIP --strip-debug --strip-unneeded "$f"
    $OBJCOPY --add-gnu-debuglink="$dbg" "$f"
    echo "split_debug.sh: $f -> $dbg"
}

found=0
for f in "$root/$libdir"/libtind.so.*.*.* "$root/$bindir/tind"; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    split "$f"
    found=1
done
[ "$found" = 1 ] || { echo "split_debug.sh: no libtind.so or tind under $root" >&2; exit 1; }
if [ -f "$root/$libdir/libtind.a" ]; then
    $STRIP --strip-debug "$root/$libdir/libtind.a"
fi
