#!/bin/sh
# Run every libFuzzer target built in BUILD_DIR/fuzz for SECONDS each, on its corpus in
# fuzz/corpus-<target>/ (kept between runs, git-ignored) plus fresh seeds from our own encoder.
# Builds nothing. Crash inputs land in fuzz/corpus-<target>-crashes/. Exit 1 if any target failed.
# Targets run FERRY_FUZZ_JOBS at a time (default: the number of cores).
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
# run_one BIN: fuzz one target; its verdict line goes to $work/NAME.verdict (and its log tail
# after a failure), so that targets can run side by side and still report in order.
run_one() {
    name=$(basename "$1")
    corpus="$here/corpus-$name"
    crashes="$here/corpus-$name-crashes"
    mkdir -p "$corpus" "$crashes" "$work/seeds/$name"
    log="$work/$name.log"
    if "$1" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "$work/seeds/$name" \
        >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "ok   $name: ${runs:-?} runs in ${secs}s, corpus $(ls "$corpus" | wc -l) files" \
            >"$work/$name.verdict"
    else
        {
            echo "FAIL $name (log tail below; crash input in $crashes/)"
            tail -n 40 "$log"
        } >"$work/$name.verdict"
    fi
}

# FERRY_FUZZ_JOBS targets at a time (each libFuzzer run uses one core): the number of cores.
jobs=${FERRY_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
status=0
found=0
for bin in "$build"/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    found=$((found + 1))
    run_one "$bin" &
    if [ $((found % jobs)) -eq 0 ]; then
        wait
    fi
done
wait
for bin in "$build"/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    verdict="$work/$(basename "$bin").verdict"
    if [ -f "$verdict" ]; then
        cat "$verdict"
        grep -q '^ok ' "$verdict" || status=1
    else
        echo "FAIL $(basename "$bin"): no verdict"
        status=1
    fi
done
if [ "$found" -eq 0 ]; then
    echo "no fuzz targets in $build/fuzz (configure with CC=clang -DFERRY_FUZZ=ON)" >&2
    exit 1
fi
exit $status
