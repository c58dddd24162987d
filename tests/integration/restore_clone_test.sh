#!/usr/bin/env bash
# restore_clone_test: VM restore and clone on real libvirt/QEMU guests (tests/guest):
#   1. restore a running VM whose data disk was overwritten after the snapshot: the guest boots
#      again, reads the snapshot's data and runs; the controller is SIGKILLed at every step of
#      the restore and it still completes, with one volume per disk on the node (none leaked);
#   2. clone the running VM with a prefix and a suffix (controller SIGKILLed at every step):
#      clone and parent run side by side with different IPs and MACs, the clone has no labels,
#      no temporary snapshot remains;
#   3. every YAML example of the spec's restore/clone sections applies (our names substituted
#      for the placeholders) and reaches Completed; conflicts show in status.resources.
source "$(dirname "$0")/lib.sh"

GUEST=$BERTH_BUILD_DIR/guest
bash "$BERTH_SOURCE_DIR/tests/guest/build-guest.sh" "$GUEST" >/dev/null 2>&1 ||
  bash "$BERTH_SOURCE_DIR/tests/guest/build-guest.sh" "$GUEST"
start_cluster 1

dom_of() { echo "berth-default-$1-$(jp vm "$1" '{.metadata.uid}' | cut -c1-8)"; }

# Never leave a domain of this test defined: every VM uid this cluster ever had is recorded.
UIDS_FILE=$IT_DIR/vm-uids
touch "$UIDS_FILE"
note_uids() { berth get vm -o json 2>/dev/null | jq -r '.items[].metadata.uid[0:8]' >>"$UIDS_FILE" || true; }
vm_cleanup() {
  set +e
  kill -CONT "$(cat "$IT_DIR/cluster/run/node-1.pid" 2>/dev/null)" 2>/dev/null
  note_uids
  local d u
  for d in $(virsh_ list --all --name 2>/dev/null); do
    for u in $(sort -u "$UIDS_FILE"); do
      case "$d" in
        berth-default-*-"$u")
          virsh_ destroy "$d" >/dev/null 2>&1 || true
          virsh_ undefine "$d" >/dev/null 2>&1 || true ;;
      esac
    done
  done
}
# The controller goes first: it would start the domains again.
trap 'rc=$?; cluster kill controller >/dev/null 2>&1; vm_cleanup; set +e; (exit $rc); cleanup' EXIT

# Guest file access through qemu-guest-agent: the guest's own view of its data disk.
qga() { timeout 20 virsh -c "$(dom_uri "$1")" qemu-agent-command "$1" "$2"; }
guest_write() {  # guest_write DOMAIN PATH TEXT
  local h
  h=$(qga "$1" "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"$2\",\"mode\":\"w\"}}" |
    jq -r .return)
  qga "$1" "{\"execute\":\"guest-file-write\",\"arguments\":{\"handle\":$h,\"buf-b64\":\"$(printf %s "$3" | base64)\"}}" >/dev/null
  qga "$1" "{\"execute\":\"guest-file-flush\",\"arguments\":{\"handle\":$h}}" >/dev/null
  qga "$1" "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":$h}}" >/dev/null
}
guest_read() {  # guest_read DOMAIN PATH
  local h out
  h=$(qga "$1" "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"$2\",\"mode\":\"r\"}}" |
    jq -r .return) || { echo "<unreadable>"; return; }
  out=$(qga "$1" "{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":$h,\"count\":4096}}" |
    jq -r '.return["buf-b64"]' | base64 -d)
  qga "$1" "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":$h}}" >/dev/null
  echo "$out"
}
wait_agent_ready() {  # wait_agent_ready VM
  berth wait "vm/$1" --for=condition=AgentReady --timeout=240s >/dev/null ||
    fail "vm/$1: guest agent not ready (phase $(jp vm "$1" '{.status.phase}'))"
  CHECKS=$((CHECKS + 1))
}
wait_op() {  # wait_op KIND NAME PHASE [TIMEOUT]
  berth wait "$1/$2" --for="jsonpath={.status.phase}=$3" --timeout="${4:-300s}" >/dev/null ||
    fail "$1/$2 did not reach $3: $(berth get "$1" "$2" -o json | jq -c '.status')"
  CHECKS=$((CHECKS + 1))
}
# Runs until the operation is Completed or Failed, SIGKILLing the controller once at each step
# the operation passes through (status.step), seen through a watch as soon as it is written.
# The agent is paused (SIGSTOP) from the kill until the next watch is up, so no step that needs
# the node can finish unseen: the restarted controller must pick each step up half-done.
apply_crashing_at_each_step() {  # apply_crashing_at_each_step KIND NAME <MANIFEST
  local seen=" " line phase step agent
  agent=$(cat "$IT_DIR/cluster/run/node-1.pid")
  kill -STOP "$agent"
  berth apply -f - >/dev/null
  while :; do
    phase=$(jp "$1" "$2" '{.status.phase}' 2>/dev/null || true)
    [ "$phase" = Completed ] || [ "$phase" = Failed ] && break
    step=""
    while read -r line; do
      kill -CONT "$agent"  # the watch is up: let the node work again
      phase=${line%%/*} step=${line#*/}
      [ "$phase" = Completed ] || [ "$phase" = Failed ] && break
      [ -n "$step" ] && [[ "$seen" != *" $step "* ]] && break
      step=""
    done < <(berth get "$1" "$2" -w -o $'jsonpath={.status.phase}/{.status.step}\n' 2>/dev/null)
    [ "$phase" = Completed ] || [ "$phase" = Failed ] && break
    [ -n "$step" ] || continue
    seen="$seen$step "
    kill -STOP "$agent"
    cluster crash controller >/dev/null 2>&1 || true
    sleep 1.5
    until berth get node node-1 >/dev/null 2>&1; do sleep 0.2; done
    echo "  $1/$2: controller SIGKILLed at step '$step'"
  done
  kill -CONT "$agent" 2>/dev/null || true
  CRASHED_STEPS=$seen
}
# Node-side volumes must be exactly the VirtualDisks' uids: none duplicated, none leaked.
check_volumes() {
  local want have
  want=$(berth get vd -o json | jq -r '.items[] | select(.status.pool=="reflink") | .metadata.uid' | sort)
  have=$(ls -A "$IT_DIR/cluster/mnt/xfs/node-1/volumes" | grep -v '^\.' | sort)
  expect_eq "node-side volumes are exactly the disks' uids ($1)" "$have" "$want"
}

