#!/usr/bin/env bash
# Builds the stand-in OS disk from Debian packages only: a GPT disk whose EFI
# system partition holds systemd-boot as \EFI\BOOT\BOOTX64.EFI (the
# removable-media path any UEFI firmware boots), the Debian cloud kernel and
# a busybox initramfs whose init prints BMCAST-READY and powers off.
# Prints the image path; cached under vmm/.cache/guest. One build at a time:
# vmm/test.sh and the test suite's classes may ask for it together.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(realpath -m "$here/../.cache/guest")"
disk="$work/standin.img"
fresh() { [[ -f "$disk" && "$disk" -nt "$here/init" && "$disk" -nt "$here/nvme-io.asm" && "$disk" -nt "$0" ]]; }
if fresh; then echo "$disk"; exit 0; fi
mkdir -p "$work"
exec 9>"$work/.build.lock"
flock 9
if fresh; then echo "$disk"; exit 0; fi   # built by whoever held the lock

need=()
command -v cpio >/dev/null || need+=(cpio)
command -v sfdisk >/dev/null || need+=(fdisk)
command -v mkfs.fat >/dev/null || need+=(dosfstools)
command -v mcopy >/dev/null || need+=(mtools)
command -v nasm >/dev/null || need+=(nasm)
command -v ld.lld >/dev/null || need+=(lld)
if ((${#need[@]})); then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >&2
fi

mkdir -p "$work/debs" "$work/root"
cd "$work/debs"
kernel() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'; }
kernel_pkg=$(kernel)
if [[ -z $kernel_pkg ]]; then   # no package lists yet on a fresh machine
  apt-get update -qq >&2
  kernel_pkg=$(kernel)
fi
for pkg in "$kernel_pkg" systemd-boot-efi busybox-static; do
  ls "${pkg}"_*.deb >/dev/null 2>&1 && continue
  if ! out=$(apt-get -q download "$pkg" 2>&1); then echo "$out" >&2; exit 1; fi
done
rm -rf "$work/root" && mkdir -p "$work/root"
for deb in "$kernel_pkg"_*.deb systemd-boot-efi_*.deb busybox-static_*.deb; do dpkg -x "$deb" "$work/root"; done

# initramfs: busybox, our init, the cpuid driver (the kernel needs no
# modules to reach init, and the guest never mounts a disk) and nvme-io
# (raw NVMe commands, for the read-disk mode's hostile checks).
ird="$work/initrd"
rm -rf "$ird" && mkdir -p "$ird/bin" "$ird/dev"
mkdir -p "$ird/lib"
cp "$work/root/bin/busybox" "$ird/bin/busybox"
# Linux's /dev/cpu/N/cpuid driver (a module in the cloud kernel), for the devirt mode.
cp "$(find "$work/root/lib/modules" -name cpuid.ko | head -1)" "$ird/lib/cpuid.ko"
install -m 755 "$here/init" "$ird/init"
nasm -f elf64 "$here/nvme-io.asm" -o "$work/nvme-io.o"
ld.lld -static -o "$ird/bin/nvme-io" "$work/nvme-io.o"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -9) > "$work/initrd.img"

esp="$work/esp.img"
rm -f "$esp"
mkfs.fat -C -n BMCASTESP "$esp" $((62 * 1024)) >/dev/null
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i "$esp" "$work/root/usr/lib/systemd/boot/efi/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$work"/root/boot/vmlinuz-* ::/vmlinuz
mcopy -i "$esp" "$work/initrd.img" ::/initrd.img
printf 'default bmcast.conf\ntimeout 0\n' > "$work/loader.conf"
# no_timer_check: as images/lib.sh's (under TCG on a loaded host the early IO-APIC timer check can panic a healthy boot).
printf 'title bmcast stand-in\nlinux /vmlinuz\ninitrd /initrd.img\noptions console=ttyS0 panic=-1 no_timer_check\n' > "$work/bmcast.conf"
mcopy -i "$esp" "$work/loader.conf" ::/loader/loader.conf
mcopy -i "$esp" "$work/bmcast.conf" ::/loader/entries/bmcast.conf

# GPT: one EFI system partition at 1 MiB.
rm -f "$disk.tmp"
truncate -s 64M "$disk.tmp"
printf 'label: gpt\nstart=2048, size=%d, type=U\n' $((62 * 2048)) | sfdisk -q "$disk.tmp" >&2
dd if="$esp" of="$disk.tmp" bs=1M seek=1 conv=notrunc status=none
mv "$disk.tmp" "$disk"
echo "$disk"
