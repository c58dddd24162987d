# shellcheck shell=bash
# Shared helpers for the fault-injection suite (tests/faults). Source it from a test: it sources
# tests/integration/lib.sh (private local cluster per test, assertions, teardown on exit) and
# adds timing, figure tables and pool inspection.
# shellcheck source=../integration/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../integration/lib.sh"
FAULTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T_START=$(date +%s)

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Extra cleanup steps run before lib.sh's cleanup (cluster down), newest first.
FAULT_CLEANUPS=()
on_exit() { FAULT_CLEANUPS=("$*" "${FAULT_CLEANUPS[@]}"); }
fault_cleanup() {
  local rc=$? c
  set +e
  for c in "${FAULT_CLEANUPS[@]}"; do eval "$c" >/dev/null 2>&1; done
  (exit $rc)
  cleanup
}
trap fault_cleanup EXIT

# stats FILE: "min median max" of the integers in FILE (one per line).
stats() {
  sort -n "$1" | awk '{v[NR] = $1} END {
    if (NR == 0) { print "- - -"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)
    print v[1], m, v[NR] }'
}

# Figures: `figure NAME VALUE` collects rows; `print_figures` prints them as a table at the end.
FIGURES=()
figure() { FIGURES+=("$1|$2"); }
print_figures() {
  figure "run time (s)" $(($(date +%s) - T_START))
  echo "=== figures: $IT_NAME ==="
  printf '%s\n' "${FIGURES[@]}" | awk -F'|' '{printf "  %-52s %s\n", $1, $2}'
}

controller_pid() { cat "$IT_DIR/cluster/run/controller.pid"; }
wait_controller_up() {  # waits until the API answers again (after a crash)
  local tries=0
  until berth version >/dev/null 2>&1; do
    tries=$((tries + 1)); [ $tries -gt 600 ] && fail "controller did not come back"
    sleep 0.05
  done
}

# pool_entries: every volume/snapshot/image directory (or subvolume) left in the cluster's
# pools, one "pool-root/kind/id" per line. Temporary files (names starting with '.') are listed
# too, so a half-written copy shows up.
pool_roots() {
  local d=$IT_DIR/cluster
  ls -d "$d"/mnt/xfs/node-* "$d"/mnt/btrfs/node-* "$d"/copy/node-* 2>/dev/null || true
}
pool_entries() {
  local r k
  for r in $(pool_roots); do
    for k in "$r"/*/; do
      [ -d "$k" ] || continue
      ls -A "$k" | sed "s|^|${k#"$IT_DIR/cluster/"}|"
    done
  done
}

# --- a real guest (tests/guest) in the local cluster ---
GUEST=$BERTH_BUILD_DIR/guest
dom_of() { echo "berth-default-$1-$(jp vm "$1" '{.metadata.uid}' | cut -c1-8)"; }
guest_fs() {  # guest_fs DOMAIN: the guest's own answer: thawed | frozen | unknown
  timeout 10 virsh -c "$(dom_uri "$1")" qemu-agent-command "$1" \
    '{"execute":"guest-fsfreeze-status"}' 2>/dev/null | jq -r '.return' 2>/dev/null || echo unknown
}
# boot_guest VM DISK: builds the guest image if needed, makes DISK (reflink, ext4) and VM, waits
# for its guest agent; sets DOM. Registers a cleanup that stops the controller first (it would
# start the domain again), thaws the guest and removes the domain.
boot_guest() {
  bash "$BERTH_SOURCE_DIR/tests/guest/build-guest.sh" "$GUEST" >/dev/null 2>&1 ||
    bash "$BERTH_SOURCE_DIR/tests/guest/build-guest.sh" "$GUEST"
  disk_yaml "$2" local-reflink 64Mi | berth apply -f - >/dev/null
  wait_phase vd "$2" Ready
  mkfs.ext4 -q -F -L berth-data "$(jp vd "$2" '{.status.path}')"
  guest_vm_yaml "$1" "$2" "berth.writer=1" AlwaysOn | berth apply -f - >/dev/null
  DOM=$(dom_of "$1")
  on_exit "cluster kill controller; virsh_ qemu-agent-command '$DOM' \
    '{\"execute\":\"guest-fsfreeze-thaw\"}'; virsh_ destroy '$DOM'; virsh_ undefine '$DOM'"
  wait_phase vm "$1" Running 180s
  berth wait "vm/$1" --for=condition=AgentReady --timeout=180s >/dev/null ||
    fail "guest agent of $1 not ready (console: $(tail -n 5 "$IT_DIR"/cluster/state/node-1/console/"$DOM".log 2>/dev/null))"
  expect_eq "guest thawed after boot" "$(guest_fs "$DOM")" thawed
}
wait_guest() {  # wait_guest DOMAIN STATE TIMEOUT_MS: polls as fast as virsh answers; 0 if seen
  local end=$(($(now_ms) + $3))
  while [ "$(now_ms)" -lt $end ]; do
    [ "$(guest_fs "$1")" = "$2" ] && return 0
  done
  return 1
}
