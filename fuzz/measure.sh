#!/bin/sh
# Runs one fuzz target from its built binary for up to RUNS executions or
# SECONDS seconds, at low priority, and prints libFuzzer's final statistics.
# The corpus in corpus/<target>/ grows in place; crashes go to
# artifacts/<target>/. Build first: `cargo +nightly fuzz build` (AddressSanitizer,
# binaries in target/), or with SANITIZER=none
# `cargo +nightly fuzz build -s none --target-dir target-nosan`.
# Usage: [SANITIZER=none] fuzz/measure.sh TARGET [RUNS] [SECONDS]
set -eu
cd "$(dirname "$0")"
target=$1
runs=${2:-1000000}
seconds=${3:-600}
bin_dir=target
if [ "${SANITIZER:-address}" = none ]; then bin_dir=target-nosan; fi
mkdir -p "corpus/$target" "artifacts/$target"
start=$(date +%s)
nice -n 15 "$bin_dir/x86_64-unknown-linux-gnu/release/$target" \
    -artifact_prefix="artifacts/$target/" \
    -runs="$runs" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    "corpus/$target" 2>&1 | grep -E '^#[0-9]+ +(DONE|INITED)|^stat::|Done [0-9]+ runs|ERROR|panicked|SUMMARY|Test unit written|^====' || true
echo "wall seconds: $(( $(date +%s) - start ))"
echo "corpus files: $(ls "corpus/$target" | wc -l), bytes: $(cat corpus/$target/* 2>/dev/null | wc -c)"
