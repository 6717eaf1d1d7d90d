"""The seam between plans and the kernel (the youki model).

Code that sets up a pod takes a :class:`Kernel` and calls it; it never calls ``rkt.linux``
functions directly. :class:`RealKernel` performs each call. :class:`RecordingKernel` performs
nothing and appends each call, as a tuple ``(name, *args)``, to ``calls``, so that a unit test run
by any user can assert the *order* of mounts and namespace changes a plan produces.
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Iterable
from typing import NamedTuple, Protocol

from rkt.linux import capability, mount, namespace, process
from rkt.linux.lookup import Kind, fd_path, open_in_root

__all__ = ["Kernel", "Opened", "RealKernel", "RecordingKernel"]


class Opened(NamedTuple):
    """An ``O_PATH`` fd of a path resolved inside a root, and whether it is a directory."""

    fd: int
    is_dir: bool

    @property
    def path(self) -> str:
        """The ``/proc/self/fd/N`` path to hand to mount(2) (mounting through the fd)."""
        return fd_path(self.fd)


class Kernel(Protocol):
    """The kernel operations a stage1 executor needs, one method per call."""

    def unshare(self, flags: int) -> None: ...
    def setns(self, fd: int, nstype: int) -> None: ...
    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None: ...
    def umount2(self, target: str, flags: int) -> None: ...
    def pivot_root(self, new_root: str, put_old: str) -> None: ...
    def mount_flags(self, path: str) -> int: ...
    def open_in_root(
        self, root: str, path: str, *, kind: Kind | None, create: bool, reject_symlink: bool
    ) -> Opened: ...
    def close(self, fd: int) -> None: ...
    def chdir(self, path: str) -> None: ...
    def chroot(self, path: str) -> None: ...
    def sethostname(self, name: str) -> None: ...
    def set_no_new_privs(self) -> None: ...
    def set_dumpable(self, dumpable: bool) -> None: ...
    def set_pdeathsig(self, signum: int) -> None: ...
    def set_child_subreaper(self, on: bool) -> None: ...
    def set_ids(self, uid: int, gid: int, groups: tuple[int, ...]) -> None: ...
    def reduce_capabilities(self, keep: tuple[int, ...]) -> None: ...


class RealKernel:
    """Performs every call on this process."""

    def unshare(self, flags: int) -> None:
        namespace.unshare(flags)

    def setns(self, fd: int, nstype: int) -> None:
        namespace.setns(fd, nstype)

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        mount.mount(source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int) -> None:
        mount.umount2(target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        mount.pivot_root(new_root, put_old)

    def mount_flags(self, path: str) -> int:
        return mount.mount_flags(path)

    def open_in_root(
        self, root: str, path: str, *, kind: Kind | None, create: bool, reject_symlink: bool
    ) -> Opened:
        fd = open_in_root(root, path, kind=kind, create=create, reject_symlink=reject_symlink)
        return Opened(fd, stat.S_ISDIR(os.fstat(fd).st_mode))

    def close(self, fd: int) -> None:
        os.close(fd)

    def chdir(self, path: str) -> None:
        os.chdir(path)

    def chroot(self, path: str) -> None:
        os.chroot(path)

    def sethostname(self, name: str) -> None:
        process.sethostname(name)

    def set_no_new_privs(self) -> None:
        process.set_no_new_privs()

    def set_dumpable(self, dumpable: bool) -> None:
        process.set_dumpable(dumpable)

    def set_pdeathsig(self, signum: int = signal.SIGKILL) -> None:
        process.set_pdeathsig(signum)

    def set_child_subreaper(self, on: bool) -> None:
        process.set_child_subreaper(on)

    def set_ids(self, uid: int, gid: int, groups: tuple[int, ...]) -> None:
        process.set_ids(uid, gid, groups)

    def reduce_capabilities(self, keep: tuple[int, ...]) -> None:
        capability.reduce_to(keep)


class RecordingKernel:
    """Records every call in ``calls`` and performs none.

    ``open_in_root`` hands out fake fds from 100 up; paths in ``files`` are reported as
    non-directories and paths in ``missing`` raise ``FileNotFoundError``, so that tests can steer
    operations that behave differently for files, directories and absent paths.
    """

    FIRST_FD = 100

    def __init__(self, *, files: Iterable[str] = (), missing: Iterable[str] = ()) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.files = frozenset(files)
        self.missing = frozenset(missing)
        self._next_fd = self.FIRST_FD

    def names(self) -> list[str]:
        """Just the call names, in order."""
        return [str(call[0]) for call in self.calls]

    def unshare(self, flags: int) -> None:
        self.calls.append(("unshare", flags))

    def setns(self, fd: int, nstype: int) -> None:
        self.calls.append(("setns", fd, nstype))

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        self.calls.append(("mount", source, target, fstype, flags, data))

    def umount2(self, target: str, flags: int) -> None:
        self.calls.append(("umount2", target, flags))

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self.calls.append(("pivot_root", new_root, put_old))

    def mount_flags(self, path: str) -> int:
        self.calls.append(("mount_flags", path))
        return 0

    def open_in_root(
        self, root: str, path: str, *, kind: Kind | None, create: bool, reject_symlink: bool
    ) -> Opened:
        self.calls.append(("open_in_root", root, path))
        if path in self.missing:
            raise FileNotFoundError(2, f"{path} inside {root}: does not exist (recorded)")
        fd = self._next_fd
        self._next_fd += 1
        return Opened(fd, path not in self.files and kind != "file")

    def close(self, fd: int) -> None:
        self.calls.append(("close", fd))

    def chdir(self, path: str) -> None:
        self.calls.append(("chdir", path))

    def chroot(self, path: str) -> None:
        self.calls.append(("chroot", path))

    def sethostname(self, name: str) -> None:
        self.calls.append(("sethostname", name))

    def set_no_new_privs(self) -> None:
        self.calls.append(("set_no_new_privs",))

    def set_dumpable(self, dumpable: bool) -> None:
        self.calls.append(("set_dumpable", dumpable))

    def set_pdeathsig(self, signum: int = signal.SIGKILL) -> None:
        self.calls.append(("set_pdeathsig", signum))

    def set_child_subreaper(self, on: bool) -> None:
        self.calls.append(("set_child_subreaper", on))

    def set_ids(self, uid: int, gid: int, groups: tuple[int, ...]) -> None:
        self.calls.append(("set_ids", uid, gid, groups))

    def reduce_capabilities(self, keep: tuple[int, ...]) -> None:
        self.calls.append(("reduce_capabilities", keep))
