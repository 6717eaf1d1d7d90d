"""Compression of image archives: detection by magic bytes, streaming decompression, compressors.

aci.md allows an image archive to be "compressed with gzip, bzip2, or xz" and requires the image
ID to be the hash of the *uncompressed* tar, so every reader first finds out what wraps the tar.
The file name says nothing (the spec demands the suffix ``.aci`` "irrespective of compression"),
so we look at the first bytes, as the reference ``aci.DetectFileType`` does.

Only the stdlib decompressors are used, never a program found on the host or in the image
(docs/security.md principle 3). The modules ``zlib``, ``bz2`` and ``lzma`` are imported only when an
archive needs them, which keeps ``actool`` start-up cheap for plain tar archives.
"""

from __future__ import annotations

import contextlib
import enum
import io
from typing import IO, Any, Protocol

from appc.errors import ArchiveError

# The first bytes of each format. The tar magic "ustar" sits at offset 257 of the first header;
# both POSIX ("ustar\0") and GNU ("ustar ") spellings share these five bytes.
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_TAR_MAGIC = b"ustar"
_TAR_MAGIC_OFFSET = 257

#: How many bytes :func:`detect` needs to tell the formats apart.
SNIFF_SIZE = 512

# Compressed input is read in pieces of this size; output per call is bounded separately by the
# caller's buffer, so a small, highly compressed input cannot balloon in memory.
_INPUT_CHUNK = 256 * 1024


class Compression(enum.StrEnum):
    """How the tar stream of an image archive is wrapped."""

    NONE = "none"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"


def detect(head: bytes) -> Compression:
    """The compression whose magic bytes start ``head``; :attr:`Compression.NONE` for anything
    else (whether that is a tar archive is :func:`is_tar`'s question)."""
    if head.startswith(_GZIP_MAGIC):
        return Compression.GZIP
    if head.startswith(_BZIP2_MAGIC):
        return Compression.BZIP2
    if head.startswith(_XZ_MAGIC):
        return Compression.XZ
    return Compression.NONE


def is_tar(head: bytes) -> bool:
    """Whether ``head`` (the first :data:`SNIFF_SIZE` bytes) starts like a tar archive.

    Like the reference's ``DetectFileType`` we want the "ustar" magic of POSIX and GNU headers;
    every tar writer of the last decades (GNU, bsdtar, Go, Python) puts it there.
    """
    return head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + len(_TAR_MAGIC)] == _TAR_MAGIC


class _Decoder(Protocol):
    """The common shape of ``bz2.BZ2Decompressor`` and ``lzma.LZMADecompressor``."""

    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def needs_input(self) -> bool: ...
    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


class _GzipDecoder:
    """``zlib.decompressobj`` for one gzip member, given the interface of the bz2/lzma ones.

    zlib keeps input it could not yet decode in ``unconsumed_tail`` instead of buffering it, so
    that tail is fed back here. zlib checks the member's CRC-32 and length trailer itself.
    """

    def __init__(self) -> None:
        import zlib

        # wbits 16 + MAX_WBITS: a gzip wrapper only (not raw deflate, not zlib).
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._d.unconsumed_tail

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        return self._d.decompress(data or self._d.unconsumed_tail, max_length)


def _new_decoder(compression: Compression) -> tuple[_Decoder, type[Exception]]:
    """A decoder for one stream, and the exception class it raises for corrupt input."""
    if compression is Compression.GZIP:
        import zlib

        return _GzipDecoder(), zlib.error
    if compression is Compression.BZIP2:
        import bz2

        # bz2 reports corrupt data as OSError("Invalid data stream").
        return bz2.BZ2Decompressor(), OSError
    import lzma

    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ), lzma.LZMAError


