"""Logs over MQTT and edge-sync's metrics, end to end: a real broker-bridge, an edge-sync node
with --metrics-listen on a real engine, a container that writes lines.

- `ferryctl logs` (GET .../nodes/{node}/logs) prints the container's last lines, only the newer
  ones with --since, and the API's errors name what is wrong (no such service, a node that is
  offline, an app with several services and no service named);
- the node's GET /metrics passes `promtool check metrics` and counts what happened (engine calls
  that created and started the containers, reconciliation passes, the app in the store, the
  last sync), and refuses anything but GET /metrics."""
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

import harness
from common import IMAGE, wait_phase

NODE = "east"
# Writes a numbered line a second after a first marker line; exits at once on SIGTERM.
TALKER = ["sh", "-c", "echo first-line; i=0; trap 'exit 0' TERM; "
          "while true; do echo line-$i; i=$((i+1)); sleep 1 & wait; done"]


@pytest.fixture(scope="module")
def setup(t):
    port = harness.free_port()
    stack = t.stack(nodes=[NODE], edge_args=("--metrics-listen", f"127.0.0.1:{port}"))
    assert stack.register_node(NODE, {"region": NODE})[0] == 201
    app = {"name": "talker", "selector": {"matchLabels": {"region": NODE}},
           "services": [{"name": "talk", "image": IMAGE, "command": TALKER}]}
    code, body = stack.create_app(app)
    assert code == 201, body
    wait_phase(stack, "talker", NODE, "Running", body["version"])
    two = {"name": "pair", "selector": {"matchLabels": {"region": NODE}},
           "services": [{"name": "one", "image": IMAGE, "command": TALKER},
                        {"name": "two", "image": IMAGE, "command": TALKER}]}
    code, body = stack.create_app(two)
    assert code == 201, body
    wait_phase(stack, "pair", NODE, "Running", body["version"])
    return stack, port


def ctl(t, stack, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    with open(stack.token_file) as f:
        env.update(FERRY_SERVER=stack.url, FERRY_TOKEN=f.read().strip(),
                   FERRY_NAMESPACE=stack.ns, HOME=t.tmp)
    return subprocess.run([os.path.join(t.build_dir, "ferryctl", "ferryctl"), *args],
                          capture_output=True, text=True, timeout=60, env=env)


def test_logs_of_a_running_container(t, setup):
    stack, _ = setup
    # The container writes a line a second: wait until it wrote a few.
    def enough():
        p = ctl(t, stack, "logs", "talker", "--node", NODE, "--tail", "1000")
        assert p.returncode == 0, f"exit {p.returncode}: {p.stdout} {p.stderr}"
        return p.stdout if "first-line" in p.stdout and "line-3" in p.stdout else None
    out = harness.poll(enough, 60, "four lines in the talker's log")
    assert out.splitlines()[0] == "first-line", out
    p = ctl(t, stack, "logs", "talker", "--node", NODE, "--service", "talk", "--tail", "2")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 2 and all(re.fullmatch(r"line-\d+", x) for x in lines), p.stdout
    # --since 2s: only the newest lines, never the first one (written long before).
    p = ctl(t, stack, "logs", "talker", "--node", NODE, "--since", "2s")
    assert p.returncode == 0, p.stderr
    assert "first-line" not in p.stdout and "line-" in p.stdout, p.stdout


def scrape(port, path="/metrics", method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def value(text, name, **labels):
    """The sample of name with exactly these labels, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    line = re.search(rf"^{re.escape(name)}{re.escape('{' + want + '}') if want else ''} (\S+)$",
                     text, re.M)
    return float(line.group(1)) if line else None


def test_edge_metrics(t, setup):
    """Before anything restarts the node: its counters start at zero with the process."""
    stack, port = setup
    status, ctype, text = scrape(port)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing (apt-get install prometheus; scripts/deps.sh)"
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, f"promtool: {p.stdout.decode()}{p.stderr.decode()}\n{text}"
    # Two apps of three services in all: each container created and started once at least.
    assert value(text, "ferry_edge_engine_calls_total", call="create", result="ok") >= 5, text
    assert value(text, "ferry_edge_engine_calls_total", call="start", result="ok") >= 5, text
    assert value(text, "ferry_edge_engine_call_seconds_count", call="list") >= 1, text
    assert value(text, "ferry_edge_reconcile_passes_total", result="ok") >= 2, text
    assert value(text, "ferry_edge_surveys_total") >= 1, text
    assert value(text, "ferry_edge_apps") == 2, text
    assert value(text, "ferry_edge_mqtt_connected") == 1, text
    # The apps came as app.put or in a node.sync (which one depends on the hello's timing).
    assert (value(text, "ferry_edge_messages_total", type="app") or 0) + \
        (value(text, "ferry_edge_messages_total", type="node.sync") or 0) >= 2, text
    assert value(text, "ferry_edge_messages_total", type="logs.request") >= 1, text
    age = value(text, "ferry_edge_last_sync_age_seconds")
    assert age is not None and 0 <= age < 3600, text
    assert value(text, "ferry_edge_store_used_bytes") > 0, text
    assert scrape(port, "/other")[0] == 404
    assert scrape(port, "/metrics", "POST")[0] == 405
    # A request that never ends its head is dropped, and the server goes on answering.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X: " + b"y" * 9000)
        assert b"431" in s.recv(200)
    assert scrape(port)[0] == 200


def test_logs_errors_name_the_problem(t, setup):
    stack, _ = setup
    p = ctl(t, stack, "logs", "talker", "--node", NODE, "--service", "nope")
    assert p.returncode == 1 and "no service 'nope'" in p.stderr, p.stderr
    p = ctl(t, stack, "logs", "pair", "--node", NODE)
    assert p.returncode == 1 and "service" in p.stderr and "2 services" in p.stderr, p.stderr
    p = ctl(t, stack, "logs", "pair", "--node", NODE, "--service", "two", "--tail", "1")
    assert p.returncode == 0 and p.stdout.strip().startswith(("line-", "first-line")), p
    p = ctl(t, stack, "logs", "talker", "--node", "ghost")
    assert p.returncode == 1 and "not found" in p.stderr, p.stderr
    code, body = stack.api.get(stack.path("nodes", NODE, "logs") + "?app=talker&tail=0")
    assert code == 400 and body.get("field") == "tail", (code, body)
    # An offline node: 503 at once, naming it.
    stack.nodes[NODE].stop()
    try:
        def offline():
            code, body = stack.api.get(stack.path("nodes", NODE, "logs") + "?app=talker")
            return (code, body) if code == 503 else None
        code, body = harness.poll(offline, 30, "503 for the logs of a stopped node")
        assert "offline" in body["error"], body
    finally:
        stack.start_node(NODE)
