"""App Container Image archives (aci.md): read, validate, identify and build them.

How the parts fit:

- :mod:`~appc.aci.compression` tells plain tar, gzip, bzip2 and xz apart by their first bytes
  and streams the uncompressed tar (stdlib decoders, imported only when needed).
- :mod:`~appc.aci.source` reads that stream in large chunks, hashing every byte once, so the
  image ID falls out of whatever pass reads the archive.
- :mod:`~appc.aci.tarheader` parses and writes tar headers (ustar, pax, GNU long names);
  :mod:`~appc.aci.member` is the :class:`Member` it describes.
- :mod:`~appc.aci.layout` holds aci.md's layout rules, for archives member by member and for
  image layout directories.
- :mod:`~appc.aci.reader` combines those into :class:`ArchiveReader` and the functions
  :func:`read_manifest` (stops at the manifest), :func:`validate_archive` (one full pass:
  layout, manifest, image ID) and :func:`image_id` (hash only).
- :mod:`~appc.aci.writer` writes a hashed, optionally compressed tar stream;
  :mod:`~appc.aci.builder` walks a layout into it (:func:`build`), manifest first, atomically.

Errors are :class:`appc.errors.ArchiveError` (naming the member or path) and, for manifests,
:class:`appc.errors.ValidationError` located at ``manifest``. The reader never writes files.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appc.aci.builder import build as build
    from appc.aci.compression import Compression as Compression
    from appc.aci.compression import detect as detect
    from appc.aci.compression import is_tar as is_tar
    from appc.aci.layout import Layout as Layout
    from appc.aci.layout import validate_layout as validate_layout
    from appc.aci.limits import DEFAULT_LIMITS as DEFAULT_LIMITS
    from appc.aci.limits import Limits as Limits
    from appc.aci.member import Member as Member
    from appc.aci.member import MemberType as MemberType
    from appc.aci.reader import ArchiveReader as ArchiveReader
    from appc.aci.reader import ArchiveSource as ArchiveSource
    from appc.aci.reader import ValidationResult as ValidationResult
    from appc.aci.reader import image_id as image_id
    from appc.aci.reader import open_archive as open_archive
    from appc.aci.reader import read_manifest as read_manifest
    from appc.aci.reader import validate_archive as validate_archive

# Public name -> defining module. Loaded on first use (PEP 562), so that ``actool
# cat-manifest`` does not pay for the writer and builder, nor ``actool build`` for the reader.
_EXPORTS = {
    "build": "builder",
    "Compression": "compression",
    "detect": "compression",
    "is_tar": "compression",
    "Layout": "layout",
    "validate_layout": "layout",
    "DEFAULT_LIMITS": "limits",
    "Limits": "limits",
    "Member": "member",
    "MemberType": "member",
    "ArchiveReader": "reader",
    "ArchiveSource": "reader",
    "ValidationResult": "reader",
    "image_id": "reader",
    "open_archive": "reader",
    "read_manifest": "reader",
    "validate_archive": "reader",
}

__all__ = [
    "DEFAULT_LIMITS",
    "ArchiveReader",
    "ArchiveSource",
    "Compression",
    "Layout",
    "Limits",
    "Member",
    "MemberType",
    "ValidationResult",
    "build",
    "detect",
    "image_id",
    "is_tar",
    "open_archive",
    "read_manifest",
    "validate_archive",
    "validate_layout",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
