#!/usr/bin/env bash
# Transport security and access control on a real local cluster (mutual TLS by default):
# plaintext and foreign-CA clients are refused; a namespace user reaches only granted
# namespaces (get, list, watch, apply, delete, export, restore, USB via VM) and cannot write
# cluster-scoped kinds or use admin verbs; bearer tokens (expiry, revocation); agents speak only
# for their own node; the agent API refuses user certificates; certificate rotation without a
# restart.
source "$(dirname "$0")/lib.sh"
start_cluster 2
C=$BERTH_CERTS
CERTS="$BERTH_SOURCE_DIR/scripts/certs"
CTL=$BERTH_BUILD_DIR/tests/unit/guest/berth-agentctl
as() { local who=$1; shift; BERTH_TLS_DIR=$C/$who berth "$@"; }  # as BUNDLE ARGS...
denied() {  # denied DESCRIPTION PATTERN COMMAND...: fails, and stderr matches PATTERN
  local what=$1 pat=$2; shift 2
  local out
  if out=$("$@" 2>&1); then fail "$what: succeeded: $out"; fi
  grep -qE "$pat" <<<"$out" || fail "$what: error does not match '$pat': $out"
  CHECKS=$((CHECKS + 1))
}

# --- transport ---
denied "plaintext client" "unable to connect" env BERTH_TLS_DIR= berth get vd
"$CERTS" init "$IT_DIR/foreign" 2>/dev/null
denied "client of a foreign CA" "unable to connect" env BERTH_TLS_DIR="$IT_DIR/foreign/admin" berth get vd
check "admin works" berth get nodes
expect_eq "admin identity" "$(berth auth whoami -o json | jq -r '.user + " " + (.admin|tostring)')" "admin true"

# --- a namespace user ---
"$CERTS" user "$C" alice 2>/dev/null
denied "ungranted get" 'Forbidden.*user "alice" cannot list virtualdisks in namespace "team-a"' \
  as users/alice get vd -n team-a
check "grant" berth admin grant alice team-a
disk_yaml d1 local-reflink 64Mi | as users/alice apply -n team-a -f - >/dev/null || fail "alice create in team-a"
CHECKS=$((CHECKS + 1))
berth wait vd/d1 -n team-a --for=jsonpath='{.status.phase}'=Ready --timeout=60s >/dev/null
expect_eq "alice reads her disk" "$(as users/alice get vd d1 -n team-a -o jsonpath='{.status.phase}')" Ready
disk_yaml d2 local-reflink 64Mi | berth apply -n team-b -f - >/dev/null
denied "get in team-b" 'cannot get virtualdisks in namespace "team-b": granted namespaces are team-a' \
  as users/alice get vd d2 -n team-b
denied "list all namespaces" "across all namespaces" as users/alice get vd -A
denied "watch team-b" "Forbidden" as users/alice get vd -n team-b --watch
denied "create in team-b" "Forbidden" sh -c "$(declare -f disk_yaml); disk_yaml d3 local-reflink 64Mi |
  BERTH_TLS_DIR=$C/users/alice berth apply -n team-b -f -"
expect_eq "nothing created in team-b" "$(berth get vd -n team-b -o name | sort | tr '\n' ' ')" "virtualdisk.virtualization.deckhouse.io/d2 "
denied "delete in team-b" "Forbidden" as users/alice delete vd d2 -n team-b
denied "export from team-b" "Forbidden" as users/alice data export download -n team-b vd/d2 -o "$IT_DIR/x.img"
[ ! -e "$IT_DIR/x.img" ] || fail "a denied export left a file"
CHECKS=$((CHECKS + 1))
denied "restore into team-b" "Forbidden" sh -c "printf '%s\n' 'apiVersion: virtualization.deckhouse.io/v1alpha2' \
  'kind: VirtualMachineOperation' 'metadata: {name: r1}' \
  'spec: {type: Restore, virtualMachineName: vm, restore: {mode: DryRun, virtualMachineSnapshotName: s}}' |
  BERTH_TLS_DIR=$C/users/alice berth apply -n team-b -f -"
denied "USB device in team-b" "Forbidden" sh -c "printf '%s\n' 'apiVersion: virtualization.deckhouse.io/v1alpha2' \
  'kind: USBDevice' 'metadata: {name: u1}' | BERTH_TLS_DIR=$C/users/alice berth apply -n team-b -f -"
check "alice reads cluster-scoped images" as users/alice get cvi
denied "alice writes a cluster-scoped kind" "cluster-scoped objects are changed by cluster admins only" \
  sh -c "printf '%s\n' 'apiVersion: virtualization.deckhouse.io/v1alpha2' 'kind: VirtualMachineClass' \
  'metadata: {name: c1}' 'spec: {cpu: {type: Host}}' | BERTH_TLS_DIR=$C/users/alice berth apply -f -"
