#!/usr/bin/env bash
# make-data-disk.sh FILE SIZE — creates FILE as a sparse raw image of SIZE (truncate syntax:
# 64M, 1G, ...) holding a fresh ext4 filesystem (mkfs.ext4 -F, default options: journal,
# metadata_csum, 64bit, ...) labelled berth-data. An existing FILE is overwritten.
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: $0 FILE SIZE" >&2; exit 2; fi
command -v mkfs.ext4 >/dev/null || { echo "make-data-disk: mkfs.ext4 missing (e2fsprogs)" >&2; exit 1; }
rm -f "$1"
truncate -s "$2" "$1"
mkfs.ext4 -q -F -L berth-data "$1"
