#!/bin/sh
# Starts the release server for the browser tests on a fresh database.
#   sh serve.sh empty|seeded|two-factor PORT
# "two-factor" is its own server: its people set up second factors, its organizations turn on
# "Require two-factor authentication", and sensitive actions need an authentication in the
# last 15 seconds (not 10 minutes), so the specs of the other servers never meet them.
set -eu
kind=$1
port=$2
dir=$(mktemp -d)
bin=../target/release/tokenwell
export DATABASE_URL="sqlite:$dir/tokenwell.db" LEPTOS_SITE_ROOT=../target/site TOKENWELL_DATA_DIR="$dir/files"
if [ "$kind" = seeded ] || [ "$kind" = two-factor ]; then
  printf 'admin password 123\n' | $bin create-admin --org "Acme Corp" --email admin@acme.test --name "Ada Admin"
  printf 'member password 123\n' | $bin create-user --org "Acme Corp" --email member@acme.test --name "Max Member" --role member
fi
if [ "$kind" = two-factor ]; then
  export TOKENWELL_REAUTH_SECS=15
  printf 'tess password 123\n' | $bin create-user --org "Acme Corp" --email tess@acme.test --name "Tess Totp" --role member
  printf 'pat password 123\n' | $bin create-user --org "Acme Corp" --email pat@acme.test --name "Pat Passkey" --role member
  printf 'bea password 123\n' | $bin create-admin --org "Bolt Inc" --email bea@bolt.test --name "Bea Bolt"
  printf 'mo password 123\n' | $bin create-user --org "Bolt Inc" --email mo@bolt.test --name "Mo Member" --role member
fi
exec $bin serve --addr "127.0.0.1:$port"
