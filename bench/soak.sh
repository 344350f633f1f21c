#!/usr/bin/env bash
# Soak: SOAK_SECONDS (default 600) of mixed load on loopback against the release server on
# a fresh database (bench/soak.lua: token checks, token list pages, creates and revokes,
# uploads, wrong-password sign-ins), then the totals, the answers by status, the 5xx count
# (target 0) and the server's memory (VmRSS) before the load, after warm-up, midway and at
# the end (target: no growth after warm-up). Fails when any answer is a 5xx.
#   bench/soak.sh             SOAK_SECONDS=600 CONNECTIONS=16 THREADS=2 PORT=3910
#   BIN=path/to/tokenwell bench/soak.sh     another build than target/release/tokenwell
# Needs wrk, curl and python3. The report is also saved under bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/tokenwell}
[ -x "$bin" ] || { echo "build first: make build (or BIN=…)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

seconds=${SOAK_SECONDS:-600}
PORT=${PORT:-3910}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
base="http://127.0.0.1:$PORT"
dir=$(mktemp -d)
server_pid=
sampler_pid=
cleanup() {
  # `|| true` throughout: under `set -e` a failing kill would end the trap before `rm`.
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ]; then
    # Its files are removed next: let it stop first (5 s, then SIGKILL).
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

password="soak $(od -An -N6 -tx1 /dev/urandom | tr -d ' \n') lantern 42"
export DATABASE_URL="sqlite:$dir/tokenwell.db" LEPTOS_SITE_ROOT="$dir" TOKENWELL_DATA_DIR="$dir/data" TOKENWELL_LOG=warn
# The soak uploads about 12 GiB in 10 minutes (identical bodies, so little disk), beyond the
# default 10 GiB organization quota: its 507s would fail the run, which measures load, not
# the quota (tested in server/tests/api.rs). 1 TiB.
export TOKENWELL_ORG_QUOTA_BYTES=1099511627776
printf '%s\n' "$password" | "$bin" create-admin --org Soak --email soak@soak.test --name Soak >/dev/null
"$bin" serve --addr "127.0.0.1:$PORT" >"$dir/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
curl -fs "$base/healthz" >/dev/null || { echo "server did not start" >&2; cat "$dir/server.log" >&2; exit 1; }

curl -fsS -c "$dir/jar" -o /dev/null --data-urlencode email=soak@soak.test --data-urlencode "password=$password" "$base/rpc/login" ||
  { echo "could not sign in" >&2; cat "$dir/server.log" >&2; exit 1; }
SOAK_TOKEN=$(curl -fs -b "$dir/jar" -H 'content-type: application/json' -d '{"kind":"api","name":"soak-admin"}' \
  "$base/rpc/generate_token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
export SOAK_TOKEN

# Memory and open files every 5 s, from before the load until it ends (bounded).
sample() {
  local until=$((SECONDS + seconds + 30))
  while [ $SECONDS -lt $until ] && kill -0 "$server_pid" 2>/dev/null; do
    echo "$SECONDS $(awk '/^VmRSS/ {print $2}' /proc/$server_pid/status) $(ls /proc/$server_pid/fd | wc -l)"
    sleep 5
  done
}
SECONDS=0
sample >"$dir/rss.txt" &
sampler_pid=$!
sleep 1

echo "== soak: ${seconds}s, wrk -t$THREADS -c$CONNECTIONS, server pid $server_pid"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" --timeout 10s -s bench/soak.lua "$base" | tee "$dir/wrk.txt"
echo "$SECONDS $(awk '/^VmRSS/ {print $2}' /proc/$server_pid/status) $(ls /proc/$server_pid/fd | wc -l)" >>"$dir/rss.txt"
kill "$sampler_pid" 2>/dev/null || true
sampler_pid=

tokens=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM tokens").fetchone()[0])' "$dir/tokenwell.db")
errors_logged=$(grep -c ' ERROR ' "$dir/server.log" || true)
mkdir -p bench/out
report=bench/out/soak-$(date +%Y%m%d-%H%M%S).txt
python3 - "$dir/wrk.txt" "$dir/rss.txt" "$seconds" "$tokens" "$errors_logged" <<'PY' | tee "$report"
import re, sys
wrk, rss_path, seconds, tokens, errors_logged = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
lines = open(wrk).read().splitlines()
sent = {m[1]: int(m[2]) for m in (re.match(r"soak sent (\w+) (\d+)", l) for l in lines) if m}
statuses = {int(m[1]): int(m[2]) for m in (re.match(r"soak status (\d+) (\d+)", l) for l in lines) if m}
total = int(next(re.match(r"soak total (\d+)", l)[1] for l in lines if l.startswith("soak total")))
socket = next(l for l in lines if l.startswith("soak socket_errors")).split(" ", 2)[2]
latency = next(l for l in lines if l.startswith("soak latency_ms")).split(" ", 2)[2]
samples = [tuple(int(x) for x in l.split()) for l in open(rss_path) if len(l.split()) == 3]
def at(t):  # the sample closest to t seconds into the run
    return min(samples, key=lambda s: abs(s[0] - t))
warm = at(min(60, seconds // 10))
mid, end = at(seconds // 2), samples[-1]
fivexx = sum(n for s, n in statuses.items() if s >= 500)
print(f"requests: {total} in {seconds} s ({total / seconds:.0f}/s); latency {latency}")
print("sent: " + ", ".join(f"{k} {v}" for k, v in sorted(sent.items())))
print("answers by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
print(f"5xx: {fivexx}; socket errors: {socket}; ERROR lines in the server log: {errors_logged}")
print(f"tokens in the database at the end: {tokens}")
print(f"RSS (MiB): start {samples[0][1] / 1024:.1f}, after warm-up ({warm[0]} s) {warm[1] / 1024:.1f}, "
      f"middle ({mid[0]} s) {mid[1] / 1024:.1f}, end ({end[0]} s) {end[1] / 1024:.1f}, "
      f"max {max(s[1] for s in samples) / 1024:.1f}; open files: start {samples[0][2]}, end {end[2]}")
print(f"RSS growth from warm-up to end: {(end[1] - warm[1]) / 1024:+.1f} MiB")
print("RSS every tenth of the run (s: MiB): " + ", ".join(
    f"{s[0]}: {s[1] / 1024:.1f}" for s in (at(seconds * i // 10) for i in range(11))))
sys.exit(1 if fivexx else 0)
PY
