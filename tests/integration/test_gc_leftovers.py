"""``rkt gc`` sweeps what pods left on the host when their directories are gone (cgroups
named for their UUIDs, netns mounts, leases, NAT chains, lock files), and never what belongs
to a pod of another data dir that still runs or has not been collected yet
(rkt.stage1.executor.leftovers says how it decides)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from rkt.linux import cgroup
from rkt.linux.mount import MNT_DETACH, umount2
from tests.integration import podkit
from tests.integration.hostkit import World, kill_pod, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not podkit.is_root_with_busybox(), reason="needs root and busybox-static"),
    pytest.mark.skipif(shutil.which("iptables") is None, reason="needs iptables"),
]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    found = World.make(tmp_path / "a", seed=int.from_bytes(os.urandom(4), "big"))
    try:
        yield found
    finally:
        found.cleanup()


def _start(
    world: World, image: str = "sleeper", data: Path | None = None
) -> tuple[str, subprocess.Popen[bytes]]:
    """A pod running in the background on the world's network: (its UUID, rkt run's pid)."""
    save = world.root / f"uuid-{os.urandom(4).hex()}"
    argv = world.argv("--insecure-options=image", "run", f"--net={world.network}",
                      str(world.images[image]), f"--uuid-file-save={save}")  # fmt: skip
    if data is not None:
        argv = [a if not a.startswith("--dir=") else f"--dir={data}" for a in argv]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    uuid = wait_for(lambda: save.exists() and save.read_text().strip(), 60, "the pod's UUID")
    world.uuids.add(uuid)
    pods = (data or world.data) / "pods"
    wait_for(lambda: (pods / "run" / uuid / "pid").exists(), 60, "the pod's PID 1")
    wait_for(lambda: (pods / "run" / uuid / "net-info.json").exists(), 60, "the pod's network")
    return uuid, proc


def _kill_pod(uuid: str, proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL rkt run, its monitor and the pod's PID 1: nothing tears the pod down."""
    kill_pod(uuid)
    proc.wait(30)


def _vanish(pod_dir: Path) -> None:
    """The directory goes without gc: its mounts detached, the tree removed."""
    for target in sorted(podkit.mounts_under(pod_dir), key=len, reverse=True):
        with contextlib.suppress(OSError):
            umount2(target, MNT_DETACH)
    with contextlib.suppress(OSError):
        umount2(str(pod_dir / "netns"), MNT_DETACH)
    shutil.rmtree(pod_dir)


def test_gc_sweeps_what_a_vanished_pod_left(world: World) -> None:
    uuid, proc = _start(world)
    _kill_pod(uuid, proc)
    _vanish(world.data / "pods" / "run" / uuid)
    left = world.leftovers()
    assert left.get("cgroups") and left.get("leases") and left.get("iptables"), left
    done = world.rkt("gc", "--grace-period=0s")
    assert done.returncode == 0, done.stderr
    assert "left by a pod that is gone" in done.stderr
    assert world.leftovers() == {}


def test_orphan_cgroups_of_every_shape_go_but_busy_ones_stay(world: World) -> None:
    """Cgroups named as each placement mode names a pod's (``rkt/<uuid>``, ``rkt-<uuid>``),
    in each hierarchy of this host; one holding a process is left alone."""
    layout = cgroup.host_layout()
    base = sorted(set(layout.bases.values()))[0]
    orphans = [os.path.join(base, cgroup.PARENT, str(uuidlib.uuid4())),
               os.path.join(base, f"rkt-{uuidlib.uuid4()}")]  # fmt: skip
    busy = os.path.join(base, cgroup.PARENT, str(uuidlib.uuid4()))
    for path in [*orphans, busy]:
        os.makedirs(os.path.join(path, cgroup.SUPERVISOR))
    holder = subprocess.Popen(["sleep", "600"])
    try:
        with open(os.path.join(busy, cgroup.SUPERVISOR, "cgroup.procs"), "w") as f:
            f.write(str(holder.pid))
        done = world.rkt("gc", "--grace-period=0s")
        assert done.returncode == 0, done.stderr
        assert not any(os.path.exists(p) for p in orphans), done.stderr
        assert os.path.isdir(busy)
    finally:
        holder.kill()
        holder.wait()
        for path in [busy, *orphans]:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(path, cgroup.SUPERVISOR))
            with contextlib.suppress(OSError):
                os.rmdir(path)


def test_pods_of_another_data_dir_are_left_alone(world: World, tmp_path: Path) -> None:
    other = tmp_path / "b-data"
    running, proc = _start(world, data=other)
    exited, exited_proc = _start(world, data=other)
    _kill_pod(exited, exited_proc)  # exited, not collected: still mounted
    before = world.leftovers()
    assert len(before["leases"]) == 2 and before["cgroups"], before
    done = world.rkt("gc", "--grace-period=0s")
    assert done.returncode == 0, done.stderr
    assert "left by a pod that is gone" not in done.stderr
    after = world.leftovers()
    assert after["leases"] == before["leases"]
    assert after["iptables"] == before["iptables"]
    assert set(before["cgroups"]) <= set(after["cgroups"])
    status = subprocess.run(world.argv("status", running), capture_output=True, text=True)
    assert status.returncode != 0  # not a pod of this data dir...
    status = subprocess.run(
        [
            a if not a.startswith("--dir=") else f"--dir={other}"
            for a in world.argv("status", running)
        ],
        capture_output=True,
        text=True,
    )
    assert "state=running" in status.stdout  # ...but one that still runs
    # The other data dir's own gc then cleans up after both.
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    argv = [
        a if not a.startswith("--dir=") else f"--dir={other}"
        for a in world.argv("gc", "--grace-period=0s")
    ]
    for _ in range(2):
        assert subprocess.run(argv, capture_output=True, check=False).returncode == 0
    assert world.leftovers() == {}
