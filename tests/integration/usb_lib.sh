# shellcheck shell=bash
# USB testbed helpers shared by usb_test.sh and migrate_usb_test.sh: the agents run inside
# umockdev testbeds (berth-usb-testbed) under $USB/NODE; these plug and unplug devices there and
# read and wait for the resulting objects. Source after lib.sh, with USB set.
ctl() {  # ctl NODE LINE: one testbed command, waiting for its acknowledgement
  local log="$USB/$1/log" before=0 tries=0
  [ -f "$log" ] && before=$(wc -l <"$log")
  printf '%s\n' "$2" >"$USB/$1/ctl"
  until [ -f "$log" ] && [ "$(wc -l <"$log")" -gt "$before" ] || [ $tries -gt 100 ]; do
    tries=$((tries + 1)); sleep 0.05
  done
  tail -n 1 "$log" | grep -q '^ok ' || fail "testbed on $1 refused '$2': $(tail -n 1 "$log" 2>&1)"
}
plug() {  # plug NODE BUSID VID PID SPEED SERIAL [PRODUCT]
  ctl "$1" "$(printf 'add\t%s\t%s\t%s\t%s\t%s\tLogitech\t%s' "$2" "$3" "$4" "$5" "$6" "${7:-Webcam C920}")"
}
unplug() { ctl "$1" "$(printf 'remove\t%s' "$2")"; }
name_of() {  # name_of BUSID NODE: the NodeUSBDevice reporting that port
  berth get nodeusbdevice -o json |
    jq -r --arg b "$1" --arg n "$2" '.items[] | select(.status.busID==$b and .status.nodeName==$n) | .metadata.name'
}
wait_name() {  # wait_name BUSID NODE
  local n="" tries=0
  until [ -n "$n" ] || [ $tries -gt 100 ]; do n=$(name_of "$1" "$2"); tries=$((tries + 1)); sleep 0.2; done
  [ -n "$n" ] || fail "no NodeUSBDevice for $1 on $2"
  echo "$n"
}
cond() { berth get "$1" "$2" ${3:+-n $3} -o json | jq -r --arg t "$4" '.status.conditions[]? | select(.type==$t) | "\(.status)/\(.reason)"'; }
wait_cond() {  # wait_cond KIND NAME NS TYPE WANT
  local got="" tries=0
  until [ "$got" == "$5" ] || [ $tries -gt 150 ]; do got=$(cond "$1" "$2" "$3" "$4"); tries=$((tries + 1)); sleep 0.2; done
  expect_eq "$1/$2 $4" "$got" "$5"
}
vm_entry() { berth get vm "$1" -n "$2" -o json | jq -c --arg d "$3" '.status.usbDevices[]? | select(.name==$d)'; }
wait_entry() {  # wait_entry VM NS DEVICE JQ-PREDICATE
  local tries=0
  until vm_entry "$1" "$2" "$3" | jq -e "$4" >/dev/null 2>&1 || [ $tries -gt 200 ]; do
    tries=$((tries + 1)); sleep 0.3
  done
  vm_entry "$1" "$2" "$3" | jq -e "$4" >/dev/null ||
    fail "vm/$1 entry $3: '$(vm_entry "$1" "$2" "$3")' does not satisfy $4"
  CHECKS=$((CHECKS + 1))
}
assign() {  # assign NAME NAMESPACE
  berth apply -f - >/dev/null <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: NodeUSBDevice
metadata:
  name: $1
spec:
  assignedNamespace: $2
YAML
}
vm_yaml() {  # vm_yaml NAME NS DISK DEVICE...
  local name=$1 ns=$2 disk=$3 lines="  usbDevices:"; shift 3
  for d in "$@"; do lines+=$'\n'"    - {name: $d}"; done
  small_vm_yaml "$name" "$ns" "$disk" "$lines"
}
disk() {  # disk NAME NS
  cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata: {name: $1, namespace: $2}
spec:
  persistentVolumeClaim: {size: 16Mi, storageClassName: local-copy}
YAML
  berth wait "vd/$1" -n "$2" --for="jsonpath={.status.phase}=Ready" --timeout=60s >/dev/null ||
    fail "disk $1 not Ready"
}
