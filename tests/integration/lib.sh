# Shared helpers for integration tests: a private local cluster per test, assertions.
# Source it; it sets BERTH_SERVER and PATH and tears the cluster down on exit.
set -euo pipefail

: "${BERTH_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BERTH_BUILD_DIR:=$BERTH_SOURCE_DIR/build}"
export PATH="$BERTH_BUILD_DIR/cli:$PATH"

if [ "$(id -u)" != 0 ]; then
  echo "SKIP: integration tests need root (loop mounts)"; exit 0
fi

IT_NAME=$(basename "$0" .sh)
IT_DIR=$(mktemp -d "/var/tmp/berth-it-$IT_NAME.XXXXXX")
# A port per test run, so tests can run while a developer's cluster uses 7443.
IT_PORT=$((20000 + (RANDOM % 2000) * 10))
export BERTH_SERVER=127.0.0.1:$IT_PORT
# The cluster's certificates (scripts/certs layout); the CLI acts as the cluster admin.
export BERTH_CERTS=$IT_DIR/cluster/certs
export BERTH_TLS_DIR=$BERTH_CERTS/admin

cluster() { BERTH_IMAGE_SIZE=${BERTH_IMAGE_SIZE:-6G} "$BERTH_SOURCE_DIR/scripts/local-cluster" "$@" \
  --dir "$IT_DIR/cluster" --port "$IT_PORT" --build-dir "$BERTH_BUILD_DIR"; }

cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "--- logs of failed test $IT_NAME ---"
    tail -n 30 "$IT_DIR"/cluster/logs/*.log 2>/dev/null || true
  fi
  cluster down >/dev/null 2>&1 || true
  rm -rf "$IT_DIR"
  exit $rc
}
trap cleanup EXIT

# shellcheck source=tests/integration/checks.sh
source "$BERTH_SOURCE_DIR/tests/integration/checks.sh"

start_cluster() { cluster up --no-build --nodes "${1:-2}" >/dev/null; }

# --- libvirt: every node of the cluster has its own libvirtd (local-cluster libvirt-uri) ---
libvirt_uri() { cluster libvirt-uri "$1" 2>/dev/null || echo qemu:///system; }  # libvirt_uri NODE
node_virsh() { local u; u=$(libvirt_uri "$1"); shift; virsh -c "$u" "$@"; }  # node_virsh NODE ARGS
cluster_nodes() { seq 1 "$(cat "$IT_DIR/cluster/run/nodes" 2>/dev/null || echo 1)" | sed 's/^/node-/'; }
# dom_node DOMAIN: the node whose libvirtd has DOMAIN; fails if none has it. The answer is
# remembered in a file per domain (callers run in subshells) and checked at each use.
dom_node() {
  local memo=$IT_DIR/.dom-node-$1 n
  if [ -s "$memo" ]; then
    n=$(cat "$memo")
    node_virsh "$n" domuuid "$1" >/dev/null 2>&1 && { echo "$n"; return 0; }
  fi
  for n in $(cluster_nodes); do
    node_virsh "$n" domuuid "$1" >/dev/null 2>&1 && { echo "$n" >"$memo"; echo "$n"; return 0; }
  done
  return 1
}
# dom_uri DOMAIN: the libvirt URI of DOMAIN's node (node-1's if no node has it, so that virsh
# reports the error), e.g. for `timeout 10 virsh -c "$(dom_uri D)" qemu-agent-command D ...`.
dom_uri() { libvirt_uri "$(dom_node "$1" || echo node-1)"; }
# virsh_ list [ARGS]: the union of every node's `virsh list ARGS`. virsh_ CMD [OPTIONS] DOMAIN
# [ARGS]: CMD on DOMAIN's node (DOMAIN: the first argument after CMD not starting with '-').
virsh_() {
  local n a dom=""
  if [ "${1:-}" = list ]; then
    for n in $(cluster_nodes); do node_virsh "$n" "$@" || return; done
    return 0
  fi
  for a in "${@:2}"; do case $a in -*) ;; *) dom=$a; break ;; esac; done
  virsh -c "$(dom_uri "$dom")" "$@"
}

jp() { berth get "$1" "$2" -o "jsonpath=$3"; }  # jp KIND NAME TEMPLATE

wait_phase() {  # wait_phase KIND NAME PHASE [TIMEOUT]
  berth wait "$1/$2" --for="jsonpath={.status.phase}=$3" --timeout="${4:-120s}" >/dev/null ||
    fail "$1/$2 did not reach phase $3 (phase: $(jp "$1" "$2" '{.status.phase}' 2>&1))"
}

disk_yaml() {  # disk_yaml NAME CLASS SIZE [SNAPSHOT]
  cat <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata:
  name: $1
spec:
  persistentVolumeClaim:
    size: $3
    storageClassName: $2
YAML
  if [ -n "${4:-}" ]; then
    cat <<YAML
  dataSource:
    type: ObjectRef
    objectRef:
      kind: VirtualDiskSnapshot
      name: $4
YAML
  fi
}

snapshot_yaml() {  # snapshot_yaml NAME DISK [REQUIRED_CONSISTENCY]
  cat <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDiskSnapshot
metadata:
  name: $1
spec:
  virtualDiskName: $2
  requiredConsistency: ${3:-true}
YAML
}

migrate_yaml() {  # migrate_yaml OP VM [NAMESPACE] [SPEC_MIGRATE_YAML]: a Migrate operation
  cat <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineOperation
metadata: {name: $1, namespace: ${3:-default}}
spec:
  type: Migrate
  virtualMachineName: $2
${4:+  migrate:
$4}
YAML
}

small_vm_yaml() {  # small_vm_yaml NAME NAMESPACE DISK [SPEC_LINES]: a 64 MiB VM of no particular guest
  cat <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata: {name: $1, namespace: $2}
spec:
  runPolicy: AlwaysOn
  virtualMachineClassName: generic
  cpu: {cores: 1}
  memory: {size: 64Mi}
  blockDeviceRefs:
    - {kind: VirtualDisk, name: $3}
${4:-}
YAML
}

guest_vm_yaml() {  # guest_vm_yaml NAME DISK [CMDLINE_EXTRA] [RUN_POLICY]: a VM booting the test guest
  cat <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata:
  name: $1
  labels: {app: it}
  annotations:
    virtualization.deckhouse.io/berth-kernel: $BERTH_BUILD_DIR/guest/vmlinuz
    virtualization.deckhouse.io/berth-initrd: $BERTH_BUILD_DIR/guest/initrd.img
    virtualization.deckhouse.io/berth-cmdline: "console=ttyS0 quiet ${3:-}"
spec:
  runPolicy: ${4:-AlwaysOnUnlessStoppedManually}
  cpu: {cores: 1}
  memory: {size: 256Mi}
  blockDeviceRefs:
    - {kind: VirtualDisk, name: $2}
YAML
}

guest_boot_id() {  # guest_boot_id LIBVIRT_URI DOMAIN: the guest kernel's boot id (guest-exec)
  local pid out
  pid=$(timeout 20 virsh -c "$1" qemu-agent-command "$2" \
    '{"execute":"guest-exec","arguments":{"path":"/bin/cat","arg":["/proc/sys/kernel/random/boot_id"],"capture-output":true}}' |
    sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
  [ -n "$pid" ] || return 1
  for _ in $(seq 20); do
    out=$(timeout 20 virsh -c "$1" qemu-agent-command "$2" \
      "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}")
    if grep -q '"exited":true' <<<"$out"; then
      sed -n 's/.*"out-data":"\([^"]*\)".*/\1/p' <<<"$out" | base64 -d
      return 0
    fi
    sleep 0.5
  done
  return 1
}
