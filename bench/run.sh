#!/usr/bin/env bash
# Run the benchmarks (deployments, function apps) on both engines with private services (like
# scripts/test.sh does) and print the figures beside the baselines measured in the same run.
# Nothing is asserted about speed.
#
#   bench/run.sh [RUNS]      (default 5 runs per figure; builds first with scripts/build.sh)
#
# FERRY_BENCH_FLEET=N (optional): also the fleet benchmark (bench_fleet.py) with N hollow nodes
# in FERRY_BENCH_FLEET_PROCS processes (16; the raw baselines use as many), stores on /dev/shm,
# 1,000 apps created (FERRY_BENCH_FLEET_APPS), figures in $PREFIX/bench-fleet-N.json and .png
# (needs no engine).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$FERRY_ROOT" || exit 1
export FERRY_BENCH_RUNS=${1:-5}
PREFIX=${FERRY_BUILD_PREFIX:-build}

scripts/deps.sh && scripts/build.sh || exit 1
SVC=$(mktemp -d /tmp/ferry-bench.XXXXXX)
trap 'scripts/services.sh stop "$SVC"' EXIT
scripts/services.sh start "$SVC" || exit 1
# shellcheck source=/dev/null
source "$SVC/env"
scripts/images.sh --sql-runtime "$PREFIX/runtimes/sql/ferry-sql-runtime" \
    "$FERRY_TEST_DOCKER_SOCK" "$FERRY_TEST_PODMAN_SOCK" || exit 1
rc=0
if [[ -n "${FERRY_BENCH_FLEET:-}" ]]; then
    python3 bench/bench_fleet.py --build-dir "$PREFIX" --nodes "$FERRY_BENCH_FLEET" \
        --nodes-dir /dev/shm --updates 3 --create-apps "${FERRY_BENCH_FLEET_APPS:-1000}" \
        --procs "${FERRY_BENCH_FLEET_PROCS:-16}" \
        --json "$PREFIX/bench-fleet-$FERRY_BENCH_FLEET.json" || rc=1
fi
for engine in docker podman; do
    python3 bench/bench_deploy.py --engine "$engine" --build-dir "$PREFIX" || rc=1
    python3 bench/bench_functions.py --engine "$engine" --build-dir "$PREFIX" || rc=1
done
exit $rc
