"""Walking a rendered tree without following anything in it: its hash, its copy, its removal.

The tree's content came from images, so the walk goes through directory fds with
``O_NOFOLLOW`` and reads symlinks instead of resolving them. The hash covers what rkt's tree
store hashes (path, type, mode, owner, mtime, link target, device numbers, xattrs, content),
in sorted order, so :meth:`Store.verify` can tell a modified tree from the rendered one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appc.aci.member import Member

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_CHUNK = 1024 * 1024

Entry = tuple[str, os.stat_result, int, str]  # relative path, lstat, parent fd, base name


def walk(root_fd: int) -> Iterator[Entry]:
    """Every entry under ``root_fd``, parents before children, names sorted.

    The parent fd in each entry is valid until the generator is resumed.
    """
    stack: list[tuple[int, str]] = [(os.open(".", _O_DIR, dir_fd=root_fd), "")]
    try:
        while stack:
            fd, prefix = stack.pop()
            try:
                subdirs: list[str] = []
                for name in sorted(os.listdir(fd)):
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    path = prefix + name
                    yield path, st, fd, name
                    if stat.S_ISDIR(st.st_mode):
                        subdirs.append(name)
                # Reversed so the stack pops them in sorted order.
                for name in reversed(subdirs):
                    stack.append((os.open(name, _O_DIR, dir_fd=fd), prefix + name + "/"))
            finally:
                os.close(fd)
    finally:
        for fd, _prefix in stack:
            os.close(fd)


def _xattrs(fd: int) -> dict[str, bytes]:
    try:
        return {key: os.getxattr(fd, key) for key in sorted(os.listxattr(fd))}
    except OSError as err:
        if err.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise


def _read_into(fd: int, write: Callable[[memoryview], object]) -> None:
    with open(fd, "rb", buffering=0, closefd=False) as file:
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        while count := file.readinto(view):
            write(view[:count])


def _content_digest(fd: int) -> bytes:
    import hashlib  # loads OpenSSL; only renders and checks hash trees

    content = hashlib.sha256()
    _read_into(fd, content.update)
    return content.digest()


def tree_hash(path: Path, known: Mapping[tuple[int, int], bytes] | None = None) -> tuple[str, int]:
    """``sha512-<hex>`` over the tree's entries and the SHA-256 of each file's content, and
    the bytes of its files.

    ``known`` gives content digests by (st_dev, st_ino) that the renderer took while writing
    the files, so rendering does not read them all back; a file not in it is read. Checking
    a tree later (verify) passes nothing and so reads everything."""
    import hashlib

    digest = hashlib.sha512()
    size = 0
    seen: set[tuple[int, int]] = set()
    root = os.open(path, _O_DIR)
    try:
        for rel, st, parent, name in walk(root):
            mode = st.st_mode
            extra = b""
            if stat.S_ISLNK(mode):
                extra = os.fsencode(os.readlink(name, dir_fd=parent))
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                extra = f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}".encode()
            header = (
                f"{stat.S_IFMT(mode):o} {stat.S_IMODE(mode):o} {st.st_uid} {st.st_gid} "
                f"{st.st_mtime_ns} {st.st_size if stat.S_ISREG(mode) else 0} "
            )
            digest.update(os.fsencode(rel) + b"\0" + header.encode() + extra + b"\0")
            if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
                fd = os.open(name, _O_FILE, dir_fd=parent)
                try:
                    for key, value in _xattrs(fd).items():
                        digest.update(f"x {key}={len(value)}\0".encode() + value)
                    if stat.S_ISREG(mode):
                        ident = (st.st_dev, st.st_ino)
                        found = known.get(ident) if known is not None else None
                        digest.update(found if found is not None else _content_digest(fd))
                finally:
                    os.close(fd)
                if stat.S_ISREG(mode) and (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    size += st.st_size
    finally:
        os.close(root)
    return "sha512-" + digest.hexdigest(), size


def tree_members(root_fd: int) -> Iterator[tuple[Member, Callable[..., None]]]:
    """The entries of a tree as archive members, for copying it with the Extractor; hard
    links stay hard links (to the first path of the inode)."""
    from appc.aci.member import Member, MemberType

    first_path: dict[tuple[int, int], str] = {}
    for rel, st, parent, name in walk(root_fd):
        mode = st.st_mode
        fields = {
            "mode": stat.S_IMODE(mode),
            "uid": st.st_uid,
            "gid": st.st_gid,
            "mtime": st.st_mtime_ns / 1e9,
        }
        copy: Callable[..., None] = _no_data
        if stat.S_ISDIR(mode):
            member = Member(rel, MemberType.DIRECTORY, **fields)  # type: ignore[arg-type]
        elif stat.S_ISLNK(mode):
            target = os.readlink(name, dir_fd=parent)
            member = Member(rel, MemberType.SYMLINK, linkname=target, **fields)  # type: ignore[arg-type]
        elif stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if key in first_path:
                member = Member(rel, MemberType.HARDLINK, linkname=first_path[key])
            else:
                first_path[key] = rel
                fd = os.open(name, _O_FILE, dir_fd=parent)
                try:
                    xattrs = _xattrs(fd)
                    member = Member(
                        rel,
                        MemberType.REGULAR,
                        size=st.st_size,
                        xattrs=xattrs,
                        **fields,  # type: ignore[arg-type]
                    )
                    copy = _copier(fd)
                    yield member, copy
                finally:
                    os.close(fd)
                continue
        elif stat.S_ISFIFO(mode):
            member = Member(rel, MemberType.FIFO, **fields)  # type: ignore[arg-type]
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            kind = MemberType.CHAR_DEVICE if stat.S_ISCHR(mode) else MemberType.BLOCK_DEVICE
            member = Member(
                rel,
                kind,
                devmajor=os.major(st.st_rdev),
                devminor=os.minor(st.st_rdev),
                **fields,  # type: ignore[arg-type]
            )
        else:
            continue  # sockets are not image content
        yield member, copy


def _no_data(write: Callable[[memoryview], object]) -> None:
    return None


def _copier(fd: int) -> Callable[..., None]:
    def copy(write: Callable[[memoryview], object]) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        _read_into(fd, write)

    return copy


def _make_writable(path: Path) -> None:
    """Give the owner write access to every directory below ``path`` (a non-root user cannot
    delete from a directory an image made read-only)."""
    with contextlib.suppress(OSError):
        root = os.open(path, _O_DIR)
        try:
            os.fchmod(root, 0o700)
            for _rel, st, parent, name in walk(root):
                if stat.S_ISDIR(st.st_mode):
                    os.chmod(name, 0o700, dir_fd=parent)
        finally:
            os.close(root)


def remove_tree(path: Path) -> None:
    """Delete ``path`` and everything in it, never following a symlink in it; a missing path
    is not an error."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return
    if not os.path.isdir(path) or os.path.islink(path):
        os.unlink(path)
        return
    import shutil  # which imports bz2 and lzma for its archive functions

    try:
        shutil.rmtree(path)
    except PermissionError:
        _make_writable(path)
        shutil.rmtree(path)
