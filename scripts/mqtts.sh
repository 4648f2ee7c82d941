#!/usr/bin/env bash
# A secure mosquitto for the tests (scripts/services.sh) and scripts/up.sh, all its state in DIR:
# a TLS listener on 127.0.0.1 (certificate from scripts/pki.sh), no anonymous clients, the
# dynamic-security plugin with an admin client and a client for broker-bridge, and the protocol's
# payload cap.
#
#   scripts/mqtts.sh start DIR [--port PORT] [--pki PKI_DIR] [--log FILE]
#   scripts/mqtts.sh stop DIR [--purge]
#
# start: PORT defaults to a free one; PKI_DIR (default DIR/pki) gets the CA and the certificate
# "mqtt" (scripts/pki.sh, kept when already there); FILE (default DIR/mosquitto.log) gets the
# broker's log. Starting again while it runs changes nothing. The credentials are made once and
# kept in DIR (DIR/secrets, DIR/dynsec.json: mode 0600), so a restarted broker keeps every client
# and role the bridge created. Writes DIR/env (0600) with `export` lines:
#   FERRY_MQTTS                 ssl://127.0.0.1:PORT
#   FERRY_MQTTS_PORT            PORT
#   FERRY_MQTTS_CA              the CA certificate that signed the broker's (pin it)
#   FERRY_MQTTS_BRIDGE_USER/PASS  broker-bridge's client (role "ferry-bridge", below)
#   FERRY_MQTTS_ADMIN_USER/PASS   the dynamic-security admin (mosquitto_ctrl; role "admin")
# stop: stops the broker; --purge also deletes DIR.
#
# The bridge's role may publish the app, sync, secrets and logs-request topics of every namespace
# and the dynamic-security commands (it creates and deletes the nodes' clients:
# broker-bridge/broker.h), and subscribe to (and receive) every node's hello, status, online,
# stats and logs-reply topics and the command responses. Everything else a client may do comes from its own role (docs/platform.md,
# "mosquitto").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    echo "usage: $0 start DIR [--port PORT] [--pki PKI_DIR] [--log FILE] | stop DIR [--purge]" >&2
    exit 2
}
[[ $# -ge 2 ]] || usage
CMD=$1
DIR=$2
shift 2
PORT="" PKI="" LOGFILE="" PURGE=0
while (($#)); do
    case $1 in
    --port) PORT=${2:?} && shift ;;
    --pki) PKI=${2:?} && shift ;;
    --log) LOGFILE=${2:?} && shift ;;
    --purge) PURGE=1 ;;
    *) usage ;;
    esac
    shift
done

ADMIN_USER=ferry-admin
BRIDGE_USER=ferry-bridge
MAX_PAYLOAD=4194304 # FERRY_MAX_PAYLOAD (include/ferry/codec.h); mosquitto counts the payload only

