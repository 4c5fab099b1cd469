#!/usr/bin/env bash
# Boot an appliance image in QEMU and check the first-boot journey end to end:
#   boot 1  UEFI firmware -> GRUB -> kernel -> systemd; the data partition grows to the end of
#           the disk, the machine ID is stored and put on the kernel command line,
#           retrovue.service reaches READY=1 under its watchdog, the root stays read-only,
#           no unit failed; from the host: /discover.json and the web page answer,
#           `hdhomerun_config discover` finds the tuner; then as a user would: first-run setup,
#           a folder source on a USB disk, a scan, the proposed channels, and a channel's
#           stream decodes from a keyframe;
#   boot 2  (`systemctl reboot`) the database and the machine ID are kept, the partition is
#           left alone; a `kill -9` of the daemon is restarted by systemd back to READY=1;
#   boot 3  after pulling the power (QEMU killed right after a committed settings change),
#           the change is there and the data partition is clean.
#
# Usage: scripts/boot-test.sh IMAGE       (retrovue-x86_64.img; .img.xz is unpacked first)
# Environment: RETROVUE_BOOT_ACCEL=kvm|tcg (default: kvm when /dev/kvm opens, else tcg),
#   RETROVUE_BOOT_DISK (disk size the image is written to, default 2G),
#   RETROVUE_BOOT_KEEP=DIR (keep the serial log, QEMU log and disk there).
#
# Networking: QEMU user-mode (slirp) inside a private network namespace this script makes
# (`unshare -n`), where only loopback exists: the guest can reach nothing but the forwarded
# ports, 127.0.0.1:8080 -> guest 80 and UDP/TCP 65001 -> guest 65001, so `hdhomerun_config
# discover 127.0.0.1` (which always uses port 65001) finds the tuner without broadcasting.
# Whatever the guest sends elsewhere (its SSDP/mDNS announcements, NTP) finds no route out
# of the namespace. (slirp's own restrict=on is not used: it also drops the guest's UDP
# replies to a forwarded port, so discovery never answered.)
# In-guest facts are read over the serial console: this script adds console=ttyS0 to the
# GRUB command line of its own copy of the disk (the image is not changed), so systemd starts
# a getty there, and logs in as root, which has no password on the image
# (BR2_TARGET_GENERIC_ROOT_PASSWD is empty; the stand-in does the same).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

image="${1:?usage: scripts/boot-test.sh IMAGE}"
image="$(cd "$(dirname "$image")" && pwd)/$(basename "$image")"

case "$(basename "$image")" in
*x86_64*) ;;
*rpi*)
  # The Pi kernels (bcm2711/bcm2712 defconfigs) have no drivers for QEMU's virt machine and
  # QEMU's raspi machines boot neither the Pi 4/5 firmware nor USB/Ethernet reliably.
  echo "SKIP boot-test: $(basename "$image"): Raspberry Pi images do not boot under QEMU (no virt-capable kernel); boot the x86_64 image"
  exit 0
  ;;
*)
  echo "boot-test: cannot tell the board of $image (expected retrovue-<board>.img[.xz])" >&2
  exit 2
  ;;
esac

if [ -z "${RETROVUE_BOOT_NETNS:-}" ]; then
  if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null; then
    echo "SKIP boot-test: needs root and unshare -n (a private network namespace for HDHomeRun discovery)"
    exit 0
  fi
  for tool in qemu-system-x86_64 curl jq ffprobe hdhomerun_config mkfs.ext4 ffmpeg; do
    command -v "$tool" >/dev/null || {
      echo "boot-test: $tool not found (scripts/deps.sh --test installs it)" >&2
      exit 1
    }
  done
  exec env RETROVUE_BOOT_NETNS=1 unshare -n -- bash "$here/scripts/boot-test.sh" "$@"
fi
ip link set lo up

