#!/usr/bin/env bash
# The newcomer's path on a clean Debian 12 root (issue #15): a machine with only Rust on it
# runs the README's first command. A clean clone is not a clean machine; this is.
#
#   1. a minimal Debian 12 root (mmdebstrap --variant=minbase) from the mirrors this machine's
#      apt uses; Rust (~/.cargo, ~/.rustup) bind-mounted read-only, a copy of this checkout at /src
#   2. scripts/deps.sh inside it: proves the package list (nothing else is installed)
#   3. retrovue selftest: every GStreamer element of src/elements.rs present, an encode works
#   4. scripts/demo.sh in a private network namespace (loopback only): demo library, scan,
#      channels, schedule build, serve; then /discover.json and 5 s of /stream/3.ts, which
#      ffprobe must read as H.264 + AAC
#
# The binary: the one this machine already built (default $CARGO_TARGET_DIR/debug/retrovue,
# from test.sh's build step), handed to demo.sh as RETROVUE_BIN. Both are Debian 12, so the
# libc matches, and every library it links must come from deps.sh's packages or it will not
# start in the root. The release build demo.sh makes otherwise (fat LTO: ~10+ min on 2 cores)
# would cost the whole budget and test the same code; RETROVUE_FRESH_BUILD=1 does it anyway,
# inside the root (the full newcomer path, for a manual run). A non-bookworm host builds inside
# too, since its binary may need a newer libc.
#
# Cached under $RETROVUE_FRESH_CACHE (default $CARGO_TARGET_DIR/fresh-root): the minbase
# tarball (keyed by the mirror list; rebuilt after 30 days) and the downloaded .debs, so a
# repeat run downloads nothing but apt's indexes; every run still installs from scratch.
# Needs root (chroot, mounts, unshare); skips with a message otherwise.
#
# Usage: scripts/test-fresh.sh [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

# --- inside the root (the script calls itself there) ---------------------------------------
if [ "${1:-}" = "--inside" ]; then
  step="$2"
  cd /src
  case "$step" in
    deps)
      bash scripts/deps.sh
      ;;
    build)
      echo "building retrovue in the clean root (cargo build --release --locked)"
      CARGO_TARGET_DIR=/fresh-target cargo build --release --locked
      install -m 0755 /fresh-target/release/retrovue /usr/local/bin/retrovue
      ;;
    selftest)
      retrovue --data-dir /tmp/selftest selftest
      ;;
    demo)
      port=8080
      log=/tmp/demo.log
      # demo.sh ends by exec'ing `retrovue serve`; it runs in the background until the
      # stream has been checked.
      RETROVUE_BIN=/usr/local/bin/retrovue bash scripts/demo.sh "$port" >"$log" 2>&1 &
      demo=$!
      base="http://127.0.0.1:$port"
      deadline=$((SECONDS + ${RETROVUE_FRESH_DEMO_SECS:-600}))
      until curl -fsS -o /tmp/discover.json "$base/discover.json" 2>/dev/null; do
        if ! kill -0 "$demo" 2>/dev/null; then
          echo "FAIL scripts/demo.sh stopped before serving:" >&2
          cat "$log" >&2
          exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
          echo "FAIL scripts/demo.sh did not serve within ${RETROVUE_FRESH_DEMO_SECS:-600} s:" >&2
          cat "$log" >&2
          kill "$demo"
          exit 1
        fi
        sleep 2
      done
      echo "--- scripts/demo.sh said (its steps and results):"
      grep -E '^\[[0-9]/[0-9]\]|^clips ready|^scan: [0-9]+ added|^added channel|^channel +[0-9]' "$log"
      grep -q '"DeviceID"' /tmp/discover.json || {
        echo "FAIL /discover.json: $(cat /tmp/discover.json)" >&2
        kill "$demo"
        exit 1
      }
      echo "ok   /discover.json: $(tr -d '\n' </tmp/discover.json | cut -c1-120)"
      # 5 s of channel 3; curl ends with 28 (time limit) on an endless stream.
      curl -sS --max-time 5 -o /tmp/stream.ts "$base/stream/3.ts" || [ $? -eq 28 ]
      kill "$demo"
      wait "$demo" 2>/dev/null || true
      size=$(stat -c %s /tmp/stream.ts)
      streams=$(ffprobe -v error -show_entries stream=codec_type,codec_name -of csv=p=0 /tmp/stream.ts | grep . | sort -u | tr '\n' ' ')
      echo "     /stream/3.ts: $size bytes in 5 s; ffprobe: $streams"
      case "$streams" in
        *h264,video*aac,audio* | *aac,audio*h264,video*) echo "ok   5 s of /stream/3.ts is H.264 + AAC" ;;
        *)
          echo "FAIL /stream/3.ts: ffprobe found '$streams' in $size bytes" >&2
          exit 1
          ;;
      esac
      ;;
    *)
      echo "test-fresh: unknown step $step" >&2
      exit 2
      ;;
  esac
  exit 0
fi

# --- on the host ------------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  echo "test-fresh: SKIPPED: needs root (mmdebstrap root mode, chroot, bind mounts, unshare)"
  exit 0
fi
for tool in mmdebstrap unshare chroot ip; do
  command -v "$tool" >/dev/null || {
    echo "test-fresh: '$tool' not found (scripts/deps.sh --test installs it)" >&2
    exit 1
  }
done