vm_yaml() { guest_vm_yaml "$1" "$2" "" "${3:-}"; }  # vm_yaml NAME DISK [RUN_POLICY]

# --- 1. restore a running VM whose disk was overwritten after the snapshot ---
bash "$BERTH_SOURCE_DIR/tests/guest/make-data-disk.sh" "$IT_DIR/data.img" 64M
check "upload the ext4 data disk" berth data import upload vd/db-data -f "$IT_DIR/data.img" \
  --storage-class local-reflink >/dev/null
wait_phase vd db-data Ready
vm_yaml db db-data | berth apply -f - >/dev/null
note_uids
wait_phase vm db Running 180s
wait_agent_ready db
DB=$(dom_of db)
guest_write "$DB" /data/marker "snapshot-data"
expect_eq "guest wrote the marker" "$(guest_read "$DB" /data/marker)" "snapshot-data"
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineSnapshot
metadata:
  name: db-snap
spec:
  virtualMachineName: db
  requiredConsistency: true
  keepIPAddress: Always
YAML
wait_phase vmsnapshot db-snap Ready 180s
expect_eq "VM snapshot consistent" "$(jp vmsnapshot db-snap '{.status.consistent}')" true
guest_write "$DB" /data/marker "overwritten-after-snapshot"
expect_eq "marker overwritten after the snapshot" "$(guest_read "$DB" /data/marker)" \
  "overwritten-after-snapshot"
disk_uid=$(jp vd db-data '{.metadata.uid}')
vm_uid=$(jp vm db '{.metadata.uid}')
ip=$(jp vm db '{.status.ipAddress}')
mac=$(jp vm db '{.status.macAddress}')

# The spec's restore example, DryRun first: it reports and changes nothing.
restore_yaml() {  # restore_yaml NAME MODE
  cat <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineOperation
metadata:
  name: $1
spec:
  type: Restore
  virtualMachineName: db
  restore:
    mode: $2
    virtualMachineSnapshotName: db-snap
YAML
}
restore_yaml restore-dry DryRun | berth apply -f - >/dev/null
wait_op vmop restore-dry Completed
expect_eq "DryRun lists the disk" \
  "$(berth get vmop restore-dry -o json | jq -r '.status.resources[] | select(.kind=="VirtualDisk") | .name')" db-data
expect_eq "DryRun left the disk alone" "$(jp vd db-data '{.metadata.uid}')" "$disk_uid"
expect_eq "DryRun left the VM running" "$(jp vm db '{.status.phase}')" Running
berth get vmop restore-dry | head -1 | grep -qE '^NAME +PHASE +TYPE +VIRTUALMACHINE +AGE$' ||
  fail "vmop columns: $(berth get vmop restore-dry | head -1)"
CHECKS=$((CHECKS + 1))

