#!/usr/bin/env bash
# Build the Retrovue appliance image for one board, on a machine with internet access.
#
# Usage: scripts/build-image.sh rpi4_64|rpi3_64|rpi5|x86_64
#
# Fetches the pinned Buildroot release (checked against its published SHA-256), vendors the
# crates, loads buildroot/configs/retrovue_<board>_defconfig with this repository's external
# tree and builds. Result: output/<board>/images/retrovue-<board>.img.xz
# A first build takes 1-3 hours and ~25 GB of disk; downloads are kept in output/dl (or
# $BR2_DL_DIR) and shared between boards. Host needs: make, gcc, g++, perl, python3, rsync,
# cpio, unzip, bc, file, wget, curl, xz, cargo (for vendoring).
# Environment: BUILDROOT_DIR (use this Buildroot tree instead of fetching one), BR2_DL_DIR,
# BR2_JLEVEL (parallel jobs, default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

BUILDROOT_VERSION=2026.02.3
boards=(rpi4_64 rpi3_64 rpi5 x86_64)

board="${1:-}"
if [ -z "$board" ] || [ ! -f "buildroot/configs/retrovue_${board}_defconfig" ]; then
  echo "usage: scripts/build-image.sh ${boards[*]// /|}" >&2
  exit 2
fi

missing=()
for tool in make gcc g++ perl python3 rsync cpio unzip bc file wget curl xz cargo patch; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "build-image: missing host tools: ${missing[*]}" >&2
  echo "  Debian/Ubuntu: sudo apt-get install build-essential rsync cpio unzip bc file wget curl xz-utils patch" >&2
  exit 1
fi

br="${BUILDROOT_DIR:-$repo/output/buildroot-$BUILDROOT_VERSION}"
if [ ! -f "$br/Makefile" ]; then
  tarball="buildroot-$BUILDROOT_VERSION.tar.xz"
  url="https://buildroot.org/downloads/$tarball"
  mkdir -p output
  echo "build-image: fetching Buildroot $BUILDROOT_VERSION"
  curl -fL --retry 3 -o "output/$tarball" "$url"
  curl -fL --retry 3 -o "output/$tarball.sign" "$url.sign"
  expected="$(sed -n "s/^SHA256: *\([0-9a-f]\{64\}\) *$tarball\$/\1/p" "output/$tarball.sign")"
  actual="$(sha256sum "output/$tarball" | cut -d' ' -f1)"
  if [ -z "$expected" ] || [ "$expected" != "$actual" ]; then
    echo "build-image: $tarball does not match the SHA-256 in $tarball.sign" >&2
    exit 1
  fi
  mkdir -p "$br"
  tar -xJf "output/$tarball" -C "$br" --strip-components=1
  rm -f "output/$tarball"
fi

bash scripts/vendor-crates.sh

out="$repo/output/$board"
dl="${BR2_DL_DIR:-$repo/output/dl}"
mkdir -p "$dl"
start=$(date +%s)
make -C "$br" BR2_EXTERNAL="$repo/buildroot" O="$out" "retrovue_${board}_defconfig"
make -C "$br" O="$out" BR2_DL_DIR="$dl" ${BR2_JLEVEL:+BR2_JLEVEL="$BR2_JLEVEL"}

image="$out/images/retrovue-$board.img.xz"
if [ ! -f "$image" ]; then
  echo "build-image: the build finished but $image is missing" >&2
  exit 1
fi
echo "build-image: $image ($(du -h "$image" | cut -f1), $((($(date +%s) - start) / 60)) min)"
echo "Flash it with Raspberry Pi Imager / balenaEtcher, or: scripts/flash.sh $image /dev/sdX"
