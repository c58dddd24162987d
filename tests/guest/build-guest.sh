#!/usr/bin/env bash
# build-guest.sh OUTDIR — builds Berth's test guest from Debian packages only.
#
# Produces OUTDIR/vmlinuz and OUTDIR/initrd.img: a Debian 12 kernel and a gzip'ed cpio
# initramfs holding busybox-static, qemu-guest-agent with every shared library it needs, the
# virtio/ext4 kernel modules and tests/guest/init. The guest runs entirely from the initramfs;
# its only disk is an ext4 data disk (/dev/vda, mounted at /data). See tests/guest/README.md.
#
# Every file in the guest comes from a .deb fetched with `apt-get download` and unpacked with
# `dpkg-deb -x`; nothing is copied from the host's own filesystem. Shared libraries are
# resolved by walking DT_NEEDED (readelf -d) over the unpacked packages; a library not yet
# unpacked is looked up with `dpkg -S` on the host (same Debian release) to learn its package
# name, and that package is downloaded too.
#
# Idempotent: the .debs are cached in OUTDIR/debs; OUTDIR/inputs.txt records the exact package
# versions and the hashes of the scripts that go into the guest. When OUTDIR/vmlinuz,
# OUTDIR/initrd.img and an identical inputs.txt exist, nothing is rebuilt.
#
# Environment: BERTH_GUEST_KERNEL_PKG (default: what linux-image-amd64 depends on),
#              BERTH_GUEST_FORCE=1 (rebuild even if up to date).
set -euo pipefail

