"""A member of the data dir's group fetches and lists, as with rkt's packaging (root:rkt 2750,
cas/ 2770): images go into the store without a tree, and root's first prepare renders them.
Users and groups are bare numeric ids (subprocess's user=, group=, extra_groups=), so the host's
account database is left alone."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import podkit

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

GROUP = 47_311  # the data dir's group ("rkt")
MEMBER = 47_312
OUTSIDER = 47_313


@pytest.fixture
def world() -> Iterator[Path]:
    # Outside pytest's tmp_path (0700, root's): the other users must reach the image.
    top = Path(tempfile.mkdtemp(prefix="rkt-group-", dir="/var/tmp"))
    top.chmod(0o755)
    try:
        yield top
    finally:
        podkit.cleanup(top / "data", top)
        shutil.rmtree(top, ignore_errors=True)


def _as(uid: int, groups: list[int], data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rkt.cli.main", f"--dir={data}", *args],
        user=uid, group=uid, extra_groups=groups, capture_output=True, text=True, timeout=120,
        env={**os.environ, "HOME": "/nonexistent", "XDG_CONFIG_HOME": "/nonexistent"},
        cwd="/",
    )  # fmt: skip


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_member_fetches_and_lists_and_root_runs_what_it_fetched(world: Path) -> None:
    data = world / "data"
    data.mkdir(mode=0o750)
    os.chown(data, 0, GROUP)
    data.chmod(0o2750)  # as rkt's setup-data-dir.sh left it
    assert podkit.rkt(data, "image", "list").returncode == 0  # root makes the store
    base = podkit.make_base_rootfs(world / "rootfs")
    aci = podkit.make_image(base, world, "fetched", {"exec": ["/bin/sh", "-c", "echo hi"]})
    aci.chmod(0o644)

    fetched = _as(MEMBER, [GROUP], data, "--insecure-options=image", "fetch", str(aci))
    assert fetched.returncode == 0, fetched.stderr
    image_id = fetched.stdout.strip()
    assert image_id.startswith("sha512-")
    assert not list((data / "cas/tree").glob(f"{image_id}*"))  # root's to render
    listed = _as(MEMBER, [GROUP], data, "image", "list", "--fields=id", "--no-legend", "--full")
    assert listed.returncode == 0 and image_id in listed.stdout, listed.stderr
    # What the member made stays the group's: another member fetches the same image again.
    other = _as(OUTSIDER + 1, [GROUP], data, "--insecure-options=image", "fetch", str(aci))
    assert other.returncode == 0 and other.stdout.strip() == image_id, other.stderr
    assert _mode(data / "cas/db/index.sqlite") & 0o060 == 0o060
    [lock] = (data / "cas/imagelocks").iterdir()
    assert _mode(lock) & 0o060 == 0o060
    [blob] = (data / "cas/blob/sha512").glob(f"*/{image_id}*")
    assert _mode(blob) == 0o640 and _mode(blob.parent) == 0o2770

    # Someone outside the group gets a one-line refusal, and the store is as it was.
    refused = _as(OUTSIDER, [], data, "--insecure-options=image", "fetch", str(aci))
    assert refused.returncode == 254
    assert refused.stderr.strip().splitlines()[-1].startswith("fetch: ")
    assert "Traceback" not in refused.stderr

    ran = podkit.rkt(data, "--insecure-options=image", "run", "--net=none", image_id)
    assert ran.returncode == 0, ran.stderr
    assert "hi" in ran.stdout
    [tree] = (data / "cas/tree").glob(f"{image_id}*")
    assert (tree / "rootfs").is_dir()
