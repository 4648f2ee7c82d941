"""Integration test of broker-bridge's API security with the real daemon (python3 standard library
only): tokens and permissions (401, 403), a cross-site POST, a body that is not JSON (415), the
admin token file's mode, HTTPS with a test certificate, plain HTTP refused without --plain-http,
and 2,000 half-open connections (slowloris) that must leave GET /healthz answering.

Needs only the build: no broker (the bridge retries MQTT in the background) and no engine.

    python3 tests/bridge/test_api_security.py --build-dir build [NAME...]
    FERRY_BUILD_DIR=build python3 -m pytest tests/bridge/test_api_security.py

Every test starts its own bridge in a temp folder. Nothing sleeps to synchronise: waits poll with
a deadline. The slowloris test prints how long the health check took; nothing asserts a time.
"""
import argparse
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "e2e"))
from harness import free_port, poll, record_exchange  # noqa: E402 - the e2e helpers

BUILD_DIR = os.environ.get("FERRY_BUILD_DIR", "build")
HALF_OPEN = 2000


class Bridge:
    """broker-bridge on a free loopback port with its data in a temp folder; a context manager
    that stops it (SIGTERM) on exit. request() sends the admin token unless told otherwise."""

    def __init__(self, *args, tls=None, start=True):
        self.tmp = tempfile.mkdtemp(prefix="ferry-api-sec-")
        self.port = free_port()
        self.tls = tls  # (cert, key) or None
        self.data = os.path.join(self.tmp, "data")
        self.token_file = self.data + ".admin-token"
        self.log_path = os.path.join(self.tmp, "bridge.log")
        self.argv = [os.path.join(os.path.abspath(BUILD_DIR), "broker-bridge", "broker-bridge"),
                     "--listen", f"127.0.0.1:{self.port}", "--data", self.data,
                     "--mqtt", f"tcp://127.0.0.1:{free_port()}", "--log-level", "info"]
        if tls:
            self.argv += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self.argv += list(args)
        self.proc = None
        self.token = None
        if start:
            self.start()

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        poll(lambda: self.get("/healthz", token=None)[0] == 200, 20,
             f"broker-bridge /healthz on port {self.port}", interval=0.05, alive=self.alive)
        with open(self.token_file) as f:
            self.token = f.read().strip()
        return self

    def alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"broker-bridge exited with {self.proc.returncode}:\n"
                                 f"{self.log_text()}")
        return True

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def connection(self, timeout=10.0):
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls[0])
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, token="admin", headers=None, timeout=10.0):
        """(status, parsed JSON body, response headers). token: "admin" for the admin token,
        None for none, or the token to send."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {self.token if token == 'admin' else token}"
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            # FERRY_API_RECORD: the contract test checks it (tests/e2e/openapi_check.py)
            record_exchange(method, path, hdrs, body.encode() if isinstance(body, str) else body,
                            resp.status, resp.getheader("Content-Type"), data)
            return resp.status, json.loads(data) if data else None, resp
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.stop()
        if exc_type is None and self.proc is not None and self.proc.returncode != 0:
            # A crash, or a sanitizer's report at exit (the ASan build).
            raise AssertionError(f"broker-bridge exited with {self.proc.returncode} after "
                                 f"SIGTERM:\n{self.log_text()[-4000:]}")
        if exc_type is not None:
            print(f"---- bridge log ({self.log_path}):\n{self.log_text()[-4000:]}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def run_to_exit(argv, timeout=20):
    """Run the bridge expecting it to refuse to start: (exit status, output)."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace")


APP = {"name": "web", "services": [{"name": "s", "image": "busybox:1"}]}


# ---- the tests -----------------------------------------------------------------------------------


