#!/usr/bin/env bash
# Network cut between the controller and an agent. The agent is reached through
# blackhole_proxy.py on loopback in both directions: the controller dials the agent at
# --advertise (proxy A -> the agent's --listen) and the agent heartbeats to --controller (proxy
# B -> the controller). Cutting both black-holes the link (no RST, no FIN: silence). Then:
#  - a guest frozen at the cut is thawed by the agent's own deadline (--auto_thaw_seconds; the
#    freeze is held longer than that with --debug_hold_freeze_ms, so only the deadline thaws it);
#  - the Node turns NotReady;
#  - a snapshot requested during the cut, and the one whose freeze was cut, wait: not Failed,
#    not Ready, for the whole cut;
#  - after the link is back the Node is Ready and the waiting snapshot completes (Ready).
source "$(dirname "$0")/faults_lib.sh"
AUTO_THAW=5
HOLD_MS=60000
CUT_S=${FAULTS_CUT_SECONDS:-25}
W=$IT_DIR/w
mkdir -p "$W/proxy"
P_AGENT=$((IT_PORT + 50))
P_CTRL=$((IT_PORT + 51))
python3 "$FAULTS_DIR/blackhole_proxy.py" "$W/proxy" "$P_AGENT:127.0.0.1:$((IT_PORT + 1))" \
  "$P_CTRL:127.0.0.1:$IT_PORT" >"$W/proxy.log" 2>&1 &
PROXY=$!
on_exit "kill $PROXY"
for _ in $(seq 1 50); do [ -e "$W/proxy/ready" ] && break; sleep 0.1; done
[ -e "$W/proxy/ready" ] || fail "proxy did not start: $(cat "$W/proxy.log")"
# The later --controller wins over the one local-cluster sets.
export BERTH_AGENT_FLAGS="--advertise=127.0.0.1:$P_AGENT --controller=127.0.0.1:$P_CTRL \
--auto_thaw_seconds=$AUTO_THAW --debug_hold_freeze_ms=$HOLD_MS"
start_cluster 1
expect_eq "node address is the proxy" "$(berth get node node-1 -o json | jq -r '.status.address // .spec.address')" \
  "127.0.0.1:$P_AGENT"
boot_guest g root
disk_yaml blank local-reflink 16Mi | berth apply -f - >/dev/null
wait_phase vd blank Ready
node_ready() { berth get node node-1 -o json | jq -r '.status.conditions[] | select(.type=="Ready") | .status'; }
expect_eq "node Ready before the cut" "$(node_ready)" True

# --- freeze, then cut ---
snapshot_yaml frozen-at-cut root | berth apply -f - >/dev/null
wait_guest "$DOM" frozen 30000 || fail "the guest never froze"
f=$(now_ms)
touch "$W/proxy/cut"
c=$(now_ms)
wait_guest "$DOM" thawed $((AUTO_THAW * 1000 + 5000)) ||
  fail "guest still frozen $((AUTO_THAW + 5)) s after the freeze with the controller cut off"
th=$(now_ms)
thaw_ms=$((th - f))
echo "guest thawed by the agent's deadline ${thaw_ms} ms after the freeze ($((th - c)) ms after the cut)"
[ "$thaw_ms" -le $((AUTO_THAW * 1000 + 1000)) ] || fail "thawed ${thaw_ms} ms after the freeze (deadline ${AUTO_THAW} s)"
CHECKS=$((CHECKS + 1))
grep -q "auto-thaw deadline passed" "$IT_DIR/cluster/logs/node-1.log" || fail "not thawed by the deadline"
CHECKS=$((CHECKS + 1))

# --- during the cut: NotReady; operations wait ---
snapshot_yaml during-cut blank | berth apply -f - >/dev/null
berth wait node/node-1 --for=jsonpath='{.status.conditions[0].status}'=False --timeout=60s >/dev/null ||
  fail "node-1 still Ready with its link cut"
notready_ms=$(($(now_ms) - c))
echo "node NotReady ${notready_ms} ms after the cut"
polls=0
while [ $(($(now_ms) - c)) -lt $((CUT_S * 1000)) ]; do
  for s in during-cut frozen-at-cut; do
    p=$(jp vds "$s" '{.status.phase}')
    case $p in
      Failed) fail "vds/$s Failed during the cut: $(berth get vds "$s" -o json | jq -c .status.conditions)" ;;
      Ready) fail "vds/$s Ready while its node was unreachable" ;;
    esac
  done
  expect_eq "node stays NotReady during the cut" "$(node_ready)" False
  polls=$((polls + 1))
  sleep 1
done
phase_during=$(jp vds during-cut '{.status.phase}')
echo "during the cut (${CUT_S} s): during-cut=$phase_during frozen-at-cut=$(jp vds frozen-at-cut '{.status.phase}')"
expect_eq "guest still thawed during the cut" "$(guest_fs "$DOM")" thawed

# --- heal ---
rm -f "$W/proxy/cut"
h=$(now_ms)
berth wait node/node-1 --for=condition=Ready --timeout=60s >/dev/null || fail "node-1 not Ready after the heal"
ready_ms=$(($(now_ms) - h))
wait_phase vds during-cut Ready 90s
op_ms=$(($(now_ms) - h))
echo "after the heal: node Ready in ${ready_ms} ms, the waiting snapshot Ready in ${op_ms} ms"
# The snapshot cut at the freeze cannot complete here (its freeze is held past the deadline on
# purpose): delete it; the guest ends thawed and no node-side data remains for it.
check "delete frozen-at-cut" berth delete vds frozen-at-cut --timeout=90s
wait_guest "$DOM" thawed $((AUTO_THAW * 1000 + 5000)) || fail "guest left frozen after the delete"
CHECKS=$((CHECKS + 1))
expect_eq "node-side snapshots" "$(ls -A "$IT_DIR/cluster/mnt/xfs/node-1/snapshots")" \
  "$(jp vds during-cut '{.metadata.uid}')"
expect_eq "freeze journal empty" "$(ls -A "$IT_DIR/cluster/state/node-1/freeze-journal" | wc -l)" 0

figure "link" "both directions through a loopback black-hole proxy"
figure "auto-thaw deadline / freeze hold" "${AUTO_THAW} s / ${HOLD_MS} ms"
figure "freeze -> thawed by the agent's deadline (ms)" "$thaw_ms"
figure "cut -> Node NotReady (ms)" "$notready_ms"
figure "cut length (s) / phase checks during it (none Failed)" "$CUT_S / $polls"
figure "waiting snapshot's phase during the cut" "$phase_during"
figure "heal -> Node Ready (ms)" "$ready_ms"
figure "heal -> waiting snapshot Ready (ms)" "$op_ms"
print_figures
done_ok
