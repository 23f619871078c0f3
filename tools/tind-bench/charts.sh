#!/bin/sh
# charts.sh -- renders the charts of a tind-bench result file with gnuplot.
#
# Usage: tools/tind-bench/charts.sh RESULTS.jsonl [OUTDIR]
#   RESULTS.jsonl  the file written by `tind-bench --json FILE` (one JSON object
#                  per line; when an (engine, workload) pair appears more than
#                  once, the last line wins, so appended runs replace older ones)
#   OUTDIR         where the charts go (default: <RESULTS without .jsonl>-charts)
#   FORMATS="png svg" (environment) picks the formats; both by default.
#
# Writes, each as OUTDIR/<name>.png and OUTDIR/<name>.svg:
#   throughput            ops/s per workload, one bar per engine (log scale)
#   throughput-vs-tind    each engine's throughput over tind's (1 = as fast as tind)
#   write-amp, space-amp  write and space amplification per workload and engine
#   peak-rss              peak resident memory (MiB) per workload and engine
#   latency-<workload>    p50 / p99 / p99.9 latency (us, log scale) per engine and op type
#   timeline-<workload>   ops/s of every second of the measured phase, one line
#                         per engine (stalls show as dips); only when the run
#                         recorded one of 3 seconds or more
# (<workload> with "/" replaced by "-": micro/fillseq -> micro-fillseq.)
#
# Fields read from each line (tind-bench main.c writes them):
#   "engine", "workload", "ok", "throughput", "write_amp", "space_amp",
#   "peak_rss_kb", "latency_us": {"<op>": {"p50", "p99", "p999", ...}, ...},
#   "timeline": [ops/s of second 1, 2, ...]; null numbers are drawn as gaps.
# Lines with "ok":false are skipped.
# Every chart carries the run's context in a footer (issue 15): profile,
# date, tind's version and commit, the machine (CPU model, CPUs, RAM, disk
# and its sequential MB/s), each engine's version, and per workload its
# sizes, cache, threads, durability, measured phase and warm-up (from
# "time", "profile", "tind_version", "commit", "host", "engine_version",
# "params" of the lines). write-amp draws "device_write_amp" (device sectors)
# when the line has one, else "write_amp" (/proc/self/io).
#
# Needs only a POSIX shell, awk (mawk is enough) and gnuplot (Debian
# gnuplot-nox); no jq or python. The JSON is parsed with awk, relying on the
# flat shape tind-bench writes (strings without escaped quotes, latency_us
# nested one level, timeline a flat array).
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 RESULTS.jsonl [OUTDIR]" >&2
    exit 2
