"""Integration test of broker-bridge's GET /metrics with the real daemon: who may scrape it (401
without a token, 403 for a token of one namespace, 200 for a viewer of every namespace), the
values after a known number of API calls (requests by route, method and code; apps, nodes and an
app's targeted nodes), and the text checked by Prometheus' own `promtool check metrics`.

Needs only the build and promtool (Debian's prometheus package; scripts/deps.sh installs it): no
broker, no engine.

    python3 tests/bridge/test_metrics.py --build-dir build
"""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_api_security as sec  # noqa: E402 - the Bridge fixture of the API tests

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset of (label, value)): float} of every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def sample(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def scrape(bridge, token="admin"):
    conn = bridge.connection()
    hdrs = {"Authorization": f"Bearer {bridge.token if token == 'admin' else token}"}
    try:
        conn.request("GET", "/metrics", headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read().decode()
    finally:
        conn.close()


def make_token(bridge, name, namespaces):
    st, body, _ = bridge.request("POST", "/v1/tokens", {"name": name, "role": "viewer",
                                                       "namespaces": namespaces})
    assert st == 201, (st, body)
    return body["token"]


def test_metrics():
    with sec.Bridge("--plain-http") as b:
        st, _, _ = b.get("/metrics", token=None)
        assert st == 401, st
        one = make_token(b, "one", ["default"])
        every = make_token(b, "every", ["*"])
        st, _, _ = scrape(b, one)
        assert st == 403, f"a token of one namespace scraped the metrics of all: {st}"

        for _ in range(7):
            assert b.get("/v1/namespaces/default/apps")[0] == 200
        web = dict(sec.APP, selector={"matchLabels": {"zone": "a"}})
        assert b.request("POST", "/v1/namespaces/default/apps", web)[0] == 201
        assert b.request("POST", "/v1/namespaces/default/apps", dict(sec.APP, name="db"))[0] == 201
        assert b.request("POST", "/v1/namespaces/default/apps", {"name": "bad"})[0] == 400
        for i in range(3):
            node = {"name": f"n{i}", "labels": {"zone": "a" if i < 2 else "b"}}
            assert b.request("POST", "/v1/namespaces/default/nodes", node)[0] == 201

        st, ctype, text = scrape(b, every)
        assert st == 200, (st, text)
        assert ctype.startswith("text/plain; version=0.0.4"), ctype
        s = parse(text)
        apps = "/v1/namespaces/{ns}/apps"
        want = {
            ("ferry_bridge_api_requests_total", (("route", apps), ("method", "GET"),
                                                 ("code", "200"))): 7,
            ("ferry_bridge_api_requests_total", (("route", apps), ("method", "POST"),
                                                 ("code", "201"))): 2,
            ("ferry_bridge_api_requests_total", (("route", apps), ("method", "POST"),
                                                 ("code", "400"))): 1,
            ("ferry_bridge_api_requests_total", (("route", "/metrics"), ("method", "GET"),
                                                 ("code", "403"))): 1,
            ("ferry_bridge_api_request_duration_seconds_count", (("route", apps),
                                                                 ("method", "GET"))): 7,
            ("ferry_bridge_apps", (("namespace", "default"),)): 2,
            ("ferry_bridge_nodes", (("namespace", "default"),)): 3,
            ("ferry_bridge_nodes_online", (("namespace", "default"),)): 0,
            ("ferry_bridge_app_nodes", (("namespace", "default"), ("app", "web"),
                                        ("state", "targeted"))): 2,
            ("ferry_bridge_app_nodes", (("namespace", "default"), ("app", "db"),
                                        ("state", "targeted"))): 3,
            ("ferry_bridge_app_nodes", (("namespace", "default"), ("app", "db"),
                                        ("state", "running"))): 0,
            ("ferry_bridge_mqtt_connected", ()): 0,
            ("ferry_bridge_rev", ()): 5,
        }
        bad = []
        for (name, labels), value in want.items():
            got = sample(s, name, **dict(labels))
            if got != value:
                bad.append(f"{name}{dict(labels)}: {got}, want {value}")
        assert not bad, "\n".join(bad) + "\n---- scraped:\n" + text
        # Every outbox message (2 app puts, 3 node syncs) waits for a broker that is not there.
        assert sample(s, "ferry_bridge_outbox_entries") == 5, text
        assert sample(s, "ferry_bridge_store_used_bytes") > 0, text

        promtool = shutil.which("promtool")
        assert promtool, "promtool is missing (apt-get install prometheus; scripts/deps.sh)"
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        assert p.returncode == 0, f"promtool check metrics:\n{p.stdout.decode()}\n---- text:\n{text}"
        print(f"promtool check metrics: ok ({len(s)} samples)")
        check_dashboard(text)


def check_dashboard(bridge_text):
    """docs/grafana-dashboard.json queries only families the daemons declare: the bridge's as
    scraped, edge-sync's as edge-sync/telemetry.h names them."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir)
    with open(os.path.join(root, "docs", "grafana-dashboard.json")) as f:
        dash = json.load(f)
    with open(os.path.join(root, "edge-sync", "telemetry.h")) as f:
        edge = set(re.findall(r'"(ferry_edge_[a-z_]+)"', f.read()))
    bridge = set(re.findall(r"^# TYPE (\S+) ", bridge_text, re.M))
    used = set()
    for panel in dash["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"ferry_[a-z_]+", target["expr"]))
    unknown = sorted(n for n in used
                     if re.sub(r"_(bucket|sum|count)$", "", n) not in bridge | edge)
    assert not unknown, f"the dashboard queries metrics nobody serves: {unknown}"
    print(f"dashboard: {len(dash['panels'])} panels, {len(used)} metric names, all served")


if __name__ == "__main__":
    sec.run_tests([test_metrics])
