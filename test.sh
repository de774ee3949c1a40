#!/usr/bin/env bash
# The whole test suite: installs what the tests need (Debian packages), builds, runs every test.
# Usage: ./test.sh [extra dotnet test arguments, e.g. --filter Nbd]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

packages=(iproute2 procps qemu-utils qemu-system-x86 libnbd-bin nbdkit nbd-server e2fsprogs ovmf syslinux syslinux-common mtools dosfstools fdisk cpio vblade aoetools ipxe nasm lld)
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
updated=""
# apt_install PACKAGE...: apt-get install those not installed yet (the package lists are updated once).
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "test.sh: installing ${missing[*]}"
  [ -n "$updated" ] || { $sudo apt-get update -qq && updated=1; }
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
apt_install "${packages[@]}"
# The dashboard's browser test drives Debian's Chromium; where it cannot be installed, that test alone skips.
apt_install chromium || echo "test.sh: could not install chromium: the dashboard's browser test will skip"

results="$root/.build/test-results"
rm -rf "$results"
status=0
dotnet test "$root/tests/Bmcast.Tests/Bmcast.Tests.csproj" -c Release --nologo \
  --logger "trx;LogFileName=bmcast.trx" --results-directory "$results" "$@" || status=$?

passed=0 failed=0 skipped=0
if [ -f "$results/bmcast.trx" ]; then
  counters=$(grep -o '<Counters [^>]*>' "$results/bmcast.trx")
  passed=$(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters")
  failed=$(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$counters")
  total=$(sed -E 's/.* total="([0-9]+)".*/\1/' <<<"$counters")
  executed=$(sed -E 's/.* executed="([0-9]+)".*/\1/' <<<"$counters")
  skipped=$((total - executed))
  if [ "$failed" -gt 0 ]; then
    awk '
      /<UnitTestResult / && /outcome="Failed"/ { match($0, /testName="[^"]*"/); print "FAILED: " substr($0, RSTART + 10, RLENGTH - 11); failing = 1 }
      failing && /<Message>/ { inmessage = 1; lines = 0 }
      inmessage { closing = /<\/Message>/; if (lines++ < 12) { sub(/^ *<Message>/, ""); sub(/<\/Message>.*/, ""); print "  " $0 } if (closing) inmessage = 0 }
      /<\/UnitTestResult>/ { failing = 0; inmessage = 0 }
    ' "$results/bmcast.trx" | sed 's/&quot;/"/g; s/&apos;/'"'"'/g; s/&lt;/</g; s/&gt;/>/g; s/&amp;/\&/g' > "$results/failed.txt"
  fi
fi

if [ -x "$root/vmm/test.sh" ] && [ $# -eq 0 ]; then
  if bash "$root/vmm/test.sh"; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
fi

# CI keeps only the end of the log: name each failed test and the start of its message last.
[ -s "$results/failed.txt" ] && cat "$results/failed.txt"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] || status=1
exit $status
