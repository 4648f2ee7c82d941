"""End to end on the secure broker (TLS, a credential per node, topic rights administered by the
bridge through mosquitto's dynamic-security plugin; docs/security.md): secrets reach only the nodes
an app targets, sealed; forged messages, from an anonymous client, from another node's credential
or delivered by a broker that lets anything through, change nothing on the node or in the bridge;
a deleted node is locked out; a deleted app is collected once its node acknowledged it.

One stack for the file: nodes east (region=east, zone=a) and west (region=east, zone=b). Tests
that stop west start it again."""
import os
import subprocess
import uuid

import pytest

import harness
from common import IMAGE, node_status, wait_phase, web_app
from node_util import cname, exec_in

IDLE = ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
MAX_VERSION = 2**63 - 1


@pytest.fixture(scope="module")
def stack(t):
    return t.stack(nodes=["east", "west"], secure=True,
                   labels={"east": {"region": "east", "zone": "a"},
                           "west": {"region": "east", "zone": "b"}})


def encode(t, obj):
    return harness.ferryctl_encode(t.build_dir, obj)


def debug_auth(t, stack, name):
    """A read-only broker credential from the bridge (POST /v1/broker/debug), as an MqttAuth."""
    code, body = stack.api.post("/v1/broker/debug", {"name": name})
    assert code == 201, f"debug credential: {code} {body}"
    return harness.MqttAuth(t.ca, body["username"], body["password"], body["clientId"])


def capture_when_allowed(stack, topics, auth, **kw):
    """A capture as auth, once the broker knows the credential (the bridge's grant goes out
    through its outbox)."""
    # The probe must be on a topic the credential reads (a debug credential reads ferry/#).
    kw.setdefault("probe_topic", f"ferry/{stack.ns}/probe/{uuid.uuid4().hex[:8]}")
    if isinstance(topics, str):
        topics = [topics]

    def attempt():
        try:
            return stack.capture(topics, auth=auth, timeout=3, **kw)
        except harness.PollTimeout:
            return None
    return harness.poll(attempt, 30, f"a capture as {auth.username}")


def publish_refused(t, topic, payload, auth):
    """mosquitto_pub as auth; returns its combined output when the broker refused the connection
    or the publish (a denied QoS 1 publish gets PUBACK 0x87), else fails."""
    cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(t.mqtts_port), "-V", "mqttv5", "-q", "1",
           "-t", topic, "-s", *auth]
    out = subprocess.run(cmd, input=payload, capture_output=True, timeout=30)
    text = (out.stdout + out.stderr).decode(errors="replace")
    assert out.returncode != 0 or "not authori" in text.lower(), \
        f"the broker accepted {topic} from {auth}: {out.returncode} {text}"
    return text


def broker_log():
    """The secure broker's log (scripts/services.sh writes it beside its state)."""
    path = os.path.join(os.environ.get("FERRY_TEST_DIR", ""), "mosquitto-tls.log")
    if not os.path.exists(path):
        pytest.skip("the secure broker's log is not at $FERRY_TEST_DIR/mosquitto-tls.log")
    with open(path, errors="replace") as f:
        return f.read()


def state_of(stack, app):
    """What the bridge believes about app and the nodes, for before/after comparisons."""
    code, status = stack.api.get(stack.path("apps", app, "status"))
    assert code == 200, (code, status)
    nodes = {n["node"]: (n.get("phase"), n.get("version"), n.get("online"))
             for n in status.get("nodes", [])}
    code, listing = stack.api.get(stack.path("apps"))
    return nodes, sorted(a["name"] for a in listing["items"])


