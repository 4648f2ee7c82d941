#!/usr/bin/env python3
"""Small Docker-API client (Docker and Podman) over a unix socket, for the scripts in this folder.

  engine.py SOCK ping                      exit 0 when GET /_ping answers OK
  engine.py SOCK describe                  "docker 20.10.24" / "podman 4.3.1"
  engine.py SOCK image-present NAME:TAG    exit 0 when the image is there
  engine.py SOCK image-info NAME:TAG [KEY]  print the image's size in bytes and the value of its
                                           label KEY (none when unset); exit 1 when it is not there
  engine.py SOCK image-id NAME:TAG         print the image's id
  engine.py SOCK rm-image ID               remove an image (not forced: fails while in use)
  engine.py SOCK import NAME:TAG TAR [CHANGE...]   import a rootfs tarball as an image
  engine.py SOCK push NAME:TAG REGISTRY    push to REGISTRY (host:port) as REGISTRY/NAME:TAG with
                                           FERRY_TEST_REGISTRY_USER/_PASS from the environment
  engine.py SOCK rm-containers [KEY=VALUE] remove (force) every container, or those with the label
  engine.py SOCK rm-pods                   Podman only: remove every pod
"""
import http.client
import base64
import json
import os
import re
import socket
import sys
import urllib.parse


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def request(sock, method, path, body=None, headers=None, timeout=60):
    conn = UnixHTTPConnection(sock, timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def as_json(data):
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def describe(sock):
    status, data = request(sock, "GET", "/version")
    v = as_json(data) or {}
    names = " ".join(c.get("Name", "") for c in v.get("Components") or [])
    kind = "podman" if "podman" in names.lower() else "docker"
    return f"{kind} {v.get('Version', '?')}"


def image_present(sock, ref):
    status, _ = request(sock, "GET", "/images/" + urllib.parse.quote(ref, safe="") + "/json")
    return status == 200


def image_inspect(sock, ref):
    """The image's inspect object, or None when the engine does not have it."""
    status, data = request(sock, "GET", "/images/" + urllib.parse.quote(ref, safe="") + "/json")
    return as_json(data) if status == 200 else None


def import_image(sock, ref, tar_path, changes):
    repo, _, tag = ref.rpartition(":")
    if not repo or "/" in tag:
        repo, tag = ref, "latest"
    # Imported without a name, then tagged: Podman's compat import ignores `tag` (it names the
    # image REPO:latest), Docker honours it; tagging afterwards gives the same result on both.
    # Podman files a short name under docker.io; local images are "localhost/NAME" there (what
    # `podman import` does), and the short name finds them.
    first = repo.split("/")[0]
    if describe(sock).startswith("podman") and "/" in repo and not (
            "." in first or ":" in first or first == "localhost"):
        repo = "localhost/" + repo
    query = [("fromSrc", "-")] + [("changes", c) for c in changes]
    with open(tar_path, "rb") as f:
        body = f.read()
    status, data = request(sock, "POST", "/images/create?" + urllib.parse.urlencode(query), body,
                           {"Content-Type": "application/x-tar"}, timeout=300)
    text = data.decode(errors="replace")
    # The answer is a stream of JSON objects; an error shows up as {"error": ...} in it, the image
    # id as the last {"status": "sha256:..."}.
    image_id = None
    for m in re.finditer(r'"status"\s*:\s*"(sha256:[0-9a-f]{64})"', text):
        image_id = m.group(1)
    if status != 200 or '"error"' in text or not image_id:
        sys.exit(f"import of {ref} into {sock} failed: HTTP {status}: {text[-2000:]}")
    query = urllib.parse.urlencode({"repo": repo, "tag": tag})
    status, data = request(sock, "POST", f"/images/{image_id}/tag?{query}")
    if status not in (200, 201) or not image_present(sock, ref):
        sys.exit(f"tagging {image_id} as {ref} on {sock} failed: HTTP {status}: {data[:500]!r}")


def push_image(sock, ref, registry):
    """Tag ref as registry/ref, push it with basic-auth credentials, drop that tag again."""
    repo, _, tag = ref.rpartition(":")
    auth = {"username": os.environ.get("FERRY_TEST_REGISTRY_USER", ""),
            "password": os.environ.get("FERRY_TEST_REGISTRY_PASS", ""), "serveraddress": registry}
    header = {"X-Registry-Auth": base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()}
    remote = f"{registry}/{repo}"
    query = urllib.parse.urlencode({"repo": remote, "tag": tag})
    status, data = request(sock, "POST", f"/images/{urllib.parse.quote(ref, safe='')}/tag?{query}")
    if status not in (200, 201):
        sys.exit(f"tagging {ref} as {remote}:{tag} on {sock}: HTTP {status}: {data[:300]!r}")
    try:
        path = f"/images/{urllib.parse.quote(remote, safe='')}/push?tag={tag}"
        status, data = request(sock, "POST", path, b"", header, timeout=300)
        text = data.decode(errors="replace")
        if status != 200 or '"error"' in text:
            sys.exit(f"push of {remote}:{tag} from {sock} failed: HTTP {status}: {text[-1000:]}")
    finally:
        request(sock, "DELETE", f"/images/{urllib.parse.quote(remote + ':' + tag, safe='')}")


def rm_containers(sock, label=None):
    """Force-remove every container (with the label); returns how many could not be removed.
    Containers that join another's network go first, and failures get two more rounds: Podman
    refuses to remove a container that others join, even with force."""
    filters = {"label": [label]} if label else {}
    query = urllib.parse.urlencode({"all": "1", "filters": json.dumps(filters)})
    status, data = request(sock, "GET", "/containers/json?" + query)
    if status != 200:
        sys.exit(f"listing containers on {sock}: HTTP {status}: {data[:500]!r}")

    def order(c):  # Podman's list has no HostConfig: Ferry's role label tells infra apart
        mode = (c.get("HostConfig") or {}).get("NetworkMode") or ""
        infra = (c.get("Labels") or {}).get("io.ferry.role") == "infra"
        return (0 if mode.startswith("container:") else 1, 1 if infra else 0)

    pending = sorted(as_json(data) or [], key=order)
    errors = []
    for _ in range(3):
        errors = []
        for c in pending:
            status, data = request(sock, "DELETE", f"/containers/{c['Id']}?force=1&v=1",
                                   timeout=120)
            if status not in (200, 204, 404):
                errors.append((c, f"HTTP {status}: {data[:300]!r}"))
        if not errors:
            break
        pending = [c for c, _ in errors]
    for c, why in errors:
        print(f"removing container {c['Id'][:12]} on {sock}: {why}", file=sys.stderr)
    return len(errors)


def rm_pods(sock):
    status, data = request(sock, "GET", "/v4.0.0/libpod/pods/json")
    if status != 200:
        return 0  # not Podman
    failed = 0
    for p in as_json(data) or []:
        status, data = request(sock, "DELETE", f"/v4.0.0/libpod/pods/{p['Id']}?force=true",
                               timeout=120)
        if status not in (200, 204, 404):
            print(f"removing pod {p['Id'][:12]} on {sock}: HTTP {status}: {data[:300]!r}",
                  file=sys.stderr)
            failed += 1
    return failed


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    sock, cmd, args = argv[1], argv[2], argv[3:]
    try:
        if cmd == "ping":
            status, data = request(sock, "GET", "/_ping", timeout=5)
            return 0 if status == 200 else 1
        if cmd == "describe":
            print(describe(sock))
            return 0
        if cmd == "image-present":
            return 0 if image_present(sock, args[0]) else 1
        if cmd == "image-info":
            info = image_inspect(sock, args[0])
            if info is None:
                return 1
            labels = (info.get("Config") or {}).get("Labels") or {}
            print(info.get("Size") or 0, labels.get(args[1], "") if len(args) > 1 else "")
            return 0
        if cmd == "image-id":
            info = image_inspect(sock, args[0])
            if info is None:
                return 1
            print(info.get("Id", ""))
            return 0
        if cmd == "rm-image":
            path = "/images/" + urllib.parse.quote(args[0], safe="")
            status, data = request(sock, "DELETE", path)
            if status not in (200, 404):
                print(f"removing image {args[0]} from {sock}: HTTP {status}: {data[:300]!r}",
                      file=sys.stderr)
                return 1
            return 0
        if cmd == "import":
            import_image(sock, args[0], args[1], args[2:])
            return 0
        if cmd == "push":
            push_image(sock, args[0], args[1])
            return 0
        if cmd == "rm-containers":
            return 1 if rm_containers(sock, args[0] if args else None) else 0
        if cmd == "rm-pods":
            return 1 if rm_pods(sock) else 0
    except (OSError, http.client.HTTPException) as e:
        print(f"engine at {sock}: {e}", file=sys.stderr)
        return 1
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
