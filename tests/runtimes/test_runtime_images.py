"""The function runtime images (scripts/images.sh) run for real on Docker and Podman: a container
per runtime with a code folder mounted read-only and a run folder holding the socket, called
through the socket from the host; the function's output in the container log; `stop` with a call
in flight (answered, exit 0); broken code (the container exits 1 with the message in its log).

Needs the services of scripts/services.sh (FERRY_TEST_DOCKER_SOCK, FERRY_TEST_PODMAN_SOCK) and
the images (scripts/images.sh "$FERRY_TEST_DOCKER_SOCK" "$FERRY_TEST_PODMAN_SOCK"); the docker and
podman command-line clients. Run as a script (what CTest does) it exits 77 without the services:

    /usr/bin/python3 tests/runtimes/test_runtime_images.py
    /usr/bin/python3 -m pytest tests/runtimes/test_runtime_images.py -k podman
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

import rtutil
from rtutil import invoke, request

LABEL = "io.ferry.test=runtime-images"
IMAGES = {"python3": "ferry/runtime-python3:1", "nodejs10": "ferry/runtime-nodejs10:1"}

CODE = {
    "python3": {
        "index.py": '''\
import time


def handler(event, context):
    print(f"python handler saw {event!r}", flush=True)
    return {"event": event, "function": context["functionName"],
            "service": context["serviceName"]}


def text(event, context):
    return "plain text"


def binary(event, context):
    return b"\\x00\\xffbytes"


def fail(event, context):
    raise KeyError("missing thing")


def slow(event, context):
    print(f"slow start {context['invokeId']}", flush=True)
    time.sleep(event["s"])
    return "slow done"
''',
        "lib/sub/mod.py": "def handler(event, context):\n    return 'from a sub folder'\n",
    },
    "nodejs10": {
        "index.js": '''\
exports.handler = (event, context, callback) => {
  console.log(`node handler saw ${JSON.stringify(event)}`);
  callback(null, { event, function: context.functionName, service: context.serviceName });
};
exports.text = async () => 'plain text';
exports.binary = (e, c, cb) =>
  cb(null, Buffer.concat([Buffer.from([0, 255]), Buffer.from('bytes')]));
exports.fail = () => { throw new Error('missing thing'); };
exports.slow = (event, context, callback) => {
  console.log(`slow start ${context.invokeId}`);
  setTimeout(() => callback(null, 'slow done'), event.s * 1000);
};
''',
        "lib/sub/mod.js": "exports.handler = async () => 'from a sub folder';\n",
    },
}
FUNCTIONS = [{"name": n, "handler": f"index.{n}"} for n in ("handler", "text", "binary", "fail",
                                                              "slow")]
FUNCTIONS.append({"name": "sub", "handler": "mod.handler", "codedir": "lib/sub"})


def engines():
    out = []
    for name in ("docker", "podman"):
        sock = os.environ.get(f"FERRY_TEST_{name.upper()}_SOCK")
        if sock:
            out.append(name)
    return out


class Engine:
    """The engine's command-line client, talking to the test service's socket."""

    def __init__(self, name):
        self.name = name
        self.sock = os.environ.get(f"FERRY_TEST_{name.upper()}_SOCK")
        if not self.sock:
            pytest.skip(f"FERRY_TEST_{name.upper()}_SOCK is not set (scripts/services.sh)")
        exe = shutil.which(name)
        if not exe:
            pytest.skip(f"no {name} command-line client")
        self.base = [exe, "-H", f"unix://{self.sock}"] if name == "docker" else \
            [exe, "--url", f"unix://{self.sock}"]

    def run(self, *args, check=True, timeout=120):
        p = subprocess.run(self.base + list(args), capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{self.name} {' '.join(args)}: exit {p.returncode}: "
                                 f"{p.stderr.strip()}")
        return p.stdout.strip()

    def logs(self, cid):
        p = subprocess.run(self.base + ["logs", cid], capture_output=True, text=True, timeout=60)
        return p.stdout + p.stderr

    def state(self, cid):
        return json.loads(self.run("inspect", "--format", "{{json .State}}", cid))

    def start_runtime(self, runtime, code, rundir, functions, service="imgsvc"):
        return self.run("run", "-d", "--label", LABEL, "--name", f"ferry-rt-{uuid.uuid4().hex[:8]}",
                        "-v", f"{code}:/ferry/code:ro", "-v", f"{rundir}:/ferry/run",
                        "-e", f"FERRY_SERVICE={service}",
                        "-e", f"FERRY_FUNCTIONS={json.dumps(functions)}", IMAGES[runtime])

    def cleanup(self):
        ids = self.run("ps", "-aq", "--filter", f"label={LABEL}", check=False).split()
        if ids:
            self.run("rm", "-f", *ids, check=False)


@pytest.fixture(params=["docker", "podman"])
def engine(request):
    e = Engine(request.param)
    yield e
    e.cleanup()


@pytest.fixture
def tmp(request):
    d = tempfile.mkdtemp(prefix="ferry-rtimg.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def need_image(engine, runtime):
    p = subprocess.run(engine.base + ["image", "inspect", IMAGES[runtime]], capture_output=True)
    assert p.returncode == 0, \
        f"{IMAGES[runtime]} missing on {engine.name} (scripts/images.sh SOCKET...)"


def wait_serving(engine, cid, sock, timeout=30):
    def serving():
        st = engine.state(cid)
        if not st.get("Running"):
            raise AssertionError(f"container exited ({st.get('ExitCode')}):\n{engine.logs(cid)}")
        return os.path.exists(sock) and request(sock, "GET", "/healthz", timeout=5).status == 200
    start = time.monotonic()
    rtutil.poll(serving, timeout, f"the runtime in {cid[:12]} serving on {sock}")
    return time.monotonic() - start


@pytest.mark.parametrize("runtime", ["python3", "nodejs10"])
def test_image_serves_functions_through_the_mounted_socket(engine, runtime, tmp):
    need_image(engine, runtime)
    code, rundir = os.path.join(tmp, "code"), os.path.join(tmp, "run")
    rtutil.write(code, CODE[runtime])
    os.makedirs(rundir)
    cid = engine.start_runtime(runtime, code, rundir, FUNCTIONS)
    took = wait_serving(engine, cid, os.path.join(rundir, "runtime.sock"))
    print(f"{engine.name} {runtime}: serving {took:.2f}s after run -d returned")
    sock = os.path.join(rundir, "runtime.sock")
    assert os.stat(sock).st_mode & 0o777 == 0o666

    health = request(sock, "GET", "/healthz").json()
    assert health["runtime"] == runtime and len(health["functions"]) == len(FUNCTIONS), health
    r = invoke(sock, "handler", {"n": 5})
    assert r.status == 200 and r.json() == {"event": {"n": 5}, "function": "handler",
                                            "service": "imgsvc"}, r
    r = invoke(sock, "text", {})
    assert (r.ctype, r.body) == ("text/plain; charset=utf-8", b"plain text"), r
    r = invoke(sock, "binary", {})
    assert (r.ctype, r.body) == ("application/octet-stream", b"\0\xffbytes"), r
    r = invoke(sock, "sub", raw=b"raw")
    assert (r.status, r.body) == (200, b"from a sub folder"), r
    r = invoke(sock, "fail", {})
    assert r.status == 500 and "missing thing" in r.json()["error"], r
    r = invoke(sock, "absent", {})
    assert r.status == 404, r
    # the function's own output and the error's traceback reach the container log
    rtutil.poll(lambda: "handler saw {" in engine.logs(cid), 10, "the handler's print in the log")
    assert "missing thing" in engine.logs(cid)


@pytest.mark.parametrize("runtime", ["python3", "nodejs10"])
def test_stop_lets_the_call_in_flight_finish(engine, runtime, tmp):
    need_image(engine, runtime)
    code, rundir = os.path.join(tmp, "code"), os.path.join(tmp, "run")
    rtutil.write(code, CODE[runtime])
    os.makedirs(rundir)
    cid = engine.start_runtime(runtime, code, rundir, FUNCTIONS)
    sock = os.path.join(rundir, "runtime.sock")
    wait_serving(engine, cid, sock)
    result = {}
    th = threading.Thread(target=lambda: result.update(
        r=invoke(sock, "slow", {"s": 2}, headers={"X-Ferry-Invoke-Id": "inflight"})))
    th.start()
    rtutil.poll(lambda: "slow start inflight" in engine.logs(cid), 15, "the slow call started")
    start = time.monotonic()
    engine.run("stop", "-t", "30", cid, timeout=60)
    took = time.monotonic() - start
    th.join(30)
    assert result["r"].status == 200 and result["r"].body == b"slow done", result
    st = engine.state(cid)
    assert st["ExitCode"] == 0, (st, engine.logs(cid))
    assert took < 10, f"stop took {took:.1f}s: SIGTERM not handled"
    assert "all answered" in engine.logs(cid)


@pytest.mark.parametrize("runtime", ["python3", "nodejs10"])
def test_broken_code_makes_the_container_exit_1_with_the_message(engine, runtime, tmp):
    need_image(engine, runtime)
    ext = ".py" if runtime == "python3" else ".js"
    code, rundir = os.path.join(tmp, "code"), os.path.join(tmp, "run")
    rtutil.write(code, {"index" + ext: "this is not code (\n"})
    os.makedirs(rundir)
    cid = engine.start_runtime(runtime, code, rundir, [{"name": "p", "handler": "index.handler"}])
    st = rtutil.poll(lambda: (lambda s: s if not s.get("Running") and s.get("FinishedAt") and
                              not s["FinishedAt"].startswith("0001") else None)(engine.state(cid)),
                     30, "the container exited")
    log = engine.logs(cid)
    assert st["ExitCode"] == 1, (st, log)
    assert f"ferry-runtime: function 'p': index{ext}: SyntaxError: " in log, log


if __name__ == "__main__":
    if not os.environ.get("FERRY_TEST_DOCKER_SOCK"):
        print("FERRY_TEST_DOCKER_SOCK is not set (scripts/services.sh): skipped")
        sys.exit(77)
    sys.exit(pytest.main([__file__, "-p", "no:cacheprovider", "-v", "-rA"] + sys.argv[1:]))
