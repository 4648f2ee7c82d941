"""A CI-sized hollow fleet: N = 500 edge nodes in one process (bench/hollow_fleet.c: edge-sync's
real MQTT core, session, sync rules and LMDB store, a hollow engine that runs what
ferry_plan_node decides) behind a broker-bridge and a mosquitto of this test's own (it kills and
restarts the broker). After creates, updates (env values and a selector change), deletes,
relabels of some nodes and a broker restart (with changes made while the broker is down), every
node must hold exactly the live apps its labels select, at their latest versions, and run exactly
those (hollow_fleet's --report, read until it matches or a deadline passes; on timeout the
message names the nodes that differ and how). Nothing is timed: the figures are benchmarks
(bench/bench_fleet.py).

Needs mosquitto, broker-bridge and hollow_fleet (built with the tree); no services, no engine:
    python3 -m pytest tests/e2e/test_fleet.py --build-dir bf
"""
import json
import os
import resource
import shutil
import signal
import tempfile
import time
import uuid

import pytest

import harness
from common import selector_matches

NEEDS_SERVICES = False  # conftest.py: no `t`; this file starts its own broker and daemons

N = 500
ZONES = 5
DEADLINE = 90.0  # seconds per convergence; it takes a few


def labels_of(i, zone_shift=0):
    """Node i's labels: a zone, a tier, and a "gpu" label on every 11th node."""
    lab = {"zone": f"z{(i + zone_shift) % ZONES}", "tier": "gold" if i % 7 == 0 else "std"}
    if i % 11 == 0:
        lab["gpu"] = "yes"
    return lab


def app_spec(name, selector, value, services=3):
    # Service names start with the app's: two apps on one node may not share one.
    svcs = [{"name": f"{name}-s{j}", "image": "hollow/web:1", "command": ["httpd", "-f"],
             "env": [{"name": "GREETING", "value": value}]} for j in range(services)]
    s = {"name": name, "description": "fleet test", "services": svcs, "replicas": 1}
    if selector is not None:
        s["selector"] = selector
    return s


class Fleet:
    """mosquitto + broker-bridge + hollow_fleet, and the model of what every node must hold."""

    def __init__(self, build, tmp):
        self.build, self.tmp = build, tmp
        self.ns = f"fleet-{uuid.uuid4().hex[:6]}"
        self.names = [f"hollow-{i}" for i in range(N)]
        self.labels = {n: labels_of(i) for i, n in enumerate(self.names)}
        self.apps = {}  # name -> (selector, version) of the live apps
        self.mport = harness.free_port()
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.mport} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 100000\nmax_inflight_messages 100\n"
                    "max_connections -1\nlog_type error\nlog_type warning\n")
        self.mosquitto = harness.Daemon("mosquitto", [shutil.which("mosquitto") or
                                                      "/usr/sbin/mosquitto", "-c", conf],
                                        os.path.join(tmp, "mosquitto.log"))
        self.port = harness.free_port()
        data = os.path.join(tmp, "bridge-data")
        uri = f"tcp://127.0.0.1:{self.mport}"
        self.bridge = harness.Daemon(
            "broker-bridge",
            [os.path.join(build, "broker-bridge", "broker-bridge"), "--listen",
             f"127.0.0.1:{self.port}", "--plain-http", "--mqtt", uri, "--insecure-nodes",
             "--data", data, "--client-id", f"ferry-bridge-{self.ns}", "--log-level", "info"],
            os.path.join(tmp, "bridge.log"))
        self.api = harness.Api(f"http://127.0.0.1:{self.port}", token_file=data + ".admin-token")
        self.report = os.path.join(tmp, "report.json")
        self.fleet = harness.Daemon(
            "hollow_fleet",
            [os.path.join(build, "bench", "hollow_fleet"), "--mqtt", uri, "--ns", self.ns,
             "--nodes", str(N), "--prefix", "hollow", "--data", os.path.join(tmp, "nodes"),
             "--connect-rate", "1000", "--report", self.report],
            os.path.join(tmp, "fleet.log"))
        self.daemons = [self.mosquitto, self.bridge, self.fleet]

    def path(self, *parts):
        return "/".join([f"/v1/namespaces/{self.ns}", *parts])

    def start_broker(self):
        self.mosquitto.start()
        harness.poll(self._broker_up, 20, f"mosquitto on port {self.mport}",
                     alive=self.check_alive)

    def _broker_up(self):
        import socket
        socket.create_connection(("127.0.0.1", self.mport), 1).close()
        return True

    def check_alive(self):
        for d in self.daemons:
            if d.proc is not None and not d.running() and not d.expect_exit:
                raise AssertionError(f"{d.name} exited ({d.proc.returncode}); its log:\n"
                                     f"{d.log_tail(40)}")

    def start(self):
        self.start_broker()
        self.bridge.start()
        harness.poll(lambda: self.api.get("/healthz", timeout=2)[0] == 200, 30,
                     "bridge /healthz", alive=self.check_alive)

    def stop(self):
        for d in reversed(self.daemons):
            d.stop()

    # -- changes through the REST API, recorded in the model
    def register(self):
        for n in self.names:
            code, body = self.api.post(self.path("nodes"), {"name": n, "labels": self.labels[n]})
            assert code == 201, (n, code, body)

    def put_app(self, name, selector, value):
        if name in self.apps:
            code, body = self.api.put(self.path("apps", name), app_spec(name, selector, value))
            assert code == 200, (name, code, body)
        else:
            code, body = self.api.post(self.path("apps"), app_spec(name, selector, value))
            assert code == 201, (name, code, body)
        self.apps[name] = (selector, body["version"])

    def delete_app(self, name):
        code, body = self.api.delete(self.path("apps", name))
        assert code in (200, 204), (name, code, body)
        del self.apps[name]

    def relabel(self, name, labels):
        code, body = self.api.put(self.path("nodes", name), {"labels": labels})
        assert code == 200, (name, code, body)
        self.labels[name] = labels

    # -- judging
    def expected(self, node):
        lab = self.labels[node]
        return {a: v for a, (sel, v) in self.apps.items() if selector_matches(sel, lab)}

    def differences(self, want_up):
        """[] when every node holds and runs exactly what it should (and is connected, when
        want_up), else the differing nodes with what was seen."""
        try:
            with open(self.report) as f:
                seen = json.load(f)["node"]
        except (OSError, ValueError, KeyError) as e:
            return [f"no report yet ({e})"]
        diffs = []
        for n in self.names:
            want, got = self.expected(n), seen.get(n, {})
            if got.get("held") != want or got.get("running") != want or \
                    (want_up and not got.get("up")):
                diffs.append({"node": n, "labels": self.labels[n], "want": want,
                              "held": got.get("held"), "running": got.get("running"),
                              "storeLabels": got.get("labels"), "up": got.get("up")})
        return diffs

    def wait_converged(self, what, want_up=True):
        last = []

        def converged():
            nonlocal last
            last = self.differences(want_up)
            return not last

        t0 = time.monotonic()
        try:
            harness.poll(converged, DEADLINE, what, interval=0.2, alive=self.check_alive)
            print(f"{what}: {N} nodes exact after {time.monotonic() - t0:.1f}s")
        except harness.PollTimeout:
            shown = "\n".join(json.dumps(d, sort_keys=True) for d in last[:10])
            raise AssertionError(f"{what}: {len(last)} of {N} nodes differ after {DEADLINE}s; "
                                 f"the first ones:\n{shown}") from None


