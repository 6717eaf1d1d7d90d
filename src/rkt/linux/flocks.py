"""Which files are flock-ed exclusively, read from /proc/locks (proc(5)) without taking a lock.

A pod's state depends on whether its directory's flock is held (rkt.pod.state). The CLI finds
out by trying a shared lock and dropping it at once, which is cheap but not invisible: while
the probe holds it, another process's *exclusive* attempt fails (``rkt rm`` reports the pod as
"being deleted", gc skips it). A long-running reader that probes all the time (the API service)
must not do that, so it reads the kernel's table instead: one line per lock, with the lock's
kind, the file's device (major:minor in hex) and inode number. Blocked waiters (``->``) hold
nothing and are skipped.

The device is the file system's (``s_dev``). For most file systems it is what ``fstat``
reports; btrfs reports a subvolume's own device there, so :class:`LockTable` also accepts the
device of the mount the file is on, which mountinfo gives as the file system's. Only locks of
processes in the reader's pid namespace are listed (Linux 4.9): a reader on the host sees all.
Standard library only, like :mod:`rkt.linux.mountinfo`.
"""

from __future__ import annotations

import fcntl
import os

__all__ = ["PROC_LOCKS", "LockTable", "parse"]

PROC_LOCKS = "/proc/locks"


def parse(text: str) -> frozenset[tuple[int, int]]:
    """``(device, inode)`` of every held exclusive flock in /proc/locks' ``text``."""
    held = set()
    for line in text.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:2180193 0 EOF"; waiters have "->" second
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[3] != "WRITE":
            continue
        major, _, rest = fields[5].partition(":")
        minor, _, inode = rest.partition(":")
        try:
            held.add((os.makedev(int(major, 16), int(minor, 16)), int(inode)))
        except ValueError:
            continue
    return frozenset(held)


def _mount_devices(path: str, mountinfo: str) -> set[int]:
    """The device of the mount ``path`` is on (the longest mount point above it)."""
    best, device = "", None
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                fields = line.split(" ")
                if len(fields) < 5:
                    continue
                point = fields[4]
                inside = path == point or path.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    major, _, minor = fields[2].partition(":")
                    best, device = point, os.makedev(int(major), int(minor))
    except (OSError, ValueError):
        return set()
    return {device} if device is not None else set()


class LockTable:
    """A snapshot of the held exclusive flocks; :meth:`locked` answers for an open file."""

    def __init__(
        self, under: str = "/", *, proc_locks: str = PROC_LOCKS, mountinfo: str = ""
    ) -> None:
        """``under``: the directory the files asked about are in (the pods directory)."""
        with open(proc_locks, encoding="ascii", errors="replace") as f:
            self.held = parse(f.read())
        self._extra = _mount_devices(os.path.realpath(under), mountinfo or "/proc/self/mountinfo")

    def locked(self, fd: int) -> bool:
        """Whether some process holds an exclusive flock on the file open at ``fd``."""
        st = os.fstat(fd)
        return any((device, st.st_ino) in self.held for device in {st.st_dev, *self._extra})


def try_lock_fd(fd: int) -> bool:
    """Take an exclusive flock on an open file or directory without waiting."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
