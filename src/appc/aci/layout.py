"""The layout rules of aci.md, for archives (member by member) and for image layout directories.

aci.md, "Image Archives": "Image archives MUST be a tar formatted file with no duplicate
entries" and "MUST have only two top-level pathnames, `manifest` (a regular file) and `rootfs` (a
directory)". The reference checks these in ``aci.ValidateArchive`` / ``aci.ValidateLayout``; we
reach the same verdicts except where the reference is looser than the spec sentence above or than
safe reading allows. Each divergence is marked "Divergence:" below, with its reason.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from msgspec import Struct

from appc.aci.limits import DEFAULT_LIMITS, Limits
from appc.aci.member import Member, MemberType
from appc.errors import ArchiveError, ValidationError

if TYPE_CHECKING:
    from appc.schema.image import ImageManifest

MANIFEST = "manifest"
ROOTFS = "rootfs"
_ROOTFS_PREFIX = ROOTFS + "/"


def normalize_name(raw: str) -> str:
    """A member name with ``./``, doubled and trailing slashes removed (like Go's
    ``filepath.Clean``, which the reference applies), ``"."`` for the archive root.

    Divergence: the reference cleans ``rootfs/../manifest`` into ``manifest``; we refuse any
    ``..`` component and absolute names outright. Such a name is never needed in an image, and
    refusing it here means no later stage has to interpret it (docs/security.md principle 1).
    """
    if raw.startswith("/"):
        raise ArchiveError("absolute member name; expected a path relative to the image", raw)
    parts = [part for part in raw.split("/") if part and part != "."]
    if ".." in parts:
        raise ArchiveError("member name contains '..'; path traversal is not allowed", raw)
    return "/".join(parts) or "."


def parse_manifest(data: bytes) -> ImageManifest:
    """Validate manifest bytes; a :class:`ValidationError` is re-raised located at ``manifest``."""
    from appc.schema.image import ImageManifest

    try:
        return ImageManifest.from_json(data)
    except ValidationError as err:
        raise err.at(MANIFEST) from err


class ArchiveLayout:
    """Checks the members of an archive, in order, against aci.md's layout rules.

    :meth:`add` rejects a bad member as soon as it is seen; :meth:`finish` reports what is
    missing once the archive has ended.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._seen: set[str] = set()
        self._dirs: set[str] = set()
        self.has_manifest = False
        self.has_rootfs = False

    def add(self, member: Member) -> None:
        name = member.name
        # Divergence: the reference lets "manifest" and "rootfs" repeat (a second manifest is
        # appended to the first); the spec says "no duplicate entries" without exception.
        if name in self._seen:
            raise ArchiveError("duplicate entry; image archives must not repeat a path", name)
        if len(self._seen) >= self._limits.max_members:
            raise ArchiveError(f"more than {self._limits.max_members} entries in the archive")
        self._seen.add(name)
        if member.type is MemberType.DIRECTORY:
            self._dirs.add(name)
        if name.startswith(_ROOTFS_PREFIX):
            if member.type is MemberType.HARDLINK:
                self._check_hardlink(member)
        elif name == ROOTFS:
            if member.type is not MemberType.DIRECTORY:
                raise ArchiveError("rootfs is not a directory", name)
            self.has_rootfs = True
        elif name == MANIFEST:
            # Divergence: the reference reads whatever entry is named "manifest"; the spec says
            # "`manifest` (a regular file)".
            if member.type is not MemberType.REGULAR:
                raise ArchiveError(
                    f"the manifest must be a regular file, not a {member.type.name.lower()}", name
                )
            if member.size > self._limits.max_manifest_size:
                raise ArchiveError(
                    f"manifest is {member.size} bytes, more than the limit of "
                    f"{self._limits.max_manifest_size}",
                    name,
                )
            self.has_manifest = True
        elif name == "." and member.type is MemberType.DIRECTORY:
            # "tar -C layout -c ." writes "./" first; the reference skips it too.
            pass
        else:
            # Divergence: the reference accepts any path that merely starts with the string
            # "rootfs" ("rootfs2/x"); the spec allows only the two top-level pathnames.
            raise ArchiveError(
                "unrecognized path in image archive; only 'manifest' and 'rootfs/...' may be at "
                "the top level",
                name,
            )

    def _check_hardlink(self, member: Member) -> None:
        # Divergence: the reference does not look at hard link targets. A hard link may only
        # name an earlier file of the rootfs, or extraction would have to reach outside it.
        target = member.linkname
        if not target.startswith(_ROOTFS_PREFIX) or target not in self._seen:
            raise ArchiveError(
                f"hard link to {target!r}, which is not an earlier entry under rootfs/",
                member.name,
            )
        if target in self._dirs:
            raise ArchiveError(f"hard link to the directory {target!r}", member.name)

    def finish(self) -> None:
        if not self.has_manifest:
            raise ArchiveError("no image manifest found in the archive", MANIFEST)
        if not self.has_rootfs:
            raise ArchiveError("no rootfs directory entry found in the archive", ROOTFS)


