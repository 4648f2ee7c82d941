#!/usr/bin/env python3
"""The contract test of broker-bridge's REST API against its OpenAPI document (schema/openapi.yaml,
built as BUILD/openapi.json). Debian's python3 with python3-jsonschema (4.10: Draft 2020-12, the
dialect of OpenAPI 3.1); standard library otherwise.

    openapi_check.py exchanges --document BUILD/openapi.json FILE
        Validate every exchange the e2e suite recorded in FILE (harness.Api writes one JSON line
        per request when FERRY_API_RECORD=FILE): the path matches a path template of the document
        and the method an operation of it (or the server refused the request as no route: 401,
        403, 404, 405 with an error body); the query parameters are documented and valid; a
        request answered 2xx sent the body the operation documents (validated); the status is
        documented for the operation, the answer is JSON and validates against that response's
        schema. Fails naming each exchange (test, method, path, status) and the schema error.
        Exit 77 (skipped) when FILE holds no exchange (every e2e test was skipped).

    openapi_check.py routes --document BUILD/openapi.json --api-c broker-bridge/api.c
        Every row of api.c's routes[] is an operation of the document, with the same public/token
        rule, permission (x-ferry-permission) and request body, and the document has no other.

CTest runs `routes` with the unit tests and `exchanges` after the e2e tests
(tests/e2e/CMakeLists.txt: the fixture ferry_api_record)."""
import argparse
import collections
import json
import re
import sys

try:
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError:  # pragma: no cover
    print("openapi_check.py: python3-jsonschema is missing (scripts/deps.sh installs it)")
    sys.exit(77)

SKIP = 77
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# The paths each kind of path of api.c (ferry_api__path, parsed by ferry_api__parse_path) stands
# for. A new kind: add it here and to schema/openapi.yaml.
API_PATHS = {
    "FERRY_API_HEALTH": ["/healthz"],
    "FERRY_API_OPENAPI": ["/v1/openapi.json"],
    "FERRY_API_METRICS": ["/metrics"],
    "FERRY_API_TOKENS": ["/v1/tokens"],
    "FERRY_API_TOKEN": ["/v1/tokens/{id}"],
    "FERRY_API_LIST": ["/v1/namespaces/{ns}/apps", "/v1/namespaces/{ns}/nodes",
                       "/v1/namespaces/{ns}/configs"],
    "FERRY_API_ITEM": ["/v1/namespaces/{ns}/apps/{name}", "/v1/namespaces/{ns}/nodes/{name}",
                       "/v1/namespaces/{ns}/configs/{name}"],
    "FERRY_API_SUB": ["/v1/namespaces/{ns}/apps/{name}/status",
                      "/v1/namespaces/{ns}/nodes/{name}/apps"],
    "FERRY_API_APP_STATS": ["/v1/namespaces/{ns}/apps/{name}/stats"],
    "FERRY_API_NODE_LOGS": ["/v1/namespaces/{ns}/nodes/{name}/logs"],
    "FERRY_API_ENROLL_TOKEN": ["/v1/namespaces/{ns}/nodes/{name}/enroll"],
    "FERRY_API_ENROLL": ["/v1/enroll"],
    "FERRY_API_DEBUG": ["/v1/broker/debug"],
    "FERRY_API_DEBUG_ITEM": ["/v1/broker/debug/{name}"],
}
PERMS = {"FERRY_PERM_READ": "read", "FERRY_PERM_WRITE": "write",
         "FERRY_PERM_PRIVILEGED": "privileged", "FERRY_PERM_ADMIN": "admin"}


class Doc:
    """The document, its path templates as patterns and a validator per schema."""

    def __init__(self, path):
        with open(path) as f:
            self.doc = json.load(f)
        self.resolver = jsonschema.RefResolver.from_schema(self.doc)
        self.templates = []
        for tmpl in self.doc["paths"]:
            literal = sum(1 for s in tmpl.split("/") if s and not s.startswith("{"))
            rx = "^" + re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(tmpl)) + "$"
            self.templates.append((literal, tmpl, re.compile(rx)))
        self.templates.sort(key=lambda t: -t[0])

    def deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            node = self.resolver.resolve(node["$ref"])[1]
        return node

    def match(self, path):
        """(template, {param: value}) of path, or (None, None)."""
        for _, tmpl, rx in self.templates:
            m = rx.match(path)
            if m:
                return tmpl, m.groupdict()
        return None, None

    def operations(self):
        for tmpl, item in self.doc["paths"].items():
            for method in METHODS:
                if method in item:
                    yield tmpl, method, item[method]

    def parameters(self, tmpl, method):
        """{(in, name): parameter} of an operation (its own over the path item's)."""
        item = self.doc["paths"][tmpl]
        out = {}
        for p in item.get("parameters", []) + item[method].get("parameters", []):
            p = self.deref(p)
            out[(p["in"], p["name"])] = p
        return out

    def errors(self, schema, value):
        """The validation errors of value against schema (best first), as text."""
        v = Draft202012Validator(schema, resolver=self.resolver)
        errs = sorted(v.iter_errors(value), key=jsonschema.exceptions.relevance)
        if not errs:
            return None
        best = jsonschema.exceptions.best_match(errs)
        where = "/".join(str(p) for p in best.absolute_path) or "(root)"
        text = best.message
        if len(text) > 400:
            text = text[:400] + "..."
        return f"at {where}: {text} (schema {'/'.join(str(p) for p in best.absolute_schema_path)})"


