#!/usr/bin/env bash
# Replayed-boot deployments from `bmcast serve` on an S3 bucket (a single-node Ceph RGW started here, tools/ceph-rgw.sh):
#   ./bench/object-store-fleet.sh [--image debian-db] [--agents 32] [--servers "1 2 4"]
# The image's boot trace (bench/boot-trace.sh, as bench/fleet.sh records and caches it) is replayed with its think
# times by agents of bench/Bmcast.Fleet (each its own engine, target, state file and connections), no emulated link:
# (a) one agent from serve on the bucket with a cold cache (a new server) and a warm one (the same server again), and
#     from serve on a local directory store;
# (b) 1, 2 and 4 serve processes on the one bucket (fresh, cold caches) feeding --agents concurrent agents, each given
#     every server as a source (fetches spread over all): aggregate throughput and the worst time-to-ready against
#     the one-server row.
# On 2 cores shared by Ceph, the servers and the agents, the (b) rows show correctness and overhead, not scaling.
# Writes bench/results/object-store-fleet.md; prints one `object-store-fleet: ...` line per row.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image=debian-db; agents=32; servers="1 2 4"; rate=125M
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image=$2; shift 2;;
    --agents) agents=$2; shift 2;;
    --servers) servers=$2; shift 2;;
    *) echo "usage: $0 [--image NAME] [--agents 32] [--servers \"1 2 4\"]"; exit 2;;
  esac
done
. "$root/bench/lib.sh" object-store-fleet nbdcopy qemu-system-x86_64 jq bc
ceph="$work/ceph"
stop_all() { "$root/tools/ceph-rgw.sh" stop "$ceph" >/dev/null 2>&1 || true; cleanup; }
trap stop_all EXIT
started=$(date +%s)

. "$root/bench/boot-trace.sh"

echo "bench: starting Ceph RGW in $ceph"
eval "$("$root/tools/ceph-rgw.sh" start "$ceph" | tail -1)"
export XDG_DATA_HOME="$work/data" # the bucket's signing key
bucket="s3://bench-$$/images"
t0=$(date +%s.%N)
"${bmcast[@]}" image import "$work/image.raw" --name "$image" --store "$bucket" >/dev/null
import_s=$(echo "$(date +%s.%N) - $t0" | bc -l | xargs printf '%.1f')
"${bmcast[@]}" image profile "$image" --from "$profile" --store "$bucket" >/dev/null
echo "bench: imported $image into $bucket in $import_s s"

# serve_store STORE SOCKET: bmcast serve on STORE, listening once this returns; sets server (its pid) and uri.
serve_store() {
  rm -f "$2"
  "${bmcast[@]}" serve --store "$1" --nbd "unix:$2" --no-learn-profiles --max-connections 4096 --max-connections-per-peer 4096 2>>"$work/serve.log" &
  server=$!; pids+=($server)
  for _ in $(seq 1200); do [ -S "$2" ] && break; sleep 0.05; done
  [ -S "$2" ] || { echo "bench: bmcast serve did not start:"; cat "$work/serve.log"; exit 1; } >&2
  uri="nbd+unix:///$image?socket=$2"
}
stop_servers() { for p in "$@"; do kill "$p"; wait "$p" 2>/dev/null || true; done; }
mib() { echo $(($1 >> 20)); }
# errors RESULT: failed clients plus error lines in the agents' and servers' logs.
errors() { echo $(( $(jq '.errors | length' <<<"$1") + $(error_lines "$work/agents.log" "$work/serve.log") )); }
finals=(); single=(); multi=(); total_errors=0

# (a) one replayed deployment: local store, bucket cold, bucket warm.
lone() { # LABEL RESULT
  local e; e=$(errors "$2"); total_errors=$((total_errors + e))
  single+=("| $1 | $(jq '.ready[0]' <<<"$2" | xargs printf '%.2f') s | $(mib "$(jq .fetched <<<"$2")") MiB ($(mib "$(jq .on_demand <<<"$2")") on demand) | $e |")
  finals+=("object-store-fleet: row=$1 ready=$(jq '.ready[0]' <<<"$2" | xargs printf '%.2f')s fetched=$(mib "$(jq .fetched <<<"$2")")MiB errors=$e")
  echo "${finals[-1]}"
}
: >"$work/serve.log"
serve_store "$BMCAST_STORE" "$work/local.sock"
result=$(replay_stream 1 "$uri")
lone local "$result"
stop_servers "$server"
: >"$work/serve.log"
serve_store "$bucket" "$work/bucket.sock"
result=$(replay_stream 1 "$uri")
lone bucket-cold "$result"
result=$(replay_stream 1 "$uri")
lone bucket-warm "$result"
stop_servers "$server"

