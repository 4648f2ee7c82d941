"""Benchmark: one broker-bridge at fleet scale (issue 9). Loads N registered nodes, A live apps and D
deleted ones (created, then deleted: tombstones, the churn every list still scans) through the
REST API, then measures the bridge's RSS, the latency of list pages (apps, nodes, name search,
label selectors) on 1 and on C connections beside /healthz and a point GET, the rate at which it
stores app.status messages (counted in its LMDB status database, not as sent), and the latency of
an app write (PUT, one env value) with and without that status load, and then the cost of an
app's status view (every node, a page, the summary only) for an app on every node and one on a
zone. Baseline in the same run:
mosquitto relaying the same status messages to a plain subscriber. Prints a table and writes JSON
(--json); asserts nothing about speed.

    python3 bench/bench_bridge.py --build-dir bb [--nodes 100000] [--apps 10000]
        [--deleted 5000] [--statuses 100000] [--requests 500] [--shape-seconds 30]
        [--conns 8] [--load-conns 8] [--data-dir /tmp] [--json FILE] [--keep DIR]

It starts its own mosquitto (a config with the per-client limits raised, no persistence) on a
free loopback port and one broker-bridge (--insecure-nodes --plain-http, its data and admin
token file in the work folder). Statuses are published by <build>/bench/status_load (C, Paho,
QoS 1, retained like a node's, several clients, a window of publishes in flight). Every request
and message is real: nothing is mocked. Goals of the issue, shown beside the figures: RSS < 1 GiB,
list p99 < 10 ms for a page of 20, >= 20,000 statuses stored per second."""
import argparse
import http.client
import json
import math
import multiprocessing
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402

ZONES = 50
TIERS = ("edge", "gw", "core")

# Set in the parent before the pools fork (the workers inherit them).
G = {"port": None, "token": None, "ns": None}


def node_labels(i):
    labels = {"zone": f"z{i % ZONES}", "rack": f"r{(i // ZONES) % 40}",
              "tier": TIERS[i % len(TIERS)], "arch": "arm64" if i % 4 == 0 else "amd64"}
    if i % 10 == 0:
        labels["gpu"] = "true"
    return labels


def app_spec(k, value="v0"):
    """A small app (1-2 services) with one of five selector shapes."""
    name = f"app-{k}"
    svcs = [{"name": f"{name}-web", "image": "hollow/web:1", "command": ["httpd", "-f"],
             "env": [{"name": "GREETING", "value": value}, {"name": "MODE", "value": "prod"}]}]
    if k % 3 == 0:
        svcs.append({"name": f"{name}-side", "image": "hollow/side:1", "command": ["sleep", "1d"]})
    s = {"name": name, "description": "bridge bench", "services": svcs, "replicas": 1}
    shape = k % 5
    if shape == 0:
        s["selector"] = {"matchLabels": {"zone": f"z{k % ZONES}"}}
    elif shape == 1:
        s["selector"] = {"matchLabels": {"zone": f"z{k % ZONES}", "tier": TIERS[k % 3]}}
    elif shape == 2:
        s["selector"] = {"matchExpressions": [{"key": "tier", "operator": "In",
                                               "values": ["edge", "gw"]}]}
    elif shape == 3:
        s["selector"] = {"matchLabels": {"rack": f"r{k % 40}"},
                         "matchExpressions": [{"key": "gpu", "operator": "Exists"}]}
    # shape 4: no selector (every node of the namespace)
    return s


class Conn:
    """One keep-alive HTTP/1.1 connection to the bridge, reopened after an error."""

    def __init__(self):
        self.c = None

    def request(self, method, path, body=None):
        hdrs = {"Authorization": f"Bearer {G['token']}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", G["port"], timeout=120)
            try:
                self.c.request(method, path, body=data, headers=hdrs)
                r = self.c.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                self.c.close()
                self.c = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


# ---- loading (worker processes) ----------------------------------------------------------------

