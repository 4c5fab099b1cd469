#!/bin/sh
# Keep the machine ID the box got on its first boot (installed as
# /usr/libexec/retrovue/machine-id, run by retrovue-machine-id.service once /var is mounted).
#
# /etc is read-only, so systemd generates a new transient ID at every boot (machine-id(5)).
# This stores the first one on the data partition (/var/lib/machine-id) and adds
# systemd.machine_id=<id> to the kernel command line on the boot partition (cmdline.txt on
# the Pi, GRUB's grub.cfg on a PC), which PID 1 reads before anything else from the next
# boot on. Idempotent; does nothing once the command line carries the stored ID.
set -eu

# Overridable for scripts/test-appliance.sh only.
store="${MACHINE_ID_STORE:-/var/lib/machine-id}"
etc_id="${MACHINE_ID_ETC:-/etc/machine-id}"
cmdline="${MACHINE_ID_CMDLINE:-/proc/cmdline}"
boot_dev="${MACHINE_ID_BOOT_DEV:-/dev/disk/by-label/RVBOOT}"

valid() {
	printf '%s' "$1" | grep -qxE '[0-9a-f]{32}'
}

stored="$(cat "$store" 2>/dev/null || true)"
if ! valid "$stored"; then
	stored="$(cat "$etc_id")"
	valid "$stored" || { echo "machine-id: $etc_id is not a valid ID" >&2; exit 1; }
	printf '%s\n' "$stored" >"$store.tmp"
	sync "$store.tmp"
	mv "$store.tmp" "$store"
	echo "machine-id: stored $stored in $store"
fi

# This boot may run with another ID (boot partition replaced): let what starts after us see
# the stored one.
if [ "$(cat "$etc_id")" != "$stored" ]; then
	mount --bind "$store" "$etc_id"
fi

if grep -q "systemd.machine_id=$stored" "$cmdline"; then
	exit 0
fi

if [ -n "${MACHINE_ID_BOOT_DIR:-}" ]; then
	mnt="$MACHINE_ID_BOOT_DIR"
elif [ ! -e "$boot_dev" ]; then
	echo "machine-id: no boot partition $boot_dev; the ID stays per-boot" >&2
	exit 0
else
	mnt="$(mktemp -d /run/retrovue-boot.XXXXXX)"
	trap 'umount "$mnt" 2>/dev/null || true; rmdir "$mnt"' EXIT
	mount -t vfat -o rw,noatime "$boot_dev" "$mnt"
fi

# Rewrite one file safely on FAT: write a copy, flush it, rename it over the original.
edit() {
	file="$1"
	script="$2"
	sed -e "$script" "$file" >"$file.new"
	sync "$file.new"
	mv "$file.new" "$file"
	sync "$mnt"
}

if [ -f "$mnt/cmdline.txt" ]; then
	edit "$mnt/cmdline.txt" "s/ *systemd\.machine_id=[^ ]*//g; 1s/\$/ systemd.machine_id=$stored/"
	echo "machine-id: added systemd.machine_id=$stored to cmdline.txt"
elif [ -f "$mnt/EFI/BOOT/grub.cfg" ]; then
	edit "$mnt/EFI/BOOT/grub.cfg" "s/ *systemd\.machine_id=[^ ]*//g; s/^\([[:space:]]*linux .*\)\$/\1 systemd.machine_id=$stored/"
	echo "machine-id: added systemd.machine_id=$stored to EFI/BOOT/grub.cfg"
else
	echo "machine-id: no cmdline.txt or grub.cfg on the boot partition" >&2
fi