ovmf_code=/usr/share/OVMF/OVMF_CODE_4M.fd
ovmf_vars=/usr/share/OVMF/OVMF_VARS_4M.fd
[ -f "$ovmf_code" ] || {
  echo "boot-test: $ovmf_code not found (apt-get install ovmf)" >&2
  exit 1
}

accel="${RETROVUE_BOOT_ACCEL:-}"
if [ -z "$accel" ]; then
  accel=tcg
  # kvm-pvm (a paravirtual KVM some cloud VMs offer) runs only PVM-enabled guest kernels:
  # OVMF stops at once with "emulation failure". Only a plain KVM is used.
  if [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null && [ ! -d /sys/module/kvm_pvm ]; then accel=kvm; fi
fi
case "$accel" in
# arch-capabilities off: nested KVM (CI VMs) can refuse to set its MSR and QEMU aborts.
kvm) machine=(-machine "q35,accel=kvm" -cpu "host,-arch-capabilities") ;;
tcg) machine=(-machine q35 -accel "tcg,thread=multi" -cpu max) ;;
*)
  echo "boot-test: RETROVUE_BOOT_ACCEL must be kvm or tcg" >&2
  exit 2
  ;;
esac
# Timeouts scale with emulation: TCG runs the guest ~10x slower than KVM.
slow=1
[ "$accel" = tcg ] && slow=4

w="${RETROVUE_BOOT_KEEP:-}"
if [ -n "$w" ]; then mkdir -p "$w"; else w="$(mktemp -d)"; fi
qemu_pid=""
reader_pid=""
stop_vm() {
  [ -n "$qemu_pid" ] && kill -KILL "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
  [ -n "$reader_pid" ] && kill "$reader_pid" 2>/dev/null && wait "$reader_pid" 2>/dev/null
  qemu_pid=""
  reader_pid=""
  return 0
}
cleanup() {
  stop_vm
  [ -n "${RETROVUE_BOOT_KEEP:-}" ] || rm -rf "$w"
}
trap cleanup EXIT

t0=$(date +%s)
step_t=$t0
say() { printf '[%4d s] %s\n' $(($(date +%s) - t0)) "$*"; }
ok() { printf '[%4d s] ok   %s\n' $(($(date +%s) - t0)) "$*"; }
step() {
  local now
  now=$(date +%s)
  printf '[%4d s] --- %s (previous step %d s)\n' $((now - t0)) "$*" $((now - step_t))
  step_t=$now
}
serial="$w/serial.log"
# The serial log as text: no CRs, no terminal escapes (GRUB's menu, bash's bracketed paste).
console() { tr -d '\r' <"$serial" | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g'; }
fail() {
  echo "FAIL boot-test: $*" >&2
  echo "--- last 60 lines of the serial console ($serial):" >&2
  console | tail -n 60 >&2 || true
  exit 1
}

# --- The disk: the image written to a larger "card", as a user flashes it ----------------
disk="$w/disk.img"
case "$image" in
*.xz) xz -dc "$image" >"$disk" ;;
*) cp --sparse=always "$image" "$disk" ;;
esac
image_bytes=$(stat -c %s "$disk")
truncate -s "${RETROVUE_BOOT_DISK:-2G}" "$disk"
disk_sectors=$(($(stat -c %s "$disk") / 512))
# The serial console, on this copy only: GRUB's `linux` line gets console=ttyS0 (last, so it
# is /dev/console and systemd-getty-generator starts a getty on it).
esp=$(($(sfdisk -J "$disk" | jq '.partitiontable.partitions[0].start') * 512))
mtype -i "$disk@@$esp" ::EFI/BOOT/grub.cfg | tr -d '\r' >"$w/grub.cfg"
sed -i 's/^\([[:space:]]*linux .*\)$/\1 console=ttyS0,115200/' "$w/grub.cfg"
grep -q 'console=ttyS0' "$w/grub.cfg" || fail "no 'linux' line in the image's EFI/BOOT/grub.cfg"
mcopy -o -i "$disk@@$esp" "$w/grub.cfg" ::EFI/BOOT/grub.cfg
cp "$ovmf_vars" "$w/OVMF_VARS.fd"

