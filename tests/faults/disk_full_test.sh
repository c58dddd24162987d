#!/usr/bin/env bash
# Disk full in a storage pool: the node's local-copy pool (real copies) lives on a private 96 MiB
# loop-mounted ext4. (1) A snapshot of a 48 MiB disk full of data cannot fit: it turns Failed
# with a reason that names the lack of space, and no snapshot directory, temporary file or
# space is left behind. (2) A restore (a disk from a snapshot) into a pool filled with
# fallocate turns Failed the same way and leaves no volume behind; once space is freed a new
# restore of the same snapshot is Ready and byte-identical.
source "$(dirname "$0")/faults_lib.sh"
POOL_FS=$IT_DIR/cluster/copy  # local-cluster puts the local-copy pools at DIR/copy/node-K
mkdir -p "$POOL_FS"
truncate -s 96M "$IT_DIR/pool.img"
mkfs.ext4 -q -m 0 -L berth-full "$IT_DIR/pool.img"
mount -o loop "$IT_DIR/pool.img" "$POOL_FS"
on_exit "umount -l '$POOL_FS'"
start_cluster 1
POOL=$POOL_FS/node-1
W=$IT_DIR/w
mkdir -p "$W"
free_kib() { sync -f "$POOL" 2>/dev/null || sync; df -k --output=avail "$POOL" | tail -n1 | tr -d ' '; }
entries() { pool_entries | { grep '/copy/' || true; } | { grep -v 'lost+found' || true; } | sort; }
reason_of() {  # reason_of KIND NAME CONDITION: "reason: message"
  berth get "$1" "$2" -o json | jq -r ".status.conditions[] | select(.type==\"$3\") | \"\(.reason): \(.message)\""
}
wait_terminal() {  # wait_terminal KIND NAME: prints the terminal phase (Ready|Failed) or fails
  local p
  for _ in $(seq 1 120); do
    p=$(jp "$1" "$2" '{.status.phase}')
    case $p in Ready|Failed) echo "$p"; return 0 ;; esac
    sleep 0.5
  done
  fail "$1/$2 still in phase '$p' 60 s after the pool filled up (should fail with a reason)"
}

# failed_cleanly WHAT MS KIND NAME CONDITION: the Failed object says the pool is full, left no
# pool entry and no allocated space behind, and deletes; sets $reason.
failed_cleanly() {
  local what=$1 ms=$2 kind=$3 name=$4 cond=$5 after_free
  reason=$(reason_of "$kind" "$name" "$cond")
  echo "$what: Failed after $ms ms: $reason"
  grep -qi "space" <<<"$reason" || fail "$what failure does not say the pool is full: $reason"
  CHECKS=$((CHECKS + 1))
  expect_eq "pool entries after the failed $what" "$(entries)" "$before_entries"
  after_free=$(free_kib)
  check "no space left allocated by the failed $what ($before_free -> $after_free KiB)" \
    test $((before_free - after_free)) -lt 1024
  check "delete the failed $what" berth delete "$kind" "$name" --timeout=60s
}

# --- 1. snapshot into a full pool ---
disk_yaml big local-copy 48Mi | berth apply -f - >/dev/null
wait_phase vd big Ready
head -c $((48 << 20)) /dev/urandom | dd of="$(jp vd big '{.status.path}')" bs=1M conv=notrunc,fsync status=none
before_entries=$(entries)
before_free=$(free_kib)
echo "pool: $(df -h --output=size,avail "$POOL" | tail -n1); snapshot of a 48 MiB disk"
t=$(now_ms)
snapshot_yaml big-snap big | berth apply -f - >/dev/null
phase=$(wait_terminal vds big-snap)
snap_fail_ms=$(($(now_ms) - t))
expect_eq "snapshot in a full pool" "$phase" Failed
failed_cleanly snapshot "$snap_fail_ms" vds big-snap VirtualDiskSnapshotReady
snap_reason=$reason
expect_eq "pool entries after deleting it" "$(entries)" "$before_entries"
check "delete the big disk" berth delete vd big --timeout=60s

# --- 2. restore into a full pool ---
disk_yaml small local-copy 16Mi | berth apply -f - >/dev/null
wait_phase vd small Ready
head -c $((16 << 20)) /dev/urandom | dd of="$(jp vd small '{.status.path}')" bs=1M conv=notrunc,fsync status=none
want=$(sha256sum <"$(jp vd small '{.status.path}')" | cut -d' ' -f1)
snapshot_yaml small-snap small | berth apply -f - >/dev/null
wait_phase vds small-snap Ready
# Leave 6 MiB: less than the 16 MiB a restore needs.
fill=$(( $(free_kib) - 6 * 1024 ))
[ "$fill" -gt 0 ] || fail "the pool is already fuller than planned ($(free_kib) KiB free)"
fallocate -l "${fill}KiB" "$POOL_FS/filler"
before_entries=$(entries)
before_free=$(free_kib)
t=$(now_ms)
disk_yaml restored local-copy 16Mi small-snap | berth apply -f - >/dev/null
phase=$(wait_terminal vd restored)
restore_fail_ms=$(($(now_ms) - t))
expect_eq "restore into a full pool" "$phase" Failed
failed_cleanly restore "$restore_fail_ms" vd restored Ready
restore_reason=$reason
expect_eq "pool entries after deleting it" "$(entries)" "$before_entries"

# --- space back: the same restore works and is byte-identical ---
rm -f "$POOL_FS/filler"
disk_yaml restored2 local-copy 16Mi small-snap | berth apply -f - >/dev/null
wait_phase vd restored2 Ready 60s
expect_eq "restore after freeing space is byte-identical" \
  "$(sha256sum <"$(jp vd restored2 '{.status.path}')" | cut -d' ' -f1)" "$want"

figure "pool" "ext4 on a 96 MiB loop device (local-copy)"
figure "snapshot of 48 MiB, pool full: phase after (ms)" "Failed after $snap_fail_ms"
figure "  reason" "$snap_reason"
figure "restore of 16 MiB, 6 MiB free: phase after (ms)" "Failed after $restore_fail_ms"
figure "  reason" "$restore_reason"
figure "entries / space left behind by failures" "0 / <1 MiB"
print_figures
done_ok
