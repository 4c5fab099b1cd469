#!/usr/bin/env bash
# Buildroot post-image script for every Retrovue board: lays out the disk image with
# genimage and compresses it to retrovue-<board>.img.xz (Raspberry Pi Imager, Etcher).
# Arguments (BR2_ROOTFS_POST_SCRIPT_ARGS): $1 = BINARIES_DIR, $2 = board.
# Runs from Buildroot's top directory; environment: BUILD_DIR, BR2_EXTERNAL_RETROVUE_PATH.
set -euo pipefail

binaries="$1"
board="$2"
ext="${BR2_EXTERNAL_RETROVUE_PATH:?run by Buildroot}"
image="retrovue-$board.img"
cfg="$binaries/genimage-retrovue.cfg"

case "$board" in
rpi*)
	# The boot partition holds the firmware, config.txt, cmdline.txt, the DTBs, the
	# overlays and the kernel named in config.txt.
	files=()
	for f in "$binaries"/*.dtb "$binaries"/rpi-firmware/*; do
		files+=("${f#"$binaries"/}")
	done
	kernel="$(sed -n 's/^kernel=//p' "$binaries/rpi-firmware/config.txt")"
	files+=("$kernel")
	boot_files="$(printf '\\t\\t\\t"%s",\\n' "${files[@]}")"
	sed -e "s|#BOOT_FILES#|$boot_files|" -e "s|#IMAGE#|$image|" \
		"$ext/board/rpi/genimage.cfg.in" >"$cfg"
	;;
x86_64)
	uuid="$(dumpe2fs "$binaries/rootfs.ext4" 2>/dev/null | sed -n 's/^Filesystem UUID: *\(.*\)/\1/p')"
	sed -i "s/#ROOT_UUID#/$uuid/g" "$binaries/efi-part/EFI/BOOT/grub.cfg"
	sed -e "s/#ROOT_UUID#/$uuid/g" -e "s|#IMAGE#|$image|" \
		"$ext/board/x86_64/genimage.cfg.in" >"$cfg"
	;;
*)
	echo "post-image: unknown board '$board'" >&2
	exit 1
	;;
esac

support/scripts/genimage.sh -c "$cfg"

# scripts/build-standin-image.sh boots the raw image at once: RETROVUE_IMAGE_RAW_ONLY=1
# spares it compressing ~1 GB (a minute or more on two cores). Buildroot never sets it.
if [ "${RETROVUE_IMAGE_RAW_ONLY:-0}" = 1 ]; then
	echo "post-image: $binaries/$image (not compressed: RETROVUE_IMAGE_RAW_ONLY=1)"
	exit 0
fi
xz_bin="$(command -v xz || echo "$HOST_DIR/bin/xz")"
"$xz_bin" --threads=0 -6 --force --keep "$binaries/$image"
echo "post-image: $binaries/$image.xz"
