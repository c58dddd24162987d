#!/usr/bin/env bash
# Acceptance for incremental export and import (docs/export.md), on a private one-node cluster:
# - for each storage class (local-reflink, local-btrfs, local-copy): snapshot A of a disk with
#   random data, a full download of A, 20 random 64 KiB writes into the disk's image, snapshot B;
#   `download vds/B --since vds/A --base a.img` gives B byte for byte, by extent-map on the
#   copy-on-write pools and by digest on local-copy (summary line and agent log), and the agent
#   sends at most 1.3x the changed bytes (its request log); the base file stays untouched;
# - a snapshot C right after B (no writes): C since B sends no data at all, and replaces whatever
#   file was at the output path;
# - a disk image grown (then shrunk) between snapshots, with a punched hole and written zeros: the
#   result is the later snapshot, size too;
# - A and B of different disks; a base that was modified (stale sidecar), has no sidecar, or is a
#   trusted download of something else: the digest method, still exactly B;
# - in place (`-o a.img --base a.img`): a.img becomes B;
# - an incremental run of a 1 GiB disk with 400 MiB changed (extent-map), the same after its
#   export expired, and a local-copy disk with 100 MiB changed (digest), killed halfway and rerun
#   with --resume: exactly B, and both runs together fetched less than 1.25x the changes;
# - round trip: `import upload vd/NEW -f b.img --since-snapshot vds/A` makes a disk in A's pool,
#   byte-identical to B, uploading at most 1.3x the changed bytes;
# - bad inputs (a --since snapshot of another namespace, one taken after the target, --since
#   without --base, a missing base, a base of the wrong size): a clear error, the output file
#   untouched or not created, the base untouched, no DataExport left; an import since an unknown
#   snapshot or from a file smaller than the snapshot creates nothing.
source "$(dirname "$0")/lib.sh"
start_cluster 1
work="$IT_DIR/work"
mkdir -p "$work"
agent_log="$IT_DIR/cluster/logs/node-1.log"
K=65536  # the digest's leaf

