"""rkt.stage0.netdown.after_stop: ``rkt stop``'s teardown waits for PID 1 to be gone."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from rkt.pod import layout
from rkt.stage0 import netdown


def _after_stop(pod_dir: Path, pid1: int, wait: float) -> list[str]:
    """after_stop of a registered pod whose PID 1 is ``pid1``, its lock free."""
    (pod_dir / layout.PID).write_text(f"{pid1}\n")
    (pod_dir / layout.MDS_REGISTERED).write_text("")
    fd = os.open(pod_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        pod = SimpleNamespace(fd=fd, path=pod_dir, uuid=pod_dir.name)
        return netdown.after_stop(pod, wait=wait)  # type: ignore[arg-type]
    finally:
        os.close(fd)


def test_teardown_waits_for_a_pid1_that_let_go_of_the_lock_but_still_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PID 1 closes its files (the lock) before it has waited for the rest of its pid
    # namespace; a stand-in that is still running with the lock free.
    exiting = subprocess.Popen(["sleep", "0.5"])
    unregistered: list[Path] = []
    monkeypatch.setattr(netdown, "_unregister", lambda path, uuid: unregistered.append(path) or [])
    reaper = threading.Thread(target=exiting.wait)
    reaper.start()
    try:
        assert _after_stop(tmp_path, exiting.pid, wait=10) == []
    finally:
        reaper.join()
    assert unregistered == [tmp_path]


def test_a_pid1_that_outlives_the_wait_is_left_to_gc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = subprocess.Popen(["sleep", "30"])
    monkeypatch.setattr(netdown, "_unregister", lambda path, uuid: pytest.fail("torn down"))
    try:
        assert _after_stop(tmp_path, running.pid, wait=0.3) == []
    finally:
        running.kill()
        running.wait()
