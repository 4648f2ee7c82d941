"""The python3 and Node.js function runtimes, run locally with the host's /usr/bin/python3 and node
on temp sockets (no container engine): results and their content types, JSON and raw events,
the context, errors, unknown functions, several functions of one service and sub folders,
concurrent calls, SIGTERM with a call in flight, and broken code refused at start (exit 1).

    /usr/bin/python3 -m pytest tests/runtimes/test_runtimes.py
"""
import json
import os
import signal
import threading
import time

import pytest

import rtutil
from rtutil import invoke, request

RUNTIMES = ["python3", "nodejs10"]

PY_CODE = {
    "index.py": '''\
import time


def echo(event, context):
    kind = "bytes" if isinstance(event, bytes) else type(event).__name__
    return {"event": event.decode("latin-1") if isinstance(event, bytes) else event,
            "kind": kind, "context": context}


def text(event, context):
    return "h\\u00e9llo text"


def binary(event, context):
    return bytes([0, 1, 255, 10])


def number(event, context):
    return 42


def nothing(event, context):
    return None


def fail(event, context):
    raise ValueError("bad input 7")


def exits(event, context):
    raise SystemExit(3)


def slow(event, context):
    print(f"slow start {context['invokeId']}", flush=True)
    time.sleep(event["s"])
    return "done " + context["invokeId"]


not_callable = 3
''',
    "sub/dir/main.py": '''\
import helper


def handler(event, context):
    return "sub:" + helper.WORD
''',
    "sub/dir/helper.py": 'WORD = "neighbour"\n',
}

JS_CODE = {
    "index.js": '''\
exports.echo = (event, context, callback) => {
  const kind = Buffer.isBuffer(event) ? 'bytes'
    : (event === null ? 'NoneType' : (Array.isArray(event) ? 'list' : typeof event));
  callback(null, { event: Buffer.isBuffer(event) ? event.toString('latin1') : event, kind,
                   context });
};
exports.text = (event, context, callback) => callback(null, 'h\\u00e9llo text');
exports.binary = async () => Buffer.from([0, 1, 255, 10]);
exports.number = (event, context, callback) => callback(null, 42);
exports.nothing = (event, context, callback) => callback(null);
exports.fail = () => { throw new RangeError('bad input 7'); };
exports.slow = (event, context, callback) => {
  console.log(`slow start ${context.invokeId}`);
  setTimeout(() => callback(null, 'done ' + context.invokeId), event.s * 1000);
};
exports.asyncv = async (event) => {
  await new Promise((r) => setTimeout(r, 20));
  return { a: event };
};
exports.promise = (event) => Promise.resolve('promised');
exports.syncv = (event) => ({ sync: true });
exports.rejects = async () => { throw new Error('rejected here'); };
exports.cberr = (event, context, callback) => callback(new TypeError('via callback'));
exports.cbstr = (event, context, callback) => callback('plain string error');
exports.late = (event, context, callback) => { setTimeout(() => { throw new Error('late'); }, 5); };
exports.not_callable = 3;
''',
    "sub/dir/main.js": '''\
const helper = require('./helper');
exports.handler = (event, context, callback) => callback(null, 'sub:' + helper.WORD);
''',
    "sub/dir/helper.js": "exports.WORD = 'neighbour';\n",
}

COMMON = ["echo", "text", "binary", "number", "nothing", "fail", "slow"]
NODE_ONLY = ["asyncv", "promise", "syncv", "rejects", "cberr", "cbstr", "late"]


def functions(runtime):
    names = COMMON + (NODE_ONLY if runtime == "nodejs10" else ["exits"])
    fns = [{"name": n, "handler": f"index.{n}"} for n in names]
    fns.append({"name": "sub", "handler": "main.handler", "codedir": "sub/dir"})
    return fns


def need(runtime):
    if runtime == "nodejs10" and not rtutil.NODE:
        pytest.skip("no node on this host")


