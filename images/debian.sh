#!/usr/bin/env bash
# debian: debootstrap minbase bookworm, the cloud kernel and systemd; the
# marker comes from a unit once multi-user.target is up. 2 GiB disk.
. "$(dirname "$0")/lib.sh"
make_scratch debian
debian_root "$scratch/rootfs"
debian_disk "$1" 2048 "$scratch/rootfs"
