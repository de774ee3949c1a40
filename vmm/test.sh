#!/usr/bin/env bash
# Integration test of the hypervisor: OVMF -> bmcast-vmm -> the stand-in OS
# disk (a real Debian kernel) in QEMU/TCG, two boots.
#   launch: the guest reaches its marker in guest mode, sees SVM hidden, and
#           powers off through the PM1a intercept, which prints the exit counts.
#   devirt: the guest asks the hypervisor to leave; afterwards CPUID is
#           answered by the bare CPU and no exit ever happens again.
#   nvme:   the hypervisor traps the NVMe doorbell page (stage 2's mediation
#           point) and reads every submitted command; firmware (restarted in
#           front of it) and Linux drive the disk through the trap, and the
#           guest's read of the whole disk is seen command by command.
#   nic:    the hypervisor hides a NIC (stage 2's AoE NIC) from the guest,
#           which the launch boot, with the same NIC, does see.
#   vmm/test.sh [--disk IMG]   (IMG, used for the launch boot instead of the
#                              stand-in, must print BMCAST-READY and power off)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
log="$(mktemp)"
trap 'boot_stop; rm -f "$log"' EXIT
trap 'exit 130' INT TERM

disk=""
[[ "${1:-}" == --disk ]] && disk="$2"
if ! boot_prepare; then
  echo "FAIL: vmm: build or stand-in disk failed"
  echo "vmm: 0 passed, 1 failed"
  exit 1
fi

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
boot_start "$log" --disk "${disk:-$standin_disk}" --nic
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
boot_start "$log" --disk "$standin_disk" --guest-mode devirt
boot_wait 300 BMCAST-READY
result "CPUID answered by the hypervisor before" "$(has 'vendor before: bmcastbmcast' && echo 1 || echo 0)"
result "hypervisor de-virtualized" "$(has '^bmcast-vmm: de-virtualized at guest rip 0x[0-9a-f]+: SVM off' && echo 1 || echo 0)"
result "CPUID answered by the bare CPU after" "$(has 'vendor after: [A-Za-z0-9.]{12}' && ! has 'vendor after: bmcastbmcast' && echo 1 || echo 0)"
result "guest reached its marker after de-virtualization" "$(has 'BMCAST-READY' && echo 1 || echo 0)"
result "no exit after de-virtualization (one exit report, none at power-off)" "$( (($(count '^bmcast-vmm: exits') == 1)) && echo 1 || echo 0)"
result "no hypervisor panic" "$(has 'bmcast-vmm: PANIC' && echo 0 || echo 1)"
result "guest powered the machine off on bare hardware" "$boot_exited"
show

scenario=nvme failed_before=$failed
boot_start "$log" --disk "$standin_disk" --vmm-option bmcast.vmm.nvme=trap --guest-mode read-disk
boot_wait 300 BMCAST-READY
result "doorbell page of the NVMe controller trapped" "$(has '^bmcast-vmm: nvme: trapping the doorbells' && echo 1 || echo 0)"
result "firmware's NVMe driver restarted in front of the hypervisor" "$(has '^bmcast-vmm: nvme: firmware driver restarted under the hypervisor \(0x0, 0x0\)' && echo 1 || echo 0)"
disk_bytes=$(stat -c %s "$standin_disk")
result "guest read the whole disk through the trap" "$(has "read the whole disk: $disk_bytes bytes" && echo 1 || echo 0)"
result "every read seen at the doorbell: the whole disk plus the firmware's >= 8 MiB" "$(grep -aoE 'read-lbas=[0-9]+' "$log" | awk -F= -v d="$disk_bytes" '{ exit !($2 >= d / 512 + 16384) }' && echo 1 || echo 0)"
result "Linux found the disk through the trap" "$(has 'nvme0n1: p1' && echo 1 || echo 0)"
result "guest reached its marker" "$(has 'BMCAST-READY' && echo 1 || echo 0)"
result "doorbell exits counted at power-off" "$(has '^bmcast-vmm: exits total=[0-9]+ .* mmio=[1-9][0-9]* ' && echo 1 || echo 0)"
result "no hypervisor panic" "$(has 'bmcast-vmm: PANIC' && echo 0 || echo 1)"
result "guest powered the machine off" "$boot_exited"
show

scenario=nic failed_before=$failed
boot_start "$log" --disk "$standin_disk" --nic --vmm-option bmcast.vmm.nic=hide
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
