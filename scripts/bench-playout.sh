#!/usr/bin/env bash
# Playout benchmarks (figures printed, not asserted). Real time: takes about 5 minutes.
#   1. CPU seconds per minute of output, one SD (640x480 29.97) channel, x264 veryfast,
#      against an ffmpeg command doing the same transcode of the same items in the same run.
#   2. Channels sustained in real time (2, 4, 6, 8 until one falls behind), with process RSS.
#   3. Time from subscribing to a channel to its first byte and first keyframe, cold (the
#      channel starts for the viewer) and warm (GOP cache of a running channel).
#   4. Daemon RSS idle.
# The machine may be shared: run it when it is quiet and read the figures with that in mind.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
SECS="${RETROVUE_BENCH_SECS:-60}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== building"
cargo build -q --bin retrovue
cargo test -q --no-run --test playout 2>/dev/null

echo "== generating 3 x 10 s source clips (H.264 + AAC: 1280x720 16:9, 640x480 4:3, 1280x720)"
clips=()
i=0
for spec in "1280x720:testsrc2" "640x480:smptebars" "1280x720:testsrc"; do
  size="${spec%%:*}"; src="${spec##*:}"
  f="$work/clip$i.mp4"
  ffmpeg -v error -y -f lavfi -i "$src=s=$size:r=30000/1001:d=10" -f lavfi -i "sine=f=$((300 + 200 * i)):d=10" \
    -c:v libx264 -preset veryfast -b:v 4000k -g 60 -pix_fmt yuv420p -c:a aac -b:a 160k -ar 48000 -ac 2 -shortest "$f"
  clips+=("$f"); i=$((i + 1))
done
RETROVUE_BENCH_CLIPS="$(IFS=:; echo "${clips[*]}")"
export RETROVUE_BENCH_CLIPS
export RETROVUE_BENCH_SECS="$SECS"

run_bench() {
  cargo test -q --test playout "$1" -- --ignored --nocapture --test-threads=1 2>/dev/null | grep '^BENCH' || echo "BENCH $1 failed"
}

echo "== 1. CPU per minute of output (one SD channel, ${SECS} s)"
run_bench bench_cpu_per_minute_one_sd_channel
list="$work/list.txt"
for _ in $(seq 1 $(( (SECS + 29) / 30 ))); do for c in "${clips[@]}"; do echo "file '$c'" >> "$list"; done; done
TIMEFORMAT="%U %S"
t=$( { time ffmpeg -v error -re -f concat -safe 0 -i "$list" -t "$SECS" \
  -vf "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,fps=30000/1001" \
  -c:v libx264 -preset veryfast -tune zerolatency -b:v 2000k -maxrate 2000k -bufsize 2000k -g 60 -keyint_min 60 \
  -sc_threshold 0 -c:a aac -b:a 128k -ar 48000 -ac 2 -f mpegts -y /dev/null ; } 2>&1 | tail -1 )
echo "BENCH ffmpeg_cpu_s_per_min=$(awk -v t="$t" -v s="$SECS" 'BEGIN{split(t,a," "); printf "%.2f", (a[1]+a[2])*60/s}')"

echo "== 2. channels sustained in real time (SD, x264 veryfast)"
run_bench bench_channels_sustained_in_real_time

echo "== 3. time to first byte / keyframe"
run_bench bench_time_to_first_byte_and_keyframe

echo "== 4. daemon RSS idle"
data="$work/data"
mkdir -p "$data"
RETROVUE_DATA_DIR="$data" RUST_LOG=warn "$CARGO_TARGET_DIR/debug/retrovue" serve --listen 127.0.0.1:0 --no-announce --no-discovery \
  > "$work/serve.out" 2>&1 &
pid=$!
sleep 5
echo "BENCH daemon_idle_rss_mb=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$pid/status)"
kill -TERM "$pid"; wait "$pid" || true
echo "(debug build of the Rust code; GStreamer and x264 are the distribution's optimised libraries)"
