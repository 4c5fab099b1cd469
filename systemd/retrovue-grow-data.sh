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
# A GPT image written to a larger disk has its backup table in the middle: move it to the end.
if sfdisk --dump "$disk" | grep -q '^label: gpt'; then
	sfdisk --no-reread --no-tell-kernel --quiet --relocate gpt-bak-std "$disk"
fi
# --no-reread: the disk is in use (root is mounted); partx tells the kernel about this one
# partition, which is not mounted yet.
echo ', +' | sfdisk --no-reread --no-tell-kernel --quiet -N "$number" "$disk"
partx --update --nr "$number" "$disk"
echo "grow-data: $part grown from $size to $(cat "$sys/size") sectors"
