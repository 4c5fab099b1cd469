# shellcheck shell=bash
# Measurement pieces shared by scripts/bench-playout.sh and scripts/bench.sh (sourced, not run).
# Each function prints `BENCH key=value ...` lines; the callers decide what to show.
# Needs: cd at the repository root, CARGO_TARGET_DIR set, ffmpeg on PATH.

# Cargo profile flag for the benchmark tests: empty (debug) or --release.
BENCH_PROFILE="${BENCH_PROFILE:-}"

# A scratch directory in $work, removed at exit, and $pids: background processes (daemons,
# viewers) killed at exit.
bench_scratch() {
  work="$(mktemp -d)"
  pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# Generate the 3 x 10 s source clips (H.264 + AAC: 1280x720 16:9 BT.709, 640x480 4:3 BT.601,
# 1280x720 BT.709) into directory $1; sets the array BENCH_CLIPS and exports
# RETROVUE_BENCH_CLIPS for the tests. Tagged like real files (HD in BT.709, SD in BT.601), so
# both sides know each clip's colours.
bench_make_clips() {
  local dir="$1" i=0 spec size src colours f
  BENCH_CLIPS=()
  for spec in "1280x720:testsrc2:bt709" "640x480:smptebars:smpte170m" "1280x720:testsrc:bt709"; do
    IFS=: read -r size src colours <<<"$spec"
    f="$dir/clip$i.mp4"
    ffmpeg -v error -y -f lavfi -i "$src=s=$size:r=30000/1001:d=10" -f lavfi -i "sine=f=$((300 + 200 * i)):d=10" \
      -c:v libx264 -preset veryfast -b:v 4000k -g 60 -pix_fmt yuv420p \
      -colorspace "$colours" -color_primaries "$colours" -color_trc "$colours" \
      -c:a aac -b:a 160k -ar 48000 -ac 2 -shortest "$f"
    BENCH_CLIPS+=("$f")
    i=$((i + 1))
  done
  RETROVUE_BENCH_CLIPS="$(
    IFS=:
    echo "${BENCH_CLIPS[*]}"
  )"
  export RETROVUE_BENCH_CLIPS
}

# Build the benchmark tests (tests/playout.rs) once, in $BENCH_PROFILE.
bench_build_tests() {
  # shellcheck disable=SC2086 # BENCH_PROFILE is empty or one flag
  cargo test -q $BENCH_PROFILE --no-run --test playout 2>/dev/null
}

# The malloc settings `retrovue serve` gives itself (src/director/allocator.rs SETTINGS; a unit
# test there keeps the two the same). The in-process players of the benchmark tests run with
# them, so a channel costs here what it costs in the daemon: with frame-sized blocks mapped
# afresh, the page faults of new buffers are part of the bill.
BENCH_DAEMON_MALLOC=(MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=4194304)

# Run one ignored benchmark test of tests/playout.rs with the daemon's malloc settings; prints
# its BENCH lines (or a failure).
bench_playout_test() {
  # shellcheck disable=SC2086 # BENCH_PROFILE is empty or one flag
  env "${BENCH_DAEMON_MALLOC[@]}" cargo test -q $BENCH_PROFILE --test playout "$1" -- --ignored --nocapture --test-threads=1 2>/dev/null |
    grep '^BENCH' || echo "BENCH $1 failed"
}

# Retrovue's side of "CPU per minute of SD output": one channel playing the clips for $1 s.
bench_retrovue_cpu_per_min() {
  RETROVUE_BENCH_SECS="$1" bench_playout_test bench_cpu_per_minute_one_sd_channel
}

