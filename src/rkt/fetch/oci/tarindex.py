"""Random access to the regular files of an uncompressed tar on disk, for ``oci-archive:`` and
``docker-archive:`` sources: one pass over the headers (:mod:`appc.aci.tarheader`) records
where each file's bytes are, and :meth:`TarIndex.open` reads them in place with ``pread``.

Nothing is extracted: the archive is only a container of blobs and JSON documents, each
checked by digest or parsed with limits by its reader. Names are normalised (``./`` and
doubled slashes dropped). Symbolic links (``docker save`` links a layer it wrote before) are
followed only to other regular files of the archive, by name, so a name can only ever lead
to bytes inside the archive file.
"""

from __future__ import annotations

import io
import os
import posixpath
from typing import Any

from appc.aci import tarheader
from appc.errors import ArchiveError
from rkt.errors import FetchError

MAX_ENTRIES = 100_000
_MAX_HOPS = 8
_MAX_EXTENDED = 1024 * 1024


class Region(io.RawIOBase):
    """``size`` bytes of ``fd`` from ``offset``, read with pread (the fd is shared)."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self._fd = fd
        self._offset = offset
        self._end = offset + size
        self._pos = offset

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._end - self._pos)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._pos)
        if not data:
            raise OSError("the archive is shorter than its headers say")
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class TarIndex:
    """The regular files of the tar at ``path``, by normalised name."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            raise FetchError(f"{path}: cannot open: {err.strerror}") from err
        try:
            self._size = os.fstat(self._fd).st_size
            self.files: dict[str, tuple[int, int]] = {}
            self._links: dict[str, str] = {}
            self._scan()
        except BaseException:
            os.close(self._fd)
            raise

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> TarIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, offset: int, size: int) -> bytes:
        data = os.pread(self._fd, size, offset)
        if len(data) != size:
            raise FetchError(f"{self.path}: not a tar archive, or truncated")
        return data

    def _scan(self) -> None:
        offset = 0
        long_name: bytes | None = None
        pax: dict[str, bytes] = {}
        try:
            while offset + tarheader.BLOCK_SIZE <= self._size:
                block = self._read(offset, tarheader.BLOCK_SIZE)
                if block == tarheader.ZERO_BLOCK:
                    return
                header = tarheader.parse(block)
                data_at = offset + tarheader.BLOCK_SIZE
                meta = header.typeflag in tarheader.META_TYPES
                size = header.size if meta or "size" not in pax else int(pax["size"])
                offset = data_at + size + tarheader.padding(size)
                if offset > self._size:
                    raise FetchError(f"{self.path}: truncated tar archive")
                if header.typeflag in (tarheader.PAX_HEADER, tarheader.GNU_LONGNAME):
                    if size > _MAX_EXTENDED:
                        raise FetchError(f"{self.path}: an extended tar header is too large")
                    data = self._read(data_at, size)
                    if header.typeflag == tarheader.PAX_HEADER:
                        pax = tarheader.parse_pax(data)
                    else:
                        long_name = data.split(b"\0", 1)[0]
                    continue
                if meta:
                    continue  # global pax headers and long link names say nothing we use
                raw = pax.get("path", long_name if long_name is not None else header.name)
                name = "/".join(p for p in os.fsdecode(raw).split("/") if p not in ("", "."))
                if len(self.files) + len(self._links) >= MAX_ENTRIES:
                    raise FetchError(f"{self.path}: more than {MAX_ENTRIES} files")
                if header.typeflag in (b"0", b"\0", b"7"):
                    self.files[name] = (data_at, size)
                elif header.typeflag == b"2":
                    target = os.fsdecode(pax.get("linkpath", header.linkname))
                    self._links[name] = posixpath.normpath(
                        posixpath.join(posixpath.dirname(name), target)
                    )
                pax, long_name = {}, None
        except (ArchiveError, ValueError) as err:
            raise FetchError(f"{self.path}: not a valid tar archive: {err}") from err
        if offset != self._size:
            raise FetchError(f"{self.path}: not a tar archive, or truncated")

    def _entry(self, name: str) -> tuple[int, int]:
        """The regular file ``name`` names, through at most a few symlinks of the archive."""
        for _hop in range(_MAX_HOPS):
            found = self.files.get(name)
            if found is not None:
                return found
            target = self._links.get(name)
            if target is None:
                break
            name = target
        raise FetchError(f"{self.path}: no file {name!r} in the archive")

    def has(self, name: str) -> bool:
        try:
            self._entry(name)
        except FetchError:
            return False
        return True

    def size(self, name: str) -> int:
        return self._entry(name)[1]

    def open(self, name: str) -> Region:
        offset, size = self._entry(name)
        return Region(self._fd, offset, size)

    def read(self, name: str, limit: int) -> bytes:
        offset, size = self._entry(name)
        if size > limit:
            raise FetchError(f"{self.path}: {name} is {size} bytes; the limit is {limit}")
        return self._read(offset, size)
