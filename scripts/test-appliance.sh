#!/usr/bin/env bash
# The appliance checks (run by scripts/test.sh; also on their own):
#   units      systemd-analyze verify on systemd/*.service (any complaint fails)
#   grow-data  the first-boot partition growth on loop devices, MBR and GPT (root only)
#   machine-id the first-boot machine-id persistence on a boot partition's files
#   aarch64    cross-build, run --version and selftest under qemu-aarch64-static, print the
#              stripped size (goal: under 15 MB)
#   buildroot  scripts/check-buildroot.sh $BUILDROOT_DIR (skips without one)
#   boot       the stand-in image (scripts/build-standin-image.sh, with the release binary)
#              booted in QEMU through the first-boot journey (scripts/boot-test.sh); the
#              release build is cargo's own (RETROVUE_BOOT_BIN=FILE uses that binary
#              instead), the Debian base is cached. RETROVUE_BOOT_TEST=0 skips it (says so).
# Usage: scripts/test-appliance.sh [units|grow-data|machine-id|aarch64|buildroot|boot]...  (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

scratch="$(mktemp -d)"
loop=""
cleanup() {
  if [ -n "$loop" ]; then
    partx -d "$loop" 2>/dev/null || true
    losetup -d "$loop" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

timed() {
  local name="$1"
  shift
  local start
  start=$(date +%s)
  "$@"
  echo "appliance: $name took $(($(date +%s) - start)) s"
}

check_units() {
  # A throwaway root with the units where the image puts them, the host's own units (for
  # the targets they refer to) and the programs their ExecStart= name.
  local root="$scratch/root"
  mkdir -p "$root/usr/bin" "$root/usr/libexec/retrovue" "$root/usr/lib/systemd"
  cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
  cp systemd/*.service "$root/usr/lib/systemd/system/"
  install -m 0755 /dev/null "$root/usr/bin/retrovue"
  install -m 0755 systemd/retrovue-grow-data.sh "$root/usr/libexec/retrovue/grow-data"
  install -m 0755 systemd/retrovue-machine-id.sh "$root/usr/libexec/retrovue/machine-id"
  local out
  out="$(systemd-analyze verify --man=no --root="$root" "$root"/usr/lib/systemd/system/retrovue*.service 2>&1)" || {
    echo "$out" >&2
    return 1
  }
  # verify exits 0 on parse warnings (unknown keys, bad values): treat any output as failure.
  if [ -n "$out" ]; then
    echo "systemd-analyze verify complained:" >&2
    echo "$out" >&2
    return 1
  fi
  echo "ok   systemd-analyze verify: $(cd systemd && echo ./*.service)"
}

# grow-data on a disk image of 64 MiB written to a 96 MiB "card": p3 must reach the end,
# and a second run must change nothing.
grow_one() {
  local label="$1" img="$scratch/disk-$1.img"
  truncate -s 64M "$img"
  printf 'label: %s\n,16M,%s\n,16M,L\n,8M,L\n' "$label" "$([ "$label" = gpt ] && echo U || echo c)" |
    sfdisk --quiet "$img"
  truncate -s 96M "$img"
  loop="$(losetup --show -f "$img")"
  partx -a "$loop"
  local before after sys
  sys="/sys/class/block/$(basename "$loop")p3"
  before="$(cat "$sys/size")"
  sh systemd/retrovue-grow-data.sh "${loop}p3" >/dev/null
  after="$(cat "$sys/size")"
  local end=$(($(cat "$sys/start") + after)) disk=$((96 * 2048))
  if [ "$after" -le "$before" ] || [ $((disk - end)) -gt 2048 ]; then
    echo "FAIL grow-data $label: p3 $before -> $after sectors, ends at $end of $disk" >&2
    return 1
  fi
  sh systemd/retrovue-grow-data.sh "${loop}p3" | grep -q "already fills" || {
    echo "FAIL grow-data $label: second run was not a no-op" >&2
    return 1
  }
  sfdisk --verify "$loop" >/dev/null
  partx -d "$loop"
  losetup -d "$loop"
  loop=""
  echo "ok   grow-data $label: p3 grew from $before to $after sectors, then left alone"
}

check_grow_data() {
  if [ "$(id -u)" -ne 0 ] || ! command -v losetup >/dev/null || ! command -v sfdisk >/dev/null ||
    ! losetup -f >/dev/null 2>&1; then
    echo "SKIP grow-data: needs root, losetup and sfdisk"
    return 0
  fi
  grow_one dos
  grow_one gpt
}

# The first-boot machine-id script against a boot partition's files (Pi cmdline.txt, PC
# grub.cfg): the ID is stored once, added to the kernel command line exactly once, and a
# boot that already carries it changes nothing.
check_machine_id() {
  local id=0123456789abcdef0123456789abcdef flavour boot file
  for flavour in pi pc; do
    boot="$scratch/boot-$flavour"
    rm -rf "$boot" "$scratch/machine-id.store"
    mkdir -p "$boot/EFI/BOOT"
    if [ "$flavour" = pi ]; then
      file="$boot/cmdline.txt"
      cp buildroot/board/rpi/cmdline.txt "$file"
    else
      file="$boot/EFI/BOOT/grub.cfg"
      sed 's/#ROOT_UUID#/6a8e379f-2f0e-4da5-a9e7-976dfffb24de/' buildroot/board/x86_64/grub.cfg >"$file"
    fi
    echo "$id" >"$scratch/etc-machine-id"
    echo "root=PARTUUID=52657476-02 ro quiet" >"$scratch/cmdline"
    local run=(env MACHINE_ID_STORE="$scratch/machine-id.store" MACHINE_ID_ETC="$scratch/etc-machine-id"
      MACHINE_ID_CMDLINE="$scratch/cmdline" MACHINE_ID_BOOT_DIR="$boot" sh systemd/retrovue-machine-id.sh)
    "${run[@]}" >/dev/null
    "${run[@]}" >/dev/null # a second first boot (power cut before the reboot): still one entry
    if [ "$(cat "$scratch/machine-id.store")" != "$id" ] ||
      [ "$(grep -o "systemd.machine_id=[0-9a-f]*" "$file")" != "systemd.machine_id=$id" ]; then
      echo "FAIL machine-id $flavour: store '$(cat "$scratch/machine-id.store")', $(basename "$file"):" >&2
      cat "$file" >&2
      return 1
    fi
    # Next boot: the kernel command line carries the ID; /etc shows a transient one that
    # must not replace the stored ID (the bind mount is skipped here: not root-safe).
    echo "root=PARTUUID=52657476-02 ro quiet systemd.machine_id=$id" >"$scratch/cmdline"
    cp "$file" "$file.before"
    "${run[@]}" >/dev/null
    cmp -s "$file" "$file.before" || {
      echo "FAIL machine-id $flavour: a boot with the ID still edited $(basename "$file")" >&2
      return 1
    }
    echo "ok   machine-id $flavour: stored, on the kernel command line once, then left alone"
  done
}

check_aarch64() {
  local bin sysroot
  bin="$(bash scripts/cross-build.sh aarch64 | tail -n 1)"
  sysroot="${RETROVUE_SYSROOT:-${CARGO_TARGET_DIR:-$repo/target}/sysroot/arm64-bookworm}"
  command -v qemu-aarch64-static >/dev/null || {
    echo "qemu-aarch64-static not found (apt-get install qemu-user-static)" >&2
    return 1
  }
  local run=(env
    GST_PLUGIN_SYSTEM_PATH="$sysroot/usr/lib/aarch64-linux-gnu/gstreamer-1.0"
    GST_REGISTRY="$scratch/gst-registry-arm64.bin" GST_REGISTRY_FORK=no
    RETROVUE_DATA_DIR="$scratch/data-arm64"
    qemu-aarch64-static -L "$sysroot" "$bin")
  local version
  version="$("${run[@]}" --version)"
  case "$version" in
    "retrovue "*) echo "ok   aarch64 binary runs under qemu: $version" ;;
    *)
      echo "FAIL aarch64 --version printed: $version" >&2
      return 1
      ;;
  esac
  # Under emulation everything is ~10x slower than on a Pi. mpegtsmux used to fail there
  # ("Sink pad caps were not set before pushing"): a mixer timed out before its first input
  # had data and ended its stream, so the mux saw EOS without caps on that path. The mixers
  # are force-live now (src/playout/pipeline.rs, make_mixer; tests/playout.rs
  # the_mux_takes_nothing_before_every_input_has_caps_when_one_path_starts_late), so one
  # retry is left only for qemu's own hiccups; every failure is printed.
  local out attempt
  for attempt in 1 2; do
    if out="$("${run[@]}" selftest 2>&1)"; then
      echo "ok   aarch64 selftest under qemu (attempt $attempt):"
      echo "$out" | grep -v '^\s*$' | tail -n 4
      break
    elif echo "$out" | grep -q "is not built yet"; then
      echo "SKIP aarch64 selftest: not on main yet ($out)"
      break
    fi
    echo "WARN aarch64 selftest attempt $attempt failed: $(echo "$out" | tail -n 1)" >&2
    if [ "$attempt" -eq 2 ]; then
      echo "FAIL aarch64 selftest under qemu:" >&2
      echo "$out" >&2
      return 1
    fi
  done
  local size
  size="$(stat -c %s "$bin")"
  echo "appliance: stripped aarch64 binary: $size bytes ($((size / 1024 / 1024)) MiB; goal < 15 MiB)"
  if [ "$size" -ge $((15 * 1024 * 1024)) ]; then
    echo "WARN aarch64 binary is over the 15 MiB goal" >&2
  fi
}

check_buildroot() {
  bash scripts/check-buildroot.sh "${BUILDROOT_DIR:-}"
}

check_boot() {
  if [ "${RETROVUE_BOOT_TEST:-1}" = 0 ]; then
    echo "SKIP boot: RETROVUE_BOOT_TEST=0"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP boot: building the stand-in image needs root"
    return 0
  fi
  local started bin="${RETROVUE_BOOT_BIN:-}"
  if [ -z "$bin" ]; then
    started=$(date +%s)
    cargo build --release --locked --bin retrovue
    echo "appliance: release build took $(($(date +%s) - started)) s"
    bin="${CARGO_TARGET_DIR:-$repo/target}/release/retrovue"
  fi
  started=$(date +%s)
  bash scripts/build-standin-image.sh "$scratch/standin" "$bin"
  echo "appliance: stand-in image took $(($(date +%s) - started)) s"
  bash scripts/boot-test.sh "$scratch/standin/retrovue-x86_64.img"
}

steps=("$@")
[ "${#steps[@]}" -gt 0 ] || steps=(units grow-data machine-id aarch64 buildroot boot)
for s in "${steps[@]}"; do
  case "$s" in
    units) timed "$s" check_units ;;
    grow-data) timed "$s" check_grow_data ;;
    machine-id) timed "$s" check_machine_id ;;
    aarch64) timed "$s" check_aarch64 ;;
    buildroot) timed "$s" check_buildroot ;;
    boot) timed "$s" check_boot ;;
    *)
      echo "unknown step '$s'" >&2
      exit 2
      ;;
  esac
done
