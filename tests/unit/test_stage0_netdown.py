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


def test_teardown_waits_for_a_pid1_that_let_go_of_the_lock_but_still_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PID 1 closes its files (the lock) before it has waited for the rest of its pid
    # namespace; a stand-in that is still running with the lock free.
    exiting = subprocess.Popen(["sleep", "0.5"])
    (tmp_path / layout.PID).write_text(f"{exiting.pid}\n")
    (tmp_path / layout.MDS_REGISTERED).write_text("")
    unregistered: list[Path] = []
    monkeypatch.setattr(netdown, "_unregister", lambda path, uuid: unregistered.append(path) or [])
    reaper = threading.Thread(target=exiting.wait)
    reaper.start()
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        pod = SimpleNamespace(fd=fd, path=tmp_path, uuid=tmp_path.name)
        assert netdown.after_stop(pod, wait=10) == []  # type: ignore[arg-type]
    finally:
        os.close(fd)
        reaper.join()
    assert unregistered == [tmp_path]


def test_a_pid1_that_outlives_the_wait_is_left_to_gc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / layout.PID).write_text(f"{running.pid}\n")
        (tmp_path / layout.MDS_REGISTERED).write_text("")
        monkeypatch.setattr(netdown, "_unregister", lambda path, uuid: pytest.fail("torn down"))
        fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            pod = SimpleNamespace(fd=fd, path=tmp_path, uuid=tmp_path.name)
            assert netdown.after_stop(pod, wait=0.3) == []  # type: ignore[arg-type]
        finally:
            os.close(fd)
    finally:
        running.kill()
        running.wait()