fi
in=$1
[ -r "$in" ] || { echo "charts.sh: cannot read $in" >&2; exit 1; }
out=${2:-${in%.jsonl}-charts}
[ "$out" = "$in" ] && out=$in-charts
formats=${FORMATS:-png svg}
command -v gnuplot >/dev/null 2>&1 || {
    echo "charts.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2
    exit 1
}
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tind-charts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# ---- JSON lines -> gnuplot data files in $tmp ----
awk -v dir="$tmp" '
function jstr(line, key,    m) {
    if (!match(line, "\"" key "\":\"[^\"]*\""))
        return ""
    m = substr(line, RSTART + length(key) + 4, RLENGTH - length(key) - 5)
    return m
}
# a number of this key at this level: preceded by "{" or ","; null -> NaN
function jnum(line, key,    m) {
    if (!match(line, "[{,]\"" key "\":[^,}]*"))
        return "NaN"
    m = substr(line, RSTART + length(key) + 4, RLENGTH - length(key) - 4)
    if (m == "null" || m == "")
        return "NaN"
    return m + 0
}
function safe(w,    s) { s = w; gsub(/[^A-Za-z0-9._-]/, "-", s); return s }
function human(n) {
    if (n == "NaN") return "?"
    if (n >= 1000000 && n % 100000 == 0) return (n / 1000000) "M"
    if (n >= 1000 && n % 100 == 0) return (n / 1000) "k"
    return n
}
function unq(s) { gsub(/\047/, "", s); gsub(/"/, "", s); return s }  # no quotes in gnuplot labels
{
    line = $0
    if (index(line, "\"ok\":false") || !index(line, "\"engine\":"))
        next
    e = jstr(line, "engine"); w = jstr(line, "workload")
    if (e == "" || w == "")
        next
    # the run context (issue 15): the first result line names the run, each
    # workload and engine its own settings and version
    if (ctx_time == "") {
        ctx_time = jstr(line, "time"); sub(/T/, " ", ctx_time); sub(/Z$/, " UTC", ctx_time)
        ctx_profile = jstr(line, "profile"); ctx_commit = jstr(line, "commit")
        ctx_version = jstr(line, "tind_version"); ctx_cpu = jstr(line, "cpu")
        ctx_nproc = jnum(line, "nproc"); ctx_mem = jnum(line, "mem_mb")
        ctx_disk = jstr(line, "disk"); ctx_dbw = jnum(line, "disk_seq_write_mb_s")
    }
    v = jstr(line, "engine_version")
    if (v != "" && !(e in ever)) ever[e] = v
    kk = jnum(line, "keys"); vs = jnum(line, "value_size"); th = jnum(line, "threads")
    plural = (th == 1) ? "" : "s"
    len_ = jnum(line, "seconds") " s"
    if (jnum(line, "ops") != "NaN" && jnum(line, "ops") + 0 > 0)
        len_ = jnum(line, "ops") " ops"
    phase_ = len_ " measured after " jnum(line, "warmup") " s warm-up"
    if (w ~ /fill|bulkload/)
        phase_ = "the whole fill from empty"
    wctx[w] = sprintf("%s keys x %s B, cache %s MiB, %s thread%s, %s, %s", \
        human(kk), vs, jnum(line, "cache_mb"), th, plural, jstr(line, "durability"), phase_)
    if (!(e in eidx)) { eidx[e] = ++ne; eng[ne] = e }
    if (!(w in widx)) { widx[w] = ++nw; wl[nw] = w }
    k = w SUBSEP e
    have[k] = 1
    thr[k] = jnum(line, "throughput")
    # the write amplification of the device when the run had a block device
    wamp[k] = jnum(line, "device_write_amp")
    if (wamp[k] == "NaN")
        wamp[k] = jnum(line, "write_amp")
    samp[k] = jnum(line, "space_amp")
    rss = jnum(line, "peak_rss_kb")
    rssm[k] = (rss == "NaN") ? "NaN" : rss / 1024
    # latency_us: {"op":{...},"op":{...}} -- inner objects hold no braces
    nops[k] = 0
    p = index(line, "\"latency_us\":{")
    if (p) {
        rest = substr(line, p + 14)
        if (substr(rest, 1, 1) != "}") {
            body = substr(rest, 1, index(rest, "}}"))
            n = split(body, parts, "},")
            for (i = 1; i <= n; i++) {
                q = index(parts[i], "\":{")
                if (!q)
                    continue
                op = substr(parts[i], 2, q - 2)
                obj = substr(parts[i], q + 2)
                if (jnum(obj, "count") == 0)
                    continue
                j = ++nops[k]
                opname[k, j] = op
                p50[k, j] = jnum(obj, "p50"); p99[k, j] = jnum(obj, "p99"); p999[k, j] = jnum(obj, "p999")
            }
        }
    }
    # timeline: [n,n,...]
    ntl[k] = 0
    p = index(line, "\"timeline\":[")
    if (p) {
        rest = substr(line, p + 12)
        body = substr(rest, 1, index(rest, "]") - 1)
        if (body != "") {
            ntl[k] = split(body, tv, ",")
            for (i = 1; i <= ntl[k]; i++)
                tl[k, i] = (tv[i] == "null") ? "NaN" : tv[i] + 0
        }
    }
}
function header(f, first,    i) {
    printf "%s", first > f
    for (i = 1; i <= ne; i++)
        printf " \"%s\"", eng[i] > f
    printf "\n" > f
}
# one row per workload, one column per engine
function matrix(name, kind,    f, i, j, k, v, base) {
    f = dir "/" name ".dat"
    header(f, "workload")
    for (i = 1; i <= nw; i++) {
        base = "NaN"
        if (kind == "ratio" && ((wl[i] SUBSEP "tind") in have))
            base = thr[wl[i], "tind"]
        row = "\"" wl[i] "\""
        any = 0
        for (j = 1; j <= ne; j++) {
            k = wl[i] SUBSEP eng[j]
            v = "NaN"
            if (k in have) {
                if (kind == "throughput") v = thr[k]
                else if (kind == "write_amp") v = wamp[k]
                else if (kind == "space_amp") v = samp[k]
                else if (kind == "rss") v = rssm[k]
                else if (kind == "ratio" && base != "NaN" && base > 0 && thr[k] != "NaN") v = thr[k] / base
            }
            if (v != "NaN")
                any = 1
            row = row " " v
        }
        if (any)    # a workload without this figure (write-amp of a read-only one) gets no slot
            print row > f
    }
    close(f)
}
END {
    if (nw == 0)
        exit 3
    matrix("throughput", "throughput")
    matrix("throughput-vs-tind", "ratio")
    matrix("write-amp", "write_amp")
    matrix("space-amp", "space_amp")
    matrix("peak-rss", "rss")
    printf "%d\n", ne > (dir "/engines")
    # context: line 1 the run, line 2 the engines, then one line per workload
    f = dir "/context"
    m = (ctx_mem == "NaN") ? "?" : sprintf("%.0f", ctx_mem / 1024)
    printf "tind-bench %s profile, %s, tind %s at %s; machine: %s, %s CPUs, %s GiB RAM, disk %s%s\n", \
        unq(ctx_profile), unq(ctx_time), unq(ctx_version), unq(ctx_commit), unq(ctx_cpu), ctx_nproc, m, \
        (ctx_disk == "") ? "?" : unq(ctx_disk), (ctx_dbw == "NaN") ? "" : sprintf(" (%.0f MB/s sequential)", ctx_dbw) > f
    line = "engines:"
    for (j = 1; j <= ne; j++)
        line = line sprintf(" %s %s%s", eng[j], (eng[j] in ever) ? unq(ever[eng[j]]) : "?", j < ne ? "," : "")
    print line > f
    for (i = 1; i <= nw; i++)
        printf "%s\t%s\n", safe(wl[i]), wl[i] ": " unq(wctx[wl[i]]) > (dir "/wctx")
    close(f)
    for (i = 1; i <= nw; i++) {
        w = wl[i]; s = safe(w)
        # latency: one row per (engine, op)
        f = dir "/latency-" s ".dat"
        rows = 0
        print "label p50 p99 p99.9" > f
        for (j = 1; j <= ne; j++) {
            k = w SUBSEP eng[j]
            if (!(k in have))
                continue
            for (o = 1; o <= nops[k]; o++) {
                printf "\"%s %s\" %s %s %s\n", eng[j], opname[k, o], p50[k, o], p99[k, o], p999[k, o] > f
                rows++
            }
        }
        close(f)
        # timeline: one row per second, one column per engine (NaN past its end)
        f = dir "/timeline-" s ".dat"
        len = 0
        for (j = 1; j <= ne; j++) {
            k = w SUBSEP eng[j]
            if ((k in have) && ntl[k] > len)
                len = ntl[k]
        }
        header(f, "second")
        for (t = 1; t <= len; t++) {
            printf "%d", t > f
            for (j = 1; j <= ne; j++) {
                k = w SUBSEP eng[j]
                printf " %s", ((k in have) && t <= ntl[k]) ? tl[k, t] : "NaN" > f
            }
            printf "\n" > f
        }
        close(f)
        printf "%s\t%s\t%d\t%d\n", s, w, rows, len > (dir "/workloads")
    }
}
' "$in" || {
    echo "charts.sh: no result lines in $in" >&2
    exit 1
}

ne=$(cat "$tmp/engines")

# gp: gnuplot reading a script on stdin, without its notes about engines
# that have no point in a chart (a column of NaN)
gp() {
    gnuplot 2>&1 | { grep -v -e 'Skipping data file with no valid points' -e '^ *$' >&2 || true; }
}

# term FORMAT: the gnuplot terminal line for one output format
term() {
    case $1 in
    png) echo "set terminal pngcairo size $2,$3 noenhanced font 'sans,10'" ;;
    svg) echo "set terminal svg size $2,$3 noenhanced dynamic font 'sans,10' background rgb 'white'" ;;
    esac
}