def _register(chunk):
    conn, bad = Conn(), []
    for i in chunk:
        code, body = conn.request("POST", f"/v1/namespaces/{G['ns']}/nodes",
                                  {"name": f"node-{i}", "labels": node_labels(i)})
        if code != 201:
            bad.append((i, code, body[:200].decode(errors="replace")))
    return len(chunk), bad


def _create(chunk):
    conn, versions, bad = Conn(), {}, []
    for k in chunk:
        code, body = conn.request("POST", f"/v1/namespaces/{G['ns']}/apps", app_spec(k))
        if code in (200, 201):
            versions[k] = json.loads(body)["version"]
        else:
            bad.append((k, code, body[:200].decode(errors="replace")))
    return versions, bad


def _delete(chunk):
    conn, bad = Conn(), []
    for k in chunk:
        code, body = conn.request("DELETE", f"/v1/namespaces/{G['ns']}/apps/app-{k}")
        if code not in (200, 204):
            bad.append((k, code, body[:200].decode(errors="replace")))
    return len(chunk), bad


def load(pool, fn, items, what, chunk=200):
    """Run fn over items in chunks on the pool; returns (results, seconds). Fails on errors."""
    chunks = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    t0, done, results, last = time.monotonic(), 0, [], 0.0
    for res in pool.imap_unordered(fn, chunks):
        results.append(res)
        bad = res[1]
        if bad:
            raise RuntimeError(f"{what}: {len(bad)} failed, first: {bad[0]}")
        done += chunk
        if time.monotonic() - last > 10:
            last = time.monotonic()
            el = last - t0
            print(f"  {what}: {min(done, len(items))}/{len(items)} in {el:.0f} s "
                  f"({min(done, len(items)) / el:.0f}/s)", flush=True)
    return results, time.monotonic() - t0


# ---- latency (worker processes) ----------------------------------------------------------------

def _timed(args):
    """Requests one after the other on one connection until the paths or the time run out:
    (latencies in s, errors, first error)."""
    method, paths, deadline, body = args
    conn, lat, errors, first = Conn(), [], 0, None
    for p in paths:
        if time.monotonic() >= deadline:
            break
        t = time.perf_counter()
        code, data = conn.request(method, p, body(p) if body else None)
        lat.append(time.perf_counter() - t)
        if code != 200:
            errors += 1
            first = first or f"{code} {p}: {data[:200].decode(errors='replace')}"
    return lat, errors, first


def pct(xs, q):
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def summarize(lat, errors, first, wall):
    r = {"requests": len(lat), "errors": errors,
         "p50_ms": round(pct(lat, 50) * 1000, 3) if lat else None,
         "p99_ms": round(pct(lat, 99) * 1000, 3) if lat else None,
         "max_ms": round(max(lat) * 1000, 3) if lat else None,
         "req_per_s": round(len(lat) / wall, 1) if wall > 0 else None}
    if first:
        r["first_error"] = first
    return r


def measure(pool, conns, paths, seconds, method="GET", body=None):
    """The paths on `conns` connections (one per worker process; 1: in this process)."""
    deadline = time.monotonic() + seconds
    t0 = time.monotonic()
    if conns == 1:
        lat, errors, first = _timed((method, paths, deadline, body))
    else:
        parts = [paths[i::conns] for i in range(conns)]
        lat, errors, first = [], 0, None
        for lt, er, fi in pool.map(_timed, [(method, p, deadline, body) for p in parts]):
            lat += lt
            errors += er
            first = first or fi
    return summarize(lat, errors, first, time.monotonic() - t0)


# ---- the bridge's process and store ------------------------------------------------------------

