#!/usr/bin/env bash
# Run Ferry locally (the README's main command): installs what is missing, builds, and starts in
# the background, with state in .run/: mosquitto on 127.0.0.1:1883, a Docker engine, broker-bridge
# (REST API on 127.0.0.1:7080, plain HTTP; its admin token in .run/bridge.admin-token) and one
# edge-sync node "edge-1" (label region=east); then deploys examples/web.json and waits until it
# runs. Running it again starts only what is not running.
# Stop with scripts/down.sh (--purge also deletes .run/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FERRY_ROOT"

RUN="$FERRY_ROOT/.run"
BUILD="$FERRY_ROOT/${FERRY_BUILD_PREFIX:-build}" # as scripts/build.sh
MQTT_PORT=1883
API="http://127.0.0.1:7080"
TOKEN_FILE="$RUN/bridge.admin-token" # the bridge's admin token, written at its first start
NS=default
NODE=edge-1
APP_PORT=18080
TIMEOUT=${FERRY_UP_TIMEOUT:-120}

scripts/deps.sh
scripts/build.sh
mkdir -p "$RUN"

# ---- mosquitto
tcp_listening() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1"; }
if pid_alive "$RUN/mosquitto.pid"; then
    log "mosquitto already running (pid $(<"$RUN/mosquitto.pid"))"
elif tcp_listening $MQTT_PORT 2>/dev/null; then
    mqtt_ping $MQTT_PORT >/dev/null 2>&1 ||
        die "127.0.0.1:$MQTT_PORT is taken by something that is not an MQTT broker accepting anonymous clients"
    log "using the MQTT broker already on 127.0.0.1:$MQTT_PORT (not started by up.sh, e.g. the" \
        "system's mosquitto service)"
else
    cat >"$RUN/mosquitto.conf" <<EOF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
max_queued_messages 100000
persistence false
log_dest stdout
EOF
    start_bg "$RUN/mosquitto.pid" "$RUN/mosquitto.log" mosquitto -c "$RUN/mosquitto.conf"
    wait_for "mosquitto (127.0.0.1:$MQTT_PORT)" 15 "$RUN/mosquitto.pid" "$RUN/mosquitto.log" \
        mqtt_ping $MQTT_PORT
    log "mosquitto started on 127.0.0.1:$MQTT_PORT"
fi

# ---- Docker engine: the machine's, else our own dockerd
if engine_ping /var/run/docker.sock; then
    ENGINE=/var/run/docker.sock
elif pid_alive "$RUN/docker/dockerd.pid" && engine_ping "$RUN/docker.sock"; then
    ENGINE="$RUN/docker.sock"
else
    [[ $(id -u) -eq 0 ]] || die "no Docker engine answers on /var/run/docker.sock; run as root to start one"
    log "starting dockerd (data in .run/docker, socket .run/docker.sock)"
    start_dockerd "$RUN/docker" "$RUN/docker.sock" "$RUN/docker.log"
    ENGINE="$RUN/docker.sock"
fi
echo "$ENGINE" >"$RUN/engine"
log "engine: $(python3 scripts/engine.py "$ENGINE" describe) at $ENGINE"
scripts/images.sh "$ENGINE"

# ---- broker-bridge and edge-sync
if pid_alive "$RUN/bridge.pid"; then
    log "broker-bridge already running (pid $(<"$RUN/bridge.pid"))"
else
    # Plain HTTP on loopback for now (a local CA and --tls-cert/--tls-key come later).
    start_bg "$RUN/bridge.pid" "$RUN/bridge.log" "$BUILD/broker-bridge/broker-bridge" \
        --listen 127.0.0.1:7080 --plain-http --mqtt "tcp://127.0.0.1:$MQTT_PORT" --data "$RUN/bridge" \
        --admin-token-file "$TOKEN_FILE"
    wait_for "broker-bridge ($API/healthz)" 30 "$RUN/bridge.pid" "$RUN/bridge.log" \
        curl -sf --max-time 2 "$API/healthz"
    log "broker-bridge started"
