"""rkt.atomicfile: the one way rkt writes a file through a temporary name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rkt.atomicfile import write_atomically


def test_replaces_the_file_with_the_mode_asked_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "record"
    path.write_bytes(b"old")
    old_umask = os.umask(0o077)
    try:
        write_atomically(path, b"new\n", 0o644)
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == b"new\n"
    assert path.stat().st_mode & 0o7777 == 0o644
    assert os.listdir(tmp_path) == ["record"]


def test_without_a_mode_the_umask_decides(tmp_path: Path) -> None:
    old_umask = os.umask(0o027)
    try:
        write_atomically(tmp_path / "f", b"x", durable=False)
    finally:
        os.umask(old_umask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o640


def test_a_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "record"
    path.write_bytes(b"old")

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, b"new", 0o644, sync_dir=True)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["record"]


def test_the_temporary_is_hidden_beside_the_file_and_never_a_followed_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def recording(src: str, dst: str) -> None:
        renames.append((src, dst))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", recording)
    # A name the next temporary would take, planted as a symlink: skipped, not followed.
    victim = tmp_path / "victim"
    write_atomically(tmp_path / "probe", b"")
    [(first, _)] = renames
    serial = int(first.rsplit(".", 2)[1])
    os.symlink(victim, tmp_path / f".record.{os.getpid()}.{serial + 1}.tmp")
    write_atomically(tmp_path / "record", b"data", 0o600)
    src, dst = renames[-1]
    assert os.path.dirname(src) == str(tmp_path) and os.path.basename(src).startswith(".record.")
    assert os.fspath(dst) == str(tmp_path / "record")
    assert not victim.exists()
    assert (tmp_path / "record").read_bytes() == b"data"
