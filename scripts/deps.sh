#!/usr/bin/env bash
# Install what a fresh Debian/Ubuntu machine lacks to build, run and test Retrovue.
# Safe to run again: only missing packages are installed. Used by demo.sh and test.sh.
set -euo pipefail

packages=(
  pkg-config build-essential curl ca-certificates
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  # Every GStreamer plugin src/elements.rs lists (tests/elements.rs checks each plugin file's
  # package is here). gstreamer1.0-x holds textoverlay (the demo's captions): it is only a
  # Recommends of plugins-base, which --no-install-recommends below skips.
  libgstreamer1.0-0 gstreamer1.0-plugins-base gstreamer1.0-x gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-plugins-base-apps
  ffmpeg
)
# The booted appliance (scripts/build-standin-image.sh, scripts/boot-test.sh): QEMU with UEFI
# firmware, genimage and GRUB to lay out the stand-in image, mtools for its EFI partition.
boot_packages=(qemu-system-x86 ovmf genimage grub-efi-amd64-bin grub-common dosfstools mtools
  mmdebstrap e2fsprogs fdisk xz-utils jq curl ffmpeg hdhomerun-config util-linux)
if [ "${1:-}" = "--boot" ]; then
  packages+=("${boot_packages[@]}")
fi
if [ "${1:-}" = "--test" ]; then
  packages+=("${boot_packages[@]}")
  packages+=(hdhomerun-config xmltv-util shellcheck systemd iproute2 util-linux chromium chromium-driver)
  # clock-jump test: the daemon runs under libfaketime (tests/clock_jump.rs)
  packages+=(faketime libfaketime)
  # OCR of the guide channel's grid and the generated cards (tests/station.rs)
  packages+=(tesseract-ocr tesseract-ocr-eng)
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
  # Debian 12 images that carry qemu-utils from bookworm-backports (10.x) cannot take
  # bookworm's qemu-system-x86 (7.2: "Breaks qemu-system-common"): take QEMU from backports
  # too, through a private apt list that leaves the machine's sources alone.
  apt_bpo=()
  if [[ " ${missing[*]} " == *" qemu-system-x86 "* ]] &&
    dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q '~bpo12'; then
    bpo="$(mktemp -d)"
    cp /etc/apt/sources.list.d/*.sources "$bpo/" 2>/dev/null || true
    [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$bpo/main.list"
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >"$bpo/bpo.sources"
    mkdir -p "$bpo/lists/partial"
    apt_bpo=(-o "Dir::Etc::SourceParts=$bpo" -o Dir::Etc::SourceList=/dev/null -o "Dir::State::Lists=$bpo/lists")
    $sudo apt-get "${apt_bpo[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get "${apt_bpo[@]}" install -y -qq --no-install-recommends \
      -t bookworm-backports qemu-system-x86 >/dev/null
    rm -rf "$bpo"
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --boot is for a machine that only boots an image (the release workflow): no Rust needed.
[ "${1:-}" = "--boot" ] && exit 0
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component" >/dev/null 2>&1 || true
done
