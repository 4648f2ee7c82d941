"""Benchmark: a fleet of N hollow nodes (bench/hollow_fleet.c: edge-sync's real MQTT core, session
and LMDB store, a hollow engine) behind one broker-bridge. Measures the initial sync (all nodes
connected and running what they target), then the time from one app update (one env value) until
every targeted node stored it and runs it (the fleet's "converged" line), and until the bridge's
status API counts every targeted node Running at the new version, beside a raw MQTT fan-out of a
payload of the same size to the same number of subscribers (hollow_fleet --raw, in as many
processes as the fleet) on the same broker in the same run. Then: relabel one node (messages the
bridge published and the nodes received, time until every node runs what it should), a broker
restart with every node connected (time until every node reconnected, had its node.sync and runs
what it should, and the traffic), optionally --create-apps K apps with a mix of selectors (time
until every node runs them), and the raw baselines: fan-out of a payload of the delta's size to N
subscribers, and a broker restart with N plain subscribers (hollow_fleet --raw N --raw-reconnect:
time until all are subscribed again). Prints a table and figures as JSON (--json FILE, and a PNG
chart beside it when gnuplot is installed); asserts nothing about speed.

    python3 bench/bench_fleet.py --build-dir bf --nodes 100 [--zones 10] [--apps 10]
        [--services 10] [--updates 5] [--create-apps 1000] [--json FILE] [--keep DIR]

Traffic: "bridge published" counts the messages (and payload bytes) on the topics only the bridge
publishes (ferry/{ns}/labels/#, all/#, nodes/+/sync, nodes/+/secrets/#) seen by one mosquitto_sub
(QoS 1): each publish once, before the broker's fan-out. After a broker restart that subscriber
is started again as soon as the broker listens, before the bridge's client reconnects (its retry
interval is at least a second), so it should miss nothing; "delivered" is what the hollow nodes
received on those topics, counted by hollow_fleet itself (exact).

It starts its own mosquitto (a config with the per-client limits raised, persistence on so that a
restart, SIGTERM, keeps the sessions) on a free loopback port and a broker-bridge with
--insecure-nodes; nothing else (no engine is needed).
Apps: app-k (k < --apps) selects zone=z{k % zones}; app "everywhere" has no selector (all nodes).
Node i carries zone=z{i % zones}, site=s{i % 100} and tier=gold (every 7th) or std."""
import argparse
import json
import queue
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402
from common import selector_matches  # noqa: E402


def spec(name, services, value, zone=None):
    svcs = [{"name": f"{name}-s{j}", "image": "hollow/web:1", "command": ["httpd", "-f"],
             "env": [{"name": "GREETING", "value": value}]} for j in range(services)]
    s = {"name": name, "description": "fleet bench", "services": svcs, "replicas": 1}
    if zone is not None:
        s["selector"] = {"matchLabels": {"zone": zone}}
    return s


def labels_of(i, zones):
    return {"zone": f"z{i % zones}", "site": f"s{i % 100}", "tier": "gold" if i % 7 == 0 else "std"}


def mixed_selectors(k, zones):
    """App k of --create-apps: 1 % everywhere, 49 % one zone, 40 % one site (of 100), 10 % two
    zones' gold nodes (matchExpressions: on the namespace-wide topic)."""
    r = k % 100
    if r == 0:
        return None
    if r < 50:
        return {"matchLabels": {"zone": f"z{k % zones}"}}
    if r < 90:
        return {"matchLabels": {"site": f"s{k % 100}"}}
    return {"matchExpressions": [{"key": "zone", "operator": "In",
                                  "values": [f"z{k % zones}", f"z{(k + 1) % zones}"]},
                                 {"key": "tier", "operator": "In", "values": ["gold"]}]}


class Figures(dict):
    """The figures; each one is printed to stderr when measured, so a run that fails later still
    shows what it measured."""

    def __setitem__(self, k, v):
        print(f"{time.strftime('%H:%M:%S')} {k}: {json.dumps(v)}", file=sys.stderr, flush=True)
        super().__setitem__(k, v)


