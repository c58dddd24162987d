#!/usr/bin/env bash
# freeze_bench: how long a consistent snapshot keeps the guest frozen.
#
#   bench/freeze/freeze_bench.sh [--build-dir D] [--snapshots N] [--sizes "1 8"] [--disks "1 4"]
#                                [--backends "reflink btrfs"]
#
# Boots the test guest (tests/guest) under libvirt through a real berth-agent, with 1 or 4 disks
# holding SIZE GiB of data each on a loop-mounted XFS (reflink) or btrfs pool, then takes N
# frozen cuts of all its disks with the agent's SnapshotVolumes RPC. For each configuration it
# prints the freeze window (guest-fsfreeze-freeze returned -> guest-fsfreeze-thaw returned, as
# the agent measures it) at p50/p99 beside the whole RPC's time, and the window as a fraction of
# the RPC. Target (docs/guests.md): p99 window <= 50 ms, flat in disk size.
# Disks 2-4 are reflink copies of disk 1 (same data, same extent count); disk 1 is the guest's
# ext4 /data filled with a file of SIZE GiB. Needs root; writes SIZE GiB per backend.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build snapshots=50 sizes="1 8" disks="1 4" backends="reflink btrfs"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --snapshots) snapshots=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --disks) disks=$2; shift 2 ;;
    --backends) backends=$2; shift 2 ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "freeze_bench: needs root" >&2; exit 1; }
# Absolute, since the path reaches libvirt and daemons that run elsewhere.
[ -d "$build" ] || { echo "freeze_bench: no build directory $build" >&2; exit 1; }
build=$(cd "$build" && pwd)
AGENT=$build/node-agent/berth-agent
CTL=$build/tests/unit/guest/berth-agentctl
GUEST=$build/guest
for b in "$AGENT" "$CTL"; do [ -x "$b" ] || { echo "freeze_bench: build $b first" >&2; exit 1; }; done
bash "$src/scripts/libvirt-up"
bash "$src/tests/guest/build-guest.sh" "$GUEST" >/dev/null 2>&1

