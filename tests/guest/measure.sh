#!/usr/bin/env bash
# measure.sh [GUEST_DIR] [BOOTS] [FREEZES] — timings of the test guest under libvirt (TCG):
# boot (virsh create) to the first successful guest-ping, and guest-fsfreeze-freeze / -thaw /
# guest-ping round trips through `virsh qemu-agent-command`, with the writer running.
# Prints one line per sample and medians. Root only. The guest is always thawed and destroyed.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST_DIR=${1:-$HERE/../../build/guest}
BOOTS=${2:-3}
FREEZES=${3:-10}
V=(virsh -q -c qemu:///system)
DIR=$(mktemp -d /var/tmp/berth-guest-measure.XXXXXX)
DOM=berth-measure-$$
cleanup() {
  if "${V[@]}" domstate "$DOM" >/dev/null 2>&1; then
    "${V[@]}" qemu-agent-command "$DOM" --timeout 10 '{"execute":"guest-fsfreeze-thaw"}' >/dev/null 2>&1 || true
    "${V[@]}" destroy "$DOM" >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT
now() { date +%s%N; }
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
agent() { "${V[@]}" qemu-agent-command "$DOM" --timeout "${2:-30}" "{\"execute\":\"$1\"}" >/dev/null; }

bash "$HERE/build-guest.sh" "$GUEST_DIR"
bash "$HERE/../../scripts/libvirt-up"
bash "$HERE/make-data-disk.sh" "$DIR/data.img" 256M
: >"$DIR/boot" ; : >"$DIR/freeze" ; : >"$DIR/thaw" ; : >"$DIR/ping"
for b in $(seq 1 "$BOOTS"); do
  bash "$HERE/render-domain.sh" "$DOM" "$GUEST_DIR" "$DIR/data.img" "$DIR/console.log" \
    berth.writer=1 >"$DIR/domain.xml"
  t=$(now)
  "${V[@]}" create "$DIR/domain.xml" >/dev/null
  until agent guest-ping 2 2>/dev/null; do sleep 0.2; done
  ms=$(( ($(now) - t) / 1000000 )); echo "boot $b: create -> guest-ping ${ms} ms"; echo "$ms" >>"$DIR/boot"
  if [ "$b" -eq 1 ]; then
    for i in $(seq 1 "$FREEZES"); do
      sleep 0.5   # let the writer dirty some data
      t=$(now); agent guest-ping; p=$(( ($(now) - t) / 1000000 ))
      t=$(now); agent guest-fsfreeze-freeze; f=$(( ($(now) - t) / 1000000 ))
      t=$(now); agent guest-fsfreeze-thaw; w=$(( ($(now) - t) / 1000000 ))
      echo "freeze $i: ping ${p} ms, freeze ${f} ms, thaw ${w} ms"
      echo "$p" >>"$DIR/ping"; echo "$f" >>"$DIR/freeze"; echo "$w" >>"$DIR/thaw"
    done
  fi
  "${V[@]}" destroy "$DOM" >/dev/null
done
echo "median: boot->ping $(median <"$DIR/boot") ms; guest-ping $(median <"$DIR/ping") ms;" \
  "freeze $(median <"$DIR/freeze") ms; thaw $(median <"$DIR/thaw") ms" \
  "(virsh qemu-agent-command round trips, TCG, 1 vCPU)"
