#!/usr/bin/env bash
# Controller SIGKILL during a burst of 1,000 mixed operations on two nodes with copy-on-write
# classes (local-reflink, local-btrfs): disk snapshots (VirtualDiskSnapshot), restores (disks
# from snapshots), clones (VirtualImages from disks and snapshots, VirtualMachineOperation Clone
# of stopped VMs, which take a temporary VirtualMachineSnapshot) and exports (DataExport). The
# controller is SIGKILLed several times while the burst runs (`local-cluster crash controller`).
# Then: every operation reaches a terminal phase, and none failed; after deleting everything
# (one more SIGKILL during the deletion) no node-side volume, snapshot, image, export or libvirt
# domain is left, and no temporary VirtualMachineSnapshot remains.
source "$(dirname "$0")/faults_lib.sh"
N_SNAP=${FAULTS_MIXED_SNAPSHOTS:-350}
N_RESTORE=${FAULTS_MIXED_RESTORES:-300}
N_IMAGE=${FAULTS_MIXED_IMAGES:-150}
N_EXPORT=${FAULTS_MIXED_EXPORTS:-180}
N_VMCLONE=${FAULTS_MIXED_VMCLONES:-20}
KILLS=${FAULTS_MIXED_KILLS:-5}
TOTAL=$((N_SNAP + N_RESTORE + N_IMAGE + N_EXPORT + N_VMCLONE))
SRC=8
start_cluster 2
W=$IT_DIR/w
mkdir -p "$W"
on_exit 'for d in $(virsh_ list --all --name | grep "^berth-default-"); do
  for u in $(cat "$W/vm-uids" 2>/dev/null); do case $d in *-$u) virsh_ undefine "$d";; esac; done; done'

class_of() { if [ $(($1 % 2)) -eq 0 ]; then echo local-reflink; else echo local-btrfs; fi; }
vm_doc() {  # vm_doc NAME DISK: a stopped VM (no guest needed to clone it)
  cat <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata:
  name: $1
spec:
  runPolicy: AlwaysOff
  cpu: {cores: 1}
  memory: {size: 128Mi}
  blockDeviceRefs:
    - {kind: VirtualDisk, name: $2}
YAML
}

# --- sources: 8 disks with data on both COW classes, two stopped VMs ---
for i in $(seq 1 $SRC); do disk_yaml "src-$i" "$(class_of "$i")" 16Mi; echo ---; done >"$W/src.yaml"
for v in a b; do disk_yaml "vmdisk-$v" local-reflink 16Mi; echo ---; vm_doc "vm-$v" "vmdisk-$v"; echo ---; done >>"$W/src.yaml"
berth apply -f "$W/src.yaml" >/dev/null
for i in $(seq 1 $SRC); do wait_phase vd "src-$i" Ready; done
for i in $(seq 1 $SRC); do
  head -c $((2 << 20)) /dev/urandom | dd of="$(jp vd "src-$i" '{.status.path}')" bs=1M seek=2 conv=notrunc status=none
done
for v in a b; do wait_phase vm "vm-$v" Stopped; done
berth get vm -o json | jq -r '.items[].metadata.uid[0:8]' >>"$W/vm-uids"

# --- the burst, as five multi-document files ---
for i in $(seq 1 "$N_SNAP"); do snapshot_yaml "s-$i" "src-$(( (i % SRC) + 1 ))"; echo ---; done >"$W/1-snap.yaml"
for i in $(seq 1 "$N_RESTORE"); do
  disk_yaml "r-$i" "$(class_of $(( (i % SRC) + 1 )))" 16Mi "s-$i"; echo ---
done >"$W/2-restore.yaml"
for i in $(seq 1 "$N_IMAGE"); do
  if [ $((i % 2)) -eq 0 ]; then ref="{kind: VirtualDisk, name: src-$(( (i % SRC) + 1 ))}"; else ref="{kind: VirtualDiskSnapshot, name: s-$i}"; fi
  printf 'apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualImage\nmetadata:\n  name: i-%s\nspec:\n  storage: PersistentVolumeClaim\n  dataSource:\n    type: ObjectRef\n    objectRef: %s\n---\n' "$i" "$ref"
