#!/usr/bin/env bash
# Build the test images into each engine given by its socket (Docker or Podman); skips an image an
# engine already has. No registry is reachable here, so images are imported from local rootfs trees.
#
#   scripts/images.sh SOCKET...
#
# ferry-test/busybox:1  Debian's static busybox with a symlink for every applet in /bin (sh, httpd,
#                       nc, sleep, wget, ...), /www/index.html containing "ferry", PATH set.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -ge 1 ]] || {
    echo "usage: $0 SOCKET..." >&2
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
exit $rc
