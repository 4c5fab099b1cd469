#!/usr/bin/env bash
# Memory of running SD channels (issue #17: "a channel that fits a Pi"), next to ffmpeg doing the
# same transcode of the same items. A release daemon on 127.0.0.1 (no announcements, no
# discovery) with 8 on-demand SD channels (640x480 29.97, x264 at the channel's settings,
# 2000 kb/s) whose items are 15-30 s long (20 s episodes and 15-30 s spots of the three mixed
# bench clips, HD and SD: a transition every 15-30 s). One viewer per channel is added to reach
# each count of COUNTS; after HOLD s at a count, the daemon's RSS and CPU are read, per channel
# whose pipeline started (the daemon admits no more than its encoder budget). At the count
# GROWTH_AT the channels keep running for GROWTH_HOLD s more, RSS read every 5 s: growth is the
# median of the window's last quarter of readings minus the median of its first quarter. The
# allocator's live blocks (`/api/status`: memory.heap_in_use_bytes) are read beside each RSS
# reading and summed up the same way: level live blocks under a rising RSS are holes in the
# heaps, not a leak.
# At each count the daemon's threads' CPU is read every second and split by what they do
# (`BENCH mem cpu_split`, CPU-s per channel-minute: the items' decoding, the video and audio
# encoders, the mixers, the mux, the backgrounds, the rest; scripts/bench-lib.sh
# bench_thread_split).
# ffmpeg runs first, alone, on the same items for HOLD s (scripts/bench-lib.sh
# bench_ffmpeg_sd), its RSS read at the end.
#
# Usage: scripts/bench-memory.sh [RETROVUE_BINARY]
#   env COUNTS (1,2,4,8), HOLD (60), GROWTH_AT (4), GROWTH_HOLD (240); the binary defaults to
#   the release build. Clips from $RETROVUE_BENCH_CLIPS (colon-separated, as bench.sh makes
#   them) or generated here.
# Prints `BENCH mem ...` lines; figures are printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-${CARGO_TARGET_DIR:-$PWD/target}/release/retrovue}"
counts="${COUNTS:-1,2,4,8}" hold="${HOLD:-60}" growth_at="${GROWTH_AT:-4}" growth_hold="${GROWTH_HOLD:-240}"
[ -x "$bin" ] || {
  echo "bench-memory: no binary at $bin (cargo build --release --bin retrovue)" >&2
  exit 1
}


# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bench_scratch
if [ -n "${RETROVUE_BENCH_CLIPS:-}" ]; then
  IFS=: read -r -a BENCH_CLIPS <<<"$RETROVUE_BENCH_CLIPS"
else
  bench_make_clips "$work"
fi

home="$work/home"
lib="$home/media"
mkdir -p "$lib/shows/Bench Show/Season 01" "$lib/spots"
# Items of 15-30 s: each bench clip (10 s) looped and cut without re-encoding.
items=()
item() { # SOURCE_CLIP LENGTH_S DEST
  ffmpeg -v error -nostdin -y -stream_loop 3 -i "$1" -t "$2" -c copy "$3"
  items+=("$3")
}
for e in 1 2 3; do
  item "${BENCH_CLIPS[$((e - 1))]}" 20 "$lib/shows/Bench Show/Season 01/Bench Show - S01E0$e.mp4"
done
k=0
for len in 15 20 25 30 15 20 25 30 15; do
  item "${BENCH_CLIPS[$((k % 3))]}" "$len" "$lib/spots/spot$k.mp4"
  k=$((k + 1))
done

# ---- ffmpeg: the same transcode of the same items, alone ----------------------------------
bench_concat_list "$work/items.txt" "$hold" "${items[@]}"
bench_ffmpeg_sd "$work/items.txt" "$((hold + 5))" &
sub=$!
pids+=("$sub")
ff="" # the ffmpeg process itself, the background function's child
for _ in $(seq 1 50); do
  ff="$(pgrep -P "$sub" -x ffmpeg || true)"
  [ -n "$ff" ] && break
  sleep 0.1
done
peak=0
for _ in $(seq 1 "$hold"); do
  sleep 1
  r="$(bench_rss_mb "$ff" 2>/dev/null || echo 0)"
  peak="$(awk -v a="$peak" -v b="$r" 'BEGIN { print (b > a ? b : a) }')"
