"""ferryctl, the API client, end to end against a real broker-bridge and an edge-sync node: apply
(created, configured, unchanged; multi-document YAML, JSON, a folder, stdin), get (tables, every
output, selectors, search, every page), describe, label, delete, rollout status through a
succeeding, a failing and a timed-out rollout, the config file and the exit codes.
The tests share one stack and run in file order (apply first: later tests use what it made)."""
import json
import os
import pty
import re
import subprocess

import pytest
import yaml

import harness
from common import IMAGE, SERVE

NODE = "east"


@pytest.fixture(scope="module")
def stack(t):
    if t.engine_name != "docker":
        pytest.skip("ferryctl talks to the API only; the engine does not matter: run once")
    return t.stack(nodes=[NODE])


@pytest.fixture(scope="module")
def home(t):
    """An empty HOME, so that no config file of the machine's user is read."""
    path = os.path.join(t.tmp, "ferryctl-home")
    os.makedirs(path, exist_ok=True)
    return path


def token(stack):
    with open(stack.token_file) as f:
        return f.read().strip()


def ctl_env(stack, home, env=None):
    """The stack's server, token and namespace in the environment (unless env replaces them)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    base.update(HOME=home, FERRY_SERVER=stack.url, FERRY_TOKEN=token(stack),
                FERRY_NAMESPACE=stack.ns)
    if env is not None:
        base = {k: v for k, v in base.items() if not k.startswith("FERRY_")}
        base.update(env)
    return base


def ctl(t, stack, home, *args, stdin=None, env=None, timeout=150):
    """Run ferryctl; returns the CompletedProcess (text)."""
    return subprocess.run([os.path.join(t.build_dir, "ferryctl", "ferryctl"), *args],
                          input=stdin, capture_output=True, text=True, timeout=timeout,
                          env=ctl_env(stack, home, env))


def ctl_tty(t, stack, home, *args, timeout=150):
    """Run ferryctl with its stdout on a terminal (a pty); returns (exit status, stdout text)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([os.path.join(t.build_dir, "ferryctl", "ferryctl"), *args],
                         stdout=slave, stderr=subprocess.DEVNULL, env=ctl_env(stack, home))
    os.close(slave)
    out = b""
    try:
        while True:
            chunk = os.read(master, 4096)  # EIO once the child closed its end
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    finally:
        os.close(master)
    return p.wait(timeout=timeout), out.decode(errors="replace")


def ok(p):
    assert p.returncode == 0, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    return p.stdout


def table(out):
    """A table's lines as lists of cells (columns are separated by at least two spaces... or
    three, as ferryctl pads them)."""
    return [re.split(r"\s{2,}", line.strip()) for line in out.strip().splitlines()]


