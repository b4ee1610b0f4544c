#!/usr/bin/env bash
# A three-member InnoDB Cluster on 127.0.0.1 without Docker: single-primary Group Replication
# and MySQL Router in front, for trying (and testing) what happens when the primary dies.
#
# It runs in the Debian sid root of scripts/mysql-local.sh (same cache; mysql-server-core ships
# group_replication.so) with sid's mysql-router and mysql-client-core added to it. Needs root.
#
#   scripts/mysql-cluster.sh start [--fresh]  start or repair everything (--fresh: wipe the data first);
#                                             prints last the URL of Router's read-write port
#   scripts/mysql-cluster.sh primary          print the current primary's port
#   scripts/mysql-cluster.sh kill-primary     SIGKILL the primary's mysqld; prints its port
#   scripts/mysql-cluster.sh rejoin           start killed members, wait until they are back ONLINE
#                                             (caught up) and make the first member primary again
#   scripts/mysql-cluster.sh status
#   scripts/mysql-cluster.sh stop [--wipe]    stop Router and the members (--wipe: delete their data)
#   scripts/mysql-cluster.sh url              print the read-write URL
#
# Ports (MYSQL_CLUSTER_BASE_PORT, default 3410): base = Router read-write, base+4 = Router
# read-only, base+1..3 = the members, base+11..13 = Group Replication's group communication.
#
# Router is configured statically, not bootstrapped: `mysqlrouter --bootstrap` reads the InnoDB
# Cluster metadata schema, which only MySQL Shell's AdminAPI creates, and Debian packages no MySQL
# Shell. A static first-available route only follows the primary if the group elects in the
# route's order, so the members get descending group_replication_member_weight in that order,
# and `rejoin`/`start` hand the primary role back to the first member once it is ONLINE again.
# Every member starts super_read_only (nothing writes to a member outside the group) and in
# offline_mode (the app's non-admin users cannot read from it while it catches up); both are
# lifted by Group Replication and this script once the member is ONLINE.
set -euo pipefail

base=${MYSQL_CLUSTER_BASE_PORT:-3410}
database=${MYSQL_CLUSTER_DATABASE:-agent}
members=(1 2 3)
cluster_dir="/var/lib/mysql-cluster-$base"   # inside the chroot: everything of this cluster
router_port=$base
router_ro_port=$((base + 4))

die() { echo "mysql-cluster: $*" >&2; exit 1; }
say() { echo "mysql-cluster: $*" >&2; }
url() { echo "mysql://root@127.0.0.1:$router_port/$database"; }
port_of() { echo $((base + $1)); }
dir_of() { echo "$cluster_dir/m$1"; }

case "$base" in *[!0-9]* | "") die "MYSQL_CLUSTER_BASE_PORT must be a number" ;; esac
case "$database" in *[!A-Za-z0-9_]* | "") die "MYSQL_CLUSTER_DATABASE must match [A-Za-z0-9_]+" ;; esac

root_fs=$(bash "$(dirname "$0")/mysql-local.sh" root)

