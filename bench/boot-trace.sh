# Shared by the boot-trace replay benchmarks (bench/fleet.sh, bench/object-store-fleet.sh), sourced after lib.sh with
# $image and $rate set: builds $image into $work/image.raw and imports it into the bench's store, and sets $trace and
# $profile, the boot trace and boot profile of one deployment of it (bmcast deploy's TARGET.boot-trace), recorded by one
# boot over a $rate/s link the first time and kept in $XDG_CACHE_HOME/bmcast/traces (keyed by the root hash); the
# store's image gets that profile. Sets requests, read_mib and recorded_ready (seconds) for the reports, and defines
# replay_stream (the fleet of replaying agents, bench/Bmcast.Fleet) and error_lines.
fleet_dll="$root/.build/fleet/Bmcast.Fleet.dll"
# Built as bmcast is (ReadyToRun), so an agent here starts as a deployment's does.
"$root/tools/build-app.sh" "$root/bench/Bmcast.Fleet/Bmcast.Fleet.csproj" "$root/.build/fleet"

echo "bench: building $image"
"${bmcast[@]}" image build "$image" --output "$work/image.raw" --import >/dev/null
root_hash=$("${bmcast[@]}" image ls --json | jq -r --arg n "$image" '.[] | select(.name == $n) | .rootHash')
[ -n "$root_hash" ] || { echo "bench: $image is not in the store after its import"; exit 1; }
traces="${XDG_CACHE_HOME:-$HOME/.cache}/bmcast/traces"
trace="$traces/$image-${root_hash:0:16}.boot-trace"
profile="$traces/$image-${root_hash:0:16}.boot-profile"

if [ ! -f "$trace" ] || [ ! -f "$profile" ]; then
  echo "bench: no boot trace of $image ${root_hash:0:16} yet: recording one (one boot over a $rate/s link)"
  serve_image "$image" "$rate"
  # The background copy is capped so that it cannot complete, and the disk be pivoted away from the agent, before
  # ready: the trace would lack what the guest read after that.
  # The deploy is stopped once the trace is written (the rest of the copy, at that cap, is no part of the boot).
  "${bmcast[@]}" deploy --source "$uri" --target "$work/record.raw" --guest-mode poweroff --bandwidth 256K \
    --known-keys "$work/known_keys" --json >"$work/record.json" 2>"$work/record.log" &
  deployer=$!; pids+=($deployer)
  for _ in $(seq 1800); do
    grep -q -e "boot trace in" -e "no boot trace" "$work/record.log" && break
    kill -0 "$deployer" 2>/dev/null || break
    sleep 0.5
  done
  kill "$deployer" 2>/dev/null || true; wait "$deployer" 2>/dev/null || true
  if ! grep -q "boot trace in" "$work/record.log" || [ ! -s "$work/record.raw.boot-trace" ]; then
    { echo "bench: recording the boot trace failed:"; tail -n 30 "$work/record.log"; tail -n 5 "$work/record.json"; } >&2
    exit 1
  fi
  kill "$server"; wait "$server" 2>/dev/null || true
  mkdir -p "$traces"
  # The profile of the same boot is kept beside the trace: every run's agents prefetch the same one (below).
  cp "$work/record.raw.boot-profile" "$profile"
  cp "$work/record.raw.boot-trace" "$trace.new" && mv "$trace.new" "$trace"
  rm -f "$work/record.raw"*
fi
# As a deployment finds it by default once the image's first deployment has taught its server (docs/hosted.md,
# "Learned boot profiles"): the image's boot profile, the one recorded with the trace.
"${bmcast[@]}" image profile "$image" --from "$profile" >/dev/null
requests=$(($(wc -l <"$trace") - 2))
recorded_ready=$(tail -n 1 "$trace" | awk '{ printf "%.2f", $2 / 1e6 }')
read_mib=$(awk '$3 == "R" { s += $5 } END { printf "%d", s / 1048576 }' "$trace")
echo "bench: trace $trace: $requests requests, $read_mib MiB read, ready at $recorded_ready s"

# replay_stream N URI...: N agents replaying at once, each with every URI as a source; prints the tool's JSON (failed
# deployments are in its "errors"), keeps the agents' log in $work/agents.log. A tool that fails, or a run in which no client
# became ready, stops the benchmark with the errors.
replay_stream() {
  local out n=$1 sources=()
  shift
  for source in "$@"; do sources+=(--source "$source"); done
  rm -rf "$work/agents"
  # The step before (a copy, a replay) may leave hundreds of MiB to write back: an agent's first fsync (its state
  # file's creation) would wait for them, as it would not on a machine that is only deploying.
  sync
  if ! out=$(dotnet "$fleet_dll" stream --trace "$trace" "${sources[@]}" --clients "$n" --work "$work/agents" 2>"$work/agents.log") \
     || [ "$(jq '.ready | length' <<<"$out")" -eq 0 ]; then
    { echo "bench: the replay with $n clients failed:"; jq -r '.errors[]?' <<<"$out" | head -n 20; tail -n 20 "$work/agents.log"; } >&2
    exit 1
  fi
  rm -rf "$work/agents"
  echo "$out"
}
# error_lines FILE...: error-level lines in the agents' and server's logs.
error_lines() { cat "$@" | grep -c -E '(^| )(fail|crit): ' || true; }