# A USB disk with a small library whose right answers are known: three 20-second
# episodes of one series (320x240, 25 fps, a keyframe every 2 s) and two commercials.
media="$w/media"
mkdir -p "$media/Shows/Test Show/Season 01" "$media/Commercials"
clip() { # FILE SECONDS
  ffmpeg -v error -nostdin -y -f lavfi -i "testsrc2=size=320x240:rate=25:duration=$2" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$2" \
    -c:v libx264 -preset ultrafast -g 50 -pix_fmt yuv420p -c:a aac -b:a 96k -shortest "$1"
}
# With a genre and a decade in Kodi .nfo files, as a real library has: the proposed
# channels are built from them.
printf '<tvshow><title>Test Show</title><genre>Comedy</genre><premiered>1985-09-01</premiered></tvshow>\n' \
  >"$media/Shows/Test Show/tvshow.nfo"
for e in 1 2 3; do
  clip "$media/Shows/Test Show/Season 01/Test Show - S01E0$e - Episode $e.mp4" 20
  printf '<episodedetails><title>Episode %d</title><season>1</season><episode>%d</episode><aired>1985-09-0%d</aired><genre>Comedy</genre></episodedetails>\n' \
    "$e" "$e" "$e" >"$media/Shows/Test Show/Season 01/Test Show - S01E0$e - Episode $e.nfo"
done
clip "$media/Commercials/Soap.mp4" 15
clip "$media/Commercials/Cola.mp4" 10
mkfs.ext4 -q -d "$media" -L retrovue-media "$w/media.ext4" 64M

http_port=8080
base="http://127.0.0.1:$http_port"
# Command numbers live in a file: guest() often runs in a $(...) subshell.
echo 0 >"$w/n"
next_n() {
  n=$(($(cat "$w/n") + 1))
  echo "$n" >"$w/n"
}
boots=0

start_vm() {
  boots=$((boots + 1))
  rm -f "$w/ttyS0.in" "$w/ttyS0.out"
  mkfifo "$w/ttyS0.in" "$w/ttyS0.out"
  printf '\n===== boot %d (%s) =====\n' "$boots" "$accel" >>"$serial"
  cat "$w/ttyS0.out" >>"$serial" &
  reader_pid=$!
  qemu-system-x86_64 -name retrovue-boot-test "${machine[@]}" -smp 2 -m 1536 \
    -drive "if=pflash,format=raw,readonly=on,file=$ovmf_code" \
    -drive "if=pflash,format=raw,file=$w/OVMF_VARS.fd" \
    -drive "if=virtio,format=raw,file=$disk" \
    -drive "if=virtio,format=raw,readonly=on,file=$w/media.ext4" \
    -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$http_port-:80,hostfwd=udp:127.0.0.1:65001-:65001,hostfwd=tcp:127.0.0.1:65001-:65001" \
    -device virtio-net-pci,netdev=net0 -device i6300esb \
    -serial "pipe:$w/ttyS0" -display none -monitor none -vga none \
    >>"$w/qemu.log" 2>&1 &
  qemu_pid=$!
  exec 7<>"$w/ttyS0.in"
}

# Wait for a line matching the extended regex $1 in the serial log (CRs dropped), $2 seconds.
wait_serial() {
  local deadline=$(($(date +%s) + $2))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    console | grep -aqE "$1" && return 0
    kill -0 "$qemu_pid" 2>/dev/null || fail "QEMU exited (see $w/qemu.log: $(tail -n 3 "$w/qemu.log"))"
    sleep 0.5
  done
  return 1
}

