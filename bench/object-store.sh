#!/usr/bin/env bash
# nbdcopy from `bmcast serve` on an S3 bucket (a single-node Ceph RGW started here, tools/ceph-rgw.sh) with a cold and a
# warm read cache, against `bmcast serve` on a local directory store, same dense image, one command:
#   ./bench/object-store.sh [--reps N] [--mib N]
# Ceph shares the machine's cores with the server and nbdcopy: the rows show the cost of the object store path here,
# not what a cluster of its own would give. Writes bench/results/object-store.md and prints it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reps=5; mib=256
command -v nbdcopy >/dev/null || { echo "bench: nbdcopy missing (apt-get install libnbd-bin)"; exit 1; }
source "$root/bench/common.sh"
parse_reps_mib "$@"
ceph="$work/ceph"
stop_all() { "$root/tools/ceph-rgw.sh" stop "$ceph" >/dev/null 2>&1 || true; cleanup; }
trap stop_all EXIT

echo "bench: starting Ceph RGW in $ceph"
eval "$("$root/tools/ceph-rgw.sh" start "$ceph" | tail -1)"
export XDG_DATA_HOME="$work/data"
bucket="s3://bench-$$/images"

head -c $((mib << 20)) /dev/urandom > "$work/dense.raw"
"${bmcast[@]}" image import "$work/dense.raw" --name dense >/dev/null
"${bmcast[@]}" image import "$work/dense.raw" --name dense --store "$bucket" >/dev/null

# serve STORE SOCKET: a server in the background (in $pids), listening once this returns; $server is its pid.
serve() {
  rm -f "$2"
  "${bmcast[@]}" serve --store "$1" --nbd "unix:$2" --cache-size $((2 * mib))M 2>>"$work/serve.log" & server=$!; pids+=($server)
  wait_socket "$2"
}
copy() { nbdcopy "nbd+unix:///dense?socket=$1" null:; }

serve "$BMCAST_STORE" "$work/local.sock"
local_t=$(time_median copy "$work/local.sock")

# Cold: a new server per run, its cache empty: every chunk is a ranged GET.
cold=()
for _ in $(seq "$reps"); do
  serve "$bucket" "$work/cold.sock"
  t0=$(date +%s.%N)
  copy "$work/cold.sock" || { echo "bench: failed: nbdcopy from the bucket (cold)" >&2; exit 1; }
  t1=$(date +%s.%N)
  cold+=("$(echo "$t1 - $t0" | bc -l)")
  kill "$server"; wait "$server" 2>/dev/null || true
done
cold_t=$(printf '%s\n' "${cold[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

# Warm: one server whose cache holds the whole image after a first copy.
serve "$bucket" "$work/warm.sock"
copy "$work/warm.sock"
warm_t=$(time_median copy "$work/warm.sock")

ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
out="$root/bench/results/object-store.md"
{
  echo "# Serving from an object store ($(date -u +%Y-%m-%d), load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, Ceph on the same machine)"
  echo
  echo "| measurement | object store | local store | local/object throughput |"
  echo "|---|---|---|---|"
  echo "| nbdcopy from \`bmcast serve\` on Ceph RGW, cold cache, dense ($mib MiB), median of $reps | $(printf '%.3f' "$cold_t") s | $(printf '%.3f' "$local_t") s | $(ratio "$local_t" "$cold_t")x |"
  echo "| nbdcopy from \`bmcast serve\` on Ceph RGW, warm cache, dense ($mib MiB), median of $reps | $(printf '%.3f' "$warm_t") s | $(printf '%.3f' "$local_t") s | $(ratio "$local_t" "$warm_t")x |"
} > "$out"
cat "$out"
