#!/usr/bin/env bash
# Checks systemd/*.service: `systemd-analyze verify` accepts them (no warnings), the offline
# security review scores the controller as hardened, they are Type=notify with a watchdog and
# Restart=always, and every --flag their ExecStart passes exists in the daemon.
#   systemd_units_test.sh SYSTEMD_DIR CONTROLLER_BINARY AGENT_BINARY
# systemd need not run as PID 1: `verify` and `security --offline` work in a container.
set -euo pipefail
src=$1 controller=$2 agent=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not installed"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for unit in berth-controller berth-agent; do
  f="$src/$unit.service"
  [ -f "$f" ] || fail "$f missing"
  [ -f "$src/$unit.env" ] || fail "$src/$unit.env (the environment file template) missing"
  bin=$controller; [ "$unit" = berth-agent ] && bin=$agent
  # Point ExecStart at the built binary: verify checks that it exists and is executable.
  sed "s|/usr/local/bin/$unit|$bin|" "$f" >"$work/$unit.service"
  out=$(systemd-analyze verify "$work/$unit.service" 2>&1) || fail "$unit: verify failed: $out"
  [ -z "$out" ] || fail "$unit: verify warned: $out"
  for want in '^Type=notify$' '^WatchdogSec=' '^Restart=always$' '^NotifyAccess=main$' \
      '^EnvironmentFile=-/etc/default/'"$unit"'$' '^NoNewPrivileges=yes$'; do
    grep -q "$want" "$f" || fail "$unit: no line matching $want"
  done
  # Every flag ExecStart passes is one the daemon knows.
  flags=$({ "$bin" --helpfull 2>&1 || true; } | sed -n 's/^ *--\([a-z_0-9]*\) .*/\1/p' | sort -u)
  for flag in $(grep '^ExecStart=' "$f" | grep -o -- '--[a-z_0-9]*' | sed 's/^--//'); do
    grep -qx "$flag" <<<"$flags" || fail "$unit: ExecStart passes --$flag, which $bin lacks"
  done
  # Every variable ExecStart uses is set by an Environment= line, the env file or systemd.
  for var in $(grep '^ExecStart=' "$f" | grep -o '\${\?[A-Z_]*' | tr -d '${' | sort -u); do
    case "$var" in STATE_DIRECTORY) continue ;; esac
    grep -q "^Environment=$var=" "$f" || grep -q "^#\?$var=" "$src/$unit.env" ||
      fail "$unit: \$$var is never set"
  done
  score=$(systemd-analyze security --offline=true "$work/$unit.service" 2>&1 |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  [ -n "$score" ] || fail "$unit: no exposure score"
  echo "$unit: verify clean, exposure $score"
  limit=7.0; [ "$unit" = berth-controller ] && limit=2.0
  awk -v s="$score" -v l="$limit" 'BEGIN { exit !(s <= l) }' ||
    fail "$unit: exposure $score above $limit"
done
# A unit with a mistake is caught (the check itself works on this machine).
printf '[Service]\nType=notifyy\nExecStart=%s\n' "$controller" >"$work/bad.service"
out=$(systemd-analyze verify "$work/bad.service" 2>&1 || true)
[ -n "$out" ] || fail "systemd-analyze verify did not flag a bad Type="
echo "PASS"
