#!/usr/bin/env bash
# Build the test images into each engine given by its socket (Docker or Podman); skips an image an
# engine already has. No registry is reachable here, so images are imported from local rootfs trees.
#
#   scripts/images.sh [--push REGISTRY] [--sql-runtime PATH] [--no-runtimes] SOCKET...
#
# --push REGISTRY (host:port) also pushes the test image there (through the first engine), with
# the credentials in FERRY_TEST_REGISTRY_USER/_PASS; skipped when the registry has it already.
# --sql-runtime PATH: the ferry-sql-runtime binary (default $FERRY_SQL_RUNTIME, else
# ${FERRY_BUILD_PREFIX:-build}/runtimes/sql/ferry-sql-runtime); without it the sql runtime image
# is skipped.
# --no-runtimes: the test image only.
#
# ferry-test/busybox:1  Debian's static busybox with a symlink for every applet in /bin (sh, httpd,
#                       nc, sleep, wget, ...), /www/index.html containing "ferry", PATH set.
#
# The function runtime images (runtimes/README.md), built from this machine's Debian files: the
# interpreter or binary with its shared libraries (the ldd closure, loader included), the runtime
# at /ferry/runtime/, /etc/passwd, /tmp, the CA bundle. Each carries the label io.ferry.inputs, a
# hash of what went into it (the runtime script, the path, size and mtime of every copied file,
# this script's image format); an image is rebuilt only when that hash changed.
# ferry/runtime-python3:1   /usr/bin/python3 and its standard library (no test/, idlelib,
#                           tkinter, ensurepip, lib2to3, pydoc_data, config-*/, site packages)
# ferry/runtime-nodejs10:1  /usr/bin/node (the Node.js apt installed; "nodejs10" is the name
#                           the product gave the runtime)
# ferry/runtime-sql:1       ferry-sql-runtime
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PUSH=""
BUILD_DIR=${FERRY_BUILD_PREFIX:-build} # what scripts/test.sh builds into
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$FERRY_ROOT/$BUILD_DIR
SQL_RUNTIME=${FERRY_SQL_RUNTIME:-$BUILD_DIR/runtimes/sql/ferry-sql-runtime}
RUNTIMES=1
while [[ ${1:-} == --* ]]; do
    case $1 in
    --push)
        PUSH=${2:?--push needs REGISTRY}
        shift 2
        ;;
    --sql-runtime)
        SQL_RUNTIME=${2:?--sql-runtime needs PATH}
        shift 2
        ;;
    --no-runtimes)
        RUNTIMES=0
        shift
        ;;
    *)
        echo "unknown option $1" >&2
        exit 2
        ;;
    esac
