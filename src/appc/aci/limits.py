"""Caps on what an image archive may make us hold in memory or read (docs/security.md 5)."""

from __future__ import annotations

from msgspec import Struct

MiB = 1024 * 1024


class Limits(Struct, frozen=True):
    """Limits applied while reading an archive or a layout; exceeding one is an ArchiveError.

    ``max_manifest_size``: bytes of the ``manifest`` member or file (manifests are a few KiB;
    the cap stops a huge "manifest" from being read into memory and parsed).
    ``max_extended_header_size``: bytes of one pax header or GNU long name, which are buffered.
    ``max_members``: entries in one archive; the reader remembers every name to refuse
    duplicates, so this bounds that memory.
    ``max_uncompressed_size``: bytes of tar after decompression (``None``: no cap), against
    decompression bombs when the caller knows what to expect.
    """

    max_manifest_size: int = 1 * MiB
    max_extended_header_size: int = 1 * MiB
    max_members: int = 4_000_000
    max_uncompressed_size: int | None = None


DEFAULT_LIMITS = Limits()
