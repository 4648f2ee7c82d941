#!/usr/bin/env bash
# Install (Debian 12) every package Ferry needs to build, test and run; does nothing when all are
# there. Runs apt-get update only when something is missing. Needs root for that case only.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(
    # build
    build-essential cmake pkg-config clang libclang-rt-14-dev clang-format clang-tidy clang-tools-14
    # libraries
    libpaho-mqtt-dev libmsgpack-dev liblmdb-dev lmdb-utils libuv1-dev libcmocka-dev
    libcurl4-openssl-dev libjansson-dev libssl-dev libmicrohttpd-dev
    libhttp-parser-dev libsqlite3-dev # the node gateway, the sql function runtime
    libyaml-dev # ferryctl's manifests
    nodejs # the nodejs10 function runtime image is built from the Node.js apt installs
    # services the tests and scripts/up.sh run (mosquitto ships mosquitto_ctrl and the
    # dynamic-security plugin that scripts/mqtts.sh uses)
    mosquitto mosquitto-clients docker.io podman runc busybox-static docker-registry apache2-utils
    netavark # Podman's network backend (only a Recommends); scripts/services.sh configures it
    # tools the scripts and tests use
    python3 python3-jsonschema python3-pytest python3-yaml curl iproute2 iptables openssl # scripts/pki.sh
    prometheus # promtool checks the /metrics text (tests/bridge/test_metrics.py)
    chromium chromium-driver python3-selenium # the web console's browser test (console/)
    gnuplot-nox # bench/bench_fleet.py's chart
    # packaging (packaging/, tests/packaging, tests/compose): dpkg-shlibdeps for CPack's Depends,
    # man pages, lintian, a clean root, systemd-analyze verify, Debian's Compose (1.29)
    dpkg-dev scdoc lintian debootstrap systemd docker-compose
)

missing=()
for p in "${PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    log "all ${#PACKAGES[@]} packages present"
    exit 0
fi

log "missing: ${missing[*]}"
[[ $(id -u) -eq 0 ]] || die "run as root to install them: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The packages' postinst may start system services (docker, mosquitto); the scripts never use them.
apt-get update -q
# With Recommends: Podman needs some of them (netavark, an init): docs/platform.md.
apt-get install -y -q -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold "${missing[@]}"
log "installed: ${missing[*]}"
