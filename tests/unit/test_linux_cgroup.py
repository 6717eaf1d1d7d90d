"""rkt.linux.cgroup against temp directories laid out as cgroup v1 (hybrid) and v2."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from rkt.linux import cgroup
from rkt.linux.placement import place_pod
from rkt.stage1.executor.machine import cgroup_names
from rkt.stage1.planner.plan import CgroupLimits

V1_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V1_CGROUP = """\
8:pids:/
4:memory:/outer/job
2:cpu,cpuacct:/
1:name=systemd:/
0::/
"""
V2_MOUNTINFO = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
V2_CGROUP = "0::/\n"


def test_detect_hybrid_uses_v1_controllers_below_our_own_cgroup() -> None:
    layout = cgroup.detect(V1_MOUNTINFO, V1_CGROUP, prefix="/tmp/x")
    assert layout.version == cgroup.HYBRID
    assert layout.bases == {
        "memory": "/tmp/x/sys/fs/cgroup/memory/outer/job",
        "cpu": "/tmp/x/sys/fs/cgroup/cpu,cpuacct",
        "cpuacct": "/tmp/x/sys/fs/cgroup/cpu,cpuacct",
        "pids": "/tmp/x/sys/fs/cgroup/pids",
    }


def test_detect_pure_v1_and_a_mount_of_a_subtree() -> None:
    mountinfo = "35 31 0:32 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    layout = cgroup.detect(mountinfo, "4:memory:/outer/job\n")
    assert layout.version == cgroup.V1
    assert layout.bases == {"memory": "/sys/fs/cgroup/memory/job"}


def test_detect_v2_reads_available_controllers(tmp_path: Path) -> None:
    top = tmp_path / "sys/fs/cgroup"
    top.mkdir(parents=True)
    (top / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    layout = cgroup.detect(V2_MOUNTINFO, V2_CGROUP, prefix=str(tmp_path))
    assert layout.version == cgroup.V2
    assert layout.top == str(top)
    assert set(layout.bases.values()) == {str(top)}
    assert layout.available == ("cpu", "memory", "pids", "io")


def test_detect_without_cgroups() -> None:
    with pytest.raises(cgroup.CgroupError):
        cgroup.detect("1 0 0:1 / / rw - ext4 /dev/sda rw\n", "0::/\n")


def test_conversions() -> None:
    assert cgroup.quota_from_millicores(200) == 20_000
    assert cgroup.quota_from_millicores(1500) == 150_000
    assert cgroup.quota_from_millicores(1) == cgroup.MIN_QUOTA
    # runc's: 2 -> 1, 1024 -> 39, 262144 -> 10000.
    assert [cgroup.shares_to_weight(s) for s in (2, 1024, 262144, 1, 10**9)] == [
        1,
        39,
        10000,
        1,
        10000,
    ]


LIMITS = CgroupLimits(memory=32 << 20, cpu_quota=20_000, cpu_shares=512, pids=32)


def _create(
    layout: cgroup.Layout,
    uuid: str,
    pod_limits: CgroupLimits,
    apps: dict[str, CgroupLimits],
    devices: list[str] | None = None,
) -> cgroup.PodCgroups:
    """place_pod as on a host without systemd (pid 4321 moved into a temp dir's files), then
    the limits; the v2 device program's attachments recorded in ``devices``."""
    pod = place_pod(
        layout,
        cgroup_names(uuid),
        4321,
        systemd_dir="/nonexistent/systemd",
        device_policy=(devices if devices is not None else []).append,
    )
    return cgroup.finish_pod(pod, pod_limits, apps)


def _v1(tmp_path: Path) -> cgroup.Layout:
    layout = cgroup.detect(V1_MOUNTINFO, V1_CGROUP, prefix=str(tmp_path))
    for base in set(layout.bases.values()):
        os.makedirs(base)
    return layout


def test_v1_create_writes_limits_in_each_hierarchy(tmp_path: Path) -> None:
    layout = _v1(tmp_path)
    pod = _create(layout, "u-1", CgroupLimits(pids=100), {"web": LIMITS, "db": CgroupLimits()})
    memory = tmp_path / "sys/fs/cgroup/memory/outer/job/rkt/u-1"
    cpu = tmp_path / "sys/fs/cgroup/cpu,cpuacct/rkt/u-1"
    pids = tmp_path / "sys/fs/cgroup/pids/rkt/u-1"
    assert pod.version == cgroup.V1
    assert set(pod.roots()) == {str(memory), str(cpu), str(pids)}
    assert pod.path() == str(memory)
    assert (pids / "pids.max").read_text() == "100"
    assert (memory / "web/memory.limit_in_bytes").read_text() == str(32 << 20)
    assert not (memory / "web/memory.memsw.limit_in_bytes").exists()  # not accounted here
    assert (cpu / "web/cpu.cfs_period_us").read_text() == "100000"
    assert (cpu / "web/cpu.cfs_quota_us").read_text() == "20000"
    assert (cpu / "web/cpu.shares").read_text() == "512"
    assert (pids / "web/pids.max").read_text() == "32"
    assert sorted(os.listdir(memory / "db")) == []
    for root in pod.roots():
        assert os.path.isdir(os.path.join(root, cgroup.SUPERVISOR))
    assert pod.procs("web") == tuple(os.path.join(r, "web", "cgroup.procs") for r in pod.roots())


def test_v1_memsw_follows_the_memory_limit_when_present(tmp_path: Path) -> None:
    directory = tmp_path / "app"
    directory.mkdir()
    (directory / "memory.memsw.limit_in_bytes").write_text("max")
    written = cgroup.write_limits(cgroup.V1, {"memory": str(directory)}, CgroupLimits(memory=4096))
    assert [os.path.basename(p) for p in written] == [
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
    ]
    assert (directory / "memory.memsw.limit_in_bytes").read_text() == "4096"


def _v2(tmp_path: Path) -> tuple[cgroup.Layout, Path]:
    top = tmp_path / "sys/fs/cgroup"
    (top / "user/me").mkdir(parents=True)
    (top / "cgroup.controllers").write_text("cpu memory pids\n")
    layout = cgroup.detect(V2_MOUNTINFO, "0::/user/me\n", prefix=str(tmp_path))
    return layout, top


def test_v2_without_systemd_owns_rkt_at_the_root(tmp_path: Path) -> None:
    layout, top = _v2(tmp_path)
    devices: list[str] = []
    pod = _create(layout, "u-2", CgroupLimits(pids=100), {"web": LIMITS}, devices)
    root = top / "rkt/u-2"
    assert pod.version == cgroup.V2 and pod.roots() == (str(root),)
    assert pod.mode == "root" and pod.unit == ""
    # The root (exempt from "no internal processes"), our "rkt" and the pod; never the
    # caller's own cgroup, which holds the caller.
    for directory in (top, top / "rkt", root):
        assert (directory / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    for directory in (top / "user", top / "user/me"):
        assert not (directory / "cgroup.subtree_control").exists()
    assert not (root / "web/cgroup.subtree_control").exists()
    assert devices == [str(root)]
    assert (root / cgroup.SUPERVISOR / "cgroup.procs").read_text() == "4321"
    assert pod.origin == {c: str(top / "user/me") for c in cgroup.V2_CONTROLLERS}
    assert (root / "pids.max").read_text() == "100"
    assert (root / "web/memory.max").read_text() == str(32 << 20)
    assert (root / "web/cpu.max").read_text() == "20000 100000"
    assert (root / "web/cpu.weight").read_text() == str(cgroup.shares_to_weight(512))
    assert (root / "web/pids.max").read_text() == "32"
    assert (root / cgroup.SUPERVISOR).is_dir()


def test_v2_swap_is_capped_when_the_file_exists(tmp_path: Path) -> None:
    (tmp_path / "memory.swap.max").write_text("max")
    cgroup.write_limits(cgroup.V2, {"memory": str(tmp_path)}, CgroupLimits(memory=1 << 20))
    assert (tmp_path / "memory.swap.max").read_text() == "0"


def test_create_fails_cleanly(tmp_path: Path) -> None:
    layout, top = _v2(tmp_path)
    (top / "rkt/cgroup.subtree_control").mkdir(parents=True)  # unwritable: as EBUSY would be
    with pytest.raises(cgroup.CgroupError):
        _create(layout, "u-3", CgroupLimits(), {"web": CgroupLimits()})
    assert not (top / "rkt/u-3/web").exists()
    assert not (top / "rkt/u-3" / cgroup.SUPERVISOR / "cgroup.procs").exists()
    with pytest.raises(cgroup.CgroupError):
        _create(layout, "../x", CgroupLimits(), {})


def test_attach_writes_the_pid_to_every_hierarchy(tmp_path: Path) -> None:
    pod = _create(_v1(tmp_path), "u-4", CgroupLimits(), {"web": CgroupLimits()})
    cgroup.attach(pod.procs("web"), 1234)
    for path in pod.procs("web"):
        assert Path(path).read_text() == "1234"


def test_oom_kills_v1_and_v2(tmp_path: Path) -> None:
    v1 = cgroup.PodCgroups(cgroup.V1, {"memory": str(tmp_path)}, ("a",))
    v2 = cgroup.PodCgroups(cgroup.V2, {"memory": str(tmp_path)}, ("b",))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a/memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (tmp_path / "b/memory.events").write_text("low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n")
    assert cgroup.oom_kills(v1, "a") == 2
    assert cgroup.oom_kills(v2, "b") == 1
    assert cgroup.oom_kills(v1, "missing") == 0


def _fake_rmdir(removed: list[str]) -> Callable[[str], None]:
    def rmdir(path: str) -> None:
        # cgroupfs removes a cgroup with its control files; a temp dir needs them gone first.
        if os.path.isdir(path) and all(
            not os.path.isdir(os.path.join(path, e)) for e in os.listdir(path)
        ):
            shutil.rmtree(path)
            removed.append(path)
            return
        os.rmdir(path)

    return rmdir


def test_remove_deepest_first_and_record_round_trip(tmp_path: Path) -> None:
    pod = _create(_v1(tmp_path), "u-5", CgroupLimits(pids=9), {"web": LIMITS})
    for root in pod.roots():
        os.makedirs(f"{root}/old/deeper")  # left by an earlier run of the same pod
    cgroup.save(pod, str(tmp_path / "pod"))
    loaded = cgroup.load(str(tmp_path / "pod"))
    assert loaded == pod
    removed: list[str] = []
    assert loaded is not None
    errors = cgroup.remove(loaded, rmdir=_fake_rmdir(removed))
    assert errors == []
    for root in pod.roots():
        # Each leaf (and the stale one no record names) before its pod cgroup.
        for leaf in (f"{root}/web", f"{root}/{cgroup.SUPERVISOR}", f"{root}/old/deeper"):
            assert removed.index(leaf) < removed.index(root)
        assert removed.index(f"{root}/old/deeper") < removed.index(f"{root}/old")
    assert not any(os.path.exists(r) for r in pod.roots())
    assert not any(os.path.exists(os.path.dirname(r)) for r in pod.roots())  # empty "rkt"
    assert cgroup.remove(pod) == []  # already gone


def test_remove_retries_while_busy(tmp_path: Path) -> None:
    pod = cgroup.PodCgroups(cgroup.V2, {"memory": str(tmp_path / "rkt/p")}, ())
    calls: list[str] = []

    def busy_twice(path: str) -> None:
        calls.append(path)
        if calls.count(path) <= 2:
            raise OSError(16, "Device or resource busy")

    assert cgroup.remove(pod, rmdir=busy_twice) == []
    assert calls.count(str(tmp_path / "rkt/p")) == 3

    def always_busy(path: str) -> None:
        raise OSError(16, "busy")

    errors = cgroup.remove(pod, timeout=0, rmdir=always_busy)
    assert errors and "busy" in errors[0]


def test_load_without_record(tmp_path: Path) -> None:
    assert cgroup.load(str(tmp_path)) is None


def test_block_devices_from_sys_block(tmp_path: Path) -> None:
    for name, dev in (("vda", "254:0"), ("loop0", "7:0")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "dev").write_text(dev + "\n")
    (tmp_path / "broken").mkdir()  # no dev file: skipped
    assert cgroup.block_devices(str(tmp_path)) == ["254:0", "7:0"]
    assert cgroup.block_devices(str(tmp_path / "missing")) == []


def test_v1_block_limits_throttle_every_device_both_ways(tmp_path: Path) -> None:
    limits = CgroupLimits(block_bps=1 << 20, block_iops=100)
    written = cgroup.write_limits(
        cgroup.V1, {"blkio": str(tmp_path)}, limits, devices=["254:0", "7:0"]
    )
    names = sorted(Path(p).name for p in written)
    assert names == sorted(
        f"blkio.throttle.{d}_{k}_device" for d in ("read", "write") for k in ("bps", "iops")
    )
    # One write per device; a regular file keeps the last, the kernel's file keeps them all.
    assert (tmp_path / "blkio.throttle.read_bps_device").read_text() == "7:0 1048576"
    assert (tmp_path / "blkio.throttle.write_iops_device").read_text() == "7:0 100"


def test_v2_block_limits_go_to_io_max(tmp_path: Path) -> None:
    limits = CgroupLimits(block_bps=2048)
    cgroup.write_limits(cgroup.V2, {"io": str(tmp_path)}, limits, devices=["254:0"])
    assert (tmp_path / "io.max").read_text() == "254:0 rbps=2048 wbps=2048"
    both = CgroupLimits(block_bps=2048, block_iops=7)
    cgroup.write_limits(cgroup.V2, {"io": str(tmp_path)}, both, devices=["254:0"])
    assert (tmp_path / "io.max").read_text() == "254:0 rbps=2048 wbps=2048 riops=7 wiops=7"


def test_block_limits_need_the_controller_and_a_device(tmp_path: Path) -> None:
    with pytest.raises(cgroup.CgroupError, match="blkio"):
        cgroup.write_limits(cgroup.V1, {"memory": str(tmp_path)}, CgroupLimits(block_iops=5))
    with pytest.raises(cgroup.CgroupError, match="no block device"):
        cgroup.write_limits(
            cgroup.V1, {"blkio": str(tmp_path)}, CgroupLimits(block_iops=5), devices=[]
        )