class Counter:
    """Messages and payload bytes on the bridge's own topics, one mosquitto_sub (QoS 1)."""

    def __init__(self, port, ns):
        self.port, self.ns = port, ns
        self.msgs = self.bytes = 0
        self.lock = threading.Lock()
        self.proc = None
        self.ready = threading.Event()

    def start(self):
        self.ready.clear()
        probe = f"bench/{self.ns}/counter-probe"  # no node subscribes to it
        topics = [f"ferry/{self.ns}/labels/#", f"ferry/{self.ns}/all/#",
                  f"ferry/{self.ns}/nodes/+/sync", f"ferry/{self.ns}/nodes/+/secrets/#", probe]
        argv = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-V", "mqttv5",
                "-q", "1", "-F", "%t %l"]
        for t in topics:
            argv += ["-t", t]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, args=(self.proc, probe), daemon=True).start()
        # Subscribed once our own probe comes back (it is not counted).
        deadline = time.monotonic() + 20
        while not self.ready.wait(0.2) and time.monotonic() < deadline:
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t",
                            probe, "-m", "x", "-q", "1"], capture_output=True)

    def _read(self, proc, probe):
        for line in proc.stdout:
            topic, _, size = line.rstrip("\n").rpartition(" ")
            if topic == probe:
                self.ready.set()
                continue
            with self.lock:
                self.msgs += 1
                self.bytes += int(size or 0)

    def snapshot(self):
        with self.lock:
            return self.msgs, self.bytes

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


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
    ap.add_argument("--connect-rate", type=int, default=500, help="connects per second, in all")
    ap.add_argument("--procs", type=int, default=1,
                    help="hollow_fleet processes sharing the nodes, and the raw baselines' "
                    "subscribers (one reaches 10,000 since its connects are paced; Paho's "
                    "MQTTAsync walks lists of every client and every in-flight publication of "
                    "its process per packet, so a process of N/P clients costs ~1/P per packet)")
    ap.add_argument("--timeout", type=float, default=600.0, help="per phase, seconds")
    ap.add_argument("--nodes-dir", help="where the nodes' stores go (default: in the work folder); "
                    "on tmpfs (/dev/shm) LMDB's fsyncs cost nothing: the fleet commits every "
                    "node's store on one thread, one after the other, which N real nodes do not")
    ap.add_argument("--create-apps", type=int, default=0,
                    help="then create this many apps of 2 services with a mix of selectors")
    ap.add_argument("--json", help="write the figures here (and a PNG chart beside it)")
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
    out = Figures(nodes=a.nodes, zones=a.zones, apps=a.apps, services=a.services,
                  procs=a.procs)

    def start(argv, log, pipe=False):
        """A child with its output in log (stdout piped instead, as text, when pipe)."""
        err = open(log + (".err" if pipe else ""), "w")
        p = subprocess.Popen(argv, stdout=subprocess.PIPE if pipe else err,
                             stderr=err if pipe else subprocess.STDOUT, text=True)
        procs.append(p)
        return p

    try:
        mport = harness.free_port()
        # Started as root, mosquitto runs as the user mosquitto: a folder it may write.
        bdir = os.path.join(work, "broker")
        os.makedirs(bdir, exist_ok=True)
        os.chmod(work, 0o755)
        os.chmod(bdir, 0o777)
        with open(os.path.join(work, "mosquitto.conf"), "w") as f:
            # Persistence on, as a production broker has it: a restart (SIGTERM) keeps the
            # sessions, their subscriptions and queued messages.
            f.write(f"listener {mport} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {bdir}/\n"
                    "max_queued_messages 100000\nmax_inflight_messages 100\n"
                    "max_connections -1\nlog_type error\nlog_type warning\n"
                    f"log_dest file {bdir}/mosquitto.log\n")
        def start_broker():
            return start(["mosquitto", "-c", os.path.join(work, "mosquitto.conf")],
                         os.path.join(work, "mosquitto.out"))
        broker = start_broker()
        wait_port(mport)
        counter = Counter(mport, ns)
        counter.start()
        procs.append(counter.proc)  # stopped with the rest if the run fails

        def restart_broker(old):
            """SIGTERM (it saves its sessions), wait, start it again on the same port."""
            old.send_signal(signal.SIGTERM)
            old.wait(timeout=120)
            new = start_broker()
            wait_port(mport)
            return new
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
        labels = {n: labels_of(i, a.zones) for i, n in enumerate(names)}
        for n in names:
            code, body = api.post(path + "/nodes", {"name": n, "labels": labels[n]})
            assert code == 201, (code, body)
        out["register_s"] = round(time.monotonic() - t0, 2)

        versions = {}
        apps = {f"app-{k}": f"z{k % a.zones}" for k in range(a.apps)}
        apps["everywhere"] = None
        for name, zone in apps.items():
            code, body = api.post(path + "/apps", spec(name, a.services, "v0", zone))
            assert code in (200, 201), (code, body)
            versions[name] = body["version"]
        selectors = {app: ({"matchLabels": {"zone": z}} if z else None) for app, z in apps.items()}

        def write_expect():
            """Every node's apps at their versions, from the model (selectors, labels)."""
            exp = {n: {app: versions[app] for app, sel in selectors.items()
                       if selector_matches(sel, labels[n])} for n in names}
            with open(os.path.join(work, "expect.json"), "w") as f:
                json.dump(exp, f)
            return exp
        expect = write_expect()

        # The fleet: its first stdout line is the convergence.
        nodes_dir = os.path.join(a.nodes_dir or work, f"nodes-{ns}")
        # The fleet: --procs processes, each with its share of the nodes and stores of its own
        # (Paho's MQTTAsync serialises every client of a process on one lock).
        fleet_log = os.path.join(work, "fleet.log")
        fleets, queues = [], []
        share = -(-a.nodes // a.procs)
        for k in range(a.procs):
            first, cnt = k * share, min(share, a.nodes - k * share)
            if cnt <= 0:
                break
            fleets.append(start([os.path.join(build, "bench", "hollow_fleet"), "--mqtt", uri,
                                 "--ns", ns, "--nodes", str(cnt), "--first-node", str(first),
                                 "--prefix", "hollow", "--data", f"{nodes_dir}-{k}",
                                 "--connect-rate", str(max(1, a.connect_rate // a.procs)),
                                 "--expect", os.path.join(work, "expect.json"), "--report",
                                 os.path.join(work, f"report-{k}.json")],
                                f"{fleet_log}-{k}", pipe=True))
            queues.append(queue.Queue())  # (time read, line as JSON) of its stdout

        def read_fleet(proc, q):
            for ln in proc.stdout:
                q.put((time.monotonic(), json.loads(ln)))
            q.put((time.monotonic(), {"eof": True}))
        for proc, q in zip(fleets, queues):
            threading.Thread(target=read_fleet, args=(proc, q), daemon=True).start()

        def next_event(key, what, timeout=a.timeout, qs=None):
            """The next line with key of every fleet process (or of those reading into qs): the
            time the last one was read and the lines merged (counts summed, the latest wallMs)."""
            deadline = time.monotonic() + timeout
            got = []
            for k, q in enumerate(qs if qs is not None else queues):
                while True:
                    try:
                        t, ev = q.get(timeout=max(0.1, deadline - time.monotonic()))
                    except queue.Empty:
                        raise RuntimeError(f"timed out waiting for {what}") from None
                    if ev.get("eof"):
                        raise RuntimeError(f"hollow_fleet ended waiting for {what}; see "
                                           f"{fleet_log}-{k}.err")
                    if key in ev:
                        got.append((t, ev))
                        break
            merged = dict(got[0][1])
            for f in ("rx", "rxBytes", "rssKiB", "threads", "fds", "converged", "nodes"):
                if f in merged:
                    merged[f] = sum(ev[f] for _, ev in got)
            for f in ("seconds", "wallMs"):
                if f in merged:
                    merged[f] = max(ev[f] for _, ev in got)
            return max(t for t, _ in got), merged

        def reload_expect():
            """New expectations to the fleet (SIGHUP); the rx totals at that moment. Lines of
            an earlier expectation still queued are dropped first (a reload that finds every
            node of a process already running the new expectation prints its "converged" line
            at once, after its "reloaded" line)."""
            for q in queues:
                while not q.empty():
                    ev = q.get_nowait()[1]
                    if ev.get("eof"):
                        q.put((time.monotonic(), ev))
                        break
            for proc in fleets:
                proc.send_signal(signal.SIGHUP)
            return next_event("reloaded", "the fleet's reload")[1]

        conv = next_event("converged", "the initial convergence")[1]
        out["initial_sync_s"] = conv["seconds"]
        out["fleet_rss_mib"] = round(conv["rssKiB"] / 1024, 1)
        out["fleet_threads"] = conv["threads"]
        out["fleet_fds"] = conv["fds"]

        def durable(app, version, targeted):
            code, body = api.get(f"{path}/apps/{app}/status?pageSize=0", timeout=30)
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
            times, on_nodes = [], []
            for u in range(a.updates):
                # The version the update will get (the bridge's next rev: nothing else writes
                # now) goes to the fleet first, so that its "converged" line marks the moment
                # the last node stored the update and runs it; the bridge's status API is
                # polled only after that, so that polling does not load the bridge meanwhile.
                code, health = api.get("/healthz", timeout=10)
                assert code == 200, (code, health)
                v = versions[app] = health["rev"] + 1
                write_expect()
                reload_expect()
                t0 = time.monotonic()
                code, body = api.put(f"{path}/apps/{app}",
                                     spec(app, a.services, f"u{u}", apps[app]))
                assert code == 200 and body["version"] == v, (code, body, v)
                t1, _ = next_event("converged", f"{app} v{v} on its {targeted} nodes")
                on_nodes.append(t1 - t0)
                harness.poll(lambda: durable(app, v, targeted), a.timeout,
                             f"{app} v{v} Running on {targeted} nodes", interval=0.02,
                             alive=lambda: all(p.poll() is None for p in fleets))
                times.append(time.monotonic() - t0)
            out[f"update_{app}"] = {"targeted": targeted,
                                    "median_s": round(statistics.median(times), 3),
                                    "min_s": round(min(times), 3), "max_s": round(max(times), 3),
                                    "nodes_median_s": round(statistics.median(on_nodes), 3),
                                    "nodes_min_s": round(min(on_nodes), 3),
                                    "nodes_max_s": round(max(on_nodes), 3)}
        size = int(size_cap.communicate(timeout=35)[0].strip() or "0")
        out["delta_bytes"] = size

        # Relabel one node (zone z1 -> z2): messages published and delivered, time until every
        # node runs what it should.
        node = names[1 % a.nodes]
        new = dict(labels[node], zone=f"z{(int(labels[node]['zone'][1:]) + 1) % a.zones}")
        labels[node] = new
        write_expect()
        r0 = reload_expect()
        c0 = counter.snapshot()
        t0 = time.monotonic()
        code, body = api.put(f"{path}/nodes/{node}", {"labels": new})
        assert code == 200, (code, body)
        t1, ev = next_event("converged", "convergence after the relabel")
        harness.poll(lambda: counter.snapshot() != c0, 10, "the relabel's messages")
        c1 = counter.snapshot()
        out["relabel_one"] = {"converged_s": round(t1 - t0, 3),
                              "bridge_published_msgs": c1[0] - c0[0],
                              "bridge_published_bytes": c1[1] - c0[1],
                              "delivered_msgs": ev["rx"] - r0["rx"],
                              "delivered_bytes": ev["rxBytes"] - r0["rxBytes"]}

        # Broker restart with every node connected.
        r0 = reload_expect()
        counter.stop()
        t0 = time.monotonic()
        broker = restart_broker(broker)
        counter = Counter(mport, ns)
        counter.start()
        procs.append(counter.proc)  # stopped with the rest if the run fails
        t1, ev = next_event("settled", "every node reconnected and converged")
        c1 = counter.snapshot()
        out["broker_restart"] = {"settled_s": round(t1 - t0, 3),
                                 "bridge_published_msgs": c1[0], "bridge_published_bytes": c1[1],
                                 "delivered_msgs": ev["rx"] - r0["rx"],
                                 "delivered_bytes": ev["rxBytes"] - r0["rxBytes"]}

        if a.create_apps > 0:
            # K apps of 2 services with a mix of selectors: time from the first POST until every
            # node runs its share.
            r0 = reload_expect()
            c0 = counter.snapshot()
            t0 = time.monotonic()
            for k in range(a.create_apps):
                name, sel = f"mix-{k}", mixed_selectors(k, a.zones)
                body = spec(name, 2, "v0")
                if sel is not None:
                    body["selector"] = sel
                code, body = api.post(path + "/apps", body)
                assert code == 201, (code, body)
                versions[name], selectors[name] = body["version"], sel
            t_api = time.monotonic() - t0
            exp = write_expect()
            reload_expect()
            t1, ev = next_event("converged", f"{a.create_apps} apps on every node")
            c1 = counter.snapshot()
            held = sorted(len(v) for v in exp.values())
            out["create_apps"] = {"apps": a.create_apps, "api_s": round(t_api, 2),
                                  "converged_s": round(t1 - t0, 2),
                                  "apps_per_node_median": held[len(held) // 2],
                                  "bridge_published_msgs": c1[0] - c0[0],
                                  "bridge_published_bytes": c1[1] - c0[1],
                                  "delivered_msgs": ev["rx"] - r0["rx"],
                                  "delivered_bytes": ev["rxBytes"] - r0["rxBytes"]}
        rss = threads = 0
        for proc in fleets:
            with open(f"/proc/{proc.pid}/status") as f:
                st = f.read()
            rss += int(re.search(r"VmRSS:\s+(\d+)", st).group(1))
            threads += int(re.search(r"Threads:\s+(\d+)", st).group(1))
        out["fleet_rss_mib_end"] = round(rss / 1024, 1)
        out["fleet_threads_end"] = threads
        for proc in fleets:
            proc.send_signal(signal.SIGTERM)
        for proc in fleets:
            try:
                proc.wait(timeout=max(120, a.nodes / 10))
            except subprocess.TimeoutExpired:
                print("hollow_fleet did not stop after SIGTERM: killed", file=sys.stderr)
                proc.kill()
                proc.wait()

        def raw_fleet(extra):
            """N plain subscribers (the same MQTT core, persistent sessions) in --procs
            processes, shared as the fleet's nodes are: the processes and their stdout queues."""
            ps, qs = [], []
            for k in range(a.procs):
                first, cnt = k * share, min(share, a.nodes - k * share)
                if cnt <= 0:
                    break
                ps.append(start([os.path.join(build, "bench", "hollow_fleet"), "--mqtt", uri,
                                 "--raw", str(cnt), "--first-node", str(first),
                                 "--connect-rate", str(max(1, a.connect_rate // a.procs))] + extra,
                                f"{fleet_log}-raw-{k}", pipe=True))
                qs.append(queue.Queue())
                threading.Thread(target=read_fleet, args=(ps[-1], qs[-1]), daemon=True).start()
            return ps, qs

        def raw_stop(ps):
            for p in ps:
                p.send_signal(signal.SIGTERM)
            for p in ps:
                p.wait(timeout=max(60, a.nodes / 20))

        # Raw baseline: the same broker fanning a payload of the delta's size out to as many
        # plain subscribers as the "everywhere" app targets: one publish per SIGHUP to the
        # first process, the time until the last subscriber of every process got it.
        ps, qs = raw_fleet(["--raw-bytes", str(max(size, 1))])
        next_event("rawSubscribed", "the raw subscribers", qs=qs)
        rounds = []
        for u in range(a.updates):
            ps[0].send_signal(signal.SIGHUP)
            pub = next_event("rawPublished", "the raw publish", qs=qs[:1])[1]
            got = next_event("rawRound", f"raw round {u + 1} received by all", qs=qs)[1]
            rounds.append((got["wallMs"] - pub["wallMs"]) / 1000)
        raw_stop(ps)
        out["raw_fanout"] = {"subscribers": a.nodes, "bytes": size, "procs": len(ps),
                             "median_s": round(statistics.median(rounds), 3),
                             "min_s": round(min(rounds), 3), "max_s": round(max(rounds), 3)}

        # Raw baseline of the restart: N plain subscribers reconnect and subscribe again.
        ps, qs = raw_fleet(["--raw-reconnect"])
        next_event("rawSubscribed", "the raw subscribers", qs=qs)
        t0 = time.monotonic()
        broker = restart_broker(broker)
        t1, _ = next_event("rawSubscribed", "the raw subscribers after the restart", qs=qs)
        out["raw_reconnect"] = {"clients": a.nodes, "procs": len(ps),
                                "resubscribed_s": round(t1 - t0, 3)}
        raw_stop(ps)
        counter.stop()
        print(json.dumps(out, indent=1))
        table(out)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(out, f, indent=1)
            chart(out, a.json)
    finally:
        harness.stop_procs(procs)
        if a.nodes_dir:
            for k in range(a.procs):
                shutil.rmtree(os.path.join(a.nodes_dir, f"nodes-{ns}-{k}"), ignore_errors=True)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def table(o):
    """The figures beside their baselines, as a Markdown table."""
    def s(x):
        return "-" if x is None else f"{x:.3f} s"
    raw = o.get("raw_fanout", {}).get("median_s")
    rows = [("update app-0 -> stored + running on its N/zones nodes",
             o["update_app-0"]["nodes_median_s"], None, ""),
            ("update app-0 -> the bridge counts N/zones Running", o["update_app-0"]["median_s"],
             None, ""),
            ("update everywhere -> stored + running on N nodes",
             o["update_everywhere"]["nodes_median_s"], raw,
             "raw fan-out of the delta's size to N"),
            ("update everywhere -> the bridge counts N Running",
             o["update_everywhere"]["median_s"], raw, "raw fan-out of the delta's size to N"),
            ("broker restart -> all reconnected + converged", o["broker_restart"]["settled_s"],
             o["raw_reconnect"]["resubscribed_s"], "raw reconnect of N clients"),
            ("relabel one node -> converged", o["relabel_one"]["converged_s"], None, "")]
    if "create_apps" in o:
        rows.append((f"create {o['create_apps']['apps']} apps -> converged",
                     o["create_apps"]["converged_s"], None, ""))
    print(f"\nN = {o['nodes']}\n\n| figure | Ferry | baseline | ratio | baseline is |")
    print("|---|---|---|---|---|")
    for name, v, b, what in rows:
        ratio = f"{v / b:.1f}x" if b else "-"
        print(f"| {name} | {s(v)} | {s(b)} | {ratio} | {what} |")
    for k in ("relabel_one", "broker_restart", "create_apps"):
        if k in o:
            x = o[k]
            print(f"{k}: bridge published {x.get('bridge_published_msgs')} msgs "
                  f"({x.get('bridge_published_bytes', '-')} B), nodes received "
                  f"{x['delivered_msgs']} msgs ({x['delivered_bytes']} B)")


def chart(o, json_path):
    """A PNG bar chart beside the JSON (gnuplot, when installed): Ferry vs baseline."""
    gp = shutil.which("gnuplot")
    if gp is None:
        print("no gnuplot (apt-get install gnuplot-nox): no chart", file=sys.stderr)
        return
    dat, png = json_path + ".dat", os.path.splitext(json_path)[0] + ".png"
    with open(dat, "w") as f:
        f.write(f'"update everywhere (nodes)" {o["update_everywhere"]["nodes_median_s"]} '
                f'{o.get("raw_fanout", {}).get("median_s", 0)}\n')
        f.write(f'"update everywhere (bridge)" {o["update_everywhere"]["median_s"]} 0\n')
        f.write(f'"broker restart" {o["broker_restart"]["settled_s"]} '
                f'{o["raw_reconnect"]["resubscribed_s"] or 0}\n')
        f.write(f'"relabel one" {o["relabel_one"]["converged_s"]} 0\n')
    script = (f'set terminal png size 800,450; set output "{png}"; set style data histograms; '
              f'set style fill solid; set ylabel "seconds"; '
              f'set title "Ferry fleet, N = {o["nodes"]} hollow nodes"; '
              f'plot "{dat}" using 2:xtic(1) title "Ferry", "" using 3 title "raw MQTT"')
    subprocess.run([gp, "-e", script], check=False)
    os.unlink(dat)
    print(f"chart: {png}", file=sys.stderr)


if __name__ == "__main__":
    main()
