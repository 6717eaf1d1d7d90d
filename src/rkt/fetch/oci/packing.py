"""The converted image as an ACI, written from the tree its layers were rendered into.

The layers are applied once, into the tree the store keeps (so a converted image is rendered
at fetch time, like any ACI); the ACI the store also keeps (for ``rkt image export``,
``extract`` and ``verify``) is then the manifest and that tree, archived as ``actool build``
would: manifest first, ``rootfs`` entries in sorted order, hard links to the first path of
their inode, owners, modes, mtimes (whole seconds) and xattrs of files kept, no user or group
names (the host's name databases must not change the image). Equal trees give equal
archives, so the image ID, the SHA-512 of the archive, is reproducible.

File contents go from the tree's page cache straight into the writer's buffer
(:meth:`~appc.aci.writer.ArchiveWriter.add_file_from_fd`); the writer hashes and writes on
its own thread while the walk goes on.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from appc.aci import tarheader
from appc.aci.compression import Compression
from appc.aci.writer import ArchiveWriter
from appc.errors import ArchiveError
from rkt.store.tree import walk

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_TYPES = {stat.S_IFCHR: b"3", stat.S_IFBLK: b"4", stat.S_IFIFO: b"6"}


def _xattrs(fd: int) -> dict[bytes, bytes] | None:
    try:
        names = os.listxattr(fd)
    except OSError as err:
        if err.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return None
        raise
    return {os.fsencode(n): os.getxattr(fd, n) for n in names} or None


def _header(name: bytes, kind: bytes, st: os.stat_result, **extra: object) -> bytes:
    return tarheader.encode(
        name,
        kind,
        mode=st.st_mode,
        uid=st.st_uid,
        gid=st.st_gid,
        mtime=st.st_mtime_ns // 1_000_000_000,
        **extra,  # type: ignore[arg-type]
    )


def write_aci(rootfs: Path, manifest: bytes, fd: int, where: str) -> str:
    """Write the uncompressed ACI to ``fd``; returns its image ID."""
    root = os.open(rootfs, _O_DIR)
    first: dict[tuple[int, int], bytes] = {}
    try:
        with ArchiveWriter(fd, Compression.NONE, name=where) as out:
            out.add(
                tarheader.encode(
                    b"manifest", b"0", mode=0o644, uid=0, gid=0, size=len(manifest), mtime=0
                ),
                manifest,
            )
            out.add(_header(b"rootfs/", b"5", os.fstat(root), size=0))
            for rel, st, parent, base in walk(root):
                name = b"rootfs/" + os.fsencode(rel)
                mode = st.st_mode
                if stat.S_ISDIR(mode):
                    out.add(_header(name + b"/", b"5", st, size=0))
                elif stat.S_ISREG(mode):
                    key = (st.st_dev, st.st_ino)
                    if key in first:
                        out.add(_header(name, b"1", st, size=0, linkname=first[key]))
                        continue
                    first[key] = name
                    file = os.open(base, _O_FILE, dir_fd=parent)
                    try:
                        header = _header(name, b"0", st, size=st.st_size, xattrs=_xattrs(file))
                        if out.add_file_from_fd(header, file, st.st_size):
                            raise ArchiveError("a file shrank while it was archived", rel)
                    finally:
                        os.close(file)
                elif stat.S_ISLNK(mode):
                    target = os.fsencode(os.readlink(base, dir_fd=parent))
                    out.add(_header(name, b"2", st, size=0, linkname=target))
                elif stat.S_IFMT(mode) in _TYPES:
                    device = not stat.S_ISFIFO(mode)
                    out.add(
                        _header(
                            name,
                            _TYPES[stat.S_IFMT(mode)],
                            st,
                            size=0,
                            devmajor=os.major(st.st_rdev) if device else 0,
                            devminor=os.minor(st.st_rdev) if device else 0,
                        )
                    )
            return out.close()
    finally:
        os.close(root)
