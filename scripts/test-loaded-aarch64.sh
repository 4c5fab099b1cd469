#!/usr/bin/env bash
# The loaded-box soak (tests/soak_loaded.rs) on the aarch64 binary under qemu-user: the
# emulated CPU is the slow box for real (about 10x slower than native), so no quota is put on
# it. Two channels (one always-on, one on demand) and 6 churning viewers; every check of the
# soak applies (no unasked black/silence over 1 s, no item failed for a stall, no GStreamer
# complaints, as-run complete and closed, HTTP within 1 s, SIGTERM within the stop timeout).
# The library and schedule are prepared by the native binary; the aarch64 one serves them.
# Usage: scripts/test-loaded-aarch64.sh [SECONDS]   (default 180; RETROVUE_LOADED_QEMU_SECS)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-${RETROVUE_LOADED_QEMU_SECS:-180}}"
command -v qemu-aarch64-static >/dev/null || {
  echo "SKIP loaded soak under qemu: qemu-aarch64-static not found (apt-get install qemu-user-static)"
  exit 0
}
bin="$(bash scripts/cross-build.sh aarch64 | tail -n 1)"
sysroot="${RETROVUE_SYSROOT:-${CARGO_TARGET_DIR:-$PWD/target}/sysroot/arm64-bookworm}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
wrapper="$scratch/retrovue-aarch64"
cat >"$wrapper" <<EOF
#!/bin/sh
export GST_PLUGIN_SYSTEM_PATH="$sysroot/usr/lib/aarch64-linux-gnu/gstreamer-1.0"
export GST_REGISTRY="$scratch/gst-registry-arm64.bin" GST_REGISTRY_FORK=no
# The malloc settings as the unit file sets them: without them the daemon re-executes itself to
# set them, and qemu-user cannot exec a foreign binary (no binfmt here: the daemon died at start).
export MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=4194304
exec qemu-aarch64-static -L "$sysroot" "$bin" "\$@"
EOF
chmod +x "$wrapper"
# Build the emulated GStreamer registry once (slow under qemu) so the daemon starts in time.
"$wrapper" selftest >/dev/null 2>&1 || echo "WARN aarch64 selftest failed before the soak" >&2
echo "loaded soak under qemu: $bin, $secs s"
RETROVUE_LOADED_BIN="$wrapper" RETROVUE_LOADED_SOAK_SECS="$secs" RETROVUE_LOADED_CHANNELS=2 \
  RETROVUE_LOADED_VIEWERS=6 RETROVUE_LOADED_FACTOR=0 RETROVUE_LOADED_CALIBRATE_SECS=20 \
  cargo test --locked --test soak_loaded -- --ignored --nocapture
