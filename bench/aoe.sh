#!/usr/bin/env bash
# AoE benchmark, one command, as root: ./bench/aoe.sh [--quick]
# Our initiator (bmcast stream --source aoe:..., verified with --manifest, writing a local target file)
# reads one image over a veth pair into a network namespace from vblade and from bmcast serve --aoe,
# at MTU 1500 and 9000, in the same run. Writes bench/results/aoe.md (markdown table) and prints it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quick=0; [ "${1:-}" = "--quick" ] && quick=1
mib=$([ $quick = 1 ] && echo 128 || echo 512)
reps=$([ $quick = 1 ] && echo 1 || echo 3)

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (raw sockets, ip netns)"; exit 1; }
command -v vblade >/dev/null || { echo "bench: vblade missing (apt-get install vblade)"; exit 1; }
"$root/bmcast" --help >/dev/null   # build once, outside the timings

work=$(mktemp -d /tmp/bmcast-aoe-bench.XXXXXX)
ns="bmcast-aoe-bench-$$"; near="bab$$n"; far="bab$$f"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip link del "$near" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export BMCAST_STORE="$work/store" XDG_CONFIG_HOME="$work/config"
bmcast=(dotnet "$root/.build/cli/bmcast.dll")

echo "bench: $mib MiB image in $work"
head -c $((mib << 20)) /dev/urandom > "$work/disk.raw"
"${bmcast[@]}" image import "$work/disk.raw" --name disk >/dev/null
"${bmcast[@]}" image manifest disk -o "$work/disk.manifest" >/dev/null

ip netns add "$ns"
ip link add "$near" type veth peer name "$far"
ip link set "$far" netns "$ns"

# Seconds from start to the "complete" event of one bmcast stream from shelf.slot.
stream_seconds() {
  rm -f "$work/target.raw" "$work/target.raw.bmcast-state" "$work/events"
  "${bmcast[@]}" stream --source "aoe:$near/e$1" --target "$work/target.raw" --export "unix:$work/nbd.sock" \
    --manifest "$work/disk.manifest" --json >"$work/events" 2>"$work/stream.log" &
  local pid=$!
  for _ in $(seq 1200); do grep -q '"event":"complete"' "$work/events" 2>/dev/null && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  grep -o '"event":"complete","time":[0-9.]*' "$work/events" | sed 's/.*://' || { cat "$work/stream.log" >&2; echo "bench: stream failed" >&2; exit 1; }
  cmp -s "$work/target.raw" "$work/disk.raw" || { echo "bench: copy differs" >&2; exit 1; }
}

# Median MiB/s of $reps streams from the server started by "$@" (inside the namespace) at shelf.slot $1.
measure() {
  local address=$1; shift
  ip netns exec "$ns" "$@" >"$work/server.log" 2>&1 &
  local pid=$!; pids+=($pid)
  sleep 2   # vblade starts at once; dotnet needs a moment
  local rates=()
  for _ in $(seq $reps); do rates+=("$(echo "$mib / $(stream_seconds "$address")" | bc -l)"); done
  kill $pid; wait $pid 2>/dev/null || true
  printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.0f", a[int((NR+1)/2)]}'
}

table="| MTU | vblade (MiB/s) | bmcast serve --aoe (MiB/s) | ratio |\n|---|---|---|---|\n"
for mtu in 1500 9000; do
  ip link set "$near" mtu $mtu up
  ip -n "$ns" link set "$far" mtu $mtu up
  v=$(measure 1.0 vblade -r 1 0 "$far" "$work/disk.raw")
  b=$(measure 0.0 "${bmcast[@]}" serve --aoe "$far" --aoe-shelf 0)
  table+="| $mtu | $v | $b | $(echo "scale=2; $b / $v" | bc -l)x |\n"
done

mkdir -p "$root/bench/results"
{
  echo "# AoE: our target vs vblade, read by our initiator"
  echo
  echo "$(date -u +%F) on $(nproc) cores; $mib MiB random image; bmcast stream with --manifest (verifies every chunk, writes a"
  echo "local file); veth pair into a namespace; median of $reps."
  echo
  printf "$table"
} | tee "$root/bench/results/aoe.md"