if [ $# -ne 1 ]; then echo "usage: $0 OUTDIR" >&2; exit 2; fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
DEBS=$OUT/debs
mkdir -p "$DEBS"
log() { echo "build-guest: $*" >&2; }
die() { echo "build-guest: ERROR: $*" >&2; exit 1; }

for b in apt-get apt-cache dpkg-deb dpkg readelf cpio gzip sha256sum; do
  command -v "$b" >/dev/null || die "$b not found (run scripts/setup)"
done

# Files of this directory that end up in (or shape) the guest.
GUEST_FILES=(build-guest.sh init berth-writer shutdown)
# Kernel modules the guest loads (their dependencies are added automatically, in order).
#   virtio_pci: the PCI transport (needs virtio, virtio_ring, virtio_pci_{modern,legacy}_dev)
#   virtio_blk: /dev/vda;  virtio_console: virtio-serial ports (the guest agent channel)
#   crc32c_generic: ext4/jbd2 metadata checksums use the "crc32c" crypto API (a softdep, not a
#     symbol dependency, so depends= does not list it); crc32c-intel is tried too (faster, but
#     needs SSE4.2, which the default TCG CPU model may lack)
#   ext4 (jbd2, mbcache, crc16);  button + evdev: ACPI power button for busybox acpid
MODULES=(virtio_pci virtio_blk virtio_console crc32c_generic crc32c-intel ext4 button evdev)

declare -A CAND=()      # package -> candidate version (apt-cache is slow: ask in batches)
load_candidates() {  # load_candidates PKG... (those not known yet)
  local p v new=()
  for p in "$@"; do [ -n "${CAND[$p]:-}" ] || new+=("$p"); done
  [ ${#new[@]} -gt 0 ] || return 0
  while read -r p v; do CAND[$p]=$v; done < <(apt-cache policy "${new[@]}" 2>/dev/null |
    awk '/^[^ ]/ {sub(/:$/, ""); sub(/:amd64$/, ""); p = $1} /Candidate:/ {print p, $2}')
}
candidate() {  # candidate PKG: sets VER to its candidate version (no subshell: keeps CAND)
  [ -n "${CAND[$1]:-}" ] || load_candidates "$1"
  VER=${CAND[$1]:-}
  [ -n "$VER" ] && [ "$VER" != "(none)" ] || die "package $1 has no candidate version (apt-get update?)"
}

KPKG=${BERTH_GUEST_KERNEL_PKG:-}
if [ -z "$KPKG" ]; then
  KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9].*-amd64$/ {print $2; exit}')
fi
if [ -z "$KPKG" ]; then
  KPKG=$(apt-cache pkgnames linux-image- 2>/dev/null | grep -E '^linux-image-[0-9.]+-[0-9]+-amd64$' |
    sort -V | tail -n 1)
fi
[ -n "$KPKG" ] || die "no Debian kernel package found (apt-get update?)"

# Seed packages; library packages found by the DT_NEEDED walk are appended and remembered in
# inputs.txt, so the up-to-date check covers them without unpacking anything.
SEED=("$KPKG" busybox-static qemu-guest-agent)

inputs_for() {  # inputs_for PKG... -> the text of inputs.txt
  local p
  for p in "$@"; do candidate "$p"; echo "pkg $p $VER"; done
  for f in "${GUEST_FILES[@]}"; do echo "file $f $(sha256sum <"$HERE/$f" | cut -d' ' -f1)"; done
  echo "modules ${MODULES[*]}"
}

old_pkgs=()
[ -s "$OUT/inputs.txt" ] && mapfile -t old_pkgs < <(awk '$1 == "pkg" {print $2}' "$OUT/inputs.txt")
load_candidates "${SEED[@]}" "${old_pkgs[@]}"
if [ "${BERTH_GUEST_FORCE:-0}" != 1 ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.img" ] &&
   [ ${#old_pkgs[@]} -gt 0 ]; then
  if [ "$(inputs_for "${old_pkgs[@]}")" == "$(cat "$OUT/inputs.txt")" ] &&
     [ "${old_pkgs[0]}" == "$KPKG" ]; then
    log "up to date: $OUT (kernel $KPKG)"
    exit 0
  fi
fi

T0=$(date +%s.%N)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-guest-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/unpacked     # every package unpacked here
IRD=$WORK/initramfs     # the initramfs tree
mkdir -p "$ROOT" "$IRD"

declare -A HAVE=()      # packages already unpacked
PKGS=()                 # in the order they were added

cached_deb() {  # cached_deb PKG VERSION -> the cached .deb of exactly that version, if any
  local f
  for f in "$DEBS/${1}_"*.deb; do
    [ -e "$f" ] || continue
    if [ "$(dpkg-deb -f "$f" Package Version)" == "$(printf 'Package: %s\nVersion: %s' "$1" "$2")" ]; then
      echo "$f"; return 0
    fi
  done
}
fetch() {  # fetch PKG...: download the missing ones (one apt-get call, cached in $DEBS), unpack
  local p deb want=() miss=()
  for p in "$@"; do [ -n "${HAVE[$p]:-}" ] || want+=("$p"); done
  [ ${#want[@]} -gt 0 ] || return 0
  load_candidates "${want[@]}"
  for p in "${want[@]}"; do
    candidate "$p"
    [ -n "$(cached_deb "$p" "$VER")" ] || miss+=("$p=$VER")
  done
  if [ ${#miss[@]} -gt 0 ]; then
    local dl=$WORK/dl
    mkdir -p "$dl"
    chmod 777 "$dl" 2>/dev/null || true   # lets apt's _apt user write (else a harmless warning)
    log "apt-get download ${miss[*]}"
    (cd "$dl" && apt-get download -qq "${miss[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
    for p in "${miss[@]}"; do
      p=${p%%=*}
      deb=$(find "$dl" -maxdepth 1 -name "${p}_*.deb" | head -n 1)
      [ -n "$deb" ] || die "apt-get download $p failed"
      find "$DEBS" -maxdepth 1 -name "${p}_*.deb" -delete   # older cached versions
      mv "$deb" "$DEBS/"
    done
  fi
  mkdir -p "$WORK/lists"
  for p in "${want[@]}"; do
    candidate "$p"
    deb=$(cached_deb "$p" "$VER")
    [ -n "$deb" ] || die "no .deb for $p=$VER after download"
    if [ "$p" == "$KPKG" ]; then
      # Only what the guest can use from the kernel package (unpacking all 4000 modules takes
      # ~7 s): the image, config, modules.builtin and the module directories our MODULES and
      # their dependencies live in. add_module unpacks everything if a dependency is elsewhere.
      dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$ROOT" --wildcards \
        './boot/*' './lib/modules/*/modules.builtin' './lib/modules/*/kernel/drivers/virtio/*' \
        './lib/modules/*/kernel/drivers/block/*' './lib/modules/*/kernel/drivers/char/*' \
        './lib/modules/*/kernel/drivers/acpi/*' './lib/modules/*/kernel/drivers/input/*' \
        './lib/modules/*/kernel/fs/*' './lib/modules/*/kernel/lib/*' \
        './lib/modules/*/kernel/crypto/*' './lib/modules/*/kernel/arch/*'
    else
      dpkg-deb -X "$deb" "$ROOT" >"$WORK/lists/$p"   # -X also lists the files (manifest.txt)
    fi
    HAVE[$p]=$VER
    PKGS+=("$p")
  done
}

fetch "${SEED[@]}"
# qemu-guest-agent's own Depends are (nearly) all its libraries: fetch them in one go; the
# DT_NEEDED walk below adds whatever else is needed (e.g. libpcre2-8-0 for libglib).
mapfile -t ga_deps < <(dpkg-deb -f "$(cached_deb qemu-guest-agent "${HAVE[qemu-guest-agent]}")" Depends |
  tr ',' '\n' | sed -e 's/([^)]*)//g' -e 's/|.*//' -e 's/:any//' -e 's/[[:space:]]//g' |
  grep -v -e '^$' -e '^init-system-helpers$')
fetch "${ga_deps[@]}"
KVER=${KPKG#linux-image-}
MODDIR=$ROOT/lib/modules/$KVER
[ -f "$ROOT/boot/vmlinuz-$KVER" ] || die "no /boot/vmlinuz-$KVER in $KPKG"
[ -d "$MODDIR/kernel" ] || die "no modules in $KPKG"
[ -x "$ROOT/usr/sbin/qemu-ga" ] || die "no /usr/sbin/qemu-ga in qemu-guest-agent"
[ -x "$ROOT/bin/busybox" ] || die "no /bin/busybox in busybox-static"

# ---- shared libraries of qemu-ga: DT_NEEDED closure over the unpacked packages -------------
LIBDIRS=(lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib64)
find_lib() {  # find_lib SONAME -> path under $ROOT, or nothing
  local d
  for d in "${LIBDIRS[@]}"; do
    if [ -e "$ROOT/$d/$1" ]; then echo "$ROOT/$d/$1"; return 0; fi
  done
}
declare -A LIBS=()      # soname -> package
queue=("$ROOT/usr/sbin/qemu-ga")
interp=$(readelf -l "$ROOT/usr/sbin/qemu-ga" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[ -n "$interp" ] || die "qemu-ga has no program interpreter?"
queue+=("INTERP:$(basename "$interp")")
while [ ${#queue[@]} -gt 0 ]; do
  item=${queue[0]}; queue=("${queue[@]:1}")
  if [[ $item == INTERP:* ]]; then needed=("${item#INTERP:}")
  else mapfile -t needed < <(readelf -d "$item" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  fi
  for so in "${needed[@]}"; do
    [ -z "${LIBS[$so]:-}" ] || continue
    path=$(find_lib "$so")
    if [ -z "$path" ]; then
      # Learn the package name from the host's dpkg database (same Debian release), then
      # download and unpack that package.
      owner=$(for d in "${LIBDIRS[@]}"; do dpkg -S "/$d/$so" 2>/dev/null; done |
        grep -v '^diversion' | head -n 1 | cut -d: -f1) || true
      [ -n "$owner" ] || die "cannot find a package providing $so"
      fetch "$owner"
      path=$(find_lib "$so")
      [ -n "$path" ] || die "package $owner does not contain $so"
    fi
    LIBS[$so]=$path
    queue+=("$(readlink -f "$path")")
  done
done

# ---- kernel modules: depends= from each module's .modinfo, loaded in post-order -----------
declare -A MODPATH=() MODSEEN=()
index_modules() {
  local ko n
  while IFS= read -r -d '' ko; do
    n=${ko##*/}; n=${n%.ko}; MODPATH[$n]=$ko; MODPATH[${n//-/_}]=$ko
  done < <(find "$MODDIR/kernel" -name '*.ko' -print0)
}
index_modules
FULL_KERNEL=0
ORDER=()
modinfo_field() {  # modinfo_field KO FIELD (.modinfo is a list of NUL-terminated key=value)
  tr '\0' '\n' <"$1" | grep -a -m1 "^$2=" | cut -d= -f2- || true
}
add_module() {
  local m=${1//-/_} dep
  [ -z "${MODSEEN[$m]:-}" ] || return 0
  MODSEEN[$m]=1
  if [ -z "${MODPATH[$m]:-}" ] && [ $FULL_KERNEL = 0 ]; then
    if grep -qE "/(${m}|${1})\.ko$" "$MODDIR/modules.builtin"; then return 0; fi
    log "module $1 is outside the unpacked directories: unpacking all of $KPKG"
    dpkg-deb -x "$DEBS/${KPKG}_"*.deb "$ROOT"
    FULL_KERNEL=1
    index_modules
  fi
  if [ -z "${MODPATH[$m]:-}" ]; then
    if grep -qE "/(${m}|${1})\.ko$" "$MODDIR/modules.builtin"; then return 0; fi
    die "kernel module $1 neither a module nor built in"
  fi
  for dep in $(modinfo_field "${MODPATH[$m]}" depends | tr ',' ' '); do add_module "$dep"; done
  ORDER+=("${MODPATH[$m]#"$MODDIR/"}")
}
for m in "${MODULES[@]}"; do add_module "$m"; done

# ---- assemble the initramfs ----------------------------------------------------------------
mkdir -p "$IRD"/{bin,sbin,usr/bin,usr/sbin,lib/x86_64-linux-gnu,lib64,dev,proc,sys,run,tmp,data,etc/acpi/PWRF,root}
chmod 1777 "$IRD/tmp"
cp "$ROOT/bin/busybox" "$IRD/bin/busybox"
# One symlink per applet, at the path busybox itself reports (bin/sh, sbin/poweroff, ...).
"$ROOT/bin/busybox" --list-full | while read -r a; do
  [ -e "$IRD/$a" ] || ln -s /bin/busybox "$IRD/$a"
done
cp "$ROOT/usr/sbin/qemu-ga" "$IRD/usr/sbin/qemu-ga"
for so in "${!LIBS[@]}"; do
  cp -L "${LIBS[$so]}" "$IRD/lib/x86_64-linux-gnu/$so"
done
ln -sf "/lib/x86_64-linux-gnu/$(basename "$interp")" "$IRD$interp"
for rel in "${ORDER[@]}"; do
  mkdir -p "$IRD/lib/modules/$KVER/$(dirname "$rel")"
  cp "$MODDIR/$rel" "$IRD/lib/modules/$KVER/$rel"
done
printf '%s\n' "${ORDER[@]}" >"$IRD/lib/modules/$KVER/berth-load-order"
install -m 0755 "$HERE/init" "$IRD/init"
install -m 0755 "$HERE/berth-writer" "$IRD/usr/bin/berth-writer"
rm -f "$IRD/sbin/shutdown"
install -m 0755 "$HERE/shutdown" "$IRD/sbin/shutdown"   # what qemu-ga's guest-shutdown execs
printf '#!/bin/sh\nexec /bin/busybox poweroff\n' >"$IRD/etc/acpi/PWRF/00000080"
chmod 0755 "$IRD/etc/acpi/PWRF/00000080"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$IRD/etc/passwd"
printf 'root:x:0:\n' >"$IRD/etc/group"
printf '%s\n' "$KVER" >"$IRD/etc/berth-guest-kernel"
if [ "$(id -u)" -eq 0 ]; then
  mknod -m 600 "$IRD/dev/console" c 5 1
  mknod -m 666 "$IRD/dev/null" c 1 3
  # Sanity check on the host: the guest's qemu-ga must start with only the guest's libraries.
  if ! chroot "$IRD" /usr/sbin/qemu-ga --version >/dev/null 2>"$WORK/qga.err"; then
    cat "$WORK/qga.err" >&2; die "qemu-ga does not run inside the initramfs tree"
  fi
fi

cp "$ROOT/boot/vmlinuz-$KVER" "$OUT/vmlinuz.new"
(cd "$IRD" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0) |
  gzip -6 >"$OUT/initrd.img.new"
mv "$OUT/vmlinuz.new" "$OUT/vmlinuz"
mv "$OUT/initrd.img.new" "$OUT/initrd.img"

# ---- record what went in -------------------------------------------------------------------
{
  echo "# Berth test guest, built $(date -u +%FT%TZ) by tests/guest/build-guest.sh"
  echo "kernel: $KPKG ${HAVE[$KPKG]}"
  echo "packages:"; for p in "${PKGS[@]}"; do echo "  $p ${HAVE[$p]}"; done
  echo "qemu-ga libraries (all from the unpacked packages above, none from the host):"
  for so in $(printf '%s\n' "${!LIBS[@]}" | sort); do
    f=${LIBS[$so]#"$ROOT"}; real=$(readlink -f "${LIBS[$so]}"); real=${real#"$ROOT"}
    from=$(cd "$WORK/lists" && grep -lxF -e ".$f" -e ".$real" -- * 2>/dev/null | head -n 1 || true)
    echo "  $so <- $f (${from:-?})"
  done
  echo "kernel modules, in load order:"; printf '  %s\n' "${ORDER[@]}"
  echo "initrd.img: $(stat -c %s "$OUT/initrd.img") bytes; vmlinuz: $(stat -c %s "$OUT/vmlinuz") bytes"
} >"$OUT/manifest.txt"
inputs_for "${PKGS[@]}" >"$OUT/inputs.txt"
log "built $OUT/vmlinuz and $OUT/initrd.img in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s (see $OUT/manifest.txt)"
