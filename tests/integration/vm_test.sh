#!/usr/bin/env bash
# vm_test: VMs through Berth on real libvirt/QEMU with the test guest (tests/guest), and the
# consistency promise of disk and VM snapshots:
#   1. a VM whose ext4 data disk was uploaded with `berth data import upload` runs, its guest
#      agent answers (AgentReady) and a writer appends sequence-numbered records;
#   2. a VirtualMachineSnapshot is consistent; a disk restored from it is fsck-clean and holds a
#      prefix of the record stream with no torn record;
#   3. a VirtualDiskSnapshot of the running VM's disk is consistent (frozen);
#   4. two VM snapshots at once: exactly one freeze and one thaw reach the guest;
#   5. the agent SIGKILLed while the guest is frozen: the guest is thawed after the supervisor
#      restarts the agent; the controller SIGKILLed mid-snapshot: the guest is thawed and the
#      snapshot still completes;
#   6. a guest without a running guest agent: requiredConsistency true -> Failed
#      PotentiallyInconsistent; false -> Ready with `consistent` unset; VM stopped -> consistent;
#   7. VirtualMachineOperation Stop/Start, and deleting the VM undefines its domain.
source "$(dirname "$0")/lib.sh"

GUEST=$BERTH_BUILD_DIR/guest
bash "$BERTH_SOURCE_DIR/tests/guest/build-guest.sh" "$GUEST" >/dev/null 2>&1 ||
  bash "$BERTH_SOURCE_DIR/tests/guest/build-guest.sh" "$GUEST"
start_cluster 2

dom_of() { echo "berth-default-$1-$(jp vm "$1" '{.metadata.uid}' | cut -c1-8)"; }
guest_fs() {  # the guest's own answer: thawed | frozen | unknown (virsh's error in qga.err)
  local out
  for _ in 1 2 3; do
    if out=$(timeout 15 virsh -c "$(dom_uri "$1")" qemu-agent-command "$1" \
      '{"execute":"guest-fsfreeze-status"}' 2>"$IT_DIR/qga.err"); then
      jq -r '.return' <<<"$out"
      return 0
    fi
    sleep 0.5
  done
  echo "unknown ($(head -c 300 "$IT_DIR/qga.err"))"
}
node_log() { cat "$IT_DIR/cluster/logs/$1.log"; }
count() { node_log "$1" | grep -c "$2" || true; }

# Never leave a guest frozen or a domain defined, whatever happens.
vm_cleanup() {
  cluster kill controller >/dev/null 2>&1 || true  # or it starts AlwaysOn VMs again
  for vm in ${VMS:-}; do
    local d=${DOMS[$vm]:-}
    [ -n "$d" ] || continue
    timeout 10 virsh_ qemu-agent-command "$d" '{"execute":"guest-fsfreeze-thaw"}' >/dev/null 2>&1 || true
    virsh_ destroy "$d" >/dev/null 2>&1 || true
    virsh_ undefine "$d" >/dev/null 2>&1 || true
  done
}
declare -A DOMS
VMS=""
trap 'rc=$?; vm_cleanup; set +e; (exit $rc); cleanup' EXIT

vm_yaml() {  # vm_yaml NAME DISK CMDLINE_EXTRA [RUN_POLICY]: the test guest with cloud-init
  guest_vm_yaml "$1" "$2" "$3" "${4:-AlwaysOn}"
  cat <<YAML
  virtualMachineClassName: generic
  provisioning:
    type: UserData
    userData: |
      #cloud-config
      hostname: $1
YAML
}

wait_agent_ready() {  # wait_agent_ready VM
  berth wait "vm/$1" --for=condition=AgentReady --timeout=180s >/dev/null ||
    fail "vm/$1: guest agent not ready ($(jp vm "$1" '{.status.phase}'))"
  CHECKS=$((CHECKS + 1))
}

# --- 1. a VM on an uploaded ext4 disk ---
bash "$BERTH_SOURCE_DIR/tests/guest/make-data-disk.sh" "$IT_DIR/data.img" 128M
check "upload the ext4 data disk" berth data import upload vd/data -f "$IT_DIR/data.img" \
  --storage-class local-reflink >/dev/null