# Run a shell command in the guest (serial console shell), print its output, return its
# status. The markers are typed with quotes split so the echoed input never matches them.
guest() { # TIMEOUT COMMAND
  local timeout=$(($1 * slow)) cmd="$2"
  local n
  next_n
  printf ' echo RV""BEGIN%d; %s; echo RV""END%d $?\n' "$n" "$cmd" "$n" >&7
  wait_serial "RVEND$n [0-9]+\$" "$timeout" || fail "guest command timed out after $timeout s: $cmd"
  console | awk -v b="RVBEGIN$n\$" -v e="RVEND$n [0-9]+\$" '$0 ~ b {f = 1; next} $0 ~ e {exit} f'
  return "$(console | sed -n "s/.*RVEND$n \\([0-9]*\\)\$/\\1/p" | tail -n 1)"
}

# Log in as root on the serial console of a new boot (the login prompt of this boot: the
# log is cut at each boot's header), then probe until the shell answers.
wait_shell() { # TIMEOUT
  local deadline=$(($(date +%s) + $1 * slow)) mark n
  mark="$(($(wc -l <"$serial") + 1))"
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if console | tail -n +"$mark" | grep -aqE 'login: *$'; then
      break
    fi
    kill -0 "$qemu_pid" 2>/dev/null || fail "QEMU exited (see $w/qemu.log)"
    sleep 1
  done
  printf 'root\n' >&7
  while [ "$(date +%s)" -lt "$deadline" ]; do
    next_n
    printf ' echo RV""UP%d\n' "$n" >&7
    if wait_serial "RVUP$n\$" 5; then
      # Kernel and systemd messages would interleave with command output.
      guest 10 'dmesg -n 1; stty -echo; PS1=; export SYSTEMD_PAGER= PAGER=cat SYSTEMD_COLORS=0 TERM=dumb; bind "set enable-bracketed-paste off" 2>/dev/null; true' >/dev/null
      return 0
    fi
    if console | tail -n +"$mark" | grep -aq "Password:"; then
      fail "root has a password on this image: cannot log in on the serial console"
    fi
  done
  fail "no root shell on the serial console within $(($1 * slow)) s"
}

unit() { # UNIT PROPERTY
  guest 10 "systemctl show -p $2 --value $1"
}

wait_ready() { # TIMEOUT: retrovue.service active (Type=notify: READY=1 received)
  local deadline=$(($(date +%s) + $1 * slow)) state
  while [ "$(date +%s)" -lt "$deadline" ]; do
    state="$(unit retrovue.service ActiveState)"
    [ "$state" = active ] && return 0
    [ "$state" = failed ] && fail "retrovue.service failed: $(guest 20 'journalctl -b -u retrovue --no-pager -n 30')"
    sleep 2
  done
  fail "retrovue.service not active within $(($1 * slow)) s: $(guest 20 'systemctl status retrovue --no-pager -n 20')"
}

http() { # curl arguments...
  curl -sS --max-time $((20 * slow)) "$@"
}

# API calls with the session cookie and CSRF token the web page uses.
jar="$w/cookies"
csrf=""
api() { # METHOD PATH [JSON]
  local args=(-X "$1" -b "$jar" -c "$jar" -H "X-CSRF-Token: $csrf")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data "$3")
  http "${args[@]}" "$base$2"
}
login() { # PATH (setup or login)
  rm -f "$jar"
  local a
  a="$(http -X POST -c "$jar" -H 'Content-Type: application/json' --data '{"password":"boot-test-pass"}' "$base/api/$1")"
  csrf="$(jq -r '.csrf // empty' <<<"$a")"
  [ -n "$csrf" ] || fail "POST /api/$1 answered: $a"
}