def app_doc(name, region, greeting, image=IMAGE, volume=None):
    svc = {"name": name, "image": image, "command": SERVE,
           "env": [{"name": "GREETING", "value": greeting}],
           "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
    doc = {"apiVersion": "ferry/v1", "kind": "App", "name": name, "description": "ferryctl e2e",
           "labels": {"team": "iot"}, "selector": {"matchLabels": {"region": region}},
           "services": [svc]}
    if volume:
        doc["volumes"] = [{"name": "cfg", "config": {"name": volume}}]
        svc["volumeMounts"] = [{"name": "cfg", "mountPath": "/etc/cfg"}]
    return doc


# Hand-written YAML for the parts where the scalars matter: quoted "1" stays a string label
# value, plain 2 is an integer, `true` a boolean.
HEAD = f"""\
apiVersion: ferry/v1
kind: Config
name: c1
type: config
data:
  app.conf: |
    greeting = hello
    count = 2
---
apiVersion: ferry/v1
kind: Node
name: {NODE}
labels:
  region: east
  zone: "1"
"""


def test_apply_multi_document_yaml_created_configured_unchanged(t, stack, home, tmp_path):
    path = tmp_path / "stack.yaml"
    app = app_doc("web1", "east", "v1", volume="c1")
    path.write_text(HEAD + "---\n" + yaml.safe_dump(app, sort_keys=False))
    out = ok(ctl(t, stack, home, "apply", "-f", str(path)))
    # Configs first, then nodes, then apps, whatever the file's order.
    assert out.splitlines() == ["config/c1 created", "node/east created", "app/web1 created"], out
    code, node = stack.api.get(stack.path("nodes", NODE))
    assert code == 200 and node["labels"] == {"region": "east", "zone": "1"}, node
    code, cfg = stack.api.get(stack.path("configs", "c1"))
    assert cfg["data"]["app.conf"] == "greeting = hello\ncount = 2\n", cfg
    # The bridge refused the node's online message while it was not registered (and does not
    # ask again): start it again so that its online state is known (ONLINE, describe).
    stack.nodes[NODE].stop()
    stack.start_node(NODE)
    harness.poll(lambda: stack.api.get(stack.path("nodes", NODE))[1].get("online") is True, 30,
                 f"{NODE} online in the API")

    out = ok(ctl(t, stack, home, "apply", "-f", str(path)))
    assert out.splitlines() == ["config/c1 unchanged", "node/east unchanged",
                                "app/web1 unchanged"], out
    out = ok(ctl(t, stack, home, "rollout", "status", "app", "web1", "--timeout", "120s"))
    assert "app/web1 version" in out and "successfully rolled out to 1 node" in out, out

    v1 = stack.api.get(stack.path("apps", "web1"))[1]["version"]
    app["services"][0]["env"][0]["value"] = "v2"
    path.write_text(HEAD + "---\n" + yaml.safe_dump(app, sort_keys=False))
    out = ok(ctl(t, stack, home, "apply", "-f", str(path)))
    assert out.splitlines() == ["config/c1 unchanged", "node/east unchanged",
                                "app/web1 configured"], out
    code, now = stack.api.get(stack.path("apps", "web1"))
    assert now["version"] > v1 and now["services"][0]["env"][0]["value"] == "v2", now
    # Not a TTY: one plain line per change of the counts, no carriage returns.
    p = ctl(t, stack, home, "rollout", "status", "app/web1", "--timeout", "120s")
    out = ok(p)
    assert "\r" not in out and out.strip().splitlines()[-1] == \
        f"app/web1 version {now['version']} successfully rolled out to 1 node", out

    # A version in the manifest is the reader's: a stale one conflicts (409, exit 1).
    app["version"] = v1
    app["services"][0]["env"][0]["value"] = "v3"
    path.write_text(yaml.safe_dump(app))
    p = ctl(t, stack, home, "apply", "-f", str(path))
    assert p.returncode == 1 and "app/web1" in p.stderr and "version conflict" in p.stderr, p


def test_apply_json_folder_and_stdin(t, stack, home, tmp_path):
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "a-web2.json").write_text(json.dumps(app_doc("web2", "nowhere", "x")))
    (folder / "b-configs.yml").write_text(
        "kind: Config\nname: c2\ndata: {k: v}\n---\nkind: Config\nname: s1\ntype: secret\n"
        "data: {password: hunter2}\n")
    (folder / "notes.txt").write_text("not a manifest")
    out = ok(ctl(t, stack, home, "apply", "-f", str(folder)))
    assert out.splitlines() == ["config/c2 created", "config/s1 created", "app/web2 created"], out
    # A secret is stored sealed and shown by digest: unchanged still compares right.
    out = ok(ctl(t, stack, home, "apply", "-f", str(folder)))
    assert out.splitlines() == ["config/c2 unchanged", "config/s1 unchanged",
                                "app/web2 unchanged"], out

    # A JSON array on stdin.
    docs = [app_doc("web3", "nowhere", "x"), {"kind": "Config", "name": "c3", "data": {}}]
    out = ok(ctl(t, stack, home, "apply", "-f", "-", stdin=json.dumps(docs)))
    assert out.splitlines() == ["config/c3 created", "app/web3 created"], out

    # Errors name the file, line and column; nothing of an input with an error is applied.
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Config\nname: c9\ndata: {}\n---\nkind: App\nname: x\nname: y\n")
    p = ctl(t, stack, home, "apply", "-f", str(bad))
    assert p.returncode == 2 and f"{bad}:7:1: duplicate key name" in p.stderr, p
    p = ctl(t, stack, home, "apply", "-f", "-", stdin="kind: Pod\nname: x\n")
    assert p.returncode == 2 and "kind must be App, Config or Node" in p.stderr, p
    assert stack.api.get(stack.path("configs", "c9"))[0] == 404
    # The server's own validation: exit 1, naming the field.
    broken = app_doc("web4", "nowhere", "x")
    broken["services"][0]["name"] = "Bad_Name"
    p = ctl(t, stack, home, "apply", "-f", "-", stdin=json.dumps(broken))
    assert p.returncode == 1 and "app/web4" in p.stderr and "services[0].name" in p.stderr, p


