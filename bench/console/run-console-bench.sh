#!/usr/bin/env bash
# The web console with 10,000 disk snapshots, in Debian's chromium (headless, playwright-core),
# against references on the same API run in the same process tree, alternating runs:
#   1. first render: navigation to Disk Images until the table shows all COUNT objects, against
#      `curl` fetching the same list (the bytes the page must receive) and `kubectl get vds`
#      (a client that lists and prints the same objects); wall time and CPU-seconds of the
#      browser's process tree vs the reference's;
#   2. update: a new snapshot's status is written Ready (PUT .../status); time from the PUT's
#      response until the page's row shows Ready (a MutationObserver in the page), against
#      `kubectl get vds -w` printing the same change;
#   3. memory: the tab's JS heap (CDP Performance.getMetrics) and the renderer's RSS.
# Targets (issue 16): first render <= 1 s, update <= 250 ms, tab memory <= 200 MB.
# Ends with the figures as markdown on stdout.
#
#   bench/console/run-console-bench.sh [--build-dir DIR] [--count 10000] [--runs 5]
#                                      [--updates 20] [--port 28443] [--keep]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BERTH_BUILD_DIR:-$root/build}
count=10000 runs=5 updates=20 port=28443 keep=0
dir=/var/tmp/berth-bench-console
cmdline="bench/console/run-console-bench.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --updates) updates=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "run-console-bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$port" in 6443|7443) echo "run-console-bench: not on $port (a shared cluster's port)" >&2; exit 2 ;; esac
build_dir=$(cd "$build_dir" && pwd)
berth=$build_dir/cli/berth
[ -x "$berth" ] || { echo "run-console-bench: build first ($berth)" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "run-console-bench: no /usr/bin/chromium (scripts/setup)" >&2; exit 1; }
[ -d "$root/console/node_modules/playwright-core" ] || { echo "run-console-bench: build first (console/node_modules)" >&2; exit 1; }

cluster() { "$root/scripts/local-cluster" "$@" --dir "$dir" --port "$port" --build-dir "$build_dir"; }
out=$(mktemp -d /tmp/berth-console-bench.XXXXXX)
finish() {
  [ "$keep" = 1 ] || cluster down --purge >/dev/null 2>&1 || true
  rm -rf "$out"
}
trap finish EXIT
cluster down --purge >/dev/null 2>&1 || true
cluster up --nodes 1 --no-build >/dev/null
export HOME=$out/home  # kubectl's discovery cache of an earlier cluster on this port would not match
mkdir -p "$HOME"
kurl=https://127.0.0.1:$((port - 1000))

python3 "$root/bench/api/api_bench.py" setup --dir "$dir" --kube-url "$kurl" \
  --grpc-server "127.0.0.1:$port" --berth "$berth" --count "$count" --namespaces 1 >"$out/setup.md"
token=$(BERTH_SERVER=127.0.0.1:$port BERTH_TLS_DIR=$dir/certs/admin "$berth" admin token create bench --admin --ttl 2h)

BENCH_TOKEN=$token BENCH_URL=$kurl BENCH_NS=bench-0 BENCH_COUNT=$count BENCH_RUNS=$runs \
  BENCH_UPDATES=$updates CONSOLE_DIR=$root/console KUBECONFIG=$dir/kubeconfig \
  NODE_EXTRA_CA_CERTS=$dir/certs/ca.crt BENCH_CA=$dir/certs/ca.crt \
  node "$root/bench/console/console_bench.mjs" >"$out/bench.md"
{
  echo "## Web console (bench/console)"
  echo
  echo "\`$cmdline\` on $(nproc) vCPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)),"
  echo "$(/usr/bin/chromium --version 2>/dev/null | head -1) headless, one-node local cluster,"
  echo "berth $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d)."
  echo
  cat "$out/setup.md" "$out/bench.md"
}
