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
shellcheck scripts/*.sh systemd/*.sh buildroot/board/*/*.sh

step "appliance: unit files, first-boot growth, aarch64 cross-build under qemu, buildroot"
bash scripts/test-appliance.sh

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
