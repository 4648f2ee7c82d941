"""Helpers for the end-to-end tests of what a node runs (issue 3: volumes, init containers,
workloads): container names, exec inside a container, status polling with a predicate, a tiny
UDP echo image."""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse

import pytest

import harness
from common import IMAGE, node_status

UDPECHO_IMAGE = "ferry-test/udpecho:1"

# A shell that stays PID 1 and exits on SIGTERM (a replaced container stops at once).
IDLE = "trap 'exit 0' TERM; sleep 100000 & wait"


def service(name, script, **extra):
    """A busybox service running `sh -c script`."""
    svc = {"name": name, "image": IMAGE, "command": ["sh", "-c", script]}
    svc.update(extra)
    return svc


def app(name, region, services, **extra):
    spec = {"name": name, "description": "e2e", "selector": {"matchLabels": {"region": region}},
            "services": services}
    spec.update(extra)
    return spec


def cname(stack, node, app_name, member, replica=0):
    """The engine name of a container: member None is the pod's infra container, "init-x" an
    init container."""
    base = f"ferry.{node}.{stack.ns}.{app_name}.{replica}"
    return base if member is None else f"{base}.{member}"


def inspect(t, name):
    return t.engine.inspect(name)


def wait_status(stack, app_name, node, pred, what, timeout=90):
    """Poll the status API until pred(entry) holds for node's entry; returns the entry."""
    def check():
        stack.check_alive()
        st = node_status(stack, app_name, node)
        return st if st and pred(st) else None
    try:
        return harness.poll(check, timeout, what, interval=0.2)
    except harness.PollTimeout as e:
        raise harness.PollTimeout(f"{e}; status now: {node_status(stack, app_name, node)}") \
            from None


def wait_phase_msg(stack, app_name, node, phase, *fragments, version=None, timeout=90):
    """Wait for phase whose message contains every fragment."""
    return wait_status(
        stack, app_name, node,
        lambda st: st.get("phase") == phase and (version is None or st.get("version") == version)
        and all(f in (st.get("message") or "") for f in fragments),
        f"{app_name} {phase} on {node} with message containing {fragments}", timeout)


def created_ok(code, body, what):
    assert code in (200, 201), f"{what}: HTTP {code} {body}"
    return body


def _demux(raw):
    """Docker's multiplexed exec/log stream (8-byte frame headers) to bytes; raw bytes when it
    is not multiplexed (a TTY, or an engine that sends plain output)."""
    out, pos = bytearray(), 0
    while pos + 8 <= len(raw) and raw[pos] in (0, 1, 2) and raw[pos + 1:pos + 4] == b"\0\0\0":
        size = int.from_bytes(raw[pos + 4:pos + 8], "big")
        out += raw[pos + 8:pos + 8 + size]
        pos += 8 + size
    return bytes(out) if pos == len(raw) else raw


def exec_in(t, container, cmd, timeout=30):
    """Run cmd (a list) in a running container through the engine API; returns (exit code,
    output text with stdout and stderr together)."""
    status, body = t.engine.request("POST", f"/containers/{urllib.parse.quote(container)}/exec",
                                    {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True})
    assert status == 201, f"exec create in {container}: HTTP {status} {body}"
    exec_id = body["Id"]
    conn = harness.UnixHTTPConnection(t.engine.sock, timeout)
    try:
        conn.request("POST", f"/exec/{exec_id}/start", body=json.dumps({"Detach": False,
                                                                        "Tty": False}),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        assert resp.status == 200, f"exec start in {container}: HTTP {resp.status} {raw[:200]}"
    finally:
        conn.close()
    code = None
    deadline = time.monotonic() + timeout
    while code is None:  # the exit code is set once the process is reaped
        status, info = t.engine.request("GET", f"/exec/{exec_id}/json")
        if status == 200 and not info.get("Running"):
            code = info.get("ExitCode")
        elif time.monotonic() > deadline:
            raise harness.PollTimeout(f"exec {cmd} in {container} still running after {timeout}s")
        else:
            time.sleep(0.05)  # poll interval
    return code, _demux(raw).decode(errors="replace")


def cat(t, container, path):
    code, out = exec_in(t, container, ["cat", path])
    assert code == 0, f"cat {path} in {container}: exit {code}: {out}"
    return out


def mode(t, container, path):
    code, out = exec_in(t, container, ["stat", "-L", "-c", "%a", path])
    assert code == 0, f"stat {path} in {container}: exit {code}: {out}"
    return out.strip()


def log_count(daemon, needle):
    return daemon.log_text().count(needle)


# ---- a UDP echo image --------------------------------------------------------------------------

UDPECHO_C = r"""
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    struct sockaddr_in a = {0};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    a.sin_family = AF_INET;
    a.sin_port = htons(argc > 1 ? atoi(argv[1]) : 9999);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        return 1;
    for (;;) {
        char buf[2048];
        struct sockaddr_in from;
        socklen_t len = sizeof(from);
        ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
        if (n >= 0)
            sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
}
"""


def ensure_udpecho_image(t):
    """Make sure the engine has ferry-test/udpecho:1: a static UDP echo server at /udpecho
    (argument: the port), built here with gcc -static and imported. Skips the test without gcc."""
    if t.engine.image_present(UDPECHO_IMAGE):
        return UDPECHO_IMAGE
    gcc = shutil.which("gcc")
    if not gcc:
        pytest.skip("gcc is needed to build the UDP echo test image")
    work = tempfile.mkdtemp(prefix="ferry-udpecho-")
    try:
        src, exe = os.path.join(work, "udpecho.c"), os.path.join(work, "udpecho")
        with open(src, "w") as f:
            f.write(UDPECHO_C)
        subprocess.run([gcc, "-static", "-O2", "-o", exe, src], check=True, capture_output=True,
                       timeout=120)
        tar_path = os.path.join(work, "udpecho.tar")
        with tarfile.open(tar_path, mode="w") as tar:
            info = tar.gettarinfo(exe, arcname="udpecho")
            info.uid = info.gid = 0
            info.mode = 0o755
            with open(exe, "rb") as f:
                tar.addfile(info, f)
        # scripts/engine.py knows how Docker and Podman name an imported image.
        engine_py = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                 "scripts", "engine.py")
        out = subprocess.run([sys.executable, engine_py, t.engine.sock, "import", UDPECHO_IMAGE,
                              tar_path, 'CMD ["/udpecho", "9999"]'], capture_output=True,
                             timeout=300)
        assert out.returncode == 0, f"importing {UDPECHO_IMAGE}: {out.stderr.decode()[-2000:]}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return UDPECHO_IMAGE
