#!/usr/bin/env bash
# render-domain.sh NAME GUEST_DIR DISK CONSOLE_LOG [EXTRA_CMDLINE] — prints the libvirt domain
# XML of the test guest (tests/guest/domain.xml.in) to stdout.
#   GUEST_DIR: build-guest.sh's OUTDIR (vmlinuz, initrd.img); DISK: a raw image (see
#   make-data-disk.sh); EXTRA_CMDLINE: e.g. "berth.writer=1" or "berth.noagent=1".
#   BERTH_GUEST_MEMORY_MIB (256), BERTH_GUEST_VCPUS (1) override the sizing.
# Paths must be absolute and free of XML special characters (& < > ' ").
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 NAME GUEST_DIR DISK CONSOLE_LOG [EXTRA_CMDLINE]" >&2; exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=$1 dir=$(realpath "$2") disk=$(realpath "$3") log=$(realpath -m "$4")
cmdline="console=ttyS0 quiet ${5:-}"
for v in "$name" "$dir" "$disk" "$log" "$cmdline"; do
  case "$v" in *[\&\<\>\'\"\|]*) echo "render-domain: unsupported character in '$v'" >&2; exit 2 ;; esac
done
sed -e "s|@NAME@|$name|g" -e "s|@MEMORY_MIB@|${BERTH_GUEST_MEMORY_MIB:-256}|g" \
    -e "s|@VCPUS@|${BERTH_GUEST_VCPUS:-1}|g" -e "s|@KERNEL@|$dir/vmlinuz|g" \
    -e "s|@INITRD@|$dir/initrd.img|g" -e "s|@CMDLINE@|${cmdline% }|g" -e "s|@DISK@|$disk|g" \
    -e "s|@CONSOLE_LOG@|$log|g" "$HERE/domain.xml.in"