# The pid in a pid file (inside the chroot) if that process runs and is no zombie.
live_pid() {
  local pid
  pid=$(cat "$root_fs$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] && echo "$pid"
}
member_pid() { live_pid "$(dir_of "$1")/mysqld.pid"; }
router_pid() { live_pid "$cluster_dir/router/mysqlrouter.pid"; }

# SQL as root over the member's socket; tab-separated rows, no header.
sql() {
  local member=$1
  shift
  chroot "$root_fs" mysql --no-defaults -uroot -S "$(dir_of "$member")/mysqld.sock" -N -B -e "$*"
}

install_tools() {
  [ -x "$root_fs/usr/bin/mysqlrouter" ] && [ -x "$root_fs/usr/bin/mysql" ] && return 0
  say "installing mysql-router and mysql-client-core into $root_fs"
  local apt=(chroot "$root_fs" env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Check-Valid-Until=false -qq)
  # The root's package lists may be old; only refresh them when the install needs it.
  "${apt[@]}" install -y mysql-router mysql-client-core >/dev/null 2>&1 \
    || { "${apt[@]}" update && "${apt[@]}" install -y mysql-router mysql-client-core >/dev/null; } \
    || die "could not install mysql-router into $root_fs"
}

start_member() {
  local m=$1 dir port
  dir=$(dir_of "$m")
  port=$(port_of "$m")
  member_pid "$m" >/dev/null && return 0
  if [ ! -d "$root_fs$dir/data/mysql" ]; then
    rm -rf "${root_fs:?}$dir"
    mkdir -p "$root_fs$dir"
    chroot "$root_fs" mysqld --no-defaults --initialize-insecure --user=root \
      --datadir="$dir/data" --log-error="$dir/init.log" \
      || die "mysqld --initialize failed; see $root_fs$dir/init.log"
  fi
  : >"$root_fs$dir/mysqld.log"
  local seeds="127.0.0.1:$((base + 11)),127.0.0.1:$((base + 12)),127.0.0.1:$((base + 13))"
  setsid chroot "$root_fs" mysqld --no-defaults --user=root --datadir="$dir/data" \
    --port="$port" --bind-address=127.0.0.1 --mysqlx=OFF --secure-file-priv="" \
    --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" --log-error="$dir/mysqld.log" \
    --server-id="$port" --report-host=127.0.0.1 --report-port="$port" \
    --gtid-mode=ON --enforce-gtid-consistency=ON \
    --disabled-storage-engines=MyISAM,BLACKHOLE,FEDERATED,ARCHIVE,MEMORY \
    --innodb-buffer-pool-size=64M --innodb-redo-log-capacity=64M --performance-schema=OFF \
    --super-read-only=ON --offline-mode=ON \
    --plugin-load-add=group_replication.so \
    --group-replication-group-name="6a6f7b1e-c1a5-4e2b-9d00-$(printf %012d "$base")" \
    --group-replication-local-address="127.0.0.1:$((base + 10 + m))" \
    --group-replication-group-seeds="$seeds" --group-replication-ip-allowlist=127.0.0.1 \
    --group-replication-start-on-boot=OFF \
    --group-replication-member-weight=$((100 - 30 * m)) \
    --group-replication-consistency=BEFORE_ON_PRIMARY_FAILOVER \
    --group-replication-member-expel-timeout=0 --group-replication-message-cache-size=128M \
    </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 120); do
    grep -q "ready for connections.*port: $port" "$root_fs$dir/mysqld.log" 2>/dev/null && return 0
    sleep 0.5
  done
  tail -n 20 "$root_fs$dir/mysqld.log" >&2 || true
  die "member $m (port $port) did not become ready within 60 s"
}

# This member's state in its own view of the group: ONLINE, RECOVERING, OFFLINE, ERROR, ...
member_state() {
  member_pid "$1" >/dev/null || { echo DOWN; return; }
  sql "$1" "SELECT MEMBER_STATE FROM performance_schema.replication_group_members WHERE MEMBER_ID = @@server_uuid" 2>/dev/null || echo UNKNOWN
}

online_member() {
  local m
  for m in "${members[@]}"; do [ "$(member_state "$m")" = ONLINE ] && { echo "$m"; return 0; }; done
  return 1
}

# The primary's port, as an ONLINE member sees the group.
primary_port() {
  local m
  m=$(online_member) || return 1
  sql "$m" "SELECT MEMBER_PORT FROM performance_schema.replication_group_members WHERE MEMBER_ROLE = 'PRIMARY' AND MEMBER_STATE = 'ONLINE'"
}

join_group() {
  local m=$1
  # A member the group expelled stays in ERROR until Group Replication is restarted on it.
  [ "$(member_state "$m")" = ERROR ] && sql "$m" "STOP GROUP_REPLICATION"
  # Distributed recovery copies what it missed from a donor, as root (no password, 127.0.0.1 only).
  sql "$m" "START GROUP_REPLICATION USER='root', PASSWORD=''"
}

# With no group running, the member with every transaction of the others starts it (any other
# would leave them unable to join).
bootstrap_group() {
  local m best=
  for m in "${members[@]}"; do
    local gtids
    gtids=$(sql "$m" "SELECT @@gtid_executed" | sed 's/\\n//g')
    if [ -z "$best" ] || [ "$(sql "$best" "SELECT GTID_SUBSET('$gtids', @@gtid_executed)")" = 0 ]; then best=$m; fi
  done
  say "bootstrapping the group on member $best (port $(port_of "$best"))"
  sql "$best" "SET GLOBAL group_replication_bootstrap_group = ON; START GROUP_REPLICATION; SET GLOBAL group_replication_bootstrap_group = OFF"
}

wait_online() {
  local m
  for _ in $(seq 1 240); do
    local all=1
    for m in "${members[@]}"; do [ "$(member_state "$m")" = ONLINE ] || all=; done
    [ -n "$all" ] && return 0
    sleep 0.5
  done
  for m in "${members[@]}"; do say "member $m: $(member_state "$m")"; done
  die "the members did not all become ONLINE within 120 s"
}

# Router's first-available route picks the first member that accepts connections: that one must be primary.
restore_primary() {
  local first_port current uuid
  first_port=$(port_of "${members[0]}")
  current=$(primary_port)
  [ "$current" = "$first_port" ] && return 0
  say "handing the primary role back from port $current to $first_port"
  uuid=$(sql "${members[0]}" "SELECT @@server_uuid")
  sql "${members[0]}" "SELECT group_replication_set_as_primary('$uuid', 10)" >/dev/null
  # Connections the app keeps to the old primary would now fail as read-only: offline_mode
  # disconnects non-admin sessions, so they come back through Router to the new primary.
  sql "$((current - base))" "SET GLOBAL offline_mode = ON; SET GLOBAL offline_mode = OFF"
}

start_router() {
  router_pid >/dev/null && return 0
  local dir="$cluster_dir/router" destinations="" m
  for m in "${members[@]}"; do destinations+="${destinations:+,}127.0.0.1:$(port_of "$m")"; done
  mkdir -p "$root_fs$dir"
  # One route section; PASSTHROUGH: TLS, when a client asks for it, is between it and the member.
  route() {
    printf '\n[routing:%s]\nbind_address=127.0.0.1\nbind_port=%s\ndestinations=%s\nrouting_strategy=%s\n' "$1" "$2" "$destinations" "$3"
    printf 'protocol=classic\nclient_ssl_mode=PASSTHROUGH\n'
  }
  {
    printf '[DEFAULT]\nlogging_folder=%s\nruntime_folder=%s\ndata_folder=%s\npid_file=%s/mysqlrouter.pid\n' "$dir" "$dir" "$dir" "$dir"
    printf '\n[logger]\nlevel=INFO\n'
    route rw "$router_port" first-available
    route ro "$router_ro_port" round-robin
  } >"$root_fs$dir/mysqlrouter.conf"
  rm -f "$root_fs$dir/mysqlrouter.pid"
  setsid chroot "$root_fs" mysqlrouter --user=root -c "$dir/mysqlrouter.conf" </dev/null >"$root_fs$dir/stdout.log" 2>&1 &
  for _ in $(seq 1 60); do
    (exec 3<>"/dev/tcp/127.0.0.1/$router_port") 2>/dev/null && return 0
    sleep 0.5
  done
  tail -n 20 "$root_fs$dir/mysqlrouter.log" "$root_fs$dir/stdout.log" >&2 || true
  die "MySQL Router did not listen on port $router_port within 30 s"
}

# Brings every piece up and into shape; what already is, is left alone.
converge() {
  [ "$(id -u)" = 0 ] || die "needs root (chroot)"
  install_tools
  local m
  for m in "${members[@]}"; do start_member "$m"; done
  online_member >/dev/null || bootstrap_group
  for m in "${members[@]}"; do
    case "$(member_state "$m")" in ONLINE | RECOVERING) ;; *) join_group "$m" ;; esac
  done
  wait_online
  for m in "${members[@]}"; do sql "$m" "SET GLOBAL offline_mode = OFF"; done
  restore_primary
  sql "$(( $(primary_port) - base ))" \
    "CREATE DATABASE IF NOT EXISTS \`$database\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
  start_router
}

