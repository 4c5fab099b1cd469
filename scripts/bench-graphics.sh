#!/bin/sh
# CPU cost of broadcast graphics per channel (bug + lower third; bug + clock + crawl) against
# the same channel without graphics. Usage: scripts/bench-graphics.sh [SECONDS per run]
set -eu
cd "$(dirname "$0")/.."
cargo build --release --example bench_graphics
RUST_LOG=warn "${CARGO_TARGET_DIR:-target}/release/examples/bench_graphics" "${1:-20}"
