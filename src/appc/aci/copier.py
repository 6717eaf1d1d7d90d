"""Copying an image archive with a new manifest, as ``actool patch-manifest`` does.

The new manifest is written as the first member (so readers find it without scanning), then
every other member of the source in its order, content streamed through. The source is read
by :class:`~appc.aci.reader.ArchiveReader`, so it passes the same layout checks as on
validation; the output appears atomically (:mod:`~appc.aci.output`).
"""

from __future__ import annotations

import os
import time

from appc.aci import tarheader
from appc.aci.compression import Compression
from appc.aci.layout import MANIFEST
from appc.aci.limits import DEFAULT_LIMITS, Limits
from appc.aci.member import Member, MemberType
from appc.aci.output import atomic_output
from appc.aci.reader import ArchiveSource, open_archive
from appc.aci.writer import ArchiveWriter

_ZEROS = tarheader.ZERO_BLOCK


def _header(member: Member) -> bytes:
    name = member.name + "/" if member.type is MemberType.DIRECTORY else member.name
    return tarheader.encode(
        name.encode("utf-8", "surrogateescape"),
        member.type.value.encode(),
        mode=member.mode,
        uid=member.uid,
        gid=member.gid,
        size=member.size,
        mtime=int(member.mtime),
        linkname=member.linkname.encode("utf-8", "surrogateescape"),
        uname=member.uname.encode("utf-8", "surrogateescape"),
        gname=member.gname.encode("utf-8", "surrogateescape"),
        devmajor=member.devmajor,
        devminor=member.devminor,
        xattrs={k.encode("utf-8", "surrogateescape"): v for k, v in member.xattrs.items()},
    )


def copy_with_manifest(
    source: ArchiveSource,
    out_path: str | os.PathLike[str],
    manifest: bytes,
    *,
    compression: Compression | str = Compression.GZIP,
    overwrite: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> str:
    """Write ``source`` to ``out_path`` with ``manifest`` as its manifest; return the new ID.

    ``out_path`` may name the source itself (``--replace``): the copy goes to a temporary file
    that takes the name only when complete.
    """
    out = os.fspath(out_path)
    compression = Compression(compression)
    with (
        open_archive(source, limits=limits) as reader,
        atomic_output(out, overwrite) as fd,
        ArchiveWriter(fd, compression, name=out) as writer,
    ):
        writer.add(
            tarheader.encode(
                MANIFEST.encode(),
                b"0",
                mode=0o644,
                uid=0,
                gid=0,
                size=len(manifest),
                mtime=int(time.time()),
                uname=b"root",
                gname=b"root",
            ),
            manifest,
        )
        for member in reader:
            if member.name == MANIFEST:
                continue
            writer.write(_header(member))
            if member.size:
                reader.copy_data(writer.write)
                pad = tarheader.padding(member.size)
                if pad:
                    writer.write(_ZEROS[:pad])
        reader.finish()
        return writer.close()
