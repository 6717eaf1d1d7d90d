"""A pod's whole life through the real ``rkt`` processes: run, list, status, gc, and the
SIGKILL cases of the issue ("rkt list shows a truthful state and rkt gc removes the pod, its
mounts and its directories")."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appc.aci.builder import build
from rkt.linux.mount import MNT_DETACH, umount2

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static"),
]

RKT = [sys.executable, "-m", "rkt.cli.main"]
MANIFEST = {
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "example.com/lifecycle",
    "app": {"exec": ["/bin/sh", "-c", "echo hello; exit 4"], "user": "0", "group": "0"},
}


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path) + "/")]


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    for target in sorted(mounts_under(tmp_path), key=len, reverse=True):
        umount2(target, MNT_DETACH)


@pytest.fixture
def aci(tmp_path: Path) -> Path:
    layout = tmp_path / "layout"
    (layout / "rootfs/bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", layout / "rootfs/bin/busybox")
    for name in ("sh", "sleep", "echo"):
        (layout / "rootfs/bin" / name).symlink_to("busybox")
    (layout / "manifest").write_text(json.dumps(MANIFEST))
    build(layout, tmp_path / "lifecycle.aci", owner_root=True)
    return tmp_path / "lifecycle.aci"


def rkt(data: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RKT, f"--dir={data}", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


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
