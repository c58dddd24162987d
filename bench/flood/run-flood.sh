#!/usr/bin/env bash
# The connection flood as a measurement (figures in docs/security.md, "Listeners"). Starts a one-node local
# cluster (mutual TLS) and nginx (the reference: a plain HTTP server on loopback), then for
# every listener runs `berth-flood --mode=bench`: a legitimate client on 127.0.0.1 makes a new
# connection and one real call every 20 ms, alternately without and with a connect-and-close
# flood from 127.0.0.2 on --flood-threads threads (S seconds each, twice each). Prints per listener the
# flood's accepted-and-closed connections per second (and beside nginx's), the legitimate
# call's p99 without and during the flood, their ratio (target: <= 3), and the flood's
# CPU-seconds. Needs root (the local cluster loop-mounts its pools).
#
#   bench/flood/run-flood.sh [--build-dir DIR] [--seconds 5] [--flood-threads 2] [--port 7843]
#                            [--only "export usbip"]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BERTH_BUILD_DIR:-$root/build}
seconds=5
threads=2
port=7843
only=""
dir=/var/tmp/berth-flood-bench
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --flood-threads) threads=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run-flood: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "run-flood: needs root (loop mounts)" >&2; exit 1; }
# Absolute, since the path reaches libvirt and daemons that run elsewhere.
[ -d "$build_dir" ] || { echo "run-flood: no build directory $build_dir" >&2; exit 1; }
build_dir=$(cd "$build_dir" && pwd)
flood=$build_dir/bench/flood/berth-flood
[ -x "$flood" ] || { echo "run-flood: build berth-flood first ($flood)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "run-flood: nginx is missing (scripts/setup)" >&2; exit 1; }

usbip_port=$((port + 151)) linux_port=$((port + 101)) export_port=$((port + 161))
nginx_port=$((port + 190))
cluster() { "$root/scripts/local-cluster" "$@" --dir "$dir" --port "$port" --build-dir "$build_dir"; }
nginx_dir=$(mktemp -d /tmp/berth-flood-nginx.XXXXXX)
stop_all() {
  [ -f "$nginx_dir/nginx.pid" ] && kill "$(cat "$nginx_dir/nginx.pid")" 2>/dev/null
  cluster down --purge >/dev/null 2>&1 || true
  rm -rf "$nginx_dir"
}
trap stop_all EXIT
cluster down --purge >/dev/null 2>&1 || true
export BERTH_AGENT_FLAGS="--usbip_listen=127.0.0.1:$usbip_port --usbip_peers=127.0.0.1,127.0.0.2 \
--usbip_linux_listen=127.0.0.1:$linux_port --export_listen=127.0.0.1:$export_port"
cluster up --nodes 1 --no-build >/dev/null
certs=$dir/certs
admin=(--ca="$certs/ca.crt" --cert="$certs/admin/tls.crt" --key="$certs/admin/tls.key")
agent=(--ca="$certs/ca.crt" --cert="$certs/agents/node-1/tls.crt"
  --key="$certs/agents/node-1/tls.key")

# nginx, one worker (the daemons' listeners have one accepting thread each).
cat >"$nginx_dir/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $nginx_dir; proxy_temp_path $nginx_dir; fastcgi_temp_path $nginx_dir;
  uwsgi_temp_path $nginx_dir; scgi_temp_path $nginx_dir;
  server { listen 127.0.0.1:$nginx_port; location /healthz { return 200 "ok\n"; } }
}
EOF
nginx -c "$nginx_dir/nginx.conf" -p "$nginx_dir"

val() { sed -n "s/^$1=//p" "$2"; }
rows=()
nginx_rate=
run() {  # run NAME PORT PROBE [PROBE FLAGS...]
  local name=$1 target=127.0.0.1:$2 probe=$3
  shift 3
  if [ -n "$only" ] && [[ " $only " != *" $name "* ]] && [ "$name" != nginx ]; then return; fi
  local out
  out=$(mktemp)
  "$flood" --target="$target" --mode=bench --probe="$probe" "$@" --seconds="$seconds" \
    --flood-threads="$threads" --interval-ms=20 --timeout-ms=5000 --source=127.0.0.2 >"$out" 2>&1 ||
    { echo "run-flood: $name: $(cat "$out")" >&2; rm -f "$out"; return 1; }
  local rate
  rate=$(val flood_per_second "$out")
  [ "$name" = nginx ] && nginx_rate=$rate
  rows+=("$(printf '%-22s %10s %8s %9s %9s %6s %8s %5s/%-5s' "$name" "$rate" \
    "$(awk -v a="$rate" -v b="${nginx_rate:-0}" 'BEGIN {printf (b > 0 ? "%.2f" : "-"), a / b}')" \
    "$(val base_p99_ms "$out")" "$(val flood_p99_ms "$out")" "$(val p99_ratio "$out")" \
    "$(val flood_cpu_seconds "$out")" "$(val flood_probe_ok "$out")" \
    "$(val flood_probe_failed "$out")")")
  rm -f "$out"
}
run nginx "$nginx_port" http
run controller-grpc "$port" grpc "${admin[@]}"
run controller-metrics $((port + 200)) http
run agent-grpc $((port + 1)) grpc "${admin[@]}"
run usbip "$usbip_port" usbip "${agent[@]}"
run usbip-linux "$linux_port" usbip
run export "$export_port" https "${admin[@]}"
run agent-metrics $((port + 201)) http

echo "berth-flood --mode=bench, ${seconds}s per phase, $threads flood thread(s) from 127.0.0.2;" \
  "probe every 20 ms from 127.0.0.1"
printf '%-22s %10s %8s %9s %9s %6s %8s %11s\n' listener "closed/s" "x nginx" "p99 ms" \
  "flood p99" ratio "flood cpu" "ok/failed"
printf '%s\n' "${rows[@]}"
