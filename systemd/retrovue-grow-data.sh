#!/bin/sh
# Grow a partition to the end of its disk (first boot of the appliance; installed as
# /usr/libexec/retrovue/grow-data, run by retrovue-grow-data.service before the data
# partition is mounted). Idempotent: a partition that already reaches the end is left alone.
# Usage: grow-data PARTITION_DEVICE
set -eu

part="$(readlink -f "${1:?usage: grow-data PARTITION_DEVICE}")"
name="$(basename "$part")"
sys="/sys/class/block/$name"
if [ ! -f "$sys/partition" ]; then
	echo "grow-data: $part is not a partition" >&2
	exit 1
fi
number="$(cat "$sys/partition")"
disk_name="$(basename "$(readlink -f "$sys/..")")"
disk="/dev/$disk_name"
disk_size="$(cat "/sys/class/block/$disk_name/size")"
start="$(cat "$sys/start")"
size="$(cat "$sys/size")"
free=$((disk_size - start - size))

# Sizes in 512-byte sectors. Less than 1 MiB after it (GPT keeps 33 sectors of backup
# table at the end): nothing to do.
if [ "$free" -lt 2048 ]; then
	echo "grow-data: $part already fills $disk"
	exit 0
fi
# Hold the whole disk's BSD lock while its table changes (systemd's block device locking
# convention), so udev looks at the disk and its partitions once, when the table and the
# kernel agree again. Without it, udev caught the half-done state on a first boot under
# QEMU, dropped /dev/disk/by-label/retrovue-data for a moment, and systemd cancelled the
# data partition's fsck and mount: local-fs.target was never reached and retrovue.service
# never started (scripts/boot-test.sh).
exec 9<"$disk"
flock --exclusive 9
# A GPT image written to a larger disk has its backup table in the middle: move it to the end.
if sfdisk --lock=no --dump "$disk" | grep -q '^label: gpt'; then
	sfdisk --lock=no --no-reread --no-tell-kernel --quiet --relocate gpt-bak-std "$disk"
fi
# --no-reread: the disk is in use (root is mounted); partx tells the kernel about this one
# partition, which is not mounted yet.
echo ', +' | sfdisk --lock=no --no-reread --no-tell-kernel --quiet -N "$number" "$disk"
partx --update --nr "$number" "$disk"
flock --unlock 9
exec 9<&-
# What starts after us (fsck, the mount) finds the partition's links in place.
udevadm settle --timeout=60 2>/dev/null || true
echo "grow-data: $part grown from $size to $(cat "$sys/size") sectors"
