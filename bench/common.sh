# Shared by bench/run.sh and bench/tls.sh (sourced, with $root and $reps set): builds bmcast outside the timings,
# makes a scratch directory and store removed on exit with every background process in $pids, and the helpers.
# Command substitutions ($(...)) keep `set -e`: a failed step inside one stops the run.
shopt -s inherit_errexit
"$root/bmcast" --help >/dev/null

work=$(mktemp -d /tmp/bmcast-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export BMCAST_STORE="$work/store"
export XDG_CONFIG_HOME="$work/config"
# An array, not a function: a background "${bmcast[@]}" ... & leaves $! = the dotnet process itself.
bmcast=(dotnet "$root/.build/cli/bmcast.dll")

# --reps N and --mib N, the options of the scripts that copy one dense image (defaults: $reps and $mib as set before).
parse_reps_mib() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --reps) reps=$2; shift 2 ;;
      --mib) mib=$2; shift 2 ;;
      *) echo "usage: $0 [--reps N] [--mib N]"; exit 2 ;;
    esac
  done
}
wait_socket() { for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done; echo "bench: no socket $1"; exit 1; }
# median of $reps timings (seconds) of a command; a failing run stops the benchmark (never a fast empty timing).
time_median() {
  local times=() t0 t1
  for _ in $(seq $reps); do
    t0=$(date +%s.%N)
    "$@" >/dev/null || { echo "bench: failed (status $?): $*" >&2; exit 1; }
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
