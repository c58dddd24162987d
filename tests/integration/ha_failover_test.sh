#!/usr/bin/env bash
# HA control plane (issue 17): three controllers on a three-member etcd cluster, one leading,
# one node running a real guest (tests/guest: qemu-guest-agent, TCG) with an ext4 data disk.
# - exactly one leader, and `local-cluster status` names it;
# - SIGKILL the leader while 1,000 snapshots are being made and a Restore of the running VM is
#   InProgress: a new leader within lease TTL + 2 s, all 1,000 Ready, none duplicated, one
#   node-side snapshot per object; the restore Completed, the VM running again on a replaced
#   disk, one node-side volume per VirtualDisk (no duplicate disks);
# - SIGSTOP the next leader past its lease while it waits on the agent for a consistent VM
#   snapshot (the agent holds the freeze 2 s: --debug_hold_freeze_ms): the guest is thawed within
#   the agent's freeze deadline (berth_agent_frozen_domains back to 0, the largest freeze window
#   bucket below the deadline), another one leads, and after SIGCONT the paused one logs that it
#   lost the leadership with no write committed after the new term began;
# - one etcd member down: snapshots still get made; two down: a create fails (Unavailable) in
#   bounded time while reads still answer from the cache; both back: everything converges.
source "$(dirname "$0")/lib.sh"
command -v etcd >/dev/null || { echo "SKIP: etcd is not installed (etcd-server)"; exit 0; }

TTL=5  # --lease_ttl_seconds that local-cluster gives the controllers
N=1000  # snapshots made across the leader's SIGKILL
HOLD_MS=2000  # the agent holds each guest freeze this long (tests only), so a pause lands in one
GUEST=$BERTH_BUILD_DIR/guest
bash "$BERTH_SOURCE_DIR/tests/guest/build-guest.sh" "$GUEST" >/dev/null 2>&1 ||
  bash "$BERTH_SOURCE_DIR/tests/guest/build-guest.sh" "$GUEST"
RUN=$IT_DIR/cluster/run
LOGS=$IT_DIR/cluster/logs
POOL=$IT_DIR/cluster/mnt/xfs/node-1/snapshots  # local-reflink on node-1
PAUSED=""  # pid of a SIGSTOPped controller, resumed on any exit
LATE_FAILURES=()  # failed checks that do not stop the test, reported at its end
DOMAIN=""  # the guest's libvirt domain, destroyed on any exit

ha_cleanup() {
  local rc=$?
  set +e  # (exit) below only hands the status on to lib.sh's cleanup
  [ -n "$PAUSED" ] && kill -CONT "$PAUSED" 2>/dev/null
  # The controllers go first (they would start the domain again), then the domain: a running
  # guest would keep the loop-mounted pool busy.
  local k
  for k in 1 2 3; do cluster kill "controller-$k" >/dev/null 2>&1; done
  if [ -n "$DOMAIN" ]; then
    virsh_ destroy "$DOMAIN" >/dev/null 2>&1
    virsh_ undefine "$DOMAIN" >/dev/null 2>&1
  fi
  (exit $rc)
  cleanup
}
trap ha_cleanup EXIT