common='
set datafile missing "NaN"
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror
set key outside right top
set linetype 1 lc rgb "#d62728" lw 2
set linetype 2 lc rgb "#1f77b4" lw 2
set linetype 3 lc rgb "#2ca02c" lw 2
set linetype 4 lc rgb "#9467bd" lw 2
set linetype 5 lc rgb "#ff7f0e" lw 2
set linetype 6 lc rgb "#8c564b" lw 2
set linetype 7 lc rgb "#e377c2" lw 2
set linetype 8 lc rgb "#7f7f7f" lw 2
'
histo='
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by -30 left
'

# footer [WORKLOAD-SAFE-NAME]: gnuplot lines that print the run's context
# under the chart (the run, the engines, and the sizes and phases of the
# workload, or of every workload of a multi-workload chart); sets the bottom
# margin. Its line count is in $footer_lines after `footer_count`.
footer_text() {
    cat "$tmp/context"
    if [ -n "${1:-}" ]; then
        awk -F '\t' -v w="$1" '$1 == w { print $2 }' "$tmp/wctx"
    else
        cut -f2 "$tmp/wctx"
    fi
}
footer() {
    n=$(footer_text "${1:-}" | wc -l)
    echo "set bmargin $((n + 7))"
    i=0
    footer_text "${1:-}" | while IFS= read -r l; do
        i=$((i + 1))
        printf "set label %d '%s' at screen 0.01, character %d left font 'sans,8' tc rgb '#444444'\n" $((100 + i)) "$l" $((n - i + 1))
    done
}
footer_lines() { footer_text "${1:-}" | wc -l; }

