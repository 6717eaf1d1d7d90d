"""Mounts: the ``MS_*``/``MNT_*`` constants, ``mount(2)``, ``umount2(2)``, ``pivot_root(2)``,
and the mount *operations* a plan is made of.

An operation (``Bind``, ``Tmpfs``, ``Overlay``, ``Proc``, ``Sysfs``, ``Devpts``, ``Mqueue``,
``Remount``, ``MaskPath``, ``ReadOnlyPath``) is frozen data with ``describe()`` for humans and
``apply(kernel, root)`` to perform it through the :class:`rkt.linux.kernel.Kernel` seam. Every
target is a path *inside* ``root``, resolved there by ``Kernel.open_in_root`` (never following a
symlink out of the root) and mounted through its ``/proc/self/fd/N`` (docs/security.md 7).
Sources of binds are host paths chosen by the runtime and are used as given.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import msgspec

from rkt.linux.syscall import check, libc, syscall_number

if TYPE_CHECKING:
    from rkt.linux.kernel import Kernel, Opened
    from rkt.linux.lookup import Kind

# include/uapi/linux/mount.h
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256  # Linux 5.10
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

# include/linux/fs.h (umount2 flags)
MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

# The per-mount flags a bind remount replaces. statvfs(3) reports them with ST_* values that are
# the same numbers as the MS_* ones (include/linux/statfs.h).
_PER_MOUNT = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME


def _arg(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(
    source: str | None,
    target: str,
    fstype: str | None = None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    """mount(2). ``None`` passes NULL (as a bind or remount wants for ``fstype`` and ``data``)."""
    result = libc().mount(
        _arg(source), _arg(target), _arg(fstype), ctypes.c_ulong(flags), _arg(data)
    )
    check(result, "mount", source, target, fstype, flags, data)


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2); ``MNT_DETACH`` unmounts lazily, once the mount is no longer busy."""
    check(libc().umount2(_arg(target), flags), "umount2", target, flags)


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2), through syscall(2) because glibc before 2.35 has no wrapper."""
    number = syscall_number("pivot_root")
    result = libc().syscall(ctypes.c_long(number), _arg(new_root), _arg(put_old))
    check(result, "pivot_root", new_root, put_old)


def make_rprivate(target: str = "/") -> None:
    """Stop mount events propagating between this mount namespace and the one it came from.

    A new mount namespace copies the propagation of its parent; on hosts where ``/`` is
    MS_SHARED (systemd makes it so) every mount made in the pod would show up on the host, and
    pivot_root(2) refuses a shared new root with EINVAL.
    """
    mount(None, target, None, MS_REC | MS_PRIVATE)


# include/uapi/linux/mount.h and fcntl.h: the new mount API (Linux 5.2; mount_setattr 5.12)
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
OPEN_TREE_CLONE = 1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_IDMAP = 0x00100000


class _MountAttr(ctypes.Structure):
    _fields_ = (
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    )


def idmapped_bind(source: str, target: str, userns_fd: int) -> None:
    """Bind ``source`` (not its submounts) on ``target``, its owners shifted by the id maps of
    the user namespace at ``userns_fd``: a file owned by uid N on disk shows as the host uid
    that namespace maps N to (man 2 mount_setattr, "Idmapped mounts"). The filesystem is not
    changed, so one tree can back pods of different ranges at once."""
    lib = libc()
    number = ctypes.c_long
    tree = lib.syscall(
        number(syscall_number("open_tree")),
        ctypes.c_int(AT_FDCWD),
        _arg(source),
        ctypes.c_uint(OPEN_TREE_CLONE | os.O_CLOEXEC),
    )
    check(tree, "open_tree", source)
    try:
        attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
        result = lib.syscall(
            number(syscall_number("mount_setattr")),
            ctypes.c_int(tree),
            b"",
            ctypes.c_uint(AT_EMPTY_PATH),
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
        )
        check(result, "mount_setattr", source, "MOUNT_ATTR_IDMAP")
        result = lib.syscall(
            number(syscall_number("move_mount")),
            ctypes.c_int(tree),
            b"",
            ctypes.c_int(AT_FDCWD),
            _arg(target),
            ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH),
        )
        check(result, "move_mount", source, target)
    finally:
        os.close(tree)


def mount_flags(path: str) -> int:
    """The per-mount MS_* flags of the mount holding ``path``, for a bind remount to keep.

    A remount with MS_BIND sets all per-mount flags at once; dropping one that is locked (say
    MS_NOSUID inherited into a user namespace) fails with EPERM (man 2 mount, "MS_REMOUNT").
    """
    return os.statvfs(path).f_flag & _PER_MOUNT


# --- operations -------------------------------------------------------------------------------

_PSEUDO = MS_NOSUID | MS_NODEV | MS_NOEXEC


@contextmanager
def _opened(
    kernel: Kernel,
    root: str,
    path: str,
    *,
    kind: Kind | None = "dir",
    create: bool = True,
    reject_symlink: bool = False,
) -> Iterator[Opened]:
    opened = kernel.open_in_root(
        root, path, kind=kind, create=create, reject_symlink=reject_symlink
    )
    try:
        yield opened
    finally:
        kernel.close(opened.fd)


class _Operation(msgspec.Struct, frozen=True):
    """Shared by all operations: failures name the operation and the root. (Operations are
    msgspec structs rather than dataclasses: a class is made in microseconds instead of a
    third of a millisecond, and every ``rkt run`` makes them all.)"""

    def describe(self) -> str:
        raise NotImplementedError

    def apply(self, kernel: Kernel, root: str = "/") -> None:
        """Perform the operation with targets inside ``root`` (``/`` once pivoted)."""
        try:
            self._apply(kernel, root)
        except OSError as e:
            raise OSError(e.errno, f"{self.describe()} inside {root}: {e.strerror}") from e

    def _apply(self, kernel: Kernel, root: str) -> None:
        raise NotImplementedError


class Bind(_Operation, frozen=True):
    """Bind host path ``source`` on ``target``; ``kind="file"`` when the source is not a dir."""

    source: str
    target: str
    read_only: bool = False
    recursive: bool = True
    kind: Kind = "dir"
    #: device nodes on the bound tree cannot be opened (its top mount gets MS_NODEV)
    nodev: bool = False

    def describe(self) -> str:
        notes = [
            n
            for n, on in (
                ("recursive", self.recursive),
                ("read-only", self.read_only),
                ("nodev", self.nodev),
            )
            if on
        ]
        suffix = f" ({', '.join(notes)})" if notes else ""
        return f"bind {self.source} on {self.target}{suffix}"

    def _apply(self, kernel: Kernel, root: str) -> None:
        with _opened(kernel, root, self.target, kind=self.kind) as target:
            flags = MS_BIND | (MS_REC if self.recursive else 0)
            kernel.mount(self.source, target.path, None, flags, None)
        if self.read_only or self.nodev:
            # The old fd names what is under the new mount; reopen to reach the mount itself.
            extra = MS_NODEV if self.nodev else 0
            Remount(self.target, read_only=self.read_only, add_flags=extra)._apply(kernel, root)


class Tmpfs(_Operation, frozen=True):
    target: str
    mode: int = 0o755
    size: str | None = None
    flags: int = MS_NOSUID | MS_NODEV
    #: the uid and gid of its root directory (the mounter's namespace's ids); None: the mounter
    owner: int | None = None

    def describe(self) -> str:
        return f"tmpfs on {self.target} ({self._data()})"

    def _data(self) -> str:
        data = f"mode={self.mode:04o}" + (f",size={self.size}" if self.size else "")
        return data if self.owner is None else f"{data},uid={self.owner},gid={self.owner}"

    def _apply(self, kernel: Kernel, root: str) -> None:
        with _opened(kernel, root, self.target) as target:
            kernel.mount("tmpfs", target.path, "tmpfs", self.flags, self._data())


class Overlay(_Operation, frozen=True):
    """Overlayfs; ``lower`` lists host directories top-most first (Documentation/filesystems/
    overlayfs.rst). Without ``upper`` and ``work`` the overlay is read-only."""

    target: str
    lower: tuple[str, ...]
    upper: str | None = None
    work: str | None = None
    flags: int = 0

    def __post_init__(self) -> None:
        if not self.lower:
            raise ValueError("overlay needs at least one lower directory")
        if (self.upper is None) != (self.work is None):
            raise ValueError("overlay needs both an upper and a work directory, or neither")
        for path in (*self.lower, self.upper or "", self.work or ""):
            if any(c in path for c in ",:\\"):
                raise ValueError(f"overlay directory {path!r} contains ',', ':' or '\\'")

    def data(self) -> str:
        parts = ["lowerdir=" + ":".join(self.lower)]
        if self.upper is not None and self.work is not None:
            parts += [f"upperdir={self.upper}", f"workdir={self.work}"]
        return ",".join(parts)

    def describe(self) -> str:
        return f"overlay on {self.target} ({self.data()})"

    def _apply(self, kernel: Kernel, root: str) -> None:
        with _opened(kernel, root, self.target) as target:
            kernel.mount("overlay", target.path, "overlay", self.flags, self.data())


class _Pseudo(_Operation, frozen=True):
    """A kernel filesystem on a directory that must be real, not a symlink (CVE-2019-16884)."""

    target: str

    fstype = ""
    flags = _PSEUDO
    data: str | None = None

    def describe(self) -> str:
        return f"{self.fstype} on {self.target}" + (f" ({self.data})" if self.data else "")

    def _apply(self, kernel: Kernel, root: str) -> None:
        with _opened(kernel, root, self.target, reject_symlink=True) as target:
            kernel.mount(self.fstype, target.path, self.fstype, self.flags, self.data)


class Proc(_Pseudo, frozen=True):
    target: str = "/proc"
    fstype = "proc"


class Sysfs(_Pseudo, frozen=True):
    target: str = "/sys"
    fstype = "sysfs"
    flags = _PSEUDO | MS_RDONLY


class Devpts(_Pseudo, frozen=True):
    """A private devpts instance (``newinstance`` is implied since Linux 4.7)."""

    target: str = "/dev/pts"
    data: str | None = "newinstance,ptmxmode=0666,mode=0620"
    fstype = "devpts"
    flags = MS_NOSUID | MS_NOEXEC


class Mqueue(_Pseudo, frozen=True):
    target: str = "/dev/mqueue"
    fstype = "mqueue"


class Remount(_Operation, frozen=True):
    """Change a mount's read-only flag, keeping its other per-mount flags (see mount_flags), and
    add ``add_flags`` (MS_NODEV, …) to them."""

    target: str
    read_only: bool = True
    add_flags: int = 0

    def describe(self) -> str:
        extra = " nodev" if self.add_flags & MS_NODEV else ""
        return f"remount {self.target} {'read-only' if self.read_only else 'read-write'}{extra}"

    def _apply(self, kernel: Kernel, root: str) -> None:
        with _opened(kernel, root, self.target, kind=None, create=False) as target:
            flags = (kernel.mount_flags(target.path) | self.add_flags) & ~MS_RDONLY
            flags |= MS_REMOUNT | MS_BIND | (MS_RDONLY if self.read_only else 0)
            kernel.mount(None, target.path, None, flags, None)


class MaskPath(_Operation, frozen=True):
    """Hide ``target``: /dev/null over a file, an empty read-only tmpfs over a directory (as runc
    does for /proc/kcore and friends). A missing target has nothing to hide and is skipped. The
    /dev/null is the one of the current root, so mask after /dev exists in it or before pivoting.
    """

    target: str

    def describe(self) -> str:
        return f"mask {self.target}"

    def _apply(self, kernel: Kernel, root: str) -> None:
        try:
            opened = kernel.open_in_root(
                root, self.target, kind=None, create=False, reject_symlink=False
            )
        except FileNotFoundError:
            return
        try:
            if opened.is_dir:
                kernel.mount("tmpfs", opened.path, "tmpfs", _PSEUDO | MS_RDONLY, None)
            else:
                kernel.mount("/dev/null", opened.path, None, MS_BIND, None)
        finally:
            kernel.close(opened.fd)


class ReadOnlyPath(_Operation, frozen=True):
    """Make ``target`` read-only by binding it onto itself and remounting; missing is skipped.
    Only the top mount turns read-only: the old mount API has no recursive remount (that needs
    mount_setattr(2) with AT_RECURSIVE, Linux 5.12)."""

    target: str

    def describe(self) -> str:
        return f"read-only {self.target}"

    def _apply(self, kernel: Kernel, root: str) -> None:
        try:
            opened = kernel.open_in_root(
                root, self.target, kind=None, create=False, reject_symlink=False
            )
        except FileNotFoundError:
            return
        try:
            kernel.mount(opened.path, opened.path, None, MS_BIND | MS_REC, None)
        finally:
            kernel.close(opened.fd)
        Remount(self.target, read_only=True)._apply(kernel, root)


Operation = (
    Bind | Tmpfs | Overlay | Proc | Sysfs | Devpts | Mqueue | Remount | MaskPath | ReadOnlyPath
)


def apply_all(operations: Iterable[Operation], kernel: Kernel, root: str = "/") -> None:
    """Apply ``operations`` in order; the first failure stops and propagates."""
    for operation in operations:
        operation.apply(kernel, root)
