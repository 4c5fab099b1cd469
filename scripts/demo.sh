#!/usr/bin/env bash
# Run Retrovue on a generated demo library, on this machine only (127.0.0.1, no announcements).
# Usage: scripts/demo.sh [PORT]      (default 8080)
# Installs what is missing, builds, writes the demo library into ./data/demo, builds channels
# and their schedules, then runs the daemon in the foreground (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-8080}"

bash scripts/deps.sh
cargo build --release --locked
rv=("${CARGO_TARGET_DIR:-target}/release/retrovue" --config scripts/demo.toml --data-dir ./data)

"${rv[@]}" demo
"${rv[@]}" scan
"${rv[@]}" channel import scripts/demo-channels.toml
"${rv[@]}" schedule build

base="http://127.0.0.1:${port}"
cat <<EOT

Retrovue demo is starting on ${base}
  web page        ${base}/
  channel list    ${base}/playlist.m3u      (open in VLC)
  guide (XMLTV)   ${base}/xmltv.xml
  tuner           ${base}/discover.json     (Plex: add the device ${base} manually)
  channel 3       ${base}/stream/3.ts       (VLC, ffplay; HDHomeRun path: ${base}/auto/v3)

EOT
# Two malloc arenas, as the appliance's unit file sets (far less memory with many channels).
MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" exec "${rv[@]}" serve --listen "127.0.0.1:${port}" --no-announce --no-discovery
