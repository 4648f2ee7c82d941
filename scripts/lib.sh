# Shell helpers shared by the scripts in this folder (sourced, never run).
# shellcheck shell=bash
# Every wait here polls with a deadline; nothing sleeps to synchronise.

FERRY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
FERRY_SCRIPTS="$FERRY_ROOT/scripts"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# A free TCP port on 127.0.0.1 (the kernel picks it; there is a small window before our use).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pid_alive PIDFILE: true when the file names a live process.
pid_alive() {
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# start_bg PIDFILE LOG CMD...: run CMD in the background in its own session, output to LOG.
start_bg() {
    local pidfile=$1 logfile=$2
    shift 2
    setsid "$@" </dev/null >>"$logfile" 2>&1 &
    echo $! >"$pidfile"
}

# wait_for WHAT TIMEOUT_S PIDFILE LOG CMD...: poll CMD until it succeeds. Fails at the deadline, or
# at once when the process in PIDFILE ("" for none) has died, printing the end of LOG.
wait_for() {
    local what=$1 timeout=$2 pidfile=$3 logfile=$4
    shift 4
    local deadline=$((SECONDS + timeout))
    while true; do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        if [[ -n $pidfile ]] && ! pid_alive "$pidfile"; then
            log "$what exited before it was ready; last lines of $logfile:"
            tail -n 40 "$logfile" >&2 || true
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "$what not ready after ${timeout}s; last lines of $logfile:"
            tail -n 40 "$logfile" >&2 || true
            return 1
        fi
        sleep 0.2 # poll interval, not synchronisation
    done
}

# stop_pid PIDFILE [TIMEOUT_S]: SIGTERM, wait up to TIMEOUT_S (default 20), then SIGKILL.
stop_pid() {
    local pidfile=$1 timeout=${2:-20} pid deadline
    if pid_alive "$pidfile"; then
        pid=$(<"$pidfile")
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + timeout))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid ($pidfile) ignored SIGTERM for ${timeout}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            deadline=$((SECONDS + 5))
            while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
                sleep 0.1
            done
        fi
    fi
    rm -f "$pidfile"
}

# engine_ping SOCKET: true when a Docker-API engine answers GET /_ping on SOCKET.
engine_ping() {
    [[ -S $1 ]] && curl -sf --max-time 2 --unix-socket "$1" http://engine/_ping >/dev/null
}

# mqtt_ping PORT: true when a broker on 127.0.0.1:PORT accepts an anonymous QoS 1 publish.
mqtt_ping() {
    mosquitto_pub -h 127.0.0.1 -p "$1" -q 1 -i "ferry-ping-$$" -t ferry-ping -m ping
}

# umount_under DIR: unmount whatever is still mounted below DIR (deepest first).
umount_under() {
    local dir=$1 m
    [[ -d $dir ]] || return 0
    findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
    done
}

# ---- a private dockerd -------------------------------------------------------------------------
# Several dockerds can run on one machine (the dev one, the tests', up.sh's), so each one gets its
# own bridge ("fd" + hash of its state folder) on a free /24 of 10.213.0.0/16, and --iptables=false:
# a dockerd with iptables on flushes the DOCKER chains at start-up, which would remove the port
# forwards of any other dockerd. Published ports still work through docker-proxy (the userland
# proxy, on by default), which is what 127.0.0.1:hostPort traffic uses anyway.

bridge_name() { # bridge_name PREFIX DIR -> e.g. fd1a2b3c4d5e (<= 15 chars)
    printf '%s%s' "$1" "$(printf '%s' "$2" | sha1sum | cut -c1-10)"
}

# reserve_subnet OWNER: prints "10.213.N" for a /24 that no address or route of this host overlaps
# and that no live owner has reserved, and reserves it for OWNER (a folder; the reservation lapses
# when that folder is gone). Reservations live in /run/ferry-subnets, under a lock.
reserve_subnet() {
    mkdir -p /run/ferry-subnets
    (
        flock 9
        python3 - "$1" <<'EOF'
import ipaddress, json, os, subprocess, sys
owner, rdir = sys.argv[1], "/run/ferry-subnets"
used = []
for cmd in (["ip", "-j", "-4", "addr"], ["ip", "-j", "-4", "route"]):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    for e in json.loads(out or "[]"):
        for a in e.get("addr_info", []):
            used.append(ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False))
        dst = e.get("dst")
        if dst and dst != "default":
            used.append(ipaddress.ip_network(dst if "/" in dst else dst + "/32", strict=False))
for n in range(1, 255):
    net = f"10.213.{n}"
    path = os.path.join(rdir, net)
    try:
        holder = open(path).read().strip()
    except FileNotFoundError:
        holder = None
    if holder == owner:
        print(net)
        break
    if holder and os.path.isdir(holder):
        continue
    if any(ipaddress.ip_network(net + ".0/24").overlaps(u) for u in used):
        continue
    with open(path, "w") as f:
        f.write(owner + "\n")
    print(net)
    break
else:
    sys.exit("no free /24 left in 10.213.0.0/16")
EOF
    ) 9>/run/ferry-subnets/.lock
}

# release_subnets OWNER: drop OWNER's reservations.
release_subnets() {
    local f
    for f in /run/ferry-subnets/10.*; do
        [[ -f $f && "$(<"$f")" == "$1" ]] && rm -f "$f"
    done
    return 0
}

# start_dockerd STATE_DIR SOCKET LOG [TIMEOUT_S]: data in STATE_DIR/{data,exec}, pid in
# STATE_DIR/dockerd.pid, bridge name in STATE_DIR/bridge.
start_dockerd() {
    local dir=$1 sock=$2 logfile=$3 timeout=${4:-90} br net
    mkdir -p "$dir/data" "$dir/exec"
    br=$(bridge_name fd "$dir")
    if ! ip link show "$br" >/dev/null 2>&1; then
        net=$(reserve_subnet "$dir") || die "no subnet for the dockerd bridge"
        ip link add name "$br" type bridge || die "cannot create bridge $br"
        ip addr add "$net.1/24" dev "$br" || die "cannot address bridge $br"
        log "dockerd bridge $br on $net.0/24"
    fi
    ip link set "$br" up
    echo "$br" >"$dir/bridge"
    echo '{}' >"$dir/daemon.json" # keep any /etc/docker/daemon.json out
    start_bg "$dir/dockerd.pid" "$logfile" dockerd --config-file "$dir/daemon.json" \
        --host "unix://$sock" --data-root "$dir/data" --exec-root "$dir/exec" \
        --pidfile "$dir/dockerd.pid.own" --bridge "$br" --iptables=false
    wait_for "dockerd ($sock)" "$timeout" "$dir/dockerd.pid" "$logfile" engine_ping "$sock"
}

# stop_dockerd STATE_DIR: stop a dockerd started by start_dockerd, its containerd, its bridge.
stop_dockerd() {
    local dir=$1 br
    [[ -d $dir ]] || return 0
    stop_pid "$dir/dockerd.pid" 30
    rm -f "$dir/dockerd.pid.own"
    # dockerd stops its containerd on a clean exit; not after a SIGKILL.
    stop_pid "$dir/exec/containerd/containerd.pid" 10
    umount_under "$dir"
    if [[ -s $dir/bridge ]]; then
        br=$(<"$dir/bridge")
        ip link del "$br" 2>/dev/null || true
        rm -f "$dir/bridge"
    fi
    release_subnets "$dir"
}
