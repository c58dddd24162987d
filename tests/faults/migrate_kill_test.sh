#!/usr/bin/env bash
# Live migration under faults (docs/migration.md): the writing test guest is migrated while
#   1. the source node's agent is SIGKILLed mid-migration (its supervisor restarts it),
#   2. the target node's agent is SIGKILLed mid-migration,
#   3. the controller is SIGKILLed right after the operation is created, mid-migration and as
#      the migration ends (the prepare, migrate and switch steps).
# The source's migration bandwidth is capped (virsh migrate-setspeed) so each kill lands while
# the migration runs, and lifted after the kill. After each round: the operation ended
# Completed or Failed with a reason, the guest runs on exactly one node (the VM's and its
# disk's status.node), the other node keeps no domain and no volume of the disk, the guest did
# not reboot and its record stream is whole.
source "$(dirname "$0")/faults_lib.sh"
start_cluster 2
CHECKS=0

dom_of() { echo "berth-default-$1-$(jp vm "$1" '{.metadata.uid}' | cut -c1-8)"; }
other() { if [ "$1" = node-1 ]; then echo node-2; else echo node-1; fi; }
running_on() {  # the nodes whose libvirtd runs DOMAIN
  local n
  for n in node-1 node-2; do
    [ "$(node_virsh "$n" domstate "$1" 2>/dev/null | head -1)" = running ] && echo "$n"
  done
  true
}
boot_id() { guest_boot_id "$(libvirt_uri "$(running_on "$DOM" | head -1)")" "$DOM"; }
volumes_on() { find "$IT_DIR/cluster/mnt" "$IT_DIR/cluster/copy" -path "*/$1/*" -name "*$DISK_UID*" 2>/dev/null; }
wait_step() {  # wait_step OP STEP
  for _ in $(seq 300); do
    [ "$(jp vmop "$1" '{.status.step}' 2>/dev/null)" = "$2" ] && return 0
    sleep 0.1
  done
  fail "vmop/$1 never reached step $2 ($(jp vmop "$1" '{.status}' 2>&1))"
}
wait_back() { for _ in $(seq 100); do sleep 0.3; berth version >/dev/null 2>&1 && return; done; }
migrate() { migrate_yaml "$1" app | berth apply -f - >/dev/null; }
cap() { node_virsh "$1" migrate-setspeed "$DOM" --bandwidth "$2" >/dev/null; }
# invariants ROUND OP: what must hold after every round
invariants() {
  local round=$1 op=$2 phase on vm_node
  berth wait "vmop/$op" --for=jsonpath='{.status.phase}'=Completed --timeout=300s >/dev/null 2>&1 ||
    true
  phase=$(jp vmop "$op" '{.status.phase}')
  [ "$phase" = Completed ] || [ "$phase" = Failed ] || fail "$round: vmop/$op is $phase"
  CHECKS=$((CHECKS + 1))
  berth wait vm/app --for=jsonpath='{.status.phase}'=Running --timeout=120s >/dev/null ||
    fail "$round: vm/app not Running"
  on=$(running_on "$DOM")
  expect_eq "$round: the guest runs on exactly one node" "$(wc -w <<<"$on")" 1
  vm_node=$(jp vm app '{.status.node}')
  expect_eq "$round: status.node is where it runs" "$vm_node" "$on"
  expect_eq "$round: its disk is there too" "$(jp vd data '{.status.node}')" "$on"
  [ -f "$(jp vd data '{.status.path}')" ] || fail "$round: the disk's volume is missing"
  CHECKS=$((CHECKS + 1))
  expect_eq "$round: no domain on the other node" \
    "$(node_virsh "$(other "$on")" list --all --name | grep -c berth- || true)" 0
  expect_eq "$round: no volume left on the other node" "$(volumes_on "$(other "$on")" | wc -l)" 0
  berth wait vm/app --for=condition=AgentReady --timeout=120s >/dev/null ||
    fail "$round: agent: $(berth get vm app -o json | jq -c '.status.conditions[] | select(.type == "AgentReady")')"
  expect_eq "$round: same boot" "$(boot_id)" "$BOOT"
  local why; why=$(jp vmop "$op" '{.status.conditions[?(@.type=="Completed")].reason}')
  echo "$round: $phase ($why), guest on $on"
  figure "$round" "$phase $why"
}

bash "$BERTH_SOURCE_DIR/tests/guest/make-data-disk.sh" "$IT_DIR/data.img" 256M
berth data import upload vd/data -f "$IT_DIR/data.img" --storage-class local-reflink >/dev/null
wait_phase vd data Ready
guest_vm_yaml app data "berth.writer=1 berth.batch=16" AlwaysOn | berth apply -f - >/dev/null
wait_phase vm app Running 180s
berth wait vm/app --for=condition=AgentReady --timeout=180s >/dev/null || fail "agent not ready"
DOM=$(dom_of app) DISK_UID=$(jp vd data '{.metadata.uid}')
BOOT=$(boot_id) || fail "guest-exec"

# --- 1. the source agent killed mid-migration ---
S=$(jp vm app '{.status.node}')
cap "$S" 20
migrate src-kill
wait_step src-kill migrate
sleep 1
cluster crash "$S" >/dev/null
sleep 2
cap "$S" 100000
invariants "source agent killed" src-kill

# --- 2. the target agent killed mid-migration ---
S=$(jp vm app '{.status.node}') T=$(other "$S")
cap "$S" 20
migrate dst-kill
wait_step dst-kill migrate
sleep 1
cluster crash "$T" >/dev/null
sleep 2
cap "$S" 100000
invariants "target agent killed" dst-kill

# --- 3. the controller killed at each step ---
migrate ctl-prepare
cluster crash controller >/dev/null
wait_back
invariants "controller killed at once (prepare)" ctl-prepare
S=$(jp vm app '{.status.node}')
cap "$S" 20
migrate ctl-migrate
wait_step ctl-migrate migrate
cluster crash controller >/dev/null
cap "$S" 100000
wait_back
invariants "controller killed mid-migration" ctl-migrate
S=$(jp vm app '{.status.node}')
migrate ctl-switch
wait_step ctl-switch migrate
for _ in $(seq 600); do  # the migration done, the switch-over next
  [ -z "$(node_virsh "$S" list --name | grep -- "$DOM")" ] && break
  sleep 0.05
done
cluster crash controller >/dev/null
wait_back
invariants "controller killed at the switch-over" ctl-switch

# The record stream is whole after all of it.
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineSnapshot
metadata: {name: final}
spec: {virtualMachineName: app, requiredConsistency: true}
YAML
wait_phase vmsnapshot final Ready 120s
uid=$(jp vmsnapshot final '{.metadata.uid}')
disk_yaml check local-reflink 256Mi "data-$uid" | berth apply -f - >/dev/null
wait_phase vd check Ready
mkdir -p "$IT_DIR/ro" && mount -o loop,ro,noload "$(jp vd check '{.status.path}')" "$IT_DIR/ro"
bash "$BERTH_SOURCE_DIR/tests/guest/verify-stream.sh" "$IT_DIR/ro/stream" >/dev/null ||
  { umount "$IT_DIR/ro"; fail "record stream torn or with a gap"; }
records=$(($(stat -c %s "$IT_DIR/ro/stream") / 64))
umount "$IT_DIR/ro"
CHECKS=$((CHECKS + 1))
figure "records after five migrations, whole" "$records"
print_figures
done_ok