@pytest.fixture(scope="module")
def code(tmp_path_factory):
    root = tmp_path_factory.mktemp("code")
    rtutil.write(root, PY_CODE)
    rtutil.write(root, JS_CODE)
    return root


@pytest.fixture(scope="module", params=RUNTIMES)
def rt(request, code, tmp_path_factory):
    """One running server of each runtime for the module (every function of functions())."""
    need(request.param)
    tmp = tmp_path_factory.mktemp(request.param)
    server = rtutil.Server(request.param, tmp, functions(request.param), code)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        print(f"--- {request.param} runtime output ---\n{server.output()}")


# ---- results and events --------------------------------------------------------------------------


def test_results_and_their_content_types(rt):
    r = invoke(rt.sock, "echo", {"a": [1, 2]})
    assert r.status == 200 and r.ctype == "application/json", r
    assert r.json()["event"] == {"a": [1, 2]}
    r = invoke(rt.sock, "text", {})
    assert (r.status, r.ctype) == (200, "text/plain; charset=utf-8"), r
    assert r.body == "h\u00e9llo text".encode(), r
    r = invoke(rt.sock, "binary", {})
    assert (r.status, r.ctype, r.body) == (200, "application/octet-stream", b"\0\1\xff\n"), r
    r = invoke(rt.sock, "number", {})
    assert (r.status, r.ctype, r.body) == (200, "application/json", b"42"), r
    r = invoke(rt.sock, "nothing", {})
    assert (r.status, r.ctype, r.body) == (200, "application/json", b"null"), r


def test_json_event_is_parsed_and_anything_else_is_raw_bytes(rt):
    for event, kind in (({"k": "v"}, "dict"), ([1, "x"], "list"), ("s", "str"), (None, "NoneType")):
        got = invoke(rt.sock, "echo", event).json()
        expected = {"dict": "object", "str": "string"}.get(kind, kind) \
            if rt.runtime == "nodejs10" else kind
        assert (got["event"], got["kind"]) == (event, expected), got
    raw = b"not json \xff\x00 {"
    got = invoke(rt.sock, "echo", raw=raw).json()
    assert got["kind"] == "bytes" and got["event"] == raw.decode("latin-1"), got
    got = invoke(rt.sock, "echo", raw=b"").json()  # an empty body is no JSON either
    assert (got["kind"], got["event"]) == ("bytes", ""), got


def test_context_names_function_service_and_invocation(rt):
    r = invoke(rt.sock, "echo", {}, headers={"X-Ferry-Invoke-Id": "inv-123"})
    ctx = r.json()["context"]
    assert ctx["functionName"] == "echo" and ctx["serviceName"] == "svc", ctx
    assert ctx["invokeId"] == "inv-123" and ctx["functionInvokeID"] == "inv-123", ctx
    assert r.headers.get("x-ferry-invoke-id") == "inv-123", r.headers
    # without the header the runtime makes one up, a new one per call
    ids = {invoke(rt.sock, "echo", {}).json()["context"]["invokeId"] for _ in range(3)}
    assert len(ids) == 3 and all(ids), ids


def test_raising_handler_answers_500_with_message_and_traceback(rt):
    r = invoke(rt.sock, "fail", {"x": 1})
    assert r.status == 500, r
    body = r.json()
    err = "ValueError: bad input 7" if rt.runtime == "python3" else "RangeError: bad input 7"
    assert body["error"] == err and body["function"] == "fail", body
    trace = body["traceback" if rt.runtime == "python3" else "stack"]
    assert "index." in trace and "bad input 7" in trace, trace
    assert "ferry_runtime" not in trace, f"the runtime's own frames leak: {trace}"
    rt.wait_output("bad input 7")  # and the same on stderr, for the container log
    assert ("Traceback" if rt.runtime == "python3" else "at exports.fail") in rt.output()
    assert invoke(rt.sock, "echo", 1).status == 200  # the runtime goes on


