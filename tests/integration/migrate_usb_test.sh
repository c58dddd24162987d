#!/usr/bin/env bash
# migrate_usb_test: live migration of a VM holding two USB devices, one on its node and one on
# the other (umockdev testbeds as in usb_test.sh, guests without hostdevs: the chain ends at the
# VM node's vhci port). While the VM moves, both entries (and the USBDevices' Attached
# condition) say DetachedForMigration; after the move each is attached on the target node, the
# one that was local now over USB/IP and the remote one now local; a migration aborted at its
# deadline puts them back on the source; a migration to a node whose USB/IP ports are all taken
# moves the guest all the same, the remote device then reporting NoFreeUSBIPPort.
source "$(dirname "$0")/lib.sh"

TESTBED=$BERTH_BUILD_DIR/tests/unit/usb/berth-usb-testbed
[ -x "$TESTBED" ] || fail "build berth-usb-testbed first"
export BERTH_AGENT_WRAPPER="$TESTBED --dir {dir}/usb/{node} --vhci --"
export BERTH_AGENT_FLAGS="--vhci_dir=/sys/devices/vhci_hcd.0 --usb_guest_attach=none"
GUEST=$BERTH_BUILD_DIR/guest  # the test guest (cached; built once)
bash "$BERTH_SOURCE_DIR/tests/guest/build-guest.sh" "$GUEST" >/dev/null 2>&1 ||
  bash "$BERTH_SOURCE_DIR/tests/guest/build-guest.sh" "$GUEST"
start_cluster 2
USB=$IT_DIR/cluster/usb
CHECKS=0
trap 'rc=$?; [ $rc -ne 0 ] && tail -n 5 "${USB:-/nonexistent}"/*/log 2>/dev/null; set +e; (exit $rc); cleanup' EXIT

# shellcheck source=tests/integration/usb_lib.sh
source "$BERTH_SOURCE_DIR/tests/integration/usb_lib.sh"
other() { if [ "$1" = node-1 ]; then echo node-2; else echo node-1; fi; }
migrate() { migrate_yaml "$1" mover my-project "${2:-}" | berth apply -f - >/dev/null; }  # OP [SPEC]
# watch_states OP FILE: records every entry state and USBDevice Attached reason until OP ends.
watch_states() {
  local phase=""
  until [ "$phase" = Completed ] || [ "$phase" = Failed ]; do
    berth get vm mover -n my-project -o json |
      jq -r '.status.usbDevices[]? | "\(.name) \(.state) \(.reason)"' >>"$2" 2>/dev/null || true
    for d in "$LOCAL" "$REMOTE"; do
      echo "$d usbdevice $(cond usbdevice "$d" my-project Attached)" >>"$2"
    done
    phase=$(berth get vmop "$1" -n my-project -o 'jsonpath={.status.phase}' 2>/dev/null || true)
    sleep 0.1
  done
}
seen() { grep -c "^$2 $3" "$1" || true; }  # seen FILE DEVICE WHAT

cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata: {name: root, namespace: my-project}
spec:
  persistentVolumeClaim: {size: 256Mi, storageClassName: local-reflink}
YAML
berth wait vd/root -n my-project --for="jsonpath={.status.phase}=Ready" --timeout=60s >/dev/null ||
  fail "disk root not Ready"
A=$(berth get vd root -n my-project -o 'jsonpath={.status.node}') B=$(other "$A")
plug "$A" 1-1 046d 082d 480 LOCAL0001 "Local Cam"
plug "$B" 1-2 046d 0825 480 REMOTE001 "Remote Cam"
LOCAL=$(wait_name 1-1 "$A") REMOTE=$(wait_name 1-2 "$B")
assign "$LOCAL" my-project
assign "$REMOTE" my-project
wait_cond usbdevice "$LOCAL" my-project Ready True/Ready
wait_cond usbdevice "$REMOTE" my-project Ready True/Ready
# The test guest (256 MiB, a 256 MiB disk): its migration takes seconds under TCG, so a 1 s
# deadline fails it after the devices were detached.
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata:
  name: mover
  namespace: my-project
  annotations:
    virtualization.deckhouse.io/berth-kernel: $BERTH_BUILD_DIR/guest/vmlinuz
    virtualization.deckhouse.io/berth-initrd: $BERTH_BUILD_DIR/guest/initrd.img
    virtualization.deckhouse.io/berth-cmdline: "console=ttyS0 quiet"
spec:
  runPolicy: AlwaysOn
  virtualMachineClassName: generic
  cpu: {cores: 1}
  memory: {size: 256Mi}
  blockDeviceRefs:
    - {kind: VirtualDisk, name: root}
  usbDevices:
    - {name: $LOCAL}
    - {name: $REMOTE}
YAML
berth wait vm/mover -n my-project --for="jsonpath={.status.phase}=Running" --timeout=180s \
  >/dev/null || fail "mover not Running"
wait_entry mover my-project "$LOCAL" ".attached == true and .attachmentNode == \"$A\""
wait_entry mover my-project "$REMOTE" ".attached == true and .attachmentNode == \"$A\" and .mode == \"usbip\""
echo "VM mover on $A: $LOCAL local, $REMOTE from $B"

