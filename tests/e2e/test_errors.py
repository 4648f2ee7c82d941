"""End to end: failures reach the status API as errors a person can act on: a missing image, a
host port already taken on the node, a service that keeps exiting (exit code, restarts, log);
the node keeps running good apps beside them. The tests share one stack (node east); each
deploys apps of its own."""
import socket

import pytest

import harness
from common import IMAGE, wait_phase, web_app


@pytest.fixture(scope="module")
def stack(t):
    stack = t.stack(nodes=["east"])
    assert stack.register_node("east", {"region": "east"})[0] == 201
    return stack


def test_missing_image(stack):
    # An image that exists nowhere.
    missing = web_app("missing", "east", "x")
    missing["services"][0]["image"] = "ferry-test/does-not-exist:9"
    assert stack.create_app(missing)[0] == 201
    st = wait_phase(stack, "missing", "east", "Failed")
    assert "ferry-test/does-not-exist:9" in st["message"] and "pulled" in st["message"], st
    assert st["containers"][0]["error"], st


def test_host_port_taken(stack):
    # A host port that something else on the node holds.
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert stack.create_app(web_app("clash", "east", "x", host_port=port))[0] == 201
        st = wait_phase(stack, "clash", "east", "Failed")
        assert "already in use" in st["message"] and "hostPort" in st["message"], st


def test_service_that_keeps_exiting(stack):
    # A service that exits with code 3 over and over.
    crash = web_app("crash", "east", "x")
    crash["services"][0]["command"] = ["sh", "-c", "echo about to fail; exit 3"]
    assert stack.create_app(crash)[0] == 201

    def crashed():
        st = (stack.api.get(stack.path("apps", "crash", "status"))[1].get("nodes") or [{}])[0]
        c = (st.get("containers") or [{}])[0]
        if st.get("phase") == "Failed" and c.get("exitCode") == 3 and c.get("restarts", 0) >= 1:
            return st
        return None
    st = harness.poll(crashed, 90, "crash reported with exit code 3 and restarts",
                      alive=stack.check_alive)
    assert "exited with code 3" in st["message"] and "about to fail" in st["message"], st


def test_good_app_runs_beside_the_failed_ones(t, stack):
    # The node is fine otherwise: a good app still runs beside them (the apps of the tests above,
    # when they ran).
    assert stack.create_app(web_app("fine", "east", "x"))[0] == 201
    wait_phase(stack, "fine", "east", "Running")
    assert t.engine.image_present(IMAGE)
