#!/bin/sh
# test_shell.sh -- drives the `tind` shell binary from the outside.
#
#   usage: sh tests/test_shell.sh path/to/tind [VERSION]   (ctest runs it as test_shell,
#          with VERSION = CMakeLists.txt's project(VERSION))
#
# Checks: one-command mode (create / put / get / scan / count / del, exit
# statuses; exists / first / last / mget; --json / --csv and set format;
# create --if-not-exists; options KS; stats for people: one unit, no empty level, plurals;
# batch --file, all or nothing; timer); script mode with a batch and with
# transactions (begin / commit / rollback, read-your-own-writes); keys and
# values holding NUL, newline and every other byte, shown escaped and read back exactly (get --raw);
# export, import into a fresh database and export again, compared byte for
# byte, plus the two databases' hex scans compared; verify exits 0 on a clean
# database and, after one byte of a table (made by `flush`) is damaged,
# names that table file and the offset of the damaged block and exits
# non-zero (a byte in the data section and one in the table of contents);
# dump table / dump journal; merge (counter and append, create --merge) and
# del --single, shown by dump; create's keyspace options (prefix extractor,
# zstd dictionary, compression per level, TTL filter...); only create / import / --create make a
# database (a mistyped path or a folder of other files is refused and left
# alone); an export cut, altered or extended imports nothing, a failed
# export --output leaves its old file; export --salvage of a damaged table
# keeps every key outside the reported range and imports cleanly; --read-only
# reads and changes no file; --version is the CMake project version; a
# database locked by another tind gives a one-line error and a non-zero
# status (and still opens --read-only); and, when tmux is installed, the
# interactive mode under a real terminal (prompt, Tab completion of a command
# and a keyspace name, Ctrl-C, history, the batch prompt, ~/.tind_history,
# scan's default limit of 100 entries and --all); checkpoint and backup
# create / list / verify / restore / prune, a damaged backup table found.
# Prints nothing on success but the section names; runs in a few seconds.
set -u
TIND=${1:?usage: test_shell.sh path/to/tind [VERSION]}
VERSION=${2:-}
case $TIND in /*) ;; *) TIND=$(pwd)/$TIND ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
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

TEST_NAME=test_shell
. "$HERE/shell_lib.sh"
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
expect_status 0 "$TIND" "$DB" create ks --if-not-exists
[ ! -s out.txt ] && [ ! -s err.txt ] || fail "create --if-not-exists: $(cat out.txt err.txt)"
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
section delrange_clear
RDB=$T/rdb
expect_status 0 "$TIND" "$RDB" create r
printf 'put r a 1\nput r b 2\nput r c 3\nput r d 4\ndelrange r b d\n' | "$TIND" "$RDB" >out.txt 2>&1 || fail "delrange script"
expect_status 0 "$TIND" "$RDB" scan r --keys-only
[ "$(tr '\n' ' ' <out.txt)" = 'a d ' ] || fail "after delrange b d: $(cat out.txt)"
expect_status 1 "$TIND" "$RDB" delrange r d b
expect_status 0 "$TIND" "$RDB" delrange r '' b
expect_status 0 "$TIND" "$RDB" dump journal "$RDB/journals/$(ls "$RDB/journals" | tail -n 1)"
grep -q 'range-del r#1 \\x00 .. b' out.txt || fail "dump journal shows no range-del: $(cat out.txt)"
expect_status 0 "$TIND" "$RDB" clear r
expect_status 0 "$TIND" "$RDB" count r
[ "$(cat out.txt)" = 0 ] || fail "count after clear: $(cat out.txt)"
section exists_first_last_mget
expect_status 0 "$TIND" "$DB" exists ks apple
[ "$(cat out.txt)" = yes ] || fail "exists apple: $(cat out.txt)"
expect_status 1 "$TIND" "$DB" exists ks nope
[ "$(cat out.txt)" = no ] || fail "exists nope: $(cat out.txt)"
expect_status 2 "$TIND" "$DB" exists ks
expect_status 0 "$TIND" "$DB" first ks
[ "$(cat out.txt)" = 'apple = red' ] || fail "first: $(cat out.txt)"
expect_status 0 "$TIND" "$DB" last ks
[ "$(cat out.txt)" = '"two words" = ""' ] || fail "last: $(cat out.txt)"
expect_status 0 "$TIND" "$DB" last ks --hex
[ "$(cat out.txt)" = '74776f20776f726473 = ""' ] || fail "last --hex: $(cat out.txt)"
expect_status 0 "$TIND" "$DB" mget ks 'two words' apple
printf '"two words" = ""\napple = red\n' >want.txt
same_file out.txt want.txt
# a missing key: the others still print, it is named on stderr, status 1
expect_status 1 "$TIND" "$DB" mget ks apple nope 'k\x00ey'
printf 'apple = red\nk\\x00ey = line1\\x0aline2\n' >want.txt
same_file out.txt want.txt
grep -q "not found: nope" err.txt || fail "mget missing: $(cat err.txt)"
expect_status 2 "$TIND" "$DB" mget ks
expect_status 0 "$TIND" "$DB" create empty --if-not-exists
expect_status 1 "$TIND" "$DB" first empty
grep -q "empty" err.txt || fail "first on empty: $(cat err.txt)"
expect_status 0 "$TIND" "$DB" drop empty

section json_csv
# every byte that is not printable ASCII is \u00HH in JSON; CSV holds the bytes, RFC 4180 quoted
expect_status 0 "$TIND" "$DB" put ks 'q,"x"' 'a\xffb'
expect_status 0 "$TIND" --json "$DB" scan ks
cat >want.txt <<'EOF'
{"key":"apple","value":"red"}
{"key":"k\u0000ey","value":"line1\u000aline2"}
{"key":"q,\"x\"","value":"a\u00ffb"}
{"key":"two words","value":""}
EOF
same_file out.txt want.txt
expect_status 0 "$TIND" --csv "$DB" scan ks --from q
printf 'key,value\r\n"q,""x""",a\377b\r\ntwo words,\r\n' >want.txt
same_file out.txt want.txt
expect_status 0 "$TIND" --csv "$DB" scan ks --keys-only --hex --limit 1
printf 'key\r\n6170706c65\r\n' >want.txt
same_file out.txt want.txt
expect_status 0 "$TIND" --csv "$DB" scan ks --prefix zzz
printf 'key,value\r\n' >want.txt
same_file out.txt want.txt
expect_status 0 "$TIND" --json "$DB" get ks apple
[ "$(cat out.txt)" = '{"key":"apple","value":"red"}' ] || fail "get --json: $(cat out.txt)"
expect_status 0 "$TIND" --json "$DB" first ks
[ "$(cat out.txt)" = '{"key":"apple","value":"red"}' ] || fail "first --json: $(cat out.txt)"
expect_status 0 "$TIND" --json --hex "$DB" last ks
[ "$(cat out.txt)" = '{"key":"74776f20776f726473","value":""}' ] || fail "last --json --hex: $(cat out.txt)"
expect_status 1 "$TIND" --csv "$DB" mget ks apple nope
printf 'key,value\r\napple,red\r\n' >want.txt
same_file out.txt want.txt
expect_status 0 "$TIND" --json "$DB" stats ks
grep -q '^{"keyspace":"ks","levels":\[{"level":0,"tables":[0-9]*,"bytes":[0-9]*}.*,"approximate_keys":[0-9]*,.*}$' out.txt ||
    fail "stats --json: $(cat out.txt)"
[ "$(wc -l <out.txt)" -eq 1 ] || fail "stats --json: not one line: $(cat out.txt)"
expect_status 0 "$TIND" --csv "$DB" stats
[ "$(head -n 1 out.txt)" = "$(printf 'keyspace,stat,value\r')" ] || fail "stats --csv header: $(cat out.txt)"
sed -n 2p out.txt | grep -q '^ks,L0_tables,[0-9]*'"$(printf '\r')"'$' || fail "stats --csv: $(cat out.txt)"
grep -q '^ks,approximate_keys,[0-9]*' out.txt || fail "stats --csv: $(cat out.txt)"
# options KS: the keyspace's options in force, in every output mode
expect_status 0 "$TIND" "$DB" options ks
grep -q '^memtable_size = [0-9]*$' out.txt || fail "options: $(cat out.txt)"
grep -q '^compression = lz4 lz4' out.txt || fail "options compression: $(cat out.txt)"
expect_status 0 "$TIND" --json "$DB" options ks
grep -q '^{"keyspace":"ks","memtable_size":"[0-9]*",.*"prefix":"none",.*}$' out.txt || fail "options --json: $(cat out.txt)"
expect_status 0 "$TIND" --csv "$DB" options ks
[ "$(head -n 1 out.txt)" = "$(printf 'keyspace,option,value\r')" ] || fail "options --csv header: $(cat out.txt)"
grep -q '^ks,levels,7' out.txt || fail "options --csv: $(cat out.txt)"
expect_status 1 "$TIND" "$DB" options nosuchks
printf 'set format csv\nget ks apple\nset format text\nget ks apple\nset format xml\n' >script.txt
expect_status 1 "$TIND" "$DB" <script.txt
printf 'key,value\r\napple,red\r\nred\n' >want.txt
same_file out.txt want.txt
grep -q "usage: set" err.txt || fail "set format xml: $(cat err.txt)"
expect_status 0 "$TIND" "$DB" del ks 'q,"x"'

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

section transactions
# begin / commit / rollback: reads inside see the transaction's own writes,
# others see nothing until commit; rollback discards; an uncommitted
# transaction at the end of a script is rolled back and fails it
cat >txn.txt <<'EOF'
create tx
put tx k old
begin
put tx k new
put tx n 1
get tx k
count tx
del tx n
exists tx n
rollback
get tx k
begin
put tx k committed
commit
get tx k
begin --read-only
first tx
put tx k never
rollback
EOF
expect_status 1 "$TIND" --create "$T/dbtxn" <txn.txt
cat >want.txt <<'EOF'
new
2
no
old
committed
k = committed
EOF
same_file out.txt want.txt
grep -q "line 18: error: put: write in a read-only transaction" err.txt || fail "read-only txn: $(cat err.txt)"
printf 'begin\nput tx zz 1\n' | "$TIND" "$T/dbtxn" >out.txt 2>err.txt && fail "an uncommitted transaction succeeded"
grep -q "transaction was never committed" err.txt || fail "uncommitted transaction: $(cat err.txt)"
expect_status 1 "$TIND" "$T/dbtxn" get tx zz
printf 'begin\nbatch\n' | "$TIND" "$T/dbtxn" >out.txt 2>err.txt
grep -q "a transaction is open" err.txt || fail "batch inside a transaction: $(cat err.txt)"
expect_status 1 "$TIND" "$T/dbtxn" begin
grep -q "begin needs the interactive shell or a script" err.txt || fail "begin in one-command mode: $(cat err.txt)"

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
head -1 export1.txt | grep -qx '#tind-export 2' || fail "export header: $(head -1 export1.txt)"
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
grep -q "first line is not '#tind-export 2'" err.txt || fail "import without header: $(cat err.txt)"
expect_status 1 "$TIND" "$DB2" import --unchecked bad.txt
grep -q "line 2, column 7" err.txt || fail "import error position: $(cat err.txt)"
expect_status 1 "$TIND" "$DB2" get ks fresh
# stdin works in one-command mode
printf 'newks\tk\tv\n' | "$TIND" "$DB2" import --unchecked - || fail "import -"
expect_status 0 "$TIND" "$DB2" get newks k
[ "$(cat out.txt)" = v ] || fail "import -: $(cat out.txt)"

section stats_text
# for people: units once, only the levels with tables, nouns that agree
printf 'create s\nput s k v\nflush s\nstats s\n' >script.txt
expect_status 0 "$TIND" --create "$T/dbstats" <script.txt
grep -q '^  level  tables  size$' out.txt || fail "stats header: $(cat out.txt)"
grep -q '^  L0  *1  [0-9.]* [KM]*i*B$' out.txt || fail "stats L0: $(cat out.txt)"
grep -q '^  L[1-9]' out.txt && fail "stats shows an empty level: $(cat out.txt)"
grep -q '^  written by flushes      [0-9.]* [KM]*i*B in 1 flush$' out.txt || fail "stats flush: $(cat out.txt)"
grep -q '^  written by compactions  0 B in 0 compactions$' out.txt || fail "stats compactions: $(cat out.txt)"
grep -q '^  written by the user     2 B$' out.txt || fail "stats user bytes: $(cat out.txt)"
expect_status 0 "$TIND" "$T/dbstats" create empty
expect_status 0 "$TIND" "$T/dbstats" stats empty
grep -q '^  tables                  none (0 B on disk)$' out.txt || fail "stats empty: $(cat out.txt)"
grep -q '^  level' out.txt && fail "stats empty shows levels: $(cat out.txt)"

section batch_file_timer
# batch --file: put and del lines applied together, or nothing when a line fails
printf '# setup\nput bf a 1\n\nput bf "b c" 2\nput bf gone 3\ndel bf gone\n' >batch1.txt
expect_status 0 "$TIND" "$T/dbbatch" create bf
expect_status 0 "$TIND" "$T/dbbatch" batch --file batch1.txt
expect_status 0 "$TIND" "$T/dbbatch" scan bf
printf 'a = 1\n"b c" = 2\n' >want.txt
same_file out.txt want.txt
printf 'put bf x 1\nget bf a\n' >batch2.txt
expect_status 1 "$TIND" "$T/dbbatch" batch --file batch2.txt
grep -q "^line 2: error: 'get': a batch file holds only put and del" err.txt || fail "batch --file get: $(cat err.txt)"
grep -q "stopped at line 2, nothing was applied" err.txt || fail "batch --file: $(cat err.txt)"
printf 'put bf x 1\nput bf y\n' >batch3.txt
expect_status 1 "$TIND" "$T/dbbatch" batch --file batch3.txt
grep -q "usage: put" err.txt || fail "batch --file usage: $(cat err.txt)"
expect_status 1 "$TIND" "$T/dbbatch" exists bf x
expect_status 1 "$TIND" "$T/dbbatch" batch --file nosuchfile.txt
grep -q "nosuchfile.txt: No such file" err.txt || fail "batch --file missing: $(cat err.txt)"
# inside a script while another batch is open: refused, the open one untouched
printf 'batch\nput bf k v\nbatch --file batch1.txt\ncommit\n' >script.txt
expect_status 1 "$TIND" "$T/dbbatch" <script.txt
grep -q "already open" err.txt || fail "batch --file in a batch: $(cat err.txt)"
expect_status 0 "$TIND" "$T/dbbatch" exists bf k
# timer: each command's wall time on stderr, stdout untouched
printf 'timer on\nget bf a\nbatch --file batch1.txt\ntimer off\nget bf a\ntimer\n' >script.txt
expect_status 0 "$TIND" "$T/dbbatch" <script.txt
printf '1\n1\ntimer off\n' >want.txt
same_file out.txt want.txt
[ "$(grep -c '^time: [0-9]*\.[0-9][0-9][0-9] s$' err.txt)" = 2 ] || fail "timer: $(cat err.txt)"
[ "$(wc -l <err.txt)" -eq 2 ] || fail "timer: $(cat err.txt)"
expect_status 2 "$TIND" "$T/dbbatch" timer maybe

section merge
MD=$T/dbmerge
expect_status 0 "$TIND" "$MD" create c --merge counter
expect_status 0 "$TIND" "$MD" create a --merge append --merge-separator ,
expect_status 1 "$TIND" "$MD" create bad --merge-separator ,
grep -q "needs --merge append" err.txt || fail "merge-separator alone: $(cat err.txt)"
expect_status 1 "$TIND" "$MD" create bad --merge sum
expect_status 0 "$TIND" "$MD" put c base 1
expect_status 0 "$TIND" "$MD" flush c
expect_status 0 "$TIND" "$MD" merge c hits 5
expect_status 0 "$TIND" "$MD" merge c hits -2
expect_status 0 "$TIND" "$MD" get c hits --hex
[ "$(cat out.txt)" = 0300000000000000 ] || fail "counter: $(cat out.txt)"
expect_status 1 "$TIND" "$MD" merge c hits many
grep -q "decimal number" err.txt || fail "counter operand: $(cat err.txt)"
expect_status 0 "$TIND" "$MD" put a z 1
expect_status 0 "$TIND" "$MD" flush a
expect_status 0 "$TIND" "$MD" merge a log x
printf 'batch\nmerge a log y\nput a k v\ndel a k --single\ncommit\n' >script.txt
expect_status 0 "$TIND" "$MD" <script.txt
# dump names operands and single deletes, in journals (read-only: an open
# that recovers may flush them into a table) and in tables
for j in "$MD"/journals/*.jrn; do "$TIND" --read-only "$MD" dump journal "$j"; done >out.txt 2>&1
grep -q "@[0-9]* merge a#[0-9]* log = y" out.txt || fail "dump journal merge: $(cat out.txt)"
grep -q "@[0-9]* single-del a#[0-9]* k$" out.txt || fail "dump journal single delete: $(cat out.txt)"
expect_status 0 "$TIND" "$MD" get a log
[ "$(cat out.txt)" = "x,y" ] || fail "append: $(cat out.txt)"
expect_status 1 "$TIND" "$MD" get a k
expect_status 0 "$TIND" "$MD" flush a
for t in "$MD"/tables/*.tbl; do "$TIND" "$MD" dump table "$t"; done >out.txt 2>&1
grep -q "log @[0-9]* merge = [xy]" out.txt || fail "dump table merge: $(cat out.txt)"
expect_status 0 "$TIND" "$MD" compact c
expect_status 0 "$TIND" "$MD" get c hits --hex
[ "$(cat out.txt)" = 0300000000000000 ] || fail "counter after compact: $(cat out.txt)"
expect_status 0 "$TIND" "$MD" verify
grep -q ": 0 problems" out.txt || fail "verify merge db: $(cat out.txt)"
# transactions carry no merge operands or single deletes: refused, the
# transaction goes on and commits its put
printf 'begin\nmerge c hits 1\ndel --single c base\nput c t 1\ncommit\n' | "$TIND" "$MD" >out.txt 2>err.txt \
    && fail "merge in a transaction succeeded"
grep -q "merge: .*transactions do not carry merge operands" err.txt || fail "txn merge: $(cat err.txt)"
grep -q "del: .*transactions do not carry single deletes" err.txt || fail "txn single delete: $(cat err.txt)"
expect_status 0 "$TIND" "$MD" get c t
expect_status 0 "$TIND" "$MD" get c hits --hex
[ "$(cat out.txt)" = 0300000000000000 ] || fail "counter after refused txn merge: $(cat out.txt)"

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
flip "$B1" 20
expect_status 1 "$TIND" bad1 verify
grep -q "problem: $B1: .*block at offset 0: checksum mismatch" out.txt || fail "verify data block: $(cat out.txt)"
grep -q "verify found 1 problem" err.txt || fail "verify summary: $(cat err.txt)"
# one damaged byte in the table of contents (just before the 56-byte trailer)
cp -r "$DB" bad2
B2=bad2/tables/$(basename "$TBL")
size=$(wc -c <"$B2")
flip "$B2" $((size - 57))
expect_status 1 "$TIND" bad2 verify
grep -q "problem: $B2: table of contents at offset [0-9]*: checksum mismatch" out.txt ||
    fail "verify table of contents: $(cat out.txt)"
expect_status 1 "$TIND" bad1 dump table "$(basename "$TBL" .tbl)"
grep -q "checksum mismatch" out.txt || fail "dump damaged: $(cat out.txt)"

section blobs
# key-value separation: values of >= 20 bytes go to blob files at flush
BDB="$T/dbblob"
expect_status 0 "$TIND" --create "$BDB" create kb --blob-threshold 20
printf 'put kb small v\nput kb big1 0123456789abcdefghijklmnop\nput kb big2 ABCDEFGHIJKLMNOPQRSTUVWXYZ\nflush kb\n' >script.txt
expect_status 0 "$TIND" "$BDB" <script.txt
BLOB=$(ls "$BDB"/tables/*.blob | head -1)
[ -n "$BLOB" ] || fail "no blob file after flush"
expect_status 0 "$TIND" "$BDB" get kb big2
grep -q "^ABCDEFGHIJKLMNOPQRSTUVWXYZ$" out.txt || fail "get blob: $(cat out.txt)"
expect_status 0 "$TIND" "$BDB" verify
grep -q "^verify: 1 blob files (2 blobs), 2 blob pointers checked$" out.txt || fail "verify blobs: $(cat out.txt)"
expect_status 0 "$TIND" "$BDB" stats kb
grep -q "^  blob files  *1, " out.txt || fail "stats blobs: $(cat out.txt)"
expect_status 0 "$TIND" --json "$BDB" stats kb
grep -q '"blob_files":1,' out.txt || fail "stats --json blobs: $(cat out.txt)"
expect_status 0 "$TIND" "$BDB" dump blob "$(basename "$BLOB" .blob)"
grep -q "^  2 records, " out.txt || fail "dump blob: $(cat out.txt)"
grep -q "record at offset 0: 26 bytes stored, 26 raw = 0123456789abcdefghijklmnop" out.txt || fail "dump blob records: $(cat out.txt)"
# one damaged byte in the first record's value: verify and get name the file and offset
cp -r "$BDB" badblob
BB=badblob/tables/$(basename "$BLOB")
flip "$BB" 12
expect_status 1 "$TIND" badblob verify
grep -q "problem: blob file '$BB': record at offset 0: checksum mismatch" out.txt || fail "verify damaged blob: $(cat out.txt)"
expect_status 1 "$TIND" badblob get kb big1
grep -q "record at offset 0: checksum mismatch" err.txt || fail "get damaged blob: $(cat err.txt)"
expect_status 1 "$TIND" badblob dump blob "$BB"
rm "$BB"
expect_status 1 "$TIND" badblob verify
grep -q "problem: $BB: missing" out.txt || fail "verify missing blob: $(cat out.txt)"
# the damaged database still opens (tables open lazily) but the read fails
# with the file named; a damaged VERSIONS file does not open: one line
cp -r "$DB" bad3
flip bad3/VERSIONS 30
expect_status 1 "$TIND" bad3 keyspaces
[ "$(wc -l <err.txt)" -eq 1 ] || fail "corrupt open: not one line: $(cat err.txt)"
grep -q "cannot open.*VERSIONS.*checksum" err.txt || fail "corrupt open: $(cat err.txt)"
expect_status 1 "$TIND" bad3 verify
grep -q "problem: .*VERSIONS" out.txt || fail "verify VERSIONS: $(cat out.txt)"
expect_status 1 "$TIND" "$T/nowhere" verify
# copies of a table under names that are not a table's (only the canonical
# spelling is: "1.tbl" and "0<name>" are not table 1 or the same table) are
# noted as strays, not checked, not problems; the same without a VERSIONS
cp -r "$DB" stray
for s in 1.tbl x.tbl "0$(basename "$TBL")" "$(basename "$TBL").tmp"; do cp "$TBL" "stray/tables/$s"; done
expect_status 0 "$TIND" stray verify
for s in 1.tbl x.tbl "0$(basename "$TBL")"; do
    grep -q "^note: stray/tables/$s: not a table file name" out.txt || fail "verify stray $s: $(cat out.txt)"
done
grep -q "^note: stray/tables/$(basename "$TBL").tmp: a leftover temporary" out.txt ||
    fail "verify stray temporary: $(cat out.txt)"
grep -q ": 0 problems" out.txt || fail "verify strays: $(cat out.txt)"
cp bad3/VERSIONS stray/VERSIONS
expect_status 1 "$TIND" stray verify
grep -q "^note: stray/tables/0$(basename "$TBL"): not a table file name" out.txt ||
    fail "verify stray without VERSIONS: $(cat out.txt)"
grep -q "problem: .*VERSIONS" out.txt || fail "verify strays, damaged VERSIONS: $(cat out.txt)"

section create_options
# create's keyspace options: a prefix extractor (prefix filters skip a table),
# zstd dictionaries, compression per level, the TTL filter, the rest accepted
KO="$T/dbopts"
expect_status 0 "$TIND" --create "$KO" create p --prefix-sep '#' --compression zstd:3 --zstd-dict 1024
i=1
while [ $i -le 3000 ]; do
    echo "put p u$((i % 50))#$i value-$i-abcdefghijklmnopqrstuvwxyz-$((i * 7919 % 1000))-qwertyuiop"
    i=$((i + 1))
done >script.txt
printf 'flush p\nscan p --prefix zz#\nstats p\n' >>script.txt
expect_status 0 "$TIND" --json "$KO" <script.txt
grep -q '"prefix_skipped":1' out.txt || fail "--prefix-sep: no table skipped: $(tail -3 out.txt)"
expect_status 0 "$TIND" "$KO" dump table "$(ls "$KO"/tables/*.tbl | head -1)"
grep -q '^  filter.prefix  *separator:0x23$' out.txt || fail "--prefix-sep: table filter: $(grep prefix out.txt)"
grep -q '^zstd dictionary (block at offset' out.txt || fail "--zstd-dict: no dictionary in the table"
grep -q '^  compression  *2 (zstd)$' out.txt || fail "--compression zstd:3: $(grep compression out.txt)"
expect_status 0 "$TIND" "$KO" create f --prefix-fixed 2 --prefix-only
expect_status 0 "$TIND" "$KO" put f aa1 x
expect_status 0 "$TIND" "$KO" flush f
expect_status 0 "$TIND" "$KO" dump table "$(ls -t "$KO"/tables/*.tbl | head -1)"
grep -q '^  filter.prefix  *fixed:2$' out.txt || fail "--prefix-fixed: $(grep prefix out.txt)"
expect_status 0 "$TIND" "$KO" create lc --compression zstd --level-compression 0=none,6=zstd:5
expect_status 0 "$TIND" "$KO" put lc a b
expect_status 0 "$TIND" "$KO" flush lc
expect_status 0 "$TIND" "$KO" dump table "$(ls -t "$KO"/tables/*.tbl | head -1)"
grep -q '^  compression  *0 (none)$' out.txt || fail "--level-compression 0=none: $(grep compression out.txt)"
# the TTL filter: an 8-byte big-endian expiry time, 1 = long past, 0 = never
expect_status 0 "$TIND" "$KO" create t --ttl --periodic-compaction 3600
printf 'put t gone \\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01old\nput t kept \\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00new\nflush t\ncompact t\n' >script.txt
expect_status 0 "$TIND" "$KO" <script.txt
expect_status 1 "$TIND" "$KO" get t gone
expect_status 0 "$TIND" "$KO" get t kept
expect_status 0 "$TIND" "$KO" create ff --compaction fifo --fifo-max 10m --fifo-ttl 60
expect_status 0 "$TIND" "$KO" create b --blob-threshold 100 --blob-file-size 1m --blob-compression zstd:1 \
    --blob-gc 0.5:0.2 --partitioning never --level-ratio 8 --expect-hits
for bad in "--prefix-fixed 2 --prefix-sep x" "--prefix-only" "--prefix-fixed 0" "--prefix-sep xy" \
    "--zstd-dict 9:2048" "--zstd-dict 100" "--level-compression 0=lz4:3" "--level-compression 7=none" \
    "--compression zstd:23" "--blob-gc x"; do
    # shellcheck disable=SC2086
    expect_status 1 "$TIND" "$KO" create bad $bad
done
expect_status 0 "$TIND" "$KO" keyspaces
[ "$(tr '\n' ' ' <out.txt)" = "b f ff lc p t " ] || fail "create options: keyspaces $(cat out.txt)"

section create_only_when_asked
# issue 10 bug 16: a mistyped path is an error, not a new database
expect_status 1 "$TIND" "$T/typo" get ks apple
grep -q "does not exist" err.txt || fail "missing db: $(cat err.txt)"
[ ! -e "$T/typo" ] || fail "get created a database at a mistyped path"
expect_status 1 "$TIND" "$T/typo" put ks apple red
[ ! -e "$T/typo" ] || fail "put created a database at a mistyped path"
printf 'keyspaces\n' | "$TIND" "$T/typo" >/dev/null 2>&1 && fail "script on a missing db succeeded"
[ ! -e "$T/typo" ] || fail "a script created a database at a mistyped path"
# a folder of other files is refused, even by create, and left as it was
mkdir notes && echo hello >notes/readme.txt
expect_status 1 "$TIND" notes create ks
grep -q "is not a tind database" err.txt || fail "foreign folder: $(cat err.txt)"
expect_status 1 "$TIND" --create notes keyspaces
[ "$(ls notes)" = readme.txt ] || fail "the foreign folder changed: $(ls notes)"
# create / --create make one
expect_status 0 "$TIND" --create "$T/made" keyspaces
[ -f "$T/made/FORMAT" ] || fail "--create made no database"
expect_status 0 "$TIND" "$T/made2" create ks
expect_status 2 "$TIND" --create --read-only "$T/made3" keyspaces

section export_integrity
# issue 10 bug 17: a cut, altered or extended export imports nothing
expect_status 0 "$TIND" "$DB" export --output full.txt
tail -1 full.txt | grep -q '^#end entries [0-9]* keyspaces [0-9]* skipped 0 xxh3 [0-9a-f]\{16\}$' ||
    fail "end record: $(tail -1 full.txt)"
size=$(wc -c <full.txt)
head -c $((size / 2)) full.txt >cut_mid.txt
expect_status 1 "$TIND" "$T/cut1" import cut_mid.txt
grep -q "no end record\|line [0-9]*, column" err.txt || fail "cut mid-line: $(cat err.txt)"
[ ! -e "$T/cut1" ] || fail "a refused import created the database"
sed '$d' full.txt >cut_end.txt
expect_status 1 "$TIND" "$DB2" import cut_end.txt
head -c $((size - 3)) full.txt >cut_rec.txt
expect_status 1 "$TIND" "$DB2" import cut_rec.txt
sed '2s/$/x/' full.txt >altered.txt
cmp -s full.txt altered.txt && fail "the alteration changed nothing"
expect_status 1 "$TIND" "$T/alt" import altered.txt
grep -q "checksum mismatch" err.txt || fail "altered: $(cat err.txt)"
{ cat full.txt; printf 'ks\textra\t1\n'; } >extended.txt
expect_status 1 "$TIND" "$T/alt" import extended.txt
grep -q "after the end record" err.txt || fail "extended: $(cat err.txt)"
expect_status 0 "$TIND" "$T/whole" import full.txt
expect_status 0 "$TIND" "$T/whole" export
same_file full.txt out.txt
# a failed export --output leaves the old file as it was, and no temporary
echo previous >keep.txt
cp -r "$DB" dmg
expect_status 0 "$TIND" dmg flush ks
DT=$(ls dmg/tables/*.tbl | tail -1)
flip "$DT" 20
expect_status 1 "$TIND" dmg export --output keep.txt
[ "$(cat keep.txt)" = previous ] || fail "a failed export changed its output file"
[ ! -e keep.txt.tmp ] || fail "a failed export left its temporary file"

section salvage
# one table of a few hundred keys with a damaged data block: --salvage
# exports every key outside the damaged range, says what it skipped, and the
# result imports cleanly
SV=$T/sv
expect_status 0 "$TIND" "$SV" create big
i=1000
while [ $i -lt 1600 ]; do
    echo "put big key$i value-$i-with-some-padding-to-fill-blocks"
    i=$((i + 1))
done >fill.txt
echo "flush big" >>fill.txt
expect_status 0 "$TIND" "$SV" <fill.txt
expect_status 0 "$TIND" "$SV" create small
expect_status 0 "$TIND" "$SV" put small k v
expect_status 0 "$TIND" "$SV" scan big --keys-only
cp out.txt all_keys.txt
ST=$(ls "$SV"/tables/*.tbl | head -1)
data_len=$("$TIND" "$SV" dump table "$ST" --summary | sed -n 's/^ *data *offset 0 *length \([0-9]*\).*/\1/p')
[ -n "$data_len" ] && [ "$data_len" -gt 2000 ] || fail "salvage: data section of $data_len bytes"
flip "$ST" $((data_len / 2)) 4
expect_status 1 "$TIND" "$SV" export --output salv.txt
grep -q "export --salvage" err.txt || fail "damaged export: no hint: $(cat err.txt)"
expect_status 0 "$TIND" --read-only "$SV" export --salvage --output salv.txt
grep -q "skipped the keys after 'key[0-9]*' up to 'key[0-9]*'" err.txt || fail "salvage report: $(cat err.txt)"
tail -1 salv.txt | grep -q ' skipped 1 ' || fail "salvage end record: $(tail -1 salv.txt)"
lo=$(sed -n 's/^#skipped big\tafter\t\(.*\)\tbefore\t.*/\1/p' salv.txt)
hi=$(sed -n 's/^#skipped big\tafter\t.*\tbefore\t\(.*\)/\1/p' salv.txt)
[ -n "$lo" ] && [ -n "$hi" ] || fail "salvage comment: $(grep '^#skipped' salv.txt)"
grep "$(printf '^big\t')" salv.txt | cut -f2 >got_keys.txt
n_got=$(wc -l <got_keys.txt)
[ "$n_got" -gt 400 ] && [ "$n_got" -lt 600 ] || fail "salvage kept $n_got of 600 keys"
# every key outside (lo, hi) is there; nothing inside is
awk -v lo="$lo" -v hi="$hi" '$0 <= lo || $0 >= hi' all_keys.txt >want_keys.txt
same_file got_keys.txt want_keys.txt
grep -q "^small	k	v$" salv.txt || fail "salvage lost the intact keyspace"
expect_status 0 "$TIND" "$T/repaired" import salv.txt
expect_status 0 "$TIND" "$T/repaired" count big
[ "$(cat out.txt)" = "$n_got" ] || fail "repaired count $(cat out.txt), want $n_got"
expect_status 0 "$TIND" "$T/repaired" verify

