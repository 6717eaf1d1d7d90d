"""Stopping ``rkt run``/``rkt run-prepared`` by a signal to rkt itself, as Nomad's executor and
systemd do: SIGINT or SIGTERM to rkt's pid alone stops the pod in order and rkt exits with
the apps' status well within Nomad's 5 s kill timeout; a second one kills the apps; a
terminal's ^C (to the foreground process group) reaches the apps once.

Each wait is for a condition with a deadline: the pod's readiness, a marker the app writes
when a signal reaches it, rkt's exit.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration import podkit
from tests.integration.podkit import RKT, make_image, rkt

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists(podkit.BUSYBOX), reason="needs busybox-static"),
]

#: Nomad's default kill_timeout: what the driver waits after the kill signal before SIGKILL.
KILL_TIMEOUT = 5.0
READY_TIMEOUT = 60.0


def _image(base: Path, tmp_path: Path, script: str) -> str:
    return str(make_image(base, tmp_path, "sig", {"exec": ["/bin/sh", "-c", script]}))


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _start(data: Path, argv: list[str], out: Path) -> subprocess.Popen[bytes]:
    """rkt as Nomad's executor starts it: a process group of its own, output to files."""
    with open(out, "wb") as log:
        return subprocess.Popen(
            [*RKT, f"--dir={data}", *argv], stdout=log, stderr=log, process_group=0
        )


def _exit_status(proc: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"rkt did not exit within {timeout}s of the signal") from None


def _ready(data: Path, uuid_file: Path) -> bool:
    if not uuid_file.exists():
        return False
    done = rkt(data, "status", "--wait-ready=1ms", uuid_file.read_text())
    return done.returncode == 0 and "state=running" in done.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("verb", ["run", "run-prepared"])
def test_a_signal_to_rkt_stops_the_pod(
    data: Path, base: Path, tmp_path: Path, verb: str, signum: int
) -> None:
    image = _image(base, tmp_path, "exec sleep 1000")
    uuid_file = tmp_path / "uuid"
    if verb == "run":
        argv = ["--insecure-options=image", "run", "--net=none", f"--uuid-file-save={uuid_file}",
                image]  # fmt: skip
    else:
        prepared = rkt(data, "--insecure-options=image", "prepare", image)
        assert prepared.returncode == 0, prepared.stderr
        uuid_file.write_text(prepared.stdout.strip())
        argv = ["run-prepared", "--net=none", prepared.stdout.strip()]
    proc = _start(data, argv, tmp_path / "out")
    _wait_for(lambda: _ready(data, uuid_file), "the pod to run")
    os.kill(proc.pid, signum)
    assert _exit_status(proc, KILL_TIMEOUT) == 128 + signum, (tmp_path / "out").read_text()
    status = rkt(data, "status", uuid_file.read_text())
    assert "state=exited" in status.stdout and f"app-sig={128 + signum}" in status.stdout


def test_a_second_signal_kills_the_apps(data: Path, base: Path, tmp_path: Path) -> None:
    """The app ignores SIGTERM (it records each one in a volume, taking its time): the first
    stops nothing before the supervisor's 10 s, the second kills it at once."""
    log = tmp_path / "log"
    log.mkdir()
    script = "trap 'sleep 0.5; echo term >> /log/signals' TERM; while :; do sleep 0.05; done"
    image = _image(base, tmp_path, script)
    uuid_file = tmp_path / "uuid"
    proc = _start(data, [
        "--insecure-options=image", "run", "--net=none", f"--uuid-file-save={uuid_file}",
        f"--volume=log,kind=host,source={log}", "--mount=volume=log,target=/log", image,
    ], tmp_path / "out")  # fmt: skip
    _wait_for(lambda: _ready(data, uuid_file), "the pod to run")
    os.kill(proc.pid, signal.SIGTERM)
    _wait_for(lambda: (log / "signals").exists(), "the app to get the first SIGTERM", 10)
    os.kill(proc.pid, signal.SIGTERM)
    assert _exit_status(proc, KILL_TIMEOUT) == 128 + signal.SIGKILL
    assert (log / "signals").read_text() == "term\n"


def test_ctrl_c_on_a_terminal_reaches_the_app_once(data: Path, base: Path, tmp_path: Path) -> None:
    """rkt run (not --interactive) in the foreground of a terminal: ^C goes to its process
    group (rkt, stage1 and the pod's PID 1) and reaches the app once."""
    log = tmp_path / "log"
    log.mkdir()
    script = "trap 'echo int >> /log/signals; exit 3' INT; while :; do sleep 0.05; done"
    image = _image(base, tmp_path, script)
    uuid_file = tmp_path / "uuid"
    argv = [
        *RKT, f"--dir={data}", "--insecure-options=image", "run", "--net=none",
        f"--uuid-file-save={uuid_file}", f"--volume=log,kind=host,source={log}",
        "--mount=volume=log,target=/log", image,
    ]  # fmt: skip
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child execs rkt on the pty
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    try:
        _wait_for(lambda: _ready(data, uuid_file), "the pod to run")
        os.write(master, b"\x03")
        deadline = time.monotonic() + KILL_TIMEOUT
        status = None
        while status is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):  # EIO once rkt has exited
                    os.read(master, 4096)
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                status = wait_status
        assert status is not None, "rkt did not exit after ^C"
        assert os.waitstatus_to_exitcode(status) == 3
        assert (log / "signals").read_text() == "int\n"
    finally:
        os.close(master)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
