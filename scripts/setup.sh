#!/usr/bin/env bash
# Installs what building (and, with --test, testing) Tokenwell needs on a fresh Debian 12
# machine with Rust and Node. Every step is skipped when it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=false
[ "${1:-}" = "--test" ] && want_test=true

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "Adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q ' 0\.3\.10$'; then
  say "Installing cargo-leptos 0.3.10 (about 13 minutes, once)"
  # From $HOME: tools are built without this repository's .cargo/config.toml flags.
  (cd "$HOME" && cargo install cargo-leptos --version 0.3.10 --locked)
fi

# wasm-bindgen-cli must match the wasm-bindgen version in Cargo.lock exactly.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q " ${bindgen_version}$"; then
  say "Installing wasm-bindgen-cli ${bindgen_version}"
  (cd "$HOME" && cargo install wasm-bindgen-cli --version "${bindgen_version}")
fi

# Debian's binaryen (wasm-opt 108) breaks the release WASM; use binaryen 132 from npm.
if ! .tools/node_modules/.bin/wasm-opt --version 2>/dev/null | grep -q 'version 132'; then
  say "Installing wasm-opt (binaryen 132) under .tools/"
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --silent binaryen@132.0.0
fi

if $want_test; then
  # make lint: rustfmt and clippy come with rustup's default profile, but not the minimal one.
  for component in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^${component}"; then
      say "Adding the ${component} component"
      rustup component add "${component}"
    fi
  done
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v sqlite3 >/dev/null || missing+=(sqlite3)
  # scripts/api-conformance.sh and bench/soak.sh drive the server with curl.
  command -v curl >/dev/null || missing+=(curl)
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3 python3-venv)
  # scripts/with-postgres.sh runs a throwaway PostgreSQL 15 (bench/run.sh its pgbench too) and
  # end2end/serve-cluster.sh puts nginx in front of two servers. Installing them may start
  # Debian's own cluster (port 5432) and nginx (port 80); no script here uses those: each
  # runs its own with its own port, socket, pid file and logs.
  pg_bin=/usr/lib/postgresql/15/bin
  for tool in initdb pg_ctl postgres pgbench; do
    [ -x "$pg_bin/$tool" ] || { missing+=(postgresql-15); break; }
  done
  [ -x "$pg_bin/psql" ] && [ -x "$pg_bin/pg_isready" ] || missing+=(postgresql-client-15)
  [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  if [ ${#missing[@]} -gt 0 ]; then
    say "Installing ${missing[*]} from Debian"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
  # The API conformance check (scripts/api-conformance.sh) runs schemathesis from a venv.
  if ! .tools/venv/bin/st --version 2>/dev/null | grep -q ' 4\.32\.5$'; then
    say "Installing schemathesis 4.32.5 under .tools/venv"
    rm -rf .tools/venv
    python3 -m venv .tools/venv
    .tools/venv/bin/pip install --quiet --disable-pip-version-check schemathesis==4.32.5
  fi
  if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    say "Installing the browser-test packages (never a browser download)"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
  fi
fi