DIR=$(mktemp -d /var/tmp/berth-bench-freeze.XXXXXX)
ADDR=127.0.0.1:$((23000 + RANDOM % 3000))
DOM=berth-bench-freeze-$$
AGENT_PID=""
cleanup() {
  timeout 10 virsh -c qemu:///system qemu-agent-command "$DOM" \
    '{"execute":"guest-fsfreeze-thaw"}' >/dev/null 2>&1 || true
  virsh -c qemu:///system destroy "$DOM" >/dev/null 2>&1 || true
  virsh -c qemu:///system undefine "$DOM" >/dev/null 2>&1 || true
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null || true
  umount "$DIR/fill" 2>/dev/null || true
  umount "$DIR/mnt" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
ctl() { "$CTL" "$ADDR" "$@"; }
pct() {  # pct P < numbers: the P-th percentile (nearest rank)
  sort -n | awk -v p="$1" '{ v[NR] = $1 } END { i = int((p / 100) * NR + 0.999); if (i < 1) i = 1; print v[i] }'
}

printf '%-8s %5s %8s %6s %14s %14s %14s %14s %9s\n' backend disks GiB/disk cuts \
  "window p50 ms" "window p99 ms" "cut p50 ms" "cut p99 ms" "window/cut"
for backend in $backends; do
  max=0
  for s in $sizes; do [ "$s" -gt "$max" ] && max=$s; done
  truncate -s "$((max * 5 + 4))G" "$DIR/pool.img"
  case $backend in
    reflink) mkfs.xfs -q -m reflink=1 "$DIR/pool.img" ;;
    btrfs) mkfs.btrfs -q "$DIR/pool.img" >/dev/null ;;
  esac
  mkdir -p "$DIR/mnt" "$DIR/fill"
  mount -o loop "$DIR/pool.img" "$DIR/mnt"
  "$AGENT" --node_name=bench --listen="$ADDR" --controller=127.0.0.1:9 \
    --pools="p:$backend:$DIR/mnt" --state_dir="$DIR/state" --insecure >"$DIR/agent.log" 2>&1 &
  AGENT_PID=$!
  for _ in $(seq 1 100); do ctl info >/dev/null 2>&1 && break; sleep 0.1; done
  for size in $sizes; do
    # Disk 1: ext4 with SIZE GiB of file data; disks 2-4: reflink copies of it.
    bytes=$(((size + 1) << 30))
    v0=$(ctl create-volume p "d$size-0" "$bytes" | jq -r .path)
    mkfs.ext4 -q -F "$v0"
    mount -o loop "$v0" "$DIR/fill"
    dd if=/dev/zero of="$DIR/fill/data" bs=4M count=$((size * 256)) conv=fsync status=none
    umount "$DIR/fill"
    paths=("$v0")
    for i in 1 2 3; do
      p=$(ctl create-volume p "d$size-$i" "$bytes" | jq -r .path)
      cp --reflink=always "$v0" "$p"
      paths+=("$p")
    done
    for n in $disks; do
      args=() vols=()
      for i in $(seq 0 $((n - 1))); do
        args+=("disk=${paths[$i]}:vd$(printf "\\x$(printf %x $((97 + i)))")")
        vols+=("p:d$size-$i")
      done
      ctl define "$DOM" vcpus=1 memory_mib=256 kernel="$GUEST/vmlinuz" initrd="$GUEST/initrd.img" \
        cmdline="console=ttyS0 quiet" "${args[@]}" >/dev/null
      ctl start "$DOM" >/dev/null
      for _ in $(seq 1 180); do
        [ "$(ctl get "$DOM" | jq -r .agentReady)" == true ] && break
        sleep 1
      done
      [ "$(ctl get "$DOM" | jq -r .agentReady)" == true ] || { echo "guest agent not ready" >&2; exit 1; }
      : >"$DIR/windows"; : >"$DIR/cuts"
      for k in $(seq 1 "$snapshots"); do
        snaps=()
        for v in "${vols[@]}"; do snaps+=("$v:${v#p:}-s$k"); done
        t0=$(date +%s%N)
        out=$(ctl snapshot "$DOM" freeze "${snaps[@]}")
        t1=$(date +%s%N)
        [ "$(jq -r .frozen <<<"$out")" == true ] || { echo "cut $k not frozen: $out" >&2; exit 1; }
        echo "$(jq -r .freezeWindowUs <<<"$out")" >>"$DIR/windows"
        echo $(((t1 - t0) / 1000)) >>"$DIR/cuts"
        for v in "${vols[@]}"; do ctl delete-snapshot p "${v#p:}-s$k" >/dev/null 2>&1 || true; done
      done
      ms() { awk '{ printf "%.1f", $1 / 1000 }'; }
      w50=$(pct 50 <"$DIR/windows") w99=$(pct 99 <"$DIR/windows")
      c50=$(pct 50 <"$DIR/cuts") c99=$(pct 99 <"$DIR/cuts")
      printf '%-8s %5s %8s %6s %14s %14s %14s %14s %9s\n' "$backend" "$n" "$size" "$snapshots" \
        "$(ms <<<"$w50")" "$(ms <<<"$w99")" "$(ms <<<"$c50")" "$(ms <<<"$c99")" \
        "$(awk -v a="$w50" -v b="$c50" 'BEGIN { printf "%.2f", a / b }')"
      ctl stop "$DOM" force >/dev/null 2>&1 || true
      ctl delete "$DOM" >/dev/null 2>&1 || true
    done
    for i in 0 1 2 3; do rm -f "${paths[$i]}"; done
  done
  kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true; AGENT_PID=""
  umount "$DIR/mnt"
  rm -f "$DIR/pool.img"
done
