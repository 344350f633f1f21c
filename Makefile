# The two commands a newcomer needs:
#   make run   — set up, build a release and serve http://127.0.0.1:3000 (SQLite in data/)
#   make test  — set up, then run every test: unit, database, HTTP and browser, on SQLite and
#                on a throwaway PostgreSQL 15 (scripts/with-postgres.sh; TOKENWELL_TEST_PG_URL
#                points the tests at a server of your own instead)
SHELL := /bin/bash
export PATH := $(CURDIR)/.tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: run test setup build lint unit conformance e2e bench

# The site's WASM, JS and CSS named by their content, and brotli and gzip copies of every
# file of the site, for the server to send as they are (Cargo.toml, hash-file-name).
RELEASE_BUILD := LEPTOS_HASH_FILES=true cargo leptos build --release --precompress

setup:
	@scripts/setup.sh

build: setup
	$(RELEASE_BUILD)

run: build
	LEPTOS_SITE_ROOT=target/site ./target/release/tokenwell serve

test:
	@scripts/setup.sh --test
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(RELEASE_BUILD)
	python3 scripts/crash_safety.py target/release/tokenwell
	$(MAKE) --no-print-directory conformance
	$(MAKE) --no-print-directory e2e

# The tidy habits, before the slow steps: rustfmt and clippy for each crate with its features.
lint:
	cargo fmt --all --check
	cargo clippy -p app --features ssr --all-targets -- -D warnings
	cargo clippy -p app --features hydrate --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p server --all-targets -- -D warnings

# Unit, database and HTTP tests. Each crate with its own features (no --workspace). First on
# SQLite, then on PostgreSQL: the tests pick it when TOKENWELL_TEST_PG_URL is set.
unit:
	env -u TOKENWELL_TEST_PG_URL cargo test -p app --features ssr
	env -u TOKENWELL_TEST_PG_URL cargo test -p server
	scripts/with-postgres.sh sh -c 'cargo test -p app --features ssr && cargo test -p server'

# The token API against its own OpenAPI document (schemathesis, every check, about 90 s).
conformance:
	scripts/api-conformance.sh target/release/tokenwell

# Every browser test on SQLite; the tokens and users specs also on PostgreSQL behind nginx.
e2e:
	cd end2end && ../scripts/with-postgres.sh npx playwright test

bench:
	bench/run.sh
