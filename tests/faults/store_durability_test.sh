#!/usr/bin/env bash
# Store durability under controller SIGKILL: in each of TRIALS trials (default 100), client loops
# write Secrets (creates, plus updates of a counter in secrets already acknowledged) through
# `berth apply` while the controller is SIGKILLed (`local-cluster crash controller`; the
# supervisor restarts it). A write is acknowledged when `berth apply` returned 0. After the
# restart every acknowledged create must exist and every acknowledged update must be there (the
# stored counter is at least the last acknowledged one: a write whose reply was lost may have
# been committed, which is allowed).
source "$(dirname "$0")/faults_lib.sh"
TRIALS=${FAULTS_STORE_TRIALS:-100}
CLIENTS=3
start_cluster 1
W=$IT_DIR/w
mkdir -p "$W"

secret_doc() {  # secret_doc NAME TRIAL VALUE
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  labels: {trial: "%s"}\n' "$1" "$2"
  printf 'stringData:\n  v: "%s"\n' "$3"
}

client() {  # client TRIAL ID: writes until $W/stop exists; logs "create NAME" / "update NAME V"
  local t=$1 c=$2 j=0 ack=$W/ack-$1-$2 acked=() v
  : >"$ack"
  while [ ! -e "$W/stop" ]; do
    j=$((j + 1))
    if [ $((j % 4)) -eq 0 ] && [ ${#acked[@]} -gt 0 ]; then
      local n=${acked[$((RANDOM % ${#acked[@]}))]}
      v=$j
      secret_doc "$n" "$t" "$v" | berth apply -f - >/dev/null 2>&1 && echo "update $n $v" >>"$ack"
    else
      local n="d-$t-$c-$j"
      if secret_doc "$n" "$t" 0 | berth apply -f - >/dev/null 2>&1; then
        echo "create $n 0" >>"$ack"
        acked+=("$n")
      fi
    fi
  done
}

total_acked=0
total_creates=0
total_updates=0
: >"$W/restart_ms"
for t in $(seq 1 "$TRIALS"); do
  rm -f "$W/stop"
  pids=()
  for c in $(seq 1 $CLIENTS); do client "$t" "$c" & pids+=($!); done
  sleep "0.$((2 + RANDOM % 5))"
  k=$(now_ms)
  cluster crash controller >/dev/null 2>&1 || fail "trial $t: crash controller"
  wait_controller_up
  echo $(($(now_ms) - k)) >>"$W/restart_ms"
  sleep 0.3  # a few writes against the restarted controller too
  touch "$W/stop"
  wait "${pids[@]}"
  # Everything acknowledged is there after the restart.
  berth get secret -l "trial=$t" -o json >"$W/got.json" || fail "trial $t: list secrets"
  jq -r '.items[] | "\(.metadata.name) \(.stringData.v // (.data.v | @base64d))"' "$W/got.json" |
    sort >"$W/stored"
  cat "$W"/ack-"$t"-* >"$W/acked"
  missing=$(awk 'NR == FNR {have[$1] = $2; next}
    $1 == "create" && !($2 in have) {print "lost create " $2}
    $1 == "update" {if (!($2 in have)) print "lost " $2; else if (have[$2] + 0 < $3 + 0) print "lost update " $2 "=" $3 " (stored " have[$2] ")"}' \
    "$W/stored" "$W/acked")
  [ -z "$missing" ] || fail "trial $t: acknowledged writes lost after SIGKILL: $missing"
  n=$(wc -l <"$W/acked")
  [ "$n" -gt 0 ] || fail "trial $t: no write was acknowledged"
  total_acked=$((total_acked + n))
  total_creates=$((total_creates + $(grep -c '^create' "$W/acked" || true)))
  total_updates=$((total_updates + $(grep -c '^update' "$W/acked" || true)))
  CHECKS=$((CHECKS + 1))
  [ $((t % 10)) -eq 0 ] && echo "trial $t/$TRIALS: $total_acked acknowledged writes checked"
done
read -r rmin rmed rmax < <(stats "$W/restart_ms")
figure "trials (controller SIGKILLs)" "$TRIALS"
figure "concurrent client loops" "$CLIENTS"
figure "acknowledged writes checked" "$total_acked"
figure "  of which creates / updates" "$total_creates / $total_updates"
figure "acknowledged writes lost" 0
figure "kill -> API answers again, ms (min/median/max)" "$rmin / $rmed / $rmax"
print_figures
done_ok
