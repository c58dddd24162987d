#!/usr/bin/env bash
# Acceptance for disk export and import (docs/export.md), on a private local cluster:
# - a snapshot of a sparse disk with known data exports to a sparse file with the same SHA-256,
#   and re-imports as a VirtualDisk and as a VirtualImage byte-identical;
# - the same through --publish (an agent restarted with a distinct public address) and through
#   plain curl with the token (Range requests too);
# - a download killed halfway resumes with --resume without re-downloading finished ranges
#   (proved by the agent's request log);
# - bad inputs: wrong token (401), unknown export (404), expired export (410, data released),
#   path tricks in names, unknown disk, an import size smaller than the file: clear errors and
#   nothing left behind;
# - with the cluster on mutual TLS (lib.sh): the export pins the cluster CA and curl must present
#   a certificate of that CA (the admin bundle); without one, or with one from another CA, the
#   handshake fails before any request is served.
source "$(dirname "$0")/lib.sh"
start_cluster 1
work="$IT_DIR/work"
mkdir -p "$work"
agent_log="$IT_DIR/cluster/logs/node-1.log"
sha() { sha256sum <"$1" | cut -d' ' -f1; }
served_since() {  # served_since LINE: bytes the agent sent for data requests after log line LINE
  tail -n +"$(($1 + 1))" "$agent_log" | grep -o ' sent=[0-9]*' | cut -d= -f2 |
    awk '{s += $1} END {print s + 0}'
}

# A 256 MiB disk with 24 MiB of known data in three places; the rest is holes.
disk_yaml src local-reflink 256Mi | berth apply -f - >/dev/null
wait_phase vd src Ready
src_path=$(jp vd src '{.status.path}')
for at in 0 100 240; do
  head -c $((8 << 20)) /dev/urandom | dd of="$src_path" bs=1M seek="$at" conv=notrunc status=none
done
want=$(sha "$src_path")
snapshot_yaml src-snap src | berth apply -f - >/dev/null
wait_phase vds src-snap Ready

# Export the snapshot: identical, sparse, export object gone afterwards.
check "download vds" berth data export download vds/src-snap -o "$work/snap.img"
expect_eq "downloaded snapshot sha256" "$(sha "$work/snap.img")" "$want"
expect_eq "downloaded size" "$(stat -c %s "$work/snap.img")" $((256 << 20))
blocks=$(du -k "$work/snap.img" | cut -f1)
check "downloaded file is sparse ($blocks KiB on disk)" test "$blocks" -lt $((64 << 10))
expect_eq "export object deleted" "$(berth get dex -o name | wc -l)" 0
check "no sidecar left" test ! -e "$work/snap.img.berth-progress"
check "long form kind accepted" berth data export download virtualdisksnapshot/src-snap \
  -o "$work/snap2.img"
expect_eq "long form sha256" "$(sha "$work/snap2.img")" "$want"

# Re-import as a disk (another storage class) and as an image: byte-identical.
check "upload vd" berth data import upload vd/back -f "$work/snap.img" --storage-class local-btrfs
expect_eq "re-imported disk phase" "$(jp vd back '{.status.phase}')" Ready
expect_eq "re-imported disk sha256" "$(sha "$(jp vd back '{.status.path}')")" "$want"
check "upload vd bigger than the file" berth data import upload vd/back-big -f "$work/snap.img" \
  --size 512Mi --storage-class local-copy
big=$(jp vd back-big '{.status.path}')
expect_eq "bigger disk size" "$(stat -c %s "$big")" $((512 << 20))
expect_eq "bigger disk keeps the data" "$(head -c $((256 << 20)) "$big" | sha256sum | cut -d' ' -f1)" "$want"
check "upload vi" berth data import upload vi/back-image -f "$work/snap.img"
expect_eq "image phase" "$(jp vi back-image '{.status.phase}')" Ready
expect_eq "image sha256" "$(sha "$(jp vi back-image '{.status.path}')")" "$want"
expect_eq "image size" "$(jp vi back-image '{.status.sizeBytes}')" $((256 << 20))
check "image node recorded" test -n "$(jp vi back-image '{.status.node}')"
# ...and the disk made from the image's bytes round-trips through export again.
check "download re-imported disk" berth data export download vd/back -o "$work/back.img"
expect_eq "round trip sha256" "$(sha "$work/back.img")" "$want"

