# shell_lib.sh -- helpers shared by the shell-driven tests (test_shell.sh,
# test_regress_identity.sh); sourced after TEST_NAME is set and the test has
# cd'ed into its scratch folder.

fail() {
    printf 'FAIL %s: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}
section() { echo "  $1 ..." >&2; }
# expect_status WANT CMD...: runs CMD (output in out.txt / err.txt), checks its exit status
expect_status() {
    want=$1
    shift
    "$@" >out.txt 2>err.txt
    got=$?
    [ "$got" = "$want" ] || { cat out.txt err.txt >&2; fail "'$*' exited $got, want $want"; }
}
# flip FILE OFFSET [COUNT]: inverts every bit of COUNT (1) bytes of FILE at
# OFFSET, so that the damage is certain (writing a fixed byte leaves the file
# as it was whenever that byte was already there: test_shell failed so once)
flip() {
    bytes=$(od -An -v -tu1 -j "$2" -N "${3:-1}" "$1")
    [ -n "$bytes" ] || fail "flip: $1 has no byte at offset $2"
    esc=
    for b in $bytes; do esc="$esc$(printf '\\%03o' $((255 - b)))"; done
    printf "$esc" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
