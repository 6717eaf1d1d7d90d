"""Looking at paths inside an app's rendered rootfs without ever leaving it.

Image content is hostile (docs/security.md 1, 6, 7): an absolute symlink in the image means a path
inside the image, so symlinks are resolved component by component against the app root, the
way openat2's RESOLVE_IN_ROOT would, and one that climbs above the root with ".." is refused
rather than clamped, because an image that does that is either broken or attacking. Only
lstat, readlink and open with O_NOFOLLOW are used; the executor re-checks at mount time,
since the tree may change between plan and execution.
"""

from __future__ import annotations

import errno
import os
import stat

from rkt.stage1.planner.plan import PlanError

#: Linux's own limit on symlinks followed in one lookup (path_resolution(7)).
MAX_SYMLINKS = 40


def components(path: str, what: str) -> list[str]:
    """The parts of an absolute path from a manifest; ".." is refused outright, since a
    manifest path has no reason to climb and normalising it would hide an attempt to."""
    if not path.startswith("/"):
        raise PlanError(f'{what} "{path}" is not an absolute path')
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PlanError(f'{what} "{path}" contains ".."', hint="use a path without ..")
    return parts


def resolve(root: str, path: str, what: str, *, follow_final: bool = True) -> str:
    """The path, relative to ``root``, that ``path`` names inside the root.

    Missing trailing components are kept as they are (a mount target may not exist yet; ace.md
    "Volume Setup" says the executor creates it). Raises PlanError for a symlink that leaves the
    root, a loop, or a non-directory in the middle of the path.
    """
    pending = components(path, what)
    pending.reverse()
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop()
        if part == "..":
            # Only symlink text brings ".." here (components() refused it in ``path``).
            if not resolved:
                raise PlanError(f'{what} "{path}" leads outside the app root through a symlink')
            resolved.pop()
            continue
        host = os.path.join(root, *resolved, part)
        try:
            info = os.lstat(host)
        except FileNotFoundError:
            resolved.append(part)
            resolved.extend(reversed(pending))
            if ".." in resolved:
                raise PlanError(
                    f'{what} "{path}" leads through a missing directory and ".."'
                ) from None
            return "/".join(resolved)
        except OSError as err:
            raise PlanError(f'cannot inspect {what} "{path}": {err.strerror}') from None
        last = not pending
        if stat.S_ISLNK(info.st_mode) and (follow_final or not last):
            hops += 1
            if hops > MAX_SYMLINKS:
                raise PlanError(f'{what} "{path}" has too many levels of symlinks')
            target = os.readlink(host)
            if target.startswith("/"):
                resolved = []
            pending.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        if not last and not stat.S_ISDIR(info.st_mode):
            raise PlanError(f'{what} "{path}": "/{"/".join([*resolved, part])}" is not a directory')
        resolved.append(part)
    return "/".join(resolved)


def lstat(root: str, path: str, what: str) -> os.stat_result | None:
    """lstat of ``path`` inside the root (parents resolved inside it), None when missing."""
    relative = resolve(root, path, what, follow_final=False)
    try:
        return os.lstat(os.path.join(root, relative))
    except FileNotFoundError:
        return None
    except OSError as err:
        raise PlanError(f'cannot inspect {what} "{path}": {err.strerror}') from None


def read_regular_file(root: str, path: str, limit: int, what: str) -> bytes | None:
    """The bytes of a regular file inside the root, opened without following any symlink.

    Returns None when the file (or a directory on the way) does not exist. A symlink anywhere
    on the path, a non-regular file (a FIFO would block, a device would read the host) or a
    file over ``limit`` bytes is an error: for /etc/passwd this is the CVE-2019-14271 door.
    """
    parts = components(path, what)
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(root, flags | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                return None
            except OSError as err:
                raise _refusal(what, path, err) from None
            os.close(fd)
            fd = nxt
        try:
            file_fd = os.open(parts[-1], flags | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=fd)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise _refusal(what, path, err) from None
        try:
            return _read_capped(file_fd, limit, f'{what} "{path}"')
        finally:
            os.close(file_fd)
    finally:
        os.close(fd)


def _read_capped(fd: int, limit: int, what: str) -> bytes:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise PlanError(f"{what} is not a regular file")
    if info.st_size > limit:
        raise PlanError(f"{what} is larger than {limit} bytes")
    chunks = []
    size = 0
    # Read up to one byte past the limit: the file may grow after fstat.
    while size <= limit:
        chunk = os.read(fd, limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise PlanError(f"{what} is larger than {limit} bytes")
    return b"".join(chunks)


def _refusal(what: str, path: str, err: OSError) -> PlanError:
    if err.errno in (errno.ELOOP, errno.ENOTDIR):
        return PlanError(
            f'{what} "{path}" goes through a symlink or non-directory',
            hint="the image's own files are read only as regular files inside its root",
        )
    return PlanError(f'cannot read {what} "{path}": {err.strerror}')


def is_executable_file(root: str, relative: str) -> bool:
    """Whether a resolved, symlink-free path is a regular file with an execute bit (rkt's
    fileutil.IsExecutable test; the kernel decides the rest at exec time)."""
    try:
        info = os.lstat(os.path.join(root, relative))
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and bool(info.st_mode & 0o111)
