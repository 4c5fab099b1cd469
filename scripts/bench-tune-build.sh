#!/usr/bin/env bash
# Tune latency while a schedule build runs (issue #16: "a 50-channel 7-day build never delays a
# tune"). A release daemon on 127.0.0.1 (no announcements, no discovery) with CHANNELS on-demand
# channels, channel 1 kept running by a viewer; each sample is the time to the first byte of
# GET /lineup.json and of a tune of /auto/v1. SAMPLES samples idle, then samples one after
# another for as long as each build runs:
#   web  the daemon rebuilds DAYS days itself (POST /api/schedule/rebuild, the web page's
#        "rebuild now"): the build shares the daemon's database connection with the tunes;
#   cli  `retrovue schedule build --days DAYS --force` runs as another process;
#   cpu  the control: no build, one spinning process per core for as long as the cli build
#        took, so the build cases can be told from plain CPU sharing.
#
# Usage: scripts/bench-tune-build.sh [RETROVUE_BINARY [BENCH_VIEWERS_BINARY]]
#   env CHANNELS (50), DAYS (7), SAMPLES (10); the binaries default to the release builds of
#   retrovue and examples/bench_viewers (whose `tune` times the first byte of a stream).
# Prints `BENCH tune_build ...` lines (median and worst ms per case, the build's seconds and the
# samples taken during it); figures are printed, never asserted. Bounded: a minute or two on 2
# cores, most of it the two builds.
set -euo pipefail
cd "$(dirname "$0")/.."
rel="${CARGO_TARGET_DIR:-$PWD/target}/release"
bin="${1:-$rel/retrovue}" viewers="${2:-$rel/examples/bench_viewers}"
channels="${CHANNELS:-50}" days="${DAYS:-7}" samples="${SAMPLES:-10}"
for b in "$bin" "$viewers"; do
  [ -x "$b" ] || {
    echo "bench-tune-build: no binary at $b (cargo build --release --bin retrovue --example bench_viewers)" >&2
    exit 1
  }
done

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
bench_scratch


home="$work/home"
lib="$home/media"
mkdir -p "$lib/shows/Bench Show/Season 01" "$lib/spots"
# Half-hour grid of 22-minute episodes (one 10 s clip looped without re-encoding) with 10 s
# spots in the breaks: about 50 airings per half hour, so a week of 50 channels is a big build.
ffmpeg -v error -y -f lavfi -i "testsrc2=s=640x480:r=30000/1001:d=10" -f lavfi -i "sine=f=440:d=10" \
  -c:v libx264 -preset veryfast -b:v 600k -g 60 -pix_fmt yuv420p -c:a aac -b:a 96k -ar 48000 -ac 2 -shortest \
  "$work/seed.mp4"
ffmpeg -v error -y -stream_loop 131 -i "$work/seed.mp4" -c copy "$work/episode.mp4"
for e in 1 2 3; do ln -f "$work/episode.mp4" "$lib/shows/Bench Show/Season 01/Bench Show - S01E0$e.mp4"; done
for k in 1 2 3 4 5 6; do ln -f "$work/seed.mp4" "$lib/spots/spot$k.mp4"; done
cat >"$home/retrovue.toml" <<EOF
data_dir = "$home/data"
[schedule]
commercial_repeat_window_min = 1
horizon_days = $days
[playout]
idle_grace_secs = 1
[library]
loudness = false
EOF
rv=("$bin" --config "$home/retrovue.toml" --data-dir "$home/data")
export RUST_LOG=warn
{
  "${rv[@]}" source add --folder "$lib/shows" --kind shows --name bench
  "${rv[@]}" source add --folder "$lib/spots" --kind commercials --name spots
  "${rv[@]}" scan --no-loudness
  for n in $(seq 1 "$channels"); do
    "${rv[@]}" channel add "$n" --name "Bench $n" --default-fill "Bench Show" --break-style us \
      --mode on_demand --format sd640x480 --video-kbps 2000
  done
  # The whole horizon now, so the daemon has nothing to extend when it starts (idle is idle).
  "${rv[@]}" schedule build --days "$days"
} >"$work/setup.log" 2>&1 || {
  cat "$work/setup.log" >&2
  exit 1
}

