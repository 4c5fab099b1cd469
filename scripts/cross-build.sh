#!/usr/bin/env bash
# Build the release daemon for a target, stripped.
#
# Usage: scripts/cross-build.sh aarch64|x86_64
#
# x86_64 builds natively. aarch64 links against a Debian bookworm arm64 sysroot made with
# mmdebstrap (cached under $CARGO_TARGET_DIR/sysroot, reused between runs; delete it to
# refresh), using Debian's gcc-aarch64-linux-gnu; see DESIGN.md §8. The sysroot also holds
# the GStreamer plugins, so the result runs under qemu-aarch64-static (scripts/test.sh).
#
# Prints the path of the binary on the last line of stdout.
# Environment: CARGO_TARGET_DIR (default ./target), RETROVUE_SYSROOT (aarch64 sysroot path).
set -euo pipefail
cd "$(dirname "$0")/.."

arch="${1:-}"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "cross-build: '$1' not found; $2" >&2
    exit 1
  }
}

# The arm64 packages the sysroot holds: headers and libraries to link, plugins to run (the
# plugin packages of scripts/deps.sh: selftest under qemu checks every element of src/elements.rs).
sysroot_packages="libc6-dev,libgstreamer1.0-dev,libgstreamer-plugins-base1.0-dev,gstreamer1.0-plugins-base,gstreamer1.0-x,gstreamer1.0-plugins-good,gstreamer1.0-plugins-bad,gstreamer1.0-plugins-ugly,gstreamer1.0-libav"

# Recorded in the sysroot: a change of packages or recipe makes a new one.
sysroot_stamp="2:$sysroot_packages"

# Create (once) the Debian arm64 sysroot; prints its path.
arm64_sysroot() {
  local dir="${RETROVUE_SYSROOT:-$target_dir/sysroot/arm64-bookworm}"
  local stamp="$dir/.retrovue-sysroot"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sysroot_stamp" ]; then
    echo "$dir"
    return
  fi
  need mmdebstrap "install it with: apt-get install mmdebstrap"
  echo "cross-build: creating the arm64 sysroot in $dir (needs the Debian mirror, ~1 min)" >&2
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  mmdebstrap --quiet --variant=extract --arch=arm64 --include="$sysroot_packages" bookworm "$dir" >&2
  # "extract" runs no maintainer scripts, so update-alternatives never made the links that
  # libraries are loaded by (libblas.so.3 for FFmpeg, hence gst-libav's avenc_aac).
  local lib="$dir/usr/lib/aarch64-linux-gnu" f
  for f in "$lib"/blas/lib*.so.3 "$lib"/lapack/lib*.so.3; do
    [ -e "$f" ] && [ ! -e "$lib/$(basename "$f")" ] && ln -s "${f#"$lib"/}" "$lib/$(basename "$f")"
  done
  echo "$sysroot_stamp" >"$stamp"
  echo "$dir"
}

case "$arch" in
  x86_64)
    triple=x86_64-unknown-linux-gnu
    strip_tool="strip"
    ;;
  aarch64)
    triple=aarch64-unknown-linux-gnu
    strip_tool=aarch64-linux-gnu-strip
    need aarch64-linux-gnu-gcc "install it with: apt-get install gcc-aarch64-linux-gnu"
    rustup target list --installed 2>/dev/null | grep -qx "$triple" || rustup target add "$triple" >&2
    sysroot="$(arm64_sysroot)"
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=--sysroot=$sysroot"
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
    # C parts (ring, SQLite) compile against the sysroot's glibc headers too.
    export CFLAGS_aarch64_unknown_linux_gnu="--sysroot=$sysroot"
    export PKG_CONFIG_ALLOW_CROSS=1
    export PKG_CONFIG_SYSROOT_DIR="$sysroot"
    export PKG_CONFIG_LIBDIR="$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig"
    ;;
  *)
    echo "usage: scripts/cross-build.sh aarch64|x86_64" >&2
    exit 2
    ;;
esac

need "$strip_tool" "install binutils for the target"
start=$(date +%s)
cargo build --release --locked --target "$triple" --bin retrovue >&2
bin="$target_dir/$triple/release/retrovue"
"$strip_tool" "$bin"
echo "cross-build: $triple built in $(($(date +%s) - start)) s, $(stat -c %s "$bin") bytes stripped" >&2
echo "$bin"