class Layout(Struct, frozen=True):
    """A valid image layout directory and its parsed manifest."""

    path: str
    manifest_bytes: bytes
    manifest: ImageManifest


class OpenLayout(Struct):
    """A validated layout held open by file descriptors, so that what the builder archives is
    what was validated even if names in the directory are swapped meanwhile."""

    path: str
    dir_fd: int
    rootfs_fd: int
    manifest_bytes: bytes
    manifest: ImageManifest
    manifest_stat: os.stat_result
    rootfs_stat: os.stat_result

    def close(self) -> None:
        os.close(self.rootfs_fd)
        os.close(self.dir_fd)


_O_READ = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW


def open_layout(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> OpenLayout:
    """Validate the image layout at ``path`` and hold it open (see :class:`OpenLayout`).

    Divergences from the reference ``ValidateLayout``: it follows a symlinked ``manifest`` and
    walks the whole rootfs; we never follow symlinks inside a layout (the builder must not read
    outside it) and look only at the top level, since the spec constrains nothing below rootfs.
    """
    path = os.fspath(path)
    try:
        dir_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY)
    except OSError as err:
        raise ArchiveError(f"cannot open image layout: {err.strerror}", path) from err
    try:
        for name in sorted(os.listdir(dir_fd)):
            if name not in (MANIFEST, ROOTFS):
                raise ArchiveError(
                    "unrecognized file in image layout; a layout holds only 'manifest' and "
                    "'rootfs'",
                    os.path.join(path, name),
                )
        data, manifest_stat = _read_manifest_file(path, dir_fd, limits)
        manifest = parse_manifest(data)
        rootfs_fd = _open_rootfs(path, dir_fd)
        return OpenLayout(
            path, dir_fd, rootfs_fd, data, manifest, manifest_stat, os.fstat(rootfs_fd)
        )
    except BaseException:
        os.close(dir_fd)
        raise


def _read_manifest_file(path: str, dir_fd: int, limits: Limits) -> tuple[bytes, os.stat_result]:
    where = os.path.join(path, MANIFEST)
    try:
        # O_NONBLOCK: opening a FIFO planted as "manifest" must not hang.
        fd = os.open(MANIFEST, _O_READ | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        raise ArchiveError("no image manifest found in layout", where) from None
    except OSError as err:
        raise ArchiveError(
            f"cannot open the manifest ({err.strerror}); it must be a regular file, not a symlink",
            where,
        ) from err
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ArchiveError("the manifest must be a regular file", where)
        if st.st_size > limits.max_manifest_size:
            raise ArchiveError(
                f"manifest is {st.st_size} bytes, more than the limit of "
                f"{limits.max_manifest_size}",
                where,
            )
        chunks = []
        remaining = st.st_size
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        if remaining:
            raise ArchiveError("the manifest changed while it was read", where)
        return b"".join(chunks), st
    except OSError as err:
        raise ArchiveError(f"cannot read the manifest: {err.strerror}", where) from err
    finally:
        os.close(fd)


def _open_rootfs(path: str, dir_fd: int) -> int:
    where = os.path.join(path, ROOTFS)
    try:
        return os.open(ROOTFS, _O_READ | os.O_DIRECTORY, dir_fd=dir_fd)
    except FileNotFoundError:
        raise ArchiveError("no rootfs found in layout", where) from None
    except OSError as err:
        raise ArchiveError(f"rootfs is not a directory ({err.strerror})", where) from err


def validate_layout(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> Layout:
    """Check the image layout directory at ``path``: only ``manifest`` (a valid image manifest in
    a regular file) and ``rootfs`` (a directory) at its top level.

    Raises :class:`ArchiveError` for layout problems and :class:`ValidationError` (located at
    ``manifest``) for an invalid manifest.
    """
    opened = open_layout(path, limits)
    opened.close()
    return Layout(opened.path, opened.manifest_bytes, opened.manifest)
