#!/usr/bin/env bash
# A Node's Ready condition turns False when its agent stops heartbeating and True again when it
# comes back.
source "$(dirname "$0")/lib.sh"
start_cluster 2
ready() { berth get node "$1" -o json | jq -r '.status.conditions[] | select(.type=="Ready") | .status'; }

expect_eq "node-1 Ready" "$(ready node-1)" True
expect_eq "node-2 Ready" "$(ready node-2)" True
cluster kill node-2 >/dev/null
berth wait node/node-2 --for=jsonpath='{.status.conditions[0].status}'=False --timeout=30s >/dev/null ||
  fail "node-2 still Ready after its agent died"
expect_eq "node-1 unaffected" "$(ready node-1)" True
cluster start node-2 >/dev/null
berth wait node/node-2 --for=condition=Ready --timeout=30s >/dev/null || fail "node-2 not Ready again"
expect_eq "node-2 Ready again" "$(ready node-2)" True
check "pools recorded" test "$(berth get node node-2 -o json | jq '.status.pools | length')" -eq 3
done_ok
