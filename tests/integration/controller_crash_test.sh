#!/usr/bin/env bash
# SIGKILL the controller while 100 snapshots are in flight, restart it: all 100 reach Ready and
# the node holds exactly one snapshot per object (none duplicated, no temporaries left).
source "$(dirname "$0")/lib.sh"
start_cluster 2

for i in 1 2 3 4; do disk_yaml "src-$i" local-reflink 16Mi; echo ---; done | berth apply -f - >/dev/null
for i in 1 2 3 4; do wait_phase vd "src-$i" Ready; done

for i in $(seq 1 100); do snapshot_yaml "s-$i" "src-$(( (i % 4) + 1 ))"; echo ---; done >"$IT_DIR/snaps.yaml"
# Freeze the agents (SIGSTOP) so the controller's snapshot calls are stuck in flight, kill the
# controller, then let the agents finish the orphaned calls: the restarted controller must adopt
# what they made rather than make it again.
agents=$(cat "$IT_DIR"/cluster/run/node-*.pid)
kill -STOP $agents
berth apply -f "$IT_DIR/snaps.yaml" >/dev/null
sleep 1
ready_before=$(berth get vds -o json | jq '[.items[] | select(.status.phase=="Ready")] | length')
cluster kill controller >/dev/null
kill -CONT $agents
echo "controller killed with $ready_before of 100 snapshots Ready"
expect_eq "no snapshot could finish while the agents were stopped" "$ready_before" 0
sleep 1
cluster start controller >/dev/null

berth wait vds --all --for=jsonpath='{.status.phase}'=Ready --timeout=180s >/dev/null ||
  fail "not all snapshots Ready after restart"
expect_eq "Ready snapshots" \
  "$(berth get vds -o json | jq '[.items[] | select(.status.phase=="Ready")] | length')" 100

# Node side: one snapshot per object, by uid, and nothing else.
uids=$(berth get vds -o json | jq -r '.items[].metadata.uid' | sort)
on_nodes=$(for n in "$IT_DIR"/cluster/mnt/xfs/node-*; do ls -A "$n/snapshots"; done | sort)
expect_eq "node-side snapshots are exactly the objects' uids" "$on_nodes" "$uids"
done_ok
