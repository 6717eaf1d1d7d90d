"""Extraction of image members into a directory that nothing in the image can escape.

Image content is hostile (docs/security.md 1-6). Every member goes through :class:`Extractor`:

- Its name is checked (relative, no ``..``, length, depth) and resolved component by component
  from a directory fd of the target with ``O_NOFOLLOW|O_DIRECTORY``: a symlink or a file on the
  way is never followed. Python 3.11 has no openat2(RESOLVE_IN_ROOT); per-component
  ``O_NOFOLLOW`` opens give the same guarantee for a tree no one else writes to.
- A path on the way that is not a directory is refused when this same archive put it there
  (a symlink planted earlier in the archive, GNU tar CVE-2025-45582), and replaced by a real
  directory when an earlier layer did (ace.md "Filesystem Setup": "the link MUST NOT be followed
  and it MUST be removed and replaced with the new path").
- Files are created with ``O_EXCL|O_NOFOLLOW`` after unlinking whatever an earlier layer left;
  metadata is set on the created fd: owner (only as root; chown clears setuid, so chmod comes
  after it), mode with setuid/setgid/sticky kept, xattrs by namespace, mtime last.
- Hard links may only name a regular file this layer created, checked by inode.
- Device nodes only as root and when the caller allows them; otherwise they are skipped and
  listed in :attr:`Extractor.skipped`. FIFOs are made with mkfifo and never opened for writing.
- Symlinks are written verbatim (absolute ones are legal in images) and never followed here.
- Directory modes and mtimes are applied by :meth:`Extractor.finish`, deepest first, after all
  layers, so contents do not bump them and a read-only directory does not stop later members.
- Limits: entries, total bytes, path length and depth, symlink target length.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Callable

import msgspec

from appc.aci.member import Member, MemberType
from rkt.errors import StoreError

GiB = 1024**3

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_NAME_MAX = 255
# Namespaces a root extraction may set. security.selinux is the host's view of the file, not
# the image's (GNU tar leaves it out unless asked); security.ima/evm would let an image vouch
# for itself.
_ROOT_XATTR_PREFIXES = ("user.", "trusted.", "security.capability", "system.posix_acl_")

CopyData = Callable[[Callable[[memoryview], object]], None]
# A full or read-only filesystem: the store's problem, named by its path, not the image's.
_FILESYSTEM_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


class ExtractLimits(msgspec.Struct, frozen=True):
    """What one extraction (all its layers) may create; exceeding one is a StoreError."""

    max_entries: int = 2_000_000
    max_total_size: int = 256 * GiB
    max_path_length: int = 4096
    max_depth: int = 256
    max_link_length: int = 4096


DEFAULT_EXTRACT_LIMITS = ExtractLimits()


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


class Extractor:
    """Creates members under the directory ``root_fd`` (which the caller keeps open).

    ``where`` names the target in messages. ``as_root`` (default: the effective uid is 0)
    decides whether owners, device nodes and privileged xattrs are applied; tests pass it to
    check the non-root behaviour as root. Call :meth:`new_layer` before each archive.
    """

    def __init__(
        self,
        root_fd: int,
        where: str,
        *,
        limits: ExtractLimits = DEFAULT_EXTRACT_LIMITS,
        as_root: bool | None = None,
        devices: bool = True,
    ) -> None:
        self.root_fd = root_fd
        self.where = where
        #: where the tree is, for failures of the filesystem rather than of the image (a
        #: caller may relabel ``where`` with what it extracts)
        self.location = where
        self.limits = limits
        self.as_root = os.geteuid() == 0 if as_root is None else as_root
        self.devices = devices
        self.skipped: list[str] = []
        self._entries = 0
        self._total = 0
        self._layer: set[str] = set()  # paths this layer created (explicitly or as parents)
        self._files: dict[str, tuple[int, int]] = {}  # this layer's regular files: (dev, ino)
        self._dirs: dict[str, Member] = {}  # directory metadata to apply in finish()
        #: SHA-256 of each regular file's content by (st_dev, st_ino), taken as it is written,
        #: so that the tree's hash need not read the files back (see rkt.store.tree)
        self.digests: dict[tuple[int, int], bytes] = {}

    def new_layer(self) -> None:
        self._layer.clear()
        self._files.clear()

    def _refuse(self, name: str, reason: str) -> StoreError:
        return StoreError(f"refusing {name or '/'!r} in {self.where}: {reason}")

    def _parts(self, name: str) -> list[str]:
        if not name:
            return []
        if name.startswith("/"):
            raise self._refuse(name, "absolute path")
        parts = name.split("/")
        if any(part in ("", ".", "..") for part in parts) or "\0" in name:
            raise self._refuse(name, "path has empty, '.' or '..' components")
        if len(os.fsencode(name)) > self.limits.max_path_length:
            raise self._refuse(name[:64] + "...", f"path longer than {self.limits.max_path_length}")
        if len(parts) > self.limits.max_depth:
            raise self._refuse(name[:64] + "...", f"more than {self.limits.max_depth} levels deep")
        if any(len(os.fsencode(part)) > _NAME_MAX for part in parts):
            raise self._refuse(name[:64] + "...", f"a component is longer than {_NAME_MAX} bytes")
        return parts

    def _descend(self, parts: list[str], *, create: bool) -> int:
        """A new fd of the directory ``parts`` under the root, never through a symlink."""
        fd = os.open(".", _O_DIR, dir_fd=self.root_fd)
        try:
            for index, part in enumerate(parts):
                path = "/".join(parts[: index + 1])
                try:
                    child = os.open(part, _O_DIR, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise self._refuse(path, "no such directory") from None
                    os.mkdir(part, 0o755, dir_fd=fd)
                    self._implicit(path)
                    child = os.open(part, _O_DIR, dir_fd=fd)
                except OSError as err:
                    if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    if not create or path in self._layer:
                        raise self._refuse(
                            "/".join(parts),
                            f"{path!r} is a symlink or file, not a directory; not followed",
                        ) from None
                    # An earlier layer's symlink or file: replaced, never followed (ace.md).
                    self._remove(fd, part, path)
                    os.mkdir(part, 0o755, dir_fd=fd)
                    self._implicit(path)
                    child = os.open(part, _O_DIR, dir_fd=fd)
                os.close(fd)
                fd = child
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _implicit(self, path: str) -> None:
        """A directory no member named (yet): root's, 0755, mtime 0, so that the tree is the
        same whenever it is extracted (its mtime would otherwise be the time of the last
        change in it). A member naming it later replaces this in finish()."""
        self._layer.add(path)
        self._dirs[path] = Member(path, MemberType.DIRECTORY, mode=0o755)

    def _remove(self, dir_fd: int, base: str, path: str) -> None:
        st = os.stat(base, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(base, dir_fd=dir_fd)  # fd-based: does not follow symlinks inside
            prefix = path + "/"
            for key in [k for k in self._dirs if k == path or k.startswith(prefix)]:
                del self._dirs[key]
        else:
            os.unlink(base, dir_fd=dir_fd)

    def add(self, member: Member, copy_data: CopyData) -> None:
        """Create ``member`` (its name relative to the root; ``""`` is the root itself)."""
        self._entries += 1
        if self._entries > self.limits.max_entries:
            raise self._refuse(member.name, f"more than {self.limits.max_entries} entries")
        parts = self._parts(member.name)
        if not parts:
            if not member.is_dir:
                raise self._refuse("", "the root can only be a directory")
            self._dirs[""] = member
            return
        try:
            self._add(member, parts, copy_data)
        except StoreError:
            raise
        except (OSError, OverflowError) as err:
            if isinstance(err, OSError) and err.errno in _FILESYSTEM_FULL:
                raise self._full(err) from err
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise self._refuse(member.name, f"cannot create: {reason}") from err

    def _full(self, err: OSError) -> StoreError:
        return StoreError(f"cannot write {self.location}: {err.strerror}")

    def remove(self, name: str) -> None:
        """Remove ``name`` as a whiteout of an OCI layer does (image-spec layer.md): what an
        earlier layer put there goes, with everything below it; what this layer created
        stays; a missing path is no error. The path is resolved like any member, so a
        whiteout can only ever remove inside the root, never through a symlink."""
        parts = self._parts(name)
        if not parts:
            raise self._refuse(name, "a whiteout cannot remove the root")
        if name in self._layer:
            return
        parent = self._descend_existing(parts[:-1], name)
        if parent is None:
            return
        try:
            os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
            self._remove(parent, parts[-1], name)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise self._refuse(name, f"cannot remove: {err.strerror}") from err
        finally:
            os.close(parent)

    def clear_directory(self, name: str) -> None:
        """Empty the directory ``name`` of what earlier layers put in it (an opaque whiteout,
        ``.wh..wh..opq``); entries this layer created stay."""
        parts = self._parts(name)
        directory = self._descend_existing(parts, name)
        if directory is None:
            return
        try:
            prefix = name + "/" if name else ""
            for child in os.listdir(directory):
                if prefix + child not in self._layer:
                    self._remove(directory, child, prefix + child)
        except OSError as err:
            raise self._refuse(name, f"cannot clear: {err.strerror}") from err
        finally:
            os.close(directory)

    def _descend_existing(self, parts: list[str], name: str) -> int | None:
        """An fd of the existing directory ``parts``, None if a component is missing; a
        symlink or file on the way is refused, as when writing (never followed)."""
        fd = os.open(".", _O_DIR, dir_fd=self.root_fd)
        try:
            for index, part in enumerate(parts):
                try:
                    child = os.open(part, _O_DIR, dir_fd=fd)
                except FileNotFoundError:
                    os.close(fd)
                    return None
                except OSError as err:
                    if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    path = "/".join(parts[: index + 1])
                    raise self._refuse(
                        name, f"{path!r} is a symlink or file, not a directory; not followed"
                    ) from None
                os.close(fd)
                fd = child
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _add(self, member: Member, parts: list[str], copy_data: CopyData) -> None:
        path = member.name
        parent = self._descend(parts[:-1], create=True)
        base = parts[-1]
        try:
            if self._clear(parent, base, path, member):
                self._create(parent, base, path, member, copy_data)
            self._layer.add(path)
        finally:
            os.close(parent)

    def _clear(self, parent: int, base: str, path: str, member: Member) -> bool:
        """Make room for ``member``; False when it merges into an existing directory."""
        try:
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return True
        if member.is_dir and stat.S_ISDIR(st.st_mode):
            self._dirs[path] = member
            return False
        if path in self._layer:
            raise self._refuse(path, "replaces an entry created earlier by the same archive")
        self._remove(parent, base, path)
        return True

    def _create(
        self, parent: int, base: str, path: str, member: Member, copy_data: CopyData
    ) -> None:
        kind = member.type
        if kind is MemberType.DIRECTORY:
            # Owner-only until finish() gives it its mode: no one traverses a half tree.
            os.mkdir(base, 0o700, dir_fd=parent)
            self._dirs[path] = member
        elif kind is MemberType.REGULAR:
            self._regular(parent, base, path, member, copy_data)
        elif kind is MemberType.SYMLINK:
            self._symlink(parent, base, path, member)
        elif kind is MemberType.HARDLINK:
            self._hardlink(parent, base, path, member)
        elif kind is MemberType.FIFO:
            os.mkfifo(base, 0o600, dir_fd=parent)
            # O_RDONLY|O_NONBLOCK opens a FIFO at once, without a writer.
            fd = os.open(base, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW, dir_fd=parent)
            try:
                self._apply(fd, member)
            finally:
                os.close(fd)
        else:
            self._device(parent, base, path, member)

    def _regular(
        self, parent: int, base: str, path: str, member: Member, copy_data: CopyData
    ) -> None:
        self._total += member.size
        if self._total > self.limits.max_total_size:
            raise self._refuse(path, f"more than {self.limits.max_total_size} bytes in total")
        fd = os.open(base, _O_NEW, 0o600, dir_fd=parent)
        try:
            content = hashlib.sha256()

            def write(chunk: memoryview) -> None:
                try:
                    _write_all(fd, chunk)
                except OSError as err:
                    # Raised as ours: the archive reader would report an OSError met while
                    # it reads as its own ("cannot read archive").
                    if err.errno in _FILESYSTEM_FULL:
                        raise self._full(err) from err
                    raise self._refuse(path, f"cannot write: {err.strerror}") from err
                content.update(chunk)

            copy_data(write)
            self._apply(fd, member)
            st = os.fstat(fd)
            self._files[path] = (st.st_dev, st.st_ino)
            self.digests[(st.st_dev, st.st_ino)] = content.digest()
        finally:
            os.close(fd)

    def _symlink(self, parent: int, base: str, path: str, member: Member) -> None:
        target = member.linkname
        if not target or len(os.fsencode(target)) > self.limits.max_link_length:
            raise self._refuse(path, "symlink target empty or too long")
        os.symlink(target, base, dir_fd=parent)  # verbatim; resolved only inside the root
        if self.as_root:
            os.chown(base, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        self._times(base, parent, member)

    def _hardlink(self, parent: int, base: str, path: str, member: Member) -> None:
        target = member.linkname
        ident = self._files.get(target)
        if ident is None:
            raise self._refuse(
                path, f"hard link to {target!r}, not a regular file extracted earlier here"
            )
        tparts = self._parts(target)
        tdir = self._descend(tparts[:-1], create=False)
        try:
            st = os.stat(tparts[-1], dir_fd=tdir, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != ident:
                raise self._refuse(path, f"hard link target {target!r} was replaced")
            os.link(tparts[-1], base, src_dir_fd=tdir, dst_dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(tdir)
        self._files[path] = ident

    def _device(self, parent: int, base: str, path: str, member: Member) -> None:
        if not (self.as_root and self.devices):
            self.skipped.append(path)
            return
        kind = stat.S_IFCHR if member.type is MemberType.CHAR_DEVICE else stat.S_IFBLK
        device = os.makedev(member.devmajor, member.devminor)
        os.mknod(base, 0o600 | kind, device, dir_fd=parent)
        # Never opened: opening a device node runs its driver. The name was just created in
        # a directory held by fd that only this process writes to.
        os.chown(base, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        os.chmod(base, member.mode & 0o7777, dir_fd=parent)
        self._times(base, parent, member)

    def _apply(self, fd: int, member: Member) -> None:
        if self.as_root:
            os.fchown(fd, member.uid, member.gid)
        os.fchmod(fd, member.mode & 0o7777)  # after chown, which clears setuid and setgid
        for key, value in member.xattrs.items():
            if key.startswith("user.") or (self.as_root and key.startswith(_ROOT_XATTR_PREFIXES)):
                try:
                    os.setxattr(fd, key, value)
                except OSError as err:
                    # A filesystem without xattrs of that kind: the file is still right.
                    if err.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
                        raise
                    self.skipped.append(f"{member.name} xattr {key}")
            else:
                self.skipped.append(f"{member.name} xattr {key}")
        self._times(fd, None, member)

    @staticmethod
    def _times(target: int | str, dir_fd: int | None, member: Member) -> None:
        try:
            ns = round(member.mtime * 1_000_000_000)
            if isinstance(target, int):
                os.utime(target, ns=(ns, ns))
            else:
                os.utime(target, ns=(ns, ns), dir_fd=dir_fd, follow_symlinks=False)
        except (OverflowError, ValueError):
            pass  # an mtime the filesystem cannot hold: leave the creation time

    def finish(self) -> None:
        """Apply directory metadata, deepest first (setting it does not touch the parent)."""
        for path in sorted(self._dirs, key=lambda p: -1 if not p else p.count("/"), reverse=True):
            member = self._dirs[path]
            fd = self._descend(self._parts(path), create=False)
            try:
                self._apply(fd, member)
            except (OSError, OverflowError) as err:
                raise self._refuse(path, f"cannot set metadata: {err}") from err
            finally:
                os.close(fd)
        self._dirs.clear()
