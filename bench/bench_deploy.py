"""Benchmark: time from POST to pod running to status visible in the API (also while another app's
removal waits out the engine's stop timeout), side by side with
baselines measured in the same run on the same engine and broker (a raw engine create+start of
the same containers, an MQTT QoS 1 round trip); and the bytes of a one-env-value delta against the
whole app (ten services). Prints figures; asserts nothing about speed.

    python3 bench/bench_deploy.py --engine docker --build-dir build [--runs 5]
(needs the FERRY_TEST_* services of scripts/services.sh; bench/run.sh starts them.)"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402
from common import IMAGE, SERVE, web_app  # noqa: E402

RUNS = int(os.environ.get("FERRY_BENCH_RUNS", "5"))


def fmt(xs):
    return (f"median {statistics.median(xs) * 1000:7.1f} ms  min {min(xs) * 1000:7.1f}  "
            f"max {max(xs) * 1000:7.1f}  (n={len(xs)})")


def raw_engine(t):
    """Baseline: create+start of an infra container and the httpd container joined to it."""
    times = []
    for i in range(RUNS):
        label = {"io.ferry.bench": f"raw-{os.getpid()}-{i}"}
        t0 = time.monotonic()
        code, infra = t.engine.request("POST", f"/containers/create?name=bench-raw-{os.getpid()}-{i}",
                                       {"Image": "ferry/pause:1", "Cmd": ["/pause"],
                                        "Labels": label})
        assert code == 201, infra
        t.engine.request("POST", f"/containers/{infra['Id']}/start")
        code, svc = t.engine.request("POST", "/containers/create",
                                     {"Image": IMAGE, "Entrypoint": SERVE[:1], "Cmd": SERVE[1:],
                                      "Labels": label, "Env": ["GREETING=x"],
                                      "HostConfig": {"NetworkMode": f"container:{infra['Id']}"}})
        assert code == 201, svc
        code, body = t.engine.request("POST", f"/containers/{svc['Id']}/start")
        assert code in (204, 304), body
        times.append(time.monotonic() - t0)
        t.engine.remove_labelled(label)
    return times


def serves(port):
    """One probe of http://127.0.0.1:port/."""
    try:
        return harness.http_get(port, timeout=0.1)[0] == 200
    except OSError:
        return False


def served_after(start, port, running):
    """start() (which starts the pod), then the seconds from its start to the first HTTP answer
    on port. The probes begin once running() says both containers run, for Ferry and the
    baseline alike: a SYN that reaches Docker while it publishes the port is dropped, and the
    client's retransmission (after 1 s) would measure the kernel's timer, not the deployment."""
    t0 = time.monotonic()
    start()
    harness.poll(running, 60, "the pod running", interval=0.01)
    harness.poll(lambda: serves(port), 60, f"HTTP on :{port}", interval=0.01)
    return time.monotonic() - t0


def labelled_running(t, label):
    def running():
        pods = t.engine.containers(label)
        return len(pods) == 2 and all(c["State"] == "running" for c in pods)
    return running


def raw_served(t):
    """Baseline: the same infra+httpd pair made on the engine directly, publishing a host port,
    until it answers HTTP (measured as slow_neighbour measures Ferry's)."""
    times = []
    for i in range(RUNS):
        label = {"io.ferry.bench": f"served-{os.getpid()}-{i}"}
        port = harness.free_port()

        def start():
            code, infra = t.engine.request(
                "POST", "/containers/create",
                {"Image": "ferry/pause:1", "Cmd": ["/pause"], "Labels": label,
                 "ExposedPorts": {"8080/tcp": {}},
                 "HostConfig": {"PortBindings": {"8080/tcp": [{"HostIp": "",
                                                                 "HostPort": str(port)}]}}})
            assert code == 201, infra
            t.engine.request("POST", f"/containers/{infra['Id']}/start")
            code, svc = t.engine.request(
                "POST", "/containers/create",
                {"Image": IMAGE, "Entrypoint": SERVE[:1], "Cmd": SERVE[1:], "Labels": label,
                 "Env": ["GREETING=x"],
                 "HostConfig": {"NetworkMode": f"container:{infra['Id']}"}})
            assert code == 201, svc
            t.engine.request("POST", f"/containers/{svc['Id']}/start")
        times.append(served_after(start, port, labelled_running(t, label)))
        t.engine.remove_labelled(label)
    return times


def mqtt_round_trip(t):
    """Baseline: one QoS 1 publish seen by a subscriber (mosquitto_pub process start included)."""
    times = []
    topic = f"ferry-bench/{os.getpid()}/rtt"
    with harness.MqttCapture(t.mqtt_port, topic) as cap:
        for i in range(RUNS):
            t0 = time.monotonic()
            harness.mqtt_publish(t.mqtt_port, topic, f"{i}".encode())
            cap.wait_for(lambda tp, p, r, i=i: p == f"{i}".encode(), 10, "round trip")
            times.append(time.monotonic() - t0)
    return times


def ferry_deploy(t, stack):
    """POST -> every container running on the engine -> status Running visible in the API."""
    to_running, to_status = [], []
    for i in range(RUNS):
        name = f"bench{i}"
        t0 = time.monotonic()
        code, app = stack.create_app(web_app(name, "east", "x"))
        assert code == 201, app

        def running():
            pods = stack.pods(app=name)
            return len(pods) == 2 and all(c["State"] == "running" for c in pods)
        harness.poll(running, 60, f"{name} running", interval=0.01)
        t1 = time.monotonic()

        def visible():
            code, st = stack.api.get(stack.path("apps", name, "status"))
            return code == 200 and st["summary"]["running"] == 1
        harness.poll(visible, 60, f"{name} Running in the API", interval=0.01)
        t2 = time.monotonic()
        to_running.append(t1 - t0)
        to_status.append(t2 - t0)
    return to_running, to_status


