"""The C library, and the one helper every wrapper in ``rkt.linux`` fails through.

Python 3.11 has no ``os.unshare``/``os.setns`` (they arrived in 3.12), so the wrappers call libc
through ctypes. ``CDLL(None, use_errno=True)`` is the libc already loaded into the interpreter;
with ``use_errno`` ctypes saves ``errno`` right after each call, so ``ctypes.get_errno()`` is the
call's own.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform

__all__ = ["check", "error", "explain", "libc", "syscall_number"]

# Likely causes, by errno, worded for the person reading a failed run. The syscall-specific ones
# come first; the generic ones after (man 2 mount, man 2 unshare, man 2 pivot_root).
_CAUSES: dict[tuple[str, int], str] = {
    ("pivot_root", errno.EINVAL): (
        "new_root must be a mount point that is not the current root, put_old must be under it, "
        "and no mount involved may be MS_SHARED (make the tree private first)"
    ),
    ("pivot_root", errno.EBUSY): "new_root or put_old is already the root or a mount point",
    ("mount", errno.ENODEV): "the filesystem type is not supported by this kernel",
    ("mount", errno.EINVAL): (
        "bad flags or data, a source that is not a mount (for MS_MOVE), or a propagation change "
        "combined with other flags"
    ),
    ("mount", errno.EBUSY): "the source is already mounted or the target is busy",
    ("umount2", errno.EINVAL): "the target is not a mount point",
    ("umount2", errno.EBUSY): "the target is in use (try MNT_DETACH)",
    ("unshare", errno.EINVAL): "unknown flag, or CLONE_NEWUSER in a threaded process",
    (
        "setns",
        errno.EINVAL,
    ): "the fd is not a namespace of the given type, or the process is threaded",
    ("capset", errno.EPERM): "a capability cannot be added to a set it is not permitted in",
    ("prctl", errno.EINVAL): "unknown option or capability for this kernel",
}
_GENERIC: dict[int, str] = {
    errno.EPERM: "needs CAP_SYS_ADMIN (run as root, or in a user namespace that owns the object)",
    errno.EACCES: "permission denied on a path component",
    errno.ENOENT: "a path does not exist",
    errno.ENOTDIR: "a path component is not a directory",
    errno.ELOOP: "too many symbolic links, or a symbolic link where none is allowed",
    errno.ENOSPC: "out of namespaces or mounts (/proc/sys/user/max_*, /proc/sys/fs/mount-max)",
    errno.ENOMEM: "out of kernel memory",
    errno.EBADF: "a file descriptor is not open",
    errno.EUSERS: "too many nested user namespaces (limit 32)",
    errno.ENOSYS: "the kernel does not implement this call",
}


@functools.cache
def libc() -> ctypes.CDLL:
    """The process's libc; ``errno`` is captured after every call."""
    return ctypes.CDLL(None, use_errno=True)


def explain(name: str, err: int) -> str:
    """The likely cause of ``name`` failing with ``err``, or ``""`` when none is known."""
    # "prctl(PR_CAPBSET_DROP)" shares the causes of "prctl".
    base = name.partition("(")[0]
    return _CAUSES.get((name, err)) or _CAUSES.get((base, err)) or _GENERIC.get(err, "")


def error(name: str, args: tuple[object, ...], err: int) -> OSError:
    """An ``OSError`` reading ``name(args): strerror; likely cause``."""
    shown = ", ".join(_show(a) for a in args)
    message = f"{name}({shown}): {os.strerror(err)}"
    cause = explain(name, err)
    if cause:
        message += f"; {cause}"
    return OSError(err, message)


def check(result: int, name: str, *args: object) -> int:
    """Return ``result`` unless it is -1, in which case raise from ``ctypes.get_errno()``."""
    if result == -1:
        raise error(name, args, ctypes.get_errno())
    return result


def _show(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, int) and not isinstance(value, bool) and value > 9:
        return hex(value)
    return repr(value)


# Syscalls glibc does not wrap (pivot_root until 2.35 had none; Debian 12 ships 2.36 but its
# wrapper is not in every libc). Numbers from arch/*/entry/syscalls and include/uapi/asm-generic.
# Calls added since Linux 5.1 have one number on every architecture but alpha (_MOUNT_API).
_MOUNT_API = {"open_tree": 428, "move_mount": 429, "mount_setattr": 442}
_NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {"pivot_root": 155, "close_range": 436, **_MOUNT_API},
    "aarch64": {"pivot_root": 41, "close_range": 436, **_MOUNT_API},
    "riscv64": {"pivot_root": 41, "close_range": 436, **_MOUNT_API},
}


def syscall_number(name: str) -> int:
    """The number of syscall ``name`` on this machine; ``OSError(ENOSYS)`` when unknown here."""
    table = _NUMBERS.get(platform.machine(), {})
    if name not in table:
        raise error(name, (), errno.ENOSYS)
    return table[name]
