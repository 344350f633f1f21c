# Shared by the benchmark scripts (sourced). Needs $bin (the tokenwell binary), $dir (a
# scratch directory) and $base (the server's URL), and DATABASE_URL exported.

# create_bench_admin: the organization and admin every benchmark signs in as.
create_bench_admin() {
  printf 'bench password 123\n' | "$bin" create-admin --org Bench --email bench@bench.test >/dev/null
}

# sign_in_and_generate: a signed-in cookie jar in $dir/jar; prints one real API/CLI token.
sign_in_and_generate() {
  curl -fs -c "$dir/jar" -o /dev/null --data-urlencode email=bench@bench.test --data-urlencode 'password=bench password 123' "$base/rpc/login"
  curl -fs -b "$dir/jar" -H 'content-type: application/json' -d '{"kind":"api","name":"bench-token"}' "$base/rpc/generate_token" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])'
}
