"""Detached pods, their logs and attaching to their apps (issue #18), with real pods: ``rkt run
--detach`` returns once the apps have started and the pod outlives its caller; ``rkt logs``
shows every line an app wrote, in order, both streams, while it runs and after; ``--follow``
sees new lines; rotation keeps the cap; ``rkt attach`` to a stream app and to a tty app,
typing and reading, detaching and attaching again. Every wait is for a condition.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import time
import uuid as uuid_module
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import podkit
from tests.integration.podkit import RKT, make_image, rkt

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not podkit.is_root_with_busybox(), reason="needs root and busybox-static"),
]

TIMEOUT = 60.0


@pytest.fixture(scope="module")
def base_applets() -> tuple[str, ...]:
    return ("seq", "yes", "head")  # the apps' output


@pytest.fixture
def data(data: Path) -> Iterator[Path]:
    """The common data dir; detached pods outlive their ``rkt run``, so those still running
    are stopped before its cleanup gcs them."""
    yield data
    with contextlib.suppress(subprocess.TimeoutExpired):
        for line in rkt(data, "list", "--no-legend", "--full").stdout.splitlines():
            if "running" in line:
                rkt(data, "stop", "--force", line.split()[0])


def image(base: Path, tmp_path: Path, script: str, **app: Any) -> str:
    name = f"logs{uuid_module.uuid4().hex[:8]}"
    return str(make_image(base, tmp_path, name, {"exec": ["/bin/sh", "-c", script], **app}))


def wait_for(condition: Any, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def detached(data: Path, aci: str, *words: str) -> str:
    done = rkt(data, "--insecure-options=image", "run", "--detach", "--net=none", aci, *words)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def state(data: Path, uuid: str) -> str:
    for line in rkt(data, "status", uuid).stdout.splitlines():
        if line.startswith("state="):
            return line[6:]
    return ""


def test_detached_pod_outlives_its_caller_and_stops(base: Path, tmp_path: Path, data: Path) -> None:
    """``run -d`` prints the UUID once the app has started (its pre-start handler done) and
    returns 0; the pod goes on in a session of its own; ``rkt stop`` ends it, ``status
    --wait`` sees it exit, and its status is the app's."""
    aci = image(base, tmp_path, "echo started; exec sleep 600")
    started = time.monotonic()
    uuid = detached(data, aci)
    assert len(uuid) == 36
    assert time.monotonic() - started < TIMEOUT
    assert state(data, uuid) == "running"
    # The caller is gone; the pod's monitor is in a session of its own, without a terminal.
    pid1 = int(next((data / "pods/run").glob(f"{uuid}/pid")).read_text())
    monitor = int(Path(f"/proc/{pid1}/stat").read_text().rpartition(")")[2].split()[1])
    fields = Path(f"/proc/{monitor}/stat").read_text().rpartition(")")[2].split()
    assert fields[3] == str(monitor) and fields[4] == "0", fields  # session leader, no tty
    assert rkt(data, "stop", uuid).returncode == 0
    done = rkt(data, "status", "--wait=30s", uuid)
    assert "state=exited" in done.stdout and f"app-{Path(aci).stem}=143" in done.stdout, done.stdout


def test_detached_start_failure_is_254_with_the_reason(
    base: Path, tmp_path: Path, data: Path
) -> None:
    aci = image(base, tmp_path, "true", **{"exec": ["/bin/no-such-program"]})
    done = rkt(data, "--insecure-options=image", "run", "-d", "--net=none", aci)
    assert done.returncode == 254, done
    assert "no-such-program" in done.stderr and done.stdout == "", done


