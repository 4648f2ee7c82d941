"""Shared pieces of Ferry's end-to-end scenarios: example apps and status look-ups."""
import harness

IMAGE = "ferry-test/busybox:1"
# Serves $GREETING over HTTP on 8080, so a test can see which version of the env is running.
# The shell stays PID 1 and exits on SIGTERM, so a replaced container stops at once instead of
# waiting out the engine's stop timeout (httpd as PID 1 would ignore SIGTERM).
SERVE = ["sh", "-c", "mkdir -p /www; echo \"$GREETING\" > /www/index.html; trap 'exit 0' TERM; "
         "httpd -f -p 8080 -h /www & wait"]


def web_app(name, region, greeting, host_port=None, services=1):
    """An app of `services` httpd services (the first one publishing host_port when given).
    Service names start with the app's name: two apps on one node may not share a service name
    (the later one fails there)."""
    svcs = []
    for i in range(services):
        svc = {"name": name if i == 0 else f"{name}-side{i}", "image": IMAGE, "command": SERVE,
               "env": [{"name": "GREETING", "value": greeting}]}
        if i == 0:
            svc["ports"] = [{"containerPort": 8080, "protocol": "TCP"}]
            if host_port:
                svc["ports"][0]["hostPort"] = host_port
        else:
            # Each service of a pod shares the network namespace: give the others their own port.
            svc["command"] = ["sh", "-c", f"mkdir -p /w; trap 'exit 0' TERM; "
                              f"httpd -f -p {8080 + i} -h /w & wait"]
        svcs.append(svc)
    return {"name": name, "description": "e2e", "labels": {"team": "iot"},
            "selector": {"matchLabels": {"region": region}}, "services": svcs, "replicas": 1}


def node_status(stack, app, node):
    """The status API's entry for node, or None."""
    code, body = stack.api.get(stack.path("apps", app, "status"))
    if code != 200:
        return None
    for entry in body.get("nodes", []):
        if entry.get("node") == node:
            return entry
    return None


def wait_phase(stack, app, node, phase, version=None, timeout=90):
    """Poll the status API until node reports phase (at version, when given)."""
    def check():
        stack.check_alive()
        st = node_status(stack, app, node)
        if st and st.get("phase") == phase and (version is None or st.get("version") == version):
            return st
        return None
    try:
        return harness.poll(check, timeout, f"{app} {phase} v{version} on {node}", interval=0.2)
    except harness.PollTimeout as e:
        raise harness.PollTimeout(f"{e}; status now: {stack.api.get(stack.path('apps', app, 'status'))}")


def app_names_on(stack, node):
    """The set of app names that have containers of node on the engine."""
    return {c["Labels"].get("io.ferry.app") for c in stack.pods(node=node)}


def selector_matches(selector, labels):
    """Kubernetes selector semantics (schema/selector.c), for tests and benchmarks that model
    which nodes an app selects: matchLabels and matchExpressions In, NotIn, Exists,
    DoesNotExist; no selector selects every node."""
    if not selector:
        return True
    for k, v in selector.get("matchLabels", {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions", []):
        k, op, vals = e["key"], e["operator"], e.get("values", [])
        ok = {"In": k in labels and labels[k] in vals,
              "NotIn": k not in labels or labels[k] not in vals,
              "Exists": k in labels, "DoesNotExist": k not in labels}[op]
        if not ok:
            return False
    return True