check_common() { # every boot: the root is read-only, /var is the overlay on the data partition
  local opts
  opts="$(guest 10 'findmnt -no OPTIONS /')"
  case "$opts" in ro,* | ro) ;; *) fail "root is mounted '$opts', not read-only" ;; esac
  guest 10 'touch /usr/lib/.rv-write-test' >/dev/null 2>&1 && fail "root accepted a write"
  [ "$(guest 10 'findmnt -no FSTYPE /var')" = overlay ] || fail "/var is not the overlay: $(guest 10 'findmnt /var')"
  [ "$(guest 10 'findmnt -no SOURCE /run/buildroot/mounts/var')" = /dev/vda3 ] ||
    fail "the data partition is not mounted: $(guest 10 'findmnt /run/buildroot/mounts/var')"
  local failed
  failed="$(guest 20 'systemctl list-units --state=failed --no-legend --plain | cut -d" " -f1')"
  [ -z "$failed" ] || fail "failed units: $failed; $(guest 20 "journalctl -b --no-pager -n 40 -u ${failed%%$'\n'*}")"
  ok "root read-only ($opts), /var an overlay on /dev/vda3, no failed unit"
}

ready_figures() {
  local active start
  active="$(unit retrovue.service ActiveEnterTimestampMonotonic)"
  start="$(unit retrovue.service ExecMainStartTimestampMonotonic)"
  say "figure: READY=1 at $((active / 1000)) ms after the kernel started (daemon start to READY: $(((active - start) / 1000)) ms)"
}

# ===== boot 1: first boot ================================================================
step "boot 1 (first boot, $accel): firmware, GRUB, kernel, systemd"
start_vm
wait_shell 300
say "figure: test shell after $(($(date +%s) - step_t)) s (from QEMU start)"
wait_ready 300
ready_figures
[ "$(unit retrovue.service Type)" = notify ] || fail "retrovue.service is not Type=notify"
[ "$(unit retrovue.service WatchdogUSec)" = 30s ] || fail "WatchdogUSec is $(unit retrovue.service WatchdogUSec)"
ok "retrovue.service active after READY=1 (Type=notify, WatchdogSec=30s)"

step "first-boot: data partition, machine ID, read-only root"
p3_start="$(guest 10 'cat /sys/class/block/vda3/start')"
p3_size="$(guest 10 'cat /sys/class/block/vda3/size')"
free=$((disk_sectors - p3_start - p3_size))
[ "$free" -le 2048 ] || fail "data partition ends $free sectors before the end of the disk"
guest 10 'journalctl -b -o cat -u retrovue-grow-data' | grep -q "grown from" ||
  fail "retrovue-grow-data did not grow the partition: $(guest 10 'journalctl -b -o cat -u retrovue-grow-data')"
fs_bytes="$(guest 10 'findmnt -bno SIZE /run/buildroot/mounts/var')"
[ "$fs_bytes" -gt $(((p3_size * 512) * 9 / 10)) ] || fail "the data filesystem ($fs_bytes bytes) was not grown with its partition ($((p3_size * 512)))"
ok "data partition grew to the end of the $((disk_sectors / 2048)) MiB disk (image $((image_bytes / 1048576)) MiB): $((p3_size / 2048)) MiB, filesystem $((fs_bytes / 1048576)) MiB"
id1="$(guest 10 'cat /etc/machine-id')"
[ "$(guest 10 'cat /var/lib/machine-id')" = "$id1" ] || fail "machine ID not stored on the data partition"
guest 10 'journalctl -b -o cat -u retrovue-machine-id' | grep -q "added systemd.machine_id=$id1" ||
  fail "machine ID not put on the kernel command line: $(guest 10 'journalctl -b -o cat -u retrovue-machine-id')"
ok "machine ID $id1 stored and added to grub.cfg"
check_common

