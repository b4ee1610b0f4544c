#!/usr/bin/env bash
# Runs a real MySQL server (not MariaDB) on a Debian host without Docker.
#
# Debian stable ships only MariaDB; Debian unstable ships MySQL's
# `mysql-server-core`. We debootstrap a minimal sid root that holds it (cached
# outside the checkout, ~40 s the first time) and run mysqld inside it with
# chroot. Needs root (debootstrap and chroot do). Commands and settings: usage() below, or
# `scripts/mysql-local.sh --help`.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/mysql-local.sh COMMAND

Runs a real MySQL server (not MariaDB) on a Debian host without Docker: Debian unstable's
mysql-server-core in a minimal root built with debootstrap (~40 s the first time, then cached),
run with chroot.

Commands:
  start [--fresh]   start the server and print the MYSQL_URL to use (--fresh: wipe its data first)
  stop              stop it
  status            "running (pid …): URL", or "not running" (exit 3)
  url               print the MYSQL_URL to use
  root              build the cached root if needed, and print its path
  help              this text (also -h, --help)

start, stop and root need root: run them as root, or with sudo as another user. sudo does not
pass settings from your environment on; give them after it:
  sudo MYSQL_LOCAL_PORT=3308 scripts/mysql-local.sh start

Settings (environment variables):
  MYSQL_LOCAL_PORT       TCP port on 127.0.0.1 (default 3307)
  MYSQL_LOCAL_HOME       cache folder for the root and the data
                         (default $XDG_CACHE_HOME/agent-mysql, else ~/.cache/agent-mysql;
                         under sudo, ~ is root's home)
  MYSQL_LOCAL_DATABASE   database created at every start (default agent; [A-Za-z0-9_]+)

The server listens on 127.0.0.1 only; its root user has no password.
USAGE
}
# Help before anything else, so that it works whatever the settings.
case "${1:-}" in help | -h | --help) usage; exit 0 ;; esac

home_dir=${MYSQL_LOCAL_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-mysql}
port=${MYSQL_LOCAL_PORT:-3307}
database=${MYSQL_LOCAL_DATABASE:-agent}
root_fs="$home_dir/rootfs"
datadir="/var/lib/mysql-$port"          # inside the chroot
pidfile="/run/mysqld/mysqld-$port.pid"  # inside the chroot
logfile="/var/log/mysqld-$port.log"     # inside the chroot

die() { echo "mysql-local: $*" >&2; exit 1; }
# As root, or the one clear error: sudo is the way for a user, and is not needed (nor may exist) for root.
need_root() {
  [ "$(id -u)" = 0 ] && return 0
  die "$1 needs root ($2); you are $(id -un). Run it as root, or with sudo: sudo scripts/mysql-local.sh ${3:-$1}"
}
url() { echo "mysql://root@127.0.0.1:$port/$database"; }

case "$database" in
  *[!A-Za-z0-9_]* | "") die "MYSQL_LOCAL_DATABASE must match [A-Za-z0-9_]+" ;;
esac

running_pid() {
  local pid
  [ -f "$root_fs$pidfile" ] || return 1
  pid=$(cat "$root_fs$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # A mysqld killed with SIGKILL stays a zombie where PID 1 does not reap orphans: not running.
  [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] && echo "$pid"
}

bootstrap() {
  [ -x "$root_fs/usr/sbin/mysqld" ] && return 0
  need_root "building the root" "debootstrap, chroot" "${command:-start}"
  if ! command -v debootstrap >/dev/null; then
    echo "mysql-local: installing debootstrap" >&2
    apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
  fi
  echo "mysql-local: bootstrapping Debian sid with mysql-server-core into $root_fs" >&2
  rm -rf "$root_fs.partial"
  mkdir -p "$home_dir"
  # Built under another name and renamed, so an interrupted run is never
  # mistaken for a finished root.
  debootstrap --variant=minbase --include=mysql-server-core sid "$root_fs.partial" \
    >"$home_dir/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $home_dir/debootstrap.log"
  mv "$root_fs.partial" "$root_fs"
}

# A killed mysqld leaves its socket's lock file, naming its pid. mysqld refuses to start while that
# pid exists, and a killed one may linger a while as a zombie (or the pid be reused): the lock is
# stale unless the pid is a live mysqld.
clear_stale_socket_lock() {
  local lock="$root_fs/run/mysqld/mysqld-$port.sock.lock" lpid
  [ -f "$lock" ] || return 0
  lpid=$(tr -dc 0-9 <"$lock")
  if [ -n "$lpid" ] && [ "$(cut -d' ' -f3 "/proc/$lpid/stat" 2>/dev/null)" != Z ] && [ "$(cat "/proc/$lpid/comm" 2>/dev/null)" = mysqld ]; then
    return 0
  fi
  rm -f "$lock"
}

start() {
  local fresh=${1:-}
  need_root start "chroot" "start${fresh:+ $fresh}"
  if pid=$(running_pid); then
    [ "$fresh" = --fresh ] || { echo "mysql-local: already running (pid $pid)" >&2; url; return 0; }
    stop
  fi
  bootstrap
  mkdir -p "$root_fs/run/mysqld" "$root_fs/var/log"
  [ "$fresh" = --fresh ] && rm -rf "${root_fs:?}$datadir"
  if [ ! -d "$root_fs$datadir/mysql" ]; then
    rm -rf "${root_fs:?}$datadir"
    chroot "$root_fs" mysqld --no-defaults --initialize-insecure --user=root \
      --datadir="$datadir" --log-error="$logfile.init" \
      || die "mysqld --initialize failed; see $root_fs$logfile.init"
  fi
  # --init-file runs at every start: it makes sure the database exists
  # without needing a client in the chroot.
  echo "CREATE DATABASE IF NOT EXISTS \`$database\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;" \
    >"$root_fs/run/mysqld/init-$port.sql"
  : >"$root_fs$logfile"
  clear_stale_socket_lock
  setsid chroot "$root_fs" mysqld --no-defaults --user=root --datadir="$datadir" \
    --port="$port" --bind-address=127.0.0.1 --mysqlx=OFF --secure-file-priv="" \
    --socket="/run/mysqld/mysqld-$port.sock" --pid-file="$pidfile" \
    --log-error="$logfile" --init-file="/run/mysqld/init-$port.sql" \
    </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 120); do
    if grep -q "ready for connections.*port: $port" "$root_fs$logfile" 2>/dev/null; then
      echo "mysql-local: MySQL $(chroot "$root_fs" mysqld --version | grep -o 'Ver [^ ]*') on 127.0.0.1:$port" >&2
      url
      return 0
    fi
    sleep 0.5
  done
  tail -n 20 "$root_fs$logfile" >&2 || true
  die "mysqld did not become ready within 60 s"
}

stop() {
  local pid
  # First: as another user, the pid file looked for would be under that user's home, not root's.
  need_root stop "the server runs as root"
  pid=$(running_pid) || { echo "mysql-local: not running" >&2; return 0; }
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  die "mysqld (pid $pid) did not stop within 30 s"
}

command=${1:-}
case "$command" in
  start) start "${2:-}" ;;
  stop) stop ;;
  status) if pid=$(running_pid); then echo "running (pid $pid): $(url)"; else echo "not running"; exit 3; fi ;;
  url) url ;;
  root) bootstrap; echo "$root_fs" ;;
  "") usage >&2; exit 2 ;;
  *) echo "mysql-local: unknown command: $command" >&2; usage >&2; exit 2 ;;
esac
