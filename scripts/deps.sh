#!/usr/bin/env bash
# Install what a fresh Debian/Ubuntu machine lacks to build, run and test Retrovue.
# Safe to run again: only missing packages are installed. Used by demo.sh and test.sh.
set -euo pipefail

packages=(
  pkg-config build-essential curl ca-certificates
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-plugins-base-apps
  # textoverlay (pango) for the demo library's captions: Debian ships it in gstreamer1.0-x
  gstreamer1.0-x
  ffmpeg
)
if [ "${1:-}" = "--test" ]; then
  packages+=(hdhomerun-config xmltv-util shellcheck systemd iproute2 util-linux chromium chromium-driver)
  # clock-jump test: the daemon runs under libfaketime (tests/clock_jump.rs)
  packages+=(faketime libfaketime)
  # the appliance checks: aarch64 cross-build + qemu, partition growth (scripts/test-appliance.sh)
  packages+=(gcc-aarch64-linux-gnu mmdebstrap qemu-user-static fdisk)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component" >/dev/null 2>&1 || true
done
