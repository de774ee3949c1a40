#!/usr/bin/env bash
# sysbench OLTP in the debian-db guest, one command: ./bench/sysbench.sh [--rate 4M] [--seconds 10] [--runs 5]
# The guest (mode sysbench-loop) runs `sysbench oltp_read_write` again and again, --seconds each,
# announcing each run; in one benchmark run:
#   during   bmcast deploy over an emulated link of --rate bytes/s: the runs that ended before the pivot
#   after    the same deployment: the runs that started after the pivot (no I/O through bmcast)
#   local    the same guest booted from a plain local copy of the image, no bmcast (half the runs
#            before the deployment, half after it)
# --runs counts the runs after the pivot and on the local disk; how many fit before the pivot
# depends on --rate.
# The first run of every boot warms MariaDB's buffer pool and is left out. Reports median TPS and the
# ratios during/after and after/local (goals: DESIGN §8). Writes bench/results/sysbench.md, .dat, .png.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rate=4M; seconds=10; runs=5
while [ $# -gt 0 ]; do
  case "$1" in
    --rate|--seconds|--runs) [ $# -ge 2 ] || exit 2; printf -v "${1#--}" '%s' "$2"; shift 2;;
    *) echo "usage: $0 [--rate 4M] [--seconds 10] [--runs 5]"; exit 2;;
  esac
done
. "$root/bench/lib.sh" sysbench qemu-system-x86_64 jq bc
# A run of 10 s takes longer than that under TCG (sysbench starts, MariaDB warms up): time enough for all.
limit=$(( (runs + 2) * (seconds + 60) + 300 ))

echo "bench: building debian-db"
"${bmcast[@]}" image build debian-db --output "$work/image.raw" --import >/dev/null

# tps_after_warmup: the TPS of every run but the first, from "BMCAST-SYSBENCH..." lines on stdin.
tps_after_warmup() { sed -n 's/.*BMCAST-SYSBENCH tps=\([0-9.]*\).*/\1/p' | tail -n +2; }

# local_runs N: boot the guest from a fresh local copy of the image, append the TPS of N runs after
# the warm-up to local.tps. Done before and after the deployment, so drift in a shared host's load
# weighs on both sides alike.
local_runs() {
  echo "bench: local disk ($accel)"
  cp --sparse=always "$work/image.raw" "$work/local.raw"
  rm -f "$work/local.console"
  qemu-system-x86_64 -machine q35 -accel "$accel" -cpu "$cpu" -m 1G -nodefaults -display none \
    -serial "file:$work/local.console" -monitor none -drive "file=$work/local.raw,format=raw,if=virtio" \
    -smbios type=11,value=bmcast.mode=sysbench-loop -smbios "type=11,value=bmcast.sysbench-seconds=$seconds" 2>/dev/null & qemu=$!; pids+=($qemu)
  local deadline=$((SECONDS + limit))
  until [ "$(cat "$work/local.console" 2>/dev/null | grep -c 'BMCAST-SYSBENCH tps=')" -gt "$1" ]; do
    kill -0 $qemu 2>/dev/null || { echo "bench: the local guest stopped early"; break; }
    [ $SECONDS -lt $deadline ] || { echo "bench: no $1 runs on the local disk in $limit s"; break; }
    sleep 2
  done
  kill $qemu 2>/dev/null || true; wait $qemu 2>/dev/null || true
  tps_after_warmup < "$work/local.console" | head -n "$1" >> "$work/local.tps"
  rm -f "$work/local.raw"
}
half=$(( (runs + 1) / 2 ))
local_runs "$half"

echo "bench: bmcast deploy over $rate/s ($accel)"
serve_image debian-db "$rate"
"${bmcast[@]}" deploy --source "$uri" --target "$work/target.raw" --guest-mode sysbench-loop \
  --guest-setting "sysbench-seconds=$seconds" --json > "$work/deploy.jsonl" 2>"$work/deploy.log" & deploy=$!; pids+=($deploy)
# Guest markers and the pivot in the order they happened: "pivot", "start N", "tps T".
phases() {
  jq -r 'if .event == "pivoted" then "pivot"
         elif .event == "guest" then (.marker | capture("BMCAST-SYSBENCH-START (?<n>[0-9]+)") | "start \(.n)") // (.marker | capture("BMCAST-SYSBENCH tps=(?<t>[0-9.]+)") | "tps \(.t)") // empty
         else empty end' "$work/deploy.jsonl" 2>/dev/null
}
# split_phases: "during T" for runs that ended before the pivot, "after T" for runs that started after it;
# a run across the pivot and each boot's first run are left out.
split_phases() {
  awk '$1 == "pivot" {pivoted = 1} $1 == "start" {n = $2; started_after = pivoted}
       $1 == "tps" && n > 1 { if (!pivoted) print "during", $2; else if (started_after) print "after", $2 }'
}
deadline=$((SECONDS + limit))
# Runs cut short by the stop print nothing, but count only what came before it.
until phases | split_phases > "$work/split"; [ "$(grep -c '^after' "$work/split")" -ge "$runs" ]; do
  kill -0 $deploy 2>/dev/null || { echo "bench: bmcast deploy exited early:"; tail -n 5 "$work/deploy.log"; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "bench: no $runs runs after the pivot in $limit s"; break; }
  sleep 2
