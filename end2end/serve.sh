#!/bin/sh
# Starts the release server for the browser tests on a fresh database.
#   sh serve.sh empty|seeded PORT
set -eu
kind=$1
port=$2
dir=$(mktemp -d)
bin=../target/release/tokenwell
export DATABASE_URL="sqlite:$dir/tokenwell.db" LEPTOS_SITE_ROOT=../target/site TOKENWELL_DATA_DIR="$dir/files"
if [ "$kind" = seeded ]; then
  printf 'admin password 123\n' | $bin create-admin --org "Acme Corp" --email admin@acme.test --name "Ada Admin"
  printf 'member password 123\n' | $bin create-user --org "Acme Corp" --email member@acme.test --name "Max Member" --role member
fi
exec $bin serve --addr "127.0.0.1:$port"
