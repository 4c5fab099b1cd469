#!/usr/bin/env bash
# Playout benchmarks (figures printed, not asserted). Real time: takes about 5 minutes.
#   1. CPU seconds per minute of output, one SD (640x480 29.97) channel, x264 veryfast,
#      against an ffmpeg command doing the same transcode of the same items in the same run.
#   2. Channels sustained in real time (2, 4, 6, 8 until one falls behind), with process RSS.
#   3. Time from subscribing to a channel to its first byte and first keyframe, cold (the
#      channel starts for the viewer) and warm (GOP cache of a running channel); cold tunes in
#      an airing's last 0.3-2.4 s.
#   4. Daemon RSS idle.
# The machine may be shared: run it when it is quiet and read the figures with that in mind.
# RETROVUE_BENCH_ONLY="1 4" runs only those sections; RETROVUE_BENCH_REPEAT=N repeats section 1.
# The measurements themselves are in scripts/bench-lib.sh (shared with scripts/bench.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
SECS="${RETROVUE_BENCH_SECS:-60}"
ONLY="${RETROVUE_BENCH_ONLY:-1 2 3 4}"
REPEAT="${RETROVUE_BENCH_REPEAT:-1}"
want() { [[ " $ONLY " == *" $1 "* ]]; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

echo "== building"
cargo build -q --bin retrovue
bench_build_tests

echo "== generating 3 x 10 s source clips (H.264 + AAC: 1280x720 16:9 BT.709, 640x480 4:3 BT.601, 1280x720 BT.709)"
bench_make_clips "$work"
export RETROVUE_BENCH_SECS="$SECS"

cpu_section() {
  echo "== 1. CPU per minute of output (one SD channel, ${SECS} s)"
  bench_retrovue_cpu_per_min "$SECS"
  bench_ffmpeg_cpu_per_min "$SECS" "$work"
  bench_ffmpeg_cpu_per_min "$SECS" "$work" plain
}
if want 1; then
  for _ in $(seq 1 "$REPEAT"); do cpu_section; done
fi

if want 2; then
  echo "== 2. channels sustained in real time (SD, x264 veryfast)"
  bench_channels_sustained 2,4,6,8 20
fi

if want 3; then
  echo "== 3. time to first byte / keyframe"
  bench_playout_test bench_time_to_first_byte_and_keyframe
  bench_playout_test bench_cold_tune_in_an_airings_last_seconds
fi

if want 4; then
  echo "== 4. daemon RSS idle"
  data="$work/data"
  mkdir -p "$data"
  RETROVUE_DATA_DIR="$data" RUST_LOG=warn "$CARGO_TARGET_DIR/debug/retrovue" serve --listen 127.0.0.1:0 --no-announce --no-discovery \
    > "$work/serve.out" 2>&1 &
  pid=$!
  sleep 5
  echo "BENCH daemon_idle_rss_mb=$(bench_rss_mb "$pid")"
  kill -TERM "$pid"; wait "$pid" || true
fi
echo "(debug build of the Rust code; GStreamer and x264 are the distribution's optimised libraries)"
