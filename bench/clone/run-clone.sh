#!/usr/bin/env bash
# Times VirtualMachineOperation Clone and Restore of a stopped VM with two disks, on the reflink
# (XFS) and btrfs pools of a private local cluster, beside the same number of
# `cp --reflink=always` calls on the disks' own image files in the same run:
#   clone   = 2 disk snapshots + 2 disks from them  -> 4 cp --reflink calls
#   restore = 2 disks re-created from their snapshots -> 2 cp --reflink calls
# Each figure is the median of --runs runs. Berth's time is wall time from `berth apply` to the
# operation's Completed phase seen by `berth wait`; the CLI's own cost (an apply and a wait on
# an object already in the phase) is measured too and subtracted in the "net" column. The VM is
# stopped (runPolicy AlwaysOff), so there is no guest stop/start in the figures. Needs root.
#
#   bench/clone/run-clone.sh [--build-dir DIR] [--sizes "1 8"] [--runs 5] [--data-mib 64]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BERTH_BUILD_DIR:-$root/build}
sizes="1 8"
runs=5
data_mib=64
port=7743
dir=/var/tmp/berth-bench-clone
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --data-mib) data_mib=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run-clone: unknown argument $1" >&2; exit 2 ;;
  esac
done
# Absolute, since the path reaches libvirt and daemons that run elsewhere.
[ -d "$build_dir" ] || { echo "run-clone: no build directory $build_dir" >&2; exit 1; }
build_dir=$(cd "$build_dir" && pwd)
[ "$(id -u)" = 0 ] || { echo "run-clone: needs root (loop mounts)" >&2; exit 1; }
export PATH="$build_dir/cli:$PATH" BERTH_SERVER=127.0.0.1:$port
cluster() { BERTH_IMAGE_SIZE=40G "$root/scripts/local-cluster" "$@" --dir "$dir" --port "$port" \
  --build-dir "$build_dir"; }
trap 'cluster down --purge >/dev/null 2>&1 || true' EXIT
cluster down --purge >/dev/null 2>&1 || true
cluster up --nodes 1 --no-build >/dev/null

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
wait_for() { berth wait "$1/$2" --for="jsonpath={.status.phase}=$3" --timeout=300s >/dev/null ||
  { echo "run-clone: $1/$2 did not reach $3: $(berth get "$1" "$2" -o json | jq -c .status)" >&2; exit 1; }; }
apply_timed() {  # apply_timed KIND NAME YAML -> ms from apply to Completed
  local t0; t0=$(now_ms)
  berth apply -f - <<<"$3" >/dev/null
  wait_for "$1" "$2" Completed
  echo $(($(now_ms) - t0))
}
op_yaml() {  # op_yaml NAME TYPE BODY
  printf 'apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineOperation\nmetadata:\n  name: %s\nspec:\n  type: %s\n  virtualMachineName: bench\n%s\n' "$1" "$2" "$3"
}

printf '%-8s %5s %-8s %10s %10s %12s %8s %10s\n' backend GiB op berth_ms net_ms cp_reflink_ms ratio cli_ms
for backend in reflink btrfs; do
  for size in $sizes; do
    berth delete vm --all >/dev/null 2>&1 || true
    berth delete vmop --all >/dev/null 2>&1 || true
    berth delete vmsnapshot --all >/dev/null 2>&1 || true
    berth delete vd --all >/dev/null 2>&1 || true
    berth wait vd --all --for=delete --timeout=120s >/dev/null 2>&1 || true
    for d in a b; do
      printf 'apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualDisk\nmetadata:\n  name: %s\nspec:\n  persistentVolumeClaim:\n    size: %sGi\n    storageClassName: local-%s\n' \
        "bench-$d" "$size" "$backend" | berth apply -f - >/dev/null
      wait_for vd "bench-$d" Ready
      img=$(berth get vd "bench-$d" -o jsonpath='{.status.path}')
      # Real extents at both ends, so the clones share data rather than holes.
      dd if=/dev/urandom of="$img" bs=1M count="$data_mib" conv=notrunc status=none
      dd if=/dev/urandom of="$img" bs=1M count="$data_mib" conv=notrunc status=none \
        seek=$((size * 1024 - data_mib))
    done
    sync
    printf 'apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachine\nmetadata:\n  name: bench\nspec:\n  runPolicy: AlwaysOff\n  blockDeviceRefs:\n    - {kind: VirtualDisk, name: bench-a}\n    - {kind: VirtualDisk, name: bench-b}\n' |
      berth apply -f - >/dev/null
    wait_for vm bench Stopped
    snap_yaml=$(printf 'apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineSnapshot\nmetadata:\n  name: bench-snap\nspec:\n  virtualMachineName: bench\n  keepIPAddress: Never\n')
    berth apply -f - <<<"$snap_yaml" >/dev/null
    wait_for vmsnapshot bench-snap Ready
    a=$(berth get vd bench-a -o jsonpath='{.status.path}')
    b=$(berth get vd bench-b -o jsonpath='{.status.path}')
    ref=$(dirname "$(dirname "$a")")/bench-ref
    mkdir -p "$ref"
    # The CLI's own cost: an apply that changes nothing and a wait that is already satisfied.
    cli=$(for i in $(seq "$runs"); do
      t0=$(now_ms)
      berth apply -f - <<<"$snap_yaml" >/dev/null
      wait_for vmsnapshot bench-snap Ready
      echo $(($(now_ms) - t0))
    done | median)
    cp4=$(for i in $(seq "$runs"); do
      t0=$(now_ms)
      cp --reflink=always "$a" "$ref/s-$i-a"  # the two disk snapshots
      cp --reflink=always "$b" "$ref/s-$i-b"
      cp --reflink=always "$ref/s-$i-a" "$ref/v-$i-a"  # the two clone disks
      cp --reflink=always "$ref/s-$i-b" "$ref/v-$i-b"
      echo $(($(now_ms) - t0))
    done | median)
    cp2=$(for i in $(seq "$runs"); do
      t0=$(now_ms)
      cp --reflink=always "$a" "$ref/r-$i-a"
      cp --reflink=always "$b" "$ref/r-$i-b"
      echo $(($(now_ms) - t0))
    done | median)
    rm -rf "$ref"
    clone=$(for i in $(seq "$runs"); do
      apply_timed vmop "clone-$i" "$(op_yaml "clone-$i" Clone "  clone:
    mode: Strict
    customization: {namePrefix: c$i-}")"
    done | median)
    restore=$(for i in $(seq "$runs"); do
      apply_timed vmop "restore-$i" "$(op_yaml "restore-$i" Restore "  restore:
    mode: Strict
    virtualMachineSnapshotName: bench-snap")"
    done | median)
    for row in "clone $clone $cp4" "restore $restore $cp2"; do
      set -- $row
      awk -v be="$backend" -v gib="$size" -v op="$1" -v t="$2" -v cp="$3" -v cli="$cli" \
        'BEGIN { net = t - cli; if (net < 0) net = 0; c = (cp > 0) ? cp : 1;
                 printf "%-8s %5s %-8s %10d %10d %12d %8.1f %10d\n", be, gib, op, t, net, cp, net / c, cli }'
    done
  done
done