BERTH_AGENT_FLAGS="--debug_hold_freeze_ms=$HOLD_MS" cluster up --ha --no-build --nodes 1 >/dev/null
export BERTH_SERVER=127.0.0.1:$IT_PORT,127.0.0.1:$((IT_PORT + 1)),127.0.0.1:$((IT_PORT + 2))

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
metrics_port() { if [ "$1" = 1 ]; then echo $((IT_PORT + 200)); else echo $((IT_PORT + 220 + $1)); fi; }
readyz() { curl -s --max-time 1 "http://127.0.0.1:$(metrics_port "$1")/readyz" 2>/dev/null || true; }
leaders() {  # leaders [SKIP]: the controllers whose /readyz says they lead, one a line
  local k
  for k in 1 2 3; do
    # A paused controller would cost the poll a 1 s timeout: skip it.
    [ "controller-$k" = "${1:-}" ] || readyz "$k" | sed -n 's/^ready: leader //p'
  done
}
wait_leader() {  # wait_leader TIMEOUT_S [NOT]: prints the single leader (other than NOT)
  local until_t; until_t=$(awk -v t="$(now)" -v d="$1" 'BEGIN { printf "%.3f", t + d }')
  while awk -v t="$(now)" -v u="$until_t" 'BEGIN { exit !(t < u) }'; do
    local l; l=$(leaders "${2:-}")
    if [ -n "$l" ] && [ "$(wc -l <<<"$l")" = 1 ] && [ "$l" != "${2:-}" ]; then echo "$l"; return 0; fi
    sleep 0.1
  done
  echo "none: $(leaders "${2:-}" | paste -sd, -)"
  return 1
}
follows() {  # follows K LEADER: controller-K's /readyz names LEADER within 5 s
  local i
  for i in $(seq 50); do
    [ "$(readyz "$1")" = "ready: follower, leader $2" ] && return 0
    sleep 0.1
  done
  echo "controller-$1: $(readyz "$1")" >&2
  return 1
}
retry() {  # retry SECONDS COMMAND...: runs the command until it succeeds (the CLI fails over)
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 1
  done
}
count() { berth get vds -o json | jq "[.items[] | $1] | length"; }  # count JQ_SELECT
ready_count() { count 'select(.status.phase=="Ready")'; }
snapshots_yaml() {  # snapshots_yaml PREFIX N
  local i
  for i in $(seq 1 "$2"); do snapshot_yaml "$1-$i" src; echo ---; done
}
node_matches_objects() {  # one node-side snapshot per object, by uid, nothing else
  local uids on_node
  uids=$(berth get vds -o json | jq -r '.items[].metadata.uid' | sort)
  on_node=$(ls -A "$POOL" | sort)
  expect_eq "node-side snapshots are exactly the objects' uids ($(wc -l <<<"$uids") objects)" \
    "$on_node" "$uids"
}
last_field() {  # last_field LOG MESSAGE FIELD: FIELD of the last record MESSAGE in LOG
  grep -F "$2" "$1" | tail -n1 | grep -oE "(^| )$3=[0-9]+" | tail -n1 | cut -d= -f2
}
wait_op() {  # wait_op KIND NAME PHASE [TIMEOUT]
  retry 30 berth wait "$1/$2" --for="jsonpath={.status.phase}=$3" --timeout="${4:-180s}" >/dev/null ||
    fail "$1/$2 did not reach $3: $(berth get "$1" "$2" -o json | jq -c '.status')"
  CHECKS=$((CHECKS + 1))
}
wait_agent_ready() {  # wait_agent_ready VM
  retry 30 berth wait "vm/$1" --for=condition=AgentReady --timeout=240s >/dev/null ||
    fail "vm/$1: guest agent not ready (phase $(jp vm "$1" '{.status.phase}'))"
  CHECKS=$((CHECKS + 1))
}
vmsnapshot_yaml() {  # vmsnapshot_yaml NAME VM: a consistent VM snapshot (freezes a running guest)
  cat <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineSnapshot
metadata:
  name: $1
spec:
  virtualMachineName: $2
  requiredConsistency: true
  keepIPAddress: Always
YAML
}
restore_yaml() {  # restore_yaml NAME VM SNAPSHOT
  cat <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineOperation
metadata:
  name: $1
spec:
  type: Restore
  virtualMachineName: $2
  restore:
    mode: Strict
    virtualMachineSnapshotName: $3
YAML
}
vmsnap_vds() { berth get vmsnapshot -o json | jq '[.items[].status.virtualDiskSnapshotNames // [] | .[]] | length'; }
check_volumes() {  # node-side volumes are exactly the VirtualDisks' uids: none duplicated or leaked
  local want have
  want=$(berth get vd -o json | jq -r '.items[] | select(.status.pool=="reflink") | .metadata.uid' | sort)
  have=$(ls -A "$IT_DIR/cluster/mnt/xfs/node-1/volumes" | grep -v '^\.' | sort)
  expect_eq "node-side volumes are exactly the disks' uids ($1)" "$have" "$want"
}
agent_metric() {  # agent_metric NAME_WITH_LABELS: node-1's value, or "" when it does not answer
  curl -s --max-time 2 "http://127.0.0.1:$((IT_PORT + 201))/metrics" 2>/dev/null |
    awk -v m="$1" '$1 == m { print $2; exit }'
}
freeze_window_max_bucket() {  # the upper bound of the highest non-empty freeze-window bucket
  curl -s --max-time 2 "http://127.0.0.1:$((IT_PORT + 201))/metrics" | awk '
    $1 == "berth_agent_freeze_window_seconds_count" { total = $2 }
    $1 ~ /^berth_agent_freeze_window_seconds_bucket/ {
      le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le); n++; les[n] = le; cum[n] = $2 }
    END { if (total == 0) { print 0; exit }
          for (i = 1; i <= n; i++) if (cum[i] >= total) { print les[i]; exit } }'
}
guest_fs() {  # the guest's own answer: thawed | frozen | unknown
  timeout 15 virsh -c "$(dom_uri "$DOMAIN")" qemu-agent-command "$DOMAIN" \
    '{"execute":"guest-fsfreeze-status"}' 2>/dev/null | jq -r .return 2>/dev/null || echo unknown
}

