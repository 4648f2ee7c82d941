"""End to end through the real broker-bridge daemon: the REST contract (CRUD, paging, fuzzy
search, errors that name the field and change nothing) and durability across kill -9.
Each test has a bridge of its own (no node: the contract does not need one)."""
import signal

import pytest

import harness
from common import web_app

FIVE = ("alpha", "beta", "gamma-abc", "delta-abc", "abc")


@pytest.fixture
def stack(t):
    if t.engine_name != "docker":
        pytest.skip("the REST contract does not depend on the engine; run once")
    return t.stack()


def create_five(stack):
    for name in FIVE:
        code, body = stack.api.post(stack.path("apps"), web_app(name, "east", "x"))
        assert code == 201 and body["version"] >= 1, (code, body)


def update_delete_recreate_alpha(stack):
    """PUT bumps the version; versions never go back, across delete and re-create. Returns the
    re-created alpha."""
    api, p = stack.api, stack.path
    code, a = api.get(p("apps", "alpha"))
    v1 = a["version"]
    a["description"] = "changed"
    code, a2 = api.put(p("apps", "alpha"), a)
    assert code == 200 and a2["version"] > v1 and a2["description"] == "changed", a2
    code, body = api.put(p("apps", "alpha"), dict(a2, version=v1))
    assert code == 409, ("stale version must conflict", code, body)
    assert api.delete(p("apps", "alpha"))[0] == 200
    code, a3 = api.post(p("apps"), web_app("alpha", "east", "x"))
    assert code == 201 and a3["version"] > a2["version"], (a2, a3)
    return a3


def register_and_relabel_n1(stack):
    assert stack.register_node("n1", {"region": "east"})[0] == 201
    code, body = stack.api.put(stack.path("nodes", "n1"), {"name": "n1",
                                                           "labels": {"region": "west"}})
    assert code == 200 and body["labels"] == {"region": "west"}, body


def test_validation_errors_name_the_field_and_store_nothing(stack):
    api, p = stack.api, stack.path
    bad = web_app("ok", "east", "x")
    bad["services"].append(dict(bad["services"][0], name="Bad_Name"))
    code, body = api.post(p("apps"), bad)
    assert code == 400 and body["field"] == "services[1].name", (code, body)
    dup_port = web_app("ok", "east", "x", services=2)
    dup_port["services"][1]["ports"] = [{"containerPort": 8080}]
    code, body = api.post(p("apps"), dup_port)
    assert code == 400 and "containerPort" in body["field"], (code, body)
    code, body = api.post(p("apps"), b"{not json")
    assert code == 400, (code, body)
    assert api.get(p("apps"))[1]["total"] == 0


def test_create_duplicate_and_paged_search(stack):
    api, p = stack.api, stack.path
    create_five(stack)
    code, body = api.post(p("apps"), web_app("beta", "east", "x"))
    assert code == 409, (code, body)
    code, page = api.get(p("apps") + "?page=1&pageSize=2")
    assert [a["name"] for a in page["items"]] == ["abc", "alpha"] and page["total"] == 5, page
    code, page = api.get(p("apps") + "?page=2&pageSize=2&name=AbC")
    assert [a["name"] for a in page["items"]] == ["gamma-abc"] and page["total"] == 3, page
    code, body = api.get(p("apps") + "?pageSize=0")
    assert code == 400 and body.get("field") == "pageSize", (code, body)
    assert api.get(p("apps", "nope"))[0] == 404


def test_monitor_qps_is_stored_shown_and_published(t, stack):
    # monitorQps (the console's QPS monitoring switch) is stored, shown and published to nodes.
    api, p = stack.api, stack.path
    cap = t.capture(f"ferry/{stack.ns}/labels/+/apps/qps")
    code, body = api.post(p("apps"), dict(web_app("qps", "east", "x"), monitorQps=True))
    assert code == 201 and body["monitorQps"] is True, (code, body)
    assert api.get(p("apps", "qps"))[1]["monitorQps"] is True
    cap.wait_for(lambda tp, pl, r: True, 10, "app.put of qps")
    decoded = harness.ferryctl_decode(t.build_dir, cap.snapshot())
    assert decoded and decoded[0][1]["spec"]["monitorQps"] is True, decoded
    assert api.delete(p("apps", "qps"))[0] == 200


def test_versions_only_go_up(stack):
    code, body = stack.api.post(stack.path("apps"), web_app("alpha", "east", "x"))
    assert code == 201 and body["version"] >= 1, (code, body)
    update_delete_recreate_alpha(stack)


def test_nodes_register_relabel_and_list(stack):
    api, p = stack.api, stack.path
    register_and_relabel_n1(stack)
    assert stack.register_node("n1", {"region": "east"})[0] == 409
    code, body = stack.register_node("n2", {"bad key!": "x"})
    assert code == 400 and body["field"].startswith("labels"), (code, body)
    code, body = api.get(p("nodes"))
    assert body["total"] == 1 and body["items"][0]["online"] is False, body
    code, body = api.get(p("nodes", "n1", "apps"))
    assert code == 200 and body["online"] is False, body


def test_what_the_api_acknowledged_survives_kill_9(stack):
    api, p = stack.api, stack.path
    create_five(stack)
    a3 = update_delete_recreate_alpha(stack)
    register_and_relabel_n1(stack)
    stack.kill_bridge(signal.SIGKILL)
    stack.start_bridge()
    code, body = api.get(p("apps", "alpha"))
    assert code == 200 and body["version"] == a3["version"], body
    assert api.get(p("apps"))[1]["total"] == 5
    assert api.get(p("nodes", "n1"))[1]["labels"] == {"region": "west"}
