"""End to end over a bad link: the node talks to the broker through a TCP proxy that cuts every
connection at random moments (seeded, so a failure can be replayed), while apps are created,
updated several times and deleted. Once the link heals, the node runs exactly the apps that exist,
each at its latest version with its latest environment: no lost update, no resurrected delete, no
duplicate container."""
import random
import socket
import threading

import harness
from common import app_names_on, wait_phase, web_app

SEED = 20261126


class ChaosProxy:
    """127.0.0.1:port -> the broker; cut() closes every open connection."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []
        self.cuts = 0
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
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns.append((client, up))
            for a, b in ((client, up), (up, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for pair in conns:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
        self.cuts += len(conns)

    def close(self):
        self.closed = True
        self.sock.close()
        self.cut()


def test(t):
    rng = random.Random(SEED)
    proxy = ChaosProxy(t.mqtt_port)
    stack = t.stack(nodes=[], start=False)
    node = stack.add_node("east")
    node.argv[node.argv.index("--mqtt") + 1] = f"tcp://127.0.0.1:{proxy.port}"
    stack.start()
    assert stack.register_node("east", {"region": "east"})[0] == 201

    # Chaos: cut the node's link every 0.3-3 s while the cloud keeps changing.
    stop = threading.Event()

    cut_done = threading.Event()

    def chaos():
        while not stop.wait(rng.uniform(0.3, 3.0)):
            proxy.cut()
            cut_done.set()
    chaos_thread = threading.Thread(target=chaos, daemon=True)
    chaos_thread.start()

    def after_a_cut():
        """Pace the changes by the link's failures: each one lands while the node reconnects."""
        assert cut_done.wait(10), "the chaos thread stopped cutting"
        cut_done.clear()

    expected = {}
    ops = random.Random(SEED + 1)
    names = [f"a{i}" for i in range(5)]
    for name in names:
        after_a_cut()
        code, body = stack.create_app(web_app(name, "east", f"{name}-v0"))
        assert code == 201, body
        expected[name] = f"{name}-v0"
    for round_ in range(1, 4):
        for name in names:
            if name not in expected:
                continue
            after_a_cut()
            code, app = stack.api.get(stack.path("apps", name))
            app["services"][0]["env"][0]["value"] = f"{name}-v{round_}"
            assert stack.api.put(stack.path("apps", name), app)[0] == 200
            expected[name] = f"{name}-v{round_}"
        victim = ops.choice(sorted(expected))
        if round_ < 3 and len(expected) > 2:
            after_a_cut()
            assert stack.api.delete(stack.path("apps", victim))[0] == 200
            del expected[victim]
    # A deleted app re-created under the same name must come back at its new version.
    after_a_cut()
    code, body = stack.create_app(web_app("a9", "east", "a9-v0"))
    assert code == 201
    after_a_cut()
    assert stack.api.delete(stack.path("apps", "a9"))[0] == 200
    code, body = stack.create_app(web_app("a9", "east", "a9-again"))
    assert code == 201
    expected["a9"] = "a9-again"

    stop.set()
    chaos_thread.join()
    print(f"{proxy.cuts} connections cut while {len(names) * 4 + 3} changes were made")

    harness.poll(lambda: app_names_on(stack, "east") == set(expected), 120,
                 f"east runs exactly {sorted(expected)}", alive=stack.check_alive)
    for name, greeting in expected.items():
        code, app = stack.api.get(stack.path("apps", name))
        wait_phase(stack, name, "east", "Running", app["version"], timeout=120)
        pods = stack.pods(node="east", app=name)
        assert len(pods) == 2, f"{name}: expected infra + service, got {[c['Names'] for c in pods]}"
        svc = [c for c in pods if c["Labels"].get("io.ferry.role") == "service"][0]
        env = t.engine.inspect(svc["Id"])["Config"]["Env"]
        assert f"GREETING={greeting}" in env, (name, greeting, env)
    proxy.close()


harness.run(test)
