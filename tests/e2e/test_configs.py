"""End to end through the real broker-bridge daemon on the secure broker: config objects (CRUD,
secret values never returned, never in the LMDB file, delete-in-use 409, missing references 400),
what travels on label topics (the app.put's "resolved" files, and of secret material only digests,
taken from the broker and decoded with ferryctl), a config change re-publishing its apps, the
selector preview, the Scheduled display, and kill -9 of the bridge: configs survive and secrets
still decrypt into what an enrolled node gets. Each test has a bridge of its own (mostly without
nodes: what nodes get is read from the broker)."""
import base64
import hashlib
import os
import signal
import stat
import urllib.parse

import pytest

import harness
from common import wait_phase
from node_util import cname, exec_in

SECRET = "s3cret-e2e-PLAINTEXT-51d0"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nKEY-e2e-PLAINTEXT-c3a9\n-----END PRIVATE KEY-----\n"
CERT_PEM = "-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n"
PASSWORD = "pass-e2e-PLAINTEXT-0b7f"
CONFIGS = [
    {"name": "app-config", "kind": "config", "data": {"app.conf": "port=80\n"},
     "binaryData": {"logo.png": base64.b64encode(b"\x00\x01\x02").decode()}},
    {"name": "app-secret", "kind": "secret", "data": {"password": SECRET}},
    {"name": "app-cert", "kind": "certificate",
     "certificate": {"cert": CERT_PEM, "key": KEY_PEM}},
    {"name": "my-registry", "kind": "registry",
     "registry": {"server": "127.0.0.1:5000", "username": "u", "password": PASSWORD}},
]


@pytest.fixture
def stack(t):
    if t.engine_name != "docker":
        pytest.skip("the configs' REST side does not depend on the engine; run once")
    return t.stack(secure=True)


@pytest.fixture
def cap(t, stack):
    """Every message of the stack's namespace on the broker."""
    return stack.capture(f"ferry/{stack.ns}/#")


def create_configs(stack):
    """CRUD: 201 with the version."""
    for c in CONFIGS:
        code, body = stack.api.post(stack.path("configs"), c)
        assert code == 201 and body["version"] >= 1, (code, body)


def create_web(t, stack, cap):
    """The app web using every config; returns (its body, the decoded app.put nodes got)."""
    code, web = stack.create_app(app_using("web"))
    assert code == 201, (code, web)
    return web, wait_put(t, cap, "web", web["version"])


def change_app_config(stack):
    code, cfg2 = stack.api.put(stack.path("configs", "app-config"),
                               dict(CONFIGS[0], data={"app.conf": "port=8080\n"}))
    assert code == 200, (code, cfg2)
    return cfg2


def digest(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def app_using(name, region="east"):
    """An app mounting the config, the secret and the certificate and pulling with the registry."""
    return {"name": name, "selector": {"matchLabels": {"region": region}},
            "volumes": [{"name": "cfg", "config": {"name": "app-config"}},
                        {"name": "creds", "secret": {"name": "app-secret"}},
                        {"name": "tls", "certificate": {"name": "app-cert"}}],
            "registries": ["my-registry"],
            "services": [{"name": "web", "image": "ferry-test/busybox:1",
                          "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"},
                                           {"name": "creds", "mountPath": "/run/creds"},
                                           {"name": "tls", "mountPath": "/tls"}]}]}


def wire_specs(t, cap, app):
    """The app.put / app.patch messages of app captured so far, decoded: [(topic, obj)]."""
    msgs = [m for m in cap.snapshot() if m[0].endswith(f"/apps/{app}")]
    return [(tp, obj) for tp, obj in harness.ferryctl_decode(t.build_dir, msgs) if obj]


def wait_put(t, cap, app, version):
    """The decoded app.put of app at version, once the broker delivered it."""
    def find():
        for _, obj in wire_specs(t, cap, app):
            if obj.get("type") == "app.put" and obj.get("version") == version:
                return obj
        return None
    return harness.poll(find, 20, f"app.put of {app} v{version}")


def file_text(spec, config, name):
    entry = spec["resolved"]["configs"][config]["files"][name]
    return base64.b64decode(entry["data"]).decode(), entry["mode"]


def file_digest(spec, config, name):
    """A secret file in the public wire form: its digest and mode, never its data."""
    entry = spec["resolved"]["configs"][config]["files"][name]
    assert "data" not in entry, f"{config}/{name} travels in clear: {entry}"
    return entry["digest"], entry["mode"]


