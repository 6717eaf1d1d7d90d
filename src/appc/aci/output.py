"""Writing an output file so that it appears complete or not at all.

The content goes to a temporary file beside the target (same filesystem), is fsynced, then
takes the target's name: ``rename`` when replacing is allowed, otherwise ``link`` + ``unlink``,
which fails instead of clobbering a file that appeared meanwhile. Any failure, including an
interrupt, removes the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from appc.errors import ArchiveError


def _create_temp(out_path: str) -> tuple[int, str]:
    directory, base = os.path.split(os.path.abspath(out_path))
    while True:
        temp = os.path.join(directory, f".{base}.{os.urandom(6).hex()}.tmp")
        try:
            # Mode 0644 before the umask, as the reference creates its output.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
            return os.open(temp, flags, 0o644), temp
        except FileExistsError:
            continue
        except OSError as err:
            raise ArchiveError(f"cannot create the output: {err.strerror}", out_path) from err


def _commit(temp: str, out_path: str, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, out_path)
        return
    # link(2) fails if the target appeared since it was checked: a rename that never clobbers.
    try:
        os.link(temp, out_path)
    except FileExistsError:
        raise ArchiveError("target file exists (try --overwrite)", out_path) from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise
        # Filesystems without hard links: the caller's exists check has to do.
        os.rename(temp, out_path)
        return
    os.unlink(temp)


def _sync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_target(out_path: str, overwrite: bool) -> None:
    if not overwrite and os.path.lexists(out_path):
        raise ArchiveError("target file exists (try --overwrite)", out_path)


@contextlib.contextmanager
def atomic_output(out_path: str, overwrite: bool) -> Iterator[int]:
    """A file descriptor to write the output to; on a clean exit it is synced and renamed."""
    check_target(out_path, overwrite)
    fd, temp = _create_temp(out_path)
    try:
        try:
            yield fd
            os.fsync(fd)
        finally:
            os.close(fd)
        _commit(temp, out_path, overwrite)
        _sync_dir(out_path)
    except OSError as err:
        raise ArchiveError(f"cannot write the output: {err.strerror or err}", out_path) from err
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)
