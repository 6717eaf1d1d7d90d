"""Mount operations through the RecordingKernel: descriptions, and the order of kernel calls."""

from __future__ import annotations

import errno

import pytest

from rkt.linux.kernel import Kernel, RealKernel, RecordingKernel
from rkt.linux.mount import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    Bind,
    Devpts,
    MaskPath,
    Mqueue,
    Operation,
    Overlay,
    Proc,
    ReadOnlyPath,
    Remount,
    Sysfs,
    Tmpfs,
    apply_all,
)

PSEUDO = MS_NOSUID | MS_NODEV | MS_NOEXEC


def test_both_kernels_satisfy_the_protocol() -> None:
    kernels: list[Kernel] = [RealKernel(), RecordingKernel()]
    assert len(kernels) == 2


@pytest.mark.parametrize(
    ("operation", "text"),
    [
        (Bind("/var/vol", "/data"), "bind /var/vol on /data (recursive)"),
        (
            Bind("/etc/hosts", "/etc/hosts", read_only=True, recursive=False, kind="file"),
            "bind /etc/hosts on /etc/hosts (read-only)",
        ),
        (Tmpfs("/tmp", mode=0o1777, size="64m"), "tmpfs on /tmp (mode=1777,size=64m)"),
        (
            Overlay("/", ("/l1", "/l2"), "/up", "/work"),
            "overlay on / (lowerdir=/l1:/l2,upperdir=/up,workdir=/work)",
        ),
        (Overlay("/ro", ("/l1",)), "overlay on /ro (lowerdir=/l1)"),
        (Proc(), "proc on /proc"),
        (Sysfs(), "sysfs on /sys"),
        (Devpts(), "devpts on /dev/pts (newinstance,ptmxmode=0666,mode=0620)"),
        (Mqueue(), "mqueue on /dev/mqueue"),
        (Remount("/x"), "remount /x read-only"),
        (Remount("/x", read_only=False), "remount /x read-write"),
        (MaskPath("/proc/kcore"), "mask /proc/kcore"),
        (ReadOnlyPath("/proc/sys"), "read-only /proc/sys"),
    ],
)
def test_describe(operation: Operation, text: str) -> None:
    assert operation.describe() == text


def test_overlay_validation() -> None:
    with pytest.raises(ValueError, match="at least one lower"):
        Overlay("/", ())
    with pytest.raises(ValueError, match="both an upper and a work"):
        Overlay("/", ("/l",), upper="/u")
    with pytest.raises(ValueError, match="contains"):
        Overlay("/", ("/a,b",))


def test_operations_are_frozen() -> None:
    op = Tmpfs("/tmp")
    with pytest.raises(AttributeError):
        op.target = "/x"  # type: ignore[misc]


def test_plan_order_is_recorded() -> None:
    kernel = RecordingKernel()
    plan: list[Operation] = [
        Bind("/pods/1/rootfs", "/"),
        Proc(),
        Tmpfs("/tmp"),
        Bind("/var/vol", "/data", read_only=True),
    ]
    apply_all(plan, kernel, "/pods/1/stage1/rootfs")
    root = "/pods/1/stage1/rootfs"
    assert kernel.calls == [
        ("open_in_root", root, "/"),
        ("mount", "/pods/1/rootfs", "/proc/self/fd/100", None, MS_BIND | MS_REC, None),
        ("close", 100),
        ("open_in_root", root, "/proc"),
        ("mount", "proc", "/proc/self/fd/101", "proc", PSEUDO, None),
        ("close", 101),
        ("open_in_root", root, "/tmp"),
        ("mount", "tmpfs", "/proc/self/fd/102", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"),
        ("close", 102),
        ("open_in_root", root, "/data"),
        ("mount", "/var/vol", "/proc/self/fd/103", None, MS_BIND | MS_REC, None),
        ("close", 103),
        # Reopened after the bind, so that the remount reaches the new mount.
        ("open_in_root", root, "/data"),
        ("mount_flags", "/proc/self/fd/104"),
        ("mount", None, "/proc/self/fd/104", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None),
        ("close", 104),
    ]


def test_mask_path_file_directory_and_missing() -> None:
    kernel = RecordingKernel(files={"/proc/kcore"}, missing={"/proc/nope"})
    apply_all([MaskPath("/proc/kcore"), MaskPath("/proc/acpi"), MaskPath("/proc/nope")], kernel)
    assert [c for c in kernel.calls if c[0] == "mount"] == [
        ("mount", "/dev/null", "/proc/self/fd/100", None, MS_BIND, None),
        ("mount", "tmpfs", "/proc/self/fd/101", "tmpfs", PSEUDO | MS_RDONLY, None),
    ]
    assert kernel.names().count("close") == 2


def test_read_only_path_binds_then_remounts() -> None:
    kernel = RecordingKernel()
    ReadOnlyPath("/proc/sys").apply(kernel)
    assert kernel.names() == [
        "open_in_root",
        "mount",
        "close",
        "open_in_root",
        "mount_flags",
        "mount",
        "close",
    ]
    assert kernel.calls[1] == (
        "mount", "/proc/self/fd/100", "/proc/self/fd/100", None, MS_BIND | MS_REC, None
    )  # fmt: skip


def test_failure_names_the_operation_and_root() -> None:
    class Failing(RecordingKernel):
        def mount(
            self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
        ) -> None:
            raise OSError(errno.ENODEV, "mount(...): No such device")

    with pytest.raises(OSError) as info:
        Sysfs().apply(Failing(), "/r")
    assert info.value.errno == errno.ENODEV
    assert info.value.strerror == "sysfs on /sys inside /r: mount(...): No such device"


def test_namespace_and_process_calls_are_recorded_in_order() -> None:
    kernel = RecordingKernel(cap_last_cap=37, capabilities=(1, 3, 0))
    kernel.unshare(0x20000)
    kernel.sethostname("pod")
    kernel.pivot_root(".", ".")
    kernel.umount2(".", 2)
    kernel.chdir("/")
    assert kernel.capget() == (1, 3, 0)
    assert kernel.last_cap() == 37
    kernel.capset(1, 3, 3)
    kernel.set_no_new_privs()
    kernel.close_fds([0, 1, 2])
    assert kernel.calls == [
        ("unshare", 0x20000),
        ("sethostname", "pod"),
        ("pivot_root", ".", "."),
        ("umount2", ".", 2),
        ("chdir", "/"),
        ("capget",),
        ("last_cap",),
        ("capset", 1, 3, 3),
        ("set_no_new_privs",),
        ("close_fds", (0, 1, 2)),
    ]


def test_the_recorder_has_every_method_of_the_seam() -> None:
    """RealKernel and RecordingKernel implement exactly the protocol's methods (a method
    removed from one is removed from all three)."""

    def methods(cls: type) -> set[str]:
        return {name for name in vars(cls) if not name.startswith("_")}

    assert methods(RealKernel) == methods(Kernel)
    assert methods(RecordingKernel) - {"names", "FIRST_FD"} == methods(Kernel)
