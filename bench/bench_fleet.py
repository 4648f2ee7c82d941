"""Benchmark: a fleet of N hollow nodes (bench/hollow_fleet.c: edge-sync's real MQTT core,
session and LMDB store, a hollow engine) behind one broker-bridge. Measures the initial sync (all
nodes connected and running what they target), then the time from one app update (one env value)
until the bridge's status API counts every targeted node Running at the new version, beside a raw
MQTT fan-out of a payload of the same size to the same number of subscribers (hollow_fleet --raw)
on the same broker in the same run. Prints figures; asserts nothing about speed.

    python3 bench/bench_fleet.py --build-dir bf --nodes 100 [--zones 10] [--apps 10]
        [--services 10] [--updates 5] [--keep DIR]

It starts its own mosquitto (a config with the per-client limits raised, no persistence) on a
free loopback port and a broker-bridge with --insecure-nodes; nothing else (no engine is needed).
Apps: app-k (k < --apps) selects zone=z{k % zones}; app "everywhere" has no selector (all nodes).
Node i carries zone=z{i % zones}."""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402


def spec(name, services, value, zone=None):
    svcs = [{"name": f"{name}-s{j}", "image": "hollow/web:1", "command": ["httpd", "-f"],
             "env": [{"name": "GREETING", "value": value}]} for j in range(services)]
    s = {"name": name, "description": "fleet bench", "services": svcs, "replicas": 1}
    if zone is not None:
        s["selector"] = {"matchLabels": {"zone": zone}}
    return s


