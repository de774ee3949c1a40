# The JSON event lines of `bmcast stream --json` as benchmarks read them (sourced by bench/run.sh and bench/aoe.sh).

# wait_event FILE EVENT PID: wait (at most 5 minutes) until FILE holds EVENT or process PID has ended; fails if it never came.
wait_event() {
  for _ in $(seq 6000); do
    grep -q "\"event\":\"$2\"" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || break
    sleep 0.05
  done
  grep -q "\"event\":\"$2\"" "$1" 2>/dev/null
}

# event_time FILE EVENT: when EVENT happened, in seconds on the agent's clock.
event_time() { grep -o "\"event\":\"$2\",\"time\":[0-9.]*" "$1" | sed 's/.*://'; }

# stream_seconds FILE: from the "started" event to "complete": the stream itself, without the runtime's start-up and the
# source's handshake.
stream_seconds() { echo "$(event_time "$1" complete) - $(event_time "$1" started)" | bc -l; }
