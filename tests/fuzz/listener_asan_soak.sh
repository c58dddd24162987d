#!/usr/bin/env bash
# The listener floods of tests/faults/listener_flood_test.sh (100,000 connect-and-close cycles,
# 2,000 silent connections, 500 stalled TLS ClientHellos, from 127.0.0.2, with legitimate calls
# from 127.0.0.1 meanwhile) against the daemons' listener code built with AddressSanitizer,
# LeakSanitizer and UBSan (tests/fuzz/listener_soak.cc, a clang build made by scripts/fuzz).
# Passes when every legitimate call succeeds, every silent or stalled connection is closed by
# the server, and the process stops cleanly with no sanitizer report (leaks included).
# BERTH_FLOOD_CYCLES / BERTH_FLOOD_HOLD / BERTH_FLOOD_MIDTLS lower the counts for a quick run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BERTH_BUILD_DIR:-$root/build}
fuzz_build=${BERTH_FUZZ_BUILD_DIR:-$root/build-fuzz}
flood=$build/bench/flood/berth-flood
[ -x "$flood" ] || { echo "FAIL: $flood is missing (built with the benchmarks)"; exit 1; }
BERTH_FUZZ_BUILD_DIR=$fuzz_build "$root/scripts/fuzz" --build-only listener_soak
cycles=${BERTH_FLOOD_CYCLES:-100000} hold=${BERTH_FLOOD_HOLD:-2000}
midtls=${BERTH_FLOOD_MIDTLS:-500}
work=$(mktemp -d /tmp/berth-asan-soak.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$fuzz_build/tests/fuzz/listener_soak" --ports_file="$work/ports" >"$work/out" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$work/ports" ] && break; sleep 0.1; done
port() { sed -n "s/^$1=//p" "$work/ports"; }
checks=0
fail() { echo "FAIL: $*"; cat "$work/out"; exit 1; }
val() { sed -n "s/^$1=//p" "$2"; }
for listener in metrics:http tls:https handoff:http; do
  name=${listener%%:*} probe=${listener#*:}
  target=127.0.0.1:$(port "$name")
  for phase in cycle hold midtls; do
    count=$cycles extra=(--threads=2)
    [ $phase = hold ] && count=$hold extra=(--hold=8)
    [ $phase = midtls ] && count=$midtls extra=(--hold=8)
    "$flood" --target="$target" --mode=probe --probe="$probe" --count=20 --interval-ms=300 \
      --timeout-ms=5000 >"$work/probe" 2>&1 &
    probe_pid=$!
    "$flood" --target="$target" --mode=$phase --count="$count" --source=127.0.0.2 \
      "${extra[@]}" >"$work/flood" 2>&1 || fail "$name $phase: $(cat "$work/flood")"
    wait "$probe_pid" || true
    kill -0 "$pid" 2>/dev/null || fail "$name $phase: the process died"
    [ "$(val failed "$work/probe")" = 0 ] || fail "$name $phase: legitimate calls failed: $(cat "$work/probe")"
    if [ $phase != cycle ]; then
      [ "$(val closed_by_server "$work/flood")" = "$(val connected "$work/flood")" ] ||
        fail "$name $phase: silent connections left open: $(cat "$work/flood")"
    fi
    checks=$((checks + 1))
    echo "$name $phase: $(tr '\n' ' ' <"$work/flood")| probe p99 $(val p99_ms "$work/probe") ms"
  done
done
sleep 1  # the last hand-offs reach their owner
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
cat "$work/out"
[ $rc -eq 0 ] || fail "listener_soak exited $rc"
grep -q "listener_soak: stopped cleanly" "$work/out" || fail "no clean stop"
if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$work/out"; then
  fail "sanitizer report"
fi
# Every accepted connection accounted for, none open after the stop.
while read -r line; do
  eval "$(sed 's/^[a-z]*: //' <<<"$line")"  # accepted= refused= dropped= abandoned= served= open=
  [ "$accepted" -eq $((refused + dropped + abandoned + served)) ] && [ "$open" -eq 0 ] ||
    fail "counters do not add up: $line"
  checks=$((checks + 1))
done < <(grep -E '^(tls|handoff): accepted=' "$work/out")
echo "PASS: listener_asan_soak ($checks phases, no sanitizer report)"
