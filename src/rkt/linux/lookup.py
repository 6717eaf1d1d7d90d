"""Resolving a path inside a root without ever leaving it (docs/security.md 7).

A pod's tree is hostile: ``<root>/etc`` may be a symlink to ``/etc`` or ``../../..``. Resolving
``<root>/etc/x`` with the host's rules would reach the host's ``/etc``. :func:`open_in_root`
walks the path one component at a time with ``O_PATH|O_NOFOLLOW``, reads each symlink itself and
restarts absolute ones at the root, and clamps ``..`` at the root, which is what
``openat2(RESOLVE_IN_ROOT)`` (Linux 5.6) does in the kernel. The result is an ``O_PATH`` fd; the
caller mounts onto ``/proc/self/fd/<fd>`` so that nothing can swap a component for a symlink
between the check and the mount (runc CVE-2021-30465).
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Literal

__all__ = ["MAX_SYMLINKS", "Kind", "fd_path", "open_in_root"]

# The kernel's own limit on symlinks followed in one lookup (include/linux/namei.h, MAXSYMLINKS).
MAX_SYMLINKS = 40

Kind = Literal["dir", "file"]

_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def fd_path(fd: int) -> str:
    """The magic link through which mount(2) and friends reach what ``fd`` refers to."""
    return f"/proc/self/fd/{fd}"


def open_in_root(
    root: str,
    path: str,
    *,
    kind: Kind | None = None,
    create: bool = False,
    reject_symlink: bool = False,
) -> int:
    """An ``O_PATH|O_CLOEXEC`` fd of ``path`` resolved inside ``root``; the caller closes it.

    ``kind`` requires a directory or a non-directory at the end. With ``create``, missing
    components are made as directories (mode 0755), and the last as an empty file (0644) when
    ``kind`` is ``"file"``. With ``reject_symlink``, a symlink as the last component is an
    ``ELOOP`` error instead of being followed (``/proc``, ``/sys`` and ``/dev`` must be real
    directories: runc CVE-2019-16884).
    """
    todo = _components(path)
    stack = [os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)]
    links = 0
    try:
        while todo:
            name = todo.pop()
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            last = not todo
            try:
                fd = os.open(name, _FLAGS, dir_fd=stack[-1])
            except FileNotFoundError:
                if not create:
                    raise _error(errno.ENOENT, root, path, f"{name!r} does not exist") from None
                _make(stack[-1], name, "file" if last and kind == "file" else "dir")
                todo.append(name)  # Open what was made, through the same checks.
                continue
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                target = os.readlink("", dir_fd=fd)
                os.close(fd)
                if last and reject_symlink:
                    raise _error(
                        errno.ELOOP, root, path, "is a symlink, a real directory is needed"
                    )
                links += 1
                if links > MAX_SYMLINKS:
                    raise _error(errno.ELOOP, root, path, "too many levels of symbolic links")
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                todo.extend(_components(target))
                continue
            if not last and not stat.S_ISDIR(mode):
                os.close(fd)
                raise _error(errno.ENOTDIR, root, path, f"{name!r} is not a directory")
            stack.append(fd)
        result = stack.pop()
    finally:
        for fd in stack:
            os.close(fd)
    _check_kind(result, kind, root, path)
    return result


def _components(path: str) -> list[str]:
    """The components of ``path`` in reverse order (so that ``pop()`` yields the next one)."""
    return [c for c in reversed(path.split("/")) if c not in ("", ".")]


def _make(dirfd: int, name: str, kind: Kind) -> None:
    try:
        if kind == "dir":
            os.mkdir(name, 0o755, dir_fd=dirfd)
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            os.close(os.open(name, flags, 0o644, dir_fd=dirfd))
    except FileExistsError:
        pass  # Made meanwhile by someone else; the reopen checks whatever is there now.


def _check_kind(fd: int, kind: Kind | None, root: str, path: str) -> None:
    is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
    if kind == "dir" and not is_dir:
        os.close(fd)
        raise _error(errno.ENOTDIR, root, path, "is not a directory")
    if kind == "file" and is_dir:
        os.close(fd)
        raise _error(errno.EISDIR, root, path, "is a directory, a file is needed")


def _error(err: int, root: str, path: str, why: str) -> OSError:
    return OSError(err, f"{path} inside {root}: {why}")
