#!/usr/bin/env bash
# Make the local base image ferry-base:bookworm in an engine without any registry: a Debian
# bookworm root made by debootstrap (minbase) with Ferry's build and runtime packages and
# mosquitto, imported with `docker import`. packaging/docker/Dockerfile builds on it when its
# BUILD_BASE/RUN_BASE arguments name it (tests/compose/test_compose.py does).
#
#   packaging/docker/base-image.sh SOCKET     (root; DOCKER_HOST is set to unix://SOCKET)
#
# The root's tarball is cached in ${FERRY_CACHE:-/var/cache/ferry-test}/ferry-base-HASH.tar.gz,
# HASH from the package list below; the image carries the label io.ferry.inputs=HASH and is not
# imported again when the engine has it. Measured on the 2-core development machine under load:
# cold (debootstrap from the default mirror, ~700 MB root, a 215 MB tarball) ~24 min; the import
# of a cached tarball 36 s; nothing when the engine has the image. A fresh engine (the tests'
# private dockerd keeps its images only while scripts/services.sh runs) pays the import.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

[[ $# -eq 1 ]] || {
    echo "usage: $0 SOCKET" >&2
    exit 2
}
[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap)"
export DOCKER_HOST=unix://$1
IMAGE=ferry-base:bookworm
# What packaging/docker/Dockerfile installs with apt when its base lacks it: keep both lists equal.
PACKAGES=(build-essential cmake pkg-config libpaho-mqtt-dev libmsgpack-dev liblmdb-dev libuv1-dev
    libcurl4-openssl-dev libjansson-dev libssl-dev libmicrohttpd-dev libhttp-parser-dev
    libsqlite3-dev libyaml-dev python3-minimal python3-yaml ca-certificates mosquitto)
FORMAT=1 # bump when the root changes in a way the package list does not show
HASH=$(echo "format $FORMAT ${PACKAGES[*]}" | sha256sum | cut -c1-16)
CACHE=${FERRY_CACHE:-/var/cache/ferry-test}
TAR=$CACHE/ferry-base-$HASH.tar.gz

have=$(docker image inspect -f '{{index .Config.Labels "io.ferry.inputs"}}' "$IMAGE" 2>/dev/null) || true
if [[ $have == "$HASH" ]]; then
    log "$IMAGE up to date ($HASH)"
    exit 0
fi
mkdir -p "$CACHE"
if [[ ! -s $TAR ]]; then
    command -v debootstrap >/dev/null || die "no debootstrap (apt-get install debootstrap)"
    root=$(mktemp -d "$CACHE/root.XXXXXX")
    trap 'umount_under "$root"; rm -rf --one-file-system "$root"' EXIT
    start=$SECONDS
    log "debootstrap bookworm (minbase + ${#PACKAGES[@]} packages) into $root"
    debootstrap --variant=minbase --include="$(
        IFS=,
        echo "${PACKAGES[*]}"
    )" bookworm "$root" >"$root.log" 2>&1 || {
        tail -n 30 "$root.log" >&2
        die "debootstrap failed (log: $root.log)"
    }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar --numeric-owner -C "$root" -czf "$TAR.tmp" .
    mv "$TAR.tmp" "$TAR"
    rm -f "$root.log"
    log "root cached in $TAR ($(du -h "$TAR" | cut -f1)) in $((SECONDS - start))s"
fi
start=$SECONDS
docker import --change "LABEL io.ferry.inputs=$HASH" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' "$TAR" "$IMAGE" >/dev/null
log "$IMAGE imported in $((SECONDS - start))s"
