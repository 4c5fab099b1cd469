#!/usr/bin/env bash
# Build the x86_64 STAND-IN appliance image: what CI boots, because Buildroot cannot fetch
# its sources here. Debian 12 packages stand in for Buildroot's kernel and userland;
# everything that is ours goes in exactly as the Buildroot image has it:
#   - the defconfig's system settings (hostname, issue, read-only root, /var overlay on the
#     data partition, empty machine-id) and its rootfs size and mkfs options;
#   - buildroot/package/retrovue/retrovue.mk's install commands and user, read from that file;
#   - overlay/, then buildroot/board/common/post-build.sh, run as Buildroot runs it;
#   - `systemctl preset-all`, as Buildroot's systemd package runs it;
#   - GRUB for UEFI with Buildroot's built-in module list and prefix, our board grub.cfg;
#   - buildroot/board/common/post-image.sh with the real genimage.cfg.in and genimage.
# The one stand-in-only part: Debian's kernel needs an initrd (an `initrd` line in grub.cfg,
# the file kept in EFI/BOOT/ so the genimage layout stays ours). Nothing is added for tests:
# scripts/boot-test.sh puts console=ttyS0 on the command line of its own copy of the disk and
# logs in as root there, as on the Buildroot image (BR2_TARGET_GENERIC_ROOT_PASSWD empty).
# README, "The appliance, booted", says which parts this proves and which only a Buildroot
# build does.
#
# Usage: scripts/build-standin-image.sh OUT_DIR [RETROVUE_BINARY]
#   RETROVUE_BINARY defaults to $CARGO_TARGET_DIR/release/retrovue (or target/release/).
# Result: OUT_DIR/retrovue-x86_64.img (post-image.sh's name; RETROVUE_IMAGE_RAW_ONLY=0 also
# makes the .img.xz a release has).
# The Debian base (mmdebstrap, a few minutes and ~250 MB of downloads) is cached in
# $RETROVUE_CACHE_DIR (default ~/.cache/retrovue) under a key made of its package list and
# recipe, so later builds take about a minute. Needs root (mmdebstrap, file ownership).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

out="${1:?usage: scripts/build-standin-image.sh OUT_DIR [RETROVUE_BINARY]}"
bin="${2:-${CARGO_TARGET_DIR:-$repo/target}/release/retrovue}"
board=x86_64
defconfig="buildroot/configs/retrovue_${board}_defconfig"
cache="${RETROVUE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/retrovue}"

if [ "$(id -u)" -ne 0 ]; then
  echo "build-standin-image: needs root (mmdebstrap, root-owned files in the image)" >&2
  exit 1
fi
for tool in mmdebstrap genimage grub-mkimage mkfs.ext4 mkfs.vfat mcopy dumpe2fs xz systemctl; do
  command -v "$tool" >/dev/null || {
    echo "build-standin-image: $tool not found (scripts/deps.sh --test installs it)" >&2
    exit 1
  }
done
[ -x "$bin" ] || {
  echo "build-standin-image: no daemon binary at $bin (cargo build --release)" >&2
  exit 1
}

# --- The Debian base: kernel, systemd and what the Buildroot defconfig selects ----------
suite=bookworm
packages=(
  # kernel (its initrd is the one stand-in part of the boot path), init, devices
  linux-image-amd64 initramfs-tools systemd systemd-sysv udev dbus kmod
  # BR2_PACKAGE_SYSTEMD_{NETWORKD,TIMESYNCD} and resolved (Buildroot's default)
  systemd-timesyncd systemd-resolved
  # BR2_PACKAGE_UTIL_LINUX_{BINARIES,PARTX}, BR2_PACKAGE_E2FSPROGS (grow-data, growfs)
  util-linux fdisk e2fsprogs mount
  # the daemon's libraries and GStreamer plugins (the defconfig's GST1 selection)
  libgstreamer1.0-0 libgstreamer-plugins-base1.0-0 gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav gstreamer1.0-x libsqlite3-0 ca-certificates fonts-dejavu-core
)
# Bump when the recipe below changes in a way the package list does not show.
recipe=2
key="$(cat - scripts/standin/prune.sh <<<"$(printf '%s\n' "$suite" "$recipe" "${packages[@]}")" | sha256sum | cut -c1-16)"
base="$cache/standin-base-$key.tar"
if [ ! -f "$base" ]; then
  mkdir -p "$cache"
  echo "build-standin-image: building the Debian base ($base)"
  start=$(date +%s)
  # The initrd holds only what mounts the root (virtio or AHCI/NVMe disk, ext4): small
  # enough for the 32 MB EFI partition of genimage.cfg.in. ($1 in a hook is the chroot.)
  # shellcheck disable=SC2016
  mmdebstrap --variant=minbase --format=tar --include="$(
    IFS=,
    echo "${packages[*]}"
  )" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='echo MODULES=list >"$1/etc/initramfs-tools/conf.d/retrovue-standin.conf"' \
    --customize-hook='printf "%s\n" virtio_pci virtio_blk ahci nvme sd_mod ext4 >"$1/etc/initramfs-tools/modules"' \
    --customize-hook='chroot "$1" update-initramfs -u -k all' \
    --customize-hook="sh '$repo/scripts/standin/prune.sh' \"\$1\"" \
    "$suite" "$base.tmp" http://deb.debian.org/debian
  mv "$base.tmp" "$base"
  echo "build-standin-image: Debian base built in $(($(date +%s) - start)) s"
