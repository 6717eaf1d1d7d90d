"""Network namespaces kept alive by a bind mount of their nsfs file (like ``ip netns add``).

A namespace lives as long as a process is in it or a mount or fd refers to it. rkt keeps the
pod's at a path in the pod directory so that it outlives the process that made it, CNI plugins
can enter it by path (``CNI_NETNS``), stage1 and ``rkt enter`` can ``setns`` into it, and gc can
still DEL networks after a crash.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from rkt.linux.mount import MNT_DETACH, MS_BIND, mount, umount2
from rkt.linux.namespace import CLONE_NEWNET, unshare

__all__ = ["create", "is_netns", "remove"]


def is_netns(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a namespace file (nsfs), not a plain file left after an unmount.

    Every nsfs file is on the one nsfs device, so comparing ``st_dev`` with our own namespace
    file tells them apart without statfs.
    """
    if not os.fspath(path):
        return False
    try:
        return os.stat(path).st_dev == os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return False


def create(path: Path) -> Path:
    """A new, empty network namespace (only ``lo``, down) bind-mounted at ``path``.

    A forked child unshares CLONE_NEWNET and waits; the parent bind-mounts the child's
    ``/proc/<pid>/ns/net`` onto ``path`` and lets the child exit. Only the child changes
    namespace, so this is safe in a threaded caller. ``path`` must not exist yet.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, measured through the parent
        status = 0
        try:
            os.close(ready_r)
            os.close(done_w)
            try:
                unshare(CLONE_NEWNET)
                os.write(ready_w, b"0")
            except OSError as err:
                os.write(ready_w, str(err.errno).encode())
                status = 1
            os.read(done_r, 1)  # hold the namespace until the parent has mounted it
        finally:
            os._exit(status)
    os.close(ready_w)
    os.close(done_r)
    try:
        reply = os.read(ready_r, 16)
        if reply != b"0":
            code = int(reply) if reply.isdigit() else errno.ECHILD
            raise OSError(code, f"unshare(CLONE_NEWNET) for {path}: {os.strerror(code)}")
        mount(f"/proc/{pid}/ns/net", str(path), None, MS_BIND)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        os.close(ready_r)
        os.close(done_w)  # the child's read returns: it exits
        os.waitpid(pid, 0)
    return path


def remove(path: Path) -> None:
    """Unmount and delete a namespace file; a missing or already unmounted file is fine.

    MNT_DETACH because a plugin or ``rkt enter`` may still hold the file open; the namespace
    itself goes away with its last user.
    """
    try:
        umount2(str(path), MNT_DETACH)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOENT):  # not a mount point / gone
            raise
    path.unlink(missing_ok=True)
