"""A buffered, hashing view of an uncompressed tar stream: the reader's only way to get bytes.

Every byte is hashed exactly once, when it enters the buffer, so the image ID comes out of the
same pass that parses headers, whatever parts of the stream the parser skips. Reads go into one
reusable buffer with ``readinto`` (no per-chunk allocation) in large chunks, so that hashing a
big file costs about what ``sha512sum`` costs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from appc.errors import ArchiveError

#: Size of the read buffer: large enough that per-read overhead vanishes next to hashing.
CHUNK_SIZE = 1024 * 1024


class Readable(Protocol):
    def readinto(self, buffer: Any, /) -> int | None: ...


class Source:
    """Sequential access to a stream with optional hashing and teeing of all bytes read.

    ``sink``, when given, receives every chunk as a memoryview that is only valid during the
    call (the buffer is reused), e.g. ``file.write`` to store the uncompressed tar while it is
    validated.
    """

    def __init__(
        self,
        raw: Readable,
        *,
        hash_name: str | None = "sha512",
        sink: Callable[[memoryview], object] | None = None,
        max_size: int | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self._raw = raw
        self._hash = None
        if hash_name:
            # Imported here: loading OpenSSL costs milliseconds that reading a manifest skips.
            import hashlib

            self._hash = hashlib.new(hash_name)
        self._sink = sink
        self._max_size = max_size
        self._buf = bytearray(chunk_size)
        self._view = memoryview(self._buf)
        self._pos = 0
        self._end = 0
        #: Bytes taken from the raw stream so far.
        self.total = 0

    def _fill(self) -> int:
        """Replace the buffer's content with the next chunk; 0 at the end of the stream."""
        n = self._raw.readinto(self._view) or 0
        if n:
            chunk = self._view[:n]
            if self._hash is not None:
                self._hash.update(chunk)
            if self._sink is not None:
                self._sink(chunk)
            self.total += n
            if self._max_size is not None and self.total > self._max_size:
                raise ArchiveError(
                    f"uncompressed archive is larger than the limit of {self._max_size} bytes"
                )
        self._pos = 0
        self._end = n
        return n

    def read_exact(self, size: int) -> bytes | None:
        """Exactly ``size`` bytes; ``None`` if the stream ends before the first of them.

        A stream ending part way is an :class:`ArchiveError` (a truncated archive).
        """
        pos = self._pos
        if self._end - pos >= size:
            self._pos = pos + size
            return bytes(self._view[pos : pos + size])
        parts = [bytes(self._view[pos : self._end])]
        have = self._end - pos
        self._pos = self._end
        while have < size:
            n = self._fill()
            if not n:
                if have == 0:
                    return None
                raise ArchiveError("unexpected end of archive")
            take = min(n, size - have)
            parts.append(bytes(self._view[:take]))
            self._pos = take
            have += take
        return b"".join(parts)

    def skip(self, size: int) -> None:
        """Pass over ``size`` bytes (hashing them); the end of the stream is an error."""
        avail = self._end - self._pos
        if size <= avail:
            self._pos += size
            return
        size -= avail
        while True:
            n = self._fill()
            if not n:
                raise ArchiveError("unexpected end of archive")
            if size <= n:
                self._pos = size
                return
            size -= n

    def copy(self, size: int, write: Callable[[memoryview], object]) -> None:
        """Pass ``size`` bytes to ``write`` in pieces (views valid only during the call)."""
        while size > 0:
            if self._pos == self._end and not self._fill():
                raise ArchiveError("unexpected end of archive")
            take = min(size, self._end - self._pos)
            write(self._view[self._pos : self._pos + take])
            self._pos += take
            size -= take

    def drain(self) -> None:
        """Read (and hash) the rest of the stream, such as the zero blocks after the last entry."""
        self._pos = self._end
        while self._fill():
            pass
        self._pos = self._end

    def hexdigest(self) -> str:
        if self._hash is None:
            raise RuntimeError("this source does not hash")
        return self._hash.hexdigest()