def no_secret_on_the_wire(t, cap):
    """No captured payload holds a secret value, plain or in base64 (they go sealed per node)."""
    for topic, payload, _ in cap.snapshot():
        for plain in (SECRET, KEY_PEM.splitlines()[1], PASSWORD):
            for form in (plain.encode(), base64.b64encode(plain.encode())):
                assert form not in payload, f"{plain!r} travels in clear on {topic}"


def test_key_file_is_made_owner_only(stack):
    # The key file: created at first start beside the data folder, owner-only.
    key_file = os.path.join(stack.dir, "bridge-data.key")
    st = os.stat(key_file)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32, (oct(st.st_mode), st.st_size)


def test_crud_answers_secret_values_as_digests_only(stack):
    api, p = stack.api, stack.path
    create_configs(stack)
    code, body = api.post(p("configs"), CONFIGS[0])
    assert code == 409, (code, body)
    code, body = api.post(p("configs"), {"name": "bad", "kind": "config", "data": {"../b": "x"}})
    assert code == 400 and body["field"].startswith("data"), (code, body)

    code, s = api.get(p("configs", "app-secret"))
    assert code == 200 and s["data"] == {"password": {"digest": digest(SECRET)}}, s
    code, c = api.get(p("configs", "app-cert"))
    assert c["certificate"]["key"] == {"digest": digest(KEY_PEM)}, c
    assert c["certificate"]["cert"] == CERT_PEM, c
    code, r = api.get(p("configs", "my-registry"))
    assert r["registry"]["password"] == {"digest": digest(PASSWORD)}, r
    code, page = api.get(p("configs") + "?pageSize=2&page=1")
    assert page["total"] == 4 and len(page["items"]) == 2, page
    code, page = api.get(p("configs") + "?kind=secret")
    assert [x["name"] for x in page["items"]] == ["app-secret"], page
    code, page = api.get(p("configs") + "?name=APP-")
    assert page["total"] == 3, page
    listed = str(api.get(p("configs"))[1])
    for plain in (SECRET, KEY_PEM, PASSWORD):
        assert plain not in listed, f"{plain!r} returned by the list"


def test_app_naming_a_missing_config_is_refused(stack):
    # An app naming a missing config is refused naming the field; nothing is stored.
    create_configs(stack)
    bad = app_using("broken")
    bad["volumes"][1]["secret"]["name"] = "nope"
    code, body = stack.create_app(bad)
    assert code == 400 and body["field"] == "volumes[1].secret.name", (code, body)
    assert stack.api.get(stack.path("apps", "broken"))[0] == 404


def test_label_topics_carry_files_and_digests_of_secrets(t, stack, cap):
    # A good app: app.put's resolved member carries the config files, and of the secret material
    # (secret files, the certificate's key, registry passwords) only digests: the values go
    # sealed to each targeted node (test_trust.py, test_volumes.py).
    create_configs(stack)
    _, put = create_web(t, stack, cap)
    spec = put["spec"]
    assert file_digest(spec, "app-secret", "password") == (digest(SECRET), 0o600), spec["resolved"]
    assert file_digest(spec, "app-cert", "tls.key") == (digest(KEY_PEM), 0o600)
    assert file_text(spec, "app-config", "app.conf") == ("port=80\n", 0o644)
    assert spec["resolved"]["registries"] == [
        {"name": "my-registry", "server": "127.0.0.1:5000", "username": "u",
         "passwordDigest": digest(PASSWORD)}], spec["resolved"]
    assert spec["resolved"]["secrets"].startswith("sha256:"), spec["resolved"]
    no_secret_on_the_wire(t, cap)
    assert "resolved" not in stack.api.get(stack.path("apps", "web"))[1]


def test_deleting_a_config_in_use_is_refused(t, stack, cap):
    # Deleting a config in use: 409 naming the apps.
    create_configs(stack)
    create_web(t, stack, cap)
    code, body = stack.api.delete(stack.path("configs", "app-secret"))
    assert code == 409 and body == {"error": "config 'app-secret' is used by apps: web",
                                    "field": "name"}, (code, body)


