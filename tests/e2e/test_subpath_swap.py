"""End to end: a container that swaps a folder of its emptyDir for a symbolic link to the host's
root after its subPath was checked (the CVE-2021-25741 pattern) does not get the host mounted when
the engine restarts it: the engine mounts the place under {data}/subpaths/ where edge-sync
bind-mounted the checked folder, which keeps showing that folder. Deleting the app unmounts it."""
import os
import subprocess

import harness
from node_util import IDLE, app, cname, created_ok, exec_in, inspect, service, wait_status


def mounts_below(path):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


def test_swapped_link_is_not_followed_on_restart(t):
    stack = t.stack(nodes=["east"])
    code, body = stack.register_node("east", {"region": "east"})
    assert code == 201, f"register: {code} {body}"
    data = os.path.join(stack.dir, "edge-east-data")
    subpaths = os.path.join(data, "subpaths", stack.ns, "swap")
    try:
        check(t, stack, subpaths)
    finally:
        # What a failure left mounted (the mounts outlive edge-sync) goes with the test.
        for point in reversed(mounts_below(data)):
            subprocess.run(["umount", "-l", point], check=False)


def check(t, stack, subpaths):
    mounts = [{"name": "scratch", "mountPath": "/scratch"},
              {"name": "scratch", "mountPath": "/cache", "subPath": "cache/x"}]
    spec = app("swap", "east", [service("box", IDLE, volumeMounts=mounts)],
               volumes=[{"name": "scratch", "emptyDir": {}}])
    created_ok(*stack.create_app(spec), "create swap")
    wait_status(stack, "swap", "east", lambda s: s.get("phase") == "Running", "swap Running")
    c = cname(stack, "east", "swap", "box")
    binds = inspect(t, c)["HostConfig"]["Binds"]
    stable = os.path.join(subpaths, "0", "box", "1")
    # (Podman adds its options to the bind string.)
    assert any(b == f"{stable}:/cache" or b.startswith(f"{stable}:/cache:") for b in binds), \
        f"the subPath should be bound from {stable}: {binds}"

    code, out = exec_in(t, c, ["sh", "-c", "echo mine > /cache/f && mv /scratch/cache/x "
                                           "/scratch/cache/moved && ln -s / /scratch/cache/x"])
    assert code == 0, out
    # The engine resolves the bind's host path again when it starts the container.
    status, body = t.engine.request("POST", f"/containers/{c}/restart?t=1", timeout=60)
    assert status in (200, 204), f"restart {c}: HTTP {status} {body}"
    harness.poll(lambda: (inspect(t, c).get("State") or {}).get("Running"), 30, f"{c} running")
    code, out = exec_in(t, c, ["cat", "/cache/f"])
    assert code == 0 and out == "mine\n", f"/cache should still be the checked folder: {out}"
    code, out = exec_in(t, c, ["ls", "/cache/proc", "/cache/etc"])
    assert code != 0, f"the host's root is mounted at /cache: {out}"

    code, body = stack.api.delete(stack.path("apps", "swap"))
    assert code == 200, f"delete swap: {code} {body}"
    harness.poll(lambda: not stack.pods(app="swap"), 60, "swap's containers gone")
    harness.poll(lambda: not os.path.exists(subpaths), 30, "the subPath mounts removed")
    assert not mounts_below(subpaths), mounts_below(subpaths)
    print(f"{os.path.basename(__file__)}: a swapped-in link is not followed on restart; "
          f"mounts removed with the app")