wait_phase vd data Ready
vm_yaml app data "berth.writer=1 berth.batch=16" | berth apply -f - >/dev/null
check "VirtualMachine accepted" berth get vm app >/dev/null
DOMS[app]=$(dom_of app); VMS="app"
wait_phase vm app Running 120s
wait_agent_ready app
node=$(jp vm app '{.status.node}')
expect_eq "VM runs where its disk is" "$node" "$(jp vd data '{.status.node}')"
expect_eq "block device status" \
  "$(jp vm app '{.status.blockDeviceRefs[0].name} {.status.blockDeviceRefs[0].target} {.status.blockDeviceRefs[0].attached}')" \
  "data vda true"
check "domain defined in libvirt" virsh_ dominfo "${DOMS[app]}" >/dev/null
expect_eq "guest agent channel in the domain" \
  "$(virsh_ dumpxml "${DOMS[app]}" | grep -c "name='org.qemu.guest_agent.0'")" 1
expect_eq "VM got an IP lease" "$(jp vmip app '{.status.virtualMachine}')" app
expect_eq "VM got a MAC lease" "$(jp vm app '{.status.macAddress}')" "$(jp vmmac app '{.status.address}')"
expect_eq "domain MAC is the leased one" \
  "$(virsh_ dumpxml "${DOMS[app]}" | grep -o "mac address='[^']*'" | head -1 | cut -d"'" -f2)" \
  "$(jp vm app '{.status.macAddress}')"
expect_eq "guest thawed" "$(guest_fs "${DOMS[app]}")" thawed
sleep 3  # let the writer write

# --- 2. consistent VM snapshot; a disk restored from it is clean ---
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineSnapshot
metadata:
  name: app-snap
spec:
  virtualMachineName: app
  requiredConsistency: true
  keepIPAddress: Always
YAML
wait_phase vmsnapshot app-snap Ready 120s
expect_eq "VM snapshot consistent" "$(jp vmsnapshot app-snap '{.status.consistent}')" true
expect_eq "guest thawed after the snapshot" "$(guest_fs "${DOMS[app]}")" thawed
uid=$(jp vmsnapshot app-snap '{.metadata.uid}')
expect_eq "disk snapshot named <disk>-<uid>" \
  "$(jp vdsnapshot "data-$uid" '{.status.phase}')" Ready
expect_eq "disk snapshot consistent" "$(jp vdsnapshot "data-$uid" '{.status.consistent}')" true
berth get vmsnapshot app-snap | head -1 | grep -qE '^NAME +PHASE +CONSISTENT +AGE$' ||
  fail "vmsnapshot columns: $(berth get vmsnapshot app-snap | head -1)"
CHECKS=$((CHECKS + 1))
disk_yaml restored local-reflink 128Mi "data-$uid" | berth apply -f - >/dev/null
wait_phase vd restored Ready
img=$(jp vd restored '{.status.path}')
e2fsck -fn "$img" >"$IT_DIR/fsck.log" 2>&1 || { cat "$IT_DIR/fsck.log"; fail "restored disk not fsck-clean"; }
CHECKS=$((CHECKS + 1))
mkdir -p "$IT_DIR/ro"
mount -o loop,ro,noload "$img" "$IT_DIR/ro"
records=$(($(stat -c %s "$IT_DIR/ro/stream") / 64))
bash "$BERTH_SOURCE_DIR/tests/guest/verify-stream.sh" "$IT_DIR/ro/stream" >/dev/null ||
  { umount "$IT_DIR/ro"; fail "stream in the restored disk is torn"; }
umount "$IT_DIR/ro"
[ "$records" -gt 0 ] || fail "restored stream is empty"
CHECKS=$((CHECKS + 1))
echo "restored disk: fsck clean, $records whole records, no torn record"

# Images made from the restored disk and from the disk snapshot hold the same bytes.
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualImage
metadata:
  name: img-from-disk
spec:
  storage: PersistentVolumeClaim
  dataSource:
    type: ObjectRef
    objectRef: {kind: VirtualDisk, name: restored}
---
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: ClusterVirtualImage
metadata:
  name: cvi-from-snap-$IT_PORT
spec:
  dataSource:
    type: ObjectRef
    objectRef: {kind: VirtualDiskSnapshot, name: data-$uid, namespace: default}
