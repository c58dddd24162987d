#!/usr/bin/env bash
# A controller on the embedded SQLite store moves to etcd: objects made through the real CLI are
# copied with `berth admin store copy` (uids kept, resourceVersion order kept), `verify` finds the
# stores identical, a second copy is refused (the destination is not empty), and a controller
# started on the etcd store serves the same objects. Needs Debian's etcd; no root, no agents.
set -euo pipefail

: "${BERTH_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BERTH_BUILD_DIR:=$BERTH_SOURCE_DIR/build}"
export PATH="$BERTH_BUILD_DIR/cli:$PATH"
ETCD=${BERTH_ETCD:-$(command -v etcd || true)}
if [ -z "$ETCD" ]; then
  echo "SKIP: etcd is not installed (apt-get install etcd-server)"; exit 0
fi

IT_NAME=$(basename "$0" .sh)
IT_DIR=$(mktemp -d "/tmp/berth-it-$IT_NAME.XXXXXX")
# The controller's API, etcd's client and peer ports: random, so runs do not collide.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
CTL_PORT=$(free_port) ETCD_PORT=$(free_port) PEER_PORT=$(free_port)
export BERTH_SERVER=127.0.0.1:$CTL_PORT
unset BERTH_TLS_DIR BERTH_TOKEN  # the controller runs --insecure
DATA=$IT_DIR/controller
ETCD_URL=http://127.0.0.1:$ETCD_PORT
CTL_PID="" ETCD_PID=""

cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "--- logs of failed test $IT_NAME ---"
    tail -n 30 "$IT_DIR"/*.log 2>/dev/null || true
  fi
  for pid in $CTL_PID $ETCD_PID; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  rm -rf "$IT_DIR"
  exit $rc
}
trap cleanup EXIT

# shellcheck source=tests/integration/checks.sh
source "$BERTH_SOURCE_DIR/tests/integration/checks.sh"

start_controller() {  # start_controller LOG FLAGS...: starts it and waits until it answers
  local log=$1 tries=0; shift
  "$BERTH_BUILD_DIR/cluster-controller/berth-controller" --insecure --listen="$BERTH_SERVER" \
    "$@" >"$IT_DIR/$log" 2>&1 &
  CTL_PID=$!
  until berth version >/dev/null 2>&1; do
    tries=$((tries + 1))
    kill -0 "$CTL_PID" 2>/dev/null || fail "the controller exited; see $log"
    [ $tries -le 300 ] || fail "the controller does not answer"
    sleep 0.1
  done
}
stop_controller() {
  kill -TERM "$CTL_PID"
  wait "$CTL_PID" || true
  CTL_PID=""
}
objects() {  # kind, namespace, name and uid of every disk and snapshot, sorted
  for k in vd vds secret; do
    berth get "$k" -A -o json | jq -r '.items[] | [.kind, .metadata.namespace, .metadata.name,
      .metadata.uid] | @tsv'
  done | sort
}

# 1. A controller on SQLite, a few objects made through the CLI.
start_controller controller-sqlite.log --data_dir="$DATA"
for i in 1 2 3; do
  cat <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDisk
metadata:
  name: disk-$i
  labels: {it: store-copy}
spec:
  persistentVolumeClaim: {size: 16Mi}
---
YAML
done >"$IT_DIR/disks.yaml"
for i in 1 2; do
  cat <<YAML
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDiskSnapshot
metadata:
  name: snap-$i
spec:
  virtualDiskName: disk-$i
  requiredConsistency: false
---
YAML
done >"$IT_DIR/snaps.yaml"
cat >"$IT_DIR/secret.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: cloud-init
  namespace: team-a
stringData:
  userData: "#cloud-config"
YAML
for f in disks snaps secret; do
  berth apply -f "$IT_DIR/$f.yaml" >/dev/null || fail "apply $f.yaml"
done
sleep 1  # let the reconcilers write their first statuses and events
before=$(objects)
expect_eq "objects made" "$(wc -l <<<"$before")" 6
stop_controller

# 2. A private etcd on loopback.
"$ETCD" --name=it --data-dir="$IT_DIR/etcd" --listen-client-urls="$ETCD_URL" \
  --advertise-client-urls="$ETCD_URL" --listen-peer-urls="http://127.0.0.1:$PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$PEER_PORT" \
  --initial-cluster="it=http://127.0.0.1:$PEER_PORT" >"$IT_DIR/etcd.log" 2>&1 &
ETCD_PID=$!
tries=0
until curl -fsS "$ETCD_URL/health" 2>/dev/null | grep -q '"health":"true"'; do
  tries=$((tries + 1))
  kill -0 "$ETCD_PID" 2>/dev/null || fail "etcd exited; see etcd.log"
  [ $tries -le 100 ] || fail "etcd is not healthy"
  sleep 0.1
done

# 3. Copy, verify, copy again.
if out=$(berth admin store copy --from "sqlite:$IT_DIR/nothing" --to "etcd:$ETCD_URL" 2>&1); then
  fail "copy from a missing store succeeded: $out"
fi
check "a missing source is named: $out" grep -q "does not exist" <<<"$out"
out=$(berth admin store copy --from "sqlite:$DATA" --to "etcd:$ETCD_URL" 2>"$IT_DIR/copy.err") ||
  fail "copy failed: $(cat "$IT_DIR/copy.err")"
echo "$out"
re="^copied ([0-9]+) objects from sqlite:$DATA to etcd:$ETCD_URL; resourceVersions ([0-9]+)\.\.([0-9]+) → ([0-9]+)\.\.([0-9]+) \(order kept\)$"
[[ "$out" =~ $re ]] || fail "copy printed '$out'"
copied=${BASH_REMATCH[1]}
check "at least the 6 objects made were copied ($copied)" test "$copied" -ge 6
check "destination versions span one per object" \
  test $((BASH_REMATCH[5] - BASH_REMATCH[4] + 1)) -eq "$copied"

out=$(berth admin store verify --from "sqlite:$DATA" --to "etcd:$ETCD_URL") ||
  fail "verify found differences: $out"
expect_eq "verify" "$out" "identical: $copied objects"

if out=$(berth admin store copy --from "sqlite:$DATA" --to "etcd:$ETCD_URL" 2>&1); then
  fail "a second copy into the same etcd succeeded: $out"
fi
check "the second copy names the non-empty destination: $out" \
  grep -q "destination store etcd:$ETCD_URL is not empty: $copied objects" <<<"$out"
out=$(berth admin store verify --from "sqlite:$DATA" --to "etcd:$ETCD_URL") ||
  fail "the refused copy changed the destination: $out"

# A store that differs: verify lists the difference and exits 1.
if out=$(berth admin store verify --from "sqlite:$DATA" --to "sqlite:$IT_DIR/empty" 2>&1); then
  fail "verify against an empty store succeeded: $out"
fi
check "verify names a missing object: $out" grep -q '^missing: VirtualDisk "default/disk-1"' <<<"$out"

# 4. A controller on the etcd store serves the same objects (same uids). It is the only one, so
# it leads, and it compacts etcd's history every second down to the last 5 revisions.
start_controller controller-etcd.log --store="etcd:$ETCD_URL" --id=it-controller \
  --compaction_interval_seconds=1 --compaction_keep_revisions=5
expect_eq "objects served from etcd" "$(objects)" "$before"
expect_eq "labels kept" "$(berth get vd -l it=store-copy -o name | wc -l)" 3
check "it leads" grep -q "became the leader controller=it-controller" "$IT_DIR/controller-etcd.log"
for i in 1 2 3; do berth label vd disk-1 -n default "round=$i" --overwrite >/dev/null; done
tries=0
until grep -q "etcd history compacted" "$IT_DIR/controller-etcd.log"; do
  tries=$((tries + 1)); [ $tries -le 50 ] || fail "the leader did not compact etcd's history"
  sleep 0.1
done
out=$(curl -sS -X POST "$ETCD_URL/v3/kv/range" -d '{"key":"L2JlcnRoL2Zvcm1hdA==","revision":"2"}')
check "compacted: etcd no longer has revision 2 ($out)" grep -q "compacted" <<<"$out"
expect_eq "objects still served after compaction" "$(objects)" "$before"
stop_controller

# 5. Bad stores are clear startup errors, and the controller exits instead of serving.
startup_error() {  # startup_error EXPECTED-TEXT FLAGS...: the controller exits 1 naming it
  local want=$1 rc=0 out; shift
  out=$(timeout 30 "$BERTH_BUILD_DIR/cluster-controller/berth-controller" --insecure \
    --listen="127.0.0.1:$(free_port)" "$@" 2>&1) || rc=$?
  check "berth-controller $* exits with an error (rc $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
  check "... naming \"$want\": $(tail -1 <<<"$out")" grep -q -- "$want" <<<"$out"
}
startup_error "Connection refused" --store="etcd:http://127.0.0.1:$(free_port)"
startup_error "TLS handshake failed" --store="etcd:https://127.0.0.1:$ETCD_PORT"
mkdir -p "$IT_DIR/not-a-store" && echo notes >"$IT_DIR/not-a-store/notes.txt"
startup_error "is not empty and holds no Berth store" --store="sqlite:$IT_DIR/not-a-store"
curl -fsS -X POST "$ETCD_URL/v3/kv/put" -d '{"key":"L290aGVyL2E=","value":"eA=="}' >/dev/null ||
  fail "could not write a foreign key into etcd"
startup_error "prefix /other/ on .* is not empty" --store="etcd:$ETCD_URL/other/"
startup_error "want https://HOST:PORT" --store="etcd:127.0.0.1:$ETCD_PORT"
done_ok
