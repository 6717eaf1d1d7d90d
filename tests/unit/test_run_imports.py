"""``rkt run --net=none <image ID>`` loads only what such a run uses before stage1 starts.

Schedulers run stored images by ID in loops, so stage0 pays for no network code, no hashing
(OpenSSL), no keystore and no renderer when the image is stored and rendered already. The probe
runs the real CLI up to the point where stage1 would be started; the overlay mount is replaced
(the seam every kernel call goes through) so that this runs as any user.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FETCH = """
import json, sys
from pathlib import Path
import appc.aci
from rkt.cli.main import main
root = Path(sys.argv[1])
layout = root / "layout"
(layout / "rootfs").mkdir(parents=True)
(layout / "manifest").write_text(json.dumps({
    "acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/app",
    "app": {"exec": ["/bin/true"], "user": "0", "group": "0"}}))
appc.aci.build(layout, root / "app.aci")
sys.exit(main([*sys.argv[2:], "fetch", "--full", str(root / "app.aci")]))
"""

RUN = """
import sys
import rkt.linux.mount
import rkt.stage0.prepare
import rkt.stage0.run
from rkt.cli.main import main

loaded = []

def spawn(pod, **kwargs):
    loaded.extend(sys.modules)
    return 0

rkt.linux.mount.mount = lambda *args: None
rkt.stage0.prepare.overlay_supported = lambda: True
rkt.stage0.run._run_here = spawn
code = main([*sys.argv[2:], "run", "--net=none", sys.argv[1]], own_process=True)
print(code, " ".join(sorted(set(loaded))))
"""

#: Modules a run of a stored image with --net=none must not load before stage1 starts.
UNUSED = (
    "hashlib",  # nothing is hashed: the image was verified and rendered when it was fetched
    "rkt.net.config",
    "rkt.net.pod",
    "rkt.trust",
    "rkt.trust.keystore",
    "rkt.store.render",
    "rkt.fetch.http",
    "urllib3",
)


def test_run_of_a_stored_image_loads_no_network_trust_or_hashing(tmp_path: Path) -> None:
    flags = [
        f"--dir={tmp_path / 'data'}",
        f"--local-config={tmp_path / 'local'}",
        f"--system-config={tmp_path / 'system'}",
        f"--user-config={tmp_path / 'user'}",
        "--insecure-options=image",
    ]
    fetched = subprocess.run(
        [sys.executable, "-c", FETCH, str(tmp_path), *flags],
        capture_output=True,
        text=True,
        check=True,
    )
    image_id = fetched.stdout.strip()
    assert image_id.startswith("sha512-")
    result = subprocess.run(
        [sys.executable, "-c", RUN, image_id, *flags],
        capture_output=True,
        text=True,
        check=True,
    )
    code, _, modules = result.stdout.strip().partition(" ")
    assert code == "0", result.stderr
    assert "rkt.stage0.prepare" in modules.split()  # the probe did reach stage1's start
    assert sorted(set(UNUSED) & set(modules.split())) == []
