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
# With --store etcd each count runs on an HA cluster instead (local-cluster up --ha: three etcd
# members, three controllers); --store both runs each count on SQLite, then on etcd, and prints
# etcd's time as a multiple of SQLite's. On etcd the script then measures failover
# --failover-trials times: SIGKILL the leader (its supervisor restarts it as a follower), at
# once create a VirtualDisk through the surviving controllers, and time until the new leader
# has reconciled it (its status has a phase): "leader SIGKILL -> first reconcile by the new
# leader", reported as p50/p99/max.
#
# The build directory is --build-dir, else $BERTH_BUILD_DIR, else ./build.
#
#   bench/scale/run-scale.sh [--build-dir DIR] [--counts "1000 10000"] [--nodes 4] [--port 7643]
#                            [--storage loop|tmpfs] [--store sqlite|etcd|both]
#                            [--failover-trials 20]
#                            [--controller-args "--workers=8"] [-- extra berth-bench-scale flags]
#
# The controller and agents serve /metrics on 127.0.0.1:19743 and 19745+i (on etcd: the
# leader's usual metrics port, see local-cluster); after each run the script prints the mean
# reconcile and storage-operation times from them.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BERTH_BUILD_DIR:-$root/build}
counts="1000 10000"
nodes=4
port=7643
controller_args=""
storage=loop
store=sqlite
failover_trials=20
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
    --store) store=$2; shift 2 ;;
    --failover-trials) failover_trials=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
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

case "$store" in
  sqlite) stores=sqlite ;;
  etcd) stores=etcd ;;
  both) stores="sqlite etcd" ;;
  *) echo "run-scale: --store is sqlite, etcd or both" >&2; exit 2 ;;
esac
# The HA cluster's controllers: servers for the CLI, and who leads.
servers() { local k o=""; for k in 1 2 3; do o="$o,127.0.0.1:$((port + k - 1))"; done; echo "${o#,}"; }
leader() { cluster status 2>/dev/null | sed -n 's/^leader: controller-//p' | head -1; }
leader_metrics_port() { if [ "$1" = 1 ]; then echo $((port + 200)); else echo $((port + 220 + $1)); fi; }

# failover TRIALS: prints "FAILOVER trials=N p50_s=… p99_s=… max_s=…" on an HA cluster.
failover() {
  local trials=$1 i times=() l t0 t1
  for i in $(seq 1 "$trials"); do
    l=""
    for _ in $(seq 100); do l=$(leader); [ -n "$l" ] && break; sleep 0.1; done
    [ -n "$l" ] || { echo "run-scale: no leader before failover trial $i" >&2; return 1; }
    # Settle: the restarted controller of the previous trial is a follower by now.
    sleep 2
    t0=$(date +%s.%N)
    cluster crash "controller-$l" >/dev/null 2>&1
    printf 'apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualDisk\nmetadata: {name: failover-%s, namespace: scale}\nspec:\n  persistentVolumeClaim: {size: 16Mi, storageClassName: local-copy}\n' "$i" |
      BERTH_SERVER=$(servers) "$build_dir/cli/berth" apply -f - >/dev/null
    BERTH_SERVER=$(servers) "$build_dir/cli/berth" wait -n scale "vd/failover-$i" \
      --for=jsonpath='{.status.phase}' --timeout=120s >/dev/null
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc)")
    echo "  failover $i: leader controller-$l killed, reconciled after ${times[-1]} s" >&2
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v n="$trials" '
    { t[NR] = $1 }
    END { p50 = t[int((NR + 1) / 2)]; i99 = int(0.99 * NR + 0.999); if (i99 < 1) i99 = 1
          printf "FAILOVER trials=%d p50_s=%.2f p99_s=%.2f max_s=%.2f\n", n, p50, t[i99], t[NR] }'
}

