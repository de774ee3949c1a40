#!/usr/bin/env bash
# AoE benchmark, one command, as root: ./bench/aoe.sh [--quick] [--rounds N]
# Over a veth pair into a network namespace, at MTU 1500 and 9000, in rounds that interleave:
#  - the link baseline: bench/Bmcast.AoeLink blasts data-reply-sized frames from the namespace (sendmmsg)
#    and counts what arrives here (its receive ring, as our target and initiator receive): sector bytes per second the pair carries one way;
#  - our initiator reading one image from vblade, then from bmcast serve --aoe, twice each: alone
#    (Bmcast.AoeLink read: the whole device, nothing checked or written) and through the engine (bmcast stream
#    --source aoe:..., verified with --manifest, writing a local target file);
#  - the same two targets again with both ends (target, initiator, engine) under SCHED_FIFO: on a shared machine
#    the scheduling of other work otherwise decides most of an exchange's round trip. The link baseline is not
#    repeated there: a real-time flood starves the kernel's softirq thread and measures nothing.
# Reports medians over the rounds (ratios are medians of the per-round ratios) and the load average seen,
# since the machine is shared. Writes bench/results/aoe.md (markdown) and prints it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/bench/events.sh"
quick=0 rounds=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --rounds) rounds=$2; shift ;;
    *) echo "usage: $0 [--quick] [--rounds N]"; exit 2 ;;
  esac
  shift
done
mib=$([ $quick = 1 ] && echo 128 || echo 512)
rounds=${rounds:-$([ $quick = 1 ] && echo 1 || echo 5)}
link_seconds=$([ $quick = 1 ] && echo 2 || echo 4)

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (raw sockets, ip netns)"; exit 1; }
command -v vblade >/dev/null || { echo "bench: vblade missing (apt-get install vblade)"; exit 1; }
command -v bc >/dev/null || { echo "bench: bc missing (apt-get install bc)"; exit 1; }
"$root/bmcast" --help >/dev/null   # build once, outside the timings
link_dll="$root/.build/aoe-link/Bmcast.AoeLink.dll"
dotnet build "$root/bench/Bmcast.AoeLink/Bmcast.AoeLink.csproj" -c Release -o "$root/.build/aoe-link" --nologo -v quiet >/dev/null

