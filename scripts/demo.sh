#!/usr/bin/env bash
# Run Retrovue on a generated demo library, on this machine only (127.0.0.1, no announcements).
# Usage: scripts/demo.sh [PORT]      (default 8080)
# Installs what is missing, builds, writes the demo library into ./data/demo, builds channels
# and their schedules, then runs the daemon in the foreground (Ctrl-C stops it). Each step is
# announced; when one fails, the last line printed says what to do (install what, usually).
# Environment: RETROVUE_BIN=path  use this retrovue binary instead of building one
#              (scripts/test-fresh.sh runs the demo this way in a clean Debian root).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-8080}"

steps=6
n=0
what=""
step() {
  n=$((n + 1))
  what="$1"
  printf '\n[%d/%d] %s\n' "$n" "$steps" "$2"
}
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# Run a step's command with its output shown as it comes (and kept); on failure, end with the
# one line that says what to do: a "missing GStreamer element ...: install it with: ..." line
# from retrovue, an apt or pkg-config hint, or else the command's last words.
run() {
  : >"$log"
  if "$@" 2>&1 | tee "$log"; then
    return 0
  fi
  local hint
  hint="$(grep -E 'install it with|apt-get install|image was built without' "$log" | tail -n 1 || true)"
  if [ -z "$hint" ] && grep -qE 'pkg-config|system library|The system library' "$log"; then
    hint="a development package is missing: run scripts/deps.sh (it installs them), then this again"
  fi
  if [ -z "$hint" ] && [ "$n" -eq 2 ] && ! command -v cargo >/dev/null 2>&1; then
    hint="cargo not found: install Rust with rustup (https://rustup.rs), then run this again"
  fi
  [ -n "$hint" ] || hint="$(grep -v '^\s*$' "$log" | tail -n 1)"
  printf '\ndemo.sh: step %d/%d failed (%s)\n%s\n' "$n" "$steps" "$what" "${hint#retrovue: }" >&2
  exit 1
}

step "installing packages" "installing missing packages (scripts/deps.sh; asks for sudo if needed)..."
run bash scripts/deps.sh

if [ -n "${RETROVUE_BIN:-}" ]; then
  step "build" "building: skipped, using $RETROVUE_BIN"
  bin="$RETROVUE_BIN"
else
  step "building" "building Retrovue (cargo build --release; the first build takes 10-15 minutes on 2 cores)..."
  run cargo build --release --locked
  bin="${CARGO_TARGET_DIR:-target}/release/retrovue"
fi
rv=("$bin" --config scripts/demo.toml --data-dir ./data)

step "the demo library" "generating the demo library in ./data/demo (about 2 minutes the first time) and scanning it..."
run "${rv[@]}" demo
run "${rv[@]}" scan

step "channels" "creating the demo channels (scripts/demo-channels.toml)..."
run "${rv[@]}" channel import scripts/demo-channels.toml

step "schedules" "building the channels' schedules..."
run "${rv[@]}" schedule build

step "server" "starting the server on http://127.0.0.1:${port}/ ..."
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
