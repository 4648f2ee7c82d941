#!/usr/bin/env bash
# Stop what scripts/up.sh started: edge-sync, the Ferry containers of its node, broker-bridge, and
# the dockerd and mosquitto (secure or --plain) up.sh started itself (never the machine's). Keeps .run/ (data and logs)
# unless --purge.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FERRY_ROOT"

RUN="$FERRY_ROOT/.run"
NODE=edge-1
PURGE=0
case ${1:-} in
--purge) PURGE=1 ;;
"") ;;
*) die "usage: $0 [--purge]" ;;
esac
[[ -d $RUN ]] || {
    log "nothing to stop (no .run/)"
    exit 0
}

# The node first, so that it does not recreate the containers removed next.
stop_pid "$RUN/$NODE.pid" 20
ENGINE=$(cat "$RUN/engine" 2>/dev/null || true)
if [[ -n $ENGINE ]] && engine_ping "$ENGINE"; then
    python3 scripts/engine.py "$ENGINE" rm-containers io.ferry.managed=1 ||
        log "some Ferry containers could not be removed from $ENGINE"
fi
stop_pid "$RUN/bridge.pid" 20
if [[ -d $RUN/docker ]]; then
    stop_dockerd "$RUN/docker"
fi
stop_pid "$RUN/mosquitto.pid" 10
if [[ -d $RUN/mqtts ]]; then
    scripts/mqtts.sh stop "$RUN/mqtts"
fi
log "stopped"
if ((PURGE)); then
    # The ferryctl config up.sh wrote for this tree points into .run/: it goes with it.
    USER_CTL_CONF="${XDG_CONFIG_HOME:-$HOME/.config}/ferry/config"
    if [[ -f $USER_CTL_CONF && $(head -n 1 "$USER_CTL_CONF") == \
        "# written by scripts/up.sh of $FERRY_ROOT (scripts/down.sh --purge deletes it)" ]]; then
        rm -f "$USER_CTL_CONF"
    fi
    umount_under "$RUN"
    rm -rf "$RUN"
    log "removed .run/"
fi
