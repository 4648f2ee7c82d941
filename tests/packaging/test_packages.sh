#!/usr/bin/env bash
# The .deb packages end to end: build them (Release, cpack in a build folder of their own), run
# lintian (no errors; warnings listed), install them with apt into a clean Debian bookworm root
# made by debootstrap, and check there the files, the conffiles, the system user, that the
# binaries find their libraries, `systemd-analyze verify` of the units, and purge.
#
#   tests/packaging/test_packages.sh SOURCE_DIR WORK_DIR     (root; 77 = skipped)
#
# The root (minbase plus systemd: the packages' target runs it, and `systemd-analyze verify --root`
# needs its units) is cached as ${FERRY_CACHE:-/var/cache/ferry-test}/bookworm-minbase-systemd.tar.gz and
# never invalidated (delete it to refresh); apt-get update and the packages' dependencies come from
# the default mirror on every run. Measured on the 2-core development machine under load (load
# average ~18): cold (no cache, nothing built) ~16 min, of which debootstrap ~11 min and the
# build ~3 min; warm (root cached, build folder kept) ~3 min, of which lintian ~1 min. A CI machine
# that starts empty pays the cold cost unless it keeps $FERRY_CACHE.
set -euo pipefail
SRC=$(cd "${1:?usage: $0 SOURCE_DIR WORK_DIR}" && pwd)
WORK=${2:?usage: $0 SOURCE_DIR WORK_DIR}
source "$SRC/scripts/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
    echo "skipped: needs root (debootstrap, chroot)"
    exit 77
fi
for tool in cpack lintian debootstrap dpkg-shlibdeps systemd-analyze scdoc; do
    command -v "$tool" >/dev/null || die "no $tool (scripts/deps.sh installs it)"
done
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
BUILD=$WORK/build
ROOT=$WORK/root
CACHE=${FERRY_CACHE:-/var/cache/ferry-test}
BASE=$CACHE/bookworm-minbase-systemd.tar.gz
FAILS=0
T0=$SECONDS

step() { log "[$((SECONDS - T0))s] $*"; }
check() { # check WHAT CMD...: one line per check, counted
    if "${@:2}" >/dev/null 2>&1; then
        echo "ok   $1"
    else
        echo "FAIL $1"
        FAILS=$((FAILS + 1))
    fi
}
in_root() { chroot "$ROOT" "$@"; }
cleanup() {
    umount_under "$ROOT"
    rm -rf --one-file-system "$ROOT"
}
trap cleanup EXIT

# ---- build and package -----------------------------------------------------------------------
step "building the packages in $BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFERRY_TESTS=OFF \
    -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON -DCMAKE_INSTALL_PREFIX=/usr >"$WORK/cmake.log" 2>&1 ||
    { tail -n 30 "$WORK/cmake.log"; die "cmake failed"; }
cmake --build "$BUILD" -j2 --target broker-bridge edge-sync ferry-pause ferryctl ferry_packaging \
    >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log"; die "build failed"; }