# ffmpeg doing the SD transcode Retrovue's channels do (what ErsatzTV/Tunarr run per item): scale
# with borders to 640x480, 29.97 fps, x264 veryfast zerolatency 2000k CBR (vbv 1 s), GOP 60
# without scene cuts, AAC 128k stereo 48 kHz, MPEG-TS, read in real time (-re) from the concat
# list $1 for $2 s of output into /dev/null. Retrovue's encoder settings are the same (x264's SEI
# option strings of both outputs are identical). Retrovue's SD output is BT.601 and says so, so
# the HD items are converted from BT.709 (scale out_color_matrix=bt601; the SD item is left
# alone) and the stream is tagged BT.601. With $3 = plain the conversion is left out (HD items'
# colours then come out slightly wrong): shown so the cost of that choice is visible.
bench_ffmpeg_sd() {
  local list="$1" secs="$2" matrix=":out_color_matrix=bt601"
  local tags=(-colorspace smpte170m -color_primaries smpte170m -color_trc smpte170m)
  if [ "${3:-}" = plain ]; then
    matrix="" tags=()
  fi
  ffmpeg -v error -nostdin -re -f concat -safe 0 -i "$list" -t "$secs" \
    -vf "scale=640:480:force_original_aspect_ratio=decrease$matrix,pad=640:480:(ow-iw)/2:(oh-ih)/2,fps=30000/1001" \
    -c:v libx264 -preset veryfast -tune zerolatency -b:v 2000k -maxrate 2000k -bufsize 2000k -g 60 -keyint_min 60 \
    -sc_threshold 0 "${tags[@]}" -c:a aac -b:a 128k -ar 48000 -ac 2 -f mpegts -y /dev/null
}

# A concat list $1 of the clips ${@:3} repeated to cover $2 s.
bench_concat_list() {
  local list="$1" secs="$2" c
  shift 2
  : >"$list"
  for _ in $(seq 1 $(((secs + 29) / 30))); do
    for c in "$@"; do echo "file '$c'" >>"$list"; done
  done
}

# ffmpeg's side of "CPU per minute of SD output": bench_ffmpeg_sd of the bench clips for $1 s,
# work files in directory $2 ($3 = plain: without the colour conversion).
bench_ffmpeg_cpu_per_min() {
  local secs="$1" list="$2/ffmpeg-list.txt" t key=ffmpeg_cpu_s_per_min
  [ "${3:-}" = plain ] && key=ffmpeg_no_colour_conversion_cpu_s_per_min
  bench_concat_list "$list" "$secs" "${BENCH_CLIPS[@]}"
  t="$(bench_add_cpu_s 0 bench_ffmpeg_sd "$list" "$secs" "${3:-}")"
  echo "BENCH $key=$(awk -v t="$t" -v s="$secs" 'BEGIN { printf "%.2f", t * 60 / s }')"
}

