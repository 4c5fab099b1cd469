#!/usr/bin/env bash
# Run every cargo-fuzz target for a bounded time with the corpus kept in fuzz/corpus/.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 30)
# Works on the stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the sanitizer flags).
# New inputs found are added to the corpus folder (kept out of git unless named seed-*); a
# crash fails the run and leaves its input in fuzz/artifacts/<target>/. Every corpus also runs
# as a regression test on stable in `cargo test --test fuzz_corpus`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
export RUSTC_BOOTSTRAP=1
mapfile -t targets < <(cd fuzz && cargo fuzz list)
started=$(date +%s)
(cd fuzz && cargo fuzz build)
echo "fuzz: sanitizer build of ${#targets[@]} targets took $(($(date +%s) - started)) s"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  if ! (cd fuzz && cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1); then
    grep -E "ERROR|SUMMARY|panicked" "$log" | head -20 >&2
    echo "fuzz: target $t FAILED; its input is saved under fuzz/artifacts/$t/" >&2
    exit 1
  fi
  stat() { grep -Eo "$1 *[0-9]+" "$log" | tail -1 | grep -Eo "[0-9]+$" || echo "?"; }
  runs=$(stat "stat::number_of_executed_units:")
  rate=$(stat "stat::average_exec_per_sec:")
  cov=$(stat "cov:")
  echo "fuzz: $t clean for ${seconds}s: $runs runs ($rate/s), coverage $cov edges, corpus $(find "fuzz/corpus/$t" -type f | wc -l) inputs"
done