def test_get_tables_outputs_selectors_and_every_page(t, stack, home, tmp_path):
    rows = table(ok(ctl(t, stack, home, "get", "apps")))
    assert rows[0] == ["NAME", "VERSION", "TARGETED", "RUNNING", "FAILED", "AGE"], rows
    web1 = next(r for r in rows if r[0] == "web1")
    assert web1[2:5] == ["1", "1", "0"] and re.fullmatch(r"\d+(s|m\d*s?)", web1[5]), web1
    assert [r[0] for r in rows[1:]] == ["web1", "web2", "web3"], rows

    rows = table(ok(ctl(t, stack, home, "get", "nodes")))
    assert rows[0] == ["NAME", "LABELS", "ONLINE", "APPS"], rows
    assert rows[1] == [NODE, "region=east,zone=1", "true", "1"], rows
    rows = table(ok(ctl(t, stack, home, "get", "configs")))
    assert rows[0] == ["NAME", "KIND", "VERSION", "DATA", "AGE"], rows
    assert [r[:2] for r in rows[1:]] == [["c1", "config"], ["c2", "config"], ["c3", "config"],
                                         ["s1", "secret"]], rows

    wide = table(ok(ctl(t, stack, home, "get", "apps", "web1", "-o", "wide")))
    assert wide[0][6:] == ["STATE", "SELECTOR", "IMAGES"] and wide[1][6:] == \
        ["Deployed", "region=east", IMAGE], wide
    assert ok(ctl(t, stack, home, "get", "apps", "-o", "name")).split() == \
        ["app/web1", "app/web2", "app/web3"]
    one = json.loads(ok(ctl(t, stack, home, "get", "app", "web1", "-o", "json")))
    assert one["kind"] == "App" and one["apiVersion"] == "ferry/v1" and one["name"] == "web1", one
    lst = yaml.safe_load(ok(ctl(t, stack, home, "get", "configs", "-o", "yaml")))
    assert lst["kind"] == "List" and [i["type"] for i in lst["items"]] == \
        ["config", "config", "config", "secret"], lst
    # What get -o yaml prints applies back unchanged.
    out = ok(ctl(t, stack, home, "get", "apps", "web1", "-o", "yaml"))
    assert ok(ctl(t, stack, home, "apply", "-f", "-", stdin=out)) == "app/web1 unchanged\n"

    # Selectors: the API filters nodes, ferryctl apps; --search is the API's name filter.
    assert ok(ctl(t, stack, home, "get", "nodes", "-l", "zone=1", "-o", "name")) == "node/east\n"
    assert ok(ctl(t, stack, home, "get", "nodes", "-l", "zone=2", "-o", "name")) == ""
    assert ok(ctl(t, stack, home, "get", "apps", "-l", "team=iot,team in (iot)", "-o",
                  "name")).split() == ["app/web1", "app/web2", "app/web3"]
    assert ok(ctl(t, stack, home, "get", "apps", "-l", "team!=iot", "-o", "name")) == ""
    assert ok(ctl(t, stack, home, "get", "apps", "--search", "EB2", "-o", "name")) == "app/web2\n"
    p = ctl(t, stack, home, "get", "apps", "-l", "a in (")
    assert p.returncode == 2 and "-l" in p.stderr, p

    # More apps than a page: every page is fetched.
    many = [dict(app_doc(f"page-{i:02d}", "nowhere", "x"), labels={"set": "paged"})
            for i in range(7)]
    (tmp_path / "many.yaml").write_text(yaml.safe_dump_all(many))
    assert ok(ctl(t, stack, home, "apply", "-f", str(tmp_path / "many.yaml"))).count("created") == 7
    names = ok(ctl(t, stack, home, "get", "apps", "-l", "set=paged", "--chunk-size", "2", "-o",
                   "name")).split()
    assert names == [f"app/page-{i:02d}" for i in range(7)], names
    rows = table(ok(ctl(t, stack, home, "get", "apps", "--chunk-size", "3")))
    assert len(rows) == 1 + 3 + 7, rows
    p = ctl(t, stack, home, "get", "apps", "nope", "web1", "-o", "name")
    assert p.returncode == 1 and p.stdout == "app/web1\n" and 'app "nope" not found' in p.stderr, p
    ok(ctl(t, stack, home, "delete", "apps", *[f"page-{i:02d}" for i in range(7)]))


