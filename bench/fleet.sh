#!/usr/bin/env bash
# Fleet benchmark, by boot-trace replay: ./bench/fleet.sh [--image debian-db] [--clients "1 8 32 100"] [--rate 125M]
#                                                        [--delay-rates "125M 1250M"] [--rounds 3]
# 1. The boot trace (bmcast deploy's TARGET.boot-trace: every guest request until ready, with its timing), recorded
#    once per image content by one TCG/KVM boot and kept in $XDG_CACHE_HOME/bmcast/traces (keyed by the root hash).
# 2. Per N in --clients: one bmcast serve over one emulated link (--rate, shared by every connection), N agents at
#    once (bench/Bmcast.Fleet: each its own engine, target, state and connections, in one process), each replaying
#    the trace with its think times against its own export. Time-to-ready (from the agent's start to the end of the
#    replayed boot): median and worst against a lone client's, bytes fetched, the server's CPU seconds, every error.
# 3. Deployment delay by replay at each --delay-rates link: streaming (one agent), against the trace replayed on a
#    local copy of the image (the floor), copying first (nbdcopy of the image, then the local replay), and a network
#    boot (the trace straight against the server's export, writes into a local overlay as QEMU's snapshot=on keeps
#    them): what the link, the server and NBD cost a network boot, beside bench/deploy.sh's netboot under QEMU.
# Writes bench/results/fleet.md; prints `fleet: clients=N median_slowdown=X worst_slowdown=Y errors=E` per N.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image=debian-db; clients="1 8 32 100"; rate=125M; delay_rates="125M 1250M"; rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image=$2; shift 2;;
    --clients) clients=$2; shift 2;;
    --rate) rate=$2; shift 2;;
    --delay-rates) delay_rates=$2; shift 2;;
    --rounds) rounds=$2; shift 2;;
    *) echo "usage: $0 [--image NAME] [--clients \"1 8 32 100\"] [--rate 125M] [--delay-rates \"125M 1250M\"] [--rounds N]"; exit 2;;
  esac
done
. "$root/bench/lib.sh" fleet nbdcopy qemu-system-x86_64 jq bc

# start_server RATE: bmcast serve on a unix socket over an emulated link of RATE, connection limits out of the way of
# 100 agents; sets server and uri.
start_server() {
  rm -f "$work/serve.sock"
  "${bmcast[@]}" serve --nbd "unix:$work/serve.sock" --rate "$1" --max-connections 4096 --max-connections-per-peer 4096 2>>"$work/serve.log" &
  server=$!; pids+=($server)
  for _ in $(seq 200); do [ -S "$work/serve.sock" ] && break; sleep 0.05; done
  [ -S "$work/serve.sock" ] || { echo "bench: bmcast serve did not start:"; cat "$work/serve.log"; exit 1; }
  uri="nbd+unix:///$image?socket=$work/serve.sock"
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; }
# CPU seconds the server has used so far (user + system).
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$server/stat"; }

. "$root/bench/boot-trace.sh"

# The floor: the trace against a local copy of the image.
cp --sparse=always "$work/image.raw" "$work/local.raw"
local_t=$(for _ in $(seq "$rounds"); do sync; dotnet "$fleet_dll" local --trace "$trace" --image "$work/local.raw" | jq .ready; done | median)
echo "bench: local replay $(printf '%.2f' "$local_t") s"

# The fleet at --rate.
rows=(); finals=(); warning_kinds=(); lone=""; total_errors=0
case " $clients " in *" 1 "*) ;; *) clients="1 $clients";; esac
for n in $clients; do
  : >"$work/serve.log"
  start_server "$rate"
  cpu0=$(server_cpu)
  result=$(replay_stream "$n" "$uri")
  cpu1=$(server_cpu)
  stop_server
  median_t=$(jq '.ready | .[(length - 1) / 2 | floor]' <<<"$result")
  worst_t=$(jq '.ready | max' <<<"$result")
  [ "$n" -eq 1 ] && lone=$median_t
  # Errors: failed clients (the tool exits non-zero on any, above), and error lines in the agents' and server's logs.
  errors=$(( $(jq '.errors | length' <<<"$result") + $(error_lines "$work/agents.log" "$work/serve.log") ))
  total_errors=$((total_errors + errors))
  # Warnings, but for each agent's first-use pin of the server's key (each has a known_keys of its own).
  warnings=$(grep -E '(^| )warn: ' "$work/agents.log" | grep -c -v 'on first use' || true)
  # What they said, numbers masked so that one kind of warning counts once: the three most frequent kinds.
  [ "$warnings" -eq 0 ] || warning_kinds+=("$(grep -E '(^| )warn: ' "$work/agents.log" | grep -v 'on first use' |
    sed -E 's/.*warn: [^ ]+ //; s/[0-9]+(\.[0-9]+)?/N/g' | sort | uniq -c | sort -rn |
    awk -v n="$n" 'NR <= 3 {c = $1; $1 = ""; printf "- %d clients: %d x%s\n", n, c, $0}')")
  ms=$(echo "$median_t / $lone" | bc -l | xargs printf '%.2f'); ws=$(echo "$worst_t / $lone" | bc -l | xargs printf '%.2f')
  rows+=("| $n | $(printf '%.2f' "$median_t") s | $(printf '%.2f' "$worst_t") s | ${ms}x | ${ws}x | $(( $(jq .fetched <<<"$result") >> 20 )) MiB ($(( $(jq .on_demand <<<"$result") >> 20 )) on demand) | $(echo "$cpu1 - $cpu0" | bc -l | xargs printf '%.1f') s | $(printf '%.1f' "$(jq .wall <<<"$result")") s | $errors | $warnings |")
  finals+=("fleet: clients=$n median_slowdown=$ms worst_slowdown=$ws errors=$errors")
  echo "${finals[-1]}"
  if [ "$errors" -gt 0 ]; then
    { echo "bench: errors with $n clients:"; jq -r '.errors[]' <<<"$result" | head -n 20; grep -h -E '(^| )(fail|crit): ' -A 3 "$work/agents.log" "$work/serve.log" | head -n 40; } >&2
  fi
