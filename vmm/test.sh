#!/usr/bin/env bash
# Integration test of the hypervisor: OVMF -> bmcast-vmm -> the stand-in OS
# disk (a real Debian kernel) in QEMU/TCG, six boots.
#   launch: the guest reaches its marker in guest mode, sees SVM hidden, and
#           powers off through the PM1a intercept, which prints the exit counts.
#   devirt: the guest asks the hypervisor to leave; afterwards CPUID is
#           answered by the bare CPU and no exit ever happens again.
#   nvme:   the hypervisor traps the NVMe controller's registers and doorbells
#           (stage 2's mediation point) on a target disk 1 MiB larger than the
#           stand-in image: at each controller enable it takes a private I/O
#           queue pair through the guest's admin queue (left as fresh), reads
#           the GPT header and writes its hidden tail through it; firmware and
#           Linux see the disk 1 MiB smaller, cannot read past it, and every
#           command is seen at the doorbell before it runs (completions' SQHD);
#           raw NVMe commands the guest aims into the tail are refused (LBA Out
#           of Range), so is its Format NVM, and the hypervisor's block there
#           survives them.
#   nvme-dbbuf-refused: the guest is offered shadow doorbells; its Doorbell
#           Buffer Config command is refused; a configured 512 KiB tail.
#   nvme-dbbuf-allowed: the negative control: shadow doorbells allowed, the
#           ordering check finds commands that ran without a doorbell exit.
#   nic:    the hypervisor hides a NIC (stage 2's AoE NIC) from the guest,
#           which the launch boot, with the same NIC, does see.
#   vmm/test.sh [--disk IMG]   (IMG, used for the launch boot instead of the
#                              stand-in, must print BMCAST-READY and power off)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
log="$(mktemp)"
work="$(mktemp -d)"
trap 'boot_stop; rm -f "$log"; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

disk=""
[[ "${1:-}" == --disk ]] && disk="$2"
if ! boot_prepare; then
  echo "FAIL: vmm: build or stand-in disk failed"
  echo "vmm: 0 passed, 1 failed"
  exit 1
fi

# A copy of its own: QEMU locks the disks it opens, and the test suite's
# VmmAoeStartupTests may boot the stand-in at the same time.
standin="$work/standin.img"
cp --sparse=always "$standin_disk" "$standin"

passed=0 failed=0 scenario=""
result() {   # result NAME OK
  if (($2)); then echo "ok - $scenario: $1"; passed=$((passed + 1)); else echo "not ok - $scenario: $1"; failed=$((failed + 1)); fi
}
has() { grep -aEq -- "$1" "$log"; }
count() { grep -acE -- "$1" "$log"; }
show() {
  grep -aE '^bmcast-vmm: |BMCAST-READY|bmcast-guest:' "$log" | sed "s/^/  $scenario | /"
  ((failed == failed_before)) || { echo "  --- $scenario: last serial lines ---"; tail -n 25 "$log" | cut -c1-160; }
}

scenario=launch failed_before=$failed
boot_start "$log" --disk "${disk:-$standin}" --nic
boot_wait 300 BMCAST-READY
result "hypervisor launched: guest running under SVM" "$(has '^bmcast-vmm: guest running under SVM' && echo 1 || echo 0)"
result "OS boot loader chain-loaded in guest mode" "$(has '^bmcast-vmm: starting .*BOOTX64.EFI' && echo 1 || echo 0)"
result "Linux booted" "$(has 'Linux version' && echo 1 || echo 0)"
[[ -n $disk ]] || result "guest sees SVM hidden by the CPUID intercept" "$(has 'bmcast-guest: cpu hypervisor=yes svm=no' && echo 1 || echo 0)"
[[ -n $disk ]] || result "guest sees the NIC (nothing hides it)" "$(has 'bmcast-guest: pci functions=[0-9]+ ethernet=1' && echo 1 || echo 0)"
result "guest reached its marker" "$(has 'BMCAST-READY' && echo 1 || echo 0)"
result "exit counts printed at power-off" "$(has '^bmcast-vmm: exits total=[1-9][0-9]* cpuid=[1-9][0-9]* msr=[0-9]+ io=[1-9][0-9]* mmio=0 vmrun=[0-9]+' && echo 1 || echo 0)"
result "no hypervisor panic" "$(has 'bmcast-vmm: PANIC' && echo 0 || echo 1)"
result "guest powered the machine off" "$boot_exited"
launch_marker=${boot_marker_s:-never}
show

