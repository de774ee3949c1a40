#!/usr/bin/env bash
# Data-plane benchmarks, one command: ./bench/run.sh [--quick] [--only engine]
# Every ratio compares against a baseline measured in the same run on the same data.
# Writes bench/results/data-plane.md (markdown table) and prints it; --only engine measures the engine row alone
# (the same row, same name) and only prints it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quick=0 only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --only) only=${2:-}; shift 2 || true ;;
    *) echo "usage: $0 [--quick] [--only engine]"; exit 2 ;;
  esac
done
case "$only" in "" | engine) ;; *) echo "usage: $0 [--quick] [--only engine]"; exit 2 ;; esac
# Every section runs unless --only names another one.
all() { [ -z "$only" ]; }
reps=$([ $quick = 1 ] && echo 3 || echo 5)
dense_mib=$([ $quick = 1 ] && echo 256 || echo 1024)
sparse_gib=$([ $quick = 1 ] && echo 2 || echo 8)

for tool in nbdcopy nbdkit qemu-img openssl; do
  command -v $tool >/dev/null || { echo "bench: $tool missing (apt-get install libnbd-bin nbdkit qemu-utils openssl)"; exit 1; }
done
source "$root/bench/common.sh"
source "$root/bench/events.sh"

echo "bench: preparing images in $work"
head -c $((dense_mib << 20)) /dev/urandom > "$work/dense.raw"
"${bmcast[@]}" image import "$work/dense.raw" --name dense >/dev/null
if all; then
  truncate -s $((sparse_gib << 30)) "$work/sparse.raw"
  # sparse: 64 MiB of data scattered in 1 MiB extents
  for i in $(seq 0 63); do
    dd if=/dev/urandom of="$work/sparse.raw" bs=1M count=1 seek=$((i * (sparse_gib * 1024 / 64))) conv=notrunc status=none
  done
  "${bmcast[@]}" image import "$work/sparse.raw" --name sparse >/dev/null
fi

"${bmcast[@]}" serve --nbd "unix:$work/serve.sock" 2>"$work/serve.log" & pids+=($!)
wait_socket "$work/serve.sock"

rows=()
if all; then
  for image in dense sparse; do
    nbdkit --exit-with-parent -U "$work/nbdkit-$image.sock" file "$work/$image.raw" & pids+=($!)
    wait_socket "$work/nbdkit-$image.sock"
    ours=$(time_median nbdcopy "nbd+unix:///$image?socket=$work/serve.sock" null:)
    theirs=$(time_median nbdcopy "nbd+unix:///?socket=$work/nbdkit-$image.sock" null:)
    size=$(stat -c %s "$work/$image.raw")
    rows+=("| nbdcopy from \`bmcast serve\` vs \`nbdkit file\`, $image ($((size >> 20)) MiB) | $(printf '%.3f' "$ours") s | $(printf '%.3f' "$theirs") s | $(echo "$theirs / $ours" | bc -l | xargs printf '%.2f')x throughput | >= 1.00x |")
  done

  # Streaming export with every block present vs the target file served directly by nbdkit.
  "${bmcast[@]}" stream --source "nbd+unix:///dense?socket=$work/serve.sock" --target "$work/target.raw" \
    --export "unix:$work/agent.sock" --idle-gap-ms 0 --json > "$work/agent.events" 2>"$work/agent.log" & agent=$!; pids+=($agent)
  for _ in $(seq 1200); do grep -q '"event":"complete"' "$work/agent.events" && break; sleep 0.1; done
  grep -q '"event":"complete"' "$work/agent.events" || { echo "bench: agent did not complete"; cat "$work/agent.log"; exit 1; }
  nbdkit --exit-with-parent -U "$work/nbdkit-target.sock" file "$work/target.raw" & pids+=($!)
  wait_socket "$work/nbdkit-target.sock"
  agent_t=$(time_median nbdcopy "nbd+unix:///?socket=$work/agent.sock" null:)
  direct_t=$(time_median nbdcopy "nbd+unix:///?socket=$work/nbdkit-target.sock" null:)
  rows+=("| nbdcopy from the streaming export (all present) vs the target file via \`nbdkit file\` | $(printf '%.3f' "$agent_t") s | $(printf '%.3f' "$direct_t") s | $(echo "($agent_t / $direct_t - 1) * 100" | bc -l | xargs printf '%+.1f')% time | <= +5% |")
  kill $agent; wait $agent 2>/dev/null || true
fi