def test_secret_only_where_targeted(t, stack):
    secret = f"s3cret-{uuid.uuid4().hex}"
    assert stack.api.post(stack.path("configs"),
                          {"name": "vault-creds", "kind": "secret",
                           "data": {"password": secret}})[0] == 201
    watcher = capture_when_allowed(stack, f"ferry/{stack.ns}/#", debug_auth(t, stack, "watch"))
    app = {"name": "vault",
           "selector": {"matchLabels": {"region": "east"},
                        "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
           "volumes": [{"name": "creds", "secret": {"name": "vault-creds"}}],
           "services": [{"name": "vault", "image": IMAGE, "command": IDLE,
                         "volumeMounts": [{"name": "creds", "mountPath": "/run/creds",
                                           "readOnly": True}]}]}
    assert stack.create_app(app)[0] == 201
    wait_phase(stack, "vault", "east", "Running")
    code, out = exec_in(t, cname(stack, "east", "vault", "vault"), ["cat", "/run/creds/password"])
    assert code == 0 and out == secret, (code, out)

    # east's bundle went sealed to east alone; west (excluded by matchExpressions, yet carrying
    # the label the app is published on) got none, and the value never crossed the broker.
    sealed = watcher.wait_for(
        lambda tp, p, r: tp == f"ferry/{stack.ns}/nodes/east/secrets/vault" or
        (tp == f"ferry/{stack.ns}/nodes/east/sync" and b"sealed" in p), 10, "east's bundle")
    print(f"east's bundle came on {sealed[0]} ({len(sealed[1])} bytes)")
    for tp, payload, _ in watcher.snapshot():
        assert not tp.startswith(f"ferry/{stack.ns}/nodes/west/secrets"), tp
        assert not (tp.endswith("/west/sync") and b"sealed" in payload), tp
        assert secret.encode() not in payload, f"the secret travels in clear on {tp}"
    assert "stored its secret bundle" not in stack.nodes["west"].log_text()
    assert node_status(stack, "vault", "west") is None

    # west's own credential cannot read east's topics: a capture as west (west stopped: the
    # credential is bound to its client id) on everything it might try sees only what west may
    # read. A change of the secret sends east a new bundle, then the app's patch on the label
    # topic west reads: once west's capture has the patch, the bundle would have come first.
    stack.nodes["west"].stop()
    west = stack.node_auth("west")
    probe = f"ferry/{stack.ns}/all/apps/probe-{uuid.uuid4().hex[:8]}"
    spy = capture_when_allowed(stack, [f"ferry/{stack.ns}/nodes/east/#",
                                       f"ferry/{stack.ns}/labels/region=east/apps/+"], west,
                               probe_topic=probe)
    before = stack.api.get(stack.path("apps", "vault"))[1]["version"]
    assert stack.api.put(stack.path("configs", "vault-creds"),
                         {"name": "vault-creds", "kind": "secret",
                          "data": {"password": secret + "-2"}})[0] == 200
    spy.wait_for(lambda tp, p, r: tp.endswith("/apps/vault") and p and
                 harness.ferryctl_decode(t.build_dir, [(tp, p)])[0][1].get("version", 0) > before,
                 20, "vault's new version on its label topic, as west")
    leaked = [tp for tp, _, _ in spy.snapshot() if "/nodes/east/" in tp]
    assert not leaked, f"west's credential read east's topics: {leaked}"
    stack.start_node("west")
    wait_phase(stack, "vault", "east", "Running",
               version=stack.api.get(stack.path("apps", "vault"))[1]["version"])
    code, out = exec_in(t, cname(stack, "east", "vault", "vault"), ["cat", "/run/creds/password"])
    assert code == 0 and out == secret + "-2", (code, out)


def forged_app(t, ns, version=MAX_VERSION):
    """An app.put that would own the node: privileged, host network, the host's / mounted."""
    return encode(t, {"v": 1, "type": "app.put", "ns": ns, "app": "evil", "version": version,
                      "spec": {"name": "evil", "hostNetwork": True,
                               "selector": {"matchLabels": {"region": "east"}},
                               "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
                               "services": [{"name": "evil", "image": IMAGE, "command": IDLE,
                                             "privileged": True,
                                             "volumeMounts": [{"name": "root",
                                                               "mountPath": "/host"}]}]}})


def test_forged_messages_refused(t, stack):
    ns = stack.ns
    assert stack.create_app(web_app("calm", "east", "calm"))[0] == 201
    wait_phase(stack, "calm", "east", "Running")
    wait_phase(stack, "calm", "west", "Running")
    ids = {n: sorted(c["Id"] for c in stack.pods(node=n)) for n in ("east", "west")}
    before = state_of(stack, "calm")
    label_topic = f"ferry/{ns}/labels/region=east/apps/evil"
    to_nodes = [  # bridge -> node messages
        (label_topic, forged_app(t, ns)),
        (f"ferry/{ns}/all/apps/calm",
         encode(t, {"v": 1, "type": "app.delete", "ns": ns, "app": "calm",
                    "version": MAX_VERSION})),
        (f"ferry/{ns}/nodes/east/sync",
         encode(t, {"v": 1, "type": "node.sync", "ns": ns, "node": "east", "rev": MAX_VERSION,
                    "registered": True, "labels": {"region": "east"}, "apps": []})),
    ]
    to_bridge = [  # node -> bridge messages, in east's name
        (f"ferry/{ns}/nodes/east/hello",
         encode(t, {"v": 1, "type": "node.hello", "ns": ns, "node": "east", "reason": "connect",
                    "apps": {}})),
        (f"ferry/{ns}/nodes/east/status/calm",
         encode(t, {"v": 1, "type": "app.status", "ns": ns, "node": "east", "app": "calm",
                    "version": MAX_VERSION, "phase": "Failed", "message": "forged", "ts": 1,
                    "containers": []})),
        (f"ferry/{ns}/nodes/east/online",
         encode(t, {"v": 1, "type": "node.online", "ns": ns, "node": "east", "online": False})),
    ]

    # (a) No credential: the broker refuses the connection (and says so in its log).
    anonymous = ["--cafile", t.ca]
    refused_before = broker_log().count("not authorised")
    for topic, payload in to_nodes + to_bridge:
        publish_refused(t, topic, payload, anonymous)
    harness.poll(lambda: broker_log().count("not authorised") >= refused_before + 6, 10,
                 "the broker's log of the 6 refused anonymous connections")
    # (b) west's valid credential: every one of these topics is east's or the bridge's.
    stack.nodes["west"].stop()
    west = stack.node_auth("west").args()
    for topic, payload in to_nodes + to_bridge:
        publish_refused(t, topic, payload, west)
    stack.start_node("west")
    # (c) A broker that lets everything through (the test's root client stands in for it):
    # unsigned, with a made-up signature, and retained, so that it would reach every later
    # subscriber. Nodes and the bridge refuse them on the signature.
    root = t.mqtts_admin
    for topic, payload in to_nodes:
        harness.mqtt_publish(t.mqtts_port, topic, payload, auth=root, retain=True)
        harness.mqtt_publish(t.mqtts_port, topic, payload, auth=root,
                             props=[("sig", "A" * 86)])
    for topic, payload in to_bridge:
        harness.mqtt_publish(t.mqtts_port, topic, payload, auth=root)
    east_log = stack.nodes["east"]
    harness.poll(lambda: f"refused a message on '{label_topic}': it is not signed"
                 in east_log.log_text(), 20, "east's refusal of the unsigned app.put")
    harness.poll(lambda: "its signature is not the bridge's" in east_log.log_text(), 20,
                 "east's refusal of the badly signed messages")
    harness.poll(lambda: f"refused a message on 'ferry/{ns}/nodes/east/status/calm'"
                 in stack.bridge.log_text(), 20, "the bridge's refusal of the forged status")
    # A node restarted now gets the retained forgery again, and refuses it again.
    stack.nodes["west"].stop()
    stack.start_node("west")
    harness.poll(lambda: stack.nodes["west"].log_text().count(
        f"refused a message on '{label_topic}'") >= 2, 20, "west's refusal of the retained forgery")

    # Nothing changed: the same containers (no "evil"), the same state in the bridge.
    wait_phase(stack, "calm", "west", "Running")
    assert {n: sorted(c["Id"] for c in stack.pods(node=n)) for n in ("east", "west")} == ids
    assert not stack.pods(app="evil")
    assert state_of(stack, "calm") == before
    harness.clear_retained(t.mqtts_port, label_topic, auth=root)
    harness.clear_retained(t.mqtts_port, f"ferry/{ns}/all/apps/calm", auth=root)
    harness.clear_retained(t.mqtts_port, f"ferry/{ns}/nodes/east/sync", auth=root)


def test_deleted_node_is_locked_out(t, stack):
    stack.add_node("gone")
    stack.labels["gone"] = {"region": "east"}
    stack.start_node("gone")
    auth = stack.node_auth("gone")
    refusals = stack.nodes["gone"].log_text().count("not connected to")
    code, body = stack.api.delete(stack.path("nodes", "gone"))
    assert code == 200, (code, body)
    # Its connection is closed and every later one refused; it hears of no new app.
    harness.poll(lambda: stack.nodes["gone"].log_text().count("not connected to") > refusals, 30,
                 "the deleted node's connection refused")
    stack.nodes["gone"].stop()
    publish_refused(t, f"ferry/{stack.ns}/nodes/gone/hello", b"x", auth.args())
    stack.start_node("gone", wait_online=False)
    assert stack.create_app(web_app("later", "east", "later"))[0] == 201
    wait_phase(stack, "later", "east", "Running")
    assert not stack.pods(node="gone", app="later")
    assert "app later" not in stack.nodes["gone"].log_text()
    stack.nodes["gone"].stop()
    del stack.nodes["gone"]


def test_deleted_app_is_collected(t, stack):
    brief = web_app("brief", "east", "brief")
    brief["selector"]["matchLabels"]["zone"] = "a"  # east only
    assert stack.create_app(brief)[0] == 201
    wait_phase(stack, "brief", "east", "Running")
    assert stack.api.delete(stack.path("apps", "brief"))[0] == 200
    wait_phase(stack, "brief", "east", "Removed")
    # A sync past the deletion (a relabel sends one) is east's acknowledgement: it forgets the
    # app and clears its retained status, and with the last status the bridge forgets it too.
    assert stack.api.put(stack.path("nodes", "east"),
                         {"labels": {"region": "east", "zone": "a", "seen": "1"}})[0] == 200
    harness.poll(lambda: stack.api.get(stack.path("apps", "brief", "status"))[0] == 404, 60,
                 "brief collected by the bridge")
    cap = stack.capture(f"ferry/{stack.ns}/nodes/+/status/brief")
    retained = [tp for tp, _, r in cap.snapshot() if r]
    assert not retained, f"retained statuses of a collected app: {retained}"
    assert "forgotten" in stack.nodes["east"].log_text()
