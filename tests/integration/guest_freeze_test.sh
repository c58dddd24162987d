#!/usr/bin/env bash
# guest_freeze_test: the freezer against a real guest (tests/guest) under libvirt, driven through
# a real berth-agent's RPCs (tests/tools/berth-agentctl). Covers:
#   1. define + start a domain whose data disk is a volume in a reflink pool (loop XFS);
#   2. SnapshotVolumes with freeze: frozen=true, the guest is thawed afterwards, the snapshot is
#      fsck-clean and holds the writer's stream without a torn record; freeze windows printed;
#   3. two concurrent SnapshotVolumes of one domain: exactly one freeze and one thaw sent;
#   4. SIGKILL of the agent while the guest is frozen: the restarted agent thaws it (journal);
#   5. auto-thaw: a freeze held past the deadline is thawed by the deadline, the RPC fails and
#      leaves no snapshot;
#   6. a guest without a running guest agent: the frozen cut fails with FailedPrecondition
#      carrying libvirt's/the agent's text and leaves no snapshot.
# Needs root (loop mounts, libvirtd); prints SKIP otherwise.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then echo "SKIP: guest_freeze_test needs root"; exit 0; fi
: "${BERTH_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BERTH_BUILD_DIR:=$BERTH_SOURCE_DIR/build}"
AGENT=$BERTH_BUILD_DIR/node-agent/berth-agent
CTL=$BERTH_BUILD_DIR/tests/unit/guest/berth-agentctl
GUEST=$BERTH_BUILD_DIR/guest
for b in "$AGENT" "$CTL"; do [ -x "$b" ] || { echo "FAIL: $b not built" >&2; exit 1; }; done

DIR=$(mktemp -d /var/tmp/berth-it-guest.XXXXXX)
DOM=berth-it-guest-$$
DOM2=berth-it-noagent-$$
ADDR=127.0.0.1:$((21000 + RANDOM % 5000))
AGENT_PID=""
CHECKS=0

