"""--private-users' host id blocks (rkt.stage0.user_range): allocation, the record, and the
shifted copy of --no-overlay; and the plan's checks of a private-users pod."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from rkt.errors import PodError
from rkt.pod import layout
from rkt.stage0 import user_range
from rkt.stage0.user_range import COUNT, FIRST_BASE, LAST_BASE, UserRange
from rkt.stage1.planner.plan import PlanError
from tests.unit.test_stage1_support import make_rootfs, plan

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="chown and security.* need root")


def _pod(pods: Path, phase: str, name: str) -> Path:
    path = pods / phase / name
    path.mkdir(parents=True)
    return path


def test_blocks_are_disjoint_and_recorded(tmp_path: Path) -> None:
    pods = tmp_path / "pods"
    ranges = [user_range.allocate(pods, _pod(pods, "prepare", f"p{i}")) for i in range(20)]
    for r in ranges:
        assert FIRST_BASE <= r.base <= LAST_BASE and r.base % COUNT == 0 and r.count == COUNT
    assert len({r.base for r in ranges}) == 20
    assert user_range.read(pods / "prepare" / "p3") == ranges[3]
    assert (pods / "prepare/p3" / layout.PRIVATE_USERS_PREPARED).read_text() == (
        f"{ranges[3].base}:{COUNT}\n"
    )
    assert user_range.read(_pod(pods, "run", "none")) is None


def test_a_block_recorded_in_any_phase_is_not_handed_out(tmp_path: Path) -> None:
    pods = tmp_path / "pods"
    taken = [UserRange(base) for base in range(FIRST_BASE, LAST_BASE + 1, COUNT)]
    for i, r in enumerate(taken[1:]):  # every block but the first, spread over the phases
        phase = ("prepared", "run", "exited-garbage", "garbage")[i % 4]
        (_pod(pods, phase, f"q{i}") / layout.PRIVATE_USERS_PREPARED).write_bytes(r.serialize())
    assert user_range.allocate(pods, _pod(pods, "prepare", "new")) == taken[0]
    with pytest.raises(PodError, match="every range"):
        user_range.allocate(pods, _pod(pods, "prepare", "one-more"))


def test_bad_record_is_refused(tmp_path: Path) -> None:
    pod = tmp_path / "pod"
    pod.mkdir()
    (pod / layout.PRIVATE_USERS_PREPARED).write_text("lots")
    with pytest.raises(PodError, match="first host id"):
        user_range.read(pod)


@root_only
def test_shift_tree_keeps_links_setid_bits_and_capabilities(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin/tool").write_bytes(b"x")
    os.link(tree / "bin/tool", tree / "bin/tool-link")  # one inode, two names
    (tree / "bin/su").write_bytes(b"x")
    os.chown(tree / "bin/su", 0, 1000)
    os.chmod(tree / "bin/su", 0o4755)
    (tree / "bin/ping").write_bytes(b"x")
    v2 = struct.pack("<5I", 0x02000000 | 1, 1 << 13, 0, 0, 0)  # cap_net_raw, effective
    try:
        os.setxattr(tree / "bin/ping", "security.capability", v2)
    except OSError:
        pytest.skip("this filesystem takes no security.capability")
    (tree / "link").symlink_to("bin/tool")
    block = UserRange(FIRST_BASE)
    user_range.shift_tree(tree, block)
    for name in ("bin/tool", "bin/tool-link", "link", "bin"):
        info = os.lstat(tree / name)
        assert (info.st_uid, info.st_gid) == (FIRST_BASE, FIRST_BASE), name
    su = os.lstat(tree / "bin/su")
    assert (su.st_uid, su.st_gid, su.st_mode & 0o7777) == (FIRST_BASE, FIRST_BASE + 1000, 0o4755)
    caps = os.getxattr(tree / "bin/ping", "security.capability")
    assert struct.unpack("<6I", caps) == (0x03000000 | 1, 1 << 13, 0, 0, 0, FIRST_BASE)


@root_only
def test_shift_tree_refuses_ids_outside_the_block(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    os.chown(tmp_path / "f", 70000, 0)
    with pytest.raises(PodError, match="outside"):
        user_range.shift_tree(tmp_path, UserRange(FIRST_BASE))


def test_empty_volume_owner_must_be_one_of_the_pods_ids(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    app = {"mountPoints": [{"name": "v", "path": "/v"}]}
    volumes = [{"name": "v", "kind": "empty", "uid": 70000, "gid": 0}]
    with pytest.raises(PlanError, match="not one of the pod's 65536 ids"):
        plan(root, app=app, volumes=volumes, user_range=(FIRST_BASE, COUNT))
    ok = plan(root, app=app, volumes=[{**volumes[0], "uid": 1000}], user_range=(FIRST_BASE, COUNT))
    assert [(v.uid, v.gid) for v in ok.volumes] == [(FIRST_BASE + 1000, FIRST_BASE)]
