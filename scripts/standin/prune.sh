#!/bin/sh
# Stand-in image only (scripts/build-standin-image.sh, mmdebstrap customize hook): trim the
# Debian base towards what the Buildroot image carries. Debian's kernel ships ~400 MB of
# modules for every machine; Buildroot's kernel (board/pc/linux.config + our fragment) has
# a few. Keep the modules the appliance loads in QEMU and on a PC (with their dependencies)
# and drop Mesa's GL drivers, which only Debian's GTK-linked GStreamer plugins pull in and
# nothing in the daemon's pipelines loads.
# Usage: prune.sh ROOT
set -eu
root="$1"
ver="$(ls "$root/usr/lib/modules")"
want="virtio_net virtio_blk virtio_pci virtio_rng virtio_console vfat nls_cp437 nls_iso8859_1
  nls_utf8 nls_ascii overlay i6300esb iTCO_wdt sp5100_tco ext4 ahci nvme sd_mod uas usb_storage xhci_pci
  ehci_pci autofs4 loop efivarfs configfs fuse e1000e igb igc r8169 tg3 i915"
keep="$(for m in $want; do chroot "$root" modprobe --show-depends --set-version "$ver" "$m"; done |
  awk '$1 == "insmod" { print $2 }' | sort -u)"
lib="$root/usr/lib/modules/$ver"
tmp="$root/.keep-modules"
mkdir -p "$tmp"
for f in $keep; do
  rel="${f#/usr/lib/modules/"$ver"/}"
  rel="${rel#/lib/modules/"$ver"/}"
  mkdir -p "$tmp/$(dirname "$rel")"
  mv "$lib/$rel" "$tmp/$rel"
done
rm -rf "$lib/kernel"
mv "$tmp/kernel" "$lib/kernel"
rmdir "$tmp" 2>/dev/null || rm -rf "$tmp"
chroot "$root" depmod "$ver"
rm -rf "$root/usr/lib/x86_64-linux-gnu/dri" "$root/usr/lib/x86_64-linux-gnu/libLLVM-"*.so* \
  "$root/usr/lib/x86_64-linux-gnu/libz3.so"*
echo "prune: kept $(echo "$keep" | wc -l) kernel modules ($(du -sh "$lib" | cut -f1))"
