"""End to end: target nodes by Kubernetes label selectors with matchExpressions (In, NotIn, Exists,
DoesNotExist; apps without matchLabels travel on the namespace's "all" topic), and a scheduled
deployment that survives a bridge restart and reaches a node that was offline at that time. Each
test has its own stack (nodes east and west)."""
import datetime
import signal

import harness
from common import app_names_on, wait_phase, web_app


def expr_app(name, *exprs):
    spec = web_app(name, "unused", "x")
    spec["selector"] = {"matchExpressions": [dict(zip(("key", "operator", "values"), e))
                                             if len(e) == 3 else {"key": e[0], "operator": e[1]}
                                             for e in exprs]}
    return spec


def two_nodes(t):
    stack = t.stack(nodes=["east", "west"])
    assert stack.register_node("east", {"region": "east", "tier": "gw"})[0] == 201
    assert stack.register_node("west", {"region": "west", "tier": "edge", "gpu": "none"})[0] == 201
    return stack


def test_match_expressions_deploy_exactly_where_they_match(t):
    stack = two_nodes(t)
    apps = {
        "in-gw": (expr_app("in-gw", ("tier", "In", ["gw", "core"])), {"east"}),
        "notin-gw": (expr_app("notin-gw", ("tier", "NotIn", ["gw"])), {"west"}),
        "has-gpu": (expr_app("has-gpu", ("gpu", "Exists")), {"west"}),
        "no-gpu": (expr_app("no-gpu", ("gpu", "DoesNotExist"), ("tier", "Exists")), {"east"}),
    }
    for name, (spec, _) in apps.items():
        code, body = stack.create_app(spec)
        assert code == 201, (name, code, body)
    for node in ("east", "west"):
        want = {name for name, (_, nodes) in apps.items() if node in nodes}
        harness.poll(lambda node=node, want=want: app_names_on(stack, node) == want, 90,
                     f"{node} runs exactly {sorted(want)}", alive=stack.check_alive)
    # The preview endpoint agrees with what runs.
    code, body = stack.api.get(stack.path("nodes") + "?selector=tier%20in%20(gw,core)")
    assert code == 200 and [n["name"] for n in body["items"]] == ["east"], body
    for name in apps:
        assert stack.api.delete(stack.path("apps", name))[0] == 200


def test_scheduled_deploy_survives_bridge_restart_and_reaches_offline_node(t):
    # Scheduled: stored and shown as Scheduled; the bridge restarts and west is offline at the
    # time; east deploys at the time, west when it comes back.
    stack = two_nodes(t)
    at = (datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) +
          datetime.timedelta(seconds=15))
    spec = web_app("later", "any", "x")
    spec["selector"] = {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    spec["deploy"] = {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    code, body = stack.create_app(spec)
    assert code == 201, body
    wait_phase(stack, "later", "east", "Scheduled")
    wait_phase(stack, "later", "west", "Scheduled")
    code, body = stack.api.get(stack.path("apps", "later"))
    assert body.get("deployState") == "Scheduled", body
    stack.kill_node("west", signal.SIGKILL)
    stack.kill_bridge(signal.SIGKILL)
    stack.start_bridge()
    assert app_names_on(stack, "east") == set(), "nothing runs before the time"
    wait_phase(stack, "later", "east", "Running", timeout=60)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert now >= at, f"east deployed before {at}"
    assert app_names_on(stack, "west") == set(), "west is offline"
    stack.start_node("west")
    harness.poll(lambda: app_names_on(stack, "west") == {"later"}, 60, "west deploys on return",
                 alive=stack.check_alive)
    wait_phase(stack, "later", "west", "Running")
