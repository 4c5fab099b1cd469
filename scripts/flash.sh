#!/usr/bin/env bash
# Write a Retrovue image to an SD card, USB stick or disk, after confirmation.
#
# Usage: scripts/flash.sh IMAGE(.img or .img.xz) DEVICE [--yes]
#
# Refuses: a device that is not a whole block device, the disk holding this machine's root,
# /boot or swap, and any disk with a mounted partition (unmount it first). Everything on
# DEVICE is erased. --yes skips the question (scripts; the refusals still apply).
set -euo pipefail

image="${1:-}"
device="${2:-}"
assume_yes="${3:-}"
if [ -z "$image" ] || [ -z "$device" ]; then
  echo "usage: scripts/flash.sh IMAGE(.img|.img.xz) DEVICE [--yes]" >&2
  echo "disks:" >&2
  lsblk -d -o NAME,SIZE,MODEL,TRAN,RM >&2 || true
  exit 2
fi
[ -f "$image" ] || { echo "flash: no such image: $image" >&2; exit 1; }

device="$(readlink -f "$device")"
name="$(basename "$device")"
if [ ! -b "$device" ] || [ ! -d "/sys/class/block/$name" ]; then
  echo "flash: $device is not a block device" >&2
  exit 1
fi
if [ -f "/sys/class/block/$name/partition" ]; then
  echo "flash: $device is a partition; give the whole disk (e.g. /dev/sdb, /dev/mmcblk0)" >&2
  exit 1
fi

# The disk a mounted filesystem or active swap lives on.
disk_of() {
  local dev
  dev="$(readlink -f "$1")"
  [ -b "$dev" ] || return 0
  lsblk -no PKNAME "$dev" 2>/dev/null | head -n 1
}
for mountpoint in / /boot /boot/efi /usr /var /home; do
  source_dev="$(findmnt -no SOURCE "$mountpoint" 2>/dev/null || true)"
  [ -n "$source_dev" ] || continue
  if [ "$(disk_of "$source_dev")" = "$name" ] || [ "$(readlink -f "$source_dev")" = "$device" ]; then
    echo "flash: refusing: $device holds this system's $mountpoint" >&2
    exit 1
  fi
done
while read -r swap _; do
  [ "$swap" = Filename ] && continue
  if [ "$(disk_of "$swap")" = "$name" ]; then
    echo "flash: refusing: $device holds active swap ($swap)" >&2
    exit 1
  fi
done </proc/swaps
mounted="$(lsblk -nro NAME,MOUNTPOINT "$device" | awk '$2 != "" { print "/dev/" $1 " on " $2 }')"
if [ -n "$mounted" ]; then
  echo "flash: refusing: $device has mounted filesystems; unmount them first:" >&2
  echo "$mounted" >&2
  exit 1
fi

size="$(lsblk -dno SIZE "$device" | tr -d ' ')"
model="$(lsblk -dno MODEL "$device" | sed 's/ *$//')"
echo "About to ERASE $device ($size${model:+, $model}) and write $(basename "$image")."
if [ "$assume_yes" != "--yes" ]; then
  read -r -p "Type the device name ($name) to continue: " answer
  if [ "$answer" != "$name" ]; then
    echo "flash: not confirmed; nothing written" >&2
    exit 1
  fi
fi

case "$image" in
  *.xz) reader=(xz -dc "$image") ;;
  *) reader=(cat "$image") ;;
esac
"${reader[@]}" | dd of="$device" bs=4M iflag=fullblock oflag=direct conv=fsync status=progress
sync
echo "flash: done. Put the card in the box, plug in Ethernet and power; then open http://retrovue.local/"