done
[[ $# -ge 1 ]] || {
    echo "usage: $0 [--push REGISTRY] [--sql-runtime PATH] [--no-runtimes] SOCKET..." >&2
    exit 2
}

BUSYBOX_IMAGE=ferry-test/busybox:1
# Debian's interpreter when there is one: engine.py needs the standard library only, and a
# version manager's python3 shim costs about a second per call.
PYTHON=python3
[[ -x /usr/bin/python3 ]] && PYTHON=/usr/bin/python3
ENGINE="$PYTHON $FERRY_SCRIPTS/engine.py"
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
declare -A WHAT # socket -> "docker 20.10.24 at SOCKET"
for sock in "$@"; do
    $ENGINE "$sock" ping || die "no engine answers on $sock"
    what="$($ENGINE "$sock" describe) at $sock"
    WHAT[$sock]=$what
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

# ---- function runtime images ---------------------------------------------------------------------
# Bump when what goes into a runtime image changes in a way its inputs' hash cannot see.
RUNTIME_IMAGE_FORMAT=1
INPUTS_LABEL=io.ferry.inputs

# elf_closure FILE...: the FILEs and every shared library they load (ldd), the dynamic loader
# included (ldd prints "FILE:" before each file's list when given several), and libgcc_s, which
# glibc loads itself to unwind a thread that exits (without it, "libgcc_s.so.1 must be installed
# for pthread_exit to work" and SIGABRT when python3 exits with threads alive).
elf_closure() {
    {
        printf '%s\n' "$@"
        ldconfig -p | awk '$1 == "libgcc_s.so.1" && /x86-64/ { print $NF; exit }'
        ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
            $1 ~ /^\// && $1 !~ /:$/ { print $1 }'
    } | sort -u
}

# python_files: the interpreter, its standard library (without what a runtime never needs) and the
# libraries of both.
python_files() {
    local py lib
    py=$(readlink -f /usr/bin/python3)
    lib=/usr/lib/$(basename "$py")
    [[ -x $py && -f $lib/os.py ]] || die "no python3 with its standard library in $lib"
    find "$lib" \( -name test -o -name tests -o -name idlelib -o -name tkinter -o -name turtledemo \
        -o -name ensurepip -o -name lib2to3 -o -name pydoc_data -o -name 'config-*' \
        -o -name site-packages -o -name dist-packages -o -name sitecustomize.py \) -prune \
        -o \( -type f -o -type l \) -print
    # shellcheck disable=SC2046 # one word per path
    elf_closure "$py" $(find "$lib/lib-dynload" -name '*.so')
}

node_files() {
    local node
    node=$(readlink -f "$(command -v node || command -v nodejs || echo /usr/bin/node)")
    [[ -x $node ]] || die "no node (apt-get install nodejs)"
    elf_closure "$node"
}

# runtime_inputs KIND: the host files that go into KIND's image, one a line ("" when the image
# cannot be built here).
runtime_inputs() {
    case $1 in
    python3) python_files ;;
    nodejs10) node_files ;;
    sql) [[ -x $SQL_RUNTIME ]] && elf_closure "$(readlink -f "$SQL_RUNTIME")" ;;
    esac
}

# runtime_hash KIND LISTFILE: hash of what goes into KIND's image.
runtime_hash() {
    {
        echo "format $RUNTIME_IMAGE_FORMAT kind $1"
        case $1 in
        python3) sha256sum "$FERRY_ROOT/runtimes/python3/ferry_runtime.py" | cut -d' ' -f1 ;;
        nodejs10) sha256sum "$FERRY_ROOT/runtimes/nodejs/ferry_runtime.js" | cut -d' ' -f1 ;;
        sql) echo "$SQL_RUNTIME" ;;
        esac
        tr '\n' '\0' <"$2" | xargs -0 stat -L -c '%n %s %Y'
        stat -L -c '%n %s %Y' /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true
    } | sha256sum | cut -c1-32
}

# runtime_tar KIND LISTFILE: builds KIND's rootfs from the files in LISTFILE, prints the tarball.
# Merged /usr as on Debian: /lib, /lib64 and /bin are links into /usr, where everything goes.
runtime_tar() {
    local kind=$1 list=$2 root="$WORK/rootfs-$1" tar="$WORK/runtime-$1.tar"
    rm -rf "$root"
    mkdir -p "$root"/{usr/bin,usr/lib,usr/lib64,etc/ssl/certs,tmp,root,proc,sys,dev}
    mkdir -p "$root"/ferry/{runtime,code,run}
    ln -s usr/bin "$root/bin"
    ln -s usr/lib "$root/lib"
    ln -s usr/lib64 "$root/lib64"
    chmod 1777 "$root/tmp"
    # The host files, links followed (a dangling one is left out), /lib... moved under /usr.
    sed 's,^/,,' "$list" | while read -r f; do [[ -e /$f ]] && echo "$f"; done |
        tar -C / --dereference -cf - --no-recursion \
            --transform 's,^\(lib\|lib64\|bin\|sbin\)/,usr/\1/,' -T - |
        tar -C "$root" -xf -
    printf 'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n' \
        >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
        cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    fi
    case $kind in
    python3)
        cp "$FERRY_ROOT/runtimes/python3/ferry_runtime.py" "$root/ferry/runtime/"
        [[ -e $root/usr/bin/python3 ]] ||
            ln -s "$(basename "$(readlink -f /usr/bin/python3)")" "$root/usr/bin/python3"
        ;;
    nodejs10)
        cp "$FERRY_ROOT/runtimes/nodejs/ferry_runtime.js" "$root/ferry/runtime/"
        [[ -e $root/usr/bin/node ]] ||
            ln -s "$(basename "$(readlink -f "$(command -v node || command -v nodejs)")")" \
                "$root/usr/bin/node"
        ;;
    sql)
        cp -L "$SQL_RUNTIME" "$root/ferry/runtime/ferry-sql-runtime"
        ;;
    esac
    tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tar" .
    rm -rf "$root"
    echo "$tar"
}

