"""exec[0] is found along PATH inside the app's rootfs and never outside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rkt.stage1.planner.executable import find_executable
from rkt.stage1.planner.plan import PlanError
from tests.unit.test_stage1_support import make_rootfs, plan

PATH = "/usr/local/bin:/usr/bin:/bin"


def test_absolute_exec(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    assert find_executable(str(root), ("/bin/app", "-x"), "/", PATH) == ("/bin/app", "-x")


def test_name_found_along_path_in_order(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    (root / "bin/tool").write_text("")
    (root / "bin/tool").chmod(0o755)
    assert find_executable(str(root), ("tool", "a"), "/", PATH) == ("/usr/bin/tool", "a")
    assert find_executable(str(root), ("tool",), "/", "/bin:/usr/bin") == ("/bin/tool",)


def test_non_executable_entries_are_skipped(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    (root / "usr/bin/data").write_text("")
    (root / "usr/bin/data").chmod(0o755)
    # /bin/data exists but is not executable; /usr/bin/data is.
    assert find_executable(str(root), ("data",), "/", "/bin:/usr/bin") == ("/usr/bin/data",)


def test_relative_path_uses_working_directory(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    assert find_executable(str(root), ("./app",), "/bin", PATH) == ("/bin/app",)
    assert find_executable(str(root), ("app",), "/bin", ":/nothing") == ("/bin/app",)


def test_missing_exec_error(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    with pytest.raises(PlanError, match='app "web": executable "nothere" was not found'):
        plan(root, app={"exec": ["nothere"]})
    with pytest.raises(PlanError, match="not executable"):
        plan(root, app={"exec": ["/bin/data"]})
    with pytest.raises(PlanError, match="has no exec"):
        plan(root, app={"exec": []})


def test_host_file_is_never_found(tmp_path: Path) -> None:
    # /bin/sh exists on the host but not in this image.
    root = make_rootfs(tmp_path)
    with pytest.raises(PlanError, match="not found"):
        find_executable(str(root), ("sh",), "/", PATH)


def test_absolute_symlink_resolves_inside_the_root(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    os.symlink("/bin/app", root / "usr/bin/alias")
    # The host has no /bin/app; the image does, and that is what the link means.
    assert find_executable(str(root), ("alias",), "/", "/usr/bin") == ("/usr/bin/alias",)
    os.symlink("/bin/sh", root / "usr/bin/hostsh")
    with pytest.raises(PlanError, match="not found"):
        find_executable(str(root), ("hostsh",), "/", "/usr/bin")


def test_symlink_leaving_the_root_is_refused(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    depth = len(root.parts)
    os.symlink("../" * depth + "bin/sh", root / "bin/evil")
    with pytest.raises(PlanError, match="outside the app root"):
        plan(root, app={"exec": ["evil"]})


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    os.symlink("loop2", root / "bin/loop1")
    os.symlink("loop1", root / "bin/loop2")
    with pytest.raises(PlanError, match="too many levels"):
        find_executable(str(root), ("/bin/loop1",), "/", PATH)


def test_plan_exec_is_resolved(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    assert plan(root, app={"exec": ["tool", "--flag"]}).app("web").exec == (
        "/usr/bin/tool",
        "--flag",
    )
