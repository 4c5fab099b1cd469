#!/usr/bin/env bash
# Install what is missing, then run every check and test Retrovue has.
# Usage: scripts/test.sh            (everything CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh --test

# Each step says how far into the run it starts (CI's budget: 90 min on 2 cores).
step() { printf '\n=== [%d min %02d s] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "format"
cargo fmt --check

step "clippy"
cargo clippy --all-targets --locked -- -D warnings

step "build"
cargo build --all-targets --locked

step "hardware-codec test doubles (testsupport/gst-hw-doubles: fmt, clippy, its own tests; tests/util/hw.rs uses the plugin)"
# Built into the main target directory so it reuses the compiled gstreamer crates (~30 s).
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" && export CARGO_TARGET_DIR
(cd testsupport/gst-hw-doubles && cargo fmt --check && cargo clippy --all-targets --locked -- -D warnings \
  && cargo build --lib --locked && cargo test --locked)

step "shellcheck"
shellcheck scripts/*.sh scripts/standin/*.sh systemd/*.sh buildroot/board/*/*.sh

step "appliance: unit files, first-boot growth, aarch64 cross-build under qemu, buildroot, the stand-in image booted in QEMU"
bash scripts/test-appliance.sh

step "fresh machine: deps.sh, selftest, demo.sh in a clean Debian 12 root (scripts/test-fresh.sh)"
# The README's first command where nothing but Rust is installed (issue #15). Uses the debug
# binary built above (same Debian 12 libc; see the script for why not a release build).
# Measured on 2 busy cores: 5 min 16 s with its caches warm (minbase tarball and .debs under
# $CARGO_TARGET_DIR/fresh-root); cold, +4 min for the tarball and +2.5 min of downloads.
# Bounded at 20 min. RETROVUE_FRESH=0 skips it.
if [ "${RETROVUE_FRESH:-1}" != 0 ]; then
  timeout --kill-after=30 1200 bash scripts/test-fresh.sh "${CARGO_TARGET_DIR:-target}/debug/retrovue"
else
  echo "RETROVUE_FRESH=0: skipped"
fi

step "tests"
cargo test --locked --all-targets -- --test-threads=2

step "tests in private namespaces (#[ignore]d in cargo test: they need unshare -n / -m)"
# Discovery, SSDP/mDNS and hostile-input tests multicast, so they run only inside a private
# network namespace; the full-disk test mounts a tmpfs in a private mount namespace. Where
# namespaces are not permitted (not root, no user namespaces) they are reported skipped.
if unshare -n true 2>/dev/null && unshare -m --propagation private true 2>/dev/null; then
  cargo test --locked --test hdhr --test faults --test disk_full -- --ignored --test-threads=1
else
  echo "SKIPPED: unshare -n/-m is not permitted here (needs root or user namespaces):"
  echo "  tests/hdhr.rs, tests/faults.rs::hostile_network_input_never_stops_the_daemon, tests/disk_full.rs did not run"
fi

step "fuzz (every cargo-fuzz target for RETROVUE_FUZZ_SECS=${RETROVUE_FUZZ_SECS:-20} s each, where cargo-fuzz is installed)"
# The corpora run as tests above (tests/fuzz_corpus.rs). Fuzzing itself needs cargo-fuzz and a
# sanitizer build of every target: ~12 min cold on 2 cores, more than the CI budget (90 min on
# 2 cores) leaves, so a machine without cargo-fuzz says so and goes on; `scripts/fuzz.sh`
# installs it and fuzzes (RETROVUE_FUZZ_SECS=0 skips it everywhere).
if [ "${RETROVUE_FUZZ_SECS:-20}" = 0 ]; then
  echo "RETROVUE_FUZZ_SECS=0: not fuzzing (the corpora ran as tests/fuzz_corpus.rs above)"
elif command -v cargo-fuzz >/dev/null 2>&1; then
  bash scripts/fuzz.sh "${RETROVUE_FUZZ_SECS:-20}"
else
  echo "fuzz: cargo-fuzz is not installed here: not fuzzing (the corpora ran as tests/fuzz_corpus.rs above;"
  echo "      scripts/fuzz.sh SECONDS installs it and fuzzes every target)"
fi

step "soak (4 channels, 20 viewers; RETROVUE_SOAK_SECS=3600 for the long run)"
# 180 s in CI (the loaded soak below is the long one); 3600 s by hand. Frames dropped are
# judged against the box, measured every second: none where it had room.
RETROVUE_SOAK_SECS="${RETROVUE_SOAK_SECS:-180}" cargo test --locked --test soak -- --ignored --nocapture

step "loaded box (issue #21): a channel starved to 0.6x of its CPU, then 4 channels and 20 viewers under a 1.25x quota for RETROVUE_LOADED_SOAK_SECS=${RETROVUE_LOADED_SOAK_SECS:-600} s"
# Both hold the daemon under a CPU quota (cgroup v2 or v1, else SIGSTOP/SIGCONT bursts) near or
# below what it needs, decode what the viewers got, and fail on black or silence over 1 s that the
# schedule did not ask for, an item failed for a stall, an open as-run row, a GStreamer complaint,
# an HTTP answer over 1 s. The starved channel (~78 s) runs below what real time needs (0.6x);
# (A box too slow or too busy to give four channels 1.25x leaves one on-demand channel out.)
# CI's soak holds the daemon at 1.25x of its quiet CPU, near its limit, without the squeezes
# below it (RETROVUE_LOADED_SQUEEZE=0.75 adds them: 0.75x for 15 s every 90 s). The squeezed
# hour (2026-12-04, 2 cores, debug build of 143b9af) passed with 0.0 s of unasked black and
# silence in 16,858 s of captures; it takes 68 min, more than a CI run can spend on it. The
# unsqueezed 600 s soak takes ~12.5 min (2,869 s decoded, 0.0 s in CI of 29a4e0c).
# 3600 for the long run; 0 skips.
if [ "${RETROVUE_LOADED_SOAK_SECS:-600}" != 0 ]; then
  cargo test --locked --test overload -- --ignored --nocapture
  RETROVUE_LOADED_SOAK_SECS="${RETROVUE_LOADED_SOAK_SECS:-600}" \
    RETROVUE_LOADED_SQUEEZE="${RETROVUE_LOADED_SQUEEZE:-0}" \
    cargo test --locked --test soak_loaded -- --ignored --nocapture
else
  echo "RETROVUE_LOADED_SOAK_SECS=0: loaded-box tests skipped"
fi
# The aarch64 binary under qemu-user (slow CPU for real): opt-in, RETROVUE_LOADED_QEMU_SECS=120;
# it passed twice for 120 s (2026-12-03; HTTP worst 876 ms of the 1 s allowed in one).
if [ "${RETROVUE_LOADED_QEMU_SECS:-0}" != 0 ]; then
  # The binary and sysroot are the ones the appliance step cross-built above (cached).
  bash scripts/test-loaded-aarch64.sh "${RETROVUE_LOADED_QEMU_SECS}"
else
  echo "loaded soak under qemu-user not run (RETROVUE_LOADED_QEMU_SECS unset)"
fi

step "done"
