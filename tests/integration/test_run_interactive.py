"""``rkt run --interactive``: the app gets a terminal relayed to the one rkt runs on, observed
from inside pods.

The test is the terminal: ``pty.fork()`` starts rkt on the slave side of a new pseudo-terminal
(its controlling terminal, window size set first) and the test reads and types on the master
side, always through ``select`` with a deadline, so that a hung pod fails the test instead of
hanging the suite. Expected behaviour: rkt 1.30's Documentation/subcommands/run.md
(``--interactive``) and issue #4 (pty, job control, window size).
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rkt.linux import tty
from tests.integration import podkit
from tests.integration.podkit import make_image

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists(podkit.BUSYBOX), reason="needs busybox-static"),
]

ROWS, COLUMNS = 37, 101
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def base_applets() -> tuple[str, ...]:
    return ("tty", "stty", "ps")  # the app's view of its terminal


def sh_image(base: Path, tmp_path: Path, script: str) -> str:
    return str(make_image(base, tmp_path, "tty", {"exec": ["/bin/sh", "-c", script]}))


class Terminal:
    """rkt running on the slave side of a pty; the test holds the master."""

    def __init__(self, data: Path, image: str, uuid_file: Path) -> None:
        self.data = data
        self.uuid_file = uuid_file
        self.output = b""
        argv = [
            *podkit.RKT,
            f"--dir={data}",
            "--insecure-options=image",
            "run",
            "--interactive",
            "--net=none",
            f"--uuid-file-save={uuid_file}",
            image,
        ]
        pid, master = pty.fork()
        if pid == 0:  # pragma: no cover - the child only sets the window size and execs
            try:
                tty.set_window_size(0, ROWS, COLUMNS)
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        self.pid = pid
        self.master = master
        self.status: int | None = None

    def read_until(self, wanted: bytes, timeout: float = TIMEOUT) -> bytes:
        """Read the master until ``wanted`` has appeared (or EOF, or the deadline)."""
        deadline = time.monotonic() + timeout
        while wanted not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: every slave fd is closed
                break
            if not chunk:
                break
            self.output += chunk
        return self.output

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait(self, timeout: float = TIMEOUT) -> int:
        """rkt's wait status (not its exit code: the caller checks it was not killed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read_until(b"\0never\0", timeout=0.1)  # keep the pty drained
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                return status
        self.kill()
        raise AssertionError(f"rkt did not exit in {timeout}s; output: {self.output!r}")

    def kill(self) -> None:
        if self.uuid_file.exists():
            podkit.rkt(self.data, "stop", "--force", self.uuid_file.read_text(), timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self.status = -1

    def close(self) -> None:
        if self.status is None:
            self.kill()
        os.close(self.master)

    def text(self) -> str:
        return self.output.decode(errors="replace").replace("\r\n", "\n")


@pytest.fixture
def terminal(data: Path, tmp_path: Path) -> Iterator[Any]:
    started: list[Terminal] = []

    def start(image: str) -> Terminal:
        started.append(Terminal(data, image, tmp_path / "uuid"))
        return started[-1]

    yield start
    for term in started:
        term.close()


def exited(status: int) -> int:
    assert os.WIFEXITED(status), f"rkt was killed: wait status {status:#x}"
    return os.WEXITSTATUS(status)


def test_app_has_the_terminal_as_controlling_terminal(
    base: Path, tmp_path: Path, terminal: Any
) -> None:
    script = (
        "echo tty:$(tty); [ -t 0 ] && echo stdin:tty; [ -t 1 ] && echo stdout:tty; "
        "echo size:$(stty size); read -r stat < /proc/$$/stat; echo stat:$stat; exit 7"
    )
    term = terminal(sh_image(base, tmp_path, script))
    assert exited(term.wait()) == 7, term.text()
    out = term.text().splitlines()
    assert "tty:/dev/console" in out
    assert "stdin:tty" in out
    assert "stdout:tty" in out
    assert f"size:{ROWS} {COLUMNS}" in out
    stat = next(line for line in out if line.startswith("stat:")).split()
    pid, pgrp, session, tpgid = stat[0].split(":")[1], stat[4], stat[5], stat[7]
    # The leader of a session of its own whose terminal is the pod's pty (relayed by rkt), not
    # rkt's own terminal (docs/security.md 12); the foreground process group of that terminal.
    assert pgrp == tpgid == pid == session, stat


def test_a_typed_line_is_read_by_the_app(base: Path, tmp_path: Path, terminal: Any) -> None:
    term = terminal(sh_image(base, tmp_path, "echo ready; read x; echo got:$x"))
    assert b"ready" in term.read_until(b"ready"), term.text()
    term.type(b"hello pod\n")
    assert exited(term.wait()) == 0, term.text()
    assert "got:hello pod" in term.text().splitlines()


def _running(cmdline: bytes) -> bool:
    """Whether a process with exactly this command line exists."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes() == cmdline:
                    return True
    return False


def test_ctrl_c_interrupts_the_app_not_rkt(base: Path, tmp_path: Path, terminal: Any) -> None:
    term = terminal(sh_image(base, tmp_path, "echo ready; sleep 100; echo after"))
    assert b"ready" in term.read_until(b"ready"), term.text()
    # Once sh has started sleep (a ^C before that interrupts sh, just as well).
    deadline = time.monotonic() + 10
    while not _running(b"sleep\x00100\x00") and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    term.type(b"\x03")
    # rkt exits on its own (not killed by the ^C) with the app's status, 128 + SIGINT.
    assert exited(term.wait(timeout=30)) == 128 + signal.SIGINT, term.text()
    assert time.monotonic() - started < 20
    assert "after" not in term.text()


def test_window_size_changes_reach_the_app(base: Path, tmp_path: Path, terminal: Any) -> None:
    script = (
        "trap 'echo winch:$(stty size)' WINCH; echo ready; "
        "i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done"
    )
    term = terminal(sh_image(base, tmp_path, script))
    assert b"ready" in term.read_until(b"ready"), term.text()
    tty.set_window_size(term.master, 50, 132)
    assert b"winch:50 132" in term.read_until(b"winch:50 132", timeout=20), term.text()
    term.type(b"\x03")
    assert exited(term.wait(timeout=30)) == 128 + signal.SIGINT, term.text()


def test_refused_without_a_terminal(base: Path, tmp_path: Path, data: Path) -> None:
    image = sh_image(base, tmp_path, "echo should-not-run")
    argv = [*podkit.RKT, f"--dir={data}", "--insecure-options=image", "run", "--net=none"]
    done = subprocess.run(
        [*argv, "--interactive", image],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 254, (done.stdout, done.stderr)
    assert "--interactive needs a terminal: stdin is not a tty" in done.stderr
    assert "should-not-run" not in done.stdout


def _wait_for_foreground_sleep() -> None:
    """Until a ``sleep 100`` runs as its terminal's foreground process group (a ^C sent before
    the shell made it the foreground would reach nobody that cares)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        for proc in os.listdir("/proc"):
            with contextlib.suppress(OSError, IndexError):
                here = Path("/proc", proc)
                if proc.isdigit() and (here / "cmdline").read_bytes() == b"sleep\x00100\x00":
                    fields = (here / "stat").read_bytes().rpartition(b")")[2].split()
                    if fields[2] == fields[5]:  # pgrp == the terminal's foreground group
                        return
        time.sleep(0.02)
    raise AssertionError("sleep 100 never became the foreground job")