def check_exchange(doc, x):
    """The failure of one exchange as text, or None; and what it covered."""
    method, path, status = x["method"].lower(), x["path"], x["status"]
    resp = x["response"]
    tmpl, params = doc.match(path)
    refused = status in (401, 403, 404, 405)
    error_schema = {"$ref": "#/components/schemas/Error"}

    if tmpl is None or method not in doc.doc["paths"][tmpl]:
        what = "no path template matches" if tmpl is None else f"{tmpl} has no {method.upper()}"
        if not refused:
            return f"the server answered {status} but the document lacks the route ({what})", None
        if "json" not in resp:
            return f"refused ({what}) without a JSON error body", None
        err = doc.errors(error_schema, resp["json"])
        return (f"refused ({what}) with a body that is not an Error: {err}" if err else None), None

    op = doc.doc["paths"][tmpl][method]
    key = (tmpl, method)
    declared = doc.parameters(tmpl, method)
    for name, value in params.items():
        p = declared.get(("path", name))
        if p is None:
            return f"{tmpl}: path parameter {name!r} is not declared", key
    seen = collections.Counter(k for k, _ in x["query"])
    for name, value in x["query"]:
        p = declared.get(("query", name))
        if p is None:
            if 200 <= status < 300:
                return f"query parameter {name!r} is not documented for {method.upper()} {tmpl}", key
            continue
        err = doc.errors(p.get("schema", {}), value)
        if err and 200 <= status < 300:
            return f"query parameter {name}={value!r} answered {status}: {err}", key
    for (where, name), p in declared.items():
        if where == "query" and p.get("required") and name not in seen and 200 <= status < 300:
            return f"required query parameter {name!r} missing, answered {status}", key

    public = op.get("security", doc.doc.get("security")) == []
    if not public and not x.get("token") and 200 <= status < 300:
        return f"answered {status} without a token, but the operation is not public", key

    body = op.get("requestBody")
    if 200 <= status < 300:
        if body is not None:
            content = doc.deref(body)["content"].get("application/json")
            if "json" not in x["request"]:
                if doc.deref(body).get("required"):
                    return f"answered {status} to a request without the required JSON body", key
            else:
                err = doc.errors(content["schema"], x["request"]["json"])
                if err:
                    return f"the request body answered {status} is not valid: {err}", key
        elif not x["request"].get("absent"):
            return f"answered {status} to a request with a body, but the operation takes none", key

    responses = op["responses"]
    r = responses.get(str(status), responses.get(f"{str(status)[0]}XX", responses.get("default")))
    if r is None:
        return (f"status {status} is not documented for {method.upper()} {tmpl} "
                f"(documented: {', '.join(sorted(responses))})"), key
    r = doc.deref(r)
    content = r.get("content", {})
    if not content:
        return None if resp.get("absent") else "an answer with a body the document lacks", key
    rtype = (x.get("responseType") or "").split(";")[0].strip()
    media = content.get(rtype)
    if media is None:
        return (f"answered Content-Type {x.get('responseType')!r}; documented for {status}: "
                f"{', '.join(content)}"), key
    if rtype == "application/json":
        if "json" not in resp:
            return f"the answer is not JSON: {str(resp)[:200]}", key
        value = resp["json"]
    else:  # text: the body as text (harness.Api records a text body that parses as JSON as such)
        value = resp.get("text", "" if resp.get("absent") else json.dumps(resp.get("json")))
    err = doc.errors(media.get("schema", {}), value)
    if err:
        return f"the {status} answer does not validate: {err}", key
    return None, key