done >"$W/3-image.yaml"
for i in $(seq 1 "$N_EXPORT"); do
  if [ $((i % 9)) -eq 0 ]; then ref="{kind: VirtualDisk, name: src-$(( (i % SRC) + 1 ))}"; else ref="{kind: VirtualDiskSnapshot, name: s-$i}"; fi
  printf 'apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: DataExport\nmetadata:\n  name: e-%s\nspec:\n  targetRef: %s\n  ttl: 3s\n---\n' "$i" "$ref"
done >"$W/4-export.yaml"
for i in $(seq 1 "$N_VMCLONE"); do
  v=$([ $((i % 2)) -eq 0 ] && echo a || echo b)
  printf 'apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineOperation\nmetadata:\n  name: c-%s\nspec:\n  type: Clone\n  virtualMachineName: vm-%s\n  clone:\n    mode: Strict\n    customization: {namePrefix: c%s-}\n---\n' "$i" "$v" "$i"
done >"$W/5-clone.yaml"

killer() {  # SIGKILLs the controller KILLS times, every few seconds; logs the kill times
  local k
  for k in $(seq 1 "$KILLS"); do
    sleep "$((3 + RANDOM % 4)).$((RANDOM % 10))"
    cluster crash controller >/dev/null 2>&1 && echo "$(now_ms)" >>"$W/kills"
  done
}
apply_retry() {  # apply_retry FILE: `berth apply` until it succeeds (the controller may be down)
  local tries=0
  until berth apply -f "$1" >/dev/null 2>"$W/apply.err"; do
    tries=$((tries + 1)); [ $tries -gt 200 ] && fail "apply $1: $(cat "$W/apply.err")"
    sleep 0.3
  done
}
: >"$W/kills"
t0=$(now_ms)
killer &
KILLER=$!
on_exit "kill $KILLER"
for f in "$W"/[1-5]-*.yaml; do apply_retry "$f"; done
applied_ms=$(($(now_ms) - t0))
wait $KILLER
expect_eq "controller SIGKILLs during the burst" "$(wc -l <"$W/kills")" "$KILLS"
echo "burst of $TOTAL operations applied in $applied_ms ms; controller killed $KILLS times"

# --- every operation reaches a terminal phase ---
# Terminal: Ready (snapshots, disks, images), Completed (operations), Expired (exports: a 3 s
# idle lease, so they end on their own and free the agent's export slots), Failed (any).
declare -A TERMINAL=([vds]='"Ready","Failed"' [vd]='"Ready","Failed"' [vi]='"Ready","Failed"'
  [dex]='"Expired","Failed"' [vmop]='"Completed","Failed"')
open_filter() { echo "select((.status.phase // \"\") as \$p | [${TERMINAL[$1]}] | any(. == \$p) | not)"; }
count_open() {  # prints how many operations are not terminal, or "err" when the API fails
  local n=0 k c
  for k in vds vd vi dex vmop; do
    c=$(berth get "$k" -o json 2>/dev/null | jq "[.items[] | $(open_filter "$k")] | length" 2>/dev/null) || c=""
    [ -n "$c" ] || { echo err; return 0; }
    n=$((n + c))
  done
  echo $n
}
for _ in $(seq 1 300); do
  open=$(count_open)
  [ "$open" = 0 ] && break
  sleep 2
done
settled_ms=$(($(now_ms) - t0))
if [ "$open" != 0 ]; then
  for k in vds vd vi dex vmop; do
    berth get "$k" -o json | jq -r ".items[] | $(open_filter "$k") | \"$k/\(.metadata.name) \(.status.phase)\"" | head -5
  done
  fail "$open operations not terminal $((settled_ms / 1000)) s after the burst began"
fi
CHECKS=$((CHECKS + 1))
declare -A want=([vds]=$N_SNAP [vi]=$N_IMAGE [dex]=$N_EXPORT [vmop]=$N_VMCLONE)
failed=0
for k in vds vi dex vmop; do
  expect_eq "$k objects" "$(berth get "$k" -o json | jq '.items | length')" "${want[$k]}"
done
for k in vds vd vi dex vmop; do
  berth get "$k" -o json | jq -r ".items[] | select(.status.phase==\"Failed\") |
    \"$k/\(.metadata.name): \(.status.conditions // [] | map(.reason + \": \" + .message) | join(\"; \"))\"" >>"$W/failed"
