# Assertions for integration tests: a failed check ends the test, passed ones are counted.
# Sourced by lib.sh, and on their own by tests that do not run a local cluster. Uses IT_NAME.
CHECKS=0
fail() { echo "FAIL: $*" >&2; exit 1; }
check() {  # check DESCRIPTION COMMAND...: the command must succeed
  local what=$1; shift
  "$@" || fail "$what"
  CHECKS=$((CHECKS + 1))
}
expect_eq() {  # expect_eq DESCRIPTION ACTUAL EXPECTED
  [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"
  CHECKS=$((CHECKS + 1))
}
done_ok() { echo "PASS: $IT_NAME ($CHECKS checks)"; }