done
ff_rss="$(bench_rss_mb "$ff")"
ff_parts="$(bench_rss_parts "$ff" ffmpeg_)"
ff_threads="$(awk '/^Threads:/ { print $2 }' "/proc/$ff/status")"
wait "$sub" || true
echo "BENCH mem ffmpeg_rss_mb=$ff_rss $ff_parts ffmpeg_peak_rss_mb=$peak ffmpeg_threads=$ff_threads hold_s=$hold"

# ---- the daemon ---------------------------------------------------------------------------
max="${counts##*,}"
cat >"$home/retrovue.toml" <<EOF
data_dir = "$home/data"
[schedule]
commercial_repeat_window_min = 0
horizon_days = 1
[playout]
idle_grace_secs = 1
[library]
loudness = false
EOF
rv=("$bin" --config "$home/retrovue.toml" --data-dir "$home/data")
{
  "${rv[@]}" source add --folder "$lib/shows" --kind shows --name bench
  "${rv[@]}" source add --folder "$lib/spots" --kind commercials --name spots
  "${rv[@]}" scan --no-loudness
  for n in $(seq 2 $((max + 1))); do
    "${rv[@]}" channel add "$n" --name "Bench $n" --default-fill "Bench Show" --break-style us \
      --mode on_demand --format sd640x480 --video-kbps 2000
  done
  "${rv[@]}" schedule build --days 1
} >"$work/setup.log" 2>&1 || {
  cat "$work/setup.log" >&2
  exit 1
}
RUST_LOG=info bench_daemon_start "$work/daemon.log" "${rv[@]}"
daemon="$BENCH_DAEMON_PID"
pids+=("$daemon")
# The web session that reads /api/status: the allocator's live blocks, beside the RSS.
curl -s --noproxy '*' -c "$work/jar" -H 'Content-Type: application/json' -d '{"password":"bench-memory-pass"}' \
  "http://$BENCH_DAEMON_ADDR/api/setup" >/dev/null
# The daemon's allocator's live blocks now, MB (nothing if it cannot say or did not answer
# within 5 s; a missed reading never stops the bench).
heap_mb() {
  curl -s --noproxy '*' --max-time 5 -b "$work/jar" "http://$BENCH_DAEMON_ADDR/api/status" |
    sed -n 's/.*"heap_in_use_bytes":\([0-9]*\).*/\1/p' | awk '{ printf "%.1f\n", $1 / 1048576 }'
}
sleep 5
idle="$(bench_rss_mb "$daemon")"
echo "BENCH mem idle_rss_mb=$idle $(bench_rss_parts "$daemon")"

