#!/usr/bin/env bash
# The C dialect check (a suite of scripts/test.sh): one way to write a comparison across the
# tree. Strings: `strcmp(a, b) == 0`, never `!strcmp(a, b)` (clang-tidy with .clang-tidy). Pointers:
# `p == NULL` / `p != NULL`, never `!p` or `if (p)` (clang-query with scripts/dialect.query: the
# clang-tidy check for that runs only on C++ in clang-tidy 14). Headers are checked through the
# files that include them.
#
#   scripts/dialect.sh BUILD_DIR FUZZ_BUILD_DIR   (their compile_commands.json; fuzz/*.c use the second)
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FERRY_ROOT" || exit 1
BUILD=${1:?usage: scripts/dialect.sh BUILD_DIR FUZZ_BUILD_DIR}
FUZZ=${2:?usage: scripts/dialect.sh BUILD_DIR FUZZ_BUILD_DIR}
QUERY=$(mktemp)
trap 'rm -f "$QUERY"' EXIT
grep -v '^#' scripts/dialect.query >"$QUERY"

# check_one FILE: prints the offending lines of FILE and of the headers it includes.
check_one() {
    local f=$1 db=$BUILD
    [[ $f == fuzz/* ]] && db=$FUZZ
    clang-tidy -p "$db" --quiet "$f" 2>/dev/null | grep -E "^$FERRY_ROOT/.*(warning|error):"
    clang-query -p "$db" -f "$QUERY" "$f" 2>/dev/null | grep "binds here" | grep "^$FERRY_ROOT/" |
        sed 's/: note: "root" binds here/: a pointer used as a truth value: compare it with NULL/'
}
export -f check_one
export BUILD FUZZ QUERY FERRY_ROOT
out=$(git ls-files '*.c' | xargs -P "${FERRY_JOBS:-2}" -I{} bash -c 'check_one {}' | sort -u)
if [[ -n $out ]]; then
    echo "$out"
    echo "not in Ferry's C dialect: $(wc -l <<<"$out") place(s) (see scripts/dialect.sh)"
    exit 1
fi
echo "every comparison is explicit ($(git ls-files '*.c' | wc -l) files)"
