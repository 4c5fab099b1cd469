#!/usr/bin/env bash
# Every Retrovue figure in one run, side by side with its goal: a table on stdout and JSON.
#
# Usage: scripts/bench.sh [--quick] [--json-only] [--out FILE] [--cross]
#   --quick      short windows and smaller libraries (about 12 minutes of measuring; figures rougher)
#   --json-only  progress on stderr, only the JSON on stdout
#   --out FILE   where the JSON goes (default $CARGO_TARGET_DIR/bench/report.json)
#   --cross      build the aarch64 binary first (scripts/cross-build.sh aarch64) to size it
#
# Builds the release binary, the benchmark examples and tests once, then measures (the full run
# takes about 40 minutes on 2 cores, plus the build): SD channel CPU vs the same ffmpeg
# transcode and vs its codec floor (3 interleaved rounds, medians), channels sustained in real time, tune latency through the daemon's HTTP (idle and
# while a 50-channel 7-day schedule build runs: scripts/bench-tune-build.sh), fan-out
# to 1/10/100 viewers (CPU per viewer and identical bytes), daemon RSS idle and with 4
# channels, RSS per channel at 1/2/4/8 channels of short items next to ffmpeg's
# (scripts/bench-memory.sh), library scan and re-scan, schedule build/XMLTV/lookup, graphics
# overhead (full run only), the guide channel against a regular SD channel and the scan time
# break detection adds (issue #20), loudness as aired per item class with true peaks and the
# audio processing cost,
# audio tracks by language, and the aarch64 binary size if one was cross-built. All traffic stays on 127.0.0.1
# (daemon with --no-announce --no-discovery). Figures are printed, never asserted: a shared
# or busy machine gives worse figures; the JSON records the load average before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

quick=0 json_only=0 cross=0 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --json-only) json_only=1 ;;
    --cross) cross=1 ;;
    --out)
      out="${2:?--out needs a file}"
      shift
      ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "bench: unknown option $1 (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done
out="${out:-$CARGO_TARGET_DIR/bench/report.json}"
mkdir -p "$(dirname "$out")"

if [ "$quick" = 1 ]; then
  SD_SECS=15 SD_ROUNDS=1 SUSTAIN_COUNTS=2,4 SUSTAIN_SECS=8 TUNES=3 HOLD_SECS=8 FAN_WINDOW=4 SCAN_ITEMS=1000
  SCHED_CHANNELS=50 SCHED_DAYS=7 GFX_SECS=0 MEM_HOLD=30 MEM_GROWTH=60
else
  SD_SECS=60 SD_ROUNDS=3 SUSTAIN_COUNTS=2,4,6,8 SUSTAIN_SECS=20 TUNES=5 HOLD_SECS=15 FAN_WINDOW=15 SCAN_ITEMS=5000
  SCHED_CHANNELS=50 SCHED_DAYS=7 GFX_SECS=20 MEM_HOLD=60 MEM_GROWTH=240
fi

# Progress goes to stderr with --json-only, else to stdout.
say() {
  if [ "$json_only" = 1 ]; then echo "$*" >&2; else echo "$*"; fi
}


# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bench_scratch
BENCH_PROFILE=--release
rel="$CARGO_TARGET_DIR/release"

# ---- rows -------------------------------------------------------------------------------
# figure, value, unit, goal text, op, limit, issue, notes; separated by the unit separator
# (not a tab: `read` would merge empty fields between tabs).
rows="$work/rows.txt"
sep=$'\x1f'
: >"$rows"

# row FIGURE VALUE UNIT GOAL OP LIMIT ISSUE NOTES: VALUE may be empty (not measured); OP is
# lt, le, ge, eq (pass when VALUE OP LIMIT) or "-" (no goal to judge).
row() {
  local IFS="$sep"
  printf '%s\n' "$*" | tr -d '\r' >>"$rows"
}

# Verdict for a row: pass, miss, "-" (no goal), or "not measured".
verdict() {
  local value="$1" op="$2" limit="$3"
  if [ -z "$value" ]; then
    echo "not measured"
  elif [ "$op" = "-" ]; then
    echo "-"
  elif [ "$op" = "eq" ]; then
    [ "$value" = "$limit" ] && echo pass || echo miss
  else
    awk -v v="$value" -v l="$limit" -v op="$op" 'BEGIN {
      ok = (op == "lt" && v + 0 < l + 0) || (op == "le" && v + 0 <= l + 0) || (op == "ge" && v + 0 >= l + 0)
      print (ok ? "pass" : "miss") }'
  fi
}

json_str() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="${s//$'\t'/ }"
  s="${s//$'\n'/ }"
  printf '"%s"' "$s"
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- build ------------------------------------------------------------------------------
say "== building release binary, examples and benchmark tests (once)"
t_build=$(date +%s)
cargo build -q --release --locked --bin retrovue \
  --example bench_scan --example bench_schedule --example bench_graphics --example bench_viewers \
  --example bench_breaks --example bench_guide >&2
bench_build_tests >&2
cargo test -q --release --no-run --test loudness_as_aired --test audio_tracks --test broadcast_ts 2>/dev/null >&2
build_s=$(($(date +%s) - t_build))
t_measure=$(date +%s)

say "== generating source clips"
bench_make_clips "$work"

# ---- 1. SD channel cost vs ffmpeg and the codec floor ---------------------------------------
# Interleaved rounds: the channel, ffmpeg and the floor one after another, $SD_ROUNDS times. A
# shared machine's speed drifts by 10-30% over minutes (single runs of the same build read
# 1.02x to 1.35x the live floor in different sessions), and a drift between the channel's run
# and the floor's would show as their ratio. Each round's ratio is taken within the round;
# the rows give the median of the rounds, their notes the range.
say "== SD channel cost: Retrovue, ffmpeg and the codec floor, $SD_ROUNDS interleaved round(s), ${SD_SECS} s of output each"
sd_rounds="$work/sd-rounds.txt"
: >"$sd_rounds"
for r in $(seq 1 "$SD_ROUNDS"); do
  rv_line="$(bench_retrovue_cpu_per_min "$SD_SECS")"
  ff_line="$(bench_ffmpeg_cpu_per_min "$SD_SECS" "$work")"
  floor_line="$(bench_codec_floor_cpu_per_min "$work")"
  say "round $r: $rv_line"
  say "round $r: $ff_line"
  say "round $r: $floor_line"
  # One line per round; the keys of the three lines are distinct.
  echo "round=$r ${rv_line#BENCH } ${ff_line#BENCH } ${floor_line#BENCH }" >>"$sd_rounds"
