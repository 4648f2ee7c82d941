"""Benchmark: what one edge-sync costs at rest on a real engine with many apps: its RSS and private
memory (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup), its CPU seconds and the bytes
on the wire between it and the broker over an idle window (keepalives, periodic checks),
extrapolated per hour; beside baselines measured in the same run: a process that only links
edge-sync's libraries (the floor those libraries set) and mosquitto_sub idle on the same relay.
Then the time of one more app's POST -> pod running while the node holds the others.

    python3 bench/bench_edge.py --engine docker --build-dir build [--apps 50] [--idle 60]
(needs the FERRY_TEST_* services of scripts/services.sh and the images of scripts/images.sh.)

The bytes are counted by a small TCP relay of this script between edge-sync and mosquitto: MQTT
bytes in both directions (TCP/IP headers not included). Prints a table, then one JSON line."""
import argparse
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402
from common import web_app  # noqa: E402
import trace_deploy  # noqa: E402 (bench/, beside this script)

CLK_TCK = os.sysconf("SC_CLK_TCK")
# The environment edge-sync is deployed with (packaging/systemd/edge-sync.service,
# docker-compose.yml): GnuTLS, loaded only as a dependency of libcurl's, is not initialised.
# edge-sync and the floor process both run with it; --env adds to it or overrides it.
DEPLOYED_ENV = {"GNUTLS_NO_IMPLICIT_INIT": "1"}
PAGE = os.sysconf("SC_PAGE_SIZE")


class Relay:
    """A counting TCP relay on 127.0.0.1: every connection to .port is joined to upstream; the
    bytes each way are counted (.up: client -> broker, .down: broker -> client)."""

    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.up = self.down = self.up_reads = self.down_reads = 0
        self.lock = threading.Lock()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def counts(self):
        with self.lock:
            return self.up, self.down, self.up_reads, self.down_reads

    def _run(self):
        while not self.stopping:
            for key, _ in self.sel.select(0.2):
                if key.data is None:
                    client, _ = self.lsock.accept()
                    server = socket.create_connection(self.upstream)
                    for s in (client, server):
                        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.sel.register(client, selectors.EVENT_READ, (server, True))
                    self.sel.register(server, selectors.EVENT_READ, (client, False))
                    continue
                peer, upward = key.data
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    for s in (key.fileobj, peer):
                        try:
                            self.sel.unregister(s)
                        except (KeyError, ValueError):
                            pass
                        s.close()
                    continue
                peer.sendall(data)
                with self.lock:
                    if upward:
                        self.up += len(data)
                        self.up_reads += 1
                    else:
                        self.down += len(data)
                        self.down_reads += 1

    def stop(self):
        self.stopping = True
        self.thread.join(2)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


def cpu_s(pid):
    """utime + stime of pid in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory(pid):
    """{rss, private, pss, private_dirty, threads, hwm} of pid, in KiB (threads: a count)."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":"):
                out[parts[0][:-1]] = int(parts[1])
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    return {"rss": out["Rss"], "pss": out["Pss"],
            "private": out["Private_Clean"] + out["Private_Dirty"],
            "private_dirty": out["Private_Dirty"], "anon": out.get("Anonymous", 0),
            "threads": int(status["Threads"]), "hwm": int(status["VmHWM"].split()[0])}


def top_mappings(pid, n=12):
    """The n mappings with the most private memory (KiB): (private, rss, name)."""
    rows, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if "-" in parts[0] and not parts[0].endswith(":"):
                cur = {"name": parts[5] if len(parts) > 5 else "[anon]", "rss": 0, "private": 0}
                rows.append(cur)
            elif parts[0] == "Rss:":
                cur["rss"] = int(parts[1])
            elif parts[0] in ("Private_Clean:", "Private_Dirty:"):
                cur["private"] += int(parts[1])
    merged = {}
    for r in rows:
        m = merged.setdefault(os.path.basename(r["name"]) or r["name"], [0, 0])
        m[0] += r["private"]
        m[1] += r["rss"]
    return sorted(((p, r, name) for name, (p, r) in merged.items()), reverse=True)[:n]


