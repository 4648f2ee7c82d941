"""End to end, on a real broker and a real engine: an app created through the API runs as a pod
on exactly the matching node, answers over HTTP, reports Running; an env change redeploys it; a
kill -9 of edge-sync makes no duplicates and the state is reported again; delete removes it."""
import os
import signal

import harness
from common import app_names_on, node_status, wait_phase, web_app


def http_text(port):
    code, body = harness.http_get(port)
    return body.decode().strip() if code == 200 else None


def test(t):
    stack = t.stack(nodes=["east", "west"])
    watch = t.capture(f"ferry/{stack.ns}/#")
    for name, region in (("east", "east"), ("west", "west")):
        code, body = stack.register_node(name, {"region": region})
        assert code == 201, f"register {name}: {code} {body}"

    # Create: a pod on east only, serving the greeting on the host port.
    port = harness.free_port()
    code, app = stack.create_app(web_app("web", "east", "hello", host_port=port))
    assert code == 201, f"create: {code} {app}"
    v1 = app["version"]
    st = wait_phase(stack, "web", "east", "Running", v1)
    assert st["containers"][0]["state"] == "running", st
    assert harness.poll(lambda: http_text(port) == "hello", 30, f"hello on :{port}")
    pods = stack.pods(node="east", app="web")
    assert len(pods) == 2, f"expected infra + httpd on east, got {[c['Names'] for c in pods]}"
    assert stack.pods(node="west") == [], "west must run nothing"
    code, status = stack.api.get(stack.path("apps", "web", "status"))
    assert [n["node"] for n in status["nodes"]] == ["east"], status
    assert status["summary"]["running"] == 1 and status["summary"]["targeted"] == 1, status

    # Update one env value: redeployed with the new value, status at the new version.
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

    # kill -9 edge-sync and start it again: no duplicate containers, state reported again.
    ids_before = sorted(c["Id"] for c in stack.pods(node="east"))
    stack.kill_node("east", signal.SIGKILL)
    before = len(watch.snapshot())
    stack.start_node("east")
    harness.poll(lambda: [m for m in watch.snapshot()[before:]
                          if m[0].endswith("/nodes/east/status/web")], 60,
                 "a fresh status of web from east after the restart", alive=stack.check_alive)
    wait_phase(stack, "web", "east", "Running", v2)
    ids_after = sorted(c["Id"] for c in stack.pods(node="east"))
    assert ids_after == ids_before, f"containers changed across restart: {ids_before} -> {ids_after}"

    # Delete: the pod goes, the status API says so.
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
    print(f"{os.path.basename(__file__)}: versions {v1} -> {v2}, containers kept across kill -9")


harness.run(test)
