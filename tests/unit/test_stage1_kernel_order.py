"""The order of the executors' kernel calls, recorded through the seam (rkt.linux.kernel's
RecordingKernel) and performed by nobody, so that any user can run them: the fly app's process
up to its execve, ``rkt enter``'s joining of an app (from the fds opened in a /proc/<pid> of
our own making), and the launcher's pod setup (namespaces, mounts, hostname, each app's mount
namespace, the capabilities PID 1 keeps across its exec)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rkt.linux import namespace
from rkt.linux.kernel import RecordingKernel
from rkt.linux.mount import MNT_DETACH, MS_REC, MS_SLAVE
from rkt.linux.seccomp import Stack
from rkt.stage1.executor import enter as executor_enter
from rkt.stage1.executor import launcher
from rkt.stage1.fly import enter as fly_enter
from rkt.stage1.fly import run as fly_run
from rkt.stage1.fly.plan import FlyPlan, plan_fly
from rkt.stage1.planner.plan import AppInput, PodInput, PodOptions, PodPlan
from tests.unit.test_stage1_support import image, make_rootfs, plan, pod_manifest

NEWNS = namespace.CLONE_NEWNS


def _names(calls: list[tuple[object, ...]]) -> set[str]:
    """The distinct names of ``calls``."""
    return {str(call[0]) for call in calls}


# --- fly: the app's process ------------------------------------------------------------------


def _fly_plan(root: Path) -> FlyPlan:
    manifest = pod_manifest(
        [{"name": "web", "mounts": [{"volume": "data", "path": "/data"}]}],
        [{"name": "data", "kind": "host", "source": "/srv"}],
    )
    app = image(user="web", group="webgrp", workingDirectory="/home/web")
    inputs = (AppInput(manifest.apps[0], app, str(root)),)
    options = PodOptions(pod_dir="/var/lib/rkt/pods/run/1", hostname="")
    return plan_fly(PodInput(manifest, inputs, options), "host")


def test_fly_app_enters_its_root_then_takes_its_ids_then_closes_fds(tmp_path: Path) -> None:
    fly = _fly_plan(make_rootfs(tmp_path))
    kernel = RecordingKernel()
    lock_read, lock = os.pipe()
    try:
        fly_run.prepare_app(fly, 9, lock, kernel)
        assert os.get_inheritable(lock)  # the app keeps the pod locked for as long as it runs
    finally:
        os.close(lock_read)
        os.close(lock)
    calls = kernel.calls
    assert calls[:4] == [
        ("set_dumpable", False),
        ("reset_signals", fly_run._RESET_SIGNALS, True),
        ("unshare", NEWNS),
        ("mount", None, "/", None, MS_REC | MS_SLAVE, None),  # a slave of the host's /
    ]
    assert calls[-5:] == [
        ("chdir", fly.root),
        ("chroot", "."),
        ("chdir", "/home/web"),
        ("set_ids", (1000, 1000, 1000), (1001, 1001, 1001), (1001,)),
        ("close_fds", (0, 1, 2, 9, lock)),
    ]
    # Every mount of the plan is made in the new namespace, before the chroot.
    mounts = calls[4:-5]
    assert _names(mounts) <= {"open_in_root", "mount", "mount_flags", "close"}
    targets = [call[2] for call in mounts if call[0] == "open_in_root"]
    assert targets == ["dev", "proc", "sys", "tmp", "data"]
    assert all(call[1] == fly.root for call in mounts if call[0] == "open_in_root")


# --- rkt enter: joining an app ---------------------------------------------------------------

KINDS = [kind for kind, _ in executor_enter.NAMESPACES]
NSTYPES = [nstype for _, nstype in executor_enter.NAMESPACES]


def _status(no_new_privs: bool) -> str:
    # Host ids of an app in a user namespace that maps 0.. onto 100000..
    return (
        "Name:\tapp\n"
        "Uid:\t101000\t101000\t101000\t101000\n"
        "Gid:\t101001\t101001\t101001\t101001\n"
        "Groups:\t101010\n"
        f"NoNewPrivs:\t{int(no_new_privs)}\n"
        "Seccomp:\t2\n"
        "CapInh:\t0000000000000001\n"
        "CapPrm:\t0000000000000021\n"
        "CapEff:\t0000000000000021\n"
        "CapBnd:\t0000000000000023\n"
        "CapAmb:\t0000000000000001\n"
    )


@pytest.fixture
def proc(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, int]]:
    """A /proc/<pid> of an app in namespaces of its own (none of them ours): its path and an
    open directory fd, as find_app hands it to open_target."""
    path = tmp_path / "proc" / "4242"
    (path / "ns").mkdir(parents=True)
    for kind in KINDS:
        (path / "ns" / kind).write_text("")
    (path / "root").mkdir()
    (path / "cwd").mkdir()
    (path / "status").write_text(_status(getattr(request, "param", True)))
    (path / "environ").write_bytes(b"AC_APP_NAME=web\0PATH=/bin\0")
    for name in ("uid_map", "gid_map"):
        (path / name).write_text("         0     100000      65536\n")
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield path, fd
    finally:
        os.close(fd)


def _credentials_then_caps(early: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """What _set_credentials does with the status above and cap_last_cap 7: the bounding set
    (0x23) first, keepcaps around the id change, capset, then the ambient set (0x1)."""
    return [
        ("last_cap",),
        ("ambient_clear",),
        *(("bounding_drop", number) for number in (2, 3, 4, 6, 7)),
        ("set_keepcaps", True),
        ("set_ids", (1000, 1000, 1000), (1001, 1001, 1001), (1010,)),
        *early,
        ("capset", 0x21, 0x21, 0x1),
        ("ambient_raise", 0),
        ("set_keepcaps", False),
    ]


@pytest.mark.parametrize("proc", [True], indirect=True)
def test_enter_opens_every_namespace_then_joins_them_in_order(
    proc: tuple[Path, int],
) -> None:
    path, fd = proc
    target = executor_enter.open_target(fd, 4242)
    filters = Stack(())
    kernel = RecordingKernel(cap_last_cap=7)
    try:
        opened = [os.readlink(f"/proc/self/fd/{ns}") for ns, _ in target.namespaces]
        assert opened == [str(path / "ns" / kind) for kind in KINDS]
        executor_enter.join(target, "web", kernel)
        executor_enter.take_jail(target, 7, kernel, filters)
    finally:
        target.close()
    assert kernel.calls == [
        ("set_dumpable", False),  # before anything of the pod can see us
        *(("setns", ns, nstype) for ns, nstype in target.namespaces),
        ("fchdir", target.root),
        ("chroot", "."),
        ("fchdir", target.cwd),
        *_credentials_then_caps([]),
        ("set_no_new_privs",),
        ("close_fds", (0, 1, 2, 7)),
        ("load_seccomp", filters),  # last: it may refuse what came before
    ]
    # nsenter's order, mnt last of the pod's (after it host paths mean nothing), then user.
    assert [call[2] for call in kernel.calls if call[0] == "setns"] == [
        namespace.CLONE_NEWIPC,
        namespace.CLONE_NEWUTS,
        namespace.CLONE_NEWNET,
        namespace.CLONE_NEWPID,
        NEWNS,
        namespace.CLONE_NEWUSER,
    ]


@pytest.mark.parametrize("proc", [False], indirect=True)
def test_enter_without_no_new_privs_loads_the_filter_while_privileged(
    proc: tuple[Path, int],
) -> None:
    _, fd = proc
    target = executor_enter.open_target(fd, 4242)
    filters = Stack(())
    kernel = RecordingKernel(cap_last_cap=7)
    try:
        executor_enter.take_jail(target, 7, kernel, filters)
    finally:
        target.close()
    # Loading a filter takes no_new_privs or CAP_SYS_ADMIN: before capset drops the latter.
    assert kernel.calls == [
        ("fchdir", target.root),
        ("chroot", "."),
        ("fchdir", target.cwd),
        *_credentials_then_caps([("load_seccomp", filters)]),
        ("close_fds", (0, 1, 2, 7)),
    ]


def test_enter_names_the_app_when_a_namespace_cannot_be_joined(proc: tuple[Path, int]) -> None:
    class Refusing(RecordingKernel):
        def setns(self, fd: int, nstype: int) -> None:
            super().setns(fd, nstype)
            if nstype == namespace.CLONE_NEWNET:
                raise PermissionError(1, "setns: Operation not permitted")

    target = executor_enter.open_target(proc[1], 4242)
    kernel = Refusing()
    try:
        with pytest.raises(executor_enter.EnterError, match="namespaces of app 'web'"):
            executor_enter.join(target, "web", kernel)
    finally:
        target.close()
    assert [call[2] for call in kernel.calls if call[0] == "setns"] == NSTYPES[:3]


def test_fly_enter_joins_the_mount_namespace_then_the_root_then_the_ids() -> None:
    creds = executor_enter.parse_status(_status(True).encode())
    kernel = RecordingKernel()
    fly_enter.take_jail("web", 11, 12, 13, creds, kernel)
    assert kernel.calls == [
        ("set_dumpable", False),
        ("setns", 11, NEWNS),
        ("fchdir", 12),
        ("chroot", "."),
        ("fchdir", 13),
        ("set_ids", (101000, 101000, 101000), (101001, 101001, 101001), (101010,)),
        ("reset_signals", fly_enter._RESET_SIGNALS, False),
        ("close_fds", (0, 1, 2)),
    ]


# --- the launcher: the pod's first process and PID 1 ------------------------------------------


def _flags(pod: PodPlan) -> int:
    flags = 0
    for name in pod.namespaces:
        flags |= launcher._NAMESPACES[name]
    return flags


def test_first_process_makes_the_namespaces_then_private_mounts(tmp_path: Path) -> None:
    pod = plan(make_rootfs(tmp_path))
    kernel = RecordingKernel()
    launcher._make_namespaces(pod, "", kernel, lambda: kernel.calls.append(("maps",)))
    assert kernel.calls == [("unshare", _flags(pod)), ("maps",), ("make_rprivate", "/")]


def test_private_users_prepare_mounts_before_the_user_namespace(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    pod = plan(root, user_range=(100000, 65536))
    assert _flags(pod) & namespace.CLONE_NEWUSER
    kernel = RecordingKernel()
    launcher._make_namespaces(pod, "", kernel, lambda: kernel.calls.append(("maps",)))
    calls = kernel.calls
    # A mount namespace of the host's user namespace, private, for the mounts the user
    # namespace's own could not make; then the user namespace, its maps, private mounts.
    assert calls[:2] == [("unshare", NEWNS), ("make_rprivate", "/")]
    assert calls[-3:] == [("unshare", _flags(pod)), ("maps",), ("make_rprivate", "/")]
    prepared = calls[2:-3]
    assert _names(prepared) == {"open_in_root", "mount", "close", "symlink"}
    made = [call for call in prepared if call[0] == "mount"]
    assert {call[3] for call in made} == {"tmpfs", None}  # no proc, sysfs, devpts, mqueue
    assert all("uid=100000,gid=100000" in str(call[5]) for call in made if call[3] == "tmpfs")


def test_pid1_mounts_each_app_then_its_console_then_sets_the_hostname(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    pod = plan(root)
    kernel = RecordingKernel()
    master, slave = os.openpty()
    try:
        launcher._mount_apps(pod, kernel, console=None, ttys={"web": slave})
        tty = os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)
    calls = kernel.calls
    assert calls[0] == ("open_in_root", str(root), "")  # the app's root bound on itself first
    *planned, opened, bound, closed, hostname = calls
    assert opened == ("open_in_root", str(root), "/dev/console")
    assert bound[:3] == ("mount", tty, f"/proc/self/fd/{closed[1]}")  # its own pty
    assert closed[0] == "close"
    assert hostname == ("sethostname", "pod1")
    assert "sethostname" not in _names(planned)
    assert len(planned) > 100  # the plan's mounts (rootfs, /proc, /dev, masks...) before


def test_app_namespace_pivots_into_the_root_and_returns_to_ours() -> None:
    kernel = RecordingKernel()
    fd = launcher._app_namespace("/pods/1/rootfs", kernel)
    try:
        assert os.readlink(f"/proc/self/fd/{fd}").startswith("mnt:")
    finally:
        os.close(fd)
    ours = kernel.calls[-1][1]
    assert kernel.calls == [
        ("unshare", NEWNS),
        ("make_rprivate", "/"),
        ("chdir", "/pods/1/rootfs"),
        ("pivot_root", ".", "."),
        ("umount2", ".", MNT_DETACH),
        ("chdir", "/"),
        ("setns", ours, NEWNS),  # back in PID 1's namespace, for the next app
    ]


def test_private_users_pid1_raises_its_permitted_capabilities_as_ambient() -> None:
    kernel = RecordingKernel(cap_last_cap=5, capabilities=(0b100101, 0b100111, 0))
    launcher._keep_capabilities_across_exec(kernel)
    assert kernel.calls == [
        ("capget",),
        ("capset", 0b100101, 0b100111, 0b100111),  # inheritable: what ambient needs
        ("last_cap",),
        ("ambient_raise", 0),
        ("ambient_raise", 1),
        ("ambient_raise", 2),
        ("ambient_raise", 5),
    ]