def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        st = f.read()
    kib = {k: int(re.search(rf"{k}:\s+(\d+)", st).group(1))
           for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}
    # RssFile is mostly LMDB's map (page cache the kernel may drop), RssAnon the heap.
    return {"rss_mib": round(kib["VmRSS"] / 1024, 1), "hwm_mib": round(kib["VmHWM"] / 1024, 1),
            "anon_mib": round(kib["RssAnon"] / 1024, 1),
            "file_mib": round(kib["RssFile"] / 1024, 1),
            "threads": int(re.search(r"Threads:\s+(\d+)", st).group(1))}


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_count(data):
    """Entries of the bridge's status database (mdb_stat, a read transaction of its own)."""
    out = subprocess.run(["mdb_stat", "-s", "status", data], capture_output=True, text=True,
                         timeout=30)
    m = re.search(r"Entries:\s+(\d+)", out.stdout)
    if m is None:
        raise RuntimeError(f"mdb_stat: {out.stdout} {out.stderr}")
    return int(m.group(1))


def pair(j, nodes, live):
    """The j-th (node, app) pair: node j % N, for node i the apps i, i+1, ... of the live list, so
    every j < N * A is a distinct status record."""
    i = j % nodes
    return f"node-{i}", live[(i + j // nodes) % len(live)]


def write_pairs(path, lo, hi, nodes, live, versions):
    with open(path, "w") as f:
        for j in range(lo, hi):
            node, k = pair(j, nodes, live)
            f.write(f"{node} app-{k} {versions[k]}\n")


def ingest(a, build, uri, ns, data, pairs, count0, target, bridge_pid, during=None):
    """Publish the pairs' statuses and wait until the status database holds target more records
    (or nothing moves for 15 s). `during`, if given, runs in a thread meanwhile and gets a stop
    event. Returns the figures."""
    t_start = time.monotonic()
    cpu0 = cpu_s(bridge_pid)
    pub = subprocess.Popen([os.path.join(build, "bench", "status_load"), "--mqtt", uri, "--ns",
                            ns, "--pairs", pairs, "--clients", str(a.mqtt_clients), "--window",
                            str(a.window), "--retain", "--timeout", str(a.timeout)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()
    result = {}
    th = None
    if during is not None:
        th = threading.Thread(target=lambda: result.update(during(stop)))
        th.start()
    stored, last_change, last, t_done = 0, time.monotonic(), -1, None
    samples = []
    try:
        while True:
            stored = status_count(data) - count0
            now = time.monotonic()
            samples.append((now - t_start, stored))
            if stored >= target:
                t_done = now
                break
            if stored != last:
                last, last_change = stored, now
            elif now - last_change > 15 and pub.poll() is not None:
                break
            if now - t_start > a.timeout:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        if th is not None:
            th.join()
        out, err = pub.communicate(timeout=a.timeout)
    cpu = cpu_s(bridge_pid) - cpu0
    line = next((x for x in out.splitlines() if x.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"status_load failed: {err[-2000:]}")
    p = json.loads(line)
    # From status_load's first publish (its CLOCK_MONOTONIC is time.monotonic's clock).
    t_first = p["t0"] if p.get("t0", 0) > t_start else t_start
    samples = [(t + t_start - t_first, c) for t, c in samples]
    seconds = (t_done or time.monotonic()) - t_first
    r = {"published": p["sent"], "acked": p["acked"], "publish_s": p["pub_s"],
         "publish_per_s": p["pub_per_s"], "stored": stored, "complete": t_done is not None,
         "stored_s": round(seconds, 2), "stored_per_s": round(stored / seconds),
         "bridge_cpu_s": round(cpu, 1)}
    # The steady rate: records stored between 10 % and 90 % of the target, per second.
    lo = next((s for s in samples if s[1] >= 0.1 * target), None)
    hi = next((s for s in samples if s[1] >= 0.9 * target), None)
    if lo and hi and hi[0] > lo[0]:
        r["stored_per_s_10_90"] = round((hi[1] - lo[1]) / (hi[0] - lo[0]))
    r.update(result)
    return r


# ---- the run -----------------------------------------------------------------------------------

def fmt(v, decimals=3):
    """Milliseconds: 3 decimals below 100; rates: fmt(v, 1)."""
    if v is None:
        return "-"
    return f"{v:,.{decimals}f}" if isinstance(v, float) and v < 100 else f"{v:,.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default="bb")
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--apps", type=int, default=10_000, help="live apps")
    ap.add_argument("--deleted", type=int, default=5_000, help="apps created, then deleted")
    ap.add_argument("--statuses", type=int, default=100_000,
                    help="status records published per ingestion run (distinct node/app pairs)")
    ap.add_argument("--requests", type=int, default=500, help="per request shape and conns")
    ap.add_argument("--shape-seconds", type=float, default=30,
                    help="time cap per request shape and conns (fewer requests then)")
    ap.add_argument("--puts", type=int, default=200, help="PUTs measured without load")
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--load-conns", type=int, default=8, help="concurrent loading connections")
    ap.add_argument("--mqtt-clients", type=int, default=4)
    ap.add_argument("--window", type=int, default=1000, help="QoS 1 publishes in flight")
    ap.add_argument("--timeout", type=float, default=900.0, help="per ingestion run, seconds")
    ap.add_argument("--data-dir", default=None,
                    help="where the work folder goes (default: the system temp folder)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--keep", help="work folder to keep (default: a temp folder, removed)")
    a = ap.parse_args()
    random.seed(a.seed)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = a.keep or tempfile.mkdtemp(prefix="ferry-bridge-bench-", dir=a.data_dir)
    os.makedirs(work, exist_ok=True)
    build = os.path.abspath(a.build_dir)
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    G["ns"] = ns
    procs = []
    out = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "nodes": a.nodes, "apps": a.apps, "deleted": a.deleted, "statuses": a.statuses,
           "conns": a.conns, "load_conns": a.load_conns, "work": work}
    pool = None

    def start(argv, log):
        p = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    try:
        mport = harness.free_port()
        with open(os.path.join(work, "mosquitto.conf"), "w") as f:
            f.write(f"listener {mport} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 1000000\nmax_inflight_messages 100\n"
                    "max_connections -1\nlog_type error\nlog_type warning\n"
                    f"log_dest file {work}/mosquitto.log\n")
        start(["mosquitto", "-c", os.path.join(work, "mosquitto.conf")],
              os.path.join(work, "mosquitto.out"))
        harness.poll(lambda: __import__("socket").create_connection(("127.0.0.1", mport), 1)
                     .close() or True, 20, f"mosquitto on {mport}")
        uri = f"tcp://127.0.0.1:{mport}"

        port = harness.free_port()
        data = os.path.join(work, "bridge-data")
        bridge = start([os.path.join(build, "broker-bridge", "broker-bridge"), "--listen",
                        f"127.0.0.1:{port}", "--plain-http", "--mqtt", uri, "--insecure-nodes",
                        "--data", data, "--client-id", f"ferry-bridge-{ns}", "--log-level",
                        "warn"], os.path.join(work, "bridge.log"))
        G["port"] = port
        harness.poll(lambda: harness.http_get(port, "/healthz")[0] == 200, 30, "bridge /healthz",
                     interval=0.1)
        harness.poll(lambda: os.path.exists(data + ".admin-token"), 10, "admin token file")
        with open(data + ".admin-token") as f:
            G["token"] = f.read().strip()
        out["rss_empty"] = proc_status(bridge.pid)

        # Forked after G is set: every worker holds the port, token and namespace.
        pool = multiprocessing.get_context("fork").Pool(max(a.load_conns, a.conns))

        # 1. Loading: nodes first (a node's registration computes its sync over the apps, which
        # are none yet), then live and deleted apps interleaved (app k is deleted when k % 3 == 2
        # while deleted ones remain), so tombstones are spread through the key space.
        print(f"loading {a.nodes} nodes, {a.apps} apps, {a.deleted} deleted apps "
              f"({a.load_conns} connections)", flush=True)
        _, s = load(pool, _register, list(range(a.nodes)), "nodes")
        out["load_nodes"] = {"count": a.nodes, "seconds": round(s, 1), "per_s": round(a.nodes / s)}
        total = a.apps + a.deleted
        dead = set()
        if a.deleted:
            step = total / a.deleted
            dead = {min(total - 1, int(i * step + step / 2)) for i in range(a.deleted)}
        live = [k for k in range(total) if k not in dead]
        res, s = load(pool, _create, list(range(total)), "apps")
        versions = {}
        for v, _ in res:
            versions.update(v)
        out["load_apps"] = {"count": total, "seconds": round(s, 1), "per_s": round(total / s)}
        if dead:
            _, s = load(pool, _delete, sorted(dead), "deletes")
            out["load_deletes"] = {"count": len(dead), "seconds": round(s, 1),
                                   "per_s": round(len(dead) / s)}
        out["rss_loaded"] = proc_status(bridge.pid)
        out["store_mib"] = round(os.path.getsize(os.path.join(data, "data.mdb")) / 2**20, 1)
        print(f"loaded: bridge RSS {out['rss_loaded']['rss_mib']} MiB", flush=True)

        # 2. Reads: each shape on 1 connection and on --conns.
        pages_apps = max(1, math.ceil(a.apps / 20))
        pages_nodes = max(1, math.ceil(a.nodes / 20))
        base = f"/v1/namespaces/{ns}"
        q = urllib.parse.quote

        def text():
            return f"-{random.randrange(10, 1000)}"  # e.g. "-42": node-42, node-420..., app-1042

        shapes = {
            "healthz": lambda: "/healthz",
            "app_get": lambda: f"{base}/apps/app-{random.choice(live)}",
            "apps_page": lambda: f"{base}/apps?page={random.randint(1, pages_apps)}&pageSize=20",
            "apps_page1_size1": lambda: f"{base}/apps?page=1&pageSize=1",
            "apps_name": lambda: f"{base}/apps?name={q(text())}&pageSize=20",
            "node_get": lambda: f"{base}/nodes/node-{random.randrange(a.nodes)}",
            "nodes_page": lambda: f"{base}/nodes?page={random.randint(1, pages_nodes)}&pageSize=20",
            "nodes_name": lambda: f"{base}/nodes?name={q(text())}&pageSize=20",
            "nodes_selector_zone": lambda: (
                f"{base}/nodes?selector={q('zone=z' + str(random.randrange(ZONES)))}"
                f"&page={random.randint(1, max(1, a.nodes // ZONES // 20))}&pageSize=20"),
            "nodes_selector_set": lambda: (
                f"{base}/nodes?selector={q('tier in (edge,gw),!gpu,arch=amd64')}"
                f"&page={random.randint(1, max(1, a.nodes // 3 // 20))}&pageSize=20"),
        }
        out["reads"] = {}
        for name, gen in shapes.items():
            for conns in (1, a.conns):
                paths = [gen() for _ in range(a.requests)]
                cpu0 = cpu_s(bridge.pid)
                r = measure(pool, conns, paths, a.shape_seconds)
                # The bridge's own CPU per request: what a request costs, whatever else the
                # machine runs (wall-clock latencies on a shared machine are not).
                r["bridge_cpu_ms"] = round((cpu_s(bridge.pid) - cpu0) * 1000
                                           / max(1, r["requests"]), 3)
                out["reads"][f"{name}/{conns}"] = r
                print(f"  {name:22s} conns {conns}: {r}", flush=True)
        out["rss_after_reads"] = proc_status(bridge.pid)

        # 3. Writes without load: PUT of one app (one env value changes each time).
        put_k = live[0]
        put_path = f"{base}/apps/app-{put_k}"
        seq = iter(range(10**9))

        def put_body(_):
            return app_spec(put_k, f"u{next(seq)}")

        r = measure(None, 1, [put_path] * a.puts, a.shape_seconds, "PUT", put_body)
        out["put_idle"] = r
        print(f"  PUT idle: {r}", flush=True)

        # 4. Status ingestion, beside the raw broker relaying the same messages.
        n_stat = min(a.statuses, a.nodes * len(live) // 2)
        pairs1 = os.path.join(work, "pairs1.txt")
        pairs2 = os.path.join(work, "pairs2.txt")
        write_pairs(pairs1, 0, n_stat, a.nodes, live, versions)
        write_pairs(pairs2, n_stat, 2 * n_stat, a.nodes, live, versions)
        raw = subprocess.run([os.path.join(build, "bench", "status_load"), "--mqtt", uri, "--ns",
                              ns, "--pairs", pairs1, "--prefix", "bench", "--clients",
                              str(a.mqtt_clients), "--window", str(a.window), "--retain",
                              "--subscribe", "--timeout", str(a.timeout)],
                             capture_output=True, text=True, timeout=a.timeout + 60)
        line = next((x for x in raw.stdout.splitlines() if x.startswith("{")), None)
        out["raw_broker"] = json.loads(line) if line else {"error": raw.stderr[-2000:]}
        print(f"  raw broker: {out['raw_broker']}", flush=True)

        count0 = status_count(data)
        r = ingest(a, build, uri, ns, data, pairs1, count0, n_stat, bridge.pid)
        out["ingest"] = r
        print(f"  ingestion: {r}", flush=True)

        # 5. Writes under status load: PUTs one after the other while the next statuses go in.
        def puts_under_load(stop):
            lat, errors, first = [], 0, None
            conn = Conn()
            t0 = time.monotonic()
            while not stop.is_set():
                t = time.perf_counter()
                code, body = conn.request("PUT", put_path, put_body(None))
                lat.append(time.perf_counter() - t)
                if code != 200:
                    errors += 1
                    first = first or f"{code}: {body[:200]}"
            return {"put_under_load": summarize(lat, errors, first, time.monotonic() - t0)}

        count0 = status_count(data)
        r = ingest(a, build, uri, ns, data, pairs2, count0, n_stat, bridge.pid,
                   during=puts_under_load)
        out["put_under_load"] = r.pop("put_under_load", None)
        out["ingest_with_puts"] = r
        print(f"  ingestion with PUTs: {r}", flush=True)
        print(f"  PUT under load: {out['put_under_load']}", flush=True)

        # 6. Status views, now that statuses are stored: the app on every node (no selector) and
        # one on a zone, whole and paged (pageSize 20 at a random page; 0: the summary only).
        out["status_views"] = {}
        for shape, what in ((4, "every node"), (0, "one zone")):
            k = next(x for x in live if x % 5 == shape)
            spath = f"{base}/apps/app-{k}/status"
            code, body = Conn().request("GET", spath + "?pageSize=0")
            total = json.loads(body)["total"] if code == 200 else 0
            views = {"whole": lambda: spath,
                     "page": lambda: (f"{spath}?page={random.randint(1, max(1, total // 20))}"
                                      "&pageSize=20"),
                     "summary": lambda: f"{spath}?pageSize=0"}
            for vname, gen in views.items():
                n = 5 if vname == "whole" else a.requests
                cpu0 = cpu_s(bridge.pid)
                r = measure(None, 1, [gen() for _ in range(n)], a.shape_seconds)
                r["bridge_cpu_ms"] = round((cpu_s(bridge.pid) - cpu0) * 1000
                                           / max(1, r["requests"]), 3)
                if vname == "whole":
                    r["bytes"] = len(Conn().request("GET", spath)[1])
                r["app"], r["nodes"], r["what"] = f"app-{k}", total, what
                out["status_views"][f"{vname}/{shape}"] = r
                print(f"  status view {vname} of app-{k} ({total} nodes): {r}", flush=True)
        out["rss_end"] = proc_status(bridge.pid)
        out["store_mib_end"] = round(os.path.getsize(os.path.join(data, "data.mdb")) / 2**20, 1)
        with open(os.path.join(work, "bridge.log")) as f:
            log = f.read()
        out["bridge_log_warnings"] = len(re.findall(r"\bWARN", log))
        out["bridge_log_errors"] = len(re.findall(r"\bERROR", log))
        report(out)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(out, f, indent=1)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        harness.stop_procs(procs)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def report(o):
    print()
    print(f"broker-bridge at {o['nodes']:,} nodes, {o['apps']:,} apps, {o['deleted']:,} deleted "
          f"apps ({o['date']})")
    print()
    print("| load | count | seconds | per second |")
    print("|---|---|---|---|")
    for k in ("load_nodes", "load_apps", "load_deletes"):
        if k in o:
            print(f"| {k[5:]} | {o[k]['count']:,} | {o[k]['seconds']} | {o[k]['per_s']:,} |")
    print()
    print("| bridge RSS, MiB | empty | loaded | after reads | end (peak) |")
    print("|---|---|---|---|---|")
    for k, what in (("rss_mib", "VmRSS (goal < 1024)"), ("anon_mib", "anonymous (heap)"),
                    ("file_mib", "file (LMDB map)")):
        print(f"| {what} | {o['rss_empty'][k]} | {o['rss_loaded'][k]} | "
              f"{o['rss_after_reads'][k]} | {o['rss_end'][k]} ({o['rss_end']['hwm_mib']}) |"
              if k == "rss_mib" else
              f"| {what} | {o['rss_empty'][k]} | {o['rss_loaded'][k]} | "
              f"{o['rss_after_reads'][k]} | {o['rss_end'][k]} |")
    print(f"\nLMDB file: {o['store_mib']} MiB loaded, {o['store_mib_end']} MiB at the end")
    print()
    print("| request (pageSize 20) | conns | requests | p50 ms | p99 ms | max ms | req/s | "
          "bridge CPU ms/req | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k, r in o["reads"].items():
        name, conns = k.split("/")
        print(f"| {name} | {conns} | {r['requests']} | {fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} | "
              f"{fmt(r['max_ms'])} | {fmt(r['req_per_s'], 1)} | {fmt(r.get('bridge_cpu_ms'))} | "
              f"{r['errors']} |")
    for k in ("put_idle", "put_under_load"):
        r = o.get(k)
        if r:
            print(f"| PUT app ({k[4:]}) | 1 | {r['requests']} | {fmt(r['p50_ms'])} | "
                  f"{fmt(r['p99_ms'])} | {fmt(r['max_ms'])} | {fmt(r['req_per_s'], 1)} | - | "
                  f"{r['errors']} |")
    print()
    print("| statuses (QoS 1, retained) | messages | publish/s (acked) | stored/s (10-90 %) | "
          "stored/s (all) | complete | bridge CPU s | bridge CPU us/status |")
    print("|---|---|---|---|---|---|---|---|")
    rb = o["raw_broker"]
    if "received" in rb:
        print(f"| raw mosquitto -> 1 subscriber | {rb['sent']:,} | {rb['pub_per_s']:,.0f} | - | "
              f"{rb['recv_per_s']:,.0f} (received) | {rb['received'] == rb['sent']} | - | - |")
    for k in ("ingest", "ingest_with_puts"):
        r = o[k]
        print(f"| bridge{' + PUTs' if k != 'ingest' else ''} | {r['published']:,} | "
              f"{r['publish_per_s']:,.0f} | {fmt(r.get('stored_per_s_10_90'))} | "
              f"{r['stored_per_s']:,} | {r['complete']} | {r['bridge_cpu_s']} | "
              f"{r['bridge_cpu_s'] * 1e6 / max(1, r['stored']):.0f} |")
    if o.get("status_views"):
        print()
        print("| app status view | nodes | answer | requests | p50 ms | p99 ms | "
              "bridge CPU ms/req |")
        print("|---|---|---|---|---|---|---|")
        for k, r in o["status_views"].items():
            answer = {"whole": f"every node ({r.get('bytes', 0) / 2**20:.1f} MiB)",
                      "page": "a page of 20", "summary": "summary only"}[k.split("/")[0]]
            print(f"| {r['what']} | {r['nodes']:,} | {answer} | {r['requests']} | "
                  f"{fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} | {fmt(r.get('bridge_cpu_ms'))} |")
    print()
    print(f"bridge log: {o['bridge_log_warnings']} warnings, {o['bridge_log_errors']} errors")


if __name__ == "__main__":
    main()