fi

# --- Assemble TARGET_DIR as Buildroot would ----------------------------------------------
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
target="$work/target"
mkdir -p "$target" "$out"
out="$(cd "$out" && pwd)"
binaries="$out"
rm -rf "${binaries:?}/efi-part"
tar -C "$target" --numeric-owner -xpf "$base"

conf() { sed -n "s/^$1=\"\\{0,1\\}\\([^\"]*\\)\"\\{0,1\\}\$/\\1/p" "$defconfig"; }

# skeleton-init-common / skeleton-init-systemd with BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW off
# and BR2_INIT_SYSTEMD_VAR_OVERLAYFS: root read-only, /var an overlay on the data partition.
grep -qx "# BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW is not set" "$defconfig"
grep -qx "BR2_INIT_SYSTEMD_VAR_OVERLAYFS=y" "$defconfig"
echo "/dev/root / auto ro 0 1" >"$target/etc/fstab"
conf BR2_TARGET_GENERIC_HOSTNAME >"$target/etc/hostname"
conf BR2_TARGET_GENERIC_ISSUE >"$target/etc/issue"
: >"$target/etc/machine-id" # systemd.mk: an empty file, so every boot has a transient ID
rm -f "$target/var/lib/dbus/machine-id"
# BR2_TARGET_GENERIC_ROOT_PASSWD left empty: root logs in on a console without a password.
chroot "$target" passwd -q -d root
install -m 0644 scripts/standin/prepare-var-overlay.service scripts/standin/var.mount \
  "$target/usr/lib/systemd/system/"

# The package: cargo install puts the binary in /usr/bin; then RETROVUE_INSTALL_INIT_SYSTEMD
# and RETROVUE_USERS, read from retrovue.mk so the two cannot drift apart.
install -D -m 0755 "$bin" "$target/usr/bin/retrovue"
mk=buildroot/package/retrovue/retrovue.mk
installs="$(awk '/^define RETROVUE_INSTALL_INIT_SYSTEMD/{f=1;next} /^endef/{f=0} f' "$mk" |
  sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta')"
count=0
while read -r cmd dash_d dash_m mode src dst; do
  # shellcheck disable=SC2016 # the make text itself
  [ "$cmd $dash_d $dash_m" = '$(INSTALL) -D -m' ] || {
    echo "build-standin-image: cannot read this install line of $mk: $cmd $dash_d $dash_m $mode $src $dst" >&2
    exit 1
  }
  install -D -m "$mode" "$repo/${src#\$(@D)/}" "$target/${dst#\$(TARGET_DIR)/}"
  count=$((count + 1))