done
failed=$(wc -l <"$W/failed")
[ "$failed" -eq 0 ] || { head -n 10 "$W/failed"; fail "$failed operations Failed after controller crashes"; }
CHECKS=$((CHECKS + 1))
expect_eq "restored disks Ready" \
  "$(berth get vd -o json | jq '[.items[] | select(.metadata.name | startswith("r-")) | select(.status.phase=="Ready")] | length')" "$N_RESTORE"
expect_eq "cloned VMs" "$(berth get vm -o json | jq '[.items[] | select(.metadata.name | test("^c[0-9]+-vm-"))] | length')" "$N_VMCLONE"
expect_eq "temporary VM snapshots left after the clones" "$(berth get vmsnapshot -o json | jq '.items | length')" 0
berth get vm -o json | jq -r '.items[].metadata.uid[0:8]' >>"$W/vm-uids"
berth get dex -o json | jq -r '.items[] | select(.status.url != null) | "\(.status.url) \(.status.token)"' >"$W/export-urls"
entries_before=$(pool_entries | wc -l)

# --- delete everything (one more SIGKILL while it runs); nothing may be left on the nodes ---
t1=$(now_ms)
(sleep 2; cluster crash controller >/dev/null 2>&1) &
CRASH2=$!
for k in vmop dex vi vm vd vds vmsnapshot vmip vmmac; do
  tries=0
  until berth delete "$k" --all --wait=false >/dev/null 2>&1; do
    tries=$((tries + 1)); [ $tries -gt 100 ] && fail "delete $k --all"; sleep 0.3
  done
done
wait $CRASH2
for _ in $(seq 1 300); do
  left=0
  for k in vmop dex vi vm vd vds vmsnapshot; do
    left=$((left + $(berth get "$k" -o json 2>/dev/null | jq '.items | length' || echo 1)))
  done
  [ "$left" = 0 ] && break
  # Objects created after `delete --all` ran (e.g. a clone finishing) are deleted too.
  for k in vmop dex vi vm vd vds vmsnapshot; do berth delete "$k" --all --wait=false >/dev/null 2>&1 || true; done
  sleep 2
done
expect_eq "objects left after deleting everything" "$left" 0
deleted_ms=$(($(now_ms) - t1))
leaked=$(pool_entries)
[ -z "$leaked" ] || fail "node-side data left after every object was deleted: $(head -n 20 <<<"$leaked")"
CHECKS=$((CHECKS + 1))
doms=$(virsh_ list --all --name | grep -F -f "$W/vm-uids" || true)
expect_eq "libvirt domains left" "$doms" ""
journal=$(ls -A "$IT_DIR"/cluster/state/node-*/freeze-journal 2>/dev/null | grep -v ':$' | grep -c . || true)
expect_eq "freeze journal entries left" "$journal" 0
# The agents' export registries: no export that was ever served still serves its data.
# Each answers 404 (unknown) or 410 (gone) to its own token; 200/206 would be a leaked export.
tls=()  # with the cluster on mutual TLS the export server wants the CLI's client certificate
[ -n "${BERTH_TLS_DIR:-}" ] && tls=(--cert "$BERTH_TLS_DIR/tls.crt" --key "$BERTH_TLS_DIR/tls.key")
served=0
while read -r url token; do
  code=$(curl -sk "${tls[@]}" -o /dev/null -w '%{http_code}' -r 0-0 \
    -H "Authorization: Bearer $token" "$url/data" || true)
  case $code in
    404|410) ;;
    200|206) fail "export $url still served after its DataExport was deleted" ;;
    *) fail "export probe of $url got HTTP '$code' (want 404 or 410)" ;;
  esac
  served=$((served + 1))
done <"$W/export-urls"
[ "$served" -gt 0 ] || fail "no export was ever served"
CHECKS=$((CHECKS + 1))

figure "operations in the burst" "$TOTAL"
figure "  snapshots / restores / images / exports / VM clones" \
  "$N_SNAP / $N_RESTORE / $N_IMAGE / $N_EXPORT / $N_VMCLONE"
figure "controller SIGKILLs during the burst (+1 during deletion)" "$KILLS"
figure "burst applied (ms)" "$applied_ms"
figure "all operations terminal after (ms)" "$settled_ms"
figure "operations Failed" "$failed"
figure "node-side entries before deletion" "$entries_before"
figure "node-side entries / domains / journal entries after" "0 / 0 / 0"
figure "exports probed after deletion (none serving)" "$served"
figure "deletion of everything took (ms)" "$deleted_ms"
print_figures
done_ok