done
# $1 / $2 to two decimals; nothing when either is missing.
ratio_of() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'; }
# Each round's value of key $1, one per line (rounds without it left out).
per_round() {
  local line
  while read -r line; do bench_kv "$line" "$1"; done <"$sd_rounds" | grep . || true
}
# Each round's ratio of key $1 to key $2.
per_round_ratio() {
  local line
  while read -r line; do
    ratio_of "$(bench_kv "$line" "$1")" "$(bench_kv "$line" "$2")" && echo
  done <"$sd_rounds" | grep . || true
}
# The median and the range ("lo-hi") of the numbers on stdin, as "median range"; nothing when
# there are none.
median_range() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f %s-%s", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }'
}
# The median of the numbers on stdin.
med() { median_range | cut -d' ' -f1; }
# For a row's notes, what its figure is: "one round", or "median of N rounds (rounds lo-hi)"
# with the range of the numbers on stdin.
rounds_note() {
  local r
  read -r _ r < <(median_range) || true
  if [ "$SD_ROUNDS" -gt 1 ]; then
    echo "median of $SD_ROUNDS rounds${r:+ (rounds $r)}"
  else
    echo "one round"
  fi
}
rv_cpu="$(per_round retrovue_cpu_s_per_min | med)"
ff_cpu="$(per_round ffmpeg_cpu_s_per_min | med)"
rv_video="$(per_round video_s | med)"
failed="the benchmark failed; scripts/bench-playout.sh shows its output"
[ -n "$rv_cpu" ] || rv_video="? ($failed)"
[ -n "$ff_cpu" ] || ff_cpu_note="; $failed"
row "SD channel: Retrovue CPU per output minute" "$rv_cpu" "CPU-s/min" "-" "-" "" "#4" \
  "640x480 29.97 x264 veryfast 2 Mb/s, 3 mixed clips, in-process player with the daemon's malloc settings; ${rv_video:-?} s of video in ${SD_SECS} s; $(per_round retrovue_cpu_s_per_min | rounds_note)"
row "SD channel: ffmpeg CPU per output minute" "$ff_cpu" "CPU-s/min" "-" "-" "" "#4" \
  "same clips, same transcode (HD items BT.709 to BT.601 as Retrovue does), ffmpeg -re to /dev/null, same rounds${ff_cpu_note:-}; $(per_round ffmpeg_cpu_s_per_min | rounds_note)"
row "SD channel: Retrovue / ffmpeg CPU" "$(per_round_ratio retrovue_cpu_s_per_min ffmpeg_cpu_s_per_min | med)" "x" "<= 1.0" le 1.0 "#4" \
  "each round's ratio of the two rows above, $(per_round_ratio retrovue_cpu_s_per_min ffmpeg_cpu_s_per_min | rounds_note)"

floor="$(per_round codec_floor_cpu_s_per_min | med)"
live_floor="$(per_round live_codec_floor_cpu_s_per_min | med)"
live_floor_decode="$(per_round live_decode_cpu_s_per_min | med)"
live_floor_encode="$(per_round live_encode_cpu_s_per_min | med)"
floor_what="decode only (qtdemux, avdec_h264, avdec_aac) + encode only (640x480 I420 and 48 kHz stereo of the same clips into x264enc as the channel sets it, avenc_aac 128k), per minute of the $(per_round clips_s | med) s of clips"
row "SD channel: codec floor CPU per output minute" "$floor" "CPU-s/min" "-" "-" "" "#17" \
  "the codec work alone, the channel's elements and settings in gst-launch-1.0, unpaced: decode $(per_round decode_cpu_s_per_min | med) + encode $(per_round encode_cpu_s_per_min | med); $floor_what; $(per_round codec_floor_cpu_s_per_min | rounds_note)"
row "SD channel: live codec floor CPU per output minute" "$live_floor" "CPU-s/min" "-" "-" "" "#17" \
  "the same codec work paced at the clips' own rate (clocksync), as a channel runs it: decode $live_floor_decode + encode $live_floor_encode; each frame wakes the codecs' threads from idle; $(per_round live_codec_floor_cpu_s_per_min | rounds_note)"
row "SD channel: Retrovue / codec floor CPU" "$(per_round_ratio retrovue_cpu_s_per_min codec_floor_cpu_s_per_min | med)" "x" "<= 1.10" le 1.10 "#17" \
  "the channel's CPU over the unpaced floor, each round's ratio, $(per_round_ratio retrovue_cpu_s_per_min codec_floor_cpu_s_per_min | rounds_note): what scaling, colour conversion, compositing, audio processing, muxing and fan-out add to the codecs, and what running live costs the codecs themselves (ffmpeg: $(per_round_ratio ffmpeg_cpu_s_per_min codec_floor_cpu_s_per_min | med)x)"
row "SD channel: Retrovue / live codec floor CPU" "$(per_round_ratio retrovue_cpu_s_per_min live_codec_floor_cpu_s_per_min | med)" "x" "<= 1.10" le 1.10 "#17" \
  "the channel's CPU over the live floor, each round's ratio, $(per_round_ratio retrovue_cpu_s_per_min live_codec_floor_cpu_s_per_min | rounds_note): what the channel adds to codecs that run in real time (ffmpeg: $(per_round_ratio ffmpeg_cpu_s_per_min live_codec_floor_cpu_s_per_min | med)x)"

# ---- 2. Channels sustained --------------------------------------------------------------
say "== channels sustained in real time (counts $SUSTAIN_COUNTS, ${SUSTAIN_SECS} s each)"
sus="$(bench_channels_sustained "$SUSTAIN_COUNTS" "$SUSTAIN_SECS")"
say "$sus"
kept="" tried="" rss_note=""
while read -r line; do
  n="$(bench_kv "$line" channels)"
  [ -n "$n" ] || continue
  tried="$n"
  if [ "$(bench_kv "$line" behind)" = 0 ]; then
    kept="$n"
    rss_note="$(bench_kv "$line" rss_mb) MB RSS at $n"
  fi