class Prefixed(io.RawIOBase):
    """A stream that yields ``head`` (bytes already read for detection) and then ``src``.

    This is what lets detection work on pipes and sockets: nothing is ever seeked.
    """

    def __init__(self, head: bytes, src: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._src = src
        self._readinto = getattr(src, "readinto", None)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        if self._readinto is not None:
            return int(self._readinto(buffer))
        data = self._src.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Decompressing(io.RawIOBase):
    """The decompressed bytes of ``src``, produced on demand into the caller's buffer.

    Concatenated streams (``cat a.gz b.gz``, pbzip2 output, multi-stream xz) decode as one, as
    they do for gzip(1) and Go's readers: when a stream ends and input remains, a new decoder
    starts on it. Garbage after a stream is an error there, and here.
    """

    def __init__(self, src: io.RawIOBase, compression: Compression) -> None:
        self._src = src
        self._compression = compression
        self._decoder, self._error = _new_decoder(compression)

    def readable(self) -> bool:
        return True

    def _read_input(self) -> bytes:
        return self._src.read(_INPUT_CHUNK) or b""

    def readinto(self, buffer: Any) -> int:
        want = len(buffer)
        while True:
            decoder = self._decoder
            if decoder.eof:
                rest = decoder.unused_data or self._read_input()
                if not rest:
                    return 0
                decoder, self._error = _new_decoder(self._compression)
                self._decoder = decoder
                data = rest
            elif decoder.needs_input:
                data = self._read_input()
                if not data:
                    raise ArchiveError(f"truncated {self._compression} stream")
            else:
                data = b""
            try:
                out = decoder.decompress(data, want)
            except self._error as err:
                raise ArchiveError(f"corrupt {self._compression} stream: {err}") from err
            if out:
                n = len(out)
                buffer[:n] = out
                return n


class _ReadAhead(io.RawIOBase):
    """Decompression on a helper thread, a few chunks ahead of the reader.

    zlib, bz2 and lzma release the GIL while they work, so a reader that parses and extracts
    in Python overlaps with decompression instead of waiting for it: on two cores, importing
    a gzip image costs about the larger of the two rather than their sum. :meth:`close` stops
    the thread even when the reader stopped early.
    """

    _DEPTH = 4

    def __init__(self, inner: io.RawIOBase, chunk_size: int = _INPUT_CHUNK * 4) -> None:
        import queue
        import threading

        self._inner = inner
        self._chunk_size = chunk_size
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(self._DEPTH)
        self._stop = threading.Event()
        self._current = memoryview(b"")
        self._done = False
        self._thread = threading.Thread(target=self._produce, name="aci-readahead", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        import queue

        try:
            while not self._stop.is_set():
                data = self._inner.read(self._chunk_size) or b""
                while not self._stop.is_set():
                    try:
                        self._queue.put(data, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if not data:
                    return
        except BaseException as err:  # handed to the reader, which raises it in its thread
            with contextlib.suppress(queue.Full):
                self._queue.put(err, timeout=1)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._current:
            if self._done:
                return 0
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            if not item:
                self._done = True
                return 0
            self._current = memoryview(item)
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            while True:
                self._queue.get_nowait()
        self._thread.join()
        super().close()


def open_decompressed(
    src: IO[bytes], *, readahead: bool = False, any_tar: bool = False
) -> tuple[Compression, io.RawIOBase]:
    """Detect the compression of ``src`` and return it with a stream of the uncompressed tar.

    Uncompressed input must look like tar (:func:`is_tar`), or this raises
    :class:`ArchiveError`; for compressed input the tar inside is checked by its reader.

    With ``readahead``, compressed input is decompressed on a helper thread (see
    :class:`_ReadAhead`); close the returned stream when done.

    ``any_tar`` also takes uncompressed input that is empty or starts with a zero block (an
    empty tar archive, as an OCI layer may be); its reader checks the rest.

    ``src`` is read forwards only. The returned stream supports ``readinto``; corrupt or
    truncated compressed data raises :class:`ArchiveError`, while ``OSError`` from reading
    ``src`` passes through to the caller, which knows the archive's path.
    """
    head = src.read(SNIFF_SIZE) or b""
    compression = detect(head)
    prefixed = Prefixed(head, src)
    if compression is Compression.NONE:
        if not is_tar(head) and not (any_tar and head == bytes(len(head))):
            raise ArchiveError(
                "unknown image format: expected a tar archive, optionally compressed with "
                "gzip, bzip2 or xz"
            )
        return compression, prefixed
    stream: io.RawIOBase = _Decompressing(prefixed, compression)
    return compression, _ReadAhead(stream) if readahead else stream


class Compressor(Protocol):
    """What :func:`new_compressor` returns: ``compress`` per chunk, ``flush`` once at the end."""

    def compress(self, data: bytes | memoryview, /) -> bytes: ...
    def flush(self) -> bytes: ...


def new_compressor(compression: Compression) -> Compressor | None:
    """A compressor for ``compression``; ``None`` for :attr:`Compression.NONE`.

    Levels follow the usual tools' defaults (gzip 6 as Go's ``gzip.DefaultCompression`` used by
    the reference, bzip2 9, xz preset 6 with a CRC-64 check), so sizes match expectations.
    """
    if compression is Compression.NONE:
        return None
    if compression is Compression.GZIP:
        import zlib

        # wbits 16 + MAX_WBITS writes a gzip header with mtime 0, so output is deterministic.
        return zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    if compression is Compression.BZIP2:
        import bz2

        return bz2.BZ2Compressor(9)
    import lzma

    return lzma.LZMACompressor(format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=6)
