#!/usr/bin/env bash
# run-migrate-bench: a Berth live migration (VirtualMachineOperation Migrate) beside the same
# migration typed by hand with virsh between the same two hypervisors.
#
#   bench/migrate/run-migrate-bench.sh [--build-dir DIR] [--sizes "1 8"] [--runs 3] [--port P]
#
# Starts a private 2-node local cluster (scripts/local-cluster up --no-build; each node its own
# libvirtd) and, per SIZE GiB in --sizes, a 256 MiB test guest (kernel boot, berth.writer=1: it
# appends records to its data disk all through the migrations) whose local-reflink VirtualDisk
# of SIZE GiB is an ext4 filesystem 90% full (less when the writer needs the room for --runs
# rounds: 128 + 24*runs MiB are left free): one file of incompressible (urandom) data written
# into the volume before the VM first starts, so the storage mirror copies SIZE*0.9 GiB of
# allocated extents, not holes. Then --runs rounds (odd ones Berth first, even ones virsh), each:
#   berth  two Migrate operations, away to the other node and back (two timed runs;
#          spec.migrate.maxDowntimeMilliseconds at its default, 300 ms); wall time from
#          `berth apply` to phase Completed (`berth wait`); downtime
#          status.migration.downtimeMilliseconds (status.migration is logged per run).
#   virsh  the controller stopped (local-cluster stop controller; agents keep running), the same
#          domain moved by hand AWAY to the other node and BACK (two timed runs), as
#            virsh -c SRC migrate --live --p2p --persistent --undefinesource --copy-storage-all
#              --abort-on-error --xml DEST.xml --persistent-xml DEST.xml DOMAIN DST_TCP_URI
#          (the agent's virDomainMigrateToURI3 flags, except that the agent undefines the source
#          itself once it has read the finished job's figures), after migrate-setmaxdowntime 300;
#          DEST.xml is `dumpxml --migratable` with the disk and serial-log paths rewritten to
#          files pre-created on the target (sparse, truncate -s, as the agent creates volumes).
#          Going back, the VM's own volume path is re-created sparse and used as the target, so
#          the guest ends where Berth thinks it is, on the same path; then the controller
#          starts again. Downtime: `virsh domjobinfo --completed --rawstats` on the
#          target. Same guest, same data, same hypervisors, same process tree as Berth's runs.
# Each round moves the VM away and back with each tool, so --runs N gives 2N samples per tool,
# N per direction.
# Columns: wall s (start to end as the caller sees it: berth apply .. berth wait returns, or the
# virsh migrate command); job s, lv dtime, data bytes: libvirt's own figures of the migration
# job (time_elapsed, downtime, data_total = memory + whole disk) from the source libvirtd's
# job-completed event (`virsh event`), for both tools alike; downtime: what each tool reports
# (status.migration.downtimeMilliseconds, or `virsh domjobinfo --completed` on the target);
# CPU s: CPU consumed meanwhile by both libvirtds and every QEMU they run (a cpuacct cgroup
# holding the libvirtds: their QEMUs are born in it) plus, for Berth, the controller and both
# agents (a second cgroup, shown alone as mgmt); cli: the client processes (berth apply + berth
# wait, or virsh), not in CPU s; free: the host's MemFree (MiB) as the run starts; dscan: MiB the
# kernel scanned in direct reclaim during the run (pgscan_direct); kflt: thousands of page
# faults on the host during the run (pgfault), nearly all of them the target QEMU's receive
# buffers when its malloc returns them to the kernel between requests (docs/migration.md, the
# GLIBC_TUNABLES domains get); RAM/s: libvirt's memory_bps of the job, MiB/s, how fast the
# guest's RAM went (it swung fivefold between invocations on one host, and the downtime with
# it: docs/migration.md, "Downtime"). Per size and direction:
# medians and Berth/virsh ratios; the geometric mean of the two directions' ratios is held
# against the targets wall <= 1.1x virsh's, downtime <= virsh's. Needs root; writes ~3*SIZE
# GiB into a sparse loop image (BERTH_IMAGE_SIZE, default 4*max(SIZE)+8 GiB) under /var/tmp.
# DEBUG_EVENT=1 prints every job-completed event. See bench/migrate/README.md.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build sizes="1 8" runs=3
port=$((41005 + (RANDOM % 400) * 10))  # not lib.sh's 20000-39990 multiples of 10
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    *) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 2 ;;  # the header comment
  esac