YAML
wait_phase vi img-from-disk Ready
wait_phase cvi "cvi-from-snap-$IT_PORT" Ready
want=$(sha256sum <"$img" | cut -d' ' -f1)
expect_eq "image from a disk: same bytes" \
  "$(sha256sum <"$(jp vi img-from-disk '{.status.path}')" | cut -d' ' -f1)" "$want"
expect_eq "cluster image from a snapshot: same bytes" \
  "$(sha256sum <"$(jp cvi "cvi-from-snap-$IT_PORT" '{.status.path}')" | cut -d' ' -f1)" \
  "$(sha256sum <"$(jp vdsnapshot "data-$uid" '{.status.path}')" | cut -d' ' -f1)"

# --- 3. disk snapshot of the running VM's disk ---
snapshot_yaml data-live data true | berth apply -f - >/dev/null
wait_phase vdsnapshot data-live Ready
expect_eq "VDS of a running VM's disk is consistent" \
  "$(jp vdsnapshot data-live '{.status.consistent}')" true

# Restart the VM's agent so that each freeze is held 3 s (a window to act in).
cmdf="$IT_DIR/cluster/run/$node.cmd"
cp "$cmdf" "$IT_DIR/cmd.orig"
echo "$(cat "$cmdf") --debug_hold_freeze_ms=3000 --auto_thaw_seconds=10" >"$cmdf"
cluster stop "$node" >/dev/null
cluster start "$node" >/dev/null
berth wait "node/$node" --for=condition=Ready --timeout=60s >/dev/null || fail "$node not Ready"

# --- 4. two VM snapshots at once share one freeze ---
f0=$(count "$node" "sent guest-fsfreeze-freeze to ${DOMS[app]}")
t0=$(count "$node" "sent guest-fsfreeze-thaw to ${DOMS[app]}")
for s in c1 c2; do
  cat <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineSnapshot
metadata:
  name: app-$s
spec:
  virtualMachineName: app
  requiredConsistency: true
  keepIPAddress: Never
---
YAML
done | berth apply -f - >/dev/null
wait_phase vmsnapshot app-c1 Ready 120s
wait_phase vmsnapshot app-c2 Ready 120s
expect_eq "concurrent snapshots: freezes sent" \
  "$(($(count "$node" "sent guest-fsfreeze-freeze to ${DOMS[app]}") - f0))" 1
expect_eq "concurrent snapshots: thaws sent" \
  "$(($(count "$node" "sent guest-fsfreeze-thaw to ${DOMS[app]}") - t0))" 1
expect_eq "guest thawed after both" "$(guest_fs "${DOMS[app]}")" thawed

wait_frozen() {  # wait_frozen DOMAIN: until the guest itself says frozen
  for _ in $(seq 1 100); do
    [ "$(guest_fs "$1")" == frozen ] && return 0
    sleep 0.1
  done
  fail "$1 never froze"
}
wait_thawed() {  # wait_thawed DOMAIN SECONDS: prints how long it took
  local t0; t0=$(date +%s.%N)
  for _ in $(seq 1 $(($2 * 5))); do
    if [ "$(guest_fs "$1")" == thawed ]; then
      awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f\n", a - b }'
      return 0
    fi
    sleep 0.2
  done
  fail "$1 still frozen after $2 s"
}

# --- 5a. agent SIGKILLed while the guest is frozen ---
snapshot_yaml data-agentkill data true | berth apply -f - >/dev/null
wait_frozen "${DOMS[app]}"
cluster crash "$node" >/dev/null
took=$(wait_thawed "${DOMS[app]}" 20)
CHECKS=$((CHECKS + 1))
echo "agent SIGKILLed while frozen: guest thawed ${took}s later (supervisor restart + journal)"
node_log "$node" | grep -q "thaw" || fail "restarted agent logged no thaw"
wait_phase vdsnapshot data-agentkill Ready 120s
expect_eq "snapshot after the agent crash is consistent" \
  "$(jp vdsnapshot data-agentkill '{.status.consistent}')" true

# --- 5b. controller SIGKILLed mid-snapshot ---
snapshot_yaml data-ctlkill data true | berth apply -f - >/dev/null
wait_frozen "${DOMS[app]}"
cluster kill controller >/dev/null
took=$(wait_thawed "${DOMS[app]}" 20)
CHECKS=$((CHECKS + 1))
echo "controller SIGKILLed while frozen: guest thawed ${took}s later"
cluster start controller >/dev/null
wait_phase vdsnapshot data-ctlkill Ready 120s
expect_eq "snapshot after the controller crash is consistent" \
  "$(jp vdsnapshot data-ctlkill '{.status.consistent}')" true