# --- the guest (boots while the leader is checked) ---------------------------------------------
bash "$BERTH_SOURCE_DIR/tests/guest/make-data-disk.sh" "$IT_DIR/data.img" 64M
check "upload the ext4 data disk" retry 30 berth data import upload vd/db-data -f "$IT_DIR/data.img" \
  --storage-class local-reflink >/dev/null
wait_phase vd db-data Ready
guest_vm_yaml db db-data | berth apply -f - >/dev/null
vm_uid=$(jp vm db '{.metadata.uid}')
DOMAIN=berth-default-db-${vm_uid:0:8}
disk_yaml src local-reflink 16Mi | berth apply -f - >/dev/null

# --- one leader -----------------------------------------------------------------------------
leader=$(wait_leader 30) || fail "no single leader after start: $leader"
expect_eq "exactly one controller leads" "$(leaders | wc -l)" 1
check "status names the leader" grep -qx "leader: $leader" <<<"$(cluster status || true)"
for k in 1 2 3; do
  [ "controller-$k" = "$leader" ] || check "controller-$k follows $leader" follows "$k" "$leader"
done
echo "leader: $leader"

# --- a consistent VM snapshot of the running guest ----------------------------------------------
wait_phase vm db Running 180s
wait_agent_ready db
vmsnapshot_yaml db-snap db | berth apply -f - >/dev/null
wait_phase vmsnapshot db-snap Ready 120s
expect_eq "VM snapshot consistent" "$(jp vmsnapshot db-snap '{.status.consistent}')" true
disk_uid=$(jp vd db-data '{.metadata.uid}')

# --- SIGKILL the leader while N snapshots are being made and the VM is being restored ---------
wait_phase vd src Ready
snapshots_yaml s $N >"$IT_DIR/s.yaml"
t_apply=$(now)
berth apply -f "$IT_DIR/s.yaml" >"$IT_DIR/apply-s.log" 2>&1 &
apply_pid=$!
s_count() { berth get vds -o name 2>/dev/null | grep -c '/s-' || true; }
deadline=$((SECONDS + 30))
until [ "$(s_count)" -ge $((N / 4)) ] || [ $SECONDS -ge $deadline ]; do sleep 0.05; done
# The restore of the running VM starts, and the leader dies once it is InProgress.
restore_yaml restore-db db db-snap | berth apply -f - >/dev/null
deadline=$((SECONDS + 30))
until [ "$(jp vmop restore-db '{.status.phase}' 2>/dev/null)" = InProgress ] ||
  [ $SECONDS -ge $deadline ]; do
  sleep 0.05
done
read -r objects ready < <(berth get vds -o json | jq -r '[.items[] | select(.metadata.name |
  startswith("s-"))] | [length, ([.[] | select(.status.phase=="Ready")] | length)] | @tsv')
read -r r_phase r_step < <(berth get vmop restore-db -o json |
  jq -r '[.status.phase // "-", .status.step // "-"] | @tsv')
t0=$(now)
cluster kill "$leader" >/dev/null
killed=$leader
leader=$(wait_leader $((TTL + 10)) "$killed") || fail "no new leader after killing $killed: $leader"
failover=$(elapsed "$t0" "$(now)")
echo "killed $killed $(elapsed "$t_apply" "$t0") s into the apply, with $objects of $N snapshots" \
  "created, $ready Ready, the restore $r_phase at step $r_step; $leader leads after ${failover} s (lease TTL $TTL s)"
