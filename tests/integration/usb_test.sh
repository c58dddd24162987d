#!/usr/bin/env bash
# usb_test: the spec's USB Quick Start on a two-node local cluster whose agents run inside
# umockdev testbeds (mocked USB devices with real uevents, a testbed vhci_hcd sysfs):
#   1. a device plugged on the device node appears as a NodeUSBDevice with its attributes
#      (NAME NODE READY ASSIGNED NAMESPACE AGE), under a stable name;
#   2. Debian's `usbip list -r` against the agent's opt-in Linux port lists only assigned
#      devices;
#   3. assignment creates the USBDevice in my-project (NAME NODE MANUFACTURER PRODUCT SERIAL
#      ATTACHED AGE; ids with -o wide);
#   4. a running VM on the other node attaches it over USB/IP (real import from the other
#      agent, a vhci port of the right hub) and lists it attached with an address;
#   5. unplug flips Ready to False/NotFound and Attached to False on both objects and the VM;
#      re-plug into the same port restores it under the same name; an agent restart keeps the
#      name and creates no duplicate;
#   6. port accounting: 8 USB 2.0 devices fill the high-speed hub; a 9th USB 2.0 device gets
#      NoFreeUSBIPPort although super-speed ports are free; 8 USB 3 devices fill the
#      super-speed hub; the 17th device gets NoFreeUSBIPPort;
#   7. bad input is refused with a clear message.
# With the cluster on mutual TLS (lib.sh) the import between agents runs inside TLS (agent
# certificates, group berth:agents) and a plain `usbip` client gets nothing from that port; the
# opt-in Linux port logs a warning that it has no authentication or encryption.
# Guests get no hostdev here (--usb_guest_attach=none): the testbed vhci does not enumerate
# devices, so the chain stops at the VM node's vhci port.
source "$(dirname "$0")/lib.sh"

TESTBED=$BERTH_BUILD_DIR/tests/unit/usb/berth-usb-testbed
[ -x "$TESTBED" ] || fail "build berth-usb-testbed first"
command -v usbip >/dev/null || fail "usbip is not installed (scripts/setup)"
export BERTH_AGENT_WRAPPER="$TESTBED --dir {dir}/usb/{node} --vhci --"
export BERTH_AGENT_FLAGS="--usbip_linux_listen=127.0.0.1:{usbip_port} \
--vhci_dir=/sys/devices/vhci_hcd.0 --usb_guest_attach=none"
start_cluster 2
USB=$IT_DIR/cluster/usb

# shellcheck source=tests/integration/usb_lib.sh
source "$BERTH_SOURCE_DIR/tests/integration/usb_lib.sh"
# `cluster down` (in cleanup) stops the controller first (it would start AlwaysOn VMs again),
# then destroys and undefines every domain on each node's libvirtd.
trap 'rc=$?; [ $rc -ne 0 ] && tail -n 5 "${USB:-/nonexistent}"/*/log 2>/dev/null; set +e; (exit $rc); cleanup' EXIT

# --- 1. discovery -----------------------------------------------------------------------------
# The VMs' disks decide their node: make five, run the VMs on a node holding three of them and
# plug the devices into the other node.
for k in 1 2 3 4 5; do disk "root$k" my-project; done
declare -A on
for k in 1 2 3 4 5; do
  n=$(berth get vd "root$k" -n my-project -o 'jsonpath={.status.node}')
  on[$n]="${on[$n]:-} root$k"