# (b) N servers on the bucket, $agents agents each given all of them.
one_server_worst=""
for n in $servers; do
  : >"$work/serve.log"
  started_servers=(); uris=()
  for i in $(seq "$n"); do
    serve_store "$bucket" "$work/bucket-$i.sock"
    started_servers+=("$server"); uris+=("$uri")
  done
  result=$(replay_stream "$agents" "${uris[@]}")
  stop_servers "${started_servers[@]}"
  e=$(errors "$result"); total_errors=$((total_errors + e))
  worst=$(jq '.ready | max' <<<"$result"); median_t=$(jq '.ready | .[(length - 1) / 2 | floor]' <<<"$result")
  [ -n "$one_server_worst" ] || one_server_worst=$worst
  fetched=$(jq .fetched <<<"$result"); wall=$(jq .wall <<<"$result")
  throughput=$(echo "$fetched / 1048576 / $wall" | bc -l | xargs printf '%.1f')
  vs_one=$(echo "$worst / $one_server_worst" | bc -l | xargs printf '%.2f')
  multi+=("| $n | $agents | $(jq '.ready | length' <<<"$result") | $(printf '%.2f' "$median_t") s | $(printf '%.2f' "$worst") s | ${vs_one}x | $(mib "$fetched") MiB | $(printf '%.1f' "$wall") s | $throughput MiB/s | $e |")
  finals+=("object-store-fleet: row=servers-$n agents=$agents worst_ready=$(printf '%.2f' "$worst")s worst_vs_one_server=${vs_one}x throughput=${throughput}MiB/s errors=$e")
  echo "${finals[-1]}"
  if [ "$e" -gt 0 ]; then
    { echo "bench: errors with $n servers:"; jq -r '.errors[]' <<<"$result" | head -n 20; grep -h -E '(^| )(fail|crit): ' -A 3 "$work/agents.log" "$work/serve.log" | head -n 40; } >&2
  fi
done

size=$(stat -c %s "$work/image.raw"); data=$(du -B1 "$work/image.raw" | cut -f1)
mkdir -p "$root/bench/results"
{
  echo "# Replayed deployments from an object store: $image ($((size >> 20)) MiB disk, $((data >> 20)) MiB data)"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores shared by a single-node Ceph RGW, the servers and the agents (load average $(cut -d" " -f1-3 /proc/loadavg)); run took $(( $(date +%s) - started )) s."
  echo "Trace: $requests requests, $read_mib MiB read, ready at $recorded_ready s (\`$(basename "$trace")\`), replayed with its think times by agents of \`bench/Bmcast.Fleet\` (each its own engine, target, state file and connections), with the image's boot profile; no emulated link. Import into the bucket: $import_s s."
  echo
  echo "One deployment (time-to-ready from the agent's start to the end of its replayed boot):"
  echo
  echo "| serve on | time-to-ready | fetched by ready | errors |"
  echo "|---|---|---|---|"
  printf '%s\n' "${single[@]}"
  echo
  echo "Stateless servers on one bucket (fresh caches), $agents agents at once, each given every server as a source:"
  echo
  echo "| servers | agents | ready | median time-to-ready | worst | worst / worst with one server | fetched by ready | wall | aggregate throughput | errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${multi[@]}"
  echo
  echo "On $(nproc) cores shared with Ceph these multi-server rows show correctness (every agent ready, no error) and overhead, not scaling: more servers only share the same cores."
  echo
  printf '%s\n' "${finals[@]}" | sed 's/^/    /'
} > "$root/bench/results/object-store-fleet.md"
cat "$root/bench/results/object-store-fleet.md"
printf '%s\n' "${finals[@]}"
[ "$total_errors" -eq 0 ] || { echo "bench: $total_errors errors (above, and in bench/results/object-store-fleet.md)" >&2; exit 1; }
