"""Resource isolators through cgroups, observed on real pods (``rkt run``, busybox ACIs).

A memory hog is killed at its limit and reported by ``rkt status``; a CPU hog is held near its
quota (the app cgroup's cpuacct usage, read from the host after the pod exited); an app's
oom_score_adj and cgroup are what it sees in /proc/self; a pids limit stops a fork loop; block
bandwidth and IOPS limits hold direct reads of a file on the host's disk; and gc removes the
pod's cgroup directories.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from rkt.linux import cgroup
from rkt.pod import layout
from tests.integration import podkit
from tests.integration.podkit import make_image, rkt, run_pod

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists(podkit.BUSYBOX), reason="needs busybox-static"),
    pytest.mark.skipif(not os.path.isdir("/sys/fs/cgroup"), reason="needs cgroups"),
]


@pytest.fixture(scope="module")
def base_applets() -> tuple[str, ...]:
    """What the hogs, the direct reads and the cgroup mount attempts run."""
    return ("head", "tr", "kill", "true", "dd", "mount", "mkdir")


def _isolators(**values: Any) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in values.items()]


def _run(
    data: Path, base: Path, tmp_path: Path, script: str, isolators: list[dict[str, Any]]
) -> tuple[Any, str, cgroup.PodCgroups]:
    app = {"exec": ["/bin/sh", "-c", script], "isolators": isolators}
    aci = make_image(base, tmp_path, "cg", app)
    uuid_file = tmp_path / "uuid"
    done = run_pod(data, str(aci), f"--uuid-file-save={uuid_file}", timeout=60)
    uuid = uuid_file.read_text().strip()
    [pod_dir] = list((data / "pods").glob(f"*/{uuid}"))
    pod = cgroup.load(str(pod_dir / layout.CGROUP_RECORD))
    assert pod is not None, done.stderr
    return done, uuid, pod


def _status(data: Path, uuid: str) -> list[str]:
    done = rkt(data, "status", uuid)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_memory_hog_is_oom_killed_and_reported(data: Path, base: Path, tmp_path: Path) -> None:
    script = 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived'
    done, uuid, pod = _run(
        data, base, tmp_path, script, _isolators(**{"resource/memory": {"limit": "32Mi"}})
    )
    assert "survived" not in done.stdout
    assert done.returncode == 137, (done.returncode, done.stderr)
    assert cgroup.oom_kills(pod, "cg") >= 1
    with open(os.path.join(pod.dirs["memory"], "cg", _memory_file(pod)), encoding="ascii") as f:
        assert f.read().split()[0] in ("33554432", "33554432\n")
    status = _status(data, uuid)
    assert "app-cg=137" in status and "app-cg-oom=true" in status
    assert f"cgroup={pod.path()}" in status


def _is_leaf(pod: cgroup.PodCgroups, controller: str, app: str, line: str) -> bool:
    """Whether a line of /proc/self/cgroup names the app's leaf of the pod (wherever the pod
    was placed: rkt/<uuid> here, a scope or a delegated subtree under systemd)."""
    path = line.split(":", 2)[2]
    return path.endswith(f"/{app}") and os.path.join(pod.dirs[controller], app).endswith(path)


def _memory_file(pod: cgroup.PodCgroups) -> str:
    return "memory.max" if pod.version == cgroup.V2 else "memory.limit_in_bytes"


def _cpu_seconds(pod: cgroup.PodCgroups, app: str) -> float:
    if pod.version == cgroup.V2:
        text = Path(pod.dirs["cpu"], app, "cpu.stat").read_text()
        usage = dict(line.split() for line in text.splitlines())["usage_usec"]
        return int(usage) / 1e6
    return int(Path(pod.dirs["cpuacct"], app, "cpuacct.usage").read_text()) / 1e9


def test_cpu_hog_is_held_near_its_quota(data: Path, base: Path, tmp_path: Path) -> None:
    script = "sh -c 'while :; do :; done' & sleep 1; kill $!; echo done"
    started = time.monotonic()
    done, _, pod = _run(
        data, base, tmp_path, script, _isolators(**{"resource/cpu": {"limit": "200m"}})
    )
    assert done.returncode == 0 and "done" in done.stdout, done.stderr
    assert time.monotonic() - started < 30
    used = _cpu_seconds(pod, "cg")
    # 200m over ~1 s is 0.2 s; a generous tolerance for scheduling and the period boundary.
    assert 0.05 < used < 0.45, used


def test_oom_score_adj_shares_and_cgroup_seen_by_the_app(
    data: Path, base: Path, tmp_path: Path
) -> None:
    script = "cat /proc/self/oom_score_adj; cat /proc/self/cgroup"
    isolators = _isolators(**{"os/linux/oom-score-adj": 500, "os/linux/cpu-shares": 512})
    done, _, pod = _run(data, base, tmp_path, script, isolators)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0] == "500"
    memory_line = next(line for line in out if ":memory:" in line or line.startswith("0::"))
    assert _is_leaf(pod, "memory", "cg", memory_line), out
    if pod.version == cgroup.V1:
        assert Path(pod.dirs["cpu"], "cg", "cpu.shares").read_text().strip() == "512"


def test_pids_limit_holds_a_fork_loop(data: Path, base: Path, tmp_path: Path) -> None:
    # busybox sh gives up at its first failed fork; what runs after it uses builtins only.
    script = (
        "sh -c 'i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); done; echo all'"
        " 2>/dev/null; echo rc=$?; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo count=$n"
    )
    done, _, pod = _run(
        data, base, tmp_path, script, _isolators(**{"rkt.coreos.com/pids-limit": {"max": 16}})
    )
    out = done.stdout.splitlines()
    assert "all" not in out and "rc=0" not in out, (out, done.stderr)
    count = [int(line[6:]) for line in out if line.startswith("count=")]
    # The app's cgroup holds at most 16 processes; PID 1 (in /proc too) is outside it.
    assert count and 10 <= count[0] <= 16 + 1, out
    assert Path(pod.dirs["pids"], "cg", "pids.max").read_text().strip() == "16"


def test_gc_removes_the_pod_cgroups(data: Path, base: Path, tmp_path: Path) -> None:
    done, _, pod = _run(data, base, tmp_path, "true", [])
    assert done.returncode == 0, done.stderr
    dirs = [*pod.roots(), *pod.sub("cg"), *pod.sub(cgroup.SUPERVISOR)]
    assert all(os.path.isdir(d) for d in dirs)
    for _ in range(2):
        rkt(data, "gc", "--grace-period=0s", timeout=60)
    assert not any(os.path.exists(d) for d in dirs)


def _block_run(
    data: Path, base: Path, tmp_path: Path, script: str, isolators: list[dict[str, Any]]
) -> tuple[Any, float, str, cgroup.PodCgroups]:
    """Run ``script`` in an image with /big (3 MiB of data on this host's disk, in the tree
    store the overlay reads from); the result, the wall time, the UUID and the cgroups."""

    def big(rootfs: Path) -> None:
        (rootfs / "big").write_bytes(b"rkt" * (1 << 20))

    app = {"exec": ["/bin/sh", "-c", script], "isolators": isolators}
    aci = make_image(base, tmp_path, "blk", app, customize=big)
    uuid_file = tmp_path / "uuid"
    started = time.monotonic()
    done = run_pod(data, str(aci), f"--uuid-file-save={uuid_file}", timeout=120)
    elapsed = time.monotonic() - started
    uuid = uuid_file.read_text().strip()
    [pod_dir] = list((data / "pods").glob(f"*/{uuid}"))
    pod = cgroup.load(str(pod_dir / layout.CGROUP_RECORD))
    assert pod is not None, done.stderr
    return done, elapsed, uuid, pod


def _disk_of(path: Path) -> str:
    info = os.stat(path)
    return f"{os.major(info.st_dev)}:{os.minor(info.st_dev)}"


def test_block_bandwidth_throttles_direct_reads(data: Path, base: Path, tmp_path: Path) -> None:
    if _disk_of(tmp_path) not in cgroup.block_devices():
        pytest.skip("the test's files are not on a whole block device")
    # 3 MiB read past the page cache at 1 MiB/s cannot take less than about 2 s (a lower bound:
    # slowness cannot fail it).
    script = "dd if=/big of=/dev/null bs=64k iflag=direct 2>&1 | tail -1; echo done"
    isolators = _isolators(**{"resource/block-bandwidth": {"default": True, "limit": "1Mi"}})
    done, elapsed, uuid, pod = _block_run(data, base, tmp_path, script, isolators)
    assert done.returncode == 0 and "done" in done.stdout, done.stdout + done.stderr
    assert elapsed >= 1.5, (elapsed, done.stdout)
    if pod.version == cgroup.V1:
        throttle = Path(pod.dirs["blkio"], "blk", "blkio.throttle.read_bps_device").read_text()
        assert f"{_disk_of(tmp_path)} 1048576" in throttle.splitlines()
        served = Path(pod.dirs["blkio"], "blk", "blkio.throttle.io_service_bytes").read_text()
        read = [
            int(line.split()[2])
            for line in served.splitlines()
            if line.startswith(_disk_of(tmp_path) + " Read ")
        ]
        assert read and read[0] >= 3 << 20, served  # the throttle saw the whole file go by
    status = " ".join(_status(data, uuid))
    assert "resource/block-bandwidth" in status


def test_block_iops_throttles_direct_reads(data: Path, base: Path, tmp_path: Path) -> None:
    if _disk_of(tmp_path) not in cgroup.block_devices():
        pytest.skip("the test's files are not on a whole block device")
    # 120 reads of 4 KiB at 40 operations per second: at least about 2 s.
    script = "dd if=/big of=/dev/null bs=4k count=120 iflag=direct 2>&1 | tail -1; echo done"
    isolators = _isolators(**{"resource/block-iops": {"default": True, "limit": "40"}})
    done, elapsed, _, pod = _block_run(data, base, tmp_path, script, isolators)
    assert done.returncode == 0 and "done" in done.stdout, done.stdout + done.stderr
    assert elapsed >= 1.5, (elapsed, done.stdout)
    if pod.version == cgroup.V1:
        throttle = Path(pod.dirs["blkio"], "blk", "blkio.throttle.read_iops_device").read_text()
        assert f"{_disk_of(tmp_path)} 40" in throttle.splitlines()


def test_the_app_cannot_leave_its_cgroup(data: Path, base: Path, tmp_path: Path) -> None:
    # No cgroup filesystem is reachable in the pod and none can be mounted (no CAP_SYS_ADMIN,
    # mount is not in the default seccomp whitelist): the app's cgroup stays the pod's.
    script = (
        "ls /sys/fs/cgroup 2>/dev/null | wc -l;"
        " mkdir -p /tmp/cg && mount -t cgroup -o pids none /tmp/cg && echo mounted-v1;"
        " mount -t cgroup2 none /tmp/cg && echo mounted-v2;"
        " echo $$ > /sys/fs/cgroup/cgroup.procs && echo moved;"
        " cat /proc/self/cgroup"
    )
    done, _, pod = _run(data, base, tmp_path, script, [])
    lines = done.stdout.splitlines()
    assert lines[0].strip() == "0", done.stdout
    assert not {"mounted-v1", "mounted-v2", "moved"} & set(lines), done.stdout + done.stderr
    pids_line = next(line for line in lines if ":pids:" in line or line.startswith("0::"))
    assert _is_leaf(pod, "pids", "cg", pids_line), lines


def test_the_move_primer_moves_nothing() -> None:
    """``rkt run``'s MovePrimer: a shell whose background job writes itself into its own
    cgroup (taking the kernel's move lock early); the shell exits at once and is reaped, ours
    is unchanged."""
    with open("/proc/self/cgroup") as f:
        before = f.read()
    primer = cgroup.MovePrimer()
    assert primer.pid > 0
    _, status = os.waitpid(primer.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    primer.pid = 0  # reaped here
    primer.reap()
    with open("/proc/self/cgroup") as f:
        assert f.read() == before


def test_rkt_run_leaves_no_zombie_child(data: Path, base: Path, tmp_path: Path) -> None:
    """The primer's shell is reaped before the pod starts: while the app runs, rkt run's only
    child is stage1."""
    image = make_image(base, tmp_path, "sleeper", {"exec": ["/bin/sh", "-c", "sleep 30"]})
    uuid_file = tmp_path / "uuid"
    proc = subprocess.Popen(
        [*podkit.RKT, f"--dir={data}", "--insecure-options=image", "run", "--net=none",
         str(image), f"--uuid-file-save={uuid_file}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        # Running: its uuid saved, PID 1 recorded and every app started (supervisor-status).
        deadline = time.monotonic() + 20
        while True:
            uuid = uuid_file.read_text().strip() if uuid_file.exists() else ""
            pod = data / "pods/run" / uuid
            if uuid and (pod / "stage1/rootfs/rkt/supervisor-status").is_symlink():
                break
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        states = [Path(f"/proc/{c}/stat").read_text().rpartition(")")[2].split()[0]
                  for c in children]  # fmt: skip
        assert len(children) == 1 and "Z" not in states, (children, states)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # rkt run, stage1 and the pod
        proc.wait(30)