done <<<"$sus"
max_tried="${SUSTAIN_COUNTS##*,}"
if [ -n "$tried" ]; then
  if [ "$kept" = "$tried" ]; then
    sus_note="every count tried kept up (largest tried: $tried); the real limit may be higher"
  else
    sus_note="$tried channels: one fell behind"
  fi
  kept="${kept:-0}"
else
  sus_note="the benchmark test failed"
fi
sus_op=ge
if [ -n "$tried" ] && [ "$kept" = "$tried" ] && [ "$tried" -lt 6 ]; then
  sus_op="-" # every count tried kept up, but fewer than the goal were tried: no verdict
  sus_note="$sus_note; fewer than 6 tried (--quick tries at most $max_tried): no verdict"
fi
row "SD x264 channels sustained in real time" "$kept" "channels" ">= 6" "$sus_op" 6 "#4" \
  "$sus_note; ${SUSTAIN_SECS} s window per count; ${rss_note:-}"

# ---- 2b. Cold tunes in an airing's last seconds -----------------------------------------
say "== cold tunes in an airing's last 0.3-2.4 s (in-process channel)"
last="$(bench_playout_test bench_cold_tune_in_an_airings_last_seconds)"
say "$last"
row "tune, cold channel in an airing's last 2.4 s: programme's first picture, worst" \
  "$(bench_kv "$last" worst_first_keyframe_ms)" "ms" "< 500 ms" lt 500 "#18" \
  "in-process SD channel started with 0.3, 0.6 ... 2.4 s of an airing left, one tune each: $(bench_kv "$last" first_keyframe_ms) ms to the first keyframe (the programme's first picture: what is left, or the next airing)"

# ---- 3. The daemon: RSS, tune latency, fan-out --------------------------------------------
say "== daemon: library, channels, schedule"
home="$work/home"
lib="$home/media"
mkdir -p "$lib/shows/Bench Show/Season 01" "$lib/spots"
# Half-hour grid: 22-minute episodes (one 10 s 4:3 clip looped without re-encoding) and the
# three mixed-format clips as 10 s commercials in the breaks, so channels play real media.
ffmpeg -v error -y -f lavfi -i "testsrc2=s=640x480:r=30000/1001:d=10" -f lavfi -i "sine=f=440:d=10" \
  -c:v libx264 -preset veryfast -b:v 600k -g 60 -pix_fmt yuv420p -c:a aac -b:a 96k -ar 48000 -ac 2 -shortest \
  "$work/seed.mp4"
ffmpeg -v error -y -stream_loop 131 -i "$work/seed.mp4" -c copy "$work/episode.mp4"
for e in 1 2 3; do ln -f "$work/episode.mp4" "$lib/shows/Bench Show/Season 01/Bench Show - S01E0$e.mp4"; done
k=0
for c in "${BENCH_CLIPS[@]}" "${BENCH_CLIPS[@]}"; do
  k=$((k + 1))
  ln -f "$c" "$lib/spots/spot$k.mp4"
done
cat >"$home/retrovue.toml" <<EOF
data_dir = "$home/data"
[schedule]
commercial_repeat_window_min = 1
[playout]
idle_grace_secs = 1
[library]
loudness = false
EOF
rv=("$rel/retrovue" --config "$home/retrovue.toml" --data-dir "$home/data")
export RUST_LOG=warn
{
  "${rv[@]}" source add --folder "$lib/shows" --kind shows --name bench
  "${rv[@]}" source add --folder "$lib/spots" --kind commercials --name spots
  "${rv[@]}" scan --no-loudness
  # 2-5: RSS, warm tunes, fan-out (2-6: the load of the loaded cold tunes); 11, 12, ...: one
  # cold tune each, on a channel that never ran (the first TUNES on an idle daemon, the next
  # TUNES while five channels play).
  for n in 2 3 4 5 6 $(seq 11 $((10 + 2 * TUNES))); do
    "${rv[@]}" channel add "$n" --name "Bench $n" --default-fill "Bench Show" --break-style us \
      --mode on_demand --format sd640x480 --video-kbps 2000
  done
  "${rv[@]}" schedule build --days 1
} >"$work/setup.log" 2>&1 || {
  cat "$work/setup.log" >&2
  exit 1
}

say "== daemon: start (release, 127.0.0.1, no announcements, no discovery)"
log="$work/daemon.log"
RUST_LOG=info bench_daemon_start "$log" "${rv[@]}"
daemon="$BENCH_DAEMON_PID" addr="$BENCH_DAEMON_ADDR"
pids+=("$daemon")
url="http://$addr/stream/2.ts"
viewers="$rel/examples/bench_viewers"

sleep 5
idle_rss="$(bench_rss_mb "$daemon")"
say "BENCH daemon_idle_rss_mb=$idle_rss"
row "daemon RSS, idle" "$idle_rss" "MB" "< 40 MB" lt 40 "#4" "release build, $((5 + 2 * TUNES)) on-demand channels defined, none running, 5 s after start"

# Tune the channels ${@:4} in turn, $3 s apart, each viewer's line appended to file $1 and
# said with label $2.
tunes() {
  local file="$1" label="$2" gap="$3" n line
  shift 3
  : >"$file"
  for n in "$@"; do
    line="$("$viewers" tune "http://$addr/stream/$n.ts" 2>>"$work/viewers.err" || true)"
    say "$label $line"
    echo "$line" >>"$file"
    sleep "$gap"
  done
}

# Keep channels "$@" running, one viewer each (their pids in `hold`); release_channels ends them.
hold_channels() {
  local n
  hold=()
  for n in "$@"; do
    curl -s --noproxy '*' -o /dev/null "http://$addr/stream/$n.ts" &
    hold+=("$!")
    pids+=("$!")
  done
}
release_channels() {
  kill "${hold[@]}" 2>/dev/null || true
  wait "${hold[@]}" 2>/dev/null || true
}

