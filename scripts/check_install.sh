#!/bin/sh
# An installed tind is usable: installs the build dir with DESTDIR into a
# scratch folder, strips it (scripts/split_debug.sh), then builds and runs a
# tiny application against it four ways: CMake find_package(tind 0.2) with
# tind::tind and with tind::tind_static, and pkg-config, shared and --static.
# Usage: scripts/check_install.sh SRCDIR BUILDDIR CC [CFLAGS...] -- [LDFLAGS...]
#   CFLAGS/LDFLAGS: the build's own (a sanitizer build's libraries need them).
set -e
src=$1 build=$2 cc=$3
shift 3
cflags="" ldflags=""
while [ $# -gt 0 ] && [ "$1" != -- ]; do cflags="$cflags $1"; shift; done
[ $# -gt 0 ] && shift
ldflags="$*"

work=$build/check-install
rm -rf "$work"
mkdir -p "$work/app"
root=$work/root
# the configured prefix: tind.pc names it
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
fail() { echo "check_install: FAIL: $*" >&2; exit 1; }

DESTDIR=$root cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log"; fail "cmake --install $build"; }
inst=$root$prefix
# GNUInstallDirs' choices (lib/x86_64-linux-gnu when configured for /usr)
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
bindir=$(sed -n 's/^CMAKE_INSTALL_BINDIR:PATH=//p' "$build/CMakeCache.txt")
for f in include/tind.h include/tind_version.h $libdir/libtind.a $libdir/libtind.so \
         $libdir/cmake/tind/tindConfig.cmake $libdir/cmake/tind/tindConfigVersion.cmake \
         $libdir/pkgconfig/tind.pc; do
    [ -e "$inst/$f" ] || fail "$f not installed"
done

# Stripped, with the debug info apart and linked.
sh "$src/scripts/split_debug.sh" "$inst" "$libdir" "$bindir" >"$work/split.log" 2>&1 \
    || { cat "$work/split.log"; fail "split_debug.sh"; }
so=$(readlink -f "$inst/$libdir/libtind.so")
tool=$inst/$bindir/tind   # absent when built with -DTIND_TOOLS=OFF
[ -f "$tool" ] || tool=
for f in "$so" $tool; do
    readelf -S "$f" | grep -q '\.debug_info' && fail "$f still has .debug_info"
    readelf -S "$f" | grep -q '\.gnu_debuglink' || fail "$f has no .gnu_debuglink"
    id=$(readelf -n "$f" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p')
    dbg=$inst/lib/debug/.build-id/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-).debug
    [ -f "$dbg" ] || fail "no debug file $dbg for $f"
    readelf -S "$dbg" 2>/dev/null | grep -q '\.debug_info' || fail "$dbg has no .debug_info"
done

cat >"$work/app/app.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <tind.h>
int main(int argc, char **argv) {
    if (argc != 2) return 2;
    if (strcmp(tind_version(), TIND_VERSION_STRING) != 0) {
        fprintf(stderr, "version %s != header %s\n", tind_version(), TIND_VERSION_STRING);
        return 1;
    }
    tind_db *db = NULL;
    int st = tind_open(argv[1], NULL, &db);
    if (st != TIND_OK) {
        fprintf(stderr, "open: %s\n", tind_strerror(st));
        return 1;
    }
    printf("tind %s\n", tind_version());
    return tind_close(db) == TIND_OK ? 0 : 1;
}
C
cat >"$work/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(app C)
find_package(tind 0.2 REQUIRED)
add_executable(app_shared app.c)
target_link_libraries(app_shared PRIVATE tind::tind)
add_executable(app_static app.c)
target_link_libraries(app_static PRIVATE tind::tind_static)
CM

run() {  # run NAME BINARY: the binary opens a fresh database
    rm -rf "$work/db-$1"
    LD_LIBRARY_PATH=$inst/$libdir "$2" "$work/db-$1" >"$work/run-$1.log" 2>&1 \
        || { cat "$work/run-$1.log"; fail "$1 did not run"; }
}

CFLAGS="$cflags" LDFLAGS="$ldflags" cmake -S "$work/app" -B "$work/app/build" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$inst" >"$work/cmake.log" 2>&1 \
    && cmake --build "$work/app/build" >>"$work/cmake.log" 2>&1 \
    || { cat "$work/cmake.log"; fail "find_package(tind 0.2) project"; }
run cmake_shared "$work/app/build/app_shared"
run cmake_static "$work/app/build/app_static"
# The shared one really uses the installed libtind.so, the static one none.
LD_LIBRARY_PATH=$inst/$libdir ldd "$work/app/build/app_shared" | grep -q "$inst/$libdir/libtind.so" \
    || fail "app_shared does not load the installed libtind.so"
ldd "$work/app/build/app_static" | grep -q libtind && fail "app_static needs libtind.so"

# pkg-config: tind.pc names the final prefix; the sysroot maps it into DESTDIR.
# (system dirs such as /usr/include are kept, or the sysroot could not apply)
export PKG_CONFIG_PATH=$inst/$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
# shellcheck disable=SC2046,SC2086
$cc $cflags -o "$work/app/pc_shared" "$work/app/app.c" $(pkg-config --cflags --libs tind) $ldflags \
    || fail "pkg-config --libs tind"
# shellcheck disable=SC2046,SC2086
$cc $cflags -o "$work/app/pc_static" "$work/app/app.c" \
    $(pkg-config --cflags tind) "$inst/$libdir/libtind.a" $(pkg-config --static --libs-only-l tind | sed 's/-ltind//') $ldflags \
    || fail "pkg-config --static --libs tind"
run pc_shared "$work/app/pc_shared"
run pc_static "$work/app/pc_static"
echo "check_install: ok (find_package and pkg-config, shared and static; stripped, debug info in lib/debug/.build-id)"
