"""End to end: config, secret and certificate objects become files in the container (contents and
modes, whole folder or one file with subPath, always read-only), a hostPath is mounted as it is
(read-only when asked; a missing one fails the app), an emptyDir lives as long as the pod, a
config change redeploys the app with the new files, and the periodic cleanup deletes the files
of apps that are gone and of finished jobs, never those of a running app. The tests share one stack
(node east, a file cleanup every 2 s, the configs app-config, app-secret and app-cert); each
deploys apps of its own."""
import base64
import hashlib
import os
import stat
import tempfile

import pytest

import harness
from node_util import (IDLE, app, cat, cname, created_ok, exec_in, inspect, log_count, mode,
                       service, wait_phase_msg, wait_status)

BINARY = bytes(range(256)) * 4
CERT = "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n"
CA = "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n"
CLEANUP_LINE = "cleanup: "  # edge-sync logs one line per cleanup at debug level


@pytest.fixture(scope="module")
def stack(t):
    stack = t.stack(nodes=["east"], edge_args=["--cleanup-interval", "2"], secure=True)
    code, body = stack.register_node("east", {"region": "east"})
    assert code == 201, f"register: {code} {body}"
    post_config(stack, {"name": "app-config", "kind": "config",
                        "data": {"app.conf": "listen 80\n"},
                        "binaryData": {"logo.bin": base64.b64encode(BINARY).decode()}})
    post_config(stack, {"name": "app-secret", "kind": "secret", "data": {"password": "s3cret"}})
    post_config(stack, {"name": "app-cert", "kind": "certificate",
                        "certificate": {"cert": CERT, "key": KEY, "ca": CA}})
    return stack


def vols(stack):
    """The node's copies of the config files, per app."""
    return os.path.join(stack.dir, "edge-east-data", "volumes", stack.ns)


def pods(stack):
    """The node's pod folders (emptyDirs), per app."""
    return os.path.join(stack.dir, "edge-east-data", "pods", stack.ns)


def post_config(stack, body):
    code, resp = stack.api.post(stack.path("configs"), body)
    assert code == 201, f"create config {body['name']}: HTTP {code} {resp} (the bridge's config " \
                        f"API of issue 3 is needed)"
    return resp


def host_mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def running(stack, name, version=None):
    return wait_status(stack, name, "east",
                       lambda s: s.get("phase") == "Running"
                       and (version is None or s.get("version") >= version),
                       f"{name} Running on east (version >= {version})")


def wait_cleanups(stack, n=2, timeout=60):
    """Wait until edge-sync ran the file cleanup n more times."""
    node = stack.nodes["east"]
    start = log_count(node, CLEANUP_LINE)
    harness.poll(lambda: log_count(node, CLEANUP_LINE) >= start + n, timeout,
                 f"{n} file cleanups in {node.log_path}", alive=stack.check_alive)


