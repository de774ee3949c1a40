#!/usr/bin/env bash
# The hypervisor's deployment benchmark (issue 11, deliverable 6), one run, QEMU
# under TCG (OVMF, -smp 1, q35, the sample image on NVMe). Every round runs each
# mode once, in turn, so that load from other work on the host hits all alike:
#   stream-9000   empty disk, the hypervisor streams over AoE at MTU 9000 with
#                 background copy (the guest stays up, idle): time to
#                 BMCAST-READY, then to completion and de-virtualization
#                 (background MiB/s, exits by kind)
#   stream-1500   the same at MTU 1500
#   on-demand     empty disk, background copy off, MTU 9000, the guest powers off
#                 after its marker: bytes fetched against the bytes the firmware
#                 and Linux read (the NVMe report of the same boot)
#   local-vmm     the complete image on the same disk, under the hypervisor with
#                 the NVMe controller mediated and no streaming
#   local-bare    the same disk, no hypervisor
#   copy-first    the image copied over the same emulated link first (nbdcopy
#                 from the same server's NBD export), then booted, no hypervisor
# The server (bmcast serve --aoe, --nbd) emulates a link of --rate bytes/s
# (default 125M = 1 Gbit/s), shared by its clients. Prints a markdown table;
# any failed step stops the run with a FAIL line and the log's tail.
# --ab DIR: an A/B of two hypervisor builds: DIR is another checkout's vmm/
# directory (side A, e.g. main's: git worktree add, then DIR/build.sh once),
# this one is side B. Every mode under the hypervisor runs once per side in
# each round, the sides' order reversed every other round, so that load from
# other work hits both alike; the tables then have a row per side.
#   sudo vmm/bench.sh [--image tiny|debian|debian-db] [--rounds N] [--rate 125M] [--vmm-option OPT] [--ab DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
. "$here/lib.sh"

image=tiny rounds=3 rate=125M vmm_args=() other=
while (($#)); do
  case "$1" in
    --image) image="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --vmm-option) vmm_args+=(--vmm-option "$2"); shift 2 ;;
    --ab) other="$(cd "$2" && pwd)"; shift 2 ;;
    *) echo "usage: $0 [--image tiny|debian|debian-db] [--rounds N] [--rate BYTES/S] [--vmm-option OPT] [--ab DIR]" >&2; exit 2 ;;
  esac
done
case "$image" in tiny | debian | debian-db) ;; *) echo "FAIL: vmm bench: unknown image '$image'" >&2; exit 2 ;; esac

fail() { echo "FAIL: vmm bench: $*" >&2; [[ -n $boot_log && -f $boot_log ]] && tail -n 30 "$boot_log" >&2; exit 1; }
((EUID == 0)) || fail "needs root (network namespaces, tap devices, raw AoE sockets)"
for tool in ip nbdcopy qemu-system-x86_64 jq; do command -v "$tool" > /dev/null || fail "missing $tool"; done

work="$(mktemp -d /tmp/bmcast-vmm-bench.XXXXXX)"
servers=() namespaces=()
cleanup() {
  boot_stop
  for p in "${servers[@]}"; do kill "$p" 2> /dev/null || true; wait "$p" 2> /dev/null || true; done
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Everything built before any timing starts.
"$here/build.sh" > /dev/null || fail "building the hypervisor"
[[ -z $other ]] || "$other/build.sh" > /dev/null || fail "building side A's hypervisor in $other"
"$root/bmcast" --help > /dev/null || fail "building bmcast"
store="$work/store"
"$root/bmcast" image build "$image" --output "$work/image.raw" > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "building image $image"; }
"$root/bmcast" image import "$work/image.raw" --name "$image" --store "$store" > "$work/import.log" 2>&1 || { cat "$work/import.log" >&2; fail "importing $image"; }
inspect="$("$root/bmcast" image inspect "$image" --store "$store" --json)" || fail "inspecting $image"
root_hash="$(jq -r .image.rootHash <<< "$inspect")"
image_bytes="$(jq -r .image.size <<< "$inspect")"
tail_bytes=$((1 << 20))   # the hypervisor's hidden tail (bmcast.vmm.nvme-tail default): the map lives there
# The complete local disk: the image plus the tail, as the streaming target ends up.
cp --sparse=always "$work/image.raw" "$work/local.raw"
truncate -s $((image_bytes + tail_bytes)) "$work/local.raw"

