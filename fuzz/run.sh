#!/bin/sh
# Run every libFuzzer target built in BUILD_DIR/fuzz for SECONDS each, on its corpus in
# fuzz/corpus-<target>/ (kept between runs, git-ignored) plus fresh seeds from our own encoder.
# Builds nothing. Crash inputs land in fuzz/corpus-<target>-crashes/. Exit 1 if any target failed.
# usage: fuzz/run.sh BUILD_DIR SECONDS
set -eu
if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
ferryctl=${FERRYCTL:-$build/ferryctl/ferryctl}
fuzz_seeds=${FERRY_FUZZ_SEEDS:-$build/fuzz/ferry-fuzz-seeds}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

"$here/seed.sh" "$work/seeds" "$ferryctl" "$fuzz_seeds" >/dev/null
status=0
found=0
for bin in "$build"/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    found=$((found + 1))
    name=$(basename "$bin")
    corpus="$here/corpus-$name"
    crashes="$here/corpus-$name-crashes"
    mkdir -p "$corpus" "$crashes" "$work/seeds/$name"
    log="$work/$name.log"
    if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "$work/seeds/$name" \
        >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "ok   $name: ${runs:-?} runs in ${secs}s, corpus $(ls "$corpus" | wc -l) files"
    else
        status=1
        echo "FAIL $name (log tail below; crash input in $crashes/)"
        tail -n 40 "$log"
    fi
done
if [ "$found" -eq 0 ]; then
    echo "no fuzz targets in $build/fuzz (configure with CC=clang -DFERRY_FUZZ=ON)" >&2
    exit 1
fi
exit $status
