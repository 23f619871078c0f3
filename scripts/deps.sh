#!/bin/sh
# Checks for the Debian packages tind builds and tests with; installs the
# missing ones with apt-get when run as root, otherwise prints the command.
# Usage: scripts/deps.sh [build|test|all|bench]   (default: all)
#   bench: the build packages plus the peers tind-bench compares tind with
#          and gnuplot for its charts (not needed by `make test`)
set -e
what=${1:-all}

need=""
have_pc() { pkg-config --exists "$1" 2>/dev/null; }
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_hdr() { [ -e "/usr/include/$1" ]; }

have_cmd pkg-config || need="$need pkg-config"
have_cmd cmake      || need="$need cmake"
have_cmd cc         || need="$need gcc"
have_cmd make       || need="$need make"
have_pc liblz4      || need="$need liblz4-dev"
have_pc libzstd     || need="$need libzstd-dev"
have_pc libxxhash   || need="$need libxxhash-dev"
have_pc libcrypto   || need="$need libssl-dev"
have_pc libedit     || need="$need libedit-dev"
if [ "$what" = test ] || [ "$what" = all ]; then
    have_cmd clang  || need="$need clang"
    # libFuzzer and the sanitizer runtimes for clang
    [ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] \
        || need="$need libclang-rt-dev"
    # check_man renders the manual pages with man (man-db) and groff
    have_cmd man    || need="$need man-db"
    have_cmd groff  || need="$need groff-base"
    # the Python binding's tests (python/): Debian's interpreter, cffi, pytest
    have_cmd /usr/bin/python3 || need="$need python3"
    /usr/bin/python3 -c 'import cffi' 2>/dev/null || need="$need python3-cffi"
    /usr/bin/python3 -c 'import pytest' 2>/dev/null || need="$need python3-pytest"
    # pip install ./python in a venv (python/tests/test_install.py): setuptools
    # builds the wheel with the wheel package when build isolation is off
    /usr/bin/python3 -c 'import ensurepip' 2>/dev/null || need="$need python3-venv"
    /usr/bin/python3 -c 'import wheel' 2>/dev/null || need="$need python3-wheel"
    # examples/replicated (its replicated test): canonical raft over libuv
    have_hdr raft.h     || need="$need libraft-dev"
    have_pc libuv       || need="$need libuv1-dev"
fi

if [ "$what" = bench ]; then
    have_hdr rocksdb/c.h    || need="$need librocksdb-dev"
    have_hdr leveldb/c.h    || need="$need libleveldb-dev"
    have_hdr lmdb.h         || need="$need liblmdb-dev"
    have_hdr sqlite3.h      || need="$need libsqlite3-dev"
    have_hdr wiredtiger.h   || need="$need libwiredtiger-dev"
    have_cmd gnuplot        || need="$need gnuplot-nox"
fi

if [ "$what" = coverage ]; then
    have_cmd lcov   || need="$need lcov"      # lcov and genhtml (make coverage)
fi

if [ -z "$need" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    echo "deps.sh: installing:$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends $need >/dev/null 2>&1 || {
        apt-get update >/dev/null 2>&1
        apt-get install -y --no-install-recommends $need
    }
else
    echo "deps.sh: missing packages; run as root:" >&2
    echo "    apt-get install -y --no-install-recommends$need" >&2
    exit 1
fi
