"""The API's contract, served: GET /v1/openapi.json is the document the build made from
schema/openapi.yaml (BUILD/openapi.json), public; and the server answers every operation of it
(no 404 "no route", no 405), with a status the document lists for that operation. The exchanges
are recorded like every other (FERRY_API_RECORD) and checked by openapi_check.py with the rest."""
import base64
import json
import os
import re

import pytest

import harness
from openapi_check import Doc


@pytest.fixture
def stack(t):
    if t.engine_name != "docker":
        pytest.skip("the REST contract does not depend on the engine; run once")
    return t.stack()


def built(t):
    path = os.path.join(t.build_dir, "openapi.json")
    with open(path) as f:
        return path, json.load(f)


def test_served_document_is_the_built_one_and_public(t, stack):
    path, doc = built(t)
    code, body = stack.api.get("/v1/openapi.json")
    assert code == 200 and body == doc, (code, "the served document differs from " + path)
    anonymous = harness.Api(stack.url)
    code, body = anonymous.get("/v1/openapi.json")
    assert code == 200 and body == doc, (code, "public: served without a token")
    assert body["openapi"].startswith("3.1"), body["openapi"]


def test_every_documented_operation_is_served(t, stack):
    """Each operation with its path parameters filled in (objects that do not exist) and an empty
    JSON body where it takes one: the server routes it (whatever the handler then answers) and
    answers a status the document lists."""
    path, raw = built(t)
    doc = Doc(path)
    probed = 0
    for tmpl, method, op in doc.operations():
        url = re.sub(r"\{ns\}", stack.ns, tmpl)
        url = re.sub(r"\{id\}", "0123456789abcdef", url)
        url = re.sub(r"\{[a-z]+\}", "no-such-object", url)
        body = {} if "requestBody" in op else None
        code, answer = stack.api.request(method.upper(), url, body)
        probed += 1
        assert code not in (405,), (method, url, code, answer)
        assert not (code == 404 and "no route" in str(answer)), (method, url, code, answer)
        assert str(code) in op["responses"], (method, tmpl, code, answer)
    assert probed == len(list(doc.operations())) and probed >= 28


def test_tokens_and_enrollment_answer_as_documented(t, stack):
    """The routes the rest of the suite reaches only through edge-sync or not at all (tokens,
    POST /v1/enroll), once each way, so that the contract test sees their answers."""
    api, p = stack.api, stack.path
    code, made = api.post("/v1/tokens", {"name": "oa-viewer", "role": "viewer",
                                         "namespaces": [stack.ns]})
    assert code == 201 and made["token"].startswith("ferry_"), (code, made)
    code, listed = api.get("/v1/tokens")
    assert code == 200 and made["id"] in [x["id"] for x in listed["items"]], (code, listed)
    assert api.get(f"/v1/tokens/{made['id']}")[0] == 200
    assert api.post("/v1/tokens", {"name": "oa-viewer", "role": "viewer",
                                   "namespaces": [stack.ns]})[0] == 409
    viewer = harness.Api(stack.url, token=made["token"])
    assert viewer.get(p("apps"))[0] == 200
    code, body = viewer.post(p("nodes"), {"name": "n1"})
    assert code == 403 and body["permission"] == "write", (code, body)
    assert api.delete(f"/v1/tokens/{made['id']}")[0] == 200
    assert viewer.get(p("apps"))[0] == 401
    assert harness.Api(stack.url).get(p("apps"))[0] == 401
    assert api.request("PATCH", p("apps"))[0] == 405
    assert api.get("/v1/no-such-route")[0] == 404

    assert stack.register_node("oa-node", {"zone": "a"})[0] == 201
    code, issued = api.post(p("nodes", "oa-node", "enroll"))
    assert code == 201, (code, issued)
    key = base64.b64encode(os.urandom(32)).decode()
    code, ident = harness.Api(stack.url).post("/v1/enroll", {"token": issued["token"],
                                                             "signKey": key, "boxKey": key})
    assert code == 200 and ident["node"] == "oa-node", (code, ident)
    code, node = api.get(p("nodes", "oa-node"))
    assert code == 200 and node["enrolled"], (code, node)
