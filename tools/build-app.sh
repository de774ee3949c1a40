#!/usr/bin/env bash
# tools/build-app.sh PROJECT OUT: builds a bmcast program (the CLI, the chaos tool, a benchmark's tool) into OUT.
# ReadyToRun: its assemblies are compiled ahead of time, so a deployment waits less for the JIT before it streams
# (`bmcast stream` reached its first event in 0.20 s instead of 0.27 s, medians, docs/engine.md). Where the
# ReadyToRun compiler cannot be had (no NuGet feed to restore it from, a CPU without a runtime identifier here), a
# plain build, JIT-compiled as it runs, saying so. Prints the build's log and fails when the build fails.
set -euo pipefail
project=$1 out=$2
case "$(uname -m)" in x86_64) rid=linux-x64 ;; aarch64) rid=linux-arm64 ;; *) rid="" ;; esac
if [ -n "$rid" ] && log=$(dotnet publish "$project" -c Release -r "$rid" --self-contained false -p:PublishReadyToRun=true \
    -o "$out" --nologo -v quiet 2>&1); then
  exit 0
fi
[ -z "$rid" ] || echo "$(basename "$project" .csproj): no ReadyToRun build (${log##*$'\n'}); building without it" >&2
if ! log=$(dotnet build "$project" -c Release -o "$out" --nologo -v quiet 2>&1); then
  echo "$log" >&2
  exit 1
fi