done <<<"$installs"
[ "$count" -ge 3 ] || {
  echo "build-standin-image: found only $count install lines in $mk" >&2
  exit 1
}
# makeusers line: name uid group gid password home shell groups comment
read -r u_name _ u_group _ _ u_home _ u_groups u_comment < <(
  awk '/^define RETROVUE_USERS/{getline; print; exit}' "$mk"
)
for g in $u_group ${u_groups//,/ }; do
  chroot "$target" getent group "$g" >/dev/null || chroot "$target" groupadd --system "$g"
done
chroot "$target" useradd --system --gid "$u_group" --groups "$u_groups" --home-dir "$u_home" \
  --no-create-home --shell /bin/false --comment "$u_comment" "$u_name"
install -d -o "$(chroot "$target" id -u "$u_name")" -g "$(chroot "$target" id -g "$u_name")" -m 0755 "$target$u_home"

# BR2_ROOTFS_OVERLAY, then BR2_ROOTFS_POST_BUILD_SCRIPT with BR2_ROOTFS_POST_SCRIPT_ARGS.
cp -a overlay/. "$target/"
BR2_EXTERNAL_RETROVUE_PATH="$repo/buildroot" BINARIES_DIR="$binaries" \
  sh buildroot/board/common/post-build.sh "$target" "$(conf BR2_ROOTFS_POST_SCRIPT_ARGS)"

# Upstream systemd (so Buildroot's) mounts a tmpfs on /tmp (tmp.mount, enabled at install);
# Debian moves that unit aside. Without it /tmp is the read-only root, and every unit with
# PrivateDevices= (resolved, timesyncd) fails: systemd makes their private /dev under /tmp.
install -m 0644 "$target/usr/share/systemd/tmp.mount" "$target/etc/systemd/system/tmp.mount"
mkdir -p "$target/etc/systemd/system/local-fs.target.wants"
ln -sf ../tmp.mount "$target/etc/systemd/system/local-fs.target.wants/tmp.mount"

# systemd.mk: every unit with an [Install] section is enabled by its preset. Debian's own
# maintenance timers (apt, dpkg, e2scrub, fstrim) are not in the Buildroot image.
systemctl --root="$target" preset-all >/dev/null 2>&1
for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer; do
  systemctl --root="$target" mask "$u" >/dev/null 2>&1 || true
done


# The kernel and GRUB on the EFI partition. bzImage as Buildroot names it; the initrd is the
# stand-in's (Debian builds storage drivers and ext4 as modules).
efi="$binaries/efi-part/EFI/BOOT"
kernels=("$target"/boot/vmlinuz-*)
initrds=("$target"/boot/initrd.img-*)
cp "${kernels[0]}" "$binaries/bzImage"
cp "${initrds[0]}" "$efi/initrd.img"
rm -f "$target"/boot/initrd.img-* "$target"/boot/System.map-* "$target"/boot/config-*
# Buildroot's grub2.mk: bootx64.efi with BR2_TARGET_GRUB2_BUILTIN_MODULES_EFI (its default,
# our defconfig keeps it) and the prefix /EFI/BOOT, where post-build.sh put grub.cfg.
grub-mkimage -O x86_64-efi -p /EFI/BOOT -o "$efi/bootx64.efi" \
  boot linux ext2 fat squash4 part_msdos part_gpt normal efi_gop
sed -i -e 's|^\([[:space:]]*\)\(linux .*\)$|\1\2\n\1initrd /EFI/BOOT/initrd.img|' "$efi/grub.cfg"
grep -q 'initrd /EFI/BOOT/initrd.img' "$efi/grub.cfg" || {
  echo "build-standin-image: board grub.cfg has no 'linux' line to add the initrd after" >&2
  exit 1
}

# fs/ext2/ext2.mk with the defconfig's size and label (inodes, reserve, inode size and
# options at Buildroot's defaults).
size="$(conf BR2_TARGET_ROOTFS_EXT2_SIZE)"
# Debian's GStreamer packages pull in GTK and friends: the stand-in's root is larger than
# the Buildroot one. Then it gets the next 64 MiB step with a quarter to spare, and says so.
used_mib=$(($(du -sm "$target" | cut -f1)))
if [ $((used_mib * 5 / 4)) -gt "${size%M}" ]; then
  echo "build-standin-image: the stand-in's root holds $used_mib MiB, more than BR2_TARGET_ROOTFS_EXT2_SIZE=$size;" \
    "using $(((used_mib * 5 / 4 + 63) / 64 * 64))M (the Buildroot image keeps $size)"
  size="$(((used_mib * 5 / 4 + 63) / 64 * 64))M"
fi
rm -f "$binaries/rootfs.ext4"
mkfs.ext4 -q -d "$target" -N 0 -m 5 -L "$(conf BR2_TARGET_ROOTFS_EXT2_LABEL)" -I 256 -O ^64bit \
  "$binaries/rootfs.ext4" "$size" || {
  echo "build-standin-image: the stand-in's root does not fit BR2_TARGET_ROOTFS_EXT2_SIZE=$size:" >&2
  du -sh "$target" >&2
  exit 1
}

# BR2_ROOTFS_POST_IMAGE_SCRIPT, run from a Buildroot top directory whose
# support/scripts/genimage.sh calls genimage the way Buildroot's does.
br="$work/buildroot"
mkdir -p "$br/support/scripts"
cat >"$br/support/scripts/genimage.sh" <<'SHIM'
#!/usr/bin/env bash
# Stand-in for Buildroot's support/scripts/genimage.sh: same genimage arguments.
set -euo pipefail
[ "$1" = -c ] || { echo "genimage.sh: usage: genimage.sh -c CONFIG" >&2; exit 1; }
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
rm -rf "$BUILD_DIR/genimage.tmp"
genimage --rootpath "$root" --tmppath "$BUILD_DIR/genimage.tmp" --inputpath "$BINARIES_DIR" \
  --outputpath "$BINARIES_DIR" --config "$2"
SHIM
chmod +x "$br/support/scripts/genimage.sh"
(cd "$br" && BR2_EXTERNAL_RETROVUE_PATH="$repo/buildroot" BINARIES_DIR="$binaries" BUILD_DIR="$work/build" \
  HOST_DIR=/usr RETROVUE_IMAGE_RAW_ONLY="${RETROVUE_IMAGE_RAW_ONLY:-1}" \
  bash "$repo/buildroot/board/common/post-image.sh" "$binaries" "$board")
rm -f "$binaries/efi-part.vfat" "$binaries/data.ext4"
echo "build-standin-image: $binaries/retrovue-$board.img ($(du -h --apparent-size "$binaries/retrovue-$board.img" | cut -f1)," \
  "root $(du -sh "$target" | cut -f1) of $size)"
