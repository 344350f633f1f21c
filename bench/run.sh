#!/usr/bin/env bash
# Benchmarks of the release server, on SQLite or PostgreSQL, on loopback only, every load
# bounded in time.
#   bench/run.sh            token check and the token list
#   bench/run.sh token      only the token check;  bench/run.sh list   only the token list
#   BACKEND=postgres bench/run.sh …   the same on PostgreSQL: TOKENWELL_TEST_PG_URL's server, or
#                                     a throwaway one (scripts/with-postgres.sh)
# The token check: wrk at full speed on /healthz and /api/v1/whoami (throughput, ratio), then
# oha rate-limited to half of healthz's maximum on both (p99 below saturation, ratio); on
# PostgreSQL also the database's own ceiling, `pgbench -S -M prepared` with as many clients as
# the server's pool has connections (TOKENWELL_DB_MAX_CONNECTIONS, default 16).
# Needs: the release build (make build), wrk, sqlite3, python3; oha (installed when missing).
set -euo pipefail
which=${1:-all}
cd "$(dirname "$0")/.."
BACKEND=${BACKEND:-sqlite}
case "$BACKEND" in
  sqlite) ;;
  postgres) [ -n "${TOKENWELL_TEST_PG_URL:-}" ] || exec scripts/with-postgres.sh "$0" "$@" ;;
  *) echo "BACKEND is sqlite or postgres" >&2; exit 2 ;;
esac
bin=target/release/tokenwell
pg_bin=/usr/lib/postgresql/15/bin
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
if ! command -v oha >/dev/null; then
  echo "== installing oha (once)"
  # From $HOME: tools are built without this repository's .cargo/config.toml flags.
  (cd "$HOME" && { cargo install oha --locked || cargo install oha; })
fi

PORT=${PORT:-3900}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
# The server's pool size, and so pgbench's clients: the database's ceiling at that many.
export TOKENWELL_DB_MAX_CONNECTIONS=${TOKENWELL_DB_MAX_CONNECTIONS:-16}
seconds=$(python3 -c 'import re, sys; n, u = re.fullmatch(r"(\d+)([smh]?)", sys.argv[1]).groups(); print(int(n) * {"": 1, "s": 1, "m": 60, "h": 3600}[u])' "$DURATION")
# The hard stop for any one load generator: its own duration plus start-up and drain.
bounded() { timeout --kill-after=5 $((seconds + 30)) "$@"; }
base="http://127.0.0.1:$PORT"
dir=$(mktemp -d)
server_pid=
databases=()
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  for db in "${databases[@]}"; do
    "$pg_bin/psql" -qX "$TOKENWELL_TEST_PG_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT

# new_database VAR PREFIX: creates a database on the PostgreSQL server (dropped on exit) and
# sets VAR to its URL.
new_database() {
  local db
  db="$2_$(date +%s)_$$"
  "$pg_bin/psql" -qX -v ON_ERROR_STOP=1 "$TOKENWELL_TEST_PG_URL" -c "CREATE DATABASE \"$db\""
  databases+=("$db")
  printf -v "$1" '%s' "$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' \
    "$TOKENWELL_TEST_PG_URL" "$db")"
}

if [ "$BACKEND" = postgres ]; then
  new_database DATABASE_URL tokenwell_bench
  export DATABASE_URL
  # What a deployment does once, before its instances start.
  "$bin" migrate
else
  export DATABASE_URL="sqlite:$dir/tokenwell.db"
fi

start() {
  LEPTOS_SITE_ROOT=target/site TOKENWELL_LOG=warn \
    ${SERVER_CPUS:+taskset -c "$SERVER_CPUS"} "$bin" serve --addr "127.0.0.1:$PORT" >"$dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do curl -fs "$base/healthz" >/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; cat "$dir/server.log" >&2; exit 1
}

stop() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=; }

# seed FROM TO: adds API/CLI tokens seed-FROM..seed-TO (random digests) to the admin's organization.
seed() {
  if [ "$BACKEND" = postgres ]; then
    "$pg_bin/psql" -qX -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
INSERT INTO tokens (organization_id, kind, name, name_key, hint, digest, created_by, principal_id, created_at)
SELECT 1, 'api', 'seed-' || lpad(i::text, 6, '0'), 'seed-' || lpad(i::text, 6, '0'), 'abcd',
       uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 1, 1,
       extract(epoch FROM now())::bigint - i
  FROM generate_series($1, $2) AS i;
ANALYZE tokens;
SQL
  else
    sqlite3 "${DATABASE_URL#sqlite:}" <<SQL
WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
INSERT INTO tokens (organization_id, kind, name, name_key, hint, digest, created_by, principal_id, created_at)
SELECT 1, 'api', printf('seed-%06d', i), printf('seed-%06d', i), 'abcd', randomblob(32), 1, 1, unixepoch() - i FROM n;
SQL
  fi
}

# create_bench_admin, sign_in_and_generate.
. bench/common.sh