fi
if pid_alive "$RUN/$NODE.pid"; then
    log "edge-sync $NODE already running (pid $(<"$RUN/$NODE.pid"))"
else
    start_bg "$RUN/$NODE.pid" "$RUN/$NODE.log" "$BUILD/edge-sync/edge-sync" --node "$NODE" \
        --namespace "$NS" --mqtt "tcp://127.0.0.1:$MQTT_PORT" --data "$RUN/$NODE" \
        --engine "$ENGINE" --pause-binary "$BUILD/edge-sync/ferry-pause"
    node_online() {
        mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -C 1 -W 2 -t "ferry/$NS/nodes/$NODE/online" \
            -F '%t %x' | "$BUILD/ferryctl/ferryctl" decode | grep -q '"online":true'
    }
    wait_for "edge-sync $NODE online" 30 "$RUN/$NODE.pid" "$RUN/$NODE.log" node_online
    log "edge-sync $NODE started"
fi

# ---- register the node, deploy the example
# Every API call but /healthz needs the token; curl reads the header from a file, so the token
# never shows in the process list.
AUTH_HEADER="$RUN/.auth-header"
(umask 077 && printf 'Authorization: Bearer %s\n' "$(<"$TOKEN_FILE")" >"$AUTH_HEADER")
# api_create PATH FILE|JSON: POST; 201 or 409 (exists already) are fine.
api_create() {
    local code body
    body=$(mktemp)
    code=$(curl -s -o "$body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H "@$AUTH_HEADER" --data-binary "$2" "$API$1") || code=000
    case $code in
    200 | 201) log "created $1: $(head -c 200 "$body")" ;;
    409) log "$1: already there" ;;
    *)
        log "POST $1 answered $code: $(cat "$body")"
        rm -f "$body"
        return 1
        ;;
    esac
    rm -f "$body"
}
api_create "/v1/namespaces/$NS/nodes" "{\"name\":\"$NODE\",\"labels\":{\"region\":\"east\"}}"
api_create "/v1/namespaces/$NS/apps" "@examples/web.json"

STATUS_URL="$API/v1/namespaces/$NS/apps/web/status"
app_running() {
    curl -sf --max-time 2 -H "@$AUTH_HEADER" "$STATUS_URL" >"$RUN/.status" &&
        python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; sys.exit(0 if s["running"] >= 1 else 1)' "$RUN/.status"
}
deadline=$((SECONDS + TIMEOUT))
until app_running; do
    if ((SECONDS >= deadline)); then
        log "app web not Running after ${TIMEOUT}s; last status seen:"
        cat "$RUN/.status" >&2 2>/dev/null || true
        echo >&2
        log "see .run/$NODE.log and .run/bridge.log"
        exit 1
    fi
    sleep 0.5 # poll interval
done
app_answers() { curl -sf --max-time 2 "http://127.0.0.1:$APP_PORT/" | grep -q ferry; }
wait_for "the app on http://127.0.0.1:$APP_PORT/" 30 "" "$RUN/$NODE.log" app_answers

cat <<EOF

Ferry is running (state and logs in .run/).
  REST API       $API   (curl $API/healthz; plain HTTP, on loopback only)
  admin token    ${TOKEN_FILE#"$FERRY_ROOT"/}   (every call but /healthz sends it; docs/api-auth.md)
                 TOKEN=\$(cat ${TOKEN_FILE#"$FERRY_ROOT"/})
  the app        curl -H "Authorization: Bearer \$TOKEN" $API/v1/namespaces/$NS/apps/web
  its status     curl -H "Authorization: Bearer \$TOKEN" $STATUS_URL
  the nodes      curl -H "Authorization: Bearer \$TOKEN" $API/v1/namespaces/$NS/nodes
  served by it   http://127.0.0.1:$APP_PORT/
  MQTT traffic   mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -v -t 'ferry/#' -F '%t %x' | ${BUILD#"$FERRY_ROOT"/}/ferryctl/ferryctl decode
  logs           .run/*.log
  engine         $ENGINE
  stop           scripts/down.sh   (--purge also deletes .run/)
EOF
