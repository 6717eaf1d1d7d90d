"""mountinfo's mount points with the kernel's octal escapes decoded (rkt.linux.mountinfo), as
gc (both kinds) and the cgroup layout read them."""

from __future__ import annotations

from pathlib import Path

from rkt.linux.mountinfo import mount_points, unescape
from rkt.pod.gc import mounts_under

MOUNTINFO = (
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "40 22 0:35 / /var/lib/rkt/pods/run/a\\040b/rootfs rw - overlay overlay rw\n"
    "41 40 0:36 / /var/lib/rkt/pods/run/a\\040b/rootfs/tab\\011and\\134back rw - tmpfs t rw\n"
    "42 22 0:37 / /var/lib/rkt/pods/run/ab rw - tmpfs t rw\n"
)


def test_unescape() -> None:
    assert unescape("a\\040b\\011c\\012d\\134e") == "a b\tc\nd\\e"
    assert unescape("plain\\x") == "plain\\x"


def test_mount_points_in_order(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO + "\n")
    assert mount_points(str(info)) == [
        "/",
        "/var/lib/rkt/pods/run/a b/rootfs",
        "/var/lib/rkt/pods/run/a b/rootfs/tab\tand\\back",
        "/var/lib/rkt/pods/run/ab",
    ]


def test_pod_gc_mounts_under(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    assert mounts_under(Path("/var/lib/rkt/pods/run/a b"), str(info)) == [
        "/var/lib/rkt/pods/run/a b/rootfs",
        "/var/lib/rkt/pods/run/a b/rootfs/tab\tand\\back",
    ]
    assert mounts_under(Path("/var/lib/rkt/pods/run/a b"), str(tmp_path / "none")) == []
