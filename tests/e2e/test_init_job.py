"""End to end: init containers run one at a time, in order, before the services, and are not run
again for the same app version (also across a kill -9 of edge-sync); a failing init container
fails the app with its name, exit code and log; jobs run to completion (Succeeded, or Failed with
the exit codes), restartPolicy OnFailure restarts up to backoffLimit, and a finished job is not
started again until the app changes. The tests share one stack (node east); each deploys apps of
its own (service names are unique per node: each app here has its own)."""
import signal

import pytest

import harness
from common import app_names_on, node_status
from node_util import (IDLE, app, cat, cname, created_ok, inspect, service, wait_phase_msg,
                       wait_status)


@pytest.fixture(scope="module")
def stack(t):
    stack = t.stack(nodes=["east"])
    code, body = stack.register_node("east", {"region": "east"})
    assert code == 201, f"register: {code} {body}"
    return stack


@pytest.fixture(scope="module")
def watch(t, stack):
    return t.capture(f"ferry/{stack.ns}/nodes/+/status/+")


def restart_and_wait_report(stack, watch, node, app_name):
    """kill -9 edge-sync, start it, wait until it reported app_name again (a pass happened)."""
    stack.kill_node(node, signal.SIGKILL)
    before = len(watch.snapshot())
    stack.start_node(node)
    harness.poll(lambda: [m for m in watch.snapshot()[before:]
                          if m[0].endswith(f"/nodes/{node}/status/{app_name}")], 60,
                 f"a fresh status of {app_name} from {node} after the restart",
                 alive=stack.check_alive)


def test_init_containers_run_in_order_and_once(t, stack, watch):
    # Two init containers write into an emptyDir in order; the second one takes a while, so the
    # node reports it as running first. The service starts after both and sees their work.
    spec = app("inits", "east", [service("main", "cat /work/order; " + IDLE,
                                         volumeMounts=[{"name": "work", "mountPath": "/work"}])],
               volumes=[{"name": "work", "emptyDir": {}}],
               initServices=[
                   service("first", "echo one >> /work/order",
                           volumeMounts=[{"name": "work", "mountPath": "/work"}]),
                   service("second", "sleep 4; echo two >> /work/order",
                           volumeMounts=[{"name": "work", "mountPath": "/work"}])])
    v = created_ok(*stack.create_app(spec), "create inits")["version"]
    wait_phase_msg(stack, "inits", "east", "Deploying", "init container second running",
                   version=v)
    assert inspect(t, cname(stack, "east", "inits", "main")) is None, \
        "the service must not exist while an init container runs"
    st = wait_status(stack, "inits", "east", lambda s: s.get("phase") == "Running", "inits Running")
    main = cname(stack, "east", "inits", "main")
    assert cat(t, main, "/work/order") == "one\ntwo\n"
    ids = {}
    for name in ("init-first", "init-second"):
        info = inspect(t, cname(stack, "east", "inits", name))
        assert info is not None, f"init container {name} kept as the record"
        assert info["State"]["Status"] == "exited" or info["State"]["Status"] == "stopped", info
        assert info["State"]["ExitCode"] == 0, info["State"]
        assert info["HostConfig"]["RestartPolicy"]["Name"] in ("no", ""), info["HostConfig"]
        ids[name] = info["Id"]
    names = [c["name"] for c in st["containers"]]
    assert names[0] == "main" and "first" in names and "second" in names, st["containers"]

    # kill -9 edge-sync: the init containers do not run again, the service keeps running.
    main_id = inspect(t, main)["Id"]
    restart_and_wait_report(stack, watch, "east", "inits")
    wait_status(stack, "inits", "east", lambda s: s.get("phase") == "Running", "inits Running")
    for name, cid in ids.items():
        assert inspect(t, cname(stack, "east", "inits", name))["Id"] == cid, f"{name} ran again"
    assert inspect(t, main)["Id"] == main_id
    assert cat(t, main, "/work/order") == "one\ntwo\n"


def test_failing_init_container_fails_the_app(t, stack):
    # (Service names are unique per node: each app here has its own.)
    spec = app("badinit", "east", [service("badmain", IDLE)],
               initServices=[service("setup", "echo setup-broke >&2; exit 3")])
    created_ok(*stack.create_app(spec), "create badinit")
    st = wait_phase_msg(stack, "badinit", "east", "Failed", "init container setup",
                        "exited with code 3", "setup-broke")
    assert inspect(t, cname(stack, "east", "badinit", "badmain")) is None, \
        "no service starts after a failed init container"
    entry = [c for c in st["containers"] if c["name"] == "setup"]
    assert entry and entry[0]["exitCode"] == 3, st["containers"]


