#!/usr/bin/env bash
# Boots OVMF -> bmcast-vmm -> the OS disk in QEMU (TCG), serial console on
# stdout. Builds whatever is missing first.
#   vmm/run-qemu.sh [--disk IMG] [--no-vmm]
#   --disk IMG  a UEFI-bootable raw disk (default: the stand-in from guest/make-disk.sh)
#   --no-vmm    boot the same disk without the hypervisor (the benchmark baseline)
# The OS disk is an NVMe namespace, as on the machines stage 2 targets.
# QEMU is exec'd: this script's PID is QEMU's.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="$here/.cache"
disk="" vmm=1
while (($#)); do
  case "$1" in
    --disk) disk="$2"; shift 2 ;;
    --no-vmm) vmm=0; shift ;;
    *) echo "usage: $0 [--disk IMG] [--no-vmm]" >&2; exit 2 ;;
  esac
done

command -v qemu-system-x86_64 >/dev/null || need_qemu=qemu-system-x86
ovmf=/usr/share/ovmf/OVMF.fd
[[ -f $ovmf ]] || need_ovmf=ovmf
if [[ -n "${need_qemu:-}${need_ovmf:-}" ]]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${need_qemu:-} ${need_ovmf:-}) >&2
fi

[[ -n "$disk" ]] || disk="$("$here/guest/make-disk.sh")"
args=(-accel tcg -cpu max -smp 1 -m 1024 -M q35 -bios "$ovmf"
      -display none -serial stdio -monitor none -no-reboot -net none)
if ((vmm)); then
  efi="$cache/bmcast-vmm.efi"
  if [[ ! -f "$efi" ]] || [[ -n "$(find "$here/src" "$here/asm" "$here/build.sh" -newer "$efi" -print -quit)" ]]; then
    "$here/build.sh" >/dev/null
  fi
  # The hypervisor's own boot drive: a FAT image with it as the removable-media loader.
  boot="$cache/vmm-boot.img"
  if [[ ! -f "$boot" || "$efi" -nt "$boot" ]]; then
    command -v mcopy >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mtools dosfstools) >&2
    rm -f "$boot.tmp"
    mkfs.fat -C -n BMCASTVMM "$boot.tmp" 4096 >/dev/null
    mmd -i "$boot.tmp" ::/EFI ::/EFI/BOOT
    mcopy -i "$boot.tmp" "$efi" ::/EFI/BOOT/BOOTX64.EFI
    mv "$boot.tmp" "$boot"
  fi
  args+=(-drive if=none,id=vmm,format=raw,file="$boot" -device ide-hd,drive=vmm,bus=ide.0,bootindex=0)
fi
args+=(-drive if=none,id=os,format=raw,file="$disk" -device nvme,drive=os,serial=bmcast-os,bootindex=1)
exec qemu-system-x86_64 "${args[@]}"