@pytest.fixture
def fleet(request):
    build = os.path.abspath(request.config.getoption("build_dir"))
    # mosquitto and the fleet each hold a socket per node.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="ferry-e2e-fleet-")
    f = Fleet(build, tmp)
    failures = request.session.testsfailed
    started = False
    try:
        f.start()
        started = True
        yield f
    finally:
        f.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        if not started or request.session.testsfailed > failures or \
                request.config.getoption("keep"):
            print(f"fleet test: logs and data kept in {tmp}")
            for d in f.daemons:
                print(f"---- {d.name} ({d.log_path}), last lines:\n{d.log_tail(30)}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def test_fleet_converges_exactly(fleet):
    f = fleet
    f.register()
    # Before the nodes connect: apps of every kind of selector.
    zone = {"matchLabels": {"zone": "z0"}}
    for k in range(ZONES):
        f.put_app(f"zone-{k}", {"matchLabels": {"zone": f"z{k}"}}, "v0")
    f.put_app("everywhere", None, "v0")
    f.put_app("gold", {"matchLabels": {"tier": "gold"}}, "v0")
    f.put_app("gold-z1", {"matchLabels": {"zone": "z1", "tier": "gold"}}, "v0")
    f.put_app("gpu-not-z2", {"matchExpressions": [
        {"key": "gpu", "operator": "Exists"},
        {"key": "zone", "operator": "NotIn", "values": ["z2"]}]}, "v0")
    f.fleet.start()
    f.wait_converged("the initial sync")

    # Creates while the nodes are connected.
    f.put_app("east", {"matchExpressions": [{"key": "zone", "operator": "In",
                                             "values": ["z3", "z4"]}]}, "v0")
    f.put_app("zone0-b", zone, "v0")
    f.put_app("std", {"matchLabels": {"tier": "std"}}, "v0")
    f.wait_converged("creates")

    # Updates: env values (patches), twice in a row for one app, and a selector change.
    f.put_app("everywhere", None, "v1")
    f.put_app("zone-2", {"matchLabels": {"zone": "z2"}}, "v1")
    f.put_app("zone-2", {"matchLabels": {"zone": "z2"}}, "v2")
    f.put_app("gold", {"matchLabels": {"tier": "gold"}}, "v1")
    f.put_app("zone-1", {"matchLabels": {"zone": "z3"}}, "v1")  # moves from z1 to z3
    f.wait_converged("updates")

    # Deletes, and a name deleted and created again.
    f.delete_app("zone0-b")
    f.delete_app("gold-z1")
    f.delete_app("std")
    f.put_app("std", {"matchLabels": {"tier": "std", "zone": "z4"}}, "v0")
    f.wait_converged("deletes")

    # Relabels: 25 nodes change zone, 5 lose their tier, 5 gain a gpu label.
    for i in range(0, N, 20):
        n = f.names[i]
        f.relabel(n, labels_of(i, zone_shift=1))
    for i in range(3, 40, 8):
        lab = dict(f.labels[f.names[i]])
        lab.pop("tier")
        f.relabel(f.names[i], lab)
    for i in range(1, 50, 10):
        f.relabel(f.names[i], dict(f.labels[f.names[i]], gpu="yes"))
    f.wait_converged("relabels")

    # Broker restart, with changes made while it is down (the bridge's outbox holds them).
    f.mosquitto.kill(signal.SIGKILL)
    f.put_app("everywhere", None, "v2")
    f.delete_app("zone-3")
    f.put_app("late", {"matchLabels": {"zone": "z2"}}, "v0")
    for i in (5, 6, 7, 8, 9):
        f.relabel(f.names[i], labels_of(i, zone_shift=2))
    f.start_broker()
    f.wait_converged("the broker restart")
