#!/usr/bin/env bash
# The Kubernetes REST API (--kube_api_listen, for kubectl) against the controller's own gRPC API
# (the berth CLI), over the same store. Starts a private one-node local cluster, then:
#   1. setup: COUNT VirtualDiskSnapshots (of a missing disk: they stay Pending, no storage work)
#      in NAMESPACES namespaces by parallel `berth apply -f`; prints how long it took;
#   2. list: `kubectl get vds -A` (Table), `kubectl get vds -A -o json` against `berth get vds -A`
#      (-o json), RUNS alternating runs each, with wall time, the client's CPU-seconds and the
#      controller's (/proc/PID/stat before/after), medians and the ratios REST/gRPC (target: REST
#      list <= 1.2x the gRPC list), plus diagnostics (kubectl without 500-item pages, bare curl);
#   3. watch: WATCHERS concurrent REST watchers, then WRITES label merge-patches every INTERVAL ms;
#      p50/p99/max of (event receipt - PATCH response) over all (watcher, event) pairs (target:
#      p99 <= 50 ms at 100 watchers); references: 1 REST watcher, and WATCHERS (and 1)
#      `berth get vds -w` processes on the gRPC watch.
# Ends with the figures as markdown on stdout (progress on stderr). The programs: api_bench.py
# (Python 3, standard library only).
#
#   bench/api/run-api-bench.sh [--build-dir DIR] [--count 10000] [--namespaces 4] [--runs 5]
#                              [--watchers 100] [--writes 200] [--interval-ms 20] [--port 27443]
#                              [--dir /var/tmp/berth-bench-api] [--skip-diag] [--keep]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BERTH_BUILD_DIR:-$root/build}
count=10000 namespaces=4 runs=5 watchers=100 writes=200 interval=20 port=27443
dir=/var/tmp/berth-bench-api
skip_diag=() keep=0
cmdline="bench/api/run-api-bench.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --namespaces) namespaces=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --watchers) watchers=$2; shift 2 ;;
    --writes) writes=$2; shift 2 ;;
    --interval-ms) interval=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --skip-diag) skip_diag=(--skip-diag); shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run-api-bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$port" in 6443|7443) echo "run-api-bench: not on $port (a shared cluster's port)" >&2; exit 2 ;; esac
[ -d "$build_dir" ] || { echo "run-api-bench: no build directory $build_dir" >&2; exit 1; }
build_dir=$(cd "$build_dir" && pwd)
berth=$build_dir/cli/berth
[ -x "$berth" ] || { echo "run-api-bench: build the CLI first ($berth)" >&2; exit 1; }
[ -x "$build_dir/cluster-controller/berth-controller" ] ||
  { echo "run-api-bench: build berth-controller first" >&2; exit 1; }
kubectl=$(command -v kubectl) || { echo "run-api-bench: kubectl is missing" >&2; exit 1; }
command -v curl >/dev/null || { echo "run-api-bench: curl is missing" >&2; exit 1; }
# 100 watchers: sockets or CLI processes with their pipes.
ulimit -n 4096 2>/dev/null || true

cluster() { "$root/scripts/local-cluster" "$@" --dir "$dir" --port "$port" --build-dir "$build_dir"; }
out=$(mktemp -d /tmp/berth-api-bench.XXXXXX)
finish() {
  [ "$keep" = 1 ] || cluster down --purge >/dev/null 2>&1 || true
  rm -rf "$out"
}
trap finish EXIT
cluster down --purge >/dev/null 2>&1 || true
cluster up --nodes 1 --no-build >/dev/null
# kubectl's discovery cache of an earlier cluster on this port would not match.
export HOME=$out/home
mkdir -p "$HOME"

bench=(python3 "$root/bench/api/api_bench.py")
common=(--dir "$dir" --kube-url "https://127.0.0.1:$((port - 1000))" --grpc-server "127.0.0.1:$port"
  --berth "$berth" --kubectl "$kubectl" --count "$count" --namespaces "$namespaces")
"${bench[@]}" setup "${common[@]}" >"$out/1-setup.md"
"${bench[@]}" list "${common[@]}" --runs "$runs" "${skip_diag[@]}" >"$out/2-list.md"
for spec in "rest 1" "rest $watchers" "grpc $watchers" "grpc 1"; do
  set -- $spec
  "${bench[@]}" watch "${common[@]}" --mode "$1" --watchers "$2" --writes "$writes" \
    --interval-ms "$interval" --results "$out/watch.jsonl"
done
"${bench[@]}" report-watch --interval-ms "$interval" --results "$out/watch.jsonl" >"$out/3-watch.md"

{
  echo "## Kubernetes REST API vs gRPC API (bench/api)"
  echo
  echo "\`$cmdline\` on $(nproc) vCPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), one-node"
  echo "local cluster (mutual TLS, embedded store); kubectl $("$kubectl" version --client -o json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])'),"
  echo "berth $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d)."
  echo
  cat "$out/1-setup.md" "$out/2-list.md" "$out/3-watch.md"
}