# --- 1. migrate A -> B: detached for the move, attached on B after it ---
migrate to-b
watch_states to-b "$IT_DIR/to-b.states"
expect_eq "migration completed" "$(berth get vmop to-b -n my-project -o 'jsonpath={.status.phase}')" Completed
expect_eq "VM on $B" "$(berth get vm mover -n my-project -o 'jsonpath={.status.node}')" "$B"
for d in "$LOCAL" "$REMOTE"; do
  [ "$(seen "$IT_DIR/to-b.states" "$d" "detachedForMigration DetachedForMigration")" -gt 0 ] ||
    [ "$(seen "$IT_DIR/to-b.states" "$d" "DetachedForMigration DetachedForMigration")" -gt 0 ] ||
    { sort -u "$IT_DIR/to-b.states"; fail "$d: the VM entry never said DetachedForMigration"; }
  CHECKS=$((CHECKS + 1))
  [ "$(seen "$IT_DIR/to-b.states" "$d" "usbdevice False/DetachedForMigration")" -gt 0 ] ||
    { sort -u "$IT_DIR/to-b.states"; fail "$d: USBDevice Attached never False/DetachedForMigration"; }
  CHECKS=$((CHECKS + 1))
done
wait_entry mover my-project "$LOCAL" ".attached == true and .attachmentNode == \"$B\" and .mode == \"usbip\""
wait_entry mover my-project "$REMOTE" ".attached == true and .attachmentNode == \"$B\""
wait_cond usbdevice "$LOCAL" my-project Attached True/AttachedToVirtualMachine
wait_cond usbdevice "$REMOTE" my-project Attached True/AttachedToVirtualMachine
expect_eq "usbMigration Completed" \
  "$(berth get vm mover -n my-project -o 'jsonpath={.status.usbMigration.phase}')" Completed

# --- 2. a failed migration puts them back on the source ---
# The source's migration bandwidth capped at 1 MiB/s (libvirt's migrate-setspeed, which the
# next migration uses): hundreds of MiB cannot move in the 1 s deadline.
DOM=$(node_virsh "$B" list --name | grep -- "-mover-")
check "cap the migration bandwidth of $DOM" node_virsh "$B" migrate-setspeed "$DOM" --bandwidth 1
migrate too-slow "    timeoutSeconds: 1"
watch_states too-slow "$IT_DIR/fail.states"
expect_eq "migration failed" "$(berth get vmop too-slow -n my-project -o 'jsonpath={.status.phase}')" Failed
expect_eq "reason" "$(berth get vmop too-slow -n my-project -o 'jsonpath={.status.conditions[?(@.type=="Completed")].reason}')" MigrationTimedOut
expect_eq "VM still on $B" "$(berth get vm mover -n my-project -o 'jsonpath={.status.node}')" "$B"
for d in "$LOCAL" "$REMOTE"; do
  { [ "$(seen "$IT_DIR/fail.states" "$d" "detachedForMigration")" -gt 0 ] ||
    [ "$(seen "$IT_DIR/fail.states" "$d" "DetachedForMigration")" -gt 0 ]; } ||
    { sort -u "$IT_DIR/fail.states"; fail "$d: not detached for the failed migration"; }
  CHECKS=$((CHECKS + 1))
done
wait_entry mover my-project "$LOCAL" ".attached == true and .attachmentNode == \"$B\""
wait_entry mover my-project "$REMOTE" ".attached == true and .attachmentNode == \"$B\""
expect_eq "usbMigration Failed" \
  "$(berth get vm mover -n my-project -o 'jsonpath={.status.usbMigration.phase}')" Failed

# --- 3. the target has no free USB/IP port: the guest moves, the remote device waits ---
# A filler VM on A holds 8 USB 2.0 devices of B: A's high-speed vhci hub is full. mover (on B)
# then migrates to A: LOCAL (on A) attaches locally, REMOTE (on B) finds no port.
check "cordon $B" berth node cordon "$B"
disk filler-root my-project
check "uncordon $B" berth node uncordon "$B"
fill=()
for k in $(seq 3 10); do plug "$B" "1-$k" 1209 "00$((k + 10))" 480 "FILL$k" "Stick $k"; done
for k in $(seq 3 10); do fill+=("$(wait_name "1-$k" "$B")"); done
for d in "${fill[@]}"; do assign "$d" my-project; done
for d in "${fill[@]}"; do wait_cond usbdevice "$d" my-project Ready True/Ready; done
vm_yaml filler my-project filler-root "${fill[@]}" | berth apply -f - >/dev/null
for d in "${fill[@]}"; do wait_entry filler my-project "$d" ".attached == true and .attachmentNode == \"$A\""; done
check "lift the bandwidth cap" node_virsh "$B" migrate-setspeed "$DOM" --bandwidth 100000
migrate to-full
watch_states to-full "$IT_DIR/full.states"
expect_eq "migration to the full node completed" \
  "$(berth get vmop to-full -n my-project -o 'jsonpath={.status.phase}')" Completed
expect_eq "mover on $A" "$(berth get vm mover -n my-project -o 'jsonpath={.status.node}')" "$A"
expect_eq "the guest runs on $A only" "$(node_virsh "$B" list --name | grep -c -- "-mover-" || true)" 0
wait_entry mover my-project "$LOCAL" ".attached == true and .attachmentNode == \"$A\""
wait_entry mover my-project "$REMOTE" '.attached == false and .reason == "NoFreeUSBIPPort"'
wait_cond usbdevice "$REMOTE" my-project Attached False/NoFreeUSBIPPort
done_ok
