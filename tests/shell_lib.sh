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