# curl with the token, Range requests, 401 and 404.
cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: DataExport
metadata:
  name: by-curl
spec:
  targetRef: {kind: VirtualDiskSnapshot, name: src-snap}
  ttl: 10s
YAML
wait_phase dex by-curl Ready 60s
url=$(jp dex by-curl '{.status.url}')
token=$(jp dex by-curl '{.status.token}')
berth get dex by-curl -o json | jq -r .status.caCert >"$work/ca.pem"
# The client certificate curl presents (the CLI's, from BERTH_TLS_DIR); none in insecure mode.
tls=()
if [ -n "${BERTH_TLS_DIR:-}" ]; then
  expect_eq "export pins the cluster CA" "$(cat "$work/ca.pem")" "$(cat "$BERTH_TLS_DIR/ca.crt")"
  tls=(--cert "$BERTH_TLS_DIR/tls.crt" --key "$BERTH_TLS_DIR/tls.key")
fi
code=$(curl -s -o "$work/curl.img" -w '%{http_code}' --cacert "$work/ca.pem" "${tls[@]}" \
  -H "Authorization: Bearer $token" "$url/data")
expect_eq "curl status" "$code" 200
expect_eq "curl sha256" "$(sha "$work/curl.img")" "$want"
code=$(curl -s -o "$work/range.bin" -w '%{http_code}' --cacert "$work/ca.pem" "${tls[@]}" \
  -r 1048576-2097151 \
  -H "Authorization: Bearer $token" "$url/data")
expect_eq "curl range status" "$code" 206
expect_eq "curl range bytes" "$(sha "$work/range.bin")" \
  "$(tail -c +1048577 "$src_path" | head -c 1048576 | sha256sum | cut -d' ' -f1)"
# The token with its last character changed (to 0, or to 1 when it already ends in 0: a token
# ending in 0 made this "wrong" token the right one, one run in 16).
wrong=${token%?}0
[ "$wrong" != "$token" ] || wrong=${token%?}1
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca.pem" "${tls[@]}" \
  -H "Authorization: Bearer $wrong" "$url/data")
