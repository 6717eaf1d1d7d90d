"""Resolving paths inside a root (docs/security.md 7): symlinks and ``..`` never leave it."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

import pytest

from rkt.linux.lookup import open_in_root


def resolved(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "real" / "sub").mkdir(parents=True)
    (r / "real" / "file").write_text("x")
    (r / "etc").symlink_to("/etc")  # absolute, pointing outside if followed on the host
    (r / "up").symlink_to("../../../../..")
    (r / "rel").symlink_to("real/sub")
    (r / "loop").symlink_to("loop")
    (r / "proc").symlink_to("real")
    return r


def test_plain_path(root: Path) -> None:
    assert resolved(open_in_root(str(root), "/real/sub")) == str(root / "real" / "sub")
    assert resolved(open_in_root(str(root), "/")) == str(root)


def test_symlink_to_host_etc_is_refused_not_followed(root: Path) -> None:
    # Inside the root, "etc -> /etc" points at itself: a loop, refused; the host is untouched.
    with pytest.raises(OSError) as info:
        open_in_root(str(root), "/etc/x", kind="dir", create=True)
    assert info.value.errno == errno.ELOOP
    assert not Path("/etc/x").exists()


def test_absolute_symlink_creates_inside_root(root: Path) -> None:
    (root / "cfg").symlink_to("/etc-outside")
    fd = open_in_root(str(root), "/cfg/x", kind="dir", create=True)
    assert resolved(fd) == str(root / "etc-outside" / "x")
    assert not Path("/etc-outside").exists()


def test_absolute_symlink_to_existing_inside(root: Path) -> None:
    (root / "abs").symlink_to("/real")
    assert resolved(open_in_root(str(root), "/abs/sub")) == str(root / "real" / "sub")


def test_dotdot_is_clamped_at_root(root: Path) -> None:
    assert resolved(open_in_root(str(root), "/../../real")) == str(root / "real")
    assert resolved(open_in_root(str(root), "/up/real/sub")) == str(root / "real" / "sub")


def test_relative_symlink(root: Path) -> None:
    assert resolved(open_in_root(str(root), "rel")) == str(root / "real" / "sub")


def test_create_dirs_and_file(root: Path) -> None:
    fd = open_in_root(str(root), "/new/a/b", kind="file", create=True)
    assert resolved(fd) == str(root / "new" / "a" / "b")
    assert (root / "new" / "a" / "b").is_file()
    assert (root / "new" / "a").is_dir()


def test_errors(root: Path) -> None:
    with pytest.raises(OSError) as info:
        open_in_root(str(root), "/missing")
    assert info.value.errno == errno.ENOENT
    assert f"/missing inside {root}" in str(info.value)
    with pytest.raises(OSError) as info:
        open_in_root(str(root), "/loop")
    assert info.value.errno == errno.ELOOP
    with pytest.raises(OSError) as info:
        open_in_root(str(root), "/real/file/x")
    assert info.value.errno == errno.ENOTDIR
    with pytest.raises(OSError) as info:
        open_in_root(str(root), "/real/file", kind="dir")
    assert info.value.errno == errno.ENOTDIR
    with pytest.raises(OSError) as info:
        open_in_root(str(root), "/real", kind="file")
    assert info.value.errno == errno.EISDIR


def test_reject_symlink_for_pseudo_filesystems(root: Path) -> None:
    with pytest.raises(OSError) as info:
        open_in_root(str(root), "/proc", reject_symlink=True)
    assert info.value.errno == errno.ELOOP
    assert "is a symlink" in str(info.value)


def test_no_fd_leaks(root: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for path in ("/etc", "/up/real", "/missing", "/loop"):
        with contextlib.suppress(OSError):
            os.close(open_in_root(str(root), path))
    assert len(os.listdir("/proc/self/fd")) == before
