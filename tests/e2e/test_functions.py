"""Function apps end to end, on a real broker and a real engine: python3, nodejs10 and sql
functions from a config object run as runtime containers on the node and answer on its gateway as
POST /{service}/{function}; errors, timeouts and unknown names get their status codes; new code
reaches the node with no call lost; another app's container calls a function through
$FERRY_GATEWAY; and the call statistics (monitorQps) reach the stats API, for functions and for
a container app's calls proxied through the gateway. One stack (node east) for the module."""
import http.client
import json
import threading

import pytest

import harness
from common import IMAGE, wait_phase, web_app

PY_V1 = '''
import time

def handler(event, context):
    return {"out": event["in"] * 2, "fn": context["functionName"],
            "svc": context["serviceName"], "id": context["invokeId"], "code": "v1"}

def raw(event, context):
    return bytes(reversed(event)) if isinstance(event, bytes) else b"not bytes"

def fail(event, context):
    raise ValueError("bad input: %r" % (event,))

def slow(event, context):
    time.sleep(5)
    return "late"

def pause(event, context):
    time.sleep(1.5)
    return {"code": "v1"}
'''
PY_V2 = PY_V1.replace('"code": "v1"', '"code": "v2"')

JS = '''
exports.handler = (event, context, callback) => {
    callback(null, {hello: event.name, fn: context.functionName});
};
exports.asyncHandler = async (event, context) => {
    return "hi " + event.name;
};
exports.broken = (event, context, callback) => {
    callback(new Error("no " + event.name));
};
'''
SQL = "select name as result where uid > 6"  # the product's documented example

CODE = {"name": "fn-code", "kind": "config",
        "data": {"index.py": PY_V1, "index.js": JS, "filter.sql": SQL}}


def fn_app():
    return {
        "name": "fn", "type": "function", "description": "e2e functions", "monitorQps": True,
        "selector": {"matchLabels": {"region": "east"}},
        "services": [
            # A short timeout of its own: slow (5 s) is answered 504 after 2 s.
            {"name": "py-slow", "runtime": "python3", "functionConfig": "fn-code", "timeout": 2,
             "functions": [{"name": "slow", "handler": "index.slow"},
                           {"name": "ping", "handler": "index.handler"}]},
            {"name": "py", "runtime": "python3", "functionConfig": "fn-code",
             "functions": [{"name": "process", "handler": "index.handler"},
                           {"name": "raw", "handler": "index.raw"},
                           {"name": "fail", "handler": "index.fail"},
                           {"name": "pause", "handler": "index.pause"},
                           # called by test_stats_count_calls only
                           {"name": "count", "handler": "index.handler"},
                           {"name": "count-fail", "handler": "index.fail"}]},
            {"name": "js", "runtime": "nodejs10", "functionConfig": "fn-code",
             "functions": [{"name": "hello", "handler": "index.handler"},
                           {"name": "hi", "handler": "index.asyncHandler"},
                           {"name": "broken", "handler": "index.broken"}]},
            {"name": "sql", "runtime": "sql", "functionConfig": "fn-code",
             "functions": [{"name": "filter", "handler": "filter.sql"}]},
        ]}


# A container app: it calls py/process through $FERRY_GATEWAY every half second and serves the
# answer (and its own index) on 8080, published on the host; monitorQps counts what the gateway
# proxies to it.
CALLER = ["sh", "-c",
          "mkdir -p /www; echo caller > /www/index.html; trap 'exit 0' TERM; "
          "(while true; do wget -q -O /www/fn.tmp --header 'Content-Type: application/json' "
          "--post-data '{\"in\": 21}' \"$FERRY_GATEWAY/py/process\" && mv /www/fn.tmp /www/fn.json; "
          "sleep 0.5; done) & httpd -f -p 8080 -h /www & wait"]


def caller_app(host_port):
    return {"name": "caller", "description": "e2e", "monitorQps": True,
            "selector": {"matchLabels": {"region": "east"}},
            "services": [{"name": "caller", "image": IMAGE, "command": CALLER,
                          "ports": [{"containerPort": 8080, "hostPort": host_port}]}]}