cp "$IT_DIR/cmd.orig" "$cmdf"
cluster stop "$node" >/dev/null
cluster start "$node" >/dev/null

# --- 6. a guest whose agent is not running ---
bash "$BERTH_SOURCE_DIR/tests/guest/make-data-disk.sh" "$IT_DIR/quiet.img" 64M
berth data import upload vd/quiet -f "$IT_DIR/quiet.img" --storage-class local-reflink >/dev/null
wait_phase vd quiet Ready
vm_yaml noagent quiet "berth.noagent=1" AlwaysOnUnlessStoppedManually | berth apply -f - >/dev/null
DOMS[noagent]=$(dom_of noagent); VMS="app noagent"
wait_phase vm noagent Running 120s
sleep 5
expect_eq "AgentReady False without a guest agent" \
  "$(jp vm noagent '{.status.conditions[?(@.type=="AgentReady")].status}')" False
snapshot_yaml quiet-strict quiet true | berth apply -f - >/dev/null
wait_phase vdsnapshot quiet-strict Failed
expect_eq "reason" "$(jp vdsnapshot quiet-strict '{.status.conditions[0].reason}')" \
  PotentiallyInconsistent
jp vdsnapshot quiet-strict '{.status.conditions[0].message}' | grep -qi "guest agent" ||
  fail "message does not name the guest agent: $(jp vdsnapshot quiet-strict '{.status.conditions[0].message}')"
CHECKS=$((CHECKS + 1))
snapshot_yaml quiet-loose quiet false | berth apply -f - >/dev/null
wait_phase vdsnapshot quiet-loose Ready
expect_eq "requiredConsistency false: consistent unset" \
  "$(jp vdsnapshot quiet-loose '{.status.consistent}')" ""

# --- 7. operations: Stop, snapshot of a stopped VM, Start; delete ---
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineOperation
metadata:
  name: stop-noagent
spec:
  type: Stop
  virtualMachineName: noagent
  force: true
YAML
wait_phase vmop stop-noagent Completed 120s
wait_phase vm noagent Stopped 60s
expect_eq "domain shut off" "$(virsh_ domstate "${DOMS[noagent]}" | head -1)" "shut off"
snapshot_yaml quiet-stopped quiet true | berth apply -f - >/dev/null
wait_phase vdsnapshot quiet-stopped Ready
expect_eq "snapshot of a stopped VM's disk is consistent" \
  "$(jp vdsnapshot quiet-stopped '{.status.consistent}')" true
# While its disk is being exported, the VM waits to start and says so.
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: DataExport
metadata:
  name: export-quiet
spec:
  targetRef: {kind: VirtualDisk, name: quiet}
  ttl: 10m
YAML
wait_phase dataexport export-quiet Ready 60s
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineOperation
metadata:
  name: start-noagent
spec:
  type: Start
  virtualMachineName: noagent
YAML
berth wait vm/noagent \
  --for='jsonpath={.status.conditions[?(@.type=="BlockDevicesReady")].reason}=DiskExportInProgress' \
  --timeout=60s >/dev/null || fail "VM did not wait for the export of its disk"
CHECKS=$((CHECKS + 1))
sleep 3
expect_eq "VM still stopped during the export" "$(virsh_ domstate "${DOMS[noagent]}" | head -1)" "shut off"
check "delete the export" berth delete dataexport export-quiet >/dev/null
wait_phase vmop start-noagent Completed 120s
wait_phase vm noagent Running 60s
check "delete the VM" berth delete vm noagent >/dev/null
for _ in $(seq 1 100); do berth get vm noagent >/dev/null 2>&1 || break; sleep 0.3; done
berth get vm noagent >/dev/null 2>&1 && fail "vm/noagent still exists"
virsh_ dominfo "${DOMS[noagent]}" >/dev/null 2>&1 && fail "domain of a deleted VM still defined"
CHECKS=$((CHECKS + 1))
expect_eq "app guest still thawed at the end" "$(guest_fs "${DOMS[app]}")" thawed
done_ok
