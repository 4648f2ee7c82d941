"""Helpers for Ferry's end-to-end tests (python3 standard library only; the tests run under pytest,
Debian's python3-pytest, with the glue in conftest.py).

A test file tests/e2e/test_x.py holds one test function per scenario, so that pytest reports each
on its own and goes on after a failure. Every test gets `t` (a Test: services, engine, temp
folder); stacks come from fixtures, per test or shared by the module:

    import pytest
    import harness
    from common import wait_phase, web_app

    @pytest.fixture(scope="module")      # shared: each test deploys apps of its own names
    def stack(t):
        stack = t.stack(nodes=["east"])  # broker-bridge + one edge-sync, started, online
        assert stack.register_node("east", {"region": "east"})[0] == 201
        return stack

    def test_web_runs(t, stack):
        assert stack.create_app(web_app("web", "east", "hi"))[0] == 201
        wait_phase(stack, "web", "east", "Running")

    def test_whole_node_state(t):       # judges everything on a node: a stack of its own
        stack = t.stack(nodes=["east"])
        ...

What a fixture or test makes through t.stack() / t.capture() is cleaned up when that fixture's
scope or that test ends (containers removed, retained messages cleared). Before each test, any
daemon of a longer-lived stack that an earlier test left stopped (it failed before restarting
it) or that crashed is started again; after each test, a daemon that exited without being told
to fails it. A failure shows the daemons' log tails; the temp folder with all logs and data is
then kept (also with --keep). Rules: in a shared stack, give each test its own app names (and
service names: they are unique per node); a test that asserts on a whole node (exactly these
apps, nothing on west) or kills the bridge takes a stack of its own; a bridge answers the hellos
of every namespace, so starting a stack stops the daemons of any other one (the shared stack is
started again before the next test). Nothing sleeps to synchronise: waits go through poll() with
a deadline and say on timeout what they saw last. Each Stack uses its own namespace (unique
unless given) and its own bridge client id, so broker sessions and retained messages of earlier
stacks do not leak into it.

Running: CTest runs each file once per engine (`ctest --test-dir build -L e2e`, or one file:
`ctest --test-dir build -R test_deploy_podman --output-on-failure`) as
`python3 -m pytest tests/e2e/test_x.py --engine docker|podman --build-dir build`. By hand, with
the services of `scripts/services.sh start DIR` (source DIR/env; images: scripts/images.sh):

    python3 -m pytest tests/e2e/test_deploy.py --engine podman --build-dir build
    python3 -m pytest tests/e2e/test_deploy.py::test_delete_removes_the_pod_and_reports_removed
    python3 -m pytest tests/e2e/test_volumes.py -k "config_change or cleanup" --keep

(Debian's /usr/bin/python3, the one with pytest.) Without the FERRY_TEST_* variables every test
is skipped and pytest exits 77, which CTest reports as skipped. Scripts that are not tests
(bench/) use run(fn), which makes a Test from --engine/--build-dir and exits 0, 1 or 77.
"""
import argparse
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid

SKIP = 77


class Skip(Exception):
    """Raise to skip the test (exit code 77)."""


class PollTimeout(AssertionError):
    pass


# ---- small utilities ---------------------------------------------------------------------------


def free_port():
    """A free TCP port on 127.0.0.1 (the kernel's choice; free at the time of the call)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(fn, timeout, what, interval=0.1, alive=None):
    """Call fn() until it returns something truthy and return that. At the deadline raise
    PollTimeout naming `what` and showing the last value fn returned (or raised). `alive`, when
    given, is called each round (e.g. Stack.check_alive) so that a crashed daemon fails at once."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except PollTimeout:
            raise
        except Exception as e:  # noqa: BLE001 - the last error is what we report
            last = e
        if alive is not None:
            alive()
        if time.monotonic() >= deadline:
            raise PollTimeout(f"timed out after {timeout}s waiting for {what}; last value: "
                              f"{last!r}")
        time.sleep(interval)  # poll interval, not synchronisation


def stop_procs(procs, timeout=60):
    """Stop child processes (the last started first): SIGTERM, then SIGKILL after timeout."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def create_and_wait_running(stack, app, timeout, containers=2):
    """POST app, then poll the engine every 10 ms until its `containers` containers run;
    returns the seconds that took (monotonic)."""
    t0 = time.monotonic()
    code, body = stack.create_app(app)
    assert code == 201, body

    def running():
        pods = stack.pods(app=app["name"])
        return len(pods) == containers and all(c["State"] == "running" for c in pods)
    poll(running, timeout, f"{app['name']} running", interval=0.01)
    return time.monotonic() - t0


def http_get(port, path="/", timeout=2.0, host="127.0.0.1"):
    """GET http://host:port/path; returns (status, body bytes). Raises OSError when nothing
    answers."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _parse_body(data, content_type=""):
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")