done
[ "$(id -u)" = 0 ] || { echo "run-migrate-bench: needs root" >&2; exit 1; }
# Absolute, since the paths reach libvirt and daemons that run elsewhere.
[ -d "$build" ] || { echo "run-migrate-bench: no build directory $build" >&2; exit 1; }
build=$(cd "$build" && pwd)
for b in cluster-controller/berth-controller node-agent/berth-agent cli/berth guest/vmlinuz \
  guest/initrd.img; do
  [ -e "$build/$b" ] || { echo "run-migrate-bench: build $build/$b first" >&2; exit 1; }
done
command -v virsh >/dev/null || { echo "run-migrate-bench: virsh missing" >&2; exit 1; }

max=0
for s in $sizes; do [ "$s" -gt "$max" ] && max=$s; done
DIR=$(mktemp -d /var/tmp/berth-bench-migrate.XXXXXX)
CG=/sys/fs/cgroup/cpuacct/berth-bench-migrate-$$
export PATH="$build/cli:$PATH" BERTH_SERVER=127.0.0.1:$port
export BERTH_TLS_DIR=$DIR/cluster/certs/admin
cluster() { BERTH_IMAGE_SIZE=${BERTH_IMAGE_SIZE:-$((max * 4 + 8))G} "$src/scripts/local-cluster" \
  "$@" --dir "$DIR/cluster" --port "$port" --build-dir "$build"; }
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "--- run-migrate-bench failed; logs ---" >&2
    tail -n 20 "$DIR"/cluster/logs/*.log >&2 2>/dev/null || true
  fi
  umount "$DIR/fill" 2>/dev/null || true
  cluster down --purge >/dev/null 2>&1 || true
  for g in "$CG"/hv "$CG"/berth "$CG"; do
    [ -d "$g" ] || continue
    # Anything left (nothing, once the cluster is down) goes back to the root group.
    while read -r p; do echo "$p" >/sys/fs/cgroup/cpuacct/cgroup.procs 2>/dev/null || true; done \
      <"$g/cgroup.procs"
    rmdir "$g" 2>/dev/null || true
  done
  rm -rf "$DIR"
  exit $rc
}
trap cleanup EXIT
log() { echo "run-migrate-bench: $*" >&2; }
die() { log "$*"; exit 1; }

cluster up --nodes 2 --no-build >/dev/null 2>"$DIR/up.log" || { cat "$DIR/up.log" >&2; exit 1; }
lv_uri() { cluster libvirt-uri "$1"; }
lv_tcp() { cluster libvirt-uri "$1" --tcp; }
declare -A URI TCP
for n in node-1 node-2; do URI[$n]=$(lv_uri "$n"); TCP[$n]=$(lv_tcp "$n"); done
other() { if [ "$1" = node-1 ]; then echo node-2; else echo node-1; fi; }

# CPU accounting: cgroup hv = both libvirtds (QEMUs they start inherit it); cgroup berth =
# controller + agents. No guest runs yet, so every QEMU will be born in hv.
mkdir -p "$CG/hv" "$CG/berth"
join_cg() { cat "$DIR/cluster/run/$2.pid" >"$CG/$1/cgroup.procs"; }  # join_cg GROUP PROC
for k in 1 2; do join_cg hv "libvirt-$k"; join_cg berth "node-$k"; done
join_cg berth controller
cpu_ns() { cat "$CG/$1/cpuacct.usage"; }

now_ns() { date +%s%N; }
jp() { berth get "$1" "$2" -o "jsonpath=$3"; }
wait_for() {  # wait_for KIND/NAME CONDITION TIMEOUT
  berth wait "$1" --for="$2" --timeout="$3" >/dev/null ||
    die "$1 did not reach $2: $(berth get "${1%%/*}" "${1#*/}" -o json | jq -c .status)"
}
timed() {  # timed OUT CMD...: runs CMD, appends "user sys" CPU seconds to OUT
  /usr/bin/time -f '%U %S' -a -o "$1" "${@:2}"
}
sum_cli() { awk '{ s += $1 + $2 } END { printf "%.2f", s }' "$1"; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
raw_stat() { sed -n "s/^$1: *//p" <<<"$2" | head -1; }  # raw_stat KEY RAWSTATS

# libvirt's own figures of a migration: the source's job-completed event (virsh event), which
# carries the whole job's statistics (memory and disk), for Berth's runs and the hand ones alike.
EV_PID=""
ev_start() {  # ev_start URI DOMAIN: listens for the domain's next job-completed event
  virsh -c "$1" event --domain "$2" --event job-completed --timeout 7200 >"$DIR/event" 2>&1 &
  EV_PID=$!
  sleep 0.5  # registered before the migration starts
}
ev_stat() { sed -n "s/^[[:space:]]*$1: *//p" "$DIR/event" | head -1; }  # after ev_end
ev_end() {  # waits (at most 30 s) for the event
  for _ in $(seq 300); do kill -0 "$EV_PID" 2>/dev/null || break; sleep 0.1; done
  kill "$EV_PID" 2>/dev/null || true
  wait "$EV_PID" 2>/dev/null || true
  EV_PID=""
  [ -n "${DEBUG_EVENT:-}" ] && cat "$DIR/event" >&2
  return 0
}
# libvirt's memory_bps of the job (bytes/s): how fast the guest's RAM went, MiB/s.
ram_rate() { secs "$(ev_stat memory_bps)" 1048576 | cut -d. -f1; }
secs() { awk -v d="$1" -v u="$2" 'BEGIN { if (d == "" || d == "-") print "-"; else printf "%.2f", d / u }'; }

ROWS=$DIR/rows
: >"$ROWS"
FMT='%4s %-6s %-3s %-13s %7s %6s %9s %9s %6s %6s %6s %14s %6s %7s %6s %6s\n'
header() { printf "$FMT" GiB tool run path "wall s" "job s" "downtime" "lv dtime" "CPU s" "mgmt" \
  "cli" "data bytes" "free" "dscan" "kflt" "RAM/s"; }
# row SIZE TOOL RUN PATH WALL_S JOB_S DOWNTIME_MS LV_DOWNTIME_MS CPU_S MGMT_CPU_S CLI_CPU_S DATA
#     FREE_MIB DIRECT_SCAN_MIB KILO_FAULTS RAM_MIB_S
row() { echo "$*" >>"$ROWS"; printf "$FMT" "$@" >&2; }
# The host's memory: MemFree (MiB) when a run starts, and how much the kernel scanned in direct
# reclaim (MiB, pgscan_direct) during it: allocations that had to free page cache first.
mem_free() { awk '$1 == "MemFree:" { printf "%d", $2 / 1024 }' /proc/meminfo; }
direct_scan() { awk '$1 == "pgscan_direct" { print $2 }' /proc/vmstat; }
faults() { awk '$1 == "pgfault" { print $2 }' /proc/vmstat; }
pages_mib() { echo $(($1 * $(getconf PAGESIZE) / 1048576)); }

# One hand migration of DOMAIN from node FROM to node TO, the disk going to DST_DISK (created
# sparse here, SIZE GiB) and the serial log to DST_LOG. Prints a row.
virsh_migrate() {  # virsh_migrate SIZE RUN DOMAIN FROM TO SRC_DISK DST_DISK SRC_LOG DST_LOG
  local size=$1 run=$2 dom=$3 from=$4 to=$5 sdisk=$6 ddisk=$7 slog=$8 dlog=$9
  local xml t0 t1 c0 c1 raw
  rm -f "$ddisk"
  mkdir -p "$(dirname "$ddisk")"
  truncate -s "${size}G" "$ddisk"
  xml=$(virsh -c "${URI[$from]}" dumpxml --migratable "$dom")
  grep -q "'$sdisk'" <<<"$xml" || die "domain $dom on $from does not use $sdisk"
  xml=${xml//"'$sdisk'"/"'$ddisk'"}
  [ -n "$slog" ] && xml=${xml//"'$slog'"/"'$dlog'"}
  echo "$xml" >"$DIR/dest.xml"
  virsh -c "${URI[$from]}" migrate-setmaxdowntime "$dom" 300 >/dev/null
  sync  # every run starts with no writeback of the last one's copy pending
  : >"$DIR/cli"
  ev_start "${URI[$from]}" "$dom"
  f0=$(mem_free) s0=$(direct_scan) p0=$(faults) c0=$(cpu_ns hv) t0=$(now_ns)
  timed "$DIR/cli" virsh -q -c "${URI[$from]}" migrate --live --p2p --persistent --undefinesource \
    --copy-storage-all --abort-on-error --xml "$DIR/dest.xml" --persistent-xml "$DIR/dest.xml" \
    "$dom" "${TCP[$to]}" || die "virsh migrate $dom $from -> $to failed"
  t1=$(now_ns) c1=$(cpu_ns hv) s1=$(direct_scan) p1=$(faults)
  ev_end
  raw=$(virsh -c "${URI[$to]}" domjobinfo --completed --rawstats "$dom" 2>/dev/null || true)
  row "$size" virsh "$run" "$from>$to" "$(secs $((t1 - t0)) 1e9)" "$(secs "$(ev_stat time_elapsed)" 1e3)" \
    "$(raw_stat downtime "$raw")" "$(ev_stat downtime)" "$(secs $((c1 - c0)) 1e9)" - \
    "$(sum_cli "$DIR/cli")" "$(ev_stat data_total)" "$f0" "$(pages_mib $((s1 - s0)))" \
    $(((p1 - p0) / 1000)) "$(ram_rate)"
}

header >&2
berth_migrate() {  # berth_migrate NAME: one Berth Migrate to the other node (uses size, r, vm)
    from=$(jp vm "$vm" '{.status.node}')
    sync  # every run starts with no writeback of the last one's copy pending
    : >"$DIR/cli"
    ev_start "${URI[$from]}" "$dom"
    f0=$(mem_free) s0=$(direct_scan) p0=$(faults) h0=$(cpu_ns hv) b0=$(cpu_ns berth) t0=$(now_ns)
    printf 'apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineOperation\nmetadata:\n  name: %s\nspec:\n  type: Migrate\n  virtualMachineName: %s\n  migrate:\n    timeoutSeconds: 3600\n' \
      "$1" "$vm" | timed "$DIR/cli" berth apply -f - >/dev/null
    # Until Completed; a second watch ends the wait early if the operation fails.
    berth wait "vmop/$1" --for=jsonpath='{.status.phase}=Failed' --timeout=3600s \
      >/dev/null 2>&1 &
    failed_watch=$!
    timed "$DIR/cli" berth wait "vmop/$1" --for=jsonpath='{.status.phase}=Completed' \
      --timeout=3600s >/dev/null 2>&1 &
    done_watch=$!
    wait -n "$failed_watch" "$done_watch" || true
    t1=$(now_ns) h1=$(cpu_ns hv) b1=$(cpu_ns berth) s1=$(direct_scan) p1=$(faults)
    kill "$failed_watch" 2>/dev/null || true
    wait "$failed_watch" 2>/dev/null || true
    [ "$(jp vmop "$1" '{.status.phase}')" = Completed ] ||
      die "vmop/$1: $(berth get vmop "$1" -o json | jq -c .status)"
    wait "$done_watch" || true
    ev_end
    m=$(berth get vmop "$1" -o json | jq -c .status.migration)
    log "$1 status.migration: $m"
    row "$size" berth "$r" "$from>$(jq -r .targetNode <<<"$m")" "$(secs $((t1 - t0)) 1e9)" \
      "$(secs "$(ev_stat time_elapsed)" 1e3)" "$(jq -r '.downtimeMilliseconds // "-"' <<<"$m")" \
      "$(ev_stat downtime)" "$(secs $((h1 - h0 + b1 - b0)) 1e9)" "$(secs $((b1 - b0)) 1e9)" \
      "$(sum_cli "$DIR/cli")" "$(ev_stat data_total)" "$f0" "$(pages_mib $((s1 - s0)))" \
      $(((p1 - p0) / 1000)) "$(ram_rate)"
    wait_for "vm/$vm" jsonpath='{.status.phase}=Running' 120s
    sleep 2
}

berth_round() {  # the VM away and back by two Migrate operations, as virsh_round does by hand
    berth_migrate "mig-$size-$r-away"
    berth_migrate "mig-$size-$r-back"
}

virsh_round() {  # the same domain away and back by hand, the controller stopped
    # --- virsh: away and back by hand, the controller stopped ---
    here=$(jp vm "$vm" '{.status.node}') there=$(other "$here")
    disk=$(jp vd "$vd" '{.status.path}')
    slog=$(virsh -c "${URI[$here]}" dumpxml "$dom" | sed -n "/<serial/,/<\/serial>/s/.*<source path='\([^']*\)'.*/\1/p" | head -1)
    cluster stop controller >/dev/null 2>&1
    away=$DIR/cluster/mnt/xfs/$there/bench-virsh/disk.img
    virsh_migrate "$size" "$r" "$dom" "$here" "$there" "$disk" "$away" "$slog" "${slog:+$slog.virsh}"
    sleep 2
    # Back onto the VM's own volume path, re-created empty and sparse (a fresh target, as
    # Berth's is; nothing has it open since the guest left).
    virsh_migrate "$size" "$r" "$dom" "$there" "$here" "$away" "$disk" "${slog:+$slog.virsh}" "$slog"
    rm -rf "$(dirname "$away")"
    cluster start controller >/dev/null 2>&1
    join_cg berth controller
    # The agents reconnect with a backoff: both nodes Ready again before the next Migrate.
    for n in node-1 node-2; do wait_for "node/$n" condition=Ready 120s; done
    [ "$(virsh -c "${URI[$here]}" domstate "$dom" | head -1)" = running ] || die "$dom not back on $here"
    wait_for "vm/$vm" jsonpath='{.status.phase}=Running' 120s
    [ "$(jp vm "$vm" '{.status.node}')" = "$here" ] || die "Berth places $vm elsewhere than $here"
    sleep 2
}

for size in $sizes; do
  vd=data-$size vm=bench-$size
  # --- the disk: ext4, ~90% full of incompressible data, written before the VM starts ---
  printf 'apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualDisk\nmetadata:\n  name: %s\nspec:\n  persistentVolumeClaim:\n    size: %sGi\n    storageClassName: local-reflink\n' \
    "$vd" "$size" | berth apply -f - >/dev/null
  wait_for "vd/$vd" jsonpath='{.status.phase}=Ready' 120s
  img=$(jp vd "$vd" '{.status.path}')
  [ -f "$img" ] || die "VirtualDisk $vd has no image at $img"
  mkfs.ext4 -q -F -L berth-data "$img"
  mkdir -p "$DIR/fill"
  mount -o loop "$img" "$DIR/fill"
  [ -f "$DIR/chunk" ] || head -c 64M /dev/urandom >"$DIR/chunk"
  # 90% full, but with room for what the guest's writer appends meanwhile (~150 KiB/s under TCG,
  # ~12 MiB per round): with 90% of a 1 GiB disk it filled the rest in ~8 minutes, and from
  # then on the runs moved an idle guest (CPU per run halved, downtimes moved, for both tools).
  room=$((128 + 24 * runs))
  chunks=$((size * 1024 * 9 / 10 / 64))
  [ $((size * 1024 - chunks * 64)) -ge "$room" ] || chunks=$(((size * 1024 - room) / 64))
  for _ in $(seq "$chunks"); do cat "$DIR/chunk"; done >"$DIR/fill/fill"
  umount "$DIR/fill"
  sync  # the fill's dirty pages written back now, not during the first migration
  log "$vd: $((chunks * 64)) MiB of data in ext4 on $img ($(du -m "$img" | cut -f1) MiB allocated)"
  # --- the guest ---
  cat <<YAML | berth apply -f - >/dev/null
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata:
  name: $vm
  annotations:
    virtualization.deckhouse.io/berth-kernel: $build/guest/vmlinuz
    virtualization.deckhouse.io/berth-initrd: $build/guest/initrd.img
    virtualization.deckhouse.io/berth-cmdline: "console=ttyS0 quiet berth.writer=1"
spec:
  runPolicy: AlwaysOn
  cpu: {cores: 1}
  memory: {size: 256Mi}
  blockDeviceRefs:
    - {kind: VirtualDisk, name: $vd}
YAML
  wait_for "vm/$vm" jsonpath='{.status.phase}=Running' 300s
  wait_for "vm/$vm" condition=AgentReady 300s
  dom=berth-default-$vm-$(jp vm "$vm" '{.metadata.uid}' | cut -c1-8)
  sleep 3  # the writer under way

  # Rounds alternate which tool goes first (odd: Berth, even: virsh), so neither always meets
  # the host in the state the other left it in.
  for r in $(seq "$runs"); do
    if [ $((r % 2)) -eq 1 ]; then berth_round; virsh_round; else virsh_round; berth_round; fi
  done
  # The writer must still be writing: it logs to the guest's console (the agents' state
  # directories hold one log per node it ran on; the hand runs' copies sit beside them).
  if grep -rqs "berth-writer: write failed" "$DIR"/cluster/state/*/console 2>/dev/null; then
    log "WARNING: the guest's writer ran out of room on $vd during the runs; the later runs moved an idle guest"
  fi
  berth delete vm "$vm" >/dev/null
  berth wait "vm/$vm" --for=delete --timeout=300s >/dev/null 2>&1 || true
  berth delete vd "$vd" >/dev/null
  berth wait "vd/$vd" --for=delete --timeout=300s >/dev/null 2>&1 || true
done

# --- the table, the medians and the ratios ---
echo
header
while read -r line; do
  # shellcheck disable=SC2086
  printf "$FMT" $line
done <"$ROWS"
echo
# The two directions need not be alike (in one run node-1 -> node-2 took 30-33 s for both tools
# where node-2 -> node-1 took 21-25 s). Both tools cover both directions every round, so
# medians are compared per direction (path), and the verdict is on the
# geometric mean of the per-direction ratios.
printf '%4s %-15s %-22s %10s %10s %7s  %s\n' GiB path "median" berth virsh ratio target
col() {  # col SIZE TOOL COLUMN [PATH]: the median of a column (no PATH: both directions)
  awk -v s="$1" -v t="$2" -v c="$3" -v p="${4:-}" \
    '$1 == s && $2 == t && (p == "" || $4 == p) && $c != "-" { print $c }' "$ROWS" | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
verdict() { awk -v r="$1" -v lim="$2" 'BEGIN { if (r == "-") print "n/a"; else print (r <= lim) ? "met" : "NOT met" }'; }
geomean() { awk '$1 != "-" { l += log($1); n++ } END { if (n == 0) print "-"; else printf "%.2f", exp(l / n) }'; }
line() {  # line SIZE LABEL COLUMN [LIMIT]: one line per direction, then the overall ratio
  local b v r p ratios=""
  for p in node-1\>node-2 node-2\>node-1; do
    b=$(col "$1" berth "$3" "$p") v=$(col "$1" virsh "$3" "$p") r=$(ratio "$b" "$v")
    printf '%4s %-15s %-22s %10s %10s %7s\n' "$1" "$p" "$2" "$b" "$v" "$r"
    ratios+="$r"$'\n'
  done
  r=$(printf '%s' "$ratios" | geomean)
  printf '%4s %-15s %-22s %10s %10s %7s  %s\n' "$1" "both" "$2" "" "" "$r" \
    "$([ -n "${4:-}" ] && echo "<= $4: $(verdict "$r" "$4")")"
}
# Single runs' downtime spreads threefold around its median for both tools alike (docs/migration.md,
# "Downtime"), so a few runs per direction decide little. Beside the verdict: every run of both
# directions pooled, and in what share of all (Berth run, virsh run) pairs Berth's was the
# smaller (ties count half; 0.50: neither tool's downtime tends to be smaller).
pooled() {  # pooled SIZE LABEL COLUMN
  local b v r
  b=$(col "$1" berth "$3") v=$(col "$1" virsh "$3")
  r=$(awk -v s="$1" -v c="$3" '$1 == s && $c != "-" {
        if ($2 == "berth") b[++nb] = $c; else if ($2 == "virsh") v[++nv] = $c }
      END {
        if (nb == 0 || nv == 0) { print "-"; exit }
        for (i = 1; i <= nb; i++) for (j = 1; j <= nv; j++) w += (b[i] < v[j]) + 0.5 * (b[i] == v[j])
        printf "Berth smaller in %.2f of %dx%d pairs", w / (nb * nv), nb, nv }' "$ROWS")
  printf '%4s %-15s %-22s %10s %10s %7s  %s\n' "$1" "pooled" "$2" "$b" "$v" "$(ratio "$b" "$v")" "$r"
}
for size in $sizes; do
  line "$size" "wall s" 5 1.1
  line "$size" "job s (libvirt)" 6
  line "$size" "downtime ms" 7 1.0
  pooled "$size" "downtime ms" 7
  line "$size" "downtime ms (libvirt)" 8 1.0
  line "$size" "CPU s" 9
done
