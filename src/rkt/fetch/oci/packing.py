"""The converted image as an ACI, written from the tree its layers were rendered into.

The layers are applied once, into the tree the store keeps (so a converted image is rendered
at fetch time, like any ACI); the ACI the store also keeps (for ``rkt image export``,
``extract`` and ``verify``) is then the manifest and that tree, archived as ``actool build``
would: manifest first, ``rootfs`` entries in sorted order, hard links to the first path of
their inode, owners, modes, mtimes (whole seconds) and xattrs kept, no user or group names
(the host's name databases must not change the image). Equal trees give equal archives, so
the image ID, the SHA-512 of the archive, is reproducible.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from appc.aci import tarheader
from appc.aci.compression import Compression
from appc.aci.member import MemberType
from appc.aci.writer import ArchiveWriter
from rkt.store.tree import tree_members

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ZEROS = bytes(tarheader.BLOCK_SIZE)


def write_aci(rootfs: Path, manifest: bytes, fd: int, where: str) -> str:
    """Write the uncompressed ACI to ``fd``; returns its image ID."""
    root = os.open(rootfs, _O_DIR)
    try:
        with ArchiveWriter(fd, Compression.NONE, name=where) as writer:
            writer.add(
                tarheader.encode(
                    b"manifest", b"0", mode=0o644, uid=0, gid=0, size=len(manifest), mtime=0
                ),
                manifest,
            )
            st = os.fstat(root)
            writer.add(
                tarheader.encode(
                    b"rootfs/",
                    b"5",
                    mode=st.st_mode,
                    uid=st.st_uid,
                    gid=st.st_gid,
                    size=0,
                    mtime=st.st_mtime_ns // 1_000_000_000,
                )
            )
            for member, copy in tree_members(root):
                name = b"rootfs/" + os.fsencode(member.name)
                kind = member.type
                linkname = os.fsencode(member.linkname)
                if kind is MemberType.HARDLINK:
                    linkname = b"rootfs/" + linkname
                header = tarheader.encode(
                    name + b"/" if kind is MemberType.DIRECTORY else name,
                    kind.value.encode(),
                    mode=member.mode,
                    uid=member.uid,
                    gid=member.gid,
                    size=member.size,
                    mtime=math.floor(member.mtime),
                    linkname=linkname,
                    devmajor=member.devmajor,
                    devminor=member.devminor,
                    xattrs={os.fsencode(k): v for k, v in member.xattrs.items()},
                )
                writer.write(header)
                if member.size:
                    copy(writer.write)
                    pad = tarheader.padding(member.size)
                    if pad:
                        writer.write(_ZEROS[:pad])
            return writer.close()
    finally:
        os.close(root)
