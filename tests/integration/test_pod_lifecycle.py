"""A pod's whole life through the real ``rkt`` processes: run, list, status, gc, and the
SIGKILL cases of the issue ("rkt list shows a truthful state and rkt gc removes the pod, its
mounts and its directories")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.podkit import (
    RKT,
    is_root_with_busybox,
    make_base_rootfs,
    make_image,
    mounts_under,
    rkt,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not is_root_with_busybox(), reason="pods need root and busybox-static"),
]

APP = {"exec": ["/bin/sh", "-c", "echo hello; exit 4"]}


@pytest.fixture
def aci(tmp_path: Path) -> Path:
    return make_image(make_base_rootfs(tmp_path / "base"), tmp_path, "lifecycle", APP)


def states(data: Path) -> dict[str, str]:
    done = rkt(data, "list", "--format=json")
    assert done.returncode == 0, done.stderr
    return {pod["name"]: pod["state"] for pod in json.loads(done.stdout) or []}


def test_run_list_status_gc(data: Path, aci: Path, tmp_path: Path) -> None:
    uuid_file = tmp_path / "uuid"
    done = rkt(data, "--insecure-options=image", "run", "--net=none", str(aci),
               f"--uuid-file-save={uuid_file}")  # fmt: skip
    assert done.returncode == 4, done.stderr  # the app's status passes through
    assert "hello" in done.stdout
    uuid = uuid_file.read_text().strip()
    assert states(data) == {uuid: "exited"}
    status = rkt(data, "status", uuid)
    assert "state=exited" in status.stdout and "app-lifecycle=4" in status.stdout
    assert rkt(data, "gc", "--grace-period=0s").returncode == 0
    assert rkt(data, "gc", "--grace-period=0s").returncode == 0  # exited-garbage → deleted
    assert states(data) == {}
    assert mounts_under(data) == []
    assert not any((data / "pods").rglob(uuid))


def test_sigkill_while_running(data: Path, aci: Path, tmp_path: Path) -> None:
    uuid_file = tmp_path / "uuid"
    proc = subprocess.Popen(
        [*RKT, f"--dir={data}", "--insecure-options=image", "run", "--net=none", str(aci),
         "--exec=/bin/sleep", "--", "1000", "---", f"--uuid-file-save={uuid_file}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (uuid_file.exists() and states(data).get(uuid_file.read_text().strip())):
            assert time.monotonic() < deadline, "the pod never appeared"
            time.sleep(0.1)
        uuid = uuid_file.read_text().strip()
        while states(data)[uuid] != "running":
            assert time.monotonic() < deadline, states(data)
            time.sleep(0.1)
        # gc never touches a running pod.
        assert rkt(data, "gc", "--grace-period=0s").returncode == 0
        assert states(data) == {uuid: "running"}
    finally:
        # SIGKILL to rkt run, stage1 and the pod's processes at once (one session).
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    # The pod's PID 1 was in that session too; once every holder of the lock is dead the
    # pod is no longer running, and list says so.
    deadline = time.monotonic() + 30
    while states(data).get(uuid) == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert states(data)[uuid] == "exited"
    assert mounts_under(data) != []  # the app's root is still mounted …
    rkt(data, "gc", "--grace-period=0s")
    assert rkt(data, "gc", "--grace-period=0s").returncode == 0
    assert states(data) == {}
    assert mounts_under(data) == []  # … until gc tears it down


def test_images_used_by_pods_are_kept(data: Path, aci: Path, tmp_path: Path) -> None:
    uuid_file = tmp_path / "uuid"
    done = rkt(data, "--insecure-options=image", "run", "--net=none", str(aci),
               f"--uuid-file-save={uuid_file}")  # fmt: skip
    assert done.returncode == 4, done.stderr
    listed = rkt(data, "image", "list", "--no-legend", "--full", "--fields=id")
    image_id = listed.stdout.split()[0]
    # The exited pod still has the image's tree under its app root: neither gc nor rm may
    # take it away.
    assert rkt(data, "image", "gc", "--grace-period=0s").returncode == 0
    refused = rkt(data, "image", "rm", image_id)
    assert refused.returncode == 254 and "used by a pod" in refused.stderr
    assert image_id in rkt(data, "image", "list", "--full").stdout
    # Once the pod is gone, the image can go.
    rkt(data, "gc", "--grace-period=0s")
    rkt(data, "gc", "--grace-period=0s")
    assert rkt(data, "image", "rm", image_id).returncode == 0
    assert rkt(data, "image", "verify").returncode == 0
