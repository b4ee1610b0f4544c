#!/usr/bin/env bash
# Applies mysql-init/ the way the official mysql image's docker-entrypoint.sh does on its first
# start (docker_process_init_files): files in name order; *.sql piped to docker_process_sql (as
# root, into MYSQL_DATABASE); *.sh run when executable, else sourced, so they can call
# docker_process_sql and the mysql_note/mysql_warn/mysql_error log helpers defined here as in the image.
#
# Environment: INITDB_DIR (the folder), INITDB_ROOT_URL (root's mysql:// URL), NODE (node binary),
# MYSQL_DATABASE, and whatever the scripts read (APP_DB_USER, APP_DB_PASSWORD).
set -eo pipefail
shopt -s nullglob

shim="$(dirname "${BASH_SOURCE[0]}")/docker-process-sql.mjs"

mysql_log() {
	local type="$1"; shift
	printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$type" "$*"
}
mysql_note() { mysql_log Note "$@"; }
mysql_warn() { mysql_log Warn "$@" >&2; }
mysql_error() { mysql_log ERROR "$@" >&2; exit 1; }
docker_process_sql() { "$NODE" "$shim" "$@"; }

for f in "$INITDB_DIR"/*; do
	case "$f" in
		*.sh)
			if [ -x "$f" ]; then
				mysql_note "$0: running $f"
				"$f"
			else
				mysql_note "$0: sourcing $f"
				. "$f"
			fi
			;;
		*.sql) mysql_note "$0: running $f"; docker_process_sql < "$f" ;;
		*) mysql_warn "$0: ignoring $f" ;;
	esac
done
