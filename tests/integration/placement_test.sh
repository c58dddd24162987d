#!/usr/bin/env bash
# placement_test: spec.nodeSelector together with disk locality (docs/migration.md):
#   1. a disk is placed where the nodeSelector of the VM using it allows, even when another node
#      is less loaded; the VM runs there;
#   2. a running VM whose nodeSelector is changed to exclude its node is moved by a Migrate
#      operation the VM creates;
#   3. a VM whose disk already sits on a node its selector excludes does not start:
#      BlockDevicesReady False NodeSelectorMismatch (a stopped VM is not moved);
#   4. a selector no node satisfies leaves the disk Pending with a message naming the VM and the
#      selector, never a silent choice;
#   5. a NoExecute taint on a node moves the running VMs that do not tolerate it; one whose
#      selector allows no other node stays, its Evict Failed NoSuitableNode.
# The VMs boot nothing (an empty disk, no kernel): a running domain is all placement needs.
source "$(dirname "$0")/lib.sh"
start_cluster 2
CHECKS=0

disk() {  # disk NAME
  cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata: {name: $1}
spec:
  persistentVolumeClaim: {size: 16Mi, storageClassName: local-copy}
YAML
}
vm() {  # vm NAME DISK [SELECTOR_FLOW_MAP]
  small_vm_yaml "$1" default "$2" "${3:+  nodeSelector: $3}" | berth apply -f - >/dev/null
}
reason() { jp "$1" "$2" "{.status.conditions[?(@.type==\"$3\")].reason}"; }

check "label node-2 zone=b" berth label node node-2 zone=b
# node-2 holds more disks than node-1 from here on.
check "cordon node-1" berth node cordon node-1
disk filler-1; disk filler-2
wait_phase vd filler-1 Ready; wait_phase vd filler-2 Ready
check "uncordon node-1" berth node uncordon node-1

# --- 1. the disk goes where the VM's selector allows ---
vm sel sel-root "{zone: b}"
disk sel-root
wait_phase vd sel-root Ready
expect_eq "disk placed on the selected node" "$(jp vd sel-root '{.status.node}')" node-2
wait_phase vm sel Running 120s
expect_eq "VM runs on the selected node" "$(jp vm sel '{.status.node}')" node-2

# --- 2. a running VM follows a changed selector by migration ---
check "cordon node-2" berth node cordon node-2
disk move-root
wait_phase vd move-root Ready
check "uncordon node-2" berth node uncordon node-2
expect_eq "move-root on node-1" "$(jp vd move-root '{.status.node}')" node-1
vm move move-root
wait_phase vm move Running 120s
vm move move-root "{kubernetes.io/hostname: node-2}"
op=""
for _ in $(seq 100); do
  op=$(berth get vmop -o name 2>/dev/null | grep -o 'move-placement-[0-9a-f]*' | head -1) && [ -n "$op" ] && break
  sleep 0.2
done
[ -n "$op" ] || fail "the VM created no Migrate operation"
CHECKS=$((CHECKS + 1))
wait_phase vmop "$op" Completed 300s
expect_eq "moved to the selected node" "$(jp vm move '{.status.node}')" node-2
expect_eq "its disk too" "$(jp vd move-root '{.status.node}')" node-2
wait_phase vm move Running 60s

# --- 3. a stopped VM whose disk is on an excluded node does not start ---
check "cordon node-2" berth node cordon node-2
disk stuck-root
wait_phase vd stuck-root Ready
check "uncordon node-2" berth node uncordon node-2
vm stuck stuck-root "{zone: b}"
for _ in $(seq 100); do
  [ "$(reason vm stuck BlockDevicesReady)" = NodeSelectorMismatch ] && break
  sleep 0.2
done
expect_eq "NodeSelectorMismatch" "$(reason vm stuck BlockDevicesReady)" NodeSelectorMismatch
expect_eq "not started" "$(jp vm stuck '{.status.phase}')" Pending
jp vm stuck '{.status.conditions[?(@.type=="BlockDevicesReady")].message}' | grep -q "zone=b" ||
  fail "message does not name the selector"
CHECKS=$((CHECKS + 1))

# --- 4. a selector nothing satisfies ---
vm nowhere nowhere-root "{zone: mars}"
disk nowhere-root
for _ in $(seq 100); do
  jp vd nowhere-root '{.status.conditions[0].message}' 2>/dev/null | grep -q "nodeSelector" && break
  sleep 0.2
done
expect_eq "disk waits" "$(jp vd nowhere-root '{.status.phase}')" Pending
msg=$(jp vd nowhere-root '{.status.conditions[0].message}')
echo "$msg" | grep -q 'VirtualMachine "nowhere" (zone=mars)' || fail "message: $msg"
CHECKS=$((CHECKS + 1))

# --- 5. a NoExecute taint evicts what does not tolerate it ---
vm move move-root  # no selector any more: it may live anywhere
berth get node node-2 -o json | jq 'del(.status) | .spec.taints = [{"key":"maint","effect":"NoExecute"}]' |
  berth apply -f - >/dev/null || fail "taint node-2"
CHECKS=$((CHECKS + 1))
wait_phase vm move Running 60s
for _ in $(seq 300); do
  [ "$(jp vm move '{.status.node}')" = node-1 ] && break
  sleep 0.5
done
expect_eq "the tainted node's VM moved" "$(jp vm move '{.status.node}')" node-1
evict=""
for _ in $(seq 100); do
  evict=$(berth get vmop -o name | grep -o 'sel-placement-[0-9a-f]*' | head -1) && [ -n "$evict" ] &&
    [ "$(jp vmop "$evict" '{.status.phase}')" = Failed ] && break
  sleep 0.3
done
expect_eq "the VM bound to zone=b stays" "$(jp vm sel '{.status.node}')" node-2
expect_eq "its eviction found no node" "$(jp vmop "$evict" '{.status.conditions[?(@.type=="Completed")].reason}')" \
  NoSuitableNode
done_ok