section read_only
# --read-only reads everything and writes nothing
snapshot_tree() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs cksum); }
snapshot_tree "$SV" >ro_before.txt
expect_status 0 "$TIND" --read-only "$SV" get small k
[ "$(cat out.txt)" = v ] || fail "read-only get: $(cat out.txt)"
expect_status 0 "$TIND" --read-only "$SV" scan small
expect_status 0 "$TIND" --read-only "$SV" count small
expect_status 0 "$TIND" --read-only "$SV" stats small
expect_status 1 "$TIND" --read-only "$SV" verify
grep -q "problem: .*checksum mismatch" out.txt || fail "read-only verify: $(cat out.txt)"
expect_status 1 "$TIND" --read-only "$SV" dump table "$ST" --summary
grep -q "checksum mismatch" out.txt || fail "read-only dump: $(cat out.txt)"
expect_status 1 "$TIND" --read-only "$SV" put small k2 v2
grep -q "read-only" err.txt || fail "read-only put: $(cat err.txt)"
expect_status 1 "$TIND" --read-only "$SV" create other
expect_status 1 "$TIND" --read-only "$SV" drop small
expect_status 1 "$TIND" --read-only "$SV" flush small
expect_status 1 "$TIND" --read-only "$SV" import full.txt
snapshot_tree "$SV" >ro_after.txt
same_file ro_before.txt ro_after.txt
expect_status 1 "$TIND" --read-only "$T/ro-missing" keyspaces
[ ! -e "$T/ro-missing" ] || fail "--read-only created a folder"