# ---- REST client of broker-bridge --------------------------------------------------------------


def record_exchange(method, path, headers, data, status, rtype, raw):
    """With FERRY_API_RECORD=FILE: append the exchange to FILE as one JSON line, for the contract
    test (tests/e2e/openapi_check.py checks each against schema/openapi.yaml). One write() per
    line on an O_APPEND descriptor, so pytest processes may share the file."""
    out = os.environ.get("FERRY_API_RECORD")
    if not out:
        return
    split = urllib.parse.urlsplit(path)

    def body(b):
        if b is None or b == b"":
            return {"absent": True}
        try:
            return {"json": json.loads(b)}
        except ValueError:
            return {"text": b.decode(errors="replace")}

    line = json.dumps({
        "test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" (")[0],
        "method": method,
        "path": urllib.parse.unquote(split.path),
        "query": urllib.parse.parse_qsl(split.query, keep_blank_values=True),
        "token": any(k.lower() == "authorization" for k in headers),
        "contentType": next((v for k, v in headers.items() if k.lower() == "content-type"), None),
        "request": body(data),
        "status": status,
        "responseType": rtype,
        "response": body(raw),
    }) + "\n"
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class Api:
    """Client of the broker-bridge REST API. Every call returns (status, body): body is the parsed
    JSON, the text when the answer is not JSON, or None when empty. Never raises on HTTP errors.
    It sends `token` as its bearer token, or the one in `token_file` (read once it exists: the
    bridge writes its admin token file at first start); headers={"Authorization": ...} overrides."""

    def __init__(self, base_url, token=None, token_file=None):
        self.base = base_url.rstrip("/")
        self.token = token
        self.token_file = token_file

    def _token(self):
        if self.token is None and self.token_file and os.path.exists(self.token_file):
            with open(self.token_file) as f:
                self.token = f.read().strip()
        return self.token

    def request(self, method, path, body=None, timeout=10.0, headers=None):
        data = None
        hdrs = dict(headers or {})
        if self._token():
            hdrs.setdefault("Authorization", f"Bearer {self._token()}")
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            data = data.encode() if isinstance(data, str) else data
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw, rtype = resp.status, resp.read(), resp.headers.get("Content-Type")
        except urllib.error.HTTPError as e:
            status, raw, rtype = e.code, e.read(), e.headers.get("Content-Type")
        record_exchange(method, path, hdrs, data, status, rtype, raw)
        return status, _parse_body(raw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


# ---- container engine client (Docker API over a unix socket; Docker and Podman) ---------------


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket (engines, function runtimes)."""

    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Engine:
    """Docker Engine API client on a unix socket (Podman serves the same API)."""

    def __init__(self, sock):
        self.sock = sock

    def request(self, method, path, body=None, timeout=30.0):
        conn = UnixHTTPConnection(self.sock, timeout)
        try:
            hdrs = {}
            if body is not None and not isinstance(body, bytes):
                body = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, _parse_body(resp.read())
        finally:
            conn.close()

    def ping(self):
        try:
            return self.request("GET", "/_ping", timeout=5)[0] == 200
        except OSError:
            return False

    def version(self):
        return self.request("GET", "/version")[1]

    def is_podman(self):
        comps = (self.version() or {}).get("Components") or []
        return any("podman" in (c.get("Name") or "").lower() for c in comps)

    def containers(self, labels=None, all=True):
        """Containers carrying every label of `labels` ({key: value}, or {key: None} for the
        key alone), running or not unless all=False. Docker's list summaries."""
        filters = {}
        if labels:
            filters["label"] = [k if v is None else f"{k}={v}" for k, v in labels.items()]
        query = urllib.parse.urlencode({"all": "1" if all else "0",
                                        "filters": json.dumps(filters)})
        status, body = self.request("GET", "/containers/json?" + query)
        if status != 200:
            raise RuntimeError(f"listing containers on {self.sock}: HTTP {status}: {body}")
        return body or []

    def inspect(self, cid):
        """GET /containers/{id}/json; None when there is no such container."""
        status, body = self.request("GET", f"/containers/{urllib.parse.quote(cid)}/json")
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"inspecting {cid} on {self.sock}: HTTP {status}: {body}")
        return body

    def logs(self, cid):
        status, body = self.request("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
        return body if isinstance(body, str) else json.dumps(body)

    def remove(self, cid):
        status, body = self.request("DELETE", f"/containers/{cid}?force=1&v=1", timeout=120)
        if status not in (200, 204, 404):
            raise RuntimeError(f"removing {cid} on {self.sock}: HTTP {status}: {body}")

    def image_present(self, ref):
        q = urllib.parse.quote(ref, safe="")
        return self.request("GET", f"/images/{q}/json")[0] == 200

    def remove_labelled(self, labels):
        """Force-remove every container carrying `labels`; returns how many. Containers that join
        another's network go first, and failures are retried: Podman refuses to remove a
        container that others join, even with force."""
        pending = sorted(self.containers(labels), key=_removal_order)
        errors = []
        for _ in range(3):
            errors = []
            for c in pending:
                try:
                    self.remove(c["Id"])
                except RuntimeError as e:
                    errors.append((c, e))
            if not errors:
                return len(pending)
            pending = [c for c, _ in errors]
        raise RuntimeError("; ".join(str(e) for _, e in errors))


def _removal_order(c):
    """Sort key: joined containers (NetworkMode container:...) before the ones they join."""
    mode = (c.get("HostConfig") or {}).get("NetworkMode") or ""
    infra = (c.get("Labels") or {}).get("io.ferry.role") == "infra"
    return (0 if mode.startswith("container:") else 1, 1 if infra else 0)


# ---- MQTT through the mosquitto clients --------------------------------------------------------


class MqttAuth:
    """How a mosquitto client logs in to the secure broker (scripts/mqtts.sh): its CA, username,
    password and (when the credential is bound to one) client id."""

    def __init__(self, ca, username, password, client_id=None):
        self.ca, self.username, self.password, self.client_id = ca, username, password, client_id

    def args(self):
        a = ["--cafile", self.ca, "-u", self.username, "-P", self.password]
        return a + (["-i", self.client_id] if self.client_id else [])


def mqtt_publish(port, topic, payload, qos=1, retain=False, client_id=None, v5=True,
                 timeout=10.0, auth=None, props=()):
    """Publish raw bytes (payload: bytes, or a path to a file when it is an os.PathLike) on topic
    with mosquitto_pub (auth: an MqttAuth for the secure broker; props: (name, value) user
    properties). Raises CalledProcessError when the broker refuses or is gone."""
    cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos)]
    if v5:
        cmd += ["-V", "mqttv5"]
    if retain:
        cmd.append("-r")
    if auth is not None:
        cmd += auth.args()
    if client_id:
        cmd += ["-i", client_id]
    for name, value in props:
        cmd += ["-D", "publish", "user-property", name, value]
    stdin = None
    if isinstance(payload, os.PathLike):
        cmd += ["-f", os.fspath(payload)]
    elif payload is None or payload == b"":
        cmd.append("-n")  # zero-length message (clears a retained one when retain=True)
    else:
        cmd.append("-s")
        stdin = payload if isinstance(payload, bytes) else payload.encode()
    subprocess.run(cmd, input=stdin, check=True, timeout=timeout, capture_output=True)


