#!/usr/bin/env bash
# Starts the release server for the browser tests on PostgreSQL the way a multi-instance
# deployment runs it: a fresh database, migrated once and seeded like serve.sh's "seeded",
# two instances on one database, and nginx on PORT sending requests to each in turn (no sticky
# sessions), so any page load or server function may land on either instance.
#   TOKENWELL_TEST_PG_URL=postgres://… bash serve-cluster.sh PORT
# Runs until signalled (Playwright sends SIGTERM to its process group), then stops everything
# and drops the database. The X-Upstream response header names the instance that answered;
# at the end, the requests each instance answered are counted on standard error.
set -euo pipefail
port=$1
: "${TOKENWELL_TEST_PG_URL:?needs a PostgreSQL server URL (scripts/with-postgres.sh sets one)}"
bin=../target/release/tokenwell
psql=/usr/lib/postgresql/15/bin/psql
dir=$(mktemp -d)
db="tokenwell_e2e_$(date +%s)_$$"
# The same server with another database name (query parameters such as sslmode kept).
db_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$TOKENWELL_TEST_PG_URL" "$db")

pids=()
created=false
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # The proof that both instances served: requests per upstream, from nginx's access log.
  if [ -s "$dir/nginx/access.log" ]; then
    awk '{ sub(/^upstream=/, "", $NF); n[$NF]++ } END { for (u in n) printf "serve-cluster: %d requests to %s\n", n[u], u }' \
      "$dir/nginx/access.log" >&2
  fi
  if $created; then
    "$psql" -q -X "$TOKENWELL_TEST_PG_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || status=1
  fi
  rm -rf "$dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

"$psql" -q -X -v ON_ERROR_STOP=1 "$TOKENWELL_TEST_PG_URL" -c "CREATE DATABASE \"$db\""
created=true
export DATABASE_URL="$db_url" LEPTOS_SITE_ROOT=../target/site TOKENWELL_DATA_DIR="$dir/files"
# What a deployment does once, before it starts its instances.
$bin migrate
printf 'admin password 123\n' | $bin create-admin --org "Acme Corp" --email admin@acme.test --name "Ada Admin"
printf 'member password 123\n' | $bin create-user --org "Acme Corp" --email member@acme.test --name "Max Member" --role member

# Both instances believe nginx's X-Forwarded-For, so each sees the browser's address.
upstreams=()
for _ in 1 2; do
  addr="127.0.0.1:$(free_port)"
  TOKENWELL_TRUSTED_PROXIES=127.0.0.1 $bin serve --no-migrate --addr "$addr" &
  pids+=($!)
  upstreams+=("$addr")
done

mkdir "$dir/nginx"
cat >"$dir/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 512; }
http {
    # Everything nginx writes stays in this directory, off Debian's own nginx's paths.
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    log_format upstream '\$remote_addr "\$request" \$status upstream=\$upstream_addr';
    access_log $dir/nginx/access.log upstream;

    # Round robin, the default: no stickiness of any kind.
    upstream tokenwell {
        server ${upstreams[0]};
        server ${upstreams[1]};
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$port;
        # The API's upload limit (TOKENWELL_MAX_UPLOAD_BYTES) is the servers' to enforce.
        client_max_body_size 32m;
        location / {
            proxy_pass http://tokenwell;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            # Bodies pass through as they arrive, both ways, as with no proxy in between.
            proxy_request_buffering off;
            proxy_buffering off;
            # An instance that fails shows as the failure, not as a silent retry on the other.
            proxy_next_upstream off;
            add_header X-Upstream \$upstream_addr always;
        }
    }
}
CONF
/usr/sbin/nginx -e "$dir/nginx/error.log" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" &
pids+=($!)

# Any of the three ending on its own is a failure: stop the rest.
wait -n "${pids[@]}" || true
echo "serve-cluster: a server or nginx stopped; nginx's error log:" >&2
cat "$dir/nginx/error.log" >&2
exit 1
