"""Building an image archive from an image layout directory (``actool build``).

:func:`build` validates the layout (:func:`~appc.aci.layout.open_layout`), writes the manifest
as the first member so readers can stop early, then walks ``rootfs`` in sorted order feeding an
:class:`~appc.aci.writer.ArchiveWriter`, into a temporary file that is synced and renamed over
the target only when complete.

The walk goes through directory file descriptors with ``O_NOFOLLOW`` everywhere: the builder
reads only what is inside the layout, never through a symlink in it, even if the tree changes
during the build. Symlinks are archived verbatim, hard links as tar hard links to the first path
seen, and owners, modes (with setuid, setgid, sticky), mtimes (whole seconds, as ustar holds
them) and xattrs are kept, as aci.md asks ("All files in the image MUST maintain all of their
original properties, including timestamps, Unix modes, and extended attributes").
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import Any

from appc.aci import tarheader
from appc.aci.compression import Compression
from appc.aci.layout import MANIFEST, ROOTFS, OpenLayout, open_layout
from appc.aci.limits import DEFAULT_LIMITS, Limits
from appc.aci.output import atomic_output, check_target
from appc.aci.writer import ArchiveWriter
from appc.errors import ArchiveError

_O_DIR = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_DIRECTORY
# O_NONBLOCK: if a FIFO replaces a regular file between listing and opening, open must not hang.
_O_FILE = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
_TYPEFLAGS = {
    stat.S_IFCHR: b"3",
    stat.S_IFBLK: b"4",
    stat.S_IFIFO: b"6",
}
# The host's SELinux label says how this machine confines the file, not what the image is;
# GNU tar leaves it out too unless asked (--selinux).
_SKIPPED_XATTRS = frozenset({"security.selinux"})


class _Owners:
    """uid/gid to names from the host's databases, looked up once per id (like tar and Go's
    archive/tar ``FileInfoHeader``); ``owner_root`` forces root:root as the reference does."""

    def __init__(
        self, owner_root: bool, id_map: Callable[[int, int], tuple[int, int]] | None = None
    ) -> None:
        self.owner_root = owner_root
        #: maps a file's (uid, gid) to the ids the archive records
        self.id_map = id_map
        self._users: dict[int, bytes] = {}
        self._groups: dict[int, bytes] = {}

    def user(self, uid: int) -> bytes:
        name = self._users.get(uid)
        if name is None:
            import pwd

            try:
                name = pwd.getpwuid(uid).pw_name.encode()
            except KeyError:
                name = b""
            self._users[uid] = name
        return name

    def group(self, gid: int) -> bytes:
        name = self._groups.get(gid)
        if name is None:
            import grp

            try:
                name = grp.getgrgid(gid).gr_name.encode()
            except KeyError:
                name = b""
            self._groups[gid] = name
        return name


def _xattrs(target: int | str) -> dict[bytes, bytes]:
    """The extended attributes of an open fd, or of a path without following a final symlink."""
    follow = isinstance(target, int)  # os.*xattr refuse follow_symlinks=False with an fd
    try:
        names = os.listxattr(target, follow_symlinks=follow)
    except OSError as err:
        if err.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    return {
        os.fsencode(name): os.getxattr(target, name, follow_symlinks=follow)
        for name in names
        if name not in _SKIPPED_XATTRS
    }


class _TreeArchiver:
    """Writes the members of a layout to an :class:`ArchiveWriter`."""

    def __init__(self, layout: OpenLayout, out: ArchiveWriter, owners: _Owners) -> None:
        self._layout = layout
        self._out = out
        self._owners = owners
        self._links: dict[tuple[int, int], bytes] = {}
        self._proc = os.path.isdir("/proc/self/fd")

    def _header(
        self, name: bytes, typeflag: bytes, st: os.stat_result, size: int = 0, **extra: Any
    ) -> bytes:
        owners = self._owners
        if owners.owner_root:
            uid = gid = 0
            uname = gname = b"root"
        else:
            uid, gid = st.st_uid, st.st_gid
            if owners.id_map is not None:
                uid, gid = owners.id_map(uid, gid)
            uname, gname = owners.user(uid), owners.group(gid)
        return tarheader.encode(
            name,
            typeflag,
            mode=st.st_mode,
            uid=uid,
            gid=gid,
            size=size,
            mtime=st.st_mtime_ns // 1_000_000_000,
            uname=uname,
            gname=gname,
            **extra,
        )

    def archive(self) -> None:
        layout = self._layout
        data = layout.manifest_bytes
        self._out.add(self._header(MANIFEST.encode(), b"0", layout.manifest_stat, len(data)), data)
        root = ROOTFS.encode() + b"/"
        rootfs_xattrs = _xattrs(layout.rootfs_fd)
        self._out.add(self._header(root, b"5", layout.rootfs_stat, xattrs=rootfs_xattrs))
        self._walk(layout.rootfs_fd, root)

    def _walk(self, rootfs_fd: int, root: bytes) -> None:
        # An explicit stack rather than recursion: image trees can be deeper than Python's
        # recursion limit. One directory fd stays open per level of the current path.
        stack = [(rootfs_fd, root, iter(self._listing(rootfs_fd, root)))]
        try:
            while stack:
                dir_fd, prefix, entries = stack[-1]
                entry = next(entries, None)
                if entry is None:
                    stack.pop()
                    if dir_fd != rootfs_fd:
                        os.close(dir_fd)
                    continue
                name = prefix + os.fsencode(entry.name)
                try:
                    child = self._add(dir_fd, entry, name)
                except OSError as err:
                    raise ArchiveError(
                        f"cannot archive: {err.strerror or err}", self._where(name)
                    ) from err
                if child is not None:
                    child_prefix = name + b"/"
                    stack.append((child, child_prefix, iter(self._listing(child, child_prefix))))
        finally:
            for dir_fd, _prefix, _entries in stack:
                if dir_fd != rootfs_fd:
                    os.close(dir_fd)

    def _where(self, name: bytes) -> str:
        return os.path.join(self._layout.path, os.fsdecode(name))

    def _listing(self, dir_fd: int, prefix: bytes) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(dir_fd) as it:
                return sorted(it, key=lambda entry: entry.name)
        except OSError as err:
            raise ArchiveError(f"cannot list: {err.strerror}", self._where(prefix)) from err

    def _add(self, dir_fd: int, entry: os.DirEntry[str], name: bytes) -> int | None:
        """Archive one entry; for a directory, return its open fd to descend into."""
        if entry.is_file(follow_symlinks=False):
            self._add_file(dir_fd, entry.name, name)
            return None
        if entry.is_dir(follow_symlinks=False):
            fd = os.open(entry.name, _O_DIR, dir_fd=dir_fd)
            try:
                self._out.add(self._header(name + b"/", b"5", os.fstat(fd), xattrs=_xattrs(fd)))
            except BaseException:
                os.close(fd)
                raise
            return fd
        st = os.stat(entry.name, dir_fd=dir_fd, follow_symlinks=False)
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFSOCK:
            return None  # tar cannot hold sockets; the reference skips them too
        if kind == stat.S_IFREG or kind == stat.S_IFDIR:
            raise ArchiveError("file changed type while it was archived", self._where(name))
        if self._hardlink(name, st):
            return None
        # Paths through /proc/self/fd/N resolve the directory by fd, so no component of the
        # layout path is looked up again; the last component is not followed.
        where: str = f"/proc/self/fd/{dir_fd}/{entry.name}" if self._proc else self._where(name)
        xattrs = _xattrs(where)
        if kind == stat.S_IFLNK:
            target = os.fsencode(os.readlink(entry.name, dir_fd=dir_fd))
            header = self._header(name, b"2", st, linkname=target, xattrs=xattrs)
        else:
            header = self._header(
                name,
                _TYPEFLAGS[kind],
                st,
                devmajor=os.major(st.st_rdev) if kind != stat.S_IFIFO else 0,
                devminor=os.minor(st.st_rdev) if kind != stat.S_IFIFO else 0,
                xattrs=xattrs,
            )
        self._out.add(header)
        return None

    def _hardlink(self, name: bytes, st: os.stat_result) -> bool:
        """Archive ``name`` as a hard link if its inode was archived before (tar semantics:
        the first path carries the content, later ones point to it)."""
        if st.st_nlink < 2:
            return False
        key = (st.st_dev, st.st_ino)
        first = self._links.get(key)
        if first is None:
            self._links[key] = name
            return False
        self._out.add(self._header(name, b"1", st, linkname=first))
        return True

    def _add_file(self, dir_fd: int, base: str, name: bytes) -> None:
        fd = os.open(base, _O_FILE, dir_fd=dir_fd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ArchiveError("file changed type while it was archived", self._where(name))
            if self._hardlink(name, st):
                return
            header = self._header(name, b"0", st, st.st_size, xattrs=_xattrs(fd))
            if self._out.add_file_from_fd(header, fd, st.st_size):
                raise ArchiveError("file shrank while it was archived", self._where(name))
        finally:
            os.close(fd)


def _check_target(layout: OpenLayout, out_path: str, overwrite: bool) -> None:
    check_target(out_path, overwrite)
    # Writing the archive inside the rootfs being archived would make it include itself.
    rootfs = os.path.realpath(os.path.join(layout.path, ROOTFS))
    target_dir = os.path.realpath(os.path.dirname(os.path.abspath(out_path)))
    if os.path.commonpath([rootfs, target_dir]) == rootfs:
        raise ArchiveError("the output file must not be inside the layout's rootfs", out_path)


def build(
    layout_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    compression: Compression | str = Compression.GZIP,
    overwrite: bool = False,
    owner_root: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    id_map: Callable[[int, int], tuple[int, int]] | None = None,
) -> str:
    """Build an image archive at ``out_path`` from the image layout ``layout_dir`` and return
    its image ID (``sha512-<hex>`` of the uncompressed tar, computed while writing).

    The layout is validated first (:func:`~appc.aci.layout.validate_layout`). The output appears
    atomically and complete, or not at all; an existing file is replaced only with
    ``overwrite``. ``owner_root`` records every entry as owned by root:root (uid and gid 0);
    ``id_map`` maps each file's (uid, gid) to the ones recorded (a tree written by a user
    namespace's ids, recorded as the namespace saw them).
    """
    compression = Compression(compression)
    out = os.fspath(out_path)
    layout = open_layout(layout_dir, limits)
    try:
        _check_target(layout, out, overwrite)
        with (
            atomic_output(out, overwrite) as fd,
            ArchiveWriter(fd, compression, name=out) as writer,
        ):
            _TreeArchiver(layout, writer, _Owners(owner_root, id_map)).archive()
            image = writer.close()
    finally:
        layout.close()
    return image