def cmd_exchanges(args):
    doc = Doc(args.document)
    exchanges = []
    try:
        with open(args.file) as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        exchanges.append(json.loads(line))
                    except ValueError as e:
                        print(f"{args.file}:{n}: not JSON ({e}): a torn line?")
                        return 1
    except FileNotFoundError:
        pass
    if not exchanges:
        print(f"no exchanges in {args.file}: the e2e tests were skipped or did not record "
              "(FERRY_API_RECORD); nothing to check")
        return SKIP
    failures = collections.OrderedDict()  # (route, status, message) -> [exchanges]
    covered = collections.Counter()
    statuses = collections.defaultdict(set)
    unrouted = 0
    for x in exchanges:
        msg, key = check_exchange(doc, x)
        if key is None and msg is None:
            unrouted += 1
        if key is not None:
            covered[key] += 1
            statuses[key].add(x["status"])
        if msg is not None:
            route = f"{x['method']} {doc.match(x['path'])[0] or x['path']}"
            failures.setdefault((route, x["status"], msg), []).append(x)
    ops = list(doc.operations())
    print(f"{len(exchanges)} exchanges: {sum(covered.values())} on {len(covered)} of the "
          f"{len(ops)} operations, {unrouted} refused as no route, "
          f"{len(exchanges) - sum(covered.values()) - unrouted} on routes the document lacks")
    for tmpl, method, _ in ops:
        key = (tmpl, method)
        seen = ", ".join(str(s) for s in sorted(statuses[key])) if key in statuses else "-"
        print(f"  {method.upper():6} {tmpl:48} {covered[key]:5}  statuses: {seen}")
    if not failures:
        print("every exchange agrees with the document")
        return 0
    print(f"\n{sum(len(v) for v in failures.values())} exchanges disagree with the document "
          f"({len(failures)} distinct):")
    for (route, status, msg), xs in failures.items():
        x = xs[0]
        query = "?" + "&".join(f"{k}={v}" for k, v in x["query"]) if x["query"] else ""
        print(f"\nFAIL {x['method']} {x['path']}{query} -> {status} ({x.get('test') or '?'}"
              f"{f'; and {len(xs) - 1} more like it' if len(xs) > 1 else ''}):\n  {msg}")
        if args.verbose:
            print("  request:", json.dumps(x["request"])[:600])
            print("  response:", json.dumps(x["response"])[:600])
    return 1


def cmd_routes(args):
    doc = Doc(args.document)
    with open(args.api_c) as f:
        src = f.read()
    table = re.search(r"static const route_row routes\[\] = \{(.*?)\n\};", src, re.S)
    if table is None:
        print(f"{args.api_c}: no routes[] table found")
        return 1
    rows = re.findall(r'\{\s*(FERRY_API_[A-Z_]+)\s*,\s*"([A-Z]+)"\s*,\s*\{\s*(true|false)\s*,'
                      r'\s*(FERRY_PERM_[A-Z]+)\s*,\s*(true|false)\s*\}', table.group(1))
    if not rows:
        print(f"{args.api_c}: routes[] has no rows this script understands")
        return 1
    fails = []
    from_c = set()
    for kind, method, public, perm, body in rows:
        if kind not in API_PATHS:
            fails.append(f"routes[]: {kind} is unknown here: add its paths to API_PATHS in "
                         f"{__file__} and to schema/openapi.yaml")
            continue
        for tmpl in API_PATHS[kind]:
            m = method.lower()
            from_c.add((tmpl, m))
            op = doc.doc["paths"].get(tmpl, {}).get(m)
            if op is None:
                fails.append(f"{method} {tmpl} ({kind}) is not in the document")
                continue
            is_public = op.get("security", doc.doc.get("security")) == []
            if is_public != (public == "true"):
                fails.append(f"{method} {tmpl}: api.c says public={public}, the document "
                             f"security={op.get('security', 'the default')}")
            want = "public" if public == "true" else PERMS[perm]
            if op.get("x-ferry-permission") != want:
                fails.append(f"{method} {tmpl}: x-ferry-permission "
                             f"{op.get('x-ferry-permission')!r}, api.c says {want!r}")
            if ("requestBody" in op) != (body == "true"):
                fails.append(f"{method} {tmpl}: api.c says takes a body={body}, the document "
                             f"{'has' if 'requestBody' in op else 'has no'} requestBody")
    for tmpl, method, _ in doc.operations():
        if (tmpl, method) not in from_c:
            fails.append(f"{method.upper()} {tmpl} is in the document but no row of routes[]")
    for f in fails:
        print("FAIL", f)
    print(f"{len(rows)} rows of routes[], {len(from_c)} operations: "
          f"{'all in the document' if not fails else f'{len(fails)} problems'}")
    return 1 if fails else 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("exchanges")
    e.add_argument("--document", required=True)
    e.add_argument("--verbose", "-v", action="store_true")
    e.add_argument("file")
    r = sub.add_parser("routes")
    r.add_argument("--document", required=True)
    r.add_argument("--api-c", required=True)
    args = ap.parse_args(argv)
    return cmd_exchanges(args) if args.cmd == "exchanges" else cmd_routes(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
