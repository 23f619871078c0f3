#!/bin/sh
# test_bench_steady.sh -- issue 15: tind-bench measures steady state.
#   - a run of --seconds with --warmup says "warm-up" before each measured
#     run phase and records "warmup" in the JSON params;
#   - every line carries the device fields (numbers when --dir is on a block
#     device, null otherwise), the CPU model and the engine's version;
#   - micro/fillbatch runs, with user_mb_s and (after the --disk-bw-mb probe)
#     the disk's bandwidth and the fraction;
#   - --estimate prints the plan of the full profile's core group and its
#     duration, and runs nothing; an unknown workload group is refused;
#     ENGINE@WORKLOAD limits an engine to some workloads;
#   - --keep --preload-only caches the preloads and measures nothing.
#
#   usage: sh tests/test_bench_steady.sh path/to/tind-bench SCRATCH_DIR
set -u
BENCH=${1:?usage: test_bench_steady.sh path/to/tind-bench SCRATCH_DIR}
D=${2:?}
fail() {
    printf 'FAIL test_bench_steady: %s\n' "$*" >&2
    exit 1
}
rm -rf "$D" && mkdir -p "$D" || exit 1
"$BENCH" --engines tind --workloads ycsb-a,micro --keys 2000 --seconds 0.3 --warmup 0.2 --disk-bw-mb 4 \
    --settle-ms 50 --dir "$D/db" --json "$D/out.json" >"$D/out.txt" 2>"$D/err.txt" ||
    { cat "$D/err.txt" >&2; fail "the run failed"; }
[ "$(wc -l < "$D/out.json")" = 7 ] || { cat "$D/out.json" >&2; fail "not 7 results (ycsb-a + 6 micro)"; }
for want in '"warmup":0.2' '"device_write_amp":' '"cpu":"' '"engine_version":"[0-9]' '"disk_seq_write_mb_s":[0-9]'; do
    [ "$(grep -c "$want" "$D/out.json")" = 7 ] || { cat "$D/out.json" >&2; fail "not in each JSON line: $want"; }
done
grep -q '"workload":"micro/fillbatch".*"user_mb_s":[0-9].*"disk_fraction":[0-9]' "$D/out.json" ||
    fail "micro/fillbatch without user_mb_s and disk_fraction"
for phase in "ycsb-a warm-up" "micro/readrandom warm-up" "micro/seekscan warm-up" "micro/overwrite warm-up"; do
    grep -q "tind $phase" "$D/err.txt" || { cat "$D/err.txt" >&2; fail "no '$phase' phase"; }
done
grep -q "fillbatch warm-up" "$D/err.txt" && fail "a fill was warmed up"
grep -q "^  micro/fillbatch  *tind .* MB/s of keys + values = .*% of the disk" "$D/out.txt" || { cat "$D/out.txt" >&2; fail "no fillbatch line"; }

# tind and tind-inline: always compiled in (make test does not install the peers)
"$BENCH" --profile full --estimate --workloads core --engines tind,tind-inline --dir "$D/db" >"$D/est.txt" 2>&1 ||
    { cat "$D/est.txt" >&2; fail "--estimate failed"; }
grep -q '^estimated: [0-9]*:[0-9][0-9]:[0-9][0-9] for ' "$D/est.txt" || { cat "$D/est.txt" >&2; fail "no estimate"; }
grep -q '^medium .* tind ' "$D/est.txt" || grep -q '^medium  *tind ' "$D/est.txt" || fail "core has no medium row"
[ -d "$D/db/preload" ] && fail "--estimate ran something"
"$BENCH" --workloads nosuchgroup --estimate >/dev/null 2>&1 && fail "an unknown workload was accepted"
"$BENCH" --engines nosuch@ycsb-a --estimate >/dev/null 2>&1 && fail "an unknown engine@ was accepted"
# ENGINE@W1+W2: the engine on those workloads only (tind: always compiled in)
"$BENCH" --estimate --workloads ycsb-a,feed --engines tind@feed --dir "$D/db" >"$D/est2.txt" 2>&1 || fail "engine@ refused"
grep -q '^feed  *tind ' "$D/est2.txt" && ! grep -q '^ycsb-a ' "$D/est2.txt" || { cat "$D/est2.txt" >&2; fail "tind@feed ran ycsb-a"; }
# --preload-only fills the cache and measures nothing; a later run copies it
"$BENCH" --keep --preload-only --engines tind --workloads ycsb-a,micro --keys 2000 --settle-ms 50 --dir "$D/db" \
    >"$D/pre.txt" 2>&1 || { cat "$D/pre.txt" >&2; fail "--preload-only failed"; }
ls "$D/db/preload" | grep -q '^tind-kv-k2000-' || fail "--preload-only cached nothing"
grep -q 'Results' "$D/pre.txt" && fail "--preload-only printed results"
"$BENCH" --preload-only --engines tind --workloads ycsb-a --keys 2000 --dir "$D/db" >/dev/null 2>&1 &&
    fail "--preload-only without --keep was accepted"
rm -rf "$D"
exit 0