def test_files_reach_the_container_with_their_modes(t, stack):
    vols_, pods_ = vols(stack), pods(stack)
    host_dir = tempfile.mkdtemp(prefix="hostdata-", dir=t.tmp)
    with open(os.path.join(host_dir, "hello.txt"), "w") as f:
        f.write("from host")

    mounts = [{"name": "cfg", "mountPath": "/etc/app"},
              {"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "app.conf"},
              {"name": "creds", "mountPath": "/run/creds"},
              {"name": "tls", "mountPath": "/tls", "readOnly": True},
              {"name": "scratch", "mountPath": "/scratch"},
              {"name": "scratch", "mountPath": "/cache", "subPath": "cache/x"},
              {"name": "data", "mountPath": "/host", "readOnly": True}]
    volumes = [{"name": "cfg", "config": {"name": "app-config"}},
               {"name": "creds", "secret": {"name": "app-secret"}},
               {"name": "tls", "certificate": {"name": "app-cert"}},
               {"name": "scratch", "emptyDir": {}},
               {"name": "data", "hostPath": {"path": host_dir}}]
    spec = app("files", "east", [service("reader", IDLE, volumeMounts=mounts)], volumes=volumes)
    v1 = created_ok(*stack.create_app(spec), "create files")["version"]
    running(stack, "files", v1)
    c = cname(stack, "east", "files", "reader")

    # Files as the container sees them: contents and modes.
    assert cat(t, c, "/etc/app/app.conf") == "listen 80\n"
    assert cat(t, c, "/etc/app.conf") == "listen 80\n"
    code, out = exec_in(t, c, ["sha256sum", "/etc/app/logo.bin"])
    assert code == 0 and out.split()[0] == hashlib.sha256(BINARY).hexdigest(), out
    assert mode(t, c, "/etc/app/app.conf") == "644"
    assert cat(t, c, "/run/creds/password") == "s3cret"
    assert mode(t, c, "/run/creds/password") == "600"
    assert cat(t, c, "/tls/tls.crt") == CERT and cat(t, c, "/tls/ca.crt") == CA
    assert cat(t, c, "/tls/tls.key") == KEY and mode(t, c, "/tls/tls.key") == "600"
    assert cat(t, c, "/host/hello.txt") == "from host"
    # Read-only: config volumes always, the hostPath because the mount says so.
    for path in ("/etc/app/new", "/run/creds/new", "/host/new"):
        code, out = exec_in(t, c, ["touch", path])
        assert code != 0, f"{path} should be read-only: {out}"
    assert not os.path.exists(os.path.join(host_dir, "new"))
    # The emptyDir is writable and lives on the node under the pod's folder.
    code, out = exec_in(t, c, ["sh", "-c", "echo hi > /scratch/f && echo there > /cache/g"])
    assert code == 0, out
    assert open(os.path.join(pods_, "files", "0", "scratch", "f")).read() == "hi\n"
    assert open(os.path.join(pods_, "files", "0", "scratch", "cache", "x", "g")).read() == "there\n"
    # The node's copy: secrets never readable by others.
    assert host_mode(os.path.join(vols_, "files", "creds", "password")) == 0o600
    assert host_mode(os.path.join(vols_, "files", "tls", "tls.key")) == 0o600
    assert host_mode(os.path.join(vols_, "files", "cfg", "app.conf")) == 0o644
    assert host_mode(os.path.join(vols_, "files")) == 0o700


def test_config_change_redeploys_with_the_new_files(t, stack):
    # A config of its own: the other tests' apps are not redeployed.
    config = {"name": "chg-config", "kind": "config", "data": {"app.conf": "listen 80\n"},
              "binaryData": {"logo.bin": base64.b64encode(BINARY).decode()}}
    post_config(stack, config)
    spec = app("chg", "east", [service("chg", IDLE, volumeMounts=[
        {"name": "cfg", "mountPath": "/etc/app"},
        {"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "app.conf"}])],
        volumes=[{"name": "cfg", "config": {"name": "chg-config"}}])
    v1 = created_ok(*stack.create_app(spec), "create chg")["version"]
    running(stack, "chg", v1)
    c = cname(stack, "east", "chg", "chg")
    old_id = inspect(t, c)["Id"]
    code, body = stack.api.put(stack.path("configs", "chg-config"),
                               dict(config, data={"app.conf": "listen 81\n"}))
    assert code == 200, f"update config: {code} {body}"
    st = running(stack, "chg", v1 + 1)
    assert st["version"] > v1, st
    harness.poll(lambda: cat(t, c, "/etc/app/app.conf") == "listen 81\n", 30, "new app.conf")
    assert cat(t, c, "/etc/app.conf") == "listen 81\n"
    assert inspect(t, c)["Id"] != old_id, "the container must be replaced"


def test_files_in_folders_reach_the_container(t, stack):
    # A function's code: files in folders, one of them mounted alone with subPath; a file moved to
    # another folder leaves no old folder on the node.
    config = {"name": "code-config", "kind": "config",
              "data": {"index.py": "import lib.util\n", "lib/util.py": "X = 1\n",
                       "lib/old/helper.py": "H = 1\n"}}
    post_config(stack, config)
    spec = app("code", "east", [service("code", IDLE, volumeMounts=[
        {"name": "code", "mountPath": "/app"},
        {"name": "code", "mountPath": "/util.py", "subPath": "lib/util.py"}])],
        volumes=[{"name": "code", "config": {"name": "code-config"}}])
    v1 = created_ok(*stack.create_app(spec), "create code")["version"]
    running(stack, "code", v1)
    c = cname(stack, "east", "code", "code")
    assert cat(t, c, "/app/index.py") == "import lib.util\n"
    assert cat(t, c, "/app/lib/old/helper.py") == "H = 1\n"
    assert cat(t, c, "/util.py") == "X = 1\n"
    assert mode(t, c, "/app/lib") == "755" and mode(t, c, "/app/lib/util.py") == "644"
    node_code = os.path.join(vols(stack), "code", "code")
    assert host_mode(os.path.join(node_code, "lib", "old")) == 0o755

    data = {"index.py": "import lib.util\n", "lib/util.py": "X = 2\n",
            "lib/new/helper.py": "H = 2\n"}
    code, body = stack.api.put(stack.path("configs", "code-config"), dict(config, data=data))
    assert code == 200, f"update config: {code} {body}"
    running(stack, "code", v1 + 1)
    c = cname(stack, "east", "code", "code")
    harness.poll(lambda: cat(t, c, "/util.py") == "X = 2\n", 30, "new lib/util.py")
    assert cat(t, c, "/app/lib/new/helper.py") == "H = 2\n"
    assert not os.path.exists(os.path.join(node_code, "lib", "old")), "old folder swept"
    # A name that is both a file and a folder is refused by the API, naming both.
    code, body = stack.api.put(stack.path("configs", "code-config"),
                               dict(config, data={"lib": "x", "lib/util.py": "y"}))
    assert code == 400 and body["field"] == "data.lib/util.py" and "'lib'" in body["error"], \
        (code, body)


def test_cleanup_keeps_the_files_of_a_running_app(stack):
    # keeper runs through cleanups, one of which deletes the files of doomed, deleted meanwhile.
    for name in ("keeper", "doomed"):
        spec = app(name, "east", [service(name, IDLE, volumeMounts=[
            {"name": "cfg", "mountPath": "/etc/app"}])],
            volumes=[{"name": "cfg", "config": {"name": "app-config"}}])
        created_ok(*stack.create_app(spec), f"create {name}")
        running(stack, name)
    code, body = stack.api.delete(stack.path("apps", "doomed"))
    assert code == 200, f"delete doomed: {code} {body}"
    harness.poll(lambda: not os.path.exists(os.path.join(vols(stack), "doomed")), 60,
                 "the deleted app's files removed by the cleanup")
    wait_cleanups(stack)
    assert os.path.exists(os.path.join(vols(stack), "keeper", "cfg", "app.conf")), \
        "the cleanup deleted a running app's files"
    running(stack, "keeper")


def test_missing_host_path_fails_the_app(t, stack):
    # A missing hostPath fails the app with the path; Ferry does not create it.
    missing = os.path.join(t.tmp, "no-such-folder")
    bad = app("badhost", "east", [service("badhost", IDLE, volumeMounts=[
        {"name": "d", "mountPath": "/d"}])], volumes=[{"name": "d", "hostPath": {"path": missing}}])
    created_ok(*stack.create_app(bad), "create badhost")
    wait_phase_msg(stack, "badhost", "east", "Failed", missing, "does not exist")
    assert not os.path.exists(missing)


def test_finished_job_files_are_cleaned_up(stack):
    job = app("jobfiles", "east", [service("jobfiles", "cat /etc/app/app.conf", volumeMounts=[
        {"name": "cfg", "mountPath": "/etc/app"}])],
        volumes=[{"name": "cfg", "config": {"name": "app-config"}}], workload="job")
    created_ok(*stack.create_app(job), "create jobfiles")
    wait_phase_msg(stack, "jobfiles", "east", "Succeeded")
    harness.poll(lambda: not os.path.exists(os.path.join(vols(stack), "jobfiles")), 60,
                 "the finished job's files removed by the cleanup")


def test_delete_removes_the_empty_dir_then_the_files(t, stack):
    # Delete: the emptyDir goes with the pod, the config files with the next cleanup.
    spec = app("gone", "east", [service("gone", IDLE, volumeMounts=[
        {"name": "cfg", "mountPath": "/etc/app"}, {"name": "scratch", "mountPath": "/scratch"}])],
        volumes=[{"name": "cfg", "config": {"name": "app-config"}},
                 {"name": "scratch", "emptyDir": {}}])
    created_ok(*stack.create_app(spec), "create gone")
    running(stack, "gone")
    assert os.path.exists(os.path.join(pods(stack), "gone")), "gone's emptyDir on the node"
    assert os.path.exists(os.path.join(vols(stack), "gone")), "gone's config files on the node"
    code, body = stack.api.delete(stack.path("apps", "gone"))
    assert code == 200, f"delete gone: {code} {body}"
    harness.poll(lambda: not stack.pods(app="gone"), 60, "gone's containers gone")
    harness.poll(lambda: not os.path.exists(os.path.join(pods(stack), "gone")), 30,
                 "the emptyDir removed with the pod")
    harness.poll(lambda: not os.path.exists(os.path.join(vols(stack), "gone")), 60,
                 "the deleted app's files removed by the cleanup")
