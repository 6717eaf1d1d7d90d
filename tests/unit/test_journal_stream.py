"""rkt.linux.journal: the stream header journald reads, and what tells a journal stream."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from rkt.linux import journal


def _accepted_header(tmp_path: Path, **kwargs: object) -> list[str]:
    path = str(tmp_path / "stdout")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen()
        fd = journal.stream("web", journal.ERR, path, **kwargs)  # type: ignore[arg-type]
        os.write(fd, b"a line\n")
        os.close(fd)
        peer, _ = server.accept()
        with peer:
            received = b""
            while chunk := peer.recv(4096):
                received += chunk
    return received.decode().split("\n")


def test_the_header_names_the_app_its_priority_and_the_pods_unit(tmp_path: Path) -> None:
    lines = _accepted_header(tmp_path, unit="rkt-1234.scope")
    assert lines[:7] == ["web", "rkt-1234.scope", "3", "0", "0", "0", "0"]
    assert lines[7] == "a line"


def test_without_a_unit_journald_goes_by_the_cgroup_alone(tmp_path: Path) -> None:
    assert _accepted_header(tmp_path)[:3] == ["web", "", "3"]


def test_a_header_field_cannot_end_early() -> None:
    with pytest.raises(ValueError):
        journal.stream("web", unit="x\nPRIORITY=0", path="/nonexistent")


def test_a_journal_stream_is_known_by_its_device_and_inode(tmp_path: Path) -> None:
    with open(tmp_path / "f", "w") as f:
        info = os.fstat(f.fileno())
        env = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        assert journal.is_journal_stream(f.fileno(), env)
        assert not journal.is_journal_stream(f.fileno(), {"JOURNAL_STREAM": "1:2"})
        assert not journal.is_journal_stream(f.fileno(), {})