say "== tune latency: $TUNES cold tunes (channels never run), $TUNES warm (channel running)"
# A cold tune uses a channel that never ran in this daemon: a stopped channel's feed still holds
# its last GOP, which a re-tune gets at once (stale bytes, see the notes). 2 s apart: the idle
# grace of 1 s stops each before the next.
tunes "$work/cold.txt" cold 2 $(seq 11 $((10 + TUNES)))
# Warm: channel 2 kept running by another viewer, tuned $TUNES times.
hold_channels 2
sleep 3
# shellcheck disable=SC2046 # "2", TUNES times, one word each
tunes "$work/warm.txt" warm 0.5 $(seq 1 "$TUNES" | sed "s/.*/2/")
release_channels

# A loaded box is loaded by its own channels: five play (a viewer each) while each cold tune
# starts a sixth, the most the encoder budget admits on 2 x86 cores (src/playout/budget.rs).
say "== tune latency: $TUNES cold tunes while 5 channels play"
hold_channels 2 3 4 5 6
sleep 5
cpu0="$(bench_cpu_s "$daemon")" t0="$(date +%s.%N)"
tunes "$work/cold-loaded.txt" "cold, loaded" 2 $(seq $((11 + TUNES)) $((10 + 2 * TUNES)))
busy="$(awk -v a="$cpu0" -v b="$(bench_cpu_s "$daemon")" -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", (b - a) / (e - s) }')"
release_channels
sleep 2

# The values of key $2 in the viewers' lines of file $1, one a line.
tune_values() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" "$1"; }
tune_med() { tune_values "$@" | median; }
peers="peers document 4 s (ErsatzTV), 8 s (Tunarr), 15-20 s (dizqueTV)"
ncold="$(grep -c first_byte "$work/cold.txt" || true)"
nwarm="$(grep -c first_byte "$work/warm.txt" || true)"
row "tune, cold channel: first byte" "$(tune_med "$work/cold.txt" first_byte_ms)" "ms" "< 1000 ms" lt 1000 "#4" \
  "median of $ncold GET /stream/N.ts, each on an on-demand channel that never ran; $peers"
row "tune, cold channel: first keyframe" "$(tune_med "$work/cold.txt" first_keyframe_ms)" "ms" "< 1000 ms" lt 1000 "#4" \
  "median of $ncold; time to the first video keyframe packet; $peers"
tune_worst() { tune_values "$@" | sort -g | tail -1; }
row "tune, cold channel: programme's first picture, worst" "$(tune_worst "$work/cold.txt" first_keyframe_ms)" "ms" "< 500 ms" lt 500 "#18" \
  "worst of $ncold (median $(tune_med "$work/cold.txt" first_keyframe_ms) ms); a cold channel sends nothing before its programme (pipeline::Gate), so its first keyframe is the programme's first picture (tests/playout.rs decodes it); the item is joined in progress"
nloaded="$(grep -c first_byte "$work/cold-loaded.txt" || true)"
row "tune, cold channel while 5 play: programme's first picture, worst" "$(tune_worst "$work/cold-loaded.txt" first_keyframe_ms)" "ms" "< 500 ms" lt 500 "#18" \
  "worst of $nloaded (median $(tune_med "$work/cold-loaded.txt" first_keyframe_ms) ms); five other channels playing, each with a viewer: the daemon used $busy cores of 2 meanwhile"
row "tune, warm channel: first byte" "$(tune_med "$work/warm.txt" first_byte_ms)" "ms" "< 50 ms" lt 50 "#4" \
  "median of $nwarm tunes while another viewer keeps the channel running; $peers"
row "tune, warm channel: first keyframe" "$(tune_med "$work/warm.txt" first_keyframe_ms)" "ms" "< 50 ms" lt 50 "#4" \
  "median of $nwarm; the GOP cache starts at a keyframe; $peers"

say "== daemon RSS with 4 channels running (${HOLD_SECS} s)"
hold_channels 2 3 4 5
sleep "$HOLD_SECS"
rss4="$(bench_rss_mb "$daemon")"
say "BENCH daemon_rss_4_channels_mb=$rss4"
release_channels
row "daemon RSS, 4 channels running" "$rss4" "MB" "-" "-" "" "#4" \
  "one viewer each, after ${HOLD_SECS} s; #4 asks for the figure without a goal"

say "== fan-out: 1, 10, 100 viewers of one channel (${FAN_WINDOW} s windows)"
sleep 2
fan="$("$viewers" fanout "$url" "$daemon" "$FAN_WINDOW" 1,10,100 2>>"$work/viewers.err" || true)"
say "$fan"
while read -r line; do
  n="$(bench_kv "$line" viewers)"
  [ -n "$n" ] || continue
  same="$(bench_kv "$line" identical)"
  reason="${line##*reason=}"
  gops="$(bench_kv "$line" gops_compared)"
  bytes="$(bench_kv "$line" bytes_compared_per_viewer)"
  noise=""
  [ "$n" -lt 10 ] && noise="; below the noise of the encoder's own CPU at this count"
  row "fan-out, $n viewer(s): CPU added per viewer" "$(bench_kv "$line" added_cpu_ms_per_s_per_viewer)" \
    "ms CPU/s" "-" "-" "" "#9" \
    "daemon CPU over $(bench_kv "$line" window_s) s with $n + 1 viewers minus with 1, divided by $n$noise"
  if [ "$same" = yes ]; then
    note="all $n + 1 viewers hold the same $gops GOPs ($bytes bytes each) from a common keyframe to a common end GOP"
  else
    note="${reason:-the fan-out benchmark failed}"
  fi
  row "fan-out, $n viewer(s): identical bytes" "$same" "" "yes" eq yes "#9" "$note"
done <<<"$fan"
if ! grep -q 'viewers=' <<<"$fan"; then
  row "fan-out: CPU per viewer, identical bytes" "" "" "yes" eq yes "#9" \
    "the fan-out benchmark failed: $(tail -1 "$work/viewers.err" 2>/dev/null)"
fi

kill -TERM "$daemon" 2>/dev/null || true
wait "$daemon" 2>/dev/null || true

