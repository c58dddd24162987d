#!/usr/bin/env bash
# Connection floods against every listener of both daemons (docs/security.md, "Listeners"):
# per listener, 100,000 connect-and-close cycles, 2,000 connections held open and silent, and
# 500 connections that stop in the middle of a TLS ClientHello, all from 127.0.0.2, while a
# legitimate client on 127.0.0.1 makes a new connection and a real call every 300 ms.
# Throughout and after: the daemon keeps its pid; every silent or stalled connection is closed
# by the server (first-byte or handshake deadline, or refused at a limit); each legitimate call
# succeeds within its 5 s deadline; the thread count returns to at most 2 above where it
# started and RSS to at most 32 MiB above; and the listener's counters account for every
# accepted connection (accepted = refused + dropped + abandoned + served, none waiting).
# Counts can be lowered for a quick run: BERTH_FLOOD_CYCLES, BERTH_FLOOD_HOLD, BERTH_FLOOD_MIDTLS;
# BERTH_FLOOD_ONLY="export usbip" floods only those listeners.
source "$(cd "$(dirname "$0")" && pwd)/faults_lib.sh"

FLOOD=$BERTH_BUILD_DIR/bench/flood/berth-flood
[ -x "$FLOOD" ] || fail "$FLOOD is missing (it is built with the benchmarks, BERTH_BUILD_BENCH=ON)"
CYCLES=${BERTH_FLOOD_CYCLES:-100000}
HOLD=${BERTH_FLOOD_HOLD:-2000}
MIDTLS=${BERTH_FLOOD_MIDTLS:-500}
HOLD_SECONDS=8            # longer than every first-byte and handshake deadline (5 s)
THREAD_MARGIN=2
RSS_MARGIN_KB=$((32 * 1024))
P=$IT_PORT
USBIP_PORT=$((P + 151)) LINUX_PORT=$((P + 101)) EXPORT_PORT=$((P + 161))
CTRL_METRICS=$((P + 200)) AGENT_METRICS=$((P + 201))
BERTH_AGENT_FLAGS="--usbip_listen=127.0.0.1:$USBIP_PORT --usbip_peers=127.0.0.1,127.0.0.2"
BERTH_AGENT_FLAGS+=" --usbip_linux_listen=127.0.0.1:$LINUX_PORT"
export BERTH_AGENT_FLAGS+=" --export_listen=127.0.0.1:$EXPORT_PORT"
start_cluster 1
RUN=$IT_DIR/cluster/run
ADMIN=(--ca="$BERTH_CERTS/ca.crt" --cert="$BERTH_CERTS/admin/tls.crt"
  --key="$BERTH_CERTS/admin/tls.key")
AGENT_CERT=(--ca="$BERTH_CERTS/ca.crt" --cert="$BERTH_CERTS/agents/node-1/tls.crt"
  --key="$BERTH_CERTS/agents/node-1/tls.key")

# scrape PORT: keeps one /metrics text in $SCRAPE (one scrape, so a metrics listener's own
# connection is counted the same way in every sum read from it).
SCRAPE=
scrape() { SCRAPE=$(curl -sf "http://127.0.0.1:$1/metrics"); }
# metric PORT FAMILY LISTENER [SELECTOR]: the sum of FAMILY's samples for LISTENER (new scrape).
metric() { scrape "$1"; sum "$2" "$3" "${4:-}"; }
# sum FAMILY LISTENER [SELECTOR]: the same, from $SCRAPE.
sum() {
  grep "^$1{" <<<"$SCRAPE" | grep "listener=\"$2\"" | grep -- "${3:-}" |
    awk '{s += $2} END {printf "%d\n", s}'
}
# accounted LISTENER: refused + dropped + abandoned + served, from $SCRAPE.
accounted() {
  echo $(($(sum berth_listener_refused_total "$1") + $(sum berth_listener_dropped_total "$1") +
    $(sum berth_listener_abandoned_total "$1") + $(sum berth_listener_served_total "$1")))
}
threads_of() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }
rss_kb_of() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
val() { sed -n "s/^$1=//p" "$2"; }  # val KEY FILE: a key=value line of berth-flood's output

# PEER_CMD: a real client (berth, curl, usbip) run once during each flood phase; must succeed.
PEER_CMD=()