def test_tokens_and_permissions():
    with Bridge("--plain-http") as b:
        # No token, a malformed one, an unknown one: 401 with the Bearer challenge.
        for token in (None, "nope", "ferry_" + "A" * 43):
            status, body, resp = b.get("/v1/namespaces/team/apps", token=token)
            assert status == 401, (token, status, body)
            assert resp.getheader("WWW-Authenticate", "").startswith("Bearer"), resp.getheaders()
        assert b.get("/healthz", token=None)[0] == 200

        # The admin makes a viewer of "team"; it reads there and nowhere else, writes nothing.
        status, tok, _ = b.request("POST", "/v1/tokens",
                                   {"name": "ro", "role": "viewer", "namespaces": ["team"]})
        assert status == 201 and tok["token"].startswith("ferry_"), (status, tok)
        viewer = tok["token"]
        assert b.get("/v1/namespaces/team/apps", token=viewer)[0] == 200
        status, body, _ = b.request("POST", "/v1/namespaces/team/apps", APP, token=viewer)
        assert status == 403 and body["permission"] == "write", (status, body)
        assert body["error"] == ("forbidden: token 'ro' (viewer of namespace team) may not write "
                                 "in namespace 'team'"), body
        status, body, _ = b.get("/v1/namespaces/other/apps", token=viewer)
        assert status == 403 and body["permission"] == "read", (status, body)
        status, body, _ = b.get("/v1/tokens", token=viewer)
        assert status == 403 and body["permission"] == "admin", (status, body)

        # Shown once: the list has no token; deleted, it stops working at once.
        status, listed, _ = b.get("/v1/tokens")
        assert status == 200 and viewer not in json.dumps(listed), listed
        assert b.request("DELETE", f"/v1/tokens/{tok['id']}")[0] == 200
        assert b.get("/v1/namespaces/team/apps", token=viewer)[0] == 401

        # The admin token still does everything.
        assert b.request("POST", "/v1/namespaces/team/apps", APP)[0] == 201


def test_cross_site_post_refused():
    with Bridge("--plain-http", "--allow-origin", "https://ui.example") as b:
        evil = {"Origin": "https://evil.example", "Content-Type": "application/json"}
        status, body, _ = b.request("POST", "/v1/namespaces/team/apps", json.dumps(APP),
                                    headers=evil)
        assert status == 403 and "cross-origin" in body["error"], (status, body)
        assert b.get("/v1/namespaces/team/apps/web")[0] == 404  # nothing was stored
        # The API's own origin and the allowed one pass.
        for origin in (f"http://127.0.0.1:{b.port}", "https://ui.example"):
            status, body, _ = b.get("/v1/namespaces/team/apps", headers={"Origin": origin})
            assert status == 200, (origin, status, body)


def test_text_plain_post_415():
    with Bridge("--plain-http") as b:
        status, body, _ = b.request("POST", "/v1/namespaces/team/apps", json.dumps(APP),
                                    headers={"Content-Type": "text/plain"})
        assert status == 415, (status, body)
        status, _, _ = b.request("POST", "/v1/namespaces/team/apps", json.dumps(APP),
                                 headers={"Content-Type": "application/json; charset=utf-8"})
        assert status == 201


def test_plain_http_refused_without_flag():
    b = Bridge(start=False)
    try:
        rc, out = run_to_exit(b.argv)
        assert rc != 0 and "refusing to serve the API over plain HTTP" in out, (rc, out)
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)


def test_admin_token_file_mode():
    b2 = Bridge("--plain-http", start=False)
    try:
        os.makedirs(os.path.dirname(b2.token_file), exist_ok=True)
        with open(b2.token_file, "w") as f:
            f.write("ferry_" + "B" * 43 + "\n")
        os.chmod(b2.token_file, 0o644)
        rc, out = run_to_exit(b2.argv)
        assert rc != 0 and "group or others may read it" in out and "chmod 600" in out, (rc, out)
        os.chmod(b2.token_file, 0o600)
        b2.start()
        assert b2.token == "ferry_" + "B" * 43  # a token written by hand is the admin token
        assert b2.get("/v1/tokens")[0] == 200
    finally:
        b2.stop()
        shutil.rmtree(b2.tmp, ignore_errors=True)


def make_cert(folder):
    """A self-signed certificate for 127.0.0.1 (openssl CLI): (cert path, key path)."""
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return cert, key


