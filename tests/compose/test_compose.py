#!/usr/bin/env python3
"""docker-compose.yml with Debian's docker-compose 1.29 on the private dockerd of
scripts/services.sh (FERRY_TEST_DOCKER_SOCK; skipped, 77, without it, without root or without
docker-compose): the stack comes up from images built from this tree on a local base image
(packaging/docker/base-image.sh: debootstrap + docker import, no registry), a node registers,
the example app (examples/web.json on a free port) and an app with a config volume and an
emptyDir run (the status API says Running, the engine runs the containers, httpd answers, the
config file and the emptyDir are seen inside the container and on the host at the same path),
and `docker-compose down -v` plus the removal of the pods leave nothing behind.

The image ferry:local is built only when the engine has none labelled with the hash of the
sources (io.ferry.inputs); the base image only when the engine lacks it (its root is cached
under /var/cache/ferry-test). Prints the time of each phase. Measured here (2 cores, loaded): the
stack with everything cached ~37 s; building ferry:local ~3-5 min more; a missing base image
36 s more (cached root) or ~24 min (debootstrap, packaging/docker/base-image.sh)."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness  # noqa: E402 - the e2e helpers: Api, Engine, poll, free_port, http_get

SKIP = 77
IMAGE = "ferry:local"
BASE = "ferry-base:bookworm"
NODE = "edge-1"
NS = "default"
T0 = time.monotonic()


def step(what):
    print(f"[{time.monotonic() - T0:6.1f}s] {what}", flush=True)


def run(argv, env=None, check=True, capture=False, timeout=1200):
    r = subprocess.run(argv, cwd=ROOT, env=env, timeout=timeout, text=True,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.STDOUT if capture else None)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited with {r.returncode}"
                             + (f": {r.stdout[-3000:]}" if capture else ""))
    return r


# Top-level names .dockerignore keeps out of the build context (keep both lists equal).
CONTEXT_EXCLUDED = {b"docs", b"examples", b"fuzz", b"scripts", b"tests", b".run"}


def source_hash():
    """sha256 of every file in the build context that git knows or would add (tracked and
    untracked, not ignored), with its path: what the image is built from. Editing a test or a
    doc does not make the image stale."""
    files = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.split(b"\0")
    h = hashlib.sha256()
    for f in sorted(x for x in files if x and x.split(b"/")[0] not in CONTEXT_EXCLUDED):
        p = os.path.join(ROOT, f.decode())
        if os.path.isfile(p):
            h.update(f + b"\0")
            with open(p, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()[:32]


def image_label(engine, ref, label):
    code, body = engine.request("GET", f"/images/{ref}/json")
    if code != 200:
        return None
    return ((body.get("Config") or {}).get("Labels") or {}).get(label)


def main():
    sock = os.environ.get("FERRY_TEST_DOCKER_SOCK")
    if not sock:
        print("skipped: FERRY_TEST_DOCKER_SOCK unset (scripts/services.sh)")
        return SKIP
    if os.geteuid() != 0:
        print("skipped: needs root (debootstrap for the base image)")
        return SKIP
    compose = shutil.which("docker-compose")
    if compose is None:
        print("skipped: no docker-compose (scripts/deps.sh installs it)")
        return SKIP
    engine = harness.Engine(sock)
    tmp = tempfile.mkdtemp(prefix="ferry-compose.")
    project = f"ferrytest{os.getpid()}"
    api_port, mqtt_port, gw_port, web_port = (harness.free_port() for _ in range(4))
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", COMPOSE_PROJECT_NAME=project,
               FERRY_BUILD_BASE=BASE, FERRY_RUN_BASE=BASE, FERRY_MOSQUITTO_IMAGE=BASE,
               FERRY_API_PORT=str(api_port), FERRY_MQTT_PORT=str(mqtt_port),
               FERRY_GATEWAY_PORT=str(gw_port), FERRY_ENGINE_SOCKET=sock,
               FERRY_EDGE_DATA=os.path.join(tmp, "edge"), FERRY_NODE=NODE)
    dc = [compose, "-f", os.path.join(ROOT, "docker-compose.yml")]
    up = False
    try:
        step(f"base image {BASE}")
        run([os.path.join(ROOT, "packaging", "docker", "base-image.sh"), sock])
        run([os.path.join(ROOT, "scripts", "images.sh"), "--no-runtimes", sock])
        env["FERRY_SOURCE_HASH"] = src = source_hash()
        if image_label(engine, IMAGE, "io.ferry.inputs") == src:
            step(f"{IMAGE} up to date (sources {src})")
        else:
            step(f"docker-compose build ({IMAGE}, sources {src})")
            t = time.monotonic()
            run(dc + ["build", "broker-bridge"], env=env)
            step(f"built {IMAGE} in {time.monotonic() - t:.0f}s")
        assert image_label(engine, IMAGE, "io.ferry.inputs") == src, "the built image lacks its label"

        step("docker-compose up")
        up = True
        run(dc + ["up", "-d", "--no-build"], env=env)

        def token():
            r = run(dc + ["exec", "-T", "broker-bridge", "cat",
                          "/var/lib/ferry/bridge/db.admin-token"], env=env, check=False,
                    capture=True, timeout=60)
            return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None
        tok = harness.poll(token, 60, "the bridge's admin token in its volume", interval=0.5)
        api = harness.Api(f"http://127.0.0.1:{api_port}", token=tok)
        harness.poll(lambda: api.get("/healthz", timeout=2)[0] == 200, 60,
                     f"broker-bridge /healthz on port {api_port}")
        step("bridge healthy")

        path = f"/v1/namespaces/{NS}"
        code, body = api.post(f"{path}/nodes", {"name": NODE, "labels": {"region": "east"}})
        assert code == 201, f"register {NODE}: HTTP {code} {body}"
        with open(os.path.join(ROOT, "examples", "web.json")) as f:
            web = json.load(f)
        web["services"][0]["ports"][0]["hostPort"] = web_port
        code, body = api.post(f"{path}/apps", web)
        assert code == 201, f"create web: HTTP {code} {body}"
        code, body = api.post(f"{path}/configs", {"name": "files-config", "kind": "config",
                                                  "data": {"app.conf": "listen 80\n"}})
        assert code == 201, f"create config: HTTP {code} {body}"
        files = {
            "name": "files", "selector": {"matchLabels": {"region": "east"}},
            "services": [{
                "name": "reader", "image": "ferry-test/busybox:1",
                "command": ["sh", "-c", "cp /etc/app/app.conf /scratch/copy; "
                            "trap 'exit 0' TERM; sleep 100000 & wait"],
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"},
                                 {"name": "scratch", "mountPath": "/scratch"}]}],
            "volumes": [{"name": "cfg", "config": {"name": "files-config"}},
                        {"name": "scratch", "emptyDir": {}}]}
        code, body = api.post(f"{path}/apps", files)
        assert code == 201, f"create files: HTTP {code} {body}"

        def running(app):
            code, body = api.get(f"{path}/apps/{app}/status")
            if code != 200:
                return None
            for e in body.get("nodes", []):
                if e.get("node") == NODE and e.get("phase") == "Running":
                    return e
            return None
        for app in ("web", "files"):
            try:
                harness.poll(lambda: running(app), 180, f"{app} Running on {NODE}", interval=0.5)
            except harness.PollTimeout as e:
                logs = run(dc + ["logs", "--tail", "40", "edge-sync"], env=env, check=False,
                           capture=True).stdout
                raise AssertionError(f"{e}; status: {api.get(f'{path}/apps/{app}/status')}; "
                                     f"edge-sync log:\n{logs}") from None
            step(f"{app} Running (status API)")

        # The engine runs them, and what they serve and see is right.
        names = {c["Names"][0].lstrip("/"): c["State"] for c in
                 engine.containers({"io.ferry.namespace": NS, "io.ferry.node": NODE})}
        for name in (f"ferry.{NODE}.{NS}.web.0.httpd", f"ferry.{NODE}.{NS}.files.0.reader"):
            assert names.get(name) == "running", f"{name} not running in the engine: {names}"
        code, page = harness.poll(lambda: harness.http_get(web_port), 30,
                                  f"the web app's httpd on 127.0.0.1:{web_port}")
        assert code == 200 and b"ferry" in page, f"GET /: {code} {page!r}"
        # The emptyDir: written inside the container, read on the host at edge-sync's data path
        # (the same path inside edge-sync's container and on the host).
        copies = harness.poll(lambda: [os.path.join(d, f) for d, _, fs in
                                       os.walk(env["FERRY_EDGE_DATA"]) for f in fs if f == "copy"],
                              30, "the emptyDir's file on the host")
        with open(copies[0]) as f:
            assert f.read() == "listen 80\n", f"{copies[0]}: the config file as the app copied it"
        step(f"web answers on {web_port}; config and emptyDir seen at {copies[0]}")

        for app in ("web", "files"):
            code, body = api.delete(f"{path}/apps/{app}")
            assert code in (200, 202, 204), f"delete {app}: HTTP {code} {body}"
        harness.poll(lambda: not engine.containers({"io.ferry.namespace": NS,
                                                    "io.ferry.node": NODE}),
                     90, "the apps' containers removed by edge-sync")
        step("apps deleted, their containers gone")
        return 0
    finally:
        if up:
            t = time.monotonic()
            run(dc + ["down", "-v", "--remove-orphans", "-t", "5"], env=env, check=False)
            left = engine.remove_labelled({"io.ferry.node": NODE, "io.ferry.namespace": NS})
            step(f"docker-compose down -v in {time.monotonic() - t:.0f}s"
                 + (f"; removed {left} leftover pod containers" if left else ""))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        step(f"FAILED: {e}")
        sys.exit(1)