scenario=devirt failed_before=$failed
boot_start "$log" --disk "$standin" --guest-mode devirt
boot_wait 300 BMCAST-READY
result "CPUID answered by the hypervisor before" "$(has 'vendor before: bmcastbmcast' && echo 1 || echo 0)"
result "hypervisor de-virtualized" "$(has '^bmcast-vmm: de-virtualized at guest rip 0x[0-9a-f]+: SVM off' && echo 1 || echo 0)"
result "CPUID answered by the bare CPU after" "$(has 'vendor after: [A-Za-z0-9.]{12}' && ! has 'vendor after: bmcastbmcast' && echo 1 || echo 0)"
result "guest reached its marker after de-virtualization" "$(has 'BMCAST-READY' && echo 1 || echo 0)"
result "no exit after de-virtualization (one exit report, none at power-off)" "$( (($(count '^bmcast-vmm: exits') == 1)) && echo 1 || echo 0)"
result "no hypervisor panic" "$(has 'bmcast-vmm: PANIC' && echo 0 || echo 1)"
result "guest powered the machine off on bare hardware" "$boot_exited"
show

# The target disk: the image plus 1 MiB, which the hypervisor hides.
image_bytes=$(stat -c %s "$standin")
target="$work/target.img"
hidden_tail_check() {   # hidden_tail_check HIDDEN_BYTES: the hypervisor's pattern at the tail's first block
  local lba=$(( ($(stat -c %s "$target") - $1) / 512 ))
  local want="$(( lba & 255 )) $(( (7 + lba) & 255 )) $(( (14 + lba) & 255 )) $(( (21 + lba) & 255 ))"
  [[ "$(od -An -tu1 -j $((lba * 512)) -N 4 "$target" | xargs)" == "$want" ]]
}
fresh_target() { cp --sparse=always "$standin" "$target" && truncate -s +1M "$target"; }
# The blocks just before the tail (the backup GPT) still hold the image's bytes.
visible_end_intact() { cmp -s <(tail -c 4096 "$standin") <(dd if="$target" bs=4096 skip=$((image_bytes / 4096 - 1)) count=1 status=none); }
nvme_common() {   # checks every NVMe boot makes
  result "registers and doorbells of the NVMe controller trapped" "$(has '^bmcast-vmm: nvme: trapping the registers and doorbells' && echo 1 || echo 0)"
  result "firmware's NVMe driver restarted in front of the hypervisor" "$(has '^bmcast-vmm: nvme: firmware driver restarted under the hypervisor \(0x0, 0x0\)' && echo 1 || echo 0)"
  result "private queue pair taken at the firmware's enable (admin queues 2/2), queue left fresh" "$(has '^bmcast-vmm: nvme: controller enabled, admin queues 2/2: private I/O queue [1-9][0-9]*, [0-9]+ admin commands \+ [0-9]+ padding, admin queue left fresh' && echo 1 || echo 0)"
  result "private queue pair taken at Linux's enable (admin queues 32/32, 64 commands), queue left fresh" "$(has '^bmcast-vmm: nvme: controller enabled, admin queues 32/32: private I/O queue [1-9][0-9]*, 5 admin commands \+ 59 padding, admin queue left fresh' && echo 1 || echo 0)"
  result "private read of LBA 1 finds the GPT header" "$(has '^bmcast-vmm: nvme: private read of LBA 1: EFI PART' && echo 1 || echo 0)"
  result "private write into the hidden tail read back equal" "$(has '^bmcast-vmm: nvme: private write of hidden LBA [0-9]+ read back equal' && echo 1 || echo 0)"
  result "Linux found the partition through the trap" "$(has 'nvme0n1: p1' && echo 1 || echo 0)"
  result "Linux's NVMe driver saw no timeout or reset (extra admin interrupts harmless)" "$(has 'nvme nvme0: .*(timeout|Abort|reset|Removing|Disabling|failed)' && echo 0 || echo 1)"
  result "raw NVMe read inside the visible disk succeeds (the guest's tool works)" "$(has 'bmcast-guest: nvme-io read 8 at [0-9]+: status=0x0000' && echo 1 || echo 0)"
  result "raw writes, a read and a write-zeroes into the hidden tail fail: LBA Out of Range" "$( (($(count 'bmcast-guest: nvme-io (read|write|write-zeroes) [0-9]+ at [0-9]+: status=0x4080') == 4)) && echo 1 || echo 0)"
  result "the hypervisor refused exactly the guest's 5 raw commands into the tail (deallocate included)" "$(has '^bmcast-vmm: nvme: .* into-hidden-tail=5 ' && echo 1 || echo 0)"
  result "the guest's Format NVM refused (Invalid Command Opcode): the tail is not erased with the namespace" "$(has 'bmcast-guest: nvme-io format 1 at 0: status=0x4001' && has '^bmcast-vmm: nvme: .* namespace-erase-refused=1 ' && echo 1 || echo 0)"
  result "guest reached its marker" "$(has 'BMCAST-READY' && echo 1 || echo 0)"
  result "no hypervisor panic or NVMe failure" "$(has 'bmcast-vmm: (PANIC|nvme: FAILED)' && echo 0 || echo 1)"
  result "guest powered the machine off" "$boot_exited"
}

