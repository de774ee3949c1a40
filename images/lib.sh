# Shared by the image recipes (sourced, not run). A recipe is called as
#   images/NAME.sh OUTPUT
# with BMCAST_IMAGE_WORK naming a directory kept between builds (downloaded
# .deb files are reused from there). Lines starting "==> " on stdout are
# progress steps; `bmcast image build` shows them.
#
# Disk layout, the same for every image, bootable unmodified by SeaBIOS and
# by UEFI firmware (OVMF):
#   MBR (syslinux's mbr.bin: boots the active partition)
#   p1  FAT, type 0xEF, active: syslinux (BIOS) and systemd-boot as the
#       removable-media \EFI\BOOT\BOOTX64.EFI (UEFI), both starting
#       /vmlinuz + /initrd.img with the same command line
#   p2  ext4 labelled bmcast-root: the root file system
set -euo pipefail

images_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work_root="${BMCAST_IMAGE_WORK:-$images_dir/.cache}"
debs="$work_root/debs"
root_label=bmcast-root
# no_timer_check: under TCG on a loaded host the kernel's early check that the IO-APIC timer ticks can time out and
# panic the boot ("IO-APIC + timer doesn't work"); the emulated timer works, it only ran late.
cmdline="root=LABEL=$root_label rw console=ttyS0 panic=-1 no_timer_check"

step() { echo "==> $*"; }

die() { echo "error: $*" >&2; exit 1; }

