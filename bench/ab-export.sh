#!/usr/bin/env bash
# A/B of two bmcast trees on the NBD rows of bench/run.sh, run alternately in the same period so that load from
# other work on the machine falls on both alike:
#   ./bench/ab-export.sh OLD_TREE NEW_TREE [--rounds N] [--mib N]
# Each tree must hold a bmcast checkout (built here with its ./bmcast). Per round, in alternating order: nbdcopy from
# each tree's streaming export (every block present; the agent restarted on its complete target, so it resumes
# complete), nbdcopy from the target via `nbdkit file`, and nbdcopy of the dense image from each tree's `bmcast serve`
# and from `nbdkit file`. Prints per-row medians with the 1-minute load average at each round, and the CPU time each
# server spent per copy (utime + stime from /proc, in clock ticks of 10 ms): on a loaded machine wall times wander
# with the load, CPU times much less.
set -euo pipefail
shopt -s inherit_errexit
old=$(cd "$1" && pwd); new=$(cd "$2" && pwd); shift 2
rounds=7 mib=1024
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    *) echo "usage: $0 OLD_TREE NEW_TREE [--rounds N] [--mib N]"; exit 2 ;;
  esac
done
for tool in nbdcopy nbdkit; do command -v $tool >/dev/null || { echo "ab: $tool missing"; exit 1; }; done
"$old/bmcast" --help >/dev/null; "$new/bmcast" --help >/dev/null

work=$(mktemp -d /tmp/bmcast-ab.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export XDG_CONFIG_HOME="$work/config"
wait_socket() { for _ in $(seq 400); do [ -S "$1" ] && return 0; sleep 0.05; done; echo "ab: no socket $1"; exit 1; }
wait_complete() {
  for _ in $(seq 1200); do grep -q '"event":"complete"' "$1" && return 0; sleep 0.05; done
  echo "ab: agent did not complete ($1)"; exit 1
}
timed() { local t0; t0=$(date +%s.%N); "$@" >/dev/null || { echo "ab: failed: $*" >&2; exit 1; }; echo "$(date +%s.%N) - $t0" | bc -l; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "SECONDS TICKS": the wall time of an nbdcopy and the CPU its server (PID $1) spent meanwhile.
timed_cpu() { local pid=$1 c0 t; shift; c0=$(cpu_ticks "$pid"); t=$(timed "$@"); echo "$t $(( $(cpu_ticks "$pid") - c0 ))"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

head -c $((mib << 20)) /dev/urandom > "$work/dense.raw"
declare -A serve_sock serve_pid
for tree in old new; do
  dir=${!tree}
  BMCAST_STORE="$work/store-$tree" dotnet "$dir/.build/cli/bmcast.dll" image import "$work/dense.raw" --name dense >/dev/null
  BMCAST_STORE="$work/store-$tree" dotnet "$dir/.build/cli/bmcast.dll" serve --nbd "unix:$work/serve-$tree.sock" 2>"$work/serve-$tree.log" & pids+=($!)
  serve_pid[$tree]=$!
  serve_sock[$tree]="$work/serve-$tree.sock"
  wait_socket "$work/serve-$tree.sock"
  # Stream each tree's own target once; later agents resume it complete.
  dotnet "$dir/.build/cli/bmcast.dll" stream --source "nbd+unix:///dense?socket=$work/serve-$tree.sock" --target "$work/target-$tree.raw" \
    --export "unix:$work/agent-$tree.sock" --idle-gap-ms 0 --json > "$work/agent-$tree.events" 2>"$work/agent-$tree.log" & agent=$!
  wait_complete "$work/agent-$tree.events"
  kill $agent; wait $agent 2>/dev/null || true
done
nbdkit -f --exit-with-parent -U "$work/nbdkit-target.sock" file "$work/target-new.raw" & pids+=($!); kit_target_pid=$!
nbdkit -f --exit-with-parent -U "$work/nbdkit-dense.sock" file "$work/dense.raw" & pids+=($!); kit_dense_pid=$!
wait_socket "$work/nbdkit-target.sock"; wait_socket "$work/nbdkit-dense.sock"

declare -A export_t serve_t export_c serve_c
kit_export=() kit_dense=() kit_export_c=() kit_dense_c=() loads=()
for r in $(seq "$rounds"); do
  order=(old new); [ $((r % 2)) = 0 ] && order=(new old)
  loads+=("$(cut -d' ' -f1 /proc/loadavg)")
  for tree in "${order[@]}"; do
    dir=${!tree}
    rm -f "$work/agent-$tree.sock"
    dotnet "$dir/.build/cli/bmcast.dll" stream --source "nbd+unix:///dense?socket=${serve_sock[$tree]}" --target "$work/target-$tree.raw" \
      --export "unix:$work/agent-$tree.sock" --idle-gap-ms 0 --json > "$work/agent-$tree.events" 2>"$work/agent-$tree.log" & agent=$!
    wait_complete "$work/agent-$tree.events"
    wait_socket "$work/agent-$tree.sock"
    nbdcopy "nbd+unix:///?socket=$work/agent-$tree.sock" null: # warm-up: page cache, JIT
    read -r t c < <(timed_cpu $agent nbdcopy "nbd+unix:///?socket=$work/agent-$tree.sock" null:)
    export_t[$tree]+=" $t"; export_c[$tree]+=" $c"
    kill $agent; wait $agent 2>/dev/null || true
    read -r t c < <(timed_cpu $kit_target_pid nbdcopy "nbd+unix:///?socket=$work/nbdkit-target.sock" null:)
    kit_export+=("$t"); kit_export_c+=("$c")
    read -r t c < <(timed_cpu "${serve_pid[$tree]}" nbdcopy "nbd+unix:///dense?socket=${serve_sock[$tree]}" null:)
    serve_t[$tree]+=" $t"; serve_c[$tree]+=" $c"
    read -r t c < <(timed_cpu $kit_dense_pid nbdcopy "nbd+unix:///?socket=$work/nbdkit-dense.sock" null:)
    kit_dense+=("$t"); kit_dense_c+=("$c")
  done
  echo "round $r (load ${loads[-1]}): export old/new ${export_t[old]##* }/${export_t[new]##* } s, serve old/new ${serve_t[old]##* }/${serve_t[new]##* } s" >&2
done

kx=$(median "${kit_export[@]}"); kd=$(median "${kit_dense[@]}")
echo "1-min load average at each round: ${loads[*]}"
echo "nbdkit file: target $(printf '%.3f' "$kx") s, dense $(printf '%.3f' "$kd") s (medians of $((rounds * 2))); CPU per copy: target $(median "${kit_export_c[@]}") ticks, dense $(median "${kit_dense_c[@]}") ticks"
for tree in old new; do
  # shellcheck disable=SC2086
  e=$(median ${export_t[$tree]}); s=$(median ${serve_t[$tree]})
  printf '%s (%s): export %.3f s (%+.1f%% time vs nbdkit), serve dense %.3f s (%.2fx nbdkit throughput); CPU per copy: export %s ticks, serve %s ticks; export samples:%s; serve samples:%s\n' \
    "$tree" "$(git -C "${!tree}" describe --always --dirty)" "$e" "$(echo "($e / $kx - 1) * 100" | bc -l)" "$s" "$(echo "$kd / $s" | bc -l)" \
    "$(median ${export_c[$tree]})" "$(median ${serve_c[$tree]})" "${export_t[$tree]}" "${serve_t[$tree]}"
done
