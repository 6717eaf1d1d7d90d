"""Namespaces: ``unshare(2)``, ``setns(2)`` and the ``/proc/<pid>/ns/<kind>`` files.

Both calls act on the calling thread only; ``setns`` into a mount or user namespace and
``unshare(CLONE_NEWUSER)`` fail with EINVAL in a multi-threaded process. Call them in a freshly
forked, single-threaded child.
"""

from __future__ import annotations

import errno
import os

import msgspec

from rkt.linux.syscall import check, libc

__all__ = [
    "CLONE_NEWCGROUP",
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWTIME",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "KINDS",
    "IdMap",
    "namespace_id",
    "open_namespace",
    "setns",
    "unshare",
    "user_namespace",
    "write_id_maps",
]

# include/uapi/linux/sched.h
CLONE_NEWTIME = 0x00000080  # Linux 5.6
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000  # Linux 4.6
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# The file name under /proc/<pid>/ns/ for each flag (man 7 namespaces).
KINDS: dict[int, str] = {
    CLONE_NEWNS: "mnt",
    CLONE_NEWUTS: "uts",
    CLONE_NEWIPC: "ipc",
    CLONE_NEWPID: "pid",
    CLONE_NEWNET: "net",
    CLONE_NEWUSER: "user",
    CLONE_NEWCGROUP: "cgroup",
    CLONE_NEWTIME: "time",
}


def unshare(flags: int) -> None:
    """Move the calling thread into new namespaces of the kinds in ``flags``."""
    check(libc().unshare(flags), "unshare", flags)


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace open at ``fd``; ``nstype`` 0 accepts any kind, else it must match."""
    check(libc().setns(fd, nstype), "setns", fd, nstype)


def open_namespace(kind: str, pid: int | str = "self") -> int:
    """An ``O_RDONLY|O_CLOEXEC`` fd of ``/proc/<pid>/ns/<kind>`` (``kind`` as in ``KINDS``)."""
    return os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)


def namespace_id(kind: str, pid: int | str = "self") -> int:
    """The inode number identifying the namespace; equal numbers mean the same namespace.

    (Strictly, identity is the (st_dev, st_ino) pair of the nsfs file; st_dev is the same nsfs
    for every namespace on a host, so the inode suffices for comparisons made on one host.)
    """
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


class IdMap(msgspec.Struct, frozen=True):
    """One line of a ``uid_map``/``gid_map``: ``count`` ids from ``inside`` in the namespace are
    ``outside`` and up on the host (man 7 user_namespaces)."""

    outside: int
    count: int
    inside: int = 0

    def line(self) -> bytes:
        return f"{self.inside} {self.outside} {self.count}\n".encode()


def write_id_maps(pid: int, uids: IdMap, gids: IdMap) -> None:
    """Give the user namespace of ``pid`` its maps; once only, by a process with CAP_SETUID and
    CAP_SETGID over the parent namespace (then setgroups(2) stays allowed in it)."""
    for name, id_map in (("uid_map", uids), ("gid_map", gids)):
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, id_map.line())
        finally:
            os.close(fd)


def user_namespace(uids: IdMap, gids: IdMap) -> int:
    """An fd of a new user namespace with these maps, which no process lives in: a forked
    helper unshares it, we write its maps and open it, and the helper exits (the fd keeps the
    namespace). For idmapped mounts (rkt.linux.mount.idmapped_bind)."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the helper child
        try:
            os.close(ready_r)
            os.close(done_w)
            unshare(CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(errno.EPERM, "unshare(CLONE_NEWUSER) failed in a helper process")
        write_id_maps(pid, uids, gids)
        return open_namespace("user", pid)
    finally:
        os.close(done_w)
        os.close(ready_r)
        os.waitpid(pid, 0)
