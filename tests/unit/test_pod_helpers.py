"""Shared helpers for the pod tests: pods built through rkt.pod's own API."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from appc.schema.pod import PodManifest, RuntimeApp, RuntimeImage
from appc.schema.semver import SemVer
from rkt.pod.pod import Pod

IMAGE_ID = "sha512-" + "ab" * 64


def manifest(*apps: str) -> bytes:
    pm = PodManifest(
        ac_version=SemVer.parse("0.8.11", "acVersion"),
        apps=tuple(RuntimeApp(name=a, image=RuntimeImage(id=IMAGE_ID)) for a in apps),
        user_labels={"team": "infra"},
    )
    return pm.to_json()


def prepared(pods: Path, *apps: str) -> str:
    """embryo → preparing → prepared, with a manifest, pod-created and app image manifests."""
    with Pod.new(pods) as pod:
        (pod.path / "pod").write_bytes(manifest(*apps))
        (pod.path / "pod-created").touch()
        for app in apps:
            info = pod.path / "appsinfo" / app
            info.mkdir(parents=True)
            (info / "manifest").write_text(
                '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/'
                + app
                + '","labels":[{"name":"version","value":"1.0"}]}'
            )
        pod.to_prepared()
        return pod.uuid


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from rkt.pod.pod import Pod
    pod = Pod.load(Path(sys.argv[1]), sys.argv[2])
    pod.to_run()
    (pod.path / "pid").write_text("4242")
    print("running", flush=True)
    time.sleep(600)
    """
)


def start_running(pods: Path, uuid: str) -> subprocess.Popen[str]:
    """A stand-in for stage1: moves a prepared pod to run/ and holds its lock until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(pods), uuid],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "running"
    return proc


def exit_status(pods: Path, uuid: str, app: str, code: int) -> None:
    status = pods / "run" / uuid / "stage1" / "rootfs" / "rkt" / "status"
    status.mkdir(parents=True, exist_ok=True)
    (status / app).write_text(str(code))