qga() { timeout 15 virsh -c qemu:///system qemu-agent-command "$DOM" "$1" 2>&1; }
guest_fs() {  # the guest's own answer: thawed | frozen | unknown
  qga '{"execute":"guest-fsfreeze-status"}' | jq -r '.return' 2>/dev/null || echo unknown
}

cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "--- agent log ---"; tail -n 40 "$DIR/agent.log" 2>/dev/null || true
    echo "--- guest console ---"; tail -n 20 "$DIR/state/console/$DOM.log" 2>/dev/null || true
  fi
  [ -n "$AGENT_PID" ] && kill -9 "$AGENT_PID" 2>/dev/null || true
  qga '{"execute":"guest-fsfreeze-thaw"}' >/dev/null 2>&1 || true  # never leave it frozen
  for d in "$DOM" "$DOM2"; do
    virsh -c qemu:///system destroy "$d" >/dev/null 2>&1 || true
    virsh -c qemu:///system undefine "$d" --nvram >/dev/null 2>&1 || true
  done
  umount "$DIR/snap" 2>/dev/null || true
  umount "$DIR/mnt" 2>/dev/null || true
  rm -rf "$DIR"
  exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
expect_eq() { [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"; CHECKS=$((CHECKS + 1)); }
ctl() { "$CTL" "$ADDR" "$@"; }
count() { grep -c "$1" "$DIR/agent.log" || true; }

start_agent() {  # start_agent AUTO_THAW_SECONDS HOLD_MS
  "$AGENT" --node_name=it-guest --listen="$ADDR" --controller=127.0.0.1:9 \
    --pools="p:reflink:$DIR/mnt/pool" --state_dir="$DIR/state" --accelerator=auto \
    --auto_thaw_seconds="$1" --debug_hold_freeze_ms="$2" --insecure >>"$DIR/agent.log" 2>&1 &
  AGENT_PID=$!
  for _ in $(seq 1 100); do ctl info >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "agent did not come up"
}
stop_agent() { kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true; AGENT_PID=""; }

# --- host, guest image, pool on a loop-mounted XFS with reflink ---
bash "$BERTH_SOURCE_DIR/scripts/libvirt-up"
bash "$BERTH_SOURCE_DIR/tests/guest/build-guest.sh" "$GUEST" 2>/dev/null
truncate -s 2G "$DIR/xfs.img"
mkfs.xfs -q -m reflink=1 "$DIR/xfs.img"
mkdir -p "$DIR/mnt" "$DIR/snap"
mount -o loop "$DIR/xfs.img" "$DIR/mnt"

# --- 1. define and start ---
start_agent 10 0
disk=$(ctl create-volume p data $((128 << 20)) | jq -r .path)
mkfs.ext4 -q -F -L berth-data "$disk"
printf '#cloud-config\nhostname: it\n' >"$DIR/user-data"
st=$(ctl define "$DOM" vcpus=1 memory_mib=256 kernel="$GUEST/vmlinuz" initrd="$GUEST/initrd.img" \
  cmdline="console=ttyS0 quiet berth.writer=1" disk="$disk:vda" user_data_file="$DIR/user-data" |
  jq -r .state)
expect_eq "state after define" "$st" Shutoff
expect_eq "NoCloud seed volume id" \
  "$(isoinfo -d -i "$DIR/state/cloud-init/$DOM.iso" | sed -n 's/^Volume id: //p')" cidata
expect_eq "state after start" "$(ctl start "$DOM" | jq -r .state)" Running
expect_eq "accelerator" "$(ctl get "$DOM" | jq -r .accelerator)" qemu
for _ in $(seq 1 120); do
  [ "$(ctl get "$DOM" | jq -r .agentReady)" == true ] && break
  sleep 1
done
expect_eq "guest agent ready" "$(ctl get "$DOM" | jq -r .agentReady)" true
expect_eq "fsfreeze status" "$(ctl get "$DOM" | jq -r .fsfreezeStatus)" thawed
sleep 2  # let the writer write

# --- 2. a frozen cut ---
out=$(ctl snapshot "$DOM" freeze p:data:s1)
expect_eq "frozen" "$(jq -r .frozen <<<"$out")" true
[ "$(jq -r .frozenFilesystems <<<"$out")" -ge 1 ] || fail "no filesystem frozen: $out"
expect_eq "thawed after the cut" "$(guest_fs)" thawed
snap=$(jq -r '.snapshots[0].path' <<<"$out")
e2fsck -fn "$snap" >"$DIR/fsck.log" 2>&1 || { cat "$DIR/fsck.log"; fail "snapshot not fsck-clean"; }
CHECKS=$((CHECKS + 1))
mount -o loop,ro,noload "$snap" "$DIR/snap"
bash "$BERTH_SOURCE_DIR/tests/guest/verify-stream.sh" "$DIR/snap/stream" ||
  fail "stream in the frozen snapshot is torn"
CHECKS=$((CHECKS + 1))
umount "$DIR/snap"
# The same call again (a retry) returns the same snapshot without freezing again.
f0=$(count "sent guest-fsfreeze-freeze to $DOM")
expect_eq "idempotent retry" "$(ctl snapshot "$DOM" freeze p:data:s1 | jq -r '.snapshots[0].id')" s1
expect_eq "retry sent no freeze" "$(count "sent guest-fsfreeze-freeze to $DOM")" "$f0"
windows=()
for i in $(seq 1 10); do
  windows+=("$(ctl snapshot "$DOM" freeze "p:data:w$i" | jq -r .freezeWindowUs)")
done
sorted=$(printf '%s\n' "${windows[@]}" | sort -n)
echo "freeze window (freeze returned -> thaw returned), 10 cuts of a 128 MiB disk:" \
  "p50 $(sed -n 5p <<<"$sorted") us, max $(tail -n1 <<<"$sorted") us"
grep -E "freeze window|guest-fsfreeze-(freeze|thaw) to" "$DIR/agent.log" | tail -n 6 | sed 's/^/  /'

# --- 3. two concurrent snapshots share one freeze ---
stop_agent
start_agent 10 1500
f0=$(count "sent guest-fsfreeze-freeze to $DOM")
t0=$(count "sent guest-fsfreeze-thaw to $DOM")
ctl snapshot "$DOM" freeze p:data:c1 >"$DIR/c1.json" &
p1=$!
ctl snapshot "$DOM" freeze p:data:c2 >"$DIR/c2.json" &
p2=$!
wait $p1 || fail "concurrent snapshot c1 failed"
wait $p2 || fail "concurrent snapshot c2 failed"
expect_eq "c1 frozen" "$(jq -r .frozen "$DIR/c1.json")" true
expect_eq "c2 frozen" "$(jq -r .frozen "$DIR/c2.json")" true
expect_eq "freezes sent" "$(($(count "sent guest-fsfreeze-freeze to $DOM") - f0))" 1
expect_eq "thaws sent" "$(($(count "sent guest-fsfreeze-thaw to $DOM") - t0))" 1
expect_eq "thawed after both" "$(guest_fs)" thawed

# --- 4. SIGKILL while frozen: the restarted agent thaws from its journal ---
stop_agent
start_agent 60 60000
ctl snapshot "$DOM" freeze p:data:k1 >/dev/null 2>&1 &
for _ in $(seq 1 100); do [ "$(guest_fs)" == frozen ] && break; sleep 0.1; done
expect_eq "frozen while held" "$(guest_fs)" frozen
[ -n "$(ls "$DIR/state/freeze-journal")" ] || fail "no journal entry while frozen"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
AGENT_PID=""
expect_eq "still frozen after SIGKILL" "$(guest_fs)" frozen
start=$(date +%s%N)
start_agent 10 0
expect_eq "thawed by recovery" "$(guest_fs)" thawed
echo "recovery: agent restart to thawed guest $((($(date +%s%N) - start) / 1000000)) ms"
expect_eq "journal empty" "$(ls "$DIR/state/freeze-journal" | wc -l)" 0

# --- 5. auto-thaw when the holder does not release in time ---
stop_agent
start_agent 2 6000
ctl snapshot "$DOM" freeze p:data:a1 >"$DIR/a1.json" 2>"$DIR/a1.err" &
pa=$!
for _ in $(seq 1 100); do [ "$(guest_fs)" == frozen ] && break; sleep 0.05; done
expect_eq "frozen before the deadline" "$(guest_fs)" frozen
frozen_at=$(date +%s%N)
for _ in $(seq 1 100); do [ "$(guest_fs)" == thawed ] && break; sleep 0.05; done
thawed_ms=$((($(date +%s%N) - frozen_at) / 1000000))
expect_eq "thawed by the deadline" "$(guest_fs)" thawed
[ "$thawed_ms" -le 3500 ] || fail "auto-thaw took ${thawed_ms} ms for a 2 s deadline"
echo "auto-thaw: thawed ${thawed_ms} ms after the freeze was seen (deadline 2 s)"
if wait $pa; then fail "snapshot held past the deadline succeeded"; fi
grep -q "auto-thawed" "$DIR/a1.err" || fail "unexpected error: $(cat "$DIR/a1.err")"
CHECKS=$((CHECKS + 1))
ctl delete-snapshot p a1 | jq -e '.existed == false' >/dev/null || fail "inconsistent cut kept"
CHECKS=$((CHECKS + 1))

# --- teardown of the first guest through the agent ---
expect_eq "stop" "$(ctl stop "$DOM" force | jq -r .state)" Shutoff
expect_eq "delete" "$(ctl delete "$DOM" | jq -r .existed)" true
expect_eq "gone" "$(ctl get "$DOM" | jq -r .state)" NotFound
expect_eq "delete again" "$(ctl delete "$DOM" | jq -r .existed)" false

# --- 6. no guest agent: the freeze fails, nothing is cut ---
stop_agent
start_agent 10 0
disk2=$(ctl create-volume p data2 $((64 << 20)) | jq -r .path)
mkfs.ext4 -q -F -L berth-data "$disk2"
ctl define "$DOM2" kernel="$GUEST/vmlinuz" initrd="$GUEST/initrd.img" \
  cmdline="console=ttyS0 quiet berth.noagent=1" disk="$disk2:vda" >/dev/null
ctl start "$DOM2" >/dev/null
for _ in $(seq 1 120); do
  grep -q BERTH-GUEST-READY "$DIR/state/console/$DOM2.log" 2>/dev/null && break
  sleep 1
done
grep -q "BERTH-GUEST-READY agent=0" "$DIR/state/console/$DOM2.log" || fail "no-agent guest not up"
expect_eq "agent not ready" "$(ctl get "$DOM2" | jq -r .agentReady)" false
if ctl snapshot "$DOM2" freeze p:data2:n1 >/dev/null 2>"$DIR/n1.err"; then
  fail "a freeze without a guest agent succeeded"
fi
grep -q "error: 9: cannot freeze the filesystems of domain $DOM2: .*agent" "$DIR/n1.err" ||
  fail "unexpected error: $(cat "$DIR/n1.err")"
CHECKS=$((CHECKS + 1))
echo "no agent: $(cat "$DIR/n1.err")"
ctl delete-snapshot p n1 | jq -e '.existed == false' >/dev/null || fail "snapshot left behind"
CHECKS=$((CHECKS + 1))
expect_eq "delete no-agent guest" "$(ctl delete "$DOM2" | jq -r .existed)" true
echo "PASS: guest_freeze_test ($CHECKS checks)"
