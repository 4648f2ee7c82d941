"""Helpers of the function-runtime tests (python3 standard library): an HTTP client over a unix
socket, and a runtime server started on a temp socket with its output in a log file."""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PYTHON_RUNTIME = os.path.join(ROOT, "runtimes", "python3", "ferry_runtime.py")
NODE_RUNTIME = os.path.join(ROOT, "runtimes", "nodejs", "ferry_runtime.js")
# Debian's interpreter, the one the images copy, when there is one.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
NODE = shutil.which("node") or shutil.which("nodejs")

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import UnixHTTPConnection  # noqa: E402  (one client over unix sockets)


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def ctype(self):
        return self.headers.get("content-type", "")

    def json(self):
        assert self.ctype == "application/json", f"not JSON: {self.ctype}: {self.body[:300]!r}"
        return json.loads(self.body)

    def __repr__(self):
        return f"<HTTP {self.status} {self.ctype} {self.body[:500]!r}>"


def request(sock, method, path, body=None, headers=None, timeout=30):
    conn = UnixHTTPConnection(sock, timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def invoke(sock, function, event=None, raw=None, headers=None, timeout=30):
    """POST /function with event as JSON, or raw (bytes) as it is."""
    body = raw if raw is not None else json.dumps(event).encode()
    return request(sock, "POST", "/" + function, body, headers, timeout)


def poll(cond, timeout, what):
    """cond() until it returns a true value (returned) or the deadline (AssertionError)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            got = cond()
            if got:
                return got
        except (OSError, http.client.HTTPException) as e:
            got = e
        last = got
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not after {timeout}s (last: {last!r})")
        time.sleep(0.05)  # poll interval, not synchronisation


def command(runtime):
    if runtime == "python3":
        return [PYTHON, PYTHON_RUNTIME]
    return [NODE, NODE_RUNTIME]


class Server:
    """A runtime process on a socket in tmp; its stdout and stderr in tmp/NAME.log."""

    def __init__(self, runtime, tmp, functions, code_dir, service="svc", name="rt", env=None):
        self.runtime, self.sock = runtime, os.path.join(str(tmp), name + ".sock")
        self.log_path = os.path.join(str(tmp), name + ".log")
        e = dict(os.environ, FERRY_SERVICE=service, FERRY_RUNTIME=runtime,
                 FERRY_FUNCTIONS=json.dumps(functions), FERRY_CODE_DIR=str(code_dir),
                 FERRY_SOCKET=self.sock, PYTHONDONTWRITEBYTECODE="1")
        e.update(env or {})
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(command(runtime), env=e, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_ready(self, timeout=20):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.runtime} runtime exited with {self.proc.returncode}:"
                                     f"\n{self.output()}")
            return os.path.exists(self.sock) and request(self.sock, "GET", "/healthz",
                                                         timeout=5).status == 200
        poll(ready, timeout, f"{self.runtime} runtime serving on {self.sock}")
        return self

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.runtime} runtime still running after {timeout}s:\n"
                                 f"{self.output()}") from None

    def wait_output(self, text, timeout=20):
        return poll(lambda: text in self.output(), timeout, f"{text!r} in the runtime's output")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def write(folder, files):
    """Writes {relative path: text} under folder."""
    for rel, text in files.items():
        path = os.path.join(str(folder), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
