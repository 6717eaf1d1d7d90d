"""Writing a file so that readers, and a crash, see the old content or the new, never part.

Every write that must survive a crash goes to a temporary name, is fsynced, then renamed:
:func:`write_atomically` is that one way for every layer above ``rkt.linux`` (which
imports nothing of rkt but its errors, and keeps its own few lines for the cgroup record):
pod files, stage1's records, network files, trusted keys, the CLI's UUID file.

Not for content-addressed entries that must never replace another (the store renames its
blobs and trees into place itself), nor for ``appc``, which imports nothing of rkt
(``appc.aci.output`` streams an archive and refuses to clobber).
"""

from __future__ import annotations

import contextlib
import itertools
import os

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
#: Numbers the temporary names of this process (with its pid): no randomness is needed, and
#: getrandom(2) can block early in a boot, where a unit may start a pod.
_serial = itertools.count()


def write_atomically(
    path: str | os.PathLike[str],
    content: bytes,
    mode: int | None = None,
    *,
    durable: bool = True,
    sync_dir: bool = False,
) -> None:
    """Write ``content`` to ``path`` through a temporary file beside it, renamed over it.

    ``mode``: the file's mode whatever the umask; None for what ``open()`` makes (0666 less
    the umask). ``durable``: fsync the file before the rename, so that after a crash the name
    holds all of the new content or the old; without it a crash of the host can leave the
    file empty. That is for files that die with what they describe, such as those serving
    only the running pod (generated /etc files, its pid, the resolved seccomp filters, the
    isolator report), whose fsyncs were 2-3 ms of every start on the bench VM's disk.
    ``sync_dir``: fsync the directory after the rename too, so that the rename itself
    survives a crash.

    The temporary name is hidden and unique (``.<name>.<pid>.<n>.tmp``, made exclusively, no
    symlink followed), so that directory listings skip it and concurrent writers (threads
    too) never share one; a failure, an interrupt included, removes it.
    """
    directory, name = os.path.split(os.fspath(path))
    fd = -1
    while fd < 0:  # a name left by a killed process of the same pid is skipped
        temporary = os.path.join(directory, f".{name}.{os.getpid()}.{next(_serial)}.tmp")
        with contextlib.suppress(FileExistsError):
            fd = os.open(temporary, _FLAGS, 0o666 if mode is None else mode & 0o777)
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            if mode is not None:
                os.fchmod(fd, mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    if sync_dir:
        fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