# cpu_ticks PID…: the CPU time (user + system, all threads) the processes have used, in
# clock ticks.
cpu_ticks() {
  local pid ticks=0
  for pid in "$@"; do
    # Fields 14 and 15 of /proc/PID/stat; counted after the command name, which may hold spaces.
    [ -r "/proc/$pid/stat" ] && ticks=$((ticks + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
  done
  echo "$ticks"
}
# The database's processes (PostgreSQL only): every `postgres` process on this machine, which
# is the benchmark's cluster alone when the script started it (scripts/with-postgres.sh).
database_pids() { [ "$BACKEND" = postgres ] && pgrep -x postgres || true; }

# wrk_run NAME URL [ARGS…]: full speed, output in $dir/NAME.txt; the CPU time the server and
# the database used during the run in $dir/NAME.cpu ("server database" clock ticks).
wrk_run() {
  local name=$1 url=$2 server0 database0
  shift 2
  server0=$(cpu_ticks "$server_pid")
  database0=$(cpu_ticks $(database_pids))
  bounded ${WRK_CPUS:+taskset -c "$WRK_CPUS"} wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" \
    | tee "$dir/$name.txt"
  echo "$(($(cpu_ticks "$server_pid") - server0)) $(($(cpu_ticks $(database_pids)) - database0))" >"$dir/$name.cpu"
}

# oha_run NAME RATE URL [ARGS…]: RATE requests a second, latency corrected for the requests
# that a slow answer held back, the requests still open at the end waited for; JSON in
# $dir/NAME.json.
oha_run() {
  local name=$1 rate=$2 url=$3
  shift 3
  bounded ${WRK_CPUS:+taskset -c "$WRK_CPUS"} oha -z "$DURATION" -w -q "$rate" -c "$CONNECTIONS" --latency-correction \
    --no-tui --output-format json "$@" "$url" >"$dir/$name.json"
}

create_bench_admin

if [ "$which" != list ]; then
echo "== token check ($BACKEND): 10,000 tokens, wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
seed 1 10000
start
token=$(sign_in_and_generate)
wrk_run healthz "$base/healthz"
wrk_run whoami "$base/api/v1/whoami" -H "Authorization: Bearer $token"
rate=${RATE:-$(python3 -c 'import re, sys; print(max(1, int(float(re.search(r"Requests/sec:\s+([\d.]+)", open(sys.argv[1]).read()).group(1)) / 2)))' "$dir/healthz.txt")}
echo "== below saturation ($BACKEND): oha -q $rate (${RATE:+RATE, not }half of healthz's maximum) -c$CONNECTIONS -z$DURATION"
oha_run healthz-rate "$rate" "$base/healthz"
oha_run whoami-rate "$rate" "$base/api/v1/whoami" -H "Authorization: Bearer $token"
if [ "$BACKEND" = postgres ]; then
  echo "== database ceiling: pgbench -S -M prepared -c$TOKENWELL_DB_MAX_CONNECTIONS -j2 -T$seconds"
  pgbench_url=
  new_database pgbench_url tokenwell_pgbench
  "$pg_bin/pgbench" -i -q -s 1 "$pgbench_url" >"$dir/pgbench-init.txt" 2>&1 \
    || { cat "$dir/pgbench-init.txt" >&2; exit 1; }
  bounded "$pg_bin/pgbench" -S -M prepared -n -c "$TOKENWELL_DB_MAX_CONNECTIONS" -j 2 -T "$seconds" "$pgbench_url" \
    | tee "$dir/pgbench.txt"
fi
python3 - "$dir" "$BACKEND" "$(getconf CLK_TCK)" <<'PY'
import json, os, re, sys
dir, backend, tick = sys.argv[1], sys.argv[2], 1 / int(sys.argv[3])
def wrk(name):
    text = open(f"{dir}/{name}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p99 = re.search(r"99%\s+([\d.]+\w+)", text).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rps, p99, int(non2xx.group(1)) if non2xx else 0
def cpu(name):
    """CPU microseconds per request during the wrk run: (server, database)."""
    requests = int(re.search(r"(\d+) requests in", open(f"{dir}/{name}.txt").read()).group(1))
    server, database = (int(t) for t in open(f"{dir}/{name}.cpu").read().split())
    return server * tick * 1e6 / requests, database * tick * 1e6 / requests
def oha(name):
    d = json.load(open(f"{dir}/{name}.json"))
    codes = d["statusCodeDistribution"]
    other = sum(n for code, n in codes.items() if code != "200") + sum(d["errorDistribution"].values())
    return d["summary"]["requestsPerSec"], d["latencyPercentiles"]["p99"] * 1000, other
h, w = wrk("healthz"), wrk("whoami")
print(f"\nhealthz: {h[0]:.0f} req/s, p99 {h[1]}; whoami: {w[0]:.0f} req/s, p99 {w[1]}, non-2xx {w[2]}; "
      f"whoami/healthz = {100 * w[0] / h[0]:.0f} %")
hc, wc = cpu("healthz"), cpu("whoami")
print(f"server CPU per request: healthz {hc[0]:.1f} µs, whoami {wc[0]:.1f} µs "
      f"(whoami / healthz = {wc[0] / hc[0]:.2f})"
      + (f"; PostgreSQL's processes {wc[1]:.1f} µs per whoami" if backend == "postgres" else ""))
hq, wq = oha("healthz-rate"), oha("whoami-rate")
print(f"at {hq[0]:.0f} and {wq[0]:.0f} req/s: healthz p99 {hq[1]:.2f} ms, whoami p99 {wq[1]:.2f} ms "
      f"(not 200 or failed: {hq[2]}, {wq[2]}); whoami p99 / healthz p99 = {wq[1] / hq[1]:.2f}")
if backend == "postgres":
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", open(f"{dir}/pgbench.txt").read()).group(1))
    print(f"pgbench -S: {tps:.0f} tps; whoami/pgbench = {100 * w[0] / tps:.0f} %")
PY
stop
fi

[ "$which" = token ] && exit 0
echo "== token list ($BACKEND): 100,000 tokens, /rpc/list_tokens over HTTP, sequential"
# After the token check, its 10,000 are there already.
first=10001
[ "$which" = list ] && first=1
seed "$first" 100000
start
curl -fs -c "$dir/jar" -o /dev/null --data-urlencode email=bench@bench.test --data-urlencode 'password=bench password 123' "$base/rpc/login"
python3 bench/list_latency.py "$base" "$dir/jar"
stop
