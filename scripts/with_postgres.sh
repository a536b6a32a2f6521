#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: initdb into a temp dir (as the postgres
# user when run as root: initdb refuses root), a server on a free local port, and
# SG_TEST_POSTGRES set to its `postgres` database; the cluster is stopped and removed after.
# Usage: scripts/with_postgres.sh cargo test --test api
set -euo pipefail

bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "with_postgres: Debian's postgresql is not installed" >&2
  exit 1
fi
dir="$(mktemp -d)"
chmod 777 "$dir"
as_server() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
stop() {
  as_server "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
as_server "$bin/initdb" -D "$dir/data" --auth=trust -U sg -E UTF8 --no-sync >/dev/null
as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" start >/dev/null
export SG_TEST_POSTGRES="postgres://sg@127.0.0.1:$port/postgres"
export PATH="$bin:$PATH"
"$@"