# flood_listener NAME PORT DAEMON METRICS_PORT PROBE [PROBE-FLAGS...]
flood_listener() {
  local name=$1 port=$2 daemon=$3 mport=$4 probe=$5
  shift 5
  if [ -n "${BERTH_FLOOD_ONLY:-}" ] && [[ " $BERTH_FLOOD_ONLY " != *" $name "* ]]; then
    PEER_CMD=()
    return 0
  fi
  local pid; pid=$(cat "$RUN/$daemon.pid")
  local t0 r0 acc0
  t0=$(threads_of "$pid") r0=$(rss_kb_of "$pid")
  acc0=$(metric "$mport" berth_listener_accepted_total "$name")
  local out=$IT_DIR/flood-$name
  mkdir -p "$out"
  local phase
  for phase in cycle hold midtls; do
    local count=$CYCLES extra=(--threads=2)
    [ $phase = hold ] && count=$HOLD extra=(--hold=$HOLD_SECONDS)
    [ $phase = midtls ] && count=$MIDTLS extra=(--hold=$HOLD_SECONDS)
    "$FLOOD" --target="127.0.0.1:$port" --mode=probe --probe="$probe" "$@" --count=30 \
      --interval-ms=300 --timeout-ms=5000 >"$out/probe-$phase" 2>&1 &
    local probe_pid=$!
    local peer_rc=0
    if [ ${#PEER_CMD[@]} -gt 0 ]; then
      sleep 1
      "${PEER_CMD[@]}" >"$out/peer-$phase" 2>&1 || peer_rc=$?
    fi
    "$FLOOD" --target="127.0.0.1:$port" --mode=$phase --count="$count" --source=127.0.0.2 \
      "${extra[@]}" >"$out/$phase" 2>&1 || fail "$name: berth-flood --mode=$phase: $(cat "$out/$phase")"
    wait "$probe_pid" || true
    check "$name/$phase: the daemon kept its pid" test -d "/proc/$pid"
    expect_eq "$name/$phase: legitimate calls during the flood that failed (of 30, 5 s each)" \
      "$(val failed "$out/probe-$phase")" 0
    [ ${#PEER_CMD[@]} -eq 0 ] || expect_eq "$name/$phase: ${PEER_CMD[0]} during the flood" "$peer_rc" 0
    if [ $phase != cycle ]; then
      expect_eq "$name/$phase: silent connections closed by the server" \
        "$(val closed_by_server "$out/$phase")" "$(val connected "$out/$phase")"
    fi
    if [ $phase = cycle ]; then
      figure "$name cycle: connect-and-close per second" "$(val per_second "$out/$phase")"
    else
      figure "$name $phase: closed by server / connected, slowest close (ms)" \
        "$(val closed_by_server "$out/$phase") / $(val connected "$out/$phase"), $(val \
          close_after_ms_max "$out/$phase")"
    fi
    figure "$name $phase: legitimate p50/p99 ms" \
      "$(val p50_ms "$out/probe-$phase") / $(val p99_ms "$out/probe-$phase")"
  done
  # Settle: nothing waiting, threads and memory back near where they started.
  local tries=0
  until [ "$(metric "$mport" berth_listener_open_connections "$name" 'stage="waiting"')" = 0 ] &&
    [ "$(threads_of "$pid")" -le $((t0 + THREAD_MARGIN)) ]; do
    tries=$((tries + 1)); [ $tries -gt 150 ] && break
    sleep 0.1
  done
  expect_eq "$name: connections waiting after the floods" \
    "$(metric "$mport" berth_listener_open_connections "$name" 'stage="waiting"')" 0
  local t1 r1
  t1=$(threads_of "$pid") r1=$(rss_kb_of "$pid")
  check "$name: threads $t0 -> $t1 (margin $THREAD_MARGIN)" test "$t1" -le $((t0 + THREAD_MARGIN))
  check "$name: RSS ${r0} KiB -> ${r1} KiB (margin $RSS_MARGIN_KB KiB)" \
    test "$r1" -le $((r0 + RSS_MARGIN_KB))
  scrape "$mport"
  local acc
  acc=$(sum berth_listener_accepted_total "$name")
  expect_eq "$name: accepted = refused + dropped + abandoned + served" "$acc" \
    "$(accounted "$name")"
  check "$name: the flood went through the listener ($((acc - acc0)) accepted)" \
    test $((acc - acc0)) -ge $((HOLD / 2))
  figure "$name: threads / RSS KiB before -> after" "$t0 / $r0 -> $t1 / $r1"
  figure "$name: accepted: refused / dropped / abandoned / served" \
    "$acc: $(sum berth_listener_refused_total "$name") / $(sum berth_listener_dropped_total \
      "$name") / $(sum berth_listener_abandoned_total "$name") / $(sum \
      berth_listener_served_total "$name")"
  PEER_CMD=()
}

CA=$BERTH_CERTS/ca.crt CRT=$BERTH_CERTS/admin/tls.crt KEY=$BERTH_CERTS/admin/tls.key
PEER_CMD=(berth get nodes)
flood_listener controller-grpc "$P" controller "$CTRL_METRICS" grpc "${ADMIN[@]}"
PEER_CMD=(curl -sf "http://127.0.0.1:$CTRL_METRICS/healthz")
flood_listener metrics "$CTRL_METRICS" controller "$CTRL_METRICS" http
# The controller calls the agent while its port is flooded: a disk is created and Ready.
PEER_CMD=(bash -c "berth apply -f - <<'Y'
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata: {name: during-flood}
spec: {persistentVolumeClaim: {size: 64Mi, storageClassName: local-copy}}
Y
berth wait vd/during-flood --for=jsonpath='{.status.phase}'=Ready --timeout=60s &&
berth delete vd during-flood --wait --timeout=60s")
flood_listener agent-grpc $((P + 1)) node-1 "$AGENT_METRICS" grpc "${ADMIN[@]}"
PEER_CMD=()
flood_listener usbip "$USBIP_PORT" node-1 "$AGENT_METRICS" usbip "${AGENT_CERT[@]}"
PEER_CMD=(usbip --tcp-port "$LINUX_PORT" list -r 127.0.0.1)
flood_listener usbip-linux "$LINUX_PORT" node-1 "$AGENT_METRICS" usbip
# Any answer from the export server proves it served the request (404: no such export).
PEER_CMD=(bash -c "code=\$(curl -s -o /dev/null -w '%{http_code}' --cacert '$CA' --cert '$CRT' \
  --key '$KEY' https://127.0.0.1:$EXPORT_PORT/exports/none); [ \"\$code\" -ge 400 ]")
flood_listener export "$EXPORT_PORT" node-1 "$AGENT_METRICS" https "${ADMIN[@]}"
PEER_CMD=(curl -sf "http://127.0.0.1:$AGENT_METRICS/healthz")
flood_listener metrics "$AGENT_METRICS" node-1 "$AGENT_METRICS" http

print_figures
done_ok
