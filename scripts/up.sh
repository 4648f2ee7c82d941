#!/usr/bin/env bash
# Run Ferry locally (the README's main command): installs what is missing, builds, and starts in
# the background, with state in .run/, the secure setup (docs/security.md):
#   - a local CA and certificates (scripts/pki.sh, .run/pki/);
#   - mosquitto with TLS on 127.0.0.1:8883, no anonymous clients, and the dynamic-security plugin
#     through which broker-bridge gives each node its own credential (scripts/mqtts.sh);
#   - a Docker engine;
#   - broker-bridge, its REST API over HTTPS on 127.0.0.1:7080 (admin token in
#     .run/bridge.admin-token) and the web console of console/ at its root (/);
#   - one edge-sync node "edge-1" (label region=east), enrolled with a one-time token;
#   - ferryctl's config: .run/ferryctl.conf, and ~/.config/ferry/config when there is none (or it
#     is the one up.sh wrote for this tree; docs/ferryctl.md);
# then deploys examples/web.json, waits until it runs, and prints where to look (with a read-only
# broker credential for mosquitto_sub). Running it again starts only what is not running.
#   scripts/up.sh --plain   the same without any of the security: anonymous mosquitto on
#                           127.0.0.1:1883, plain HTTP, an --insecure node (tests and demos only)
# Stop with scripts/down.sh (--purge also deletes .run/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FERRY_ROOT"

PLAIN=0
case ${1:-} in
--plain) PLAIN=1 ;;
"") ;;
*) die "usage: $0 [--plain]" ;;
esac
RUN="$FERRY_ROOT/.run"
BUILD="$FERRY_ROOT/${FERRY_BUILD_PREFIX:-build}" # as scripts/build.sh
TOKEN_FILE="$RUN/bridge.admin-token" # the bridge's admin token, written at its first start
NS=default
NODE=edge-1
APP_PORT=18080
GATEWAY_PORT=8480 # edge-sync's default --gateway-port
TIMEOUT=${FERRY_UP_TIMEOUT:-120}
if ((PLAIN)); then
    MQTT_PORT=1883
    API="http://127.0.0.1:7080"
else
    MQTT_PORT=8883
    API="https://127.0.0.1:7080"
fi

scripts/deps.sh
scripts/build.sh
mkdir -p "$RUN"

# ---- the broker
tcp_listening() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1"; }
if ((!PLAIN)); then
    [[ -f $RUN/mode && $(<"$RUN/mode") == plain ]] &&
        die ".run/ holds a --plain setup; scripts/down.sh --purge first"
    echo secure >"$RUN/mode"
    scripts/pki.sh "$RUN/pki" api
    if ! pid_alive "$RUN/mqtts/pid" && tcp_listening $MQTT_PORT 2>/dev/null; then
        die "127.0.0.1:$MQTT_PORT is taken (by another broker?); stop it, or use --plain"
    fi
    scripts/mqtts.sh start "$RUN/mqtts" --port $MQTT_PORT --pki "$RUN/pki"
    # shellcheck source=/dev/null
    source "$RUN/mqtts/env"
    CA="$RUN/pki/ca.crt"
    (umask 077 && printf '%s\n' "$FERRY_MQTTS_BRIDGE_PASS" >"$RUN/bridge-mqtt.pass")
    BRIDGE_ARGS=(--tls-cert "$RUN/pki/api.crt" --tls-key "$RUN/pki/api.key"
        --mqtt "ssl://127.0.0.1:$MQTT_PORT" --mqtt-ca "$CA" --mqtt-username "$FERRY_MQTTS_BRIDGE_USER"
        --mqtt-password-file "$RUN/bridge-mqtt.pass" --broker-admin mosquitto-dynsec)
    CURL=(curl --cacert "$CA")
else
    [[ -f $RUN/mode && $(<"$RUN/mode") == secure ]] &&
        die ".run/ holds the secure setup; scripts/down.sh --purge first"
    echo plain >"$RUN/mode"
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
message_size_limit 4194304
persistence false
log_dest stdout
EOF
        start_bg "$RUN/mosquitto.pid" "$RUN/mosquitto.log" mosquitto -c "$RUN/mosquitto.conf"
        wait_for "mosquitto (127.0.0.1:$MQTT_PORT)" 15 "$RUN/mosquitto.pid" "$RUN/mosquitto.log" \
            mqtt_ping $MQTT_PORT
        log "mosquitto started on 127.0.0.1:$MQTT_PORT (plain, anonymous: --plain)"
    fi
    BRIDGE_ARGS=(--plain-http --mqtt "tcp://127.0.0.1:$MQTT_PORT" --insecure-nodes)
    CURL=(curl)
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
scripts/images.sh --sql-runtime "$BUILD/runtimes/sql/ferry-sql-runtime" "$ENGINE"