class Gateway:
    def __init__(self, port):
        self.port = port

    def call(self, path, body=b"", method="POST", content_type="application/json", timeout=15):
        """(status, content type, body bytes)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": content_type})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type", ""), resp.read()
        finally:
            conn.close()

    def json(self, path, body=b"", **kw):
        status, _, data = self.call(path, body, **kw)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, data


@pytest.fixture(scope="module")
def stack(t):
    stack = t.stack(nodes=["east"], edge_args=["--stats-interval", "1"])
    code, body = stack.register_node("east", {"region": "east"})
    assert code == 201, (code, body)
    code, body = stack.api.post(stack.path("configs"), CODE)
    assert code == 201, (code, body)
    code, app = stack.create_app(fn_app())
    assert code == 201, (code, app)
    wait_phase(stack, "fn", "east", "Running", app["version"], timeout=120)
    return stack


@pytest.fixture(scope="module")
def gw(stack):
    g = Gateway(stack.gateway_ports["east"])
    # Running means the containers run; the runtimes answer once they loaded the code.
    harness.poll(lambda: g.call("/py/process", {"in": 1})[0] == 200, 30, "py/process answering")
    return g


def test_python_functions(gw):
    status, body = gw.json("/py/process", {"in": 21})
    assert status == 200, (status, body)
    assert body["out"] == 42 and body["fn"] == "process" and body["svc"] == "py", body
    assert body["code"] == "v1" and body["id"], body
    # A second function of the same service; a raw event and a bytes answer.
    status, ctype, data = gw.call("/py/raw", b"\x01\x02abc", content_type="application/octet-stream")
    assert status == 200 and data == b"cba\x02\x01", (status, ctype, data)
    assert ctype.startswith("application/octet-stream"), ctype


def test_nodejs_functions(gw):
    harness.poll(lambda: gw.call("/js/hello", {"name": "x"})[0] == 200, 30, "js/hello answering")
    status, body = gw.json("/js/hello", {"name": "ferry"})
    assert status == 200 and body == {"hello": "ferry", "fn": "hello"}, (status, body)
    status, ctype, data = gw.call("/js/hi", {"name": "ferry"})
    assert status == 200 and data == b"hi ferry", (status, ctype, data)
    status, body = gw.json("/js/broken", {"name": "luck"})
    assert status == 500 and "no luck" in body["error"], (status, body)


def test_sql_function(gw):
    harness.poll(lambda: gw.call("/sql/filter", {"uid": 7, "name": "x"})[0] == 200, 30,
                 "sql/filter answering")
    status, body = gw.json("/sql/filter", {"uid": 7, "name": "ferry", "temp": 21.5})
    assert status == 200 and body == {"result": "ferry"}, (status, body)
    status, _, data = gw.call("/sql/filter", {"uid": 3, "name": "ferry"})
    assert status == 204 and data == b"", (status, data)


def test_errors(gw):
    status, body = gw.json("/py/fail", {"x": 1})
    assert status == 500, (status, body)
    assert "ValueError: bad input" in body["error"] and "Traceback" in body["traceback"], body
    harness.poll(lambda: gw.call("/py-slow/ping", {"in": 1})[0] == 200, 30, "py-slow answering")
    status, body = gw.json("/py-slow/slow", {})
    assert status == 504 and "2" in body["error"], (status, body)  # the service's timeout: 2 s
    status, body = gw.json("/nope/process", {})
    assert status == 404 and "nope" in body["error"], (status, body)
    status, body = gw.json("/py/nope", {})
    assert status == 404 and "nope" in body["error"] and "py" in body["error"], (status, body)


def test_stats_count_calls(stack, gw):
    # 7 calls of py/count and 2 of py/count-fail (no other test calls them): the stats API shows
    # exactly that for node east, and the app's totals and latency quantiles include them.
    for i in range(7):
        assert gw.call("/py/count", {"in": i})[0] == 200
    for _ in range(2):
        assert gw.call("/py/count-fail", {})[0] == 500

    def counted():
        code, body = stack.api.get(stack.path("apps", "fn", "stats") + "?window=3600")
        assert code == 200, (code, body)
        c = {}
        for node in body["nodes"]:
            for svc in node["services"]:
                for fn in svc["functions"]:
                    c[(node["node"], svc["service"], fn["function"])] = fn
        done = c.get(("east", "py", "count"), {}).get("requests") == 7 and \
            c.get(("east", "py", "count-fail"), {}).get("requests") == 2
        return (body, c) if done else None

    body, c = harness.poll(counted, 30, "the calls of py/count and py/count-fail in the stats")
    count, fail = c[("east", "py", "count")], c[("east", "py", "count-fail")]
    assert count["success"] == 7 and count["serverErrors"] == 0, count
    assert fail["success"] == 0 and fail["serverErrors"] == 2, fail
    assert count["latencyMs"]["p50"] > 0 and count["latencyMs"]["p99"] >= \
        count["latencyMs"]["p50"], count
    assert body["total"]["requests"] >= 9, body


def test_container_app_calls_a_function_and_is_proxied(stack, gw):
    port = harness.free_port()
    code, app = stack.create_app(caller_app(port))
    assert code == 201, (code, app)
    wait_phase(stack, "caller", "east", "Running", app["version"])

    def answer():
        code, body = harness.http_get(port, "/fn.json")
        return json.loads(body) if code == 200 else None

    # From inside the container, through $FERRY_GATEWAY.
    body = harness.poll(answer, 30, "the caller's copy of py/process")
    assert body["out"] == 42, body
    # Through the gateway to the container app's first port, counted under "*".
    for _ in range(3):
        status, _, data = gw.call("/caller/index.html", method="GET", body=None)
        assert status == 200 and data.strip() == b"caller", (status, data)

    def proxied():
        code, body = stack.api.get(stack.path("apps", "caller", "stats") + "?window=3600")
        if code != 200:
            return None
        for node in body["nodes"]:
            for svc in node["services"]:
                for fn in svc["functions"]:
                    if svc["service"] == "caller" and fn["function"] == "*" and \
                            fn["requests"] >= 3:
                        return fn
        return None

    harness.poll(proxied, 30, "3 proxied calls of caller in its stats")


def test_unpublished_container_port_is_proxied(stack, gw):
    # No hostPort: the gateway reaches the service's first port on its pod's address.
    app = web_app("inner", "east", "inner-hello")
    code, body = stack.create_app(app)
    assert code == 201, (code, body)
    wait_phase(stack, "inner", "east", "Running", body["version"])

    def served():
        status, _, data = gw.call("/inner/", method="GET", body=None)
        return data if status == 200 else None

    data = harness.poll(served, 30, "inner's index through the gateway")
    assert data.strip() == b"inner-hello", data


def test_code_update_reaches_the_node_without_losing_calls(stack, gw):
    # Calls go on while the config changes; each is answered (old or new code), none fails:
    # quick ones back to back, and 1.5 s ones back to back, so that one is running when the old
    # runtime gets SIGTERM (it finishes what it started).
    results, slow, stop = [], [], threading.Event()

    def caller(path, out):
        while not stop.is_set():
            try:
                status, body = gw.json(path, {"in": 1})
                out.append((status, body.get("code") if isinstance(body, dict) else body))
            except OSError as e:
                out.append(("error", str(e)))

    threads = [threading.Thread(target=caller, args=("/py/process", results), daemon=True),
               threading.Thread(target=caller, args=("/py/pause", slow), daemon=True)]
    for th in threads:
        th.start()
    try:
        code, body = stack.api.put(stack.path("configs", "fn-code"),
                                   dict(CODE, data=dict(CODE["data"], **{"index.py": PY_V2})))
        assert code == 200, (code, body)
        harness.poll(lambda: any(r == (200, "v2") for r in results[-5:]), 90,
                     "py/process answering with the new code")
    finally:
        stop.set()
        for th in threads:
            th.join(30)
    failed = [r for r in results + slow if r[0] != 200]
    print(f"code update: {len(results)} quick and {len(slow)} 1.5 s calls during the update, "
          f"{len(failed)} failed")
    assert not failed, f"calls failed during the update: {failed[:5]}"
    assert (200, "v1") in results, "no call was answered by the old code"