sha() { sha256sum <"$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
mark() { wc -l <"$agent_log"; }
served_since() {  # served_since LINE: bytes the agent sent for data requests after log line LINE
  tail -n +"$(($1 + 1))" "$agent_log" | { grep -o ' sent=[0-9]*' || true; } | cut -d= -f2 |
    awk '{s += $1} END {print s + 0}'
}
changes_since() {  # changes_since LINE: the agent's changes requests after log line LINE
  tail -n +"$(($1 + 1))" "$agent_log" | grep -E ': (GET|POST) changes ' || true
}
new_disk() {  # new_disk NAME CLASS SIZE [SNAPSHOT]
  disk_yaml "$@" | berth apply -f - >/dev/null
  wait_phase vd "$1" Ready
}
snap() {  # snap NAME DISK
  snapshot_yaml "$1" "$2" | berth apply -f - >/dev/null
  wait_phase vds "$1" Ready
}
fill() {  # fill PATH MIB AT...: MIB MiB of random data at each MiB offset AT
  local path=$1 mib=$2 at; shift 2
  for at in "$@"; do
    dd if=/dev/urandom of="$path" bs=1M seek="$at" count="$mib" conv=notrunc iflag=fullblock \
      status=none
  done
}
scatter() {  # scatter PATH COUNT SLOTS [BS]: COUNT random blocks of BS bytes (64 KiB) at distinct
  # BS-aligned offsets below SLOTS * BS; prints the number of bytes changed
  local path=$1 n=$2 slots=$3 bs=${4:-$K} slot
  for slot in $(shuf -i 0-$((slots - 1)) -n "$n"); do
    dd if=/dev/urandom of="$path" bs="$bs" seek="$slot" count=1 conv=notrunc iflag=fullblock \
      status=none
  done
  echo $((n * bs))
}
download() {  # download DESCRIPTION ARGS...: must succeed; its summary line lands in $out
  local what=$1; shift
  out=$(berth data export download "$@" 2>"$work/stderr") ||
    fail "$what: berth data export download $* failed: $(cat "$work/stderr")"
  CHECKS=$((CHECKS + 1))
}
transferred() { { grep -o '([0-9]* transferred' <<<"$out" || true; } | tr -dc 0-9; }
expect_method() {  # expect_method DESCRIPTION METHOD SINCE MARK: summary line and agent log
  check "$1: summary says incremental since $3 by $2 ($out)" \
    grep -q "incremental since virtualdisksnapshot/$3 by $2" <<<"$out"
  local want=": POST changes 200 method=digest" lines
  [ "$2" = extent-map ] && want=": GET changes 200 method=extent-map"
  lines=$(changes_since "$4")
  check "$1: agent logged '$want ranges=K bytes=N' (changes requests: ${lines:-none})" \
    grep -qE -- "$want ranges=[0-9]+ ([a-z]+=[0-9]+ )*bytes=[0-9]+" <<<"$lines"
}
expect_sent_within() {  # expect_sent_within DESCRIPTION MARK CHANGED: 0 < sent <= 1.3 x CHANGED
  local sent
  sent=$(served_since "$2")
  check "$1: agent sent $sent bytes for $3 changed, > 0 ($(changes_since "$2"))" test "$sent" -gt 0
  check "$1: agent sent $sent bytes for $3 changed, <= 1.3x ($(changes_since "$2"))" \
    test $((sent * 10)) -le $(($3 * 13))
}
pool_of() { local p=${1%%/volumes/*}; echo "${p%%/snapshots/*}"; }  # pool_of IMAGE_PATH: its pool
no_exports_left() { expect_eq "$1: no DataExport left" "$(berth get dex -o name 2>/dev/null | wc -l)" 0; }

declare -A A_SHA B_SHA CHANGED METHOD
for cls in local-reflink local-btrfs local-copy; do
  k=${cls#local-}
  METHOD[$k]=extent-map
  [ "$k" = copy ] && METHOD[$k]=digest
  # 1. A: 24 MiB of random data in three places of a 256 MiB disk, downloaded in full.
  new_disk "$k" "$cls" 256Mi
  path=$(jp vd "$k" '{.status.path}')
  fill "$path" 8 0 64 200
  A_SHA[$k]=$(sha "$path")
  snap "$k-a" "$k"
  download "$cls: full download of A" "vds/$k-a" -o "$work/$k-a.img"
  expect_eq "$cls: a.img sha256" "$(sha "$work/$k-a.img")" "${A_SHA[$k]}"
  check "$cls: the full download left its tree sidecar" test -s "$work/$k-a.img.berth-tree"

  # B: 20 scattered 64 KiB writes (in data and in holes).
  CHANGED[$k]=$(scatter "$path" 20 4096)
  B_SHA[$k]=$(sha "$path")
  snap "$k-b" "$k"
  b_path=$(jp vds "$k-b" '{.status.path}')
  expect_eq "$cls: snapshot B equals the disk at B time" "$(sha "$b_path")" "${B_SHA[$k]}"
  m=$(mark)
  download "$cls: B since A" "vds/$k-b" --since "vds/$k-a" --base "$work/$k-a.img" \
    -o "$work/$k-b.img"
  expect_eq "$cls: incremental B equals B" "$(sha "$work/$k-b.img")" "${B_SHA[$k]}"
  expect_eq "$cls: incremental B size" "$(size "$work/$k-b.img")" "$(size "$b_path")"
  expect_method "$cls: B since A" "${METHOD[$k]}" "$k-a" "$m"
  expect_sent_within "$cls: B since A" "$m" "${CHANGED[$k]}"
  expect_eq "$cls: the base is untouched" "$(sha "$work/$k-a.img")" "${A_SHA[$k]}"
  blocks=$(du -k "$work/$k-b.img" | cut -f1)
  check "$cls: b.img is sparse ($blocks KiB on disk)" test "$blocks" -lt $((64 << 10))
  check "$cls: no progress sidecar left" test ! -e "$work/$k-b.img.berth-progress"
  no_exports_left "$cls: B since A"

  # 3. C right after B, no writes: nothing to send. Whatever was at the output path goes.
  snap "$k-c" "$k"
  head -c $((300 << 20)) /dev/urandom >"$work/$k-c.img"
  m=$(mark)
  download "$cls: C since B" "vds/$k-c" --since "vds/$k-b" --base "$work/$k-b.img" \
    -o "$work/$k-c.img"
  expect_eq "$cls: C since B equals C (over an older file)" "$(sha "$work/$k-c.img")" \
    "$(sha "$(jp vds "$k-c" '{.status.path}')")"
  expect_method "$cls: C since B" "${METHOD[$k]}" "$k-b" "$m"
  expect_eq "$cls: C since B sent no data" "$(served_since "$m")" 0
  check "$cls: C since B reports 0 transferred ($out)" grep -q "(0 transferred" <<<"$out"

  # 2. The image grows between two snapshots, then shrinks.
  new_disk "$k-rs" "$cls" 64Mi
  rs=$(jp vd "$k-rs" '{.status.path}')
  fill "$rs" 8 0 40
  snap "$k-rs-a" "$k-rs"
  download "$cls: resize: full download" "vds/$k-rs-a" -o "$work/$k-rs-a.img"
  truncate -s 96M "$rs"
  changed=$(scatter "$rs" 6 1024)
  dd if=/dev/urandom of="$rs" bs=$K seek=1530 count=1 conv=notrunc status=none  # past A's end
  changed=$((changed + K))
  # A discarded MiB (a hole now) and a MiB of written zeros, both inside A's data.
  fallocate -p -o $((2 << 20)) -l $((1 << 20)) "$rs"
  dd if=/dev/zero of="$rs" bs=1M seek=42 count=1 conv=notrunc status=none
  changed=$((changed + (2 << 20)))
  want=$(sha "$rs")
  snap "$k-rs-b" "$k-rs"
  m=$(mark)
  download "$cls: grown B since A" "vds/$k-rs-b" --since "vds/$k-rs-a" \
    --base "$work/$k-rs-a.img" -o "$work/$k-rs-b.img"
  expect_method "$cls: grown B since A" "${METHOD[$k]}" "$k-rs-a" "$m"
  expect_sent_within "$cls: grown B since A" "$m" "$changed"
  expect_eq "$cls: grown B equals B" "$(sha "$work/$k-rs-b.img")" "$want"
  expect_eq "$cls: grown B size" "$(size "$work/$k-rs-b.img")" \
    "$(size "$(jp vds "$k-rs-b" '{.status.path}')")"
  expect_eq "$cls: grown B is 96 MiB" "$(size "$work/$k-rs-b.img")" $((96 << 20))
  truncate -s 48M "$rs"
  changed=$(scatter "$rs" 6 768)
  want=$(sha "$rs")
  snap "$k-rs-c" "$k-rs"
  m=$(mark)
  download "$cls: shrunk C since B" "vds/$k-rs-c" --since "vds/$k-rs-b" \
    --base "$work/$k-rs-b.img" -o "$work/$k-rs-c.img"
  expect_method "$cls: shrunk C since B" "${METHOD[$k]}" "$k-rs-b" "$m"
  expect_sent_within "$cls: shrunk C since B" "$m" "$changed"
  expect_eq "$cls: shrunk C equals C" "$(sha "$work/$k-rs-c.img")" "$want"
  expect_eq "$cls: shrunk C size" "$(size "$work/$k-rs-c.img")" \
    "$(size "$(jp vds "$k-rs-c" '{.status.path}')")"
  expect_eq "$cls: shrunk C is 48 MiB" "$(size "$work/$k-rs-c.img")" $((48 << 20))
done

# 4. A and B of different disks: a second disk made from A, then changed.
new_disk other local-reflink 256Mi reflink-a
other=$(jp vd other '{.status.path}')
expect_eq "second disk starts as A" "$(sha "$other")" "${A_SHA[reflink]}"
changed=$(scatter "$other" 20 4096)
want=$(sha "$other")
snap other-b other
m=$(mark)
download "other disk's B since A" vds/other-b --since vds/reflink-a --base "$work/reflink-a.img" \
  -o "$work/other-b.img"
expect_eq "other disk's B since A equals B" "$(sha "$work/other-b.img")" "$want"
expect_method "other disk's B since A" digest reflink-a "$m"
expect_sent_within "other disk's B since A" "$m" "$changed"

# 5. A base that is not (known to be) A: modified after download, or without its sidecar.
cp --sparse=always "$work/reflink-a.img" "$work/stale.img"
if [ -e "$work/reflink-a.img.berth-tree" ]; then  # the sidecar now describes another content
  cp "$work/reflink-a.img.berth-tree" "$work/stale.img.berth-tree"
fi
printf 'not A' | dd of="$work/stale.img" bs=1 seek=$(((100 << 20) + 12345)) conv=notrunc status=none
m=$(mark)
download "modified base" vds/reflink-b --since vds/reflink-a --base "$work/stale.img" \
  -o "$work/stale-b.img"
expect_eq "modified base: result equals B" "$(sha "$work/stale-b.img")" "${B_SHA[reflink]}"
expect_method "modified base" digest reflink-a "$m"
expect_sent_within "modified base" "$m" $((CHANGED[reflink] + K))
cp --sparse=always "$work/reflink-a.img" "$work/bare.img"
m=$(mark)
download "base without sidecar" vds/reflink-b --since vds/reflink-a --base "$work/bare.img" \
  -o "$work/bare-b.img"
expect_eq "base without sidecar: result equals B" "$(sha "$work/bare-b.img")" "${B_SHA[reflink]}"
expect_method "base without sidecar" digest reflink-a "$m"
expect_sent_within "base without sidecar" "$m" "${CHANGED[reflink]}"
# A trusted download of another snapshot of the same size (the btrfs disk's A).
m=$(mark)
download "trusted base of other content" vds/reflink-b --since vds/reflink-a \
  --base "$work/btrfs-a.img" -o "$work/foreign-b.img"
expect_eq "trusted base of other content: result equals B" "$(sha "$work/foreign-b.img")" \
  "${B_SHA[reflink]}"
expect_method "trusted base of other content" digest reflink-a "$m"

# 6. In place, and 8. the round trip: import since A uploads only what differs.
for cls in local-reflink local-btrfs local-copy; do
  k=${cls#local-}
  m=$(mark)
  download "$cls: in place" "vds/$k-b" --since "vds/$k-a" --base "$work/$k-a.img" \
    -o "$work/$k-a.img"
  expect_eq "$cls: in place: a.img is now B" "$(sha "$work/$k-a.img")" "${B_SHA[$k]}"
  expect_method "$cls: in place" "${METHOD[$k]}" "$k-a" "$m"
  expect_sent_within "$cls: in place" "$m" "${CHANGED[$k]}"
  check "$cls: in place: no progress sidecar left" test ! -e "$work/$k-a.img.berth-progress"

  out=$(berth data import upload "vd/rt-$k" -f "$work/$k-a.img" --since-snapshot "vds/$k-a" \
    2>"$work/stderr") || fail "$cls: import since A failed: $(cat "$work/stderr")"
  check "$cls: import summary names A ($out)" grep -q "since virtualdisksnapshot/$k-a" <<<"$out"
  t=$(transferred)
  check "$cls: import transferred $t bytes for ${CHANGED[$k]} changed, > 0 ($out)" test "${t:-0}" -gt 0
  check "$cls: import transferred $t bytes for ${CHANGED[$k]} changed, <= 1.3x ($out)" \
    test $((${t:-0} * 10)) -le $((CHANGED[$k] * 13))
  expect_eq "$cls: imported disk phase" "$(jp vd "rt-$k" '{.status.phase}')" Ready
  rt=$(jp vd "rt-$k" '{.status.path}' || true)
  expect_eq "$cls: imported disk equals B" "$(sha "$rt")" "${B_SHA[$k]}"
  expect_eq "$cls: imported disk on A's node" "$(jp vd "rt-$k" '{.status.node}')" \
    "$(jp vds "$k-a" '{.status.node}')"
  expect_eq "$cls: imported disk in A's pool" "$(pool_of "$rt")" \
    "$(pool_of "$(jp vds "$k-a" '{.status.path}')")"
  no_exports_left "$cls: import"
done
# An import into a disk larger than the file (--size): the file is compared as padded with zeros.
out=$(berth data import upload vd/rt-big -f "$work/copy-a.img" --since-snapshot vds/copy-a \
  --size 300Mi 2>"$work/stderr") || fail "import since A with --size failed: $(cat "$work/stderr")"
rt=$(jp vd rt-big '{.status.path}')
expect_eq "import with --size: disk size" "$(size "$rt")" $((300 << 20))
expect_eq "import with --size: the file's bytes, then zeros" \
  "$(head -c "$(size "$work/copy-a.img")" "$rt" | sha256sum | cut -d' ' -f1)" "${B_SHA[copy]}"
expect_eq "import with --size: zeros after the file" \
  "$(tail -c +$(($(size "$work/copy-a.img") + 1)) "$rt" | tr -d '\0' | wc -c)" 0

# 7. A bigger change set, interrupted and resumed.
interrupt() {  # interrupt NAME TRIGGER ARGS...: runs `berth data export download ARGS` in the
  # background and kill -9s it as soon as the command TRIGGER succeeds; it must still be running
  local name=$1 trigger=$2 cli rc=0; shift 2
  berth data export download "$@" >"$work/$name.out" 2>"$work/$name.err" &
  cli=$!
  for _ in $(seq 6000); do
    $trigger && break
    kill -0 "$cli" 2>/dev/null || break
    sleep 0.005
  done
  kill -9 "$cli" 2>/dev/null || true
  wait "$cli" 2>/dev/null || rc=$?
  expect_eq "$name: first run killed while running (stdout: $(cat "$work/$name.out"), stderr: $(cat "$work/$name.err"))" "$rc" 137
}
progress_lines_over_8() { [ "$( (wc -l <"$progress") 2>/dev/null || echo 0)" -gt 8 ]; }
progress_lines_over_20() { [ "$( (wc -l <"$progress") 2>/dev/null || echo 0)" -gt 20 ]; }
data_requests_over_5() { [ "$(tail -n +"$((m + 1))" "$agent_log" | grep -c ' sent=')" -gt 5 ]; }

new_disk big local-reflink 1Gi
big=$(jp vd big '{.status.path}')
fill "$big" 512 0
snap big-a big
download "big: full download of A" vds/big-a -o "$work/big-a.img"
changed=$(scatter "$big" 100 256 $((4 << 20)))  # 400 MiB in 100 distinct 4 MiB blocks
want=$(sha "$big")
snap big-b big
m=$(mark)
progress="$work/big-b.img.berth-progress"
interrupt big progress_lines_over_8 vds/big-b --since vds/big-a --base "$work/big-a.img" \
  -o "$work/big-b.img" --connections 1
check "big: the interrupted run left its progress" test -s "$progress"
first=$(served_since "$m")
check "big: the first run got part of the way ($first of $changed bytes)" \
  test "$first" -gt 0 -a "$first" -lt "$changed"
download "big: resumed" vds/big-b --since vds/big-a --base "$work/big-a.img" -o "$work/big-b.img" \
  --resume
expect_eq "big: resumed result equals B" "$(sha "$work/big-b.img")" "$want"
expect_method "big: resumed" extent-map big-a "$m"
total=$(served_since "$m")
check "big: both runs sent $total bytes (first $first) for $changed changed, < 1.25x" \
  test $((total * 4)) -lt $((changed * 5))
check "big: the resumed run reports resumed bytes ($out)" \
  grep -qE ', [1-9][0-9]* resumed\)' <<<"$out"
check "big: no progress sidecar left" test ! -e "$progress"
no_exports_left "big: resumed"

# ...also when the first run's export is gone in between (deleted here; an expired one is the
# same to the CLI): a new export serves the rest.
changed=$(scatter "$big" 50 256 $((4 << 20)))
want=$(sha "$big")
snap big-c big
m=$(mark)
progress="$work/big-c.img.berth-progress"
interrupt big-c progress_lines_over_20 vds/big-c --since vds/big-b --base "$work/big-b.img" \
  -o "$work/big-c.img" --connections 1
first=$(served_since "$m")
check "big-c: the first run got a good part of the way ($first of $changed bytes)" \
  test "$first" -gt $((changed / 4)) -a "$first" -lt "$changed"
dex=$(berth get dex -o name)
check "big-c: delete the interrupted run's export ($dex)" berth delete "$dex" --timeout=30s
download "big-c: resumed" vds/big-c --since vds/big-b --base "$work/big-b.img" \
  -o "$work/big-c.img" --resume
expect_eq "big-c: resumed result equals C" "$(sha "$work/big-c.img")" "$want"
expect_method "big-c: resumed" extent-map big-b "$m"
total=$(served_since "$m")
# A new export serves the rerun, which still fetches only the
# batches the first run did not record.
check "big-c: both runs sent $total bytes (first $first) for $changed changed, < 1.25x ($out)" \
  test $((total * 4)) -lt $((changed * 5))
check "big-c: the resumed run reports resumed bytes ($out)" \
  grep -qE ', [1-9][0-9]* resumed\)' <<<"$out"
check "big-c: no progress sidecar left" test ! -e "$progress"
berth delete "$dex" --timeout=30s >/dev/null 2>&1 || true  # the killed CLI could not
no_exports_left "big-c: resumed"

# ...and by digest (local-copy): 100 MiB changed, the run killed after some data requests.
new_disk cbig local-copy 256Mi
cbig=$(jp vd cbig '{.status.path}')
fill "$cbig" 128 0
snap cbig-a cbig
download "cbig: full download of A" vds/cbig-a -o "$work/cbig-a.img"
changed=$(scatter "$cbig" 25 64 $((4 << 20)))
want=$(sha "$cbig")
snap cbig-b cbig
m=$(mark)
interrupt cbig data_requests_over_5 vds/cbig-b --since vds/cbig-a --base "$work/cbig-a.img" \
  -o "$work/cbig-b.img" --connections 1
first=$(served_since "$m")
check "cbig: the first run got part of the way ($first of $changed bytes)" \
  test "$first" -gt 0 -a "$first" -lt "$changed"
download "cbig: resumed" vds/cbig-b --since vds/cbig-a --base "$work/cbig-a.img" \
  -o "$work/cbig-b.img" --resume
expect_eq "cbig: resumed result equals B" "$(sha "$work/cbig-b.img")" "$want"
expect_method "cbig: resumed" digest cbig-a "$m"
total=$(served_since "$m")
# --resume of a digest-method run compares the half-updated file's leaves again, so it fetches
# only what the first run had not written.
check "cbig: both runs sent $total bytes (first $first) for $changed changed, < 1.25x ($out)" \
  test $((total * 4)) -lt $((changed * 5))
check "cbig: no progress sidecar left" test ! -e "$work/cbig-b.img.berth-progress"
no_exports_left "cbig: resumed"

# 9. Bad inputs: a clear error, the output file untouched or not created, no DataExport left.
disk_yaml elsewhere-disk local-copy 64Mi | berth -n elsewhere apply -f - >/dev/null
snapshot_yaml elsewhere-snap elsewhere-disk | berth -n elsewhere apply -f - >/dev/null
berth -n elsewhere wait vds/elsewhere-snap --for=jsonpath='{.status.phase}'=Ready --timeout=120s \
  >/dev/null || fail "vds/elsewhere-snap in namespace elsewhere is not Ready"
head -c $((1 << 20)) /dev/urandom >"$work/existing.img"
before=$(sha "$work/existing.img")
cp --sparse=always "$work/reflink-a.img" "$work/short.img"
truncate -s 200M "$work/short.img"
bases_before="$(sha "$work/reflink-a.img") $(sha "$work/short.img")"
bad() {  # bad DESCRIPTION PATTERN ARGS...: refused with a message matching PATTERN (grep -Ei)
  local what=$1 want=$2 o err; shift 2
  for o in "$work/existing.img" "$work/absent.img"; do
    err=$(berth data export download "$@" -o "$o" 2>&1 >/dev/null) &&
      fail "$what: accepted (-o $o): $err"
    check "$what: clear error ($err)" grep -qEi -- "$want" <<<"$err"
    no_exports_left "$what"
  done
  expect_eq "$what: existing output untouched" "$(sha "$work/existing.img")" "$before"
  check "$what: absent output not created ($(ls "$work"/absent.img* 2>&1))" \
    bash -c "! ls '$work'/absent.img* >/dev/null 2>&1"
}
bad "--since in another namespace" "not found" \
  vds/reflink-b --since vds/elsewhere-snap --base "$work/reflink-a.img"
bad "--since taken after the target" "taken after" \
  vds/reflink-a --since vds/reflink-b --base "$work/reflink-a.img"
bad "--since without --base" "--base" vds/reflink-b --since vds/reflink-a
bad "--base missing" "No such file" \
  vds/reflink-b --since vds/reflink-a --base "$work/missing.img"
bad "--base of another size" "size|bytes" \
  vds/reflink-b --since vds/reflink-a --base "$work/short.img"
expect_eq "bad inputs: the bases are untouched" \
  "$(sha "$work/reflink-a.img") $(sha "$work/short.img")" "$bases_before"

# Import since an unknown snapshot, or from a file smaller than the snapshot: refused, nothing made.
err=$(berth data import upload vd/rt-nope -f "$work/copy-a.img" --since-snapshot vds/nope 2>&1) &&
  fail "import since an unknown snapshot accepted: $err"
check "import since an unknown snapshot: clear error ($err)" grep -q "not found" <<<"$err"
check "import since an unknown snapshot: nothing created" \
  bash -c "! berth get vd rt-nope >/dev/null 2>&1"
head -c $((200 << 20)) "$work/copy-a.img" >"$work/small.img"
err=$(berth data import upload vd/rt-small -f "$work/small.img" --since-snapshot vds/copy-a 2>&1) &&
  fail "import of a file smaller than the snapshot accepted: $err"
check "import of a smaller file: clear error ($err)" grep -qEi "size|bytes" <<<"$err"
check "import of a smaller file: nothing created" bash -c "! berth get vd rt-small >/dev/null 2>&1"
no_exports_left "bad imports"
done_ok
