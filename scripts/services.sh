#!/usr/bin/env bash
# Start or stop, privately inside one folder, the services the integration and end-to-end tests use:
# mosquitto (plain and anonymous), a secure mosquitto beside it (TLS, credentials, the
# dynamic-security plugin: scripts/mqtts.sh), dockerd, the Podman service and a registry with
# htpasswd auth, on free loopback ports.
#
#   scripts/services.sh start DIR   start them (again: no-op when all run), write DIR/env
#   scripts/services.sh stop DIR    stop them, remove their containers, mounts and DIR
#
# DIR/env holds `export` lines (FERRY_TEST_MQTT_PORT, FERRY_TEST_DOCKER_SOCK, FERRY_TEST_PODMAN_SOCK,
# FERRY_TEST_REGISTRY, FERRY_TEST_REGISTRY_USER/PASS, CONTAINERS_CONF, ...) for `source`; for the
# secure broker: FERRY_TEST_MQTTS (ssl://127.0.0.1:PORT), FERRY_TEST_CA (the CA certificate to
# pin), FERRY_TEST_MQTT_BRIDGE_USER/PASS (broker-bridge's client, which administers the plugin)
# FERRY_TEST_MQTT_ADMIN_USER/PASS (the plugin's admin; also reads every topic) and
# FERRY_TEST_MQTT_ROOT_USER/PASS (a test client that may publish and read every topic).
# Logs: DIR/{mosquitto,mosquitto-tls,registry,docker,podman}.log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}
[[ $# -eq 2 ]] || usage
CMD=$1
DIR=$2
TIMEOUT_ENGINE=${FERRY_SERVICE_TIMEOUT:-90}

[[ $(id -u) -eq 0 ]] || die "needs root (dockerd, the Podman service and bridges)"

# The Podman environment of this DIR (also used by stop, for the podman CLI fallback).
podman_env() {
    export CONTAINERS_CONF="$DIR/podman/containers.conf"
    export CONTAINERS_STORAGE_CONF="$DIR/podman/storage.conf"
    export CONTAINERS_REGISTRIES_CONF="$DIR/podman/registries.conf"
    export XDG_RUNTIME_DIR="$DIR/podman/xdg"
}

all_running() {
    [[ -s $DIR/env ]] || return 1
    local p
    for p in mosquitto/pid mqtts/pid registry/pid docker/dockerd.pid podman/pid; do
        pid_alive "$DIR/$p" || return 1
    done
    (
        # shellcheck source=/dev/null
        source "$DIR/env"
        mqtt_ping "$FERRY_TEST_MQTT_PORT" && engine_ping "$FERRY_TEST_DOCKER_SOCK" &&
            engine_ping "$FERRY_TEST_PODMAN_SOCK"
    ) >/dev/null 2>&1
}

start_mosquitto() {
    local port
    mkdir -p "$DIR/mosquitto"
    port=$(free_port)
    cat >"$DIR/mosquitto/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
max_queued_messages 100000
persistence false
log_dest stdout
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
EOF
    start_bg "$DIR/mosquitto/pid" "$DIR/mosquitto.log" mosquitto -c "$DIR/mosquitto/mosquitto.conf"
    wait_for "mosquitto (127.0.0.1:$port)" 15 "$DIR/mosquitto/pid" "$DIR/mosquitto.log" \
        mqtt_ping "$port"
    MQTT_PORT=$port
}

# The secure broker; its own state (CA, credentials, the plugin's file) in DIR/mqtts.
start_mosquitto_tls() {
    "$FERRY_SCRIPTS/mqtts.sh" start "$DIR/mqtts" --log "$DIR/mosquitto-tls.log"
    # shellcheck source=/dev/null
    source "$DIR/mqtts/env"
    make_test_root
}

# A client of the secure broker that may publish and read every topic (tests only): the tests'
# observer, and their stand-in for a broker that delivers forgeries (tests/e2e/test_trust.py).
make_test_root() {
    ROOT_USER=ferry-test-root
    ROOT_PASS=$(openssl rand -hex 16)
    # shellcheck disable=SC2016 # $CONTROL is no variable
    python3 - "$ROOT_USER" "$ROOT_PASS" <<'PY' |
import json, sys
user, password = sys.argv[1], sys.argv[2]
acls = [{"acltype": k, "topic": "#", "allow": True, "priority": 0}
        for k in ("publishClientSend", "publishClientReceive", "subscribePattern",
                  "unsubscribePattern")]
role = [{"rolename": user}]
print(json.dumps({"commands": [
    {"command": "createRole", "rolename": user},
    {"command": "modifyRole", "rolename": user, "acls": acls},
    {"command": "createClient", "username": user, "password": password, "roles": role},
    {"command": "modifyClient", "username": user, "password": password, "roles": role},
]}))
PY
        mosquitto_pub -h 127.0.0.1 -p "${FERRY_MQTTS##*:}" --cafile "$FERRY_MQTTS_CA" \
            -u "$FERRY_MQTTS_ADMIN_USER" -P "$FERRY_MQTTS_ADMIN_PASS" -q 1 \
            -t '$CONTROL/dynamic-security/v1' -s
}

registry_ready() {
    curl -sf --max-time 2 -u "$REGISTRY_USER:$REGISTRY_PASS" "http://$REGISTRY/v2/"
}

start_registry() {
    local port
    mkdir -p "$DIR/registry/data"
    port=$(free_port)
    REGISTRY="127.0.0.1:$port"
    REGISTRY_USER=ferry
    REGISTRY_PASS=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
    htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASS" >"$DIR/registry/htpasswd"
    cat >"$DIR/registry/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $DIR/registry/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
  secret: $(python3 -c 'import secrets; print(secrets.token_hex(16))')
auth:
  htpasswd:
    realm: ferry-test
    path: $DIR/registry/htpasswd
EOF
    start_bg "$DIR/registry/pid" "$DIR/registry.log" docker-registry serve "$DIR/registry/config.yml"
    wait_for "registry ($REGISTRY)" 20 "$DIR/registry/pid" "$DIR/registry.log" registry_ready
}

start_podman() {
    local net br p="$DIR/podman"
    mkdir -p "$p/storage" "$p/run" "$p/tmp" "$p/xdg" "$p/networks"
    chmod 700 "$p/xdg"
    podman_env
    cat >"$p/storage.conf" <<EOF
[storage]
driver = "${FERRY_PODMAN_STORAGE_DRIVER:-overlay}"
graphroot = "$p/storage"
runroot = "$p/run"
EOF
    cat >"$p/registries.conf" <<EOF
unqualified-search-registries = []
[[registry]]
location = "$REGISTRY"
insecure = true
EOF
    if [[ ! -f $p/networks/ferry-test.json ]]; then
        # Written by hand: podman 4.3's `network create` cannot name the bridge.
        net=$(reserve_subnet "$p") || die "no subnet for the Podman network"
        br=$(bridge_name fp "$DIR")
        cat >"$p/networks/ferry-test.json" <<EOF
{
  "name": "ferry-test",
  "id": "$(printf '%s' "$DIR" | sha256sum | cut -c1-64)",
  "driver": "bridge",
  "network_interface": "$br",
  "created": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "subnets": [{"subnet": "$net.0/24", "gateway": "$net.1"}],
  "ipv6_enabled": false,
  "internal": false,
  "dns_enabled": false,
  "ipam_options": {"driver": "host-local"}
}
EOF
        echo "$br" >"$p/bridge"
        log "podman network ferry-test: bridge $br on $net.0/24"
    fi
    # containers.conf: the project file plus this instance's own paths. tmp_dir and file locks keep
    # it apart from any other Podman on the machine (the default SHM lock segment is host-wide); its
    # own default network (bridge, subnet, IPAM under runroot) keeps it off the shared podman0.
    awk -v tmp="$p/tmp" '{ print } /^\[engine\]/ {
        print "tmp_dir = \"" tmp "\""; print "lock_type = \"file\"" }' \
        "$FERRY_SCRIPTS/containers.conf" >"$p/containers.conf"
    printf '\n[network]\nnetwork_backend = "netavark"\nnetwork_config_dir = "%s"\n%s\n' \
        "$p/networks" 'default_network = "ferry-test"' >>"$p/containers.conf"
    start_bg "$p/pid" "$DIR/podman.log" podman system service --time=0 "unix://$DIR/podman.sock"
    wait_for "podman service ($DIR/podman.sock)" "$TIMEOUT_ENGINE" "$p/pid" "$DIR/podman.log" \
        engine_ping "$DIR/podman.sock"
}

write_env() {
    {
        echo "# Written by scripts/services.sh start; source it."
        local v
        for v in "FERRY_TEST_DIR=$DIR" \
            "FERRY_TEST_MQTT_PORT=$MQTT_PORT" \
            "FERRY_TEST_MQTT=tcp://127.0.0.1:$MQTT_PORT" \
            "FERRY_TEST_MQTTS=$FERRY_MQTTS" \
            "FERRY_TEST_CA=$FERRY_MQTTS_CA" \
            "FERRY_TEST_MQTT_BRIDGE_USER=$FERRY_MQTTS_BRIDGE_USER" \
            "FERRY_TEST_MQTT_BRIDGE_PASS=$FERRY_MQTTS_BRIDGE_PASS" \
            "FERRY_TEST_MQTT_ADMIN_USER=$FERRY_MQTTS_ADMIN_USER" \
            "FERRY_TEST_MQTT_ADMIN_PASS=$FERRY_MQTTS_ADMIN_PASS" \
            "FERRY_TEST_MQTT_ROOT_USER=$ROOT_USER" \
            "FERRY_TEST_MQTT_ROOT_PASS=$ROOT_PASS" \
            "FERRY_TEST_DOCKER_SOCK=$DIR/docker.sock" \
            "FERRY_TEST_PODMAN_SOCK=$DIR/podman.sock" \
            "FERRY_TEST_REGISTRY=$REGISTRY" \
            "FERRY_TEST_REGISTRY_USER=$REGISTRY_USER" \
            "FERRY_TEST_REGISTRY_PASS=$REGISTRY_PASS" \
            "CONTAINERS_CONF=$CONTAINERS_CONF" \
            "CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF" \
            "CONTAINERS_REGISTRIES_CONF=$CONTAINERS_REGISTRIES_CONF" \
            "XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR"; do
            printf 'export %s=%q\n' "${v%%=*}" "${v#*=}"
        done
    } >"$DIR/env.tmp"
    chmod 0600 "$DIR/env.tmp" # passwords
    mv "$DIR/env.tmp" "$DIR/env"
}

do_start() {
    if [[ -d $DIR ]] && all_running; then
        log "services in $DIR already running"
        return 0
    fi
    if [[ -e $DIR/env || -d $DIR/mqtts || -d $DIR/docker || -d $DIR/podman ]]; then
        log "cleaning up a partial start in $DIR"
        do_stop
    fi
    mkdir -p "$DIR"
    start_mosquitto
    start_mosquitto_tls
    start_registry
    start_dockerd "$DIR/docker" "$DIR/docker.sock" "$DIR/docker.log" "$TIMEOUT_ENGINE"
    start_podman
    write_env
    log "services up in $DIR: mqtt 127.0.0.1:$MQTT_PORT, $FERRY_MQTTS, registry $REGISTRY," \
        "docker $DIR/docker.sock, podman $DIR/podman.sock"
}

do_stop() {
    [[ -d $DIR ]] || return 0
    local rc=0 br podman_clean=0
    podman_env
    # Containers first, through the engines (they still run), so nothing keeps mounts or netns.
    if engine_ping "$DIR/podman.sock"; then
        python3 "$FERRY_SCRIPTS/engine.py" "$DIR/podman.sock" rm-pods &&
            python3 "$FERRY_SCRIPTS/engine.py" "$DIR/podman.sock" rm-containers && podman_clean=1
    fi
    if engine_ping "$DIR/docker.sock"; then
        python3 "$FERRY_SCRIPTS/engine.py" "$DIR/docker.sock" rm-containers || rc=1
    fi
    stop_pid "$DIR/podman/pid" 20 &
    stop_dockerd "$DIR/docker" &
    stop_pid "$DIR/registry/pid" 10 &
    stop_pid "$DIR/mosquitto/pid" 10 &
    "$FERRY_SCRIPTS/mqtts.sh" stop "$DIR/mqtts" &
    wait
    if ((!podman_clean)) && [[ -f $DIR/podman/containers.conf ]]; then
        # The service died or a removal failed: the CLI works on the same store.
        log "removing what is left in the Podman store with the podman CLI"
        timeout 120 podman pod rm -af >>"$DIR/podman.log" 2>&1 || rc=1
        timeout 120 podman rm -af >>"$DIR/podman.log" 2>&1 || rc=1
    fi
    if [[ -s $DIR/podman/bridge ]]; then
        br=$(<"$DIR/podman/bridge")
        ip link del "$br" 2>/dev/null || true
    fi
    release_subnets "$DIR/podman"
    umount_under "$DIR"
    if findmnt -rn -o TARGET | grep -q "^$DIR/"; then
        log "mounts left under $DIR; not removing it"
        findmnt -rn -o TARGET | grep "^$DIR/" >&2
        return 1
    fi
    rm -rf "$DIR"
    return $rc
}

case $CMD in
start)
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    do_start
    ;;
stop)
    [[ -d $DIR ]] || exit 0
    DIR=$(cd "$DIR" && pwd)
    do_stop
    ;;
*) usage ;;
esac