def idle_window(pid, relay, seconds):
    """Memory samples (one a second), CPU seconds and relay bytes over `seconds` of pid at rest."""
    c0, (u0, d0, ur0, dr0), t0 = cpu_s(pid), relay.counts(), time.monotonic()
    samples = []
    while time.monotonic() - t0 < seconds:
        samples.append(memory(pid))
        time.sleep(1)
    c1, (u1, d1, ur1, dr1), t1 = cpu_s(pid), relay.counts(), time.monotonic()
    per_h = 3600 / (t1 - t0)
    return {"seconds": round(t1 - t0, 1),
            "rss_kib": statistics.median(s["rss"] for s in samples),
            "rss_max_kib": max(s["rss"] for s in samples),
            "private_kib": statistics.median(s["private"] for s in samples),
            "private_max_kib": max(s["private"] for s in samples),
            "private_dirty_kib": statistics.median(s["private_dirty"] for s in samples),
            "pss_kib": statistics.median(s["pss"] for s in samples),
            "hwm_kib": samples[-1]["hwm"], "threads": samples[-1]["threads"],
            "cpu_s_per_h": round((c1 - c0) * per_h, 2),
            "bytes_per_h": round((u1 - u0 + d1 - d0) * per_h),
            "bytes_up": u1 - u0, "bytes_down": d1 - d0,
            "segments_per_h": round((ur1 - ur0 + dr1 - dr0) * per_h)}


FLOOR_C = r"""
#include <curl/curl.h>
#include <unistd.h>
int main(void) { curl_global_init(CURL_GLOBAL_DEFAULT); for (;;) pause(); }
"""


