"""User and group resolution from the image's own account files (aci.md "app",
docs/security.md 3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appc import accounts
from rkt.stage1.planner import user
from rkt.stage1.planner.plan import PlanError
from tests.unit.test_stage1_support import make_rootfs, owner, plan


def test_user_and_group_by_name(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    app = plan(root, app={"user": "web", "group": "webgrp"}).app("web")
    assert (app.uid, app.gid) == (1000, 1001)


def test_user_and_group_by_number(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    app = plan(root, app={"user": "2000", "group": "3000"}).app("web")
    assert (app.uid, app.gid) == (2000, 3000)


def test_numeric_names_are_looked_up_first(tmp_path: Path) -> None:
    # aci.md: the image's files first, then the number.
    root = make_rootfs(tmp_path)
    app = plan(root, app={"user": "1234", "group": "5555"}).app("web")
    assert (app.uid, app.gid) == (4321, 6666)


def test_user_and_group_by_path_owner(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    target = root / "usr/bin/tool"
    if os.geteuid() == 0:
        os.chown(target, 777, 888)
    uid, gid = owner(target)
    app = plan(root, app={"user": "/usr/bin/tool", "group": "/usr/bin/tool"}).app("web")
    assert (app.uid, app.gid) == (uid, gid)


def test_path_owner_is_the_symlinks_own_not_its_target(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    os.symlink("/etc/shadow", root / "bin/link")
    uid, gid = owner(root / "bin/link")
    assert user.resolve_user(str(root), "/bin/link")[0] == uid
    assert user.resolve_group(str(root), "/bin/link") == gid


def test_path_owner_through_a_symlink_leaving_the_root_is_refused(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    os.symlink("../../../../../..", root / "up")
    with pytest.raises(PlanError, match="outside the app root"):
        user.resolve_user(str(root), "/up/etc/passwd")


def test_missing_path_owner(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    with pytest.raises(PlanError, match='user "/nope" names a path that does not exist'):
        plan(root, app={"user": "/nope"})


def test_unknown_user_error_names_app_and_value(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    with pytest.raises(PlanError) as info:
        plan(root, app={"user": "nobody-here"})
    assert 'app "web"' in str(info.value)
    assert 'user "nobody-here"' in str(info.value)
    assert "/etc/passwd" in str(info.value)


def test_unknown_group_error(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    with pytest.raises(PlanError, match='app "web": cannot resolve group "staff"'):
        plan(root, app={"group": "staff"})


def test_no_passwd_file_allows_numbers_only(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path, passwd=None)
    assert plan(root, app={"user": "5"}).app("web").uid == 5
    with pytest.raises(PlanError, match="no such user"):
        plan(root, app={"user": "web"})


def test_passwd_symlink_to_host_is_not_followed(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path, passwd=None)
    os.symlink("/etc/passwd", root / "etc/passwd")
    # The host's "root" must not be found through the link.
    with pytest.raises(PlanError, match="symlink"):
        plan(root, app={"user": "root"})
    # A number still works: the refusal only affects lookups by name.
    assert plan(root, app={"user": "0"}).app("web").uid == 0


def test_etc_symlink_is_not_followed(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    host_etc = tmp_path / "hostetc"
    host_etc.mkdir()
    (host_etc / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    os.rename(root / "etc", tmp_path / "old-etc")
    os.symlink(str(host_etc), root / "etc")
    with pytest.raises(PlanError, match="symlink"):
        user.resolve_user(str(root), "evil")


def test_huge_passwd_is_refused(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    with open(root / "etc/passwd", "w") as handle:
        handle.write("web:x:1000:1000::/:/bin/sh\n")
        handle.write("#" * (user.MAX_DB_SIZE + 1))
    with pytest.raises(PlanError, match="larger than"):
        user.resolve_user(str(root), "web")


def test_fifo_passwd_does_not_hang(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path, passwd=None)
    os.mkfifo(root / "etc/passwd")
    with pytest.raises(PlanError, match="not a regular file"):
        user.resolve_user(str(root), "web")


def test_passwd_directory_is_refused(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path, passwd=None)
    (root / "etc/passwd").mkdir()
    with pytest.raises(PlanError):
        user.resolve_user(str(root), "web")


def test_malformed_lines_are_skipped() -> None:
    data = (
        b"broken\n"
        b"short:x:1\n"
        b"neg:x:-1:0::/:/bin/sh\n"
        b"big:x:99999999999:0::/:/bin/sh\n"
        b":x:5:5::/:/bin/sh\n"
        b"extra:x:1:1::/:/bin/sh:more\n"
        b"\xff\xfe:x:7:7::/:/bin/sh\n"
        b"# comment:x:8:8::/:/bin/sh\n"
        b"good:x:9:9:G:/home/good:/bin/zsh\n"
    )
    entries = accounts.parse_passwd(data)
    assert [e.name for e in entries] == ["\ufffd\ufffd", "good"]
    assert entries[-1] == accounts.PasswdEntry("good", 9, 9, "/home/good", "/bin/zsh")


def test_group_parser() -> None:
    entries = accounts.parse_group(b"a:x:1:u1,u2\nbad:x:z:\nb:x:2:\n")
    assert entries == (accounts.GroupEntry("a", 1, ("u1", "u2")), accounts.GroupEntry("b", 2, ()))


def test_out_of_range_numbers_are_not_ids(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    with pytest.raises(PlanError):
        user.resolve_user(str(root), str(2**32 - 1))


@given(st.binary(max_size=4096))
def test_parsers_never_raise(data: bytes) -> None:
    for entry in accounts.parse_passwd(data):
        assert 0 <= entry.uid <= user.MAX_ID
    for group in accounts.parse_group(data):
        assert 0 <= group.gid <= user.MAX_ID


@given(st.lists(st.text(alphabet=":\n,#x0123456789ab\xff", max_size=30), max_size=20))
def test_parsers_never_raise_on_line_shaped_input(lines: list[str]) -> None:
    data = "\n".join(lines).encode("utf-8", errors="surrogatepass")
    accounts.parse_passwd(data)
    accounts.parse_group(data)