apply_crashing_at_each_step vmop restore-vm < <(restore_yaml restore-vm Strict)
echo "restore: controller killed at steps:$CRASHED_STEPS"
expect_eq "controller killed once at every step of the restore" "$CRASHED_STEPS" " stop disks objects start "
wait_op vmop restore-vm Completed
expect_eq "restore resources all Completed" \
  "$(berth get vmop restore-vm -o json | jq -r '[.status.resources[].status] | unique | join(",")')" Completed
wait_phase vm db Running 180s
wait_agent_ready db
expect_eq "same VM (uid)" "$(jp vm db '{.metadata.uid}')" "$vm_uid"
[ "$(jp vd db-data '{.metadata.uid}')" != "$disk_uid" ] || fail "the disk was not replaced"
CHECKS=$((CHECKS + 1))
expect_eq "restored disk points at the disk snapshot" \
  "$(jp vd db-data '{.spec.dataSource.objectRef.name}')" "db-data-$(jp vmsnapshot db-snap '{.metadata.uid}')"
expect_eq "restored disk stamped with the operation" \
  "$(berth get vd db-data -o json | jq -r '.metadata.annotations["virtualization.deckhouse.io/berth-operation-uid"]')" \
  "$(jp vmop restore-vm '{.metadata.uid}')"
expect_eq "the guest sees the snapshot's data" "$(guest_read "$(dom_of db)" /data/marker)" "snapshot-data"
expect_eq "IP kept" "$(jp vm db '{.status.ipAddress}')" "$ip"
expect_eq "MAC kept" "$(jp vm db '{.status.macAddress}')" "$mac"
expect_eq "one VirtualDisk" "$(berth get vd -o json | jq '.items | length')" 1
check_volumes "after the restore"

# --- 2. clone the running VM with a prefix and a suffix ---
apply_crashing_at_each_step vmop clone-db <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineOperation
metadata:
  name: clone-db
spec:
  type: Clone
  virtualMachineName: db
  clone:
    mode: Strict
    customization:
      namePrefix: c-
      nameSuffix: -x
YAML
echo "clone: controller killed at steps:$CRASHED_STEPS"
expect_eq "controller killed once at every step of the clone" "$CRASHED_STEPS" " snapshot create "
wait_op vmop clone-db Completed
note_uids
wait_phase vm c-db-x Running 180s
wait_agent_ready c-db-x
CLONE=$(dom_of c-db-x)
expect_eq "parent still running" "$(jp vm db '{.status.phase}')" Running
expect_eq "clone disk named with prefix and suffix" "$(jp vd c-db-data-x '{.status.phase}')" Ready
expect_eq "clone has no labels" "$(berth get vm c-db-x -o json | jq -c '.metadata.labels // {}')" "{}"
expect_eq "clone disk keeps the dataSource" \
  "$(jp vd c-db-data-x '{.spec.dataSource.objectRef.kind}')" VirtualDiskSnapshot
[ "$(jp vm c-db-x '{.status.ipAddress}')" != "$(jp vm db '{.status.ipAddress}')" ] ||
  fail "clone and parent share an IP"
CHECKS=$((CHECKS + 1))
cmac=$(jp vm c-db-x '{.status.macAddress}')
[ -n "$cmac" ] && [ "$cmac" != "$(jp vm db '{.status.macAddress}')" ] || fail "clone and parent share a MAC"
CHECKS=$((CHECKS + 1))
expect_eq "clone's domain has the clone's MAC" \
  "$(virsh_ dumpxml "$CLONE" | grep -o "mac address='[^']*'" | head -1 | cut -d"'" -f2)" "$cmac"
expect_eq "the clone sees the parent's data" "$(guest_read "$CLONE" /data/marker)" "snapshot-data"
expect_eq "no temporary VM snapshot remains" \
  "$(berth get vmsnapshot -o json | jq -r '[.items[].metadata.name] | join(",")')" db-snap
berth wait vds --all --for=delete --timeout=60s >/dev/null 2>&1 || true
expect_eq "only db-snap's disk snapshot remains" \
  "$(berth get vds -o json | jq -r '[.items[].metadata.name] | join(",")')" \
  "db-data-$(jp vmsnapshot db-snap '{.metadata.uid}')"
expect_eq "two VMs" "$(berth get vm -o json | jq '.items | length')" 2
check_volumes "after the clone"
berth delete vm c-db-x >/dev/null
berth delete vd c-db-data-x >/dev/null

# --- 3. the spec's YAML examples, on a stopped VM "database" with disk "database-root" ---
disk_yaml database-root local-reflink 64Mi | berth apply -f - >/dev/null
vm_yaml database database-root AlwaysOff | berth apply -f - >/dev/null
note_uids
wait_phase vm database Stopped 120s
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineSnapshot
metadata:
  name: database-snapshot
spec:
  virtualMachineName: database
  requiredConsistency: true
  keepIPAddress: Never
YAML
wait_phase vmsnapshot database-snapshot Ready 120s

