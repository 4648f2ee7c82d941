#!/usr/bin/python3
"""Integration test of ferry-sql-runtime over its real wire: a code dir with handlers, the runtime on
a temporary unix socket, calls with http.client (200, 204, 400, 404, 405, 413, 422, /healthz), a bad
SQL file that makes it exit 1 with the message, SIGTERM while a call is in flight -> exit 0.
usage: test_sql_runtime.py PATH/TO/ferry-sql-runtime"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rtutil import UnixHTTPConnection  # noqa: E402

RUNTIME = sys.argv[1]


def call(sock, method, path, body=None, headers=None):
    c = UnixHTTPConnection(sock, 10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, dict(r.getheaders()), data
    finally:
        c.close()


def expect(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok  ", what)


def env_for(tmp, functions, service="svc"):
    env = dict(os.environ)
    env.update(FERRY_SERVICE=service, FERRY_FUNCTIONS=json.dumps(functions),
               FERRY_CODE_DIR=os.path.join(tmp, "code"), FERRY_SOCKET=os.path.join(tmp, "rt.sock"))
    return env


def start(tmp, functions):
    sock = os.path.join(tmp, "rt.sock")
    with open(sock, "w") as f:  # a stale file where the socket goes
        f.write("stale")
    p = subprocess.Popen([RUNTIME], env=env_for(tmp, functions), stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        try:
            if call(sock, "GET", "/healthz")[0] == 200:
                return p, sock
        except OSError:
            pass
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    print("FAIL: the runtime did not start:", p.stderr.read())
    sys.exit(1)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        code = os.path.join(tmp, "code")
        os.makedirs(os.path.join(code, "sub"))
        with open(os.path.join(code, "sub", "filter.sql"), "w") as f:
            f.write("select name as result where uid > 6\n")
        with open(os.path.join(code, "nested.sql"), "w") as f:
            f.write("-- nested members\nselect a->>'b' as b, json_extract(_event, '$.a.c[0]') as c0 "
                    "from msg where temp > 20\n")
        with open(os.path.join(code, "slow.sql"), "w") as f:
            f.write("select json_extract(name, '$.x') as x\n")
        functions = [{"name": "f", "handler": "filter.sql", "codedir": "sub"},
                     {"name": "nested", "handler": "nested.sql"},
                     {"name": "bad", "handler": "slow.sql", "codedir": ""}]
        p, sock = start(tmp, functions)
        try:
            expect(oct(os.stat(sock).st_mode & 0o777) == "0o666", "the socket is mode 0666")
            st, h, body = call(sock, "GET", "/healthz")
            expect(st == 200 and json.loads(body) == {"ok": True, "runtime": "sql", "service": "svc",
                                                       "functions": ["f", "nested", "bad"]},
                   "GET /healthz: %d %s" % (st, body))
            ev = json.dumps({"uid": 7, "name": "ferry", "temp": 21.5})
            st, h, body = call(sock, "POST", "/f", ev, {"X-Ferry-Invoke-Id": "inv-1"})
            expect(st == 200 and h.get("Content-Type") == "application/json"
                   and json.loads(body) == {"result": "ferry"} and h.get("X-Ferry-Invoke-Id") == "inv-1",
                   "POST /f: 200 %s" % body)
            st, h, body = call(sock, "POST", "/f", json.dumps({"uid": 3, "name": "x"}))
            expect(st == 204 and body == b"", "POST /f filtered out: 204")
            st, h, body = call(sock, "POST", "/nested", json.dumps({"a": {"b": 1, "c": ["z"]}, "temp": 30}))
            expect(st == 200 and json.loads(body) == {"b": 1, "c0": "z"}, "nested members: %s" % body)
            for bad in ("[1,2]", "not json", "", "{\"a\":1} x"):
                st, h, body = call(sock, "POST", "/f", bad)
                expect(st == 400 and "not a JSON object" in json.loads(body)["error"],
                       "event %r: 400 %s" % (bad, body))
            st, h, body = call(sock, "POST", "/nope", "{}")
            expect(st == 404 and json.loads(body) == {"error": "no function 'nope' in service 'svc'"},
                   "unknown function: 404 %s" % body)
            st, h, body = call(sock, "GET", "/f")
            expect(st == 405, "GET /f: 405")
            st, h, body = call(sock, "POST", "/bad", json.dumps({"name": "plain"}))
            expect(st == 422 and "malformed JSON" in json.loads(body)["error"],
                   "a handler failing on an event: 422 %s" % body)
            # announced over the cap: answered before the body is sent, the connection closed
            c = UnixHTTPConnection(sock, 10)
            c.putrequest("POST", "/f")
            c.putheader("Content-Length", str(1024 * 1024 + 1))
            c.endheaders()
            r = c.getresponse()
            expect(r.status == 413 and "over 1048576 bytes" in json.loads(r.read())["error"],
                   "an event announced over 1 MiB: 413")
            c.close()
            # not announced (chunked): read, dropped, 413 at the end
            c = UnixHTTPConnection(sock, 10)
            c.request("POST", "/f", body=iter([b"{" + b" " * 600000, b" " * 600000 + b"}"]),
                      encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
            r = c.getresponse()
            expect(r.status == 413, "a chunked event over 1 MiB: 413")
            r.read()
            c.close()
            # many calls on one keep-alive connection, from a few threads
            errors = []

            def worker():
                c = UnixHTTPConnection(sock, 10)
                try:
                    for i in range(200):
                        c.request("POST", "/f", json.dumps({"uid": i, "name": "n%d" % i}))
                        r = c.getresponse()
                        data = r.read()
                        want = 200 if i > 6 else 204
                        if r.status != want or (want == 200 and json.loads(data) != {"result": "n%d" % i}):
                            errors.append((i, r.status, data))
                finally:
                    c.close()
            ts = [threading.Thread(target=worker) for _ in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            expect(not errors, "800 calls from 4 threads on keep-alive connections %s" % errors[:3])
            # SIGTERM with a call in flight: it is answered, then the runtime exits 0
            c = UnixHTTPConnection(sock, 10)
            c.connect()
            c.putrequest("POST", "/f")
            c.putheader("Content-Length", str(len(ev)))
            c.endheaders()
            c.send(ev[:5].encode())
            time.sleep(0.2)
            p.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            c.send(ev[5:].encode())
            r = c.getresponse()
            expect(r.status == 200 and json.loads(r.read()) == {"result": "ferry"},
                   "the call in flight at SIGTERM is answered")
            c.close()
            rc = p.wait(timeout=15)
            expect(rc == 0, "SIGTERM: exit 0 (got %d)" % rc)
            expect(not os.path.exists(sock), "the socket file is removed")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()

        # compile errors at start: one line, exit 1
        cases = [
            ("selec name\n", "function 'f': filter.sql: near \"selec\": syntax error"),
            ("select 1; select 2", "function 'f': filter.sql: more than one statement"),
            ("insert into msg values (1)", "function 'f': filter.sql: a handler is one SELECT statement"),
            ("select name from sqlite_master", "function 'f': filter.sql: not authorized"),
        ]
        for sql, msg in cases:
            with open(os.path.join(code, "sub", "filter.sql"), "w") as f:
                f.write(sql)
            r = subprocess.run([RUNTIME], env=env_for(tmp, functions[:1]), capture_output=True,
                               text=True, timeout=30)
            expect(r.returncode == 1 and r.stderr.startswith("ferry-sql-runtime: " + msg)
                   and r.stderr.count("\n") == 1, "bad SQL %r: exit 1, %r" % (sql, r.stderr.strip()))
        for fns, msg in [([{"name": "f", "handler": "../x.sql"}], "without '..'"),
                         ([{"name": "f", "handler": "/etc/passwd"}], "relative paths"),
                         ([{"name": "f", "handler": "missing.sql"}], "missing.sql: No such file"),
                         ([{"name": "f"}], "handler must be a non-empty string")]:
            r = subprocess.run([RUNTIME], env=env_for(tmp, fns), capture_output=True, text=True,
                               timeout=30)
            expect(r.returncode == 1 and msg in r.stderr, "%s: exit 1, %r" % (fns, r.stderr.strip()))
    print("all ok")


if __name__ == "__main__":
    main()
