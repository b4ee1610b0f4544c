#!/usr/bin/env bash
# Creates the app's own MySQL user with data rights only (SELECT, INSERT, UPDATE, DELETE) on
# $MYSQL_DATABASE: the app can read and write conversations but not create, alter or drop
# anything, and it never connects as root.
#
# The mysql image's entrypoint runs it once, on the first start with an empty data volume, after
# 001-*.sql created the tables. It sources a file that is not executable (then docker_process_sql,
# mysql_note and mysql_error are already defined) and executes one that is: then it loads those
# helpers from the entrypoint itself, so either mode works. Not the image's MYSQL_USER: that one
# gets ALL privileges on the database.
#
# Environment (from .env through docker-compose.yml): MYSQL_DATABASE, APP_DB_USER, APP_DB_PASSWORD.

if ! declare -F docker_process_sql >/dev/null; then
	# The entrypoint can be sourced for its functions (it runs nothing then); SOCKET comes from
	# docker_setup_env, as in the entrypoint's own run.
	# shellcheck source=/dev/null
	. "$(command -v docker-entrypoint.sh)"
	docker_setup_env mysqld
fi

# A MySQL string literal: backslashes and single quotes escaped.
_app_sql_string() {
	local value=${1//\\/\\\\}
	printf "'%s'" "${value//\'/\\\'}"
}

if [ -z "${APP_DB_USER:-}" ]; then
	mysql_note "APP_DB_USER is not set: no application user created (the app would need other credentials)"
elif [ -z "${APP_DB_PASSWORD:-}" ]; then
	mysql_error "APP_DB_USER is set but APP_DB_PASSWORD is empty"
else
	mysql_note "Creating application user ${APP_DB_USER} with SELECT, INSERT, UPDATE, DELETE on ${MYSQL_DATABASE}"
	# In GRANT, _ and % in a database name are wildcards: escape them to mean this database only.
	_app_db=${MYSQL_DATABASE//\`/\`\`}
	_app_db=${_app_db//_/\\_}
	_app_db=${_app_db//%/\\%}
	docker_process_sql --database=mysql <<-EOSQL
		CREATE USER $(_app_sql_string "$APP_DB_USER")@'%' IDENTIFIED BY $(_app_sql_string "$APP_DB_PASSWORD");
		GRANT SELECT, INSERT, UPDATE, DELETE ON \`${_app_db}\`.* TO $(_app_sql_string "$APP_DB_USER")@'%';
	EOSQL
	unset _app_db
fi
unset -f _app_sql_string
