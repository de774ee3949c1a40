#!/usr/bin/env bash
# Boots OVMF -> bmcast-vmm -> the OS disk in QEMU (TCG), serial console on
# stdout. Builds whatever is missing first.
#   vmm/run-qemu.sh [--disk IMG] [--no-vmm] [--guest-mode MODE] [--vmm-option OPT] [--nic] [--aoe-tap IFACE]
#   --disk IMG  a UEFI-bootable raw disk (default: the stand-in from guest/make-disk.sh)
#   --guest-mode MODE  passed to the guest as SMBIOS type 11 "bmcast.mode=MODE"
#               (the stand-in knows "devirt": it asks the hypervisor to leave)
#   --vmm-option OPT  passed to the hypervisor as an SMBIOS type 11 string
#               ("bmcast.vmm.nvme=trap": mediate the NVMe controller, tuned by
#               "bmcast.vmm.nvme-tail=BLOCKS" and "bmcast.vmm.nvme-dbbuf=advertise|allow";
#               "bmcast.vmm.nic=hide": hide the first Ethernet function)
#   --nic       add a virtio-net NIC (user networking, no option ROM)
#   --aoe-tap IFACE  add the hypervisor's own NIC: an e1000 (no option ROM, so
#               the firmware binds no driver to it) on tap device IFACE, which
#               must exist (run this inside its network namespace)
#   --no-vmm    boot the same disk without the hypervisor (the benchmark
#               baseline): the same machine, hypervisor drive still attached,
#               but the firmware boots the OS disk first
# The OS disk is an NVMe namespace, as on the machines stage 2 targets.
# QEMU is exec'd: this script's PID becomes QEMU's. The hypervisor's drive is
# attached with snapshot=on: several machines (parallel tests) share it, and
# QEMU would otherwise refuse the second one its write lock.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="$here/.cache"
disk="" vmm=1 oem=() nic=()
while (($#)); do
  case "$1" in
    --disk) disk="$2"; shift 2 ;;
    --no-vmm) vmm=0; shift ;;
    --guest-mode) oem+=("value=bmcast.mode=$2"); shift 2 ;;
    --vmm-option) oem+=("value=$2"); shift 2 ;;
    --nic) nic=(-netdev user,id=nic0 -device virtio-net-pci,netdev=nic0,romfile=); shift ;;
    --aoe-tap) nic+=(-netdev "tap,id=aoe0,ifname=$2,script=no,downscript=no" -device e1000,netdev=aoe0,romfile=); shift 2 ;;
    *) echo "usage: $0 [--disk IMG] [--no-vmm] [--guest-mode MODE] [--vmm-option OPT] [--nic] [--aoe-tap IFACE]" >&2; exit 2 ;;
  esac
done

install() { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >&2; }
command -v qemu-system-x86_64 >/dev/null || install qemu-system-x86
ovmf=/usr/share/ovmf/OVMF.fd
[[ -f $ovmf ]] || install ovmf
command -v mcopy >/dev/null || install mtools
command -v mkfs.fat >/dev/null || install dosfstools

[[ -n "$disk" ]] || disk="$("$here/guest/make-disk.sh")"

efi="$cache/bmcast-vmm.efi"
if [[ ! -f "$efi" || -n "$(find "$here/src" "$here/asm" "$here/build.sh" -newer "$efi" -print -quit)" ]]; then
  "$here/build.sh" >/dev/null
fi
# The hypervisor's own boot drive: a FAT image with it as the removable-media
# loader, made by one machine at a time (tests start several together; the
# lock is a subshell's, so QEMU does not inherit it).
boot="$cache/vmm-boot.img"
(
  flock 9
  if [[ ! -f "$boot" || "$efi" -nt "$boot" ]]; then
    rm -f "$boot.tmp"
    mkfs.fat -C -n BMCASTVMM "$boot.tmp" 4096 >/dev/null
    mmd -i "$boot.tmp" ::/EFI ::/EFI/BOOT
    mcopy -i "$boot.tmp" "$efi" ::/EFI/BOOT/BOOTX64.EFI
    mv "$boot.tmp" "$boot"
  fi
) 9>"$cache/.boot-drive.lock"

smbios=()
((${#oem[@]} == 0)) || smbios=(-smbios "type=11,$(IFS=,; echo "${oem[*]}")")
exec qemu-system-x86_64 "${smbios[@]}" "${nic[@]}" -accel tcg -cpu max -smp 1 -m 1024 -M q35 -bios "$ovmf" \
  -display none -serial stdio -monitor none -no-reboot -net none \
  -drive if=none,id=vmm,format=raw,file="$boot",snapshot=on -device ide-hd,drive=vmm,bus=ide.0,bootindex=$((vmm ? 0 : 1)) \
  -drive if=none,id=os,format=raw,file="$disk" -device nvme,drive=os,serial=bmcast-os,bootindex=$((vmm ? 1 : 0))
