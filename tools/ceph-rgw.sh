#!/usr/bin/env bash
# A single-node Ceph cluster with a RADOS Gateway (S3) on 127.0.0.1, everything under one directory:
# for tests, benchmarks and trying the object-store backend without a cluster at hand. Not for production
# (one OSD, pools of size 1, no authentication between the daemons).
#
#   tools/ceph-rgw.sh start DIR   install the packages when missing (root), create or reuse the cluster in DIR,
#                                 start it and print, last, the shell assignments for an S3 client:
#                                 export AWS_ENDPOINT_URL=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
#                                 (eval "$(tools/ceph-rgw.sh start DIR | tail -n 1)")
#   tools/ceph-rgw.sh stop DIR    stop the gateway, the OSD, the manager and the monitor, in that order
#
# What it works around (Ceph 16.2 from Debian 12, no cephadm, no systemd needed):
# - radosgw waits 300 s on "failed to fetch mon config" unless the monitor client speaks crc and the daemons do
#   not authenticate each other (auth ... required = none; S3 requests are still signed with the user's keys);
# - RGW's 8 pools at the default 32 placement groups each exceed the per-OSD limit: pools get 8, the limit is raised;
# - the monitor refuses to work on a fullish disk: its free-space guard is turned down to 1%;
# - RGW creates its pools lazily, one at a time: they are created up front;
# - ports are picked free at first start and kept in DIR, so a restart keeps the endpoint.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
conf="$dir/ceph.conf"
packages=(ceph-mon ceph-mgr ceph-osd radosgw ceph-common)
rgw_pools=(.rgw.root default.rgw.control default.rgw.meta default.rgw.log default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec)

say() { echo "ceph-rgw: $*" >&2; }
fail() { say "$*"; for log in "$dir"/log/*.log; do [ -f "$log" ] && { echo "--- $log" >&2; tail -n 15 "$log" >&2; }; done; exit 1; }

install_packages() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" -eq 0 ] || fail "missing ${missing[*]}: run as root, or apt-get install ${missing[*]}"
  say "installing ${missing[*]} (about a minute)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 20000))
    ss -Htln "sport = :$port" | grep -q . || { echo "$port"; return; }
  done
}

pid_of() { local f="$dir/run/$1.pid"; [ -f "$f" ] && cat "$f"; }
running() { local pid; pid=$(pid_of "$1") && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

# wait_for SECONDS WHAT COMMAND...: poll COMMAND until it succeeds.
wait_for() {
  local seconds=$1 what=$2; shift 2
  for _ in $(seq $((seconds * 4))); do "$@" >/dev/null 2>&1 && return; sleep 0.25; done
  fail "$what did not come up within $seconds s"
}

ceph_() { ceph --conf "$conf" --connect-timeout 20 "$@"; }

write_config() {
  local fsid mon_port rgw_port
  fsid=$(cat /proc/sys/kernel/random/uuid)
  mon_port=$(free_port)
  rgw_port=$(free_port)
  cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
mon allow pool delete = true
mon allow pool size one = true
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 1
mon warn on pool no redundancy = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
mon data = $dir/mon/\$id
mgr data = $dir/mgr/\$id
osd data = $dir/osd/\$id
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 21474836480
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
rgw enable usage log = false
CONF
  echo "$rgw_port" >"$dir/rgw-port"
}

create_cluster() {
  say "creating a cluster in $dir"
  mkdir -p "$dir"/{run,log,mon/a,mgr/a,osd/0,rgw}
  write_config
  local fsid mon_addr
  fsid=$(sed -n 's/^fsid = //p' "$conf")
  mon_addr=$(sed -n 's/^mon host = //p' "$conf")
  monmaptool --create --fsid "$fsid" --addv a "[$mon_addr]" "$dir/monmap" >/dev/null
  ceph-mon --conf "$conf" --mkfs -i a --monmap "$dir/monmap" >/dev/null 2>&1 || fail "ceph-mon --mkfs failed"
  start_mon
  local osd_uuid
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  ceph_ osd new "$osd_uuid" 0 >/dev/null 2>&1 || fail "ceph osd new failed"
  ceph-osd --conf "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>&1 || fail "ceph-osd --mkfs failed"
  touch "$dir/created"
}

start_mon() {
  running mon.a || ceph-mon --conf "$conf" -i a 2>>"$dir/log/start.log" || fail "ceph-mon did not start"
  wait_for 60 "the monitor" ceph_ mon stat
}

start_cluster() {
  start_mon
  running mgr.a || ceph-mgr --conf "$conf" -i a 2>>"$dir/log/start.log" || fail "ceph-mgr did not start"
  running osd.0 || ceph-osd --conf "$conf" -i 0 2>>"$dir/log/start.log" || fail "ceph-osd did not start"
  wait_for 120 "the OSD" osd_up
  local pool
  for pool in "${rgw_pools[@]}"; do
    ceph_ osd pool ls | grep -qx "$pool" && continue
    ceph_ osd pool create "$pool" 8 8 >/dev/null 2>&1 || fail "creating pool $pool failed"
    ceph_ osd pool application enable "$pool" rgw >/dev/null 2>&1 || fail "enabling rgw on pool $pool failed"
  done
  running client.rgw.a || radosgw --conf "$conf" -n client.rgw.a 2>>"$dir/log/start.log" || fail "radosgw did not start"
  wait_for 120 "the gateway" listening "$(cat "$dir/rgw-port")"
}

listening() { ss -Htln "sport = :$1" | grep -q .; }
osd_up() { ceph_ osd dump --format plain | grep -q '^osd\.0 up'; }

# One S3 user, its keys made here and kept in DIR so every start prints the same ones.
s3_user() {
  if [ ! -f "$dir/s3-keys" ]; then
    local access secret
    access=$(od -An -N10 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
    secret=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
    radosgw-admin --conf "$conf" user create --uid bmcast --display-name bmcast --access-key "$access" --secret-key "$secret" >/dev/null \
      || fail "radosgw-admin user create failed"
    printf '%s %s\n' "$access" "$secret" >"$dir/s3-keys"
  fi
  read -r access secret <"$dir/s3-keys"
  echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$(cat "$dir/rgw-port") AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret"
}

stop_daemon() {
  local name=$1 pid
  pid=$(pid_of "$name") || return 0
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || { rm -f "$dir/run/$name.pid"; return 0; }
  kill "$pid"
  for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || { rm -f "$dir/run/$name.pid"; return 0; }; sleep 0.25; done
  say "$name (pid $pid) did not stop within 30 s: killing it"
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/run/$name.pid"
}

case $action in
  start)
    install_packages
    command -v ss >/dev/null || fail "ss is missing (apt-get install iproute2)"
    [ -f "$dir/created" ] || create_cluster
    start_cluster
    say "S3 endpoint ready on 127.0.0.1:$(cat "$dir/rgw-port") (logs in $dir/log)"
    s3_user
    ;;
  stop)
    [ -f "$conf" ] || { say "no cluster in $dir"; exit 0; }
    for daemon in client.rgw.a osd.0 mgr.a mon.a; do stop_daemon "$daemon"; done   # gateway first, monitor last
    say "stopped"
    ;;
  *) usage ;;
esac
