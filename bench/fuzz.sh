#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted input (targets in fuzz/fuzz_targets/), each for a
# bounded time:  bench/fuzz.sh [TARGET…]     FUZZ_SECONDS=60 per target by default.
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`, run outside this repository).
# The stable toolchain is enough: RUSTC_BOOTSTRAP lets it use the sanitizer-coverage flags.
# Builds into fuzz/target, a directory of its own: the instrumented build shares nothing
# with the normal one. Corpora grow in fuzz/corpus/, crashes land in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || { echo "needs cargo-fuzz: (cd ~ && cargo install cargo-fuzz --locked)" >&2; exit 1; }

seconds=${FUZZ_SECONDS:-60}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=$PWD/fuzz/target
# cargo-fuzz sets RUSTFLAGS, which hides .cargo/config.toml's; it appends ours, so repeat it.
export RUSTFLAGS="--cfg erase_components"
# No sanitizer: the code under test is safe Rust, where AddressSanitizer finds nothing that
# Rust's own checks miss, and it halves the executions per second. Debug assertions on,
# so arithmetic overflow panics instead of wrapping.
flags=(--fuzz-dir fuzz -s none --debug-assertions)

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
cargo fuzz build "${flags[@]}"

mkdir -p bench/out
status=0
for target in "${targets[@]}"; do
  echo "== $target: ${seconds}s"
  dict=fuzz/dict/$target.dict
  extra=()
  [ -f "$dict" ] && extra+=("-dict=$dict")
  if ! cargo fuzz run "${flags[@]}" "$target" -- -max_total_time="$seconds" -print_final_stats=1 "${extra[@]}" \
      >"bench/out/fuzz-$target.log" 2>&1; then
    status=1
    echo "$target FAILED: see bench/out/fuzz-$target.log and fuzz/artifacts/$target/"
    grep -m1 -A3 "panicked at" "bench/out/fuzz-$target.log" || true
  fi
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|DONE" "bench/out/fuzz-$target.log" || true
done
exit $status
