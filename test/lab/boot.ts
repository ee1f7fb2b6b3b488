// Power-on of one simulated Mac. The script runs as PID 1 of the Mac's fresh PID namespace, inside its own
// mount, UTS and IPC namespaces and its network namespace, then becomes tini (which starts launchd).
export const BOOT_SCRIPT = String.raw`#!/bin/bash
# usage: boot.sh CONSOLE_LOG NAME HOSTNAME BASE UPPER WORK ROOT -- INIT...
set -euo pipefail
exec >>"$1" 2>&1
name=$2 hostname=$3 base=$4 upper=$5 work=$6 root=$7
shift 8
mount -t overlay "maclab-$name" -o "lowerdir=$base:/,upperdir=$upper,workdir=$work" "$root"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t sysfs -o nosuid,nodev,noexec sysfs "$root/sys"
mount -t tmpfs -o mode=0755,size=1m,nosuid dev "$root/dev"
(
  cd "$root/dev"
  mknod -m 666 null c 1 3; mknod -m 666 zero c 1 5; mknod -m 666 full c 1 7
  mknod -m 666 random c 1 8; mknod -m 666 urandom c 1 9; mknod -m 666 tty c 5 0
  ln -s /proc/self/fd fd; ln -s fd/0 stdin; ln -s fd/1 stdout; ln -s fd/2 stderr
  mkdir pts shm
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts pts
  ln -s pts/ptmx ptmx
  mount -t tmpfs -o mode=1777,nosuid,nodev shm shm
)
mount -t tmpfs -o mode=0755,nosuid,nodev run "$root/run"
mkdir -m 0755 "$root/run/sshd" "$root/run/lock"
mount -t tmpfs -o mode=1777,nosuid,nodev tmp "$root/tmp"
hostname "$hostname"
cd "$root"
pivot_root . .
umount -l .
cd /
exec "$@"
`;