def test_logs_hold_every_line_in_order_with_both_streams(
    base: Path, tmp_path: Path, data: Path
) -> None:
    """An app that prints 100,000 lines (every tenth on stderr): ``rkt logs`` shows them all,
    in order, stdout to stdout and stderr to stderr, also after the pod has exited."""
    script = 'i=0; while [ $i -lt 100000 ]; do if [ $((i % 10)) = 0 ]; then echo "e$i" >&2; else echo "o$i"; fi; i=$((i+1)); done'  # noqa: E501
    aci = image(base, tmp_path, script)
    done = rkt(data, "--insecure-options=image", "run", "--net=none", aci,
               "--uuid-file-save=" + str(tmp_path / "uuid"), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    uuid = (tmp_path / "uuid").read_text().strip()
    # The foreground run copied them to its own streams, unchanged.
    assert done.stdout.count("\n") == 90_000 and done.stderr.count("\ne") >= 9_999
    logs = rkt(data, "logs", uuid, timeout=120)
    assert logs.returncode == 0, logs.stderr
    out, err = logs.stdout.splitlines(), logs.stderr.splitlines()
    assert out == [f"o{i}" for i in range(100_000) if i % 10]
    assert err == [f"e{i}" for i in range(0, 100_000, 10)]
    every = rkt(data, "logs", "--format=json", uuid).stdout.splitlines()
    assert len(every) == 100_000
    lines = rkt(data, "logs", "--format=json", "--tail=3", uuid).stdout.splitlines()
    assert lines == every[-3:]
    records = [json.loads(line) for line in lines]
    assert all(r["stream"] in ("stdout", "stderr") and r["time"].endswith("Z") for r in records)


def test_follow_sees_new_lines_and_ends_with_the_pod(
    base: Path, tmp_path: Path, data: Path
) -> None:
    script = (
        "i=0; while [ ! -e /tmp/stop ]; do echo tick$i; i=$((i+1)); sleep 0.05; done; echo last"
    )
    aci = image(base, tmp_path, script)
    uuid = detached(data, aci)
    follower = subprocess.Popen([*RKT, f"--dir={data}", "logs", "--follow", uuid],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert follower.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + TIMEOUT
        while len(seen) < 20:
            assert time.monotonic() < deadline, seen
            seen.append(follower.stdout.readline().strip())
        numbers = [int(line[4:]) for line in seen if line.startswith("tick")]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        assert rkt(data, "enter", uuid, "/bin/touch", "/tmp/stop").returncode == 0
        rest, _ = follower.communicate(timeout=TIMEOUT)  # ends by itself with the pod
        assert rest.splitlines()[-1] == "last"
    finally:
        follower.kill()
        follower.wait()


def test_rotation_keeps_the_cap(base: Path, tmp_path: Path, data: Path) -> None:
    script = "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -n 40000"  # ~1.5 MB of output
    aci = image(base, tmp_path, script)
    done = rkt(data, "--insecure-options=image", "run", "--net=none", "--log-max-size=64Ki",
               aci, "--uuid-file-save=" + str(tmp_path / "uuid"), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    uuid = (tmp_path / "uuid").read_text().strip()
    logs = next((data / "pods").glob(f"*/{uuid}/stage1/logs"))
    app = Path(aci).stem
    files = sorted(logs.glob(f"{app}.log*"))
    assert [f.name for f in files] == [f"{app}.log", f"{app}.log.1"]
    for file in files:
        assert file.stat().st_size <= 64 * 1024 + 96, file  # the cap, and one write's record
    shown = rkt(data, "logs", uuid).stdout.splitlines()
    assert 0 < len(shown) < 40000 and set(shown) == {"0123456789abcdefghijklmnopqrstuvwxyz"}


class Terminal:
    """A command on the slave side of a new pty; the test holds the master."""

    def __init__(self, argv: list[str]) -> None:
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # pragma: no cover
            os.execv(argv[0], argv)
        self.output = b""

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def read_until(self, text: bytes, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, self.output
            if select.select([self.master], [], [], left)[0]:
                with contextlib.suppress(OSError):
                    self.output += os.read(self.master, 65536)

    def wait(self) -> int:
        deadline = time.monotonic() + TIMEOUT
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            assert time.monotonic() < deadline, self.output
            if select.select([self.master], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):
                    self.output += os.read(self.master, 65536)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.master)


def test_attach_to_a_stream_app_detach_and_attach_again(
    base: Path, tmp_path: Path, data: Path
) -> None:
    aci = image(base, tmp_path, "while read line; do echo got:$line; echo err:$line >&2; done")
    uuid = detached(data, aci, "--stdin=stream", "--stdout=stream", "--stderr=stream")
    for turn in ("one", "two"):
        term = Terminal([*RKT, f"--dir={data}", "attach", uuid])
        try:
            term.type(f"{turn}\r".encode())
            term.read_until(f"got:{turn}".encode())
            term.read_until(f"err:{turn}".encode())
            term.type(b"\x04")  # ctrl-d: our input ends, and with it the attach
            assert term.wait() == 0
        finally:
            term.close()
    assert state(data, uuid) == "running"  # the app did not notice
    shown = rkt(data, "logs", uuid)
    assert shown.stdout.splitlines() == ["got:one", "got:two"], shown


def test_attach_to_a_tty_app(base: Path, tmp_path: Path, data: Path) -> None:
    script = (
        "echo tty:$(tty); [ -t 1 ] && echo stdout-is-a-tty; "
        "while read line; do echo got:$line; done"
    )
    aci = image(base, tmp_path, script)
    uuid = detached(data, aci, "--stdin=tty", "--stdout=tty", "--stderr=tty")
    for turn in ("alpha", "beta"):
        term = Terminal([*RKT, f"--dir={data}", "attach", "--mode=tty", uuid])
        try:
            term.type(f"{turn}\r".encode())
            term.read_until(f"got:{turn}".encode())
            term.type(b"\x10\x11")
            assert term.wait() == 0
        finally:
            term.close()
    assert state(data, uuid) == "running"
    shown = rkt(data, "logs", uuid).stdout
    assert "tty:/dev/console" in shown and "stdout-is-a-tty" in shown, shown
