"""rkt.linux.process.sealed_copy: the copy that runtime processes in a pod are exec'ed from."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from rkt.linux.process import sealed_copy


def test_sealed_copy_has_the_bytes_and_cannot_change(tmp_path: Path) -> None:
    source = tmp_path / "tool"
    source.write_bytes(b"#!/bin/sh\necho original\n" * 1000)
    fd = sealed_copy(str(source), "rkt-test")
    try:
        assert not os.get_inheritable(fd)
        path = f"/proc/self/fd/{fd}"
        assert Path(path).read_bytes() == source.read_bytes()
        assert os.readlink(path).startswith("/memfd:rkt-test")
        with pytest.raises(OSError) as raised:
            os.write(fd, b"x")
        assert raised.value.errno in (errno.EPERM, errno.EBADF)
        with pytest.raises(OSError):
            os.open(path, os.O_WRONLY | os.O_TRUNC)
        with pytest.raises(OSError):
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    # the source is only read
    assert source.read_bytes().startswith(b"#!/bin/sh")


def test_sealed_copy_of_a_missing_file_leaks_nothing(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError):
        sealed_copy(str(tmp_path / "missing"), "rkt-test")
    assert len(os.listdir("/proc/self/fd")) == before
