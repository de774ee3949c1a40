#!/usr/bin/env bash
# tiny-payload: tiny plus a data partition of random bytes that its boot never
# reads, as most of a real OS image is (packages, libraries, data): the image
# `bmcast demo` deploys, booting from a small share of its data. Random, so that
# neither zero detection nor compression hides it. Built from tiny's cached
# build, which `bmcast image build` hands over in BMCAST_BASE_IMAGE, in seconds.
. "$(dirname "$0")/lib.sh"
out=$1
base=${BMCAST_BASE_IMAGE:?"tiny-payload starts from tiny's build: run it through bmcast image build tiny-payload"}
payload_mib=512

step "adding a ${payload_mib} MiB data partition of random bytes"
base_mib=$(( $(stat -c %s "$base") >> 20 ))
cp --sparse=always "$base" "$out"
truncate -s "$((base_mib + payload_mib))M" "$out"
# Partition 3, type 0xda (non-filesystem data), right after tiny's disk.
printf 'start=%dMiB, size=%dMiB, type=da\n' "$base_mib" "$payload_mib" | sfdisk -q --append "$out" >&2
head -c "${payload_mib}M" /dev/urandom | dd of="$out" bs=1M seek="$base_mib" iflag=fullblock conv=notrunc status=none