expect_eq "wrong token" "$code" 401
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca.pem" "${tls[@]}" "$url/data")
expect_eq "missing token" "$code" 401
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca.pem" "${tls[@]}" \
  -H "Authorization: Bearer $token" "${url%/*}/0000-unknown/data")
expect_eq "unknown export" "$code" 404
if [ -n "${BERTH_TLS_DIR:-}" ]; then  # mutual TLS: no request without a cluster certificate
  mark=$(wc -l <"$agent_log")
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca.pem" \
    -H "Authorization: Bearer $token" "$url/data") && fail "curl without a client cert: $code"
  expect_eq "curl without a client certificate: no HTTP status" "$code" 000
  # A certificate from another CA (same subject as the admin's) is refused too.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/O=berth:cluster-admins/CN=admin" -keyout "$work/rogue.key" -out "$work/rogue.crt" \
    2>/dev/null
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca.pem" --cert "$work/rogue.crt" \
    --key "$work/rogue.key" -H "Authorization: Bearer $token" "$url/data") &&
    fail "curl with a certificate of another CA: $code"
  expect_eq "curl with a certificate of another CA: no HTTP status" "$code" 000
  check "the agent logged the refused handshakes" \
    test "$(tail -n +"$((mark + 1))" "$agent_log" | grep -c 'export: refused a TLS connection')" -ge 2
  check "no request was served to them" \
    bash -c "! tail -n +$((mark + 1)) '$agent_log' | grep -q 'export .*: GET data'"
fi

# Expiry: the 10 s idle TTL runs out, the export turns Expired, the agent releases the data
# and answers 410.
wait_phase dex by-curl Expired 60s
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca.pem" "${tls[@]}" \
  -H "Authorization: Bearer $token" "$url/data")
expect_eq "expired export" "$code" 410
uid=$(jp dex by-curl '{.metadata.uid}')
check "agent released the expired export" grep -q "export $uid: stopped" "$agent_log"
check "delete expired export" berth delete dex by-curl --timeout=30s

# Resume: kill the CLI halfway, then --resume: identical file, finished ranges not fetched again.
disk_yaml big local-reflink 1Gi | berth apply -f - >/dev/null
wait_phase vd big Ready
head -c $((768 << 20)) /dev/urandom | dd of="$(jp vd big '{.status.path}')" bs=4M conv=notrunc \
  status=none
big_want=$(sha "$(jp vd big '{.status.path}')")
berth data export download vd/big -o "$work/big.img" --connections 1 &
cli=$!
for _ in $(seq 3000); do
  lines=$( (wc -l <"$work/big.img.berth-progress") 2>/dev/null || echo 0)
  [ "$lines" -gt 60 ] && break
  sleep 0.005
done
kill -9 "$cli" 2>/dev/null || true
wait "$cli" 2>/dev/null || true
done_chunks=$(($(wc -l <"$work/big.img.berth-progress") - 1))
check "interrupted halfway ($done_chunks of 192 chunks)" test "$done_chunks" -gt 0 -a "$done_chunks" -lt 192
mark=$(wc -l <"$agent_log")
out=$(berth data export download vd/big -o "$work/big.img" --resume)
expect_eq "resumed file sha256" "$(sha "$work/big.img")" "$big_want"
served=$(served_since "$mark")
expect_eq "resume fetched exactly the missing chunks" "$served" $(((192 - done_chunks) * (4 << 20)))
check "resume reports reused bytes ($out)" grep -q "$((done_chunks * (4 << 20))) resumed" <<<"$out"

# --publish: restart the agent with a public address distinct from its listen address.
cluster kill node-1 >/dev/null 2>&1
if [ -n "${BERTH_CERTS:-}" ]; then  # the agent's certificate must name the public address too
  "$BERTH_SOURCE_DIR/scripts/certs" agent "$BERTH_CERTS" node-1 --san 127.0.0.2 2>/dev/null
fi
port=$((IT_PORT + 7))
sed -i "s|\$| --export_listen=0.0.0.0:$port --export_public_address=127.0.0.2:$port|" \
  "$IT_DIR/cluster/run/node-1.cmd"
cluster start node-1 >/dev/null 2>&1
berth wait node/node-1 --for=condition=Ready --timeout=60s >/dev/null
out=$(berth data export download vds/src-snap -o "$work/pub.img" --publish --keep)
expect_eq "published download sha256" "$(sha "$work/pub.img")" "$want"
dex=$(berth get dex -o name | head -n1)
expect_eq "publicURL host" "$(berth get "$dex" -o jsonpath='{.status.publicURL}' | cut -d/ -f3)" \
  "127.0.0.2:$port"
check "the download used the public address" grep -q "export .*: GET data" "$agent_log"
berth delete "$dex" --timeout=30s >/dev/null

# Bad inputs: clear errors, nothing created.
err=$(berth data export download vd/../etc -o "$work/x.img" 2>&1) && fail "path trick accepted"
check "path trick refused ($err)" grep -q "invalid name" <<<"$err"
err=$(berth data import upload vd/a/b -f "$work/snap.img" 2>&1) && fail "slash accepted"
check "slash in name refused" grep -q "invalid name" <<<"$err"
err=$(berth data export download vd/nope -o "$work/x.img" 2>&1) && fail "unknown disk accepted"
check "unknown disk: clear error ($err)" grep -qi "not found" <<<"$err"
err=$(berth data import upload vd/small -f "$work/snap.img" --size 64Mi 2>&1) &&
  fail "small size accepted"
check "size too small: clear error ($err)" grep -q "smaller than" <<<"$err"
check "size too small: nothing created" bash -c "! berth get vd small >/dev/null 2>&1"
expect_eq "no export objects left" "$(berth get dex -o name | wc -l)" 0
done_ok