# need_tools TOOL:PACKAGE...: installs the packages of the tools not on PATH
# (a TOOL starting with / is a file that must exist), so a fresh Debian
# machine can build without preparation.
need_tools() {
  local missing=() pair
  for pair in "$@"; do
    if [[ $pair == /* ]]; then [[ -e ${pair%%:*} ]] && continue
    else PATH="$PATH:/usr/sbin:/sbin" command -v "${pair%%:*}" >/dev/null && continue; fi
    missing+=("${pair#*:}")
  done
  ((${#missing[@]})) || return 0
  step "installing ${missing[*]}"
  [[ $(id -u) -eq 0 ]] || die "need root to install ${missing[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >&2
}

# The versioned package linux-image-cloud-amd64 points at, e.g.
# linux-image-6.1.0-56-cloud-amd64: the cloud kernel is small and boots fast.
kernel_package() {
  local pkg
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
  if [[ -z $pkg ]]; then   # no package lists yet on a fresh machine
    apt-get update -qq >&2
    pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
  fi
  [[ -n $pkg ]] || die "cannot resolve linux-image-cloud-amd64"
  echo "$pkg"
}

# fetch_debs PACKAGE...: downloads each package once into $debs, through
# partial/ so that an interrupted download is never taken for a package.
fetch_debs() {
  rm -rf "$debs/partial" && mkdir -p "$debs/partial"
  local pkg out
  for pkg in "$@"; do
    compgen -G "$debs/${pkg}_*.deb" >/dev/null && continue
    out=$(cd "$debs/partial" && apt-get -q download "$pkg" 2>&1) || die "apt-get download $pkg: $out"
    mv "$debs/partial/${pkg}"_*.deb "$debs/"
  done
}

# unpack DIR PACKAGE...: extracts the downloaded packages into DIR.
unpack() {
  local dir=$1 pkg; shift
  mkdir -p "$dir"
  for pkg in "$@"; do dpkg -x "$(compgen -G "$debs/${pkg}_*.deb" | tail -1)" "$dir"; done
}

# make_scratch NAME: a fresh $scratch for this build, removed on exit (after
# unmounting whatever a chroot step left mounted in it).
make_scratch() {
  scratch="$work_root/$1"
  release_scratch
  mkdir -p "$scratch"
  trap release_scratch EXIT
}

release_scratch() {
  local m
  for m in $(awk -v s="$scratch/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r); do umount "$m"; done
  rm -rf "$scratch"
}

# systemd_boot DIR: unpacks systemd-boot into DIR and prints its EFI binary.
systemd_boot() {
  fetch_debs systemd-boot-efi
  unpack "$1" systemd-boot-efi
  echo "$1/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
}

# make_boot_fat FAT SIZE_MIB VMLINUZ INITRD SYSTEMD_BOOT_EFI: the boot
# partition's file system, in a file of its own (syslinux installs into a
# file through mtools; no loop device, no mount).
make_boot_fat() {
  local fat=$1 mib=$2 vmlinuz=$3 initrd=$4 sdboot=$5 cfg
  cfg=$(mktemp -d)
  rm -f "$fat"
  mkfs.fat -C -n BMCASTBOOT "$fat" $((mib * 1024)) >/dev/null
  syslinux --install "$fat"
  printf 'DEFAULT bmcast\nPROMPT 0\nTIMEOUT 0\nLABEL bmcast\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.img %s\n' "$cmdline" > "$cfg/syslinux.cfg"
  printf 'default bmcast.conf\ntimeout 0\n' > "$cfg/loader.conf"
  printf 'title bmcast\nlinux /vmlinuz\ninitrd /initrd.img\noptions %s\n' "$cmdline" > "$cfg/bmcast.conf"
  mmd -i "$fat" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
  mcopy -i "$fat" "$sdboot" ::/EFI/BOOT/BOOTX64.EFI
  mcopy -i "$fat" "$vmlinuz" ::/vmlinuz
  mcopy -i "$fat" "$initrd" ::/initrd.img
  mcopy -i "$fat" "$cfg/syslinux.cfg" ::/syslinux.cfg
  mcopy -i "$fat" "$cfg/loader.conf" ::/loader/loader.conf
  mcopy -i "$fat" "$cfg/bmcast.conf" ::/loader/entries/bmcast.conf
  rm -rf "$cfg"
}

# assemble_disk OUTPUT DISK_MIB FAT ROOTDIR: partitions a sparse disk file,
# writes the boot code and the boot partition, and builds the ext4 root in
# place from ROOTDIR (mkfs.ext4 -d at an offset: no loop device, no mount).
assemble_disk() {
  local out=$1 disk_mib=$2 fat=$3 rootdir=$4 fat_mib root_mib
  fat_mib=$(( $(stat -c %s "$fat") >> 20 ))
  root_mib=$((disk_mib - 1 - fat_mib))
  rm -f "$out"
  truncate -s "${disk_mib}M" "$out"
  printf 'label: dos\nstart=1MiB, size=%dMiB, type=ef, bootable\nstart=%dMiB, size=%dMiB, type=83\n' \
    "$fat_mib" $((1 + fat_mib)) "$root_mib" | sfdisk -q "$out" >&2
  dd if=/usr/lib/syslinux/mbr/mbr.bin of="$out" bs=440 count=1 conv=notrunc status=none
  dd if="$fat" of="$out" bs=1M seek=1 conv=notrunc,sparse status=none
  mkfs.ext4 -q -F -L "$root_label" -E offset=$(((1 + fat_mib) << 20)) -d "$rootdir" "$out" "${root_mib}M"
}

# The Debian mirror this machine's apt uses, for debootstrap.
debian_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
        grep -oE 'https?://[^ ]*/debian/?( |$)' | head -n 1 | tr -d ' ')
  echo "${uri:-http://deb.debian.org/debian}"
}

# in_chroot ROOTFS COMMAND...: runs COMMAND inside ROOTFS with /proc mounted.
in_chroot() {
  local rootfs=$1; shift
  mount -t proc proc "$rootfs/proc"
  local status=0
  chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@" >&2 || status=$?
  umount "$rootfs/proc"
  return $status
}

# debian_root ROOTFS PACKAGE...: debootstrap minbase bookworm with systemd,
# the cloud kernel (initramfs-tools builds its initrd) and PACKAGE...; the
# guest's mode runs as a systemd unit once the system is up.
debian_root() {
  local rootfs=$1; shift
  need_tools debootstrap:debootstrap
  step "debootstrap bookworm (minbase)"
  mkdir -p "$work_root/debootstrap-cache"
  debootstrap --variant=minbase --include=systemd-sysv --cache-dir="$work_root/debootstrap-cache" \
    bookworm "$rootfs" "$(debian_mirror)" >&2
  step "installing the kernel${*:+ and $*}"
  in_chroot "$rootfs" apt-get install -y -qq --no-install-recommends linux-image-cloud-amd64 initramfs-tools "$@"
  in_chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/*
  echo "LABEL=$root_label / ext4 errors=remount-ro 0 1" > "$rootfs/etc/fstab"
  echo bmcast > "$rootfs/etc/hostname"
  chroot "$rootfs" passwd -d root >/dev/null   # log in on the serial console in stay mode
  install_guest "$rootfs"
  install -D -m 644 "$images_dir/debian/bmcast-guest.service" "$rootfs/etc/systemd/system/bmcast-guest.service"
  chroot "$rootfs" systemctl enable -q bmcast-guest.service
}

# debian_disk OUTPUT DISK_MIB ROOTFS: the disk of a debian_root, booting the
# kernel and initrd installed in it.
debian_disk() {
  local out=$1 mib=$2 rootfs=$3
  step "assembling the disk"
  make_boot_fat "$scratch/boot.fat" 128 "$rootfs"/boot/vmlinuz-* "$rootfs"/boot/initrd.img-* "$(systemd_boot "$scratch/pkgs")"
  assemble_disk "$out" "$mib" "$scratch/boot.fat" "$rootfs"
}

# install_guest ROOTDIR: the mode dispatcher every image runs once booted.
install_guest() {
  install -D -m 755 "$images_dir/guest/bmcast-guest" "$1/usr/local/sbin/bmcast-guest"
}

# Tools every recipe uses.
need_tools sfdisk:fdisk mkfs.fat:dosfstools mcopy:mtools syslinux:syslinux mkfs.ext4:e2fsprogs \
  /usr/lib/syslinux/mbr/mbr.bin:syslinux-common
