"""End to end: a daemonset runs one pod whatever its replicas; hostNetwork puts the pod on the
host's network; cpu, memory and privileged reach the engine; a UDP port is published and
answers; two apps with a service of the same name: the later one fails on the node naming the
other, the first keeps running; an app with GPU limits fails on a node without --gpu-sharing;
an app scheduled for later is reported Scheduled, runs nothing, and is deployed at its time; an
image from a private registry fails to pull without the app's registry credentials and runs
with them. The tests share one stack (node east); each deploys apps of its own."""
import datetime
import os
import re
import socket
import subprocess
import urllib.parse

import pytest

import harness
from node_util import (IDLE, app, cname, created_ok, ensure_udpecho_image, inspect, service,
                       wait_phase_msg, wait_status)


@pytest.fixture(scope="module")
def stack(t):
    # Secure: the registry credentials reach the node sealed to it (docs/security.md).
    stack = t.stack(nodes=["east"], secure=True)
    code, body = stack.register_node("east", {"region": "east"})
    assert code == 201, f"register: {code} {body}"
    return stack


def running(stack, name, node="east", version=None):
    return wait_status(stack, name, node,
                       lambda s: s.get("phase") == "Running"
                       and (version is None or s.get("version") == version),
                       f"{name} Running on {node}")


def engine_time(text):
    """An engine's RFC 3339 time (nanoseconds allowed) as an aware datetime."""
    return datetime.datetime.fromisoformat(re.sub(r"\.\d+", "", text).replace("Z", "+00:00"))


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_echo(port, payload):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(payload, ("127.0.0.1", port))
        try:
            return s.recvfrom(2048)[0]
        except OSError:
            return None


@pytest.fixture(scope="module")
def later(stack):
    """App later, created for 12 s ahead by the first test that needs it (the first of the file):
    its clock runs while the tests between run. Returns (at, at as text)."""
    at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + \
        datetime.timedelta(seconds=12)
    at_text = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    spec = app("later", "east", [service("later", IDLE)], deploy={"at": at_text})
    created_ok(*stack.create_app(spec), "create later")
    return at, at_text


def test_scheduled_app_is_reported_scheduled_and_runs_nothing(stack, later):
    _, at_text = later
    wait_phase_msg(stack, "later", "east", "Scheduled", f"deploys at {at_text}")
    assert stack.pods(node="east", app="later") == [], "nothing runs before the time"


def test_daemonset_and_limits(t, stack):
    spec = app("ds", "east",
               [service("limited", IDLE, resources={"limits": {"cpu": "0.5", "memory": "64Mi"}})],
               workload="daemonset", replicas=3)
    created_ok(*stack.create_app(spec), "create ds")
    running(stack, "ds")
    pods = stack.pods(node="east", app="ds")
    assert len(pods) == 2, f"a daemonset is one pod: {[c['Names'] for c in pods]}"
    info = inspect(t, cname(stack, "east", "ds", "limited"))
    host = info["HostConfig"]
    assert host["NanoCpus"] == 500_000_000, host.get("NanoCpus")
    assert host["Memory"] == 64 * 1024 * 1024, host.get("Memory")
    assert not host.get("Privileged"), host.get("Privileged")
    # Privileged reaches the engine. (Whether it can start depends on the host: in a VM whose
    # bounding set lacks a capability, runc refuses with "unable to apply caps".)
    priv = app("priv", "east", [service("priv", IDLE, privileged=True)])
    created_ok(*stack.create_app(priv), "create priv")
    info = harness.poll(lambda: inspect(t, cname(stack, "east", "priv", "priv")), 60,
                        "the privileged container created")
    assert info["HostConfig"]["Privileged"] is True, info["HostConfig"].get("Privileged")
    wait_status(stack, "priv", "east",
                lambda s: s.get("phase") == "Running" or "apply caps" in (s.get("message") or ""),
                "priv Running (or refused by this host's runc)")


def test_host_network(t, stack):
    port = harness.free_port()
    spec = app("hostnet", "east",
               [service("web", f"mkdir -p /w; echo hostnet > /w/index.html; trap 'exit 0' TERM; "
                               f"httpd -f -p {port} -h /w & wait")],
               hostNetwork=True)
    created_ok(*stack.create_app(spec), "create hostnet")
    running(stack, "hostnet")
    infra = inspect(t, cname(stack, "east", "hostnet", None))
    assert infra["HostConfig"]["NetworkMode"] == "host", infra["HostConfig"]["NetworkMode"]
    web = inspect(t, cname(stack, "east", "hostnet", "web"))
    assert web["HostConfig"]["NetworkMode"].startswith("container:"), web["HostConfig"]
    # The service listens on the host's own port: no publishing involved.
    code, body = harness.poll(lambda: harness.http_get(port), 30, f"httpd on host port {port}")
    assert code == 200 and body.decode().strip() == "hostnet", (code, body)


