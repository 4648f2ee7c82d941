"""End to end: a node that was offline while apps were created, deleted and its labels changed
converges exactly when it comes back; relabelling an online node moves exactly the right apps
onto and off it; deleting a node's registration empties it. Each test has its own stack."""
import harness
from common import app_names_on, wait_phase, web_app


def make_stack(t, **nodes):
    """A stack of its own with a node per keyword argument, registered with its labels."""
    stack = t.stack(nodes=list(nodes))
    for name, labels in nodes.items():
        code, body = stack.register_node(name, labels)
        assert code == 201, f"register {name}: {code} {body}"
    return stack


def deploy_keep_and_added(stack, nodes):
    """Apps keep and added (region east), Running on each of nodes."""
    for name in ("keep", "added"):
        code, body = stack.create_app(web_app(name, "east", name[0]))
        assert code == 201, body
    for node in nodes:
        harness.poll(lambda node=node: app_names_on(stack, node) == {"keep", "added"}, 90,
                     f"{node} runs exactly keep and added", alive=stack.check_alive)
        wait_phase(stack, "keep", node, "Running")
        wait_phase(stack, "added", node, "Running")


def test_offline_node_converges_when_it_returns(t):
    stack = make_stack(t, east={"region": "east"}, west={"region": "west"})
    code, body = stack.create_app(web_app("keep", "east", "k"))
    assert code == 201, body
    code, body = stack.create_app(web_app("westapp", "west", "w"))
    assert code == 201, body
    wait_phase(stack, "keep", "east", "Running")
    wait_phase(stack, "westapp", "west", "Running")

    # West goes away (kill -9: the broker publishes its will).
    stack.kill_node("west")
    harness.poll(lambda: stack.api.get(stack.path("nodes", "west"))[1].get("online") is False, 30,
                 "west reported offline")
    # While it is away: one east app created, one created and deleted, the west app updated
    # and then deleted, and west relabelled to east.
    code, body = stack.create_app(web_app("added", "east", "a"))
    assert code == 201, body
    code, body = stack.create_app(web_app("shortlived", "east", "s"))
    assert code == 201, body
    assert stack.api.delete(stack.path("apps", "shortlived"))[0] == 200
    code, w = stack.api.get(stack.path("apps", "westapp"))
    w["services"][0]["env"][0]["value"] = "w2"
    assert stack.api.put(stack.path("apps", "westapp"), w)[0] == 200
    assert stack.api.delete(stack.path("apps", "westapp"))[0] == 200
    code, body = stack.api.put(stack.path("nodes", "west"), {"name": "west",
                                                             "labels": {"region": "east"}})
    assert code == 200, f"relabel: {code} {body}"
    # The west app's containers are still there: the node has been told nothing yet.
    assert app_names_on(stack, "west") == {"westapp"}, app_names_on(stack, "west")

    stack.start_node("west")
    harness.poll(lambda: app_names_on(stack, "west") == {"keep", "added"}, 90,
                 "west runs exactly the east apps", alive=stack.check_alive)
    wait_phase(stack, "keep", "west", "Running")
    wait_phase(stack, "added", "west", "Running")
    # east saw shortlived come and go: its containers may still be on their way out.
    harness.poll(lambda: app_names_on(stack, "east") == {"keep", "added"}, 60,
                 "east runs exactly keep and added", alive=stack.check_alive)


def test_online_relabel_moves_exactly_the_right_apps(t):
    stack = make_stack(t, east={"region": "east"}, west={"region": "east"})
    deploy_keep_and_added(stack, ("east", "west"))
    # Online relabel: east leaves region=east -> its apps go; back -> they return.
    assert stack.api.put(stack.path("nodes", "east"), {"name": "east",
                                                       "labels": {"region": "north"}})[0] == 200
    harness.poll(lambda: app_names_on(stack, "east") == set(), 60, "east emptied",
                 alive=stack.check_alive)
    assert app_names_on(stack, "west") == {"keep", "added"}, "west must not be touched"
    assert stack.api.put(stack.path("nodes", "east"), {"name": "east",
                                                       "labels": {"region": "east"}})[0] == 200
    harness.poll(lambda: app_names_on(stack, "east") == {"keep", "added"}, 60, "east refilled",
                 alive=stack.check_alive)
    wait_phase(stack, "added", "east", "Running")


def test_deleting_a_node_registration_empties_it(t):
    stack = make_stack(t, west={"region": "east"})
    deploy_keep_and_added(stack, ("west",))
    # Deleting the node's registration removes everything from it.
    assert stack.api.delete(stack.path("nodes", "west"))[0] == 200
    harness.poll(lambda: app_names_on(stack, "west") == set(), 60, "unregistered west emptied",
                 alive=stack.check_alive)
