"""Benchmark: function apps, side by side with baselines measured in the same run on the same
engine. Prints figures; asserts nothing about speed.

1. Gateway overhead: calls/s, p50 and p99 of an echo function (python3) and of a sql function,
   called through the node gateway (POST http://127.0.0.1:{gateway}/{service}/{function}) and
   directly on the runtime container's unix socket (POST /{function} on
   {node data}/pods/{ns}/{app}/0/ferry-run-{i}/runtime.sock), by the same C client
   (bench_http), with 1 connection (latency) and with 8 (throughput).
   Goals: the gateway adds < 0.2 ms p50 and keeps >= 90 % of the direct calls/s.
2. POST of a function app -> first successful call through the gateway, beside a raw engine
   create+start of the same containers (infra + python3 runtime, the code and socket folders
   bind-mounted, the same env) until the runtime's socket answers /healthz.
3. The sql runtime in process: bench_sql's lines.

    python3 bench/bench_functions.py --engine docker --build-dir build
(needs the FERRY_TEST_* services of scripts/services.sh and the runtime images of
scripts/images.sh; bench/run.sh sets them up.) FERRY_BENCH_RUNS (5) runs per deploy figure,
FERRY_BENCH_SECONDS (5) seconds per load figure."""
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402

RUNS = int(os.environ.get("FERRY_BENCH_RUNS", "5"))
SECONDS = float(os.environ.get("FERRY_BENCH_SECONDS", "5"))
CONNS = (1, 8)

ECHO = "def echo(event, context):\n    return event\n"
SQL = "select name as result where uid > 6"
EVENT = '{"uid": 7, "name": "ferry", "temp": 21.5}'
CODE = {"name": "bench-code", "kind": "config", "data": {"index.py": ECHO, "filter.sql": SQL}}
PY_IMAGE = "ferry/runtime-python3:1"


def fmt(xs):
    return (f"median {statistics.median(xs) * 1000:7.1f} ms  min {min(xs) * 1000:7.1f}  "
            f"max {max(xs) * 1000:7.1f}  (n={len(xs)})")


def fn_app(name, services):
    """A function app of services [(service name, runtime, function, handler)]."""
    return {"name": name, "type": "function", "description": "bench",
            "selector": {"matchLabels": {"region": "east"}},
            "services": [{"name": svc, "runtime": runtime, "functionConfig": CODE["name"],
                          "functions": [{"name": fn, "handler": handler}]}
                         for svc, runtime, fn, handler in services]}


def call(conn, method, path, body=None):
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    except OSError:
        return None, b""
    finally:
        conn.close()


def gateway_call(port, path, timeout=5.0):
    return call(http.client.HTTPConnection("127.0.0.1", port, timeout=timeout), "POST", path,
                EVENT.encode())


def short_path(path, tmp):
    """path, or a symlink to it in tmp when it is too long for sun_path (108 bytes)."""
    if len(path.encode()) < 100:
        return path
    link = os.path.join(tmp, f"sock{abs(hash(path)) % 100000}")
    if not os.path.islink(link):
        os.symlink(path, link)
    return link


