#!/usr/bin/env bash
# Runs a command with TOKENWELL_TEST_PG_URL pointing at a PostgreSQL 15 server on which it may
# CREATE DATABASE freely:
#   scripts/with-postgres.sh CMD [ARGS…]
# With TOKENWELL_TEST_PG_URL already set (a developer's own server), it only runs CMD.
# Otherwise it starts a throwaway cluster from Debian's postgresql-15 (trust auth, loopback, a
# free port, fsync off), and stops and deletes it when CMD ends, whatever happens. Exits with
# CMD's status; quiet unless the server fails, then the tail of its log is printed.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS…]" >&2; exit 2; }
[ -n "${TOKENWELL_TEST_PG_URL:-}" ] && exec "$@"

# The versioned path: /usr/local/bin may hold other pg_ctl builds or links.
pg_bin=/usr/lib/postgresql/15/bin
[ -x "$pg_bin/pg_ctl" ] || { echo "needs postgresql-15 (scripts/setup.sh --test)" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# The server refuses to run as root; the cluster belongs to the postgres user.
as_postgres() { as_root runuser -u postgres -- "$@"; }

# The temp directory is the caller's (logs of the steps run from here); pg/ within it, the
# postgres user's: the cluster, its socket and its log.
dir=$(mktemp -d /tmp/tokenwell-pg.XXXXXX)
pg="$dir/pg"
started=false
child=
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if $started; then
    as_postgres "$pg_bin/pg_ctl" stop -D "$pg/data" -m immediate -w >/dev/null 2>&1 || true
  fi
  as_root rm -rf "$dir"
  exit "$status"
}
# A signal to this script goes on to CMD's process group, which is waited for before the
# cluster goes away.
on_signal() {
  if [ -n "$child" ]; then
    kill -"$1" -- "-$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit "$2"
}
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
chmod 755 "$dir"
mkdir "$pg"
as_root chown postgres: "$pg"

fail() {
  echo "with-postgres: $*" >&2
  as_root tail -n 30 "$pg/server.log" >&2 2>/dev/null || true
  exit 1
}

# A port nothing listens on now; the server takes it a moment later.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

as_postgres "$pg_bin/initdb" -D "$pg/data" -U tokenwell --auth=trust -E UTF8 --locale=C.UTF-8 \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; fail "initdb failed"; }
# Tests open many pools, hence max_connections. The socket lives in the temp directory, so
# Debian's own cluster (if any, /var/run/postgresql, port 5432) is never touched.
started=true
as_postgres "$pg_bin/pg_ctl" start -D "$pg/data" -l "$pg/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $pg -c fsync=off -c max_connections=300" \
  >/dev/null 2>&1 || fail "the server did not start"
"$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30 || fail "the server is not ready"

export TOKENWELL_TEST_PG_URL="postgres://tokenwell@127.0.0.1:$port/postgres"
status=0
if [ -t 0 ]; then
  # At a terminal, CMD runs in the foreground (it may read the terminal, and Ctrl-C reaches it
  # directly); the cleanup runs when it ends.
  "$@" || status=$?
else
  # Otherwise in a process group of its own, so that a signal to this script stops all of
  # CMD (cargo's test binaries, Playwright's servers) at once, before the cluster goes away.
  set -m
  "$@" &
  child=$!
  set +m
  wait "$child" || status=$?
  child=
fi
exit "$status"