done

# Deployment delay by replay at each link: streaming vs local vs copying first.
delays=()
for link in $delay_rates; do
  start_server "$link"
  streamed=(); exported=(); copied=(); netbooted=()
  for _ in $(seq "$rounds"); do
    result=$(replay_stream 1 "$uri")
    [ "$(jq '.errors | length' <<<"$result")" -eq 0 ] || { echo "bench: the lone replay at $link/s failed:"; jq -r '.errors[]' <<<"$result"; exit 1; } >&2
    streamed+=("$(jq '.ready[0]' <<<"$result")")
    exported+=("$(jq '.exported[0]' <<<"$result")")
    rm -f "$work/copy.raw"
    sync
    t0=$(date +%s.%N); nbdcopy "$uri" "$work/copy.raw"; t1=$(date +%s.%N)
    copied+=("$(echo "$t1 - $t0 + $local_t" | bc -l)")
    rm -f "$work/overlay.raw"
    netbooted+=("$(dotnet "$fleet_dll" network --trace "$trace" --source "$uri" --overlay "$work/overlay.raw" | jq .ready)")
    echo "bench: $link/s: streaming ready at $(printf '%.2f' "${streamed[-1]}") s (export up at $(printf '%.2f' "${exported[-1]}") s), copy first $(printf '%.2f' "${copied[-1]}") s, network boot $(printf '%.2f' "${netbooted[-1]}") s"
  done
  stop_server
  rm -f "$work/copy.raw" "$work/overlay.raw"
  s=$(printf '%s\n' "${streamed[@]}" | median); c=$(printf '%s\n' "${copied[@]}" | median)
  n=$(printf '%s\n' "${netbooted[@]}" | median)
  e=$(printf '%s\n' "${exported[@]}" | median)
  ds=$(echo "$s - $local_t" | bc -l); dc=$(echo "$c - $local_t" | bc -l)
  ratio=$(echo "$dc / $ds" | bc -l 2>/dev/null | xargs printf '%.1f' 2>/dev/null || echo "n/a (no streaming delay)")
  delays+=("| $link/s | $(printf '%.2f' "$local_t") s | $(printf '%.2f' "$c") s ($(printf '%.2f' "$dc") s) | $(printf '%.2f' "$s") s ($(printf '%.2f' "$ds") s) | $(printf '%.2f' "$e") s | ${ratio}x | $(printf '%.2f' "$n") s ($(printf '%.2f' "$(echo "$n - $local_t" | bc -l)") s) |")
done

size=$(stat -c %s "$work/image.raw"); data=$(du -B1 "$work/image.raw" | cut -f1)
mkdir -p "$root/bench/results"
{
  echo "# Fleet: $image by boot-trace replay ($((size >> 20)) MiB disk, $((data >> 20)) MiB data)"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores (shared; load average $(cut -d" " -f1-3 /proc/loadavg)). Trace: one $accel boot, $requests requests, $read_mib MiB read, ready at $recorded_ready s (\`$(basename "$trace")\`)."
  echo "Agents in one process (\`bench/Bmcast.Fleet\`), each with its own engine, target, state file and connections, replaying against its own export; one \`bmcast serve --rate $rate\` (one shared emulated link)."
  echo "Time-to-ready counts from each agent's start (connection, manifest) to the end of its replayed boot; slowdowns are against the lone client (N = 1) of this run."
  echo "The agents prefetch the image's boot profile (the one recorded with the trace), as deployments do once an image's first deployment has taught its server."
  echo
  echo "| clients | median time-to-ready | worst | median slowdown | worst slowdown | fetched by ready | server CPU | wall | errors | warnings |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  if [ ${#warning_kinds[@]} -gt 0 ]; then
    echo
    echo "Warnings in the agents' logs, by kind (numbers shown as N):"
    echo
    printf '%s\n' "${warning_kinds[@]}"
  fi
  echo
  echo "Deployment delay by replay (time-to-ready minus the trace replayed on a local copy), medians of $rounds:"
  echo
  echo "| link | local copy (floor) | copy first (nbdcopy, then boot) | bmcast streaming | of it, until the agent's export is up | copy delay / streaming delay | network boot (the trace on the server's export, writes to a local overlay) |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${delays[@]}"
  echo
  echo "Goals (DESIGN §8): 32 clients each within 2x of a lone one; 100 with zero errors; delay ratio >= 10x at 125 MB/s for debian-db."
  echo
  printf '%s\n' "${finals[@]}" | sed 's/^/    /'
} > "$root/bench/results/fleet.md"
cat "$root/bench/results/fleet.md"
printf '%s\n' "${finals[@]}"
[ "$total_errors" -eq 0 ] || { echo "bench: $total_errors errors (above, and in bench/results/fleet.md)" >&2; exit 1; }
