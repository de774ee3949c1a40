#!/usr/bin/env bash
# debian-db: debian plus MariaDB and sysbench, with the sysbench tables
# prepared at build time so the guest only runs the benchmark. 4 GiB disk.
. "$(dirname "$0")/lib.sh"
make_scratch debian-db
rootfs="$scratch/rootfs"
debian_root "$rootfs" mariadb-server sysbench
install -D -m 644 "$images_dir/debian-db/sysbench.conf" "$rootfs/etc/bmcast/sysbench.conf"
install -D -m 644 "$images_dir/debian-db/bmcast-guest.conf" "$rootfs/etc/systemd/system/bmcast-guest.service.d/mariadb.conf"

step "preparing the sysbench tables"
in_chroot "$rootfs" sh -c '
  install -d -o mysql -g mysql /run/mysqld
  mariadbd --user=mysql --skip-networking >/var/log/bmcast-prepare.log 2>&1 &
  for i in $(seq 60); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 1; done
  mariadb -e "CREATE DATABASE IF NOT EXISTS sbtest"
  sysbench --config-file=/etc/bmcast/sysbench.conf oltp_read_write prepare >/dev/null
  mariadb-admin shutdown
  wait'
rm -rf "$rootfs/run/mysqld"
debian_disk "$1" 4096 "$rootfs"