def build_floor(edge, tmp):
    """A process that links every library edge-sync links (its DT_NEEDED), calls
    curl_global_init as edge-sync does, and sleeps: the floor those libraries set. None when no
    compiler is there."""
    out = subprocess.run(["objdump", "-p", edge], capture_output=True, text=True)
    needed = [line.split()[1] for line in out.stdout.splitlines() if line.strip().startswith("NEEDED")]
    src, exe = os.path.join(tmp, "floor.c"), os.path.join(tmp, "floor")
    with open(src, "w") as f:
        f.write(FLOOR_C)
    libs = [f"-l:{n}" for n in needed]
    r = subprocess.run(["cc", "-O2", src, "-o", exe, "-Wl,--no-as-needed", *libs, "-lcurl"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"floor process not built: {r.stderr.strip()[:300]}")
        return None, needed
    return exe, needed


def measure_process(argv, relay, seconds, settle=2.0, env=None):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        time.sleep(settle)
        if p.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited with {p.returncode}")
        return idle_window(p.pid, relay, seconds)
    finally:
        p.terminate()
        p.wait(5)


def wait_all_running(stack, names, timeout):
    pending = set(names)

    def done():
        stack.check_alive()
        for name in sorted(pending):
            code, st = stack.api.get(stack.path("apps", name, "status"))
            if code == 200 and st["summary"].get("running") == 1:
                pending.discard(name)
        return not pending
    harness.poll(done, timeout, f"all {len(names)} apps Running", interval=1.0)


def one_more(stack, name):
    """POST -> both containers of a new app running on the engine (polled every 10 ms), and the
    engine's create+start time inside that span from edge-sync's log (None unless its log level is
    debug): the rest is Ferry's own share."""
    w0 = time.time() * 1000
    total = harness.create_and_wait_running(stack, web_app(name, "east", "x"), 120)
    w1 = time.time() * 1000
    engine = None
    if stack.log_level == "debug":
        time.sleep(0.3)
        engine = 0.0
        for ts, _, msg in trace_deploy.read_log(stack.nodes["east"].log_path, w0 - 5):
            e = trace_deploy.ENGINE.search(msg)
            if e and ts <= w1 and trace_deploy.engine_kind(e.group(1), e.group(2)) in (
                    "create", "start"):
                engine += int(e.group(4)) / 1000
    return total, engine


def kib(v):
    return f"{v / 1024:6.1f} MiB"


def main():
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--apps", type=int, default=50)
    p.add_argument("--idle", type=float, default=60.0,
                   help="seconds of edge-sync's idle window (over 300 it holds the 5-minute "
                        "anti-entropy hello; the baselines get at most 60)")
    p.add_argument("--deploys", type=int, default=3, help="POSTs of one more app, timed")
    p.add_argument("--edge-arg", action="append", default=[],
                   help="extra edge-sync argument (repeatable), e.g. --edge-arg=--parallel=2")
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for edge-sync")
    p.add_argument("--log-level", default="info",
                   help="of the daemons; debug also splits each POST -> running into the engine's "
                        "create+start and the rest (debug lines cost CPU at rest)")
    opts, rest = p.parse_known_args()

    def bench(t):
        engine = "podman" if t.engine.is_podman() else "docker"
        relay = Relay(t.mqtt_port)
        try:
            run(t, engine, relay, opts)
        finally:
            relay.stop()

    harness.run(bench, rest)


def run(t, engine, relay, opts):
    stack = t.stack(nodes=["east"], start=False, log_level=opts.log_level,
                    edge_args=opts.edge_arg)
    node = stack.nodes["east"]
    node.argv[node.argv.index(t.mqtt_url)] = f"tcp://127.0.0.1:{relay.port}"
    env = {**os.environ, **DEPLOYED_ENV, **dict(kv.split("=", 1) for kv in opts.env)}
    node.env = env
    stack.start()
    assert stack.register_node("east", {"region": "east"})[0] == 201
    names = [f"app{i:02d}" for i in range(opts.apps)]
    t0 = time.monotonic()
    for name in names:
        code, body = stack.create_app(web_app(name, "east", "x"))
        assert code == 201, body
    wait_all_running(stack, names, 60 + 10 * opts.apps)
    deploy_s = time.monotonic() - t0
    time.sleep(5)  # the passes that follow the last status
    pid = node.pid
    edge = idle_window(pid, relay, opts.idle)
    mappings = top_mappings(pid)
    deploys = [one_more(stack, f"more{i}") for i in range(opts.deploys)]

    tmp = tempfile.mkdtemp(prefix="bench-edge-", dir=t.tmp)
    floor_exe, needed = build_floor(node.argv[0], tmp)
    floor = (measure_process([floor_exe], relay, min(opts.idle, 10), env=env) if floor_exe
             else None)
    sub = measure_process(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(relay.port), "-k", "15",
                           "-q", "1", "-t", f"ferry-bench/{os.getpid()}/idle"], relay,
                          min(opts.idle, 60))

    print(f"\n== edge-sync at rest on {engine}: {opts.apps} apps ({2 * opts.apps} containers), "
          f"idle window {edge['seconds']} s ==")
    print(f"deployed {opts.apps} apps to Running in {deploy_s:.1f} s; "
          f"threads {edge['threads']}; peak RSS (VmHWM) {kib(edge['hwm_kib'])}")
    print(f"{'':30} {'RSS':>10} {'private':>10} {'priv.dirty':>10} {'CPU s/h':>8} "
          f"{'bytes/h':>9}")
    rows = [("edge-sync (median)", edge), ("floor: its libraries, idle", floor),
            ("mosquitto_sub -k 15, idle", sub)]
    for label, r in rows:
        if r is None:
            continue
        print(f"{label:30} {kib(r['rss_kib']):>10} {kib(r['private_kib']):>10} "
              f"{kib(r['private_dirty_kib']):>10} {r['cpu_s_per_h']:8.2f} {r['bytes_per_h']:9d}")
    print(f"edge-sync max over the window: RSS {kib(edge['rss_max_kib'])}, private "
          f"{kib(edge['private_max_kib'])}; goals: private < 5 MiB, RSS < 10 MiB")
    print(f"edge-sync wire: {edge['bytes_up']} B up, {edge['bytes_down']} B down in "
          f"{edge['seconds']} s (~{edge['segments_per_h']} reads/h)")
    print("edge-sync mappings with the most private memory (KiB private / RSS):")
    for priv, rss, name in mappings:
        print(f"  {priv:7d} {rss:7d}  {name}")
    totals = [d for d, _ in deploys]
    print(f"POST -> pod running with {opts.apps} apps on the node: "
          + ", ".join(f"{d * 1000:.0f} ms" for d in totals)
          + f" (median {statistics.median(totals) * 1000:.0f} ms)")
    if all(e is not None for _, e in deploys):
        own = [d - e for d, e in deploys]
        print("  of which the engine's create+start: "
              + ", ".join(f"{e * 1000:.0f} ms" for _, e in deploys)
              + "; the rest (Ferry's own share): "
              + ", ".join(f"{o * 1000:.0f} ms" for o in own)
              + f" (median {statistics.median(own) * 1000:.0f} ms)")
    print(json.dumps({"engine": engine, "apps": opts.apps, "edge": edge, "floor": floor,
                      "mosquitto_sub": sub, "floor_libs": len(needed),
                      "deploy_all_s": round(deploy_s, 1),
                      "post_to_running_ms": [round(d * 1000) for d, _ in deploys],
                      "engine_create_start_ms": [None if e is None else round(e * 1000)
                                                 for _, e in deploys]}))


if __name__ == "__main__":
    main()
