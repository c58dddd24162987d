#!/usr/bin/env bash
# Runs berth-bench-scale at several sizes, each against a fresh local cluster (one controller,
# 4 agents, loop-mounted XFS reflink and btrfs pools), and prints the figures side by side with
# the growth ratio of the largest run against the smallest. Needs root.
#
# With --storage=tmpfs the agents' pools named reflink and btrfs are copy pools on a tmpfs: the
# storage classes and the controller's work stay the same, but snapshots cost the agents almost
# nothing, so the figures are the controller's own (the loop-mounted filesystems of this machine
# are otherwise the bottleneck: every snapshot is fsynced).
#
# The build directory is --build-dir, else $BERTH_BUILD_DIR, else ./build.
#
#   bench/scale/run-scale.sh [--build-dir DIR] [--counts "1000 10000"] [--nodes 4] [--port 7643]
#                            [--storage loop|tmpfs]
#                            [--controller-args "--workers=8"] [-- extra berth-bench-scale flags]
#
# The controller and agents serve /metrics on 127.0.0.1:19743 and 19745+i; after each run the
# script prints the mean reconcile and storage-operation times from them.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BERTH_BUILD_DIR:-$root/build}
counts="1000 10000"
nodes=4
port=7643
controller_args=""
storage=loop
dir=/var/tmp/berth-scale
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --counts) counts=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --controller-args) controller_args=$2; shift 2 ;;
    --storage) storage=$2; shift 2 ;;
    --storage=*) storage=${1#--storage=}; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "run-scale: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "run-scale: needs root (loop mounts)" >&2; exit 1; }
# Absolute, since the path reaches libvirt and daemons that run elsewhere.
[ -d "$build_dir" ] || { echo "run-scale: no build directory $build_dir" >&2; exit 1; }
build_dir=$(cd "$build_dir" && pwd)
bench="$build_dir/bench/scale/berth-bench-scale"
[ -x "$bench" ] || { echo "run-scale: build berth-bench-scale first ($bench)" >&2; exit 1; }
cluster() { "$root/scripts/local-cluster" "$@" --dir "$dir" --port "$port" --build-dir "$build_dir"; }
# local-cluster runs with mutual TLS (unless BERTH_LOCAL_INSECURE=1): the CLI and the bench
# talk to the controller as the cluster admin it creates under DIR/certs.
if [ "${BERTH_LOCAL_INSECURE:-0}" != 1 ]; then
  export BERTH_TLS_DIR=${BERTH_TLS_DIR:-$dir/certs/admin}
fi
shm="$dir-tmpfs"
unmount_shm() { if mountpoint -q "$shm"; then umount "$shm"; fi; rm -rf "$shm"; }
trap 'cluster down --purge >/dev/null 2>&1 || true; unmount_shm' EXIT

results=()
for n in $counts; do
  cluster down --purge >/dev/null 2>&1 || true
  cluster up --nodes "$nodes" --no-build >/dev/null
  # Restart the daemons with metrics (and any extra controller flags).
  echo "$(cat "$dir/run/controller.cmd") --metrics_listen=127.0.0.1:19743 $controller_args" \
    >"$dir/run/controller.cmd.new" && mv "$dir/run/controller.cmd.new" "$dir/run/controller.cmd"
  cluster stop controller >/dev/null 2>&1 && cluster start controller >/dev/null 2>&1
  if [ "$storage" = tmpfs ]; then
    unmount_shm
    mkdir -p "$shm" && mount -t tmpfs -o size=4g berth-scale "$shm"
  fi
  for i in $(seq 1 "$nodes"); do
    cmd=$(cat "$dir/run/node-$i.cmd")
    if [ "$storage" = tmpfs ]; then
      cmd=$(sed "s|--pools=[^ ]*|--pools=reflink:copy:$shm/node-$i/reflink,btrfs:copy:$shm/node-$i/btrfs|" <<<"$cmd")
    fi
    echo "$cmd --metrics_listen=127.0.0.1:$((19745 + i))" \
      >"$dir/run/node-$i.cmd.new" && mv "$dir/run/node-$i.cmd.new" "$dir/run/node-$i.cmd"
    cluster stop "node-$i" >/dev/null 2>&1 && cluster start "node-$i" >/dev/null 2>&1
  done
  # The restarted agents register again; wait for every one's heartbeat on the controller's
  # metrics (a Node still shows the Ready of its previous process for a few seconds).
  for i in $(seq 1 "$nodes"); do
    for _ in $(seq 300); do
      curl -s http://127.0.0.1:19743/metrics | grep -q "berth_agent_heartbeats_total{node=\"node-$i\"}" && break
      sleep 0.1
    done
    BERTH_SERVER=127.0.0.1:$port "$build_dir/cli/berth" wait "node/node-$i" --for=condition=Ready \
      --timeout=60s >/dev/null
    # A re-registered Node has its pools cleared until the controller has asked the new agent
    # again; placement skips it until then, so without this wait the source disks (and all the
    # snapshots) may land on fewer than --nodes agents.
    BERTH_SERVER=127.0.0.1:$port "$build_dir/cli/berth" wait "node/node-$i" \
      --for=jsonpath='{.status.pools[*].name}' --timeout=60s >/dev/null
  done
  pid=$(cat "$dir/run/controller.pid")
  echo "run-scale: $n snapshots, $nodes agents ($storage storage), controller pid $pid" >&2
  line=$("$bench" --server="127.0.0.1:$port" --controller_pid="$pid" --snapshots="$n" \
    "${extra[@]}" | grep '^RESULT')
  echo "$line"
  results+=("$line")
  # Mean time per reconcile pass and per agent storage call, from /metrics.
  mean() {  # mean URL METRIC LABEL-FILTER
    curl -s "$1" | awk -v m="$2" -v f="$3" '
      index($0, m "_sum") == 1 && index($0, f) { s += $2 }
      index($0, m "_count") == 1 && index($0, f) { c += $2 }
      END { if (c > 0) printf "%.1f ms over %d", 1000 * s / c, c; else printf "n/a" }'
  }
  echo "  reconcile VirtualDiskSnapshot: $(mean http://127.0.0.1:19743/metrics \
    berth_reconcile_duration_seconds 'kind="VirtualDiskSnapshot"')"
  for i in $(seq 1 "$nodes"); do
    echo "  node-$i snapshot call: $(mean "http://127.0.0.1:$((19745 + i))/metrics" \
      berth_agent_storage_op_seconds 'op="snapshot"')"
  done
  cluster down --purge >/dev/null
  unmount_shm
done

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
printf '\n%-10s %12s %10s %10s %10s %12s %12s %14s\n' snapshots all_ready_s apply/s p50_s p99_s \
  peak_rss_mb ready/s ctl_cpu_ms/obj
for r in "${results[@]}"; do
  printf '%-10s %12s %10s %10s %10s %12s %12s %14s\n' "$(field "$r" snapshots)" \
    "$(field "$r" all_ready_s)" "$(field "$r" applies_per_s)" "$(field "$r" p50_s)" \
    "$(field "$r" p99_s)" "$(field "$r" peak_rss_mb)" "$(field "$r" ready_per_s)" \
    "$(field "$r" controller_cpu_ms_per_snapshot)"
done
if [ ${#results[@]} -ge 2 ]; then
  first=${results[0]} last=${results[-1]}
  awk -v n1="$(field "$first" snapshots)" -v t1="$(field "$first" all_ready_s)" \
      -v n2="$(field "$last" snapshots)" -v t2="$(field "$last" all_ready_s)" \
      'BEGIN { printf "\ngrowth: %.1fx the snapshots took %.2fx the time (linear: %.2fx)\n", n2/n1, t2/t1, n2/n1 }'
fi
