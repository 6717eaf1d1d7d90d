"""Content-addressed blobs and the temporary files that become them.

An import writes the uncompressed tar to ``tmp/store-import-<random>`` while the reader
validates and hashes it in the same pass, fsyncs it, and only then may the store rename it to
``cas/blob/sha512/<2 hex>/<image id>``. Every temporary file or directory of the store is
flock-ed by its writer for its whole life, so a later process can tell a leftover of a killed
writer (lock free) from work in progress (lock held) and delete only the former.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

import msgspec

from rkt.errors import StoreError
from rkt.linux.flocks import try_lock_fd
from rkt.store.tree import remove_tree

if TYPE_CHECKING:
    from collections.abc import Callable

    from appc.aci.limits import Limits
    from appc.schema.image import ImageManifest
    from rkt.store.render import StagedTree

TEMP_PREFIX = "store-"
_O_NEW = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_ANY = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY


def create_temp(tmp_dir: Path, kind: str, *, directory: bool = False) -> tuple[int, Path]:
    """A new temporary file (or directory) in ``tmp_dir`` and an fd holding its flock."""
    while True:
        path = tmp_dir / f"{TEMP_PREFIX}{kind}-{os.urandom(8).hex()}"
        try:
            if directory:
                os.mkdir(path, 0o700)
                try:
                    fd = os.open(path, _O_DIR)
                except FileNotFoundError:
                    continue  # a cleaner removed it before we could open and lock it
            else:
                fd = os.open(path, _O_NEW, 0o600)
        except FileExistsError:
            continue
        except OSError as err:
            raise StoreError(
                f"cannot create a temporary file in {tmp_dir}: {err.strerror}"
            ) from err
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A cleaner may have taken the lock between create and flock and deleted the name;
        # then this inode is gone from tmp/ and we start over.
        try:
            st = os.stat(path, follow_symlinks=False)
            if (st.st_dev, st.st_ino) == (os.fstat(fd).st_dev, os.fstat(fd).st_ino):
                return fd, path
        except FileNotFoundError:
            pass
        os.close(fd)


def clean_temp(tmp_dir: Path, *, others_older_than: float | None = None) -> list[Path]:
    """Delete the store's temporary entries whose writer is gone; with ``others_older_than``
    (a time), also other unlocked entries (such as abandoned downloads) not modified since."""
    removed: list[Path] = []
    try:
        names = os.listdir(tmp_dir)
    except OSError:
        return removed
    for name in names:
        path = tmp_dir / name
        own = name.startswith(TEMP_PREFIX)
        try:
            st = os.lstat(path)
            if not own and (others_older_than is None or st.st_mtime >= others_older_than):
                continue
            if stat.S_ISLNK(st.st_mode):
                os.unlink(path)
                removed.append(path)
                continue
            fd = os.open(path, _O_ANY)
        except OSError:
            continue  # gone meanwhile, or a read-only data dir: nothing to do
        try:
            if try_lock_fd(fd):
                remove_tree(path)
                removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


class StagedBlob(msgspec.Struct, frozen=True):
    """A validated, fsynced temporary copy of an image, ready to be renamed into the store,
    and its rendered tree when it could be rendered in the same pass."""

    fd: int  # holds the temp file's flock until closed
    path: Path
    image_id: str
    size: int
    manifest_bytes: bytes
    manifest: ImageManifest
    tree: StagedTree | None = None

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self.fd)
        if self.tree is not None:
            self.tree.discard()


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def self_contained(manifest: ImageManifest) -> bool:
    """An image whose tree is its own rootfs: no dependencies to lay under it and no
    whitelist to filter it (ace.md "Filesystem Setup")."""
    return not manifest.dependencies and not manifest.path_whitelist


def stage(
    tmp_dir: Path,
    source: Path | IO[bytes],
    limits: Limits,
    new_tree: Callable[[], StagedTree] | None = None,
) -> StagedBlob:
    """Decompress, validate and hash ``source`` in one pass into a synced temporary file.

    With ``new_tree``, an image whose manifest comes first (as ``actool build`` writes it) and
    that needs no dependencies is also extracted into a new staged tree in the same pass, so
    that fetching does not read the image a second time to render it; a member the extractor
    refuses fails the import, so that such an image never enters the store. Nothing is
    committed here: the caller commits the blob, then the tree, after the checks that must
    come first.
    """
    from appc.aci.reader import open_archive
    from appc.errors import AppcError
    from rkt.store.render import rootfs_mapper

    fd, path = create_temp(tmp_dir, "import")
    size = 0
    tree: StagedTree | None = None

    def sink(chunk: memoryview) -> None:
        nonlocal size
        _write_all(fd, chunk)
        size += len(chunk)

    try:
        with open_archive(source, limits=limits, sink=sink, readahead=True) as reader:
            first = True
            mapper = rootfs_mapper()
            for member in reader:
                if first:
                    first = False
                    manifest = reader.manifest
                    if new_tree and manifest is not None and self_contained(manifest):
                        tree = new_tree()
                if tree is not None and member.name != "manifest":
                    target = mapper(member)
                    if target is not None:
                        tree.extractor.add(target, reader.copy_data)
            image_id = reader.image_id  # reads to the end: CRC, layout and manifest checked
            assert reader.manifest is not None and reader.manifest_bytes is not None
            manifest, manifest_bytes = reader.manifest, reader.manifest_bytes
        os.fsync(fd)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)
        if tree is not None:
            tree.discard()
        if isinstance(err, AppcError):
            name = source if isinstance(source, Path) else getattr(source, "name", "<stream>")
            raise StoreError(f"cannot import {name}: {err}") from err
        if isinstance(err, OSError):
            raise StoreError(f"cannot write {path}: {err.strerror or err}") from err
        raise
    return StagedBlob(fd, path, image_id, size, manifest_bytes, manifest, tree)


def sync_dir(path: Path) -> None:
    fd = os.open(path, _O_DIR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def blob_hash(path: Path) -> str:
    import hashlib  # loads OpenSSL; a run of a stored image hashes nothing

    digest = hashlib.sha512()
    with open(path, "rb", buffering=0) as file:
        buffer = bytearray(1024 * 1024)
        view = memoryview(buffer)
        while count := file.readinto(view):
            digest.update(view[:count])
    return "sha512-" + digest.hexdigest()


def list_blobs(blobs_dir: Path) -> list[str]:
    """Image IDs of the blob files present."""
    found: list[str] = []
    with contextlib.suppress(FileNotFoundError):
        for shard in os.scandir(blobs_dir):
            if shard.is_dir(follow_symlinks=False):
                found.extend(e.name for e in os.scandir(shard.path) if e.name.startswith("sha512-"))
    return found


def now_ns() -> int:
    return time.time_ns()