# One namespace and server per MTU (the server reads its interface's MTU at start).
declare -A ns_of tap_of
for mtu in 9000 1500; do
  ns="bmcast-vb$mtu-$$" tap="vb${mtu}t$$"
  ip netns add "$ns" || fail "ip netns add $ns"
  namespaces+=("$ns")
  ip -n "$ns" tuntap add dev "$tap" mode tap || fail "tap device in $ns"
  ip -n "$ns" link set "$tap" mtu "$mtu" up || fail "MTU $mtu on $tap"
  ip netns exec "$ns" "$root/bmcast" serve --aoe "$tap" --aoe-shelf 1 --store "$store" --rate "$rate" \
    --nbd "unix:$work/nbd-$mtu.sock" > "$work/serve-$mtu.log" 2>&1 &
  servers+=($!)
  for ((i = 0; ; i++)); do
    ip netns exec "$ns" cat /proc/net/packet | grep -q ' 88a2 ' && [[ -S $work/nbd-$mtu.sock ]] && break
    ((i < 600)) || { cat "$work/serve-$mtu.log" >&2; fail "no AoE server in $ns after 60 s"; }
    sleep 0.1
  done
  ns_of[$mtu]="$ns" tap_of[$mtu]="$tap"
done
stream_options=(--vmm-option bmcast.vmm.nvme=trap --vmm-option bmcast.vmm.aoe=e1.0 --vmm-option "bmcast.vmm.root=$root_hash")

# machine LOG [NAMESPACE] -- run-qemu.sh args: starts QEMU through side's build (vmm_dir; its PID in boot_pid),
# t0 = now, load = the 1-minute load average now.
machine() {
  local log="$1" ns="$2"; shift 3
  boot_log="$log" t0=$EPOCHREALTIME load=$(cut -d ' ' -f 1 /proc/loadavg)
  : > "$log"
  if [[ -n $ns ]]; then
    ip netns exec "$ns" "$vmm_dir/run-qemu.sh" "$@" > "$log" 2>&1 < /dev/null &
  else
    "$vmm_dir/run-qemu.sh" "$@" > "$log" 2>&1 < /dev/null &
  fi
  boot_pid=$!
}

# until PATTERN SECONDS: seconds from t0 until PATTERN appears in the log; fails if QEMU ends first or time runs out.
until_line() {
  local pattern="$1" deadline="$2" now
  while :; do
    grep -aq -- "$pattern" "$boot_log" && { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; return; }
    kill -0 "$boot_pid" 2> /dev/null || fail "QEMU ended before '$pattern'"
    now=$EPOCHREALTIME
    awk -v a="$t0" -v b="$now" -v d="$deadline" 'BEGIN { exit !(b - a > d) }' && fail "no '$pattern' within $deadline s"
    sleep 0.05
  done
}

# Waits for the guest's power-off (it powers off after its marker).
until_exit() {
  local deadline="$1" i
  for ((i = 0; i < deadline * 20; i++)); do kill -0 "$boot_pid" 2> /dev/null || { wait "$boot_pid" 2> /dev/null || true; boot_pid=""; return; }; sleep 0.05; done
  fail "the machine did not power off within $deadline s"
}

# field LOG EVENT KEY: KEY of the last "bmcast-vmm: event=EVENT" line.
field() {
  grep -a "^bmcast-vmm: event=$2 " "$1" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$3=//p" | tr -d '\r'
}

# Generous bounds: TCG on a loaded host; debian-db's background copy writes 4 GiB.
case "$image" in tiny) boot_s=300 complete_s=900 ;; *) boot_s=900 complete_s=3600 ;; esac