class MqttCapture:
    """Records every message on the given topic filters in the background (mosquitto_sub).
    The constructor returns once the subscription is in place (checked by a probe message), so a
    message published after it is never missed. Entries of .messages are (topic, payload bytes,
    retained flag)."""

    def __init__(self, port, topics, v5=True, timeout=10.0, auth=None, probe_topic=None,
                 probe_auth=None):
        """auth: an MqttAuth (secure broker). A credential that may not read the default probe
        topic needs probe_topic (one it may read) and probe_auth (one that may publish there)."""
        if isinstance(topics, str):
            topics = [topics]
        self.port = port
        self._probe = probe_topic or f"ferry-test-probe/{uuid.uuid4().hex}"
        probe_auth = probe_auth or auth
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._probe_seen = False
        self.messages = []
        cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-F", "%r %t %x"]
        if v5:
            cmd += ["-V", "mqttv5"]
        if auth is not None:
            cmd += auth.args()
        for t in list(topics) + [self._probe]:
            cmd += ["-t", t]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                if self._probe_seen:
                    break
            if self._proc.poll() is not None or time.monotonic() >= deadline:
                self.stop()
                err = self._proc.stderr.read().decode(errors="replace")
                raise PollTimeout(f"mosquitto_sub on port {port} for {topics} not subscribed "
                                  f"after {timeout}s (exit status {self._proc.returncode}): {err}")
            try:
                mqtt_publish(port, self._probe, b"probe", qos=1, v5=v5, auth=probe_auth)
            except subprocess.SubprocessError:
                pass  # the broker is not there (yet): the deadline decides
            with self._cond:
                self._cond.wait_for(lambda: self._probe_seen, 0.3)

    def _read(self):
        for raw in self._proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            parts = line.split(" ")
            if len(parts) < 3:
                continue
            retained, topic, hexpayload = parts[0] == "1", " ".join(parts[1:-1]), parts[-1]
            with self._cond:
                if topic == self._probe:
                    self._probe_seen = True
                else:
                    self.messages.append((topic, bytes.fromhex(hexpayload), retained))
                self._cond.notify_all()

    def snapshot(self):
        with self._lock:
            return list(self.messages)

    def wait_for(self, pred, timeout, what):
        """Wait until pred(topic, payload, retained) holds for a captured message; returns it."""
        def find():
            for m in self.snapshot():
                if pred(*m):
                    return m
            return None
        try:
            return poll(find, timeout, what)
        except PollTimeout as e:
            topics = [t for t, _, _ in self.snapshot()][-20:]
            raise PollTimeout(f"{e}; last topics seen: {topics}") from None

    def stop(self):
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def clear_retained(port, topic_filter, timeout=10.0, auth=None):
    """Remove every retained message under topic_filter (e.g. "ferry/ns/#"). Retained messages are
    delivered on subscribe, before the capture's probe, so after the probe the list is complete."""
    cap = MqttCapture(port, topic_filter, timeout=timeout, auth=auth)
    cap.stop()
    topics = {t for t, _, retained in cap.snapshot() if retained}
    for t in sorted(topics):
        mqtt_publish(port, t, b"", retain=True, auth=auth)
    return len(topics)