def test_https():
    folder = tempfile.mkdtemp(prefix="ferry-api-cert-")
    try:
        tls = make_cert(folder)
        with Bridge(tls=tls) as b:  # no --plain-http needed
            assert b.get("/healthz", token=None)[0] == 200
            assert b.request("POST", "/v1/namespaces/team/apps", APP)[0] == 201
            assert b.get("/v1/namespaces/team/apps/web", token=None)[0] == 401
            # Plain HTTP on the HTTPS port gets no HTTP answer.
            conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
            try:
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                raise AssertionError(f"plain HTTP answered {resp.status} on the HTTPS port")
            except (http.client.HTTPException, OSError):
                pass
            finally:
                conn.close()
            assert "over HTTPS" in b.log_text()
        # A key that is not the certificate's: refused at start.
        os.makedirs(os.path.join(folder, "other"))
        other = make_cert(os.path.join(folder, "other"))
        b = Bridge(tls=(tls[0], other[1]), start=False)
        try:
            rc, out = run_to_exit(b.argv)
            assert rc != 0 and "cannot serve HTTPS" in out, (rc, out)
        finally:
            shutil.rmtree(b.tmp, ignore_errors=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def waiting(s):
    """True when the server neither answered nor closed s."""
    s.setblocking(False)
    try:
        s.recv(1)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def test_slowloris():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < HALF_OPEN + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, HALF_OPEN + 1000), hard))
    with Bridge("--plain-http") as b:
        held = []
        try:
            t0 = time.monotonic()
            for i in range(HALF_OPEN):
                s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
                # A request that never ends: no blank line after the headers.
                s.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-{i}: ".encode())
                held.append(s)
            opened = time.monotonic() - t0
            t1 = time.monotonic()
            status, body, _ = b.get("/healthz", token=None, timeout=30)
            took = time.monotonic() - t1
            assert status == 200 and body["ok"] is True, (status, body)
            t2 = time.monotonic()
            status, _, _ = b.get("/v1/tokens", timeout=30)
            took_auth = time.monotonic() - t2
            assert status == 200
            alive = sum(1 for s in held if waiting(s))
            print(f"slowloris: {HALF_OPEN} half-open connections opened in {opened:.2f}s "
                  f"({alive} still open); GET /healthz answered in {took * 1000:.1f} ms, "
                  f"GET /v1/tokens in {took_auth * 1000:.1f} ms")
        finally:
            for s in held:
                s.close()
        assert b.get("/healthz", token=None)[0] == 200


def test_per_ip_limit():
    # --api-max-per-ip: an address holding its share gets no more connections (MHD closes them
    # at once); when it lets one go, the next is served again.
    with Bridge("--plain-http", "--api-max-per-ip", "4") as b:
        held = []

        def hold_four():
            # Each of the four is served once (so the server has accepted it: the readiness
            # probe's connection may still count against the address for a moment, and then one
            # of these is refused), then kept busy with a request that never ends.
            for c in held:
                c.close()
            held.clear()
            for _ in range(4):
                c = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
                held.append(c)
                c.request("GET", "/healthz")
                resp = c.getresponse()
                resp.read()
                if resp.status != 200:
                    return False
            for c in held:
                c.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            return all(waiting(c.sock) for c in held)

        try:
            poll(hold_four, 10, "4 connections held")
            try:
                status = b.get("/healthz", token=None, timeout=5)[0]
            except OSError as e:
                status = type(e).__name__
            assert status != 200, f"a 5th connection from the address was served: {status}"
        finally:
            held.pop().close()
        poll(lambda: b.get("/healthz", token=None, timeout=5)[0] == 200, 10,
                     "served again once a connection was let go")
        for s in held:
            s.close()


TESTS = [test_tokens_and_permissions, test_cross_site_post_refused, test_text_plain_post_415,
         test_plain_http_refused_without_flag, test_admin_token_file_mode, test_https,
         test_slowloris, test_per_ip_limit]


def run_tests(tests):
    """The command line of a test file of real bridges: --build-dir and test names; runs them
    all (a failure does not stop the rest) and exits 1 when one failed, 77 without a build."""
    global BUILD_DIR
    p = argparse.ArgumentParser()
    p.add_argument("--build-dir", default=BUILD_DIR)
    p.add_argument("names", nargs="*", help="run only these tests")
    args = p.parse_args()
    BUILD_DIR = args.build_dir
    binary = os.path.join(BUILD_DIR, "broker-bridge", "broker-bridge")
    if not os.access(binary, os.X_OK):
        print(f"SKIP: no {binary} (build first)")
        sys.exit(77)
    failed = 0
    for test in tests:
        if args.names and test.__name__ not in args.names:
            continue
        t0 = time.monotonic()
        try:
            test()
            print(f"PASS {test.__name__} ({time.monotonic() - t0:.1f}s)", flush=True)
        except Exception:  # noqa: BLE001 - report every failure, run the rest
            traceback.print_exc()
            print(f"FAIL {test.__name__}", flush=True)
            failed += 1
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    run_tests(TESTS)