done
kill -TERM $deploy; wait $deploy || true
kill $server; wait $server 2>/dev/null || true
local_runs "$half"
awk '$1 == "during" {print $2}' "$work/split" > "$work/during.tps"
awk '$1 == "after" {print $2}' "$work/split" > "$work/after.tps"
ready=$(jq -r 'select(.event == "ready") | .time' "$work/deploy.jsonl"); pivot=$(jq -r 'select(.event == "pivoted") | .time' "$work/deploy.jsonl")

med() { if [ -s "$1" ]; then median < "$1"; else echo 0; fi; }
list() { paste -sd ' ' "$1"; }
d=$(med "$work/during.tps"); a=$(med "$work/after.tps"); l=$(med "$work/local.tps")
ratio() { if [ "$(echo "$2 > 0" | bc)" = 1 ] && [ "$(echo "$1 > 0" | bc)" = 1 ]; then echo "$1 / $2" | bc -l | xargs printf '%.2f'; else echo n/a; fi; }
# interval A B: a 95% interval for median(A) / median(B), runs in files A and B, by bootstrap (2,000 resamples of
# each side's runs, fixed seed): single runs differ by a third here, so a ratio alone cannot say whether two phases
# differ; an interval that holds 1.00 says the runs cannot tell them apart.
interval() {
  if [ ! -s "$1" ] || [ ! -s "$2" ]; then echo "n/a"; return; fi
  awk 'FNR == 1 { side++ } side == 1 { a[++na] = $1 } side == 2 { b[++nb] = $1 }
    function resampled_median(x, n,   i, j, v, s) {
      for (i = 1; i <= n; i++) { v = x[int(rand() * n) + 1]; for (j = i - 1; j >= 1 && s[j] > v; j--) s[j + 1] = s[j]; s[j + 1] = v }
      return s[int((n + 1) / 2)]
    }
    END { srand(1); for (r = 0; r < 2000; r++) print resampled_median(a, na) / resampled_median(b, nb) }' "$1" "$2" |
    sort -g | sed -n '50p;1951p' | xargs printf '%.2f-%.2f'
}
mkdir -p "$root/bench/results"
printf 'phase TPS\nduring %s\nafter %s\nlocal %s\n' "$d" "$a" "$l" > "$root/bench/results/sysbench.dat"
bar_chart "$root/bench/results/sysbench.dat" "$root/bench/results/sysbench.png" \
  "sysbench oltp_read_write in debian-db ($accel, deploy over $rate/s)" "transactions/s (median)"
{
  echo "# sysbench OLTP in the debian-db guest: during deployment, after the pivot, local disk"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores (shared; load average $(cut -d' ' -f1-3 /proc/loadavg)), QEMU $accel, 1 vCPU, 1 GiB, virtio."
  echo "\`sysbench oltp_read_write\` (4 threads, 4 tables x 250,000 rows), runs of $seconds s; each boot's first run (cold buffer pool) left out."
  echo "Deployment over \`bmcast serve --rate $rate\`: ready at ${ready:-?} s, pivot at ${pivot:-?} s. Local disk: one boot before the deployment, one after."
  echo
  echo "| phase | median TPS | runs (TPS) |"
  echo "|---|---|---|"
  echo "| during streaming | $d | $(list "$work/during.tps") |"
  echo "| after the pivot | $a | $(list "$work/after.tps") |"
  echo "| plain local disk | $l | $(list "$work/local.tps") |"
  echo
  echo "during / after = $(ratio "$d" "$a") (95% interval $(interval "$work/during.tps" "$work/after.tps"); goal >= 0.9);"
  echo "after / local = $(ratio "$a" "$l") (95% interval $(interval "$work/after.tps" "$work/local.tps"); goal 1.00 within noise)."
  echo "Intervals: bootstrap of the runs (2,000 resamples); one that holds 1.00 means these runs cannot tell the phases apart."
  echo
  echo "![sysbench TPS](sysbench.png)"
} > "$root/bench/results/sysbench.md"
cat "$root/bench/results/sysbench.md"