# bars NAME TITLE YLABEL LOG(0/1) [EXTRA]: one bar per engine per workload
bars() {
    name=$1; title=$2; ylabel=$3; log=$4; extra=${5:-}
    nwl=$(($(wc -l < "$tmp/$name.dat") - 1))
    [ "$nwl" -gt 0 ] || return 0
    width=$((360 + nwl * (30 + 14 * ne)))
    [ $width -lt 800 ] && width=800
    for fmt in $formats; do
        {
            term "$fmt" "$width" $((520 + 14 * $(footer_lines)))
            echo "set output '$out/$name.$fmt'"
            echo "$common$histo"
            footer
            echo "set title '$title'"
            echo "set ylabel '$ylabel'"
            [ "$log" = 1 ] && echo "set logscale y"
            [ "$log" = 1 ] || echo "set yrange [0:*]"
            echo "$extra"
            echo "plot for [i=2:$((ne + 1))] '$tmp/$name.dat' using i:xtic(1) title columnheader(i) lt i-1"
        } | gp
    done
}

bars throughput "Throughput (ops/s, higher is better)" "ops/s" 1
bars throughput-vs-tind "Throughput relative to tind (1 = as fast as tind; below 1: tind is faster)" "engine / tind" 0 \
    "set arrow from graph 0, first 1 to graph 1, first 1 nohead lc rgb 'black' dt 2 front"
bars write-amp "Write amplification (device sectors written, syncfs-bracketed, settle included / bytes written by the user, log scale; lower is better)" \
    "write amplification" 1
bars space-amp "Space amplification (disk usage / live data, log scale; lower is better)" "space amplification" 1
bars peak-rss "Peak RSS (MiB; lower is better)" "MiB" 0

while IFS="$(printf '\t')" read -r safe wname rows len; do
    if [ "$rows" -gt 0 ]; then
        width=$((360 + rows * 70))
        [ $width -lt 700 ] && width=700
        for fmt in $formats; do
            {
                term "$fmt" "$width" $((480 + 14 * $(footer_lines "$safe")))
                echo "set output '$out/latency-$safe.$fmt'"
                echo "$common$histo"
                footer "$safe"
                echo "set title 'Latency of $wname (microseconds, log scale; lower is better)'"
                echo "set ylabel 'us'"
                echo "set logscale y"
                echo "set linetype 1 lc rgb '#9ecae1'"
                echo "set linetype 2 lc rgb '#3182bd'"
                echo "set linetype 3 lc rgb '#08306b'"
                echo "plot for [i=2:4] '$tmp/latency-$safe.dat' using i:xtic(1) title columnheader(i) lt i-1"
            } | gp
        done
    fi
    if [ "$len" -ge 3 ]; then
        for fmt in $formats; do
            {
                term "$fmt" 900 $((480 + 14 * $(footer_lines "$safe")))
                echo "set output '$out/timeline-$safe.$fmt'"
                echo "$common"
                footer "$safe"
                echo "set title 'Throughput over time, $wname (ops/s per second; dips are stalls)'"
                echo "set xlabel 'second of the measured phase'"
                echo "set ylabel 'ops/s'"
                echo "set yrange [0:*]"
                echo "set xrange [1:*]"
                [ "$len" -le 20 ] && echo "set xtics 1"
                echo "plot for [i=2:$((ne + 1))] '$tmp/timeline-$safe.dat' using 1:i with linespoints lt i-1 pt 7 ps 0.4 title columnheader(i)"
            } | gp
        done
    fi
done < "$tmp/workloads"

echo "charts.sh: charts of $in in $out"