section encryption
# tind --key-file / $TIND_KEY_FILE (docs/ENCRYPTION.md)
EDB=$T/edb
printf '%064x' 7 >key.hex                                     # 64 hex digits
head -c 32 /dev/zero | tr '\000' 'k' >key.raw                # 32 raw bytes
expect_status 0 "$TIND" --key-file key.hex "$EDB" create sec
expect_status 0 "$TIND" --key-file key.hex "$EDB" put sec secretkey1 secretvalue1
expect_status 0 "$TIND" --key-file key.hex "$EDB" flush sec
expect_status 0 "$TIND" --key-file key.hex "$EDB" put sec secretkey2 secretvalue2
expect_status 0 "$TIND" --key-file key.hex "$EDB" get sec secretkey1
[ "$(cat out.txt)" = secretvalue1 ] || fail "encrypted get: $(cat out.txt)"
expect_status 0 env TIND_KEY_FILE=key.hex "$TIND" "$EDB" get sec secretkey2
[ "$(cat out.txt)" = secretvalue2 ] || fail "TIND_KEY_FILE get: $(cat out.txt)"
expect_status 0 "$TIND" --key-file key.hex "$EDB" verify
grep -q "0 problems" out.txt || fail "encrypted verify: $(cat out.txt)"
T1=$(cd "$EDB/tables" && ls | head -1)
expect_status 0 "$TIND" --key-file key.hex "$EDB" dump table "$EDB/tables/$T1"
grep -q "secretkey1" out.txt || fail "encrypted dump: $(cat out.txt)"
if grep -r -l -e secretkey -e secretvalue "$EDB" >/dev/null 2>&1; then fail "plaintext in an encrypted database"; fi
expect_status 1 "$TIND" "$EDB" get sec secretkey1
grep -q "is encrypted" err.txt || fail "no key: $(cat err.txt)"
expect_status 1 "$TIND" --key-file key.raw "$EDB" get sec secretkey1
grep -q "wrong encryption key" err.txt || fail "wrong key: $(cat err.txt)"
expect_status 1 "$TIND" --key-file key.raw "$EDB" verify
grep -q "wrong encryption key" err.txt || fail "verify, wrong key: $(cat err.txt)"
expect_status 1 "$TIND" --key-file key.raw "$DB" keyspaces
grep -q "not encrypted" err.txt || fail "key for a plain database: $(cat err.txt)"
# separated values in an encrypted database: dump blob decrypts with the key,
# refuses without it or with a wrong one, and no blob file holds plaintext
expect_status 0 "$TIND" --key-file key.hex "$EDB" create secblob --blob-threshold 20
printf 'put secblob bigkey1 secretblobvalue-0123456789\nflush secblob\n' >script.txt
expect_status 0 "$TIND" --key-file key.hex "$EDB" <script.txt
EBLOB=$(ls "$EDB"/tables/*.blob | head -1)
[ -n "$EBLOB" ] || fail "no blob file in the encrypted database"
expect_status 0 "$TIND" --key-file key.hex "$EDB" dump blob "$EBLOB"
grep -q "^  1 records, " out.txt || fail "encrypted dump blob: $(cat out.txt)"
grep -q "record at offset 0: 26 bytes stored, 26 raw = secretblobvalue-0123456789" out.txt || fail "encrypted dump blob records: $(cat out.txt)"
expect_status 0 "$TIND" --key-file key.hex "$EDB" dump blob "$(basename "$EBLOB" .blob)"
grep -q "secretblobvalue-0123456789" out.txt || fail "encrypted dump blob by number: $(cat out.txt)"
expect_status 1 "$TIND" "$EDB" dump blob "$EBLOB"
grep -q "secretblobvalue" out.txt && fail "dump blob without the key showed plaintext"
expect_status 1 "$TIND" --key-file key.raw "$EDB" dump blob "$EBLOB"
grep -q "secretblobvalue" out.txt && fail "dump blob with a wrong key showed plaintext"
expect_status 0 "$TIND" --key-file key.hex "$EDB" get secblob bigkey1
[ "$(cat out.txt)" = secretblobvalue-0123456789 ] || fail "encrypted blob get: $(cat out.txt)"
if grep -r -l -e secretblobvalue "$EDB" >/dev/null 2>&1; then fail "plaintext blob in an encrypted database"; fi
printf 'short' >key.bad
expect_status 2 "$TIND" --key-file key.bad "$EDB" keyspaces
grep -q "32 raw bytes or 64 hex digits" err.txt || fail "bad key file: $(cat err.txt)"

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
# a read-only open beside the live writer sees the state as of its open
expect_status 0 "$TIND" --read-only "$DB" count ks
grep -q '^[1-9][0-9]*$' out.txt || fail "read-only beside a writer: $(cat out.txt)"
exec 3>&-
wait "$HOLD_PID" || fail "the holder failed: $(cat hold.out)"
HOLD_PID=

section checkpoint_backup
# issue 14: checkpoint DIR opens as a copy; backup create / list / verify / restore / prune,
# a damaged shared table named by verify, restore refused into an existing folder
CB=$T/cbdb
expect_status 0 "$TIND" --create "$CB" create ks
expect_status 0 "$TIND" "$CB" put ks a 1
expect_status 0 "$TIND" "$CB" flush ks
expect_status 0 "$TIND" "$CB" checkpoint "$T/cb_ck"
expect_status 1 "$TIND" "$CB" checkpoint "$T/cb_ck"
grep -q "already exists" err.txt || fail "checkpoint over a folder: $(cat err.txt)"
expect_status 0 "$TIND" "$T/cb_ck" get ks a
[ "$(cat out.txt)" = 1 ] || fail "checkpoint copy: $(cat out.txt)"
expect_status 0 "$TIND" "$CB" backup create "$T/cb_bk"
grep -q "^backup 1 created" out.txt || fail "backup create: $(cat out.txt)"
expect_status 0 "$TIND" "$CB" put ks b 2
expect_status 0 "$TIND" "$CB" backup create "$T/cb_bk"
expect_status 0 "$TIND" "$CB" backup list "$T/cb_bk"
[ "$(grep -c '^backup [12] ' out.txt)" = 2 ] || fail "backup list: $(cat out.txt)"
expect_status 0 "$TIND" "$CB" backup verify "$T/cb_bk"
expect_status 0 "$TIND" "$CB" backup restore "$T/cb_bk" 1 "$T/cb_r1"
expect_status 1 "$TIND" "$CB" backup restore "$T/cb_bk" "$T/cb_r1"
expect_status 1 "$TIND" "$T/cb_r1" get ks b
expect_status 0 "$TIND" "$T/cb_r1" get ks a
expect_status 2 "$TIND" "$CB" backup prune "$T/cb_bk"
expect_status 0 "$TIND" "$CB" backup prune "$T/cb_bk" --keep 1
grep -q "^1 backup deleted" out.txt || fail "backup prune: $(cat out.txt)"
tbl=$(ls "$T"/cb_bk/shared/*.tbl | head -1)
flip "$tbl" 10
expect_status 1 "$TIND" "$CB" backup verify "$T/cb_bk"
grep -q "checksum mismatch" err.txt || fail "backup verify of a damaged table: $(cat err.txt)"

section import_ingest
# issue 14: import --ingest (bulk ingestion) loads what the batch import loads, keyspace by keyspace,
# and a key's last line wins
IG=$T/igdb
printf '#tind-export 2\nks1\tb\t2\nks1\ta\t1\nks2\tz\tlast?\nks1\tc\t3\nks2\tz\tlast\n' > ig.txt
expect_status 0 "$TIND" --create "$IG" import --unchecked --ingest ig.txt
expect_status 0 "$TIND" "$IG" scan ks1
[ "$(cat out.txt)" = "$(printf 'a = 1\nb = 2\nc = 3')" ] || fail "import --ingest ks1: $(cat out.txt)"
expect_status 0 "$TIND" "$IG" get ks2 z
[ "$(cat out.txt)" = last ] || fail "import --ingest ks2: $(cat out.txt)"

section progress
# issue 16: export, verify, count, compact (elapsed time) and import draw a meter on stderr when stdin
# and stderr are a terminal (script(1) gives them a pty), and print nothing
# more when they are not; the meter never reaches the exported file.
if command -v script >/dev/null 2>&1 && script -qec true /dev/null </dev/null >/dev/null 2>&1; then
    script -qec "'$TIND' '$DB' export --output prog_tty.txt && '$TIND' '$DB' verify && '$TIND' '$DB' count ks && '$TIND' '$DB' compact ks && '$TIND' '$T/db_prog' import prog_tty.txt" typescript.txt </dev/null >/dev/null 2>&1 ||
        { cat typescript.txt >&2; fail "progress: the commands failed on a terminal"; }
    for want in "export: [0-9]* entries" "verify: [0-9]* files" "count: [0-9]* entries" "compact: [0-9]*\.[0-9] s" "import: [0-9.]* [KMG]*i*B ([0-9]*%)"; do
        grep -q "$want" typescript.txt || { cat -v typescript.txt >&2; fail "progress: no '$want' on the terminal"; }
    done
    # the meter's line is erased: a carriage return, blanks over it, a carriage return
    LC_ALL=C grep -q "$(printf '\r')  *$(printf '\r')" typescript.txt || fail "progress: the meter's line is not erased"
    expect_status 0 "$TIND" "$DB" export --output prog_pipe.txt
    [ -s err.txt ] && fail "progress: export wrote to stderr without a terminal: $(cat err.txt)"
    same_file prog_tty.txt prog_pipe.txt
    for cmd in verify "count ks"; do
        # shellcheck disable=SC2086
        expect_status 0 "$TIND" "$DB" $cmd
        [ -s err.txt ] && fail "progress: $cmd wrote to stderr without a terminal: $(cat err.txt)"
    done
    # a script on standard input: never a meter, even with stderr on a terminal
    script -qec "printf 'count ks\\nverify\\n' | '$TIND' '$DB'" typescript2.txt </dev/null >/dev/null 2>&1 ||
        { cat typescript2.txt >&2; fail "progress: the script failed on a terminal"; }
    grep -q "^verify: " typescript2.txt || fail "progress: the script did not run: $(cat -v typescript2.txt)"
    grep -q "count: \|verify: [0-9]* files" typescript2.txt && fail "progress: a meter in script mode: $(cat -v typescript2.txt)"
else
    echo "  (script(1) is not installed or cannot open a pty: progress check skipped)" >&2
fi

section terminal_scan_limit
# at a terminal (script(1) gives the shell a pty) scan stops at 100 entries
# unless --limit or --all; a script (no terminal) is never limited
i=0
while [ $i -lt 150 ]; do
    echo "put big k$i v" && i=$((i + 1))
done >big.txt
expect_status 0 "$TIND" "$DB" create big
expect_status 0 "$TIND" "$DB" batch --file big.txt
expect_status 0 "$TIND" "$DB" scan big --keys-only
[ "$(wc -l <out.txt)" -eq 150 ] || fail "scan without a terminal is limited: $(tail -n 2 out.txt)"
if command -v script >/dev/null 2>&1 && script -qec true /dev/null </dev/null >/dev/null 2>&1; then
    mkdir -p home
    printf 'scan big --keys-only\nscan big --keys-only --all\nscan big --limit 3\nquit\n' |
        HOME=$T/home script -qec "'$TIND' '$DB'" /dev/null >pty.txt 2>&1 || fail "script(1): $(cat pty.txt)"
    tr -d '\r' <pty.txt >out.txt
    grep -q '^(first 100 entries shown: --limit N or --all for more)$' out.txt || fail "terminal scan limit: $(cat out.txt)"
    grep -q '^(150 entries)$' out.txt || fail "terminal scan --all: $(cat out.txt)"
    grep -q '^(3 entries)$' out.txt || fail "terminal scan --limit 3: $(cat out.txt)"
else
    echo "  (script(1) is not installed or cannot open a pty: terminal scan limit check skipped)" >&2
fi

section changes
# the change feed (issue 17): every committed batch whole, in seqno order,
# across keyspaces, from any seqno; text, JSON and CSV (one script, one open)
CDB=$T/changes
printf '%s\n' 'create a' 'create b' 'put a k1 v1' batch 'put a k2 v2' 'put b k3 v3' 'del a k1' commit \
    changes 'changes --from 3' 'set format json' 'changes --from 2' 'set format csv' 'changes --from 2' >feed.tind
expect_status 0 "$TIND" --create "$CDB" <feed.tind
tr -d '\r' <out.txt >out2.txt
cat >want.txt <<'EOF'
batch 1 (1 operation)
  put a k1 = v1
batch 2 (3 operations)
  put a k2 = v2
  put b k3 = v3
  del a k1
batch 2 (3 operations)
  put a k2 = v2
  put b k3 = v3
  del a k1
{"seqno":2,"ops":[{"op":"put","keyspace":"a","key":"k2","value":"v2"},{"op":"put","keyspace":"b","key":"k3","value":"v3"},{"op":"del","keyspace":"a","key":"k1"}]}
seqno,op,keyspace,key,value
2,put,a,k2,v2
2,put,b,k3,v3
2,del,a,k1,
EOF
same_file out2.txt want.txt
[ "$(tr -cd '\r' <out.txt | wc -c)" -eq 4 ] || fail "changes --csv: not 4 CRLF records"
expect_status 0 "$TIND" "$CDB" changes --from 5
[ ! -s out.txt ] || fail "changes past the end printed: $(cat out.txt)"
expect_status 1 "$TIND" "$CDB" changes --from x
# range deletions in the feed: delrange KS LO .. HI, "(end)" for no end
printf '%s\n' 'delrange a k0 k9' 'clear b' 'changes --from 5' 'set format json' 'changes --from 5' >feedr.tind
expect_status 0 "$TIND" "$CDB" <feedr.tind
cat >want.txt <<'EOF'
batch 5 (1 operation)
  delrange a k0 .. k9
batch 6 (1 operation)
  delrange b \x00 .. (end)
{"seqno":5,"ops":[{"op":"delrange","keyspace":"a","key":"k0","end":"k9"}]}
{"seqno":6,"ops":[{"op":"delrange","keyspace":"b","key":"\u0000","end":""}]}
EOF
same_file out.txt want.txt

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
# the value on a line of its own: "v1" alone is already in the put's line
i=0
while ! pane | grep -qx "v1"; do
    i=$((i + 1))
    [ $i -lt 100 ] || { pane >&2; fail "interactive: get never printed v1"; }
    sleep 0.05
done
keys "garbage"
wait_for "tind> garbage"
keys C-c                                        # drops the line
# a fresh empty prompt before typing on: keys sent while the SIGINT is still
# being handled landed on the old line ("garbagecount inter") under load
i=0
while [ "$(pane | grep -v '^ *$' | tail -n 1 | sed 's/ *$//')" != "tind>" ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || { pane >&2; fail "interactive: no fresh prompt after Ctrl-C"; }
    sleep 0.05
done
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
wait_for "(committed 1 operation)"
# at a terminal, scan stops at 100 entries unless --limit or --all says otherwise
keys "scan big --keys-only" Enter
wait_for "(first 100 entries shown: --limit N or --all for more)"
keys "scan big --keys-only --all" Enter
wait_for "(150 entries)"
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