denied "alice uses admin verbs" "needs the cluster admin role" as users/alice admin grant alice team-b
denied "alice issues tokens" "needs the cluster admin role" as users/alice admin token create alice
# A cross-namespace reference is refused at admission, whoever asks.
denied "cross-namespace objectRef" "objectRef.namespace" sh -c "$(declare -f disk_yaml); disk_yaml d4 local-reflink 64Mi snap |
  sed 's/      name: snap/      name: snap\n      namespace: team-b/' | berth apply -n team-a -f -"

# --- bearer tokens ---
check "grant bob" berth admin grant bob team-b
token=$(berth admin token create bob --ttl 1h)
expect_eq "token user" "$(BERTH_TOKEN=$token as users/alice auth whoami -o json | jq -r .user)" bob
check "token reaches bob's namespace" env BERTH_TOKEN="$token" BERTH_TLS_DIR="$C/users/alice" berth get vd d2 -n team-b
denied "token is not alice" "Forbidden" env BERTH_TOKEN="$token" BERTH_TLS_DIR="$C/users/alice" berth get vd -n team-a
denied "tampered token" "Unauthorized.*unknown or revoked" env BERTH_TOKEN="${token}0" BERTH_TLS_DIR="$C/users/alice" berth get vd -n team-b
denied "token without TLS" "tokens are only sent over TLS" env BERTH_TOKEN="$token" BERTH_TLS_DIR= berth get vd
short=$(berth admin token create bob --ttl 2s)
sleep 3
denied "expired token" "Unauthorized.*expired" env BERTH_TOKEN="$short" BERTH_TLS_DIR="$C/users/alice" berth get vd -n team-b
id=$(berth admin token list -o json | jq -r --arg u bob '[.[] | select(.spec.user == $u)][0].metadata.name')
check "revoke" berth admin token revoke "$id"
revoked=$short; [ "${token#berth_$id}" != "$token" ] && revoked=$token
denied "revoked token" "Unauthorized" env BERTH_TOKEN="$revoked" BERTH_TLS_DIR="$C/users/alice" berth get vd -n team-b
berth admin token list -o json | grep -q sha256 && fail "token list shows hashes"
CHECKS=$((CHECKS + 1))

# --- agents ---
denied "an agent certificate in the resource API" "node agents only register" as agents/node-1 get vd
"$BERTH_BUILD_DIR/node-agent/berth-agent" --node_name=node-9 --listen=127.0.0.1:$((IT_PORT + 9)) \
  --controller="$BERTH_SERVER" --pools="copy:copy:$IT_DIR/pool9" --state_dir="$IT_DIR/state9" \
  --usb=false --libvirt_uri=test:///default --tls_dir="$C/agents/node-1" >"$IT_DIR/node9.log" 2>&1 &
rogue=$!
for _ in $(seq 1 50); do grep -q "cannot speak for node" "$IT_DIR/node9.log" && break; sleep 0.2; done
kill "$rogue"; wait "$rogue" 2>/dev/null || true
grep -q 'the agent certificate of "node-1" cannot speak for node "node-9"' "$IT_DIR/node9.log" ||
  fail "impersonating agent not refused: $(tail -n 3 "$IT_DIR/node9.log")"
CHECKS=$((CHECKS + 1))
denied "node-9 never registered" "NotFound|not found" berth get node node-9
agent=127.0.0.1:$((IT_PORT + 1))
check "admin reaches the agent API" env BERTH_TLS_DIR="$C/admin" "$CTL" "$agent" info
denied "user certificate at the agent API" "UNAUTHENTICATED|accepts only certificates" \
  env BERTH_TLS_DIR="$C/users/alice" "$CTL" "$agent" info
denied "plaintext at the agent API" "UNAVAILABLE|failed|closed" env BERTH_TLS_DIR= "$CTL" "$agent" info

# --- rotation without restart ---
serial() {
  openssl s_client -connect "$BERTH_SERVER" -alpn h2 -CAfile "$C/ca.crt" -cert "$C/admin/tls.crt" \
    -key "$C/admin/tls.key" </dev/null 2>/dev/null | openssl x509 -noout -serial
}
before=$(serial)
[ -n "$before" ] || fail "cannot read the controller's certificate"
pid=$(cat "$IT_DIR/cluster/run/controller.pid")
"$CERTS" init "$C" 2>/dev/null  # the CA stays; controller and admin certificates are re-issued
after=$before
for _ in $(seq 1 40); do after=$(serial); [ "$after" != "$before" ] && break; sleep 0.5; done
[ "$after" != "$before" ] || fail "the controller still serves the old certificate ($before)"
CHECKS=$((CHECKS + 1))
expect_eq "controller not restarted" "$(cat "$IT_DIR/cluster/run/controller.pid")" "$pid"
check "the new admin certificate works" berth get nodes
check "agents still heartbeat" berth wait node/node-1 --for=condition=Ready --timeout=30s
echo "controller certificate rotated: $before -> $after"
done_ok