# ---- 3b. Tunes while a schedule build runs ----------------------------------------------
say "== tune latency idle and while a ${SCHED_CHANNELS}-channel ${SCHED_DAYS}-day schedule build runs"
tb="$(CHANNELS="$SCHED_CHANNELS" DAYS="$SCHED_DAYS" SAMPLES="$TUNES" scripts/bench-tune-build.sh \
  "$rel/retrovue" "$viewers" 2>"$work/tune-build.err" | grep '^BENCH' || true)"
say "$tb"
tbk() { bench_kv "$(grep "case=$1 " <<<"$tb" || true)" "$2"; }
for what in lineup tune; do
  label=/lineup.json path="GET /lineup.json"
  [ "$what" = tune ] && label=/auto/v1 path="a tune of /auto/v1 (the channel kept running by another viewer)"
  idle_med="$(tbk idle "${what}_med_ms")" idle_max="$(tbk idle "${what}_max_ms")"
  # "Unchanged": no worse than the worst idle figure, plus 20 ms for the CPU the build itself
  # takes on a small box.
  limit="$(awk -v m="${idle_max:-0}" 'BEGIN { printf "%.1f", m + 20 }')"
  failed=""
  [ -n "$idle_med" ] || failed="; the benchmark failed: $(tail -1 "$work/tune-build.err" 2>/dev/null)"
  for case in web cli cpu; do
    who="the daemon rebuilds (the web page's rebuild now)"
    [ "$case" = cli ] && who="retrovue schedule build --force runs in another process"
    during="during a schedule build ($case)" took="${SCHED_CHANNELS} channels x ${SCHED_DAYS} days in $(tbk "$case" build_s) s"
    if [ "$case" = cpu ]; then
      who="no build runs, one spinning process per core (the control: CPU sharing alone)"
      during="with every core busy and no build (control)" took="for $(tbk cpu busy_s) s"
    fi
    row "$label first byte $during" "$(tbk "$case" "${what}_med_ms")" "ms" \
      "unchanged from idle (idle median ${idle_med:-?} ms, worst ${idle_max:-?} ms)" le "$limit" "#16" \
      "median of $(tbk "$case" samples) samples of $path while $who, $took; worst $(tbk "$case" "${what}_max_ms") ms$failed"
  done
done

# ---- 3c. Memory per running SD channel ------------------------------------------------------
say "== memory: RSS per SD channel at 1, 2, 4, 8 channels of 15-30 s items, vs ffmpeg (${MEM_HOLD} s per count, ${MEM_GROWTH} s more at 4)"
mem="$(HOLD="$MEM_HOLD" GROWTH_HOLD="$MEM_GROWTH" COUNTS=1,2,4,8 GROWTH_AT=4 scripts/bench-memory.sh "$rel/retrovue" \
  2>"$work/memory.err" | grep '^BENCH' || true)"
say "$mem"
mk() { bench_kv "$(grep "BENCH mem $1" <<<"$mem" | head -1 || true)" "$2"; }
ff_rss="$(mk ffmpeg_rss ffmpeg_rss_mb)" mem_idle="$(mk idle_rss idle_rss_mb)"
mem_enc="$(mk encoder= encoder)"
failed=""
[ -n "$mem_idle" ] || failed="; the benchmark failed: $(tail -1 "$work/memory.err" 2>/dev/null)"
row "memory: ffmpeg RSS, the same SD transcode" "$ff_rss" "MB" "-" "-" "" "#17" \
  "one ffmpeg process transcoding the same 15-30 s items as the channels below (settings of the SD CPU rows), -re, after ${MEM_HOLD} s; peak $(mk ffmpeg_rss ffmpeg_peak_rss_mb) MB; its own memory $(mk ffmpeg_rss ffmpeg_anon_mb) MB, pages of its program and libraries $(mk ffmpeg_rss ffmpeg_file_mb) MB$failed"
for n in 1 2 4 8; do
  row "memory: RSS added per SD channel, $n channel(s)" "$(mk "channels=$n " added_per_channel_mb)" "MB" \
    "<= ffmpeg (${ff_rss:-?} MB)" le "${ff_rss:-0}" "#17" \
    "(daemon RSS $(mk "channels=$n " rss_mb) MB - idle ${mem_idle:-?} MB) / $(mk "channels=$n " running) channels running of $n tuned (the encoder budget admits the rest or not); the RSS is the median of $(mk "channels=$n " readings) readings every 2 s over the second half of ${MEM_HOLD} s at the count (lowest $(mk "channels=$n " rss_low_mb), highest $(mk "channels=$n " rss_peak_mb) MB: a channel holds two items' bins around each transition); encoder ${mem_enc:-?}; $(mk "channels=$n " cpu_s_per_channel_min) CPU-s per channel-minute, $(mk "channels=$n " threads) threads; the daemon's own memory $(mk "channels=$n " anon_mb) MB (idle $(mk idle_rss anon_mb)), pages of its program, libraries and plugins $(mk "channels=$n " file_mb) MB (idle $(mk idle_rss file_mb))$failed"
done
row "memory: daemon RSS, 4 SD channels of short items" "$(mk growth warm_rss_mb)" "MB" "<= 400 MB" le 400 "#17" \
  "the whole daemon, 4 channels each held by a viewer, items of 15-30 s (20 s episodes, 15-30 s spots, HD and SD), ${MEM_HOLD} s after the fourth started; peak $(mk growth peak_rss_mb) MB over the next ${MEM_GROWTH} s"
row "memory: RSS growth, 4 channels over ${MEM_GROWTH} s" "$(mk growth growth_mb)" "MB" "<= 10 MB" le 10 "#17" \
  "the median RSS of the window's last quarter of readings (every 5 s) minus that of its first quarter, after ${MEM_HOLD} s of warm-up; the allocator's live blocks over the same window $(mk growth heap_first_quarter_mb) -> $(mk growth heap_last_quarter_mb) MB ($(mk growth heap_growth_mb) MB; level live blocks under a rising RSS are holes in the heap, not a leak); the hour-long check is by hand (HOLD=60 GROWTH_HOLD=3600 scripts/bench-memory.sh)"
