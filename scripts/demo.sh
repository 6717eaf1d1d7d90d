#!/usr/bin/env bash
# Quick start: set up; build an App Container Image from busybox-static with actool, validate
# it, print its manifest and image ID; sign it, trust the key, fetch it into a store, and run
# a pod of it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

out=out/busybox
rm -rf "$out" && mkdir -p "$out/layout/rootfs/bin"
cp /bin/busybox "$out/layout/rootfs/bin/busybox"
for applet in sh echo ls cat env id; do
    ln -s busybox "$out/layout/rootfs/bin/$applet"
done
# The image manifest, with this machine's os/arch labels.
.venv/bin/python - examples/busybox/manifest "$out/layout/manifest" <<'PY'
import json, sys
from appc.schema.labels import host_os_arch
doc = json.load(open(sys.argv[1]))
os_name, arch = host_os_arch()
doc["labels"] = [l for l in doc["labels"] if l["name"] not in ("os", "arch")]
doc["labels"] += [{"name": "os", "value": os_name}, {"name": "arch", "value": arch}]
json.dump(doc, open(sys.argv[2], "w"), indent=4)
PY

actool=.venv/bin/actool
echo "== actool build"
"$actool" build --overwrite "$out/layout" "$out/busybox.aci"
echo "== actool validate"
"$actool" --debug validate "$out/busybox.aci"
echo "== actool cat-manifest"
"$actool" cat-manifest --pretty-print "$out/busybox.aci"
echo
echo "== actool image-id"
"$actool" image-id "$out/busybox.aci"

# The image half of rkt: sign the image with a throwaway key, trust that key for the image's
# name, and fetch the image into a store of its own; the signature is verified on the way.
store=out/rkt
rkt=(.venv/bin/rkt --dir "$store/data" --local-config "$store/config" --system-config "$store/none")
# A previous demo's pods hold mounts under the store: let rkt gc take them down first.
if [ -d "$store/data/pods" ]; then
    "${rkt[@]}" gc --grace-period=0s >/dev/null 2>&1 || true
    "${rkt[@]}" gc --grace-period=0s >/dev/null 2>&1 || true
fi
rm -rf "$store" && mkdir -p "$store/config"
PYTHONPATH=. .venv/bin/python - "$out/busybox.aci" "$store/key.asc" <<'PY'
import sys
from pathlib import Path
from tests.trustkit import Signer
signer = Signer.generate("Rocket demo <demo@rocket.invalid>")
signer.sign_file(Path(sys.argv[1]))            # writes busybox.aci.asc beside the image
signer.write_public_key(Path(sys.argv[2]))
PY
echo
echo "== rkt trust"
"${rkt[@]}" trust --prefix=rocket.example/busybox --skip-fingerprint-review "$store/key.asc"
echo "== rkt fetch"
"${rkt[@]}" fetch "$out/busybox.aci"
echo "== rkt image list"
"${rkt[@]}" image list
echo "== rkt run (a pod of the fetched image, with no network: --net=none)"
"${rkt[@]}" run --net=none rocket.example/busybox:1.35.0
echo "== rkt list"
"${rkt[@]}" list
echo "== rkt gc (twice: exited pods are marked, then removed with their mounts)"
"${rkt[@]}" gc --grace-period=0s
"${rkt[@]}" gc --grace-period=0s
