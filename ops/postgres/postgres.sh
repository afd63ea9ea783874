#!/usr/bin/env bash
# A local throwaway PostgreSQL server from the distribution's own binaries (no Docker).
#   ops/postgres/postgres.sh up       initdb once, start, wait until it answers, print the URL
#   ops/postgres/postgres.sh down     stop it
#   ops/postgres/postgres.sh status
#   ops/postgres/postgres.sh url      the URL of the `fraud` database, for FRAUD_DATABASE_URL
# PG_HOME (default var/postgres) holds data, log and password per port; PG_PORT (default 55432);
# PG_FRESH=1 starts from empty storage (the tests' server). PG_BIN names the folder of initdb
# and pg_ctl when neither is on PATH nor under /usr/lib/postgresql/*/bin.
# It listens on 127.0.0.1 only. The `fraud` user (owner of the `fraud` database, allowed to
# create the tests' databases) signs in with scram-sha-256 and a password generated at initdb,
# kept in PG_HOME/password-PORT (0600). The server's own superuser connects only through the
# Unix socket in the data folder, by peer authentication. Run as root, the server runs as the
# unprivileged `postgres` user, as initdb and pg_ctl refuse root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
home="${PG_HOME:-$root/var/postgres}"
port="${PG_PORT:-55432}"
data="$home/data-$port"
logfile="$home/postgres-$port.log"
password_file="$home/password-$port"
database=fraud
user=fraud

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  # Debian links only some of them onto PATH: the folder the link points into has them all.
  if command -v initdb >/dev/null; then
    dirname "$(readlink -f "$(command -v initdb)")"; return
  fi
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -z "$found" ] || [ ! -x "$found/initdb" ]; then
    echo "PostgreSQL is not installed: apt-get install postgresql (or make system-deps)," \
      "or set PG_BIN to the folder of initdb and pg_ctl" >&2
    exit 1
  fi
  echo "$found"
}
bin="$(find_bin)"

# Who runs the server: the caller, or the `postgres` user when the caller is root.
if [ "$(id -u)" = 0 ]; then
  owner="${PG_OWNER:-postgres}"
  as_owner() { runuser -u "$owner" -- "$@"; }
else
  owner="$(id -un)"
  as_owner() { "$@"; }
fi

url() {
  echo "postgresql+psycopg://$user:$(cat "$password_file")@127.0.0.1:$port/$database"
}

running() {
  [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1
}

answers() {
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -d "$database" -U "$user"
}

# The server's user must reach its folder: every folder above it must let that user through.
check_reachable() {
  mkdir -p "$home"
  touch "$logfile"
  if [ "$(id -u)" = 0 ]; then chown "$owner" "$home" "$logfile"; fi
  if ! as_owner test -w "$home"; then
    echo "the $owner user cannot reach $home (a folder above it is closed to it);" \
      "set PG_HOME to a folder it can reach, e.g. PG_HOME=/tmp/fraud-postgres" >&2
    exit 1
  fi
}

initialise() {
  (umask 077; head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$password_file")
  as_owner "$bin/initdb" -D "$data" -U "$owner" --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$logfile" 2>&1 ||
    { echo "initdb failed; see $logfile" >&2; tail -n 30 "$logfile" >&2; exit 1; }
  cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
password_encryption = 'scram-sha-256'
CONF
}

# The `fraud` user and database, made once through the socket (peer authentication); the
# password goes through stdin so that it never shows in a process list.
create_user_and_database() {
  printf "CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s';\nCREATE DATABASE %s OWNER %s;\n" \
    "$user" "$(cat "$password_file")" "$database" "$user" |
    as_owner "$bin/psql" -q -v ON_ERROR_STOP=1 -h "$data" -p "$port" -U "$owner" -d postgres \
      >>"$logfile" 2>&1 ||
    { echo "could not create the $user user and database; see $logfile" >&2;
      tail -n 30 "$logfile" >&2; exit 1; }
  touch "$data/.fraud-created"
}

start() {
  as_owner "$bin/pg_ctl" start -D "$data" -l "$logfile" -s >/dev/null 2>&1 || true
  for _ in $(seq 1 120); do
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then return; fi
    if ! running; then
      echo "postgres failed to start on 127.0.0.1:$port; see $logfile" >&2
      tail -n 30 "$logfile" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "postgres did not answer on 127.0.0.1:$port within 60s; see $logfile" >&2
  tail -n 30 "$logfile" >&2
  exit 1
}

up() {
  if [ "${PG_FRESH:-0}" = 1 ]; then
    if running; then down; fi
    rm -rf "$data" "$password_file"
  elif running; then
    echo "postgres already running on 127.0.0.1:$port"
    url
    return
  fi
  check_reachable
  if [ ! -f "$data/PG_VERSION" ] || [ ! -s "$password_file" ]; then
    rm -rf "$data"
    initialise
  fi
  start
  if [ ! -f "$data/.fraud-created" ]; then create_user_and_database; fi
  answers || { echo "postgres answers but not for $user@$database; see $logfile" >&2; exit 1; }
  echo "postgres is up on 127.0.0.1:$port; FRAUD_DATABASE_URL is"
  url
}

down() {
  if ! running; then echo "postgres is not running"; return; fi
  as_owner "$bin/pg_ctl" stop -D "$data" -m fast -w -t 60 -s >/dev/null ||
    { echo "postgres did not stop; see $logfile" >&2; tail -n 30 "$logfile" >&2; exit 1; }
  echo "postgres stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) if running; then echo "running on 127.0.0.1:$port"; else echo "stopped"; exit 1; fi ;;
  url)
    [ -s "$password_file" ] || { echo "no server initialised on port $port: run up" >&2; exit 1; }
    url ;;
  *) echo "usage: $0 up|down|status|url" >&2; exit 2 ;;
esac
