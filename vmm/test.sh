#!/usr/bin/env bash
# Integration test of the hypervisor, stage 1: OVMF -> bmcast-vmm -> the
# stand-in OS disk (a real Debian kernel) in QEMU/TCG. The guest must reach
# its marker in guest mode, see SVM hidden, and power off through the
# hypervisor's PM1a intercept, which prints the exit counts.
#   vmm/test.sh [--disk IMG]   (IMG must print BMCAST-READY and power off)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
log="$(mktemp)"
trap 'boot_stop; rm -f "$log"' EXIT

disk=""
[[ "${1:-}" == --disk ]] && disk="$2"
if ! boot_prepare; then
  echo "FAIL: vmm: build or stand-in disk failed"
  echo "vmm: 0 passed, 1 failed"
  exit 1
fi
boot_start "$log" --disk "${disk:-$standin_disk}"
boot_wait 300 BMCAST-READY

passed=0 failed=0
check() {   # check NAME REGEX
  if grep -aEq -- "$2" "$log"; then
    echo "ok - $1"; passed=$((passed + 1))
  else
    echo "not ok - $1"; failed=$((failed + 1))
  fi
}
check "hypervisor launched: guest running under SVM" '^bmcast-vmm: guest running under SVM'
check "OS boot loader chain-loaded in guest mode" '^bmcast-vmm: starting .*BOOTX64.EFI'
check "Linux booted" 'Linux version'
[[ -z $disk ]] && check "guest sees SVM hidden by the CPUID intercept" 'bmcast-guest: cpu hypervisor=yes svm=no'
check "guest reached its marker" 'BMCAST-READY'
check "exit counts printed at power-off" '^bmcast-vmm: exits total=[1-9][0-9]* cpuid=[1-9][0-9]* msr=[0-9]+ io=[1-9][0-9]* vmrun=[0-9]+'
if grep -aq 'bmcast-vmm: PANIC' "$log"; then
  echo "not ok - no hypervisor panic"; failed=$((failed + 1))
else
  echo "ok - no hypervisor panic"; passed=$((passed + 1))
fi
if ((boot_exited)); then
  echo "ok - guest powered the machine off"; passed=$((passed + 1))
else
  echo "not ok - guest powered the machine off (timed out)"; failed=$((failed + 1))
fi

grep -aE '^bmcast-vmm: |BMCAST-READY|bmcast-guest:' "$log" | sed 's/^/  | /'
if ((failed)); then
  echo "--- last serial lines ---"; tail -n 25 "$log" | cut -c1-160
  echo "FAIL: vmm integration test (marker after ${boot_marker_s:-never} s)"
else
  echo "PASS: vmm integration test (marker after $boot_marker_s s)"
fi
echo "vmm: $passed passed, $failed failed"
((failed == 0))
