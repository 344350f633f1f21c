#!/usr/bin/env bash
# Checks the token API against its own OpenAPI document with schemathesis (every check).
#   scripts/api-conformance.sh path/to/tokenwell
# Starts the given binary on a fresh SQLite database and a free loopback port, signs in as a
# new admin to generate an API/CLI token, runs schemathesis for at most about 90 seconds,
# and stops the server whatever happens. Exits non-zero on any failure.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 path/to/tokenwell" >&2; exit 2; }
bin=$(realpath "$1")
cd "$(dirname "$0")/.."
root=$PWD
st=$root/.tools/venv/bin/st
[ -x "$st" ] || { echo "schemathesis is missing: run scripts/setup.sh --test" >&2; exit 2; }

dir=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$("$root/.tools/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
export DATABASE_URL="sqlite:$dir/tokenwell.db" TOKENWELL_DATA_DIR="$dir/files" LEPTOS_SITE_ROOT="$dir/site"
email=admin@conformance.test
password=$(head -c 18 /dev/urandom | base64)
printf '%s\n' "$password" | "$bin" create-admin --org Conformance --email "$email" >/dev/null
"$bin" serve --addr "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -sf "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf "$base/readyz" >/dev/null || { echo "the server did not become ready" >&2; exit 1; }

# Sign in as the console does, then generate the token the run authenticates with, and a
# decoy that stands in for it whenever the run tries to revoke it (see the hooks file).
curl -sSf -o /dev/null -c "$dir/cookies" --data-urlencode "email=$email" --data-urlencode "password=$password" \
  "$base/rpc/login" || { echo "could not sign in as $email (server log: $dir/server.log)" >&2; tail -n 20 "$dir/server.log" >&2; exit 1; }
# Prints "id secret" of a new API/CLI token named $1, or says why not and fails.
generate() {
  local answer status body
  answer=$(curl -sS -b "$dir/cookies" -H 'content-type: application/json' -d "{\"kind\":\"api\",\"name\":\"$1\"}" \
    -w '\n%{http_code}' "$base/rpc/generate_token") || { echo "generating the token $1: the request failed" >&2; return 1; }
  status=${answer##*$'\n'}
  body=${answer%$'\n'*}
  [ "$status" = 200 ] || { echo "generating the token $1: HTTP $status: $body" >&2; return 1; }
  printf '%s' "$body" | "$root/.tools/venv/bin/python" -c 'import json, sys; g = json.load(sys.stdin); print(g["token"]["id"], g["secret"])' 2>/dev/null ||
    { echo "generating the token $1: unexpected answer: $body" >&2; return 1; }
}
decoy=$(generate conformance-decoy) || exit 1
run_token=$(generate conformance) || exit 1
read -r decoy_id _ <<<"$decoy"
read -r token_id secret <<<"$run_token"

export TW_CONFORMANCE_TOKEN_ID=$token_id TW_CONFORMANCE_DECOY_ID=$decoy_id
export SCHEMATHESIS_HOOKS="$root/scripts/api_conformance_hooks.py"
# One worker: with two, the examples' generation parses Python sources in two threads at
# once, which CPython 3.11's ast module does not survive ("AST constructor recursion depth
# mismatch"). Run from the temporary directory, where schemathesis keeps its cache.
status=0
(cd "$dir" && timeout --signal=INT --kill-after=10 120 "$st" run "$base/api/v1/openapi.json" \
  --header "Authorization: Bearer $secret" \
  --checks all \
  --max-time 75 \
  --max-examples 40 \
  --workers 1 \
  --request-timeout 10 \
  --generation-database none \
  --no-color) || status=$?

# The token must have survived the run, or its 401s proved nothing.
whoami=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $secret" "$base/api/v1/whoami")
if [ "$whoami" != 200 ]; then
  echo "the run's own token stopped working (whoami answered $whoami)" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "API conformance FAILED (exit $status); server log: last 40 lines" >&2
  tail -n 40 "$dir/server.log" >&2
fi
exit "$status"