bench_daemon_start "$work/daemon.log" "${rv[@]}"
pids+=("$BENCH_DAEMON_PID")
addr="$BENCH_DAEMON_ADDR"
base="http://$addr"
c() { curl -s --noproxy '*' "$@"; }

# The web page's session: first-run password, then the CSRF token for the POST.
c -c "$work/jar" -H 'Content-Type: application/json' -d '{"password":"bench-password-16"}' "$base/api/setup" >/dev/null
csrf="$(c -b "$work/jar" "$base/api/session" | sed -n 's/.*"csrf":"\([^"]*\)".*/\1/p')"
[ -n "$csrf" ] || {
  echo "bench-tune-build: no web session" >&2
  exit 1
}

# Keep channel 1 running, so a tune measures the daemon's path (lineup, tuner lease, feed), not
# an encoder starting.
c -o /dev/null "$base/auto/v1" &
pids+=("$!")
sleep 4

# One sample: "LINEUP_MS TUNE_MS", each the time to the first byte (a failed tune counts 30 s).
sample() {
  local l t
  l="$(c -o /dev/null -w '%{time_starttransfer}' "$base/lineup.json" || true)"
  t="$("$viewers" tune "$base/auto/v1" 2>/dev/null | sed -n 's/.* first_byte_ms=\([0-9.]*\).*/\1/p')"
  awk -v l="$l" -v t="${t:-30000}" 'BEGIN { printf "%.1f %.1f\n", l * 1000, t }'
}

# Median and worst of column $2 of file $1: "MEDIAN WORST".
stats() {
  awk -v col="$2" '{ print $col }' "$1" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f %.1f\n", m, v[NR] }'
}

# Samples while the command "$@" runs in the background into file $1 (after shift); prints the
# build's seconds.
during() {
  local out="$1" t0 pid
  shift
  : >"$out"
  t0="$(date +%s.%N)"
  "$@" >"$out.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  while kill -0 "$pid" 2>/dev/null; do
    sample >>"$out"
    sleep 0.1
  done
  wait "$pid" || {
    echo "bench-tune-build: the build failed:" >&2
    tail -5 "$out.log" >&2
  }
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }'
}

: >"$work/idle.txt"
for _ in $(seq 1 "$samples"); do
  sample >>"$work/idle.txt"
  sleep 0.1
done
rebuild() {
  c -b "$work/jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' -d '{}' \
    -o "$work/rebuild.json" -w '%{http_code}\n' "$base/api/schedule/rebuild"
}
web_s="$(during "$work/web.txt" rebuild)"
grep -q '^200' "$work/web.txt.log" || echo "bench-tune-build: rebuild answered $(cat "$work/web.txt.log")" >&2
cli_s="$(during "$work/cli.txt" "${rv[@]}" schedule build --days "$days" --force)"
# The control: no build, the same cores kept as busy for as long as the CLI build took (one
# spinning process per core). What the build cases add over this one is waiting on the build;
# what this one adds over idle is only sharing the CPU.
hogs() {
  for _ in $(seq 1 "$(nproc)"); do
    timeout "$1" awk 'BEGIN { while (1) {} }' &
  done
  wait
}
cpu_s="$(during "$work/cpu.txt" hogs "$cli_s")"

# Daemon calls that gave up waiting for the database while a build wrote ("database is locked").
locked="$(grep -ci 'database is locked' "$work/daemon.log" || true)"
[ -z "${RV_BENCH_KEEP_LOG:-}" ] || cp "$work/daemon.log" "$RV_BENCH_KEEP_LOG"
for case in idle web cli cpu; do
  read -r lmed lmax <<<"$(stats "$work/$case.txt" 1)"
  read -r tmed tmax <<<"$(stats "$work/$case.txt" 2)"
  n="$(wc -l <"$work/$case.txt")"
  build_s=""
  [ "$case" = web ] && build_s=" build_s=$web_s"
  [ "$case" = cli ] && build_s=" build_s=$cli_s"
  [ "$case" = cpu ] && build_s=" busy_s=$cpu_s"
  echo "BENCH tune_build case=$case channels=$channels days=$days samples=$n lineup_med_ms=$lmed" \
    "lineup_max_ms=$lmax tune_med_ms=$tmed tune_max_ms=$tmax$build_s daemon_locked_errors=$locked"
done
