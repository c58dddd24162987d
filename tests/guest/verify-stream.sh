#!/usr/bin/env bash
# verify-stream.sh FILE [--allow-torn-tail] — checks a stream written by berth-writer:
# every 64-byte record is whole and well-formed, and sequence numbers start at 0 and are
# contiguous (record N at byte offset 64*N). Prints "records=N last_seq=M" on success.
# --allow-torn-tail: accept a final partial record (a crash-consistent snapshot of a disk taken
# without fsfreeze may end inside a record) — it is reported, not an error.
set -euo pipefail
f=${1:?usage: verify-stream.sh FILE [--allow-torn-tail]}
allow_torn=0
[ "${2:-}" == --allow-torn-tail ] && allow_torn=1
size=$(stat -c %s "$f")
whole=$((size / 64)) tail=$((size % 64))
if [ $tail -ne 0 ] && [ $allow_torn -ne 1 ]; then
  echo "verify-stream: $f: size $size is not a multiple of 64 (torn last record)" >&2; exit 1
fi
# Only whole records are checked; LC_ALL=C so awk counts bytes.
head -c $((whole * 64)) "$f" | LC_ALL=C awk '
  BEGIN { pad = "abcdefghijklmnopqrstuvwxyz0123456789ABC"; bad = 0 }
  {
    want = sprintf("seq=%09d %s %09d", NR - 1, pad, NR - 1)
    if ($0 != want) {
      printf "verify-stream: record %d (offset %d) is %s\n", NR - 1, (NR - 1) * 64, \
        (length($0) == 63 && substr($0, 1, 4) == "seq=" ? "out of sequence: " $0 : "malformed") > "/dev/stderr"
      if (++bad >= 5) exit 1
    }
  }
  END {
    if (bad) exit 1
    if (NR != '"$whole"') { printf "verify-stream: %d lines for %d records\n", NR, '"$whole"' > "/dev/stderr"; exit 1 }
  }'
msg="records=$whole last_seq=$((whole - 1))"
[ $tail -eq 0 ] || msg+=" torn_tail_bytes=$tail"
echo "$msg"