# The plugin of Debian's mosquitto package (FERRY_DYNSEC_PLUGIN overrides).
dynsec_plugin() {
    local p
    if [[ -n ${FERRY_DYNSEC_PLUGIN:-} ]]; then
        echo "$FERRY_DYNSEC_PLUGIN"
        return
    fi
    for p in /usr/lib/*/mosquitto_dynamic_security.so /usr/lib/mosquitto_dynamic_security.so \
        /usr/local/lib/mosquitto_dynamic_security.so; do
        [[ -f $p ]] && echo "$p" && return
    done
    die "mosquitto_dynamic_security.so not found (Debian's mosquitto package ships it)"
}

tls_args() { # the connection options of the mosquitto clients for this broker
    echo -h 127.0.0.1 -p "$PORT" --cafile "$PKI/ca.crt"
}

# ready USER PASS: USER logs in and may administer the plugin: it is shown its own client
# (mosquitto_ctrl exits 0 also when refused, so its answer is read).
ready() {
    # shellcheck disable=SC2046 # tls_args is a word list
    mosquitto_ctrl $(tls_args) -u "$1" -P "$2" dynsec getClient "$1" 2>&1 | grep -qx "Username: $1"
}

# The bridge's client and role, idempotently (one command list; an "already exists" answer to a
# create is expected): create each if missing, then set the role's ACLs and the client's
# password and roles. Published as the admin at QoS 1: mosquitto runs the commands before it
# sends the PUBACK.
bridge_commands() {
    python3 - "$BRIDGE_USER" "$BRIDGE_PASS" <<'EOF'
import json, sys
user, password = sys.argv[1], sys.argv[2]
def acl(kind, topic, allow=True, priority=0):
    return {"acltype": kind, "topic": topic, "allow": allow, "priority": priority}
# The node status and online topics: the bridge clears a deleted node's retained messages there
# (empty retained publishes; schema/PROTOCOL.md, "Collecting deleted apps").
send = ["ferry/+/all/apps/+", "ferry/+/labels/+/apps/+", "ferry/+/nodes/+/sync",
        "ferry/+/nodes/+/secrets/+", "ferry/+/nodes/+/status/+", "ferry/+/nodes/+/online",
        "ferry/+/nodes/+/logs/request", "$CONTROL/dynamic-security/v1"]
hear = ["ferry/+/nodes/+/hello", "ferry/+/nodes/+/status/+", "ferry/+/nodes/+/online",
        "ferry/+/nodes/+/stats", "ferry/+/nodes/+/logs/reply",
        "$CONTROL/dynamic-security/v1/response"]
acls = [acl("publishClientSend", t) for t in send]
acls += [acl(k, t) for t in hear for k in ("subscribePattern", "publishClientReceive")]
acls.append(acl("publishClientReceive", "#", False, -1))
role = [{"rolename": "ferry-bridge"}]
print(json.dumps({"commands": [
    {"command": "createRole", "rolename": "ferry-bridge"},
    {"command": "modifyRole", "rolename": "ferry-bridge", "acls": acls},
    {"command": "createClient", "username": user, "password": password, "roles": role},
    {"command": "modifyClient", "username": user, "password": password, "roles": role},
    {"command": "enableClient", "username": user},
]}, separators=(",", ":")))
EOF
}

write_env() {
    (
        umask 077
        {
            echo "# Written by scripts/mqtts.sh start; source it."
            local v
            for v in "FERRY_MQTTS=ssl://127.0.0.1:$PORT" "FERRY_MQTTS_PORT=$PORT" \
                "FERRY_MQTTS_CA=$PKI/ca.crt" \
                "FERRY_MQTTS_BRIDGE_USER=$BRIDGE_USER" "FERRY_MQTTS_BRIDGE_PASS=$BRIDGE_PASS" \
                "FERRY_MQTTS_ADMIN_USER=$ADMIN_USER" "FERRY_MQTTS_ADMIN_PASS=$ADMIN_PASS"; do
                printf 'export %s=%q\n' "${v%%=*}" "${v#*=}"
            done
        } >"$DIR/env.tmp"
    )
    mv "$DIR/env.tmp" "$DIR/env"
}

do_start() {
    local plugin
    mkdir -p "$DIR"
    chmod 0700 "$DIR"
    DIR=$(cd "$DIR" && pwd)
    PKI=${PKI:-$DIR/pki}
    LOGFILE=${LOGFILE:-$DIR/mosquitto.log}
    if pid_alive "$DIR/pid" && [[ -s $DIR/env ]]; then
        # shellcheck source=/dev/null
        source "$DIR/env"
        PORT=$FERRY_MQTTS_PORT BRIDGE_PASS=$FERRY_MQTTS_BRIDGE_PASS
        if ready "$BRIDGE_USER" "$BRIDGE_PASS"; then
            log "secure mosquitto in $DIR already running on 127.0.0.1:$PORT"
            return 0
        fi
        stop_pid "$DIR/pid" 10
    fi
    "$FERRY_SCRIPTS/pki.sh" "$PKI" mqtt
    PKI=$(cd "$PKI" && pwd)
    # The passwords are made once; the plugin's file holds the admin made with them.
    if [[ ! -s $DIR/secrets ]]; then
        rm -f "$DIR/dynsec.json"
        (
            umask 077
            printf 'ADMIN_PASS=%s\nBRIDGE_PASS=%s\n' "$(openssl rand -hex 16)" \
                "$(openssl rand -hex 16)" >"$DIR/secrets"
        )
    fi
    # shellcheck source=/dev/null
    source "$DIR/secrets"
    if [[ ! -s $DIR/dynsec.json ]]; then
        (
            umask 077
            mosquitto_ctrl dynsec init "$DIR/dynsec.json" "$ADMIN_USER" "$ADMIN_PASS" >/dev/null
        )
    fi
    chmod 0600 "$DIR/dynsec.json"
    [[ -n $PORT ]] || PORT=$(free_port)
    plugin=$(dynsec_plugin)
    {
        echo "# Written by scripts/mqtts.sh."
        # Started as root, mosquitto drops to the user "mosquitto" before it reads the key and
        # the plugin's file; here both are root's, in a folder only root may enter.
        [[ $(id -u) -ne 0 ]] || echo "user root"
        cat <<EOF
per_listener_settings false
allow_anonymous false
plugin $plugin
plugin_opt_config_file $DIR/dynsec.json
listener $PORT 127.0.0.1
certfile $PKI/mqtt.crt
keyfile $PKI/mqtt.key
tls_version tlsv1.2
# The payload cap of the protocol. mosquitto 2.0.11 compares it with the payload alone (topic
# and properties do not count; docs/platform.md) and answers a bigger QoS 1 publish with PUBACK
# 0x95. max_packet_size, which it suggests instead at start, would count the whole packet and
# close the connection.
message_size_limit $MAX_PAYLOAD
max_queued_messages 100000
persistence false
log_dest file $LOGFILE
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
EOF
    } >"$DIR/mosquitto.conf"
    start_bg "$DIR/pid" "$LOGFILE" mosquitto -c "$DIR/mosquitto.conf"
    wait_for "secure mosquitto (127.0.0.1:$PORT)" 15 "$DIR/pid" "$LOGFILE" \
        ready "$ADMIN_USER" "$ADMIN_PASS"
    # shellcheck disable=SC2046,SC2016 # tls_args is a word list; $CONTROL is no variable
    bridge_commands | mosquitto_pub $(tls_args) -u "$ADMIN_USER" -P "$ADMIN_PASS" -q 1 \
        -i "ferry-mqtts-$$" -t '$CONTROL/dynamic-security/v1' -s ||
        die "cannot reach the secure mosquitto as $ADMIN_USER; see $LOGFILE"
    wait_for "the bridge's client on 127.0.0.1:$PORT" 10 "$DIR/pid" "$LOGFILE" \
        ready "$BRIDGE_USER" "$BRIDGE_PASS"
    write_env
    log "secure mosquitto on ssl://127.0.0.1:$PORT (CA $PKI/ca.crt, state in $DIR)"
}

case $CMD in
start) do_start ;;
stop)
    [[ -d $DIR ]] || exit 0
    stop_pid "$DIR/pid" 10
    ((!PURGE)) || rm -rf "$DIR"
    ;;
*) usage ;;
esac
