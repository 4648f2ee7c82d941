#!/usr/bin/env bash
# Build the test images into each engine given by its socket (Docker or Podman); skips an image an
# engine already has. No registry is reachable here, so images are imported from local rootfs trees.
#
#   scripts/images.sh [--push REGISTRY] SOCKET...
#
# --push REGISTRY (host:port) also pushes the images there (through the first engine), with the
# credentials in FERRY_TEST_REGISTRY_USER/_PASS; skipped when the registry has them already.
#
# ferry-test/busybox:1  Debian's static busybox with a symlink for every applet in /bin (sh, httpd,
#                       nc, sleep, wget, ...), /www/index.html containing "ferry", PATH set.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PUSH=""
if [[ ${1:-} == --push ]]; then
    PUSH=${2:?--push needs REGISTRY}
    shift 2
fi
[[ $# -ge 1 ]] || {
    echo "usage: $0 [--push REGISTRY] SOCKET..." >&2
    exit 2
}

BUSYBOX_IMAGE=ferry-test/busybox:1
ENGINE="python3 $FERRY_SCRIPTS/engine.py"
WORK=$(mktemp -d /tmp/ferry-images.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

busybox_tar() {
    local tar="$WORK/busybox.tar" root="$WORK/busybox" applet
    [[ -f $tar ]] && {
        echo "$tar"
        return
    }
    [[ -x /bin/busybox ]] || die "/bin/busybox missing (apt-get install busybox-static)"
    mkdir -p "$root"/{bin,etc,tmp,www,root,proc,sys,dev}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [[ $applet == busybox ]] || ln -s busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' \
        >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    echo "ferry" >"$root/www/index.html"
    tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tar" .
    echo "$tar"
}

rc=0
for sock in "$@"; do
    $ENGINE "$sock" ping || die "no engine answers on $sock"
    what="$($ENGINE "$sock" describe) at $sock"
    if $ENGINE "$sock" image-present "$BUSYBOX_IMAGE"; then
        log "$BUSYBOX_IMAGE already in $what"
        continue
    fi
    if $ENGINE "$sock" import "$BUSYBOX_IMAGE" "$(busybox_tar)" \
        'ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin' 'WORKDIR /' 'CMD ["sh"]'; then
        log "$BUSYBOX_IMAGE imported into $what"
    else
        rc=1
    fi
done

# in_registry NAME:TAG: the registry serves a manifest for it.
in_registry() {
    curl -sf -o /dev/null -u "${FERRY_TEST_REGISTRY_USER:-}:${FERRY_TEST_REGISTRY_PASS:-}" \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://$PUSH/v2/${1%:*}/manifests/${1##*:}"
}
if [[ -n $PUSH && $rc -eq 0 ]]; then
    if in_registry "$BUSYBOX_IMAGE"; then
        log "$BUSYBOX_IMAGE already in the registry $PUSH"
    elif $ENGINE "$1" push "$BUSYBOX_IMAGE" "$PUSH" && in_registry "$BUSYBOX_IMAGE"; then
        log "$BUSYBOX_IMAGE pushed to the registry $PUSH"
    else
        log "pushing $BUSYBOX_IMAGE to $PUSH failed"
        rc=1
    fi
fi
exit $rc
