"""Writing image archives: the tar stream, hashed as it is written, through an optional compressor.

:class:`ArchiveWriter` turns entries into ustar/pax bytes (:mod:`~appc.aci.tarheader`), keeps a
SHA-512 of the uncompressed stream, compresses (:mod:`~appc.aci.compression`) and writes to a file
descriptor, all in 1 MiB chunks. Its :meth:`~ArchiveWriter.add_file_from_fd` reads file content
straight into the output buffer, so building costs one copy per byte besides hashing, and a
helper thread hashes, compresses and writes while the walk goes on.
:mod:`~appc.aci.builder` walks a layout and feeds this writer.
"""

from __future__ import annotations

import hashlib
import os
from types import TracebackType

from appc.aci import tarheader
from appc.aci.compression import Compression, new_compressor
from appc.aci.source import CHUNK_SIZE
from appc.errors import ArchiveError

_END_OF_ARCHIVE = bytes(2 * tarheader.BLOCK_SIZE)
_ZEROS = tarheader.ZERO_BLOCK


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class ArchiveWriter:
    """A tar stream written to ``fd``; :meth:`close` ends it and returns the image ID.

    Full buffers are hashed, compressed and written by a helper thread while the caller fills
    the next one: SHA-512, zlib/bz2/lzma and write(2) all release the GIL, so a build overlaps
    walking the tree with hashing and writing instead of paying for both in turn. The writer
    does not own ``fd``: closing, syncing and renaming are the caller's business. Use it as a
    context manager, or call :meth:`abort` if the stream is abandoned, so the thread ends.
    """

    def __init__(
        self,
        fd: int,
        compression: Compression = Compression.GZIP,
        *,
        name: str = "",
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        import queue
        import threading

        self._fd = fd
        self._name = name  # the output's path, for error messages
        self._hash = hashlib.sha512()
        self._compressor = new_compressor(compression)
        # Three buffers: one being filled, one being emitted, one ready to swap in.
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(2):
            self._free.put(bytearray(chunk_size))
        self._full: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._buf = bytearray(chunk_size)
        self._view = memoryview(self._buf)
        self._pos = 0
        self._thread: threading.Thread | None = threading.Thread(
            target=self._emitter, name="aci-writer", daemon=True
        )
        self._thread.start()

    def _emitter(self) -> None:
        while (item := self._full.get()) is not None:
            buf, size = item
            if self._error is None:
                try:
                    self._emit(memoryview(buf)[:size])
                except BaseException as err:  # handed to the caller at its next flush
                    self._error = err
            self._free.put(buf)

    def _emit(self, chunk: bytes | memoryview) -> None:
        self._hash.update(chunk)
        if self._compressor is not None:
            chunk = self._compressor.compress(chunk)
            if not chunk:
                return
        _write_all(self._fd, chunk)

    def _check(self) -> None:
        err = self._error
        if isinstance(err, OSError):
            # Raised as ArchiveError so that callers walking a tree do not mistake a full disk
            # for a problem with the file they were reading.
            message = f"cannot write the archive: {err.strerror or err}"
            raise ArchiveError(message, self._name) from err
        if err is not None:
            raise err

    def _flush(self) -> None:
        if self._pos:
            self._full.put((self._buf, self._pos))
            self._buf = self._free.get()
            self._view = memoryview(self._buf)
            self._pos = 0
            self._check()

    def write(self, data: bytes | memoryview) -> None:
        """Append raw bytes of the tar stream (headers, data, padding)."""
        pos = self._pos
        end = pos + len(data)
        if end <= len(self._buf):
            self._buf[pos:end] = data
            self._pos = end
            return
        view = memoryview(data)
        while view:
            if self._pos == len(self._buf):
                self._flush()
            take = min(len(view), len(self._buf) - self._pos)
            self._buf[self._pos : self._pos + take] = view[:take]
            self._pos += take
            view = view[take:]

    def add(self, header: bytes, data: bytes = b"") -> None:
        """Append an entry from its encoded header(s) and content."""
        self.write(header)
        if data:
            self.write(data)
            pad = tarheader.padding(len(data))
            if pad:
                self.write(_ZEROS[:pad])

    def add_file_from_fd(self, header: bytes, fd: int, size: int) -> int:
        """Append an entry whose ``size`` bytes of content are read from ``fd`` directly into
        the output buffer. Returns how many bytes were missing because the file shrank
        meanwhile (the caller decides what that means); growth is ignored, since the header
        already promised ``size`` bytes."""
        self.write(header)
        remaining = size
        while remaining:
            if self._pos == len(self._buf):
                self._flush()
            pos = self._pos
            n = os.readv(fd, [self._view[pos : min(len(self._buf), pos + remaining)]])
            if n == 0:
                return remaining
            self._pos = pos + n
            remaining -= n
        pad = tarheader.padding(size)
        if pad:
            self.write(_ZEROS[:pad])
        return 0

    def _stop(self) -> None:
        if self._thread is not None:
            self._full.put(None)
            self._thread.join()
            self._thread = None

    def close(self) -> str:
        """End the archive (two zero blocks, as Go's archive/tar writes), flush the compressor,
        and return ``sha512-<hex>`` of the uncompressed stream."""
        self.write(_END_OF_ARCHIVE)
        self._flush()
        self._stop()
        self._check()
        if self._compressor is not None:
            _write_all(self._fd, self._compressor.flush())
        return "sha512-" + self._hash.hexdigest()

    def abort(self) -> None:
        """Stop the helper thread without finishing the stream."""
        self._error = self._error or ArchiveError("archive writing was aborted")
        self._stop()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None or self._thread is not None:
            self.abort()