def test_udp(t, stack):
    image = ensure_udpecho_image(t)
    port = free_udp_port()
    spec = app("udp", "east",
               [{"name": "echo", "image": image, "command": ["/udpecho", "9999"],
                 "ports": [{"containerPort": 9999, "hostPort": port, "protocol": "UDP"}]}])
    created_ok(*stack.create_app(spec), "create udp")
    running(stack, "udp")
    infra = inspect(t, cname(stack, "east", "udp", None))
    assert "9999/udp" in infra["HostConfig"]["PortBindings"], infra["HostConfig"]["PortBindings"]
    assert harness.poll(lambda: udp_echo(port, b"ping") == b"ping", 30,
                        f"UDP echo on 127.0.0.1:{port}")


def test_service_name_clash(t, stack):
    first = app("first", "east", [service("api", IDLE)])
    created_ok(*stack.create_app(first), "create first")
    running(stack, "first")
    second = app("second", "east", [service("api", IDLE), service("other", IDLE)])
    created_ok(*stack.create_app(second), "create second")
    wait_phase_msg(stack, "second", "east", "Failed",
                   "service api is already run by app first on this node")
    assert stack.pods(node="east", app="second") == [], "the later app runs nothing"
    running(stack, "first")
    # Once the first app is gone, the name is free.
    code, body = stack.api.delete(stack.path("apps", "first"))
    assert code == 200, f"delete first: {code} {body}"
    running(stack, "second")


def test_gpu_without_sharing(t, stack):
    spec = app("gpu", "east",
               [service("cuda", IDLE, resources={"limits": {"gpuMemory": 4, "gpuCompute": 50}})])
    created_ok(*stack.create_app(spec), "create gpu")
    wait_phase_msg(stack, "gpu", "east", "Failed", "does not offer GPU sharing", "--gpu-sharing")
    assert stack.pods(node="east", app="gpu") == [], "no container without GPU sharing"


def remove_image(t, ref):
    t.engine.request("DELETE", f"/images/{urllib.parse.quote(ref, safe='')}?force=1", timeout=60)


def test_registry_credentials(t, stack):
    if not (t.registry and t.registry_user and t.registry_pass):
        pytest.skip("no FERRY_TEST_REGISTRY, _USER and _PASS: no private registry to pull from")
    images_sh = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                             "images.sh")
    out = subprocess.run([images_sh, "--push", t.registry, t.engine_sock], capture_output=True,
                         timeout=300)
    assert out.returncode == 0, f"pushing the test image: {out.stderr.decode()[-2000:]}"
    image = f"{t.registry}/ferry-test/busybox:1"
    remove_image(t, image)  # the pull must happen
    try:
        spec = app("private", "east", [{"name": "private", "image": image,
                                        "command": ["sh", "-c", IDLE]}])
        created_ok(*stack.create_app(spec), "create private")
        wait_phase_msg(stack, "private", "east", "Failed", f"image {image}", "could not be pulled")
        code, body = stack.api.post(stack.path("configs"), {
            "name": "test-registry", "kind": "registry",
            "registry": {"server": t.registry, "username": t.registry_user,
                         "password": t.registry_pass}})
        assert code == 201, f"create registry config: {code} {body}"
        spec["registries"] = ["test-registry"]
        code, body = stack.api.put(stack.path("apps", "private"), spec)
        assert code == 200, f"update private: {code} {body}"
        running(stack, "private", version=body["version"])
        assert t.engine.image_present(image)
        code, body = stack.api.delete(stack.path("apps", "private"))
        assert code == 200, f"delete private: {code} {body}"
        harness.poll(lambda: not stack.pods(app="private"), 60, "private's containers gone")
    finally:
        remove_image(t, image)


def test_scheduled_app_deploys_at_its_time(t, stack, later):
    # The last test of the file: the time has come while the others ran, or comes now.
    at, at_text = later
    running(stack, "later")
    now = datetime.datetime.now(datetime.timezone.utc)
    assert now >= at, f"deployed at {now}, before {at}"
    created = inspect(t, cname(stack, "east", "later", "later"))["Created"]
    assert engine_time(created) >= at, f"container created {created}, scheduled {at_text}"
