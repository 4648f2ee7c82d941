"""End to end through the real broker-bridge daemon: the REST contract (CRUD, paging, fuzzy
search, errors that name the field and change nothing) and durability across kill -9."""
import signal

import harness
from common import web_app


def test(t):
    if t.engine_name != "docker":
        raise harness.Skip("the REST contract does not depend on the engine; run once")
    stack = t.stack()
    api, p = stack.api, stack.path

    # Validation: each error names the field and the rule, and nothing is stored.
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

    # Create, duplicate, list with paging and a case-insensitive substring.
    for name in ("alpha", "beta", "gamma-abc", "delta-abc", "abc"):
        code, body = api.post(p("apps"), web_app(name, "east", "x"))
        assert code == 201 and body["version"] >= 1, (code, body)
    code, body = api.post(p("apps"), web_app("beta", "east", "x"))
    assert code == 409, (code, body)
    code, page = api.get(p("apps") + "?page=1&pageSize=2")
    assert [a["name"] for a in page["items"]] == ["abc", "alpha"] and page["total"] == 5, page
    code, page = api.get(p("apps") + "?page=2&pageSize=2&name=AbC")
    assert [a["name"] for a in page["items"]] == ["gamma-abc"] and page["total"] == 3, page
    code, body = api.get(p("apps") + "?pageSize=0")
    assert code == 400 and body.get("field") == "pageSize", (code, body)
    assert api.get(p("apps", "nope"))[0] == 404

    # monitorQps (the console's QPS monitoring switch) is stored, shown and published to nodes.
    cap = t.capture(f"ferry/{stack.ns}/labels/+/apps/qps")
    code, body = api.post(p("apps"), dict(web_app("qps", "east", "x"), monitorQps=True))
    assert code == 201 and body["monitorQps"] is True, (code, body)
    assert api.get(p("apps", "qps"))[1]["monitorQps"] is True
    cap.wait_for(lambda tp, pl, r: True, 10, "app.put of qps")
    decoded = harness.ferryctl_decode(t.build_dir, cap.snapshot())
    assert decoded and decoded[0][1]["spec"]["monitorQps"] is True, decoded
    assert api.delete(p("apps", "qps"))[0] == 200

    # PUT bumps the version; versions never go back, across delete and re-create.
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

    # Nodes: register, duplicate, relabel, list, bad labels.
    assert stack.register_node("n1", {"region": "east"})[0] == 201
    assert stack.register_node("n1", {"region": "east"})[0] == 409
    code, body = stack.register_node("n2", {"bad key!": "x"})
    assert code == 400 and body["field"].startswith("labels"), (code, body)
    code, body = api.put(p("nodes", "n1"), {"name": "n1", "labels": {"region": "west"}})
    assert code == 200 and body["labels"] == {"region": "west"}, body
    code, body = api.get(p("nodes"))
    assert body["total"] == 1 and body["items"][0]["online"] is False, body
    code, body = api.get(p("nodes", "n1", "apps"))
    assert code == 200 and body["online"] is False, body

    # What the API acknowledged survives kill -9.
    stack.kill_bridge(signal.SIGKILL)
    stack.start_bridge()
    code, body = api.get(p("apps", "alpha"))
    assert code == 200 and body["version"] == a3["version"], body
    assert api.get(p("apps"))[1]["total"] == 5
    assert api.get(p("nodes", "n1"))[1]["labels"] == {"region": "west"}


harness.run(test)
