#!/bin/sh
# test_shell.sh -- drives the `tind` shell binary from the outside.
#
#   usage: sh tests/test_shell.sh path/to/tind [VERSION]   (ctest runs it as test_shell,
#          with VERSION = CMakeLists.txt's project(VERSION))
#
# Checks: one-command mode (create / put / get / scan / count / del, exit
# statuses); script mode with a batch; keys and values holding NUL, newline
# and every other byte, shown escaped and read back exactly (get --raw);
# export, import into a fresh database and export again, compared byte for
# byte, plus the two databases' hex scans compared; verify exits 0 on a clean
# database and, after one byte of a table (made by `flush`) is damaged,
# names that table file and the offset of the damaged block and exits
# non-zero (a byte in the data section and one in the table of contents);
# dump table / dump journal; a database locked by another tind gives a
# one-line error and a non-zero status; and, when tmux is installed, the
# interactive mode under a real terminal (prompt, Tab completion of a command
# and a keyspace name, Ctrl-C, history, the batch prompt, ~/.tind_history).
# Prints nothing on success but the section names; runs in a few seconds.
set -u
TIND=${1:?usage: test_shell.sh path/to/tind [VERSION]}
VERSION=${2:-}
case $TIND in /*) ;; *) TIND=$(pwd)/$TIND ;; esac
T=$(mktemp -d "${TMPDIR:-/tmp}/tind-shell-XXXXXX") || exit 1
HOLD_PID=
TMUX_SOCK=$T/tmux.sock
cleanup() {
    [ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null
    if [ -S "$TMUX_SOCK" ]; then tmux -S "$TMUX_SOCK" kill-server 2>/dev/null; fi
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1

fail() {
    printf 'FAIL test_shell: %s\n' "$*" >&2
    exit 1
}
section() { echo "  $1 ..." >&2; }
# expect_status WANT CMD...: runs CMD, checks its exit status
expect_status() {
    want=$1
    shift
    "$@" >out.txt 2>err.txt
    got=$?
    [ "$got" = "$want" ] || { cat out.txt err.txt >&2; fail "'$*' exited $got, want $want"; }
}
# same_file A B: byte-for-byte equality
same_file() { cmp "$1" "$2" >/dev/null 2>&1 || { diff "$1" "$2" >&2; fail "$1 and $2 differ"; }; }

DB=$T/db

section version
expect_status 0 "$TIND" --version
if [ -n "$VERSION" ]; then
    [ "$(cat out.txt)" = "tind $VERSION" ] || fail "--version printed '$(cat out.txt)', want 'tind $VERSION'"
fi

section one_command
expect_status 0 "$TIND" "$DB" create ks
expect_status 1 "$TIND" "$DB" create ks
grep -q "already exists" err.txt || fail "create twice: $(cat err.txt)"
expect_status 0 "$TIND" "$DB" put ks apple red
expect_status 0 "$TIND" "$DB" put ks 'k\x00ey' 'line1\nline2'
expect_status 0 "$TIND" "$DB" put ks 'two words' ''
expect_status 0 "$TIND" "$DB" get ks apple
[ "$(cat out.txt)" = red ] || fail "get apple: $(cat out.txt)"
expect_status 0 "$TIND" "$DB" get ks 'k\x00ey' --raw
printf 'line1\nline2' >want.bin
same_file out.txt want.bin
expect_status 1 "$TIND" "$DB" get ks missing
grep -q "not found" err.txt || fail "get missing: $(cat err.txt)"
expect_status 1 "$TIND" "$DB" get nosuchks apple
grep -q "no keyspace" err.txt || fail "unknown keyspace: $(cat err.txt)"
expect_status 2 "$TIND" "$DB" get ks
grep -q "usage: get" err.txt || fail "usage: $(cat err.txt)"
expect_status 2 "$TIND" "$DB" frobnicate
expect_status 0 "$TIND" "$DB" scan ks
cat >want.txt <<'EOF'
apple = red
k\x00ey = line1\x0aline2
"two words" = ""
EOF
same_file out.txt want.txt
expect_status 0 "$TIND" "$DB" scan ks --hex --keys-only --reverse --limit 2
# "two words" and k\x00ey (6b 00 65 79), newest key first
printf '74776f20776f726473\n6b006579\n' >want.txt
same_file out.txt want.txt
expect_status 0 "$TIND" "$DB" count ks --prefix k
[ "$(cat out.txt)" = 1 ] || fail "count --prefix: $(cat out.txt)"
expect_status 0 "$TIND" "$DB" scan ks --from b --to two
[ "$(cat out.txt)" = 'k\x00ey = line1\x0aline2' ] || fail "scan --from --to: $(cat out.txt)"
expect_status 0 "$TIND" "$DB" del ks apple
expect_status 1 "$TIND" "$DB" get ks apple
expect_status 0 "$TIND" "$DB" keyspaces
[ "$(cat out.txt)" = ks ] || fail "keyspaces: $(cat out.txt)"

section script_and_batch
cat >script.txt <<'EOF'
# a comment, then a blank line

create other
batch
put ks b 2
put ks "c d" "x\ty"
put other 'single $quoted' v
del ks "two words"
commit
scan ks
count other
batch
put ks never committed
abort
get ks never
EOF
expect_status 1 "$TIND" "$DB" <script.txt
cat >want.txt <<'EOF'
b = 2
"c d" = x\x09y
k\x00ey = line1\x0aline2
1
EOF
same_file out.txt want.txt
grep -q "line 15: not found" err.txt || fail "script: $(cat err.txt)"
# a batch left open at the end is discarded and fails the script
printf 'batch\nput ks zz 1\n' | "$TIND" "$DB" >out.txt 2>err.txt && fail "an uncommitted batch succeeded"
grep -q "never committed" err.txt || fail "uncommitted batch: $(cat err.txt)"
expect_status 1 "$TIND" "$DB" get ks zz
# --bail stops at the first failure
printf 'get ks nope\necho after\n' | "$TIND" --bail "$DB" >out.txt 2>err.txt
[ ! -s out.txt ] || fail "--bail ran on: $(cat out.txt)"

section binary_round_trip
# a 256-byte key holding every byte value, and a 260-byte value
hexkey=$(awk 'BEGIN { for (i = 0; i < 256; i++) printf("\\x%02x", i) }')
octkey=$(awk 'BEGIN { for (i = 0; i < 256; i++) printf("\\%03o", i) }')
printf 'put ks "%s" "%stail"\nput ks "nl\\nkey\\r" "\\x00"\n' "$hexkey" "$hexkey" >bin.txt
expect_status 0 "$TIND" "$DB" <bin.txt
expect_status 0 "$TIND" "$DB" get ks "$hexkey" --raw
printf "${octkey}tail" >want.bin
same_file out.txt want.bin
expect_status 0 "$TIND" "$DB" get ks "$hexkey"
grep -q '\.\.\. (260 bytes)$' out.txt || fail "long value not abbreviated: $(cat out.txt)"
expect_status 0 "$TIND" --full "$DB" get ks "$hexkey"
grep -q 'tail"$' out.txt || fail "--full: $(cat out.txt)"
expect_status 0 "$TIND" "$DB" get ks 'nl\nkey\r' --raw
printf '\000' >want.bin
same_file out.txt want.bin
# the display form parses back: scan's key column fed to get
"$TIND" "$DB" scan ks --keys-only >keys.txt || fail "scan keys"
while IFS= read -r k; do
    printf 'get ks %s --raw\n' "$k"
done <keys.txt >getall.txt
expect_status 0 "$TIND" "$DB" <getall.txt

section export_import
expect_status 0 "$TIND" "$DB" create empty_ks
expect_status 0 "$TIND" "$DB" export
cp out.txt export1.txt
head -1 export1.txt | grep -qx '#tind-export 1' || fail "export header: $(head -1 export1.txt)"
grep -q "$(printf 'ks\tnl\\\\x0akey\\\\x0d\t\\\\x00')" export1.txt || fail "export escaping: $(cat export1.txt)"
# every record is one line: no raw control byte but the TABs and newlines
if LC_ALL=C grep -q "$(printf '[\001-\010\013-\037]')" export1.txt; then fail "raw control bytes in the export"; fi
DB2=$T/db2
expect_status 0 "$TIND" "$DB2" import export1.txt
expect_status 0 "$TIND" "$DB2" export
same_file export1.txt out.txt
expect_status 0 "$TIND" "$DB2" keyspaces
printf 'empty_ks\nks\nother\n' >want.txt
same_file out.txt want.txt
for ks in ks other; do
    "$TIND" --full --hex "$DB" scan "$ks" >a.txt || fail "scan db"
    "$TIND" --full --hex "$DB2" scan "$ks" >b.txt || fail "scan db2"
    same_file a.txt b.txt
done
expect_status 0 "$TIND" "$DB" export --output export2.txt ks
grep -qv '^other' export2.txt || fail "export ks"
grep -q '^other' export2.txt && fail "export of one keyspace holds another"
# a malformed file changes nothing
printf 'ks\tfresh\t1\nks\tbad\\q\t2\n' >bad.txt
expect_status 1 "$TIND" "$DB2" import bad.txt
grep -q "line 2, column 7" err.txt || fail "import error position: $(cat err.txt)"
expect_status 1 "$TIND" "$DB2" get ks fresh
# stdin works in one-command mode
printf 'newks\tk\tv\n' | "$TIND" "$DB2" import - || fail "import -"
expect_status 0 "$TIND" "$DB2" get newks k
[ "$(cat out.txt)" = v ] || fail "import -: $(cat out.txt)"

section verify
expect_status 0 "$TIND" "$DB" flush ks
expect_status 0 "$TIND" "$DB" verify
grep -q ": 0 problems" out.txt || fail "verify clean: $(cat out.txt)"
tables=$(ls "$DB"/tables/*.tbl 2>/dev/null | wc -l)
[ "$tables" -ge 1 ] || fail "no table after flush"
expect_status 0 "$TIND" "$DB" stats ks
grep -q "write amplification" out.txt || fail "stats: $(cat out.txt)"
TBL=$(ls "$DB"/tables/*.tbl | tail -1)
expect_status 0 "$TIND" "$DB" dump table "$TBL"
grep -q "^section 'data':" out.txt || fail "dump table: $(head -20 out.txt)"
grep -q "data block 0 at offset 0" out.txt || fail "dump table blocks: $(head -30 out.txt)"
JRN=$(ls "$DB"/journals/*.jrn | head -1)
expect_status 0 "$TIND" "$DB" dump journal "$JRN"
grep -q "^header: magic ok" out.txt || fail "dump journal: $(cat out.txt)"
# one damaged byte in the first data block (offset 20 is past its 17-byte header)
cp -r "$DB" bad1
B1=bad1/tables/$(basename "$TBL")
printf '\377' | dd of="$B1" bs=1 seek=20 conv=notrunc 2>/dev/null
expect_status 1 "$TIND" bad1 verify
grep -q "problem: $B1: .*block at offset 0: checksum mismatch" out.txt || fail "verify data block: $(cat out.txt)"
grep -q "verify found 1 problem" err.txt || fail "verify summary: $(cat err.txt)"
# one damaged byte in the table of contents (just before the 56-byte trailer)
cp -r "$DB" bad2
B2=bad2/tables/$(basename "$TBL")
size=$(wc -c <"$B2")
printf '\377' | dd of="$B2" bs=1 seek=$((size - 57)) conv=notrunc 2>/dev/null
expect_status 1 "$TIND" bad2 verify
grep -q "problem: $B2: table of contents at offset [0-9]*: checksum mismatch" out.txt ||
    fail "verify table of contents: $(cat out.txt)"
expect_status 1 "$TIND" bad1 dump table "$(basename "$TBL" .tbl)"
grep -q "checksum mismatch" out.txt || fail "dump damaged: $(cat out.txt)"
# the damaged database still opens (tables open lazily) but the read fails
# with the file named; a damaged VERSIONS file does not open: one line
cp -r "$DB" bad3
printf 'X' | dd of=bad3/VERSIONS bs=1 seek=30 conv=notrunc 2>/dev/null
expect_status 1 "$TIND" bad3 keyspaces
[ "$(wc -l <err.txt)" -eq 1 ] || fail "corrupt open: not one line: $(cat err.txt)"
grep -q "cannot open.*VERSIONS.*checksum" err.txt || fail "corrupt open: $(cat err.txt)"
expect_status 1 "$TIND" bad3 verify
grep -q "problem: .*VERSIONS" out.txt || fail "verify VERSIONS: $(cat out.txt)"
expect_status 1 "$TIND" "$T/nowhere" verify

section locked
mkfifo hold.fifo
"$TIND" "$DB" <hold.fifo >hold.out 2>&1 &
HOLD_PID=$!
exec 3>hold.fifo
printf 'count ks\necho holding\n' >&3
i=0
while ! grep -q holding hold.out 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the holder never opened the database: $(cat hold.out)"
    sleep 0.05
done
expect_status 1 "$TIND" "$DB" keyspaces
[ "$(wc -l <err.txt)" -eq 1 ] || fail "locked: not one line: $(cat err.txt)"
grep -q "cannot open.*already open" err.txt || fail "locked: $(cat err.txt)"
expect_status 0 "$TIND" "$DB" verify
grep -q "open in another process" out.txt || fail "verify of a locked database: $(cat out.txt)"
exec 3>&-
wait "$HOLD_PID" || fail "the holder failed: $(cat hold.out)"
HOLD_PID=

section interactive
if ! command -v tmux >/dev/null 2>&1; then
    echo "  (tmux is not installed: interactive check skipped)" >&2
    exit 0
fi
mkdir -p home
TM="tmux -S $TMUX_SOCK"
$TM -f /dev/null new-session -d -x 100 -y 50 "HOME=$T/home '$TIND' '$DB'; echo tind-exit=\$?; sleep 60" ||
    fail "tmux new-session"
pane() { $TM capture-pane -p -S - -t 0 2>/dev/null; }
# wait_for TEXT: polls the pane (up to ~5 s) for a fixed string
wait_for() {
    i=0
    while ! pane | grep -qF -- "$1"; do
        i=$((i + 1))
        [ $i -lt 100 ] || { pane >&2; fail "interactive: never saw '$1'"; }
        sleep 0.05
    done
}
keys() { $TM send-keys -t 0 "$@"; }
wait_for "tind>"
keys "create inter" Enter
wait_for "tind> create inter"
keys "pu" Tab "inte" Tab "k1 v1" Enter          # completes to: put inter k1 v1
wait_for "tind> put inter k1 v1"
keys "get inter k1" Enter
wait_for "v1"
keys "garbage"
wait_for "tind> garbage"
keys C-c                                        # drops the line
keys "count inter" Enter
wait_for "tind> count inter"
keys Up Enter                                   # history: count inter again
i=0
while [ "$(pane | grep -c '^tind> count inter$')" -lt 2 ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || { pane >&2; fail "interactive: history Up did not rerun the command"; }
    sleep 0.05
done
keys "batch" Enter
wait_for "tind(batch 0)>"
keys "put inter k2 v2" Enter
wait_for "tind(batch 1)>"
keys "commit" Enter
wait_for "(committed 1 operations)"
keys "quit" Enter
wait_for "tind-exit=0"
pane >transcript.txt
grep -q "^tind> garbage" transcript.txt || fail "interactive: Ctrl-C line: $(cat transcript.txt)"
[ "$(grep -c '^1$' transcript.txt)" -eq 2 ] || fail "interactive: count output: $(cat transcript.txt)"
grep -q 'put.040inter.040k1.040v1' home/.tind_history || fail "history file: $(cat home/.tind_history)"
grep -q garbage home/.tind_history && fail "a line cut by Ctrl-C reached the history"
$TM kill-server 2>/dev/null
expect_status 0 "$TIND" "$DB" get inter k2
[ "$(cat out.txt)" = v2 ] || fail "interactive batch: $(cat out.txt)"
if [ -n "${TIND_SHELL_TRANSCRIPT:-}" ]; then cp transcript.txt "$TIND_SHELL_TRANSCRIPT"; fi
exit 0