work=$(mktemp -d /tmp/bmcast-aoe-bench.XXXXXX)
ns="bmcast-aoe-bench-$$"; near="bab$$n"; far="bab$$f"
cleanup() {
  # Our children only (servers, sink, streams), by PID.
  for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip link del "$near" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export BMCAST_STORE="$work/store" XDG_CONFIG_HOME="$work/config"
bmcast=(dotnet "$root/.build/cli/bmcast.dll")
# The scheduling the AoE ends run under: nothing (the default policy) or chrt -f 10 (SCHED_FIFO).
sched=()

echo "bench: $mib MiB image in $work, $rounds round(s)"
head -c $((mib << 20)) /dev/urandom > "$work/disk.raw"
"${bmcast[@]}" image import "$work/disk.raw" --name disk >/dev/null
"${bmcast[@]}" image manifest disk -o "$work/disk.manifest" >/dev/null

ip netns add "$ns"
ip link add "$near" type veth peer name "$far"
ip link set "$far" netns "$ns"

# MiB/s of sector data the pair carries from the namespace to here.
link_rate() {
  dotnet "$link_dll" sink "$near" $((link_seconds + 2)) >"$work/sink.out" &
  local sink=$!
  sleep 1   # the sink's socket is open before the first frame
  ip netns exec "$ns" dotnet "$link_dll" blast "$far" "$link_seconds" >/dev/null || { kill $sink; return 1; }
  wait $sink
  sed -nE 's/.*, ([0-9]+) MiB\/s.*/\1/p' "$work/sink.out" | grep . || { cat "$work/sink.out" >&2; echo "bench: link baseline failed" >&2; return 1; }
}

# MiB/s of one bmcast stream from shelf.slot $1 (start to the "complete" event), checked byte for byte.
stream_rate() {
  rm -f "$work/target.raw" "$work/target.raw.bmcast-state" "$work/events"
  "${sched[@]}" "${bmcast[@]}" stream --source "aoe:$near/e$1" --target "$work/target.raw" --export "unix:$work/nbd.sock" \
    --manifest "$work/disk.manifest" --json >"$work/events" 2>"$work/stream.log" &
  local pid=$!
  local completed=0
  wait_event "$work/events" complete $pid || completed=$?
  kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  [ $completed = 0 ] || { cat "$work/stream.log" >&2; echo "bench: stream failed" >&2; return 1; }
  cmp -s "$work/target.raw" "$work/disk.raw" || { echo "bench: copy differs" >&2; return 1; }
  echo "$mib / $(stream_seconds "$work/events")" | bc -l
}

# MiB/s of our initiator alone reading all of shelf.slot $1.
read_rate() {
  "${sched[@]}" dotnet "$link_dll" read "aoe:$near/e$1" >"$work/read.out" 2>&1 || { cat "$work/read.out" >&2; return 1; }
  sed -nE 's/.*, ([0-9]+) MiB\/s.*/\1/p' "$work/read.out"
}

# Start "$@" in the namespace, wait until it answers (the log line $1 appears; none: half a second), read all of
# shelf.slot $2 with the initiator alone and then stream it through the engine (prints both rates), stop it.
served_rates() {
  local ready=$1 address=$2 status=0; shift 2
  "${sched[@]}" ip netns exec "$ns" "$@" >"$work/server.log" 2>&1 &
  local pid=$!
  if [ -z "$ready" ]; then sleep 0.5; fi
  for _ in $(seq 400); do [ -z "$ready" ] || grep -q "$ready" "$work/server.log" 2>/dev/null && break; sleep 0.05; done
  { read_rate "$address" && stream_rate "$address"; } || status=$?
  kill $pid; wait $pid 2>/dev/null || true
  return $status
}

median() { sort -g | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}'; }
# Median of the values given as arguments, rounded.
m() { printf '%s\n' "$@" | median | cut -d. -f1; }

# Rates "vblade-alone vblade-engine ours-alone ours-engine" of both targets under the current scheduling.
target_rates() {
  local va ve ba be
  # vblade prints nothing when ready; it answers as soon as it runs.
  read -r va ve <<<"$(served_rates "" 1.0 vblade -r 1 0 "$far" "$work/disk.raw" | tr '\n' ' ')"
  read -r ba be <<<"$(served_rates "AoE target on" 0.0 "${bmcast[@]}" serve --aoe "$far" --aoe-shelf 0 | tr '\n' ' ')"
  [ -n "$be" ] && [ -n "$ve" ] || { echo "bench: a measurement failed" >&2; return 1; }
  echo "$va $ve $ba $be"
}

alone="| MTU | link carries | vblade | bmcast serve --aoe | target vs vblade | initiator vs link |\n|---|---|---|---|---|---|\n"
engine="| MTU | vblade | bmcast serve --aoe | target vs vblade |\n|---|---|---|---|\n"
fifo="| MTU | alone: vblade | alone: bmcast serve --aoe | alone: target vs vblade | engine: vblade | engine: bmcast serve --aoe | engine: target vs vblade |\n|---|---|---|---|---|---|---|\n"
loads=()
for mtu in 1500 9000; do
  ip link set "$near" mtu $mtu up
  ip -n "$ns" link set "$far" mtu $mtu up
  links=() v_alone=() b_alone=() v_engine=() b_engine=() r_alone=() r_engine=() r_link=()
  fv_alone=() fb_alone=() fv_engine=() fb_engine=() fr_alone=() fr_engine=()
  for round in $(seq "$rounds"); do
    loads+=("$(cut -d' ' -f1 /proc/loadavg)")
    l=$(link_rate)
    sched=()
    rates=$(target_rates) || exit 1
    read -r va ve ba be <<<"$rates"
    sched=(chrt -f 10)
    rates=$(target_rates) || exit 1
    read -r fva fve fba fbe <<<"$rates"
    printf 'bench: MTU %s round %s: link %.0f; alone: vblade %.0f, ours %.0f; engine: vblade %.0f, ours %.0f; SCHED_FIFO alone: vblade %.0f, ours %.0f; engine: vblade %.0f, ours %.0f MiB/s (load %s)\n' \
      $mtu "$round" "$l" "$va" "$ba" "$ve" "$be" "$fva" "$fba" "$fve" "$fbe" "${loads[-1]}"
    links+=("$l"); v_alone+=("$va"); b_alone+=("$ba"); v_engine+=("$ve"); b_engine+=("$be")
    r_alone+=("$(echo "$ba / $va" | bc -l)"); r_engine+=("$(echo "$be / $ve" | bc -l)"); r_link+=("$(echo "100 * $ba / $l" | bc -l)")
    fv_alone+=("$fva"); fb_alone+=("$fba"); fv_engine+=("$fve"); fb_engine+=("$fbe")
    fr_alone+=("$(echo "$fba / $fva" | bc -l)"); fr_engine+=("$(echo "$fbe / $fve" | bc -l)")
  done
  alone+="| $mtu | $(m "${links[@]}") | $(m "${v_alone[@]}") | $(m "${b_alone[@]}") | $(printf '%s\n' "${r_alone[@]}" | median)x | $(m "${r_link[@]}")% |\n"
  engine+="| $mtu | $(m "${v_engine[@]}") | $(m "${b_engine[@]}") | $(printf '%s\n' "${r_engine[@]}" | median)x |\n"
  fifo+="| $mtu | $(m "${fv_alone[@]}") | $(m "${fb_alone[@]}") | $(printf '%s\n' "${fr_alone[@]}" | median)x | $(m "${fv_engine[@]}") | $(m "${fb_engine[@]}") | $(printf '%s\n' "${fr_engine[@]}" | median)x |\n"
done

mkdir -p "$root/bench/results"
{
  echo "# AoE: our target vs vblade, read by our initiator, against what the link carries"
  echo
  echo "$(date -u '+%F %H:%M') UTC; $(nproc) cores ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), kernel $(uname -r);"
  echo "$mib MiB random image; veth pair into a namespace; median of $rounds round(s); 1-minute load average at"
  echo "the start of each round: $(printf '%s\n' "${loads[@]}" | sort -g | head -1) to $(printf '%s\n' "${loads[@]}" | sort -g | tail -1) (the machine is shared)."
  echo
  echo "All rates in MiB/s of image (sector) data."
  echo
  echo "- **link carries**: \`bench/Bmcast.AoeLink blast\` sends frames the size of a full AoE data reply (36-byte header"
  echo "  + the sectors the MTU allows) from the namespace with sendmmsg as fast as the kernel takes them, one thread per"
  echo "  core, and \`sink\` counts the sector bytes that arrive on our side through its receive ring (as ours receive): the one-way ceiling through the"
  echo "  same packet-socket path, with no requests going the other way and no target work."
  echo "- **initiator alone**: \`bench/Bmcast.AoeLink read\`: after a second of untimed reads (JIT tiers, page cache,"
  echo "  window), our initiator reads the whole device in 8 concurrent 1 MiB reads; nothing verified or written."
  echo "  **initiator vs link** is ours over the link baseline of the same round."
  echo "- **engine**: \`bmcast stream --source aoe:... --manifest ...\` verifies every chunk and writes a local file;"
  echo "  from its \"started\" event to \"complete\" (the runtime's start-up and the AoE handshake left out, as in \`bench/run.sh\`'s"
  echo "  engine row); the copy is compared with the image."
  echo
  echo "## Initiator alone"
  echo
  printf "%b" "$alone"
  echo
  echo "## Through the engine (bmcast stream)"
  echo
  printf "%b" "$engine"
  echo
  echo "## Both ends under SCHED_FIFO"
  echo
  echo "The same measurements with the target (either), our initiator and the engine run by \`chrt -f 10\`: they preempt"
  echo "everything else on the machine, as on hosts of their own. There is no link baseline here (a real-time flood"
  echo "starves the kernel's softirq thread, which then drops what it should deliver). Read the engine columns with care:"
  echo "under SCHED_FIFO vblade's own rate through the engine falls well below its rate under the default policy (at MTU"
  echo "9000 about 250 against 430 MiB/s, also with vblade at a higher priority than the agent), while ours does not, so"
  echo "that ratio says as much about vblade under FIFO as about our target."
  echo
  printf "%b" "$fifo"
} | tee "$root/bench/results/aoe.md"