# Channels whose pipeline started so far (none stops while its viewer holds it): a tune the
# encoder budget refuses (src/playout/budget.rs: 6 SD channels on 2 x86 cores) never starts.
started() {
  sed 's/\x1b\[[0-9;]*m//g' "$work/daemon.log" | sed -n 's/.*channel pipeline playing.* channel=\([0-9]*\).*/\1/p' | sort -u | wc -l
}
# One reading of process $1, in a single read of its status: "RSS anon file threads" (MB, MB,
# MB, count).
reading() {
  awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } /^Threads:/ { t = $2 }
    END { printf "%.1f %.1f %.1f %d\n", r / 1024, a / 1024, f / 1024, t }' "/proc/$1/status"
}
# The median of column $2 of the readings in file $1.
med() { awk -v c="$2" '{ print $c }' "$1" | median; }
running=0
IFS=, read -r -a steps <<<"$counts"
for n in "${steps[@]}"; do
  while [ "$running" -lt "$n" ]; do
    running=$((running + 1))
    curl -s --noproxy '*' -o /dev/null "http://$BENCH_DAEMON_ADDR/stream/$((running + 1)).ts" &
    pids+=("$!")
  done
  cpu0="$(bench_cpu_s "$daemon")"
  threads_cpu="$work/threads-$n.txt"
  bench_thread_sampler "$daemon" "$threads_cpu" &
  sampler=$!
  # The RSS at one instant depends on where each channel is in its item cycle: around a
  # transition the next item's bin is open (decoder, 0.5 s of frames in its branch queues,
  # seven more threads) beside the one on air, which one channel showed as 70.5 against 96.3 MB
  # of the daemon's own memory. So the figure is the median of readings every 2 s over the
  # hold's second half, its lowest and highest printed beside it.
  sleep $((hold / 2))
  readings="$work/rss-$n.txt"
  : >"$readings"
  for _ in $(seq 1 $(((hold - hold / 2) / 2))); do
    sleep 2
    reading "$daemon" >>"$readings"
  done
  rss="$(med "$readings" 1)"
  parts="anon_mb=$(med "$readings" 2) file_mb=$(med "$readings" 3)"
  threads="$(med "$readings" 4)"
  spread="$(awk 'NR == 1 || $1 < lo { lo = $1 } NR == 1 || $1 > hi { hi = $1 } END { printf "rss_low_mb=%.1f rss_peak_mb=%.1f readings=%d", lo, hi, NR }' "$readings")"
  cpu="$(awk -v a="$cpu0" -v b="$(bench_cpu_s "$daemon")" -v n="$(started)" -v h="$hold" 'BEGIN { if (n > 0) printf "%.2f", (b - a) * 60 / (n * h) }')"
  on="$(started)"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  echo "BENCH mem cpu_split channels=$n running=$on $(bench_thread_split "$threads_cpu" "$on" "$hold")"
  echo "BENCH mem channels=$n running=$on rss_mb=$rss added_per_channel_mb=$(awk -v r="$rss" -v i="$idle" -v n="$on" 'BEGIN { if (n > 0) printf "%.1f", (r - i) / n }') cpu_s_per_channel_min=$cpu threads=$threads hold_s=$hold $spread $parts"
  if [ "$n" = "$growth_at" ]; then
    # The RSS swings by tens of MB as items' bins come and go, so growth compares medians:
    # of the window's last quarter of readings against its first quarter.
    # The allocator's live blocks are read the same way: an RSS that rises while they stay level
    # is holes in the heaps (fragmentation), one that rises with them is memory held.
    window="$work/growth.txt" heap="$work/heap.txt"
    : >"$window"
    : >"$heap"
    for _ in $(seq 1 $((growth_hold / 5))); do
      sleep 5
      bench_rss_mb "$daemon" >>"$window"
      echo >>"$window"
      heap_mb >>"$heap" || true
    done
    r="$(tail -n 1 "$window")"
    q=$(($(wc -l <"$window") / 4))
    [ "$q" -gt 0 ] || q=1
    first="$(head -n "$q" "$window" | median)" last="$(tail -n "$q" "$window" | median)"
    peak="$(sort -n "$window" | tail -n 1)"
    hq=$(($(wc -l <"$heap") / 4))
    heap_row="heap_first_quarter_mb=unknown heap_last_quarter_mb=unknown heap_growth_mb=unknown"
    if [ "$hq" -gt 0 ]; then
      hf="$(head -n "$hq" "$heap" | median)" hl="$(tail -n "$hq" "$heap" | median)"
      heap_row="heap_first_quarter_mb=$hf heap_last_quarter_mb=$hl heap_growth_mb=$(awk -v a="$hf" -v b="$hl" 'BEGIN { printf "%.1f", b - a }')"
    fi
    echo "BENCH mem growth channels=$n warm_rss_mb=$rss end_rss_mb=$r peak_rss_mb=$peak first_quarter_rss_mb=$first last_quarter_rss_mb=$last growth_mb=$(awk -v a="$first" -v b="$last" 'BEGIN { printf "%.1f", b - a }') $heap_row window_s=$growth_hold"
  fi
done
# The log as plain text (a terminal's colours taken out).
sed 's/\x1b\[[0-9;]*m//g' "$work/daemon.log" >"$work/daemon.txt"
encoder="$(sed -n 's/.*channel pipeline playing.*encoder="\{0,1\}\([A-Za-z0-9_]*\).*/\1/p' "$work/daemon.txt" | sort -u | paste -sd, -)"
aired="$(grep -c 'channel pipeline playing' "$work/daemon.txt" || true)"
failed="$(grep -c 'item failed\|item cannot play' "$work/daemon.txt" || true)"
behind="$(grep -c 'cannot keep real time' "$work/daemon.txt" || true)"
malloc="$(grep -o 'MALLOC_[A-Z_]*=[0-9]*' "$work/daemon.txt" | sort -u | paste -sd, -)"
echo "BENCH mem encoder=${encoder:-unknown} pipelines_started=$aired item_failures=$failed fell_behind=$behind malloc=${malloc:-glibc_defaults}"
[ -z "${RV_BENCH_KEEP_LOG:-}" ] || cp "$work/daemon.log" "$RV_BENCH_KEEP_LOG"
