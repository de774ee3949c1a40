#!/usr/bin/env bash
# tiny: a busybox root, the Debian cloud kernel and a small initramfs that
# loads the virtio modules and, for a network boot, finds its root over AoE.
# 64 MiB disk; builds in seconds.
. "$(dirname "$0")/lib.sh"
# The initramfs is a cpio archive; cpio is Priority important, not on every Debian.
need_tools cpio:cpio
out=$1
make_scratch tiny

step "downloading packages"
kernel=$(kernel_package)
fetch_debs "$kernel" busybox-static
unpack "$scratch/pkgs" "$kernel" busybox-static
busybox="$scratch/pkgs/bin/busybox"

step "building the initramfs"
# virtio_blk and what it needs, in load order.
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk"
# A root over AoE: virtio_net (the cloud kernel has no e1000) and what it needs
# on top of the above, in load order; aoe.ko itself loads once the links are up.
net_modules="failover net_failover virtio_net"
ird="$scratch/initramfs"
mkdir -p "$ird/bin" "$ird/lib/modules"
cp "$busybox" "$ird/bin/busybox"
for m in $modules $net_modules aoe; do
  cp "$(find "$scratch/pkgs/lib/modules" -name "$m.ko" | head -n 1)" "$ird/lib/modules/" || die "no $m.ko"
done
echo $modules | tr ' ' '\n' > "$ird/lib/modules/order"
echo $net_modules | tr ' ' '\n' > "$ird/lib/modules/net-order"
install -m 755 "$images_dir/tiny/initramfs-init" "$ird/init"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -9) > "$scratch/initrd.img"

step "building the root file system"
rootfs="$scratch/rootfs"
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,var/lib,root}
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list-full); do
  [[ -e $rootfs/$applet ]] || ln -s /bin/busybox "$rootfs/$applet"
done
install -m 755 "$images_dir/tiny/init" "$rootfs/sbin/init"
install_guest "$rootfs"

step "assembling the disk"
make_boot_fat "$scratch/boot.fat" 24 "$scratch"/pkgs/boot/vmlinuz-* "$scratch/initrd.img" \
  "$(systemd_boot "$scratch/pkgs")"
assemble_disk "$out" 64 "$scratch/boot.fat" "$rootfs"
