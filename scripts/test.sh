#!/usr/bin/env bash
# THE test command (README, .ci/run). On a fresh Debian 12 machine, as root: installs what is
# missing, builds three ways (warnings are errors), checks formatting and the C dialect, starts
# private services, runs unit tests under ASan/UBSan, integration and end-to-end tests against
# Docker and Podman, and the fuzzers for a few seconds each; then stops everything it started. Ends with
# "N passed, M failed" (suites) and exits non-zero when anything failed.
#
# FERRY_BUILD_PREFIX (default "build") renames the build folders; FERRY_FUZZ_SECONDS (default 15).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FERRY_ROOT" || exit 1

PREFIX=${FERRY_BUILD_PREFIX:-build}
FUZZ_SECONDS=${FERRY_FUZZ_SECONDS:-15}
PASSED=()
FAILED=()
declare -A OK=()
SVC=""
START=$SECONDS

# suite NAME CMD...: run one suite, record its result.
suite() {
    local name=$1 t0=$SECONDS
    shift
    printf '\n===== %s: %s\n' "$name" "$*"
    if "$@"; then
        PASSED+=("$name")
        OK[$name]=1
        printf '===== %s passed (%ss)\n' "$name" $((SECONDS - t0))
    else
        FAILED+=("$name")
        printf '===== %s FAILED (%ss)\n' "$name" $((SECONDS - t0))
    fi
}

# not_run NAME WHY: a suite that could not run counts as failed.
not_run() {
    FAILED+=("$1")
    printf '\n===== %s FAILED: not run, %s\n' "$1" "$2"
}

format_check() {
    local dirs=() d f bad=()
    for d in include schema broker-bridge edge-sync ferryctl tests fuzz bench daemon runtimes; do
        [[ -d $d ]] && dirs+=("$d")
    done
    while IFS= read -r f; do
        clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
    done < <(find "${dirs[@]}" -type f \( -name '*.c' -o -name '*.h' \) | sort)
    if ((${#bad[@]})); then
        echo "not clang-formatted (fix: clang-format -i FILE):"
        printf '  %s\n' "${bad[@]}"
        return 1
    fi
    echo "all files formatted"
}

start_services() {
    SVC=$(mktemp -d /tmp/ferry-test.XXXXXX) || return 1
    # shellcheck source=/dev/null
    scripts/services.sh start "$SVC" && source "$SVC/env"
}

stop_services() {
    [[ -n $SVC ]] || return 0
    if ((${#FAILED[@]})) && [[ -d $SVC ]]; then
        mkdir -p "$PREFIX/test-logs"
        cp "$SVC"/*.log "$PREFIX/test-logs/" 2>/dev/null &&
            echo "service logs copied to $PREFIX/test-logs/"
    fi
    local dir=$SVC
    SVC=""
    scripts/services.sh stop "$dir"
}

ctest_unit() {
    ctest --test-dir "$PREFIX-asan" -L unit --output-on-failure -j2 --timeout 300
}

ctest_integration() {
    FERRY_BUILD_DIR="$FERRY_ROOT/$PREFIX" ctest --test-dir "$PREFIX" -LE unit \
        -E '^packaging_debs$' --output-on-failure --timeout 600
}

# The .deb packages (tests/packaging: their own build, lintian, a debootstrap root) need no
# service and take minutes, most of them waiting on dpkg and the mirror: they run beside the
# other suites, from the end of the builds; their result is collected before the cleanup.
PKG_PID=""
packaging_start() {
    rm -f "$PREFIX/packaging-test.rc"
    (
        ctest --test-dir "$PREFIX" -R '^packaging_debs$' --output-on-failure --timeout 1800 \
            >"$PREFIX/packaging-test.log" 2>&1
        echo $? >"$PREFIX/packaging-test.rc"
    ) &
    PKG_PID=$!
    echo "packaging test started in the background (log: $PREFIX/packaging-test.log)"
}

packaging_wait() {
    [[ -n $PKG_PID ]] || return 1
    wait "$PKG_PID"
    PKG_PID=""
    cat "$PREFIX/packaging-test.log"
    [[ $(cat "$PREFIX/packaging-test.rc" 2>/dev/null) == 0 ]]
}

on_exit() {
    local rc=$?
    [[ -n $PKG_PID ]] && kill -- "$PKG_PID" 2>/dev/null
    if [[ -n $SVC ]]; then
        echo "stopping services in $SVC"
        stop_services || true
    fi
    exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT TERM

export FERRY_BUILD_PREFIX=$PREFIX
suite deps scripts/deps.sh
if [[ -z ${OK[deps]:-} ]]; then
    echo "0 passed, 1 failed"
    exit 1
fi
suite build scripts/build.sh
suite build-asan scripts/build.sh --only --asan
suite build-fuzz scripts/build.sh --only --fuzz
if [[ -n ${OK[build]:-} ]]; then
    packaging_start
fi
suite format format_check
if [[ -n ${OK[build]:-} && -n ${OK[build-fuzz]:-} ]]; then
    suite dialect scripts/dialect.sh "$PREFIX" "$PREFIX-fuzz"
else
    not_run dialect "a build failed"
fi
suite services start_services
if [[ -n ${OK[services]:-} ]]; then
    suite images scripts/images.sh --push "$FERRY_TEST_REGISTRY" \
        --sql-runtime "$PREFIX/runtimes/sql/ferry-sql-runtime" "$FERRY_TEST_DOCKER_SOCK" \
        "$FERRY_TEST_PODMAN_SOCK"
else
    not_run images "the services did not start"
fi

if [[ -n ${OK[build-asan]:-} ]]; then
    suite unit ctest_unit
else
    not_run unit "the ASan build failed"
fi
if [[ -z ${OK[build]:-} ]]; then
    not_run integration "the build failed"
elif [[ -z ${OK[images]:-} ]]; then
    not_run integration "the services or images are missing"
else
    suite integration ctest_integration
fi
if [[ -x fuzz/run.sh || -f fuzz/run.sh ]]; then
    if [[ -n ${OK[build-fuzz]:-} ]]; then
        suite fuzz bash fuzz/run.sh "$PREFIX-fuzz" "$FUZZ_SECONDS"
    else
        not_run fuzz "the fuzz build failed"
    fi
fi
if [[ -n $PKG_PID ]]; then
    suite packaging packaging_wait
else
    not_run packaging "the build failed"
fi
[[ -n $SVC ]] && suite cleanup stop_services

printf '\n===== summary (%ss)\n' $((SECONDS - START))
((${#PASSED[@]})) && echo "passed: ${PASSED[*]}"
((${#FAILED[@]})) && echo "FAILED: ${FAILED[*]}"
echo "${#PASSED[@]} passed, ${#FAILED[@]} failed"
((${#FAILED[@]} == 0))