def ferryctl_encode(build_dir, obj):
    """A protocol message (a dict) as the msgpack bytes `ferryctl encode` makes of it."""
    exe = os.path.join(build_dir, "ferryctl", "ferryctl")
    return subprocess.run([exe, "encode"], input=json.dumps(obj).encode(), check=True,
                          capture_output=True, timeout=30).stdout


def ferryctl_decode(build_dir, messages):
    """Decode captured (topic, payload[, retained]) messages with `ferryctl decode`; returns a
    list of (topic, object). An entry whose payload ferryctl rejects gets object None."""
    exe = os.path.join(build_dir, "ferryctl", "ferryctl")
    lines = "".join(f"{m[0]} {m[1].hex()}\n" for m in messages)
    out = subprocess.run([exe, "decode"], input=lines.encode(), capture_output=True, timeout=30)
    result = []
    for line in out.stdout.decode(errors="replace").splitlines():
        topic, _, rest = line.partition(" ")
        try:
            result.append((topic, json.loads(rest)))
        except ValueError:
            result.append((topic, None))
    return result


# ---- daemons -----------------------------------------------------------------------------------


class Daemon:
    """One daemon process with a log file that survives restarts (appended, with a marker)."""

    def __init__(self, name, argv, log_path, env=None):
        self.name, self.argv, self.log_path, self.env = name, argv, log_path, env
        self.proc = None
        self.expect_exit = False

    def start(self):
        if self.running():
            raise RuntimeError(f"{self.name} is already running")
        if not os.access(self.argv[0], os.X_OK):
            raise FileNotFoundError(f"{self.name}: {self.argv[0]} is not built")
        with open(self.log_path, "ab") as log:
            log.write(f"==== start {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env)
        self.expect_exit = False
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def kill(self, sig=signal.SIGKILL, timeout=30.0):
        """Send sig and wait for the process to end; returns its exit status."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.expect_exit = True
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise PollTimeout(f"{self.name} (pid {self.proc.pid}) still running {timeout}s "
                              f"after signal {sig}") from None

    def stop(self, timeout=15.0):
        """SIGTERM, then SIGKILL after timeout; returns the exit status."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        try:
            return self.kill(signal.SIGTERM, timeout)
        except PollTimeout:
            return self.kill(signal.SIGKILL, timeout)

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode(errors="replace")
        except OSError:
            return ""

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class Stack:
    """broker-bridge plus edge-sync nodes, each with its own data folder under the test's temp
    folder, all on the test's broker and engine. Use through Test.stack()."""

    def __init__(self, t, nodes=(), ns=None, log_level="debug", bridge_args=(), edge_args=(),
                 name="stack", secure=False, labels=None):
        """secure: the setup scripts/up.sh runs: the secure broker (TLS, a credential per node,
        topic rights administered by the bridge through mosquitto's dynamic-security plugin) and
        nodes that enroll (enroll()) and sign; raises Skip without the secure broker's variables.
        Otherwise the plain broker, with --insecure nodes and --insecure-nodes in the bridge.
        labels: {node: labels} a secure stack registers its nodes with when it enrolls them at
        start (insecure nodes are registered by the tests)."""
        self.t = t
        self.secure = secure
        self.labels = dict(labels or {})
        self._enrolled_unclaimed = set()  # registered by enroll(), not yet by the test
        if secure and not (t.mqtts_url and t.ca and t.bridge_user and t.bridge_pass and
                           t.mqtts_admin):
            raise Skip("the secure broker is not configured (FERRY_TEST_MQTTS, FERRY_TEST_CA, "
                       "FERRY_TEST_MQTT_BRIDGE_USER/PASS, FERRY_TEST_MQTT_ROOT_USER/PASS)")
        self.ns = ns or f"e2e-{uuid.uuid4().hex[:8]}"
        self.dir = os.path.join(t.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The bridge's admin token file, beside its data folder: the API client sends it.
        self.token_file = os.path.join(self.dir, "bridge-data.admin-token")
        self.api = Api(self.url, token_file=self.token_file)
        self.client_id = f"ferry-bridge-{uuid.uuid4().hex[:8]}"
        self.log_level = log_level
        self.edge_args = list(edge_args)
        if secure:
            pass_file = os.path.join(self.dir, "bridge-mqtt.pass")
            with open(os.open(pass_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write(t.bridge_pass + "\n")
            # The bridge's broker user is bound to no client id (scripts/mqtts.sh).
            mqtt = ["--mqtt", t.mqtts_url, "--mqtt-ca", t.ca, "--mqtt-username", t.bridge_user,
                    "--mqtt-password-file", pass_file, "--broker-admin", "mosquitto-dynsec"]
        else:
            mqtt = ["--mqtt", t.mqtt_url, "--insecure-nodes"]
            self.edge_args = ["--insecure", *self.edge_args]
        self.bridge = Daemon("broker-bridge", [
            os.path.join(t.build_dir, "broker-bridge", "broker-bridge"),
            "--listen", f"127.0.0.1:{self.port}", "--plain-http", *mqtt,
            "--data", os.path.join(self.dir, "bridge-data"), "--client-id", self.client_id,
            "--log-level", log_level, *bridge_args], os.path.join(self.dir, "bridge.log"))
        self.nodes = {}
        self.gateway_ports = {}  # node -> the port of its gateway (add_node picks one)
        for n in nodes:
            self.add_node(n)

    def add_node(self, name, engine_sock=None, extra_args=()):
        """Declare an edge-sync node (not started). Its data folder is kept across restarts."""
        # A secure node connects where its enrollment says (broker, CA, credential).
        mqtt = [] if self.secure else ["--mqtt", self.t.mqtt_url]
        # Its own gateway port: the nodes of all stacks share the host's addresses.
        gateway = []
        if not any(a in ("--gateway-port", "--no-gateway") for a in (*self.edge_args, *extra_args)):
            self.gateway_ports[name] = free_port()
            gateway = ["--gateway-port", str(self.gateway_ports[name])]
        argv = [os.path.join(self.t.build_dir, "edge-sync", "edge-sync"),
                "--node", name, "--namespace", self.ns, *mqtt, *gateway,
                "--data", self.node_data(name),
                "--engine", engine_sock or self.t.engine_sock,
                "--pause-binary", os.path.join(self.t.build_dir, "edge-sync", "ferry-pause"),
                "--log-level", self.log_level, *self.edge_args, *extra_args]
        self.nodes[name] = Daemon(f"edge-sync {name}", argv,
                                  os.path.join(self.dir, f"edge-{name}.log"))
        return self.nodes[name]

    def node_data(self, name):
        return os.path.join(self.dir, f"edge-{name}-data")

    def enroll(self, name, labels=None):
        """Register node name (with labels) and enroll it the way an operator does: an
        enrollment token from the API, then `edge-sync --enroll URL --token TOKEN`, which makes
        the node's keys and keeps what the bridge answers (its broker credential, the bridge's
        key). Returns the enrollment answer the node stored."""
        code, body = self.api.post(self.path("nodes"), {"name": name, "labels": labels or {}})
        assert code == 201, f"register {name}: {code} {body}"
        if name not in self.labels:
            self._enrolled_unclaimed.add(name)
        code, body = self.api.post(self.path("nodes", name, "enroll"))
        assert code == 201, f"enrollment token for {name}: {code} {body}"
        out = subprocess.run(
            [os.path.join(self.t.build_dir, "edge-sync", "edge-sync"), "--data",
             self.node_data(name), "--enroll", f"{self.url}/v1/enroll", "--token", body["token"],
             "--log-level", self.log_level], capture_output=True, timeout=60)
        assert out.returncode == 0, \
            f"edge-sync --enroll {name}: {out.returncode}: {out.stderr.decode(errors='replace')}"
        with open(os.path.join(self.node_data(name), "identity", "enrollment.json")) as f:
            return json.load(f)

    def node_auth(self, name):
        """The broker credential node name was given at enrollment, as an MqttAuth (its bound
        client id included: using it takes the node's session over, so stop the node first)."""
        with open(os.path.join(self.node_data(name), "identity", "enrollment.json")) as f:
            mqtt = json.load(f)["mqtt"]
        return MqttAuth(self.t.ca, mqtt["username"], mqtt["password"], mqtt["clientId"])

    def mqtt_port(self):
        return self.t.mqtts_port if self.secure else self.t.mqtt_port

    def capture(self, topics, auth=None, **kw):
        """A capture on this stack's broker, owned by the current scope: on the secure broker as
        auth (default: the plugin's admin, who reads everything)."""
        if self.secure:
            auth = auth or self.t.mqtts_admin
            kw.setdefault("probe_auth", self.t.mqtts_admin)
        return self.t._own(MqttCapture(self.mqtt_port(), topics, auth=auth, **kw))

    def daemons(self):
        return [self.bridge, *self.nodes.values()]

    # -- lifecycle
    def start(self, wait_online=True):
        self.start_bridge()
        for name in self.nodes:
            self.start_node(name, wait_online=False)
        if wait_online and self.nodes:
            self.wait_online(*self.nodes)
        return self

    def start_bridge(self, timeout=30.0):
        """Start broker-bridge and wait until healthy. A bridge answers the hellos of every
        namespace, so two on one broker disturb each other's nodes: any other stack still running
        is stopped first (conftest.py starts a longer-lived one again before the next test)."""
        for other in self.t.stacks():
            if other is not self and any(d.running() for d in other.daemons()):
                print(f"stopping the daemons of namespace {other.ns} while {self.ns} runs")
                other.stop()
        self.bridge.start()
        poll(lambda: self.api.get("/healthz", timeout=2)[0] == 200, timeout,
             f"broker-bridge /healthz on {self.url}", alive=self.check_alive)

    def start_node(self, name, wait_online=True, timeout=30.0):
        if self.secure and not os.path.exists(
                os.path.join(self.node_data(name), "identity", "enrollment.json")):
            self.enroll(name, self.labels.get(name))
        self.nodes[name].start()
        if wait_online:
            self.wait_online(name, timeout=timeout)

    def ensure_running(self):
        """Start again whatever daemon of a started stack is not running (killed by a test that
        failed before it restarted it, or crashed), bridge first; wait until healthy / online.
        Returns the names of the daemons started."""
        started = []
        if self.bridge.proc is None:
            return started  # never started: not ours to start
        for d in self.daemons():
            if d.proc is not None and not d.running():
                d.expect_exit = True  # known: check_alive must not fail the restarts below
        if not self.bridge.running():
            self.start_bridge()
            started.append(self.bridge.name)
        for name, d in self.nodes.items():
            if d.proc is not None and not d.running():
                self.start_node(name)
                started.append(d.name)
        return started

    def kill_bridge(self, sig=signal.SIGKILL):
        return self.bridge.kill(sig)

    def kill_node(self, name, sig=signal.SIGKILL):
        return self.nodes[name].kill(sig)

    def stop(self, timeout=15.0):
        """SIGTERM to every daemon at once (nodes first), then SIGKILL to any still running after
        timeout; waits until all have exited."""
        running = [d for d in reversed(self.daemons()) if d.running()]
        for d in running:
            d.expect_exit = True
            d.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for d in running:
            try:
                d.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                d.kill(signal.SIGKILL, timeout)

    def check_alive(self):
        """Raise when a daemon that should run has exited (crash, ASan report, ...)."""
        for d in self.daemons():
            if d.proc is not None and not d.expect_exit and d.proc.poll() is not None:
                raise AssertionError(f"{d.name} exited with status {d.proc.returncode}; log "
                                     f"tail:\n{d.log_tail(40)}")

    def wait_online(self, *names, timeout=30.0):
        """Wait until the latest node.online of each named node (the retained one, then any
        published after it), decoded by ferryctl, says online: true. Returns that message (a dict
        {name: message} when several names are given)."""
        topic = f"ferry/{self.ns}/nodes/+/online"
        latest = {}
        auth = self.t.mqtts_admin if self.secure else None
        with MqttCapture(self.mqtt_port(), topic, auth=auth) as cap:
            seen = 0

            def online():
                nonlocal seen
                self.check_alive()
                msgs = cap.snapshot()[seen:]
                seen += len(msgs)
                for tp, obj in ferryctl_decode(self.t.build_dir, msgs) if msgs else ():
                    latest[tp.split("/")[-2]] = obj
                return all((latest.get(n) or {}).get("online") is True for n in names)
            try:
                poll(online, timeout, f"nodes {', '.join(names)} online on {topic}", interval=0.05)
            except PollTimeout as e:
                raise PollTimeout(f"{e}; latest node.online seen: {latest}") from None
        return latest[names[0]] if len(names) == 1 else {n: latest[n] for n in names}

    # -- API conveniences (return (status, body) like Api)
    def path(self, *parts):
        return "/v1/namespaces/" + "/".join(urllib.parse.quote(p, safe="") for p in
                                            (self.ns, *parts))

    def register_node(self, name, labels=None):
        """POST the node. A secure stack registered its nodes when it enrolled them (start()):
        the first registration a test asks for of such a node sets its labels (PUT) and answers
        201, so a test reads the same on both kinds of stack."""
        if name in self._enrolled_unclaimed:
            self._enrolled_unclaimed.discard(name)
            code, body = self.api.put(self.path("nodes", name), {"labels": labels or {}})
            return (201 if code == 200 else code), body
        return self.api.post(self.path("nodes"), {"name": name, "labels": labels or {}})

    def create_app(self, spec):
        return self.api.post(self.path("apps"), spec)

    def pods(self, node=None, app=None):
        """Containers Ferry created for this stack's namespace (optionally one node / app)."""
        labels = {"io.ferry.managed": "1", "io.ferry.namespace": self.ns}
        if node:
            labels["io.ferry.node"] = node
        if app:
            labels["io.ferry.app"] = app
        return self.t.engine.containers(labels)

    def dump_logs(self, lines=60, out=sys.stderr):
        for d in self.daemons():
            print(f"---- {d.name}: {d.log_path} (last {lines} lines)", file=out)
            print(d.log_tail(lines), file=out)

    def cleanup(self):
        self.stop()
        try:
            self.t.engine.remove_labelled({"io.ferry.managed": "1", "io.ferry.namespace": self.ns})
        except (OSError, RuntimeError) as e:
            print(f"cleanup: removing containers of {self.ns}: {e}", file=sys.stderr)
        try:
            clear_retained(self.mqtt_port(), f"ferry/{self.ns}/#",
                           auth=self.t.mqtts_admin if self.secure else None)
        except (OSError, subprocess.SubprocessError, PollTimeout) as e:
            print(f"cleanup: clearing retained messages of {self.ns}: {e}", file=sys.stderr)


# ---- the test context and runner ---------------------------------------------------------------


class Test:
    """What a test gets: the services (from FERRY_TEST_*), the chosen engine, a temp folder, and
    factories for stacks and captures. Everything made through stack() and capture() is owned by
    the scope that was open when it was made (see mark() and release()): conftest.py opens one
    per module and one per test, so a test's stacks and captures are cleaned up when it ends and
    a module fixture's when the module ends. Raises Skip when the services are not configured."""

    def __init__(self, engine="docker", build_dir="build", keep=False):
        env = os.environ
        if engine not in ("docker", "podman"):
            raise ValueError(f"engine must be docker or podman, not {engine!r}")
        need = ["FERRY_TEST_MQTT_PORT", f"FERRY_TEST_{engine.upper()}_SOCK"]
        missing = [k for k in need if not env.get(k)]
        if missing:
            raise Skip(f"{', '.join(missing)} not set (run under scripts/test.sh, or source the "
                       f"env file of scripts/services.sh start)")
        self.engine_name = engine
        self.engine_sock = env[f"FERRY_TEST_{engine.upper()}_SOCK"]
        self.docker_sock = env.get("FERRY_TEST_DOCKER_SOCK")
        self.podman_sock = env.get("FERRY_TEST_PODMAN_SOCK")
        self.mqtt_port = int(env["FERRY_TEST_MQTT_PORT"])
        self.mqtt_url = f"tcp://127.0.0.1:{self.mqtt_port}"
        # The secure broker (scripts/mqtts.sh through services.sh), for Stack(secure=True).
        self.mqtts_url = env.get("FERRY_TEST_MQTTS")  # ssl://127.0.0.1:PORT
        self.mqtts_port = int(self.mqtts_url.rsplit(":", 1)[1]) if self.mqtts_url else None
        self.ca = env.get("FERRY_TEST_CA")
        self.bridge_user = env.get("FERRY_TEST_MQTT_BRIDGE_USER")
        self.bridge_pass = env.get("FERRY_TEST_MQTT_BRIDGE_PASS")
        root = (env.get("FERRY_TEST_MQTT_ROOT_USER"), env.get("FERRY_TEST_MQTT_ROOT_PASS"))
        # services.sh's test client that reads and writes every topic: the tests' view of the
        # secure broker (and a stand-in for a compromised or misconfigured broker).
        self.mqtts_admin = MqttAuth(self.ca, *root) if all(root) and self.ca else None
        self.registry = env.get("FERRY_TEST_REGISTRY")
        self.registry_user = env.get("FERRY_TEST_REGISTRY_USER")
        self.registry_pass = env.get("FERRY_TEST_REGISTRY_PASS")
        self.build_dir = os.path.abspath(build_dir)
        self.keep = keep
        self.engine = Engine(self.engine_sock)
        if not self.engine.ping():  # configured but dead: a failure, not a skip
            raise RuntimeError(f"no {engine} engine answers on {self.engine_sock}")
        self.tmp = tempfile.mkdtemp(prefix="ferry-e2e-")
        self._owned = []  # (serial, Stack or MqttCapture), in creation order
        self._serial = 0
        self._stack_count = 0

    @classmethod
    def from_args(cls, argv=None):
        """From a script's command line: --engine docker|podman --build-dir DIR [--keep]."""
        p = argparse.ArgumentParser()
        p.add_argument("--engine", choices=["docker", "podman"], default="docker")
        p.add_argument("--build-dir", default=os.environ.get("FERRY_BUILD_DIR", "build"))
        p.add_argument("--keep", action="store_true", help="keep the temp folder")
        args = p.parse_args(argv)
        return cls(args.engine, args.build_dir, args.keep)

    def _own(self, obj):
        self._owned.append((self._serial, obj))
        self._serial += 1
        return obj

    def stack(self, nodes=(), start=True, **kw):
        """A Stack (see there); started (bridge healthy, nodes online) unless start=False."""
        s = Stack(self, nodes, name=f"stack{self._stack_count}", **kw)
        self._stack_count += 1
        self._own(s)
        if start:
            s.start()
        return s

    def capture(self, topics):
        return self._own(MqttCapture(self.mqtt_port, topics))

    # -- scopes
    def mark(self):
        """Open a scope: release(mark) later cleans up what was made from now on."""
        return self._serial

    def stacks(self):
        """The stacks not cleaned up yet, oldest first."""
        return [o for _, o in self._owned if isinstance(o, Stack)]

    def release(self, mark):
        """Stop the captures and clean up the stacks made since mark (newest first)."""
        mine = [o for n, o in self._owned if n >= mark]
        self._owned = [(n, o) for n, o in self._owned if n < mark]
        for o in reversed(mine):
            if isinstance(o, MqttCapture):
                o.stop()
        for o in reversed(mine):
            if isinstance(o, Stack):
                o.cleanup()

    def dump_logs(self, out=sys.stderr):
        for s in self.stacks():
            s.dump_logs(out=out)

    def logs_text(self, lines=60):
        """The log tails of every stack not cleaned up yet, as one text."""
        buf = io.StringIO()
        for s in self.stacks():
            s.dump_logs(lines, buf)
        return buf.getvalue()

    def cleanup(self, failed):
        """Release everything; delete the temp folder unless failed or --keep. Returns True when
        the folder was kept."""
        self.release(0)
        if failed or self.keep:
            return True
        shutil.rmtree(self.tmp, ignore_errors=True)
        return False


def run(fn, argv=None):
    """For scripts that are not pytest tests (bench/): run fn(t) with a Test made from the command
    line (Test.from_args) and exit: 0 passed, 1 failed, 77 skipped."""
    name = os.path.basename(sys.argv[0])
    try:
        t = Test.from_args(argv)
    except Skip as e:
        print(f"SKIP {name}: {e}")
        sys.exit(SKIP)
    except Exception as e:  # noqa: BLE001
        print(f"FAIL {name}: {e}")
        sys.exit(1)
    status = 1
    try:
        print(f"{name}: engine {t.engine_name} ({t.engine_sock}), broker {t.mqtt_url}, "
              f"build {t.build_dir}, temp {t.tmp}", flush=True)
        fn(t)
        status = 0
    except Skip as e:
        print(f"SKIP {name}: {e}")
        status = SKIP
    except BaseException:  # noqa: BLE001 - report everything, including KeyboardInterrupt
        traceback.print_exc()
        t.dump_logs()
    try:
        if t.cleanup(failed=status == 1):
            print(f"logs and data kept in {t.tmp}", file=sys.stderr)
    except Exception:  # noqa: BLE001 - a failed cleanup fails the run
        traceback.print_exc()
        status = 1 if status == 0 else status
    print({0: "PASS", 1: "FAIL", SKIP: "SKIP"}[status], name, flush=True)
    sys.exit(status)