step "from the host: discover.json, the web page, HDHomeRun discovery"
discover="$(http "$base/discover.json")" || fail "GET /discover.json: $discover"
device_id="$(jq -r .DeviceID <<<"$discover")"
if [ -z "$device_id" ] || [ "$device_id" = null ]; then fail "discover.json without DeviceID: $discover"; fi
ok "GET /discover.json: DeviceID $device_id, $(jq -r .FriendlyName <<<"$discover"), TunerCount $(jq -r .TunerCount <<<"$discover")"
page="$(http -w '%{http_code}' -o "$w/index.html" "$base/")"
if [ "$page" != 200 ] || ! grep -qi "<html" "$w/index.html"; then fail "GET / answered $page"; fi
ok "GET / (web page): 200, $(stat -c %s "$w/index.html") bytes"
found="$(timeout 15 hdhomerun_config discover 127.0.0.1 2>&1)" || true
grep -qi "hdhomerun device $device_id found at 127.0.0.1" <<<"$found" ||
  fail "hdhomerun_config discover 127.0.0.1: '$found', not $device_id"
ok "hdhomerun_config discover 127.0.0.1: $found"

step "a user's first setup: password, a USB disk source, scan, channels"
login setup
guest 20 'mount -o ro LABEL=retrovue-media /mnt && ls /mnt' >/dev/null || fail "cannot mount the media disk in the guest"
for src in Shows:shows Commercials:commercials; do
  a="$(api POST /api/sources "{\"type\":\"folder\",\"path\":\"/mnt/${src%:*}\",\"content_kind\":\"${src#*:}\"}")"
  jq -e '.id' <<<"$a" >/dev/null || fail "adding the folder /mnt/${src%:*}: $a"
done
api POST /api/scan '{}' >/dev/null
deadline=$(($(date +%s) + 120 * slow))
while :; do
  scan="$(api GET /api/scan)"
  [ "$(jq -r .running <<<"$scan")" = false ] && break
  [ "$(date +%s)" -lt "$deadline" ] || fail "scan not finished: $scan"
  sleep 2
done
[ "$(jq -r .report.added <<<"$scan")" = 5 ] || fail "scan report: $scan"
ok "scan added 5 items in $(($(date +%s) - step_t)) s"
made="$(api POST /api/channels/auto '{}')"
jq -e 'length > 0' <<<"$made" >/dev/null || fail "no channels proposed: $made"
lineup="$(http "$base/lineup.json")"
number="$(jq -r '.[0].GuideNumber' <<<"$lineup")"
if [ -z "$number" ] || [ "$number" = null ]; then fail "empty lineup: $lineup"; fi
ok "channels made: $(jq -r '[.[] | .GuideNumber + " " + .GuideName] | join(", ")' <<<"$lineup")"

step "channel $number streams from a keyframe (HDHomeRun path /auto/v$number)"
ts="$w/first.ts"
tune_start=$(date +%s%N)
timeout $((90 * slow)) curl -sN "$base/auto/v$number" 2>/dev/null | head -c 400000 >"$ts" || true
tune_ms=$((($(date +%s%N) - tune_start) / 1000000))
[ "$(stat -c %s "$ts")" -ge 400000 ] || fail "channel $number sent $(stat -c %s "$ts") bytes in $tune_ms ms"
first="$(ffprobe -v error -select_streams v:0 -show_frames -read_intervals '%+#1' \
  -show_entries frame=key_frame,pict_type,width,height -of csv=p=0 "$ts" | head -n 1)"
case "$first" in 1,*) ;; *) fail "the first video frame of channel $number is not a keyframe: '$first'" ;; esac
codecs="$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$ts" | sort -u | paste -sd, -)"
ok "first video frame is a keyframe ($first; streams $codecs); 400 kB in $tune_ms ms"
# The unit's system-call filter lets the daemon lower its encoder threads' priority.
journal="$(guest 20 'journalctl -b -o cat -u retrovue --no-pager')"
if grep -q "cannot lower the encoder thread's priority" <<<"$journal"; then
  fail "the daemon could not lower its encoder threads' priority: $(grep -m 1 "cannot lower" <<<"$journal")"
fi
ok "encoder threads' priority lowered (no complaint in the journal)"

