"""Trace of POST -> pod running -> status stored, step by step, from the debug logs of
broker-bridge and edge-sync (wall-clock ms stamps of one machine). Each run creates one app (one
httpd service, as bench_deploy.py), waits until the API shows it Running, reads the two logs, then
deletes the app and waits until its containers are gone, so that the node holds nothing else
while the next run is traced. Prints each run's timeline and the median offset of each step.

    python3 bench/trace_deploy.py --engine docker --build-dir build [--runs 5]
(needs the FERRY_TEST_* services of scripts/services.sh; FERRY_BENCH_RUNS or --runs.)"""
import argparse
import datetime
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402
from common import web_app  # noqa: E402

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z (\S+) (\w+) (\S+) (.*)$")
ENGINE = re.compile(r"engine: (GET|POST|DELETE) (\S+) -> (\d+) in (\d+) ms")
WORK = re.compile(r"(survey|pass of app (\S+)): waited (\d+) ms for a thread, ran (\d+) ms, "
                  r"done (\d+) ms later")


def stamp(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000


def read_log(path, since_ms):
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if m and stamp(m.group(1)) >= since_ms:
                out.append((stamp(m.group(1)), m.group(2), m.group(5)))
    return out


def engine_kind(method, path):
    if method == "GET" and path.startswith("/containers/json"):
        return "list" if "io.ferry.app" in path else "list (survey)"
    if method == "GET" and path.startswith("/containers/"):
        return "inspect"
    if method == "GET" and path.startswith("/images/"):
        return "image inspect"
    if path.startswith("/containers/create"):
        return "create"
    if path.endswith("/start"):
        return "start"
    return f"{method} {path.split('?')[0][:40]}"


def first(events, pred, after=0.0):
    for e in events:
        if e[0] >= after and pred(e[2]):
            return e[0]
    return None


def trace_one(stack, name, ns):
    t_wall = time.time() * 1000 - 5  # log stamps are ms: a little slack
    t0 = time.monotonic()
    t_running = harness.create_and_wait_running(stack, web_app(name, "east", "x"), 60) * 1000

    def visible():
        code, st = stack.api.get(stack.path("apps", name, "status"))
        return code == 200 and st["summary"]["running"] == 1
    harness.poll(visible, 60, f"{name} Running in the API", interval=0.01)
    t_visible = (time.monotonic() - t0) * 1000
    time.sleep(0.3)  # the last log lines
    bridge = read_log(stack.bridge.log_path, t_wall)
    edge = read_log(stack.nodes["east"].log_path, t_wall)

    steps = []
    post = first(bridge, lambda m: m.startswith(f"http: POST /v1/namespaces/{ns}/apps"))
    assert post is not None, "no POST in the bridge's log (debug level?)"

    def add(label, ts):
        if ts is not None:
            steps.append((ts - post, label))
    add("bridge: POST received", post)
    committed = first(bridge, lambda m: m.startswith(f"app {ns}/{name} created"), post)
    add("bridge: committed (app created)", committed)
    pub = first(bridge, lambda m: m.startswith("mqtt: published") and m.endswith(f"/apps/{name}"),
                post)
    add("bridge: outbox published", pub)
    add("bridge: PUBACK (outbox acknowledged)",
        first(bridge, lambda m: m.startswith("outbox: ") and "acknowledged" in m, pub or post))
    got = first(edge, lambda m: m.startswith("mqtt: handling") and f"/apps/{name} " in m, post)
    add("edge: message handled on the loop", got)
    stored = first(edge, lambda m: m.startswith(f"app {name}: stored version"), post)
    add("edge: store committed", stored)
    # The survey that follows the store, and the passes over this app.
    engine_ms, seen, durs = {}, {}, {}
    for ts, _, msg in edge:
        w = WORK.search(msg)
        if w and stored is not None and ts >= stored:
            waited, ran, later = (int(w.group(i)) for i in (3, 4, 5))
            end = ts - later
            what = "survey" if w.group(2) is None else f"pass {w.group(2)}"
            if w.group(2) is not None and w.group(2) != name:
                continue
            add(f"edge: {what} queued", end - ran - waited)
            add(f"edge: {what} start", end - ran)
            add(f"edge: {what} end", end)
            if what != "survey":
                break
        e = ENGINE.search(msg)
        if e and stored is not None and ts >= stored:
            kind = engine_kind(e.group(1), e.group(2))
            dur = int(e.group(4))
            seen[kind] = seen.get(kind, 0) + 1
            add(f"edge:   engine {kind} #{seen[kind]} ends (took {{}} ms)", ts)
            durs[f"edge:   engine {kind} #{seen[kind]} ends (took {{}} ms)"] = dur
            engine_ms[kind] = engine_ms.get(kind, 0) + dur
    add("edge: status published",
        first(edge, lambda m: m.startswith("mqtt: published") and m.endswith(f"/status/{name}"),
              post))
    add("bridge: status stored (Running)",
        first(bridge, lambda m: m.startswith("status of ") and f"/{name}/" in m + "/" and
              m.endswith("Running"), post))
    steps.sort()
    return steps, t_running, t_visible, engine_ms, durs


def main():
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--runs", type=int, default=int(os.environ.get("FERRY_BENCH_RUNS", "5")))
    opts, rest = p.parse_known_args()

    def bench(t):
        engine = "podman" if t.engine.is_podman() else "docker"
        stack = t.stack(nodes=["east"], log_level="debug")
        assert stack.register_node("east", {"region": "east"})[0] == 201
        # Warm up (the pause image import, the first pod), then remove it: the node is empty.
        assert stack.create_app(web_app("warmup", "east", "x"))[0] == 201
        harness.poll(lambda: len(stack.pods(app="warmup")) == 2, 60, "warm-up pod")
        assert stack.api.delete(stack.path("apps", "warmup"))[0] == 200
        harness.poll(lambda: not stack.pods(app="warmup"), 60, "warm-up removed")
        runs = []
        for i in range(opts.runs):
            name = f"trace{i}"
            steps, t_running, t_visible, engine_ms, durs = trace_one(stack, name, stack.ns)
            runs.append((steps, t_running, t_visible, engine_ms, durs))
            print(f"\n-- run {i} on {engine}: POST -> pod running {t_running:.0f} ms, -> Running "
                  f"in the API {t_visible:.0f} ms (client side)")
            prev = 0.0
            for off, label in steps:
                print(f"  {off:7.0f} ms  (+{off - prev:5.0f})  {label.format(durs.get(label))}")
                prev = off
            print("  engine time by call: " + ", ".join(f"{k} {v} ms" for k, v in
                                                        sorted(engine_ms.items())))
            assert stack.api.delete(stack.path("apps", name))[0] == 200
            harness.poll(lambda: not stack.pods(app=name), 60, f"{name} removed")
            time.sleep(1)
        # Medians of the steps every run has (by label, first occurrence).
        print(f"\n== median over {len(runs)} runs on {engine} (ms after the bridge received "
              f"the POST) ==")
        labels = []
        for off, label in runs[0][0]:
            if label not in labels:
                labels.append(label)
        for label in labels:
            offs = [next((o for o, lb in r[0] if lb == label), None) for r in runs]
            offs = [o for o in offs if o is not None]
            durs = [r[4][label] for r in runs if label in r[4]]
            if len(offs) == len(runs):
                print(f"  {statistics.median(offs):7.0f}  "
                      f"{label.format(statistics.median(durs) if durs else '')}")
        create_start = [sum(v for k, v in r[3].items() if k in ("create", "start")) for r in runs]
        other = [sum(v for k, v in r[3].items() if k not in ("create", "start")) for r in runs]
        print(f"client: POST -> pod running median {statistics.median(r[1] for r in runs):.0f} "
              f"ms, -> API Running {statistics.median(r[2] for r in runs):.0f} ms; engine create"
              f"+start inside the passes {statistics.median(create_start):.0f} ms, other engine "
              f"calls {statistics.median(other):.0f} ms")
        print(f"ferry's own share (POST -> running minus create+start): "
              f"{statistics.median(r[1] - c for r, c in zip(runs, create_start)):.0f} ms")

    harness.run(bench, rest)


if __name__ == "__main__":
    main()
