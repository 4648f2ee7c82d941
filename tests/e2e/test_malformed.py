"""End to end: payloads published by hand on a node's topics (garbage, truncated msgpack, a future
format version, a lie about the topic) are logged and ignored; the node keeps working. The tests
share one stack (node east running app web) and the payloads, published once."""

import pytest

import harness
from common import wait_phase, web_app


def encode(t, obj):
    return harness.ferryctl_encode(t.build_dir, obj)


@pytest.fixture(scope="module")
def stack(t):
    stack = t.stack(nodes=["east"])
    assert stack.register_node("east", {"region": "east"})[0] == 201
    code, body = stack.create_app(web_app("web", "east", "hello"))
    assert code == 201, body
    wait_phase(stack, "web", "east", "Running")
    return stack


@pytest.fixture(scope="module")
def bad(t, stack):
    """The malformed payloads, published on east's topics; returns them."""
    ns = stack.ns
    label_topic = f"ferry/{ns}/labels/region=east/apps/web"
    sync_topic = f"ferry/{ns}/nodes/east/sync"
    good_put = {"v": 1, "type": "app.put", "ns": ns, "app": "web", "version": 10 ** 9,
                "spec": web_app("web", "east", "evil")}
    bad = [
        (label_topic, b"\xff\x00garbage"),
        (label_topic, encode(t, good_put)[:-7]),                     # truncated
        (label_topic, b"\xdf\xff\xff\xff\xff"),                      # map of 4G entries, no data
        (label_topic, encode(t, dict(good_put, v=99))),              # future format version
        (label_topic, encode(t, dict(good_put, app="other"))),       # app differs from topic
        (sync_topic, encode(t, {"v": 1, "type": "node.sync", "ns": ns, "node": "east",
                                "rev": "x", "registered": True, "labels": {}, "apps": []})),
        (sync_topic, b""),
    ]
    for topic, payload in bad:
        harness.mqtt_publish(t.mqtt_port, topic, payload)
    return bad


def test_malformed_payloads_are_logged_and_ignored(stack, bad):
    # The node logged each one, is alive, and still runs the app as it was.
    node = stack.nodes["east"]
    harness.poll(lambda: node.log_text().count("ignoring a") >= len(bad) - 1, 30,
                 "log lines for the malformed payloads", alive=stack.check_alive)
    st = wait_phase(stack, "web", "east", "Running")
    assert st["version"] < 10 ** 9, st


def test_node_still_deploys_after_them(stack, bad):
    # And it keeps working: a new app deploys.
    code, body = stack.create_app(web_app("after", "east", "ok"))
    assert code == 201, body
    wait_phase(stack, "after", "east", "Running")
    stack.check_alive()