def cpu_s(pid):
    """User+system CPU seconds of process pid so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(t, target, path, conns, node=None):
    """One bench_http figure: {calls_per_s, p50_ms, p99_ms, ...}; with node (a Daemon), also
    its CPU per answer in node_cpu_us (edge-sync: the gateway's own cost, when called through
    it)."""
    before = cpu_s(node.pid) if node is not None else 0
    argv = [os.path.join(t.build_dir, "bench", "bench_http"), *target, "--path", path,
            "--body", EVENT, "--conns", str(conns), "--seconds", str(SECONDS)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=SECONDS + 60)
    if out.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {out.returncode}: {out.stdout}{out.stderr}")
    fig = json.loads(out.stdout)
    if node is not None:
        fig["node_cpu_us"] = (cpu_s(node.pid) - before) * 1e6 / max(fig["answered"], 1)
    return fig


def gateway_overhead(t, stack):
    """[(runtime, conns, direct figure, gateway figure)] for the python3 echo and sql filter."""
    services = [("echo", "python3", "echo", "index.echo"), ("sqlf", "sql", "filter", "filter.sql")]
    code, app = stack.create_app(fn_app("fnload", services))
    assert code == 201, app
    port = stack.gateway_ports["east"]
    rows = []
    for i, (svc, runtime, fn, _) in enumerate(services):
        harness.poll(lambda: gateway_call(port, f"/{svc}/{fn}")[0] == 200, 60,
                     f"{svc}/{fn} answering on the gateway", interval=0.05)
        sock = os.path.join(stack.node_data("east"), "pods", stack.ns, "fnload", "0",
                            f"ferry-run-{i}", "runtime.sock")
        sock = short_path(sock, t.tmp)
        for conns in CONNS:
            node = stack.nodes["east"]
            direct = load(t, ["--unix", sock], f"/{fn}", conns, node)
            gateway = load(t, ["--tcp", f"127.0.0.1:{port}"], f"/{svc}/{fn}", conns, node)
            rows.append((runtime, conns, direct, gateway))
    assert stack.api.delete(stack.path("apps", "fnload"))[0] == 200
    harness.poll(lambda: not stack.pods(app="fnload"), 60, "fnload removed")
    return rows, app


def runtime_env(t, stack, app):
    """The env of the python3 runtime container Ferry made for app (to run the same by hand)."""
    for c in stack.pods(app=app):
        if c["Labels"].get("io.ferry.runtime") == "python3":
            return t.engine.inspect(c["Id"])["Config"]["Env"]
    raise AssertionError(f"no {PY_IMAGE} container of {app}: {stack.pods(app=app)}")


def healthz(sock):
    try:
        return call(harness.UnixHTTPConnection(sock, 0.5), "GET", "/healthz")[0] == 200
    except OSError:
        return False


def raw_first_call(t, env):
    """Baseline: the infra container and the python3 runtime created and started on the engine
    directly (code and socket folders bind-mounted, Ferry's env), until /healthz answers."""
    times = []
    for i in range(RUNS):
        label = {"io.ferry.bench": f"fnraw-{os.getpid()}-{i}"}
        base = tempfile.mkdtemp(prefix=f"fnraw{i}-", dir=t.tmp)
        code_dir, run_dir = os.path.join(base, "code"), os.path.join(base, "run")
        os.makedirs(code_dir)
        os.makedirs(run_dir)
        os.chmod(run_dir, 0o777)
        with open(os.path.join(code_dir, "index.py"), "w") as f:
            f.write(ECHO)
        sock = short_path(os.path.join(run_dir, "runtime.sock"), t.tmp)
        t0 = time.monotonic()
        code, infra = t.engine.request("POST", "/containers/create",
                                       {"Image": "ferry/pause:1", "Cmd": ["/pause"],
                                        "Labels": label})
        assert code == 201, infra
        t.engine.request("POST", f"/containers/{infra['Id']}/start")
        code, svc = t.engine.request(
            "POST", "/containers/create",
            {"Image": PY_IMAGE, "Labels": label, "Env": env,
             "HostConfig": {"NetworkMode": f"container:{infra['Id']}",
                            "Binds": [f"{code_dir}:/ferry/code:ro", f"{run_dir}:/ferry/run"]}})
        assert code == 201, svc
        code, body = t.engine.request("POST", f"/containers/{svc['Id']}/start")
        assert code in (204, 304), body
        harness.poll(lambda: healthz(sock), 60, "the raw runtime's /healthz", interval=0.01)
        times.append(time.monotonic() - t0)
        t.engine.remove_labelled(label)
    return times


def ferry_first_call(t, stack):
    """POST of a function app (one python3 echo service) -> first 200 through the gateway.
    Service names differ per run: two apps on a node may not share one."""
    times = []
    port = stack.gateway_ports["east"]
    for i in range(RUNS):
        name, svc = f"fnfirst{i}", f"first{i}"
        t0 = time.monotonic()
        code, app = stack.create_app(fn_app(name, [(svc, "python3", "echo", "index.echo")]))
        assert code == 201, app
        harness.poll(lambda: gateway_call(port, f"/{svc}/echo")[0] == 200, 60,
                     f"{svc}/echo answering", interval=0.01)
        times.append(time.monotonic() - t0)
        assert stack.api.delete(stack.path("apps", name))[0] == 200
        harness.poll(lambda: not stack.pods(app=name), 60, f"{name} removed")
    return times


def sql_in_process(t):
    out = subprocess.run([os.path.join(t.build_dir, "bench", "bench_sql")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.strip().splitlines()


def bench(t):
    engine = "podman" if t.engine.is_podman() else "docker"
    # Not debug: the node's log is not what is measured.
    stack = t.stack(nodes=["east"], log_level="info")
    assert stack.register_node("east", {"region": "east"})[0] == 201
    code, body = stack.api.post(stack.path("configs"), CODE)
    assert code == 201, body
    # Warm-up: a first function app (pause image import, first pod) that is not measured.
    code, app = stack.create_app(fn_app("fnwarm", [("warm", "python3", "echo", "index.echo")]))
    assert code == 201, app
    harness.poll(lambda: gateway_call(stack.gateway_ports["east"], "/warm/echo")[0] == 200, 120,
                 "warm/echo answering", interval=0.05)
    env = runtime_env(t, stack, "fnwarm")
    assert stack.api.delete(stack.path("apps", "fnwarm"))[0] == 200
    harness.poll(lambda: not stack.pods(app="fnwarm"), 60, "fnwarm removed")

    rows, _ = gateway_overhead(t, stack)
    raw = raw_first_call(t, env)
    first = ferry_first_call(t, stack)
    sql = sql_in_process(t)

    print(f"\n== Function gateway overhead on {engine} (bench_http, {SECONDS:g} s per figure, "
          f"event {len(EVENT)} bytes) ==")
    print(f"{'runtime':8} {'conns':>5}  {'direct calls/s':>14} {'p50 ms':>7} {'p99 ms':>7}  "
          f"{'gateway calls/s':>15} {'p50 ms':>7} {'p99 ms':>7}  {'+p50 ms':>7} {'kept':>5}  "
          f"{'gw cpu us':>9} {'client us':>9}")
    summary = {"engine": engine, "load": []}
    for runtime, conns, d, g in rows:
        added = g["p50_ms"] - d["p50_ms"]
        kept = g["calls_per_s"] / d["calls_per_s"] * 100 if d["calls_per_s"] else 0
        print(f"{runtime:8} {conns:5}  {d['calls_per_s']:14.0f} {d['p50_ms']:7.3f} "
              f"{d['p99_ms']:7.3f}  {g['calls_per_s']:15.0f} {g['p50_ms']:7.3f} "
              f"{g['p99_ms']:7.3f}  {added:+7.3f} {kept:4.0f}%  "
              f"{g['node_cpu_us'] - d['node_cpu_us']:9.1f} {g['client_cpu_us']:9.1f}")
        for k, fig in (("direct", d), ("gateway", g)):
            if fig["errors"] or fig["reconnects"]:
                print(f"         {k}: {fig['errors']} non-2xx answers, "
                      f"{fig['reconnects']} reconnects")
        summary["load"].append({"runtime": runtime, "conns": conns, "direct": d, "gateway": g})
    print("goals: the gateway adds < 0.2 ms p50 and keeps >= 90 % of the direct calls/s")
    print("gw cpu us: edge-sync's CPU per call through the gateway (minus its CPU per direct "
          "call);\nclient us: bench_http's CPU per call through the gateway. Client, gateway and "
          f"runtime share this machine's {os.cpu_count()} cores.")
    print(f"\n== Function app deploy on {engine} (this machine, same run) ==")
    print(f"baseline  raw engine create+start (infra+python3) -> /healthz  {fmt(raw)}")
    print(f"ferry     POST function app -> first 200 via the gateway       {fmt(first)}")
    print("\n== sql runtime in process (bench_sql) ==")
    for line in sql:
        print(line)
    summary.update({"raw_first_call_ms": statistics.median(raw) * 1000,
                    "post_to_first_call_ms": statistics.median(first) * 1000})
    print(json.dumps(summary))


harness.run(bench)