check "the CLI answers with $killed dead" berth get vd src -o name >/dev/null
check "a new leader within TTL + 2 s (${failover} s)" \
  awk -v f="$failover" -v t="$TTL" 'BEGIN { exit !(f <= t + 2) }'
check "the snapshots were still being made when the leader died" test "$ready" -lt $N
expect_eq "the restore was in progress when the leader died" "$r_phase" InProgress
wait "$apply_pid" ||
  echo "apply was cut off by the kill (retried below): $(grep -m1 -i error "$IT_DIR/apply-s.log")"
# Apply is idempotent: whatever the killed controller did not take is created now, nothing twice.
check "the $N snapshots are applied" retry 60 berth apply -f "$IT_DIR/s.yaml" >/dev/null
check "all snapshots Ready" retry 60 \
  berth wait vds --all --for=jsonpath='{.status.phase}'=Ready --timeout=180s >/dev/null
echo "$N snapshots: applied and all Ready $(elapsed "$t_apply" "$(now)") s after the apply began"
VM_VDS=$(vmsnap_vds)  # disk snapshots of the VM snapshots
expect_eq "s-* snapshot objects" "$(count 'select(.metadata.name | startswith("s-"))')" $N
expect_eq "snapshot objects" "$(count '.')" $((N + VM_VDS))
expect_eq "distinct snapshot names" \
  "$(berth get vds -o json | jq -r '.items[].metadata.name' | sort -u | wc -l)" $((N + VM_VDS))
expect_eq "Ready snapshots" "$(ready_count)" $((N + VM_VDS))
node_matches_objects
wait_op vmop restore-db Completed
echo "restore: Completed $(elapsed "$t0" "$(now)") s after the kill"
expect_eq "restore resources all Completed" \
  "$(berth get vmop restore-db -o json | jq -r '[.status.resources[].status] | unique | join(",")')" Completed
wait_phase vm db Running 180s
wait_agent_ready db
expect_eq "same VM (uid)" "$(jp vm db '{.metadata.uid}')" "$vm_uid"
[ "$(jp vd db-data '{.metadata.uid}')" != "$disk_uid" ] || fail "the restore did not replace the disk"
CHECKS=$((CHECKS + 1))
expect_eq "restored disk points at the disk snapshot" \
  "$(jp vd db-data '{.spec.dataSource.objectRef.name}')" "db-data-$(jp vmsnapshot db-snap '{.metadata.uid}')"
expect_eq "VirtualDisks (no duplicate)" \
  "$(berth get vd -o json | jq -r '[.items[].metadata.name] | sort | join(",")')" db-data,src
check_volumes "after the restore"
expect_eq "the guest domain is running" \
  "$(virsh_ domstate "$DOMAIN" 2>&1)" running
cluster start "$killed" >/dev/null
check "the restarted $killed follows $leader" follows "${killed#controller-}" "$leader"

# --- SIGSTOP the leader past its lease, with work in flight -----------------------------------
DEADLINE=$(grep -oE "auto-thaw after [0-9]+s" "$LOGS/node-1.log" | tail -n1 | grep -oE "[0-9]+")
[ -n "$DEADLINE" ] || fail "node-1's log does not name its freeze deadline (auto-thaw after Ns)"
freezes0=$(grep -c "sent guest-fsfreeze-freeze to $DOMAIN" "$LOGS/node-1.log" || true)
snapshots_yaml p 30 >"$IT_DIR/p.yaml"
paused=$leader
berth apply -f "$IT_DIR/p.yaml" >/dev/null
vmsnapshot_yaml db-snap-2 db | berth apply -f - >/dev/null
# Pause the leader while it waits on the agent's SnapshotVolumes, the guest frozen.
tries=0
until [ "$(agent_metric berth_agent_frozen_domains)" = 1 ] || [ $tries -gt 600 ]; do
  tries=$((tries + 1)); sleep 0.05
done
expect_eq "the guest is frozen for db-snap-2 (berth_agent_frozen_domains)" \
  "$(agent_metric berth_agent_frozen_domains)" 1