def test_python_handler_calling_sys_exit_fails_its_call_only(rt):
    if rt.runtime != "python3":
        pytest.skip("python3 only")
    r = invoke(rt.sock, "exits", {})
    assert r.status == 500 and r.json()["error"] == "SystemExit: 3", r
    assert invoke(rt.sock, "echo", 1).status == 200


def test_unknown_function_is_404_and_healthz_lists_the_functions(rt):
    r = invoke(rt.sock, "nope", {})
    assert r.status == 404 and r.json() == {"error": "no function 'nope' in service 'svc'"}, r
    r = request(rt.sock, "GET", "/healthz")
    assert r.status == 200, r
    h = r.json()
    assert h["ok"] is True and h["runtime"] == rt.runtime, h
    assert sorted(h["functions"]) == sorted(f["name"] for f in functions(rt.runtime)), h


def test_two_functions_of_one_service_and_a_codedir_subfolder(rt):
    assert invoke(rt.sock, "text", {}).body == "h\u00e9llo text".encode()
    r = invoke(rt.sock, "sub", {})
    assert (r.status, r.body) == (200, b"sub:neighbour"), r


def test_keep_alive_connection_serves_several_calls(rt):
    conn = rtutil.UnixHTTPConnection(rt.sock)
    try:
        for i in range(3):
            conn.request("POST", "/echo", body=json.dumps(i))
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read())["event"] == i
    finally:
        conn.close()


def test_concurrent_slow_calls_overlap(rt):
    n, each = 4, 1.0
    results = [None] * n

    def call(i):
        results[i] = invoke(rt.sock, "slow", {"s": each}, headers={"X-Ferry-Invoke-Id": f"c{i}"})

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    start = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    took = time.monotonic() - start
    assert [r.body for r in results] == [f"done c{i}".encode() for i in range(n)], results
    assert took < each * 2, f"{n} calls of {each}s took {took:.2f}s: not served concurrently"


# ---- Node.js: the ways a handler answers ---------------------------------------------------------


def test_node_callback_async_promise_and_sync_value(rt):
    if rt.runtime != "nodejs10":
        pytest.skip("Node.js only")
    assert invoke(rt.sock, "asyncv", [7]).json() == {"a": [7]}
    assert invoke(rt.sock, "promise", {}).body == b"promised"
    assert invoke(rt.sock, "syncv", {}).json() == {"sync": True}
    r = invoke(rt.sock, "binary", {})  # an async handler returning a Buffer
    assert (r.ctype, r.body) == ("application/octet-stream", b"\0\1\xff\n"), r


def test_node_errors_by_callback_rejection_and_late_throw(rt):
    if rt.runtime != "nodejs10":
        pytest.skip("Node.js only")
    for fn, err, stack in (("rejects", "Error: rejected here", True),
                           ("cberr", "TypeError: via callback", True),
                           ("cbstr", "plain string error", False),
                           ("late", "Error: late", True)):
        r = invoke(rt.sock, fn, {})
        assert r.status == 500, (fn, r)
        body = r.json()
        assert body["error"] == err and body["function"] == fn, body
        assert ("index.js" in body["stack"]) == stack, body
    assert invoke(rt.sock, "echo", 1).status == 200  # a late throw does not end the runtime


# ---- SIGTERM -------------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_sigterm_lets_the_call_in_flight_finish(runtime, code, tmp_path):
    need(runtime)
    server = rtutil.Server(runtime, tmp_path, functions(runtime), code)
    try:
        server.wait_ready()
        result = {}
        th = threading.Thread(target=lambda: result.update(
            r=invoke(server.sock, "slow", {"s": 1.5}, headers={"X-Ferry-Invoke-Id": "inflight"})))
        th.start()
        server.wait_output("slow start inflight")
        server.proc.send_signal(signal.SIGTERM)
        # it stops accepting: the socket goes away while the call still runs
        rtutil.poll(lambda: not os.path.exists(server.sock), 5, "the socket removed")
        assert server.proc.poll() is None, "exited with a call in flight"
        th.join(20)
        assert result["r"].status == 200 and result["r"].body == b"done inflight", result
        assert server.wait_exit(20) == 0, server.output()
        assert "all answered" in server.output(), server.output()
    finally:
        server.stop()


