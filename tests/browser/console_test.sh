#!/usr/bin/env bash
# The console's browser suite: Debian's chromium, headless, driven by playwright-core (no
# browser download), against the console of a private one-node cluster, through the spec's web
# flows. Fixtures are made with the berth CLI; every check is made in the browser, with the
# data compared on disk. Screenshots of the main screens go to $BERTH_SCREENSHOT_DIR (default
# $BERTH_BUILD_DIR/console-screenshots; docs/console/ holds a copy).
source "$(dirname "$0")/../integration/lib.sh"

CHROMIUM=${BERTH_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "no $CHROMIUM (scripts/setup installs Debian's chromium)"
CONSOLE_DIR=$BERTH_SOURCE_DIR/console
[ -d "$CONSOLE_DIR/node_modules/playwright-core" ] || fail "no playwright-core: build first (npm ci in console/)"

# A umockdev testbed around the agent, for a USB device to assign (as in usb_test).
TESTBED=$BERTH_BUILD_DIR/tests/unit/usb/berth-usb-testbed
[ -x "$TESTBED" ] || fail "build berth-usb-testbed first"
export BERTH_AGENT_WRAPPER="$TESTBED --dir {dir}/usb/{node} --vhci --"
export BERTH_AGENT_FLAGS="--usbip_linux_listen=127.0.0.1:{usbip_port} \
--vhci_dir=/sys/devices/vhci_hcd.0 --usb_guest_attach=none"
start_cluster 1
USB=$IT_DIR/cluster/usb
printf 'add\t1-1\t046d\t082d\thigh\tCONSOLE1\tLogitech\tWebcam C920\n' >"$USB/node-1/ctl"

NS=my-project
# Fixtures: a disk with data, and a stopped VM with that disk and a provisioning Secret.
berth apply -f - >/dev/null <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata: {name: data, namespace: $NS}
spec:
  persistentVolumeClaim: {size: 64Mi, storageClassName: local-reflink}
---
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata: {name: web-root, namespace: $NS}
spec:
  persistentVolumeClaim: {size: 32Mi, storageClassName: local-reflink}
---
apiVersion: v1
kind: Secret
metadata: {name: web-cloud-init, namespace: $NS}
type: provisioning.virtualization.deckhouse.io/cloud-init
stringData: {userData: "#cloud-config\nhostname: web\n"}
---
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata: {name: web, namespace: $NS}
spec:
  runPolicy: AlwaysOff
  cpu: {cores: 1}
  memory: {size: 256Mi}
  blockDeviceRefs:
    - {kind: VirtualDisk, name: web-root}
  provisioning:
    type: UserDataRef
    userDataRef: {kind: Secret, name: web-cloud-init}
YAML
berth wait vd/data -n $NS --for=jsonpath='{.status.phase}=Ready' --timeout=120s >/dev/null ||
  fail "fixture disk not Ready"
path=$(berth get vd data -n $NS -o jsonpath='{.status.path}')
head -c $((48 << 20)) /dev/urandom | dd of="$path" bs=1M conv=notrunc status=none

# Tokens: an admin, a user granted the project, a user with no grant, an expired token.
berth admin grant alice $NS >/dev/null
export ADMIN_TOKEN=$(berth admin token create console-admin --admin --ttl 2h)
export ALICE_TOKEN=$(berth admin token create alice --ttl 2h)
export BOB_TOKEN=$(berth admin token create bob --ttl 2h)
export EXPIRED_TOKEN=$(berth admin token create alice --ttl 1s)
sleep 2

export CONSOLE_URL=https://127.0.0.1:$((IT_PORT - 1000))
export CONSOLE_NS=$NS CONSOLE_DIR CHROMIUM
export NODE_EXTRA_CA_CERTS=$BERTH_CERTS/admin/ca.crt
export BERTH_SCREENSHOT_DIR=${BERTH_SCREENSHOT_DIR:-$BERTH_BUILD_DIR/console-screenshots}
mkdir -p "$BERTH_SCREENSHOT_DIR"
node "$(dirname "$0")/console_test.mjs"