PAUSED=$(cat "$RUN/$paused.pid")
t0=$(now)
kill -STOP "$PAUSED"
until [ "$(agent_metric berth_agent_frozen_domains)" = 0 ] ||
  awk -v t0="$t0" -v t="$(now)" -v d="$DEADLINE" 'BEGIN { exit !(t - t0 > d + 2) }'; do
  sleep 0.05
done
thawed_after=$(elapsed "$t0" "$(now)")
echo "paused $paused with the guest frozen; thawed ${thawed_after} s later" \
  "(freeze hold ${HOLD_MS} ms, deadline ${DEADLINE} s)"
expect_eq "berth_agent_frozen_domains back to 0" "$(agent_metric berth_agent_frozen_domains)" 0
check "the guest thawed within the freeze deadline (${thawed_after} s <= ${DEADLINE} s)" \
  awk -v f="$thawed_after" -v d="$DEADLINE" 'BEGIN { exit !(f <= d) }'
expect_eq "the guest says its filesystems are thawed" "$(guest_fs)" thawed
leader=$(wait_leader 8 "$paused") || fail "nobody took over from the paused $paused: $leader"
takeover=$(elapsed "$t0" "$(now)")
echo "paused $paused; $leader leads after ${takeover} s"
# The CLI gets past a paused controller at the head of its list (it accepts TCP, never answers).
others=$(for k in 1 2 3; do [ "controller-$k" = "$paused" ] || printf ',127.0.0.1:%s' $((IT_PORT + k - 1)); done)
t1=$(now)
check "the CLI fails over past the paused $paused" timeout 8 \
  berth --server "127.0.0.1:$((IT_PORT + ${paused#controller-} - 1))$others" get vd src -o name >/dev/null
cli_failover=$(elapsed "$t1" "$(now)")
echo "a CLI call with the paused controller first in its list took ${cli_failover} s"
rest=$(awk -v t0="$t0" -v t="$(now)" 'BEGIN { r = 8 - (t - t0); print (r > 0 ? r : 0) }')
sleep "$rest"
expect_eq "the leader after 8 s of pause" "$(wait_leader 2 "$paused")" "$leader"
kill -CONT "$PAUSED"
PAUSED=""
sleep 3
plog=$LOGS/$paused.log
check "$paused logged that it lost the leadership" grep -q "lost the leadership" "$plog"
last_rev=$(last_field "$plog" "lost the leadership" last_committed_revision)
refused=$(last_field "$plog" "lost the leadership" writes_refused)
new_term=$(last_field "$LOGS/$leader.log" "became the leader" term)
echo "$paused: last_committed_revision=$last_rev writes_refused=$refused; $leader's term=$new_term"
check "no write of $paused landed after $leader's term began ($last_rev < $new_term)" \
  test "${last_rev:-x}" -lt "${new_term:-0}"
check "$paused follows $leader after SIGCONT" follows "${paused#controller-}" "$leader"
check "the 30 snapshots made across the pause are Ready" retry 30 \
  berth wait vds --all --for=jsonpath='{.status.phase}'=Ready --timeout=120s >/dev/null
wait_op vmsnapshot db-snap-2 Ready 120s
expect_eq "db-snap-2 consistent" "$(jp vmsnapshot db-snap-2 '{.status.consistent}')" true
echo "db-snap-2: freeze window $(jp vmsnapshot db-snap-2 '{.status.freezeWindowMicros}') us;" \
  "freezes sent to the guest: $(($(grep -c "sent guest-fsfreeze-freeze to $DOMAIN" "$LOGS/node-1.log" || true) - freezes0))"
VM_VDS=$(vmsnap_vds)
expect_eq "snapshot objects" "$(count '.')" $((N + 30 + VM_VDS))
node_matches_objects
expect_eq "no guest frozen (berth_agent_frozen_domains)" "$(agent_metric berth_agent_frozen_domains)" 0
max_le=$(freeze_window_max_bucket)
echo "freeze windows: $(agent_metric berth_agent_freeze_window_seconds_count) observed," \
  "sum $(agent_metric berth_agent_freeze_window_seconds_sum) s, all <= ${max_le} s;" \
  "freeze failures: $(agent_metric 'berth_agent_freeze_failures_total{op="freeze"}')," \
  "thaw failures: $(agent_metric 'berth_agent_freeze_failures_total{op="thaw"}')"
