"""Integration test of the web console that broker-bridge serves at / (--console-dir), with the
real daemon and a console folder made here: the headers of every answer (exactly), HEAD, ETag
revalidation (304), 405 for other methods, a folder given but missing refuses the start, and
that every path that is not a console file is the API's as before (401 without a token, /v1/...
unchanged, "/%2e%2e/..." not served).

Needs only the build: no broker, no engine.

    python3 tests/bridge/test_console.py --build-dir build [NAME...]
"""
import http.client
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_api_security as sec  # noqa: E402 - the Bridge fixture of the API tests

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
INDEX = b'<!doctype html><title>Ferry</title><script type="module" src="/js/x.js"></script>\n'
FILES = {
    "index.html": INDEX,
    "js/x.js": b"export const x = 1;\n",
    "css/site.css": b"body { margin: 0 }\n",
    "img/logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    "notes.md": b"not served\n",
    ".env.js": b"not served\n",
}


class Console:
    """A console folder with FILES, inside a temp folder that also holds secret.txt beside it."""

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="ferry-console-")
        self.dir = os.path.join(self.tmp, "console")
        for rel, data in FILES.items():
            path = os.path.join(self.dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        with open(os.path.join(self.tmp, "secret.txt"), "wb") as f:
            f.write(b"SECRET outside the console\n")
        os.symlink(os.path.join(self.tmp, "secret.txt"), os.path.join(self.dir, "link.txt"))
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)


def raw(bridge, method, path, headers=None):
    """(status, {header: value}, body bytes) of one request sent as is (no token)."""
    conn = bridge.connection()
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k: v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def assert_console_headers(hdrs, tls=False):
    for name, value in SECURITY.items():
        assert hdrs.get(name) == value, (name, hdrs.get(name), hdrs)
    if tls:
        assert hdrs.get("Strict-Transport-Security") == "max-age=31536000", hdrs
    else:
        assert "Strict-Transport-Security" not in hdrs, hdrs


def check_console(b, tls=False):
    st, hdrs, body = raw(b, "GET", "/")
    assert st == 200, (st, body)
    assert body == INDEX, body
    assert hdrs["Content-Type"] == "text/html; charset=utf-8", hdrs
    assert hdrs["Cache-Control"] == "no-cache", hdrs
    assert hdrs["Content-Length"] == str(len(INDEX)), hdrs
    etag = hdrs["ETag"]
    assert len(etag) == 34 and etag[0] == etag[-1] == '"', etag
    assert_console_headers(hdrs, tls)

    st, hdrs2, body = raw(b, "GET", "/index.html?v=3")  # the query is ignored
    assert (st, body, hdrs2["ETag"]) == (200, INDEX, etag), (st, hdrs2)

    st, hdrs, body = raw(b, "HEAD", "/")
    assert (st, body) == (200, b""), (st, body)
    assert hdrs["ETag"] == etag and hdrs["Content-Type"] == "text/html; charset=utf-8", hdrs
    assert_console_headers(hdrs, tls)

    st, hdrs, body = raw(b, "GET", "/", {"If-None-Match": etag})
    assert (st, body) == (304, b""), (st, body)
    assert hdrs["ETag"] == etag and hdrs["Cache-Control"] == "no-cache", hdrs
    assert_console_headers(hdrs, tls)
    st, _, body = raw(b, "GET", "/", {"If-None-Match": '"0000"'})
    assert (st, body) == (200, INDEX), st

    st, hdrs, body = raw(b, "GET", "/js/x.js")
    assert st == 200 and body == FILES["js/x.js"], (st, body)
    assert hdrs["Content-Type"] == "text/javascript; charset=utf-8", hdrs
    assert hdrs["ETag"] != etag, hdrs
    assert_console_headers(hdrs, tls)
    st, hdrs, _ = raw(b, "GET", "/css/site.css")
    assert (st, hdrs["Content-Type"]) == (200, "text/css; charset=utf-8"), (st, hdrs)
    st, hdrs, _ = raw(b, "GET", "/img/logo.svg")
    assert (st, hdrs["Content-Type"]) == (200, "image/svg+xml"), (st, hdrs)

    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        st, hdrs, _ = raw(b, method, "/")
        assert st == 405 and hdrs.get("Allow") == "GET, HEAD", (method, st, hdrs)
    st, hdrs, _ = raw(b, "POST", "/js/x.js", {"Content-Type": "application/json"})
    assert st == 405 and hdrs.get("Allow") == "GET, HEAD", (st, hdrs)

    # A foreign Origin gets a public file as any page would (the API's own paths refuse it).
    st, _, _ = raw(b, "GET", "/js/x.js", {"Origin": "https://evil.example"})
    assert st == 200, st

    # Not console files: the API's answers, as without a console.
    for path in ("/nope.js", "/notes.md", "/.env.js", "/link.txt", "/js/", "/js",
                 "/%2e%2e/secret.txt", "/../secret.txt", "/js/../index.html", "//index.html",
                 "/v1/namespaces/default/apps"):
        st, hdrs, body = raw(b, "GET", path)
        assert st == 401, (path, st, body)
        assert b"SECRET" not in body and "Content-Security-Policy" not in hdrs, (path, hdrs)
    st, _, body = b.get("/nope.js")
    assert st == 404, (st, body)
    assert b.get("/healthz", token=None)[0] == 200
    assert b.get("/v1/openapi.json", token=None)[0] == 200
    assert b.get("/v1/namespaces/default/apps")[0] == 200
    assert raw(b, "GET", "/metrics", {"Authorization": f"Bearer {b.token}"})[0] == 200


def test_console_served():
    with Console() as con, sec.Bridge("--plain-http", "--console-dir", con.dir) as b:
        check_console(b)
        log = b.log_text()
        assert "serving the web console at / (4 files" in log, log
        assert "link.txt: a symbolic link" in log, log
        # Metrics: console requests under the route template "console".
        st, _, text = raw(b, "GET", "/metrics", {"Authorization": f"Bearer {b.token}"})
        text = text.decode()
        assert st == 200, st
        assert 'route="console",method="GET",code="200"' in text, text
        assert 'route="console",method="GET",code="304"' in text, text
        assert 'route="console",method="POST",code="405"' in text, text


def test_console_tls():
    folder = tempfile.mkdtemp(prefix="ferry-console-cert-")
    try:
        tls = sec.make_cert(folder)
        with Console() as con, sec.Bridge("--console-dir", con.dir, tls=tls) as b:
            check_console(b, tls=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_console_off():
    # '' turns it off: / is the API's (401 without a token).
    with Console() as con, sec.Bridge("--plain-http", "--console-dir", "") as b:
        st, hdrs, _ = raw(b, "GET", "/")
        assert st == 401 and "ETag" not in hdrs, (st, hdrs)
        assert "web console off (--console-dir '')" in b.log_text()
        del con
    # Not given: the installed folder when there is one, else off (one info line).
    with sec.Bridge("--plain-http") as b:
        if "web console off:" in b.log_text():
            assert raw(b, "GET", "/")[0] == 401


def test_console_dir_missing_refused():
    with Console() as con:
        for bad in (os.path.join(con.tmp, "nope"), os.path.join(con.dir, "index.html")):
            b = sec.Bridge("--plain-http", "--console-dir", bad, start=False)
            try:
                rc, out = sec.run_to_exit(b.argv)
                assert rc != 0 and f"--console-dir {bad}" in out, (rc, out)
            finally:
                shutil.rmtree(b.tmp, ignore_errors=True)


if __name__ == "__main__":
    sec.run_tests([test_console_served, test_console_tls, test_console_off,
                   test_console_dir_missing_refused])