def test_config_change_republishes_its_apps(t, stack, cap):
    # A config change re-publishes the app with a new version and the new file.
    create_configs(stack)
    web, _ = create_web(t, stack, cap)
    cfg2 = change_app_config(stack)
    assert cfg2["version"] > web["version"], cfg2
    code, web2 = stack.api.get(stack.path("apps", "web"))
    assert web2["version"] > cfg2["version"], (web2, cfg2)

    def republished():
        for _, obj in wire_specs(t, cap, "web"):
            if obj.get("version") == web2["version"]:
                return obj
        return None
    msg = harness.poll(republished, 20, f"web v{web2['version']} on the broker")
    if msg["type"] == "app.patch":
        assert msg["base"] == web["version"], msg
        assert "port=8080" in str(msg["patch"]) or \
            base64.b64encode(b"port=8080\n").decode() in str(msg["patch"]), msg
    else:
        assert file_text(msg["spec"], "app-config", "app.conf") == ("port=8080\n", 0o644)


def test_selector_preview(stack):
    # Selector preview: the registered nodes a selector matches now.
    api, p = stack.api, stack.path
    for name, labels in (("n1", {"region": "east", "tier": "gw"}),
                         ("n2", {"region": "east", "tier": "edge", "gpu": "yes"}),
                         ("n3", {"region": "west", "tier": "gw"})):
        assert stack.register_node(name, labels)[0] == 201
    q = urllib.parse.quote("region=east,tier in (gw,edge),!gpu", safe="")
    code, body = api.get(p("nodes") + f"?selector={q}")
    assert code == 200 and [n["name"] for n in body["items"]] == ["n1"], (code, body)
    q = urllib.parse.quote('{"matchLabels":{"tier":"gw"}}', safe="")
    code, body = api.get(p("nodes") + f"?selector={q}")
    assert [n["name"] for n in body["items"]] == ["n1", "n3"], body
    code, body = api.get(p("nodes") + "?selector=" + urllib.parse.quote("tier in (", safe=""))
    assert code == 400 and body["field"] == "selector", (code, body)


def test_scheduled_app_is_shown_as_scheduled(stack):
    # Scheduled: shown until its time.
    create_configs(stack)
    later = dict(app_using("later"), deploy={"at": "2099-01-01T00:00:00Z"})
    code, body = stack.create_app(later)
    assert code == 201 and body["deployState"] == "Scheduled", body
    code, status = stack.api.get(stack.path("apps", "later", "status"))
    assert status["summary"]["deployState"] == "Scheduled", status
    assert status["summary"]["deployAt"] == "2099-01-01T00:00:00Z", status


def test_kill_9_configs_survive_encrypted_and_still_decrypt(t, stack, cap):
    # kill -9: configs survive, secrets are still only digests and still decrypt for nodes.
    api, p = stack.api, stack.path
    create_configs(stack)
    change_app_config(stack)
    stack.kill_bridge(signal.SIGKILL)
    data = open(os.path.join(stack.dir, "bridge-data", "data.mdb"), "rb").read()
    for plain in (SECRET, KEY_PEM.splitlines()[1], PASSWORD):
        assert plain.encode() not in data, f"{plain!r} is in the LMDB file in clear"
        assert base64.b64encode(plain.encode()) not in data, f"{plain!r} in base64 in LMDB"
    stack.start_bridge()
    code, s = api.get(p("configs", "app-secret"))
    assert code == 200 and s["data"] == {"password": {"digest": digest(SECRET)}}, s
    assert api.get(p("configs"))[1]["total"] == 4
    code, api2 = stack.create_app(app_using("api"))
    assert code == 201, (code, api2)
    put = wait_put(t, cap, "api", api2["version"])
    assert file_digest(put["spec"], "app-secret", "password") == (digest(SECRET), 0o600)
    assert put["spec"]["resolved"]["registries"][0]["passwordDigest"] == digest(PASSWORD)
    assert file_text(put["spec"], "app-config", "app.conf") == ("port=8080\n", 0o644)
    no_secret_on_the_wire(t, cap)
    # Still decrypt: a node that enrolls now gets the bundle sealed to it, and the secret file.
    stack.add_node("east")
    stack.labels["east"] = {"region": "east"}
    stack.start_node("east")
    spec = dict(app_using("vault"), services=[{
        "name": "vault", "image": "ferry-test/busybox:1",
        "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"],
        "volumeMounts": [{"name": "creds", "mountPath": "/run/creds"}]}])
    spec["volumes"] = [v for v in spec["volumes"] if v["name"] == "creds"]
    spec.pop("registries")
    assert stack.create_app(spec)[0] == 201
    wait_phase(stack, "vault", "east", "Running")
    code, out = exec_in(t, cname(stack, "east", "vault", "vault"), ["cat", "/run/creds/password"])
    assert code == 0 and out == SECRET, (code, out)