split4() { mk "cpu_split channels=4 " "$1"; }
row "CPU per channel-minute by what the threads do, 4 SD channels" "$(split4 total)" "CPU-s/min" "-" "-" "" "#17" \
  "the daemon's threads read every second over the ${MEM_HOLD} s at 4 channels, by their names: the items' demuxing, decoding, scaling and colour conversion $(split4 items); the video encoder $(split4 video_encoder); the audio tracks' limiter and AAC encoder $(split4 audio_encoder); the compositor and graphics $(split4 video_mixer); the audio mixer $(split4 audio_mixer); the mux $(split4 mux); the black and silent backgrounds $(split4 backgrounds); the rest (viewers, HLS, the channels' actors) $(split4 other); the codec floor rows above did decode ${live_floor_decode:-?} and encode ${live_floor_encode:-?} live"
row "memory: encoder in use" "$mem_enc" "" "-" "-" "" "#17" \
  "from the daemon's log (channel pipeline playing); $(mk encoder= item_failures) items failed, $(mk encoder= fell_behind) times a channel fell behind real time"

# ---- 4. Library scan --------------------------------------------------------------------
say "== library: scan and unchanged re-scan of $SCAN_ITEMS items"
scan="$(RUST_LOG=warn "$rel/examples/bench_scan" "$SCAN_ITEMS" 2>&1 | tee "$work/scan.txt" | grep '^BENCH' || true)"
say "$scan"
full_rate="$(bench_kv "$(grep 'BENCH scan_full' <<<"$scan" || true)" items_per_s)"
re_line="$(grep 'BENCH scan_rescan' <<<"$scan" | tail -1 || true)"
re_s="$(bench_kv "$re_line" seconds)"
re_rate="$(bench_kv "$re_line" items_per_s)"
row "library: first scan with probing" "$full_rate" "items/s" "-" "-" "" "#2" \
  "$SCAN_ITEMS folder items with .nfo files (a few real clips hard-linked under every name)"
# Goal: 5,000 unchanged items re-scanned under 2 s, i.e. at least 2,500 items/s.
row "library: unchanged re-scan rate" "$re_rate" "items/s" ">= 2500 items/s" ge 2500 "#2" \
  "${re_s:-?} s for $SCAN_ITEMS unchanged items (goal: 5,000 under 2 s); second re-scan"

# Break points found in the loudness pass (issue #20): the same pass with and without them.
BREAKS_SECS=1320
[ "$quick" = 1 ] && BREAKS_SECS=300
say "== library: break-point search cost ($BREAKS_SECS s episode, 3 interleaved rounds)"
brk="$(RUST_LOG=warn "$rel/examples/bench_breaks" "$BREAKS_SECS" 3 2>&1 | tee "$work/breaks.txt" | grep '^plain_s=' || true)"
say "$brk"
row "library: scan time added by break detection" "$(bench_kv "$brk" overhead_pct)" "%" "<= 5 %" le 5 "#20" \
  "loudness pass $(bench_kv "$brk" plain_s) s (it decodes all the video) vs $(bench_kv "$brk" breaks_s) s with breaks (median of 3); $(bench_kv "$brk" found) of $(bench_kv "$brk" gaps) gaps found; $(bench_kv "$brk" video_decoded_pct) % of the video decoded"

# ---- 5. Schedule ------------------------------------------------------------------------
say "== schedule: build $SCHED_DAYS days x $SCHED_CHANNELS channels from 50,000 items, XMLTV, lookup"
sched="$(RUST_LOG=warn "$rel/examples/bench_schedule" "$SCHED_CHANNELS" "$SCHED_DAYS" 2>&1 | tee "$work/sched.txt" | grep '^BENCH' || true)"
say "$sched"
sk() { bench_kv "$(grep "BENCH schedule" <<<"$sched" || true)" "$1"; }
row "schedule: build (plan + write)" "$(sk build_ms)" "ms" "< 2000 ms" lt 2000 "#3" \
  "$SCHED_DAYS days x $SCHED_CHANNELS channels from a 50,000-item library; $(sk airings) airings"
row "schedule: XMLTV generation" "$(sk xmltv_ms)" "ms" "< 200 ms" lt 200 "#3" "$SCHED_CHANNELS channels x $SCHED_DAYS days, read + render"
row "schedule: what is on now (in memory)" "$(sk lookup_mem_us)" "µs" "< 10 µs" lt 10 "#3" "timeline lookup, 1,000,000 random instants"
row "schedule: what is on now (SQL)" "$(sk lookup_sql_us)" "µs" "< 10 µs" lt 10 "#3" "airing_at via the SQL index, 10,000 instants"

# ---- 6. Graphics ------------------------------------------------------------------------
# Two programs: a ball on black (x264's cheapest picture: the graphics' share is largest) and
# ffmpeg's testsrc2 (moving and detailed, closer to what a channel airs).
gfx_programs=("ball:a ball on black, the cheapest picture to encode" "testsrc2:ffmpeg testsrc2, a moving detailed picture")
if [ "$quick" = 1 ]; then
  for p in "${gfx_programs[@]}"; do
    row "graphics: bug + lower third CPU (${p%%:*})" "" "x" "< 1.15x" lt 1.15 "#6" "skipped by --quick (takes about 8 minutes)"
    row "graphics: bug + clock + crawl CPU (${p%%:*})" "" "x" "< 1.15x" lt 1.15 "#6" "skipped by --quick"
  done
else
  say "== graphics overhead (2 programs x 3 rounds of 3 variants x ${GFX_SECS} s)"
  gfx="$(RUST_LOG=warn "$rel/examples/bench_graphics" "$GFX_SECS" 3 2>&1 | tee "$work/gfx.txt" || true)"
  say "$gfx"
  gfx_ratio() { sed -n "s/^ratio $1 ($2): *\([0-9.]*\)x.*/\1/p" <<<"$gfx"; }
  for p in "${gfx_programs[@]}"; do
    name="${p%%:*}" what="${p#*:}"
    row "graphics: bug + lower third CPU ($name)" "$(gfx_ratio "bug + lower third vs plain" "$name")" "x" "< 1.15x" lt 1.15 "#6" \
      "program: $what; the same x264 channel with and without graphics, median of 3 interleaved ${GFX_SECS} s runs each; $(gfx_ratio "bug + lower third from the element cost alone" "$name")x from the graphics element's own per-frame cost"
    row "graphics: bug + clock + crawl CPU ($name)" "$(gfx_ratio "bug + clock + crawl vs plain" "$name")" "x" "< 1.15x" lt 1.15 "#6" \
      "same program; $(gfx_ratio "bug + clock + crawl from the element cost alone" "$name")x from the element's own per-frame cost (whole-channel runs are noisier)"
  done