# "Restore a virtual machine" (with BestEffort: the modes' other two were run above).
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineOperation
metadata:
  name: restore-vm-example
spec:
  type: Restore
  virtualMachineName: database
  restore:
    mode: BestEffort
    virtualMachineSnapshotName: database-snapshot
YAML
wait_op vmop restore-vm-example Completed
expect_eq "restored VM stays off (AlwaysOff)" "$(jp vm database '{.status.phase}')" Stopped

# "Creating a clone from an existing VM": renaming specific resources.
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineOperation
metadata:
  name: clone-database
spec:
  type: Clone
  virtualMachineName: database
  clone:
    mode: Strict
    nameReplacements:
      - from:
          kind: VirtualMachine
          name: database
        to:
          name: database-clone
      - from:
          kind: VirtualDisk
          name: database-root
        to:
          name: database-clone-root
YAML
wait_op vmop clone-database Completed
wait_phase vd database-clone-root Ready
expect_eq "clone of an AlwaysOff VM stays off" "$(jp vm database-clone '{.spec.runPolicy}')" AlwaysOff
# The same names again: a conflict, reported per resource.
berth delete vmop clone-database >/dev/null
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineOperation
metadata:
  name: clone-database
spec:
  type: Clone
  virtualMachineName: database
  clone:
    mode: DryRun
    nameReplacements:
      - {from: {kind: VirtualMachine, name: database}, to: {name: database-clone}}
      - {from: {kind: VirtualDisk, name: database-root}, to: {name: database-clone-root}}
YAML
wait_op vmop clone-database Failed
conflicts=$(berth get vmop clone-database -o json |
  jq -r '[.status.resources[] | select(.status=="Failed") | .message] | join("; ")')
for want in 'VirtualMachine "database-clone" already exists' \
  'VirtualDisk "database-clone-root" already exists'; do
  [[ "$conflicts" == *"$want"* ]] || fail "DryRun conflicts lack '$want': $conflicts"
  CHECKS=$((CHECKS + 1))
done
berth delete vmop clone-database >/dev/null

# Using a prefix for all resources.
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineOperation
metadata:
  name: clone-database
spec:
  type: Clone
  virtualMachineName: database
  clone:
    mode: Strict
    customization:
      namePrefix: clone-
      nameSuffix: -prod
YAML
wait_op vmop clone-database Completed
expect_eq "VM clone-database-prod" "$(jp vm clone-database-prod '{.metadata.name}')" clone-database-prod
wait_phase vd clone-database-root-prod Ready

# "Creating a clone from a VM snapshot": the same two examples, once the names are free again.
for vm in database-clone clone-database-prod; do berth delete vm "$vm" >/dev/null; done
for vd in database-clone-root clone-database-root-prod; do berth delete vd "$vd" >/dev/null; done
for k in vm/database-clone vm/clone-database-prod vd/database-clone-root vd/clone-database-root-prod; do
  berth wait "$k" --for=delete --timeout=60s >/dev/null 2>&1 || true
done
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineSnapshotOperation
metadata:
  name: clone-database-from-snapshot
spec:
  type: CreateVirtualMachine
  virtualMachineSnapshotName: database-snapshot
  createVirtualMachine:
    mode: Strict
    nameReplacements:
      - from:
          kind: VirtualMachine
          name: database
        to:
          name: database-clone
      - from:
          kind: VirtualDisk
          name: database-root
        to:
          name: database-clone-root
YAML
wait_op vmsop clone-database-from-snapshot Completed
berth get vmsop clone-database-from-snapshot | head -1 |
  grep -qE '^NAME +PHASE +TYPE +VIRTUALMACHINESNAPSHOT +AGE$' ||
  fail "vmsop columns: $(berth get vmsop clone-database-from-snapshot | head -1)"
CHECKS=$((CHECKS + 1))
expect_eq "clone disk from the given snapshot" \
  "$(jp vd database-clone-root '{.spec.dataSource.objectRef.name}')" \
  "database-root-$(jp vmsnapshot database-snapshot '{.metadata.uid}')"
berth delete vmsop clone-database-from-snapshot >/dev/null
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineSnapshotOperation
metadata:
  name: clone-database-from-snapshot
spec:
  type: CreateVirtualMachine
  virtualMachineSnapshotName: database-snapshot
  createVirtualMachine:
    mode: Strict
    customization:
      namePrefix: clone-
      nameSuffix: -prod
YAML
wait_op vmsop clone-database-from-snapshot Completed
wait_phase vd clone-database-root-prod Ready
expect_eq "no snapshot was added" \
  "$(berth get vmsnapshot -o json | jq -r '[.items[].metadata.name] | join(",")')" "database-snapshot,db-snap"
check_volumes "after the examples"
done_ok
