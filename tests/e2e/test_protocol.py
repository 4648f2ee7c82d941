"""End to end, the sync protocol's properties (schema/PROTOCOL.md):
- one app update costs O(1) publishes at the bridge, whatever the number of matching nodes;
- relabelling one node costs one message, to that node only;
- a delta is far smaller than the app; a node that sees a gap heals itself with a full state;
- after a restart without any broker, a node reconciles from its own LMDB.
The first three tests share one stack (node east and a fleet of 50 registered nodes without
daemons); the last one has its own."""
import signal

import pytest

import harness
from common import app_names_on, wait_phase, web_app

FLEET = 50


def count(cap, pred):
    return sum(1 for tp, _, _ in cap.snapshot() if pred(tp))


@pytest.fixture(scope="module")
def fleet(t):
    """(stack, capture of every message of its namespace), settled: node east and FLEET
    registered nodes that match region=east (no daemons: only the bridge's cost counts)."""
    stack = t.stack(nodes=["east"], start=False)
    ns = stack.ns
    cap = t.capture(f"ferry/{ns}/#")
    # Registered before it starts: the bridge answers no hello of a node it does not know.
    stack.start_bridge()
    assert stack.register_node("east", {"region": "east"})[0] == 201
    for i in range(FLEET):
        assert stack.register_node(f"fleet{i}", {"region": "east", "idx": str(i)})[0] == 201
    stack.start_node("east")
    # Each registration sends that node one sync; the bridge publishes them from its outbox after
    # answering. Count the app change's messages only from when all of them were out.
    fleet_syncs = {f"ferry/{ns}/nodes/fleet{i}/sync" for i in range(FLEET)}
    harness.poll(lambda: fleet_syncs <= {tp for tp, _, _ in cap.snapshot()}, 30,
                 "the registration syncs of the fleet")
    # East said hello on connect and again once subscribed to its new label: every hello answered
    # (plus the registration's sync) means it is settled.
    east_hello, east_sync = f"ferry/{ns}/nodes/east/hello", f"ferry/{ns}/nodes/east/sync"
    harness.poll(lambda: count(cap, lambda tp: tp == east_hello) >= 2 and
                 count(cap, lambda tp: tp == east_sync) >= count(cap, lambda tp: tp == east_hello) + 1,
                 30, "east's hellos answered")
    return stack, cap


def encode(t, obj):
    return harness.ferryctl_encode(t.build_dir, obj)


def test_app_change_costs_o1_publishes_whatever_the_fleet(t, fleet):
    stack, cap = fleet
    mark = len(cap.snapshot())
    big = web_app("web", "east", "x", services=10)
    code, app = stack.create_app(big)
    assert code == 201, app
    wait_phase(stack, "web", "east", "Running", app["version"])
    app["services"][3]["env"][0]["value"] = "changed"
    code, app2 = stack.api.put(stack.path("apps", "web"), app)
    assert code == 200, app2
    wait_phase(stack, "web", "east", "Running", app2["version"])

    # O(1): create + update = two messages on the app's topic, for 51 matching nodes.
    app_msgs = [(tp, p) for tp, p, _ in cap.snapshot()[mark:] if tp.endswith("/apps/web")]
    assert len(app_msgs) == 2, f"expected 2 app messages for {FLEET + 1} nodes, got {app_msgs}"
    decoded = harness.ferryctl_decode(t.build_dir, app_msgs)
    kinds = [obj["type"] for _, obj in decoded]
    assert kinds == ["app.put", "app.patch"], kinds
    full, delta = len(app_msgs[0][1]), len(app_msgs[1][1])
    print(f"delta {delta} bytes vs full {full} bytes: {full / delta:.1f}x smaller")
    assert delta * 4 < full, (delta, full)
    later = [tp for tp, _, _ in cap.snapshot()[mark:] if "/sync" in tp]
    assert later == [], f"no per-node messages for an app change: {later}"


def test_relabel_costs_one_message_to_that_node_only(fleet):
    # Relabelling one node of the fleet: one sync message, to that node only.
    stack, cap = fleet
    ns = stack.ns
    before = len(cap.snapshot())
    assert stack.api.put(stack.path("nodes", "fleet7"),
                         {"name": "fleet7", "labels": {"region": "west"}})[0] == 200
    harness.poll(lambda: f"ferry/{ns}/nodes/fleet7/sync" in
                 [tp for tp, _, _ in cap.snapshot()[before:]], 10, "fleet7's new sync")
    later = [tp for tp, _, _ in cap.snapshot()[before:] if tp.startswith(f"ferry/{ns}/") and
             ("/sync" in tp or "/apps/" in tp)]
    assert later == [f"ferry/{ns}/nodes/fleet7/sync"], later


def test_gap_heals_with_the_full_state(t, fleet):
    # A gap: a delta whose base the node does not hold. The node asks (hello, reason gap), gets
    # the full state and stays exactly at the cloud's version.
    stack, cap = fleet
    ns = stack.ns
    code, app = stack.create_app(web_app("gap", "east", "x"))
    assert code == 201, app
    wait_phase(stack, "gap", "east", "Running", app["version"])
    before = len(cap.snapshot())
    bogus = {"v": 1, "type": "app.patch", "ns": ns, "app": "gap", "base": app["version"] + 5,
             "version": app["version"] + 6, "patch": {"obj": {}}}
    harness.mqtt_publish(t.mqtt_port, f"ferry/{ns}/labels/region=east/apps/gap", encode(t, bogus))

    def hello_then_sync():
        new = cap.snapshot()[before:]
        topics = [tp for tp, _, _ in new]
        hellos = [m for m in new if m[0] == f"ferry/{ns}/nodes/east/hello"]
        if not hellos or f"ferry/{ns}/nodes/east/sync" not in topics:
            return None
        return harness.ferryctl_decode(t.build_dir, hellos)
    hellos = harness.poll(hello_then_sync, 30, "hello (gap) and sync", alive=stack.check_alive)
    assert any(obj and obj["reason"] == "gap" for _, obj in hellos), hellos
    wait_phase(stack, "gap", "east", "Running", app["version"])


def test_restart_without_broker_reconciles_from_lmdb(t):
    stack = t.stack(nodes=["east"])
    ns = stack.ns
    assert stack.register_node("east", {"region": "east"})[0] == 201
    code, app = stack.create_app(web_app("web", "east", "x", services=10))
    assert code == 201, app
    wait_phase(stack, "web", "east", "Running", app["version"])

    # Restart without a broker: the node reconciles from LMDB alone.
    stack.kill_node("east", signal.SIGKILL)
    t.engine.remove_labelled({"io.ferry.namespace": ns, "io.ferry.node": "east"})
    assert app_names_on(stack, "east") == set()
    dead = stack.add_node("east", extra_args=())
    dead.argv[dead.argv.index("--mqtt") + 1] = f"tcp://127.0.0.1:{harness.free_port()}"
    dead.start()
    harness.poll(lambda: len(stack.pods(node="east", app="web")) == 11 and
                 all(c["State"] == "running" for c in stack.pods(node="east", app="web")), 90,
                 "web back on east with no broker", alive=stack.check_alive)
