#!/usr/bin/env bash
# Every manifest in tests/fixtures/malformed is refused through the real CLI and controller with
# an error naming what is wrong, and nothing is stored or changed. A two-document fixture holds
# an object (applied first, must succeed) and then an illegal edit of it.
source "$(dirname "$0")/lib.sh"
start_cluster 1

kinds="vd vds vm vmsnapshot vmop vmsop vi cvi vmclass vmip vmmac nodeusbdevice usbdevice secret"
dump_state() {
  for k in $kinds; do
    berth get "$k" -A -o json | jq -c '.items[] | [.kind, .metadata.namespace, .metadata.name,
      .metadata.resourceVersion, .spec]'
  done
}
doc() {  # doc FILE N: the N-th YAML document of FILE (1-based)
  awk -v n="$2" 'BEGIN{d=1} /^---[[:space:]]*$/{d++; next} d==n' "$1"
}

count=0
for f in "$BERTH_SOURCE_DIR"/tests/fixtures/malformed/*; do
  expect=$(sed -n '1s/^# expect: //p' "$f")
  [ -n "$expect" ] || fail "$f: first line must be '# expect: ...'"
  input=$f first=""
  if [ "$(grep -c '^---' "$f")" -ge 1 ] && doc "$f" 2 | grep -q 'kind:'; then
    first="$IT_DIR/first.yaml" input="$IT_DIR/second.yaml"
    doc "$f" 1 >"$first"
    doc "$f" 2 >"$input"
    berth apply -f "$first" >/dev/null || fail "$f: the first (valid) document was refused"
  fi
  before=$(dump_state)
  if out=$(berth apply -f "$input" 2>&1); then fail "$f: accepted, want error '$expect'"; fi
  [ "$(wc -l <<<"$out")" -eq 1 ] || fail "$f: error is not one line: $out"
  grep -qF -- "$expect" <<<"$out" || fail "$f: error '$out' does not contain '$expect'"
  expect_eq "$f: nothing stored or changed" "$(dump_state)" "$before"
  if [ -n "$first" ]; then berth delete -f "$first" --timeout=30s >/dev/null; fi
  count=$((count + 1))
done
check "at least 20 malformed manifests ($count)" test "$count" -ge 20
done_ok
