"""End to end over a bad link: the node talks to the broker through a TCP proxy that cuts its
connection at random moments (seeded, so a failure can be replayed), while apps are created,
updated several times and deleted; each round of changes starts right after a real cut (while
the node is cut off), and the test fails unless the link was really cut. Once the link heals,
the node runs exactly the apps that exist, each at its latest version with its latest
environment: no lost update, no resurrected delete, no duplicate container. The chaos runs once
(module fixture); the tests check its outcome."""
import random
import socket
import threading

import pytest

import harness
from common import app_names_on, wait_phase, web_app

SEED = 20261126
CUT_TIMEOUT = 30  # s to wait for a fresh cut; the node is back 5-7 s after one here


class ChaosProxy:
    """127.0.0.1:port -> the broker. A connection is live while it is open both ways and the
    broker has answered on it (the MQTT session is up). cut() closes every live connection and
    returns how many it closed; .cuts counts only those real cuts (a cut that finds the node
    between connections, or still connecting, cuts and counts nothing), .accepted the connections
    the node made."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.open = set()  # (client, upstream) pairs whose two pumps both still run
        self.live = set()  # those of them on which the broker has answered
        self.cuts = 0
        self.accepted = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
                up.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = (client, up)
            with self.lock:
                self.open.add(pair)
                self.accepted += 1
            for a, b in ((client, up), (up, client)):
                threading.Thread(target=self._pump, args=(pair, a, b), daemon=True).start()

    def _pump(self, pair, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                if src is pair[1]:  # the broker answered (CONNACK first)
                    with self.lock:
                        if pair in self.open:
                            self.live.add(pair)
        except OSError:
            pass
        with self.lock:
            self.open.discard(pair)  # ended by either side: no longer there to cut
            self.live.discard(pair)
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            pairs, self.live = self.live, set()
            self.open -= pairs
            self.cuts += len(pairs)
        self._close(pairs)
        return len(pairs)

    @staticmethod
    def _close(pairs):
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass

    def close(self):
        """Stop accepting and close every connection (not counted as cuts)."""
        self.closed = True
        self.sock.close()
        with self.lock:
            pairs, self.open, self.live = self.open, set(), set()
        self._close(pairs)


@pytest.fixture(scope="module")
def chaos(t, request):
    """Runs the changes over the cut link; returns (stack, proxy, {app: greeting} expected,
    {"changes": changes made, "rounds": rounds started right after a fresh cut})."""
    rng = random.Random(SEED)
    proxy = ChaosProxy(t.mqtt_port)
    request.addfinalizer(proxy.close)
    stack = t.stack(nodes=[], start=False)
    node = stack.add_node("east")
    node.argv[node.argv.index("--mqtt") + 1] = f"tcp://127.0.0.1:{proxy.port}"
    stack.start()
    assert stack.register_node("east", {"region": "east"})[0] == 201

    # Chaos: every 0.3-3 s the cutter cuts the node's link if it is up, while the cloud keeps
    # changing. (Here the node is back 5-7 s after a cut: Paho's retry interval and CONNACK.)
    stop = threading.Event()
    tried = threading.Event()
    cut = threading.Event()

    def chaos_loop():
        while not stop.wait(rng.uniform(0.3, 3.0)):
            if proxy.cut():
                cut.set()
            tried.set()
    chaos_thread = threading.Thread(target=chaos_loop, daemon=True)
    chaos_thread.start()
    count = {"changes": 0, "rounds": 0}

    def after_a_try():
        """Pace a change by the cutter's tries: it lands at a random moment of the link's life
        (the node connected, reconnecting, or just cut off)."""
        assert tried.wait(10), "the chaos thread stopped"
        tried.clear()
        count["changes"] += 1

    def after_a_cut():
        """Start a round of changes right after a fresh cut: its first change lands while the
        node is cut off."""
        cut.clear()
        if not cut.wait(CUT_TIMEOUT):
            raise harness.PollTimeout(
                f"no live connection to cut for {CUT_TIMEOUT}s (the node did not reconnect?): "
                f"{proxy.cuts} cuts, {proxy.accepted} connections accepted, {count}")
        tried.clear()
        count["changes"] += 1
        count["rounds"] += 1

    expected = {}
    try:
        ops = random.Random(SEED + 1)
        names = [f"a{i}" for i in range(5)]
        for name in names:
            after_a_cut() if name == names[0] else after_a_try()
            code, body = stack.create_app(web_app(name, "east", f"{name}-v0"))
            assert code == 201, body
            expected[name] = f"{name}-v0"
        for round_ in range(1, 4):
            first = True
            for name in names:
                if name not in expected:
                    continue
                after_a_cut() if first else after_a_try()
                first = False
                code, app = stack.api.get(stack.path("apps", name))
                app["services"][0]["env"][0]["value"] = f"{name}-v{round_}"
                assert stack.api.put(stack.path("apps", name), app)[0] == 200
                expected[name] = f"{name}-v{round_}"
            victim = ops.choice(sorted(expected))
            if round_ < 3 and len(expected) > 2:
                after_a_try()
                assert stack.api.delete(stack.path("apps", victim))[0] == 200
                del expected[victim]
        # A deleted app re-created under the same name must come back at its new version.
        after_a_cut()
        code, body = stack.create_app(web_app("a9", "east", "a9-v0"))
        assert code == 201
        after_a_try()
        assert stack.api.delete(stack.path("apps", "a9"))[0] == 200
        code, body = stack.create_app(web_app("a9", "east", "a9-again"))
        assert code == 201
        expected["a9"] = "a9-again"
    finally:
        stop.set()
        chaos_thread.join()
    return stack, proxy, expected, count


def test_the_link_was_really_cut(chaos):
    _, proxy, _, count = chaos
    print(f"{proxy.cuts} live connections cut ({proxy.accepted} made) while {count['changes']} "
          f"changes were made in {count['rounds']} rounds")
    # 5 creates, 5 + 4 + 3 updates, 2 deletes, a9 created and deleted, in 5 rounds (the creates,
    # each round of updates, a9), each round started right after a cut of its own.
    assert count == {"changes": 21, "rounds": 5}, count
    assert proxy.cuts >= count["rounds"], \
        f"only {proxy.cuts} real cuts for {count['rounds']} rounds started by a cut"


def test_node_runs_exactly_the_apps_that_exist(chaos):
    stack, _, expected, _ = chaos
    harness.poll(lambda: app_names_on(stack, "east") == set(expected), 120,
                 f"east runs exactly {sorted(expected)}", alive=stack.check_alive)


def test_each_app_runs_once_at_its_latest_version(t, chaos):
    stack, _, expected, _ = chaos
    for name, greeting in expected.items():
        code, app = stack.api.get(stack.path("apps", name))
        wait_phase(stack, name, "east", "Running", app["version"], timeout=120)
        pods = stack.pods(node="east", app=name)
        assert len(pods) == 2, f"{name}: expected infra + service, got {[c['Names'] for c in pods]}"
        svc = [c for c in pods if c["Labels"].get("io.ferry.role") == "service"][0]
        env = t.engine.inspect(svc["Id"])["Config"]["Env"]
        assert f"GREETING={greeting}" in env, (name, greeting, env)
