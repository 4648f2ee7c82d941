#!/bin/sh
# Write seed corpora for every fuzz target into OUTDIR/<target>/: payloads from our own encoder
# (`ferryctl seeds`), the golden protocol payloads, the example apps and config objects, and the
# records, outbox entries and requests of broker-bridge and edge-sync from their own encoders,
# selectors and engine answers (ferry-fuzz-seeds, built in BUILD_DIR/fuzz by -DFERRY_FUZZ=ON).
# usage: fuzz/seed.sh OUTDIR [FERRYCTL [FERRY_FUZZ_SEEDS]]
set -eu
if [ $# -lt 1 ]; then
    echo "usage: $0 OUTDIR [FERRYCTL [FERRY_FUZZ_SEEDS]]" >&2
    exit 2
fi
out=$1
ferryctl=${2:-ferryctl}
fuzz_seeds=${3:-ferry-fuzz-seeds}
root=$(cd "$(dirname "$0")/.." && pwd)

"$ferryctl" seeds "$out"
"$fuzz_seeds" "$out"
mkdir -p "$out/fuzz_proto" "$out/fuzz_msgpack" "$out/fuzz_app_json" "$out/fuzz_config"
for f in "$root"/tests/golden/proto/*.msgpack; do
    cp "$f" "$out/fuzz_proto/golden-$(basename "$f")"
    cp "$f" "$out/fuzz_msgpack/golden-$(basename "$f")"
done
for kind in valid invalid validator-only; do
    for f in "$root"/tests/examples/apps/$kind/*.json; do
        cp "$f" "$out/fuzz_app_json/$kind-$(basename "$f")"
    done
    for f in "$root"/tests/examples/configs/$kind/*.json; do
        cp "$f" "$out/fuzz_config/$kind-$(basename "$f")"
    done
done
# The gateway's requests: a piece size byte, then requests as clients send them.
mkdir -p "$out/fuzz_gateway_route"
printf '\377POST /img/resize HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}' \
    >"$out/fuzz_gateway_route/call"
printf '\007GET /web/a/b?x=1 HTTP/1.1\r\nConnection: keep-alive\r\n\r\nPOST /web/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' \
    >"$out/fuzz_gateway_route/pipelined"
printf '\040GET /img/hello HTTP/1.0\r\nExpect: 100-continue\r\n\r\n' >"$out/fuzz_gateway_route/method"
# ferryctl's manifests: the examples, a multi-document file with an anchor, JSON.
mkdir -p "$out/fuzz_manifest"
for f in "$root"/examples/*.yaml "$root"/examples/*.json; do
    [ -f "$f" ] && cp "$f" "$out/fuzz_manifest/$(basename "$f")"
done
printf 'kind: Node\nname: a\nlabels: &l {zone: "1", on: yes}\n---\nkind: Node\nname: b\nlabels: *l\n' \
    >"$out/fuzz_manifest/anchors.yaml"
printf '[{"kind": "Node", "name": "a", "labels": {"x": "y"}}]' >"$out/fuzz_manifest/list.json"
# The heads edge-sync's GET /metrics server judges.
mkdir -p "$out/fuzz_metrics_request"
printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' >"$out/fuzz_metrics_request/get"
printf 'POST /metrics?x=1 HTTP/1.0\r\n\r\n' >"$out/fuzz_metrics_request/post"
