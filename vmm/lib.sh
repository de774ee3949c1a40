# Shared by test.sh and bench.sh: boot one QEMU in the background, watch its
# serial log, and never leave it behind. Source it; do not run it.

boot_pid=""
boot_log=""

# boot_start LOG [run-qemu.sh args...]: starts QEMU; its PID in $boot_pid.
boot_start() {
  boot_log="$1"; shift
  : > "$boot_log"
  "$here/run-qemu.sh" "$@" > "$boot_log" 2>&1 < /dev/null &
  boot_pid=$!
}

# boot_wait SECONDS MARKER: waits until QEMU exits or the deadline passes,
# recording in $boot_marker_s when MARKER first appeared (seconds since
# start, empty if never) and in $boot_exited whether QEMU ended by itself.
boot_wait() {
  local deadline=$1 marker=$2 start=$EPOCHREALTIME now
  boot_marker_s="" boot_exited=0
  while :; do
    now=$EPOCHREALTIME
    if [[ -z $boot_marker_s ]] && grep -aq -- "$marker" "$boot_log"; then
      boot_marker_s=$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.2f", b - a }')
    fi
    if ! kill -0 "$boot_pid" 2>/dev/null; then boot_exited=1; break; fi
    if awk -v a="$start" -v b="$now" -v d="$deadline" 'BEGIN { exit !(b - a > d) }'; then break; fi
    sleep 0.05
  done
  boot_stop
}

# Kills only the QEMU we started, by PID.
boot_stop() {
  if [[ -n $boot_pid ]]; then
    kill "$boot_pid" 2>/dev/null || true
    wait "$boot_pid" 2>/dev/null || true
    boot_pid=""
  fi
}

# Everything a boot needs, built before any timing starts.
boot_prepare() {
  "$here/build.sh" > /dev/null
  standin_disk="$("$here/guest/make-disk.sh")"
}
