"""The seam between plans and the kernel (the youki model).

Code that sets up a pod takes a :class:`Kernel` and calls it; it never calls ``rkt.linux``
functions directly. :class:`RealKernel` performs each call. :class:`RecordingKernel` performs
nothing and appends each call, as a tuple ``(name, *args)``, to ``calls``, so that a unit test run
by any user can assert the *order* of mounts and namespace changes a plan produces.

The seam covers every call whose order makes a process's jail: namespaces, mounts, its root and
working directory, ids, capabilities, prctl(2) switches, seccomp filters, and the signal
dispositions and fds an exec'ed program inherits. Each method is used by stage1's executors
(rkt.stage1.executor, rkt.stage1.fly); one that is not is removed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple, Protocol

from rkt.linux import capability, mount, namespace, process
from rkt.linux.lookup import Kind, fd_path, open_in_root
from rkt.linux.namespace import IdMap
from rkt.linux.process import Ids

if TYPE_CHECKING:
    from rkt.linux.seccomp import Stack

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

    # namespaces and mounts
    def unshare(self, flags: int) -> None: ...
    def setns(self, fd: int, nstype: int) -> None: ...
    def write_id_maps(self, pid: int, uids: IdMap, gids: IdMap) -> None: ...
    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None: ...
    def make_rprivate(self, target: str) -> None: ...
    def umount2(self, target: str, flags: int) -> None: ...
    def pivot_root(self, new_root: str, put_old: str) -> None: ...
    def mount_flags(self, path: str) -> int: ...
    # paths inside a root, the process's root and working directory
    def open_in_root(
        self, root: str, path: str, *, kind: Kind | None, create: bool, reject_symlink: bool
    ) -> Opened: ...
    def symlink(self, text: str, name: str, dir_fd: int) -> None: ...
    def close(self, fd: int) -> None: ...
    def chdir(self, path: str) -> None: ...
    def fchdir(self, fd: int) -> None: ...
    def chroot(self, path: str) -> None: ...
    # the process: hostname, prctl switches, ids
    def sethostname(self, name: str) -> None: ...
    def set_no_new_privs(self) -> None: ...
    def set_dumpable(self, dumpable: bool) -> None: ...
    def set_child_subreaper(self, on: bool) -> None: ...
    def set_keepcaps(self, keep: bool) -> None: ...
    def set_ids(self, uids: Ids, gids: Ids, groups: tuple[int, ...]) -> None: ...
    # capabilities
    def last_cap(self) -> int: ...
    def capget(self) -> tuple[int, int, int]: ...
    def capset(self, effective: int, permitted: int, inheritable: int) -> None: ...
    def bounding_drop(self, number: int) -> None: ...
    def ambient_clear(self) -> None: ...
    def ambient_raise(self, number: int) -> None: ...
    # the last steps before execve(2)
    def load_seccomp(self, filters: Stack) -> None: ...
    def reset_signals(self, signums: Iterable[int], *, unblock: bool) -> None: ...
    def close_fds(self, keep: Iterable[int]) -> None: ...


class RealKernel:
    """Performs every call on this process."""

    def unshare(self, flags: int) -> None:
        namespace.unshare(flags)

    def setns(self, fd: int, nstype: int) -> None:
        namespace.setns(fd, nstype)

    def write_id_maps(self, pid: int, uids: IdMap, gids: IdMap) -> None:
        namespace.write_id_maps(pid, uids, gids)

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        mount.mount(source, target, fstype, flags, data)

    def make_rprivate(self, target: str) -> None:
        mount.make_rprivate(target)

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

    def symlink(self, text: str, name: str, dir_fd: int) -> None:
        os.symlink(text, name, dir_fd=dir_fd)

    def close(self, fd: int) -> None:
        os.close(fd)

    def chdir(self, path: str) -> None:
        os.chdir(path)

    def fchdir(self, fd: int) -> None:
        os.fchdir(fd)

    def chroot(self, path: str) -> None:
        os.chroot(path)

    def sethostname(self, name: str) -> None:
        process.sethostname(name)

    def set_no_new_privs(self) -> None:
        process.set_no_new_privs()

    def set_dumpable(self, dumpable: bool) -> None:
        process.set_dumpable(dumpable)

    def set_child_subreaper(self, on: bool) -> None:
        process.set_child_subreaper(on)

    def set_keepcaps(self, keep: bool) -> None:
        process.set_keepcaps(keep)

    def set_ids(self, uids: Ids, gids: Ids, groups: tuple[int, ...]) -> None:
        process.set_ids(uids, gids, groups)

    def last_cap(self) -> int:
        return capability.last_cap()

    def capget(self) -> tuple[int, int, int]:
        return capability.capget()

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        capability.capset(effective, permitted, inheritable)

    def bounding_drop(self, number: int) -> None:
        capability.bounding_drop(number)

    def ambient_clear(self) -> None:
        capability.ambient_clear()

    def ambient_raise(self, number: int) -> None:
        capability.ambient_raise(number)

    def load_seccomp(self, filters: Stack) -> None:
        filters.load()

    def reset_signals(self, signums: Iterable[int], *, unblock: bool) -> None:
        process.reset_signals(signums, unblock=unblock)

    def close_fds(self, keep: Iterable[int]) -> None:
        process.close_fds(keep)


class RecordingKernel:
    """Records every call in ``calls`` and performs none.

    ``open_in_root`` hands out fake fds from 100 up; paths in ``files`` are reported as
    non-directories and paths in ``missing`` raise ``FileNotFoundError``, so that tests can steer
    operations that behave differently for files, directories and absent paths. The queries
    answer ``cap_last_cap`` (``last_cap``) and ``capabilities`` (``capget``: effective,
    permitted, inheritable).
    """

    FIRST_FD = 100

    def __init__(
        self,
        *,
        files: Iterable[str] = (),
        missing: Iterable[str] = (),
        cap_last_cap: int = 40,
        capabilities: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.files = frozenset(files)
        self.missing = frozenset(missing)
        self.cap_last_cap = cap_last_cap
        self.capabilities = capabilities
        self._next_fd = self.FIRST_FD

    def names(self) -> list[str]:
        """Just the call names, in order."""
        return [str(call[0]) for call in self.calls]

    def unshare(self, flags: int) -> None:
        self.calls.append(("unshare", flags))

    def setns(self, fd: int, nstype: int) -> None:
        self.calls.append(("setns", fd, nstype))

    def write_id_maps(self, pid: int, uids: IdMap, gids: IdMap) -> None:
        self.calls.append(("write_id_maps", pid, uids, gids))

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        self.calls.append(("mount", source, target, fstype, flags, data))

    def make_rprivate(self, target: str) -> None:
        self.calls.append(("make_rprivate", target))

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

    def symlink(self, text: str, name: str, dir_fd: int) -> None:
        self.calls.append(("symlink", text, name, dir_fd))

    def close(self, fd: int) -> None:
        self.calls.append(("close", fd))

    def chdir(self, path: str) -> None:
        self.calls.append(("chdir", path))

    def fchdir(self, fd: int) -> None:
        self.calls.append(("fchdir", fd))

    def chroot(self, path: str) -> None:
        self.calls.append(("chroot", path))

    def sethostname(self, name: str) -> None:
        self.calls.append(("sethostname", name))

    def set_no_new_privs(self) -> None:
        self.calls.append(("set_no_new_privs",))

    def set_dumpable(self, dumpable: bool) -> None:
        self.calls.append(("set_dumpable", dumpable))

    def set_child_subreaper(self, on: bool) -> None:
        self.calls.append(("set_child_subreaper", on))

    def set_keepcaps(self, keep: bool) -> None:
        self.calls.append(("set_keepcaps", keep))

    def set_ids(self, uids: Ids, gids: Ids, groups: tuple[int, ...]) -> None:
        self.calls.append(("set_ids", uids, gids, groups))

    def last_cap(self) -> int:
        self.calls.append(("last_cap",))
        return self.cap_last_cap

    def capget(self) -> tuple[int, int, int]:
        self.calls.append(("capget",))
        return self.capabilities

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self.calls.append(("capset", effective, permitted, inheritable))

    def bounding_drop(self, number: int) -> None:
        self.calls.append(("bounding_drop", number))

    def ambient_clear(self) -> None:
        self.calls.append(("ambient_clear",))

    def ambient_raise(self, number: int) -> None:
        self.calls.append(("ambient_raise", number))

    def load_seccomp(self, filters: Stack) -> None:
        self.calls.append(("load_seccomp", filters))

    def reset_signals(self, signums: Iterable[int], *, unblock: bool) -> None:
        self.calls.append(("reset_signals", tuple(signums), unblock))

    def close_fds(self, keep: Iterable[int]) -> None:
        self.calls.append(("close_fds", tuple(keep)))
