#!/usr/bin/env bash
# Install what is missing, then run every check and test Retrovue has.
# Usage: scripts/test.sh            (everything CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh --test

step() { printf '\n=== %s\n' "$*"; }

step "format"
cargo fmt --check

step "clippy"
cargo clippy --all-targets --locked -- -D warnings

step "build"
cargo build --all-targets --locked

step "shellcheck"
shellcheck scripts/*.sh scripts/standin/*.sh systemd/*.sh buildroot/board/*/*.sh

step "appliance: unit files, first-boot growth, aarch64 cross-build under qemu, buildroot, the stand-in image booted in QEMU"
bash scripts/test-appliance.sh

step "tests"
cargo test --locked --all-targets -- --test-threads=2

step "fuzz (every cargo-fuzz target, RETROVUE_FUZZ_SECS=${RETROVUE_FUZZ_SECS:-20} s each; corpora also run in cargo test)"
# CI fuzzes every target for a bounded time; fuzz.sh installs cargo-fuzz when missing (a few
# minutes once) and its sanitizer build costs ~6-8 min cold on 2 cores. 0 skips it locally.
if [ "${RETROVUE_FUZZ_SECS:-20}" != 0 ]; then
  bash scripts/fuzz.sh "${RETROVUE_FUZZ_SECS:-20}"
else
  echo "RETROVUE_FUZZ_SECS=0: skipped (the corpora ran as tests/fuzz_corpus.rs above)"
fi

step "soak (4 channels, 20 viewers; RETROVUE_SOAK_SECS=3600 for the long run)"
RETROVUE_SOAK_SECS="${RETROVUE_SOAK_SECS:-300}" cargo test --locked --test soak -- --ignored --nocapture