scenario=nvme failed_before=$failed
fresh_target
boot_start "$log" --disk "$target" --vmm-option bmcast.vmm.nvme=trap --guest-mode read-disk
boot_wait 300 BMCAST-READY
nvme_common
result "guest sees the disk 1 MiB smaller: exactly the image" "$(has "bmcast-guest: nvme0n1 sectors=$((image_bytes / 512))\b" && echo 1 || echo 0)"
result "guest read the whole visible disk through the trap" "$(has "read the whole disk: $image_bytes bytes" && echo 1 || echo 0)"
result "guest cannot read past the visible end" "$(has 'bmcast-guest: read past the end: 0 bytes' && echo 1 || echo 0)"
result "the hidden tail holds the hypervisor's block on disk (the guest's raw writes did not land)" "$(hidden_tail_check $((1024 * 1024)) && echo 1 || echo 0)"
result "the write straddling the visible end changed none of its visible blocks" "$(visible_end_intact && echo 1 || echo 0)"
result "every read seen at the doorbell: the whole disk plus the firmware's >= 8 MiB" "$(grep -aoE 'read-lbas=[0-9]+' "$log" | awk -F= -v d="$image_bytes" '{ exit !($2 >= d / 512 + 16384) }' && echo 1 || echo 0)"
result "Identify Controller hides shadow doorbells: the guest never asks" "$(has '^bmcast-vmm: nvme: .* dbbuf-refused=0 ' && echo 1 || echo 0)"
result "every command seen before it ran (SQHD never past a forwarded tail)" "$(has '^bmcast-vmm: nvme: .* completions-checked=[1-9][0-9]* unseen-commands=0 ' && echo 1 || echo 0)"
result "doorbell exits counted at power-off" "$(has '^bmcast-vmm: exits total=[0-9]+ .* mmio=[1-9][0-9]* ' && echo 1 || echo 0)"
show

scenario=nvme-dbbuf-refused failed_before=$failed
fresh_target
boot_start "$log" --disk "$target" --vmm-option bmcast.vmm.nvme=trap --vmm-option bmcast.vmm.nvme-dbbuf=advertise \
  --vmm-option bmcast.vmm.nvme-tail=128 --guest-mode read-disk
boot_wait 300 BMCAST-READY
nvme_common
result "the configured 512 KiB tail is hidden" "$(has "bmcast-guest: nvme0n1 sectors=$((image_bytes / 512 + 1024))\b" && hidden_tail_check $((512 * 1024)) && echo 1 || echo 0)"
result "guest's Doorbell Buffer Config refused at the doorbell" "$(has '^bmcast-vmm: nvme: .* dbbuf-refused=1 ' && has 'unable to set dbbuf' && echo 1 || echo 0)"
result "every command seen before it ran" "$(has '^bmcast-vmm: nvme: .* completions-checked=[1-9][0-9]* unseen-commands=0 ' && echo 1 || echo 0)"
show

scenario=nvme-dbbuf-allowed failed_before=$failed
fresh_target
boot_start "$log" --disk "$target" --vmm-option bmcast.vmm.nvme=trap --vmm-option bmcast.vmm.nvme-dbbuf=allow --guest-mode read-disk
boot_wait 300 BMCAST-READY
result "guest reached its marker" "$(has 'BMCAST-READY' && echo 1 || echo 0)"
result "negative control: with shadow doorbells some commands ran unseen" "$(has '^bmcast-vmm: nvme: .* unseen-commands=[1-9][0-9]* ' && echo 1 || echo 0)"
result "no hypervisor panic" "$(has 'bmcast-vmm: PANIC' && echo 0 || echo 1)"
show

scenario=nic failed_before=$failed
boot_start "$log" --disk "$standin" --nic --vmm-option bmcast.vmm.nic=hide
boot_wait 300 BMCAST-READY
result "hypervisor hides the NIC" "$(has '^bmcast-vmm: nic: hiding PCI bus' && echo 1 || echo 0)"
result "guest finds no Ethernet function" "$(has 'bmcast-guest: pci functions=[0-9]+ ethernet=0' && echo 1 || echo 0)"
result "guest reached its marker" "$(has 'BMCAST-READY' && echo 1 || echo 0)"
result "config-space exits counted at power-off" "$(has '^bmcast-vmm: exits total=[0-9]+ .* io=[0-9]{3,} ' && echo 1 || echo 0)"
result "no hypervisor panic" "$(has 'bmcast-vmm: PANIC' && echo 0 || echo 1)"
result "guest powered the machine off" "$boot_exited"
show

if ((failed)); then
  echo "FAIL: vmm integration test (launch marker after $launch_marker s)"
else
  echo "PASS: vmm integration test (launch marker after $launch_marker s; de-virtualized guest powered off)"
fi
echo "vmm: $passed passed, $failed failed"
((failed == 0))
