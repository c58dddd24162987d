#!/usr/bin/env bash
# Agent SIGKILL while a guest is frozen. One real guest (tests/guest, TCG) boots once; each of
# TRIALS trials (default 20) takes a consistent VirtualDiskSnapshot of its disk (the agent holds
# the freeze HOLD_MS, --debug_hold_freeze_ms), waits until the guest itself reports "frozen"
# (virsh qemu-agent-command guest-fsfreeze-status), SIGKILLs the agent (`local-cluster crash
# node-1`; the supervisor restarts it after 1 s) and polls the guest until it reports "thawed".
# Every trial must be thawed before the auto-thaw deadline (AUTO_THAW s after the freeze was
# seen). The controller is paused (SIGSTOP) between the freeze and the thaw so that its retry
# cannot freeze the guest again before the thaw is observed; after the thaw it resumes, and the
# snapshot must then complete (Ready, consistent) with exactly one node-side snapshot per object.
source "$(dirname "$0")/faults_lib.sh"
TRIALS=${FAULTS_FREEZE_TRIALS:-20}
AUTO_THAW=10
HOLD_MS=3000
export BERTH_AGENT_FLAGS="--auto_thaw_seconds=$AUTO_THAW --debug_hold_freeze_ms=$HOLD_MS"
start_cluster 1
W=$IT_DIR/w
mkdir -p "$W"
boot_guest g root
JOURNAL=$IT_DIR/cluster/state/node-1/freeze-journal
on_exit 'kill -CONT $(cat "$IT_DIR/cluster/run/controller.pid")'
: >"$W/kill_to_thaw"
: >"$W/freeze_to_thaw"
: >"$W/to_ready"
for t in $(seq 1 "$TRIALS"); do
  snapshot_yaml "k-$t" root | berth apply -f - >/dev/null
  wait_guest "$DOM" frozen 30000 || fail "trial $t: the guest never froze"
  f=$(now_ms)
  [ -n "$(ls -A "$JOURNAL")" ] || fail "trial $t: frozen but no freeze-journal entry"
  cpid=$(controller_pid)
  kill -STOP "$cpid"
  cluster crash node-1 >/dev/null 2>&1 || fail "trial $t: crash node-1"
  k=$(now_ms)
  if ! wait_guest "$DOM" thawed $((AUTO_THAW * 1000 + 5000)); then
    kill -CONT "$cpid"
    fail "trial $t: guest still $(guest_fs "$DOM") $((AUTO_THAW + 5)) s after the agent was killed"
  fi
  th=$(now_ms)
  kill -CONT "$cpid"
  echo $((th - k)) >>"$W/kill_to_thaw"
  echo $((th - f)) >>"$W/freeze_to_thaw"
  [ $((th - f)) -le $((AUTO_THAW * 1000)) ] ||
    fail "trial $t: thawed $((th - f)) ms after the freeze, past the ${AUTO_THAW} s deadline"
  CHECKS=$((CHECKS + 1))
  wait_phase vds "k-$t" Ready 90s
  echo $(($(now_ms) - th)) >>"$W/to_ready"
  expect_eq "trial $t: snapshot consistent" "$(jp vds "k-$t" '{.status.consistent}')" true
  wait_guest "$DOM" thawed 5000 || fail "trial $t: guest frozen after the snapshot completed"
  expect_eq "trial $t: freeze journal empty" "$(ls -A "$JOURNAL" | wc -l)" 0
  echo "trial $t/$TRIALS: thawed $((th - k)) ms after SIGKILL ($((th - f)) ms after the freeze)"
done
uids=$(berth get vds -o json | jq -r '.items[].metadata.uid' | sort)
expect_eq "node-side snapshots are exactly the objects'" \
  "$(ls -A "$IT_DIR/cluster/mnt/xfs/node-1/snapshots" | sort)" "$uids"
restarts=$(grep -c "node-1 exited with status" "$IT_DIR/cluster/logs/node-1.log" || true)
check "every SIGKILL restarted the agent ($restarts restarts)" test "$restarts" -ge "$TRIALS"
read -r kmin kmed kmax < <(stats "$W/kill_to_thaw")
read -r fmin fmed fmax < <(stats "$W/freeze_to_thaw")
read -r rmin rmed rmax < <(stats "$W/to_ready")
figure "trials (agent SIGKILLs while frozen)" "$TRIALS"
figure "auto-thaw deadline / debug freeze hold" "${AUTO_THAW} s / ${HOLD_MS} ms"
figure "thawed within the deadline" "$TRIALS of $TRIALS"
figure "SIGKILL -> thawed, ms (min/median/max)" "$kmin / $kmed / $kmax"
figure "freeze seen -> thawed, ms (min/median/max)" "$fmin / $fmed / $fmax"
figure "thawed -> snapshot Ready (retry), ms (min/median/max)" "$rmin / $rmed / $rmax"
figure "node-side snapshots == objects" "$TRIALS"
print_figures
done_ok
