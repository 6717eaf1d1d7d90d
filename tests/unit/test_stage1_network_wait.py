"""PID 1 waits for the pod's networks before it starts anything (executor.supervisor.run)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from rkt.stage1.executor import supervisor
from tests.unit.test_stage1_support import make_rootfs, plan


class _Kernel:
    """Stands in for the kernel: a unit test sets no hostname."""

    def sethostname(self, name: str) -> None:
        pass


def _pid1(tmp_path: Path, ready: int, other_end: int) -> int:
    """supervisor.run in a child (its signal handlers are process-wide); the child's pid."""
    pod_plan = plan(make_rootfs(tmp_path), pod_dir=str(tmp_path / "pod"))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            os.close(other_end)
            code = supervisor.run(pod_plan, str(tmp_path / "pod"), _Kernel(), network_ready=ready)  # type: ignore[arg-type]
        finally:
            os._exit(code)
    os.close(ready)
    return pid


def test_a_stop_while_the_networks_come_up_starts_nothing(tmp_path: Path) -> None:
    """SIGTERM during the wait: once the networks are up PID 1 exits 143 (as an app killed
    by the stop would) without having started the app or recorded any status."""
    read, write = os.pipe()
    pid = _pid1(tmp_path, read, write)
    time.sleep(0.3)  # in the wait, its handlers installed
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.1)
    os.write(write, b"1")
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 128 + signal.SIGTERM
    assert not (tmp_path / "pod").exists()  # no status directory: nothing ran


def test_networks_that_do_not_come_up_start_nothing(tmp_path: Path) -> None:
    read, write = os.pipe()
    pid = _pid1(tmp_path, read, write)
    os.close(write)  # stage0 gave up: a failed ADD
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == supervisor.FAILURE
    assert not (tmp_path / "pod").exists()
