#!/bin/sh
# check_layers.sh [ROOT] -- enforce the include directions of docs/ARCHITECTURE.md.
#
# Reads every #include "..." of every .c and .h under ROOT/src and fails,
# naming the file, the line and the forbidden arrow, when:
#   - a layer includes a layer that is not below it. Layers, bottom to top:
#       util < io < cache < format < blob < memtable, journal < iter < version
#            < compaction < db < (files directly in src/, e.g. internal headers)
#     memtable and journal are peers: neither includes the other. Every
#     file may include the public "tind.h";
#   - a db/ file includes a db/ header that is not below it on the db line:
#       options < wgroup < state < ksprefix < merge < conflicts < journals < install < jobs
#               < iters < write < rangedel < txn < read < stats < dbiter < changes < checkpoint
#               < backup < ingest < rekey < db < internal
#     (a file may include its own header; db/db.h gathers every db/ header
#     for db.c and the tests; db/internal.c implements src/tind_internal.h,
#     the tools' one internal header, and is the only file that includes it);
#   - an include names no layer ("foo.h" instead of "util/foo.h").
# POSIX sh and awk only. Exit 0 when every arrow points down, 1 otherwise.
root=${1:-.}
cd "$root" || exit 2
files=$(find src -name '*.[ch]' | LC_ALL=C sort)
[ -n "$files" ] || { echo "check_layers: no sources under $root/src" >&2; exit 2; }
# shellcheck disable=SC2086
awk '
BEGIN {
    n = split("util io cache format blob memtable journal iter version compaction db", L, " ")
    rank["util"] = 0; rank["io"] = 1; rank["cache"] = 2; rank["format"] = 3; rank["blob"] = 4
    rank["memtable"] = 5; rank["journal"] = 5; rank["iter"] = 6; rank["version"] = 7
    rank["compaction"] = 8; rank["db"] = 9; rank["."] = 10
    m = split("options wgroup state ksprefix merge conflicts journals install jobs iters write rangedel txn read stats dbiter changes checkpoint backup ingest rekey db internal", D, " ")
    for (i = 1; i <= m; i++) pos[D[i]] = i
    bad = 0
}
function layer_of(path,    p) {
    n2 = split(path, p, "/")
    return n2 == 2 ? "." : p[2]          # src/x.h -> ".", src/layer/x.c -> layer
}
function stem(name,    s) {
    s = name; sub(/^.*\//, "", s); sub(/\.[ch]$/, "", s); return s
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
    inc = $0
    sub(/^[ \t]*#[ \t]*include[ \t]*"/, "", inc)
    sub(/".*$/, "", inc)
    if (inc == "tind.h") next
    if (inc == "tind_internal.h" && FILENAME == "src/db/internal.c") next
    from = layer_of(FILENAME)
    if (!(from in rank)) {
        printf "%s:%d: unknown layer src/%s (add it to scripts/check_layers.sh and docs/ARCHITECTURE.md)\n", FILENAME, FNR, from
        bad = 1; next
    }
    k = index(inc, "/")
    to = k ? substr(inc, 1, k - 1) : ""
    if (!(to in rank) || to == ".") {
        printf "%s:%d: #include \"%s\" names no layer (write \"layer/file.h\")\n", FILENAME, FNR, inc
        bad = 1; next
    }
    if (to != from && rank[to] >= rank[from]) {
        printf "%s:%d: forbidden arrow %s -> %s (#include \"%s\"): a layer includes only layers below it\n", FILENAME, FNR, from, to, inc
        bad = 1; next
    }
    if (from == "db" && to == "db") {
        a = stem(FILENAME); b = stem(inc)
        if (!(a in pos)) {
            printf "%s:%d: db/%s is not on the db line (add it to scripts/check_layers.sh and db/state.h)\n", FILENAME, FNR, a
            bad = 1; next
        }
        if (!(b in pos)) {
            printf "%s:%d: #include \"%s\": db/%s is not on the db line\n", FILENAME, FNR, inc, b
            bad = 1; next
        }
        if (a != b && pos[b] >= pos[a]) {
            printf "%s:%d: forbidden arrow db/%s -> db/%s (#include \"%s\"): the db files form a line, each includes only those below it\n", FILENAME, FNR, a, b, inc
            bad = 1; next
        }
    }
}
END { exit bad }
' $files
rc=$?
if [ $rc -eq 0 ]; then
    echo "check_layers: every include of $(echo "$files" | wc -l | tr -d " ") files points down"
else
    echo "check_layers: forbidden includes (docs/ARCHITECTURE.md, \"Layers\")" >&2
fi
exit $rc