# ---- broken code: refused at start ---------------------------------------------------------------

BROKEN = {
    "python3": {
        "syntax.py": "def handler(event, context):\n    return 1\n\nx = = 2\n",
        "nofn.py": "def other(event, context):\n    return 1\n",
        "raises.py": "import no_such_module_here\n",
        "ok.py": "def handler(event, context):\n    return 1\nvalue = 3\n",
    },
    "nodejs10": {
        "syntax.js": "exports.handler = () => 1;\n\nconst x = = 2;\n",
        "nofn.js": "exports.other = () => 1;\n",
        "raises.js": "require('no_such_module_here');\n",
        "ok.js": "exports.handler = () => 1;\nexports.value = 3;\n",
    },
}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_broken_code_exits_1_with_one_line_per_problem(runtime, tmp_path):
    need(runtime)
    ext = ".py" if runtime == "python3" else ".js"
    rtutil.write(tmp_path / "code", BROKEN[runtime])
    fns = [{"name": "syn", "handler": "syntax.handler"},
           {"name": "missing", "handler": "nofn.handler"},
           {"name": "imp", "handler": "raises.handler"},
           {"name": "nofile", "handler": "absent.handler"},
           {"name": "notfn", "handler": "ok.value"},
           {"name": "fine", "handler": "ok.handler"}]
    server = rtutil.Server(runtime, tmp_path, fns, tmp_path / "code")
    try:
        assert server.wait_exit(20) == 1, server.output()
    finally:
        server.stop()
    out = server.output()
    print(out)
    lines = [ln for ln in out.splitlines() if ln.startswith("ferry-runtime: function ")]
    assert f"ferry-runtime: function 'syn': syntax{ext}: SyntaxError: " in out, out
    line = "(line 4)" if runtime == "python3" else "(line 3)"  # where the '= =' is
    assert any(ln.startswith("ferry-runtime: function 'syn'") and ln.endswith(line)
               for ln in lines), lines
    assert f"ferry-runtime: function 'missing': nofn{ext}: no function 'handler'" in out, out
    assert f"ferry-runtime: function 'imp': raises{ext}: " in out and \
        "no_such_module_here" in out, out
    assert f"ferry-runtime: function 'nofile': absent{ext}: no such file" in out, out
    assert f"ferry-runtime: function 'notfn': ok{ext}: 'value' is not a function" in out, out
    assert "function 'fine'" not in out, out
    assert not os.path.exists(server.sock), "a socket although the code is broken"


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("fns, message", [
    ([{"name": "a", "handler": "ok.handler"}, {"name": "a", "handler": "ok.handler"}],
     "function 'a': the name is used twice"),
    ([{"name": "a", "handler": "ok.handler", "codedir": "../x"}], "function 'a': bad codedir"),
    ([{"name": "a", "handler": "ok.handler", "codedir": "/etc"}], "function 'a': bad codedir"),
    ([{"name": "a", "handler": "nodot"}], "function 'a': bad handler"),
    ([], "FERRY_FUNCTIONS must be a non-empty JSON array"),
])
def test_bad_function_list_exits_1(runtime, fns, message, tmp_path):
    need(runtime)
    rtutil.write(tmp_path / "code", BROKEN[runtime])
    server = rtutil.Server(runtime, tmp_path, fns, tmp_path / "code")
    try:
        assert server.wait_exit(20) == 1, server.output()
    finally:
        server.stop()
    assert f"ferry-runtime: {message}" in server.output(), server.output()
