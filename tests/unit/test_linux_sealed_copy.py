"""rkt.linux.process.sealed_copy: the copy that runtime processes in a pod are exec'ed from."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from rkt.linux import process
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


def test_sealing_is_tried_again_while_the_kernel_says_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # F_SEAL_WRITE is refused (EBUSY) while a page of the copy still has an extra reference,
    # as happens on a loaded host; the copy is sealed once the kernel lets go.
    source = tmp_path / "program"
    source.write_bytes(b"#!/bin/sh\n")
    real = fcntl.fcntl
    refusals = iter([True, True, False])

    def busy_twice(fd: int, command: int, arg: int = 0) -> int:
        if command == fcntl.F_ADD_SEALS and next(refusals):
            raise OSError(errno.EBUSY, "Device or resource busy")
        return real(fd, command, arg)

    monkeypatch.setattr(process.fcntl, "fcntl", busy_twice)
    monkeypatch.setattr(process.time, "sleep", lambda _: None)
    fd = process.sealed_copy(str(source), "t")
    try:
        assert real(fd, fcntl.F_GET_SEALS) & 0x0008  # F_SEAL_WRITE
    finally:
        os.close(fd)

    def always_busy(fd: int, command: int, arg: int = 0) -> int:
        if command == fcntl.F_ADD_SEALS:
            raise OSError(errno.EBUSY, "Device or resource busy")
        return real(fd, command, arg)

    monkeypatch.setattr(process.fcntl, "fcntl", always_busy)
    with pytest.raises(OSError) as caught:
        process.sealed_copy(str(source), "t")
    assert caught.value.errno == errno.EBUSY
