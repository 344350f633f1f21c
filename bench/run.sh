#!/usr/bin/env bash
# Benchmarks of the release server on SQLite, on loopback only, every load bounded in time.
#   bench/run.sh            token check (wrk: /healthz vs /api/v1/whoami) and the token list
#   bench/run.sh token      only the token check;  bench/run.sh list   only the token list
# Needs: the release build (make build), wrk, sqlite3, python3.
set -euo pipefail
which=${1:-all}
cd "$(dirname "$0")/.."
bin=target/release/tokenwell
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

PORT=${PORT:-3900}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
base="http://127.0.0.1:$PORT"
dir=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

start() {
  DATABASE_URL="sqlite:$dir/tokenwell.db" LEPTOS_SITE_ROOT=target/site TOKENWELL_LOG=warn \
    ${SERVER_CPUS:+taskset -c "$SERVER_CPUS"} "$bin" serve --addr "127.0.0.1:$PORT" >"$dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do curl -fs "$base/healthz" >/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; cat "$dir/server.log" >&2; exit 1
}

stop() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=; }

# seed FROM TO: adds API/CLI tokens seed-FROM..seed-TO (random digests) to the admin's organization.
seed() {
  sqlite3 "$dir/tokenwell.db" <<SQL
WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
INSERT INTO tokens (organization_id, kind, name, name_key, hint, digest, created_by, principal_id, created_at)
SELECT 1, 'api', printf('seed-%06d', i), printf('seed-%06d', i), 'abcd', randomblob(32), 1, 1, unixepoch() - i FROM n;
SQL
}

# A signed-in cookie jar and one real token.
sign_in_and_generate() {
  curl -fs -c "$dir/jar" -o /dev/null --data-urlencode email=bench@bench.test --data-urlencode 'password=bench password 123' "$base/rpc/login"
  curl -fs -b "$dir/jar" -H 'content-type: application/json' -d '{"kind":"api","name":"bench-token"}' "$base/rpc/generate_token" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])'
}

printf 'bench password 123\n' | DATABASE_URL="sqlite:$dir/tokenwell.db" "$bin" create-admin --org Bench --email bench@bench.test >/dev/null

if [ "$which" != list ]; then
echo "== token check: 10,000 tokens, wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
seed 1 10000
start
token=$(sign_in_and_generate)
${WRK_CPUS:+taskset -c "$WRK_CPUS"} wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$base/healthz" | tee "$dir/healthz.txt"
${WRK_CPUS:+taskset -c "$WRK_CPUS"} wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $token" "$base/api/v1/whoami" | tee "$dir/whoami.txt"
python3 - "$dir/healthz.txt" "$dir/whoami.txt" <<'PY'
import re, sys
def read(path):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p99 = re.search(r"99%\s+([\d.]+\w+)", text).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rps, p99, int(non2xx.group(1)) if non2xx else 0
h, w = read(sys.argv[1]), read(sys.argv[2])
print(f"\nhealthz: {h[0]:.0f} req/s, p99 {h[1]}; whoami: {w[0]:.0f} req/s, p99 {w[1]}, non-2xx {w[2]}; "
      f"whoami/healthz = {100 * w[0] / h[0]:.0f} %")
PY
stop
fi

[ "$which" = token ] && exit 0
echo "== token list: 100,000 tokens, /rpc/list_tokens over HTTP, sequential"
seed 10001 100000
start
curl -fs -c "$dir/jar" -o /dev/null --data-urlencode email=bench@bench.test --data-urlencode 'password=bench password 123' "$base/rpc/login"
python3 bench/list_latency.py "$base" "$dir/jar"
stop
