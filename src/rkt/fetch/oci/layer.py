"""Applying one OCI or Docker layer (a tar, plain, gzip or zstd) to a tree being rendered.

The tar is read by appc's own reader (:class:`appc.aci.reader.ArchiveReader` without the ACI
layout rules: names are normalised, ``..`` and absolute names refused, pax and GNU headers
capped) and written by the store's :class:`~rkt.store.extract.Extractor`, which resolves every
path inside the root without following links, replaces rather than writes through, and allows
hard links only to files of the same layer (docs/security.md 1-6). Whiteouts (image-spec layer.md
"Whiteouts") go through the same extractor: ``.wh.NAME`` removes NAME as earlier layers left
it, ``.wh..wh..opq`` empties its directory of earlier layers' entries, and neither can name
anything outside the root or pass a symlink. Other ``.wh..wh.`` names (aufs bookkeeping) are
skipped.

The compression is told by the first bytes, whatever the media type says: gzip through the
stdlib's zlib (on a read-ahead thread, so inflating overlaps extracting), zstd through
``compression.zstd`` (Python 3.14) or its backport ``backports.zstd`` — the binding PEP 784
made the stdlib's, kept by the same maintainers, with the bz2/lzma decompressor interface —
imported only when a layer is zstd.
"""

from __future__ import annotations

import io
from typing import IO, TYPE_CHECKING, Any

from appc.aci.compression import Prefixed
from appc.aci.reader import ArchiveReader
from appc.aci.source import CHUNK_SIZE
from appc.errors import AppcError
from rkt.errors import FetchError, StoreError

if TYPE_CHECKING:
    from appc.aci.member import Member
    from rkt.store.extract import Extractor

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_INPUT_CHUNK = 256 * 1024
_SNIFF = 512  # what the archive reader looks at to tell tar from gzip


def _zstd_decompressor() -> Any:
    try:
        from compression import zstd  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        try:
            from backports import zstd  # type: ignore[import-not-found, no-redef, unused-ignore]
        except ImportError as err:
            raise FetchError(
                "this layer is compressed with zstd, and no zstd module is installed",
                hint="install the backports.zstd package",
            ) from err
    return zstd.ZstdDecompressor(), zstd.ZstdError


class ZstdStream(io.RawIOBase):
    """The decompressed bytes of a zstd stream of one or more frames (as zstd(1) writes
    several when it is given several inputs); trailing garbage is an error."""

    def __init__(self, src: IO[bytes]) -> None:
        self._src = src
        self._decoder, self._error = _zstd_decompressor()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer)
        while True:
            decoder = self._decoder
            if decoder.eof:
                rest = decoder.unused_data or self._src.read(_INPUT_CHUNK)
                if not rest:
                    return 0
                self._decoder, self._error = _zstd_decompressor()
                data = rest
            elif decoder.needs_input:
                data = self._src.read(_INPUT_CHUNK)
                if not data:
                    raise FetchError("truncated zstd stream")
            else:
                data = b""
            try:
                out = self._decoder.decompress(data, want)
            except self._error as err:
                raise FetchError(f"corrupt zstd stream: {err}") from err
            if out:
                buffer[: len(out)] = out
                return len(out)


def _tar_stream(src: IO[bytes]) -> IO[bytes]:
    """A stream the archive reader takes: plain or gzip tar as it is (the reader inflates
    gzip itself), zstd decompressed here. The reader looks at the first block to tell the
    formats apart, so that block is read whole first."""
    head = b""
    while len(head) < _SNIFF and (chunk := src.read(_SNIFF - len(head))):
        head += chunk
    stream: IO[bytes] = Prefixed(head, src)  # type: ignore[assignment]
    if head.startswith(_ZSTD_MAGIC):
        decompressed = ZstdStream(stream)
        first = b""
        while len(first) < _SNIFF and (chunk := decompressed.read(_SNIFF - len(first))):
            first += chunk
        stream = Prefixed(first, decompressed)  # type: ignore[arg-type, assignment]
    return stream


def apply_layer(extractor: Extractor, src: IO[bytes], what: str, diff_id: str = "") -> None:
    """Apply the layer read from ``src`` (``what`` names it in errors). With ``diff_id``,
    the uncompressed tar must hash to it (checked at the end: nothing is committed before)."""
    extractor.new_layer()
    extractor.where = what
    algorithm = diff_id.partition(":")[0] if diff_id else None
    try:
        with ArchiveReader(
            _tar_stream(src),
            name=what,
            hash_name=algorithm,
            chunk_size=CHUNK_SIZE,
            readahead=True,
            image_layout=False,
        ) as reader:
            for member in reader:
                _apply_member(extractor, member, reader)
            reader.finish()  # to the end: a gzip or zstd stream's checksum is checked there
            actual = f"{algorithm}:{reader.hexdigest()}" if algorithm else ""
        if diff_id and actual != diff_id:
            raise FetchError(
                f"{what}: the uncompressed layer hashes to {actual}, but the image config "
                f"gives {diff_id}",
                hint="the image is corrupt or was tampered with; nothing was stored",
            )
    except AppcError as err:
        raise FetchError(f"{what}: {err}") from err
    except StoreError as err:
        raise FetchError(err.message, hint=err.hint) from err
    except OSError as err:
        raise FetchError(f"{what}: cannot read the layer: {err.strerror or err}") from err


def _apply_member(extractor: Extractor, member: Member, reader: ArchiveReader) -> None:
    name = member.name
    if name == ".":
        name = ""
    parent, _slash, base = name.rpartition("/")
    if base.startswith(WHITEOUT):
        if base == OPAQUE:
            extractor.clear_directory(parent)
        elif not base.startswith(WHITEOUT + WHITEOUT):
            target = base[len(WHITEOUT) :]
            if target in ("", ".", ".."):
                raise FetchError(f"{extractor.where}: invalid whiteout {name!r}")
            extractor.remove(f"{parent}/{target}" if parent else target)
        return
    if name != member.name:
        from msgspec.structs import replace

        member = replace(member, name=name)
    extractor.add(member, reader.copy_data)