def wait_port(port, timeout=20.0):
    import socket
    harness.poll(lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True,
                 timeout, f"port {port}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default="bf")
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--zones", type=int, default=10)
    ap.add_argument("--apps", type=int, default=10)
    ap.add_argument("--services", type=int, default=10)
    ap.add_argument("--updates", type=int, default=5)
    ap.add_argument("--connect-rate", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=600.0, help="per phase, seconds")
    ap.add_argument("--nodes-dir", help="where the nodes' stores go (default: in the work folder); "
                    "on tmpfs (/dev/shm) LMDB's fsyncs cost nothing: the fleet commits every "
                    "node's store on one thread, one after the other, which N real nodes do not")
    ap.add_argument("--keep", help="work folder to keep (default: a temp folder, removed)")
    a = ap.parse_args()

    # mosquitto and the fleet each hold a socket per node: take every descriptor allowed.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = a.keep or tempfile.mkdtemp(prefix="ferry-fleet-")
    os.makedirs(work, exist_ok=True)
    build = os.path.abspath(a.build_dir)
    procs = []
    ns = f"fleet-{uuid.uuid4().hex[:6]}"
    out = {"nodes": a.nodes, "zones": a.zones, "apps": a.apps, "services": a.services}

    def start(argv, log, pipe=False):
        """A child with its output in log (stdout piped instead, as text, when pipe)."""
        err = open(log + (".err" if pipe else ""), "w")
        p = subprocess.Popen(argv, stdout=subprocess.PIPE if pipe else err,
                             stderr=err if pipe else subprocess.STDOUT, text=True)
        procs.append(p)
        return p

    try:
        mport = harness.free_port()
        with open(os.path.join(work, "mosquitto.conf"), "w") as f:
            f.write(f"listener {mport} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 100000\nmax_inflight_messages 100\n"
                    "max_connections -1\nlog_type error\nlog_type warning\n"
                    f"log_dest file {work}/mosquitto.log\n")
        start(["mosquitto", "-c", os.path.join(work, "mosquitto.conf")],
                       os.path.join(work, "mosquitto.out"))
        wait_port(mport)
        uri = f"tcp://127.0.0.1:{mport}"

        port = harness.free_port()
        data = os.path.join(work, "bridge-data")
        bridge = start([os.path.join(build, "broker-bridge", "broker-bridge"), "--listen",
                        f"127.0.0.1:{port}", "--plain-http", "--mqtt", uri, "--insecure-nodes",
                        "--data", data, "--client-id", f"ferry-bridge-{ns}", "--log-level", "warn"],
                       os.path.join(work, "bridge.log"))
        api = harness.Api(f"http://127.0.0.1:{port}", token_file=data + ".admin-token")
        harness.poll(lambda: api.get("/healthz", timeout=2)[0] == 200, 30, "bridge /healthz",
                     alive=lambda: bridge.poll() is None)
        path = f"/v1/namespaces/{ns}"

        t0 = time.monotonic()
        names = [f"hollow-{i}" for i in range(a.nodes)]
        for i, n in enumerate(names):
            code, body = api.post(path + "/nodes", {"name": n, "labels": {"zone": f"z{i % a.zones}"}})
            assert code == 201, (code, body)
        out["register_s"] = round(time.monotonic() - t0, 2)

        versions = {}
        apps = {f"app-{k}": f"z{k % a.zones}" for k in range(a.apps)}
        apps["everywhere"] = None
        for name, zone in apps.items():
            code, body = api.post(path + "/apps", spec(name, a.services, "v0", zone))
            assert code in (200, 201), (code, body)
            versions[name] = body["version"]
        expect = {}
        for i, n in enumerate(names):
            z = f"z{i % a.zones}"
            expect[n] = {app: versions[app] for app, zone in apps.items() if zone in (None, z)}
        with open(os.path.join(work, "expect.json"), "w") as f:
            json.dump(expect, f)

        # The fleet: its first stdout line is the convergence.
        nodes_dir = os.path.join(a.nodes_dir or work, f"nodes-{ns}")
        fleet_log = os.path.join(work, "fleet.log")
        fleet = start([os.path.join(build, "bench", "hollow_fleet"), "--mqtt", uri, "--ns", ns,
                       "--nodes", str(a.nodes), "--prefix", "hollow", "--data",
                       nodes_dir, "--connect-rate", str(a.connect_rate),
                       "--expect", os.path.join(work, "expect.json"), "--report",
                       os.path.join(work, "report.json")],
                      fleet_log, pipe=True)
        line = fleet.stdout.readline()
        if not line:
            raise RuntimeError(f"hollow_fleet ended before converging; see {fleet_log}.err")
        conv = json.loads(line)
        out["initial_sync_s"] = conv["seconds"]
        out["fleet_rss_mib"] = round(conv["rssKiB"] / 1024, 1)
        out["fleet_threads"] = conv["threads"]
        out["fleet_fds"] = conv["fds"]

        def durable(app, version, targeted):
            code, body = api.get(f"{path}/apps/{app}/status", timeout=30)
            s = body["summary"] if code == 200 else {}
            return (body.get("version") == version and s.get("targeted") == targeted and
                    s.get("running") == targeted and s.get("applied") == targeted)

        # Wait until the bridge saw every initial status.
        t0 = time.monotonic()
        for app, zone in apps.items():
            targeted = sum(1 for n in names if app in expect[n])
            harness.poll(lambda: durable(app, versions[app], targeted), a.timeout,
                         f"{app} Running on {targeted} nodes", interval=0.2)
        out["initial_statuses_seen_extra_s"] = round(time.monotonic() - t0, 2)

        # The delta's size: capture one publish of the "everywhere" app.
        size_cap = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mport), "-V", "mqttv5", "-C", "1",
             "-W", "30", "-F", "%l", "-t", f"ferry/{ns}/all/apps/everywhere"],
            stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        for app in ("app-0", "everywhere"):
            targeted = sum(1 for n in names if app in expect[n])
            times = []
            for u in range(a.updates):
                code, body = api.put(f"{path}/apps/{app}",
                                     spec(app, a.services, f"u{u}", apps[app]))
                t0 = time.monotonic()
                assert code == 200, (code, body)
                v = body["version"]
                harness.poll(lambda: durable(app, v, targeted), a.timeout,
                             f"{app} v{v} Running on {targeted} nodes", interval=0.02,
                             alive=lambda: fleet.poll() is None)
                times.append(time.monotonic() - t0)
            out[f"update_{app}"] = {"targeted": targeted,
                                    "median_s": round(statistics.median(times), 3),
                                    "min_s": round(min(times), 3), "max_s": round(max(times), 3)}
        size = int(size_cap.communicate(timeout=35)[0].strip() or "0")
        out["delta_bytes"] = size
        with open(f"/proc/{fleet.pid}/status") as f:
            st = f.read()
        out["fleet_rss_mib_end"] = round(int(re.search(r"VmRSS:\s+(\d+)", st).group(1)) / 1024, 1)
        out["fleet_threads_end"] = int(re.search(r"Threads:\s+(\d+)", st).group(1))
        fleet.send_signal(signal.SIGTERM)
        fleet.wait(timeout=max(60, a.nodes / 20))

        # Raw baseline: the same broker fanning a payload of the delta's size out to as many
        # plain subscribers as the "everywhere" app targets.
        raw = subprocess.run([os.path.join(build, "bench", "hollow_fleet"), "--mqtt", uri,
                              "--raw", str(a.nodes), "--raw-bytes", str(max(size, 1)),
                              "--raw-rounds", str(a.updates), "--connect-rate",
                              str(a.connect_rate)], capture_output=True, text=True,
                             timeout=a.timeout)
        rounds = [json.loads(x)["ms"] / 1000 for x in raw.stdout.splitlines() if '"raw"' in x]
        if rounds:
            out["raw_fanout"] = {"subscribers": a.nodes, "bytes": size,
                                 "median_s": round(statistics.median(rounds), 3),
                                 "min_s": round(min(rounds), 3), "max_s": round(max(rounds), 3)}
        else:
            out["raw_fanout"] = {"error": raw.stderr[-2000:]}
        print(json.dumps(out, indent=1))
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
        if a.nodes_dir:
            shutil.rmtree(os.path.join(a.nodes_dir, f"nodes-{ns}"), ignore_errors=True)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