# The codec floor of the SD channel: the codec work alone, with the channel's own elements and
# settings, run by gst-launch-1.0 (GStreamer, as the channel; not ffmpeg). Decode only: each
# bench clip through qtdemux ! h264parse ! avdec_h264 and aacparse ! avdec_aac into fakesinks,
# the video decoder set as the channel sets it (src/playout/item.rs): without direct rendering,
# and on x86-64 with one thread (the bench clips are 720p and smaller).
# Encode only: the same clips as the channel's encoder sees them (640x480 I420 29.97, 48 kHz
# stereo; made beforehand by ffmpeg into raw files in directory $1, not timed) through x264enc
# with the channel's settings (src/playout/encoder.rs: zerolatency, veryfast, GOP 60 without
# scene cuts, 2000 kb/s, vbv 1000 ms) and avenc_aac 128 kb/s. Each twice: unpaced (as fast as
# they go) and live (`clocksync` before the sinks, or before the encoders, at the clips' own
# rate: a channel decodes and encodes in real time, where every frame wakes the codecs' threads
# from idle, which an unpaced run never pays). CPU seconds per minute of the clips' length.
bench_codec_floor_cpu_per_min() {
  local dir="$1" c i=0 len=0 d mode sync vdec="avdec_h264 direct-rendering=false"
  [ "$(uname -m)" = x86_64 ] && vdec+=" max-threads=1"
  local -A dec=([unpaced]=0 [live]=0) enc=([unpaced]=0 [live]=0)
  for c in "${BENCH_CLIPS[@]}"; do
    d="$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$c")"
    len="$(awk -v a="$len" -v b="$d" 'BEGIN { print a + b }')"
    ffmpeg -v error -nostdin -y -i "$c" \
      -vf "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,fps=30000/1001" \
      -pix_fmt yuv420p -f rawvideo "$dir/floor$i.yuv" -vn -ar 48000 -ac 2 -f s16le "$dir/floor$i.pcm"
    for mode in unpaced live; do
      sync=""
      [ "$mode" = live ] && sync="clocksync !"
      # shellcheck disable=SC2086 # $sync is empty or two words of the launch line, $vdec words
      dec[$mode]="$(bench_add_cpu_s "${dec[$mode]}" gst-launch-1.0 -q filesrc location="$c" ! qtdemux name=d \
        d.video_0 ! queue ! h264parse ! $vdec ! $sync fakesink \
        d.audio_0 ! queue ! aacparse ! avdec_aac ! $sync fakesink)"
      # shellcheck disable=SC2086
      enc[$mode]="$(bench_add_cpu_s "${enc[$mode]}" gst-launch-1.0 -q \
        filesrc location="$dir/floor$i.yuv" ! rawvideoparse width=640 height=480 format=i420 framerate=30000/1001 ! $sync \
        x264enc tune=zerolatency speed-preset=veryfast key-int-max=60 bitrate=2000 vbv-buf-capacity=1000 \
        option-string="scenecut=0:min-keyint=60" ! fakesink \
        filesrc location="$dir/floor$i.pcm" ! rawaudioparse format=pcm pcm-format=s16le sample-rate=48000 num-channels=2 ! $sync \
        audioconvert ! avenc_aac bitrate=128000 ! fakesink)"
    done
    rm -f "$dir/floor$i.yuv" "$dir/floor$i.pcm"
    i=$((i + 1))
  done
  awk -v d="${dec[unpaced]}" -v e="${enc[unpaced]}" -v ld="${dec[live]}" -v le="${enc[live]}" -v l="$len" 'BEGIN {
    printf "BENCH codec_floor_cpu_s_per_min=%.2f decode_cpu_s_per_min=%.2f encode_cpu_s_per_min=%.2f", (d + e) * 60 / l, d * 60 / l, e * 60 / l
    printf " live_codec_floor_cpu_s_per_min=%.2f live_decode_cpu_s_per_min=%.2f live_encode_cpu_s_per_min=%.2f clips_s=%.1f\n",
      (ld + le) * 60 / l, ld * 60 / l, le * 60 / l, l }'
}

# $1 plus the CPU seconds (user + system) of running the command "$2"... (its output dropped).
bench_add_cpu_s() {
  local sum="$1" t
  shift
  local TIMEFORMAT="%U %S"
  t=$({ time "$@" >/dev/null; } 2>&1 | tail -1)
  awk -v a="$sum" -v t="$t" 'BEGIN { split(t, x, " "); print a + x[1] + x[2] }'
}

# Channels sustained in real time: tries the counts in $1 (e.g. 2,4,6,8), $2 s each.
bench_channels_sustained() {
  RETROVUE_BENCH_CHANNELS="$1" RETROVUE_BENCH_WINDOW_SECS="$2" bench_playout_test bench_channels_sustained_in_real_time
}

# CPU seconds (user + system) process $1 has used so far.
bench_cpu_s() {
  awk '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / 100 }' "/proc/$1/stat"
}

# Every second, the CPU ticks of each thread of process $1, appended to file $2 as
# "sample tid name ticks" lines, until the process ends or this is killed. Run it in the
# background; bench_thread_split sums it up.
bench_thread_sampler() {
  local pid="$1" out="$2" n=0
  while [ -d "/proc/$pid" ]; do
    n=$((n + 1))
    # cat, not awk on the files: a thread that ends between the glob and the read is skipped
    # (and cat's failure for it must not end the loop under `set -e -o pipefail`).
    # The fields after the name are read as bench_cpu_s reads them.
    { cat "/proc/$pid/task/"*/stat 2>/dev/null || true; } | awk -v n="$n" '{
      tid = $1; name = $0; sub(/^[^(]*\(/, "", name); sub(/\) [A-Za-z] .*$/, "", name); gsub(/ /, "_", name)
      sub(/^.*\) /, ""); print n, tid, name, $12 + $13 }' >>"$out"
    sleep 1
  done
}