fi

# The guide channel (issue #20): its scrolling grid over the preview against a regular SD
# channel with its bug and lower third, same clip, same encoder, rounds alternating.
GUIDE_SECS=20
[ "$quick" = 1 ] && GUIDE_SECS=8
say "== guide channel vs regular SD channel (3 rounds x 2 x ${GUIDE_SECS} s)"
gde="$(RUST_LOG=warn "$rel/examples/bench_guide" "$GUIDE_SECS" 3 12 2>&1 | tee "$work/guide.txt" || true)"
say "$gde"
gde_line="$(grep '^regular_cpu_s=' <<<"$gde" || true)"
row "graphics: guide channel CPU vs regular SD channel" "$(bench_kv "$gde_line" ratio)" "x" "<= 1.2x" le 1.2 "#20" \
  "12-channel grid scrolling over a testsrc2 preview: $(bench_kv "$gde_line" guide_cpu_s) vs $(bench_kv "$gde_line" regular_cpu_s) CPU s over ${GUIDE_SECS} s (median of 3 alternating runs, x264 640x480); graphics element $(bench_kv "$gde_line" guide_frame_ms) ms vs $(bench_kv "$gde_line" regular_frame_ms) ms per frame"

# ---- 7. Loudness as aired, audio tracks ---------------------------------------------------
say "== loudness as aired: 6 item classes on one channel, ffmpeg ebur128 per item on the output (about 2 minutes)"
loud="$(cargo test -q --release --test loudness_as_aired bench_ -- --ignored --nocapture --test-threads=1 2>/dev/null |
  grep '^BENCH' || echo "BENCH loudness failed")"
say "$loud"
worst_tp=""
declare -A class_note=(
  [loud]="stereo, 12 LU over the target, measured"
  [quiet]="stereo, 10 LU under the target, measured"
  [mono]="mono at the target in its own layout (+3 LU once duplicated to stereo)"
  [surround]="5.1 at the target in its own layout (about -10 LU once downmixed)"
  [clicks]="quiet tone (12 LU under) with full-scale clicks: +12 dB gain, limiter"
  [unmeasured]="stereo, 10 LU over, never measured: on-air loudness control"
)
for class in loud quiet mono surround clicks unmeasured; do
  line="$(grep "class=$class " <<<"$loud" || true)"
  err="$(bench_kv "$line" error_lu)"
  abs=""
  [ -n "$err" ] && abs="$(awk -v e="$err" 'BEGIN { printf "%.2f", (e < 0 ? -e : e) }')"
  tp="$(bench_kv "$line" true_peak_dbtp)"
  if [ -n "$tp" ] && { [ -z "$worst_tp" ] || awk -v a="$tp" -v b="$worst_tp" 'BEGIN { exit !(a > b) }'; }; then
    worst_tp="$tp"
  fi
  row "loudness as aired: $class item, error" "$abs" "LU" "<= 1 LU" le 1.0 "#18" \
    "${class_note[$class]}; 12 s item, target -24 LUFS, output decoded and measured with ffmpeg ebur128: ${err:-?} LU (${line:+from 4 s on: $(bench_kv "$line" late_error_lu) LU, }true peak ${tp:-?} dBTP)"
done
row "loudness as aired: highest true peak" "$worst_tp" "dBTP" "<= -1 dBTP" le -1.0 "#18" \
  "highest of the 6 items above (limiter ceiling -3 dBTP before AAC)"
on_air="$(grep 'BENCH on_air_measurement' <<<"$loud" || true)"
diff=""
if [ -n "$on_air" ]; then
  diff="$(awk -v a="$(bench_kv "$on_air" lufs)" -v b="$(bench_kv "$on_air" library_lufs)" 'BEGIN { d = a - b; printf "%.2f", (d < 0 ? -d : d) }')"
fi
row "loudness: on-air measurement vs the library's" "$diff" "LU" "-" "-" "" "#18" \
  "the never-measured item's loudness as playout measured it while it aired ($(bench_kv "$on_air" seconds) s), stored for its next airing"
cost="$(cargo test -q --release --test loudness_as_aired bench_audio_processing_cost -- --ignored --nocapture 2>/dev/null |
  grep '^BENCH' || true)"
say "$cost"
row "audio: true-peak limiter CPU per track" "$(bench_kv "$cost" limiter_ms_per_s)" "ms CPU/s" "-" "-" "" "#18" \
  "one core of this machine per second of 48 kHz stereo noise at programme level (peaks -6 dBFS); every audio track of every channel runs one; $(bench_kv "$cost" limiter_worst_ms_per_s) ms/s on loud noise that keeps its oversampling busy on every frame"
row "audio: on-air loudness control CPU" "$(bench_kv "$cost" on_air_control_ms_per_s)" "ms CPU/s" "-" "-" "" "#18" \
  "per second of 48 kHz stereo, only while an item that was never measured airs (else a fixed gain)"
if [ "$quick" = 1 ]; then
  row "audio tracks: languages in the PMT, content per track" "" "" "yes" eq yes "#18" "skipped by --quick (about 1 minute)"
else
  say "== audio tracks: a two-language channel read back per PID (about 1 minute)"
  tracks_ok=no
  if cargo test -q --release --test audio_tracks -- --test-threads=1 >"$work/tracks.txt" 2>&1; then tracks_ok=yes; fi
  row "audio tracks: languages in the PMT, content per track" "$tracks_ok" "" "yes" eq yes "#18" \
    "eng + spa channel: both ISO 639 languages in the PMT from start to end, each PID carries its language's tone, a missing language the main audio (or silence by setting); tests/audio_tracks.rs"
fi