# ---- broker-bridge
if pid_alive "$RUN/bridge.pid"; then
    log "broker-bridge already running (pid $(<"$RUN/bridge.pid"))"
else
    start_bg "$RUN/bridge.pid" "$RUN/bridge.log" "$BUILD/broker-bridge/broker-bridge" \
        --listen 127.0.0.1:7080 "${BRIDGE_ARGS[@]}" --data "$RUN/bridge" \
        --admin-token-file "$TOKEN_FILE" --console-dir "$FERRY_ROOT/console"
    wait_for "broker-bridge ($API/healthz)" 30 "$RUN/bridge.pid" "$RUN/bridge.log" \
        "${CURL[@]}" -sf --max-time 2 "$API/healthz"
    log "broker-bridge started"
fi

# Every API call but /healthz needs the token; curl reads the header from a file, so the token
# never shows in the process list.
AUTH_HEADER="$RUN/.auth-header"
(umask 077 && printf 'Authorization: Bearer %s\n' "$(<"$TOKEN_FILE")" >"$AUTH_HEADER")
# ferryctl's settings (docs/ferryctl.md): .run/ferryctl.conf always; ~/.config/ferry/config, the
# file ferryctl reads by default, only when there is none or it is the one up.sh of this tree
# wrote (its first line says so), so that a user's own config is never replaced. The token stays
# in its file: the config names it.
CTL_MARK="# written by scripts/up.sh of $FERRY_ROOT (scripts/down.sh --purge deletes it)"
write_ctl_config() { # FILE HEADER
    {
        printf '%s\n' "$2" "server = $API" "token-file = $TOKEN_FILE" "namespace = $NS"
        ((PLAIN)) || printf 'ca = %s\n' "$RUN/pki/ca.crt"
    } >"$1.tmp" && mv "$1.tmp" "$1"
}
write_ctl_config "$RUN/ferryctl.conf" "# ferryctl settings of the Ferry that scripts/up.sh runs"
USER_CTL_CONF="${XDG_CONFIG_HOME:-$HOME/.config}/ferry/config"
if [[ ! -e $USER_CTL_CONF ]] || [[ $(head -n 1 "$USER_CTL_CONF") == "$CTL_MARK" ]]; then
    mkdir -p "$(dirname "$USER_CTL_CONF")"
    write_ctl_config "$USER_CTL_CONF" "$CTL_MARK"
    CTL_HOW="ferryctl reads $USER_CTL_CONF (written by up.sh)"
else
    CTL_HOW="$USER_CTL_CONF is yours and was left alone: export FERRY_CONFIG=${RUN#"$FERRY_ROOT"/}/ferryctl.conf"
fi

# api_create PATH FILE|JSON [OUT]: POST; 201 or 409 (exists already) are fine; the answer in OUT.
api_create() {
    local code body=${3:-$(mktemp)}
    code=$("${CURL[@]}" -s -o "$body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H "@$AUTH_HEADER" --data-binary "$2" "$API$1") || code=000
    case $code in
    200 | 201) log "created $1" ;;
    409) log "$1: already there" ;;
    *)
        log "POST $1 answered $code: $(cat "$body")"
        [[ -n ${3:-} ]] || rm -f "$body"
        return 1
        ;;
    esac
    [[ -n ${3:-} ]] || rm -f "$body"
}
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# ---- the node: registered, enrolled once (secure), started
api_create "/v1/namespaces/$NS/nodes" "{\"name\":\"$NODE\",\"labels\":{\"region\":\"east\"}}"
NODE_ARGS=(--data "$RUN/$NODE" --engine "$ENGINE" --pause-binary "$BUILD/edge-sync/ferry-pause")
if ((!PLAIN)); then
    if [[ ! -f $RUN/$NODE/identity/enrollment.json ]]; then
        (umask 077 && api_create "/v1/namespaces/$NS/nodes/$NODE/enroll" "" "$RUN/.enroll")
        "$BUILD/edge-sync/edge-sync" --data "$RUN/$NODE" --enroll "$API/v1/enroll" \
            --token "$(json_field "$RUN/.enroll" token)" --ca "$CA"
        rm -f "$RUN/.enroll"
    fi
    # A read-only broker credential for people (and the online check below).
    if [[ ! -s $RUN/debug.json ]]; then
        (umask 077 && api_create /v1/broker/debug '{"name":"up"}' "$RUN/debug.json")
    fi
    DEBUG_USER=$(json_field "$RUN/debug.json" username)
    SUB=(mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT --cafile "$CA" -u "$DEBUG_USER" -i "$DEBUG_USER"
        -P "$(json_field "$RUN/debug.json" password)")