check "every freeze window under the ${DEADLINE} s deadline (largest bucket <= ${max_le} s)" \
  awk -v m="$max_le" -v d="$DEADLINE" 'BEGIN { exit !(m + 0 > 0 && m + 0 < d) }'

# --- etcd: one member down, then two ---------------------------------------------------------
cluster kill etcd-1 >/dev/null
snapshots_yaml e 20 >"$IT_DIR/e.yaml"
# Two members are a quorum: creates succeed at once, no retry.
check "creates work with one etcd member down" berth apply -f "$IT_DIR/e.yaml" >/dev/null
check "the 20 snapshots Ready with one member down" retry 30 \
  berth wait vds --all --for=jsonpath='{.status.phase}'=Ready --timeout=120s >/dev/null
expect_eq "e-* snapshots" "$(count 'select(.metadata.name | startswith("e-"))')" 20

cluster kill etcd-2 >/dev/null
t0=$(now)
rc=0
out=$(snapshot_yaml x-1 src | timeout 40 berth apply -f - 2>&1) || rc=$?
took=$(elapsed "$t0" "$(now)")
echo "create without etcd quorum: exit $rc after ${took} s: $out"
check "a create fails without etcd quorum" test "$rc" -ne 0
check "... not by the timeout command" test "$rc" -ne 124
# The controller answers UNAVAILABLE naming etcd ("Error from server (ServiceUnavailable):
# etcd txn at …"), as kubectl does.
# (A failure here is reported at the end, so the recovery below is still checked.)
grep -qE "ServiceUnavailable.*etcd" <<<"$out" &&
  CHECKS=$((CHECKS + 1)) || LATE_FAILURES+=("the create without quorum did not fail UNAVAILABLE: $out")
if command -v kubectl >/dev/null; then
  rc=0
  out=$(snapshot_yaml x-2 src | timeout 40 kubectl --kubeconfig "$IT_DIR/cluster/kubeconfig" \
    create -f - 2>&1) || rc=$?
  echo "kubectl create without etcd quorum: exit $rc: $out"
  grep -q "ServiceUnavailable" <<<"$out" && CHECKS=$((CHECKS + 1)) ||
    LATE_FAILURES+=("kubectl's create without quorum did not fail ServiceUnavailable: $out")
fi
t0=$(now)
listed=$(timeout 20 berth get vds -o name | wc -l)
echo "reads without quorum: $listed objects in $(elapsed "$t0" "$(now)") s"
check "reads still answer from the cache" test "$listed" -ge $((N + 50 + VM_VDS))

cluster start etcd-1 >/dev/null
cluster start etcd-2 >/dev/null
t0=$(now)
leader=$(wait_leader 60) || fail "no single leader after etcd came back: $leader"
echo "etcd back: $leader leads after $(elapsed "$t0" "$(now)") s"
check "all snapshots Ready after etcd came back" retry 60 \
  berth wait vds --all --for=jsonpath='{.status.phase}'=Ready --timeout=120s >/dev/null
expect_eq "the 20 e-* snapshots remain" "$(count 'select(.metadata.name | startswith("e-"))')" 20
x=$(count 'select(.metadata.name | startswith("x-"))')
echo "creates refused without quorum that were committed after all (a timed-out etcd write" \
  "may still commit): $x"
expect_eq "snapshot objects" "$(count '.')" $((N + 50 + VM_VDS + x))
node_matches_objects
check "node-1 Ready" berth wait node/node-1 --for=condition=Ready --timeout=60s
expect_eq "the VM still runs" "$(jp vm db '{.status.phase}')" Running
check "status names the leader" grep -qx "leader: $leader" <<<"$(cluster status || true)"
echo "timings: leader failover ${failover} s, takeover from paused leader ${takeover} s," \
  "CLI past a paused controller ${cli_failover} s"
for f in "${LATE_FAILURES[@]}"; do echo "FAIL: $f" >&2; done
[ ${#LATE_FAILURES[@]} = 0 ] || exit 1
done_ok