declare -A times phases waited
# phase_split LOG: where the fetches' time went (event=complete): AoE wait, SHA-256, private writes, in seconds and
# shares, per fetched chunk; frames sent, received, resent (stale: replies to a request already answered, so the resend was early).
phase_split() {
  local f=() k
  for k in fetched_chunks aoe_us hash_us write_us frames_sent frames_received resends stale_replies; do f+=("$(field "$1" complete "$k")"); done
  awk -v n="${f[0]}" -v a="${f[1]}" -v h="${f[2]}" -v w="${f[3]}" -v s="${f[4]}" -v r="${f[5]}" -v re="${f[6]}" -v st="${f[7]}" 'BEGIN {
    t = a + h + w; if (t == 0 || n == 0) { print "n/a"; exit }
    printf "AoE %.2f s (%d%%), SHA-256 %.2f s (%d%%), write %.2f s (%d%%); %.1f ms per chunk; frames %d sent, %d received, %d resent (%d stale)",
      a / 1e6, 100 * a / t, h / 1e6, 100 * h / t, w / 1e6, 100 * w / t, t / n / 1e3, s, r, re, st }'
}
# before_ready LOG: what the guest waited for before its marker, from the hypervisor's last event=progress before it
# (printed at most once a second, so up to a second early): the fetches inside doorbell holds (every fetch's phases
# less the background copy's time) and the background slices.
before_ready() {
  awk '/event=progress/ && !ready { p = $0 } /BMCAST-READY/ { ready = 1 }
    function val(k,   a, i, n) { n = split(p, a, " "); for (i = 1; i <= n; i++) if (index(a[i], k "=") == 1) return substr(a[i], length(k) + 2); return 0 }
    END { f = val("aoe_us") + val("hash_us") + val("write_us") + val("zero_us") - val("background_us")
      printf "fetches in doorbell holds %.2f s (%.1f MiB, %s chunks read ahead), background slices %.2f s (%.1f MiB; %s slices, %s HLTs left to guest I/O, %s to a pending interrupt)",
        f / 1e6, val("on_demand_bytes") / 1048576, val("read_ahead_chunks"), val("background_us") / 1e6, val("background_bytes") / 1048576,
        val("idle_slices"), val("idle_yields_io"), val("idle_yields_interrupt") }' "$1"
}
# Keys carry the side ("A " or "B ") in an A/B, nothing otherwise.
add() { times[$side$1]+="$2 "; }
declare -A exits fetched_ratio demand_bytes read_bytes
reserved_kib="" streaming_reserved="" boots=()
# sides MODE ROUND: which builds run the mode, in order (side B is this one).
sides() {
  if [[ -z $other || $1 == local-bare || $1 == copy-first ]]; then echo "-"
  elif (($2 % 2)); then echo "A B"
  else echo "B A"; fi
}
seconds() { awk -v u="$1" 'BEGIN { if (u != "") printf "%.2f", u / 1e6 }'; }
# boot_row ROUND MODE READY [COMPLETE]: one row of the every-boot table, from the last boot's log.
boot_row() {
  local p=progress row; [[ -n ${4:-} ]] && p=complete
  # Fields a mode does not print (no hypervisor, no streaming) stay empty: || true, since the assignment's status is
  # the last lookup's.
  row="| $1 | ${side% } | $2 | $load | $(cut -d ' ' -f 1 /proc/loadavg) | $3 | ${4:-} | $(field "$log" holds held_commands) \
| $(seconds "$(field "$log" holds hold_us)") | $(seconds "$(field "$log" $p aoe_us)") | $(field "$log" $p frames_received) \
| $(field "$log" $p rx_tail_writes) | $(field "$log" $p rx_tail_us) | $(field "$log" $p tx_tail_writes) | $(field "$log" $p tx_tail_us) \
| $(field "$log" $p idle_yields_io) | $(grep -a '^bmcast-vmm: exits ' "$log" | tail -n 1 | tr ' ' '\n' | sed -n 's/^hlt=//p' | tr -d '\r') |" || true
  boots+=("$row")
}
for ((r = 1; r <= rounds; r++)); do
  for mode in stream-9000 stream-1500 on-demand local-vmm local-bare copy-first; do
   for side in $(sides "$mode" "$r"); do
    vmm_dir="$here"
    case "$side" in -) side="" ;; A) vmm_dir="$other" side="A " ;; B) side="B " ;; esac
    log="$work/$side$mode.log" log="${log// /-}"
    case "$mode" in
      stream-*)
        mtu="${mode#stream-}"
        rm -f "$work/target.raw"; truncate -s $((image_bytes + tail_bytes)) "$work/target.raw"
        machine "$log" "${ns_of[$mtu]}" -- --disk "$work/target.raw" --aoe-tap "${tap_of[$mtu]}" --guest-mode stay \
          "${stream_options[@]}" "${vmm_args[@]}"
        ready=$(until_line BMCAST-READY "$boot_s")
        done_s=$(until_line "event=devirtualized" "$complete_s")
        boot_stop
        add "$mode" "$ready"
        boot_row "$r" "$mode" "$ready" "$done_s"
        bg=$(field "$log" complete background_bytes) bg_us=$(field "$log" complete background_us)
        [[ -n $bg && -n $bg_us ]] || fail "no event=complete with background_bytes and background_us"
        add "bg-$mtu" "$(awk -v b="$bg" -v us="$bg_us" 'BEGIN { printf "%.1f", us ? b / 1.048576 / us : 0 }')"
        add "complete-$mtu" "$done_s"
        phases[$side$mtu]="$(phase_split "$log")"
        waited[$side$mtu]="$(before_ready "$log")"
        exits[$side-]="$(grep -a '^bmcast-vmm: exits ' "$log" | tail -n 1 | sed 's/^bmcast-vmm: exits //')"
        reserved_kib="$(sed -n 's/^bmcast-vmm: reserved \([0-9]*\) KiB.*/\1/p' "$log" | head -n 1)"
        streaming_reserved="$(field "$log" streaming reserved_bytes)"
        ;;
      on-demand)
        rm -f "$work/target.raw"; truncate -s $((image_bytes + tail_bytes)) "$work/target.raw"
        machine "$log" "${ns_of[9000]}" -- --disk "$work/target.raw" --aoe-tap "${tap_of[9000]}" \
          "${stream_options[@]}" --vmm-option bmcast.vmm.background=off "${vmm_args[@]}"
        ready=$(until_line BMCAST-READY "$boot_s")
        add "$mode" "$ready"
        until_exit "$boot_s"
        boot_row "$r" "$mode" "$ready"
        demand_bytes[$side-]="$(field "$log" progress on_demand_bytes)"
        lbas="$(grep -a 'bmcast-vmm: nvme:' "$log" | tail -n 1 | tr ' ' '\n' | sed -n 's/^read-lbas=//p')"
        [[ -n ${demand_bytes[$side-]} && -n $lbas ]] || fail "no progress or NVMe report at power-off"
        read_bytes[$side-]=$((lbas * 512))   # QEMU's NVMe namespace: 512-byte blocks
        fetched_ratio[$side-]+="$(awk -v f="${demand_bytes[$side-]}" -v r="${read_bytes[$side-]}" 'BEGIN { printf "%.2f", f / r }') "
        ;;
      local-vmm | local-bare)
        extra=(--vmm-option bmcast.vmm.nvme=trap "${vmm_args[@]}")
        [[ $mode == local-bare ]] && extra=(--no-vmm)
        machine "$log" "" -- --disk "$work/local.raw" "${extra[@]}"
        ready=$(until_line BMCAST-READY "$boot_s")
        add "$mode" "$ready"
        until_exit "$boot_s"
        boot_row "$r" "$mode" "$ready"
        ;;
      copy-first)
        rm -f "$work/copy.raw"
        c0=$EPOCHREALTIME
        nbdcopy "nbd+unix:///$image?socket=$work/nbd-9000.sock" "$work/copy.raw" || fail "nbdcopy"
        copy_s=$(awk -v a="$c0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
        truncate -s $((image_bytes + tail_bytes)) "$work/copy.raw"
        machine "$log" "" -- --disk "$work/copy.raw" --no-vmm
        boot=$(until_line BMCAST-READY "$boot_s")
        until_exit "$boot_s"
        add copy "$copy_s"
        add "$mode" "$(awk -v a="$copy_s" -v b="$boot" 'BEGIN { printf "%.2f", a + b }')"
        ;;
    esac
    echo "round $r $side$mode: done (load $load at start, $(cut -d ' ' -f 1 /proc/loadavg) at end)" >&2
   done
  done
done

median() { printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m() { median "${times[$1]}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
local_bare=$(m local-bare)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
all_sides="-"; [[ -z $other ]] || all_sides="A B"

echo "## bmcast-vmm deployment, image $image, $rounds round(s), emulated link $rate B/s (QEMU TCG)"
[[ -z $other ]] || printf '\nA/B: side A is %s, side B %s.\n' "$other" "$here"
echo
# Deployment delay: minus the same machine's boot from a complete local disk, with the hypervisor for the
# modes that run under it (the same side's build), without for copying first (which boots bare).
baseline() { case "$1" in copy-first | local-bare) echo local-bare ;; *) echo "${side}local-vmm" ;; esac; }
echo "| mode | time to BMCAST-READY, median s | deployment delay s | minus | all runs |"
echo "| --- | ---: | ---: | --- | --- |"
for mode in stream-9000 stream-1500 on-demand local-vmm local-bare copy-first; do
  for side in $(sides "$mode" 1); do
    [[ $side == - ]] && side="" || side="$side "
    base=$(baseline $mode)
    echo "| $side$mode | $(m "$side$mode") | $(minus "$(m "$side$mode")" "$(m "$base")") | $base | ${times[$side$mode]}|"
  done
done
echo
echo "| figure | value | goal |"
echo "| --- | --- | --- |"
echo "| copy alone (nbdcopy at $rate B/s) | $(m copy) s | |"
for side in $all_sides; do
  [[ $side == - ]] && side="" || side="$side "
  local_vmm=$(m "${side}local-vmm")
  echo "| ${side}delay streaming (MTU 9000) vs copy-first | $(minus "$(m "${side}stream-9000")" "$local_vmm") s vs $(minus "$(m copy-first)" "$local_bare") s | copy-first's delay >= 10x (debian-db; TCG boots vary by +-3 s: illustrative) |"
  echo "| ${side}local boot under the hypervisor / bare | $(ratio "$local_vmm" "$local_bare")x | <= 1.3x |"
  echo "| ${side}fetched before ready / read by the boot (on-demand, last round) | $(mib "${demand_bytes[$side-]}") MiB / $(mib "${read_bytes[$side-]}") MiB = $(awk '{ print $NF }' <<< "${fetched_ratio[$side-]}")x (all rounds: ${fetched_ratio[$side-]% }) | <= 1.2x |"
  for mtu in 9000 1500; do
    echo "| ${side}background copy, MTU $mtu | $(m "${side}bg-$mtu") MiB/s (disk complete at $(m "${side}complete-$mtu") s) | |"
  done
  for mtu in 9000 1500; do
    echo "| ${side}fetch phases, MTU $mtu (last run) | ${phases[$side$mtu]} | |"
  done
  for mtu in 9000 1500; do
    echo "| ${side}before ready, MTU $mtu (last run) | ${waited[$side$mtu]} | |"
  done
  echo "| ${side}exits until de-virtualization (last stream-1500 run) | ${exits[$side-]} | none after |"
done
echo "| reserved memory | $reserved_kib KiB block + $(awk -v b="$streaming_reserved" 'BEGIN { printf "%.0f", b / 1024 }') KiB for streaming | |"
echo
echo "Background MiB/s: bytes the background copy fetched over the time it spent on its chunks (background_us, zero"
echo "chunks' Write Zeroes included). Single runs and a loaded host make every figure an illustration."
echo
echo "Every boot: load = the 1-minute load average at its start and end; holds and hold s = event=holds (held_commands,"
echo "hold_us); AoE s = the fetches' wire share (aoe_us), frames received, tail writes (receive, transmit) and their time, HLTs left to guest I/O from the last"
echo "event=complete (stream) or event=progress (at power-off); HLT exits until de-virtualization."
echo
echo "| round | side | mode | load start | load end | ready s | complete s | holds | hold s | AoE s | frames received | rx tail writes | rx tail us | tx tail writes | tx tail us | HLTs left to guest I/O | HLT exits |"
echo "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${boots[@]}"