else
    NODE_ARGS+=(--insecure --node "$NODE" --namespace "$NS" --mqtt "tcp://127.0.0.1:$MQTT_PORT")
    SUB=(mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT)
fi
if pid_alive "$RUN/$NODE.pid"; then
    log "edge-sync $NODE already running (pid $(<"$RUN/$NODE.pid"))"
else
    start_bg "$RUN/$NODE.pid" "$RUN/$NODE.log" "$BUILD/edge-sync/edge-sync" "${NODE_ARGS[@]}"
    node_online() {
        "${SUB[@]}" -C 1 -W 2 -t "ferry/$NS/nodes/$NODE/online" -F '%t %x' |
            "$BUILD/ferryctl/ferryctl" decode | grep -q '"online":true'
    }
    wait_for "edge-sync $NODE online" 30 "$RUN/$NODE.pid" "$RUN/$NODE.log" node_online
    log "edge-sync $NODE started"
fi

# ---- deploy the example
api_create "/v1/namespaces/$NS/apps" "@examples/web.json"

STATUS_URL="$API/v1/namespaces/$NS/apps/web/status"
app_running() {
    "${CURL[@]}" -sf --max-time 2 -H "@$AUTH_HEADER" "$STATUS_URL" >"$RUN/.status" &&
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

# ---- and a function app (docs/functions.md): its code in a config, served on the node gateway
api_create "/v1/namespaces/$NS/configs" "@examples/demo-code.json"
api_create "/v1/namespaces/$NS/apps" "@examples/functions.json"
FN_CALL=(curl -s --max-time 5 -H 'Content-Type: application/json' -d '{"celsius": 21, "uid": 7}'
    "http://127.0.0.1:$GATEWAY_PORT/demo/process")
fn_answers() { "${FN_CALL[@]}" | grep -q fahrenheit; }
wait_for "the function demo/process on the node gateway" 60 "" "$RUN/$NODE.log" fn_answers

if ((!PLAIN)); then
    HOW="HTTPS; pin .run/pki/ca.crt"
    TOOL="curl --cacert .run/pki/ca.crt"
    PASS_CMD="\$(python3 -c 'import json; print(json.load(open(\".run/debug.json\"))[\"password\"])')"
    WATCH="mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT --cafile .run/pki/ca.crt -u $DEBUG_USER -i $DEBUG_USER -P \"$PASS_CMD\" -v -t 'ferry/#' -F '%t %x'"
    CRED="                 (a read-only broker credential from the bridge, in .run/debug.json; revoke it with
                 DELETE /v1/broker/debug/up)"
    SECURITY="TLS everywhere, a credential per node, signed messages, secrets sealed per node
                 (docs/security.md); scripts/up.sh --plain runs without any of it"
else
    HOW="plain HTTP: --plain"
    TOOL="curl"
    WATCH="mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -v -t 'ferry/#' -F '%t %x'"
    CRED=""
    SECURITY="NONE (--plain): anyone who reaches the broker can run anything on the node"
fi
cat <<EOF

Ferry is running (state and logs in .run/).
  REST API       $API   ($TOOL $API/healthz; $HOW; loopback only)
  web console    $API/   (in a browser; $HOW)
  admin token    ${TOKEN_FILE#"$FERRY_ROOT"/}   (every call but /healthz sends it; docs/api-auth.md)
                 TOKEN=\$(cat ${TOKEN_FILE#"$FERRY_ROOT"/})
  ferryctl       export PATH="$BUILD/ferryctl:\$PATH"   ($CTL_HOW)
                 ferryctl get apps; ferryctl describe app web; ferryctl get nodes
                 ferryctl apply -f examples/web.yaml && ferryctl rollout status app web
                 (raw API: $TOOL -H "Authorization: Bearer \$TOKEN" $STATUS_URL)
  served by it   http://127.0.0.1:$APP_PORT/
  functions      curl -H 'Content-Type: application/json' -d '{"celsius": 21}' http://127.0.0.1:$GATEWAY_PORT/demo/process
                 curl -d '{"uid": 7, "name": "ferry"}' http://127.0.0.1:$GATEWAY_PORT/filter/uid
                 (app demo, examples/functions.json; its code: config demo-code; call statistics:
                 $TOOL -H "Authorization: Bearer \$TOKEN" $API/v1/namespaces/$NS/apps/demo/stats)
  MQTT traffic   $WATCH | ${BUILD#"$FERRY_ROOT"/}/ferryctl/ferryctl decode
$CRED
  security       $SECURITY
  logs           .run/*.log
  engine         $ENGINE
  stop           scripts/down.sh   (--purge also deletes .run/)
EOF