kill_primary() {
  local port m pid
  port=$(primary_port) || die "no ONLINE member: no primary to kill"
  m=$((port - base))
  pid=$(member_pid "$m") || die "the primary (port $port) is not running"
  kill -KILL "$pid"
  for _ in $(seq 1 100); do member_pid "$m" >/dev/null || { echo "$port"; return 0; }; sleep 0.1; done
  die "mysqld (pid $pid) did not die"
}

stop() {
  local pid m
  if pid=$(router_pid); then kill "$pid"; fi
  for m in "${members[@]}"; do
    pid=$(member_pid "$m") || continue
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    member_pid "$m" >/dev/null && die "member $m (pid $pid) did not stop within 30 s"
  done
  [ "${1:-}" = --wipe ] && rm -rf "${root_fs:?}$cluster_dir"
  return 0
}

status() {
  local m pid code=0
  for m in "${members[@]}"; do
    if pid=$(member_pid "$m"); then
      local row
      row=$(sql "$m" "SELECT MEMBER_STATE, MEMBER_ROLE FROM performance_schema.replication_group_members WHERE MEMBER_ID = @@server_uuid" 2>/dev/null | tr '\t' ' ')
      echo "member $m: port $(port_of "$m"), pid $pid, ${row:-not in a group}"
    else
      echo "member $m: port $(port_of "$m"), not running"; code=3
    fi
  done
  if pid=$(router_pid); then echo "router: pid $pid, read-write $(url), read-only port $router_ro_port"; else echo "router: not running"; code=3; fi
  return $code
}

case "${1:-}" in
  start)
    [ "${2:-}" = --fresh ] && stop --wipe
    converge
    say "primary on port $(primary_port); Router read-write on $router_port, read-only on $router_ro_port"
    url ;;
  primary) primary_port || die "no ONLINE member" ;;
  kill-primary) kill_primary ;;
  rejoin) converge; primary_port ;;
  status) status ;;
  stop) stop "${2:-}" ;;
  url) url ;;
  *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
