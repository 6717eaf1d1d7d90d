"""Reading an app's log, as the pod's monitor writes it (rkt.stage1.executor.streams).

``stage1/logs/<app>.log`` (and the older ``<app>.log.1``) hold one record per line in podman's
k8s-file format, ``<RFC 3339 time, UTC, ns> <stdout|stderr> <F|P> <bytes>``: ``P`` marks a
part of a longer line, continued by the next record of the same stream; ``<app>.dropped`` counts
the bytes that could not be written (a full disk). :func:`lines` turns them back into the lines
the app wrote; :func:`follow` keeps reading as the monitor writes, across a rotation, until the
pod has exited.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from rkt.errors import PodError
from rkt.pod import layout

LOGS_DIR = layout.LOGS_DIR
#: How often :func:`follow` looks for new records.
FOLLOW_INTERVAL = 0.05


class Line(msgspec.Struct, frozen=True):
    """One line as the app wrote it: its time (of the read that ended it, ns since the epoch,
    UTC), its stream ("stdout" or "stderr") and its bytes (with its newline, if it had one)."""

    time: int
    stream: str
    data: bytes
    app: str = ""


def log_paths(pod_dir: Path, app: str) -> list[Path]:
    """The app's log files, oldest first."""
    base = pod_dir / LOGS_DIR / f"{app}.log"
    return [p for p in (base.with_name(base.name + ".1"), base) if p.exists()]


def dropped(pod_dir: Path, app: str) -> int:
    """How many bytes of the app's output the monitor could not write to its log."""
    try:
        return int((pod_dir / LOGS_DIR / f"{app}.dropped").read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def parse_time(text: bytes) -> int:
    """``2026-12-06T15:04:05.123456789Z`` in ns since the epoch."""
    seconds, _, fraction = text.rstrip(b"Z").partition(b".")
    moment = datetime.strptime(seconds.decode(), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + int((fraction + b"000000000")[:9] or 0)


class _Assembler:
    """Records in, lines out: a stream's ``P`` records are held until its ``F``."""

    def __init__(self, app: str) -> None:
        self.app = app
        self.partial: dict[str, tuple[int, bytes]] = {}

    def feed(self, record: bytes) -> Line | None:
        parts = record.split(b" ", 3)
        if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
            return None  # not a record of ours (a torn write after a crash)
        content = parts[3] if len(parts) == 4 else b""
        stream = parts[1].decode()
        try:
            when = parse_time(parts[0])
        except ValueError:
            return None
        started, held = self.partial.pop(stream, (when, b""))
        if parts[2] == b"P":
            self.partial[stream] = (started, held + content)
            return None
        return Line(started, stream, held + content + b"\n", self.app)

    def rest(self) -> list[Line]:
        """What is held: the app's last, unfinished lines."""
        held = [Line(t, s, d, self.app) for s, (t, d) in self.partial.items()]
        self.partial.clear()
        return held


def lines(pod_dir: Path, app: str) -> list[Line]:
    """Every line of the app's logs, oldest first (an unfinished last line too)."""
    assembler = _Assembler(app)
    found: list[Line] = []
    for path in log_paths(pod_dir, app):
        try:
            data = path.read_bytes()
        except OSError as err:
            raise PodError(f"cannot read {path}: {err.strerror}") from err
        for record in data.split(b"\n"):
            line = assembler.feed(record)
            if line is not None:
                found.append(line)
    return found + assembler.rest()


def follow(
    pod_dir: Path, app: str, running: Callable[[], bool], *, start_at: int | None = None
) -> Iterator[Line]:
    """The app's lines as they are written, from the end of its current log (or byte
    ``start_at`` of it), until ``running()`` says the pod has exited and nothing is left."""
    path = pod_dir / LOGS_DIR / f"{app}.log"
    assembler = _Assembler(app)
    handle = None
    position = start_at
    pending = b""
    while True:
        if handle is None:
            try:
                handle = open(path, "rb")  # noqa: SIM115 - kept open across iterations
            except FileNotFoundError:
                handle = None
            if handle is not None:
                handle.seek(position if position is not None else 0, os.SEEK_SET)
        data = handle.read() if handle is not None else b""
        if data:
            records = (pending + data).split(b"\n")
            pending = records.pop()
            for record in records:
                line = assembler.feed(record)
                if line is not None:
                    yield line
            continue
        # Rotated: the file we read was renamed to .log.1 and a new one begun.
        if handle is not None and _rotated(handle, path):
            handle.close()
            handle, position, pending = None, 0, b""
            continue
        if not running():
            if handle is not None and handle.read():
                continue
            yield from assembler.rest()
            if handle is not None:
                handle.close()
            return
        time.sleep(FOLLOW_INTERVAL)


def _rotated(handle: object, path: Path) -> bool:
    try:
        return os.fstat(handle.fileno()).st_ino != path.stat().st_ino  # type: ignore[attr-defined]
    except OSError:
        return False
