"""File locks with flock(2), the way rkt guards its data dir without a daemon.

A lock is a file under ``locks/``; holding it means holding an exclusive (or shared) flock on an
open descriptor of it. The kernel drops the lock when the holder dies, even by SIGKILL, so a
killed process never leaves a stale lock behind.

Lock files of removed images may be deleted. To make that safe, :func:`acquire` checks after
locking that the path still names the inode it locked; if a remover unlinked it meanwhile, the
lock is taken again on the new file. A remover unlinks only while holding the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from rkt.errors import StoreError

_O_LOCK = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW


class FileLock:
    """A held flock on ``path``; release with :meth:`release` or as a context manager."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None

    def unlink(self) -> None:
        """Delete the lock file while still holding the lock (see the module docstring)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    fst = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


def acquire(
    path: Path, *, shared: bool = False, wait: bool = True, group: bool = False
) -> FileLock | None:
    """Lock ``path`` (created if missing); ``None`` when ``wait`` is false and it is busy.
    ``group``: a lock the data dir's group takes too (an image's: members fetch), so the file
    is made readable and writable by the group whatever our umask."""
    operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    if not wait:
        operation |= fcntl.LOCK_NB
    while True:
        try:
            fd = os.open(path, _O_LOCK, 0o660 if group else 0o600)
        except OSError as err:
            raise StoreError(f"cannot open lock file {path}: {err.strerror}") from err
        if group:
            share_with_group(fd)
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as err:
            os.close(fd)
            raise StoreError(f"cannot lock {path}: {err.strerror}") from err
        if _same_file(fd, path):
            return FileLock(path, fd)
        os.close(fd)  # removed while we waited: lock the file that is there now


def share_with_group(fd: int) -> None:
    """Give a file we own the group's read and write that our umask took away (the data dir's
    group, rkt's packaging's "rkt", fetches: its members share the store's files)."""
    info = os.fstat(fd)
    if info.st_uid == os.geteuid() and info.st_mode & 0o060 != 0o060:
        with contextlib.suppress(OSError):
            os.fchmod(fd, (info.st_mode & 0o7777) | 0o060)


@contextlib.contextmanager
def locked(path: Path, *, shared: bool = False, group: bool = False) -> Iterator[FileLock]:
    lock = acquire(path, shared=shared, group=group)
    assert lock is not None  # a waiting acquire always returns a lock
    try:
        yield lock
    finally:
        lock.release()