rm -f "$BUILD"/*.deb
(cd "$BUILD" && cpack -G DEB) >"$WORK/cpack.log" 2>&1 || { tail -n 30 "$WORK/cpack.log"; die "cpack failed"; }
mapfile -t DEBS < <(ls "$BUILD"/*.deb)
[[ ${#DEBS[@]} -eq 3 ]] || die "expected 3 packages, got: ${DEBS[*]}"
for deb in "${DEBS[@]}"; do
    echo "$(basename "$deb"): Depends: $(dpkg-deb -f "$deb" Depends)"
done

# ---- lintian -----------------------------------------------------------------------------------
step "lintian"
lintian --tag-display-limit 0 "${DEBS[@]}" >"$WORK/lintian.log" 2>&1 || true
grep -E '^[EWI]: ' "$WORK/lintian.log" || echo "(lintian: no tags)"
check "lintian reports no errors" bash -c "! grep -q '^E: ' '$WORK/lintian.log'"

# ---- a clean root ------------------------------------------------------------------------------
if [[ ! -s $BASE ]]; then
    step "debootstrap --variant=minbase --include=systemd bookworm (cached afterwards in $BASE)"
    mkdir -p "$CACHE"
    rm -rf --one-file-system "$ROOT"
    debootstrap --variant=minbase --include=systemd bookworm "$ROOT" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 30 "$WORK/debootstrap.log"; die "debootstrap failed"; }
    umount_under "$ROOT"
    rm -rf "$ROOT"/var/cache/apt/archives/*.deb
    tar --numeric-owner -C "$ROOT" -czf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
    cleanup
fi
step "unpacking the clean root from $BASE"
mkdir -p "$ROOT"
tar --numeric-owner -C "$ROOT" -xzf "$BASE"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount -t proc proc "$ROOT/proc"
mkdir -p "$ROOT/tmp/debs"
cp "${DEBS[@]}" "$ROOT/tmp/debs/"

step "apt-get install of the three packages in the root"
export DEBIAN_FRONTEND=noninteractive
in_root apt-get update -q >"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log"; die "apt-get update failed"; }
IN_ROOT_DEBS=()
for deb in "${DEBS[@]}"; do IN_ROOT_DEBS+=("/tmp/debs/$(basename "$deb")"); done
in_root apt-get install -y -q --no-install-recommends "${IN_ROOT_DEBS[@]}" >>"$WORK/apt.log" 2>&1 ||
    { tail -n 30 "$WORK/apt.log"; die "apt-get install failed"; }
grep -E '^(Setting up|Unpacking) ' "$WORK/apt.log" | grep -ci 'ferry' |
    xargs -I{} echo "apt: {} lines about the ferry packages (log: $WORK/apt.log)"

# ---- what is there -----------------------------------------------------------------------------
step "checks"
for f in /usr/bin/broker-bridge /usr/bin/edge-sync /usr/bin/ferryctl /usr/libexec/ferry/ferry-pause; do
    check "$f is executable" test -x "$ROOT$f"
done
for f in /lib/systemd/system/broker-bridge.service /lib/systemd/system/edge-sync.service \
    /etc/ferry/broker-bridge.env /etc/ferry/edge-sync.env \
    /usr/share/man/man8/broker-bridge.8.gz /usr/share/man/man8/edge-sync.8.gz \
    /usr/share/man/man1/ferryctl.1.gz /usr/share/doc/ferry-broker-bridge/copyright \
    /usr/share/doc/ferry-edge-sync/copyright /usr/share/doc/ferryctl/copyright \
    /usr/share/ferry/console/index.html; do
    check "$f exists" test -s "$ROOT$f"
done
# The binaries load every library they need from what apt installed (Depends from shlibdeps).
check "broker-bridge --help runs in the root" bash -c "chroot '$ROOT' broker-bridge --help | grep -q '^usage: broker-bridge'"
check "broker-bridge's default --console-dir is where the package puts the console" bash -c "chroot '$ROOT' broker-bridge --help | grep -q '(/usr/share/ferry/console when it exists'"
check "edge-sync --help runs in the root" bash -c "chroot '$ROOT' edge-sync --help | grep -q '^usage: edge-sync'"
check "ferryctl runs in the root" bash -c "chroot '$ROOT' ferryctl --help 2>&1 | grep -q '^usage: ferryctl'"
check "ferry-pause is static" bash -c "file -b '$ROOT/usr/libexec/ferry/ferry-pause' 2>/dev/null | grep -q 'statically linked' || ! chroot '$ROOT' ldd /usr/libexec/ferry/ferry-pause"
check "the system user ferry exists (uid < 1000, no login shell)" bash -c \
    "chroot '$ROOT' getent passwd ferry | awk -F: '\$3 < 1000 && \$7 ~ /nologin|false/ { ok = 1 } END { exit !ok }'"
check "the group ferry exists" in_root getent group ferry
check "broker-bridge.env is a conffile" bash -c "chroot '$ROOT' dpkg-query -W -f='\${Conffiles}' ferry-broker-bridge | grep -q /etc/ferry/broker-bridge.env"
check "edge-sync.env is a conffile" bash -c "chroot '$ROOT' dpkg-query -W -f='\${Conffiles}' ferry-edge-sync | grep -q /etc/ferry/edge-sync.env"
check "man broker-bridge renders" bash -c "zcat '$ROOT/usr/share/man/man8/broker-bridge.8.gz' | grep -q '^\.SH'"

# systemd-analyze verify --root: the host's systemd-analyze reads the units, the targets they name
# (the root's systemd package) and their ExecStart binaries from inside the root. --man=no: it would
# look the Documentation= man pages up on the host (they are checked above).
for unit in broker-bridge.service edge-sync.service; do
    if systemd-analyze verify --man=no --root="$ROOT" "/lib/systemd/system/$unit" >"$WORK/verify-$unit.log" 2>&1 &&
        ! grep -v -e '^$' "$WORK/verify-$unit.log" | grep -q .; then
        echo "ok   systemd-analyze verify $unit"
    else
        echo "FAIL systemd-analyze verify $unit:"
        sed 's/^/     /' "$WORK/verify-$unit.log"
        FAILS=$((FAILS + 1))
    fi
done

# ---- purge -------------------------------------------------------------------------------------
step "purge"
in_root dpkg --purge ferry-broker-bridge ferry-edge-sync ferryctl >"$WORK/purge.log" 2>&1 ||
    { cat "$WORK/purge.log"; FAILS=$((FAILS + 1)); }
check "purge removed /etc/ferry/broker-bridge.env" test ! -e "$ROOT/etc/ferry/broker-bridge.env"
check "purge removed the user ferry" bash -c "! chroot '$ROOT' getent passwd ferry"

step "done: $FAILS failed"
((FAILS == 0))