target_dir="${CARGO_TARGET_DIR:-$repo/target}"
cache="${RETROVUE_FRESH_CACHE:-$target_dir/fresh-root}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
started=$SECONDS
timed() {
  local name="$1" t=$SECONDS
  shift
  "$@"
  echo "fresh: $name took $((SECONDS - t)) s"
}

# shellcheck source=/dev/null
. /etc/os-release
build_inside="${RETROVUE_FRESH_BUILD:-0}"
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
  echo "test-fresh: this machine is ${PRETTY_NAME:-unknown}, not Debian 12: building inside the root"
  build_inside=1
fi
bin="${1:-$target_dir/debug/retrovue}"
if [ "$build_inside" != 1 ] && [ ! -x "$bin" ]; then
  echo "test-fresh: no binary at $bin (cargo build first, or RETROVUE_FRESH_BUILD=1)" >&2
  exit 1
fi

# (--format=tar: mmdebstrap picks the format from the name's extension, and ".tar.tmp" would
# otherwise make a directory, which the cache check below then takes for a tarball.)
# The mirrors: this machine's Debian 12 sources (not third-party ones), as apt lines.
# shellcheck disable=SC2016 # apt's own $(FIELD) syntax, not the shell's
mapfile -t mirrors < <(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' |
  awk '$2 ~ /^bookworm(-updates|-security)?$/ { print "deb " $1 " " $2 " " $3 }' | sort -u)
[ "${#mirrors[@]}" -gt 0 ] || mirrors=("deb http://deb.debian.org/debian bookworm main")

mkdir -p "$cache/archives/partial"
key="$(printf '%s\n' "minbase-1" "${mirrors[@]}" | sha256sum | cut -c1-16)"
base="$cache/base-$key.tar"
if [ -f "$base" ] && [ -z "$(find "$base" -mtime +30)" ]; then
  echo "fresh: minbase root from the cache ($base)"
else
  rm -rf "$cache"/base-*.tar "$cache"/base-*.tar.tmp
  echo "fresh: creating a Debian 12 minbase root from: ${mirrors[*]}"
  timed "mmdebstrap" mmdebstrap --quiet --variant=minbase --format=tar bookworm "$base.tmp" "${mirrors[@]}"
  mv "$base.tmp" "$base"
fi

# The root lives in RAM (about 1.6 GB once deps.sh has run): dpkg unpacks faster than on a
# busy disk, and removing 100,000 files is one umount instead of minutes of rm -rf.
scratch="$(mktemp -d /var/tmp/retrovue-fresh.XXXXXX)"
root="$scratch/root"
if [ "${RETROVUE_FRESH_TMPFS:-1}" = 1 ]; then
  mount -t tmpfs -o size=4g,mode=0755 retrovue-fresh "$scratch"
fi
cleanup() {
  # Lazy unmounts, deepest first: a process left behind must not keep the host's /dev busy,
  # and nothing is removed while a host directory is still mounted inside.
  grep -F " $scratch" /proc/self/mounts | cut -d' ' -f2 | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  if grep -qF " $scratch" /proc/self/mounts; then
    echo "test-fresh: $scratch still has mounts; not removing it" >&2
    return
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$root"
tar -xf "$base" -C "$root"

# This checkout (tracked and new files; no target/ or data/) as /src.
mkdir -p "$root/src"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$root/src"
# Rust, as rustup left it on this machine; the .deb cache; the binary.
mkdir -p "$root/root/.cargo" "$root/root/.rustup" "$root/usr/local/bin"
mount --bind "$cargo_home" "$root/root/.cargo"
# Read-only unless cargo builds in there (it locks and writes its registry cache).
[ "$build_inside" = 1 ] || mount -o remount,bind,ro "$root/root/.cargo"
mount --bind "$rustup_home" "$root/root/.rustup"
mount -o remount,bind,ro "$root/root/.rustup"
mount --bind "$cache/archives" "$root/var/cache/apt/archives"
if [ "$build_inside" != 1 ]; then
  install -m 0755 "$bin" "$root/usr/local/bin/retrovue"
fi
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
mount -t tmpfs tmpfs "$root/tmp"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/hosts "$root/etc/hosts"
# dpkg without fsync: the same packages, a fraction of the unpack time on a busy CI disk.
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/retrovue-fresh-unsafe-io"

inside=(/usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb
  PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  CARGO_HOME=/root/.cargo RUSTUP_HOME=/root/.rustup
  RETROVUE_FRESH_DEMO_SECS="${RETROVUE_FRESH_DEMO_SECS:-600}"
  bash /src/scripts/test-fresh.sh --inside)

timed "scripts/deps.sh in the clean root" chroot "$root" "${inside[@]}" deps
echo "fresh: the root now has $(chroot "$root" dpkg-query -W -f='.\n' | wc -l) packages"
if [ "$build_inside" = 1 ]; then
  mkdir -p "$cache/target" "$root/fresh-target"
  mount --bind "$cache/target" "$root/fresh-target"
  timed "release build in the clean root" chroot "$root" "${inside[@]}" build
fi
# No network from here on: loopback only, in a namespace of its own.
offline=(unshare -n sh -c 'ip link set lo up && exec "$@"' sh chroot "$root" "${inside[@]}")
timed "retrovue selftest" "${offline[@]}" selftest
timed "scripts/demo.sh, /discover.json, 5 s of /stream/3.ts" "${offline[@]}" demo
echo "fresh: passed in $((SECONDS - started)) s"
