#!/usr/bin/env bash
# Configure and build Ferry (incrementally; warnings are errors).
#
#   scripts/build.sh [--asan] [--fuzz] [--only]
#     build/        RelWithDebInfo                         (always, unless --only)
#     build-asan/   Debug, ASan+UBSan (-DFERRY_SANITIZE=ON) (--asan)
#     build-fuzz/   clang, libFuzzer targets, no tests     (--fuzz)
#
# FERRY_JOBS (default 2) sets the build parallelism; FERRY_BUILD_PREFIX (default "build") renames
# the folders (PREFIX, PREFIX-asan, PREFIX-fuzz), e.g. to build beside someone else's tree.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ASAN=0 FUZZ=0 NORMAL=1
for a in "$@"; do
    case $a in
    --asan) ASAN=1 ;;
    --fuzz) FUZZ=1 ;;
    --only) NORMAL=0 ;;
    -h | --help)
        sed -n '2,10p' "$0"
        exit 0
        ;;
    *) die "unknown option $a (see --help)" ;;
    esac
done
JOBS=${FERRY_JOBS:-2}
PREFIX=${FERRY_BUILD_PREFIX:-build}
cd "$FERRY_ROOT"

build() { # build DIR CMAKE_ARGS...
    local dir=$1
    shift
    log "configuring $dir"
    cmake -S . -B "$dir" "$@" >/dev/null
    log "building $dir (-j$JOBS)"
    cmake --build "$dir" -j "$JOBS"
}

if ((NORMAL)); then
    build "$PREFIX" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_WERROR=ON
fi
if ((ASAN)); then
    build "$PREFIX-asan" -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON -DFERRY_WERROR=ON
fi
if ((FUZZ)); then
    build "$PREFIX-fuzz" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DFERRY_FUZZ=ON -DFERRY_TESTS=OFF
fi