def slow_neighbour(t, stack):
    """POST -> HTTP served, for an app created alone, and while another app's removal waits out
    the engine's stop timeout (its container ignores SIGTERM): the node reconciles apps side by
    side. Measured like raw_served."""
    alone, beside = [], []
    for i in range(RUNS):
        port = harness.free_port()
        solo = {"io.ferry.managed": "1", "io.ferry.namespace": stack.ns, "io.ferry.app": f"solo{i}"}
        alone.append(served_after(
            lambda: stack.create_app(web_app(f"solo{i}", "east", "s", host_port=port)), port,
            labelled_running(t, solo)))
        slow, quick, port = f"stubborn{i}", f"quick{i}", harness.free_port()
        spec = web_app(slow, "east", "x")
        spec["services"][0]["command"] = ["sleep", "3600"]  # PID 1 ignores SIGTERM
        spec["services"][0].pop("ports", None)
        assert stack.create_app(spec)[0] == 201
        harness.poll(lambda: len(stack.pods(app=slow)) == 2, 60, f"{slow} running")
        assert stack.api.delete(stack.path("apps", slow))[0] == 200
        marker = f"removing container ferry.east.{stack.ns}.{slow}."
        harness.poll(lambda: marker in stack.nodes["east"].log_text(), 30, f"{slow} removal")
        mine = {"io.ferry.managed": "1", "io.ferry.namespace": stack.ns, "io.ferry.app": quick}
        beside.append(served_after(
            lambda: stack.create_app(web_app(quick, "east", "q", host_port=port)), port,
            labelled_running(t, mine)))
        assert stack.pods(app=slow), f"{slow} was gone before {quick} served"
        harness.poll(lambda: not stack.pods(app=slow), 60, f"{slow} removed")
    return alone, beside


def delta_ratio(t):
    """Bytes on the wire for one env value changed in an app of ten services, as the bridge
    published them (captured from the broker), against the whole app."""
    stack = t.stack(nodes=[])
    app = web_app("big", "east", "x", services=10)
    for i, svc in enumerate(app["services"]):
        svc["env"] += [{"name": f"VAR_{k}", "value": f"value-{i}-{k}"} for k in range(4)]
    cap = t.capture(f"ferry/{stack.ns}/labels/+/apps/big")
    code, stored = stack.create_app(app)
    assert code == 201, stored
    stored["services"][5]["env"][2]["value"] = "changed"
    code, body = stack.api.put(stack.path("apps", "big"), stored)
    assert code == 200, body
    cap.wait_for(lambda tp, p, r: len(cap.snapshot()) >= 2, 20, "put and patch captured")
    kinds = harness.ferryctl_decode(t.build_dir, cap.snapshot())
    sizes = {obj["type"]: len(m[1]) for m, (_, obj) in zip(cap.snapshot(), kinds)}
    return sizes["app.put"], sizes["app.patch"]


def bench(t):
    engine = "podman" if t.engine.is_podman() else "docker"
    stack = t.stack(nodes=["east"])
    assert stack.register_node("east", {"region": "east"})[0] == 201
    # Warm up: the pause image import and the first pod are not what is measured.
    code, _ = stack.create_app(web_app("warmup", "east", "x"))
    harness.poll(lambda: len(stack.pods(app="warmup")) == 2, 60, "warm-up pod")

    raw = raw_engine(t)
    raw_http = raw_served(t)
    rtt = mqtt_round_trip(t)
    to_running, to_status = ferry_deploy(t, stack)
    alone, beside_slow = slow_neighbour(t, stack)
    full, delta = delta_ratio(t)
    print(f"\n== Ferry deploy latency on {engine} (this machine, same run) ==")
    print(f"baseline  raw engine create+start (infra+httpd) {fmt(raw)}")
    print(f"baseline  MQTT QoS1 publish->receive (+process) {fmt(rtt)}")
    print(f"ferry     POST -> pod running on the engine     {fmt(to_running)}")
    print(f"ferry     POST -> status Running in the API     {fmt(to_status)}")
    print(f"baseline  raw engine create+start -> HTTP served {fmt(raw_http)}")
    print(f"ferry     POST -> HTTP served                    {fmt(alone)}")
    print(f"ferry     POST -> HTTP served, beside a removal  {fmt(beside_slow)}")
    print("          that waits out the 10 s stop timeout (goal: raw served + 0.5 s)")
    print(f"\n== Delta vs full (one env value of one service, app of 10 services) ==")
    print(f"app.put {full} bytes, app.patch {delta} bytes: ratio {full / delta:.1f}x "
          f"({delta * 100 / full:.1f}% of the full app)")
    print(json.dumps({"engine": engine, "raw_ms": statistics.median(raw) * 1000,
                      "mqtt_rtt_ms": statistics.median(rtt) * 1000,
                      "post_to_running_ms": statistics.median(to_running) * 1000,
                      "post_to_status_ms": statistics.median(to_status) * 1000,
                      "raw_served_ms": statistics.median(raw_http) * 1000,
                      "post_to_served_ms": statistics.median(alone) * 1000,
                      "post_to_served_beside_slow_removal_ms":
                          statistics.median(beside_slow) * 1000,
                      "full_bytes": full, "delta_bytes": delta}))


harness.run(bench)
