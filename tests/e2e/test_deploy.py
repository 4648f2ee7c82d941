"""End to end, on a real broker and a real engine: an app created through the API runs as a pod
on exactly the matching node, answers over HTTP, reports Running; an env change redeploys it; a
kill -9 of edge-sync makes no duplicates and the state is reported again; delete removes it.
Each test has its own stack (node east, and west where it matters) and deploys its own app web."""
import signal

import pytest

import harness
from common import app_names_on, node_status, wait_phase, web_app


def http_text(port):
    code, body = harness.http_get(port)
    return body.decode().strip() if code == 200 else None


def make_stack(t, nodes):
    """A stack of its own with the nodes, each registered with region=<its name>."""
    stack = t.stack(nodes=nodes)
    for name in nodes:
        code, body = stack.register_node(name, {"region": name})
        assert code == 201, f"register {name}: {code} {body}"
    return stack


@pytest.fixture
def stack(t):
    return make_stack(t, ["east"])


@pytest.fixture
def watch(t, stack):
    return t.capture(f"ferry/{stack.ns}/#")


def deploy_web(stack, port):
    """Create web on east serving "hello" on port; returns the app once Running and answering."""
    code, app = stack.create_app(web_app("web", "east", "hello", host_port=port))
    assert code == 201, f"create: {code} {app}"
    st = wait_phase(stack, "web", "east", "Running", app["version"])
    assert st["containers"][0]["state"] == "running", st
    assert harness.poll(lambda: http_text(port) == "hello", 30, f"hello on :{port}")
    return app


def test_create_runs_a_pod_on_the_matching_node_only(t):
    # Create: a pod on east only, serving the greeting on the host port.
    stack = make_stack(t, ["east", "west"])
    deploy_web(stack, harness.free_port())
    pods = stack.pods(node="east", app="web")
    assert len(pods) == 2, f"expected infra + httpd on east, got {[c['Names'] for c in pods]}"
    assert stack.pods(node="west") == [], "west must run nothing"
    code, status = stack.api.get(stack.path("apps", "web", "status"))
    assert [n["node"] for n in status["nodes"]] == ["east"], status
    assert status["summary"]["running"] == 1 and status["summary"]["targeted"] == 1, status


def test_env_change_redeploys_through_a_delta(t, stack, watch):
    # Update one env value: redeployed with the new value, status at the new version.
    port = harness.free_port()
    app = deploy_web(stack, port)
    v1 = app["version"]
    app["services"][0]["env"][0]["value"] = "bonjour"
    code, app2 = stack.api.put(stack.path("apps", "web"), app)
    assert code == 200, f"update: {code} {app2}"
    v2 = app2["version"]
    assert v2 > v1, (v1, v2)
    wait_phase(stack, "web", "east", "Running", v2)
    harness.poll(lambda: http_text(port) == "bonjour", 30, f"bonjour on :{port}")
    # The update travelled as a delta, not as the whole app.
    decoded = harness.ferryctl_decode(t.build_dir, watch.snapshot())
    kinds = [obj.get("type") for topic, obj in decoded if obj and "/apps/web" in topic]
    assert "app.put" in kinds and "app.patch" in kinds, kinds
    assert all(obj is not None for _, obj in decoded), "ferryctl could not decode a payload"
    print(f"versions {v1} -> {v2}")


def test_kill_9_of_edge_sync_makes_no_duplicates(stack, watch):
    # kill -9 edge-sync and start it again: no duplicate containers, state reported again.
    app = deploy_web(stack, harness.free_port())
    ids_before = sorted(c["Id"] for c in stack.pods(node="east"))
    stack.kill_node("east", signal.SIGKILL)
    before = len(watch.snapshot())
    stack.start_node("east")
    harness.poll(lambda: [m for m in watch.snapshot()[before:]
                          if m[0].endswith("/nodes/east/status/web")], 60,
                 "a fresh status of web from east after the restart", alive=stack.check_alive)
    wait_phase(stack, "web", "east", "Running", app["version"])
    ids_after = sorted(c["Id"] for c in stack.pods(node="east"))
    assert ids_after == ids_before, f"containers changed across restart: {ids_before} -> {ids_after}"


def test_delete_removes_the_pod_and_reports_removed(stack):
    # Delete: the pod goes, the status API says so.
    deploy_web(stack, harness.free_port())
    code, body = stack.api.delete(stack.path("apps", "web"))
    assert code == 200, f"delete: {code} {body}"
    harness.poll(lambda: not stack.pods(app="web"), 60, "web's containers gone")
    harness.poll(lambda: (node_status(stack, "web", "east") or {}).get("phase") == "Removed", 30,
                 "status Removed for east")
    code, status = stack.api.get(stack.path("apps", "web", "status"))
    assert code == 200 and status.get("deleted") is True, status
    code, _ = stack.api.get(stack.path("apps", "web"))
    assert code == 404, code
    assert app_names_on(stack, "east") == set()