# runtime_changes KIND HASH: the image settings (one argument each) for engine.py import.
runtime_changes() {
    local cmd
    case $1 in
    python3) cmd='["/usr/bin/python3", "/ferry/runtime/ferry_runtime.py"]' ;;
    nodejs10) cmd='["/usr/bin/node", "/ferry/runtime/ferry_runtime.js"]' ;;
    sql) cmd='["/ferry/runtime/ferry-sql-runtime"]' ;;
    esac
    printf '%s\n' "ENV FERRY_RUNTIME=$1" 'ENV FERRY_CODE_DIR=/ferry/code' \
        'ENV FERRY_SOCKET=/ferry/run/runtime.sock' 'ENV PATH=/usr/bin:/bin' 'ENV LANG=C.UTF-8' \
        'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
    [[ $1 == python3 ]] && printf '%s\n' 'ENV PYTHONUNBUFFERED=1' 'ENV PYTHONDONTWRITEBYTECODE=1'
    printf '%s\n' "LABEL $INPUTS_LABEL=$2" "LABEL io.ferry.runtime=$1" 'WORKDIR /ferry/code' \
        "CMD $cmd"
}

human() { numfmt --to=iec --suffix=B "$1"; }

if ((RUNTIMES)); then
    for kind in python3 nodejs10 sql; do
        image=ferry/runtime-$kind:1
        list="$WORK/inputs-$kind"
        runtime_inputs "$kind" >"$list" || true
        if [[ ! -s $list ]]; then
            log "$image skipped: no ferry-sql-runtime at $SQL_RUNTIME (--sql-runtime PATH)"
            continue
        fi
        hash=$(runtime_hash "$kind" "$list")
        tar=""
        for sock in "$@"; do
            what=${WHAT[$sock]}
            size="" label="" old=""
            read -r size label < <($ENGINE "$sock" image-info "$image" "$INPUTS_LABEL") || true
            if [[ -n $size && $label == "$hash" ]]; then
                log "$image up to date in $what ($(human "$size"))"
                continue
            fi
            if [[ -z $tar ]]; then
                start=$SECONDS
                tar=$(runtime_tar "$kind" "$list")
                log "$image rootfs: $(wc -l <"$list") files, $(human "$(stat -c %s "$tar")")" \
                    "tarball in $((SECONDS - start))s"
            fi
            start=$SECONDS
            mapfile -t changes < <(runtime_changes "$kind" "$hash")
            if [[ -n $size ]]; then
                old=$($ENGINE "$sock" image-id "$image") || old=""
            fi
            if $ENGINE "$sock" import "$image" "$tar" "${changes[@]}"; then
                read -r size label < <($ENGINE "$sock" image-info "$image") || true
                log "$image imported into $what in $((SECONDS - start))s ($(human "${size:-0}"))"
                # The image it replaces, now untagged (kept while a container uses it).
                if [[ -n $old ]]; then
                    $ENGINE "$sock" rm-image "$old" 2>/dev/null || true
                fi
            else
                rc=1
            fi
        done
        [[ -n $tar ]] && rm -f "$tar"
    done
fi

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