def test_job_succeeds_and_runs_once(t, stack):
    # Succeeded: runs once, its pod container is stopped, nothing restarts it.
    ok = app("job-ok", "east", [service("ok", "echo working; exit 0")], workload="job")
    v = created_ok(*stack.create_app(ok), "create job-ok")["version"]
    st = wait_phase_msg(stack, "job-ok", "east", "Succeeded", version=v)
    assert st["containers"][0]["exitCode"] == 0, st
    work = inspect(t, cname(stack, "east", "job-ok", "ok"))
    assert work["HostConfig"]["RestartPolicy"]["Name"] in ("no", ""), work["HostConfig"]
    harness.poll(lambda: inspect(t, cname(stack, "east", "job-ok", None))["State"]["Status"]
                 in ("exited", "stopped"), 30, "the finished job's pod container stopped")


def test_job_fails_with_its_exit_code(t, stack):
    # Failed with restartPolicy Never: the exit code in the status, no restart.
    bad = app("job-bad", "east", [service("bad", "echo failing >&2; exit 7")], workload="job",
              restartPolicy="Never")
    created_ok(*stack.create_app(bad), "create job-bad")
    st = wait_phase_msg(stack, "job-bad", "east", "Failed", "service bad exited with code 7",
                        "failing")
    assert st["containers"][0]["exitCode"] == 7 and st["containers"][0]["restarts"] == 0, st


def test_job_on_failure_restarts_up_to_backoff_limit(t, stack):
    # OnFailure with backoffLimit 2: the engine restarts it twice, then the job fails.
    retry = app("job-retry", "east", [service("retry", "echo attempt; exit 5")], workload="job",
                restartPolicy="OnFailure", backoffLimit=2)
    created_ok(*stack.create_app(retry), "create job-retry")
    st = wait_phase_msg(stack, "job-retry", "east", "Failed", "exited with code 5",
                        "restarted 2 times", timeout=120)
    info = inspect(t, cname(stack, "east", "job-retry", "retry"))
    assert info["RestartCount"] == 2, info["RestartCount"]
    assert info["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2} \
        or info["HostConfig"]["RestartPolicy"]["Name"] == "on-failure", info["HostConfig"]


def test_finished_jobs_are_not_started_again_after_a_restart(t, stack, watch):
    # Not started again: edge-sync restarts, passes run, the finished containers stay as they are.
    ok = app("done-ok", "east", [service("done-ok", "echo working; exit 0")], workload="job")
    v = created_ok(*stack.create_app(ok), "create done-ok")["version"]
    bad = app("done-bad", "east", [service("done-bad", "echo failing >&2; exit 7")],
              workload="job", restartPolicy="Never")
    created_ok(*stack.create_app(bad), "create done-bad")
    wait_phase_msg(stack, "done-ok", "east", "Succeeded", version=v)
    wait_phase_msg(stack, "done-bad", "east", "Failed", "exited with code 7")
    # The apps of the tests before that run (inits, when it ran) must run again after it.
    running = sorted(a for a in app_names_on(stack, "east")
                     if (node_status(stack, a, "east") or {}).get("phase") == "Running")
    print(f"Running before the restart: {running}")
    svc_of = {"done-ok": "done-ok", "done-bad": "done-bad"}
    before = {a: inspect(t, cname(stack, "east", a, s)) for a, s in svc_of.items()}
    restart_and_wait_report(stack, watch, "east", "done-ok")
    wait_phase_msg(stack, "done-ok", "east", "Succeeded", version=v)
    wait_phase_msg(stack, "done-bad", "east", "Failed")
    for a, old in before.items():
        now = inspect(t, cname(stack, "east", a, svc_of[a]))
        assert now["Id"] == old["Id"], f"{a}: container replaced"
        assert now["State"]["StartedAt"] == old["State"]["StartedAt"], f"{a}: started again"
        assert now["RestartCount"] == old["RestartCount"], f"{a}: restarted"
    for a in running:
        wait_status(stack, a, "east", lambda s: s.get("phase") == "Running",
                    f"{a} Running again after the restart")


def test_job_runs_again_when_the_app_changes(t, stack):
    # Until the app changes: a new version runs the job again.
    job = app("job-rerun", "east", [service("rerun", "echo working; exit 0")], workload="job")
    v = created_ok(*stack.create_app(job), "create job-rerun")["version"]
    wait_phase_msg(stack, "job-rerun", "east", "Succeeded", version=v)
    first = inspect(t, cname(stack, "east", "job-rerun", "rerun"))
    job["services"][0]["env"] = [{"name": "RUN", "value": "2"}]
    code, body = stack.api.put(stack.path("apps", "job-rerun"), job)
    assert code == 200, f"update job-rerun: {code} {body}"
    v2 = body["version"]
    wait_phase_msg(stack, "job-rerun", "east", "Succeeded", version=v2)
    now = inspect(t, cname(stack, "east", "job-rerun", "rerun"))
    assert now["Id"] != first["Id"], "the job did not run again for the new version"
    assert "RUN=2" in now["Config"]["Env"], now["Config"]["Env"]