@pytest.mark.skipif(not os.path.exists("/bin/bash"), reason="needs bash")
def test_the_calling_shell_keeps_its_terminal(base: Path, tmp_path: Path, data: Path) -> None:
    """After the pod, ^C at the shell that ran rkt still interrupts its own jobs."""
    image = sh_image(base, tmp_path, "echo in-pod")
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover
        try:
            os.execv("/bin/bash", ["bash", "--norc", "--noprofile", "-i"])
        finally:
            os._exit(127)
    term = Terminal.__new__(Terminal)
    term.data, term.uuid_file, term.output = data, tmp_path / "uuid", b""
    term.pid, term.master, term.status = pid, master, None
    try:
        rkt = " ".join([*podkit.RKT, f"--dir={data}", "--insecure-options=image", "run"])
        term.type(f"{rkt} --interactive --net=none {image}; echo rkt-status:$?\n".encode())
        assert b"rkt-status:0" in term.read_until(b"rkt-status:0"), term.text()
        term.type(b"sleep 100; echo slept:$?\n")
        _wait_for_foreground_sleep()
        term.type(b"\x03")
        term.type(b"echo prompt-$((40 + 2))\n")  # the echoed input does not say prompt-42
        assert b"prompt-42" in term.read_until(b"prompt-42", timeout=10), term.text()
        assert "slept:0" not in term.text()
        term.type(b"exit\n")
        term.wait(timeout=20)
    finally:
        term.close()
