#!/usr/bin/env bash
# The kubectl acceptance suite: real kubectl (1.32, and Debian's 1.20), the Python kubernetes
# client and curl against the controller's Kubernetes REST API (--kube_api_listen) on a private
# one-node cluster. No VMs: VM examples only with --dry-run=server. Objects are shared across
# sections to keep the run short. Every check runs even after a failure; the summary at the end
# counts them and the test fails if any did.
source "$(dirname "$0")/../integration/lib.sh"
T0=$(date +%s)
FAILS=0
# Soft failures: report, count, carry on (lib.sh's check/expect_eq call fail, then count).
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { echo "PASS: $*"; }
check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  CHECKS=$((CHECKS + 1))
  if "$@"; then ok "$what"; else fail "$what"; fi
}
expect_eq() {  # expect_eq DESCRIPTION ACTUAL EXPECTED
  CHECKS=$((CHECKS + 1))
  if [ "$2" == "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi
}
expect_match() {  # expect_match DESCRIPTION TEXT EXTENDED_REGEX
  CHECKS=$((CHECKS + 1))
  if grep -qE -- "$3" <<<"$2"; then ok "$1"; else fail "$1: '$3' not in: $(head -c 600 <<<"$2")"; fi
}
expect_no_match() {  # expect_no_match DESCRIPTION TEXT EXTENDED_REGEX
  CHECKS=$((CHECKS + 1))
  if grep -qE -- "$3" <<<"$2"; then fail "$1: '$3' found in: $(head -c 600 <<<"$2")"; else ok "$1"; fi
}
section() { echo "--- $*"; }

PY=/usr/bin/python3  # Debian's python3 with python3-kubernetes and python3-yaml
KUBECTL=/usr/bin/kubectl
start_cluster 1
set +e  # checks are soft from here on: a failing command is a failed check, not the end
export KUBECONFIG=$IT_DIR/cluster/kubeconfig
KPORT=$((IT_PORT - 1000))
KURL=https://127.0.0.1:$KPORT
A=$BERTH_CERTS/admin
G=virtualization.deckhouse.io
NS=my-project
VDS=/apis/$G/v1alpha2/namespaces/$NS/virtualdisksnapshots
EX=$BERTH_SOURCE_DIR/manifests/examples
CRDS=$BERTH_SOURCE_DIR/manifests/crds
kc() { "$KUBECTL" "$@"; }
# api METHOD PATH [CURL ARGS...]: as the cluster admin; sets CODE, the body is in $IT_DIR/body.
api() {
  local m=$1 p=$2; shift 2
  CODE=$(curl -s -o "$IT_DIR/body" -w '%{http_code}' -X "$m" --cacert "$A/ca.crt" \
    --cert "$A/tls.crt" --key "$A/tls.key" "$@" "$KURL$p") || CODE=000
}
body() { jq -r "$1" "$IT_DIR/body" 2>/dev/null || echo "(not JSON: $(head -c 200 "$IT_DIR/body"))"; }
# The CRDs as "plural kind shortnames(comma) Namespaced|Cluster" lines.
crd_table() {
  "$PY" - "$CRDS"/*.yaml <<'PY'
import sys, yaml
for f in sys.argv[1:]:
    for d in yaml.safe_load_all(open(f)):
        if not d or d.get("kind") != "CustomResourceDefinition": continue
        n = d["spec"]["names"]
        print(n["plural"], n["kind"], ",".join(n.get("shortNames", [])) or "-", d["spec"]["scope"])
PY
}

# --- 1. discovery -------------------------------------------------------------------------------
section "1. api-resources, api-versions"
resources=$(kc api-resources --api-group=$G --no-headers 2>&1)
while read -r plural kind shorts scope; do
  line=$(awk -v p="$plural" '$1 == p' <<<"$resources")
  got=$(awk '{ if (NF == 5) print $1, $2, $4, $5; else print $1, "-", $3, $4 }' <<<"$line")
  want="$plural $shorts $([ "$scope" = Namespaced ] && echo true || echo false) $kind"
  expect_eq "api-resources lists $kind" "$got" "$want"
done < <(crd_table)
expect_match "api-versions has $G/v1alpha2" "$(kc api-versions 2>&1)" "^$G/v1alpha2$"
ALL_PLURALS=$(crd_table | awk '{print $1}' | paste -sd,)

# --- 2. server-side dry run of every example -----------------------------------------------------
section "2. apply --dry-run=server of manifests/examples"
stored() { kc get "$ALL_PLURALS" -A -o name 2>&1 | grep -v '^No resources found' | sort; }
stored_before=$(stored)
for f in "$EX"/*.yaml; do
  out=$(sed "s/\$(date +%s)/$(date +%s)/g" "$f" | kc apply --dry-run=server -n $NS -f - 2>&1) ||
    out="exit $?: $out"
  expect_match "dry-run $(basename "$f")" "$out" "(created|configured|unchanged) \(server dry run\)$"
done
expect_eq "dry runs stored nothing" "$(stored)" "$stored_before"

# --- 3. the spec's flow --------------------------------------------------------------------------
section "3. disk, snapshot, get -w, wait, get, describe, delete"
out=$(sed 's/size: 10Gi/size: 64Mi/' "$EX/vd-blank.yaml" | kc apply -f - 2>&1)
expect_eq "apply vd-blank.yaml" "$out" "virtualdisk.$G/linux-vm-root created"
check "wait for the disk" kc wait -n $NS vd/linux-vm-root --for=jsonpath='{.status.phase}'=Ready --timeout=60s
SNAP=linux-vm-root-$(date +%s)
kc get vdsnapshot -n $NS -w >"$IT_DIR/watch.txt" 2>&1 &
watcher=$!
sleep 1
out=$(sed "s/name: linux-vm-root-[0-9]*/name: $SNAP/" "$EX/vdsnapshot-linux-vm-root.yaml" | kc apply -n $NS -f - 2>&1)
expect_eq "apply the snapshot" "$out" "virtualdisksnapshot.$G/$SNAP created"
check "wait --for=condition=VirtualDiskSnapshotReady" \
  kc wait -n $NS vds/$SNAP --for=condition=VirtualDiskSnapshotReady --timeout=60s
check "wait --for=jsonpath phase Ready" \
  kc wait -n $NS vds/$SNAP --for=jsonpath='{.status.phase}'=Ready --timeout=60s
expect_eq "condition types" "$(kc get vds $SNAP -n $NS -o json | jq -r '[.status.conditions[].type] | join(" ")')" \
  "VirtualDiskReady VirtualDiskSnapshotReady"
sleep 1
kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null || true
phases=$(awk -v s="$SNAP" '$1 == s { print $2 }' "$IT_DIR/watch.txt" | paste -sd' ')
expect_match "get -w saw the phases up to Ready" "$phases" "(InProgress|Pending) .*Ready$"
expect_eq "get -w header" "$(head -1 "$IT_DIR/watch.txt" | tr -s ' ')" "NAME PHASE CONSISTENT AGE"
expect_eq "get vdsnapshot header" "$(kc get vdsnapshot -n $NS | head -1 | tr -s ' ')" "NAME PHASE CONSISTENT AGE"
expect_match "get vdsnapshot row" "$(kc get vdsnapshot -n $NS $SNAP --no-headers | tr -s ' ')" "^$SNAP Ready true [0-9]+s$"
expect_eq "-o wide header" "$(kc get vdsnapshot -n $NS -o wide | head -1 | tr -s ' ')" "NAME PHASE CONSISTENT DISK NODE AGE"
expect_match "-o wide row" "$(kc get vdsnapshot -n $NS $SNAP -o wide --no-headers | tr -s ' ')" "^$SNAP Ready true linux-vm-root node-1 "
out=$(kc get vdsnapshot -A 2>&1)
expect_eq "-A header" "$(head -1 <<<"$out" | tr -s ' ')" "NAMESPACE NAME PHASE CONSISTENT AGE"
expect_match "-A row" "$out" "^$NS +$SNAP +Ready +true "
# Pages (limit/continue) across namespaces whose names sort differently as strings (a, a-b):
# the paged list is the unpaged one, in the same order.
for pns in pg pg-b; do
  for i in 1 2 3; do
    printf -- '---\napiVersion: %s/v1alpha2\nkind: VirtualDiskSnapshot\nmetadata: {name: pg%s, namespace: %s}\nspec: {virtualDiskName: none}\n' \
      "$G" "$i" "$pns"
  done
done | kc apply -f - >/dev/null
expect_eq "paged list (--chunk-size=2) equals the unpaged list" \
  "$(kc get vds -A --chunk-size=2 -o name | paste -sd' ')" "$(kc get vds -A --chunk-size=0 -o name | paste -sd' ')"
kc delete vds -n pg --all >/dev/null 2>&1; kc delete vds -n pg-b --all >/dev/null 2>&1
kc label vds $SNAP -n $NS tier=gold >/dev/null
expect_eq "-l tier=gold" "$(kc get vds -n $NS -l tier=gold -o name)" "virtualdisksnapshot.$G/$SNAP"
expect_eq "-l tier=silver" "$(kc get vds -n $NS -l tier=silver 2>&1)" "No resources found in $NS namespace."
expect_eq "-l tier!=gold" "$(kc get vds -n $NS -l 'tier!=gold' -o name)" ""
expect_eq "-o json | jq .status" "$(kc get vds $SNAP -n $NS -o json | jq -c '.status | [.phase, .consistent, .node]')" \
  '["Ready",true,"node-1"]'
# Status belongs to the status subresource: a metadata patch of the main resource keeps it.
api PATCH "$VDS/$SNAP" -H 'Content-Type: application/merge-patch+json' --data '{"metadata":{"labels":{"probe":"1"}}}'
expect_eq "merge patch of labels keeps .status (response)" "$CODE $(body .status.phase)" "200 Ready"
sleep 1
desc=$(kc describe vds $SNAP -n $NS 2>&1)
expect_match "describe Name" "$desc" "^Name: +$SNAP$"
expect_match "describe Namespace" "$desc" "^Namespace: +$NS$"
expect_match "describe spec field" "$desc" "Virtual Disk Name: +linux-vm-root"
expect_match "describe status phase" "$desc" "^  Phase: +Ready$"
expect_match "describe Events" "$desc" "^Events:"
expect_match "describe event row" "$desc" "Normal +VirtualDiskSnapshotReady .*phase InProgress -> Ready"
expect_eq "the snapshot was taken once (one Ready event)" \
  "$(kc get events -n $NS --field-selector involvedObject.name=$SNAP -o json | jq '[.items[] | select(.message | test("-> Ready"))] | length')" 1
expect_eq "delete" "$(kc delete vds $SNAP -n $NS 2>&1)" "virtualdisksnapshot.$G \"$SNAP\" deleted"
out=$(kc get vds $SNAP -n $NS 2>&1) && out="exit 0: $out"
expect_eq "get after delete" "$out" "Error from server (NotFound): virtualdisksnapshots.$G \"$SNAP\" not found"

# --- 4. server-side apply ------------------------------------------------------------------------
section "4. apply --server-side, conflicts, --force-conflicts"
ssa_yaml() { printf '%s\n' "apiVersion: $G/v1alpha2" "kind: VirtualDiskSnapshot" \
  "metadata: {name: ssa-snap, labels: {tier: $1}}" \
  "spec: {virtualDiskName: linux-vm-root, requiredConsistency: false}"; }
expect_eq "apply --server-side" "$(ssa_yaml bronze | kc apply --server-side -n $NS -f - 2>&1)" \
  "virtualdisksnapshot.$G/ssa-snap serverside-applied"
kc wait -n $NS vds/ssa-snap --for=jsonpath='{.status.phase}'=Ready --timeout=60s >/dev/null
sleep 0.5
rv1=$(kc get vds ssa-snap -n $NS -o jsonpath='{.metadata.resourceVersion}')
expect_eq "apply --server-side again" "$(ssa_yaml bronze | kc apply --server-side -n $NS -f - 2>&1)" \
  "virtualdisksnapshot.$G/ssa-snap serverside-applied"
expect_eq "the second apply changed nothing (resourceVersion)" \
  "$(kc get vds ssa-snap -n $NS -o jsonpath='{.metadata.resourceVersion}')" "$rv1"
out=$(ssa_yaml silver | kc apply --server-side --field-manager=other -n $NS -f - 2>&1) && out="exit 0: $out"
expect_match "other manager conflicts" "$out" "^error: Apply failed with 1 conflict: conflict with \"kubectl\": \.metadata\.labels\.tier"
expect_eq "conflict left the label" "$(kc get vds ssa-snap -n $NS -o jsonpath='{.metadata.labels.tier}')" bronze
expect_eq "--force-conflicts" "$(ssa_yaml silver | kc apply --server-side --field-manager=other --force-conflicts -n $NS -f - 2>&1)" \
  "virtualdisksnapshot.$G/ssa-snap serverside-applied"
mf=$(kc get vds ssa-snap -n $NS -o json --show-managed-fields)
expect_eq "label changed" "$(jq -r .metadata.labels.tier <<<"$mf")" silver
expect_eq "managedFields: other owns labels.tier" \
  "$(jq -r '[.metadata.managedFields[] | select(.fieldsV1["f:metadata"]["f:labels"]["f:tier"] != null) | .manager + "/" + .operation] | join(",")' <<<"$mf")" \
  "other/Apply"

# --- 5. explain ----------------------------------------------------------------------------------
section "5. explain"
ex=$(kc explain virtualdisksnapshot.spec 2>&1)
expect_match "explain KIND" "$ex" "^KIND: +VirtualDiskSnapshot$"
while IFS=$'\t' read -r field desc; do
  expect_match "explain spec.$field" "$ex" "^  $field\s+<"
  expect_match "explain spec.$field description" "$ex" "^    $(sed 's/[][\.*^$()+?{}|]/\\&/g' <<<"$desc")$"
done < <("$PY" - "$CRDS/virtualdisksnapshots.yaml" <<'PY'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
for v in d["spec"]["versions"]:
    for k, p in v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"].items():
        print(k + "\t" + " ".join(p.get("description", "").split()))
PY
)
expect_match "explain marks the required field" "$ex" "virtualDiskName\s+<string> -required-"

# --- 6. edit -------------------------------------------------------------------------------------
section "6. edit"
cat >"$IT_DIR/editor.sh" <<'SH'
#!/bin/sh
sed -i -e '/^  labels:/a\    edited: "yes"' "$1"
SH
chmod +x "$IT_DIR/editor.sh"
expect_eq "kubectl edit" "$(KUBE_EDITOR=$IT_DIR/editor.sh kc edit vds ssa-snap -n $NS 2>&1)" \
  "virtualdisksnapshot.$G/ssa-snap edited"
expect_eq "edit added the label" "$(kc get vds ssa-snap -n $NS -o jsonpath='{.metadata.labels.edited}')" yes

# --- 8. Python client ----------------------------------------------------------------------------
section "8. python3-kubernetes"
pyout=$("$PY" "$(dirname "$0")/python_client_test.py" "$KUBECONFIG" $NS ssa-snap linux-vm-root 2>&1) || true
echo "$pyout"
CHECKS=$((CHECKS + $(grep -cE '^(PASS|FAIL): python' <<<"$pyout")))
FAILS=$((FAILS + $(grep -c '^FAIL: python' <<<"$pyout")))
grep -qE '^(PASS|FAIL): python' <<<"$pyout" || fail "python client test produced no checks"

# --- 7. kubectl 1.20 -----------------------------------------------------------------------------
section "7. kubectl 1.20 (Debian kubernetes-client)"
K120_DIR=$BERTH_BUILD_DIR/tools/kubectl-1.20
K120=$K120_DIR/root/usr/bin/kubectl
if [ ! -x "$K120" ]; then
  mkdir -p "$K120_DIR"
  ( cd "$K120_DIR" && { apt-get download kubernetes-client || { apt-get update && apt-get download kubernetes-client; }; } &&
    dpkg-deb -x kubernetes-client_*.deb root ) >"$K120_DIR/download.log" 2>&1 || true
fi
if [ -x "$K120" ]; then
  expect_match "kubectl 1.20 version" "$("$K120" version --client --short 2>&1)" "v1\.20\."
  expect_eq "1.20 get vds header" "$("$K120" get vds -n $NS 2>&1 | head -1 | tr -s ' ')" "NAME PHASE CONSISTENT AGE"
  out=$("$K120" get vd -n $NS -o wide 2>&1 | tr -s ' ')
  expect_eq "1.20 get vd -o wide header" "$(head -1 <<<"$out")" "NAME PHASE CAPACITY STORAGECLASS NODE AGE"
  expect_match "1.20 get vd -o wide row" "$out" "^linux-vm-root Ready 64Mi local-reflink node-1 [0-9]+s$"
  out=$(printf '%s\n' "apiVersion: $G/v1alpha2" "kind: VirtualDiskSnapshot" "metadata: {name: old-snap}" \
    "spec: {virtualDiskName: linux-vm-root, requiredConsistency: false}" | "$K120" apply -n $NS -f - 2>&1)
  expect_eq "1.20 apply -f (client-side, validated)" "$out" "virtualdisksnapshot.$G/old-snap created"
  expect_match "1.20 explain vds.spec" "$("$K120" explain vds.spec 2>&1)" "The disk to snapshot\."
  # (created with kubectl 1.32 if the 1.20 apply failed, so that delete is checked on its own)
  kc get vds old-snap -n $NS >/dev/null 2>&1 || printf '%s\n' "apiVersion: $G/v1alpha2" \
    "kind: VirtualDiskSnapshot" "metadata: {name: old-snap}" "spec: {virtualDiskName: linux-vm-root}" |
    kc apply -n $NS -f - >/dev/null
  out=$("$K120" delete vds old-snap -n $NS 2>&1)
  expect_eq "1.20 delete" "$out" "virtualdisksnapshot.$G \"old-snap\" deleted"
else
  echo "SKIP: kubectl 1.20 checks: kubernetes-client could not be downloaded ($(tail -1 "$K120_DIR/download.log" 2>/dev/null))"
fi

# --- 9. bad input --------------------------------------------------------------------------------
section "9. bad requests (curl)"
names() { kc get vds -n $NS -o name | sort | paste -sd' '; }
before=$(names)
labels_before=$(kc get vds ssa-snap -n $NS -o json | jq -c .metadata.labels)
snap_json() { printf '{"apiVersion":"%s/v1alpha2","kind":"%s","metadata":{"name":"%s"},"spec":{"virtualDiskName":"linux-vm-root"%s}}' \
  $G "$1" "$2" "${3:-}"; }
api POST "$VDS" -H 'Content-Type: application/json' --data '{"apiVersion": "virtualization'
expect_eq "malformed JSON" "$CODE $(body '.kind + " " + .reason')" "400 Status BadRequest"
api POST "$VDS?fieldValidation=Strict" -H 'Content-Type: application/json' --data "$(snap_json VirtualDiskSnapshot strict1 ',"bogusField":1')"
expect_eq "Strict unknown field: code" "$CODE $(body .reason)" "400 BadRequest"
expect_match "Strict unknown field: message" "$(body .message)" 'unknown field "spec\.bogusField"'
api POST "$VDS" -H 'Content-Type: application/json' --data "$(snap_json VirtualDisk kind1)"
expect_eq "kind not matching the path" "$CODE $(body .reason)" "400 BadRequest"
expect_match "kind mismatch message" "$(body .message)" "VirtualDisk"
{ printf '{"apiVersion":"%s/v1alpha2","kind":"VirtualDiskSnapshot","metadata":{"name":"big1","annotations":{"x":"' $G
  head -c $((3 * 1024 * 1024 + 100)) /dev/zero | tr '\0' a
  printf '"}},"spec":{"virtualDiskName":"linux-vm-root"}}'; } >"$IT_DIR/big.json"
api POST "$VDS" -H 'Content-Type: application/json' --data-binary "@$IT_DIR/big.json"
expect_eq "body over 3 MiB" "$CODE $(body .reason)" "413 RequestEntityTooLarge"
api GET "$VDS/ssa-snap"
jq '.metadata.resourceVersion = "1" | .metadata.labels.stale = "yes"' "$IT_DIR/body" >"$IT_DIR/stale.json"
api PUT "$VDS/ssa-snap" -H 'Content-Type: application/json' --data-binary "@$IT_DIR/stale.json"
expect_eq "stale PUT" "$CODE $(body .reason)" "409 Conflict"
expect_eq "stale PUT message" "$(body .message)" \
  "Operation cannot be fulfilled on virtualdisksnapshots.$G \"ssa-snap\": the object has been modified; please apply your changes to the latest version and try again"
api PATCH "$VDS/ssa-snap" -H 'Content-Type: application/strategic-merge-patch+json' --data '{"metadata":{"labels":{"smp":"yes"}}}'
expect_eq "strategic merge patch on a CRD" "$CODE $(body .reason)" "415 UnsupportedMediaType"
tok=$(berth admin token create bob)
CODE=$(curl -s -o "$IT_DIR/body" -w '%{http_code}' --cacert "$A/ca.crt" -H "Authorization: Bearer $tok" "$KURL$VDS")
expect_eq "ungranted user: 403" "$CODE $(body .reason)" "403 Forbidden"
expect_match "403 names user and namespace" "$(body .message)" "User \"bob\" cannot list resource \"virtualdisksnapshots\" in API group \"$G\" in the namespace \"$NS\""
CODE=$(curl -s -o "$IT_DIR/body" -w '%{http_code}' -X POST --cacert "$A/ca.crt" -H "Authorization: Bearer $tok" \
  -H 'Content-Type: application/json' --data "$(snap_json VirtualDiskSnapshot bob1)" "$KURL$VDS")
expect_eq "ungranted user cannot create" "$CODE" 403
CODE=$(curl -s -o "$IT_DIR/body" -w '%{http_code}' --cacert "$A/ca.crt" "$KURL$VDS")
expect_eq "no credentials: 401" "$CODE $(body '.kind + " " + .reason')" "401 Status Unauthorized"
expect_eq "bad requests stored nothing" "$(names)" "$before"
expect_eq "bad requests changed no labels" "$(kc get vds ssa-snap -n $NS -o json | jq -c .metadata.labels)" "$labels_before"

# --- 11. berth kubeconfig ------------------------------------------------------------------------
section "11. berth kubeconfig"
berth kubeconfig >"$IT_DIR/admin.kubeconfig"
expect_match "kubectl with berth kubeconfig" "$(KUBECONFIG=$IT_DIR/admin.kubeconfig kc get vd -A 2>&1)" "^$NS +linux-vm-root +Ready"
berth kubeconfig --user carol >"$IT_DIR/carol.kubeconfig"
expect_match "carol's kubeconfig holds a token" "$(cat "$IT_DIR/carol.kubeconfig")" "token: "
out=$(KUBECONFIG=$IT_DIR/carol.kubeconfig kc get vd -n $NS 2>&1) && out="exit 0: $out"
expect_match "carol is Forbidden in $NS" "$out" \
  "^Error from server \(Forbidden\): virtualdisks\.$G is forbidden: User \"carol\" cannot list resource \"virtualdisks\" in API group \"$G\" in the namespace \"$NS\""

# --- 12. who am I, visible namespaces, the web console -------------------------------------------
section "12. auth whoami, namespaces per user, the console"
admin_cn=$(openssl x509 -in "$A/tls.crt" -noout -subject -nameopt RFC2253 | sed -n 's/.*CN=\([^,]*\).*/\1/p')
expect_eq "auth whoami: the admin" \
  "$(kc auth whoami -o json | jq -r '.status.userInfo | [.username, .extra["berth.deckhouse.io/admin"][0]] | join(" ")')" \
  "$admin_cn true"
expect_eq "auth whoami: carol" "$(KUBECONFIG=$IT_DIR/carol.kubeconfig kc auth whoami -o json | jq -r '.status.userInfo.username')" carol
berth admin grant carol $NS >/dev/null
expect_eq "carol sees only her namespace" "$(KUBECONFIG=$IT_DIR/carol.kubeconfig kc get ns -o name 2>&1 | paste -sd' ')" "namespace/$NS"
out=$(KUBECONFIG=$IT_DIR/carol.kubeconfig kc get ns default 2>&1)
expect_match "carol cannot get another namespace" "$out" 'Error from server \(Forbidden\): namespaces "default" is forbidden'
expect_match "the admin sees every named namespace" "$(kc get ns -o name | paste -sd' ')" "namespace/default .*namespace/$NS"
# page CURL_ARGS...: prints the code; the body (none for a 304) in $IT_DIR/body, the headers in
# $IT_DIR/headers, read by hdr NAME (lower case).
page() { rm -f "$IT_DIR/body"; curl -s -o "$IT_DIR/body" -D "$IT_DIR/headers" -w '%{http_code}' --cacert "$A/ca.crt" "$@"; }
hdr() { tr -d '\r' <"$IT_DIR/headers" | awk -v h="$1" 'tolower($0) ~ "^" h ":" { sub(/^[^:]*: */, ""); print }'; }
CODE=$(page -H 'Accept: text/html' "$KURL/")
expect_eq "console: / for a browser without credentials" "$CODE $(hdr content-type)" "200 text/html; charset=utf-8"
expect_match "console: a Content-Security-Policy" "$(hdr content-security-policy)" "^default-src 'self'; script-src 'self'"
expect_eq "console: index.html is revalidated" "$(hdr cache-control)" no-cache
script=$(grep -oE '/console/main-[A-Za-z0-9]+\.js' "$IT_DIR/body" | head -1)
CODE=$(page "$KURL$script")
expect_eq "console: $script is immutable" "$CODE $(hdr cache-control)" "200 public, max-age=31536000, immutable"
etag=$(hdr etag)
size=$(wc -c <"$IT_DIR/body")
CODE=$(page -I "$KURL$script")
expect_eq "console: HEAD has the GET's headers, no body" "$CODE $(hdr content-length) $(hdr etag)" "200 $size $etag"
CODE=$(page -H "If-None-Match: $etag" "$KURL$script")
expect_eq "console: If-None-Match gets 304" "$CODE $(cat "$IT_DIR/body" 2>/dev/null | wc -c)" "304 0"
expect_eq "console: unknown asset" "$(page "$KURL/console/nope-12345678.js")" 404
CODE=$(page "$KURL/")
expect_eq "/ for an API client without credentials: 401" "$CODE" 401
api GET /
expect_match "/ for an API client: the paths" "$(body '.paths | join(" ")')" "/apis/authentication.k8s.io/v1"

# --- 10. front proxy (and a short watch history) -------------------------------------------------
section "10. front proxy; watch from a compacted resourceVersion"
FP=$IT_DIR/front-proxy
mkdir -p "$FP"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$FP/ca.key" -out "$FP/ca.pem" -days 1 \
  -subj /CN=front-proxy-ca 2>/dev/null
for cn in front-proxy-client intruder; do
  openssl req -newkey rsa:2048 -nodes -keyout "$FP/$cn.key" -out "$FP/$cn.csr" -subj "/CN=$cn" 2>/dev/null
  openssl x509 -req -in "$FP/$cn.csr" -CA "$FP/ca.pem" -CAkey "$FP/ca.key" -CAcreateserial \
    -out "$FP/$cn.crt" -days 1 2>/dev/null
done
"$BERTH_SOURCE_DIR/scripts/certs" user "$BERTH_CERTS" dave 2>/dev/null
sed -i "s|\$| --watch_history=5 --requestheader_client_ca_file=$FP/ca.pem --requestheader_allowed_names=front-proxy-client|" \
  "$IT_DIR/cluster/run/controller.cmd"
cluster stop controller >/dev/null 2>&1
cluster start controller >/dev/null 2>&1
for _ in $(seq 100); do
  curl -sf -o /dev/null --cacert "$A/ca.crt" --cert "$A/tls.crt" --key "$A/tls.key" "$KURL/readyz" && break
  sleep 0.1
done
fp() {  # fp CERT_DIR_PREFIX METHOD PATH [CURL ARGS...]: sets CODE
  local c=$1 m=$2 p=$3; shift 3
  CODE=$(curl -s -o "$IT_DIR/body" -w '%{http_code}' -X "$m" --cacert "$A/ca.crt" --cert "$c.crt" \
    --key "$c.key" "$@" "$KURL$p") || CODE=000
}
fp "$FP/front-proxy-client" GET "$VDS" -H 'X-Remote-User: alice' -H 'X-Remote-Group: berth:cluster-admins'
expect_eq "front proxy: alice as cluster admin lists" "$CODE $(body .kind)" "200 VirtualDiskSnapshotList"
fp "$FP/front-proxy-client" POST "$VDS" -H 'X-Remote-User: alice' -H 'X-Remote-Group: berth:cluster-admins' \
  -H 'Content-Type: application/json' --data "$(snap_json VirtualDiskSnapshot fp-snap)"
expect_eq "front proxy: alice creates" "$CODE" 201
fp "$FP/front-proxy-client" GET "$VDS" -H 'X-Remote-User: alice'
expect_eq "front proxy: alice without the admin group" "$CODE $(body .reason)" "403 Forbidden"
expect_match "front proxy: the request is alice's" "$(body .message)" "User \"alice\" cannot list"
cp "$BERTH_CERTS/users/dave/tls.crt" "$IT_DIR/dave.crt"; cp "$BERTH_CERTS/users/dave/tls.key" "$IT_DIR/dave.key"
fp "$IT_DIR/dave" GET "$VDS" -H 'X-Remote-User: alice' -H 'X-Remote-Group: berth:cluster-admins'
expect_eq "cluster-CA user's X-Remote headers are ignored" "$CODE $(body .reason)" "403 Forbidden"
expect_match "the request is dave's" "$(body .message)" "User \"dave\" cannot list resource \"virtualdisksnapshots\" .* in the namespace \"$NS\""
fp "$FP/intruder" GET "$VDS" -H 'X-Remote-User: alice' -H 'X-Remote-Group: berth:cluster-admins'
expect_eq "front-proxy CN not in allowed names" "$CODE $(body .reason)" "401 Unauthorized"
expect_eq "nothing created by the refused requests" "$(names)" \
  "$(printf '%s\n' $before virtualdisksnapshot.$G/fp-snap | sort | paste -sd' ')"

for i in $(seq 8); do kc label vds ssa-snap -n $NS --overwrite churn=$i >/dev/null; done
CODE=$(curl -s -o "$IT_DIR/body" -w '%{http_code}' --max-time 5 --cacert "$A/ca.crt" --cert "$A/tls.crt" \
  --key "$A/tls.key" "$KURL$VDS?watch=true&resourceVersion=1&timeoutSeconds=2") || true
expect_eq "watch from a compacted resourceVersion" "$(head -1 "$IT_DIR/body" | jq -r '.type + " " + (.object.code|tostring) + " " + .object.reason')" \
  "ERROR 410 Expired"
kc delete vds fp-snap -n $NS >/dev/null 2>&1 || true

echo "runtime: $(($(date +%s) - T0)) s"
if [ "$FAILS" -gt 0 ]; then
  echo "FAIL: $IT_NAME ($FAILS of $CHECKS checks failed)"
  exit 1
fi
done_ok
