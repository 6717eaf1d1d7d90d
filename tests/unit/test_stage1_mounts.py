"""The ordered mount list of an app, compared as describe() strings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from rkt.stage1.planner.mounts import MASKED_DIRS, MASKED_FILES, READ_ONLY_PATHS
from rkt.stage1.planner.plan import Mount, PlanError
from tests.unit.test_stage1_support import make_rootfs, plan

POD = "/var/lib/rkt/pods/run/1234"


def base(root: Path, *, console: bool = False) -> list[str]:
    lines = [
        f"bind {root} -> / [rbind,nodev]",
        "proc proc -> /proc [nosuid,nodev,noexec]",
        "sysfs sysfs -> /sys [nosuid,nodev,noexec] ro",
        "tmpfs tmpfs -> /dev [nosuid,nodev,strictatime,mode=755,size=65536k]",
        "bind /dev/null -> /dev/null",
        "bind /dev/zero -> /dev/zero",
        "bind /dev/full -> /dev/full",
        "bind /dev/random -> /dev/random",
        "bind /dev/urandom -> /dev/urandom",
        "bind /dev/tty -> /dev/tty",
        "devpts devpts -> /dev/pts [nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5]",
        "symlink pts/ptmx -> /dev/ptmx",
        "tmpfs shm -> /dev/shm [nosuid,nodev,noexec,mode=1777,size=65536k]",
        "mqueue mqueue -> /dev/mqueue [nosuid,nodev,noexec]",
        "symlink /proc/self/fd -> /dev/fd",
        "symlink /proc/self/fd/0 -> /dev/stdin",
        "symlink /proc/self/fd/1 -> /dev/stdout",
        "symlink /proc/self/fd/2 -> /dev/stderr",
    ]
    if console:
        lines.append("bind - -> /dev/console [console]")
    return [*lines, "tmpfs tmpfs -> /tmp [nosuid,nodev,mode=1777]"]


PROTECTION = [
    "remount-ro - -> /proc/bus",
    "remount-ro - -> /proc/fs",
    "remount-ro - -> /proc/irq",
    "remount-ro - -> /proc/sys",
    "remount-ro - -> /proc/sysrq-trigger",
    "mask - -> /proc/config.gz",
    "mask - -> /proc/kallsyms",
    "mask - -> /proc/kcore",
    "mask - -> /proc/keys",
    "mask - -> /proc/kmem",
    "mask - -> /proc/latency_stats",
    "mask - -> /proc/mem",
    "mask - -> /proc/sched_debug",
    "mask - -> /proc/timer_list",
    "mask - -> /proc/timer_stats",
    "mask - -> /proc/acpi [dir]",
    "mask - -> /proc/asound [dir]",
    "mask - -> /proc/scsi [dir]",
    "mask - -> /sys/devices/virtual/powercap [dir]",
    "mask - -> /sys/firmware [dir]",
    "mask - -> /sys/hypervisor [dir]",
    "mask - -> /sys/module [dir]",
    "mask - -> /sys/power [dir]",
]


def test_default_mount_list(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    app = plan(root).app("web")
    # The image has /etc/hosts and no --dns/--hosts-entry: its own files stay.
    assert app.describe_mounts() == [*base(root), *PROTECTION]


def test_interactive_adds_console_and_read_only_rootfs_comes_last(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    app = plan(root, interactive=True, runtime={"readOnlyRootFS": True}).app("web")
    assert app.describe_mounts() == [*base(root, console=True), *PROTECTION, "remount-ro - -> /"]
    assert app.read_only_rootfs


def test_masked_paths_cover_the_known_leaks() -> None:
    for path in ("proc/kcore", "proc/keys", "proc/timer_list", "proc/sched_debug"):
        assert path in MASKED_FILES
    assert "proc/scsi" in MASKED_DIRS and "sys/firmware" in MASKED_DIRS
    for path in ("proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus"):
        assert path in READ_ONLY_PATHS


def test_insecure_paths_drops_protection(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    assert plan(root, insecure_paths=True).app("web").describe_mounts() == base(root)


def test_volumes_matched_by_name_with_implicit_empty_volume(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    mount_points = [
        {"name": "data", "path": "/var/data"},
        {"name": "conf", "path": "/etc/app", "readOnly": True},
        {"name": "cache", "path": "/var/cache"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "data", "kind": "host", "source": "/srv/data"},
        {"name": "conf", "kind": "host", "source": "/srv/conf", "recursive": False},
    ]
    pod = plan(root, app={"mountPoints": mount_points}, volumes=volumes)
    app = pod.app("web")
    vols = app.describe_mounts()[len(base(root)) : -len(PROTECTION)]
    assert vols == [
        "bind /srv/data -> /var/data [rbind,nodev]",
        "bind /srv/conf -> /etc/app [nodev] ro",
        f"bind {POD}/volumes/web-cache -> /var/cache [nodev]",
    ]
    assert [(v.path, v.mode, v.uid, v.gid) for v in pod.volumes] == [
        (f"{POD}/volumes/web-cache", 0o755, 0, 0)
    ]


def test_pod_manifest_mounts_and_read_only_precedence(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    mount_points = [
        {"name": "a", "path": "/a", "readOnly": True},
        {"name": "b", "path": "/b", "readOnly": True},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "a", "kind": "host", "source": "/srv/a"},
        {"name": "b", "kind": "host", "source": "/srv/b", "readOnly": False},
        {"name": "c", "kind": "empty", "readOnly": True, "mode": "0700", "uid": 5, "gid": 6},
    ]
    runtime = {"mounts": [{"volume": "c", "path": "/c"}, {"volume": "a", "path": "/other"}]}
    pod = plan(root, app={"mountPoints": mount_points}, volumes=volumes, runtime=runtime)
    vols = pod.app("web").describe_mounts()[len(base(root)) : -len(PROTECTION)]
    assert vols == [
        # pod manifest mounts first; a mount point's readOnly applies to its volume's mount
        f"bind {POD}/volumes/c -> /c [nodev] ro",
        "bind /srv/a -> /other [rbind,nodev] ro",
        # mount point "a" at /a still gets its volume too
        "bind /srv/a -> /a [rbind,nodev] ro",
        # the volume's explicit readOnly=false wins over the mount point, as in rkt
        "bind /srv/b -> /b [rbind,nodev]",
    ]
    assert [(v.mode, v.uid, v.gid) for v in pod.volumes] == [(0o700, 5, 6)]


def test_mount_naming_missing_volume_is_refused(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    with pytest.raises(PlanError, match='names volume "nope"'):
        plan(root, runtime={"mounts": [{"volume": "nope", "path": "/x"}]})


def test_mount_target_symlink_resolves_inside_root(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    (root / "run").mkdir()
    (root / "var").mkdir()
    os.symlink("/run", root / "var/run")
    app = plan(
        root,
        app={"mountPoints": [{"name": "sock", "path": "/var/run/app"}]},
        volumes=[{"name": "sock", "kind": "host", "source": "/srv/sock"}],
    ).app("web")
    assert "bind /srv/sock -> /run/app [rbind,nodev]" in app.describe_mounts()


def test_mount_target_escaping_root_is_refused(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    os.symlink("../" * len(root.parts) + "etc", root / "escape")
    volumes = [{"name": "v", "kind": "host", "source": "/srv/v"}]
    with pytest.raises(PlanError, match="outside the app root"):
        plan(root, app={"mountPoints": [{"name": "v", "path": "/escape/x"}]}, volumes=volumes)
    with pytest.raises(PlanError, match=r'contains "\.\."'):
        plan(root, app={"mountPoints": [{"name": "v", "path": "/a/../../x"}]}, volumes=volumes)


def test_mount_target_on_runtime_paths_is_refused(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    os.symlink("/proc/self", root / "selfproc")
    volumes = [{"name": "v", "kind": "host", "source": "/srv/v"}]
    for path in ("/", "/proc/sys", "/selfproc", "/dev/x"):
        with pytest.raises(PlanError, match="cannot be mounted"):
            plan(root, app={"mountPoints": [{"name": "v", "path": path}]}, volumes=volumes)


def test_overlapping_mount_paths_are_refused(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    points = [{"name": "a", "path": "/data"}, {"name": "b", "path": "/data/sub"}]
    with pytest.raises(PlanError, match="overlap"):
        plan(root, app={"mountPoints": points})
    # /data2 is not inside /data: component-wise comparison (rkt PR#1852).
    points = [{"name": "a", "path": "/data"}, {"name": "b", "path": "/data2"}]
    assert len(plan(root, app={"mountPoints": points}).volumes) == 2


@pytest.mark.parametrize("name", ["proc", "sys", "dev"])
def test_kernel_dir_symlink_is_refused(tmp_path: Path, name: str) -> None:
    root = make_rootfs(tmp_path)
    (root / name).rmdir()
    os.symlink("/tmp", root / name)
    with pytest.raises(PlanError, match=f'"/{name}" in the image is not a directory'):
        plan(root)


def test_missing_kernel_dirs_are_fine(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    (root / "proc").rmdir()
    assert plan(root).app("web").mounts[1] == Mount(
        "proc", "proc", "proc", ("nosuid", "nodev", "noexec")
    )


def test_mount_refuses_absolute_or_climbing_targets() -> None:
    with pytest.raises(ValueError):
        Mount("bind", "/x", "/abs")
    with pytest.raises(ValueError):
        Mount("bind", "/x", "a/../b")
    with pytest.raises(ValueError):
        Mount("chmod", "/x", "a")


def test_working_directory(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    assert plan(root, app={"workingDirectory": "/home/web"}).app("web").working_directory == (
        "/home/web"
    )
    with pytest.raises(PlanError, match="does not exist"):
        plan(root, app={"workingDirectory": "/nowhere"})
    with pytest.raises(PlanError, match="not a directory"):
        plan(root, app={"workingDirectory": "/bin/app"})
    # Inside a volume it is created by the mount, so it may be missing now.
    app = {"workingDirectory": "/work/dir", "mountPoints": [{"name": "w", "path": "/work"}]}
    assert plan(root, app=app).app("web").working_directory == "/work/dir"
