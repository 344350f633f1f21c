#!/usr/bin/env bash
# SQLite's WAL under steady token checks and steady writes. The token check keeps read
# snapshots between checks (app/src/server/db/sqlite/lookup.rs); this shows that the WAL is
# still reset: its file stops growing at about the autocheckpoint size (1,000 pages) instead
# of growing with every write.
#   make build && bench/wal.sh          # DURATION=60 (seconds) WRITES=20 (a second)
# wrk on /api/v1/whoami at full speed for DURATION while a loop creates WRITES tokens a
# second through the API; prints the WAL file's size every five seconds. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/tokenwell
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
PORT=${PORT:-3901}
DURATION=${DURATION:-60}
WRITES=${WRITES:-20}
dir=$(mktemp -d)
server_pid=
wrk_pid=
cleanup() {
  [ -n "$wrk_pid" ] && kill "$wrk_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
export DATABASE_URL="sqlite:$dir/tokenwell.db"
base="http://127.0.0.1:$PORT"
. bench/common.sh
create_bench_admin
LEPTOS_SITE_ROOT=target/site TOKENWELL_LOG=warn "$bin" serve --addr "127.0.0.1:$PORT" >"$dir/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
token=$(sign_in_and_generate)

timeout --kill-after=5 $((DURATION + 30)) wrk -t2 -c64 -d"${DURATION}s" \
  -H "Authorization: Bearer $token" "$base/api/v1/whoami" >"$dir/wrk.txt" &
wrk_pid=$!
wal="$dir/tokenwell.db-wal"
start=$SECONDS
written=0
next_report=5
while [ $((SECONDS - start)) -lt "$DURATION" ]; do
  second=$SECONDS
  for _ in $(seq "$WRITES"); do
    written=$((written + 1))
    curl -fs -o /dev/null -H "Authorization: Bearer $token" -H 'content-type: application/json' \
      -d "{\"type\":\"api\",\"name\":\"w-$written\"}" "$base/api/v1/tokens"
  done
  while [ $SECONDS -eq "$second" ]; do sleep 0.05; done
  if [ $((SECONDS - start)) -ge $next_report ]; then
    echo "$((SECONDS - start)) s: $written tokens created, WAL file $(stat -c %s "$wal") B"
    next_report=$((next_report + 5))
  fi
done
wait "$wrk_pid" || true
wrk_pid=
grep -E "Requests/sec|Non-2xx" "$dir/wrk.txt" || true
echo "whoami under load: $(grep Requests/sec "$dir/wrk.txt" | awk '{print $2}') req/s; $written tokens created; WAL file at the end $(stat -c %s "$wal") B"
