#!/usr/bin/env bash
# The cost of TLS on the NBD data path: ./bench/tls.sh [--reps N] [--mib N]
# nbdcopy of a dense image from `bmcast serve` over a unix socket, plaintext vs TLS (client certificates
# required), with `nbdkit file` plaintext vs --tls=require (GnuTLS) beside it as a reference, all in one run.
# Writes bench/results/tls.md and prints it. Needs libnbd-bin nbdkit openssl bc.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reps=3; mib=256
for tool in nbdcopy nbdkit openssl bc; do
  command -v $tool >/dev/null || { echo "bench: $tool missing (apt-get install libnbd-bin nbdkit openssl bc)"; exit 1; }
done
source "$root/bench/common.sh"
parse_reps_mib "$@"

# A throwaway CA, a server certificate for localhost and a client certificate, in the layout GnuTLS peers read.
pki="$work/pki"; mkdir -p "$pki"
issue() { # NAME CN USAGE [SAN]
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/$1-key.pem" -out "$pki/$1.csr" -subj "/CN=$2" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s' "$3" "${4:-}" > "$pki/$1.ext"
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca-cert.pem" -CAkey "$pki/ca-key.pem" -CAcreateserial -days 1 \
    -extfile "$pki/$1.ext" -out "$pki/$1-cert.pem" 2>/dev/null
}
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca-key.pem" -out "$pki/ca-cert.pem" -days 1 -subj "/CN=bench CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
issue server localhost serverAuth "subjectAltName=DNS:localhost,IP:127.0.0.1"
issue client bench clientAuth

echo "bench: preparing a dense $mib MiB image in $work"
head -c $((mib << 20)) /dev/urandom > "$work/dense.raw"
"${bmcast[@]}" image import "$work/dense.raw" --name dense >/dev/null

"${bmcast[@]}" serve --nbd "unix:$work/plain.sock" 2>"$work/plain.log" & pids+=($!)
"${bmcast[@]}" serve --nbd "unix:$work/tls.sock" --tls-cert "$pki/server-cert.pem" --tls-key "$pki/server-key.pem" \
  --tls-client-ca "$pki/ca-cert.pem" 2>"$work/tls.log" & pids+=($!)
nbdkit --exit-with-parent -U "$work/nbdkit-plain.sock" file "$work/dense.raw" & pids+=($!)
nbdkit --exit-with-parent -U "$work/nbdkit-tls.sock" --tls=require --tls-certificates="$pki" --tls-verify-peer file "$work/dense.raw" & pids+=($!)
for s in plain tls nbdkit-plain nbdkit-tls; do wait_socket "$work/$s.sock"; done

ours_plain=$(time_median nbdcopy "nbd+unix:///dense?socket=$work/plain.sock" null:)
ours_tls=$(time_median nbdcopy "nbds+unix:///dense?socket=$work/tls.sock&tls-certificates=$pki" null:)
kit_plain=$(time_median nbdcopy "nbd+unix:///?socket=$work/nbdkit-plain.sock" null:)
kit_tls=$(time_median nbdcopy "nbds+unix:///?socket=$work/nbdkit-tls.sock&tls-certificates=$pki" null:)

row() { # LABEL PLAIN TLS
  printf '| %s | %.3f s (%.0f MiB/s) | %.3f s (%.0f MiB/s) | %s |\n' "$1" "$2" "$(echo "$mib / $2" | bc -l)" "$3" "$(echo "$mib / $3" | bc -l)" \
    "$(echo "($3 / $2 - 1) * 100" | bc -l | xargs printf '%+.0f%%')"
}
mkdir -p "$root/bench/results"
{
  echo "# TLS cost on the NBD data path"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1 /proc/loadavg) at the end, nbdcopy of a dense $mib MiB image"
  echo "to null: over a unix socket, medians of $reps runs. The client's and the server's TLS share the same cores."
  echo
  echo "| server | plaintext | TLS (client certificate) | time |"
  echo "|---|---|---|---|"
  row "\`bmcast serve\`" "$ours_plain" "$ours_tls"
  row "\`nbdkit file\` (GnuTLS), reference" "$kit_plain" "$kit_tls"
} > "$root/bench/results/tls.md"
cat "$root/bench/results/tls.md"
