#!/usr/bin/env python3
"""Check the ferryctl command line: encode/decode (raw and mosquitto_sub line format), validate,
diff, and that `ferryctl golden` still writes exactly the committed tests/golden/proto files.

usage: ferryctl_cli.py FERRYCTL REPO_ROOT
"""
import filecmp
import json
import os
import subprocess
import sys
import tempfile

failures = []


def run(args, data=None):
    return subprocess.run(args, input=data, capture_output=True, check=False)


def check(cond, what):
    if not cond:
        failures.append(what)


def main():
    ferryctl, root = sys.argv[1], sys.argv[2]
    golden = os.path.join(root, "tests", "golden", "proto")
    apps = os.path.join(root, "tests", "examples", "apps")

    # encode -> raw decode round trip
    doc = {"a": [1, -2, 2.5, "x\u00e9", True, None], "b": {}}
    enc = run([ferryctl, "encode"], json.dumps(doc).encode())
    check(enc.returncode == 0, f"encode failed: {enc.stderr!r}")
    dec = run([ferryctl, "decode"], enc.stdout)
    check(dec.returncode == 0 and json.loads(dec.stdout) == doc, f"raw decode: {dec.stdout!r}")

    # mosquitto_sub -F '%t %x' lines: good, undecodable, empty; exit status 1 at the end
    with open(os.path.join(golden, "valid-node-hello.msgpack"), "rb") as f:
        hello = f.read()
    with open(os.path.join(golden, "corrupt-bad-utf8.msgpack"), "rb") as f:
        bad = f.read()
    lines = (f"ferry/default/nodes/edge-1/hello {hello.hex()}\n"
             f"ferry/default/nodes/edge-1/x {bad.hex().upper()}\r\n"
             f"ferry/default/nodes/edge-1/online \n"
             f"ferry/default/nodes/edge-1/hello {hello.hex()}\n")
    dec = run([ferryctl, "decode"], lines.encode())
    out = dec.stdout.decode().splitlines()
    check(dec.returncode == 1, f"line decode exit {dec.returncode}, want 1")
    check(len(out) == 4, f"line decode printed {out}")
    if len(out) == 4:
        topic, _, js = out[0].partition(" ")
        check(topic == "ferry/default/nodes/edge-1/hello" and json.loads(js)["type"] == "node.hello",
              f"line 1: {out[0]}")
        check(out[1].startswith("ferry/default/nodes/edge-1/x ERROR ") and "UTF-8" in out[1],
              f"line 2: {out[1]}")
        check(out[2].startswith("ferry/default/nodes/edge-1/online ERROR "), f"line 3: {out[2]}")
        check(out[3] == out[0], f"line 4: {out[3]}")

    # validate
    v = run([ferryctl, "validate", os.path.join(apps, "valid", "minimal.json")])
    check(v.returncode == 0 and v.stdout == b"ok\n", f"validate valid: {v.stdout!r}")
    v = run([ferryctl, "validate", os.path.join(apps, "invalid", "name-uppercase.json")])
    check(v.returncode == 1 and v.stdout.startswith(b"name: must be a DNS label"),
          f"validate invalid: {v.stdout!r}")

    with tempfile.TemporaryDirectory() as tmp:
        # diff: patch JSON, then sizes; the patch is far smaller than the app
        old = os.path.join(apps, "valid", "ten-services.json")
        with open(old, encoding="utf-8") as f:
            app = json.load(f)
        app["services"][3]["env"][0]["value"] = "staging"
        new = os.path.join(tmp, "new.json")
        with open(new, "w", encoding="utf-8") as f:
            json.dump(app, f)
        d = run([ferryctl, "diff", old, new])
        out = d.stdout.decode().splitlines()
        check(d.returncode == 0 and len(out) == 4, f"diff: {d.stdout!r} {d.stderr!r}")
        if len(out) == 4:
            patch = json.loads(out[0])
            check("keyed" in json.dumps(patch), f"diff patch: {out[0]}")
            put = int(out[1].split(": ")[1].split()[0])
            delta = int(out[2].split(": ")[1].split()[0])
            check(out[1].startswith("app.put bytes: ") and out[2].startswith("app.patch bytes: "),
                  f"diff sizes: {out[1:]}")
            check(delta * 5 < put, f"patch {delta} bytes is not much smaller than put {put}")

        # golden files are up to date with the encoder and the samples
        g = run([ferryctl, "golden", tmp])
        check(g.returncode == 0, f"golden: {g.stderr!r}")
        names = sorted(n for n in os.listdir(golden))
        match, mismatch, errors = filecmp.cmpfiles(golden, tmp, names, shallow=False)
        check(not mismatch and not errors,
              f"tests/golden/proto is stale (run `ferryctl golden tests/golden/proto`): "
              f"{mismatch + errors}")
        extra = set(os.listdir(tmp)) - set(names) - {"new.json"}
        check(not extra, f"ferryctl golden writes files not committed: {sorted(extra)}")

    for f in failures:
        print("FAIL", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
