"""The API's contract, served: GET /v1/openapi.json is the document the build made from
schema/openapi.yaml (BUILD/openapi.json), public; and the server answers every operation of it
(no 404 "no route", no 405), with a status the document lists for that operation. The exchanges
are recorded like every other (FERRY_API_RECORD) and checked by openapi_check.py with the rest."""
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