def test_describe(t, stack, home):
    out = ok(ctl(t, stack, home, "describe", "app", "web1"))
    for key, value in (("Name", "web1"), ("Namespace", stack.ns), ("Selector", "region=east"),
                       ("Deploy state", "Deployed")):
        assert re.search(rf"^{key}:\s+{re.escape(value)}$", out, re.M), (key, out)
    for want in ("Services:", "Nodes:", "Containers:", "Recent changes:",
                 "no history of earlier versions"):
        assert want in out, (want, out)
    nodes = out[out.index("Nodes:"):out.index("Containers:")]
    assert re.search(rf"^\s+{NODE}\s+\d+\s+Running\s+true\s", nodes, re.M), nodes
    conts = out[out.index("Containers:"):out.index("Recent changes:")]
    assert re.search(rf"^\s+{NODE}\s+web1\s+running\s+0\s+0", conts, re.M | re.I), conts

    out = ok(ctl(t, stack, home, "describe", "node", NODE))
    assert re.search(r"^Online:\s+true$", out, re.M) and re.search(r"^\s+web1\s+\d+\s+Running", out, re.M), out
    out = ok(ctl(t, stack, home, "describe", "config", "s1"))
    assert re.search(r"^Kind:\s+secret$", out, re.M) and "sealed sha256:" in out and "hunter2" not in out, out
    p = ctl(t, stack, home, "describe", "app", "nope")
    assert p.returncode == 1 and 'app "nope" not found' in p.stderr, p


def test_label(t, stack, home):
    assert ok(ctl(t, stack, home, "label", "node", NODE, "tier=gw")) == "node/east labeled\n"
    assert ok(ctl(t, stack, home, "get", "nodes", "-l", "tier=gw", "-o", "name")) == "node/east\n"
    p = ctl(t, stack, home, "label", "node", NODE, "tier=edge")
    assert p.returncode == 2 and "--overwrite" in p.stderr, p
    ok(ctl(t, stack, home, "label", "node", NODE, "tier=edge", "--overwrite"))
    ok(ctl(t, stack, home, "label", "node", NODE, "tier-", "zone-"))
    code, node = stack.api.get(stack.path("nodes", NODE))
    assert node["labels"] == {"region": "east"}, node
    assert ok(ctl(t, stack, home, "label", "node", NODE, "region=east")) == \
        "node/east not labeled\n"
    p = ctl(t, stack, home, "label", "node", "nope", "a=b")
    assert p.returncode == 1 and 'node "nope" not found' in p.stderr, p


def test_rollout_status_failing_and_timed_out(t, stack, home, tmp_path):
    bad = app_doc("bad1", "east", "x", image="ferry-test/does-not-exist:9")
    ok(ctl(t, stack, home, "apply", "-f", "-", stdin=json.dumps(bad)))
    p = ctl(t, stack, home, "rollout", "status", "app", "bad1", "--timeout", "120s")
    assert p.returncode == 1, p
    assert "app/bad1 version" in p.stderr and "failed on 1 of 1 node" in p.stderr, p
    assert f"node {NODE}:" in p.stderr and "ferry-test/does-not-exist:9" in p.stderr, p
    rows = table(ok(ctl(t, stack, home, "get", "apps", "bad1")))
    assert rows[1][2:5] == ["1", "0", "1"], rows

    # Fixed by the next apply: the rollout of the new version succeeds.
    bad["services"][0]["image"] = IMAGE
    assert ok(ctl(t, stack, home, "apply", "-f", "-", stdin=json.dumps(bad))) == \
        "app/bad1 configured\n"
    out = ok(ctl(t, stack, home, "rollout", "status", "app", "bad1", "--timeout", "120s"))
    assert "successfully rolled out to 1 node" in out, out
    # On a terminal: a progress bar redrawn in place (carriage return, clear to end of line).
    code, out = ctl_tty(t, stack, home, "rollout", "status", "app", "bad1")
    assert code == 0 and "\r[##############################] app/bad1 version" in out and \
        "\x1b[K" in out and "successfully rolled out to 1 node" in out, repr(out)

    # A node that never reports: the deadline passes (exit 4), naming it.
    ghost = {"kind": "Node", "name": "ghost", "labels": {"region": "ghost"}}
    ok(ctl(t, stack, home, "apply", "-f", "-", stdin=json.dumps([ghost,
                                                                 app_doc("haunt", "ghost", "x")])))
    p = ctl(t, stack, home, "rollout", "status", "app", "haunt", "--timeout", "2s")
    assert p.returncode == 4 and "timed out" in p.stderr and "node ghost" in p.stderr, p
    p = ctl(t, stack, home, "rollout", "status", "app", "nope", "--timeout", "2s")
    assert p.returncode == 1 and 'app "nope" not found' in p.stderr, p


