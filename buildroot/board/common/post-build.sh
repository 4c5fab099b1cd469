#!/bin/sh
# Buildroot post-build script for every Retrovue board.
# Arguments (BR2_ROOTFS_POST_SCRIPT_ARGS): $1 = TARGET_DIR, $2 = board (rpi4_64, rpi3_64,
# rpi5, x86_64). Environment from Buildroot: BINARIES_DIR, BR2_EXTERNAL_RETROVUE_PATH.
set -eu

target="$1"
board="$2"
ext="${BR2_EXTERNAL_RETROVUE_PATH:?run by Buildroot}"

# The data partition (label retrovue-data) holds the upper layer of the /var overlay
# (BR2_INIT_SYSTEMD_VAR_OVERLAYFS), so /var/lib/retrovue, the journal and timesyncd's
# clock file persist on a read-only root. x-systemd.growfs grows the filesystem online
# after retrovue-grow-data.service has grown the partition on first boot.
if ! grep -q 'retrovue-data' "$target/etc/fstab"; then
	echo "LABEL=retrovue-data /run/buildroot/mounts/var ext4 defaults,noatime,commit=30,x-systemd.growfs 0 2" \
		>>"$target/etc/fstab"
fi

# A login prompt on the HDMI / VGA console.
mkdir -p "$target/etc/systemd/system/getty.target.wants"
ln -sf /usr/lib/systemd/system/getty@.service \
	"$target/etc/systemd/system/getty.target.wants/getty@tty1.service"

# What this image is, for the web page and bug reports.
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ext/../Cargo.toml" | head -n 1)"
cat >"$target/etc/retrovue-release" <<RELEASE
RETROVUE_VERSION=$version
RETROVUE_BOARD=$board
RELEASE

case "$board" in
x86_64)
	# GRUB's configuration on the EFI partition; post-image.sh fills in the root UUID.
	install -D -m 0644 "$ext/board/x86_64/grub.cfg" \
		"$BINARIES_DIR/efi-part/EFI/BOOT/grub.cfg"
	;;
esac