# The engine streaming the dense image (fetch, verify every chunk against the manifest the server publishes, write
# a target file) vs nbdcopy copying it from the same server to a file. The engine's time runs from its "started"
# event to its "complete" event (its own clock: the runtime's start-up and the handshake are left out).
# Beside it, the best the engine could reach on this machine: nbdcopy's own CPU and the server's while it copies, plus
# SHA-256 of the image at OpenSSL's rate on this CPU (what the engine's verification runs), spread over every core.
engine_times=() copy_times=() floor_times=()
serve_pid=${pids[0]}
# CPU seconds (user + system) of process $1.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
# CPU seconds of this shell's finished children as note_times last saw them (`times` must run in this shell: in a
# $(...) subshell it counts that subshell's children, none).
note_times() { times > "$work/times"; }
children_seconds() { tail -1 "$work/times" | sed 's/m/ /g; s/s//g' | awk '{print $1 * 60 + $2 + $3 * 60 + $4}'; }
sha_bytes_per_s=$(openssl speed -evp sha256 -bytes 65536 -seconds 2 2>/dev/null | awk '/^sha256/ {sub(/k$/, "", $2); print $2 * 1000}')
[ -n "$sha_bytes_per_s" ] || { echo "bench: openssl speed gave no SHA-256 rate"; exit 1; }
for _ in $(seq $reps); do
  rm -f "$work/engine.raw" "$work/engine.raw.bmcast-state" "$work/copy.raw"
  # Each copy starts with nothing left to write back from the one before (else it shares the disk with that writeback).
  sync
  "${bmcast[@]}" stream --source "nbd+unix:///dense?socket=$work/serve.sock" --target "$work/engine.raw" \
    --export "unix:$work/engine.sock" --idle-gap-ms 0 --json > "$work/engine.events" 2>"$work/engine.log" & engine=$!; pids+=($engine)
  completed=0; wait_event "$work/engine.events" complete $engine || completed=$?
  kill $engine; wait $engine 2>/dev/null || true
  [ $completed = 0 ] || { echo "bench: engine stream did not complete"; cat "$work/engine.log"; exit 1; }
  cmp -s "$work/engine.raw" "$work/dense.raw" || { echo "bench: engine stream differs from the image"; exit 1; }
  engine_times+=("$(stream_seconds "$work/engine.events")")
  sync
  note_times; server0=$(cpu_seconds "$serve_pid") children0=$(children_seconds)
  t0=$(date +%s.%N)
  nbdcopy "nbd+unix:///dense?socket=$work/serve.sock" "$work/copy.raw"
  copy_times+=("$(echo "$(date +%s.%N) - $t0" | bc -l)")
  note_times
  copy_cpu=$(echo "$(cpu_seconds "$serve_pid") - $server0 + $(children_seconds) - $children0" | bc -l)
  floor_times+=("$(echo "($copy_cpu + ($dense_mib * 1048576) / $sha_bytes_per_s) / $(nproc)" | bc -l)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
engine_t=$(median "${engine_times[@]}"); copy_t=$(median "${copy_times[@]}")
rows+=("| engine stream (verify + write) from \`bmcast serve\` vs nbdcopy to a file, dense ($dense_mib MiB) | $(printf '%.3f' "$engine_t") s | $(printf '%.3f' "$copy_t") s | $(echo "$copy_t / $engine_t" | bc -l | xargs printf '%.2f')x throughput | >= 0.80x |")
floor_t=$(median "${floor_times[@]}")
rows+=("| engine floor on $(nproc) cores: CPU of nbdcopy's copy and the server's, plus SHA-256 of the image ($((sha_bytes_per_s / 1000000)) MB/s), over every core | $(printf '%.3f' "$floor_t") s | $(printf '%.3f' "$copy_t") s | $(echo "$copy_t / $floor_t" | bc -l | xargs printf '%.2f')x throughput at best | >= 0.80x |")

if [ -n "$only" ]; then
  echo "| measure | bmcast | baseline | ratio | goal |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  exit 0
fi

# Agent memory on a 1 TiB sparse target: peak RSS while it streams a 1 TiB all-hole image.
truncate -s 1T "$work/huge.raw"
"${bmcast[@]}" image import "$work/huge.raw" --name huge >/dev/null
"${bmcast[@]}" stream --source "nbd+unix:///huge?socket=$work/serve.sock" --target "$work/huge-target.raw" \
  --export "unix:$work/huge.sock" --idle-gap-ms 0 --json > "$work/huge.events" 2>"$work/huge.log" & huge=$!; pids+=($huge)
sleep $([ $quick = 1 ] && echo 10 || echo 30)
peak_kib=$(awk '/VmHWM/ {print $2}' /proc/$huge/status)
present=$(grep -o '"present_bytes":[0-9]*' "$work/huge.events" | tail -1 | cut -d: -f2)
rows+=("| agent peak RSS, 1 TiB sparse target (after $([ $quick = 1 ] && echo 10 || echo 30) s, $(( ${present:-0} >> 30 )) GiB present) | $((peak_kib / 1024)) MiB | | | <= 100 MiB |")
kill $huge; wait $huge 2>/dev/null || true

# The streaming layer's own cost, without any protocol: BenchmarkDotNet, reads through the
# streaming disk (all present) vs the same reads from the target file, with allocations.
dotnet run -c Release --project "$root/bench/Bmcast.Benchmarks" -- --filter '*StreamingRead*' --job short \
  --exporters github --artifacts "$work/bdn" > "$work/bdn.log" 2>&1 || { tail -30 "$work/bdn.log"; exit 1; }

mkdir -p "$root/bench/results"
{
  echo "# Data-plane benchmarks"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), medians of $reps runs$([ $quick = 1 ] && echo ', quick mode')."
  echo
  echo "| measure | bmcast | baseline | ratio | goal |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "## Streaming disk vs target file, in process (BenchmarkDotNet, short job)"
  echo
  sed -n '/^|/p' "$work"/bdn/results/*StreamingReadBenchmarks*-report-github.md
} > "$root/bench/results/data-plane.md"
cat "$root/bench/results/data-plane.md"
