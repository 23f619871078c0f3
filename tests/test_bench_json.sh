#!/bin/sh
# test_bench_json.sh -- issue 16: tind-bench's JSON lines name the library
# version, the commit and the host; stderr shows "[i/N] engine workload
# phase" lines (from the second run on with an ETA for the whole run), and
# --quiet keeps stderr empty.
#
#   usage: sh tests/test_bench_json.sh path/to/tind-bench VERSION SCRATCH_DIR
set -u
BENCH=${1:?usage: test_bench_json.sh path/to/tind-bench VERSION SCRATCH_DIR}
VERSION=${2:?}
D=${3:?}
fail() {
    printf 'FAIL test_bench_json: %s\n' "$*" >&2
    exit 1
}
rm -rf "$D" && mkdir -p "$D" || exit 1
"$BENCH" --engines tind --workloads ycsb-a,feed --keys 2000 --ops 1000 --settle-ms 50 --dir "$D/db" \
    --json "$D/out.json" >/dev/null 2>"$D/err.txt" || { cat "$D/err.txt" >&2; fail "the run failed"; }
for want in "\"tind_version\":\"$VERSION\"" '"commit":"[-A-Za-z0-9._+]*"' \
    '"host":{"name":"[^"]*","machine":"[^"]*","nproc":[1-9]'; do
    [ "$(grep -c "$want" "$D/out.json")" = 2 ] || { cat "$D/out.json" >&2; fail "not in each JSON line: $want"; }
done
grep -q '^tind-bench: \[1/2\] tind ycsb-a load$' "$D/err.txt" || { cat "$D/err.txt" >&2; fail "no [1/2] load line"; }
grep -q '^tind-bench: \[2/2\] tind feed run, ETA [0-9]*:[0-9][0-9]:[0-9][0-9] for the whole run$' "$D/err.txt" ||
    { cat "$D/err.txt" >&2; fail "no [2/2] run line with an ETA"; }
"$BENCH" --engines tind --workloads ycsb-a --keys 2000 --ops 1000 --settle-ms 50 --quiet --dir "$D/db" \
    >/dev/null 2>"$D/quiet.txt" || fail "the --quiet run failed"
[ -s "$D/quiet.txt" ] && { cat "$D/quiet.txt" >&2; fail "--quiet wrote to stderr"; }
rm -rf "$D"
exit 0
