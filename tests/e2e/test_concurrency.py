"""End to end: one slow app holds no other. A node reconciles its apps side by side
(edge-sync --parallel), never two passes over one app at once. An app whose container ignores
SIGTERM is deleted, so removing it waits out the engine's stop timeout (10 s); a second app created
while that removal runs serves HTTP before the first app's container is gone. A kill -9 of the node
in the middle of such a removal leaves it exact: the slow app is gone, the other one runs, no
duplicates."""
import time

import pytest

import harness
from common import wait_phase, web_app


@pytest.fixture(scope="module")
def stack(t):
    stack = t.stack(nodes=["east"])
    assert stack.register_node("east", {"region": "east"})[0] == 201
    return stack


def stubborn_app(name):
    """An app whose only container ignores SIGTERM (busybox sleep as PID 1)."""
    app = web_app(name, "east", "x")
    app["services"][0]["command"] = ["sleep", "3600"]
    app["services"][0].pop("ports", None)
    return app


def removing(stack, node, app):
    """True once the node's log says it began removing a container of app."""
    return f"removing container ferry.{node}.{stack.ns}.{app}." in stack.nodes[node].log_text()


def serves(port, greeting):
    try:
        code, body = harness.http_get(port)
    except OSError:
        return None
    return code == 200 and greeting.encode() in body


def removed_or_collected(stack, app, node):
    code, body = stack.api.get(stack.path("apps", app, "status"))
    if code == 404:
        return True
    entry = next((n for n in (body or {}).get("nodes", []) if n.get("node") == node), None)
    return entry is None or entry.get("phase") == "Removed"


def test_slow_removal_holds_no_other_app(stack):
    assert stack.create_app(stubborn_app("stubborn"))[0] == 201
    wait_phase(stack, "stubborn", "east", "Running")
    assert stack.api.delete(stack.path("apps", "stubborn"))[0] == 200
    harness.poll(lambda: removing(stack, "east", "stubborn"), 30,
                 "the node to begin removing the stubborn app", alive=stack.check_alive)

    port = harness.free_port()
    t0 = time.monotonic()
    assert stack.create_app(web_app("quick", "east", "quick-hello", host_port=port))[0] == 201
    harness.poll(lambda: serves(port, "quick-hello"), 30, f"the quick app on :{port}",
                 alive=stack.check_alive)
    served = time.monotonic() - t0
    left = stack.pods(node="east", app="stubborn")
    # The stubborn container takes 10 s to stop: if the quick app had waited for it, it would be
    # gone by now.
    assert left, ("the stubborn app's containers were gone before the quick app served: the "
                  "node did not reconcile them side by side")
    print(f"quick app served {served:.2f} s after its POST while the deleted app's "
          f"{len(left)} container(s) were still stopping")
    wait_phase(stack, "stubborn", "east", "Removed", timeout=60)
    wait_phase(stack, "quick", "east", "Running")
    assert not stack.pods(node="east", app="stubborn")


def test_kill_during_slow_removal_stays_exact(stack):
    assert stack.create_app(stubborn_app("stubborn2"))[0] == 201
    port = harness.free_port()
    assert stack.create_app(web_app("steady", "east", "steady-hello", host_port=port))[0] == 201
    wait_phase(stack, "stubborn2", "east", "Running")
    wait_phase(stack, "steady", "east", "Running")
    steady = {c["Id"] for c in stack.pods(node="east", app="steady")}
    assert stack.api.delete(stack.path("apps", "stubborn2"))[0] == 200
    harness.poll(lambda: removing(stack, "east", "stubborn2"), 30,
                 "the node to begin removing stubborn2", alive=stack.check_alive)
    stack.kill_node("east")
    stack.start_node("east")
    # Removed; or already forgotten: the restarted node's sync acknowledged the deletion, so once
    # the containers were gone it collected the app and cleared its status (PROTOCOL.md,
    # "Collecting deleted apps").
    harness.poll(lambda: removed_or_collected(stack, "stubborn2", "east"), 60,
                 "stubborn2 Removed (or collected) on east", alive=stack.check_alive)
    assert not stack.pods(node="east", app="stubborn2")
    # The other app was never touched: the same containers, still serving.
    assert {c["Id"] for c in stack.pods(node="east", app="steady")} == steady
    assert serves(port, "steady-hello"), "the steady app stopped serving"