# ---- 7b. Transport-stream timing (issue #18) ------------------------------------------------
say "== transport stream: 60 s of an always-on channel of mixed spots, TS timing and lip sync (about 75 s)"
tsl="$(cargo test -q --release --test broadcast_ts -- --nocapture --test-threads=1 2>/dev/null | grep '^BENCH ts' || true)"
say "${tsl:-BENCH ts failed}"
tsn="tests/broadcast_ts.rs, 60 s of /stream/N.ts crossing $(bench_kv "$tsl" changes) item changes of 7 mixed sources"
row "ts: continuity-counter errors" "$(bench_kv "$tsl" cc_errors)" "" "0" eq 0 "#18" "$tsn"
row "ts: PCR interval, max" "$(bench_kv "$tsl" pcr_interval_max_ms)" "ms" "<= 40 ms" le 40 "#18" "TR 101 290 2.3; $tsn"
row "ts: PCR jitter against the PTS clock" "$(bench_kv "$tsl" pcr_dts_spread_ns)" "ns" "<= 500 ns" le 500 "#18" \
  "spread of PCR - DTS at every PES start carrying a PCR (on the main audio track); TR 101 290 PCR_AC against byte position is $(bench_kv "$tsl" pcr_ac_vbr_ns) ns on this variable-rate (unpadded) HTTP stream, meaningful only at constant bitrate"
row "ts: PAT interval, max" "$(bench_kv "$tsl" pat_max_ms)" "ms" "<= 100 ms" le 100 "#18" "TR 101 290 allows 500 ms; $tsn"
row "ts: PMT interval, max" "$(bench_kv "$tsl" pmt_max_ms)" "ms" "<= 100 ms" le 100 "#18" "TR 101 290 allows 500 ms; $tsn"
row "ts: PTS steps not one video frame / one AAC frame" "$(bench_kv "$tsl" pts_step_errors)" "" "0" eq 0 "#18" "$tsn"
row "ts: lip sync, sound earliest" "$(bench_kv "$tsl" sound_early_ms)" "ms" ">= -40 ms" ge -40 "#18" \
  "EBU R37; flash + 1 kHz beep pairs ($(bench_kv "$tsl" pairs), $(bench_kv "$tsl" unpaired) unpaired) near both ends of every item, decoded output"
row "ts: lip sync, sound latest" "$(bench_kv "$tsl" sound_late_ms)" "ms" "<= 60 ms" le 60 "#18" "EBU R37; as the row above"

# ---- 8. aarch64 binary size ---------------------------------------------------------------
arm="${RETROVUE_AARCH64_BIN:-$CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/retrovue}"
if [ "$cross" = 1 ]; then
  say "== cross-building for aarch64 (scripts/cross-build.sh aarch64)"
  arm="$(bash scripts/cross-build.sh aarch64 | tail -1)" || arm=""
fi
if [ -n "$arm" ] && [ -f "$arm" ]; then
  size="$(stat -c %s "$arm")"
  stripped="$(file -b "$arm" 2>/dev/null | grep -o 'not stripped\|stripped' | head -1 || true)"
  row "aarch64 binary size" "$size" "bytes" "< 15 MB" lt 15000000 "#8" \
    "$arm (${stripped:-strip state unknown}), built $(date -u -r "$arm" +%FT%TZ)"
else
  why="no cross-built binary at $arm; run scripts/cross-build.sh aarch64 (or bench.sh --cross)"
  command -v aarch64-linux-gnu-gcc >/dev/null || why="$why; aarch64-linux-gnu-gcc is not installed"
  row "aarch64 binary size" "" "bytes" "< 15 MB" lt 15000000 "#8" "$why"
fi

# ---- report -----------------------------------------------------------------------------
measure_s=$(($(date +%s) - t_measure))
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
cpu_model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
mem_gb="$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
os="$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null || true)"
gst="$(gst-launch-1.0 --version 2>/dev/null | sed -n 's/^GStreamer //p' | head -1)"
machine="$(nproc) cores ($cpu_model), ${mem_gb} GB, ${os:-unknown OS}, GStreamer ${gst:-?}"
when="$(date -u +%FT%TZ)"

{
  printf '{\n  "generated": %s,\n  "mode": %s,\n' "$(json_str "$when")" "$(json_str "$([ "$quick" = 1 ] && echo quick || echo full)")"
  printf '  "machine": %s,\n  "load_average_before": %s,\n  "load_average_after": %s,\n' \
    "$(json_str "$machine")" "$(json_str "$load_before")" "$(json_str "$load_after")"
  printf '  "build_seconds": %s,\n  "measure_seconds": %s,\n  "rows": [\n' "$build_s" "$measure_s"
  first=1
  while IFS="$sep" read -r fig value unit goal op limit issue notes; do
    [ "$first" = 1 ] || printf ',\n'
    first=0
    if [[ "$value" =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then v="$value"; elif [ -z "$value" ]; then v=null; else v="$(json_str "$value")"; fi
    printf '    {"figure": %s, "value": %s, "unit": %s, "goal": %s, "issue": %s, "result": %s, "notes": %s}' \
      "$(json_str "$fig")" "$v" "$(json_str "$unit")" "$(json_str "$goal")" "$(json_str "$issue")" \
      "$(json_str "$(verdict "$value" "$op" "$limit")")" "$(json_str "$notes")"
  done <"$rows"
  printf '\n  ]\n}\n'
} >"$out"

if [ "$json_only" = 1 ]; then
  cat "$out"
else
  echo
  echo "Retrovue benchmark, $when, $([ "$quick" = 1 ] && echo "quick run" || echo "full run")"
  echo "machine: $machine; load average before $load_before, after $load_after"
  echo "build ${build_s} s, measurements ${measure_s} s"
  echo
  echo "| figure | value | goal | result | issue | notes |"
  echo "|---|---|---|---|---|---|"
  while IFS="$sep" read -r fig value unit goal op limit issue notes; do
    shown="${value:-—}"
    [ -n "$value" ] && [ -n "$unit" ] && shown="$value $unit"
    [ "$goal" = "-" ] && goal="—"
    echo "| $fig | $shown | $goal | $(verdict "$value" "$op" "$limit") | $issue | $notes |"
  done <"$rows"
  echo
  echo "JSON: $out"
fi
