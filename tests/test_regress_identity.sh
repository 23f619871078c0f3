#!/bin/sh
# test_regress_identity.sh -- issue 10, bugs 6 and 7, from the outside: what
# makes the engine refuse to open (or to read) a database must make
# `tind verify` report a problem too. Each check failed before the fix
# (verify said "0 problems").
#
#   - the oldest journal the version file still needs, deleted;
#   - the same journal cut to 0 bytes;
#   - every journal deleted;
#   - a table file replaced by an older table of the same key range;
#   - a table file deleted.
#
#   usage: sh tests/test_regress_identity.sh path/to/tind   (ctest: test_regress_identity_shell)
set -u
TIND=${1:?usage: test_regress_identity.sh path/to/tind}
case $TIND in /*) ;; *) TIND=$(pwd)/$TIND ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/tind-identity-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

TEST_NAME=test_regress_identity_shell
. "$HERE/shell_lib.sh"
# damaged DIR WHAT: open fails, and verify names a problem matching WHAT
damaged() {
    expect_status 1 "$TIND" "$1" get b kb
    grep -q "cannot open.*$2" err.txt || fail "$1: open: $(cat err.txt)"
    expect_status 1 "$TIND" "$1" verify
    grep -q "problem: .*$2" out.txt || fail "$1: verify: $(cat out.txt)"
}

# "b" writes, "a" flushes: the first journal stays needed for b's write
DB=$T/db
cat >script.txt <<'SCRIPT'
create a
create b
put b kb synced
put a ka v
flush a
put b kb2 later
SCRIPT
expect_status 0 "$TIND" "$DB" <script.txt
expect_status 0 "$TIND" "$DB" verify
grep -q ": 0 problems" out.txt || fail "verify clean: $(cat out.txt)"
OLDEST=$(ls "$DB"/journals/*.jrn | head -1)
[ "$(ls "$DB"/journals/*.jrn | wc -l)" -ge 2 ] || fail "want two journals: $(ls "$DB"/journals)"

section needed_journal_deleted
cp -r "$DB" d1
rm "d1/journals/$(basename "$OLDEST")"
damaged d1 "a journal it needs is missing"

section needed_journal_emptied
cp -r "$DB" d2
: >"d2/journals/$(basename "$OLDEST")"
damaged d2 "no intact header"

section all_journals_deleted
cp -r "$DB" d3
rm d3/journals/*.jrn
damaged d3 "no journal with an intact header is kept"

section table_replaced
# two flushes of the same keys: two level-0 tables of the same key range
cat >script2.txt <<'SCRIPT'
put b k1 old
put b k2 old
flush b
put b k1 new
put b k2 new
flush b
SCRIPT
cp -r "$DB" d4
expect_status 0 "$TIND" d4 <script2.txt
set -- d4/tables/*.tbl
[ $# -ge 3 ] || fail "want three tables: $*"
NEWEST=$(ls d4/tables/*.tbl | tail -1)
PREV=$(ls d4/tables/*.tbl | tail -2 | head -1)
cp "$PREV" "$NEWEST"
expect_status 1 "$TIND" d4 get b k1
grep -q "table id" err.txt || fail "get from a replaced table: $(cat out.txt err.txt)"
expect_status 1 "$TIND" d4 verify
grep -q "problem: .*$NEWEST.*table id" out.txt || fail "verify replaced table: $(cat out.txt)"

section table_deleted
cp -r d4 d5
cp "$PREV" d5/keep.tbl
rm "d5/tables/$(basename "$PREV")"
expect_status 1 "$TIND" d5 get b k1
grep -q "is missing" err.txt || fail "open without a table: $(cat err.txt)"
expect_status 1 "$TIND" d5 verify
grep -q "problem: .*$(basename "$PREV").*missing" out.txt || fail "verify missing table: $(cat out.txt)"
exit 0