def test_delete(t, stack, home):
    # A config in use is refused by the server (409, exit 1), naming the app.
    p = ctl(t, stack, home, "delete", "config", "c1")
    assert p.returncode == 1 and "web1" in p.stderr, p
    out = ok(ctl(t, stack, home, "delete", "app", "web1", "web2", "web3", "bad1", "haunt"))
    assert out.splitlines() == ["app/web1 deleted", "app/web2 deleted", "app/web3 deleted",
                                "app/bad1 deleted", "app/haunt deleted"], out
    out = ok(ctl(t, stack, home, "delete", "configs", "c1", "c2", "c3", "s1"))
    assert out.count("deleted") == 4, out
    p = ctl(t, stack, home, "delete", "node", "ghost", "nope")
    assert p.returncode == 1 and p.stdout == "node/ghost deleted\n" and \
        'node "nope" not found' in p.stderr, p
    p = ctl(t, stack, home, "get", "apps")
    assert p.returncode == 0 and p.stdout == "" and "No apps found" in p.stderr, p
    harness.poll(lambda: not stack.pods(node=NODE), 60, "the pods of the deleted apps removed")


def test_config_file_and_exit_codes(t, stack, home, tmp_path):
    # The default config file, with the token in a file beside it (as scripts/up.sh writes).
    conf_dir = os.path.join(home, ".config", "ferry")
    os.makedirs(conf_dir, exist_ok=True)
    with open(os.path.join(conf_dir, "config"), "w") as f:
        f.write(f"# test\nserver = {stack.url}\ntoken-file = {stack.token_file}\n"
                f"namespace = {stack.ns}\n")
    p = ctl(t, stack, home, "get", "nodes", "-o", "name", env={})
    assert ok(p) == "node/east\n"
    # --config and FERRY_CONFIG name another file; flags win over everything.
    other = tmp_path / "other.conf"
    other.write_text(f"server = http://127.0.0.1:1\ntoken = {token(stack)}\n")
    p = ctl(t, stack, home, "get", "nodes", "-n", stack.ns, env={"FERRY_CONFIG": str(other)})
    assert p.returncode == 3 and "cannot reach the server" in p.stderr, p
    p = ctl(t, stack, home, "get", "nodes", "-n", stack.ns, "--server", stack.url,
            env={"FERRY_CONFIG": str(other)})
    assert ok(p).startswith("NAME")
    # Exit codes: 1 refused (a bad token), 2 usage, 3 unreachable.
    p = ctl(t, stack, home, "get", "apps", "--token", "ferry_wrong")
    assert p.returncode == 1 and "error:" in p.stderr, p
    for args in (["get"], ["get", "pods"], ["get", "apps", "-o", "csv"], ["apply"],
                 ["rollout", "status", "node", "x"], ["label", "app", "x", "a=b"],
                 ["get", "apps", "--bogus"], ["rollout", "status", "app", "x", "--timeout", "soon"]):
        p = ctl(t, stack, home, *args)
        assert p.returncode == 2 and p.stderr.startswith("error:"), (args, p)
    p = ctl(t, stack, home, "get", "apps", env={"HOME": str(tmp_path)})
    assert p.returncode == 2 and "no server" in p.stderr, p
    p = ctl(t, stack, home, "get", "apps", "--config", str(tmp_path / "missing"))
    assert p.returncode == 2 and "cannot read the config file" in p.stderr, p
    # --help of every command: its usage and an example, exit 0.
    for cmd in ("apply", "get", "describe", "delete", "label", "rollout"):
        out = ok(ctl(t, stack, home, cmd, "--help"))
        assert out.startswith(f"usage: ferryctl {cmd}") and "Example:" in out, out
    out = ok(ctl(t, stack, home, "--help"))
    assert "Exit status" in out and "4 rollout status timed out" in out, out