done
VM_NODE=node-1
[ "$(wc -w <<<"${on[node-2]:-}")" -ge 3 ] && VM_NODE=node-2
read -r ROOT ROOT2 ROOT3 _ <<<"${on[$VM_NODE]}"
[ -n "${ROOT3:-}" ] || fail "no node holds three disks (${on[*]})"
DEV_NODE=node-1
[ "$VM_NODE" == node-1 ] && DEV_NODE=node-2
DEV_I=${DEV_NODE#node-}
LINUX_PORT=$((IT_PORT + 100 + DEV_I))

plug "$DEV_NODE" 1-2 046d 082d 480 ABC123456
CAM=$(wait_name 1-2 "$DEV_NODE")
check "stable name shape ($CAM)" grep -Eq '^usb-046d-082d-[0-9a-f]{10}$' <<<"$CAM"
wait_cond nodeusbdevice "$CAM" "" Ready True/Ready
expect_eq "vendorID" "$(jp nodeusbdevice "$CAM" '{.status.attributes.vendorID}')" 046d
expect_eq "productID" "$(jp nodeusbdevice "$CAM" '{.status.attributes.productID}')" 082d
expect_eq "serial" "$(jp nodeusbdevice "$CAM" '{.status.attributes.serial}')" ABC123456
expect_eq "manufacturer" "$(jp nodeusbdevice "$CAM" '{.status.attributes.manufacturer}')" Logitech
expect_eq "product" "$(jp nodeusbdevice "$CAM" '{.status.attributes.product}')" "Webcam C920"
expect_eq "bus" "$(jp nodeusbdevice "$CAM" '{.status.attributes.bus}')" 1
expect_eq "speed" "$(jp nodeusbdevice "$CAM" '{.status.attributes.speed}')" 480
expect_eq "major" "$(jp nodeusbdevice "$CAM" '{.status.attributes.major}')" 189
expect_eq "node" "$(jp nodeusbdevice "$CAM" '{.status.nodeName}')" "$DEV_NODE"
wait_cond nodeusbdevice "$CAM" "" Assigned False/Available
header=$(berth get nodeusbdevice | head -1 | tr -s ' ')
expect_eq "nodeusbdevice columns" "$header" "NAME NODE READY ASSIGNED NAMESPACE AGE"
row=$(berth get nodeusbdevice "$CAM" | tail -1 | tr -s ' ' | cut -d' ' -f1-4)
expect_eq "nodeusbdevice row" "$row" "$CAM $DEV_NODE True False"

# --- 2. usbip list: only assigned devices are exported ------------------------------------------
out=$(usbip --tcp-port "$LINUX_PORT" list -r 127.0.0.1 2>&1 || true)
check "usbip list before assignment: nothing exported ($out)" grep -q "no exportable devices" <<<"$out"
DEV_LOG=$IT_DIR/cluster/logs/$DEV_NODE.log
check "the opt-in Linux port logs that it is unauthenticated" \
  grep -q " W agent: --usbip_linux_listen: .*no authentication and no encryption" "$DEV_LOG"
if [ -n "${BERTH_TLS_DIR:-}" ]; then
  # The agents' own USB/IP port is mutual TLS: the plain Linux client gets nothing from it.
  PEER_PORT=$(grep -o 'USB/IP on [^,]*' "$DEV_LOG" | tail -n 1 | sed 's/.*://')
  out=$(timeout 20 usbip --tcp-port "$PEER_PORT" list -r 127.0.0.1 2>&1 || true)
  check "plain usbip against the agents' TLS port is refused ($out)" \
    bash -c "! grep -q 'no exportable devices\|1-2:' <<<'$out'"
  check "the agent logged the refused plaintext peer" grep -q "usbip: refused a TLS connection" "$DEV_LOG"
fi

# --- 3. assignment ------------------------------------------------------------------------------
assign "$CAM" my-project
wait_cond nodeusbdevice "$CAM" "" Assigned True/Assigned
wait_cond usbdevice "$CAM" my-project Ready True/Ready
wait_cond usbdevice "$CAM" my-project Attached False/Available
header=$(berth get usbdevice -n my-project | head -1 | tr -s ' ')
expect_eq "usbdevice columns" "$header" "NAME NODE MANUFACTURER PRODUCT SERIAL ATTACHED AGE"
row=$(berth get usbdevice "$CAM" -n my-project | tail -1 | tr -s ' ' | cut -d' ' -f1-7)
expect_eq "usbdevice row" "$row" "$CAM $DEV_NODE Logitech Webcam C920 ABC123456 False"
wide=$(berth get usbdevice "$CAM" -n my-project -o wide | head -1)
check "usbdevice -o wide shows ids ($wide)" grep -q "VENDORID.*PRODUCTID.*BUS" <<<"$wide"
row=$(berth get nodeusbdevice "$CAM" | tail -1 | tr -s ' ' | cut -d' ' -f1-5)
expect_eq "nodeusbdevice row after assignment" "$row" "$CAM $DEV_NODE True True my-project"
tries=0
until out=$(usbip --tcp-port "$LINUX_PORT" list -r 127.0.0.1 2>&1) && grep -q "1-2:" <<<"$out" ||
  [ $tries -gt 50 ]; do tries=$((tries + 1)); sleep 0.2; done
check "usbip list shows the assigned device with its ids ($out)" grep -q "1-2:.*(046d:082d)" <<<"$out"
check "usbip list shows its sysfs path" grep -q ": /sys/devices/usb1/1-2" <<<"$out"
check "usbip list shows the interface class" grep -q "0 - .*(03/00/00)" <<<"$out"

# --- 4. a VM on the other node attaches it over USB/IP ----------------------------------------
vm_yaml linux-vm my-project "$ROOT" "$CAM" | berth apply -f - >/dev/null
berth wait vm/linux-vm -n my-project --for="jsonpath={.status.phase}=Running" --timeout=180s \
  >/dev/null || fail "linux-vm not Running ($(berth get vm linux-vm -n my-project -o json | jq -c .status))"
wait_entry linux-vm my-project "$CAM" '.attached == true and .ready == true and .hotplugged == true'
entry=$(vm_entry linux-vm my-project "$CAM")
expect_eq "attached over USB/IP" "$(jq -r .mode <<<"$entry")" usbip
expect_eq "address port (first high-speed vhci port)" "$(jq -r .address.port <<<"$entry")" 1
check "address has a bus" bash -c "jq -e '.address | has(\"bus\")' >/dev/null <<<'$entry'"
wait_cond nodeusbdevice "$CAM" "" Attached True/AttachedToVirtualMachine
wait_cond usbdevice "$CAM" my-project Attached True/AttachedToVirtualMachine
row=$(berth get usbdevice "$CAM" -n my-project | tail -1 | tr -s ' ' | cut -d' ' -f7)
expect_eq "ATTACHED column" "$row" True
check "the VM node wrote the vhci attach (port 0)" grep -q '^0 ' \
  "$(cat "$USB/$VM_NODE/root")/sys/devices/vhci_hcd.0/attach"
check "the device node handed the socket to usbip-host" test -n \
  "$(cat "$(cat "$USB/$DEV_NODE/root")/sys/devices/usb1/1-2/usbip_sockfd")"
if [ -n "${BERTH_TLS_DIR:-}" ]; then
  check "the import was not refused (agent certificates, group berth:agents)" \
    bash -c "! grep -q 'certificate .* is not in group' '$DEV_LOG'"
fi

# --- 5. unplug, re-plug, agent restart --------------------------------------------------------
unplug "$DEV_NODE" 1-2
wait_cond nodeusbdevice "$CAM" "" Ready False/NotFound
wait_cond nodeusbdevice "$CAM" "" Attached False/Available
wait_cond usbdevice "$CAM" my-project Ready False/NotFound
wait_cond usbdevice "$CAM" my-project Attached False/Available
wait_entry linux-vm my-project "$CAM" '.attached == false and .ready == false'
check "the VM node released the vhci port" grep -q '^0$' \
  "$(cat "$USB/$VM_NODE/root")/sys/devices/vhci_hcd.0/detach"

plug "$DEV_NODE" 1-2 046d 082d 480 ABC123456
wait_cond nodeusbdevice "$CAM" "" Ready True/Ready
expect_eq "same name after re-plug" "$(name_of 1-2 "$DEV_NODE")" "$CAM"
wait_entry linux-vm my-project "$CAM" '.attached == true'

cluster crash "$DEV_NODE" >/dev/null
sleep 3
berth wait "node/$DEV_NODE" --for=condition=Ready --timeout=60s >/dev/null || fail "node back"
wait_cond nodeusbdevice "$CAM" "" Ready True/Ready
expect_eq "one NodeUSBDevice after the agent restart" \
  "$(berth get nodeusbdevice -o json | jq '[.items[] | select(.status.busID=="1-2")] | length')" 1

# --- 6. port accounting on the VM node --------------------------------------------------------
hs=() ss=()
for k in $(seq 3 10); do plug "$DEV_NODE" "1-$k" 1209 "00$((k + 10))" 480 "HS$k" "Stick $k"; done
for k in $(seq 11 18); do plug "$DEV_NODE" "1-$k" 1209 "00$((k + 10))" 5000 "SS$k" "Disk $k"; done
plug "$DEV_NODE" 1-19 1209 0099 480 HS19 "Stick 19"
plug "$DEV_NODE" 1-20 1209 0098 5000 SS20 "Disk 20"
for k in $(seq 3 10); do hs+=("$(wait_name "1-$k" "$DEV_NODE")"); done
for k in $(seq 11 18); do ss+=("$(wait_name "1-$k" "$DEV_NODE")"); done
HS9=$(wait_name 1-19 "$DEV_NODE")
SS9=$(wait_name 1-20 "$DEV_NODE")
for d in "${hs[@]:1}" "${ss[@]}" "$HS9" "$SS9"; do assign "$d" my-project; done
# linux-vm holds the webcam (hs port 0) plus 7 USB 2.0 sticks: the high-speed hub is full.
vm_yaml linux-vm my-project "$ROOT" "$CAM" "${hs[@]:1}" | berth apply -f - >/dev/null
for d in "${hs[@]:1}"; do wait_entry linux-vm my-project "$d" '.attached == true'; done
vm_yaml vm-ss my-project "$ROOT2" "${ss[@]}" | berth apply -f - >/dev/null
vm_yaml vm-extra my-project "$ROOT3" "$HS9" | berth apply -f - >/dev/null
for d in "${ss[@]}"; do wait_entry vm-ss my-project "$d" '.attached == true'; done
wait_entry vm-extra my-project "$HS9" '.attached == false and .reason == "NoFreeUSBIPPort"'
wait_cond nodeusbdevice "$HS9" "" Attached False/NoFreeUSBIPPort
msg=$(vm_entry vm-extra my-project "$HS9" | jq -r .message)
check "a USB 2.0 device is refused although super-speed ports exist ($msg)" \
  grep -q "high-speed (USB 2.0)" <<<"$msg"
# The 17th device: a super-speed one, with every port of both hubs taken.
vm_yaml vm-extra my-project "$ROOT3" "$SS9" | berth apply -f - >/dev/null
wait_entry vm-extra my-project "$SS9" '.attached == false and .reason == "NoFreeUSBIPPort"'
ports=$(cut -d' ' -f1 <"$(cat "$USB/$VM_NODE/root")/sys/devices/vhci_hcd.0/attach")
check "super-speed devices took ports 8-15 (last: $ports)" test "$ports" -ge 8
# Hot-unplug one high-speed device: its port frees and the waiting USB 2.0 device gets it.
vm_yaml linux-vm my-project "$ROOT" "$CAM" "${hs[@]:2}" | berth apply -f - >/dev/null
vm_yaml vm-extra my-project "$ROOT3" "$HS9" | berth apply -f - >/dev/null
wait_entry vm-extra my-project "$HS9" '.attached == true'

# --- 7. bad input -----------------------------------------------------------------------------
out=$(assign "$CAM" "Not_A_Namespace" 2>&1 || true)
check "bad namespace refused ($out)" grep -q "spec.assignedNamespace" <<<"$out"
out=$(printf 'apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: USBDevice\nmetadata: {name: x, namespace: my-project}\nspec: {foo: 1}\n' | berth apply -f - 2>&1 || true)
check "USBDevice with a spec refused ($out)" grep -q "status-only" <<<"$out"
out=$(vm_yaml too-many my-project "$ROOT" a b c d e f g h i | berth apply -f - 2>&1 || true)
check "nine usbDevices refused ($out)" grep -q "usbDevices" <<<"$out"
out=$( (ctl "$DEV_NODE" "bogus line") 2>&1 || true)
check "the testbed refuses a bad command ($out)" grep -q "refused" <<<"$out"

done_ok