# Where a channel's CPU goes, from bench_thread_sampler's file $1: CPU seconds per
# channel-minute for $2 channels over $3 s, by what the threads do, told apart by the names
# the daemon gives them (src/playout/pipeline.rs `named_queue`; GStreamer names a streaming
# thread "element:pad" and a software encoder's threads inherit its caller's name):
#   items: the items' demuxers, decoders (with scaling and colour conversion, in the decoder's
#     thread) and audio branches (multiqueue, typefind, *demux*, sound*, copy*);
#   video_encoder: the encoder queue's thread and the encoder's own (venc);
#   audio_encoder: the limiter, conversion and AAC encoder of each track (aenc*);
#   video_mixer: the compositor and the graphics after it (compositor*);
#   audio_mixer: audiomixer*; mux: mpegtsmux and its input queues (vmux, amux*);
#   backgrounds: the live black and silence sources (videotestsrc*, audiotestsrc*);
#   other: the rest (HTTP and HLS fan-out, the channels' actors, the runtime).
# A thread first seen after the first sample counts from zero; one that ended loses at most
# its last second.
bench_thread_split() {
  awk -v ch="$2" -v secs="$3" '
    function role(c) {
      if (c ~ /^venc/) return "video_encoder"
      if (c ~ /^aenc/) return "audio_encoder"
      if (c ~ /^compositor/) return "video_mixer"
      if (c ~ /^audiomixer/) return "audio_mixer"
      if (c ~ /^(mpegtsmux|vmux|amux)/) return "mux"
      if (c ~ /^(videotestsrc|audiotestsrc)/) return "backgrounds"
      if (c ~ /^(multiqueue|typefind|sound[0-9]|copy[0-9])/ || c ~ /demux/) return "items"
      return "other"
    }
    NR == 1 { first = $1 }
    !($2 in last) { start[$2] = ($1 == first) ? $4 : 0 }
    { last[$2] = $4; name[$2] = $3 }
    END {
      split("items video_encoder audio_encoder video_mixer audio_mixer mux backgrounds other", order, " ")
      for (t in last) { r = role(name[t]); s[r] += last[t] - start[t]; total += last[t] - start[t] }
      k = (ch > 0 && secs > 0) ? 60 / (100 * ch * secs) : 0
      for (i = 1; i <= 8; i++) printf "%s=%.2f ", order[i], s[order[i]] * k
      printf "total=%.2f\n", total * k }' "$1"
}

# Start the daemon: "$@" is the retrovue command before `serve`; it serves on a free port of
# 127.0.0.1 without announcements or discovery, stdout to $1.out, stderr (the log) to $1 (path
# given first, then the command). Sets BENCH_DAEMON_PID and BENCH_DAEMON_ADDR (127.0.0.1:port);
# if it does not come up on loopback within 30 s: the log on stderr, the process stopped,
# return 1.
bench_daemon_start() {
  local log="$1"
  shift
  "$@" serve --listen 127.0.0.1:0 --no-announce --no-discovery >"$log.out" 2>"$log" &
  BENCH_DAEMON_PID=$!
  BENCH_DAEMON_ADDR=""
  for _ in $(seq 1 300); do
    BENCH_DAEMON_ADDR="$(sed -n 's|^retrovue listening on http://||p' "$log.out" | head -1)"
    [ -n "$BENCH_DAEMON_ADDR" ] && break
    kill -0 "$BENCH_DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  case "$BENCH_DAEMON_ADDR" in 127.0.0.1:*) return 0 ;; esac
  kill "$BENCH_DAEMON_PID" 2>/dev/null || true
  cat "$log" >&2
  echo "bench: the daemon did not start on loopback (${BENCH_DAEMON_ADDR:-no address})" >&2
  return 1
}

# Resident memory of process $1, MB.
bench_rss_mb() {
  awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# The resident memory of process $1 split, as "anon_mb=A file_mb=F" (keys prefixed with $2 if
# given): A is the process's own (heap, buffers, stacks), F the pages of mapped files (code of
# the program and its libraries and plugins, shared with any process that maps them too).
bench_rss_parts() {
  awk -v p="${2:-}" '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
    END { printf "%sanon_mb=%.1f %sfile_mb=%.1f", p, a / 1024, p, f / 1024 }' "/proc/$1/status"
}

# The median of the numbers on stdin, one a line (nothing for none).
median() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Value of key $2 in a "BENCH k=v k=v" line $1 (empty if absent).
bench_kv() {
  printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}
