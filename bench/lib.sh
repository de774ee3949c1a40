# Shared by the OS benchmarks, sourced once `root` is set: . "$root/bench/lib.sh" NAME TOOL...
# Checks the tools, makes the scratch directory `work` (removed at exit, with every process whose
# pid is in `pids` stopped) and a private image store and configuration in it.
bench_name=$1; shift
# Command substitutions ($(...)) keep `set -e`: a failed step inside one stops the run.
shopt -s inherit_errexit
for tool in "$@"; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (apt-get install libnbd-bin qemu-system-x86 jq bc)"; exit 1; }
done
work=$(mktemp -d "/tmp/bmcast-$bench_name-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export BMCAST_STORE="$work/store" XDG_CONFIG_HOME="$work/config"

# The CLI, built once outside the timings.
"$root/bmcast" --help >/dev/null
bmcast=(dotnet "$root/.build/cli/bmcast.dll")

# KVM when QEMU really starts with it (see docs/hosted.md), TCG otherwise: sets accel and cpu. Without a
# usable /dev/kvm it is TCG at once: on a loaded machine QEMU may take longer than the probe's second to fail.
accel=$([ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo tcg; exit 0; }; qemu-system-x86_64 -accel kvm -cpu host -machine q35 -nodefaults -display none -monitor none -serial none -S >/dev/null 2>&1 & p=$!; sleep 1; if kill -0 $p 2>/dev/null; then kill $p; echo kvm; else echo tcg; fi)
cpu=$([ "$accel" = kvm ] && echo host || echo max)

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# serve_image IMAGE RATE: bmcast serve on a unix socket at RATE (bytes/s); sets server (its pid) and uri. It learns
# no boot profile (--no-learn-profiles): each benchmark says itself which deployments have one, so the first
# deployment of a run does not give one to those after it.
serve_image() {
  rm -f "$work/serve.sock"
  "${bmcast[@]}" serve --nbd "unix:$work/serve.sock" --rate "$2" --no-learn-profiles 2>"$work/serve.log" & server=$!; pids+=($server)
  for _ in $(seq 200); do [ -S "$work/serve.sock" ] && break; sleep 0.05; done
  uri="nbd+unix:///$1?socket=$work/serve.sock"
}

# bar_chart DATA PNG TITLE YLABEL: clustered bars from a whitespace table whose first row names the
# columns (the first column labels the groups). gnuplot-nox is installed when missing (root).
bar_chart() {
  if ! command -v gnuplot >/dev/null; then
    [ "$(id -u)" -eq 0 ] || { echo "bench: gnuplot missing (apt-get install gnuplot-nox), no chart"; return; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
  fi
  local columns
  columns=$(head -n 1 "$1" | wc -w)
  gnuplot <<GNUPLOT
set terminal pngcairo size 900,500 font ",11" noenhanced
set output "$2"
set title "$3"
set ylabel "$4"
set yrange [0:*]
set grid ytics
set key top left
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
plot for [i=2:$columns] "$1" using i:xtic(1) title columnheader(i)
GNUPLOT
}
