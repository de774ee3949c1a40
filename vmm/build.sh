#!/usr/bin/env bash
# Builds .cache/bmcast-vmm.efi: C# -> IL (dotnet build against our own core
# library) -> native COFF (ilc from NuGet) + NASM stubs -> PE32+ UEFI app (lld-link).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="$here/.cache"
out="$cache/out"
mkdir -p "$out"
# One build at a time: test classes (and run-qemu.sh) may start it together.
exec 9>"$cache/.build.lock"
flock 9

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need nasm || missing+=(nasm)
need lld-link || missing+=(lld)
if ((${#missing[@]})); then
  echo "build.sh: installing ${missing[*]}" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >&2
fi

# Restore pulls the ILCompiler pack the SDK chose (PublishAot); build makes the IL.
if ! log=$(dotnet build "$here/src/Bmcast.Vmm.csproj" -c Release -v q -nologo 2>&1); then
  echo "$log" >&2
  exit 1
fi
il="$cache/bin/Release/net10.0/linux-x64/Bmcast.Vmm.dll"
ilc="$(ls -d "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/runtime.linux-x64.microsoft.dotnet.ilcompiler/*/tools/ilc | sort -V | tail -1)"

# --targetos:windows gives the Microsoft x64 ABI and COFF that UEFI wants;
# --nativelib: no managed Main, the entry point is the [RuntimeExport] EfiMain.
"$ilc" "$il" -o "$out/managed.obj" --systemmodule:Bmcast.Vmm --targetos:windows --targetarch:x64 -O --nativelib >&2
nasm -f win64 "$here/asm/cpu.asm" -o "$out/cpu.obj"
nasm -f win64 "$here/asm/sha256ni.asm" -o "$out/sha256ni.obj"
lld-link /nologo /subsystem:efi_application /entry:EfiMain /nodefaultlib \
  /out:"$cache/bmcast-vmm.efi" "$out/managed.obj" "$out/cpu.obj" "$out/sha256ni.obj" >&2
echo "$cache/bmcast-vmm.efi"