results=()
failovers=()
for n in $counts; do
for st in $stores; do
  cluster down --purge >/dev/null 2>&1 || true
  metrics_port=19743
  if [ "$st" = etcd ]; then
    cluster up --ha --nodes "$nodes" --no-build >/dev/null
    if [ -n "$controller_args" ]; then
      for k in 1 2 3; do
        echo "$(cat "$dir/run/controller-$k.cmd") $controller_args" >"$dir/run/controller-$k.cmd.new" &&
          mv "$dir/run/controller-$k.cmd.new" "$dir/run/controller-$k.cmd"
        cluster stop "controller-$k" >/dev/null 2>&1 && cluster start "controller-$k" >/dev/null 2>&1
      done
    fi
    for _ in $(seq 100); do [ -n "$(leader)" ] && break; sleep 0.1; done
    metrics_port=$(leader_metrics_port "$(leader)")
  else
    cluster up --nodes "$nodes" --no-build >/dev/null
    # Restart the daemons with metrics (and any extra controller flags).
    echo "$(cat "$dir/run/controller.cmd") --metrics_listen=127.0.0.1:19743 $controller_args" \
      >"$dir/run/controller.cmd.new" && mv "$dir/run/controller.cmd.new" "$dir/run/controller.cmd"
    cluster stop controller >/dev/null 2>&1 && cluster start controller >/dev/null 2>&1
  fi
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
      curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -q "berth_agent_heartbeats_total{node=\"node-$i\"}" && break
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
  if [ "$st" = etcd ]; then pid=$(cat "$dir/run/controller-$(leader).pid"); else pid=$(cat "$dir/run/controller.pid"); fi
  echo "run-scale: $n snapshots, $nodes agents ($storage storage, $st store), controller pid $pid" >&2
  # CPU seconds of the etcd members over the run (they share the machine's cores with the
  # controllers and agents; SQLite's work is inside the controller's own figure).
  etcd_ticks() { local k t=0; for k in 1 2 3; do
      [ -f "$dir/run/etcd-$k.pid" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$(cat "$dir/run/etcd-$k.pid")/stat" 2>/dev/null || echo 0)))
    done; echo $t; }
  etcd_before=$(etcd_ticks)
  line=$("$bench" --server="127.0.0.1:$port" --controller_pid="$pid" --snapshots="$n" \
    "${extra[@]}" | grep '^RESULT')
  line="$line store=$st"
  if [ "$st" = etcd ]; then
    line="$line etcd_cpu_s=$(awk -v t=$(( $(etcd_ticks) - etcd_before )) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }')"
  fi
  echo "$line"
  results+=("$line")
  # Mean time per reconcile pass and per agent storage call, from /metrics.
  mean() {  # mean URL METRIC LABEL-FILTER
    curl -s "$1" | awk -v m="$2" -v f="$3" '
      index($0, m "_sum") == 1 && index($0, f) { s += $2 }
      index($0, m "_count") == 1 && index($0, f) { c += $2 }
      END { if (c > 0) printf "%.1f ms over %d", 1000 * s / c, c; else printf "n/a" }'
  }
  echo "  reconcile VirtualDiskSnapshot: $(mean "http://127.0.0.1:$metrics_port/metrics" \
    berth_reconcile_duration_seconds 'kind="VirtualDiskSnapshot"')"
  for i in $(seq 1 "$nodes"); do
    echo "  node-$i snapshot call: $(mean "http://127.0.0.1:$((19745 + i))/metrics" \
      berth_agent_storage_op_seconds 'op="snapshot"')"
  done
  if [ "$st" = etcd ] && [ "$failover_trials" -gt 0 ] && [ "$n" = "${counts##* }" ]; then
    f=$(failover "$failover_trials")
    echo "$f"
    failovers+=("$f")
  fi
  cluster down --purge >/dev/null
  unmount_shm
done
done

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
printf '\n%-7s %-10s %12s %10s %10s %10s %12s %12s %14s %10s\n' store snapshots all_ready_s apply/s \
  p50_s p99_s peak_rss_mb ready/s ctl_cpu_ms/obj etcd_cpu_s
for r in "${results[@]}"; do
  printf '%-7s %-10s %12s %10s %10s %10s %12s %12s %14s %10s\n' "$(field "$r" store)" "$(field "$r" snapshots)" \
    "$(field "$r" all_ready_s)" "$(field "$r" applies_per_s)" "$(field "$r" p50_s)" \
    "$(field "$r" p99_s)" "$(field "$r" peak_rss_mb)" "$(field "$r" ready_per_s)" \
    "$(field "$r" controller_cpu_ms_per_snapshot)" "$(field "$r" etcd_cpu_s)"
done
if [ "$store" = both ]; then
  for n in $counts; do
    s_t="" e_t=""
    for r in "${results[@]}"; do
      [ "$(field "$r" snapshots)" = "$n" ] || continue
      [ "$(field "$r" store)" = sqlite ] && s_t=$(field "$r" all_ready_s)
      [ "$(field "$r" store)" = etcd ] && e_t=$(field "$r" all_ready_s)
    done
    [ -n "$s_t" ] && [ -n "$e_t" ] &&
      awk -v n="$n" -v s="$s_t" -v e="$e_t" 'BEGIN { printf "%s snapshots: etcd %.1f s, SQLite %.1f s: %.2fx\n", n, e, s, e / s }'
  done
fi
for f in "${failovers[@]}"; do echo "$f"; done
if [ "$store" != both ] && [ ${#results[@]} -ge 2 ]; then
  first=${results[0]} last=${results[-1]}
  awk -v n1="$(field "$first" snapshots)" -v t1="$(field "$first" all_ready_s)" \
      -v n2="$(field "$last" snapshots)" -v t2="$(field "$last" all_ready_s)" \
      'BEGIN { printf "\ngrowth: %.1fx the snapshots took %.2fx the time (linear: %.2fx)\n", n2/n1, t2/t1, n2/n1 }'
fi