# Something to find after the reboot: a settings change, committed.
a="$(api PUT /api/settings '{"device_name":"Boot Test Reboot"}')"
jq -e . <<<"$a" >/dev/null || fail "PUT /api/settings: $a"

# ===== boot 2: reboot ====================================================================
step "boot 2: systemctl reboot"
boot_id1="$(guest 10 'cat /proc/sys/kernel/random/boot_id')"
printf ' systemctl reboot\n' >&7
boots=$((boots + 1))
sleep $((5 * slow))
wait_shell 300
[ "$(guest 10 'cat /proc/sys/kernel/random/boot_id')" != "$boot_id1" ] || fail "the guest did not reboot"
wait_ready 300
ready_figures
[ "$(guest 10 'cat /etc/machine-id')" = "$id1" ] || fail "machine ID changed: $(guest 10 'cat /etc/machine-id') after $id1"
guest 10 'cat /proc/cmdline' | grep -q "systemd.machine_id=$id1" || fail "kernel command line lacks the machine ID"
ok "machine ID kept ($id1, from the kernel command line)"
guest 10 'journalctl -b -o cat -u retrovue-grow-data' | grep -q "already fills" || fail "grow-data did not leave the partition alone"
ok "grow-data left the grown partition alone"
check_common
[ "$(http "$base/discover.json" | jq -r .FriendlyName)" = "Boot Test Reboot" ] || fail "the settings change was lost across the reboot"
[ "$(http "$base/lineup.json" | jq -r '.[0].GuideNumber')" = "$number" ] || fail "the channels were lost across the reboot"
ok "database kept across the reboot (device name, channels)"

step "kill -9 of the daemon: systemd restarts it"
pid1="$(unit retrovue.service MainPID)"
restarts1="$(unit retrovue.service NRestarts)"
guest 10 "kill -9 $pid1"
killed=$(date +%s)
deadline=$((killed + 60 * slow))
while :; do
  pid2="$(unit retrovue.service MainPID)"
  state="$(unit retrovue.service ActiveState)"
  [ "$state" = active ] && [ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] && break
  [ "$(date +%s)" -lt "$deadline" ] || fail "not restarted after kill -9 (state $state, pid $pid2)"
  sleep 1
done
restarts2="$(unit retrovue.service NRestarts)"
[ "$restarts2" -gt "$restarts1" ] || fail "NRestarts did not grow ($restarts1 -> $restarts2)"
http "$base/discover.json" | jq -e .DeviceID >/dev/null || fail "discover.json after the restart"
ok "killed PID $pid1; PID $pid2 READY again within $(($(date +%s) - killed)) s (NRestarts $restarts1 -> $restarts2)"

# ===== boot 3: power pulled ==============================================================
step "boot 3: pull the power right after a committed change"
login login
a="$(api PUT /api/settings '{"device_name":"Boot Test Power Cut"}')"
jq -e . <<<"$a" >/dev/null || fail "PUT /api/settings: $a"
kill -KILL "$qemu_pid"
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=""
say "QEMU killed without shutdown, right after the change was answered"
stop_vm
start_vm
wait_shell 300
wait_ready 300
ready_figures
check_common
name="$(http "$base/discover.json" | jq -r .FriendlyName)"
[ "$name" = "Boot Test Power Cut" ] || fail "the committed change was lost with the power: device name '$name'"
ok "the committed change survived the power cut"
[ "$(guest 10 'cat /etc/machine-id')" = "$id1" ] || fail "machine ID changed after the power cut"

step "clean power-off"
printf ' systemctl poweroff\n' >&7
deadline=$(($(date +%s) + 120 * slow))
while kill -0 "$qemu_pid" 2>/dev/null; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "the guest did not power off"
  sleep 1
done
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=""
ok "powered off"
say "boot-test passed ($accel, $boots boots, $(($(date +%s) - t0)) s)"
