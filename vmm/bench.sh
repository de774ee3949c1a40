#!/usr/bin/env bash
# Boot time to the guest's marker with and without the hypervisor, same
# machine, same disk, same run; QEMU under TCG. Rounds alternate the two
# modes so that load from other work on the host hits both alike.
#   vmm/bench.sh [--rounds N] [--disk IMG] [--vmm-option OPT]   (goal: ratio <= 1.3)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
log="$(mktemp)"
trap 'boot_stop; rm -f "$log"' EXIT
trap 'exit 130' INT TERM

rounds=3 disk="" vmm_args=()
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --disk) disk="$2"; shift 2 ;;
    --vmm-option) vmm_args+=(--vmm-option "$2"); shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--disk IMG] [--vmm-option OPT]" >&2; exit 2 ;;
  esac
done
boot_prepare || { echo "FAIL: vmm bench: build or stand-in disk failed"; exit 1; }
disk="${disk:-$standin_disk}"

declare -a with without
exits=""
for ((i = 0; i < rounds; i++)); do
  for mode in vmm bare; do
    if [[ $mode == vmm ]]; then boot_start "$log" --disk "$disk" "${vmm_args[@]}"; else boot_start "$log" --disk "$disk" --no-vmm; fi
    boot_wait 300 BMCAST-READY
    if [[ -z $boot_marker_s ]]; then
      echo "FAIL: vmm bench: no marker booting $mode"; tail -n 20 "$log"; exit 1
    fi
    echo "round $((i + 1)) $mode: ${boot_marker_s} s" >&2
    if [[ $mode == vmm ]]; then
      with+=("$boot_marker_s")
      exits="$(grep -a '^bmcast-vmm: exits' "$log" | sed 's/^bmcast-vmm: exits //')"
    else
      without+=("$boot_marker_s")
    fi
  done
done

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
fastest() { printf '%s\n' "$@" | sort -n | head -1; }
m_with=$(median "${with[@]}")
m_without=$(median "${without[@]}")
ratio=$(awk -v a="$m_with" -v b="$m_without" 'BEGIN { printf "%.2f", a / b }')

f_with=$(fastest "${with[@]}")
f_without=$(fastest "${without[@]}")
f_ratio=$(awk -v a="$f_with" -v b="$f_without" 'BEGIN { printf "%.2f", a / b }')

echo "| boot to BMCAST-READY (QEMU TCG, OVMF, $rounds rounds) | median s | fastest s | all runs |"
echo "| --- | ---: | ---: | --- |"
echo "| without hypervisor | $m_without | $f_without | ${without[*]} |"
echo "| under bmcast-vmm | $m_with | $f_with | ${with[*]} |"
echo "| **ratio** (goal <= 1.3x) | **${ratio}x** | ${f_ratio}x | |"
echo
echo "exits (last run): $exits"
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.3) }' && echo "PASS: vmm bench ratio ${ratio}x <= 1.3x" || echo "MISS: vmm bench ratio ${ratio}x > 1.3x"
