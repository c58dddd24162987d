#!/usr/bin/env bash
# Acceptance for disk snapshots on every storage class: write known data into a disk, snapshot
# it, overwrite the disk, restore a new disk from the snapshot and compare SHA-256; a restore
# into a smaller size fails with a message; deleting a snapshot removes its node-side data;
# a snapshot whose data vanished turns Failed/Lost.
source "$(dirname "$0")/lib.sh"
start_cluster 2

for cls in local-reflink local-btrfs local-copy; do
  d="disk-${cls#local-}" s="snap-${cls#local-}" r="restored-${cls#local-}"
  disk_yaml "$d" "$cls" 64Mi | berth apply -f - >/dev/null
  wait_phase vd "$d" Ready
  path=$(jp vd "$d" '{.status.path}')
  check "$cls: disk image exists at $path" test -f "$path"
  expect_eq "$cls: disk size" "$(stat -c %s "$path")" $((64 << 20))

  head -c $((48 << 20)) /dev/urandom | dd of="$path" bs=1M conv=notrunc status=none
  want=$(sha256sum <"$path" | cut -d' ' -f1)

  snapshot_yaml "$s" "$d" | berth apply -f - >/dev/null
  wait_phase vds "$s" Ready
  expect_eq "$cls: snapshot consistent" "$(jp vds "$s" '{.status.consistent}')" true
  expect_eq "$cls: snapshot on the disk's node" "$(jp vds "$s" '{.status.node}')" \
    "$(jp vd "$d" '{.status.node}')"
  snap_path=$(jp vds "$s" '{.status.path}')
  check "$cls: snapshot data exists" test -f "$snap_path"

  head -c $((64 << 20)) /dev/urandom | dd of="$path" bs=1M conv=notrunc status=none
  check "$cls: disk was overwritten" test "$(sha256sum <"$path" | cut -d' ' -f1)" != "$want"

  disk_yaml "$r" "$cls" 64Mi "$s" | berth apply -f - >/dev/null
  wait_phase vd "$r" Ready
  got=$(sha256sum <"$(jp vd "$r" '{.status.path}')" | cut -d' ' -f1)
  expect_eq "$cls: restored data equals data at snapshot time" "$got" "$want"

  # Restoring into a bigger disk keeps the data and grows the image.
  disk_yaml "$r-big" "$cls" 96Mi "$s" | berth apply -f - >/dev/null
  wait_phase vd "$r-big" Ready
  big=$(jp vd "$r-big" '{.status.path}')
  expect_eq "$cls: grown restore size" "$(stat -c %s "$big")" $((96 << 20))
  expect_eq "$cls: grown restore keeps data" \
    "$(head -c $((64 << 20)) "$big" | sha256sum | cut -d' ' -f1)" "$want"

  # Smaller than the source: Failed, and the message says why.
  disk_yaml "$r-small" "$cls" 32Mi "$s" | berth apply -f - >/dev/null
  wait_phase vd "$r-small" Failed
  msg=$(berth get vd "$r-small" -o json | jq -r '.status.conditions[] | select(.type=="Ready") | .message')
  check "$cls: smaller restore explains itself ($msg)" grep -q "smaller than" <<<"$msg"

  berth delete vds "$s" --timeout=60s >/dev/null
  check "$cls: snapshot object gone" bash -c "! berth get vds $s >/dev/null 2>&1"
  check "$cls: snapshot node-side data gone" test ! -e "$snap_path"
  check "$cls: restored disk survives its snapshot's deletion" test -f "$(jp vd "$r" '{.status.path}')"

  berth delete vd "$r-small" "$r-big" --timeout=60s >/dev/null
  check "$cls: deleted disk's image removed" test ! -e "$big"
done

# A snapshot whose node-side data disappears is reported Lost.
snapshot_yaml lost-snap disk-copy | berth apply -f - >/dev/null
wait_phase vds lost-snap Ready
rm -rf "$(dirname "$(jp vds lost-snap '{.status.path}')")"
wait_phase vds lost-snap Failed 90s
reason=$(berth get vds lost-snap -o json |
  jq -r '.status.conditions[] | select(.type=="VirtualDiskSnapshotReady") | .reason')
expect_eq "vanished snapshot reason" "$reason" Lost
# describe shows the object's events: its phase changes, the loss as a Warning.
events=$(berth describe vds lost-snap | sed -n '/^Events:/,$p')
grep -q "phase InProgress -> Ready" <<<"$events" || fail "describe events: $events"
grep -qE "Warning +Lost +.*phase Ready -> Failed" <<<"$events" || fail "describe events: $events"
CHECKS=$((CHECKS + 1))
check "events are listed" berth get events -o name

# requiredConsistency: false is accepted; a disk no VM uses is still consistent.
snapshot_yaml loose disk-reflink false | berth apply -f - >/dev/null
wait_phase vds loose Ready
expect_eq "unattached disk snapshot is consistent" "$(jp vds loose '{.status.consistent}')" true

# The printed table has the spec's columns.
header=$(berth get vdsnapshot | head -n1 | tr -s ' ')
expect_eq "vdsnapshot columns" "$header" "NAME PHASE CONSISTENT AGE"
done_ok
